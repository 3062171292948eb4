/*
 * arena.c - bump allocation from a list of growing blocks.
 *
 * Most calls allocate a few dozen small objects and fit in the first 4 KiB
 * block; a ListServices of 10,000 services allocates over 100,000 (a struct
 * and ten strings per row), which one malloc each made cost more than the
 * SQL itself, and left the heap of every worker that served one holding
 * the freed pieces. Blocks double from 4 KiB to 256 KiB; an object larger
 * than a quarter of the next block gets a block of its own. Memory is
 * zeroed per object, so untouched tails of blocks cost nothing.
 *
 * Under AddressSanitizer every object is its own malloc, as before, so that
 * ASan sees each object's bounds.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"

#if defined(__SANITIZE_ADDRESS__)
#define ARENA_PRECISE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_PRECISE 1
#endif
#endif

#define ARENA_ALIGN _Alignof(max_align_t)
#define ARENA_FIRST_BLOCK 4096
#define ARENA_MAX_BLOCK (256 * 1024)

struct arena_block {
	struct arena_block *next;
	size_t used, size; /* bytes of data[] */
	max_align_t data[];
};

static void *
allocator_alloc(void *data, size_t size)
{
	return arena_alloc(data, size);
}

static void
allocator_free(void *data, void *ptr)
{
	/* Freed with the arena. */
	(void)data;
	(void)ptr;
}

void
arena_init(struct arena *a)
{
	a->blocks = NULL;
	a->allocator.alloc = allocator_alloc;
	a->allocator.free = allocator_free;
	a->allocator.allocator_data = a;
}

void
arena_reset(struct arena *a)
{
	struct arena_block *b = a->blocks, *next;

	for (; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	a->blocks = NULL;
}

static struct arena_block *
new_block(size_t size)
{
	struct arena_block *b;

	if (size > SIZE_MAX - sizeof(*b))
		abort();
	b = malloc(sizeof(*b) + size);
	if (b == NULL) {
		fputs("berth: out of memory\n", stderr);
		abort();
	}
	b->next = NULL;
	b->used = 0;
	b->size = size;
	return b;
}

void *
arena_alloc(struct arena *a, size_t size)
{
	struct arena_block *b = a->blocks;
	size_t need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	void *p;

	if (need < size)
		abort();
#ifdef ARENA_PRECISE
	b = new_block(need);
	b->used = need;
	b->next = a->blocks;
	a->blocks = b;
	return memset(b->data, 0, need);
#endif
	if (b == NULL || b->size - b->used < need) {
		size_t next = b == NULL ? ARENA_FIRST_BLOCK : b->size * 2;

		if (next > ARENA_MAX_BLOCK)
			next = ARENA_MAX_BLOCK;
		if (need > next / 4) {
			/* Its own block, behind the current one: that one's free space stays in use. */
			struct arena_block *own = new_block(need);

			own->used = need;
			if (b == NULL) {
				a->blocks = own;
			} else {
				own->next = b->next;
				b->next = own;
			}
			return memset(own->data, 0, size);
		}
		b = new_block(next);
		b->next = a->blocks;
		a->blocks = b;
	}
	p = (char *)b->data + b->used;
	b->used += need;
	return memset(p, 0, size);
}

char *
arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
arena_strdup(struct arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

char *
arena_printf(struct arena *a, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	int n;
	char *p;

	/* Formatted once when it fits the stack buffer, which is nearly always. */
	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return arena_strdup(a, "");
	if ((size_t)n < sizeof(small))
		return arena_strndup(a, small, (size_t)n);
	p = arena_alloc(a, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}
