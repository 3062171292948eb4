/*
 * rollout_rpc.c - StartRollout, GetRollout, ControlRollout: thin adapters
 * to core/rollout.c.
 */
#include "api/api.h"
#include "core/rollout.h"

int
rpc_start_rollout(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	const Berth__V1__StartRolloutRequest *in = (const Berth__V1__StartRolloutRequest *)req;

	return rollout_start(call, in, &((Berth__V1__StartRolloutResponse *)reply)->rollout);
}

int
rpc_get_rollout(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	const Berth__V1__GetRolloutRequest *in = (const Berth__V1__GetRolloutRequest *)req;

	return rollout_get(call, in->id, in->template_,
	    &((Berth__V1__GetRolloutResponse *)reply)->rollout);
}

int
rpc_control_rollout(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	const Berth__V1__ControlRolloutRequest *in = (const Berth__V1__ControlRolloutRequest *)req;

	return rollout_control(call, in->id, in->action,
	    &((Berth__V1__ControlRolloutResponse *)reply)->rollout);
}
