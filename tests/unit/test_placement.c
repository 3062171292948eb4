/*
 * test_placement.c - where swarm tasks run, without Docker: the per-service
 * node set and the event's message (core/placement.c's pure part), and the
 * registry's nodes column (registry_service_set_nodes, Service.nodes) on a
 * temporary database file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/placement.h"
#include "registry_fixture.h"
#include "store/registry.h"

static struct docker_task
task(const char *service_id, const char *node_id, const char *state)
{
	struct docker_task t;

	memset(&t, 0, sizeof(t));
	snprintf(t.service_id, sizeof(t.service_id), "%s", service_id);
	snprintf(t.node_id, sizeof(t.node_id), "%s", node_id);
	snprintf(t.state, sizeof(t.state), "%s", state);
	return t;
}

static struct docker_node
node(const char *id, const char *hostname)
{
	struct docker_node n;

	memset(&n, 0, sizeof(n));
	snprintf(n.id, sizeof(n.id), "%s", id);
	snprintf(n.hostname, sizeof(n.hostname), "%s", hostname);
	return n;
}

/* Running tasks only, this service's only, by host name, sorted, one entry per node. */
static void
test_node_set_is_sorted_unique_host_names_of_running_tasks(void **state)
{
	struct docker_node nodes[] = { node("N1", "n1"), node("N2", "n2"), node("N3", "n3") };
	struct docker_task tasks[] = {
		task("svcA", "N3", "running"),
		task("svcA", "N1", "running"),
		task("svcA", "N3", "running"),  /* two replicas on n3: one entry */
		task("svcA", "N2", "starting"), /* not running yet */
		task("svcA", "", "running"),    /* not scheduled */
		task("svcB", "N2", "running"),  /* another service */
	};
	char out[256];

	(void)state;
	assert_int_equal(placement_nodes_of("svcA", tasks, 6, nodes, 3, out, sizeof(out)), 0);
	assert_string_equal(out, "n1,n3");
	assert_int_equal(placement_nodes_of("svcB", tasks, 6, nodes, 3, out, sizeof(out)), 0);
	assert_string_equal(out, "n2");
	assert_int_equal(placement_nodes_of("svcC", tasks, 6, nodes, 3, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(placement_nodes_of("svcA", NULL, 0, nodes, 3, out, sizeof(out)), 0);
	assert_string_equal(out, "");
}

/* A node the cached list lacks counts under its id and asks for a refresh. */
static void
test_unknown_node_shows_its_id_and_is_counted(void **state)
{
	struct docker_node nodes[] = { node("N1", "n1") };
	struct docker_task tasks[] = { task("s", "N1", "running"), task("s", "N9", "running") };
	char out[256];

	(void)state;
	assert_int_equal(placement_nodes_of("s", tasks, 2, nodes, 1, out, sizeof(out)), 1);
	assert_string_equal(out, "N9,n1");
}

/* A short buffer cuts whole names, never overflows. */
static void
test_short_buffer_is_cut_safely(void **state)
{
	struct docker_node nodes[] = { node("N1", "alpha"), node("N2", "beta") };
	struct docker_task tasks[] = { task("s", "N1", "running"), task("s", "N2", "running") };
	char out[8];

	(void)state;
	placement_nodes_of("s", tasks, 2, nodes, 2, out, sizeof(out));
	assert_string_equal(out, "alpha");
}

static void
test_message_names_both_sets(void **state)
{
	char out[128];

	(void)state;
	placement_message("a,b", "a,c", out, sizeof(out));
	assert_string_equal(out, "nodes: a,b -> a,c");
	placement_message("", "n1", out, sizeof(out));
	assert_string_equal(out, "nodes: none -> n1");
	placement_message("n1", "", out, sizeof(out));
	assert_string_equal(out, "nodes: n1 -> none");
}

/* The column round-trips as Service.nodes, empty by default; a gone service is NOT_FOUND. */
static void
test_registry_set_nodes_round_trips(void **state)
{
	struct registry_fixture *f = *state;
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	Berth__V1__Service s = BERTH__V1__SERVICE__INIT;
	Berth__V1__Service *row, **rows;
	size_t n;
	bool created;
	uint64_t generation;

	t.name = "web";
	t.image = "web:1";
	t.container_port = 80;
	t.port_range_start = 9000;
	assert_int_equal(registry_template_put(f->reg, &t, &created), 0);
	s.service_id = "web_instance_1";
	s.template_ = "web";
	s.instance = "instance_1";
	s.instance_number = 1;
	s.container_name = "web_instance_1";
	s.port = 9000;
	s.project_dir = "/tmp/x";
	s.status = "running";
	assert_int_equal(registry_service_insert(f->reg, &s), 0);

	assert_int_equal(registry_service_get(f->reg, &f->arena, "web_instance_1", &row), 0);
	assert_int_equal(row->n_nodes, 0);

	generation = registry_generation();
	assert_int_equal(registry_service_set_nodes(f->reg, "web_instance_1", "n1,n3"), 0);
	assert_true(registry_generation() != generation); /* cached ListServices answers go stale */
	assert_int_equal(registry_service_get(f->reg, &f->arena, "web_instance_1", &row), 0);
	assert_int_equal(row->n_nodes, 2);
	assert_string_equal(row->nodes[0], "n1");
	assert_string_equal(row->nodes[1], "n3");
	assert_int_equal(registry_service_list(f->reg, &f->arena, "", "", &rows, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(rows[0]->n_nodes, 2);
	assert_string_equal(rows[0]->nodes[1], "n3");

	assert_int_equal(registry_service_set_nodes(f->reg, "web_instance_1", ""), 0);
	assert_int_equal(registry_service_get(f->reg, &f->arena, "web_instance_1", &row), 0);
	assert_int_equal(row->n_nodes, 0);

	assert_int_equal(registry_service_set_nodes(f->reg, "gone", "n1"), BERTH__V1__CODE__NOT_FOUND);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_node_set_is_sorted_unique_host_names_of_running_tasks),
		cmocka_unit_test(test_unknown_node_shows_its_id_and_is_counted),
		cmocka_unit_test(test_short_buffer_is_cut_safely),
		cmocka_unit_test(test_message_names_both_sets),
		cmocka_unit_test_setup_teardown(test_registry_set_nodes_round_trips,
		    registry_fixture_setup, registry_fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
