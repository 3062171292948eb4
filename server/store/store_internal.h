/*
 * store_internal.h - what the store's own files (and its unit tests) share:
 * the SQLite connection behind a struct registry. Nothing outside
 * server/store/ includes this; the rest of berthd reaches the store only
 * through its functions.
 */
#ifndef BERTH_STORE_INTERNAL_H
#define BERTH_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <sqlite3.h>

#include "error.h"

struct registry;

sqlite3 *registry_db(struct registry *reg);

/* --- the registry's file (registry_file.c), for registry_open --------------- */

/* DATA_LOSS when a registry existed here and is now missing or empty. */
int registry_file_refuse_lost(const char *path, struct error *err);

/* Creates the file 0600, and makes it (and -wal, -shm) 0600 if more open. */
int registry_file_make_private(const char *path, struct error *err);

/* PRAGMA quick_check: DATA_LOSS with the recovery steps unless "ok". */
int registry_file_check(sqlite3 *db, const char *path, struct error *err);

/* Marks that a registry exists here (<path>-initialized). */
int registry_file_mark_initialized(const char *path, struct error *err);

/* DATA_LOSS naming the damaged file and how to recover; returns the code. */
int registry_file_damaged(const char *path, const char *detail, struct error *err);

/* True when db's last error says the file is not a sound database. */
bool registry_file_corrupt(sqlite3 *db);

/* Column `col` of the current row as text into dst (NULL reads as ""). */
void store_copy_column(char *dst, size_t len, sqlite3_stmt *st, int col);

#endif
