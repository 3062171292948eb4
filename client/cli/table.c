/*
 * table.c - aligned text tables.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

/* Enough for every table the CLI prints; more columns is a programming error. */
#define TABLE_MAX_COLS 16

struct cli_table {
	size_t ncols;
	size_t gap;
	size_t nrows;
	size_t cap;     /* rows allocated */
	char **cells;   /* nrows * ncols, row-major; each owned */
	bool failed;    /* an add ran out of memory: printing fails */
};

int
cli_table_new(struct cli_table **out, size_t ncols, size_t gap)
{
	struct cli_table *t;

	*out = NULL;
	if (ncols == 0 || ncols > TABLE_MAX_COLS)
		return -1;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -1;
	t->ncols = ncols;
	t->gap = gap;
	*out = t;
	return 0;
}

void
cli_table_free(struct cli_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

/* A copy of s fit for one cell: no control characters, no trailing blanks. */
static char *
cell_dup(const char *s)
{
	char *c = strdup(s != NULL ? s : "");
	size_t n;

	if (c == NULL)
		return NULL;
	for (char *p = c; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	}
	n = strlen(c);
	while (n > 0 && c[n - 1] == ' ')
		c[--n] = '\0';
	return c;
}

int
cli_table_add(struct cli_table *t, const char *const *cells)
{
	char **row;

	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		char **grown = realloc(t->cells, cap * t->ncols * sizeof(*grown));

		if (grown == NULL) {
			t->failed = true;
			return -1;
		}
		t->cells = grown;
		t->cap = cap;
	}
	row = t->cells + t->nrows * t->ncols;
	for (size_t c = 0; c < t->ncols; c++) {
		if ((row[c] = cell_dup(cells[c])) == NULL) {
			while (c > 0)
				free(row[--c]);
			t->failed = true;
			return -1;
		}
	}
	t->nrows++;
	return 0;
}

int
cli_table_addv(struct cli_table *t, ...)
{
	const char *cells[TABLE_MAX_COLS];
	va_list ap;

	va_start(ap, t);
	for (size_t c = 0; c < t->ncols; c++)
		cells[c] = va_arg(ap, const char *);
	va_end(ap);
	return cli_table_add(t, cells);
}

void
cli_table_fail(struct cli_table *t)
{
	t->failed = true;
}

size_t
cli_table_rows(const struct cli_table *t)
{
	return t->nrows;
}

/*
 * Counts code points, not bytes, so that UTF-8 text lines up. Wide (CJK)
 * characters would need wcwidth() and a locale; berth's names are ASCII.
 */
size_t
cli_text_width(const char *s)
{
	size_t w = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if ((*p & 0xc0) != 0x80)
			w++;
	}
	return w;
}

int
cli_table_print(const struct cli_table *t, FILE *f)
{
	size_t width[TABLE_MAX_COLS] = { 0 };

	if (t->failed)
		return -1;
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			size_t w = cli_text_width(t->cells[r * t->ncols + c]);
			if (w > width[c])
				width[c] = w;
		}
	}
	for (size_t r = 0; r < t->nrows; r++) {
		char *const *row = t->cells + r * t->ncols;
		size_t last = t->ncols;

		/* Stop at the last non-empty cell: no trailing spaces. */
		while (last > 0 && row[last - 1][0] == '\0')
			last--;
		for (size_t c = 0; c < last; c++) {
			fputs(row[c], f);
			if (c + 1 < last)
				fprintf(f, "%*s", (int)(width[c] - cli_text_width(row[c]) + t->gap), "");
		}
		fputc('\n', f);
	}
	return ferror(f) ? -1 : 0;
}
