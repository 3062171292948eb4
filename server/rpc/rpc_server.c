/*
 * rpc_server.c - rep0 socket, worker threads, envelope handling.
 *
 * Threads: rpc_server_start/stop run on the main thread; each worker runs
 * worker_main; send_done runs on nng's threads. Shared state: `inflight`
 * and `draining` are atomics (see inflight_add); `peers` is under
 * `peers_lock`; the free contexts (`free_contexts`) under `contexts_lock`.
 *
 * Fairness. A worker never waits for a reply to leave: it hands the reply
 * to nng on the context that received the request (send_done finishes it)
 * and receives the next request on another free context. A connection may
 * have at most `max_calls_per_connection` calls in flight (from receive
 * until its reply is handed to the connection or failed); a request beyond
 * that is not run but answered RESOURCE_EXHAUSTED (reason
 * TOO_MANY_IN_FLIGHT), and libberth tries it again shortly. Replies to a
 * client that reads them leave at once; replies to one that does not read
 * wait behind each other, so its calls stay in flight: its next request is
 * refused with a short send timeout, which expires behind the replies that
 * do not leave, and the connection is closed (releasing every reply queued
 * on it). A peer that does not read is dropped, not waited for.
 *
 * Connections. The guard (conn_guard.c) owns the socket's pipe events: it
 * refuses pipes beyond the caps, closes pipes idle past the deadline (a
 * call in flight, from peer_enter to peer_leave, keeps one open) and
 * connections that never finish their handshake, and tells pipe_removed
 * when a pipe is gone.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <openssl/evp.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/tls/tls.h>

#include "validate.h"
#include "clock.h"
#include "rpc/conn_guard.h"
#include "rpc/ipc_watchdog.h"
#include "base/log.h"
#include "rpc/request_cache.h"
#include "rpc/tls_listener.h"
#include "rpc_method.h"
#include "rpc/rpc_server.h"
#include "status.h"

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

	pthread_mutex_t peers_lock; /* guards peers[] */
	struct peer_slot peers[PEER_SLOTS];

	struct conn_guard *guard;
};

/* The reply for a call that failed before or inside its handler. */
static void
set_error(Berth__V1__RpcResponse *resp, const struct call *call)
{
	resp->code = (Berth__V1__Code)call->error.code;
	resp->message = (char *)call->error.message;
	resp->n_details = call->n_details;
	resp->details = (Berth__V1__ErrorDetail **)call->details;
}

static nng_msg *
pack_response(const Berth__V1__RpcResponse *resp)
{
	size_t len = berth__v1__rpc_response__get_packed_size(resp);
	nng_msg *msg;

	if (nng_msg_alloc(&msg, len) != 0)
		return NULL;
	berth__v1__rpc_response__pack(resp, nng_msg_body(msg));
	return msg;
}

/*
 * Who a call's request ids belong to: its token's name; without one, the
 * connection's host (an IP address, not the port, which a reconnecting
 * client changes) or the local user of an ipc socket. nng 1.5.2 tells
 * nothing of a TLS client's certificate, so with --auth off on mutual TLS
 * clients of one host share a namespace; the payload digest still keeps
 * one from getting another's answer to a different request.
 */
static const char *
caller_identity(struct call *call)
{
	const char *end;

	if (call->principal[0] != '\0')
		return arena_printf(&call->arena, "token %s", call->principal);
	if (strncmp(call->peer, "ipc ", 4) == 0 && (end = strstr(call->peer, " pid=")) != NULL)
		return arena_printf(&call->arena, "%.*s", (int)(end - call->peer), call->peer);
	if ((end = strrchr(call->peer, ':')) != NULL && call->peer[0] != '[')
		return arena_printf(&call->arena, "%.*s", (int)(end - call->peer), call->peer);
	if (call->peer[0] == '[' && (end = strstr(call->peer, "]:")) != NULL)
		return arena_printf(&call->arena, "%.*s", (int)(end + 1 - call->peer), call->peer);
	return call->peer;
}

/*
 * Deduplication key: method, caller and request_id (the same id with
 * another method, or from another caller, is another call).
 */
static char *
cache_key(struct call *call)
{
	return arena_printf(&call->arena, "%s\n%s\n%s", call->method, caller_identity(call),
	    call->request_id);
}

/* SHA-256 of the payload: the same request_id must come with the same request. */
static void
payload_digest(const ProtobufCBinaryData *payload, unsigned char digest[REQUEST_DIGEST_LEN])
{
	unsigned int n = REQUEST_DIGEST_LEN;

	if (EVP_Digest(payload->data != NULL ? payload->data : (const uint8_t *)"", payload->len,
		digest, &n, EVP_sha256(), NULL) != 1)
		memset(digest, 0, REQUEST_DIGEST_LEN);
}

static bool
transient(int code)
{
	return code == BERTH__V1__CODE__UNAVAILABLE || code == BERTH__V1__CODE__ABORTED ||
	    code == BERTH__V1__CODE__DEADLINE_EXCEEDED;
}

static void
fail_reused(struct call *call)
{
	call_fail_detail(call, BERTH__V1__CODE__FAILED_PRECONDITION, "request_id", "REQUEST_ID_REUSED",
	    "request id reused with a different request: request_id %s already named another %s "
	    "call; use a new id for a new request",
	    call->request_id, call->method);
}

/* The stored reply of a call done before, as the reply message; frees `cached`. */
static nng_msg *
replay(struct call *call, void *cached, size_t len)
{
	nng_msg *out;

	if (nng_msg_alloc(&out, len) == 0)
		memcpy(nng_msg_body(out), cached, len);
	else
		out = NULL;
	free(cached);
	call->error.code = BERTH__V1__CODE__OK;
	log_debug("rpc replay method=%s request_id=%s", call->method, call->request_id);
	return out;
}

/*
 * Runs one request to its reply. `data` is the received message body.
 * Returns the reply message (NULL only when out of memory). Fills call->error.code,
 * and *route_out and *payload_out once the method is known.
 */
static nng_msg *
handle_request(struct rpc_server *srv, struct call *call, const void *data, size_t len,
    const struct rpc_route **route_out, ProtobufCBinaryData *payload_out)
{
	Berth__V1__RpcResponse resp = BERTH__V1__RPC_RESPONSE__INIT;
	Berth__V1__RpcRequest *req;
	const struct rpc_route *route;
	ProtobufCBinaryData reply = { 0, NULL };
	uint32_t timeout_ms;
	const char *reason;
	char *key = NULL, field[64];
	bool durable = false;
	int index;
	nng_msg *out;

	if (len > srv->config.max_request_bytes) {
		call_fail(call, BERTH__V1__CODE__RESOURCE_EXHAUSTED,
		    "request of %zu bytes exceeds the limit of %zu bytes", len,
		    srv->config.max_request_bytes);
		set_error(&resp, call);
		return pack_response(&resp);
	}
	/*
	 * Before decoding, and before anything is known of the caller: a NUL
	 * inside method, token or request_id would cut them short unseen, and
	 * unknown fields would each cost memory to decode.
	 */
	if (dispatch_check_wire(&berth__v1__rpc_request__descriptor, data, len, DISPATCH_STRING_MAX,
		DISPATCH_ENVELOPE_UNKNOWN_FIELDS_MAX, field, sizeof(field), &reason) != 0) {
		call_fail_detail(call, BERTH__V1__CODE__INVALID_ARGUMENT, field, reason,
		    "malformed request: envelope field %s (%s)", field[0] ? field : "(envelope)",
		    reason);
		set_error(&resp, call);
		return pack_response(&resp);
	}
	req = berth__v1__rpc_request__unpack(&call->arena.allocator, len, data);
	if (req == NULL) {
		call_fail(call, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "malformed request: not a berth.v1.RpcRequest envelope");
		set_error(&resp, call);
		return pack_response(&resp);
	}
	if (strlen(req->request_id) > REQUEST_ID_MAX || !validate_text(req->request_id)) {
		call_fail_detail(call, BERTH__V1__CODE__INVALID_ARGUMENT, "request_id", "INVALID_REQUEST_ID",
		    "request_id must be printable UTF-8 of at most %d bytes", REQUEST_ID_MAX);
		set_error(&resp, call);
		return pack_response(&resp);
	}
	resp.request_id = req->request_id;
	call->request_id = req->request_id;
	call->token = req->token;
	call->method = validate_text(req->method) && strlen(req->method) < RPC_METHOD_PATH_MAX
	    ? req->method : "(invalid)";
	timeout_ms = req->timeout_ms != 0 ? req->timeout_ms : srv->config.default_timeout_ms;
	call->deadline_ms += timeout_ms;

	index = rpc_method_find(req->method);
	route = index >= 0 ? dispatch_route(srv->table, (unsigned)index) : NULL;
	if (route == NULL) {
		call_fail(call, BERTH__V1__CODE__UNIMPLEMENTED, "unknown method \"%s\"", call->method);
		set_error(&resp, call);
		return pack_response(&resp);
	}
	*route_out = route;
	*payload_out = req->payload;
	call->mutating = route->mutating;
	call->role = srv->hooks->authorize == NULL ? RPC_ROLE_ADMIN : RPC_ROLE_UNSET;
	if (srv->hooks->authorize != NULL && srv->hooks->authorize(srv->hooks->app, call, route) != 0) {
		if (call->error.code == BERTH__V1__CODE__OK) /* fail closed */
			call_fail(call, BERTH__V1__CODE__PERMISSION_DENIED, "access denied");
		set_error(&resp, call);
		return pack_response(&resp);
	}
	if (route->mutating && atomic_load(&srv->draining)) {
		call_fail(call, BERTH__V1__CODE__UNAVAILABLE,
		    "berthd is shutting down and accepts no changes");
		set_error(&resp, call);
		return pack_response(&resp);
	}

	if (route->mutating && req->request_id[0] != '\0') {
		unsigned char digest[REQUEST_DIGEST_LEN];
		void *cached;
		size_t cached_len;

		key = cache_key(call);
		payload_digest(&req->payload, digest);
		switch (request_cache_claim(srv->cache, key, digest, call->deadline_ms, &cached,
		    &cached_len)) {
		case REQUEST_CONFLICT:
			fail_reused(call);
			set_error(&resp, call);
			return pack_response(&resp);
		case REQUEST_REPLAY:
			return replay(call, cached, cached_len);
		case REQUEST_BUSY:
			call_fail(call, BERTH__V1__CODE__DEADLINE_EXCEEDED,
			    "the same request_id is still running");
			set_error(&resp, call);
			return pack_response(&resp);
		case REQUEST_RUN:
			break;
		}
		call->request_key = key;
		if (srv->hooks->durable_claim != NULL) {
			switch (srv->hooks->durable_claim(srv->hooks->app, call, digest, &cached,
			    &cached_len)) {
			case RPC_DURABLE_NEW:
			case RPC_DURABLE_RESUMED:
				durable = true;
				break;
			case RPC_DURABLE_DONE:
				/* From before a restart: the memory cache keeps it too. */
				request_cache_finish(srv->cache, key, cached, cached_len);
				return replay(call, cached, cached_len);
			case RPC_DURABLE_CONFLICT:
				request_cache_abandon(srv->cache, key);
				fail_reused(call);
				set_error(&resp, call);
				return pack_response(&resp);
			case RPC_DURABLE_FAILED:
				request_cache_abandon(srv->cache, key);
				set_error(&resp, call);
				return pack_response(&resp);
			}
		}
	}

	if (call_expired(call))
		call_fail(call, BERTH__V1__CODE__DEADLINE_EXCEEDED,
		    "deadline of %u ms passed before the call started", timeout_ms);
	else if (dispatch_call(srv->table, (unsigned)index, call, &req->payload, &reply) ==
	    BERTH__V1__CODE__OK)
		resp.payload = reply;
	if (call->error.code != BERTH__V1__CODE__OK)
		set_error(&resp, call);
	out = pack_response(&resp);

	if (key != NULL) {
		bool keep = out != NULL && !transient(call->error.code);

		if (durable)
			srv->hooks->durable_finish(srv->hooks->app, call, keep ? nng_msg_body(out) : NULL,
			    keep ? nng_msg_len(out) : 0);
		if (keep)
			request_cache_finish(srv->cache, key, nng_msg_body(out), nng_msg_len(out));
		else
			request_cache_abandon(srv->cache, key);
	}
	return out;
}

/* handle_request, then the finished hook for a call to a declared method. */
static nng_msg *
run_call(struct rpc_server *srv, struct call *call, const void *data, size_t len)
{
	const struct rpc_route *route = NULL;
	ProtobufCBinaryData payload = { 0, NULL };
	nng_msg *reply = handle_request(srv, call, data, len, &route, &payload);

	if (route != NULL && srv->hooks->finished != NULL)
		srv->hooks->finished(srv->hooks->app, call, route, &payload);
	return reply;
}

/*
 * Calls in flight. Every call changes the count twice, so it is an atomic;
 * the lock and condition are only for rpc_server_wait_idle, which says it
 * waits (idle_waiters) before it looks at the count, and the worker that
 * brings the count to zero looks at idle_waiters after: one of the two
 * sees the other.
 */
static void
inflight_add(struct rpc_server *srv, int delta)
{
	if (atomic_fetch_add(&srv->inflight, delta) + delta == 0 &&
	    atomic_load(&srv->idle_waiters) > 0) {
		pthread_mutex_lock(&srv->lock);
		pthread_cond_broadcast(&srv->idle);
		pthread_mutex_unlock(&srv->lock);
	}
}

/*
 * One line per request: method, code, duration, request id, and the error.
 * Changes and failures at info; reads that succeed at debug, so that a
 * client polling (berth ls --watch) does not fill the log.
 */
static void
log_request(const struct call *call, int64_t duration_us)
{
	char quoted[ERROR_MESSAGE_MAX];
	size_t i;

	if (call->error.code == BERTH__V1__CODE__OK) {
		log_deferred_at(call->mutating ? LL_INFO : LL_DEBUG,
		    "rpc method=%s code=OK duration_us=%lld request_id=%s",
		    call->method, (long long)duration_us,
		    call->request_id[0] ? call->request_id : "-");
		return;
	}
	/* The message goes inside quotes: keep the line parseable. */
	for (i = 0; call->error.message[i] != '\0' && i < sizeof(quoted) - 1; i++)
		quoted[i] = call->error.message[i] == '"' ? '\'' : call->error.message[i];
	quoted[i] = '\0';
	log_deferred_at(LL_INFO, "rpc method=%s code=%s duration_us=%lld request_id=%s error=\"%s\"",
	    call->method, status_code_name(call->error.code), (long long)duration_us,
	    call->request_id[0] ? call->request_id : "-", quoted);
}

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
static void
pipe_removed(void *arg, nng_pipe pipe)
{
	struct rpc_server *srv = arg;
	bool found;
	int i;

	pthread_mutex_lock(&srv->peers_lock);
	i = peer_slot(srv, (uint32_t)nng_pipe_id(pipe),
	    (uint32_t)nng_listener_id(nng_pipe_listener(pipe)), &found);
	if (found)
		srv->peers[i].pipe = PEER_TOMBSTONE;
	pthread_mutex_unlock(&srv->peers_lock);
}

/*
 * Who sent `msg`, as nng knows it: the family of the connection's remote
 * address, and a printable form ("ipc uid=0 pid=42", "10.0.0.5:51234",
 * "[::1]:51234"). Looked up once per connection (peers[]). Counts the call
 * as one more in flight on its connection and returns how many it has now
 * (0 when the message has no connection). Any worker.
 */
static int
peer_enter(struct rpc_server *srv, nng_msg *msg, struct call *call)
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
static void
peer_leave(struct rpc_server *srv, nng_pipe pipe)
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
static bool
peer_drop(struct rpc_server *srv, nng_pipe pipe)
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

/* A free context to receive on; NULL once the server stops. Workers. */
static struct rpc_context *
context_take(struct rpc_server *srv)
{
	struct rpc_context *c;

	pthread_mutex_lock(&srv->contexts_lock);
	while (srv->free_contexts == NULL && !srv->stopping)
		pthread_cond_wait(&srv->context_freed, &srv->contexts_lock);
	c = srv->stopping ? NULL : srv->free_contexts;
	if (c != NULL)
		srv->free_contexts = c->next_free;
	pthread_mutex_unlock(&srv->contexts_lock);
	return c;
}

/* Any thread (send_done runs on nng's). */
static void
context_give_back(struct rpc_server *srv, struct rpc_context *c)
{
	pthread_mutex_lock(&srv->contexts_lock);
	c->next_free = srv->free_contexts;
	srv->free_contexts = c;
	pthread_cond_signal(&srv->context_freed);
	pthread_mutex_unlock(&srv->contexts_lock);
}

/*
 * The reply on `c` has been handed to its connection, or failed. Runs on
 * nng's threads (sometimes inside nng's own completion of an earlier
 * reply): only counts, a log line on a timeout, and a pipe close, which
 * does not wait. A send that times out means the client reads no replies:
 * closing the connection ends the sends queued behind on it at once.
 */
static void
send_done(void *arg)
{
	struct rpc_context *c = arg;
	struct rpc_server *srv = c->srv;
	int rv = nng_aio_result(c->send_aio);

	if (rv != 0) {
		nng_msg_free(nng_aio_get_msg(c->send_aio)); /* still ours when the send failed */
		nng_aio_set_msg(c->send_aio, NULL);
	}
	if (rv == NNG_ETIMEDOUT && nng_pipe_id(c->pipe) > 0 && peer_drop(srv, c->pipe)) {
		log_warn("rpc client takes no replies, closing its connection peer=%s waited_ms=%d",
		    c->peer[0] ? c->peer : "-", c->timeout_ms);
		nng_pipe_close(c->pipe);
	}
	if (c->counted)
		peer_leave(srv, c->pipe);
	context_give_back(srv, c);
	inflight_add(srv, -1);
}

/*
 * Hands `reply` to nng on the context that received the request and
 * returns at once; send_done finishes. The context is no longer the
 * worker's. `reply` may be NULL (out of memory): nothing is sent.
 */
static void
send_reply(struct rpc_context *c, nng_msg *reply, nng_pipe pipe, bool counted, int timeout_ms,
    const char *peer)
{
	c->pipe = pipe;
	c->counted = counted;
	c->timeout_ms = timeout_ms;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	if (reply == NULL) {
		if (counted)
			peer_leave(c->srv, pipe);
		context_give_back(c->srv, c);
		inflight_add(c->srv, -1);
		return;
	}
	/*
	 * A context's send waits while the connection is busy with an earlier
	 * reply, and the socket's send timeout does not apply to contexts:
	 * the timeout is the send's own.
	 */
	nng_aio_set_msg(c->send_aio, reply);
	nng_aio_set_timeout(c->send_aio, timeout_ms);
	nng_ctx_send(c->ctx, c->send_aio);
}

/*
 * The answer to a request over its connection's limit, without decoding
 * it (the client sends it again with the same request_id).
 */
static nng_msg *
refuse_request(struct rpc_server *srv, struct call *call)
{
	Berth__V1__RpcResponse resp = BERTH__V1__RPC_RESPONSE__INIT;

	call_fail_detail(call, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "", "TOO_MANY_IN_FLIGHT",
	    "too many calls in flight on this connection (at most %d); try again shortly",
	    srv->max_calls_per_connection);
	set_error(&resp, call);
	return pack_response(&resp);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct rpc_server *srv = w->srv;
	struct rpc_context *c = NULL;
	struct call call;

	for (;;) {
		nng_msg *msg, *reply;
		nng_pipe pipe;
		int64_t started;
		int rv, calls;

		if (c == NULL && (c = context_take(srv)) == NULL)
			break;
		nng_ctx_recv(c->ctx, w->aio);
		nng_aio_wait(w->aio);
		rv = nng_aio_result(w->aio);
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
			break;
		if (rv != 0)
			continue;
		msg = nng_aio_get_msg(w->aio);
		pipe = nng_msg_get_pipe(msg);
		inflight_add(srv, 1);

		started = clock_monotonic_us();
		memset(&call, 0, sizeof(call));
		arena_init(&call.arena);
		call.method = "(undecoded)";
		call.request_id = "";
		call.token = "";
		call.deadline_ms = started / 1000;
		call.app = srv->hooks->app;
		call.worker = w->state;
		calls = peer_enter(srv, msg, &call);

		if (calls > srv->max_calls_per_connection) {
			/* Not run, and not counted: its answer must not wait. */
			peer_leave(srv, pipe);
			reply = refuse_request(srv, &call);
			nng_msg_free(msg);
			if (srv->hooks->measured != NULL)
				srv->hooks->measured(srv->hooks->app, &call,
				    clock_monotonic_us() - started);
			log_debug("rpc refused peer=%s calls_in_flight=%d",
			    call.peer[0] ? call.peer : "-", calls - 1);
			send_reply(c, reply, pipe, false, REFUSAL_SEND_TIMEOUT_MS, call.peer);
			c = NULL;
			arena_reset(&call.arena);
			continue;
		}

		reply = run_call(srv, &call, nng_msg_body(msg), nng_msg_len(msg));
		nng_msg_free(msg);
		if (srv->hooks->measured != NULL)
			srv->hooks->measured(srv->hooks->app, &call, clock_monotonic_us() - started);
		log_request(&call, clock_monotonic_us() - started);
		send_reply(c, reply, pipe, true, SEND_TIMEOUT_MS, call.peer);
		c = NULL;
		arena_reset(&call.arena);
	}
	if (c != NULL)
		context_give_back(srv, c);
	return NULL;
}

/*
 * The guard's question before it closes idle pipes: with every worker
 * busy, a complete request may wait inside nng, its pipe looking idle.
 */
static bool
may_close_idle(void *arg)
{
	struct rpc_server *srv = arg;

	return atomic_load(&srv->inflight) < srv->config.workers; /* set before the guard starts */
}

static int
listen_all(struct rpc_server *srv, struct error *err)
{
	if (srv->config.n_urls > MAX_LISTENERS) {
		error_set(err, BERTH__V1__CODE__UNAVAILABLE, "at most %d listeners", MAX_LISTENERS);
		return -1;
	}
	for (size_t i = 0; i < srv->config.n_urls; i++) {
		const char *url = srv->config.urls[i];
		nng_listener l;
		int rv;

		if ((rv = nng_listener_create(&l, srv->sock, url)) != 0) {
			error_set(err, BERTH__V1__CODE__UNAVAILABLE, "cannot listen on %s: %s", url, nng_strerror(rv));
			return -1;
		}
		if ((rv = ipc_access_prepare(l, url, &srv->config.ipc)) != 0) {
			error_set(err, BERTH__V1__CODE__UNAVAILABLE, "cannot set mode %04o on %s: %s",
			    (unsigned)srv->config.ipc.mode, url, nng_strerror(rv));
			nng_listener_close(l);
			return -1;
		}
		if (strncmp(url, "tls+", 4) == 0 &&
		    tls_listener_setup(l, url, &srv->config.tls, err) != 0) {
			nng_listener_close(l);
			return -1;
		}
		if ((rv = nng_listener_start(l, 0)) != 0) {
			error_set(err, BERTH__V1__CODE__UNAVAILABLE, "cannot listen on %s: %s", url, nng_strerror(rv));
			return -1;
		}
		srv->listeners[i] = l;
		conn_guard_listener(srv->guard, l);
		if (ipc_access_finish(url, &srv->config.ipc, err) != 0)
			return -1;
		ipc_watchdog_watch(srv->config.watchdog, srv->sock, &srv->listeners[i], url,
		    &srv->config.ipc);
		log_info("listening url=%s", url);
	}
	return 0;
}

int
rpc_server_start(struct rpc_server **out, const struct rpc_server_config *config,
    const struct dispatch_table *table, const struct rpc_server_hooks *hooks, struct error *err)
{
	struct rpc_server *srv = calloc(1, sizeof(*srv));
	size_t transport_max;
	int rv;

	if (srv == NULL) {
		error_set(err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
		return -1;
	}
	srv->config = *config;
	srv->table = table;
	srv->hooks = hooks;
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->idle, NULL);
	pthread_mutex_init(&srv->peers_lock, NULL);
	pthread_mutex_init(&srv->contexts_lock, NULL);
	pthread_cond_init(&srv->context_freed, NULL);
	/* A fair share: one connection never holds more than a quarter of the workers. */
	srv->max_calls_per_connection = config->max_calls_per_connection > 0
	    ? config->max_calls_per_connection
	    : (config->workers / 4 > 2 ? config->workers / 4 : 2);
	srv->cache = request_cache_new((size_t)config->workers + 1024, REQUEST_CACHE_TTL_MS);
	srv->workers = calloc(config->workers > 0 ? (size_t)config->workers : 1, sizeof(*srv->workers));
	srv->n_contexts = config->workers > 0 ? config->workers * (1 + SENDING_CONTEXTS_PER_WORKER) : 0;
	srv->contexts = calloc(srv->n_contexts > 0 ? (size_t)srv->n_contexts : 1,
	    sizeof(*srv->contexts));
	if (srv->cache == NULL || srv->workers == NULL || srv->contexts == NULL) {
		error_set(err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
		goto fail;
	}
	if ((rv = nng_rep0_open(&srv->sock)) != 0) {
		error_set(err, BERTH__V1__CODE__UNAVAILABLE, "cannot open rep0 socket: %s", nng_strerror(rv));
		goto fail;
	}
	/*
	 * nng drops a message over this size together with its connection, so
	 * let requests somewhat past our own limit through: the client then
	 * gets RESOURCE_EXHAUSTED instead of a silent hang.
	 */
	transport_max = config->max_request_bytes * 2 + 65536;
	nng_socket_set_size(srv->sock, NNG_OPT_RECVMAXSZ, transport_max);
	nng_socket_set_ms(srv->sock, NNG_OPT_SENDTIMEO, SEND_TIMEOUT_MS);
	if (conn_guard_start(&srv->guard, srv->sock, "rpc", &config->limits,
		&(struct conn_guard_hooks){ srv, pipe_removed, may_close_idle }, err) != 0)
		goto fail;

	for (int i = 0; i < srv->n_contexts; i++) {
		struct rpc_context *c = &srv->contexts[i];

		c->srv = srv;
		if ((rv = nng_ctx_open(&c->ctx, srv->sock)) != 0) {
			error_set(err, BERTH__V1__CODE__UNAVAILABLE, "cannot open nng context: %s", nng_strerror(rv));
			goto fail;
		}
		c->opened = true;
		if ((rv = nng_aio_alloc(&c->send_aio, send_done, c)) != 0) {
			error_set(err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
			goto fail;
		}
		c->next_free = srv->free_contexts;
		srv->free_contexts = c;
	}
	for (int i = 0; i < config->workers; i++) {
		struct worker *w = &srv->workers[i];

		w->srv = srv;
		if ((rv = nng_aio_alloc(&w->aio, NULL, NULL)) != 0) {
			error_set(err, BERTH__V1__CODE__UNAVAILABLE, "cannot open nng context: %s", nng_strerror(rv));
			goto fail;
		}
		if (hooks->worker_open != NULL && (w->state = hooks->worker_open(hooks->app)) == NULL) {
			error_set(err, BERTH__V1__CODE__UNAVAILABLE, "cannot prepare worker %d", i);
			goto fail;
		}
	}
	srv->n_workers = config->workers;
	for (int i = 0; i < srv->n_workers; i++) {
		if (pthread_create(&srv->workers[i].thread, NULL, worker_main, &srv->workers[i]) != 0) {
			error_set(err, BERTH__V1__CODE__UNAVAILABLE, "cannot start worker thread");
			goto fail;
		}
		srv->workers[i].started = true;
	}
	if (listen_all(srv, err) != 0)
		goto fail;
	*out = srv;
	return 0;
fail:
	srv->n_workers = config->workers;
	rpc_server_stop(srv);
	return -1;
}

void
rpc_server_drain(struct rpc_server *srv)
{
	atomic_store(&srv->draining, true);
}

bool
rpc_server_draining(const struct rpc_server *srv)
{
	return atomic_load(&srv->draining);
}

int
rpc_server_wait_idle(struct rpc_server *srv, int64_t timeout_ms)
{
	struct timespec until;
	int left;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	atomic_fetch_add(&srv->idle_waiters, 1);
	pthread_mutex_lock(&srv->lock);
	while (atomic_load(&srv->inflight) > 0)
		if (pthread_cond_timedwait(&srv->idle, &srv->lock, &until) != 0)
			break;
	left = atomic_load(&srv->inflight);
	pthread_mutex_unlock(&srv->lock);
	atomic_fetch_sub(&srv->idle_waiters, 1);
	return left;
}

void
rpc_server_stop(struct rpc_server *srv)
{
	if (srv == NULL)
		return;
	/* Let the calls in flight finish and send their replies. */
	rpc_server_wait_idle(srv, STOP_GRACE_MS);

	/*
	 * Stop the workers before the socket: each aio is stopped (its receive
	 * ends with NNG_ECANCELED and so does any later operation), a worker
	 * waiting for a free context is woken, and the worker exits. Then the
	 * replies still on their way are stopped (send_done runs for each),
	 * the contexts closed, and only then does the socket close. Closing
	 * the socket under workers still inside nng_ctx_recv races nng's
	 * context teardown.
	 */
	pthread_mutex_lock(&srv->contexts_lock);
	srv->stopping = true;
	pthread_cond_broadcast(&srv->context_freed);
	pthread_mutex_unlock(&srv->contexts_lock);
	for (int i = 0; i < srv->n_workers && srv->workers != NULL; i++)
		if (srv->workers[i].aio != NULL)
			nng_aio_stop(srv->workers[i].aio);
	for (int i = 0; i < srv->n_workers && srv->workers != NULL; i++)
		if (srv->workers[i].started)
			pthread_join(srv->workers[i].thread, NULL);
	for (int i = 0; i < srv->n_contexts && srv->contexts != NULL; i++)
		if (srv->contexts[i].send_aio != NULL)
			nng_aio_stop(srv->contexts[i].send_aio);
	for (int i = 0; i < srv->n_contexts && srv->contexts != NULL; i++)
		if (srv->contexts[i].opened)
			nng_ctx_close(srv->contexts[i].ctx);
	if (nng_socket_id(srv->sock) > 0)
		nng_close(srv->sock);
	conn_guard_stop(srv->guard); /* its callbacks ran until the socket closed */
	for (int i = 0; i < srv->n_contexts && srv->contexts != NULL; i++)
		if (srv->contexts[i].send_aio != NULL)
			nng_aio_free(srv->contexts[i].send_aio);
	for (int i = 0; i < srv->n_workers && srv->workers != NULL; i++) {
		struct worker *w = &srv->workers[i];
		if (w->aio != NULL)
			nng_aio_free(w->aio);
		if (w->state != NULL && srv->hooks->worker_close != NULL)
			srv->hooks->worker_close(w->state);
	}
	free(srv->contexts);
	free(srv->workers);
	request_cache_free(srv->cache);
	pthread_cond_destroy(&srv->idle);
	pthread_mutex_destroy(&srv->lock);
	pthread_mutex_destroy(&srv->peers_lock);
	pthread_cond_destroy(&srv->context_freed);
	pthread_mutex_destroy(&srv->contexts_lock);
	free(srv);
}

/*
 * Runs request bytes through run_call, as a worker does, on the calling
 * thread. With `counted` the call is also what a received one is: in
 * flight (rpc_server_wait_idle waits for it), measured and logged.
 */
static int
run_bytes(struct rpc_server *srv, void *worker, int peer_family, const char *peer,
    const void *data, size_t len, bool counted, void **reply, size_t *reply_len)
{
	int64_t started = clock_monotonic_us();
	struct call call;
	nng_msg *out;
	int code;

	if (counted)
		inflight_add(srv, 1);
	memset(&call, 0, sizeof(call));
	arena_init(&call.arena);
	call.method = "(undecoded)";
	call.request_id = "";
	call.token = "";
	call.deadline_ms = started / 1000;
	call.app = srv->hooks->app;
	call.worker = worker;
	call.peer_family = peer_family;
	snprintf(call.peer, sizeof(call.peer), "%s", peer != NULL ? peer : "");

	out = run_call(srv, &call, data, len);
	*reply = NULL;
	*reply_len = 0;
	if (out != NULL && (*reply = malloc(nng_msg_len(out) + 1)) != NULL) {
		memcpy(*reply, nng_msg_body(out), nng_msg_len(out));
		*reply_len = nng_msg_len(out);
	}
	if (out != NULL)
		nng_msg_free(out);
	code = call.error.code;
	if (counted) {
		if (srv->hooks->measured != NULL)
			srv->hooks->measured(srv->hooks->app, &call, clock_monotonic_us() - started);
		log_request(&call, clock_monotonic_us() - started);
	}
	arena_reset(&call.arena);
	if (counted)
		inflight_add(srv, -1);
	return code;
}

int
rpc_server_handle_bytes(struct rpc_server *srv, void *worker, int peer_family, const char *peer,
    const void *data, size_t len, void **reply, size_t *reply_len)
{
	return run_bytes(srv, worker, peer_family, peer, data, len, false, reply, reply_len);
}

/*
 * Until parking lands: every submitted call is answered on the calling
 * thread, counted, measured and logged as a call received over nng is.
 */
int
rpc_server_submit(struct rpc_server *srv, void *worker, int peer_family, const char *peer,
    const void *data, size_t len, rpc_done_fn done, void *arg)
{
	void *reply;
	size_t reply_len;
	int code = run_bytes(srv, worker, peer_family, peer, data, len, true, &reply, &reply_len);

	done(arg, code, reply, reply_len);
	return 0;
}

void *
rpc_server_worker_open(struct rpc_server *srv)
{
	return srv->hooks->worker_open != NULL ? srv->hooks->worker_open(srv->hooks->app) : NULL;
}

void
rpc_server_worker_close(struct rpc_server *srv, void *worker)
{
	if (srv->hooks->worker_close != NULL && worker != NULL)
		srv->hooks->worker_close(worker);
}
