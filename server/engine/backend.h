/*
 * backend.h - the one interface between berth's lifecycle logic and the
 * thing that runs containers.
 *
 * lifecycle.c decides what should happen (which port, which row state,
 * what to undo); a backend makes it so. The engine backend
 * (backend_engine.c) runs each instance as one container on one Docker
 * engine; the swarm backend (backend_swarm.c) runs the same instances as
 * Swarm services without lifecycle.c changing. Where the two differ in
 * kind (tasks, volumes, where ports bind), an optional member says so and
 * callers ask it rather than which backend runs.
 *
 * Every operation takes the time it may use and returns a berth status
 * code with details in *err (see docker.h for the codes). Thread-safe.
 */
#ifndef BERTH_BACKEND_H
#define BERTH_BACKEND_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "berth/v1/berth.pb-c.h"
#include "engine/docker.h"

/* Everything a backend needs to run one instance. */
struct backend_instance {
	const Berth__V1__Template *tmpl;
	const char *service_id;  /* also the container's name */
	const char *instance;
	const char *project_dir; /* mounted at tmpl->mount_path when that is set */
	uint16_t host_port;
	/*
	 * The template's secrets with their real values, "KEY=VALUE" (tmpl's
	 * own secret_env only says "KEY=***" and is ignored): the core reads
	 * them from the store for the container and nothing else. Owned by
	 * the caller; never logged.
	 */
	char *const *secret_env;
	size_t n_secret_env;
	/*
	 * Optional out (NULL: not asked). create sets *storage_made to true
	 * when it made the instance's storage (swarm: its named volume), and
	 * leaves it alone when that existed already (an earlier instance of the
	 * same name left it): a failed launch purges only what it made.
	 */
	bool *storage_made;
	/* The launch's restart policy ("no", "on-failure", "always"); NULL or "": the template's */
	const char *restart;
};

struct backend;

/* One Swarm task of an instance, as GetService shows it (Service.tasks). */
struct backend_task {
	char id[DOCKER_ID_LEN + 1];
	char node_id[DOCKER_ID_LEN + 1];
	char node[128];            /* the node's host name, or "" */
	char state[16];
	char desired_state[16];
	char message[256];
	char error[512];
	char updated_at[40];
	char container_id[DOCKER_ID_LEN + 1];
};

/* One node of the cluster, as ListNodes shows it (swarm only). */
struct backend_node {
	char id[DOCKER_ID_LEN + 1];
	char hostname[128];
	char address[64];
	char role[16];            /* manager, worker */
	char availability[16];    /* active, pause, drain */
	char state[16];           /* ready, down, unknown, disconnected */
	char manager_status[16];  /* leader, reachable, unreachable; "" for workers */
	unsigned tasks;           /* tasks desired running and active on it */
	bool self;                /* berthd's own engine */
};

/* Where a backend's own in-place update of an instance is (update_state). */
struct backend_update {
	/*
	 * Swarm's UpdateStatus.State: "updating", "completed", "paused",
	 * "rollback_started", "rollback_completed", "rollback_paused"; ""
	 * when there is none (not begun yet, or the update changed no task).
	 */
	char state[24];
	char message[256];   /* Swarm's UpdateStatus.Message */
	char started_at[40]; /* UpdateStatus.StartedAt, RFC 3339 */
};

struct backend_ops {
	const char *name;
	/* Makes the template's image available: present, built, or pulled. */
	int (*prepare_image)(struct backend *b, const Berth__V1__Template *t, int64_t timeout_ms,
	    struct error *err);
	/* Creates the instance, labelled as this berthd's, without starting it. */
	int (*create)(struct backend *b, const struct backend_instance *inst,
	    char id[DOCKER_ID_LEN + 1], int64_t timeout_ms, struct error *err);
	int (*start)(struct backend *b, const char *id, int64_t timeout_ms, struct error *err);
	int (*stop)(struct backend *b, const char *id, int stop_timeout_s, int64_t timeout_ms,
	    struct error *err);
	int (*restart)(struct backend *b, const char *id, int stop_timeout_s, int64_t timeout_ms,
	    struct error *err);
	/* Kills the instance at once (SIGKILL). */
	int (*kill)(struct backend *b, const char *id, int64_t timeout_ms, struct error *err);
	/* Removes the instance (forcefully: a running one is killed). */
	int (*remove)(struct backend *b, const char *id, int64_t timeout_ms, struct error *err);
	/* Live state; NOT_FOUND when the instance no longer exists. */
	int (*inspect)(struct backend *b, const char *id, struct docker_container *out,
	    int64_t timeout_ms, struct error *err);
	/* Every instance labelled as this berthd's; *out malloc'ed. */
	int (*list_own)(struct backend *b, struct docker_container **out, size_t *n,
	    int64_t timeout_ms, struct error *err);
	/* Every container on the engine, berth's or not, with its published ports; *out malloc'ed. */
	int (*list_all)(struct backend *b, struct docker_container **out, size_t *n,
	    int64_t timeout_ms, struct error *err);
	int (*logs)(struct backend *b, const char *id, unsigned tail, char **out, int64_t timeout_ms,
	    struct error *err);
	/*
	 * The entries of the instance's log that q selects, one by one to fn,
	 * with Docker's timestamps (GetServiceLogs: since, cursor, follow).
	 */
	int (*log_entries)(struct backend *b, const char *id, const struct docker_logs_query *q,
	    docker_log_fn fn, void *arg, int64_t timeout_ms, struct error *err);
	int (*stats)(struct backend *b, const char *id, struct docker_stats *out, int64_t timeout_ms,
	    struct error *err);
	/* Runs argv in the running instance, its exit code (exec health probes); NULL: cannot. */
	int (*exec)(struct backend *b, const char *id, char *const *argv, size_t argc,
	    int64_t timeout_ms, int *exit_code, struct error *err);
	/* Runs argv in the running instance with its output (ExecService); NULL: cannot. */
	int (*exec_output)(struct backend *b, const char *id, char *const *argv, size_t argc,
	    size_t max_bytes, struct docker_exec_output *out, int64_t timeout_ms,
	    struct error *err);

	/*
	 * Optional (NULL: the backend has no such thing). The tasks of an
	 * instance, desired-running first, newest first; *out malloc'ed.
	 */
	int (*tasks)(struct backend *b, const char *id, struct backend_task **out, size_t *n,
	    int64_t timeout_ms, struct error *err);
	/*
	 * Optional. Deletes what holds an instance's data apart from its project
	 * directory (swarm: its named volume), for a removal with purge; NOT_FOUND
	 * when there is none.
	 */
	int (*purge_storage)(struct backend *b, const char *service_id, int64_t timeout_ms,
	    struct error *err);
	/*
	 * Optional (NULL: the backend cannot; its rollouts use
	 * update_in_place). Renames an instance's container (a rollout's
	 * "<service_id>.old").
	 */
	int (*rename)(struct backend *b, const char *id, const char *new_name, int64_t timeout_ms,
	    struct error *err);
	/*
	 * Optional (NULL: rollouts swap containers with rename). Updates
	 * instance `id` in place to inst (its new revision), the backend
	 * rolling its tasks over, and back when a new one fails (swarm: the
	 * service's update with UpdateConfig). min_ready_s: how long a new task
	 * without a health check must run. Returns once the update is taken;
	 * update_state follows it.
	 */
	int (*update_in_place)(struct backend *b, const char *id,
	    const struct backend_instance *inst, uint32_t min_ready_s, int64_t timeout_ms,
	    struct error *err);
	/* With update_in_place: where the instance's last update is. */
	int (*update_state)(struct backend *b, const char *id, struct backend_update *out,
	    int64_t timeout_ms, struct error *err);
	/*
	 * Optional. Builds the template's image again from its build_context
	 * (whether or not it is present), with build arguments ("KEY=VALUE")
	 * and no cache: a rollout's --rebuild. image_id: what the tag names now;
	 * "" from a backend whose instances record no image ID (swarm) when the
	 * tag names the same image as before the build (then no new revision).
	 */
	int (*rebuild)(struct backend *b, const Berth__V1__Template *t, char *const *build_args,
	    size_t n_build_args, bool no_cache, char image_id[80], int64_t timeout_ms,
	    struct error *err);
	/*
	 * Optional (NULL: the backend has no nodes: the engine backend). The
	 * cluster's nodes in Docker's order; *out malloc'ed (caller frees).
	 */
	int (*nodes)(struct backend *b, struct backend_node **out, size_t *n, int64_t timeout_ms,
	    struct error *err);
	/*
	 * Optional, with nodes. Sets a node's availability (active, pause,
	 * drain) by its full id; NOT_FOUND when the node is gone.
	 */
	int (*node_set_availability)(struct backend *b, const char *id, const char *availability,
	    int64_t timeout_ms, struct error *err);
	/*
	 * The Docker event types that tell about instances (NULL-terminated),
	 * followed by backend_follow_events; NULL means containers only.
	 */
	const char *const *event_types;
	/*
	 * Published ports bind on berthd's own host, so the port allocator
	 * also tries bind(2) on a candidate. False when they bind elsewhere
	 * (swarm: on other nodes, or in the routing mesh).
	 */
	bool ports_on_this_host;
};

struct backend {
	const struct backend_ops *ops;
	struct docker *docker;
	const char *data_dir;        /* labels containers as this berthd's */
	const char *publish_address; /* host address ports are published on */
	const char *build_root;      /* builds only from contexts under it (build_root.h) */
	const char *volume_driver;   /* swarm: driver of the instances' named volumes */
	const char *registry;        /* swarm: HOST:PORT images are pushed to; NULL or "": none */
};

/* The engine backend: one container per instance on one Docker engine. */
extern const struct backend_ops backend_engine_ops;

/*
 * The swarm backend: each instance a Swarm service (backend_swarm.c),
 * through the Engine API of a Swarm manager.
 */
extern const struct backend_ops backend_swarm_ops;

/*
 * The swarm backend's images (backend_swarm_image.c): prepare_image, which
 * with --registry also pushes, the reference a service runs (the image, or
 * with --registry its name there pinned to the digest pushed), and a
 * rollout's rebuild (only with --registry).
 */
int backend_swarm_prepare_image(struct backend *b, const Berth__V1__Template *t,
    int64_t timeout_ms, struct error *err);
int backend_swarm_service_image(struct backend *b, const char *image, char *out, size_t len,
    int64_t timeout_ms, struct error *err);
int backend_swarm_rebuild(struct backend *b, const Berth__V1__Template *t, char *const *build_args,
    size_t n_build_args, bool no_cache, char image_id[80], int64_t timeout_ms, struct error *err);

/*
 * Logs whether the engine of b is a Swarm manager, as the swarm backend
 * needs (main thread, at start-up; berthd serves either way: Docker may
 * become a manager later). Returns -1 only when the engine is Podman,
 * which has no Swarm: start-up fails with that reason.
 */
int backend_swarm_check(struct backend *b);

/* The swarm backend's nodes and node_set_availability (backend_swarm_nodes.c). */
int backend_swarm_nodes(struct backend *b, struct backend_node **out, size_t *n,
    int64_t timeout_ms, struct error *err);
int backend_swarm_node_set_availability(struct backend *b, const char *id,
    const char *availability, int64_t timeout_ms, struct error *err);

/* --- what the server asks of whichever backend runs (backend.c) ------------ */

/* Whether Docker answers (GET /_ping, and the API version once). Not counted. */
int backend_ping(struct backend *b, int64_t timeout_ms, struct error *err);

/*
 * Whether the engine has the image `ref` (a reference or an ID,
 * "sha256:..."): *exists, with 0; a missing image is no error. For the
 * swarm backend this is the manager's engine only.
 */
int backend_image_present(struct backend *b, const char *ref, bool *exists, int64_t timeout_ms,
    struct error *err);

/* The negotiated Engine API version ("1.41"), or "" before Docker first answered. */
const char *backend_api_version(struct backend *b);

/* The engine and its version ("docker 20.10.24", "podman 4.3.1"), or "". */
const char *backend_engine(struct backend *b);

/*
 * Follows Docker's events of the kinds that tell about this backend's
 * instances (ops->event_types), calling h on the calling thread until
 * *stop, a handler's non-zero or the stream's end: docker_events_follow's
 * rules. Blocks.
 */
int backend_follow_events(struct backend *b, const struct docker_events_handler *h,
    atomic_bool *stop, struct error *err);

/* --- for the backends ---------------------------------------------------------- */

/* BERTH_SERVICE, BERTH_INSTANCE and BERTH_PORT: what every instance is told about itself. */
#define BACKEND_IDENTITY_ENV 3

/*
 * The environment of an instance: its identity, then the template's own
 * entries (which so win over ours), then its secrets (inst->secret_env). list points into the struct itself,
 * into inst and into its template: all must outlive it, and it must not be
 * copied. Free with backend_env_free.
 */
struct backend_env {
	const char **list; /* malloc'ed */
	size_t n;
	char service[160];
	char instance[96];
	char port[32];
};

/* 0, or RESOURCE_EXHAUSTED (out of memory). */
int backend_env_make(struct backend_env *env, const struct backend_instance *inst,
    struct error *err);
void backend_env_free(struct backend_env *env);

#endif
