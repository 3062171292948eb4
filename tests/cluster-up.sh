#!/bin/sh
# cluster-up.sh - a three-node Docker Swarm on this one machine, for the
# cluster tests (make test-cluster), plus a registry every node trusts.
#
# Each node is a network namespace on a Linux bridge with its own dockerd
# (and the containerd that dockerd starts), its own data, exec root and
# socket, and its own host name (a UTS namespace): to Swarm they are three
# machines. All three are managers, so losing one keeps the quorum. The
# host's own Docker engine is not touched; the only change to the host
# outside $CLUSTER_DIR is the bridge and one iptables rule that lets
# bridged traffic through the host engine's FORWARD policy.
#
#   bridge   $CLUSTER_BRIDGE, 192.168.231.1/24 on the host side
#   nodes    berth-n1..3 at 192.168.231.11..13, sockets $CLUSTER_DIR/nN/docker.sock
#   registry Debian's docker-registry on 192.168.231.1:5231, plain HTTP,
#            listed in every node's insecure-registries (that address only)
#
# Written for the tests: $CLUSTER_DIR/ready (when all is up), registry
# (its HOST:PORT), nN/address, nN/docker.sock. Idempotent: what already
# runs is kept; a node whose dockerd died is started again (it rejoins the
# swarm from its own state). tests/cluster-down.sh removes everything.
#
# Usage: sh tests/cluster-up.sh            everything
#        sh tests/cluster-up.sh start N    only node N's dockerd (after a kill)
#        sh tests/cluster-up.sh kill N     node N dies: SIGKILL to its dockerd,
#                                          containerd, shims and containers
set -eu

CLUSTER_DIR=${CLUSTER_DIR:-/run/berth-cluster}
BRIDGE=${CLUSTER_BRIDGE:-berthbr0}
NET=192.168.231
REGISTRY="$NET.1:5231"
NODES="1 2 3"
UP_TIMEOUT_S=${CLUSTER_UP_TIMEOUT:-90}

say() { echo "cluster-up: $*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (network namespaces, dockerd)"
for tool in ip nsenter unshare dockerd docker curl iptables; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (sh tests/deps.sh installs it)"
done

ns() { echo "berth-n$1"; }
sock() { echo "$CLUSTER_DIR/n$1/docker.sock"; }
dk() { n=$1; shift; docker -H "unix://$(sock "$n")" "$@"; }

ping_node() {
	curl -sf --max-time 3 --unix-socket "$(sock "$1")" http://localhost/_ping >/dev/null 2>&1
}

# The network: bridge, one namespace and veth pair per node, the FORWARD rule.
network_up() {
	if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
		ip link add "$BRIDGE" type bridge
		ip addr add "$NET.1/24" dev "$BRIDGE"
	fi
	ip link set "$BRIDGE" up
	for n in $NODES; do
		[ -e "/var/run/netns/$(ns "$n")" ] || ip netns add "$(ns "$n")"
		if ! ip link show "bn$n" >/dev/null 2>&1; then
			ip link add "bn$n" type veth peer name eth0 netns "$(ns "$n")"
			ip link set "bn$n" master "$BRIDGE" up
			ip -n "$(ns "$n")" addr add "$NET.1$n/24" dev eth0
			ip -n "$(ns "$n")" link set eth0 up
			ip -n "$(ns "$n")" link set lo up
		fi
	done
	# The host engine's FORWARD policy drops what its chains do not accept.
	chain=FORWARD
	iptables -nL DOCKER-USER >/dev/null 2>&1 && chain=DOCKER-USER
	iptables -C "$chain" -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT 2>/dev/null ||
		iptables -I "$chain" -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT
	echo "$chain" >"$CLUSTER_DIR/iptables-chain"
}

registry_up() {
	dir="$CLUSTER_DIR/registry.d"
	mkdir -p "$dir/data"
	if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
		return 0
	fi
	command -v docker-registry >/dev/null 2>&1 ||
		die "docker-registry is missing (apt-get install docker-registry)"
	cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: $REGISTRY
EOF
	setsid docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 </dev/null &
	echo $! >"$dir/pid"
	i=0
	until curl -sf --max-time 2 "http://$REGISTRY/v2/" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 50 ] || die "registry does not answer on $REGISTRY (see $dir/log)"
		sleep 0.2
	done
	echo "$REGISTRY" >"$CLUSTER_DIR/registry"
}

# Starts node $1's dockerd unless it answers; waits for /_ping.
node_start() {
	n=$1
	d="$CLUSTER_DIR/n$n"
	ping_node "$n" && return 0
	mkdir -p "$d/data" "$d/exec"
	echo "$NET.1$n" >"$d/address"
	cat >"$d/daemon.json" <<EOF
{
  "insecure-registries": ["$REGISTRY"],
  "storage-driver": "vfs",
  "log-level": "warn"
}
EOF
	rm -f "$(sock "$n")" "$d/dockerd.pid"
	# nsenter, not `ip netns exec`: that remounts /sys, and dockerd then
	# fails with "Devices cgroup isn't mounted". unshare --uts gives the
	# node its own host name, which Swarm reports as the node's.
	setsid nsenter --net="/var/run/netns/$(ns "$n")" unshare --uts sh -c \
		"hostname $(ns "$n") && exec dockerd --config-file '$d/daemon.json' \
		--data-root '$d/data' --exec-root '$d/exec' --pidfile '$d/dockerd.pid' \
		-H 'unix://$(sock "$n")' --cgroup-parent 'berth-n$n'" \
		>>"$d/dockerd.log" 2>&1 </dev/null &
	i=0
	until ping_node "$n"; do
		i=$((i + 1))
		[ $i -lt $((UP_TIMEOUT_S * 5)) ] || die "node $n's dockerd does not answer (see $d/dockerd.log)"
		sleep 0.2
	done
}

# Every process of node $1: those in its network namespace (dockerd,
# containerd, the shims) and their descendants (the containers' processes,
# which live in namespaces of their own).
node_pids() {
	roots=$(ip netns pids "$(ns "$1")" 2>/dev/null || true)
	all=""
	while [ -n "$roots" ]; do
		all="$all $roots"
		next=""
		for p in $roots; do
			next="$next $(cat /proc/"$p"/task/*/children 2>/dev/null || true)"
		done
		roots=$(echo $next)
	done
	echo $all
}

node_kill() {
	pids=$(node_pids "$1")
	[ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
	i=0
	while [ -n "$(node_pids "$1")" ] && [ $i -lt 50 ]; do
		i=$((i + 1))
		sleep 0.1
	done
	# A killed dockerd leaves its containers' mounts (shm, netns files) behind.
	grep -F " $CLUSTER_DIR/n$1/" /proc/mounts | cut -d' ' -f2 | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

swarm_state() {
	dk "$1" info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || echo unknown
}

swarm_up() {
	if [ "$(swarm_state 1)" != active ]; then
		dk 1 swarm init --advertise-addr "$NET.11" --listen-addr "$NET.11:2377" \
			--default-addr-pool 10.231.0.0/16 >/dev/null
	fi
	token=$(dk 1 swarm join-token -q manager)
	for n in 2 3; do
		[ "$(swarm_state "$n")" = active ] && continue
		dk "$n" swarm join --token "$token" --advertise-addr "$NET.1$n" \
			--listen-addr "$NET.1$n:2377" "$NET.11:2377" >/dev/null
	done
	i=0
	while [ "$(dk 1 node ls --format '{{.Status}}' 2>/dev/null | grep -c Ready)" -lt 3 ]; do
		i=$((i + 1))
		[ $i -lt $((UP_TIMEOUT_S * 2)) ] || die "the swarm does not show three ready nodes"
		sleep 0.5
	done
}

mkdir -p "$CLUSTER_DIR"
case "${1:-up}" in
up)
	rm -f "$CLUSTER_DIR/ready"
	network_up
	registry_up
	for n in $NODES; do node_start "$n"; done
	swarm_up
	touch "$CLUSTER_DIR/ready"
	say "three nodes ready: $(dk 1 node ls --format '{{.Hostname}}' | sort | tr '\n' ' ')registry $REGISTRY"
	;;
start) node_start "${2:?node number}" ;;
kill) node_kill "${2:?node number}" ;;
*) die "usage: $0 [up | start N | kill N]" ;;
esac
