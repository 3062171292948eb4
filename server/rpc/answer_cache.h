/*
 * answer_cache.h - encoded answers of read-only calls, kept while the state
 * they were read from is unchanged.
 *
 * Reads that depend only on their request and on a versioned state (berthd:
 * the services table and registry_generation) are polled: dashboards,
 * `berth status --watch`, programs asking for one service again and again.
 * Between changes the same request bytes get the same answer bytes, so the
 * dispatcher keeps them here and a repeat costs a hash, a compare and a
 * copy instead of a decode, a database read and an encode.
 *
 * An answer stored at version V is returned only while the caller's version
 * is V; the first lookup or store at another version forgets everything.
 * The cache holds at most `max_bytes` of requests and answers; storing past
 * that forgets everything first (caches refill by themselves; eviction
 * bookkeeping would cost every hit). Thread-safe: one mutex, held only for
 * the table; copies are made outside it.
 */
#ifndef BERTH_ANSWER_CACHE_H
#define BERTH_ANSWER_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"

struct answer_cache;

/* NULL when out of memory. */
struct answer_cache *answer_cache_new(size_t max_bytes);
void answer_cache_free(struct answer_cache *c);

/*
 * The answer kept for (method, request) at `version`, copied into the arena
 * (*answer, *len); false when there is none.
 */
bool answer_cache_get(struct answer_cache *c, unsigned method, const void *request,
    size_t request_len, uint64_t version, struct arena *a, void **answer, size_t *len);

/*
 * Keeps a copy of the answer to (method, request) computed from the state
 * at `version` (read before the state was). Ignored when the cache has
 * already seen a newer version, or when the pair alone exceeds max_bytes.
 */
void answer_cache_put(struct answer_cache *c, unsigned method, const void *request,
    size_t request_len, uint64_t version, const void *answer, size_t len);

#endif
