/*
 * test_console.c - the web console in a real browser.
 *
 * The group's setup starts a berthd with the HTTP gateway on 127.0.0.1 and
 * authentication on, puts the demo template ("console_demo") and one
 * whose description holds a <script> tag ("console_xss"), launches
 * console_demo_seen (names no other test uses: Docker's are global), and
 * starts a second berthd on loopback without authentication, makes an
 * operator and a viewer token, and runs tests/browser/test_console.py
 * once: headless chromium through chromium-driver (python3-selenium). The
 * script prints "ok NAME" or "FAIL NAME: why" per check; each test here
 * is one of those checks, so a failure names the behaviour. Screenshots
 * (console-*.png) and chromium's console log go to $BUILD. The teardown
 * removes every container carrying the daemon's label.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "berth.h"
#include "berthd_proc.h"
#include "clock.h"
#include "e2e.h"

#define SCRIPT "tests/browser/test_console.py"
#define SCRIPT_TIMEOUT_S 480 /* every wait in the script is bounded well below */
#define XSS_DESCRIPTION "<script>window.berthPwned=1</script><b>not bold</b>"

static struct e2e_daemon dmn;
static struct e2e_daemon open_dmn; /* loopback, authentication off: no token to paste */
static char *output;               /* the script's stdout and stderr */
static int script_status = -1;

/* The Python with Debian's python3-selenium: $PYTHON, else /usr/bin/python3. */
static const char *
python(void)
{
	const char *p = getenv("PYTHON");

	if (p != NULL && p[0] != '\0')
		return p;
	return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

static char *
read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	size_t len = 0, cap = 65536, n;
	char *buf = malloc(cap);

	if (buf == NULL)
		return NULL;
	buf[0] = '\0';
	if (f == NULL)
		return buf;
	while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len < 4096) {
			char *bigger = realloc(buf, cap * 2);

			if (bigger == NULL)
				break;
			buf = bigger;
			cap *= 2;
		}
	}
	buf[len] = '\0';
	fclose(f);
	return buf;
}

/*
 * Runs the script with `env` added to the environment, its output into
 * log_path; kills its process group (chromium and chromedriver with it)
 * after SCRIPT_TIMEOUT_S. The exit status, 128+signal, or -1.
 */
static int
run_script(const char *const *env, const char *log_path)
{
	int64_t deadline = clock_monotonic_ms() + SCRIPT_TIMEOUT_S * 1000;
	int status, fd;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		setpgid(0, 0);
		fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			_exit(126);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		for (int i = 0; env[i] != NULL; i++)
			putenv((char *)env[i]);
		execl(python(), python(), SCRIPT, (char *)NULL);
		fprintf(stderr, "cannot run %s: %s\n", python(), strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);
	for (;;) {
		pid_t done = waitpid(pid, &status, WNOHANG);

		if (done == pid)
			break;
		if (done < 0)
			return -1;
		if (clock_monotonic_ms() > deadline) {
			fprintf(stderr, "test_console: %s ran over %d s: killed\n", SCRIPT,
			    SCRIPT_TIMEOUT_S);
			kill(-pid, SIGKILL);
			waitpid(pid, &status, 0);
			break;
		}
		clock_sleep_ms(200);
	}
	kill(-pid, SIGKILL); /* anything of chromium's left in its group */
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int
put_xss_template(berth_client *c, uint16_t first)
{
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	berth_status st;

	e2e_demo_template(&t, "console_xss", first, (uint16_t)(first + 9));
	t.description = XSS_DESCRIPTION;
	if (e2e_put_template(c, &t, &st) != 0) {
		fprintf(stderr, "PutTemplate console_xss: %s\n", st.message);
		return -1;
	}
	return 0;
}

static int
setup_group(void **state)
{
	char url[64], console[96], operator_[160], viewer[160], rpc_url[PATH_MAX + 32];
	char cli[PATH_MAX], shots[PATH_MAX], outside[64], log_path[PATH_MAX + 32];
	char open_url[64], open_console[96];
	const char *args[] = { "--auth", "on", "--ipc-admin", "on", "--http-listen", url, NULL };
	const char *open_args[] = { "--auth", "off", "--http-listen", open_url, NULL };
	const char *env[] = { console, operator_, viewer, rpc_url, cli, shots, outside,
		open_console, "PYTHONDONTWRITEBYTECODE=1", NULL };
	const char *build = getenv("BUILD") != NULL ? getenv("BUILD") : "build";
	uint16_t http_port = e2e_free_port(), open_port = e2e_free_port();
	uint16_t base = (uint16_t)(32000 + (getpid() % 100) * 30);
	Berth__V1__LaunchServiceResponse *launched;
	char token[128];
	berth_status st;

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", http_port);
	snprintf(open_url, sizeof(open_url), "http://127.0.0.1:%u", open_port);
	if (http_port == 0 || open_port == 0 || e2e_docker() == NULL ||
	    e2e_daemon_start(&dmn, args) != 0 || e2e_daemon_start(&open_dmn, open_args) != 0)
		return -1;
	snprintf(open_console, sizeof(open_console), "BERTH_OPEN_CONSOLE_URL=%s/", open_url);
	if (e2e_put_demo_template(dmn.client, "console_demo", base, (uint16_t)(base + 9)) != 0 ||
	    put_xss_template(dmn.client, (uint16_t)(base + 10)) != 0)
		return -1;
	launched = e2e_launch(dmn.client, "console_demo", "seen", 0, &st);
	if (launched == NULL) {
		fprintf(stderr, "launch console_demo_seen: %s\n", st.message);
		return -1;
	}
	berth_reply_free(&launched->base);

	snprintf(console, sizeof(console), "BERTH_CONSOLE_URL=%s/", url);
	if (e2e_create_token(&dmn, "console-operator", "operator", token, sizeof(token)) != 0)
		return -1;
	snprintf(operator_, sizeof(operator_), "BERTH_OPERATOR_TOKEN=%s", token);
	if (e2e_create_token(&dmn, "console-viewer", "viewer", token, sizeof(token)) != 0)
		return -1;
	snprintf(viewer, sizeof(viewer), "BERTH_VIEWER_TOKEN=%s", token);
	snprintf(rpc_url, sizeof(rpc_url), "BERTH_RPC_URL=%s", dmn.proc.url);
	snprintf(cli, sizeof(cli), "BERTH_CLI=%s/berth", build);
	snprintf(shots, sizeof(shots), "BERTH_SCREENSHOTS=%s", build);
	/* A port outside demo's range and inside nobody's: an operator may not choose it. */
	snprintf(outside, sizeof(outside), "BERTH_OUTSIDE_PORT=%u", base + 25);
	snprintf(log_path, sizeof(log_path), "%s/console-test.log", build);

	script_status = run_script(env, log_path);
	output = read_all(log_path);
	printf("--- %s (exit status %d) ---\n%s--- end of %s ---\n", SCRIPT, script_status,
	    output != NULL ? output : "", SCRIPT);
	return output != NULL ? 0 : -1;
}

static int
teardown_group(void **state)
{
	(void)state;
	e2e_daemon_destroy(&dmn, true);
	e2e_daemon_destroy(&open_dmn, true);
	free(output);
	output = NULL;
	return 0;
}

/* Passes when the script printed "ok NAME"; fails with its reason otherwise. */
static void
assert_check(const char *name)
{
	char ok[160], failed[160];
	const char *line;

	snprintf(ok, sizeof(ok), "ok %s\n", name);
	snprintf(failed, sizeof(failed), "FAIL %s:", name);
	if (strncmp(output, ok, strlen(ok)) == 0 || strstr(output, ok) != NULL)
		return;
	if ((line = strstr(output, failed)) != NULL)
		fail_msg("%.*s", (int)strcspn(line, "\n"), line);
	fail_msg("%s never ran (exit status %d): see its output above", name, script_status);
}

#define CHECK(name)                           \
	static void test_##name(void **state) \
	{                                     \
		(void)state;                  \
		assert_check(#name);          \
	}

CHECK(page_is_served_with_a_strict_csp_and_asks_for_a_token)
CHECK(a_wrong_token_is_refused_with_a_message)
CHECK(operator_signs_in_and_sees_health_templates_and_services)
CHECK(uptime_cpu_and_memory_come_from_getservice)
CHECK(a_description_with_a_script_tag_is_text)
CHECK(operator_launches_from_a_template)
CHECK(a_change_behind_the_page_shows_without_a_reload)
CHECK(live_updates_come_from_watchevents_or_polling)
CHECK(operator_stops_and_starts_a_service)
CHECK(a_failing_action_shows_its_error)
CHECK(logs_of_a_service_are_shown)
CHECK(remove_asks_first_and_cancel_keeps_the_service)
CHECK(a_viewer_sees_everything_but_no_action)
CHECK(an_open_berthd_needs_no_token)
CHECK(the_page_reports_no_content_security_policy_violation)

/* Every check the script ran is one of the above, and it ended well. */
static void
test_the_script_ran_every_check_and_exited_0(void **state)
{
	(void)state;
	assert_non_null(strstr(output, "checks: 15 passed, 0 failed"));
	assert_int_equal(script_status, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_page_is_served_with_a_strict_csp_and_asks_for_a_token),
		cmocka_unit_test(test_a_wrong_token_is_refused_with_a_message),
		cmocka_unit_test(test_operator_signs_in_and_sees_health_templates_and_services),
		cmocka_unit_test(test_uptime_cpu_and_memory_come_from_getservice),
		cmocka_unit_test(test_a_description_with_a_script_tag_is_text),
		cmocka_unit_test(test_operator_launches_from_a_template),
		cmocka_unit_test(test_a_change_behind_the_page_shows_without_a_reload),
		cmocka_unit_test(test_live_updates_come_from_watchevents_or_polling),
		cmocka_unit_test(test_operator_stops_and_starts_a_service),
		cmocka_unit_test(test_a_failing_action_shows_its_error),
		cmocka_unit_test(test_logs_of_a_service_are_shown),
		cmocka_unit_test(test_remove_asks_first_and_cancel_keeps_the_service),
		cmocka_unit_test(test_a_viewer_sees_everything_but_no_action),
		cmocka_unit_test(test_an_open_berthd_needs_no_token),
		cmocka_unit_test(test_the_page_reports_no_content_security_policy_violation),
		cmocka_unit_test(test_the_script_ran_every_check_and_exited_0),
	};

	return cmocka_run_group_tests_name("console", tests, setup_group, teardown_group);
}
