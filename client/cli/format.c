/*
 * format.c - building blocks of the CLI's human output (format.h).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"

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

int
cli_table_end(struct cli *cli, struct cli_table *t)
{
	int rc = t != NULL ? cli_table_print(t, cli->out) : -1;

	cli_table_free(t);
	if (rc != 0)
		return ferror(cli->out) ? cli_fail(cli, BERTH__V1__CODE__INTERNAL, NULL,
					      "cannot write the output")
					: cli_out_of_memory(cli);
	return 0;
}

struct cli_table *
cli_kv_begin(void)
{
	struct cli_table *t;

	return cli_table_new(&t, 2, 1) == 0 ? t : NULL;
}

void
cli_kv_add(struct cli_table *kv, const char *key, const char *fmt, ...)
{
	char label[64];
	char *value;
	va_list ap;

	if (kv == NULL)
		return;
	snprintf(label, sizeof(label), "%s:", key);
	va_start(ap, fmt);
	value = vformat(fmt, ap);
	va_end(ap);
	if (value == NULL)
		cli_table_fail(kv);
	else
		cli_table_addv(kv, label, value);
	free(value);
}

void
cli_kv_add_owned(struct cli_table *kv, const char *key, char *value)
{
	if (value == NULL && kv != NULL)
		cli_table_fail(kv);
	else
		cli_kv_add(kv, key, "%s", value);
	free(value);
}

void
cli_kv_add_list(struct cli_table *kv, const char *key, char *const *items, size_t n)
{
	cli_kv_add_owned(kv, key, cli_join(items, n, "none"));
}

void
cli_kv_add_each(struct cli_table *kv, const char *key, char *const *items, size_t n,
    const char *empty)
{
	if (n == 0)
		cli_kv_add(kv, key, "%s", empty);
	for (size_t i = 0; i < n; i++)
		cli_kv_add(kv, key, "%s", items[i]);
}

char *
cli_join(char *const *items, size_t n, const char *none)
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

char *
cli_shell_join(char *const *words, size_t n)
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

void
cli_format_port_range(char *buf, size_t size, uint32_t start, uint32_t end)
{
	if (end == 0)
		snprintf(buf, size, "%u+", start);
	else if (end == start)
		snprintf(buf, size, "%u", start);
	else
		snprintf(buf, size, "%u-%u", start, end);
}

char *
cli_format_port_list(const uint32_t *ports, size_t n)
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

void
cli_format_duration(char *buf, size_t size, uint32_t seconds)
{
	if (seconds != 0 && seconds % 3600 == 0)
		snprintf(buf, size, "%uh", seconds / 3600);
	else if (seconds != 0 && seconds % 60 == 0)
		snprintf(buf, size, "%um", seconds / 60);
	else
		snprintf(buf, size, "%us", seconds);
}

void
cli_format_bytes(char *buf, size_t size, uint64_t bytes)
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

const char *
cli_enum_name(const ProtobufCEnumDescriptor *e, int value)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(e, value);

	return v != NULL ? v->name : "?";
}

const char *
cli_dash_if_empty(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : "-";
}

int
cli_print_sentence(struct cli *cli, const ProtobufCMessage *reply, const void *arg)
{
	(void)reply;
	fprintf(cli->out, "%s\n", (const char *)arg);
	return 0;
}

/*
 * RESTARTS: the supervisor's count, and its state when it is not "ok":
 * "2 (backoff)" while a restart is due, "6 (failed)" once it gave up.
 */
void
cli_format_restarts(char *buf, size_t size, uint32_t restarts, const char *supervisor)
{
	if (supervisor == NULL || supervisor[0] == '\0' || strcmp(supervisor, "ok") == 0)
		snprintf(buf, size, "%u", restarts);
	else
		snprintf(buf, size, "%u (%s)", restarts, supervisor);
}

/*
 * REV: the template revision a service was made from, with "*" when it is
 * not the template's current one (outdated); "-" when unknown (0).
 */
void
cli_format_revision(char *buf, size_t size, uint32_t revision, bool outdated)
{
	if (revision == 0)
		snprintf(buf, size, "-%s", outdated ? "*" : "");
	else
		snprintf(buf, size, "%u%s", revision, outdated ? "*" : "");
}

/* Service.nodes comma-joined into buf ("-" for none), cut at size. */
static void
format_nodes(char *buf, size_t size, const Berth__V1__Service *s)
{
	size_t used = 0;

	snprintf(buf, size, "-");
	for (size_t i = 0; i < s->n_nodes; i++) {
		int w = snprintf(buf + used, size - used, "%s%s", i > 0 ? "," : "", s->nodes[i]);

		if (w < 0 || (size_t)w >= size - used) {
			buf[used > 0 ? used : 1] = '\0'; /* whole names only ("-" when none fit) */
			break;
		}
		used += (size_t)w;
	}
}

int
cli_print_services(struct cli *cli, Berth__V1__Service *const *services, size_t n)
{
	struct cli_table *t;
	bool any_outdated = false, with_nodes = false;
	int rc;

	if (n == 0) {
		fprintf(cli->out, "No services.\n");
		return 0;
	}
	/* NODE only when some service has placement (swarm): the engine's table stays as it was. */
	for (size_t i = 0; i < n; i++)
		with_nodes |= services[i]->n_nodes > 0;
	if (cli_table_new(&t, with_nodes ? 11 : 10, CLI_TABLE_GAP) != 0)
		return cli_out_of_memory(cli);
	{
		const char *head[] = { "SERVICE", "TEMPLATE", "INSTANCE", "REV", "PORT", "STATUS",
			"NODE", "HEALTH", "RESTARTS", "URL", "CREATED" };

		if (!with_nodes)
			memmove(&head[6], &head[7], sizeof(head[0]) * 4);
		cli_table_add(t, head);
	}
	for (size_t i = 0; i < n; i++) {
		const Berth__V1__Service *s = services[i];
		char port[16], restarts[48], revision[16], nodes[1024];
		const char *cells[11];

		snprintf(port, sizeof(port), "%u", s->port);
		cli_format_restarts(restarts, sizeof(restarts), s->restarts, s->supervisor);
		cli_format_revision(revision, sizeof(revision), s->revision, s->outdated);
		format_nodes(nodes, sizeof(nodes), s);
		any_outdated |= s->outdated;
		cells[0] = s->service_id;
		cells[1] = cli_dash_if_empty(s->template_);
		cells[2] = cli_dash_if_empty(s->instance);
		cells[3] = revision;
		cells[4] = port;
		cells[5] = cli_dash_if_empty(s->status);
		cells[6] = nodes;
		/* No check: "-", as for a berthd that does not know health. */
		cells[7] = strcmp(s->health, "none") == 0 ? "-" : cli_dash_if_empty(s->health);
		cells[8] = restarts;
		cells[9] = cli_dash_if_empty(s->url);
		cells[10] = s->created_at;
		if (!with_nodes)
			memmove(&cells[6], &cells[7], sizeof(cells[0]) * 4);
		cli_table_add(t, cells);
	}
	if ((rc = cli_table_end(cli, t)) != 0 || !any_outdated)
		return rc;
	fprintf(cli->out, "* outdated: made from an older revision of its template "
			  "(berth template history TEMPLATE)\n");
	return 0;
}
