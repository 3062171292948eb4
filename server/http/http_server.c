/*
 * http_server.c - a libmicrohttpd daemon, its routes, and the hand-over of
 * complete requests to the workers (http_server.h).
 *
 * Threads and ownership. libmicrohttpd's polling thread runs on_request
 * and on_completed. A request's state (struct request) is referenced by
 * the connection (from the first call of on_request until on_completed)
 * and, while a job for it exists, by that job: the last reference frees
 * it. A job's request is suspended and on srv->waiting until its answer
 * comes (finish), which resumes the connection; on_request then queues the
 * answer. srv->lock guards refs, the waiting list, `stopping`, `resuming`
 * and `jobs_out`. libmicrohttpd must not be stopped while a connection is
 * suspended, nor while another thread is inside MHD_resume_connection:
 * http_server_stop answers every waiting request itself first and waits
 * for `resuming` to drop to zero. A parked call answers after the stop
 * (rpc_server_stop gives it a last run): the server stays until the last
 * such late answer, which frees it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <microhttpd.h>
#include <nng/nng.h>

#include "base/log.h"
#include "clock.h"
#include "http/gateway.h"
#include "http/http_answer.h"
#include "http/http_hosts.h"
#include "http/http_jobs.h"
#include "http/http_server.h"
#include "http/http_url.h"
#include "http/openapi.h"
#include "rpc/rpc_server.h"
#include "rpc_method.h"
#include "status.h"

/* The 503s of calls the stop answers get this long to leave. */
#define SEND_WAIT_MS 1000

static const char content_security_policy[] =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

enum route {
	ROUTE_ANSWERED, /* answered by on_request itself */
	ROUTE_API,      /* POST /v1/<Method>: a job */
	ROUTE_METRICS,  /* GET /metrics: a job */
};

struct http_server {
	struct http_server_config config;
	const struct http_server_hooks *hooks;
	struct http_url url;
	struct http_hosts hosts;
	struct MHD_Daemon *daemon;
	struct http_jobs *jobs;
	uint16_t port;
	char *tls_cert, *tls_key;

	pthread_mutex_t lock;
	pthread_cond_t changed;  /* resuming or jobs_out went down */
	struct request *waiting; /* suspended, their job not answered yet */
	bool stopping;
	int resuming;       /* threads inside MHD_resume_connection */
	int jobs_out;       /* requests a job references */
	int abandoned_open; /* answered by the stop, not yet sent (on_completed not run) */
	bool stopped;       /* http_server_stop returned: the last late answer frees srv */
};

struct request {
	struct http_server *srv;
	struct MHD_Connection *conn;
	enum route route;
	unsigned method; /* ROUTE_API: index in the service */
	struct http_answer answer;
	bool ready;         /* answer is set: send it */
	bool static_body;   /* answer.body is static storage (a file, the OpenAPI document) */
	bool body_expected; /* Content-Length > 0, or chunked */
	bool discard;       /* answered before the body: read it, keep none */
	bool too_big;
	char *body;
	size_t len, cap, discarded;
	char *authorization, *timeout_ms, *idempotency_key;
	int peer_family;
	char peer[96];
	struct http_job job;

	/* Under srv->lock. */
	int refs;
	bool suspended;              /* MHD_suspend_connection has returned: it may be resumed */
	bool abandoned;              /* answered by the stop: the job's answer goes nowhere */
	struct request *prev, *next; /* srv->waiting */
};

/* ---------------------------------------------------------------------------
 * References and answers
 */

static void
request_free(struct request *r)
{
	if (r->static_body)
		r->answer.body = NULL;
	http_answer_clear(&r->answer);
	free(r->body);
	free(r->authorization);
	free(r->timeout_ms);
	free(r->idempotency_key);
	free(r);
}

/* Drops one reference; srv->lock held. */
static void
release_locked(struct request *r)
{
	if (--r->refs == 0)
		request_free(r);
}

static void
unlink_waiting(struct http_server *srv, struct request *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else if (srv->waiting == r)
		srv->waiting = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
}

static void
server_free(struct http_server *srv)
{
	tls_files_free(srv->tls_cert, srv->tls_key);
	pthread_cond_destroy(&srv->changed);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}

/*
 * The job's answer (taken: *a is left empty): resumes the connection so
 * that on_request sends it, and drops the job's reference. Any thread.
 */
static void
finish(struct request *r, struct http_answer *a)
{
	struct http_server *srv = r->srv;

	pthread_mutex_lock(&srv->lock);
	if (r->abandoned) {
		bool last;

		http_answer_clear(a);
		release_locked(r);
		last = --srv->jobs_out == 0 && srv->stopped;
		pthread_cond_broadcast(&srv->changed);
		pthread_mutex_unlock(&srv->lock);
		if (last) /* the listener stopped before this late answer: it was the last */
			server_free(srv);
		return;
	}
	r->answer = *a;
	memset(a, 0, sizeof(*a));
	r->ready = true;
	unlink_waiting(srv, r);
	srv->resuming++;
	pthread_mutex_unlock(&srv->lock);

	MHD_resume_connection(r->conn);

	pthread_mutex_lock(&srv->lock);
	srv->resuming--;
	srv->jobs_out--;
	release_locked(r);
	pthread_cond_broadcast(&srv->changed);
	pthread_mutex_unlock(&srv->lock);
}

static void
finish_error(struct request *r, int code, const char *message)
{
	struct http_answer a = { 0 };

	http_answer_error_detail(&a, 0, code, "", "", message);
	finish(r, &a);
}

/* ---------------------------------------------------------------------------
 * Jobs (on the workers)
 */

/* rpc_server_submit's done: the call's reply, from whichever thread ran it. */
static void
api_done(void *arg, int code, void *reply, size_t len)
{
	struct request *r = arg;
	struct http_answer a = { 0 };

	(void)code;
	gateway_decode_response(r->method, reply, len, &a);
	free(reply);
	finish(r, &a);
}

static void
run_api(struct http_job *job, void *worker)
{
	struct request *r = (struct request *)((char *)job - offsetof(struct request, job));
	struct gateway_headers h = { r->authorization, r->timeout_ms, r->idempotency_key };
	struct http_answer a = { 0 };
	struct error err;
	void *data;
	size_t len;

	error_clear(&err);
	if (gateway_encode_request(r->method, r->body, r->len, &h, &data, &len, &err) != 0) {
		http_answer_error_detail(&a, 0, err.code, err.field, err.reason, err.message);
		finish(r, &a);
		return;
	}
	free(r->body); /* the envelope holds it now */
	r->body = NULL;
	if ((r->srv->hooks->submit != NULL ? r->srv->hooks->submit : rpc_server_submit)(
		r->srv->hooks->rpc, worker, r->peer_family, r->peer, data, len, api_done, r) != 0)
		finish_error(r, BERTH__V1__CODE__UNAVAILABLE, "the call could not be accepted");
	free(data);
}

static void
run_metrics(struct http_job *job, void *worker)
{
	struct request *r = (struct request *)((char *)job - offsetof(struct request, job));
	const char *token = r->authorization != NULL ? gateway_bearer_token(r->authorization) : NULL;
	struct http_answer a = { 0 };
	struct error err;
	char *page = NULL;
	size_t len = 0;
	int code;

	error_clear(&err);
	code = r->srv->hooks->metrics(r->srv->hooks->app, worker, token,
	    r->srv->config.metrics_need_token, &page, &len, &err);
	if (code != BERTH__V1__CODE__OK) {
		free(page);
		http_answer_error_detail(&a, 0, code, err.field, err.reason, err.message);
	} else {
		a.status = 200;
		a.body = page;
		a.len = len;
		a.content_type = "text/plain; version=0.0.4; charset=utf-8";
		a.api = true;
	}
	finish(r, &a);
}

static void
cancel_job(struct http_job *job)
{
	finish_error((struct request *)((char *)job - offsetof(struct request, job)),
	    BERTH__V1__CODE__UNAVAILABLE, "berthd is shutting down");
}

/* ---------------------------------------------------------------------------
 * libmicrohttpd's thread
 */

/* Sends r->answer (taken) with the headers every answer carries. */
static enum MHD_Result
send_answer(struct MHD_Connection *conn, struct request *r)
{
	struct http_answer *a = &r->answer;
	struct MHD_Response *resp;
	enum MHD_Result rv;

	if (a->body == NULL || r->static_body)
		resp = MHD_create_response_from_buffer(a->body != NULL ? a->len : 0,
		    a->body != NULL ? a->body : (void *)"", MHD_RESPMEM_PERSISTENT);
	else
		resp = MHD_create_response_from_buffer(a->len, a->body, MHD_RESPMEM_MUST_FREE);
	if (r->static_body)
		a->body = NULL; /* not ours to free */
	if (resp == NULL)
		return MHD_NO;
	a->body = NULL; /* the response frees it, or it was static */
	MHD_add_response_header(resp, "Content-Security-Policy", content_security_policy);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Cache-Control", a->api ? "no-store" : "no-cache");
	if (a->content_type != NULL)
		MHD_add_response_header(resp, "Content-Type", a->content_type);
	if (a->allow != NULL)
		MHD_add_response_header(resp, "Allow", a->allow);
	if (a->status == 401)
		MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
	rv = MHD_queue_response(conn, a->status, resp);
	MHD_destroy_response(resp);
	return rv;
}

static void
answer_error(struct request *r, unsigned status, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
answer_error(struct request *r, unsigned status, int code, const char *fmt, ...)
{
	char message[ERROR_MESSAGE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	http_answer_error_detail(&r->answer, status, code, "", "", message);
	r->ready = true;
	r->discard = true;
	for (char *p = message; *p != '\0'; p++)
		if (*p == '"' || (unsigned char)*p < ' ')
			*p = '\'';
	log_debug("http refused listener=%s peer=%s status=%u error=\"%s\"",
	    r->srv->config.option, r->peer[0] ? r->peer : "-", status, message);
}

static void
answer_text(struct request *r, unsigned status, const char *text)
{
	http_answer_clear(&r->answer);
	r->answer.status = status;
	r->answer.body = strdup(text);
	r->answer.len = r->answer.body != NULL ? strlen(text) : 0;
	r->answer.content_type = "text/plain; charset=utf-8";
	r->answer.api = true;
	r->ready = true;
	r->discard = true;
}

/* Bytes in static storage, 200. */
static void
answer_static(struct request *r, const char *type, const void *data, size_t len, bool api)
{
	http_answer_clear(&r->answer);
	r->static_body = true;
	r->answer.status = 200;
	r->answer.body = (char *)data;
	r->answer.len = len;
	r->answer.content_type = type;
	r->answer.api = api;
	r->ready = true;
	r->discard = true;
}

static void
method_not_allowed(struct request *r, const char *allow)
{
	answer_error(r, 405, BERTH__V1__CODE__UNIMPLEMENTED, "use %s", allow);
	r->answer.allow = allow;
}

static const char *
header(struct MHD_Connection *conn, const char *name)
{
	return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

static char *
copy_header(struct MHD_Connection *conn, const char *name)
{
	const char *v = header(conn, name);

	return v != NULL ? strdup(v) : NULL;
}

/* "application/json", optionally with "; charset=utf-8". */
static bool
json_content_type(const char *type)
{
	size_t n;

	if (type == NULL)
		return false;
	while (*type == ' ')
		type++;
	n = strcspn(type, "; ");
	if (n != 16 || strncasecmp(type, "application/json", 16) != 0)
		return false;
	type += n;
	while (*type == ' ' || *type == ';')
		type++;
	return *type == '\0' || strncasecmp(type, "charset=utf-8", 13) == 0 ||
	    strncasecmp(type, "charset=\"utf-8\"", 15) == 0;
}

static void
describe_peer(struct MHD_Connection *conn, struct request *r)
{
	const union MHD_ConnectionInfo *info =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char ip[INET6_ADDRSTRLEN] = "?";
	const struct sockaddr *sa = info != NULL ? info->client_addr : NULL;

	if (sa != NULL && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		r->peer_family = NNG_AF_INET;
		snprintf(r->peer, sizeof(r->peer), "%s:%u", ip, ntohs(in->sin_port));
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		r->peer_family = NNG_AF_INET6;
		snprintf(r->peer, sizeof(r->peer), "[%s]:%u", ip, ntohs(in6->sin6_port));
	}
}

static int
count_argument(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	(void)value;
	if (strcasecmp(key, "token") == 0 || strcasecmp(key, "access_token") == 0 ||
	    strcasecmp(key, "authorization") == 0)
		*(bool *)cls = true;
	return MHD_YES;
}

/* /v1/<Method>: checks the request's head; an API job or an answer. */
static void
look_api(struct http_server *srv, struct MHD_Connection *conn, struct request *r,
    const char *name, bool post)
{
	const char *length = header(conn, "Content-Length");
	bool token_in_url = false;
	int index = strchr(name, '/') == NULL ? rpc_method_find(name) : -1;

	if (index < 0) {
		answer_error(r, 404, BERTH__V1__CODE__UNIMPLEMENTED,
		    "unknown method \"%.100s\" (GET /v1/openapi.json lists them)", name);
		return;
	}
	if (!post) {
		method_not_allowed(r, "POST");
		return;
	}
	if (MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND,
		(MHD_KeyValueIterator)count_argument, &token_in_url) > 0) {
		answer_error(r, 400, BERTH__V1__CODE__INVALID_ARGUMENT, "%s",
		    token_in_url ? "tokens are never taken from the URL: send Authorization: "
				   "Bearer TOKEN"
				 : "POST /v1/<Method> takes no query parameters; the request is "
				   "the JSON body");
		return;
	}
	if (!json_content_type(header(conn, "Content-Type"))) {
		answer_error(r, 415, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "Content-Type must be application/json");
		return;
	}
	if (length != NULL && strtoull(length, NULL, 10) > srv->config.max_request_bytes) {
		answer_error(r, 413, BERTH__V1__CODE__RESOURCE_EXHAUSTED,
		    "request body of %s bytes exceeds the limit of %zu bytes", length,
		    srv->config.max_request_bytes);
		return;
	}
	r->route = ROUTE_API;
	r->method = (unsigned)index;
	r->authorization = copy_header(conn, "Authorization");
	r->timeout_ms = copy_header(conn, "X-Berth-Timeout-Ms");
	r->idempotency_key = copy_header(conn, "Idempotency-Key");
	r->job.run = run_api;
}

/* The first call for a request: its head is in, no body yet. */
static void
look(struct http_server *srv, struct MHD_Connection *conn, struct request *r, const char *url,
    const char *method)
{
	const char *host = header(conn, "Host"), *origin = header(conn, "Origin");
	const char *length = header(conn, "Content-Length");
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	const char *type;
	const void *data;
	size_t len;

	r->body_expected = (length != NULL && strcmp(length, "0") != 0) ||
	    header(conn, "Transfer-Encoding") != NULL;
	describe_peer(conn, r);
	if (!http_hosts_allow_host(&srv->hosts, host)) {
		answer_error(r, 403, BERTH__V1__CODE__PERMISSION_DENIED,
		    "Host \"%.100s\" is not one this berthd serves (see --http-allowed-hosts)", host);
		return;
	}
	if (!http_hosts_allow_origin(&srv->hosts, origin, host)) {
		answer_error(r, 403, BERTH__V1__CODE__PERMISSION_DENIED,
		    "Origin \"%.100s\" is not this site (%s://%.100s): cross-site requests are refused",
		    origin, srv->url.tls ? "https" : "http", host != NULL ? host : "");
		return;
	}
	if (strcmp(url, "/healthz") == 0) {
		if (!get)
			method_not_allowed(r, "GET, HEAD");
		else if (atomic_load(srv->hooks->shutting_down))
			answer_text(r, 503, "shutting down\n");
		else
			answer_text(r, 200, "ok\n");
		return;
	}
	if (strcmp(url, "/metrics") == 0 && srv->config.metrics) {
		if (!get) {
			method_not_allowed(r, "GET, HEAD");
			return;
		}
		r->route = ROUTE_METRICS;
		r->authorization = copy_header(conn, "Authorization");
		r->job.run = run_metrics;
		return;
	}
	if (srv->config.api && strcmp(url, "/v1/openapi.json") == 0) {
		if (!get)
			method_not_allowed(r, "GET, HEAD");
		else
			answer_static(r, "application/json", openapi_json, openapi_json_len, true);
		return;
	}
	if (srv->config.api && strncmp(url, "/v1/", 4) == 0) {
		look_api(srv, conn, r, url + 4, strcmp(method, "POST") == 0);
		return;
	}
	if (srv->config.api && get && srv->hooks->asset != NULL &&
	    srv->hooks->asset(url, &type, &data, &len)) {
		answer_static(r, type, data, len, false);
		return;
	}
	answer_error(r, 404, BERTH__V1__CODE__NOT_FOUND, "nothing at %.200s", url);
}

/* Takes a piece of the body; false closes the connection. */
static bool
take_body(struct http_server *srv, struct request *r, const char *data, size_t size)
{
	size_t limit = srv->config.max_request_bytes;

	if (r->discard || r->too_big || r->route != ROUTE_API || size > limit - r->len) {
		if (r->route == ROUTE_API && !r->too_big && !r->discard) {
			r->too_big = true;
			free(r->body);
			r->body = NULL;
		}
		/* Read so that the answer arrives, up to a point: then hang up. */
		r->discarded += size;
		return r->discarded <= 2 * limit + 65536;
	}
	if (r->len + size > r->cap) {
		size_t cap = r->cap != 0 ? r->cap : 4096;
		char *body;

		while (cap < r->len + size)
			cap *= 2;
		if (cap > limit)
			cap = limit;
		if ((body = realloc(r->body, cap + 1)) == NULL)
			return false;
		r->body = body;
		r->cap = cap;
	}
	memcpy(r->body + r->len, data, size);
	r->len += size;
	return true;
}

/*
 * The request is whole: suspend it and hand it to a worker. False when it
 * was answered instead (berthd is stopping). After a true return r may be
 * answered and resumed at any moment: only on_request, once resumed, reads
 * its answer.
 */
static bool
start_job(struct http_server *srv, struct MHD_Connection *conn, struct request *r)
{
	bool push;

	pthread_mutex_lock(&srv->lock);
	if (srv->stopping) {
		pthread_mutex_unlock(&srv->lock);
		answer_error(r, 503, BERTH__V1__CODE__UNAVAILABLE, "berthd is shutting down");
		return false;
	}
	r->refs++; /* the job's */
	srv->jobs_out++;
	r->next = srv->waiting;
	if (srv->waiting != NULL)
		srv->waiting->prev = r;
	srv->waiting = r;
	pthread_mutex_unlock(&srv->lock);
	r->job.cancel = cancel_job;
	MHD_suspend_connection(conn);
	/* Only now may the stop resume it (resuming first is undefined). */
	pthread_mutex_lock(&srv->lock);
	r->suspended = true;
	pthread_cond_broadcast(&srv->changed);
	/*
	 * The stop may have begun while this thread suspended: it sets
	 * `stopping` under this lock before it stops and frees the job pool,
	 * so the pool is there while `stopping` is false and the lock held.
	 * Once stopping, the job is cancelled instead (the stop, or the
	 * cancel's own answer, resumes the connection).
	 */
	push = !srv->stopping;
	if (push)
		http_jobs_push(srv->jobs, &r->job);
	pthread_mutex_unlock(&srv->lock);
	if (!push)
		cancel_job(&r->job);
	return true;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
    const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct request *r = *con_cls;
	const char *expect;

	(void)version;
	if (r == NULL) {
		if ((r = calloc(1, sizeof(*r))) == NULL)
			return MHD_NO;
		r->srv = srv;
		r->conn = conn;
		r->refs = 1; /* the connection's, until on_completed */
		*con_cls = r;
		look(srv, conn, r, url, method);
		expect = header(conn, "Expect");
		/* Answer now unless a body is on its way: read it first, so the answer arrives. */
		if (r->ready && (!r->body_expected || (expect != NULL && strcasecmp(expect, "100-continue") == 0)))
			return send_answer(conn, r);
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		bool ok = take_body(srv, r, upload_data, *upload_data_size);

		*upload_data_size = 0;
		return ok ? MHD_YES : MHD_NO;
	}
	if (r->ready) /* answered at the first look, or resumed with the job's answer */
		return send_answer(conn, r);
	if (r->too_big) {
		answer_error(r, 413, BERTH__V1__CODE__RESOURCE_EXHAUSTED,
		    "request body exceeds the limit of %zu bytes", srv->config.max_request_bytes);
		return send_answer(conn, r);
	}
	if (start_job(srv, conn, r))
		return MHD_YES; /* resumed with the answer later: on_request sends it then */
	return send_answer(conn, r);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode why)
{
	struct http_server *srv = cls;
	struct request *r = *con_cls;

	(void)conn;
	(void)why;
	if (r == NULL)
		return;
	*con_cls = NULL;
	pthread_mutex_lock(&srv->lock);
	if (r->abandoned) {
		srv->abandoned_open--;
		pthread_cond_broadcast(&srv->changed);
	}
	release_locked(r);
	pthread_mutex_unlock(&srv->lock);
}

static void
on_log(void *cls, const char *fmt, va_list ap)
{
	struct http_server *srv = cls;
	char line[512];
	size_t n;

	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '"'))
		line[--n] = '\0';
	for (char *p = line; *p != '\0'; p++)
		if (*p == '"')
			*p = '\'';
	log_debug("http listener=%s libmicrohttpd=\"%s\"", srv->config.option, line);
}

/* ---------------------------------------------------------------------------
 * Start and stop
 */

int
http_server_start(struct http_server **out, const struct http_server_config *config,
    const struct http_server_hooks *hooks, struct error *err)
{
	struct http_server *srv = calloc(1, sizeof(*srv));
	unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;

	*out = NULL;
	if (srv == NULL)
		return error_set(err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	srv->config = *config;
	srv->hooks = hooks;
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->changed, NULL);
	if (http_url_parse(config->option, config->url, &srv->url, err) != 0)
		goto fail;
	if (srv->url.tls) {
		if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
			error_set(err, BERTH__V1__CODE__UNAVAILABLE,
			    "--%s %s: this libmicrohttpd has no TLS", config->option, config->url);
			goto fail;
		}
		if (tls_files_read(&config->tls, config->url, &srv->tls_cert, &srv->tls_key, err) != 0)
			goto fail;
		flags |= MHD_USE_TLS;
	}
	if (srv->url.addr.ss_family == AF_INET6)
		flags |= srv->url.wildcard ? MHD_USE_DUAL_STACK : MHD_USE_IPv6; /* [::]: IPv4 too */
	if (http_jobs_start(&srv->jobs, hooks->rpc, config->workers, err) != 0)
		goto fail;
	srv->daemon = MHD_start_daemon(flags, srv->url.port, NULL, NULL, on_request, srv,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&srv->url.addr,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
	    MHD_OPTION_EXTERNAL_LOGGER, on_log, srv,
	    MHD_OPTION_CONNECTION_LIMIT, config->max_connections > 0 ? config->max_connections : 65536u,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, config->max_connections_per_ip,
	    MHD_OPTION_CONNECTION_TIMEOUT, config->timeout_s,
	    srv->url.tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, srv->tls_cert,
	    MHD_OPTION_HTTPS_MEM_KEY, srv->tls_key,
	    MHD_OPTION_END);
	if (srv->daemon == NULL) {
		error_set(err, BERTH__V1__CODE__UNAVAILABLE,
		    "cannot listen on --%s %s: %s (address in use, or the certificate unusable)",
		    config->option, config->url, strerror(errno));
		goto fail;
	}
	info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info != NULL && info->port != 0 ? info->port : srv->url.port;
	http_hosts_init(&srv->hosts, &srv->url, srv->port);
	for (size_t i = 0; i < config->n_allowed_hosts; i++)
		if (http_hosts_add(&srv->hosts, config->allowed_hosts[i], err) != 0)
			goto fail;
	log_info("http listening listener=%s url=%s://%s%s%s:%u api=%s metrics=%s", config->option,
	    srv->url.tls ? "https" : "http", srv->url.addr.ss_family == AF_INET6 ? "[" : "",
	    srv->url.host, srv->url.addr.ss_family == AF_INET6 ? "]" : "", (unsigned)srv->port,
	    config->api ? "on" : "off",
	    !config->metrics ? "off" : config->metrics_need_token ? "token"
								  : "on");
	*out = srv;
	return 0;
fail:
	http_server_stop(srv);
	return -1;
}

uint16_t
http_server_port(const struct http_server *s)
{
	return s != NULL ? s->port : 0;
}

/* Waits on srv->changed for at most 50 ms; srv->lock held. */
static void
wait_a_little(struct http_server *srv)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 50 * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&srv->changed, &srv->lock, &ts);
}

void
http_server_stop(struct http_server *srv)
{
	struct request *abandoned, *r;
	int64_t until;
	int left;

	if (srv == NULL)
		return;
	pthread_mutex_lock(&srv->lock);
	srv->stopping = true;
	pthread_mutex_unlock(&srv->lock);
	/* Queued requests answer 503; running ones finish (their calls are answered or parked). */
	http_jobs_stop(srv->jobs);
	srv->jobs = NULL;

	/* Parked calls: answered here; their late answers go nowhere. */
	pthread_mutex_lock(&srv->lock);
	abandoned = srv->waiting;
	srv->waiting = NULL;
	for (r = abandoned; r != NULL; r = r->next) {
		r->abandoned = true;
		srv->abandoned_open++;
		http_answer_error_detail(&r->answer, 0, BERTH__V1__CODE__UNAVAILABLE, "", "",
		    "berthd is shutting down");
		r->ready = true;
		r->refs++; /* held across the resume below */
	}
	pthread_mutex_unlock(&srv->lock);
	while (abandoned != NULL) {
		r = abandoned;
		abandoned = r->next;
		r->prev = r->next = NULL;
		pthread_mutex_lock(&srv->lock);
		while (!r->suspended) /* libmicrohttpd's thread is a moment away from it */
			pthread_cond_wait(&srv->changed, &srv->lock);
		pthread_mutex_unlock(&srv->lock);
		MHD_resume_connection(r->conn);
		pthread_mutex_lock(&srv->lock);
		release_locked(r);
		pthread_mutex_unlock(&srv->lock);
	}
	pthread_mutex_lock(&srv->lock);
	while (srv->resuming > 0)
		pthread_cond_wait(&srv->changed, &srv->lock);
	/* Let the 503s leave before the connections close. */
	until = clock_monotonic_ms() + SEND_WAIT_MS;
	while (srv->abandoned_open > 0 && clock_monotonic_ms() < until)
		wait_a_little(srv);
	pthread_mutex_unlock(&srv->lock);
	if (srv->daemon != NULL)
		MHD_stop_daemon(srv->daemon);

	/*
	 * A parked call still owes its late answer (rpc_server_stop gives it):
	 * the server must be there for it, and the last one frees it.
	 */
	pthread_mutex_lock(&srv->lock);
	srv->stopped = true;
	left = srv->jobs_out;
	pthread_mutex_unlock(&srv->lock);
	if (left > 0) {
		log_debug("http listener=%s stopped, late answers awaited calls=%d",
		    srv->config.option, left);
		return;
	}
	server_free(srv);
}
