/*
 * test_audit.c - the audit log's retention (server/store/audit.c) and how
 * `berthd audit` shows what callers sent (common/utf8.c).
 *
 * Hostile testing erased every admin row with 101,505 unauthenticated
 * LaunchService calls in 26 s: refusals were audit rows, and only the
 * newest 100,000 were kept. They now go to a bounded table of their own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "store/audit.h"
#include "store/registry.h"
#include "utf8.h"

struct fixture {
	char dir[64];
	char path[128];
	struct registry *reg;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct error err;

	log_threshold = LL_ERROR;
	snprintf(f->dir, sizeof(f->dir), "/tmp/berth-audit-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/registry.db", f->dir);
	if (registry_open(&f->reg, f->path, true, &err) != 0) {
		fprintf(stderr, "registry_open: %s\n", err.message);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	registry_close(f->reg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	audit_set_limits(&(struct audit_limits){ AUDIT_KEEP, AUDIT_REFUSED_KEEP, AUDIT_KEEP_DAYS });
	free(f);
	return system(cmd) == 0 ? 0 : -1;
}

static void
record(struct fixture *f, const char *token, bool refused, const char *time, const char *target)
{
	struct audit_entry e;
	struct error err;

	memset(&e, 0, sizeof(e));
	snprintf(e.token_name, sizeof(e.token_name), "%s", token);
	snprintf(e.peer, sizeof(e.peer), "10.0.0.5:4000");
	snprintf(e.method, sizeof(e.method), "/berth.v1.Berth/LaunchService");
	snprintf(e.target, sizeof(e.target), "%s", target);
	snprintf(e.time, sizeof(e.time), "%s", time);
	e.code = refused ? BERTH__V1__CODE__UNAUTHENTICATED : 0;
	e.refused_unauthenticated = refused;
	if (audit_record(f->reg, &e, &err) != 0)
		fail_msg("audit_record: %s", err.message);
}

static void
count(void *arg, const struct audit_entry *e)
{
	(void)e;
	(*(int *)arg)++;
}

static int
rows(struct fixture *f, bool refused)
{
	struct error err;
	int n = 0;

	if (audit_tail(f->reg, refused, 0, count, &n, &err) != 0)
		fail_msg("audit_tail: %s", err.message);
	return n;
}

/* A flood of refused unauthenticated calls leaves every admin row in place. */
static void
test_unauthenticated_flood_cannot_evict_admin_rows(void **state)
{
	struct fixture *f = *state;

	audit_set_limits(&(struct audit_limits){ 1000, 100, 0 });
	for (int i = 0; i < 5; i++)
		record(f, "admin", false, "", "web");
	for (int i = 0; i < 3500; i++)
		record(f, "", true, "", "");
	assert_int_equal(rows(f, false), 5);
	/* Bounded: the newest 100 after each prune, plus what came since (< 1000). */
	assert_true(rows(f, true) <= 100 + 1000);
	assert_true(rows(f, true) >= 100);
}

/* Rows older than keep_days go, newer ones stay. */
static void
test_rows_past_the_age_limit_are_deleted(void **state)
{
	struct fixture *f = *state;

	audit_set_limits(&(struct audit_limits){ 100000, 100000, 30 });
	for (int i = 0; i < 998; i++)
		record(f, "admin", false, "2001-01-01T00:00:00Z", "old");
	record(f, "admin", false, "", "new");
	record(f, "admin", false, "", "new"); /* id 1000: the prune runs */
	assert_int_equal(rows(f, false), 2);
}

/* Both tables keep by count too: the newest keep_rows. */
static void
test_authenticated_rows_are_kept_by_count(void **state)
{
	struct fixture *f = *state;

	audit_set_limits(&(struct audit_limits){ 1000, 100, 0 });
	for (int i = 0; i < 2000; i++)
		record(f, "admin", false, "", "web");
	assert_int_equal(rows(f, false), 1000);
}

/* C1 controls and bidi overrides from an unauthenticated caller reached the terminal. */
static void
test_nonprinting_characters_are_shown_escaped(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "web", "web" },
		{ "a\x1b[31mb", "a\\x1b[31mb" },
		{ "csi\xc2\x9b" "31m", "csi\\x9b31m" },
		{ "evil\xe2\x80\xaetxt.exe", "evil\\u{202e}txt.exe" },
		{ "iso\xe2\x81\xa6x", "iso\\u{2066}x" },
		{ "zw\xe2\x80\x8bsp", "zw\\u{200b}sp" },
		{ "bad\xff", "bad\\xff" },
		{ "del\x7f", "del\\x7f" },
		{ "back\\slash", "back\\\\slash" },
		{ "caf\xc3\xa9 \xe2\x82\xac", "caf\xc3\xa9 \xe2\x82\xac" },
	};
	char out[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		utf8_escape_nonprinting(out, sizeof(out), cases[i].in);
		assert_string_equal(out, cases[i].out);
	}
	/* Cut short to fit, never mid-escape. */
	utf8_escape_nonprinting(out, 6, "\x1b\x1b\x1b");
	assert_string_equal(out, "\\x1b");
}

/* SetNodeAvailability's audit row names the node as the caller wrote it. */
static void
test_target_of_a_node_request_is_the_node(void **state)
{
	Berth__V1__SetNodeAvailabilityRequest req = BERTH__V1__SET_NODE_AVAILABILITY_REQUEST__INIT;

	(void)state;
	req.node = "worker-1";
	req.availability = "drain";
	assert_string_equal(audit_target(&req.base), "worker-1");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_unauthenticated_flood_cannot_evict_admin_rows, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rows_past_the_age_limit_are_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_authenticated_rows_are_kept_by_count, setup,
		    teardown),
		cmocka_unit_test(test_nonprinting_characters_are_shown_escaped),
		cmocka_unit_test(test_target_of_a_node_request_is_the_node),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
