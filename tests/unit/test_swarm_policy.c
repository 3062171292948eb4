/*
 * test_swarm_policy.c - a template's policies in Swarm's terms: the
 * restart policy onto TaskTemplate.RestartPolicy (swarm_policy.c), the
 * update's Monitor from the new revision's health check, and the
 * ServiceSpec JSON that create and a rollout's update send
 * (docker_service_body): RestartPolicy, UpdateConfig, RollbackConfig.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <string.h>

#include "engine/docker_internal.h"
#include "engine/docker_swarm.h"
#include "engine/swarm_policy.h"

#define S 1000000000LL

static void
template_init(Berth__V1__Template *t)
{
	berth__v1__template__init(t);
	t->restart = "";
}

static void
test_restart_no_on_failure_always_map_to_none_on_failure_any(void **state)
{
	Berth__V1__Template t;
	struct swarm_restart_policy p;

	(void)state;
	template_init(&t);
	t.restart = "no";
	swarm_restart_policy(&t, NULL, &p);
	assert_string_equal(p.condition, "none");
	t.restart = "on-failure";
	swarm_restart_policy(&t, NULL, &p);
	assert_string_equal(p.condition, "on-failure");
	t.restart = "always";
	swarm_restart_policy(&t, "", &p);
	assert_string_equal(p.condition, "any");
	t.restart = "";
	swarm_restart_policy(&t, NULL, &p);
	assert_string_equal(p.condition, "on-failure");
}

static void
test_restart_launch_override_wins_over_the_template(void **state)
{
	Berth__V1__Template t;
	struct swarm_restart_policy p;

	(void)state;
	template_init(&t);
	t.restart = "always";
	swarm_restart_policy(&t, "no", &p);
	assert_string_equal(p.condition, "none");
}

static void
test_restart_attempts_window_and_a_fixed_one_second_delay(void **state)
{
	Berth__V1__Template t;
	struct swarm_restart_policy p;

	(void)state;
	template_init(&t);
	swarm_restart_policy(&t, NULL, &p); /* 0: berth's defaults */
	assert_int_equal(p.max_attempts, 5);
	assert_int_equal(p.window_ns, 600 * S);
	assert_int_equal(p.delay_ns, 1 * S);
	t.max_restarts = 3;
	t.restart_window_s = 60;
	swarm_restart_policy(&t, NULL, &p);
	assert_int_equal(p.max_attempts, 3);
	assert_int_equal(p.window_ns, 60 * S);
}

static void
test_monitor_covers_the_health_check_or_min_ready(void **state)
{
	Berth__V1__Template t;
	Berth__V1__HealthCheck h = BERTH__V1__HEALTH_CHECK__INIT;

	(void)state;
	template_init(&t);
	assert_int_equal(swarm_update_monitor_ns(&t, 0), SWARM_MONITOR_MIN_S * S);
	assert_int_equal(swarm_update_monitor_ns(&t, 30), 30 * S);
	h.kind = "exec";
	h.start_period_s = 10;
	h.interval_s = 2;
	h.retries = 3;
	h.timeout_s = 1;
	t.health = &h;
	/* start period + interval x retries + timeout + margin */
	assert_int_equal(swarm_update_monitor_ns(&t, 30), (10 + 6 + 1 + SWARM_MONITOR_MARGIN_S) * S);
	h.kind = "http"; /* berth's own probe: Swarm does not see it */
	assert_int_equal(swarm_update_monitor_ns(&t, 7), 7 * S);
}

static void
test_body_has_restart_policy_update_and_rollback_config(void **state)
{
	static const char *const health[] = { "/berth-demo", "check" };
	struct docker_service_spec spec = {
		.name = "web_instance_1",
		.image = "berth-demo:e2e",
		.target_port = 8000,
		.published_port = 28100,
		.publish_mode = "host",
		.replicas = 2,
		.health_cmd = health,
		.n_health_cmd = 2,
		.health_interval_ns = 2 * S,
		.health_retries = 3,
		.restart_condition = "any",
		.restart_max_attempts = 4,
		.restart_window_ns = 60 * S,
		.restart_delay_ns = S,
		.update_monitor_ns = 12 * S,
	};
	json_t *body, *rp, *uc, *rc, *hc;

	(void)state;
	body = docker_service_body(&spec);
	assert_non_null(body);
	rp = json_object_get(json_object_get(body, "TaskTemplate"), "RestartPolicy");
	assert_string_equal(json_string_value(json_object_get(rp, "Condition")), "any");
	assert_int_equal(json_integer_value(json_object_get(rp, "MaxAttempts")), 4);
	assert_int_equal(json_integer_value(json_object_get(rp, "Window")), 60 * S);
	assert_int_equal(json_integer_value(json_object_get(rp, "Delay")), S);
	uc = json_object_get(body, "UpdateConfig");
	assert_int_equal(json_integer_value(json_object_get(uc, "Parallelism")), 1);
	assert_string_equal(json_string_value(json_object_get(uc, "Order")), "stop-first");
	assert_string_equal(json_string_value(json_object_get(uc, "FailureAction")), "rollback");
	assert_int_equal(json_integer_value(json_object_get(uc, "Monitor")), 12 * S);
	assert_true(json_number_value(json_object_get(uc, "MaxFailureRatio")) == 0.0);
	rc = json_object_get(body, "RollbackConfig");
	assert_string_equal(json_string_value(json_object_get(rc, "Order")), "stop-first");
	assert_string_equal(json_string_value(json_object_get(rc, "FailureAction")), "pause");
	hc = json_object_get(json_object_get(json_object_get(body, "TaskTemplate"), "ContainerSpec"),
	    "Healthcheck");
	assert_string_equal(json_string_value(json_array_get(json_object_get(hc, "Test"), 0)), "CMD");
	assert_string_equal(json_string_value(json_array_get(json_object_get(hc, "Test"), 2)), "check");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(body,
	    "Mode"), "Replicated"), "Replicas")), 2);
	json_decref(body);
}

static void
test_body_without_policies_has_none(void **state)
{
	struct docker_service_spec spec = { .name = "a", .image = "busybox" };
	json_t *body;

	(void)state;
	body = docker_service_body(&spec);
	assert_non_null(body);
	assert_null(json_object_get(json_object_get(body, "TaskTemplate"), "RestartPolicy"));
	assert_null(json_object_get(body, "UpdateConfig"));
	assert_null(json_object_get(body, "RollbackConfig"));
	json_decref(body);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_restart_no_on_failure_always_map_to_none_on_failure_any),
		cmocka_unit_test(test_restart_launch_override_wins_over_the_template),
		cmocka_unit_test(test_restart_attempts_window_and_a_fixed_one_second_delay),
		cmocka_unit_test(test_monitor_covers_the_health_check_or_min_ready),
		cmocka_unit_test(test_body_has_restart_policy_update_and_rollback_config),
		cmocka_unit_test(test_body_without_policies_has_none),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
