/*
 * test_fd_budget.c - how berthd shares its open-file limit among its
 * listeners (server/daemon/fd_budget.c): nothing changes when the caps
 * fit; when they do not, ipc:// keeps a share of its own and the network
 * listeners get the rest.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/resource.h>

#include "daemon/fd_budget.h"

/* systemd's LimitNOFILE=65536: the defaults fit, nothing is lowered. */
static void
test_caps_that_fit_are_kept(void **state)
{
	struct fd_budget b = { 65536, 50, 16, 2, 2, 1024, 64 };
	struct fd_shares s;

	(void)state;
	fd_budget_share(&b, &s);
	assert_false(s.lowered);
	assert_int_equal(s.ipc_each, 1024);
	assert_int_equal(s.network_each, 1024);
	assert_int_equal(s.per_address, 64);
}

/*
 * ulimit -n 256, 4 workers, ipc:// and its events socket plus tcp://:
 * 256 - 10 in use - (64 + 4 x 4) reserved = 166; ipc:// keeps a quarter
 * (41, 20 per listener), tcp:// gets the other 125.
 */
static void
test_a_low_limit_keeps_a_share_for_ipc(void **state)
{
	struct fd_budget b = { 256, 10, 4, 2, 1, 1024, 1000 };
	struct fd_shares s;

	(void)state;
	fd_budget_share(&b, &s);
	assert_true(s.lowered);
	assert_int_equal(s.ipc_each, 20);
	assert_int_equal(s.network_each, 125);
	assert_int_equal(s.per_address, 125); /* never above the listener's cap */
	assert_true(2 * s.ipc_each + s.network_each <= 256 - 10 - (64 + 4 * 4));
}

/* Only ipc:// listeners: nobody to keep a share from, they get it all. */
static void
test_ipc_alone_gets_everything_left(void **state)
{
	struct fd_budget b = { 256, 10, 4, 2, 0, 1024, 64 };
	struct fd_shares s;

	(void)state;
	fd_budget_share(&b, &s);
	assert_true(s.lowered);
	assert_int_equal(s.ipc_each, 83);
}

/* A limit below the reserve: every listener still takes a few, ipc:// at least 8. */
static void
test_a_limit_below_the_reserve_leaves_minimal_caps(void **state)
{
	struct fd_budget b = { 64, 40, 16, 1, 2, 1024, 64 };
	struct fd_shares s;

	(void)state;
	fd_budget_share(&b, &s);
	assert_true(s.lowered);
	assert_int_equal(s.ipc_each, 8);
	assert_int_equal(s.network_each, 1);
	assert_int_equal(s.per_address, 1);
}

static void
test_no_limit_changes_nothing(void **state)
{
	struct fd_budget b = { RLIM_INFINITY, 50, 16, 1, 1, 1024, 64 };
	struct fd_shares s;

	(void)state;
	fd_budget_share(&b, &s);
	assert_false(s.lowered);
	assert_int_equal(s.network_each, 1024);
}

/*
 * The soft limit is raised to the hard one (the test process's own; under
 * valgrind, which keeps descriptors for itself, it may stay) and reported.
 */
static void
test_the_soft_limit_is_raised_and_reported(void **state)
{
	struct rlimit rl, now;
	uint64_t before, limit;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	limit = fd_budget_raise_limit(&before);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &now), 0);
	assert_int_equal(before, rl.rlim_cur);
	assert_int_equal(limit, now.rlim_cur);
	assert_true(limit >= before && limit <= rl.rlim_max);
	assert_true(fd_budget_in_use() >= 3); /* stdin, stdout, stderr at least */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_caps_that_fit_are_kept),
		cmocka_unit_test(test_a_low_limit_keeps_a_share_for_ipc),
		cmocka_unit_test(test_ipc_alone_gets_everything_left),
		cmocka_unit_test(test_a_limit_below_the_reserve_leaves_minimal_caps),
		cmocka_unit_test(test_no_limit_changes_nothing),
		cmocka_unit_test(test_the_soft_limit_is_raised_and_reported),
	};

	return cmocka_run_group_tests_name("fd_budget", tests, NULL, NULL);
}
