/*
 * docker.h - a small client of the Docker Engine HTTP API (libcurl + jansson).
 *
 * It speaks to the engine over its unix socket (default
 * /var/run/docker.sock) or tcp:// (with TLS when DOCKER_TLS_VERIFY is set,
 * certificates from DOCKER_CERT_PATH), as the docker CLI does. The API
 * version is negotiated once with GET /version and every path is prefixed
 * with it.
 *
 * Every call takes the time it may use (timeout_ms, normally the remaining
 * deadline of the RPC) and returns a berth status code:
 *   OK, NOT_FOUND (404), ALREADY_EXISTS (409 name conflict),
 *   FAILED_PRECONDITION (409 otherwise, 400, failed pull/build),
 *   UNAVAILABLE (engine does not answer: refused, reset, connect timeout),
 *   DEADLINE_EXCEEDED (timeout_ms ran out), INTERNAL (anything else).
 * On failure err->message holds Docker's own message when it sent one.
 * Also: timeout_ms <= 0 is DEADLINE_EXCEEDED without a request; a bad id or
 * image name (characters that do not belong in a URL path) is
 * INVALID_ARGUMENT; 401/403 is PERMISSION_DENIED; 503 is UNAVAILABLE; an
 * answer larger than the cap (64 MiB, logs 16 MiB) is RESOURCE_EXHAUSTED;
 * an engine older than API 1.40 is FAILED_PRECONDITION.
 * A start or restart that fails because the host port is taken ("port is
 * already allocated", "address already in use") is ABORTED with
 * err->reason DOCKER_REASON_PORT_IN_USE (docker_error_port_in_use): the
 * caller may pick another port and try again.
 * err (common/error.h) must not be NULL; it is cleared at the start of
 * every call.
 *
 * Thread-safe: a struct docker is shared by all workers; each call uses its
 * own curl handle. Nothing here knows about templates or the registry: the
 * backends sit above (backend.h). The client is docker_*.c in this folder
 * (docker_internal.h lists them); only they speak HTTP.
 */
#ifndef BERTH_DOCKER_H
#define BERTH_DOCKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "error.h"
#include "timestamp.h"

struct docker;

/* err->reason of a start that failed because the host port is taken. */
#define DOCKER_REASON_PORT_IN_USE "PORT_IN_USE"

/* True when err says the host port was taken (pick another and retry). */
static inline bool
docker_error_port_in_use(const struct error *err)
{
	return err != NULL && strcmp(err->reason, DOCKER_REASON_PORT_IN_USE) == 0;
}

/*
 * Whether Docker's message says that a host port is taken ("port is
 * already allocated", "address already in use", Swarm's "is already in
 * use by service").
 */
bool docker_port_taken(const char *message);

/* err becomes ABORTED with reason DOCKER_REASON_PORT_IN_USE, keeping its message. */
int docker_fail_port_in_use(struct error *err);

/*
 * For the backends: every answer from Docker passes through here on its way
 * up (returned as it is), and failures are counted. NOT_FOUND is not one:
 * it is how berth learns that a container, service or image is gone.
 */
int docker_counted(int code);

/* What docker_counted counted: berth_docker_errors_total. Any thread. */
uint64_t docker_failures_total(void);

#define DOCKER_ID_LEN 64

/* The labels berth puts on every container it creates. */
#define DOCKER_LABEL_MANAGED "berth.managed"   /* "true" */
#define DOCKER_LABEL_SERVICE "berth.service"
#define DOCKER_LABEL_TEMPLATE "berth.template"
#define DOCKER_LABEL_INSTANCE "berth.instance"
#define DOCKER_LABEL_DATA_DIR "berth.data_dir"

/*
 * Prepares a client for `host` ("unix:///path", "tcp://host:port"); NULL or
 * "" means $DOCKER_HOST, else unix:///var/run/docker.sock, else (when that
 * socket does not exist) Podman's: /run/podman/podman.sock for root,
 * $XDG_RUNTIME_DIR/podman/podman.sock for others. Does not connect:
 * the API version is negotiated on first use. Returns 0, or -1 with err.
 */
int docker_open(struct docker **out, const char *host, struct error *err);
void docker_close(struct docker *d);

/* GET /_ping, then GET /version once: OK when the engine answers. */
int docker_ping(struct docker *d, int64_t timeout_ms, struct error *err);

/* The negotiated API version ("1.41"), or "" before the first success. */
const char *docker_api_version(struct docker *d);

/*
 * Which engine answers, and its version: "docker 20.10.24", or "podman
 * 4.3.1" for Podman's Docker-compatible API (its /version names a "Podman
 * Engine" component); "" before the first success.
 */
const char *docker_engine(struct docker *d);
bool docker_is_podman(struct docker *d);

/* --- images --------------------------------------------------------------- */

/* OK with *exists set; a missing image is not an error here. */
int docker_image_exists(struct docker *d, const char *image, bool *exists, int64_t timeout_ms,
    struct error *err);

/*
 * POST /build of a tar (libarchive) of directory `context_dir`, which holds
 * a Dockerfile, tagged `tag`. The build's streamed JSON is read to the end;
 * an "error" in it is FAILED_PRECONDITION with Docker's text.
 */
int docker_image_build(struct docker *d, const char *context_dir, const char *tag,
    int64_t timeout_ms, struct error *err);

/*
 * As docker_image_build, with build arguments ("KEY=VALUE", the query's
 * buildargs) and nocache: a rollout's --rebuild.
 */
int docker_image_build_opts(struct docker *d, const char *context_dir, const char *tag,
    char *const *build_args, size_t n_build_args, bool no_cache, int64_t timeout_ms,
    struct error *err);

/*
 * POST /images/create?fromImage=NAME&tag=TAG ("latest" when the reference
 * has none); failure is FAILED_PRECONDITION.
 */
/* The image's ID ("sha256:...", GET /images/{ref}/json's Id) into out; NOT_FOUND. */
int docker_image_id(struct docker *d, const char *image, char *out, size_t len,
    int64_t timeout_ms, struct error *err);

int docker_image_pull(struct docker *d, const char *image, int64_t timeout_ms,
    struct error *err);

/*
 * Pure. The name image gets under the registry "HOST:PORT": repo
 * "HOST:PORT/<its path>" (its own registry host, if any, dropped) and its
 * tag ("latest" when it has none; "sha256-<hex>" for a bare digest), for
 * POST /images/{image}/tag. 0; 1 when image already names that registry
 * (repo and tag are then its own); -1 when it is empty or too long.
 */
int docker_registry_reference(const char *registry, const char *image, char *repo,
    size_t repo_len, char *tag, size_t tag_len);

/* What a push's JSON-lines answer said: the first error, the pushed digest. */
struct docker_push_progress {
	char error[512];
	char digest[80]; /* "sha256:..." from the "aux" object */
};

/* Pure. Records one line of a push's answer in p; anything not JSON is skipped. */
void docker_push_line(struct docker_push_progress *p, const char *line, size_t len);

/* Pure. UNAVAILABLE when a push's error says the registry did not answer, else FAILED_PRECONDITION. */
int docker_push_error_code(const char *message);

/* POST /images/{image}/tag?repo=REPO&tag=TAG. NOT_FOUND when image is missing. */
int docker_image_tag(struct docker *d, const char *image, const char *repo, const char *tag,
    int64_t timeout_ms, struct error *err);

/*
 * POST /images/REPO/push?tag=TAG with an empty X-Registry-Auth (an open
 * registry). The digest pushed ("sha256:...") into digest. An error in the
 * stream is UNAVAILABLE (the registry did not answer) or FAILED_PRECONDITION,
 * with the registry's message. Docker skips layers the registry has.
 */
int docker_image_push(struct docker *d, const char *repo, const char *tag, char digest[80],
    int64_t timeout_ms, struct error *err);

/*
 * The digest ("sha256:...") under which image was pushed to repo
 * ("HOST:PORT/path"), from its RepoDigests; NOT_FOUND when it never was.
 */
int docker_image_repo_digest(struct docker *d, const char *image, const char *repo, char *out,
    size_t len, int64_t timeout_ms, struct error *err);

/* DELETE /images/{image}?force=...; a missing image is NOT_FOUND. (Added.) */
int docker_image_remove(struct docker *d, const char *image, bool force, int64_t timeout_ms,
    struct error *err);

/* --- containers ----------------------------------------------------------- */

struct docker_label {
	const char *key;
	const char *value;
};

struct docker_container_spec {
	const char *name;                /* container name */
	const char *image;
	const char *const *env;          /* "KEY=VALUE" */
	size_t n_env;
	const char *const *command;      /* empty: the image's default */
	size_t n_command;
	const struct docker_label *labels;
	size_t n_labels;
	uint16_t container_port;         /* tcp port inside the container */
	const char *host_ip;             /* "0.0.0.0", "127.0.0.1" */
	uint16_t host_port;
	const char *bind_source;         /* host directory, or NULL for none */
	const char *bind_target;         /* where it is mounted in the container */
	int stop_timeout_s;              /* StopTimeout of the container; 0 = Docker's */
	int64_t nano_cpus;               /* CPU limit in 1e-9 CPUs; 0 = none */
	int64_t memory_bytes;            /* memory limit; 0 = none */
	bool init;                       /* HostConfig.Init: docker-init as PID 1 */
	const char *user;                /* Config.User, "UID[:GID]"; NULL or "" = the image's */
};

/* POST /containers/create; writes the new id (64 hex + NUL) into id. */
int docker_container_create(struct docker *d, const struct docker_container_spec *spec,
    char id[DOCKER_ID_LEN + 1], int64_t timeout_ms, struct error *err);

/* POST /containers/{id}/start; an already running container is OK. */
int docker_container_start(struct docker *d, const char *id, int64_t timeout_ms,
    struct error *err);

/*
 * POST /containers/{id}/stop?t=...; an already stopped container is OK.
 * stop_timeout_s < 0 leaves t out (the container's StopTimeout applies).
 * timeout_ms should leave room for the stop timeout. Same for restart.
 */
int docker_container_stop(struct docker *d, const char *id, int stop_timeout_s,
    int64_t timeout_ms, struct error *err);

/* POST /containers/{id}/restart?t=... */
int docker_container_restart(struct docker *d, const char *id, int stop_timeout_s,
    int64_t timeout_ms, struct error *err);

/*
 * Runs argv inside the running container id (docker_exec.c) and waits for
 * its exit code, at most timeout_ms: DEADLINE_EXCEEDED then, and the
 * command keeps running (Docker cannot kill an exec).
 */
int docker_container_exec(struct docker *d, const char *id, char *const *argv, size_t argc,
    int64_t timeout_ms, int *exit_code, struct error *err);

/* What an exec printed, each stream cut at the cap it was asked for. */
struct docker_exec_output {
	int exit_code;
	char *out; /* malloc'ed, NUL-terminated (may hold other NULs); "" when nothing */
	size_t out_len;
	char *err;
	size_t err_len;
	bool truncated; /* a stream printed more than the cap; the rest was read and dropped */
};

/*
 * Runs argv inside the running container id without a TTY or stdin, reads
 * its stdout and stderr (at most max_bytes of each kept) until it exits, and
 * its exit code (docker_exec.c). At timeout_ms DEADLINE_EXCEEDED, and the
 * command may go on running. *out is filled on success; free it with
 * docker_exec_output_free (also after a failure: safe on a zeroed one).
 */
int docker_container_exec_output(struct docker *d, const char *id, char *const *argv,
    size_t argc, size_t max_bytes, struct docker_exec_output *out, int64_t timeout_ms,
    struct error *err);
void docker_exec_output_free(struct docker_exec_output *out);

/* POST /containers/{id}/kill */
int docker_container_kill(struct docker *d, const char *id, int64_t timeout_ms,
    struct error *err);

/*
 * POST /containers/{id}/rename?name=new_name (a rollout's "<id>.old"); a
 * missing container is NOT_FOUND, a name in use ALREADY_EXISTS.
 */
int docker_container_rename(struct docker *d, const char *id, const char *new_name,
    int64_t timeout_ms, struct error *err);

/* DELETE /containers/{id}?force=...&v=true; a missing container is NOT_FOUND. */
int docker_container_remove(struct docker *d, const char *id, bool force, int64_t timeout_ms,
    struct error *err);

#define DOCKER_MAX_PORTS 16

/* What GET /containers/json and /containers/{id}/json tell about one container. */
struct docker_container {
	char id[DOCKER_ID_LEN + 1];
	char name[128];           /* without Docker's leading '/' */
	char state[16];           /* created, running, paused, restarting, exited, dead */
	int exit_code;            /* inspect only */
	char started_at[40];      /* inspect only, RFC 3339 */
	char finished_at[40];     /* inspect only */
	char ip[48];              /* inspect only: its address on its network, "" when none */
	char image_id[80];        /* inspect only: the image it runs, "sha256:..." (Docker's "Image") */
	/* berth's labels, "" when absent */
	char label_service[128];
	char label_template[64];
	char label_instance[64];
	char label_data_dir[512];
	/* published host ports (tcp and udp) */
	uint16_t ports[DOCKER_MAX_PORTS];
	size_t n_ports;
	/* the named volume berth mounted for the instance's data, "" when none (swarm) */
	char volume[160];
};

/* GET /containers/{id}/json; NOT_FOUND when it does not exist. */
int docker_container_inspect(struct docker *d, const char *id, struct docker_container *out,
    int64_t timeout_ms, struct error *err);

/*
 * GET /containers/json?all=1, filtered by `label` ("berth.managed=true") when
 * not NULL. *out is malloc'ed (caller frees), *n its length.
 */
int docker_container_list(struct docker *d, const char *label, struct docker_container **out,
    size_t *n, int64_t timeout_ms, struct error *err);

/*
 * GET /containers/{id}/logs?stdout=1&stderr=1&tail=N, demultiplexed
 * (tail 0 means all lines). *out is malloc'ed, NUL-terminated text (caller
 * frees); stdout and stderr are interleaved in the order Docker sent them.
 */
int docker_container_logs(struct docker *d, const char *id, unsigned tail, char **out,
    int64_t timeout_ms, struct error *err);

/* One entry of a log as Docker recorded it (always read with timestamps=1). */
struct docker_log_entry {
	int stream;           /* 1 stdout, 2 stderr (a TTY's log: all 1) */
	struct timestamp time;
	const char *stamp;    /* Docker's RFC 3339 text of `time`, not NUL-terminated */
	size_t stamp_len;
	const char *text;     /* the line with its newline (a long line's part: without) */
	size_t len;
};

/* Called per entry, in order; returns 0 to read on, 1 to stop (a success), -1 out of memory. */
typedef int (*docker_log_fn)(void *arg, const struct docker_log_entry *e);

/* Which entries GET .../logs sends. */
struct docker_logs_query {
	bool no_stdout;
	bool no_stderr;
	unsigned tail; /* the last N entries (of those since `since`); 0: all */
	bool has_since;
	struct timestamp since; /* entries stamped at or after it */
	bool has_until;
	struct timestamp until; /* entries stamped at or before it */
};

/*
 * GET /<kind>/<ref>/logs?timestamps=1&... ("containers" or "services"):
 * every entry q selects to fn as it arrives, with no cap on the total (fn
 * stops when it has enough). An entry whose stamp does not parse is given
 * the previous one's time.
 */
int docker_logs_each(struct docker *d, const char *kind, const char *ref,
    const struct docker_logs_query *q, docker_log_fn fn, void *arg, int64_t timeout_ms,
    struct error *err);

struct docker_stats {
	double cpu_percent;
	uint64_t memory_bytes;
	uint64_t memory_limit_bytes;
};

/*
 * GET /containers/{id}/stats?stream=false&one-shot=true: no sampling wait.
 * memory_bytes is usage minus inactive file cache, as `docker stats` shows.
 * cpu_percent needs two samples; when Docker sends no previous sample (as
 * one-shot does) it is 0.
 */
int docker_container_stats(struct docker *d, const char *id, struct docker_stats *out,
    int64_t timeout_ms, struct error *err);

/* --- events ----------------------------------------------------------------- */

/* One object of Docker's event stream, as far as berth cares. */
struct docker_event {
	char type[16];             /* "container" */
	char action[32];           /* create, start, die, oom, kill, stop, destroy, ... */
	char id[DOCKER_ID_LEN + 1];
	char name[128];            /* the container's name, without '/' */
	char label_service[128];   /* berth's labels, "" when absent */
	char label_data_dir[512];
	/* a Swarm task's container: its service's id (com.docker.swarm.service.id), else "" */
	char swarm_service_id[DOCKER_ID_LEN + 1];
	int exit_code;             /* Actor.Attributes.exitCode; -1 when there is none */
	int64_t time_nano;         /* when it happened, ns since the epoch (engine's clock) */
};

/*
 * What docker_events_follow calls, all on the caller's thread, never from
 * inside a libcurl callback (a handler may call Docker itself). A handler
 * returning non-zero ends the follow (the result is then OK).
 */
struct docker_events_handler {
	/* The stream is open: Docker reports everything from here on. May be NULL. */
	int (*on_connected)(void *arg);
	/* One event, in Docker's order. Required. */
	int (*on_event)(void *arg, const struct docker_event *ev);
	/* About every 200 ms while the stream is open, idle or not. May be NULL. */
	int (*on_tick)(void *arg);
	void *arg;
};

/*
 * GET /events?since=<now - 1 s>&filters={"type":["container"],"label":[label_filter]}
 * and calls the handler for every event until *stop becomes true (checked at
 * least every 200 ms), a handler returns non-zero (both: OK), or the stream
 * fails or ends (UNAVAILABLE when Docker went away or closed it; an HTTP
 * error maps as for any call). There is no total timeout, only the connect
 * timeout. `since` makes Docker replay the second before the call, so that
 * nothing between the call and its subscription is lost: handlers must
 * tolerate events they have seen already. label_filter ("key=value") may
 * be NULL. One event line is at most 1 MiB. Blocks the calling thread.
 */
int docker_events_follow(struct docker *d, const char *label_filter,
    const struct docker_events_handler *h, atomic_bool *stop, struct error *err);

/*
 * docker_events_follow for the event types named in `types` (NULL-terminated,
 * e.g. {"container", "service", NULL}); NULL means {"container"}.
 */
int docker_events_follow_types(struct docker *d, const char *const *types,
    const char *label_filter, const struct docker_events_handler *h, atomic_bool *stop,
    struct error *err);

/* --- any other call of the Engine API --------------------------------------- */

/*
 * One versioned Engine API call: METHOD `path` ("/networks/x?y=z",
 * without the version prefix; the caller has checked every id and escaped
 * every query value in it) with an optional JSON body (NULL: none). The
 * answer's body goes to *body (malloc'ed, NUL-terminated, caller frees;
 * pass NULL when it is not wanted), at most `limit` bytes (0: 64 MiB).
 * Codes as for every call of this file. (The tests use it; the server's
 * calls have functions of their own.)
 */
int docker_api_request(struct docker *d, const char *method, const char *path,
    const char *json_body, size_t limit, char **body, size_t *len, int64_t timeout_ms,
    struct error *err);

#endif
