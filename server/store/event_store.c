/*
 * event_store.c - berth's events in the registry (event_store.h).
 *
 * Statements are prepared per call: the writer appends a batch at most a
 * few times a second. BEGIN/COMMIT are issued here rather than through
 * registry_commit, which would tell the answer cache that the services
 * changed.
 */
#include <string.h>

#include "store/event_store.h"
#include "store/registry.h"
#include "store/store_internal.h"


static int
reserve_locked(struct registry *reg, uint64_t reserve)
{
	sqlite3_stmt *st = store_prepare(reg,
	    "UPDATE event_sequence SET reserved = ?1 WHERE id = 1 AND reserved < ?1");

	if (st == NULL)
		return registry_error(reg)->code;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)reserve);
	return store_run(reg, st);
}

int
event_store_reserve(struct registry *reg, uint64_t reserve)
{
	sqlite3_stmt *st = store_prepare(reg, "UPDATE event_sequence SET reserved = ?1 WHERE id = 1");

	if (st == NULL)
		return registry_error(reg)->code;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)reserve);
	return store_run(reg, st);
}

int
event_store_append(struct registry *reg, Berth__V1__Event *const *events, size_t n, uint64_t keep,
    uint64_t reserve)
{
	sqlite3_stmt *st;
	int rc, code = 0;

	if ((rc = sqlite3_exec(reg->db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) != SQLITE_OK)
		return registry_fail_sqlite(reg, rc);
	st = store_prepare(reg, "INSERT OR IGNORE INTO events (sequence, time, type, service_id, template, "
			  "port, status, message) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
	if (st == NULL) {
		code = registry_error(reg)->code;
		goto out;
	}
	for (size_t i = 0; i < n && code == 0; i++) {
		const Berth__V1__Event *ev = events[i];

		sqlite3_bind_int64(st, 1, (sqlite3_int64)ev->sequence);
		sqlite3_bind_text(st, 2, ev->time, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 3, (int)ev->type);
		sqlite3_bind_text(st, 4, ev->service_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, ev->template_, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, ev->port);
		sqlite3_bind_text(st, 7, ev->status, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 8, ev->message, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			code = registry_fail_sqlite(reg, rc);
	}
	sqlite3_finalize(st);
	if (code != 0)
		goto out;
	st = store_prepare(reg, "DELETE FROM events WHERE sequence <= "
			  "(SELECT max(sequence) FROM events) - ?1");
	if (st == NULL) {
		code = registry_error(reg)->code;
		goto out;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)keep);
	if ((code = store_run(reg, st)) != 0)
		goto out;
	code = reserve_locked(reg, reserve);
out:
	if (code == 0 && (rc = sqlite3_exec(reg->db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
		code = registry_fail_sqlite(reg, rc);
	if (code != 0 && !sqlite3_get_autocommit(reg->db))
		sqlite3_exec(reg->db, "ROLLBACK", NULL, NULL, NULL);
	return code;
}

int
event_store_load(struct registry *reg, struct arena *a, uint64_t keep, Berth__V1__Event ***events,
    size_t *n, uint64_t *reserved)
{
	sqlite3_stmt *st;
	size_t cap = 64, count = 0;
	Berth__V1__Event **list = arena_alloc(a, cap * sizeof(*list));
	uint64_t high = 0;
	int rc;

	st = store_prepare(reg, "SELECT sequence, time, type, service_id, template, port, status, message "
			  "FROM (SELECT * FROM events ORDER BY sequence DESC LIMIT ?1) "
			  "ORDER BY sequence");
	if (st == NULL)
		return registry_error(reg)->code;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)keep);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		Berth__V1__Event *ev = ARENA_NEW(a, Berth__V1__Event);

		berth__v1__event__init(ev);
		ev->sequence = (uint64_t)sqlite3_column_int64(st, 0);
		ev->time = store_column_text(a, st, 1);
		ev->type = (Berth__V1__Event__Type)sqlite3_column_int(st, 2);
		ev->service_id = store_column_text(a, st, 3);
		ev->template_ = store_column_text(a, st, 4);
		ev->port = (uint32_t)sqlite3_column_int64(st, 5);
		ev->status = store_column_text(a, st, 6);
		ev->message = store_column_text(a, st, 7);
		if (count == cap) {
			Berth__V1__Event **grown = arena_alloc(a, cap * 2 * sizeof(*list));

			memcpy(grown, list, cap * sizeof(*list));
			list = grown;
			cap *= 2;
		}
		list[count++] = ev;
		high = ev->sequence;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return registry_fail_sqlite(reg, rc);
	st = store_prepare(reg, "SELECT reserved FROM event_sequence WHERE id = 1");
	if (st == NULL)
		return registry_error(reg)->code;
	if (sqlite3_step(st) == SQLITE_ROW && (uint64_t)sqlite3_column_int64(st, 0) > high)
		high = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	*events = list;
	*n = count;
	*reserved = high;
	return 0;
}
