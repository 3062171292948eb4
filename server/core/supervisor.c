/*
 * supervisor.c - the supervisor thread (supervisor.h says what it decides).
 *
 * Threads: notices come from any thread into a small queue under `mu`;
 * everything else runs on the supervisor thread, which owns its registry
 * connection. A look takes the service's lock, so it waits for a launch,
 * stop, restart or remove at work on the service, and then sees what that
 * call left.
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
#include "core/lifecycle.h"
#include "core/service_lock.h"
#include "core/supervisor.h"

#define QUEUE_MAX 4096         /* beyond it, one look at everything instead */
#define LOCK_WAIT_MS 2000      /* a busy service is looked at again later */
#define BUSY_RETRY_MS 1000
#define REVIVE_TIMEOUT_MS 60000
#define INSPECT_TIMEOUT_MS 5000

enum why {
	WHY_LOOK,      /* its container may have stopped */
	WHY_AUTOSTART, /* start-up: start it if it should run */
	WHY_DUE,       /* a restart's delay is over */
	WHY_DUE_FORCE, /* ... and restart it even if it runs (it was unhealthy) */
	WHY_UNHEALTHY, /* the health monitor's verdict */
	WHY_RECONNECT, /* Docker is back after an outage: its container may have died in it */
};

struct item {
	char id[128];
	enum why why;
	int64_t due_ms; /* monotonic */
	/* For the latency figure: when the crash was noticed, and the delay chosen (WHY_DUE*). */
	int64_t noticed_us, delay_us;
};

struct supervisor {
	struct berthd *d;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;              /* under mu */
	bool look_all;          /* under mu */
	bool started_up;        /* the first look at everything was the start-up's */
	_Atomic int64_t outage_since_ms; /* wall clock: when the event stream was lost; 0 none */
	struct item *items;     /* under mu */
	size_t n_items;
	struct item current;     /* thread only: the item at work */
	struct registry *reg;   /* the thread's own */
};

static _Atomic uint64_t restarts_total, giveups_total;

uint64_t
supervisor_restarts_total(void)
{
	return atomic_load_explicit(&restarts_total, memory_order_relaxed);
}

uint64_t
supervisor_giveups_total(void)
{
	return atomic_load_explicit(&giveups_total, memory_order_relaxed);
}

int64_t
supervisor_backoff_ms(uint32_t level)
{
	int64_t ms = SUPERVISOR_BACKOFF_MIN_MS;

	while (level-- > 0 && ms < SUPERVISOR_BACKOFF_MAX_MS)
		ms *= 2;
	return ms < SUPERVISOR_BACKOFF_MAX_MS ? ms : SUPERVISOR_BACKOFF_MAX_MS;
}

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Docker's RFC 3339 time (nanoseconds ignored) as Unix ms; 0 when unset or zero. */
static int64_t
docker_time_ms(const char *s)
{
	struct tm tm = { 0 };
	const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);

	if (rest == NULL || tm.tm_year < 100) /* Docker's zero time is year 1 */
		return 0;
	return (int64_t)timegm(&tm) * 1000;
}

/* --- the queue ------------------------------------------------------------- */

/* Adds (or moves earlier) a look at id; under mu. */
static void
enqueue_locked(struct supervisor *sv, const char *id, enum why why, int64_t due_ms,
    int64_t noticed_us, int64_t delay_us)
{
	for (size_t i = 0; i < sv->n_items; i++) {
		if (sv->items[i].why == why && strcmp(sv->items[i].id, id) == 0) {
			if (due_ms < sv->items[i].due_ms)
				sv->items[i].due_ms = due_ms;
			return;
		}
	}
	if (sv->n_items == QUEUE_MAX) {
		sv->look_all = true; /* nothing is lost: everything is looked at */
		return;
	}
	snprintf(sv->items[sv->n_items].id, sizeof(sv->items[0].id), "%s", id);
	sv->items[sv->n_items].why = why;
	sv->items[sv->n_items].noticed_us = noticed_us;
	sv->items[sv->n_items].delay_us = delay_us;
	sv->items[sv->n_items++].due_ms = due_ms;
}

static void
enqueue(struct supervisor *sv, const char *id, enum why why, int64_t due_ms)
{
	pthread_mutex_lock(&sv->mu);
	enqueue_locked(sv, id, why, due_ms, clock_monotonic_us(), 0);
	pthread_cond_signal(&sv->cv);
	pthread_mutex_unlock(&sv->mu);
}

void
supervisor_notice(struct berthd *d, const char *service_id)
{
	if (d->supervisor != NULL)
		enqueue(d->supervisor, service_id, WHY_LOOK, clock_monotonic_ms());
}

void
supervisor_unhealthy(struct berthd *d, const char *service_id)
{
	if (d->supervisor != NULL)
		enqueue(d->supervisor, service_id, WHY_UNHEALTHY, clock_monotonic_ms());
}

void
supervisor_stream_lost(struct berthd *d)
{
	struct supervisor *sv = d->supervisor;
	int64_t none = 0;

	/* The first loss of a run of them: the outage began then. */
	if (sv != NULL)
		atomic_compare_exchange_strong(&sv->outage_since_ms, &none, wall_ms());
}

void
supervisor_notice_all(struct berthd *d)
{
	struct supervisor *sv = d->supervisor;

	if (sv == NULL)
		return;
	pthread_mutex_lock(&sv->mu);
	sv->look_all = true;
	pthread_cond_signal(&sv->cv);
	pthread_mutex_unlock(&sv->mu);
}

/* --- decisions --------------------------------------------------------------- */

static void
put(struct supervisor *sv, const char *id, const struct supervision *s)
{
	if (registry_supervision_put(sv->reg, id, s) != 0)
		log_warn("supervisor cannot record its state service=%s error=\"%s\"", id,
		    registry_error(sv->reg)->message);
}

/*
 * A crash (or an unhealthy verdict, or a failed restart): schedule the
 * next restart after its delay, or give up when the window is full.
 */
static void
crashed(struct supervisor *sv, Berth__V1__Service *row, struct supervision *s, int exit_code,
    bool ran_long, bool force, const char *what)
{
	int64_t now = wall_ms(), delay;

	if (ran_long)
		s->backoff_level = 0;
	if (s->window_started_at == 0 ||
	    now - s->window_started_at > (int64_t)s->restart_window_s * 1000) {
		s->window_started_at = now;
		s->window_restarts = 0;
	}
	s->last_exit_code = exit_code;
	row->last_exit_code = exit_code;
	if (s->window_restarts >= s->max_restarts) {
		snprintf(s->state, sizeof(s->state), "%s", SUPERVISOR_FAILED);
		s->next_restart_at = 0;
		put(sv, row->service_id, s);
		row->supervisor = SUPERVISOR_FAILED;
		atomic_fetch_add_explicit(&giveups_total, 1, memory_order_relaxed);
		event_publish(&sv->d->events, BERTH__V1__EVENT__TYPE__SERVICE_FAILED, row, NULL,
		    "%s; gave up after %u restarts within %u s: restart it to try again", what,
		    s->window_restarts, s->restart_window_s);
		log_warn("supervisor gives up service=%s restarts=%u window_s=%u last=\"%s\"",
		    row->service_id, s->window_restarts, s->restart_window_s, what);
		return;
	}
	delay = supervisor_backoff_ms(s->backoff_level);
	if (s->backoff_level < 32)
		s->backoff_level++;
	s->window_restarts++;
	snprintf(s->state, sizeof(s->state), "%s", SUPERVISOR_BACKOFF);
	s->next_restart_at = now + delay;
	put(sv, row->service_id, s);
	row->supervisor = SUPERVISOR_BACKOFF;
	event_publish(&sv->d->events, BERTH__V1__EVENT__TYPE__SERVICE_RESTARTING, row, NULL,
	    "%s; restart %u in %lld ms", what, s->restarts + 1, (long long)delay);
	log_info("supervisor restarts service=%s attempt=%u delay_ms=%lld reason=\"%s\"",
	    row->service_id, s->restarts + 1, (long long)delay, what);
	pthread_mutex_lock(&sv->mu);
	enqueue_locked(sv, row->service_id, force ? WHY_DUE_FORCE : WHY_DUE,
	    clock_monotonic_ms() + delay, sv->current.noticed_us, delay * 1000);
	pthread_cond_signal(&sv->cv);
	pthread_mutex_unlock(&sv->mu);
}

/* Brings the container up now; a failure counts as another crash. */
static void
revive(struct supervisor *sv, Berth__V1__Service *row, struct supervision *s, bool force,
    bool count)
{
	struct call call;
	int code;

	/* Crash noticed to start requested, the delay left out (make bench reads it). */
	int64_t crash_to_start_us = sv->current.noticed_us > 0 ?
	    clock_monotonic_us() - sv->current.noticed_us - sv->current.delay_us : -1;

	/* An attempt counts whether Docker then starts it or not (a port still held, say). */
	if (count) {
		s->restarts++;
		atomic_fetch_add_explicit(&restarts_total, 1, memory_order_relaxed);
	}
	call_init(&call, "supervisor", sv->d, sv->reg, REVIVE_TIMEOUT_MS);
	code = lifecycle_revive(&call, row, force);
	if (code != 0) {
		char what[400];

		snprintf(what, sizeof(what), "restart %u failed: %.360s", s->restarts,
		    call.error.message);
		call_finish(&call);
		crashed(sv, row, s, s->last_exit_code, false, false, what);
		return;
	}
	call_finish(&call);
	snprintf(s->state, sizeof(s->state), "%s", SUPERVISOR_OK);
	s->next_restart_at = 0;
	put(sv, row->service_id, s);
	if (count)
		event_publish(&sv->d->events, BERTH__V1__EVENT__TYPE__SERVICE_STARTED, row, NULL,
		    "restarted by berth (restart %u)", s->restarts);
	else
		event_publish(&sv->d->events, BERTH__V1__EVENT__TYPE__SERVICE_STARTED, row, NULL,
		    "started by berth at start-up: it should run");
	log_info("supervisor started service=%s restarts=%u autostart=%d crash_to_start_us=%lld",
	    row->service_id, s->restarts, !count, (long long)crash_to_start_us);
}

/* The container's state: *gone when it was deleted; -1 when Docker did not answer. */
static int
inspect(struct supervisor *sv, const Berth__V1__Service *row, struct docker_container *c,
    bool *gone)
{
	struct backend *b = &sv->d->backend;
	struct error err = { 0 };
	int code = b->ops->inspect(b, row->container_id[0] != '\0' ? row->container_id :
									row->container_name,
	    c, INSPECT_TIMEOUT_MS, &err);

	*gone = code == BERTH__V1__CODE__NOT_FOUND;
	if (code != 0 && !*gone) {
		log_debug("supervisor cannot inspect service=%s error=\"%s\"", row->service_id,
		    err.message);
		return -1; /* the reconnect's look at everything comes back to it */
	}
	return 0;
}

/* Whether the stopped container had run long enough to forgive its past crashes. */
static bool
ran_long(const struct docker_container *c, bool running)
{
	int64_t started = docker_time_ms(c->started_at);
	int64_t ended = running ? wall_ms() : docker_time_ms(c->finished_at);

	return started > 0 && ended >= started + SUPERVISOR_BACKOFF_RESET_MS;
}

/* One look at a service, its lock held. */
static void
decide(struct supervisor *sv, Berth__V1__Service *row, struct supervision *s, enum why why)
{
	struct docker_container c = { 0 };
	bool gone, running;
	char what[160];

	if (strcmp(row->status, STATUS_CREATING) == 0 || strcmp(row->status, STATUS_REMOVING) == 0)
		return; /* the launch or remove at work decides */
	if (strcmp(sv->d->backend.ops->name, "swarm") == 0)
		return; /* Swarm restarts its tasks itself (its restart policy, the Healthcheck) */
	if (strcmp(s->desired_state, DESIRED_RUNNING) != 0 || strcmp(s->restart, RESTART_NO) == 0 ||
	    strcmp(s->state, SUPERVISOR_FAILED) == 0)
		return;
	if (inspect(sv, row, &c, &gone) != 0)
		return;
	running = !gone && (strcmp(c.state, "running") == 0 || strcmp(c.state, "paused") == 0 ||
			       strcmp(c.state, "restarting") == 0);

	if (why == WHY_DUE || why == WHY_DUE_FORCE) {
		if (strcmp(s->state, SUPERVISOR_BACKOFF) != 0)
			return; /* an operator stepped in meanwhile */
		if (s->next_restart_at > wall_ms() + 50) { /* early: moved by a later crash */
			enqueue(sv, row->service_id, why,
			    clock_monotonic_ms() + (s->next_restart_at - wall_ms()));
			return;
		}
		if (running && why == WHY_DUE) {
			snprintf(s->state, sizeof(s->state), "%s", SUPERVISOR_OK);
			s->next_restart_at = 0;
			put(sv, row->service_id, s);
			return; /* someone started it */
		}
		revive(sv, row, s, running, true);
		return;
	}
	if (running && why != WHY_UNHEALTHY) {
		if (strcmp(s->state, SUPERVISOR_BACKOFF) == 0 && why != WHY_AUTOSTART) {
			snprintf(s->state, sizeof(s->state), "%s", SUPERVISOR_OK);
			s->next_restart_at = 0;
			put(sv, row->service_id, s);
		}
		return;
	}
	if (strcmp(s->state, SUPERVISOR_BACKOFF) == 0) {
		/* Already due (after a restart of berthd the timer is lost: set it again). */
		int64_t left = s->next_restart_at - wall_ms();

		enqueue(sv, row->service_id, WHY_DUE, clock_monotonic_ms() + (left > 0 ? left : 0));
		return;
	}
	if (why == WHY_AUTOSTART) {
		revive(sv, row, s, false, false);
		return;
	}
	if (why == WHY_UNHEALTHY) {
		if (!running)
			return; /* it stopped on its own: its die brings a look of its own */
		crashed(sv, row, s, s->last_exit_code, ran_long(&c, true), true, "unhealthy");
		return;
	}
	/*
	 * A dockerd that stops stops its containers (exit 0 on SIGTERM): one
	 * that died during the outage is down, not done, whatever its code.
	 */
	int64_t outage = atomic_load(&sv->outage_since_ms);
	bool died_in_outage = why == WHY_RECONNECT && outage > 0 && !gone &&
	    docker_time_ms(c.finished_at) >= outage - 2000;

	if (!gone && c.exit_code == 0 && strcmp(s->restart, RESTART_ON_FAILURE) == 0 &&
	    !died_in_outage) {
		if (s->last_exit_code != 0) {
			s->last_exit_code = 0;
			put(sv, row->service_id, s);
		}
		return; /* a clean exit: on-failure leaves it */
	}
	if (gone)
		snprintf(what, sizeof(what), "its container was deleted");
	else if (died_in_outage)
		snprintf(what, sizeof(what), "stopped while Docker was away (exit code %d)",
		    c.exit_code);
	else
		snprintf(what, sizeof(what), "exited with code %d", c.exit_code);
	crashed(sv, row, s, gone ? -1 : c.exit_code, !gone && ran_long(&c, false), false, what);
}

static void
look(struct supervisor *sv, const char *id, enum why why)
{
	struct berthd *d = sv->d;
	struct supervision s;
	Berth__V1__Service *row;
	struct arena a;

	if (service_lock(d->locks, id, clock_monotonic_ms() + LOCK_WAIT_MS) != 0) {
		pthread_mutex_lock(&sv->mu); /* busy: again later, the wait counted as delay */
		enqueue_locked(sv, id, why, clock_monotonic_ms() + BUSY_RETRY_MS,
		    sv->current.noticed_us, sv->current.delay_us + BUSY_RETRY_MS * 1000);
		pthread_mutex_unlock(&sv->mu);
		return;
	}
	arena_init(&a);
	if (registry_service_get(sv->reg, &a, id, &row) == 0 &&
	    registry_supervision_get(sv->reg, id, &s) == 0)
		decide(sv, row, &s, why);
	service_unlock(d->locks, id);
	arena_reset(&a);
}

/* Every service, once: at start-up (autostart) or after a reconnect. */
static void
look_at_everything(struct supervisor *sv)
{
	enum why why = sv->started_up ? WHY_RECONNECT : WHY_AUTOSTART;
	struct arena a;
	char **ids;
	size_t n;

	sv->started_up = true;
	arena_init(&a);
	if (registry_service_ids(sv->reg, &a, &ids, &n) != 0) {
		log_warn("supervisor cannot list services error=\"%s\"",
		    registry_error(sv->reg)->message);
		n = 0;
	}
	for (size_t i = 0; i < n; i++) {
		pthread_mutex_lock(&sv->mu);
		bool stop = sv->stop;
		pthread_mutex_unlock(&sv->mu);
		if (stop)
			break;
		look(sv, ids[i], why);
	}
	arena_reset(&a);
	atomic_store(&sv->outage_since_ms, 0); /* every service has been looked at since */
}

/* --- the thread ---------------------------------------------------------------- */

/* Takes the earliest due item, or waits for one; false when asked to stop. */
static bool
next_item(struct supervisor *sv, struct item *out, bool *all)
{
	pthread_mutex_lock(&sv->mu);
	for (;;) {
		int64_t now = clock_monotonic_ms(), earliest = INT64_MAX;
		size_t pick = SIZE_MAX;

		if (sv->stop) {
			pthread_mutex_unlock(&sv->mu);
			return false;
		}
		if (sv->look_all) {
			sv->look_all = false;
			*all = true;
			pthread_mutex_unlock(&sv->mu);
			return true;
		}
		for (size_t i = 0; i < sv->n_items; i++) {
			if (sv->items[i].due_ms < earliest) {
				earliest = sv->items[i].due_ms;
				pick = i;
			}
		}
		if (pick != SIZE_MAX && earliest <= now) {
			*out = sv->items[pick];
			sv->items[pick] = sv->items[--sv->n_items];
			*all = false;
			pthread_mutex_unlock(&sv->mu);
			return true;
		}
		if (pick == SIZE_MAX) {
			pthread_cond_wait(&sv->cv, &sv->mu);
		} else {
			struct timespec ts;
			int64_t wait = earliest - now;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += wait / 1000;
			ts.tv_nsec += (wait % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&sv->cv, &sv->mu, &ts);
		}
	}
}

static void *
run(void *arg)
{
	struct supervisor *sv = arg;
	struct item it;
	bool all;

	while (next_item(sv, &it, &all)) {
		memset(&sv->current, 0, sizeof(sv->current));
		if (all) {
			look_at_everything(sv);
		} else {
			sv->current = it;
			look(sv, it.id, it.why);
		}
	}
	return NULL;
}

int
supervisor_start(struct berthd *d)
{
	struct supervisor *sv = calloc(1, sizeof(*sv));
	pthread_condattr_t ca;
	struct error err;
	int rv;

	if (sv == NULL || (sv->items = calloc(QUEUE_MAX, sizeof(*sv->items))) == NULL) {
		free(sv);
		log_error("supervisor cannot start, services are not kept alive error=\"out of memory\"");
		return -1;
	}
	sv->d = d;
	if (registry_open(&sv->reg, d->db_path, false, &err) != 0) {
		log_error("supervisor cannot open the registry, services are not kept alive "
			  "error=\"%s\"",
		    err.message);
		free(sv->items);
		free(sv);
		return -1;
	}
	pthread_mutex_init(&sv->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sv->cv, &ca);
	pthread_condattr_destroy(&ca);
	/* Signals stay blocked: the thread inherits the main thread's mask. */
	if ((rv = pthread_create(&sv->thread, NULL, run, sv)) != 0) {
		log_error("supervisor cannot start error=\"%s\"", strerror(rv));
		registry_close(sv->reg);
		free(sv->items);
		free(sv);
		return -1;
	}
	d->supervisor = sv;
	return 0;
}

void
supervisor_stop(struct berthd *d)
{
	struct supervisor *sv = d->supervisor;

	if (sv == NULL)
		return;
	pthread_mutex_lock(&sv->mu);
	sv->stop = true;
	pthread_cond_signal(&sv->cv);
	pthread_mutex_unlock(&sv->mu);
	pthread_join(sv->thread, NULL);
	d->supervisor = NULL;
	registry_close(sv->reg);
	pthread_mutex_destroy(&sv->mu);
	pthread_cond_destroy(&sv->cv);
	free(sv->items);
	free(sv);
}
