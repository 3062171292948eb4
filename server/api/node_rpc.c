/*
 * node_rpc.c - ListNodes and SetNodeAvailability: thin adapters to
 * core/nodes.c.
 */
#include "api/api.h"
#include "core/nodes.h"

int
rpc_list_nodes(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	(void)req;
	return nodes_list(call, (Berth__V1__ListNodesResponse *)reply);
}

int
rpc_set_node_availability(struct call *call, const ProtobufCMessage *req,
    ProtobufCMessage *reply)
{
	const Berth__V1__SetNodeAvailabilityRequest *in =
	    (const Berth__V1__SetNodeAvailabilityRequest *)req;

	return nodes_set_availability(call, in->node, in->availability,
	    (Berth__V1__SetNodeAvailabilityResponse *)reply);
}
