/*
 * test_registry_safety.c - what registry_open (store/registry.c) refuses
 * and how it keeps the file: created 0600 (it holds env values and token
 * hashes), garbled pages found at start-up (DATA_LOSS, with how to
 * recover), and a registry that existed once and is now empty or gone is
 * never silently made anew.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "store/registry.h"

struct fixture {
	char dir[64];
	char path[128];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	log_threshold = LL_ERROR;
	snprintf(f->dir, sizeof(f->dir), "/tmp/berth-regsafe-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/registry.db", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void
open_ok(struct fixture *f)
{
	struct registry *reg = NULL;
	struct error err = { 0 };

	if (registry_open(&reg, f->path, true, &err) != 0)
		fail_msg("registry_open: %s", err.message);
	registry_close(reg);
}

static int
open_fails(struct fixture *f, struct error *err)
{
	struct registry *reg = NULL;

	if (registry_open(&reg, f->path, true, err) == 0) {
		registry_close(reg);
		return 0;
	}
	return err->code;
}

/* registry.db was 0644: readable by every local user (env values, tokens). */
static void
test_registry_is_created_private(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	umask(022);
	open_ok(f);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* One made more open by hand is closed again at the next start. */
	assert_int_equal(chmod(f->path, 0644), 0);
	open_ok(f);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
}

/* Garbled pages answered SERVING and then DATA_LOSS per call: now start-up stops. */
static void
test_damaged_registry_is_refused_at_start(void **state)
{
	struct fixture *f = *state;
	struct error err = { 0 };
	char junk[4096];
	struct stat st;
	int fd;

	open_ok(f);
	assert_int_equal(stat(f->path, &st), 0);
	assert_true(st.st_size >= 3 * 4096);
	memset(junk, 0x5a, sizeof(junk));
	fd = open(f->path, O_WRONLY);
	assert_true(fd >= 0);
	/* Page 2 on: the schema's b-trees; page 1 (the header) stays. */
	for (off_t off = 4096; off + 4096 <= st.st_size; off += 4096)
		assert_int_equal(pwrite(fd, junk, sizeof(junk), off), (ssize_t)sizeof(junk));
	close(fd);
	assert_int_equal(open_fails(f, &err), BERTH__V1__CODE__DATA_LOSS);
	assert_non_null(strstr(err.message, "damaged"));
	assert_non_null(strstr(err.message, "backup"));
}

/* A registry cut to 0 bytes was recreated with the seed templates and no tokens. */
static void
test_emptied_registry_is_not_made_anew(void **state)
{
	struct fixture *f = *state;
	struct error err = { 0 };

	open_ok(f);
	assert_int_equal(truncate(f->path, 0), 0);
	assert_int_equal(open_fails(f, &err), BERTH__V1__CODE__DATA_LOSS);
	assert_non_null(strstr(err.message, "missing or empty"));
	/* Deleted altogether: the same. */
	assert_int_equal(unlink(f->path), 0);
	assert_int_equal(open_fails(f, &err), BERTH__V1__CODE__DATA_LOSS);
}

/* An empty file next to a WAL that has data: refused too. */
static void
test_empty_registry_beside_a_wal_is_refused(void **state)
{
	struct fixture *f = *state;
	struct error err = { 0 };
	char wal[160];
	FILE *w;

	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	w = fopen(wal, "w");
	assert_non_null(w);
	fputs("not empty", w);
	fclose(w);
	w = fopen(f->path, "w");
	assert_non_null(w);
	fclose(w);
	assert_int_equal(open_fails(f, &err), BERTH__V1__CODE__DATA_LOSS);
}

/* A new data directory still gets a new registry. */
static void
test_first_start_makes_a_registry(void **state)
{
	struct fixture *f = *state;

	open_ok(f);
	open_ok(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_registry_is_created_private, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_registry_is_refused_at_start, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_emptied_registry_is_not_made_anew, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_registry_beside_a_wal_is_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_first_start_makes_a_registry, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
