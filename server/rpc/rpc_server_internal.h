/*
 * rpc_server_internal.h - what the RPC server's files share (rpc_server.c,
 * rpc_envelope.c, rpc_peers.c, parking.c); nothing outside server/rpc/
 * includes it.
 */
#ifndef BERTH_RPC_SERVER_INTERNAL_H
#define BERTH_RPC_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include <nng/nng.h>

#include "rpc/request_cache.h"
#include "rpc/rpc_server.h"

struct parking;

#define REQUEST_ID_MAX 128
#define REQUEST_CACHE_TTL_MS (10 * 60 * 1000)
#define SEND_TIMEOUT_MS 5000 /* a client that takes no reply this long loses its connection */
/*
 * The refusal of a request over the connection's limit: a client that reads
 * its replies takes it at once; one that does not is dropped after this.
 */
#define REFUSAL_SEND_TIMEOUT_MS 100
#define STOP_GRACE_MS 30000
/*
 * Contexts whose replies are on their way, beyond one receiving context per
 * worker. Each holds its reply until the connection takes it (or the send
 * times out): this bounds that memory. Workers wait for a free context only
 * when all of them hold replies nobody reads.
 */
#define SENDING_CONTEXTS_PER_WORKER 8

/*
 * An nng context and what its reply's completion needs to know. Free
 * contexts are on srv->free_contexts; a worker takes one to receive on,
 * and send_done gives it back once the reply is gone.
 */
struct rpc_context {
	struct rpc_server *srv;
	nng_ctx ctx;
	nng_aio *send_aio; /* callback send_done */
	bool opened;
	nng_pipe pipe;    /* the connection of the reply being sent */
	bool counted;     /* the call holds one of its connection's in-flight places */
	int timeout_ms;   /* of the send */
	char peer[sizeof(((struct call *)0)->peer)];
	struct rpc_context *next_free;
	struct rpc_context *next_extra; /* allocated beyond the pool for a parked call */
};

struct worker {
	struct rpc_server *srv;
	pthread_t thread;
	nng_aio *aio; /* receives, on a context taken from the free list */
	void *state;  /* from hooks->worker_open */
	bool started;
};

#define MAX_LISTENERS 8

/*
 * Who is at the other end of each connection, found out once per
 * connection instead of once per call (for ipc that is two getsockopt
 * calls, SO_PEERCRED). Keyed by pipe and listener id: the family, which
 * authorization reads, is the listener's. Open addressing; a pipe that goes
 * away leaves a tombstone (pipe_removed), and a table found full is wiped.
 */
#define PEER_SLOTS 2048 /* a power of two */
#define PEER_TOMBSTONE UINT32_MAX

struct peer_slot {
	uint32_t pipe; /* 0: empty */
	uint32_t listener;
	int family;
	int calls; /* in flight: received, reply not yet handed to the connection */
	bool dropped; /* closed for not reading its replies */
	char text[sizeof(((struct call *)0)->peer)];
};

struct rpc_server {
	nng_socket sock;
	nng_listener listeners[MAX_LISTENERS]; /* the ipc watchdog may replace them */
	struct rpc_server_config config;
	const struct dispatch_table *table;
	const struct rpc_server_hooks *hooks;
	struct request_cache *cache;
	struct worker *workers;
	int n_workers;
	atomic_bool draining;

	atomic_int inflight;      /* see inflight_add */
	atomic_int idle_waiters;
	pthread_mutex_t lock;     /* with idle: only for rpc_server_wait_idle */
	pthread_cond_t idle;

	int max_calls_per_connection;

	pthread_mutex_t contexts_lock; /* guards free_contexts and stopping */
	pthread_cond_t context_freed;
	struct rpc_context *contexts;
	int n_contexts;
	struct rpc_context *free_contexts;
	bool stopping;
	/*
	 * Contexts opened beyond the pool because calls parked on theirs
	 * (parking.c): as many as ever parked at once, at most
	 * max_parked_calls; kept until the server stops.
	 */
	struct rpc_context *extra_contexts;
	int n_extra;
	int contexts_parked; /* nng calls parked, each holding its context */

	struct parking *parking;

	pthread_mutex_t peers_lock; /* guards peers[] */
	struct peer_slot peers[PEER_SLOTS];

	struct conn_guard *guard;
};

/* rpc_envelope.c: one request to its reply. */

/*
 * A fresh call for the request that arrived at arrived_ms (monotonic; its
 * deadline counts from there), from `peer`, on a thread with per-worker
 * state `worker`. The caller resets call->arena when done.
 */
void rpc_call_begin(struct call *call, struct rpc_server *srv, void *worker, int64_t arrived_ms,
    int peer_family, const char *peer);

/*
 * Runs the request bytes `data` through the envelope, authorization,
 * deduplication, dispatch and the finished hook. Returns the reply message
 * (NULL only when out of memory); call->error.code is the outcome. Any
 * thread with its own per-worker state in call->worker.
 */
nng_msg *rpc_run_call(struct rpc_server *srv, struct call *call, const void *data, size_t len);
/* The answer to a request over its connection's in-flight limit, not decoded. */
nng_msg *rpc_refuse_request(struct rpc_server *srv, struct call *call);
/* The one log line of a call, at its answer. */
void rpc_log_request(const struct call *call, int64_t duration_us);

/* rpc_server.c: contexts and replies, for parking.c. */

/* Calls in flight (rpc_server_wait_idle): +1 when one starts, -1 when it ends or parks. */
void rpc_inflight_add(struct rpc_server *srv, int delta);
/*
 * A worker's context now holds a parked call: opens a context beyond the
 * pool when needed, so the workers keep as many to receive and send on.
 * 0, or -1 when nng cannot open one (the call is then answered at once).
 */
int rpc_context_park(struct rpc_server *srv);
/*
 * A parked call's context is about to send its answer, or (give_back) is
 * dropped and free at once.
 */
void rpc_context_unpark(struct rpc_server *srv, struct rpc_context *c, bool give_back);
/* Sends `reply` on `c` (see send_reply); counts as in flight until sent. */
void rpc_send_reply(struct rpc_context *c, nng_msg *reply, nng_pipe pipe, bool counted,
    int timeout_ms, const char *peer);

/* rpc_peers.c: who is at the other end of each connection, and its calls in flight. */
int rpc_peer_enter(struct rpc_server *srv, nng_msg *msg, struct call *call);
void rpc_peer_leave(struct rpc_server *srv, nng_pipe pipe);
bool rpc_peer_drop(struct rpc_server *srv, nng_pipe pipe);
void rpc_pipe_removed(void *arg, nng_pipe pipe);
bool rpc_peer_known(struct rpc_server *srv, nng_pipe pipe);

#endif
