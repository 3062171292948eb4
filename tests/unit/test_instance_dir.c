/*
 * test_instance_dir.c - instance directories are created and deleted by
 * berthd (root) without following a link (server/core/instance_dir.c),
 * also while a container swaps a subdirectory for a link to a host
 * directory during the walk.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "berth/v1/berth.pb-c.h"
#include "clock.h"
#include "core/instance_dir.h"

struct fixture {
	char root[64];      /* a temporary directory */
	char templates[128]; /* root/templates */
	char host[128];      /* root/host: stands for a host directory to protect */
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->root, sizeof(f->root), "/tmp/berth-idir-XXXXXX");
	if (mkdtemp(f->root) == NULL)
		return -1;
	snprintf(f->templates, sizeof(f->templates), "%s/templates", f->root);
	snprintf(f->host, sizeof(f->host), "%s/host", f->root);
	if (mkdir(f->host, 0755) != 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void
write_files(const char *dir, int n)
{
	char path[512];

	for (int i = 0; i < n; i++) {
		int fd;

		snprintf(path, sizeof(path), "%s/f%d", dir, i);
		fd = open(path, O_CREAT | O_WRONLY, 0644);
		assert_true(fd >= 0);
		close(fd);
	}
}

static int
count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static bool
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static void
test_create_makes_the_three_levels(void **state)
{
	struct fixture *f = *state;
	char path[256];
	struct stat st;
	struct error err = { 0 };

	assert_int_equal(instance_dir_create(f->templates, "web", "instance_1", -1, -1, &err), 0);
	snprintf(path, sizeof(path), "%s/web/instance_1", f->templates);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0750);
	/* A second time keeps what is there. */
	write_files(path, 1);
	assert_int_equal(instance_dir_create(f->templates, "web", "instance_1", -1, -1, &err), 0);
	assert_int_equal(count_entries(path), 1);
}

/* The container's user owns its instance directory; the levels above stay root's. */
static void
test_create_gives_the_directory_to_the_user(void **state)
{
	struct fixture *f = *state;
	char path[256];
	struct stat st;
	struct error err = { 0 };

	assert_int_equal(instance_dir_create(f->templates, "web", "owned", 1234, 5678, &err), 0);
	snprintf(path, sizeof(path), "%s/web/owned", f->templates);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_uid, 1234);
	assert_int_equal(st.st_gid, 5678);
	snprintf(path, sizeof(path), "%s/web", f->templates);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_uid, getuid());
	/* UID alone keeps the group. */
	assert_int_equal(instance_dir_create(f->templates, "web", "uid-only", 4321, -1, &err), 0);
	snprintf(path, sizeof(path), "%s/web/uid-only", f->templates);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_uid, 4321);
	assert_int_equal(st.st_gid, getgid());
}

/* A template directory replaced by a link to a host path is not created through. */
static void
test_create_refuses_a_link_on_the_way(void **state)
{
	struct fixture *f = *state;
	char link[256], through[256];
	struct error err = { 0 };

	assert_int_equal(mkdir(f->templates, 0750), 0);
	snprintf(link, sizeof(link), "%s/web", f->templates);
	assert_int_equal(symlink(f->host, link), 0);
	assert_int_not_equal(instance_dir_create(f->templates, "web", "instance_1", -1, -1, &err), 0);
	assert_int_equal(err.code, BERTH__V1__CODE__FAILED_PRECONDITION);
	assert_non_null(strstr(err.message, "symbolic link"));
	snprintf(through, sizeof(through), "%s/instance_1", f->host);
	assert_false(exists(through));
}

static void
test_purge_deletes_the_tree_and_only_the_tree(void **state)
{
	struct fixture *f = *state;
	char dir[256], sub[300], deep[400], link[512], keep[256];
	struct error err = { 0 };

	assert_int_equal(instance_dir_create(f->templates, "web", "instance_1", -1, -1, &err), 0);
	assert_int_equal(instance_dir_create(f->templates, "web", "instance_2", -1, -1, &err), 0);
	snprintf(dir, sizeof(dir), "%s/web/instance_1", f->templates);
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	snprintf(deep, sizeof(deep), "%s/deeper", sub);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(mkdir(deep, 0700), 0);
	write_files(dir, 3);
	write_files(deep, 3);
	write_files(f->host, 5);
	/* Links to the host directory, to a file of it, and a dangling one. */
	snprintf(link, sizeof(link), "%s/to-host", sub);
	assert_int_equal(symlink(f->host, link), 0);
	snprintf(link, sizeof(link), "%s/to-file", dir);
	snprintf(keep, sizeof(keep), "%s/f0", f->host);
	assert_int_equal(symlink(keep, link), 0);
	snprintf(link, sizeof(link), "%s/dangling", dir);
	assert_int_equal(symlink("/nonexistent/berth", link), 0);

	assert_int_equal(instance_dir_purge(f->templates, "web", "instance_1", &err), 0);
	assert_false(exists(dir));
	assert_int_equal(count_entries(f->host), 5);
	snprintf(keep, sizeof(keep), "%s/web/instance_2", f->templates);
	assert_true(exists(keep));
	/* Gone already: still fine. */
	assert_int_equal(instance_dir_purge(f->templates, "web", "instance_1", &err), 0);
	assert_int_equal(instance_dir_purge(f->templates, "nope", "instance_1", &err), 0);
}

/* The instance directory itself swapped for a link: the link goes, not the host's files. */
static void
test_purge_of_an_instance_that_is_a_link(void **state)
{
	struct fixture *f = *state;
	char parent[256], link[512];
	struct error err = { 0 };

	write_files(f->host, 4);
	snprintf(parent, sizeof(parent), "%s/web", f->templates);
	assert_int_equal(instance_dir_create(f->templates, "web", "other", -1, -1, &err), 0);
	snprintf(link, sizeof(link), "%s/instance_1", parent);
	assert_int_equal(symlink(f->host, link), 0);
	assert_int_not_equal(instance_dir_purge(f->templates, "web", "instance_1", &err), 0);
	assert_int_equal(err.code, BERTH__V1__CODE__FAILED_PRECONDITION);
	assert_int_equal(count_entries(f->host), 4);
}

struct swapper {
	const char *sub;   /* instance_1/data: swapped for a link and back */
	const char *aside; /* where the real directory waits meanwhile */
	const char *host;
	atomic_bool stop;
	int swaps;
};

/*
 * What a process in the container does: data <-> a link to the host
 * directory, the link kept most of the time (the walk's window is while it
 * removes data's entries one by one).
 */
static void *
swap_loop(void *arg)
{
	struct swapper *s = arg;
	const struct timespec link_time = { 0, 200 * 1000 }, dir_time = { 0, 20 * 1000 };

	while (!atomic_load(&s->stop)) {
		if (rename(s->sub, s->aside) != 0)
			break; /* the walk took it */
		if (symlink(s->host, s->sub) == 0) {
			s->swaps++;
			nanosleep(&link_time, NULL);
			(void)unlink(s->sub);
		}
		if (rename(s->aside, s->sub) != 0)
			break;
		nanosleep(&dir_time, NULL);
	}
	return NULL;
}

/*
 * The attack from the hostile testing: while the walk runs, a subdirectory
 * is swapped for a link to a host directory over and over. Whatever the
 * interleaving, no file of the host directory may go.
 */
static void
test_purge_while_a_subdirectory_is_swapped_for_a_link(void **state)
{
	struct fixture *f = *state;
	int64_t deadline = clock_monotonic_ms() + 10000;
	int swaps = 0;

	write_files(f->host, 300);
	for (int round = 0; round < 60 && clock_monotonic_ms() < deadline; round++) {
		char dir[256], sub[300], aside[300];
		struct swapper s = { .host = f->host };
		struct error err = { 0 };
		pthread_t t;

		assert_int_equal(instance_dir_create(f->templates, "web", "instance_1", -1, -1, &err), 0);
		snprintf(dir, sizeof(dir), "%s/web/instance_1", f->templates);
		snprintf(sub, sizeof(sub), "%s/data", dir);
		snprintf(aside, sizeof(aside), "%s/data.aside", dir);
		assert_int_equal(mkdir(sub, 0755), 0);
		write_files(sub, 400);
		write_files(dir, 100);
		s.sub = sub;
		s.aside = aside;
		assert_int_equal(pthread_create(&t, NULL, swap_loop, &s), 0);
		clock_sleep_ms(1); /* pacing: let the swapping begin before the walk */
		(void)instance_dir_purge(f->templates, "web", "instance_1", &err);
		atomic_store(&s.stop, true);
		pthread_join(t, NULL);
		swaps += s.swaps;
		assert_int_equal(count_entries(f->host), 300);
		/* Whatever the walk left (it may lose the race for a moment), gone now. */
		assert_int_equal(instance_dir_purge(f->templates, "web", "instance_1", &err), 0);
		assert_false(exists(dir));
	}
	assert_true(swaps > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_makes_the_three_levels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_gives_the_directory_to_the_user, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_create_refuses_a_link_on_the_way, setup, teardown),
		cmocka_unit_test_setup_teardown(test_purge_deletes_the_tree_and_only_the_tree, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_purge_of_an_instance_that_is_a_link, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_purge_while_a_subdirectory_is_swapped_for_a_link,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
