/*
 * config.c - the table of berthd's settings and the flag parser built on it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

enum kind { K_STRING, K_INT, K_LIST };

struct option_def {
	const char *name;
	enum kind kind;
	size_t offset;
	int64_t min, max;  /* K_INT bounds */
	const char *value; /* default, as text */
	int base;          /* K_INT: 8 for modes, else 10 */
	const char *help;
	const char *choices; /* K_STRING: "a|b|c" when only these are allowed */
};

#define OFF(field) offsetof(struct config, field)

static const struct option_def options[] = {
	{ "listen", K_LIST, OFF(listen), 0, 0, CONFIG_DEFAULT_URL, 0,
	    "URL to serve RPC on (ipc://PATH or tcp://HOST:PORT); repeatable" },
	{ "events", K_LIST, OFF(events), 0, 0, "", 0,
	    "URL to publish events on (nng pub0); repeatable; default: each --listen URL "
	    "with \"-events\" appended (ipc) or port+1 (tcp)" },
	{ "on-exit", K_STRING, OFF(on_exit), 0, 0, "remove", 0,
	    "what shutdown does with the services: remove (stop, remove containers, clear the "
	    "registry), stop (stop, keep rows) or keep (leave them running)",
	    "remove|stop|keep" },
	{ "data-dir", K_STRING, OFF(data_dir), 0, 0, "/var/lib/berth", 0,
	    "registry database and instance directories" },
	{ "publish-address", K_STRING, OFF(publish_address), 0, 0, "0.0.0.0", 0,
	    "host address that service ports are published on" },
	{ "docker-host", K_STRING, OFF(docker_host), 0, 0, "", 0,
	    "Docker engine (unix:///var/run/docker.sock, tcp://H:P); default $DOCKER_HOST" },
	{ "log-level", K_STRING, OFF(log_level), 0, 0, "info", 0, "error, warn, info or debug" },
	{ "workers", K_INT, OFF(workers), 1, 256, "16", 10,
	    "calls served at once (each worker has its own nng context)" },
	{ "max-request-bytes", K_INT, OFF(max_request_bytes), 1024, 64 << 20, "4194304", 10,
	    "largest request accepted; larger ones get RESOURCE_EXHAUSTED" },
	{ "default-timeout-ms", K_INT, OFF(default_timeout_ms), 100, 3600000, "300000", 10,
	    "deadline of a call whose client sends no timeout_ms" },
	{ "ipc-mode", K_INT, OFF(ipc_mode), 0, 0777, "0660", 8,
	    "permissions of ipc:// socket files (octal)" },
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

/* True when value is one of "a|b|c". */
static bool
allowed(const char *choices, const char *value)
{
	size_t len = strlen(value);

	for (const char *p = choices; p != NULL; p = strchr(p, '|'), p = p ? p + 1 : NULL)
		if (strncmp(p, value, len) == 0 && (p[len] == '|' || p[len] == '\0'))
			return true;
	return false;
}

static int
set_value(struct config *c, const struct option_def *o, const char *value, bool from_default,
    char *err, size_t errlen)
{
	char *base = (char *)c + o->offset;
	char *end;
	long long v;

	switch (o->kind) {
	case K_STRING:
		if (o->choices != NULL && !allowed(o->choices, value)) {
			snprintf(err, errlen, "--%s: \"%s\" is not one of %s", o->name, value, o->choices);
			return -1;
		}
		*(const char **)base = value;
		return 0;
	case K_LIST: {
		struct config_list *list = (struct config_list *)base;
		if (from_default) {
			list->n = 0;
			if (value[0] != '\0')
				list->items[list->n++] = value;
			return 0;
		}
		if (list->n >= CONFIG_MAX_LISTEN) {
			snprintf(err, errlen, "--%s: at most %d", o->name, CONFIG_MAX_LISTEN);
			return -1;
		}
		list->items[list->n++] = value;
		return 0;
	}
	case K_INT:
		errno = 0;
		v = strtoll(value, &end, o->base);
		if (errno != 0 || end == value || *end != '\0' || v < o->min || v > o->max) {
			snprintf(err, errlen, "--%s: \"%s\" is not a number from %lld to %lld", o->name,
			    value, (long long)o->min, (long long)o->max);
			return -1;
		}
		*(int64_t *)base = v;
		return 0;
	}
	return -1;
}

void
config_defaults(struct config *c)
{
	char err[128];

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < N_OPTIONS; i++)
		(void)set_value(c, &options[i], options[i].value, true, err, sizeof(err));
}

static void
usage(FILE *out)
{
	fprintf(out, "usage: berthd [--OPTION VALUE ...]\n\n"
		     "berthd serves berth's RPC API and manages Docker containers from templates.\n\n");
	for (size_t i = 0; i < N_OPTIONS; i++)
		fprintf(out, "  --%-20s %s (default: %s)\n", options[i].name, options[i].help,
		    options[i].value[0] ? options[i].value : "\"\"");
	fprintf(out, "  --%-20s %s\n", "print-config", "print the effective settings and exit");
	fprintf(out, "  --%-20s %s\n", "version", "print the version and exit");
}

int
config_parse_args(struct config *c, int argc, char **argv, char *err, size_t errlen)
{
	bool list_given[sizeof(options) / sizeof(options[0])] = { false };
	bool print = false;

	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i], *value = NULL;
		const struct option_def *o = NULL;
		char name[64];
		const char *eq;

		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			usage(stdout);
			return 1;
		}
		if (strcmp(arg, "--version") == 0) {
			printf("berthd %s\n", BERTH_VERSION);
			return 1;
		}
		if (strcmp(arg, "--print-config") == 0) {
			print = true;
			continue;
		}
		if (strncmp(arg, "--", 2) != 0) {
			snprintf(err, errlen, "unexpected argument \"%s\" (see --help)", arg);
			return -1;
		}
		/* --name=value or --name value */
		eq = strchr(arg, '=');
		snprintf(name, sizeof(name), "%.*s", (int)(eq ? eq - arg - 2 : (long)strlen(arg + 2)),
		    arg + 2);
		size_t index = 0;
		for (size_t j = 0; j < N_OPTIONS; j++)
			if (strcmp(options[j].name, name) == 0) {
				o = &options[j];
				index = j;
			}
		if (o == NULL) {
			snprintf(err, errlen, "unknown option --%s (see --help)", name);
			return -1;
		}
		if (eq != NULL)
			value = eq + 1;
		else if (i + 1 < argc)
			value = argv[++i];
		else {
			snprintf(err, errlen, "--%s needs a value", name);
			return -1;
		}
		if (o->kind == K_LIST && !list_given[index]) {
			/* The first use replaces the default. */
			((struct config_list *)((char *)c + o->offset))->n = 0;
			list_given[index] = true;
		}
		if (set_value(c, o, value, false, err, errlen) != 0)
			return -1;
	}
	if (print) {
		config_print(c, stdout);
		return 1;
	}
	return 0;
}

void
config_print(const struct config *c, FILE *out)
{
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const struct option_def *o = &options[i];
		const char *base = (const char *)c + o->offset;

		switch (o->kind) {
		case K_STRING:
			fprintf(out, "%s = %s\n", o->name, *(const char *const *)base);
			break;
		case K_LIST: {
			const struct config_list *list = (const struct config_list *)base;
			for (size_t j = 0; j < list->n; j++)
				fprintf(out, "%s = %s\n", o->name, list->items[j]);
			break;
		}
		case K_INT:
			fprintf(out, o->base == 8 ? "%s = 0%llo\n" : "%s = %lld\n", o->name,
			    (long long)*(const int64_t *)base);
			break;
		}
	}
}
