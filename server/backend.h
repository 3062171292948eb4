/*
 * backend.h - the one interface between berth's lifecycle logic and the
 * thing that runs containers.
 *
 * lifecycle.c decides what should happen (which port, which row state,
 * what to undo); a backend makes it so. The engine backend
 * (backend_engine.c) runs each instance as one container on one Docker
 * engine; a swarm backend can run the same instances as Swarm services
 * without lifecycle.c changing.
 *
 * Every operation takes the time it may use and returns a berth status
 * code with details in *err (see docker.h for the codes). Thread-safe.
 */
#ifndef BERTH_BACKEND_H
#define BERTH_BACKEND_H

#include <stdint.h>

#include "berth/v1/berth.pb-c.h"
#include "docker.h"

/* Everything a backend needs to run one instance. */
struct backend_instance {
	const Berth__V1__Template *tmpl;
	const char *service_id;  /* also the container's name */
	const char *instance;
	const char *project_dir; /* mounted at tmpl->mount_path when that is set */
	uint16_t host_port;
};

struct backend;

struct backend_ops {
	const char *name;
	/* Makes the template's image available: present, built, or pulled. */
	int (*prepare_image)(struct backend *b, const Berth__V1__Template *t, int64_t timeout_ms,
	    struct docker_error *err);
	/* Creates the instance, labelled as this berthd's, without starting it. */
	int (*create)(struct backend *b, const struct backend_instance *inst,
	    char id[DOCKER_ID_LEN + 1], int64_t timeout_ms, struct docker_error *err);
	int (*start)(struct backend *b, const char *id, int64_t timeout_ms, struct docker_error *err);
	int (*stop)(struct backend *b, const char *id, int stop_timeout_s, int64_t timeout_ms,
	    struct docker_error *err);
	int (*restart)(struct backend *b, const char *id, int stop_timeout_s, int64_t timeout_ms,
	    struct docker_error *err);
	/* Kills the instance at once (SIGKILL). */
	int (*kill)(struct backend *b, const char *id, int64_t timeout_ms, struct docker_error *err);
	/* Removes the instance (forcefully: a running one is killed). */
	int (*remove)(struct backend *b, const char *id, int64_t timeout_ms, struct docker_error *err);
	/* Live state; NOT_FOUND when the instance no longer exists. */
	int (*inspect)(struct backend *b, const char *id, struct docker_container *out,
	    int64_t timeout_ms, struct docker_error *err);
	/* Every instance labelled as this berthd's; *out malloc'ed. */
	int (*list_own)(struct backend *b, struct docker_container **out, size_t *n,
	    int64_t timeout_ms, struct docker_error *err);
	/* Every container on the engine, berth's or not, with its published ports; *out malloc'ed. */
	int (*list_all)(struct backend *b, struct docker_container **out, size_t *n,
	    int64_t timeout_ms, struct docker_error *err);
	int (*logs)(struct backend *b, const char *id, unsigned tail, char **out, int64_t timeout_ms,
	    struct docker_error *err);
	int (*stats)(struct backend *b, const char *id, struct docker_stats *out, int64_t timeout_ms,
	    struct docker_error *err);
};

struct backend {
	const struct backend_ops *ops;
	struct docker *docker;
	const char *data_dir;        /* labels containers as this berthd's */
	const char *publish_address; /* host address ports are published on */
	const char *build_root;      /* builds only from contexts under it (build_root.h) */
};

/* The engine backend: one container per instance on one Docker engine. */
extern const struct backend_ops backend_engine_ops;

#endif
