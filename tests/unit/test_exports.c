/*
 * test_exports.c - libberth.so exports its public API and nothing else:
 * berth_* (client/berth.h) and the generated berth__v1__* that the
 * installed berth.pb-c.h declares. Internal helpers it links from common/
 * (clock_*, validate_*, status_*, ...) must not leak (client/libberth.map).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth.h"

/* Runs nm on the shared library; calls fn for every defined dynamic symbol. */
static int
each_export(void (*fn)(const char *name, void *arg), void *arg)
{
	const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
	char cmd[512], line[512];
	int n = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "nm -D --defined-only %s/libberth.so 2>&1", build);
	if ((p = popen(cmd, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), p) != NULL) {
		char addr[64], type[8], name[256];

		if (sscanf(line, "%63s %7s %255s", addr, type, name) != 3)
			continue;
		fn(name, arg);
		n++;
	}
	return pclose(p) == 0 ? n : -1;
}

struct tally {
	int public_api, generated, others;
	char first_other[256];
};

static void
classify(const char *name, void *arg)
{
	struct tally *t = arg;

	if (strncmp(name, "berth__v1__", 11) == 0) {
		t->generated++;
	} else if (strncmp(name, "berth_", 6) == 0) {
		t->public_api++;
	} else if (strncmp(name, "BERTH_1", 7) != 0) {
		if (t->others++ == 0)
			snprintf(t->first_other, sizeof(t->first_other), "%s", name);
	}
}

/* Only berth_ names: the rest of common/ stays inside the library. */
static void
test_only_the_public_api_is_exported(void **state)
{
	struct tally t = { 0 };

	(void)state;
	assert_true(each_export(classify, &t) > 0);
	if (t.others != 0)
		fail_msg("libberth.so exports %d symbols outside berth_*, e.g. %s", t.others,
		    t.first_other);
	assert_true(t.public_api >= 10);
	assert_true(t.generated >= 10);
}

/* The functions a client program links against are all still there. */
static void
test_the_client_api_is_exported(void **state)
{
	const char *needed[] = { "berth_open", "berth_close", "berth_call", "berth_events_open",
		"berth_reply_free", "berth__v1__health_request__init" };
	char cmd[512];

	(void)state;
	for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
		snprintf(cmd, sizeof(cmd), "nm -D --defined-only %s/libberth.so | grep -qw %s",
		    getenv("BUILD") ? getenv("BUILD") : "build", needed[i]);
		if (system(cmd) != 0)
			fail_msg("libberth.so does not export %s", needed[i]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_only_the_public_api_is_exported),
		cmocka_unit_test(test_the_client_api_is_exported),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
