/*
 * health_monitor.h - berth probes every running service whose template has
 * a health check, and keeps Service.health.
 *
 * tcp and http probes connect to the container's own address and
 * container_port (not the published host port: Docker's userland proxy
 * accepts there even when nothing listens); they run on the prober's one
 * event-loop thread (prober.h). exec probes run Docker exec on a small pool
 * of threads, one probe per container at a time. No probe delays an RPC or
 * another probe beyond its own timeout.
 *
 * Verdicts: "starting" until the first success (failures within the start
 * period do not count), "healthy" after a success, "unhealthy" after
 * `retries` failures in a row. An unhealthy service whose restart policy
 * is not "no" is handed to the supervisor, which restarts it. Only changes
 * of verdict are written to the registry and published as events.
 */
#ifndef BERTH_CORE_HEALTH_MONITOR_H
#define BERTH_CORE_HEALTH_MONITOR_H

#include "base/call.h"

struct berthd;

/* Starts the monitor (main thread, after the supervisor). -1 when it cannot. */
int health_monitor_start(struct berthd *d);

/* Stops and joins it (main thread, before the supervisor stops). */
void health_monitor_stop(struct berthd *d);

/*
 * Whether berth itself probes services of template t: t has a check, and
 * it is not an exec check on a backend without Docker exec here (swarm:
 * there it is the tasks' Healthcheck, and Swarm reports a task running
 * only once that check passed).
 */
bool health_checked_by_berth(const struct berthd *d, const Berth__V1__Template *t);

/* Probes finished since start-up, and those that failed (metrics). */
uint64_t health_probes_total(void);
uint64_t health_probes_failed_total(void);

/*
 * LaunchService's wait_healthy, on the call's worker: waits within the
 * call's deadline until the service is healthy (with a check) or has run
 * max(start_period, 1 s) without a restart (without one). Otherwise
 * FAILED_PRECONDITION with the last probe's error and the container's last
 * log lines; the service stays, the supervisor goes on. *out is the
 * service as it is at the end.
 */
int health_wait(struct call *call, const char *service_id, Berth__V1__Service **out);

#endif
