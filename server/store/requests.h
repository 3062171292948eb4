/*
 * requests.h - mutating calls remembered by request id in the registry, so
 * that each is done once even across a restart of berthd.
 *
 * The in-memory request cache (rpc/request_cache.c) answers duplicates while
 * berthd runs. This is what survives a crash: a row per call, written when
 * the call starts; the call's first change stamps its subject in the same
 * transaction as the change (requests_stamp); the encoded reply is stored
 * when the call ends. An attempt that finds a row without a reply knows the
 * earlier one was cut short, and from the subject whether its change was
 * made: it then answers for that change instead of making it again.
 */
#ifndef BERTH_REQUESTS_H
#define BERTH_REQUESTS_H

#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"

struct registry;

/* How long a finished call's reply is kept: well past any client's retries. */
#define REQUESTS_KEEP_MS (60 * 60 * 1000)

enum requests_state {
	REQUESTS_NEW,         /* first time: the row is written, run the call */
	REQUESTS_DONE,        /* finished before: rec->reply holds the reply */
	REQUESTS_INTERRUPTED, /* started before and cut short: see rec->subject */
	REQUESTS_CONFLICT,    /* the key came before with another payload */
};

struct requests_record {
	void *reply;          /* DONE: the encoded reply, malloc'ed (caller frees) */
	size_t reply_len;
	const char *subject;  /* INTERRUPTED: what the change touched, or NULL */
	const void *detail;   /* INTERRUPTED: what the stamp kept with it (arena) */
	size_t detail_len;
};

/*
 * Looks up `key` (method, caller and request id) with the payload's SHA-256
 * `digest` (32 bytes) and records a new call. Strings and detail come from
 * arena `a`. Returns 0 with *state set, or a code (registry_error()).
 */
int requests_claim(struct registry *reg, struct arena *a, const char *key,
    const unsigned char *digest, enum requests_state *state, struct requests_record *rec);

/*
 * Stamps the call `key` with the subject of its change, and `detail` (may
 * be NULL) to answer for it later. Call inside the change's transaction
 * (registry_begin). A NULL key (a call without a request id) does nothing.
 */
int requests_stamp(struct registry *reg, const char *key, const char *subject,
    const void *detail, size_t detail_len);

/* Stores the reply of the call `key`: a later attempt gets it as it is. */
int requests_finish(struct registry *reg, const char *key, const void *reply, size_t len);

/*
 * Forgets the call `key`, which may run again (it failed transiently) -
 * unless it stamped a change: then the row stays without a reply, and the
 * next attempt is told what was changed, as after a crash.
 */
int requests_forget(struct registry *reg, const char *key);

/* Deletes calls started more than REQUESTS_KEEP_MS ago; returns how many, or -1. */
int requests_prune(struct registry *reg);

/* The clock rows are stamped with (unix ms); tests move it by hand. */
void requests_set_clock(int64_t (*now_ms)(void));

#endif
