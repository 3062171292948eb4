/*
 * pem.c - a whole PEM file as a string (see pem.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/v1/berth.pb-c.h"
#include "pem.h"

int
pem_read_file(const char *what, const char *path, char **out, struct error *err)
{
	FILE *f = fopen(path, "r");
	char *text;
	size_t n;

	*out = NULL;
	if (f == NULL)
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "cannot read the %s %s: %s",
		    what, path, strerror(errno));
	if ((text = malloc(PEM_MAX_BYTES + 1)) == NULL) {
		fclose(f);
		return error_set(err, BERTH__V1__CODE__RESOURCE_EXHAUSTED, "out of memory");
	}
	/* One byte more than allowed: a file that fills it is too large. */
	n = fread(text, 1, PEM_MAX_BYTES + 1, f);
	fclose(f);
	if (n == 0 || n > PEM_MAX_BYTES) {
		free(text);
		return error_set(err, BERTH__V1__CODE__INVALID_ARGUMENT,
		    "the %s %s is empty or larger than %d bytes", what, path, PEM_MAX_BYTES);
	}
	text[n] = '\0';
	*out = text;
	return 0;
}
