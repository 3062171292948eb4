/*
 * http_server.h - one HTTP listener of berthd, on GNU libmicrohttpd: the
 * JSON gateway (--http-listen), /metrics (--metrics-listen), /healthz, the
 * OpenAPI document and the web console's files. One HTTP stack for all.
 *
 *   POST /v1/<Method>   the RPC <Method> of the proto, JSON in and out
 *                       (gateway.h), through rpc_server_submit: the same
 *                       size limit, authorization, audit, deduplication
 *                       and dispatch as a call over nng
 *   GET /v1/openapi.json  the OpenAPI 3 document (openapi.h)
 *   GET /metrics        Prometheus text (with `metrics`; a viewer token
 *                       when `metrics_need_token`)
 *   GET /healthz        200 "ok", 503 "shutting down"
 *   GET /anything-else  the console's files, from hooks->asset (API only)
 *
 * Refused before anything runs, with the JSON error body of http_answer.h:
 * a Host or Origin this listener does not serve (403, http_hosts.h), a
 * body over max_request_bytes (413, never buffered past the limit), a POST
 * without Content-Type: application/json (415), query parameters on /v1/
 * (400: tokens are never taken from URLs), an unknown method (404,
 * UNIMPLEMENTED), another HTTP method (405 with Allow). Every answer
 * carries a strict Content-Security-Policy, nosniff and no-referrer; API
 * answers are never cached.
 *
 * Threads: libmicrohttpd's one polling thread reads and writes every
 * connection; a complete request to /v1/<Method> or /metrics suspends its
 * connection and becomes a job for the listener's workers (http_jobs.h),
 * and the answer resumes it, from a worker or from whichever thread
 * completes a parked call (rpc_server_submit). A connection waiting for
 * its answer holds no thread. Connections are capped in number, per
 * address, and closed after timeout_s without traffic (a client that
 * stalls in the middle of a request included).
 */
#ifndef BERTH_HTTP_SERVER_H
#define BERTH_HTTP_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rpc/rpc_server.h"
#include "rpc/tls_listener.h"
#include "error.h"

struct rpc_server;
struct http_server;

struct http_server_config {
	const char *option;               /* the flag that named the URL ("http-listen"): for messages */
	const char *url;                  /* http://HOST:PORT or https://HOST:PORT (http_url.h) */
	bool api;                         /* /v1/..., the console */
	bool metrics;                     /* /metrics */
	bool metrics_need_token;          /* /metrics needs a viewer token */
	struct tls_files tls;             /* https: certificate and key */
	const char *const *allowed_hosts; /* added to the defaults (http_hosts.h) */
	size_t n_allowed_hosts;
	size_t max_request_bytes;        /* larger bodies: 413 */
	unsigned max_connections;        /* 0: no cap */
	unsigned max_connections_per_ip; /* 0: no cap */
	unsigned timeout_s;              /* a connection silent this long is closed; 0: never */
	int workers;                     /* threads running complete requests */
};

struct http_server_hooks {
	void *app;
	struct rpc_server *rpc; /* where /v1/<Method> calls go */
	/*
	 * How they go: rpc_server_submit's contract (rpc_server.h); NULL is
	 * rpc_server_submit itself. Tests put a fake here that parks calls.
	 */
	int (*submit)(struct rpc_server *rpc, void *worker, int peer_family, const char *peer,
	    const void *data, size_t len, rpc_done_fn done, void *arg);
	const atomic_bool *shutting_down; /* /healthz says 503 once true */
	/*
	 * GET /metrics, on a worker (`worker`: its RPC worker state). `token`
	 * is the bearer token or NULL; with need_token a viewer's is needed.
	 * Returns OK with *page (malloc'ed; the server frees it), or a code
	 * (UNAUTHENTICATED, PERMISSION_DENIED, ...) with err filled.
	 */
	int (*metrics)(void *app, void *worker, const char *token, bool need_token, char **page,
	    size_t *len, struct error *err);
	/*
	 * The console's files: true with the file at URL `path` ("/",
	 * "/app.js"), whose bytes stay valid for the life of the process.
	 * NULL: no console (404). Any thread.
	 */
	bool (*asset)(const char *path, const char **content_type, const void **data, size_t *len);
};

/*
 * Listens on config->url and starts the workers. The hooks must outlive
 * the server. Returns 0, or -1 with the reason in err (nothing running).
 * Main thread.
 */
int http_server_start(struct http_server **out, const struct http_server_config *config,
    const struct http_server_hooks *hooks, struct error *err);

/* The port bound (the URL's, or the kernel's choice for port 0). */
uint16_t http_server_port(const struct http_server *s);

/*
 * Stops: requests not yet run and calls still parked answer 503, the
 * workers finish what they run, the listener closes. Before
 * rpc_server_stop (the workers hold RPC worker states); a parked call's
 * late answer, from its last run in rpc_server_stop, is taken and dropped,
 * and the last of them frees what the server leaves. NULL-safe. Main
 * thread.
 */
void http_server_stop(struct http_server *s);

#endif
