/*
 * answer_cache.c - see answer_cache.h.
 *
 * A chained hash table of immutable entries. An entry carries a reference
 * count so that a large answer (ListServices of 10,000 rows is megabytes)
 * is copied outside the lock while a concurrent clear may unlink it.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/answer_cache.h"

#define BUCKETS 256 /* power of two */

struct entry {
	struct entry *next;
	atomic_uint refs; /* the table's, plus one per copy in progress */
	uint64_t hash;
	unsigned method;
	size_t request_len, answer_len;
	unsigned char *answer; /* follows the request bytes in the same block */
	unsigned char request[];
};

struct answer_cache {
	pthread_mutex_t lock; /* guards everything below */
	struct entry *buckets[BUCKETS];
	uint64_t version;
	size_t bytes, max_bytes;
};

/* FNV-1a over the method and the request bytes. */
static uint64_t
hash_of(unsigned method, const unsigned char *p, size_t len)
{
	uint64_t h = 1469598103934665603ull ^ method;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static void
entry_release(struct entry *e)
{
	if (atomic_fetch_sub(&e->refs, 1) == 1)
		free(e);
}

/* Forgets every entry; caller locks. */
static void
clear_locked(struct answer_cache *c)
{
	for (size_t i = 0; i < BUCKETS; i++) {
		struct entry *e = c->buckets[i], *next;

		for (; e != NULL; e = next) {
			next = e->next;
			entry_release(e);
		}
		c->buckets[i] = NULL;
	}
	c->bytes = 0;
}

/*
 * Brings the cache to `version`; false when the caller's version is older
 * than what the cache has seen (its answer would be stale). Caller locks.
 */
static bool
at_version_locked(struct answer_cache *c, uint64_t version)
{
	if (version < c->version)
		return false;
	if (version > c->version) {
		clear_locked(c);
		c->version = version;
	}
	return true;
}

static struct entry *
find_locked(struct answer_cache *c, uint64_t hash, unsigned method, const void *request,
    size_t request_len)
{
	for (struct entry *e = c->buckets[hash & (BUCKETS - 1)]; e != NULL; e = e->next)
		if (e->hash == hash && e->method == method && e->request_len == request_len &&
		    memcmp(e->request, request, request_len) == 0)
			return e;
	return NULL;
}

struct answer_cache *
answer_cache_new(size_t max_bytes)
{
	struct answer_cache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	pthread_mutex_init(&c->lock, NULL);
	c->max_bytes = max_bytes;
	return c;
}

void
answer_cache_free(struct answer_cache *c)
{
	if (c == NULL)
		return;
	clear_locked(c);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

bool
answer_cache_get(struct answer_cache *c, unsigned method, const void *request,
    size_t request_len, uint64_t version, struct arena *a, void **answer, size_t *len)
{
	struct entry *e = NULL;
	uint64_t hash;

	if (request == NULL) /* an empty payload: protobuf-c leaves its data NULL */
		request = "";
	hash = hash_of(method, request, request_len);
	pthread_mutex_lock(&c->lock);
	if (at_version_locked(c, version) &&
	    (e = find_locked(c, hash, method, request, request_len)) != NULL)
		atomic_fetch_add(&e->refs, 1);
	pthread_mutex_unlock(&c->lock);
	if (e == NULL)
		return false;
	*len = e->answer_len;
	*answer = arena_alloc(a, e->answer_len + 1);
	memcpy(*answer, e->answer, e->answer_len);
	entry_release(e);
	return true;
}

void
answer_cache_put(struct answer_cache *c, unsigned method, const void *request,
    size_t request_len, uint64_t version, const void *answer, size_t len)
{
	size_t size = sizeof(struct entry) + request_len + len;
	struct entry *e;

	if (request == NULL) /* an empty payload: protobuf-c leaves its data NULL */
		request = "";
	if (answer == NULL)
		answer = "";
	if (size > c->max_bytes || (e = malloc(size)) == NULL)
		return;
	e->hash = hash_of(method, request, request_len);
	e->method = method;
	e->request_len = request_len;
	e->answer_len = len;
	e->answer = e->request + request_len;
	atomic_init(&e->refs, 1);
	memcpy(e->request, request, request_len);
	memcpy(e->answer, answer, len);

	pthread_mutex_lock(&c->lock);
	if (!at_version_locked(c, version) ||
	    find_locked(c, e->hash, method, request, request_len) != NULL) {
		pthread_mutex_unlock(&c->lock);
		free(e);
		return;
	}
	if (c->bytes + size > c->max_bytes)
		clear_locked(c);
	e->next = c->buckets[e->hash & (BUCKETS - 1)];
	c->buckets[e->hash & (BUCKETS - 1)] = e;
	c->bytes += size;
	pthread_mutex_unlock(&c->lock);
}
