/*
 * utf8.c - the UTF-8 decoder (see utf8.h).
 */
#include <stdio.h>
#include <string.h>

#include "utf8.h"

size_t
utf8_sequence_length(const unsigned char *p)
{
	unsigned c = p[0], cp;
	size_t n;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	/* A NUL fails the continuation test, so nothing past the end is read. */
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	/* Overlong forms, surrogates and values past U+10FFFF. */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || (cp >= 0xd800 && cp <= 0xdfff) ||
	    cp > 0x10ffff)
		return 0;
	return n;
}

bool
utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		size_t n = utf8_sequence_length(p);

		if (n == 0)
			return false;
		p += n;
	}
	return true;
}

/* The code point of a valid sequence of n bytes at p. */
static unsigned
code_point(const unsigned char *p, size_t n)
{
	static const unsigned char lead_mask[5] = { 0, 0x7f, 0x1f, 0x0f, 0x07 };
	unsigned cp = p[0] & lead_mask[n];

	for (size_t i = 1; i < n; i++)
		cp = cp << 6 | (p[i] & 0x3f);
	return cp;
}

static bool
invisible_format(unsigned cp)
{
	return (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x202a && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff;
}

void
utf8_escape_nonprinting(char *dst, size_t len, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
	size_t out = 0;

	if (len == 0)
		return;
	while (*p != '\0') {
		size_t n = utf8_sequence_length(p);
		unsigned cp = n > 0 ? code_point(p, n) : 0;
		char piece[16];
		size_t k;

		if (n == 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f)) {
			/* One byte of it: the rest, if any, is escaped in turn. */
			snprintf(piece, sizeof(piece), "\\x%02x", n == 0 || n == 1 ? *p : cp);
			n = n == 0 ? 1 : n;
		} else if (invisible_format(cp)) {
			snprintf(piece, sizeof(piece), "\\u{%04x}", cp);
		} else if (cp == '\\') {
			snprintf(piece, sizeof(piece), "\\\\");
		} else {
			memcpy(piece, p, n);
			piece[n] = '\0';
		}
		k = strlen(piece);
		if (out + k >= len)
			break;
		memcpy(dst + out, piece, k);
		out += k;
		p += n;
	}
	dst[out] = '\0';
}


size_t
utf8_replace_invalid(char *dst, const char *src, size_t len)
{
	const unsigned char *p = (const unsigned char *)src;
	size_t in = 0, out = 0;

	while (in < len) {
		size_t n = p[in] != 0 ? utf8_sequence_length(p + in) : 0;

		if (n == 0 || n > len - in) {
			memcpy(dst + out, "\xef\xbf\xbd", 3);
			out += 3;
			in++;
			continue;
		}
		memcpy(dst + out, src + in, n);
		out += n;
		in += n;
	}
	dst[out] = '\0';
	return out;
}
