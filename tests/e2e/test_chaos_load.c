/*
 * test_chaos_load.c - berth under load (chaos suite 1).
 *
 * Sixteen clients with their own connections issue a mix of launch, ls,
 * info, stop, restart, rm and stats for a bounded time; every answer's code
 * must be one the operation may give under contention; a checker thread
 * compares ListServices with Docker's container list all along; berthd's RSS
 * is sampled from /proc. In full mode (make chaos) a shorter load runs with
 * berthd under valgrind: 0 bytes definitely lost.
 *
 * The framework (level, report, invariants, load) is tests/support/chaos.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chaos.h"
#include "clock.h"
#include "engine/docker.h"

/* 1. Sixteen clients, the whole mix, against the real engine. */
static void
test_load_sixteen_clients_keep_ports_names_and_memory_in_line(void **state)
{
	static struct chaos_load l;
	unsigned before = atomic_load(&chaos_report.violations);
	char tpl[40];
	long first, second, hwm;
	int64_t started;

	(void)state;
	memset(&l, 0, sizeof(l));
	chaos_tpl_name(tpl, sizeof(tpl), "load");
	assert_int_equal(chaos_daemon_start(&chaos_dmn, "load", NULL), 0);
	chaos_demo_template(&chaos_dmn, tpl, chaos_slice(0), 20, 2, NULL, 0);
	l.d = &chaos_dmn;
	l.phase = "load";
	l.tpl = tpl;
	l.clients = chaos_lv->load_clients;
	started = clock_monotonic_ms();
	chaos_run_load(&l, chaos_lv->load_seconds, NULL);
	chaos_print_load(&l, clock_monotonic_ms() - started);

	chaos_quiesce(&chaos_dmn, 20000);
	chaos_check_agreement(&chaos_dmn, "after the load", 5000);

	chaos_rss_halves(&l, &first, &second);
	hwm = chaos_proc_status_kb(chaos_dmn.e.proc.pid, "VmHWM:");
	chaos_note_rss(hwm);
	pthread_mutex_lock(&chaos_report.lock);
	chaos_report.load_rss_first_kb = first;
	chaos_report.load_rss_second_kb = second;
	chaos_report.load_rss_samples = l.n_rss;
	pthread_mutex_unlock(&chaos_report.lock);
	printf("# berthd peak RSS (VmHWM) %ld KiB\n", hwm);
	/* Generous: the second half may not grow past 1.5 x the first plus 16 MiB. */
	if (l.n_rss < 4)
		chaos_violation("load: only %d RSS samples", l.n_rss);
	else if (second > first + first / 2 + 16384)
		chaos_violation("load: berthd's RSS grew from %ld KiB (first half) to %ld KiB (second half)",
		    first, second);
	else
		chaos_checked(1);
	chaos_remove_all_services(&chaos_dmn);
	chaos_check_agreement(&chaos_dmn, "after removing everything", 5000);
	chaos_expect_no_violations_since(before);
}

/* --- valgrind ----------------------------------------------------------------------------------- */

/* "definitely lost: 1,234 bytes in 5 blocks" -> 1234; 0 when absent. */
static long
valgrind_number(const char *log, const char *key)
{
	const char *p = strstr(log, key);
	long n = 0;

	if (p == NULL)
		return 0;
	for (p += strlen(key); *p == ' '; p++)
		;
	for (; (*p >= '0' && *p <= '9') || *p == ','; p++)
		if (*p != ',')
			n = n * 10 + (*p - '0');
	return n;
}

/* 9. (full) berthd under valgrind through a shorter load: no memory definitely lost. */
static void
test_valgrind_finds_no_leak_in_berthd_under_load(void **state)
{
	unsigned before = atomic_load(&chaos_report.violations);
	static struct chaos_load l;
	char vlog[PATH_MAX], opt[PATH_MAX + 16], tpl[40];
	const char *wrapper[] = { "valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite",
		"--num-callers=30", opt, NULL };
	const char *args[] = { "--on-exit", "remove", NULL };
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int status;

	(void)state;
	if (chaos_lv->valgrind_seconds == 0) {
		printf("# SKIPPED at level %s: make chaos runs berthd under valgrind\n", chaos_lv->name);
		skip();
	}
	if (system("valgrind --version >/dev/null 2>&1") != 0) {
		printf("# SKIPPED: valgrind is not installed\n");
		chaos_note("valgrind run skipped: valgrind not installed");
		skip();
	}
	snprintf(vlog, sizeof(vlog), "%.4000s/valgrind.log", chaos_log_dir);
	snprintf(opt, sizeof(opt), "--log-file=%s", vlog);
	chaos_tpl_name(tpl, sizeof(tpl), "vg");
	assert_int_equal(chaos_daemon_start_in(&chaos_dmn, "valgrind", NULL, args, wrapper, 120000), 0);
	chaos_demo_template(&chaos_dmn, tpl, chaos_slice(6), 20, 2, NULL, 0);
	memset(&l, 0, sizeof(l));
	l.d = &chaos_dmn;
	l.phase = "valgrind";
	l.not_peak = true;
	l.tpl = tpl;
	l.clients = 8;
	chaos_run_load(&l, chaos_lv->valgrind_seconds, NULL);
	chaos_print_load(&l, (int64_t)chaos_lv->valgrind_seconds * 1000);
	chaos_quiesce(&chaos_dmn, 30000);
	chaos_check_agreement(&chaos_dmn, "under valgrind", 10000);
	berth_close(chaos_dmn.e.client);
	chaos_dmn.e.client = NULL;
	status = berthd_proc_stop(&chaos_dmn.e.proc, 180);
	printf("# valgrind: berthd exited with %d\n", status);
	if ((f = fopen(vlog, "r")) != NULL) {
		char chunk[4096];
		size_t n;

		while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
			text = realloc(text, len + n + 1);
			memcpy(text + len, chunk, n);
			len += n;
		}
		fclose(f);
	}
	if (text == NULL)
		fail_msg("no valgrind log at %s", vlog);
	text[len] = '\0';
	pthread_mutex_lock(&chaos_report.lock);
	chaos_report.valgrind_ran = true;
	chaos_report.valgrind_lost = valgrind_number(text, "definitely lost:");
	chaos_report.valgrind_errors = valgrind_number(text, "ERROR SUMMARY:");
	pthread_mutex_unlock(&chaos_report.lock);
	printf("# valgrind: definitely lost %ld bytes, %ld errors (log %s)\n", chaos_report.valgrind_lost,
	    chaos_report.valgrind_errors, vlog);
	if (status != 0)
		chaos_violation("valgrind: berthd exited with %d", status);
	if (chaos_report.valgrind_lost != 0)
		chaos_violation("valgrind: %ld bytes definitely lost (see %s)", chaos_report.valgrind_lost, vlog);
	else
		chaos_checked(1);
	if (chaos_report.valgrind_errors != 0)
		chaos_violation("valgrind: %ld memcheck errors (see %s)", chaos_report.valgrind_errors, vlog);
	else
		chaos_checked(1);
	if (strstr(text, "ERROR SUMMARY:") == NULL)
		chaos_violation("valgrind: no summary in %s", vlog);
	free(text);
	chaos_expect_no_violations_since(before);
}

static int
setup_group(void **state)
{
	(void)state;
	return chaos_setup_group("load");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_load_sixteen_clients_keep_ports_names_and_memory_in_line, chaos_teardown_test),
		cmocka_unit_test_teardown(test_valgrind_finds_no_leak_in_berthd_under_load, chaos_teardown_test),
	};

	/* BERTH_CHAOS_ONLY='*outage*' runs the matching tests only. */
	if (getenv("BERTH_CHAOS_ONLY") != NULL)
		cmocka_set_test_filter(getenv("BERTH_CHAOS_ONLY"));
	return cmocka_run_group_tests_name("chaos_load", tests, setup_group, chaos_teardown_group);
}
