/*
 * fuzz_rpc.c - libFuzzer target: raw bytes through everything a berthd
 * worker does with a request (rpc_server_handle_bytes): size limit,
 * envelope decoding and its wire check, method lookup, the authorize hook
 * (tokens, roles), deduplication, dispatch, every request's decoding and
 * validation, the handlers, and the audit hook, against a real SQLite
 * registry in a temporary directory.
 *
 * Only here, the Docker layer is a fake backend that answers with errors
 * or empty lists (no engine is touched), the Shutdown handler does
 * nothing (the real one signals the process), and Health's Docker ping
 * goes to a socket that does not exist.
 *
 * The first input byte picks the caller: even = a local ipc caller (with
 * --ipc-admin on: admin without a token, so handlers are reached), odd =
 * a network caller (every call but Health needs a valid token). The rest
 * is the RpcRequest. Build and run: make fuzz FUZZ_SECONDS=N.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nng/nng.h>

#include "api/api.h"
#include "api/auth.h"
#include "core/berthd.h"
#include "base/log.h"
#include "core/ports.h"
#include "rpc_method.h"
#include "rpc/rpc_server.h"
#include "core/service_lock.h"
#include "store/tokens.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct berthd daemon_state;
static struct registry *registry;
static struct rpc_server *server;
static struct dispatch_table table;
static char root[64];

/* --- the fake backend ------------------------------------------------------------------ */

static int
unavailable(struct error *err)
{
	err->code = BERTH__V1__CODE__UNAVAILABLE;
	snprintf(err->message, sizeof(err->message), "fuzzing: no Docker engine");
	return err->code;
}

static int
fake_prepare_image(struct backend *b, const Berth__V1__Template *t, int64_t timeout_ms,
    struct error *err)
{
	(void)b, (void)t, (void)timeout_ms;
	return unavailable(err);
}

static int
fake_create(struct backend *b, const struct backend_instance *inst, char id[DOCKER_ID_LEN + 1],
    int64_t timeout_ms, struct error *err)
{
	(void)b, (void)inst, (void)id, (void)timeout_ms;
	return unavailable(err);
}

static int
fake_id_op(struct backend *b, const char *id, int64_t timeout_ms, struct error *err)
{
	(void)b, (void)id, (void)timeout_ms;
	return unavailable(err);
}

static int
fake_stop(struct backend *b, const char *id, int stop_timeout_s, int64_t timeout_ms,
    struct error *err)
{
	(void)stop_timeout_s;
	return fake_id_op(b, id, timeout_ms, err);
}

static int
fake_inspect(struct backend *b, const char *id, struct docker_container *out, int64_t timeout_ms,
    struct error *err)
{
	(void)b, (void)id, (void)out, (void)timeout_ms;
	err->code = BERTH__V1__CODE__NOT_FOUND;
	snprintf(err->message, sizeof(err->message), "fuzzing: no such container");
	return err->code;
}

static int
fake_list(struct backend *b, struct docker_container **out, size_t *n, int64_t timeout_ms,
    struct error *err)
{
	(void)b, (void)timeout_ms, (void)err;
	*out = NULL;
	*n = 0;
	return 0;
}

static int
fake_logs(struct backend *b, const char *id, unsigned tail, char **out, int64_t timeout_ms,
    struct error *err)
{
	(void)tail, (void)out;
	return fake_id_op(b, id, timeout_ms, err);
}

static int
fake_stats(struct backend *b, const char *id, struct docker_stats *out, int64_t timeout_ms,
    struct error *err)
{
	(void)out;
	return fake_id_op(b, id, timeout_ms, err);
}

static const struct backend_ops fake_ops = {
	.name = "fuzz",
	.prepare_image = fake_prepare_image,
	.create = fake_create,
	.start = fake_id_op,
	.stop = fake_stop,
	.restart = fake_stop,
	.kill = fake_id_op,
	.remove = fake_id_op,
	.inspect = fake_inspect,
	.list_own = fake_list,
	.list_all = fake_list,
	.logs = fake_logs,
	.stats = fake_stats,
};

/* The real Shutdown asks the main thread to stop (SIGTERM to the process). */
static int
fake_shutdown(struct call *call, const ProtobufCMessage *req, ProtobufCMessage *reply)
{
	(void)call, (void)req, (void)reply;
	return 0;
}

/* --- set-up --------------------------------------------------------------------------- */

static void
die(const char *what, const char *why)
{
	fprintf(stderr, "fuzz_rpc: %s: %s\n", what, why);
	abort();
}

static void
remove_root(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_rpc: could not remove %s\n", root);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const struct rpc_server_hooks hooks = { &daemon_state, NULL, NULL, auth_authorize,
		auth_finished, NULL };
	struct rpc_server_config config = {
		.urls = NULL,
		.n_urls = 0,
		.workers = 0,
		.max_request_bytes = 64 * 1024,
		.default_timeout_ms = 2000,
	};
	struct berthd *d = &daemon_state;
	static struct auth_policy auth;
	char token[TOKEN_LEN + 1];
	struct error err;
	int shutdown_index = rpc_method_find("Shutdown");

	(void)argc, (void)argv;
	log_threshold = LL_ERROR; /* a line per call would be all the fuzzer does */
	/* tmpfs when there is one: the registry is written on every mutating call. */
	snprintf(root, sizeof(root), "%s/berth-fuzz-XXXXXX",
	    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (mkdtemp(root) == NULL)
		die("mkdtemp", root);
	atexit(remove_root);

	config_defaults(&d->config);
	d->config.publish_address = "127.0.0.1";
	snprintf(d->data_dir, sizeof(d->data_dir), "%s", root);
	snprintf(d->db_path, sizeof(d->db_path), "%s/registry.db", root);
	snprintf(d->templates_dir, sizeof(d->templates_dir), "%s/templates", root);
	snprintf(d->build_root, sizeof(d->build_root), "%s/build-contexts", root);
	if (mkdir(d->build_root, 0700) != 0)
		die("mkdir", d->build_root);
	auth.enabled = true;
	auth.ipc_admin = true;
	d->auth = &auth;
	if (docker_open(&d->backend.docker, "unix:///nonexistent/berth-fuzz.sock", &err) != 0)
		die("docker_open", err.message);
	d->backend.ops = &fake_ops;
	d->backend.data_dir = d->data_dir;
	d->backend.publish_address = d->config.publish_address;
	d->backend.build_root = d->build_root;
	d->ports = ports_new(d->config.publish_address);
	d->locks = service_locks_new();
	if (d->ports == NULL || d->locks == NULL)
		die("start-up", "out of memory");

	if (registry_open(&registry, d->db_path, true, &err) != 0)
		die("registry_open", err.message);
	/* Tokens exist, so a well-formed token finds rows to compare against. */
	if (tokens_create(registry, "fuzz-viewer", RPC_ROLE_VIEWER, token, &err) != 0 ||
	    tokens_create(registry, "fuzz-admin", RPC_ROLE_ADMIN, token, &err) != 0)
		die("tokens_create", err.message);

	if (dispatch_table_init(&table, berthd_routes, berthd_routes_count, &err) != 0)
		die("dispatch_table_init", err.message);
	table.max_string = DISPATCH_STRING_MAX;
	if (shutdown_index < 0)
		die("routes", "no Shutdown");
	table.routes[shutdown_index].handler = fake_shutdown;
	if (rpc_server_start(&server, &config, &table, &hooks, &err) != 0)
		die("rpc_server_start", err.message);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	void *reply = NULL;
	size_t reply_len = 0;
	bool local;
	Berth__V1__RpcResponse *resp;

	if (size == 0)
		return 0;
	local = (data[0] & 1) == 0;
	(void)rpc_server_handle_bytes(server, registry, local ? NNG_AF_IPC : NNG_AF_INET,
	    local ? "ipc uid=0 pid=1" : "192.0.2.1:4242", data + 1, size - 1, &reply, &reply_len);
	/* Whatever came in, what goes out must be a well-formed RpcResponse. */
	if (reply == NULL)
		abort();
	resp = berth__v1__rpc_response__unpack(NULL, reply_len, reply);
	if (resp == NULL)
		abort();
	berth__v1__rpc_response__free_unpacked(resp, NULL);
	free(reply);
	return 0;
}
