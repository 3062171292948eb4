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
 * (UNIMPLEMENTED), asks the authorize hook, computes the deadline from
 * timeout_ms, runs a mutating call at most once per request_id and caller,
 * dispatches, tells the finished and measured hooks, and logs one line.
 *
 * tls+tcp:// listeners use nng's TLS with the configured certificate; with
 * a client CA a peer without a certificate it signed cannot connect.
 */
#ifndef BERTH_RPC_SERVER_H
#define BERTH_RPC_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rpc/conn_guard.h"
#include "rpc/dispatch.h"
#include "rpc/ipc_access.h"
#include "rpc/tls_listener.h"
#include "error.h"

struct rpc_server;
struct ipc_watchdog;

struct rpc_server_config {
	const char *const *urls;
	size_t n_urls;
	int workers;                 /* worker threads = concurrent calls */
	size_t max_request_bytes;    /* larger requests: RESOURCE_EXHAUSTED */
	uint32_t default_timeout_ms; /* deadline when the client sends none */
	/*
	 * Calls one connection may have in flight; a request beyond them is
	 * answered RESOURCE_EXHAUSTED (reason TOO_MANY_IN_FLIGHT) without
	 * running. 0: max(2, workers / 4).
	 */
	int max_calls_per_connection;
	/*
	 * Long polls held at once without a thread (call_park): a parked call
	 * keeps its connection's in-flight place; beyond this many, calls run
	 * unable to park (they answer at once). 0: nothing parks.
	 */
	int max_parked_calls;
	/*
	 * Connections kept per listener and per address, how long an idle one
	 * and an unfinished handshake are kept (conn_guard.h); all 0: no limits.
	 */
	struct conn_limits limits;
	struct ipc_access ipc;       /* mode and group of ipc:// socket files */
	struct tls_files tls;          /* tls+tcp:// listeners (nng's TLS, mbedTLS) */
	struct ipc_watchdog *watchdog; /* watches ipc:// listeners (nng 1.5.2); may be NULL */
};

enum rpc_durable {
	RPC_DURABLE_NEW,
	RPC_DURABLE_RESUMED,
	RPC_DURABLE_DONE,
	RPC_DURABLE_CONFLICT,
	RPC_DURABLE_FAILED,
};

struct rpc_server_hooks {
	void *app;                          /* handed to handlers as call->app */
	void *(*worker_open)(void *app);    /* per-worker state (call->worker); NULL = failure */
	void (*worker_close)(void *worker);
	/*
	 * The one access check: runs on the worker for every call to a method
	 * the proto declares, before draining, deduplication and dispatch, with
	 * call->token, call->peer_family and call->peer filled. Returns 0 to go
	 * on (and may set call->principal), or the code it gave call_fail*()
	 * (UNAUTHENTICATED, PERMISSION_DENIED). NULL: everyone may call all.
	 */
	int (*authorize)(void *app, struct call *call, const struct rpc_route *route);
	/*
	 * Runs on the worker after every call to a declared method, with the
	 * outcome in call->code, before the reply is sent (berthd writes its
	 * audit log here). `payload` is the request's payload bytes. May be NULL.
	 */
	void (*finished)(void *app, struct call *call, const struct rpc_route *route,
	    const ProtobufCBinaryData *payload);
	/*
	 * Runs on the worker after every request, decoded or not (call->method
	 * is then "(undecoded)"), with its outcome and how long it took, before
	 * the reply is sent: a client sees its own call counted (berthd's
	 * /metrics). May be NULL.
	 */
	void (*measured)(void *app, const struct call *call, int64_t duration_us);
	/*
	 * Deduplication that survives a restart, for mutating calls with a
	 * request id (NULL: the in-memory cache only). `claim` runs on the
	 * worker once the in-memory cache has let the call run, with `key` set
	 * as call->request_key and the payload's SHA-256: it returns
	 * RPC_DURABLE_NEW (run it), RPC_DURABLE_RESUMED (run it; an earlier
	 * attempt was cut short and the hook set call->resumed*), RPC_DURABLE_DONE
	 * (*reply, *len: the stored reply, malloc'ed), RPC_DURABLE_CONFLICT, or
	 * RPC_DURABLE_FAILED with call_fail*() done. `finish` stores the reply
	 * of a call claimed NEW or RESUMED, or with reply NULL forgets it (a
	 * transient failure: it may run again).
	 */
	enum rpc_durable (*durable_claim)(void *app, struct call *call, const unsigned char *digest,
	    void **reply, size_t *len);
	void (*durable_finish)(void *app, struct call *call, const void *reply, size_t len);
};

/*
 * Listens on every URL and starts the workers. On failure returns -1 with
 * the reason in err and nothing left running. The table and hooks must
 * outlive the server.
 */
int rpc_server_start(struct rpc_server **out, const struct rpc_server_config *config,
    const struct dispatch_table *table, const struct rpc_server_hooks *hooks,
    struct error *err);

/*
 * From now on mutating calls answer UNAVAILABLE ("shutting down"); reads go
 * on. Called by the shutdown path; any thread.
 */
void rpc_server_drain(struct rpc_server *srv);
bool rpc_server_draining(const struct rpc_server *srv);

/*
 * Waits until no call is in flight, at most timeout_ms; returns the number
 * still running. With draining on, no new mutating call can start. Parked
 * calls (long polls) are not in flight: they never hold a drain up.
 */
int rpc_server_wait_idle(struct rpc_server *srv, int64_t timeout_ms);

/*
 * Waits for calls in flight (not parked ones), gives every parked call its
 * final answer (or drops it when its connection is gone), closes the
 * socket, joins the workers, frees.
 */
void rpc_server_stop(struct rpc_server *srv);

/*
 * For tests and the fuzzer (tests/fuzz/fuzz_rpc.c): runs the request bytes
 * `data` through exactly what a worker does between receiving a message and
 * sending the reply (size limit, envelope, authorization, deduplication,
 * dispatch, the finished hook), without nng. `worker` is the per-worker
 * state handlers get as call->worker; peer_family (NNG_AF_*) and peer
 * describe the caller as the transport would. A server started with no
 * URLs and 0 workers is enough. Returns the call's code; *reply is the
 * serialized RpcResponse (malloc'ed, the caller frees it; NULL when out of
 * memory). Any thread.
 */
int rpc_server_handle_bytes(struct rpc_server *srv, void *worker, int peer_family,
    const char *peer, const void *data, size_t len, void **reply, size_t *reply_len);

/*
 * Another transport's way in (the HTTP gateway): the same path as a call
 * received on the rep0 socket (size limit, envelope, authorization,
 * deduplication, dispatch, hooks) for the encoded RpcRequest `data` from
 * `peer`. `done` gets the call's code and the encoded RpcResponse (malloc'ed;
 * `done` owns it; NULL when out of memory). It runs either before
 * rpc_server_submit returns, on the calling thread, or later on one of the
 * server's threads when the call was parked (a long poll, call_park). The
 * calling thread's per-worker state comes from rpc_server_worker_open.
 * Returns 0, or -1 when the call could not be accepted (done not called).
 */
typedef void (*rpc_done_fn)(void *arg, int code, void *reply, size_t reply_len);

int rpc_server_submit(struct rpc_server *srv, void *worker, int peer_family, const char *peer,
    const void *data, size_t len, rpc_done_fn done, void *arg);

/*
 * Runs again, soon, every call parked on `channel` (enum call_wake_channel):
 * berthd's event sink wakes CALL_WAKE_EVENTS. Never blocks on a call (a
 * short lock). Any thread; a NULL server does nothing.
 */
void rpc_server_wake(struct rpc_server *srv, unsigned channel);

/* Calls parked now (tests, metrics). */
int rpc_server_parked(struct rpc_server *srv);

/* Per-thread state (hooks->worker_open) for a thread that calls rpc_server_submit. */
void *rpc_server_worker_open(struct rpc_server *srv);
void rpc_server_worker_close(struct rpc_server *srv, void *worker);

#endif
