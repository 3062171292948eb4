/*
 * reconcile.h - make the registry tell the truth about Docker again.
 *
 * At start-up (after kill -9, a power cut, or --on-exit keep) and whenever
 * the Docker event stream reconnects, berthd compares its rows with the
 * containers carrying its labels:
 *   - a "creating" row: its container runs -> "running"; otherwise the
 *     launch is undone (container removed, row deleted, port freed);
 *   - a "removing" row: the removal is finished;
 *   - any other row: its status follows its container (running, exited,
 *     dead; "missing" when the container is gone; a row berth stopped
 *     stays "stopped");
 *   - a container without a row: adopted when its labels are complete and
 *     its template and port are free, else reported as an orphan.
 * With `startup` false (berthd already serving) rows in "creating" and
 * "removing" belong to calls in flight and are left alone.
 */
#ifndef BERTH_RECONCILE_H
#define BERTH_RECONCILE_H

#include <stdbool.h>

#include "base/call.h"
#include "engine/docker.h"

struct reconcile_report {
	unsigned rows_checked;
	unsigned rows_updated;
	unsigned launches_finished;
	unsigned launches_undone;
	unsigned removals_finished;
	unsigned adopted;
	unsigned orphans;
};

/*
 * The registry status that tells the truth about container c (NULL: gone):
 * running while it runs; when it does not, berth's own "stopped" keeps its
 * word, anything else is "exited" or "dead".
 */
const char *reconcile_truthful_status(const Berth__V1__Service *row,
    const struct docker_container *c);

/* Returns 0, or the code when Docker or the registry cannot be read. */
int reconcile_run(struct call *call, bool startup, struct reconcile_report *report);

#endif
