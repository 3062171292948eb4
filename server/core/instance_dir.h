/*
 * instance_dir.h - each instance's directory, <templates>/<template>/<instance>,
 * created and deleted by berthd (root) without ever following a link.
 *
 * The directory is bind-mounted into the instance's container, so whatever
 * runs there may replace any entry inside it with a symbolic link to a host
 * path at any moment, also while berthd walks it. Every step here is
 * therefore taken relative to a directory file descriptor opened with
 * O_NOFOLLOW | O_DIRECTORY: a link is at most unlinked itself, never
 * entered. Names must already be valid template and instance names
 * (validate.h): no "/", no "..". Any thread; no shared state.
 */
#ifndef BERTH_CORE_INSTANCE_DIR_H
#define BERTH_CORE_INSTANCE_DIR_H

#include "error.h"

/*
 * Creates <templates_dir>/<template>/<instance> (mode 0750, also the two
 * levels above when missing); an existing directory is kept as it is.
 * With uid >= 0 the instance directory is then owned by uid (and gid when
 * >= 0), the container's user. A link anywhere on the way fails with
 * FAILED_PRECONDITION.
 */
int instance_dir_create(const char *templates_dir, const char *template_name,
    const char *instance, long uid, long gid, struct error *err);

/*
 * Deletes <templates_dir>/<template>/<instance> and everything under it,
 * descending only into real directories. A missing directory is success.
 */
int instance_dir_purge(const char *templates_dir, const char *template_name,
    const char *instance, struct error *err);

/* Deletes the directory if it is empty (an undone launch); errors ignored. */
void instance_dir_remove_empty(const char *templates_dir, const char *template_name,
    const char *instance);

#endif
