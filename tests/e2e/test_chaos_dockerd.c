/*
 * test_chaos_dockerd.c - the real dockerd restarted under five supervised
 * services (make chaos only: every other suite plays Docker going away with
 * a proxy, because restarting the shared engine stops every container on
 * it). dockerd stops its containers as it goes (exit 0 on SIGTERM for the
 * demo), comes back, and berth must restart each service exactly once:
 * an outage is not five crashes, and a container stopped by the outage is
 * down, not done, whatever its exit code.
 *
 * At the quick level (make test) it is skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "e2e.h"

#define RANGE_FIRST 18600
#define RANGE_LAST 18619
#define SERVICES 5

static bool
engine_answers(void)
{
	return system("curl -sf --max-time 2 --unix-socket /var/run/docker.sock "
		      "http://localhost/_ping >/dev/null 2>&1") == 0;
}

static void
test_a_dockerd_restart_is_one_restart_per_service(void **state)
{
	const char *level = getenv("BERTH_CHAOS_LEVEL");
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	Berth__V1__LaunchServiceResponse *lr[SERVICES];
	struct e2e_daemon dmn;
	berth_status st;
	int64_t t0;

	(void)state;
	if (level == NULL || strcmp(level, "full") != 0) {
		printf("# restarts the shared dockerd: make chaos only (BERTH_CHAOS_LEVEL=full)\n");
		skip();
	}
	memset(&dmn, 0, sizeof(dmn));
	assert_int_equal(e2e_daemon_start(&dmn, NULL), 0);
	e2e_demo_template(&t, "chaos-dockerd", RANGE_FIRST, RANGE_LAST);
	t.restart = "on-failure";
	assert_int_equal(e2e_put_template(dmn.client, &t, &st), 0);
	for (int i = 0; i < SERVICES; i++) {
		lr[i] = e2e_launch(dmn.client, "chaos-dockerd", "", 0, &st);
		if (lr[i] == NULL)
			fail_msg("launch: %s", st.message);
	}
	/* dockerd (with its containerd shim children) gone, then started as .ci/run does. */
	assert_int_equal(system("pkill -TERM -x dockerd"), 0);
	t0 = clock_monotonic_ms();
	while (engine_answers() && clock_monotonic_ms() - t0 < 30000)
		clock_sleep_ms(100);
	while (system("pgrep -x dockerd >/dev/null") == 0 && clock_monotonic_ms() - t0 < 60000)
		clock_sleep_ms(100);
	assert_int_equal(system("sh tests/docker-up.sh"), 0);
	printf("# dockerd away for %lld ms\n", (long long)(clock_monotonic_ms() - t0));
	for (int i = 0; i < SERVICES; i++) {
		Berth__V1__GetServiceRequest req = BERTH__V1__GET_SERVICE_REQUEST__INIT;
		int64_t until = clock_monotonic_ms() + 30000;
		bool back = false;

		req.service_id = lr[i]->service->service_id;
		req.registry_only = true;
		while (!back && clock_monotonic_ms() < until) {
			ProtobufCMessage *reply = NULL;

			if (berth_call(dmn.client, "GetService", &req.base, &reply, &st) == 0) {
				Berth__V1__Service *s = ((Berth__V1__GetServiceResponse *)reply)->service;

				back = strcmp(s->status, "running") == 0 && s->restarts >= 1;
			}
			berth_reply_free(reply);
			if (!back)
				clock_sleep_ms(100);
		}
		if (!back)
			fail_msg("%s is not running again", lr[i]->service->service_id);
	}
	clock_sleep_ms(2000); /* deliberate: a second count would show by now */
	for (int i = 0; i < SERVICES; i++) {
		Berth__V1__GetServiceRequest req = BERTH__V1__GET_SERVICE_REQUEST__INIT;
		ProtobufCMessage *reply = NULL;

		req.service_id = lr[i]->service->service_id;
		req.registry_only = true;
		assert_int_equal(berth_call(dmn.client, "GetService", &req.base, &reply, &st), 0);
		assert_int_equal(((Berth__V1__GetServiceResponse *)reply)->service->restarts, 1);
		assert_string_equal(((Berth__V1__GetServiceResponse *)reply)->service->status,
		    "running");
		berth_reply_free(reply);
		berth_reply_free(&lr[i]->base);
	}
	e2e_daemon_destroy(&dmn, true);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_dockerd_restart_is_one_restart_per_service),
	};

	return cmocka_run_group_tests_name("chaos_dockerd", tests, NULL, NULL);
}
