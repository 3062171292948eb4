/*
 * health_rpc.c - Health (shaped like grpc.health.v1) and Shutdown.
 */
#include <string.h>

#include "api/api.h"
#include "core/berthd.h"
#include "core/shutdown.h"
#include "rpc_method.h"
#include "rpc/rpc_server.h"
#include "store/tokens.h"

#define HEALTH_DOCKER_MS 1000

/*
 * What the caller may do, as the authorize hook found it: a role name, or
 * "" when a token is needed and none valid was sent (RPC_ROLE_PUBLIC).
 */
static const char *
caller_role(enum rpc_role role)
{
	return role >= RPC_ROLE_VIEWER && role <= RPC_ROLE_ADMIN ? token_role_name(role) : "";
}

int
rpc_health(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	const Berth__V1__HealthRequest *in = (const Berth__V1__HealthRequest *)req;
	Berth__V1__HealthResponse *resp = (Berth__V1__HealthResponse *)reply;
	struct berthd *d = call_berthd(call);
	struct error err = { 0 };
	int64_t remaining;

	resp->version = BERTH_VERSION;
	resp->caller_role = (char *)caller_role(call->role);
	if (in->service[0] != '\0' && strcmp(in->service, RPC_SERVICE->name) != 0) {
		resp->status = BERTH__V1__HEALTH_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
		return 0;
	}
	resp->status = atomic_load(&d->shutdown_requested)
	    ? BERTH__V1__HEALTH_RESPONSE__SERVING_STATUS__NOT_SERVING
	    : BERTH__V1__HEALTH_RESPONSE__SERVING_STATUS__SERVING;
	/* Health must stay fast: Docker gets at most a second of it. */
	remaining = call_remaining_ms(call);
	resp->docker_available =
	    backend_ping(&d->backend, remaining < HEALTH_DOCKER_MS ? remaining : HEALTH_DOCKER_MS,
		&err) == 0;
	resp->docker_api_version = (char *)backend_api_version(&d->backend);
	resp->engine = (char *)backend_engine(&d->backend);
	resp->event_urls = (char **)d->event_urls.items;
	resp->n_event_urls = d->event_urls.n;
	return 0;
}

int
rpc_shutdown(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	(void)req;
	(void)reply;
	(void)call;
	/* The main thread begins the shutdown; this reply is sent first. */
	shutdown_request();
	return 0;
}
