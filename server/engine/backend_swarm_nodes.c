/*
 * backend_swarm_nodes.c - the swarm backend's nodes: the cluster's nodes
 * with the tasks each runs and which one is berthd's own engine, and
 * changing a node's availability (ListNodes, SetNodeAvailability).
 *
 * Threads: any worker; no shared state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "engine/backend.h"
#include "engine/docker_swarm.h"

static int64_t
left(int64_t deadline)
{
	return deadline - clock_monotonic_ms();
}

static void
node_copy(struct backend_node *out, const struct docker_node *in)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->id, sizeof(out->id), "%s", in->id);
	snprintf(out->hostname, sizeof(out->hostname), "%s", in->hostname);
	snprintf(out->address, sizeof(out->address), "%s", in->address);
	snprintf(out->role, sizeof(out->role), "%s", in->role);
	snprintf(out->availability, sizeof(out->availability), "%s", in->availability);
	snprintf(out->state, sizeof(out->state), "%s", in->state);
	snprintf(out->manager_status, sizeof(out->manager_status), "%s", in->manager_status);
}

int
backend_swarm_nodes(struct backend *b, struct backend_node **out, size_t *n,
    int64_t timeout_ms, struct error *err)
{
	int64_t deadline = clock_monotonic_ms() + timeout_ms;
	struct docker_node *nodes = NULL;
	struct docker_task *tasks = NULL;
	struct docker_swarm_state self;
	size_t n_nodes = 0, n_tasks = 0;
	struct error ignored;
	int code;

	*out = NULL;
	*n = 0;
	if ((code = docker_counted(docker_node_list(b->docker, &nodes, &n_nodes, timeout_ms,
		 err))) != 0)
		return code;
	/* Tasks Swarm wants running, counted where they run or are on their way. */
	if ((code = docker_counted(docker_task_list(b->docker, NULL, "running", &tasks, &n_tasks,
		 left(deadline), err))) != 0) {
		free(nodes);
		return code;
	}
	/* Which node is ours is a nicety: without it the list still holds. */
	if (docker_swarm_state(b->docker, &self, left(deadline), &ignored) != 0)
		self.node_id[0] = '\0';
	if (n_nodes > 0 && (*out = calloc(n_nodes, sizeof(**out))) == NULL) {
		free(nodes);
		free(tasks);
		return error_set(err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	}
	for (size_t i = 0; i < n_nodes; i++) {
		struct backend_node *bn = &(*out)[i];

		node_copy(bn, &nodes[i]);
		bn->self = self.node_id[0] != '\0' && strcmp(self.node_id, nodes[i].id) == 0;
		for (size_t j = 0; j < n_tasks; j++)
			if (strcmp(tasks[j].node_id, nodes[i].id) == 0 &&
			    docker_task_state_active(tasks[j].state))
				bn->tasks++;
	}
	*n = n_nodes;
	free(nodes);
	free(tasks);
	return 0;
}

int
backend_swarm_node_set_availability(struct backend *b, const char *id,
    const char *availability, int64_t timeout_ms, struct error *err)
{
	return docker_counted(docker_node_set_availability(b->docker, id, availability,
	    timeout_ms, err));
}
