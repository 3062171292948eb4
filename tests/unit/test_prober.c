/*
 * test_prober.c - the health-probe engine (server/core/prober.c) against
 * fake servers on 127.0.0.1, each a thread of this test: healthy and
 * refused tcp ports, a backlog that never completes a handshake, HTTP
 * answers good, bad and hostile (garbage, trickled, never sent, cut
 * short), many probes through few slots, a full queue, and prober_stop
 * with probes in flight. Every wait has a deadline.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "error.h"
#include "status.h"
#include "core/prober.h"

/* How long a test waits for callbacks before it fails. */
#define WAIT_MS 20000
/* Slack allowed past a probe's timeout (valgrind runs slowly). */
#define LATE_MS 700

/* --- fake servers -------------------------------------------------------------- */

/* What a fake HTTP server does with one connection, after reading the request. */
struct answer {
	const char *bytes; /* sent back; NULL: nothing */
	size_t len;        /* 0: strlen(bytes) */
	int trickle_ms;    /* > 0: one byte every trickle_ms */
	size_t pause_at;   /* > 0: send this many bytes, pause 50 ms, send the rest */
	bool hold;         /* keep the connection open afterwards, until the server stops */
};

#define MAX_HELD 64

struct fake_server {
	int listen_fd;
	uint16_t port;
	int stop_pipe[2];
	pthread_t thread;
	bool http;                    /* false: accept and close at once */
	const struct answer *answers; /* connection i gets answers[min(i, n - 1)] */
	size_t n_answers;
	atomic_bool stopping;
	atomic_int accepted;
	pthread_mutex_t lock;
	char last_request[1024]; /* under lock */
	int held[MAX_HELD];
	size_t n_held;
};

static int
listen_on_loopback(int family, int backlog, uint16_t *port)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*a);
	}
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 ||
	    (backlog >= 0 && listen(fd, backlog) != 0) ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					 : ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

/* Reads the request up to its blank line (1 s at most) and keeps it. */
static void
read_request(struct fake_server *fs, int fd)
{
	char req[sizeof(fs->last_request)];
	size_t got = 0;
	struct timeval tv = { 1, 0 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (got < sizeof(req) - 1) {
		ssize_t n = recv(fd, req + got, sizeof(req) - 1 - got, 0);

		if (n <= 0)
			break;
		got += (size_t)n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n") != NULL)
			break;
	}
	req[got] = '\0';
	pthread_mutex_lock(&fs->lock);
	memcpy(fs->last_request, req, got + 1);
	pthread_mutex_unlock(&fs->lock);
}

static void
serve_http(struct fake_server *fs, int fd, const struct answer *a)
{
	size_t len = a->bytes == NULL ? 0 : a->len ? a->len
						   : strlen(a->bytes);

	read_request(fs, fd);
	if (a->trickle_ms > 0) {
		for (size_t i = 0; i < len && !atomic_load(&fs->stopping); i++) {
			if (send(fd, a->bytes + i, 1, MSG_NOSIGNAL) != 1)
				break; /* the prober gave up */
			clock_sleep_ms(a->trickle_ms);
		}
	} else if (a->pause_at > 0 && a->pause_at < len) {
		send(fd, a->bytes, a->pause_at, MSG_NOSIGNAL);
		clock_sleep_ms(50);
		send(fd, a->bytes + a->pause_at, len - a->pause_at, MSG_NOSIGNAL);
	} else if (len > 0) {
		send(fd, a->bytes, len, MSG_NOSIGNAL);
	}
	if (a->hold && fs->n_held < MAX_HELD)
		fs->held[fs->n_held++] = fd;
	else
		close(fd);
}

static void *
serve(void *arg)
{
	struct fake_server *fs = arg;
	struct pollfd pfd[2] = { { fs->listen_fd, POLLIN, 0 }, { fs->stop_pipe[0], POLLIN, 0 } };

	while (!atomic_load(&fs->stopping)) {
		int fd, i;

		if (poll(pfd, 2, -1) < 0 || pfd[1].revents != 0)
			break;
		fd = accept4(fs->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		i = atomic_fetch_add(&fs->accepted, 1);
		if (!fs->http) {
			close(fd);
			continue;
		}
		if ((size_t)i >= fs->n_answers)
			i = (int)fs->n_answers - 1;
		serve_http(fs, fd, &fs->answers[i]);
	}
	return NULL;
}

static void
server_start(struct fake_server *fs, const struct answer *answers, size_t n_answers)
{
	memset(fs, 0, sizeof(*fs));
	pthread_mutex_init(&fs->lock, NULL);
	fs->http = answers != NULL;
	fs->answers = answers;
	fs->n_answers = n_answers;
	fs->listen_fd = listen_on_loopback(AF_INET, 1024, &fs->port);
	assert_true(fs->listen_fd >= 0);
	assert_int_equal(pipe(fs->stop_pipe), 0);
	assert_int_equal(pthread_create(&fs->thread, NULL, serve, fs), 0);
}

static void
server_stop(struct fake_server *fs)
{
	atomic_store(&fs->stopping, true);
	assert_int_equal(write(fs->stop_pipe[1], "x", 1), 1);
	pthread_join(fs->thread, NULL);
	for (size_t i = 0; i < fs->n_held; i++)
		close(fs->held[i]);
	close(fs->listen_fd);
	close(fs->stop_pipe[0]);
	close(fs->stop_pipe[1]);
	pthread_mutex_destroy(&fs->lock);
}

/* Waits (bounded) until the server has accepted n connections. */
static bool
server_wait_accepted(struct fake_server *fs, int n)
{
	int64_t deadline = clock_monotonic_ms() + WAIT_MS;

	while (atomic_load(&fs->accepted) < n) {
		if (clock_monotonic_ms() > deadline)
			return false;
		clock_sleep_ms(5);
	}
	return true;
}

/* --- collecting results ------------------------------------------------------------- */

struct outcome {
	int calls;
	struct probe_result r;
	int64_t done_us;
};

struct collector {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	size_t done;
	struct outcome *o;
	struct ticket *tickets;
	size_t n;
};

struct ticket {
	struct collector *c;
	size_t i;
};

static void
collector_init(struct collector *c, size_t n)
{
	pthread_condattr_t attr;

	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cond, &attr);
	pthread_condattr_destroy(&attr);
	c->n = n;
	c->o = calloc(n, sizeof(*c->o));
	c->tickets = calloc(n, sizeof(*c->tickets));
	assert_non_null(c->o);
	assert_non_null(c->tickets);
	for (size_t i = 0; i < n; i++)
		c->tickets[i] = (struct ticket){ c, i };
}

static void
collector_free(struct collector *c)
{
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c->o);
	free(c->tickets);
}

static void
on_done(void *arg, const struct probe_result *r)
{
	struct ticket *t = arg;
	struct collector *c = t->c;

	pthread_mutex_lock(&c->lock);
	c->o[t->i].calls++;
	c->o[t->i].r = *r;
	c->o[t->i].done_us = clock_monotonic_us();
	c->done++;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

/* Waits until n callbacks came, WAIT_MS at most; returns how many came. */
static size_t
collector_wait(struct collector *c, size_t n)
{
	struct timespec ts;
	size_t done;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += WAIT_MS / 1000;
	pthread_mutex_lock(&c->lock);
	while (c->done < n && pthread_cond_timedwait(&c->cond, &c->lock, &ts) == 0)
		;
	done = c->done;
	pthread_mutex_unlock(&c->lock);
	return done;
}

/* --- requests ------------------------------------------------------------------------ */

static struct probe_request
tcp_request(uint16_t port, int timeout_ms)
{
	struct probe_request req;

	assert_int_equal(probe_request_address(&req, "127.0.0.1", port, timeout_ms), 0);
	return req;
}

static struct probe_request
http_request(uint16_t port, const char *path, int timeout_ms)
{
	struct probe_request req = tcp_request(port, timeout_ms);

	req.kind = PROBE_HTTP;
	snprintf(req.http_path, sizeof(req.http_path), "%s", path);
	return req;
}

static struct prober *
start(size_t max_inflight, size_t max_queued)
{
	struct error err = { 0 };
	struct prober *p = prober_start(max_inflight, max_queued, &err);

	assert_non_null(p);
	return p;
}

/* One probe, start to end: its result. */
static struct probe_result
probe_once(const struct probe_request *req)
{
	struct prober *p = start(4, 4);
	struct collector c;
	struct probe_result r;

	collector_init(&c, 1);
	assert_int_equal(prober_submit(p, req, on_done, &c.tickets[0]), 0);
	assert_int_equal(collector_wait(&c, 1), 1);
	prober_stop(p);
	assert_int_equal(c.o[0].calls, 1);
	r = c.o[0].r;
	collector_free(&c);
	return r;
}

/* One HTTP probe of a server answering `a`. */
static struct probe_result
http_probe_answer(const struct answer *a, int timeout_ms)
{
	struct fake_server fs;
	struct probe_request req;
	struct probe_result r;

	server_start(&fs, a, 1);
	req = http_request(fs.port, "/healthz", timeout_ms);
	r = probe_once(&req);
	server_stop(&fs);
	return r;
}

static bool
starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* --- tcp ----------------------------------------------------------------------------- */

static void
test_tcp_listener_is_healthy(void **state)
{
	struct fake_server fs;
	struct probe_request req;
	struct probe_result r;

	(void)state;
	server_start(&fs, NULL, 0);
	req = tcp_request(fs.port, 2000);
	r = probe_once(&req);
	server_stop(&fs);
	assert_true(r.healthy);
	assert_string_equal(r.error, "");
	assert_int_equal(r.http_status, 0);
	assert_true(r.elapsed_ms >= 0 && r.elapsed_ms < 1000);
}

/* A port bound but not listening answers SYN with RST: refused, at once. */
static void
test_tcp_refused_port_fails_quickly(void **state)
{
	uint16_t port;
	int fd = listen_on_loopback(AF_INET, -1, &port);
	struct probe_request req;
	struct probe_result r;

	(void)state;
	assert_true(fd >= 0);
	req = tcp_request(port, 5000);
	r = probe_once(&req);
	close(fd);
	assert_false(r.healthy);
	assert_string_equal(r.error, "connection refused");
	assert_true(r.elapsed_ms < 1000);
}

/*
 * A listener that never accepts, its backlog full: the kernel drops the
 * probe's SYN, the connect hangs and the probe ends at its timeout. A
 * healthy probe submitted after it ends long before.
 */
static void
test_tcp_full_backlog_times_out_without_delaying_a_fast_probe(void **state)
{
	struct fake_server fast;
	uint16_t port;
	int full = listen_on_loopback(AF_INET, 0, &port);
	int fillers[8], n_fillers = 0;
	struct prober *p;
	struct collector c;
	struct probe_request slow_req, fast_req;

	(void)state;
	assert_true(full >= 0);
	/* Connect until one connection hangs in SYN_SENT: the queue is full. */
	for (;;) {
		struct probe_request r = tcp_request(port, 1);
		struct pollfd pfd;
		int fd;

		assert_true(n_fillers < 8);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		assert_true(fd >= 0);
		fillers[n_fillers++] = fd;
		connect(fd, (struct sockaddr *)&r.addr, r.addr_len);
		pfd = (struct pollfd){ fd, POLLOUT, 0 };
		if (poll(&pfd, 1, 200) == 0)
			break;
	}
	server_start(&fast, NULL, 0);
	slow_req = tcp_request(port, 400);
	fast_req = tcp_request(fast.port, 2000);
	p = start(8, 8);
	collector_init(&c, 2);
	assert_int_equal(prober_submit(p, &slow_req, on_done, &c.tickets[0]), 0);
	assert_int_equal(prober_submit(p, &fast_req, on_done, &c.tickets[1]), 0);
	assert_int_equal(collector_wait(&c, 2), 2);
	prober_stop(p);

	assert_false(c.o[0].r.healthy);
	assert_string_equal(c.o[0].r.error, "timed out after 400 ms while connecting");
	assert_true(c.o[0].r.elapsed_ms >= 400 && c.o[0].r.elapsed_ms < 400 + LATE_MS);
	assert_true(c.o[1].r.healthy);
	assert_true(c.o[1].r.elapsed_ms < 200);
	assert_true(c.o[1].done_us < c.o[0].done_us);
	collector_free(&c);
	server_stop(&fast);
	for (int i = 0; i < n_fillers; i++)
		close(fillers[i]);
	close(full);
}

/* --- http ----------------------------------------------------------------------------- */

static void
test_http_200_is_healthy_and_the_request_is_well_formed(void **state)
{
	static const struct answer ok = { "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" };
	struct fake_server fs;
	struct probe_request req;
	struct probe_result r;

	(void)state;
	server_start(&fs, &ok, 1);
	req = http_request(fs.port, "/healthz?full=1", 2000);
	snprintf(req.http_host, sizeof(req.http_host), "svc.example:8080");
	r = probe_once(&req);
	assert_true(r.healthy);
	assert_int_equal(r.http_status, 200);
	assert_string_equal(r.error, "");
	pthread_mutex_lock(&fs.lock);
	assert_true(starts_with(fs.last_request, "GET /healthz?full=1 HTTP/1.0\r\n"));
	assert_non_null(strstr(fs.last_request, "\r\nHost: svc.example:8080\r\n"));
	assert_non_null(strstr(fs.last_request, "\r\nUser-Agent: berth-probe\r\n"));
	assert_non_null(strstr(fs.last_request, "\r\nConnection: close\r\n"));
	pthread_mutex_unlock(&fs.lock);
	server_stop(&fs);
}

static void
test_http_host_defaults_to_the_address(void **state)
{
	static const struct answer ok = { "HTTP/1.0 204 No Content\r\n\r\n" };
	struct fake_server fs;
	struct probe_request req;
	struct probe_result r;
	char host[64];

	(void)state;
	server_start(&fs, &ok, 1);
	req = http_request(fs.port, "/", 2000);
	r = probe_once(&req);
	assert_true(r.healthy);
	snprintf(host, sizeof(host), "\r\nHost: 127.0.0.1:%u\r\n", fs.port);
	pthread_mutex_lock(&fs.lock);
	assert_non_null(strstr(fs.last_request, host));
	pthread_mutex_unlock(&fs.lock);
	server_stop(&fs);
}

static void
test_http_302_is_healthy(void **state)
{
	static const struct answer found = { "HTTP/1.1 302 Found\r\nLocation: /login\r\n\r\n" };
	struct probe_result r = http_probe_answer(&found, 2000);

	(void)state;
	assert_true(r.healthy);
	assert_int_equal(r.http_status, 302);
}

static void
test_http_503_is_unhealthy(void **state)
{
	static const struct answer unavailable = { "HTTP/1.1 503 Service Unavailable\r\n\r\n" };
	struct probe_result r = http_probe_answer(&unavailable, 2000);

	(void)state;
	assert_false(r.healthy);
	assert_int_equal(r.http_status, 503);
	assert_string_equal(r.error, "HTTP 503");
}

/* One answer and the verdict it must get. */
struct status_case {
	struct answer answer;
	bool healthy;
	int http_status;
	const char *error;
};

static char too_long[PROBE_STATUS_LINE_MAX + 200];

/* Many answers, one connection each, through one server and one prober. */
static void
test_http_status_lines_are_parsed_strictly(void **state)
{
	static const char *const bad = "malformed status line";
	static const char *const closed = "connection closed before a status line";
	const struct status_case cases[] = {
		{ { "HTTP/1.1 200 OK\r\n" }, true, 200, "" },
		{ { "HTTP/1.0 204\r\n" }, true, 204, "" },
		{ { "HTTP/1.1 301 Moved\n" }, true, 301, "" }, /* bare LF */
		{ { "HTTP/1.1 200 \xc3\xa9t\xc3\xa9\tok\r\n" }, true, 200, "" },
		{ { "HTTP/1.1 200 OK\r\n", 0, 0, 3 }, true, 200, "" }, /* "HTT" then the rest */
		{ { "HTTP/1.1 399 X\r\n" }, true, 399, "" },
		{ { "HTTP/1.1 404 Not Found\r\n" }, false, 404, "HTTP 404" },
		{ { "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n" }, false, 500,
		    "HTTP 500" },
		{ { "HTTP/1.1 101 Switching Protocols\r\n" }, false, 101, "HTTP 101" },
		{ { "HTTP/1.1 600 Odd\r\n" }, false, 600, "HTTP 600" },
		{ { "SSH-2.0-OpenSSH_9.2\r\n" }, false, 0, bad },
		{ { "HTTP/2 200\r\n" }, false, 0, bad },
		{ { "http/1.1 200 OK\r\n" }, false, 0, bad },
		{ { "HTTP/1.1 20 OK\r\n" }, false, 0, bad },
		{ { "HTTP/1.1 099 Low\r\n" }, false, 0, bad },
		{ { "HTTP/1.1  200 OK\r\n" }, false, 0, bad },
		{ { "HTTP/1.1 200OK\r\n" }, false, 0, bad },
		{ { "HTTP/1.1 2x0 OK\r\n" }, false, 0, bad },
		{ { "HTTP/1.1 200 O\0K\r\n", 18 }, false, 0, bad },
		{ { "HTTP/1.1 200 OK\rX\n" }, false, 0, bad },
		{ { "HTTP/1.1 200 OK\x7f\r\n" }, false, 0, bad },
		{ { "\r\nHTTP/1.1 200 OK\r\n" }, false, 0, bad },
		{ { "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11 }, false, 0, bad }, /* TLS */
		{ { too_long }, false, 0, "no status line in the first 4096 bytes" },
		{ { "" }, false, 0, closed },
		{ { "HTTP/1.1 200" }, false, 0, closed },
		{ { "HTTP/1.1 200 OK\r" }, false, 0, closed },
	};
	size_t n = sizeof(cases) / sizeof(cases[0]);
	struct answer answers[sizeof(cases) / sizeof(cases[0])];
	struct fake_server fs;
	struct prober *p;
	struct collector c;
	int wrong = 0;

	(void)state;
	memcpy(too_long, "HTTP/1.1 200 ", 13);
	memset(too_long + 13, 'a', sizeof(too_long) - 14);
	too_long[sizeof(too_long) - 1] = '\0';
	for (size_t i = 0; i < n; i++)
		answers[i] = cases[i].answer;
	server_start(&fs, answers, n);
	p = start(1, n);
	collector_init(&c, n);
	for (size_t i = 0; i < n; i++) {
		struct probe_request req = http_request(fs.port, "/", 2000);

		assert_int_equal(prober_submit(p, &req, on_done, &c.tickets[i]), 0);
	}
	assert_int_equal(collector_wait(&c, n), n);
	prober_stop(p);
	for (size_t i = 0; i < n; i++) {
		const struct probe_result *r = &c.o[i].r;

		if (r->healthy != cases[i].healthy || r->http_status != cases[i].http_status ||
		    strcmp(r->error, cases[i].error) != 0) {
			print_error("case %zu: healthy %d status %d error \"%s\"\n", i, r->healthy,
			    r->http_status, r->error);
			wrong++;
		}
	}
	assert_int_equal(wrong, 0);
	collector_free(&c);
	server_stop(&fs);
}

/*
 * A server that accepts, reads the request and never answers, and a fast
 * one: the first probe ends at its timeout, the second long before it.
 */
static void
test_http_silent_server_times_out_without_delaying_a_fast_probe(void **state)
{
	static const struct answer silent = { NULL, 0, 0, 0, true };
	static const struct answer ok = { "HTTP/1.1 200 OK\r\n\r\n" };
	struct fake_server hole, fast;
	struct prober *p;
	struct collector c;
	struct probe_request slow_req, fast_req;

	(void)state;
	server_start(&hole, &silent, 1);
	server_start(&fast, &ok, 1);
	slow_req = http_request(hole.port, "/", 500);
	fast_req = http_request(fast.port, "/", 2000);
	p = start(8, 8);
	collector_init(&c, 2);
	assert_int_equal(prober_submit(p, &slow_req, on_done, &c.tickets[0]), 0);
	assert_true(server_wait_accepted(&hole, 1));
	assert_int_equal(prober_submit(p, &fast_req, on_done, &c.tickets[1]), 0);
	assert_int_equal(collector_wait(&c, 2), 2);
	prober_stop(p);

	assert_false(c.o[0].r.healthy);
	assert_string_equal(c.o[0].r.error, "timed out after 500 ms waiting for a status line");
	assert_true(c.o[0].r.elapsed_ms >= 500 && c.o[0].r.elapsed_ms < 500 + LATE_MS);
	assert_true(c.o[1].r.healthy);
	assert_true(c.o[1].r.elapsed_ms < 200);
	assert_true(c.o[1].done_us < c.o[0].done_us);
	collector_free(&c);
	server_stop(&fast);
	server_stop(&hole);
}

/* A byte every 20 ms, never an end of line: the timeout still ends it. */
static void
test_http_trickling_server_is_bounded_by_the_timeout(void **state)
{
	static char slow[1000];
	struct answer trickle = { slow, 0, 20 };
	struct probe_result r;

	(void)state;
	memcpy(slow, "HTTP/1.1 200 ", 13);
	memset(slow + 13, 'a', sizeof(slow) - 14);
	r = http_probe_answer(&trickle, 300);
	assert_false(r.healthy);
	assert_string_equal(r.error, "timed out after 300 ms in the middle of the status line");
	assert_true(r.elapsed_ms >= 300 && r.elapsed_ms < 300 + LATE_MS);
}

static void
test_http_server_closing_early_is_unhealthy(void **state)
{
	static const struct answer hang_up = { NULL };
	struct probe_result r = http_probe_answer(&hang_up, 2000);

	(void)state;
	assert_false(r.healthy);
	assert_string_equal(r.error, "connection closed before a status line");
	assert_true(r.elapsed_ms < 1500);
}

static void
test_http_refused_port_is_unhealthy(void **state)
{
	uint16_t port;
	int fd = listen_on_loopback(AF_INET, -1, &port);
	struct probe_request req;
	struct probe_result r;

	(void)state;
	assert_true(fd >= 0);
	req = http_request(port, "/", 2000);
	r = probe_once(&req);
	close(fd);
	assert_false(r.healthy);
	assert_string_equal(r.error, "connection refused");
}

static void
test_ipv6_loopback_is_probed(void **state)
{
	static const struct answer ok = { "HTTP/1.1 200 OK\r\n\r\n" };
	struct fake_server fs;
	struct probe_request req;
	struct probe_result r;
	char host[64];

	(void)state;
	memset(&fs, 0, sizeof(fs));
	pthread_mutex_init(&fs.lock, NULL);
	fs.http = true;
	fs.answers = &ok;
	fs.n_answers = 1;
	fs.listen_fd = listen_on_loopback(AF_INET6, 16, &fs.port);
	if (fs.listen_fd < 0) {
		pthread_mutex_destroy(&fs.lock);
		skip(); /* no ::1 here */
	}
	assert_int_equal(pipe(fs.stop_pipe), 0);
	assert_int_equal(pthread_create(&fs.thread, NULL, serve, &fs), 0);
	assert_int_equal(probe_request_address(&req, "::1", fs.port, 2000), 0);
	req.kind = PROBE_HTTP;
	strcpy(req.http_path, "/");
	r = probe_once(&req);
	assert_true(r.healthy);
	snprintf(host, sizeof(host), "\r\nHost: [::1]:%u\r\n", fs.port);
	pthread_mutex_lock(&fs.lock);
	assert_non_null(strstr(fs.last_request, host));
	pthread_mutex_unlock(&fs.lock);
	server_stop(&fs);
}

/* --- bounds and stopping -------------------------------------------------------------- */

static void
test_500_probes_through_64_slots_all_complete(void **state)
{
	enum { N = 500 };
	struct fake_server fs;
	struct prober *p;
	struct collector c;
	struct probe_request req;

	(void)state;
	server_start(&fs, NULL, 0);
	req = tcp_request(fs.port, 5000);
	p = start(64, N);
	collector_init(&c, N);
	for (size_t i = 0; i < N; i++)
		assert_int_equal(prober_submit(p, &req, on_done, &c.tickets[i]), 0);
	assert_int_equal(collector_wait(&c, N), N);
	prober_stop(p);
	for (size_t i = 0; i < N; i++) {
		assert_int_equal(c.o[i].calls, 1);
		assert_true(c.o[i].r.healthy);
	}
	collector_free(&c);
	server_stop(&fs);
}

/* With 2 slots, a third probe waits in the queue until a slot is free. */
static void
test_the_inflight_bound_keeps_the_rest_queued(void **state)
{
	static const struct answer silent = { NULL, 0, 0, 0, true };
	struct fake_server hole;
	struct prober *p;
	struct collector c;

	(void)state;
	server_start(&hole, &silent, 1);
	p = start(2, 8);
	collector_init(&c, 5);
	for (size_t i = 0; i < 5; i++) {
		struct probe_request req = http_request(hole.port, "/", 400);

		assert_int_equal(prober_submit(p, &req, on_done, &c.tickets[i]), 0);
	}
	assert_true(server_wait_accepted(&hole, 2));
	clock_sleep_ms(150);
	assert_int_equal(atomic_load(&hole.accepted), 2);
	assert_int_equal(collector_wait(&c, 5), 5);
	prober_stop(p);
	assert_int_equal(atomic_load(&hole.accepted), 5);
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(c.o[i].calls, 1);
		assert_true(starts_with(c.o[i].r.error, "timed out after 400 ms"));
	}
	collector_free(&c);
	server_stop(&hole);
}

/* One slot, four queue places: the sixth submit at the latest is refused. */
static void
test_a_full_queue_refuses_a_submit(void **state)
{
	static const struct answer silent = { NULL, 0, 0, 0, true };
	struct fake_server hole;
	struct prober *p;
	struct collector c;
	size_t accepted = 0, refused = 0;

	(void)state;
	server_start(&hole, &silent, 1);
	p = start(1, 4);
	collector_init(&c, 10);
	for (size_t i = 0; i < 10; i++) {
		struct probe_request req = http_request(hole.port, "/", 10000);
		int rv = prober_submit(p, &req, on_done, &c.tickets[i]);

		if (rv == 0)
			accepted++;
		else if (rv == BERTH__V1__CODE__RESOURCE_EXHAUSTED)
			refused++;
		else
			fail_msg("submit %zu: %d", i, rv);
	}
	assert_true(accepted >= 4 && accepted <= 5);
	assert_int_equal(accepted + refused, 10);
	prober_stop(p);
	assert_int_equal(c.done, accepted);
	collector_free(&c);
	server_stop(&hole);
}

/* prober_stop ends probes in flight and queued: each callback once, "cancelled". */
static void
test_stop_cancels_every_probe_exactly_once(void **state)
{
	enum { N = 20 };
	static const struct answer silent = { NULL, 0, 0, 0, true };
	struct fake_server hole;
	struct prober *p;
	struct collector c;
	int64_t t0;

	(void)state;
	server_start(&hole, &silent, 1);
	p = start(8, 32);
	collector_init(&c, N);
	for (size_t i = 0; i < N; i++) {
		struct probe_request req = http_request(hole.port, "/", 30000);

		assert_int_equal(prober_submit(p, &req, on_done, &c.tickets[i]), 0);
	}
	assert_true(server_wait_accepted(&hole, 8));
	t0 = clock_monotonic_ms();
	prober_stop(p);
	assert_true(clock_monotonic_ms() - t0 < 1000);
	assert_int_equal(c.done, N);
	for (size_t i = 0; i < N; i++) {
		assert_int_equal(c.o[i].calls, 1);
		assert_false(c.o[i].r.healthy);
		assert_string_equal(c.o[i].r.error, "cancelled");
	}
	collector_free(&c);
	server_stop(&hole);
}

/* A callback may submit the next probe: a chain of 20, one after the other. */
struct chain {
	struct prober *p;
	struct probe_request req;
	atomic_int left, healthy;
	atomic_bool over;
};

static void
on_chain(void *arg, const struct probe_result *r)
{
	struct chain *ch = arg;

	if (r->healthy)
		atomic_fetch_add(&ch->healthy, 1);
	if (atomic_fetch_sub(&ch->left, 1) > 1 && prober_submit(ch->p, &ch->req, on_chain, ch) == 0)
		return;
	atomic_store(&ch->over, true);
}

static void
test_a_callback_may_submit(void **state)
{
	struct fake_server fs;
	struct chain ch = { 0 };
	int64_t deadline;

	(void)state;
	server_start(&fs, NULL, 0);
	ch.p = start(1, 1);
	ch.req = tcp_request(fs.port, 2000);
	atomic_store(&ch.left, 20);
	assert_int_equal(prober_submit(ch.p, &ch.req, on_chain, &ch), 0);
	deadline = clock_monotonic_ms() + WAIT_MS;
	while (!atomic_load(&ch.over) && clock_monotonic_ms() < deadline)
		clock_sleep_ms(5);
	prober_stop(ch.p);
	assert_int_equal(atomic_load(&ch.healthy), 20);
	server_stop(&fs);
}

static void
test_bad_requests_are_refused(void **state)
{
	struct prober *p = start(2, 2);
	struct probe_request good = http_request(80, "/ok", 1000), r;
	struct collector c;

	(void)state;
	collector_init(&c, 1);
#define REFUSED(...)                                                           \
	do {                                                                   \
		r = good;                                                      \
		__VA_ARGS__;                                                   \
		assert_int_equal(prober_submit(p, &r, on_done, &c.tickets[0]), \
		    BERTH__V1__CODE__INVALID_ARGUMENT);                        \
	} while (0)
	REFUSED(r.kind = (enum probe_kind)7);
	REFUSED(r.timeout_ms = 0);
	REFUSED(r.timeout_ms = PROBE_TIMEOUT_MAX_MS + 1);
	REFUSED(r.addr.ss_family = AF_UNIX);
	REFUSED(r.addr_len = 4);
	REFUSED(((struct sockaddr_in *)&r.addr)->sin_port = 0);
	REFUSED(strcpy(r.http_path, "healthz"));
	REFUSED(strcpy(r.http_path, ""));
	REFUSED(strcpy(r.http_path, "/a b"));
	REFUSED(strcpy(r.http_path, "/x HTTP/1.1\r\nX-Evil: 1"));
	REFUSED(strcpy(r.http_host, "a\r\nX-Evil: 1"));
	REFUSED(memset(r.http_path + 1, 'a', sizeof(r.http_path) - 1)); /* no NUL */
	REFUSED(memset(r.http_host, 'h', sizeof(r.http_host)));
#undef REFUSED
	assert_int_equal(prober_submit(p, &good, NULL, NULL), BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_int_equal(prober_submit(NULL, &good, on_done, &c.tickets[0]),
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_int_equal(probe_request_address(&r, "localhost", 80, 1000),
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	prober_stop(p);
	assert_int_equal(c.done, 0);
	collector_free(&c);
	prober_stop(NULL);
	assert_null(prober_start(0, 1, NULL));
	assert_null(prober_start(1, 0, NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp_listener_is_healthy),
		cmocka_unit_test(test_tcp_refused_port_fails_quickly),
		cmocka_unit_test(test_tcp_full_backlog_times_out_without_delaying_a_fast_probe),
		cmocka_unit_test(test_http_200_is_healthy_and_the_request_is_well_formed),
		cmocka_unit_test(test_http_host_defaults_to_the_address),
		cmocka_unit_test(test_http_302_is_healthy),
		cmocka_unit_test(test_http_503_is_unhealthy),
		cmocka_unit_test(test_http_status_lines_are_parsed_strictly),
		cmocka_unit_test(test_http_silent_server_times_out_without_delaying_a_fast_probe),
		cmocka_unit_test(test_http_trickling_server_is_bounded_by_the_timeout),
		cmocka_unit_test(test_http_server_closing_early_is_unhealthy),
		cmocka_unit_test(test_http_refused_port_is_unhealthy),
		cmocka_unit_test(test_ipv6_loopback_is_probed),
		cmocka_unit_test(test_500_probes_through_64_slots_all_complete),
		cmocka_unit_test(test_the_inflight_bound_keeps_the_rest_queued),
		cmocka_unit_test(test_a_full_queue_refuses_a_submit),
		cmocka_unit_test(test_stop_cancels_every_probe_exactly_once),
		cmocka_unit_test(test_a_callback_may_submit),
		cmocka_unit_test(test_bad_requests_are_refused),
	};

	return cmocka_run_group_tests_name("prober", tests, NULL, NULL);
}
