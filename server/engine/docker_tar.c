/*
 * docker_tar.c - a build context tarred in memory, as the docker CLI sends
 * it to POST /build.
 *
 * libarchive is loaded at the first build, not at start-up: only a
 * template with a build_context needs it, and with what it links (libxml2,
 * ICU, libstdc++, four compressors) it cost idle berthd 2 MB of RSS. The
 * header still types every call (`la.f` has f's prototype); the Makefile
 * names the library (LIBARCHIVE_SONAME, on this file's object) and never
 * links it.
 *
 * Threads: any; the library is loaded once (la_once) and read-only after.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/docker_internal.h"

#define CONTEXT_MAX ((size_t)256 << 20) /* the tar of a build context */

#define LA_FUNCTIONS(X)                           \
	X(archive_entry_filetype)                 \
	X(archive_entry_free)                     \
	X(archive_entry_new)                      \
	X(archive_entry_pathname)                 \
	X(archive_entry_set_gid)                  \
	X(archive_entry_set_gname)                \
	X(archive_entry_set_pathname)             \
	X(archive_entry_set_uid)                  \
	X(archive_entry_set_uname)                \
	X(archive_entry_size)                     \
	X(archive_error_string)                   \
	X(archive_read_data)                      \
	X(archive_read_disk_descend)              \
	X(archive_read_disk_new)                  \
	X(archive_read_disk_open)                 \
	X(archive_read_disk_set_behavior)         \
	X(archive_read_disk_set_symlink_physical) \
	X(archive_read_free)                      \
	X(archive_read_next_header2)              \
	X(archive_set_error)                      \
	X(archive_write_close)                    \
	X(archive_write_data)                     \
	X(archive_write_free)                     \
	X(archive_write_header)                   \
	X(archive_write_new)                      \
	X(archive_write_open)                     \
	X(archive_write_set_format_pax_restricted)

#define LA_FIELD(f) __typeof__(f) *f;
/* Filled once by la_load (under la_once), read-only afterwards. */
static struct {
	LA_FUNCTIONS(LA_FIELD)
} la;
static pthread_once_t la_once = PTHREAD_ONCE_INIT;
static char la_error[256]; /* why loading failed; "" when it worked */

static void
la_load(void)
{
	void *lib = dlopen(LIBARCHIVE_SONAME, RTLD_NOW | RTLD_LOCAL);

	if (lib == NULL) {
		snprintf(la_error, sizeof(la_error), "%s", dlerror());
		return;
	}
#define LA_SYMBOL(f)                                                                             \
	if ((la.f = (__typeof__(f) *)dlsym(lib, #f)) == NULL) {                                  \
		snprintf(la_error, sizeof(la_error), "%s: no symbol %s", LIBARCHIVE_SONAME, #f); \
		return;                                                                          \
	}
	LA_FUNCTIONS(LA_SYMBOL)
#undef LA_SYMBOL
	/* Never dlclose'd: berthd builds again, and the handle lives as long as it. */
}

struct tar_sink {
	struct docker_buf out;
};

static la_ssize_t
tar_write(struct archive *a, void *client, const void *data, size_t len)
{
	struct tar_sink *sink = client;

	if (docker_buf_append(&sink->out, data, len) != 0) {
		la.archive_set_error(a, 0,
		    sink->out.too_large ? "build context exceeds %zu bytes" : "out of memory",
		    CONTEXT_MAX);
		return -1;
	}
	return (la_ssize_t)len;
}

/*
 * Copies the contents of the file the reader stands on into the writer:
 * 0, or -1 when reading failed, -2 when writing did.
 */
static int
tar_copy_data(struct archive *disk, struct archive *w)
{
	char chunk[65536];
	la_ssize_t n;

	while ((n = la.archive_read_data(disk, chunk, sizeof(chunk))) > 0) {
		if (la.archive_write_data(w, chunk, (size_t)n) != n)
			return -2;
	}
	return n < 0 ? -1 : 0;
}

/*
 * Tars directory `dir` into *out (malloc'ed, *len bytes), paths relative to
 * it, owned by root as the docker CLI sends them. Symbolic links are stored
 * as links, never followed, so nothing outside the context gets in.
 */
int
docker_tar_context(const char *dir, char **out, size_t *len, struct error *err)
{
	struct tar_sink sink = { .out = { .limit = CONTEXT_MAX } };
	struct archive *disk, *w;
	struct archive_entry *entry = NULL;
	char *root;
	size_t rootlen;
	int rc = DOCKER_OK, r;

	pthread_once(&la_once, la_load);
	if (la_error[0] != '\0')
		return error_set(err, BERTH__V1__CODE__INTERNAL,
		    "build context: cannot load libarchive: %s",
		    la_error);
	disk = la.archive_read_disk_new();
	w = la.archive_write_new();
	root = strdup(dir);
	if (disk == NULL || w == NULL || root == NULL) {
		rc = docker_fail_memory(err);
		goto out;
	}
	rootlen = strlen(root);
	while (rootlen > 1 && root[rootlen - 1] == '/')
		root[--rootlen] = '\0';
	la.archive_read_disk_set_symlink_physical(disk);
	la.archive_read_disk_set_behavior(disk,
	    ARCHIVE_READDISK_NO_XATTR | ARCHIVE_READDISK_NO_ACL |
		ARCHIVE_READDISK_NO_FFLAGS | ARCHIVE_READDISK_NO_SPARSE);
	if (la.archive_write_set_format_pax_restricted(w) != ARCHIVE_OK ||
	    la.archive_write_open(w, &sink, NULL, tar_write, NULL) != ARCHIVE_OK) {
		rc = error_set(err, BERTH__V1__CODE__INTERNAL, "build context: %s",
		    la.archive_error_string(w));
		goto out;
	}
	if (la.archive_read_disk_open(disk, root) != ARCHIVE_OK)
		goto read_failed;
	for (;;) {
		const char *path;
		char *rel;

		la.archive_entry_free(entry);
		if ((entry = la.archive_entry_new()) == NULL) {
			rc = docker_fail_memory(err);
			goto out;
		}
		r = la.archive_read_next_header2(disk, entry);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			goto read_failed;
		if (la.archive_read_disk_descend(disk) < ARCHIVE_WARN)
			goto read_failed;
		path = la.archive_entry_pathname(entry);
		if (path == NULL || strcmp(path, root) == 0)
			continue; /* the context directory itself */
		if (strncmp(path, root, rootlen) != 0 ||
		    (path[rootlen] != '/' && !(rootlen == 1 && root[0] == '/'))) {
			rc = error_set(err, BERTH__V1__CODE__INTERNAL,
			    "build context: unexpected path %s",
			    path);
			goto out;
		}
		/* The entry owns `path`: copy before renaming it. */
		if ((rel = strdup(path + rootlen + (root[rootlen - 1] == '/' ? 0 : 1))) == NULL) {
			rc = docker_fail_memory(err);
			goto out;
		}
		la.archive_entry_set_pathname(entry, rel);
		free(rel);
		la.archive_entry_set_uid(entry, 0);
		la.archive_entry_set_gid(entry, 0);
		la.archive_entry_set_uname(entry, NULL);
		la.archive_entry_set_gname(entry, NULL);
		if (la.archive_write_header(w, entry) < ARCHIVE_WARN)
			goto write_failed;
		if (la.archive_entry_filetype(entry) == AE_IFREG &&
		    la.archive_entry_size(entry) > 0) {
			if ((r = tar_copy_data(disk, w)) == -1)
				goto read_failed;
			if (r == -2)
				goto write_failed;
		}
	}
	if (la.archive_write_close(w) != ARCHIVE_OK)
		goto write_failed;
	*out = sink.out.data;
	*len = sink.out.len;
	sink.out.data = NULL;
	goto out;
read_failed:
	/* libarchive's text names the file. */
	rc = error_set(err, BERTH__V1__CODE__FAILED_PRECONDITION, "build context: %s",
	    la.archive_error_string(disk) != NULL ? la.archive_error_string(disk) : dir);
	goto out;
write_failed:
	rc = error_set(err,
	    sink.out.too_large ? BERTH__V1__CODE__FAILED_PRECONDITION : BERTH__V1__CODE__INTERNAL,
	    "build context %s: %s", dir,
	    la.archive_error_string(w) != NULL ? la.archive_error_string(w) : "cannot write tar");
out:
	la.archive_entry_free(entry);
	if (disk != NULL)
		la.archive_read_free(disk);
	if (w != NULL)
		la.archive_write_free(w);
	docker_buf_free(&sink.out);
	free(root);
	return rc;
}
