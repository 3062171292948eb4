/*
 * test_image_registry.c - images pushed to a registry for a swarm
 * (--registry): the name an image gets there, and what a push's JSON-lines
 * answer says (the digest pushed, the registry's error, and whether that
 * error means the registry is down).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "berth/v1/berth.pb-c.h"
#include "engine/docker.h"

#define REG "127.0.0.1:5000"

static void
assert_reference(const char *image, const char *want_repo, const char *want_tag)
{
	char repo[300], tag[160];

	assert_int_equal(docker_registry_reference(REG, image, repo, sizeof(repo), tag,
	    sizeof(tag)), 0);
	assert_string_equal(repo, want_repo);
	assert_string_equal(tag, want_tag);
}

static void
test_a_bare_name_gets_latest(void **state)
{
	(void)state;
	assert_reference("web", REG "/web", "latest");
}

static void
test_a_tag_is_kept(void **state)
{
	(void)state;
	assert_reference("web:v2", REG "/web", "v2");
	assert_reference("library/web:v2", REG "/library/web", "v2");
	assert_reference("localhost/web", REG "/web", "latest");
}

static void
test_another_registry_host_is_dropped(void **state)
{
	(void)state;
	assert_reference("host:5000/x/web:v2", REG "/x/web", "v2");
	assert_reference("ghcr.io/o/web", REG "/o/web", "latest");
	assert_reference("host:5000/x/web", REG "/x/web", "latest");
}

static void
test_a_digest_names_the_tag(void **state)
{
	(void)state;
	assert_reference("web@sha256:0123abcd", REG "/web", "sha256-0123abcd");
	assert_reference("web:v2@sha256:0123abcd", REG "/web", "v2");
}

static void
test_an_image_in_the_registry_keeps_its_own_name(void **state)
{
	char repo[300], tag[160];

	(void)state;
	assert_int_equal(docker_registry_reference(REG, REG "/x/web:v2", repo, sizeof(repo), tag,
	    sizeof(tag)), 1);
	assert_string_equal(repo, REG "/x/web");
	assert_string_equal(tag, "v2");
	assert_int_equal(docker_registry_reference(REG, REG "/web", repo, sizeof(repo), tag,
	    sizeof(tag)), 1);
	assert_string_equal(repo, REG "/web");
	assert_string_equal(tag, "latest");
	/* Another port of the same host is another registry. */
	assert_int_equal(docker_registry_reference(REG, "127.0.0.1:5001/web", repo, sizeof(repo),
	    tag, sizeof(tag)), 0);
	assert_string_equal(repo, REG "/web");
}

static void
test_empty_or_too_long_is_refused(void **state)
{
	char repo[16], tag[160];

	(void)state;
	assert_int_equal(docker_registry_reference(REG, "", repo, sizeof(repo), tag, sizeof(tag)),
	    -1);
	assert_int_equal(docker_registry_reference("", "web", repo, sizeof(repo), tag, sizeof(tag)),
	    -1);
	assert_int_equal(docker_registry_reference(REG, "a-rather-long-name", repo, sizeof(repo),
	    tag, sizeof(tag)), -1);
	assert_int_equal(docker_registry_reference(REG, "web:", repo, sizeof(repo), tag,
	    sizeof(tag)), -1);
}

static void
feed(struct docker_push_progress *p, const char *line)
{
	docker_push_line(p, line, strlen(line));
}

static void
test_push_stream_gives_the_digest(void **state)
{
	struct docker_push_progress p = { .error = "", .digest = "" };

	(void)state;
	feed(&p, "{\"status\":\"The push refers to repository [127.0.0.1:5000/web]\"}");
	feed(&p, "{\"status\":\"Pushed\",\"progressDetail\":{},\"id\":\"5f70bf18a086\"}");
	feed(&p, "not json");
	feed(&p, "{\"status\":\"latest: digest: sha256:abc size: 528\"}");
	feed(&p, "{\"progressDetail\":{},\"aux\":{\"Tag\":\"latest\",\"Digest\":\"sha256:abc\","
		 "\"Size\":528}}");
	assert_string_equal(p.digest, "sha256:abc");
	assert_string_equal(p.error, "");
}

static void
test_push_stream_error_is_kept(void **state)
{
	struct docker_push_progress p = { .error = "", .digest = "" };
	const char *down = "Get \"http://127.0.0.1:5999/v2/\": dial tcp 127.0.0.1:5999: connect: "
			   "connection refused";
	char line[512];

	(void)state;
	snprintf(line, sizeof(line), "{\"errorDetail\":{\"message\":\"%s\"}}", "x");
	feed(&p, "{\"status\":\"The push refers to repository [127.0.0.1:5999/web]\"}");
	feed(&p, "{\"errorDetail\":{\"message\":\"denied: quota\"},\"error\":\"denied: quota\"}");
	feed(&p, line); /* the first error is the one told */
	assert_string_equal(p.error, "denied: quota");
	assert_string_equal(p.digest, "");
	assert_int_equal(docker_push_error_code(p.error), BERTH__V1__CODE__FAILED_PRECONDITION);
	assert_int_equal(docker_push_error_code(down), BERTH__V1__CODE__UNAVAILABLE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_bare_name_gets_latest),
		cmocka_unit_test(test_a_tag_is_kept),
		cmocka_unit_test(test_another_registry_host_is_dropped),
		cmocka_unit_test(test_a_digest_names_the_tag),
		cmocka_unit_test(test_an_image_in_the_registry_keeps_its_own_name),
		cmocka_unit_test(test_empty_or_too_long_is_refused),
		cmocka_unit_test(test_push_stream_gives_the_digest),
		cmocka_unit_test(test_push_stream_error_is_kept),
	};

	return cmocka_run_group_tests_name("image_registry", tests, NULL, NULL);
}
