/*
 * reply_arena.h - the memory of decoded replies (libberth internal).
 *
 * A reply is decoded into one chain of blocks with a bump allocator, so a
 * ListServices of 10,000 services costs a few dozen mallocs instead of one
 * per string and message, and freeing it a few dozen frees. The chain is
 * filed under the reply message's address, which is all berth_reply_free
 * gets; a message it does not know was made by protobuf-c's own allocator.
 *
 * Thread-safe: the file of chains has its own lock; one arena is used by
 * one thread while it decodes.
 */
#ifndef BERTH_REPLY_ARENA_H
#define BERTH_REPLY_ARENA_H

#include <stdbool.h>

#include <protobuf-c/protobuf-c.h>

struct reply_arena;

/* An empty arena; NULL when out of memory. */
struct reply_arena *reply_arena_new(void);

/* Its allocator, for protobuf_c_message_unpack; lives as long as the arena. */
ProtobufCAllocator *reply_arena_allocator(struct reply_arena *a);

/* Frees an arena and everything allocated from it (one not filed, or after a failed decode). */
void reply_arena_free(struct reply_arena *a);

/* Files `message`, decoded into `a`, so that reply_arena_release(message) frees `a`. */
void reply_arena_file(struct reply_arena *a, const ProtobufCMessage *message);

/* Frees the arena filed under `message` and returns true; false when none is. */
bool reply_arena_release(const ProtobufCMessage *message);

#endif
