/*
 * test_arena.c - per-call memory (server/arena.c): zeroed, aligned, stable
 * across growth, big objects, protobuf-c unpacking into it, reuse after a
 * reset.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "berth/v1/berth.pb-c.h"
#include "core/berthd.h"


static void
test_memory_is_zeroed_and_aligned(void **state)
{
	struct arena a;

	(void)state;
	arena_init(&a);
	for (size_t size = 1; size < 300; size += 7) {
		unsigned char *p = arena_alloc(&a, size);

		assert_int_equal((uintptr_t)p % _Alignof(max_align_t), 0);
		for (size_t i = 0; i < size; i++)
			assert_int_equal(p[i], 0);
		memset(p, 0xff, size); /* the next allocation must not see this */
	}
	arena_reset(&a);
}

/* Growth never moves what was handed out: many small objects keep their contents. */
static void
test_many_objects_keep_their_contents(void **state)
{
	enum { N = 100000 };
	char **strings = calloc(N, sizeof(*strings));
	struct arena a;

	(void)state;
	arena_init(&a);
	for (int i = 0; i < N; i++)
		strings[i] = arena_printf(&a, "bench_instance_%d", i);
	for (int i = 0; i < N; i++) {
		char want[32];

		snprintf(want, sizeof(want), "bench_instance_%d", i);
		assert_string_equal(strings[i], want);
	}
	arena_reset(&a);
	free(strings);
}

/* An object larger than a block gets its own; the small ones around it are intact. */
static void
test_big_objects_between_small_ones(void **state)
{
	struct arena a;
	char *before, *after;
	unsigned char *big;
	size_t big_size = 3 * 1024 * 1024;

	(void)state;
	arena_init(&a);
	before = arena_strdup(&a, "before");
	big = arena_alloc(&a, big_size);
	after = arena_strdup(&a, "after");
	for (size_t i = 0; i < big_size; i += 4096)
		assert_int_equal(big[i], 0);
	memset(big, 0xab, big_size);
	assert_string_equal(before, "before");
	assert_string_equal(after, "after");
	assert_true(after < (char *)big || after >= (char *)big + big_size);
	arena_reset(&a);
}

static void
test_printf_longer_than_the_stack_buffer(void **state)
{
	struct arena a;
	char long_arg[1000];
	char *s;

	(void)state;
	memset(long_arg, 'x', sizeof(long_arg) - 1);
	long_arg[sizeof(long_arg) - 1] = '\0';
	arena_init(&a);
	s = arena_printf(&a, "<%s>", long_arg);
	assert_int_equal(strlen(s), 1001);
	assert_int_equal(s[0], '<');
	assert_int_equal(s[1000], '>');
	assert_string_equal(arena_strndup(&a, "abcdef", 3), "abc");
	assert_string_equal(arena_printf(&a, "%s", ""), "");
	arena_reset(&a);
}

/* The arena is the allocator protobuf-c unpacks requests into. */
static void
test_protobuf_unpacks_into_the_arena(void **state)
{
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	Berth__V1__PutTemplateRequest req = BERTH__V1__PUT_TEMPLATE_REQUEST__INIT, *back;
	char *env[] = { "A=1", "B=2" };
	uint8_t buf[512];
	struct arena a;
	size_t len;

	(void)state;
	t.name = "demo";
	t.image = "berth-demo:e2e";
	t.env = env;
	t.n_env = 2;
	req.template_ = &t;
	len = berth__v1__put_template_request__pack(&req, buf);
	arena_init(&a);
	back = berth__v1__put_template_request__unpack(&a.allocator, len, buf);
	assert_non_null(back);
	assert_string_equal(back->template_->name, "demo");
	assert_string_equal(back->template_->env[1], "B=2");
	arena_reset(&a);
}

/* After a reset the arena serves again, and a reset of an empty arena is harmless. */
static void
test_reset_and_reuse(void **state)
{
	struct arena a;

	(void)state;
	arena_init(&a);
	arena_reset(&a);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 5000; i++)
			assert_non_null(arena_alloc(&a, (size_t)(i % 200) + 1));
		arena_reset(&a);
	}
	assert_null(a.blocks);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memory_is_zeroed_and_aligned),
		cmocka_unit_test(test_many_objects_keep_their_contents),
		cmocka_unit_test(test_big_objects_between_small_ones),
		cmocka_unit_test(test_printf_longer_than_the_stack_buffer),
		cmocka_unit_test(test_protobuf_unpacks_into_the_arena),
		cmocka_unit_test(test_reset_and_reuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
