#!/bin/sh
# docker-up.sh - make sure a Docker engine answers, starting one if needed.
#
# Quiet and quick when an engine already answers on DOCKER_HOST or on
# /var/run/docker.sock. Otherwise starts dockerd in the background in its own
# session (it outlives this shell and `make`; there is no service manager in
# a bare container), then waits up to DOCKER_UP_TIMEOUT seconds (default 60)
# for /_ping. Safe to run again at any time: a dockerd that is still starting
# is waited for, never duplicated.
#
# Usage: sh tests/docker-up.sh
# Environment:
#   DOCKER_HOST         unix:///path or tcp://host:port (default: the usual socket)
#   DOCKERD_ARGS        dockerd flags (default: --storage-driver=vfs, which
#                       works everywhere, even inside another container).
#                       Careful with a second dockerd beside a running one:
#                       --bridge=none makes dockerd delete the host's docker0.
#   DOCKER_UP_TIMEOUT   seconds to wait for the engine (default 60)
set -eu

log="${TMPDIR:-/tmp}/berth-dockerd.log"
timeout_s="${DOCKER_UP_TIMEOUT:-60}"
socket=/var/run/docker.sock
url=""

case "${DOCKER_HOST:-}" in
"") ;;
unix://*) socket="${DOCKER_HOST#unix://}" ;;
tcp://*) url="http://${DOCKER_HOST#tcp://}" ;;
*)
	echo "docker-up.sh: unsupported DOCKER_HOST=$DOCKER_HOST" >&2
	exit 1
	;;
esac

ping_engine() {
	if [ -n "$url" ]; then
		curl -sf --max-time 3 "$url/_ping" >/dev/null 2>&1
	else
		curl -sf --max-time 3 --unix-socket "$socket" http://localhost/_ping \
			>/dev/null 2>&1
	fi
}

# Whether the process $1 exists and is not a zombie (a dockerd that died
# early may not be reaped yet).
process_alive() {
	state=$(sed 's/.*) //; s/ .*//' "/proc/$1/stat" 2>/dev/null) || return 1
	[ "$state" != Z ]
}

# Whether a dockerd for our socket runs: the one this script started (its
# pid may still be named setsid or nohup for a moment) or another one that
# is probably still starting. For a socket other than the default, only a
# dockerd whose command line names that socket counts.
started_pid=""
dockerd_running() {
	if [ -n "$started_pid" ] && process_alive "$started_pid"; then
		return 0
	fi
	for pid in $(pgrep -x dockerd 2>/dev/null); do
		process_alive "$pid" || continue
		if [ "$socket" = /var/run/docker.sock ] ||
			tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$socket"; then
			return 0
		fi
	done
	return 1
}

ping_engine && exit 0

if [ -n "$url" ]; then
	echo "docker-up.sh: no Docker engine answers at DOCKER_HOST=$DOCKER_HOST;" \
		"start it there, or unset DOCKER_HOST to use a local dockerd" >&2
	exit 1
fi

if dockerd_running; then
	echo "docker-up.sh: dockerd is running but not answering yet; waiting" >&2
else
	if [ "$(id -u)" -ne 0 ]; then
		echo "docker-up.sh: no Docker engine answers on $socket and only root" \
			"can start dockerd; start Docker or run as root" >&2
		exit 1
	fi
	if ! command -v dockerd >/dev/null 2>&1; then
		echo "docker-up.sh: dockerd not found; run: sh tests/deps.sh" >&2
		exit 1
	fi
	host_flag=""
	if [ "$socket" != /var/run/docker.sock ]; then
		host_flag="--host=unix://$socket"
	fi
	echo "docker-up.sh: starting dockerd (log: $log)" >&2
	# DOCKERD_ARGS and host_flag are split into words on purpose.
	# shellcheck disable=SC2086
	if command -v setsid >/dev/null 2>&1; then
		setsid nohup dockerd ${DOCKERD_ARGS:---storage-driver=vfs} $host_flag \
			>"$log" 2>&1 </dev/null &
	else
		nohup dockerd ${DOCKERD_ARGS:---storage-driver=vfs} $host_flag \
			>"$log" 2>&1 </dev/null &
	fi
	started_pid=$!
fi

# Poll twice a second; give up early when dockerd has died.
tries=$((timeout_s * 2))
while [ "$tries" -gt 0 ]; do
	ping_engine && exit 0
	dockerd_running || break
	sleep 0.5
	tries=$((tries - 1))
done
ping_engine && exit 0

if [ "$tries" -gt 0 ]; then
	echo "docker-up.sh: dockerd exited without answering on $socket" >&2
else
	echo "docker-up.sh: no Docker engine answers on $socket after ${timeout_s}s" >&2
fi
if [ -f "$log" ]; then
	echo "docker-up.sh: last lines of $log:" >&2
	tail -n 25 "$log" >&2
fi
exit 1
