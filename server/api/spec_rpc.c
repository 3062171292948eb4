/*
 * spec_rpc.c - PlanSpec and ApplySpec: thin adapters to core/spec.c.
 */
#include "api/api.h"
#include "core/spec.h"

int
rpc_plan_spec(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	const Berth__V1__PlanSpecRequest *in = (const Berth__V1__PlanSpecRequest *)req;
	Berth__V1__PlanSpecResponse *out = (Berth__V1__PlanSpecResponse *)reply;
	char *fp = arena_alloc(&call->arena, SPEC_FINGERPRINT_LEN);
	int code;

	code = spec_plan(call, in->spec, in->prune, &out->changes, &out->n_changes, fp);
	out->fingerprint = fp;
	return code;
}

int
rpc_apply_spec(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	const Berth__V1__ApplySpecRequest *in = (const Berth__V1__ApplySpecRequest *)req;

	return spec_apply(call, in->spec, in->prune, in->fingerprint,
	    (Berth__V1__ApplySpecResponse *)reply);
}
