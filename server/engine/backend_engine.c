/*
 * backend_engine.c - instances as plain containers on one Docker engine.
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "base/build_root.h"
#include "clock.h"

/*
 * Images this engine had a moment ago. A launch checked its image with one
 * round trip to Docker (1.5-2 ms, and Docker's time is the launch's floor);
 * an image seen within IMAGE_KNOWN_MS is taken as present. If it is gone
 * after all, the create says so (404, NOT_FOUND): engine_create forgets it,
 * prepares it again (build or pull) and creates once more. Small, shared
 * by all workers, guarded by images_lock.
 */
#define IMAGE_SLOTS 32
#define IMAGE_KNOWN_MS (60 * 1000)

static pthread_mutex_t images_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char ref[256];
	int64_t seen_ms; /* 0: free */
} images[IMAGE_SLOTS];

static bool
image_known(const char *ref)
{
	int64_t now = clock_monotonic_ms();
	bool known = false;

	pthread_mutex_lock(&images_lock);
	for (int i = 0; i < IMAGE_SLOTS && !known; i++)
		known = images[i].seen_ms != 0 && now - images[i].seen_ms < IMAGE_KNOWN_MS &&
		    strcmp(images[i].ref, ref) == 0;
	pthread_mutex_unlock(&images_lock);
	return known;
}

/* Remembers ref as present now (present = true) or forgets it. */
static void
image_seen(const char *ref, bool present)
{
	int slot = -1, oldest = 0;

	if (strlen(ref) >= sizeof(images[0].ref))
		return;
	pthread_mutex_lock(&images_lock);
	for (int i = 0; i < IMAGE_SLOTS; i++) {
		if (images[i].seen_ms != 0 && strcmp(images[i].ref, ref) == 0) {
			slot = i;
			break;
		}
		if (images[i].seen_ms < images[oldest].seen_ms)
			oldest = i;
	}
	if (!present) {
		if (slot >= 0)
			images[slot].seen_ms = 0;
	} else {
		if (slot < 0)
			slot = oldest;
		snprintf(images[slot].ref, sizeof(images[slot].ref), "%s", ref);
		images[slot].seen_ms = clock_monotonic_ms();
	}
	pthread_mutex_unlock(&images_lock);
}

static int
engine_prepare_image(struct backend *b, const Berth__V1__Template *t, int64_t timeout_ms,
    struct error *err)
{
	bool exists = false;
	int code;

	if (image_known(t->image))
		return 0;
	code = docker_counted(docker_image_exists(b->docker, t->image, &exists, timeout_ms, err));
	if (code == 0 && exists)
		image_seen(t->image, true);
	if (code != 0 || exists)
		return code;
	if (t->build_context[0] != '\0') {
		char context[PATH_MAX], why[PATH_MAX + 128];

		/* PutTemplate checked it; a link in the path may point elsewhere by now. */
		if (build_root_resolve(b->build_root, t->build_context, context, sizeof(context), why,
			sizeof(why)) != 0) {
			return error_set(err, BERTH__V1__CODE__FAILED_PRECONDITION,
			    "refusing to build: %.400s", why);
		}
		return docker_counted(docker_image_build(b->docker, context, t->image, timeout_ms,
		    err));
	}
	return docker_counted(docker_image_pull(b->docker, t->image, timeout_ms, err));
}

static int
engine_create(struct backend *b, const struct backend_instance *inst, char id[DOCKER_ID_LEN + 1],
    int64_t timeout_ms, struct error *err)
{
	const Berth__V1__Template *t = inst->tmpl;
	struct backend_env env;
	int code;
	const struct docker_label labels[] = {
		{ DOCKER_LABEL_MANAGED, "true" },
		{ DOCKER_LABEL_SERVICE, inst->service_id },
		{ DOCKER_LABEL_TEMPLATE, t->name },
		{ DOCKER_LABEL_INSTANCE, inst->instance },
		{ DOCKER_LABEL_DATA_DIR, b->data_dir },
	};
	struct docker_container_spec spec = {
		.name = inst->service_id,
		.image = t->image,
		.command = (const char *const *)t->command,
		.n_command = t->n_command,
		.labels = labels,
		.n_labels = sizeof(labels) / sizeof(labels[0]),
		.container_port = (uint16_t)t->container_port,
		.host_ip = b->publish_address,
		.host_port = inst->host_port,
		.bind_source = t->mount_path[0] != '\0' ? inst->project_dir : NULL,
		.bind_target = t->mount_path[0] != '\0' ? t->mount_path : NULL,
		.stop_timeout_s = (int)t->stop_timeout_s,
		.nano_cpus = (int64_t)(t->cpu_limit * 1e9 + 0.5), /* validated: 0 to 4096 */
		.memory_bytes = (int64_t)t->memory_limit_bytes,
		.init = t->init,
		.user = t->user,
	};

	/* Placement and publish mode mean nothing on one engine; more tasks do. */
	if (t->replicas > 1) {
		return error_set(err, BERTH__V1__CODE__FAILED_PRECONDITION,
		    "template '%s' asks for %u replicas; the engine backend runs one container per "
		    "instance (berthd --backend swarm runs more)",
		    t->name, t->replicas);
	}
	if ((code = backend_env_make(&env, inst, err)) != 0)
		return code;
	spec.env = env.list;
	spec.n_env = env.n;
	code = docker_counted(docker_container_create(b->docker, &spec, id, timeout_ms, err));
	if (code == BERTH__V1__CODE__NOT_FOUND) {
		/* The image went away since it was last seen: make it again, once. */
		image_seen(t->image, false);
		error_clear(err);
		if ((code = engine_prepare_image(b, t, timeout_ms, err)) == 0)
			code = docker_counted(docker_container_create(b->docker, &spec, id,
			    timeout_ms, err));
	}
	backend_env_free(&env);
	return code;
}

static int
engine_start(struct backend *b, const char *id, int64_t timeout_ms, struct error *err)
{
	return docker_counted(docker_container_start(b->docker, id, timeout_ms, err));
}

static int
engine_stop(struct backend *b, const char *id, int stop_timeout_s, int64_t timeout_ms,
    struct error *err)
{
	return docker_counted(docker_container_stop(b->docker, id, stop_timeout_s, timeout_ms,
	    err));
}

static int
engine_restart(struct backend *b, const char *id, int stop_timeout_s, int64_t timeout_ms,
    struct error *err)
{
	return docker_counted(docker_container_restart(b->docker, id, stop_timeout_s, timeout_ms,
	    err));
}

static int
engine_kill(struct backend *b, const char *id, int64_t timeout_ms, struct error *err)
{
	return docker_counted(docker_container_kill(b->docker, id, timeout_ms, err));
}

static int
engine_remove(struct backend *b, const char *id, int64_t timeout_ms, struct error *err)
{
	return docker_counted(docker_container_remove(b->docker, id, true, timeout_ms, err));
}

static int
engine_inspect(struct backend *b, const char *id, struct docker_container *out, int64_t timeout_ms,
    struct error *err)
{
	return docker_counted(docker_container_inspect(b->docker, id, out, timeout_ms, err));
}

static int
engine_list_own(struct backend *b, struct docker_container **out, size_t *n, int64_t timeout_ms,
    struct error *err)
{
	char label[600];

	/* Only this berthd's containers: another berthd on the host has its own. */
	snprintf(label, sizeof(label), "%s=%s", DOCKER_LABEL_DATA_DIR, b->data_dir);
	return docker_counted(docker_container_list(b->docker, label, out, n, timeout_ms, err));
}

static int
engine_list_all(struct backend *b, struct docker_container **out, size_t *n, int64_t timeout_ms,
    struct error *err)
{
	return docker_counted(docker_container_list(b->docker, NULL, out, n, timeout_ms, err));
}

static int
engine_logs(struct backend *b, const char *id, unsigned tail, char **out, int64_t timeout_ms,
    struct error *err)
{
	return docker_counted(docker_container_logs(b->docker, id, tail, out, timeout_ms, err));
}

static int
engine_log_entries(struct backend *b, const char *id, const struct docker_logs_query *q,
    docker_log_fn fn, void *arg, int64_t timeout_ms, struct error *err)
{
	return docker_counted(docker_logs_each(b->docker, "containers", id, q, fn, arg, timeout_ms,
	    err));
}

static int
engine_exec_output(struct backend *b, const char *id, char *const *argv, size_t argc,
    size_t max_bytes, struct docker_exec_output *out, int64_t timeout_ms, struct error *err)
{
	return docker_counted(docker_container_exec_output(b->docker, id, argv, argc, max_bytes, out,
	    timeout_ms, err));
}

static int
engine_stats(struct backend *b, const char *id, struct docker_stats *out, int64_t timeout_ms,
    struct error *err)
{
	return docker_counted(docker_container_stats(b->docker, id, out, timeout_ms, err));
}

static int
engine_exec(struct backend *b, const char *id, char *const *argv, size_t argc, int64_t timeout_ms,
    int *exit_code, struct error *err)
{
	return docker_counted(
	    docker_container_exec(b->docker, id, argv, argc, timeout_ms, exit_code, err));
}

static int
engine_rename(struct backend *b, const char *id, const char *new_name, int64_t timeout_ms,
    struct error *err)
{
	return docker_counted(docker_container_rename(b->docker, id, new_name, timeout_ms, err));
}

static int
engine_rebuild(struct backend *b, const Berth__V1__Template *t, char *const *build_args,
    size_t n_build_args, bool no_cache, char image_id[80], int64_t timeout_ms,
    struct error *err)
{
	char context[PATH_MAX], why[PATH_MAX + 128];
	int code;

	if (t->build_context[0] == '\0')
		return error_set(err, BERTH__V1__CODE__FAILED_PRECONDITION,
		    "template '%s' has no build_context to rebuild from", t->name);
	if (build_root_resolve(b->build_root, t->build_context, context, sizeof(context), why,
		sizeof(why)) != 0)
		return error_set(err, BERTH__V1__CODE__FAILED_PRECONDITION,
		    "refusing to build: %.400s", why);
	code = docker_counted(docker_image_build_opts(b->docker, context, t->image, build_args,
	    n_build_args, no_cache, timeout_ms, err));
	if (code == 0)
		image_seen(t->image, true);
	if (code == 0)
		code = docker_counted(docker_image_id(b->docker, t->image, image_id, 80, timeout_ms,
		    err));
	return code;
}

const struct backend_ops backend_engine_ops = {
	.name = "engine",
	.prepare_image = engine_prepare_image,
	.create = engine_create,
	.start = engine_start,
	.stop = engine_stop,
	.restart = engine_restart,
	.kill = engine_kill,
	.remove = engine_remove,
	.inspect = engine_inspect,
	.list_own = engine_list_own,
	.list_all = engine_list_all,
	.logs = engine_logs,
	.log_entries = engine_log_entries,
	.stats = engine_stats,
	.exec = engine_exec,
	.exec_output = engine_exec_output,
	.rename = engine_rename,
	.rebuild = engine_rebuild,
	.ports_on_this_host = true,
};
