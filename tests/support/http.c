/*
 * http.c - just enough HTTP to ask the demo service a question.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "http.h"

static int
once(uint16_t port, const char *path, char **body)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct timeval tv = { 5, 0 };
	char request[512], *buf = NULL, *p;
	size_t len = 0, cap = 0;
	int fd, status = -1;
	ssize_t n;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	snprintf(request, sizeof(request), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
	if (write(fd, request, strlen(request)) < 0) {
		close(fd);
		return -1;
	}
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = (cap + 4096) * 2;
			buf = realloc(buf, cap);
		}
		n = read(fd, buf + len, 4096);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (buf == NULL)
		return -1;
	buf[len] = '\0';
	if (sscanf(buf, "HTTP/%*s %d", &status) != 1)
		status = -1;
	p = strstr(buf, "\r\n\r\n");
	if (body != NULL)
		*body = strdup(p != NULL ? p + 4 : "");
	free(buf);
	return status;
}

int
http_get(uint16_t port, const char *path, int wait_ms, char **body)
{
	struct timespec pause = { 0, 100 * 1000000L };
	int status;

	if (body != NULL)
		*body = NULL;
	for (int waited = 0;; waited += 100) {
		status = once(port, path, body);
		if (status > 0 || waited >= wait_ms)
			return status;
		nanosleep(&pause, NULL);
	}
}
