/*
 * swarm_policy.c - a template's restart and update policies in Swarm's
 * terms (swarm_policy.h). Pure; any thread.
 */
#include <string.h>

#include "engine/swarm_policy.h"

#define NS_PER_S 1000000000LL
#define DEFAULT_MAX_RESTARTS 5      /* templates.c's, for a template read before defaults */
#define DEFAULT_RESTART_WINDOW_S 600

void
swarm_restart_policy(const Berth__V1__Template *t, const char *restart,
    struct swarm_restart_policy *out)
{
	const char *r = restart != NULL && restart[0] != '\0' ? restart : t->restart;

	if (r != NULL && strcmp(r, "no") == 0)
		out->condition = "none";
	else if (r != NULL && strcmp(r, "always") == 0)
		out->condition = "any";
	else
		out->condition = "on-failure"; /* "" means on-failure, as on the engine */
	out->max_attempts = t->max_restarts != 0 ? t->max_restarts : DEFAULT_MAX_RESTARTS;
	out->window_ns = (int64_t)(t->restart_window_s != 0 ? t->restart_window_s
							    : DEFAULT_RESTART_WINDOW_S) *
	    NS_PER_S;
	/* Swarm waits the same Delay before every restart: no doubling as berthd's supervisor. */
	out->delay_ns = SWARM_RESTART_DELAY_NS;
}

int64_t
swarm_update_monitor_ns(const Berth__V1__Template *t, uint32_t min_ready_s)
{
	const Berth__V1__HealthCheck *h = t->health;
	int64_t s;

	if (h != NULL && strcmp(h->kind, "exec") == 0)
		s = (int64_t)h->start_period_s + (int64_t)h->interval_s * h->retries +
		    (int64_t)h->timeout_s + SWARM_MONITOR_MARGIN_S;
	else
		s = min_ready_s > SWARM_MONITOR_MIN_S ? min_ready_s : SWARM_MONITOR_MIN_S;
	return s * NS_PER_S;
}
