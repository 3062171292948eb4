/*
 * shutdown.c - stop or remove every service of berthd on the way out.
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "core/berthd.h"
#include "core/cleanup.h"
#include "clock.h"
#include "core/events.h"
#include "core/fleet.h"
#include "core/lifecycle.h"
#include "base/log.h"
#include "core/shutdown.h"
#include "core/survey.h"

/* Generous: twenty stops run in parallel, but one may wait an hour's timeout. */
#define SHUTDOWN_TIMEOUT_MS (3600 * 1000)

static int
remove_all(struct call *call, atomic_bool *kill_now)
{
	uint32_t containers = 0, rows = 0;
	size_t n_errors = 0;
	char **errors = NULL;

	if (cleanup_everything(call, kill_now, &containers, &rows, &errors, &n_errors) != 0) {
		log_error("shutdown could not clean up error=\"%s\"", call->error.message);
		return -1;
	}
	for (size_t i = 0; i < n_errors; i++)
		log_warn("shutdown error=\"%s\"", errors[i]);
	log_info("shutdown removed containers=%u rows=%u errors=%zu", containers, rows, n_errors);
	return n_errors == 0 ? 0 : -1;
}

static int
stop_all(struct call *call, atomic_bool *kill_now)
{
	struct berthd *d = call_berthd(call);
	struct fleet_item *items;
	size_t *row_of;
	size_t n = 0;
	unsigned stopped = 0, failed = 0;
	struct survey s;

	if (survey_take(call, &s) != 0) {
		log_error("shutdown could not stop services error=\"%s\"", call->error.message);
		return -1;
	}
	items = ARENA_ARRAY(&call->arena, struct fleet_item, s.n_rows + 1);
	row_of = ARENA_ARRAY(&call->arena, size_t, s.n_rows + 1);
	for (size_t i = 0; i < s.n_rows; i++) {
		const struct docker_container *c = survey_container(&s, i);
		Berth__V1__Template *t;
		int timeout = LIFECYCLE_STOP_TIMEOUT_S;

		if (c == NULL || strcmp(c->state, "running") != 0)
			continue;
		if (registry_template_get(call_registry(call), &call->arena, s.rows[i]->template_, &t) ==
			0 && t->stop_timeout_s != 0)
			timeout = (int)t->stop_timeout_s;
		row_of[n] = i;
		items[n++] = (struct fleet_item){ .ref = arena_strdup(&call->arena, c->id),
			.stop_timeout_s = timeout };
	}
	fleet_run(&d->backend, FLEET_STOP, items, n, SHUTDOWN_TIMEOUT_MS, kill_now);
	for (size_t k = 0; k < n; k++) {
		Berth__V1__Service *row = s.rows[row_of[k]];

		if (items[k].code != 0) {
			log_warn("shutdown could not stop service=%s error=\"%s\"", row->service_id,
			    items[k].message);
			failed++;
			continue;
		}
		registry_service_update(call_registry(call), row->service_id, STATUS_STOPPED, NULL);
		row->status = STATUS_STOPPED;
		event_publish(&d->events, BERTH__V1__EVENT__TYPE__SERVICE_STOPPED, row, NULL,
		    "stopped by shutdown");
		stopped++;
	}
	survey_release(&s);
	log_info("shutdown stopped services=%u failed=%u", stopped, failed);
	return failed == 0 ? 0 : -1;
}

void
shutdown_run(struct berthd *d, struct registry *reg, const char *policy, atomic_bool *kill_now)
{
	struct call call;
	int64_t started = clock_monotonic_ms();
	int rc;

	event_publish(&d->events, BERTH__V1__EVENT__TYPE__SHUTDOWN_BEGUN, NULL, NULL,
	    "shutdown begun, on-exit %s", policy);
	if (strcmp(policy, "keep") != 0) {
		if (registry_shutdown_begin(reg, policy) != 0)
			log_warn("cannot record the shutdown error=\"%s\"", registry_error(reg)->message);
		call_init(&call, "shutdown", d, reg, SHUTDOWN_TIMEOUT_MS);
		rc = strcmp(policy, "remove") == 0 ? remove_all(&call, kill_now)
						   : stop_all(&call, kill_now);
		call_finish(&call);
		/* Unfinished work stays recorded: the next start finishes it. */
		if (rc == 0)
			registry_shutdown_done(reg);
	}
	event_publish(&d->events, BERTH__V1__EVENT__TYPE__SHUTDOWN_DONE, NULL, NULL,
	    "shutdown done in %lld ms", (long long)(clock_monotonic_ms() - started));
	log_info("shutdown policy=%s cleanup_ms=%lld", policy,
	    (long long)(clock_monotonic_ms() - started));
}

void
shutdown_resume(struct berthd *d, struct registry *reg)
{
	char policy[16];

	if (registry_shutdown_pending(reg, policy, sizeof(policy)) != 0)
		return;
	log_warn("finishing the shutdown the last berthd left half done on_exit=%s", policy);
	shutdown_run(d, reg, policy, NULL);
	/*
	 * One attempt only. A record still there now (Docker unreachable, a
	 * container that would not go) would be carried out again at every
	 * later start, removing the services launched in the meantime.
	 */
	if (registry_shutdown_pending(reg, policy, sizeof(policy)) == 0) {
		log_error("could not finish the interrupted shutdown on_exit=%s; its services stay "
			  "registered (berth cleanup --force removes them)",
		    policy);
		registry_shutdown_done(reg);
	}
}

void
shutdown_request(void)
{
	/* main() waits for this signal in sigwait(); it is blocked everywhere else. */
	kill(getpid(), SIGTERM);
}
