/*
 * test_security.c - berthd locked down, end to end: a real berthd, the
 * real `berthd token`/`berthd audit` commands, libberth over ipc://,
 * tcp:// and tls+tcp:// (certificates made with the openssl CLI at test
 * time), and raw nng req0 sockets that send hand-crafted bytes.
 *
 * What it proves:
 *   - tcp:// (and tls+tcp:// without a client CA) without tokens is refused
 *     at start-up; ipc:// sockets get the configured mode;
 *   - every method x every caller (none, bad token, viewer, operator,
 *     admin) gets exactly UNAUTHENTICATED / PERMISSION_DENIED / through;
 *   - --ipc-admin, revocation, token list never showing tokens;
 *   - mutual TLS refuses a client without a certificate (or with one of
 *     another CA) and serves one with;
 *   - every mutating call, allowed or not, is an audit row (refused without a
 *     valid token: in a table of its own, berthd audit --refused); reads are not;
 *   - hostile input (path tricks, NUL bytes, overlong and invalid text,
 *     SQL metacharacters, ports 0, 65536 and negative) is INVALID_ARGUMENT
 *     and berthd keeps serving; a build context is re-checked before a
 *     build.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>

#include "berth.h"
#include "berthd_proc.h"
#include "e2e.h"
#include "clock.h"
#include "rpc_method.h"

#define CALL_TIMEOUT_MS 20000

/* --- helpers ------------------------------------------------------------------------- */

static const char *
build_dir(void)
{
	const char *b = getenv("BUILD");
	return b != NULL && b[0] != '\0' ? b : "build";
}

/* A TCP port nobody listens on right now (the e2e fixture's). */
static int
free_port(void)
{
	return e2e_free_port();
}

/*
 * Runs argv (argv[0] a path) with stdout captured into *out (malloc'ed,
 * may be NULL) and stderr into *err; waits at most timeout_s. Returns the
 * exit status, 128+signal, or -1 when it had to be killed.
 */
static int
run(const char *const *argv, char **out, char **err, int timeout_s)
{
	char path_out[] = "/tmp/berth-sec-out-XXXXXX", path_err[] = "/tmp/berth-sec-err-XXXXXX";
	int fd_out = mkstemp(path_out), fd_err = mkstemp(path_err), status = 0, rc = -1;
	pid_t pid;

	if (fd_out < 0 || fd_err < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(fd_out, STDOUT_FILENO);
		dup2(fd_err, STDERR_FILENO);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (pid > 0 && E2E_WAIT_UNTIL(waitpid(pid, &status, WNOHANG) == pid, timeout_s * 1000))
		rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (rc == -1 && pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	for (int k = 0; k < 2; k++) {
		char **dst = k == 0 ? out : err;
		int fd = k == 0 ? fd_out : fd_err;
		off_t size = lseek(fd, 0, SEEK_END);

		if (dst != NULL) {
			*dst = calloc(1, (size_t)(size > 0 ? size : 0) + 1);
			if (*dst != NULL && size > 0 && pread(fd, *dst, (size_t)size, 0) != size)
				(*dst)[0] = '\0';
		}
		close(fd);
	}
	unlink(path_out);
	unlink(path_err);
	return rc;
}

/* `berthd ARGS...` (NULL-terminated); see run(). */
static int
berthd_cmd(char **out, char **err, ...)
{
	const char *argv[32];
	char berthd[512];
	const char *arg;
	va_list ap;
	int n = 0;

	snprintf(berthd, sizeof(berthd), "%s/berthd", build_dir());
	argv[n++] = berthd;
	va_start(ap, err);
	while ((arg = va_arg(ap, const char *)) != NULL && n < 31)
		argv[n++] = arg;
	va_end(ap);
	argv[n] = NULL;
	return run(argv, out, err, 30);
}

/* `berthd token create` on p's data directory, while it runs; the token in `token`. */
static void
create_token(const struct berthd_proc *p, const char *name, const char *role, char *token,
    size_t len)
{
	char *out = NULL, *err = NULL;
	int rc = berthd_cmd(&out, &err, "token", "create", "--name", name, "--role", role,
	    "--data-dir", p->data_dir, NULL);

	if (rc != 0)
		fail_msg("berthd token create %s: exit %d: %s", name, rc, err);
	assert_int_equal(strlen(out), 71); /* "berth_" + 64 hex + newline */
	snprintf(token, len, "%.*s", 70, out);
	assert_non_null(strstr(err, "shown only this once"));
	free(out);
	free(err);
}

/* A new client on url with `token` (may be NULL) and TLS options (may be NULL). */
static int
open_client(berth_client **c, const char *url, const char *token, const berth_options *tls,
    berth_status *st)
{
	berth_options opts = { 0 };

	if (tls != NULL)
		opts = *tls;
	opts.token = token;
	opts.timeout_ms = CALL_TIMEOUT_MS;
	return berth_open(c, url, &opts, st);
}

/* Calls method `index` with an empty request of its type; returns the code. */
static int
call_empty(berth_client *c, unsigned index, berth_status *st)
{
	const ProtobufCMethodDescriptor *m = rpc_method(index);
	ProtobufCMessage *req = calloc(1, m->input->sizeof_message), *reply = NULL;
	int code;

	assert_non_null(req);
	protobuf_c_message_init(m->input, req);
	code = berth_call(c, m->name, req, &reply, st);
	berth_reply_free(reply);
	free(req);
	return code;
}

static int
health(const char *url, const berth_options *tls)
{
	berth_client *c;
	berth_status st;
	int code;

	if ((code = open_client(&c, url, NULL, tls, &st)) != 0)
		return code;
	code = call_empty(c, (unsigned)rpc_method_find("Health"), &st);
	berth_close(c);
	return code;
}

static void
assert_contains(const char *haystack, const char *needle)
{
	if (haystack == NULL || strstr(haystack, needle) == NULL)
		fail_msg("\"%s\" not found in:\n%s", needle, haystack ? haystack : "(null)");
}

/* --- start-up policy -------------------------------------------------------------------- */

/* Starts berthd with args on a scratch directory; expects it to exit with `status`. */
static void
assert_berthd_refuses(const char *const *extra, int status, const char *reason)
{
	char dir[] = "/tmp/berth-sec-XXXXXX", data[64], ipc[96], berthd[512], cmd[128];
	const char *argv[32];
	char *out = NULL, *err = NULL;
	int n = 0, rc;

	assert_non_null(mkdtemp(dir));
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(ipc, sizeof(ipc), "ipc://%s/b.sock", dir);
	snprintf(berthd, sizeof(berthd), "%s/berthd", build_dir());
	argv[n++] = berthd;
	argv[n++] = "--config";
	argv[n++] = "";
	argv[n++] = "--data-dir";
	argv[n++] = data;
	for (int i = 0; extra[i] != NULL; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	rc = run(argv, &out, &err, 20);
	if (rc != status)
		fail_msg("berthd exited %d, expected %d; stderr:\n%s", rc, status, err);
	assert_contains(err, reason);
	/* Refused before it served anything: no socket, no registry. */
	assert_int_not_equal(access(data, F_OK), 0);
	free(out);
	free(err);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void
test_tcp_without_tokens_is_refused_at_start_up(void **state)
{
	char tcp[64], tls[64];

	(void)state;
	snprintf(tcp, sizeof(tcp), "tcp://127.0.0.1:%d", free_port());
	snprintf(tls, sizeof(tls), "tls+tcp://127.0.0.1:%d", free_port());
	assert_berthd_refuses((const char *[]){ "--listen", tcp, "--auth", "off", NULL }, 2,
	    "refusing to listen on tcp://127.0.0.1");
	/* TLS without a client CA is no better without tokens. */
	assert_berthd_refuses((const char *[]){ "--listen", tls, "--auth", "off", "--tls-cert",
				  "/nonexistent.pem", "--tls-key", "/nonexistent.pem", NULL },
	    2, "--tls-client-ca");
	assert_berthd_refuses((const char *[]){ "--listen", tls, NULL }, 2, "needs --tls-cert");
	assert_berthd_refuses((const char *[]){ "--listen", "ws://127.0.0.1:1", "--auth", "on", NULL },
	    2, "ipc://, tcp:// and tls+tcp://");
}

static void
test_tcp_listener_turns_tokens_on_by_default(void **state)
{
	struct berthd_proc p;
	char tcp[64], token[128];
	const char *args[] = { "--listen", tcp, NULL };
	berth_client *c;
	berth_status st;

	(void)state;
	snprintf(tcp, sizeof(tcp), "tcp://127.0.0.1:%d", free_port());
	assert_int_equal(berthd_proc_start(&p, args), 0);
	assert_true(berthd_proc_log_contains(&p, "auth=on"));
	/* Health needs no token; everything else does, on ipc:// too. */
	assert_int_equal(health(tcp, NULL), 0);
	assert_int_equal(open_client(&c, tcp, NULL, NULL, &st), 0);
	assert_int_equal(call_empty(c, (unsigned)rpc_method_find("ListTemplates"), &st),
	    BERTH__V1__CODE__UNAUTHENTICATED);
	berth_close(c);
	assert_int_equal(open_client(&c, p.url, NULL, NULL, &st), 0);
	assert_int_equal(call_empty(c, (unsigned)rpc_method_find("ListTemplates"), &st),
	    BERTH__V1__CODE__UNAUTHENTICATED);
	berth_close(c);
	create_token(&p, "reader", "viewer", token, sizeof(token));
	assert_int_equal(open_client(&c, tcp, token, NULL, &st), 0);
	assert_int_equal(call_empty(c, (unsigned)rpc_method_find("ListTemplates"), &st), 0);
	berth_close(c);
	/* The events socket has no tokens: with authentication on it stays on ipc://. */
	assert_false(berthd_proc_log_contains(&p, "publishing events url=tcp://"));
	berthd_proc_cleanup(&p);
}

/* Health's caller_role for a token ("" none) over url: into role. */
static void
caller_role(const char *url, const char *token, char *role, size_t len)
{
	Berth__V1__HealthRequest req = BERTH__V1__HEALTH_REQUEST__INIT;
	Berth__V1__HealthResponse *h = NULL;
	berth_client *c;
	berth_status st;

	assert_int_equal(open_client(&c, url, token[0] != '\0' ? token : NULL, NULL, &st), 0);
	assert_int_equal(berth_call(c, "Health", &req.base, (ProtobufCMessage **)&h, &st), 0);
	snprintf(role, len, "%s", h->caller_role);
	berth_reply_free(&h->base);
	berth_close(c);
}

/* Health answers every caller, and says what its token may do (the console hides the rest). */
static void
test_health_tells_the_caller_its_role(void **state)
{
	struct berthd_proc p;
	char tcp[64], viewer[128], op[128], role[32];
	const char *args[] = { "--listen", tcp, NULL };

	(void)state;
	snprintf(tcp, sizeof(tcp), "tcp://127.0.0.1:%d", free_port());
	assert_int_equal(berthd_proc_start(&p, args), 0);
	create_token(&p, "role-viewer", "viewer", viewer, sizeof(viewer));
	create_token(&p, "role-operator", "operator", op, sizeof(op));
	caller_role(tcp, "", role, sizeof(role));
	assert_string_equal(role, "");
	caller_role(tcp, "berth_0000000000000000000000000000000000000000000000000000000000000000",
	    role, sizeof(role));
	assert_string_equal(role, "");
	caller_role(tcp, viewer, role, sizeof(role));
	assert_string_equal(role, "viewer");
	caller_role(tcp, op, role, sizeof(role));
	assert_string_equal(role, "operator");
	berthd_proc_cleanup(&p);

	/* Without tokens whoever reaches the socket is admin. */
	assert_int_equal(berthd_proc_start(&p, NULL), 0);
	caller_role(p.url, "", role, sizeof(role));
	assert_string_equal(role, "admin");
	berthd_proc_cleanup(&p);
}

static void
test_ipc_socket_gets_the_configured_mode(void **state)
{
	static const struct {
		const char *arg;
		mode_t mode;
	} cases[] = { { "0600", 0600 }, { "0640", 0640 }, { "0660", 0660 } };

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *args[] = { "--ipc-mode", cases[i].arg, NULL };
		struct berthd_proc p;
		struct stat sb;

		assert_int_equal(berthd_proc_start(&p, args), 0);
		assert_int_equal(stat(p.url + strlen("ipc://"), &sb), 0);
		assert_true(S_ISSOCK(sb.st_mode));
		if ((sb.st_mode & 0777) != cases[i].mode)
			fail_msg("--ipc-mode %s: socket mode %04o", cases[i].arg,
			    (unsigned)(sb.st_mode & 0777));
		berthd_proc_cleanup(&p);
	}
}

/* --- roles: every method x every caller ----------------------------------------------------- */

enum caller { NO_TOKEN, BAD_TOKEN, VIEWER, OPERATOR, ADMIN, N_CALLERS };

static const char *const caller_names[N_CALLERS] = { "no token", "bad token", "viewer",
	"operator", "admin" };

/* The table, restated independently of routes.c. */
static const struct {
	const char *method;
	enum caller least; /* NO_TOKEN: public */
} required[] = {
	{ "Health", NO_TOKEN },
	{ "ListTemplates", VIEWER },
	{ "GetTemplate", VIEWER },
	{ "ListServices", VIEWER },
	{ "GetService", VIEWER },
	{ "GetStats", VIEWER },
	{ "GetStatus", VIEWER },
	{ "GetCleanupStatus", VIEWER },
	{ "ListTemplateRevisions", VIEWER },
	{ "GetRollout", VIEWER },
	{ "PlanSpec", VIEWER },
	{ "WatchEvents", VIEWER },
	{ "ListNodes", VIEWER },
	{ "LaunchService", OPERATOR },
	{ "StopService", OPERATOR },
	{ "RestartService", OPERATOR },
	{ "RemoveService", OPERATOR },
	{ "GetServiceLogs", OPERATOR },
	{ "AutoCleanup", OPERATOR },
	{ "ScaleTemplate", OPERATOR },
	{ "StartRollout", OPERATOR },
	{ "ControlRollout", OPERATOR },
	{ "ExecService", OPERATOR },
	{ "PutTemplate", ADMIN },
	{ "DeleteTemplate", ADMIN },
	{ "ForceCleanupAll", ADMIN },
	{ "Shutdown", ADMIN },
	{ "UpdateTemplate", ADMIN },
	{ "ApplySpec", ADMIN },
	{ "SetNodeAvailability", ADMIN },
};

#define N_REQUIRED (sizeof(required) / sizeof(required[0]))

struct roles {
	struct berthd_proc proc;
	char tokens[N_CALLERS][128];
};

static int
roles_setup(void **state)
{
	struct roles *r = calloc(1, sizeof(*r));
	const char *args[] = { "--auth", "on", NULL };

	if (r == NULL || berthd_proc_start(&r->proc, args) != 0)
		return -1;
	/* Created while berthd runs: it sees them at once (SQLite WAL). */
	create_token(&r->proc, "v", "viewer", r->tokens[VIEWER], sizeof(r->tokens[VIEWER]));
	create_token(&r->proc, "o", "operator", r->tokens[OPERATOR], sizeof(r->tokens[OPERATOR]));
	create_token(&r->proc, "a", "admin", r->tokens[ADMIN], sizeof(r->tokens[ADMIN]));
	/* Well formed, never issued. */
	snprintf(r->tokens[BAD_TOKEN], sizeof(r->tokens[BAD_TOKEN]), "berth_%064d", 0);
	*state = r;
	return 0;
}

static int
roles_teardown(void **state)
{
	struct roles *r = *state;

	berthd_proc_cleanup(&r->proc);
	free(r);
	return 0;
}

static void
test_every_method_times_every_role(void **state)
{
	struct roles *r = *state;
	berth_client *clients[N_CALLERS];
	berth_status st;

	/* The table covers the whole proto: a new RPC must be added to it. */
	assert_int_equal(rpc_method_count(), N_REQUIRED);
	for (int k = 0; k < N_CALLERS; k++)
		assert_int_equal(open_client(&clients[k], r->proc.url,
				     k == NO_TOKEN ? NULL : r->tokens[k], NULL, &st),
		    0);
	for (size_t i = 0; i < N_REQUIRED; i++) {
		int index = rpc_method_find(required[i].method);

		assert_true(index >= 0);
		for (int k = 0; k < N_CALLERS; k++) {
			bool allowed = required[i].least == NO_TOKEN ||
			    (k >= VIEWER && (enum caller)k >= required[i].least);
			int want = k < VIEWER ? BERTH__V1__CODE__UNAUTHENTICATED
					      : BERTH__V1__CODE__PERMISSION_DENIED;
			int code;

			if (allowed && strcmp(required[i].method, "Shutdown") == 0)
				continue; /* test_admin_may_shut_down, last */
			code = call_empty(clients[k], (unsigned)index, &st);
			if (allowed && (code == BERTH__V1__CODE__UNAUTHENTICATED ||
					   code == BERTH__V1__CODE__PERMISSION_DENIED))
				fail_msg("%s as %s: %s (%s), expected to get through",
				    required[i].method, caller_names[k], berth_code_name(code),
				    st.message);
			if (!allowed && code != want)
				fail_msg("%s as %s: %s (%s), expected %s", required[i].method,
				    caller_names[k], berth_code_name(code), st.message,
				    berth_code_name(want));
		}
	}
	for (int k = 0; k < N_CALLERS; k++)
		berth_close(clients[k]);
}

static void
test_permission_denied_names_the_roles(void **state)
{
	struct roles *r = *state;
	berth_client *c;
	berth_status st;

	assert_int_equal(open_client(&c, r->proc.url, r->tokens[OPERATOR], NULL, &st), 0);
	assert_int_equal(call_empty(c, (unsigned)rpc_method_find("DeleteTemplate"), &st),
	    BERTH__V1__CODE__PERMISSION_DENIED);
	assert_contains(st.message, "needs the admin role");
	assert_contains(st.message, "'o' has operator");
	assert_string_equal(st.reason, "ROLE_TOO_LOW");
	berth_close(c);
}

static void
test_cli_sends_token_from_flag_and_environment(void **state)
{
	struct roles *r = *state;
	char *out = NULL, *err = NULL;

	assert_int_equal(berth_cli(&r->proc, &out, &err, "stats", NULL), 6);
	assert_contains(err, "UNAUTHENTICATED");
	free(out);
	free(err);
	assert_int_equal(berth_cli(&r->proc, &out, &err, "--token", r->tokens[VIEWER], "stats", NULL),
	    0);
	free(out);
	free(err);
	setenv("BERTH_TOKEN", r->tokens[VIEWER], 1);
	assert_int_equal(berth_cli(&r->proc, &out, &err, "template", "rm", "db", NULL), 6);
	unsetenv("BERTH_TOKEN");
	assert_contains(err, "PERMISSION_DENIED");
	free(out);
	free(err);
}

static void
test_token_list_shows_names_and_use_never_tokens(void **state)
{
	struct roles *r = *state;
	char *out = NULL, *err = NULL;
	json_t *list;

	assert_int_equal(berthd_cmd(&out, &err, "token", "list", "--data-dir", r->proc.data_dir, NULL),
	    0);
	for (int k = VIEWER; k <= ADMIN; k++)
		assert_null(strstr(out, r->tokens[k] + 6));
	assert_contains(out, "NAME");
	assert_contains(out, "operator");
	free(out);
	free(err);
	assert_int_equal(berthd_cmd(&out, &err, "token", "list", "--json", "--data-dir",
			     r->proc.data_dir, NULL),
	    0);
	list = json_loads(out, 0, NULL);
	assert_non_null(list);
	assert_int_equal(json_array_size(list), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "name")), "a");
	/* Used by the matrix: last use recorded. */
	assert_true(json_string_length(json_object_get(json_array_get(list, 0), "last_used_at")) > 0);
	json_decref(list);
	free(out);
	free(err);
}

static void
test_revoked_token_is_refused_at_once(void **state)
{
	struct roles *r = *state;
	char token[128], *out = NULL, *err = NULL;
	berth_client *c;
	berth_status st;

	create_token(&r->proc, "short-lived", "viewer", token, sizeof(token));
	assert_int_equal(open_client(&c, r->proc.url, token, NULL, &st), 0);
	assert_int_equal(call_empty(c, (unsigned)rpc_method_find("GetStats"), &st), 0);
	assert_int_equal(berthd_cmd(&out, &err, "token", "revoke", "short-lived", "--data-dir",
			     r->proc.data_dir, NULL),
	    0);
	assert_contains(out, "revoked");
	free(out);
	free(err);
	assert_int_equal(call_empty(c, (unsigned)rpc_method_find("GetStats"), &st),
	    BERTH__V1__CODE__UNAUTHENTICATED);
	berth_close(c);
	assert_int_equal(berthd_cmd(&out, &err, "token", "revoke", "short-lived", "--data-dir",
			     r->proc.data_dir, NULL),
	    1);
	assert_contains(err, "NOT_FOUND");
	free(out);
	free(err);
}

static void
test_admin_may_shut_down(void **state)
{
	struct roles *r = *state;
	berth_client *c;
	berth_status st;
	int status;

	assert_int_equal(open_client(&c, r->proc.url, r->tokens[ADMIN], NULL, &st), 0);
	assert_int_equal(call_empty(c, (unsigned)rpc_method_find("Shutdown"), &st), 0);
	berth_close(c);
	assert_true(E2E_WAIT_UNTIL(waitpid(r->proc.pid, &status, WNOHANG) == r->proc.pid, 30000));
	r->proc.pid = 0;
}

/* --- --ipc-admin ------------------------------------------------------------------------- */

static void
test_ipc_admin_lets_local_callers_in_but_not_tcp_ones(void **state)
{
	struct berthd_proc p;
	char tcp[64];
	const char *args[] = { "--listen", tcp, "--ipc-admin", "on", NULL };
	berth_client *c;
	berth_status st;

	(void)state;
	snprintf(tcp, sizeof(tcp), "tcp://127.0.0.1:%d", free_port());
	assert_int_equal(berthd_proc_start(&p, args), 0);
	assert_int_equal(open_client(&c, p.url, NULL, NULL, &st), 0);
	assert_int_equal(call_empty(c, (unsigned)rpc_method_find("GetStats"), &st), 0);
	/* Admin-only, and it gets through (to its own argument check). */
	assert_int_equal(call_empty(c, (unsigned)rpc_method_find("DeleteTemplate"), &st),
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	berth_close(c);
	assert_int_equal(open_client(&c, tcp, NULL, NULL, &st), 0);
	assert_int_equal(call_empty(c, (unsigned)rpc_method_find("GetStats"), &st),
	    BERTH__V1__CODE__UNAUTHENTICATED);
	berth_close(c);
	berthd_proc_cleanup(&p);
}

/* --- audit ------------------------------------------------------------------------------- */

/*
 * The audit rows of p as JSON (berthd audit --json --tail 0), or with
 * `refused` the calls refused for want of a valid token (--refused).
 */
static json_t *
audit_rows_of(const struct berthd_proc *p, bool refused)
{
	char *out = NULL, *err = NULL;
	json_t *rows;

	if (berthd_cmd(&out, &err, "audit", "--json", "--tail", "0", "--data-dir", p->data_dir,
		refused ? "--refused" : NULL, NULL) != 0)
		fail_msg("berthd audit: %s", err);
	rows = json_loads(out, 0, NULL);
	if (!json_is_array(rows))
		fail_msg("berthd audit --json printed:\n%s", out);
	free(out);
	free(err);
	return rows;
}

static json_t *
audit_rows(const struct berthd_proc *p)
{
	return audit_rows_of(p, false);
}

static const char *
field(json_t *row, const char *name)
{
	const char *s = json_string_value(json_object_get(row, name));
	return s != NULL ? s : "(missing)";
}

static void
assert_row(json_t *row, const char *token, const char *peer_prefix, const char *method,
    const char *target, const char *code)
{
	char path[RPC_METHOD_PATH_MAX];

	snprintf(path, sizeof(path), "/berth.v1.Berth/%s", method);
	assert_string_equal(field(row, "token_name"), token);
	if (strncmp(field(row, "peer"), peer_prefix, strlen(peer_prefix)) != 0)
		fail_msg("peer \"%s\" does not start with \"%s\"", field(row, "peer"), peer_prefix);
	assert_string_equal(field(row, "method"), path);
	assert_string_equal(field(row, "target"), target);
	assert_string_equal(field(row, "code"), code);
	assert_true(strlen(field(row, "time")) == 20);
}

static void
test_mutating_calls_are_audited_allowed_or_not(void **state)
{
	struct berthd_proc p;
	char tcp[64], admin[128], viewer[128], peer[64], *out = NULL, *err = NULL;
	const char *args[] = { "--listen", tcp, NULL };
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	Berth__V1__PutTemplateRequest put = BERTH__V1__PUT_TEMPLATE_REQUEST__INIT;
	Berth__V1__DeleteTemplateRequest del = BERTH__V1__DELETE_TEMPLATE_REQUEST__INIT;
	Berth__V1__LaunchServiceRequest launch = BERTH__V1__LAUNCH_SERVICE_REQUEST__INIT;
	Berth__V1__StopServiceRequest stop = BERTH__V1__STOP_SERVICE_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	berth_client *a, *v, *anon, *remote;
	berth_status st;
	json_t *rows;

	(void)state;
	snprintf(tcp, sizeof(tcp), "tcp://127.0.0.1:%d", free_port());
	assert_int_equal(berthd_proc_start(&p, args), 0);
	create_token(&p, "adm", "admin", admin, sizeof(admin));
	create_token(&p, "view", "viewer", viewer, sizeof(viewer));
	assert_int_equal(open_client(&a, p.url, admin, NULL, &st), 0);
	assert_int_equal(open_client(&v, p.url, viewer, NULL, &st), 0);
	assert_int_equal(open_client(&anon, p.url, NULL, NULL, &st), 0);
	assert_int_equal(open_client(&remote, tcp, admin, NULL, &st), 0);

	t.name = "audited";
	t.image = "busybox:latest";
	t.container_port = 80;
	t.port_range_start = 20000;
	put.template_ = &t;
	assert_int_equal(berth_call(a, "PutTemplate", &put.base, &reply, &st), 0);
	berth_reply_free(reply);
	del.name = "audited";
	assert_int_equal(berth_call(v, "DeleteTemplate", &del.base, &reply, &st),
	    BERTH__V1__CODE__PERMISSION_DENIED);
	stop.service_id = "x_y";
	assert_int_equal(berth_call(anon, "StopService", &stop.base, &reply, &st),
	    BERTH__V1__CODE__UNAUTHENTICATED);
	launch.template_ = "nosuch";
	assert_int_equal(berth_call(remote, "LaunchService", &launch.base, &reply, &st),
	    BERTH__V1__CODE__NOT_FOUND);
	/* Reads leave no row. */
	assert_int_equal(call_empty(a, (unsigned)rpc_method_find("ListTemplates"), &st), 0);
	assert_int_equal(call_empty(v, (unsigned)rpc_method_find("GetStats"), &st), 0);
	assert_int_equal(call_empty(anon, (unsigned)rpc_method_find("Health"), &st), 0);

	rows = audit_rows(&p);
	assert_int_equal(json_array_size(rows), 3);
	snprintf(peer, sizeof(peer), "ipc uid=%u pid=", (unsigned)getuid());
	assert_row(json_array_get(rows, 0), "adm", peer, "PutTemplate", "audited", "OK");
	assert_row(json_array_get(rows, 1), "view", peer, "DeleteTemplate", "audited",
	    "PERMISSION_DENIED");
	assert_row(json_array_get(rows, 2), "adm", "127.0.0.1:", "LaunchService", "nosuch",
	    "NOT_FOUND");
	assert_true(json_string_length(json_object_get(json_array_get(rows, 0), "request_id")) > 0);
	json_decref(rows);
	/* Without a valid token: kept apart, the request not decoded (no target). */
	rows = audit_rows_of(&p, true);
	assert_int_equal(json_array_size(rows), 1);
	assert_row(json_array_get(rows, 0), "", peer, "StopService", "", "UNAUTHENTICATED");
	json_decref(rows);

	/* The table for people, and --tail. */
	assert_int_equal(berthd_cmd(&out, &err, "audit", "--tail", "2", "--data-dir", p.data_dir,
			     NULL),
	    0);
	assert_contains(out, "TIME");
	assert_contains(out, "DeleteTemplate");
	assert_contains(out, "LaunchService");
	assert_null(strstr(out, "PutTemplate"));
	free(out);
	free(err);

	berth_close(a);
	berth_close(v);
	berth_close(anon);
	berth_close(remote);
	berthd_proc_cleanup(&p);
}

/* --- TLS ---------------------------------------------------------------------------------- */

struct pki {
	char dir[64];
	char ca[96], server_cert[96], server_key[96], client_cert[96], client_key[96];
	char rogue_cert[96], rogue_key[96];
};

static int
sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/*
 * A throwaway CA, a server certificate for localhost/127.0.0.1 and a client
 * certificate it signed, plus a self-signed "rogue" client: made now, in a
 * temporary directory, with the openssl CLI. Nothing is committed.
 */
static int
make_pki(struct pki *k)
{
	static const char key[] = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

	snprintf(k->dir, sizeof(k->dir), "/tmp/berth-pki-XXXXXX");
	if (mkdtemp(k->dir) == NULL)
		return -1;
	snprintf(k->ca, sizeof(k->ca), "%s/ca.crt", k->dir);
	snprintf(k->server_cert, sizeof(k->server_cert), "%s/server.crt", k->dir);
	snprintf(k->server_key, sizeof(k->server_key), "%s/server.key", k->dir);
	snprintf(k->client_cert, sizeof(k->client_cert), "%s/client.crt", k->dir);
	snprintf(k->client_key, sizeof(k->client_key), "%s/client.key", k->dir);
	snprintf(k->rogue_cert, sizeof(k->rogue_cert), "%s/rogue.crt", k->dir);
	snprintf(k->rogue_key, sizeof(k->rogue_key), "%s/rogue.key", k->dir);
	return sh("cd '%s' && exec >openssl.log 2>&1 && "
		  "openssl req -x509 %s -keyout ca.key -out ca.crt -days 2 -subj '/CN=berth test CA' && "
		  "openssl req %s -keyout server.key -out server.csr -subj '/CN=localhost' && "
		  "printf 'subjectAltName=DNS:localhost,DNS:127.0.0.1,IP:127.0.0.1\\n"
		  "extendedKeyUsage=serverAuth\\n' >server.ext && "
		  "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
		  "-out server.crt -days 2 -extfile server.ext && "
		  "openssl req %s -keyout client.key -out client.csr -subj '/CN=berth client' && "
		  "printf 'extendedKeyUsage=clientAuth\\n' >client.ext && "
		  "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
		  "-out client.crt -days 2 -extfile client.ext && "
		  "openssl req -x509 %s -keyout rogue.key -out rogue.crt -days 2 -subj '/CN=rogue'",
		   k->dir, key, key, key, key) == 0
	    ? 0
	    : -1;
}

static void
free_pki(struct pki *k)
{
	if (k->dir[0] != '\0')
		(void)sh("rm -rf '%s'", k->dir);
}

static void
test_mutual_tls_refuses_clients_without_a_certificate_of_its_ca(void **state)
{
	struct pki k = { 0 };
	struct berthd_proc p;
	char tls[64], *out = NULL, *err = NULL;
	const char *args[] = { "--listen", tls, "--auth", "off", "--tls-cert", k.server_cert,
		"--tls-key", k.server_key, "--tls-client-ca", k.ca, NULL };
	berth_options none = { 0 }, good = { 0 }, rogue = { 0 };
	berth_client *c;
	berth_status st;

	(void)state;
	if (make_pki(&k) != 0)
		fail_msg("openssl failed: see %s/openssl.log", k.dir);
	snprintf(tls, sizeof(tls), "tls+tcp://127.0.0.1:%d", free_port());
	assert_int_equal(berthd_proc_start(&p, args), 0);
	none.tls_ca_file = k.ca;
	good = none;
	good.tls_cert_file = k.client_cert;
	good.tls_key_file = k.client_key;
	rogue = none;
	rogue.tls_cert_file = k.rogue_cert;
	rogue.tls_key_file = k.rogue_key;

	/*
	 * No certificate, or one the CA did not sign: no connection at all,
	 * and UNAUTHENTICATED (exit 6) naming the certificate, not
	 * UNAVAILABLE ("retry later").
	 */
	assert_int_equal(health(tls, &none), BERTH__V1__CODE__UNAUTHENTICATED);
	assert_int_equal(health(tls, &rogue), BERTH__V1__CODE__UNAUTHENTICATED);
	/* With one: served, and with authentication off, as admin. */
	assert_int_equal(health(tls, &good), 0);
	assert_int_equal(open_client(&c, tls, NULL, &good, &st), 0);
	assert_int_equal(call_empty(c, (unsigned)rpc_method_find("GetStats"), &st), 0);
	assert_int_equal(call_empty(c, (unsigned)rpc_method_find("DeleteTemplate"), &st),
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	berth_close(c);
	/* berthd itself is verified: a client trusting another CA refuses it. */
	good.tls_ca_file = k.rogue_cert;
	assert_int_equal(health(tls, &good), BERTH__V1__CODE__UNAUTHENTICATED);

	/* The CLI: flags, then the environment. */
	assert_int_equal(berth_cli_argv((const char *[]){ "--url", tls, "--tls-ca", k.ca, "--tls-cert",
					    k.client_cert, "--tls-key", k.client_key, "health", NULL },
			     &out, &err),
	    0);
	assert_contains(out, "SERVING");
	free(out);
	free(err);
	assert_int_equal(berth_cli_argv((const char *[]){ "--url", tls, "--tls-ca", k.ca,
					    "--timeout", "5", "health", NULL },
			     &out, &err),
	    6);
	assert_contains(err, "client certificate (--tls-cert FILE");
	free(out);
	free(err);
	setenv("BERTH_TLS_CA", k.ca, 1);
	setenv("BERTH_TLS_CERT", k.client_cert, 1);
	setenv("BERTH_TLS_KEY", k.client_key, 1);
	assert_int_equal(berth_cli_argv((const char *[]){ "--url", tls, "stats", NULL }, &out, &err),
	    0);
	unsetenv("BERTH_TLS_CA");
	unsetenv("BERTH_TLS_CERT");
	unsetenv("BERTH_TLS_KEY");
	free(out);
	free(err);

	/* The Python client (client/python) the same way: its TlsTest cases. */
	if (sh("PYTHONPATH='%s/python' PYTHONDONTWRITEBYTECODE=1 %s "
	       "client/python/tests_berth_client.py --url '%s' --tls-ca '%s' --tls-cert '%s' "
	       "--tls-key '%s' --tls-rogue-ca '%s' TlsTest >'%s/python.log' 2>&1",
		build_dir(), access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3",
		tls, k.ca, k.client_cert, k.client_key, k.rogue_cert, k.dir) != 0 ||
	    sh("grep -q '^Ran 4 tests' '%s/python.log' && ! grep -q skipped '%s/python.log'", k.dir,
		k.dir) != 0) {
		sh("cat '%s/python.log' >&2", k.dir);
		fail_msg("the Python client's TLS tests failed or did not run (their log is above)");
	}

	berthd_proc_cleanup(&p);
	free_pki(&k);
}

static void
test_tls_without_client_ca_still_needs_tokens(void **state)
{
	struct pki k = { 0 };
	struct berthd_proc p;
	char tls[64], token[128];
	const char *args[] = { "--listen", tls, "--tls-cert", k.server_cert, "--tls-key",
		k.server_key, NULL };
	berth_options opts = { 0 };
	berth_client *c;
	berth_status st;

	(void)state;
	if (make_pki(&k) != 0)
		fail_msg("openssl failed: see %s/openssl.log", k.dir);
	snprintf(tls, sizeof(tls), "tls+tcp://localhost:%d", free_port());
	assert_int_equal(berthd_proc_start(&p, args), 0);
	create_token(&p, "remote", "operator", token, sizeof(token));
	opts.tls_ca_file = k.ca;
	assert_int_equal(open_client(&c, tls, NULL, &opts, &st), 0);
	assert_int_equal(call_empty(c, (unsigned)rpc_method_find("GetStats"), &st),
	    BERTH__V1__CODE__UNAUTHENTICATED);
	berth_close(c);
	assert_int_equal(open_client(&c, tls, token, &opts, &st), 0);
	assert_int_equal(call_empty(c, (unsigned)rpc_method_find("GetStats"), &st), 0);
	berth_close(c);
	/* Without mutual TLS, anyone could subscribe: no events off this host. */
	assert_false(berthd_proc_log_contains(&p, "publishing events url=tls+tcp://"));
	/* The name is checked too: the certificate is not for "berth.invalid". */
	opts.tls_server_name = "berth.invalid";
	assert_int_equal(health(tls, &opts), BERTH__V1__CODE__UNAUTHENTICATED);
	berthd_proc_cleanup(&p);
	free_pki(&k);
}

/* A whole small file as a string (caller frees); NULL when unreadable. */
static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text = f != NULL ? calloc(1, 65536) : NULL;

	if (text != NULL && fread(text, 1, 65535, f) == 0) {
		free(text);
		text = NULL;
	}
	if (f != NULL)
		fclose(f);
	return text;
}

/*
 * Whether a plain nng sub0 socket connects to `url` over TLS trusting `ca`
 * and, when cert is not NULL, presenting cert and key. nng's dial is
 * synchronous: the handshake decides.
 */
static bool
tls_subscriber_connects(const char *url, const char *ca, const char *cert, const char *key)
{
	char *cert_pem = cert != NULL ? slurp(cert) : NULL, *key_pem = key != NULL ? slurp(key) : NULL;
	nng_tls_config *cfg = NULL;
	nng_socket sock;
	nng_dialer d;
	bool ok = false;

	if (nng_sub0_open(&sock) == 0) {
		if (nng_dialer_create(&d, sock, url) == 0 &&
		    nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT) == 0 &&
		    nng_tls_config_ca_file(cfg, ca) == 0 &&
		    nng_tls_config_server_name(cfg, "localhost") == 0 &&
		    nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED) == 0 &&
		    (cert == NULL ||
			(cert_pem != NULL && key_pem != NULL &&
			    nng_tls_config_own_cert(cfg, cert_pem, key_pem, NULL) == 0)) &&
		    nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg) == 0)
			ok = nng_dialer_start(d, 0) == 0;
		nng_close(sock);
	}
	if (cfg != NULL)
		nng_tls_config_free(cfg);
	free(cert_pem);
	free(key_pem);
	return ok;
}

/*
 * With authentication on, pub0 has no tokens, so events are published on
 * tls+tcp:// only with mutual TLS: the client certificate authenticates the
 * subscriber. libberth subscribes with the client's TLS options; without a
 * certificate of the CA there is no connection to the events socket.
 */
static void
test_events_over_mutual_tls_with_authentication_on(void **state)
{
	Berth__V1__ShutdownRequest down = BERTH__V1__SHUTDOWN_REQUEST__INIT;
	Berth__V1__HealthRequest hreq = BERTH__V1__HEALTH_REQUEST__INIT;
	Berth__V1__HealthResponse *h = NULL;
	Berth__V1__Event *ev = NULL;
	struct pki k = { 0 };
	struct berthd_proc p;
	char tls[64], events[64], token[128];
	const char *args[] = { "--listen", tls, "--auth", "on", "--tls-cert", k.server_cert,
		"--tls-key", k.server_key, "--tls-client-ca", k.ca, NULL };
	berth_options good = { 0 };
	ProtobufCMessage *reply = NULL;
	berth_events *sub = NULL;
	berth_client *c;
	berth_status st;
	int port = free_port();
	bool begun = false;

	(void)state;
	if (make_pki(&k) != 0)
		fail_msg("openssl failed: see %s/openssl.log", k.dir);
	snprintf(tls, sizeof(tls), "tls+tcp://localhost:%d", port);
	snprintf(events, sizeof(events), "tls+tcp://localhost:%d", port + 1);
	assert_int_equal(berthd_proc_start(&p, args), 0);
	assert_false(berthd_proc_log_contains(&p, "events are published without authentication"));
	create_token(&p, "events-admin", "admin", token, sizeof(token));
	good.tls_ca_file = k.ca;
	good.tls_cert_file = k.client_cert;
	good.tls_key_file = k.client_key;

	assert_int_equal(open_client(&c, tls, token, &good, &st), 0);
	assert_int_equal(berth_call(c, "Health", &hreq.base, (ProtobufCMessage **)&h, &st), 0);
	/* berthd_proc listens on an ipc:// socket of its own as well: its events are there too. */
	assert_int_equal(h->n_event_urls, 2);
	assert_true(strcmp(h->event_urls[0], events) == 0 || strcmp(h->event_urls[1], events) == 0);
	berth_reply_free(&h->base);

	/* Without a certificate of the CA the events socket's handshake fails. */
	assert_true(tls_subscriber_connects(events, k.ca, k.client_cert, k.client_key));
	assert_false(tls_subscriber_connects(events, k.ca, NULL, NULL));
	assert_false(tls_subscriber_connects(events, k.ca, k.rogue_cert, k.rogue_key));

	/* libberth picks the tls+tcp:// events (the client's scheme) and its own TLS options. */
	assert_int_equal(berth_events_open(&sub, c, NULL, &st), 0);
	usleep(300 * 1000); /* the subscription reaches berthd's pub0 socket: nothing tells when */
	assert_int_equal(berth_call(c, "Shutdown", &down.base, &reply, &st), 0);
	berth_reply_free(reply);
	for (int i = 0; i < 20 && !begun; i++) {
		if (berth_events_next(sub, &ev, 500, &st) != 0)
			continue;
		begun = ev->type == BERTH__V1__EVENT__TYPE__SHUTDOWN_BEGUN;
		berth_reply_free(&ev->base);
	}
	assert_true(begun);
	/*
	 * Not closed: nng 1.5.2 can hang in nng_close() on a tls+tcp dialer
	 * whose peer has just gone (seen once in ~20 runs: the test then never
	 * ended). The socket lives until the test program exits.
	 */
	(void)berth_events_close;
	berth_close(c);
	berthd_proc_cleanup(&p);
	free_pki(&k);
}

/* --- hostile input ---------------------------------------------------------------------- */

/* A protobuf writer for bytes no honest encoder would produce. */
struct pb {
	uint8_t *data;
	size_t len, cap;
};

static void
pb_raw(struct pb *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->data = realloc(b->data, b->cap);
		assert_non_null(b->data);
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void
pb_varint(struct pb *b, uint64_t v)
{
	uint8_t byte;

	do {
		byte = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v != 0)
			byte |= 0x80;
		pb_raw(b, &byte, 1);
	} while (v != 0);
}

static void
pb_bytes(struct pb *b, unsigned field, const void *p, size_t n)
{
	pb_varint(b, (uint64_t)field << 3 | 2);
	pb_varint(b, n);
	pb_raw(b, p, n);
}

static void
pb_uint(struct pb *b, unsigned field, uint64_t v)
{
	pb_varint(b, (uint64_t)field << 3);
	pb_varint(b, v);
}

/*
 * One field of a hostile request. level 0: the RpcRequest envelope; 1: the
 * method's request; 2: inside PutTemplateRequest.template. A string is
 * `text` of `len` bytes (sizeof of a literal, so embedded NULs count) or,
 * with `fill`, `len` copies of it; otherwise `value` as a varint.
 */
struct wire_field {
	int level;
	unsigned number;
	const char *text;
	size_t len;
	char fill;
	uint64_t value;
};

#define STR(lvl, num, s) { lvl, num, s, sizeof(s) - 1, 0, 0 }
#define FILL(lvl, num, c, n) { lvl, num, NULL, n, c, 0 }
#define NUM(lvl, num, v) { lvl, num, NULL, 0, 0, v }
#define NEG1 UINT64_MAX /* -1 as a 64-bit varint: 10 bytes */

struct hostile {
	const char *what;
	const char *method;
	struct wire_field fields[4];
	int code;
	const char *field;  /* the first ErrorDetail's field, or NULL */
	const char *reason; /* its reason, or NULL */
};

static void
pb_field(struct pb *b, const struct wire_field *f)
{
	if (f->text != NULL) {
		pb_bytes(b, f->number, f->text, f->len);
	} else if (f->fill != 0) {
		char *s = malloc(f->len);

		assert_non_null(s);
		memset(s, f->fill, f->len);
		pb_bytes(b, f->number, s, f->len);
		free(s);
	} else {
		pb_uint(b, f->number, f->value);
	}
}

/* The case's fields of `level` and number, or NULL. */
static const struct wire_field *
override(const struct hostile *h, int level, unsigned number)
{
	for (size_t i = 0; i < sizeof(h->fields) / sizeof(h->fields[0]); i++)
		if (h->fields[i].number == number && h->fields[i].level == level)
			return &h->fields[i];
	return NULL;
}

/* Appends the case's fields of `level` that `skip` (a base) did not already write. */
static void
pb_rest(struct pb *b, const struct hostile *h, int level, const unsigned *skip, size_t n_skip)
{
	for (size_t i = 0; i < sizeof(h->fields) / sizeof(h->fields[0]); i++) {
		const struct wire_field *f = &h->fields[i];
		bool based = false;

		if (f->number == 0 || f->level != level)
			continue;
		for (size_t j = 0; j < n_skip; j++)
			based = based || skip[j] == f->number;
		if (!based)
			pb_field(b, f);
	}
}

/*
 * The whole envelope. PutTemplate gets a valid template (name "hostile",
 * image, container port, range start) whose fields the case overrides.
 */
static void
encode_case(const struct hostile *h, struct pb *env)
{
	static const unsigned template_base[] = { 1, 3, 5, 6 };
	static const unsigned envelope_base[] = { 1, 2, 4 };
	struct pb req = { 0 }, tmpl = { 0 };
	const struct wire_field *f;
	char path[RPC_METHOD_PATH_MAX];

	if (strcmp(h->method, "PutTemplate") == 0 && override(h, 1, 1) == NULL) {
		const struct wire_field base[] = { STR(2, 1, "hostile"), STR(2, 3, "busybox:latest"),
			NUM(2, 5, 80), NUM(2, 6, 20000) };

		for (size_t i = 0; i < 4; i++)
			pb_field(&tmpl, (f = override(h, 2, base[i].number)) != NULL ? f : &base[i]);
		pb_rest(&tmpl, h, 2, template_base, 4);
		pb_bytes(&req, 1, tmpl.data != NULL ? tmpl.data : (uint8_t *)"", tmpl.len);
	}
	pb_rest(&req, h, 1, NULL, 0);

	snprintf(path, sizeof(path), "/berth.v1.Berth/%s", h->method);
	if ((f = override(h, 0, 1)) != NULL)
		pb_field(env, f);
	else
		pb_bytes(env, 1, path, strlen(path));
	if ((f = override(h, 0, 2)) != NULL)
		pb_field(env, f);
	else
		pb_bytes(env, 2, req.data != NULL ? req.data : (uint8_t *)"", req.len);
	pb_uint(env, 4, 10000);
	pb_rest(env, h, 0, envelope_base, 3);
	free(req.data);
	free(tmpl.data);
}

static const struct hostile hostile_cases[] = {
	/* names */
	{ "name walks up", "PutTemplate", { STR(2, 1, "../etc") }, 3, "template.name",
	    "INVALID_NAME" },
	{ "name is an absolute path", "PutTemplate", { STR(2, 1, "/etc/passwd") }, 3,
	    "template.name", "INVALID_NAME" },
	{ "name with a NUL byte", "PutTemplate", { STR(2, 1, "db\0../../etc") }, 3, "template.name",
	    "NUL_IN_STRING" },
	{ "name of 64 characters", "PutTemplate", { FILL(2, 1, 'a', 64) }, 3, "template.name",
	    "TOO_LONG" },
	{ "name of 10,000 characters", "PutTemplate", { FILL(2, 1, 'a', 10000) }, 3,
	    "template.name", "TOO_LONG" },
	{ "name with SQL", "PutTemplate", { STR(2, 1, "x'); DROP TABLE templates;--") }, 3,
	    "template.name", "INVALID_NAME" },
	{ "name of invalid UTF-8", "PutTemplate", { STR(2, 1, "\xff\xfe\xc0\xaf") }, 3,
	    "template.name", "INVALID_UTF8" },
	{ "name, overlong UTF-8 slash", "PutTemplate", { STR(2, 1, "a\xc0\xaf" "b") }, 3,
	    "template.name", "INVALID_UTF8" },
	{ "name, valid UTF-8 outside a-z", "PutTemplate", { STR(2, 1, "caf\xc3\xa9") }, 3,
	    "template.name", "INVALID_NAME" },
	/* ports */
	{ "container port 0", "PutTemplate", { NUM(2, 5, 0) }, 3, "template.container_port",
	    "PORT_OUT_OF_RANGE" },
	{ "container port 65536", "PutTemplate", { NUM(2, 5, 65536) }, 3,
	    "template.container_port", "PORT_OUT_OF_RANGE" },
	{ "container port -1", "PutTemplate", { NUM(2, 5, NEG1) }, 3, "template.container_port",
	    "PORT_OUT_OF_RANGE" },
	{ "range start 0", "PutTemplate", { NUM(2, 6, 0) }, 3, "template.port_range_start", NULL },
	{ "range start 65536", "PutTemplate", { NUM(2, 6, 65536) }, 3, "template.port_range_start",
	    NULL },
	{ "range end -1", "PutTemplate", { NUM(2, 7, NEG1) }, 3, "template.port_range_end", NULL },
	{ "launch port 65536", "LaunchService", { STR(1, 1, "db"), NUM(1, 3, 65536) }, 3, "port",
	    NULL },
	{ "launch port -1", "LaunchService", { STR(1, 1, "db"), NUM(1, 3, NEG1) }, 3, "port", NULL },
	/* images */
	{ "image walks the API", "PutTemplate", { STR(2, 3, "a/../../containers/x") }, 3,
	    "template.image", "INVALID_IMAGE" },
	{ "image with a shell command", "PutTemplate", { STR(2, 3, "busybox;rm -rf /") }, 3,
	    "template.image", "INVALID_IMAGE" },
	{ "image with a NUL byte", "PutTemplate", { STR(2, 3, "busybox\0:evil") }, 3,
	    "template.image", "NUL_IN_STRING" },
	/* paths */
	{ "relative build context", "PutTemplate", { STR(2, 4, "ctx") }, 3,
	    "template.build_context", "INVALID_PATH" },
	{ "build context walks up", "PutTemplate", { STR(2, 4, "/tmp/../etc") }, 3,
	    "template.build_context", "INVALID_PATH" },
	{ "build context outside the root", "PutTemplate", { STR(2, 4, "/etc") }, 3,
	    "template.build_context", "OUTSIDE_BUILD_ROOT" },
	{ "build context with a NUL byte", "PutTemplate", { STR(2, 4, "/tmp\0/x") }, 3,
	    "template.build_context", "NUL_IN_STRING" },
	{ "mount path with bind options", "PutTemplate", { STR(2, 8, "/data:/etc:rw") }, 3,
	    "template.mount_path", "INVALID_PATH" },
	{ "mount path walks up", "PutTemplate", { STR(2, 8, "/data/../..") }, 3,
	    "template.mount_path", "INVALID_PATH" },
	{ "mount path is the root", "PutTemplate", { STR(2, 8, "/") }, 3, "template.mount_path",
	    "INVALID_PATH" },
	/* environment and command */
	{ "env entry with a newline", "PutTemplate", { STR(2, 9, "A=1\nB=2") }, 3,
	    "template.env[0]", "INVALID_TEXT" },
	{ "env key starting with a digit", "PutTemplate", { STR(2, 9, "1A=x") }, 3,
	    "template.env[0]", "INVALID_ENV" },
	{ "env entry without =", "PutTemplate", { STR(2, 9, "PATH") }, 3, "template.env[0]",
	    "INVALID_ENV" },
	{ "env entry with a NUL byte", "PutTemplate", { STR(2, 9, "LD_PRELOAD=\0/x.so") }, 3,
	    "template.env[0]", "NUL_IN_STRING" },
	{ "command word with a NUL byte", "PutTemplate", { STR(2, 10, "sh\0-c") }, 3,
	    "template.command[0]", "NUL_IN_STRING" },
	{ "command word with an escape", "PutTemplate", { STR(2, 10, "\x1b[2J") }, 3,
	    "template.command[0]", "INVALID_TEXT" },
	{ "description of 4097 bytes", "PutTemplate", { FILL(2, 2, 'd', 4097) }, 3,
	    "template.description", "TOO_LONG" },
	/* other requests */
	{ "launch of a template that walks up", "LaunchService", { STR(1, 1, "../../etc") }, 3,
	    "template", "INVALID_NAME" },
	{ "launch with an instance that walks up", "LaunchService",
	    { STR(1, 1, "db"), STR(1, 2, "../x") }, 3, "instance", "INVALID_NAME" },
	{ "service id with a slash", "StopService", { STR(1, 1, "db_x/../../y") }, 3, "service_id",
	    "INVALID_NAME" },
	{ "service id with a NUL byte", "RemoveService", { STR(1, 1, "db_1\0x") }, 3, "service_id",
	    "NUL_IN_STRING" },
	{ "stop timeout of a day", "StopService", { STR(1, 1, "db_1"), NUM(1, 2, 86400) }, 3,
	    "timeout_s", NULL },
	{ "log tail of -1", "GetServiceLogs", { STR(1, 1, "db_1"), NUM(1, 2, NEG1) }, 3, "tail",
	    NULL },
	{ "logs since with a NUL byte", "GetServiceLogs",
	    { STR(1, 1, "db_1"), STR(1, 4, "1764928800\0x") }, 3, "since", "NUL_IN_STRING" },
	{ "logs since that is no time", "GetServiceLogs",
	    { STR(1, 1, "db_1"), STR(1, 4, "now; rm -rf /") }, 3, "since", "INVALID_TIME" },
	{ "logs cursor that berthd did not make", "GetServiceLogs",
	    { STR(1, 1, "db_1"), STR(1, 7, "c1.1.1.1;../x") }, 3, "cursor", "INVALID_CURSOR" },
	{ "logs stream 99", "GetServiceLogs", { STR(1, 1, "db_1"), NUM(1, 6, 99) }, 3, "stream",
	    "OUT_OF_RANGE" },
	{ "exec without a command", "ExecService", { STR(1, 1, "db_1") }, 3, "command", "EMPTY" },
	{ "exec word with a NUL byte", "ExecService", { STR(1, 1, "db_1"), STR(1, 2, "sh\0-c") },
	    3, "command[0]", "NUL_IN_STRING" },
	{ "exec word of 4097 bytes", "ExecService", { STR(1, 1, "db_1"), FILL(1, 2, 'x', 4097) }, 3,
	    "command[0]", "TOO_LONG" },
	{ "status filter with SQL", "ListServices", { STR(1, 2, "' OR 1=1 --") }, 3, "status",
	    "INVALID_NAME" },
	{ "template lookup with SQL", "GetTemplate", { STR(1, 1, "db' OR '1'='1") }, 3, "name",
	    "INVALID_NAME" },
	/* the envelope */
	{ "method with a NUL byte", "Health", { STR(0, 1, "/berth.v1.Berth/Health\0/Shutdown") }, 3,
	    "method", "NUL_IN_STRING" },
	{ "token with a NUL byte", "GetStats", { STR(0, 3, "berth_\0") }, 3, "token",
	    "NUL_IN_STRING" },
	{ "request id with a NUL byte", "DeleteTemplate", { STR(0, 5, "id\0x") }, 3, "request_id",
	    "NUL_IN_STRING" },
	{ "request id of 200 bytes", "GetStats", { FILL(0, 5, 'r', 200) }, 3, "request_id", NULL },
	{ "payload that is not the request", "GetTemplate", { STR(0, 2, "\xff\xff\xff\xff") }, 3,
	    NULL, NULL },
	{ "payload with a truncated field", "GetTemplate", { STR(0, 2, "\x0a\x7f" "db") }, 3, NULL,
	    NULL },
	{ "request over the size limit", "GetStats", { FILL(0, 2, 'x', 70000) }, 8, NULL, NULL },
};

/* Bytes that are not an envelope at all. */
static const struct {
	const char *what;
	const char *bytes;
	size_t len;
} garbage[] = {
	{ "random bytes", "\xde\xad\xbe\xef\xff\xff", 6 },
	{ "truncated length", "\x0a\x50/berth", 8 },
	{ "start group", "\x0b\x0c", 2 },
	{ "overlong varint", "\x20\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12 },
	{ "empty", "", 0 },
};

struct raw_reply {
	Berth__V1__RpcResponse *resp;
};

static int
raw_exchange(const char *url, const void *data, size_t len, struct raw_reply *out)
{
	nng_socket sock;
	void *buf = NULL;
	size_t got = 0;
	int rv;

	out->resp = NULL;
	if ((rv = nng_req0_open(&sock)) != 0)
		return rv;
	nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, CALL_TIMEOUT_MS);
	nng_socket_set_ms(sock, NNG_OPT_SENDTIMEO, CALL_TIMEOUT_MS);
	if ((rv = nng_dial(sock, url, NULL, 0)) == 0 &&
	    (rv = nng_send(sock, (void *)data, len, 0)) == 0 &&
	    (rv = nng_recv(sock, &buf, &got, NNG_FLAG_ALLOC)) == 0) {
		out->resp = berth__v1__rpc_response__unpack(NULL, got, buf);
		nng_free(buf, got);
	}
	nng_close(sock);
	return rv;
}

static void
assert_still_serving(const char *url, const char *after)
{
	int code = health(url, NULL);

	if (code != 0)
		fail_msg("after \"%s\" Health is %s", after, berth_code_name(code));
}

struct hostile_fixture {
	struct berthd_proc proc;
	char root[96];
};

static int
hostile_setup(void **state)
{
	struct hostile_fixture *f = calloc(1, sizeof(*f));
	const char *args[] = { "--max-request-bytes", "65536", "--build-root", NULL, NULL };

	if (f == NULL)
		return -1;
	args[3] = f->root;
	snprintf(f->root, sizeof(f->root), "/tmp/berth-sec-root-XXXXXX");
	if (mkdtemp(f->root) == NULL || berthd_proc_start(&f->proc, args) != 0)
		return -1;
	*state = f;
	return 0;
}

static int
hostile_teardown(void **state)
{
	struct hostile_fixture *f = *state;

	berthd_proc_cleanup(&f->proc);
	(void)sh("rm -rf '%s'", f->root);
	free(f);
	return 0;
}

static void
test_hostile_requests_are_invalid_argument_and_berthd_keeps_serving(void **state)
{
	struct hostile_fixture *f = *state;
	Berth__V1__GetTemplateRequest get = BERTH__V1__GET_TEMPLATE_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	berth_client *c;
	berth_status st;

	for (size_t i = 0; i < sizeof(hostile_cases) / sizeof(hostile_cases[0]); i++) {
		const struct hostile *h = &hostile_cases[i];
		struct pb env = { 0 };
		struct raw_reply r;
		int rv;

		encode_case(h, &env);
		rv = raw_exchange(f->proc.url, env.data, env.len, &r);
		free(env.data);
		if (rv != 0)
			fail_msg("%s: no answer: %s", h->what, nng_strerror(rv));
		if (r.resp == NULL)
			fail_msg("%s: the answer is not an RpcResponse", h->what);
		if ((int)r.resp->code != h->code)
			fail_msg("%s: %s (%s), expected %s", h->what, berth_code_name((int)r.resp->code),
			    r.resp->message, berth_code_name(h->code));
		if (h->field != NULL &&
		    (r.resp->n_details == 0 || strcmp(r.resp->details[0]->field, h->field) != 0))
			fail_msg("%s: field \"%s\", expected \"%s\" (%s)", h->what,
			    r.resp->n_details ? r.resp->details[0]->field : "", h->field,
			    r.resp->message);
		if (h->reason != NULL && strcmp(r.resp->details[0]->reason, h->reason) != 0)
			fail_msg("%s: reason %s, expected %s (%s)", h->what, r.resp->details[0]->reason,
			    h->reason, r.resp->message);
		berth__v1__rpc_response__free_unpacked(r.resp, NULL);
		assert_still_serving(f->proc.url, h->what);
	}
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		struct raw_reply r;
		int rv = raw_exchange(f->proc.url, garbage[i].bytes, garbage[i].len, &r);

		if (rv != 0 || r.resp == NULL)
			fail_msg("%s: no RpcResponse (%s)", garbage[i].what, nng_strerror(rv));
		if (r.resp->code != BERTH__V1__CODE__INVALID_ARGUMENT &&
		    r.resp->code != BERTH__V1__CODE__UNIMPLEMENTED)
			fail_msg("%s: %s (%s)", garbage[i].what, berth_code_name((int)r.resp->code),
			    r.resp->message);
		berth__v1__rpc_response__free_unpacked(r.resp, NULL);
		assert_still_serving(f->proc.url, garbage[i].what);
	}

	/* Nothing got in, nothing got lost: no "hostile" template, the seeds intact. */
	assert_int_equal(open_client(&c, f->proc.url, NULL, NULL, &st), 0);
	get.name = "hostile";
	assert_int_equal(berth_call(c, "GetTemplate", &get.base, &reply, &st),
	    BERTH__V1__CODE__NOT_FOUND);
	get.name = "db";
	assert_int_equal(berth_call(c, "GetTemplate", &get.base, &reply, &st), 0);
	berth_reply_free(reply);
	berth_close(c);
}

static void
test_link_out_of_the_build_root_is_refused(void **state)
{
	struct hostile_fixture *f = *state;
	char link[160];
	struct hostile h = { "link", "PutTemplate", { { 2, 4, link, 0, 0, 0 } }, 3,
		"template.build_context", "OUTSIDE_BUILD_ROOT" };
	struct pb env = { 0 };
	struct raw_reply r;

	snprintf(link, sizeof(link), "%s/escape", f->root);
	assert_int_equal(symlink("/etc", link), 0);
	h.fields[0].len = strlen(link);
	encode_case(&h, &env);
	assert_int_equal(raw_exchange(f->proc.url, env.data, env.len, &r), 0);
	free(env.data);
	assert_non_null(r.resp);
	assert_int_equal(r.resp->code, BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_string_equal(r.resp->details[0]->reason, "OUTSIDE_BUILD_ROOT");
	assert_non_null(strstr(r.resp->message, "resolves to /etc"));
	berth__v1__rpc_response__free_unpacked(r.resp, NULL);
	unlink(link);
}

static void
test_build_context_is_checked_again_before_the_build(void **state)
{
	struct hostile_fixture *f = *state;
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	Berth__V1__PutTemplateRequest put = BERTH__V1__PUT_TEMPLATE_REQUEST__INIT;
	Berth__V1__LaunchServiceRequest launch = BERTH__V1__LAUNCH_SERVICE_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	char context[160], image[64];
	berth_client *c;
	berth_status st;

	/* Inside the root when put; a link to /etc by the time it is built. */
	snprintf(context, sizeof(context), "%s/swapped", f->root);
	assert_int_equal(mkdir(context, 0700), 0);
	snprintf(image, sizeof(image), "berth-sec-never-built:%d", (int)getpid());
	t.name = "swapped";
	t.image = image;
	t.build_context = context;
	t.container_port = 80;
	t.port_range_start = 20000;
	put.template_ = &t;
	assert_int_equal(open_client(&c, f->proc.url, NULL, NULL, &st), 0);
	assert_int_equal(berth_call(c, "PutTemplate", &put.base, &reply, &st), 0);
	berth_reply_free(reply);
	assert_int_equal(rmdir(context), 0);
	assert_int_equal(symlink("/etc", context), 0);

	launch.template_ = "swapped";
	assert_int_equal(berth_call(c, "LaunchService", &launch.base, &reply, &st),
	    BERTH__V1__CODE__FAILED_PRECONDITION);
	assert_contains(st.message, "refusing to build");
	assert_contains(st.message, "not under the build root");
	berth_close(c);
	unlink(context);
}

int
main(void)
{
	const struct CMUnitTest startup[] = {
		cmocka_unit_test(test_tcp_without_tokens_is_refused_at_start_up),
		cmocka_unit_test(test_tcp_listener_turns_tokens_on_by_default),
		cmocka_unit_test(test_health_tells_the_caller_its_role),
		cmocka_unit_test(test_ipc_socket_gets_the_configured_mode),
		cmocka_unit_test(test_ipc_admin_lets_local_callers_in_but_not_tcp_ones),
		cmocka_unit_test(test_mutating_calls_are_audited_allowed_or_not),
		cmocka_unit_test(test_mutual_tls_refuses_clients_without_a_certificate_of_its_ca),
		cmocka_unit_test(test_tls_without_client_ca_still_needs_tokens),
		cmocka_unit_test(test_events_over_mutual_tls_with_authentication_on),
	};
	const struct CMUnitTest roles[] = {
		cmocka_unit_test(test_every_method_times_every_role),
		cmocka_unit_test(test_permission_denied_names_the_roles),
		cmocka_unit_test(test_cli_sends_token_from_flag_and_environment),
		cmocka_unit_test(test_token_list_shows_names_and_use_never_tokens),
		cmocka_unit_test(test_revoked_token_is_refused_at_once),
		cmocka_unit_test(test_admin_may_shut_down), /* last: berthd exits */
	};
	const struct CMUnitTest hostile[] = {
		cmocka_unit_test(test_hostile_requests_are_invalid_argument_and_berthd_keeps_serving),
		cmocka_unit_test(test_link_out_of_the_build_root_is_refused),
		cmocka_unit_test(test_build_context_is_checked_again_before_the_build),
	};
	int failed = 0;

	signal(SIGPIPE, SIG_IGN);
	failed += cmocka_run_group_tests_name("start-up, listeners, audit, TLS", startup, NULL, NULL);
	failed += cmocka_run_group_tests_name("roles", roles, roles_setup, roles_teardown);
	failed += cmocka_run_group_tests_name("hostile input", hostile, hostile_setup,
	    hostile_teardown);
	return failed;
}
