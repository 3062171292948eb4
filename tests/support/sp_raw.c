/*
 * sp_raw.c - see sp_raw.h.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
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
		n = recv(fd, (char *)buf + got, len - got, 0);
		/* A server that closes with our bytes unread resets the connection. */
		if (n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE)))
			return 1;
		if (n < 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

enum sp_raw_result
sp_raw_exchange(const char *ipc_url, const void *body, size_t len, int timeout_ms, void **answer,
    size_t *answer_len)
{
	static const unsigned char hello[8] = { 0, 'S', 'P', 0, 0x00, 0x30, 0, 0 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = strncmp(ipc_url, "ipc://", 6) == 0 ? ipc_url + 6 : ipc_url;
	long long deadline = clock_monotonic_ms() + timeout_ms;
	unsigned char head[13], peer[8], reply_head[9];
	enum sp_raw_result result = SP_RAW_ERROR;
	uint64_t frame = (uint64_t)len + 4, reply_len = 0;
	int fd, rc;

	*answer = NULL;
	*answer_len = 0;
	if (strlen(path) >= sizeof(sa.sun_path))
		return SP_RAW_ERROR;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    send(fd, hello, sizeof(hello), MSG_NOSIGNAL) != (ssize_t)sizeof(hello) ||
	    read_full(fd, peer, sizeof(peer), deadline) != 0)
		goto out;
	head[0] = 1;
	for (int i = 0; i < 8; i++)
		head[1 + i] = (unsigned char)(frame >> (56 - 8 * i));
	for (int i = 0; i < 4; i++)
		head[9 + i] = (unsigned char)(REQUEST_ID >> (24 - 8 * i));
	if (send(fd, head, sizeof(head), MSG_NOSIGNAL) != (ssize_t)sizeof(head))
		goto out;
	/* The server may close while the body is still going out: the reading tells. */
	(void)send(fd, body, len, MSG_NOSIGNAL);

	result = SP_RAW_TIMEOUT;
	if ((rc = read_full(fd, reply_head, sizeof(reply_head), deadline)) != 0) {
		result = rc == 1 ? SP_RAW_CLOSED : SP_RAW_TIMEOUT;
		goto out;
	}
	for (int i = 0; i < 8; i++)
		reply_len = reply_len << 8 | reply_head[1 + i];
	if (reply_head[0] != 1 || reply_len < 4 || reply_len > ANSWER_MAX ||
	    (*answer = malloc(reply_len)) == NULL) {
		result = SP_RAW_ERROR;
		goto out;
	}
	if ((rc = read_full(fd, *answer, reply_len, deadline)) != 0) {
		free(*answer);
		*answer = NULL;
		result = rc == 1 ? SP_RAW_CLOSED : SP_RAW_TIMEOUT;
		goto out;
	}
	/* The reply starts with our request id (rep0's backtrace): the body follows. */
	memmove(*answer, (char *)*answer + 4, reply_len - 4);
	*answer_len = reply_len - 4;
	result = SP_RAW_ANSWERED;
out:
	if (fd >= 0)
		close(fd);
	return result;
}
