/*
 * template_flags.c - the options that describe a template, for template add
 * and template set (see template_flags.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "supervision.h"
#include "template_flags.h"

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
	switch (*end == '\0' ? '\0' : end[1] == '\0' ? end[0] | 0x20
						     : '?') {
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
apply_supervision(struct cli *cli, const struct cli_command *cmd, const struct template_flags *o,
    Berth__V1__Template *tpl, Berth__V1__HealthCheck *check, char ***words)
{
	const Berth__V1__HealthCheck *had = tpl->health;
	bool timings = o->health_interval != NULL || o->health_timeout != NULL || o->health_retries != NULL ||
	    o->health_start_period != NULL;
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
	if ((rc = health_duration(cli, cmd, "--health-interval", o->health_interval,
		 &check->interval_s)) != 0 ||
	    (rc = health_duration(cli, cmd, "--health-timeout", o->health_timeout, &check->timeout_s)) !=
		0 ||
	    (rc = health_duration(cli, cmd, "--health-start-period", o->health_start_period,
		 &check->start_period_s)) != 0)
		return rc;
	if (o->health_retries != NULL && cli_parse_uint32(o->health_retries, &check->retries) != 0)
		return cli_usage_error(cli, cmd, "--health-retries takes a number, not '%s'",
		    o->health_retries);
	/* The default timeout fits a short interval: "--health-interval 2" alone is fine. */
	if (check->timeout_s == 0 && o->health_timeout == NULL)
		check->timeout_s = check->interval_s < CLI_HEALTH_TIMEOUT_S ? check->interval_s
									    : CLI_HEALTH_TIMEOUT_S;
	tpl->health = check;
	return 0;
}

/* Option positions in f->opts, and the fields each sets. */
enum {
	OPT_IMAGE,
	OPT_DESCRIPTION,
	OPT_CONTAINER_PORT,
	OPT_PORT_RANGE,
	OPT_MOUNT,
	OPT_ENV,
	OPT_CMD,
	OPT_BUILD_CONTEXT,
	OPT_STOP_TIMEOUT,
	OPT_CPUS,
	OPT_MEMORY,
	OPT_REPLICAS,
	OPT_CONSTRAINT,
	OPT_PUBLISH_MODE,
	OPT_SECRET_ENV,
	OPT_SECRET_ENV_FILE,
	OPT_INIT,
	OPT_USER,
	OPT_RESTART,
	OPT_MAX_RESTARTS,
	OPT_HEALTH,
	OPT_HEALTH_INTERVAL,
	OPT_HEALTH_TIMEOUT,
	OPT_HEALTH_RETRIES,
	OPT_HEALTH_START_PERIOD,
	OPT_COUNT
};

static const char *const opt_fields[OPT_COUNT][2] = {
	[OPT_IMAGE] = { "image" },
	[OPT_DESCRIPTION] = { "description" },
	[OPT_CONTAINER_PORT] = { "container_port" },
	[OPT_PORT_RANGE] = { "port_range_start", "port_range_end" },
	[OPT_MOUNT] = { "mount_path" },
	[OPT_ENV] = { "env" },
	[OPT_CMD] = { "command" },
	[OPT_BUILD_CONTEXT] = { "build_context" },
	[OPT_STOP_TIMEOUT] = { "stop_timeout_s" },
	[OPT_CPUS] = { "cpu_limit" },
	[OPT_MEMORY] = { "memory_limit_bytes" },
	[OPT_REPLICAS] = { "replicas" },
	[OPT_CONSTRAINT] = { "constraints" },
	[OPT_PUBLISH_MODE] = { "publish_mode" },
	[OPT_SECRET_ENV] = { "secret_env" },
	[OPT_SECRET_ENV_FILE] = { "secret_env" },
	[OPT_INIT] = { "init" },
	[OPT_USER] = { "user" },
	[OPT_RESTART] = { "restart" },
	[OPT_MAX_RESTARTS] = { "max_restarts", "restart_window_s" },
	[OPT_HEALTH] = { "health" },
	[OPT_HEALTH_INTERVAL] = { "health" },
	[OPT_HEALTH_TIMEOUT] = { "health" },
	[OPT_HEALTH_RETRIES] = { "health" },
	[OPT_HEALTH_START_PERIOD] = { "health" },
};

void
template_flags_init(struct template_flags *f, const char **from_json)
{
	struct cli_opt table[] = {
		[OPT_IMAGE] = { "--image", CLI_OPT_STRING, &f->image },
		[OPT_DESCRIPTION] = { "--description", CLI_OPT_STRING, &f->description },
		[OPT_CONTAINER_PORT] = { "--container-port", CLI_OPT_UINT, &f->container_port },
		[OPT_PORT_RANGE] = { "--port-range", CLI_OPT_STRING, &f->port_range },
		[OPT_MOUNT] = { "--mount", CLI_OPT_STRING, &f->mount },
		[OPT_ENV] = { "--env", CLI_OPT_LIST, &f->env },
		[OPT_CMD] = { "--cmd", CLI_OPT_LIST, &f->command },
		[OPT_BUILD_CONTEXT] = { "--build-context", CLI_OPT_STRING, &f->build_context },
		[OPT_STOP_TIMEOUT] = { "--stop-timeout", CLI_OPT_UINT, &f->stop_timeout },
		[OPT_CPUS] = { "--cpus", CLI_OPT_STRING, &f->cpus },
		[OPT_MEMORY] = { "--memory", CLI_OPT_STRING, &f->memory },
		[OPT_REPLICAS] = { "--replicas", CLI_OPT_UINT, &f->replicas },
		[OPT_CONSTRAINT] = { "--constraint", CLI_OPT_LIST, &f->constraints },
		[OPT_PUBLISH_MODE] = { "--publish-mode", CLI_OPT_STRING, &f->publish_mode },
		[OPT_SECRET_ENV] = { "--secret-env", CLI_OPT_LIST, &f->secret_env },
		[OPT_SECRET_ENV_FILE] = { "--secret-env-file", CLI_OPT_STRING, &f->secret_file },
		[OPT_INIT] = { "--init", CLI_OPT_FLAG, &f->init },
		[OPT_USER] = { "--user", CLI_OPT_STRING, &f->user },
		[OPT_RESTART] = { "--restart", CLI_OPT_STRING, &f->restart },
		[OPT_MAX_RESTARTS] = { "--max-restarts", CLI_OPT_STRING, &f->max_restarts },
		[OPT_HEALTH] = { "--health", CLI_OPT_STRING, &f->health },
		[OPT_HEALTH_INTERVAL] = { "--health-interval", CLI_OPT_STRING, &f->health_interval },
		[OPT_HEALTH_TIMEOUT] = { "--health-timeout", CLI_OPT_STRING, &f->health_timeout },
		[OPT_HEALTH_RETRIES] = { "--health-retries", CLI_OPT_STRING, &f->health_retries },
		[OPT_HEALTH_START_PERIOD] = { "--health-start-period", CLI_OPT_STRING,
		    &f->health_start_period },
	};
	size_t n = OPT_COUNT;

	memset(f, 0, sizeof(*f));
	f->check = (Berth__V1__HealthCheck)BERTH__V1__HEALTH_CHECK__INIT;
	memcpy(f->opts, table, sizeof(table));
	if (from_json != NULL)
		f->opts[n++] = (struct cli_opt){ "--from-json", CLI_OPT_STRING, from_json };
	f->opts[n] = (struct cli_opt){ NULL };
}

bool
template_flags_any(const struct template_flags *f)
{
	for (size_t i = 0; i < OPT_COUNT; i++)
		if (f->opts[i].seen)
			return true;
	return false;
}

/* Records the fields option i sets (once each). */
static void
note_fields(struct template_flags *f, size_t i)
{
	for (size_t k = 0; k < 2 && opt_fields[i][k] != NULL; k++) {
		bool known = false;

		for (size_t j = 0; j < f->n_fields; j++)
			known |= strcmp(f->fields[j], opt_fields[i][k]) == 0;
		if (!known && f->n_fields < TEMPLATE_FIELDS_MAX)
			f->fields[f->n_fields++] = opt_fields[i][k];
	}
}

int
template_flags_apply(struct cli *cli, const struct cli_command *cmd, struct template_flags *f,
    Berth__V1__Template *tpl)
{
	int rc;

	if (f->opts[OPT_IMAGE].seen)
		tpl->image = (char *)f->image;
	if (f->opts[OPT_DESCRIPTION].seen)
		tpl->description = (char *)f->description;
	if (f->opts[OPT_MOUNT].seen)
		tpl->mount_path = (char *)f->mount;
	if (f->opts[OPT_BUILD_CONTEXT].seen)
		tpl->build_context = (char *)f->build_context;
	if (f->opts[OPT_CONTAINER_PORT].seen)
		tpl->container_port = f->container_port;
	if (f->opts[OPT_STOP_TIMEOUT].seen)
		tpl->stop_timeout_s = f->stop_timeout;
	if (f->opts[OPT_ENV].seen) {
		tpl->env = f->env.v;
		tpl->n_env = f->env.n;
	}
	if (f->opts[OPT_CMD].seen) {
		tpl->command = f->command.v;
		tpl->n_command = f->command.n;
	}
	if (f->opts[OPT_REPLICAS].seen)
		tpl->replicas = f->replicas;
	if (f->opts[OPT_CONSTRAINT].seen) {
		tpl->constraints = f->constraints.v;
		tpl->n_constraints = f->constraints.n;
	}
	if (f->opts[OPT_PUBLISH_MODE].seen)
		tpl->publish_mode = (char *)f->publish_mode;
	if (f->init)
		tpl->init = true;
	if (f->opts[OPT_USER].seen)
		tpl->user = (char *)f->user;
	/* Either secret option replaces the template's secret_env, as --env does env. */
	if (f->secret_file != NULL &&
	    (rc = load_secret_file(cli, cmd, f->secret_file, &f->secrets)) != 0)
		return rc;
	for (size_t i = 0; i < f->secret_env.n; i++)
		if (secret_list_push(&f->secrets, f->secret_env.v[i]) != 0)
			return cli_out_of_memory(cli);
	if (f->opts[OPT_SECRET_ENV].seen || f->opts[OPT_SECRET_ENV_FILE].seen) {
		tpl->secret_env = f->secrets.v;
		tpl->n_secret_env = f->secrets.n;
	}
	if (f->cpus != NULL && parse_cpus(f->cpus, &tpl->cpu_limit) != 0)
		return cli_usage_error(cli, cmd, "--cpus takes a number of CPUs, not '%s'", f->cpus);
	if (f->memory != NULL && parse_memory(f->memory, &tpl->memory_limit_bytes) != 0)
		return cli_usage_error(cli, cmd,
		    "--memory takes bytes, or a number with k, m or g, not '%s'", f->memory);
	if (f->port_range != NULL &&
	    parse_port_range(f->port_range, &tpl->port_range_start, &tpl->port_range_end) != 0)
		return cli_usage_error(cli, cmd, "--port-range takes START[-END], not '%s'",
		    f->port_range);
	if ((rc = apply_supervision(cli, cmd, f, tpl, &f->check, &f->health_words)) != 0)
		return rc;
	for (size_t i = 0; i < OPT_COUNT; i++)
		if (f->opts[i].seen)
			note_fields(f, i);
	return 0;
}

void
template_flags_free(struct template_flags *f)
{
	cli_strv_free(&f->env);
	cli_strv_free(&f->command);
	cli_strv_free(&f->constraints);
	cli_strv_free(&f->secret_env);
	secret_list_free(&f->secrets);
	free(f->health_words);
	f->health_words = NULL;
}
