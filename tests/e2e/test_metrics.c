/*
 * test_metrics.c - berthd's HTTP endpoint (--metrics-listen): /metrics is
 * read by a strict parser of the Prometheus text format 0.0.4 and must
 * count exactly the calls made, /healthz says 200 while serving and 503
 * once the shutdown has begun.
 *
 * A real berthd, the real Docker engine and the demo image (built from
 * $BUILD/demo, as in test_lifecycle.c); every container of the run is
 * removed in the group teardown.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "berth.h"
#include "e2e.h"
#include "clock.h"
#include "http.h"


static struct e2e_daemon dmn;
static uint16_t metrics_port;
static uint16_t base_port;

/* --- a parser of the text exposition format -------------------------------- */

/*
 * A malformed page fails the test, unless parse_trap is set: then the
 * parser jumps there (the parser's own test feeds it bad pages).
 */
static jmp_buf *parse_trap;

#define parse_fail(...)                              \
	do {                                         \
		if (parse_trap != NULL)              \
			longjmp(*parse_trap, 1);     \
		fail_msg(__VA_ARGS__);               \
	} while (0)

struct sample {
	char name[128];
	char labels[512]; /* "k=v,k=v" as printed, values unescaped */
	double value;
};

struct family {
	char name[128];
	char type[16];
	bool help, closed;
};

struct page {
	struct sample *samples;
	size_t n, cap;
	struct family families[64];
	size_t n_families;
};

static bool
is_name_start(char c, bool colon)
{
	return isalpha((unsigned char)c) || c == '_' || (colon && c == ':');
}

static bool
is_name_char(char c, bool colon)
{
	return is_name_start(c, colon) || isdigit((unsigned char)c);
}

/* Reads a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) or label name (no ':'). */
static const char *
read_name(const char *p, char *out, size_t len, bool colon, const char *line)
{
	size_t n = 0;

	if (!is_name_start(*p, colon))
		parse_fail("bad name at \"%s\" in line: %s", p, line);
	while (is_name_char(*p, colon)) {
		if (n + 1 >= len)
			parse_fail("name too long in line: %s", line);
		out[n++] = *p++;
	}
	out[n] = '\0';
	return p;
}

static struct family *
family_find(struct page *pg, const char *name)
{
	for (size_t i = 0; i < pg->n_families; i++)
		if (strcmp(pg->families[i].name, name) == 0)
			return &pg->families[i];
	return NULL;
}

static struct family *
family_add(struct page *pg, const char *name, const char *line)
{
	struct family *f = family_find(pg, name);

	if (f != NULL)
		return f;
	if (pg->n_families == sizeof(pg->families) / sizeof(pg->families[0]))
		parse_fail("too many families at line: %s", line);
	f = &pg->families[pg->n_families++];
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	return f;
}

/* The family a sample belongs to: histograms own their _bucket, _sum, _count. */
static struct family *
family_of(struct page *pg, const char *name)
{
	static const char *const suffixes[] = { "_bucket", "_sum", "_count" };
	struct family *f;

	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(name), s = strlen(suffixes[i]);
		char base[128];

		if (n > s && strcmp(name + n - s, suffixes[i]) == 0) {
			snprintf(base, sizeof(base), "%.*s", (int)(n - s), name);
			if ((f = family_find(pg, base)) != NULL && strcmp(f->type, "histogram") == 0)
				return f;
		}
	}
	return family_find(pg, name);
}

/* "# HELP name text": text may only use the escapes \\ and \n. */
static void
parse_help(struct page *pg, const char *p, const char *line)
{
	char name[128];
	struct family *f;

	p = read_name(p, name, sizeof(name), true, line);
	if (*p != ' ' && *p != '\0')
		parse_fail("bad HELP line: %s", line);
	for (p = p[0] ? p + 1 : p; *p != '\0'; p++)
		if (*p == '\\' && (p[1] != '\\' && p[1] != 'n'))
			parse_fail("bad escape in HELP: %s", line);
		else if (*p == '\\')
			p++;
	f = family_add(pg, name, line);
	if (f->help)
		parse_fail("second HELP for %s", name);
	f->help = true;
}

static void
parse_type(struct page *pg, const char *p, const char *line)
{
	static const char *const types[] = { "counter", "gauge", "histogram", "summary", "untyped" };
	char name[128];
	struct family *f;
	bool known = false;

	p = read_name(p, name, sizeof(name), true, line);
	if (*p++ != ' ')
		parse_fail("bad TYPE line: %s", line);
	for (size_t i = 0; i < 5; i++)
		known = known || strcmp(p, types[i]) == 0;
	if (!known)
		parse_fail("unknown type in: %s", line);
	f = family_add(pg, name, line);
	if (f->type[0] != '\0')
		parse_fail("second TYPE for %s", name);
	for (size_t i = 0; i < pg->n; i++)
		if (family_of(pg, pg->samples[i].name) == f)
			parse_fail("TYPE after samples of %s", name);
	snprintf(f->type, sizeof(f->type), "%s", p);
}

/* name{label="value",...} value [timestamp] */
static void
parse_sample(struct page *pg, const char *p, const char *line, struct family **current)
{
	struct sample s = { 0 };
	size_t used = 0;
	struct family *f;
	char *end;

	p = read_name(p, s.name, sizeof(s.name), true, line);
	if (*p == '{') {
		p++;
		while (*p != '}') {
			char lname[128];

			p = read_name(p, lname, sizeof(lname), false, line);
			if (*p++ != '=' || *p++ != '"')
				parse_fail("bad label in: %s", line);
			used += (size_t)snprintf(s.labels + used, sizeof(s.labels) - used, "%s%s=",
			    used ? "," : "", lname);
			for (; *p != '"'; p++) {
				char c = *p;

				if (c == '\0')
					parse_fail("unterminated label value in: %s", line);
				if (c == '\\') {
					p++;
					if (*p == 'n')
						c = '\n';
					else if (*p == '\\' || *p == '"')
						c = *p;
					else
						parse_fail("bad escape in label value: %s", line);
				}
				if (used + 2 < sizeof(s.labels)) {
					s.labels[used++] = c;
					s.labels[used] = '\0';
				}
			}
			p++;
			if (*p == ',')
				p++;
			else if (*p != '}')
				parse_fail("expected , or } in: %s", line);
		}
		p++;
	}
	/* Tokens are separated by one or more blanks or tabs. */
	if (*p != ' ' && *p != '\t')
		parse_fail("no blank before the value in: %s", line);
	p += strspn(p, " \t");
	if (strncmp(p, "+Inf", 4) == 0 || strncmp(p, "-Inf", 4) == 0 || strncmp(p, "NaN", 3) == 0) {
		s.value = p[0] == 'N' ? NAN : p[0] == '-' ? -INFINITY : INFINITY;
		end = (char *)p + (p[0] == 'N' ? 3 : 4);
	} else {
		s.value = strtod(p, &end);
		if (end == p || isalpha((unsigned char)*p))
			parse_fail("bad value in: %s", line);
	}
	if (*end == ' ' || *end == '\t') { /* an optional timestamp: an integer */
		p = end + strspn(end, " \t");
		if (*p == '-')
			p++;
		if (!isdigit((unsigned char)*p))
			parse_fail("bad timestamp in: %s", line);
		while (isdigit((unsigned char)*p))
			p++;
		end = (char *)p;
	}
	if (*end != '\0')
		parse_fail("trailing text in: %s", line);

	/* Every sample belongs to a declared family, and families are not split. */
	if ((f = family_of(pg, s.name)) == NULL || f->type[0] == '\0')
		parse_fail("sample without TYPE: %s", line);
	if (f->closed)
		parse_fail("family %s is split: %s", f->name, line);
	if (*current != NULL && *current != f)
		(*current)->closed = true;
	*current = f;
	if (strcmp(f->type, "histogram") == 0 && strcmp(s.name + strlen(f->name), "_bucket") == 0 &&
	    strstr(s.labels, "le=") == NULL)
		parse_fail("bucket without le: %s", line);

	if (pg->n == pg->cap) {
		pg->cap = pg->cap ? pg->cap * 2 : 64;
		pg->samples = realloc(pg->samples, pg->cap * sizeof(*pg->samples));
		assert_non_null(pg->samples);
	}
	pg->samples[pg->n++] = s;
}

/* Parses every line of `text`, failing the test on the first that is not valid. */
static void
parse_page(const char *text, struct page *pg)
{
	struct family *current = NULL;
	const char *p = text;

	memset(pg, 0, sizeof(*pg));
	if (strlen(text) == 0 || text[strlen(text) - 1] != '\n')
		parse_fail("the page does not end with a newline");
	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		char line[2048];

		if ((size_t)(nl - p) >= sizeof(line))
			parse_fail("line too long");
		memcpy(line, p, (size_t)(nl - p));
		line[nl - p] = '\0';
		p = nl + 1;
		if (line[0] == '\0')
			continue;
		if (strncmp(line, "# HELP ", 7) == 0)
			parse_help(pg, line + 7, line);
		else if (strncmp(line, "# TYPE ", 7) == 0)
			parse_type(pg, line + 7, line);
		else if (line[0] == '#')
			continue; /* a comment */
		else
			parse_sample(pg, line, line, &current);
	}
}

static void
page_free(struct page *pg)
{
	free(pg->samples);
	memset(pg, 0, sizeof(*pg));
}

/* The value of name{labels}; fails the test when the page has no such sample. */
static double
value_of(const struct page *pg, const char *name, const char *labels)
{
	for (size_t i = 0; i < pg->n; i++)
		if (strcmp(pg->samples[i].name, name) == 0 &&
		    strcmp(pg->samples[i].labels, labels) == 0)
			return pg->samples[i].value;
	fail_msg("no sample %s{%s}", name, labels);
	return 0;
}

/*
 * The value of a counter's sample, 0 when it has none yet: a counter's
 * series appears at its first increment. Only for "before" pictures.
 */
static double
counter_or_zero(const struct page *pg, const char *name, const char *labels)
{
	for (size_t i = 0; i < pg->n; i++)
		if (strcmp(pg->samples[i].name, name) == 0 &&
		    strcmp(pg->samples[i].labels, labels) == 0)
			return pg->samples[i].value;
	return 0;
}

static bool
has_sample(const struct page *pg, const char *name, const char *labels)
{
	for (size_t i = 0; i < pg->n; i++)
		if (strcmp(pg->samples[i].name, name) == 0 &&
		    strcmp(pg->samples[i].labels, labels) == 0)
			return true;
	return false;
}

/* GET /metrics, parsed. */
static void
fetch(struct page *pg)
{
	char *body = NULL;

	assert_int_equal(http_get(metrics_port, "/metrics", 3000, &body), 200);
	assert_non_null(body);
	parse_page(body, pg);
	free(body);
}

/* --- helpers ------------------------------------------------------------------ */

static int
call(const char *method, const ProtobufCMessage *req, berth_status *st)
{
	ProtobufCMessage *reply = NULL;
	int rc = berth_call(dmn.client, method, req, &reply, st);

	berth_reply_free(reply);
	return rc;
}

static int
put_template(const char *name, const char *mount, char **env, size_t n_env, uint32_t start,
    uint32_t end, uint32_t stop_timeout_s)
{
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	berth_status st;

	if (e2e_demo_context() == NULL)
		return -1;
	e2e_demo_template(&t, name, (uint16_t)start, (uint16_t)end);
	t.mount_path = (char *)mount;
	t.env = env;
	t.n_env = n_env;
	t.stop_timeout_s = stop_timeout_s;
	if (e2e_put_template(dmn.client, &t, &st) != 0) {
		fprintf(stderr, "PutTemplate %s: %s\n", name, st.message);
		return -1;
	}
	return 0;
}

static int
launch(const char *template_name, berth_status *st)
{
	Berth__V1__LaunchServiceResponse *r = e2e_launch(dmn.client, template_name, "", 0, st);

	if (r == NULL)
		return st->code != 0 ? st->code : -1;
	berth_reply_free(&r->base);
	return 0;
}

/* --- fixture --------------------------------------------------------------- */

static int
setup_group(void **state)
{
	char url[64];
	char *env[] = { "DEMO_DIR=/data" };
	const char *args[] = { "--metrics-listen", url, NULL };

	(void)state;
	metrics_port = e2e_free_port();
	base_port = (uint16_t)(30000 + (getpid() % 100) * 20);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", metrics_port);
	if (metrics_port == 0 || e2e_docker() == NULL)
		return -1;
	if (e2e_daemon_start(&dmn, args) != 0)
		return -1;
	return put_template("metrics_demo", "/data", env, 1, base_port, base_port + 9, 2);
}

static int
teardown_group(void **state)
{
	(void)state;
	e2e_daemon_destroy(&dmn, true);
	return 0;
}

/* --- tests ----------------------------------------------------------------- */

/* The parser itself: strict enough to be worth trusting. */
static void
test_the_parser_rejects_what_the_format_forbids(void **state)
{
	static const char *const good[] = {
		"# HELP a_b help with \\\\ and \\n\n# TYPE a_b counter\na_b 1\n",
		"# TYPE a gauge\na{x=\"1\",y=\"q\\\"\\\\\\n\"} -2.5e3 1700000000\n\n# free comment\n",
		"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 0.5\nh_count 1\n",
		"# TYPE a:b untyped\na:b{x=\"\",} NaN\n",
		"# TYPE a counter\na \t 1\t 17\n",
	};
	static const char *const bad[] = {
		"# TYPE a counter\na 1",                     /* no final newline */
		"a 1\n",                                      /* no TYPE */
		"# TYPE 1a counter\n1a 1\n",                 /* name starts with a digit */
		"# TYPE a counter\na{1x=\"v\"} 1\n",        /* label name */
		"# TYPE a counter\na{x=\"v} 1\n",            /* unterminated value */
		"# TYPE a counter\na{x=\"\\t\"} 1\n",      /* unknown escape */
		"# TYPE a counter\na{x=v} 1\n",              /* unquoted value */
		"# TYPE a counter\na one\n",                 /* value */
		"# TYPE a counter\na 1 2 3\n",               /* trailing text */
		"# TYPE a counter\na1\n",                    /* no blank */
		"# TYPE a counter\na{x=\"v\"}1\n",          /* no blank after labels */
		"# TYPE a sometimes\na 1\n",                 /* type */
		"# TYPE a counter\n# TYPE a counter\na 1\n", /* second TYPE */
		"# TYPE a counter\na 1\n# TYPE a gauge\n",   /* TYPE after samples */
		"# HELP a x \\q\n# TYPE a counter\na 1\n",    /* HELP escape */
		"# TYPE h histogram\nh_bucket 1\n",          /* bucket without le */
		"# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na 2\n", /* split family */
	};
	struct page pg;
	jmp_buf trap;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		parse_page(good[i], &pg);
		page_free(&pg);
	}
	parse_trap = &trap;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		volatile bool rejected = false;

		memset(&pg, 0, sizeof(pg));
		if (setjmp(trap) == 0)
			parse_page(bad[i], &pg);
		else
			rejected = true;
		page_free(&pg);
		if (!rejected) {
			parse_trap = NULL;
			fail_msg("accepted a bad page: %s", bad[i]);
		}
	}
	parse_trap = NULL;
}

static void
test_healthz_says_ok_while_serving(void **state)
{
	char *body = NULL;

	(void)state;
	assert_int_equal(http_get(metrics_port, "/healthz", 3000, &body), 200);
	assert_string_equal(body, "ok\n");
	free(body);
	assert_int_equal(http_get(metrics_port, "/nothing-here", 3000, &body), 404);
	free(body);
}

static void
test_every_line_parses_and_every_family_is_declared(void **state)
{
	static const struct {
		const char *name, *type;
	} expected[] = {
		{ "berth_rpc_requests_total", "counter" },
		{ "berth_rpc_duration_seconds", "histogram" },
		{ "berth_services", "gauge" },
		{ "berth_template_ports_used", "gauge" },
		{ "berth_template_ports_capacity", "gauge" },
		{ "berth_docker_errors_total", "counter" },
		{ "berth_docker_event_reconnects_total", "counter" },
		{ "berth_engine_info", "gauge" },
	};
	Berth__V1__HealthRequest health = BERTH__V1__HEALTH_REQUEST__INIT;
	const char *engine = getenv("BERTH_TEST_ENGINE");
	char want[32];
	berth_status st;
	struct page pg;
	bool engine_named = false;

	(void)state;
	assert_int_equal(call("Health", &health.base, &st), 0); /* Docker has answered */
	fetch(&pg);
	/* berth_engine_info{engine="docker 20.10.24"} (or "podman ..."). */
	snprintf(want, sizeof(want), "engine=%s ", engine != NULL ? engine : "docker");
	for (size_t i = 0; i < pg.n; i++)
		if (strcmp(pg.samples[i].name, "berth_engine_info") == 0 &&
		    strncmp(pg.samples[i].labels, want, strlen(want)) == 0)
			engine_named = true;
	assert_true(engine_named);
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
		struct family *f = family_find(&pg, expected[i].name);

		if (f == NULL)
			fail_msg("no family %s", expected[i].name);
		assert_true(f->help);
		assert_string_equal(f->type, expected[i].type);
	}
	assert_true(has_sample(&pg, "berth_docker_errors_total", ""));
	assert_true(has_sample(&pg, "berth_docker_event_reconnects_total", ""));
	/* The seed templates are there, with their 100 ports each (migration 007). */
	assert_true(value_of(&pg, "berth_template_ports_capacity", "template=buckets") == 100);
	page_free(&pg);
}

static void
test_rpc_counters_count_exactly_the_calls_made(void **state)
{
	Berth__V1__ListTemplatesRequest list = BERTH__V1__LIST_TEMPLATES_REQUEST__INIT;
	Berth__V1__GetTemplateRequest get = BERTH__V1__GET_TEMPLATE_REQUEST__INIT;
	struct page before, after;
	berth_status st;

	(void)state;
	fetch(&before);
	assert_int_equal(call("ListTemplates", &list.base, &st), 0);
	assert_int_equal(call("ListTemplates", &list.base, &st), 0);
	get.name = "no_such_template";
	assert_int_equal(call("GetTemplate", &get.base, &st), BERTH__V1__CODE__NOT_FOUND);
	fetch(&after);

	assert_true(value_of(&after, "berth_rpc_requests_total", "method=ListTemplates,code=OK") -
		counter_or_zero(&before, "berth_rpc_requests_total", "method=ListTemplates,code=OK") ==
	    2);
	assert_true(
	    value_of(&after, "berth_rpc_requests_total", "method=GetTemplate,code=NOT_FOUND") -
		counter_or_zero(&before, "berth_rpc_requests_total",
		    "method=GetTemplate,code=NOT_FOUND") ==
	    1);
	assert_false(has_sample(&after, "berth_rpc_requests_total", "method=GetTemplate,code=OK"));
	assert_true(value_of(&after, "berth_rpc_duration_seconds_count", "method=ListTemplates") -
		counter_or_zero(&before, "berth_rpc_duration_seconds_count", "method=ListTemplates") ==
	    2);
	assert_true(value_of(&after, "berth_rpc_duration_seconds_count", "method=GetTemplate") -
		counter_or_zero(&before, "berth_rpc_duration_seconds_count", "method=GetTemplate") ==
	    1);
	/* The call took some microseconds: the sum grew by them. */
	assert_true(value_of(&after, "berth_rpc_duration_seconds_sum", "method=GetTemplate") >
	    counter_or_zero(&before, "berth_rpc_duration_seconds_sum", "method=GetTemplate"));
	page_free(&before);
	page_free(&after);
}

/* Copies labels without the le pair: the key of one histogram series. */
static void
series_key(const char *labels, char *out, size_t len)
{
	const char *le = strstr(labels, "le=");
	const char *end = le != NULL ? strchr(le, ',') : NULL;

	if (le == NULL) {
		snprintf(out, len, "%s", labels);
		return;
	}
	snprintf(out, len, "%.*s%s", (int)(le - labels), labels, end != NULL ? end + 1 : "");
	if (out[0] != '\0' && out[strlen(out) - 1] == ',')
		out[strlen(out) - 1] = '\0';
}

static void
test_histogram_buckets_are_cumulative_and_inf_equals_count(void **state)
{
	struct page pg;
	size_t series = 0;

	(void)state;
	fetch(&pg);
	for (size_t i = 0; i < pg.n; i++) {
		char key[512], other[512], count_name[160];
		double previous_le = -INFINITY, previous = 0, inf = -1;
		const struct sample *s = &pg.samples[i];

		if (strcmp(s->name, "berth_rpc_duration_seconds_bucket") != 0)
			continue;
		series_key(s->labels, key, sizeof(key));
		/* Only at the first bucket of each series. */
		if (i > 0 && strcmp(pg.samples[i - 1].name, s->name) == 0) {
			series_key(pg.samples[i - 1].labels, other, sizeof(other));
			if (strcmp(key, other) == 0)
				continue;
		}
		series++;
		for (size_t j = i; j < pg.n && strcmp(pg.samples[j].name, s->name) == 0; j++) {
			const char *le = strstr(pg.samples[j].labels, "le=") + 3;
			double bound = strcmp(le, "+Inf") == 0 || strncmp(le, "+Inf,", 5) == 0
			    ? INFINITY
			    : strtod(le, NULL);

			series_key(pg.samples[j].labels, other, sizeof(other));
			if (strcmp(key, other) != 0)
				break;
			assert_true(bound > previous_le);
			assert_true(pg.samples[j].value >= previous);
			previous_le = bound;
			previous = pg.samples[j].value;
			if (isinf(bound))
				inf = pg.samples[j].value;
		}
		assert_true(isinf(previous_le)); /* the last bucket is +Inf */
		snprintf(count_name, sizeof(count_name), "berth_rpc_duration_seconds_count");
		assert_true(has_sample(&pg, count_name, key));
		assert_true(has_sample(&pg, "berth_rpc_duration_seconds_sum", key));
		assert_true(inf == value_of(&pg, count_name, key));
	}
	assert_true(series >= 2);
	page_free(&pg);
}

static void
test_service_and_port_gauges_follow_a_launch(void **state)
{
	struct page pg;
	berth_status st;

	(void)state;
	if (launch("metrics_demo", &st) != 0)
		fail_msg("launch: %s: %s", berth_code_name(st.code), st.message);
	fetch(&pg);
	assert_true(value_of(&pg, "berth_services", "template=metrics_demo,status=running") == 1);
	assert_true(value_of(&pg, "berth_template_ports_used", "template=metrics_demo") == 1);
	assert_true(value_of(&pg, "berth_template_ports_capacity", "template=metrics_demo") == 10);
	page_free(&pg);
	e2e_remove_all_services(dmn.client);
	fetch(&pg);
	assert_false(has_sample(&pg, "berth_services", "template=metrics_demo,status=running"));
	assert_true(value_of(&pg, "berth_template_ports_used", "template=metrics_demo") == 0);
	page_free(&pg);
}

static void
test_docker_failures_are_counted(void **state)
{
	Berth__V1__DeleteTemplateRequest del = BERTH__V1__DELETE_TEMPLATE_REQUEST__INIT;
	struct page before, after;
	berth_status st;

	(void)state;
	/* A directory mounted over the image's only file: Docker's start fails. */
	assert_int_equal(put_template("metrics_broken", "/berth-demo", NULL, 0, base_port + 10,
			     base_port + 19, 2),
	    0);
	fetch(&before);
	assert_int_not_equal(launch("metrics_broken", &st), 0);
	fetch(&after);
	assert_true(value_of(&after, "berth_docker_errors_total", "") >
	    value_of(&before, "berth_docker_errors_total", ""));
	assert_true(
	    counter_or_zero(&after, "berth_rpc_requests_total", "method=LaunchService,code=OK") ==
	    counter_or_zero(&before, "berth_rpc_requests_total", "method=LaunchService,code=OK"));
	page_free(&before);
	page_free(&after);
	del.name = "metrics_broken";
	assert_int_equal(call("DeleteTemplate", &del.base, &st), 0);
}

/* GET /healthz once; true when it says 503 "shutting down". */
static bool
healthz_says_503(void *arg)
{
	int *status = arg;
	char *body = NULL;
	bool said;

	*status = http_get(metrics_port, "/healthz", 0, &body);
	said = *status == 503;
	if (said)
		assert_string_equal(body, "shutting down\n");
	free(body);
	return said;
}

/*
 * A container that ignores SIGTERM keeps the shutdown busy for its stop
 * timeout: meanwhile /healthz must answer 503. Runs last: berthd is gone after.
 */
static void
test_healthz_says_503_while_shutting_down(void **state)
{
	char *env[] = { "DEMO_DIR=/data", "DEMO_IGNORE_SIGTERM=1" };
	berth_status st;
	int status = -1;

	(void)state;
	assert_int_equal(
	    put_template("metrics_stubborn", "/data", env, 2, base_port + 10, base_port + 19, 4), 0);
	if (launch("metrics_stubborn", &st) != 0)
		fail_msg("launch: %s: %s", berth_code_name(st.code), st.message);
	berth_close(dmn.client);
	dmn.client = NULL;
	kill(dmn.proc.pid, SIGTERM);
	if (!e2e_wait_until(healthz_says_503, &status, 3000))
		fail_msg("/healthz never said 503 during the shutdown (last status %d)", status);
	assert_int_equal(berthd_proc_stop(&dmn.proc, 30), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_the_parser_rejects_what_the_format_forbids),
		cmocka_unit_test(test_healthz_says_ok_while_serving),
		cmocka_unit_test(test_every_line_parses_and_every_family_is_declared),
		cmocka_unit_test(test_rpc_counters_count_exactly_the_calls_made),
		cmocka_unit_test(test_histogram_buckets_are_cumulative_and_inf_equals_count),
		cmocka_unit_test(test_service_and_port_gauges_follow_a_launch),
		cmocka_unit_test(test_docker_failures_are_counted),
		cmocka_unit_test(test_healthz_says_503_while_shutting_down),
	};

	return cmocka_run_group_tests_name("metrics", tests, setup_group, teardown_group);
}
