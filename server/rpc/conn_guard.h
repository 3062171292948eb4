/*
 * conn_guard.h - how many connections one nng socket keeps, and how long.
 *
 * nng accepts every connection and keeps a pipe for as long as its peer
 * likes: a peer that sends the SP header and half a message holds a
 * descriptor for good, and a few hundred of them ran berthd out of
 * descriptors, ipc:// included. The guard of a socket:
 *
 *  - refuses a pipe (closes it as nng adds it) beyond its listener's cap,
 *    or, for tcp:// and tls+tcp:// peers, beyond the cap per peer address
 *    (over all the socket's network listeners). Each listener counts its
 *    own pipes, so a flood on tcp:// leaves the ipc:// listener its own.
 *    A pipe from berthd's own process (the ipc watchdog's probe) is always
 *    let in: refusing it would make the watchdog restart the listener;
 *  - closes a pipe without a call in flight that has delivered no complete
 *    request within idle_timeout_ms of connecting or of its last reply;
 *  - ends network connections that are still no pipe handshake_timeout_ms
 *    after they were accepted (see handshake_reaper.h: nng 1.5.2 waits
 *    for good for a TLS handshake).
 *
 * It owns the socket's NNG_PIPE_EV_ADD_PRE and NNG_PIPE_EV_REM_POST
 * callbacks (nng keeps one per event and socket; `removed` is called from
 * the latter); NNG_PIPE_EV_ADD_POST stays the ipc watchdog's.
 *
 * Threads: the callbacks run on nng's threads, call_begin/call_end on any,
 * the sweeps (idle pipes, handshakes) on a thread of the guard's own. One
 * mutex guards the tables; nothing blocks under it.
 */
#ifndef BERTH_CONN_GUARD_H
#define BERTH_CONN_GUARD_H

#include <stdbool.h>
#include <stdint.h>

#include <nng/nng.h>

#include "error.h"

struct conn_guard;

struct conn_limits {
	int64_t max_per_ipc_listener;     /* pipes one ipc:// listener keeps; 0: no cap */
	int64_t max_per_network_listener; /* one tcp:// or tls+tcp:// listener; 0: no cap */
	int64_t max_per_address;          /* pipes of one peer IP address; 0: no cap */
	int64_t idle_timeout_ms;          /* 0: idle pipes are kept */
	int64_t handshake_timeout_ms;     /* 0: connections that are no pipe are left to nng */
};

struct conn_guard_hooks {
	void *arg;
	/* A pipe is gone (NNG_PIPE_EV_REM_POST), after the guard forgot it. May be NULL. */
	void (*removed)(void *arg, nng_pipe pipe);
	/*
	 * Asked before each idle sweep: false skips it (a busy server may hold
	 * a complete request in nng that no worker has taken yet). NULL: always.
	 */
	bool (*may_close_idle)(void *arg);
};

/*
 * Guards `sock`, whose listeners must not have started yet; `name` ("rpc",
 * "events") goes into log lines. Returns 0, or -1 with the reason in err.
 */
int conn_guard_start(struct conn_guard **out, nng_socket sock, const char *name,
    const struct conn_limits *limits, const struct conn_guard_hooks *hooks, struct error *err);

/*
 * Tells the guard about a listener once it listens: a tcp:// or tls+tcp://
 * one has its connections' handshakes watched. Main thread, at start-up.
 */
void conn_guard_listener(struct conn_guard *g, nng_listener l);

/* A request of `pipe` was received / its reply left (or failed). Any thread. */
void conn_guard_call_begin(struct conn_guard *g, nng_pipe pipe);
void conn_guard_call_end(struct conn_guard *g, nng_pipe pipe);

/*
 * Stops the sweeps and frees the guard. Call after nng_close(sock): the
 * callbacks run until the socket is closed. NULL is fine.
 */
void conn_guard_stop(struct conn_guard *g);

#endif
