/*
 * bench_probe.c - what health probes cost: tcp probes at 1,000 a second
 * for a few seconds against listeners in this process, through one
 * prober (server/core/prober.c).
 *
 * The figure is the prober thread's CPU time as a share of one core, read
 * from the thread's own clock (its id comes from a callback, which runs on
 * it); the process's getrusage less the listener threads' and the
 * submitting thread's clocks says the same and is printed as a note. The
 * kernel runs the loopback handshake inside connect(), so the prober is
 * charged the TCP work of both ends, as a probe of a local port would be.
 *
 * The floor is the same connect and RST close done with a blocking socket
 * by this thread, paced the same way: the syscalls a probe cannot avoid.
 * Floor shares and measured seconds alternate, so that a busy machine
 * moves both alike; the ratio says what the prober adds.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "clock.h"
#include "error.h"
#include "core/prober.h"

#define LISTENERS 4
#define RATE 1000  /* probes a second */
#define TICK_MS 10 /* submitted in batches of RATE * TICK_MS / 1000 */
#define WARMUP_MS 500
#define WINDOWS 5           /* measured seconds, one figure each */
#define FLOOR_CONNECTS 2500 /* in all, a share before each window, paced */
#define TARGET_PCT 5.0      /* of one core */
#define TARGET_RATIO 1.3    /* CPU per probe / the floor's */

struct listener {
	int fd;
	uint16_t port;
	pthread_t thread;
	clockid_t cpu;
};

static atomic_long completed, unhealthy;
/* The prober thread, learnt by the first callback (callbacks run on it). */
static pthread_t prober_thread;
static atomic_bool prober_thread_known;
static struct samples latency_us;
static pthread_mutex_t latency_lock = PTHREAD_MUTEX_INITIALIZER;

/* Accepts and closes until the socket is shut down. */
static void *
accept_loop(void *arg)
{
	struct listener *l = arg;

	for (;;) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd >= 0)
			close(fd);
		else if (errno != EINTR && errno != ECONNABORTED)
			return NULL;
	}
}

static int
listener_start(struct listener *l)
{
	struct sockaddr_in a = { 0 };
	socklen_t len = sizeof(a);

	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->fd < 0 || bind(l->fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(l->fd, 1024) != 0 || getsockname(l->fd, (struct sockaddr *)&a, &len) != 0)
		return -1;
	l->port = ntohs(a.sin_port);
	if (pthread_create(&l->thread, NULL, accept_loop, l) != 0 ||
	    pthread_getcpuclockid(l->thread, &l->cpu) != 0)
		return -1;
	return 0;
}

static void
listener_stop(struct listener *l)
{
	shutdown(l->fd, SHUT_RDWR); /* accept() returns EINVAL */
	pthread_join(l->thread, NULL);
	close(l->fd);
}

static double
clock_s(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
process_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* CPU seconds of the process other than the prober thread's, so far. */
static double
others_cpu_s(const struct listener *ls)
{
	double s = clock_s(CLOCK_THREAD_CPUTIME_ID);

	for (int i = 0; i < LISTENERS; i++)
		s += clock_s(ls[i].cpu);
	return s;
}

static void
on_done(void *arg, const struct probe_result *r)
{
	int64_t submitted_ns = (int64_t)(intptr_t)arg;
	double us = (double)(bench_now_ns() - submitted_ns) / 1000.0;

	if (!atomic_load(&prober_thread_known)) {
		prober_thread = pthread_self();
		atomic_store(&prober_thread_known, true);
	}
	if (!r->healthy)
		atomic_fetch_add(&unhealthy, 1);
	pthread_mutex_lock(&latency_lock);
	samples_add(&latency_us, us);
	pthread_mutex_unlock(&latency_lock);
	atomic_fetch_add(&completed, 1);
}

static void
sleep_until_ns(int64_t t)
{
	struct timespec ts = { (time_t)(t / 1000000000), (long)(t % 1000000000) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/*
 * Submits RATE probes a second, round-robin over the listeners, for
 * duration_ms from `start_ns`; returns how many were refused.
 */
static long
submit_paced(struct prober *p, const struct listener *ls, int64_t start_ns, int duration_ms,
    long *seq)
{
	const int per_tick = RATE * TICK_MS / 1000;
	long refused = 0;

	for (int t = 0; t < duration_ms / TICK_MS; t++) {
		sleep_until_ns(start_ns + (int64_t)t * TICK_MS * 1000000);
		for (int i = 0; i < per_tick; i++) {
			uint16_t port = ls[(*seq)++ % LISTENERS].port;
			struct probe_request req;

			probe_request_address(&req, "127.0.0.1", port, 2000);
			if (prober_submit(p, &req, on_done, (void *)(intptr_t)bench_now_ns()) != 0)
				refused++;
		}
	}
	return refused;
}

/*
 * The floor: n blocking connects and RST closes in this thread, to the
 * same listeners, paced as the probes are (a batch every TICK_MS: a
 * thread that sleeps between batches finds its caches cold, which a
 * tight loop would hide); CPU microseconds each (this thread's clock).
 */
static double
connect_floor_us(const struct listener *ls, int n)
{
	const int per_tick = RATE * TICK_MS / 1000;
	struct linger lg = { 1, 0 };
	double t0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
	int64_t start_ns = bench_now_ns();

	for (int i = 0; i < n; i++) {
		if (i % per_tick == 0)
			sleep_until_ns(start_ns + (int64_t)(i / per_tick) * TICK_MS * 1000000);
		struct sockaddr_in a = { 0 };
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		a.sin_family = AF_INET;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a.sin_port = htons(ls[i % LISTENERS].port);
		if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
			bench_say("floor connect: %s", strerror(errno));
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fd);
	}
	return (clock_s(CLOCK_THREAD_CPUTIME_ID) - t0) * 1e6 / n;
}

/* What one measured second gave. */
struct window {
	long probes;
	double prober_s;  /* the prober thread's own clock */
	double derived_s; /* the process's getrusage less the other threads' clocks */
	double wall_s;
};

/* One second of probes at RATE from `start_ns`, measured both ways. */
static struct window
measure_second(struct prober *p, const struct listener *ls, int64_t start_ns, long *seq,
    long *refused)
{
	struct window w = { 0 };
	clockid_t prober_clock;
	long done0 = atomic_load(&completed);
	double proc0, others0, prober0;
	int64_t w0;

	pthread_getcpuclockid(prober_thread, &prober_clock);
	sleep_until_ns(start_ns);
	w0 = bench_now_ns();
	proc0 = process_cpu_s();
	others0 = others_cpu_s(ls);
	prober0 = clock_s(prober_clock);
	*refused += submit_paced(p, ls, start_ns, 1000, seq);
	sleep_until_ns(start_ns + 1000000000);
	w.prober_s = clock_s(prober_clock) - prober0;
	w.derived_s = (process_cpu_s() - proc0) - (others_cpu_s(ls) - others0);
	w.wall_s = (double)(bench_now_ns() - w0) / 1e9;
	w.probes = atomic_load(&completed) - done0;
	return w;
}

int
main(void)
{
	struct listener ls[LISTENERS];
	struct samples pct = { 0 }, per_probe = { 0 }, derived_pct = { 0 }, floor = { 0 },
		       ratio = { 0 };
	struct error err = { 0 };
	struct prober *p;
	long seq = 0, refused = 0, probes = 0;
	int64_t t;

	for (int i = 0; i < LISTENERS; i++)
		if (listener_start(&ls[i]) != 0) {
			bench_say("probe: listener: %s", strerror(errno));
			return 1;
		}
	p = prober_start(256, 4096, &err);
	if (p == NULL) {
		bench_say("probe: %s", err.message);
		return 1;
	}
	t = bench_now_ns();
	refused += submit_paced(p, ls, t, WARMUP_MS, &seq);
	while (!atomic_load(&prober_thread_known))
		bench_sleep_ms(1);
	/* Alternately: a share of the floor, then one second of probes. */
	for (int w = 0; w < WINDOWS; w++) {
		struct window m;
		double f = connect_floor_us(ls, FLOOR_CONNECTS / WINDOWS);

		m = measure_second(p, ls, bench_now_ns() + 20000000, &seq, &refused);
		probes += m.probes;
		samples_add(&floor, f);
		samples_add(&pct, m.prober_s / m.wall_s * 100.0);
		samples_add(&derived_pct, m.derived_s / m.wall_s * 100.0);
		if (m.probes > 0) {
			samples_add(&per_probe, m.prober_s * 1e6 / (double)m.probes);
			samples_add(&ratio, m.prober_s * 1e6 / (double)m.probes / f);
		}
	}
	/* Let the last probes end (2 s timeout at most), then stop. */
	for (int i = 0; i < 300 && atomic_load(&completed) + refused < seq; i++)
		bench_sleep_ms(10);
	prober_stop(p);
	for (int i = 0; i < LISTENERS; i++)
		listener_stop(&ls[i]);

	double pct50 = samples_quantile(&pct, 0.5);
	double ratio50 = samples_quantile(&ratio, 0.5);
	bool ok = atomic_load(&unhealthy) == 0 && refused == 0;

	bench_row(&(struct bench_row){ "6 probes", "tcp probes at 1,000/s, prober thread CPU",
	    pct50, "% core", samples_quantile(&pct, 1.0), NULL, NAN, NAN, "<= 5 % of one core",
	    ok && pct50 <= TARGET_PCT ? BENCH_HOLDS : BENCH_MISS });
	bench_row(&(struct bench_row){ "6 probes", "CPU per tcp probe (connect, RST close)",
	    samples_quantile(&per_probe, 0.5), "us", samples_quantile(&per_probe, 1.0),
	    "blocking connect+close", samples_quantile(&floor, 0.5), ratio50, "ratio <= 1.3",
	    ok && ratio50 <= TARGET_RATIO ? BENCH_HOLDS : BENCH_MISS });
	bench_row(&(struct bench_row){ "6 probes", "tcp probe, submit to verdict",
	    samples_quantile(&latency_us, 0.5), "us", samples_quantile(&latency_us, 0.99), NULL,
	    NAN, NAN, NULL, BENCH_NA });
	bench_note("bench_probe: %ld probes in %d measured seconds (%ld in all), %ld unhealthy, "
		   "%ld refused; %d listeners in process; prober CPU from getrusage less the "
		   "other threads: %.2f %% of one core (median)",
	    probes, WINDOWS, seq, atomic_load(&unhealthy), refused, LISTENERS,
	    samples_quantile(&derived_pct, 0.5));
	samples_free(&pct);
	samples_free(&derived_pct);
	samples_free(&per_probe);
	samples_free(&floor);
	samples_free(&ratio);
	samples_free(&latency_us);
	return ok ? 0 : 1;
}
