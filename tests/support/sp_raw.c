/*
 * sp_raw.c - see sp_raw.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "sp_raw.h"

#define REQUEST_ID 0x80000001u /* req0's ids have the top bit set */
#define ANSWER_MAX (64u << 20)

static const unsigned char hello[8] = { 0, 'S', 'P', 0, 0x00, 0x30, 0, 0 };

static bool
is_ipc(const char *url)
{
	return strncmp(url, "ipc://", 6) == 0;
}

/* Reads exactly len bytes before the deadline: 0, 1 on a close, -1 on timeout or error. */
static int
read_full(int fd, void *buf, size_t len, long long deadline)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		long long left = deadline - clock_monotonic_ms();
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return -1;
		n = recv(fd, (char *)buf + got, len - got, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		/* A server that closes with our bytes unread resets the connection. */
		if (n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE)))
			return 1;
		if (n < 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

/* Sends all of data on a blocking or non-blocking socket before the deadline. */
static bool
send_full(int fd, const void *data, size_t len, long long deadline)
{
	const char *p = data;

	while (len > 0) {
		struct pollfd pfd = { fd, POLLOUT, 0 };
		long long left = deadline - clock_monotonic_ms();
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return false;
		n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

int
sp_raw_connect(const char *url, int timeout_ms)
{
	return sp_raw_connect_from(url, NULL, timeout_ms);
}

int
sp_raw_connect_from(const char *url, const char *source, int timeout_ms)
{
	long long deadline = clock_monotonic_ms() + timeout_ms;
	int fd = -1;

	if (is_ipc(url)) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		if (source != NULL)
			return -1; /* an address is a tcp:// matter */

		if (strlen(url + 6) >= sizeof(sa.sun_path))
			return -1;
		memcpy(sa.sun_path, url + 6, strlen(url + 6) + 1);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		/* A unix socket connects at once, or fails: no need for a timeout. */
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
		    fcntl(fd, F_SETFL, O_NONBLOCK) != 0)
			goto fail;
		return fd;
	}
	if (strncmp(url, "tcp://", 6) == 0) {
		struct sockaddr_in sa = { .sin_family = AF_INET };
		char host[64];
		const char *colon = strrchr(url + 6, ':');
		struct pollfd pfd;
		socklen_t len = sizeof(int);
		int error = 0;

		if (colon == NULL || (size_t)(colon - (url + 6)) >= sizeof(host))
			return -1;
		snprintf(host, sizeof(host), "%.*s", (int)(colon - (url + 6)), url + 6);
		sa.sin_port = htons((uint16_t)atoi(colon + 1));
		if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
			return -1;
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return -1;
		if (source != NULL) {
			struct sockaddr_in from = { .sin_family = AF_INET };

			if (inet_pton(AF_INET, source, &from.sin_addr) != 1 ||
			    bind(fd, (struct sockaddr *)&from, sizeof(from)) != 0)
				goto fail;
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		if (errno != EINPROGRESS)
			goto fail;
		pfd = (struct pollfd){ fd, POLLOUT, 0 };
		if (poll(&pfd, 1, (int)(deadline - clock_monotonic_ms())) != 1 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0 || error != 0)
			goto fail;
		return fd;
	}
	return -1;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

/* The frame header of a body of len bytes (request id included): ipc has a type byte first. */
static size_t
frame_header(const char *url, uint64_t len, unsigned char head[13])
{
	size_t n = 0;

	if (is_ipc(url))
		head[n++] = 1;
	for (int i = 0; i < 8; i++)
		head[n++] = (unsigned char)(len >> (56 - 8 * i));
	for (int i = 0; i < 4; i++)
		head[n++] = (unsigned char)(REQUEST_ID >> (24 - 8 * i));
	return n;
}

int
sp_raw_open_stalled(const char *url, bool partial, int timeout_ms)
{
	return sp_raw_open_stalled_from(url, NULL, partial, timeout_ms);
}

int
sp_raw_open_stalled_from(const char *url, const char *source, bool partial, int timeout_ms)
{
	long long deadline = clock_monotonic_ms() + timeout_ms;
	unsigned char head[13];
	size_t n = frame_header(url, 100, head);
	int fd = sp_raw_connect_from(url, source, timeout_ms);

	if (fd < 0)
		return -1;
	if (!send_full(fd, hello, sizeof(hello), deadline) ||
	    (partial && !send_full(fd, head, n, deadline)) ||
	    (partial && !send_full(fd, "abc", 3, deadline))) {
		close(fd);
		return -1;
	}
	return fd;
}

bool
sp_raw_closed(int fd, int timeout_ms)
{
	long long deadline = clock_monotonic_ms() + timeout_ms;
	char buf[256];

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		struct pollfd pfd = { fd, POLLIN, 0 };
		long long left;

		if (n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE)))
			return true;
		if (n > 0)
			continue; /* berthd's SP header: not a close */
		if (errno != EAGAIN && errno != EINTR)
			return true;
		if ((left = deadline - clock_monotonic_ms()) <= 0)
			return false;
		(void)poll(&pfd, 1, (int)left);
	}
}

int
sp_raw_open(const char *url, int timeout_ms)
{
	return sp_raw_open_from(url, NULL, timeout_ms);
}

int
sp_raw_open_from(const char *url, const char *source, int timeout_ms)
{
	long long deadline = clock_monotonic_ms() + timeout_ms;
	unsigned char peer[8];
	int fd = sp_raw_connect_from(url, source, timeout_ms);

	if (fd < 0)
		return -1;
	if (!send_full(fd, hello, sizeof(hello), deadline) ||
	    read_full(fd, peer, sizeof(peer), deadline) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

enum sp_raw_result
sp_raw_request(int fd, const char *url, const void *body, size_t len, int timeout_ms,
    void **answer, size_t *answer_len)
{
	long long deadline = clock_monotonic_ms() + timeout_ms;
	unsigned char head[13], reply_head[9];
	size_t head_len = frame_header(url, (uint64_t)len + 4, head);
	size_t reply_head_len = is_ipc(url) ? 9 : 8;
	uint64_t reply_len = 0;
	int rc;

	*answer = NULL;
	*answer_len = 0;
	if (!send_full(fd, head, head_len, deadline))
		return SP_RAW_CLOSED;
	/* The server may close while the body is still going out: the reading tells. */
	(void)send_full(fd, body, len, deadline);
	if ((rc = read_full(fd, reply_head, reply_head_len, deadline)) != 0)
		return rc == 1 ? SP_RAW_CLOSED : SP_RAW_TIMEOUT;
	for (size_t i = reply_head_len - 8; i < reply_head_len; i++)
		reply_len = reply_len << 8 | reply_head[i];
	if ((is_ipc(url) && reply_head[0] != 1) || reply_len < 4 || reply_len > ANSWER_MAX ||
	    (*answer = malloc(reply_len)) == NULL)
		return SP_RAW_ERROR;
	if ((rc = read_full(fd, *answer, reply_len, deadline)) != 0) {
		free(*answer);
		*answer = NULL;
		return rc == 1 ? SP_RAW_CLOSED : SP_RAW_TIMEOUT;
	}
	/* The reply starts with our request id (rep0's backtrace): the body follows. */
	memmove(*answer, (char *)*answer + 4, reply_len - 4);
	*answer_len = reply_len - 4;
	return SP_RAW_ANSWERED;
}

enum sp_raw_result
sp_raw_exchange(const char *url, const void *body, size_t len, int timeout_ms, void **answer,
    size_t *answer_len)
{
	int fd = sp_raw_open(url, timeout_ms);
	enum sp_raw_result result;

	*answer = NULL;
	*answer_len = 0;
	if (fd < 0)
		return SP_RAW_ERROR;
	result = sp_raw_request(fd, url, body, len, timeout_ms, answer, answer_len);
	close(fd);
	return result;
}
