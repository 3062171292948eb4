/*
 * test_cli_table.c - the CLI's aligned table printer (client/cli/table.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

/* Prints t into a string; the caller frees it. */
static char *
render(const struct cli_table *t)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(cli_table_print(t, f), 0);
	fclose(f);
	return buf;
}

static void
test_columns_are_as_wide_as_their_widest_cell(void **state)
{
	struct cli_table *t;
	char *out;

	(void)state;
	assert_int_equal(cli_table_new(&t, 3, 3), 0);
	cli_table_addv(t, "NAME", "PORTS", "DESCRIPTION");
	cli_table_addv(t, "database_service", "8040+", "Database service");
	cli_table_addv(t, "db", "8010-8019", "x");
	out = render(t);
	assert_string_equal(out,
	    "NAME               PORTS       DESCRIPTION\n"
	    "database_service   8040+       Database service\n"
	    "db                 8010-8019   x\n");
	free(out);
	cli_table_free(t);
}

static void
test_lines_never_end_in_spaces(void **state)
{
	struct cli_table *t;
	char *out;

	(void)state;
	assert_int_equal(cli_table_new(&t, 3, 2), 0);
	cli_table_addv(t, "A", "B", "C");
	cli_table_addv(t, "long value", "", "");   /* empty trailing cells */
	cli_table_addv(t, "x", "y  ", NULL);         /* trailing blanks, NULL cell */
	out = render(t);
	assert_string_equal(out,
	    "A           B  C\n"
	    "long value\n"
	    "x           y\n");
	for (char *line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n"))
		assert_int_not_equal(line[strlen(line) - 1], ' ');
	free(out);
	cli_table_free(t);
}

static void
test_utf8_text_is_measured_in_characters(void **state)
{
	struct cli_table *t;
	char *out;

	(void)state;
	assert_int_equal(cli_text_width("caf\xc3\xa9"), 4);
	assert_int_equal(cli_table_new(&t, 2, 1), 0);
	cli_table_addv(t, "caf\xc3\xa9", "1");
	cli_table_addv(t, "tea", "2");
	out = render(t);
	assert_string_equal(out, "caf\xc3\xa9 1\ntea  2\n");
	free(out);
	cli_table_free(t);
}

static void
test_control_characters_cannot_break_the_grid(void **state)
{
	struct cli_table *t;
	char *out;

	(void)state;
	assert_int_equal(cli_table_new(&t, 2, 1), 0);
	cli_table_addv(t, "a\nb", "c\td");
	out = render(t);
	assert_string_equal(out, "a b c d\n");
	free(out);
	cli_table_free(t);
}

static void
test_key_value_lines_align_values(void **state)
{
	struct cli_table *t;
	char *out;

	(void)state;
	assert_int_equal(cli_table_new(&t, 2, 1), 0);
	cli_table_addv(t, "name:", "buckets");
	cli_table_addv(t, "container_port:", "8000");
	cli_table_addv(t, "mount_path:", "");
	out = render(t);
	assert_string_equal(out,
	    "name:           buckets\n"
	    "container_port: 8000\n"
	    "mount_path:\n");
	free(out);
	cli_table_free(t);
}

static void
test_a_failed_table_refuses_to_print(void **state)
{
	struct cli_table *t;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	assert_int_equal(cli_table_new(&t, 2, 1), 0);
	cli_table_addv(t, "a", "b");
	cli_table_fail(t);
	assert_int_equal(cli_table_print(t, f), -1);
	fclose(f);
	assert_int_equal(len, 0);
	free(buf);
	cli_table_free(t);
	cli_table_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_columns_are_as_wide_as_their_widest_cell),
		cmocka_unit_test(test_lines_never_end_in_spaces),
		cmocka_unit_test(test_utf8_text_is_measured_in_characters),
		cmocka_unit_test(test_control_characters_cannot_break_the_grid),
		cmocka_unit_test(test_key_value_lines_align_values),
		cmocka_unit_test(test_a_failed_table_refuses_to_print),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
