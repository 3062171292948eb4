/*
 * reply_arena.c - see reply_arena.h.
 *
 * Blocks grow from 4 KiB (most replies are a few hundred bytes) by doubling
 * up to 1 MiB; an allocation larger than that gets a block of its own. The
 * arena's own header lives in its first block. Filed arenas hang off a
 * small hash table keyed by the message's address, under `filed_lock`.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "reply_arena.h"

#define FIRST_BLOCK 4096
#define LARGEST_BLOCK (1u << 20)
#define BUCKETS 64 /* power of two */
#define ALIGN (sizeof(max_align_t))

struct block {
	struct block *next;
	size_t used, size;
	max_align_t data[];
};

struct reply_arena {
	struct block *blocks;  /* the newest first; the last holds this header */
	size_t next_size;
	const void *message;   /* filed under this address; NULL while not filed */
	struct reply_arena *next_filed;
	ProtobufCAllocator allocator;
};

static pthread_mutex_t filed_lock = PTHREAD_MUTEX_INITIALIZER;
static struct reply_arena *filed[BUCKETS];

static size_t
round_up(size_t n)
{
	return (n + ALIGN - 1) & ~(ALIGN - 1);
}

static struct block *
block_new(size_t size)
{
	struct block *b = malloc(sizeof(*b) + size);

	if (b != NULL) {
		b->next = NULL;
		b->used = 0;
		b->size = size;
	}
	return b;
}

static void *
arena_alloc(void *data, size_t n)
{
	struct reply_arena *a = data;
	struct block *b = a->blocks;
	void *p;

	n = round_up(n ? n : 1);
	if (b->size - b->used < n) {
		size_t size = n > a->next_size ? n : a->next_size;

		if ((b = block_new(size)) == NULL)
			return NULL;
		if (n <= a->next_size && a->next_size < LARGEST_BLOCK)
			a->next_size *= 2;
		b->next = a->blocks;
		a->blocks = b;
	}
	p = (char *)b->data + b->used;
	b->used += n;
	return p;
}

/* Single allocations are never freed on their own: the arena goes at once. */
static void
arena_free_one(void *data, void *p)
{
	(void)data;
	(void)p;
}

struct reply_arena *
reply_arena_new(void)
{
	struct block *first = block_new(FIRST_BLOCK);
	struct reply_arena *a;

	if (first == NULL)
		return NULL;
	a = (struct reply_arena *)first->data;
	first->used = round_up(sizeof(*a));
	a->blocks = first;
	a->next_size = FIRST_BLOCK * 2;
	a->message = NULL;
	a->next_filed = NULL;
	a->allocator.alloc = arena_alloc;
	a->allocator.free = arena_free_one;
	a->allocator.allocator_data = a;
	return a;
}

ProtobufCAllocator *
reply_arena_allocator(struct reply_arena *a)
{
	return &a->allocator;
}

void
reply_arena_free(struct reply_arena *a)
{
	struct block *b, *next;

	if (a == NULL)
		return;
	/* The header is in the last block: read the chain before freeing it. */
	for (b = a->blocks; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
}

static size_t
bucket_of(const void *message)
{
	uintptr_t p = (uintptr_t)message;

	return (size_t)((p >> 4) ^ (p >> 12)) & (BUCKETS - 1);
}

void
reply_arena_file(struct reply_arena *a, const ProtobufCMessage *message)
{
	size_t i = bucket_of(message);

	a->message = message;
	pthread_mutex_lock(&filed_lock);
	a->next_filed = filed[i];
	filed[i] = a;
	pthread_mutex_unlock(&filed_lock);
}

bool
reply_arena_release(const ProtobufCMessage *message)
{
	struct reply_arena **at, *a = NULL;

	pthread_mutex_lock(&filed_lock);
	for (at = &filed[bucket_of(message)]; *at != NULL; at = &(*at)->next_filed) {
		if ((*at)->message == message) {
			a = *at;
			*at = a->next_filed;
			break;
		}
	}
	pthread_mutex_unlock(&filed_lock);
	if (a == NULL)
		return false;
	reply_arena_free(a);
	return true;
}
