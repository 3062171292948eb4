/*
 * docker_events.c - the event follower thread: Docker's events in, registry
 * rows and berth's own events out.
 *
 * Threads: everything below runs on the follower thread, except
 * docker_events_start/stop (main thread). The thread owns its registry
 * connection and all of struct docker_events but `stop` (atomic). Shared
 * daemon state it uses is thread-safe: the backend, the service locks, the
 * event publisher, the port allocator (through reconcile_run).
 */
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/berthd.h"
#include "clock.h"
#include "core/event_follower.h"
#include "core/events.h"
#include "core/lifecycle.h"
#include "base/log.h"
#include "core/ports.h"
#include "core/reconcile.h"
#include "core/service_lock.h"
#include "core/supervisor.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define RECHECK_MS 1000          /* a busy service is looked at again after this */
#define MAX_PENDING 64
#define MAX_OOM 8
#define INSPECT_TIMEOUT_MS 5000
#define RECONCILE_TIMEOUT_MS 30000

/* A service whose event arrived while it was busy. */
struct pending {
	char service_id[128];
	int64_t due_ms;
};

struct docker_events {
	struct berthd *d;
	pthread_t thread;
	atomic_bool stop;                      /* set by docker_events_stop */
	struct registry *reg;                  /* the thread's own connection */
	bool connected;                        /* this attempt opened the stream */
	bool ever_connected;
	bool outage_logged;                    /* one warning per outage */
	struct pending pending[MAX_PENDING];
	size_t n_pending;
	char oom[MAX_OOM][DOCKER_ID_LEN + 1];  /* containers that hit "oom", until they die */
	size_t oom_next;
};

/* Times the stream came back after it was lost; written by the follower thread. */
static _Atomic uint64_t reconnects;

uint64_t
event_follower_reconnects_total(void)
{
	return atomic_load_explicit(&reconnects, memory_order_relaxed);
}

/* --- small state ------------------------------------------------------------ */

static void
defer(struct docker_events *f, const char *service_id)
{
	int64_t due = clock_monotonic_ms() + RECHECK_MS;

	for (size_t i = 0; i < f->n_pending; i++) {
		if (strcmp(f->pending[i].service_id, service_id) == 0) {
			f->pending[i].due_ms = due;
			return;
		}
	}
	if (f->n_pending == MAX_PENDING) {
		/* Reconciliation after the next reconnect still catches the oldest. */
		log_debug("docker events forget a busy service, too many service=%s",
		    f->pending[0].service_id);
		memmove(&f->pending[0], &f->pending[1], sizeof(f->pending[0]) * (MAX_PENDING - 1));
		f->n_pending--;
	}
	snprintf(f->pending[f->n_pending].service_id, sizeof(f->pending[0].service_id), "%s",
	    service_id);
	f->pending[f->n_pending++].due_ms = due;
}

static void
remember_oom(struct docker_events *f, const char *container_id)
{
	snprintf(f->oom[f->oom_next], sizeof(f->oom[0]), "%s", container_id);
	f->oom_next = (f->oom_next + 1) % MAX_OOM;
}

/* Whether the container ran out of memory since we last asked; forgets it. */
static bool
take_oom(struct docker_events *f, const char *container_id)
{
	for (size_t i = 0; i < MAX_OOM; i++) {
		if (container_id[0] != '\0' && strcmp(f->oom[i], container_id) == 0) {
			f->oom[i][0] = '\0';
			return true;
		}
	}
	return false;
}

/* Sleeps ms unless asked to stop; true when asked. */
static bool
sleep_or_stop(struct docker_events *f, int64_t ms)
{
	int64_t until = clock_monotonic_ms() + ms;

	while (!atomic_load(&f->stop)) {
		int64_t left = until - clock_monotonic_ms();
		struct timespec ts = { 0, 0 };

		if (left <= 0)
			return false;
		ts.tv_nsec = (left < 50 ? left : 50) * 1000000L;
		nanosleep(&ts, NULL);
	}
	return true;
}

/* --- one service ------------------------------------------------------------- */

/*
 * The row's status that tells the truth about a container berth did not
 * ask to change (reconcile.c decides), where an "oom" event seen for the
 * container turns a death into "dead".
 */
static const char *
truthful_status(struct docker_events *f, const Berth__V1__Service *row,
    const struct docker_container *c, bool *oom)
{
	const char *status = reconcile_truthful_status(row, c);

	*oom = strcmp(status, STATUS_RUNNING) != 0 && take_oom(f, c->id);
	if (*oom && strcmp(status, STATUS_STOPPED) != 0)
		return STATUS_DEAD;
	return status;
}

/* Writes the new status and tells subscribers. */
static void
record(struct docker_events *f, Berth__V1__Service *row, const char *status,
    const struct docker_container *c, bool oom)
{
	struct berthd *d = f->d;
	const char *was = row->status;
	int code;

	if ((code = registry_service_update(f->reg, row->service_id, status, NULL)) != 0) {
		/* A full disk, say: the row would lie until the next reconnect. Try again soon. */
		log_warn("docker events cannot update the row, retrying service=%s error=\"%s\"",
		    row->service_id, registry_error(f->reg)->message);
		defer(f, row->service_id);
		return;
	}
	row->status = (char *)status;
	if (strcmp(status, STATUS_MISSING) == 0) {
		event_publish(&d->events, BERTH__V1__EVENT__TYPE__SERVICE_MISSING, row, NULL,
		    "its container was removed outside berth");
	} else if (strcmp(status, STATUS_RUNNING) == 0) {
		event_publish(&d->events, BERTH__V1__EVENT__TYPE__SERVICE_STARTED, row, NULL,
		    "its container started outside berth");
	} else if (strcmp(status, STATUS_STOPPED) == 0) {
		event_publish(&d->events, BERTH__V1__EVENT__TYPE__SERVICE_STOPPED, row, NULL,
		    "its container is not running");
	} else if (oom) {
		event_publish(&d->events, BERTH__V1__EVENT__TYPE__SERVICE_DIED, row, NULL,
		    "killed: out of memory (exit code %d)", c->exit_code);
	} else {
		event_publish(&d->events, BERTH__V1__EVENT__TYPE__SERVICE_DIED, row, NULL,
		    "exited with code %d", c->exit_code);
	}
	log_info("service changed outside berth service=%s status=%s was=%s exit_code=%d%s",
	    row->service_id, status, was, strcmp(status, STATUS_MISSING) == 0 ? -1 : c->exit_code,
	    oom ? " oom=1" : "");
}

/*
 * Brings one service's row in line with its container. `ev` is the event
 * that asked (NULL for a deferred look): an event about another container
 * than the row's (an earlier one of the same service) is ignored. A row a
 * lifecycle call is working on is left to that call and looked at again
 * later: the call writes what it did, and only a container that changed
 * after it (died right after a start, say) needs the second look.
 */
static void
settle(struct docker_events *f, const char *service_id, const struct docker_event *ev)
{
	struct berthd *d = f->d;
	struct error err = { 0 };
	struct docker_container live = { 0 };
	Berth__V1__Service *row;
	const char *status;
	struct arena a;
	bool oom = false;
	int code;

	if (!service_trylock(d->locks, service_id)) {
		defer(f, service_id);
		return;
	}
	arena_init(&a);
	code = registry_service_get(f->reg, &a, service_id, &row);
	if (code != 0) {
		if (code != BERTH__V1__CODE__NOT_FOUND)
			log_warn("docker events cannot read the row service=%s error=\"%s\"",
			    service_id, registry_error(f->reg)->message);
		goto out;
	}
	/* A Swarm task's container speaks for its service, whose id the row keeps. */
	if (ev != NULL && ev->id[0] != '\0' && row->container_id[0] != '\0' &&
	    strcmp(row->container_id,
		ev->swarm_service_id[0] != '\0' ? ev->swarm_service_id : ev->id) != 0)
		goto out;
	if (strcmp(row->status, STATUS_CREATING) == 0) {
		defer(f, service_id); /* the launch writes "running" any moment */
		goto out;
	}
	if (strcmp(row->status, STATUS_REMOVING) == 0)
		goto out;
	code = d->backend.ops->inspect(&d->backend,
	    row->container_id[0] != '\0' ? row->container_id : row->container_name, &live,
	    INSPECT_TIMEOUT_MS, &err);
	if (code == BERTH__V1__CODE__NOT_FOUND) {
		status = STATUS_MISSING;
	} else if (code != 0) {
		/* Docker is going away: reconciliation after the reconnect catches up. */
		log_debug("docker events cannot inspect service=%s error=\"%s\"", service_id,
		    err.message);
		goto out;
	} else {
		status = truthful_status(f, row, &live, &oom);
	}
	if (strcmp(status, row->status) != 0)
		record(f, row, status, &live, oom);
	/* Down: the supervisor decides whether it comes back (after this lock is free). */
	if (strcmp(status, STATUS_RUNNING) != 0)
		supervisor_notice(d, service_id);
out:
	service_unlock(d->locks, service_id);
	arena_reset(&a);
}

/* The service of a container without a berth.service label: by id or name. */
static bool
service_of_container(struct docker_events *f, const struct docker_event *ev, char *out,
    size_t len)
{
	Berth__V1__Service **rows;
	struct arena a;
	size_t n;
	bool found = false;

	arena_init(&a);
	if (registry_service_list(f->reg, &a, NULL, NULL, &rows, &n) == 0) {
		for (size_t i = 0; i < n && !found; i++) {
			if ((ev->id[0] != '\0' && strcmp(rows[i]->container_id, ev->id) == 0) ||
			    (ev->name[0] != '\0' && strcmp(rows[i]->container_name, ev->name) == 0)) {
				snprintf(out, len, "%s", rows[i]->service_id);
				found = true;
			}
		}
	}
	arena_reset(&a);
	return found;
}

/*
 * Keeps the port allocator's view of Docker current: a started container
 * publishes its ports (asked with one inspect), a dead or destroyed one
 * frees them.
 */
static void
track_ports(struct docker_events *f, const struct docker_event *ev)
{
	struct berthd *d = f->d;
	struct error err = { 0 };
	struct docker_container c;

	/* A Swarm service (swarm backend) publishes from its create or update on. */
	bool service = strcmp(ev->type, "service") == 0;
	bool publishes = service ?
	    strcmp(ev->action, "create") == 0 || strcmp(ev->action, "update") == 0 :
	    strcmp(ev->action, "start") == 0;
	bool frees = service ? strcmp(ev->action, "remove") == 0 :
			       strcmp(ev->action, "die") == 0 || strcmp(ev->action, "destroy") == 0;

	if (publishes) {
		if (d->backend.ops->inspect(&d->backend, ev->id, &c, INSPECT_TIMEOUT_MS, &err) == 0)
			ports_docker_update(d->ports, ev->id, c.ports, c.n_ports);
	} else if (frees) {
		ports_docker_update(d->ports, ev->id, NULL, 0);
	}
}

/*
 * A Swarm service was created, updated or removed (swarm backend): its
 * ports, and the row of the instance it is, if any. Service events carry
 * no labels: the row is found by the service's id or name.
 */
static void
on_service_event(struct docker_events *f, const struct docker_event *ev)
{
	char service_id[128];

	track_ports(f, ev);
	if (strcmp(ev->action, "update") != 0 && strcmp(ev->action, "remove") != 0)
		return;
	log_debug("docker event action=%s swarm_service=%.12s name=%s", ev->action, ev->id,
	    ev->name);
	if (service_of_container(f, ev, service_id, sizeof(service_id)))
		settle(f, service_id, ev);
}

/* --- handler of the stream ------------------------------------------------------ */

static int
on_connected(void *arg)
{
	struct docker_events *f = arg;
	struct error derr = { 0 };
	struct reconcile_report report;
	struct call call;
	int code;

	f->connected = true;
	if (f->outage_logged)
		log_info("docker events following again, reconciling what was missed");
	else if (!f->ever_connected)
		log_info("following Docker events data_dir=%s", f->d->data_dir);
	f->outage_logged = false;
	if (f->ever_connected)
		atomic_fetch_add_explicit(&reconnects, 1, memory_order_relaxed);
	f->ever_connected = true;
	/* Subscribed first, then the full listings: nothing falls between the two. */
	if (lifecycle_sync_docker_ports(f->d, RECONCILE_TIMEOUT_MS, &derr) == 0)
		ports_docker_set_live(f->d->ports, true);
	else
		log_warn("docker events cannot list published ports error=\"%s\"", derr.message);
	call_init(&call, "events", f->d, f->reg, RECONCILE_TIMEOUT_MS);
	if ((code = reconcile_run(&call, false, &report)) != 0)
		log_warn("docker events reconciliation failed code=%d error=\"%s\"", code,
		    call.error.message);
	call_finish(&call);
	/* The rows tell the truth now: the supervisor starts what should run. */
	supervisor_notice_all(f->d);
	/*
	 * The listings and the reconciliation above have freed all they parsed
	 * (with 200 containers on the engine, idle berthd held 0.3-1.4 MB more
	 * without this), mostly in this thread's malloc arena, which glibc
	 * shrinks only from its top. Hand the free pages back to the system:
	 * this runs at start-up and after each outage, never per event.
	 */
	malloc_trim(0);
	return 0;
}

static int
on_event(void *arg, const struct docker_event *ev)
{
	struct docker_events *f = arg;
	char service_id[128];

	if (strcmp(ev->type, "service") == 0) {
		on_service_event(f, ev);
		return 0;
	}
	if (strcmp(ev->type, "container") != 0)
		return 0; /* the filter should have kept it away */
	/* Every container's ports matter to the allocator, berth's or not. */
	track_ports(f, ev);
	if (strcmp(ev->label_data_dir, f->d->data_dir) != 0)
		return 0; /* not this berthd's: its row is none of our business */
	if (log_threshold >= LL_DEBUG) {
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		log_debug("docker event action=%s container=%.12s service=%s exit_code=%d lag_ms=%lld",
		    ev->action, ev->id, ev->label_service, ev->exit_code,
		    ev->time_nano > 0 ?
			(long long)(((int64_t)now.tv_sec * 1000000000 + now.tv_nsec - ev->time_nano) /
			    1000000) :
			-1LL);
	}
	if (strcmp(ev->action, "oom") == 0) {
		remember_oom(f, ev->id);
		return 0;
	}
	if (strcmp(ev->action, "start") != 0 && strcmp(ev->action, "die") != 0 &&
	    strcmp(ev->action, "destroy") != 0)
		return 0;
	if (ev->label_service[0] != '\0')
		snprintf(service_id, sizeof(service_id), "%s", ev->label_service);
	else if (!service_of_container(f, ev, service_id, sizeof(service_id)))
		return 0;
	settle(f, service_id, ev);
	return 0;
}

/* Looks again at the services that were busy when their event came. */
static int
on_tick(void *arg)
{
	struct docker_events *f = arg;
	char due[MAX_PENDING][128];
	int64_t now = clock_monotonic_ms();
	size_t n_due = 0, kept = 0;

	for (size_t i = 0; i < f->n_pending; i++) {
		if (f->pending[i].due_ms <= now)
			memcpy(due[n_due++], f->pending[i].service_id, sizeof(due[0]));
		else
			f->pending[kept++] = f->pending[i];
	}
	f->n_pending = kept;
	for (size_t i = 0; i < n_due; i++)
		settle(f, due[i], NULL);
	return 0;
}

static void *
follow(void *arg)
{
	struct docker_events *f = arg;
	const struct docker_events_handler handler = { on_connected, on_event, on_tick, f };
	int64_t backoff = BACKOFF_MIN_MS;
	struct error err;

	if (registry_open(&f->reg, f->d->db_path, false, &err) != 0) {
		log_error("docker events cannot open the registry, live state is off error=\"%s\"",
		    err.message);
		return NULL;
	}
	while (!atomic_load(&f->stop)) {
		struct error derr = { 0 };

		f->connected = false;
		backend_follow_events(&f->d->backend, &handler, &f->stop, &derr);
		/* Stream gone: launches list Docker's ports themselves until it is back. */
		ports_docker_set_live(f->d->ports, false);
		if (atomic_load(&f->stop))
			break;
		supervisor_stream_lost(f->d);
		if (f->connected)
			backoff = BACKOFF_MIN_MS; /* it worked for a while: try again at once */
		if (!f->outage_logged)
			log_warn("docker events stream lost, retrying error=\"%s\"", derr.message);
		else
			log_debug("docker events retry backoff_ms=%lld error=\"%s\"", (long long)backoff,
			    derr.message);
		f->outage_logged = true;
		if (sleep_or_stop(f, backoff))
			break;
		backoff = backoff * 2 < BACKOFF_MAX_MS ? backoff * 2 : BACKOFF_MAX_MS;
	}
	registry_close(f->reg);
	f->reg = NULL;
	return NULL;
}

/* --- start / stop -------------------------------------------------------------- */

int
docker_events_start(struct berthd *d)
{
	struct docker_events *f = calloc(1, sizeof(*f));
	int rv;

	if (f == NULL) {
		log_error("docker events cannot start, live state is off error=\"out of memory\"");
		return -1;
	}
	f->d = d;
	atomic_init(&f->stop, false);
	/* Signals stay blocked: the thread inherits the main thread's mask. */
	if ((rv = pthread_create(&f->thread, NULL, follow, f)) != 0) {
		log_error("docker events cannot start, live state is off error=\"%s\"",
		    strerror(rv));
		free(f);
		return -1;
	}
	d->docker_events = f;
	return 0;
}

void
docker_events_stop(struct berthd *d)
{
	struct docker_events *f = d->docker_events;

	if (f == NULL)
		return;
	atomic_store(&f->stop, true);
	pthread_join(f->thread, NULL);
	free(f);
	d->docker_events = NULL;
}
