/*
 * test_filter.c - `make test T=test_x:'pattern'`: run only the tests of a
 * binary whose names match the pattern (cmocka's own filter, `*` and `?`).
 *
 * Linked into every test binary; cmocka reads the filter when the group
 * runs, so setting it before main() is enough.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

__attribute__((constructor)) static void
apply_test_filter(void)
{
	const char *pattern = getenv("BERTH_TEST_FILTER");

	if (pattern != NULL && pattern[0] != '\0')
		cmocka_set_test_filter(pattern);
}
