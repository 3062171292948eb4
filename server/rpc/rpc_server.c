/*
 * rpc_server.c - rep0 socket, contexts, worker threads.
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
#include "rpc/rpc_server_internal.h"
#include "rpc/parking.h"
#include "status.h"

/* Threads that run parked calls again (parking.h). */
#define PARKING_THREADS 2
/* How long rpc_server_stop lets the final answers of parked calls leave. */
#define PARKED_ANSWER_GRACE_MS 1000

/*
 * Calls in flight. Every call changes the count twice, so it is an atomic;
 * the lock and condition are only for rpc_server_wait_idle, which says it
 * waits (idle_waiters) before it looks at the count, and the worker that
 * brings the count to zero looks at idle_waiters after: one of the two
 * sees the other.
 */
void
rpc_inflight_add(struct rpc_server *srv, int delta)
{
	if (atomic_fetch_add(&srv->inflight, delta) + delta == 0 &&
	    atomic_load(&srv->idle_waiters) > 0) {
		pthread_mutex_lock(&srv->lock);
		pthread_cond_broadcast(&srv->idle);
		pthread_mutex_unlock(&srv->lock);
	}
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

static void send_done(void *arg);

/* Opens one more context for the pool; it is kept until the server stops. */
static struct rpc_context *
context_open_extra(struct rpc_server *srv)
{
	struct rpc_context *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->srv = srv;
	if (nng_ctx_open(&c->ctx, srv->sock) != 0) {
		free(c);
		return NULL;
	}
	c->opened = true;
	if (nng_aio_alloc(&c->send_aio, send_done, c) != 0) {
		nng_ctx_close(c->ctx);
		free(c);
		return NULL;
	}
	return c;
}

/*
 * Workers. The pool stays as large as it was without parked calls: one
 * more context for each call parked beyond those parked before.
 */
int
rpc_context_park(struct rpc_server *srv)
{
	struct rpc_context *c = NULL;
	bool need;

	pthread_mutex_lock(&srv->contexts_lock);
	need = srv->n_extra <= srv->contexts_parked;
	pthread_mutex_unlock(&srv->contexts_lock);
	if (need && (c = context_open_extra(srv)) == NULL)
		return -1;
	pthread_mutex_lock(&srv->contexts_lock);
	srv->contexts_parked++;
	if (c != NULL) {
		c->next_extra = srv->extra_contexts;
		srv->extra_contexts = c;
		srv->n_extra++;
		c->next_free = srv->free_contexts;
		srv->free_contexts = c;
		pthread_cond_signal(&srv->context_freed);
	}
	pthread_mutex_unlock(&srv->contexts_lock);
	return 0;
}

/* The parking threads. */
void
rpc_context_unpark(struct rpc_server *srv, struct rpc_context *c, bool give_back)
{
	pthread_mutex_lock(&srv->contexts_lock);
	srv->contexts_parked--;
	pthread_mutex_unlock(&srv->contexts_lock);
	if (give_back)
		context_give_back(srv, c);
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
	if (rv == NNG_ETIMEDOUT && nng_pipe_id(c->pipe) > 0 && rpc_peer_drop(srv, c->pipe)) {
		log_warn("rpc client takes no replies, closing its connection peer=%s waited_ms=%d",
		    c->peer[0] ? c->peer : "-", c->timeout_ms);
		nng_pipe_close(c->pipe);
	}
	if (c->counted)
		rpc_peer_leave(srv, c->pipe);
	context_give_back(srv, c);
	rpc_inflight_add(srv, -1);
}

/*
 * Hands `reply` to nng on the context that received the request and
 * returns at once; send_done finishes. The context is no longer the
 * worker's. `reply` may be NULL (out of memory): nothing is sent.
 */
void
rpc_send_reply(struct rpc_context *c, nng_msg *reply, nng_pipe pipe, bool counted, int timeout_ms,
    const char *peer)
{
	c->pipe = pipe;
	c->counted = counted;
	c->timeout_ms = timeout_ms;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	if (reply == NULL) {
		if (counted)
			rpc_peer_leave(c->srv, pipe);
		context_give_back(c->srv, c);
		rpc_inflight_add(c->srv, -1);
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
 * Runs a received or submitted call, letting its handler park it when
 * there is a place (parking.h). Returns true when it parked: parking holds
 * it and nothing is answered now. Else false with *reply the answer.
 * Workers and the callers of rpc_server_submit.
 */
static bool
run_parkable(struct rpc_server *srv, struct call *call, const void *data, size_t len,
    const struct parked_origin *origin, int64_t started_us, nng_msg **reply)
{
	uint64_t wakes_seen;
	bool may_park = parking_reserve(srv->parking, &wakes_seen);
	char peer[sizeof(call->peer)];
	void *worker = call->worker;
	int family;

	call->may_park = may_park;
	*reply = rpc_run_call(srv, call, data, len);
	if (!call->parked) {
		if (may_park)
			parking_unreserve(srv->parking);
		return false;
	}
	if (*reply != NULL)
		nng_msg_free(*reply);
	if (parking_hold(srv->parking, origin, call, data, len, started_us,
		clock_monotonic_us() - started_us, wakes_seen) == 0)
		return true;
	/* It cannot be held: run it again now, unable to park. */
	family = call->peer_family;
	memcpy(peer, call->peer, sizeof(peer));
	arena_reset(&call->arena);
	rpc_call_begin(call, srv, worker, started_us / 1000, family, peer);
	*reply = rpc_run_call(srv, call, data, len);
	return false;
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
		rpc_inflight_add(srv, 1);

		started = clock_monotonic_us();
		rpc_call_begin(&call, srv, w->state, started / 1000, 0, "");
		calls = rpc_peer_enter(srv, msg, &call);

		if (calls > srv->max_calls_per_connection) {
			/* Not run, and not counted: its answer must not wait. */
			rpc_peer_leave(srv, pipe);
			reply = rpc_refuse_request(srv, &call);
			nng_msg_free(msg);
			if (srv->hooks->measured != NULL)
				srv->hooks->measured(srv->hooks->app, &call,
				    clock_monotonic_us() - started);
			log_debug("rpc refused peer=%s calls_in_flight=%d",
			    call.peer[0] ? call.peer : "-", calls - 1);
			rpc_send_reply(c, reply, pipe, false, REFUSAL_SEND_TIMEOUT_MS, call.peer);
			c = NULL;
			arena_reset(&call.arena);
			continue;
		}

		if (run_parkable(srv, &call, nng_msg_body(msg), nng_msg_len(msg),
			&(struct parked_origin){ .ctx = c, .pipe = pipe }, started, &reply)) {
			/* The context and the connection's place stay with the call. */
			nng_msg_free(msg);
			rpc_inflight_add(srv, -1);
			c = NULL;
			arena_reset(&call.arena);
			continue;
		}
		nng_msg_free(msg);
		if (srv->hooks->measured != NULL)
			srv->hooks->measured(srv->hooks->app, &call, clock_monotonic_us() - started);
		rpc_log_request(&call, clock_monotonic_us() - started);
		rpc_send_reply(c, reply, pipe, true, SEND_TIMEOUT_MS, call.peer);
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
		&(struct conn_guard_hooks){ srv, rpc_pipe_removed, may_close_idle }, err) != 0)
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
	if (parking_start(&srv->parking, srv, config->max_parked_calls, PARKING_THREADS, err) != 0)
		goto fail;
	/*
	 * Every listener before the first worker: a caller that Health answered
	 * on one URL finds the others up too (requests wait in the socket till
	 * the workers come).
	 */
	if (listen_all(srv, err) != 0)
		goto fail;
	srv->n_workers = config->workers;
	for (int i = 0; i < srv->n_workers; i++) {
		if (pthread_create(&srv->workers[i].thread, NULL, worker_main, &srv->workers[i]) != 0) {
			error_set(err, BERTH__V1__CODE__UNAVAILABLE, "cannot start worker thread");
			goto fail;
		}
		srv->workers[i].started = true;
	}
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
	/* Parked calls get their final answer (what there is now), or are dropped. */
	parking_stop(srv->parking);
	rpc_server_wait_idle(srv, PARKED_ANSWER_GRACE_MS);

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
	for (struct rpc_context *c = srv->extra_contexts; c != NULL; c = c->next_extra)
		nng_aio_stop(c->send_aio);
	for (int i = 0; i < srv->n_contexts && srv->contexts != NULL; i++)
		if (srv->contexts[i].opened)
			nng_ctx_close(srv->contexts[i].ctx);
	for (struct rpc_context *c = srv->extra_contexts; c != NULL; c = c->next_extra)
		nng_ctx_close(c->ctx);
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
	while (srv->extra_contexts != NULL) {
		struct rpc_context *c = srv->extra_contexts;

		srv->extra_contexts = c->next_extra;
		nng_aio_free(c->send_aio);
		free(c);
	}
	parking_free(srv->parking); /* no worker or pipe callback is left to use it */
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

int
rpc_server_handle_bytes(struct rpc_server *srv, void *worker, int peer_family, const char *peer,
    const void *data, size_t len, void **reply, size_t *reply_len)
{
	struct call call;
	nng_msg *out;
	int code;

	rpc_call_begin(&call, srv, worker, clock_monotonic_ms(), peer_family, peer);
	out = rpc_run_call(srv, &call, data, len);
	*reply = NULL;
	*reply_len = 0;
	if (out != NULL && (*reply = malloc(nng_msg_len(out) + 1)) != NULL) {
		memcpy(*reply, nng_msg_body(out), nng_msg_len(out));
		*reply_len = nng_msg_len(out);
	}
	if (out != NULL)
		nng_msg_free(out);
	code = call.error.code;
	arena_reset(&call.arena);
	return code;
}

/*
 * As a worker runs a received call, on the calling thread: the call may
 * park, and is then answered from a parking thread. One log line and one
 * measured call per answer, as for nng.
 */
int
rpc_server_submit(struct rpc_server *srv, void *worker, int peer_family, const char *peer,
    const void *data, size_t len, rpc_done_fn done, void *arg)
{
	int64_t started = clock_monotonic_us();
	void *bytes = NULL;
	size_t bytes_len = 0;
	struct call call;
	nng_msg *out;
	int code;

	if (done == NULL || (data == NULL && len > 0))
		return -1;
	/* In flight as a call received over nng is: the shutdown waits for it. */
	rpc_inflight_add(srv, 1);
	rpc_call_begin(&call, srv, worker, started / 1000, peer_family, peer);
	if (run_parkable(srv, &call, data, len,
		&(struct parked_origin){ .done = done, .arg = arg }, started, &out)) {
		arena_reset(&call.arena);
		rpc_inflight_add(srv, -1);
		return 0;
	}
	if (srv->hooks->measured != NULL)
		srv->hooks->measured(srv->hooks->app, &call, clock_monotonic_us() - started);
	rpc_log_request(&call, clock_monotonic_us() - started);
	if (out != NULL && (bytes = malloc(nng_msg_len(out) + 1)) != NULL) {
		memcpy(bytes, nng_msg_body(out), nng_msg_len(out));
		bytes_len = nng_msg_len(out);
	}
	if (out != NULL)
		nng_msg_free(out);
	code = call.error.code;
	arena_reset(&call.arena);
	done(arg, code, bytes, bytes_len);
	rpc_inflight_add(srv, -1);
	return 0;
}

void
rpc_server_wake(struct rpc_server *srv, unsigned channel)
{
	if (srv != NULL)
		parking_wake(srv->parking, channel);
}

int
rpc_server_parked(struct rpc_server *srv)
{
	return srv != NULL ? parking_count(srv->parking) : 0;
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
