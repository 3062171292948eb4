/*
 * registry_supervision.c - the supervisor's rows: desired state, restart
 * bookkeeping and health verdicts of services. Statements and error
 * handling are registry.c's (store_internal.h).
 */
#include <stdio.h>
#include <string.h>

#include "store/registry.h"
#include "store/store_internal.h"

static void
copy_column(char *dst, size_t len, sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	snprintf(dst, len, "%s", s != NULL ? (const char *)s : "");
}

int
registry_supervision_get(struct registry *reg, const char *service_id, struct supervision *out)
{
	sqlite3_stmt *st = registry_stmt(reg, ST_SUPERVISION_GET);
	int rc;

	if (st == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
	sqlite3_bind_text(st, 1, service_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		return registry_fail(reg, BERTH__V1__CODE__NOT_FOUND, "Service '%s' not found",
		    service_id);
	}
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return registry_fail_sqlite(reg, rc);
	}
	memset(out, 0, sizeof(*out));
	copy_column(out->desired_state, sizeof(out->desired_state), st, 0);
	copy_column(out->restart, sizeof(out->restart), st, 1);
	copy_column(out->state, sizeof(out->state), st, 2);
	copy_column(out->health, sizeof(out->health), st, 3);
	out->restarts = (uint32_t)sqlite3_column_int(st, 4);
	out->backoff_level = (uint32_t)sqlite3_column_int(st, 5);
	out->window_restarts = (uint32_t)sqlite3_column_int(st, 6);
	out->max_restarts = (uint32_t)sqlite3_column_int(st, 7);
	out->restart_window_s = (uint32_t)sqlite3_column_int(st, 8);
	out->last_exit_code = sqlite3_column_int(st, 9);
	out->next_restart_at = sqlite3_column_int64(st, 10);
	out->window_started_at = sqlite3_column_int64(st, 11);
	sqlite3_reset(st);
	return 0;
}

/* Runs an UPDATE that must touch the row of service_id. */
static int
update_one(struct registry *reg, sqlite3_stmt *st, const char *service_id)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return registry_fail_sqlite(reg, rc);
	if (sqlite3_changes(reg->db) == 0)
		return registry_fail(reg, BERTH__V1__CODE__NOT_FOUND, "Service '%s' not found",
		    service_id);
	registry_changed();
	return 0;
}

int
registry_supervision_put(struct registry *reg, const char *service_id, const struct supervision *s)
{
	sqlite3_stmt *st = registry_stmt(reg, ST_SUPERVISION_PUT);

	if (st == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
	sqlite3_bind_text(st, 1, service_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, s->state, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, (int)s->restarts);
	sqlite3_bind_int(st, 4, (int)s->backoff_level);
	sqlite3_bind_int(st, 5, (int)s->window_restarts);
	sqlite3_bind_int(st, 6, s->last_exit_code);
	sqlite3_bind_int64(st, 7, s->next_restart_at);
	sqlite3_bind_int64(st, 8, s->window_started_at);
	return update_one(reg, st, service_id);
}

int
registry_service_set_desired(struct registry *reg, const char *service_id,
    const char *desired_state)
{
	sqlite3_stmt *st = registry_stmt(reg, ST_SERVICE_SET_DESIRED);

	if (st == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
	sqlite3_bind_text(st, 1, service_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, desired_state, -1, SQLITE_STATIC);
	return update_one(reg, st, service_id);
}

int
registry_service_set_health(struct registry *reg, const char *service_id, const char *health,
    const char *message)
{
	sqlite3_stmt *st = registry_stmt(reg, ST_SERVICE_SET_HEALTH);

	if (st == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
	sqlite3_bind_text(st, 1, service_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, health, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, message != NULL ? message : "", -1, SQLITE_STATIC);
	return update_one(reg, st, service_id);
}

int
registry_service_set_nodes(struct registry *reg, const char *service_id, const char *nodes)
{
	sqlite3_stmt *st = registry_stmt(reg, ST_SERVICE_SET_NODES);

	if (st == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
	sqlite3_bind_text(st, 1, service_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, nodes != NULL ? nodes : "", -1, SQLITE_STATIC);
	return update_one(reg, st, service_id); /* bumps the generation: cached lists go stale */
}

int
registry_service_ids(struct registry *reg, struct arena *a, char ***out, size_t *n)
{
	sqlite3_stmt *st = registry_stmt(reg, ST_SERVICE_IDS);
	size_t count = 0, cap = 16;
	char **ids;
	int rc;

	if (st == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
	ids = ARENA_ARRAY(a, char *, cap);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (count == cap) {
			char **bigger = ARENA_ARRAY(a, char *, cap * 2);
			memcpy(bigger, ids, sizeof(*ids) * count);
			ids = bigger;
			cap *= 2;
		}
		ids[count++] = store_column_text(a, st, 0);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return registry_fail_sqlite(reg, rc);
	*out = ids;
	*n = count;
	return 0;
}
