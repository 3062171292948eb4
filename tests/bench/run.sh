#!/bin/sh
# run.sh - run berth's benchmarks and print their one table.
#
# Usage: BUILD=build sh tests/bench/run.sh BENCH_BINARY...
#
# Each binary appends tab-separated rows to $BENCH_ROWS and remarks to
# $BENCH_NOTES (see tests/bench/bench.h); this script runs them in order,
# then prints every row as one Markdown table (docs/PERFORMANCE.md keeps
# the latest), with the date, the machine and its load.
#
# Everything a benchmark makes lives under one temporary directory
# ($BENCH_DIR). At the end, also after a failure or Ctrl-C, the berthd
# processes started under it are stopped (by pid) and every container
# labelled berth.test=bench or carrying a berth.data_dir label under it is
# removed.
set -eu

build="${BUILD:-build}"
BENCH_DIR=$(mktemp -d /tmp/berth-bench.XXXXXX)
BENCH_ROWS="$BENCH_DIR/rows.tsv"
BENCH_NOTES="$BENCH_DIR/notes.txt"
export BENCH_DIR BENCH_ROWS BENCH_NOTES BUILD
: >"$BENCH_ROWS"
: >"$BENCH_NOTES"

# berthd processes whose command line names our directory: ours, by pid.
stop_our_berthds() {
	for cmdline in /proc/[0-9]*/cmdline; do
		pid=${cmdline#/proc/}
		pid=${pid%/cmdline}
		if { tr '\0' ' ' <"$cmdline"; } 2>/dev/null | grep -q "berthd .*$BENCH_DIR/"; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
}

remove_containers() {
	command -v docker >/dev/null 2>&1 || return 0
	ids=$(docker ps -aq --filter label=berth.test=bench 2>/dev/null || true)
	ids="$ids $(docker ps -a --filter label=berth.data_dir \
		--format '{{.ID}} {{.Label "berth.data_dir"}}' 2>/dev/null |
		awk -v dir="$BENCH_DIR/" 'index($2, dir) == 1 { print $1 }' || true)"
	# shellcheck disable=SC2086
	[ -z "$(echo $ids)" ] || docker rm -f $ids >/dev/null 2>&1 || true
	# bench_compose's project network, when a failure left it.
	docker network rm berthbench_default >/dev/null 2>&1 || true
}

cleanup() {
	stop_our_berthds
	remove_containers
	rm -rf "$BENCH_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# bench_compose compares `berth scale` with Debian's docker-compose: install
# it when missing (as root, with apt); without it that benchmark says so
# and leaves its comparison rows out.
if ! command -v docker-compose >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "==> installing docker-compose for bench_compose" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker-compose >/dev/null 2>&1 ||
			echo "docker-compose could not be installed; bench_compose runs without it" >&2
	fi
fi

machine="$(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date +%s)
failed=""

for bin in "$@"; do
	echo "==> $(basename "$bin")" >&2
	if ! "$bin"; then
		failed="$failed $(basename "$bin")"
		echo "<== $(basename "$bin") FAILED" >&2
	fi
done

# The launch's cost over the engine's own create + start, on Podman too
# (its rows' sections say "podman"), when tests/podman-up.sh got one up.
for bin in "$@"; do
	case "$bin" in */bench_launch) ;; *) continue ;; esac
	if [ -z "${PODMAN_HOST:-}" ]; then
		echo "==> bench_launch on Podman: skipped, no Podman service (tests/podman-up.sh)" >&2
		continue
	fi
	echo "==> bench_launch on Podman" >&2
	if ! (
		export DOCKER_HOST="$PODMAN_HOST" BENCH_ENGINE=podman
		remove_containers
		"$bin"
	); then
		failed="$failed podman:$(basename "$bin")"
		echo "<== podman:$(basename "$bin") FAILED" >&2
	fi
	(
		export DOCKER_HOST="$PODMAN_HOST"
		remove_containers
	)
done

load_after=$(cut -d' ' -f1-3 /proc/loadavg)
took=$(($(date +%s) - started))

echo
echo "berth benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC'); $machine;" \
	"load average $load_before before, $load_after after; ${took}s;" \
	"Docker $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?')"
echo
awk -F'\t' '
BEGIN {
	print "| # | figure | median | p99 | unit | floor | floor value | ratio | target | holds |"
	print "|---|---|--:|--:|---|---|--:|--:|---|---|"
}
{
	printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10
	if ($10 == "yes") held++
	if ($10 == "NO") missed++
}
END { printf "\n%d targets hold, %d missed.\n", held, missed }' <<EOF
$(sort -s -t "$(printf '\t')" -k1,1 "$BENCH_ROWS")
EOF
if [ -s "$BENCH_NOTES" ]; then
	echo
	sed 's/^/Note: /' "$BENCH_NOTES"
fi
if [ -n "$failed" ]; then
	echo
	echo "Failed to run:$failed"
	exit 1
fi
