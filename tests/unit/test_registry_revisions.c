/*
 * test_registry_revisions.c - template revisions in the registry
 * (server/store/registry_revisions.c) and the field walk they rest on
 * (common/template_fields.c): what makes a revision, its summary and
 * content, reset fields, services' revision and `outdated`, and migration
 * 012 on a registry written before it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "template_fields.h"
#include "store/migrate.h"
#include "registry_fixture.h"
#include "store/registry.h"
#include "store/store_internal.h"

static char *env_v1[] = { "MODE=one", "LEVEL=2" };
static char *env_v2[] = { "MODE=two", "LEVEL=2" };

static Berth__V1__Template
make_template(void)
{
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;

	t.name = "web";
	t.description = "the web";
	t.image = "web:v1";
	t.container_port = 80;
	t.port_range_start = 9000;
	t.env = env_v1;
	t.n_env = 2;
	t.restart = "on-failure";
	t.max_restarts = 5;
	t.restart_window_s = 600;
	t.memory_limit_bytes = 64 << 20;
	return t;
}

static struct template_put_result
write_ok(struct registry_fixture *f, const Berth__V1__Template *t)
{
	struct template_put_result r;
	int code = registry_template_write(f->reg, &f->arena, t, &r);

	if (code != 0)
		fail_msg("write %s: %d %s", t->name, code, registry_error(f->reg)->message);
	return r;
}

static bool
listed(char **list, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], name) == 0)
			return true;
	return false;
}

static void
test_first_write_is_revision_1_created(void **state)
{
	struct registry_fixture *f = *state;
	Berth__V1__Template t = make_template(), *got;
	Berth__V1__TemplateRevision *r;
	struct template_put_result res = write_ok(f, &t);

	assert_true(res.created);
	assert_true(res.revised);
	assert_int_equal(res.revision, 1);
	assert_int_equal(res.n_reset, 0);
	assert_int_equal(registry_template_get(f->reg, &f->arena, "web", &got), 0);
	assert_int_equal(got->revision, 1);
	assert_int_equal(registry_template_revision_get(f->reg, &f->arena, "web", 1, &r), 0);
	assert_string_equal(r->summary, "created");
	assert_int_equal(r->template_->revision, 1);
	assert_string_equal(r->template_->image, "web:v1");
	assert_int_equal(r->template_->n_env, 2);
	assert_int_equal(r->template_->memory_limit_bytes, 64 << 20);
	assert_true(r->created_at[0] != '\0');
}

static void
test_put_without_change_makes_no_revision(void **state)
{
	struct registry_fixture *f = *state;
	Berth__V1__Template t = make_template();
	struct template_put_result res;
	Berth__V1__TemplateRevision **list;
	size_t n;

	write_ok(f, &t);
	res = write_ok(f, &t);
	assert_false(res.created);
	assert_false(res.revised);
	assert_int_equal(res.revision, 1);
	assert_int_equal(res.n_changed, 0);
	assert_int_equal(registry_template_revisions(f->reg, &f->arena, "web", &list, &n), 0);
	assert_int_equal(n, 1);
}

static void
test_description_alone_makes_no_revision(void **state)
{
	struct registry_fixture *f = *state;
	Berth__V1__Template t = make_template();
	struct template_put_result res;

	write_ok(f, &t);
	t.description = "still the web";
	res = write_ok(f, &t);
	assert_false(res.revised);
	assert_int_equal(res.revision, 1);
	assert_int_equal(res.n_changed, 1);
	assert_string_equal(res.changed[0], "description");
}

static void
test_change_makes_next_revision_with_summary(void **state)
{
	struct registry_fixture *f = *state;
	Berth__V1__Template t = make_template(), *got;
	Berth__V1__TemplateRevision **list, *old;
	struct template_put_result res;
	size_t n;

	write_ok(f, &t);
	t.image = "web:v2";
	t.env = env_v2;
	res = write_ok(f, &t);
	assert_true(res.revised);
	assert_int_equal(res.revision, 2);
	assert_true(listed(res.changed, res.n_changed, "image"));
	assert_true(listed(res.changed, res.n_changed, "env"));
	assert_int_equal(registry_template_revisions(f->reg, &f->arena, "web", &list, &n), 0);
	assert_int_equal(n, 2);
	/* Newest first. */
	assert_int_equal(list[0]->revision, 2);
	assert_string_equal(list[0]->summary, "image web:v1 -> web:v2; env changed");
	assert_int_equal(list[1]->revision, 1);
	/* Each revision keeps its own content. */
	assert_int_equal(registry_template_revision_get(f->reg, &f->arena, "web", 1, &old), 0);
	assert_string_equal(old->template_->image, "web:v1");
	assert_string_equal(old->template_->env[0], "MODE=one");
	assert_int_equal(registry_template_get(f->reg, &f->arena, "web", &got), 0);
	assert_int_equal(got->revision, 2);
	assert_string_equal(got->image, "web:v2");
}

static void
test_unknown_revision_is_not_found(void **state)
{
	struct registry_fixture *f = *state;
	Berth__V1__Template t = make_template();
	Berth__V1__TemplateRevision *r;

	write_ok(f, &t);
	assert_int_equal(registry_template_revision_get(f->reg, &f->arena, "web", 7, &r),
	    BERTH__V1__CODE__NOT_FOUND);
	assert_non_null(strstr(registry_error(f->reg)->message, "no revision 7"));
}

static void
test_reset_fields_are_those_set_before_and_zero_now(void **state)
{
	struct registry_fixture *f = *state;
	Berth__V1__Template t = make_template();
	struct template_put_result res;

	write_ok(f, &t);
	t.description = "";
	t.memory_limit_bytes = 0;
	t.env = NULL;
	t.n_env = 0;
	res = write_ok(f, &t);
	assert_int_equal(res.n_reset, 3);
	assert_true(listed(res.reset, res.n_reset, "description"));
	assert_true(listed(res.reset, res.n_reset, "memory_limit_bytes"));
	assert_true(listed(res.reset, res.n_reset, "env"));
	assert_true(res.revised);
}

static void
test_secret_value_change_is_a_revision_without_the_value(void **state)
{
	struct registry_fixture *f = *state;
	Berth__V1__Template t = make_template();
	char *secret_a[] = { "TOKEN=alpha-value" }, *secret_b[] = { "TOKEN=beta-value" };
	char *secret_keep[] = { "TOKEN=***" };
	Berth__V1__TemplateRevision **list;
	struct template_put_result res;
	size_t n;

	t.secret_env = secret_a;
	t.n_secret_env = 1;
	write_ok(f, &t);
	/* The same value again, or "keep": nothing changed. */
	assert_false(write_ok(f, &t).revised);
	t.secret_env = secret_keep;
	assert_false(write_ok(f, &t).revised);
	t.secret_env = secret_b;
	res = write_ok(f, &t);
	assert_true(res.revised);
	assert_true(listed(res.changed, res.n_changed, "secret_env"));
	assert_int_equal(registry_template_revisions(f->reg, &f->arena, "web", &list, &n), 0);
	assert_string_equal(list[0]->summary, "secret_env changed");
	assert_string_equal(list[0]->template_->secret_env[0], "TOKEN=***");
	/* No value anywhere in the revisions table. */
	{
		sqlite3_stmt *st;
		assert_int_equal(sqlite3_prepare_v2(registry_db(f->reg),
				     "SELECT count(*) FROM template_revisions WHERE content LIKE "
				     "'%value%' OR summary LIKE '%value%'",
				     -1, &st, NULL),
		    SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int(st, 0), 0);
		sqlite3_finalize(st);
	}
}

static void
test_service_outdated_after_revision(void **state)
{
	struct registry_fixture *f = *state;
	Berth__V1__Template t = make_template();
	Berth__V1__Service s = BERTH__V1__SERVICE__INIT, *got;
	uint64_t generation;

	write_ok(f, &t);
	s.service_id = "web_instance_1";
	s.template_ = "web";
	s.instance = "instance_1";
	s.instance_number = 1;
	s.container_name = "web_instance_1";
	s.port = 9000;
	s.project_dir = "/tmp/x";
	s.status = "running";
	s.revision = 1;
	assert_int_equal(registry_service_insert(f->reg, &s), 0);
	assert_int_equal(registry_service_set_image(f->reg, "web_instance_1", "sha256:abc"), 0);
	assert_int_equal(registry_service_get(f->reg, &f->arena, "web_instance_1", &got), 0);
	assert_int_equal(got->revision, 1);
	assert_string_equal(got->image_id, "sha256:abc");
	assert_false(got->outdated);

	generation = registry_generation();
	t.image = "web:v2";
	write_ok(f, &t);
	/* Answers kept for the services table are stale now. */
	assert_true(registry_generation() != generation);
	assert_int_equal(registry_service_get(f->reg, &f->arena, "web_instance_1", &got), 0);
	assert_int_equal(got->revision, 1);
	assert_true(got->outdated);
}

static void
test_template_fields_walk(void **state)
{
	Berth__V1__Template a = make_template(), b = make_template();
	Berth__V1__HealthCheck h = BERTH__V1__HEALTH_CHECK__INIT;
	const ProtobufCFieldDescriptor *fd;
	char buf[64];

	(void)state;
	assert_null(template_field_find("bogus"));
	assert_non_null(fd = template_field_find("image"));
	assert_true(template_field_equal(&a, &b, fd));
	b.image = "web:v9";
	assert_false(template_field_equal(&a, &b, fd));
	template_field_copy(&a, &b, fd);
	assert_string_equal(a.image, "web:v9");
	assert_true(template_field_format(&a, fd, buf, sizeof(buf)));
	assert_string_equal(buf, "web:v9");
	assert_false(template_field_makes_container(template_field_find("description")));
	assert_true(template_field_makes_container(fd));
	/* A message: compared by content, copied by pointer. */
	fd = template_field_find("health");
	assert_false(template_field_is_set(&a, fd));
	h.kind = "tcp";
	b.health = &h;
	assert_false(template_field_equal(&a, &b, fd));
	template_field_copy(&a, &b, fd);
	assert_ptr_equal(a.health, &h);
	assert_false(template_field_format(&a, fd, buf, sizeof(buf)));
	/* Repeated: counts and elements. */
	fd = template_field_find("env");
	b.env = env_v2;
	assert_false(template_field_equal(&a, &b, fd));
	template_field_copy(&a, &b, fd);
	assert_true(template_field_equal(&a, &b, fd));
}

/* Migration 012 on a registry of version 11: revision 1 with the content as it was. */
static void
test_migration_012_makes_revision_1_of_what_is_there(void **state)
{
	struct registry_fixture *f = *state;
	char path[160];
	sqlite3 *db;
	struct error err = { 0 };
	struct registry *reg;
	Berth__V1__TemplateRevision *r;
	Berth__V1__Service *s;

	(void)state;
	snprintf(path, sizeof(path), "%s/old.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
	assert_int_equal(migrate_apply(db, migrations, 11, &err), 0);
	assert_int_equal(sqlite3_exec(db,
			     "INSERT INTO templates (name, image, container_port, port_range_start, "
			     "env, created_at, updated_at, health_kind, health_command, "
			     "health_interval_s, health_timeout_s, health_retries, init) VALUES "
			     "('old', 'old:1', 80, 9100, '[\"A=1\"]', '2026-01-01T00:00:00Z', "
			     "'2026-01-02T00:00:00Z', 'exec', '[\"true\"]', 5, 2, 3, 1);"
			     "INSERT INTO template_secrets VALUES ('old', 'PASS', 'hunter2');"
			     "INSERT INTO services (service_id, template, instance, container_name, "
			     "port, project_dir, status, created_at, updated_at) VALUES ('old_a', "
			     "'old', 'a', 'old_a', 9100, '/tmp/a', 'running', 'x', 'x');",
			     NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);

	assert_int_equal(registry_open(&reg, path, true, &err), 0);
	assert_int_equal(registry_template_revision_get(reg, &f->arena, "old", 1, &r), 0);
	assert_string_equal(r->summary, "created");
	assert_string_equal(r->created_at, "2026-01-02T00:00:00Z");
	assert_string_equal(r->template_->image, "old:1");
	assert_string_equal(r->template_->env[0], "A=1");
	assert_true(r->template_->init);
	assert_non_null(r->template_->health);
	assert_string_equal(r->template_->health->kind, "exec");
	assert_string_equal(r->template_->health->exec_command[0], "true");
	assert_int_equal(r->template_->n_secret_env, 1);
	assert_string_equal(r->template_->secret_env[0], "PASS=***");
	assert_int_equal(registry_service_get(reg, &f->arena, "old_a", &s), 0);
	assert_int_equal(s->revision, 1);
	assert_string_equal(s->image_id, "");
	assert_false(s->outdated);
	registry_close(reg);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, registry_fixture_setup, registry_fixture_teardown)
	const struct CMUnitTest tests[] = {
		T(test_first_write_is_revision_1_created),
		T(test_put_without_change_makes_no_revision),
		T(test_description_alone_makes_no_revision),
		T(test_change_makes_next_revision_with_summary),
		T(test_unknown_revision_is_not_found),
		T(test_reset_fields_are_those_set_before_and_zero_now),
		T(test_secret_value_change_is_a_revision_without_the_value),
		T(test_service_outdated_after_revision),
		T(test_template_fields_walk),
		T(test_migration_012_makes_revision_1_of_what_is_there),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
