/*
 * config.c - the table of berthd's settings, and the two readers built on
 * it: command-line flags and the INI configuration file (inih).
 *
 * Runs on the main thread at start-up only.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "berth/v1/berth.pb-c.h"
#include "base/config.h"

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

/*
 * Every setting of berthd. A row here is a --flag, a key of the
 * configuration file, a line of --help and of --print-config.
 */
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
	{ "events-keep", K_INT, OFF(events_keep), 10, 1000000, "10000", 10,
	    "newest events kept in the registry and in memory for WatchEvents" },
	{ "max-parked-calls", K_INT, OFF(max_parked_calls), 0, 65536, "1024", 10,
	    "long polls (WatchEvents) held at once without a worker; beyond them a poll "
	    "answers at once; 0: none wait" },
	{ "audit-keep-rows", K_INT, OFF(audit_keep_rows), 1000, 100000000, "100000", 10,
	    "newest rows of the audit log kept (berthd audit)" },
	{ "audit-keep-days", K_INT, OFF(audit_keep_days), 0, 36500, "365", 10,
	    "audit rows older than this many days are deleted; 0: kept whatever their age" },
	{ "audit-refused-keep-rows", K_INT, OFF(audit_refused_keep_rows), 100, 100000000, "10000", 10,
	    "newest calls refused for want of a valid token kept, apart from the audit log "
	    "(berthd audit --refused)" },
	{ "data-dir-mode", K_INT, OFF(data_dir_mode), 0, 0777, "0700", 8,
	    "permissions of a data directory berthd creates (octal); the registry is always 0600" },
	{ "publish-address", K_STRING, OFF(publish_address), 0, 0, "0.0.0.0", 0,
	    "host address that service ports are published on" },
	{ "docker-host", K_STRING, OFF(docker_host), 0, 0, "", 0,
	    "Docker engine (unix:///var/run/docker.sock, tcp://H:P); default $DOCKER_HOST" },
	{ "log-level", K_STRING, OFF(log_level), 0, 0, "info", 0, "error, warn, info or debug",
	    "error|warn|info|debug" },
	{ "metrics-listen", K_STRING, OFF(metrics_listen), 0, 0, "", 0,
	    "HTTP URL serving /metrics (Prometheus) and /healthz, e.g. http://127.0.0.1:9464; "
	    "empty: off" },
	{ "http-listen", K_STRING, OFF(http_listen), 0, 0, "", 0,
	    "URL of the HTTP/JSON gateway (POST /v1/<Method>, GET /v1/openapi.json, the web "
	    "console): http://HOST:PORT, or https://HOST:PORT with --tls-cert and --tls-key; a "
	    "non-loopback address needs --auth on; empty: off" },
	{ "http-allowed-hosts", K_LIST, OFF(http_allowed_hosts), 0, 0, "", 0,
	    "a Host name (NAME or NAME:PORT) the HTTP listeners answer besides their own address "
	    "(and localhost on loopback): the names clients reach berthd by; repeatable" },
	{ "workers", K_INT, OFF(workers), 1, 256, "16", 10,
	    "calls served at once (each worker has its own nng context)" },
	{ "max-request-bytes", K_INT, OFF(max_request_bytes), 1024, 64 << 20, "4194304", 10,
	    "largest request accepted; larger ones get RESOURCE_EXHAUSTED" },
	{ "default-timeout-ms", K_INT, OFF(default_timeout_ms), 100, 3600000, "300000", 10,
	    "deadline of a call whose client sends no timeout_ms" },
	{ "idle-timeout-ms", K_INT, OFF(idle_timeout_ms), 0, 86400000, "30000", 10,
	    "a connection that sends no complete request this long after it connected or got "
	    "its last reply is closed (clients reconnect by themselves), and one that has not "
	    "finished its TLS or SP handshake after the shorter of this and 10 s; 0: idle "
	    "connections are kept, handshakes get 10 s" },
	{ "max-connections", K_INT, OFF(max_connections), 1, 1000000, "1024", 10,
	    "connections each listener keeps (RPC and events; ipc:// counts apart from tcp://); "
	    "more are closed at once; lowered at start-up to what the open-file limit allows" },
	{ "max-connections-per-ip", K_INT, OFF(max_connections_per_ip), 1, 1000000, "64", 10,
	    "connections one peer address keeps over the tcp:// and tls+tcp:// listeners" },
	{ "ipc-mode", K_INT, OFF(ipc_mode), 0, 0777, "0660", 8,
	    "permissions of ipc:// socket files (octal)" },
	{ "ipc-group", K_STRING, OFF(ipc_group), 0, 0, "", 0,
	    "group (name or number) of ipc:// socket files, whose members may then connect "
	    "with --ipc-mode 0660; empty: berthd's own" },
	{ "auth", K_STRING, OFF(auth), 0, 0, "auto", 0,
	    "require API tokens (berthd token create): on, off, or auto = on when any --listen "
	    "URL is not ipc://",
	    "auto|on|off" },
	{ "ipc-admin", K_STRING, OFF(ipc_admin), 0, 0, "off", 0,
	    "on: callers on an ipc:// socket without a token are admin even with --auth on",
	    "on|off" },
	{ "tls-cert", K_STRING, OFF(tls_cert), 0, 0, "", 0,
	    "server certificate (PEM) for tls+tcp:// listeners" },
	{ "tls-key", K_STRING, OFF(tls_key), 0, 0, "", 0,
	    "private key (PEM) of --tls-cert" },
	{ "tls-client-ca", K_STRING, OFF(tls_client_ca), 0, 0, "", 0,
	    "CA (PEM) whose certificates clients must present on tls+tcp:// (mutual TLS)" },
	{ "build-root", K_STRING, OFF(build_root), 0, 0, "", 0,
	    "directory that every template build_context must lie under; "
	    "default <data-dir>/build-contexts" },
	{ "backend", K_STRING, OFF(backend), 0, 0, "engine", 0,
	    "what runs an instance: engine (one container on this Docker engine) or swarm (one "
	    "Swarm service; Docker must be a Swarm manager)",
	    "engine|swarm" },
	{ "volume-driver", K_STRING, OFF(volume_driver), 0, 0, "local", 0,
	    "swarm backend: Docker volume driver of the instances' named volumes (a plugin or "
	    "shared storage lets the data follow a task to another node)" },
	{ "registry", K_STRING, OFF(registry), 0, 0, "", 0,
	    "swarm backend: HOST:PORT of a registry every node can pull from; each prepared image "
	    "is pushed there and services run it pinned by digest (empty: none)" },
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

/* A value read from a file: the config points into these until config_free. */
struct config_string {
	struct config_string *next;
	char text[];
};

static const struct option_def *
find_option(const char *name, size_t len)
{
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (strlen(options[i].name) == len && strncmp(options[i].name, name, len) == 0)
			return &options[i];
	return NULL;
}

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

static struct config_list *
list_of(struct config *c, const struct option_def *o)
{
	return (struct config_list *)((char *)c + o->offset);
}

/*
 * Stores `value` (which must outlive c) in option o; a list gets it
 * appended. On a bad value returns -1 with "NAME: reason" in err.
 */
static int
set_value(struct config *c, const struct option_def *o, const char *value, struct error *err)
{
	char *base = (char *)c + o->offset;
	char *end;
	long long v;

	switch (o->kind) {
	case K_STRING:
		if (o->choices != NULL && !allowed(o->choices, value)) {
			error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
			    "%s: \"%s\" is not one of %s", o->name, value, o->choices);
			return -1;
		}
		*(const char **)base = value;
		return 0;
	case K_LIST: {
		struct config_list *list = list_of(c, o);
		if (value[0] == '\0') {
			error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
			    "%s: needs a value", o->name);
			return -1;
		}
		if (list->n >= CONFIG_MAX_LISTEN) {
			error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
			    "%s: at most %d", o->name, CONFIG_MAX_LISTEN);
			return -1;
		}
		list->items[list->n++] = value;
		return 0;
	}
	case K_INT:
		errno = 0;
		v = strtoll(value, &end, o->base);
		if (errno != 0 || end == value || *end != '\0' || v < o->min || v > o->max) {
			error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
			    o->base == 8 ? "%s: \"%s\" is not an octal number from 0%llo to 0%llo"
					 : "%s: \"%s\" is not a number from %lld to %lld",
			    o->name, value, (long long)o->min, (long long)o->max);
			return -1;
		}
		*(int64_t *)base = v;
		return 0;
	}
	return -1;
}

/* A default made at run time, kept as long as the config. NULL when out of memory. */
static const char *
keep_default(struct config *c, const char *prefix, const char *dir, const char *suffix)
{
	size_t len = strlen(prefix) + strlen(dir) + strlen(suffix);
	struct config_string *str = malloc(sizeof(*str) + len + 1);

	if (str == NULL)
		return NULL;
	snprintf(str->text, len + 1, "%s%s%s", prefix, dir, suffix);
	str->next = c->strings;
	c->strings = str;
	return str->text;
}

/*
 * berthd run by an ordinary user (next to rootless Podman) cannot use
 * /var/lib/berth and /run/berth: its data goes under $XDG_DATA_HOME (else
 * ~/.local/share) and its socket under $XDG_RUNTIME_DIR, where libberth's
 * berth_default_url looks for it.
 */
static void
user_defaults(struct config *c)
{
	const char *data = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	const char *run = getenv("XDG_RUNTIME_DIR"), *v;

	if (geteuid() == 0)
		return;
	if (data != NULL && data[0] == '/' && (v = keep_default(c, "", data, "/berth")) != NULL)
		c->data_dir = v;
	else if (home != NULL && home[0] == '/' &&
	    (v = keep_default(c, "", home, "/.local/share/berth")) != NULL)
		c->data_dir = v;
	if (run != NULL && run[0] == '/' && c->listen.n == 1 &&
	    (v = keep_default(c, "ipc://", run, "/berth/berthd.sock")) != NULL)
		c->listen.items[0] = v;
}

void
config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const struct option_def *o = &options[i];

		if (o->kind == K_LIST) {
			if (o->value[0] != '\0')
				list_of(c, o)->items[list_of(c, o)->n++] = o->value;
		} else {
			(void)set_value(c, o, o->value, NULL);
		}
	}
	user_defaults(c);
}

void
config_free(struct config *c)
{
	if (c == NULL)
		return;
	while (c->strings != NULL) {
		struct config_string *next = c->strings->next;
		free(c->strings);
		c->strings = next;
	}
}

/* ---------------------------------------------------------------------------
 * The configuration file
 */

/* One file being read: inih's reader and handler share it. */
struct file_state {
	struct config *c;
	const char *path;
	FILE *f;
	int line;                /* of the line inih works on */
	bool given[N_OPTIONS];   /* lists: the first use in the file replaces */
	bool failed;
	struct error *err;
};

static void __attribute__((format(printf, 2, 3)))
file_error(struct file_state *s, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (s->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	error_set(s->err, BERTH__V1__CODE__INVALID_ARGUMENT, "%s:%d: %s", s->path, s->line, msg);
	s->failed = true;
}

/*
 * inih's reader: one line per call, so s->line is the number of the line
 * inih hands to the handler next. Leading blanks are dropped (inih would
 * take an indented line for the continuation of the previous value);
 * section headers are checked here because inih tells the handler only
 * about keys. Returns NULL at the end, or to stop after an error.
 */
static char *
read_line(char *buf, int size, void *stream)
{
	struct file_state *s = stream;
	size_t len, skip;

	if (s->failed || fgets(buf, size, s->f) == NULL)
		return NULL;
	s->line++;
	len = strlen(buf);
	if (len > 0 && buf[len - 1] != '\n' && !feof(s->f)) {
		file_error(s, "line longer than %d characters", size - 3);
		return NULL;
	}
	skip = strspn(buf, " \t");
	memmove(buf, buf + skip, len - skip + 1);
	if (buf[0] == '[') {
		size_t n = strcspn(buf + 1, "]");

		if (buf[1 + n] == ']' && !(n == 6 && strncmp(buf + 1, "berthd", 6) == 0)) {
			file_error(s, "unknown section [%.*s] (berthd reads only [berthd])", (int)n,
			    buf + 1);
			return NULL;
		}
	}
	return buf;
}

/* Keeps a copy of value alive as long as the config; strips one pair of quotes. */
static const char *
keep_value(struct file_state *s, const char *value)
{
	size_t len = strlen(value);
	struct config_string *str;

	if (len > 0 && value[0] == '"') {
		if (len < 2 || value[len - 1] != '"') {
			file_error(s, "unterminated quote in %s", value);
			return NULL;
		}
		value++;
		len -= 2;
	}
	if ((str = malloc(sizeof(*str) + len + 1)) == NULL) {
		file_error(s, "out of memory");
		return NULL;
	}
	memcpy(str->text, value, len);
	str->text[len] = '\0';
	str->next = s->c->strings;
	s->c->strings = str;
	return str->text;
}

/* inih's handler: one "key = value". Always 1: errors are kept in s. */
static int
handle_key(void *user, const char *section, const char *name, const char *value)
{
	struct file_state *s = user;
	const struct option_def *o;
	const char *kept;
	struct error bad;

	(void)section; /* read_line refused every section but [berthd] */
	if (s->failed)
		return 1;
	if ((o = find_option(name, strlen(name))) == NULL) {
		file_error(s, "unknown key \"%s\" (see berthd --help)", name);
		return 1;
	}
	if ((kept = keep_value(s, value)) == NULL)
		return 1;
	if (o->kind == K_LIST && !s->given[o - options]) {
		list_of(s->c, o)->n = 0; /* the file's list replaces the default */
		s->given[o - options] = true;
	}
	if (set_value(s->c, o, kept, &bad) != 0)
		file_error(s, "%s", bad.message);
	return 1;
}

int
config_read_file(struct config *c, const char *path, struct error *err)
{
	struct file_state s = { .c = c, .path = path, .err = err };
	int rv;

	if ((s.f = fopen(path, "r")) == NULL) {
		error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "%s: %s", path, strerror(errno));
		return -1;
	}
	rv = ini_parse_stream(read_line, &s, handle_key, &s);
	fclose(s.f);
	if (s.failed)
		return -1;
	if (rv > 0) {
		s.line = rv;
		file_error(&s, "expected \"key = value\", \"[berthd]\" or a comment");
		return -1;
	}
	if (rv != 0) {
		error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "%s: out of memory", path);
		return -1;
	}
	c->file = path;
	return 0;
}

/* ---------------------------------------------------------------------------
 * Flags
 */

static void
usage(FILE *out)
{
	fprintf(out, "usage: berthd [--config FILE] [--OPTION VALUE ...]\n\n"
		     "berthd serves berth's RPC API and manages Docker containers from templates.\n\n");
	fprintf(out, "  --%-20s %s (default: %s)\n", "config FILE",
	    "read settings from FILE first (INI: \"option = value\" per line, keys named as "
	    "below without \"--\", optional [berthd] section); flags override it; "
	    "\"\" reads none",
	    CONFIG_DEFAULT_FILE ", if it exists");
	for (size_t i = 0; i < N_OPTIONS; i++)
		fprintf(out, "  --%-20s %s (default: %s)\n", options[i].name, options[i].help,
		    options[i].value[0] ? options[i].value : "\"\"");
	fprintf(out, "  --%-20s %s\n", "print-config",
	    "print the effective settings (file and flags) and exit");
	fprintf(out, "  --%-20s %s\n", "version", "print the version and exit");
}

/* A flag of argv: --name=value or --name value. */
struct flag {
	const char *name; /* without "--"; not NUL-terminated at name_len */
	size_t name_len;
	const char *value; /* NULL for --help, --version, --print-config */
};

/*
 * Reads the flag at argv[*i] and advances *i past it. Returns 0, or -1 with
 * the reason in err.
 */
static int
next_flag(int argc, char **argv, int *i, struct flag *f, struct error *err)
{
	const char *arg = argv[*i], *eq;

	*i += 1;
	memset(f, 0, sizeof(*f));
	if (strcmp(arg, "-h") == 0)
		arg = "--help";
	if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
		error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "unexpected argument \"%s\" (see --help)", arg);
		return -1;
	}
	f->name = arg + 2;
	eq = strchr(f->name, '=');
	f->name_len = eq != NULL ? (size_t)(eq - f->name) : strlen(f->name);
	if (eq == NULL && (strcmp(f->name, "help") == 0 || strcmp(f->name, "version") == 0 ||
			      strcmp(f->name, "print-config") == 0))
		return 0;
	if (!(f->name_len == 6 && strncmp(f->name, "config", 6) == 0) &&
	    find_option(f->name, f->name_len) == NULL) {
		error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "unknown option --%.*s (see --help)", (int)f->name_len, f->name);
		return -1;
	}
	if (eq != NULL)
		f->value = eq + 1;
	else if (*i < argc)
		f->value = argv[(*i)++];
	else {
		error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "--%.*s needs a value", (int)f->name_len, f->name);
		return -1;
	}
	return 0;
}

int
config_parse_args(struct config *c, int argc, char **argv, const char *default_file,
    struct error *err)
{
	bool list_given[N_OPTIONS] = { false };
	const char *file = NULL;
	bool print = false;
	struct flag f;
	struct error bad;

	/* First pass: --help, --version, --config, and every flag checked for form. */
	for (int i = 0; i < argc;) {
		if (next_flag(argc, argv, &i, &f, err) != 0)
			return -1;
		if (f.value == NULL && strcmp(f.name, "help") == 0) {
			usage(stdout);
			return 1;
		}
		if (f.value == NULL && strcmp(f.name, "version") == 0) {
			printf("berthd %s\n", BERTH_VERSION);
			return 1;
		}
		if (f.value == NULL)
			print = true;
		else if (f.name_len == 6 && strncmp(f.name, "config", 6) == 0)
			file = f.value;
	}

	/* The file: named, or the default one when it exists. */
	if (file != NULL) {
		if (file[0] != '\0' && config_read_file(c, file, err) != 0)
			return -1;
	} else if (default_file != NULL && config_read_file(c, default_file, err) != 0) {
		FILE *probe = fopen(default_file, "r");

		if (probe != NULL || errno != ENOENT) {
			if (probe != NULL)
				fclose(probe);
			return -1;
		}
	}

	/* Second pass: the flags override the file. */
	for (int i = 0; i < argc;) {
		const struct option_def *o;

		(void)next_flag(argc, argv, &i, &f, err);
		if (f.value == NULL || (o = find_option(f.name, f.name_len)) == NULL)
			continue; /* --print-config, --config */
		if (o->kind == K_LIST && !list_given[o - options]) {
			/* The first use replaces the file's list or the default. */
			list_of(c, o)->n = 0;
			list_given[o - options] = true;
		}
		if (set_value(c, o, f.value, &bad) != 0) {
			error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT, "--%s", bad.message);
			return -1;
		}
	}
	if (print) {
		config_print(c, stdout);
		return 1;
	}
	return 0;
}

/* ---------------------------------------------------------------------------
 * --print-config
 */

/* "name = value", quoted when the file reader would otherwise change it. */
static void
print_value(FILE *out, const char *name, const char *value)
{
	size_t len = strlen(value);

	if (len == 0)
		fprintf(out, "%s =\n", name);
	else if (value[0] == '"' || value[0] == ' ' || value[0] == '\t' || value[len - 1] == ' ' ||
	    value[len - 1] == '\t' || strstr(value, " ;") != NULL || strstr(value, "\t;") != NULL)
		fprintf(out, "%s = \"%s\"\n", name, value);
	else
		fprintf(out, "%s = %s\n", name, value);
}

/* True when option o has the same value in a and b. */
static bool
same_value(const struct config *a, const struct config *b, const struct option_def *o)
{
	const char *x = (const char *)a + o->offset, *y = (const char *)b + o->offset;

	switch (o->kind) {
	case K_STRING:
		return strcmp(*(const char *const *)x, *(const char *const *)y) == 0;
	case K_LIST: {
		const struct config_list *l = (const void *)x, *m = (const void *)y;

		if (l->n != m->n)
			return false;
		for (size_t j = 0; j < l->n; j++)
			if (strcmp(l->items[j], m->items[j]) != 0)
				return false;
		return true;
	}
	case K_INT:
		return *(const int64_t *)x == *(const int64_t *)y;
	}
	return true;
}

void
config_each_change(const struct config *before, const struct config *after,
    void (*fn)(void *arg, const char *name), void *arg)
{
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (!same_value(before, after, &options[i]))
			fn(arg, options[i].name);
}

void
config_print(const struct config *c, FILE *out)
{
	fprintf(out, "# berthd %s: effective settings (%s%s)\n", BERTH_VERSION,
	    c->file != NULL ? "file " : "defaults and flags only", c->file != NULL ? c->file : "");
	fprintf(out, "[berthd]\n");
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const struct option_def *o = &options[i];
		const char *base = (const char *)c + o->offset;

		switch (o->kind) {
		case K_STRING:
			print_value(out, o->name, *(const char *const *)base);
			break;
		case K_LIST: {
			const struct config_list *list = (const struct config_list *)base;
			if (list->n == 0)
				fprintf(out, "# %s: none\n", o->name);
			for (size_t j = 0; j < list->n; j++)
				print_value(out, o->name, list->items[j]);
			break;
		}
		case K_INT:
			fprintf(out, o->base == 8 ? "%s = 0%llo\n" : "%s = %lld\n", o->name,
			    (long long)*(const int64_t *)base);
			break;
		}
	}
}
