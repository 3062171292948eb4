/*
 * metrics.h - berthd's counters and the HTTP endpoint that shows them.
 *
 * Counting is lock-free (relaxed atomics in static storage): any thread may
 * call metrics_rpc_observe at any time, even before metrics_server_start or
 * without it; it costs a few atomic adds. The Docker counters are kept where
 * they are counted (docker_failures_total in engine/docker.h,
 * event_follower_reconnects_total in core/event_follower.h) and read here.
 *
 * The endpoint is nng's own HTTP server on --metrics-listen:
 *   GET /metrics  Prometheus text exposition format 0.0.4
 *   GET /healthz  200 "ok" while serving, 503 "shutting down" after
 * Its handlers run on nng's threads. Gauges come from the registry through a
 * connection of their own, opened for the endpoint and guarded by a mutex.
 */
#ifndef BERTH_METRICS_H
#define BERTH_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"

struct registry;
struct metrics_server;

/*
 * One finished RPC: `method` as the client sent it (a path or bare name;
 * anything unknown is counted as method="unknown"), its berth status code
 * and how long it took. Called once per request by the RPC workers.
 */
void metrics_rpc_observe(const char *method, int code, int64_t duration_us);

/*
 * Writes the whole /metrics page into *out (malloc'ed, NUL-terminated; the
 * caller frees it), with gauges from `reg` when it is not NULL. The caller
 * serialises use of reg. Returns 0, or -1 when out of memory.
 */
int metrics_render(struct registry *reg, char **out, size_t *len);

/*
 * Serves /metrics and /healthz on `url` (http://HOST:PORT). Opens its own
 * connection to the registry at db_path; /healthz answers 503 once
 * *shutting_down is true. Returns 0, or -1 with the reason in err.
 * Main thread.
 */
int metrics_server_start(struct metrics_server **out, const char *url, const char *db_path,
    const atomic_bool *shutting_down, struct error *err);

/* Stops serving and frees everything. NULL-safe. Main thread. */
void metrics_server_stop(struct metrics_server *m);

#endif
