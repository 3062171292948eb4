/*
 * registry_file.c - the registry's file on disk: created private, checked
 * at start-up, and never silently made anew once it existed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/v1/berth.pb-c.h"
#include "store/store_internal.h"

/* <registry>-initialized: written once the registry has a schema. */
static void
marker_path(char *buf, size_t len, const char *path)
{
	snprintf(buf, len, "%s-initialized", path);
}

/*
 * A registry that existed once and is now missing or empty (a cut to zero
 * bytes, a deleted file) is not silently made anew with the seed
 * templates and no tokens: berthd refuses to start and says how to
 * recover. An empty file with a WAL beside it is refused the same way.
 */
int
registry_file_refuse_lost(const char *path, struct error *err)
{
	char marker[4200], wal[4200];
	struct stat st, wst;
	bool empty = stat(path, &st) != 0 ? errno == ENOENT : st.st_size == 0, marked;

	if (!empty)
		return 0;
	marker_path(marker, sizeof(marker), path);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	marked = access(marker, F_OK) == 0;
	if (marked || (stat(wal, &wst) == 0 && wst.st_size > 0))
		return error_set(err, BERTH__V1__CODE__DATA_LOSS,
		    "the registry %s is missing or empty, but one existed here (%s%s): its templates, "
		    "services and tokens would be lost. Restore it from a backup (with its -wal file), "
		    "or, to start over with an empty registry, remove %s and %s-wal",
		    path, marked ? marker : wal, marked ? " exists" : " is not empty", marker, path);
	return 0;
}

int
registry_file_mark_initialized(const char *path, struct error *err)
{
	char marker[4200];
	int fd;

	marker_path(marker, sizeof(marker), path);
	fd = open(marker, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return error_set(err, BERTH__V1__CODE__UNAVAILABLE, "cannot create %s: %s", marker,
		    strerror(errno));
	close(fd);
	return 0;
}

/* DATA_LOSS for a damaged registry, with how to recover. */
int
registry_file_damaged(const char *path, const char *detail, struct error *err)
{
	return error_set(err, BERTH__V1__CODE__DATA_LOSS,
	    "the registry %s is damaged. Keep the file and restore it from a backup, or try "
	    "`sqlite3 %s .recover | sqlite3 fixed.db` and put fixed.db in its place (%.160s)",
	    path, path, detail);
}

/* True when SQLite's last error on db says the file is not a sound database. */
bool
registry_file_corrupt(sqlite3 *db)
{
	int rc = sqlite3_errcode(db) & 0xff;

	return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB;
}

/* Garbled pages are found at start-up, not as DATA_LOSS answers later. */
int
registry_file_check(sqlite3 *db, const char *path, struct error *err)
{
	sqlite3_stmt *st = NULL;
	const char *result = NULL;
	int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL);

	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
		result = (const char *)sqlite3_column_text(st, 0);
	if (result != NULL && strcmp(result, "ok") == 0) {
		sqlite3_finalize(st);
		return 0;
	}
	registry_file_damaged(path, result != NULL ? result : sqlite3_errmsg(db), err);
	sqlite3_finalize(st);
	return -1;
}

/*
 * The registry holds template env values and token hashes: it is created
 * 0600, and an existing one (with its -wal and -shm, whose modes SQLite
 * copies from the database file) is made 0600 if it is more open.
 */
int
registry_file_make_private(const char *path, struct error *err)
{
	static const char *const suffixes[] = { "", "-wal", "-shm" };
	char file[4200];
	struct stat st;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return error_set(err, BERTH__V1__CODE__UNAVAILABLE, "cannot open %s: %s", path,
		    strerror(errno));
	close(fd);
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(file, sizeof(file), "%s%s", path, suffixes[i]);
		if (lstat(file, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0077) != 0 &&
		    chmod(file, 0600) != 0)
			return error_set(err, BERTH__V1__CODE__UNAVAILABLE,
			    "cannot make %s private: %s",
			    file, strerror(errno));
	}
	return 0;
}
