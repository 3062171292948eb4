/*
 * service_rpc.c - the service RPCs: thin adapters from request messages to
 * lifecycle.c, plus the registry-only reads (ListServices, GetStats,
 * GetStatus) that answer even while Docker is down.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "berthd.h"
#include "lifecycle.h"

int
rpc_launch_service(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	const Berth__V1__LaunchServiceRequest *in = (const Berth__V1__LaunchServiceRequest *)req;

	return lifecycle_launch(call, in->template_, in->instance, in->port,
	    (Berth__V1__LaunchServiceResponse *)reply);
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

	return lifecycle_logs(call, in->service_id, in->tail,
	    &((Berth__V1__GetServiceLogsResponse *)reply)->logs);
}

/* Registry rows with their URLs; filters validated like every other input. */
static int
list_services(struct call *call, const char *template_name, const char *status,
    Berth__V1__Service ***out, size_t *n)
{
	struct validation_error err;
	int code;

	if (template_name[0] != '\0' && validate_name("template", template_name, &err) != 0)
		return call_fail_invalid(call, &err);
	if (status[0] != '\0' && validate_name("status", status, &err) != 0)
		return call_fail_invalid(call, &err);
	code = registry_service_list(call_registry(call), &call->arena, template_name, status, out, n);
	if (code != 0)
		return call_fail(call, code, "%s", registry_errmsg(call_registry(call)));
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

/*
 * The last GetStats answer, packed, and the registry generation it was
 * computed at. Statistics are polled (berth stats, status --watch,
 * dashboards), and at 10,000 services computing them reads every row
 * three times (8 ms); between changes they are served from here. Guarded
 * by stats_lock; any worker.
 */
static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t stats_generation;
static uint8_t *stats_packed;
static size_t stats_len;

/* The kept answer if it is still current: unpacked into the call's arena. */
static bool
stats_kept(struct call *call, uint64_t generation, Berth__V1__GetStatsResponse *out)
{
	Berth__V1__GetStatsResponse *copy = NULL;

	pthread_mutex_lock(&stats_lock);
	if (stats_packed != NULL && stats_generation == generation)
		copy = berth__v1__get_stats_response__unpack(&call->arena.allocator, stats_len,
		    stats_packed);
	pthread_mutex_unlock(&stats_lock);
	if (copy == NULL)
		return false;
	*out = *copy;
	return true;
}

static void
stats_keep(uint64_t generation, const Berth__V1__GetStatsResponse *s)
{
	size_t len = berth__v1__get_stats_response__get_packed_size(s);
	uint8_t *packed = malloc(len ? len : 1);

	if (packed == NULL)
		return;
	berth__v1__get_stats_response__pack(s, packed);
	pthread_mutex_lock(&stats_lock);
	/* A slower worker must not replace a newer answer with an older one. */
	if (stats_packed == NULL || generation >= stats_generation) {
		free(stats_packed);
		stats_packed = packed;
		stats_len = len;
		stats_generation = generation;
		packed = NULL;
	}
	pthread_mutex_unlock(&stats_lock);
	free(packed);
}

static int
stats(struct call *call, Berth__V1__GetStatsResponse *out)
{
	uint64_t generation = registry_generation(); /* before reading: see registry.h */
	int code;

	if (stats_kept(call, generation, out))
		return 0;
	code = registry_stats(call_registry(call), &call->arena, out);
	if (code != 0)
		return call_fail(call, code, "%s", registry_errmsg(call_registry(call)));
	stats_keep(generation, out);
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
