/*
 * ipc_watchdog.c - probe ipc listeners with a hand-made SP handshake and
 * listen again when one no longer answers.
 *
 * The bug leaves the transport accepting and even completing handshakes,
 * but its pipes never reach the socket. So a probe completes a handshake
 * and then waits for the socket to report a new pipe (nng_pipe_notify);
 * when none comes, the listener is broken.
 *
 * Threads: the watchdog thread runs watch_loop; ipc_watchdog_watch and
 * _stop are called from the thread that owns the sockets; pipe_added runs
 * on nng's threads and only bumps an atomic counter. `lock` guards the
 * lists and `stopping`.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "rpc/ipc_watchdog.h"
#include "base/log.h"

#define MAX_WATCHED 16
#define PROBE_TIMEOUT_MS 2000
/* Two failed probes in a row before a restart: one can be a busy moment. */
#define FAILURES_BEFORE_RESTART 2

/* A socket whose new pipes are counted (one callback per socket in nng). */
struct counted_socket {
	nng_socket sock;
	int peer;           /* the protocol its peers speak: what the probe says */
	atomic_uint pipes_added;
};

struct watched {
	struct counted_socket *socket;
	nng_listener *listener;
	char url[512];
	struct ipc_access access;
	int failures;
};

struct ipc_watchdog {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stopping;
	int64_t interval_ms;
	struct counted_socket sockets[MAX_WATCHED];
	size_t n_sockets;
	struct watched watched[MAX_WATCHED];
	size_t n;
};

static void
pipe_added(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	struct counted_socket *cs = arg;

	(void)pipe;
	(void)ev;
	atomic_fetch_add(&cs->pipes_added, 1);
}

int
ipc_watchdog_probe(const char *path, int protocol, int timeout_ms)
{
	/* SP header: 0x00 'S' 'P' 0x00, the protocol we speak (big-endian), reserved. */
	const unsigned char hello[8] = { 0, 'S', 'P', 0, (unsigned char)(protocol >> 8),
		(unsigned char)protocol, 0, 0 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	unsigned char answer[8];
	size_t got = 0;
	int64_t deadline = clock_monotonic_ms() + timeout_ms;
	int fd, ok = 0;

	if (strlen(path) >= sizeof(sa.sun_path))
		return 0;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1; /* out of descriptors: that says nothing of the listener */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    send(fd, hello, sizeof(hello), MSG_NOSIGNAL) != (ssize_t)sizeof(hello))
		goto out;
	/* A live listener answers with its own header; a broken one never accepts. */
	while (got < sizeof(answer)) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		int64_t left = deadline - clock_monotonic_ms();
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			goto out;
		n = recv(fd, answer + got, sizeof(answer) - got, 0);
		if (n <= 0)
			goto out;
		got += (size_t)n;
	}
	ok = answer[0] == 0 && answer[1] == 'S' && answer[2] == 'P' && answer[3] == 0;
out:
	/* Closed only after the handshake completed: this probe cannot trip the bug. */
	close(fd);
	return ok;
}

/*
 * Whether the listener hands new pipes to its socket: a handshake of our
 * own must show up as an added pipe within the timeout. -1 when the probe
 * could not even be made: with the process out of descriptors, a restart
 * would close the listener and fail to open it again ("Out of files"),
 * losing it for good.
 */
static int
listener_alive(struct watched *w)
{
	unsigned before = atomic_load(&w->socket->pipes_added);
	int64_t deadline = clock_monotonic_ms() + PROBE_TIMEOUT_MS;
	struct timespec pause = { 0, 10 * 1000000L };
	int probed = ipc_watchdog_probe(w->url + strlen("ipc://"), w->socket->peer, PROBE_TIMEOUT_MS);

	if (probed <= 0)
		return probed;
	while (atomic_load(&w->socket->pipes_added) == before) {
		if (clock_monotonic_ms() >= deadline)
			return 0;
		nanosleep(&pause, NULL);
	}
	return 1;
}

/* Listens again on w's URL; false when that failed (then the next round tries again). */
static bool
restart(struct watched *w)
{
	int rv;

	nng_listener_close(*w->listener);
	if ((rv = nng_listener_create(w->listener, w->socket->sock, w->url)) == 0) {
		(void)ipc_access_prepare(*w->listener, w->url, &w->access);
		if ((rv = nng_listener_start(*w->listener, 0)) == 0) {
			struct error err;

			if (ipc_access_finish(w->url, &w->access, &err) != 0)
				log_error("ipc listener restart error=\"%s\"", err.message);
		}
	}
	if (rv != 0)
		log_error("ipc listener restart failed url=%s error=\"%s\"", w->url, nng_strerror(rv));
	else
		log_warn("ipc listener restarted url=%s reason=\"it stopped answering handshakes "
			 "(nng 1.5.2 bug #1518)\"",
		    w->url);
	return rv == 0;
}

static void *
watch_loop(void *arg)
{
	struct ipc_watchdog *wd = arg;

	pthread_mutex_lock(&wd->lock);
	while (!wd->stopping) {
		struct timespec until;
		int64_t at = clock_monotonic_ms() + wd->interval_ms;

		until.tv_sec = at / 1000;
		until.tv_nsec = (at % 1000) * 1000000L;
		pthread_cond_timedwait(&wd->wake, &wd->lock, &until);
		for (size_t i = 0; i < wd->n && !wd->stopping; i++) {
			struct watched *w = &wd->watched[i];
			int alive;

			/* Probing takes up to two seconds: not under the lock. */
			pthread_mutex_unlock(&wd->lock);
			alive = listener_alive(w);
			pthread_mutex_lock(&wd->lock);
			if (alive > 0) {
				w->failures = 0;
			} else if (alive < 0) {
				log_warn("ipc listener not probed url=%s reason=\"out of file "
					 "descriptors\"",
				    w->url);
			} else if (++w->failures >= FAILURES_BEFORE_RESTART && !wd->stopping) {
				/* A failed restart leaves no listener: try again next round. */
				w->failures = restart(w) ? 0 : FAILURES_BEFORE_RESTART - 1;
			}
		}
	}
	pthread_mutex_unlock(&wd->lock);
	return NULL;
}

struct ipc_watchdog *
ipc_watchdog_start(int64_t interval_ms)
{
	struct ipc_watchdog *wd = calloc(1, sizeof(*wd));
	pthread_condattr_t attr;

	if (wd == NULL)
		return NULL;
	wd->interval_ms = interval_ms;
	pthread_mutex_init(&wd->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&wd->wake, &attr);
	pthread_condattr_destroy(&attr);
	if (pthread_create(&wd->thread, NULL, watch_loop, wd) != 0) {
		pthread_cond_destroy(&wd->wake);
		pthread_mutex_destroy(&wd->lock);
		free(wd);
		return NULL;
	}
	return wd;
}

void
ipc_watchdog_watch(struct ipc_watchdog *wd, nng_socket sock, nng_listener *listener,
    const char *url, const struct ipc_access *access)
{
	struct counted_socket *cs = NULL;
	struct watched *w;

	if (wd == NULL || strncmp(url, "ipc://", 6) != 0)
		return;
	pthread_mutex_lock(&wd->lock);
	for (size_t i = 0; i < wd->n_sockets; i++)
		if (nng_socket_id(wd->sockets[i].sock) == nng_socket_id(sock))
			cs = &wd->sockets[i];
	if (cs == NULL && wd->n_sockets < MAX_WATCHED) {
		cs = &wd->sockets[wd->n_sockets++];
		cs->sock = sock;
		if (nng_socket_get_int(sock, NNG_OPT_PEER, &cs->peer) != 0)
			cs->peer = 0x30; /* req0 */
		atomic_init(&cs->pipes_added, 0);
		/* nng keeps one callback per event: ADD_PRE and REM_POST are the conn guard's. */
		nng_pipe_notify(sock, NNG_PIPE_EV_ADD_POST, pipe_added, cs);
	}
	if (cs != NULL && wd->n < MAX_WATCHED) {
		w = &wd->watched[wd->n++];
		w->socket = cs;
		w->listener = listener;
		snprintf(w->url, sizeof(w->url), "%s", url);
		w->access = access != NULL ? *access : (struct ipc_access){ 0, -1 };
		w->failures = 0;
	}
	pthread_mutex_unlock(&wd->lock);
}

void
ipc_watchdog_stop(struct ipc_watchdog *wd)
{
	if (wd == NULL)
		return;
	pthread_mutex_lock(&wd->lock);
	wd->stopping = true;
	pthread_cond_broadcast(&wd->wake);
	pthread_mutex_unlock(&wd->lock);
	pthread_join(wd->thread, NULL);
	pthread_cond_destroy(&wd->wake);
	pthread_mutex_destroy(&wd->lock);
	free(wd);
}
