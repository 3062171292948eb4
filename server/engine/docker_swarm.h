/*
 * docker_swarm.h - the Swarm part of the Docker Engine API: services, their
 * tasks, the nodes, named volumes, and the swarm itself (state; init and
 * leave, which only the tests use). docker_services.c and docker_swarm.c.
 *
 * Every request goes through docker_request (docker_http.c): the same
 * negotiated API version, deadlines, status codes and err conventions as
 * docker.h describes. Additionally: a service or volume name that Swarm
 * would refuse is INVALID_ARGUMENT; a published port another service holds
 * is ABORTED with err->reason DOCKER_REASON_PORT_IN_USE. Calls on an engine
 * that is not a Swarm manager answer UNAVAILABLE (Docker's 503) with
 * Docker's message.
 *
 * Thread-safe; nothing here knows about templates or the registry (that is
 * backend_swarm.c).
 */
#ifndef BERTH_DOCKER_SWARM_H
#define BERTH_DOCKER_SWARM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/docker.h"

/* --- services --------------------------------------------------------------- */

struct docker_service_spec {
	const char *name;                   /* at most 63 of [A-Za-z0-9_-] */
	const char *image;
	const char *const *env;             /* "KEY=VALUE" */
	size_t n_env;
	const char *const *args;            /* replace the image's CMD; empty: keep it */
	size_t n_args;
	const struct docker_label *labels;  /* on the service */
	size_t n_labels;
	const struct docker_label *container_labels; /* on every task's container */
	size_t n_container_labels;
	uint16_t target_port;               /* tcp port inside the container; 0: none published */
	uint16_t published_port;
	const char *publish_mode;           /* "ingress" or "host" */
	uint64_t replicas;                  /* Mode.Replicated.Replicas */
	const char *const *constraints;     /* Placement.Constraints */
	size_t n_constraints;
	const char *mount_type;             /* "volume", "bind", or NULL for no mount */
	const char *mount_source;           /* volume name or host path */
	const char *mount_target;           /* absolute path in the container */
	const char *volume_driver;          /* "volume": driver that makes it on other nodes */
	const struct docker_label *volume_labels; /* "volume": labels it gets there */
	size_t n_volume_labels;
	int64_t nano_cpus;                  /* Resources.Limits; 0: none */
	int64_t memory_bytes;
	int64_t stop_grace_ns;              /* StopGracePeriod; 0: Docker's 10 s */
	bool init;                          /* ContainerSpec.Init: docker-init as PID 1 */
	const char *user;                   /* ContainerSpec.User; NULL or "": the image's */
	/* An exec health check as the tasks' Docker Healthcheck ("CMD" + argv); none when 0 */
	const char *const *health_cmd;
	size_t n_health_cmd;
	int64_t health_interval_ns, health_timeout_ns, health_start_period_ns;
	int health_retries;
	/* TaskTemplate.RestartPolicy; none when restart_condition is NULL */
	const char *restart_condition;      /* "none", "on-failure" or "any" */
	uint64_t restart_max_attempts;
	int64_t restart_window_ns, restart_delay_ns;
	/*
	 * UpdateConfig and RollbackConfig (one task at a time, stop-first,
	 * FailureAction rollback, MaxFailureRatio 0) with this Monitor; none
	 * when 0.
	 */
	int64_t update_monitor_ns;
};

/* POST /services/create; writes Swarm's service id into id. */
int docker_service_create(struct docker *d, const struct docker_service_spec *spec,
    char id[DOCKER_ID_LEN + 1], int64_t timeout_ms, struct error *err);

/* What GET /services and /services/{id} tell about one service. */
struct docker_service {
	char id[DOCKER_ID_LEN + 1];
	char name[128];
	/* berth's labels on the service, "" when absent */
	char label_service[128];
	char label_template[64];
	char label_instance[64];
	char label_data_dir[512];
	char label_replicas[16];          /* berth.replicas: the count a start scales to */
	bool replicated;                  /* Mode.Replicated (not global) */
	uint64_t replicas;                /* desired, when replicated */
	uint16_t ports[DOCKER_MAX_PORTS]; /* published ports */
	size_t n_ports;
	char volume[160];                 /* Source of its first volume mount, or "" */
	char updated_at[40];
	/* UpdateStatus: "" when none (never updated, or an update changed no task) */
	char update_state[24];            /* updating, completed, paused, rollback_completed, ... */
	char update_message[256];
	char update_started_at[40];
};

/* GET /services/{ref} (id or name); NOT_FOUND when it does not exist. */
int docker_service_inspect(struct docker *d, const char *ref, struct docker_service *out,
    int64_t timeout_ms, struct error *err);

/*
 * GET /services, filtered by `label` ("key=value") when not NULL. *out is
 * malloc'ed (caller frees), *n its length.
 */
int docker_service_list(struct docker *d, const char *label, struct docker_service **out,
    size_t *n, int64_t timeout_ms, struct error *err);

/*
 * Sets Mode.Replicated.Replicas (POST /services/{id}/update with the
 * service's current version; retried when another update came between).
 * FAILED_PRECONDITION for a global service.
 */
int docker_service_scale(struct docker *d, const char *ref, uint64_t replicas,
    int64_t timeout_ms, struct error *err);

/*
 * Replaces the service's spec by `spec` (POST /services/{id}/update with
 * the version it read; retried when another update came between): Swarm
 * then rolls its tasks over as spec's UpdateConfig says. The replica count
 * stays 0 when the service is scaled to 0. Follow with
 * docker_service_inspect's update_state.
 */
int docker_service_update(struct docker *d, const char *ref,
    const struct docker_service_spec *spec, int64_t timeout_ms, struct error *err);

/* Increments TaskTemplate.ForceUpdate: Swarm replaces every task. */
int docker_service_force_update(struct docker *d, const char *ref, int64_t timeout_ms,
    struct error *err);

/* DELETE /services/{ref}; NOT_FOUND when it does not exist. */
int docker_service_remove(struct docker *d, const char *ref, int64_t timeout_ms,
    struct error *err);

/*
 * GET /services/{ref}/logs?stdout=1&stderr=1&tail=N (0: all), demultiplexed,
 * from every task. *out malloc'ed, NUL-terminated text (caller frees).
 */
int docker_service_logs(struct docker *d, const char *ref, unsigned tail, char **out,
    int64_t timeout_ms, struct error *err);

/* --- tasks and nodes ---------------------------------------------------------- */

struct docker_task {
	char id[DOCKER_ID_LEN + 1];
	char service_id[DOCKER_ID_LEN + 1];
	char node_id[DOCKER_ID_LEN + 1];  /* "" while not scheduled */
	int slot;
	char state[16];                   /* Status.State: new, pending, ..., running, failed */
	char desired_state[16];
	char message[256];                /* Status.Message */
	char error[512];                  /* Status.Err */
	char container_id[DOCKER_ID_LEN + 1];
	int exit_code;                    /* Status.ContainerStatus.ExitCode */
	char updated_at[40];              /* Status.Timestamp, RFC 3339 */
	int64_t updated_s;                /* the same in seconds since the epoch (0: unknown) */
};

/*
 * GET /tasks filtered by service (id or name; NULL: all services) and by
 * desired state (NULL: any). *out malloc'ed (caller frees).
 */
int docker_task_list(struct docker *d, const char *service, const char *desired_state,
    struct docker_task **out, size_t *n, int64_t timeout_ms, struct error *err);

/* Whether a task state is one a task passes through on its way to running, or running. */
bool docker_task_state_active(const char *state);

struct docker_node {
	char id[DOCKER_ID_LEN + 1];
	char hostname[128];
	char state[16];         /* ready, down, unknown, disconnected */
	char availability[16];  /* active, pause, drain */
	char role[16];          /* manager, worker */
	char address[64];       /* Status.Addr */
	char manager_status[16]; /* leader, reachable, unreachable; "" for workers */
	uint64_t version;       /* Version.Index: what an update must name */
};

/* GET /nodes. *out malloc'ed (caller frees). */
int docker_node_list(struct docker *d, struct docker_node **out, size_t *n, int64_t timeout_ms,
    struct error *err);

/* GET /nodes/{ref} (id or host name); NOT_FOUND when Swarm knows no such node. */
int docker_node_inspect(struct docker *d, const char *ref, struct docker_node *out,
    int64_t timeout_ms, struct error *err);

/* Whether availability is one Swarm takes: active, pause or drain. */
bool docker_node_availability_valid(const char *availability);

/*
 * Sets Spec.Availability (POST /nodes/{id}/update with the node's current
 * Spec and version; retried when another update came between). ref: the
 * node's id (or host name, which Docker also resolves). INVALID_ARGUMENT
 * for an availability other than active, pause or drain.
 */
int docker_node_set_availability(struct docker *d, const char *ref, const char *availability,
    int64_t timeout_ms, struct error *err);

/* --- volumes ---------------------------------------------------------------------- */

struct docker_volume {
	char name[160];
	char driver[64];
	char mountpoint[512];
	char label_data_dir[512];
};

/*
 * POST /volumes/create with `driver` (NULL or "": local) and labels. An
 * existing volume of that name is OK (Docker returns it).
 */
int docker_volume_create(struct docker *d, const char *name, const char *driver,
    const struct docker_label *labels, size_t n_labels, int64_t timeout_ms,
    struct error *err);

/* GET /volumes/{name}; NOT_FOUND when it does not exist. */
int docker_volume_inspect(struct docker *d, const char *name, struct docker_volume *out,
    int64_t timeout_ms, struct error *err);

/* GET /volumes, filtered by `label` when not NULL. *out malloc'ed. */
int docker_volume_list(struct docker *d, const char *label, struct docker_volume **out,
    size_t *n, int64_t timeout_ms, struct error *err);

/* DELETE /volumes/{name}; in use is FAILED_PRECONDITION, missing NOT_FOUND. */
int docker_volume_remove(struct docker *d, const char *name, bool force, int64_t timeout_ms,
    struct error *err);

/* --- the swarm ---------------------------------------------------------------------- */

struct docker_swarm_state {
	char local_node_state[16]; /* inactive, pending, active, error, locked */
	bool manager;              /* this engine can manage the swarm (ControlAvailable) */
	char node_id[DOCKER_ID_LEN + 1];
	char hostname[128];        /* the engine's host name (Name) */
};

/* GET /info: whether and how this engine is in a swarm. */
int docker_swarm_state(struct docker *d, struct docker_swarm_state *out, int64_t timeout_ms,
    struct error *err);

/* POST /swarm/init with ListenAddr and AdvertiseAddr ("127.0.0.1:2377"). */
int docker_swarm_init(struct docker *d, const char *listen_addr, const char *advertise_addr,
    int64_t timeout_ms, struct error *err);

/* POST /swarm/leave?force=... */
int docker_swarm_leave(struct docker *d, bool force, int64_t timeout_ms,
    struct error *err);

#endif
