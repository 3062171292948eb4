/*
 * survey.c - match registry rows with containers: by container id, else
 * by name, else by the berth.service label.
 */
#include <stdlib.h>
#include <string.h>

#include "core/berthd.h"
#include "core/lifecycle.h"
#include "core/rollout.h"
#include "core/survey.h"

/*
 * How a container belongs to a row: 3 by its id, 2 by its name, 1 by its
 * berth.service label only, 0 not at all. The strongest wins: a stray
 * with the service's label (a create a killed berthd sent) never takes
 * the row from the container the row names.
 */
static int
match_strength(const Berth__V1__Service *row, const struct docker_container *c)
{
	/* "<service_id>.old": a rollout's old container, set aside (rollout.h). */
	if (rollout_is_old_name(c->name))
		return 0;
	if (row->container_id[0] != '\0' && strcmp(row->container_id, c->id) == 0)
		return 3;
	if (strcmp(row->container_name, c->name) == 0)
		return 2;
	return strcmp(row->service_id, c->label_service) == 0 ? 1 : 0;
}

int
survey_take(struct call *call, struct survey *s)
{
	struct backend *b = &call_berthd(call)->backend;
	struct error err = { 0 };
	int code;

	memset(s, 0, sizeof(*s));
	/*
	 * Containers first, rows second: a launch inserts its row before it
	 * creates its container, so this order never shows a launch in flight
	 * as an orphan container (its row is seen, "creating").
	 */
	code = b->ops->list_own(b, &s->containers, &s->n_containers, call_remaining_ms(call), &err);
	if (code != 0)
		return call_fail(call, code, "cannot list berth's containers: %s", err.message);
	code = registry_service_list(call_registry(call), &call->arena, NULL, NULL, &s->rows,
	    &s->n_rows);
	if (code != 0) {
		survey_release(s);
		return call_fail_error(call, registry_error(call_registry(call)));
	}

	s->row_container = ARENA_ARRAY(&call->arena, long, s->n_rows + 1);
	s->container_has_row = ARENA_ARRAY(&call->arena, bool, s->n_containers + 1);
	for (size_t i = 0; i < s->n_rows; i++)
		s->row_container[i] = -1;
	for (int strength = 3; strength > 0; strength--) {
		for (size_t i = 0; i < s->n_rows; i++) {
			for (size_t j = 0; j < s->n_containers && s->row_container[i] < 0; j++) {
				if (!s->container_has_row[j] &&
				    match_strength(s->rows[i], &s->containers[j]) == strength) {
					s->row_container[i] = (long)j;
					s->container_has_row[j] = true;
				}
			}
		}
	}
	/* A rollout's old container belongs to its service's row: no orphan to clean up. */
	for (size_t j = 0; j < s->n_containers; j++)
		for (size_t i = 0; i < s->n_rows && !s->container_has_row[j]; i++)
			if (rollout_is_old_name(s->containers[j].name) &&
			    strcmp(s->rows[i]->service_id, s->containers[j].label_service) == 0)
				s->container_has_row[j] = true;
	return 0;
}

void
survey_release(struct survey *s)
{
	free(s->containers);
	s->containers = NULL;
	s->n_containers = 0;
}

const struct docker_container *
survey_container(const struct survey *s, size_t row)
{
	long j = s->row_container[row];
	return j >= 0 ? &s->containers[j] : NULL;
}

bool
survey_row_supervised(const struct survey *s, size_t row)
{
	const Berth__V1__Service *r = s->rows[row];

	return strcmp(r->desired_state, DESIRED_RUNNING) == 0 && strcmp(r->restart, RESTART_NO) != 0 &&
	    strcmp(r->supervisor, SUPERVISOR_FAILED) != 0;
}

bool
survey_row_failed(const struct survey *s, size_t row)
{
	return strcmp(s->rows[row]->supervisor, SUPERVISOR_FAILED) == 0;
}

bool
survey_row_dead(const struct survey *s, size_t row)
{
	const Berth__V1__Service *r = s->rows[row];
	const struct docker_container *c = survey_container(s, row);

	if (strcmp(r->status, STATUS_CREATING) == 0 || strcmp(r->status, STATUS_REMOVING) == 0)
		return false;
	if (survey_row_supervised(s, row))
		return false;
	if (c == NULL)
		return true;
	if (strcmp(c->state, "exited") == 0 || strcmp(c->state, "dead") == 0)
		return strcmp(r->status, STATUS_STOPPED) != 0;
	return false;
}
