/*
 * rpc_server.c - rep0 socket, worker threads, envelope handling.
 *
 * Threads: rpc_server_start/stop run on the main thread; each worker runs
 * worker_main. Shared state: `inflight` and `stopping` under `lock`;
 * `draining` is an atomic flag read by every worker.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "request_cache.h"
#include "rpc_method.h"
#include "rpc_server.h"
#include "status.h"

#define REQUEST_ID_MAX 128
#define REQUEST_CACHE_TTL_MS (10 * 60 * 1000)
#define SEND_TIMEOUT_MS 5000
#define STOP_GRACE_MS 30000

struct worker {
	struct rpc_server *srv;
	pthread_t thread;
	nng_ctx ctx;
	nng_aio *aio;
	void *state; /* from hooks->worker_open */
	bool started;
};

struct rpc_server {
	nng_socket sock;
	struct rpc_server_config config;
	const struct dispatch_table *table;
	const struct rpc_server_hooks *hooks;
	struct request_cache *cache;
	struct worker *workers;
	int n_workers;
	atomic_bool draining;

	pthread_mutex_t lock;
	pthread_cond_t idle;
	int inflight;
};

/* The reply for a call that failed before or inside its handler. */
static void
set_error(Berth__V1__RpcResponse *resp, const struct call *call)
{
	resp->code = (Berth__V1__Code)call->code;
	resp->message = (char *)call->message;
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

/* Deduplication key: method and request_id (same id, other method = other call). */
static char *
cache_key(struct call *call)
{
	return arena_printf(&call->arena, "%s\n%s", call->method, call->request_id);
}

static bool
transient(int code)
{
	return code == BERTH__V1__CODE__UNAVAILABLE || code == BERTH__V1__CODE__ABORTED ||
	    code == BERTH__V1__CODE__DEADLINE_EXCEEDED;
}

/*
 * Runs one request to its reply. `data` is the received message body.
 * Returns the reply message (NULL only when out of memory). Fills call->code.
 */
static nng_msg *
handle_request(struct worker *w, struct call *call, const void *data, size_t len)
{
	struct rpc_server *srv = w->srv;
	Berth__V1__RpcResponse resp = BERTH__V1__RPC_RESPONSE__INIT;
	Berth__V1__RpcRequest *req;
	const struct rpc_route *route;
	ProtobufCBinaryData reply = { 0, NULL };
	uint32_t timeout_ms;
	char *key = NULL;
	int index;
	nng_msg *out;

	if (len > srv->config.max_request_bytes) {
		call_fail(call, BERTH__V1__CODE__RESOURCE_EXHAUSTED,
		    "request of %zu bytes exceeds the limit of %zu bytes", len,
		    srv->config.max_request_bytes);
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
	if (route->mutating && atomic_load(&srv->draining)) {
		call_fail(call, BERTH__V1__CODE__UNAVAILABLE,
		    "berthd is shutting down and accepts no changes");
		set_error(&resp, call);
		return pack_response(&resp);
	}

	if (route->mutating && req->request_id[0] != '\0') {
		void *cached;
		size_t cached_len;

		key = cache_key(call);
		switch (request_cache_claim(srv->cache, key, call->deadline_ms, &cached, &cached_len)) {
		case REQUEST_REPLAY:
			if (nng_msg_alloc(&out, cached_len) == 0)
				memcpy(nng_msg_body(out), cached, cached_len);
			else
				out = NULL;
			free(cached);
			call->code = BERTH__V1__CODE__OK;
			log_debug("rpc replay method=%s request_id=%s", call->method, call->request_id);
			return out;
		case REQUEST_BUSY:
			call_fail(call, BERTH__V1__CODE__DEADLINE_EXCEEDED,
			    "the same request_id is still running");
			set_error(&resp, call);
			return pack_response(&resp);
		case REQUEST_RUN:
			break;
		}
	}

	if (call_expired(call))
		call_fail(call, BERTH__V1__CODE__DEADLINE_EXCEEDED,
		    "deadline of %u ms passed before the call started", timeout_ms);
	else if (dispatch_call(srv->table, (unsigned)index, call, &req->payload, &reply) ==
	    BERTH__V1__CODE__OK)
		resp.payload = reply;
	if (call->code != BERTH__V1__CODE__OK)
		set_error(&resp, call);
	out = pack_response(&resp);

	if (key != NULL) {
		if (out != NULL && !transient(call->code))
			request_cache_finish(srv->cache, key, nng_msg_body(out), nng_msg_len(out));
		else
			request_cache_abandon(srv->cache, key);
	}
	return out;
}

static void
inflight_add(struct rpc_server *srv, int delta)
{
	pthread_mutex_lock(&srv->lock);
	srv->inflight += delta;
	if (srv->inflight == 0)
		pthread_cond_broadcast(&srv->idle);
	pthread_mutex_unlock(&srv->lock);
}

/* One line per request: method, code, duration, request id, and the error. */
static void
log_request(const struct call *call, int64_t duration_us)
{
	char quoted[CALL_MESSAGE_MAX];
	size_t i;

	if (call->code == BERTH__V1__CODE__OK) {
		log_info("rpc method=%s code=OK duration_us=%lld request_id=%s", call->method,
		    (long long)duration_us, call->request_id[0] ? call->request_id : "-");
		return;
	}
	/* The message goes inside quotes: keep the line parseable. */
	for (i = 0; call->message[i] != '\0' && i < sizeof(quoted) - 1; i++)
		quoted[i] = call->message[i] == '"' ? '\'' : call->message[i];
	quoted[i] = '\0';
	log_info("rpc method=%s code=%s duration_us=%lld request_id=%s error=\"%s\"", call->method,
	    status_code_name(call->code), (long long)duration_us,
	    call->request_id[0] ? call->request_id : "-", quoted);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct rpc_server *srv = w->srv;
	struct call call;

	for (;;) {
		nng_msg *msg, *reply;
		int64_t started;
		int rv;

		nng_ctx_recv(w->ctx, w->aio);
		nng_aio_wait(w->aio);
		rv = nng_aio_result(w->aio);
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
			break;
		if (rv != 0)
			continue;
		msg = nng_aio_get_msg(w->aio);
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

		reply = handle_request(w, &call, nng_msg_body(msg), nng_msg_len(msg));
		nng_msg_free(msg);
		/* Counted before the reply leaves: a client sees its own call counted. */
		metrics_rpc_observe(call.method, call.code, clock_monotonic_us() - started);
		if (reply != NULL) {
			nng_aio_set_msg(w->aio, reply);
			nng_ctx_send(w->ctx, w->aio);
			nng_aio_wait(w->aio);
			if (nng_aio_result(w->aio) != 0)
				nng_msg_free(reply); /* the client went away */
		}
		log_request(&call, clock_monotonic_us() - started);
		arena_reset(&call.arena);
		inflight_add(srv, -1);
	}
	nng_ctx_close(w->ctx);
	return NULL;
}

static int
listen_all(struct rpc_server *srv, char *err, size_t errlen)
{
	for (size_t i = 0; i < srv->config.n_urls; i++) {
		const char *url = srv->config.urls[i];
		nng_listener l;
		int rv;

		if ((rv = nng_listener_create(&l, srv->sock, url)) != 0) {
			snprintf(err, errlen, "cannot listen on %s: %s", url, nng_strerror(rv));
			return -1;
		}
		if (strncmp(url, "ipc://", 6) == 0 && srv->config.ipc_mode != 0)
			(void)nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS, (int)srv->config.ipc_mode);
		if ((rv = nng_listener_start(l, 0)) != 0) {
			snprintf(err, errlen, "cannot listen on %s: %s", url, nng_strerror(rv));
			return -1;
		}
		log_info("listening url=%s", url);
	}
	return 0;
}

int
rpc_server_start(struct rpc_server **out, const struct rpc_server_config *config,
    const struct dispatch_table *table, const struct rpc_server_hooks *hooks, char *err,
    size_t errlen)
{
	struct rpc_server *srv = calloc(1, sizeof(*srv));
	size_t transport_max;
	int rv;

	if (srv == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	srv->config = *config;
	srv->table = table;
	srv->hooks = hooks;
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->idle, NULL);
	srv->cache = request_cache_new((size_t)config->workers + 1024, REQUEST_CACHE_TTL_MS);
	srv->workers = calloc((size_t)config->workers, sizeof(*srv->workers));
	if (srv->cache == NULL || srv->workers == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if ((rv = nng_rep0_open(&srv->sock)) != 0) {
		snprintf(err, errlen, "cannot open rep0 socket: %s", nng_strerror(rv));
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

	for (int i = 0; i < config->workers; i++) {
		struct worker *w = &srv->workers[i];

		w->srv = srv;
		if ((rv = nng_ctx_open(&w->ctx, srv->sock)) != 0 ||
		    (rv = nng_aio_alloc(&w->aio, NULL, NULL)) != 0) {
			snprintf(err, errlen, "cannot open nng context: %s", nng_strerror(rv));
			goto fail;
		}
		if (hooks->worker_open != NULL && (w->state = hooks->worker_open(hooks->app)) == NULL) {
			snprintf(err, errlen, "cannot prepare worker %d", i);
			goto fail;
		}
	}
	srv->n_workers = config->workers;
	for (int i = 0; i < srv->n_workers; i++) {
		if (pthread_create(&srv->workers[i].thread, NULL, worker_main, &srv->workers[i]) != 0) {
			snprintf(err, errlen, "cannot start worker thread");
			goto fail;
		}
		srv->workers[i].started = true;
	}
	if (listen_all(srv, err, errlen) != 0)
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
	pthread_mutex_lock(&srv->lock);
	while (srv->inflight > 0)
		if (pthread_cond_timedwait(&srv->idle, &srv->lock, &until) != 0)
			break;
	left = srv->inflight;
	pthread_mutex_unlock(&srv->lock);
	return left;
}

void
rpc_server_stop(struct rpc_server *srv)
{
	if (srv == NULL)
		return;
	/* Let the calls in flight finish and send their replies. */
	rpc_server_wait_idle(srv, STOP_GRACE_MS);

	if (nng_socket_id(srv->sock) > 0)
		nng_close(srv->sock);
	for (int i = 0; i < srv->n_workers && srv->workers != NULL; i++) {
		struct worker *w = &srv->workers[i];
		if (w->started)
			pthread_join(w->thread, NULL);
		if (w->aio != NULL)
			nng_aio_free(w->aio);
		if (w->state != NULL && srv->hooks->worker_close != NULL)
			srv->hooks->worker_close(w->state);
	}
	free(srv->workers);
	request_cache_free(srv->cache);
	pthread_cond_destroy(&srv->idle);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}
