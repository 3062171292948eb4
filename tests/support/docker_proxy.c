/*
 * docker_proxy.c - a unix-socket forwarding proxy in front of Docker, that
 * the test can take down and bring back (see docker_proxy.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "docker_proxy.h"

#define DOCKER_SOCKET "/var/run/docker.sock"

/* The engine's socket: $DOCKER_HOST's when it is a unix:// one (Podman's in a Podman run). */
static const char *
upstream_socket(void)
{
	const char *host = getenv("DOCKER_HOST");

	return host != NULL && strncmp(host, "unix://", 7) == 0 ? host + 7 : DOCKER_SOCKET;
}
#define RELAY_BUFFER 65536

static void
close_conn(struct docker_proxy *p, int i)
{
	p->down_on_answer[i] = false;
	p->hold_answer[i] = false;
	for (int side = 0; side < 2; side++) {
		if (p->conns[i][side] >= 0)
			close(p->conns[i][side]);
		p->conns[i][side] = -1;
	}
}

static int
listen_now(struct docker_proxy *p)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", p->path);
	unlink(p->path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 64) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	p->listen_fd = fd;
	return 0;
}

static void
go_down(struct docker_proxy *p)
{
	if (p->listen_fd >= 0)
		close(p->listen_fd);
	p->listen_fd = -1;
	unlink(p->path);
	for (int i = 0; i < DOCKER_PROXY_MAX_CONNS; i++)
		close_conn(p, i);
}

static void
accept_one(struct docker_proxy *p)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int client = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC), upstream, slot = -1;

	if (client < 0)
		return;
	for (int i = 0; i < DOCKER_PROXY_MAX_CONNS && slot < 0; i++)
		if (p->conns[i][0] < 0)
			slot = i;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", upstream_socket());
	upstream = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (slot < 0 || upstream < 0 || connect(upstream, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(client);
		if (upstream >= 0)
			close(upstream);
		return;
	}
	p->conns[slot][0] = client;
	p->conns[slot][1] = upstream;
	atomic_fetch_add(&p->accepted, 1);
}

static int
write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Copies what is readable on one side of connection i to the other side,
 * past the hook. Returns true when the proxy went down (the descriptors
 * changed).
 */
static bool
relay(struct docker_proxy *p, int i, int side, char *buf)
{
	enum docker_proxy_verdict verdict = DOCKER_PROXY_FORWARD;
	ssize_t n = read(p->conns[i][side], buf, RELAY_BUFFER);

	if (n > 0 && side == 0) {
		pthread_mutex_lock(&p->hook_lock);
		if (p->hook != NULL)
			verdict = p->hook(p->hook_arg, buf, (size_t)n);
		pthread_mutex_unlock(&p->hook_lock);
	}
	/* Before the request, or when Docker's answer to it comes: the answer is lost. */
	if (verdict == DOCKER_PROXY_DOWN_BEFORE || (n > 0 && side == 1 && p->down_on_answer[i])) {
		go_down(p);
		return true;
	}
	/* The answer is dropped with Docker's side; the client's side stays open, unanswered. */
	if (n > 0 && side == 1 && p->hold_answer[i]) {
		close(p->conns[i][1]);
		p->conns[i][1] = -1;
		p->hold_answer[i] = false;
		atomic_fetch_add(&p->answers_held, 1);
		return true;
	}
	if (n <= 0 || write_all(p->conns[i][1 - side], buf, (size_t)n) != 0)
		close_conn(p, i);
	else if (verdict == DOCKER_PROXY_DOWN_AFTER)
		p->down_on_answer[i] = true;
	else if (verdict == DOCKER_PROXY_HOLD_ANSWER)
		p->hold_answer[i] = true;
	return false;
}

static void *
proxy_main(void *arg)
{
	struct docker_proxy *p = arg;
	char *buf = malloc(RELAY_BUFFER);

	while (buf != NULL) {
		struct pollfd fds[2 + 2 * DOCKER_PROXY_MAX_CONNS];
		int conn_of[2 + 2 * DOCKER_PROXY_MAX_CONNS];
		nfds_t n = 0, listen_at = 0;
		bool changed = false;
		char cmd;

		fds[n++] = (struct pollfd){ p->command[0], POLLIN, 0 };
		for (int i = 0; i < DOCKER_PROXY_MAX_CONNS; i++) {
			if (p->conns[i][0] < 0)
				continue;
			for (int side = 0; side < 2; side++) {
				conn_of[n] = i * 2 + side;
				fds[n++] = (struct pollfd){ p->conns[i][side], POLLIN, 0 };
			}
		}
		if (p->listen_fd >= 0) {
			listen_at = n;
			fds[n++] = (struct pollfd){ p->listen_fd, POLLIN, 0 };
		}
		if (poll(fds, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (fds[0].revents != 0) {
			char ok = 1;

			if (read(p->command[0], &cmd, 1) != 1)
				break;
			if (cmd == 'U')
				ok = p->listen_fd >= 0 || listen_now(p) == 0;
			else
				go_down(p);
			if (write(p->answer[1], &ok, 1) != 1 || cmd == 'Q')
				break;
			continue; /* the descriptors changed: poll again */
		}
		/* Connections before accepting: a new one may reuse a closed one's fd. */
		for (nfds_t k = 1; k < n && !changed; k++) {
			int i, side;

			if (fds[k].revents == 0 || (listen_at != 0 && k == listen_at))
				continue;
			i = conn_of[k] / 2;
			side = conn_of[k] % 2;
			if (p->conns[i][side] == fds[k].fd)
				changed = relay(p, i, side, buf);
		}
		if (!changed && listen_at != 0 && fds[listen_at].revents != 0)
			accept_one(p);
	}
	go_down(p);
	free(buf);
	return NULL;
}

/* Sends a command to the proxy thread and waits until it is carried out. */
static bool
command(struct docker_proxy *p, char cmd)
{
	struct pollfd answer = { p->answer[0], POLLIN, 0 };
	char ok = 0;

	/* A proxy thread that died does not answer: fail rather than hang. */
	if (!p->running || write(p->command[1], &cmd, 1) != 1 || poll(&answer, 1, 5000) != 1 ||
	    read(p->answer[0], &ok, 1) != 1)
		return false;
	return ok != 0;
}

bool
docker_proxy_down(struct docker_proxy *p)
{
	return command(p, 'D');
}

bool
docker_proxy_up(struct docker_proxy *p)
{
	return command(p, 'U');
}

void
docker_proxy_set_hook(struct docker_proxy *p, docker_proxy_hook hook, void *arg)
{
	pthread_mutex_lock(&p->hook_lock);
	p->hook = hook;
	p->hook_arg = arg;
	pthread_mutex_unlock(&p->hook_lock);
}

int
docker_proxy_start(struct docker_proxy *p)
{
	memset(p, 0, sizeof(*p));
	p->listen_fd = -1;
	p->command[0] = p->command[1] = p->answer[0] = p->answer[1] = -1;
	for (int i = 0; i < DOCKER_PROXY_MAX_CONNS; i++)
		p->conns[i][0] = p->conns[i][1] = -1;
	pthread_mutex_init(&p->hook_lock, NULL);
	snprintf(p->dir, sizeof(p->dir), "/tmp/berth-proxy-XXXXXX");
	if (mkdtemp(p->dir) == NULL) {
		p->dir[0] = '\0';
		return -1;
	}
	snprintf(p->path, sizeof(p->path), "%s/docker-proxy.sock", p->dir);
	if (pipe2(p->command, O_CLOEXEC) != 0 || pipe2(p->answer, O_CLOEXEC) != 0)
		return -1;
	if (listen_now(p) != 0)
		return -1;
	if (pthread_create(&p->thread, NULL, proxy_main, p) != 0)
		return -1;
	p->running = true;
	return 0;
}

void
docker_proxy_stop(struct docker_proxy *p)
{
	if (p->running) {
		command(p, 'Q');
		pthread_join(p->thread, NULL);
		p->running = false;
		pthread_mutex_destroy(&p->hook_lock);
	}
	for (int i = 0; i < 2; i++) {
		if (p->dir[0] != '\0' && p->command[i] >= 0)
			close(p->command[i]);
		if (p->dir[0] != '\0' && p->answer[i] >= 0)
			close(p->answer[i]);
		p->command[i] = p->answer[i] = -1;
	}
	if (p->listen_fd > 0 && p->dir[0] != '\0')
		close(p->listen_fd);
	p->listen_fd = -1;
	if (p->dir[0] != '\0') {
		unlink(p->path);
		rmdir(p->dir);
		p->dir[0] = '\0';
	}
}
