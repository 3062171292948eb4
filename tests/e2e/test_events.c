/*
 * test_events.c - live state without polling: what happens to a service's
 * container behind berth's back shows in the registry (ListServices, as
 * `berth ls` reads it) within a second, and on berth's pub0 event socket.
 *
 * A real berthd and the real Docker engine, as in test_lifecycle.c. The
 * shared dockerd is never restarted: Docker "going away" is played by a
 * unix-socket proxy in front of it that a second berthd talks through.
 * docker_events_follow itself is also tested against a fake engine that
 * splits its lines across writes and then hangs up.
 *
 * Every container carries berth's data-dir label (or berth.test=<dir>);
 * the group teardown removes all of them even when a test failed half-way.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>

#include "berth.h"
#include "docker_proxy.h"
#include "e2e.h"
#include "clock.h"
#include "engine/docker.h"

#define DEMO_IMAGE E2E_DEMO_IMAGE
#define POLL_MS E2E_POLL_MS
#define WAIT_MS 3000

static struct e2e_daemon dmn;
static struct docker *docker;
static nng_socket sub = NNG_SOCKET_INITIALIZER;
static uint16_t base_port;
static char test_label[300];

/* --- helpers --------------------------------------------------------------- */

static int
put_demo_template(berth_client *c, uint16_t first, uint16_t last)
{
	return e2e_put_demo_template(c, "demo", first, last);
}

/* Launches demo/<instance>; fails the test when it cannot. Caller frees. */
static Berth__V1__LaunchServiceResponse *
launch_on(berth_client *c, const char *instance)
{
	berth_status st;
	Berth__V1__LaunchServiceResponse *r = e2e_launch(c, "demo", instance, 0, &st);

	if (r == NULL)
		fail_msg("launch %s: %s: %s", instance, berth_code_name(st.code), st.message);
	return r;
}

/* The service's status as ListServices (the registry) tells it; "" when absent. */
static void
status_on(berth_client *c, const char *service_id, char *out, size_t len)
{
	int rc = e2e_service_status(c, service_id, out, len);

	if (rc != 0)
		fail_msg("ListServices: %s", berth_code_name(rc));
}

/*
 * Polls ListServices every 50 ms until the service shows `want`; returns
 * the milliseconds it took since `since_ms`, or -1 after timeout_ms.
 */
static int64_t
wait_status_on(berth_client *c, const char *service_id, const char *want, int64_t since_ms,
    int timeout_ms)
{
	char status[32];

	if (E2E_WAIT_UNTIL((status_on(c, service_id, status, sizeof(status)),
			       strcmp(status, want) == 0),
		timeout_ms))
		return clock_monotonic_ms() - since_ms;
	print_message("service %s is still \"%s\", not \"%s\"\n", service_id, status, want);
	return -1;
}

static int64_t
wait_status(const char *service_id, const char *want, int64_t since_ms)
{
	return wait_status_on(dmn.client, service_id, want, since_ms, WAIT_MS);
}

/*
 * Reads berth's events until one of `type` about service_id comes, for up
 * to timeout_ms. Returns it (caller frees with berth__v1__event__free_unpacked)
 * or NULL. Other events are skipped.
 */
static Berth__V1__Event *
wait_event(Berth__V1__Event__Type type, const char *service_id, int timeout_ms)
{
	int64_t until = clock_monotonic_ms() + timeout_ms;

	for (;;) {
		int64_t left = until - clock_monotonic_ms();
		Berth__V1__Event *ev;
		nng_msg *msg;

		if (left <= 0)
			return NULL;
		nng_socket_set_ms(sub, NNG_OPT_RECVTIMEO, (nng_duration)left);
		if (nng_recvmsg(sub, &msg, 0) != 0)
			return NULL;
		ev = berth__v1__event__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
		nng_msg_free(msg);
		assert_non_null(ev);
		if (ev->type == type && strcmp(ev->service_id, service_id) == 0)
			return ev;
		berth__v1__event__free_unpacked(ev, NULL);
	}
}

static Berth__V1__LaunchServiceResponse *
launch_ok_named(const char *instance)
{
	return launch_on(dmn.client, instance);
}

/* Subscribes to the first event URL Health reports. */
static int
subscribe_events(void)
{
	Berth__V1__HealthRequest req = BERTH__V1__HEALTH_REQUEST__INIT;
	Berth__V1__HealthResponse *health = NULL;
	berth_status st;
	int rv = -1;

	if (berth_call(dmn.client, "Health", &req.base, (ProtobufCMessage **)&health, &st) != 0)
		return -1;
	if (health->n_event_urls > 0 && nng_sub0_open(&sub) == 0 &&
	    nng_socket_set(sub, NNG_OPT_SUB_SUBSCRIBE, "", 0) == 0 &&
	    nng_dial(sub, health->event_urls[0], NULL, 0) == 0)
		rv = 0;
	berth_reply_free(&health->base);
	/*
	 * pub0 sends only to pipes it has seen, and berthd has no way to say it
	 * has seen ours (no event is harmless to provoke): the dial completed
	 * our side of the handshake; this covers berthd's side of it.
	 */
	clock_sleep_ms(100);
	return rv;
}

/* --- fixture --------------------------------------------------------------- */

static int
setup_group(void **state)
{
	const char *const args[] = { "--log-level", "debug", NULL };

	(void)state;
	if (e2e_demo_context() == NULL || (docker = e2e_docker()) == NULL)
		return -1;
	if (e2e_daemon_start(&dmn, args) != 0)
		return -1;
	snprintf(test_label, sizeof(test_label), "berth.test=%s", dmn.proc.dir);
	base_port = (uint16_t)(24000 + (getpid() % 100) * 60);
	if (put_demo_template(dmn.client, base_port, base_port + 29) != 0)
		return -1;
	/*
	 * The follower tests create containers of the demo image themselves:
	 * a launch builds it on an engine that has none yet (a fresh Podman).
	 */
	{
		berth_status st;
		Berth__V1__LaunchServiceResponse *warm = e2e_launch(dmn.client, "demo", "warm", 0, &st);

		if (warm == NULL) {
			fprintf(stderr, "setup: launch demo/warm: %s\n", st.message);
			return -1;
		}
		berth_reply_free(&warm->base);
		e2e_remove_all_services(dmn.client);
	}
	return subscribe_events();
}

static int
teardown_group(void **state)
{
	(void)state;
	e2e_remove_labelled(test_label);
	nng_close(sub);
	e2e_daemon_destroy(&dmn, true);
	return 0;
}

static int
teardown_test(void **state)
{
	(void)state;
	e2e_remove_all_services(dmn.client);
	return 0;
}

/* --- behind berth's back --------------------------------------------------- */

/* docker kill: "exited" in ListServices within a second, SERVICE_DIED with the code. */
static void
test_killed_container_shows_exited_and_service_died_is_published(void **state)
{
	Berth__V1__LaunchServiceResponse *r = launch_ok_named("victim");
	struct error err;
	Berth__V1__Event *ev;
	int64_t started, latency;

	(void)state;
	ev = wait_event(BERTH__V1__EVENT__TYPE__SERVICE_LAUNCHED, "demo_victim", WAIT_MS);
	assert_non_null(ev);
	assert_string_equal(ev->status, "running");
	assert_int_equal(ev->port, r->service->port);
	berth__v1__event__free_unpacked(ev, NULL);

	started = clock_monotonic_ms();
	assert_int_equal(docker_container_kill(docker, r->service->container_id, 10000, &err), 0);
	latency = wait_status("demo_victim", "exited", started);
	assert_true(latency >= 0);
	print_message("kill -> \"exited\" in ListServices after %lld ms (polled every %d ms)\n",
	    (long long)latency, POLL_MS);

	ev = wait_event(BERTH__V1__EVENT__TYPE__SERVICE_DIED, "demo_victim", WAIT_MS);
	assert_non_null(ev);
	assert_string_equal(ev->status, "exited");
	assert_string_equal(ev->template_, "demo");
	assert_non_null(strstr(ev->message, "137")); /* SIGKILL */
	berth__v1__event__free_unpacked(ev, NULL);
	berth_reply_free(&r->base);
}

/* docker rm -f: "missing", SERVICE_MISSING. */
static void
test_removed_container_shows_missing(void **state)
{
	Berth__V1__LaunchServiceResponse *r = launch_ok_named("gone");
	struct error err;
	Berth__V1__Event *ev;
	int64_t started, latency;

	(void)state;
	started = clock_monotonic_ms();
	assert_int_equal(docker_container_remove(docker, r->service->container_id, true, 10000, &err),
	    0);
	latency = wait_status("demo_gone", "missing", started);
	assert_true(latency >= 0);
	print_message("rm -f -> \"missing\" after %lld ms\n", (long long)latency);
	ev = wait_event(BERTH__V1__EVENT__TYPE__SERVICE_MISSING, "demo_gone", WAIT_MS);
	assert_non_null(ev);
	assert_string_equal(ev->status, "missing");
	berth__v1__event__free_unpacked(ev, NULL);
	berth_reply_free(&r->base);
}

/* docker stop, then docker start: "exited", then "running" again with SERVICE_STARTED. */
static void
test_container_started_outside_berth_shows_running_again(void **state)
{
	Berth__V1__LaunchServiceResponse *r = launch_ok_named("lazarus");
	const char *id = r->service->container_id;
	struct error err;
	Berth__V1__Event *ev;
	int64_t started, latency;

	(void)state;
	assert_int_equal(docker_container_stop(docker, id, 1, 15000, &err), 0);
	assert_true(wait_status("demo_lazarus", "exited", clock_monotonic_ms()) >= 0);

	started = clock_monotonic_ms();
	assert_int_equal(docker_container_start(docker, id, 10000, &err), 0);
	latency = wait_status("demo_lazarus", "running", started);
	assert_true(latency >= 0);
	print_message("start -> \"running\" after %lld ms\n", (long long)latency);
	ev = wait_event(BERTH__V1__EVENT__TYPE__SERVICE_STARTED, "demo_lazarus", WAIT_MS);
	assert_non_null(ev);
	assert_string_equal(ev->status, "running");
	berth__v1__event__free_unpacked(ev, NULL);
	berth_reply_free(&r->base);
}

/*
 * Berth's own stop and restart make Docker report die/stop/start too; the
 * follower must leave those rows to the lifecycle call: "stopped" stays
 * stopped, a restart publishes no SERVICE_DIED. A container started behind
 * the back of a berth-stopped service is news again.
 */
static void
test_berths_own_stop_and_restart_are_not_reported_as_deaths(void **state)
{
	Berth__V1__LaunchServiceResponse *r = launch_ok_named("calm");
	Berth__V1__StopServiceRequest stop = BERTH__V1__STOP_SERVICE_REQUEST__INIT;
	Berth__V1__RestartServiceRequest restart = BERTH__V1__RESTART_SERVICE_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	struct error err;
	Berth__V1__Event *ev;
	berth_status st;
	char status[32];

	(void)state;
	stop.service_id = "demo_calm";
	assert_int_equal(berth_call(dmn.client, "StopService", &stop.base, &reply, &st), 0);
	berth_reply_free(reply);
	/* Longer than the follower's second look at a busy service. */
	assert_null(wait_event(BERTH__V1__EVENT__TYPE__SERVICE_DIED, "demo_calm", 1500));
	status_on(dmn.client, "demo_calm", status, sizeof(status));
	assert_string_equal(status, "stopped");

	restart.service_id = "demo_calm";
	assert_int_equal(berth_call(dmn.client, "RestartService", &restart.base, &reply, &st), 0);
	berth_reply_free(reply);
	assert_null(wait_event(BERTH__V1__EVENT__TYPE__SERVICE_DIED, "demo_calm", 1500));
	status_on(dmn.client, "demo_calm", status, sizeof(status));
	assert_string_equal(status, "running");

	/* Stopped through berth, started through Docker: running, and said so. */
	assert_int_equal(berth_call(dmn.client, "StopService", &stop.base, &reply, &st), 0);
	berth_reply_free(reply);
	assert_int_equal(docker_container_start(docker, r->service->container_id, 10000, &err), 0);
	assert_true(wait_status("demo_calm", "running", clock_monotonic_ms()) >= 0);
	ev = wait_event(BERTH__V1__EVENT__TYPE__SERVICE_STARTED, "demo_calm", WAIT_MS);
	assert_non_null(ev);
	berth__v1__event__free_unpacked(ev, NULL);
	berth_reply_free(&r->base);
}

/* --- Docker going away: a proxy in front of the engine --------------------- */

static struct docker_proxy proxy = { .listen_fd = -1 };
static struct e2e_daemon dmn2; /* the berthd behind the proxy */

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

static int
unix_socket(const char *path, bool listening)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (fd < 0)
		return -1;
	if (listening ? bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 16) != 0
		      : connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
teardown_proxy_test(void **state)
{
	(void)state;
	if (dmn2.proc.dir[0] != '\0')
		e2e_daemon_destroy(&dmn2, true);
	docker_proxy_stop(&proxy);
	return 0;
}

/*
 * Docker goes away, a container dies meanwhile (nobody can tell berthd),
 * Docker comes back: the follower reconnects and reconciliation finds the
 * death it missed.
 */
static void
test_follower_reconnects_and_catches_up_with_what_it_missed(void **state)
{
	Berth__V1__LaunchServiceResponse *r;
	struct error err;
	char host[400], status[32];
	const char *args[] = { "--docker-host", host, "--log-level", "debug", NULL };
	int64_t started, latency;

	(void)state;
	assert_int_equal(docker_proxy_start(&proxy), 0);
	snprintf(host, sizeof(host), "unix://%s", proxy.path);
	assert_int_equal(e2e_daemon_start(&dmn2, args), 0);
	assert_int_equal(put_demo_template(dmn2.client, base_port + 30, base_port + 59), 0);
	r = launch_on(dmn2.client, "survivor");
	assert_true(e2e_wait_log(&dmn2.proc, "following Docker events", WAIT_MS));

	assert_true(docker_proxy_down(&proxy));
	/* the one warning */
	assert_true(e2e_wait_log(&dmn2.proc, "docker events stream lost", WAIT_MS));
	assert_int_equal(docker_container_kill(docker, r->service->container_id, 10000, &err), 0);
	clock_sleep_ms(500); /* a negative: give it time to learn what it cannot */
	status_on(dmn2.client, "demo_survivor", status, sizeof(status));
	assert_string_equal(status, "running"); /* it cannot know yet */

	started = clock_monotonic_ms();
	assert_true(docker_proxy_up(&proxy));
	latency = wait_status_on(dmn2.client, "demo_survivor", "exited", started, 6000);
	assert_true(latency >= 0);
	print_message("Docker back -> \"exited\" after %lld ms (backoff at most 2 s)\n",
	    (long long)latency);
	assert_true(berthd_proc_log_contains(&dmn2.proc, "following again"));
	berth_reply_free(&r->base);
}

/* --- docker_events_follow itself -------------------------------------------- */

#define FAKE_ID "aaaaaaaaaaaabbbbbbbbbbbbccccccccccccddddddddddddeeeeeeeeeeeeffff"
#define FAKE_ATTRS "\"name\":\"one\",\"berth.service\":\"demo_one\",\"berth.data_dir\":\"/x\""

/* A fake engine: answers /version, then streams three events in awkward pieces. */
struct fake_engine {
	char path[300];
	int listen_fd;
	pthread_t thread;
	char events_request[2048];
};

static void
read_request(int fd, char *buf, size_t len)
{
	size_t got = 0;

	buf[0] = '\0';
	while (got + 1 < len && strstr(buf, "\r\n\r\n") == NULL) {
		ssize_t n = read(fd, buf + got, len - got - 1);
		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
	}
}

static void *
fake_engine_main(void *arg)
{
	static const char version[] = "{\"ApiVersion\":\"1.41\",\"MinAPIVersion\":\"1.12\"}";
	static const char *const pieces[] = {
		"{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"" FAKE_ID,
		"\",\"Attributes\":{" FAKE_ATTRS "}},\"timeNano\":1795686783075372211}\n"
		"{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"" FAKE_ID
		"\",\"Attributes\":{\"exitCode\":\"3\"," FAKE_ATTRS "}},\"timeNano\":2}\n"
		"not json\n{\"Type\":\"container\",\"Action\":\"dest",
		"roy\",\"Actor\":{\"ID\":\"" FAKE_ID "\",\"Attributes\":{" FAKE_ATTRS "}}}",
	};
	struct fake_engine *f = arg;
	char request[2048], answer[512];

	for (int i = 0; i < 2; i++) {
		int fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0)
			return NULL;
		read_request(fd, request, sizeof(request));
		if (strncmp(request, "GET /version", 12) == 0) {
			snprintf(answer, sizeof(answer),
			    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
			    strlen(version), version);
			write_all(fd, answer, strlen(answer));
		} else {
			snprintf(f->events_request, sizeof(f->events_request), "%s", request);
			snprintf(answer, sizeof(answer),
			    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			    "Connection: close\r\n\r\n");
			write_all(fd, answer, strlen(answer));
			for (size_t k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
				clock_sleep_ms(100); /* pacing: each piece its own write */
				write_all(fd, pieces[k], strlen(pieces[k]));
			}
			clock_sleep_ms(100); /* pacing: the last piece arrives before the hang-up */
		}
		close(fd);
	}
	return NULL;
}

struct collected {
	pthread_mutex_t lock;
	int connected;
	int events_before_connected;
	struct docker_event events[16];
	size_t n;
};

static int
collect_connected(void *arg)
{
	struct collected *c = arg;

	pthread_mutex_lock(&c->lock);
	c->connected++;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

static int
collect_event(void *arg, const struct docker_event *ev)
{
	struct collected *c = arg;

	pthread_mutex_lock(&c->lock);
	if (c->connected == 0)
		c->events_before_connected++;
	if (c->n < 16)
		c->events[c->n++] = *ev;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

/* Lines split across writes, a line that is not JSON, a last line without '\n', then EOF. */
static void
test_follow_reassembles_lines_and_reports_the_end_of_the_stream(void **state)
{
	struct fake_engine f = { .listen_fd = -1 };
	struct collected c = { .lock = PTHREAD_MUTEX_INITIALIZER };
	const struct docker_events_handler h = { collect_connected, collect_event, NULL, &c };
	struct docker *fake = NULL;
	struct error err;
	atomic_bool stop = false;
	char host[400];
	struct error open_err;
	int rc;

	(void)state;
	snprintf(f.path, sizeof(f.path), "%s/fake-docker.sock", dmn.proc.dir);
	f.listen_fd = unix_socket(f.path, true);
	assert_true(f.listen_fd >= 0);
	assert_int_equal(pthread_create(&f.thread, NULL, fake_engine_main, &f), 0);
	snprintf(host, sizeof(host), "unix://%s", f.path);
	assert_int_equal(docker_open(&fake, host, &open_err), 0);

	rc = docker_events_follow(fake, "berth.data_dir=/x", &h, &stop, &err);
	pthread_join(f.thread, NULL);
	close(f.listen_fd);
	unlink(f.path);
	docker_close(fake);

	assert_int_equal(rc, BERTH__V1__CODE__UNAVAILABLE);
	assert_non_null(strstr(err.message, "ended the event stream"));
	assert_non_null(strstr(f.events_request, "GET /v1.41/events?since="));
	assert_non_null(strstr(f.events_request,
	    "%22type%22%3A%5B%22container%22%5D%2C%22label%22%3A%5B%22berth.data_dir%3D%2Fx%22%5D"));
	assert_int_equal(c.connected, 1);
	assert_int_equal(c.events_before_connected, 0);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.events[0].action, "start");
	assert_string_equal(c.events[0].type, "container");
	assert_string_equal(c.events[0].id, FAKE_ID);
	assert_string_equal(c.events[0].name, "one");
	assert_string_equal(c.events[0].label_service, "demo_one");
	assert_string_equal(c.events[0].label_data_dir, "/x");
	assert_int_equal(c.events[0].exit_code, -1);
	assert_true(c.events[0].time_nano == 1795686783075372211LL);
	assert_string_equal(c.events[1].action, "die");
	assert_int_equal(c.events[1].exit_code, 3);
	assert_string_equal(c.events[2].action, "destroy");
}

struct follow_run {
	struct collected c;
	atomic_bool stop;
	int rc;
	struct error err;
};

static void *
follow_main(void *arg)
{
	struct follow_run *run = arg;
	const struct docker_events_handler h = { collect_connected, collect_event, NULL, &run->c };

	run->rc = docker_events_follow(docker, test_label, &h, &run->stop, &run->err);
	return NULL;
}

static int
connections(struct collected *c)
{
	int n;

	pthread_mutex_lock(&c->lock);
	n = c->connected;
	pthread_mutex_unlock(&c->lock);
	return n;
}

static size_t
count_events(struct collected *c)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->n;
	pthread_mutex_unlock(&c->lock);
	return n;
}

/* The real engine: only labelled containers are reported; *stop ends an idle stream quickly. */
static void
test_follow_sees_labelled_containers_and_stops_when_asked(void **state)
{
	static struct follow_run run = { .c = { .lock = PTHREAD_MUTEX_INITIALIZER } };
	struct docker_label labels[] = { { "berth.test", dmn.proc.dir } };
	struct docker_container_spec spec = { .image = DEMO_IMAGE, .labels = labels, .n_labels = 1 };
	struct docker_container_spec other = { .image = DEMO_IMAGE };
	struct error err;
	char id[DOCKER_ID_LEN + 1], other_id[DOCKER_ID_LEN + 1];
	pthread_t t;
	int64_t asked;

	(void)state;
	atomic_init(&run.stop, false);
	assert_int_equal(pthread_create(&t, NULL, follow_main, &run), 0);
	assert_true(E2E_WAIT_UNTIL(connections(&run.c) != 0, 2000));
	assert_int_equal(connections(&run.c), 1);

	assert_int_equal(docker_container_create(docker, &other, other_id, 10000, &err), 0);
	assert_int_equal(docker_container_create(docker, &spec, id, 10000, &err), 0);
	assert_int_equal(docker_container_remove(docker, id, true, 10000, &err), 0);
	assert_int_equal(docker_container_remove(docker, other_id, true, 10000, &err), 0);
	assert_true(E2E_WAIT_UNTIL(count_events(&run.c) >= 2, 2000));
	clock_sleep_ms(300); /* a negative: anything unlabelled would have come by now */

	asked = clock_monotonic_ms();
	atomic_store(&run.stop, true);
	pthread_join(t, NULL);
	print_message("follow returned %lld ms after stop was set\n", (long long)(clock_monotonic_ms() - asked));
	assert_true(clock_monotonic_ms() - asked < 1000);
	assert_int_equal(run.rc, BERTH__V1__CODE__OK);
	assert_int_equal(run.c.n, 2);
	assert_string_equal(run.c.events[0].action, "create");
	assert_string_equal(run.c.events[0].id, id);
	assert_string_equal(run.c.events[1].action, "destroy");
	assert_string_equal(run.c.events[1].id, id);
}

/* Nobody listening: UNAVAILABLE at once, not a hang. */
static void
test_follow_without_an_engine_is_unavailable(void **state)
{
	const struct docker_events_handler h = { NULL, collect_event, NULL, NULL };
	struct docker *none = NULL;
	struct error err;
	atomic_bool stop = false;
	struct error open_err;
	int64_t started = clock_monotonic_ms();

	(void)state;
	assert_int_equal(docker_open(&none, "unix:///nonexistent/docker.sock", &open_err),
	    0);
	assert_int_equal(docker_events_follow(none, NULL, &h, &stop, &err),
	    BERTH__V1__CODE__UNAVAILABLE);
	assert_true(clock_monotonic_ms() - started < 3000);
	docker_close(none);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_follow_reassembles_lines_and_reports_the_end_of_the_stream),
		cmocka_unit_test(test_follow_sees_labelled_containers_and_stops_when_asked),
		cmocka_unit_test(test_follow_without_an_engine_is_unavailable),
		cmocka_unit_test_teardown(
		    test_killed_container_shows_exited_and_service_died_is_published, teardown_test),
		cmocka_unit_test_teardown(test_removed_container_shows_missing, teardown_test),
		cmocka_unit_test_teardown(test_container_started_outside_berth_shows_running_again,
		    teardown_test),
		cmocka_unit_test_teardown(test_berths_own_stop_and_restart_are_not_reported_as_deaths,
		    teardown_test),
		cmocka_unit_test_teardown(test_follower_reconnects_and_catches_up_with_what_it_missed,
		    teardown_proxy_test),
	};

	return cmocka_run_group_tests_name("events", tests, setup_group, teardown_group);
}
