/*
 * revisions.c - a template's revisions as the domain sees them: changing
 * some fields of a template (UpdateTemplate), reading a past revision, the
 * history, and which revision a container is made from when it is made
 * again. The revisions themselves are recorded by the store in the same
 * transaction as the template's write (store/registry_revisions.c).
 *
 * Worker threads (and the supervisor's), with the call's arena and
 * registry connection; failures go to the call.
 */
#include <string.h>

#include "template_fields.h"
#include "validate.h"
#include "base/log.h"
#include "core/berthd.h"
#include "core/templates.h"

/* Whether `name` is in list[0..n). */
static bool
listed(char *const *list, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], name) == 0)
			return true;
	return false;
}

/*
 * INVALID_ARGUMENT naming every entry of fields that is no Template field,
 * or one a caller may not set ("name" says which template; "revision" is
 * berthd's to give).
 */
static int
check_field_names(struct call *call, char *const *fields, size_t n)
{
	char *bad = NULL;

	if (n == 0)
		return call_fail_detail(call, BERTH__V1__CODE__INVALID_ARGUMENT, "fields",
		    "NO_FIELDS", "fields: name at least one field of the template to change");
	for (size_t i = 0; i < n; i++) {
		const ProtobufCFieldDescriptor *fd = template_field_find(fields[i]);

		if (fd != NULL && strcmp(fd->name, "name") != 0 && strcmp(fd->name, "revision") != 0)
			continue;
		bad = bad == NULL ? arena_printf(&call->arena, "\"%.64s\"", fields[i]) : arena_printf(&call->arena, "%s, \"%.64s\"", bad, fields[i]);
	}
	if (bad == NULL)
		return 0;
	return call_fail_detail(call, BERTH__V1__CODE__INVALID_ARGUMENT, "fields",
	    "UNKNOWN_FIELD",
	    "fields: %s: not a field UpdateTemplate can change (Template's fields by their proto "
	    "names, e.g. image, env, health; not name or revision)",
	    bad);
}

int
template_update(struct call *call, const Berth__V1__Template *in, char *const *fields,
    size_t n_fields, Berth__V1__Template **stored, char ***changed, size_t *n_changed)
{
	struct template_put_result result;
	Berth__V1__Template *current, next;
	int code;

	*changed = NULL;
	*n_changed = 0;
	if (in == NULL)
		return call_fail_detail(call, BERTH__V1__CODE__INVALID_ARGUMENT, "template",
		    "REQUIRED", "template: required (its name says which template)");
	if ((code = check_field_names(call, fields, n_fields)) != 0)
		return code;
	if ((code = template_lookup(call, "template.name", in->name, &current)) != 0)
		return code;
	/*
	 * The current template with the named fields replaced. Its secret_env
	 * reads "KEY=***", which keeps every stored value unless secret_env is
	 * named. A PutTemplate between the read and the write is overwritten
	 * in the fields named only: the rest is what that put left.
	 */
	next = *current;
	for (size_t i = 0; i < n_fields; i++)
		template_field_copy(&next, in, template_field_find(fields[i]));
	if ((code = template_put(call, &next, &result, stored)) != 0)
		return code;
	for (size_t i = 0; i < result.n_changed; i++) {
		if (!listed(fields, n_fields, result.changed[i]) ||
		    listed(*changed, *n_changed, result.changed[i]))
			continue;
		char **grown = ARENA_ARRAY(&call->arena, char *, *n_changed + 1);

		if (*n_changed > 0)
			memcpy(grown, *changed, sizeof(*grown) * *n_changed);
		grown[(*n_changed)++] = result.changed[i];
		*changed = grown;
	}
	return 0;
}

int
template_revision_lookup(struct call *call, const char *name, uint32_t revision,
    Berth__V1__Template **out)
{
	struct registry *reg = call_registry(call);
	Berth__V1__TemplateRevision *r;
	int code;

	if ((code = template_lookup(call, "name", name, out)) != 0 || revision == 0)
		return code;
	code = registry_template_revision_get(reg, &call->arena, name, revision, &r);
	if (code == BERTH__V1__CODE__NOT_FOUND)
		return call_fail_detail(call, code, "revision", "REVISION_NOT_FOUND",
		    "template '%s' has no revision %u (its current one is %u; see berth template "
		    "history %s)",
		    name, revision, (*out)->revision, name);
	if (code != 0)
		return call_fail_error(call, registry_error(reg));
	*out = r->template_;
	return 0;
}

int
template_revisions(struct call *call, const char *name, Berth__V1__TemplateRevision ***out,
    size_t *n)
{
	struct registry *reg = call_registry(call);
	Berth__V1__Template *t;
	int code;

	if ((code = template_lookup(call, "name", name, &t)) != 0)
		return code;
	if (registry_template_revisions(reg, &call->arena, name, out, n) != 0)
		return call_fail_error(call, registry_error(reg));
	return 0;
}

int
template_for_service(struct call *call, const Berth__V1__Service *s, Berth__V1__Template **out,
    bool *is_current)
{
	struct registry *reg = call_registry(call);
	Berth__V1__TemplateRevision *r;
	int code = BERTH__V1__CODE__NOT_FOUND;

	*is_current = false;
	if (s->revision != 0)
		code = registry_template_revision_get(reg, &call->arena, s->template_, s->revision,
		    &r);
	if (code == 0) {
		*out = r->template_;
		return 0;
	}
	if (code != BERTH__V1__CODE__NOT_FOUND)
		return call_fail_error(call, registry_error(reg));
	if ((code = template_lookup(call, "template", s->template_, out)) != 0)
		return code;
	*is_current = true;
	log_warn("service has no recorded revision to be made from, using the template's current "
		 "one service=%s revision=%u current=%u",
	    s->service_id, s->revision, (*out)->revision);
	return 0;
}
