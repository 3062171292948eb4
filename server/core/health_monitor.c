/*
 * health_monitor.c - the health monitor thread (health_monitor.h says what
 * it decides).
 *
 * Threads: the monitor thread owns the targets and its registry connection.
 * Probe results come back from the prober's thread (tcp, http) and the exec
 * workers into `results` under `mu`; the monitor thread takes them from
 * there. A result names its target by service id and probe number, so one
 * that comes back for a target since replaced or gone is dropped.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "clock.h"
#include "core/berthd.h"
#include "core/events.h"
#include "core/health_monitor.h"
#include "core/rollout.h"
#include "core/prober.h"
#include "core/supervisor.h"

#define RESYNC_MS 1000         /* the registry is read again this often when services changed */
#define RESYNC_IDLE_MS 5000    /* ... and this often anyway (template changes) */
#define TICK_MS 100
#define PROBER_INFLIGHT 256
#define PROBER_QUEUE 4096
#define EXEC_WORKERS 2
#define INSPECT_TIMEOUT_MS 3000

/* One running service with a health check. */
struct target {
	char id[128];
	char template_name[64];
	uint32_t host_port;     /* for events */
	char container_id[DOCKER_ID_LEN + 1];
	char started_at[40];    /* the container's, when last inspected */
	char ip[48];
	uint16_t port;          /* the template's container_port */
	Berth__V1__HealthCheck check; /* strings and argv malloc'ed (check_free) */
	char restart[16];
	char verdict[16];       /* as the registry has it */
	char message[160];      /* as the registry has it */
	uint32_t failures;      /* in a row, outside the start period */
	int64_t start_ms;       /* monotonic: when this container was first seen running */
	int64_t next_ms;        /* the next probe */
	int64_t inspected_ms;
	uint64_t probe_no;      /* of the probe in flight, 0 when none */
	bool seen;              /* found by the last resync */
};

struct result {
	struct result *next;
	char id[128];
	uint64_t probe_no;
	bool healthy;
	char error[160];
};

struct exec_job {
	struct exec_job *next;
	char id[128];
	char container_id[DOCKER_ID_LEN + 1];
	char **argv;
	size_t argc;
	int timeout_ms;
	uint64_t probe_no;
};

struct health_monitor {
	struct berthd *d;
	pthread_t thread;
	pthread_t exec_threads[EXEC_WORKERS];
	size_t n_exec_threads;
	struct prober *prober;
	struct registry *reg;          /* the monitor thread's own */
	pthread_mutex_t mu;
	pthread_cond_t cv;             /* results or stop, for the monitor thread */
	pthread_cond_t exec_cv;        /* jobs or stop, for the exec workers */
	bool stop;                     /* under mu */
	struct result *results;        /* under mu */
	struct exec_job *jobs;         /* under mu */
	struct target *targets;        /* monitor thread only */
	size_t n_targets, cap_targets;
	uint64_t next_probe_no;
};

static _Atomic uint64_t probes_total, probes_failed_total;

bool
health_checked_by_berth(const struct berthd *d, const Berth__V1__Template *t)
{
	return t->health != NULL &&
	    (d->backend.ops->exec != NULL || strcmp(t->health->kind, "exec") != 0);
}

uint64_t
health_probes_total(void)
{
	return atomic_load_explicit(&probes_total, memory_order_relaxed);
}

uint64_t
health_probes_failed_total(void)
{
	return atomic_load_explicit(&probes_failed_total, memory_order_relaxed);
}

/* --- results, from any thread ---------------------------------------------------- */

static void
post_result(struct health_monitor *m, const char *id, uint64_t probe_no, bool healthy,
    const char *error)
{
	struct result *r = calloc(1, sizeof(*r));

	atomic_fetch_add_explicit(&probes_total, 1, memory_order_relaxed);
	if (!healthy)
		atomic_fetch_add_explicit(&probes_failed_total, 1, memory_order_relaxed);
	if (r == NULL)
		return; /* the target stays in flight: the next resync sees it stuck (below) */
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->probe_no = probe_no;
	r->healthy = healthy;
	snprintf(r->error, sizeof(r->error), "%s", error != NULL ? error : "");
	pthread_mutex_lock(&m->mu);
	r->next = m->results;
	m->results = r;
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

/* What a tcp or http probe carries to its callback. */
struct probe_ticket {
	struct health_monitor *m;
	char id[128];
	uint64_t probe_no;
};

static void
on_probe_done(void *arg, const struct probe_result *r)
{
	struct probe_ticket *t = arg;

	post_result(t->m, t->id, t->probe_no, r->healthy, r->error);
	free(t);
}

static void *
exec_worker(void *arg)
{
	struct health_monitor *m = arg;
	struct berthd *d = m->d;

	pthread_mutex_lock(&m->mu);
	for (;;) {
		struct exec_job *job;
		struct error err = { 0 };
		char why[160];
		int exit_code = -1, code;

		while (!m->stop && m->jobs == NULL)
			pthread_cond_wait(&m->exec_cv, &m->mu);
		if (m->stop)
			break;
		job = m->jobs;
		m->jobs = job->next;
		pthread_mutex_unlock(&m->mu);
		code = d->backend.ops->exec(&d->backend, job->container_id, job->argv, job->argc,
		    job->timeout_ms, &exit_code, &err);
		if (code != 0)
			snprintf(why, sizeof(why), "%.150s", err.message);
		else
			snprintf(why, sizeof(why), "exit code %d", exit_code);
		post_result(m, job->id, job->probe_no, code == 0 && exit_code == 0,
		    code == 0 && exit_code == 0 ? "" : why);
		for (size_t i = 0; i < job->argc; i++)
			free(job->argv[i]);
		free(job->argv);
		free(job);
		pthread_mutex_lock(&m->mu);
	}
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

/* --- targets ------------------------------------------------------------------------ */

static char *
dup_or_empty(const char *s)
{
	return strdup(s != NULL ? s : "");
}

static void
check_free(Berth__V1__HealthCheck *c)
{
	free(c->kind);
	free(c->http_path);
	for (size_t i = 0; i < c->n_exec_command; i++)
		free(c->exec_command[i]);
	free(c->exec_command);
	memset(c, 0, sizeof(*c)); /* NULL strings: nothing copied yet (check_same) */
}

/* A malloc'ed copy of h into *c (the old one freed); false when memory ran out. */
static bool
check_copy(Berth__V1__HealthCheck *c, const Berth__V1__HealthCheck *h)
{
	check_free(c);
	*c = *h;
	c->kind = dup_or_empty(h->kind);
	c->http_path = dup_or_empty(h->http_path);
	c->exec_command = calloc(h->n_exec_command + 1, sizeof(char *));
	c->n_exec_command = 0;
	if (c->kind == NULL || c->http_path == NULL || c->exec_command == NULL)
		return false;
	for (size_t i = 0; i < h->n_exec_command; i++)
		if ((c->exec_command[c->n_exec_command++] = strdup(h->exec_command[i])) == NULL)
			return false;
	return true;
}

/* Whether the check's settings are the same (probe state then carries over). */
static bool
check_same(const Berth__V1__HealthCheck *a, const Berth__V1__HealthCheck *b)
{
	if (a->kind == NULL || strcmp(a->kind, b->kind) != 0 || strcmp(a->http_path, b->http_path) != 0 ||
	    a->interval_s != b->interval_s || a->timeout_s != b->timeout_s ||
	    a->retries != b->retries || a->start_period_s != b->start_period_s ||
	    a->n_exec_command != b->n_exec_command)
		return false;
	for (size_t i = 0; i < a->n_exec_command; i++)
		if (strcmp(a->exec_command[i], b->exec_command[i]) != 0)
			return false;
	return true;
}

static struct target *
find(struct health_monitor *m, const char *id)
{
	for (size_t i = 0; i < m->n_targets; i++)
		if (strcmp(m->targets[i].id, id) == 0)
			return &m->targets[i];
	return NULL;
}

/* Writes the verdict when it changed (and its event); the message when it changed. */
static void
set_verdict(struct health_monitor *m, struct target *t, const Berth__V1__Service *row,
    const char *verdict, const char *message)
{
	bool changed = strcmp(t->verdict, verdict) != 0;

	if (!changed && strcmp(t->message, message) == 0)
		return;
	if (registry_service_set_health(m->reg, t->id, verdict, message) != 0) {
		log_warn("health cannot record a verdict service=%s error=\"%s\"", t->id,
		    registry_error(m->reg)->message);
		return;
	}
	snprintf(t->verdict, sizeof(t->verdict), "%s", verdict);
	snprintf(t->message, sizeof(t->message), "%s", message);
	if (!changed || row == NULL)
		return;
	if (strcmp(verdict, HEALTH_HEALTHY) == 0) {
		event_publish(&m->d->events, BERTH__V1__EVENT__TYPE__SERVICE_HEALTHY, row, NULL,
		    "%s check passed", t->check.kind);
		log_info("service healthy service=%s", t->id);
	} else if (strcmp(verdict, HEALTH_UNHEALTHY) == 0) {
		event_publish(&m->d->events, BERTH__V1__EVENT__TYPE__SERVICE_UNHEALTHY, row, NULL,
		    "%u %s probes failed in a row: %s", t->failures, t->check.kind, message);
		log_warn("service unhealthy service=%s failures=%u error=\"%s\"", t->id, t->failures,
		    message);
	}
}

/* Looks at the container again: its address, and whether it started anew since. */
static void
inspect(struct health_monitor *m, struct target *t, const char *container_ref)
{
	struct backend *b = &m->d->backend;
	struct docker_container c;
	struct error err = { 0 };

	t->inspected_ms = clock_monotonic_ms();
	if (b->ops->inspect(b, container_ref, &c, INSPECT_TIMEOUT_MS, &err) != 0)
		return;
	if (strcmp(c.started_at, t->started_at) != 0 || strcmp(c.id, t->container_id) != 0) {
		/* A new run: a new start period, no failures yet. */
		snprintf(t->started_at, sizeof(t->started_at), "%s", c.started_at);
		snprintf(t->container_id, sizeof(t->container_id), "%s", c.id);
		t->start_ms = clock_monotonic_ms();
		t->failures = 0;
	}
	snprintf(t->ip, sizeof(t->ip), "%s", c.ip);
}

static void
drop(struct health_monitor *m, size_t i)
{
	check_free(&m->targets[i].check);
	m->targets[i] = m->targets[--m->n_targets];
}

static const Berth__V1__Template *
template_of(Berth__V1__Template **templates, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(templates[i]->name, name) == 0)
			return templates[i];
	return NULL;
}

/* Adds or refreshes the target of a running service with a check. */
static void
track(struct health_monitor *m, const Berth__V1__Service *row, const Berth__V1__Template *tpl)
{
	struct target *t = find(m, row->service_id);

	if (t == NULL) {
		if (m->n_targets == m->cap_targets) {
			size_t cap = m->cap_targets ? m->cap_targets * 2 : 32;
			struct target *bigger = realloc(m->targets, cap * sizeof(*bigger));

			if (bigger == NULL)
				return;
			m->targets = bigger;
			m->cap_targets = cap;
		}
		t = &m->targets[m->n_targets++];
		memset(t, 0, sizeof(*t)); /* t->check too: nothing to free */
		snprintf(t->id, sizeof(t->id), "%s", row->service_id);
		snprintf(t->verdict, sizeof(t->verdict), "%s", row->health);
		snprintf(t->message, sizeof(t->message), "%s", row->health_message);
		t->next_ms = clock_monotonic_ms();
	}
	t->seen = true;
	snprintf(t->template_name, sizeof(t->template_name), "%s", row->template_);
	t->host_port = row->port;
	if (!check_same(&t->check, tpl->health)) {
		if (!check_copy(&t->check, tpl->health)) {
			t->seen = false; /* out of memory: dropped below, tried again */
			return;
		}
		t->failures = 0;
	}
	t->port = (uint16_t)tpl->container_port;
	snprintf(t->restart, sizeof(t->restart), "%s", row->restart);
	if (t->started_at[0] == '\0' || strcmp(row->container_id, t->container_id) != 0) {
		/* Another container (a rollout's new one): its verdict starts afresh. */
		bool replaced = t->started_at[0] != '\0';

		inspect(m, t, row->container_id[0] != '\0' ? row->container_id : row->container_name);
		if (replaced) {
			t->probe_no = 0; /* a result in flight was the old container's */
			t->next_ms = clock_monotonic_ms();
		}
		if (replaced || (strcmp(t->verdict, HEALTH_HEALTHY) != 0 &&
				    strcmp(t->verdict, HEALTH_UNHEALTHY) != 0))
			set_verdict(m, t, row, HEALTH_STARTING, replaced ? "new container" : t->message);
	}
}

/*
 * Reads which running services have a check; a service that stopped (or
 * lost its check) leaves the set, its verdict "starting" (not running) or
 * "none" (no check).
 */
static void
resync(struct health_monitor *m)
{
	Berth__V1__Template **templates;
	Berth__V1__Service **rows;
	size_t n_templates, n_rows;
	struct arena a;

	arena_init(&a);
	if (registry_template_list(m->reg, &a, &templates, &n_templates) != 0 ||
	    registry_service_list(m->reg, &a, NULL, NULL, &rows, &n_rows) != 0) {
		log_warn("health cannot read the registry error=\"%s\"", registry_error(m->reg)->message);
		arena_reset(&a);
		return;
	}
	for (size_t i = 0; i < m->n_targets; i++)
		m->targets[i].seen = false;
	for (size_t i = 0; i < n_rows; i++) {
		const Berth__V1__Service *row = rows[i];
		const Berth__V1__Template *tpl = template_of(templates, n_templates, row->template_);
		bool checked = tpl != NULL && health_checked_by_berth(m->d, tpl);

		if (checked && strcmp(row->status, STATUS_RUNNING) == 0) {
			track(m, row, tpl);
		} else if (!checked && strcmp(row->health, HEALTH_NONE) != 0) {
			registry_service_set_health(m->reg, row->service_id, HEALTH_NONE, "");
		} else if (checked && strcmp(row->health, HEALTH_STARTING) != 0) {
			registry_service_set_health(m->reg, row->service_id, HEALTH_STARTING,
			    "not running");
		}
	}
	for (size_t i = m->n_targets; i-- > 0;)
		if (!m->targets[i].seen)
			drop(m, i);
	arena_reset(&a);
}

/* Starts the target's probe. */
static void
probe(struct health_monitor *m, struct target *t)
{
	int64_t now = clock_monotonic_ms();
	int timeout_ms = (int)t->check.timeout_s * 1000;
	uint64_t no = ++m->next_probe_no;

	t->next_ms = now + (int64_t)t->check.interval_s * 1000;
	if (rollout_stale_container(t->id, t->container_id)) {
		t->next_ms = now + 100; /* a rollout stops it: the new one is probed once seen */
		return;
	}
	if (strcmp(t->check.kind, "exec") == 0) {
		struct exec_job *job = calloc(1, sizeof(*job));

		if (job == NULL || m->d->backend.ops->exec == NULL) {
			free(job);
			return;
		}
		snprintf(job->id, sizeof(job->id), "%s", t->id);
		snprintf(job->container_id, sizeof(job->container_id), "%s", t->container_id);
		job->argv = calloc(t->check.n_exec_command + 1, sizeof(char *));
		for (size_t i = 0; job->argv != NULL && i < t->check.n_exec_command; i++)
			job->argv[job->argc++] = strdup(t->check.exec_command[i]);
		job->timeout_ms = timeout_ms;
		job->probe_no = no;
		pthread_mutex_lock(&m->mu);
		job->next = m->jobs;
		m->jobs = job;
		pthread_cond_signal(&m->exec_cv);
		pthread_mutex_unlock(&m->mu);
		t->probe_no = no;
		return;
	}
	struct probe_request req;
	struct probe_ticket *ticket;

	if (t->ip[0] == '\0' || probe_request_address(&req, t->ip, t->port, timeout_ms) != 0) {
		t->probe_no = no;
		post_result(m, t->id, no, false, "the container has no address on its network");
		return;
	}
	if (strcmp(t->check.kind, "http") == 0) {
		req.kind = PROBE_HTTP;
		snprintf(req.http_path, sizeof(req.http_path), "%s", t->check.http_path);
	}
	if ((ticket = calloc(1, sizeof(*ticket))) == NULL)
		return;
	ticket->m = m;
	ticket->probe_no = no;
	snprintf(ticket->id, sizeof(ticket->id), "%s", t->id);
	if (prober_submit(m->prober, &req, on_probe_done, ticket) != 0) {
		free(ticket); /* the prober is full: this interval goes unprobed */
		return;
	}
	t->probe_no = no;
}

/*
 * A probe came back: the verdict, and the supervisor when it is unhealthy.
 * No registry read per result: the target is as running as the last
 * resync (at most RESYNC_MS ago) saw it, and a verdict written for a
 * service stopped since is set right by the next resync.
 */
static void
judge(struct health_monitor *m, const struct result *r)
{
	struct target *t = find(m, r->id);
	Berth__V1__Service row_buf = BERTH__V1__SERVICE__INIT, *row = &row_buf;
	int64_t now = clock_monotonic_ms();

	if (t == NULL || t->probe_no != r->probe_no)
		return; /* a target since gone or replaced */
	t->probe_no = 0;
	if (rollout_stale_container(t->id, t->container_id))
		return; /* of a container a rollout is replacing */
	/* What the events say of the service. */
	row->service_id = t->id;
	row->template_ = t->template_name;
	row->port = t->host_port;
	row->status = STATUS_RUNNING;
	if (r->healthy) {
		t->failures = 0;
		set_verdict(m, t, row, HEALTH_HEALTHY, "");
		return;
	}
	/* Failing: has the container started anew (a restart berth made, say)? */
	if (now - t->inspected_ms >= (int64_t)t->check.interval_s * 1000)
		inspect(m, t, t->container_id);
	if (now - t->start_ms < (int64_t)t->check.start_period_s * 1000) {
		set_verdict(m, t, row, strcmp(t->verdict, HEALTH_HEALTHY) == 0 ? HEALTH_HEALTHY :
										HEALTH_STARTING,
		    r->error);
		return;
	}
	t->failures++;
	if (t->failures < t->check.retries) {
		set_verdict(m, t, row, t->verdict, r->error);
	} else if (strcmp(t->verdict, HEALTH_UNHEALTHY) != 0) {
		set_verdict(m, t, row, HEALTH_UNHEALTHY, r->error);
		if (strcmp(t->restart, RESTART_NO) != 0)
			supervisor_unhealthy(m->d, t->id);
	} else {
		set_verdict(m, t, row, HEALTH_UNHEALTHY, r->error);
	}
}

static void *
run(void *arg)
{
	struct health_monitor *m = arg;
	int64_t next_resync = 0, last_resync = 0;
	uint64_t seen_generation = 0;

	pthread_mutex_lock(&m->mu);
	while (!m->stop) {
		struct result *results = m->results;
		struct timespec ts;
		int64_t now;

		m->results = NULL;
		pthread_mutex_unlock(&m->mu);
		while (results != NULL) {
			struct result *next = results->next;

			judge(m, results);
			free(results);
			results = next;
		}
		now = clock_monotonic_ms();
		/* Read the registry again only when a service changed (or a while passed). */
		if (now >= next_resync && (registry_generation() != seen_generation ||
					      now - last_resync >= RESYNC_IDLE_MS)) {
			seen_generation = registry_generation();
			resync(m);
			last_resync = now;
			next_resync = now + RESYNC_MS;
		}
		for (size_t i = 0; i < m->n_targets; i++)
			if (m->targets[i].probe_no == 0 && m->targets[i].next_ms <= now)
				probe(m, &m->targets[i]);
		pthread_mutex_lock(&m->mu);
		if (m->stop || m->results != NULL)
			continue;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&m->cv, &m->mu, &ts);
	}
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

int
health_monitor_start(struct berthd *d)
{
	struct health_monitor *m = calloc(1, sizeof(*m));
	pthread_condattr_t ca;
	struct error err = { 0 };
	int rv;

	if (m == NULL)
		goto fail;
	m->d = d;
	if (registry_open(&m->reg, d->db_path, false, &err) != 0)
		goto fail;
	if ((m->prober = prober_start(PROBER_INFLIGHT, PROBER_QUEUE, &err)) == NULL)
		goto fail;
	pthread_mutex_init(&m->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&m->exec_cv, NULL);
	/* Signals stay blocked: the threads inherit the main thread's mask. */
	for (size_t i = 0; i < EXEC_WORKERS; i++)
		if (pthread_create(&m->exec_threads[i], NULL, exec_worker, m) == 0)
			m->n_exec_threads++;
	if ((rv = pthread_create(&m->thread, NULL, run, m)) != 0) {
		snprintf(err.message, sizeof(err.message), "%s", strerror(rv));
		d->health = m;
		health_monitor_stop(d);
		log_error("health checks are off error=\"%s\"", err.message);
		return -1;
	}
	d->health = m;
	return 0;
fail:
	log_error("health checks are off error=\"%s\"", m == NULL ? "out of memory" : err.message);
	if (m != NULL) {
		prober_stop(m->prober);
		if (m->reg != NULL)
			registry_close(m->reg);
		free(m);
	}
	return -1;
}

void
health_monitor_stop(struct berthd *d)
{
	struct health_monitor *m = d->health;
	bool running;

	if (m == NULL)
		return;
	pthread_mutex_lock(&m->mu);
	running = !m->stop;
	m->stop = true;
	pthread_cond_broadcast(&m->cv);
	pthread_cond_broadcast(&m->exec_cv);
	pthread_mutex_unlock(&m->mu);
	if (running && m->thread != 0)
		pthread_join(m->thread, NULL);
	for (size_t i = 0; i < m->n_exec_threads; i++)
		pthread_join(m->exec_threads[i], NULL);
	prober_stop(m->prober); /* cancels what is in flight: their results land below */
	while (m->results != NULL) {
		struct result *next = m->results->next;

		free(m->results);
		m->results = next;
	}
	while (m->jobs != NULL) {
		struct exec_job *next = m->jobs->next;

		for (size_t i = 0; i < m->jobs->argc; i++)
			free(m->jobs->argv[i]);
		free(m->jobs->argv);
		free(m->jobs);
		m->jobs = next;
	}
	for (size_t i = 0; i < m->n_targets; i++)
		check_free(&m->targets[i].check);
	free(m->targets);
	registry_close(m->reg);
	pthread_mutex_destroy(&m->mu);
	pthread_cond_destroy(&m->cv);
	pthread_cond_destroy(&m->exec_cv);
	d->health = NULL;
	free(m);
}
