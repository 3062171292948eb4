/*
 * registry_rollouts.c - the rollout journal (migration 013): a rollout and
 * its instances, written at every step of core/rollout.c so that a berthd
 * killed mid-way knows on its next start what was in flight.
 *
 * Statements are prepared per call (a rollout writes a few rows a minute,
 * not thousands a second); parameters are always bound. Error handling is
 * registry.c's.
 */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "store/registry.h"
#include "store/store_internal.h"

/* Prepares sql; NULL (with the registry's error) on failure. */

static char *
column(struct arena *a, sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return arena_strdup(a, t != NULL ? (const char *)t : "");
}

int
registry_rollout_insert(struct registry *reg, struct arena *a, Berth__V1__Rollout *r)
{
	sqlite3_stmt *st;
	int64_t seq = 1;
	int rc, code;

	if ((code = registry_begin(reg)) != 0)
		return code;
	st = store_prepare(reg, "SELECT coalesce(max(seq), 0) + 1 FROM rollouts WHERE template = ?1");
	if (st == NULL)
		goto fail;
	sqlite3_bind_text(st, 1, r->template_, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		seq = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	r->id = arena_printf(a, "%s-%lld", r->template_, (long long)seq);
	st = store_prepare(reg,
	    "INSERT INTO rollouts (id, template, seq, revision, state, max_parallel, on_failure, "
	    "min_ready_s, started_at, message) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
	if (st == NULL)
		goto fail;
	sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->template_, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, seq);
	sqlite3_bind_int64(st, 4, r->revision);
	sqlite3_bind_text(st, 5, r->state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, r->max_parallel);
	sqlite3_bind_text(st, 7, r->on_failure, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, r->min_ready_s);
	sqlite3_bind_text(st, 9, r->started_at, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, r->message, -1, SQLITE_STATIC);
	if (store_run(reg, st) != 0) {
		if (sqlite3_extended_errcode(reg->db) == SQLITE_CONSTRAINT_UNIQUE)
			registry_fail(reg, BERTH__V1__CODE__FAILED_PRECONDITION,
			    "a rollout of template %s is running (started a moment ago)", r->template_);
		goto fail;
	}
	for (size_t i = 0; i < r->n_instances; i++) {
		const Berth__V1__RolloutInstance *in = r->instances[i];

		st = store_prepare(reg,
		    "INSERT INTO rollout_instances (rollout_id, position, service_id, state, "
		    "from_revision, to_revision, message) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
		if (st == NULL)
			goto fail;
		sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (int64_t)i);
		sqlite3_bind_text(st, 3, in->service_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, in->state, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, in->from_revision);
		sqlite3_bind_int64(st, 6, in->to_revision);
		sqlite3_bind_text(st, 7, in->message, -1, SQLITE_STATIC);
		if (store_run(reg, st) != 0)
			goto fail;
	}
	return registry_commit(reg);
fail:
	registry_rollback(reg);
	return reg->error.code != 0 ? reg->error.code : BERTH__V1__CODE__INTERNAL;
}

/* Reads the rollout whose id the statement's first row's column 0 names. */
static int
load(struct registry *reg, struct arena *a, const char *id, Berth__V1__Rollout **out)
{
	Berth__V1__Rollout *r;
	sqlite3_stmt *st;
	size_t cap = 8;
	int rc;

	st = store_prepare(reg, "SELECT id, template, revision, state, max_parallel, on_failure, "
			  "min_ready_s, started_at, finished_at, message FROM rollouts WHERE id = ?1");
	if (st == NULL)
		return reg->error.code;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			return registry_fail_sqlite(reg, rc);
		return registry_fail(reg, BERTH__V1__CODE__NOT_FOUND, "rollout '%s' not found", id);
	}
	r = ARENA_NEW(a, Berth__V1__Rollout);
	berth__v1__rollout__init(r);
	r->id = column(a, st, 0);
	r->template_ = column(a, st, 1);
	r->revision = (uint32_t)sqlite3_column_int64(st, 2);
	r->state = column(a, st, 3);
	r->max_parallel = (uint32_t)sqlite3_column_int64(st, 4);
	r->on_failure = column(a, st, 5);
	r->min_ready_s = (uint32_t)sqlite3_column_int64(st, 6);
	r->started_at = column(a, st, 7);
	r->finished_at = column(a, st, 8);
	r->message = column(a, st, 9);
	sqlite3_finalize(st);

	st = store_prepare(reg, "SELECT service_id, state, from_revision, to_revision, message FROM "
			  "rollout_instances WHERE rollout_id = ?1 ORDER BY position");
	if (st == NULL)
		return reg->error.code;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	r->instances = ARENA_ARRAY(a, Berth__V1__RolloutInstance *, cap);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		Berth__V1__RolloutInstance *in = ARENA_NEW(a, Berth__V1__RolloutInstance);

		berth__v1__rollout_instance__init(in);
		in->service_id = column(a, st, 0);
		in->state = column(a, st, 1);
		in->from_revision = (uint32_t)sqlite3_column_int64(st, 2);
		in->to_revision = (uint32_t)sqlite3_column_int64(st, 3);
		in->message = column(a, st, 4);
		if (r->n_instances == cap) {
			Berth__V1__RolloutInstance **grown =
			    ARENA_ARRAY(a, Berth__V1__RolloutInstance *, cap * 2);

			memcpy(grown, r->instances, sizeof(*grown) * cap);
			r->instances = grown;
			cap *= 2;
		}
		r->instances[r->n_instances++] = in;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return registry_fail_sqlite(reg, rc);
	*out = r;
	return 0;
}

int
registry_rollout_get(struct registry *reg, struct arena *a, const char *id,
    Berth__V1__Rollout **out)
{
	return load(reg, a, id, out);
}

int
registry_rollout_latest(struct registry *reg, struct arena *a, const char *template_name,
    Berth__V1__Rollout **out)
{
	sqlite3_stmt *st;
	char *id;
	int rc;

	st = store_prepare(reg, "SELECT id FROM rollouts WHERE template = ?1 ORDER BY seq DESC LIMIT 1");
	if (st == NULL)
		return reg->error.code;
	sqlite3_bind_text(st, 1, template_name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			return registry_fail_sqlite(reg, rc);
		return registry_fail(reg, BERTH__V1__CODE__NOT_FOUND,
		    "template '%s' has had no rollout", template_name);
	}
	id = column(a, st, 0);
	sqlite3_finalize(st);
	return load(reg, a, id, out);
}

int
registry_rollout_unfinished(struct registry *reg, struct arena *a, const char *template_name,
    char ***ids, size_t *n)
{
	sqlite3_stmt *st;
	size_t cap = 8;
	int rc;

	*n = 0;
	*ids = ARENA_ARRAY(a, char *, cap);
	st = store_prepare(reg, "SELECT id FROM rollouts WHERE state IN ('running', 'paused') AND "
			  "(?1 IS NULL OR template = ?1) ORDER BY started_at, id");
	if (st == NULL)
		return reg->error.code;
	if (template_name != NULL)
		sqlite3_bind_text(st, 1, template_name, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			char **grown = ARENA_ARRAY(a, char *, cap * 2);

			memcpy(grown, *ids, sizeof(*grown) * cap);
			*ids = grown;
			cap *= 2;
		}
		(*ids)[(*n)++] = column(a, st, 0);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : registry_fail_sqlite(reg, rc);
}

int
registry_rollout_set_state(struct registry *reg, const char *id, const char *state,
    const char *message, bool finished)
{
	char now[40] = "";
	sqlite3_stmt *st;

	if (finished)
		clock_rfc3339_now(now, sizeof(now));
	st = store_prepare(reg, "UPDATE rollouts SET state = ?2, message = ?3, finished_at = ?4 "
			  "WHERE id = ?1");
	if (st == NULL)
		return reg->error.code;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, message, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
	return store_run(reg, st);
}

int
registry_rollout_instance_set(struct registry *reg, const char *id, const char *service_id,
    const char *state, const char *message, const struct registry_rollout_step *step)
{
	sqlite3_stmt *st;

	st = store_prepare(reg, "UPDATE rollout_instances SET state = ?3, message = ?4, "
			  "old_container_id = coalesce(?5, old_container_id), "
			  "new_container_id = coalesce(?6, new_container_id) "
			  "WHERE rollout_id = ?1 AND service_id = ?2");
	if (st == NULL)
		return reg->error.code;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, service_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, state, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, message, -1, SQLITE_STATIC);
	if (step != NULL) {
		sqlite3_bind_text(st, 5, step->old_container_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, step->new_container_id, -1, SQLITE_STATIC);
	}
	return store_run(reg, st);
}

int
registry_rollout_instance_step(struct registry *reg, const char *id, const char *service_id,
    struct registry_rollout_step *out)
{
	sqlite3_stmt *st;
	int rc;

	memset(out, 0, sizeof(*out));
	st = store_prepare(reg, "SELECT old_container_id, new_container_id FROM rollout_instances "
			  "WHERE rollout_id = ?1 AND service_id = ?2");
	if (st == NULL)
		return reg->error.code;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, service_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(out->old_container_id, sizeof(out->old_container_id), "%s",
		    (const char *)sqlite3_column_text(st, 0));
		snprintf(out->new_container_id, sizeof(out->new_container_id), "%s",
		    (const char *)sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return registry_fail(reg, BERTH__V1__CODE__NOT_FOUND, "no instance %s in rollout %s",
		    service_id, id);
	return rc == SQLITE_ROW ? 0 : registry_fail_sqlite(reg, rc);
}

int
registry_service_set_revision(struct registry *reg, const char *service_id, uint32_t revision,
    const char *image_id)
{
	sqlite3_stmt *st;
	int code;

	st = store_prepare(reg, "UPDATE services SET revision = ?2, image_id = ?3 WHERE service_id = ?1");
	if (st == NULL)
		return reg->error.code;
	sqlite3_bind_text(st, 1, service_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, revision);
	sqlite3_bind_text(st, 3, image_id, -1, SQLITE_STATIC);
	if ((code = store_run(reg, st)) != 0)
		return code;
	if (sqlite3_changes(reg->db) == 0)
		return registry_fail(reg, BERTH__V1__CODE__NOT_FOUND, "Service '%s' not found",
		    service_id);
	registry_changed();
	return 0;
}

int
registry_template_revise(struct registry *reg, struct arena *a, const char *name,
    const char *summary, uint32_t *revision)
{
	char created_at[40];
	sqlite3_stmt *st;
	int code, rc;

	(void)a;
	if ((code = registry_begin(reg)) != 0)
		return code;
	st = store_prepare(reg, "INSERT INTO template_revisions (template, revision, created_at, summary, "
			  "content) SELECT t.name, t.revision + 1, ?2, ?3, "
			  "json_set(r.content, '$.revision', t.revision + 1) FROM templates t "
			  "JOIN template_revisions r ON r.template = t.name AND r.revision = t.revision "
			  "WHERE t.name = ?1");
	if (st == NULL)
		goto fail;
	clock_rfc3339_now(created_at, sizeof(created_at));
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, created_at, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, summary, -1, SQLITE_STATIC);
	if (store_run(reg, st) != 0)
		goto fail;
	if (sqlite3_changes(reg->db) == 0) {
		registry_fail(reg, BERTH__V1__CODE__NOT_FOUND, "template '%s' not found", name);
		goto fail;
	}
	st = store_prepare(reg, "UPDATE templates SET revision = revision + 1 WHERE name = ?1 "
			  "RETURNING revision");
	if (st == NULL)
		goto fail;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*revision = (uint32_t)sqlite3_column_int64(st, 0);
	while (rc == SQLITE_ROW)
		rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		registry_fail_sqlite(reg, rc);
		goto fail;
	}
	registry_changed();
	return registry_commit(reg);
fail:
	registry_rollback(reg);
	return reg->error.code != 0 ? reg->error.code : BERTH__V1__CODE__INTERNAL;
}
