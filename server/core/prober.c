/*
 * prober.c - see prober.h.
 *
 * The life of a probe: prober_submit copies it into the queue (a ring
 * under `lock`) and wakes the loop through an eventfd, only when the loop
 * is about to sleep (`idle`) and no wake-up is pending yet: a loop that is
 * awake drains the queue at its next turn anyway, and a wake-up costs a
 * context switch. The loop moves queued probes into free slots while
 * there are any, and each slot runs its state machine:
 *
 *   CONNECTING  non-blocking connect, wait for EPOLLOUT, read SO_ERROR;
 *               tcp: healthy here.
 *   SENDING     http: the request, usually in one send().
 *   READING     http: bytes are fed to the status-line parser as they
 *               come, at most PROBE_STATUS_LINE_MAX of them.
 *
 * Every slot sits in a min-heap by deadline; the loop sleeps in
 * epoll_wait until the nearest deadline and ends the probes past theirs.
 * A probe that ends closes its socket (which takes it out of the epoll
 * set), leaves the heap and calls its callback; its slot is reused only at
 * the top of the next loop turn, so a stale event from the same
 * epoll_wait batch cannot reach a new probe (each event also carries the
 * slot's generation, checked on arrival).
 *
 * Sockets that got connected are closed with SO_LINGER 0, i.e. with a RST
 * instead of a FIN: the prober is the side that closes, and a FIN would
 * leave a TIME_WAIT socket per probe on this host for a minute (about 470
 * probes a second to one address would exhaust the ephemeral ports).
 * Kubernetes' TCP probes close the same way, for the same reason.
 *
 * Threads: prober_submit and prober_stop run on any thread (not a
 * callback, for stop); everything else runs on the prober thread. `lock`
 * protects the queue, `stopping`, `idle` and `wake_pending`; the slots, the heap
 * and the epoll set belong to the prober thread alone.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "clock.h"
#include "error.h"
#include "status.h"
#include "core/prober.h"

/* Hard caps on what prober_start allocates. */
#define MAX_INFLIGHT_LIMIT 65536
#define MAX_QUEUED_LIMIT (1 << 20)
/* Events taken from the kernel per epoll_wait. */
#define EVENT_BATCH 128
/* The epoll tag of the eventfd; slot tags are generation << 32 | index. */
#define WAKE_TAG UINT64_MAX
/* "GET <path> HTTP/1.0" and four headers fit (about 400 bytes at most). */
#define REQUEST_MAX 512

enum slot_state {
	SLOT_FREE = 0,
	SLOT_CONNECTING,
	SLOT_SENDING,
	SLOT_READING,
};

/* Where the status-line parser stands; see status_line_feed. */
enum parse_result {
	PARSE_MORE,     /* the line has not ended yet */
	PARSE_DONE,     /* a well-formed status line; the code in `status` */
	PARSE_BAD,      /* not an HTTP/1.x status line */
	PARSE_TOO_LONG, /* no end within PROBE_STATUS_LINE_MAX bytes */
};

struct status_parser {
	size_t seen; /* bytes of the line consumed */
	int status;
	bool cr; /* the last byte was CR: only LF may follow */
};

struct queued {
	struct probe_request req;
	probe_done_fn done;
	void *arg;
};

struct slot {
	enum slot_state state;
	int fd;
	bool watched;     /* fd is in the epoll set */
	bool established; /* the TCP connection was made: close with RST */
	uint32_t generation;
	uint32_t next_free; /* free list link, UINT32_MAX = end */
	size_t heap_index;
	int64_t started_us, deadline_us;
	struct queued q;
	char request[REQUEST_MAX];
	size_t request_len, sent;
	struct status_parser parser;
};

struct prober {
	pthread_t thread;
	int epoll_fd;
	int wake_fd;

	pthread_mutex_t lock;
	struct queued *queue; /* ring of max_queued */
	size_t max_queued, queue_head, queue_len;
	bool stopping;
	bool idle;         /* the loop found nothing to start and goes to epoll_wait */
	bool wake_pending; /* an eventfd write has not been read yet */

	/* The prober thread's own. */
	struct slot *slots;
	size_t max_inflight;
	uint32_t free_head;
	struct slot **heap; /* by deadline_us, max_inflight entries */
	size_t heap_len;
	unsigned char buf[PROBE_STATUS_LINE_MAX];
};

/* --- the deadline heap ------------------------------------------------------ */

static void
heap_place(struct prober *p, size_t i, struct slot *s)
{
	p->heap[i] = s;
	s->heap_index = i;
}

static void
heap_up(struct prober *p, size_t i)
{
	struct slot *s = p->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (p->heap[parent]->deadline_us <= s->deadline_us)
			break;
		heap_place(p, i, p->heap[parent]);
		i = parent;
	}
	heap_place(p, i, s);
}

static void
heap_down(struct prober *p, size_t i)
{
	struct slot *s = p->heap[i];

	for (;;) {
		size_t child = 2 * i + 1;

		if (child >= p->heap_len)
			break;
		if (child + 1 < p->heap_len &&
		    p->heap[child + 1]->deadline_us < p->heap[child]->deadline_us)
			child++;
		if (s->deadline_us <= p->heap[child]->deadline_us)
			break;
		heap_place(p, i, p->heap[child]);
		i = child;
	}
	heap_place(p, i, s);
}

static void
heap_push(struct prober *p, struct slot *s)
{
	heap_place(p, p->heap_len++, s);
	heap_up(p, s->heap_index);
}

static void
heap_remove(struct prober *p, struct slot *s)
{
	size_t i = s->heap_index;
	struct slot *last = p->heap[--p->heap_len];

	if (i == p->heap_len)
		return;
	heap_place(p, i, last);
	heap_down(p, i);
	heap_up(p, last->heap_index);
}

/* --- the status line -------------------------------------------------------- */

/*
 * Feeds n bytes of an answer to the parser; stops at the end of the
 * status line and says how many bytes it used in *used. The line must be
 * "HTTP/1.<digit> <3 digits>", then the end of the line or a space and a
 * reason phrase of printable bytes (tabs and bytes >= 0x80 allowed), and
 * end with LF or CRLF; the first byte that breaks this ends the parse.
 * Works on any split of the input, one byte at a time included.
 */
static enum parse_result
status_line_feed(struct status_parser *sp, const unsigned char *b, size_t n)
{
	static const char prefix[] = "HTTP/1.";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = b[i];
		size_t at = sp->seen++;

		if (at >= PROBE_STATUS_LINE_MAX)
			return PARSE_TOO_LONG;
		if (sp->cr && c != '\n')
			return PARSE_BAD;
		if (at < sizeof(prefix) - 1) {
			if (c != (unsigned char)prefix[at])
				return PARSE_BAD;
		} else if (at == 7) {
			if (c < '0' || c > '9')
				return PARSE_BAD;
		} else if (at == 8) {
			if (c != ' ')
				return PARSE_BAD;
		} else if (at <= 11) {
			if (c < '0' || c > '9')
				return PARSE_BAD;
			sp->status = sp->status * 10 + (c - '0');
		} else if (at == 12 && c != ' ' && c != '\r' && c != '\n') {
			return PARSE_BAD;
		} else if (c == '\n') {
			return sp->status >= 100 ? PARSE_DONE : PARSE_BAD;
		} else if (c == '\r') {
			sp->cr = true;
		} else if ((c < 0x20 && c != '\t') || c == 0x7f) {
			return PARSE_BAD;
		}
	}
	return sp->seen >= PROBE_STATUS_LINE_MAX ? PARSE_TOO_LONG : PARSE_MORE;
}

/* --- requests ----------------------------------------------------------------- */

/* True when s is NUL-terminated within size and its bytes are 0x21..0x7e. */
static bool
printable_token(const char *s, size_t size)
{
	size_t len = strnlen(s, size);

	if (len == size)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

static bool
request_valid(const struct probe_request *req)
{
	const struct sockaddr_storage *a = &req->addr;

	if (req->kind != PROBE_TCP && req->kind != PROBE_HTTP)
		return false;
	if (req->timeout_ms < 1 || req->timeout_ms > PROBE_TIMEOUT_MAX_MS)
		return false;
	if (a->ss_family == AF_INET) {
		if (req->addr_len < sizeof(struct sockaddr_in) ||
		    ((const struct sockaddr_in *)a)->sin_port == 0)
			return false;
	} else if (a->ss_family == AF_INET6) {
		if (req->addr_len < sizeof(struct sockaddr_in6) ||
		    ((const struct sockaddr_in6 *)a)->sin6_port == 0)
			return false;
	} else {
		return false;
	}
	if (req->kind == PROBE_HTTP)
		return req->http_path[0] == '/' &&
		    printable_token(req->http_path, sizeof(req->http_path)) &&
		    printable_token(req->http_host, sizeof(req->http_host));
	return true;
}

/* "127.0.0.1:8000" or "[::1]:8000", for a Host header. */
static void
address_text(const struct probe_request *req, char *out, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (req->addr.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&req->addr;

		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		snprintf(out, len, "[%s]:%u", ip, ntohs(a->sin6_port));
	} else {
		const struct sockaddr_in *a = (const struct sockaddr_in *)&req->addr;

		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		snprintf(out, len, "%s:%u", ip, ntohs(a->sin_port));
	}
}

/*
 * HTTP/1.0, so that no server may answer with an interim 1xx status or a
 * chunked body; Connection: close for servers that assume keep-alive.
 */
static void
request_format(struct slot *s)
{
	char host[PROBE_HTTP_HOST_MAX];
	int n;

	if (s->q.req.http_host[0] != '\0')
		snprintf(host, sizeof(host), "%s", s->q.req.http_host);
	else
		address_text(&s->q.req, host, sizeof(host));
	n = snprintf(s->request, sizeof(s->request),
	    "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: berth-probe\r\nAccept: */*\r\n"
	    "Connection: close\r\n\r\n",
	    s->q.req.http_path, host);
	/* Cannot be cut: path and host are bounded (see REQUEST_MAX). */
	s->request_len = n > 0 && (size_t)n < sizeof(s->request) ? (size_t)n : 0;
	s->sent = 0;
}

int
probe_request_address(struct probe_request *req, const char *ip, uint16_t port,
    int timeout_ms)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)&req->addr;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&req->addr;

	memset(req, 0, sizeof(*req));
	req->kind = PROBE_TCP;
	req->timeout_ms = timeout_ms;
	if (ip != NULL && inet_pton(AF_INET, ip, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		req->addr_len = sizeof(*a4);
		return 0;
	}
	if (ip != NULL && inet_pton(AF_INET6, ip, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		req->addr_len = sizeof(*a6);
		return 0;
	}
	return BERTH__V1__CODE__INVALID_ARGUMENT;
}

/* --- ending a probe ----------------------------------------------------------- */

static void
slot_release(struct prober *p, struct slot *s)
{
	s->state = SLOT_FREE;
	s->generation++;
	s->next_free = p->free_head;
	p->free_head = (uint32_t)(s - p->slots);
}

/*
 * Ends the probe in slot s: closes its socket, frees the slot and calls
 * its callback with the verdict. fmt NULL means healthy.
 */
static void probe_end(struct prober *p, struct slot *s, int http_status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
probe_end(struct prober *p, struct slot *s, int http_status, const char *fmt, ...)
{
	struct probe_result r = { 0 };
	struct queued q = s->q;

	heap_remove(p, s);
	if (s->fd >= 0) {
		if (s->established) {
			struct linger lg = { 1, 0 };

			setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		}
		close(s->fd);
		s->fd = -1;
	}
	r.healthy = fmt == NULL;
	r.http_status = http_status;
	r.elapsed_ms = (clock_monotonic_us() - s->started_us) / 1000;
	if (fmt != NULL) {
		va_list ap;

		va_start(ap, fmt);
		vsnprintf(r.error, sizeof(r.error), fmt, ap);
		va_end(ap);
	}
	slot_release(p, s);
	q.done(q.arg, &r);
}

/* Short words for the errors a connect meets. */
static const char *
connect_error_text(int e, char *buf, size_t len)
{
	switch (e) {
	case ECONNREFUSED:
		return "connection refused";
	case ECONNRESET:
		return "connection reset";
	case ETIMEDOUT:
		return "connection timed out";
	case ENETUNREACH:
		return "network unreachable";
	case EHOSTUNREACH:
		return "host unreachable";
	case EADDRNOTAVAIL:
		return "no local port free to connect from";
	case EMFILE:
	case ENFILE:
		return "out of file descriptors";
	default: {
		char why[64];

		snprintf(buf, len, "connect failed: %s", strerror_r(e, why, sizeof(why)));
		return buf;
	}
	}
}

static void
probe_fail_errno(struct prober *p, struct slot *s, int e)
{
	char buf[128];

	probe_end(p, s, 0, "%s", connect_error_text(e, buf, sizeof(buf)));
}

/* --- the state machine -------------------------------------------------------- */

/* Watches s->fd for `events`; ends the probe and returns -1 when epoll refuses. */
static int
slot_watch(struct prober *p, struct slot *s, uint32_t events)
{
	struct epoll_event ev = { 0 };

	ev.events = events;
	ev.data.u64 = (uint64_t)s->generation << 32 | (uint64_t)(s - p->slots);
	if (epoll_ctl(p->epoll_fd, s->watched ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s->fd, &ev) != 0) {
		char buf[64];

		probe_end(p, s, 0, "epoll: %s", strerror_r(errno, buf, sizeof(buf)));
		return -1;
	}
	s->watched = true;
	return 0;
}

/* HTTP: sends what is left of the request; then waits for the answer. */
static void
probe_send(struct prober *p, struct slot *s)
{
	while (s->sent < s->request_len) {
		ssize_t n = send(s->fd, s->request + s->sent, s->request_len - s->sent,
		    MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (s->state != SLOT_SENDING) {
				s->state = SLOT_SENDING;
				slot_watch(p, s, EPOLLOUT);
			}
			return;
		}
		if (n < 0) {
			probe_end(p, s, 0, "connection %s while sending the request",
			    errno == ECONNRESET ? "reset" : "closed");
			return;
		}
		s->sent += (size_t)n;
	}
	s->state = SLOT_READING;
	memset(&s->parser, 0, sizeof(s->parser));
	slot_watch(p, s, EPOLLIN);
}

/* The connection is made: tcp is done, http sends its request. */
static void
probe_connected(struct prober *p, struct slot *s)
{
	s->established = true;
	if (s->q.req.kind == PROBE_TCP) {
		probe_end(p, s, 0, NULL);
		return;
	}
	request_format(s);
	probe_send(p, s);
}

/*
 * True when a connect that said EINPROGRESS has in fact completed. To a
 * local port it usually has: the kernel runs the whole loopback (or
 * bridge) handshake inside connect() and only then looks at the state.
 * getpeername() answers ENOTCONN until the connection is established; one
 * cheap call saves adding the socket to epoll, waiting for it and taking
 * it out again.
 */
static bool
connected_already(int fd)
{
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);

	return getpeername(fd, (struct sockaddr *)&peer, &len) == 0;
}

/* Takes a slot filled from the queue and starts its connect. */
static void
probe_begin(struct prober *p, struct slot *s)
{
	const struct probe_request *req = &s->q.req;

	s->fd = -1;
	s->watched = false;
	s->established = false;
	s->state = SLOT_CONNECTING;
	s->started_us = clock_monotonic_us();
	s->deadline_us = s->started_us + (int64_t)req->timeout_ms * 1000;
	heap_push(p, s);

	s->fd = socket(req->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		probe_fail_errno(p, s, errno);
		return;
	}
	if (connect(s->fd, (const struct sockaddr *)&req->addr, req->addr_len) == 0) {
		probe_connected(p, s);
		return;
	}
	if (errno != EINPROGRESS && errno != EINTR) {
		probe_fail_errno(p, s, errno);
		return;
	}
	if (connected_already(s->fd)) {
		probe_connected(p, s);
		return;
	}
	slot_watch(p, s, EPOLLOUT);
}

/* HTTP: reads what came and feeds the parser. */
static void
probe_read(struct prober *p, struct slot *s)
{
	/* Never past the limit: bytes after it are not read at all. */
	size_t room = PROBE_STATUS_LINE_MAX - s->parser.seen;
	ssize_t n;

	if (room > sizeof(p->buf))
		room = sizeof(p->buf);
	do
		n = recv(s->fd, p->buf, room, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n < 0) {
		probe_end(p, s, 0, "connection %s before a status line",
		    errno == ECONNRESET ? "reset" : "failed");
		return;
	}
	if (n == 0) {
		probe_end(p, s, 0, "connection closed before a status line");
		return;
	}
	switch (status_line_feed(&s->parser, p->buf, (size_t)n)) {
	case PARSE_MORE:
		return;
	case PARSE_DONE:
		if (s->parser.status >= 200 && s->parser.status <= 399)
			probe_end(p, s, s->parser.status, NULL);
		else
			probe_end(p, s, s->parser.status, "HTTP %d", s->parser.status);
		return;
	case PARSE_BAD:
		probe_end(p, s, 0, "malformed status line");
		return;
	case PARSE_TOO_LONG:
		probe_end(p, s, 0, "no status line in the first %d bytes", PROBE_STATUS_LINE_MAX);
		return;
	}
}

static void
probe_event(struct prober *p, struct slot *s, uint32_t events)
{
	switch (s->state) {
	case SLOT_CONNECTING: {
		int e = 0;
		socklen_t len = sizeof(e);

		/* Writable without an error: connected, no need to ask. */
		if ((events & (EPOLLERR | EPOLLHUP)) != 0 &&
		    getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0)
			e = errno;
		if ((events & (EPOLLERR | EPOLLHUP)) != 0 && e == 0)
			e = ECONNRESET; /* hung up, yet no error recorded */
		if (e != 0)
			probe_fail_errno(p, s, e);
		else
			probe_connected(p, s);
		return;
	}
	case SLOT_SENDING:
		probe_send(p, s);
		return;
	case SLOT_READING:
		probe_read(p, s);
		return;
	case SLOT_FREE:
		return;
	}
}

/* Ends every probe whose deadline is at or before now. */
static void
probes_expire(struct prober *p, int64_t now_us)
{
	while (p->heap_len > 0 && p->heap[0]->deadline_us <= now_us) {
		struct slot *s = p->heap[0];
		int timeout_ms = s->q.req.timeout_ms;

		if (s->state == SLOT_CONNECTING)
			probe_end(p, s, 0, "timed out after %d ms while connecting", timeout_ms);
		else if (s->state == SLOT_SENDING)
			probe_end(p, s, 0, "timed out after %d ms sending the request", timeout_ms);
		else if (s->parser.seen == 0)
			probe_end(p, s, 0, "timed out after %d ms waiting for a status line",
			    timeout_ms);
		else
			probe_end(p, s, 0, "timed out after %d ms in the middle of the status line",
			    timeout_ms);
	}
}

/* --- the loop ------------------------------------------------------------------- */

/*
 * Moves queued probes into free slots and starts them. Returns true when
 * prober_stop has begun (nothing is started then).
 */
static bool
queue_drain(struct prober *p)
{
	for (;;) {
		struct slot *s;

		pthread_mutex_lock(&p->lock);
		if (p->stopping) {
			pthread_mutex_unlock(&p->lock);
			return true;
		}
		if (p->queue_len == 0 || p->free_head == UINT32_MAX) {
			/* From here a submit must wake the loop. */
			p->idle = true;
			pthread_mutex_unlock(&p->lock);
			return false;
		}
		p->idle = false;
		s = &p->slots[p->free_head];
		p->free_head = s->next_free;
		s->q = p->queue[p->queue_head];
		p->queue_head = (p->queue_head + 1) % p->max_queued;
		p->queue_len--;
		pthread_mutex_unlock(&p->lock);
		probe_begin(p, s);
	}
}

/* The milliseconds epoll_wait may sleep: until the nearest deadline, rounded up. */
static int
wait_ms(const struct prober *p)
{
	int64_t left;

	if (p->heap_len == 0)
		return -1;
	left = p->heap[0]->deadline_us - clock_monotonic_us();
	if (left <= 0)
		return 0;
	return (int)((left + 999) / 1000);
}

/* prober_stop: every probe in a slot or in the queue ends "cancelled". */
static void
cancel_everything(struct prober *p)
{
	for (size_t i = 0; i < p->max_inflight; i++)
		if (p->slots[i].state != SLOT_FREE)
			probe_end(p, &p->slots[i], 0, "cancelled");
	for (;;) {
		struct probe_result r = { 0 };
		struct queued q;

		pthread_mutex_lock(&p->lock);
		if (p->queue_len == 0) {
			pthread_mutex_unlock(&p->lock);
			return;
		}
		q = p->queue[p->queue_head];
		p->queue_head = (p->queue_head + 1) % p->max_queued;
		p->queue_len--;
		pthread_mutex_unlock(&p->lock);
		snprintf(r.error, sizeof(r.error), "cancelled");
		q.done(q.arg, &r);
	}
}

static void *
prober_main(void *arg)
{
	struct prober *p = arg;
	struct epoll_event events[EVENT_BATCH];

	while (!queue_drain(p)) {
		int n = epoll_wait(p->epoll_fd, events, EVENT_BATCH, wait_ms(p));

		for (int i = 0; i < n; i++) {
			uint64_t tag = events[i].data.u64;
			struct slot *s;

			if (tag == WAKE_TAG) {
				uint64_t count;

				if (read(p->wake_fd, &count, sizeof(count)) < 0) {
					/* EAGAIN: already read; nothing else can fail. */
				}
				pthread_mutex_lock(&p->lock);
				p->wake_pending = false;
				pthread_mutex_unlock(&p->lock);
				continue;
			}
			s = &p->slots[(uint32_t)tag];
			if (s->state != SLOT_FREE && s->generation == (uint32_t)(tag >> 32))
				probe_event(p, s, events[i].events);
		}
		probes_expire(p, clock_monotonic_us());
	}
	cancel_everything(p);
	return NULL;
}

/* --- the API ---------------------------------------------------------------------- */

static void
prober_free(struct prober *p)
{
	if (p->epoll_fd >= 0)
		close(p->epoll_fd);
	if (p->wake_fd >= 0)
		close(p->wake_fd);
	pthread_mutex_destroy(&p->lock);
	free(p->queue);
	free(p->slots);
	free(p->heap);
	free(p);
}

struct prober *
prober_start(size_t max_inflight, size_t max_queued, struct error *err)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = WAKE_TAG };
	struct prober *p;
	int rv;

	if (max_inflight < 1 || max_inflight > MAX_INFLIGHT_LIMIT || max_queued < 1 ||
	    max_queued > MAX_QUEUED_LIMIT) {
		error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "prober: max_inflight must be 1..%d and max_queued 1..%d", MAX_INFLIGHT_LIMIT,
		    MAX_QUEUED_LIMIT);
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		error_set(err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "prober: out of memory");
		return NULL;
	}
	p->epoll_fd = -1;
	p->wake_fd = -1;
	pthread_mutex_init(&p->lock, NULL);
	p->max_inflight = max_inflight;
	p->max_queued = max_queued;
	p->queue = calloc(max_queued, sizeof(*p->queue));
	p->slots = calloc(max_inflight, sizeof(*p->slots));
	p->heap = calloc(max_inflight, sizeof(*p->heap));
	if (p->queue == NULL || p->slots == NULL || p->heap == NULL) {
		prober_free(p);
		error_set(err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "prober: out of memory");
		return NULL;
	}
	p->free_head = UINT32_MAX;
	for (size_t i = max_inflight; i-- > 0;) {
		p->slots[i].fd = -1;
		p->slots[i].next_free = p->free_head;
		p->free_head = (uint32_t)i;
	}
	p->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	p->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->epoll_fd < 0 || p->wake_fd < 0 ||
	    epoll_ctl(p->epoll_fd, EPOLL_CTL_ADD, p->wake_fd, &ev) != 0) {
		error_set(err, BERTH__V1__CODE__INTERNAL, "prober: epoll/eventfd: %s",
		    strerror(errno));
		prober_free(p);
		return NULL;
	}
	rv = pthread_create(&p->thread, NULL, prober_main, p);
	if (rv != 0) {
		error_set(err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "prober: thread: %s",
		    strerror(rv));
		prober_free(p);
		return NULL;
	}
	return p;
}

/*
 * Called with p->lock held: makes sure the loop looks at the queue soon.
 * A loop that is not idle will without being told.
 */
static void
wake_locked(struct prober *p)
{
	uint64_t one = 1;

	if (!p->idle || p->wake_pending)
		return;
	p->wake_pending = true;
	if (write(p->wake_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, so a wake-up is pending anyway. */
	}
}

int
prober_submit(struct prober *p, const struct probe_request *req, probe_done_fn done, void *arg)
{
	struct queued *q;

	if (p == NULL || req == NULL || done == NULL || !request_valid(req))
		return BERTH__V1__CODE__INVALID_ARGUMENT;
	pthread_mutex_lock(&p->lock);
	if (p->stopping) {
		pthread_mutex_unlock(&p->lock);
		return BERTH__V1__CODE__CANCELLED;
	}
	if (p->queue_len == p->max_queued) {
		pthread_mutex_unlock(&p->lock);
		return BERTH__V1__CODE__RESOURCE_EXHAUSTED;
	}
	q = &p->queue[(p->queue_head + p->queue_len) % p->max_queued];
	q->req = *req;
	q->done = done;
	q->arg = arg;
	p->queue_len++;
	wake_locked(p);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

void
prober_stop(struct prober *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	p->idle = true; /* wake for sure */
	p->wake_pending = false;
	wake_locked(p);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	prober_free(p);
}
