/*
 * test_image_push.c - tag and push to a registry, and the pushed digest
 * read back (docker_image_tag, docker_image_push, docker_image_repo_digest:
 * what berthd --registry does for the swarm backend), against this host's
 * Docker engine and a registry of its own: /usr/bin/docker-registry (Debian's
 * docker-registry package) serving on 127.0.0.1 with storage under /tmp.
 * Docker lets 127.0.0.0/8 registries be plain HTTP without configuration.
 * Skipped when docker-registry is missing. No swarm is needed.
 *
 * The group teardown removes the tags it made, stops the registry and
 * deletes its storage, also after a failed test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "berth/v1/berth.pb-c.h"
#include "clock.h"
#include "engine/docker.h"
#include "e2e.h"

#define REGISTRY_BIN "/usr/bin/docker-registry"
#define T_MS 60000

static struct {
	struct docker *d;
	char dir[64];
	char registry[32]; /* "127.0.0.1:PORT" */
	char repo[300], tag[160];
	pid_t pid;
} fx;

/* A port nothing listens on now (the kernel's choice). */
static int
free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static bool
registry_answers(void)
{
	char cmd[200];

	snprintf(cmd, sizeof(cmd), "curl -sf -o /dev/null http://%s/v2/", fx.registry);
	return system(cmd) == 0;
}

static int
group_setup(void **state)
{
	char path[128];
	struct error err;
	FILE *f;
	int port;

	(void)state;
	if (access(REGISTRY_BIN, X_OK) != 0) {
		print_message("skipped: %s missing (apt-get install docker-registry)\n",
		    REGISTRY_BIN);
		return 0;
	}
	if (docker_open(&fx.d, NULL, &err) != 0 || (port = free_port()) < 0)
		return -1;
	snprintf(fx.dir, sizeof(fx.dir), "/tmp/berth-registry-e2e.XXXXXX");
	if (mkdtemp(fx.dir) == NULL)
		return -1;
	snprintf(fx.registry, sizeof(fx.registry), "127.0.0.1:%d", port);
	snprintf(path, sizeof(path), "%s/config.yml", fx.dir);
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	fprintf(f, "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
		   "    rootdirectory: %s/data\nhttp:\n  addr: %s\n", fx.dir, fx.registry);
	fclose(f);
	if ((fx.pid = fork()) == 0) {
		char log[128];
		snprintf(log, sizeof(log), "%s/registry.log", fx.dir);
		if (freopen(log, "w", stdout) == NULL || dup2(fileno(stdout), 2) < 0)
			_exit(126);
		execl(REGISTRY_BIN, REGISTRY_BIN, "serve", path, (char *)NULL);
		_exit(127);
	}
	for (int64_t until = clock_monotonic_ms() + 10000; !registry_answers();) {
		if (clock_monotonic_ms() > until)
			return -1;
		usleep(100000);
	}
	return 0;
}

static int
group_teardown(void **state)
{
	char cmd[200];
	struct error err;

	(void)state;
	if (fx.d != NULL && fx.repo[0] != '\0') {
		char ref[480];
		snprintf(ref, sizeof(ref), "%s:%s", fx.repo, fx.tag);
		docker_image_remove(fx.d, ref, false, T_MS, &err);
	}
	if (fx.pid > 0) {
		kill(fx.pid, SIGTERM);
		waitpid(fx.pid, NULL, 0);
	}
	if (fx.dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx.dir);
		if (system(cmd) != 0)
			return -1;
	}
	docker_close(fx.d);
	return 0;
}

static void
test_push_gives_the_digest_every_node_pulls(void **state)
{
	char digest[80], again[80], found[80], ref[600];
	struct error err;

	(void)state;
	if (fx.pid <= 0)
		skip();
	assert_int_equal(docker_registry_reference(fx.registry, E2E_DEMO_IMAGE, fx.repo,
	    sizeof(fx.repo), fx.tag, sizeof(fx.tag)), 0);
	assert_int_equal(docker_image_tag(fx.d, E2E_DEMO_IMAGE, fx.repo, fx.tag, T_MS, &err), 0);
	assert_int_equal(docker_image_push(fx.d, fx.repo, fx.tag, digest, T_MS, &err), 0);
	assert_memory_equal(digest, "sha256:", 7);
	/* What create pins the service to. */
	assert_int_equal(docker_image_repo_digest(fx.d, E2E_DEMO_IMAGE, fx.repo, found,
	    sizeof(found), T_MS, &err), 0);
	assert_string_equal(found, digest);
	/* A second push finds every layer there: the same digest. */
	assert_int_equal(docker_image_push(fx.d, fx.repo, fx.tag, again, T_MS, &err), 0);
	assert_string_equal(again, digest);
	/* The pinned reference names an image the engine knows. */
	snprintf(ref, sizeof(ref), "%s:%s@%s", fx.repo, fx.tag, digest);
	bool exists = false;
	assert_int_equal(docker_image_exists(fx.d, ref, &exists, T_MS, &err), 0);
}

static void
test_push_to_a_silent_registry_is_unavailable(void **state)
{
	char registry[32], repo[300], tag[160], digest[80];
	struct error err;
	int port = free_port();

	(void)state;
	if (fx.pid <= 0)
		skip();
	snprintf(registry, sizeof(registry), "127.0.0.1:%d", port);
	assert_int_equal(docker_registry_reference(registry, E2E_DEMO_IMAGE, repo, sizeof(repo),
	    tag, sizeof(tag)), 0);
	assert_int_equal(docker_image_tag(fx.d, E2E_DEMO_IMAGE, repo, tag, T_MS, &err), 0);
	assert_int_equal(docker_image_push(fx.d, repo, tag, digest, T_MS, &err),
	    BERTH__V1__CODE__UNAVAILABLE);
	print_message("push to nobody: %s\n", err.message);
	assert_non_null(strstr(err.message, registry));
	assert_string_equal(digest, "");
	{
		char ref[480];
		snprintf(ref, sizeof(ref), "%s:%s", repo, tag);
		assert_int_equal(docker_image_remove(fx.d, ref, false, T_MS, &err), 0);
	}
}

static void
test_an_image_never_pushed_has_no_digest_there(void **state)
{
	char found[80];
	struct error err;

	(void)state;
	if (fx.pid <= 0)
		skip();
	assert_int_equal(docker_image_repo_digest(fx.d, E2E_DEMO_IMAGE, "127.0.0.1:1/nothing",
	    found, sizeof(found), T_MS, &err), BERTH__V1__CODE__NOT_FOUND);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_push_gives_the_digest_every_node_pulls),
		cmocka_unit_test(test_push_to_a_silent_registry_is_unavailable),
		cmocka_unit_test(test_an_image_never_pushed_has_no_digest_there),
	};

	return cmocka_run_group_tests_name("image_push", tests, group_setup, group_teardown);
}
