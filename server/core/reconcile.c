/*
 * reconcile.c - bring rows and containers back into agreement.
 * Runs on the main thread at start-up (before any RPC is served) and on the
 * event follower's thread after each reconnect.
 */
#include <stdlib.h>
#include <string.h>

#include "validate.h"
#include "core/berthd.h"
#include "clock.h"
#include "core/events.h"
#include "core/lifecycle.h"
#include "base/log.h"
#include "core/ports.h"
#include "core/reconcile.h"
#include "core/rollout.h"
#include "core/service_lock.h"
#include "core/survey.h"

const char *
reconcile_truthful_status(const Berth__V1__Service *row, const struct docker_container *c)
{
	if (c == NULL)
		return STATUS_MISSING;
	if (strcmp(c->state, "running") == 0 || strcmp(c->state, "restarting") == 0 ||
	    strcmp(c->state, "paused") == 0)
		return STATUS_RUNNING;
	/* Not running: berth's own stop keeps its word, anything else is news. */
	if (strcmp(row->status, STATUS_STOPPED) == 0)
		return STATUS_STOPPED;
	if (strcmp(c->state, "dead") == 0)
		return STATUS_DEAD;
	if (strcmp(c->state, "created") == 0)
		return STATUS_STOPPED;
	return STATUS_EXITED;
}

/* Removes a row's container (if any), its row and its port. */
static void
undo(struct call *call, const Berth__V1__Service *row, const struct docker_container *c)
{
	struct berthd *d = call_berthd(call);
	struct error err = { 0 };

	if (c != NULL)
		d->backend.ops->remove(&d->backend, c->id, call_remaining_ms(call), &err);
	if (registry_service_delete(call_registry(call), row->service_id) == 0)
		ports_release(d->ports, (uint16_t)row->port);
}

/* Finishes or undoes the launch or removal that a dead berthd left half-done. */
static void
finish_left_over(struct call *call, Berth__V1__Service *row, const struct docker_container *c,
    struct reconcile_report *r)
{
	struct berthd *d = call_berthd(call);

	if (strcmp(row->status, STATUS_CREATING) == 0) {
		if (c != NULL && strcmp(c->state, "running") == 0) {
			registry_service_update(call_registry(call), row->service_id, STATUS_RUNNING, c->id);
			r->launches_finished++;
			log_info("reconcile finished launch service=%s", row->service_id);
		} else {
			undo(call, row, c);
			r->launches_undone++;
			log_info("reconcile undid launch service=%s", row->service_id);
		}
		return;
	}
	undo(call, row, c);
	r->removals_finished++;
	event_publish(&d->events, BERTH__V1__EVENT__TYPE__SERVICE_REMOVED, row, "removed",
	    "removal finished after a restart of berthd");
	log_info("reconcile finished removal service=%s", row->service_id);
}

/*
 * Whether a "creating" or "removing" row is left over from a berthd that
 * died, rather than owned by a call in flight now. At start-up every such
 * row is. Later (the event stream reconnected) only one no call holds: a
 * removal holds its service's lock throughout, and a launch of this
 * process wrote its row after the process started.
 */
static bool
left_over(struct call *call, const Berth__V1__Service *row, bool startup, bool *locked)
{
	struct berthd *d = call_berthd(call);

	*locked = false;
	if (startup)
		return true;
	if (strcmp(row->status, STATUS_CREATING) == 0 && strcmp(row->created_at, d->started_at) >= 0)
		return false;
	*locked = service_trylock(d->locks, row->service_id);
	return *locked;
}

static void
check_row(struct call *call, struct survey *s, size_t i, bool startup, struct reconcile_report *r)
{
	struct berthd *d = call_berthd(call);
	Berth__V1__Service *row = s->rows[i];
	const struct docker_container *c = survey_container(s, i);
	const char *status;
	bool locked = false;

	r->rows_checked++;
	if (strcmp(row->status, STATUS_CREATING) == 0 || strcmp(row->status, STATUS_REMOVING) == 0) {
		if (left_over(call, row, startup, &locked))
			finish_left_over(call, row, c, r);
		if (locked)
			service_unlock(d->locks, row->service_id);
		return;
	}
	status = reconcile_truthful_status(row, c);
	if (strcmp(status, row->status) == 0 &&
	    (c == NULL || strcmp(c->id, row->container_id) == 0))
		return;
	registry_service_update(call_registry(call), row->service_id, status, c != NULL ? c->id : NULL);
	r->rows_updated++;
	log_info("reconcile service=%s status=%s was=%s", row->service_id, status, row->status);
	row->status = (char *)status;
	event_publish(&d->events,
	    strcmp(status, STATUS_MISSING) == 0 ? BERTH__V1__EVENT__TYPE__SERVICE_MISSING
	    : strcmp(status, STATUS_RUNNING) == 0 ? BERTH__V1__EVENT__TYPE__SERVICE_STARTED
						  : BERTH__V1__EVENT__TYPE__SERVICE_DIED,
	    row, NULL, "found %s by reconciliation", status);
}

/* A labelled container with no row: take it back into the registry if we can. */
static void
adopt(struct call *call, const struct docker_container *listed, struct reconcile_report *r)
{
	struct berthd *d = call_berthd(call);
	struct error err = { 0 };
	struct docker_container c;
	Berth__V1__Template *t;
	Berth__V1__Service s = BERTH__V1__SERVICE__INIT;
	struct error verr;
	unsigned number = 0;

	if (rollout_is_old_name(listed->name)) {
		/* A rollout's old container, set aside while the new one starts: known. */
		log_info("reconcile leaves a rollout's old container container=%s id=%.12s", listed->name,
		    listed->id);
		return;
	}
	/* Inspect: a stopped container lists no ports, but its bindings are there. */
	if (d->backend.ops->inspect(&d->backend, listed->id, &c, call_remaining_ms(call), &err) != 0)
		c = *listed;
	if (validate_name("instance", c.label_instance, &verr) != 0 || c.n_ports == 0 ||
	    registry_template_get(call_registry(call), &call->arena, c.label_template, &t) != 0 ||
	    strcmp(c.label_service, c.name) != 0 || ports_held(d->ports, c.ports[0])) {
		r->orphans++;
		log_warn("orphan container=%s id=%.12s reason=\"labels incomplete or port taken\" "
			 "remedy=\"berth cleanup\"",
		    c.name, c.id);
		return;
	}
	if (sscanf(c.label_instance, "instance_%u", &number) != 1)
		number = 0;
	s.service_id = c.name;
	s.template_ = t->name;
	s.container_name = c.name;
	s.container_id = c.id;
	s.port = c.ports[0];
	s.instance = c.label_instance;
	s.instance_number = number;
	s.project_dir = arena_printf(&call->arena, "%s/%s/%s", d->templates_dir, t->name,
	    c.label_instance);
	s.status = (char *)(strcmp(c.state, "running") == 0 ? STATUS_RUNNING : STATUS_EXITED);
	if (registry_service_insert(call_registry(call), &s) != 0) {
		r->orphans++;
		log_warn("orphan container=%s error=\"%s\"", c.name, registry_error(call_registry(call))->message);
		return;
	}
	ports_hold(d->ports, (uint16_t)s.port);
	r->adopted++;
	event_publish(&d->events, BERTH__V1__EVENT__TYPE__SERVICE_ADOPTED, &s, NULL,
	    "container found without a row was adopted");
	log_info("adopted container=%s port=%u status=%s", c.name, s.port, s.status);
}

int
reconcile_run(struct call *call, bool startup, struct reconcile_report *r)
{
	struct survey s;
	int64_t started = clock_monotonic_ms();
	bool batched;
	int code;

	memset(r, 0, sizeof(*r));
	if ((code = survey_take(call, &s)) != 0)
		return code;
	/*
	 * At start-up nobody else writes yet: one transaction for all the rows'
	 * updates instead of one each (10,000 rows whose containers are gone:
	 * 0.9 s of commits). Later runs serve RPCs meanwhile and must not hold
	 * the write lock across Docker calls: one transaction per row there.
	 */
	batched = startup && registry_begin(call_registry(call)) == 0;
	for (size_t i = 0; i < s.n_rows; i++)
		check_row(call, &s, i, startup, r);
	for (size_t j = 0; j < s.n_containers; j++)
		if (!s.container_has_row[j])
			adopt(call, &s.containers[j], r);
	if (batched && registry_commit(call_registry(call)) != 0)
		log_error("reconcile could not write its updates, the next reconciliation retries "
			  "error=\"%s\"",
		    registry_error(call_registry(call))->message);
	survey_release(&s);
	log_info("reconciled rows=%u updated=%u launches_finished=%u launches_undone=%u "
		 "removals_finished=%u adopted=%u orphans=%u duration_ms=%lld",
	    r->rows_checked, r->rows_updated, r->launches_finished, r->launches_undone,
	    r->removals_finished, r->adopted, r->orphans,
	    (long long)(clock_monotonic_ms() - started));
	return 0;
}
