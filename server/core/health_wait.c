/*
 * health_wait.c - LaunchService's wait_healthy: the call waits, on its
 * worker, until the service is healthy, reading the registry the health
 * monitor and the supervisor write (health_monitor.h).
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "core/berthd.h"
#include "core/health_monitor.h"
#include "core/lifecycle.h"

#define POLL_MS 100
#define ANSWER_MARGIN_MS 300 /* kept from the deadline to answer in time */
#define LOG_LINES 10
#define SETTLE_MS 1000       /* without a check: running this long without a restart */

/* FAILED_PRECONDITION with why, the last probe's error and the last log lines. */
static int
not_healthy(struct call *call, const Berth__V1__Service *s, const char *why)
{
	struct backend *b = &call_berthd(call)->backend;
	struct error err = { 0 };
	char *logs = NULL;

	if (b->ops->logs(b, s->container_id[0] != '\0' ? s->container_id : s->container_name,
		LOG_LINES, &logs, 5000, &err) != 0)
		logs = NULL;
	call_fail_detail(call, BERTH__V1__CODE__FAILED_PRECONDITION, "wait_healthy", "NOT_HEALTHY",
	    "service %s is %s (health %s%s%s, restarts %u, supervisor %s); it is kept and the "
	    "supervisor goes on. Last log lines:\n%s",
	    s->service_id, why, s->health, s->health_message[0] != '\0' ? ": " : "",
	    s->health_message, s->restarts, s->supervisor,
	    logs != NULL && logs[0] != '\0' ? logs : "(none)\n");
	free(logs);
	return call->error.code;
}

/*
 * What the engine says now, not the row: on swarm the row says "running"
 * once the launch has handed the service over, also when the launch gave
 * up waiting for a task that cannot be scheduled; Swarm's service runs only
 * with a task running (and, with an exec check, passing it).
 */
static bool
runs_now(struct call *call, const Berth__V1__Service *s)
{
	struct backend *b = &call_berthd(call)->backend;
	struct docker_container c;
	struct error err = { 0 };

	return b->ops->inspect(b, s->container_id[0] != '\0' ? s->container_id : s->container_name,
		   &c, call_remaining_ms(call) < 5000 ? call_remaining_ms(call) : 5000, &err) == 0 &&
	    strcmp(c.state, "running") == 0;
}

/* Whether the wait is over: 0 done, 1 go on, else the call's failure. */
static int
verdict(struct call *call, const Berth__V1__Service *s, bool checked, int64_t *ran_since)
{
	int64_t now = clock_monotonic_ms();

	if (checked) {
		if (strcmp(s->health, "healthy") == 0)
			return 0;
		if (strcmp(s->health, "unhealthy") == 0)
			return -1;
	} else if (strcmp(s->status, "running") == 0 && s->restarts == 0) {
		if (*ran_since < 0)
			*ran_since = now;
		if (now - *ran_since >= SETTLE_MS && runs_now(call, s))
			return 0;
	} else {
		*ran_since = -1;
	}
	return 1;
}

int
health_wait(struct call *call, const char *service_id, Berth__V1__Service **out)
{
	struct registry *reg = call_registry(call);
	Berth__V1__Template *t = NULL;
	Berth__V1__Service *s = NULL;
	int64_t ran_since = -1;
	bool checked;
	struct arena scratch;
	int v = 1;

	if (registry_service_get(reg, &call->arena, service_id, &s) != 0)
		return call_fail_error(call, registry_error(reg));
	checked = registry_template_get(reg, &call->arena, s->template_, &t) == 0 &&
	    health_checked_by_berth(call_berthd(call), t);
	/* Polls in a scratch arena: a long wait must not grow the call's. */
	arena_init(&scratch);
	for (;;) {
		if ((v = verdict(call, s, checked, &ran_since)) <= 0 ||
		    strcmp(s->supervisor, "failed") == 0 ||
		    clock_monotonic_ms() + POLL_MS + ANSWER_MARGIN_MS >= call->deadline_ms)
			break;
		clock_sleep_ms(POLL_MS);
		arena_reset(&scratch);
		if (registry_service_get(reg, &scratch, service_id, &s) != 0) {
			arena_reset(&scratch);
			return call_fail_error(call, registry_error(reg));
		}
	}
	arena_reset(&scratch);
	/* The answer's copy lives in the call's arena. */
	if (registry_service_get(reg, &call->arena, service_id, &s) != 0)
		return call_fail_error(call, registry_error(reg));
	*out = s;
	lifecycle_set_url(call, s);
	if (v == 0)
		return 0;
	if (v < 0)
		return not_healthy(call, s, "unhealthy");
	if (strcmp(s->supervisor, "failed") == 0)
		return not_healthy(call, s, "down: berth gave up restarting it");
	return not_healthy(call, s, "not healthy within the call's deadline");
}
