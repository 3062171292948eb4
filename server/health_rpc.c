/*
 * health_rpc.c - Health (shaped like grpc.health.v1) and Shutdown.
 */
#include <string.h>

#include "berthd.h"
#include "rpc_method.h"
#include "rpc_server.h"

int
rpc_health(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	const Berth__V1__HealthRequest *in = (const Berth__V1__HealthRequest *)req;
	Berth__V1__HealthResponse *resp = (Berth__V1__HealthResponse *)reply;
	struct berthd *d = call_berthd(call);

	resp->version = BERTH_VERSION;
	if (in->service[0] != '\0' && strcmp(in->service, RPC_SERVICE->name) != 0) {
		resp->status = BERTH__V1__HEALTH_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
		return 0;
	}
	resp->status = atomic_load(&d->shutdown_requested)
	    ? BERTH__V1__HEALTH_RESPONSE__SERVING_STATUS__NOT_SERVING
	    : BERTH__V1__HEALTH_RESPONSE__SERVING_STATUS__SERVING;
	return 0;
}

int
rpc_shutdown(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	(void)req;
	(void)reply;
	(void)call;
	/* The main thread begins the shutdown; this reply is sent first. */
	berthd_request_shutdown();
	return 0;
}
