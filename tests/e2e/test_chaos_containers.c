/*
 * test_chaos_containers.c - containers that misbehave (chaos suite 2d).
 *
 * Containers that exit at once or ignore SIGTERM, and a host port taken
 * between the allocation and the container's start.
 *
 * The framework (level, report, invariants, load) is tests/support/chaos.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chaos.h"
#include "clock.h"
#include "engine/docker.h"

/* --- 2d. containers that misbehave --------------------------------------------------------- */

/* True when service `id`'s row says `status`. */
static bool
row_says(const char *id, const char *status)
{
	Berth__V1__ListServicesResponse *list = chaos_list(chaos_dmn.e.client, NULL);
	const Berth__V1__Service *row = chaos_find_row(list, id);
	bool there = row != NULL && strcmp(row->status, status) == 0;

	berth_reply_free((ProtobufCMessage *)list);
	return there;
}

/* Waits until service `id`'s row says `status`; false after timeout_ms. */
static bool
wait_status(const char *id, const char *status, int timeout_ms)
{
	return E2E_WAIT_UNTIL(row_says(id, status), timeout_ms);
}

static Berth__V1__GetServiceResponse *
get_service(const char *id, berth_status *st)
{
	Berth__V1__GetServiceRequest req = BERTH__V1__GET_SERVICE_REQUEST__INIT;
	ProtobufCMessage *reply = NULL;

	req.service_id = (char *)id;
	if (chaos_rpc(chaos_dmn.e.client, OP_GET, "GetService", &req.base, &reply, st) != 0)
		return NULL;
	return (Berth__V1__GetServiceResponse *)reply;
}

/*
 * 5. A container that exits at once: the launch succeeds (Docker did start
 * it), and the event follower records "exited" with its exit code soon
 * after; cleanup sees it dead; restart and remove work.
 */
static void
test_container_exiting_at_once_is_launched_then_recorded_as_exited(void **state)
{
	unsigned before = atomic_load(&chaos_report.violations);
	char *env[] = { "DEMO_EXIT_AFTER_MS=1" };
	Berth__V1__GetCleanupStatusRequest creq = BERTH__V1__GET_CLEANUP_STATUS_REQUEST__INIT;
	Berth__V1__GetCleanupStatusResponse *cleanup = NULL;
	Berth__V1__GetServiceResponse *got;
	char tpl[40], id[ID_LEN];
	berth_status st;
	bool dead = false;
	int rc;

	(void)state;
	chaos_tpl_name(tpl, sizeof(tpl), "exits");
	assert_int_equal(chaos_daemon_start(&chaos_dmn, "exits", NULL), 0);
	chaos_demo_template(&chaos_dmn, tpl, chaos_slice(4), 4, 2, env, 1);
	chaos_fault(F_EXIT_AT_ONCE, 1);
	rc = chaos_launch(chaos_dmn.e.client, tpl, id, NULL, &st);
	printf("# exits at once: LaunchService answered %s %s\n", berth_code_name(rc), st.message);
	if (rc != 0)
		fail_msg("launch of a container that exits at once: %s: %s", berth_code_name(rc),
		    st.message);
	chaos_note("a container that exits at once: LaunchService answers OK (Docker started it), the "
	     "row turns \"exited\" from Docker's die event");
	if (!wait_status(id, "exited", 5000))
		chaos_violation("exits at once: the row of %s never said exited", id);
	if ((got = get_service(id, &st)) == NULL) {
		chaos_violation("exits at once: GetService answered %s", berth_code_name(st.code));
	} else {
		if (strcmp(got->service->container->state, "exited") != 0 ||
		    got->service->container->exit_code != 3)
			chaos_violation("exits at once: container state %s exit code %d (want exited, 3)",
			    got->service->container->state, got->service->container->exit_code);
		else
			chaos_checked(1);
		berth_reply_free(&got->base);
	}
	chaos_check_agreement(&chaos_dmn, "a container that exited at once", 3000);
	if (chaos_rpc(chaos_dmn.e.client, OP_OTHER, "GetCleanupStatus", &creq.base, (ProtobufCMessage **)&cleanup,
		&st) == 0) {
		for (size_t i = 0; i < cleanup->n_dead_services; i++)
			dead |= strcmp(cleanup->dead_services[i], id) == 0;
		berth_reply_free(&cleanup->base);
	}
	if (!dead)
		chaos_violation("exits at once: cleanup status does not list %s as dead", id);
	if ((rc = chaos_by_id(chaos_dmn.e.client, OP_RESTART, id, 0, &st)) != 0)
		chaos_violation("exits at once: restart answered %s: %s", berth_code_name(rc), st.message);
	if (!wait_status(id, "exited", 5000))
		chaos_violation("exits at once: after the restart the row never said exited again");
	chaos_check_agreement(&chaos_dmn, "a container that exited at once, restarted", 3000);
	if ((rc = chaos_by_id(chaos_dmn.e.client, OP_REMOVE, id, 0, &st)) != 0)
		chaos_violation("exits at once: remove answered %s: %s", berth_code_name(rc), st.message);
	chaos_check_agreement(&chaos_dmn, "a container that exited at once, removed", 3000);
	chaos_expect_no_violations_since(before);
}

/* 6. A container that ignores SIGTERM: a stop with timeout 1 s kills it after that second. */
static void
test_container_ignoring_sigterm_is_killed_when_the_stop_timeout_ends(void **state)
{
	unsigned before = atomic_load(&chaos_report.violations);
	char *env[] = { "DEMO_IGNORE_SIGTERM=1" };
	Berth__V1__GetServiceResponse *got;
	char tpl[40], id[ID_LEN];
	berth_status st;
	int64_t started, took;
	int rc;

	(void)state;
	chaos_tpl_name(tpl, sizeof(tpl), "stubborn");
	assert_int_equal(chaos_daemon_start(&chaos_dmn, "stubborn", NULL), 0);
	chaos_demo_template(&chaos_dmn, tpl, chaos_slice(4) + 4, 4, 30, env, 1);
	if (chaos_launch(chaos_dmn.e.client, tpl, id, NULL, &st) != 0)
		fail_msg("launch: %s: %s", berth_code_name(st.code), st.message);
	chaos_fault(F_IGNORE_SIGTERM, 1);
	started = clock_monotonic_ms();
	rc = chaos_by_id(chaos_dmn.e.client, OP_STOP, id, 1, &st);
	took = clock_monotonic_ms() - started;
	printf("# ignores SIGTERM: StopService(timeout 1 s) answered %s after %lld ms\n",
	    berth_code_name(rc), (long long)took);
	if (rc != 0)
		chaos_violation("ignores SIGTERM: stop answered %s: %s", berth_code_name(rc), st.message);
	if (took > 10000)
		chaos_violation("ignores SIGTERM: stop with timeout 1 s took %lld ms", (long long)took);
	if ((got = get_service(id, &st)) == NULL) {
		chaos_violation("ignores SIGTERM: GetService answered %s", berth_code_name(st.code));
	} else {
		if (strcmp(got->service->status, "stopped") != 0 ||
		    strcmp(got->service->container->state, "running") == 0)
			chaos_violation("ignores SIGTERM: after the stop the row says %s, the container %s",
			    got->service->status, got->service->container->state);
		else
			chaos_checked(1);
		printf("# ignores SIGTERM: row %s, container %s, exit code %d\n", got->service->status,
		    got->service->container->state, got->service->container->exit_code);
		berth_reply_free(&got->base);
	}
	chaos_check_agreement(&chaos_dmn, "a container that ignores SIGTERM, stopped", 3000);
	chaos_expect_no_violations_since(before);
}

/*
 * A host port taken at the worst moment: the proxy in front of Docker sees
 * berthd's "create" (with the chosen HostPort) and, on the "start" that
 * follows, binds that port on 127.0.0.1 before forwarding it. Deterministic:
 * berthd's bind test has passed, Docker's own bind fails.
 */
struct port_thief {
	pthread_mutex_t lock;
	int armed;          /* starts still to sabotage */
	uint16_t port;      /* HostPort of the last create seen */
	int fds[4];
	int n_fds;
	int stolen;
};

static struct port_thief thief = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int
listen_port(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 4) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* On the proxy's thread, with what berthd sends to Docker. */
static enum docker_proxy_verdict
thief_hook(void *arg, const char *data, size_t len)
{
	struct port_thief *t = arg;
	const char *hp;

	pthread_mutex_lock(&t->lock);
	if ((hp = memmem(data, len, "\"HostPort\"", 10)) != NULL) {
		const char *p = hp + 10, *end = data + len;

		while (p < end && (*p == ' ' || *p == ':' || *p == '"'))
			p++;
		t->port = 0;
		while (p < end && *p >= '0' && *p <= '9')
			t->port = (uint16_t)(t->port * 10 + (*p++ - '0'));
	}
	if (t->armed > 0 && len > 5 && memcmp(data, "POST ", 5) == 0 &&
	    memmem(data, len, "/start ", 7) != NULL && t->port != 0 && t->n_fds < 4) {
		int fd = listen_port(t->port);

		if (fd >= 0) {
			t->fds[t->n_fds++] = fd;
			t->stolen++;
			t->armed--;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return DOCKER_PROXY_FORWARD;
}

static void
thief_release(struct port_thief *t)
{
	pthread_mutex_lock(&t->lock);
	for (int i = 0; i < t->n_fds; i++)
		close(t->fds[i]);
	t->n_fds = 0;
	t->armed = 0;
	pthread_mutex_unlock(&t->lock);
}

static int
count_rows(void)
{
	Berth__V1__ListServicesResponse *list = chaos_list(chaos_dmn.e.client, NULL);
	int n = list != NULL ? (int)list->n_services : -1;

	berth_reply_free((ProtobufCMessage *)list);
	return n;
}

/*
 * 7. Another program binds the chosen port between berthd's bind test and
 * Docker's start: berthd moves to the next free port (and says so in
 * skipped_ports); when none is left the launch is RESOURCE_EXHAUSTED and
 * leaves nothing behind.
 */
static void
test_port_taken_between_allocation_and_start_moves_on_or_leaves_nothing(void **state)
{
	unsigned before = atomic_load(&chaos_report.violations);
	Berth__V1__LaunchServiceRequest req = BERTH__V1__LAUNCH_SERVICE_REQUEST__INIT;
	Berth__V1__LaunchServiceResponse *r = NULL;
	const char *args[] = { "--docker-host", NULL, NULL };
	char host[160], tpl[40], id[ID_LEN];
	uint16_t first = chaos_slice(4) + 8;
	berth_status st;
	bool skipped = false;
	uint32_t port;
	int rc, blocker;

	(void)state;
	assert_int_equal(docker_proxy_start(&chaos_proxy), 0);
	snprintf(host, sizeof(host), "unix://%s", chaos_proxy.path);
	args[1] = host;
	chaos_tpl_name(tpl, sizeof(tpl), "steal");
	assert_int_equal(chaos_daemon_start(&chaos_dmn, "steal", args), 0);
	chaos_demo_template(&chaos_dmn, tpl, first, 2, 2, NULL, 0);
	docker_proxy_set_hook(&chaos_proxy, thief_hook, &thief);

	/* One port stolen: the launch moves to the second. */
	pthread_mutex_lock(&thief.lock);
	thief.armed = 1;
	thief.stolen = 0;
	pthread_mutex_unlock(&thief.lock);
	req.template_ = tpl;
	req.instance = "";
	rc = chaos_rpc(chaos_dmn.e.client, OP_LAUNCH, "LaunchService", &req.base, (ProtobufCMessage **)&r, &st);
	chaos_fault(F_PORT_STOLEN, (unsigned)thief.stolen);
	if (thief.stolen != 1)
		fail_msg("the proxy did not see the container's start (stolen %d)", thief.stolen);
	if (rc != 0) {
		chaos_violation("port stolen: launch answered %s: %s", berth_code_name(rc), st.message);
	} else {
		for (size_t i = 0; i < r->n_skipped_ports; i++)
			skipped |= r->skipped_ports[i]->port == first &&
			    strcmp(r->skipped_ports[i]->reason, "host") == 0;
		printf("# port stolen: launched on %u, %zu port(s) skipped\n", r->service->port,
		    r->n_skipped_ports);
		if (r->service->port != first + 1u || !skipped)
			chaos_violation("port stolen: launched on %u (want %u, with %u skipped as host)",
			    r->service->port, first + 1u, first);
		else
			chaos_checked(1);
		snprintf(id, sizeof(id), "%s", r->service->service_id);
		berth_reply_free(&r->base);
	}
	chaos_check_agreement(&chaos_dmn, "after a port was stolen before the start", 3000);
	thief_release(&thief);
	chaos_remove_all_services(&chaos_dmn);

	/* Both ports gone: RESOURCE_EXHAUSTED, no row, no container, the ports free again. */
	blocker = listen_port(first + 1);
	assert_true(blocker >= 0);
	pthread_mutex_lock(&thief.lock);
	thief.armed = 1;
	thief.stolen = 0;
	pthread_mutex_unlock(&thief.lock);
	rc = chaos_launch(chaos_dmn.e.client, tpl, NULL, NULL, &st);
	chaos_fault(F_PORT_STOLEN, (unsigned)thief.stolen);
	printf("# both ports taken: launch answered %s: %s\n", berth_code_name(rc), st.message);
	if (rc != BERTH__V1__CODE__RESOURCE_EXHAUSTED)
		chaos_violation("ports stolen: launch answered %s: %s (want RESOURCE_EXHAUSTED)",
		    berth_code_name(rc), st.message);
	if (count_rows() != 0)
		chaos_violation("ports stolen: the failed launch left a row");
	chaos_check_agreement(&chaos_dmn, "after a launch found no port", 3000);
	close(blocker);
	thief_release(&thief);
	docker_proxy_set_hook(&chaos_proxy, NULL, NULL);
	if (chaos_launch(chaos_dmn.e.client, tpl, NULL, &port, &st) != 0 || port != first)
		chaos_violation("ports stolen: the next launch answered %s on port %u (want OK on %u)",
		    berth_code_name(st.code), port, first);
	chaos_check_agreement(&chaos_dmn, "after the ports were free again", 3000);
	chaos_expect_no_violations_since(before);
}

static int
setup_group(void **state)
{
	(void)state;
	return chaos_setup_group("containers");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_container_exiting_at_once_is_launched_then_recorded_as_exited, chaos_teardown_test),
		cmocka_unit_test_teardown(test_container_ignoring_sigterm_is_killed_when_the_stop_timeout_ends, chaos_teardown_test),
		cmocka_unit_test_teardown(test_port_taken_between_allocation_and_start_moves_on_or_leaves_nothing, chaos_teardown_test),
	};

	/* BERTH_CHAOS_ONLY='*outage*' runs the matching tests only. */
	if (getenv("BERTH_CHAOS_ONLY") != NULL)
		cmocka_set_test_filter(getenv("BERTH_CHAOS_ONLY"));
	return cmocka_run_group_tests_name("chaos_containers", tests, setup_group, chaos_teardown_group);
}
