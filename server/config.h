/*
 * config.h - berthd's settings.
 *
 * Every setting lives in one table (config.c): its name, kind, bounds,
 * default and help text. Command-line flags are derived from that table,
 * so a setting added there is a flag, shows in --help and is checked the
 * same way everywhere.
 */
#ifndef BERTH_CONFIG_H
#define BERTH_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_MAX_LISTEN 8
#define CONFIG_DEFAULT_URL "ipc:///run/berth/berthd.sock"

/* A repeatable option: the first use on the command line replaces the default. */
struct config_list {
	const char *items[CONFIG_MAX_LISTEN];
	size_t n;
};

struct config {
	struct config_list listen;
	struct config_list events;   /* empty = derived from listen (see main.c) */
	const char *on_exit;         /* remove, stop or keep */
	const char *data_dir;
	const char *publish_address; /* host address ports are published on */
	const char *docker_host;     /* "" = $DOCKER_HOST or the local socket */
	const char *log_level;
	int64_t workers;
	int64_t max_request_bytes;
	int64_t default_timeout_ms;
	int64_t ipc_mode;
};

/* Fills every setting with its default. */
void config_defaults(struct config *c);

/*
 * Applies argv (after the program name). Returns 0 to go on, 1 when --help
 * or --version was printed, -1 with the reason in err on a bad flag or value.
 */
int config_parse_args(struct config *c, int argc, char **argv, char *err, size_t errlen);

/* Prints the effective settings, one "name = value" per line. */
void config_print(const struct config *c, FILE *out);

#endif
