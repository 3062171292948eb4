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
#include "berthd_proc.h"
#include "clock.h"
#include "engine/docker.h"

#define DEMO_IMAGE "berth-demo:e2e"
#define DOCKER_SOCKET "/var/run/docker.sock"
#define POLL_MS 50
#define WAIT_MS 3000

static struct berthd_proc proc;
static berth_client *client;
static struct docker *docker;
static nng_socket sub = NNG_SOCKET_INITIALIZER;
static uint16_t base_port;
static char demo_context[PATH_MAX];
static char test_label[300];

/* --- helpers --------------------------------------------------------------- */

static int
put_demo_template(berth_client *c, uint16_t first, uint16_t last)
{
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	Berth__V1__PutTemplateRequest put = BERTH__V1__PUT_TEMPLATE_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	char *env[] = { "BERTH_DEMO_DIR=/data" };
	berth_status st;

	t.name = "demo";
	t.image = DEMO_IMAGE;
	t.build_context = demo_context;
	t.container_port = 8000;
	t.port_range_start = first;
	t.port_range_end = last;
	t.mount_path = "/data";
	t.env = env;
	t.n_env = 1;
	t.stop_timeout_s = 2;
	put.template_ = &t;
	if (berth_call(c, "PutTemplate", &put.base, &reply, &st) != 0) {
		fprintf(stderr, "PutTemplate: %s\n", st.message);
		return -1;
	}
	berth_reply_free(reply);
	return 0;
}

/* Launches demo/<instance>; fails the test when it cannot. Caller frees. */
static Berth__V1__LaunchServiceResponse *
launch_on(berth_client *c, const char *instance)
{
	Berth__V1__LaunchServiceRequest req = BERTH__V1__LAUNCH_SERVICE_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;
	berth_status st;

	req.template_ = "demo";
	req.instance = (char *)instance;
	if (berth_call(c, "LaunchService", &req.base, &reply, &st) != 0)
		fail_msg("launch %s: %s: %s", instance, berth_code_name(st.code), st.message);
	return (Berth__V1__LaunchServiceResponse *)reply;
}

/* The service's status as ListServices (the registry) tells it; "" when absent. */
static void
status_on(berth_client *c, const char *service_id, char *out, size_t len)
{
	Berth__V1__ListServicesRequest req = BERTH__V1__LIST_SERVICES_REQUEST__INIT;
	Berth__V1__ListServicesResponse *rep = NULL;
	berth_status st;

	snprintf(out, len, "%s", "");
	if (berth_call(c, "ListServices", &req.base, (ProtobufCMessage **)&rep, &st) != 0)
		fail_msg("ListServices: %s", st.message);
	for (size_t i = 0; i < rep->n_services; i++)
		if (strcmp(rep->services[i]->service_id, service_id) == 0)
			snprintf(out, len, "%s", rep->services[i]->status);
	berth_reply_free(&rep->base);
}

/*
 * Polls ListServices every 50 ms until the service shows `want`; returns
 * the milliseconds it took since `since_ms`, or -1 after timeout_ms.
 */
static int64_t
wait_status_on(berth_client *c, const char *service_id, const char *want, int64_t since_ms,
    int timeout_ms)
{
	int64_t until = clock_monotonic_ms() + timeout_ms;
	char status[32];

	for (;;) {
		status_on(c, service_id, status, sizeof(status));
		if (strcmp(status, want) == 0)
			return clock_monotonic_ms() - since_ms;
		if (clock_monotonic_ms() >= until) {
			print_message("service %s is still \"%s\", not \"%s\"\n", service_id, status, want);
			return -1;
		}
		clock_sleep_ms(POLL_MS);
	}
}

static int64_t
wait_status(const char *service_id, const char *want, int64_t since_ms)
{
	return wait_status_on(client, service_id, want, since_ms, WAIT_MS);
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
	return launch_on(client, instance);
}

static void
remove_all_services_on(berth_client *c)
{
	Berth__V1__ListServicesRequest req = BERTH__V1__LIST_SERVICES_REQUEST__INIT;
	Berth__V1__ListServicesResponse *rep = NULL;
	berth_status st;

	if (c == NULL || berth_call(c, "ListServices", &req.base, (ProtobufCMessage **)&rep, &st) != 0)
		return;
	for (size_t i = 0; i < rep->n_services; i++) {
		Berth__V1__RemoveServiceRequest rm = BERTH__V1__REMOVE_SERVICE_REQUEST__INIT;
		ProtobufCMessage *reply = NULL;

		rm.service_id = rep->services[i]->service_id;
		rm.purge = true;
		berth_call(c, "RemoveService", &rm.base, &reply, &st);
		berth_reply_free(reply);
	}
	berth_reply_free(&rep->base);
}

static void
remove_containers_labelled(const char *label)
{
	struct docker_container *list = NULL;
	struct error err;
	size_t n = 0;

	if (docker_container_list(docker, label, &list, &n, 10000, &err) != 0)
		return;
	for (size_t i = 0; i < n; i++)
		docker_container_remove(docker, list[i].id, true, 10000, &err);
	free(list);
}

static void
remove_leftover_containers(const struct berthd_proc *p)
{
	char own[600];

	snprintf(own, sizeof(own), "%s=%s", DOCKER_LABEL_DATA_DIR, p->data_dir);
	remove_containers_labelled(own);
}

/* Subscribes to the first event URL Health reports. */
static int
subscribe_events(void)
{
	Berth__V1__HealthRequest req = BERTH__V1__HEALTH_REQUEST__INIT;
	Berth__V1__HealthResponse *health = NULL;
	berth_status st;
	int rv = -1;

	if (berth_call(client, "Health", &req.base, (ProtobufCMessage **)&health, &st) != 0)
		return -1;
	if (health->n_event_urls > 0 && nng_sub0_open(&sub) == 0 &&
	    nng_socket_set(sub, NNG_OPT_SUB_SUBSCRIBE, "", 0) == 0 &&
	    nng_dial(sub, health->event_urls[0], NULL, 0) == 0)
		rv = 0;
	berth_reply_free(&health->base);
	clock_sleep_ms(100); /* pub0 sends only to pipes it has seen */
	return rv;
}

/* --- fixture --------------------------------------------------------------- */

static int
setup_group(void **state)
{
	const char *b = getenv("BUILD");
	char build[PATH_MAX], err[256];
	const char *const args[] = { "--log-level", "debug", NULL };
	berth_status st;

	(void)state;
	snprintf(build, sizeof(build), "%s/demo", b != NULL && b[0] ? b : "build");
	if (realpath(build, demo_context) == NULL) {
		fprintf(stderr, "no demo build context at %s: run make demo\n", build);
		return -1;
	}
	if (docker_open(&docker, NULL, err, sizeof(err)) != 0)
		return -1;
	if (berthd_proc_start(&proc, args) != 0)
		return -1;
	snprintf(test_label, sizeof(test_label), "berth.test=%s", proc.dir);
	if (berth_open(&client, proc.url, &(berth_options){ NULL, 120000 }, &st) != 0)
		return -1;
	base_port = (uint16_t)(24000 + (getpid() % 100) * 60);
	if (put_demo_template(client, base_port, base_port + 29) != 0)
		return -1;
	return subscribe_events();
}

static int
teardown_group(void **state)
{
	(void)state;
	remove_all_services_on(client);
	remove_leftover_containers(&proc);
	remove_containers_labelled(test_label);
	nng_close(sub);
	berth_close(client);
	berthd_proc_cleanup(&proc);
	docker_close(docker);
	return 0;
}

static int
teardown_test(void **state)
{
	(void)state;
	remove_all_services_on(client);
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
	assert_int_equal(berth_call(client, "StopService", &stop.base, &reply, &st), 0);
	berth_reply_free(reply);
	/* Longer than the follower's second look at a busy service. */
	assert_null(wait_event(BERTH__V1__EVENT__TYPE__SERVICE_DIED, "demo_calm", 1500));
	status_on(client, "demo_calm", status, sizeof(status));
	assert_string_equal(status, "stopped");

	restart.service_id = "demo_calm";
	assert_int_equal(berth_call(client, "RestartService", &restart.base, &reply, &st), 0);
	berth_reply_free(reply);
	assert_null(wait_event(BERTH__V1__EVENT__TYPE__SERVICE_DIED, "demo_calm", 1500));
	status_on(client, "demo_calm", status, sizeof(status));
	assert_string_equal(status, "running");

	/* Stopped through berth, started through Docker: running, and said so. */
	assert_int_equal(berth_call(client, "StopService", &stop.base, &reply, &st), 0);
	berth_reply_free(reply);
	assert_int_equal(docker_container_start(docker, r->service->container_id, 10000, &err), 0);
	assert_true(wait_status("demo_calm", "running", clock_monotonic_ms()) >= 0);
	ev = wait_event(BERTH__V1__EVENT__TYPE__SERVICE_STARTED, "demo_calm", WAIT_MS);
	assert_non_null(ev);
	berth__v1__event__free_unpacked(ev, NULL);
	berth_reply_free(&r->base);
}

/* --- Docker going away: a proxy in front of the engine --------------------- */

/*
 * Listens on a unix socket and copies bytes to and from the real engine.
 * proxy_down() plays a stopped dockerd: open connections are cut and new
 * ones refused (the socket file is gone); proxy_up() brings it back.
 */
struct proxy {
	char path[300];
	pthread_t acceptor;
	bool started;
	atomic_bool quit;
	atomic_bool up;            /* wanted */
	atomic_bool listening;     /* the acceptor's answer */
	atomic_uint generation;    /* bumped on down: older pumps hang up */
	pthread_mutex_t lock;
	int pumps;                 /* pump threads alive, under lock */
};

struct pump {
	struct proxy *px;
	int fd[2];
	unsigned generation;
};

static struct proxy proxy;
static struct berthd_proc proc2;
static berth_client *client2;

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

static void *
pump_main(void *arg)
{
	struct pump *p = arg;
	struct proxy *px = p->px;
	struct pollfd fds[2] = { { p->fd[0], POLLIN, 0 }, { p->fd[1], POLLIN, 0 } };
	char buf[65536];
	bool done = false;

	while (!done && !atomic_load(&px->quit) && atomic_load(&px->generation) == p->generation) {
		int n = poll(fds, 2, 50);

		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; n > 0 && i < 2 && !done; i++) {
			ssize_t got;

			if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0)
				continue;
			got = read(fds[i].fd, buf, sizeof(buf));
			done = got <= 0 || write_all(fds[1 - i].fd, buf, (size_t)got) != 0;
		}
	}
	close(p->fd[0]);
	close(p->fd[1]);
	free(p);
	pthread_mutex_lock(&px->lock);
	px->pumps--;
	pthread_mutex_unlock(&px->lock);
	return NULL;
}

static int
unix_socket(const char *path, bool listening)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0)
		return -1;
	if (listening ? bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 16) != 0
		      : connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void *
acceptor_main(void *arg)
{
	struct proxy *px = arg;
	int lfd = -1;

	while (!atomic_load(&px->quit)) {
		struct pollfd pfd;
		struct pump *p;
		pthread_t t;
		int conn, upstream;

		if (atomic_load(&px->up) && lfd < 0) {
			unlink(px->path);
			lfd = unix_socket(px->path, true);
		} else if (!atomic_load(&px->up) && lfd >= 0) {
			close(lfd);
			unlink(px->path);
			lfd = -1;
		}
		atomic_store(&px->listening, lfd >= 0);
		pfd = (struct pollfd){ lfd, POLLIN, 0 };
		if (lfd < 0 || poll(&pfd, 1, 50) <= 0) {
			if (lfd < 0)
				clock_sleep_ms(20);
			continue;
		}
		if ((conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			continue;
		if ((upstream = unix_socket(DOCKER_SOCKET, false)) < 0 ||
		    (p = malloc(sizeof(*p))) == NULL) {
			close(conn);
			if (upstream >= 0)
				close(upstream);
			continue;
		}
		*p = (struct pump){ px, { conn, upstream }, atomic_load(&px->generation) };
		pthread_mutex_lock(&px->lock);
		px->pumps++;
		pthread_mutex_unlock(&px->lock);
		if (pthread_create(&t, NULL, pump_main, p) == 0) {
			pthread_detach(t);
		} else {
			pump_main(p); /* closes and counts down */
		}
	}
	if (lfd >= 0)
		close(lfd);
	unlink(px->path);
	atomic_store(&px->listening, false);
	return NULL;
}

static bool
wait_until(atomic_bool *flag, bool want, int timeout_ms)
{
	int64_t until = clock_monotonic_ms() + timeout_ms;

	while (atomic_load(flag) != want) {
		if (clock_monotonic_ms() >= until)
			return false;
		clock_sleep_ms(10);
	}
	return true;
}

static int
pumps_alive(struct proxy *px)
{
	int n;

	pthread_mutex_lock(&px->lock);
	n = px->pumps;
	pthread_mutex_unlock(&px->lock);
	return n;
}

static int
proxy_start(struct proxy *px, const char *dir)
{
	memset(px, 0, sizeof(*px));
	snprintf(px->path, sizeof(px->path), "%s/docker-proxy.sock", dir);
	pthread_mutex_init(&px->lock, NULL);
	atomic_store(&px->up, true);
	if (pthread_create(&px->acceptor, NULL, acceptor_main, px) != 0)
		return -1;
	px->started = true;
	return wait_until(&px->listening, true, 2000) ? 0 : -1;
}

static void
proxy_down(struct proxy *px)
{
	atomic_store(&px->up, false);
	atomic_fetch_add(&px->generation, 1);
	assert_true(wait_until(&px->listening, false, 2000));
	for (int i = 0; i < 200 && pumps_alive(px) > 0; i++)
		clock_sleep_ms(10);
}

static void
proxy_up(struct proxy *px)
{
	atomic_store(&px->up, true);
	assert_true(wait_until(&px->listening, true, 2000));
}

static void
proxy_stop(struct proxy *px)
{
	if (!px->started)
		return;
	atomic_store(&px->quit, true);
	pthread_join(px->acceptor, NULL);
	for (int i = 0; i < 300 && pumps_alive(px) > 0; i++)
		clock_sleep_ms(10);
	pthread_mutex_destroy(&px->lock);
	px->started = false;
}

static bool
wait_log(const struct berthd_proc *p, const char *needle, int timeout_ms)
{
	int64_t until = clock_monotonic_ms() + timeout_ms;

	while (!berthd_proc_log_contains(p, needle)) {
		if (clock_monotonic_ms() >= until)
			return false;
		clock_sleep_ms(POLL_MS);
	}
	return true;
}

static int
teardown_proxy_test(void **state)
{
	(void)state;
	remove_all_services_on(client2);
	berth_close(client2);
	client2 = NULL;
	if (proc2.dir[0] != '\0') {
		berthd_proc_cleanup(&proc2);
		remove_leftover_containers(&proc2);
	}
	proxy_stop(&proxy);
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
	berth_status st;
	int64_t started, latency;

	(void)state;
	assert_int_equal(proxy_start(&proxy, proc.dir), 0);
	snprintf(host, sizeof(host), "unix://%s", proxy.path);
	assert_int_equal(berthd_proc_start(&proc2, args), 0);
	assert_int_equal(berth_open(&client2, proc2.url, &(berth_options){ NULL, 120000 }, &st), 0);
	assert_int_equal(put_demo_template(client2, base_port + 30, base_port + 59), 0);
	r = launch_on(client2, "survivor");
	assert_true(wait_log(&proc2, "following Docker events", WAIT_MS));

	proxy_down(&proxy);
	assert_true(wait_log(&proc2, "docker events stream lost", WAIT_MS)); /* the one warning */
	assert_int_equal(docker_container_kill(docker, r->service->container_id, 10000, &err), 0);
	clock_sleep_ms(500);
	status_on(client2, "demo_survivor", status, sizeof(status));
	assert_string_equal(status, "running"); /* it cannot know yet */

	started = clock_monotonic_ms();
	proxy_up(&proxy);
	latency = wait_status_on(client2, "demo_survivor", "exited", started, 6000);
	assert_true(latency >= 0);
	print_message("Docker back -> \"exited\" after %lld ms (backoff at most 2 s)\n",
	    (long long)latency);
	assert_true(berthd_proc_log_contains(&proc2, "following again"));
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
				clock_sleep_ms(100);
				write_all(fd, pieces[k], strlen(pieces[k]));
			}
			clock_sleep_ms(100);
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
	char host[400], errtext[256];
	int rc;

	(void)state;
	snprintf(f.path, sizeof(f.path), "%s/fake-docker.sock", proc.dir);
	f.listen_fd = unix_socket(f.path, true);
	assert_true(f.listen_fd >= 0);
	assert_int_equal(pthread_create(&f.thread, NULL, fake_engine_main, &f), 0);
	snprintf(host, sizeof(host), "unix://%s", f.path);
	assert_int_equal(docker_open(&fake, host, errtext, sizeof(errtext)), 0);

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
	struct docker_label labels[] = { { "berth.test", proc.dir } };
	struct docker_container_spec spec = { .image = DEMO_IMAGE, .labels = labels, .n_labels = 1 };
	struct docker_container_spec other = { .image = DEMO_IMAGE };
	struct error err;
	char id[DOCKER_ID_LEN + 1], other_id[DOCKER_ID_LEN + 1];
	pthread_t t;
	int64_t asked;

	(void)state;
	atomic_init(&run.stop, false);
	assert_int_equal(pthread_create(&t, NULL, follow_main, &run), 0);
	for (int i = 0; i < 100 && run.c.connected == 0; i++)
		clock_sleep_ms(20);
	assert_int_equal(run.c.connected, 1);

	assert_int_equal(docker_container_create(docker, &other, other_id, 10000, &err), 0);
	assert_int_equal(docker_container_create(docker, &spec, id, 10000, &err), 0);
	assert_int_equal(docker_container_remove(docker, id, true, 10000, &err), 0);
	assert_int_equal(docker_container_remove(docker, other_id, true, 10000, &err), 0);
	for (int i = 0; i < 100 && count_events(&run.c) < 2; i++)
		clock_sleep_ms(20);
	clock_sleep_ms(300); /* anything unlabelled would have come by now */

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
	char errtext[256];
	int64_t started = clock_monotonic_ms();

	(void)state;
	assert_int_equal(docker_open(&none, "unix:///nonexistent/docker.sock", errtext,
			     sizeof(errtext)),
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
