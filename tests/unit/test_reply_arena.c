/*
 * test_reply_arena.c - libberth's reply memory (client/reply_arena.c):
 * replies decoded into an arena are whole, are freed through the address
 * of their message, and messages it never saw are left to protobuf-c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/v1/berth.pb-c.h"
#include "core/berthd.h"
#include "reply_arena.h"


/* A packed ListServicesResponse of n services (caller frees). */
static uint8_t *
packed_list(size_t n, size_t *len)
{
	Berth__V1__ListServicesResponse r = BERTH__V1__LIST_SERVICES_RESPONSE__INIT;
	Berth__V1__Service *services = calloc(n, sizeof(*services));
	char (*ids)[40] = calloc(n, sizeof(*ids));
	uint8_t *out;

	assert_non_null(services);
	assert_non_null(ids);
	r.services = calloc(n, sizeof(*r.services));
	r.n_services = n;
	for (size_t i = 0; i < n; i++) {
		berth__v1__service__init(&services[i]);
		snprintf(ids[i], sizeof(ids[i]), "web_instance_%zu", i + 1);
		services[i].service_id = ids[i];
		services[i].template_ = "web";
		services[i].status = "running";
		services[i].port = (uint32_t)(20000 + i);
		r.services[i] = &services[i];
	}
	*len = berth__v1__list_services_response__get_packed_size(&r);
	out = malloc(*len);
	berth__v1__list_services_response__pack(&r, out);
	free(r.services);
	free(services);
	free(ids);
	return out;
}

static Berth__V1__ListServicesResponse *
decode(struct reply_arena *a, const uint8_t *bytes, size_t len)
{
	return berth__v1__list_services_response__unpack(reply_arena_allocator(a), len, bytes);
}

static void
test_large_reply_is_whole_and_released_by_its_address(void **state)
{
	size_t len;
	uint8_t *bytes = packed_list(10000, &len);
	struct reply_arena *a = reply_arena_new();
	Berth__V1__ListServicesResponse *r;

	(void)state;
	assert_non_null(a);
	r = decode(a, bytes, len);
	assert_non_null(r);
	reply_arena_file(a, &r->base);
	assert_int_equal(r->n_services, 10000);
	assert_string_equal(r->services[0]->service_id, "web_instance_1");
	assert_string_equal(r->services[9999]->service_id, "web_instance_10000");
	assert_int_equal(r->services[9999]->port, 29999);
	assert_true(reply_arena_release(&r->base));
	assert_false(reply_arena_release(&r->base)); /* released once only */
	free(bytes);
}

static void
test_message_not_from_an_arena_is_not_claimed(void **state)
{
	size_t len;
	uint8_t *bytes = packed_list(3, &len);
	Berth__V1__ListServicesResponse *r =
	    berth__v1__list_services_response__unpack(NULL, len, bytes);

	(void)state;
	assert_non_null(r);
	assert_false(reply_arena_release(&r->base));
	berth__v1__list_services_response__free_unpacked(r, NULL);
	free(bytes);
}

/* A decode that fails leaves an arena the caller frees; nothing is filed. */
static void
test_failed_decode_frees_with_the_arena(void **state)
{
	static const uint8_t garbage[] = { 0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01 };
	struct reply_arena *a = reply_arena_new();

	(void)state;
	assert_non_null(a);
	assert_null(decode(a, garbage, sizeof(garbage)));
	reply_arena_free(a);
	reply_arena_free(NULL);
}

#define THREADS 4
#define ROUNDS 500

static uint8_t *shared_bytes;
static size_t shared_len;

static void *
decoder(void *arg)
{
	size_t *bad = arg;

	for (int i = 0; i < ROUNDS; i++) {
		struct reply_arena *a = reply_arena_new();
		Berth__V1__ListServicesResponse *r = a != NULL ? decode(a, shared_bytes, shared_len) : NULL;

		if (r == NULL) {
			(*bad)++;
			reply_arena_free(a);
			continue;
		}
		reply_arena_file(a, &r->base);
		if (r->n_services != 50 || strcmp(r->services[49]->service_id, "web_instance_50") != 0)
			(*bad)++;
		if (!reply_arena_release(&r->base))
			(*bad)++;
	}
	return NULL;
}

static void
test_replies_on_many_threads_are_filed_and_released_apart(void **state)
{
	pthread_t threads[THREADS];
	size_t bad[THREADS] = { 0 };

	(void)state;
	shared_bytes = packed_list(50, &shared_len);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, decoder, &bad[i]), 0);
	for (int i = 0; i < THREADS; i++) {
		pthread_join(threads[i], NULL);
		assert_int_equal(bad[i], 0);
	}
	free(shared_bytes);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_large_reply_is_whole_and_released_by_its_address),
		cmocka_unit_test(test_message_not_from_an_arena_is_not_claimed),
		cmocka_unit_test(test_failed_decode_frees_with_the_arena),
		cmocka_unit_test(test_replies_on_many_threads_are_filed_and_released_apart),
	};

	return cmocka_run_group_tests_name("reply_arena", tests, NULL, NULL);
}
