/*
 * supervision.c - the restart policy and the health check in the CLI's
 * words: option values in, one-line summaries out (supervision.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "format.h"
#include "supervision.h"

int
cli_parse_max_restarts(const char *s, uint32_t *max, uint32_t *window_s)
{
	const char *slash = strchr(s, '/');
	char count[16];
	size_t len = slash != NULL ? (size_t)(slash - s) : strlen(s);

	if (len == 0 || len >= sizeof(count))
		return -1;
	memcpy(count, s, len);
	count[len] = '\0';
	if (cli_parse_uint32(count, max) != 0 || *max == 0)
		return -1;
	*window_s = 0;
	if (slash != NULL && (cli_parse_duration(slash + 1, window_s) != 0 || *window_s == 0))
		return -1;
	return 0;
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n';
}

int
cli_split_words(const char *s, char ***words, size_t *n)
{
	/* At most one word per two bytes, and never more text than s. */
	size_t len = strlen(s), max_words = len / 2 + 1;
	char **v = malloc((max_words + 1) * sizeof(*v) + len + 1);
	char *out;
	size_t count = 0;

	*words = NULL;
	*n = 0;
	if (v == NULL)
		return ENOMEM;
	out = (char *)(v + max_words + 1);
	for (;;) {
		char quote = '\0';

		while (is_blank(*s))
			s++;
		if (*s == '\0')
			break;
		v[count++] = out;
		for (; *s != '\0' && (quote != '\0' || !is_blank(*s)); s++) {
			bool escape = *s == '\\' && (quote == '\0' ||
						     (quote == '"' && (s[1] == '"' || s[1] == '\\')));

			if (escape) {
				if (s[1] == '\0')
					break; /* a trailing backslash: refused below */
				*out++ = *++s;
			} else if (quote == '\0' && (*s == '\'' || *s == '"')) {
				quote = *s;
			} else if (*s == quote) {
				quote = '\0';
			} else {
				*out++ = *s;
			}
		}
		if (quote != '\0' || *s == '\\') {
			free(v);
			return EINVAL;
		}
		*out++ = '\0';
	}
	v[count] = NULL;
	*words = v;
	*n = count;
	return 0;
}

int
cli_parse_health(const char *spec, Berth__V1__HealthCheck *h, char ***words, const char **why)
{
	size_t n;
	int rc;

	*words = NULL;
	*why = "it takes none, tcp, http=/PATH or exec=COMMAND";
	h->http_path = "";
	h->exec_command = NULL;
	h->n_exec_command = 0;
	if (strcmp(spec, "none") == 0 || strcmp(spec, "tcp") == 0) {
		h->kind = strcmp(spec, "tcp") == 0 ? "tcp" : "none";
		return 0;
	}
	if (strncmp(spec, "http=", 5) == 0) {
		if (spec[5] == '\0') {
			*why = "http= needs a path, e.g. http=/healthz";
			return EINVAL;
		}
		h->kind = "http";
		h->http_path = (char *)spec + 5;
		return 0;
	}
	if (strncmp(spec, "exec=", 5) != 0)
		return EINVAL;
	if ((rc = cli_split_words(spec + 5, words, &n)) != 0) {
		*why = "exec= has an unbalanced quote or a trailing backslash";
		return rc;
	}
	if (n == 0) {
		free(*words);
		*words = NULL;
		*why = "exec= needs a command, e.g. exec='pg_isready -q'";
		return EINVAL;
	}
	h->kind = "exec";
	h->exec_command = *words;
	h->n_exec_command = n;
	return 0;
}

/* "5", or "default" for 0. */
static void
format_count(char *buf, size_t size, uint32_t n)
{
	if (n == 0)
		snprintf(buf, size, "default");
	else
		snprintf(buf, size, "%u", n);
}

char *
cli_format_restart(const char *policy, uint32_t max, uint32_t window_s)
{
	char count[16], window[32];
	char *s;

	if (policy == NULL || policy[0] == '\0')
		return strdup("-");
	if (strcmp(policy, "no") == 0)
		return strdup(policy);
	if (max == 0 && window_s == 0)
		return asprintf(&s, "%s (default limits)", policy) < 0 ? NULL : s;
	format_count(count, sizeof(count), max);
	if (window_s == 0)
		snprintf(window, sizeof(window), "default");
	else
		cli_format_duration(window, sizeof(window), window_s);
	return asprintf(&s, "%s (max %s in %s)", policy, count, window) < 0 ? NULL : s;
}

char *
cli_format_health(const Berth__V1__HealthCheck *h)
{
	char interval[32], timeout[32], start[32];
	char *target = NULL, *s;
	int n;

	if (h == NULL || h->kind[0] == '\0' || strcmp(h->kind, "none") == 0)
		return strdup("none");
	if (strcmp(h->kind, "http") == 0)
		target = strdup(h->http_path);
	else if (strcmp(h->kind, "exec") == 0)
		target = cli_shell_join(h->exec_command, h->n_exec_command);
	else
		target = strdup("");
	if (target == NULL)
		return NULL;
	cli_format_duration(interval, sizeof(interval), h->interval_s);
	cli_format_duration(timeout, sizeof(timeout), h->timeout_s);
	cli_format_duration(start, sizeof(start), h->start_period_s);
	n = asprintf(&s, "%s%s%s every %s, timeout %s, %u %s, start period %s", h->kind,
	    target[0] != '\0' ? " " : "", target, interval, timeout, h->retries,
	    h->retries == 1 ? "retry" : "retries", start);
	free(target);
	return n < 0 ? NULL : s;
}
