/*
 * service_lock.c - a list of held service ids under one mutex. At most one
 * id per worker is held at a time, so the list stays tiny.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "core/service_lock.h"

struct held {
	struct held *next;
	char id[];
};

struct service_locks {
	pthread_mutex_t lock;
	pthread_cond_t released;
	struct held *held;
};

struct service_locks *
service_locks_new(void)
{
	struct service_locks *l = calloc(1, sizeof(*l));
	pthread_condattr_t attr;

	if (l == NULL)
		return NULL;
	pthread_mutex_init(&l->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&l->released, &attr);
	pthread_condattr_destroy(&attr);
	return l;
}

void
service_locks_free(struct service_locks *l)
{
	if (l == NULL)
		return;
	while (l->held != NULL) {
		struct held *h = l->held;
		l->held = h->next;
		free(h);
	}
	pthread_cond_destroy(&l->released);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

static struct held **
find(struct service_locks *l, const char *id)
{
	struct held **h;

	for (h = &l->held; *h != NULL; h = &(*h)->next)
		if (strcmp((*h)->id, id) == 0)
			return h;
	return NULL;
}

/* Called with l->lock held. */
static void
hold(struct service_locks *l, const char *service_id)
{
	size_t len = strlen(service_id);
	struct held *h = malloc(sizeof(*h) + len + 1);

	if (h == NULL)
		abort();
	memcpy(h->id, service_id, len + 1);
	h->next = l->held;
	l->held = h;
}

int
service_lock(struct service_locks *l, const char *service_id, int64_t deadline_ms)
{
	struct timespec until = { deadline_ms / 1000, (long)(deadline_ms % 1000) * 1000000L };

	pthread_mutex_lock(&l->lock);
	while (find(l, service_id) != NULL) {
		if (pthread_cond_timedwait(&l->released, &l->lock, &until) != 0 &&
		    clock_monotonic_ms() >= deadline_ms) {
			pthread_mutex_unlock(&l->lock);
			return -1;
		}
	}
	hold(l, service_id);
	pthread_mutex_unlock(&l->lock);
	return 0;
}

bool
service_trylock(struct service_locks *l, const char *service_id)
{
	bool free_now;

	pthread_mutex_lock(&l->lock);
	free_now = find(l, service_id) == NULL;
	if (free_now)
		hold(l, service_id);
	pthread_mutex_unlock(&l->lock);
	return free_now;
}

void
service_unlock(struct service_locks *l, const char *service_id)
{
	struct held **h, *gone;

	pthread_mutex_lock(&l->lock);
	h = find(l, service_id);
	if (h != NULL) {
		gone = *h;
		*h = gone->next;
		free(gone);
	}
	pthread_cond_broadcast(&l->released);
	pthread_mutex_unlock(&l->lock);
}
