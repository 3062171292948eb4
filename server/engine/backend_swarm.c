/*
 * backend_swarm.c - instances as Docker Swarm services, through the Engine
 * API of a Swarm manager (berthd runs beside one).
 *
 * One instance is one replicated service named like the instance
 * ("<template>_<instance>"), labelled with berth's labels, and so are its
 * tasks' containers (ContainerSpec.Labels): the label-based machinery above
 * (survey, reconciliation, the event follower) works on services as it
 * does on containers. The "container id" the registry keeps is Swarm's
 * service id. The mapping:
 *
 *   prepare  the engine backend's (present, built or pulled here); with
 *            --registry then tagged HOST:PORT/<path>:<tag> and pushed, so
 *            that other nodes can pull it
 *   create   POST /services/create with 0 replicas (made, not started);
 *            with --registry its image is HOST:PORT/<path>:<tag>@<digest>,
 *            the digest pushed (from the local image's RepoDigests: every
 *            create, a recreation's or a rollout's too, finds it so);
 *            the instance's directory is a named volume "<service>_data"
 *            (POST /volumes/create, --volume-driver, berth's labels; a
 *            failed launch removes it only if it made it), or a
 *            bind mount of the project directory when the template pins
 *            its instances to nodes (pinned() below)
 *   start    scale to the template's replicas, wait until a task runs (or
 *            fails: a taken host port is ABORTED, reason PORT_IN_USE, as the
 *            engine's start; or stays pending because no node fits: OK,
 *            GetService shows the pending task and Docker's reason)
 *   stop     scale to 0 (the service, its port and volume stay), wait until
 *            no task is active. Each task stops with the StopGracePeriod
 *            of its own spec, copied when Swarm made it (the template's
 *            stop timeout): updating the service's changes no running task
 *            (measured: a 2 s StopGracePeriod set in the scale-to-0 update
 *            still let a 20 s task take 20 s), and setting it before the
 *            scaling would roll every task over first. So a stop timeout
 *            is kept where berthd reaches: when it runs out, this node's
 *            task containers get SIGKILL; other nodes' keep their period
 *   restart  start when scaled to 0, else TaskTemplate.ForceUpdate + 1:
 *            Swarm replaces every task
 *   kill     SIGKILL to the service's task containers on this node
 *   remove   DELETE /services/{id}, wait until its containers here are gone;
 *            the volume stays (purge_storage removes it)
 *   inspect  the service and its tasks as one docker_container record:
 *            "running" when a task runs, "restarting" while Swarm works on
 *            it, "exited" when scaled to 0
 *
 * Threads: every function may run on any worker at once; no state here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/backend.h"
#include "clock.h"
#include "engine/docker_swarm.h"
#include "engine/swarm_policy.h"
#include "base/log.h"

#define LABEL_REPLICAS "berth.replicas"        /* the count a start scales to */
#define LABEL_SWARM_SERVICE "com.docker.swarm.service.id"
#define VOLUME_SUFFIX "_data"
#define POLL_MS 250
#define START_WAIT_MAX_MS 60000  /* then Swarm goes on converging on its own */
/*
 * A task pending "for no suitable node" this long is taken as waiting for
 * a node that fits. Shorter, it may be the scheduler's stale view: right
 * after a stop-first update it still counts the old task's host port.
 */
#define UNSCHEDULABLE_MS 3000
#define STOP_WAIT_MARGIN_MS 15000 /* beyond the stop timeout */
#define GONE_WAIT_MAX_MS 30000
#define MAX_TASKS 32             /* at most this many shown by GetService */

static int64_t
left(int64_t deadline)
{
	return deadline - clock_monotonic_ms();
}

static int
out_of_memory(struct error *err)
{
	return error_set(err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
}

static void
volume_name(const char *service_id, char *out, size_t len)
{
	snprintf(out, len, "%s" VOLUME_SUFFIX, service_id);
}

/*
 * Whether the template's constraints pin its instances to chosen nodes:
 * node.hostname==H, node.id==I or node.labels.K==V. Its instances then keep
 * their directory where the engine backend does, bind-mounted from the
 * node's disk (berthd makes it on its own host; on another node it must
 * exist, or the data directory be shared storage mounted at the same path).
 * Anything else (no constraints, node.role==worker, ...) may run anywhere,
 * so its data lives in a named volume.
 */
static bool
pinned(const Berth__V1__Template *t)
{
	static const char *const keys[] = { "node.hostname", "node.id", "node.labels." };

	for (size_t i = 0; i < t->n_constraints; i++) {
		const char *c = t->constraints[i] + strspn(t->constraints[i], " \t");

		if (strstr(c, "==") == NULL)
			continue;
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
			size_t n = strlen(keys[k]);
			if (strncmp(c, keys[k], n) == 0 &&
			    (keys[k][n - 1] == '.' || c[n] == '=' || c[n] == ' ' || c[n] == '\t'))
				return true;
		}
	}
	return false;
}

/* The template's replicas as the service remembers them (berth.replicas), at least 1. */
static uint64_t
replicas_of(const struct docker_service *svc)
{
	long long n = atoll(svc->label_replicas);

	return n > 0 ? (uint64_t)n : 1;
}

/* --- the operations ------------------------------------------------------------ */

/* The service behind an instance's id (the registry keeps Swarm's service id). */
static int
inspect_service(struct backend *b, const char *id, struct docker_service *svc, int64_t timeout_ms,
    struct error *err)
{
	return docker_counted(docker_service_inspect(b->docker, id, svc, timeout_ms, err));
}

/*
 * The spec of an instance's service and the storage its pointers need:
 * made by instance_spec_make, in place (it points into itself: never
 * copied), freed by instance_spec_free.
 */
struct instance_spec {
	struct docker_service_spec spec;
	struct docker_label labels[6];
	char replicas[16];
	char volume[160];
	char image[600]; /* the image as every node finds it (backend_swarm_service_image) */
	struct backend_env env;
	bool env_made;
	bool volume_made; /* the named volume was made here (create undoes it on failure) */
};

/*
 * The one spec create and update_in_place send: berth's labels, the
 * published port, the mount (a named volume, made when missing, or a bind
 * of the project directory), and the template's image, command, env,
 * limits, health check, restart policy and update policy. replicas 0 (a
 * create makes, a start scales). min_ready_s: UpdateConfig.Monitor without
 * a health check (0: SWARM_MONITOR_MIN_S).
 */
static int
instance_spec_make(struct backend *b, const struct backend_instance *inst, uint32_t min_ready_s,
    struct instance_spec *is, int64_t deadline, struct error *err)
{
	const Berth__V1__Template *t = inst->tmpl;
	const size_t n_own = 5; /* the containers' and the volume's: all but berth.replicas */
	struct swarm_restart_policy restart;
	struct docker_volume existing;
	int code;

	memset(is, 0, sizeof(*is));
	if ((code = backend_swarm_service_image(b, t->image, is->image, sizeof(is->image), left(deadline),
		 err)) != 0)
		return code;
	snprintf(is->replicas, sizeof(is->replicas), "%u", t->replicas > 0 ? t->replicas : 1);
	is->labels[0] = (struct docker_label){ DOCKER_LABEL_MANAGED, "true" };
	is->labels[1] = (struct docker_label){ DOCKER_LABEL_SERVICE, inst->service_id };
	is->labels[2] = (struct docker_label){ DOCKER_LABEL_TEMPLATE, t->name };
	is->labels[3] = (struct docker_label){ DOCKER_LABEL_INSTANCE, inst->instance };
	is->labels[4] = (struct docker_label){ DOCKER_LABEL_DATA_DIR, b->data_dir };
	is->labels[5] = (struct docker_label){ LABEL_REPLICAS, is->replicas };
	swarm_restart_policy(t, inst->restart, &restart);
	is->spec = (struct docker_service_spec){
		.name = inst->service_id,
		.image = is->image,
		.args = (const char *const *)t->command,
		.n_args = t->n_command,
		.labels = is->labels,
		.n_labels = sizeof(is->labels) / sizeof(is->labels[0]),
		.container_labels = is->labels,
		.n_container_labels = n_own,
		.target_port = inst->host_port != 0 ? (uint16_t)t->container_port : 0,
		.published_port = inst->host_port,
		.publish_mode = t->publish_mode[0] != '\0' ? t->publish_mode : "ingress",
		.replicas = 0, /* made, not started: start scales it up */
		.constraints = (const char *const *)t->constraints,
		.n_constraints = t->n_constraints,
		.nano_cpus = (int64_t)(t->cpu_limit * 1e9 + 0.5), /* validated: 0 to 4096 */
		.memory_bytes = (int64_t)t->memory_limit_bytes,
		.stop_grace_ns = (int64_t)(t->stop_timeout_s != 0 ? t->stop_timeout_s : 10) * 1000000000,
		.init = t->init,
		.user = t->user,
		/* Swarm restarts with a fixed Delay: no growing backoff as berthd's supervisor. */
		.restart_condition = restart.condition,
		.restart_max_attempts = restart.max_attempts,
		.restart_window_ns = restart.window_ns,
		.restart_delay_ns = restart.delay_ns,
		.update_monitor_ns = swarm_update_monitor_ns(t, min_ready_s),
	};

	if (t->health != NULL && strcmp(t->health->kind, "exec") == 0) {
		const Berth__V1__HealthCheck *h = t->health;

		is->spec.health_cmd = (const char *const *)h->exec_command;
		is->spec.n_health_cmd = h->n_exec_command;
		is->spec.health_interval_ns = (int64_t)h->interval_s * 1000000000;
		is->spec.health_timeout_ns = (int64_t)h->timeout_s * 1000000000;
		is->spec.health_start_period_ns = (int64_t)h->start_period_s * 1000000000;
		is->spec.health_retries = (int)h->retries;
	}
	if (t->mount_path[0] != '\0' && pinned(t)) {
		is->spec.mount_type = "bind";
		is->spec.mount_source = inst->project_dir;
		is->spec.mount_target = t->mount_path;
	} else if (t->mount_path[0] != '\0') {
		volume_name(inst->service_id, is->volume, sizeof(is->volume));
		code = docker_counted(docker_volume_inspect(b->docker, is->volume, &existing,
		    left(deadline), err));
		if (code == BERTH__V1__CODE__NOT_FOUND) {
			code = docker_counted(docker_volume_create(b->docker, is->volume,
			    b->volume_driver, is->labels, n_own, left(deadline), err));
			is->volume_made = code == 0;
		}
		if (code != 0)
			return code;
		is->spec.mount_type = "volume";
		is->spec.mount_source = is->volume;
		is->spec.mount_target = t->mount_path;
		is->spec.volume_driver = b->volume_driver;
		is->spec.volume_labels = is->labels;
		is->spec.n_volume_labels = n_own;
	}
	if ((code = backend_env_make(&is->env, inst, err)) != 0)
		return code;
	is->env_made = true;
	is->spec.env = is->env.list;
	is->spec.n_env = is->env.n;
	return 0;
}

/* Frees what instance_spec_make made; with `undo`, removes the volume it made too. */
static void
instance_spec_free(struct backend *b, struct instance_spec *is, bool undo)
{
	if (is->env_made)
		backend_env_free(&is->env);
	is->env_made = false;
	if (undo && is->volume_made) {
		struct error ignored;
		docker_volume_remove(b->docker, is->volume, false, 10000, &ignored);
	}
}

static int
swarm_create(struct backend *b, const struct backend_instance *inst, char id[DOCKER_ID_LEN + 1],
    int64_t timeout_ms, struct error *err)
{
	int64_t deadline = clock_monotonic_ms() + timeout_ms;
	struct instance_spec is;
	int code;

	code = instance_spec_make(b, inst, 0, &is, deadline, err);
	if (code == 0)
		code = docker_counted(docker_service_create(b->docker, &is.spec, id, left(deadline),
		    err));
	/*
	 * Only a volume this call made goes on failure: one that existed holds
	 * an earlier instance's data, which the README promises a later launch
	 * finds.
	 */
	if (code == 0 && is.volume_made && inst->storage_made != NULL)
		*inst->storage_made = true;
	instance_spec_free(b, &is, code != 0);
	return code;
}

/*
 * A rollout's update of one instance: the service's whole spec replaced by
 * the one create would make from inst (same labels, port and mount), with
 * UpdateConfig (one task at a time, stop-first, rollback on failure) and
 * Monitor from the new revision's health check. Returns once Swarm took
 * it; swarm_update_state follows it.
 */
static int
swarm_update_in_place(struct backend *b, const char *id, const struct backend_instance *inst,
    uint32_t min_ready_s, int64_t timeout_ms, struct error *err)
{
	int64_t deadline = clock_monotonic_ms() + timeout_ms;
	struct instance_spec is;
	int code;

	code = instance_spec_make(b, inst, min_ready_s, &is, deadline, err);
	if (code == 0) {
		/* Scaled up as the new revision says (replace_spec keeps a stopped one at 0). */
		is.spec.replicas = inst->tmpl->replicas > 0 ? inst->tmpl->replicas : 1;
		code = docker_counted(docker_service_update(b->docker, id, &is.spec, left(deadline),
		    err));
	}
	instance_spec_free(b, &is, false);
	return code;
}

static int
swarm_update_state(struct backend *b, const char *id, struct backend_update *out,
    int64_t timeout_ms, struct error *err)
{
	struct docker_service svc;
	int code;

	memset(out, 0, sizeof(*out));
	if ((code = inspect_service(b, id, &svc, timeout_ms, err)) != 0)
		return code;
	snprintf(out->state, sizeof(out->state), "%s", svc.update_state);
	snprintf(out->message, sizeof(out->message), "%s", svc.update_message);
	snprintf(out->started_at, sizeof(out->started_at), "%s", svc.update_started_at);
	return 0;
}

/* A task that failed: why, with a taken port told apart as the engine's start does. */
static int
task_failed(const struct docker_task *t, struct error *err)
{
	const char *why = t->error[0] != '\0' ? t->error : t->message;

	error_set(err, BERTH__V1__CODE__FAILED_PRECONDITION, "Swarm task %.12s %s: %.400s", t->id,
	    t->state, why);
	if (docker_port_taken(why))
		return docker_fail_port_in_use(err);
	return err->code;
}

/*
 * After a scale-up or a forced update: waits until the service's new tasks
 * (those not in before[0..n_before), the tasks there were before the
 * change) are running (OK), a new one failed while none runs (its error),
 * or none is on its way in or out any more but some wait for a node that
 * fits for UNSCHEDULABLE_MS (OK: Swarm keeps them pending and GetService
 * says why; a task still stopping may be what holds the node's port, so it
 * is waited for). Past
 * START_WAIT_MAX_MS (or the deadline) Swarm is left to converge on its own:
 * OK.
 */
static int
wait_started(struct backend *b, const char *service_id, const struct docker_task *before,
    size_t n_before, int64_t deadline, struct error *err)
{
	int64_t until = clock_monotonic_ms() + START_WAIT_MAX_MS;
	int64_t unschedulable_since = 0;

	if (until > deadline - 1000)
		until = deadline - 1000;
	for (;;) {
		struct docker_task *tasks = NULL, failure = { 0 };
		size_t n = 0, running = 0, converging = 0, unschedulable = 0;
		bool failed = false;
		int code;

		code = docker_counted(docker_task_list(b->docker, service_id, NULL, &tasks, &n,
		    left(deadline), err));
		if (code != 0)
			return code;
		for (size_t i = 0; i < n; i++) {
			const struct docker_task *t = &tasks[i];
			bool is_new = true;

			for (size_t j = 0; j < n_before && is_new; j++)
				is_new = strcmp(before[j].id, t->id) != 0;

			if ((strcmp(t->state, "failed") == 0 || strcmp(t->state, "rejected") == 0) &&
			    is_new) {
				if (!failed || t->updated_s >= failure.updated_s)
					failure = *t;
				failed = true;
			} else if (strcmp(t->desired_state, "running") != 0) {
				/* On its way out, it still holds its node's port: wait for it. */
				if (docker_task_state_active(t->state))
					converging++;
			} else if (strcmp(t->state, "running") == 0) {
				if (is_new)
					running++;
				else
					converging++; /* an old task a forced update is about to replace */
			} else if (strcmp(t->state, "pending") == 0 && t->error[0] != '\0') {
				unschedulable++;
			} else if (docker_task_state_active(t->state)) {
				converging++;
			}
		}
		free(tasks);
		if (running > 0 && converging == 0)
			return 0;
		if (failed && running == 0)
			return task_failed(&failure, err);
		if (unschedulable > 0 && converging == 0 && running == 0) {
			if (unschedulable_since == 0)
				unschedulable_since = clock_monotonic_ms();
			else if (clock_monotonic_ms() - unschedulable_since >= UNSCHEDULABLE_MS)
				return 0;
		} else {
			unschedulable_since = 0;
		}
		if (clock_monotonic_ms() + POLL_MS > until) {
			log_info("swarm service still converging, leaving it to Swarm service=%s "
				 "running=%zu converging=%zu pending=%zu",
			    service_id, running, converging, unschedulable);
			return 0;
		}
		clock_sleep_ms(POLL_MS);
	}
}

/*
 * Waits until no task of the service is active (running or on its way):
 * *stopped; or until `until`, with *stopped false. 0, or Docker's error.
 */
static int
tasks_stopped(struct backend *b, const char *service_id, int64_t until, bool *stopped,
    struct error *err)
{
	*stopped = false;
	for (;;) {
		struct docker_task *tasks = NULL;
		size_t n = 0, active = 0;
		int code;

		code = docker_counted(docker_task_list(b->docker, service_id, NULL, &tasks, &n,
		    left(until), err));
		if (code == BERTH__V1__CODE__DEADLINE_EXCEEDED)
			break;
		if (code != 0)
			return code;
		for (size_t i = 0; i < n; i++)
			if (docker_task_state_active(tasks[i].state))
				active++;
		free(tasks);
		if (active == 0) {
			*stopped = true;
			return 0;
		}
		if (clock_monotonic_ms() + POLL_MS > until)
			break;
		clock_sleep_ms(POLL_MS);
	}
	error_clear(err);
	return 0;
}

/* tasks_stopped, and a task still active at `until` is Swarm's to finish: 0 then too. */
static int
wait_stopped(struct backend *b, const char *service_id, int64_t until, struct error *err)
{
	bool stopped;
	int code;

	if ((code = tasks_stopped(b, service_id, until, &stopped, err)) != 0 || stopped)
		return code;
	log_warn("swarm service scaled to 0 but a task still runs, leaving it to Swarm service=%s",
	    service_id);
	return 0;
}

/*
 * Applies a change (scale or forced update) and waits for its tasks: the
 * tasks from before are noted first, so that the wait can tell the new
 * ones apart without comparing clocks.
 */
static int
change_and_wait(struct backend *b, const char *service_id, bool scale, uint64_t replicas,
    int64_t deadline, struct error *err)
{
	struct docker_task *before = NULL;
	size_t n_before = 0;
	int code;

	code = docker_counted(docker_task_list(b->docker, service_id, NULL, &before, &n_before,
	    left(deadline), err));
	if (code == 0)
		code = docker_counted(scale ?
			docker_service_scale(b->docker, service_id, replicas, left(deadline), err) :
			docker_service_force_update(b->docker, service_id, left(deadline), err));
	if (code == 0)
		code = wait_started(b, service_id, before, n_before, deadline, err);
	free(before);
	return code;
}

static int
swarm_start(struct backend *b, const char *id, int64_t timeout_ms, struct error *err)
{
	int64_t deadline = clock_monotonic_ms() + timeout_ms;
	struct docker_service svc;
	int code;

	if ((code = inspect_service(b, id, &svc, timeout_ms, err)) != 0)
		return code;
	/* Already scaled: every task counts (a failing one is the answer). */
	if (svc.replicated && svc.replicas == replicas_of(&svc))
		return wait_started(b, svc.id, NULL, 0, deadline, err);
	return change_and_wait(b, svc.id, true, replicas_of(&svc), deadline, err);
}

static void kill_local_tasks(struct backend *b, const char *service_id, int64_t timeout_ms);

static int
swarm_stop(struct backend *b, const char *id, int stop_timeout_s, int64_t timeout_ms,
    struct error *err)
{
	int64_t deadline = clock_monotonic_ms() + timeout_ms;
	int64_t grace = clock_monotonic_ms() + (int64_t)(stop_timeout_s > 0 ? stop_timeout_s : 10) * 1000;
	int64_t until = grace + STOP_WAIT_MARGIN_MS;
	struct docker_service svc;
	bool all_stopped = false;
	int code;

	/* Swarm stops each task with its own StopGracePeriod (the top comment says why). */
	if ((code = inspect_service(b, id, &svc, timeout_ms, err)) != 0)
		return code;
	if (svc.replicas != 0 &&
	    (code = docker_counted(docker_service_scale(b->docker, svc.id, 0, left(deadline),
		 err))) != 0)
		return code;
	/* The caller's timeout: then SIGKILL where berthd can, as `docker stop -t` would. */
	if ((code = tasks_stopped(b, svc.id, grace < deadline ? grace : deadline, &all_stopped,
		 err)) != 0 || all_stopped)
		return code;
	kill_local_tasks(b, svc.id, left(deadline));
	return wait_stopped(b, svc.id, until < deadline ? until : deadline, err);
}

static int
swarm_restart(struct backend *b, const char *id, int stop_timeout_s, int64_t timeout_ms,
    struct error *err)
{
	int64_t deadline = clock_monotonic_ms() + timeout_ms;
	struct docker_service svc;
	int code;

	(void)stop_timeout_s; /* the service's StopGracePeriod applies */
	if ((code = inspect_service(b, id, &svc, timeout_ms, err)) != 0)
		return code;
	if (svc.replicas == 0)
		return swarm_start(b, svc.id, left(deadline), err);
	return change_and_wait(b, svc.id, false, 0, deadline, err);
}

/* The service's task containers on this node (any state); *out malloc'ed. */
static int
local_containers(struct backend *b, const char *service_id, struct docker_container **out,
    size_t *n, int64_t timeout_ms, struct error *err)
{
	char label[200];

	snprintf(label, sizeof(label), LABEL_SWARM_SERVICE "=%s", service_id);
	return docker_counted(docker_container_list(b->docker, label, out, n, timeout_ms, err));
}

/* SIGKILL to the service's running task containers on this node; 0, or Docker's error. */
static int
kill_local(struct backend *b, const char *service_id, int64_t timeout_ms, struct error *err)
{
	int64_t deadline = clock_monotonic_ms() + timeout_ms;
	struct docker_container *list = NULL;
	size_t n = 0;
	int code;

	if ((code = local_containers(b, service_id, &list, &n, timeout_ms, err)) != 0)
		return code;
	for (size_t i = 0; i < n; i++) {
		struct error ignored;
		if (strcmp(list[i].state, "running") == 0)
			docker_container_kill(b->docker, list[i].id, left(deadline), &ignored);
	}
	free(list);
	return 0;
}

/* A stop's timeout ran out: kill_local, and a failure only logged (Swarm goes on). */
static void
kill_local_tasks(struct backend *b, const char *service_id, int64_t timeout_ms)
{
	struct error err = { 0 };

	if (kill_local(b, service_id, timeout_ms, &err) != 0)
		log_warn("stop timeout ran out and this node's tasks could not be killed "
			 "service=%s error=\"%s\"", service_id, err.message);
}

static int
swarm_kill(struct backend *b, const char *id, int64_t timeout_ms, struct error *err)
{
	int64_t deadline = clock_monotonic_ms() + timeout_ms;
	struct docker_service svc;
	int code;

	/* Only this node's containers are in reach: elsewhere the stop runs its course. */
	if ((code = inspect_service(b, id, &svc, timeout_ms, err)) != 0)
		return code;
	return kill_local(b, svc.id, left(deadline), err);
}

static int
swarm_remove(struct backend *b, const char *id, int64_t timeout_ms, struct error *err)
{
	int64_t deadline = clock_monotonic_ms() + timeout_ms;
	int64_t until = clock_monotonic_ms() + GONE_WAIT_MAX_MS;
	struct docker_service svc;
	int code;

	if ((code = inspect_service(b, id, &svc, timeout_ms, err)) != 0)
		return code;
	if ((code = docker_counted(docker_service_remove(b->docker, svc.id, left(deadline),
		 err))) != 0)
		return code;
	/*
	 * Swarm removes the task containers after the service: wait for those
	 * on this node, so that their volume is free (a purge removes it next).
	 */
	if (until > deadline)
		until = deadline;
	while (clock_monotonic_ms() < until) {
		struct docker_container *list = NULL;
		struct error ignored;
		size_t n = 0;

		if (local_containers(b, svc.id, &list, &n, left(until), &ignored) != 0)
			break;
		free(list);
		if (n == 0)
			break;
		clock_sleep_ms(POLL_MS);
	}
	return 0;
}

/* One service and its tasks as one record, in the engine's words (see the top). */
static void
record_of(const struct docker_service *svc, const struct docker_task *tasks, size_t n,
    struct docker_container *c)
{
	const struct docker_task *runs = NULL, *last = NULL;

	memset(c, 0, sizeof(*c));
	snprintf(c->id, sizeof(c->id), "%s", svc->id);
	snprintf(c->name, sizeof(c->name), "%s", svc->name);
	snprintf(c->label_service, sizeof(c->label_service), "%s", svc->label_service);
	snprintf(c->label_template, sizeof(c->label_template), "%s", svc->label_template);
	snprintf(c->label_instance, sizeof(c->label_instance), "%s", svc->label_instance);
	snprintf(c->label_data_dir, sizeof(c->label_data_dir), "%s", svc->label_data_dir);
	snprintf(c->volume, sizeof(c->volume), "%s", svc->volume);
	memcpy(c->ports, svc->ports, sizeof(c->ports));
	c->n_ports = svc->n_ports;
	for (size_t i = 0; i < n; i++) {
		const struct docker_task *t = &tasks[i];

		if (strcmp(t->service_id, svc->id) != 0)
			continue;
		if (strcmp(t->state, "running") == 0 && strcmp(t->desired_state, "running") == 0 &&
		    (runs == NULL || t->updated_s > runs->updated_s))
			runs = t;
		else if (!docker_task_state_active(t->state) &&
		    (last == NULL || t->updated_s > last->updated_s))
			last = t;
	}
	if (!svc->replicated || svc->replicas == 0)
		snprintf(c->state, sizeof(c->state), "exited");
	else if (runs != NULL)
		snprintf(c->state, sizeof(c->state), "running");
	else
		snprintf(c->state, sizeof(c->state), "restarting");
	if (runs != NULL)
		snprintf(c->started_at, sizeof(c->started_at), "%s", runs->updated_at);
	if (last != NULL) {
		snprintf(c->finished_at, sizeof(c->finished_at), "%s", last->updated_at);
		if (runs == NULL)
			c->exit_code = last->exit_code;
	}
}

static int
swarm_inspect(struct backend *b, const char *id, struct docker_container *out, int64_t timeout_ms,
    struct error *err)
{
	int64_t deadline = clock_monotonic_ms() + timeout_ms;
	struct docker_task *tasks = NULL;
	struct docker_service svc;
	size_t n = 0;
	int code;

	memset(out, 0, sizeof(*out));
	if ((code = inspect_service(b, id, &svc, timeout_ms, err)) != 0)
		return code;
	if ((code = docker_counted(docker_task_list(b->docker, svc.id, NULL, &tasks, &n,
		 left(deadline), err))) != 0)
		return code;
	record_of(&svc, tasks, n, out);
	free(tasks);
	return 0;
}

/* Services (filtered by label when not NULL) as records; with their tasks when `with_tasks`. */
static int
list_services(struct backend *b, const char *label, bool with_tasks,
    struct docker_container **out, size_t *n, int64_t timeout_ms, struct error *err)
{
	int64_t deadline = clock_monotonic_ms() + timeout_ms;
	struct docker_service *services = NULL;
	struct docker_task *tasks = NULL;
	size_t n_services = 0, n_tasks = 0;
	int code;

	*out = NULL;
	*n = 0;
	code = docker_counted(docker_service_list(b->docker, label, &services, &n_services,
	    timeout_ms, err));
	if (code != 0)
		return code;
	if (with_tasks && n_services > 0)
		code = docker_counted(docker_task_list(b->docker, NULL, "running", &tasks, &n_tasks,
		    left(deadline), err));
	if (code == 0 && n_services > 0 && (*out = calloc(n_services, sizeof(**out))) == NULL)
		code = out_of_memory(err);
	for (size_t i = 0; code == 0 && i < n_services; i++)
		record_of(&services[i], tasks, n_tasks, &(*out)[(*n)++]);
	free(services);
	free(tasks);
	return code;
}

static int
swarm_list_own(struct backend *b, struct docker_container **out, size_t *n, int64_t timeout_ms,
    struct error *err)
{
	char label[600];

	/* Only this berthd's services: another berthd on the cluster has its own. */
	snprintf(label, sizeof(label), "%s=%s", DOCKER_LABEL_DATA_DIR, b->data_dir);
	return list_services(b, label, true, out, n, timeout_ms, err);
}

/* Every service of the cluster with its published ports: the allocator's Docker side. */
static int
swarm_list_all(struct backend *b, struct docker_container **out, size_t *n, int64_t timeout_ms,
    struct error *err)
{
	return list_services(b, NULL, false, out, n, timeout_ms, err);
}

static int
swarm_logs(struct backend *b, const char *id, unsigned tail, char **out, int64_t timeout_ms,
    struct error *err)
{
	return docker_counted(docker_service_logs(b->docker, id, tail, out, timeout_ms, err));
}

/*
 * The service's log as Docker merges its tasks' logs: the same stamps, so
 * since and cursors work; entries of tasks that overlap in time arrive in
 * the order the manager merges them.
 */
static int
swarm_log_entries(struct backend *b, const char *id, const struct docker_logs_query *q,
    docker_log_fn fn, void *arg, int64_t timeout_ms, struct error *err)
{
	return docker_counted(docker_logs_each(b->docker, "services", id, q, fn, arg, timeout_ms,
	    err));
}

/* In the container of a running task on this node (another node's Docker is out of reach). */
static int
swarm_exec_output(struct backend *b, const char *id, char *const *argv, size_t argc,
    size_t max_bytes, struct docker_exec_output *out, int64_t timeout_ms, struct error *err)
{
	int64_t deadline = clock_monotonic_ms() + timeout_ms;
	struct docker_task *tasks = NULL;
	size_t n = 0;
	int code;

	memset(out, 0, sizeof(*out));
	code = docker_counted(docker_task_list(b->docker, id, "running", &tasks, &n, timeout_ms,
	    err));
	for (size_t i = 0; code == 0 && i < n; i++) {
		if (strcmp(tasks[i].state, "running") != 0 || tasks[i].container_id[0] == '\0')
			continue;
		code = docker_counted(docker_container_exec_output(b->docker,
		    tasks[i].container_id, argv, argc, max_bytes, out, left(deadline), err));
		if (code != BERTH__V1__CODE__NOT_FOUND) {
			free(tasks);
			return code;
		}
		code = 0; /* that task's container is on another node: try the next */
	}
	free(tasks);
	if (code != 0)
		return code;
	return error_set(err, BERTH__V1__CODE__FAILED_PRECONDITION,
	    "no task of service %s runs on this node", id);
}

/* Resource use of a running task whose container is on this node. */
static int
swarm_stats(struct backend *b, const char *id, struct docker_stats *out, int64_t timeout_ms,
    struct error *err)
{
	int64_t deadline = clock_monotonic_ms() + timeout_ms;
	struct docker_task *tasks = NULL;
	size_t n = 0;
	int code;

	memset(out, 0, sizeof(*out));
	code = docker_counted(docker_task_list(b->docker, id, "running", &tasks, &n, timeout_ms,
	    err));
	for (size_t i = 0; code == 0 && i < n; i++) {
		if (strcmp(tasks[i].state, "running") != 0 || tasks[i].container_id[0] == '\0')
			continue;
		if (docker_container_stats(b->docker, tasks[i].container_id, out, left(deadline), err) ==
		    0) {
			free(tasks);
			return 0;
		}
	}
	free(tasks);
	if (code != 0)
		return code;
	return error_set(err, BERTH__V1__CODE__FAILED_PRECONDITION,
	    "no task of service %s runs on this node", id);
}

/* Desired-running first, then the most recently changed. */
static int
task_order(const void *a, const void *b)
{
	const struct docker_task *x = a, *y = b;
	int xr = strcmp(x->desired_state, "running") == 0, yr = strcmp(y->desired_state, "running") == 0;

	if (xr != yr)
		return yr - xr;
	if (x->updated_s != y->updated_s)
		return x->updated_s < y->updated_s ? 1 : -1;
	return x->slot - y->slot;
}

static int
swarm_tasks(struct backend *b, const char *id, struct backend_task **out, size_t *n,
    int64_t timeout_ms, struct error *err)
{
	int64_t deadline = clock_monotonic_ms() + timeout_ms;
	struct docker_task *tasks = NULL;
	struct docker_node *nodes = NULL;
	size_t n_tasks = 0, n_nodes = 0;
	struct error ignored;
	int code;

	*out = NULL;
	*n = 0;
	if ((code = docker_counted(docker_task_list(b->docker, id, NULL, &tasks, &n_tasks,
	    timeout_ms,
		 err))) != 0)
		return code;
	if (n_tasks == 0)
		return 0;
	/* Node names are a nicety: without them the ids still say where. */
	docker_node_list(b->docker, &nodes, &n_nodes, left(deadline), &ignored);
	qsort(tasks, n_tasks, sizeof(*tasks), task_order);
	if (n_tasks > MAX_TASKS)
		n_tasks = MAX_TASKS;
	if ((*out = calloc(n_tasks, sizeof(**out))) == NULL) {
		free(tasks);
		free(nodes);
		return out_of_memory(err);
	}
	for (size_t i = 0; i < n_tasks; i++) {
		const struct docker_task *t = &tasks[i];
		struct backend_task *bt = &(*out)[i];

		snprintf(bt->id, sizeof(bt->id), "%s", t->id);
		snprintf(bt->node_id, sizeof(bt->node_id), "%s", t->node_id);
		for (size_t j = 0; j < n_nodes; j++)
			if (t->node_id[0] != '\0' && strcmp(nodes[j].id, t->node_id) == 0)
				snprintf(bt->node, sizeof(bt->node), "%s", nodes[j].hostname);
		snprintf(bt->state, sizeof(bt->state), "%s", t->state);
		snprintf(bt->desired_state, sizeof(bt->desired_state), "%s", t->desired_state);
		snprintf(bt->message, sizeof(bt->message), "%s", t->message);
		snprintf(bt->error, sizeof(bt->error), "%s", t->error);
		snprintf(bt->updated_at, sizeof(bt->updated_at), "%s", t->updated_at);
		snprintf(bt->container_id, sizeof(bt->container_id), "%s", t->container_id);
	}
	*n = n_tasks;
	free(tasks);
	free(nodes);
	return 0;
}

static int
swarm_purge_storage(struct backend *b, const char *service_id, int64_t timeout_ms,
    struct error *err)
{
	char volume[160];

	/* On this node; a local volume Swarm made on another node stays there. */
	volume_name(service_id, volume, sizeof(volume));
	return docker_counted(docker_volume_remove(b->docker, volume, false, timeout_ms, err));
}

static const char *const swarm_event_types[] = { "container", "service", NULL };

const struct backend_ops backend_swarm_ops = {
	.name = "swarm",
	.prepare_image = backend_swarm_prepare_image,
	.create = swarm_create,
	.start = swarm_start,
	.stop = swarm_stop,
	.restart = swarm_restart,
	.kill = swarm_kill,
	.remove = swarm_remove,
	.inspect = swarm_inspect,
	.list_own = swarm_list_own,
	.list_all = swarm_list_all,
	.logs = swarm_logs,
	.log_entries = swarm_log_entries,
	.stats = swarm_stats,
	.exec_output = swarm_exec_output,
	.tasks = swarm_tasks,
	.nodes = backend_swarm_nodes,
	.node_set_availability = backend_swarm_node_set_availability,
	.purge_storage = swarm_purge_storage,
	.update_in_place = swarm_update_in_place,
	.update_state = swarm_update_state,
	.rebuild = backend_swarm_rebuild,
	.event_types = swarm_event_types,
	.ports_on_this_host = false,
};

int
backend_swarm_check(struct backend *b)
{
	struct docker_swarm_state st;
	struct error err;

	if (docker_ping(b->docker, 5000, &err) == 0 && docker_is_podman(b->docker)) {
		log_error("start-up failed error=\"--backend swarm needs Docker Engine in swarm mode; "
			  "the engine at the Docker host is %s, which has no Swarm\"",
		    docker_engine(b->docker));
		return -1;
	}
	if (docker_swarm_state(b->docker, &st, 5000, &err) != 0) {
		log_warn("cannot ask Docker whether it is a Swarm manager error=\"%s\"", err.message);
		return 0;
	}
	if (strcmp(st.local_node_state, "active") != 0 || !st.manager)
		log_warn("--backend swarm needs a Swarm manager, Docker is not one (swarm=%s manager=%d): "
			 "launches will fail until it is (docker swarm init, or point --docker-host at "
			 "a manager)",
		    st.local_node_state[0] ? st.local_node_state : "unknown", (int)st.manager);
	else
		log_info("swarm backend node=%s host=%s volume_driver=%s", st.node_id, st.hostname,
		    b->volume_driver != NULL && b->volume_driver[0] ? b->volume_driver : "local");
	return 0;
}
