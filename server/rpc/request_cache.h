/*
 * request_cache.h - runs a mutating call once per request_id.
 *
 * nng's REQ socket resends a request that got no reply, and clients retry
 * after a lost connection with the same RpcRequest.request_id. The cache
 * remembers the encoded reply of every finished mutating call for a while,
 * and makes a duplicate that arrives while the first is still running wait
 * for its result instead of running it twice.
 *
 * Thread-safe: every function takes the cache's mutex.
 */
#ifndef BERTH_REQUEST_CACHE_H
#define BERTH_REQUEST_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct request_cache;

enum request_claim {
	REQUEST_RUN,    /* new key: run the call, then finish or abandon it */
	REQUEST_REPLAY, /* ran before: *reply holds a copy of its encoded reply */
	REQUEST_BUSY,   /* still running elsewhere when the deadline came */
	REQUEST_CONFLICT, /* the key came before with another request (digest) */
};

/* Bytes of a request's digest (SHA-256 of its payload). */
#define REQUEST_DIGEST_LEN 32

/*
 * A cache of at most `capacity` keys, each kept `ttl_ms` after it finished.
 * capacity must exceed the number of workers, since running keys are never
 * evicted. Returns NULL when out of memory.
 */
struct request_cache *request_cache_new(size_t capacity, int64_t ttl_ms);
void request_cache_free(struct request_cache *cache);

/*
 * The clock the TTL is counted on (monotonic milliseconds); default
 * clock_monotonic_ms. Tests pass one they move by hand. Waits for a running
 * key still use the real monotonic clock and deadline_ms.
 */
void request_cache_set_clock(struct request_cache *cache, int64_t (*now_ms)(void));

/*
 * Claims `key` for a request whose payload has `digest` (NULL: not
 * compared). On REQUEST_REPLAY the caller owns *reply (free()) and *len
 * its size. A key seen before with another digest is REQUEST_CONFLICT: a
 * request id reused for a different request must not get the first one's
 * answer. Waits while another thread runs the same key, until deadline_ms
 * (monotonic).
 */
enum request_claim request_cache_claim(struct request_cache *cache, const char *key,
    const unsigned char *digest, int64_t deadline_ms, void **reply, size_t *len);

/* Stores the reply of a claimed key (copied) and wakes its waiters. */
void request_cache_finish(struct request_cache *cache, const char *key, const void *reply,
    size_t len);

/* Forgets a claimed key whose call may run again (a transient failure). */
void request_cache_abandon(struct request_cache *cache, const char *key);

#endif
