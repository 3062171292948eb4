#!/bin/sh
# deps.sh - install the Debian packages berth needs to build and test, but
# only when some are missing. Silent when everything is installed, so
# `make test` can call it every time.
#
# Usage: sh tests/deps.sh
set -eu

PACKAGES="build-essential pkg-config protobuf-c-compiler libprotobuf-c-dev
libnng-dev libcurl4-openssl-dev libsqlite3-dev sqlite3 libjansson-dev libyaml-dev
libarchive-dev libcmocka-dev libinih-dev libmicrohttpd-dev libssl-dev openssl docker.io curl ca-certificates valgrind
iproute2 procps
nng-utils protobuf-compiler python3-protobuf clang-format
chromium chromium-driver python3-selenium
podman catatonit uidmap slirp4netns netavark aardvark-dns
docker-registry iptables util-linux"

missing=""
for pkg in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $pkg"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
	as_root=""
elif command -v sudo >/dev/null 2>&1; then
	as_root="sudo"
else
	echo "deps.sh: missing packages:$missing" >&2
	echo "deps.sh: not root and no sudo; install them as root and retry" >&2
	exit 1
fi

echo "deps.sh: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# $as_root and $missing are deliberately split into words.
# shellcheck disable=SC2086
$as_root apt-get update
# shellcheck disable=SC2086
$as_root env DEBIAN_FRONTEND=noninteractive \
	apt-get install -y --no-install-recommends $missing
