/*
 * fleet.c - a small pool of threads that take items by index.
 *
 * Threads: fleet_run's caller, and up to FLEET_MAX_THREADS workers it
 * starts. `next` (atomic) hands out items; `done` counts finished items
 * under `lock`, which the caller waits on to notice a kill request.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/fleet.h"

struct fleet {
	struct backend *backend;
	enum fleet_op op;
	struct fleet_item *items;
	bool *finished;
	size_t n;
	int64_t timeout_ms;
	atomic_size_t next;
	pthread_mutex_t lock;
	pthread_cond_t progress;
	size_t done;
};

static void
run_one(struct fleet *f, struct fleet_item *it)
{
	struct backend *b = f->backend;
	struct error err = { 0 };
	int code = 0;

	if (f->op == FLEET_STOP || f->op == FLEET_STOP_REMOVE) {
		code = b->ops->stop(b, it->ref, it->stop_timeout_s, f->timeout_ms, &err);
		if (code == BERTH__V1__CODE__NOT_FOUND) {
			it->gone = true;
			return;
		}
	}
	if (code == 0 && (f->op == FLEET_REMOVE || f->op == FLEET_STOP_REMOVE)) {
		memset(&err, 0, sizeof(err));
		code = b->ops->remove(b, it->ref, f->timeout_ms, &err);
		if (code == 0 || code == BERTH__V1__CODE__NOT_FOUND) {
			it->gone = true;
			code = 0;
		}
	}
	it->code = code;
	if (code != 0)
		snprintf(it->message, sizeof(it->message), "%s", err.message);
}

static void *
worker(void *arg)
{
	struct fleet *f = arg;
	size_t i;

	while ((i = atomic_fetch_add(&f->next, 1)) < f->n) {
		run_one(f, &f->items[i]);
		pthread_mutex_lock(&f->lock);
		f->finished[i] = true;
		f->done++;
		pthread_cond_signal(&f->progress);
		pthread_mutex_unlock(&f->lock);
	}
	return NULL;
}

/* Kills every instance not yet finished; their pending stops then return. */
static void
kill_unfinished(struct fleet *f)
{
	struct error err;

	for (size_t i = 0; i < f->n; i++) {
		bool finished;

		pthread_mutex_lock(&f->lock);
		finished = f->finished[i];
		pthread_mutex_unlock(&f->lock);
		if (!finished) {
			memset(&err, 0, sizeof(err));
			f->backend->ops->kill(f->backend, f->items[i].ref, 5000, &err);
		}
	}
}

void
fleet_run(struct backend *b, enum fleet_op op, struct fleet_item *items, size_t n,
    int64_t timeout_ms, atomic_bool *kill_now)
{
	bool finished[n > 0 ? n : 1];
	pthread_t threads[FLEET_MAX_THREADS];
	struct fleet f = { .backend = b, .op = op, .items = items, .finished = finished, .n = n,
		.timeout_ms = timeout_ms };
	size_t started = 0;
	bool killed = false;

	if (n == 0)
		return;
	memset(finished, 0, sizeof(finished));
	pthread_mutex_init(&f.lock, NULL);
	pthread_cond_init(&f.progress, NULL);
	for (size_t i = 0; i < n && i < FLEET_MAX_THREADS; i++)
		if (pthread_create(&threads[started], NULL, worker, &f) == 0)
			started++;
	if (started == 0)
		worker(&f); /* no threads to be had: do it ourselves */

	pthread_mutex_lock(&f.lock);
	while (f.done < n) {
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 100 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&f.progress, &f.lock, &until);
		if (!killed && kill_now != NULL && atomic_load(kill_now)) {
			killed = true;
			pthread_mutex_unlock(&f.lock);
			kill_unfinished(&f);
			pthread_mutex_lock(&f.lock);
		}
	}
	pthread_mutex_unlock(&f.lock);
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	pthread_cond_destroy(&f.progress);
	pthread_mutex_destroy(&f.lock);
}
