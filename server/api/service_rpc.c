/*
 * service_rpc.c - the service RPCs: thin adapters from request messages to
 * lifecycle.c, plus the registry-only reads (ListServices, GetStats,
 * GetStatus) that answer even while Docker is down.
 */
#include <stdlib.h>
#include <string.h>

#include "validate.h"
#include "api/api.h"
#include "core/berthd.h"
#include "core/health_monitor.h"
#include "core/lifecycle.h"
#include "core/service_exec.h"
#include "core/service_logs.h"

int
rpc_launch_service(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	const Berth__V1__LaunchServiceRequest *in = (const Berth__V1__LaunchServiceRequest *)req;

	Berth__V1__LaunchServiceResponse *out = (Berth__V1__LaunchServiceResponse *)reply;
	int code = lifecycle_launch(call, in->template_, in->instance, in->port, in->restart, out);

	if (code != 0 || !in->wait_healthy)
		return code;
	return health_wait(call, out->service->service_id, &out->service);
}

int
rpc_get_service(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	const Berth__V1__GetServiceRequest *in = (const Berth__V1__GetServiceRequest *)req;

	return lifecycle_get(call, in->service_id, in->registry_only,
	    &((Berth__V1__GetServiceResponse *)reply)->service);
}

int
rpc_stop_service(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	const Berth__V1__StopServiceRequest *in = (const Berth__V1__StopServiceRequest *)req;

	return lifecycle_stop(call, in->service_id, in->timeout_s,
	    &((Berth__V1__StopServiceResponse *)reply)->service);
}

int
rpc_restart_service(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	const Berth__V1__RestartServiceRequest *in = (const Berth__V1__RestartServiceRequest *)req;

	return lifecycle_restart(call, in->service_id,
	    &((Berth__V1__RestartServiceResponse *)reply)->service);
}

int
rpc_remove_service(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	const Berth__V1__RemoveServiceRequest *in = (const Berth__V1__RemoveServiceRequest *)req;

	return lifecycle_remove(call, in->service_id, in->keep_container, in->purge,
	    (Berth__V1__RemoveServiceResponse *)reply);
}

int
rpc_get_service_logs(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	const Berth__V1__GetServiceLogsRequest *in = (const Berth__V1__GetServiceLogsRequest *)req;

	return service_logs(call, in, (Berth__V1__GetServiceLogsResponse *)reply);
}

int
rpc_exec_service(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	return service_exec(call, (const Berth__V1__ExecServiceRequest *)req,
	    (Berth__V1__ExecServiceResponse *)reply);
}

/* Registry rows with their URLs; filters validated like every other input. */
static int
list_services(struct call *call, const char *template_name, const char *status,
    Berth__V1__Service ***out, size_t *n)
{
	struct error err;
	int code;

	if (template_name[0] != '\0' && validate_name("template", template_name, &err) != 0)
		return call_fail_error(call, &err);
	if (status[0] != '\0' && validate_name("status", status, &err) != 0)
		return call_fail_error(call, &err);
	code = registry_service_list(call_registry(call), &call->arena, template_name, status, out, n);
	if (code != 0)
		return call_fail_error(call, registry_error(call_registry(call)));
	for (size_t i = 0; i < *n; i++)
		lifecycle_set_url(call, (*out)[i]);
	return 0;
}

int
rpc_list_services(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	const Berth__V1__ListServicesRequest *in = (const Berth__V1__ListServicesRequest *)req;
	Berth__V1__ListServicesResponse *resp = (Berth__V1__ListServicesResponse *)reply;

	return list_services(call, in->template_, in->status, &resp->services, &resp->n_services);
}

static int
stats(struct call *call, Berth__V1__GetStatsResponse *out)
{
	int code = registry_stats(call_registry(call), &call->arena, out);

	if (code != 0)
		return call_fail_error(call, registry_error(call_registry(call)));
	return 0;
}

int
rpc_get_stats(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	(void)req;
	return stats(call, (Berth__V1__GetStatsResponse *)reply);
}

int
rpc_get_status(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	Berth__V1__GetStatusResponse *resp = (Berth__V1__GetStatusResponse *)reply;
	int code;

	(void)req;
	resp->statistics = ARENA_NEW(&call->arena, Berth__V1__GetStatsResponse);
	berth__v1__get_stats_response__init(resp->statistics);
	if ((code = stats(call, resp->statistics)) != 0)
		return code;
	return list_services(call, "", "", &resp->services, &resp->n_services);
}

/* --- which answers dispatch may keep between changes (answer_cache.h) ---- */

bool
rpc_keep_registry_answer(const ProtobufCMessage *req)
{
	(void)req;
	return true;
}

/* Only the registry's part: the container's live state comes from Docker. */
bool
rpc_keep_get_service_answer(const ProtobufCMessage *req)
{
	return ((const Berth__V1__GetServiceRequest *)req)->registry_only;
}
