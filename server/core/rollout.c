/*
 * rollout.c - rollouts as jobs (rollout.h): StartRollout records one and
 * starts its runner thread; the runner hands its pending instances, at most
 * max_parallel at a time, to swap threads (rollout_instance.c), journals
 * what each came to, and ends the rollout: "done", "failed" (on_failure
 * rollback: the failed instance is back on its old container, the rest
 * untouched) or "paused" (on_failure pause: waits for ControlRollout).
 *
 * Threads: RPC workers (start, get, control), one runner per running
 * rollout with its own registry connection, its swap threads (each with
 * its own connection), the main thread at start-up and shutdown. `mu`
 * guards the runner list and the busy set; `cv` wakes a paused runner.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "base/log.h"
#include "core/berthd.h"
#include "core/events.h"
#include "core/rollout.h"
#include "core/rollout_internal.h"
#include "core/templates.h"

#define MAX_PARALLEL_LIMIT 32
#define DEFAULT_MIN_READY_S 5
#define BUSY_MAX 256
#define BUILD_TIMEOUT_MS (30 * 60 * 1000)

enum control { CONTROL_NONE,
	CONTROL_RESUME,
	CONTROL_ABORT };

struct runner {
	struct berthd *d;
	char id[200];
	char template_name[128];
	pthread_t thread;
	enum control control; /* under mu */
	bool finished;        /* under mu: the thread has ended (joined at shutdown) */
	struct runner *next;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct runner *runners;      /* under mu */
static char busy[BUSY_MAX][128];    /* under mu: services being swapped */
static char busy_new[BUSY_MAX][80]; /* under mu: their new container, "" before */
static atomic_bool stopping;
static atomic_uint_fast64_t started_total, done_total, failed_total;

uint64_t
rollout_started_total(void)
{
	return atomic_load(&started_total);
}

uint64_t
rollout_done_total(void)
{
	return atomic_load(&done_total);
}

uint64_t
rollout_failed_total(void)
{
	return atomic_load(&failed_total);
}

void
rollout_busy_set(const char *service_id, bool on)
{
	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < BUSY_MAX; i++) {
		if (on && busy[i][0] == '\0') {
			snprintf(busy[i], sizeof(busy[i]), "%s", service_id);
			busy_new[i][0] = '\0';
			break;
		}
		if (!on && strcmp(busy[i], service_id) == 0) {
			busy[i][0] = '\0';
			break;
		}
	}
	pthread_mutex_unlock(&mu);
}

void
rollout_busy_container(const char *service_id, const char *container_id)
{
	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < BUSY_MAX; i++)
		if (strcmp(busy[i], service_id) == 0)
			snprintf(busy_new[i], sizeof(busy_new[i]), "%s", container_id);
	pthread_mutex_unlock(&mu);
}

bool
rollout_stale_container(const char *service_id, const char *container_id)
{
	bool stale = false;

	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < BUSY_MAX; i++)
		if (busy[i][0] != '\0' && strcmp(busy[i], service_id) == 0)
			stale = strcmp(busy_new[i], container_id) != 0;
	pthread_mutex_unlock(&mu);
	return stale;
}

bool
rollout_busy(const char *service_id)
{
	bool found = false;

	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < BUSY_MAX && !found; i++)
		found = busy[i][0] != '\0' && strcmp(busy[i], service_id) == 0;
	pthread_mutex_unlock(&mu);
	return found;
}

/* --- the runner ------------------------------------------------------------ */

struct swap_thread {
	struct berthd *d;
	struct rollout_swap sw;
	pthread_t thread;
	bool started;
};

static void *
swap_main(void *arg)
{
	struct swap_thread *st = arg;
	struct registry *reg = NULL;
	struct error err = { 0 };
	struct call call;

	if (registry_open(&reg, st->d->db_path, false, &err) != 0) {
		st->sw.outcome = ROLLOUT_ROLLED_BACK;
		snprintf(st->sw.message, sizeof(st->sw.message), "cannot open the registry: %s",
		    err.message);
		return NULL;
	}
	call_init(&call, "rollout", st->d, reg, 30 * 60 * 1000);
	rollout_swap_run(&call, &st->sw);
	call_finish(&call);
	registry_close(reg);
	return NULL;
}

/* The instance's state in the journal for an outcome. */
static const char *
outcome_state(enum rollout_outcome o)
{
	switch (o) {
	case ROLLOUT_UPDATED: return "done";
	case ROLLOUT_ROLLED_BACK: return "rolled_back";
	case ROLLOUT_SKIPPED: return "skipped";
	case ROLLOUT_INTERRUPTED: return "updating";
	default: return "failed";
	}
}

/* Waits for resume or abort; true to go on. */
static bool
paused(struct runner *rn)
{
	enum control c;

	pthread_mutex_lock(&mu);
	while (rn->control == CONTROL_NONE && !atomic_load(&stopping))
		pthread_cond_wait(&cv, &mu);
	c = rn->control;
	rn->control = CONTROL_NONE;
	pthread_mutex_unlock(&mu);
	return c == CONTROL_RESUME;
}

static void
publish(struct berthd *d, Berth__V1__Event__Type type, const Berth__V1__Rollout *r,
    const char *what)
{
	Berth__V1__Service s = BERTH__V1__SERVICE__INIT;

	s.service_id = r->id;
	s.template_ = r->template_;
	event_publish(&d->events, type, &s, r->state, "rollout %s of %s revision %u: %s", r->id,
	    r->template_, r->revision, what);
}

/*
 * One pass over the pending instances: 0 all done or skipped; 1 one
 * failed (message set); 2 berthd stops; 3 aborted (between instances).
 */
static int
run_pending(struct runner *rn, struct registry *reg, struct arena *a, Berth__V1__Rollout *r,
    const Berth__V1__Template *t, char *message, size_t len)
{
	struct swap_thread *batch = ARENA_ARRAY(a, struct swap_thread, r->max_parallel);
	atomic_bool *stop_flag = (atomic_bool *)&stopping;
	size_t i = 0;
	int result = 0;

	while (i < r->n_instances && result == 0) {
		size_t n = 0;

		for (; i < r->n_instances && n < r->max_parallel; i++) {
			Berth__V1__RolloutInstance *in = r->instances[i];

			if (strcmp(in->state, "pending") != 0 && strcmp(in->state, "rolled_back") != 0)
				continue;
			memset(&batch[n], 0, sizeof(batch[n]));
			batch[n].d = rn->d;
			batch[n].sw = (struct rollout_swap){ r->id, t, r->min_ready_s, stop_flag,
				in->service_id, ROLLOUT_SKIPPED, "" };
			registry_rollout_instance_set(reg, r->id, in->service_id, "updating", "", NULL);
			batch[n].started = pthread_create(&batch[n].thread, NULL, swap_main,
					       &batch[n]) == 0;
			if (!batch[n].started)
				swap_main(&batch[n]);
			n++;
		}
		for (size_t k = 0; k < n; k++) {
			struct rollout_swap *sw = &batch[k].sw;

			if (batch[k].started)
				pthread_join(batch[k].thread, NULL);
			if (sw->outcome == ROLLOUT_INTERRUPTED) {
				result = 2;
				continue;
			}
			registry_rollout_instance_set(reg, r->id, sw->service_id,
			    outcome_state(sw->outcome), sw->message, NULL);
			for (size_t j = 0; j < r->n_instances; j++)
				if (strcmp(r->instances[j]->service_id, sw->service_id) == 0)
					r->instances[j]->state = (char *)outcome_state(sw->outcome);
			if ((sw->outcome == ROLLOUT_ROLLED_BACK || sw->outcome == ROLLOUT_BROKEN) &&
			    result == 0) {
				snprintf(message, len, "%s: %s", sw->service_id, sw->message);
				result = 1;
			}
		}
		if (atomic_load(&stopping))
			result = 2;
		pthread_mutex_lock(&mu);
		if (result == 0 && rn->control == CONTROL_ABORT && i < r->n_instances) {
			rn->control = CONTROL_NONE;
			snprintf(message, len, "aborted by an operator");
			result = 3;
		}
		pthread_mutex_unlock(&mu);
	}
	return result;
}

static void *
runner_main(void *arg)
{
	struct runner *rn = arg;
	struct berthd *d = rn->d;
	struct registry *reg = NULL;
	struct error err = { 0 };
	struct arena a;
	Berth__V1__Rollout *r;
	Berth__V1__TemplateRevision *rev;
	char message[2200];
	int result;

	arena_init(&a);
	if (registry_open(&reg, d->db_path, false, &err) != 0) {
		log_error("rollout runner cannot open the registry rollout=%s error=\"%s\"", rn->id,
		    err.message);
		goto out;
	}
	for (;;) {
		arena_reset(&a);
		message[0] = '\0';
		if (registry_rollout_get(reg, &a, rn->id, &r) != 0 ||
		    registry_template_revision_get(reg, &a, r->template_, r->revision, &rev) != 0) {
			log_error("rollout runner cannot read its rollout rollout=%s error=\"%s\"", rn->id,
			    registry_error(reg)->message);
			break;
		}
		if (strcmp(r->state, "paused") == 0) {
			if (!paused(rn)) {
				if (atomic_load(&stopping))
					break;
				registry_rollout_set_state(reg, r->id, "aborted", r->message, true);
				r->state = "aborted";
				publish(d, BERTH__V1__EVENT__TYPE__ROLLOUT_FAILED, r, "aborted");
				atomic_fetch_add(&failed_total, 1);
				break;
			}
			registry_rollout_set_state(reg, r->id, "running", "", false);
			continue;
		}
		if (r->max_parallel == 0)
			r->max_parallel = 1;
		rev->template_->revision = r->revision; /* a rebuild's copy says the one it copied */
		result = run_pending(rn, reg, &a, r, rev->template_, message, sizeof(message));
		if (result == 2)
			break; /* the next start resumes it */
		if (result == 3) {
			registry_rollout_set_state(reg, r->id, "aborted", message, true);
			r->state = "aborted";
			publish(d, BERTH__V1__EVENT__TYPE__ROLLOUT_FAILED, r, "aborted");
			atomic_fetch_add(&failed_total, 1);
			log_warn("rollout aborted rollout=%s", r->id);
			break;
		}
		if (result == 0) {
			registry_rollout_set_state(reg, r->id, "done", "", true);
			r->state = "done";
			publish(d, BERTH__V1__EVENT__TYPE__ROLLOUT_DONE, r, "done");
			atomic_fetch_add(&done_total, 1);
			log_info("rollout done rollout=%s", r->id);
			break;
		}
		if (strcmp(r->on_failure, "pause") == 0) {
			registry_rollout_set_state(reg, r->id, "paused", message, false);
			log_warn("rollout paused rollout=%s error=\"%.300s\"", r->id, message);
			continue;
		}
		registry_rollout_set_state(reg, r->id, "failed", message, true);
		r->state = "failed";
		publish(d, BERTH__V1__EVENT__TYPE__ROLLOUT_FAILED, r, message);
		atomic_fetch_add(&failed_total, 1);
		log_warn("rollout failed rollout=%s error=\"%.300s\"", r->id, message);
		break;
	}
out:
	arena_reset(&a);
	registry_close(reg);
	pthread_mutex_lock(&mu);
	rn->finished = true;
	pthread_mutex_unlock(&mu);
	return NULL;
}

/* Starts a runner for rollout id (journaled already). -1 when no thread. */
static int
runner_start(struct berthd *d, const char *id, const char *template_name)
{
	struct runner *rn = calloc(1, sizeof(*rn));

	if (rn == NULL)
		return -1;
	rn->d = d;
	snprintf(rn->id, sizeof(rn->id), "%s", id);
	snprintf(rn->template_name, sizeof(rn->template_name), "%s", template_name);
	pthread_mutex_lock(&mu);
	if (pthread_create(&rn->thread, NULL, runner_main, rn) != 0) {
		pthread_mutex_unlock(&mu);
		free(rn);
		return -1;
	}
	rn->next = runners;
	runners = rn;
	pthread_mutex_unlock(&mu);
	return 0;
}

/* --- the RPCs ------------------------------------------------------------------ */

/* The service's instances whose revision is not `revision`, as "pending" instances. */
static int
pending_instances(struct call *call, Berth__V1__Rollout *r)
{
	struct registry *reg = call_registry(call);
	Berth__V1__Service **rows;
	size_t n;

	if (registry_service_list(reg, &call->arena, r->template_, NULL, &rows, &n) != 0)
		return call_fail_error(call, registry_error(reg));
	r->instances = ARENA_ARRAY(&call->arena, Berth__V1__RolloutInstance *, n + 1);
	for (size_t i = 0; i < n; i++) {
		Berth__V1__RolloutInstance *in;

		if (rows[i]->revision == r->revision)
			continue;
		in = ARENA_NEW(&call->arena, Berth__V1__RolloutInstance);
		berth__v1__rollout_instance__init(in);
		in->service_id = rows[i]->service_id;
		in->state = "pending";
		in->from_revision = rows[i]->revision;
		in->to_revision = r->revision;
		if (strcmp(rows[i]->desired_state, DESIRED_RUNNING) != 0 ||
		    strcmp(rows[i]->status, STATUS_RUNNING) != 0) {
			in->state = "skipped";
			in->message = arena_printf(&call->arena, "not running (%s)", rows[i]->status);
		}
		r->instances[r->n_instances++] = in;
	}
	return 0;
}

/*
 * --rebuild: the image built again; a new image ID (one some instance of
 * the template does not run) makes a new revision with the same content.
 */
static int
rebuild(struct call *call, const Berth__V1__StartRolloutRequest *req, Berth__V1__Template **t)
{
	struct backend *b = &call_berthd(call)->backend;
	struct registry *reg = call_registry(call);
	struct error err = { 0 };
	Berth__V1__Service **rows;
	char image_id[80] = "", summary[200];
	uint32_t revision;
	bool differs = false;
	size_t n;

	if (b->ops->rebuild(b, *t, req->build_args, req->n_build_args, req->no_cache, image_id,
		BUILD_TIMEOUT_MS, &err) != 0)
		return call_fail(call, BERTH__V1__CODE__FAILED_PRECONDITION,
		    "rebuild of %s failed, nothing was touched: %s", (*t)->image, err.message);
	if (registry_service_list(reg, &call->arena, (*t)->name, NULL, &rows, &n) != 0)
		return call_fail_error(call, registry_error(reg));
	for (size_t i = 0; i < n && !differs; i++)
		differs = rows[i]->revision == (*t)->revision && strcmp(rows[i]->image_id, image_id) != 0;
	log_info("rollout rebuilt image=%s id=%s new_revision=%s", (*t)->image, image_id,
	    differs ? "yes" : "no");
	if (!differs)
		return 0;
	snprintf(summary, sizeof(summary), "image %.64s rebuilt: %.80s", (*t)->image, image_id);
	if (registry_template_revise(reg, &call->arena, (*t)->name, summary, &revision) != 0)
		return call_fail_error(call, registry_error(reg));
	(*t)->revision = revision;
	return 0;
}

int
rollout_start(struct call *call, const Berth__V1__StartRolloutRequest *req,
    Berth__V1__Rollout **out)
{
	struct berthd *d = call_berthd(call);
	struct registry *reg = call_registry(call);
	Berth__V1__Template *t;
	Berth__V1__Rollout *r;
	char **running;
	size_t n_running;
	char now[40];
	int code;

	/* Containers swapped (engine) or the backend's own update (swarm): rollout_update.c. */
	if (d->backend.ops->rename == NULL && d->backend.ops->update_in_place == NULL)
		return call_fail(call, BERTH__V1__CODE__FAILED_PRECONDITION,
		    "the %s backend has no rollouts", d->backend.ops->name);
	if (req->rebuild && d->backend.ops->rebuild == NULL)
		return call_fail_detail(call, BERTH__V1__CODE__FAILED_PRECONDITION, "rebuild",
		    "NO_REBUILD", "the %s backend cannot rebuild: build and push the image, then "
				  "change the template's image",
		    d->backend.ops->name);
	if (req->on_failure[0] != '\0' && strcmp(req->on_failure, "rollback") != 0 &&
	    strcmp(req->on_failure, "pause") != 0)
		return call_fail_detail(call, BERTH__V1__CODE__INVALID_ARGUMENT, "on_failure",
		    "BAD_ON_FAILURE", "on_failure: \"rollback\" or \"pause\", not \"%.32s\"",
		    req->on_failure);
	if (req->max_parallel > MAX_PARALLEL_LIMIT)
		return call_fail_detail(call, BERTH__V1__CODE__INVALID_ARGUMENT, "max_parallel",
		    "TOO_PARALLEL", "max_parallel: at most %d", MAX_PARALLEL_LIMIT);
	if ((code = template_lookup(call, "template", req->template_, &t)) != 0)
		return code;
	if (registry_rollout_unfinished(reg, &call->arena, t->name, &running, &n_running) != 0)
		return call_fail_error(call, registry_error(reg));
	if (n_running > 0)
		return call_fail_detail(call, BERTH__V1__CODE__FAILED_PRECONDITION, "template",
		    "ROLLOUT_RUNNING", "rollout %s of template '%s' is still running (berth rollout "
				       "--status %s; --abort %s)",
		    running[0], t->name, t->name, running[0]);
	if (req->rebuild && (code = rebuild(call, req, &t)) != 0)
		return code;
	r = ARENA_NEW(&call->arena, Berth__V1__Rollout);
	berth__v1__rollout__init(r);
	r->template_ = t->name;
	r->revision = t->revision;
	r->state = "running";
	r->max_parallel = req->max_parallel != 0 ? req->max_parallel : 1;
	r->on_failure = req->on_failure[0] != '\0' ? req->on_failure : "rollback";
	r->min_ready_s = req->min_ready_s != 0 ? req->min_ready_s : DEFAULT_MIN_READY_S;
	clock_rfc3339_now(now, sizeof(now));
	r->started_at = arena_strdup(&call->arena, now);
	if ((code = pending_instances(call, r)) != 0)
		return code;
	if (registry_rollout_insert(reg, &call->arena, r) != 0)
		return call_fail_error(call, registry_error(reg));
	atomic_fetch_add(&started_total, 1);
	publish(d, BERTH__V1__EVENT__TYPE__ROLLOUT_STARTED, r, "started");
	log_info("rollout started rollout=%s revision=%u instances=%zu max_parallel=%u", r->id,
	    r->revision, r->n_instances, r->max_parallel);
	if (runner_start(d, r->id, r->template_) != 0) {
		registry_rollout_set_state(reg, r->id, "failed", "cannot start a thread", true);
		return call_fail(call, BERTH__V1__CODE__RESOURCE_EXHAUSTED,
		    "cannot start the rollout's thread");
	}
	*out = r;
	return 0;
}

int
rollout_get(struct call *call, const char *id, const char *template_name,
    Berth__V1__Rollout **out)
{
	struct registry *reg = call_registry(call);
	int code;

	if (id[0] == '\0' && template_name[0] == '\0')
		return call_fail_detail(call, BERTH__V1__CODE__INVALID_ARGUMENT, "id", "REQUIRED",
		    "id or template: say which rollout");
	code = id[0] != '\0' ? registry_rollout_get(reg, &call->arena, id, out)
			     : registry_rollout_latest(reg, &call->arena, template_name, out);
	return code != 0 ? call_fail_error(call, registry_error(reg)) : 0;
}

int
rollout_control(struct call *call, const char *id, const char *action,
    Berth__V1__Rollout **out)
{
	enum control c = strcmp(action, "resume") == 0 ? CONTROL_RESUME
	    : strcmp(action, "abort") == 0             ? CONTROL_ABORT
						       : CONTROL_NONE;
	Berth__V1__Rollout *r;
	bool found = false;
	int code;

	if (c == CONTROL_NONE)
		return call_fail_detail(call, BERTH__V1__CODE__INVALID_ARGUMENT, "action",
		    "BAD_ACTION", "action: \"resume\" or \"abort\"");
	if ((code = rollout_get(call, id, "", &r)) != 0)
		return code;
	if (strcmp(r->state, "running") != 0 && strcmp(r->state, "paused") != 0)
		return call_fail(call, BERTH__V1__CODE__FAILED_PRECONDITION, "rollout %s has ended (%s)",
		    id, r->state);
	if (c == CONTROL_RESUME && strcmp(r->state, "paused") != 0)
		return call_fail(call, BERTH__V1__CODE__FAILED_PRECONDITION,
		    "rollout %s is not paused (%s)", id, r->state);
	pthread_mutex_lock(&mu);
	for (struct runner *rn = runners; rn != NULL; rn = rn->next) {
		if (strcmp(rn->id, id) == 0 && !rn->finished) {
			rn->control = c;
			found = true;
		}
	}
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	if (!found)
		return call_fail(call, BERTH__V1__CODE__UNAVAILABLE, "rollout %s has no runner", id);
	/*
	 * The answer once the runner has taken it (a running rollout's abort
	 * waits for the instances in flight: it answers as it is then).
	 */
	for (int i = 0; i < 50; i++) {
		clock_sleep_ms(20);
		if (rollout_get(call, id, "", out) == 0 && strcmp((*out)->state, r->state) != 0)
			return 0;
	}
	return rollout_get(call, id, "", out);
}

/* --- start-up and shutdown ------------------------------------------------------ */

#define RESUMED_MAX 64

/* Main thread only: rollouts rollout_resume_all found, for rollout_resume_runners. */
static struct {
	char id[200];
	char template_name[128];
} resumed[RESUMED_MAX];
static size_t n_resumed;

void
rollout_resume_all(struct berthd *d, struct registry *reg)
{
	struct arena a;
	char **ids;
	size_t n;

	arena_init(&a);
	if (registry_rollout_unfinished(reg, &a, NULL, &ids, &n) != 0) {
		arena_reset(&a);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		Berth__V1__Rollout *r;
		struct call call;

		if (registry_rollout_get(reg, &a, ids[i], &r) != 0)
			continue;
		call_init(&call, "rollout-recovery", d, reg, 5 * 60 * 1000);
		for (size_t j = 0; j < r->n_instances; j++) {
			const char *state;

			if (strcmp(r->instances[j]->state, "updating") != 0)
				continue;
			state = rollout_swap_recover(&call, r->id, r->instances[j]->service_id,
			    r->revision);
			registry_rollout_instance_set(reg, r->id, r->instances[j]->service_id, state,
			    "", NULL);
		}
		call_finish(&call);
		log_info("rollout resumed after a restart of berthd rollout=%s state=%s", r->id,
		    r->state);
		if (n_resumed < RESUMED_MAX) {
			snprintf(resumed[n_resumed].id, sizeof(resumed[0].id), "%s", r->id);
			snprintf(resumed[n_resumed].template_name, sizeof(resumed[0].template_name), "%s",
			    r->template_);
			n_resumed++;
		}
	}
	arena_reset(&a);
}

void
rollout_resume_runners(struct berthd *d)
{
	for (size_t i = 0; i < n_resumed; i++)
		if (runner_start(d, resumed[i].id, resumed[i].template_name) != 0)
			log_error("cannot start a rollout's thread rollout=%s", resumed[i].id);
	n_resumed = 0;
}

void
rollout_stop_all(void)
{
	struct runner *list;

	atomic_store(&stopping, true);
	pthread_mutex_lock(&mu);
	pthread_cond_broadcast(&cv);
	list = runners;
	runners = NULL;
	pthread_mutex_unlock(&mu);
	while (list != NULL) {
		struct runner *next = list->next;

		pthread_join(list->thread, NULL);
		free(list);
		list = next;
	}
}
