/*
 * supervision.h - the restart policy and the health check as the CLI reads
 * them from its options (template add, launch) and writes them for humans
 * (template show):
 *
 *   --max-restarts 5/10m          "on-failure (max 5 in 10m)"
 *   --health http=/healthz        "http /healthz every 10s, timeout 3s,
 *                                  3 retries, start period 0s"
 *
 * Parsing here only checks the form; the ranges are validate_template's,
 * so that the CLI refuses exactly what berthd would.
 */
#ifndef BERTH_CLI_SUPERVISION_H
#define BERTH_CLI_SUPERVISION_H

#include <stddef.h>
#include <stdint.h>

#include "berth.h"

/* The timings a --health check gets when no --health-* option sets them. */
#define CLI_HEALTH_INTERVAL_S 10
#define CLI_HEALTH_TIMEOUT_S 3
#define CLI_HEALTH_RETRIES 3

/*
 * --max-restarts N[/WINDOW]: N at least 1; WINDOW a duration of at least
 * one second (cli_parse_duration). Without WINDOW, *window_s is 0: the
 * server's default. Returns 0, or -1 when s has another form.
 */
int cli_parse_max_restarts(const char *s, uint32_t *max, uint32_t *window_s);

/*
 * Splits s into words as a shell would for a simple command: blanks
 * separate words; '...' keeps everything literally; "..." keeps blanks and
 * takes \" and \\ as escapes; a backslash outside quotes escapes the next
 * character. No expansion of any kind. On success *words is one malloc'ed
 * block (the array and the strings; the caller frees it with free()) of *n
 * words, NULL-terminated. Returns 0, EINVAL (an unbalanced quote or a
 * trailing backslash; *words NULL) or ENOMEM.
 */
int cli_split_words(const char *s, char ***words, size_t *n);

/*
 * A --health value: "none", "tcp", "http=PATH" or "exec=COMMAND" (COMMAND
 * split by cli_split_words). Sets h->kind, h->http_path (pointing into
 * spec) and h->exec_command (the words of *words, which the caller frees
 * with free(); NULL unless exec); leaves the timings alone. Returns 0,
 * EINVAL with *why saying what is wrong, or ENOMEM.
 */
int cli_parse_health(const char *spec, Berth__V1__HealthCheck *h, char ***words,
    const char **why);

/*
 * "no", or "on-failure (max 5 in 10m)"; a limit of 0 (the server's default;
 * berthd stores the value it stands for) is shown as "default", both as
 * "on-failure (default limits)". "-" for an empty policy (a berthd older
 * than restart policies). Caller frees; NULL when out of memory.
 */
char *cli_format_restart(const char *policy, uint32_t max, uint32_t window_s);

/*
 * "none" (h NULL or of kind "" or "none"), else the kind, its path or
 * command, and the timings: "tcp every 10s, timeout 3s, 3 retries, start
 * period 0s". Caller frees; NULL when out of memory.
 */
char *cli_format_health(const Berth__V1__HealthCheck *h);

#endif
