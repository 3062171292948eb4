/*
 * test_cli_supervision.c - the CLI's words for restart policies and health
 * checks (client/cli/supervision.c, durations in args.c and format.c):
 * what each option value parses to, what it refuses, and the lines
 * `template show` and `ls` print.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "format.h"
#include "supervision.h"

static void
test_durations_take_seconds_or_one_unit(void **state)
{
	static const struct {
		const char *text;
		uint32_t seconds;
	} good[] = { { "0", 0 }, { "10", 10 }, { "10s", 10 }, { "2m", 120 }, { "1h", 3600 },
		{ "600", 600 }, { "4294967295", UINT32_MAX }, { "1193046h", 1193046u * 3600 } };
	static const char *const bad[] = { "", "s", "m5", "10x", "10S", "1m30s", "10ss", "-1", "+1",
		" 10", "10 ", "1.5m", "4294967296", "1193047h", "71582789m" };
	uint32_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 7;
		if (cli_parse_duration(good[i].text, &v) != 0)
			fail_msg("'%s' refused", good[i].text);
		assert_int_equal(v, good[i].seconds);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (cli_parse_duration(bad[i], &v) == 0)
			fail_msg("'%s' accepted as %u", bad[i], v);
}

static void
test_max_restarts_takes_a_count_and_an_optional_window(void **state)
{
	static const char *const bad[] = { "", "0", "0/10m", "/10m", "5/", "5/0", "5/0s", "x",
		"5/10x", "5/10m/2", "5 /10m", "-5", "99999999999999999999/1" };
	uint32_t max = 9, window = 9;

	(void)state;
	assert_int_equal(cli_parse_max_restarts("5", &max, &window), 0);
	assert_int_equal(max, 5);
	assert_int_equal(window, 0); /* the server's default */
	assert_int_equal(cli_parse_max_restarts("5/10m", &max, &window), 0);
	assert_int_equal(max, 5);
	assert_int_equal(window, 600);
	assert_int_equal(cli_parse_max_restarts("3/600", &max, &window), 0);
	assert_int_equal(max, 3);
	assert_int_equal(window, 600);
	assert_int_equal(cli_parse_max_restarts("1/1h", &max, &window), 0);
	assert_int_equal(window, 3600);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (cli_parse_max_restarts(bad[i], &max, &window) == 0)
			fail_msg("'%s' accepted", bad[i]);
}

/* Splits s and checks the words against the NULL-terminated list. */
static void
assert_words(const char *s, ...)
{
	char **words;
	size_t n, i = 0;
	const char *want;
	va_list ap;

	if (cli_split_words(s, &words, &n) != 0)
		fail_msg("<%s> refused", s);
	va_start(ap, s);
	while ((want = va_arg(ap, const char *)) != NULL) {
		if (i >= n)
			fail_msg("<%s>: %zu words, expected more", s, n);
		assert_string_equal(words[i], want);
		i++;
	}
	va_end(ap);
	assert_int_equal(n, i);
	assert_null(words[n]);
	free(words);
}

static void
test_commands_split_into_words_as_a_shell_would(void **state)
{
	static const char *const bad[] = { "'open", "\"open", "a 'b", "trailing\\", "x \"a\\\"" };
	char **words;
	size_t n;

	(void)state;
	assert_words("pg_isready -q", "pg_isready", "-q", NULL);
	assert_words("  a\t b  ", "a", "b", NULL);
	assert_words("sh -c 'test -f /tmp/ok || exit 1'", "sh", "-c", "test -f /tmp/ok || exit 1",
	    NULL);
	assert_words("echo \"a \\\"b\\\" \\\\ \\n\"", "echo", "a \"b\" \\ \\n", NULL);
	assert_words("a\\ b 'it'\\''s' ''", "a b", "it's", "", NULL);
	assert_words("x'y'\"z\"", "xyz", NULL);
	assert_words("'\\'", "\\", NULL); /* no escapes between single quotes */
	assert_words("$HOME *", "$HOME", "*", NULL); /* nor expansions */
	assert_words("", NULL);
	assert_words("   ", NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		words = (char **)1;
		if (cli_split_words(bad[i], &words, &n) != EINVAL)
			fail_msg("<%s> accepted", bad[i]);
		assert_null(words);
	}
}

static void
test_health_takes_none_tcp_http_path_or_exec_command(void **state)
{
	Berth__V1__HealthCheck h = BERTH__V1__HEALTH_CHECK__INIT;
	char **words;
	const char *why;

	(void)state;
	h.interval_s = 42;
	assert_int_equal(cli_parse_health("tcp", &h, &words, &why), 0);
	assert_string_equal(h.kind, "tcp");
	assert_string_equal(h.http_path, "");
	assert_int_equal(h.n_exec_command, 0);
	assert_null(words);
	assert_int_equal(h.interval_s, 42); /* timings are the caller's */

	assert_int_equal(cli_parse_health("none", &h, &words, &why), 0);
	assert_string_equal(h.kind, "none");

	assert_int_equal(cli_parse_health("http=/healthz?deep=1", &h, &words, &why), 0);
	assert_string_equal(h.kind, "http");
	assert_string_equal(h.http_path, "/healthz?deep=1");
	assert_null(words);

	assert_int_equal(cli_parse_health("exec=sh -c 'exit 0'", &h, &words, &why), 0);
	assert_string_equal(h.kind, "exec");
	assert_string_equal(h.http_path, "");
	assert_int_equal(h.n_exec_command, 3);
	assert_ptr_equal(h.exec_command, words);
	assert_string_equal(h.exec_command[2], "exit 0");
	free(words);
}

static void
test_health_refuses_other_forms_saying_which(void **state)
{
	static const struct {
		const char *spec, *why;
	} bad[] = {
		{ "http", "http=/PATH" }, { "http /healthz", "http=/PATH" },
		{ "http=", "needs a path" }, { "exec", "exec=COMMAND" }, { "exec=", "needs a command" },
		{ "exec=   ", "needs a command" }, { "exec='a", "unbalanced quote" },
		{ "TCP", "none, tcp" }, { "", "none, tcp" }, { "grpc", "none, tcp" },
	};
	Berth__V1__HealthCheck h = BERTH__V1__HEALTH_CHECK__INIT;
	char **words;
	const char *why;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (cli_parse_health(bad[i].spec, &h, &words, &why) != EINVAL)
			fail_msg("'%s' accepted", bad[i].spec);
		assert_null(words);
		assert_non_null(why);
		if (strstr(why, bad[i].why) == NULL)
			fail_msg("'%s': \"%s\" does not say \"%s\"", bad[i].spec, why, bad[i].why);
	}
}

static void
test_durations_print_in_their_largest_whole_unit(void **state)
{
	char buf[32];

	(void)state;
	cli_format_duration(buf, sizeof(buf), 0);
	assert_string_equal(buf, "0s");
	cli_format_duration(buf, sizeof(buf), 3);
	assert_string_equal(buf, "3s");
	cli_format_duration(buf, sizeof(buf), 90);
	assert_string_equal(buf, "90s");
	cli_format_duration(buf, sizeof(buf), 600);
	assert_string_equal(buf, "10m");
	cli_format_duration(buf, sizeof(buf), 7200);
	assert_string_equal(buf, "2h");
	cli_format_duration(buf, sizeof(buf), 3660);
	assert_string_equal(buf, "61m");
}

/* The line `template show` prints for a policy and its limits. */
static void
assert_restart_line(const char *policy, uint32_t max, uint32_t window, const char *want)
{
	char *s = cli_format_restart(policy, max, window);

	assert_non_null(s);
	assert_string_equal(s, want);
	free(s);
}

static void
test_template_show_prints_the_restart_policy_with_its_limits(void **state)
{
	(void)state;
	assert_restart_line("on-failure", 5, 600, "on-failure (max 5 in 10m)");
	assert_restart_line("always", 3, 90, "always (max 3 in 90s)");
	assert_restart_line("no", 5, 600, "no");
	assert_restart_line("on-failure", 0, 0, "on-failure (default limits)");
	assert_restart_line("on-failure", 4, 0, "on-failure (max 4 in default)");
	assert_restart_line("", 5, 600, "-"); /* a berthd older than restart policies */
}

/* The line `template show` prints for a check. */
static void
assert_health_line(const Berth__V1__HealthCheck *h, const char *want)
{
	char *s = cli_format_health(h);

	assert_non_null(s);
	assert_string_equal(s, want);
	free(s);
}

static void
test_template_show_prints_the_health_check_on_one_line(void **state)
{
	Berth__V1__HealthCheck h = BERTH__V1__HEALTH_CHECK__INIT;
	char *command[] = { "sh", "-c", "test -f /tmp/ok" };

	(void)state;
	assert_health_line(NULL, "none");
	assert_health_line(&h, "none");
	h.kind = "none";
	assert_health_line(&h, "none");

	h.kind = "http";
	h.http_path = "/healthz";
	h.interval_s = 10;
	h.timeout_s = 3;
	h.retries = 3;
	assert_health_line(&h, "http /healthz every 10s, timeout 3s, 3 retries, start period 0s");

	h.kind = "tcp";
	h.http_path = "";
	h.interval_s = 120;
	h.retries = 1;
	h.start_period_s = 30;
	assert_health_line(&h, "tcp every 2m, timeout 3s, 1 retry, start period 30s");

	/* The command as it would be typed back: --health exec='...' splits it the same way. */
	h.kind = "exec";
	h.exec_command = command;
	h.n_exec_command = 3;
	assert_health_line(&h,
	    "exec sh -c 'test -f /tmp/ok' every 2m, timeout 3s, 1 retry, start period 30s");
}

static void
test_ls_shows_the_supervisor_state_beside_the_restarts_when_not_ok(void **state)
{
	char buf[48];

	(void)state;
	cli_format_restarts(buf, sizeof(buf), 0, "ok");
	assert_string_equal(buf, "0");
	cli_format_restarts(buf, sizeof(buf), 4, "");
	assert_string_equal(buf, "4");
	cli_format_restarts(buf, sizeof(buf), 2, "backoff");
	assert_string_equal(buf, "2 (backoff)");
	cli_format_restarts(buf, sizeof(buf), 6, "failed");
	assert_string_equal(buf, "6 (failed)");
}

/* `berth ls` as text, for two services; nodes_b NULL: neither has placement. */
static char *
ls_text(char **nodes_b, size_t n_nodes_b)
{
	Berth__V1__Service a = BERTH__V1__SERVICE__INIT, b = BERTH__V1__SERVICE__INIT;
	Berth__V1__Service *list[] = { &a, &b };
	struct cli cli;
	char *text = NULL;
	size_t len = 0;

	memset(&cli, 0, sizeof(cli));
	cli.out = open_memstream(&text, &len);
	cli.err = stderr;
	a.service_id = "web_1";
	a.status = "running";
	a.created_at = "2026-01-01T00:00:00Z";
	b = a;
	b.service_id = "web_2";
	b.nodes = nodes_b;
	b.n_nodes = n_nodes_b;
	assert_int_equal(cli_print_services(&cli, list, 2), 0);
	fclose(cli.out);
	return text;
}

static void
test_ls_shows_a_node_column_only_when_a_service_has_placement(void **state)
{
	static char *nodes[] = { "n1", "n3" };
	char *text;

	(void)state;
	text = ls_text(NULL, 0);
	assert_null(strstr(text, "NODE")); /* the engine backend's table is unchanged */
	assert_non_null(strstr(text, "STATUS    HEALTH"));
	free(text);
	text = ls_text(nodes, 2);
	assert_non_null(strstr(text, "STATUS    NODE    HEALTH"));
	assert_non_null(strstr(text, "running   n1,n3   -"));
	assert_non_null(strstr(text, "running   -       -")); /* web_1 runs nowhere */
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations_take_seconds_or_one_unit),
		cmocka_unit_test(test_max_restarts_takes_a_count_and_an_optional_window),
		cmocka_unit_test(test_commands_split_into_words_as_a_shell_would),
		cmocka_unit_test(test_health_takes_none_tcp_http_path_or_exec_command),
		cmocka_unit_test(test_health_refuses_other_forms_saying_which),
		cmocka_unit_test(test_durations_print_in_their_largest_whole_unit),
		cmocka_unit_test(test_template_show_prints_the_restart_policy_with_its_limits),
		cmocka_unit_test(test_template_show_prints_the_health_check_on_one_line),
		cmocka_unit_test(test_ls_shows_the_supervisor_state_beside_the_restarts_when_not_ok),
		cmocka_unit_test(test_ls_shows_a_node_column_only_when_a_service_has_placement),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
