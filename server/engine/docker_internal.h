/*
 * docker_internal.h - what the files of the Docker Engine API client share.
 * Only server/engine/docker*.c include it; the rest of the server sees
 * engine/docker.h and engine/docker_swarm.h.
 *
 *   docker_util.c          a growing buffer, request paths, jansson helpers,
 *                          the checks of ids and names that go into paths
 *   docker_tls.c           DOCKER_TLS, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH
 *   docker_client.c        open and close, the API version, ping, the failure count
 *   docker_http.c          the transport and the one request helper, docker_request
 *   docker_tar.c           build contexts tarred in memory (libarchive, dlopen'ed)
 *   docker_images.c        images: exists, build, pull, remove
 *   docker_containers.c    containers, their logs and stats
 *   docker_frames.c        multiplexed stdout/stderr frames, as they arrive
 *   docker_logs.c          log entries with their timestamps, one by one
 *   docker_exec.c          commands run in a container (probes, ExecService)
 *   docker_event_stream.c  GET /events, parsed into struct docker_event
 *   docker_services.c      Swarm services and their tasks
 *   docker_swarm.c         nodes, volumes, the swarm itself
 *
 * Every function with a struct error takes a non-NULL one and fills it on
 * failure with the codes docker.h lists.
 */
#ifndef BERTH_DOCKER_INTERNAL_H
#define BERTH_DOCKER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <curl/curl.h>
#include <jansson.h>

#include "berth/v1/berth.pb-c.h"
#include "engine/docker.h"
#include "error.h"

#define DOCKER_OK BERTH__V1__CODE__OK

#define DOCKER_CONNECT_TIMEOUT_MS 2000
#define DOCKER_BODY_MAX ((size_t)64 << 20)       /* an answer */
#define DOCKER_LOGS_MAX ((size_t)16 << 20)       /* an answer of logs */
#define DOCKER_STREAM_LINE_MAX ((size_t)1 << 20) /* one JSON object of a stream */
#define DOCKER_PATH_MAX 8192                     /* a request's path and query */

/* TLS to a tcp:// engine, as the docker CLI reads it from the environment. */
struct docker_tls {
	bool on;     /* https */
	bool verify; /* check the engine's certificate against ca_file */
	char *ca_file;
	char *cert_file;
	char *key_file;
};

struct docker {
	char *socket_path; /* unix socket; NULL for tcp */
	char *base_url;    /* "http://localhost", "https://host:2376" */
	struct docker_tls tls;

	pthread_mutex_t lock; /* taken only to write version */
	atomic_bool negotiated;
	char version[16]; /* "1.41"; constant once negotiated is set */
	char engine[64];  /* "docker 20.10.24", "podman 4.3.1"; as version */
};

/* --- docker_util.c ---------------------------------------------------------- */

/* A growing byte buffer, always NUL-terminated when data != NULL. */
struct docker_buf {
	char *data;
	size_t len;
	size_t cap;
	size_t limit; /* len never exceeds it: too_large instead */
	bool too_large;
	bool no_memory;
};

/* Room for `more` bytes (and a NUL); -1 (and the flag set) when not. */
int docker_buf_reserve(struct docker_buf *b, size_t more);
int docker_buf_append(struct docker_buf *b, const void *data, size_t len);
int docker_buf_printf(struct docker_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Frees the data and zeroes b (limit too). */
void docker_buf_free(struct docker_buf *b);

/*
 * The path and query of a request, without the version prefix. Built in
 * place; a path that does not fit sets `overflow`, and docker_request
 * refuses it (INVALID_ARGUMENT) rather than send half of it.
 */
struct docker_path {
	char text[DOCKER_PATH_MAX];
	size_t len;
	bool overflow;
};

/* Appends printf-style text; the caller has checked every id in it (docker_valid_ref). */
void docker_path_add(struct docker_path *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends `value` percent-encoded, for a query value. */
void docker_path_escaped(struct docker_path *p, const char *value);
/*
 * Appends "filters=" and the compact JSON of `filters`, percent-encoded.
 * NULL or an empty object appends nothing. Returns DOCKER_OK, or INTERNAL
 * when out of memory.
 */
int docker_path_filters(struct docker_path *p, const json_t *filters, struct error *err);

/*
 * {"k1":["v1"], "k2":["v2"]}, leaving out a NULL value; *out NULL when both
 * are. INVALID_ARGUMENT when a value is not UTF-8.
 */
int docker_filters(json_t **out, const char *k1, const char *v1, const char *k2, const char *v2,
    struct error *err);

/* Out of memory, as every file of the client says it. */
int docker_fail_memory(struct error *err);

/*
 * Container, service and volume ids and names go into URL paths: only
 * Docker's name characters are let through, so nothing can be smuggled
 * into the path or the query.
 */
bool docker_valid_ref(const char *s);

/* An image reference: name components, registry host:port, tag, digest. */
bool docker_valid_image_ref(const char *s);

/* A JSON array of strings; NULL when out of memory or a string is NULL or not UTF-8. */
json_t *docker_json_strings(const char *const *items, size_t n);

/* A JSON object of labels (a NULL value is ""); NULL as docker_json_strings. */
json_t *docker_json_labels(const struct docker_label *labels, size_t n);

struct docker_service_spec;
/*
 * A Swarm ServiceSpec as JSON (docker_services.c: create and update; the
 * unit tests); NULL when a string is not UTF-8 or out of memory. Caller decrefs.
 */
json_t *docker_service_body(const struct docker_service_spec *spec);

/* The string value of `key` in object `o`, or NULL. */
static inline const char *
docker_json_text(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* Copies src (NULL: "") into dst, cut to len - 1 bytes. */
static inline void
docker_copy_text(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src != NULL ? src : "");
}

/* An integer member as uint64_t; 0 when absent or negative. */
uint64_t docker_json_u64(const json_t *o, const char *key);

/* --- docker_tls.c ------------------------------------------------------------ */

/* True when DOCKER_TLS or DOCKER_TLS_VERIFY asks for TLS. */
bool docker_tls_wanted(void);

/* Fills tls from the environment. 0, or -1 when out of memory. */
int docker_tls_from_env(struct docker_tls *tls);

void docker_tls_free(struct docker_tls *tls);

/* curl's TLS options for tls (nothing when it is off). */
CURLcode docker_tls_options(const struct docker_tls *tls, CURL *h);

/* --- docker_client.c --------------------------------------------------------- */

/*
 * The start of every call: clears err, checks d and the time budget, and
 * sets *deadline (clock_monotonic_ms). timeout_ms <= 0 is DEADLINE_EXCEEDED.
 */
int docker_begin(struct docker *d, int64_t timeout_ms, int64_t *deadline, struct error *err);

/*
 * GET /version once per client: the API version every path is prefixed
 * with (docker_client.c); DOCKER_OK when known.
 */
int docker_negotiate(struct docker *d, int64_t deadline, struct error *err);

/* --- docker_http.c ------------------------------------------------------------ */

/*
 * The transport's options on an easy handle: url, timeouts (total 0: none),
 * the error buffer, the unix socket or TLS. Method, body and callbacks are
 * the caller's.
 */
CURLcode docker_curl_options(const struct docker *d, CURL *h, const char *url, long total_ms,
    long connect_ms, char *errbuf);

/* Whether a curl failure means the engine cannot be reached. */
bool docker_connect_failure(CURLcode cc);

/* UNAVAILABLE: "cannot reach Docker at <where>: why". */
int docker_unreachable(const struct docker *d, const char *why, struct error *err);

/*
 * A non-2xx answer as a berth code: 400 and 409 FAILED_PRECONDITION,
 * 401/403 PERMISSION_DENIED, 404 NOT_FOUND, 503 UNAVAILABLE, else
 * INTERNAL; the message is Docker's "message", or the body, or the status.
 */
int docker_http_error(long status, const char *body, size_t len, struct error *err);

/* What a request wants back. */
enum docker_answer {
	DOCKER_ANSWER_NONE,   /* nothing: the body is read and dropped */
	DOCKER_ANSWER_TEXT,   /* the body as text (resp->text) */
	DOCKER_ANSWER_JSON,   /* the body parsed (resp->json); malformed JSON is INTERNAL */
	DOCKER_ANSWER_STREAM, /* JSON lines (build, pull), consumed as they come */
	DOCKER_ANSWER_SINK,   /* a 2xx body handed to rq->sink as it comes (logs, exec) */
};

/*
 * DOCKER_ANSWER_SINK: called on the request's thread with the body read so
 * far (at most DOCKER_STREAM_LINE_MAX unconsumed bytes), and once more with
 * `final` at its end. It consumes what it can, moving the rest to the
 * front, and returns 0 to read on, 1 to end the request early as a success
 * (it has what it wants), -1 when out of memory. Only 2xx bodies reach it;
 * an error answer is mapped as usual.
 */
typedef int (*docker_sink_fn)(void *arg, struct docker_buf *body, bool final);

struct docker_request {
	const char *method;      /* "GET", "POST", "DELETE" */
	bool unversioned;        /* /_ping and /version: no /vX.Y, no negotiation */
	struct docker_path path; /* "/containers/json?all=1", without the version */
	const json_t *json;      /* a JSON body, or NULL; or else: */
	const void *data;        /* a raw body of `content_type` (NULL: none) */
	size_t len;
	const char *content_type;
	enum docker_answer answer;
	size_t limit; /* TEXT and JSON: the answer's cap; 0: DOCKER_BODY_MAX */
	docker_sink_fn sink; /* SINK */
	void *sink_arg;
	const char *header;  /* one more request header, "Name: value" (push: X-Registry-Auth); or NULL */
};

struct docker_response {
	long status; /* the HTTP status; 0 when no answer came */
	char *text;  /* TEXT: malloc'ed, NUL-terminated */
	size_t len;
	json_t *json;           /* JSON */
	char stream_error[512]; /* STREAM: the text of the last "error" object, or "" */
};

/*
 * The one request of the client: negotiates the API version when needed,
 * sends METHOD /vX.Y<path> with the body, reads the answer and maps any
 * status but 2xx and 304 (docker_http_error). resp is filled as far as the
 * answer came (status even on failure; text or json only on success) and
 * belongs to the caller: docker_response_free. Any thread.
 */
int docker_request(struct docker *d, const struct docker_request *rq, int64_t deadline,
    struct docker_response *resp, struct error *err);

/* Frees what docker_request put in r and zeroes it; NULL is fine. */
void docker_response_free(struct docker_response *r);

/* Fills one struct (a list's element, an inspect's result) from Docker's JSON object. */
typedef void (*docker_from_json_fn)(void *out, const json_t *o);

/*
 * docker_request for a JSON array (or, with `member`, an object whose
 * member of that name is the array, absent when empty) into *out: a
 * calloc'ed array of *n elements of `size` bytes, each filled by
 * from_json; NULL when empty (caller frees). `what` names the list in errors.
 */
int docker_request_list(struct docker *d, const struct docker_request *rq, const char *member,
    const char *what, size_t size, docker_from_json_fn from_json, void **out, size_t *n,
    int64_t deadline, struct error *err);

/*
 * GET prefix + ref + suffix ("/services/" ref ""), one object that
 * from_json turns into *out. A ref that docker_valid_ref refuses is
 * INVALID_ARGUMENT "invalid <what>".
 */
int docker_get_object(struct docker *d, const char *prefix, const char *ref, const char *suffix,
    const char *what, docker_from_json_fn from_json, void *out, int64_t timeout_ms,
    struct error *err);

/*
 * GET prefix (which may have a query already) with filters {k1:[v1],
 * k2:[v2]} (a NULL value is no filter): the list docker_request_list makes
 * of the answer into *out (calloc'ed, caller frees).
 */
int docker_get_list(struct docker *d, const char *prefix, const char *k1, const char *v1,
    const char *k2, const char *v2, const char *member, const char *what, size_t size,
    docker_from_json_fn from_json, void **out, size_t *n, int64_t timeout_ms, struct error *err);

/* METHOD path with a JSON body or none (NULL), the answer dropped. */
/*
 * Read-modify-write of a Swarm object's Spec (kind "services" or "nodes")
 * at the version read, read again when another update came between.
 * docker_services.c.
 */
int docker_spec_update(struct docker *d, const char *kind, const char *ref,
    int (*change)(json_t *spec, void *arg, struct error *err), void *arg,
    int64_t timeout_ms, struct error *err);

int docker_send(struct docker *d, const char *method, const char *path, const json_t *body,
    int64_t deadline, struct error *err);

/* --- docker_tar.c ------------------------------------------------------------ */

/*
 * Tars directory `dir` into *out (malloc'ed, *len bytes; caller frees),
 * paths relative to it, owned by root as the docker CLI sends them.
 * Symbolic links are stored as links, never followed.
 */
int docker_tar_context(const char *dir, char **out, size_t *len, struct error *err);

/* --- docker_containers.c ----------------------------------------------------- */

/*
 * Docker's multiplexed stdout/stderr frames (logs without a TTY) decoded in
 * place; returns the new length. Text that is not framed is left as it is.
 */
size_t docker_demultiplex(char *data, size_t len);

/*
 * GET rq's path of logs (containers or services): at most DOCKER_LOGS_MAX,
 * demultiplexed, into *out (malloc'ed, NUL-terminated; caller frees).
 */
/*
 * GET /<kind>/<ref>/logs ("containers" or "services"): the last `tail`
 * lines (0: all) of stdout and stderr, demultiplexed; *out malloc'ed.
 */
int docker_object_logs(struct docker *d, const char *kind, const char *ref, unsigned tail,
    char **out, int64_t timeout_ms, struct error *err);

int docker_read_logs(struct docker *d, struct docker_request *rq, char **out, int64_t deadline,
    struct error *err);

/* --- docker_frames.c ------------------------------------------------------------ */

/*
 * Docker's multiplexed stdout/stderr frames consumed as they arrive (a
 * DOCKER_ANSWER_SINK's body): each complete frame goes to fn(arg, stream,
 * payload, len); what is not yet complete stays in body. A body that does
 * not start as frames (a TTY's raw stream) is handed on line by line as
 * stream 1 (raw set for good). With final, a partial rest is handed on too.
 * Returns 0, or fn's first non-zero.
 */
typedef int (*docker_frame_fn)(void *arg, int stream, const char *data, size_t len);
int docker_frames_consume(struct docker_buf *body, bool final, bool *raw, docker_frame_fn fn,
    void *arg);

#endif
