/*
 * test_docker.c - the Engine API client (server/engine/docker*.c, through
 * engine/docker.h) against the real Docker engine of this
 * host, plus a few fake engines (tiny HTTP servers on 127.0.0.1) for what a
 * real one cannot be made to do: answer with an old API version, refuse a
 * pull, or not answer at all.
 *
 * No registry is needed and none is ever asked: the test image is a static
 * C program FROM scratch, built by docker_image_build itself in the group
 * setup, and the pull test talks to a fake engine.
 *
 * Every container is labelled berth.managed=true and berth.test=docker; the
 * group teardown force-removes all of them and the image, also after a
 * failed test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "berth/v1/berth.pb-c.h"
#include "clock.h"
#include "engine/docker.h"

#define T_MS 30000
#define BUILD_MS 180000
#define TEST_LABEL "berth.test"

#define OK BERTH__V1__CODE__OK

static const char prog_source[] =
    "#include <signal.h>\n"
    "#include <stdio.h>\n"
    "#include <unistd.h>\n"
    "static void bye(int sig) { (void)sig; _exit(0); }\n"
    "int main(void) {\n"
    "	signal(SIGTERM, bye);\n"
    "	printf(\"berth-test stdout line\\n\");\n"
    "	fflush(stdout);\n"
    "	fprintf(stderr, \"berth-test stderr line\\n\");\n"
    "	for (;;)\n"
    "		pause();\n"
    "}\n";

#define STDOUT_LINE "berth-test stdout line\n"
#define STDERR_LINE "berth-test stderr line\n"

/* Shared by all tests; set up once. */
static struct {
	struct docker *d;
	char dir[64];       /* temporary directory */
	char image[96];     /* the image built in the setup */
	char bad_image[96]; /* tag of the builds that must fail */
	int build_rc;
	char build_message[512];
} fx;

/* --- helpers --------------------------------------------------------------- */

static void
write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	assert_true((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) < sizeof(path));
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void
make_dir(const char *dir, const char *name, char *path, size_t len)
{
	assert_true((size_t)snprintf(path, len, "%s/%s", dir, name) < len);
	assert_int_equal(mkdir(path, 0755), 0);
}

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* A tcp port on 127.0.0.1 that nobody listens on right now. */
static uint16_t
free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port;

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* A listening socket on 127.0.0.1; its port in *port. */
static int
listen_local(uint16_t *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

static void
container_name(const char *tag, char *buf, size_t len)
{
	snprintf(buf, len, "berth-test-docker-%ld-%s", (long)getpid(), tag);
}

/*
 * Creates a container of the test image named after `tag`, labelled as
 * berth labels it plus berth.test=docker, berth.instance=PID-tag.
 */
static int
create_container(const char *tag, uint16_t host_port, const char *bind_source, char *id,
    struct error *err)
{
	char name[128], instance[64];
	const char *env[] = { "BERTH_TEST=1" };
	const char *cmd[] = { "ignored-argument" };

	container_name(tag, name, sizeof(name));
	snprintf(instance, sizeof(instance), "%ld-%s", (long)getpid(), tag);
	const struct docker_label labels[] = {
		{ DOCKER_LABEL_MANAGED, "true" },
		{ TEST_LABEL, "docker" },
		{ DOCKER_LABEL_SERVICE, name },
		{ DOCKER_LABEL_TEMPLATE, "docker-test" },
		{ DOCKER_LABEL_INSTANCE, instance },
		{ DOCKER_LABEL_DATA_DIR, fx.dir },
	};
	const struct docker_container_spec spec = {
		.name = name,
		.image = fx.image,
		.env = env,
		.n_env = 1,
		.command = cmd,
		.n_command = 1,
		.labels = labels,
		.n_labels = sizeof(labels) / sizeof(labels[0]),
		.container_port = 8080,
		.host_ip = "127.0.0.1",
		.host_port = host_port,
		.bind_source = bind_source,
		.bind_target = bind_source != NULL ? "/data" : NULL,
		.stop_timeout_s = 3,
	};
	return docker_container_create(fx.d, &spec, id, T_MS, err);
}

static void
remove_container(const char *id)
{
	struct error err;

	docker_container_remove(fx.d, id, true, T_MS, &err);
}

static void
assert_code(int rc, const struct error *err, int want)
{
	if (rc != want)
		print_error("got code %d: %s; wanted %d\n", rc, err->message, want);
	assert_int_equal(rc, want);
	assert_int_equal(err->code, want);
}

/* --- fake engines ---------------------------------------------------------- */

/* Answers every request with `body` and records the request lines. */
struct fake_engine {
	int fd;
	uint16_t port;
	const char *body;
	pthread_t thread;
	pthread_mutex_t lock;
	char requests[8][256];
	int n_requests;
};

static void *
fake_engine_main(void *arg)
{
	struct fake_engine *fe = arg;
	char req[4096], head[256];
	int c;

	while ((c = accept(fe->fd, NULL, NULL)) >= 0) {
		size_t len = 0;
		ssize_t n;

		while (len < sizeof(req) - 1 && (n = read(c, req + len, sizeof(req) - 1 - len)) > 0) {
			len += (size_t)n;
			req[len] = '\0';
			if (strstr(req, "\r\n\r\n") != NULL)
				break;
		}
		req[len] = '\0';
		pthread_mutex_lock(&fe->lock);
		if (fe->n_requests < 8) {
			char *eol = strstr(req, "\r\n");
			snprintf(fe->requests[fe->n_requests++], 256, "%.*s",
			    eol != NULL ? (int)(eol - req) : (int)len, req);
		}
		pthread_mutex_unlock(&fe->lock);
		snprintf(head, sizeof(head),
		    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		    "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		    strlen(fe->body));
		if (write(c, head, strlen(head)) < 0 || write(c, fe->body, strlen(fe->body)) < 0)
			break;
		close(c);
	}
	return NULL;
}

static void
fake_engine_start(struct fake_engine *fe, const char *body)
{
	memset(fe, 0, sizeof(*fe));
	fe->body = body;
	fe->fd = listen_local(&fe->port);
	pthread_mutex_init(&fe->lock, NULL);
	assert_int_equal(pthread_create(&fe->thread, NULL, fake_engine_main, fe), 0);
}

static void
fake_engine_stop(struct fake_engine *fe)
{
	shutdown(fe->fd, SHUT_RDWR); /* wakes accept() */
	pthread_join(fe->thread, NULL);
	close(fe->fd);
	pthread_mutex_destroy(&fe->lock);
}

/* --- setup and teardown ---------------------------------------------------- */

static int
group_setup(void **state)
{
	char ctx[512], sub[512], path[600], cmd[1400];
	struct error open_err;
	struct error err;

	(void)state;
	memset(&fx, 0, sizeof(fx));
	if (docker_open(&fx.d, NULL, &open_err) != 0) {
		print_error("docker_open: %s\n", open_err.message);
		return -1;
	}
	if (docker_ping(fx.d, T_MS, &err) != OK) {
		print_error("Docker does not answer (start it with tests/docker-up.sh): %s\n",
		    err.message);
		return -1;
	}
	snprintf(fx.dir, sizeof(fx.dir), "/tmp/berth-docker-test.XXXXXX");
	if (mkdtemp(fx.dir) == NULL)
		return -1;
	snprintf(fx.image, sizeof(fx.image), "berth-test/docker-e2e:%ld", (long)getpid());
	snprintf(fx.bad_image, sizeof(fx.bad_image), "berth-test/docker-e2e-bad:%ld",
	    (long)getpid());

	/*
	 * The context: the program, a subdirectory that is copied, and a
	 * symlink out of the context that must be sent as a link, not followed.
	 */
	make_dir(fx.dir, "ctx", ctx, sizeof(ctx));
	make_dir(fx.dir, "data", path, sizeof(path));
	write_file(ctx, "prog.c", prog_source);
	make_dir(ctx, "sub", sub, sizeof(sub));
	write_file(sub, "data.txt", "copied from a subdirectory\n");
	snprintf(path, sizeof(path), "%s/outside", ctx);
	if (symlink("/etc/hostname", path) != 0)
		return -1;
	write_file(ctx, "Dockerfile",
	    "FROM scratch\n"
	    "COPY prog /prog\n"
	    "COPY sub/data.txt /data.txt\n"
	    "ENTRYPOINT [\"/prog\"]\n");
	snprintf(cmd, sizeof(cmd), "cc -static -O2 -o %s/prog %s/prog.c", ctx, ctx);
	if (system(cmd) != 0) {
		print_error("cannot build the static test program\n");
		return -1;
	}
	fx.build_rc = docker_image_build(fx.d, ctx, fx.image, BUILD_MS, &err);
	snprintf(fx.build_message, sizeof(fx.build_message), "%s", err.message);
	return 0;
}

static int
group_teardown(void **state)
{
	struct docker_container *list = NULL;
	struct error err;
	size_t n = 0;

	(void)state;
	if (fx.d != NULL) {
		if (docker_container_list(fx.d, TEST_LABEL "=docker", &list, &n, T_MS, &err) == OK)
			for (size_t i = 0; i < n; i++)
				remove_container(list[i].id);
		free(list);
		docker_image_remove(fx.d, fx.image, true, T_MS, &err);
		docker_image_remove(fx.d, fx.bad_image, true, T_MS, &err);
		docker_close(fx.d);
	}
	if (fx.dir[0] != '\0')
		nftw(fx.dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* --- engine and version ---------------------------------------------------- */

static void
test_ping_negotiates_api_version(void **state)
{
	struct docker *d;
	struct error err;
	struct error open_err;
	unsigned major, minor;

	(void)state;
	assert_int_equal(docker_open(&d, "unix:///var/run/docker.sock", &open_err), 0);
	assert_string_equal(docker_api_version(d), ""); /* nothing asked yet */
	assert_code(docker_ping(d, T_MS, &err), &err, OK);
	assert_int_equal(sscanf(docker_api_version(d), "%u.%u", &major, &minor), 2);
	assert_int_equal(major, 1);
	assert_in_range(minor, 40, 43);
	docker_close(d);
}

struct ping_thread {
	struct docker *d;
	int rc;
};

static void *
ping_main(void *arg)
{
	struct ping_thread *pt = arg;
	struct error err;

	pt->rc = docker_ping(pt->d, T_MS, &err);
	return NULL;
}

static void
test_concurrent_first_calls_share_one_version(void **state)
{
	struct ping_thread pts[4];
	pthread_t threads[4];
	struct docker *d;
	struct error open_err;

	(void)state;
	assert_int_equal(docker_open(&d, NULL, &open_err), 0);
	for (int i = 0; i < 4; i++) {
		pts[i].d = d;
		assert_int_equal(pthread_create(&threads[i], NULL, ping_main, &pts[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(threads[i], NULL);
		assert_int_equal(pts[i].rc, OK);
	}
	assert_string_equal(docker_api_version(d), docker_api_version(fx.d));
	docker_close(d);
}

static void
test_newer_engine_is_spoken_to_in_1_43(void **state)
{
	struct fake_engine fe;
	struct docker_container c;
	struct error err;
	struct docker *d;
	char host[64];
	struct error open_err;

	(void)state;
	fake_engine_start(&fe, "{\"ApiVersion\":\"1.45\",\"MinAPIVersion\":\"1.24\"}");
	snprintf(host, sizeof(host), "tcp://127.0.0.1:%u", fe.port);
	assert_int_equal(docker_open(&d, host, &open_err), 0);
	assert_code(docker_ping(d, T_MS, &err), &err, OK);
	assert_string_equal(docker_api_version(d), "1.43");
	/* The fake answers the version JSON for everything: no Id, but a 200. */
	assert_code(docker_container_inspect(d, "abc", &c, T_MS, &err), &err, OK);
	docker_close(d);
	fake_engine_stop(&fe);
	assert_int_equal(fe.n_requests, 3);
	assert_string_equal(fe.requests[0], "GET /_ping HTTP/1.1");
	assert_string_equal(fe.requests[1], "GET /version HTTP/1.1"); /* once only */
	assert_string_equal(fe.requests[2], "GET /v1.43/containers/abc/json HTTP/1.1");
}

static void
test_engine_older_than_1_40_is_refused(void **state)
{
	struct fake_engine fe;
	struct error err;
	struct docker *d;
	char host[64];
	struct error open_err;

	(void)state;
	fake_engine_start(&fe, "{\"ApiVersion\":\"1.30\",\"MinAPIVersion\":\"1.12\"}");
	snprintf(host, sizeof(host), "tcp://127.0.0.1:%u", fe.port);
	assert_int_equal(docker_open(&d, host, &open_err), 0);
	assert_code(docker_ping(d, T_MS, &err), &err, BERTH__V1__CODE__FAILED_PRECONDITION);
	assert_non_null(strstr(err.message, "1.30"));
	assert_string_equal(docker_api_version(d), "");
	docker_close(d);
	fake_engine_stop(&fe);
}

static void
test_unreachable_engine_is_unavailable_quickly(void **state)
{
	struct error err;
	struct docker *d;
	struct error open_err;
	int64_t start;

	(void)state;
	assert_int_equal(docker_open(&d, "unix:///nonexistent.sock", &open_err), 0);
	start = clock_monotonic_ms();
	assert_code(docker_ping(d, T_MS, &err), &err, BERTH__V1__CODE__UNAVAILABLE);
	assert_true(clock_monotonic_ms() - start < 1000);
	assert_code(docker_container_start(d, "abc", T_MS, &err), &err,
	    BERTH__V1__CODE__UNAVAILABLE);
	docker_close(d);
}

static void
test_silent_engine_runs_into_the_deadline(void **state)
{
	struct error err;
	struct docker *d;
	char host[64];
	struct error open_err;
	uint16_t port;
	int64_t start;
	int fd;

	(void)state;
	fd = listen_local(&port); /* accepts connections (backlog), never answers */
	snprintf(host, sizeof(host), "tcp://127.0.0.1:%u", port);
	assert_int_equal(docker_open(&d, host, &open_err), 0);
	start = clock_monotonic_ms();
	assert_code(docker_ping(d, 300, &err), &err, BERTH__V1__CODE__DEADLINE_EXCEEDED);
	assert_in_range(clock_monotonic_ms() - start, 250, 1500);
	docker_close(d);
	close(fd);
}

static void
test_zero_timeout_is_deadline_exceeded(void **state)
{
	struct error err;
	char id[DOCKER_ID_LEN + 1];
	bool exists;

	(void)state;
	assert_code(docker_ping(fx.d, 0, &err), &err, BERTH__V1__CODE__DEADLINE_EXCEEDED);
	assert_code(docker_image_exists(fx.d, fx.image, &exists, -5, &err), &err,
	    BERTH__V1__CODE__DEADLINE_EXCEEDED);
	assert_code(create_container("zero-timeout", 0, NULL, id, &err), &err, OK);
	assert_code(docker_container_start(fx.d, id, 0, &err), &err,
	    BERTH__V1__CODE__DEADLINE_EXCEEDED);
	remove_container(id);
}

/*
 * A TLS engine: `openssl s_server -HTTP` serves files that hold whole HTTP
 * answers, and demands a client certificate signed by the test CA.
 */
static pid_t tls_server = -1;
static char *tls_saved_env[3];
static const char *const tls_env[3] = { "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_TLS" };

static int
tls_teardown(void **state)
{
	(void)state;
	if (tls_server > 0) {
		kill(tls_server, SIGTERM);
		waitpid(tls_server, NULL, 0);
		tls_server = -1;
	}
	for (int i = 0; i < 3; i++) {
		if (tls_saved_env[i] != NULL)
			setenv(tls_env[i], tls_saved_env[i], 1);
		else
			unsetenv(tls_env[i]);
		free(tls_saved_env[i]);
		tls_saved_env[i] = NULL;
	}
	return 0;
}

static void
wait_for_port(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int64_t until = clock_monotonic_ms() + 10000;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	while (clock_monotonic_ms() < until) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
		close(fd);
		if (rc == 0)
			return;
		usleep(50000);
	}
	fail_msg("the TLS test server did not come up on port %u", port);
}

static void
test_tls_settings_from_environment(void **state)
{
	char tls[256], www[320], cmd[2048], host[64];
	struct error open_err;
	struct error err;
	struct docker *d;
	uint16_t port;

	(void)state;
	if (system("command -v openssl >/dev/null 2>&1") != 0) {
		print_message("skipped: openssl (the command) is not installed\n");
		skip();
	}
	for (int i = 0; i < 3; i++) {
		const char *v = getenv(tls_env[i]);
		tls_saved_env[i] = v != NULL ? strdup(v) : NULL;
	}
	make_dir(fx.dir, "tls", tls, sizeof(tls));
	make_dir(tls, "www", www, sizeof(www));
	snprintf(cmd, sizeof(cmd),
	    "cd %s && exec >/dev/null 2>&1 && "
	    "K='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes' && "
	    "openssl req -x509 $K -keyout ca-key.pem -out ca.pem -days 1 -subj /CN=berth-ca && "
	    "openssl req $K -keyout server-key.pem -out server.csr -subj /CN=localhost && "
	    "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ext && "
	    "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial "
	    "-out server-cert.pem -days 1 -extfile ext && "
	    "openssl req $K -keyout key.pem -out client.csr -subj /CN=client && "
	    "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial "
	    "-out cert.pem -days 1",
	    tls);
	assert_int_equal(system(cmd), 0);
	write_file(www, "version",
	    "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n"
	    "{\"ApiVersion\":\"1.42\",\"MinAPIVersion\":\"1.12\"}");
	write_file(www, "_ping", "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nOK");

	port = free_port();
	snprintf(host, sizeof(host), "127.0.0.1:%u", port);
	tls_server = fork();
	assert_true(tls_server >= 0);
	if (tls_server == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (chdir(www) == 0)
			execlp("openssl", "openssl", "s_server", "-quiet", "-accept", host, "-cert",
			    "../server-cert.pem", "-key", "../server-key.pem", "-CAfile", "../ca.pem",
			    "-Verify", "1", "-HTTP", (char *)NULL);
		_exit(127);
	}
	wait_for_port(port);
	snprintf(host, sizeof(host), "tcp://127.0.0.1:%u", port);

	/* Verified with the CA, authenticated with cert.pem and key.pem. */
	setenv("DOCKER_TLS_VERIFY", "1", 1);
	setenv("DOCKER_CERT_PATH", tls, 1);
	unsetenv("DOCKER_TLS");
	assert_int_equal(docker_open(&d, host, &open_err), 0);
	assert_code(docker_ping(d, T_MS, &err), &err, OK);
	assert_string_equal(docker_api_version(d), "1.42");
	docker_close(d);

	/* No certificates where DOCKER_CERT_PATH points: no connection. */
	setenv("DOCKER_CERT_PATH", fx.dir, 1);
	assert_int_equal(docker_open(&d, host, &open_err), 0);
	assert_code(docker_ping(d, T_MS, &err), &err, BERTH__V1__CODE__UNAVAILABLE);
	assert_non_null(strstr(err.message, "cert.pem"));
	docker_close(d);

	/* Without DOCKER_TLS_VERIFY it is plain HTTP, which a TLS server drops. */
	unsetenv("DOCKER_TLS_VERIFY");
	assert_int_equal(docker_open(&d, host, &open_err), 0);
	assert_code(docker_ping(d, T_MS, &err), &err, BERTH__V1__CODE__UNAVAILABLE);
	docker_close(d);
}

static void
test_open_rejects_unsupported_hosts(void **state)
{
	struct docker *d = (struct docker *)1;
	struct error open_err;

	(void)state;
	assert_int_equal(docker_open(&d, "ssh://user@host", &open_err), -1);
	assert_null(d);
	assert_non_null(strstr(open_err.message, "ssh://"));
	assert_int_equal(docker_open(&d, "tcp://", &open_err), -1);
	assert_int_equal(docker_open(&d, "unix://relative.sock", &open_err), -1);
}

static void
test_docker_host_from_environment(void **state)
{
	const char *saved = getenv("DOCKER_HOST");
	char *copy = saved != NULL ? strdup(saved) : NULL;
	struct error err;
	struct docker *d;
	struct error open_err;

	(void)state;
	setenv("DOCKER_HOST", "unix:///nonexistent.sock", 1);
	assert_int_equal(docker_open(&d, NULL, &open_err), 0);
	assert_code(docker_ping(d, T_MS, &err), &err, BERTH__V1__CODE__UNAVAILABLE);
	assert_non_null(strstr(err.message, "/nonexistent.sock"));
	docker_close(d);
	/* An explicit host wins over the environment. */
	assert_int_equal(docker_open(&d, "unix:///var/run/docker.sock", &open_err), 0);
	assert_code(docker_ping(d, T_MS, &err), &err, OK);
	docker_close(d);
	if (copy != NULL)
		setenv("DOCKER_HOST", copy, 1);
	else
		unsetenv("DOCKER_HOST");
	free(copy);
}

/* --- images ---------------------------------------------------------------- */

static void
test_image_exists_false_for_unknown_image(void **state)
{
	struct error err;
	bool exists = true;

	(void)state;
	assert_code(docker_image_exists(fx.d, "berth-test/never-built:0", &exists, T_MS, &err), &err,
	    OK);
	assert_false(exists);
}

static void
test_image_build_of_context_succeeds(void **state)
{
	struct error err;
	bool exists = false;

	(void)state;
	if (fx.build_rc != OK)
		print_error("build failed: %s\n", fx.build_message);
	assert_int_equal(fx.build_rc, OK);
	assert_code(docker_image_exists(fx.d, fx.image, &exists, T_MS, &err), &err, OK);
	assert_true(exists);
}

static void
build_must_fail(const char *dockerfile, const char *expect)
{
	char ctx[512];
	struct error err;
	static int n;

	snprintf(ctx, sizeof(ctx), "%s/bad%d", fx.dir, n++);
	assert_int_equal(mkdir(ctx, 0755), 0);
	write_file(ctx, "Dockerfile", dockerfile);
	assert_code(docker_image_build(fx.d, ctx, fx.bad_image, BUILD_MS, &err), &err,
	    BERTH__V1__CODE__FAILED_PRECONDITION);
	if (strstr(err.message, expect) == NULL)
		print_error("message: %s\n", err.message);
	assert_non_null(strstr(err.message, expect));
}

static void
test_image_build_with_bad_instruction_fails(void **state)
{
	(void)state;
	build_must_fail("FROM scratch\nNOTANINSTRUCTION foo\n", "NOTANINSTRUCTION");
}

static void
test_image_build_copying_missing_file_fails(void **state)
{
	(void)state;
	build_must_fail("FROM scratch\nCOPY missing-file /x\n", "missing-file");
}

static void
test_image_build_of_missing_context_fails(void **state)
{
	struct error err;

	(void)state;
	assert_code(docker_image_build(fx.d, "/nonexistent/berth-context", fx.bad_image, T_MS, &err),
	    &err, BERTH__V1__CODE__FAILED_PRECONDITION);
}

/*
 * A failed pull is FAILED_PRECONDITION with Docker's reason. Tests never
 * pull from a registry: a fake engine answers the pull with the error
 * stream Docker sends when an image cannot be had.
 */
static void
test_image_pull_failure_is_failed_precondition_with_dockers_reason(void **state)
{
	struct fake_engine fe;
	struct error err;
	struct docker *d;
	char host[64];
	struct error open_err;

	(void)state;
	/* One body serves /version (ApiVersion) and the pull (its error). */
	fake_engine_start(&fe, "{\"ApiVersion\":\"1.41\",\"MinAPIVersion\":\"1.24\","
			       "\"errorDetail\":{\"message\":\"pull access denied for "
			       "berth-test/does-not-exist\"},"
			       "\"error\":\"pull access denied for berth-test/does-not-exist\"}\n");
	snprintf(host, sizeof(host), "tcp://127.0.0.1:%u", fe.port);
	assert_int_equal(docker_open(&d, host, &open_err), 0);
	assert_code(docker_image_pull(d, "berth-test/does-not-exist:1", T_MS, &err), &err,
	    BERTH__V1__CODE__FAILED_PRECONDITION);
	assert_non_null(strstr(err.message, "pull access denied"));
	docker_close(d);
	fake_engine_stop(&fe);
	assert_true(fe.n_requests >= 1);
	assert_non_null(strstr(fe.requests[fe.n_requests - 1], "POST /v1.41/images/create?fromImage="));
}

static void
test_bad_names_are_invalid_argument(void **state)
{
	struct docker_container c;
	struct error err;
	bool exists;

	(void)state;
	assert_code(docker_container_inspect(fx.d, "../images/x", &c, T_MS, &err), &err,
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_code(docker_container_stop(fx.d, "a?b", 1, T_MS, &err), &err,
	    BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_code(docker_image_exists(fx.d, "x/../../containers/y", &exists, T_MS, &err), &err,
	    BERTH__V1__CODE__INVALID_ARGUMENT);
}

/* --- containers ------------------------------------------------------------ */

static void
test_create_with_taken_name_is_already_exists(void **state)
{
	char id[DOCKER_ID_LEN + 1], id2[DOCKER_ID_LEN + 1];
	struct error err;

	(void)state;
	assert_code(create_container("conflict", 0, NULL, id, &err), &err, OK);
	assert_int_equal(strlen(id), DOCKER_ID_LEN);
	assert_code(create_container("conflict", 0, NULL, id2, &err), &err,
	    BERTH__V1__CODE__ALREADY_EXISTS);
	assert_non_null(strstr(err.message, "already in use"));
	remove_container(id);
}

static void
test_create_of_unknown_image_is_not_found(void **state)
{
	const struct docker_label labels[] = { { DOCKER_LABEL_MANAGED, "true" },
		{ TEST_LABEL, "docker" } };
	struct docker_container_spec spec = { .name = NULL, .image = "berth-test/never-built:0",
		.labels = labels, .n_labels = 2 };
	char id[DOCKER_ID_LEN + 1];
	struct error err;

	(void)state;
	assert_code(docker_container_create(fx.d, &spec, id, T_MS, &err), &err,
	    BERTH__V1__CODE__NOT_FOUND);
	assert_non_null(strstr(err.message, "never-built"));
}

static void
test_lifecycle_start_stop_restart_kill_remove(void **state)
{
	char id[DOCKER_ID_LEN + 1], name[128], data[128];
	struct docker_container c;
	struct error err;
	uint16_t port = free_port();

	(void)state;
	snprintf(data, sizeof(data), "%s/data", fx.dir);
	container_name("lifecycle", name, sizeof(name));
	assert_code(create_container("lifecycle", port, data, id, &err), &err, OK);

	assert_code(docker_container_inspect(fx.d, id, &c, T_MS, &err), &err, OK);
	assert_string_equal(c.id, id);
	assert_string_equal(c.name, name);
	assert_string_equal(c.state, "created");
	assert_string_equal(c.label_service, name);
	assert_string_equal(c.label_template, "docker-test");
	assert_string_equal(c.label_data_dir, fx.dir);
	assert_int_equal(c.n_ports, 1); /* asked for, not yet bound */
	assert_int_equal(c.ports[0], port);

	assert_code(docker_container_start(fx.d, id, T_MS, &err), &err, OK);
	assert_code(docker_container_start(fx.d, name, T_MS, &err), &err, OK); /* 304 */
	assert_code(docker_container_inspect(fx.d, name, &c, T_MS, &err), &err, OK);
	assert_string_equal(c.state, "running");
	assert_true(c.started_at[0] != '\0');
	assert_int_equal(c.n_ports, 1);
	assert_int_equal(c.ports[0], port);

	assert_code(docker_container_stop(fx.d, id, 5, T_MS, &err), &err, OK);
	assert_code(docker_container_inspect(fx.d, id, &c, T_MS, &err), &err, OK);
	assert_string_equal(c.state, "exited");
	assert_int_equal(c.exit_code, 0); /* the program exits on SIGTERM */
	assert_code(docker_container_stop(fx.d, id, 5, T_MS, &err), &err, OK); /* 304 */

	assert_code(docker_container_restart(fx.d, id, 5, T_MS, &err), &err, OK);
	assert_code(docker_container_inspect(fx.d, id, &c, T_MS, &err), &err, OK);
	assert_string_equal(c.state, "running");

	assert_code(docker_container_remove(fx.d, id, false, T_MS, &err), &err,
	    BERTH__V1__CODE__FAILED_PRECONDITION); /* running, not forced */

	assert_code(docker_container_kill(fx.d, id, T_MS, &err), &err, OK);
	assert_code(docker_container_inspect(fx.d, id, &c, T_MS, &err), &err, OK);
	assert_string_equal(c.state, "exited");
	assert_int_equal(c.exit_code, 137);
	assert_true(c.finished_at[0] != '\0');
	assert_code(docker_container_kill(fx.d, id, T_MS, &err), &err,
	    BERTH__V1__CODE__FAILED_PRECONDITION); /* not running */

	assert_code(docker_container_remove(fx.d, id, false, T_MS, &err), &err, OK);
	assert_code(docker_container_inspect(fx.d, id, &c, T_MS, &err), &err,
	    BERTH__V1__CODE__NOT_FOUND);
	assert_code(docker_container_remove(fx.d, id, true, T_MS, &err), &err,
	    BERTH__V1__CODE__NOT_FOUND);
}

static void
test_inspect_of_missing_container_is_not_found(void **state)
{
	struct docker_container c;
	struct error err;

	(void)state;
	assert_code(docker_container_inspect(fx.d, "berth-test-no-such-container", &c, T_MS, &err),
	    &err, BERTH__V1__CODE__NOT_FOUND);
	assert_non_null(strcasestr(err.message, "No such container")); /* Podman: "no such ..." */
	assert_code(docker_container_start(fx.d, "berth-test-no-such-container", T_MS, &err), &err,
	    BERTH__V1__CODE__NOT_FOUND);
}

static void
test_list_with_label_filter_finds_only_ours(void **state)
{
	char a[DOCKER_ID_LEN + 1], b[DOCKER_ID_LEN + 1], filter[128], name[128];
	struct docker_container *list = NULL;
	struct error err;
	uint16_t port = free_port();
	size_t n = 0, found = 0;

	(void)state;
	assert_code(create_container("list-a", port, NULL, a, &err), &err, OK);
	assert_code(create_container("list-b", 0, NULL, b, &err), &err, OK);
	assert_code(docker_container_start(fx.d, a, T_MS, &err), &err, OK);

	snprintf(filter, sizeof(filter), DOCKER_LABEL_INSTANCE "=%ld-list-a", (long)getpid());
	assert_code(docker_container_list(fx.d, filter, &list, &n, T_MS, &err), &err, OK);
	assert_int_equal(n, 1);
	container_name("list-a", name, sizeof(name));
	assert_string_equal(list[0].id, a);
	assert_string_equal(list[0].name, name);
	assert_string_equal(list[0].state, "running");
	assert_string_equal(list[0].label_service, name);
	assert_string_equal(list[0].label_template, "docker-test");
	assert_string_equal(list[0].label_data_dir, fx.dir);
	assert_int_equal(list[0].n_ports, 1);
	assert_int_equal(list[0].ports[0], port);
	free(list);

	/* Both carry berth.test=docker; a label nobody has matches nothing. */
	assert_code(docker_container_list(fx.d, TEST_LABEL "=docker", &list, &n, T_MS, &err), &err,
	    OK);
	for (size_t i = 0; i < n; i++)
		found += strcmp(list[i].id, a) == 0 || strcmp(list[i].id, b) == 0;
	assert_int_equal(found, 2);
	free(list);
	assert_code(docker_container_list(fx.d, "berth.test=nobody-has-this", &list, &n, T_MS, &err),
	    &err, OK);
	assert_int_equal(n, 0);
	assert_null(list);

	remove_container(a);
	remove_container(b);
}

static void
test_logs_demultiplex_stdout_and_stderr(void **state)
{
	char id[DOCKER_ID_LEN + 1];
	struct error err;
	char *logs = NULL;
	int64_t until;

	(void)state;
	assert_code(create_container("logs", 0, NULL, id, &err), &err, OK);
	assert_code(docker_container_start(fx.d, id, T_MS, &err), &err, OK);
	for (until = clock_monotonic_ms() + 10000; clock_monotonic_ms() < until; usleep(100000)) {
		free(logs);
		assert_code(docker_container_logs(fx.d, id, 0, &logs, T_MS, &err), &err, OK);
		if (strstr(logs, STDOUT_LINE) != NULL && strstr(logs, STDERR_LINE) != NULL)
			break;
	}
	/* Both lines and nothing else: no frame headers left in the text. */
	assert_non_null(strstr(logs, STDOUT_LINE));
	assert_non_null(strstr(logs, STDERR_LINE));
	assert_int_equal(strlen(logs), strlen(STDOUT_LINE) + strlen(STDERR_LINE));
	free(logs);

	assert_code(docker_container_logs(fx.d, id, 1, &logs, T_MS, &err), &err, OK);
	assert_int_equal(strlen(logs), strlen(STDOUT_LINE)); /* one line of either stream */
	free(logs);
	remove_container(id);
}

static void
test_stats_of_running_container_show_memory(void **state)
{
	char id[DOCKER_ID_LEN + 1];
	struct error err;
	struct docker_stats st;

	(void)state;
	assert_code(create_container("stats", 0, NULL, id, &err), &err, OK);
	assert_code(docker_container_start(fx.d, id, T_MS, &err), &err, OK);
	assert_code(docker_container_stats(fx.d, id, &st, T_MS, &err), &err, OK);
	assert_true(st.memory_bytes > 0);
	assert_true(st.memory_limit_bytes >= st.memory_bytes);
	assert_true(st.cpu_percent >= 0.0);
	remove_container(id);
}

static void
test_start_on_taken_host_port_is_port_in_use(void **state)
{
	char a[DOCKER_ID_LEN + 1], b[DOCKER_ID_LEN + 1];
	struct docker_container c;
	struct error err;
	uint16_t port = free_port();

	(void)state;
	assert_code(create_container("port-a", port, NULL, a, &err), &err, OK);
	assert_code(create_container("port-b", port, NULL, b, &err), &err, OK);
	assert_code(docker_container_start(fx.d, a, T_MS, &err), &err, OK);
	assert_code(docker_container_start(fx.d, b, T_MS, &err), &err, BERTH__V1__CODE__ABORTED);
	assert_true(docker_error_port_in_use(&err));
	assert_code(docker_container_inspect(fx.d, b, &c, T_MS, &err), &err, OK);
	assert_string_not_equal(c.state, "running");
	/* Other failures do not claim a port problem. */
	assert_code(docker_container_start(fx.d, "berth-test-no-such-container", T_MS, &err), &err,
	    BERTH__V1__CODE__NOT_FOUND);
	assert_false(docker_error_port_in_use(&err));
	remove_container(a);
	remove_container(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ping_negotiates_api_version),
		cmocka_unit_test(test_concurrent_first_calls_share_one_version),
		cmocka_unit_test(test_newer_engine_is_spoken_to_in_1_43),
		cmocka_unit_test(test_engine_older_than_1_40_is_refused),
		cmocka_unit_test(test_unreachable_engine_is_unavailable_quickly),
		cmocka_unit_test(test_silent_engine_runs_into_the_deadline),
		cmocka_unit_test(test_zero_timeout_is_deadline_exceeded),
		cmocka_unit_test(test_open_rejects_unsupported_hosts),
		cmocka_unit_test(test_docker_host_from_environment),
		cmocka_unit_test_teardown(test_tls_settings_from_environment, tls_teardown),
		cmocka_unit_test(test_image_exists_false_for_unknown_image),
		cmocka_unit_test(test_image_build_of_context_succeeds),
		cmocka_unit_test(test_image_build_with_bad_instruction_fails),
		cmocka_unit_test(test_image_build_copying_missing_file_fails),
		cmocka_unit_test(test_image_build_of_missing_context_fails),
		cmocka_unit_test(test_image_pull_failure_is_failed_precondition_with_dockers_reason),
		cmocka_unit_test(test_bad_names_are_invalid_argument),
		cmocka_unit_test(test_create_with_taken_name_is_already_exists),
		cmocka_unit_test(test_create_of_unknown_image_is_not_found),
		cmocka_unit_test(test_lifecycle_start_stop_restart_kill_remove),
		cmocka_unit_test(test_inspect_of_missing_container_is_not_found),
		cmocka_unit_test(test_list_with_label_filter_finds_only_ours),
		cmocka_unit_test(test_logs_demultiplex_stdout_and_stderr),
		cmocka_unit_test(test_stats_of_running_container_show_memory),
		cmocka_unit_test(test_start_on_taken_host_port_is_port_in_use),
	};

	return cmocka_run_group_tests_name("docker", tests, group_setup, group_teardown);
}
