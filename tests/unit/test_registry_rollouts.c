/*
 * test_registry_rollouts.c - the rollout journal (store/registry_rollouts.c)
 * on a temporary database file: one running or paused rollout per template,
 * also when two inserts race past the caller's own check.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry_fixture.h"
#include "store/registry.h"

static Berth__V1__Rollout *
rollout(struct registry_fixture *f, const char *state)
{
	Berth__V1__Rollout *r = ARENA_NEW(&f->arena, Berth__V1__Rollout);

	berth__v1__rollout__init(r);
	r->template_ = "web";
	r->revision = 2;
	r->state = (char *)state;
	r->max_parallel = 1;
	r->on_failure = "rollback";
	r->min_ready_s = 5;
	r->started_at = "2026-12-05T09:00:00Z";
	return r;
}

static void
test_one_active_rollout_per_template(void **state)
{
	struct registry_fixture *f = *state;
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	Berth__V1__Rollout *first = rollout(f, "running"), *second = rollout(f, "running");
	bool created;

	t.name = "web";
	t.image = "web:1";
	t.container_port = 80;
	t.port_range_start = 9000;
	assert_int_equal(registry_template_put(f->reg, &t, &created), 0);
	assert_int_equal(registry_rollout_insert(f->reg, &f->arena, first), 0);
	assert_string_equal(first->id, "web-1");
	/* A second one while the first runs: refused by the registry itself. */
	assert_int_equal(registry_rollout_insert(f->reg, &f->arena, second),
	    BERTH__V1__CODE__FAILED_PRECONDITION);
	assert_non_null(strstr(registry_error(f->reg)->message, "is running"));
	/* Paused is active too; done is not. */
	assert_int_equal(registry_rollout_set_state(f->reg, "web-1", "paused", "", false), 0);
	assert_int_equal(registry_rollout_insert(f->reg, &f->arena, rollout(f, "running")),
	    BERTH__V1__CODE__FAILED_PRECONDITION);
	assert_int_equal(registry_rollout_set_state(f->reg, "web-1", "done", "", true), 0);
	second = rollout(f, "running");
	assert_int_equal(registry_rollout_insert(f->reg, &f->arena, second), 0);
	assert_string_equal(second->id, "web-2");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_one_active_rollout_per_template, registry_fixture_setup, registry_fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
