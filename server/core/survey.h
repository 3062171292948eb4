/*
 * survey.h - the registry and Docker side by side.
 *
 * Cleanup, reconciliation and shutdown all start from the same question:
 * which rows have which container, which rows lost theirs, and which of
 * this berthd's containers have no row. A survey answers it with one
 * registry query and one container listing.
 */
#ifndef BERTH_SURVEY_H
#define BERTH_SURVEY_H

#include <stdbool.h>
#include <stddef.h>

#include "base/call.h"
#include "engine/docker.h"

struct survey {
	Berth__V1__Service **rows;            /* every registry row (call arena) */
	size_t n_rows;
	struct docker_container *containers;  /* this berthd's containers (malloc'ed) */
	size_t n_containers;
	long *row_container;                  /* per row: index into containers, or -1 */
	bool *container_has_row;              /* per container */
};

/*
 * Takes a survey for `call`. Fails (UNAVAILABLE, ...) when Docker cannot
 * list the containers. Release with survey_release.
 */
int survey_take(struct call *call, struct survey *s);
void survey_release(struct survey *s);

/* The container of row i, or NULL when it has none. */
const struct docker_container *survey_container(const struct survey *s, size_t row);

/*
 * Whether the supervisor owns row i: wanted running, with a restart policy,
 * not given up on. Its container being down means a restart is coming.
 */
bool survey_row_supervised(const struct survey *s, size_t row);

/* Whether the supervisor gave up on row i (Service.supervisor "failed"). */
bool survey_row_failed(const struct survey *s, size_t row);

/*
 * Whether row i is dead: its container is gone, or exited or dead although
 * berth did not stop it. Rows in the middle of a launch or removal are not,
 * nor rows the supervisor owns.
 */
bool survey_row_dead(const struct survey *s, size_t row);

#endif
