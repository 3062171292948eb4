/*
 * cleanup.h - removing what is dead, and removing everything.
 */
#ifndef BERTH_CLEANUP_H
#define BERTH_CLEANUP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "base/call.h"

/*
 * Stops (in parallel, each with its template's stop timeout) and removes
 * every container of this berthd, and deletes each row whose container is
 * gone. When *kill_now turns true, containers still stopping are killed.
 * Shared by ForceCleanupAll and the shutdown. Errors are arena strings.
 */
int cleanup_everything(struct call *call, atomic_bool *kill_now, uint32_t *containers_removed,
    uint32_t *rows_removed, char ***errors, size_t *n_errors);

#endif
