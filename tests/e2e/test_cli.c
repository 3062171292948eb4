/*
 * test_cli.c - the real `berth` binary against a real berthd on a
 * temporary data directory: output, JSON, error lines and exit statuses.
 *
 * Nothing here needs Docker: templates live in berthd's registry, and the
 * commands whose RPCs need Docker or are not written yet are only asked to
 * either work or say UNIMPLEMENTED.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth.h"
#include "berthd_proc.h"

static struct berthd_proc proc;

static const struct {
	const char *name;
	const char *ports;
	int start;
} seeds[] = {
	{ "auth_service", "8020-8119", 8020 },
	{ "buckets", "8000-8099", 8000 },
	{ "database_service", "8040-8139", 8040 },
	{ "db", "8010-8109", 8010 },
	{ "file_manager", "8030-8129", 8030 },
};

#define N_SEEDS (sizeof(seeds) / sizeof(seeds[0]))

/* --- helpers --------------------------------------------------------------- */

static int
group_setup(void **state)
{
	(void)state;
	return berthd_proc_start(&proc, NULL) == 0 ? 0 : -1;
}

static int
group_teardown(void **state)
{
	(void)state;
	berthd_proc_cleanup(&proc);
	return 0;
}

static void
assert_contains(const char *haystack, const char *needle)
{
	if (strstr(haystack, needle) == NULL)
		fail_msg("\"%s\" not found in:\n%s", needle, haystack);
}

static void
assert_starts_with(const char *s, const char *prefix)
{
	if (strncmp(s, prefix, strlen(prefix)) != 0)
		fail_msg("\"%s\" does not start with \"%s\"", s, prefix);
}

/* The line of `text` that starts with `word` followed by a blank. */
static char *
line_of(const char *text, const char *word)
{
	static char line[1024];
	size_t n = strlen(word);

	for (const char *p = text; p != NULL && *p != '\0';) {
		const char *end = strchr(p, '\n');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

		if (len > n && strncmp(p, word, n) == 0 && p[n] == ' ' && len < sizeof(line)) {
			memcpy(line, p, len);
			line[len] = '\0';
			return line;
		}
		p = end != NULL ? end + 1 : NULL;
	}
	fail_msg("no line starting with \"%s\" in:\n%s", word, text);
	return NULL;
}

static void
assert_no_trailing_spaces(const char *text)
{
	for (const char *p = strchr(text, '\n'); p != NULL; p = strchr(p + 1, '\n')) {
		if (p > text && p[-1] == ' ')
			fail_msg("a line ends in a space:\n%s", text);
	}
}

static json_t *
parse_json(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, 0, &err);

	if (j == NULL)
		fail_msg("not JSON (%s):\n%s", err.text, text);
	return j;
}

/* --- tests ---------------------------------------------------------------- */

static void
test_health_says_serving(void **state)
{
	char *out, *err;
	json_t *j;

	(void)state;
	assert_int_equal(berth_cli(&proc, &out, &err, "health", NULL), 0);
	assert_contains(line_of(out, "status:"), "SERVING");
	assert_contains(line_of(out, "version:"), BERTH_VERSION);
	line_of(out, "docker:");
	free(out);
	free(err);

	assert_int_equal(berth_cli(&proc, &out, &err, "--json", "health", NULL), 0);
	j = parse_json(out);
	assert_string_equal(json_string_value(json_object_get(j, "status")), "SERVING");
	assert_true(json_is_boolean(json_object_get(j, "docker_available")));
	json_decref(j);
	free(out);
	free(err);
}

static void
test_templates_lists_the_five_seed_templates(void **state)
{
	char *out, *err;

	(void)state;
	assert_int_equal(berth_cli(&proc, &out, &err, "templates", NULL), 0);
	assert_string_equal(err, "");
	assert_starts_with(out, "NAME ");
	assert_contains(line_of(out, "NAME"), "CONTAINER PORT");
	for (size_t i = 0; i < N_SEEDS; i++)
		assert_contains(line_of(out, seeds[i].name), seeds[i].ports);
	assert_no_trailing_spaces(out);
	/* Aligned: each row's IMAGE starts in the header's IMAGE column. */
	for (size_t i = 0; i < N_SEEDS; i++) {
		char header[256], *row;
		size_t col;

		snprintf(header, sizeof(header), "%s", line_of(out, "NAME"));
		col = (size_t)(strstr(header, "IMAGE") - header);
		row = line_of(out, seeds[i].name);
		assert_true(row[col - 1] == ' ' && row[col] == 'u');
	}
	free(out);
	free(err);
}

static void
test_json_templates_is_one_object_with_the_proto_field_names(void **state)
{
	static const char *const fields[] = { "name", "description", "image", "build_context",
		"container_port", "port_range_start", "port_range_end", "mount_path", "env",
		"command", "stop_timeout_s" };
	char *out, *err;
	json_t *j, *list;

	(void)state;
	assert_int_equal(berth_cli(&proc, &out, &err, "--json", "templates", NULL), 0);
	j = parse_json(out);
	assert_true(json_is_object(j));
	assert_int_equal(json_object_size(j), 1);
	list = json_object_get(j, "templates");
	assert_int_equal(json_array_size(list), N_SEEDS);
	for (size_t i = 0; i < N_SEEDS; i++) {
		json_t *t = json_array_get(list, i);

		/* Sorted by name, as ListTemplates promises. */
		assert_string_equal(json_string_value(json_object_get(t, "name")), seeds[i].name);
		assert_int_equal(json_integer_value(json_object_get(t, "port_range_start")),
		    seeds[i].start);
		for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++)
			if (json_object_get(t, fields[f]) == NULL)
				fail_msg("template %s has no key \"%s\"", seeds[i].name, fields[f]);
		assert_true(json_is_array(json_object_get(t, "env")));
	}
	json_decref(j);
	free(out);
	free(err);
}

static void
test_template_add_then_show_round_trips(void **state)
{
	char *out, *err;
	json_t *j, *t;

	(void)state;
	assert_int_equal(berth_cli(&proc, &out, &err, "template", "add", "cli-web", "--image",
			     "nginx:latest", "--description", "A web server", "--container-port",
			     "80", "--port-range", "9000-9010", "--mount", "/data", "--env", "A=1",
			     "--env", "B=two words", "--cmd", "sh", "--cmd", "-c", "--cmd",
			     "echo hi", "--stop-timeout", "5", NULL),
	    0);
	assert_string_equal(out, "Template 'cli-web' created.\n");
	assert_string_equal(err, "");
	free(out);
	free(err);

	assert_int_equal(berth_cli(&proc, &out, &err, "template", "show", "cli-web", NULL), 0);
	assert_contains(line_of(out, "image:"), "nginx:latest");
	assert_contains(line_of(out, "description:"), "A web server");
	assert_contains(line_of(out, "container_port:"), "80");
	assert_contains(line_of(out, "port_range:"), "9000-9010");
	assert_contains(line_of(out, "mount_path:"), "/data");
	assert_contains(out, "B=two words");
	assert_contains(line_of(out, "command:"), "sh -c 'echo hi'");
	assert_no_trailing_spaces(out);
	free(out);
	free(err);

	assert_int_equal(berth_cli(&proc, &out, &err, "--json", "template", "show", "cli-web", NULL),
	    0);
	j = parse_json(out);
	t = json_object_get(j, "template");
	assert_string_equal(json_string_value(json_object_get(t, "image")), "nginx:latest");
	assert_int_equal(json_integer_value(json_object_get(t, "container_port")), 80);
	assert_int_equal(json_integer_value(json_object_get(t, "port_range_start")), 9000);
	assert_int_equal(json_integer_value(json_object_get(t, "port_range_end")), 9010);
	assert_int_equal(json_integer_value(json_object_get(t, "stop_timeout_s")), 5);
	assert_int_equal(json_array_size(json_object_get(t, "env")), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(t, "command"), 2)),
	    "echo hi");
	json_decref(j);
	free(out);
	free(err);

	/* The same name again replaces it. */
	assert_int_equal(berth_cli(&proc, &out, &err, "template", "add", "cli-web", "--image",
			     "nginx:1.25", "--port-range", "9000", NULL),
	    0);
	/* A put replaces the whole template, and says what it took away. */
	assert_string_equal(out, "Template 'cli-web' replaced.\n"
				 "Reset to their defaults (set before, not given now): "
				 "description, port_range_end, mount_path, env, command, "
				 "stop_timeout_s\n");
	free(out);
	free(err);
	assert_int_equal(berth_cli(&proc, &out, &err, "template", "show", "cli-web", NULL), 0);
	assert_contains(line_of(out, "image:"), "nginx:1.25");
	assert_contains(line_of(out, "port_range:"), "9000+");
	free(out);
	free(err);

	assert_int_equal(berth_cli(&proc, &out, &err, "template", "rm", "cli-web", NULL), 0);
	assert_string_equal(out, "Template 'cli-web' removed.\n");
	free(out);
	free(err);
	assert_int_equal(berth_cli(&proc, &out, &err, "template", "show", "cli-web", NULL), 3);
	free(out);
	free(err);
}

/* The limits and the swarm backend's fields have flags too; bad values are usage errors. */
static void
test_template_add_takes_limits_and_swarm_fields(void **state)
{
	char *out, *err;
	json_t *j, *t;

	(void)state;
	assert_int_equal(berth_cli(&proc, &out, &err, "template", "add", "cli-limits", "--image",
			     "nginx:latest", "--port-range", "9300-9309", "--cpus", "0.5", "--memory",
			     "64m", "--replicas", "3", "--constraint", "node.role==worker",
			     "--constraint", "node.labels.disk==ssd", "--publish-mode", "host", NULL),
	    0);
	assert_string_equal(out, "Template 'cli-limits' created.\n");
	free(out);
	free(err);

	assert_int_equal(berth_cli(&proc, &out, &err, "template", "show", "cli-limits", NULL), 0);
	assert_contains(line_of(out, "cpu_limit:"), "0.5");
	assert_contains(line_of(out, "memory_limit_bytes:"), "67108864");
	assert_contains(line_of(out, "replicas:"), "3");
	assert_contains(out, "node.labels.disk==ssd");
	assert_contains(line_of(out, "publish_mode:"), "host");
	assert_no_trailing_spaces(out);
	free(out);
	free(err);

	assert_int_equal(berth_cli(&proc, &out, &err, "--json", "template", "show", "cli-limits",
			     NULL),
	    0);
	j = parse_json(out);
	t = json_object_get(j, "template");
	assert_true(json_number_value(json_object_get(t, "cpu_limit")) == 0.5);
	assert_int_equal(json_integer_value(json_object_get(t, "memory_limit_bytes")), 64 << 20);
	assert_int_equal(json_integer_value(json_object_get(t, "replicas")), 3);
	assert_int_equal(json_array_size(json_object_get(t, "constraints")), 2);
	assert_string_equal(json_string_value(json_object_get(t, "publish_mode")), "host");
	json_decref(j);
	free(out);
	free(err);

	/* Unparsable values are usage errors (exit 1); a bad mode is INVALID_ARGUMENT (2). */
	assert_int_equal(berth_cli(&proc, &out, &err, "template", "add", "cli-bad", "--image", "x",
			     "--cpus", "lots", NULL),
	    1);
	assert_contains(err, "--cpus");
	free(out);
	free(err);
	assert_int_equal(berth_cli(&proc, &out, &err, "template", "add", "cli-bad", "--image", "x",
			     "--memory", "12q", NULL),
	    1);
	assert_contains(err, "--memory");
	free(out);
	free(err);
	assert_int_equal(berth_cli(&proc, &out, &err, "template", "add", "cli-bad", "--image", "x",
			     "--port-range", "9400", "--publish-mode", "sideways", NULL),
	    2);
	assert_contains(err, "publish_mode");
	free(out);
	free(err);

	assert_int_equal(berth_cli(&proc, &out, &err, "template", "rm", "cli-limits", NULL), 0);
	free(out);
	free(err);
}

/* Restart policy and health check from flags: stored as given, shown on one line each. */
static void
test_template_add_takes_restart_policy_and_health_check(void **state)
{
	char *out, *err;
	json_t *j, *t, *h;

	(void)state;
	assert_int_equal(berth_cli(&proc, &out, &err, "template", "add", "cli-sup", "--image",
			     "nginx:latest", "--port-range", "9310", "--restart", "always",
			     "--max-restarts", "3/10m", "--health", "http=/healthz",
			     "--health-interval", "2m", "--health-retries", "5",
			     "--health-start-period", "30s", NULL),
	    0);
	assert_string_equal(out, "Template 'cli-sup' created.\n");
	free(out);
	free(err);

	assert_int_equal(berth_cli(&proc, &out, &err, "template", "show", "cli-sup", NULL), 0);
	assert_contains(line_of(out, "restart:"), "always (max 3 in 10m)");
	assert_contains(line_of(out, "health:"),
	    "http /healthz every 2m, timeout 3s, 5 retries, start period 30s");
	assert_no_trailing_spaces(out);
	free(out);
	free(err);

	/* An exec check keeps its words; the JSON has every field. */
	assert_int_equal(berth_cli(&proc, &out, &err, "template", "add", "cli-sup", "--image",
			     "nginx:latest", "--port-range", "9310", "--health",
			     "exec=sh -c 'test -f /tmp/ok'", NULL),
	    0);
	free(out);
	free(err);
	assert_int_equal(berth_cli(&proc, &out, &err, "--json", "template", "show", "cli-sup", NULL),
	    0);
	j = parse_json(out);
	t = json_object_get(j, "template");
	assert_string_equal(json_string_value(json_object_get(t, "restart")), "on-failure");
	assert_int_equal(json_integer_value(json_object_get(t, "max_restarts")), 5);
	assert_int_equal(json_integer_value(json_object_get(t, "restart_window_s")), 600);
	h = json_object_get(t, "health");
	assert_string_equal(json_string_value(json_object_get(h, "kind")), "exec");
	assert_int_equal(json_array_size(json_object_get(h, "exec_command")), 3);
	assert_string_equal(json_string_value(json_array_get(json_object_get(h, "exec_command"), 2)),
	    "test -f /tmp/ok");
	assert_int_equal(json_integer_value(json_object_get(h, "interval_s")), 10);
	assert_int_equal(json_integer_value(json_object_get(h, "timeout_s")), 3);
	assert_int_equal(json_integer_value(json_object_get(h, "retries")), 3);
	json_decref(j);
	free(out);
	free(err);

	assert_int_equal(berth_cli(&proc, &out, &err, "template", "show", "cli-sup", NULL), 0);
	assert_contains(line_of(out, "health:"),
	    "exec sh -c 'test -f /tmp/ok' every 10s, timeout 3s, 3 retries, start period 0s");
	free(out);
	free(err);

	/* A bad form is a usage error (1) naming the option. */
	assert_int_equal(berth_cli(&proc, &out, &err, "template", "add", "cli-sup", "--image",
			     "nginx:latest", "--health", "http", NULL),
	    1);
	assert_contains(err, "--health");
	free(out);
	free(err);

	assert_int_equal(berth_cli(&proc, &out, &err, "template", "rm", "cli-sup", NULL), 0);
	free(out);
	free(err);
}

static void
test_template_add_from_json_round_trips(void **state)
{
	char doc[PATH_MAX + 1024], root[PATH_MAX];
	char path[] = "/tmp/berth-cli-e2e-XXXXXX";
	char *out, *err;
	json_t *want, *got;
	int fd = mkstemp(path);

	(void)state;
	/* A build context must lie under berthd's build root: $BUILD in tests. */
	assert_non_null(realpath(getenv("BUILD") != NULL && getenv("BUILD")[0] ? getenv("BUILD")
									       : "build",
	    root));
	snprintf(doc, sizeof(doc),
	    "{\"name\": \"cli-json\", \"description\": \"from a file\", "
	    "\"image\": \"busybox:latest\", \"build_context\": \"%s/cli-build\", "
	    "\"container_port\": 8080, \"port_range_start\": 9100, "
	    "\"port_range_end\": 9199, \"mount_path\": \"/srv\", "
	    "\"env\": [\"X=1\", \"Y=2\"], \"command\": [\"sleep\", \"100\"], "
	    "\"stop_timeout_s\": 30, \"publish_mode\": \"host\", \"replicas\": 2, "
	    "\"constraints\": [\"node.role==worker\"], \"cpu_limit\": 1.5, "
	    "\"memory_limit_bytes\": 67108864, \"secret_env\": [], \"init\": true, "
	    "\"user\": \"1000:1000\", \"restart\": \"always\", \"max_restarts\": 7, "
	    "\"restart_window_s\": 120, \"health\": {\"kind\": \"exec\", \"http_path\": \"\", "
	    "\"exec_command\": [\"/bin/check\", \"-q\"], \"interval_s\": 5, \"timeout_s\": 2, "
	    "\"retries\": 3, \"start_period_s\": 30}}",
	    root);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, doc, strlen(doc)), (ssize_t)strlen(doc));
	close(fd);
	assert_int_equal(berth_cli(&proc, &out, &err, "template", "add", "--from-json", path, NULL),
	    0);
	assert_string_equal(out, "Template 'cli-json' created.\n");
	free(out);
	free(err);
	unlink(path);

	assert_int_equal(berth_cli(&proc, &out, &err, "--json", "template", "show", "cli-json", NULL),
	    0);
	got = parse_json(out);
	want = parse_json(doc);
	/* berthd gives the revision: the first. */
	json_object_set_new(want, "revision", json_integer(1));
	if (!json_equal(want, json_object_get(got, "template")))
		fail_msg("stored template differs:\n%s", out);
	json_decref(want);
	json_decref(got);

	/*
	 * What `--json template show` printed goes back in as it is: the same
	 * template, so nothing reset and no new revision.
	 */
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, out, strlen(out)), (ssize_t)strlen(out));
	close(fd);
	free(out);
	free(err);
	assert_int_equal(berth_cli(&proc, &out, &err, "template", "add", "--from-json", path, NULL),
	    0);
	assert_string_equal(out, "Template 'cli-json' replaced.\n");
	free(out);
	free(err);
	unlink(path);
	assert_int_equal(berth_cli(&proc, &out, &err, "--json", "template", "history", "cli-json",
			     NULL),
	    0);
	got = parse_json(out);
	assert_int_equal(json_array_size(json_object_get(got, "revisions")), 1);
	json_decref(got);
	free(out);
	free(err);

	assert_int_equal(berth_cli(&proc, &out, &err, "template", "rm", "cli-json", NULL), 0);
	free(out);
	free(err);
}

static void
test_template_rm_of_unknown_is_not_found(void **state)
{
	char *out, *err;

	(void)state;
	assert_int_equal(berth_cli(&proc, &out, &err, "template", "rm", "nope", NULL), 3);
	assert_starts_with(err,
	    "berth: NOT_FOUND: Template 'nope' not found. Available templates: ");
	assert_contains(err, "buckets");
	assert_string_equal(out, "");
	free(out);
	free(err);

	/* With --json too, errors are the stderr line and stdout stays empty. */
	assert_int_equal(berth_cli(&proc, &out, &err, "--json", "template", "show", "nope", NULL), 3);
	assert_starts_with(err, "berth: NOT_FOUND: ");
	assert_string_equal(out, "");
	free(out);
	free(err);
}

static void
test_invalid_name_is_invalid_argument(void **state)
{
	char *out, *err;

	(void)state;
	assert_int_equal(berth_cli(&proc, &out, &err, "template", "show", "Not-Valid", NULL), 2);
	assert_starts_with(err, "berth: INVALID_ARGUMENT: ");
	assert_contains(err, "(field: name)");
	free(out);
	free(err);
	assert_int_equal(berth_cli(&proc, &out, &err, "template", "add", "ok", "--image", "nginx",
			     "--port-range", "9000", "--mount", "relative/path", NULL),
	    2);
	assert_starts_with(err, "berth: INVALID_ARGUMENT: ");
	assert_contains(err, "(field: template.mount_path)");
	free(out);
	free(err);
}

static void
test_unknown_command_is_a_usage_error(void **state)
{
	char *out, *err;

	(void)state;
	assert_int_equal(berth_cli(&proc, &out, &err, "frobnicate", NULL), 1);
	assert_contains(err, "unknown command 'frobnicate'");
	assert_contains(err, "Usage: berth");
	free(out);
	free(err);
}

static void
test_unreachable_server_is_unavailable(void **state)
{
	const char *const argv[] = { "--url", "ipc:///nonexistent/x.sock", "health", NULL };
	char *out, *err;

	(void)state;
	assert_int_equal(berth_cli_argv(argv, &out, &err), 7);
	assert_starts_with(err, "berth: UNAVAILABLE: ");
	free(out);
	free(err);
}

/*
 * RPCs that other work may or may not have implemented yet: each either
 * works (exit 0, and --json then prints one object) or exits 8 saying
 * UNIMPLEMENTED. Only registry-backed ones: no Docker needed.
 */
static void
test_other_rpcs_work_or_say_unimplemented(void **state)
{
	static const char *const commands[][2] = {
		{ "stats", NULL }, { "status", NULL }, { "ls", NULL }, { "ls", "-q" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		char *out, *err;
		int rc = berth_cli(&proc, &out, &err, commands[i][0], commands[i][1], NULL);

		if (rc == 8) {
			assert_starts_with(err, "berth: UNIMPLEMENTED: ");
		} else {
			assert_int_equal(rc, 0);
			assert_no_trailing_spaces(out);
			if (strcmp(commands[i][0], "ls") == 0)
				assert_string_equal(out, commands[i][1] ? "" : "No services.\n");
		}
		free(out);
		free(err);

		if (commands[i][1] != NULL)
			continue;
		rc = berth_cli(&proc, &out, &err, "--json", commands[i][0], NULL);
		if (rc == 0)
			json_decref(parse_json(out));
		else
			assert_int_equal(rc, 8);
		free(out);
		free(err);
	}
}

/*
 * The engine backend has no nodes: both node RPCs answer FAILED_PRECONDITION
 * (exit 2) saying so; a bad availability is INVALID_ARGUMENT before that.
 */
static void
test_nodes_need_the_swarm_backend(void **state)
{
	Berth__V1__SetNodeAvailabilityRequest set = BERTH__V1__SET_NODE_AVAILABILITY_REQUEST__INIT;
	Berth__V1__ListNodesRequest list = BERTH__V1__LIST_NODES_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	berth_client *c;
	berth_status st;
	char *out, *err;

	(void)state;
	assert_int_equal(berth_cli(&proc, &out, &err, "nodes", NULL), 2);
	assert_contains(err, "FAILED_PRECONDITION");
	assert_contains(err, "nodes need --backend swarm");
	free(out);
	free(err);
	assert_int_equal(berth_cli(&proc, &out, &err, "node", "drain", "some-node", NULL), 2);
	assert_contains(err, "nodes need --backend swarm");
	free(out);
	free(err);

	assert_int_equal(berth_open(&c, proc.url, NULL, &st), 0);
	assert_int_equal(berth_call(c, "ListNodes", &list.base, &reply, &st),
	    BERTH__V1__CODE__FAILED_PRECONDITION);
	set.node = "some-node";
	set.availability = "drain";
	assert_int_equal(berth_call(c, "SetNodeAvailability", &set.base, &reply, &st),
	    BERTH__V1__CODE__FAILED_PRECONDITION);
	assert_contains(st.message, "nodes need --backend swarm");
	set.availability = "drained";
	assert_int_equal(berth_call(c, "SetNodeAvailability", &set.base, &reply, &st),
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_contains(st.message, "active, pause or drain");
	set.availability = "active";
	set.node = "";
	assert_int_equal(berth_call(c, "SetNodeAvailability", &set.base, &reply, &st),
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_null(reply);
	berth_close(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_health_says_serving),
		cmocka_unit_test(test_nodes_need_the_swarm_backend),
		cmocka_unit_test(test_templates_lists_the_five_seed_templates),
		cmocka_unit_test(test_json_templates_is_one_object_with_the_proto_field_names),
		cmocka_unit_test(test_template_add_then_show_round_trips),
		cmocka_unit_test(test_template_add_takes_limits_and_swarm_fields),
		cmocka_unit_test(test_template_add_takes_restart_policy_and_health_check),
		cmocka_unit_test(test_template_add_from_json_round_trips),
		cmocka_unit_test(test_template_rm_of_unknown_is_not_found),
		cmocka_unit_test(test_invalid_name_is_invalid_argument),
		cmocka_unit_test(test_unknown_command_is_a_usage_error),
		cmocka_unit_test(test_unreachable_server_is_unavailable),
		cmocka_unit_test(test_other_rpcs_work_or_say_unimplemented),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
