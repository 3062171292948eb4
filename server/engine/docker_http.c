/*
 * docker_http.c - the transport of the Engine API client: libcurl over the
 * unix socket or tcp:// (TLS settings from docker_tls.c), and
 * docker_request, the one request every call of the client makes: send,
 * read the answer, map the status, parse the JSON.
 *
 * Threads: any worker may call any function at any time; each request
 * makes its own curl handle. Nothing here is shared but the client's
 * read-only settings and its negotiated version (docker_client.c).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "engine/docker_internal.h"

/* One request as it goes on the wire. */
struct send {
	const char *method;       /* "GET", "POST", "DELETE" */
	const char *path;         /* "/containers/json?all=1", without the version */
	bool versioned;           /* prefix /vX.Y */
	const char *content_type; /* NULL: no body */
	const void *data;
	size_t len;
	const char *header;       /* one more "Name: value", or NULL */
};

/*
 * What a request reads back. Build and pull answer with one JSON object per
 * line for as long as they run; those are consumed as they arrive (stream
 * mode) so that only the error, if any, is kept.
 */
struct reply {
	struct docker_buf body;
	long status; /* the HTTP status; 0 when no answer came */
	bool stream;
	char stream_error[512];   /* last "error" of the stream */
	char stream_message[512]; /* "message" of an error answer */
	docker_sink_fn sink;      /* SINK: the consumer of a 2xx body */
	void *sink_arg;
	CURL *h;                  /* to ask for the status from the write callback */
	bool sink_stopped;        /* the sink has what it wants */
	bool sink_failed;         /* the sink ran out of memory */
};

/* --- the transport ----------------------------------------------------------- */

/* Records one object of a build or pull stream. */
static void
stream_object(struct reply *r, const char *line, size_t len)
{
	json_t *o = json_loadb(line, len, 0, NULL);
	const char *text;

	if (!json_is_object(o)) {
		json_decref(o);
		return;
	}
	text = docker_json_text(o, "error");
	if (text == NULL)
		text = docker_json_text(json_object_get(o, "errorDetail"), "message");
	if (text != NULL)
		docker_copy_text(r->stream_error, sizeof(r->stream_error), text);
	if ((text = docker_json_text(o, "message")) != NULL && r->stream_message[0] == '\0')
		docker_copy_text(r->stream_message, sizeof(r->stream_message), text);
	json_decref(o);
}

/* Consumes the complete lines in the buffer; at the end, the rest too. */
static void
stream_consume(struct reply *r, bool final)
{
	struct docker_buf *b = &r->body;
	size_t start = 0;
	char *nl;

	while (start < b->len && (nl = memchr(b->data + start, '\n', b->len - start)) != NULL) {
		size_t end = (size_t)(nl - b->data);
		if (end > start)
			stream_object(r, b->data + start, end - start);
		start = end + 1;
	}
	if (final && start < b->len) {
		stream_object(r, b->data + start, b->len - start);
		start = b->len;
	}
	if (start > 0) {
		memmove(b->data, b->data + start, b->len - start);
		b->len -= start;
		b->data[b->len] = '\0';
	}
}

static size_t
reply_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct reply *r = userdata;
	size_t n = size * nmemb;

	long status = 0;

	if (docker_buf_append(&r->body, ptr, n) != 0)
		return 0; /* makes curl stop with CURLE_WRITE_ERROR */
	if (r->stream)
		stream_consume(r, false);
	if (r->sink != NULL) {
		curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &status);
		if (status >= 200 && status < 300) {
			int rc = r->sink(r->sink_arg, &r->body, false);
			if (rc != 0) {
				r->sink_stopped = rc > 0;
				r->sink_failed = rc < 0;
				return 0;
			}
		}
	}
	return n;
}

bool
docker_connect_failure(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_HTTP2:
		return true;
	default:
		return false;
	}
}

int
docker_unreachable(const struct docker *d, const char *why, struct error *err)
{
	return error_set(err, BERTH__V1__CODE__UNAVAILABLE, "cannot reach Docker at %s%s: %s",
	    d->socket_path != NULL ? "unix://" : "",
	    d->socket_path != NULL ? d->socket_path : d->base_url, why);
}

CURLcode
docker_curl_options(const struct docker *d, CURL *h, const char *url, long total_ms,
    long connect_ms, char *errbuf)
{
	CURLcode cc = CURLE_OK;

#define SET(opt, val)                                           \
	do {                                                    \
		if (cc == CURLE_OK)                             \
			cc = curl_easy_setopt(h, (opt), (val)); \
	} while (0)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_TIMEOUT_MS, total_ms);
	SET(CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	if (d->socket_path != NULL) {
		SET(CURLOPT_UNIX_SOCKET_PATH, d->socket_path);
		SET(CURLOPT_PROXY, ""); /* a proxy from the environment never applies to a socket */
	}
#undef SET
	return cc == CURLE_OK ? docker_tls_options(&d->tls, h) : cc;
}

/* The options of one request: the transport's, then method, body and reply. */
static CURLcode
request_options(const struct docker *d, CURL *h, const char *url, struct curl_slist *headers,
    const struct send *s, struct reply *r, int64_t remaining, char *errbuf)
{
	long total = remaining > LONG_MAX ? LONG_MAX : (long)remaining;
	long connect = total < DOCKER_CONNECT_TIMEOUT_MS ? total : DOCKER_CONNECT_TIMEOUT_MS;
	CURLcode cc = docker_curl_options(d, h, url, total, connect, errbuf);

#define SET(opt, val)                                           \
	do {                                                    \
		if (cc == CURLE_OK)                             \
			cc = curl_easy_setopt(h, (opt), (val)); \
	} while (0)
	SET(CURLOPT_WRITEFUNCTION, reply_write);
	SET(CURLOPT_WRITEDATA, r);
	SET(CURLOPT_HTTPHEADER, headers);
	if (strcmp(s->method, "POST") == 0) {
		SET(CURLOPT_POST, 1L);
		SET(CURLOPT_POSTFIELDS, s->data != NULL ? s->data : "");
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(s->data != NULL ? s->len : 0));
	} else if (strcmp(s->method, "GET") != 0) {
		SET(CURLOPT_CUSTOMREQUEST, s->method);
	}
#undef SET
	return cc;
}

/*
 * Sends one request and reads the answer into r. Returns OK when an HTTP
 * answer came (whatever its status, in r->status), else the code of the
 * transport failure (r->status 0).
 */
static int
perform(struct docker *d, const struct send *s, int64_t deadline, struct reply *r,
    struct error *err)
{
	char errbuf[CURL_ERROR_SIZE] = "", content_type[128];
	struct docker_buf url = { .limit = 65536 };
	struct curl_slist *headers, *more = NULL;
	int64_t remaining = deadline - clock_monotonic_ms();
	curl_off_t connect_us = 0;
	CURL *h = NULL;
	CURLcode cc;
	int rc;

	if (remaining <= 0)
		return error_set(err, BERTH__V1__CODE__DEADLINE_EXCEEDED,
		    "deadline exceeded before calling Docker");
	docker_buf_printf(&url, "%s", d->base_url);
	if (s->versioned)
		docker_buf_printf(&url, "/v%s", d->version);
	docker_buf_printf(&url, "%s", s->path);
	if (url.data == NULL || url.no_memory || url.too_large) {
		docker_buf_free(&url);
		return docker_fail_memory(err);
	}
	/*
	 * "Expect:" off: curl would wait a second for 100-continue before a big
	 * body. A bare "Content-Type:" drops the form type curl gives a POST.
	 */
	snprintf(content_type, sizeof(content_type), "Content-Type:%s%s",
	    s->content_type != NULL ? " " : "", s->content_type != NULL ? s->content_type : "");
	headers = curl_slist_append(NULL, "Expect:");
	if (headers != NULL)
		more = curl_slist_append(headers, content_type);
	if (more != NULL && s->header != NULL)
		more = curl_slist_append(headers, s->header);
	if (more == NULL || (h = curl_easy_init()) == NULL) {
		rc = docker_fail_memory(err);
		goto out;
	}
	r->h = h;
	if (request_options(d, h, url.data, headers, s, r, remaining, errbuf) != CURLE_OK) {
		rc = error_set(err, BERTH__V1__CODE__INTERNAL, "docker: cannot set up curl");
		goto out;
	}
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connect_us);
	if (cc == CURLE_WRITE_ERROR && r->sink_stopped)
		cc = CURLE_OK; /* the sink ended it: a success */
	else if (cc == CURLE_OK && r->sink != NULL && r->status >= 200 && r->status < 300 &&
	    r->sink(r->sink_arg, &r->body, true) < 0)
		r->sink_failed = true, cc = CURLE_WRITE_ERROR;
	if (cc != CURLE_OK)
		r->status = 0;
	if (cc == CURLE_OK) {
		if (r->stream)
			stream_consume(r, true);
		rc = DOCKER_OK;
	} else if (r->sink_failed) {
		rc = docker_fail_memory(err);
	} else if (r->body.too_large) {
		rc = error_set(err, BERTH__V1__CODE__RESOURCE_EXHAUSTED,
		    "Docker's answer to %s %s exceeds %zu bytes", s->method, s->path,
		    r->body.limit);
	} else if (r->body.no_memory) {
		rc = docker_fail_memory(err);
	} else if (cc == CURLE_OPERATION_TIMEDOUT) {
		/*
		 * Not connected and the connect timeout was the shorter one: it
		 * fired first, so nobody answers (rather than: time ran out).
		 */
		if (connect_us == 0 && remaining > DOCKER_CONNECT_TIMEOUT_MS)
			rc = error_set(err, BERTH__V1__CODE__UNAVAILABLE,
			    "Docker did not accept a connection within %d ms",
			    DOCKER_CONNECT_TIMEOUT_MS);
		else
			rc = error_set(err, BERTH__V1__CODE__DEADLINE_EXCEEDED,
			    "deadline exceeded waiting for Docker (%s %s)", s->method, s->path);
	} else if (docker_connect_failure(cc)) {
		rc = docker_unreachable(d, errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc),
		    err);
	} else {
		rc = error_set(err, BERTH__V1__CODE__INTERNAL, "docker %s %s: %s", s->method,
		    s->path,
		    errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc));
	}
out:
	curl_easy_cleanup(h);
	curl_slist_free_all(headers);
	docker_buf_free(&url);
	return rc;
}

/* --- answers ------------------------------------------------------------------- */

static int
http_code(long status)
{
	switch (status) {
	case 400:
	case 409:
		return BERTH__V1__CODE__FAILED_PRECONDITION;
	case 401:
	case 403:
		return BERTH__V1__CODE__PERMISSION_DENIED;
	case 404:
		return BERTH__V1__CODE__NOT_FOUND;
	case 503:
		return BERTH__V1__CODE__UNAVAILABLE;
	default:
		return BERTH__V1__CODE__INTERNAL;
	}
}

int
docker_http_error(long status, const char *body, size_t len, struct error *err)
{
	int code = http_code(status);
	const char *msg;
	json_t *o;

	if (body == NULL || len == 0)
		return error_set(err, code, "Docker answered HTTP %ld", status);
	o = json_loadb(body, len, 0, NULL);
	if ((msg = docker_json_text(o, "message")) != NULL) {
		error_set(err, code, "%s", msg);
	} else {
		while (len > 0 && (body[len - 1] == '\n' || body[len - 1] == '\r'))
			len--;
		error_set(err, code, "%.*s", (int)(len > INT_MAX ? INT_MAX : len), body);
	}
	json_decref(o);
	return code;
}

/* A non-2xx answer: the message of a stream's error, else as docker_http_error. */
static int
reply_error(const struct reply *r, struct error *err)
{
	int code;

	if (r->stream_message[0] == '\0' && r->stream_error[0] == '\0')
		return docker_http_error(r->status, r->stream ? NULL : r->body.data, r->body.len,
		    err);
	code = docker_http_error(r->status, NULL, 0, err);
	docker_copy_text(err->message, sizeof(err->message),
	    r->stream_message[0] != '\0' ? r->stream_message : r->stream_error);
	return code;
}

/*
 * The status Docker would have answered. Podman's compatible API (4.3)
 * answers some conflicts with 500 and a `cause` where Docker answers 409
 * (a container name in use, removing a running container): callers look
 * for Docker's status.
 */
static long
compat_status(const struct reply *r)
{
	static const char *const conflicts[] = { "that name is already in use",
		"container state improper" };
	const char *cause;
	json_t *o;
	long status = r->status;

	if (status != 500 || r->stream || r->body.data == NULL ||
	    memmem(r->body.data, r->body.len, "\"cause\"", 7) == NULL)
		return status;
	o = json_loadb(r->body.data, r->body.len, 0, NULL);
	cause = docker_json_text(o, "cause");
	for (size_t i = 0; cause != NULL && i < sizeof(conflicts) / sizeof(conflicts[0]); i++)
		if (strcmp(cause, conflicts[i]) == 0)
			status = 409;
	json_decref(o);
	return status;
}

/* --- the request ------------------------------------------------------------------ */

/* Hands the answer of a successful request to resp, as rq asked. */
static int
deliver(const struct docker_request *rq, struct reply *r, struct docker_response *resp,
    struct error *err)
{
	json_error_t jerr;

	switch (rq->answer) {
	case DOCKER_ANSWER_TEXT:
		if (r->body.data == NULL && docker_buf_reserve(&r->body, 0) != 0)
			return docker_fail_memory(err);
		resp->text = r->body.data;
		resp->len = r->body.len;
		r->body.data = NULL;
		return DOCKER_OK;
	case DOCKER_ANSWER_JSON:
		resp->json = json_loadb(r->body.data != NULL ? r->body.data : "", r->body.len, 0,
		    &jerr);
		if (resp->json == NULL)
			return error_set(err, BERTH__V1__CODE__INTERNAL,
			    "Docker sent malformed JSON: %s",
			    jerr.text);
		return DOCKER_OK;
	case DOCKER_ANSWER_STREAM:
		docker_copy_text(resp->stream_error, sizeof(resp->stream_error), r->stream_error);
		return DOCKER_OK;
	case DOCKER_ANSWER_SINK:
	case DOCKER_ANSWER_NONE:
		break;
	}
	return DOCKER_OK;
}

int
docker_request(struct docker *d, const struct docker_request *rq, int64_t deadline,
    struct docker_response *resp, struct error *err)
{
	struct send s = { rq->method, rq->path.text, !rq->unversioned, rq->content_type, rq->data,
		rq->len, rq->header };
	bool stream = rq->answer == DOCKER_ANSWER_STREAM;
	bool sink = rq->answer == DOCKER_ANSWER_SINK;
	struct reply r = {
		.body = { .limit = stream || sink ? DOCKER_STREAM_LINE_MAX
			: rq->limit != 0	   ? rq->limit
						   : DOCKER_BODY_MAX },
		.stream = stream,
		.sink = sink ? rq->sink : NULL,
		.sink_arg = rq->sink_arg,
	};
	char *json_body = NULL;
	int rc;

	memset(resp, 0, sizeof(*resp));
	if (rq->path.overflow || rq->path.len == 0 || rq->path.text[0] != '/')
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "docker: bad request path (empty, relative, or longer than %d bytes)",
		    DOCKER_PATH_MAX);
	if (!rq->unversioned && (rc = docker_negotiate(d, deadline, err)) != DOCKER_OK)
		return rc;
	if (rq->json != NULL) {
		if ((json_body = json_dumps(rq->json, JSON_COMPACT)) == NULL)
			return docker_fail_memory(err);
		s.content_type = "application/json";
		s.data = json_body;
		s.len = strlen(json_body);
	}
	rc = perform(d, &s, deadline, &r, err);
	r.status = compat_status(&r);
	resp->status = r.status;
	if (rc == DOCKER_OK && !((r.status >= 200 && r.status < 300) || r.status == 304))
		rc = reply_error(&r, err);
	if (rc == DOCKER_OK)
		rc = deliver(rq, &r, resp, err);
	docker_buf_free(&r.body);
	free(json_body);
	return rc;
}

void
docker_response_free(struct docker_response *r)
{
	if (r == NULL)
		return;
	free(r->text);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

int
docker_request_list(struct docker *d, const struct docker_request *rq, const char *member,
    const char *what, size_t size, docker_from_json_fn from_json, void **out, size_t *n,
    int64_t deadline, struct error *err)
{
	struct docker_response resp;
	json_t *list, *item;
	char *elements;
	size_t i;
	int rc;

	*out = NULL;
	*n = 0;
	rc = docker_request(d, rq, deadline, &resp, err);
	list = member != NULL ? json_object_get(resp.json, member) : resp.json;
	if (rc == DOCKER_OK && !json_is_array(list) &&
	    !(member != NULL && (list == NULL || json_is_null(list))))
		rc = error_set(err, BERTH__V1__CODE__INTERNAL, "Docker's %s list is not an array",
		    what);
	if (rc == DOCKER_OK && json_array_size(list) > 0) {
		if ((elements = calloc(json_array_size(list), size)) == NULL) {
			rc = docker_fail_memory(err);
		} else {
			json_array_foreach (list, i, item)
				from_json(elements + (*n)++ * size, item);
			*out = elements;
		}
	}
	docker_response_free(&resp);
	return rc;
}

/* --- the shapes of a request ------------------------------------------------- */

int
docker_get_object(struct docker *d, const char *prefix, const char *ref, const char *suffix,
    const char *what, docker_from_json_fn from_json, void *out, int64_t timeout_ms,
    struct error *err)
{
	struct docker_request rq = { .method = "GET", .answer = DOCKER_ANSWER_JSON };
	struct docker_response resp;
	int64_t deadline;
	int rc;

	if ((rc = docker_begin(d, timeout_ms, &deadline, err)) != DOCKER_OK)
		return rc;
	if (!docker_valid_ref(ref))
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid %s", what);
	docker_path_add(&rq.path, "%s%s%s", prefix, ref, suffix);
	if ((rc = docker_request(d, &rq, deadline, &resp, err)) == DOCKER_OK)
		from_json(out, resp.json);
	docker_response_free(&resp);
	return rc;
}

int
docker_get_list(struct docker *d, const char *prefix, const char *k1, const char *v1,
    const char *k2, const char *v2, const char *member, const char *what, size_t size,
    docker_from_json_fn from_json, void **out, size_t *n, int64_t timeout_ms, struct error *err)
{
	struct docker_request rq = { .method = "GET", .answer = DOCKER_ANSWER_JSON };
	json_t *filters = NULL;
	int64_t deadline;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = docker_begin(d, timeout_ms, &deadline, err)) != DOCKER_OK)
		return rc;
	if ((rc = docker_filters(&filters, k1, v1, k2, v2, err)) != DOCKER_OK)
		return rc;
	docker_path_add(&rq.path, "%s%s", prefix,
	    filters == NULL ? "" : strchr(prefix, '?') != NULL ? "&" : "?");
	rc = docker_path_filters(&rq.path, filters, err);
	json_decref(filters);
	if (rc != DOCKER_OK)
		return rc;
	return docker_request_list(d, &rq, member, what, size, from_json, out, n, deadline, err);
}

int
docker_send(struct docker *d, const char *method, const char *path, const json_t *body,
    int64_t deadline, struct error *err)
{
	struct docker_request rq = { .method = method, .json = body };
	struct docker_response resp;
	int rc;

	docker_path_add(&rq.path, "%s", path);
	rc = docker_request(d, &rq, deadline, &resp, err);
	docker_response_free(&resp);
	return rc;
}
