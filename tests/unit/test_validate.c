/*
 * test_validate.c - the input checks every request goes through
 * (common/validate.c): names, ports, paths, env entries, images, UTF-8 and
 * whole templates. Each failing check must name the offending field.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/berthd.h"
#include "validate.h"


/* A string of `n` copies of `c`; the caller frees it. */
static char *
repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* validate_name() rejects `s` with `reason`, naming `field`. */
static void
assert_name_rejected(const char *s, const char *reason)
{
	struct error err;

	memset(&err, 0, sizeof(err));
	assert_int_equal(validate_name("template.name", s, &err), -1);
	assert_string_equal(err.field, "template.name");
	assert_string_equal(err.reason, reason);
	assert_non_null(strstr(err.message, "template.name"));
}

/* --- names ------------------------------------------------------------------ */

static void
test_name_accepts_lowercase_digits_and_separators(void **state)
{
	struct error err;

	(void)state;
	assert_int_equal(validate_name("name", "buckets", &err), 0);
	assert_int_equal(validate_name("name", "a", &err), 0);
	assert_int_equal(validate_name("name", "0day", &err), 0);
	assert_int_equal(validate_name("name", "auth_service", &err), 0);
	assert_int_equal(validate_name("name", "a-b.c_9", &err), 0);
	assert_int_equal(validate_name("name", "a.b", &err), 0);
}

static void
test_name_rejects_empty_as_missing(void **state)
{
	(void)state;
	assert_name_rejected("", "MISSING");
}

static void
test_name_accepts_63_chars_and_rejects_64(void **state)
{
	struct error err;
	char *ok = repeat('a', NAME_MAX_LEN);
	char *too_long = repeat('a', NAME_MAX_LEN + 1);

	(void)state;
	assert_int_equal(NAME_MAX_LEN, 63);
	assert_int_equal(validate_name("name", ok, &err), 0);
	assert_name_rejected(too_long, "TOO_LONG");
	free(ok);
	free(too_long);
}

static void
test_name_rejects_very_long_input_without_overflow(void **state)
{
	struct error err;
	char *huge = repeat('b', 1 << 20);

	(void)state;
	assert_int_equal(validate_name("name", huge, &err), -1);
	assert_string_equal(err.reason, "TOO_LONG");
	assert_non_null(strstr(err.message, "1048576"));
	free(huge);
}

static void
test_name_rejects_uppercase(void **state)
{
	(void)state;
	assert_name_rejected("Buckets", "INVALID_NAME");
	assert_name_rejected("bucKets", "INVALID_NAME");
}

static void
test_name_rejects_leading_underscore_dash_and_dot(void **state)
{
	(void)state;
	assert_name_rejected("_buckets", "INVALID_NAME");
	assert_name_rejected("-buckets", "INVALID_NAME");
	assert_name_rejected(".buckets", "INVALID_NAME");
}

static void
test_name_rejects_dot_dot_anywhere(void **state)
{
	struct error err;

	(void)state;
	assert_name_rejected("..", "INVALID_NAME");
	assert_name_rejected("a..b", "INVALID_NAME");
	assert_int_equal(validate_name("n", "a..", &err), -1);
	assert_non_null(strstr(err.message, ".."));
}

static void
test_name_rejects_slash_and_path_separators(void **state)
{
	(void)state;
	assert_name_rejected("a/b", "INVALID_NAME");
	assert_name_rejected("a\\b", "INVALID_NAME");
}

static void
test_name_rejects_sql_and_shell_metacharacters(void **state)
{
	(void)state;
	assert_name_rejected("x'; DROP TABLE templates; --", "INVALID_NAME");
	assert_name_rejected("x\"y", "INVALID_NAME");
	assert_name_rejected("a b", "INVALID_NAME");
	assert_name_rejected("a;b", "INVALID_NAME");
	assert_name_rejected("a$(id)", "INVALID_NAME");
	assert_name_rejected("caf\xc3\xa9", "INVALID_NAME");
	assert_name_rejected("a\nb", "INVALID_NAME");
}

static void
test_name_accepts_null_error_pointer(void **state)
{
	(void)state;
	assert_int_equal(validate_name("name", "Bad", NULL), -1);
	assert_int_equal(validate_name("name", "good", NULL), 0);
}

/* --- ports ------------------------------------------------------------------ */

static void
test_port_accepts_1_to_65535_only(void **state)
{
	struct error err;

	(void)state;
	assert_int_equal(validate_port("port", 0, &err), -1);
	assert_string_equal(err.field, "port");
	assert_string_equal(err.reason, "PORT_OUT_OF_RANGE");
	assert_int_equal(validate_port("port", 1, &err), 0);
	assert_int_equal(validate_port("port", 8080, &err), 0);
	assert_int_equal(validate_port("port", 65535, &err), 0);
	assert_int_equal(validate_port("port", 65536, &err), -1);
	assert_non_null(strstr(err.message, "65536"));
	assert_int_equal(validate_port("port", UINT32_MAX, &err), -1);
}

/* --- absolute paths --------------------------------------------------------- */

static void
assert_path_rejected(const char *s, const char *reason)
{
	struct error err;

	memset(&err, 0, sizeof(err));
	assert_int_equal(validate_abs_path("template.mount_path", s, true, &err), -1);
	assert_string_equal(err.field, "template.mount_path");
	assert_string_equal(err.reason, reason);
}

static void
test_path_accepts_plain_absolute_paths(void **state)
{
	struct error err;

	(void)state;
	assert_int_equal(validate_abs_path("p", "/", false, &err), 0);
	assert_int_equal(validate_abs_path("p", "/app", false, &err), 0);
	assert_int_equal(validate_abs_path("p", "/srv/data/", false, &err), 0);
	assert_int_equal(validate_abs_path("p", "/a//b", false, &err), 0);
	assert_int_equal(validate_abs_path("p", "/.hidden/..x/x..", false, &err), 0);
}

static void
test_path_rejects_dot_and_dot_dot_components(void **state)
{
	(void)state;
	assert_path_rejected("/a/../b", "INVALID_PATH");
	assert_path_rejected("/a/./b", "INVALID_PATH");
	assert_path_rejected("/..", "INVALID_PATH");
	assert_path_rejected("/a/..", "INVALID_PATH");
	assert_path_rejected("/a/.", "INVALID_PATH");
	assert_path_rejected("/./", "INVALID_PATH");
}

static void
test_path_rejects_relative_paths(void **state)
{
	(void)state;
	assert_path_rejected("relative", "INVALID_PATH");
	assert_path_rejected("./app", "INVALID_PATH");
	assert_path_rejected("app/", "INVALID_PATH");
}

static void
test_path_empty_is_allowed_only_when_asked(void **state)
{
	struct error err;

	(void)state;
	assert_int_equal(validate_abs_path("p", "", true, &err), 0);
	assert_int_equal(validate_abs_path("p", "", false, &err), -1);
	assert_string_equal(err.reason, "MISSING");
}

static void
test_path_rejects_control_characters_and_bad_utf8(void **state)
{
	(void)state;
	assert_path_rejected("/a\nb", "INVALID_TEXT");
	assert_path_rejected("/a\xff", "INVALID_TEXT");
}

/* "//" passed the check and then failed the launch: it is "/" once normalised. */
static void
test_path_normalised_before_the_check(void **state)
{
	struct { const char *in, *out; } cases[] = {
		{ "//", "/" }, { "///", "/" }, { "/", "/" }, { "//data", "/data" },
		{ "/data//x///", "/data/x" }, { "/data/", "/data" }, { "", "" },
	};
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	struct error err = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[64];

		snprintf(buf, sizeof(buf), "%s", cases[i].in);
		validate_normalize_path(buf);
		assert_string_equal(buf, cases[i].out);
	}
	/* Normalised, "//" as a mount path is the container's root: refused. */
	t.name = "web";
	t.image = "web:1";
	t.port_range_start = 8000;
	t.port_range_end = 8010;
	t.container_port = 80;
	{
		char mount[] = "//";

		validate_normalize_path(mount);
		t.mount_path = mount;
		assert_int_equal(validate_template(&t, &err), -1);
		assert_string_equal(err.field, "template.mount_path");
		assert_int_equal(err.code, BERTH__V1__CODE__INVALID_ARGUMENT);
	}
}

/* A template cannot set BERTH_PORT again: containers got two values. */
static void
test_env_reserves_the_berth_prefix(void **state)
{
	struct error err = { 0 };

	(void)state;
	assert_int_equal(validate_env("template.env[0]", "BERTH_PORT=1", &err), -1);
	assert_string_equal(err.reason, "RESERVED_ENV");
	assert_string_equal(err.field, "template.env[0]");
	assert_int_equal(validate_env("template.env[0]", "BERTH_ANYTHING=x", &err), -1);
	assert_int_equal(validate_env("template.env[0]", "BERTHA=1", &err), 0);
	assert_int_equal(validate_env("template.env[0]", "MY_BERTH_PORT=1", &err), 0);
}

/*
 * 'launch rta b_instance_1' took the id rta_b_instance_1, and every later
 * 'launch rta_b' failed with ALREADY_EXISTS: names an operator gives start
 * with a letter and have no '_'; berth's own instance_N stays.
 */
static void
test_instance_names_keep_service_ids_unambiguous(void **state)
{
	struct error err = { 0 };

	(void)state;
	assert_int_equal(validate_instance_name("instance", "production", &err), 0);
	assert_int_equal(validate_instance_name("instance", "blue-2.eu", &err), 0);
	assert_int_equal(validate_instance_name("instance", "instance_7", &err), 0);
	assert_int_equal(validate_instance_name("instance", "b_instance_1", &err), -1);
	assert_string_equal(err.reason, "INVALID_INSTANCE_NAME");
	assert_string_equal(err.field, "instance");
	assert_int_equal(validate_instance_name("instance", "1", &err), -1);
	assert_int_equal(validate_instance_name("instance", "instance_", &err), -1);
	assert_int_equal(validate_instance_name("instance", "instance_1a", &err), -1);
	assert_int_equal(validate_instance_name("instance", "../x", &err), -1);
}

static void
test_path_rejects_longer_than_limit(void **state)
{
	struct error err;
	char *p = repeat('a', PATH_MAX_LEN + 1);

	(void)state;
	p[0] = '/';
	assert_int_equal(validate_abs_path("p", p, false, &err), -1);
	assert_string_equal(err.reason, "TOO_LONG");
	p[PATH_MAX_LEN] = '\0'; /* exactly the limit */
	assert_int_equal(validate_abs_path("p", p, false, &err), 0);
	free(p);
}

/* --- env ---------------------------------------------------------------------- */

static void
test_env_accepts_key_value(void **state)
{
	struct error err;

	(void)state;
	assert_int_equal(validate_env("env", "KEY=VALUE", &err), 0);
	assert_int_equal(validate_env("env", "_K1=", &err), 0);
	assert_int_equal(validate_env("env", "lower_case=x", &err), 0);
	assert_int_equal(validate_env("env", "A=b=c d", &err), 0);
	assert_int_equal(validate_env("env", "A=\"quoted\" \xe6\x97\xa5", &err), 0);
}

static void
test_env_rejects_missing_or_bad_key(void **state)
{
	struct error err;

	(void)state;
	assert_int_equal(validate_env("template.env[0]", "=x", &err), -1);
	assert_string_equal(err.field, "template.env[0]");
	assert_string_equal(err.reason, "INVALID_ENV");
	assert_int_equal(validate_env("env", "1A=x", &err), -1);
	assert_string_equal(err.reason, "INVALID_ENV");
	assert_int_equal(validate_env("env", "A", &err), -1);
	assert_string_equal(err.reason, "INVALID_ENV");
	assert_int_equal(validate_env("env", "A-B=x", &err), -1);
	assert_int_equal(validate_env("env", "A B=x", &err), -1);
	assert_int_equal(validate_env("env", "", &err), -1);
}

static void
test_env_rejects_control_characters_and_oversize(void **state)
{
	struct error err;
	char *big = repeat('x', TEXT_MAX_LEN + 1);

	(void)state;
	big[0] = 'A';
	big[1] = '=';
	assert_int_equal(validate_env("env", "A=line\nbreak", &err), -1);
	assert_string_equal(err.reason, "INVALID_TEXT");
	assert_int_equal(validate_env("env", big, &err), -1);
	assert_string_equal(err.reason, "TOO_LONG");
	free(big);
}

/* --- images ------------------------------------------------------------------- */

static void
test_image_accepts_docker_references(void **state)
{
	struct error err;
	char *max = repeat('a', IMAGE_MAX_LEN);

	(void)state;
	assert_int_equal(validate_image("image", "uws/buckets:latest", &err), 0);
	assert_int_equal(validate_image("image", "busybox", &err), 0);
	assert_int_equal(
	    validate_image("image", "registry.example.com:5000/team/App_1:v1.2-rc@sha256:abc", &err), 0);
	assert_int_equal(validate_image("image", max, &err), 0);
	free(max);
}

static void
test_image_rejects_empty_bad_start_bad_chars_and_oversize(void **state)
{
	struct error err;
	char *big = repeat('a', IMAGE_MAX_LEN + 1);

	(void)state;
	assert_int_equal(validate_image("template.image", "", &err), -1);
	assert_string_equal(err.field, "template.image");
	assert_string_equal(err.reason, "MISSING");
	assert_int_equal(validate_image("image", "Uws/x", &err), -1);
	assert_string_equal(err.reason, "INVALID_IMAGE");
	assert_int_equal(validate_image("image", "-x", &err), -1);
	assert_int_equal(validate_image("image", "a b", &err), -1);
	assert_int_equal(validate_image("image", "a;rm -rf /", &err), -1);
	assert_non_null(strstr(err.message, "';'"));
	assert_int_equal(validate_image("image", big, &err), -1);
	assert_string_equal(err.reason, "TOO_LONG");
	free(big);
}

/* --- UTF-8 and text ---------------------------------------------------------- */

static void
test_utf8_accepts_valid_sequences_of_every_length(void **state)
{
	(void)state;
	assert_true(validate_utf8(""));
	assert_true(validate_utf8("plain ascii"));
	assert_true(validate_utf8("h\xc3\xa9llo"));             /* U+00E9 */
	assert_true(validate_utf8("\xe6\x97\xa5\xe6\x9c\xac")); /* U+65E5 U+672C */
	assert_true(validate_utf8("\xf0\x9f\x98\x80"));         /* U+1F600 */
	assert_true(validate_utf8("\xc2\x80"));                 /* U+0080 */
	assert_true(validate_utf8("\xe0\xa0\x80"));             /* U+0800 */
	assert_true(validate_utf8("\xef\xbf\xbf"));             /* U+FFFF */
	assert_true(validate_utf8("\xf0\x90\x80\x80"));         /* U+10000 */
	assert_true(validate_utf8("\xf4\x8f\xbf\xbf"));         /* U+10FFFF */
	assert_true(validate_utf8("\xee\x80\x80"));             /* U+E000, just past surrogates */
	assert_true(validate_utf8("\xed\x9f\xbf"));             /* U+D7FF, just before */
}

static void
test_utf8_rejects_overlong_encodings(void **state)
{
	(void)state;
	assert_false(validate_utf8("\xc0\xaf"));         /* '/' in two bytes */
	assert_false(validate_utf8("\xc1\xbf"));
	assert_false(validate_utf8("\xe0\x80\xaf"));     /* '/' in three bytes */
	assert_false(validate_utf8("\xe0\x9f\xbf"));     /* U+07FF in three bytes */
	assert_false(validate_utf8("\xf0\x80\x80\xaf")); /* '/' in four bytes */
	assert_false(validate_utf8("\xf0\x8f\xbf\xbf")); /* U+FFFF in four bytes */
}

static void
test_utf8_rejects_surrogates(void **state)
{
	(void)state;
	assert_false(validate_utf8("\xed\xa0\x80")); /* U+D800 */
	assert_false(validate_utf8("\xed\xb0\x80")); /* U+DC00 */
	assert_false(validate_utf8("\xed\xbf\xbf")); /* U+DFFF */
	assert_false(validate_utf8("a\xed\xa0\xbd\xed\xb8\x80")); /* CESU-8 pair */
}

static void
test_utf8_rejects_truncated_sequences(void **state)
{
	(void)state;
	assert_false(validate_utf8("\xc3"));
	assert_false(validate_utf8("a\xc3"));
	assert_false(validate_utf8("\xe2\x82"));
	assert_false(validate_utf8("\xf0\x9f\x98"));
	assert_false(validate_utf8("\xf0\x9f"));
	assert_false(validate_utf8("\xe2\x82 x")); /* continuation replaced by ASCII */
}

static void
test_utf8_rejects_stray_bytes_and_out_of_range(void **state)
{
	(void)state;
	assert_false(validate_utf8("\x80"));             /* lone continuation */
	assert_false(validate_utf8("a\xbf" "b"));
	assert_false(validate_utf8("\xff"));
	assert_false(validate_utf8("\xfe"));
	assert_false(validate_utf8("\xf5\x80\x80\x80")); /* lead byte past U+10FFFF */
	assert_false(validate_utf8("\xf4\x90\x80\x80")); /* U+110000 */
	assert_false(validate_utf8("\xf8\x88\x80\x80\x80")); /* old 5-byte form */
}

static void
test_text_allows_tab_but_no_control_characters(void **state)
{
	(void)state;
	assert_true(validate_text("a\tb"));
	assert_true(validate_text("caf\xc3\xa9"));
	assert_false(validate_text("a\nb"));
	assert_false(validate_text("a\rb"));
	assert_false(validate_text("\x1b[31m"));
	assert_false(validate_text("del\x7f"));
	assert_false(validate_text("\x01"));
	/* validate_utf8 alone allows control characters... */
	assert_true(validate_utf8("a\nb"));
	/* ...but validate_text still requires valid UTF-8. */
	assert_false(validate_text("\xc0\xaf"));
}

/* --- templates ----------------------------------------------------------------- */

static char *good_env[] = { "A=1", "PATH=/usr/bin" };
static char *good_command[] = { "sh", "-c", "echo \"hi\"" };

static Berth__V1__Template
good_template(void)
{
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;

	t.name = "web";
	t.description = "A web service";
	t.image = "uws/web:latest";
	t.build_context = "/srv/build/web";
	t.container_port = 8000;
	t.port_range_start = 9000;
	t.port_range_end = 9100;
	t.mount_path = "/app";
	t.env = good_env;
	t.n_env = 2;
	t.command = good_command;
	t.n_command = 3;
	t.stop_timeout_s = 10;
	return t;
}

/* validate_template(t) fails naming `field` with `reason`. */
static void
assert_template_field(const Berth__V1__Template *t, const char *field, const char *reason)
{
	struct error err;

	memset(&err, 0, sizeof(err));
	assert_int_equal(validate_template(t, &err), -1);
	assert_string_equal(err.field, field);
	if (reason != NULL)
		assert_string_equal(err.reason, reason);
	assert_true(err.message[0] != '\0');
}

static void
test_template_valid_passes(void **state)
{
	Berth__V1__Template t = good_template();
	struct error err;

	(void)state;
	assert_int_equal(validate_template(&t, &err), 0);
	/* Optional fields may be empty or zero. */
	t.build_context = "";
	t.mount_path = "";
	t.port_range_end = 0;
	t.n_env = 0;
	t.n_command = 0;
	t.stop_timeout_s = 0;
	assert_int_equal(validate_template(&t, &err), 0);
	/* A range of one port and the longest stop timeout are fine. */
	t.port_range_end = t.port_range_start;
	t.stop_timeout_s = 3600;
	assert_int_equal(validate_template(&t, &err), 0);
}

static void
test_template_null_is_missing(void **state)
{
	struct error err;

	(void)state;
	assert_int_equal(validate_template(NULL, &err), -1);
	assert_string_equal(err.field, "template");
	assert_string_equal(err.reason, "MISSING");
}

static void
test_template_bad_name_names_template_name(void **state)
{
	Berth__V1__Template t = good_template();

	(void)state;
	t.name = "Bad Name";
	assert_template_field(&t, "template.name", "INVALID_NAME");
	t.name = "";
	assert_template_field(&t, "template.name", "MISSING");
}

static void
test_template_bad_description_names_template_description(void **state)
{
	Berth__V1__Template t = good_template();
	char *big = repeat('d', TEXT_MAX_LEN + 1);

	(void)state;
	t.description = "bad \xff utf-8";
	assert_template_field(&t, "template.description", "INVALID_TEXT");
	t.description = big;
	assert_template_field(&t, "template.description", "INVALID_TEXT");
	free(big);
}

static void
test_template_bad_image_names_template_image(void **state)
{
	Berth__V1__Template t = good_template();

	(void)state;
	t.image = "";
	assert_template_field(&t, "template.image", "MISSING");
	t.image = "UPPER/x";
	assert_template_field(&t, "template.image", "INVALID_IMAGE");
}

static void
test_template_bad_build_context_names_template_build_context(void **state)
{
	Berth__V1__Template t = good_template();

	(void)state;
	t.build_context = "relative/dir";
	assert_template_field(&t, "template.build_context", "INVALID_PATH");
	t.build_context = "/srv/../etc";
	assert_template_field(&t, "template.build_context", "INVALID_PATH");
}

static void
test_template_bad_ports_name_each_port_field(void **state)
{
	Berth__V1__Template t = good_template();

	(void)state;
	t.container_port = 0;
	assert_template_field(&t, "template.container_port", "PORT_OUT_OF_RANGE");
	t = good_template();
	t.container_port = 70000;
	assert_template_field(&t, "template.container_port", "PORT_OUT_OF_RANGE");
	t = good_template();
	t.port_range_start = 0;
	assert_template_field(&t, "template.port_range_start", "PORT_OUT_OF_RANGE");
	t = good_template();
	t.port_range_end = 65536;
	assert_template_field(&t, "template.port_range_end", "PORT_OUT_OF_RANGE");
}

static void
test_template_range_end_below_start_names_template_port_range_end(void **state)
{
	Berth__V1__Template t = good_template();
	struct error err;

	(void)state;
	t.port_range_start = 9000;
	t.port_range_end = 8999;
	assert_template_field(&t, "template.port_range_end", "INVALID_RANGE");
	assert_int_equal(validate_template(&t, &err), -1);
	assert_non_null(strstr(err.message, "8999"));
	assert_non_null(strstr(err.message, "9000"));
}

static void
test_template_bad_mount_path_names_template_mount_path(void **state)
{
	Berth__V1__Template t = good_template();

	(void)state;
	t.mount_path = "/";
	assert_template_field(&t, "template.mount_path", "INVALID_PATH");
	t.mount_path = "/a/../b";
	assert_template_field(&t, "template.mount_path", "INVALID_PATH");
	t.mount_path = "app";
	assert_template_field(&t, "template.mount_path", "INVALID_PATH");
}

static void
test_template_bad_env_entry_names_its_index(void **state)
{
	Berth__V1__Template t = good_template();
	char *env[] = { "OK=1", "OK2=2", "=nokey" };

	(void)state;
	t.env = env;
	t.n_env = 3;
	assert_template_field(&t, "template.env[2]", "INVALID_ENV");
}

static void
test_template_too_many_env_entries_names_template_env(void **state)
{
	Berth__V1__Template t = good_template();
	struct error err;
	char *env[LIST_MAX_LEN + 1];

	(void)state;
	for (size_t i = 0; i < LIST_MAX_LEN + 1; i++)
		env[i] = "A=1";
	t.env = env;
	t.n_env = LIST_MAX_LEN;
	assert_int_equal(validate_template(&t, &err), 0);
	t.n_env = LIST_MAX_LEN + 1;
	assert_template_field(&t, "template.env", "TOO_MANY");
}

static void
test_template_bad_command_word_names_its_index(void **state)
{
	Berth__V1__Template t = good_template();
	char *command[] = { "sh", "bad\x01word" };

	(void)state;
	t.command = command;
	t.n_command = 2;
	assert_template_field(&t, "template.command[1]", "INVALID_TEXT");
}

static void
test_template_stop_timeout_over_an_hour_names_template_stop_timeout_s(void **state)
{
	Berth__V1__Template t = good_template();

	(void)state;
	t.stop_timeout_s = 3601;
	assert_template_field(&t, "template.stop_timeout_s", "OUT_OF_RANGE");
}

/* --- secret env --------------------------------------------------------------- */

static void
test_template_secret_env_accepts_entries_like_env(void **state)
{
	Berth__V1__Template t = good_template();
	char *secrets[] = { "DB_PASSWORD=hunter2", "TOKEN=a=b c", "EMPTY=", "KEPT=***" };
	struct error err;

	(void)state;
	t.secret_env = secrets;
	t.n_secret_env = 4;
	assert_int_equal(validate_template(&t, &err), 0);
}

/* No value may appear in an error: only fields and keys. */
static void
assert_secret_refused(char **secrets, size_t n, const char *field, const char *reason)
{
	Berth__V1__Template t = good_template();
	struct error err;

	t.secret_env = secrets;
	t.n_secret_env = n;
	memset(&err, 0, sizeof(err));
	assert_int_equal(validate_template(&t, &err), -1);
	assert_string_equal(err.field, field);
	assert_string_equal(err.reason, reason);
	assert_null(strstr(err.message, "s3cr3t"));
}

static void
test_template_secret_env_refuses_what_env_refuses(void **state)
{
	char *no_eq[] = { "s3cr3t" };
	char *bad_key[] = { "OK=1", "1KEY=s3cr3t" };
	char *reserved[] = { "BERTH_PORT=s3cr3t" };
	char *control[] = { "KEY=s3cr3t\n" };

	(void)state;
	assert_secret_refused(no_eq, 1, "template.secret_env[0]", "INVALID_ENV");
	assert_secret_refused(bad_key, 2, "template.secret_env[1]", "INVALID_ENV");
	assert_secret_refused(reserved, 1, "template.secret_env[0]", "RESERVED_ENV");
	assert_secret_refused(control, 1, "template.secret_env[0]", "INVALID_TEXT");
}

static void
test_template_secret_env_key_not_also_in_env_nor_twice(void **state)
{
	char *in_env[] = { "PATH=s3cr3t" };
	char *twice[] = { "K=s3cr3t", "K=s3cr3t2" };
	Berth__V1__Template t = good_template();
	struct error err;

	(void)state;
	assert_secret_refused(in_env, 1, "template.secret_env", "DUPLICATE_ENV");
	t.secret_env = in_env;
	t.n_secret_env = 1;
	assert_int_equal(validate_template(&t, &err), -1);
	assert_non_null(strstr(err.message, "PATH"));
	assert_non_null(strstr(err.message, "template.env"));
	assert_secret_refused(twice, 2, "template.secret_env", "DUPLICATE_ENV");
}

static void
test_template_secret_mask_needs_a_stored_value(void **state)
{
	Berth__V1__Template t = good_template();
	char *secrets[] = { "NEW=s3cr3t", "KEPT=***", "GONE=***" };
	char *stored_masked[] = { "KEPT=***", "OTHER=***" };
	char *stored_all[] = { "GONE", "KEPT" };
	struct error err;

	(void)state;
	t.secret_env = secrets;
	t.n_secret_env = 3;
	memset(&err, 0, sizeof(err));
	assert_int_equal(validate_secret_env_kept(&t, stored_masked, 2, &err), -1);
	assert_string_equal(err.field, "template.secret_env[2]");
	assert_string_equal(err.reason, "NO_STORED_SECRET");
	assert_non_null(strstr(err.message, "no stored value for GONE"));
	assert_int_equal(err.code, BERTH__V1__CODE__INVALID_ARGUMENT);
	assert_int_equal(validate_secret_env_kept(&t, NULL, 0, &err), -1);
	assert_string_equal(err.field, "template.secret_env[1]");
	assert_int_equal(validate_secret_env_kept(&t, stored_all, 2, &err), 0);
	/* "KEPT=****" or "KEPT=x***" is a value like any other. */
	secrets[1] = "KEPT=****";
	secrets[2] = "GONE=x***";
	assert_int_equal(validate_secret_env_kept(&t, NULL, 0, &err), 0);
}

/* A container user is numbers: "UID" or "UID:GID", below (uid_t)-1. */
static void
test_user_is_uid_or_uid_gid_in_numbers(void **state)
{
	static const char *const good[] = { "0", "1000", "1000:1000", "65534:0",
		"2147483646:2147483646" };
	static const char *const bad[] = { "", "root", "1000:", ":1000", "-1", "+5", "01",
		"1000:1000:1", "4294967295", "2147483647", "1000 ", "1000:www" };
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	struct error err;
	long uid, gid;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(validate_user("template.user", good[i], NULL, NULL, &err), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(validate_user("template.user", bad[i], NULL, NULL, &err), -1);
		assert_int_equal(err.code, BERTH__V1__CODE__INVALID_ARGUMENT);
		assert_string_equal(err.field, "template.user");
	}
	assert_int_equal(validate_user("u", "1000:50", &uid, &gid, &err), 0);
	assert_int_equal(uid, 1000);
	assert_int_equal(gid, 50);
	assert_int_equal(validate_user("u", "7", &uid, &gid, &err), 0);
	assert_int_equal(gid, -1);
	/* Through the template check, which names the field; "" is the image's user. */
	t.name = "web";
	t.image = "web:1";
	t.container_port = 80;
	t.port_range_start = 8000;
	t.port_range_end = 8010;
	assert_int_equal(validate_template(&t, &err), 0);
	t.user = "www-data";
	assert_int_equal(validate_template(&t, &err), -1);
	assert_string_equal(err.field, "template.user");
	assert_non_null(strstr(err.message, "/etc/passwd"));
}

/* Restart policies and health checks: what is refused names its field; sane ones pass. */
static void
test_restart_policy_and_health_check(void **state)
{
	static const struct {
		const char *kind, *path;
		size_t argc;
		uint32_t interval, timeout, retries, start_period;
		const char *field; /* NULL: valid */
	} cases[] = {
		{ "none", "", 0, 0, 0, 0, 0, NULL },
		{ "", "", 0, 0, 0, 0, 0, NULL },
		{ "tcp", "", 0, 10, 3, 3, 0, NULL },
		{ "http", "/healthz?deep=1", 0, 10, 10, 1, 3600, NULL },
		{ "exec", "", 2, 1, 1, 100, 0, NULL },
		{ "http", "healthz", 0, 10, 3, 3, 0, "template.health.http_path" },
		{ "http", "/a#b", 0, 10, 3, 3, 0, "template.health.http_path" },
		{ "http", "/\x7f", 0, 10, 3, 3, 0, "template.health.http_path" },
		{ "tcp", "", 0, 0, 0, 3, 0, "template.health.interval_s" },
		{ "tcp", "", 0, 3601, 1, 3, 0, "template.health.interval_s" },
		{ "tcp", "", 0, 5, 6, 3, 0, "template.health.timeout_s" },
		{ "tcp", "", 0, 5, 5, 0, 0, "template.health.retries" },
		{ "tcp", "", 0, 5, 5, 101, 0, "template.health.retries" },
		{ "tcp", "", 0, 5, 5, 1, 3601, "template.health.start_period_s" },
		{ "exec", "", 0, 5, 5, 1, 0, "template.health.exec_command" },
		{ "tcp", "", 1, 5, 5, 1, 0, "template.health.exec_command" },
		{ "grpc", "", 0, 5, 5, 1, 0, "template.health.kind" },
	};
	static char *argv[] = { "/bin/check", "--quick" };
	Berth__V1__Template t = BERTH__V1__TEMPLATE__INIT;
	Berth__V1__HealthCheck h = BERTH__V1__HEALTH_CHECK__INIT;
	struct error err;

	(void)state;
	t.name = "web";
	t.image = "web:1";
	t.container_port = 80;
	t.port_range_start = 8000;
	t.health = &h;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		h.kind = (char *)cases[i].kind;
		h.http_path = (char *)cases[i].path;
		h.exec_command = argv;
		h.n_exec_command = cases[i].argc;
		h.interval_s = cases[i].interval;
		h.timeout_s = cases[i].timeout;
		h.retries = cases[i].retries;
		h.start_period_s = cases[i].start_period;
		if (cases[i].field == NULL) {
			if (validate_template(&t, &err) != 0)
				fail_msg("case %zu refused: %s", i, err.message);
			continue;
		}
		assert_int_equal(validate_template(&t, &err), -1);
		assert_int_equal(err.code, BERTH__V1__CODE__INVALID_ARGUMENT);
		if (strcmp(err.field, cases[i].field) != 0)
			fail_msg("case %zu: field %s, wanted %s", i, err.field, cases[i].field);
	}
	t.health = NULL;
	t.restart = "always";
	assert_int_equal(validate_template(&t, &err), 0);
	t.restart = "unless-stopped"; /* Docker's, not berth's */
	assert_int_equal(validate_template(&t, &err), -1);
	assert_string_equal(err.field, "template.restart");
	t.restart = "no";
	t.max_restarts = 1001;
	assert_int_equal(validate_template(&t, &err), -1);
	assert_string_equal(err.field, "template.max_restarts");
	assert_int_equal(validate_restart_policy("restart", "", true, &err), 0);
	assert_int_equal(validate_restart_policy("restart", "", false, &err), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_accepts_lowercase_digits_and_separators),
		cmocka_unit_test(test_name_rejects_empty_as_missing),
		cmocka_unit_test(test_name_accepts_63_chars_and_rejects_64),
		cmocka_unit_test(test_name_rejects_very_long_input_without_overflow),
		cmocka_unit_test(test_name_rejects_uppercase),
		cmocka_unit_test(test_name_rejects_leading_underscore_dash_and_dot),
		cmocka_unit_test(test_name_rejects_dot_dot_anywhere),
		cmocka_unit_test(test_name_rejects_slash_and_path_separators),
		cmocka_unit_test(test_name_rejects_sql_and_shell_metacharacters),
		cmocka_unit_test(test_name_accepts_null_error_pointer),
		cmocka_unit_test(test_port_accepts_1_to_65535_only),
		cmocka_unit_test(test_path_accepts_plain_absolute_paths),
		cmocka_unit_test(test_path_normalised_before_the_check),
		cmocka_unit_test(test_env_reserves_the_berth_prefix),
		cmocka_unit_test(test_instance_names_keep_service_ids_unambiguous),
		cmocka_unit_test(test_path_rejects_dot_and_dot_dot_components),
		cmocka_unit_test(test_path_rejects_relative_paths),
		cmocka_unit_test(test_path_empty_is_allowed_only_when_asked),
		cmocka_unit_test(test_path_rejects_control_characters_and_bad_utf8),
		cmocka_unit_test(test_path_rejects_longer_than_limit),
		cmocka_unit_test(test_env_accepts_key_value),
		cmocka_unit_test(test_env_rejects_missing_or_bad_key),
		cmocka_unit_test(test_env_rejects_control_characters_and_oversize),
		cmocka_unit_test(test_image_accepts_docker_references),
		cmocka_unit_test(test_image_rejects_empty_bad_start_bad_chars_and_oversize),
		cmocka_unit_test(test_utf8_accepts_valid_sequences_of_every_length),
		cmocka_unit_test(test_utf8_rejects_overlong_encodings),
		cmocka_unit_test(test_utf8_rejects_surrogates),
		cmocka_unit_test(test_utf8_rejects_truncated_sequences),
		cmocka_unit_test(test_utf8_rejects_stray_bytes_and_out_of_range),
		cmocka_unit_test(test_text_allows_tab_but_no_control_characters),
		cmocka_unit_test(test_template_valid_passes),
		cmocka_unit_test(test_template_null_is_missing),
		cmocka_unit_test(test_template_bad_name_names_template_name),
		cmocka_unit_test(test_template_bad_description_names_template_description),
		cmocka_unit_test(test_template_bad_image_names_template_image),
		cmocka_unit_test(test_template_bad_build_context_names_template_build_context),
		cmocka_unit_test(test_template_bad_ports_name_each_port_field),
		cmocka_unit_test(test_template_range_end_below_start_names_template_port_range_end),
		cmocka_unit_test(test_template_bad_mount_path_names_template_mount_path),
		cmocka_unit_test(test_template_bad_env_entry_names_its_index),
		cmocka_unit_test(test_template_too_many_env_entries_names_template_env),
		cmocka_unit_test(test_template_bad_command_word_names_its_index),
		cmocka_unit_test(test_template_stop_timeout_over_an_hour_names_template_stop_timeout_s),
		cmocka_unit_test(test_template_secret_env_accepts_entries_like_env),
		cmocka_unit_test(test_template_secret_env_refuses_what_env_refuses),
		cmocka_unit_test(test_template_secret_env_key_not_also_in_env_nor_twice),
		cmocka_unit_test(test_template_secret_mask_needs_a_stored_value),
		cmocka_unit_test(test_user_is_uid_or_uid_gid_in_numbers),
		cmocka_unit_test(test_restart_policy_and_health_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
