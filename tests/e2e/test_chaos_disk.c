/*
 * test_chaos_disk.c - the data directory's disk full (chaos suite 2c).
 *
 * berthd's data directory on a 2 MiB tmpfs, filled: changes are refused
 * clearly, nothing is corrupted, space back is service back. Needs root with
 * CAP_SYS_ADMIN (mount); skipped, saying so, without.
 *
 * The framework (level, report, invariants, load) is tests/support/chaos.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chaos.h"
#include "clock.h"
#include "engine/docker.h"

/* --- 2c. the disk under the data directory full ----------------------------------------- */

/* Fills the file system of `path` with it; the bytes written. */
static long
fill_disk(const char *path)
{
	static char chunk[65536];
	long total = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		return -1;
	memset(chunk, 'x', sizeof(chunk));
	for (size_t size = sizeof(chunk); size >= 512; size /= 2) {
		ssize_t n;

		while ((n = write(fd, chunk, size)) > 0)
			total += n;
	}
	close(fd);
	return total;
}

static bool
says_disk_full(const char *message)
{
	return strstr(message, "disk") != NULL && strstr(message, "full") != NULL;
}

/* 4. A full disk: changes are refused clearly, nothing is corrupted, space back is service back. */
static void
test_disk_full_refuses_changes_clearly_and_resumes_when_space_returns(void **state)
{
	unsigned before = atomic_load(&chaos_report.violations);
	char fs[PATH_MAX], data[PATH_MAX + 8], filler[PATH_MAX + 16], tpl[40], name[64];
	char id[ID_LEN];
	Berth__V1__ListServicesResponse *list;
	berth_status st;
	bool refused = false, resumed = false;
	int64_t freed_at;
	long filled;
	int rc;

	(void)state;
	snprintf(fs, sizeof(fs), "%s/fullfs", chaos_root);
	assert_int_equal(mkdir(fs, 0755), 0);
	if (mount("tmpfs", fs, "tmpfs", 0, "size=2m,mode=0755") != 0) {
		printf("# SKIPPED: cannot mount a 2 MiB tmpfs on %s (%s): this test needs root with "
		       "CAP_SYS_ADMIN\n",
		    fs, strerror(errno));
		chaos_note("disk-full test skipped: mount -t tmpfs not permitted");
		skip();
	}
	snprintf(chaos_mounted, sizeof(chaos_mounted), "%s", fs);
	snprintf(data, sizeof(data), "%s/data", fs);
	snprintf(filler, sizeof(filler), "%s/filler", fs);
	chaos_tpl_name(tpl, sizeof(tpl), "full");
	assert_int_equal(chaos_daemon_start_in(&chaos_dmn, NULL, data, NULL, NULL, 10000), 0);
	chaos_demo_template(&chaos_dmn, tpl, chaos_slice(3), 10, 2, NULL, 0);
	if (chaos_launch(chaos_dmn.e.client, tpl, id, NULL, &st) != 0)
		fail_msg("launch before the disk filled: %s: %s", berth_code_name(st.code), st.message);

	filled = fill_disk(filler);
	chaos_fault(F_DISK_FULL, 1);
	printf("# disk full: %ld KiB of filler on the 2 MiB tmpfs\n", filled / 1024);
	for (int i = 0; i < 40 && !refused; i++) {
		snprintf(name, sizeof(name), "%sbig%d", tpl, i);
		rc = chaos_put_big_template(&chaos_dmn, name, &st);
		if (rc == 0)
			continue;
		refused = true;
		printf("# disk full: PutTemplate #%d answered %s: %s\n", i + 1, berth_code_name(rc),
		    st.message);
		if (rc != BERTH__V1__CODE__RESOURCE_EXHAUSTED || !says_disk_full(st.message))
			chaos_violation("disk full: PutTemplate answered %s: %s (want RESOURCE_EXHAUSTED saying "
				  "the disk is full)",
			    berth_code_name(rc), st.message);
		else
			chaos_checked(1);
	}
	if (!refused)
		chaos_violation("disk full: 40 PutTemplate calls of 200 KiB each all fit on a full disk");

	/* A launch and a stop: refused as clearly, or done when they fit. */
	rc = chaos_launch(chaos_dmn.e.client, tpl, NULL, NULL, &st);
	printf("# disk full: LaunchService answered %s: %s\n", berth_code_name(rc), st.message);
	if (rc != 0 && (rc != BERTH__V1__CODE__RESOURCE_EXHAUSTED || !says_disk_full(st.message)))
		chaos_violation("disk full: LaunchService answered %s: %s", berth_code_name(rc), st.message);
	rc = chaos_by_id(chaos_dmn.e.client, OP_STOP, id, 1, &st);
	printf("# disk full: StopService answered %s: %s\n", berth_code_name(rc), st.message);
	if (rc != 0 && (rc != BERTH__V1__CODE__RESOURCE_EXHAUSTED || !says_disk_full(st.message)))
		chaos_violation("disk full: StopService answered %s: %s", berth_code_name(rc), st.message);

	/* Reads go on. */
	if ((list = chaos_list(chaos_dmn.e.client, &st)) == NULL)
		chaos_violation("disk full: ListServices answered %s: %s", berth_code_name(st.code),
		    st.message);
	berth_reply_free((ProtobufCMessage *)list);
	if (chaos_stats(chaos_dmn.e.client, &st) != 0)
		chaos_violation("disk full: GetStats answered %s: %s", berth_code_name(st.code), st.message);
	chaos_check_integrity(&chaos_dmn, "disk full");
	/* Full for a while longer: Docker's events about the stop find no room either. */
	clock_sleep_ms(2500); /* deliberate: the fault lasts */

	/* Space again: changes work again, without a restart. */
	assert_int_equal(unlink(filler), 0);
	freed_at = clock_monotonic_ms();
	while (!resumed && clock_monotonic_ms() - freed_at < 10000) {
		snprintf(name, sizeof(name), "%sback", tpl);
		if (chaos_put_big_template(&chaos_dmn, name, &st) == 0)
			resumed = true;
		else
			clock_sleep_ms(200); /* a poll's pace, until the deadline */
	}
	if (!resumed)
		chaos_violation("disk full: changes still refused 10 s after space returned: %s: %s",
		    berth_code_name(st.code), st.message);
	if (chaos_launch(chaos_dmn.e.client, tpl, NULL, NULL, &st) != 0)
		chaos_violation("disk full: a launch after space returned answered %s: %s",
		    berth_code_name(st.code), st.message);
	chaos_quiesce(&chaos_dmn, 10000);
	chaos_check_agreement(&chaos_dmn, "after the disk had space again", 8000);
	if (kill(chaos_dmn.e.proc.pid, 0) != 0)
		chaos_violation("disk full: berthd is gone");
	chaos_expect_no_violations_since(before);
}

static int
setup_group(void **state)
{
	(void)state;
	return chaos_setup_group("disk");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_disk_full_refuses_changes_clearly_and_resumes_when_space_returns, chaos_teardown_test),
	};

	/* BERTH_CHAOS_ONLY='*outage*' runs the matching tests only. */
	if (getenv("BERTH_CHAOS_ONLY") != NULL)
		cmocka_set_test_filter(getenv("BERTH_CHAOS_ONLY"));
	return cmocka_run_group_tests_name("chaos_disk", tests, setup_group, chaos_teardown_group);
}
