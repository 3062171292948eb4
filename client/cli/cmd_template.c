/*
 * cmd_template.c - the template commands: templates, template show, add
 * and rm (ListTemplates, GetTemplate, PutTemplate, DeleteTemplate).
 *
 * Each parses its words, checks locally what berthd would refuse anyway
 * (the same error, without a round trip), calls the RPC and prints the
 * reply: as JSON with --json, otherwise for humans.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "args.h"
#include "commands.h"
#include "format.h"
#include "json_codec.h"
#include "supervision.h"

/* The template as "key: value" lines, one per field (env and constraint: one per entry). */
static void
kv_template(struct cli_table *kv, const Berth__V1__Template *t)
{
	char ports[32];

	cli_format_port_range(ports, sizeof(ports), t->port_range_start, t->port_range_end);
	cli_kv_add(kv, "name", "%s", t->name);
	cli_kv_add(kv, "description", "%s", t->description);
	cli_kv_add(kv, "image", "%s", t->image);
	cli_kv_add(kv, "build_context", "%s", t->build_context);
	cli_kv_add(kv, "container_port", "%u", t->container_port);
	cli_kv_add(kv, "port_range", "%s", ports);
	cli_kv_add(kv, "mount_path", "%s", t->mount_path);
	cli_kv_add_each(kv, "env", t->env, t->n_env, "");
	/* berthd answers "KEY=***": values never leave it. */
	cli_kv_add_each(kv, "secret_env", t->secret_env, t->n_secret_env, "");
	cli_kv_add_owned(kv, "command", cli_shell_join(t->command, t->n_command));
	cli_kv_add(kv, "stop_timeout_s", "%u", t->stop_timeout_s);
	cli_kv_add(kv, "cpu_limit", "%g", t->cpu_limit);
	cli_kv_add(kv, "memory_limit_bytes", "%llu", (unsigned long long)t->memory_limit_bytes);
	cli_kv_add(kv, "init", "%s", t->init ? "true" : "false");
	cli_kv_add(kv, "user", "%s", t->user);
	cli_kv_add_owned(kv, "restart",
	    cli_format_restart(t->restart, t->max_restarts, t->restart_window_s));
	cli_kv_add_owned(kv, "health", cli_format_health(t->health));
	cli_kv_add(kv, "replicas", "%u", t->replicas);
	cli_kv_add_each(kv, "constraint", t->constraints, t->n_constraints, "");
	cli_kv_add(kv, "publish_mode", "%s", t->publish_mode);
}

/* Reads a message of type desc from a JSON file, or stdin for "-". */
static int
load_json_message(struct cli *cli, const struct cli_command *cmd, const char *path,
    const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out)
{
	bool is_stdin = strcmp(path, "-") == 0;
	FILE *f = is_stdin ? stdin : fopen(path, "r");
	struct error err;
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
	rc = json_codec_to_message(j, desc, out, &err);
	json_decref(j);
	return rc != 0 ? cli_fail_error(cli, &err) : 0;
}

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
	if (cli_table_new(&t, 5, CLI_TABLE_GAP) != 0)
		return cli_out_of_memory(cli);
	cli_table_addv(t, "NAME", "IMAGE", "PORTS", "CONTAINER PORT", "DESCRIPTION");
	for (size_t i = 0; i < r->n_templates; i++) {
		const Berth__V1__Template *tp = r->templates[i];
		char ports[32], container_port[16];

		cli_format_port_range(ports, sizeof(ports), tp->port_range_start, tp->port_range_end);
		snprintf(container_port, sizeof(container_port), "%u", tp->container_port);
		cli_table_addv(t, tp->name, tp->image, ports, container_port, tp->description);
	}
	return cli_table_end(cli, t);
}

int
cli_cmd_templates(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
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
	return cli_call_and_print(cli, "ListTemplates", &req.base, print_templates, &quiet);
}

static int
print_template(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	const Berth__V1__GetTemplateResponse *r = (const Berth__V1__GetTemplateResponse *)reply;
	struct cli_table *kv;

	(void)arg;
	if (r->template_ == NULL)
		return cli_fail(cli, BERTH__V1__CODE__INTERNAL, NULL, "berthd sent no template");
	kv = cli_kv_begin();
	kv_template(kv, r->template_);
	return cli_table_end(cli, kv);
}

int
cli_cmd_template_show(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__GetTemplateRequest req = BERTH__V1__GET_TEMPLATE_REQUEST__INIT;
	char *pos[1];
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, NULL, pos, 1, 1)) != 0)
		return rc;
	if ((rc = cli_check_name(cli, "name", pos[0])) != 0)
		return rc;
	req.name = pos[0];
	return cli_call_and_print(cli, "GetTemplate", &req.base, print_template, NULL);
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

/* Secret entries: those of --secret-env-file (malloc'ed, owned) then --secret-env's (argv's). */
struct secret_list {
	char **v;
	size_t n;
	size_t n_owned; /* the first n_owned strings are malloc'ed */
};

static void
secret_list_free(struct secret_list *l)
{
	for (size_t i = 0; i < l->n_owned; i++) {
		/* Values are secrets: do not leave them in freed memory. */
		explicit_bzero(l->v[i], strlen(l->v[i]));
		free(l->v[i]);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int
secret_list_push(struct secret_list *l, char *s)
{
	char **grown = realloc(l->v, (l->n + 1) * sizeof(*grown));

	if (grown == NULL)
		return -1;
	grown[l->n++] = s;
	l->v = grown;
	return 0;
}

/*
 * --secret-env-file FILE: one KEY=VALUE a line, the value as it is up to the
 * line's end (no quotes are removed); blank lines and lines starting with
 * '#' (after blanks) are skipped. Messages name the file and line, never a
 * value.
 */
static int
load_secret_file(struct cli *cli, const struct cli_command *cmd, const char *path,
    struct secret_list *out)
{
	FILE *f = fopen(path, "r");
	char *line = NULL, *copy;
	size_t cap = 0;
	ssize_t len;
	unsigned lineno = 0;
	int rc = 0;

	if (f == NULL)
		return cli_usage_error(cli, cmd, "cannot open '%s': %s", path, strerror(errno));
	while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
		const char *p = line;

		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		if (strchr(line, '=') == NULL || line[0] == '=') {
			rc = cli_usage_error(cli, cmd, "%s:%u: expected KEY=VALUE", path, lineno);
			break;
		}
		if ((copy = strdup(line)) == NULL || secret_list_push(out, copy) != 0) {
			free(copy);
			rc = cli_out_of_memory(cli);
			break;
		}
		out->n_owned++;
	}
	if (line != NULL)
		explicit_bzero(line, cap);
	free(line);
	fclose(f);
	return rc;
}

/* The values of template add's supervision options, as given (NULL: not given). */
struct supervision_opts {
	const char *restart, *max_restarts, *health;
	const char *interval, *timeout, *retries, *start_period;
};

/* One --health-* duration into *out when it was given. Returns 0 or CLI_USAGE. */
static int
health_duration(struct cli *cli, const struct cli_command *cmd, const char *option,
    const char *value, uint32_t *out)
{
	if (value == NULL)
		return 0;
	if (cli_parse_duration(value, out) != 0)
		return cli_usage_error(cli, cmd,
		    "%s takes seconds, or a number with s, m or h (10, 10s, 2m), not '%s'", option,
		    value);
	return 0;
}

/*
 * Applies --restart, --max-restarts and --health* to tpl. A --health makes a
 * new check in *check (its exec words in *words, which the caller frees),
 * with the timings given, else those of the check tpl had (--from-json),
 * else CLI_HEALTH_*: the server wants interval, timeout and retries for
 * every check. Timings alone change the check tpl has. Returns 0 or
 * CLI_USAGE; ranges are left to validate_template.
 */
static int
apply_supervision(struct cli *cli, const struct cli_command *cmd, const struct supervision_opts *o,
    Berth__V1__Template *tpl, Berth__V1__HealthCheck *check, char ***words)
{
	const Berth__V1__HealthCheck *had = tpl->health;
	bool timings = o->interval != NULL || o->timeout != NULL || o->retries != NULL ||
	    o->start_period != NULL;
	const char *why;
	int rc;

	if (o->restart != NULL)
		tpl->restart = (char *)o->restart;
	if (o->max_restarts != NULL &&
	    cli_parse_max_restarts(o->max_restarts, &tpl->max_restarts, &tpl->restart_window_s) != 0)
		return cli_usage_error(cli, cmd,
		    "--max-restarts takes N or N/WINDOW with N at least 1 (5, 5/10m, 3/600), not "
		    "'%s'; --restart no turns restarts off",
		    o->max_restarts);
	if (o->health == NULL && !timings)
		return 0;
	if (o->health != NULL) {
		if ((rc = cli_parse_health(o->health, check, words, &why)) == ENOMEM)
			return cli_out_of_memory(cli);
		if (rc != 0)
			return cli_usage_error(cli, cmd, "--health '%s': %s", o->health, why);
		if (strcmp(check->kind, "none") == 0) {
			if (timings)
				return cli_usage_error(cli, cmd,
				    "--health none takes no --health-* timings");
			tpl->health = check;
			return 0;
		}
	} else if (had == NULL || had->kind[0] == '\0' || strcmp(had->kind, "none") == 0) {
		return cli_usage_error(cli, cmd, "the --health-* timings need a --health check");
	} else {
		/* Timings alone: the JSON's check with new timings. */
		*check = *had;
	}
	if (had != NULL && had->interval_s != 0) {
		check->interval_s = had->interval_s;
		check->timeout_s = had->timeout_s;
		check->retries = had->retries;
		check->start_period_s = had->start_period_s;
	} else {
		check->interval_s = CLI_HEALTH_INTERVAL_S;
		check->timeout_s = 0; /* below: at most the interval */
		check->retries = CLI_HEALTH_RETRIES;
		check->start_period_s = 0;
	}
	if ((rc = health_duration(cli, cmd, "--health-interval", o->interval,
		 &check->interval_s)) != 0 ||
	    (rc = health_duration(cli, cmd, "--health-timeout", o->timeout, &check->timeout_s)) !=
		0 ||
	    (rc = health_duration(cli, cmd, "--health-start-period", o->start_period,
		 &check->start_period_s)) != 0)
		return rc;
	if (o->retries != NULL && cli_parse_uint32(o->retries, &check->retries) != 0)
		return cli_usage_error(cli, cmd, "--health-retries takes a number, not '%s'",
		    o->retries);
	/* The default timeout fits a short interval: "--health-interval 2" alone is fine. */
	if (check->timeout_s == 0 && o->timeout == NULL)
		check->timeout_s = check->interval_s < CLI_HEALTH_TIMEOUT_S ? check->interval_s
									    : CLI_HEALTH_TIMEOUT_S;
	tpl->health = check;
	return 0;
}

int
cli_cmd_template_add(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__PutTemplateRequest req = BERTH__V1__PUT_TEMPLATE_REQUEST__INIT;
	Berth__V1__Template tpl = BERTH__V1__TEMPLATE__INIT;
	const char *image = NULL, *description = NULL, *mount = NULL, *build_context = NULL;
	const char *port_range = NULL, *from_json = NULL, *cpus = NULL, *memory = NULL;
	const char *publish_mode = NULL, *secret_file = NULL, *user = NULL;
	bool init = false;
	struct supervision_opts sup = { 0 };
	Berth__V1__HealthCheck check = BERTH__V1__HEALTH_CHECK__INIT;
	char **health_words = NULL;
	uint32_t container_port = 0, stop_timeout = 0, replicas = 0;
	struct cli_strv env = { 0 }, command = { 0 }, constraints = { 0 }, secret_env = { 0 };
	struct secret_list secrets = { 0 };
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
		{ "--secret-env", CLI_OPT_LIST, &secret_env },
		{ "--secret-env-file", CLI_OPT_STRING, &secret_file },
		{ "--init", CLI_OPT_FLAG, &init },
		{ "--user", CLI_OPT_STRING, &user },
		{ "--restart", CLI_OPT_STRING, &sup.restart },
		{ "--max-restarts", CLI_OPT_STRING, &sup.max_restarts },
		{ "--health", CLI_OPT_STRING, &sup.health },
		{ "--health-interval", CLI_OPT_STRING, &sup.interval },
		{ "--health-timeout", CLI_OPT_STRING, &sup.timeout },
		{ "--health-retries", CLI_OPT_STRING, &sup.retries },
		{ "--health-start-period", CLI_OPT_STRING, &sup.start_period },
		{ NULL },
	};
	ProtobufCMessage *loaded = NULL;
	struct error verr;
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
	if (init)
		tpl.init = true;
	if (user != NULL)
		tpl.user = (char *)user;
	/* Either secret option replaces the JSON's secret_env, as --env does env. */
	if (secret_file != NULL && (rc = load_secret_file(cli, cmd, secret_file, &secrets)) != 0)
		goto out;
	for (size_t i = 0; i < secret_env.n; i++)
		if (secret_list_push(&secrets, secret_env.v[i]) != 0) {
			rc = cli_out_of_memory(cli);
			goto out;
		}
	if (opts[15].seen || opts[16].seen) {
		tpl.secret_env = secrets.v;
		tpl.n_secret_env = secrets.n;
	}
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
	if ((rc = apply_supervision(cli, cmd, &sup, &tpl, &check, &health_words)) != 0)
		goto out;
	/* Either port implies the other: the common case is "same number". */
	if (tpl.container_port == 0)
		tpl.container_port = tpl.port_range_start;
	if (tpl.port_range_start == 0)
		tpl.port_range_start = tpl.container_port;
	if (validate_template(&tpl, &verr) != 0) {
		rc = cli_fail_error(cli, &verr);
		goto out;
	}
	req.template_ = &tpl;
	rc = cli_call_and_print(cli, "PutTemplate", &req.base, print_put_template, tpl.name);
out:
	cli_strv_free(&env);
	cli_strv_free(&command);
	cli_strv_free(&constraints);
	cli_strv_free(&secret_env);
	secret_list_free(&secrets);
	free(health_words);
	if (loaded != NULL)
		protobuf_c_message_free_unpacked(loaded, NULL);
	return rc;
}

int
cli_cmd_template_rm(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	Berth__V1__DeleteTemplateRequest req = BERTH__V1__DELETE_TEMPLATE_REQUEST__INIT;
	char *pos[1], done[NAME_MAX_LEN + 32];
	int rc;

	if ((rc = cli_args_parse(cli, cmd, argc, argv, NULL, pos, 1, 1)) != 0)
		return rc;
	if ((rc = cli_check_name(cli, "name", pos[0])) != 0)
		return rc;
	req.name = pos[0];
	snprintf(done, sizeof(done), "Template '%s' removed.", pos[0]);
	return cli_call_and_print(cli, "DeleteTemplate", &req.base, cli_print_sentence, done);
}
