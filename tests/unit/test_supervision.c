/*
 * test_supervision.c - the supervisor's pieces that need no Docker: the
 * backoff sequence, and its rows in the registry (store/registry_supervision.c)
 * on a temporary database file: the policy in force, the counts an
 * operator's word resets, the migration's defaults.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/supervisor.h"
#include "registry_fixture.h"
#include "store/registry.h"

static void
test_backoff_doubles_from_one_second_up_to_five_minutes(void **state)
{
	static const int64_t want[] = { 1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000,
		256000, 300000, 300000 };

	(void)state;
	for (uint32_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_int_equal(supervisor_backoff_ms(i), want[i]);
	assert_int_equal(supervisor_backoff_ms(32), 300000);
	assert_int_equal(supervisor_backoff_ms(UINT32_MAX), 300000);
}

/* A template "web" (policy `restart`) and one running service of it, with an override. */
static void
add_service(struct registry_fixture *f, const char *restart, const char *override)
{
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	Berth__V1__Service s = BERTH__V1__SERVICE__INIT;
	bool created;

	t.name = "web";
	t.image = "web:1";
	t.container_port = 80;
	t.port_range_start = 9000;
	t.restart = (char *)restart;
	t.max_restarts = 3;
	t.restart_window_s = 60;
	assert_int_equal(registry_template_put(f->reg, &t, &created), 0);
	s.service_id = "web_instance_1";
	s.template_ = "web";
	s.instance = "instance_1";
	s.instance_number = 1;
	s.container_name = "web_instance_1";
	s.port = 9000;
	s.project_dir = "/tmp/x";
	s.status = "running";
	s.restart = (char *) override;
	assert_int_equal(registry_service_insert(f->reg, &s), 0);
}

static void
test_policy_in_force_is_the_override_else_the_template(void **state)
{
	struct registry_fixture *f = *state;
	struct supervision sv;
	Berth__V1__Service *row;

	add_service(f, "always", "");
	assert_int_equal(registry_supervision_get(f->reg, "web_instance_1", &sv), 0);
	assert_string_equal(sv.restart, "always");
	assert_string_equal(sv.desired_state, "running");
	assert_string_equal(sv.state, "ok");
	assert_int_equal(sv.max_restarts, 3);
	assert_int_equal(sv.restart_window_s, 60);
	assert_int_equal(registry_service_get(f->reg, &f->arena, "web_instance_1", &row), 0);
	assert_string_equal(row->restart, "always");
	assert_string_equal(row->health, "none");
	assert_string_equal(row->next_restart_at, "");
	assert_int_equal(registry_service_delete(f->reg, "web_instance_1"), 0);

	add_service(f, "always", "no");
	assert_int_equal(registry_supervision_get(f->reg, "web_instance_1", &sv), 0);
	assert_string_equal(sv.restart, "no");
	assert_int_equal(registry_service_get(f->reg, &f->arena, "web_instance_1", &row), 0);
	assert_string_equal(row->restart, "no");
	assert_int_equal(registry_supervision_get(f->reg, "nope", &sv), BERTH__V1__CODE__NOT_FOUND);
}

/* What the supervisor writes reads back; an operator's word resets the counts. */
static void
test_supervision_round_trips_and_the_operator_resets_it(void **state)
{
	struct registry_fixture *f = *state;
	struct supervision sv;
	Berth__V1__Service *row;

	add_service(f, "on-failure", "");
	assert_int_equal(registry_supervision_get(f->reg, "web_instance_1", &sv), 0);
	snprintf(sv.state, sizeof(sv.state), "backoff");
	sv.restarts = 2;
	sv.backoff_level = 3;
	sv.window_restarts = 2;
	sv.last_exit_code = 137;
	sv.next_restart_at = 1796000000000; /* 2026-11-30T00:53:20Z */
	sv.window_started_at = 1795999990000;
	assert_int_equal(registry_supervision_put(f->reg, "web_instance_1", &sv), 0);
	assert_int_equal(registry_supervision_get(f->reg, "web_instance_1", &sv), 0);
	assert_string_equal(sv.state, "backoff");
	assert_int_equal(sv.restarts, 2);
	assert_int_equal(sv.backoff_level, 3);
	assert_int_equal(sv.last_exit_code, 137);
	assert_int_equal(sv.next_restart_at, 1796000000000);
	assert_int_equal(registry_service_get(f->reg, &f->arena, "web_instance_1", &row), 0);
	assert_string_equal(row->supervisor, "backoff");
	assert_int_equal(row->restarts, 2);
	assert_int_equal(row->last_exit_code, 137);
	assert_string_equal(row->next_restart_at, "2026-11-30T00:53:20Z");

	assert_int_equal(registry_service_set_desired(f->reg, "web_instance_1", "stopped"), 0);
	assert_int_equal(registry_supervision_get(f->reg, "web_instance_1", &sv), 0);
	assert_string_equal(sv.desired_state, "stopped");
	assert_string_equal(sv.state, "ok");
	assert_int_equal(sv.restarts, 0);
	assert_int_equal(sv.backoff_level, 0);
	assert_int_equal(sv.window_restarts, 0);
	assert_int_equal(sv.next_restart_at, 0);
	assert_int_equal(sv.last_exit_code, 137); /* a fact, not a count */

	assert_int_equal(registry_service_set_health(f->reg, "web_instance_1", "unhealthy",
			     "HTTP 503"),
	    0);
	assert_int_equal(registry_service_get(f->reg, &f->arena, "web_instance_1", &row), 0);
	assert_string_equal(row->health, "unhealthy");
	assert_string_equal(row->health_message, "HTTP 503");
	assert_int_equal(registry_service_set_desired(f->reg, "gone", "running"),
	    BERTH__V1__CODE__NOT_FOUND);
}

/* Templates read back their health check and the policy's defaults as stored. */
static void
test_template_health_check_round_trips(void **state)
{
	struct registry_fixture *f = *state;
	static char *argv[] = { "/bin/check", "--deep" };
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	Berth__V1__HealthCheck h = BERTH__V1__HEALTH_CHECK__INIT;
	Berth__V1__Template *back;
	bool created;

	t.name = "api";
	t.image = "api:1";
	t.container_port = 80;
	t.port_range_start = 9100;
	t.restart = "always";
	t.max_restarts = 9;
	t.restart_window_s = 90;
	h.kind = "exec";
	h.exec_command = argv;
	h.n_exec_command = 2;
	h.interval_s = 7;
	h.timeout_s = 2;
	h.retries = 4;
	h.start_period_s = 30;
	t.health = &h;
	assert_int_equal(registry_template_put(f->reg, &t, &created), 0);
	assert_int_equal(registry_template_get(f->reg, &f->arena, "api", &back), 0);
	assert_string_equal(back->restart, "always");
	assert_int_equal(back->max_restarts, 9);
	assert_int_equal(back->restart_window_s, 90);
	assert_non_null(back->health);
	assert_string_equal(back->health->kind, "exec");
	assert_int_equal(back->health->n_exec_command, 2);
	assert_string_equal(back->health->exec_command[1], "--deep");
	assert_int_equal(back->health->interval_s, 7);
	assert_int_equal(back->health->timeout_s, 2);
	assert_int_equal(back->health->retries, 4);
	assert_int_equal(back->health->start_period_s, 30);
	/* No check: none stored, none read. */
	t.health = NULL;
	assert_int_equal(registry_template_put(f->reg, &t, &created), 0);
	assert_int_equal(registry_template_get(f->reg, &f->arena, "api", &back), 0);
	assert_null(back->health);
	/* The seed templates got on-failure from the migration. */
	assert_int_equal(registry_template_get(f->reg, &f->arena, "buckets", &back), 0);
	assert_string_equal(back->restart, "on-failure");
	assert_int_equal(back->max_restarts, 5);
	assert_int_equal(back->restart_window_s, 600);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff_doubles_from_one_second_up_to_five_minutes),
		cmocka_unit_test_setup_teardown(test_policy_in_force_is_the_override_else_the_template,
		    registry_fixture_setup, registry_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_supervision_round_trips_and_the_operator_resets_it,
		    registry_fixture_setup, registry_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_template_health_check_round_trips, registry_fixture_setup,
		    registry_fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
