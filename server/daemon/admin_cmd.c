/*
 * admin_cmd.c - `berthd token ...` and `berthd audit`: tokens and the audit
 * log, straight from the registry database.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon/admin_cmd.h"
#include "store/audit.h"
#include "utf8.h"
#include "base/config.h"
#include "base/log.h"
#include "store/registry.h"
#include "status.h"
#include "store/tokens.h"

#define EXIT_FAILED 1
#define EXIT_USAGE 2
#define AUDIT_DEFAULT_TAIL 50

static const char usage_text[] =
    "usage: berthd token create --name NAME --role viewer|operator|admin [--data-dir DIR]\n"
    "       berthd token list [--json] [--data-dir DIR]\n"
    "       berthd token revoke NAME [--data-dir DIR]\n"
    "       berthd audit [--refused] [--tail N] [--json] [--data-dir DIR]\n"
    "\n"
    "Tokens are printed once, when created; berthd keeps only a salted hash.\n"
    "Roles: viewer (reads), operator (also launch, stop, restart, remove, logs,\n"
    "cleanup), admin (also templates, cleanup --force, shutdown).\n"
    "DIR defaults to data-dir of the configuration file (--config FILE, else\n" CONFIG_DEFAULT_FILE
    "),\nelse /var/lib/berth.\n";

/* The command line of one command, parsed. */
struct args {
	const char *data_dir;
	const char *config;
	const char *name;
	const char *role;
	const char *tail;
	bool json;
	bool refused;
	const char *positional[2];
	int n_positional;
};

static int __attribute__((format(printf, 1, 2)))
usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "berthd: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fputs(usage_text, stderr);
	return EXIT_USAGE;
}

/* --opt VALUE, --opt=VALUE, --json, positionals. Returns 0 or EXIT_USAGE. */
static int
parse(int argc, char **argv, struct args *a)
{
	static const struct {
		const char *name;
		size_t offset;
	} opts[] = {
		{ "--data-dir", offsetof(struct args, data_dir) },
		{ "--config", offsetof(struct args, config) },
		{ "--name", offsetof(struct args, name) },
		{ "--role", offsetof(struct args, role) },
		{ "--tail", offsetof(struct args, tail) },
	};

	memset(a, 0, sizeof(*a));
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];
		bool matched = false;

		if (strcmp(arg, "--json") == 0) {
			a->json = true;
			continue;
		}
		if (strcmp(arg, "--refused") == 0) {
			a->refused = true;
			continue;
		}
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			fputs(usage_text, stdout);
			return -1;
		}
		for (size_t o = 0; o < sizeof(opts) / sizeof(opts[0]) && !matched; o++) {
			size_t n = strlen(opts[o].name);
			const char **value = (const char **)((char *)a + opts[o].offset);

			if (strncmp(arg, opts[o].name, n) != 0 || (arg[n] != '\0' && arg[n] != '='))
				continue;
			matched = true;
			if (arg[n] == '=')
				*value = arg + n + 1;
			else if (i + 1 < argc)
				*value = argv[++i];
			else
				return usage("%s needs a value", opts[o].name);
		}
		if (matched)
			continue;
		if (arg[0] == '-')
			return usage("unknown option %s", arg);
		if (a->n_positional >= 2)
			return usage("unexpected argument %s", arg);
		a->positional[a->n_positional++] = arg;
	}
	return 0;
}

/*
 * Opens <data-dir>/registry.db, creating it only when `create`. NULL
 * after printing why.
 */
static struct registry *
open_registry(const struct args *a, bool create)
{
	struct config c;
	struct registry *reg = NULL;
	const char *dir = a->data_dir;
	char path[4200];
	struct error err;

	config_defaults(&c);
	if (dir == NULL) {
		const char *file = a->config != NULL ? a->config : CONFIG_DEFAULT_FILE;

		if (access(file, F_OK) == 0 || a->config != NULL) {
			if (config_read_file(&c, file, &err) != 0) {
				fprintf(stderr, "berthd: %s\n", err.message);
				config_free(&c);
				return NULL;
			}
		}
		dir = c.data_dir;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/registry.db", dir) >= sizeof(path)) {
		fprintf(stderr, "berthd: data directory path too long\n");
	} else if (!create && access(path, F_OK) != 0) {
		fprintf(stderr, "berthd: no registry at %s (%s): is --data-dir right?\n", path,
		    strerror(errno));
	} else if (access(dir, F_OK) != 0) {
		fprintf(stderr, "berthd: no data directory %s (%s)\n", dir, strerror(errno));
	} else if (registry_open(&reg, path, true, &err) != 0) {
		fprintf(stderr, "berthd: %s\n", err.message);
		reg = NULL;
	}
	config_free(&c);
	return reg;
}

static int
token_create(const struct args *a)
{
	struct registry *reg;
	char token[TOKEN_LEN + 1];
	struct error err;
	enum rpc_role role;
	int code;

	if (a->name == NULL || a->role == NULL || a->n_positional != 0)
		return usage("token create needs --name NAME and --role ROLE");
	if ((role = token_role_parse(a->role)) == RPC_ROLE_UNSET)
		return usage("--role must be viewer, operator or admin, not '%s'", a->role);
	if ((reg = open_registry(a, true)) == NULL)
		return EXIT_FAILED;
	code = tokens_create(reg, a->name, role, token, &err);
	registry_close(reg);
	if (code != 0) {
		fprintf(stderr, "berthd: %s: %s\n", status_code_name(code), err.message);
		return EXIT_FAILED;
	}
	printf("%s\n", token);
	fprintf(stderr, "berthd: token '%s' (%s) created; it is shown only this once\n", a->name,
	    token_role_name(role));
	explicit_bzero(token, sizeof(token));
	return 0;
}

struct printer {
	bool json;
	json_t *array;
};

static void
print_token(void *arg, const struct token_info *t)
{
	struct printer *p = arg;

	if (p->json) {
		json_array_append_new(p->array,
		    json_pack("{s:s, s:s, s:s, s:s}", "name", t->name, "role", token_role_name(t->role),
			"created_at", t->created_at, "last_used_at", t->last_used_at));
		return;
	}
	printf("%-24s %-9s %-21s %s\n", t->name, token_role_name(t->role), t->created_at,
	    t->last_used_at[0] != '\0' ? t->last_used_at : "never");
}

/* Ends a --json listing: the array, indented, on stdout. */
static int
print_json(struct printer *p)
{
	int rc = json_dumpf(p->array, stdout, JSON_INDENT(2));

	fputc('\n', stdout);
	json_decref(p->array);
	return rc == 0 ? 0 : EXIT_FAILED;
}

static int
token_list(const struct args *a)
{
	struct printer p = { a->json, a->json ? json_array() : NULL };
	struct registry *reg;
	struct error err;
	int code;

	if (a->n_positional != 0)
		return usage("unexpected argument %s", a->positional[0]);
	if ((reg = open_registry(a, false)) == NULL) {
		json_decref(p.array);
		return EXIT_FAILED;
	}
	if (!a->json)
		printf("%-24s %-9s %-21s %s\n", "NAME", "ROLE", "CREATED", "LAST USED");
	code = tokens_list(reg, print_token, &p, &err);
	registry_close(reg);
	if (code != 0) {
		json_decref(p.array);
		fprintf(stderr, "berthd: %s\n", err.message);
		return EXIT_FAILED;
	}
	return a->json ? print_json(&p) : 0;
}

static int
token_revoke(const struct args *a)
{
	struct registry *reg;
	struct error err;
	int code;

	if (a->n_positional != 1)
		return usage("token revoke needs the token's NAME");
	if ((reg = open_registry(a, false)) == NULL)
		return EXIT_FAILED;
	code = tokens_revoke(reg, a->positional[0], &err);
	registry_close(reg);
	if (code != 0) {
		fprintf(stderr, "berthd: %s: %s\n", status_code_name(code), err.message);
		return EXIT_FAILED;
	}
	/* A running berthd trusts a token it verified for TOKENS_KEEP_MS: wait that out. */
	usleep(TOKENS_KEEP_MS * 1000);
	printf("Token '%s' revoked.\n", a->positional[0]);
	return 0;
}

/* s with non-printing characters escaped, in one of four static buffers. */
static const char *
shown(const char *s, int slot)
{
	static char buf[4][1024];

	utf8_escape_nonprinting(buf[slot], sizeof(buf[slot]), s);
	return buf[slot];
}

static void
print_audit(void *arg, const struct audit_entry *e)
{
	static const char prefix[] = "/berth.v1.Berth/";
	struct printer *p = arg;
	const char *method = e->method;

	if (p->json) {
		json_array_append_new(p->array,
		    json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", (json_int_t)e->id,
			"time", e->time, "token_name", e->token_name, "peer", e->peer, "method",
			e->method, "target", e->target, "code", status_code_name(e->code),
			"request_id", e->request_id));
		return;
	}
	if (strncmp(method, prefix, sizeof(prefix) - 1) == 0)
		method += sizeof(prefix) - 1;
	/*
	 * Peer, method, target and request id come from whoever called, also
	 * unauthenticated: control characters and bidi overrides are shown
	 * escaped, never sent to the terminal.
	 */
	printf("%-20s  %-16s  %-24s  %-16s  %-24s  %s\n", e->time,
	    e->token_name[0] ? shown(e->token_name, 0) : "-", e->peer[0] ? shown(e->peer, 1) : "-",
	    shown(method, 2), e->target[0] ? shown(e->target, 3) : "-", status_code_name(e->code));
}

static int
audit_command(const struct args *a)
{
	struct printer p = { a->json, a->json ? json_array() : NULL };
	struct registry *reg;
	unsigned long tail = AUDIT_DEFAULT_TAIL;
	struct error err;
	char *end;
	int code;

	if (a->n_positional != 0)
		return usage("unexpected argument %s", a->positional[0]);
	if (a->tail != NULL) {
		errno = 0;
		tail = strtoul(a->tail, &end, 10);
		if (errno != 0 || end == a->tail || *end != '\0' || tail > 1000000 ||
		    a->tail[0] == '-')
			return usage("--tail takes a number of rows (0 = all), not '%s'", a->tail);
	}
	if ((reg = open_registry(a, false)) == NULL) {
		json_decref(p.array);
		return EXIT_FAILED;
	}
	if (!a->json)
		printf("%-20s  %-16s  %-24s  %-16s  %-24s  %s\n", "TIME", "TOKEN", "PEER", "METHOD",
		    "TARGET", "CODE");
	code = audit_tail(reg, a->refused, (unsigned)tail, print_audit, &p, &err);
	registry_close(reg);
	if (code != 0) {
		json_decref(p.array);
		fprintf(stderr, "berthd: %s\n", err.message);
		return EXIT_FAILED;
	}
	return a->json ? print_json(&p) : 0;
}

bool
admin_cmd_is(const char *word)
{
	return strcmp(word, "token") == 0 || strcmp(word, "audit") == 0;
}

int
admin_cmd_main(int argc, char **argv)
{
	struct args a;
	int rc;

	/* Migrating a fresh database logs at info: not news on a terminal. */
	log_threshold = LL_WARN;
	if (strcmp(argv[0], "audit") == 0) {
		if ((rc = parse(argc - 1, argv + 1, &a)) != 0)
			return rc < 0 ? 0 : rc;
		return audit_command(&a);
	}
	if (argc < 2)
		return usage("token needs a subcommand: create, list or revoke");
	if ((rc = parse(argc - 2, argv + 2, &a)) != 0)
		return rc < 0 ? 0 : rc;
	if (strcmp(argv[1], "create") == 0)
		return token_create(&a);
	if (strcmp(argv[1], "list") == 0)
		return token_list(&a);
	if (strcmp(argv[1], "revoke") == 0)
		return token_revoke(&a);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(usage_text, stdout);
		return 0;
	}
	return usage("unknown token subcommand '%s'", argv[1]);
}
