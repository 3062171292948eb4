/*
 * swarm_policy.h - how a template's policies map onto a Swarm service's:
 * the restart policy onto TaskTemplate.RestartPolicy, and how long Swarm
 * watches a new task during an update (UpdateConfig.Monitor). Pure
 * functions (no Docker, no state): backend_swarm.c and the unit tests.
 */
#ifndef BERTH_SWARM_POLICY_H
#define BERTH_SWARM_POLICY_H

#include <stdint.h>

#include "berth/v1/berth.pb-c.h"

/* Swarm's restart delay: fixed, Swarm has no growing backoff as berthd has. */
#define SWARM_RESTART_DELAY_NS 1000000000LL

/* Margin added to the health check's own budget in swarm_update_monitor_ns. */
#define SWARM_MONITOR_MARGIN_S 5
/* Monitor without a health check: a task that exits this soon fails the update. */
#define SWARM_MONITOR_MIN_S 5

struct swarm_restart_policy {
	const char *condition; /* "none", "on-failure" or "any" */
	uint64_t max_attempts;
	int64_t window_ns;
	int64_t delay_ns;
};

/*
 * restart (the launch's override when not NULL or "", else the template's)
 * as Swarm's RestartPolicy: no -> none, on-failure -> on-failure, always ->
 * any; MaxAttempts and Window from max_restarts and restart_window_s (0:
 * berth's defaults, 5 and 600 s); Delay 1 s.
 */
void swarm_restart_policy(const Berth__V1__Template *t, const char *restart,
    struct swarm_restart_policy *out);

/*
 * UpdateConfig.Monitor for an update to revision t, in ns: with a health
 * check start_period + interval x retries + timeout + a margin (Swarm counts
 * a task failed only when it turns unhealthy within Monitor); without one
 * min_ready_s (at least SWARM_MONITOR_MIN_S).
 */
int64_t swarm_update_monitor_ns(const Berth__V1__Template *t, uint32_t min_ready_s);

#endif
