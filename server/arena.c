/*
 * arena.c - a list of individually malloc'ed blocks. Calls allocate a few
 * dozen objects, so a bump allocator would save nothing worth its
 * complexity, and separate blocks keep ASan and valgrind precise.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

struct arena_block {
	struct arena_block *next;
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

void *
arena_alloc(struct arena *a, size_t size)
{
	struct arena_block *b;

	if (size > SIZE_MAX - sizeof(*b))
		abort();
	b = calloc(1, sizeof(*b) + size);
	if (b == NULL) {
		fputs("berth: out of memory\n", stderr);
		abort();
	}
	b->next = a->blocks;
	a->blocks = b;
	return b->data;
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
	va_list ap;
	int n;
	char *p;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return arena_strdup(a, "");
	p = arena_alloc(a, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}
