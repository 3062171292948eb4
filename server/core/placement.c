/*
 * placement.c - the swarm backend's placement poller (placement.h).
 *
 * Threads: placement_start/stop on the main thread; the poller thread owns
 * everything in struct placement except `stop`, which mu protects. The
 * poller has its own registry connection.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/arena.h"
#include "base/log.h"
#include "clock.h"
#include "core/berthd.h"
#include "core/events.h"
#include "core/placement.h"
#include "store/registry.h"

#define POLL_MS 1000
/* Each Docker call ends within this: a shutdown waits at most about a poll. */
#define CALL_TIMEOUT_MS 1000
/* Host names rarely change; a node that joins shows up as an unknown id first. */
#define NODES_REFRESH_MS 10000
#define NODES_MAX_TEXT 4096

struct placement {
	struct berthd *d;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* stop, for the poller's wait */
	bool stop;         /* under mu */
	struct registry *reg;
	struct docker_node *nodes; /* the cache of id -> host name */
	size_t n_nodes;
	int64_t nodes_ms; /* monotonic, when last listed (0: never) */
	bool warned;      /* a Docker error was logged; quiet until it answers */
};

/* --- pure ------------------------------------------------------------------------ */

static int
compare_strings(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const char *
host_of(const char *node_id, const struct docker_node *nodes, size_t n_nodes)
{
	for (size_t i = 0; i < n_nodes; i++)
		if (strcmp(nodes[i].id, node_id) == 0)
			return nodes[i].hostname[0] != '\0' ? nodes[i].hostname : nodes[i].id;
	return NULL;
}

size_t
placement_nodes_of(const char *swarm_id, const struct docker_task *tasks, size_t n_tasks,
    const struct docker_node *nodes, size_t n_nodes, char *out, size_t len)
{
	const char **names;
	size_t n = 0, unknown = 0, used = 0;

	if (len > 0)
		out[0] = '\0';
	if (n_tasks == 0 || (names = malloc(sizeof(*names) * n_tasks)) == NULL)
		return 0;
	for (size_t i = 0; i < n_tasks; i++) {
		const char *host;

		if (strcmp(tasks[i].service_id, swarm_id) != 0 ||
		    strcmp(tasks[i].state, "running") != 0 || tasks[i].node_id[0] == '\0')
			continue;
		if ((host = host_of(tasks[i].node_id, nodes, n_nodes)) == NULL) {
			host = tasks[i].node_id; /* shown as its id until the node list knows it */
			unknown++;
		}
		names[n++] = host;
	}
	qsort(names, n, sizeof(*names), compare_strings);
	for (size_t i = 0; i < n; i++) {
		int w;

		if (i > 0 && strcmp(names[i], names[i - 1]) == 0)
			continue; /* two replicas on one node: one entry */
		w = snprintf(out + used, len - used, "%s%s", used > 0 ? "," : "", names[i]);
		if (w < 0 || (size_t)w >= len - used) {
			out[used] = '\0'; /* whole names only */
			break;
		}
		used += (size_t)w;
	}
	free(names);
	return unknown;
}

void
placement_message(const char *before, const char *after, char *out, size_t len)
{
	snprintf(out, len, "nodes: %s -> %s", *before != '\0' ? before : "none",
	    *after != '\0' ? after : "none");
}

/* --- the poller -------------------------------------------------------------------- */

/* The registry's Service.nodes, comma-joined as the column keeps them. */
static void
join_nodes(const Berth__V1__Service *s, char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < s->n_nodes; i++) {
		int w = snprintf(out + used, len - used, "%s%s", i > 0 ? "," : "", s->nodes[i]);

		if (w < 0 || (size_t)w >= len - used) {
			out[used] = '\0'; /* whole names only */
			break;
		}
		used += (size_t)w;
	}
}

/* Logs a Docker error once; false so the caller keeps the last placement. */
static bool
docker_failed(struct placement *p, const char *what, const struct error *err)
{
	if (!p->warned)
		log_warn("placement keeps the last one seen: cannot list %s error=\"%s\"", what,
		    err->message);
	p->warned = true;
	return false;
}

/* Whether every running task's node is in the cache. */
static bool
nodes_known(const struct placement *p, const struct docker_task *tasks, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (tasks[i].node_id[0] != '\0' && host_of(tasks[i].node_id, p->nodes, p->n_nodes) == NULL)
			return false;
	return true;
}

static bool
refresh_nodes(struct placement *p)
{
	struct docker_node *nodes = NULL;
	size_t n = 0;
	struct error err = { 0 };

	if (docker_node_list(p->d->backend.docker, &nodes, &n, CALL_TIMEOUT_MS, &err) != 0)
		return docker_failed(p, "nodes", &err);
	free(p->nodes);
	p->nodes = nodes;
	p->n_nodes = n;
	p->nodes_ms = clock_monotonic_ms();
	return true;
}

/* Writes and publishes one service's new placement. */
static void
record(struct placement *p, struct arena *a, const Berth__V1__Service *row, const char *before,
    const char *after)
{
	Berth__V1__Service *now = NULL;
	char message[2 * NODES_MAX_TEXT + 32];

	if (registry_service_set_nodes(p->reg, row->service_id, after) != 0) {
		if (registry_error(p->reg)->code != BERTH__V1__CODE__NOT_FOUND) /* removed meanwhile */
			log_warn("placement cannot record service=%s error=\"%s\"", row->service_id,
			    registry_error(p->reg)->message);
		return;
	}
	placement_message(before, after, message, sizeof(message));
	/* The event carries the row as it is now: its status and the new nodes. */
	if (registry_service_get(p->reg, a, row->service_id, &now) != 0)
		now = NULL;
	event_publish(&p->d->events, BERTH__V1__EVENT__TYPE__SERVICE_PLACEMENT_CHANGED,
	    now != NULL ? now : row, NULL, "%s", message);
	log_info("service placement changed service=%s %s", row->service_id, message);
}

/* One poll: GET /tasks, GET /nodes only when needed, then the registry. */
static void
poll_once(struct placement *p, struct arena *a)
{
	struct docker_task *tasks = NULL;
	size_t n_tasks = 0, n_rows = 0;
	Berth__V1__Service **rows = NULL;
	struct error err = { 0 };
	char before[NODES_MAX_TEXT], after[NODES_MAX_TEXT];

	if (docker_task_list(p->d->backend.docker, NULL, "running", &tasks, &n_tasks,
		CALL_TIMEOUT_MS, &err) != 0) {
		docker_failed(p, "tasks", &err);
		return;
	}
	if ((p->nodes_ms == 0 || clock_monotonic_ms() - p->nodes_ms >= NODES_REFRESH_MS ||
		!nodes_known(p, tasks, n_tasks)) &&
	    !refresh_nodes(p)) {
		free(tasks);
		return; /* ids instead of names would be a false change: wait for the names */
	}
	if (p->warned)
		log_info("placement follows Swarm again");
	p->warned = false;
	if (registry_service_list(p->reg, a, "", "", &rows, &n_rows) != 0) {
		log_warn("placement cannot read the registry error=\"%s\"",
		    registry_error(p->reg)->message);
		free(tasks);
		return;
	}
	for (size_t i = 0; i < n_rows; i++) {
		const Berth__V1__Service *row = rows[i];

		if (row->container_id == NULL || row->container_id[0] == '\0')
			continue; /* not created in Swarm yet */
		placement_nodes_of(row->container_id, tasks, n_tasks, p->nodes, p->n_nodes, after,
		    sizeof(after));
		join_nodes(row, before, sizeof(before));
		if (strcmp(before, after) != 0)
			record(p, a, row, before, after);
	}
	free(tasks);
}

static void *
run(void *arg)
{
	struct placement *p = arg;
	struct arena a;

	arena_init(&a);
	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		struct timespec ts;

		pthread_mutex_unlock(&p->mu);
		poll_once(p, &a);
		arena_reset(&a);
		pthread_mutex_lock(&p->mu);
		if (p->stop)
			break;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += POLL_MS / 1000;
		pthread_cond_timedwait(&p->cv, &p->mu, &ts);
	}
	pthread_mutex_unlock(&p->mu);
	arena_reset(&a);
	return NULL;
}

int
placement_start(struct berthd *d)
{
	struct placement *p;
	pthread_condattr_t ca;
	struct error err = { 0 };
	int rv;

	if (strcmp(d->config.backend, "swarm") != 0)
		return 0;
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		log_error("placement is not followed error=\"out of memory\"");
		return -1;
	}
	p->d = d;
	if (registry_open(&p->reg, d->db_path, false, &err) != 0) {
		log_error("placement is not followed error=\"%s\"", err.message);
		free(p);
		return -1;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &ca);
	pthread_condattr_destroy(&ca);
	/* Signals stay blocked: the thread inherits the main thread's mask. */
	if ((rv = pthread_create(&p->thread, NULL, run, p)) != 0) {
		log_error("placement is not followed error=\"%s\"", strerror(rv));
		registry_close(p->reg);
		pthread_mutex_destroy(&p->mu);
		pthread_cond_destroy(&p->cv);
		free(p);
		return -1;
	}
	d->placement = p;
	return 0;
}

void
placement_stop(struct berthd *d)
{
	struct placement *p = d->placement;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	registry_close(p->reg);
	free(p->nodes);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p);
	d->placement = NULL;
}
