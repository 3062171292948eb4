/*
 * nodes.c - ListNodes and SetNodeAvailability over the backend's optional
 * nodes and node_set_availability (only the swarm backend has them).
 *
 * Threads: any RPC worker; no shared state (Swarm serialises updates by
 * the node's version; the engine layer retries when it moved).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/berthd.h"
#include "core/nodes.h"
#include "engine/docker_swarm.h"

static int
no_nodes(struct call *call, const struct backend *b)
{
	return call_fail(call, BERTH__V1__CODE__FAILED_PRECONDITION,
	    "nodes need --backend swarm (this berthd runs the %s backend)", b->ops->name);
}

static int
by_hostname(const void *a, const void *b)
{
	const struct backend_node *x = a, *y = b;
	int c = strcmp(x->hostname, y->hostname);

	return c != 0 ? c : strcmp(x->id, y->id);
}

/* Appends ", name (id)" for each candidate while it fits; says "..." when not. */
static void
name_candidates(char *buf, size_t size, const struct backend_node *nodes, size_t n,
    const size_t *which, size_t n_which)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n_which && which[i] < n; i++) {
		const struct backend_node *nd = &nodes[which[i]];
		int w = snprintf(buf + used, size - used, "%s%s (%.12s)", i > 0 ? ", " : "",
		    nd->hostname, nd->id);

		if (w < 0 || (size_t)w >= size - used) {
			snprintf(buf + used, size - used, ", ...");
			return;
		}
		used += (size_t)w;
	}
}

int
nodes_resolve(const struct backend_node *nodes, size_t n, const char *ref, size_t *index,
    struct error *err)
{
	size_t hits[8], n_hits = 0, len = ref != NULL ? strlen(ref) : 0;
	char names[400];

	if (len == 0)
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "node must name a node (its id, a prefix of it, or its host name)");
	for (size_t i = 0; i < n; i++)
		if (strcmp(nodes[i].id, ref) == 0) {
			*index = i;
			return 0;
		}
	/* Host names next: one is what an operator types, and may look like an id prefix. */
	for (int pass = 0; pass < 2 && n_hits == 0; pass++)
		for (size_t i = 0; i < n; i++) {
			bool match = pass == 0 ? strcmp(nodes[i].hostname, ref) == 0
					       : strncmp(nodes[i].id, ref, len) == 0;
			if (!match)
				continue;
			if (n_hits < sizeof(hits) / sizeof(hits[0]))
				hits[n_hits] = i;
			n_hits++;
		}
	if (n_hits == 1) {
		*index = hits[0];
		return 0;
	}
	if (n_hits == 0)
		return error_set(err, BERTH__V1__CODE__NOT_FOUND,
		    "no node has the id, id prefix or host name '%s'", ref);
	name_candidates(names, sizeof(names), nodes, n, hits,
	    n_hits < sizeof(hits) / sizeof(hits[0]) ? n_hits : sizeof(hits) / sizeof(hits[0]));
	return error_set(err, BERTH__V1__CODE__FAILED_PRECONDITION,
	    "'%s' names %zu nodes: %s; give more of the id", ref, n_hits, names);
}

/* The node as a proto message in the call's arena; NULL when out of memory. */
static Berth__V1__Node *
node_message(struct call *call, const struct backend_node *in)
{
	Berth__V1__Node *m = arena_alloc(&call->arena, sizeof(*m));

	if (m == NULL)
		return NULL;
	berth__v1__node__init(m);
	m->id = arena_strdup(&call->arena, in->id);
	m->hostname = arena_strdup(&call->arena, in->hostname);
	m->address = arena_strdup(&call->arena, in->address);
	m->role = arena_strdup(&call->arena, in->role);
	m->availability = arena_strdup(&call->arena, in->availability);
	m->state = arena_strdup(&call->arena, in->state);
	m->manager_status = arena_strdup(&call->arena, in->manager_status);
	m->tasks = in->tasks;
	m->self = in->self;
	if (m->id == NULL || m->hostname == NULL || m->address == NULL || m->role == NULL ||
	    m->availability == NULL || m->state == NULL || m->manager_status == NULL)
		return NULL;
	return m;
}

static int
fetch(struct call *call, struct backend_node **nodes, size_t *n)
{
	struct backend *b = &call_berthd(call)->backend;
	struct error err = { 0 };

	if (b->ops->nodes(b, nodes, n, call_remaining_ms(call), &err) != 0)
		return call_fail(call, err.code != 0 ? err.code : BERTH__V1__CODE__INTERNAL,
		    "cannot list the swarm's nodes: %s", err.message);
	return 0;
}

int
nodes_list(struct call *call, Berth__V1__ListNodesResponse *out)
{
	struct backend *b = &call_berthd(call)->backend;
	struct backend_node *nodes = NULL;
	size_t n = 0;
	int code;

	if (b->ops->nodes == NULL)
		return no_nodes(call, b);
	if ((code = fetch(call, &nodes, &n)) != 0)
		return code;
	qsort(nodes, n, sizeof(*nodes), by_hostname);
	if (n > 0 && (out->nodes = arena_alloc(&call->arena, n * sizeof(*out->nodes))) == NULL) {
		free(nodes);
		return call_fail(call, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		if ((out->nodes[i] = node_message(call, &nodes[i])) == NULL) {
			free(nodes);
			return call_fail(call, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
		}
	out->n_nodes = n;
	free(nodes);
	return 0;
}

int
nodes_set_availability(struct call *call, const char *ref, const char *availability,
    Berth__V1__SetNodeAvailabilityResponse *out)
{
	struct backend *b = &call_berthd(call)->backend;
	struct backend_node *nodes = NULL;
	struct error err = { 0 };
	char id[DOCKER_ID_LEN + 1];
	size_t n = 0, at = 0;
	int code;

	/* The request's own mistakes first: they are wrong with any backend. */
	if (!docker_node_availability_valid(availability))
		return call_fail_detail(call, BERTH__V1__CODE__INVALID_ARGUMENT, "availability",
		    "INVALID", "availability must be active, pause or drain (not '%s')",
		    availability != NULL ? availability : "");
	if (ref == NULL || ref[0] == '\0')
		return call_fail_detail(call, BERTH__V1__CODE__INVALID_ARGUMENT, "node", "EMPTY",
		    "node must name a node (its id, a prefix of it, or its host name)");
	if (b->ops->nodes == NULL || b->ops->node_set_availability == NULL)
		return no_nodes(call, b);
	if ((code = fetch(call, &nodes, &n)) != 0)
		return code;
	if (nodes_resolve(nodes, n, ref, &at, &err) != 0) {
		free(nodes);
		return call_fail_error(call, &err);
	}
	snprintf(id, sizeof(id), "%s", nodes[at].id);
	free(nodes);
	nodes = NULL;
	if (b->ops->node_set_availability(b, id, availability, call_remaining_ms(call), &err) != 0)
		return call_fail(call, err.code != 0 ? err.code : BERTH__V1__CODE__INTERNAL,
		    "cannot set node %.12s %s: %s", id, availability, err.message);
	/* Answer the node as Swarm has it now, tasks and all. */
	if ((code = fetch(call, &nodes, &n)) != 0)
		return code;
	for (at = 0; at < n && strcmp(nodes[at].id, id) != 0; at++)
		;
	if (at == n) {
		free(nodes);
		return call_fail(call, BERTH__V1__CODE__NOT_FOUND,
		    "node %.12s left the swarm after its availability was set", id);
	}
	out->node = node_message(call, &nodes[at]);
	free(nodes);
	if (out->node == NULL)
		return call_fail(call, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	return 0;
}
