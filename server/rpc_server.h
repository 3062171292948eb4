/*
 * rpc_server.h - berth's RPC transport: an nng rep0 socket and its workers.
 *
 * One rep0 socket listens on every configured URL (ipc://, tcp://). Each
 * worker thread owns one nng context and loops RECV -> WORK -> SEND, so as
 * many calls run at once as there are workers, and a slow call (a Docker
 * stop of 10 s) never blocks a fast one. Workers block in nng and in their
 * handlers, never inside an nng callback.
 *
 * Per request the server: refuses oversized messages (RESOURCE_EXHAUSTED),
 * decodes the RpcRequest envelope (INVALID_ARGUMENT), finds the method
 * (UNIMPLEMENTED), computes the deadline from timeout_ms, runs a mutating
 * call at most once per request_id, dispatches, counts the call for
 * /metrics (metrics.h) and logs one line.
 */
#ifndef BERTH_RPC_SERVER_H
#define BERTH_RPC_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dispatch.h"

struct rpc_server;

struct rpc_server_config {
	const char *const *urls;
	size_t n_urls;
	int workers;                 /* worker threads = concurrent calls */
	size_t max_request_bytes;    /* larger requests: RESOURCE_EXHAUSTED */
	uint32_t default_timeout_ms; /* deadline when the client sends none */
	uint32_t ipc_mode;           /* permissions of ipc:// socket files, e.g. 0660 */
};

struct rpc_server_hooks {
	void *app;                          /* handed to handlers as call->app */
	void *(*worker_open)(void *app);    /* per-worker state (call->worker); NULL = failure */
	void (*worker_close)(void *worker);
};

/*
 * Listens on every URL and starts the workers. On failure returns -1 with
 * the reason in err and nothing left running. The table and hooks must
 * outlive the server.
 */
int rpc_server_start(struct rpc_server **out, const struct rpc_server_config *config,
    const struct dispatch_table *table, const struct rpc_server_hooks *hooks,
    char *err, size_t errlen);

/*
 * From now on mutating calls answer UNAVAILABLE ("shutting down"); reads go
 * on. Called by the shutdown path; any thread.
 */
void rpc_server_drain(struct rpc_server *srv);
bool rpc_server_draining(const struct rpc_server *srv);

/*
 * Waits until no call is in flight, at most timeout_ms; returns the number
 * still running. With draining on, no new mutating call can start.
 */
int rpc_server_wait_idle(struct rpc_server *srv, int64_t timeout_ms);

/* Closes the socket, waits for calls in flight, joins the workers, frees. */
void rpc_server_stop(struct rpc_server *srv);

#endif
