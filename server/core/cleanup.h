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
 * The registered services, which of them are dead (no running container),
 * and containers labelled as this berthd's that have no row. Reads only.
 */
int cleanup_status(struct call *call, Berth__V1__GetCleanupStatusResponse *out);

/*
 * Removes dead services: the container first, then the row, so a crash in
 * between never leaves an orphan; and containers without a row. A service
 * another call holds the lock of is left for later, and one the supervisor
 * gave up on only with include_failed (one it still owns, never).
 */
int cleanup_dead(struct call *call, bool include_failed, Berth__V1__AutoCleanupResponse *out);

/*
 * Stops (in parallel, each with its template's stop timeout) and removes
 * every container of this berthd, and deletes each row whose container is
 * gone. When *kill_now turns true, containers still stopping are killed.
 * Shared by ForceCleanupAll and the shutdown. Errors are arena strings.
 */
int cleanup_everything(struct call *call, atomic_bool *kill_now, uint32_t *containers_removed,
    uint32_t *rows_removed, char ***errors, size_t *n_errors);

#endif
