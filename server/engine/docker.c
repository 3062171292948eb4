/*
 * docker.c - the Docker Engine API client: HTTP with libcurl, JSON with
 * jansson, build contexts tarred in memory with libarchive (loaded with
 * dlopen at the first build).
 *
 * Threads: any worker may call any function at any time. Each call makes
 * its own curl handle; the only shared mutable state is the negotiated API
 * version, written once under `lock` and published by `negotiated`.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "berth/v1/berth.pb-c.h"
#include "clock.h"
#include "engine/docker.h"
#include "engine/docker_util.h"

#define DEFAULT_HOST "unix:///var/run/docker.sock"

/* The API versions berth speaks: the oldest engine it accepts, the newest it asks for. */
#define API_MIN_MAJOR 1
#define API_MIN_MINOR 40
#define API_MAX_MAJOR 1
#define API_MAX_MINOR 43

#define CONNECT_TIMEOUT_MS 2000
#define BODY_MAX ((size_t)64 << 20)
#define LOGS_MAX ((size_t)16 << 20)
#define STREAM_LINE_MAX ((size_t)1 << 20) /* one JSON object of a build/pull stream */
#define CONTEXT_MAX ((size_t)256 << 20)   /* tar of a build context */

#define CODE_OK BERTH__V1__CODE__OK

struct docker {
	char *socket_path; /* unix socket; NULL for tcp */
	char *base_url;    /* "http://localhost", "https://host:2376" */
	bool tls;
	bool tls_verify;
	char *ca_file;
	char *cert_file;
	char *key_file;

	pthread_mutex_t lock; /* taken only to write version */
	atomic_bool negotiated;
	char version[16]; /* "1.41"; constant once negotiated is set */
};

/* A growing byte buffer, always NUL-terminated when data != NULL. */
struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t limit;
	bool too_large;
	bool no_memory;
};

/*
 * What a request reads back. Build and pull answer with one JSON object per
 * line for as long as they run; those are consumed as they arrive (stream
 * mode) so that only the error, if any, is kept.
 */
struct reply {
	struct buf body;
	long status;              /* the HTTP status; 0 when no answer came */
	bool stream;
	char stream_error[512];   /* last "error" of the stream */
	char stream_message[512]; /* "message" of an error answer */
};

struct request {
	const char *method;       /* "GET", "POST", "DELETE" */
	const char *path;         /* "/containers/json?all=1", without the version */
	bool versioned;           /* prefix /vX.Y */
	const char *content_type; /* NULL: no body */
	const void *data;
	size_t len;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void
curl_init_once(void)
{
	const char *verify = getenv("DOCKER_TLS_VERIFY"), *tls = getenv("DOCKER_TLS");

	/*
	 * libcurl's start-up has OpenSSL load the text of all its error codes
	 * (0.6 MB of RSS in idle berthd). OpenSSL's errors only ever reach a
	 * message through a TLS connection to Docker, and that takes
	 * DOCKER_TLS or DOCKER_TLS_VERIFY (tls_from_env): without either,
	 * OpenSSL is told first not to load them. It still reads its
	 * configuration as before.
	 */
	if ((verify == NULL || *verify == '\0') && (tls == NULL || *tls == '\0'))
		OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS, NULL);
	curl_init_result = curl_global_init(CURL_GLOBAL_ALL);
}

/* --- small helpers (more in docker_util.h) ---------------------------------- */

static int
buf_reserve(struct buf *b, size_t more)
{
	size_t need, cap;
	char *p;

	if (b->no_memory || b->too_large)
		return -1;
	if (more > b->limit || b->len > b->limit - more) {
		b->too_large = true;
		return -1;
	}
	need = b->len + more + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap != 0 ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	if ((p = realloc(b->data, cap)) == NULL) {
		b->no_memory = true;
		return -1;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

static int
buf_append(struct buf *b, const void *data, size_t len)
{
	if (buf_reserve(b, len) != 0)
		return -1;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

static int __attribute__((format(printf, 2, 3)))
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || buf_reserve(b, (size_t)n) != 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

/* Appends `s` percent-encoded, for a query value. */
static int
buf_escaped(struct buf *b, const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0);
	int rc;

	if (e == NULL) {
		b->no_memory = true;
		return -1;
	}
	rc = buf_append(b, e, strlen(e));
	curl_free(e);
	return rc;
}

static void
buf_free(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static void
reply_init(struct reply *r, size_t limit, bool stream)
{
	memset(r, 0, sizeof(*r));
	r->body.limit = stream ? STREAM_LINE_MAX : limit;
	r->stream = stream;
}

/* An image reference: name components, registry host:port, tag, digest. */
static bool
valid_image_ref(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > 512 || strstr(s, "..") != NULL || s[0] == '/' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			c == '_' || c == '.' || c == '-' || c == '/' || c == ':' || c == '@'))
			return false;
	}
	return true;
}

/* "1.41" -> 1, 41 */
static int
parse_version(const char *s, int *major, int *minor)
{
	char *end;
	long a, b;

	if (s == NULL)
		return -1;
	a = strtol(s, &end, 10);
	if (end == s || *end != '.')
		return -1;
	s = end + 1;
	b = strtol(s, &end, 10);
	if (end == s || a < 0 || a > 1000 || b < 0 || b > 1000)
		return -1;
	*major = (int)a;
	*minor = (int)b;
	return 0;
}

static int
version_cmp(int amaj, int amin, int bmaj, int bmin)
{
	if (amaj != bmaj)
		return amaj < bmaj ? -1 : 1;
	return amin < bmin ? -1 : amin > bmin;
}

/* Clears err, checks the time budget and returns the absolute deadline. */
static int
call_begin(struct docker *d, int64_t timeout_ms, int64_t *deadline, struct error *err)
{
	memset(err, 0, sizeof(*err));
	if (d == NULL)
		return fail(err, BERTH__V1__CODE__INVALID_ARGUMENT, "docker: no client");
	if (timeout_ms <= 0)
		return fail(err, BERTH__V1__CODE__DEADLINE_EXCEEDED,
		    "deadline exceeded before calling Docker");
	if (timeout_ms > INT64_MAX / 4)
		timeout_ms = INT64_MAX / 4;
	*deadline = clock_monotonic_ms() + timeout_ms;
	return CODE_OK;
}

/* --- open / close ---------------------------------------------------------- */

static char *
path_join(const char *dir, const char *file)
{
	size_t n = strlen(dir) + strlen(file) + 2;
	char *p = malloc(n);

	if (p != NULL)
		snprintf(p, n, "%s/%s", dir, file);
	return p;
}

/*
 * tcp://host[:port][/base]: the base URL, with the default port the docker
 * CLI uses (2376 with TLS, 2375 without) when none is given.
 */
static char *
tcp_base_url(const char *rest, bool tls)
{
	const char *slash = strchr(rest, '/');
	size_t hostlen = slash != NULL ? (size_t)(slash - rest) : strlen(rest);
	const char *close_bracket = memchr(rest, ']', hostlen);
	const char *after = close_bracket != NULL ? close_bracket + 1 : rest;
	bool has_port = memchr(after, ':', hostlen - (size_t)(after - rest)) != NULL;
	struct buf b = { .limit = 4096 };

	if (hostlen == 0)
		return NULL;
	buf_printf(&b, "%s://%.*s", tls ? "https" : "http", (int)hostlen, rest);
	if (!has_port)
		buf_printf(&b, ":%d", tls ? 2376 : 2375);
	if (slash != NULL) {
		size_t baselen = strlen(slash);
		while (baselen > 0 && slash[baselen - 1] == '/')
			baselen--;
		buf_printf(&b, "%.*s", (int)baselen, slash);
	}
	if (b.no_memory || b.too_large) {
		buf_free(&b);
		return NULL;
	}
	return b.data;
}

/* DOCKER_TLS_VERIFY / DOCKER_TLS / DOCKER_CERT_PATH, as the docker CLI reads them. */
static int
tls_from_env(struct docker *d)
{
	const char *verify = getenv("DOCKER_TLS_VERIFY");
	const char *tls = getenv("DOCKER_TLS");
	const char *certs = getenv("DOCKER_CERT_PATH");
	const char *home = getenv("HOME");
	char *dir = NULL;
	int rc = -1;

	d->tls_verify = verify != NULL && *verify != '\0';
	d->tls = d->tls_verify || (tls != NULL && *tls != '\0');
	if (!d->tls)
		return 0;
	if (certs != NULL && *certs != '\0')
		dir = strdup(certs);
	else
		dir = path_join(home != NULL ? home : "/root", ".docker");
	if (dir == NULL)
		return -1;
	d->ca_file = path_join(dir, "ca.pem");
	d->cert_file = path_join(dir, "cert.pem");
	d->key_file = path_join(dir, "key.pem");
	if (d->ca_file != NULL && d->cert_file != NULL && d->key_file != NULL)
		rc = 0;
	free(dir);
	return rc;
}

int
docker_open(struct docker **out, const char *host, char *err, size_t errlen)
{
	struct docker *d;
	const char *env = getenv("DOCKER_HOST");

	*out = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_result != CURLE_OK) {
		snprintf(err, errlen, "curl_global_init: %s", curl_easy_strerror(curl_init_result));
		return -1;
	}
	if (host == NULL || *host == '\0')
		host = env != NULL && *env != '\0' ? env : DEFAULT_HOST;
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_init(&d->lock, NULL);
	atomic_init(&d->negotiated, false);
	if (strncmp(host, "unix://", 7) == 0) {
		if (host[7] != '/') {
			snprintf(err, errlen, "docker host %s: unix:// needs an absolute path", host);
			goto fail;
		}
		d->socket_path = strdup(host + 7);
		d->base_url = strdup("http://localhost");
		if (d->socket_path == NULL || d->base_url == NULL)
			goto no_memory;
	} else if (strncmp(host, "tcp://", 6) == 0) {
		if (tls_from_env(d) != 0)
			goto no_memory;
		if ((d->base_url = tcp_base_url(host + 6, d->tls)) == NULL) {
			snprintf(err, errlen, "docker host %s: no host name", host);
			goto fail;
		}
	} else {
		snprintf(err, errlen, "docker host %s: only unix:// and tcp:// are supported", host);
		goto fail;
	}
	*out = d;
	return 0;
no_memory:
	snprintf(err, errlen, "out of memory");
fail:
	docker_close(d);
	return -1;
}

void
docker_close(struct docker *d)
{
	if (d == NULL)
		return;
	free(d->socket_path);
	free(d->base_url);
	free(d->ca_file);
	free(d->cert_file);
	free(d->key_file);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

const char *
docker_api_version(struct docker *d)
{
	if (d == NULL || !atomic_load_explicit(&d->negotiated, memory_order_acquire))
		return "";
	return d->version;
}

/* --- HTTP ------------------------------------------------------------------ */

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
	text = json_text(o, "error");
	if (text == NULL)
		text = json_text(json_object_get(o, "errorDetail"), "message");
	if (text != NULL)
		copy_text(r->stream_error, sizeof(r->stream_error), text);
	if ((text = json_text(o, "message")) != NULL && r->stream_message[0] == '\0')
		copy_text(r->stream_message, sizeof(r->stream_message), text);
	json_decref(o);
}

/* Consumes the complete lines in the buffer; at the end, the rest too. */
static void
stream_consume(struct reply *r, bool final)
{
	struct buf *b = &r->body;
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

	if (buf_append(&r->body, ptr, n) != 0)
		return 0; /* makes curl stop with CURLE_WRITE_ERROR */
	if (r->stream)
		stream_consume(r, false);
	return n;
}

static bool
connect_failure(CURLcode cc)
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

static int
set_options(struct docker *d, CURL *h, const char *url, struct curl_slist *headers,
    const struct request *rq, struct reply *r, int64_t remaining, char *errbuf)
{
	long total = remaining > LONG_MAX ? LONG_MAX : (long)remaining;
	long connect = total < CONNECT_TIMEOUT_MS ? total : CONNECT_TIMEOUT_MS;
	CURLcode cc = CURLE_OK;

#define SET(opt, val)                                          \
	do {                                                   \
		if (cc == CURLE_OK)                            \
			cc = curl_easy_setopt(h, (opt), (val)); \
	} while (0)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_TIMEOUT_MS, total);
	SET(CURLOPT_CONNECTTIMEOUT_MS, connect);
	SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_WRITEFUNCTION, reply_write);
	SET(CURLOPT_WRITEDATA, r);
	SET(CURLOPT_HTTPHEADER, headers);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	if (d->socket_path != NULL) {
		SET(CURLOPT_UNIX_SOCKET_PATH, d->socket_path);
		SET(CURLOPT_PROXY, ""); /* a proxy from the environment never applies to a socket */
	}
	if (d->tls) {
		SET(CURLOPT_SSLCERT, d->cert_file);
		SET(CURLOPT_SSLKEY, d->key_file);
		if (d->tls_verify) {
			SET(CURLOPT_CAINFO, d->ca_file);
		} else {
			SET(CURLOPT_SSL_VERIFYPEER, 0L);
			SET(CURLOPT_SSL_VERIFYHOST, 0L);
		}
	}
	if (strcmp(rq->method, "POST") == 0) {
		SET(CURLOPT_POST, 1L);
		SET(CURLOPT_POSTFIELDS, rq->data != NULL ? rq->data : "");
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(rq->data != NULL ? rq->len : 0));
	} else if (strcmp(rq->method, "GET") != 0) {
		SET(CURLOPT_CUSTOMREQUEST, rq->method);
	}
#undef SET
	return cc == CURLE_OK ? 0 : -1;
}

/*
 * Sends one request and reads the answer into r. Returns OK when an HTTP
 * answer came (whatever its status, in r->status), else the code of the
 * transport failure.
 */
static int
perform(struct docker *d, const struct request *rq, int64_t deadline, struct reply *r,
    struct error *err)
{
	char errbuf[CURL_ERROR_SIZE] = "", content_type[128];
	struct buf url = { .limit = 65536 };
	struct curl_slist *headers, *more = NULL;
	int64_t remaining = deadline - clock_monotonic_ms();
	curl_off_t connect_us = 0;
	CURL *h = NULL;
	CURLcode cc;
	int rc;

	if (remaining <= 0)
		return fail(err, BERTH__V1__CODE__DEADLINE_EXCEEDED,
		    "deadline exceeded before calling Docker");
	buf_printf(&url, "%s", d->base_url);
	if (rq->versioned)
		buf_printf(&url, "/v%s", d->version);
	buf_printf(&url, "%s", rq->path);
	if (url.data == NULL || url.no_memory || url.too_large) {
		buf_free(&url);
		return fail_memory(err);
	}
	/*
	 * "Expect:" off: curl would wait a second for 100-continue before a big
	 * body. A bare "Content-Type:" drops the form type curl gives a POST.
	 */
	snprintf(content_type, sizeof(content_type), "Content-Type:%s%s",
	    rq->content_type != NULL ? " " : "", rq->content_type != NULL ? rq->content_type : "");
	headers = curl_slist_append(NULL, "Expect:");
	if (headers != NULL)
		more = curl_slist_append(headers, content_type);
	if (more == NULL || (h = curl_easy_init()) == NULL) {
		rc = fail_memory(err);
		goto out;
	}
	if (set_options(d, h, url.data, headers, rq, r, remaining, errbuf) != 0) {
		rc = fail(err, BERTH__V1__CODE__INTERNAL, "docker: cannot set up curl");
		goto out;
	}
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connect_us);
	if (cc != CURLE_OK)
		r->status = 0;
	if (cc == CURLE_OK) {
		if (r->stream)
			stream_consume(r, true);
		rc = CODE_OK;
	} else if (r->body.too_large) {
		rc = fail(err, BERTH__V1__CODE__RESOURCE_EXHAUSTED,
		    "Docker's answer to %s %s exceeds %zu bytes", rq->method, rq->path, r->body.limit);
	} else if (r->body.no_memory) {
		rc = fail_memory(err);
	} else if (cc == CURLE_OPERATION_TIMEDOUT) {
		/*
		 * Not connected and the connect timeout was the shorter one: it
		 * fired first, so nobody answers (rather than: time ran out).
		 */
		if (connect_us == 0 && remaining > CONNECT_TIMEOUT_MS)
			rc = fail(err, BERTH__V1__CODE__UNAVAILABLE,
			    "Docker did not accept a connection within %d ms", CONNECT_TIMEOUT_MS);
		else
			rc = fail(err, BERTH__V1__CODE__DEADLINE_EXCEEDED,
			    "deadline exceeded waiting for Docker (%s %s)", rq->method, rq->path);
	} else if (connect_failure(cc)) {
		rc = fail(err, BERTH__V1__CODE__UNAVAILABLE, "cannot reach Docker at %s%s: %s",
		    d->socket_path != NULL ? "unix://" : "",
		    d->socket_path != NULL ? d->socket_path : d->base_url,
		    errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc));
	} else {
		rc = fail(err, BERTH__V1__CODE__INTERNAL, "docker %s %s: %s", rq->method, rq->path,
		    errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc));
	}
out:
	curl_easy_cleanup(h);
	curl_slist_free_all(headers);
	buf_free(&url);
	return rc;
}

/* Docker's "message" from an error answer, or its text, or the status. */
static void
error_message(const struct reply *r, char *dst, size_t len)
{
	json_t *o;
	const char *msg;

	if (r->stream_message[0] != '\0') {
		copy_text(dst, len, r->stream_message);
		return;
	}
	if (r->stream_error[0] != '\0') {
		copy_text(dst, len, r->stream_error);
		return;
	}
	if (r->body.len == 0 || r->stream) {
		snprintf(dst, len, "Docker answered HTTP %ld", r->status);
		return;
	}
	o = json_loadb(r->body.data, r->body.len, 0, NULL);
	if ((msg = json_text(o, "message")) != NULL) {
		copy_text(dst, len, msg);
	} else {
		size_t n = r->body.len;
		while (n > 0 && (r->body.data[n - 1] == '\n' || r->body.data[n - 1] == '\r'))
			n--;
		snprintf(dst, len, "%.*s", (int)(n > INT_MAX ? INT_MAX : n), r->body.data);
	}
	json_decref(o);
}

/* Maps a non-2xx answer to a berth code (callers refine 409 and ports). */
static int
fail_http(const struct reply *r, struct error *err)
{
	int code;

	switch (r->status) {
	case 400:
	case 409:
		code = BERTH__V1__CODE__FAILED_PRECONDITION;
		break;
	case 401:
	case 403:
		code = BERTH__V1__CODE__PERMISSION_DENIED;
		break;
	case 404:
		code = BERTH__V1__CODE__NOT_FOUND;
		break;
	case 503:
		code = BERTH__V1__CODE__UNAVAILABLE;
		break;
	default:
		code = BERTH__V1__CODE__INTERNAL;
	}
	error_clear(err);
	err->code = code;
	error_message(r, err->message, sizeof(err->message));
	return code;
}

/*
 * Negotiates the API version once per client: GET /version, then
 * min(server, 1.43), refusing engines older than 1.40. Concurrent first
 * calls may each ask; the first answer is kept. Nobody waits on another's
 * request, so no call blocks past its own deadline.
 */
static int
negotiate(struct docker *d, int64_t deadline, struct error *err)
{
	const struct request rq = { "GET", "/version", false, NULL, NULL, 0 };
	struct reply r;
	json_t *o = NULL;
	int maj, min, min_maj, min_min, rc;

	if (atomic_load_explicit(&d->negotiated, memory_order_acquire))
		return CODE_OK;
	reply_init(&r, BODY_MAX, false);
	if ((rc = perform(d, &rq, deadline, &r, err)) != CODE_OK)
		goto out;
	if (r.status != 200) {
		rc = fail_http(&r, err);
		goto out;
	}
	o = json_loadb(r.body.data != NULL ? r.body.data : "", r.body.len, 0, NULL);
	if (parse_version(json_text(o, "ApiVersion"), &maj, &min) != 0) {
		rc = fail(err, BERTH__V1__CODE__INTERNAL, "Docker's /version has no ApiVersion");
		goto out;
	}
	if (version_cmp(maj, min, API_MIN_MAJOR, API_MIN_MINOR) < 0) {
		rc = fail(err, BERTH__V1__CODE__FAILED_PRECONDITION,
		    "Docker Engine API %d.%d is older than %d.%d, the oldest berth supports", maj, min,
		    API_MIN_MAJOR, API_MIN_MINOR);
		goto out;
	}
	if (version_cmp(maj, min, API_MAX_MAJOR, API_MAX_MINOR) > 0) {
		maj = API_MAX_MAJOR;
		min = API_MAX_MINOR;
	}
	if (parse_version(json_text(o, "MinAPIVersion"), &min_maj, &min_min) == 0 &&
	    version_cmp(min_maj, min_min, maj, min) > 0) {
		rc = fail(err, BERTH__V1__CODE__FAILED_PRECONDITION,
		    "Docker Engine needs API %d.%d or newer; berth speaks up to %d.%d", min_maj,
		    min_min, API_MAX_MAJOR, API_MAX_MINOR);
		goto out;
	}
	pthread_mutex_lock(&d->lock);
	if (!atomic_load_explicit(&d->negotiated, memory_order_relaxed)) {
		snprintf(d->version, sizeof(d->version), "%d.%d", maj, min);
		atomic_store_explicit(&d->negotiated, true, memory_order_release);
	}
	pthread_mutex_unlock(&d->lock);
	rc = CODE_OK;
out:
	json_decref(o);
	buf_free(&r.body);
	return rc;
}

/*
 * One versioned API call: negotiates if needed, sends, and maps any answer
 * but 2xx and 304 to a code. The caller frees r->body.
 */
static int
api_call(struct docker *d, const struct request *rq, int64_t deadline, struct reply *r,
    struct error *err)
{
	int rc;

	if ((rc = negotiate(d, deadline, err)) != CODE_OK)
		return rc;
	if ((rc = perform(d, rq, deadline, r, err)) != CODE_OK)
		return rc;
	if ((r->status >= 200 && r->status < 300) || r->status == 304)
		return CODE_OK;
	return fail_http(r, err);
}

/*
 * api_call for a request without a body whose answer is not needed; the
 * HTTP status to *status when not NULL (0: no answer came).
 */
static int
api_simple(struct docker *d, const char *method, const struct buf *path, int64_t deadline,
    long *status, struct error *err)
{
	struct request rq = { method, path->data, true, NULL, NULL, 0 };
	struct reply r;
	int rc;

	if (path->data == NULL || path->no_memory || path->too_large)
		return fail_memory(err);
	reply_init(&r, BODY_MAX, false);
	rc = api_call(d, &rq, deadline, &r, err);
	if (status != NULL)
		*status = r.status;
	buf_free(&r.body);
	return rc;
}

/* The answer's body as JSON; INTERNAL when it is not. */
static int
parse_body(const struct reply *r, json_t **out, struct error *err)
{
	json_error_t jerr;

	*out = json_loadb(r->body.data != NULL ? r->body.data : "", r->body.len, 0, &jerr);
	if (*out == NULL)
		return fail(err, BERTH__V1__CODE__INTERNAL, "Docker sent malformed JSON: %s",
		    jerr.text);
	return CODE_OK;
}

int
docker_ping(struct docker *d, int64_t timeout_ms, struct error *err)
{
	const struct request rq = { "GET", "/_ping", false, NULL, NULL, 0 };
	struct reply r;
	int64_t deadline;
	int rc;

	if ((rc = call_begin(d, timeout_ms, &deadline, err)) != CODE_OK)
		return rc;
	reply_init(&r, BODY_MAX, false);
	rc = perform(d, &rq, deadline, &r, err);
	if (rc == CODE_OK && r.status != 200)
		rc = fail_http(&r, err);
	buf_free(&r.body);
	if (rc != CODE_OK)
		return rc;
	return negotiate(d, deadline, err);
}

/* --- images ---------------------------------------------------------------- */

int
docker_image_exists(struct docker *d, const char *image, bool *exists, int64_t timeout_ms,
    struct error *err)
{
	struct buf path = { .limit = 4096 };
	int64_t deadline;
	int rc;

	*exists = false;
	if ((rc = call_begin(d, timeout_ms, &deadline, err)) != CODE_OK)
		return rc;
	if (!valid_image_ref(image))
		return fail(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid image name");
	buf_printf(&path, "/images/%s/json", image);
	rc = api_simple(d, "GET", &path, deadline, NULL, err);
	buf_free(&path);
	if (rc == CODE_OK) {
		*exists = true;
	} else if (rc == BERTH__V1__CODE__NOT_FOUND) {
		memset(err, 0, sizeof(*err));
		rc = CODE_OK;
	}
	return rc;
}

int
docker_image_remove(struct docker *d, const char *image, bool force, int64_t timeout_ms,
    struct error *err)
{
	struct buf path = { .limit = 4096 };
	int64_t deadline;
	int rc;

	if ((rc = call_begin(d, timeout_ms, &deadline, err)) != CODE_OK)
		return rc;
	if (!valid_image_ref(image))
		return fail(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid image name");
	buf_printf(&path, "/images/%s?force=%s", image, force ? "true" : "false");
	rc = api_simple(d, "DELETE", &path, deadline, NULL, err);
	buf_free(&path);
	return rc;
}

/*
 * A build or pull: POST whose answer streams JSON objects. An HTTP error or
 * an "error" object in the stream is FAILED_PRECONDITION with Docker's text.
 */
static int
api_stream(struct docker *d, const struct request *rq, int64_t deadline, const char *what,
    struct error *err)
{
	struct reply r;
	int rc;

	reply_init(&r, BODY_MAX, true);
	rc = api_call(d, rq, deadline, &r, err);
	if (rc == CODE_OK && r.stream_error[0] != '\0') {
		rc = fail(err, BERTH__V1__CODE__FAILED_PRECONDITION, "%s failed: %s", what,
		    r.stream_error);
	} else if (rc != CODE_OK && r.status >= 400) {
		/* Refused before it started; Docker's message is in err already. */
		rc = err->code = BERTH__V1__CODE__FAILED_PRECONDITION;
	}
	buf_free(&r.body);
	return rc;
}

/*
 * libarchive is loaded at the first build, not at start-up: only a
 * template with a build_context needs it, and with what it links (libxml2,
 * ICU, libstdc++, four compressors) it cost idle berthd 2 MB of RSS. The
 * header still types every call (`la.f` has f's prototype); the Makefile
 * names the library (LIBARCHIVE_SONAME) and never links it.
 */
#define LA_FUNCTIONS(X)                                                                    \
	X(archive_entry_filetype)                                                          \
	X(archive_entry_free)                                                              \
	X(archive_entry_new)                                                               \
	X(archive_entry_pathname)                                                          \
	X(archive_entry_set_gid)                                                           \
	X(archive_entry_set_gname)                                                         \
	X(archive_entry_set_pathname)                                                      \
	X(archive_entry_set_uid)                                                           \
	X(archive_entry_set_uname)                                                         \
	X(archive_entry_size)                                                              \
	X(archive_error_string)                                                            \
	X(archive_read_data)                                                               \
	X(archive_read_disk_descend)                                                       \
	X(archive_read_disk_new)                                                           \
	X(archive_read_disk_open)                                                          \
	X(archive_read_disk_set_behavior)                                                  \
	X(archive_read_disk_set_symlink_physical)                                          \
	X(archive_read_free)                                                               \
	X(archive_read_next_header2)                                                       \
	X(archive_set_error)                                                               \
	X(archive_write_close)                                                             \
	X(archive_write_data)                                                              \
	X(archive_write_free)                                                              \
	X(archive_write_header)                                                            \
	X(archive_write_new)                                                               \
	X(archive_write_open)                                                              \
	X(archive_write_set_format_pax_restricted)

#define LA_FIELD(f) __typeof__(f) *f;
/* Filled once by la_load (under la_once), read-only afterwards. */
static struct {
	LA_FUNCTIONS(LA_FIELD)
} la;
static pthread_once_t la_once = PTHREAD_ONCE_INIT;
static char la_error[256]; /* why loading failed; "" when it worked */

static void
la_load(void)
{
	void *lib = dlopen(LIBARCHIVE_SONAME, RTLD_NOW | RTLD_LOCAL);

	if (lib == NULL) {
		snprintf(la_error, sizeof(la_error), "%s", dlerror());
		return;
	}
#define LA_SYMBOL(f)                                                                       \
	if ((la.f = (__typeof__(f) *)dlsym(lib, #f)) == NULL) {                            \
		snprintf(la_error, sizeof(la_error), "%s: no symbol %s", LIBARCHIVE_SONAME, #f); \
		return;                                                                    \
	}
	LA_FUNCTIONS(LA_SYMBOL)
#undef LA_SYMBOL
	/* Never dlclose'd: berthd builds again, and the handle lives as long as it. */
}

struct tar_sink {
	struct buf out;
};

static la_ssize_t
tar_write(struct archive *a, void *client, const void *data, size_t len)
{
	struct tar_sink *sink = client;

	if (buf_append(&sink->out, data, len) != 0) {
		la.archive_set_error(a, 0, sink->out.too_large ? "build context exceeds %zu bytes"
							    : "out of memory",
		    CONTEXT_MAX);
		return -1;
	}
	return (la_ssize_t)len;
}

/*
 * Copies the contents of the file the reader stands on into the writer:
 * 0, or -1 when reading failed, -2 when writing did.
 */
static int
tar_copy_data(struct archive *disk, struct archive *w)
{
	char chunk[65536];
	la_ssize_t n;

	while ((n = la.archive_read_data(disk, chunk, sizeof(chunk))) > 0) {
		if (la.archive_write_data(w, chunk, (size_t)n) != n)
			return -2;
	}
	return n < 0 ? -1 : 0;
}

/*
 * Tars directory `dir` into *out (malloc'ed, *len bytes), paths relative to
 * it, owned by root as the docker CLI sends them. Symbolic links are stored
 * as links, never followed, so nothing outside the context gets in.
 */
static int
tar_context(const char *dir, char **out, size_t *len, struct error *err)
{
	struct tar_sink sink = { .out = { .limit = CONTEXT_MAX } };
	struct archive *disk, *w;
	struct archive_entry *entry = NULL;
	char *root;
	size_t rootlen;
	int rc = CODE_OK, r;

	pthread_once(&la_once, la_load);
	if (la_error[0] != '\0')
		return fail(err, BERTH__V1__CODE__INTERNAL, "build context: cannot load libarchive: %s",
		    la_error);
	disk = la.archive_read_disk_new();
	w = la.archive_write_new();
	root = strdup(dir);
	if (disk == NULL || w == NULL || root == NULL) {
		rc = fail_memory(err);
		goto out;
	}
	rootlen = strlen(root);
	while (rootlen > 1 && root[rootlen - 1] == '/')
		root[--rootlen] = '\0';
	la.archive_read_disk_set_symlink_physical(disk);
	la.archive_read_disk_set_behavior(disk, ARCHIVE_READDISK_NO_XATTR | ARCHIVE_READDISK_NO_ACL |
		ARCHIVE_READDISK_NO_FFLAGS | ARCHIVE_READDISK_NO_SPARSE);
	if (la.archive_write_set_format_pax_restricted(w) != ARCHIVE_OK ||
	    la.archive_write_open(w, &sink, NULL, tar_write, NULL) != ARCHIVE_OK) {
		rc = fail(err, BERTH__V1__CODE__INTERNAL, "build context: %s", la.archive_error_string(w));
		goto out;
	}
	if (la.archive_read_disk_open(disk, root) != ARCHIVE_OK)
		goto read_failed;
	for (;;) {
		const char *path;
		char *rel;

		la.archive_entry_free(entry);
		if ((entry = la.archive_entry_new()) == NULL) {
			rc = fail_memory(err);
			goto out;
		}
		r = la.archive_read_next_header2(disk, entry);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			goto read_failed;
		if (la.archive_read_disk_descend(disk) < ARCHIVE_WARN)
			goto read_failed;
		path = la.archive_entry_pathname(entry);
		if (path == NULL || strcmp(path, root) == 0)
			continue; /* the context directory itself */
		if (strncmp(path, root, rootlen) != 0 ||
		    (path[rootlen] != '/' && !(rootlen == 1 && root[0] == '/'))) {
			rc = fail(err, BERTH__V1__CODE__INTERNAL, "build context: unexpected path %s",
			    path);
			goto out;
		}
		/* The entry owns `path`: copy before renaming it. */
		if ((rel = strdup(path + rootlen + (root[rootlen - 1] == '/' ? 0 : 1))) == NULL) {
			rc = fail_memory(err);
			goto out;
		}
		la.archive_entry_set_pathname(entry, rel);
		free(rel);
		la.archive_entry_set_uid(entry, 0);
		la.archive_entry_set_gid(entry, 0);
		la.archive_entry_set_uname(entry, NULL);
		la.archive_entry_set_gname(entry, NULL);
		if (la.archive_write_header(w, entry) < ARCHIVE_WARN)
			goto write_failed;
		if (la.archive_entry_filetype(entry) == AE_IFREG && la.archive_entry_size(entry) > 0) {
			if ((r = tar_copy_data(disk, w)) == -1)
				goto read_failed;
			if (r == -2)
				goto write_failed;
		}
	}
	if (la.archive_write_close(w) != ARCHIVE_OK)
		goto write_failed;
	*out = sink.out.data;
	*len = sink.out.len;
	sink.out.data = NULL;
	goto out;
read_failed:
	/* libarchive's text names the file. */
	rc = fail(err, BERTH__V1__CODE__FAILED_PRECONDITION, "build context: %s",
	    la.archive_error_string(disk) != NULL ? la.archive_error_string(disk) : dir);
	goto out;
write_failed:
	rc = fail(err,
	    sink.out.too_large ? BERTH__V1__CODE__FAILED_PRECONDITION : BERTH__V1__CODE__INTERNAL,
	    "build context %s: %s", dir,
	    la.archive_error_string(w) != NULL ? la.archive_error_string(w) : "cannot write tar");
out:
	la.archive_entry_free(entry);
	if (disk != NULL)
		la.archive_read_free(disk);
	if (w != NULL)
		la.archive_write_free(w);
	buf_free(&sink.out);
	free(root);
	return rc;
}

int
docker_image_build(struct docker *d, const char *context_dir, const char *tag,
    int64_t timeout_ms, struct error *err)
{
	struct buf path = { .limit = 4096 };
	char *tar = NULL;
	size_t len = 0;
	int64_t deadline;
	int rc;

	if ((rc = call_begin(d, timeout_ms, &deadline, err)) != CODE_OK)
		return rc;
	if (context_dir == NULL || *context_dir == '\0')
		return fail(err, BERTH__V1__CODE__INVALID_ARGUMENT, "no build context");
	if (!valid_image_ref(tag))
		return fail(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid image tag");
	if ((rc = tar_context(context_dir, &tar, &len, err)) != CODE_OK)
		return rc;
	buf_printf(&path, "/build?t=");
	buf_escaped(&path, tag);
	buf_printf(&path, "&rm=1&forcerm=1");
	if (path.data == NULL || path.no_memory) {
		rc = fail_memory(err);
	} else {
		struct request rq = { "POST", path.data, true, "application/x-tar", tar, len };
		rc = api_stream(d, &rq, deadline, "build", err);
	}
	buf_free(&path);
	free(tar);
	return rc;
}

int
docker_image_pull(struct docker *d, const char *image, int64_t timeout_ms,
    struct error *err)
{
	struct buf path = { .limit = 4096 };
	const char *at, *colon, *slash, *tag = "latest";
	size_t namelen;
	char *name;
	int64_t deadline;
	int rc;

	if ((rc = call_begin(d, timeout_ms, &deadline, err)) != CODE_OK)
		return rc;
	if (!valid_image_ref(image))
		return fail(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid image name");
	/*
	 * Without a tag the engine would pull every tag. A ':' after the last
	 * '/' starts the tag; one before it belongs to a registry's host:port.
	 */
	namelen = strlen(image);
	if ((at = strchr(image, '@')) != NULL) {
		namelen = (size_t)(at - image);
		tag = at + 1;
	} else {
		colon = strrchr(image, ':');
		slash = strrchr(image, '/');
		if (colon != NULL && (slash == NULL || colon > slash)) {
			namelen = (size_t)(colon - image);
			tag = colon + 1;
		}
	}
	if (namelen == 0 || *tag == '\0')
		return fail(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid image name");
	if ((name = strndup(image, namelen)) == NULL)
		return fail_memory(err);
	buf_printf(&path, "/images/create?fromImage=");
	buf_escaped(&path, name);
	buf_printf(&path, "&tag=");
	buf_escaped(&path, tag);
	if (path.data == NULL || path.no_memory) {
		rc = fail_memory(err);
	} else {
		struct request rq = { "POST", path.data, true, NULL, NULL, 0 };
		rc = api_stream(d, &rq, deadline, "pull", err);
	}
	buf_free(&path);
	free(name);
	return rc;
}

/* --- containers ------------------------------------------------------------ */

/* A JSON array of strings; NULL when out of memory or a string is not UTF-8. */
static json_t *
string_array(const char *const *items, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < n; i++) {
		if (items[i] == NULL || json_array_append_new(a, json_string(items[i])) != 0) {
			json_decref(a);
			a = NULL;
		}
	}
	return a;
}

/* The body of POST /containers/create; NULL with err set on failure. */
static json_t *
create_body(const struct docker_container_spec *spec, struct error *err)
{
	json_t *body = NULL, *env = NULL, *cmd = NULL, *labels = NULL, *exposed = NULL;
	json_t *bindings = NULL, *binds = NULL;
	char port_key[16], host_port[8], *bind;
	size_t n;

	if (spec->bind_source != NULL && *spec->bind_source != '\0' &&
	    (spec->bind_target == NULL || spec->bind_target[0] != '/')) {
		fail(err, BERTH__V1__CODE__INVALID_ARGUMENT, "bind target must be an absolute path");
		return NULL;
	}
	env = string_array(spec->env, spec->n_env);
	cmd = spec->n_command > 0 ? string_array(spec->command, spec->n_command) : NULL;
	labels = json_object();
	if (env == NULL || (spec->n_command > 0 && cmd == NULL) || labels == NULL)
		goto invalid;
	for (size_t i = 0; i < spec->n_labels; i++) {
		const struct docker_label *l = &spec->labels[i];
		if (l->key == NULL ||
		    json_object_set_new(labels, l->key, json_string(l->value != NULL ? l->value : "")) !=
			0)
			goto invalid;
	}
	if (spec->container_port != 0) {
		snprintf(port_key, sizeof(port_key), "%u/tcp", (unsigned)spec->container_port);
		if (spec->host_port != 0)
			snprintf(host_port, sizeof(host_port), "%u", (unsigned)spec->host_port);
		else
			host_port[0] = '\0'; /* Docker picks one */
		exposed = json_pack("{s:{}}", port_key);
		bindings = json_pack("{s:[{s:s, s:s}]}", port_key, "HostIp",
		    spec->host_ip != NULL ? spec->host_ip : "", "HostPort", host_port);
		if (exposed == NULL || bindings == NULL)
			goto invalid;
	}
	if (spec->bind_source != NULL && *spec->bind_source != '\0') {
		n = strlen(spec->bind_source) + strlen(spec->bind_target) + 2;
		if ((bind = malloc(n)) == NULL)
			goto invalid;
		snprintf(bind, n, "%s:%s", spec->bind_source, spec->bind_target);
		binds = json_pack("[s]", bind);
		free(bind);
		if (binds == NULL)
			goto invalid;
	}
	/* "o*" steals the reference (also on failure) and leaves a NULL out. */
	body = json_pack("{s:s, s:o, s:o*, s:o, s:o*, s:{s:o*, s:o*, s:{s:s}}}", "Image",
	    spec->image, "Env", env, "Cmd", cmd, "Labels", labels, "ExposedPorts", exposed,
	    "HostConfig", "PortBindings", bindings, "Binds", binds, "RestartPolicy", "Name", "no");
	if (body == NULL)
		goto failed;
	if (spec->stop_timeout_s > 0 &&
	    json_object_set_new(body, "StopTimeout", json_integer(spec->stop_timeout_s)) != 0) {
		json_decref(body);
		goto failed;
	}
	/* Resource limits: HostConfig.NanoCpus and Memory, as `docker run --cpus --memory`. */
	if ((spec->nano_cpus > 0 &&
		json_object_set_new(json_object_get(body, "HostConfig"), "NanoCpus",
		    json_integer(spec->nano_cpus)) != 0) ||
	    (spec->memory_bytes > 0 &&
		json_object_set_new(json_object_get(body, "HostConfig"), "Memory",
		    json_integer(spec->memory_bytes)) != 0)) {
		json_decref(body);
		goto failed;
	}
	return body;
invalid:
	json_decref(env);
	json_decref(cmd);
	json_decref(labels);
	json_decref(exposed);
	json_decref(bindings);
	json_decref(binds);
failed:
	fail(err, BERTH__V1__CODE__INVALID_ARGUMENT,
	    "container spec: a string is missing or not UTF-8 (or out of memory)");
	return NULL;
}

int
docker_container_create(struct docker *d, const struct docker_container_spec *spec,
    char id[DOCKER_ID_LEN + 1], int64_t timeout_ms, struct error *err)
{
	struct buf path = { .limit = 4096 };
	struct reply r;
	json_t *body, *answer = NULL;
	char *text = NULL;
	const char *new_id;
	int64_t deadline;
	int rc;

	id[0] = '\0';
	if ((rc = call_begin(d, timeout_ms, &deadline, err)) != CODE_OK)
		return rc;
	if (!valid_image_ref(spec->image))
		return fail(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid image name");
	if (spec->name != NULL && !valid_ref(spec->name))
		return fail(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid container name");
	if ((body = create_body(spec, err)) == NULL)
		return err->code;
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	buf_printf(&path, "/containers/create");
	if (spec->name != NULL) {
		buf_printf(&path, "?name=");
		buf_escaped(&path, spec->name);
	}
	reply_init(&r, BODY_MAX, false);
	if (text == NULL || path.data == NULL || path.no_memory) {
		rc = fail_memory(err);
	} else {
		struct request rq = { "POST", path.data, true, "application/json", text,
			strlen(text) };
		rc = api_call(d, &rq, deadline, &r, err);
	}
	if (rc == CODE_OK && (rc = parse_body(&r, &answer, err)) == CODE_OK) {
		new_id = json_text(answer, "Id");
		if (new_id == NULL || strlen(new_id) > DOCKER_ID_LEN)
			rc = fail(err, BERTH__V1__CODE__INTERNAL, "Docker sent no container id");
		else
			copy_text(id, DOCKER_ID_LEN + 1, new_id);
	} else if (rc == BERTH__V1__CODE__FAILED_PRECONDITION && r.status == 409) {
		rc = err->code = BERTH__V1__CODE__ALREADY_EXISTS; /* the name is taken */
	}
	json_decref(answer);
	buf_free(&r.body);
	buf_free(&path);
	free(text);
	return rc;
}

static bool
port_taken(const char *message)
{
	return strstr(message, "port is already allocated") != NULL ||
	    strstr(message, "address already in use") != NULL;
}

/* POST /containers/{id}/ACTION[?t=N]; start and restart report taken ports. */
static int
container_action(struct docker *d, const char *id, const char *action, int stop_timeout_s,
    int64_t timeout_ms, struct error *err)
{
	struct buf path = { .limit = 4096 };
	int64_t deadline;
	long status = 0;
	int rc;

	if ((rc = call_begin(d, timeout_ms, &deadline, err)) != CODE_OK)
		return rc;
	if (!valid_ref(id))
		return fail(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid container id");
	buf_printf(&path, "/containers/%s/%s", id, action);
	if (stop_timeout_s >= 0)
		buf_printf(&path, "?t=%d", stop_timeout_s);
	rc = api_simple(d, "POST", &path, deadline, &status, err);
	buf_free(&path);
	if (rc != CODE_OK && status >= 400 && port_taken(err->message)) {
		snprintf(err->reason, sizeof(err->reason), "%s", DOCKER_REASON_PORT_IN_USE);
		rc = err->code = BERTH__V1__CODE__ABORTED;
	}
	return rc;
}

int
docker_container_start(struct docker *d, const char *id, int64_t timeout_ms,
    struct error *err)
{
	return container_action(d, id, "start", -1, timeout_ms, err);
}

int
docker_container_stop(struct docker *d, const char *id, int stop_timeout_s,
    int64_t timeout_ms, struct error *err)
{
	return container_action(d, id, "stop", stop_timeout_s, timeout_ms, err);
}

int
docker_container_restart(struct docker *d, const char *id, int stop_timeout_s,
    int64_t timeout_ms, struct error *err)
{
	return container_action(d, id, "restart", stop_timeout_s, timeout_ms, err);
}

int
docker_container_kill(struct docker *d, const char *id, int64_t timeout_ms,
    struct error *err)
{
	return container_action(d, id, "kill", -1, timeout_ms, err);
}

int
docker_container_remove(struct docker *d, const char *id, bool force, int64_t timeout_ms,
    struct error *err)
{
	struct buf path = { .limit = 4096 };
	int64_t deadline;
	int rc;

	if ((rc = call_begin(d, timeout_ms, &deadline, err)) != CODE_OK)
		return rc;
	if (!valid_ref(id))
		return fail(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid container id");
	buf_printf(&path, "/containers/%s?force=%s&v=true", id, force ? "true" : "false");
	rc = api_simple(d, "DELETE", &path, deadline, NULL, err);
	buf_free(&path);
	return rc;
}

static void
add_port(struct docker_container *c, json_int_t port)
{
	if (port <= 0 || port > 65535)
		return;
	for (size_t i = 0; i < c->n_ports; i++)
		if (c->ports[i] == (uint16_t)port)
			return; /* IPv4 and IPv6 bindings of the same port */
	if (c->n_ports < DOCKER_MAX_PORTS)
		c->ports[c->n_ports++] = (uint16_t)port;
}

static void
fill_labels(struct docker_container *c, const json_t *labels)
{
	copy_text(c->label_service, sizeof(c->label_service), json_text(labels, DOCKER_LABEL_SERVICE));
	copy_text(c->label_template, sizeof(c->label_template),
	    json_text(labels, DOCKER_LABEL_TEMPLATE));
	copy_text(c->label_instance, sizeof(c->label_instance),
	    json_text(labels, DOCKER_LABEL_INSTANCE));
	copy_text(c->label_data_dir, sizeof(c->label_data_dir),
	    json_text(labels, DOCKER_LABEL_DATA_DIR));
}

/* {"8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": "49153"}], "9/udp": null} */
static void
fill_port_map(struct docker_container *c, const json_t *map)
{
	const char *key;
	json_t *list, *binding;
	size_t i;

	json_object_foreach ((json_t *)map, key, list) {
		json_array_foreach (list, i, binding) {
			const char *text = json_text(binding, "HostPort");
			char *end;
			long port;

			if (text == NULL || *text == '\0')
				continue;
			port = strtol(text, &end, 10);
			if (*end == '\0')
				add_port(c, port);
		}
	}
}

/* One entry of GET /containers/json. */
static void
container_from_list(struct docker_container *c, const json_t *o)
{
	const char *name = json_string_value(json_array_get(json_object_get(o, "Names"), 0));
	json_t *port;
	size_t i;

	memset(c, 0, sizeof(*c));
	copy_text(c->id, sizeof(c->id), json_text(o, "Id"));
	if (name != NULL && name[0] == '/')
		name++;
	copy_text(c->name, sizeof(c->name), name);
	copy_text(c->state, sizeof(c->state), json_text(o, "State"));
	fill_labels(c, json_object_get(o, "Labels"));
	json_array_foreach (json_object_get(o, "Ports"), i, port)
		add_port(c, json_integer_value(json_object_get(port, "PublicPort")));
}

int
docker_container_inspect(struct docker *d, const char *id, struct docker_container *out,
    int64_t timeout_ms, struct error *err)
{
	struct buf path = { .limit = 4096 };
	struct reply r;
	json_t *o = NULL, *state, *ports;
	const char *name;
	int64_t deadline;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = call_begin(d, timeout_ms, &deadline, err)) != CODE_OK)
		return rc;
	if (!valid_ref(id))
		return fail(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid container id");
	buf_printf(&path, "/containers/%s/json", id);
	reply_init(&r, BODY_MAX, false);
	if (path.data == NULL || path.no_memory) {
		rc = fail_memory(err);
	} else {
		struct request rq = { "GET", path.data, true, NULL, NULL, 0 };
		rc = api_call(d, &rq, deadline, &r, err);
	}
	if (rc == CODE_OK && (rc = parse_body(&r, &o, err)) == CODE_OK) {
		copy_text(out->id, sizeof(out->id), json_text(o, "Id"));
		name = json_text(o, "Name");
		if (name != NULL && name[0] == '/')
			name++;
		copy_text(out->name, sizeof(out->name), name);
		state = json_object_get(o, "State");
		copy_text(out->state, sizeof(out->state), json_text(state, "Status"));
		out->exit_code = (int)json_integer_value(json_object_get(state, "ExitCode"));
		copy_text(out->started_at, sizeof(out->started_at), json_text(state, "StartedAt"));
		copy_text(out->finished_at, sizeof(out->finished_at), json_text(state, "FinishedAt"));
		fill_labels(out, json_object_get(json_object_get(o, "Config"), "Labels"));
		/* Ports actually bound while running; what was asked for otherwise. */
		ports = json_object_get(json_object_get(o, "NetworkSettings"), "Ports");
		fill_port_map(out, ports);
		if (out->n_ports == 0)
			fill_port_map(out,
			    json_object_get(json_object_get(o, "HostConfig"), "PortBindings"));
	}
	json_decref(o);
	buf_free(&r.body);
	buf_free(&path);
	return rc;
}

int
docker_container_list(struct docker *d, const char *label, struct docker_container **out,
    size_t *n, int64_t timeout_ms, struct error *err)
{
	struct buf path = { .limit = 65536 };
	struct reply r;
	json_t *o = NULL, *filters = NULL, *item;
	char *filters_text = NULL;
	int64_t deadline;
	size_t i;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = call_begin(d, timeout_ms, &deadline, err)) != CODE_OK)
		return rc;
	buf_printf(&path, "/containers/json?all=1");
	if (label != NULL) {
		/* filters={"label":["berth.managed=true"]}, url-encoded */
		if ((filters = json_pack("{s:[s]}", "label", label)) == NULL)
			return fail(err, BERTH__V1__CODE__INVALID_ARGUMENT, "label is not UTF-8");
		filters_text = json_dumps(filters, JSON_COMPACT);
		json_decref(filters);
		if (filters_text == NULL) {
			buf_free(&path);
			return fail_memory(err);
		}
		buf_printf(&path, "&filters=");
		buf_escaped(&path, filters_text);
		free(filters_text);
	}
	reply_init(&r, BODY_MAX, false);
	if (path.data == NULL || path.no_memory || path.too_large) {
		rc = fail_memory(err);
	} else {
		struct request rq = { "GET", path.data, true, NULL, NULL, 0 };
		rc = api_call(d, &rq, deadline, &r, err);
	}
	if (rc == CODE_OK && (rc = parse_body(&r, &o, err)) == CODE_OK) {
		if (!json_is_array(o)) {
			rc = fail(err, BERTH__V1__CODE__INTERNAL, "Docker's container list is not an array");
		} else if (json_array_size(o) > 0) {
			*out = calloc(json_array_size(o), sizeof(**out));
			if (*out == NULL)
				rc = fail_memory(err);
			else
				json_array_foreach (o, i, item)
					container_from_list(&(*out)[(*n)++], item);
		}
	}
	json_decref(o);
	buf_free(&r.body);
	buf_free(&path);
	return rc;
}

/*
 * Without a TTY Docker multiplexes stdout and stderr: frames of an 8-byte
 * header (stream 0/1/2, three zero bytes, big-endian length) and payload.
 * Decoded in place; anything that does not look like a frame is raw text.
 */
static size_t
demultiplex(char *data, size_t len)
{
	const unsigned char *p = (const unsigned char *)data;
	size_t in = 0, out = 0;

	if (len < 8 || p[0] > 2 || p[1] != 0 || p[2] != 0 || p[3] != 0)
		return len;
	while (len - in >= 8) {
		size_t frame = (size_t)p[in + 4] << 24 | (size_t)p[in + 5] << 16 |
		    (size_t)p[in + 6] << 8 | (size_t)p[in + 7];
		in += 8;
		if (frame > len - in)
			frame = len - in; /* cut short by the tail of the answer */
		memmove(data + out, data + in, frame);
		out += frame;
		in += frame;
	}
	return out;
}

size_t
docker_demultiplex(char *data, size_t len)
{
	return demultiplex(data, len);
}

int
docker_container_logs(struct docker *d, const char *id, unsigned tail, char **out,
    int64_t timeout_ms, struct error *err)
{
	struct buf path = { .limit = 4096 };
	struct reply r;
	int64_t deadline;
	int rc;

	*out = NULL;
	if ((rc = call_begin(d, timeout_ms, &deadline, err)) != CODE_OK)
		return rc;
	if (!valid_ref(id))
		return fail(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid container id");
	buf_printf(&path, "/containers/%s/logs?stdout=1&stderr=1", id);
	if (tail > 0)
		buf_printf(&path, "&tail=%u", tail);
	else
		buf_printf(&path, "&tail=all");
	reply_init(&r, LOGS_MAX, false);
	if (path.data == NULL || path.no_memory) {
		rc = fail_memory(err);
	} else {
		struct request rq = { "GET", path.data, true, NULL, NULL, 0 };
		rc = api_call(d, &rq, deadline, &r, err);
	}
	if (rc == CODE_OK) {
		if (r.body.data == NULL && buf_reserve(&r.body, 0) != 0) {
			rc = fail_memory(err);
		} else {
			r.body.len = demultiplex(r.body.data, r.body.len);
			r.body.data[r.body.len] = '\0';
			*out = r.body.data;
			r.body.data = NULL;
		}
	}
	buf_free(&r.body);
	buf_free(&path);
	return rc;
}

static uint64_t
json_u64(const json_t *o, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(o, key));
	return v > 0 ? (uint64_t)v : 0;
}

int
docker_container_stats(struct docker *d, const char *id, struct docker_stats *out,
    int64_t timeout_ms, struct error *err)
{
	struct buf path = { .limit = 4096 };
	struct reply r;
	json_t *o = NULL, *cpu, *pre, *mem, *mstats;
	int64_t deadline;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = call_begin(d, timeout_ms, &deadline, err)) != CODE_OK)
		return rc;
	if (!valid_ref(id))
		return fail(err, BERTH__V1__CODE__INVALID_ARGUMENT, "invalid container id");
	buf_printf(&path, "/containers/%s/stats?stream=false&one-shot=true", id);
	reply_init(&r, BODY_MAX, false);
	if (path.data == NULL || path.no_memory) {
		rc = fail_memory(err);
	} else {
		struct request rq = { "GET", path.data, true, NULL, NULL, 0 };
		rc = api_call(d, &rq, deadline, &r, err);
	}
	if (rc == CODE_OK && (rc = parse_body(&r, &o, err)) == CODE_OK) {
		uint64_t total, pre_total, system, pre_system, online, usage, inactive;
		json_t *v;

		cpu = json_object_get(o, "cpu_stats");
		pre = json_object_get(o, "precpu_stats");
		total = json_u64(json_object_get(cpu, "cpu_usage"), "total_usage");
		pre_total = json_u64(json_object_get(pre, "cpu_usage"), "total_usage");
		system = json_u64(cpu, "system_cpu_usage");
		pre_system = json_u64(pre, "system_cpu_usage");
		online = json_u64(cpu, "online_cpus");
		if (online == 0)
			online = json_array_size(
			    json_object_get(json_object_get(cpu, "cpu_usage"), "percpu_usage"));
		if (online == 0)
			online = 1;
		/* Only a previous sample gives a rate; one-shot sends none. */
		if (pre_system > 0 && system > pre_system && total > pre_total)
			out->cpu_percent = (double)(total - pre_total) / (double)(system - pre_system) *
			    (double)online * 100.0;

		/* As `docker stats`: cgroup v1 total_inactive_file, v2 inactive_file. */
		mem = json_object_get(o, "memory_stats");
		mstats = json_object_get(mem, "stats");
		usage = json_u64(mem, "usage");
		if ((v = json_object_get(mstats, "total_inactive_file")) == NULL)
			v = json_object_get(mstats, "inactive_file");
		inactive = json_is_integer(v) && json_integer_value(v) > 0 ?
		    (uint64_t)json_integer_value(v) :
		    0;
		out->memory_bytes = inactive < usage ? usage - inactive : usage;
		out->memory_limit_bytes = json_u64(mem, "limit");
	}
	json_decref(o);
	buf_free(&r.body);
	buf_free(&path);
	return rc;
}

/* --- events ------------------------------------------------------------------ */

/*
 * The event stream runs on a curl multi handle so that the loop wakes at
 * least every EVENTS_POLL_MS to look at *stop: an idle stream sends nothing
 * for hours, and libcurl's progress callback fires only about once a second.
 * Callbacks here only buffer; lines are parsed and handed to the caller's
 * handler between curl_multi_perform calls.
 */
#define EVENTS_POLL_MS 200
#define EVENTS_REPLAY_S 1

struct event_stream {
	struct buf data;   /* received, not yet handed out: complete lines, then a partial one */
	bool headers_done; /* the blank line after the headers was seen */
	bool paused;       /* the write callback asked curl to hold data back */
	bool line_too_large;
};

static size_t
events_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct event_stream *s = userdata;
	size_t n = size * nmemb;

	if ((n == 2 && ptr[0] == '\r' && ptr[1] == '\n') || (n == 1 && ptr[0] == '\n'))
		s->headers_done = true;
	return n;
}

static size_t
events_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct event_stream *s = userdata;
	size_t n = size * nmemb;

	if (s->data.len + n > STREAM_LINE_MAX) {
		/* Hand out what is complete first; curl keeps this chunk for later. */
		if (s->data.len > 0 && memchr(s->data.data, '\n', s->data.len) != NULL) {
			s->paused = true;
			return CURL_WRITEFUNC_PAUSE;
		}
		s->line_too_large = true;
		return 0;
	}
	if (buf_append(&s->data, ptr, n) != 0)
		return 0;
	return n;
}

/* Actor.Attributes.exitCode ("137"), or -1. */
static int
event_exit_code(const char *text)
{
	char *end;
	long v;

	if (text == NULL || *text == '\0')
		return -1;
	v = strtol(text, &end, 10);
	if (*end != '\0' || v < 0 || v > 255)
		return -1;
	return (int)v;
}

/* One line of the stream; false when it is not an event object. */
static bool
event_from_json(const char *line, size_t len, struct docker_event *ev)
{
	json_t *o = json_loadb(line, len, 0, NULL);
	json_t *actor, *attrs;
	const char *id;

	memset(ev, 0, sizeof(*ev));
	if (!json_is_object(o)) {
		json_decref(o);
		return false;
	}
	actor = json_object_get(o, "Actor");
	attrs = json_object_get(actor, "Attributes");
	id = json_text(actor, "ID");
	if (id == NULL)
		id = json_text(o, "id");
	copy_text(ev->type, sizeof(ev->type), json_text(o, "Type"));
	copy_text(ev->action, sizeof(ev->action), json_text(o, "Action"));
	copy_text(ev->id, sizeof(ev->id), id);
	copy_text(ev->name, sizeof(ev->name), json_text(attrs, "name"));
	copy_text(ev->label_service, sizeof(ev->label_service),
	    json_text(attrs, DOCKER_LABEL_SERVICE));
	copy_text(ev->label_data_dir, sizeof(ev->label_data_dir),
	    json_text(attrs, DOCKER_LABEL_DATA_DIR));
	copy_text(ev->swarm_service_id, sizeof(ev->swarm_service_id),
	    json_text(attrs, "com.docker.swarm.service.id"));
	ev->exit_code = event_exit_code(json_text(attrs, "exitCode"));
	ev->time_nano = (int64_t)json_integer_value(json_object_get(o, "timeNano"));
	json_decref(o);
	return ev->action[0] != '\0';
}

/*
 * Hands every complete line (every line when `final`) to the handler.
 * Returns non-zero when the handler asked to stop.
 */
static int
events_dispatch(struct event_stream *s, const struct docker_events_handler *h, bool final)
{
	struct buf *b = &s->data;
	size_t start = 0;
	int stop = 0;

	while (stop == 0 && start < b->len) {
		char *nl = memchr(b->data + start, '\n', b->len - start);
		size_t end = nl != NULL ? (size_t)(nl - b->data) : b->len;
		struct docker_event ev;

		if (nl == NULL && !final)
			break;
		if (end > start && event_from_json(b->data + start, end - start, &ev))
			stop = h->on_event(h->arg, &ev);
		start = nl != NULL ? end + 1 : end;
	}
	if (start > 0) {
		memmove(b->data, b->data + start, b->len - start);
		b->len -= start;
		b->data[b->len] = '\0';
	}
	return stop;
}

/* /events?since=...&filters=..., url-encoded. */
static int
events_path(struct buf *path, const char *const *types, const char *label_filter,
    struct error *err)
{
	static const char *const containers_only[] = { "container", NULL };
	json_t *filters, *type_list;
	char *text;

	/* {"type":[...],"label":[...]}: jansson keeps the keys in this order. */
	filters = json_object();
	type_list = json_array();
	for (const char *const *t = types != NULL ? types : containers_only; *t != NULL; t++)
		json_array_append_new(type_list, json_string(*t));
	/* json_object_set_new takes type_list, also when it fails. */
	if (filters == NULL || type_list == NULL ||
	    json_object_set_new(filters, "type", json_incref(type_list)) != 0 ||
	    (label_filter != NULL &&
		json_object_set_new(filters, "label", json_pack("[s]", label_filter)) != 0)) {
		json_decref(filters);
		json_decref(type_list);
		return fail(err, BERTH__V1__CODE__INVALID_ARGUMENT, "label filter is not UTF-8");
	}
	json_decref(type_list);
	text = json_dumps(filters, JSON_COMPACT);
	json_decref(filters);
	if (text == NULL)
		return fail_memory(err);
	buf_printf(path, "/events?since=%lld&filters=", (long long)time(NULL) - EVENTS_REPLAY_S);
	buf_escaped(path, text);
	free(text);
	if (path->data == NULL || path->no_memory || path->too_large)
		return fail_memory(err);
	return CODE_OK;
}

/* Sets up the easy handle: the common options, then the stream's own. */
static int
events_handle(struct docker *d, CURL *h, const char *url, struct event_stream *s, char *errbuf)
{
	const struct request rq = { "GET", url, true, NULL, NULL, 0 };
	CURLcode cc = CURLE_OK;

	if (set_options(d, h, url, NULL, &rq, NULL, CONNECT_TIMEOUT_MS, errbuf) != 0)
		return -1;
#define SET(opt, val)                                          \
	do {                                                   \
		if (cc == CURLE_OK)                            \
			cc = curl_easy_setopt(h, (opt), (val)); \
	} while (0)
	SET(CURLOPT_TIMEOUT_MS, 0L); /* the stream lasts as long as the daemon */
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
	SET(CURLOPT_WRITEFUNCTION, events_write);
	SET(CURLOPT_WRITEDATA, s);
	SET(CURLOPT_HEADERFUNCTION, events_header);
	SET(CURLOPT_HEADERDATA, s);
	/* A remote engine that vanishes without a FIN is noticed within a minute. */
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_TCP_KEEPIDLE, 30L);
	SET(CURLOPT_TCP_KEEPINTVL, 10L);
#undef SET
	return cc == CURLE_OK ? 0 : -1;
}

/* Why the transfer ended (it was not stopped by us). */
static int
events_result(struct docker *d, CURLcode cc, long status, bool connected,
    struct event_stream *s, const char *errbuf, struct error *err)
{
	const char *why = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc);

	if (s->line_too_large)
		return fail(err, BERTH__V1__CODE__RESOURCE_EXHAUSTED,
		    "an event from Docker exceeds %zu bytes", STREAM_LINE_MAX);
	if (s->data.no_memory)
		return fail_memory(err);
	if (cc == CURLE_OK && status != 200 && status != 0) {
		struct reply r = { .body = s->data, .status = status };
		return fail_http(&r, err);
	}
	if (cc == CURLE_OK || connected) {
		return fail(err, BERTH__V1__CODE__UNAVAILABLE, "Docker ended the event stream%s%s",
		    cc != CURLE_OK ? ": " : "", cc != CURLE_OK ? why : "");
	}
	if (cc == CURLE_OPERATION_TIMEDOUT)
		return fail(err, BERTH__V1__CODE__UNAVAILABLE,
		    "Docker did not accept a connection within %d ms", CONNECT_TIMEOUT_MS);
	if (connect_failure(cc))
		return fail(err, BERTH__V1__CODE__UNAVAILABLE, "cannot reach Docker at %s%s: %s",
		    d->socket_path != NULL ? "unix://" : "",
		    d->socket_path != NULL ? d->socket_path : d->base_url, why);
	return fail(err, BERTH__V1__CODE__INTERNAL, "docker GET /events: %s", why);
}

int
docker_events_follow(struct docker *d, const char *label_filter,
    const struct docker_events_handler *h, atomic_bool *stop, struct error *err)
{
	return docker_events_follow_types(d, NULL, label_filter, h, stop, err);
}

int
docker_events_follow_types(struct docker *d, const char *const *types,
    const char *label_filter, const struct docker_events_handler *h, atomic_bool *stop,
    struct error *err)
{
	struct event_stream s = { .data = { .limit = STREAM_LINE_MAX } };
	struct buf path = { .limit = 65536 }, url = { .limit = 65536 };
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLM *m = NULL;
	CURL *easy = NULL;
	CURLcode cc = CURLE_OK;
	bool connected = false, added = false, stopped = false;
	int64_t deadline = 0, next_tick = 0;
	long status = 0;
	int rc, running = 1;

	if ((rc = call_begin(d, 2 * CONNECT_TIMEOUT_MS, &deadline, err)) != CODE_OK)
		return rc;
	if (h == NULL || h->on_event == NULL || stop == NULL)
		return fail(err, BERTH__V1__CODE__INVALID_ARGUMENT, "docker_events_follow: no handler");
	if ((rc = negotiate(d, deadline, err)) != CODE_OK)
		return rc;
	if ((rc = events_path(&path, types, label_filter, err)) != CODE_OK)
		goto out;
	buf_printf(&url, "%s/v%s%s", d->base_url, d->version, path.data);
	if (url.data == NULL || url.no_memory || url.too_large) {
		rc = fail_memory(err);
		goto out;
	}
	if ((easy = curl_easy_init()) == NULL || (m = curl_multi_init()) == NULL) {
		rc = fail_memory(err);
		goto out;
	}
	if (events_handle(d, easy, url.data, &s, errbuf) != 0 ||
	    curl_multi_add_handle(m, easy) != CURLM_OK) {
		rc = fail(err, BERTH__V1__CODE__INTERNAL, "docker: cannot set up curl");
		goto out;
	}
	added = true;

	while (running) {
		CURLMcode mc;

		if (atomic_load(stop)) {
			stopped = true;
			break;
		}
		if ((mc = curl_multi_perform(m, &running)) != CURLM_OK) {
			rc = fail(err, BERTH__V1__CODE__INTERNAL, "docker: %s", curl_multi_strerror(mc));
			goto out;
		}
		if (!connected && s.headers_done) {
			curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
			if (status == 200) {
				connected = true;
				next_tick = clock_monotonic_ms() + EVENTS_POLL_MS;
				if (h->on_connected != NULL && h->on_connected(h->arg) != 0) {
					stopped = true;
					break;
				}
			}
		}
		if (!connected && s.paused) {
			/* An error answer with more than a line's worth of text. */
			s.line_too_large = true;
			rc = events_result(d, cc, status, connected, &s, errbuf, err);
			goto out;
		}
		if (connected) {
			if (events_dispatch(&s, h, false) != 0) {
				stopped = true;
				break;
			}
			if (s.paused) {
				s.paused = false;
				curl_easy_pause(easy, CURLPAUSE_CONT); /* may call events_write again */
				continue;
			}
			if (h->on_tick != NULL && clock_monotonic_ms() >= next_tick) {
				next_tick = clock_monotonic_ms() + EVENTS_POLL_MS;
				if (h->on_tick(h->arg) != 0) {
					stopped = true;
					break;
				}
			}
		}
		if (running && (mc = curl_multi_poll(m, NULL, 0, EVENTS_POLL_MS, NULL)) != CURLM_OK) {
			rc = fail(err, BERTH__V1__CODE__INTERNAL, "docker: %s", curl_multi_strerror(mc));
			goto out;
		}
	}
	if (stopped) {
		memset(err, 0, sizeof(*err));
		rc = CODE_OK;
		goto out;
	}
	for (CURLMsg *msg; (msg = curl_multi_info_read(m, &(int){ 0 })) != NULL;)
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == easy)
			cc = msg->data.result;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	if (connected && status == 200 && events_dispatch(&s, h, true) != 0) {
		memset(err, 0, sizeof(*err));
		rc = CODE_OK;
		goto out;
	}
	rc = events_result(d, cc, status, connected, &s, errbuf, err);
out:
	if (added)
		curl_multi_remove_handle(m, easy);
	curl_easy_cleanup(easy);
	curl_multi_cleanup(m);
	buf_free(&s.data);
	buf_free(&path);
	buf_free(&url);
	return rc;
}

/* --- the generic call, for docker_swarm.c ------------------------------------ */

int
docker_api_request(struct docker *d, const char *method, const char *path,
    const char *json_body, size_t limit, char **body, size_t *len, int64_t timeout_ms,
    struct error *err)
{
	return docker_api_call(d, method, path, json_body, limit, body, len, NULL, timeout_ms, err);
}

int
docker_api_call(struct docker *d, const char *method, const char *path, const char *json_body,
    size_t limit, char **body, size_t *len, long *status, int64_t timeout_ms, struct error *err)
{
	struct request rq = { method, path, true, NULL, NULL, 0 };
	struct reply r;
	int64_t deadline;
	int rc;

	if (body != NULL)
		*body = NULL;
	if (len != NULL)
		*len = 0;
	if (status != NULL)
		*status = 0;
	if ((rc = call_begin(d, timeout_ms, &deadline, err)) != CODE_OK)
		return rc;
	if (method == NULL || path == NULL || path[0] != '/')
		return fail(err, BERTH__V1__CODE__INVALID_ARGUMENT, "docker: bad request path");
	if (json_body != NULL) {
		rq.content_type = "application/json";
		rq.data = json_body;
		rq.len = strlen(json_body);
	}
	reply_init(&r, limit != 0 ? limit : BODY_MAX, false);
	rc = api_call(d, &rq, deadline, &r, err);
	if (status != NULL)
		*status = r.status;
	if (rc == CODE_OK && body != NULL) {
		if (r.body.data == NULL && buf_reserve(&r.body, 0) != 0) {
			rc = fail_memory(err);
		} else {
			*body = r.body.data;
			if (len != NULL)
				*len = r.body.len;
			r.body.data = NULL;
		}
	}
	buf_free(&r.body);
	return rc;
}
