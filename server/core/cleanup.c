/*
 * cleanup.c - which services are dead, removing them, and removing
 * everything (the force cleanup and the shutdown). Called on worker
 * threads and on the main thread during shutdown.
 */
#include <stdlib.h>
#include <string.h>

#include "core/berthd.h"
#include "core/cleanup.h"
#include "clock.h"
#include "core/events.h"
#include "core/fleet.h"
#include "core/lifecycle.h"
#include "base/log.h"
#include "core/ports.h"
#include "core/service_lock.h"
#include "core/survey.h"

int
cleanup_status(struct call *call, Berth__V1__GetCleanupStatusResponse *out)
{
	struct survey s;
	int code;

	if ((code = survey_take(call, &s)) != 0)
		return code;
	out->registered_services = (uint32_t)s.n_rows;
	out->dead_services = ARENA_ARRAY(&call->arena, char *, s.n_rows + 1);
	out->orphan_containers = ARENA_ARRAY(&call->arena, char *, s.n_containers + 1);
	for (size_t i = 0; i < s.n_containers; i++) {
		if (strcmp(s.containers[i].state, "running") == 0)
			out->running_containers++;
		if (!s.container_has_row[i])
			out->orphan_containers[out->n_orphan_containers++] =
			    arena_strdup(&call->arena, s.containers[i].name);
	}
	for (size_t i = 0; i < s.n_rows; i++)
		if (survey_row_dead(&s, i))
			out->dead_services[out->n_dead_services++] = s.rows[i]->service_id;
	survey_release(&s);
	return 0;
}

/* Deletes the row of a service whose container is gone, frees its port. */
static int
forget(struct call *call, Berth__V1__Service *row, Berth__V1__Event__Type type, const char *why)
{
	struct berthd *d = call_berthd(call);
	int code = registry_service_delete(call_registry(call), row->service_id);

	if (code != 0 && code != BERTH__V1__CODE__NOT_FOUND)
		return code;
	ports_release(d->ports, (uint16_t)row->port);
	event_publish(&d->events, type, row, "removed", "%s", why);
	return 0;
}

int
cleanup_dead(struct call *call, bool include_failed, Berth__V1__AutoCleanupResponse *out)
{
	struct berthd *d = call_berthd(call);
	struct fleet_item *items;
	Berth__V1__Service **dead;
	long *dead_item; /* per dead service: its container's item, or -1 */
	size_t n_items = 0, n_dead = 0;
	struct survey s;
	int code;

	if ((code = survey_take(call, &s)) != 0)
		return code;
	items = ARENA_ARRAY(&call->arena, struct fleet_item, s.n_rows + s.n_containers + 1);
	dead = ARENA_ARRAY(&call->arena, Berth__V1__Service *, s.n_rows + 1);
	dead_item = ARENA_ARRAY(&call->arena, long, s.n_rows + 1);
	out->removed_services = ARENA_ARRAY(&call->arena, char *, s.n_rows + 1);
	out->removed_containers = ARENA_ARRAY(&call->arena, char *, s.n_rows + s.n_containers + 1);

	for (size_t i = 0; i < s.n_rows; i++) {
		const struct docker_container *c = survey_container(&s, i);

		if (!survey_row_dead(&s, i) || (survey_row_failed(&s, i) && !include_failed))
			continue;
		/* A service another call is working on is not ours to clean now. */
		if (service_lock(d->locks, s.rows[i]->service_id, clock_monotonic_ms() + 100) != 0)
			continue;
		dead_item[n_dead] = c != NULL ? (long)n_items : -1;
		dead[n_dead++] = s.rows[i];
		if (c != NULL)
			items[n_items++] = (struct fleet_item){ .ref = arena_strdup(&call->arena, c->id) };
	}
	for (size_t j = 0; j < s.n_containers; j++)
		if (!s.container_has_row[j])
			items[n_items++] = (struct fleet_item){ .ref = arena_strdup(&call->arena, s.containers[j].id) };

	fleet_run(&d->backend, FLEET_REMOVE, items, n_items, call_remaining_ms(call), NULL);
	for (size_t k = 0; k < n_items; k++) {
		if (items[k].gone) {
			out->containers_removed++;
			out->removed_containers[out->n_removed_containers++] = (char *)items[k].ref;
		} else {
			log_warn("cleanup container=%.12s error=\"%s\"", items[k].ref, items[k].message);
		}
	}
	for (size_t k = 0; k < n_dead; k++) {
		/* The row goes only with its container: never make an orphan. */
		if (dead_item[k] >= 0 && !items[dead_item[k]].gone) {
			service_unlock(d->locks, dead[k]->service_id);
			continue;
		}
		if (forget(call, dead[k], BERTH__V1__EVENT__TYPE__SERVICE_CLEANED_UP,
			"dead container cleaned up") == 0) {
			out->registry_entries_removed++;
			out->removed_services[out->n_removed_services++] = dead[k]->service_id;
		}
		service_unlock(d->locks, dead[k]->service_id);
	}
	survey_release(&s);
	log_info("auto cleanup containers_removed=%u registry_entries_removed=%u",
	    out->containers_removed, out->registry_entries_removed);
	return 0;
}

int
cleanup_everything(struct call *call, atomic_bool *kill_now, uint32_t *containers_removed,
    uint32_t *rows_removed, char ***errors, size_t *n_errors)
{
	struct berthd *d = call_berthd(call);
	struct fleet_item *items;
	size_t n_items = 0;
	struct survey s;
	int code;

	if ((code = survey_take(call, &s)) != 0)
		return code;
	/* Wanted stopped before they stop: the supervisor restarts none of them. */
	for (size_t i = 0; i < s.n_rows; i++)
		registry_service_set_desired(call_registry(call), s.rows[i]->service_id,
		    DESIRED_STOPPED);
	items = ARENA_ARRAY(&call->arena, struct fleet_item, s.n_containers + 1);
	for (size_t j = 0; j < s.n_containers; j++) {
		Berth__V1__Template *t;
		int timeout = LIFECYCLE_STOP_TIMEOUT_S;

		if (registry_template_get(call_registry(call), &call->arena, s.containers[j].label_template,
			&t) == 0 && t->stop_timeout_s != 0)
			timeout = (int)t->stop_timeout_s;
		items[n_items++] = (struct fleet_item){
			.ref = arena_strdup(&call->arena, s.containers[j].id),
			.stop_timeout_s = timeout,
		};
	}
	fleet_run(&d->backend, FLEET_STOP_REMOVE, items, n_items, call_remaining_ms(call), kill_now);

	*errors = ARENA_ARRAY(&call->arena, char *, n_items + 1);
	*n_errors = 0;
	for (size_t k = 0; k < n_items; k++) {
		if (items[k].gone)
			(*containers_removed)++;
		else
			(*errors)[(*n_errors)++] = arena_printf(&call->arena, "container %.12s: %s",
			    items[k].ref, items[k].message);
	}
	/* A row goes when its container is gone, so a crash here loses nothing. */
	for (size_t i = 0; i < s.n_rows; i++) {
		long j = s.row_container[i];
		bool container_gone = true;

		for (size_t k = 0; j >= 0 && k < n_items; k++)
			if (strcmp(items[k].ref, s.containers[j].id) == 0)
				container_gone = items[k].gone;
		if (container_gone && forget(call, s.rows[i], BERTH__V1__EVENT__TYPE__SERVICE_REMOVED,
					  "removed by cleanup") == 0)
			(*rows_removed)++;
	}
	survey_release(&s);
	return 0;
}
