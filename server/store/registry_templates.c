/*
 * registry_templates.c - the templates' SQL: list, get, put (with the
 * secrets, kept apart and never read back), delete. Statements and error
 * handling are registry.c's (store_internal.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "clock.h"
#include "store/registry.h"
#include "store/store_internal.h"
#include "validate.h"

/* Columns col.. col+6 as a health check; NULL for none. */
static Berth__V1__HealthCheck *
health_from_row(struct arena *a, sqlite3_stmt *st, int col)
{
	const unsigned char *kind = sqlite3_column_text(st, col);
	Berth__V1__HealthCheck *h;

	if (kind == NULL || strcmp((const char *)kind, "none") == 0 || kind[0] == '\0')
		return NULL;
	h = ARENA_NEW(a, Berth__V1__HealthCheck);
	berth__v1__health_check__init(h);
	h->kind = store_column_text(a, st, col);
	h->http_path = store_column_text(a, st, col + 1);
	h->exec_command = store_column_string_list(a, st, col + 2, &h->n_exec_command);
	h->interval_s = (uint32_t)sqlite3_column_int(st, col + 3);
	h->timeout_s = (uint32_t)sqlite3_column_int(st, col + 4);
	h->retries = (uint32_t)sqlite3_column_int(st, col + 5);
	h->start_period_s = (uint32_t)sqlite3_column_int(st, col + 6);
	return h;
}

static Berth__V1__Template *
template_from_row(struct arena *a, sqlite3_stmt *st)
{
	Berth__V1__Template *t = ARENA_NEW(a, Berth__V1__Template);

	berth__v1__template__init(t);
	t->name = store_column_text(a, st, 0);
	t->description = store_column_text(a, st, 1);
	t->image = store_column_text(a, st, 2);
	t->build_context = store_column_text(a, st, 3);
	t->container_port = (uint32_t)sqlite3_column_int(st, 4);
	t->port_range_start = (uint32_t)sqlite3_column_int(st, 5);
	t->port_range_end = (uint32_t)sqlite3_column_int(st, 6);
	t->mount_path = store_column_text(a, st, 7);
	t->env = store_column_string_list(a, st, 8, &t->n_env);
	t->command = store_column_string_list(a, st, 9, &t->n_command);
	t->stop_timeout_s = (uint32_t)sqlite3_column_int(st, 10);
	t->publish_mode = store_column_text(a, st, 11);
	t->replicas = (uint32_t)sqlite3_column_int(st, 12);
	t->constraints = store_column_string_list(a, st, 13, &t->n_constraints);
	t->cpu_limit = sqlite3_column_double(st, 14);
	t->memory_limit_bytes = (uint64_t)sqlite3_column_int64(st, 15);
	t->init = sqlite3_column_int(st, 16) != 0;
	t->user = store_column_text(a, st, 17);
	t->restart = store_column_text(a, st, 18);
	t->max_restarts = (uint32_t)sqlite3_column_int(st, 19);
	t->restart_window_s = (uint32_t)sqlite3_column_int(st, 20);
	t->health = health_from_row(a, st, 21);
	/* Keys only: "KEY=***". */
	t->secret_env = store_column_string_list(a, st, 28, &t->n_secret_env);
	for (size_t i = 0; i < t->n_secret_env; i++)
		t->secret_env[i] = arena_printf(a, "%s=" SECRET_MASK, t->secret_env[i]);
	t->revision = (uint32_t)sqlite3_column_int64(st, 29);
	return t;
}

int
registry_template_list(struct registry *reg, struct arena *a, Berth__V1__Template ***out,
    size_t *n)
{
	sqlite3_stmt *st = registry_stmt(reg, ST_TEMPLATE_LIST);
	size_t count = 0, cap = 16;
	Berth__V1__Template **list;
	int rc;

	if (st == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
	list = ARENA_ARRAY(a, Berth__V1__Template *, cap);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (count == cap) {
			Berth__V1__Template **bigger = ARENA_ARRAY(a, Berth__V1__Template *, cap * 2);
			memcpy(bigger, list, sizeof(*list) * count);
			list = bigger;
			cap *= 2;
		}
		list[count++] = template_from_row(a, st);
	}
	if (rc != SQLITE_DONE)
		return registry_fail_sqlite(reg, rc);
	*out = list;
	*n = count;
	return 0;
}

int
registry_template_get(struct registry *reg, struct arena *a, const char *name,
    Berth__V1__Template **out)
{
	sqlite3_stmt *st = registry_stmt(reg, ST_TEMPLATE_GET);
	int rc;

	if (st == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return registry_fail(reg, BERTH__V1__CODE__NOT_FOUND, "no template named %s", name);
	if (rc != SQLITE_ROW)
		return registry_fail_sqlite(reg, rc);
	*out = template_from_row(a, st);
	sqlite3_reset(st);
	return 0;
}

static char *
string_list_json(char **items, size_t n)
{
	json_t *arr = json_array();
	char *text;

	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_string(items[i]));
	text = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	return text;
}

/* Whether entry is "KEY=***": keep the value stored for KEY. */
static bool
secret_kept(const char *entry)
{
	size_t key_len = validate_env_key_len(entry);

	return entry[key_len] == '=' && strcmp(entry + key_len + 1, SECRET_MASK) == 0;
}

/*
 * Inside registry_template_put's transaction: the template's secrets become
 * what t->secret_env says. "KEY=***" keeps the stored value (and fails
 * INVALID_ARGUMENT when there is none: another put may have deleted it
 * since the caller checked), "KEY=VALUE" sets it, an unlisted key goes.
 */
static int
secrets_put(struct registry *reg, const Berth__V1__Template *t)
{
	json_t *keys = json_array();
	char *keys_json = NULL;
	sqlite3_stmt *st;
	int rc, code = 0;

	for (size_t i = 0; i < t->n_secret_env && code == 0; i++) {
		const char *e = t->secret_env[i];
		int key_len = (int)validate_env_key_len(e);
		bool keep = secret_kept(e);

		json_array_append_new(keys, json_stringn(e, (size_t)key_len));
		if ((st = registry_stmt(reg, keep ? ST_SECRET_EXISTS : ST_SECRET_SET)) == NULL) {
			code = registry_fail_sqlite(reg, SQLITE_ERROR);
			break;
		}
		sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, e, key_len, SQLITE_STATIC);
		if (!keep)
			sqlite3_bind_text(st, 3, e + key_len + 1, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (keep && rc == SQLITE_DONE) {
			code = registry_fail(reg, BERTH__V1__CODE__INVALID_ARGUMENT,
			    "template.secret_env[%zu]: no stored value for %.*s", i, key_len, e);
			snprintf(reg->error.field, sizeof(reg->error.field), "template.secret_env[%zu]", i);
			snprintf(reg->error.reason, sizeof(reg->error.reason), "NO_STORED_SECRET");
		} else if (rc != (keep ? SQLITE_ROW : SQLITE_DONE)) {
			code = registry_fail_sqlite(reg, rc);
		}
	}
	if (code == 0) {
		keys_json = json_dumps(keys, JSON_COMPACT);
		st = registry_stmt(reg, ST_SECRET_DELETE_UNLISTED);
		if (keys_json == NULL || st == NULL) {
			code = registry_fail_sqlite(reg, SQLITE_ERROR);
		} else {
			sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, keys_json, -1, SQLITE_STATIC);
			rc = sqlite3_step(st);
			sqlite3_reset(st);
			if (rc != SQLITE_DONE)
				code = registry_fail_sqlite(reg, rc);
		}
	}
	json_decref(keys);
	free(keys_json);
	return code;
}

int
registry_template_put(struct registry *reg, const Berth__V1__Template *t, bool *created)
{
	struct template_put_result result;
	struct arena a;
	int code;

	arena_init(&a);
	code = registry_template_write(reg, &a, t, &result);
	*created = result.created;
	arena_reset(&a);
	return code;
}

int
registry_template_write(struct registry *reg, struct arena *a, const Berth__V1__Template *t,
    struct template_put_result *out)
{
	sqlite3_stmt *st;
	char now[32];
	const Berth__V1__HealthCheck *h = t->health;
	char *env = NULL, *command = NULL, *constraints = NULL, *health_command = NULL;
	Berth__V1__Template *old = NULL, *stored = NULL;
	int64_t secret_changes;
	int rc, code = 0;

	memset(out, 0, sizeof(*out));
	if (sqlite3_exec(reg->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return registry_fail_sqlite(reg, sqlite3_errcode(reg->db));
	/* The template as it was, to tell what this write changes. */
	code = registry_template_get(reg, a, t->name, &old);
	if (code != 0 && code != BERTH__V1__CODE__NOT_FOUND)
		goto out;
	code = 0;
	out->created = old == NULL;

	st = registry_stmt(reg, out->created ? ST_TEMPLATE_INSERT : ST_TEMPLATE_UPDATE);
	env = string_list_json(t->env, t->n_env);
	command = string_list_json(t->command, t->n_command);
	constraints = string_list_json(t->constraints, t->n_constraints);
	health_command = h != NULL ? string_list_json(h->exec_command, h->n_exec_command) :
				     string_list_json(NULL, 0);
	if (st == NULL || env == NULL || command == NULL || constraints == NULL ||
	    health_command == NULL) {
		code = registry_fail_sqlite(reg, SQLITE_ERROR);
		goto out;
	}
	clock_rfc3339_now(now, sizeof(now));
	sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, t->description, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, t->image, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, t->build_context, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, (int)t->container_port);
	sqlite3_bind_int(st, 6, (int)t->port_range_start);
	sqlite3_bind_int(st, 7, (int)t->port_range_end);
	sqlite3_bind_text(st, 8, t->mount_path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, env, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, command, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 11, (int)t->stop_timeout_s);
	sqlite3_bind_text(st, 12, now, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 13, t->publish_mode, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 14, (int)t->replicas);
	sqlite3_bind_text(st, 15, constraints, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 16, t->cpu_limit);
	sqlite3_bind_int64(st, 17, (sqlite3_int64)t->memory_limit_bytes);
	sqlite3_bind_int(st, 18, t->init ? 1 : 0);
	sqlite3_bind_text(st, 19, t->user != NULL ? t->user : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 20, t->restart, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 21, (int)t->max_restarts);
	sqlite3_bind_int(st, 22, (int)t->restart_window_s);
	sqlite3_bind_text(st, 23, h != NULL && h->kind[0] != '\0' ? h->kind : "none", -1,
	    SQLITE_STATIC);
	sqlite3_bind_text(st, 24, h != NULL ? h->http_path : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 25, health_command, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 26, h != NULL ? (int)h->interval_s : 0);
	sqlite3_bind_int(st, 27, h != NULL ? (int)h->timeout_s : 0);
	sqlite3_bind_int(st, 28, h != NULL ? (int)h->retries : 0);
	sqlite3_bind_int(st, 29, h != NULL ? (int)h->start_period_s : 0);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		code = registry_fail_sqlite(reg, rc);
		goto out;
	}
	secret_changes = sqlite3_total_changes64(reg->db);
	if ((code = secrets_put(reg, t)) != 0)
		goto out;
	secret_changes = sqlite3_total_changes64(reg->db) - secret_changes;
	if ((code = registry_template_get(reg, a, t->name, &stored)) != 0 ||
	    (code = store_revision_record(reg, a, old, stored, secret_changes > 0, out)) != 0)
		goto out;
	if ((rc = sqlite3_exec(reg->db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
		code = registry_fail_sqlite(reg, rc);
	else
		registry_changed(); /* services show their template: health, policy, outdated */
out:
	if (code != 0)
		sqlite3_exec(reg->db, "ROLLBACK", NULL, NULL, NULL);
	free(env);
	free(command);
	free(constraints);
	free(health_command);
	return code;
}

int
registry_template_secret_values(struct registry *reg, struct arena *a, const char *name,
    char ***out, size_t *n)
{
	sqlite3_stmt *st = registry_stmt(reg, ST_SECRET_VALUES);
	size_t count = 0, cap = 8;
	char **list;
	int rc;

	if (st == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	list = ARENA_ARRAY(a, char *, cap);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(st, 0);
		const char *value = (const char *)sqlite3_column_text(st, 1);

		if (count == cap) {
			char **bigger = ARENA_ARRAY(a, char *, cap * 2);
			memcpy(bigger, list, sizeof(*list) * count);
			list = bigger;
			cap *= 2;
		}
		list[count++] = arena_printf(a, "%s=%s", key != NULL ? key : "",
		    value != NULL ? value : "");
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return registry_fail_sqlite(reg, rc);
	*out = list;
	*n = count;
	return 0;
}

int
registry_template_delete(struct registry *reg, const char *name)
{
	sqlite3_stmt *st = registry_stmt(reg, ST_TEMPLATE_IN_USE);
	int rc, in_use;

	if (st == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW)
		return registry_fail_sqlite(reg, rc);
	in_use = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	if (in_use > 0)
		return registry_fail(reg, BERTH__V1__CODE__FAILED_PRECONDITION,
		    "template %s still has %d service%s; remove them first", name, in_use,
		    in_use == 1 ? "" : "s");

	st = registry_stmt(reg, ST_TEMPLATE_DELETE);
	if (st == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		/* A launch raced us and the foreign key refused: report it as in use. */
		if ((rc & 0xff) == SQLITE_CONSTRAINT)
			return registry_fail(reg, BERTH__V1__CODE__FAILED_PRECONDITION,
			    "template %s still has services; remove them first", name);
		return registry_fail_sqlite(reg, rc);
	}
	if (sqlite3_changes(reg->db) == 0)
		return registry_fail(reg, BERTH__V1__CODE__NOT_FOUND, "no template named %s", name);
	return 0;
}

int
registry_template_names(struct registry *reg, struct arena *a, char **out)
{
	Berth__V1__Template **list;
	size_t n, len = 1;
	char *s;
	int code;

	if ((code = registry_template_list(reg, a, &list, &n)) != 0)
		return code;
	for (size_t i = 0; i < n; i++)
		len += strlen(list[i]->name) + 2;
	s = arena_alloc(a, len);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			strcat(s, ", ");
		strcat(s, list[i]->name);
	}
	*out = s;
	return 0;
}
