#!/bin/sh
# run.sh - run cmocka test binaries and add up their results.
#
# Usage: sh tests/run.sh BIN [BIN...]
#
# A BIN written podman:PATH runs PATH against Podman's Docker-compatible API
# instead of Docker (DOCKER_HOST=$PODMAN_HOST, BERTH_TEST_ENGINE=podman) and
# is reported as podman:NAME. Without PODMAN_HOST (tests/podman-up.sh did not
# get a Podman service up) each such BIN counts as one failed test.
#
# Each binary runs in turn from the current directory, with its output
# streamed as it comes and parsed for cmocka's summary lines:
#   [  PASSED  ] N test(s).
#   [  FAILED  ] N test(s), listed below:
#   [  FAILED  ] name...
# A binary that exits non-zero without reporting a failure (a crash, a
# valgrind or sanitizer error after the tests passed, a missing file), one
# that prints no summary at all, or one killed by the timeout counts as one
# failed test, named after the binary. The failures are listed at the end,
# and the very last line is always "N passed, N failed". The exit status is
# 1 when anything failed or no test ran at all, else 0.
#
# Environment:
#   VALGRIND      command prefix for every binary, e.g. "valgrind --quiet"
#   TEST_TIMEOUT  seconds (or a timeout(1) duration) per binary; default 600
#   PODMAN_HOST   unix:// socket of the Podman service, for podman: BINs
set -eu

timeout_s="${TEST_TIMEOUT:-600}"
CMOCKA_MESSAGE_OUTPUT=stdout
export CMOCKA_MESSAGE_OUTPUT

work=$(mktemp -d "${TMPDIR:-/tmp}/berth-run.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The e2e suites build their demo image (berth-demo:e2e) from $BUILD/demo when
# it is missing: drop one older than the demo server binary, so that a changed
# server is what runs (and an up-to-date image is left for other runs).
# Podman keeps its own images: the same is done there before its first run.
demo_bin="${BUILD:-build}/demo/berth-demo"
refresh_demo_image() {
	created=$(docker image inspect -f '{{.Created}}' berth-demo:e2e 2>/dev/null || true)
	if [ -n "$created" ] && [ -f "$demo_bin" ]; then
		created_s=$(date -d "$created" +%s 2>/dev/null || echo 0)
		if [ "$(stat -c %Y "$demo_bin")" -gt "$created_s" ]; then
			docker image rm -f berth-demo:e2e >/dev/null 2>&1 || true
		fi
	fi
}
refresh_demo_image
podman_ready=""

# A binary killed by the timeout or a signal never ran its teardown: remove
# the containers of test berthds (data dirs under $TMPDIR/berth-test-* and
# berth-chaos-*) that no running process names any more.
remove_orphaned_test_containers() {
	command -v docker >/dev/null 2>&1 || return 0
	docker ps -a --filter label=berth.managed=true \
		--format '{{.ID}} {{.Label "berth.data_dir"}}' 2>/dev/null |
		while read -r id dir; do
			case "$dir" in
			*/berth-test-*/* | */berth-chaos-*/*) ;;
			*) continue ;;
			esac
			root=${dir%/*}
			if ! grep -qsF "$root" /proc/[0-9]*/cmdline; then
				docker rm -f "$id" >/dev/null 2>&1 || true
			fi
		done
}

total_passed=0
total_failed=0
total_skipped=0
: >"$work/failures"

# Prints "passed failed skipped" on the first line, then the names of the
# failed tests from the "listed below" sections, one a line.
parse_summary() {
	awk '
	BEGIN { passed = 0; failed = 0; skipped = 0; summaries = 0; listing = 0 }
	/^\[  PASSED  \] [0-9]+ test\(s\)\./ {
		passed += $4; summaries++; listing = 0; next
	}
	/^\[  FAILED  \] [0-9]+ test\(s\), listed below:/ {
		failed += $4; summaries++; listing = 1; next
	}
	/^\[  SKIPPED \] [0-9]+ test\(s\), listed below:/ {
		skipped += $4; listing = 0; next
	}
	listing && /^\[  FAILED  \] / {
		names[++n] = substr($0, 14); next
	}
	{ listing = 0 }
	END {
		print passed, failed, skipped, summaries
		for (i = 1; i <= n; i++)
			print names[i]
	}' "$1"
}

# Runs one binary under timeout(1), which puts it in a process group of its
# own: a Ctrl-C on the terminal does not reach it, so this forwards INT and
# TERM. The exit status travels through a file because a POSIX shell
# pipeline only reports the status of its last command (tee).
run_one() {
	rc=0
	# VALGRIND is a command prefix: split into words on purpose.
	# shellcheck disable=SC2086
	timeout --kill-after=10 "$timeout_s" ${VALGRIND:-} "$1" </dev/null 2>&1 &
	pid=$!
	trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid"; exit 130' INT TERM
	wait "$pid" || rc=$?
	trap - INT TERM
	echo "$rc" >"$work/rc"
}

for bin in "$@"; do
	engine=docker
	case "$bin" in
	podman:*)
		engine=podman
		bin=${bin#podman:}
		;;
	esac
	name=$(basename "$bin")
	[ "$engine" = podman ] && name="podman:$name"
	echo "==> $name"
	start=$(date +%s)

	if [ "$engine" = podman ] && [ -z "${PODMAN_HOST:-}" ]; then
		echo "$name: no Podman service (tests/podman-up.sh failed; see its message above)" \
			>>"$work/failures"
		total_failed=$((total_failed + 1))
		continue
	fi
	if [ "$engine" = podman ]; then
		if [ -z "$podman_ready" ]; then
			(
				export DOCKER_HOST="$PODMAN_HOST"
				refresh_demo_image
			)
			podman_ready=1
		fi
		(
			export DOCKER_HOST="$PODMAN_HOST" BERTH_TEST_ENGINE=podman
			run_one "$bin"
		) | tee "$work/out"
	else
		run_one "$bin" | tee "$work/out"
	fi
	rc=$(cat "$work/rc")
	parse_summary "$work/out" >"$work/summary"
	read -r passed failed skipped summaries <"$work/summary"
	sed '1d' "$work/summary" | while IFS= read -r test; do
		echo "$name: $test" >>"$work/failures"
	done

	# Failures the summary cannot show: a timeout, a signal, no summary,
	# or a non-zero exit although every test passed.
	why=""
	if [ "$rc" -eq 124 ] || [ "$rc" -gt 128 ]; then
		if [ "$engine" = podman ]; then
			(
				export DOCKER_HOST="$PODMAN_HOST"
				remove_orphaned_test_containers
			)
		else
			remove_orphaned_test_containers
		fi
	fi
	if [ "$rc" -eq 124 ]; then
		why="killed after the ${timeout_s}s timeout (TEST_TIMEOUT)"
	elif [ "$rc" -gt 128 ] && [ "$rc" -ne "$failed" ]; then
		why="killed by signal $((rc - 128))"
	elif [ "$summaries" -eq 0 ]; then
		why="exited with status $rc without a cmocka summary"
	elif [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
		why="exited with status $rc although its tests passed"
	fi
	if [ -n "$why" ]; then
		echo "$name: $why" >>"$work/failures"
		failed=$((failed + 1))
	fi

	echo "<== $name: $passed passed, $failed failed, $skipped skipped" \
		"($(($(date +%s) - start))s, exit status $rc)"
	total_passed=$((total_passed + passed))
	total_failed=$((total_failed + failed))
	total_skipped=$((total_skipped + skipped))
done

echo
if [ -s "$work/failures" ]; then
	echo "Failed:"
	sed 's/^/  /' "$work/failures"
fi
if [ "$total_skipped" -gt 0 ]; then
	echo "$total_skipped skipped"
fi
if [ $((total_passed + total_failed)) -eq 0 ]; then
	echo "No tests ran."
fi
echo "$total_passed passed, $total_failed failed"

[ "$total_failed" -eq 0 ] && [ $((total_passed + total_failed)) -gt 0 ]
