/*
 * store_internal.h - what the store's own files (and its unit tests) share:
 * the SQLite connection behind a struct registry. Nothing outside
 * server/store/ includes this; the rest of berthd reaches the store only
 * through its functions.
 */
#ifndef BERTH_STORE_INTERNAL_H
#define BERTH_STORE_INTERNAL_H

#include <sqlite3.h>

struct registry;

sqlite3 *registry_db(struct registry *reg);

/* Column `col` of the current row as text into dst (NULL reads as ""). */
void store_copy_column(char *dst, size_t len, sqlite3_stmt *st, int col);

#endif
