/*
 * test_service_url.c - the url a service is reached at (lifecycle_set_url):
 * the publish address and the port, localhost for a wildcard address, an
 * IPv6 address in brackets.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/berthd.h"
#include "core/lifecycle.h"


static void
assert_url(const char *publish_address, uint32_t port, const char *want)
{
	static struct berthd d;
	Berth__V1__Service s = BERTH__V1__SERVICE__INIT;
	struct call call;

	memset(&call, 0, sizeof(call));
	arena_init(&call.arena);
	d.config.publish_address = publish_address;
	call.app = &d;
	s.port = port;
	lifecycle_set_url(&call, &s);
	assert_string_equal(s.url, want);
	arena_reset(&call.arena);
}

static void
test_url_is_the_publish_address_and_port(void **state)
{
	(void)state;
	assert_url("127.0.0.1", 8080, "http://127.0.0.1:8080");
	assert_url("10.1.2.3", 1, "http://10.1.2.3:1");
	assert_url("192.168.100.200", 65535, "http://192.168.100.200:65535");
	assert_url("berth-host.example", 20000, "http://berth-host.example:20000");
}

static void
test_wildcard_address_is_localhost(void **state)
{
	(void)state;
	assert_url("0.0.0.0", 8010, "http://localhost:8010");
	assert_url("::", 8010, "http://localhost:8010");
}

static void
test_ipv6_address_goes_in_brackets(void **state)
{
	(void)state;
	assert_url("::1", 8010, "http://[::1]:8010");
	assert_url("fd00::42", 443, "http://[fd00::42]:443");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_is_the_publish_address_and_port),
		cmocka_unit_test(test_wildcard_address_is_localhost),
		cmocka_unit_test(test_ipv6_address_goes_in_brackets),
	};

	return cmocka_run_group_tests_name("service_url", tests, NULL, NULL);
}
