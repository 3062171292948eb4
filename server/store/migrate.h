/*
 * migrate.h - schema migrations of the registry database.
 *
 * The numbered files of migrations/ are compiled into berthd (see
 * migrations/embed.sh). The schema version is SQLite's PRAGMA user_version.
 * Each migration runs in its own IMMEDIATE transaction together with the
 * version bump, so a failing migration leaves the database exactly as it
 * was, and two berthd starting at once cannot both apply the same step.
 */
#ifndef BERTH_MIGRATE_H
#define BERTH_MIGRATE_H

#include <stddef.h>

#include <sqlite3.h>

#include "error.h"

struct migration {
	int version;      /* schema version after this step: 1, 2, ... */
	const char *name; /* "001_schema" */
	const char *sql;
};

/* The migrations compiled into this binary, in order. */
extern const struct migration migrations[];
extern const unsigned migrations_count;

/* The database's schema version (0 for a new database); -1 on error. */
int migrate_version(sqlite3 *db);

/*
 * Applies every migration of list[0..n) newer than the database. Refuses a
 * database whose version is newer than list's last ("made by a newer
 * berthd"). Returns 0, or -1 with the reason in err.
 */
int migrate_apply(sqlite3 *db, const struct migration *list, unsigned n, struct error *err);

#endif
