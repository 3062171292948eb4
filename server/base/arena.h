/*
 * arena.h - per-call memory.
 *
 * Everything a call allocates (the decoded request, the reply, strings read
 * from SQLite or Docker) comes from the call's arena and is released at once
 * when the reply has been sent. Handlers therefore never free anything, and
 * a failing path cannot leak. The arena doubles as a ProtobufCAllocator so
 * protobuf-c unpacks straight into it.
 *
 * Not thread-safe: one arena belongs to one call on one worker thread.
 * Allocation failure aborts the process (as redis's zmalloc does): there is
 * no sensible recovery from a failed malloc of a few bytes.
 */
#ifndef BERTH_ARENA_H
#define BERTH_ARENA_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

struct arena_block;

struct arena {
	struct arena_block *blocks;
	ProtobufCAllocator allocator;
};

void arena_init(struct arena *a);

/* Frees every allocation of the arena; the arena can be used again. */
void arena_reset(struct arena *a);

/* Zeroed memory that lives until arena_reset. */
void *arena_alloc(struct arena *a, size_t size);
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_printf(struct arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Typed helpers: ARENA_NEW(a, Berth__V1__Service) etc. */
#define ARENA_NEW(a, type) ((type *)arena_alloc((a), sizeof(type)))
#define ARENA_ARRAY(a, type, n) ((type *)arena_alloc((a), sizeof(type) * (n)))

#endif
