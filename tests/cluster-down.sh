#!/bin/sh
# cluster-down.sh - removes everything tests/cluster-up.sh made: the nodes'
# dockerds, containerds, shims and containers, their mounts and data, the
# namespaces, the bridge, the iptables rule and the registry. Idempotent:
# safe to run when nothing (or half of it) is there.
#
# Usage: sh tests/cluster-down.sh
set -u

CLUSTER_DIR=${CLUSTER_DIR:-/run/berth-cluster}
BRIDGE=${CLUSTER_BRIDGE:-berthbr0}
here=$(dirname "$0")

[ "$(id -u)" = 0 ] || { echo "cluster-down: needs root" >&2; exit 1; }

for n in 1 2 3; do
	[ -e "/var/run/netns/berth-n$n" ] && CLUSTER_DIR=$CLUSTER_DIR sh "$here/cluster-up.sh" kill "$n"
	ip netns del "berth-n$n" 2>/dev/null
	ip link del "bn$n" 2>/dev/null
	# The containers' cgroups (cgroup v1: one per controller), now empty.
	for c in /sys/fs/cgroup/*/berth-n$n; do
		[ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
done

if [ -f "$CLUSTER_DIR/registry.d/pid" ]; then
	kill "$(cat "$CLUSTER_DIR/registry.d/pid")" 2>/dev/null
fi

chain=$(cat "$CLUSTER_DIR/iptables-chain" 2>/dev/null || echo DOCKER-USER)
while iptables -D "$chain" -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT 2>/dev/null; do :; done
ip link del "$BRIDGE" 2>/dev/null

if [ -d "$CLUSTER_DIR" ]; then
	grep -F " $CLUSTER_DIR/" /proc/mounts | cut -d' ' -f2 | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null; done
	rm -rf "$CLUSTER_DIR"
fi

exit 0
