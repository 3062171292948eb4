/*
 * error.c - struct error: a code, a message, and the field it concerns.
 */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void
copy_text(char *dst, size_t size, const char *src)
{
	size_t n = src ? strnlen(src, size - 1) : 0;

	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
}

int
error_set(struct error *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return code;
	e->code = code;
	e->field[0] = '\0';
	e->reason[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return code;
}

int
error_set_field(struct error *e, int code, const char *field, const char *reason,
    const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return code;
	e->code = code;
	copy_text(e->field, sizeof(e->field), field);
	copy_text(e->reason, sizeof(e->reason), reason);
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return code;
}

int
error_prefix(struct error *e, const char *fmt, ...)
{
	char joined[2 * ERROR_MESSAGE_MAX + 2];
	va_list ap;
	int n;

	if (e == NULL)
		return 0;
	va_start(ap, fmt);
	n = vsnprintf(joined, ERROR_MESSAGE_MAX, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (n >= ERROR_MESSAGE_MAX)
		n = ERROR_MESSAGE_MAX - 1;
	snprintf(joined + n, sizeof(joined) - (size_t)n, ": %s", e->message);
	copy_text(e->message, sizeof(e->message), joined);
	return e->code;
}

void
error_clear(struct error *e)
{
	if (e == NULL)
		return;
	e->code = 0;
	e->message[0] = '\0';
	e->field[0] = '\0';
	e->reason[0] = '\0';
}
