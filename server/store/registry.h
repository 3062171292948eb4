/*
 * registry.h - berth's registry: templates and services in SQLite.
 *
 * One struct registry is one SQLite connection with its prepared
 * statements; each worker thread owns one (SQLite connections are not
 * shared between threads here), and WAL mode lets them read in parallel
 * while one writes. Results are protobuf messages allocated from the
 * caller's arena. Every function returns a berth status code (0 = OK) and
 * leaves the failure in registry_error() (common/error.h).
 */
#ifndef BERTH_REGISTRY_H
#define BERTH_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "error.h"
#include "berth/v1/berth.pb-c.h"

/* Registry states of a service (Service.status). */
#define STATUS_CREATING "creating"
#define STATUS_RUNNING "running"
#define STATUS_STOPPED "stopped"
#define STATUS_EXITED "exited"
#define STATUS_DEAD "dead"
#define STATUS_MISSING "missing"
#define STATUS_REMOVING "removing"

/* Service.desired_state, Service.supervisor, Service.health. */
#define DESIRED_RUNNING "running"
#define DESIRED_STOPPED "stopped"
#define SUPERVISOR_OK "ok"
#define SUPERVISOR_BACKOFF "backoff"
#define SUPERVISOR_FAILED "failed"
#define HEALTH_NONE "none"
#define HEALTH_STARTING "starting"
#define HEALTH_HEALTHY "healthy"
#define HEALTH_UNHEALTHY "unhealthy"
#define RESTART_NO "no"
#define RESTART_ON_FAILURE "on-failure"
#define RESTART_ALWAYS "always"

struct registry;

/*
 * Opens (creating if needed) the database at `path` with WAL, foreign keys
 * and a busy timeout. With `migrate`, brings the schema up to date first
 * and refuses a database written by a newer berthd. Returns 0 or -1 with
 * the reason in err.
 */
int registry_open(struct registry **out, const char *path, bool migrate, struct error *err);
void registry_close(struct registry *reg);

/*
 * Process-wide SQLite settings (no up-front page cache per connection).
 * Main thread, once, before anything opens a database.
 */
void registry_configure_process(void);

/* Why the last call on reg failed (code, message). */
const struct error *registry_error(const struct registry *reg);

/*
 * Templates as every reader sees them: secret_env holds "KEY=***" for each
 * stored secret (sorted by key), never a value.
 */

/* All templates, sorted by name. */
int registry_template_list(struct registry *reg, struct arena *a, Berth__V1__Template ***out,
    size_t *n);

/* One template; NOT_FOUND when there is none. */
int registry_template_get(struct registry *reg, struct arena *a, const char *name,
    Berth__V1__Template **out);

/*
 * Inserts or replaces a validated template; *created says which. Its
 * secrets become t->secret_env's in the same transaction: "KEY=***" keeps
 * the stored value (INVALID_ARGUMENT "no stored value for KEY" when there
 * is none), "KEY=VALUE" sets it, and a stored key not listed is deleted.
 */
int registry_template_put(struct registry *reg, const Berth__V1__Template *t, bool *created);

/* What registry_template_write did (lists in the caller's arena). */
struct template_put_result {
	bool created;
	bool revised;       /* a new revision was recorded */
	uint32_t revision;  /* the template's current revision after the write */
	/* Fields whose value changed, by proto name ("secret_env" also when only a value did). */
	char **changed;
	size_t n_changed;
	/* Fields the template had set that the write made zero (none for a new template). */
	char **reset;
	size_t n_reset;
};

/*
 * registry_template_put, and in the same transaction the template's
 * revisions (registry_revisions.c): a write that changes a field that makes
 * a container (anything but description) or a secret's value records the
 * next revision (the first is 1, summary "created"); a write that changes
 * nothing of the kind records none. Bumps registry_generation after the
 * write (services show their template's policy and health, and `outdated`).
 */
int registry_template_write(struct registry *reg, struct arena *a, const Berth__V1__Template *t,
    struct template_put_result *out);

/*
 * One revision of a template (TemplateRevision, in a's memory);
 * NOT_FOUND "template NAME has no revision N" when there is no such one.
 */
int registry_template_revision_get(struct registry *reg, struct arena *a, const char *name,
    uint32_t revision, Berth__V1__TemplateRevision **out);

/* A template's revisions, newest first (*n = 0 for an unknown template). */
int registry_template_revisions(struct registry *reg, struct arena *a, const char *name,
    Berth__V1__TemplateRevision ***out, size_t *n);

/*
 * The template's secrets with their values, "KEY=VALUE" sorted by key, in
 * a's memory (*n = 0 when it has none, or no such template). Only for
 * handing them to the container a launch creates: nothing else may read
 * values, and nobody may log, audit or answer them.
 */
int registry_template_secret_values(struct registry *reg, struct arena *a, const char *name,
    char ***out, size_t *n);

/* NOT_FOUND, or FAILED_PRECONDITION while services of it exist. */
int registry_template_delete(struct registry *reg, const char *name);

/* "buckets, db, ..." (sorted), as the "Template 'x' not found" message lists them. */
int registry_template_names(struct registry *reg, struct arena *a, char **out);

/* --- services ---------------------------------------------------------- */

/*
 * Write transactions that span several calls (a launch chooses its instance
 * and inserts its row atomically). BEGIN IMMEDIATE: writers queue here, up
 * to the busy timeout, instead of failing half-way.
 */
int registry_begin(struct registry *reg);
int registry_commit(struct registry *reg);
void registry_rollback(struct registry *reg);

/* The lowest N >= from (and >= 1) such that template has no instance "instance_N". */
int registry_instance_next(struct registry *reg, const char *template_name, unsigned from,
    unsigned *number);

/*
 * Inserts a row from s (service_id, template, container_name, port,
 * instance, instance_number, project_dir, status, container_id, restart,
 * revision, image_id); created_at
 * is set here. ALREADY_EXISTS when the id, instance or port is taken;
 * NOT_FOUND when the template is gone.
 */
int registry_service_insert(struct registry *reg, const Berth__V1__Service *s);

/* One service (url and container left empty); NOT_FOUND when unknown. */
int registry_service_get(struct registry *reg, struct arena *a, const char *service_id,
    Berth__V1__Service **out);

/* Services sorted by id; template and status filter when not "" / NULL. */
int registry_service_list(struct registry *reg, struct arena *a, const char *template_name,
    const char *status, Berth__V1__Service ***out, size_t *n);

/* Updates of one row; NOT_FOUND when it is gone. container_id NULL = keep. */
int registry_service_update(struct registry *reg, const char *service_id, const char *status,
    const char *container_id);
int registry_service_set_port(struct registry *reg, const char *service_id, uint32_t port);

/* The ID of the image the service's container runs ("sha256:..."); NOT_FOUND when gone. */
int registry_service_set_image(struct registry *reg, const char *service_id, const char *image_id);

/* Deletes a row; NOT_FOUND when it was not there. */
int registry_service_delete(struct registry *reg, const char *service_id);

/* Calls fn for the port of every row (start-up loads the allocator). */
int registry_service_ports(struct registry *reg, void (*fn)(void *arg, uint32_t port), void *arg);

/*
 * A number that changes after every change to the services table (or to a
 * template, which the services show through their policy) by any
 * connection of this process, once the change is visible to readers. An
 * answer computed from the services after reading generation G is still
 * current while the generation is G. Any thread.
 */
uint64_t registry_generation(void);

/* Counts by status and template, and the used ports: SQL aggregates only. */
int registry_stats(struct registry *reg, struct arena *a, Berth__V1__GetStatsResponse *out);

/* --- metrics ------------------------------------------------------------ */

/*
 * Calls fn once per (template, status) pair with its number of services
 * (one GROUP BY), sorted. The strings are valid during the call only.
 */
int registry_service_counts(struct registry *reg,
    void (*fn)(void *arg, const char *template_name, const char *status, unsigned count),
    void *arg);

/*
 * Calls fn once per template, sorted by name, with the size of its port
 * range (an open range ends at 65535) and how many registry rows hold a
 * port inside it, whatever their template.
 */
int registry_template_port_usage(struct registry *reg,
    void (*fn)(void *arg, const char *template_name, unsigned capacity, unsigned used),
    void *arg);

/* --- supervision (registry_supervision.c) ------------------------------- */

/*
 * What the supervisor keeps of one service, with its template's limits.
 * Times are Unix milliseconds, 0 for none.
 */
struct supervision {
	char desired_state[16]; /* "running" | "stopped" */
	char restart[16];       /* the policy in force: "no" | "on-failure" | "always" */
	char state[16];         /* Service.supervisor: "ok" | "backoff" | "failed" */
	char health[16];
	uint32_t restarts;      /* berth's own, since the operator's last word */
	uint32_t backoff_level; /* the next delay is 1 s << level (capped) */
	uint32_t window_restarts;
	uint32_t max_restarts, restart_window_s; /* the template's */
	int32_t last_exit_code;
	int64_t next_restart_at;
	int64_t window_started_at;
};

/* NOT_FOUND when the service is gone. */
int registry_supervision_get(struct registry *reg, const char *service_id,
    struct supervision *out);

/* Writes state, restarts, backoff_level, window_*, last_exit_code, next_restart_at. */
int registry_supervision_put(struct registry *reg, const char *service_id,
    const struct supervision *s);

/*
 * An operator's word (launch, restart: "running"; stop: "stopped"): sets
 * the desired state and starts the supervisor's counts afresh.
 */
int registry_service_set_desired(struct registry *reg, const char *service_id,
    const char *desired_state);

/* The health verdict and, for a failure, why ("" after a success). */
int registry_service_set_health(struct registry *reg, const char *service_id,
    const char *health, const char *message);

/*
 * Swarm backend (core/placement.c): the sorted, comma-separated host names
 * of the nodes running the service's tasks ("" for none); Service.nodes.
 * NOT_FOUND when the service is gone. Bumps registry_generation.
 */
int registry_service_set_nodes(struct registry *reg, const char *service_id,
    const char *nodes);

/* Every service id, sorted, in the arena. */
int registry_service_ids(struct registry *reg, struct arena *a, char ***out, size_t *n);

/* --- shutdown progress -------------------------------------------------- */

/* Records that a shutdown with `policy` has begun. */
int registry_shutdown_begin(struct registry *reg, const char *policy);

/* The policy of an unfinished shutdown (policy[16]); NOT_FOUND when none. */
int registry_shutdown_pending(struct registry *reg, char *policy, size_t len);

/* The shutdown is done: forget it. */
int registry_shutdown_done(struct registry *reg);

/* --- rollouts (registry_rollouts.c, migration 013) ------------------------ */

/* A rollout instance's containers while it is "updating" (the journal). */
struct registry_rollout_step {
	char old_container_id[80]; /* renamed aside as "<service_id>.old"; "" before */
	char new_container_id[80]; /* made from the rollout's revision; "" before */
};

/*
 * Records a new rollout with its instances (r->id is set here to
 * "<template>-<n>", in a); r->started_at must be set. One transaction.
 */
int registry_rollout_insert(struct registry *reg, struct arena *a, Berth__V1__Rollout *r);

/* A rollout by id, with its instances in order; NOT_FOUND. */
int registry_rollout_get(struct registry *reg, struct arena *a, const char *id,
    Berth__V1__Rollout **out);

/* The template's newest rollout; NOT_FOUND when it has none. */
int registry_rollout_latest(struct registry *reg, struct arena *a, const char *template_name,
    Berth__V1__Rollout **out);

/* The ids of rollouts that are "running" or "paused" (of one template, or all with NULL). */
int registry_rollout_unfinished(struct registry *reg, struct arena *a, const char *template_name,
    char ***ids, size_t *n);

/* A rollout's state and message; finished stamps finished_at. */
int registry_rollout_set_state(struct registry *reg, const char *id, const char *state,
    const char *message, bool finished);

/* An instance's state, message and containers (step NULL: containers kept). */
int registry_rollout_instance_set(struct registry *reg, const char *id, const char *service_id,
    const char *state, const char *message, const struct registry_rollout_step *step);

/* An instance's journaled containers. */
int registry_rollout_instance_step(struct registry *reg, const char *id, const char *service_id,
    struct registry_rollout_step *out);

/*
 * A new revision of the template with the same content (its image was
 * rebuilt: the same reference names another image). *revision: the new one.
 */
int registry_template_revise(struct registry *reg, struct arena *a, const char *name,
    const char *summary, uint32_t *revision);

/* The revision a service's container is made from and its image ID. NOT_FOUND. */
int registry_service_set_revision(struct registry *reg, const char *service_id,
    uint32_t revision, const char *image_id);

#endif
