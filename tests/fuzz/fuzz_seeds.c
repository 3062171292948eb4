/*
 * fuzz_seeds.c - writes the starting corpus of fuzz_rpc into a directory:
 * for every method of the proto, an RpcRequest with an empty request and,
 * where it matters, one with plausible fields, each as a local caller
 * (first byte 0) and as a network caller with a token-shaped token
 * (first byte 1). Run by `make fuzz`; the corpus is never committed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/v1/berth.pb-c.h"
#include "rpc_method.h"

static int written;

static void
write_seed(const char *dir, const char *name, uint8_t caller, const char *token,
    const ProtobufCMessage *request, const char *method_path)
{
	Berth__V1__RpcRequest env = BERTH__V1__RPC_REQUEST__INIT;
	size_t len = protobuf_c_message_get_packed_size(request), total;
	uint8_t *payload = malloc(len + 1), *buf;
	char path[512];
	FILE *f;

	protobuf_c_message_pack(request, payload);
	env.method = (char *)method_path;
	env.payload.data = payload;
	env.payload.len = len;
	env.token = (char *)token;
	env.timeout_ms = 1000;
	env.request_id = caller ? "seed-request-1" : "";
	total = berth__v1__rpc_request__get_packed_size(&env);
	buf = malloc(total + 1);
	buf[0] = caller;
	berth__v1__rpc_request__pack(&env, buf + 1);
	snprintf(path, sizeof(path), "%s/%s-%s", dir, name, caller ? "remote" : "local");
	if ((f = fopen(path, "wb")) == NULL || fwrite(buf, 1, total + 1, f) != total + 1) {
		perror(path);
		exit(1);
	}
	fclose(f);
	free(buf);
	free(payload);
	written++;
}

/* Seeds `name` for `method` ("PutTemplate") as both callers. */
static void
seed(const char *dir, const char *name, const char *method, const ProtobufCMessage *request)
{
	static const char token[] =
	    "berth_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char path[RPC_METHOD_PATH_MAX];

	rpc_method_path((unsigned)rpc_method_find(method), path, sizeof(path));
	write_seed(dir, name, 0, "", request, path);
	write_seed(dir, name, 1, token, request, path);
}

int
main(int argc, char **argv)
{
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	Berth__V1__PutTemplateRequest put = BERTH__V1__PUT_TEMPLATE_REQUEST__INIT;
	Berth__V1__LaunchServiceRequest launch = BERTH__V1__LAUNCH_SERVICE_REQUEST__INIT;
	Berth__V1__StopServiceRequest stop = BERTH__V1__STOP_SERVICE_REQUEST__INIT;
	Berth__V1__RemoveServiceRequest rm = BERTH__V1__REMOVE_SERVICE_REQUEST__INIT;
	Berth__V1__GetServiceLogsRequest logs = BERTH__V1__GET_SERVICE_LOGS_REQUEST__INIT;
	Berth__V1__ExecServiceRequest exec = BERTH__V1__EXEC_SERVICE_REQUEST__INIT;
	Berth__V1__GetTemplateRequest get = BERTH__V1__GET_TEMPLATE_REQUEST__INIT;
	Berth__V1__ListServicesRequest list = BERTH__V1__LIST_SERVICES_REQUEST__INIT;
	Berth__V1__SetNodeAvailabilityRequest avail = BERTH__V1__SET_NODE_AVAILABILITY_REQUEST__INIT;
	char *env[] = { "A=1", "PATH=/bin" }, *cmd[] = { "/bin/server", "--port", "8000" };

	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_seeds DIR\n");
		return 2;
	}
	/* Every method with an empty request. */
	for (unsigned i = 0; i < rpc_method_count(); i++) {
		const ProtobufCMethodDescriptor *m = rpc_method(i);
		ProtobufCMessage *req = calloc(1, m->input->sizeof_message);

		protobuf_c_message_init(m->input, req);
		seed(argv[1], m->name, m->name, req);
		free(req);
	}
	t.name = "web";
	t.description = "seed";
	t.image = "example/web:1.0";
	t.build_context = "/tmp/context";
	t.container_port = 8000;
	t.port_range_start = 9100;
	t.port_range_end = 9199;
	t.mount_path = "/data";
	t.env = env;
	t.n_env = 2;
	t.command = cmd;
	t.n_command = 3;
	t.stop_timeout_s = 5;
	put.template_ = &t;
	seed(argv[1], "PutTemplate-full", "PutTemplate", &put.base);
	launch.template_ = "db";
	launch.instance = "blue";
	launch.port = 8011;
	seed(argv[1], "LaunchService-full", "LaunchService", &launch.base);
	stop.service_id = "db_instance_1";
	stop.timeout_s = 3;
	seed(argv[1], "StopService-full", "StopService", &stop.base);
	rm.service_id = "db_blue";
	rm.purge = 1;
	seed(argv[1], "RemoveService-full", "RemoveService", &rm.base);
	logs.service_id = "db_blue";
	logs.tail = 10;
	seed(argv[1], "GetServiceLogs-full", "GetServiceLogs", &logs.base);
	logs.follow = 1;
	logs.since = "2026-12-05T10:00:00.5+02:00";
	logs.timestamps = 1;
	logs.stream = BERTH__V1__LOG_STREAM__LOG_STREAM_STDERR;
	logs.cursor = "c1.1764928800.000000001.2";
	logs.wait_ms = 100;
	seed(argv[1], "GetServiceLogs-follow", "GetServiceLogs", &logs.base);
	exec.service_id = "db_blue";
	exec.command = cmd;
	exec.n_command = 3;
	exec.timeout_ms = 1000;
	seed(argv[1], "ExecService-full", "ExecService", &exec.base);
	get.name = "db";
	seed(argv[1], "GetTemplate-full", "GetTemplate", &get.base);
	list.template_ = "db";
	list.status = "running";
	seed(argv[1], "ListServices-full", "ListServices", &list.base);
	avail.node = "worker-1";
	avail.availability = "drain";
	seed(argv[1], "SetNodeAvailability-full", "SetNodeAvailability", &avail.base);
	printf("fuzz_seeds: %d seeds in %s\n", written, argv[1]);
	return 0;
}
