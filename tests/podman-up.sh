#!/bin/sh
# podman-up.sh - make sure a Podman API service answers on a socket of the
# build folder, starting one if needed, and print its DOCKER_HOST.
#
# Podman serves the Docker-compatible API with `podman system service`.
# This one has its own configuration and storage, named through
# CONTAINERS_CONF and CONTAINERS_STORAGE_CONF, under $BUILD/podman: it never
# edits /etc and never touches the Docker engine. The settings are what
# this kind of machine needs: the vfs storage driver (no overlay inside a
# container), cgroupfs (no systemd), and ulimits below the sandbox's hard
# limits (Podman's default nofile/nproc are higher, and runc then fails
# with "error setting rlimit type 7: operation not permitted").
#
# The service runs in its own session and outlives this shell (like
# docker-up.sh's dockerd); running the script again reuses it.
#
# Usage: sh tests/podman-up.sh        prints unix://$BUILD/podman/podman.sock
# Environment:
#   BUILD              build folder (default build)
#   PODMAN_UP_TIMEOUT  seconds to wait for the service (default 60)
set -eu

build=$(cd "${BUILD:-build}" 2>/dev/null && pwd) || {
	mkdir -p "${BUILD:-build}"
	build=$(cd "${BUILD:-build}" && pwd)
}
dir="$build/podman"
socket="$dir/podman.sock"
timeout_s="${PODMAN_UP_TIMEOUT:-60}"

if ! command -v podman >/dev/null 2>&1; then
	echo "podman-up.sh: podman is not installed (apt-get install podman catatonit)" >&2
	exit 1
fi

ping_podman() {
	curl -sf --max-time 3 --unix-socket "$socket" http://localhost/_ping >/dev/null 2>&1
}

if ping_podman; then
	echo "unix://$socket"
	exit 0
fi

mkdir -p "$dir/storage" "$dir/run" "$dir/tmp"
cat >"$dir/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
init_path = "/usr/bin/catatonit"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$dir/events.log"
tmp_dir = "$dir/tmp"
EOF
cat >"$dir/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$dir/storage"
runroot = "$dir/run"
EOF

# A service of ours still starting (same socket on its command line) is waited for.
running=""
for pid in $(pgrep -f "podman system service" 2>/dev/null); do
	if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$socket"; then
		running=$pid
	fi
done
if [ -z "$running" ]; then
	rm -f "$socket"
	CONTAINERS_CONF="$dir/containers.conf" CONTAINERS_STORAGE_CONF="$dir/storage.conf" \
		setsid nohup podman --root "$dir/storage" --runroot "$dir/run" \
		system service --time=0 "unix://$socket" >"$dir/podman.log" 2>&1 </dev/null &
fi

i=0
while ! ping_podman; do
	i=$((i + 1))
	if [ "$i" -gt "$((timeout_s * 5))" ]; then
		echo "podman-up.sh: no answer on $socket after ${timeout_s}s; its log:" >&2
		tail -20 "$dir/podman.log" >&2 || true
		exit 1
	fi
	sleep 0.2
done
echo "unix://$socket"
