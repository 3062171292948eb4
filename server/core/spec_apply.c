/*
 * spec_apply.c - ApplySpec: the plan of spec.c made so (spec.h).
 *
 * Per template, in the spec's order: the template stored (template_put,
 * as PutTemplate), then its instances (a count through scale_template,
 * named ones launched one by one), the removals prune asks for, then a
 * rollout of its outdated instances. The first failure stops the rest;
 * what was done stays and the error says how far it got.
 *
 * Called on an RPC worker, with the call's arena and registry connection.
 */
#include <stdio.h>
#include <string.h>

#include "core/lifecycle.h"
#include "core/scale.h"
#include "core/spec_internal.h"
#include "core/templates.h"

/*
 * Starts a rollout of the template's outdated instances (its defaults:
 * one at a time, rollback on failure); *id its id. The one place that
 * knows rollouts: with core/rollout.h in the tree it calls rollout_start;
 * without it (rollouts not merged yet) it answers UNIMPLEMENTED and
 * ApplySpec reports the change as not applied.
 */
#if defined(__has_include)
#if __has_include("core/rollout.h")
#define SPEC_HAS_ROLLOUTS 1
#include "core/rollout.h"
#endif
#endif

static int
start_rollout(struct call *call, const char *template_name, char **id)
{
	*id = NULL;
#ifdef SPEC_HAS_ROLLOUTS
	Berth__V1__StartRolloutRequest req = BERTH__V1__START_ROLLOUT_REQUEST__INIT;
	Berth__V1__Rollout *r = NULL;
	int code;

	req.template_ = (char *)template_name;
	if ((code = rollout_start(call, &req, &r)) == 0)
		*id = r->id;
	return code;
#else
	(void)template_name;
	return call_fail(call, BERTH__V1__CODE__UNIMPLEMENTED,
	    "this berthd starts no rollouts yet: run `berth rollout %s`", template_name);
#endif
}

struct applied {
	Berth__V1__PlanChange **list;
	size_t n, cap;
};

static Berth__V1__PlanChange *
applied_add(struct call *call, struct applied *a, const char *action, const char *template_name,
    const char *service_id, const char *detail)
{
	Berth__V1__PlanChange *c = ARENA_NEW(&call->arena, Berth__V1__PlanChange);

	berth__v1__plan_change__init(c);
	c->action = (char *)action;
	c->template_ = (char *)template_name;
	c->service_id = arena_strdup(&call->arena, service_id != NULL ? service_id : "");
	c->detail = arena_strdup(&call->arena, detail != NULL ? detail : "");
	if (a->n == a->cap) {
		size_t ncap = a->cap ? a->cap * 2 : 16;
		Berth__V1__PlanChange **grown = ARENA_ARRAY(&call->arena, Berth__V1__PlanChange *, ncap);

		if (a->n > 0)
			memcpy(grown, a->list, a->n * sizeof(*grown));
		a->list = grown;
		a->cap = ncap;
	}
	a->list[a->n++] = c;
	return c;
}

/* The count of a template's instances, through scale_template. */
static int
apply_count(struct call *call, const struct spec_entry *e, struct applied *done)
{
	Berth__V1__ScaleTemplateResponse r = BERTH__V1__SCALE_TEMPLATE_RESPONSE__INIT;
	int code = scale_template(call, e->name, e->in->instances, false, false, &r);

	for (size_t i = 0; i < r.n_launched; i++)
		applied_add(call, done, "launch", e->name, r.launched[i]->service_id,
		    r.launched[i]->url);
	for (size_t i = 0; i < r.n_removed; i++)
		applied_add(call, done, "remove", e->name, r.removed[i], "above the count");
	return code;
}

/* One template's changes of the plan, in order. */
static int
apply_entry(struct call *call, const struct spec_plan *plan, const struct spec_entry *e,
    struct applied *done, Berth__V1__ApplySpecResponse *out)
{
	bool counted = false;
	int code = 0;

	for (size_t k = e->first_change; k < e->first_change + e->n_changes && code == 0; k++) {
		const Berth__V1__PlanChange *c = plan->changes[k];

		if (strcmp(c->action, "create_template") == 0 ||
		    strcmp(c->action, "update_template") == 0) {
			struct template_put_result result;
			Berth__V1__Template *stored;

			memset(&result, 0, sizeof(result));
			code = template_put(call, e->in->template_, &result, &stored);
			if (code == 0) {
				Berth__V1__PlanChange *a =
				    applied_add(call, done, c->action, e->name, NULL, c->detail);

				a->fields = c->fields;
				a->n_fields = c->n_fields;
			}
		} else if ((strcmp(c->action, "launch") == 0 || strcmp(c->action, "remove") == 0) &&
		    !e->by_name && strcmp(c->detail, "not in the spec") != 0) {
			if (!counted)
				code = apply_count(call, e, done);
			counted = true;
		} else if (strcmp(c->action, "launch") == 0) {
			Berth__V1__LaunchServiceResponse r = BERTH__V1__LAUNCH_SERVICE_RESPONSE__INIT;
			const char *instance = c->service_id + strlen(e->name) + 1;

			code = lifecycle_launch(call, e->name, instance, 0, "", &r);
			if (code == 0)
				applied_add(call, done, "launch", e->name, r.service->service_id,
				    r.service->url);
		} else if (strcmp(c->action, "remove") == 0) {
			Berth__V1__RemoveServiceResponse r = BERTH__V1__REMOVE_SERVICE_RESPONSE__INIT;

			code = lifecycle_remove(call, c->service_id, false, false, &r);
			if (code == BERTH__V1__CODE__NOT_FOUND) {
				call_clear_failure(call);
				code = 0;
			}
			if (code == 0)
				applied_add(call, done, "remove", e->name, c->service_id, c->detail);
		} else if (strcmp(c->action, "rollout") == 0) {
			char *id = NULL;

			/* A rollout that cannot start (none in this berthd, one running) is reported, not fatal. */
			if (start_rollout(call, e->name, &id) == 0) {
				applied_add(call, done, "rollout", e->name, id, c->detail);
				out->rollouts[out->n_rollouts++] = id;
			} else {
				applied_add(call, done, "rollout", e->name, NULL,
				    arena_printf(&call->arena, "not applied: %s; %s", c->detail,
					call->error.message));
				call_clear_failure(call);
			}
		}
		/* unmanaged: reported by the plan, nothing to do */
	}
	return code;
}

int
spec_apply(struct call *call, const Berth__V1__Spec *spec, bool prune, const char *fp,
    Berth__V1__ApplySpecResponse *out)
{
	struct spec_plan plan;
	struct applied done = { 0 };
	int code;

	if ((code = spec_plan_compute(call, spec, prune, &plan)) != 0)
		return code;
	/*
	 * A resend of a call a crash cut short (same request id, same spec)
	 * finds the registry changed by its own first attempt: the plan of now
	 * is the rest of that attempt's plan, so it applies without the check.
	 */
	if (fp != NULL && fp[0] != '\0' && !call->resumed && strcmp(fp, plan.fingerprint) != 0)
		return call_fail_detail(call, BERTH__V1__CODE__FAILED_PRECONDITION, "fingerprint",
		    "PLAN_CHANGED",
		    "the plan changed since it was shown (the registry or the spec is not what it "
		    "was): run plan again");
	out->rollouts = ARENA_ARRAY(&call->arena, char *, plan.n_entries + 1);
	for (size_t i = 0; i < plan.n_entries && code == 0; i++)
		code = apply_entry(call, &plan, &plan.entries[i], &done, out);
	out->applied = done.list;
	out->n_applied = done.n;
	if (code != 0)
		error_prefix(&call->error, "applied %zu change%s, then failed", done.n,
		    done.n == 1 ? "" : "s");
	return code;
}
