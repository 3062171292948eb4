/*
 * migrate.c - applies compiled-in SQL migrations in order.
 */
#include <stdio.h>

#include "berth/v1/berth.pb-c.h"
#include "base/log.h"
#include "store/migrate.h"

int
migrate_version(sqlite3 *db)
{
	sqlite3_stmt *st;
	int version = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return version;
}

/* Runs one step inside the caller's transaction. */
static int
apply_one(sqlite3 *db, const struct migration *m, struct error *err)
{
	char pragma[64];
	char *msg = NULL;

	if (sqlite3_exec(db, m->sql, NULL, NULL, &msg) != SQLITE_OK) {
		error_set(err, BERTH__V1__CODE__FAILED_PRECONDITION,
		    "migration %s failed: %s", m->name, msg ? msg : "unknown error");
		sqlite3_free(msg);
		return -1;
	}
	/* PRAGMA takes no bound parameters; the version is our own integer. */
	snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", m->version);
	if (sqlite3_exec(db, pragma, NULL, NULL, &msg) != SQLITE_OK) {
		error_set(err, BERTH__V1__CODE__FAILED_PRECONDITION,
		    "migration %s: cannot record version: %s", m->name,
		    msg ? msg : "unknown error");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

int
migrate_apply(sqlite3 *db, const struct migration *list, unsigned n, struct error *err)
{
	int newest = n > 0 ? list[n - 1].version : 0;

	for (unsigned i = 0; i < n; i++) {
		int version;

		if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
			error_set(err, BERTH__V1__CODE__FAILED_PRECONDITION,
			    "cannot lock the database: %s", sqlite3_errmsg(db));
			return -1;
		}
		/* Read inside the lock: another berthd may have migrated meanwhile. */
		version = migrate_version(db);
		if (version < 0) {
			error_set(err, BERTH__V1__CODE__FAILED_PRECONDITION,
			    "cannot read the schema version: %s", sqlite3_errmsg(db));
			goto rollback;
		}
		if (version > newest) {
			error_set(err, BERTH__V1__CODE__FAILED_PRECONDITION,
			    "the database has schema version %d but this berthd knows only up to %d: "
			    "it was written by a newer berthd; upgrade berthd or use another data directory",
			    version, newest);
			goto rollback;
		}
		if (list[i].version <= version) {
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			continue;
		}
		if (list[i].version != version + 1) {
			error_set(err, BERTH__V1__CODE__FAILED_PRECONDITION,
			    "migration %s skips from version %d to %d", list[i].name,
			    version, list[i].version);
			goto rollback;
		}
		if (apply_one(db, &list[i], err) != 0)
			goto rollback;
		if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
			error_set(err, BERTH__V1__CODE__FAILED_PRECONDITION,
			    "migration %s: commit failed: %s", list[i].name,
			    sqlite3_errmsg(db));
			goto rollback;
		}
		log_info("migrated schema to version=%d name=%s", list[i].version, list[i].name);
	}
	if (n == 0 && migrate_version(db) > 0) {
		error_set(err, BERTH__V1__CODE__FAILED_PRECONDITION,
		    "the database has a schema but this berthd knows none");
		return -1;
	}
	return 0;
rollback:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}
