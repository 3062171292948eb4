/*
 * scale_rpc.c - ScaleTemplate: a thin adapter to core/scale.c.
 */
#include "api/api.h"
#include "core/scale.h"

int
rpc_scale_template(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	const Berth__V1__ScaleTemplateRequest *in = (const Berth__V1__ScaleTemplateRequest *)req;

	return scale_template(call, in->template_, in->instances, in->purge, in->wait_healthy,
	    (Berth__V1__ScaleTemplateResponse *)reply);
}
