/*
 * test_log_pieces.c - the pieces GetServiceLogs and ExecService rest on:
 * timestamps as text (common/timestamp.c), the logs cursor
 * (service_logs_cursor_parse), Docker's multiplexed frames taken apart as
 * they arrive in any cut (engine/docker_frames.c), and output made a valid
 * proto string (utf8_replace_invalid).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "timestamp.h"
#include "utf8.h"
#include "core/service_logs.h"
#include "engine/docker_internal.h"

static void
test_rfc3339_and_unix_seconds_parse_to_the_nanosecond(void **state)
{
	struct timestamp t;
	char buf[TIMESTAMP_UNIX_LEN];

	(void)state;
	assert_true(timestamp_parse("2026-12-05T10:00:00Z", &t));
	assert_int_equal(t.sec, 1796464800);
	assert_int_equal(t.nsec, 0);
	assert_true(timestamp_parse("2026-12-05T10:00:00.123456789Z", &t));
	assert_int_equal(t.nsec, 123456789);
	assert_true(timestamp_parse("2026-12-05T12:00:00.5+02:00", &t));
	assert_int_equal(t.sec, 1796464800);
	assert_int_equal(t.nsec, 500000000);
	assert_true(timestamp_parse("1970-01-01t00:00:01z", &t));
	assert_int_equal(t.sec, 1);
	assert_true(timestamp_parse("2024-02-29T00:00:00Z", &t)); /* a leap day */
	assert_true(timestamp_parse("1764928800", &t));
	assert_int_equal(t.sec, 1764928800);
	assert_true(timestamp_parse("1764928800.000000007", &t));
	assert_int_equal(t.nsec, 7);
	timestamp_format_unix(&t, buf, sizeof(buf));
	assert_string_equal(buf, "1764928800.000000007");
}

static void
test_garbage_times_are_refused(void **state)
{
	static const char *const bad[] = { "", " ", "yesterday", "-1", "+1", "1.", ".5",
		"1.0000000001", "1 ", "0x10", "2023-02-29T00:00:00Z", "2026-12-05T10:00:00",
		"2026-12-05T24:00:00Z", "2026-12-05T10:00:00+24:00", "2026-12-05", "1969-12-31T23:59:59Z",
		"2026-12-05T10:00:00Zjunk", "99999999999999", "2026-12-05T10:00:00.Z" };
	struct timestamp t;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (timestamp_parse(bad[i], &t))
			fail_msg("accepted \"%s\"", bad[i]);
}

static void
test_the_logs_cursor_is_read_back_exactly_and_nothing_else(void **state)
{
	static const char *const bad[] = { "", "c1", "c1.", "c1.1.1", "c1.1.1.1.", "c1.1..1",
		"c1.1.1000000000.1", "c1.1.1.100000001", "c2.1.1.1", "C1.1.1.1", "c1.+1.1.1",
		"c1.1.1.1 ", "c1.253402300800.0.0" };
	struct timestamp t;
	uint32_t n;

	(void)state;
	assert_int_equal(service_logs_cursor_parse("c1.1764928800.000000123.4", &t, &n), 0);
	assert_int_equal(t.sec, 1764928800);
	assert_int_equal(t.nsec, 123);
	assert_int_equal(n, 4);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (service_logs_cursor_parse(bad[i], &t, &n) == 0)
			fail_msg("accepted \"%s\"", bad[i]);
}

/* What the frame consumer handed on: "1:text|2:text|". */
struct collected {
	char text[256];
};

static int
collect(void *arg, int stream, const char *data, size_t len)
{
	struct collected *c = arg;
	size_t at = strlen(c->text);

	snprintf(c->text + at, sizeof(c->text) - at, "%d:%.*s|", stream, (int)len, data);
	return 0;
}

static size_t
frame(unsigned char *out, int stream, const char *text)
{
	size_t len = strlen(text);

	out[0] = (unsigned char)stream;
	out[1] = out[2] = out[3] = 0;
	out[4] = out[5] = out[6] = 0;
	out[7] = (unsigned char)len;
	memcpy(out + 8, text, len);
	return 8 + len;
}

/* Frames cut anywhere across reads come out whole, in order, each with its stream. */
static void
test_frames_cut_at_every_byte_come_out_whole(void **state)
{
	unsigned char wire[128];
	size_t len = 0;

	(void)state;
	len += frame(wire + len, 1, "out one\n");
	len += frame(wire + len, 2, "err\n");
	len += frame(wire + len, 1, "out two\n");
	for (size_t cut = 0; cut <= len; cut++) {
		struct docker_buf body = { .limit = 1024 };
		struct collected c = { "" };
		bool raw = false;

		assert_int_equal(docker_buf_append(&body, wire, cut), 0);
		assert_int_equal(docker_frames_consume(&body, false, &raw, collect, &c), 0);
		assert_int_equal(docker_buf_append(&body, wire + cut, len - cut), 0);
		assert_int_equal(docker_frames_consume(&body, true, &raw, collect, &c), 0);
		assert_false(raw);
		assert_string_equal(c.text, "1:out one\n|2:err\n|1:out two\n|");
		docker_buf_free(&body);
	}
}

/* A TTY's stream has no frames: it comes out line by line as stdout. */
static void
test_a_raw_stream_comes_out_as_lines(void **state)
{
	struct docker_buf body = { .limit = 1024 };
	struct collected c = { "" };
	bool raw = false;

	(void)state;
	assert_int_equal(docker_buf_append(&body, "hello\nwor", 9), 0);
	assert_int_equal(docker_frames_consume(&body, false, &raw, collect, &c), 0);
	assert_true(raw);
	assert_int_equal(docker_buf_append(&body, "ld\nend", 6), 0);
	assert_int_equal(docker_frames_consume(&body, true, &raw, collect, &c), 0);
	assert_string_equal(c.text, "1:hello\n|1:world\n|1:end|");
	docker_buf_free(&body);
}

static void
test_bad_bytes_and_nul_become_the_replacement_character(void **state)
{
	const char in[] = "a\xff" "b\0c\xc3(\xe2\x82\xac";
	char out[3 * sizeof(in) + 1];

	(void)state;
	{
	size_t n = utf8_replace_invalid(out, in, sizeof(in) - 1);

	assert_int_equal(n, strlen(out));
	assert_string_equal(out, "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd(\xe2\x82\xac");
	assert_true(utf8_valid(out));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc3339_and_unix_seconds_parse_to_the_nanosecond),
		cmocka_unit_test(test_garbage_times_are_refused),
		cmocka_unit_test(test_the_logs_cursor_is_read_back_exactly_and_nothing_else),
		cmocka_unit_test(test_frames_cut_at_every_byte_come_out_whole),
		cmocka_unit_test(test_a_raw_stream_comes_out_as_lines),
		cmocka_unit_test(test_bad_bytes_and_nul_become_the_replacement_character),
	};

	return cmocka_run_group_tests_name("log_pieces", tests, NULL, NULL);
}
