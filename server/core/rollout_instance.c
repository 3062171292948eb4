/*
 * rollout_instance.c - one instance of a rollout: its container swapped for
 * one made from the rollout's revision, on the same name, port and
 * directory, and rolled back when the new one does not become ready.
 *
 * The steps, each journaled (store: registry_rollout_instance_set) before
 * the next begins:
 *   1. the service's lock; an instance an operator stopped or removed is
 *      skipped;
 *   2. the image made available; the old container renamed
 *      "<service_id>.old", the new one created (named <service_id>);
 *   3. the old one stopped (the port is free again) and the new one
 *      started at once; the row points at it, health "starting";
 *   4. the lock released (an operator may stop or remove meanwhile) and
 *      the wait: healthy by the health monitor's verdict within start
 *      period + interval x retries + a margin, or without a check running
 *      min_ready_s without a restart;
 *   5. the lock again: the old container removed and the row's revision
 *      and image recorded; or on failure the new container removed, the
 *      old one renamed back and started, the row as it was.
 * While it works the service is "busy" (rollout_busy): the supervisor
 * leaves it to the rollout and is asked to look again at the end.
 * A berthd killed -9 mid-swap may have a create or start in flight that
 * Docker finishes after the next berthd looked: every container of the
 * service but the one kept is removed when the swap ends either way.
 *
 * Threads: a rollout's swap threads, each with its own call and registry
 * connection; the main thread at start-up (rollout_swap_recover).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "base/log.h"
#include "core/berthd.h"
#include "core/events.h"
#include "core/lifecycle.h"
#include "core/lifecycle_internal.h"
#include "core/rollout.h"
#include "core/rollout_internal.h"
#include "core/service_lock.h"
#include "core/supervisor.h"
#include "core/templates.h"

#define POLL_MS 100
#define READY_MARGIN_MS 10000 /* beyond start period + interval x retries */
#define LOG_LINES 10
#define STEP_TIMEOUT_MS 60000
#define PORT_FREE_MS 10000 /* a removed container's port may be held a moment longer */

/* "<service_id>.old" in the call's arena. */
static const char *
old_name(struct call *call, const char *service_id)
{
	return arena_printf(&call->arena, "%s.old", service_id);
}

bool
rollout_is_old_name(const char *name)
{
	size_t n = strlen(name);

	return n > 4 && strcmp(name + n - 4, ".old") == 0;
}

void
rollout_journal(struct call *call, struct rollout_swap *sw, const char *state,
    const struct registry_rollout_step *step)
{
	if (registry_rollout_instance_set(call_registry(call), sw->rollout_id, sw->service_id, state,
		sw->message, step) != 0)
		log_warn("rollout journal not written rollout=%s service=%s error=\"%s\"",
		    sw->rollout_id, sw->service_id, registry_error(call_registry(call))->message);
}

/*
 * Removes every container of the service but `keep`: what a berthd killed
 * mid-swap left behind (a create or start it had sent, which Docker
 * finished after it died, maybe after this berthd looked). Whatever the
 * order of those requests, an instance is never doubled. 0, or -1 when
 * the engine could not be asked.
 */
static int
remove_strays(struct call *call, const char *service_id, const char *keep)
{
	struct backend *b = &call_berthd(call)->backend;
	struct docker_container *list = NULL;
	struct error err = { 0 };
	size_t n = 0;

	if (b->ops->list_own(b, &list, &n, STEP_TIMEOUT_MS, &err) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(list[i].label_service, service_id) != 0 || strcmp(list[i].id, keep) == 0)
			continue;
		memset(&err, 0, sizeof(err));
		if (b->ops->remove(b, list[i].id, STEP_TIMEOUT_MS, &err) == 0)
			log_warn("rollout removed a stray container of the service service=%s "
				 "container=%.12s name=%s",
			    service_id, list[i].id, list[i].name);
	}
	free(list);
	return 0;
}

/* Starts a container, again while its port is still held by one just removed. */
static int
start_when_port_free(struct backend *b, const char *id, struct error *err)
{
	int64_t deadline = clock_monotonic_ms() + PORT_FREE_MS;
	int code;

	while ((code = b->ops->start(b, id, STEP_TIMEOUT_MS, err)) != 0 &&
	    docker_error_port_in_use(err) && clock_monotonic_ms() < deadline) {
		clock_sleep_ms(250);
		memset(err, 0, sizeof(*err));
	}
	return code;
}

/* Milliseconds the new container has to become healthy. */
static int64_t
ready_budget_ms(const Berth__V1__Template *t, uint32_t min_ready_s)
{
	const Berth__V1__HealthCheck *h = t->health;

	if (h == NULL)
		return (int64_t)min_ready_s * 1000 + READY_MARGIN_MS;
	return ((int64_t)h->start_period_s + (int64_t)h->interval_s * (h->retries + 1) +
		   (int64_t)h->timeout_s) *
	    1000 +
	    READY_MARGIN_MS;
}

/* The last log lines of a container, in sw->message after `why`. */
static void
fail_with_logs(struct call *call, struct rollout_swap *sw, const char *container, const char *why)
{
	struct backend *b = &call_berthd(call)->backend;
	struct error err = { 0 };
	char *logs = NULL;

	if (container == NULL || b->ops->logs(b, container, LOG_LINES, &logs, 5000, &err) != 0)
		logs = NULL;
	snprintf(sw->message, sizeof(sw->message), "%s. Last log lines:\n%s", why,
	    logs != NULL && logs[0] != '\0' ? logs : "(none)\n");
	free(logs);
}

/*
 * Step 4: 0 ready; 1 not ready (sw->message says why); 2 the operator
 * stopped or removed it meanwhile; 3 berthd stops.
 */
static int
wait_ready(struct call *call, struct rollout_swap *sw, const char *new_id)
{
	struct registry *reg = call_registry(call);
	struct backend *b = &call_berthd(call)->backend;
	const Berth__V1__Template *t = sw->revision;
	int64_t deadline = clock_monotonic_ms() + ready_budget_ms(t, sw->min_ready_s);
	int64_t ready_at = clock_monotonic_ms() + (int64_t)sw->min_ready_s * 1000;
	struct docker_container first;
	struct error err = { 0 };
	struct arena scratch;
	Berth__V1__Service *s;
	int verdict = 1;

	if (b->ops->inspect(b, new_id, &first, 5000, &err) != 0)
		memset(&first, 0, sizeof(first));
	arena_init(&scratch);
	for (;;) {
		arena_reset(&scratch);
		if (atomic_load(sw->stop)) {
			verdict = 3;
			break;
		}
		if (registry_service_get(reg, &scratch, sw->service_id, &s) != 0 ||
		    strcmp(s->desired_state, DESIRED_RUNNING) != 0) {
			verdict = 2;
			break;
		}
		if (strcmp(s->status, STATUS_RUNNING) != 0) {
			char why[300];

			snprintf(why, sizeof(why), "new container %s (exit code %d)", s->status,
			    s->last_exit_code);
			fail_with_logs(call, sw, new_id, why);
			break;
		}
		if (t->health != NULL) {
			if (strcmp(s->health, HEALTH_HEALTHY) == 0 &&
			    strcmp(s->container_id, new_id) == 0) {
				verdict = 0;
				break;
			}
			if (strcmp(s->health, HEALTH_UNHEALTHY) == 0) {
				char why[600];

				snprintf(why, sizeof(why), "new container unhealthy: %s", s->health_message);
				fail_with_logs(call, sw, new_id, why);
				break;
			}
		} else if (clock_monotonic_ms() >= ready_at) {
			struct docker_container now;

			if (b->ops->inspect(b, new_id, &now, 5000, &err) == 0 &&
			    strcmp(now.state, "running") == 0 &&
			    strcmp(now.started_at, first.started_at) == 0) {
				verdict = 0;
				break;
			}
		}
		if (clock_monotonic_ms() >= deadline) {
			char why[600];

			snprintf(why, sizeof(why), "new container not %s within %lld s (health %s%s%s)",
			    t->health != NULL ? "healthy" : "running steadily",
			    (long long)ready_budget_ms(t, sw->min_ready_s) / 1000, s->health,
			    s->health_message[0] != '\0' ? ": " : "", s->health_message);
			fail_with_logs(call, sw, new_id, why);
			break;
		}
		clock_sleep_ms(POLL_MS);
	}
	arena_reset(&scratch);
	return verdict;
}

/*
 * Puts the old container back: the new one (if any) removed, the old one
 * renamed to the service's name and started, the row pointing at it.
 * The lock is held. 0, or -1 with sw->message extended.
 */
static int
put_back(struct call *call, struct rollout_swap *sw, const char *old_id, const char *new_id)
{
	struct backend *b = &call_berthd(call)->backend;
	struct registry *reg = call_registry(call);
	struct error err = { 0 };
	size_t used;
	int code;

	if (new_id != NULL && new_id[0] != '\0' &&
	    b->ops->remove(b, new_id, STEP_TIMEOUT_MS, &err) != 0 &&
	    err.code != BERTH__V1__CODE__NOT_FOUND)
		goto fail;
	memset(&err, 0, sizeof(err));
	code = b->ops->rename(b, old_id, sw->service_id, STEP_TIMEOUT_MS, &err);
	if (code == BERTH__V1__CODE__ALREADY_EXISTS &&
	    remove_strays(call, sw->service_id, old_id) == 0) {
		memset(&err, 0, sizeof(err));
		code = b->ops->rename(b, old_id, sw->service_id, STEP_TIMEOUT_MS, &err);
	}
	if (code != 0 || start_when_port_free(b, old_id, &err) != 0)
		goto fail;
	registry_service_update(reg, sw->service_id, STATUS_RUNNING, old_id);
	registry_service_set_health(reg, sw->service_id, HEALTH_STARTING, "old container back");
	return 0;
fail:
	used = strlen(sw->message);
	snprintf(sw->message + used, sizeof(sw->message) - used,
	    "\nrollback incomplete: %s (old container %.12s)", err.message, old_id);
	return -1;
}

bool
rollout_lock_current(struct call *call, struct rollout_swap *sw, Berth__V1__Service **s)
{
	int code = lifecycle_lock_service(call, sw->service_id, s);

	if (code != 0) {
		sw->outcome = ROLLOUT_SKIPPED;
		snprintf(sw->message, sizeof(sw->message), "%s",
		    code == BERTH__V1__CODE__NOT_FOUND ? "removed by an operator" : call->error.message);
		call_clear_failure(call);
		return false;
	}
	if (strcmp((*s)->desired_state, DESIRED_RUNNING) != 0 ||
	    strcmp((*s)->status, STATUS_RUNNING) != 0) {
		sw->outcome = ROLLOUT_SKIPPED;
		snprintf(sw->message, sizeof(sw->message), "not running (%s, wanted %s): stopped by an "
							   "operator",
		    (*s)->status, (*s)->desired_state);
	} else if ((*s)->revision == sw->revision->revision) {
		sw->outcome = ROLLOUT_SKIPPED;
		snprintf(sw->message, sizeof(sw->message), "already at revision %u",
		    sw->revision->revision);
	} else {
		return true;
	}
	service_unlock(call_berthd(call)->locks, sw->service_id);
	return false;
}

/*
 * Steps 2-3: 0, or the failure in sw->message (the old container still
 * aside or back). What needs no port (secrets, directory, image, the new
 * container's creation) happens before the old one stops, so the instance
 * is unavailable for its stop and the new one's start only.
 */
static int
swap(struct call *call, struct rollout_swap *sw, Berth__V1__Service *s,
    struct registry_rollout_step *step)
{
	struct berthd *d = call_berthd(call);
	struct backend *b = &d->backend;
	struct registry *reg = call_registry(call);
	struct error err = { 0 };
	char id[DOCKER_ID_LEN + 1];
	char **secrets = NULL;
	size_t n_secrets = 0;
	Berth__V1__Template made = *sw->revision;

	if (template_secret_values(call, s->template_, &secrets, &n_secrets) != 0 ||
	    lifecycle_make_project_dir(call, &made, s->instance) != 0) {
		snprintf(sw->message, sizeof(sw->message), "%s", call->error.message);
		call_clear_failure(call);
		return -1;
	}
	if (b->ops->prepare_image(b, &made, STEP_TIMEOUT_MS, &err) != 0) {
		snprintf(sw->message, sizeof(sw->message), "image %s not available: %s", made.image,
		    err.message);
		return -1;
	}
	snprintf(step->old_container_id, sizeof(step->old_container_id), "%s", s->container_id);
	rollout_journal(call, sw, "updating", step);
	if (b->ops->rename(b, s->container_id, old_name(call, s->service_id), STEP_TIMEOUT_MS,
		&err) != 0) {
		snprintf(sw->message, sizeof(sw->message), "cannot rename the old container aside: %s",
		    err.message);
		step->old_container_id[0] = '\0'; /* nothing to put back */
		return -1;
	}
	struct backend_instance inst = { &made, s->service_id, s->instance, s->project_dir,
		(uint16_t)s->port, secrets, n_secrets };
	int code = b->ops->create(b, &inst, id, STEP_TIMEOUT_MS, &err);
	if (code == BERTH__V1__CODE__ALREADY_EXISTS &&
	    remove_strays(call, s->service_id, s->container_id) == 0) {
		memset(&err, 0, sizeof(err)); /* the name was a stray's: once more */
		code = b->ops->create(b, &inst, id, STEP_TIMEOUT_MS, &err);
	}
	if (code != 0) {
		snprintf(sw->message, sizeof(sw->message), "cannot create the new container: %s",
		    err.message);
		return -1;
	}
	snprintf(step->new_container_id, sizeof(step->new_container_id), "%s", id);
	rollout_journal(call, sw, "updating", step);
	rollout_busy_container(s->service_id, id);
	sw->stopped_at_ms = clock_monotonic_ms();
	if (b->ops->stop(b, s->container_id, lifecycle_stop_timeout(call, s, 0), STEP_TIMEOUT_MS,
		&err) != 0) {
		snprintf(sw->message, sizeof(sw->message), "cannot stop the old container: %s",
		    err.message);
		return -1;
	}
	if (b->ops->start(b, id, STEP_TIMEOUT_MS, &err) != 0) {
		char why[600];

		snprintf(why, sizeof(why), "cannot start the new container%s: %s",
		    docker_error_port_in_use(&err) ? " (its port is taken)" : "", err.message);
		fail_with_logs(call, sw, id, why);
		return -1;
	}
	sw->started_at_ms = clock_monotonic_ms();
	/*
	 * Health first: the monitor, once it sees the new container id, writes
	 * its own verdicts; a "starting" written after one of them would stay.
	 */
	registry_service_set_health(reg, s->service_id, HEALTH_STARTING, "new container of a rollout");
	registry_service_update(reg, s->service_id, STATUS_RUNNING, id);
	return 0;
}

/*
 * Between the wait and taking the lock again, an operator may have stopped,
 * removed or replaced the instance: true only when its row still wants it
 * running on the new container.
 */
static bool
still_ours(struct call *call, const char *service_id, const char *new_id)
{
	struct arena scratch;
	Berth__V1__Service *s;
	bool ours;

	arena_init(&scratch);
	ours = registry_service_get(call_registry(call), &scratch, service_id, &s) == 0 &&
	    strcmp(s->desired_state, DESIRED_RUNNING) == 0 && strcmp(s->container_id, new_id) == 0;
	arena_reset(&scratch);
	return ours;
}

void
rollout_swap_run(struct call *call, struct rollout_swap *sw)
{
	struct berthd *d = call_berthd(call);
	struct backend *b = &d->backend;
	struct registry *reg = call_registry(call);
	struct registry_rollout_step step = { "", "" };
	struct error err = { 0 };
	Berth__V1__Service *s;
	uint32_t from;
	int v;

	if (b->ops->update_in_place != NULL) {
		rollout_update_run(call, sw); /* the backend rolls its tasks itself (swarm) */
		return;
	}
	sw->message[0] = '\0';
	if (!rollout_lock_current(call, sw, &s))
		return;
	from = s->revision;
	rollout_busy_set(sw->service_id, true);
	log_info("rollout updating rollout=%s service=%s from=%u to=%u", sw->rollout_id,
	    sw->service_id, from, sw->revision->revision);
	if (swap(call, sw, s, &step) != 0) {
		v = 1;
	} else {
		service_unlock(d->locks, sw->service_id);
		v = wait_ready(call, sw, step.new_container_id);
		if (v == 3) { /* berthd stops: the next start finishes or rolls back */
			sw->outcome = ROLLOUT_INTERRUPTED;
			rollout_busy_set(sw->service_id, false);
			return;
		}
		if (service_lock(d->locks, sw->service_id, clock_monotonic_ms() + STEP_TIMEOUT_MS) != 0) {
			/*
			 * Another call holds the instance past a step's time: it is
			 * theirs now. The old container goes only when the new one
			 * was ready; else it stays aside, the way back.
			 */
			if (v == 0)
				b->ops->remove(b, step.old_container_id, STEP_TIMEOUT_MS, &err);
			sw->outcome = ROLLOUT_SKIPPED;
			snprintf(sw->message, sizeof(sw->message), "busy with another operation at the "
								   "end of its update%s",
			    v == 0 ? "" : "; the old container is kept aside");
			rollout_busy_set(sw->service_id, false);
			supervisor_notice(d, sw->service_id);
			return;
		}
		if (v == 0 && !still_ours(call, sw->service_id, step.new_container_id))
			v = 2;
	}
	if (v == 2) {
		/* Stopped or removed meanwhile: the operator's word stands; the old one goes. */
		b->ops->remove(b, step.old_container_id, STEP_TIMEOUT_MS, &err);
		sw->outcome = ROLLOUT_SKIPPED;
		snprintf(sw->message, sizeof(sw->message), "stopped or removed by an operator "
							   "during its update");
	} else if (v == 0) {
		b->ops->remove(b, step.old_container_id, STEP_TIMEOUT_MS, &err);
		remove_strays(call, sw->service_id, step.new_container_id);
		s->container_id = step.new_container_id;
		registry_service_set_revision(reg, sw->service_id, sw->revision->revision, "");
		lifecycle_record_image(call, s);
		sw->outcome = ROLLOUT_UPDATED;
		rollout_journal(call, sw, "done", NULL);
		event_publish(&d->events, BERTH__V1__EVENT__TYPE__INSTANCE_UPDATED, s, NULL,
		    "rollout %s: revision %u -> %u", sw->rollout_id, from, sw->revision->revision);
		log_info("rollout updated rollout=%s service=%s revision=%u stop_to_started_ms=%lld "
			 "ready_ms=%lld",
		    sw->rollout_id, sw->service_id, sw->revision->revision,
		    (long long)(sw->started_at_ms - sw->stopped_at_ms),
		    (long long)(clock_monotonic_ms() - sw->started_at_ms));
	} else if (step.old_container_id[0] == '\0') {
		sw->outcome = ROLLOUT_ROLLED_BACK; /* nothing was touched */
	} else {
		sw->outcome = put_back(call, sw, step.old_container_id, step.new_container_id) == 0
		    ? ROLLOUT_ROLLED_BACK
		    : ROLLOUT_BROKEN;
		event_publish(&d->events, BERTH__V1__EVENT__TYPE__INSTANCE_ROLLED_BACK, s, NULL,
		    "rollout %s: %.200s", sw->rollout_id, sw->message);
		log_warn("rollout rolled back rollout=%s service=%s error=\"%.300s\"", sw->rollout_id,
		    sw->service_id, sw->message);
	}
	service_unlock(d->locks, sw->service_id);
	rollout_busy_set(sw->service_id, false);
	supervisor_notice(d, sw->service_id);
}

const char *
rollout_swap_recover(struct call *call, const char *rollout_id, const char *service_id,
    uint32_t to_revision)
{
	struct berthd *d = call_berthd(call);
	struct backend *b = &d->backend;
	struct registry *reg = call_registry(call);
	struct registry_rollout_step step;
	struct docker_container old, cur;
	struct error err = { 0 };
	struct rollout_swap sw = { .rollout_id = rollout_id, .service_id = service_id };
	Berth__V1__Service *s;

	/*
	 * In place (swarm): nothing was put aside; the runner posts the same
	 * spec again and follows Swarm's update to its end.
	 */
	if (b->ops->update_in_place != NULL)
		return "pending";
	if (registry_rollout_instance_step(reg, rollout_id, service_id, &step) != 0)
		return "pending";
	if (b->ops->inspect(b, old_name(call, service_id), &old, STEP_TIMEOUT_MS, &err) == 0) {
		/*
		 * The old one is still aside: whatever the new one did, the old one
		 * goes back. The new one is whatever has the service's name (its
		 * create may have happened after the journal's last word).
		 */
		const char *fresh = step.new_container_id;

		if (b->ops->inspect(b, service_id, &cur, STEP_TIMEOUT_MS, &err) == 0 &&
		    strcmp(cur.id, old.id) != 0)
			fresh = cur.id;
		memset(&err, 0, sizeof(err));
		if (put_back(call, &sw, old.id, fresh) != 0)
			log_error("rollout recovery cannot put the old container back service=%s "
				  "error=\"%s\"",
			    service_id, sw.message);
		else
			log_info("rollout recovery put the old container back rollout=%s service=%s",
			    rollout_id, service_id);
		remove_strays(call, service_id, old.id);
		return "pending";
	}
	memset(&err, 0, sizeof(err));
	if (b->ops->inspect(b, service_id, &cur, STEP_TIMEOUT_MS, &err) == 0 &&
	    step.new_container_id[0] != '\0' && strcmp(cur.id, step.new_container_id) == 0) {
		/* The old one was removed: only the row was left to write. */
		registry_service_update(reg, service_id, STATUS_RUNNING, cur.id);
		registry_service_set_revision(reg, service_id, to_revision, cur.image_id);
		log_info("rollout recovery finished rollout=%s service=%s", rollout_id, service_id);
		if (registry_service_get(reg, &call->arena, service_id, &s) == 0)
			event_publish(&d->events, BERTH__V1__EVENT__TYPE__INSTANCE_UPDATED, s, NULL,
			    "rollout %s: finished after a restart of berthd", rollout_id);
		return "done";
	}
	return "pending"; /* never renamed aside: untouched */
}
