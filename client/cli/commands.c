/*
 * commands.c - one small function per command of `berth`, each a client of
 * one RPC, and the command table that cli.c dispatches on.
 *
 * Every command parses its words, checks locally what berthd would refuse
 * anyway (so the error is the same, without a round trip), calls the RPC
 * and prints the reply: as JSON with --json, otherwise for humans. Every
 * reply is freed here with berth_reply_free().
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "json.h"
#include "table.h"
#include "term.h"
#include "validate.h"

#define TABLE_GAP 3

typedef int (*print_fn)(struct cli *cli, const ProtobufCMessage *reply, const void *arg);

static int
out_of_memory(struct cli *cli)
{
	return cli_fail(cli, BERTH__V1__CODE__RESOURCE_EXHAUSTED, NULL, "out of memory");
}

/* A failed local check, reported exactly as berthd would report it. */
static int
invalid(struct cli *cli, const struct validation_error *err)
{
	cli_fail(cli, BERTH__V1__CODE__INVALID_ARGUMENT, err->field, "%s", err->message);
	snprintf(cli->status.reason, sizeof(cli->status.reason), "%s", err->reason);
	return BERTH__V1__CODE__INVALID_ARGUMENT;
}

static int
check_name(struct cli *cli, const char *field, const char *name)
{
	struct validation_error err;

	return validate_name(field, name, &err) != 0 ? invalid(cli, &err) : 0;
}

/* Calls the RPC and prints its reply as JSON or with `print`. */
static int
call_and_print(struct cli *cli, const char *method, const ProtobufCMessage *request,
    print_fn print, const void *arg)
{
	ProtobufCMessage *reply;
	int rc;

	if ((rc = cli_call(cli, method, request, &reply)) != 0)
		return rc;
	rc = cli->json ? cli_print_json(cli, reply) : print(cli, reply, arg);
	berth_reply_free(reply);
	return rc;
}

/*
 * --watch [SEC] and the hidden --watch-count N (for tests and scripts: stop
 * after N snapshots; implies --watch). Commands that take them add
 * WATCH_OPTIONS to their option table.
 */
#define WATCH_DEFAULT_S 2

struct watch {
	uint32_t interval_s;
	uint32_t count;
};

#define WATCH_OPTIONS(w)                                           \
	{ "--watch", CLI_OPT_OPTIONAL_UINT, &(w)->interval_s },    \
	    { "--watch-count", CLI_OPT_UINT, &(w)->count }

struct snapshot {
	const char *method;
	const ProtobufCMessage *request;
	print_fn print;
	const void *arg;
};

static int
take_snapshot(struct cli *cli, void *arg)
{
	const struct snapshot *s = arg;

	return call_and_print(cli, s->method, s->request, s->print, s->arg);
}

/* True when the parsed `opts` had --watch or --watch-count. */
static bool
watch_requested(const struct cli_opt *opts)
{
	for (const struct cli_opt *o = opts; o->name != NULL; o++)
		if (o->seen && strncmp(o->name, "--watch", 7) == 0)
			return true;
	return false;
}

/*
 * call_and_print, once or (when `opts` had --watch or --watch-count) every
 * few seconds until interrupted.
 */
static int
call_and_print_watched(struct cli *cli, const struct cli_command *cmd,
    const struct cli_opt *opts, const struct watch *w, const char *method,
    const ProtobufCMessage *request, print_fn print, const void *arg)
{
	struct snapshot s = { method, request, print, arg };
	char title[64];

	if (!watch_requested(opts))
		return call_and_print(cli, method, request, print, arg);
	if (w->interval_s == 0)
		return cli_usage_error(cli, cmd, "--watch takes a number of seconds of at least 1");
	snprintf(title, sizeof(title), "berth %s", cmd->name);
	return cli_watch(cli, title, w->interval_s, w->count, take_snapshot, &s);
}

/* ---------------------------------------------------------------------------
 * Output helpers
 */

/* A malloc'ed printf. */
static char * __attribute__((format(printf, 1, 0)))
vformat(const char *fmt, va_list ap)
{
	va_list copy;
	char *s;
	int n;

	va_copy(copy, ap);
	n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n < 0 || (s = malloc((size_t)n + 1)) == NULL)
		return NULL;
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	return s;
}

/* Finishes a table: prints it, frees it, turns a failure into a status. */
static int
table_end(struct cli *cli, struct cli_table *t)
{
	int rc = t != NULL ? cli_table_print(t, cli->out) : -1;

	cli_table_free(t);
	if (rc != 0)
		return ferror(cli->out) ? cli_fail(cli, BERTH__V1__CODE__INTERNAL, NULL,
					      "cannot write the output")
					: out_of_memory(cli);
	return 0;
}

/* "key: value" lines with the values aligned: a two-column table. */
static struct cli_table *
kv_begin(void)
{
	struct cli_table *t;

	return cli_table_new(&t, 2, 1) == 0 ? t : NULL;
}

static void __attribute__((format(printf, 3, 4)))
kv_add(struct cli_table *t, const char *key, const char *fmt, ...)
{
	char label[64];
	char *value;
	va_list ap;

	if (t == NULL)
		return;
	snprintf(label, sizeof(label), "%s:", key);
	va_start(ap, fmt);
	value = vformat(fmt, ap);
	va_end(ap);
	if (value == NULL)
		cli_table_fail(t);
	else
		cli_table_addv(t, label, value);
	free(value);
}

/* As kv_add with a value built by the caller; NULL (out of memory) fails the table. */
static void
kv_add_owned(struct cli_table *t, const char *key, char *value)
{
	if (value == NULL && t != NULL)
		cli_table_fail(t);
	else
		kv_add(t, key, "%s", value);
	free(value);
}

/* "a, b, c"; `none` when the list is empty. Caller frees. */
static char *
join(char *const *items, size_t n, const char *none)
{
	size_t len = 1;
	char *s;

	if (n == 0)
		return strdup(none);
	for (size_t i = 0; i < n; i++)
		len += strlen(items[i]) + 2;
	if ((s = malloc(len)) == NULL)
		return NULL;
	s[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			strcat(s, ", ");
		strcat(s, items[i]);
	}
	return s;
}

/* A command line as a shell would need it typed: 'quoted' where necessary. */
static char *
shell_join(char *const *words, size_t n)
{
	size_t len = 1;
	char *s, *p;

	for (size_t i = 0; i < n; i++)
		len += strlen(words[i]) * 4 + 3;
	if ((s = malloc(len)) == NULL)
		return NULL;
	p = s;
	for (size_t i = 0; i < n; i++) {
		const char *w = words[i];
		bool plain = w[0] != '\0' &&
		    strspn(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			      "_-./:=@%+,") == strlen(w);

		if (i > 0)
			*p++ = ' ';
		if (plain) {
			p = stpcpy(p, w);
			continue;
		}
		*p++ = '\'';
		for (; *w != '\0'; w++) {
			if (*w == '\'')
				p = stpcpy(p, "'\\''"); /* close, escaped quote, reopen */
			else
				*p++ = *w;
		}
		*p++ = '\'';
	}
	*p = '\0';
	return s;
}

/* "8000+" for an open range, "8000-8099", or "8000" for one port. */
static void
format_port_range(char *buf, size_t size, uint32_t start, uint32_t end)
{
	if (end == 0)
		snprintf(buf, size, "%u+", start);
	else if (end == start)
		snprintf(buf, size, "%u", start);
	else
		snprintf(buf, size, "%u-%u", start, end);
}

/* Ascending ports with runs folded: "8000-8002, 8010". Caller frees. */
static char *
format_port_list(const uint32_t *ports, size_t n)
{
	char *s = malloc(n * 24 + 8), *p = s;

	if (s == NULL)
		return NULL;
	if (n == 0)
		return strcpy(s, "none");
	for (size_t i = 0; i < n;) {
		size_t j = i;

		while (j + 1 < n && ports[j + 1] == ports[j] + 1)
			j++;
		p += sprintf(p, "%s%u", i > 0 ? ", " : "", ports[i]);
		if (j > i)
			p += sprintf(p, "-%u", ports[j]);
		i = j + 1;
	}
	return s;
}

static void
format_bytes(char *buf, size_t size, uint64_t bytes)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)bytes;
	int u = -1;

	if (bytes < 1024) {
		snprintf(buf, size, "%llu B", (unsigned long long)bytes);
		return;
	}
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, size, "%.1f %s", v, units[u]);
}

static const char *
enum_name(const ProtobufCEnumDescriptor *e, int value)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(e, value);

	return v != NULL ? v->name : "?";
}

static const char *
dash_if_empty(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : "-";
}

/* ---------------------------------------------------------------------------
 * Shared printers
 */

static void
kv_template(struct cli_table *kv, const Berth__V1__Template *t)
{
	char ports[32];

	format_port_range(ports, sizeof(ports), t->port_range_start, t->port_range_end);
	kv_add(kv, "name", "%s", t->name);
	kv_add(kv, "description", "%s", t->description);
	kv_add(kv, "image", "%s", t->image);
	kv_add(kv, "build_context", "%s", t->build_context);
	kv_add(kv, "container_port", "%u", t->container_port);
	kv_add(kv, "port_range", "%s", ports);
	kv_add(kv, "mount_path", "%s", t->mount_path);
	if (t->n_env == 0)
		kv_add(kv, "env", "%s", "");
	for (size_t i = 0; i < t->n_env; i++)
		kv_add(kv, "env", "%s", t->env[i]);
	kv_add_owned(kv, "command", shell_join(t->command, t->n_command));
	kv_add(kv, "stop_timeout_s", "%u", t->stop_timeout_s);
	kv_add(kv, "cpu_limit", "%g", t->cpu_limit);
	kv_add(kv, "memory_limit_bytes", "%llu", (unsigned long long)t->memory_limit_bytes);
	kv_add(kv, "replicas", "%u", t->replicas);
	if (t->n_constraints == 0)
		kv_add(kv, "constraint", "%s", "");
	for (size_t i = 0; i < t->n_constraints; i++)
		kv_add(kv, "constraint", "%s", t->constraints[i]);
	kv_add(kv, "publish_mode", "%s", t->publish_mode);
}

static void
kv_service(struct cli_table *kv, const Berth__V1__Service *s)
{
	kv_add(kv, "service_id", "%s", s->service_id);
	kv_add(kv, "template", "%s", s->template_);
	kv_add(kv, "instance", "%s", s->instance);
	kv_add(kv, "status", "%s", s->status);
	kv_add(kv, "port", "%u", s->port);
	kv_add(kv, "url", "%s", s->url);
	kv_add(kv, "container_name", "%s", s->container_name);
	kv_add(kv, "container_id", "%s", s->container_id);
	kv_add(kv, "project_dir", "%s", s->project_dir);
	kv_add(kv, "created_at", "%s", s->created_at);
}

static void
kv_container(struct cli_table *kv, const Berth__V1__ContainerState *c)
{
	char used[32], limit[32];

	format_bytes(used, sizeof(used), c->memory_bytes);
	format_bytes(limit, sizeof(limit), c->memory_limit_bytes);
	kv_add(kv, "state", "%s", c->state);
	kv_add(kv, "exit_code", "%d", c->exit_code);
	kv_add(kv, "started_at", "%s", c->started_at);
	kv_add(kv, "finished_at", "%s", c->finished_at);
	kv_add(kv, "cpu", "%.1f%%", c->cpu_percent);
	if (c->memory_limit_bytes != 0)
		kv_add(kv, "memory", "%s / %s", used, limit);
	else
		kv_add(kv, "memory", "%s", used);
}

static int
print_services(struct cli *cli, Berth__V1__Service *const *services, size_t n)
{
	struct cli_table *t;

	if (n == 0) {
		fprintf(cli->out, "No services.\n");
		return 0;
	}
	if (cli_table_new(&t, 7, TABLE_GAP) != 0)
		return out_of_memory(cli);
	cli_table_addv(t, "SERVICE", "TEMPLATE", "INSTANCE", "PORT", "STATUS", "URL", "CREATED");
	for (size_t i = 0; i < n; i++) {
		const Berth__V1__Service *s = services[i];
		char port[16];

		snprintf(port, sizeof(port), "%u", s->port);
		cli_table_addv(t, s->service_id, dash_if_empty(s->template_), dash_if_empty(s->instance),
		    port, dash_if_empty(s->status), dash_if_empty(s->url), s->created_at);
	}
	return table_end(cli, t);
}

static int
print_stats(struct cli *cli, const Berth__V1__GetStatsResponse *s)
{
	struct cli_table *kv = kv_begin(), *t;
	int rc;

	kv_add(kv, "total_services", "%u", s->total_services);
	kv_add(kv, "running_services", "%u", s->running_services);
	kv_add(kv, "stopped_services", "%u", s->stopped_services);
	kv_add_owned(kv, "used_ports", format_port_list(s->used_ports, s->n_used_ports));
	if ((rc = table_end(cli, kv)) != 0 || s->n_templates == 0)
		return rc;
	if (cli_table_new(&t, 3, TABLE_GAP) != 0)
		return out_of_memory(cli);
	cli_table_addv(t, "TEMPLATE", "TOTAL", "RUNNING");
	for (size_t i = 0; i < s->n_templates; i++) {
		char total[16], running[16];

		snprintf(total, sizeof(total), "%u", s->templates[i]->total);
		snprintf(running, sizeof(running), "%u", s->templates[i]->running);
		cli_table_addv(t, s->templates[i]->template_, total, running);
	}
	fputc('\n', cli->out);
	return table_end(cli, t);
}

/* Reads a message of type desc from a JSON file, or stdin for "-". */
static int
load_json_message(struct cli *cli, const struct cli_command *cmd, const char *path,
    const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out)
{
	bool is_stdin = strcmp(path, "-") == 0;
	FILE *f = is_stdin ? stdin : fopen(path, "r");
	json_error_t jerr;
	json_t *j;
	int rc;

	*out = NULL;
	if (f == NULL)
		return cli_usage_error(cli, cmd, "cannot open '%s': %s", path, strerror(errno));
	j = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
	if (!is_stdin)
		fclose(f);
	if (j == NULL)
		return cli_fail(cli, BERTH__V1__CODE__INVALID_ARGUMENT, NULL, "%s:%d:%d: %s",
		    is_stdin ? "<stdin>" : path, jerr.line, jerr.column, jerr.text);
	rc = cli_json_to_message(j, desc, out, &cli->status);
	json_decref(j);
	return rc;
}

/* ---------------------------------------------------------------------------
 * health
 */

static int
cmd_health(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__HealthRequest req = BERTH__V1__HEALTH_REQUEST__INIT;
	Berth__V1__HealthResponse *rep;
	const char *status;
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, NULL, NULL, 0, 0)) != 0)
		return rc;
	if ((rc = cli_call(cli, "Health", &req.base, (ProtobufCMessage **)&rep)) != 0)
		return rc;
	status = enum_name(&berth__v1__health_response__serving_status__descriptor, rep->status);
	if (cli->json) {
		rc = cli_print_json(cli, &rep->base);
	} else {
		struct cli_table *kv = kv_begin();

		kv_add(kv, "status", "%s", status);
		kv_add(kv, "version", "%s", rep->version);
		if (!rep->docker_available)
			kv_add(kv, "docker", "not available");
		else if (rep->docker_api_version[0] != '\0')
			kv_add(kv, "docker", "available (API %s)", rep->docker_api_version);
		else
			kv_add(kv, "docker", "available");
		rc = table_end(cli, kv);
	}
	/* A server that answers but does not serve is "try again later". */
	if (rc == 0 && rep->status != BERTH__V1__HEALTH_RESPONSE__SERVING_STATUS__SERVING)
		rc = cli_fail(cli, BERTH__V1__CODE__UNAVAILABLE, NULL, "berthd is %s", status);
	berth_reply_free(&rep->base);
	return rc;
}

/* ---------------------------------------------------------------------------
 * templates, template show|add|rm
 */

static int
print_templates(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	const Berth__V1__ListTemplatesResponse *r = (const Berth__V1__ListTemplatesResponse *)reply;
	const bool *quiet = arg;
	struct cli_table *t;

	if (*quiet) {
		for (size_t i = 0; i < r->n_templates; i++)
			fprintf(cli->out, "%s\n", r->templates[i]->name);
		return 0;
	}
	if (r->n_templates == 0) {
		fprintf(cli->out, "No templates.\n");
		return 0;
	}
	if (cli_table_new(&t, 5, TABLE_GAP) != 0)
		return out_of_memory(cli);
	cli_table_addv(t, "NAME", "IMAGE", "PORTS", "CONTAINER PORT", "DESCRIPTION");
	for (size_t i = 0; i < r->n_templates; i++) {
		const Berth__V1__Template *tp = r->templates[i];
		char ports[32], container_port[16];

		format_port_range(ports, sizeof(ports), tp->port_range_start, tp->port_range_end);
		snprintf(container_port, sizeof(container_port), "%u", tp->container_port);
		cli_table_addv(t, tp->name, tp->image, ports, container_port, tp->description);
	}
	return table_end(cli, t);
}

static int
cmd_templates(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__ListTemplatesRequest req = BERTH__V1__LIST_TEMPLATES_REQUEST__INIT;
	bool quiet = false;
	struct cli_opt opts[] = {
		{ "-q", CLI_OPT_FLAG, &quiet },
		{ "--quiet", CLI_OPT_FLAG, &quiet },
		{ NULL },
	};
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, opts, NULL, 0, 0)) != 0)
		return rc;
	return call_and_print(cli, "ListTemplates", &req.base, print_templates, &quiet);
}

static int
print_template(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	const Berth__V1__GetTemplateResponse *r = (const Berth__V1__GetTemplateResponse *)reply;
	struct cli_table *kv;

	(void)arg;
	if (r->template_ == NULL)
		return cli_fail(cli, BERTH__V1__CODE__INTERNAL, NULL, "berthd sent no template");
	kv = kv_begin();
	kv_template(kv, r->template_);
	return table_end(cli, kv);
}

static int
cmd_template_show(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__GetTemplateRequest req = BERTH__V1__GET_TEMPLATE_REQUEST__INIT;
	char *pos[1];
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, NULL, pos, 1, 1)) != 0)
		return rc;
	if ((rc = check_name(cli, "name", pos[0])) != 0)
		return rc;
	req.name = pos[0];
	return call_and_print(cli, "GetTemplate", &req.base, print_template, NULL);
}

static int
print_put_template(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	const Berth__V1__PutTemplateResponse *r = (const Berth__V1__PutTemplateResponse *)reply;
	const char *name = arg;

	if (r->template_ != NULL)
		name = r->template_->name;
	fprintf(cli->out, "Template '%s' %s.\n", name, r->created ? "created" : "replaced");
	return 0;
}

/* --port-range START[-END]: "8000", "8000+", "8000-" (open) or "8000-8099". */
static int
parse_port_range(const char *s, uint32_t *start, uint32_t *end)
{
	char buf[32], *dash;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	*end = 0;
	if ((dash = strpbrk(buf, "-+")) != NULL) {
		if (*dash == '+' ? dash[1] != '\0'
				 : dash[1] != '\0' && cli_parse_uint32(dash + 1, end) != 0)
			return -1;
		*dash = '\0';
	}
	return cli_parse_uint32(buf, start);
}

/* --cpus: a decimal number of CPUs ("0.5", "2"); validate_template checks the range. */
static int
parse_cpus(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return errno != 0 || end == s || *end != '\0' ? -1 : 0;
}

/* --memory: bytes, or with a k, m or g suffix (powers of 1024), as docker's -m. */
static int
parse_memory(const char *s, uint64_t *out)
{
	unsigned long long n;
	char *end;
	int shift = 0;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	switch (*end == '\0' ? '\0' : end[1] == '\0' ? end[0] | 0x20 : '?') {
	case '\0':
		break;
	case 'k':
		shift = 10;
		break;
	case 'm':
		shift = 20;
		break;
	case 'g':
		shift = 30;
		break;
	default:
		return -1;
	}
	if (n > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)n << shift;
	return 0;
}

static const char template_add_details[] =
    "Also: berth template add [NAME] --from-json FILE [OPTIONS]\n"
    "\n"
    "Options:\n"
    "  --image IMAGE          Docker image reference (required without --from-json)\n"
    "  --description TEXT     free text for humans\n"
    "  --container-port N     port the service listens on inside the container\n"
    "                         (default: the start of --port-range)\n"
    "  --port-range START[-END]\n"
    "                         host ports to allocate from; no END (or \"START+\")\n"
    "                         means up to 65535 (default: START = container port)\n"
    "  --mount PATH           where the instance's directory is mounted inside\n"
    "  --env KEY=VALUE        environment entry; repeat for more\n"
    "  --cmd ARG              one word of the command replacing the image's; repeat\n"
    "  --build-context DIR    absolute directory with a Dockerfile, to build the\n"
    "                         image when it is missing\n"
    "  --stop-timeout S       seconds a stop waits before killing (0: 10 s)\n"
    "  --cpus N               CPU limit per instance, e.g. 0.5 (0: none)\n"
    "  --memory SIZE          memory limit per instance: bytes, or with k, m or g\n"
    "  --replicas N           swarm backend: tasks per instance (0: 1)\n"
    "  --constraint EXPR      swarm backend: placement constraint, e.g.\n"
    "                         node.role==worker; repeat for more\n"
    "  --publish-mode MODE    swarm backend: ingress (default) or host\n"
    "  --from-json FILE       read the Template as JSON with the proto's field\n"
    "                         names ('-' for stdin); NAME and the options above,\n"
    "                         when given, override its fields\n"
    "\n"
    "Says whether the template was created or replaced.\n";

static int
cmd_template_add(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__PutTemplateRequest req = BERTH__V1__PUT_TEMPLATE_REQUEST__INIT;
	Berth__V1__Template tpl = BERTH__V1__TEMPLATE__INIT;
	const char *image = NULL, *description = NULL, *mount = NULL, *build_context = NULL;
	const char *port_range = NULL, *from_json = NULL, *cpus = NULL, *memory = NULL;
	const char *publish_mode = NULL;
	uint32_t container_port = 0, stop_timeout = 0, replicas = 0;
	struct cli_strv env = { 0 }, command = { 0 }, constraints = { 0 };
	struct cli_opt opts[] = {
		{ "--image", CLI_OPT_STRING, &image },
		{ "--description", CLI_OPT_STRING, &description },
		{ "--container-port", CLI_OPT_UINT, &container_port },
		{ "--port-range", CLI_OPT_STRING, &port_range },
		{ "--mount", CLI_OPT_STRING, &mount },
		{ "--env", CLI_OPT_LIST, &env },
		{ "--cmd", CLI_OPT_LIST, &command },
		{ "--build-context", CLI_OPT_STRING, &build_context },
		{ "--stop-timeout", CLI_OPT_UINT, &stop_timeout },
		{ "--from-json", CLI_OPT_STRING, &from_json },
		{ "--cpus", CLI_OPT_STRING, &cpus },
		{ "--memory", CLI_OPT_STRING, &memory },
		{ "--replicas", CLI_OPT_UINT, &replicas },
		{ "--constraint", CLI_OPT_LIST, &constraints },
		{ "--publish-mode", CLI_OPT_STRING, &publish_mode },
		{ NULL },
	};
	ProtobufCMessage *loaded = NULL;
	struct validation_error verr;
	char *pos[1];
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, opts, pos, 0, 1)) != 0)
		goto out;
	if (from_json != NULL) {
		rc = load_json_message(cli, cmd, from_json, &berth__v1__template__descriptor, &loaded);
		if (rc != 0)
			goto out;
		/* A shallow copy: overrides below point into argv, `loaded` keeps its own. */
		tpl = *(Berth__V1__Template *)loaded;
	} else if (pos[0] == NULL) {
		rc = cli_usage_error(cli, cmd, "missing NAME");
		goto out;
	} else if (image == NULL) {
		rc = cli_usage_error(cli, cmd, "--image is required");
		goto out;
	}
	if (pos[0] != NULL)
		tpl.name = pos[0];
	if (image != NULL)
		tpl.image = (char *)image;
	if (description != NULL)
		tpl.description = (char *)description;
	if (mount != NULL)
		tpl.mount_path = (char *)mount;
	if (build_context != NULL)
		tpl.build_context = (char *)build_context;
	if (opts[2].seen)
		tpl.container_port = container_port;
	if (opts[8].seen)
		tpl.stop_timeout_s = stop_timeout;
	if (opts[5].seen) {
		tpl.env = env.v;
		tpl.n_env = env.n;
	}
	if (opts[6].seen) {
		tpl.command = command.v;
		tpl.n_command = command.n;
	}
	if (opts[12].seen)
		tpl.replicas = replicas;
	if (opts[13].seen) {
		tpl.constraints = constraints.v;
		tpl.n_constraints = constraints.n;
	}
	if (publish_mode != NULL)
		tpl.publish_mode = (char *)publish_mode;
	if (cpus != NULL && parse_cpus(cpus, &tpl.cpu_limit) != 0) {
		rc = cli_usage_error(cli, cmd, "--cpus takes a number of CPUs, not '%s'", cpus);
		goto out;
	}
	if (memory != NULL && parse_memory(memory, &tpl.memory_limit_bytes) != 0) {
		rc = cli_usage_error(cli, cmd,
		    "--memory takes bytes, or a number with k, m or g, not '%s'", memory);
		goto out;
	}
	if (port_range != NULL &&
	    parse_port_range(port_range, &tpl.port_range_start, &tpl.port_range_end) != 0) {
		rc = cli_usage_error(cli, cmd, "--port-range takes START[-END], not '%s'", port_range);
		goto out;
	}
	/* Either port implies the other: the common case is "same number". */
	if (tpl.container_port == 0)
		tpl.container_port = tpl.port_range_start;
	if (tpl.port_range_start == 0)
		tpl.port_range_start = tpl.container_port;
	if (validate_template(&tpl, &verr) != 0) {
		rc = invalid(cli, &verr);
		goto out;
	}
	req.template_ = &tpl;
	rc = call_and_print(cli, "PutTemplate", &req.base, print_put_template, tpl.name);
out:
	cli_strv_free(&env);
	cli_strv_free(&command);
	cli_strv_free(&constraints);
	if (loaded != NULL)
		protobuf_c_message_free_unpacked(loaded, NULL);
	return rc;
}

static int
print_delete_template(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	(void)reply;
	fprintf(cli->out, "Template '%s' removed.\n", (const char *)arg);
	return 0;
}

static int
cmd_template_rm(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__DeleteTemplateRequest req = BERTH__V1__DELETE_TEMPLATE_REQUEST__INIT;
	char *pos[1];
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, NULL, pos, 1, 1)) != 0)
		return rc;
	if ((rc = check_name(cli, "name", pos[0])) != 0)
		return rc;
	req.name = pos[0];
	return call_and_print(cli, "DeleteTemplate", &req.base, print_delete_template, pos[0]);
}

/* ---------------------------------------------------------------------------
 * launch, ls, info, stop, restart, rm, logs
 */

static int
print_launch(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	const Berth__V1__LaunchServiceResponse *r = (const Berth__V1__LaunchServiceResponse *)reply;
	struct cli_table *kv;
	int rc;

	(void)arg;
	if (r->service == NULL)
		return cli_fail(cli, BERTH__V1__CODE__INTERNAL, NULL, "berthd sent no service");
	kv = kv_begin();
	kv_add(kv, "service_id", "%s", r->service->service_id);
	kv_add(kv, "url", "%s", r->service->url);
	kv_add(kv, "port", "%u", r->service->port);
	if ((rc = table_end(cli, kv)) != 0)
		return rc;
	if (r->n_skipped_ports > 0) {
		fputs("skipped ", cli->out);
		for (size_t i = 0; i < r->n_skipped_ports; i++)
			fprintf(cli->out, "%s%u (%s)", i > 0 ? ", " : "", r->skipped_ports[i]->port,
			    r->skipped_ports[i]->reason);
		fputc('\n', cli->out);
	}
	if (r->n_skipped_instances > 0) {
		fputs("skipped instances ", cli->out);
		for (size_t i = 0; i < r->n_skipped_instances; i++)
			fprintf(cli->out, "%s%s", i > 0 ? ", " : "", r->skipped_instances[i]);
		fputs(" (a container outside the registry has the name; see berth cleanup --status)\n",
		    cli->out);
	}
	return 0;
}

static int
cmd_launch(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__LaunchServiceRequest req = BERTH__V1__LAUNCH_SERVICE_REQUEST__INIT;
	struct cli_opt opts[] = { { "--port", CLI_OPT_UINT, &req.port }, { NULL } };
	struct validation_error verr;
	struct cli_progress *progress;
	ProtobufCMessage *reply;
	char *pos[2], label[160];
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, opts, pos, 1, 2)) != 0)
		return rc;
	if ((rc = check_name(cli, "template", pos[0])) != 0)
		return rc;
	if (pos[1] != NULL && (rc = check_name(cli, "instance", pos[1])) != 0)
		return rc;
	if (opts[0].seen && validate_port("port", req.port, &verr) != 0)
		return invalid(cli, &verr);
	req.template_ = pos[0];
	if (pos[1] != NULL)
		req.instance = pos[1];
	/* A first launch may build or pull the image: say that it is still going. */
	snprintf(label, sizeof(label), "launching %s%s%s", pos[0], pos[1] != NULL ? " " : "",
	    pos[1] != NULL ? pos[1] : "");
	progress = cli_progress_start(cli, label);
	rc = cli_call(cli, "LaunchService", &req.base, &reply);
	cli_progress_stop(progress);
	if (rc != 0)
		return rc;
	rc = cli->json ? cli_print_json(cli, reply) : print_launch(cli, reply, NULL);
	berth_reply_free(reply);
	return rc;
}

static int
print_list_services(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	const Berth__V1__ListServicesResponse *r = (const Berth__V1__ListServicesResponse *)reply;
	const bool *quiet = arg;

	if (*quiet) {
		for (size_t i = 0; i < r->n_services; i++)
			fprintf(cli->out, "%s\n", r->services[i]->service_id);
		return 0;
	}
	return print_services(cli, r->services, r->n_services);
}

static int
cmd_ls(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__ListServicesRequest req = BERTH__V1__LIST_SERVICES_REQUEST__INIT;
	const char *template_name = NULL, *status = NULL;
	bool quiet = false;
	struct watch w = { WATCH_DEFAULT_S, 0 };
	struct cli_opt opts[] = {
		{ "--template", CLI_OPT_STRING, &template_name },
		{ "--status", CLI_OPT_STRING, &status },
		{ "-q", CLI_OPT_FLAG, &quiet },
		{ "--quiet", CLI_OPT_FLAG, &quiet },
		WATCH_OPTIONS(&w),
		{ NULL },
	};
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, opts, NULL, 0, 0)) != 0)
		return rc;
	if (template_name != NULL) {
		if ((rc = check_name(cli, "template", template_name)) != 0)
			return rc;
		req.template_ = (char *)template_name;
	}
	if (status != NULL)
		req.status = (char *)status;
	return call_and_print_watched(cli, cmd, opts, &w, "ListServices", &req.base,
	    print_list_services, &quiet);
}

static int
print_service_info(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	const Berth__V1__GetServiceResponse *r = (const Berth__V1__GetServiceResponse *)reply;
	struct cli_table *kv;

	(void)arg;
	if (r->service == NULL)
		return cli_fail(cli, BERTH__V1__CODE__INTERNAL, NULL, "berthd sent no service");
	kv = kv_begin();
	kv_service(kv, r->service);
	if (r->service->container != NULL)
		kv_container(kv, r->service->container);
	/* The swarm backend's: the volume, and one line per task (none with the engine). */
	if (r->service->volume[0] != '\0')
		kv_add(kv, "volume", "%s", r->service->volume);
	for (size_t i = 0; i < r->service->n_tasks; i++) {
		const Berth__V1__Task *t = r->service->tasks[i];
		const char *why = t->error[0] != '\0' ? t->error : t->message;

		kv_add(kv, "task", "%.12s %s (desired %s) on %s%s%s", t->id, t->state, t->desired_state,
		    t->node[0] != '\0' ? t->node : t->node_id[0] != '\0' ? t->node_id : "no node",
		    why[0] != '\0' ? ": " : "", why);
	}
	return table_end(cli, kv);
}

static int
cmd_info(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__GetServiceRequest req = BERTH__V1__GET_SERVICE_REQUEST__INIT;
	char *pos[1];
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, NULL, pos, 1, 1)) != 0)
		return rc;
	req.service_id = pos[0];
	return call_and_print(cli, "GetService", &req.base, print_service_info, NULL);
}

/*
 * Stop and restart answer with the service: "<id>: <status>". Their two
 * reply types are read through the descriptor's `service` field.
 */
static int
print_service_status(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(reply->descriptor, "service");
	const Berth__V1__Service *s = NULL;

	if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE &&
	    f->descriptor == &berth__v1__service__descriptor)
		s = *(Berth__V1__Service *const *)((const char *)reply + f->offset);
	if (s == NULL)
		fprintf(cli->out, "%s: done\n", (const char *)arg);
	else
		fprintf(cli->out, "%s: %s\n", s->service_id, s->status);
	return 0;
}

static int
cmd_stop(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__StopServiceRequest req = BERTH__V1__STOP_SERVICE_REQUEST__INIT;
	struct cli_opt opts[] = { { "--timeout", CLI_OPT_UINT, &req.timeout_s }, { NULL } };
	char *pos[1];
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, opts, pos, 1, 1)) != 0)
		return rc;
	req.service_id = pos[0];
	return call_and_print(cli, "StopService", &req.base, print_service_status, pos[0]);
}

static int
cmd_restart(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__RestartServiceRequest req = BERTH__V1__RESTART_SERVICE_REQUEST__INIT;
	char *pos[1];
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, NULL, pos, 1, 1)) != 0)
		return rc;
	req.service_id = pos[0];
	return call_and_print(cli, "RestartService", &req.base, print_service_status, pos[0]);
}

static int
print_remove(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	const Berth__V1__RemoveServiceResponse *r = (const Berth__V1__RemoveServiceResponse *)reply;

	fprintf(cli->out, "Removed %s (container %s, directory %s).\n",
	    r->service != NULL ? r->service->service_id : (const char *)arg,
	    r->container_removed ? "removed" : "kept", r->directory_removed ? "removed" : "kept");
	return 0;
}

static int
cmd_rm(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__RemoveServiceRequest req = BERTH__V1__REMOVE_SERVICE_REQUEST__INIT;
	bool keep = false, purge = false;
	struct cli_opt opts[] = {
		{ "--keep-container", CLI_OPT_FLAG, &keep },
		{ "--purge", CLI_OPT_FLAG, &purge },
		{ NULL },
	};
	char *pos[1];
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, opts, pos, 1, 1)) != 0)
		return rc;
	req.service_id = pos[0];
	req.keep_container = keep;
	req.purge = purge;
	return call_and_print(cli, "RemoveService", &req.base, print_remove, pos[0]);
}

static int
print_logs(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	(void)arg;
	fputs(((const Berth__V1__GetServiceLogsResponse *)reply)->logs, cli->out);
	return 0;
}

static int
cmd_logs(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__GetServiceLogsRequest req = BERTH__V1__GET_SERVICE_LOGS_REQUEST__INIT;
	struct cli_opt opts[] = { { "--tail", CLI_OPT_UINT, &req.tail }, { NULL } };
	char *pos[1];
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, opts, pos, 1, 1)) != 0)
		return rc;
	req.service_id = pos[0];
	return call_and_print(cli, "GetServiceLogs", &req.base, print_logs, NULL);
}

/* ---------------------------------------------------------------------------
 * stats, status, cleanup, shutdown
 */

static int
print_get_stats(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	(void)arg;
	return print_stats(cli, (const Berth__V1__GetStatsResponse *)reply);
}

static int
cmd_stats(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__GetStatsRequest req = BERTH__V1__GET_STATS_REQUEST__INIT;
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, NULL, NULL, 0, 0)) != 0)
		return rc;
	return call_and_print(cli, "GetStats", &req.base, print_get_stats, NULL);
}

static int
print_get_status(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	const Berth__V1__GetStatusResponse *r = (const Berth__V1__GetStatusResponse *)reply;
	int rc;

	(void)arg;
	if (r->statistics != NULL) {
		if ((rc = print_stats(cli, r->statistics)) != 0)
			return rc;
		fputc('\n', cli->out);
	}
	return print_services(cli, r->services, r->n_services);
}

static int
cmd_status(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__GetStatusRequest req = BERTH__V1__GET_STATUS_REQUEST__INIT;
	struct watch w = { WATCH_DEFAULT_S, 0 };
	struct cli_opt opts[] = { WATCH_OPTIONS(&w), { NULL } };
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, opts, NULL, 0, 0)) != 0)
		return rc;
	return call_and_print_watched(cli, cmd, opts, &w, "GetStatus", &req.base, print_get_status,
	    NULL);
}

/* Adds "key: a, b, c" ("none" when empty). */
static void
kv_add_list(struct cli_table *kv, const char *key, char *const *items, size_t n)
{
	kv_add_owned(kv, key, join(items, n, "none"));
}

static int
print_cleanup_status(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	const Berth__V1__GetCleanupStatusResponse *r =
	    (const Berth__V1__GetCleanupStatusResponse *)reply;
	struct cli_table *kv = kv_begin();

	(void)arg;
	kv_add(kv, "registered_services", "%u", r->registered_services);
	kv_add(kv, "running_containers", "%u", r->running_containers);
	kv_add_list(kv, "dead_services", r->dead_services, r->n_dead_services);
	kv_add_list(kv, "orphan_containers", r->orphan_containers, r->n_orphan_containers);
	return table_end(cli, kv);
}

static int
print_auto_cleanup(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	const Berth__V1__AutoCleanupResponse *r = (const Berth__V1__AutoCleanupResponse *)reply;
	struct cli_table *kv = kv_begin();

	(void)arg;
	kv_add(kv, "containers_removed", "%u", r->containers_removed);
	kv_add(kv, "registry_entries_removed", "%u", r->registry_entries_removed);
	kv_add_list(kv, "removed_services", r->removed_services, r->n_removed_services);
	kv_add_list(kv, "removed_containers", r->removed_containers, r->n_removed_containers);
	return table_end(cli, kv);
}

static int
print_force_cleanup(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	const Berth__V1__ForceCleanupAllResponse *r = (const Berth__V1__ForceCleanupAllResponse *)reply;
	struct cli_table *kv = kv_begin();

	(void)arg;
	kv_add(kv, "containers_removed", "%u", r->containers_removed);
	kv_add(kv, "registry_entries_removed", "%u", r->registry_entries_removed);
	if (r->n_errors == 0)
		kv_add(kv, "errors", "none");
	for (size_t i = 0; i < r->n_errors; i++)
		kv_add(kv, "error", "%s", r->errors[i]);
	return table_end(cli, kv);
}

static int
cmd_cleanup(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	bool status = false, force = false;
	struct cli_opt opts[] = {
		{ "--status", CLI_OPT_FLAG, &status },
		{ "--force", CLI_OPT_FLAG, &force },
		{ NULL },
	};
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, opts, NULL, 0, 0)) != 0)
		return rc;
	if (status && force)
		return cli_usage_error(cli, cmd, "--status and --force exclude each other");
	if (status) {
		Berth__V1__GetCleanupStatusRequest req = BERTH__V1__GET_CLEANUP_STATUS_REQUEST__INIT;
		return call_and_print(cli, "GetCleanupStatus", &req.base, print_cleanup_status, NULL);
	}
	if (force) {
		Berth__V1__ForceCleanupAllRequest req = BERTH__V1__FORCE_CLEANUP_ALL_REQUEST__INIT;
		return call_and_print(cli, "ForceCleanupAll", &req.base, print_force_cleanup, NULL);
	}
	Berth__V1__AutoCleanupRequest req = BERTH__V1__AUTO_CLEANUP_REQUEST__INIT;
	return call_and_print(cli, "AutoCleanup", &req.base, print_auto_cleanup, NULL);
}

static int
print_shutdown(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	(void)reply;
	(void)arg;
	fprintf(cli->out, "berthd is shutting down.\n");
	return 0;
}

static int
cmd_shutdown(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__ShutdownRequest req = BERTH__V1__SHUTDOWN_REQUEST__INIT;
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, NULL, NULL, 0, 0)) != 0)
		return rc;
	return call_and_print(cli, "Shutdown", &req.base, print_shutdown, NULL);
}

/* ---------------------------------------------------------------------------
 * events
 */

/* Follows berthd's events until interrupted, or --count N have arrived. */
static int
cmd_events(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	uint32_t count = 0, seen = 0, timeout_s = 0;
	struct cli_opt opts[] = {
		{ "--count", CLI_OPT_UINT, &count },
		{ "--wait", CLI_OPT_UINT, &timeout_s },
		{ NULL },
	};
	Berth__V1__HealthRequest req = BERTH__V1__HEALTH_REQUEST__INIT;
	ProtobufCMessage *health = NULL;
	berth_events *events;
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, opts, NULL, 0, 0)) != 0)
		return rc;
	/* Connect through the normal path so errors read like every other command's. */
	if ((rc = cli_call(cli, "Health", &req.base, &health)) != 0)
		return rc;
	berth_reply_free(health);
	if ((rc = berth_events_open(&events, cli->client, NULL, &cli->status)) != 0)
		return rc;
	while (count == 0 || seen < count) {
		Berth__V1__Event *ev;

		rc = berth_events_next(events, &ev, timeout_s ? (int)timeout_s * 1000 : -1, &cli->status);
		if (rc != 0)
			break;
		seen++;
		if (cli->json) {
			rc = cli_print_json(cli, &ev->base);
		} else {
			const ProtobufCEnumValue *type = protobuf_c_enum_descriptor_get_value(
			    &berth__v1__event__type__descriptor, ev->type);
			fprintf(cli->out, "%s  %-18s  %s%s%s  %s\n", ev->time, type ? type->name : "?",
			    ev->service_id[0] ? ev->service_id : "-", ev->status[0] ? " status=" : "",
			    ev->status, ev->message);
		}
		fflush(cli->out);
		berth_reply_free(&ev->base);
		if (rc != 0)
			break;
	}
	berth_events_close(events);
	return rc;
}

/* ---------------------------------------------------------------------------
 * The command table
 */

const struct cli_command cli_commands[] = {
	{ "health", NULL, "health", "Is berthd serving, is Docker up? (Health)",
	    "Prints berthd's serving status, version and whether Docker answers.\n"
	    "Exits 7 (as UNAVAILABLE) when berthd answers but is not SERVING.\n",
	    cmd_health },
	{ "templates", NULL, "templates [-q]", "List the templates (ListTemplates)",
	    "Options:\n"
	    "  -q, --quiet   print only the template names, one per line (--json wins)\n",
	    cmd_templates },
	{ "template", "show", "template show NAME", "Show one template (GetTemplate)", NULL,
	    cmd_template_show },
	{ "template", "add", "template add NAME --image IMAGE [OPTIONS]",
	    "Create or replace a template (PutTemplate)",
	    template_add_details, cmd_template_add },
	{ "template", "rm", "template rm NAME", "Delete a template (DeleteTemplate)",
	    "Fails with FAILED_PRECONDITION while services of the template exist.\n",
	    cmd_template_rm },
	{ "launch", NULL, "launch TEMPLATE [NAME] [--port N]",
	    "Launch an instance of a template (LaunchService)",
	    "Options:\n"
	    "  NAME       instance name (default: the lowest free instance_<N>)\n"
	    "  --port N   host port (default: the first free port of the template's range)\n"
	    "\n"
	    "Prints the service id, its URL and port, and the ports passed over. While\n"
	    "the call runs (building or pulling the image can take minutes), a terminal\n"
	    "shows the time elapsed on stderr.\n",
	    cmd_launch },
	{ "ls", NULL, "ls [--template T] [--status S] [-q] [--watch [SEC]]",
	    "List services (ListServices)",
	    "Options:\n"
	    "  --template T    only services of template T\n"
	    "  --status S      only services in registry status S (running, stopped, ...)\n"
	    "  -q, --quiet     print only the service ids, one per line (--json wins)\n"
	    "  --watch [SEC]   list again every SEC seconds (default: 2) until Ctrl-C;\n"
	    "                  in place on a terminal, else snapshots separated by a\n"
	    "                  blank line\n",
	    cmd_ls },
	{ "info", NULL, "info ID", "Show a service and its container's state (GetService)", NULL,
	    cmd_info },
	{ "stop", NULL, "stop ID [--timeout S]", "Stop a service, keeping its port (StopService)",
	    "Options:\n"
	    "  --timeout S   seconds to wait before killing (default: the template's)\n",
	    cmd_stop },
	{ "restart", NULL, "restart ID", "Start or restart a service (RestartService)", NULL,
	    cmd_restart },
	{ "rm", NULL, "rm ID [--keep-container] [--purge]", "Remove a service (RemoveService)",
	    "Options:\n"
	    "  --keep-container   leave the container in Docker\n"
	    "  --purge            also delete the instance's project directory\n",
	    cmd_rm },
	{ "logs", NULL, "logs ID [--tail N]", "Print a service's last log lines (GetServiceLogs)",
	    "Options:\n"
	    "  --tail N   number of lines from the end (default: 100)\n",
	    cmd_logs },
	{ "stats", NULL, "stats", "Service counts and used ports (GetStats)", NULL, cmd_stats },
	{ "status", NULL, "status [--watch [SEC]]", "Statistics and every service (GetStatus)",
	    "Options:\n"
	    "  --watch [SEC]   show again every SEC seconds (default: 2) until Ctrl-C;\n"
	    "                  in place on a terminal, else snapshots separated by a\n"
	    "                  blank line\n",
	    cmd_status },
	{ "cleanup", NULL, "cleanup [--status | --force]",
	    "Remove dead and orphan containers (AutoCleanup)",
	    "Options:\n"
	    "  --status   only show what a cleanup would touch (GetCleanupStatus)\n"
	    "  --force    stop and remove every container of this berthd and clear\n"
	    "             the registry (ForceCleanupAll)\n",
	    cmd_cleanup },
	{ "shutdown", NULL, "shutdown", "Shut berthd down gracefully (Shutdown)", NULL,
	    cmd_shutdown },
	{ "events", NULL, "events [--count N] [--wait S]",
	    "Follow berthd's events as they happen (pub0 socket)",
	    "Options:\n"
	    "  --count N   stop after N events (default: follow until interrupted)\n"
	    "  --wait S    give up after S seconds without an event (exit 7)\n"
	    "\n"
	    "One line per event: time, type, service, status, then the detail.\n"
	    "With --json, one JSON object per event.\n",
	    cmd_events },
	{ "help", NULL, "help [COMMAND]", "Show this text, or the usage of one command", NULL,
	    NULL },
};

const size_t cli_commands_count = sizeof(cli_commands) / sizeof(cli_commands[0]);
