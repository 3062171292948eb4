/*
 * test_console_assets.c - the web console's files as berthd compiles them
 * in (server/http/embed-console.sh): found by path, typed, and free of
 * what the gateway's Content-Security-Policy forbids or the console's
 * escaping rule excludes, so that a change that would break in a browser
 * breaks here first.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/console_assets.h"

/* The asset's bytes as a NUL-terminated string (caller frees). */
static char *
text_of(const char *path)
{
	const struct console_asset *a = console_asset_find(path);
	char *s;

	assert_non_null(a);
	s = malloc(a->size + 1);
	assert_non_null(s);
	memcpy(s, a->data, a->size);
	s[a->size] = '\0';
	return s;
}

static bool
matches(const char *text, const char *pattern)
{
	regex_t re;
	bool found;

	assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_ICASE | REG_NOSUB), 0);
	found = regexec(&re, text, 0, NULL, 0) == 0;
	regfree(&re);
	return found;
}

static void
test_root_is_index_and_every_file_has_its_type(void **state)
{
	const struct console_asset *root = console_asset_find("/");

	(void)state;
	assert_non_null(root);
	assert_ptr_equal(root, console_asset_find("/index.html"));
	assert_string_equal(root->content_type, "text/html; charset=utf-8");
	assert_string_equal(console_asset_find("/console.js")->content_type,
	    "text/javascript; charset=utf-8");
	assert_string_equal(console_asset_find("/console.css")->content_type,
	    "text/css; charset=utf-8");
	assert_string_equal(console_asset_find("/favicon.svg")->content_type, "image/svg+xml");
	for (size_t i = 0; i < console_assets_count; i++) {
		assert_true(console_assets[i].size > 0);
		assert_ptr_equal(console_asset_find(console_assets[i].path), &console_assets[i]);
	}
}

static void
test_only_exact_paths_are_found(void **state)
{
	static const char *const misses[] = { "", "index.html", "/INDEX.HTML", "/index.html/",
		"/../index.html", "//index.html", "/index.html?x=1", "/console", "/v1/Health",
		"/build/index.html" };

	(void)state;
	assert_null(console_asset_find(NULL));
	for (size_t i = 0; i < sizeof(misses) / sizeof(misses[0]); i++)
		if (console_asset_find(misses[i]) != NULL)
			fail_msg("\"%s\" found an asset", misses[i]);
}

/* Inline scripts, styles and handlers would be refused by the CSP: none in the page. */
static void
test_page_has_nothing_inline_and_links_only_its_own_files(void **state)
{
	char *html = text_of("/index.html");
	regex_t re;
	regmatch_t m[3];
	const char *p = html;
	unsigned links = 0;

	(void)state;
	assert_false(matches(html, "<script[^>]*>[^<]+</script>"));
	assert_false(matches(html, "<script([^s>]|s[^r>]|sr[^c>])*>"));
	assert_false(matches(html, "[[:space:]](on[a-z]+|style)[[:space:]]*="));
	assert_false(matches(html, "<style"));
	assert_false(matches(html, "javascript:"));
	/* Every src= and href= names a file berthd serves. */
	assert_int_equal(regcomp(&re, "(src|href)=\"([^\"]*)\"", REG_EXTENDED), 0);
	while (regexec(&re, p, 3, m, 0) == 0) {
		char path[128];

		snprintf(path, sizeof(path), "%.*s", (int)(m[2].rm_eo - m[2].rm_so), p + m[2].rm_so);
		if (console_asset_find(path) == NULL)
			fail_msg("index.html links %s, which berthd does not serve", path);
		links++;
		p += m[0].rm_eo;
	}
	regfree(&re);
	assert_true(links >= 3); /* the stylesheet, the script, the icon */
	free(html);
}

/* Server strings go in as text: no HTML sinks, no eval. */
static void
test_script_uses_no_html_sink_and_no_eval(void **state)
{
	static const char *const banned[] = { "innerHTML", "outerHTML", "insertAdjacentHTML",
		"document.write", "eval(", "new Function", "setTimeout('", "setTimeout(\"",
		"localStorage", "document.cookie" };
	char *js = text_of("/console.js");

	(void)state;
	for (size_t i = 0; i < sizeof(banned) / sizeof(banned[0]); i++)
		if (strstr(js, banned[i]) != NULL)
			fail_msg("console.js uses %s", banned[i]);
	assert_non_null(strstr(js, "sessionStorage"));
	assert_non_null(strstr(js, "'Bearer '"));
	assert_non_null(strstr(js, "credentials: 'omit'"));
	free(js);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_root_is_index_and_every_file_has_its_type),
		cmocka_unit_test(test_only_exact_paths_are_found),
		cmocka_unit_test(test_page_has_nothing_inline_and_links_only_its_own_files),
		cmocka_unit_test(test_script_uses_no_html_sink_and_no_eval),
	};

	return cmocka_run_group_tests_name("console_assets", tests, NULL, NULL);
}
