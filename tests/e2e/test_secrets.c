/*
 * test_secrets.c - secret environment entries of templates
 * (Template.secret_env) against a real berthd and Docker:
 *
 *   - every read answers "KEY=***": a viewer's `template show`, `--json
 *     templates` (ListTemplates), an admin's too, and PutTemplate's reply;
 *   - a launched container has the real value in its environment (the
 *     Engine API's container inspect, Config.Env);
 *   - `berth --json template show` sent back with `template add --from-json`
 *     keeps the stored value; --secret-env-file replaces it; "KEY=***" for a
 *     key without a stored value is INVALID_ARGUMENT;
 *   - no value is in berthd's log (at debug level) or in the audit log.
 *
 * berthd runs with --auth on and --ipc-admin on: the fixture's client (ipc,
 * no token) is admin, and a viewer token is made with `berthd token create`.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth.h"
#include "berthd_proc.h"
#include "e2e.h"
#include "engine/docker_internal.h"

#define TEMPLATE "secretive"
#define FIRST_PORT 19430
#define LAST_PORT 19459

struct suite {
	struct e2e_daemon d;
	char viewer_token[128];
	char value[64];     /* E2E_SECRET's first value */
	char new_value[64]; /* the one --secret-env-file gives later */
	char entry[96];     /* "E2E_SECRET=<value>" */
};

static struct suite S;

static const char *
build_dir(void)
{
	const char *b = getenv("BUILD");
	return b != NULL && b[0] != '\0' ? b : "build";
}

/* `berthd ARGS` on the daemon's data directory; its stdout (malloc'ed) or NULL. */
static char *
berthd_output(const char *args)
{
	char cmd[1024], buf[4096];
	size_t len = 0, n;
	char *out = NULL;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "'%s/berthd' %s --data-dir '%s' 2>/dev/null", build_dir(), args,
	    S.d.proc.data_dir);
	if ((f = popen(cmd, "r")) == NULL)
		return NULL;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		char *grown = realloc(out, len + n + 1);
		if (grown == NULL)
			break;
		out = grown;
		memcpy(out + len, buf, n);
		len += n;
		out[len] = '\0';
	}
	if (pclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

static int
suite_setup(void **state)
{
	const char *args[] = { "--auth", "on", "--ipc-admin", "on", "--log-level", "debug", NULL };
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	char *secrets[] = { S.entry };
	berth_status st;
	char *token;

	(void)state;
	snprintf(S.value, sizeof(S.value), "s3cr3t-%d-one", (int)getpid());
	snprintf(S.new_value, sizeof(S.new_value), "s3cr3t-%d-two", (int)getpid());
	snprintf(S.entry, sizeof(S.entry), "E2E_SECRET=%s", S.value);
	if (e2e_daemon_start(&S.d, args) != 0)
		return -1;
	token = berthd_output("token create --name view --role viewer");
	if (token == NULL || strlen(token) < 70) {
		fprintf(stderr, "berthd token create failed\n");
		free(token);
		return -1;
	}
	snprintf(S.viewer_token, sizeof(S.viewer_token), "%.70s", token);
	free(token);
	e2e_demo_template(&t, TEMPLATE, FIRST_PORT, LAST_PORT);
	t.secret_env = secrets;
	t.n_secret_env = 1;
	if (e2e_put_template(S.d.client, &t, &st) != 0) {
		fprintf(stderr, "PutTemplate: %d %s\n", st.code, st.message);
		return -1;
	}
	return 0;
}

static int
suite_teardown(void **state)
{
	(void)state;
	e2e_daemon_destroy(&S.d, true);
	return 0;
}

/* `berth --url U ARGS...` must exit 0; its stdout (caller frees). */
#define CLI_OK(...)                                                                          \
	({                                                                                   \
		char *out_ = NULL, *err_ = NULL;                                             \
		int rc_ = berth_cli(&S.d.proc, &out_, &err_, __VA_ARGS__, NULL);             \
		if (rc_ != 0)                                                                \
			fail_msg("berth exited %d: %s", rc_, err_ != NULL ? err_ : "");      \
		free(err_);                                                                  \
		out_;                                                                        \
	})

static void
assert_masked(const char *text, const char *mask)
{
	if (strstr(text, mask) == NULL)
		fail_msg("\"%s\" not in:\n%s", mask, text);
	if (strstr(text, S.value) != NULL || strstr(text, S.new_value) != NULL)
		fail_msg("a secret value leaked:\n%s", text);
}

static void
test_every_read_shows_the_key_and_never_the_value(void **state)
{
	Berth__V1__GetTemplateRequest get = BERTH__V1__GET_TEMPLATE_REQUEST__INIT;
	Berth__V1__GetTemplateResponse *got = NULL;
	berth_status st;
	char *out;

	(void)state;
	/* A viewer: template show (GetTemplate) and ListTemplates, human and JSON. */
	out = CLI_OK("--token", S.viewer_token, "template", "show", TEMPLATE);
	assert_masked(out, "E2E_SECRET=***");
	assert_non_null(strstr(out, "secret_env"));
	free(out);
	out = CLI_OK("--token", S.viewer_token, "--json", "template", "show", TEMPLATE);
	assert_masked(out, "\"E2E_SECRET=***\"");
	free(out);
	out = CLI_OK("--token", S.viewer_token, "--json", "templates");
	assert_masked(out, "\"E2E_SECRET=***\"");
	free(out);
	/* The admin sees no more. */
	out = CLI_OK("--json", "template", "show", TEMPLATE);
	assert_masked(out, "\"E2E_SECRET=***\"");
	free(out);
	get.name = TEMPLATE;
	assert_int_equal(berth_call(S.d.client, "GetTemplate", &get.base, (ProtobufCMessage **)&got,
			     &st),
	    0);
	assert_int_equal(got->template_->n_secret_env, 1);
	assert_string_equal(got->template_->secret_env[0], "E2E_SECRET=***");
	berth_reply_free(&got->base);
}

static void
test_put_reply_shows_the_key_only(void **state)
{
	Berth__V1__PutTemplateRequest put = BERTH__V1__PUT_TEMPLATE_REQUEST__INIT;
	Berth__V1__PutTemplateResponse *r = NULL;
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	char *secrets[] = { S.entry };
	berth_status st;

	(void)state;
	e2e_demo_template(&t, TEMPLATE, FIRST_PORT, LAST_PORT);
	t.secret_env = secrets;
	t.n_secret_env = 1;
	put.template_ = &t;
	assert_int_equal(berth_call(S.d.client, "PutTemplate", &put.base, (ProtobufCMessage **)&r,
			     &st),
	    0);
	assert_false(r->created);
	assert_int_equal(r->template_->n_secret_env, 1);
	assert_string_equal(r->template_->secret_env[0], "E2E_SECRET=***");
	berth_reply_free(&r->base);
}

/* Config.Env of a container inspect, copied. */
static void
env_from_inspect(void *out, const json_t *o)
{
	*(json_t **)out = json_deep_copy(json_object_get(json_object_get(o, "Config"), "Env"));
}

/* Launches an instance of TEMPLATE; whether its container's environment has `entry`. */
static bool
launched_container_has(const char *entry)
{
	Berth__V1__LaunchServiceResponse *r;
	struct error err = { 0 };
	json_t *env = NULL, *v;
	berth_status st;
	bool found = false;
	size_t i;

	r = e2e_launch(S.d.client, TEMPLATE, "", 0, &st);
	if (r == NULL)
		fail_msg("LaunchService: %d %s", st.code, st.message);
	/* The reply's Service embeds no template: nothing to mask there. */
	assert_non_null(e2e_docker());
	if (docker_get_object(e2e_docker(), "/containers/", r->service->container_id, "/json",
		"container id", env_from_inspect, &env, 30000, &err) != 0)
		fail_msg("inspect %s: %s", r->service->container_id, err.message);
	assert_true(json_is_array(env));
	json_array_foreach(env, i, v)
		found |= strcmp(json_string_value(v), entry) == 0;
	/* berth's own variables are still there. */
	assert_true(json_array_size(env) >= 4);
	json_decref(env);
	berth_reply_free(&r->base);
	return found;
}

static void
test_launched_container_has_the_value(void **state)
{
	(void)state;
	assert_true(launched_container_has(S.entry));
}

/* Writes text to a new temporary file; its path in path (a mkstemp template). */
static void
write_temp(char *path, const char *text)
{
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void
test_json_round_trip_keeps_replaces_and_refuses_unknown_masks(void **state)
{
	char doc_path[] = "/tmp/berth-secrets-doc-XXXXXX";
	char file_path[] = "/tmp/berth-secrets-env-XXXXXX";
	char bad_path[] = "/tmp/berth-secrets-bad-XXXXXX";
	char file_text[128], new_entry[96], *out, *err = NULL, *doc;
	json_t *j, *tpl;
	int rc;

	(void)state;
	/* Read back as JSON ("KEY=***") and sent again: the stored value stays. */
	out = CLI_OK("--json", "template", "show", TEMPLATE);
	j = json_loads(out, 0, NULL);
	assert_non_null(j);
	free(out);
	tpl = json_object_get(j, "template");
	doc = json_dumps(tpl, 0);
	write_temp(doc_path, doc);
	free(doc);
	out = CLI_OK("template", "add", "--from-json", doc_path);
	assert_string_equal(out, "Template '" TEMPLATE "' replaced.\n");
	free(out);
	assert_true(launched_container_has(S.entry));

	/* A new value from a file (a comment, a blank line) replaces it. */
	snprintf(file_text, sizeof(file_text), "# the database\n\nE2E_SECRET=%s\n", S.new_value);
	write_temp(file_path, file_text);
	out = CLI_OK("template", "add", "--from-json", doc_path, "--secret-env-file", file_path);
	free(out);
	snprintf(new_entry, sizeof(new_entry), "E2E_SECRET=%s", S.new_value);
	assert_true(launched_container_has(new_entry));
	out = CLI_OK("--token", S.viewer_token, "template", "show", TEMPLATE);
	assert_masked(out, "E2E_SECRET=***");
	free(out);

	/* "KEY=***" for a key without a stored value is refused, naming the key. */
	json_array_append_new(json_object_get(tpl, "secret_env"), json_string("OTHER=***"));
	doc = json_dumps(tpl, 0);
	write_temp(bad_path, doc);
	free(doc);
	rc = berth_cli(&S.d.proc, &out, &err, "template", "add", "--from-json", bad_path, NULL);
	assert_int_not_equal(rc, 0);
	if (strstr(err, "no stored value for OTHER") == NULL)
		fail_msg("stderr: %s", err);
	free(out);
	free(err);
	/* ... and changed nothing. */
	assert_true(launched_container_has(new_entry));

	/* A key in env and secret_env at once is refused too. */
	rc = berth_cli(&S.d.proc, &out, &err, "template", "add", "--from-json", doc_path,
	    "--env", "E2E_SECRET=plain", NULL);
	assert_int_not_equal(rc, 0);
	assert_non_null(strstr(err, "template.secret_env"));
	free(out);
	free(err);

	json_decref(j);
	unlink(doc_path);
	unlink(file_path);
	unlink(bad_path);
}

static void
test_no_value_in_log_or_audit(void **state)
{
	char *audit;

	(void)state;
	/* The suite's puts and launches are behind us (cmocka runs tests in order). */
	assert_true(berthd_proc_log_contains(&S.d.proc, "PutTemplate"));
	assert_false(berthd_proc_log_contains(&S.d.proc, S.value));
	assert_false(berthd_proc_log_contains(&S.d.proc, S.new_value));
	audit = berthd_output("audit --json --tail 0");
	assert_non_null(audit);
	assert_non_null(strstr(audit, "PutTemplate"));
	assert_null(strstr(audit, S.value));
	assert_null(strstr(audit, S.new_value));
	free(audit);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_read_shows_the_key_and_never_the_value),
		cmocka_unit_test(test_put_reply_shows_the_key_only),
		cmocka_unit_test(test_launched_container_has_the_value),
		cmocka_unit_test(test_json_round_trip_keeps_replaces_and_refuses_unknown_masks),
		cmocka_unit_test(test_no_value_in_log_or_audit),
	};

	return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
