/*
 * test_cli_watch.c - the CLI over time, against a real berthd: `--watch`
 * on `status` and `ls` (plain snapshots on a pipe, redrawn in place on a
 * terminal, a clean stop on SIGINT), `templates -q`, and the elapsed-time
 * indicator of a slow `launch` on a terminal.
 *
 * Terminals are pseudo-terminals (forkpty). The launch uses the demo image
 * (as in test_lifecycle.c); the group teardown removes every container of
 * the run.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "berthd_proc.h"
#include "e2e.h"
#include "clock.h"
#include "engine/docker.h"

#define TEMPLATE "watch_demo"

static struct berthd_proc proc;
static struct docker *docker;

/* --- helpers ---------------------------------------------------------------- */

static const char *
build_dir(void)
{
	const char *b = getenv("BUILD");
	return b != NULL && b[0] != '\0' ? b : "build";
}

static size_t
count(const char *haystack, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(haystack, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* Fills argv with $BUILD/berth --url URL args... (NULL-terminated). */
static void
berth_argv(const char **argv, char *berth, size_t len, const char *const *args)
{
	int n = 0;

	snprintf(berth, len, "%s/berth", build_dir());
	argv[n++] = berth;
	argv[n++] = "--url";
	argv[n++] = proc.url;
	for (int i = 0; args[i] != NULL; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
}

/* Starts the CLI on a new pseudo-terminal (stdout and stderr); *master reads it. */
static pid_t
spawn_on_pty(const char *const *args, int *master)
{
	const char *argv[32];
	char berth[PATH_MAX];
	struct winsize ws = { .ws_row = 40, .ws_col = 120 };
	pid_t pid;

	berth_argv(argv, berth, sizeof(berth), args);
	pid = forkpty(master, NULL, NULL, &ws);
	assert_true(pid >= 0);
	if (pid == 0) {
		execv(berth, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* Reads the terminal until the program ends; returns its output and exit status. */
static char *
read_pty(int master, pid_t pid, int *status)
{
	char *out = calloc(1, 1), chunk[4096];
	size_t len = 0;
	ssize_t n;
	int st;

	while ((n = read(master, chunk, sizeof(chunk))) > 0 || (n < 0 && errno == EINTR)) {
		if (n <= 0)
			continue;
		out = realloc(out, len + (size_t)n + 1);
		memcpy(out + len, chunk, (size_t)n);
		len += (size_t)n;
		out[len] = '\0';
	}
	close(master); /* EIO: the program is gone */
	assert_int_equal(waitpid(pid, &st, 0), pid);
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return out;
}

/* --- fixture ------------------------------------------------------------------ */

static int
setup_group(void **state)
{
	struct error err;

	(void)state;
	if (docker_open(&docker, NULL, &err) != 0)
		return -1;
	return berthd_proc_start(&proc, NULL);
}

static int
teardown_group(void **state)
{
	struct docker_container *list = NULL;
	struct error err;
	char label[600];
	size_t n = 0;

	(void)state;
	berth_cli(&proc, NULL, NULL, "rm", TEMPLATE "_instance_1", "--purge", NULL);
	snprintf(label, sizeof(label), "%s=%s", DOCKER_LABEL_DATA_DIR, proc.data_dir);
	if (docker_container_list(docker, label, &list, &n, 10000, &err) == 0) {
		for (size_t i = 0; i < n; i++)
			docker_container_remove(docker, list[i].id, true, 10000, &err);
		free(list);
	}
	berthd_proc_cleanup(&proc);
	docker_close(docker);
	return 0;
}

/* --- tests ------------------------------------------------------------------------ */

static void
test_templates_quiet_prints_only_the_names(void **state)
{
	char *out, *err;

	(void)state;
	assert_int_equal(berth_cli(&proc, &out, &err, "templates", "-q", NULL), 0);
	assert_string_equal(out, "auth_service\nbuckets\ndatabase_service\ndb\nfile_manager\n");
	assert_string_equal(err, "");
	free(out);
	free(err);
}

/* On a pipe: each snapshot exactly as the one-shot command prints it, a blank line between. */
static void
test_status_watch_on_a_pipe_prints_snapshots_separated_by_a_blank_line(void **state)
{
	char *once, *watched, *err, *expected;

	(void)state;
	assert_int_equal(berth_cli(&proc, &once, &err, "status", NULL), 0);
	free(err);
	assert_int_equal(berth_cli(&proc, &watched, &err, "status", "--watch", "1", "--watch-count",
			     "2", NULL),
	    0);
	assert_string_equal(err, "");
	assert_int_equal(asprintf(&expected, "%s\n%s", once, once), (int)(2 * strlen(once) + 1));
	assert_string_equal(watched, expected);
	assert_null(strchr(watched, '\033'));
	free(expected);
	free(once);
	free(watched);
	free(err);
}

static void
test_ls_watch_accepts_watch_equals_and_stops_after_the_count(void **state)
{
	char *out, *err;

	(void)state;
	assert_int_equal(
	    berth_cli(&proc, &out, &err, "ls", "--watch=1", "--watch-count=3", NULL), 0);
	assert_string_equal(out, "No services.\n\nNo services.\n\nNo services.\n");
	free(out);
	free(err);
	/* --json: one object per snapshot. */
	assert_int_equal(
	    berth_cli(&proc, &out, &err, "--json", "ls", "--watch-count", "2", "--watch", "1", NULL),
	    0);
	assert_int_equal(count(out, "\"services\""), 2);
	free(out);
	free(err);
}

static void
test_watch_zero_is_a_usage_error(void **state)
{
	char *out, *err;

	(void)state;
	assert_int_equal(berth_cli(&proc, &out, &err, "status", "--watch", "0", NULL), 1);
	assert_non_null(strstr(err, "--watch takes a number of seconds"));
	free(out);
	free(err);
}

static void
test_watch_stops_cleanly_on_sigint(void **state)
{
	const char *args[] = { "status", "--watch", "1", NULL };
	const char *argv[16];
	char berth[PATH_MAX], buf[8192] = "";
	int pipefd[2], st = -1;
	size_t len = 0;
	pid_t pid;

	(void)state;
	berth_argv(argv, berth, sizeof(berth), args);
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		close(pipefd[0]);
		execv(berth, (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	/* The first snapshot is there: the watch is running. */
	while (strstr(buf, "No services.") == NULL) {
		struct pollfd p = { pipefd[0], POLLIN, 0 };
		ssize_t n;

		buf[len] = '\0';
		if (strstr(buf, "No services.") != NULL)
			break;
		assert_int_equal(poll(&p, 1, 10000), 1);
		n = read(pipefd[0], buf + len, sizeof(buf) - 1 - len);
		assert_true(n > 0);
		len += (size_t)n;
		buf[len] = '\0';
	}
	kill(pid, SIGINT);
	if (!E2E_WAIT_UNTIL(waitpid(pid, &st, WNOHANG) == pid, 5000))
		st = -1;
	if (st == -1) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		fail_msg("berth --watch did not stop within 5 s of SIGINT");
	}
	close(pipefd[0]);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void
test_watch_on_a_terminal_redraws_in_place(void **state)
{
	const char *args[] = { "status", "--watch", "1", "--watch-count", "2", NULL };
	char *out;
	int master, status;
	pid_t pid;

	(void)state;
	pid = spawn_on_pty(args, &master);
	out = read_pty(master, pid, &status);
	assert_int_equal(status, 0);
	assert_int_equal(count(out, "\033[H\033[2J"), 2);
	assert_int_equal(count(out, "Every 1s: berth status"), 2);
	assert_int_equal(count(out, "No services."), 2);
	free(out);
}

static void
test_a_launch_on_a_pipe_prints_no_progress(void **state)
{
	char context[PATH_MAX], build[PATH_MAX], range[32], *out, *err;

	(void)state;
	snprintf(build, sizeof(build), "%s/demo", build_dir());
	if (realpath(build, context) == NULL)
		fail_msg("no demo build context at %s: run make demo", build);
	snprintf(range, sizeof(range), "%d-%d", 33000 + (getpid() % 100) * 10,
	    33009 + (getpid() % 100) * 10);
	assert_int_equal(berth_cli(&proc, &out, &err, "template", "add", TEMPLATE, "--image",
			     "berth-demo:e2e", "--build-context", context, "--container-port",
			     "8000", "--port-range", range, "--mount", "/data", "--env",
			     "DEMO_DIR=/data", "--stop-timeout", "2", NULL),
	    0);
	free(out);
	free(err);
	/* Makes sure the image exists, so that the next launch is quick by itself. */
	assert_int_equal(berth_cli(&proc, &out, &err, "launch", TEMPLATE, "probe", NULL), 0);
	assert_string_equal(err, "");
	assert_null(strstr(out, "launching"));
	free(out);
	free(err);
	assert_int_equal(berth_cli(&proc, &out, &err, "rm", TEMPLATE "_probe", "--purge", NULL), 0);
	free(out);
	free(err);
}

/*
 * berthd is paused (SIGSTOP) for 2.5 s while the launch is in flight: the
 * terminal shows "launching T... 1s", "... 2s", then the line is erased
 * and the reply printed.
 */
static void
test_a_slow_launch_shows_the_elapsed_time_on_a_terminal(void **state)
{
	const char *args[] = { "launch", TEMPLATE, NULL };
	char *out, *after;
	int master, status;
	pid_t pid;

	(void)state;
	assert_int_equal(kill(proc.pid, SIGSTOP), 0);
	pid = spawn_on_pty(args, &master);
	clock_sleep_ms(2500); /* deliberate: a launch that takes this long is what is shown */
	assert_int_equal(kill(proc.pid, SIGCONT), 0);
	out = read_pty(master, pid, &status);
	if (status != 0)
		fail_msg("launch failed:\n%s", out);
	if (strstr(out, "launching " TEMPLATE "... 1s") == NULL ||
	    strstr(out, "launching " TEMPLATE "... 2s") == NULL)
		fail_msg("no elapsed time shown:\n%s", out);
	after = strstr(out, "... 2s");
	assert_non_null(strstr(after, "\r\033[K"));
	assert_non_null(strstr(strstr(after, "\r\033[K"), "service_id: " TEMPLATE "_instance_1"));
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_templates_quiet_prints_only_the_names),
		cmocka_unit_test(test_status_watch_on_a_pipe_prints_snapshots_separated_by_a_blank_line),
		cmocka_unit_test(test_ls_watch_accepts_watch_equals_and_stops_after_the_count),
		cmocka_unit_test(test_watch_zero_is_a_usage_error),
		cmocka_unit_test(test_watch_stops_cleanly_on_sigint),
		cmocka_unit_test(test_watch_on_a_terminal_redraws_in_place),
		cmocka_unit_test(test_a_launch_on_a_pipe_prints_no_progress),
		cmocka_unit_test(test_a_slow_launch_shows_the_elapsed_time_on_a_terminal),
	};

	return cmocka_run_group_tests_name("cli_watch", tests, setup_group, teardown_group);
}
