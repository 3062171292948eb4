/*
 * build_root.h - template build contexts must lie under one directory.
 *
 * A template's build_context is a directory on the Docker host that berthd
 * tars and sends to Docker. Without a bound, whoever may put a template
 * could have berthd read any directory (/root, /etc) into an image. So
 * every context must resolve (symbolic links followed) to the build root
 * (--build-root, default <data-dir>/build-contexts) or below: PutTemplate
 * checks it, and the build checks it again (a link may have changed since).
 */
#ifndef BERTH_BUILD_ROOT_H
#define BERTH_BUILD_ROOT_H

#include <stddef.h>

/*
 * Resolves `path` (absolute, without "." or ".." components, as
 * validate_abs_path requires): every component that exists is resolved
 * with realpath(3), the ones that do not yet exist are appended as they
 * are. Returns 0 when the result is `root` (itself resolved) or below it,
 * with the result in `out`; otherwise -1 with a sentence in `why`.
 * Any thread.
 */
int build_root_resolve(const char *root, const char *path, char *out, size_t outlen, char *why,
    size_t whylen);

#endif
