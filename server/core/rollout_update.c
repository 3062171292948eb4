/*
 * rollout_update.c - one instance of a rollout on a backend that updates
 * in place (backend_ops.update_in_place: swarm). berth does not swap
 * containers there: it hands the service's new spec to Swarm, whose own
 * update replaces the tasks one at a time (stop-first) and rolls back by
 * itself when a new task fails within UpdateConfig.Monitor (Monitor covers
 * the new revision's health check: swarm_policy.h). berth follows
 * UpdateStatus.State and journals what it came to:
 *
 *   completed            the instance is at the new revision: the row's
 *                        revision (and image, where the backend knows it)
 *                        recorded, INSTANCE_UPDATED
 *   rollback_completed   Swarm put the previous spec back: ROLLED_BACK
 *                        with Swarm's UpdateStatus.Message, the row keeps
 *                        its revision, INSTANCE_ROLLED_BACK
 *   paused, rollback_paused
 *                        Swarm stopped half-way (a rollback that failed
 *                        too): BROKEN with Swarm's message; the operator
 *                        looks at `docker service ps`
 *
 * Either failure ends the rollout as on the engine backend (on_failure
 * rollback: "failed", the rest untouched; pause: "paused"). An abort works
 * as on the engine backend: the instances in flight finish (Swarm's update
 * of them runs to its end, completed or rolled back), the rest are not
 * touched. berth does not ask Swarm to roll back an update that is going
 * well (`?rollback=previous`): what is done stays done, as with containers.
 *
 * Threads: a rollout's swap threads (rollout_swap_run), each with its own
 * call and registry connection.
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
#include "engine/swarm_policy.h"

#define POLL_MS 250
#define STEP_TIMEOUT_MS 60000
/*
 * An update that changes no task leaves no UpdateStatus (Swarm resets it
 * when a spec is posted): so it is after a resumed rollout posts the same
 * spec again. Done once the service's tasks are all running and the same
 * for a whole Monitor (at least this long): the first post's update may
 * still have been under way.
 */
#define NO_CHANGE_MS 5000
/* Per task beyond Monitor and the stop grace period: pulling, scheduling, starting. */
#define TASK_MARGIN_MS 60000

/* How long Swarm's whole update (and its rollback) may take, in ms. */
static int64_t
update_budget_ms(const Berth__V1__Template *t, uint32_t min_ready_s)
{
	int64_t per_task = swarm_update_monitor_ns(t, min_ready_s) / 1000000 +
	    (int64_t)(t->stop_timeout_s != 0 ? t->stop_timeout_s : 10) * 1000 + TASK_MARGIN_MS;
	int64_t tasks = t->replicas > 0 ? t->replicas : 1;

	return 2 * tasks * per_task; /* the update, and perhaps its rollback */
}

/* Appends what the newest failed task of the service said, when one did. */
static void
failed_task(struct backend *b, const char *id, char *message, size_t len)
{
	struct backend_task *tasks = NULL;
	struct error err = { 0 };
	size_t n = 0, used = strlen(message);

	if (b->ops->tasks == NULL || b->ops->tasks(b, id, &tasks, &n, 5000, &err) != 0)
		return;
	for (size_t i = 0; i < n; i++) {
		const struct backend_task *t = &tasks[i];

		if (strcmp(t->state, "failed") != 0 && strcmp(t->state, "rejected") != 0 &&
		    t->error[0] == '\0')
			continue;
		snprintf(message + used, len - used, "; task %.12s %s: %s", t->id, t->state,
		    t->error[0] != '\0' ? t->error : t->message);
		break;
	}
	free(tasks);
}

/* Whether a task state is one a task ends in (Swarm's terminal states). */
static bool
task_ended(const char *state)
{
	static const char *const ended[] = { "complete", "shutdown", "failed", "rejected",
		"remove", "orphaned" };

	for (size_t i = 0; i < sizeof(ended) / sizeof(ended[0]); i++)
		if (strcmp(state, ended[i]) == 0)
			return true;
	return false;
}

/*
 * A fingerprint of the service's tasks when every desired-running one runs
 * and none is on its way out; 0 while Swarm is still at work (or unknown).
 */
static uint64_t
steady_tasks(struct backend *b, const char *id)
{
	struct backend_task *tasks = NULL;
	struct error err = { 0 };
	uint64_t h = 1469598103934665603ULL; /* FNV-1a over the running tasks' ids */
	size_t n = 0, running = 0;

	if (b->ops->tasks == NULL || b->ops->tasks(b, id, &tasks, &n, 5000, &err) != 0)
		return 0;
	for (size_t i = 0; i < n && h != 0; i++) {
		const struct backend_task *t = &tasks[i];
		bool wanted = strcmp(t->desired_state, "running") == 0;

		if (wanted && strcmp(t->state, "running") == 0) {
			running++;
			for (const char *c = t->id; *c != '\0'; c++)
				h = (h ^ (unsigned char)*c) * 1099511628211ULL;
		} else if (wanted || !task_ended(t->state)) {
			h = 0; /* starting, or stopping */
		}
	}
	free(tasks);
	return running > 0 ? h : 0;
}

enum verdict { DONE, ROLLED_BACK, STUCK, OPERATOR, STOPPING };

/*
 * Follows the service's update until Swarm ends it. prior: the update
 * status before ours (its StartedAt tells an old "completed" apart).
 * sw->message says why for anything but DONE.
 */
static enum verdict
follow(struct call *call, struct rollout_swap *sw, const char *id,
    const struct backend_update *prior)
{
	struct backend *b = &call_berthd(call)->backend;
	struct registry *reg = call_registry(call);
	int64_t began = clock_monotonic_ms();
	int64_t deadline = began + update_budget_ms(sw->revision, sw->min_ready_s);
	int64_t monitor_ms = swarm_update_monitor_ns(sw->revision, sw->min_ready_s) / 1000000;
	int64_t steady_since = 0;
	uint64_t steady = 0;
	struct backend_update u = { "", "", "" };
	char reason[256] = ""; /* why Swarm began to roll back: its final message says only that it did */
	struct arena scratch;
	enum verdict v;

	arena_init(&scratch);
	for (;;) {
		struct error err = { 0 };
		Berth__V1__Service *s;
		bool ours;

		arena_reset(&scratch);
		if (atomic_load(sw->stop)) {
			v = STOPPING;
			break;
		}
		if (registry_service_get(reg, &scratch, sw->service_id, &s) != 0 ||
		    strcmp(s->desired_state, DESIRED_RUNNING) != 0) {
			v = OPERATOR;
			break;
		}
		if (b->ops->update_state(b, id, &u, 5000, &err) == 0) {
			ours = u.state[0] != '\0' && strcmp(u.started_at, prior->started_at) != 0;
			if (ours && strcmp(u.state, "completed") == 0) {
				v = DONE;
				break;
			}
			if (ours && strcmp(u.state, "rollback_started") == 0 && reason[0] == '\0')
				snprintf(reason, sizeof(reason), "%s", u.message);
			if (ours && strcmp(u.state, "rollback_completed") == 0) {
				/* A quick rollback may pass unseen between polls: then say what Swarm checks. */
				if (reason[0] != '\0')
					snprintf(sw->message, sizeof(sw->message),
					    "Swarm rolled the service back: %s", reason);
				else
					snprintf(sw->message, sizeof(sw->message),
					    "Swarm rolled the service back (%s): a new task failed, or "
					    "turned unhealthy, within its %llds Monitor",
					    u.message, (long long)(swarm_update_monitor_ns(sw->revision,
					    sw->min_ready_s) / 1000000000));
				failed_task(b, id, sw->message, sizeof(sw->message));
				v = ROLLED_BACK;
				break;
			}
			if (ours && (strcmp(u.state, "paused") == 0 ||
					strcmp(u.state, "rollback_paused") == 0)) {
				snprintf(sw->message, sizeof(sw->message),
				    "Swarm's update %s: %s (see docker service ps %s)", u.state,
				    u.message, sw->service_id);
				v = STUCK;
				break;
			}
			/* The same spec again (a resumed rollout): Swarm changes no task. */
			if (!ours && clock_monotonic_ms() - began >= NO_CHANGE_MS) {
				uint64_t now = steady_tasks(b, id);

				if (now == 0 || now != steady) {
					steady = now;
					steady_since = clock_monotonic_ms();
				} else if (clock_monotonic_ms() - steady_since >= monitor_ms) {
					v = DONE;
					break;
				}
			}
		} else if (err.code == BERTH__V1__CODE__NOT_FOUND) {
			v = OPERATOR; /* deleted behind berth's back: the supervisor's business */
			break;
		}
		if (clock_monotonic_ms() >= deadline) {
			snprintf(sw->message, sizeof(sw->message),
			    "Swarm's update not finished within %lld s (state %s%s%s): left to Swarm",
			    (long long)update_budget_ms(sw->revision, sw->min_ready_s) / 1000,
			    u.state[0] != '\0' ? u.state : "none", u.message[0] != '\0' ? ": " : "",
			    u.message);
			v = STUCK;
			break;
		}
		clock_sleep_ms(POLL_MS);
	}
	arena_reset(&scratch);
	return v;
}

/*
 * Hands the new spec to the backend: 0, or -1 with sw->message (nothing
 * was touched). The lock is held.
 */
static int
hand_over(struct call *call, struct rollout_swap *sw, Berth__V1__Service *s,
    struct backend_update *prior)
{
	struct backend *b = &call_berthd(call)->backend;
	struct error err = { 0 };
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
	if (b->ops->update_state(b, s->container_id, prior, STEP_TIMEOUT_MS, &err) != 0) {
		snprintf(sw->message, sizeof(sw->message), "cannot read the service: %s", err.message);
		return -1;
	}
	rollout_journal(call, sw, "updating", NULL);
	struct backend_instance inst = { &made, s->service_id, s->instance, s->project_dir,
		(uint16_t)s->port, secrets, n_secrets, NULL, s->restart };
	if (b->ops->update_in_place(b, s->container_id, &inst, sw->min_ready_s, STEP_TIMEOUT_MS,
		&err) != 0) {
		snprintf(sw->message, sizeof(sw->message), "Swarm refused the update: %s",
		    err.message);
		return -1;
	}
	sw->started_at_ms = clock_monotonic_ms();
	return 0;
}

void
rollout_update_run(struct call *call, struct rollout_swap *sw)
{
	struct berthd *d = call_berthd(call);
	struct registry *reg = call_registry(call);
	struct backend_update prior;
	enum verdict v;
	Berth__V1__Service *s;
	char id[DOCKER_ID_LEN + 1];
	uint32_t from;

	sw->message[0] = '\0';
	if (!rollout_lock_current(call, sw, &s))
		return;
	from = s->revision;
	snprintf(id, sizeof(id), "%s", s->container_id);
	rollout_busy_set(sw->service_id, true);
	rollout_busy_container(sw->service_id, id); /* the id stays: Swarm's service id */
	log_info("rollout updating in place rollout=%s service=%s from=%u to=%u", sw->rollout_id,
	    sw->service_id, from, sw->revision->revision);
	if (hand_over(call, sw, s, &prior) != 0) {
		sw->outcome = ROLLOUT_ROLLED_BACK; /* nothing was touched */
		goto out;
	}
	/* Swarm works on its own: an operator may stop or remove meanwhile. */
	service_unlock(d->locks, sw->service_id);
	v = follow(call, sw, id, &prior);
	if (v == STOPPING) { /* the next start posts the same spec and follows again */
		sw->outcome = ROLLOUT_INTERRUPTED;
		rollout_busy_set(sw->service_id, false);
		return;
	}
	if (service_lock(d->locks, sw->service_id, clock_monotonic_ms() + STEP_TIMEOUT_MS) != 0) {
		/* Another call holds the instance past a step's time: it is theirs now. */
		sw->outcome = ROLLOUT_SKIPPED;
		snprintf(sw->message, sizeof(sw->message), "busy with another operation at the end "
							   "of its update");
		rollout_busy_set(sw->service_id, false);
		supervisor_notice(d, sw->service_id);
		return;
	}
	if (registry_service_get(reg, &call->arena, sw->service_id, &s) != 0)
		v = OPERATOR;
	switch (v) {
	case OPERATOR:
		sw->outcome = ROLLOUT_SKIPPED;
		snprintf(sw->message, sizeof(sw->message), "stopped or removed by an operator "
							   "during its update");
		break;
	case DONE:
		registry_service_set_revision(reg, sw->service_id, sw->revision->revision, "");
		lifecycle_record_image(call, s);
		sw->outcome = ROLLOUT_UPDATED;
		rollout_journal(call, sw, "done", NULL);
		event_publish(&d->events, BERTH__V1__EVENT__TYPE__INSTANCE_UPDATED, s, NULL,
		    "rollout %s: revision %u -> %u (Swarm's update)", sw->rollout_id, from,
		    sw->revision->revision);
		log_info("rollout updated in place rollout=%s service=%s revision=%u ms=%lld",
		    sw->rollout_id, sw->service_id, sw->revision->revision,
		    (long long)(clock_monotonic_ms() - sw->started_at_ms));
		break;
	default:
		sw->outcome = v == ROLLED_BACK ? ROLLOUT_ROLLED_BACK : ROLLOUT_BROKEN;
		if (v == ROLLED_BACK)
			event_publish(&d->events, BERTH__V1__EVENT__TYPE__INSTANCE_ROLLED_BACK, s, NULL,
			    "rollout %s: %.200s", sw->rollout_id, sw->message);
		log_warn("rollout not applied rollout=%s service=%s error=\"%.300s\"", sw->rollout_id,
		    sw->service_id, sw->message);
		break;
	}
out:
	service_unlock(d->locks, sw->service_id);
	rollout_busy_set(sw->service_id, false);
	supervisor_notice(d, sw->service_id);
}
