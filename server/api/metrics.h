/*
 * metrics.h - berthd's counters and the HTTP endpoint that shows them.
 *
 * Counting is lock-free (relaxed atomics in static storage): any thread may
 * call metrics_rpc_observe at any time, even before metrics_server_start or
 * without it; it costs a few atomic adds. The Docker counters are kept where
 * they are counted (docker_failures_total in engine/docker.h,
 * event_follower_reconnects_total in core/event_follower.h) and read here.
 *
 * The page is served by the HTTP layer (server/http/http_server.h) on
 * --metrics-listen, GET /metrics in Prometheus text format 0.0.4, beside
 * /healthz; gauges come from the registry through the HTTP worker's own
 * connection.
 */
#ifndef BERTH_METRICS_H
#define BERTH_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"

struct registry;

/*
 * One finished RPC: `method` as the client sent it (a path or bare name;
 * anything unknown is counted as method="unknown"), its berth status code
 * and how long it took. Called once per request by the RPC workers.
 */
void metrics_rpc_observe(const char *method, int code, int64_t duration_us);

struct backend;

/* The backend whose engine the page names (berth_engine_info); main thread, at start-up. */
void metrics_set_backend(struct backend *b);

/*
 * Writes the whole /metrics page into *out (malloc'ed, NUL-terminated; the
 * caller frees it), with gauges from `reg` when it is not NULL. The caller
 * serialises use of reg. Returns 0, or -1 when out of memory.
 */
int metrics_render(struct registry *reg, char **out, size_t *len);

/*
 * GET /metrics on an HTTP worker: with need_token (the page shares its
 * listener with the JSON gateway and authentication is on) `token` must be
 * a valid token of at least the viewer role, checked on `reg`. Returns 0
 * with *page (malloc'ed, the caller frees it) and *len, or UNAUTHENTICATED,
 * PERMISSION_DENIED, RESOURCE_EXHAUSTED with err filled.
 */
int metrics_serve(struct registry *reg, const char *token, bool need_token, char **page,
    size_t *len, struct error *err);

#endif
