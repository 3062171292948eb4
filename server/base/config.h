/*
 * config.h - berthd's settings.
 *
 * Every setting lives in one table (config.c): its name, kind, bounds,
 * default and help text. Command-line flags and the keys of the
 * configuration file are both derived from that table, so a row added
 * there is a flag, a file key, shows in --help and --print-config and is
 * checked the same way everywhere.
 *
 * Precedence: flags > configuration file > defaults. A list option given on
 * the command line replaces the file's list; repeated in one source, it
 * appends.
 */
#ifndef BERTH_CONFIG_H
#define BERTH_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include <stdio.h>

#define CONFIG_MAX_LISTEN 8
#define CONFIG_DEFAULT_URL "ipc:///run/berth/berthd.sock"
#define CONFIG_DEFAULT_FILE "/etc/berth/berthd.conf"

/* A repeatable option: its first use in a source replaces what came before. */
struct config_list {
	const char *items[CONFIG_MAX_LISTEN];
	size_t n;
};

struct config_string;

struct config {
	struct config_list listen;
	struct config_list events;   /* empty = derived from listen (see main.c) */
	const char *on_exit;         /* remove, stop or keep */
	const char *data_dir;
	const char *publish_address; /* host address ports are published on */
	const char *docker_host;     /* "" = $DOCKER_HOST or the local socket */
	const char *log_level;
	const char *metrics_listen;  /* http://HOST:PORT for /metrics and /healthz; "" = off */
	const char *http_listen;     /* the HTTP/JSON gateway: http:// or https://HOST:PORT; "" = off */
	struct config_list http_allowed_hosts; /* Host names the HTTP listeners answer besides their own */
	int64_t workers;
	int64_t max_request_bytes;
	int64_t default_timeout_ms;
	int64_t idle_timeout_ms;        /* a connection without a request this long is closed; 0 = never */
	int64_t max_connections;        /* per listener */
	int64_t max_connections_per_ip; /* per peer address, tcp:// and tls+tcp:// */
	int64_t ipc_mode;
	const char *ipc_group;       /* "" = berthd's own group */
	int64_t data_dir_mode;
	int64_t events_keep;
	int64_t max_parked_calls;
	int64_t audit_keep_rows;
	int64_t audit_keep_days;
	int64_t audit_refused_keep_rows;
	/* Who may call what (auth.c). */
	const char *auth;            /* auto (on when a listener is not ipc://), on or off */
	const char *ipc_admin;       /* on: ipc:// callers without a token are admin */
	const char *tls_cert;        /* tls+tcp:// listeners: certificate (PEM) */
	const char *tls_key;         /* and its key (PEM) */
	const char *tls_client_ca;   /* set: mutual TLS, clients need a certificate it signed */
	const char *build_root;      /* template build contexts lie under it; "" = <data-dir>/build-contexts */
	const char *backend;         /* engine or swarm (backend.h) */
	const char *volume_driver;   /* swarm: driver of the instances' named volumes */
	const char *registry;        /* swarm: HOST:PORT images are pushed to, or "" */

	const char *file;              /* the configuration file read, or NULL */
	struct config_string *strings; /* values copied from the file; config_free */
};

/* Fills every setting with its default. */
void config_defaults(struct config *c);

/* Frees the strings read from files (values of c point into them). NULL-safe. */
void config_free(struct config *c);

/*
 * Applies the INI file at `path` on top of c: "key = value" lines with the
 * option names as keys, an optional [berthd] section, comments starting with
 * '#' or ';'. Returns 0, or -1 with "PATH:LINE: message" (or "PATH: why"
 * when it cannot be read) in err. c keeps what was applied before the error.
 */
int config_read_file(struct config *c, const char *path, struct error *err);

/*
 * The whole start-up sequence on argv (after the program name): reads the
 * file named by --config, else `default_file` (skipped when it does not
 * exist; NULL: none; --config "" reads none), then applies the flags.
 * Returns 0 to go on, 1 when --help, --version or --print-config was
 * printed, -1 with the reason in err on a bad flag, file or value.
 */
int config_parse_args(struct config *c, int argc, char **argv, const char *default_file,
    struct error *err);

/*
 * Calls fn with the name of every setting whose value differs between
 * `before` and `after` ("log-level"), in the table's order.
 */
void config_each_change(const struct config *before, const struct config *after,
    void (*fn)(void *arg, const char *name), void *arg);

/*
 * Prints the effective settings, one "name = value" per line: the output is
 * itself a valid configuration file.
 */
void config_print(const struct config *c, FILE *out);

#endif
