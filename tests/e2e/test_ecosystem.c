/*
 * test_ecosystem.c - berth outside its own C code, against a real berthd:
 * the Python client (client/python) and its example, Health with stock
 * nngcat + protoc, and `make install` / `make uninstall` with a program
 * compiled through `pkg-config berth` against the installed library.
 *
 * The Python tests launch the demo image under a template of their own and
 * remove what they launch; the group teardown stops berthd (whose shutdown
 * removes its containers) and then force-removes any container still
 * labelled with this berthd's data directory, so nothing survives a failure.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "berthd_proc.h"
#include "e2e.h"
#include "clock.h"
#include "engine/docker.h"

#define RUN_TIMEOUT_S 300
#define MAX_ENV 512

extern char **environ;

static struct berthd_proc proc;
static char data_dir_label[400];
static char build[1024];
static char install_work[64]; /* the install test's directory, removed at teardown */

/* --- helpers --------------------------------------------------------------- */

static void
assert_contains(const char *haystack, const char *needle)
{
	if (strstr(haystack, needle) == NULL)
		fail_msg("\"%s\" not found in:\n%s", needle, haystack);
}

/*
 * The environment plus `extra` ("NAME=value" strings, NULL-terminated),
 * which replace variables of the same name. Points into environ and extra.
 */
static void
make_env(const char **envp, const char *const *extra)
{
	int n = 0;

	for (char **e = environ; *e != NULL && n < MAX_ENV - 64; e++) {
		bool replaced = false;

		for (int i = 0; extra != NULL && extra[i] != NULL; i++) {
			size_t len = strcspn(extra[i], "=") + 1;
			replaced |= strncmp(*e, extra[i], len) == 0;
		}
		if (!replaced)
			envp[n++] = *e;
	}
	for (int i = 0; extra != NULL && extra[i] != NULL && n < MAX_ENV - 1; i++)
		envp[n++] = extra[i];
	envp[n] = NULL;
}

/*
 * Runs argv (looked up in PATH) from the current directory with the extra
 * environment, stdout and stderr together into *out (malloc'ed; caller
 * frees). Kills the program's process group after RUN_TIMEOUT_S. Returns
 * the exit status, 128+signal when killed, -1 when it could not run.
 */
static int
run(const char *const *argv, const char *const *extra_env, char **out)
{
	const char *envp[MAX_ENV];
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	int fds[2], status;
	int64_t deadline = clock_monotonic_ms() + RUN_TIMEOUT_S * 1000;
	pid_t pid;

	*out = buf;
	buf[0] = '\0';
	make_env(envp, extra_env);
	if (pipe(fds) != 0)
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		setpgid(0, 0);
		dup2(fds[1], STDOUT_FILENO);
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		close(fds[1]);
		execvpe(argv[0], (char *const *)argv, (char *const *)envp);
		fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	for (;;) {
		struct pollfd pfd = { fds[0], POLLIN, 0 };
		int64_t left = deadline - clock_monotonic_ms();
		ssize_t n;

		if (left <= 0) {
			kill(-pid, SIGKILL);
			break;
		}
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
			break;
		if (pfd.revents == 0)
			continue;
		if (len + 4096 + 1 > cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			*out = buf;
		}
		n = read(fds[0], buf + len, 4096);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
	}
	close(fds[0]);
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Runs argv and fails the test, showing the output, unless it exits 0. */
static char *
run_ok(const char *const *argv, const char *const *extra_env)
{
	char *out;
	int rc = run(argv, extra_env, &out);

	if (rc != 0)
		fail_msg("%s ... exited with %d:\n%s", argv[0], rc, out);
	return out;
}

/*
 * The Python that has Debian's python3-protobuf: $PYTHON, else
 * /usr/bin/python3 (a python3 earlier in PATH, e.g. pyenv's, may lack it),
 * else python3 from PATH.
 */
static const char *
python(void)
{
	const char *p = getenv("PYTHON");

	if (p != NULL && p[0] != '\0')
		return p;
	return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* The whole file, malloc'ed; fails the test when it cannot be read. */
static char *
read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	size_t len = 0;

	if (f == NULL)
		fail_msg("cannot open %s: %s", path, strerror(errno));
	if (getdelim(&text, &len, '\0', f) < 0) {
		free(text);
		text = strdup("");
	}
	fclose(f);
	return text;
}

static bool
is_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* nftw callbacks: no per-call state argument, hence these file statics. */
static char leftovers[4096];

static int
note_non_directory(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_D || type == FTW_DP)
		return 0;
	if (strlen(leftovers) + strlen(path) + 2 < sizeof(leftovers)) {
		strcat(leftovers, path);
		strcat(leftovers, "\n");
	}
	return 0;
}

static int
remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

static void
remove_tree(const char *dir)
{
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Force-removes every container labelled with this berthd's data directory. */
static void
remove_leftover_containers(void)
{
	unsigned n;

	if (data_dir_label[0] != '\0' && (n = e2e_remove_labelled(data_dir_label)) > 0)
		fprintf(stderr, "removed %u leftover container(s)\n", n);
}

/* --- fixture --------------------------------------------------------------- */

static int
setup_group(void **state)
{
	const char *b = getenv("BUILD");

	(void)state;
	snprintf(build, sizeof(build), "%s", b != NULL && b[0] != '\0' ? b : "build");
	if (e2e_docker() == NULL)
		return -1;
	if (berthd_proc_start(&proc, NULL) != 0)
		return -1;
	snprintf(data_dir_label, sizeof(data_dir_label), "%s=%s", DOCKER_LABEL_DATA_DIR,
	    proc.data_dir);
	return 0;
}

static int
teardown_group(void **state)
{
	(void)state;
	berthd_proc_cleanup(&proc);
	remove_leftover_containers();
	if (install_work[0] != '\0')
		remove_tree(install_work);
	return 0;
}

/* --- tests ----------------------------------------------------------------- */

/* client/python/tests_berth_client.py: Health ... RemoveService through berth_client.py. */
static void
test_python_client_calls_health_templates_launch_get_remove(void **state)
{
	char pythonpath[1100];
	const char *env[] = { pythonpath, "PYTHONDONTWRITEBYTECODE=1", NULL };
	const char *argv[] = { python(), "client/python/tests_berth_client.py", "--url", proc.url,
		"--build", build, NULL };
	char *out;

	(void)state;
	snprintf(pythonpath, sizeof(pythonpath), "PYTHONPATH=%s/python", build);
	out = run_ok(argv, env);
	assert_contains(out, "health: SERVING");
	assert_contains(out, "templates: auth_service buckets");
	assert_contains(out, "launched: pyeco");
	assert_contains(out, "removed: pyeco");
	assert_contains(out, "rolled out: pyeco");
	assert_contains(out, "logs, exec, events: ");
	assert_contains(out, "\nOK");
	free(out);
}

static void
test_python_example_prints_health_and_templates(void **state)
{
	char pythonpath[1100];
	const char *env[] = { pythonpath, "PYTHONDONTWRITEBYTECODE=1", NULL };
	const char *argv[] = { python(), "client/python/example.py", "--url", proc.url, NULL };
	char *out;

	(void)state;
	snprintf(pythonpath, sizeof(pythonpath), "PYTHONPATH=%s/python", build);
	out = run_ok(argv, env);
	assert_contains(out, "status: SERVING\n");
	assert_contains(out, "template: buckets image=uws/buckets:latest ports=8000-8099\n");
	free(out);
}

/* tests/e2e/nngcat_health.sh: nngcat and protoc only, nothing of berth's. */
static void
test_nngcat_and_protoc_alone_call_health(void **state)
{
	const char *argv[] = { "sh", "tests/e2e/nngcat_health.sh", proc.url, NULL };
	char *out;

	(void)state;
	out = run_ok(argv, NULL);
	assert_contains(out, "payload {\n  status: SERVING\n");
	assert_contains(out, "request_id: \"nngcat-1\"");
	free(out);

	/* No berthd there: the script fails. */
	argv[2] = "ipc:///nonexistent/berthd.sock";
	assert_int_not_equal(run(argv, NULL, &out), 0);
	free(out);
}

static const char hello_c[] =
    "#include <stdio.h>\n"
    "#include \"berth.h\"\n"
    "\n"
    "int\n"
    "main(int argc, char **argv)\n"
    "{\n"
    "\tBerth__V1__HealthRequest req = BERTH__V1__HEALTH_REQUEST__INIT;\n"
    "\tBerth__V1__HealthResponse *rep = NULL;\n"
    "\tberth_client *c;\n"
    "\tberth_status st;\n"
    "\tconst ProtobufCEnumValue *v;\n"
    "\n"
    "\tif (argc != 2 || berth_open(&c, argv[1], NULL, &st) != 0)\n"
    "\t\treturn 2;\n"
    "\tif (berth_call(c, \"Health\", &req.base, (ProtobufCMessage **)&rep, &st) != 0) {\n"
    "\t\tfprintf(stderr, \"%s: %s\\n\", berth_code_name(st.code), st.message);\n"
    "\t\treturn 1;\n"
    "\t}\n"
    "\t/* protobuf-c's own API: pkg-config links it too. */\n"
    "\tv = protobuf_c_enum_descriptor_get_value(\n"
    "\t    &berth__v1__health_response__serving_status__descriptor, (int)rep->status);\n"
    "\tprintf(\"%s libberth %s\\n\", v != NULL ? v->name : \"?\", berth_version());\n"
    "\tberth_reply_free(&rep->base);\n"
    "\tberth_close(c);\n"
    "\treturn 0;\n"
    "}\n";

/*
 * make install into a DESTDIR; a program built with `pkg-config --cflags
 * --libs berth` against the staged tree calls Health; the installed Python
 * client and nngcat script work from their installed places; make
 * uninstall leaves no file behind.
 */
static void
test_make_install_pkg_config_program_and_uninstall(void **state)
{
	static const char *const installed[] = { "sbin/berthd", "bin/berth", "lib/libberth.a",
		"lib/libberth.so.0.2.0", "lib/libberth.so.1", "lib/libberth.so",
		"lib/pkgconfig/berth.pc", "include/berth/berth.h",
		"include/berth/berth/v1/berth.pb-c.h", "share/berth/proto/berth/v1/berth.proto",
		"share/berth/python/berth_client.py", "share/berth/python/berth/v1/berth_pb2.py",
		"share/berth/examples/example.py", "share/berth/examples/nngcat_health.sh",
		"share/berth/examples/berth.yaml",
		"share/man/man8/berthd.8", "share/man/man1/berth.1",
		"lib/systemd/system/berthd.service", "share/bash-completion/completions/berth" };
	char *work = install_work;
	char root[128], prefix[160], path[PATH_MAX], hello[192];
	char destdir_arg[160], build_arg[1100];
	char pc_path[256], sysroot[160], ld_path[256];
	char pythonpath[256], link[64];
	const char *compile_env[] = { pc_path, sysroot, NULL };
	const char *run_env[] = { ld_path, "ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0",
		NULL };
	const char *py_env[] = { pythonpath, NULL };
	const char *make_install[] = { "make", "--no-print-directory", "install", destdir_arg,
		"PREFIX=/usr/local", build_arg, NULL };
	const char *make_uninstall[] = { "make", "--no-print-directory", "uninstall", destdir_arg,
		"PREFIX=/usr/local", build_arg, NULL };
	const char *compile[] = { "sh", "-c",
		"${CC:-cc} -std=gnu11 -Wall -Wextra -Werror -o \"$0\" \"$0.c\" "
		"$(pkg-config --cflags --libs berth)",
		hello, NULL };
	const char *compile_static[] = { "sh", "-c",
		"${CC:-cc} -std=gnu11 -Wall -Wextra -Werror -o \"$0-static\" \"$0.c\" "
		"$(pkg-config --cflags berth) -Wl,-Bstatic $(pkg-config --static --libs berth) "
		"-Wl,-Bdynamic",
		hello, NULL };
	char hello_static[256];
	const char *program_static[] = { hello_static, proc.url, NULL };
	const char *program[] = { hello, proc.url, NULL };
	const char *installed_python[] = { python(), path, "--url", proc.url, NULL };
	const char *installed_nngcat[] = { "sh", path, proc.url, NULL };
	char conf[PATH_MAX], berthd[sizeof(build) + 16];
	const char *print_config[] = { berthd, "--print-config", "--config", NULL, NULL };
	char *out, *unit;
	ssize_t n;

	(void)state;
	snprintf(install_work, sizeof(install_work), "/tmp/berth-install-XXXXXX");
	assert_non_null(mkdtemp(work));
	snprintf(root, sizeof(root), "%s/root", work);
	snprintf(prefix, sizeof(prefix), "%s/usr/local", root);
	snprintf(destdir_arg, sizeof(destdir_arg), "DESTDIR=%s", root);
	snprintf(build_arg, sizeof(build_arg), "BUILD=%s", build);
	snprintf(berthd, sizeof(berthd), "%s/berthd", build);

	free(run_ok(make_install, NULL));
	for (size_t i = 0; i < sizeof(installed) / sizeof(installed[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", prefix, installed[i]);
		if (!is_file(path))
			fail_msg("make install did not install %s", path);
	}
	snprintf(path, sizeof(path), "%s/lib/libberth.so.1", prefix);
	n = readlink(path, link, sizeof(link) - 1);
	assert_true(n > 0);
	link[n] = '\0';
	assert_string_equal(link, "libberth.so.0.2.0");
	snprintf(path, sizeof(path), "%s/share/berth/migrations/001_schema.sql", prefix);
	assert_true(is_file(path));
	snprintf(path, sizeof(path), "%s/lib/systemd/system/berthd.service", prefix);
	unit = read_file(path);
	assert_contains(unit, "\nExecStart=/usr/local/sbin/berthd --data-dir /var/lib/berth\n");
	assert_contains(unit, "\nTimeoutStopSec=");
	free(unit);
	/*
	 * The sample configuration keeps services across a restart of berthd,
	 * and berthd reads it as it is; a second install leaves an operator's
	 * file alone, and uninstall does not remove it.
	 */
	snprintf(conf, sizeof(conf), "%s/etc/berth/berthd.conf", root);
	unit = read_file(conf);
	assert_contains(unit, "\non-exit = keep\n");
	assert_contains(unit, "\n#workers = 16\n");
	free(unit);
	print_config[3] = conf;
	out = run_ok(print_config, NULL);
	assert_contains(out, "\non-exit = keep\n");
	assert_contains(out, "\nworkers = 16\n");
	free(out);
	write_file(conf, "on-exit = stop\n");
	free(run_ok(make_install, NULL));
	unit = read_file(conf);
	assert_string_equal(unit, "on-exit = stop\n");
	free(unit);

	/* A program of the library's users, built only from what pkg-config says. */
	snprintf(hello, sizeof(hello), "%s/hello", work);
	snprintf(path, sizeof(path), "%s.c", hello);
	write_file(path, hello_c);
	snprintf(pc_path, sizeof(pc_path), "PKG_CONFIG_PATH=%s/lib/pkgconfig", prefix);
	snprintf(sysroot, sizeof(sysroot), "PKG_CONFIG_SYSROOT_DIR=%s", root);
	free(run_ok(compile, compile_env));
	snprintf(ld_path, sizeof(ld_path), "LD_LIBRARY_PATH=%s/lib", prefix);
	out = run_ok(program, run_env);
	assert_string_equal(out, "SERVING libberth " BERTH_VERSION "\n");
	free(out);
	/* Statically: pkg-config --static names everything libberth.a needs. */
	free(run_ok(compile_static, compile_env));
	snprintf(hello_static, sizeof(hello_static), "%s-static", hello);
	out = run_ok(program_static, NULL);
	assert_string_equal(out, "SERVING libberth " BERTH_VERSION "\n");
	free(out);

	/* The installed Python client and nngcat example. */
	snprintf(pythonpath, sizeof(pythonpath), "PYTHONPATH=%s/share/berth/python", prefix);
	snprintf(path, sizeof(path), "%s/share/berth/examples/example.py", prefix);
	out = run_ok(installed_python, py_env);
	assert_contains(out, "status: SERVING\n");
	free(out);
	snprintf(path, sizeof(path), "%s/share/berth/examples/nngcat_health.sh", prefix);
	out = run_ok(installed_nngcat, NULL);
	assert_contains(out, "  status: SERVING\n");
	free(out);

	free(run_ok(make_uninstall, NULL));
	assert_true(is_file(conf));
	assert_int_equal(unlink(conf), 0);
	leftovers[0] = '\0';
	nftw(root, note_non_directory, 16, FTW_PHYS);
	if (leftovers[0] != '\0')
		fail_msg("make uninstall left:\n%s", leftovers);
	remove_tree(work);
	install_work[0] = '\0';
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_python_client_calls_health_templates_launch_get_remove),
		cmocka_unit_test(test_python_example_prints_health_and_templates),
		cmocka_unit_test(test_nngcat_and_protoc_alone_call_health),
		cmocka_unit_test(test_make_install_pkg_config_program_and_uninstall),
	};

	return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
