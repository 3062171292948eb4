/*
 * registry.h - berth's registry: templates and services in SQLite.
 *
 * One struct registry is one SQLite connection with its prepared
 * statements; each worker thread owns one (SQLite connections are not
 * shared between threads here), and WAL mode lets them read in parallel
 * while one writes. Results are protobuf messages allocated from the
 * caller's arena. Every function returns a berth status code (0 = OK) and
 * leaves a message in registry_errmsg() on failure.
 */
#ifndef BERTH_REGISTRY_H
#define BERTH_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include <sqlite3.h>

#include "arena.h"
#include "berth/v1/berth.pb-c.h"

struct registry;

/*
 * Opens (creating if needed) the database at `path` with WAL, foreign keys
 * and a busy timeout. With `migrate`, brings the schema up to date first
 * and refuses a database written by a newer berthd. Returns 0 or -1 with
 * the reason in err.
 */
int registry_open(struct registry **out, const char *path, bool migrate, char *err,
    size_t errlen);
void registry_close(struct registry *reg);

sqlite3 *registry_db(struct registry *reg);
const char *registry_errmsg(const struct registry *reg);

/* All templates, sorted by name. */
int registry_template_list(struct registry *reg, struct arena *a, Berth__V1__Template ***out,
    size_t *n);

/* One template; NOT_FOUND when there is none. */
int registry_template_get(struct registry *reg, struct arena *a, const char *name,
    Berth__V1__Template **out);

/* Inserts or replaces a validated template; *created says which. */
int registry_template_put(struct registry *reg, const Berth__V1__Template *t, bool *created);

/* NOT_FOUND, or FAILED_PRECONDITION while services of it exist. */
int registry_template_delete(struct registry *reg, const char *name);

/* "buckets, db, ..." (sorted) for the seed's "not found" message. */
int registry_template_names(struct registry *reg, struct arena *a, char **out);

#endif
