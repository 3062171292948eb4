/*
 * test_config.c - berthd's settings (server/config.c): the configuration
 * file, its error messages with line numbers, and the precedence
 * flags > file > defaults, lists included.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/config.h"

static char dir[64];
static char path[128];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/berth-config-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/berthd.conf", dir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(path);
	rmdir(dir);
	return 0;
}

static void
write_conf(const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* config_parse_args on a NULL-terminated list of words. */
static int
parse(struct config *c, const char *default_file, struct error *err, ...)
{
	char *argv[32];
	const char *arg;
	int argc = 0;
	va_list ap;

	va_start(ap, err);
	while ((arg = va_arg(ap, const char *)) != NULL && argc < 31)
		argv[argc++] = (char *)arg;
	va_end(ap);
	argv[argc] = NULL;
	return config_parse_args(c, argc, argv, default_file, err);
}

/* Reads `text` as the file and expects exactly `message` (after "PATH:"). */
static void
assert_file_error(const char *text, const char *message)
{
	struct config c;
	char expected[512];
	struct error err = { 0 };

	write_conf(text);
	config_defaults(&c);
	assert_int_equal(config_read_file(&c, path, &err), -1);
	snprintf(expected, sizeof(expected), "%s:%s", path, message);
	assert_string_equal(err.message, expected);
	config_free(&c);
}

/* config_print into a string; the caller frees it. */
static char *
printed(const struct config *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	config_print(c, f);
	fclose(f);
	return buf;
}

/* --- tests ------------------------------------------------------------------ */

static void
test_defaults_when_there_is_neither_file_nor_flag(void **state)
{
	struct config c;
	struct error err = { 0 };

	(void)state;
	config_defaults(&c);
	assert_int_equal(parse(&c, NULL, &err, NULL), 0);
	assert_int_equal(c.listen.n, 1);
	assert_string_equal(c.listen.items[0], CONFIG_DEFAULT_URL);
	assert_int_equal(c.events.n, 0);
	assert_string_equal(c.data_dir, "/var/lib/berth");
	assert_string_equal(c.on_exit, "remove");
	assert_string_equal(c.metrics_listen, "");
	assert_int_equal(c.workers, 16);
	assert_int_equal(c.ipc_mode, 0660);
	assert_int_equal(c.idle_timeout_ms, 30000);
	assert_int_equal(c.max_connections, 1024);
	assert_int_equal(c.max_connections_per_ip, 64);
	assert_null(c.file);
	config_free(&c);
}

static void
test_file_sets_strings_numbers_and_lists(void **state)
{
	struct config c;
	struct error err = { 0 };

	(void)state;
	write_conf("# berthd.conf\n"
		   "; both comment styles\n"
		   "\n"
		   "[berthd]\n"
		   "listen = ipc:///run/berth/a.sock\n"
		   "  listen=tcp://127.0.0.1:7000   ; indented, inline comment\n"
		   "data-dir = /srv/berth\n"
		   "docker-host = \"tcp://docker:2375\"\n"
		   "publish-address = 127.0.0.1\n"
		   "on-exit = keep\n"
		   "workers = 4\n"
		   "ipc-mode = 0600\n"
		   "log-level = debug\n"
		   "metrics-listen = http://127.0.0.1:9464\n");
	config_defaults(&c);
	assert_int_equal(config_read_file(&c, path, &err), 0);
	assert_int_equal(c.listen.n, 2); /* the file's list replaced the default */
	assert_string_equal(c.listen.items[0], "ipc:///run/berth/a.sock");
	assert_string_equal(c.listen.items[1], "tcp://127.0.0.1:7000");
	assert_string_equal(c.data_dir, "/srv/berth");
	assert_string_equal(c.docker_host, "tcp://docker:2375");
	assert_string_equal(c.publish_address, "127.0.0.1");
	assert_string_equal(c.on_exit, "keep");
	assert_int_equal(c.workers, 4);
	assert_int_equal(c.ipc_mode, 0600);
	assert_string_equal(c.log_level, "debug");
	assert_string_equal(c.metrics_listen, "http://127.0.0.1:9464");
	assert_string_equal(c.file, path);
	/* Untouched settings keep their defaults. */
	assert_int_equal(c.default_timeout_ms, 300000);
	config_free(&c);
}

static void
test_registry_is_empty_by_default_and_set_by_file_or_flag(void **state)
{
	struct config c;
	struct error err = { 0 };

	(void)state;
	config_defaults(&c);
	assert_string_equal(c.registry, "");
	write_conf("backend = swarm\nregistry = 10.0.0.5:5000\n");
	assert_int_equal(config_read_file(&c, path, &err), 0);
	assert_string_equal(c.registry, "10.0.0.5:5000");
	assert_int_equal(parse(&c, NULL, &err, "--registry", "127.0.0.1:5001", NULL), 0);
	assert_string_equal(c.registry, "127.0.0.1:5001");
	config_free(&c);
}

static void
test_keys_without_a_section_are_accepted_too(void **state)
{
	struct config c;
	struct error err = { 0 };

	(void)state;
	write_conf("workers = 2\n");
	config_defaults(&c);
	assert_int_equal(config_read_file(&c, path, &err), 0);
	assert_int_equal(c.workers, 2);
	config_free(&c);
}

static void
test_errors_name_the_file_and_the_line(void **state)
{
	(void)state;
	assert_file_error("workers = 2\n\n# c\nbogus = 1\n",
	    "4: unknown key \"bogus\" (see berthd --help)");
	assert_file_error("[berthd]\nworkers = 0\n", "2: workers: \"0\" is not a number from 1 to 256");
	assert_file_error("workers = many\n", "1: workers: \"many\" is not a number from 1 to 256");
	assert_file_error("ipc-mode = 0999\n",
	    "1: ipc-mode: \"0999\" is not an octal number from 00 to 0777");
	assert_file_error("\non-exit = nuke\n", "2: on-exit: \"nuke\" is not one of remove|stop|keep");
	assert_file_error("log-level = verbose\n",
	    "1: log-level: \"verbose\" is not one of error|warn|info|debug");
	assert_file_error("workers = 2\n[docker]\nhost = x\n",
	    "2: unknown section [docker] (berthd reads only [berthd])");
	assert_file_error("workers = 2\n\njust words\n",
	    "3: expected \"key = value\", \"[berthd]\" or a comment");
	assert_file_error("data-dir = \"/srv\n", "1: unterminated quote in \"/srv");
	assert_file_error("listen =\n", "1: listen: needs a value");
	assert_file_error("listen = a\nlisten = b\nlisten = c\nlisten = d\nlisten = e\n"
			  "listen = f\nlisten = g\nlisten = h\nlisten = i\n",
	    "9: listen: at most 8");
}

static void
test_the_first_error_stops_the_file(void **state)
{
	struct config c;
	char expected[512];
	struct error err = { 0 };

	(void)state;
	write_conf("workers = 0\nbogus = 1\nworkers = 3\n");
	config_defaults(&c);
	assert_int_equal(config_read_file(&c, path, &err), -1);
	snprintf(expected, sizeof(expected), "%s:1: workers: \"0\" is not a number from 1 to 256",
	    path);
	assert_string_equal(err.message, expected);
	assert_int_equal(c.workers, 16); /* line 3 was never applied */
	config_free(&c);
}

static void
test_an_overlong_line_is_an_error_not_a_truncation(void **state)
{
	char text[600], *expected_tail;

	(void)state;
	memset(text, 'x', sizeof(text));
	memcpy(text, "data-dir = /", 12);
	text[sizeof(text) - 2] = '\n';
	text[sizeof(text) - 1] = '\0';
	write_conf(text);
	{
		struct config c;
		struct error err = { 0 };

		config_defaults(&c);
		assert_int_equal(config_read_file(&c, path, &err), -1);
		expected_tail = strstr(err.message, ":1: line longer than ");
		assert_non_null(expected_tail);
		config_free(&c);
	}
}

static void
test_flags_override_the_file_and_the_file_the_defaults(void **state)
{
	struct config c;
	struct error err = { 0 };

	(void)state;
	write_conf("workers = 4\ndata-dir = /srv/berth\non-exit = stop\n");
	config_defaults(&c);
	assert_int_equal(parse(&c, NULL, &err, "--workers", "8", "--config", path,
			     "--on-exit=keep", NULL),
	    0);
	assert_int_equal(c.workers, 8);              /* flag (given before --config, still wins) */
	assert_string_equal(c.on_exit, "keep");      /* flag */
	assert_string_equal(c.data_dir, "/srv/berth"); /* file */
	assert_string_equal(c.publish_address, "0.0.0.0"); /* default */
	config_free(&c);
}

static void
test_a_list_flag_replaces_the_files_list(void **state)
{
	struct config c;
	struct error err = { 0 };

	(void)state;
	write_conf("listen = ipc:///a\nlisten = ipc:///b\nevents = ipc:///e\n");
	config_defaults(&c);
	assert_int_equal(parse(&c, NULL, &err, "--config", path, "--listen", "ipc:///x",
			     "--listen", "ipc:///y", NULL),
	    0);
	assert_int_equal(c.listen.n, 2);
	assert_string_equal(c.listen.items[0], "ipc:///x");
	assert_string_equal(c.listen.items[1], "ipc:///y");
	/* A list not given as a flag keeps the file's. */
	assert_int_equal(c.events.n, 1);
	assert_string_equal(c.events.items[0], "ipc:///e");
	config_free(&c);
}

static void
test_default_file_is_read_when_present_and_skipped_when_absent(void **state)
{
	struct config c;
	char missing[160];
	struct error err = { 0 };

	(void)state;
	snprintf(missing, sizeof(missing), "%s/absent.conf", dir);
	config_defaults(&c);
	assert_int_equal(parse(&c, missing, &err, NULL), 0);
	assert_null(c.file);
	config_free(&c);

	write_conf("workers = 5\n");
	config_defaults(&c);
	assert_int_equal(parse(&c, path, &err, NULL), 0);
	assert_int_equal(c.workers, 5);
	assert_string_equal(c.file, path);
	config_free(&c);

	/* --config "" reads no file at all, not even the default. */
	config_defaults(&c);
	assert_int_equal(parse(&c, path, &err, "--config", "", NULL), 0);
	assert_int_equal(c.workers, 16);
	config_free(&c);
}

static void
test_a_named_file_that_does_not_exist_is_an_error(void **state)
{
	struct config c;
	char missing[160], expected[256];
	struct error err = { 0 };

	(void)state;
	snprintf(missing, sizeof(missing), "%s/absent.conf", dir);
	config_defaults(&c);
	assert_int_equal(parse(&c, NULL, &err, "--config", missing, NULL), -1);
	snprintf(expected, sizeof(expected), "%s: No such file or directory", missing);
	assert_string_equal(err.message, expected);
	config_free(&c);
}

static void
test_a_bad_default_file_stops_start_up(void **state)
{
	struct config c;
	char expected[256];
	struct error err = { 0 };

	(void)state;
	write_conf("workers = 999\n");
	config_defaults(&c);
	assert_int_equal(parse(&c, path, &err, NULL), -1);
	snprintf(expected, sizeof(expected), "%s:1: workers: \"999\" is not a number from 1 to 256",
	    path);
	assert_string_equal(err.message, expected);
	config_free(&c);
}

static void
test_bad_flags_are_reported_as_flags(void **state)
{
	struct config c;
	struct error err = { 0 };

	(void)state;
	config_defaults(&c);
	assert_int_equal(parse(&c, NULL, &err, "--workers", "0", NULL), -1);
	assert_string_equal(err.message, "--workers: \"0\" is not a number from 1 to 256");
	assert_int_equal(parse(&c, NULL, &err, "--bogus", "1", NULL), -1);
	assert_string_equal(err.message, "unknown option --bogus (see --help)");
	assert_int_equal(parse(&c, NULL, &err, "--data-dir", NULL), -1);
	assert_string_equal(err.message, "--data-dir needs a value");
	assert_int_equal(parse(&c, NULL, &err, "--config", NULL), -1);
	assert_string_equal(err.message, "--config needs a value");
	assert_int_equal(parse(&c, NULL, &err, "serve", NULL), -1);
	assert_string_equal(err.message, "unexpected argument \"serve\" (see --help)");
	config_free(&c);
}

/*
 * Every row of the table is a file key: the printed settings (which list
 * every row) read back as a file give the same settings.
 */
static void
test_print_config_output_is_a_file_that_reads_back_the_same(void **state)
{
	struct config c, back;
	char *first, *second;
	struct error err = { 0 };

	(void)state;
	config_defaults(&c);
	assert_int_equal(parse(&c, NULL, &err, "--listen", "ipc:///a", "--listen",
			     "tcp://127.0.0.1:7000", "--events", "ipc:///e", "--workers", "3",
			     "--ipc-mode", "0640", "--docker-host", "", "--metrics-listen",
			     "http://127.0.0.1:9464", NULL),
	    0);
	first = printed(&c);
	write_conf(first);
	config_defaults(&back);
	assert_int_equal(config_read_file(&back, path, &err), 0);
	back.file = c.file; /* the header line names the file */
	second = printed(&back);
	assert_string_equal(first, second);
	free(first);
	free(second);
	config_free(&c);
	config_free(&back);
}

static void
test_print_config_shows_file_and_flags(void **state)
{
	struct config c;
	char out_path[160], buf[2048];
	struct error err = { 0 };
	int saved, fd, rc;
	ssize_t n;

	(void)state;
	write_conf("workers = 4\ndata-dir = /srv/berth\n");
	snprintf(out_path, sizeof(out_path), "%s/out", dir);
	fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	dup2(fd, STDOUT_FILENO);
	config_defaults(&c);
	rc = parse(&c, NULL, &err, "--config", path, "--workers", "9", "--print-config",
	    NULL);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	close(fd);
	assert_int_equal(rc, 1);
	fd = open(out_path, O_RDONLY);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	unlink(out_path);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "\nworkers = 9\n"));
	assert_non_null(strstr(buf, "\ndata-dir = /srv/berth\n"));
	assert_non_null(strstr(buf, path));
	config_free(&c);
}

/*
 * berthd as an ordinary user: data under $XDG_DATA_HOME (else
 * ~/.local/share), the socket under $XDG_RUNTIME_DIR; root keeps
 * /var/lib/berth and /run/berth. The user's side runs in a child that
 * drops to uid 65534 (the test runs as root).
 */
static void
test_an_ordinary_user_gets_xdg_defaults(void **state)
{
	struct config c;
	pid_t pid;
	int status;

	(void)state;
	config_defaults(&c);
	if (geteuid() == 0) {
		assert_string_equal(c.data_dir, "/var/lib/berth");
		assert_string_equal(c.listen.items[0], CONFIG_DEFAULT_URL);
	}
	config_free(&c);
	if (geteuid() != 0)
		skip();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		bool ok;

		setenv("XDG_RUNTIME_DIR", "/run/user/65534", 1);
		setenv("XDG_DATA_HOME", "/home/u/.data", 1);
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(2);
		config_defaults(&c);
		ok = strcmp(c.data_dir, "/home/u/.data/berth") == 0 && c.listen.n == 1 &&
		    strcmp(c.listen.items[0], "ipc:///run/user/65534/berth/berthd.sock") == 0;
		config_free(&c);
		unsetenv("XDG_DATA_HOME");
		setenv("HOME", "/home/u", 1);
		config_defaults(&c);
		ok = ok && strcmp(c.data_dir, "/home/u/.local/share/berth") == 0;
		config_free(&c);
		_exit(ok ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_when_there_is_neither_file_nor_flag),
		cmocka_unit_test(test_file_sets_strings_numbers_and_lists),
		cmocka_unit_test(test_registry_is_empty_by_default_and_set_by_file_or_flag),
		cmocka_unit_test(test_keys_without_a_section_are_accepted_too),
		cmocka_unit_test(test_errors_name_the_file_and_the_line),
		cmocka_unit_test(test_the_first_error_stops_the_file),
		cmocka_unit_test(test_an_overlong_line_is_an_error_not_a_truncation),
		cmocka_unit_test(test_flags_override_the_file_and_the_file_the_defaults),
		cmocka_unit_test(test_a_list_flag_replaces_the_files_list),
		cmocka_unit_test(test_default_file_is_read_when_present_and_skipped_when_absent),
		cmocka_unit_test(test_a_named_file_that_does_not_exist_is_an_error),
		cmocka_unit_test(test_a_bad_default_file_stops_start_up),
		cmocka_unit_test(test_bad_flags_are_reported_as_flags),
		cmocka_unit_test(test_print_config_output_is_a_file_that_reads_back_the_same),
		cmocka_unit_test(test_print_config_shows_file_and_flags),
		cmocka_unit_test(test_an_ordinary_user_gets_xdg_defaults),
	};

	return cmocka_run_group_tests_name("config", tests, setup, teardown);
}
