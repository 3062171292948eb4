/*
 * templates.c - the service templates, over the registry.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "validate.h"
#include "base/build_root.h"
#include "base/log.h"
#include "core/berthd.h"
#include "core/templates.h"
#include "store/requests.h"

/* NOT_FOUND: "Template 'x' not found. Available templates: a, b, ..." */
static int
template_not_found(struct call *call, const char *name)
{
	char *names = NULL;

	if (registry_template_names(call_registry(call), &call->arena, &names) != 0)
		names = "(unknown)";
	return call_fail_detail(call, BERTH__V1__CODE__NOT_FOUND, "name", "TEMPLATE_NOT_FOUND",
	    "Template '%s' not found. Available templates: %s", name, names);
}

int
template_lookup(struct call *call, const char *field, const char *name,
    Berth__V1__Template **out)
{
	struct error err;
	int code;

	if (validate_name(field, name, &err) != 0)
		return call_fail_error(call, &err);
	code = registry_template_get(call_registry(call), &call->arena, name, out);
	if (code == BERTH__V1__CODE__NOT_FOUND)
		return template_not_found(call, name);
	if (code != 0)
		return call_fail_error(call, registry_error(call_registry(call)));
	return 0;
}

int
template_list(struct call *call, Berth__V1__Template ***out, size_t *n)
{
	int code = registry_template_list(call_registry(call), &call->arena, out, n);

	if (code != 0)
		return call_fail_error(call, registry_error(call_registry(call)));
	return 0;
}

/* An arena copy of a path in the form berth stores (validate_normalize_path). */
static char *
normalized_path(struct call *call, const char *path)
{
	char *copy = arena_strdup(&call->arena, path);

	validate_normalize_path(copy);
	return copy;
}

/*
 * "KEY=***" in secret_env keeps a stored value: INVALID_ARGUMENT ("no
 * stored value for KEY") when the template has none for KEY. The store
 * checks again inside its transaction.
 */
static int
check_secrets_kept(struct call *call, const Berth__V1__Template *t)
{
	Berth__V1__Template *old = NULL;
	struct error err;
	int code;

	code = registry_template_get(call_registry(call), &call->arena, t->name, &old);
	if (code != 0 && code != BERTH__V1__CODE__NOT_FOUND)
		return call_fail_error(call, registry_error(call_registry(call)));
	if (validate_secret_env_kept(t, old != NULL ? old->secret_env : NULL,
		old != NULL ? old->n_secret_env : 0, &err) != 0)
		return call_fail_error(call, &err);
	return 0;
}

/*
 * Whether berthd reaches its containers' own addresses: a local engine
 * (unix socket) with the engine backend. tcp and http probes need that.
 */
static bool
containers_reachable(const struct berthd *d)
{
	const char *host = d->config.docker_host;

	if (host == NULL || host[0] == '\0')
		host = getenv("DOCKER_HOST");
	if (strcmp(d->config.backend, "swarm") == 0)
		return false;
	return host == NULL || host[0] == '\0' || strncmp(host, "unix://", 7) == 0;
}

/* tcp and http checks probe the container's address: refused where berthd cannot reach it. */
static int
check_probe_reachable(struct call *call, const Berth__V1__HealthCheck *h)
{
	if (h == NULL || (strcmp(h->kind, "tcp") != 0 && strcmp(h->kind, "http") != 0))
		return 0;
	if (containers_reachable(call_berthd(call)))
		return 0;
	return call_fail_detail(call, BERTH__V1__CODE__INVALID_ARGUMENT, "template.health.kind",
	    "PROBE_UNREACHABLE",
	    "template.health.kind: a %s check connects to the container's own address, which "
	    "berthd cannot reach with a remote engine or the swarm backend; use an exec check "
	    "(it runs inside the container)",
	    h->kind);
}

void
template_normalize(struct call *call, const Berth__V1__Template *in, Berth__V1__Template *out)
{
	/* What is checked is what is stored and used: "//" is "/". */
	*out = *in;
	out->mount_path = normalized_path(call, in->mount_path);
	out->build_context = normalized_path(call, in->build_context);
	/* The restart policy's defaults are stored, so every read shows them. */
	if (out->restart[0] == '\0')
		out->restart = "on-failure";
	if (out->max_restarts == 0)
		out->max_restarts = TEMPLATE_MAX_RESTARTS;
	if (out->restart_window_s == 0)
		out->restart_window_s = TEMPLATE_RESTART_WINDOW_S;
}

int
template_check(struct call *call, const Berth__V1__Template *t)
{
	struct error err;
	char resolved[PATH_MAX], why[PATH_MAX + 128];
	int code;

	if (validate_template(t, &err) != 0)
		return call_fail_error(call, &err);
	if ((code = check_probe_reachable(call, t->health)) != 0)
		return code;
	if ((code = check_secrets_kept(call, t)) != 0)
		return code;
	if (t->build_context[0] != '\0' &&
	    build_root_resolve(call_berthd(call)->build_root, t->build_context, resolved,
		sizeof(resolved), why, sizeof(why)) != 0)
		return call_fail_detail(call, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "template.build_context", "OUTSIDE_BUILD_ROOT", "template.build_context: %s", why);
	return 0;
}

int
template_put(struct call *call, const Berth__V1__Template *in, struct template_put_result *result,
    Berth__V1__Template **stored)
{
	Berth__V1__Template normal, *t = NULL;
	int code;

	if (in != NULL) {
		template_normalize(call, in, &normal);
		t = &normal;
	}
	if ((code = template_check(call, t)) != 0)
		return code;
	code = registry_template_write(call_registry(call), &call->arena, t, result);
	if (code != 0)
		return call_fail_error(call, registry_error(call_registry(call)));
	if (result->revised)
		log_info("template revised template=%s revision=%u", t->name, result->revision);
	/* Answer what is stored now, exactly as GetTemplate would. */
	return template_lookup(call, "template.name", t->name, stored);
}

int
template_secret_values(struct call *call, const char *name, char ***out, size_t *n)
{
	if (registry_template_secret_values(call_registry(call), &call->arena, name, out, n) != 0)
		return call_fail_error(call, registry_error(call_registry(call)));
	return 0;
}

int
template_delete(struct call *call, const char *name)
{
	struct registry *reg = call_registry(call);
	struct error err;
	int code;

	if (validate_name("name", name, &err) != 0)
		return call_fail_error(call, &err);
	/* The deletion and its request id in one transaction (requests.h). */
	if ((code = registry_begin(reg)) == 0) {
		code = registry_template_delete(reg, name);
		if (code == 0)
			code = requests_stamp(reg, call->request_key, name, NULL, 0);
		if (code == 0)
			code = registry_commit(reg);
		else
			registry_rollback(reg);
	}
	/* An attempt cut short after its deletion: the template is gone, as asked. */
	if (code == BERTH__V1__CODE__NOT_FOUND && call->resumed_subject != NULL &&
	    strcmp(call->resumed_subject, name) == 0)
		return 0;
	if (code == BERTH__V1__CODE__NOT_FOUND)
		return template_not_found(call, name);
	if (code == BERTH__V1__CODE__FAILED_PRECONDITION)
		return call_fail_detail(call, code, "name", "TEMPLATE_IN_USE", "%s",
		    registry_error(reg)->message);
	if (code != 0)
		return call_fail_error(call, registry_error(reg));
	return 0;
}
