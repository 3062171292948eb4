/*
 * validate.c - input checks shared by berthd and the CLI.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "utf8.h"
#include "validate.h"

static int __attribute__((format(printf, 4, 5)))
invalid(struct error *err, const char *field, const char *reason, const char *fmt, ...)
{
	char message[ERROR_MESSAGE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	error_set_field(err, BERTH__V1__CODE__INVALID_ARGUMENT, field, reason, "%s", message);
	return -1;
}

/* Walks UTF-8; with `text`, also refuses control characters but tab. */
static bool
scan_utf8(const char *s, bool text)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		size_t n = utf8_sequence_length(p);

		if (n == 0)
			return false;
		if (n == 1 && text && ((*p < 0x20 && *p != '\t') || *p == 0x7f))
			return false;
		p += n;
	}
	return true;
}

bool
validate_utf8(const char *s)
{
	return scan_utf8(s, false);
}

bool
validate_text(const char *s)
{
	return scan_utf8(s, true);
}

static int
check_name(const char *field, const char *s, size_t max, struct error *err)
{
	size_t n = strlen(s);

	if (n == 0)
		return invalid(err, field, "MISSING", "%s must not be empty", field);
	if (n > max)
		return invalid(err, field, "TOO_LONG", "%s is %zu characters long; at most %zu are allowed",
		    field, n, max);
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return invalid(err, field, "INVALID_NAME",
		    "%s must start with a lowercase letter or a digit", field);
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.')
			continue;
		return invalid(err, field, "INVALID_NAME",
		    "%s may contain only a-z, 0-9, '_', '-' and '.'", field);
	}
	/* Names become directory names: nothing that walks up the tree. */
	if (strstr(s, "..") != NULL)
		return invalid(err, field, "INVALID_NAME", "%s must not contain \"..\"", field);
	return 0;
}

int
validate_name(const char *field, const char *s, struct error *err)
{
	return check_name(field, s, NAME_MAX_LEN, err);
}

int
validate_instance_name(const char *field, const char *s, struct error *err)
{
	const char *digits = s + strlen("instance_");

	if (check_name(field, s, NAME_MAX_LEN, err) != 0)
		return -1;
	/* berth's own automatic names: instance_N. */
	if (strncmp(s, "instance_", strlen("instance_")) == 0 && *digits != '\0' &&
	    strspn(digits, "0123456789") == strlen(digits))
		return 0;
	if (s[0] < 'a' || s[0] > 'z' || strchr(s, '_') != NULL)
		return invalid(err, field, "INVALID_INSTANCE_NAME",
		    "%s must start with a letter and contain no '_' (a service id is "
		    "<template>_<instance>: 'rta' + 'b_instance_1' would be the id of 'rta_b' + "
		    "'instance_1')",
		    field);
	return 0;
}

int
validate_service_id(const char *field, const char *s, struct error *err)
{
	return check_name(field, s, 2 * NAME_MAX_LEN + 1, err);
}

int
validate_port(const char *field, uint32_t port, struct error *err)
{
	if (port < 1 || port > 65535)
		return invalid(err, field, "PORT_OUT_OF_RANGE",
		    "%s must be between 1 and 65535, not %u", field, port);
	return 0;
}

int
validate_abs_path(const char *field, const char *s, bool allow_empty,
    struct error *err)
{
	size_t n = strlen(s);
	const char *p;

	if (n == 0) {
		if (allow_empty)
			return 0;
		return invalid(err, field, "MISSING", "%s must not be empty", field);
	}
	if (n > PATH_MAX_LEN)
		return invalid(err, field, "TOO_LONG", "%s is longer than %d bytes", field, PATH_MAX_LEN);
	if (!validate_text(s))
		return invalid(err, field, "INVALID_TEXT", "%s is not valid UTF-8 text", field);
	if (s[0] != '/')
		return invalid(err, field, "INVALID_PATH", "%s must be an absolute path", field);
	for (p = s; *p != '\0';) {
		const char *end;
		size_t len;

		while (*p == '/')
			p++;
		end = strchr(p, '/');
		len = end != NULL ? (size_t)(end - p) : strlen(p);
		if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
			return invalid(err, field, "INVALID_PATH",
			    "%s must not contain \".\" or \"..\" components", field);
		p += len;
	}
	return 0;
}

void
validate_normalize_path(char *s)
{
	char *out = s;

	for (const char *in = s; *in != '\0'; in++)
		if (!(*in == '/' && out > s && out[-1] == '/'))
			*out++ = *in;
	while (out - s > 1 && out[-1] == '/')
		out--;
	*out = '\0';
}

int
validate_image(const char *field, const char *s, struct error *err)
{
	size_t n = strlen(s);

	if (n == 0)
		return invalid(err, field, "MISSING", "%s must not be empty", field);
	if (n > IMAGE_MAX_LEN)
		return invalid(err, field, "TOO_LONG", "%s is longer than %d characters", field,
		    IMAGE_MAX_LEN);
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return invalid(err, field, "INVALID_IMAGE",
		    "%s must start with a lowercase letter or a digit", field);
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("._/:@-", c) != NULL)
			continue;
		return invalid(err, field, "INVALID_IMAGE", "%s contains '%c', not allowed in an image reference",
		    field, c >= 0x20 && c < 0x7f ? c : '?');
	}
	/*
	 * The name goes into Docker API paths (/images/NAME/json), where ".."
	 * or "/." would walk to another endpoint; Docker's grammar has neither.
	 */
	if (strstr(s, "..") != NULL || strstr(s, "//") != NULL || strstr(s, "/.") != NULL ||
	    strchr("./:@-", s[n - 1]) != NULL)
		return invalid(err, field, "INVALID_IMAGE",
		    "%s is not an image reference (\"..\", \"//\", \"/.\" or a trailing "
		    "separator)",
		    field);
	return 0;
}

int
validate_env(const char *field, const char *s, struct error *err)
{
	const char *eq = strchr(s, '=');

	if (strlen(s) > TEXT_MAX_LEN)
		return invalid(err, field, "TOO_LONG", "%s is longer than %d bytes", field, TEXT_MAX_LEN);
	if (!validate_text(s))
		return invalid(err, field, "INVALID_TEXT", "%s is not valid UTF-8 text", field);
	if (eq == NULL || eq == s)
		return invalid(err, field, "INVALID_ENV", "%s must have the form KEY=VALUE", field);
	for (const char *p = s; p < eq; p++) {
		char c = *p;
		if (c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (p > s && c >= '0' && c <= '9'))
			continue;
		return invalid(err, field, "INVALID_ENV",
		    "%s: the KEY must be letters, digits and '_', not starting with a digit", field);
	}
	/* berth sets these itself (BERTH_SERVICE, BERTH_PORT, ...): one value each. */
	if (strncmp(s, "BERTH_", 6) == 0)
		return invalid(err, field, "RESERVED_ENV",
		    "%s: names starting with BERTH_ are reserved for the variables berth sets", field);
	return 0;
}

static int
validate_list(const char *field, char **items, size_t n, bool env, struct error *err)
{
	char item_field[64];

	if (n > LIST_MAX_LEN)
		return invalid(err, field, "TOO_MANY", "%s has %zu entries; at most %d are allowed",
		    field, n, LIST_MAX_LEN);
	for (size_t i = 0; i < n; i++) {
		snprintf(item_field, sizeof(item_field), "%s[%zu]", field, i);
		if (env) {
			if (validate_env(item_field, items[i], err) != 0)
				return -1;
		} else if (strlen(items[i]) > TEXT_MAX_LEN || !validate_text(items[i])) {
			return invalid(err, item_field, "INVALID_TEXT",
			    "%s must be valid UTF-8 text of at most %d bytes", item_field, TEXT_MAX_LEN);
		}
	}
	return 0;
}

/*
 * The fields the swarm backend reads (publish mode, replicas, constraints)
 * and the resource limits both backends apply.
 */
static int
validate_placement(const Berth__V1__Template *t, struct error *err)
{
	const char *mode = t->publish_mode != NULL ? t->publish_mode : "";

	if (strcmp(mode, "") != 0 && strcmp(mode, "ingress") != 0 && strcmp(mode, "host") != 0)
		return invalid(err, "template.publish_mode", "INVALID_PUBLISH_MODE",
		    "template.publish_mode must be \"ingress\", \"host\" or empty (ingress)");
	if (t->replicas > REPLICAS_MAX)
		return invalid(err, "template.replicas", "OUT_OF_RANGE",
		    "template.replicas must be at most %d", REPLICAS_MAX);
	if (t->n_constraints > CONSTRAINTS_MAX)
		return invalid(err, "template.constraints", "TOO_MANY",
		    "template.constraints has %zu entries; at most %d are allowed", t->n_constraints,
		    CONSTRAINTS_MAX);
	for (size_t i = 0; i < t->n_constraints; i++) {
		const char *c = t->constraints[i];

		/* Swarm's syntax: KEY==VALUE or KEY!=VALUE, e.g. node.labels.zone==eu. */
		if (c == NULL || strlen(c) == 0 || strlen(c) > CONSTRAINT_MAX_LEN || !validate_text(c) ||
		    (strstr(c, "==") == NULL && strstr(c, "!=") == NULL) || c[0] == '=' || c[0] == '!')
			return invalid(err, "template.constraints", "INVALID_CONSTRAINT",
			    "template.constraints[%zu] must look like KEY==VALUE or KEY!=VALUE "
			    "(at most %d characters)",
			    i, CONSTRAINT_MAX_LEN);
	}
	/* NaN fails both comparisons. */
	if (!(t->cpu_limit >= 0 && t->cpu_limit <= CPU_LIMIT_MAX))
		return invalid(err, "template.cpu_limit", "OUT_OF_RANGE",
		    "template.cpu_limit must be from 0 (no limit) to %d CPUs", CPU_LIMIT_MAX);
	if (t->cpu_limit > 0 && t->cpu_limit < 0.01)
		return invalid(err, "template.cpu_limit", "OUT_OF_RANGE",
		    "template.cpu_limit must be 0 (no limit) or at least 0.01 CPUs");
	if (t->memory_limit_bytes != 0 &&
	    (t->memory_limit_bytes < MEMORY_LIMIT_MIN || t->memory_limit_bytes > MEMORY_LIMIT_MAX))
		return invalid(err, "template.memory_limit_bytes", "OUT_OF_RANGE",
		    "template.memory_limit_bytes must be 0 (no limit) or from %llu (6 MiB, Docker's "
		    "minimum) to %llu",
		    (unsigned long long)MEMORY_LIMIT_MIN, (unsigned long long)MEMORY_LIMIT_MAX);
	if (t->user != NULL && t->user[0] != '\0' &&
	    validate_user("template.user", t->user, NULL, NULL, err) != 0)
		return -1;
	return 0;
}

/* A decimal id of at most USER_ID_MAX, no sign, no leading zero; its length, or 0. */
static size_t
parse_id(const char *s, long *out)
{
	size_t n = 0;
	long v = 0;

	while (s[n] >= '0' && s[n] <= '9' && n < 10) {
		v = v * 10 + (s[n] - '0');
		n++;
	}
	if (n == 0 || (n > 1 && s[0] == '0') || v > USER_ID_MAX)
		return 0;
	*out = v;
	return n;
}

int
validate_user(const char *field, const char *user, long *uid, long *gid, struct error *err)
{
	long u, g = -1;
	size_t n = parse_id(user, &u);

	if (n > 0 && user[n] == ':') {
		size_t m = parse_id(user + n + 1, &g);

		n = m > 0 ? n + 1 + m : 0;
	}
	if (n == 0 || user[n] != '\0')
		return invalid(err, field, "INVALID_USER",
		    "%s must be UID or UID:GID in numbers from 0 to %ld (a user name would need the "
		    "image's /etc/passwd, which berthd does not read)",
		    field, (long)USER_ID_MAX);
	if (uid != NULL)
		*uid = u;
	if (gid != NULL)
		*gid = g;
	return 0;
}

size_t
validate_env_key_len(const char *entry)
{
	return strcspn(entry, "=");
}

/* Whether entries a and b ("KEY=VALUE" or "KEY") have the same KEY. */
static bool
same_env_key(const char *a, const char *b)
{
	size_t n = validate_env_key_len(a);

	return n == validate_env_key_len(b) && strncmp(a, b, n) == 0;
}

/*
 * template.secret_env: entries as env's, each KEY once and not also in env.
 * Messages name the field and the key only: the value is a secret.
 */
static int
validate_secret_env(const Berth__V1__Template *t, struct error *err)
{
	if (validate_list("template.secret_env", t->secret_env, t->n_secret_env, true, err) != 0)
		return -1;
	for (size_t i = 0; i < t->n_secret_env; i++) {
		const char *e = t->secret_env[i];
		int key_len = (int)validate_env_key_len(e);

		for (size_t j = 0; j < i; j++)
			if (same_env_key(e, t->secret_env[j]))
				return invalid(err, "template.secret_env", "DUPLICATE_ENV",
				    "template.secret_env: %.*s is given twice", key_len, e);
		for (size_t j = 0; j < t->n_env; j++)
			if (same_env_key(e, t->env[j]))
				return invalid(err, "template.secret_env", "DUPLICATE_ENV",
				    "template.secret_env: %.*s is also in template.env; a key is "
				    "either secret or not",
				    key_len, e);
	}
	return 0;
}

int
validate_secret_env_kept(const Berth__V1__Template *t, char *const *stored, size_t n,
    struct error *err)
{
	char field[64];

	for (size_t i = 0; i < t->n_secret_env; i++) {
		const char *e = t->secret_env[i];
		size_t key_len = validate_env_key_len(e);
		bool found = false;

		if (e[key_len] != '=' || strcmp(e + key_len + 1, SECRET_MASK) != 0)
			continue;
		for (size_t j = 0; j < n && !found; j++)
			found = same_env_key(e, stored[j]);
		if (!found) {
			snprintf(field, sizeof(field), "template.secret_env[%zu]", i);
			return invalid(err, field, "NO_STORED_SECRET", "%s: no stored value for %.*s",
			    field, (int)key_len, e);
		}
	}
	return 0;
}

int
validate_restart_policy(const char *field, const char *s, bool allow_empty, struct error *err)
{
	if ((allow_empty && s[0] == '\0') || strcmp(s, "no") == 0 || strcmp(s, "on-failure") == 0 ||
	    strcmp(s, "always") == 0)
		return 0;
	return invalid(err, field, "INVALID_RESTART_POLICY",
	    "%s must be \"no\", \"on-failure\" or \"always\"", field);
}

/* template.restart and its give-up limit (0 takes the default). */
static int
validate_restart(const Berth__V1__Template *t, struct error *err)
{
	if (validate_restart_policy("template.restart", t->restart, true, err) != 0)
		return -1;
	if (t->max_restarts > RESTARTS_MAX)
		return invalid(err, "template.max_restarts", "OUT_OF_RANGE",
		    "template.max_restarts must be at most %d", RESTARTS_MAX);
	if (t->restart_window_s > RESTART_WINDOW_MAX_S)
		return invalid(err, "template.restart_window_s", "OUT_OF_RANGE",
		    "template.restart_window_s must be at most %d seconds (a week)",
		    RESTART_WINDOW_MAX_S);
	return 0;
}

/* An http probe's path: absolute, printable ASCII, no fragment, bounded. */
static int
validate_http_path(const char *path, struct error *err)
{
	const char *field = "template.health.http_path";

	if (path[0] != '/' || strlen(path) > HEALTH_PATH_MAX)
		return invalid(err, field, "INVALID_PATH",
		    "%s must be an absolute URL path such as /healthz (at most %d bytes)", field,
		    HEALTH_PATH_MAX);
	for (const char *p = path; *p != '\0'; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == '#')
			return invalid(err, field, "INVALID_PATH",
			    "%s must be printable ASCII without spaces or '#' (percent-encode them)",
			    field);
	return 0;
}

/* template.health: a known kind with what it needs, and sane timings. */
static int
validate_health(const Berth__V1__HealthCheck *h, struct error *err)
{
	if (h == NULL || h->kind[0] == '\0' || strcmp(h->kind, "none") == 0)
		return 0;
	if (strcmp(h->kind, "http") == 0) {
		if (validate_http_path(h->http_path, err) != 0)
			return -1;
	} else if (strcmp(h->kind, "exec") == 0) {
		if (h->n_exec_command == 0)
			return invalid(err, "template.health.exec_command", "MISSING",
			    "template.health.exec_command must name the command to run");
		if (validate_list("template.health.exec_command", h->exec_command,
			h->n_exec_command, false, err) != 0)
			return -1;
	} else if (strcmp(h->kind, "tcp") != 0) {
		return invalid(err, "template.health.kind", "INVALID_HEALTH_KIND",
		    "template.health.kind must be \"none\", \"tcp\", \"http\" or \"exec\"");
	}
	if (strcmp(h->kind, "http") != 0 && h->http_path[0] != '\0')
		return invalid(err, "template.health.http_path", "UNEXPECTED",
		    "template.health.http_path is for an http check only");
	if (strcmp(h->kind, "exec") != 0 && h->n_exec_command != 0)
		return invalid(err, "template.health.exec_command", "UNEXPECTED",
		    "template.health.exec_command is for an exec check only");
	if (h->interval_s < 1 || h->interval_s > HEALTH_INTERVAL_MAX_S)
		return invalid(err, "template.health.interval_s", "OUT_OF_RANGE",
		    "template.health.interval_s must be 1 to %d seconds", HEALTH_INTERVAL_MAX_S);
	if (h->timeout_s < 1 || h->timeout_s > h->interval_s)
		return invalid(err, "template.health.timeout_s", "OUT_OF_RANGE",
		    "template.health.timeout_s must be at least 1 and at most interval_s (%u)",
		    h->interval_s);
	if (h->retries < 1 || h->retries > HEALTH_RETRIES_MAX)
		return invalid(err, "template.health.retries", "OUT_OF_RANGE",
		    "template.health.retries must be 1 to %d", HEALTH_RETRIES_MAX);
	if (h->start_period_s > HEALTH_START_PERIOD_MAX_S)
		return invalid(err, "template.health.start_period_s", "OUT_OF_RANGE",
		    "template.health.start_period_s must be at most %d seconds",
		    HEALTH_START_PERIOD_MAX_S);
	return 0;
}

int
validate_template(const Berth__V1__Template *t, struct error *err)
{
	if (t == NULL)
		return invalid(err, "template", "MISSING", "template must be set");
	if (validate_name("template.name", t->name, err) != 0)
		return -1;
	if (strlen(t->description) > TEXT_MAX_LEN || !validate_text(t->description))
		return invalid(err, "template.description", "INVALID_TEXT",
		    "template.description must be valid UTF-8 text of at most %d bytes", TEXT_MAX_LEN);
	if (validate_image("template.image", t->image, err) != 0)
		return -1;
	if (validate_abs_path("template.build_context", t->build_context, true, err) != 0)
		return -1;
	if (validate_port("template.container_port", t->container_port, err) != 0)
		return -1;
	if (validate_port("template.port_range_start", t->port_range_start, err) != 0)
		return -1;
	if (t->port_range_end != 0) {
		if (validate_port("template.port_range_end", t->port_range_end, err) != 0)
			return -1;
		if (t->port_range_end < t->port_range_start)
			return invalid(err, "template.port_range_end", "INVALID_RANGE",
			    "template.port_range_end (%u) is below port_range_start (%u)",
			    t->port_range_end, t->port_range_start);
	}
	if (validate_abs_path("template.mount_path", t->mount_path, true, err) != 0)
		return -1;
	if (strcmp(t->mount_path, "/") == 0)
		return invalid(err, "template.mount_path", "INVALID_PATH",
		    "template.mount_path must not be the container's root");
	/* Docker's bind syntax is SOURCE:TARGET[:OPTIONS]: a ':' would add options. */
	if (strchr(t->mount_path, ':') != NULL)
		return invalid(err, "template.mount_path", "INVALID_PATH",
		    "template.mount_path must not contain ':'");
	if (validate_list("template.env", t->env, t->n_env, true, err) != 0)
		return -1;
	if (validate_list("template.command", t->command, t->n_command, false, err) != 0)
		return -1;
	if (validate_secret_env(t, err) != 0)
		return -1;
	if (t->stop_timeout_s > 3600)
		return invalid(err, "template.stop_timeout_s", "OUT_OF_RANGE",
		    "template.stop_timeout_s must be at most 3600 seconds");
	if (validate_restart(t, err) != 0 || validate_health(t->health, err) != 0)
		return -1;
	return validate_placement(t, err);
}

int
validate_scale_instances(const char *field, uint32_t n, struct error *err)
{
	if (n > SCALE_INSTANCES_MAX)
		return invalid(err, field, "OUT_OF_RANGE", "%s must be at most %d, not %u", field,
		    SCALE_INSTANCES_MAX, n);
	return 0;
}
