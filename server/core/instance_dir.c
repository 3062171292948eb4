/*
 * instance_dir.c - instance directories, walked by file descriptor.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/v1/berth.pb-c.h"
#include "core/instance_dir.h"

#define DIR_MODE 0750
/* Deeper trees are refused rather than recursed into without end. */
#define MAX_DEPTH 128

/* Opens `name` under `dirfd` as a directory, refusing a link (ELOOP/ENOTDIR). */
static int
open_dir_at(int dirfd, const char *name)
{
	return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* mkdir + open of one level; an existing directory is opened as it is. */
static int
make_dir_at(int dirfd, const char *name)
{
	if (mkdirat(dirfd, name, DIR_MODE) != 0 && errno != EEXIST)
		return -1;
	return open_dir_at(dirfd, name);
}

static int
path_failed(struct error *err, const char *what, const char *dir, const char *name)
{
	int code = errno == ELOOP || errno == ENOTDIR ? BERTH__V1__CODE__FAILED_PRECONDITION
						       : BERTH__V1__CODE__INTERNAL;

	return error_set(err, code, "cannot %s %s/%s: %s", what, dir, name,
	    code == BERTH__V1__CODE__FAILED_PRECONDITION ? "a symbolic link or not a directory"
							 : strerror(errno));
}

int
instance_dir_create(const char *templates_dir, const char *template_name, const char *instance,
    long uid, long gid, struct error *err)
{
	int root, parent, dir;

	if ((root = make_dir_at(AT_FDCWD, templates_dir)) < 0)
		return path_failed(err, "create", templates_dir, "");
	parent = make_dir_at(root, template_name);
	close(root);
	if (parent < 0)
		return path_failed(err, "create", templates_dir, template_name);
	dir = make_dir_at(parent, instance);
	close(parent);
	if (dir < 0)
		return path_failed(err, "create", templates_dir, instance);
	/* Through the descriptor: whatever the path names meanwhile, this directory. */
	if (uid >= 0 && fchown(dir, (uid_t)uid, gid >= 0 ? (gid_t)gid : (gid_t)-1) != 0) {
		int rc = path_failed(err, "give its owner to", template_name, instance);

		close(dir);
		return rc;
	}
	close(dir);
	return 0;
}

/*
 * Deletes everything in the directory open as `dirfd` (which it closes),
 * depth first. An entry that is not a directory, or stopped being one
 * between the stat and the open, is unlinked as the entry it is.
 */
static int
empty_dir(int dirfd, int depth)
{
	DIR *dir;
	struct dirent *e;
	int rc = 0;

	if (depth > MAX_DEPTH) {
		close(dirfd);
		errno = ELOOP;
		return -1;
	}
	if ((dir = fdopendir(dirfd)) == NULL) {
		close(dirfd);
		return -1;
	}
	while ((e = readdir(dir)) != NULL) {
		int child;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd, e->d_name, 0) == 0 || errno == ENOENT)
			continue;
		if (errno != EISDIR && errno != EPERM)
			goto failed;
		/* A directory: emptied through its own descriptor, then removed. */
		child = open_dir_at(dirfd, e->d_name);
		if (child < 0) {
			/* Swapped for something else since: unlink that instead. */
			if (unlinkat(dirfd, e->d_name, 0) == 0 || errno == ENOENT)
				continue;
			goto failed;
		}
		if (empty_dir(child, depth + 1) != 0)
			goto failed;
		if (unlinkat(dirfd, e->d_name, AT_REMOVEDIR) != 0 && errno != ENOENT)
			goto failed;
	}
	closedir(dir);
	return rc;
failed:
	rc = errno;
	closedir(dir);
	errno = rc;
	return -1;
}

int
instance_dir_purge(const char *templates_dir, const char *template_name, const char *instance,
    struct error *err)
{
	int root, parent, dir;

	if ((root = open_dir_at(AT_FDCWD, templates_dir)) < 0)
		return errno == ENOENT ? 0 : path_failed(err, "open", templates_dir, "");
	parent = open_dir_at(root, template_name);
	close(root);
	if (parent < 0)
		return errno == ENOENT ? 0 : path_failed(err, "open", templates_dir, template_name);
	if ((dir = open_dir_at(parent, instance)) < 0) {
		int rc = errno == ENOENT ? 0 : path_failed(err, "open", template_name, instance);

		close(parent);
		return rc;
	}
	if (empty_dir(dir, 0) != 0 ||
	    (unlinkat(parent, instance, AT_REMOVEDIR) != 0 && errno != ENOENT)) {
		int rc = path_failed(err, "delete", template_name, instance);

		close(parent);
		return rc;
	}
	close(parent);
	return 0;
}

void
instance_dir_remove_empty(const char *templates_dir, const char *template_name,
    const char *instance)
{
	int root, parent;

	if ((root = open_dir_at(AT_FDCWD, templates_dir)) < 0)
		return;
	parent = open_dir_at(root, template_name);
	close(root);
	if (parent < 0)
		return;
	(void)unlinkat(parent, instance, AT_REMOVEDIR);
	close(parent);
}
