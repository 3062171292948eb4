/*
 * nodes.h - the cluster's nodes: ListNodes and SetNodeAvailability.
 *
 * Only a backend with nodes (swarm) has any; with the engine backend both
 * answer FAILED_PRECONDITION. A node is named by its id, a unique prefix
 * of its id, or its host name (nodes_resolve).
 */
#ifndef BERTH_CORE_NODES_H
#define BERTH_CORE_NODES_H

#include <stddef.h>

#include "base/call.h"
#include "engine/backend.h"
#include "error.h"

/* Fills out->nodes (in the call's arena), sorted by host name. Any worker. */
int nodes_list(struct call *call, Berth__V1__ListNodesResponse *out);

/*
 * Sets the availability ("active", "pause", "drain") of the node `ref`
 * names and answers the node as it is after. INVALID_ARGUMENT for another
 * availability or an empty ref, NOT_FOUND when no node matches,
 * FAILED_PRECONDITION when several do. Any worker.
 */
int nodes_set_availability(struct call *call, const char *ref, const char *availability,
    Berth__V1__SetNodeAvailabilityResponse *out);

/*
 * Which of nodes[0..n) ref names: an exact id first, then a host name,
 * then a unique id prefix. 0 with *index, or NOT_FOUND / FAILED_PRECONDITION
 * (ambiguous, naming the candidates) in *err. Pure: the unit tests call it.
 */
int nodes_resolve(const struct backend_node *nodes, size_t n, const char *ref, size_t *index,
    struct error *err);

#endif
