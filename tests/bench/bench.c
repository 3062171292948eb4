/*
 * bench.c - support shared by the benchmarks (see bench.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "berthd_proc.h"
#include "e2e.h"

/* Arguments bench_berthd_start passes on. */
#define MAX_ARGS 64

/* --- clocks and samples -------------------------------------------------- */

int64_t
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
bench_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

void
samples_add(struct samples *s, double v)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		double *bigger = realloc(s->v, cap * sizeof(*bigger));

		if (bigger == NULL)
			abort();
		s->v = bigger;
		s->cap = cap;
	}
	s->v[s->n++] = v;
}

static int
compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double
samples_quantile(struct samples *s, double q)
{
	size_t rank;

	if (s->n == 0)
		return NAN;
	qsort(s->v, s->n, sizeof(*s->v), compare_double);
	rank = (size_t)ceil(q * (double)s->n);
	return s->v[rank > 0 ? rank - 1 : 0];
}

double
samples_sum(const struct samples *s)
{
	double sum = 0;

	for (size_t i = 0; i < s->n; i++)
		sum += s->v[i];
	return sum;
}

void
samples_free(struct samples *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* --- the table ------------------------------------------------------------ */

static FILE *
open_out(const char *env)
{
	const char *path = getenv(env);
	FILE *f;

	if (path == NULL || path[0] == '\0' || (f = fopen(path, "a")) == NULL)
		return NULL;
	return f;
}

/* A number for the table: NAN is "-"; few significant digits. */
static void
format_number(char *out, size_t len, double v)
{
	double a = fabs(v);

	if (isnan(v))
		snprintf(out, len, "-");
	else if (a >= 1000)
		snprintf(out, len, "%.0f", v);
	else if (a >= 100)
		snprintf(out, len, "%.0f", v);
	else if (a >= 10)
		snprintf(out, len, "%.1f", v);
	else
		snprintf(out, len, "%.2f", v);
}

void
bench_row(const struct bench_row *r)
{
	char value[32], p99[32], floor_value[32], ratio[32], figure[256];
	const char *verdict = r->verdict == BENCH_HOLDS ? "yes" : r->verdict == BENCH_MISS ? "NO" : "-";
	const char *engine = getenv("BENCH_ENGINE"); /* "podman": run.sh's second pass */
	FILE *f = open_out("BENCH_ROWS");

	format_number(value, sizeof(value), r->value);
	format_number(p99, sizeof(p99), r->p99);
	format_number(floor_value, sizeof(floor_value), r->floor != NULL ? r->floor_value : NAN);
	format_number(ratio, sizeof(ratio), r->ratio);
	snprintf(figure, sizeof(figure), "%s%s%s", engine != NULL ? engine : "",
	    engine != NULL ? ": " : "", r->figure);
	/* section, figure, value, p99, unit, floor, floor value, ratio, target, holds */
	fprintf(f != NULL ? f : stdout, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r->section,
	    figure, value, p99, r->unit, r->floor != NULL ? r->floor : "-", floor_value, ratio,
	    r->target != NULL ? r->target : "-", verdict);
	if (f != NULL)
		fclose(f);
	bench_say("%s: %s %s %s (p99 %s) floor %s %s ratio %s target %s: %s", r->section, figure,
	    value, r->unit, p99, r->floor != NULL ? r->floor : "-", floor_value, ratio,
	    r->target != NULL ? r->target : "-", verdict);
}

void
bench_note(const char *fmt, ...)
{
	FILE *f = open_out("BENCH_NOTES");
	va_list ap;

	va_start(ap, fmt);
	vfprintf(f != NULL ? f : stderr, fmt, ap);
	va_end(ap);
	fputc('\n', f != NULL ? f : stderr);
	if (f != NULL)
		fclose(f);
}

void
bench_say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* --- berthd --------------------------------------------------------------- */

const char *
bench_build_dir(void)
{
	const char *b = getenv("BUILD");

	return b != NULL && b[0] != '\0' ? b : "build";
}

int
bench_make_dir(const char *name, char *out, size_t len)
{
	const char *root = getenv("BENCH_DIR");

	if (root == NULL || root[0] == '\0')
		root = "/tmp";
	if ((size_t)snprintf(out, len, "%s/%s", root, name) >= len)
		return -1;
	if (mkdir(out, 0755) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

int
bench_berthd_start(struct bench_berthd *b, const char *dir, const char *const *extra,
    int timeout_s)
{
	const char *args[MAX_ARGS];
	struct berthd_proc p;
	int n = 0;

	memset(b, 0, sizeof(*b));
	args[n++] = "--config"; /* no configuration file: the figures are the defaults' */
	args[n++] = "";
	for (int i = 0; extra != NULL && extra[i] != NULL && n < MAX_ARGS - 1; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	if (berthd_proc_start_in(&p, dir, timeout_s * 1000, args) != 0)
		return -1;
	b->pid = p.pid;
	snprintf(b->data_dir, sizeof(b->data_dir), "%s", p.data_dir);
	snprintf(b->url, sizeof(b->url), "%s", p.url);
	snprintf(b->log_path, sizeof(b->log_path), "%s", p.log_path);
	b->started_ns = p.spawned_us * 1000;
	b->ready_ns = p.ready_us * 1000;
	return 0;
}

int64_t
bench_berthd_stop(struct bench_berthd *b, int timeout_s)
{
	int64_t t0 = bench_now_ns();

	if (b->pid <= 0)
		return -1;
	kill(b->pid, SIGTERM);
	for (int i = 0; i < timeout_s * 200; i++) {
		if (waitpid(b->pid, NULL, WNOHANG) == b->pid) {
			b->pid = 0;
			return bench_now_ns() - t0;
		}
		bench_sleep_ms(5);
	}
	kill(b->pid, SIGKILL);
	waitpid(b->pid, NULL, 0);
	b->pid = 0;
	return -1;
}

long
bench_rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

int
bench_log_value(const char *log_path, const char *needle, const char *key, long long *out)
{
	char line[4096], pattern[128];
	bool found = false;
	FILE *f = fopen(log_path, "r");

	if (f == NULL)
		return -1;
	snprintf(pattern, sizeof(pattern), " %s=", key);
	while (fgets(line, sizeof(line), f) != NULL) {
		const char *at;

		if (strstr(line, needle) == NULL || (at = strstr(line, pattern)) == NULL)
			continue;
		*out = strtoll(at + strlen(pattern), NULL, 10);
		found = true;
	}
	fclose(f);
	return found ? 0 : -1;
}

int
bench_log_count(const char *log_path, const char *needle)
{
	char line[4096];
	int n = 0;
	FILE *f = fopen(log_path, "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, needle) != NULL)
			n++;
	fclose(f);
	return n;
}

berth_client *
bench_client(const struct bench_berthd *b)
{
	berth_options opts = { NULL, 300000, NULL, NULL, NULL, NULL };
	berth_client *c;
	berth_status st;

	if (berth_open(&c, b->url, &opts, &st) != 0) {
		bench_say("cannot connect to %s: %s", b->url, st.message);
		exit(1);
	}
	return c;
}

int
bench_put_template(berth_client *c, const char *name, uint16_t port_start,
    const char *const *env, size_t n_env, unsigned stop_timeout_s)
{
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	berth_status st;

	if (e2e_demo_context() == NULL)
		return -1;
	/* The e2e tests' demo template, on the benchmarks' image and an open range. */
	e2e_demo_template(&t, name, port_start, 0);
	t.description = "berth benchmark";
	t.image = BENCH_IMAGE;
	t.env = (char **)env;
	t.n_env = n_env;
	t.stop_timeout_s = stop_timeout_s;
	if (e2e_put_template(c, &t, &st) != 0) {
		bench_say("PutTemplate: %s", st.message);
		return -1;
	}
	return 0;
}

int
bench_launch(berth_client *c, const char *template_name, char *service_id, size_t len,
    uint32_t *port)
{
	Berth__V1__LaunchServiceRequest req = BERTH__V1__LAUNCH_SERVICE_REQUEST__INIT;
	Berth__V1__LaunchServiceResponse *rep = NULL;
	berth_status st;
	int rc;

	req.template_ = (char *)template_name;
	req.instance = "";
	/*
	 * ABORTED: the new service's id is still held by berthd's event
	 * follower, settling the removal of the last service of that name.
	 * Retry, as clients should (the CLI exits 4: retry later).
	 */
	for (int attempt = 0;; attempt++) {
		static atomic_bool noted;

		rc = berth_call(c, "LaunchService", &req.base, (ProtobufCMessage **)&rep, &st);
		if (rc != BERTH__V1__CODE__ABORTED || attempt == 20)
			break;
		if (!atomic_exchange(&noted, true))
			bench_note("LaunchService answered ABORTED (%s) and was retried", st.message);
		bench_sleep_ms(10);
	}
	if (rc != 0) {
		bench_say("LaunchService: %s: %s", berth_code_name(st.code), st.message);
		return rc;
	}
	snprintf(service_id, len, "%s", rep->service->service_id);
	if (port != NULL)
		*port = rep->service->port;
	berth_reply_free(&rep->base);
	return 0;
}

int
bench_remove(berth_client *c, const char *service_id)
{
	Berth__V1__RemoveServiceRequest req = BERTH__V1__REMOVE_SERVICE_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	berth_status st;
	int rc;

	req.service_id = (char *)service_id;
	req.purge = true;
	rc = berth_call(c, "RemoveService", &req.base, &reply, &st);
	if (rc != 0)
		bench_say("RemoveService %s: %s", service_id, st.message);
	berth_reply_free(reply);
	return rc;
}

/* --- Docker ---------------------------------------------------------------- */

struct docker *
bench_docker(void)
{
	struct docker *d = e2e_docker(); /* says why when there is none */

	if (d == NULL)
		exit(1);
	return d;
}

int
bench_demo_image(void)
{
	struct error err = { 0 };
	char build[PATH_MAX], context[PATH_MAX];
	bool exists = false;

	if (docker_image_exists(bench_docker(), BENCH_IMAGE, &exists, 30000, &err) != 0) {
		bench_say("Docker: %s", err.message);
		return -1;
	}
	if (exists)
		return 0;
	snprintf(build, sizeof(build), "%s/demo", bench_build_dir());
	if (realpath(build, context) == NULL) {
		bench_say("no demo build context at %s: make demo", build);
		return -1;
	}
	bench_say("building %s from %s", BENCH_IMAGE, context);
	if (docker_image_build(bench_docker(), context, BENCH_IMAGE, 300000, &err) != 0) {
		bench_say("cannot build %s: %s", BENCH_IMAGE, err.message);
		return -1;
	}
	return 0;
}

int
bench_foreign_start(const char *name, uint16_t host_port, char id[DOCKER_ID_LEN + 1])
{
	static const struct docker_label labels[] = { { BENCH_LABEL_KEY, BENCH_LABEL_VALUE } };
	struct docker_container_spec spec = {
		.name = name,
		.image = BENCH_IMAGE,
		.labels = labels,
		.n_labels = 1,
		.container_port = BENCH_DEMO_PORT,
		.host_ip = "127.0.0.1",
		.host_port = host_port,
	};
	struct error err = { 0 };

	if (docker_container_create(bench_docker(), &spec, id, 60000, &err) != 0 ||
	    docker_container_start(bench_docker(), id, 60000, &err) != 0) {
		bench_say("foreign container on port %u: %s", host_port, err.message);
		return -1;
	}
	return 0;
}

void
bench_remove_container(const char *id)
{
	struct error err = { 0 };

	docker_container_remove(bench_docker(), id, true, 60000, &err);
}

struct removal {
	struct docker_container *list;
	size_t n;
	atomic_size_t next;
};

static void *
removal_worker(void *arg)
{
	struct removal *r = arg;
	size_t i;

	while ((i = atomic_fetch_add(&r->next, 1)) < r->n)
		bench_remove_container(r->list[i].id);
	return NULL;
}

int
bench_remove_labelled(void)
{
	struct removal r = { NULL, 0, 0 };
	struct error err = { 0 };
	pthread_t threads[4];

	if (docker_container_list(bench_docker(), BENCH_LABEL_KEY "=" BENCH_LABEL_VALUE, &r.list,
		&r.n, 60000, &err) != 0)
		return -1;
	/* A few at a time: Docker removes faster in parallel, up to a point. */
	for (int t = 0; t < 4; t++)
		pthread_create(&threads[t], NULL, removal_worker, &r);
	for (int t = 0; t < 4; t++)
		pthread_join(threads[t], NULL);
	free(r.list);
	return (int)r.n;
}

static int
run_argv(const char *const *argv, int out_fd)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(out_fd >= 0 ? out_fd : null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		dup2(null, STDIN_FILENO);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int
bench_run(const char *const *argv)
{
	return run_argv(argv, -1);
}

int
bench_run_capture(const char *const *argv, char *out, size_t len)
{
	int fds[2], rc;
	size_t got = 0;
	ssize_t n;

	if (pipe(fds) != 0)
		return -1;
	/* Small outputs only (a token, an id): the pipe buffer holds them. */
	rc = run_argv(argv, fds[1]);
	close(fds[1]);
	while (got + 1 < len && (n = read(fds[0], out + got, len - 1 - got)) > 0)
		got += (size_t)n;
	close(fds[0]);
	out[got] = '\0';
	while (got > 0 && (out[got - 1] == '\n' || out[got - 1] == '\r'))
		out[--got] = '\0';
	return rc;
}
