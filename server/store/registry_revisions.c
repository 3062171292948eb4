/*
 * registry_revisions.c - a template's revisions: what a write changed, the
 * next revision with its one-line summary, and reading revisions back.
 *
 * A revision's content is the template as JSON in the shared codec's form
 * (common/json_codec.h), as migration 012 writes the first ones, with
 * secret_env "KEY=***" as every read shows it: secret values stay in
 * template_secrets. Statements and error handling are registry.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "clock.h"
#include "json_codec.h"
#include "template_fields.h"
#include "store/registry.h"
#include "store/store_internal.h"

/* A summary longer than this ends in "..." (it is one line of a table). */
#define SUMMARY_MAX 400

/* Appends s to the arena list *list of *n strings. */
static void
list_add(struct arena *a, char ***list, size_t *n, const char *s)
{
	char **grown = ARENA_ARRAY(a, char *, *n + 1);

	if (*n > 0)
		memcpy(grown, *list, sizeof(*grown) * *n);
	grown[(*n)++] = arena_strdup(a, s);
	*list = grown;
}

/* "; " then part, onto the summary (cut at SUMMARY_MAX with "..."). */
static void
summary_add(char *summary, size_t len, const char *part)
{
	size_t used = strlen(summary);

	if (used >= SUMMARY_MAX)
		return;
	snprintf(summary + used, len - used, "%s%s", used > 0 ? "; " : "", part);
	if (strlen(summary) > SUMMARY_MAX)
		snprintf(summary + SUMMARY_MAX - 3, len - (SUMMARY_MAX - 3), "...");
}

/* What changed from old to now, in out's lists and the summary; whether a container would differ. */
static bool
compare(struct arena *a, const Berth__V1__Template *old, const Berth__V1__Template *now,
    bool secrets_changed, struct template_put_result *out, char *summary, size_t len)
{
	const ProtobufCFieldDescriptor *fields;
	size_t n;
	bool makes_container = false;

	fields = template_fields(&n);
	for (size_t i = 0; i < n; i++) {
		const ProtobufCFieldDescriptor *fd = &fields[i];
		bool changed;
		char before[64], after[64], part[160];

		if (strcmp(fd->name, "revision") == 0 || strcmp(fd->name, "name") == 0)
			continue;
		changed = !template_field_equal(old, now, fd) ||
		    (secrets_changed && strcmp(fd->name, "secret_env") == 0);
		if (template_field_is_set(old, fd) && !template_field_is_set(now, fd))
			list_add(a, &out->reset, &out->n_reset, fd->name);
		if (!changed)
			continue;
		list_add(a, &out->changed, &out->n_changed, fd->name);
		if (!template_field_makes_container(fd))
			continue;
		makes_container = true;
		/* Never a secret's value: secret_env is a repeated field, only named. */
		if (template_field_format(old, fd, before, sizeof(before)) &&
		    template_field_format(now, fd, after, sizeof(after)))
			snprintf(part, sizeof(part), "%s %s -> %s", fd->name, before, after);
		else
			snprintf(part, sizeof(part), "%s changed", fd->name);
		summary_add(summary, len, part);
	}
	return makes_container;
}

/* The template as a revision's content: compact JSON (malloc'ed), NULL when out of memory. */
static char *
content_json(const Berth__V1__Template *t)
{
	json_t *j = json_codec_from_message(&t->base);
	char *text = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

	json_decref(j);
	return text;
}

int
store_revision_record(struct registry *reg, struct arena *a, const Berth__V1__Template *old,
    Berth__V1__Template *now, bool secrets_changed, struct template_put_result *out)
{
	char summary[SUMMARY_MAX + 8] = "", created_at[32];
	char *content;
	sqlite3_stmt *st;
	int rc;

	if (old != NULL) {
		out->revision = old->revision;
		/* A template that somehow has no revision yet gets its first now. */
		if (!compare(a, old, now, secrets_changed, out, summary, sizeof(summary)) &&
		    old->revision != 0)
			return 0;
		if (old->revision == 0)
			snprintf(summary, sizeof(summary), "created");
	} else {
		snprintf(summary, sizeof(summary), "created");
	}
	out->revised = true;
	out->revision = old != NULL ? old->revision + 1 : 1;
	now->revision = out->revision;

	if ((st = registry_stmt(reg, ST_TEMPLATE_SET_REVISION)) == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
	sqlite3_bind_text(st, 1, now->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)out->revision);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return registry_fail_sqlite(reg, rc);

	if ((content = content_json(now)) == NULL)
		return registry_fail(reg, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	if ((st = registry_stmt(reg, ST_REVISION_INSERT)) == NULL) {
		free(content);
		return registry_fail_sqlite(reg, SQLITE_ERROR);
	}
	clock_rfc3339_now(created_at, sizeof(created_at));
	sqlite3_bind_text(st, 1, now->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)out->revision);
	sqlite3_bind_text(st, 3, created_at, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, summary, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, content, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	free(content);
	return rc == SQLITE_DONE ? 0 : registry_fail_sqlite(reg, rc);
}

/*
 * A revision's content into a Template in a's memory. The codec builds
 * with malloc; packing and unpacking into the arena leaves nothing to free
 * later. DATA_LOSS when the stored text is not a template.
 */
static int
content_parse(struct registry *reg, struct arena *a, const char *text, const char *name,
    uint32_t revision, Berth__V1__Template **out)
{
	ProtobufCMessage *m = NULL;
	struct error err = { 0 };
	uint8_t *buf;
	size_t len;

	if (text == NULL ||
	    json_codec_parse(text, strlen(text), &berth__v1__template__descriptor, &m, &err) != 0)
		return registry_fail(reg, BERTH__V1__CODE__DATA_LOSS,
		    "registry: revision %u of template %s cannot be read: %s", revision, name,
		    err.message);
	len = protobuf_c_message_get_packed_size(m);
	buf = arena_alloc(a, len + 1);
	protobuf_c_message_pack(m, buf);
	protobuf_c_message_free_unpacked(m, NULL);
	*out = berth__v1__template__unpack(&a->allocator, len, buf);
	if (*out == NULL)
		return registry_fail(reg, BERTH__V1__CODE__DATA_LOSS,
		    "registry: revision %u of template %s cannot be read", revision, name);
	(*out)->revision = revision;
	return 0;
}

static int
revision_from_row(struct registry *reg, struct arena *a, sqlite3_stmt *st, const char *name,
    Berth__V1__TemplateRevision **out)
{
	Berth__V1__TemplateRevision *r = ARENA_NEW(a, Berth__V1__TemplateRevision);

	berth__v1__template_revision__init(r);
	r->revision = (uint32_t)sqlite3_column_int64(st, 0);
	r->created_at = store_column_text(a, st, 1);
	r->summary = store_column_text(a, st, 2);
	*out = r;
	return content_parse(reg, a, (const char *)sqlite3_column_text(st, 3), name, r->revision,
	    &r->template_);
}

int
registry_template_revision_get(struct registry *reg, struct arena *a, const char *name,
    uint32_t revision, Berth__V1__TemplateRevision **out)
{
	sqlite3_stmt *st = registry_stmt(reg, ST_REVISION_GET);
	int rc, code;

	if (st == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)revision);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		return registry_fail(reg, BERTH__V1__CODE__NOT_FOUND,
		    "template %s has no revision %u", name, revision);
	}
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return registry_fail_sqlite(reg, rc);
	}
	code = revision_from_row(reg, a, st, name, out);
	sqlite3_reset(st);
	return code;
}

int
registry_template_revisions(struct registry *reg, struct arena *a, const char *name,
    Berth__V1__TemplateRevision ***out, size_t *n)
{
	sqlite3_stmt *st = registry_stmt(reg, ST_REVISION_LIST);
	size_t count = 0, cap = 8;
	Berth__V1__TemplateRevision **list;
	int rc, code = 0;

	if (st == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	list = ARENA_ARRAY(a, Berth__V1__TemplateRevision *, cap);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (count == cap) {
			Berth__V1__TemplateRevision **bigger =
			    ARENA_ARRAY(a, Berth__V1__TemplateRevision *, cap * 2);
			memcpy(bigger, list, sizeof(*list) * count);
			list = bigger;
			cap *= 2;
		}
		if ((code = revision_from_row(reg, a, st, name, &list[count++])) != 0)
			break;
	}
	sqlite3_reset(st);
	if (code != 0)
		return code;
	if (rc != SQLITE_DONE)
		return registry_fail_sqlite(reg, rc);
	*out = list;
	*n = count;
	return 0;
}

int
registry_service_set_image(struct registry *reg, const char *service_id, const char *image_id)
{
	sqlite3_stmt *st = registry_stmt(reg, ST_SERVICE_SET_IMAGE);
	int rc;

	if (st == NULL)
		return registry_fail_sqlite(reg, SQLITE_ERROR);
	sqlite3_bind_text(st, 1, service_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, image_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return registry_fail_sqlite(reg, rc);
	if (sqlite3_changes(reg->db) == 0)
		return registry_fail(reg, BERTH__V1__CODE__NOT_FOUND, "Service '%s' not found",
		    service_id);
	registry_changed();
	return 0;
}
