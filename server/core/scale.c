/*
 * scale.c - ScaleTemplate: a template's running instances made N (scale.h).
 *
 * One call, on its RPC worker:
 *   1. the template's scale lock (per template name, held until the end,
 *      waited for up to the call's deadline): calls on one template run
 *      one after the other, so the last one's N is what stays;
 *   2. the template's rows, read once under that lock: those whose
 *      desired state is "running" (and not being removed) count;
 *   3. named instances above N: FAILED_PRECONDITION naming them, nothing
 *      done; else the missing instances are launched, or the surplus
 *      auto-numbered ones removed, highest number first, by a small pool
 *      of threads (each a lifecycle_launch or lifecycle_remove of its own,
 *      with its own call and registry connection); the first failure
 *      stops handing out more, what was done stays;
 *   4. with wait_healthy, health_wait for each launched one.
 *
 * Threads: the RPC worker that calls scale_template, and up to
 * SCALE_PARALLEL pool threads it starts and joins. The pool's items are
 * handed out by an atomic index; each item is written by the one thread
 * that took it and read by the worker after the join.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "validate.h"
#include "base/log.h"
#include "core/berthd.h"
#include "core/health_monitor.h"
#include "core/lifecycle.h"
#include "core/scale.h"
#include "core/service_lock.h"
#include "core/templates.h"

/*
 * The scale locks, one per template name: the same table type as the
 * services', apart from it (a template and a service may share a name).
 * Made on first use and kept for the process's life.
 */
static struct service_locks *template_locks;
static pthread_once_t template_locks_once = PTHREAD_ONCE_INIT;

static void
template_locks_make(void)
{
	template_locks = service_locks_new();
}

enum scale_op { SCALE_LAUNCH, SCALE_REMOVE };

/* One launch or removal of the pool; written only by the thread that took it. */
struct scale_item {
	const char *service_id;  /* remove: which one; launch: NULL */
	bool attempted;
	int code;                /* 0, or the failure's code */
	struct error error;      /* the failure, as the lifecycle call reported it */
	uint8_t *record;         /* launch: the new Service, packed (malloc) */
	size_t record_len;
	bool gone;               /* remove: it was removed (or someone else did) */
};

struct scale_pool {
	struct call *parent;     /* read-only while the pool runs */
	enum scale_op op;
	const char *template_name;
	bool purge;
	struct scale_item *items;
	size_t n;
	atomic_size_t next;
	atomic_bool stop;        /* a failure: hand out no more */
};

/* Is a name berth's own "instance_N" (what scale-down may remove)? */
static bool
auto_numbered(const char *instance, unsigned long *number)
{
	char *end;
	unsigned long n;

	if (strncmp(instance, "instance_", 9) != 0 || instance[9] < '0' || instance[9] > '9')
		return false;
	n = strtoul(instance + 9, &end, 10);
	if (*end != '\0' || n == 0)
		return false;
	*number = n;
	return true;
}

/* Counts toward N: wanted running and not on its way out. */
static bool
counts(const Berth__V1__Service *s)
{
	return strcmp(s->desired_state, DESIRED_RUNNING) == 0 &&
	    strcmp(s->status, STATUS_REMOVING) != 0;
}

static void
run_item(struct scale_pool *p, struct registry *reg, struct scale_item *it)
{
	struct call *parent = p->parent;
	struct call sub;

	call_init(&sub, parent->method, parent->app, reg, 0);
	sub.deadline_ms = parent->deadline_ms;
	sub.role = parent->role;
	sub.mutating = true;
	memcpy(sub.principal, parent->principal, sizeof(sub.principal));
	it->attempted = true;
	if (p->op == SCALE_LAUNCH) {
		Berth__V1__LaunchServiceResponse r = BERTH__V1__LAUNCH_SERVICE_RESPONSE__INIT;

		it->code = lifecycle_launch(&sub, p->template_name, "", 0, "", &r);
		if (it->code == 0) {
			it->record_len = berth__v1__service__get_packed_size(r.service);
			it->record = malloc(it->record_len + 1);
			if (it->record != NULL)
				berth__v1__service__pack(r.service, it->record);
		}
	} else {
		Berth__V1__RemoveServiceResponse r = BERTH__V1__REMOVE_SERVICE_RESPONSE__INIT;

		it->code = lifecycle_remove(&sub, it->service_id, false, p->purge, &r);
		/* Removed meanwhile by someone else: gone all the same. */
		if (it->code == BERTH__V1__CODE__NOT_FOUND)
			it->code = 0;
		it->gone = it->code == 0;
	}
	if (it->code != 0)
		it->error = sub.error;
	call_finish(&sub);
}

static void *
pool_worker(void *arg)
{
	struct scale_pool *p = arg;
	struct berthd *d = call_berthd(p->parent);
	struct registry *reg = NULL;
	size_t i;

	while (!atomic_load(&p->stop) && (i = atomic_fetch_add(&p->next, 1)) < p->n) {
		struct scale_item *it = &p->items[i];
		struct error err = { 0 };

		if (atomic_load(&d->shutdown_requested) || call_expired(p->parent)) {
			it->attempted = true;
			it->code = atomic_load(&d->shutdown_requested) ? BERTH__V1__CODE__UNAVAILABLE
								       : BERTH__V1__CODE__DEADLINE_EXCEEDED;
			error_set(&it->error, it->code, "%s",
			    it->code == BERTH__V1__CODE__UNAVAILABLE ? "berthd is shutting down"
								     : "the call's deadline passed");
			atomic_store(&p->stop, true);
			break;
		}
		if (reg == NULL && registry_open(&reg, d->db_path, false, &err) != 0) {
			it->attempted = true;
			it->code = err.code != 0 ? err.code : BERTH__V1__CODE__UNAVAILABLE;
			it->error = err;
			atomic_store(&p->stop, true);
			break;
		}
		run_item(p, reg, it);
		if (it->code != 0)
			atomic_store(&p->stop, true);
	}
	registry_close(reg);
	return NULL;
}

/* Runs the pool's items, at most SCALE_PARALLEL at once; returns when all are done. */
static void
pool_run(struct scale_pool *p)
{
	pthread_t threads[SCALE_PARALLEL];
	size_t started = 0;

	atomic_init(&p->next, 0);
	atomic_init(&p->stop, false);
	for (size_t i = 0; i < p->n && i < SCALE_PARALLEL; i++)
		if (pthread_create(&threads[started], NULL, pool_worker, p) == 0)
			started++;
	if (started == 0)
		pool_worker(p); /* no threads to be had: one at a time, here */
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
}

/* Appends "a, b, c" of names to buf (at most what fits, then "..."). */
static void
append_names(char *buf, size_t len, char *const *names, size_t n)
{
	size_t used = strlen(buf);

	for (size_t i = 0; i < n && used < len; i++) {
		int w = snprintf(buf + used, len - used, "%s%s", i > 0 ? ", " : "", names[i]);

		if (w < 0 || (size_t)w >= len - used) {
			if (len > 4)
				memcpy(buf + len - 4, "...", 4);
			return;
		}
		used += (size_t)w;
	}
}

/*
 * The call's error after a partial failure: the failure first (it is
 * what the caller must act on), then what was done and kept.
 */
static int
fail_partway(struct call *call, const char *template_name, uint32_t instances,
    const struct error *first, const Berth__V1__ScaleTemplateResponse *out, size_t wanted_launch,
    size_t wanted_remove)
{
	char done[ERROR_MESSAGE_MAX];
	char **launched = ARENA_ARRAY(&call->arena, char *, out->n_launched + 1);
	struct error e = *first;

	for (size_t i = 0; i < out->n_launched; i++)
		launched[i] = out->launched[i]->service_id;
	done[0] = '\0';
	if (wanted_launch > 0) {
		snprintf(done, sizeof(done), "launched %zu of %zu", out->n_launched, wanted_launch);
		if (out->n_launched > 0) {
			strncat(done, " (", sizeof(done) - strlen(done) - 1);
			append_names(done, sizeof(done) - 1, launched, out->n_launched);
			strncat(done, ")", sizeof(done) - strlen(done) - 1);
		}
	} else {
		snprintf(done, sizeof(done), "removed %zu of %zu", out->n_removed, wanted_remove);
		if (out->n_removed > 0) {
			strncat(done, " (", sizeof(done) - strlen(done) - 1);
			append_names(done, sizeof(done) - 1, out->removed, out->n_removed);
			strncat(done, ")", sizeof(done) - strlen(done) - 1);
		}
	}
	/* Truncated when long: the failure comes first and stays whole. */
	if (snprintf(e.message, sizeof(e.message), "%s; scaling '%s' to %u stopped there, %s (kept)",
		first->message, template_name, instances, done) >= (int)sizeof(e.message))
		log_debug("scale message truncated template=%s", template_name);
	return call_fail_error(call, &e);
}

/*
 * Launches `count` instances; out->launched gets every one that was made.
 * Returns 0, or the first failure (recorded in the call).
 */
static int
scale_up(struct call *call, const char *template_name, uint32_t instances, size_t count,
    Berth__V1__ScaleTemplateResponse *out)
{
	struct scale_item *items = calloc(count, sizeof(*items));
	struct scale_pool p = { .parent = call, .op = SCALE_LAUNCH, .template_name = template_name,
		.items = items, .n = count };
	const struct error *first = NULL;
	struct error oom;
	int code = 0;

	if (items == NULL)
		return call_fail(call, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	pool_run(&p);
	out->launched = ARENA_ARRAY(&call->arena, Berth__V1__Service *, count);
	for (size_t i = 0; i < count; i++) {
		struct scale_item *it = &items[i];

		if (it->code == 0 && it->attempted && it->record == NULL) {
			error_set(&oom, BERTH__V1__CODE__RESOURCE_EXHAUSTED,
			    "out of memory copying a launched service");
			it->code = oom.code;
			it->error = oom;
		}
		if (it->code == 0 && it->record != NULL) {
			Berth__V1__Service *s = berth__v1__service__unpack(&call->arena.allocator,
			    it->record_len, it->record);

			if (s != NULL) {
				lifecycle_set_url(call, s);
				out->launched[out->n_launched++] = s;
			}
		} else if (it->code != 0 && first == NULL) {
			first = &it->error;
		}
		free(it->record);
	}
	if (first != NULL)
		code = fail_partway(call, template_name, instances, first, out, count, 0);
	free(items);
	return code;
}

/* Removes the services named in ids[0..count); out->removed gets each one removed. */
static int
scale_down(struct call *call, const char *template_name, uint32_t instances, char **ids,
    size_t count, bool purge, Berth__V1__ScaleTemplateResponse *out)
{
	struct scale_item *items = calloc(count, sizeof(*items));
	struct scale_pool p = { .parent = call, .op = SCALE_REMOVE, .template_name = template_name,
		.purge = purge, .items = items, .n = count };
	const struct error *first = NULL;
	int code = 0;

	if (items == NULL)
		return call_fail(call, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	for (size_t i = 0; i < count; i++)
		items[i].service_id = ids[i];
	pool_run(&p);
	out->removed = ARENA_ARRAY(&call->arena, char *, count);
	for (size_t i = 0; i < count; i++) {
		if (items[i].gone)
			out->removed[out->n_removed++] = ids[i];
		else if (items[i].code != 0 && first == NULL)
			first = &items[i].error;
	}
	if (first != NULL)
		code = fail_partway(call, template_name, instances, first, out, 0, count);
	free(items);
	return code;
}

/* For qsort: the highest instance number first. */
struct numbered {
	unsigned long number;
	char *service_id;
};

static int
highest_first(const void *a, const void *b)
{
	unsigned long x = ((const struct numbered *)a)->number;
	unsigned long y = ((const struct numbered *)b)->number;

	return x < y ? 1 : x > y ? -1 : 0;
}

/* The scale proper, with the template's lock held. */
static int
scale_locked(struct call *call, const Berth__V1__Template *t, uint32_t instances, bool purge,
    bool wait_healthy, Berth__V1__ScaleTemplateResponse *out)
{
	struct registry *reg = call_registry(call);
	Berth__V1__Service **rows;
	size_t n_rows = 0, running = 0, n_named = 0, n_auto = 0;
	char **named;
	struct numbered *numbered;
	int code;

	if ((code = registry_service_list(reg, &call->arena, t->name, "", &rows, &n_rows)) != 0)
		return call_fail_error(call, registry_error(reg));
	named = ARENA_ARRAY(&call->arena, char *, n_rows + 1);
	numbered = ARENA_ARRAY(&call->arena, struct numbered, n_rows + 1);
	for (size_t i = 0; i < n_rows; i++) {
		unsigned long number;

		if (!counts(rows[i]))
			continue;
		running++;
		if (auto_numbered(rows[i]->instance, &number))
			numbered[n_auto++] = (struct numbered){ number, rows[i]->service_id };
		else
			named[n_named++] = rows[i]->service_id;
	}
	if (n_named > instances) {
		char list[ERROR_MESSAGE_MAX / 2] = "";

		append_names(list, sizeof(list), named, n_named);
		return call_fail_detail(call, BERTH__V1__CODE__FAILED_PRECONDITION, "instances",
		    "NAMED_INSTANCES_ABOVE_N",
		    "template '%s' has %zu named instances running (%s), more than %u: scale never "
		    "removes a named instance; stop or remove them yourself",
		    t->name, n_named, list, instances);
	}
	log_info("scale template=%s running=%zu named=%zu to=%u", t->name, running, n_named,
	    instances);
	if (running < instances)
		code = scale_up(call, t->name, instances, instances - running, out);
	else if (running > instances) {
		size_t surplus = running - instances;
		char **ids = ARENA_ARRAY(&call->arena, char *, surplus);

		qsort(numbered, n_auto, sizeof(*numbered), highest_first);
		for (size_t i = 0; i < surplus; i++)
			ids[i] = numbered[i].service_id;
		code = scale_down(call, t->name, instances, ids, surplus, purge, out);
	}
	out->running = (uint32_t)(running + out->n_launched - out->n_removed);
	if (code != 0 || !wait_healthy)
		return code;
	for (size_t i = 0; i < out->n_launched; i++) {
		char head[ERROR_MESSAGE_MAX];
		struct error e;

		if ((code = health_wait(call, out->launched[i]->service_id, &out->launched[i])) == 0)
			continue;
		/* Say that the instances stay: health_wait's message is about one of them. */
		e = call->error;
		snprintf(head, sizeof(head), "scaled '%s' to %u (all %zu launched are kept), but ",
		    t->name, instances, out->n_launched);
		if (snprintf(e.message, sizeof(e.message), "%s%s", head, call->error.message) >=
		    (int)sizeof(e.message))
			log_debug("scale message truncated template=%s", t->name);
		return call_fail_error(call, &e);
	}
	return 0;
}

int
scale_template(struct call *call, const char *template_name, uint32_t instances, bool purge,
    bool wait_healthy, Berth__V1__ScaleTemplateResponse *out)
{
	Berth__V1__Template *t;
	struct error verr;
	int64_t started = clock_monotonic_us();
	int code;

	if (validate_scale_instances("instances", instances, &verr) != 0)
		return call_fail_error(call, &verr);
	if ((code = template_lookup(call, "template", template_name, &t)) != 0)
		return code;
	pthread_once(&template_locks_once, template_locks_make);
	if (template_locks == NULL)
		return call_fail(call, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	if (service_lock(template_locks, t->name, call->deadline_ms) != 0)
		return call_fail(call, BERTH__V1__CODE__ABORTED,
		    "template '%s' is being scaled by another call that did not finish within this "
		    "call's deadline",
		    t->name);
	code = scale_locked(call, t, instances, purge, wait_healthy, out);
	service_unlock(template_locks, t->name);
	log_info("scaled template=%s to=%u running=%u launched=%zu removed=%zu code=%d "
		 "duration_us=%lld",
	    t->name, instances, out->running, out->n_launched, out->n_removed, code,
	    (long long)(clock_monotonic_us() - started));
	return code;
}
