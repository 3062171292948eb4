/*
 * berth-demo.c - a tiny HTTP/1.x server used as the demo service and as the
 * workload of berth's end-to-end tests. It is linked statically and runs as
 * PID 1 in an image FROM scratch, so it depends on nothing but libc and
 * never resolves names.
 *
 * Environment:
 *   PORT                        TCP port on 0.0.0.0 (default 8000)
 *   DEMO_DIR              the instance directory (default /data)
 *   BERTH_INSTANCE              instance name shown by GET / (default: hostname)
 *   DEMO_IGNORE_SIGTERM=1 ignore SIGTERM, so a stop must fall back to kill
 *   DEMO_EXIT_AFTER_MS=N  exit with status 3 after N milliseconds
 *
 * `berth-demo check` (an exec health check) exits 0, or 1 while
 * <dir>/.demo-sick exists; while <dir>/.demo-hang exists it first sleeps an
 * hour (a probe that never ends).
 *
 * `berth-demo emit OP...` (for ExecService's tests, the image has no shell)
 * runs its operations in order: `out TEXT` and `err TEXT` print TEXT and a
 * newline on stdout or stderr, `fill N` prints N bytes 'x' on stdout,
 * `bin` prints bytes that are not UTF-8 and a NUL on stdout, `sleep MS`
 * sleeps, `exit N` exits with status N (else 0).
 *
 * Routes:
 *   GET  /              200 "berth-demo instance=<name> dir=<dir>\n"
 *   GET  /health        200 "ok\n"; 503 "sick\n" while <dir>/.demo-sick exists
 *   GET  /files/<name>  the file <dir>/<name>, or 404
 *   PUT  /files/<name>  write the body (Content-Length, at most 1 MiB), 201
 *   POST /files/<name>  same as PUT
 *   GET  /say/<name>    200; also prints "say <name>" on stderr (a log line
 *                       on the other stream, for GetServiceLogs' tests)
 * While <dir>/.demo-deaf exists the server closes its listening socket and
 * stays up without listening (health checks must see it: a test tells the
 * difference from Docker's proxy, which accepts on the host port anyway).
 * HEAD is accepted wherever GET is. A name is 1-255 characters from
 * [A-Za-z0-9._-], neither "." nor containing ".."; anything else is 400, so
 * no request reaches outside the directory. Symbolic links are not followed.
 *
 * One log line per request goes to stdout; start-up and fatal errors go to
 * stderr. Each connection is served by a forked child with a receive timeout
 * and an overall deadline, so a slow client never blocks the server.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define DEMO_DEFAULT_PORT 8000
#define DEMO_DEFAULT_DIR "/data"
#define DEMO_MAX_HEADER 8192
#define DEMO_MAX_BODY (1024 * 1024)
#define DEMO_MAX_NAME 255
#define DEMO_RECV_TIMEOUT_SEC 5
#define DEMO_CONNECTION_DEADLINE_SEC 30

/* Settings read once from the environment before the first connection. */
struct demo_config {
	int port;
	const char *dir;
	char instance[256];
	int ignore_sigterm;
	long long exit_after_ms; /* -1: never */
};

/* One parsed request; the strings point into the connection's header buffer. */
struct demo_request {
	char peer[INET_ADDRSTRLEN];
	const char *method;
	const char *target;
	const char *version;
	int head_only;
	int expect_continue;
	int has_content_length;
	int has_transfer_encoding;
	unsigned long long content_length;
};

/* Set by the SIGTERM/SIGINT handler; read by the accept loop. */
static volatile sig_atomic_t stop_requested;

static void
on_stop_signal(int signo)
{
	(void)signo;
	stop_requested = 1;
}

static void
die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;

	fputs("berth-demo: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/*
 * Parses a decimal environment variable into [min, max]. Returns 0 and
 * leaves *out alone when the variable is unset or empty; dies on garbage,
 * because a demo that silently listens on the wrong port wastes an afternoon.
 */
static int
env_number(const char *name, long long min, long long max, long long *out)
{
	const char *s = getenv(name);
	char *end;
	long long v;

	if (s == NULL || *s == '\0')
		return 0;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || !isdigit((unsigned char)*s) || v < min ||
	    v > max)
		die("%s=%s: expected a number from %lld to %lld", name, s, min, max);
	*out = v;
	return 1;
}

static void
config_load(struct demo_config *cfg)
{
	const char *s;
	long long v;

	cfg->port = DEMO_DEFAULT_PORT;
	if (env_number("PORT", 1, 65535, &v))
		cfg->port = (int)v;

	s = getenv("DEMO_DIR");
	cfg->dir = (s != NULL && *s != '\0') ? s : DEMO_DEFAULT_DIR;

	s = getenv("BERTH_INSTANCE");
	if (s != NULL && *s != '\0') {
		snprintf(cfg->instance, sizeof(cfg->instance), "%s", s);
	} else if (gethostname(cfg->instance, sizeof(cfg->instance) - 1) != 0) {
		snprintf(cfg->instance, sizeof(cfg->instance), "unknown");
	}
	cfg->instance[sizeof(cfg->instance) - 1] = '\0';

	s = getenv("DEMO_IGNORE_SIGTERM");
	cfg->ignore_sigterm = s != NULL && strcmp(s, "1") == 0;

	cfg->exit_after_ms = -1;
	if (env_number("DEMO_EXIT_AFTER_MS", 0, LLONG_MAX / 1000000, &v))
		cfg->exit_after_ms = v;
}

static long long
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Writes all of buf; returns 0 or -1 (peer gone, send timeout). */
static int
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static const char *
status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	default: return "Unknown";
	}
}

/* The log line for one request: peer, request line, status, body bytes. */
static void
log_request(const struct demo_request *req, int status, unsigned long long bytes)
{
	printf("%s \"%s %s %s\" %d %llu\n", req->peer,
	       req->method != NULL ? req->method : "-",
	       req->target != NULL ? req->target : "-",
	       req->version != NULL ? req->version : "-", status, bytes);
	fflush(stdout);
}

/*
 * Sends a status line and headers announcing body_len bytes of
 * content_type. Every response closes the connection.
 */
static int
send_head(int fd, int status, const char *content_type,
	  unsigned long long body_len, const char *extra)
{
	char head[512];
	int n;

	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %d %s\r\n"
		     "Server: berth-demo\r\n"
		     "Content-Type: %s\r\n"
		     "Content-Length: %llu\r\n"
		     "%s"
		     "Connection: close\r\n\r\n",
		     status, status_text(status), content_type, body_len,
		     extra != NULL ? extra : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		return -1;
	return write_all(fd, head, (size_t)n);
}

/* A complete text/plain response, logged. */
static void
respond_text(int fd, const struct demo_request *req, int status,
	     const char *extra, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void
respond_text(int fd, const struct demo_request *req, int status,
	     const char *extra, const char *fmt, ...)
{
	char body[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(body))
		n = sizeof(body) - 1;
	if (send_head(fd, status, "text/plain; charset=utf-8",
		      (unsigned long long)n,
		      extra) == 0 &&
	    !req->head_only)
		write_all(fd, body, (size_t)n);
	log_request(req, status, req->head_only ? 0 : (unsigned long long)n);
}

/*
 * A file name is safe when it is 1-255 characters from [A-Za-z0-9._-], is
 * not "." and contains no "..". Together with O_NOFOLLOW this keeps every
 * request inside the instance directory.
 */
static int
file_name_is_safe(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > DEMO_MAX_NAME || strcmp(name, ".") == 0 ||
	    strstr(name, "..") != NULL)
		return 0;
	for (const char *p = name; *p != '\0'; p++) {
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' &&
		    *p != '-')
			return 0;
	}
	return 1;
}

/* Joins dir and a safe name; returns 0 or -1 when the path is too long. */
static int
file_path(const struct demo_config *cfg, const char *name, char *out,
	  size_t size)
{
	int n = snprintf(out, size, "%s/%s", cfg->dir, name);

	return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

static void
serve_file(int fd, const struct demo_config *cfg, const struct demo_request *req,
	   const char *name)
{
	char path[PATH_MAX], buf[16384];
	unsigned long long sent = 0;
	struct stat st;
	int file;

	if (file_path(cfg, name, path, sizeof(path)) != 0) {
		respond_text(fd, req, 400, NULL, "path too long\n");
		return;
	}
	file = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (file < 0) {
		if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR)
			respond_text(fd, req, 404, NULL, "not found: %s\n", name);
		else
			respond_text(fd, req, 500, NULL, "open %s: %s\n", name,
				     strerror(errno));
		return;
	}
	if (fstat(file, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(file);
		respond_text(fd, req, 404, NULL, "not found: %s\n", name);
		return;
	}
	if (send_head(fd, 200, "application/octet-stream",
		      (unsigned long long)st.st_size, NULL) != 0 ||
	    req->head_only) {
		close(file);
		log_request(req, 200, 0);
		return;
	}
	/* Send exactly st_size bytes so the framing stays honest even if the
	 * file changes underneath; a short file simply ends the connection. */
	while (sent < (unsigned long long)st.st_size) {
		size_t want = sizeof(buf);
		ssize_t n;

		if ((unsigned long long)st.st_size - sent < want)
			want = (size_t)((unsigned long long)st.st_size - sent);
		n = read(file, buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || write_all(fd, buf, (size_t)n) != 0)
			break;
		sent += (unsigned long long)n;
	}
	close(file);
	log_request(req, 200, sent);
}

/*
 * Reads the request body (already_have bytes of it are in the header
 * buffer) and writes it to <dir>/<name> through a temporary file and
 * rename(), so readers see either the old or the whole new content.
 */
static void
store_file(int fd, const struct demo_config *cfg, const struct demo_request *req,
	   const char *name, const char *already, size_t already_have)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	size_t len = (size_t)req->content_length, got;
	char *body;
	int file, n;

	if (req->has_transfer_encoding) {
		respond_text(fd, req, 501, NULL,
			     "Transfer-Encoding is not supported; send Content-Length\n");
		return;
	}
	if (!req->has_content_length) {
		respond_text(fd, req, 411, NULL, "Content-Length required\n");
		return;
	}
	if (req->content_length > DEMO_MAX_BODY) {
		respond_text(fd, req, 413, NULL, "body larger than %d bytes\n",
			     DEMO_MAX_BODY);
		return;
	}
	if (file_path(cfg, name, path, sizeof(path)) != 0) {
		respond_text(fd, req, 400, NULL, "path too long\n");
		return;
	}
	n = snprintf(tmp, sizeof(tmp), "%s/.berth-demo-upload.%ld", cfg->dir,
		     (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		respond_text(fd, req, 400, NULL, "path too long\n");
		return;
	}
	if (req->expect_continue &&
	    write_all(fd, "HTTP/1.1 100 Continue\r\n\r\n", 25) != 0) {
		log_request(req, 408, 0);
		return;
	}

	body = malloc(len > 0 ? len : 1);
	if (body == NULL) {
		respond_text(fd, req, 500, NULL, "out of memory\n");
		return;
	}
	got = already_have < len ? already_have : len;
	memcpy(body, already, got);
	while (got < len) {
		ssize_t r = read(fd, body + got, len - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			free(body);
			respond_text(fd, req, 408, NULL,
				     "body ended after %zu of %zu bytes\n", got,
				     len);
			return;
		}
		got += (size_t)r;
	}

	unlink(tmp);
	file = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    0644);
	if (file < 0) {
		free(body);
		respond_text(fd, req, 500, NULL, "create in %s: %s\n", cfg->dir,
			     strerror(errno));
		return;
	}
	if (write_all(file, body, len) != 0 || fsync(file) != 0) {
		int saved = errno;

		close(file);
		unlink(tmp);
		free(body);
		respond_text(fd, req, 500, NULL, "write %s: %s\n", name,
			     strerror(saved));
		return;
	}
	free(body);
	close(file);
	if (rename(tmp, path) != 0) {
		int saved = errno;

		unlink(tmp);
		respond_text(fd, req, 500, NULL, "rename to %s: %s\n", name,
			     strerror(saved));
		return;
	}
	respond_text(fd, req, 201, NULL, "stored %s (%zu bytes)\n", name, len);
}

/*
 * Reads until the blank line that ends the headers. Returns the header
 * length (including the blank line) or -status on failure; *filled is the
 * number of bytes in buf, which may include the start of the body.
 */
static int
read_headers(int fd, char *buf, size_t size, size_t *filled)
{
	size_t used = 0;

	for (;;) {
		ssize_t n;
		char *end;

		buf[used] = '\0';
		if ((end = strstr(buf, "\r\n\r\n")) != NULL) {
			*filled = used;
			return (int)(end + 4 - buf);
		}
		if ((end = strstr(buf, "\n\n")) != NULL) {
			*filled = used;
			return (int)(end + 2 - buf);
		}
		if (used == size - 1)
			return -431;
		n = read(fd, buf + used, size - 1 - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -408;
		if (n == 0)
			return used == 0 ? -1 : -400;
		used += (size_t)n;
	}
}

/* Cuts the next line (ending in \n or \r\n) off *cursor. */
static char *
next_line(char **cursor)
{
	char *line = *cursor, *nl = strchr(line, '\n');

	char *end;

	if (nl == NULL) {
		end = line + strlen(line);
		*cursor = end;
	} else {
		end = nl;
		*nl = '\0';
		*cursor = nl + 1;
	}
	if (end > line && end[-1] == '\r')
		end[-1] = '\0';
	return line;
}

/*
 * Parses the request line and the headers this server cares about.
 * Returns 0 or an HTTP status to answer with.
 */
static int
parse_request(char *head, struct demo_request *req)
{
	char *cursor = head, *line, *save = NULL, *extra;

	line = next_line(&cursor);
	req->method = strtok_r(line, " ", &save);
	req->target = strtok_r(NULL, " ", &save);
	req->version = strtok_r(NULL, " ", &save);
	extra = strtok_r(NULL, " ", &save);
	if (req->method == NULL || req->target == NULL || req->version == NULL ||
	    extra != NULL || strncmp(req->version, "HTTP/1.", 7) != 0 ||
	    req->target[0] != '/')
		return 400;
	req->head_only = strcmp(req->method, "HEAD") == 0;

	while (*cursor != '\0') {
		char *name, *value, *colon, *end;

		line = next_line(&cursor);
		if (*line == '\0')
			break;
		colon = strchr(line, ':');
		if (colon == NULL)
			return 400;
		*colon = '\0';
		name = line;
		value = colon + 1;
		while (*value == ' ' || *value == '\t')
			value++;
		end = value + strlen(value);
		while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';

		if (strcasecmp(name, "Content-Length") == 0) {
			unsigned long long v;

			if (req->has_content_length || !isdigit((unsigned char)*value))
				return 400;
			errno = 0;
			v = strtoull(value, &end, 10);
			if (errno != 0 || *end != '\0')
				return 400;
			req->content_length = v;
			req->has_content_length = 1;
		} else if (strcasecmp(name, "Transfer-Encoding") == 0) {
			req->has_transfer_encoding = 1;
		} else if (strcasecmp(name, "Expect") == 0) {
			if (strcasecmp(value, "100-continue") == 0)
				req->expect_continue = 1;
		}
	}
	return 0;
}

/* Answers one request on fd; called in the child that owns the connection. */
/* Whether the file <dir>/<name> exists: how a test tells the demo to misbehave. */
static int
marker_exists(const struct demo_config *cfg, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	if (snprintf(path, sizeof(path), "%s/%s", cfg->dir, name) >= (int)sizeof(path))
		return 0;
	return lstat(path, &st) == 0;
}

static void
handle_connection(int fd, const struct demo_config *cfg,
		  const struct sockaddr_in *peer)
{
	static char head[DEMO_MAX_HEADER];
	struct demo_request req = {0};
	size_t filled = 0, head_len;
	char *path, *query;
	int n, status, is_get, is_put;

	inet_ntop(AF_INET, &peer->sin_addr, req.peer, sizeof(req.peer));
	n = read_headers(fd, head, sizeof(head), &filled);
	if (n == -1)
		return; /* connected and closed without a word: not a request */
	if (n < 0) {
		respond_text(fd, &req, -n, NULL, "%s\n", status_text(-n));
		return;
	}
	head_len = (size_t)n;
	head[head_len - 1] = '\0'; /* the body, if any, starts at head_len */
	status = parse_request(head, &req);
	if (status != 0) {
		respond_text(fd, &req, status, NULL, "malformed request\n");
		return;
	}

	/* Route on the path without its query string; the log keeps both. */
	path = strdup(req.target);
	if (path == NULL) {
		respond_text(fd, &req, 500, NULL, "out of memory\n");
		return;
	}
	if ((query = strchr(path, '?')) != NULL)
		*query = '\0';
	is_get = strcmp(req.method, "GET") == 0 || req.head_only;
	is_put = strcmp(req.method, "PUT") == 0 || strcmp(req.method, "POST") == 0;

	if (strcmp(path, "/") == 0 || strcmp(path, "/health") == 0) {
		if (!is_get)
			respond_text(fd, &req, 405, "Allow: GET, HEAD\r\n",
				     "method not allowed\n");
		else if (path[1] == '\0')
			respond_text(fd, &req, 200, NULL,
				     "berth-demo instance=%s dir=%s\n",
				     cfg->instance, cfg->dir);
		else if (marker_exists(cfg, ".demo-sick"))
			respond_text(fd, &req, 503, NULL, "sick\n");
		else
			respond_text(fd, &req, 200, NULL, "ok\n");
	} else if (strncmp(path, "/say/", 5) == 0 && is_get &&
		   file_name_is_safe(path + 5)) {
		fprintf(stderr, "say %s\n", path + 5);
		respond_text(fd, &req, 200, NULL, "said %s\n", path + 5);
	} else if (strncmp(path, "/files/", 7) == 0) {
		const char *name = path + 7;

		if (!is_get && !is_put)
			respond_text(fd, &req, 405,
				     "Allow: GET, HEAD, PUT, POST\r\n",
				     "method not allowed\n");
		else if (!file_name_is_safe(name))
			respond_text(fd, &req, 400, NULL,
				     "bad file name: use 1-%d characters of "
				     "[A-Za-z0-9._-], no \"..\"\n",
				     DEMO_MAX_NAME);
		else if (is_get)
			serve_file(fd, cfg, &req, name);
		else
			store_file(fd, cfg, &req, name, head + head_len,
				   filled - head_len);
	} else {
		respond_text(fd, &req, 404, NULL, "not found: %s\n", path);
	}
	free(path);
}

/* Socket options for an accepted connection: bounded reads and writes. */
static void
connection_set_timeouts(int fd)
{
	struct timeval tv = {.tv_sec = DEMO_RECV_TIMEOUT_SEC};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int
listen_on(int port)
{
	struct sockaddr_in addr = {0};
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_ANY);
	addr.sin_port = htons((uint16_t)port);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0)
		die("bind 0.0.0.0:%d: %s", port, strerror(errno));
	if (listen(fd, 64) != 0)
		die("listen: %s", strerror(errno));
	return fd;
}

/*
 * Signals for a PID 1: the kernel gives PID 1 no default action for
 * SIGTERM, so without a handler `docker stop` would always wait for its
 * timeout and kill. SIGTERM and SIGINT stay blocked except inside ppoll(),
 * which closes the race between checking stop_requested and sleeping.
 * Children are reaped automatically (SIGCHLD ignored).
 */
static void
signals_install(const struct demo_config *cfg, sigset_t *wait_mask)
{
	struct sigaction sa = {0};
	sigset_t block;

	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	if (cfg->ignore_sigterm)
		signal(SIGTERM, SIG_IGN);
	else
		sigaction(SIGTERM, &sa, NULL);
	signal(SIGCHLD, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, wait_mask);
	sigdelset(wait_mask, SIGINT);
	sigdelset(wait_mask, SIGTERM);
}

/* Runs in the forked child: default signals, a deadline, one request. */
static void
child_serve(int conn, const struct demo_config *cfg,
	    const struct sockaddr_in *peer, const sigset_t *wait_mask)
{
	if (!cfg->ignore_sigterm)
		signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	sigprocmask(SIG_SETMASK, wait_mask, NULL);
	alarm(DEMO_CONNECTION_DEADLINE_SEC);
	handle_connection(conn, cfg, peer);
	close(conn);
	fflush(stdout);
	_exit(0);
}

/* `berth-demo emit OP...`: see the top of the file. */
static int
emit(int argc, char **argv)
{
	static const char bad[] = {'\xff', 'a', '\0', 'b', '\xc3', '\n'};
	static char buf[1 << 16];

	/* One write for everything before a sleep or the end: lines in one burst. */
	setvbuf(stdout, buf, _IOFBF, sizeof(buf));
	for (int i = 2; i < argc; i++) {
		const char *op = argv[i], *arg = i + 1 < argc ? argv[i + 1] : "";

		if (strcmp(op, "bin") == 0) {
			fwrite(bad, 1, sizeof(bad), stdout);
			continue;
		}
		i++;
		if (strcmp(op, "out") == 0) {
			printf("%s\n", arg);
		} else if (strcmp(op, "err") == 0) {
			fprintf(stderr, "%s\n", arg);
		} else if (strcmp(op, "fill") == 0) {
			for (long n = atol(arg); n > 0; n--)
				putchar('x');
		} else if (strcmp(op, "sleep") == 0) {
			fflush(stdout);
			usleep((useconds_t)atol(arg) * 1000);
		} else if (strcmp(op, "exit") == 0) {
			fflush(stdout);
			return atoi(arg);
		} else {
			fprintf(stderr, "emit: unknown operation %s\n", op);
			return 64;
		}
	}
	fflush(stdout);
	return 0;
}

int
main(int argc, char **argv)
{
	struct demo_config cfg;
	sigset_t wait_mask;
	long long deadline = -1;
	int listener;

	setvbuf(stdout, NULL, _IOLBF, 0);
	config_load(&cfg);
	if (argc > 1 && strcmp(argv[1], "emit") == 0)
		return emit(argc, argv);
	if (argc > 1 && strcmp(argv[1], "check") == 0) {
		if (marker_exists(&cfg, ".demo-hang"))
			sleep(3600);
		return marker_exists(&cfg, ".demo-sick") ? 1 : 0;
	}
	signals_install(&cfg, &wait_mask);
	listener = listen_on(cfg.port);
	fprintf(stderr, "berth-demo listening on port %d (instance=%s dir=%s)\n",
		cfg.port, cfg.instance, cfg.dir);
	if (cfg.exit_after_ms >= 0)
		deadline = monotonic_ms() + cfg.exit_after_ms;

	for (;;) {
		struct pollfd pfd = {.fd = listener, .events = POLLIN};
		struct timespec ts, *timeout = NULL;
		struct sockaddr_in peer;
		socklen_t peer_len = sizeof(peer);
		int conn, n;
		pid_t pid;

		if (stop_requested) {
			fprintf(stderr, "berth-demo: stop signal, exiting\n");
			return 0;
		}
		if (listener >= 0 && marker_exists(&cfg, ".demo-deaf")) {
			fprintf(stderr, "berth-demo: .demo-deaf found, no longer listening\n");
			close(listener);
			listener = -1;
			pfd.fd = -1;
		}
		/* Look for the marker again at least every 250 ms. */
		ts.tv_sec = 0;
		ts.tv_nsec = 250 * 1000000L;
		timeout = &ts;
		if (deadline >= 0) {
			long long left = deadline - monotonic_ms();

			if (left <= 0) {
				fprintf(stderr,
					"berth-demo: exiting with status 3 after "
					"%lld ms (DEMO_EXIT_AFTER_MS)\n",
					cfg.exit_after_ms);
				fflush(stdout);
				exit(3);
			}
			if (left < 250) {
				ts.tv_sec = 0;
				ts.tv_nsec = left * 1000000;
			}
		}
		n = ppoll(&pfd, 1, timeout, &wait_mask);
		if (n < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		if (n <= 0 || listener < 0)
			continue;

		conn = accept4(listener, (struct sockaddr *)&peer, &peer_len,
			       SOCK_CLOEXEC);
		if (conn < 0)
			continue; /* EINTR, ECONNABORTED, EMFILE: try again */
		connection_set_timeouts(conn);
		pid = fork();
		if (pid == 0) {
			close(listener);
			child_serve(conn, &cfg, &peer, &wait_mask);
		}
		if (pid < 0) {
			/* No process to spare: serve it here, still bounded by
			 * the socket timeouts. */
			handle_connection(conn, &cfg, &peer);
		}
		close(conn);
	}
}
