/*
 * spec_internal.h - what spec.c (checking, planning) hands spec_apply.c
 * (making it so). Not for other files.
 */
#ifndef BERTH_CORE_SPEC_INTERNAL_H
#define BERTH_CORE_SPEC_INTERNAL_H

#include "core/spec.h"

/* One template of the spec beside what the registry holds of it. */
struct spec_entry {
	const Berth__V1__SpecTemplate *in;
	const char *name;
	Berth__V1__Template normal;    /* in->template_ as berth stores it */
	Berth__V1__Template *stored;   /* NULL: no such template yet */
	Berth__V1__Service **services; /* its services, sorted by id */
	size_t n_services;
	bool by_name;                   /* instances: [names] rather than a count */
	size_t first_change, n_changes; /* its changes in the plan */
};

struct spec_plan {
	struct spec_entry *entries;
	size_t n_entries;
	Berth__V1__PlanChange **changes;
	size_t n_changes;
	char fingerprint[SPEC_FINGERPRINT_LEN];
};

/* Checks the spec and computes its plan into *plan (the call's arena). */
int spec_plan_compute(struct call *call, const Berth__V1__Spec *spec, bool prune,
    struct spec_plan *plan);

#endif
