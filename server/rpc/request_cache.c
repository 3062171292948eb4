/*
 * request_cache.c - a small table of keys, scanned linearly.
 *
 * Only mutating calls with a request_id come here, a few per second at
 * most, each costing a Docker round trip of hundreds of milliseconds; a scan
 * of a thousand 64-bit hashes is noise beside that and needs no hash table.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "rpc/request_cache.h"

struct entry {
	uint64_t hash;
	char *key;          /* NULL: slot free */
	unsigned char digest[REQUEST_DIGEST_LEN];
	bool has_digest;
	bool done;
	void *reply;
	size_t len;
	int64_t expires_ms; /* when done */
};

struct request_cache {
	pthread_mutex_t lock;
	pthread_cond_t finished;
	struct entry *entries;
	size_t capacity;
	int64_t ttl_ms;
	int64_t (*now_ms)(void); /* the TTL's clock: clock_monotonic_ms but in tests */
};

static uint64_t
fnv1a(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

struct request_cache *
request_cache_new(size_t capacity, int64_t ttl_ms)
{
	struct request_cache *c = calloc(1, sizeof(*c));
	pthread_condattr_t attr;

	if (c == NULL)
		return NULL;
	c->entries = calloc(capacity, sizeof(*c->entries));
	if (c->entries == NULL) {
		free(c);
		return NULL;
	}
	c->capacity = capacity;
	c->ttl_ms = ttl_ms;
	c->now_ms = clock_monotonic_ms;
	pthread_mutex_init(&c->lock, NULL);
	/* Waits use monotonic deadlines, like every deadline in berth. */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&c->finished, &attr);
	pthread_condattr_destroy(&attr);
	return c;
}

static void
entry_clear(struct entry *e)
{
	free(e->key);
	free(e->reply);
	memset(e, 0, sizeof(*e));
}

void
request_cache_free(struct request_cache *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->capacity; i++)
		entry_clear(&c->entries[i]);
	free(c->entries);
	pthread_cond_destroy(&c->finished);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void
request_cache_set_clock(struct request_cache *c, int64_t (*now_ms)(void))
{
	pthread_mutex_lock(&c->lock);
	c->now_ms = now_ms != NULL ? now_ms : clock_monotonic_ms;
	pthread_mutex_unlock(&c->lock);
}

static struct entry *
find(struct request_cache *c, const char *key, uint64_t hash)
{
	int64_t now = c->now_ms();

	for (size_t i = 0; i < c->capacity; i++) {
		struct entry *e = &c->entries[i];
		if (e->key == NULL)
			continue;
		if (e->done && e->expires_ms <= now) {
			entry_clear(e);
			continue;
		}
		if (e->hash == hash && strcmp(e->key, key) == 0)
			return e;
	}
	return NULL;
}

/* A free slot, else the finished entry closest to expiry; NULL if all run. */
static struct entry *
free_slot(struct request_cache *c)
{
	struct entry *oldest = NULL;

	for (size_t i = 0; i < c->capacity; i++) {
		struct entry *e = &c->entries[i];
		if (e->key == NULL)
			return e;
		if (e->done && (oldest == NULL || e->expires_ms < oldest->expires_ms))
			oldest = e;
	}
	if (oldest != NULL)
		entry_clear(oldest);
	return oldest;
}

static void
wait_until(struct request_cache *c, int64_t deadline_ms)
{
	struct timespec ts = {
		.tv_sec = deadline_ms / 1000,
		.tv_nsec = (deadline_ms % 1000) * 1000000,
	};

	(void)pthread_cond_timedwait(&c->finished, &c->lock, &ts);
}

enum request_claim
request_cache_claim(struct request_cache *c, const char *key, const unsigned char *digest,
    int64_t deadline_ms, void **reply, size_t *len)
{
	uint64_t hash = fnv1a(key);
	enum request_claim claim;
	struct entry *e;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		e = find(c, key, hash);
		if (e == NULL) {
			e = free_slot(c);
			if (e == NULL) { /* every slot is running: cannot dedup, so run */
				claim = REQUEST_RUN;
				break;
			}
			e->key = strdup(key);
			if (e->key == NULL)
				abort();
			e->hash = hash;
			e->has_digest = digest != NULL;
			if (digest != NULL)
				memcpy(e->digest, digest, REQUEST_DIGEST_LEN);
			claim = REQUEST_RUN;
			break;
		}
		if (digest != NULL && e->has_digest &&
		    memcmp(digest, e->digest, REQUEST_DIGEST_LEN) != 0) {
			claim = REQUEST_CONFLICT;
			break;
		}
		if (e->done) {
			*reply = malloc(e->len ? e->len : 1);
			if (*reply == NULL)
				abort();
			memcpy(*reply, e->reply, e->len);
			*len = e->len;
			claim = REQUEST_REPLAY;
			break;
		}
		if (clock_monotonic_ms() >= deadline_ms) {
			claim = REQUEST_BUSY;
			break;
		}
		wait_until(c, deadline_ms);
	}
	pthread_mutex_unlock(&c->lock);
	return claim;
}

void
request_cache_finish(struct request_cache *c, const char *key, const void *reply, size_t len)
{
	struct entry *e;

	pthread_mutex_lock(&c->lock);
	e = find(c, key, fnv1a(key));
	if (e != NULL && !e->done) {
		e->reply = malloc(len ? len : 1);
		if (e->reply == NULL)
			abort();
		memcpy(e->reply, reply, len);
		e->len = len;
		e->done = true;
		e->expires_ms = c->now_ms() + c->ttl_ms;
	}
	pthread_cond_broadcast(&c->finished);
	pthread_mutex_unlock(&c->lock);
}

void
request_cache_abandon(struct request_cache *c, const char *key)
{
	struct entry *e;

	pthread_mutex_lock(&c->lock);
	e = find(c, key, fnv1a(key));
	if (e != NULL && !e->done)
		entry_clear(e);
	pthread_cond_broadcast(&c->finished);
	pthread_mutex_unlock(&c->lock);
}
