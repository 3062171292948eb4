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
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "api/auth.h"
#include "api/request_log.h"
#include "store/audit.h"
#include "store/requests.h"
#include "store/tokens.h"
#include "daemon/admin_cmd.h"
#include "daemon/notify.h"
#include "core/berthd.h"
#include "clock.h"
#include "core/event_follower.h"
#include "core/event_log.h"
#include "core/health_monitor.h"
#include "core/placement.h"
#include "daemon/fd_budget.h"
#include "rpc/event_pub.h"
#include "rpc/ipc_watchdog.h"
#include "base/log.h"
#include "api/metrics.h"
#include "http/console_assets.h"
#include "http/http_server.h"
#include "http/http_url.h"
#include "core/ports.h"
#include "core/reconcile.h"
#include "rpc/rpc_server.h"
#include "core/service_lock.h"
#include "core/rollout.h"
#include "core/shutdown.h"
#include "core/supervisor.h"
#include "rpc/tls_listener.h"

#define IPC_WATCHDOG_INTERVAL_MS 2000
/* What nng 1.5.2 gives an SP handshake over tcp://: berthd gives TLS no more. */
#define HANDSHAKE_TIMEOUT_MAX_MS 10000
/* Kept answers (answer_cache.h): ListServices of 10,000 rows is about 3 MB. */
#define ANSWER_CACHE_BYTES (16u << 20)

static struct berthd daemon_state;
static struct auth_policy auth_policy; /* d->auth */
static struct event_pub *event_socket; /* where d->events go */
static struct ipc_access ipc_access;   /* --ipc-mode, --ipc-group */
/* Both sockets' connection limits (plan_connections), from the open-file limit. */
static struct conn_limits connection_limits;
static uint64_t open_file_limit;

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
	for (size_t i = 0; i < c->listen.n; i++) {
		char dir[4096];
		char *slash;

		if (strncmp(c->listen.items[i], "ipc://", 6) != 0)
			continue;
		snprintf(dir, sizeof(dir), "%s", c->listen.items[i] + 6);
		slash = strrchr(dir, '/');
		if (slash == NULL || slash == dir)
			continue;
		*slash = '\0';
		if (make_dirs(dir, 0755) != 0) {
			log_error("cannot create directory path=%s error=\"%s\"", dir, strerror(errno));
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
		log_error("cannot open lock file path=%s error=\"%s\"", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		log_error("another berthd is using the data directory data_dir=%s", dir);
		close(fd);
		return -1;
	}
	return fd; /* held until the process exits */
}

static void
hold_port(void *arg, uint32_t port)
{
	ports_hold(arg, (uint16_t)port);
}

/*
 * Outgoing connections take their local port from the kernel's ephemeral
 * range; a template whose range overlaps it will find ports stolen.
 */
static void
warn_ephemeral_overlap(struct registry *reg)
{
	Berth__V1__Template **list;
	struct arena a;
	unsigned lo, hi;
	size_t n;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");

	if (f == NULL)
		return;
	if (fscanf(f, "%u %u", &lo, &hi) != 2) {
		fclose(f);
		return;
	}
	fclose(f);
	arena_init(&a);
	if (registry_template_list(reg, &a, &list, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			unsigned end = list[i]->port_range_end ? list[i]->port_range_end : 65535;
			if (list[i]->port_range_start <= hi && end >= lo)
				log_warn("template port range overlaps the ephemeral ports, outgoing "
					 "connections may take its ports template=%s range=%u-%u "
					 "ephemeral=%u-%u sysctl=net.ipv4.ip_local_port_range",
				    list[i]->name, list[i]->port_range_start, end, lo, hi);
		}
	}
	arena_reset(&a);
}

/* The TLS files of tls+tcp:// listeners, RPC and events alike. */
static struct tls_files
tls_files_of(const struct config *c)
{
	return (struct tls_files){ c->tls_cert, c->tls_key, c->tls_client_ca };
}

/* Whether only authenticated peers can subscribe at url: local, or mutual TLS. */
static bool
subscribers_authenticated(const char *url, const struct tls_files *tls)
{
	return strncmp(url, "ipc://", 6) == 0 ||
	    (strncmp(url, "tls+", 4) == 0 && tls_files_mutual(tls));
}

static bool
is_ipc(const char *url)
{
	return strncmp(url, "ipc://", 6) == 0;
}

/*
 * The limits of both sockets' connections: --max-connections and
 * --max-connections-per-ip, lowered to what the open-file limit leaves
 * (fd_budget.h); --idle-timeout-ms; and the handshake deadline, the
 * shorter of that and HANDSHAKE_TIMEOUT_MAX_MS.
 */
static void
plan_connections(const struct berthd *d)
{
	/* The gateway's workers hold a registry connection each too, as does a metrics listener's. */
	int64_t workers = d->config.workers * (d->config.http_listen[0] != '\0' ? 2 : 1) +
	    (d->config.metrics_listen[0] != '\0');
	struct fd_budget budget = { open_file_limit, fd_budget_in_use(), workers, 0, 0,
		d->config.max_connections, d->config.max_connections_per_ip };
	struct fd_shares shares;
	int64_t idle = d->config.idle_timeout_ms;

	for (size_t i = 0; i < d->config.listen.n; i++)
		*(is_ipc(d->config.listen.items[i]) ? &budget.ipc_listeners
						    : &budget.network_listeners) += 1;
	for (size_t i = 0; i < d->event_urls.n; i++)
		*(is_ipc(d->event_urls.items[i]) ? &budget.ipc_listeners
						 : &budget.network_listeners) += 1;
	budget.network_listeners += (d->config.http_listen[0] != '\0') +
	    (d->config.metrics_listen[0] != '\0');
	fd_budget_share(&budget, &shares);
	connection_limits = (struct conn_limits){ shares.ipc_each, shares.network_each,
		shares.per_address, idle,
		idle > 0 && idle < HANDSHAKE_TIMEOUT_MAX_MS ? idle : HANDSHAKE_TIMEOUT_MAX_MS };
	if (shares.lowered)
		log_warn("the open-file limit lowers max-connections open_files=%llu in_use=%llu "
			 "max_connections=%lld ipc_listener_max=%lld network_listener_max=%lld "
			 "per_ip_max=%lld hint=\"raise LimitNOFILE (ulimit -n)\"",
		    (unsigned long long)budget.limit, (unsigned long long)budget.in_use,
		    (long long)d->config.max_connections, (long long)shares.ipc_each,
		    (long long)shares.network_each, (long long)shares.per_address);
	else
		log_info("connection limits open_files=%llu max_connections=%lld per_ip_max=%lld "
			 "idle_timeout_ms=%lld",
		    (unsigned long long)budget.limit, (long long)d->config.max_connections,
		    (long long)shares.per_address, (long long)idle);
}

/*
 * The RPC server whose parked WatchEvents an event wakes. Events come from
 * any thread, also while the server starts and stops: the lock keeps a
 * wake from reaching a server being freed (the wake itself only signals).
 */
static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rpc_server *wake_target;

static void
wake_target_set(struct rpc_server *srv)
{
	pthread_mutex_lock(&wake_lock);
	wake_target = srv;
	pthread_mutex_unlock(&wake_lock);
}

/*
 * The event sink: every event goes to pub0 subscribers, into the events
 * kept (WatchEvents, the registry), and wakes the long polls waiting for
 * one. Never blocks. Any thread.
 */
static void
deliver_event(void *ctx, const Berth__V1__Event *ev)
{
	struct berthd *d = ctx;

	event_pub_deliver(event_socket, ev);
	event_log_append(d->event_log, ev);
	pthread_mutex_lock(&wake_lock);
	if (wake_target != NULL)
		rpc_server_wake(wake_target, CALL_WAKE_EVENTS);
	pthread_mutex_unlock(&wake_lock);
}

/*
 * The events kept from before (the registry's events table), and the
 * sequence to go on from.
 */
static int
open_event_log(struct berthd *d)
{
	uint64_t last;
	struct error err;

	if (event_log_open(&d->event_log, d->db_path, (uint64_t)d->config.events_keep, &last,
		&err) != 0) {
		log_error("start-up failed error=\"%s\"", err.message);
		return -1;
	}
	atomic_store(&d->events.sequence, last);
	log_info("events kept keep=%lld last_sequence=%llu", (long long)d->config.events_keep,
	    (unsigned long long)last);
	return 0;
}

/* The pub0 socket for berth's events: --events, or derived from --listen. */
static int
open_events(struct berthd *d)
{
	struct error err;

	struct tls_files tls = tls_files_of(&d->config);

	d->event_urls = d->config.events;
	if (d->event_urls.n == 0) {
		for (size_t i = 0; i < d->config.listen.n; i++) {
			/*
			 * pub0 has no tokens: with authentication on, events stay on
			 * ipc://, or on tls+tcp:// with mutual TLS, where the client
			 * certificate authenticates the subscriber.
			 */
			if (auth_policy.enabled && !subscribers_authenticated(d->config.listen.items[i], &tls))
				continue;
			if (event_pub_default_url(d->config.listen.items[i], d->event_url_buf[i],
				sizeof(d->event_url_buf[i])) == 0)
				d->event_urls.items[d->event_urls.n++] = d->event_url_buf[i];
		}
	}
	for (size_t i = 0; i < d->event_urls.n && auth_policy.enabled; i++)
		if (!subscribers_authenticated(d->event_urls.items[i], &tls))
			log_warn("events are published without authentication url=%s",
			    d->event_urls.items[i]);
	plan_connections(d); /* now that every listener is known */
	if (event_pub_open(&event_socket, d->event_urls.items, d->event_urls.n, d->watchdog,
		&ipc_access, &tls, &connection_limits, &err) != 0) {
		log_error("start-up failed error=\"%s\"", err.message);
		return -1;
	}
	d->events.deliver = deliver_event;
	d->events.ctx = d;
	return 0;
}

/* Docker client, backend, port allocator and locks: the lifecycle's tools. */
static int
prepare_lifecycle(struct berthd *d, struct registry *reg)
{
	struct error err;

	if (docker_open(&d->backend.docker, d->config.docker_host, &err) != 0) {
		log_error("start-up failed error=\"%s\"", err.message);
		return -1;
	}
	d->backend.ops =
	    strcmp(d->config.backend, "swarm") == 0 ? &backend_swarm_ops : &backend_engine_ops;
	d->backend.data_dir = d->data_dir;
	d->backend.publish_address = d->config.publish_address;
	d->backend.build_root = d->build_root;
	d->backend.volume_driver = d->config.volume_driver;
	d->backend.registry = d->config.registry;
	/* Only swarm spreads an image over nodes; the engine has it where it runs. */
	if (d->config.registry[0] != '\0' && d->backend.ops != &backend_swarm_ops) {
		log_error("start-up failed error=\"--registry needs --backend swarm\"");
		return -1;
	}
	d->ports = ports_new(d->config.publish_address);
	d->locks = service_locks_new();
	if (d->ports == NULL || d->locks == NULL) {
		log_error("start-up failed error=\"out of memory\"");
		return -1;
	}
	ports_use_bind_test(d->ports, d->backend.ops->ports_on_this_host);
	if (d->backend.ops == &backend_swarm_ops && backend_swarm_check(&d->backend) != 0)
		return -1;
	if (registry_service_ports(reg, hold_port, d->ports) != 0) {
		log_error("start-up failed error=\"%s\"", registry_error(reg)->message);
		return -1;
	}
	warn_ephemeral_overlap(reg);
	return 0;
}

/*
 * The directory build contexts must lie under: --build-root (which must
 * exist), else <data-dir>/build-contexts (created). Stored resolved.
 */
static int
resolve_build_root(struct berthd *d)
{
	char path[4200];

	if (d->config.build_root[0] != '\0') {
		snprintf(path, sizeof(path), "%s", d->config.build_root);
	} else {
		snprintf(path, sizeof(path), "%s/build-contexts", d->data_dir);
		if (make_dirs(path, 0750) != 0) {
			log_error("cannot create the build root path=%s error=\"%s\"", path,
			    strerror(errno));
			return -1;
		}
	}
	if (realpath(path, d->build_root) == NULL) {
		log_error("cannot resolve the build root build_root=%s error=\"%s\"", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* Finishes an interrupted shutdown, then makes rows and containers agree. */
static void
recover(struct berthd *d, struct registry *reg)
{
	struct reconcile_report report;
	struct call call;

	shutdown_resume(d, reg);
	rollout_resume_all(d, reg); /* no rollout's old container left for reconciliation */
	call_init(&call, "reconcile", d, reg, 60000);
	if (reconcile_run(&call, true, &report) != 0)
		log_warn("cannot reconcile with Docker now, serving the registry as it is "
			 "error=\"%s\"",
		    call.error.message);
	call_finish(&call);
}

/*
 * During the shutdown the main thread is busy: this thread takes the
 * signals instead. A second SIGINT or SIGTERM kills the containers still
 * stopping; SIGUSR1 (from main) ends the thread.
 */
static atomic_bool kill_now;

static void *
second_signal_main(void *arg)
{
	sigset_t *signals = arg;
	int sig;

	while (sigwait(signals, &sig) == 0) {
		if (sig == SIGUSR1)
			break;
		if (sig == SIGHUP)
			continue; /* no reload while shutting down */
		log_warn("second signal, killing the containers still stopping");
		atomic_store(&kill_now, true);
	}
	return NULL;
}

static void *
worker_open(void *app)
{
	struct berthd *d = app;
	struct registry *reg;
	struct error err;

	if (registry_open(&reg, d->db_path, false, &err) != 0) {
		log_error("start-up failed error=\"%s\"", err.message);
		return NULL;
	}
	return reg;
}

static void
worker_close(void *worker)
{
	registry_close(worker);
}

/* Settings a SIGHUP applies; any other that changed waits for a restart. */
static const char *const reloadable[] = { "log-level", "metrics-listen", "audit-keep-rows",
	"audit-keep-days", "audit-refused-keep-rows", NULL };

static void
note_change(void *arg, const char *name)
{
	(void)arg;
	for (size_t i = 0; reloadable[i] != NULL; i++) {
		if (strcmp(reloadable[i], name) == 0) {
			log_info("reload applies setting=%s", name);
			return;
		}
	}
	log_warn("reload: setting=%s changed, it takes effect at the next start", name);
}

/*
 * SIGHUP: reads the configuration file and the flags again, applies what
 * can change while berthd runs (log level, the metrics listener, audit
 * retention), forgets the verified tokens it keeps, and logs each other
 * changed setting as needing a restart. A bad file changes nothing.
 * Main thread.
 */
static int start_metrics_alone(struct berthd *d, const char *url, struct http_server **out,
    struct error *err);

static void
reload(struct berthd *d, int argc, char **argv, struct http_server **metrics)
{
	static char level_now[16], metrics_now[512];
	struct config fresh;
	struct error err;
	int level = -1;

	config_defaults(&fresh);
	error_clear(&err);
	if (config_parse_args(&fresh, argc - 1, argv + 1, CONFIG_DEFAULT_FILE, &err) == 0 &&
	    (level = log_level_parse(fresh.log_level)) < 0)
		error_set(&err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "log-level: \"%s\" is not error, warn, info or debug", fresh.log_level);
	if (err.code != 0 || level < 0) {
		log_error("reload failed, the running settings stay error=\"%s\"", err.message);
		config_free(&fresh);
		return;
	}
	config_each_change(&d->config, &fresh, note_change, NULL);
	log_threshold = (enum log_level)level;
	snprintf(level_now, sizeof(level_now), "%s", fresh.log_level);
	d->config.log_level = level_now;
	d->config.audit_keep_rows = fresh.audit_keep_rows;
	d->config.audit_keep_days = fresh.audit_keep_days;
	d->config.audit_refused_keep_rows = fresh.audit_refused_keep_rows;
	audit_set_limits(&(struct audit_limits){ fresh.audit_keep_rows,
	    fresh.audit_refused_keep_rows, fresh.audit_keep_days });
	tokens_forget_kept();
	if (strcmp(fresh.metrics_listen, d->config.metrics_listen) != 0) {
		http_server_stop(*metrics);
		*metrics = NULL;
		snprintf(metrics_now, sizeof(metrics_now), "%s", fresh.metrics_listen);
		d->config.metrics_listen = metrics_now;
		if (metrics_now[0] != '\0' && start_metrics_alone(d, metrics_now, metrics, &err) != 0)
			log_error("reload: metrics not served error=\"%s\"", err.message);
	}
	config_free(&fresh);
	log_info("reload done config=%s", d->config.file != NULL ? d->config.file : "none");
}

/* The HTTP layer's /metrics, on its worker's registry connection. */
static int
serve_metrics(void *app, void *worker, const char *token, bool need_token, char **page,
    size_t *len, struct error *err)
{
	(void)app;
	return metrics_serve(worker, token, need_token, page, len, err);
}

/* The web console's files (server/http/console/, compiled in), by URL path. */
static bool
serve_console_file(const char *path, const char **content_type, const void **data, size_t *len)
{
	const struct console_asset *a = console_asset_find(path);

	if (a == NULL)
		return false;
	*content_type = a->content_type;
	*data = a->data;
	*len = a->size;
	return true;
}

/* What every HTTP listener shares: /metrics, and the console on the gateway's. */
static struct http_server_hooks http_hooks = { .metrics = serve_metrics,
	.asset = serve_console_file };

/* A listener's settings from berthd's: limits, TLS files, allowed hosts. */
static struct http_server_config
http_config_of(const struct berthd *d, const char *option, const char *url)
{
	int64_t idle = d->config.idle_timeout_ms;

	return (struct http_server_config){
		.option = option,
		.url = url,
		.tls = tls_files_of(&d->config),
		.allowed_hosts = d->config.http_allowed_hosts.items,
		.n_allowed_hosts = d->config.http_allowed_hosts.n,
		.max_request_bytes = (size_t)d->config.max_request_bytes,
		.max_connections = (unsigned)connection_limits.max_per_network_listener,
		.max_connections_per_ip = (unsigned)connection_limits.max_per_address,
		.timeout_s = (unsigned)((idle + 999) / 1000),
		.workers = (int)d->config.workers,
	};
}

/* /metrics and /healthz on a listener of their own (--metrics-listen). */
static int
start_metrics_alone(struct berthd *d, const char *url, struct http_server **out,
    struct error *err)
{
	struct http_server_config c = http_config_of(d, "metrics-listen", url);
	struct http_url metrics, gateway;

	*out = NULL;
	if (d->config.http_listen[0] != '\0' &&
	    http_url_parse("metrics-listen", url, &metrics, NULL) == 0 &&
	    http_url_parse("http-listen", d->config.http_listen, &gateway, NULL) == 0 &&
	    http_url_same(&metrics, &gateway)) {
		log_warn("reload: metrics move onto the HTTP gateway at the next start url=%s", url);
		return 0;
	}
	c.metrics = true;
	c.workers = 1; /* a scrape now and then */
	return http_server_start(out, &c, &http_hooks, err);
}

/*
 * The HTTP listeners: the gateway on --http-listen, and /metrics on
 * --metrics-listen, on the gateway's listener when both name the same
 * address (then with a viewer token when authentication is on), else on
 * its own. Main thread, after the RPC server started.
 */
static int
start_http(struct berthd *d, struct http_server **gateway, struct http_server **metrics,
    struct error *err)
{
	struct http_url g, m;
	bool shared;

	http_hooks.app = d;
	http_hooks.rpc = d->rpc;
	http_hooks.shutting_down = &d->shutdown_requested;
	*gateway = *metrics = NULL;
	shared = d->config.http_listen[0] != '\0' && d->config.metrics_listen[0] != '\0' &&
	    http_url_parse("http-listen", d->config.http_listen, &g, NULL) == 0 &&
	    http_url_parse("metrics-listen", d->config.metrics_listen, &m, NULL) == 0 &&
	    http_url_same(&g, &m);
	if (d->config.http_listen[0] != '\0') {
		struct http_server_config c = http_config_of(d, "http-listen", d->config.http_listen);

		c.api = true;
		c.metrics = shared;
		c.metrics_need_token = shared && d->auth->enabled;
		if (http_server_start(gateway, &c, &http_hooks, err) != 0)
			return -1;
	}
	if (d->config.metrics_listen[0] != '\0' && !shared &&
	    start_metrics_alone(d, d->config.metrics_listen, metrics, err) != 0) {
		http_server_stop(*gateway);
		*gateway = NULL;
		return -1;
	}
	return 0;
}

/* The RPC server's measured hook: every request counted for /metrics. */
static void
count_rpc(void *app, const struct call *call, int64_t duration_us)
{
	(void)app;
	metrics_rpc_observe(call->method, call->error.code, duration_us);
}

int
main(int argc, char **argv)
{
	struct berthd *d = &daemon_state;
	struct dispatch_table table;
	struct rpc_server_config rpc_config;
	struct rpc_server_hooks hooks = { d, worker_open, worker_close, auth_authorize,
		auth_finished, count_rpc, request_log_claim, request_log_finish };
	struct registry *reg = NULL;
	struct http_server *metrics = NULL, *gateway = NULL;
	sigset_t signals;
	pthread_t second_signal;
	bool watching;
	struct error err;
	int rv, sig, level, lock_fd;
	int64_t started;

	/*
	 * A fixed mmap threshold: allocations of 128 KiB and more (the arena
	 * blocks of a big call, a large reply) are mapped and unmapped, so their
	 * memory goes back to the system when the call ends. Left dynamic, glibc
	 * raises the threshold at the first such free and from then on keeps
	 * them in the heap of whichever worker served the call: a ListServices
	 * of 10,000 rows left each worker some 10 MB larger.
	 */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	registry_configure_process(); /* before anything opens a database */
	/* berthd token ..., berthd audit ...: offline commands on the data directory. */
	if (argc > 1 && admin_cmd_is(argv[1]))
		return admin_cmd_main(argc - 1, argv + 1);
	clock_rfc3339_now(d->started_at, sizeof(d->started_at));
	config_defaults(&d->config);
	rv = config_parse_args(&d->config, argc - 1, argv + 1, CONFIG_DEFAULT_FILE, &err);
	if (rv != 0) {
		if (rv < 0)
			fprintf(stderr, "berthd: %s\n", err.message);
		return rv < 0 ? 2 : 0;
	}
	if ((level = log_level_parse(d->config.log_level)) < 0) {
		fprintf(stderr, "berthd: --log-level: \"%s\" is not error, warn, info or debug\n",
		    d->config.log_level);
		return 2;
	}
	log_threshold = (enum log_level)level;
	/* Who may call what: refuse a network listener nobody guards. */
	d->auth = &auth_policy;
	if (auth_configure(&auth_policy, &d->config, &err) != 0) {
		log_error("start-up failed error=\"%s\"", err.message);
		return 2;
	}
	ipc_access.mode = (int)d->config.ipc_mode;
	if (ipc_access_group(d->config.ipc_group, &ipc_access.gid, &err) != 0) {
		log_error("start-up failed error=\"%s\"", err.message);
		return 2;
	}
	audit_set_limits(&(struct audit_limits){ d->config.audit_keep_rows,
	    d->config.audit_refused_keep_rows, d->config.audit_keep_days });
	{
		uint64_t before;

		/* Every connection is a descriptor: take all the kernel allows. */
		open_file_limit = fd_budget_raise_limit(&before);
		if (open_file_limit != before)
			log_info("open-file limit raised limit=%llu was=%llu",
			    (unsigned long long)open_file_limit, (unsigned long long)before);
		else
			log_info("open-file limit limit=%llu", (unsigned long long)open_file_limit);
	}

	/* Block the signals before any thread exists: all threads inherit it. */
	sigemptyset(&signals);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGUSR1);
	sigaddset(&signals, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &signals, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (make_dirs(d->config.data_dir, (mode_t)d->config.data_dir_mode) != 0) {
		log_error("cannot create data directory data_dir=%s error=\"%s\"", d->config.data_dir,
		    strerror(errno));
		return 1;
	}
	if ((lock_fd = lock_data_dir(d->config.data_dir)) < 0)
		return 1;
	/* Containers are labelled with the absolute path: the same from any cwd. */
	if (realpath(d->config.data_dir, d->data_dir) == NULL) {
		log_error("cannot resolve data directory data_dir=%s error=\"%s\"", d->config.data_dir,
		    strerror(errno));
		return 1;
	}
	if ((size_t)snprintf(d->db_path, sizeof(d->db_path), "%s/registry.db", d->data_dir) >=
		sizeof(d->db_path) ||
	    (size_t)snprintf(d->templates_dir, sizeof(d->templates_dir), "%s/templates",
		d->data_dir) >= sizeof(d->templates_dir)) {
		log_error("data directory path too long data_dir=%s", d->data_dir);
		return 1;
	}
	if (resolve_build_root(d) != 0)
		return 1;
	if (registry_open(&reg, d->db_path, true, &err) != 0) {
		log_error("start-up failed error=\"%s\"", err.message);
		return 1;
	}
	/* nng 1.5.2 can lose an ipc listener to a half-done handshake: watch them. */
	d->watchdog = ipc_watchdog_start(IPC_WATCHDOG_INTERVAL_MS);
	metrics_set_backend(&d->backend);
	if (prepare_lifecycle(d, reg) != 0 || open_event_log(d) != 0 || open_events(d) != 0)
		return 1;
	recover(d, reg);
	if (requests_prune(reg) > 0)
		log_info("forgot request ids older than %d min", REQUESTS_KEEP_MS / 60000);
	if (dispatch_table_init(&table, berthd_routes, berthd_routes_count, &err) != 0) {
		log_error("start-up failed error=\"%s\"", err.message);
		return 1;
	}
	table.max_string = DISPATCH_STRING_MAX;
	/* Polled reads of the services are answered from memory between changes. */
	table.answers = answer_cache_new(ANSWER_CACHE_BYTES);
	table.state_version = registry_generation;
	if (prepare_ipc_dirs(&d->config) != 0)
		return 1;

	rpc_config = (struct rpc_server_config){
		.urls = d->config.listen.items,
		.n_urls = d->config.listen.n,
		.workers = (int)d->config.workers,
		.max_request_bytes = (size_t)d->config.max_request_bytes,
		.default_timeout_ms = (uint32_t)d->config.default_timeout_ms,
		.limits = connection_limits,
		.ipc = ipc_access,
		.watchdog = d->watchdog,
		.tls = tls_files_of(&d->config),
		.max_parked_calls = (int)d->config.max_parked_calls,
	};
	if (rpc_server_start(&d->rpc, &rpc_config, &table, &hooks, &err) != 0) {
		log_error("start-up failed error=\"%s\"", err.message);
		registry_close(reg);
		return 1;
	}
	wake_target_set(d->rpc);
	if (start_http(d, &gateway, &metrics, &err) != 0) {
		log_error("start-up failed error=\"%s\"", err.message);
		wake_target_set(NULL);
		rpc_server_stop(d->rpc);
		registry_close(reg);
		return 1;
	}
	supervisor_start(d); /* before the follower: its first reconciliation asks for autostart */
	health_monitor_start(d);
	placement_start(d); /* swarm only; logs why when it cannot, berthd serves anyway */
	rollout_resume_runners(d);
	docker_events_start(d); /* live state; logs why when it cannot, berthd serves anyway */
	log_info("berthd started version=%s data_dir=%s workers=%lld pid=%d config=%s",
	    BERTH_VERSION, d->config.data_dir, (long long)d->config.workers, (int)getpid(),
	    d->config.file != NULL ? d->config.file : "none");
	if (log_flusher_start() != 0)
		log_warn("cannot start the log flusher: request lines are written one by one");
	notify_systemd("READY=1\nSTATUS=serving"); /* every listener is up */

	do {
		if (sigwait(&signals, &sig) != 0)
			sig = SIGTERM;
		if (sig == SIGHUP) {
			notify_systemd("RELOADING=1");
			reload(d, argc, argv, &metrics);
			notify_systemd("READY=1\nSTATUS=serving");
		}
	} while (sig != SIGINT && sig != SIGTERM);

	started = clock_monotonic_ms();
	notify_systemd("STOPPING=1\nSTATUS=shutting down");
	log_info("shutdown begun signal=%s on_exit=%s", sig == SIGINT ? "SIGINT" : "SIGTERM",
	    d->config.on_exit);
	/* Health says NOT_SERVING, changes are refused, reads go on meanwhile. */
	atomic_store(&d->shutdown_requested, true);
	rpc_server_drain(d->rpc);
	watching = pthread_create(&second_signal, NULL, second_signal_main, &signals) == 0;
	if (!watching)
		log_warn("cannot watch for a second signal");
	rollout_stop_all(); /* an instance in flight is left for the next start to settle */
	health_monitor_stop(d);
	placement_stop(d); /* its poll in flight ends within a second */
	docker_events_stop(d); /* from here on, the shutdown owns the rows */
	supervisor_stop(d);      /* and restarts nothing it stops */
	/* Launches in flight finish (or undo themselves) before the cleanup. */
	if (rpc_server_wait_idle(d->rpc, 30000) > 0)
		log_warn("calls still in flight, cleaning up anyway waited_ms=30000");
	shutdown_run(d, reg, d->config.on_exit, &kill_now);
	/* /healthz said 503 during the shutdown; HTTP workers go before the RPC server. */
	http_server_stop(gateway);
	http_server_stop(metrics);
	ipc_watchdog_stop(d->watchdog); /* before the sockets it watches close */
	wake_target_set(NULL); /* the event sink wakes nothing from here on */
	rpc_server_stop(d->rpc);
	d->rpc = NULL;
	answer_cache_free(table.answers);
	if (watching) {
		pthread_kill(second_signal, SIGUSR1);
		pthread_join(second_signal, NULL);
	}
	registry_close(reg);
	d->events.deliver = NULL;
	event_log_close(d->event_log); /* every event kept written */
	d->event_log = NULL;
	event_pub_close(event_socket);
	ports_free(d->ports);
	service_locks_free(d->locks);
	docker_close(d->backend.docker);
	log_info("shutdown done duration_ms=%lld", (long long)(clock_monotonic_ms() - started));
	log_flusher_stop();
	close(lock_fd);
	config_free(&d->config);
	return 0;
}
