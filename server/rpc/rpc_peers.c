/*
 * rpc_peers.c - who is at the other end of each connection, found out once
 * per connection, and how many calls each connection has in flight (the
 * per-connection limit).
 *
 * Any thread: workers enter and leave, nng's threads leave (send_done) and
 * remove pipes (the guard's pipe_removed). The table is under peers_lock.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <nng/nng.h>

#include "rpc/conn_guard.h"
#include "rpc/parking.h"
#include "rpc/rpc_server_internal.h"

/* The slot of (pipe, listener), or the free slot to take for it, or -1; caller locks. */
static int
peer_slot(struct rpc_server *srv, uint32_t pipe, uint32_t listener, bool *found)
{
	int free_slot = -1;

	*found = false;
	for (uint32_t i = 0, at = pipe * 2654435761u; i < PEER_SLOTS; i++, at++) {
		struct peer_slot *p = &srv->peers[at & (PEER_SLOTS - 1)];

		if (p->pipe == pipe && p->listener == listener) {
			*found = true;
			return (int)(at & (PEER_SLOTS - 1));
		}
		if (p->pipe == PEER_TOMBSTONE && free_slot < 0)
			free_slot = (int)(at & (PEER_SLOTS - 1));
		if (p->pipe == 0)
			return free_slot >= 0 ? free_slot : (int)(at & (PEER_SLOTS - 1));
	}
	return free_slot;
}

/* The guard calls this on one of nng's threads when a connection is gone. */
void
rpc_pipe_removed(void *arg, nng_pipe pipe)
{
	struct rpc_server *srv = arg;
	bool found;
	int i;

	pthread_mutex_lock(&srv->peers_lock);
	i = peer_slot(srv, (uint32_t)nng_pipe_id(pipe),
	    (uint32_t)nng_listener_id(nng_pipe_listener(pipe)), &found);
	if (found) {
		srv->peers[i].pipe = PEER_TOMBSTONE;
		/*
		 * A tombstone just before an empty slot ends no probe: it and the
		 * tombstones before it become empty, so the table does not fill
		 * up with connections long gone.
		 */
		while (srv->peers[i].pipe == PEER_TOMBSTONE &&
		    srv->peers[(i + 1) & (PEER_SLOTS - 1)].pipe == 0) {
			srv->peers[i].pipe = 0;
			i = (i - 1) & (PEER_SLOTS - 1);
		}
	}
	pthread_mutex_unlock(&srv->peers_lock);
	parking_pipe_gone(srv->parking, pipe); /* its long polls have nobody to answer */
}

/*
 * Who sent `msg`, as nng knows it: the family of the connection's remote
 * address, and a printable form ("ipc uid=0 pid=42", "10.0.0.5:51234",
 * "[::1]:51234"). Looked up once per connection (peers[]). Counts the call
 * as one more in flight on its connection and returns how many it has now
 * (0 when the message has no connection). Any worker.
 */
int
rpc_peer_enter(struct rpc_server *srv, nng_msg *msg, struct call *call)
{
	nng_pipe pipe = nng_msg_get_pipe(msg);
	uint32_t id = (uint32_t)nng_pipe_id(pipe);
	uint32_t listener = (uint32_t)nng_listener_id(nng_pipe_listener(pipe));
	char host[INET6_ADDRSTRLEN];
	uint64_t uid, pid;
	nng_sockaddr sa;
	bool found;
	int i, calls = 0;

	if (nng_pipe_id(pipe) <= 0)
		return 0;
	conn_guard_call_begin(srv->guard, pipe);
	pthread_mutex_lock(&srv->peers_lock);
	i = peer_slot(srv, id, listener, &found);
	if (found) {
		call->peer_family = srv->peers[i].family;
		memcpy(call->peer, srv->peers[i].text, sizeof(call->peer));
		calls = ++srv->peers[i].calls;
	}
	pthread_mutex_unlock(&srv->peers_lock);
	if (found)
		return calls;

	if (nng_pipe_get_addr(pipe, NNG_OPT_REMADDR, &sa) == 0) {
		call->peer_family = sa.s_family;
		switch (sa.s_family) {
		case NNG_AF_IPC:
			if (nng_pipe_get_uint64(pipe, NNG_OPT_IPC_PEER_UID, &uid) == 0 &&
			    nng_pipe_get_uint64(pipe, NNG_OPT_IPC_PEER_PID, &pid) == 0)
				snprintf(call->peer, sizeof(call->peer), "ipc uid=%llu pid=%llu",
				    (unsigned long long)uid, (unsigned long long)pid);
			else
				snprintf(call->peer, sizeof(call->peer), "ipc");
			break;
		case NNG_AF_INET:
			if (inet_ntop(AF_INET, &sa.s_in.sa_addr, host, sizeof(host)) != NULL)
				snprintf(call->peer, sizeof(call->peer), "%s:%u", host,
				    (unsigned)ntohs(sa.s_in.sa_port));
			break;
		case NNG_AF_INET6:
			if (inet_ntop(AF_INET6, sa.s_in6.sa_addr, host, sizeof(host)) != NULL)
				snprintf(call->peer, sizeof(call->peer), "[%s]:%u", host,
				    (unsigned)ntohs(sa.s_in6.sa_port));
			break;
		default:
			break;
		}
	}

	pthread_mutex_lock(&srv->peers_lock);
	i = peer_slot(srv, id, listener, &found);
	if (i < 0) { /* full of connections long gone: start over */
		memset(srv->peers, 0, sizeof(srv->peers));
		i = peer_slot(srv, id, listener, &found);
	}
	if (found) { /* another worker described it meanwhile */
		calls = ++srv->peers[i].calls;
	} else {
		srv->peers[i] = (struct peer_slot){ id, listener, call->peer_family, 1, false, "" };
		memcpy(srv->peers[i].text, call->peer, sizeof(call->peer));
		calls = 1;
	}
	pthread_mutex_unlock(&srv->peers_lock);
	return calls;
}

/*
 * A call of `pipe` is no longer in flight. A connection gone (or forgotten
 * when the table was wiped) has nothing to count down. Any thread.
 */
void
rpc_peer_leave(struct rpc_server *srv, nng_pipe pipe)
{
	bool found;
	int i;

	if (nng_pipe_id(pipe) <= 0)
		return;
	conn_guard_call_end(srv->guard, pipe);
	pthread_mutex_lock(&srv->peers_lock);
	i = peer_slot(srv, (uint32_t)nng_pipe_id(pipe),
	    (uint32_t)nng_listener_id(nng_pipe_listener(pipe)), &found);
	if (found && srv->peers[i].calls > 0)
		srv->peers[i].calls--;
	pthread_mutex_unlock(&srv->peers_lock);
}

/*
 * True the first time a reply to `pipe` times out: log and close once,
 * not once per reply queued behind. Any thread.
 */
bool
rpc_peer_drop(struct rpc_server *srv, nng_pipe pipe)
{
	bool found, first = true;
	int i;

	pthread_mutex_lock(&srv->peers_lock);
	i = peer_slot(srv, (uint32_t)nng_pipe_id(pipe),
	    (uint32_t)nng_listener_id(nng_pipe_listener(pipe)), &found);
	if (found) {
		first = !srv->peers[i].dropped;
		srv->peers[i].dropped = true;
	}
	pthread_mutex_unlock(&srv->peers_lock);
	return first;
}

/*
 * Whether `pipe` is still a connection the table knows (not removed).
 * Parking asks before it parks a call again. Any thread.
 */
bool
rpc_peer_known(struct rpc_server *srv, nng_pipe pipe)
{
	bool found;

	pthread_mutex_lock(&srv->peers_lock);
	peer_slot(srv, (uint32_t)nng_pipe_id(pipe), (uint32_t)nng_listener_id(nng_pipe_listener(pipe)),
	    &found);
	pthread_mutex_unlock(&srv->peers_lock);
	return found;
}
