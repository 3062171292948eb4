/*
 * test_requests.c - mutating calls remembered by request id in the registry
 * (server/store/requests.c), on a real SQLite file, reopened to stand for
 * a restart of berthd.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/registry.h"
#include "store/requests.h"

struct fixture {
	char dir[64];
	char path[128];
	struct registry *reg;
	struct arena arena;
};

static unsigned char digest_a[32] = { 'a' };
static unsigned char digest_b[32] = { 'b' };
static int64_t fake_now = 1000000;

static int64_t
fake_clock(void)
{
	return fake_now;
}

static void
reopen(struct fixture *f)
{
	struct error err = { 0 };

	registry_close(f->reg);
	f->reg = NULL;
	if (registry_open(&f->reg, f->path, true, &err) != 0)
		fail_msg("registry_open: %s", err.message);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct error err = { 0 };

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/berth-requests-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/registry.db", f->dir);
	if (registry_open(&f->reg, f->path, true, &err) != 0)
		return -1;
	arena_init(&f->arena);
	requests_set_clock(fake_clock);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	requests_set_clock(NULL);
	arena_reset(&f->arena);
	registry_close(f->reg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static enum requests_state
claim(struct fixture *f, const char *key, const unsigned char *digest, struct requests_record *rec)
{
	enum requests_state state;

	assert_int_equal(requests_claim(f->reg, &f->arena, key, digest, &state, rec), 0);
	return state;
}

/* A finished call's reply outlives a restart; another payload under its id is refused. */
static void
test_finished_call_replays_after_reopen(void **state)
{
	struct fixture *f = *state;
	struct requests_record rec;

	assert_int_equal(claim(f, "Launch\nlocal\nid1", digest_a, &rec), REQUESTS_NEW);
	assert_int_equal(requests_finish(f->reg, "Launch\nlocal\nid1", "reply!", 6), 0);
	reopen(f);
	assert_int_equal(claim(f, "Launch\nlocal\nid1", digest_a, &rec), REQUESTS_DONE);
	assert_int_equal(rec.reply_len, 6);
	assert_memory_equal(rec.reply, "reply!", 6);
	free(rec.reply);
	assert_int_equal(claim(f, "Launch\nlocal\nid1", digest_b, &rec), REQUESTS_CONFLICT);
	/* An empty reply is a reply, not "still running". */
	assert_int_equal(claim(f, "Delete\nlocal\nid1", digest_a, &rec), REQUESTS_NEW);
	assert_int_equal(requests_finish(f->reg, "Delete\nlocal\nid1", NULL, 0), 0);
	assert_int_equal(claim(f, "Delete\nlocal\nid1", digest_a, &rec), REQUESTS_DONE);
	assert_int_equal(rec.reply_len, 0);
	free(rec.reply);
}

/*
 * A call cut short: the next attempt learns what it changed - the subject
 * stamped with a change that committed, nothing for one rolled back.
 */
static void
test_interrupted_call_tells_what_it_changed(void **state)
{
	struct fixture *f = *state;
	struct requests_record rec;

	assert_int_equal(claim(f, "k-committed", digest_a, &rec), REQUESTS_NEW);
	assert_int_equal(registry_begin(f->reg), 0);
	assert_int_equal(requests_stamp(f->reg, "k-committed", "web_instance_1", "rec", 3), 0);
	assert_int_equal(registry_commit(f->reg), 0);

	assert_int_equal(claim(f, "k-rolled-back", digest_a, &rec), REQUESTS_NEW);
	assert_int_equal(registry_begin(f->reg), 0);
	assert_int_equal(requests_stamp(f->reg, "k-rolled-back", "web_instance_2", NULL, 0), 0);
	registry_rollback(f->reg);
	reopen(f);

	assert_int_equal(claim(f, "k-committed", digest_a, &rec), REQUESTS_INTERRUPTED);
	assert_non_null(rec.subject);
	assert_string_equal(rec.subject, "web_instance_1");
	assert_int_equal(rec.detail_len, 3);
	assert_memory_equal(rec.detail, "rec", 3);
	assert_int_equal(claim(f, "k-rolled-back", digest_a, &rec), REQUESTS_INTERRUPTED);
	assert_null(rec.subject);
	/* Without a request id there is nothing to stamp. */
	assert_int_equal(requests_stamp(f->reg, NULL, "x", NULL, 0), 0);
}

/* A transient failure forgets a call that changed nothing, and keeps one that did. */
static void
test_forget_keeps_a_call_that_changed_something(void **state)
{
	struct fixture *f = *state;
	struct requests_record rec;

	assert_int_equal(claim(f, "k-nothing", digest_a, &rec), REQUESTS_NEW);
	assert_int_equal(requests_forget(f->reg, "k-nothing"), 0);
	assert_int_equal(claim(f, "k-nothing", digest_b, &rec), REQUESTS_NEW);

	assert_int_equal(claim(f, "k-changed", digest_a, &rec), REQUESTS_NEW);
	assert_int_equal(requests_stamp(f->reg, "k-changed", "web_a", NULL, 0), 0);
	assert_int_equal(requests_forget(f->reg, "k-changed"), 0);
	assert_int_equal(claim(f, "k-changed", digest_a, &rec), REQUESTS_INTERRUPTED);
	assert_string_equal(rec.subject, "web_a");
}

/* Calls are forgotten REQUESTS_KEEP_MS after they started, not before. */
static void
test_prune_by_age(void **state)
{
	struct fixture *f = *state;
	struct requests_record rec;

	assert_int_equal(claim(f, "k-old", digest_a, &rec), REQUESTS_NEW);
	assert_int_equal(requests_finish(f->reg, "k-old", "r", 1), 0);
	fake_now += REQUESTS_KEEP_MS / 2;
	assert_int_equal(claim(f, "k-young", digest_a, &rec), REQUESTS_NEW);
	assert_int_equal(requests_prune(f->reg), 0);
	fake_now += REQUESTS_KEEP_MS / 2 + 1;
	assert_int_equal(requests_prune(f->reg), 1);
	assert_int_equal(claim(f, "k-old", digest_b, &rec), REQUESTS_NEW);
	assert_int_equal(claim(f, "k-young", digest_a, &rec), REQUESTS_INTERRUPTED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_finished_call_replays_after_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupted_call_tells_what_it_changed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_forget_keeps_a_call_that_changed_something, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_prune_by_age, setup, teardown),
	};

	return cmocka_run_group_tests_name("requests", tests, NULL, NULL);
}
