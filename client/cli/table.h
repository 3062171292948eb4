/*
 * table.h - aligned text tables for the CLI's human output.
 *
 * A table is a grid of strings: the caller adds rows (a header is just the
 * first row), then prints. Each column is as wide as its widest cell; the
 * last column is never padded and no line ends in spaces.
 */
#ifndef BERTH_CLI_TABLE_H
#define BERTH_CLI_TABLE_H

#include <stddef.h>
#include <stdio.h>

struct cli_table;

/*
 * Creates an empty table of `ncols` columns separated by `gap` spaces.
 * Returns 0, or -1 when out of memory. The caller owns *out and frees it
 * with cli_table_free().
 */
int cli_table_new(struct cli_table **out, size_t ncols, size_t gap);

/* Frees the table and its cells. NULL is fine. */
void cli_table_free(struct cli_table *t);

/*
 * Appends a row of exactly ncols cells (NULL means ""). The strings are
 * copied; control characters become spaces and trailing blanks are dropped
 * so that a cell can never break the grid. Returns 0, or -1 out of memory;
 * the failure is remembered and cli_table_print then fails too, so callers
 * may add many rows and check once.
 */
int cli_table_add(struct cli_table *t, const char *const *cells);

/* As cli_table_add with the ncols cells as arguments. */
int cli_table_addv(struct cli_table *t, ...);

/* Marks the table failed (a cell could not be built): printing fails. */
void cli_table_fail(struct cli_table *t);

/* Rows added so far, header included. */
size_t cli_table_rows(const struct cli_table *t);

/* Writes the table to `f`. Returns 0, or -1 when an add or writing failed. */
int cli_table_print(const struct cli_table *t, FILE *f);

/* Columns a string takes on a terminal: one per UTF-8 code point. */
size_t cli_text_width(const char *s);

#endif
