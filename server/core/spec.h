/*
 * spec.h - a Spec (templates and their instances, berth.yaml's content)
 * checked, compared with the registry (a plan) and made so (apply).
 *
 * The plan is a list of PlanChange, computed from the spec and what the
 * registry holds now, with a fingerprint: a SHA-256 over the spec, the
 * plan and the registry state it was computed from (the templates' stored
 * form and revisions, their services' ids, states and revisions). ApplySpec
 * computes the plan again and refuses (FAILED_PRECONDITION) when the
 * fingerprint the caller was shown is not the one of now.
 *
 * Called on RPC workers with the call's arena and registry connection;
 * failures are reported through the call. Every mistake of the spec is
 * one ErrorDetail whose field is a path in the spec's own terms:
 * "templates.web.port_range_start", "templates.web.instances[2]".
 */
#ifndef BERTH_CORE_SPEC_H
#define BERTH_CORE_SPEC_H

#include <stdbool.h>
#include <stddef.h>

#include "base/call.h"

/* Hex SHA-256 plus NUL. */
#define SPEC_FINGERPRINT_LEN 65

/* Templates one spec may declare. */
#define SPEC_TEMPLATES_MAX 256

/*
 * PlanSpec: checks the whole spec (INVALID_ARGUMENT with a detail per
 * mistake, up to CALL_DETAILS_MAX), then fills *changes (the call's arena;
 * empty: nothing to do) and fingerprint. Reads only.
 */
int spec_plan(struct call *call, const Berth__V1__Spec *spec, bool prune,
    Berth__V1__PlanChange ***changes, size_t *n_changes, char fingerprint[SPEC_FINGERPRINT_LEN]);

/*
 * ApplySpec: the plan, when `fingerprint` is "" or the plan's, made so:
 * templates stored (as PutTemplate stores them), instances launched and
 * removed (a count through scale_template), rollouts started. out->applied
 * lists what was done, in the plan's order; a rollout that could not be
 * started is listed with its detail saying so. The first failure stops
 * the rest; the call's error then says what was applied before it.
 */
int spec_apply(struct call *call, const Berth__V1__Spec *spec, bool prune, const char *fingerprint,
    Berth__V1__ApplySpecResponse *out);

#endif
