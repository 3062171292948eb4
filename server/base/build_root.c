/*
 * build_root.c - resolve a build context and keep it under the build root.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/build_root.h"

/* True when `path` is `root` or lies below it (both resolved). */
static bool
under(const char *root, const char *path)
{
	size_t n = strlen(root);

	if (n == 1 && root[0] == '/')
		return path[0] == '/';
	return strncmp(path, root, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

int
build_root_resolve(const char *root, const char *path, char *out, size_t outlen, char *why,
    size_t whylen)
{
	char resolved[PATH_MAX] = "/", next[PATH_MAX + NAME_MAX + 2];
	bool exists = true;
	const char *p = path;

	if (root == NULL || root[0] != '/') {
		snprintf(why, whylen, "no build root is configured");
		return -1;
	}
	if (path[0] != '/') {
		snprintf(why, whylen, "%s is not an absolute path", path);
		return -1;
	}
	while (*p != '\0') {
		const char *end;
		size_t len;
		struct stat st;

		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		end = strchr(p, '/');
		len = end != NULL ? (size_t)(end - p) : strlen(p);
		if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.')) {
			snprintf(why, whylen, "%s has a \".\" or \"..\" component", path);
			return -1;
		}
		if ((size_t)snprintf(next, sizeof(next), "%s%s%.*s", resolved,
			strcmp(resolved, "/") == 0 ? "" : "/", (int)len, p) >= PATH_MAX) {
			snprintf(why, whylen, "%s is too long", path);
			return -1;
		}
		if (exists && lstat(next, &st) != 0) {
			if (errno != ENOENT) {
				snprintf(why, whylen, "cannot resolve %s: %s", next, strerror(errno));
				return -1;
			}
			exists = false; /* from here on, appended as written */
		}
		if (exists) {
			if (realpath(next, resolved) == NULL) {
				snprintf(why, whylen, "cannot resolve %s: %s", next, strerror(errno));
				return -1;
			}
		} else {
			memcpy(resolved, next, strlen(next) + 1);
		}
		p += len;
	}
	if (!under(root, resolved)) {
		snprintf(why, whylen, "%s is not under the build root %s%s%s", path, root,
		    strcmp(resolved, path) != 0 ? " (it resolves to " : "",
		    strcmp(resolved, path) != 0 ? resolved : "");
		if (strcmp(resolved, path) != 0 && strlen(why) + 2 < whylen)
			strcat(why, ")");
		return -1;
	}
	if ((size_t)snprintf(out, outlen, "%s", resolved) >= outlen) {
		snprintf(why, whylen, "%s is too long", path);
		return -1;
	}
	return 0;
}
