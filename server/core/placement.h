/*
 * placement.h - with the swarm backend, berth follows which nodes run each
 * service's tasks (Service.nodes, SERVICE_PLACEMENT_CHANGED).
 *
 * Docker 20.10 has no task events, so one thread polls every second: one
 * GET /tasks for all services (desired state running) and, only when a
 * task names a node it does not know or every ~10 s, one GET /nodes for
 * the host names. Per service of this berthd's registry it computes the
 * sorted, unique host names of its running tasks; a set that differs from
 * the registry's is written (registry_service_set_nodes, which also makes
 * cached ListServices answers stale) and published. A Docker error keeps
 * the last placement and is logged once until Docker answers again.
 */
#ifndef BERTH_CORE_PLACEMENT_H
#define BERTH_CORE_PLACEMENT_H

#include <stddef.h>

#include "engine/docker_swarm.h"

struct berthd;

/*
 * Starts the poller when the backend is swarm (main thread, after the
 * health monitor); does nothing otherwise. -1 when it cannot start (logged;
 * berthd serves without placement).
 */
int placement_start(struct berthd *d);

/*
 * Stops and joins it (main thread, at shutdown, before the event follower
 * stops). Waits at most for the poll in flight (its Docker calls time out
 * within a second). Safe when it never started.
 */
void placement_stop(struct berthd *d);

/* --- the pure part, for the poller and its tests ------------------------------ */

/*
 * The host names of the nodes running tasks (state "running") of Swarm
 * service `swarm_id`, sorted, unique, comma-joined into out ("" for none;
 * cut at len). A task on a node that `nodes` lacks counts under its node
 * id. Returns how many such unknown node ids it met (the caller refreshes
 * its node list then).
 */
size_t placement_nodes_of(const char *swarm_id, const struct docker_task *tasks, size_t n_tasks,
    const struct docker_node *nodes, size_t n_nodes, char *out, size_t len);

/* The event's message: "nodes: a,b -> a,c"; an empty set reads "none". */
void placement_message(const char *before, const char *after, char *out, size_t len);

#endif
