/*
 * test_chaos_outage.c - Docker going away under load (chaos suite 2b).
 *
 * berthd talks to Docker through tests/support/docker_proxy.c (the real
 * dockerd is never touched); the proxy goes down during a load: reads keep
 * answering, whatever needs Docker answers UNAVAILABLE, berthd recovers by
 * itself.
 *
 * The framework (level, report, invariants, load) is tests/support/chaos.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "chaos.h"
#include "clock.h"
#include "engine/docker.h"

/* --- 2b. Docker away under load ----------------------------------------------------------- */

/*
 * 2. Docker goes away (the proxy closes everything) during a load of 8
 * clients: reads keep answering from the registry, whatever needs Docker
 * answers UNAVAILABLE, berthd follows Docker again by itself; nothing is
 * lost or left without a row.
 */
static void
test_docker_outage_under_load_answers_unavailable_and_recovers_by_itself(void **state)
{
	static struct chaos_load l;
	unsigned before = atomic_load(&chaos_report.violations);
	const char *args[] = { "--docker-host", NULL, NULL };
	char host[160], tpl[40];
	int64_t started, up_at;
	berth_status st;
	long recovered = -1;

	(void)state;
	memset(&l, 0, sizeof(l));
	assert_int_equal(docker_proxy_start(&chaos_proxy), 0);
	snprintf(host, sizeof(host), "unix://%s", chaos_proxy.path);
	args[1] = host;
	chaos_tpl_name(tpl, sizeof(tpl), "outage");
	assert_int_equal(chaos_daemon_start(&chaos_dmn, "outage", args), 0);
	chaos_demo_template(&chaos_dmn, tpl, chaos_slice(1), 20, 2, NULL, 0);
	l.d = &chaos_dmn;
	l.phase = "outage";
	l.tpl = tpl;
	l.clients = 8;
	started = clock_monotonic_ms();
	chaos_run_load(&l, chaos_lv->outage_load_seconds, &chaos_proxy);
	chaos_print_load(&l, clock_monotonic_ms() - started);
	assert_true(atomic_load(&chaos_proxy.accepted) > 0); /* berthd did talk through the proxy */

	/* One more outage with nobody else calling: how soon does a launch work again? */
	assert_true(docker_proxy_down(&chaos_proxy));
	chaos_fault(F_OUTAGE, 1);
	if (chaos_launch(chaos_dmn.e.client, tpl, NULL, NULL, &st) != BERTH__V1__CODE__UNAVAILABLE)
		chaos_violation("outage: a launch with Docker away answered %s: %s", berth_code_name(st.code),
		    st.message);
	clock_sleep_ms(1000); /* deliberate: Docker stays away this long */
	assert_true(docker_proxy_up(&chaos_proxy));
	up_at = clock_monotonic_ms();
	while (clock_monotonic_ms() - up_at < 20000) {
		if (chaos_launch(chaos_dmn.e.client, tpl, NULL, NULL, &st) == 0) {
			recovered = (long)(clock_monotonic_ms() - up_at);
			break;
		}
		if (st.code != BERTH__V1__CODE__UNAVAILABLE &&
		    st.code != BERTH__V1__CODE__RESOURCE_EXHAUSTED)
			chaos_violation("outage: a launch after Docker came back answered %s: %s",
			    berth_code_name(st.code), st.message);
		if (st.code == BERTH__V1__CODE__RESOURCE_EXHAUSTED)
			chaos_remove_all_services(&chaos_dmn);
		clock_sleep_ms(100); /* a poll's pace, until the deadline */
	}
	pthread_mutex_lock(&chaos_report.lock);
	chaos_report.outage_ms += 1000;
	if (recovered > chaos_report.recovery_ms_max)
		chaos_report.recovery_ms_max = recovered;
	pthread_mutex_unlock(&chaos_report.lock);
	printf("# outage: a launch worked again %ld ms after Docker came back\n", recovered);
	if (recovered < 0)
		chaos_violation("outage: no launch worked within 20 s of Docker's return");
	chaos_quiesce(&chaos_dmn, 20000);
	chaos_check_agreement(&chaos_dmn, "after the Docker outages", 10000);
	if (kill(chaos_dmn.e.proc.pid, 0) != 0)
		chaos_violation("outage: berthd is gone");
	chaos_expect_no_violations_since(before);
}

static int
setup_group(void **state)
{
	(void)state;
	return chaos_setup_group("outage");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_docker_outage_under_load_answers_unavailable_and_recovers_by_itself, chaos_teardown_test),
	};

	/* BERTH_CHAOS_ONLY='*outage*' runs the matching tests only. */
	if (getenv("BERTH_CHAOS_ONLY") != NULL)
		cmocka_set_test_filter(getenv("BERTH_CHAOS_ONLY"));
	return cmocka_run_group_tests_name("chaos_outage", tests, setup_group, chaos_teardown_group);
}
