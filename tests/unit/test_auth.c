/*
 * test_auth.c - the pieces of berthd's access control, in-process:
 * tokens on a temporary registry (server/tokens.c), the authorize hook and
 * the listener policy (server/auth.c), the audit log and its targets
 * (server/audit.c), the wire check that refuses NUL bytes in strings
 * (dispatch_check_wire) and build-root resolution (server/build_root.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nng/nng.h>

#include "store/audit.h"
#include "api/auth.h"
#include "core/berthd.h"
#include "base/build_root.h"
#include "rpc/dispatch.h"
#include "base/log.h"
#include "clock.h"
#include "store/registry.h"
#include "store/store_internal.h"
#include "rpc_method.h"
#include "store/tokens.h"


struct fixture {
	char dir[64];
	char path[128];
	struct registry *reg;
	struct auth_policy auth; /* d.auth */
	struct berthd d;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct error err = { 0 };

	log_threshold = LL_ERROR;
	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/berth-auth-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/registry.db", f->dir);
	if (registry_open(&f->reg, f->path, true, &err) != 0) {
		fprintf(stderr, "registry_open: %s\n", err.message);
		return -1;
	}
	f->d.auth = &f->auth;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	registry_close(f->reg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static struct registry *
reg_of(struct fixture *f)
{
	return f->reg;
}

/* The connection behind the registry, to look at the rows themselves. */
static sqlite3 *
db_of(struct fixture *f)
{
	return registry_db(f->reg);
}

static void
create_ok(struct fixture *f, const char *name, enum rpc_role role, char token[TOKEN_LEN + 1])
{
	struct error err = { 0 };

	if (tokens_create(reg_of(f), name, role, token, &err) != 0)
		fail_msg("tokens_create %s: %s", name, err.message);
}

/* --- tokens ----------------------------------------------------------------------- */

static void
test_created_token_has_the_documented_form_and_verifies(void **state)
{
	struct fixture *f = *state;
	char token[TOKEN_LEN + 1];
	struct error err = { 0 };
	struct token_info who;

	create_ok(f, "ci", RPC_ROLE_OPERATOR, token);
	assert_int_equal(strlen(token), 70);
	assert_memory_equal(token, "berth_", 6);
	assert_int_equal(strspn(token + 6, "0123456789abcdef"), 64);
	assert_int_equal(tokens_verify(reg_of(f), token, &who, &err), 0);
	assert_string_equal(who.name, "ci");
	assert_int_equal(who.role, RPC_ROLE_OPERATOR);
	assert_string_not_equal(who.last_used_at, "");
}

static void
test_two_tokens_differ(void **state)
{
	struct fixture *f = *state;
	char a[TOKEN_LEN + 1], b[TOKEN_LEN + 1];

	create_ok(f, "a", RPC_ROLE_VIEWER, a);
	create_ok(f, "b", RPC_ROLE_VIEWER, b);
	assert_string_not_equal(a, b);
}

static void
test_database_keeps_no_token_only_salted_hash(void **state)
{
	struct fixture *f = *state;
	char token[TOKEN_LEN + 1], sql[512];
	sqlite3_stmt *st;
	int rows = 0;

	create_ok(f, "ci", RPC_ROLE_ADMIN, token);
	/* No column of any row holds the token or its secret part. */
	snprintf(sql, sizeof(sql),
	    "SELECT count(*) FROM tokens WHERE instr(name || token_id || role || hex(salt) || "
	    "hex(hash) || created_at || last_used_at, '%s') > 0 OR instr(lower(hex(hash)), '%s') > 0",
	    token + 6, token + 6);
	assert_int_equal(sqlite3_prepare_v2(db_of(f), sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 0);
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(db_of(f),
			     "SELECT length(salt), length(hash), token_id FROM tokens", -1, &st, NULL),
	    SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		rows++;
		assert_int_equal(sqlite3_column_int(st, 0), 16);
		assert_int_equal(sqlite3_column_int(st, 1), 32);
		assert_memory_equal(sqlite3_column_text(st, 2), token + 6, TOKEN_ID_LEN);
	}
	sqlite3_finalize(st);
	assert_int_equal(rows, 1);
}

static void
test_wrong_malformed_and_revoked_tokens_are_unauthenticated(void **state)
{
	struct fixture *f = *state;
	char token[TOKEN_LEN + 1], wrong[TOKEN_LEN + 1];
	struct error err = { 0 };
	struct token_info who;

	create_ok(f, "ci", RPC_ROLE_ADMIN, token);
	/* Same id (first 12 digits), other secret: found by id, refused by hash. */
	memcpy(wrong, token, sizeof(wrong));
	wrong[TOKEN_LEN - 1] = wrong[TOKEN_LEN - 1] == '0' ? '1' : '0';
	assert_int_equal(tokens_verify(reg_of(f), wrong, &who, &err),
	    BERTH__V1__CODE__UNAUTHENTICATED);
	assert_int_equal(tokens_verify(reg_of(f), "", &who, &err),
	    BERTH__V1__CODE__UNAUTHENTICATED);
	assert_int_equal(tokens_verify(reg_of(f), "berth_", &who, &err),
	    BERTH__V1__CODE__UNAUTHENTICATED);
	memcpy(wrong, token, sizeof(wrong));
	wrong[10] = 'G'; /* not hex */
	assert_int_equal(tokens_verify(reg_of(f), wrong, &who, &err),
	    BERTH__V1__CODE__UNAUTHENTICATED);
	assert_int_equal(tokens_verify(reg_of(f), "x' OR '1'='1", &who, &err),
	    BERTH__V1__CODE__UNAUTHENTICATED);

	assert_int_equal(tokens_revoke(reg_of(f), "ci", &err), 0);
	assert_int_equal(tokens_verify(reg_of(f), token, &who, &err),
	    BERTH__V1__CODE__UNAUTHENTICATED);
	assert_int_equal(tokens_revoke(reg_of(f), "ci", &err), BERTH__V1__CODE__NOT_FOUND);
}

/*
 * A verified token is trusted for TOKENS_KEEP_MS without its row being read
 * again: a row deleted by another process (here: plain SQL) stops the token
 * only after that, which is why `berthd token revoke` waits it out. The
 * secret is checked on every call all the same.
 */
/* TOKENS_KEEP_MS's clock in that test: the real one's time, moved by hand. */
static _Atomic int64_t fake_now_ms;

static int64_t
fake_clock(void)
{
	return atomic_load(&fake_now_ms);
}

static void
test_verified_token_is_kept_for_a_moment_and_its_secret_always_checked(void **state)
{
	struct fixture *f = *state;
	char token[TOKEN_LEN + 1], wrong[TOKEN_LEN + 1];
	struct error err = { 0 };
	struct token_info who;

	atomic_store(&fake_now_ms, clock_monotonic_ms());
	tokens_set_clock(fake_clock);
	create_ok(f, "kept", RPC_ROLE_VIEWER, token);
	assert_int_equal(tokens_verify(reg_of(f), token, &who, &err), 0);
	assert_int_equal(sqlite3_exec(db_of(f), "DELETE FROM tokens WHERE name = 'kept'", NULL, NULL,
			     NULL),
	    SQLITE_OK);
	assert_int_equal(tokens_verify(reg_of(f), token, &who, &err), 0);
	assert_string_equal(who.name, "kept");
	assert_int_equal(who.role, RPC_ROLE_VIEWER);
	memcpy(wrong, token, sizeof(wrong));
	wrong[TOKEN_LEN - 1] = wrong[TOKEN_LEN - 1] == '0' ? '1' : '0';
	assert_int_equal(tokens_verify(reg_of(f), wrong, &who, &err),
	    BERTH__V1__CODE__UNAUTHENTICATED);
	atomic_fetch_add(&fake_now_ms, TOKENS_KEEP_MS - 1);
	assert_int_equal(tokens_verify(reg_of(f), token, &who, &err), 0); /* still kept */
	atomic_fetch_add(&fake_now_ms, 1);
	assert_int_equal(tokens_verify(reg_of(f), token, &who, &err),
	    BERTH__V1__CODE__UNAUTHENTICATED);
	tokens_set_clock(NULL);
}

static void
test_create_refuses_taken_name_bad_name_and_bad_role(void **state)
{
	struct fixture *f = *state;
	char token[TOKEN_LEN + 1];
	struct error err = { 0 };

	create_ok(f, "ci", RPC_ROLE_VIEWER, token);
	assert_int_equal(tokens_create(reg_of(f), "ci", RPC_ROLE_ADMIN, token, &err),
	    BERTH__V1__CODE__ALREADY_EXISTS);
	assert_int_equal(tokens_create(reg_of(f), "Bad Name", RPC_ROLE_ADMIN, token, &err),
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_int_equal(tokens_create(reg_of(f), "ok", RPC_ROLE_PUBLIC, token, &err),
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_int_equal(token_role_parse("operator"), RPC_ROLE_OPERATOR);
	assert_int_equal(token_role_parse("root"), RPC_ROLE_UNSET);
	assert_string_equal(token_role_name(RPC_ROLE_ADMIN), "admin");
}

static void
collect_names(void *arg, const struct token_info *t)
{
	char *names = arg;

	strcat(names, t->name);
	strcat(names, ":");
	strcat(names, token_role_name(t->role));
	strcat(names, t->last_used_at[0] ? ":used " : ":never ");
}

static void
test_list_shows_names_roles_and_use_sorted(void **state)
{
	struct fixture *f = *state;
	char token[TOKEN_LEN + 1], names[256] = "";
	struct error err = { 0 };
	struct token_info who;

	create_ok(f, "zeta", RPC_ROLE_VIEWER, token);
	create_ok(f, "alpha", RPC_ROLE_ADMIN, token);
	assert_int_equal(tokens_verify(reg_of(f), token, &who, &err), 0);
	assert_int_equal(tokens_list(reg_of(f), collect_names, names, &err), 0);
	assert_string_equal(names, "alpha:admin:used zeta:viewer:never ");
}

/* --- the authorize hook ------------------------------------------------------------- */

static struct rpc_route
route_for(enum rpc_role role, bool mutating)
{
	struct rpc_route r = { "X", NULL, mutating, role };
	return r;
}

static int
authorize(struct fixture *f, int family, const char *token, enum rpc_role need, char *principal)
{
	struct rpc_route r = route_for(need, false);
	struct call call;
	int code;

	call_init(&call, "/berth.v1.Berth/X", &f->d, f->reg, 1000);
	call.peer_family = family;
	call.token = token;
	code = auth_authorize(&f->d, &call, &r);
	if (code == 0)
		assert_int_equal(call.error.code, 0);
	else
		assert_int_equal(call.error.code, code);
	if (principal != NULL)
		strcpy(principal, call.principal);
	call_finish(&call);
	return code;
}

static void
test_authorize_follows_roles(void **state)
{
	struct fixture *f = *state;
	char viewer[TOKEN_LEN + 1], op[TOKEN_LEN + 1], admin[TOKEN_LEN + 1], who[64];

	create_ok(f, "v", RPC_ROLE_VIEWER, viewer);
	create_ok(f, "o", RPC_ROLE_OPERATOR, op);
	create_ok(f, "a", RPC_ROLE_ADMIN, admin);
	f->auth.enabled = true;

	assert_int_equal(authorize(f, NNG_AF_INET, "", RPC_ROLE_PUBLIC, NULL), 0);
	assert_int_equal(authorize(f, NNG_AF_INET, "", RPC_ROLE_VIEWER, NULL),
	    BERTH__V1__CODE__UNAUTHENTICATED);
	assert_int_equal(authorize(f, NNG_AF_INET, "berth_nope", RPC_ROLE_VIEWER, NULL),
	    BERTH__V1__CODE__UNAUTHENTICATED);
	assert_int_equal(authorize(f, NNG_AF_INET, viewer, RPC_ROLE_VIEWER, who), 0);
	assert_string_equal(who, "v");
	assert_int_equal(authorize(f, NNG_AF_INET, viewer, RPC_ROLE_OPERATOR, NULL),
	    BERTH__V1__CODE__PERMISSION_DENIED);
	assert_int_equal(authorize(f, NNG_AF_INET, op, RPC_ROLE_OPERATOR, NULL), 0);
	assert_int_equal(authorize(f, NNG_AF_INET, op, RPC_ROLE_ADMIN, NULL),
	    BERTH__V1__CODE__PERMISSION_DENIED);
	assert_int_equal(authorize(f, NNG_AF_INET, admin, RPC_ROLE_ADMIN, NULL), 0);
	/* A route that names no role is admin only: forgetting fails closed. */
	assert_int_equal(authorize(f, NNG_AF_INET, op, RPC_ROLE_UNSET, NULL),
	    BERTH__V1__CODE__PERMISSION_DENIED);
	assert_int_equal(authorize(f, NNG_AF_INET, admin, RPC_ROLE_UNSET, NULL), 0);
}

/* The role a public route (Health) leaves in call->role; the call is never refused. */
static enum rpc_role
public_role(struct fixture *f, int family, const char *token, char *principal)
{
	struct rpc_route r = route_for(RPC_ROLE_PUBLIC, false);
	struct call call;
	enum rpc_role role;

	call_init(&call, "/berth.v1.Berth/Health", &f->d, f->reg, 1000);
	call.peer_family = family;
	call.token = token;
	assert_int_equal(auth_authorize(&f->d, &call, &r), 0);
	assert_int_equal(call.error.code, 0);
	role = call.role;
	if (principal != NULL)
		strcpy(principal, call.principal);
	call_finish(&call);
	return role;
}

static void
test_public_route_evaluates_a_sent_token_without_refusing(void **state)
{
	struct fixture *f = *state;
	char viewer[TOKEN_LEN + 1], op[TOKEN_LEN + 1], who[64];

	create_ok(f, "v", RPC_ROLE_VIEWER, viewer);
	create_ok(f, "o", RPC_ROLE_OPERATOR, op);
	f->auth.enabled = true;
	f->auth.ipc_admin = false;
	assert_int_equal(public_role(f, NNG_AF_INET, "", who), RPC_ROLE_PUBLIC);
	assert_string_equal(who, "");
	assert_int_equal(public_role(f, NNG_AF_INET, "berth_nope", who), RPC_ROLE_PUBLIC);
	assert_string_equal(who, "");
	assert_int_equal(public_role(f, NNG_AF_INET, viewer, who), RPC_ROLE_VIEWER);
	assert_string_equal(who, "v");
	assert_int_equal(public_role(f, NNG_AF_INET, op, who), RPC_ROLE_OPERATOR);
	assert_string_equal(who, "o");
	/* ipc without a token is admin only where the operator turned that on. */
	assert_int_equal(public_role(f, NNG_AF_IPC, "", NULL), RPC_ROLE_PUBLIC);
	f->auth.ipc_admin = true;
	assert_int_equal(public_role(f, NNG_AF_IPC, "", NULL), RPC_ROLE_ADMIN);
	assert_int_equal(public_role(f, NNG_AF_IPC, "berth_bad", NULL), RPC_ROLE_PUBLIC);
	assert_int_equal(public_role(f, NNG_AF_IPC, viewer, NULL), RPC_ROLE_VIEWER);
	f->auth.enabled = false;
	assert_int_equal(public_role(f, NNG_AF_INET, "", NULL), RPC_ROLE_ADMIN);
}

static void
test_ipc_admin_lets_only_local_callers_in_without_token(void **state)
{
	struct fixture *f = *state;
	char viewer[TOKEN_LEN + 1], who[64];

	create_ok(f, "v", RPC_ROLE_VIEWER, viewer);
	f->auth.enabled = true;
	f->auth.ipc_admin = false;
	assert_int_equal(authorize(f, NNG_AF_IPC, "", RPC_ROLE_VIEWER, NULL),
	    BERTH__V1__CODE__UNAUTHENTICATED);
	f->auth.ipc_admin = true;
	assert_int_equal(authorize(f, NNG_AF_IPC, "", RPC_ROLE_ADMIN, who), 0);
	assert_string_equal(who, "local");
	assert_int_equal(authorize(f, NNG_AF_INET, "", RPC_ROLE_VIEWER, NULL),
	    BERTH__V1__CODE__UNAUTHENTICATED);
	assert_int_equal(authorize(f, 0, "", RPC_ROLE_VIEWER, NULL), BERTH__V1__CODE__UNAUTHENTICATED);
	/* A token sent over ipc is still checked: a bad one does not become admin. */
	assert_int_equal(authorize(f, NNG_AF_IPC, "berth_bad", RPC_ROLE_VIEWER, NULL),
	    BERTH__V1__CODE__UNAUTHENTICATED);
	assert_int_equal(authorize(f, NNG_AF_IPC, viewer, RPC_ROLE_ADMIN, NULL),
	    BERTH__V1__CODE__PERMISSION_DENIED);
}

static void
test_authentication_off_lets_everyone_in(void **state)
{
	struct fixture *f = *state;
	char who[64];

	f->auth.enabled = false;
	assert_int_equal(authorize(f, NNG_AF_INET, "", RPC_ROLE_ADMIN, who), 0);
	assert_string_equal(who, "");
	assert_int_equal(authorize(f, NNG_AF_IPC, "", RPC_ROLE_ADMIN, who), 0);
	assert_string_equal(who, "local");
}

/* --- listener policy ----------------------------------------------------------------- */

struct policy_case {
	const char *listen[2];
	const char *auth, *cert, *client_ca;
	int result;    /* 0 or -1 */
	bool enabled;  /* when result is 0 */
	const char *error; /* part of the message when result is -1 */
};

static void
test_listener_policy_refuses_unguarded_network_listeners(void **state)
{
	static const struct policy_case cases[] = {
		{ { "ipc:///x" }, "auto", "", "", 0, false, NULL },
		{ { "ipc:///x", "tcp://127.0.0.1:7000" }, "auto", "", "", 0, true, NULL },
		{ { "tcp://0.0.0.0:7000" }, "off", "", "", -1, false, "without authentication" },
		{ { "tcp://0.0.0.0:7000" }, "on", "", "", 0, true, NULL },
		{ { "tls+tcp://0.0.0.0:7000" }, "auto", "", "", -1, false, "--tls-cert" },
		{ { "tls+tcp://0.0.0.0:7000" }, "off", "/c.pem", "", -1, false, "--tls-client-ca" },
		{ { "tls+tcp://0.0.0.0:7000" }, "off", "/c.pem", "/ca.pem", 0, false, NULL },
		{ { "tls+tcp://0.0.0.0:7000" }, "auto", "/c.pem", "", 0, true, NULL },
		{ { "ws://0.0.0.0:7000" }, "on", "", "", -1, false, "ipc://, tcp:// and tls+tcp://" },
		{ { "ipc:///x" }, "on", "", "", 0, true, NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct policy_case *pc = &cases[i];
		struct auth_policy p = { 0 };
		struct config c;
		struct error err = { 0 };

		config_defaults(&c);
		c.listen.n = 0;
		for (size_t j = 0; j < 2 && pc->listen[j] != NULL; j++)
			c.listen.items[c.listen.n++] = pc->listen[j];
		c.auth = pc->auth;
		c.tls_cert = pc->cert;
		c.tls_key = pc->cert;
		c.tls_client_ca = pc->client_ca;
		if (auth_configure(&p, &c, &err) != pc->result)
			fail_msg("case %zu (%s): expected %d, got the other (%s)", i, pc->listen[0],
			    pc->result, err.message);
		if (pc->result == 0 && p.enabled != pc->enabled)
			fail_msg("case %zu: authentication %d, expected %d", i, p.enabled, pc->enabled);
		if (pc->result != 0 && strstr(err.message, pc->error) == NULL)
			fail_msg("case %zu: \"%s\" not in \"%s\"", i, pc->error, err.message);
	}
}

/* --- audit ----------------------------------------------------------------------------- */

static void
test_audit_target_is_found_generically(void **state)
{
	Berth__V1__LaunchServiceRequest launch = BERTH__V1__LAUNCH_SERVICE_REQUEST__INIT;
	Berth__V1__StopServiceRequest stop = BERTH__V1__STOP_SERVICE_REQUEST__INIT;
	Berth__V1__DeleteTemplateRequest del = BERTH__V1__DELETE_TEMPLATE_REQUEST__INIT;
	Berth__V1__PutTemplateRequest put = BERTH__V1__PUT_TEMPLATE_REQUEST__INIT;
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	Berth__V1__ShutdownRequest shutdown = BERTH__V1__SHUTDOWN_REQUEST__INIT;

	(void)state;
	launch.template_ = "web";
	launch.instance = "blue";
	assert_string_equal(audit_target(&launch.base), "web");
	stop.service_id = "web_blue";
	assert_string_equal(audit_target(&stop.base), "web_blue");
	del.name = "old";
	assert_string_equal(audit_target(&del.base), "old");
	t.name = "new";
	put.template_ = &t;
	assert_string_equal(audit_target(&put.base), "new");
	put.template_ = NULL;
	assert_string_equal(audit_target(&put.base), "");
	assert_string_equal(audit_target(&shutdown.base), "");
	assert_string_equal(audit_target(NULL), "");
}

static void
test_audit_sanitize_keeps_text_and_defuses_the_rest(void **state)
{
	char out[16];

	(void)state;
	audit_sanitize(out, sizeof(out), "web_1");
	assert_string_equal(out, "web_1");
	audit_sanitize(out, sizeof(out), "a\nb\x1b[2J");
	assert_string_equal(out, "a?b?[2J");
	audit_sanitize(out, sizeof(out), "\xff\xfeok");
	assert_string_equal(out, "??ok");
	audit_sanitize(out, sizeof(out), "caf\xc3\xa9");
	assert_string_equal(out, "caf\xc3\xa9");
	audit_sanitize(out, 6, "abcd\xc3\xa9"); /* no half character at the cut */
	assert_string_equal(out, "abcd");
	audit_sanitize(out, sizeof(out), NULL);
	assert_string_equal(out, "");
}

struct rows {
	int n;
	struct audit_entry last;
};

static void
count_rows(void *arg, const struct audit_entry *e)
{
	struct rows *r = arg;

	r->n++;
	r->last = *e;
}

static void
test_finished_hook_audits_mutating_calls_only(void **state)
{
	struct fixture *f = *state;
	Berth__V1__DeleteTemplateRequest del = BERTH__V1__DELETE_TEMPLATE_REQUEST__INIT;
	struct rpc_route mutating = route_for(RPC_ROLE_ADMIN, true);
	struct rpc_route read = route_for(RPC_ROLE_VIEWER, false);
	uint8_t buf[64];
	ProtobufCBinaryData payload = { 0, buf };
	struct rows rows = { 0 };
	struct call call;
	struct error err = { 0 };

	del.name = "db";
	payload.len = berth__v1__delete_template_request__pack(&del, buf);
	call_init(&call, "/berth.v1.Berth/DeleteTemplate", &f->d, f->reg, 1000);
	snprintf(call.peer, sizeof(call.peer), "10.0.0.5:4242");
	snprintf(call.principal, sizeof(call.principal), "ci");
	call.request_id = "r-1";
	call_fail(&call, BERTH__V1__CODE__PERMISSION_DENIED, "no");
	auth_finished(&f->d, &call, &read, &payload);
	assert_int_equal(audit_tail(reg_of(f), false, 0, count_rows, &rows, &err), 0);
	assert_int_equal(rows.n, 0);
	/* Refused before dispatch: the hook decodes the payload for the target. */
	auth_finished(&f->d, &call, &mutating, &payload);
	call_finish(&call);
	assert_int_equal(audit_tail(reg_of(f), false, 0, count_rows, &rows, &err), 0);
	assert_int_equal(rows.n, 1);
	assert_string_equal(rows.last.token_name, "ci");
	assert_string_equal(rows.last.peer, "10.0.0.5:4242");
	assert_string_equal(rows.last.method, "/berth.v1.Berth/DeleteTemplate");
	assert_string_equal(rows.last.target, "db");
	assert_int_equal(rows.last.code, BERTH__V1__CODE__PERMISSION_DENIED);
	assert_string_equal(rows.last.request_id, "r-1");
	assert_true(rows.last.time[0] != '\0');
}

/*
 * A call refused for want of a valid token goes to audit_refused, apart
 * from the audit log, and its payload is not decoded (it costs the sender
 * nothing of berthd's memory).
 */
static void
test_unauthenticated_refusal_is_kept_apart_and_not_decoded(void **state)
{
	struct fixture *f = *state;
	struct rpc_route mutating = route_for(RPC_ROLE_OPERATOR, true);
	uint8_t junk[64];
	ProtobufCBinaryData payload = { sizeof(junk), junk };
	struct rows audit = { 0 }, refused = { 0 };
	struct call call;
	struct error err = { 0 };

	memset(junk, 0xff, sizeof(junk)); /* not a request at all */
	call_init(&call, "/berth.v1.Berth/LaunchService", &f->d, f->reg, 1000);
	snprintf(call.peer, sizeof(call.peer), "203.0.113.9:4242");
	call_fail(&call, BERTH__V1__CODE__UNAUTHENTICATED, "needs a token");
	auth_finished(&f->d, &call, &mutating, &payload);
	call_finish(&call);
	assert_int_equal(audit_tail(reg_of(f), false, 0, count_rows, &audit, &err), 0);
	assert_int_equal(audit.n, 0);
	assert_int_equal(audit_tail(reg_of(f), true, 0, count_rows, &refused, &err), 0);
	assert_int_equal(refused.n, 1);
	assert_string_equal(refused.last.peer, "203.0.113.9:4242");
	assert_string_equal(refused.last.target, "");
	assert_int_equal(refused.last.code, BERTH__V1__CODE__UNAUTHENTICATED);
}

static void
test_audit_tail_returns_the_last_rows_oldest_first(void **state)
{
	struct fixture *f = *state;
	struct rows rows = { 0 };
	struct error err = { 0 };

	for (int i = 0; i < 5; i++) {
		struct audit_entry e = { 0 };

		snprintf(e.target, sizeof(e.target), "t%d", i);
		assert_int_equal(audit_record(reg_of(f), &e, &err), 0);
	}
	assert_int_equal(audit_tail(reg_of(f), false, 2, count_rows, &rows, &err), 0);
	assert_int_equal(rows.n, 2);
	assert_string_equal(rows.last.target, "t4");
}

/* --- NUL bytes on the wire ---------------------------------------------------------------- */

/* A tiny protobuf writer: tag and length-delimited bytes. */
static size_t
put_bytes(uint8_t *out, unsigned field, const void *data, size_t len)
{
	size_t n = 0;

	out[n++] = (uint8_t)(field << 3 | 2);
	out[n++] = (uint8_t)len; /* < 128 here */
	memcpy(out + n, data, len);
	return n + len;
}

static int
check_wire(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len, char *field,
    const char **reason)
{
	return dispatch_check_wire(d, p, len, DISPATCH_STRING_MAX, DISPATCH_UNKNOWN_FIELDS_MAX, field, 64, reason);
}

static void
test_wire_check_finds_nul_in_strings_also_nested(void **state)
{
	uint8_t tmpl[64], msg[128];
	const char *reason = NULL;
	char field[64];
	size_t n, m;

	(void)state;
	n = put_bytes(msg, 1, "db\0../x", 7);
	assert_int_equal(check_wire(&berth__v1__get_template_request__descriptor, msg, n, field,
			     &reason),
	    -1);
	assert_string_equal(field, "name");
	assert_string_equal(reason, "NUL_IN_STRING");

	n = put_bytes(tmpl, 1, "web", 3);
	n += put_bytes(tmpl + n, 9, "A=1", 3);
	n += put_bytes(tmpl + n, 9, "B=\0", 3);
	m = put_bytes(msg, 1, tmpl, n);
	assert_int_equal(check_wire(&berth__v1__put_template_request__descriptor, msg, m, field,
			     &reason),
	    -1);
	assert_string_equal(field, "template.env[1]");

	/* bytes may hold anything: the envelope's payload is not a string. */
	n = put_bytes(msg, 2, "\0\0\0", 3);
	assert_int_equal(
	    check_wire(&berth__v1__rpc_request__descriptor, msg, n, field, &reason), 0);
	n = put_bytes(msg, 3, "tok\0en", 6);
	assert_int_equal(
	    check_wire(&berth__v1__rpc_request__descriptor, msg, n, field, &reason), -1);
	assert_string_equal(field, "token");

	n = put_bytes(msg, 1, "fine", 4);
	assert_int_equal(check_wire(&berth__v1__get_template_request__descriptor, msg, n, field,
			     &reason),
	    0);
}

static void
test_wire_check_refuses_overlong_strings_and_malformed_bytes(void **state)
{
	const uint8_t truncated[] = { 0x0a, 0x05, 'a' };
	const uint8_t group[] = { 0x0b };
	uint8_t msg[8];
	const char *reason = NULL;
	char field[64];

	(void)state;
	assert_int_equal(dispatch_check_wire(&berth__v1__get_template_request__descriptor, msg,
			     put_bytes(msg, 1, "abcd", 4), 3, 0, field, sizeof(field), &reason),
	    -1);
	assert_string_equal(reason, "TOO_LONG");
	assert_int_equal(check_wire(&berth__v1__get_template_request__descriptor, truncated,
			     sizeof(truncated), field, &reason),
	    -1);
	assert_string_equal(reason, "MALFORMED");
	assert_int_equal(check_wire(&berth__v1__get_template_request__descriptor, group,
			     sizeof(group), field, &reason),
	    -1);
}

/* --- build root ---------------------------------------------------------------------------- */

static void
test_build_root_resolves_links_and_keeps_contexts_inside(void **state)
{
	struct fixture *f = *state;
	char root[PATH_MAX], path[PATH_MAX + 64], out[PATH_MAX], why[PATH_MAX + 128], real[PATH_MAX];

	snprintf(root, sizeof(root), "%s/root", f->dir);
	snprintf(path, sizeof(path), "%s/root/app", f->dir);
	assert_int_equal(mkdir(root, 0700), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_non_null(realpath(root, real));

	assert_int_equal(build_root_resolve(real, path, out, sizeof(out), why, sizeof(why)), 0);
	assert_non_null(strstr(out, "/root/app"));
	/* Not there yet: allowed, appended as written (checked again at build time). */
	snprintf(path, sizeof(path), "%s/later/ctx", real);
	assert_int_equal(build_root_resolve(real, path, out, sizeof(out), why, sizeof(why)), 0);
	assert_int_equal(build_root_resolve(real, real, out, sizeof(out), why, sizeof(why)), 0);

	assert_int_equal(build_root_resolve(real, "/etc", out, sizeof(out), why, sizeof(why)), -1);
	assert_non_null(strstr(why, "not under the build root"));
	/* A sibling that merely starts with the root's name is outside. */
	snprintf(path, sizeof(path), "%s-evil", real);
	assert_int_equal(build_root_resolve(real, path, out, sizeof(out), why, sizeof(why)), -1);
	snprintf(path, sizeof(path), "%s/../x", real);
	assert_int_equal(build_root_resolve(real, path, out, sizeof(out), why, sizeof(why)), -1);
	assert_int_equal(build_root_resolve(real, "relative", out, sizeof(out), why, sizeof(why)),
	    -1);

	/* A link inside the root that points out of it. */
	snprintf(path, sizeof(path), "%s/escape", real);
	assert_int_equal(symlink("/etc", path), 0);
	assert_int_equal(build_root_resolve(real, path, out, sizeof(out), why, sizeof(why)), -1);
	assert_non_null(strstr(why, "resolves to /etc"));
	snprintf(path, sizeof(path), "%s/escape/ssl", real);
	assert_int_equal(build_root_resolve(real, path, out, sizeof(out), why, sizeof(why)), -1);
	assert_int_equal(build_root_resolve(NULL, path, out, sizeof(out), why, sizeof(why)), -1);
}

/*
 * A 4 MiB envelope of 2-byte unknown fields cost ~150 MiB to decode
 * (protobuf-c keeps each one), before any token was checked. The wire
 * check counts them first and refuses past the limit.
 */
static void
test_unknown_fields_are_counted_before_decoding(void **state)
{
	size_t n = 4096, len = 0;
	uint8_t *msg = malloc(2 * n + 16);
	const char *reason = NULL;
	char field[64];

	(void)state;
	assert_non_null(msg);
	for (size_t i = 0; i < n; i++) {
		msg[len++] = (uint8_t)(15 << 3 | 0); /* field 15, varint: unknown to the request */
		msg[len++] = 1;
	}
	assert_int_equal(dispatch_check_wire(&berth__v1__get_template_request__descriptor, msg, len,
			     DISPATCH_STRING_MAX, DISPATCH_UNKNOWN_FIELDS_MAX, field, sizeof(field),
			     &reason),
	    -1);
	assert_string_equal(reason, "TOO_MANY_UNKNOWN_FIELDS");
	/* A few, as a newer client's proto would send, are fine. */
	assert_int_equal(dispatch_check_wire(&berth__v1__get_template_request__descriptor, msg, 2 * 8,
			     DISPATCH_STRING_MAX, DISPATCH_UNKNOWN_FIELDS_MAX, field, sizeof(field),
			     &reason),
	    0);
	/* The envelope, read before the caller is known, allows fewer. */
	assert_int_equal(dispatch_check_wire(&berth__v1__rpc_request__descriptor, msg, 2 * 17,
			     DISPATCH_STRING_MAX, DISPATCH_ENVELOPE_UNKNOWN_FIELDS_MAX, field,
			     sizeof(field), &reason),
	    -1);
	free(msg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_created_token_has_the_documented_form_and_verifies,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_tokens_differ, setup, teardown),
		cmocka_unit_test_setup_teardown(test_database_keeps_no_token_only_salted_hash, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_verified_token_is_kept_for_a_moment_and_its_secret_always_checked, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_wrong_malformed_and_revoked_tokens_are_unauthenticated,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_refuses_taken_name_bad_name_and_bad_role,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_shows_names_roles_and_use_sorted, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_authorize_follows_roles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_public_route_evaluates_a_sent_token_without_refusing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipc_admin_lets_only_local_callers_in_without_token,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_authentication_off_lets_everyone_in, setup,
		    teardown),
		cmocka_unit_test(test_listener_policy_refuses_unguarded_network_listeners),
		cmocka_unit_test(test_audit_target_is_found_generically),
		cmocka_unit_test(test_audit_sanitize_keeps_text_and_defuses_the_rest),
		cmocka_unit_test_setup_teardown(test_finished_hook_audits_mutating_calls_only, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_unauthenticated_refusal_is_kept_apart_and_not_decoded, setup, teardown),
		cmocka_unit_test(test_unknown_fields_are_counted_before_decoding),
		cmocka_unit_test_setup_teardown(test_audit_tail_returns_the_last_rows_oldest_first, setup,
		    teardown),
		cmocka_unit_test(test_wire_check_finds_nul_in_strings_also_nested),
		cmocka_unit_test(test_wire_check_refuses_overlong_strings_and_malformed_bytes),
		cmocka_unit_test_setup_teardown(test_build_root_resolves_links_and_keeps_contexts_inside,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
