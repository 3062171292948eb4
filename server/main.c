/*
 * main.c - berthd: start-up, signal handling, shutdown.
 *
 * The main thread parses the settings, prepares the data directory and the
 * registry, starts the RPC workers, then sleeps in sigwait() until SIGINT,
 * SIGTERM or the Shutdown RPC asks it to stop. Signals are blocked in every
 * other thread, so nothing but the main thread ever handles one.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berthd.h"
#include "clock.h"
#include "log.h"
#include "rpc_server.h"

static struct berthd daemon_state;

void
berthd_request_shutdown(void)
{
	kill(getpid(), SIGTERM);
}

/* mkdir -p with `mode` for each created component. */
static int
make_dirs(const char *path, mode_t mode)
{
	char buf[4096];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, mode) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* Creates the directory an ipc:// socket file will live in. */
static int
prepare_ipc_dirs(const struct config *c)
{
	for (size_t i = 0; i < c->n_listen; i++) {
		char dir[4096];
		char *slash;

		if (strncmp(c->listen[i], "ipc://", 6) != 0)
			continue;
		snprintf(dir, sizeof(dir), "%s", c->listen[i] + 6);
		slash = strrchr(dir, '/');
		if (slash == NULL || slash == dir)
			continue;
		*slash = '\0';
		if (make_dirs(dir, 0755) != 0) {
			log_error("cannot create %s: %s", dir, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* One berthd per data directory: a second one would fight over containers. */
static int
lock_data_dir(const char *dir)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/berthd.lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_error("cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		log_error("another berthd is using data directory %s", dir);
		close(fd);
		return -1;
	}
	return fd; /* held until the process exits */
}

static void *
worker_open(void *app)
{
	struct berthd *d = app;
	struct registry *reg;
	char err[256];

	if (registry_open(&reg, d->db_path, false, err, sizeof(err)) != 0) {
		log_error("%s", err);
		return NULL;
	}
	return reg;
}

static void
worker_close(void *worker)
{
	registry_close(worker);
}

int
main(int argc, char **argv)
{
	struct berthd *d = &daemon_state;
	struct dispatch_table table;
	struct rpc_server_config rpc_config;
	struct rpc_server_hooks hooks = { d, worker_open, worker_close };
	struct registry *reg = NULL;
	sigset_t signals;
	char err[512];
	int rv, sig, level, lock_fd;
	int64_t started;

	config_defaults(&d->config);
	rv = config_parse_args(&d->config, argc - 1, argv + 1, err, sizeof(err));
	if (rv != 0) {
		if (rv < 0)
			fprintf(stderr, "berthd: %s\n", err);
		return rv < 0 ? 2 : 0;
	}
	if ((level = log_level_parse(d->config.log_level)) < 0) {
		fprintf(stderr, "berthd: --log-level: \"%s\" is not error, warn, info or debug\n",
		    d->config.log_level);
		return 2;
	}
	log_threshold = (enum log_level)level;

	/* Block the signals before any thread exists: all threads inherit it. */
	sigemptyset(&signals);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &signals, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (make_dirs(d->config.data_dir, 0750) != 0) {
		log_error("cannot create data directory %s: %s", d->config.data_dir, strerror(errno));
		return 1;
	}
	if ((lock_fd = lock_data_dir(d->config.data_dir)) < 0)
		return 1;
	snprintf(d->db_path, sizeof(d->db_path), "%s/registry.db", d->config.data_dir);
	if (registry_open(&reg, d->db_path, true, err, sizeof(err)) != 0) {
		log_error("%s", err);
		return 1;
	}
	if (dispatch_table_init(&table, berthd_routes, berthd_routes_count, err, sizeof(err)) != 0) {
		log_error("%s", err);
		return 1;
	}
	if (prepare_ipc_dirs(&d->config) != 0)
		return 1;

	rpc_config = (struct rpc_server_config){
		.urls = d->config.listen,
		.n_urls = d->config.n_listen,
		.workers = (int)d->config.workers,
		.max_request_bytes = (size_t)d->config.max_request_bytes,
		.default_timeout_ms = (uint32_t)d->config.default_timeout_ms,
		.ipc_mode = (uint32_t)d->config.ipc_mode,
	};
	if (rpc_server_start(&d->rpc, &rpc_config, &table, &hooks, err, sizeof(err)) != 0) {
		log_error("%s", err);
		registry_close(reg);
		return 1;
	}
	log_info("berthd started version=%s data_dir=%s workers=%lld pid=%d", BERTH_VERSION,
	    d->config.data_dir, (long long)d->config.workers, (int)getpid());

	do {
		if (sigwait(&signals, &sig) != 0)
			sig = SIGTERM;
	} while (sig != SIGINT && sig != SIGTERM);

	started = clock_monotonic_ms();
	log_info("shutdown begun signal=%s", sig == SIGINT ? "SIGINT" : "SIGTERM");
	atomic_store(&d->shutdown_requested, true);
	rpc_server_drain(d->rpc);
	rpc_server_stop(d->rpc);
	registry_close(reg);
	log_info("shutdown done duration_ms=%lld", (long long)(clock_monotonic_ms() - started));
	close(lock_fd);
	return 0;
}
