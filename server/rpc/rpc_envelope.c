/*
 * rpc_envelope.c - one request to its reply: the size limit, the RpcRequest
 * envelope, authorization, draining, deduplication (the request cache and
 * the durable hooks), dispatch, and the call's log line.
 *
 * Runs on whichever thread serves the call (a worker; the caller of
 * rpc_server_handle_bytes or rpc_server_submit), with that thread's own
 * per-worker state. Shared state is the request cache (its own lock).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <openssl/evp.h>

#include "validate.h"
#include "base/log.h"
#include "rpc/request_cache.h"
#include "rpc/rpc_server_internal.h"
#include "rpc_method.h"
#include "status.h"

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
		    "deadline of %u ms passed before the call could run", timeout_ms);
	else if (dispatch_call(srv->table, (unsigned)index, call, &req->payload, &reply) ==
	    BERTH__V1__CODE__OK)
		resp.payload = reply;
	if (call->error.code != BERTH__V1__CODE__OK)
		set_error(&resp, call);
	out = pack_response(&resp);

	if (key != NULL) {
		/* A parked call has no answer yet: it runs again, afresh. */
		bool keep = out != NULL && !transient(call->error.code) && !call->parked;

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

void
rpc_call_begin(struct call *call, struct rpc_server *srv, void *worker, int64_t arrived_ms,
    int peer_family, const char *peer)
{
	memset(call, 0, sizeof(*call));
	arena_init(&call->arena);
	call->method = "(undecoded)";
	call->request_id = "";
	call->token = "";
	call->deadline_ms = arrived_ms; /* handle_request adds the timeout */
	call->app = srv->hooks->app;
	call->worker = worker;
	call->peer_family = peer_family;
	snprintf(call->peer, sizeof(call->peer), "%s", peer != NULL ? peer : "");
}

/* handle_request, then the finished hook for a call to a declared method. */
nng_msg *
rpc_run_call(struct rpc_server *srv, struct call *call, const void *data, size_t len)
{
	const struct rpc_route *route = NULL;
	ProtobufCBinaryData payload = { 0, NULL };
	nng_msg *reply = handle_request(srv, call, data, len, &route, &payload);

	/* A parked call is finished once, at its answer. */
	if (route != NULL && srv->hooks->finished != NULL && !call->parked)
		srv->hooks->finished(srv->hooks->app, call, route, &payload);
	return reply;
}

/*
 * One line per request: method, code, duration, request id, and the error.
 * Changes and failures at info; reads that succeed at debug, so that a
 * client polling (berth ls --watch) does not fill the log.
 */
void
rpc_log_request(const struct call *call, int64_t duration_us)
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

/*
 * The answer to a request over its connection's limit, without decoding
 * it (the client sends it again with the same request_id).
 */
nng_msg *
rpc_refuse_request(struct rpc_server *srv, struct call *call)
{
	Berth__V1__RpcResponse resp = BERTH__V1__RPC_RESPONSE__INIT;

	call_fail_detail(call, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "", "TOO_MANY_IN_FLIGHT",
	    "too many calls in flight on this connection (at most %d); try again shortly",
	    srv->max_calls_per_connection);
	set_error(&resp, call);
	return pack_response(&resp);
}
