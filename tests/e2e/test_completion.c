/*
 * test_completion.c - the bash completion script
 * (client/cli/berth.bash-completion) run by a real bash against a real
 * berthd, and the CLI's command list kept in step everywhere: `berth
 * --help`, `berth COMMAND --help`, the completion and the README's table.
 *
 * One service is launched from the demo image (as in test_lifecycle.c) so
 * that its id can be completed; the group teardown removes every container
 * of the run.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "berthd_proc.h"
#include "engine/docker.h"

#define SCRIPT "client/cli/berth.bash-completion"
#define TEMPLATE "compl_demo"
#define SERVICE TEMPLATE "_instance_1"
#define MAX_WORDS 64

static struct berthd_proc proc;
static struct docker *docker;

/* --- helpers ----------------------------------------------------------------- */

static const char *
build_dir(void)
{
	const char *b = getenv("BUILD");
	return b != NULL && b[0] != '\0' ? b : "build";
}

/* Words of a newline-separated list, in a fixed array (strings owned by the caller's text). */
struct words {
	char *w[MAX_WORDS * 2];
	size_t n;
};

static void
split_lines(char *text, struct words *out)
{
	out->n = 0;
	for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n"))
		if (out->n < sizeof(out->w) / sizeof(out->w[0]))
			out->w[out->n++] = line;
}

static bool
has_word(const struct words *ws, const char *w)
{
	for (size_t i = 0; i < ws->n; i++)
		if (strcmp(ws->w[i], w) == 0)
			return true;
	return false;
}

/* Appends s to buf single-quoted for bash. */
static void
quote(char *buf, size_t len, const char *s)
{
	size_t n = strlen(buf);

	n += (size_t)snprintf(buf + n, len - n, "'");
	for (; *s != '\0' && n + 5 < len; s++) {
		if (*s == '\'')
			n += (size_t)snprintf(buf + n, len - n, "'\\''");
		else
			buf[n++] = *s;
	}
	snprintf(buf + n, len - n, "'");
}

/*
 * Runs bash with the script sourced, COMP_WORDS = words (NULL-terminated; the
 * last one is the word being completed) or, with `line`, COMP_LINE = line,
 * calls _berth and returns COMPREPLY one per line (malloc'ed). $BUILD is on
 * PATH, so the word "berth" is the CLI under test. BERTH_URL is `url`
 * (NULL: unset).
 */
static char *
complete(const char *url, const char *line, const char *const *words)
{
	char script[8192] = "", path[PATH_MAX + 64], cwd[PATH_MAX], *out = NULL, *err = NULL;
	int cword = 0, status, pipes[2][2];
	size_t cap = 0;
	FILE *fo, *fe;
	pid_t pid;

	snprintf(script, sizeof(script), "source " SCRIPT "; COMP_WORDS=(");
	for (; words != NULL && words[cword] != NULL; cword++) {
		strcat(script, " ");
		quote(script, sizeof(script), words[cword]);
	}
	snprintf(script + strlen(script), sizeof(script) - strlen(script), "); COMP_CWORD=%d; ",
	    cword > 0 ? cword - 1 : 0);
	if (line != NULL) {
		strcat(script, "COMP_LINE=");
		quote(script, sizeof(script), line);
		strcat(script, "; COMP_POINT=${#COMP_LINE}; ");
	}
	strcat(script, "_berth; [ ${#COMPREPLY[@]} -eq 0 ] || printf '%s\\n' \"${COMPREPLY[@]}\"");

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(path, sizeof(path), "%s/%s:%s", cwd, build_dir(), getenv("PATH"));
	assert_int_equal(pipe(pipes[0]), 0);
	assert_int_equal(pipe(pipes[1]), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pipes[0][1], STDOUT_FILENO);
		dup2(pipes[1][1], STDERR_FILENO);
		close(pipes[0][0]);
		close(pipes[1][0]);
		setenv("PATH", path, 1);
		if (url != NULL)
			setenv("BERTH_URL", url, 1);
		else
			unsetenv("BERTH_URL");
		execlp("bash", "bash", "--norc", "--noprofile", "-c", script, (char *)NULL);
		_exit(127);
	}
	close(pipes[0][1]);
	close(pipes[1][1]);
	/* Replies are short: reading stdout to the end before stderr cannot block. */
	fo = fdopen(pipes[0][0], "r");
	fe = fdopen(pipes[1][0], "r");
	if (getdelim(&out, &cap, '\0', fo) < 0) {
		free(out);
		out = strdup("");
	}
	cap = 0;
	if (getdelim(&err, &cap, '\0', fe) > 0)
		fprintf(stderr, "bash said: %s\n", err);
	free(err);
	fclose(fo);
	fclose(fe);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return out;
}

/* The command names of `berth --help` ("template" once), in order. */
static char *
help_commands(struct words *out)
{
	const char *argv[] = { "--help", NULL };
	char *text, *err, *p, *section;

	assert_int_equal(berth_cli_argv(argv, &text, &err), 0);
	free(err);
	section = strstr(text, "\nCommands:\n");
	assert_non_null(section);
	out->n = 0;
	for (p = section + 11; *p == ' ' && p[1] == ' ';) {
		char *end = strchr(p, '\n');

		if (p[2] >= 'a' && p[2] <= 'z') {
			size_t len = strcspn(p + 2, " \n");

			p[2 + len] = '\0';
			if (!has_word(out, p + 2))
				out->w[out->n++] = p + 2;
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	return text; /* owns the words */
}

static void
assert_words(const char *got, const char *const *expected)
{
	char *copy = strdup(got);
	struct words ws;
	size_t n = 0;

	split_lines(copy, &ws);
	for (; expected[n] != NULL; n++)
		if (!has_word(&ws, expected[n]))
			fail_msg("\"%s\" not among the completions:\n%s", expected[n], got);
	if (ws.n != n)
		fail_msg("expected %zu completions, got %zu:\n%s", n, ws.n, got);
	free(copy);
}

static void
assert_has(const char *got, const char *word)
{
	char *copy = strdup(got);
	struct words ws;

	split_lines(copy, &ws);
	if (!has_word(&ws, word))
		fail_msg("\"%s\" not among the completions:\n%s", word, got);
	free(copy);
}

/* --- fixture ------------------------------------------------------------------ */

static int
setup_group(void **state)
{
	char context[PATH_MAX], build[PATH_MAX], range[32], *out, *errout;
	struct error err;
	int rc;

	(void)state;
	snprintf(build, sizeof(build), "%s/demo", build_dir());
	if (realpath(build, context) == NULL) {
		fprintf(stderr, "no demo build context at %s: run make demo\n", build);
		return -1;
	}
	if (docker_open(&docker, NULL, &err) != 0)
		return -1;
	if (berthd_proc_start(&proc, NULL) != 0)
		return -1;
	snprintf(range, sizeof(range), "%d-%d", 32000 + (getpid() % 100) * 10,
	    32009 + (getpid() % 100) * 10);
	rc = berth_cli(&proc, &out, &errout, "template", "add", TEMPLATE, "--image",
	    "berth-demo:e2e", "--build-context", context, "--container-port", "8000",
	    "--port-range", range, "--mount", "/data", "--env", "DEMO_DIR=/data",
	    "--stop-timeout", "2", NULL);
	if (rc == 0) {
		free(out);
		free(errout);
		rc = berth_cli(&proc, &out, &errout, "launch", TEMPLATE, NULL);
	}
	if (rc != 0)
		fprintf(stderr, "setup: %s%s", out, errout);
	free(out);
	free(errout);
	return rc == 0 ? 0 : -1;
}

static int
teardown_group(void **state)
{
	struct docker_container *list = NULL;
	struct error err;
	char label[600];
	size_t n = 0;

	(void)state;
	berth_cli(&proc, NULL, NULL, "rm", SERVICE, "--purge", NULL);
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

/* --- tests ----------------------------------------------------------------------- */

static void
test_command_names_are_those_of_berth_help(void **state)
{
	const char *words[] = { "berth", "", NULL };
	struct words help, got;
	char *text, *reply;

	(void)state;
	text = help_commands(&help);
	reply = complete(NULL, NULL, words);
	split_lines(reply, &got);
	assert_int_equal(got.n, help.n);
	for (size_t i = 0; i < help.n; i++)
		if (!has_word(&got, help.w[i]))
			fail_msg("`berth --help` lists %s, the completion does not", help.w[i]);
	free(reply);
	free(text);
}

static void
test_a_prefix_narrows_the_commands(void **state)
{
	const char *words[] = { "berth", "st", NULL };
	const char *expected[] = { "stats", "status", "stop", NULL };
	char *reply;

	(void)state;
	reply = complete(NULL, NULL, words);
	assert_words(reply, expected);
	free(reply);
}

static void
test_template_subcommands_complete(void **state)
{
	const char *words[] = { "berth", "--json", "template", "", NULL };
	const char *expected[] = { "add", "history", "rm", "set", "show", NULL };
	char *reply;

	(void)state;
	reply = complete(NULL, NULL, words);
	assert_words(reply, expected);
	free(reply);
}

static void
test_node_subcommands_complete(void **state)
{
	const char *words[] = { "berth", "node", "", NULL };
	const char *expected[] = { "activate", "drain", "pause", NULL };
	const char *help_words[] = { "berth", "help", "node", "", NULL };
	char *reply;

	(void)state;
	reply = complete(NULL, NULL, words);
	assert_words(reply, expected);
	free(reply);
	reply = complete(NULL, NULL, help_words);
	assert_words(reply, expected);
	free(reply);
}

static void
test_global_options_complete_before_the_command(void **state)
{
	const char *words[] = { "berth", "--t", NULL };
	const char *expected[] = { "--token-file", "--token", "--timeout", NULL };
	char *reply;

	(void)state;
	reply = complete(NULL, NULL, words);
	assert_words(reply, expected);
	free(reply);
}

/* Every option the completion offers is one that `berth CMD --help` documents. */
static void
test_each_commands_options_are_those_of_its_help(void **state)
{
	static const char *const commands[][2] = { { "templates", NULL }, { "template", "show" },
		{ "template", "add" }, { "template", "set" }, { "template", "history" },
		{ "template", "rm" }, { "launch", NULL }, { "ls", NULL },
		{ "info", NULL }, { "stop", NULL }, { "restart", NULL }, { "rm", NULL },
		{ "logs", NULL }, { "stats", NULL }, { "status", NULL }, { "cleanup", NULL },
		{ "shutdown", NULL }, { "events", NULL }, { "health", NULL }, { "nodes", NULL },
		{ "node", "drain" }, { "node", "pause" }, { "node", "activate" } };

	(void)state;
	for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++) {
		const char *words[5] = { "berth", commands[c][0], NULL, NULL, NULL };
		const char *help_argv[4] = { commands[c][0], NULL, NULL, NULL };
		char *reply, *help, *err;
		struct words got;

		words[commands[c][1] ? 3 : 2] = "-";
		if (commands[c][1] != NULL)
			words[2] = commands[c][1];
		help_argv[commands[c][1] ? 2 : 1] = "--help";
		if (commands[c][1] != NULL)
			help_argv[1] = commands[c][1];
		assert_int_equal(berth_cli_argv(help_argv, &help, &err), 0);
		reply = complete(NULL, NULL, words);
		split_lines(reply, &got);
		assert_true(has_word(&got, "--help"));
		for (size_t i = 0; i < got.n; i++) {
			if (strcmp(got.w[i], "--json") == 0 || strcmp(got.w[i], "--help") == 0)
				continue;
			if (strstr(help, got.w[i]) == NULL)
				fail_msg("the completion offers %s for `%s%s%s`, its --help does not "
					 "mention it:\n%s",
				    got.w[i], commands[c][0], commands[c][1] ? " " : "",
				    commands[c][1] ? commands[c][1] : "", help);
		}
		free(reply);
		free(help);
		free(err);
	}
}

static void
test_rm_options_complete(void **state)
{
	const char *words[] = { "berth", "rm", "--", NULL };
	const char *expected[] = { "--keep-container", "--purge", "--template", "--json", "--help",
		NULL };
	char *reply;

	(void)state;
	reply = complete(NULL, NULL, words);
	assert_words(reply, expected);
	free(reply);
}

/* The supervision options' fixed values complete, after a blank or an '='. */
static void
test_restart_and_health_values_complete(void **state)
{
	const char *restart[] = { "berth", "launch", "web", "--restart", "", NULL };
	const char *restart_eq[] = { "berth", "template", "add", "web", "--restart=on", NULL };
	const char *health[] = { "berth", "template", "add", "web", "--health", "", NULL };
	const char *launch[] = { "berth", "launch", "web", "--w", NULL };
	const char *policies[] = { "no", "on-failure", "always", NULL };
	const char *on_failure[] = { "on-failure", NULL };
	const char *checks[] = { "none", "tcp", "http=/", "exec=", NULL };
	const char *wait[] = { "--wait", NULL };
	char *reply;

	(void)state;
	reply = complete(NULL, NULL, restart);
	assert_words(reply, policies);
	free(reply);
	reply = complete(NULL, NULL, restart_eq);
	assert_words(reply, on_failure);
	free(reply);
	reply = complete(NULL, NULL, health);
	assert_words(reply, checks);
	free(reply);
	reply = complete(NULL, NULL, launch);
	assert_words(reply, wait);
	free(reply);
}

static void
test_a_launched_service_id_completes_with_url_on_the_line(void **state)
{
	const char *words[] = { "berth", "--url", proc.url, "info", "", NULL };
	const char *prefixed[] = { "berth", "--url", proc.url, "stop", "compl_", NULL };
	const char *expected[] = { SERVICE, NULL };
	char *reply;

	(void)state;
	reply = complete(NULL, NULL, words);
	assert_words(reply, expected);
	free(reply);
	reply = complete(NULL, NULL, prefixed);
	assert_words(reply, expected);
	free(reply);
}

static void
test_a_launched_service_id_completes_with_berth_url(void **state)
{
	const char *words[] = { "berth", "logs", "--tail", "5", "", NULL };
	const char *expected[] = { SERVICE, NULL };
	char *reply;

	(void)state;
	reply = complete(proc.url, NULL, words);
	assert_words(reply, expected);
	free(reply);
}

/* bash splits "ipc://..." at ':' in COMP_WORDS; the script reads COMP_LINE. */
static void
test_a_real_command_line_with_a_colon_in_the_url_completes(void **state)
{
	char line[512];
	const char *words[] = { "berth", "--url", "ipc", ":", "//x", "restart", "", NULL };
	const char *expected[] = { SERVICE, NULL };
	char *reply;

	(void)state;
	snprintf(line, sizeof(line), "berth --url %s restart ", proc.url);
	reply = complete(NULL, line, words);
	assert_words(reply, expected);
	free(reply);
}

static void
test_template_names_complete_for_launch_and_ls_template(void **state)
{
	const char *launch[] = { "berth", "--url", proc.url, "launch", "", NULL };
	const char *ls[] = { "berth", "--url", proc.url, "ls", "--template", "com", NULL };
	const char *ls_eq[] = { "berth", "--url", proc.url, "ls", "--template=com", NULL };
	const char *expected[] = { TEMPLATE, NULL };
	char *reply;

	(void)state;
	reply = complete(NULL, NULL, launch);
	assert_has(reply, TEMPLATE);
	assert_has(reply, "buckets");
	free(reply);
	reply = complete(NULL, NULL, ls);
	assert_words(reply, expected);
	free(reply);
	reply = complete(NULL, NULL, ls_eq);
	assert_words(reply, expected);
	free(reply);
}

static void
test_no_service_ids_where_a_template_is_expected(void **state)
{
	const char *words[] = { "berth", "--url", proc.url, "launch", TEMPLATE, "", NULL };
	char *reply;

	(void)state;
	reply = complete(NULL, NULL, words); /* NAME is free text */
	assert_string_equal(reply, "");
	free(reply);
}

static void
test_every_command_has_a_help_that_starts_with_its_usage(void **state)
{
	struct words help;
	char *text;

	(void)state;
	text = help_commands(&help);
	for (size_t i = 0; i < help.n; i++) {
		const char *argv[] = { "help", help.w[i], NULL };
		char *out, *err;

		if (strcmp(help.w[i], "help") == 0)
			continue;
		assert_int_equal(berth_cli_argv(argv, &out, &err), 0);
		if (strncmp(out, "Usage:", 6) != 0 || strstr(out, help.w[i]) == NULL)
			fail_msg("`berth help %s` printed:\n%s", help.w[i], out);
		free(out);
		free(err);
	}
	free(text);
}

/* README's CLI table names the same commands as `berth --help`. */
static void
test_readme_cli_table_matches_berth_help(void **state)
{
	struct words help, readme = { .n = 0 };
	char line[1024], *text;
	bool in_table = false;
	FILE *f = fopen("README.md", "r");

	(void)state;
	assert_non_null(f);
	text = help_commands(&help);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "| command | RPC |", 17) == 0) {
			in_table = true;
			continue;
		}
		if (in_table && line[0] != '|')
			break;
		if (in_table && strncmp(line, "| `", 3) == 0) {
			size_t len = strcspn(line + 3, " `");
			char *name = strndup(line + 3, len);

			if (!has_word(&readme, name))
				readme.w[readme.n++] = name;
			else
				free(name);
		}
	}
	fclose(f);
	for (size_t i = 0; i < help.n; i++)
		if (strcmp(help.w[i], "help") != 0 && !has_word(&readme, help.w[i]))
			fail_msg("`berth --help` lists %s, README's CLI table does not", help.w[i]);
	for (size_t i = 0; i < readme.n; i++)
		if (!has_word(&help, readme.w[i]))
			fail_msg("README's CLI table lists %s, `berth --help` does not", readme.w[i]);
	for (size_t i = 0; i < readme.n; i++)
		free(readme.w[i]);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_command_names_are_those_of_berth_help),
		cmocka_unit_test(test_a_prefix_narrows_the_commands),
		cmocka_unit_test(test_template_subcommands_complete),
		cmocka_unit_test(test_node_subcommands_complete),
		cmocka_unit_test(test_global_options_complete_before_the_command),
		cmocka_unit_test(test_each_commands_options_are_those_of_its_help),
		cmocka_unit_test(test_rm_options_complete),
		cmocka_unit_test(test_restart_and_health_values_complete),
		cmocka_unit_test(test_a_launched_service_id_completes_with_url_on_the_line),
		cmocka_unit_test(test_a_launched_service_id_completes_with_berth_url),
		cmocka_unit_test(test_a_real_command_line_with_a_colon_in_the_url_completes),
		cmocka_unit_test(test_template_names_complete_for_launch_and_ls_template),
		cmocka_unit_test(test_no_service_ids_where_a_template_is_expected),
		cmocka_unit_test(test_every_command_has_a_help_that_starts_with_its_usage),
		cmocka_unit_test(test_readme_cli_table_matches_berth_help),
	};

	return cmocka_run_group_tests_name("completion", tests, setup_group, teardown_group);
}
