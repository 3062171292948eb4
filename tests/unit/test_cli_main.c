/*
 * test_cli_main.c - the `berth` driver run in-process (cli_main with
 * memory streams): command lookup, usage errors, local checks that fail
 * like the server would, and the exit status of each class of outcome.
 *
 * BERTH_URL points at a socket that does not exist, so a command that
 * reached the network would exit 7 (UNAVAILABLE): every other exit status
 * below proves the CLI decided locally.
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

#include "cli.h"

#define NO_SERVER "ipc:///nonexistent/berth-cli-test.sock"

/* Runs `berth ARGS...` (NULL-terminated); *out and *err are malloc'ed. */
static int
run(char **out, char **err, ...)
{
	char *argv[32];
	int argc = 0, rc;
	size_t out_len, err_len;
	FILE *o = open_memstream(out, &out_len), *e = open_memstream(err, &err_len);
	va_list ap;
	char *arg;

	argv[argc++] = "berth";
	va_start(ap, err);
	while ((arg = va_arg(ap, char *)) != NULL && argc < 31)
		argv[argc++] = arg;
	va_end(ap);
	argv[argc] = NULL;
	rc = cli_main(argc, argv, o, e);
	fclose(o);
	fclose(e);
	return rc;
}

static void
assert_contains(const char *haystack, const char *needle)
{
	if (strstr(haystack, needle) == NULL)
		fail_msg("\"%s\" not found in:\n%s", needle, haystack);
}

static void
test_no_command_is_a_usage_error(void **state)
{
	char *out, *err;

	(void)state;
	assert_int_equal(run(&out, &err, NULL), 1);
	assert_contains(err, "no command given");
	assert_contains(err, "Usage: berth");
	assert_string_equal(out, "");
	free(out);
	free(err);
}

static void
test_unknown_command_exits_1_with_the_usage(void **state)
{
	char *out, *err;

	(void)state;
	assert_int_equal(run(&out, &err, "frobnicate", NULL), 1);
	assert_contains(err, "berth: unknown command 'frobnicate'");
	assert_contains(err, "Commands:");
	assert_contains(err, "template add NAME");
	free(out);
	free(err);
}

static void
test_help_lists_every_command_and_the_exit_statuses(void **state)
{
	char *out, *err;

	(void)state;
	assert_int_equal(run(&out, &err, "--help", NULL), 0);
	for (size_t i = 0; i < cli_commands_count; i++)
		assert_contains(out, cli_commands[i].synopsis);
	assert_contains(out, "--url URL");
	assert_contains(out, "BERTH_TOKEN");
	assert_contains(out, "Exit status:");
	assert_contains(out, "3  NOT_FOUND");
	assert_contains(out, "8  UNIMPLEMENTED");
	assert_string_equal(err, "");
	free(out);
	free(err);

	assert_int_equal(run(&out, &err, "help", NULL), 0);
	assert_contains(out, "Exit status:");
	free(out);
	free(err);
}

static void
test_command_help_shows_its_options(void **state)
{
	char *out, *err;

	(void)state;
	assert_int_equal(run(&out, &err, "template", "add", "--help", NULL), 0);
	assert_contains(out, "Usage: berth template add NAME --image IMAGE");
	assert_contains(out, "--from-json FILE");
	assert_contains(out, "--port-range START[-END]");
	assert_string_equal(err, "");
	free(out);
	free(err);

	assert_int_equal(run(&out, &err, "help", "ls", NULL), 0);
	assert_contains(out, "-q, --quiet");
	free(out);
	free(err);

	assert_int_equal(run(&out, &err, "template", "--help", NULL), 0);
	assert_contains(out, "berth template show NAME");
	assert_contains(out, "berth template rm NAME");
	free(out);
	free(err);
}

static void
test_version_prints_the_version(void **state)
{
	char *out, *err;

	(void)state;
	assert_int_equal(run(&out, &err, "--version", NULL), 0);
	assert_contains(out, "berth " BERTH_VERSION);
	free(out);
	free(err);
}

static void
test_bad_command_lines_are_usage_errors(void **state)
{
	char *out, *err;

	(void)state;
	assert_int_equal(run(&out, &err, "template", NULL), 1);
	assert_contains(err, "'template' needs a subcommand");
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, "template", "edit", NULL), 1);
	assert_contains(err, "unknown command 'template edit'");
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, "templates", "--bogus", NULL), 1);
	assert_contains(err, "berth: unknown option '--bogus'");
	assert_contains(err, "Usage: berth templates");
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, "template", "show", NULL), 1);
	assert_contains(err, "missing argument");
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, "info", "a", "b", NULL), 1);
	assert_contains(err, "unexpected argument 'b'");
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, "launch", "buckets", "--port", "abc", NULL), 1);
	assert_contains(err, "option --port takes a number, not 'abc'");
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, "logs", "x", "--tail", NULL), 1);
	assert_contains(err, "option --tail needs a value");
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, "--timeout", "soon", "health", NULL), 1);
	assert_contains(err, "--timeout takes a positive number of seconds");
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, "cleanup", "--status", "--force", NULL), 1);
	assert_contains(err, "exclude each other");
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, "template", "add", "x", NULL), 1);
	assert_contains(err, "--image is required");
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, "template", "add", "--from-json", "/nonexistent.json", NULL),
	    1);
	assert_contains(err, "cannot open '/nonexistent.json'");
	free(out);
	free(err);
}

/* berth node: a subcommand, exactly one NODE, and nodes takes no argument. */
static void
test_node_command_lines_are_usage_errors(void **state)
{
	char *out, *err;

	(void)state;
	assert_int_equal(run(&out, &err, "node", NULL), 1);
	assert_contains(err, "'node' needs a subcommand");
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, "node", "remove", "n1", NULL), 1);
	assert_contains(err, "unknown command 'node remove'");
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, "node", "drain", NULL), 1);
	assert_contains(err, "missing argument");
	assert_contains(err, "Usage: berth node drain NODE");
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, "node", "pause", "a", "b", NULL), 1);
	assert_contains(err, "unexpected argument 'b'");
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, "node", "activate", "", NULL), 1);
	assert_contains(err, "NODE must name a node");
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, "nodes", "extra", NULL), 1);
	assert_contains(err, "unexpected argument 'extra'");
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, "node", "--help", NULL), 0);
	assert_contains(out, "berth node drain NODE");
	assert_contains(out, "berth node activate NODE");
	free(out);
	free(err);
}

static void
test_invalid_name_fails_locally_as_invalid_argument(void **state)
{
	char *out, *err;

	(void)state;
	assert_int_equal(run(&out, &err, "template", "show", "Bad_Name", NULL), 2);
	assert_string_equal(err,
	    "berth: INVALID_ARGUMENT: name must start with a lowercase letter or a digit "
	    "(field: name)\n");
	assert_string_equal(out, "");
	free(out);
	free(err);
}

static void
test_invalid_template_fails_locally_naming_the_field(void **state)
{
	char *out, *err;

	(void)state;
	assert_int_equal(run(&out, &err, "template", "add", "web", "--image", "nginx",
			     "--container-port", "80", "--env", "NOEQUALS", NULL),
	    2);
	assert_string_equal(err, "berth: INVALID_ARGUMENT: template.env[0] must have the form "
				 "KEY=VALUE (field: template.env[0])\n");
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, "launch", "buckets", "--port", "0", NULL), 2);
	assert_contains(err, "(field: port)");
	free(out);
	free(err);
}

/*
 * The supervision options: a value of the wrong form is a usage error (1)
 * naming the option, a value out of range fails as berthd would (2, the
 * field named), and neither reaches the network (which would exit 7).
 */
static void
test_supervision_options_fail_locally(void **state)
{
	static const struct {
		const char *option, *value;
		int status;
		const char *says;
	} cases[] = {
		{ "--health", "http", 1, "--health 'http': it takes none, tcp, http=/PATH" },
		{ "--health", "exec='unclosed", 1, "unbalanced quote" },
		{ "--max-restarts", "0", 1, "--max-restarts takes N or N/WINDOW" },
		{ "--max-restarts", "5/10x", 1, "--max-restarts takes N or N/WINDOW" },
		{ "--health-interval", "5", 1, "the --health-* timings need a --health check" },
		{ "--restart", "sideways", 2, "(field: template.restart)" },
		{ "--health", "http=healthz", 2, "(field: template.health.http_path)" },
	};
	char *out, *err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = run(&out, &err, "template", "add", "web", "--image", "nginx", "--port-range",
		    "9000", cases[i].option, cases[i].value, NULL);

		if (rc != cases[i].status)
			fail_msg("%s %s: exit %d, not %d:\n%s", cases[i].option, cases[i].value, rc,
			    cases[i].status, err);
		assert_contains(err, cases[i].says);
		assert_string_equal(out, "");
		free(out);
		free(err);
	}

	/* Durations with a bad unit, and timings that do not fit each other. */
	assert_int_equal(run(&out, &err, "template", "add", "web", "--image", "nginx", "--port-range",
			     "9000", "--health", "tcp", "--health-timeout", "3x", NULL),
	    1);
	assert_contains(err, "--health-timeout takes seconds, or a number with s, m or h");
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, "template", "add", "web", "--image", "nginx", "--port-range",
			     "9000", "--health", "tcp", "--health-interval", "5s", "--health-timeout",
			     "6s", NULL),
	    2);
	assert_contains(err, "(field: template.health.timeout_s)");
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, "template", "add", "web", "--image", "nginx", "--port-range",
			     "9000", "--health", "none", "--health-retries", "2", NULL),
	    1);
	assert_contains(err, "--health none takes no --health-* timings");
	free(out);
	free(err);

	assert_int_equal(run(&out, &err, "launch", "web", "--restart", "sometimes", NULL), 2);
	assert_contains(err, "(field: restart)");
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, "cleanup", "--failed", "--force", NULL), 1);
	assert_contains(err, "--failed goes with a plain cleanup");
	free(out);
	free(err);
}

/* Well-formed, they get as far as the network: UNAVAILABLE (7), not a usage error. */
static void
test_supervision_options_well_formed_reach_the_server(void **state)
{
	char *out, *err;

	(void)state;
	assert_int_equal(run(&out, &err, "template", "add", "web", "--image", "nginx", "--port-range",
			     "9000", "--restart", "always", "--max-restarts", "3/10m", "--health",
			     "http=/healthz", "--health-interval=2", "--health-retries", "5",
			     "--health-start-period", "1m", NULL),
	    7);
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, "template", "add", "web", "--image", "nginx", "--port-range",
			     "9000", "--health", "exec=pg_isready -q", NULL),
	    7);
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, "launch", "web", "--restart", "no", "--wait", NULL), 7);
	free(out);
	free(err);
	assert_int_equal(run(&out, &err, "cleanup", "--failed", NULL), 7);
	free(out);
	free(err);
}

static void
test_from_json_with_an_unknown_key_names_the_key(void **state)
{
	char path[] = "/tmp/berth-cli-test-XXXXXX";
	char *out, *err;
	int fd = mkstemp(path);
	const char doc[] = "{\"name\": \"web\", \"image\": \"nginx\", \"colour\": \"red\"}\n";

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, doc, sizeof(doc) - 1), (ssize_t)sizeof(doc) - 1);
	close(fd);
	assert_int_equal(run(&out, &err, "template", "add", "--from-json", path, NULL), 2);
	assert_string_equal(err, "berth: INVALID_ARGUMENT: unknown field \"colour\" in "
				 "berth.v1.Template (field: colour)\n");
	free(out);
	free(err);
	unlink(path);
}

static void
test_unreachable_server_is_unavailable(void **state)
{
	char *out, *err;

	(void)state;
	assert_int_equal(run(&out, &err, "health", NULL), 7);
	assert_contains(err, "berth: UNAVAILABLE: ");
	assert_contains(err, NO_SERVER);
	free(out);
	free(err);
	/* --url wins over $BERTH_URL: an unknown scheme is the caller's mistake. */
	assert_int_equal(run(&out, &err, "--url", "bogus://x", "health", NULL), 2);
	assert_contains(err, "berth: INVALID_ARGUMENT: ");
	free(out);
	free(err);
}

static void
test_exit_status_classes(void **state)
{
	(void)state;
	assert_int_equal(cli_exit_status(BERTH__V1__CODE__OK), 0);
	assert_int_equal(cli_exit_status(CLI_HELP), 0);
	assert_int_equal(cli_exit_status(CLI_USAGE), 1);
	assert_int_equal(cli_exit_status(BERTH__V1__CODE__INVALID_ARGUMENT), 2);
	assert_int_equal(cli_exit_status(BERTH__V1__CODE__FAILED_PRECONDITION), 2);
	assert_int_equal(cli_exit_status(BERTH__V1__CODE__OUT_OF_RANGE), 2);
	assert_int_equal(cli_exit_status(BERTH__V1__CODE__NOT_FOUND), 3);
	assert_int_equal(cli_exit_status(BERTH__V1__CODE__ALREADY_EXISTS), 4);
	assert_int_equal(cli_exit_status(BERTH__V1__CODE__ABORTED), 4);
	assert_int_equal(cli_exit_status(BERTH__V1__CODE__RESOURCE_EXHAUSTED), 5);
	assert_int_equal(cli_exit_status(BERTH__V1__CODE__UNAUTHENTICATED), 6);
	assert_int_equal(cli_exit_status(BERTH__V1__CODE__PERMISSION_DENIED), 6);
	assert_int_equal(cli_exit_status(BERTH__V1__CODE__UNAVAILABLE), 7);
	assert_int_equal(cli_exit_status(BERTH__V1__CODE__DEADLINE_EXCEEDED), 7);
	assert_int_equal(cli_exit_status(BERTH__V1__CODE__CANCELLED), 7);
	assert_int_equal(cli_exit_status(BERTH__V1__CODE__UNIMPLEMENTED), 8);
	assert_int_equal(cli_exit_status(BERTH__V1__CODE__INTERNAL), 9);
	assert_int_equal(cli_exit_status(BERTH__V1__CODE__UNKNOWN), 9);
	assert_int_equal(cli_exit_status(BERTH__V1__CODE__DATA_LOSS), 9);
	assert_int_equal(cli_exit_status(99), 9);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_command_is_a_usage_error),
		cmocka_unit_test(test_unknown_command_exits_1_with_the_usage),
		cmocka_unit_test(test_help_lists_every_command_and_the_exit_statuses),
		cmocka_unit_test(test_command_help_shows_its_options),
		cmocka_unit_test(test_version_prints_the_version),
		cmocka_unit_test(test_bad_command_lines_are_usage_errors),
		cmocka_unit_test(test_node_command_lines_are_usage_errors),
		cmocka_unit_test(test_invalid_name_fails_locally_as_invalid_argument),
		cmocka_unit_test(test_invalid_template_fails_locally_naming_the_field),
		cmocka_unit_test(test_supervision_options_fail_locally),
		cmocka_unit_test(test_supervision_options_well_formed_reach_the_server),
		cmocka_unit_test(test_from_json_with_an_unknown_key_names_the_key),
		cmocka_unit_test(test_unreachable_server_is_unavailable),
		cmocka_unit_test(test_exit_status_classes),
	};

	setenv("BERTH_URL", NO_SERVER, 1);
	unsetenv("BERTH_TOKEN");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
