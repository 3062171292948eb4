/*
 * docker_client.c - the client of the Docker Engine API itself: opening it
 * for a unix:// or tcp:// host, the API version negotiated once, ping, the
 * start of every call, and the count of failures the backends report.
 *
 * Threads: docker_open and docker_close on the main thread; everything
 * else on any thread. The only shared mutable state is the negotiated API
 * version, written once under `lock` and published by `negotiated`, and
 * the failure counter (an atomic).
 */
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "clock.h"
#include "engine/docker_internal.h"

#define DEFAULT_HOST "unix:///var/run/docker.sock"

/* The API versions berth speaks: the oldest engine it accepts, the newest it asks for. */
#define API_MIN_MAJOR 1
#define API_MIN_MINOR 40
#define API_MAX_MAJOR 1
#define API_MAX_MINOR 43

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

/* What docker_counted counted: berth_docker_errors_total. */
static _Atomic uint64_t failures;

static void
curl_init_once(void)
{
	/*
	 * libcurl's start-up has OpenSSL load the text of all its error codes
	 * (0.6 MB of RSS in idle berthd). OpenSSL's errors only ever reach a
	 * message through a TLS connection to Docker, and that takes
	 * DOCKER_TLS or DOCKER_TLS_VERIFY: without either, OpenSSL is told
	 * first not to load them. It still reads its configuration as before.
	 */
	if (!docker_tls_wanted())
		OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS, NULL);
	curl_init_result = curl_global_init(CURL_GLOBAL_ALL);
}

int
docker_counted(int code)
{
	if (code != DOCKER_OK && code != BERTH__V1__CODE__NOT_FOUND)
		atomic_fetch_add_explicit(&failures, 1, memory_order_relaxed);
	return code;
}

uint64_t
docker_failures_total(void)
{
	return atomic_load_explicit(&failures, memory_order_relaxed);
}

/* --- open / close ---------------------------------------------------------- */

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
	struct docker_buf b = { .limit = 4096 };

	if (hostlen == 0)
		return NULL;
	docker_buf_printf(&b, "%s://%.*s", tls ? "https" : "http", (int)hostlen, rest);
	if (!has_port)
		docker_buf_printf(&b, ":%d", tls ? 2376 : 2375);
	if (slash != NULL) {
		size_t baselen = strlen(slash);
		while (baselen > 0 && slash[baselen - 1] == '/')
			baselen--;
		docker_buf_printf(&b, "%.*s", (int)baselen, slash);
	}
	if (b.no_memory || b.too_large) {
		docker_buf_free(&b);
		return NULL;
	}
	return b.data;
}

/*
 * The engine when nothing names one: Docker's socket, else Podman's (its
 * root service, or an ordinary user's rootless one) when only that exists.
 */
static const char *
default_host(char *buf, size_t len)
{
	const char *run = getenv("XDG_RUNTIME_DIR");

	if (access("/var/run/docker.sock", F_OK) == 0)
		return DEFAULT_HOST;
	if (geteuid() == 0 && access("/run/podman/podman.sock", F_OK) == 0)
		return "unix:///run/podman/podman.sock";
	if (geteuid() != 0 && run != NULL && run[0] == '/') {
		snprintf(buf, len, "unix://%s/podman/podman.sock", run);
		if (access(buf + 7, F_OK) == 0)
			return buf;
	}
	return DEFAULT_HOST;
}

int
docker_open(struct docker **out, const char *host, struct error *err)
{
	char podman[4200];
	struct docker *d;
	const char *env = getenv("DOCKER_HOST");

	*out = NULL;
	error_clear(err);
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_result != CURLE_OK) {
		error_set(err, BERTH__V1__CODE__INTERNAL, "curl_global_init: %s",
		    curl_easy_strerror(curl_init_result));
		return -1;
	}
	if (host == NULL || *host == '\0')
		host = env != NULL && *env != '\0' ? env : default_host(podman, sizeof(podman));
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		error_set(err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
		return -1;
	}
	pthread_mutex_init(&d->lock, NULL);
	atomic_init(&d->negotiated, false);
	if (strncmp(host, "unix://", 7) == 0) {
		if (host[7] != '/') {
			error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
			    "docker host %s: unix:// needs an absolute path",
			    host);
			goto fail;
		}
		d->socket_path = strdup(host + 7);
		d->base_url = strdup("http://localhost");
		if (d->socket_path == NULL || d->base_url == NULL)
			goto no_memory;
	} else if (strncmp(host, "tcp://", 6) == 0) {
		if (docker_tls_from_env(&d->tls) != 0)
			goto no_memory;
		if ((d->base_url = tcp_base_url(host + 6, d->tls.on)) == NULL) {
			error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
			    "docker host %s: no host name", host);
			goto fail;
		}
	} else {
		error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "docker host %s: only unix:// and tcp:// are supported",
		    host);
		goto fail;
	}
	*out = d;
	return 0;
no_memory:
	error_set(err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
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
	docker_tls_free(&d->tls);
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

const char *
docker_engine(struct docker *d)
{
	if (d == NULL || !atomic_load_explicit(&d->negotiated, memory_order_acquire))
		return "";
	return d->engine;
}

bool
docker_is_podman(struct docker *d)
{
	return strncmp(docker_engine(d), "podman ", 7) == 0;
}

/* "podman 4.3.1" when /version names a Podman Engine component, else "docker VERSION". */
static void
engine_name(const json_t *version, char *out, size_t len)
{
	const json_t *components = json_object_get(version, "Components");
	const char *v = docker_json_text(version, "Version");
	size_t i;
	json_t *c;

	json_array_foreach(components, i, c) {
		const char *name = docker_json_text(c, "Name");

		if (name != NULL && strcmp(name, "Podman Engine") == 0) {
			const char *pv = docker_json_text(c, "Version");

			snprintf(out, len, "podman %.40s", pv != NULL ? pv : "?");
			return;
		}
	}
	snprintf(out, len, "docker %.40s", v != NULL ? v : "?");
}

int
docker_begin(struct docker *d, int64_t timeout_ms, int64_t *deadline, struct error *err)
{
	error_clear(err);
	if (d == NULL)
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "docker: no client");
	if (timeout_ms <= 0)
		return error_set(err, BERTH__V1__CODE__DEADLINE_EXCEEDED,
		    "deadline exceeded before calling Docker");
	if (timeout_ms > INT64_MAX / 4)
		timeout_ms = INT64_MAX / 4;
	*deadline = clock_monotonic_ms() + timeout_ms;
	return DOCKER_OK;
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

/*
 * Negotiates the API version once per client: GET /version, then
 * min(server, 1.43), refusing engines older than 1.40. Concurrent first
 * calls may each ask; the first answer is kept. Nobody waits on another's
 * request, so no call blocks past its own deadline.
 */
int
docker_negotiate(struct docker *d, int64_t deadline, struct error *err)
{
	struct docker_request rq = { .method = "GET", .unversioned = true,
	    .answer = DOCKER_ANSWER_TEXT };
	struct docker_response resp;
	json_t *o = NULL;
	int maj, min, min_maj, min_min, rc;

	if (atomic_load_explicit(&d->negotiated, memory_order_acquire))
		return DOCKER_OK;
	docker_path_add(&rq.path, "/version");
	if ((rc = docker_request(d, &rq, deadline, &resp, err)) != DOCKER_OK)
		goto out;
	o = json_loadb(resp.text, resp.len, 0, NULL);
	if (parse_version(docker_json_text(o, "ApiVersion"), &maj, &min) != 0) {
		rc = error_set(err, BERTH__V1__CODE__INTERNAL,
		    "Docker's /version has no ApiVersion");
		goto out;
	}
	if (version_cmp(maj, min, API_MIN_MAJOR, API_MIN_MINOR) < 0) {
		rc = error_set(err, BERTH__V1__CODE__FAILED_PRECONDITION,
		    "Docker Engine API %d.%d is older than %d.%d, the oldest berth supports", maj,
		    min,
		    API_MIN_MAJOR, API_MIN_MINOR);
		goto out;
	}
	if (version_cmp(maj, min, API_MAX_MAJOR, API_MAX_MINOR) > 0) {
		maj = API_MAX_MAJOR;
		min = API_MAX_MINOR;
	}
	if (parse_version(docker_json_text(o, "MinAPIVersion"), &min_maj, &min_min) == 0 &&
	    version_cmp(min_maj, min_min, maj, min) > 0) {
		rc = error_set(err, BERTH__V1__CODE__FAILED_PRECONDITION,
		    "Docker Engine needs API %d.%d or newer; berth speaks up to %d.%d", min_maj,
		    min_min, API_MAX_MAJOR, API_MAX_MINOR);
		goto out;
	}
	pthread_mutex_lock(&d->lock);
	if (!atomic_load_explicit(&d->negotiated, memory_order_relaxed)) {
		snprintf(d->version, sizeof(d->version), "%d.%d", maj, min);
		engine_name(o, d->engine, sizeof(d->engine));
		atomic_store_explicit(&d->negotiated, true, memory_order_release);
	}
	pthread_mutex_unlock(&d->lock);
	rc = DOCKER_OK;
out:
	json_decref(o);
	docker_response_free(&resp);
	return rc;
}

/* --- ping, and any other call -------------------------------------------------- */

int
docker_ping(struct docker *d, int64_t timeout_ms, struct error *err)
{
	struct docker_request rq = { .method = "GET", .unversioned = true };
	struct docker_response resp;
	int64_t deadline;
	int rc;

	if ((rc = docker_begin(d, timeout_ms, &deadline, err)) != DOCKER_OK)
		return rc;
	docker_path_add(&rq.path, "/_ping");
	rc = docker_request(d, &rq, deadline, &resp, err);
	docker_response_free(&resp);
	if (rc != DOCKER_OK)
		return rc;
	return docker_negotiate(d, deadline, err);
}

int
docker_api_request(struct docker *d, const char *method, const char *path,
    const char *json_body, size_t limit, char **body, size_t *len, int64_t timeout_ms,
    struct error *err)
{
	struct docker_request rq = { .method = method, .limit = limit };
	struct docker_response resp;
	int64_t deadline;
	int rc;

	if (body != NULL)
		*body = NULL;
	if (len != NULL)
		*len = 0;
	rq.answer = body != NULL ? DOCKER_ANSWER_TEXT : DOCKER_ANSWER_NONE;
	if ((rc = docker_begin(d, timeout_ms, &deadline, err)) != DOCKER_OK)
		return rc;
	if (method == NULL || path == NULL || path[0] != '/')
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "docker: bad request path");
	docker_path_add(&rq.path, "%s", path);
	if (json_body != NULL) {
		rq.content_type = "application/json";
		rq.data = json_body;
		rq.len = strlen(json_body);
	}
	if ((rc = docker_request(d, &rq, deadline, &resp, err)) == DOCKER_OK && body != NULL) {
		*body = resp.text;
		if (len != NULL)
			*len = resp.len;
		resp.text = NULL;
	}
	docker_response_free(&resp);
	return rc;
}
