/*
 * test_berthd.c - a real berthd process on a temporary data directory
 * (tests/support/berthd_proc.c), driven through libberth: the template RPCs,
 * start-up refusals, persistence across restarts and both ways of shutting
 * down. Run from the repository root with BUILD set to the build directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "berth.h"
#include "core/berthd.h"
#include "berthd_proc.h"
#include "e2e.h"
#include "clock.h"

#define SEED_NAMES "auth_service, buckets, database_service, db, file_manager"

struct fixture {
	struct berthd_proc proc;
	berth_client *client;
};

static const char *
build_dir(void)
{
	const char *b = getenv("BUILD");
	return b != NULL && b[0] != '\0' ? b : "build";
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	berth_status st;

	if (f == NULL)
		return -1;
	*state = f;
	if (berthd_proc_start(&f->proc, NULL) != 0) {
		fprintf(stderr, "berthd did not start (is %s/berthd built?)\n", build_dir());
		return -1;
	}
	if (berth_open(&f->client, f->proc.url, NULL, &st) != 0) {
		fprintf(stderr, "berth_open: %s\n", st.message);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	berth_close(f->client);
	berthd_proc_cleanup(&f->proc);
	free(f);
	return 0;
}

/*
 * Runs `$BUILD/berthd ARGS...` to completion with its output in `log_path`;
 * returns its exit status, or -1 when it was still running after
 * timeout_s (then it is killed).
 */
static int
run_berthd(const char *log_path, int timeout_s, const char *const *args)
{
	const char *argv[32];
	char berthd[512];
	int n = 0, status;
	pid_t pid;

	snprintf(berthd, sizeof(berthd), "%s/berthd", build_dir());
	argv[n++] = berthd;
	for (int i = 0; args[i] != NULL && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, STDERR_FILENO);
			dup2(fd, STDOUT_FILENO);
		}
		execv(berthd, (char *const *)argv);
		_exit(127);
	}
	if (E2E_WAIT_UNTIL(waitpid(pid, &status, WNOHANG) == pid, timeout_s * 1000))
		return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

/* Waits up to timeout_s for the berthd of `p` to exit by itself. */
static int
wait_exit(struct berthd_proc *p, int timeout_s)
{
	int status;

	if (!E2E_WAIT_UNTIL(waitpid(p->pid, &status, WNOHANG) == p->pid, timeout_s * 1000))
		return -1;
	p->pid = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static long
file_size(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 ? (long)sb.st_size : 0;
}

/* True when the file contains `needle` after byte `offset`. */
static bool
file_contains_from(const char *path, long offset, const char *needle)
{
	char line[2048];
	bool found = false;
	FILE *fp = fopen(path, "r");

	if (fp == NULL)
		return false;
	fseek(fp, offset, SEEK_SET);
	while (!found && fgets(line, sizeof(line), fp) != NULL)
		found = strstr(line, needle) != NULL;
	fclose(fp);
	return found;
}

/*
 * True when the file contains `needle` after `offset` within 5 s: workers
 * log a request after sending its reply, and the main thread logs
 * "berthd started" after the workers are already answering.
 */
static bool
file_eventually_contains_from(const char *path, long offset, const char *needle)
{
	return E2E_WAIT_UNTIL(file_contains_from(path, offset, needle), 5000);
}

static void
sql_exec(const char *db_path, const char *sql)
{
	sqlite3 *db;
	char *msg = NULL;

	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg ? msg : "?");
	sqlite3_free(msg);
	sqlite3_close(db);
}

/* --- RPC helpers ----------------------------------------------------------------- */

static int
get_template(berth_client *c, const char *name, Berth__V1__GetTemplateResponse **out,
    berth_status *st)
{
	Berth__V1__GetTemplateRequest req = BERTH__V1__GET_TEMPLATE_REQUEST__INIT;

	req.name = (char *)name;
	return berth_call(c, "GetTemplate", &req.base, (ProtobufCMessage **)out, st);
}

static int
put_template(berth_client *c, const Berth__V1__Template *t, const char *request_id,
    Berth__V1__PutTemplateResponse **out, berth_status *st)
{
	Berth__V1__PutTemplateRequest req = BERTH__V1__PUT_TEMPLATE_REQUEST__INIT;
	Berth__V1__PutTemplateResponse *reply = NULL;
	int code;

	req.template_ = (Berth__V1__Template *)t;
	if (request_id != NULL)
		code = berth_call_with_id(c, "PutTemplate", request_id, &req.base,
		    (ProtobufCMessage **)&reply, st);
	else
		code = berth_call(c, "PutTemplate", &req.base, (ProtobufCMessage **)&reply, st);
	if (out != NULL)
		*out = reply;
	else
		berth_reply_free((ProtobufCMessage *)reply);
	return code;
}

static int
delete_template(berth_client *c, const char *name, berth_status *st)
{
	Berth__V1__DeleteTemplateRequest req = BERTH__V1__DELETE_TEMPLATE_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	int code;

	req.name = (char *)name;
	code = berth_call(c, "DeleteTemplate", &req.base, &reply, st);
	berth_reply_free(reply);
	return code;
}

static char *web_env[] = { "GREETING=\"hello\" w\xc3\xb6rld", "PORT=8080" };
static char *web_command[] = { "/bin/server", "--flag=a b", "\xe6\x97\xa5" };

static Berth__V1__Template
web_template(void)
{
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;

	t.name = "web";
	t.description = "Web front end";
	t.image = "example/web:1.0";
	t.container_port = 8080;
	t.port_range_start = 9100;
	t.port_range_end = 9199;
	t.mount_path = "/srv";
	t.env = web_env;
	t.n_env = 2;
	t.command = web_command;
	t.n_command = 3;
	t.stop_timeout_s = 5;
	return t;
}

static void
assert_template_equal(const Berth__V1__Template *got, const Berth__V1__Template *want)
{
	assert_non_null(got);
	assert_string_equal(got->name, want->name);
	assert_string_equal(got->description, want->description);
	assert_string_equal(got->image, want->image);
	assert_string_equal(got->build_context, want->build_context);
	assert_int_equal(got->container_port, want->container_port);
	assert_int_equal(got->port_range_start, want->port_range_start);
	assert_int_equal(got->port_range_end, want->port_range_end);
	assert_string_equal(got->mount_path, want->mount_path);
	assert_int_equal(got->stop_timeout_s, want->stop_timeout_s);
	assert_int_equal(got->n_env, want->n_env);
	for (size_t i = 0; i < want->n_env; i++)
		assert_string_equal(got->env[i], want->env[i]);
	assert_int_equal(got->n_command, want->n_command);
	for (size_t i = 0; i < want->n_command; i++)
		assert_string_equal(got->command[i], want->command[i]);
}

/* --- health and listing ------------------------------------------------------------ */

static void
test_health_reports_serving_with_version(void **state)
{
	struct fixture *f = *state;
	Berth__V1__HealthRequest req = BERTH__V1__HEALTH_REQUEST__INIT;
	Berth__V1__HealthResponse *reply = NULL;
	berth_status st;

	assert_int_equal(berth_call(f->client, "Health", &req.base, (ProtobufCMessage **)&reply, &st),
	    0);
	assert_int_equal(reply->status, BERTH__V1__HEALTH_RESPONSE__SERVING_STATUS__SERVING);
	assert_string_equal(reply->version, BERTH_VERSION);
	assert_string_equal(reply->version, berth_version());
	berth_reply_free((ProtobufCMessage *)reply);

	req.service = "berth.v1.Berth";
	assert_int_equal(berth_call(f->client, "Health", &req.base, (ProtobufCMessage **)&reply, &st),
	    0);
	assert_int_equal(reply->status, BERTH__V1__HEALTH_RESPONSE__SERVING_STATUS__SERVING);
	berth_reply_free((ProtobufCMessage *)reply);
}

static void
test_health_of_unknown_service_is_service_unknown(void **state)
{
	struct fixture *f = *state;
	Berth__V1__HealthRequest req = BERTH__V1__HEALTH_REQUEST__INIT;
	Berth__V1__HealthResponse *reply = NULL;
	berth_status st;

	req.service = "grpc.health.v1.Nope";
	assert_int_equal(berth_call(f->client, "Health", &req.base, (ProtobufCMessage **)&reply, &st),
	    0);
	assert_int_equal(reply->status, BERTH__V1__HEALTH_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN);
	berth_reply_free((ProtobufCMessage *)reply);
}

static void
test_list_templates_has_the_five_seeds_sorted(void **state)
{
	static const struct {
		const char *name, *description;
		uint32_t port;
	} seeds[] = {
		{ "auth_service", "Authentication service", 8020 },
		{ "buckets", "Bucket service", 8000 },
		{ "database_service", "Database service", 8040 },
		{ "db", "Database service", 8010 },
		{ "file_manager", "File management service", 8030 },
	};
	struct fixture *f = *state;
	Berth__V1__ListTemplatesRequest req = BERTH__V1__LIST_TEMPLATES_REQUEST__INIT;
	Berth__V1__ListTemplatesResponse *reply = NULL;
	berth_status st;

	assert_int_equal(
	    berth_call(f->client, "ListTemplates", &req.base, (ProtobufCMessage **)&reply, &st), 0);
	assert_int_equal(reply->n_templates, 5);
	for (size_t i = 0; i < 5; i++) {
		const Berth__V1__Template *t = reply->templates[i];
		char image[64];

		snprintf(image, sizeof(image), "uws/%s:latest", seeds[i].name);
		assert_string_equal(t->name, seeds[i].name);
		assert_string_equal(t->description, seeds[i].description);
		assert_int_equal(t->port_range_start, seeds[i].port);
		assert_int_equal(t->container_port, 8000);
		assert_string_equal(t->image, image);
		assert_string_equal(t->mount_path, "/app");
	}
	berth_reply_free((ProtobufCMessage *)reply);
}

/* --- put, get, delete -------------------------------------------------------------- */

static void
test_put_get_delete_round_trip(void **state)
{
	struct fixture *f = *state;
	Berth__V1__Template t = web_template();
	Berth__V1__PutTemplateResponse *put = NULL;
	Berth__V1__GetTemplateResponse *got = NULL;
	berth_status st;

	assert_int_equal(put_template(f->client, &t, NULL, &put, &st), 0);
	assert_true(put->created);
	assert_template_equal(put->template_, &t); /* the reply is what was stored */
	berth_reply_free((ProtobufCMessage *)put);

	assert_int_equal(get_template(f->client, "web", &got, &st), 0);
	assert_template_equal(got->template_, &t);
	berth_reply_free((ProtobufCMessage *)got);

	assert_int_equal(delete_template(f->client, "web", &st), 0);
	assert_int_equal(get_template(f->client, "web", &got, &st), BERTH__V1__CODE__NOT_FOUND);
	assert_null(got);
}

static void
test_put_again_replaces_and_reports_not_created(void **state)
{
	struct fixture *f = *state;
	Berth__V1__Template t = web_template();
	Berth__V1__PutTemplateResponse *put = NULL;
	Berth__V1__GetTemplateResponse *got = NULL;
	berth_status st;

	assert_int_equal(put_template(f->client, &t, NULL, NULL, &st), 0);
	t.image = "example/web:2.0";
	t.n_env = 0;
	assert_int_equal(put_template(f->client, &t, NULL, &put, &st), 0);
	assert_false(put->created);
	berth_reply_free((ProtobufCMessage *)put);
	assert_int_equal(get_template(f->client, "web", &got, &st), 0);
	assert_template_equal(got->template_, &t);
	berth_reply_free((ProtobufCMessage *)got);
}

static void
test_put_retried_with_same_request_id_runs_once(void **state)
{
	struct fixture *f = *state;
	Berth__V1__Template t = web_template();
	Berth__V1__PutTemplateResponse *first = NULL, *retry = NULL;
	berth_status st;

	assert_int_equal(put_template(f->client, &t, "e2e-retry-1", &first, &st), 0);
	assert_int_equal(put_template(f->client, &t, "e2e-retry-1", &retry, &st), 0);
	/* Run twice, the second would say created=false. */
	assert_true(first->created);
	assert_true(retry->created);
	berth_reply_free((ProtobufCMessage *)first);
	berth_reply_free((ProtobufCMessage *)retry);
}

static void
test_put_with_bad_name_is_invalid_argument_naming_template_name(void **state)
{
	struct fixture *f = *state;
	Berth__V1__Template t = web_template();
	Berth__V1__GetTemplateResponse *got = NULL;
	berth_status st;

	t.name = "Bad/Name";
	assert_int_equal(put_template(f->client, &t, NULL, NULL, &st),
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_string_equal(st.field, "template.name");
	assert_string_equal(st.reason, "INVALID_NAME");
	assert_int_equal(get_template(f->client, "bad", &got, &st), BERTH__V1__CODE__NOT_FOUND);
}

static void
test_put_with_range_end_below_start_is_invalid_argument(void **state)
{
	struct fixture *f = *state;
	Berth__V1__Template t = web_template();
	berth_status st;

	t.port_range_start = 9000;
	t.port_range_end = 8000;
	assert_int_equal(put_template(f->client, &t, NULL, NULL, &st),
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_string_equal(st.field, "template.port_range_end");
	assert_string_equal(st.reason, "INVALID_RANGE");
}

static void
test_put_without_template_is_invalid_argument(void **state)
{
	struct fixture *f = *state;
	Berth__V1__PutTemplateRequest req = BERTH__V1__PUT_TEMPLATE_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	berth_status st;

	assert_int_equal(berth_call(f->client, "PutTemplate", &req.base, &reply, &st),
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_string_equal(st.field, "template");
}

static void
test_get_unknown_template_lists_available_ones(void **state)
{
	struct fixture *f = *state;
	Berth__V1__GetTemplateResponse *got = NULL;
	berth_status st;

	assert_int_equal(get_template(f->client, "nope", &got, &st), BERTH__V1__CODE__NOT_FOUND);
	assert_string_equal(st.message,
	    "Template 'nope' not found. Available templates: " SEED_NAMES);
	assert_string_equal(st.reason, "TEMPLATE_NOT_FOUND");
}

static void
test_not_found_message_lists_templates_added_later(void **state)
{
	struct fixture *f = *state;
	Berth__V1__Template t = web_template();
	Berth__V1__GetTemplateResponse *got = NULL;
	berth_status st;

	t.name = "aaa_first";
	assert_int_equal(put_template(f->client, &t, NULL, NULL, &st), 0);
	assert_int_equal(get_template(f->client, "nope", &got, &st), BERTH__V1__CODE__NOT_FOUND);
	assert_string_equal(st.message,
	    "Template 'nope' not found. Available templates: aaa_first, " SEED_NAMES);
}

static void
test_get_with_malformed_name_is_invalid_argument(void **state)
{
	struct fixture *f = *state;
	Berth__V1__GetTemplateResponse *got = NULL;
	berth_status st;

	assert_int_equal(get_template(f->client, "../etc", &got, &st),
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_string_equal(st.field, "name");
	assert_int_equal(get_template(f->client, "", &got, &st), BERTH__V1__CODE__INVALID_ARGUMENT);
}

static void
test_delete_unknown_template_is_not_found_with_available_list(void **state)
{
	struct fixture *f = *state;
	berth_status st;

	assert_int_equal(delete_template(f->client, "nope", &st), BERTH__V1__CODE__NOT_FOUND);
	assert_string_equal(st.message,
	    "Template 'nope' not found. Available templates: " SEED_NAMES);
}

static void
test_delete_template_with_services_is_failed_precondition(void **state)
{
	struct fixture *f = *state;
	Berth__V1__GetTemplateResponse *got = NULL;
	char db_path[400];
	berth_status st;

	/* A service row, as a launch would leave it; berthd runs meanwhile (WAL). */
	snprintf(db_path, sizeof(db_path), "%s/registry.db", f->proc.data_dir);
	sql_exec(db_path,
	    "INSERT INTO services (service_id, template, instance, container_name, port, "
	    "project_dir, status, created_at, updated_at) VALUES ('db_instance_1', 'db', "
	    "'instance_1', 'db_instance_1', 8010, '/tmp/none', 'stopped', "
	    "'2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')");
	assert_int_equal(delete_template(f->client, "db", &st),
	    BERTH__V1__CODE__FAILED_PRECONDITION);
	assert_string_equal(st.reason, "TEMPLATE_IN_USE");
	assert_int_equal(get_template(f->client, "db", &got, &st), 0);
	berth_reply_free((ProtobufCMessage *)got);
}

static void
test_every_request_is_logged_with_method_and_code(void **state)
{
	struct fixture *f = *state;
	Berth__V1__GetTemplateResponse *got = NULL;
	berth_status st;

	assert_int_equal(get_template(f->client, "nope", &got, &st), BERTH__V1__CODE__NOT_FOUND);
	assert_true(file_eventually_contains_from(f->proc.log_path, 0,
	    "rpc method=/berth.v1.Berth/GetTemplate code=NOT_FOUND"));
}

/*
 * Reads that succeed are logged at debug: a client polling (berth ls
 * --watch) added a line per poll. Changes stay at info.
 */
static void
test_successful_reads_are_not_logged_at_info(void **state)
{
	struct fixture *f = *state;
	Berth__V1__Template t = web_template();
	Berth__V1__GetTemplateResponse *got = NULL;
	berth_status st;

	assert_int_equal(put_template(f->client, &t, NULL, NULL, &st), 0);
	assert_int_equal(get_template(f->client, t.name, &got, &st), 0);
	berth_reply_free((ProtobufCMessage *)got);
	assert_int_equal(put_template(f->client, &t, "after-the-read", NULL, &st), 0);
	/* Lines are written in order: once the later change is there, the read would be too. */
	assert_true(file_eventually_contains_from(f->proc.log_path, 0, "request_id=after-the-read"));
	assert_false(file_contains_from(f->proc.log_path, 0,
	    "rpc method=/berth.v1.Berth/GetTemplate code=OK"));
	assert_true(file_contains_from(f->proc.log_path, 0,
	    "rpc method=/berth.v1.Berth/PutTemplate code=OK"));
}

/* --- start-up ------------------------------------------------------------------------ */

static void
test_second_berthd_on_same_data_dir_refuses_to_start(void **state)
{
	struct fixture *f = *state;
	Berth__V1__GetTemplateResponse *got = NULL;
	char url[400], log_path[400];
	const char *args[] = { "--listen", url, "--data-dir", f->proc.data_dir, NULL };
	berth_status st;

	snprintf(url, sizeof(url), "ipc://%s/second.sock", f->proc.dir);
	snprintf(log_path, sizeof(log_path), "%s/second.log", f->proc.dir);
	assert_int_not_equal(run_berthd(log_path, 10, args), 0);
	assert_true(file_contains_from(log_path, 0, "another berthd"));
	/* The first one is unharmed. */
	assert_int_equal(get_template(f->client, "db", &got, &st), 0);
	berth_reply_free((ProtobufCMessage *)got);
}

static void
test_restart_keeps_templates_and_does_not_migrate_again(void **state)
{
	struct fixture *f = *state;
	Berth__V1__Template t = web_template();
	Berth__V1__GetTemplateResponse *got = NULL;
	berth_status st;
	long offset;

	assert_true(berthd_proc_log_contains(&f->proc, "migrated"));
	t.name = "persist";
	assert_int_equal(put_template(f->client, &t, NULL, NULL, &st), 0);
	assert_int_equal(berthd_proc_stop(&f->proc, 10), 0);

	offset = file_size(f->proc.log_path);
	assert_int_equal(berthd_proc_restart(&f->proc, NULL), 0);
	assert_int_equal(get_template(f->client, "persist", &got, &st), 0);
	assert_template_equal(got->template_, &t);
	berth_reply_free((ProtobufCMessage *)got);
	assert_true(file_eventually_contains_from(f->proc.log_path, offset, "berthd started"));
	assert_false(file_contains_from(f->proc.log_path, offset, "migrated"));
}

static void
test_database_of_newer_berthd_is_refused(void **state)
{
	struct fixture *f = *state;
	char db_path[400], log_path[400];
	const char *args[] = { "--listen", f->proc.url, "--data-dir", f->proc.data_dir, NULL };

	assert_int_equal(berthd_proc_stop(&f->proc, 10), 0);
	snprintf(db_path, sizeof(db_path), "%s/registry.db", f->proc.data_dir);
	sql_exec(db_path, "PRAGMA user_version = 999");

	snprintf(log_path, sizeof(log_path), "%s/newer.log", f->proc.dir);
	assert_int_not_equal(run_berthd(log_path, 10, args), 0);
	assert_true(file_contains_from(log_path, 0, "level=error"));
	assert_true(file_contains_from(log_path, 0, "newer berthd"));
	assert_true(file_contains_from(log_path, 0, "999"));
	assert_false(file_contains_from(log_path, 0, "berthd started"));
}

static void
test_bad_flag_value_exits_2_naming_the_flag(void **state)
{
	char dir[] = "/tmp/berth-flags-XXXXXX";
	char log_path[128];
	const char *workers[] = { "--workers", "0", NULL };
	const char *unknown[] = { "--no-such-flag", "1", NULL };

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(log_path, sizeof(log_path), "%s/berthd.log", dir);
	assert_int_equal(run_berthd(log_path, 10, workers), 2);
	assert_true(file_contains_from(log_path, 0, "--workers"));
	assert_int_equal(run_berthd(log_path, 10, unknown), 2);
	assert_true(file_contains_from(log_path, 0, "no-such-flag"));
	unlink(log_path);
	rmdir(dir);
}

static void
test_ipc_socket_gets_the_configured_mode(void **state)
{
	struct fixture *f = *state;
	char events[PATH_MAX];
	struct stat sb;

	assert_int_equal(stat(f->proc.url + strlen("ipc://"), &sb), 0);
	assert_true(S_ISSOCK(sb.st_mode));
	assert_int_equal(sb.st_mode & 0777, 0660);
	/* The events socket next to it (the default URL) tells as much: the same mode. */
	snprintf(events, sizeof(events), "%s-events", f->proc.url + strlen("ipc://"));
	assert_int_equal(stat(events, &sb), 0);
	assert_true(S_ISSOCK(sb.st_mode));
	assert_int_equal(sb.st_mode & 0777, 0660);
}

/*
 * On nng 1.5.2 (Debian 12's libnng1) one peer that connects to an ipc
 * socket and hangs up before the SP handshake leaves the listener unable to
 * hand anyone after it to the socket (nanomsg/nng#1518, fixed in nng 1.6.0).
 * berthd's ipc watchdog notices and listens again: clients get through
 * again within seconds, without a restart of berthd.
 */
/* One Health call on a fresh connection (1 s timeout); true when it answered. */
static bool
health_answers_once(void *arg)
{
	Berth__V1__HealthRequest req = BERTH__V1__HEALTH_REQUEST__INIT;
	berth_options opts = { NULL, 1000 };
	ProtobufCMessage *reply = NULL;
	berth_client *c;
	berth_status st;
	int code = -1;

	if (berth_open(&c, arg, &opts, &st) == 0) {
		code = berth_call(c, "Health", &req.base, &reply, &st);
		berth_reply_free(reply);
		berth_close(c);
	}
	return code == 0;
}

static bool
health_within(const char *url, int seconds)
{
	return e2e_wait_until(health_answers_once, (void *)url, seconds * 1000);
}

static void
test_berthd_keeps_serving_after_a_peer_hangs_up_before_handshake(void **state)
{
	struct fixture *f = *state;

	for (int round = 0; round < 5; round++) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		assert_true(fd >= 0);
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->proc.url + strlen("ipc://"));
		assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		close(fd);
		if (!health_within(f->proc.url, 15))
			fail_msg("round %d: no Health answer within 15 s of a half-done handshake",
			    round);
	}
}

/* --- shutdown ------------------------------------------------------------------------ */

static void
test_sigterm_exits_zero_and_logs_shutdown_done(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(berthd_proc_stop(&f->proc, 30), 0);
	assert_true(berthd_proc_log_contains(&f->proc, "shutdown begun signal=SIGTERM"));
	assert_true(berthd_proc_log_contains(&f->proc, "shutdown done"));
}

static void
test_shutdown_rpc_exits_zero(void **state)
{
	struct fixture *f = *state;
	Berth__V1__ShutdownRequest req = BERTH__V1__SHUTDOWN_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	berth_status st;

	assert_int_equal(berth_call(f->client, "Shutdown", &req.base, &reply, &st), 0);
	berth_reply_free(reply);
	assert_int_equal(wait_exit(&f->proc, 30), 0);
	assert_true(berthd_proc_log_contains(&f->proc, "shutdown done"));
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_health_reports_serving_with_version),
		T(test_health_of_unknown_service_is_service_unknown),
		T(test_list_templates_has_the_five_seeds_sorted),
		T(test_put_get_delete_round_trip),
		T(test_put_again_replaces_and_reports_not_created),
		T(test_put_retried_with_same_request_id_runs_once),
		T(test_put_with_bad_name_is_invalid_argument_naming_template_name),
		T(test_put_with_range_end_below_start_is_invalid_argument),
		T(test_put_without_template_is_invalid_argument),
		T(test_get_unknown_template_lists_available_ones),
		T(test_not_found_message_lists_templates_added_later),
		T(test_get_with_malformed_name_is_invalid_argument),
		T(test_delete_unknown_template_is_not_found_with_available_list),
		T(test_delete_template_with_services_is_failed_precondition),
		T(test_every_request_is_logged_with_method_and_code),
		T(test_successful_reads_are_not_logged_at_info),
		T(test_second_berthd_on_same_data_dir_refuses_to_start),
		T(test_restart_keeps_templates_and_does_not_migrate_again),
		T(test_database_of_newer_berthd_is_refused),
		cmocka_unit_test(test_bad_flag_value_exits_2_naming_the_flag),
		T(test_ipc_socket_gets_the_configured_mode),
		T(test_berthd_keeps_serving_after_a_peer_hangs_up_before_handshake),
		T(test_sigterm_exits_zero_and_logs_shutdown_done),
		T(test_shutdown_rpc_exits_zero),
	};
#undef T

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
