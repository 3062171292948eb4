/*
 * test_nodes.c - ListNodes and SetNodeAvailability over a fake backend
 * (core/nodes.c): which node a name picks (id, host name, unique id
 * prefix; ambiguous and unknown names), the order and fields of the list,
 * the checks on availability, and the engine backend's FAILED_PRECONDITION.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "core/berthd.h"
#include "core/nodes.h"

#define NODE(i, h, a, r, av, st, t, m, s)                                                         \
	{                                                                                         \
		.id = i, .hostname = h, .address = a, .role = r, .availability = av, .state = st, \
		.tasks = t, .manager_status = m, .self = s                                        \
	}

static const struct backend_node cluster[] = {
	NODE("zx9k0000000000000000000001", "worker-b", "10.0.0.3", "worker", "active", "ready", 2,
	    "", false),
	NODE("ab1c0000000000000000000002", "manager-a", "10.0.0.1", "manager", "active", "ready", 5,
	    "leader", true),
	NODE("ab2d0000000000000000000003", "worker-a", "10.0.0.2", "worker", "pause", "down", 0, "",
	    false),
};
#define N_CLUSTER (sizeof(cluster) / sizeof(cluster[0]))

/* What the fake backend was asked to do, and its nodes (changed by set). */
static struct backend_node fake[N_CLUSTER];
static char set_id[64], set_availability[16];
static int set_calls;

static int
fake_nodes(struct backend *b, struct backend_node **out, size_t *n, int64_t timeout_ms,
    struct error *err)
{
	(void)b, (void)timeout_ms, (void)err;
	*out = malloc(sizeof(fake));
	memcpy(*out, fake, sizeof(fake));
	*n = N_CLUSTER;
	return 0;
}

static int
fake_set(struct backend *b, const char *id, const char *availability, int64_t timeout_ms,
    struct error *err)
{
	(void)b, (void)timeout_ms, (void)err;
	set_calls++;
	snprintf(set_id, sizeof(set_id), "%s", id);
	snprintf(set_availability, sizeof(set_availability), "%s", availability);
	for (size_t i = 0; i < N_CLUSTER; i++)
		if (strcmp(fake[i].id, id) == 0)
			snprintf(fake[i].availability, sizeof(fake[i].availability), "%s",
			    availability);
	return 0;
}

static const struct backend_ops swarmish_ops = {
	.name = "swarm",
	.nodes = fake_nodes,
	.node_set_availability = fake_set,
};
static const struct backend_ops engineish_ops = { .name = "engine" };

static struct berthd daemon_state;
static struct call call;

static int
setup(void **state)
{
	(void)state;
	memcpy(fake, cluster, sizeof(fake));
	set_calls = 0;
	set_id[0] = set_availability[0] = '\0';
	daemon_state.backend.ops = &swarmish_ops;
	memset(&call, 0, sizeof(call));
	arena_init(&call.arena);
	call.app = &daemon_state;
	call.deadline_ms = clock_monotonic_ms() + 10000;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	arena_reset(&call.arena);
	return 0;
}

static int
resolve(const char *ref, size_t *at, struct error *err)
{
	memset(err, 0, sizeof(*err));
	return nodes_resolve(cluster, N_CLUSTER, ref, at, err);
}

static void
test_resolve_by_id_host_name_and_unique_prefix(void **state)
{
	struct error err;
	size_t at = 99;

	(void)state;
	assert_int_equal(resolve("ab2d0000000000000000000003", &at, &err), 0);
	assert_int_equal(at, 2);
	assert_int_equal(resolve("worker-b", &at, &err), 0);
	assert_int_equal(at, 0);
	assert_int_equal(resolve("zx", &at, &err), 0);
	assert_int_equal(at, 0);
	assert_int_equal(resolve("ab1", &at, &err), 0);
	assert_int_equal(at, 1);
}

static void
test_resolve_ambiguous_prefix_names_the_candidates(void **state)
{
	struct error err;
	size_t at;

	(void)state;
	assert_int_equal(resolve("ab", &at, &err), BERTH__V1__CODE__FAILED_PRECONDITION);
	assert_non_null(strstr(err.message, "manager-a (ab1c00000000)"));
	assert_non_null(strstr(err.message, "worker-a (ab2d00000000)"));
}

static void
test_resolve_unknown_or_empty(void **state)
{
	struct error err;
	size_t at;

	(void)state;
	assert_int_equal(resolve("nope", &at, &err), BERTH__V1__CODE__NOT_FOUND);
	assert_non_null(strstr(err.message, "'nope'"));
	assert_int_equal(resolve("", &at, &err), BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_int_equal(resolve(NULL, &at, &err), BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_int_equal(nodes_resolve(NULL, 0, "x", &at, &err), BERTH__V1__CODE__NOT_FOUND);
}

static void
test_list_is_sorted_by_host_name_with_every_field(void **state)
{
	Berth__V1__ListNodesResponse out = BERTH__V1__LIST_NODES_RESPONSE__INIT;

	(void)state;
	assert_int_equal(nodes_list(&call, &out), 0);
	assert_int_equal(out.n_nodes, 3);
	assert_string_equal(out.nodes[0]->hostname, "manager-a");
	assert_string_equal(out.nodes[1]->hostname, "worker-a");
	assert_string_equal(out.nodes[2]->hostname, "worker-b");
	assert_string_equal(out.nodes[0]->id, "ab1c0000000000000000000002");
	assert_string_equal(out.nodes[0]->address, "10.0.0.1");
	assert_string_equal(out.nodes[0]->role, "manager");
	assert_string_equal(out.nodes[0]->manager_status, "leader");
	assert_int_equal(out.nodes[0]->tasks, 5);
	assert_true(out.nodes[0]->self);
	assert_string_equal(out.nodes[1]->availability, "pause");
	assert_string_equal(out.nodes[1]->state, "down");
	assert_string_equal(out.nodes[1]->manager_status, "");
	assert_false(out.nodes[1]->self);
}

static void
test_set_availability_by_host_name_answers_the_node_after(void **state)
{
	Berth__V1__SetNodeAvailabilityResponse out = BERTH__V1__SET_NODE_AVAILABILITY_RESPONSE__INIT;

	(void)state;
	assert_int_equal(nodes_set_availability(&call, "worker-b", "drain", &out), 0);
	assert_int_equal(set_calls, 1);
	/* The backend gets the full id, whatever the caller typed. */
	assert_string_equal(set_id, "zx9k0000000000000000000001");
	assert_string_equal(set_availability, "drain");
	assert_non_null(out.node);
	assert_string_equal(out.node->hostname, "worker-b");
	assert_string_equal(out.node->availability, "drain");
}

static void
test_set_availability_refuses_bad_input_before_the_backend(void **state)
{
	Berth__V1__SetNodeAvailabilityResponse out = BERTH__V1__SET_NODE_AVAILABILITY_RESPONSE__INIT;
	const char *bad[] = { "", "Drain", "drained", "available", "active ", NULL };

	(void)state;
	for (size_t i = 0; bad[i] != NULL; i++) {
		assert_int_equal(nodes_set_availability(&call, "worker-b", bad[i], &out),
		    BERTH__V1__CODE__INVALID_ARGUMENT);
		assert_string_equal(call.details[call.n_details - 1]->field, "availability");
	}
	assert_int_equal(nodes_set_availability(&call, "worker-b", NULL, &out),
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_int_equal(nodes_set_availability(&call, "", "drain", &out),
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_int_equal(nodes_set_availability(&call, "ab", "drain", &out),
	    BERTH__V1__CODE__FAILED_PRECONDITION);
	assert_int_equal(nodes_set_availability(&call, "nope", "drain", &out),
	    BERTH__V1__CODE__NOT_FOUND);
	assert_int_equal(set_calls, 0);
}

static void
test_engine_backend_has_no_nodes(void **state)
{
	Berth__V1__ListNodesResponse list = BERTH__V1__LIST_NODES_RESPONSE__INIT;
	Berth__V1__SetNodeAvailabilityResponse set = BERTH__V1__SET_NODE_AVAILABILITY_RESPONSE__INIT;

	(void)state;
	daemon_state.backend.ops = &engineish_ops;
	assert_int_equal(nodes_list(&call, &list), BERTH__V1__CODE__FAILED_PRECONDITION);
	assert_non_null(strstr(call.error.message, "nodes need --backend swarm"));
	assert_int_equal(nodes_set_availability(&call, "n1", "drain", &set),
	    BERTH__V1__CODE__FAILED_PRECONDITION);
	assert_non_null(strstr(call.error.message, "nodes need --backend swarm"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolve_by_id_host_name_and_unique_prefix),
		cmocka_unit_test(test_resolve_ambiguous_prefix_names_the_candidates),
		cmocka_unit_test(test_resolve_unknown_or_empty),
		cmocka_unit_test_setup_teardown(test_list_is_sorted_by_host_name_with_every_field,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_set_availability_by_host_name_answers_the_node_after, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_set_availability_refuses_bad_input_before_the_backend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine_backend_has_no_nodes, setup, teardown),
	};

	return cmocka_run_group_tests_name("nodes", tests, NULL, NULL);
}
