/*
 * utf8.h - the one UTF-8 decoder of berth, shared by the input checks
 * (validate.c), the JSON codec (json_codec.c) and the audit log's
 * sanitizer (server/store/audit.c).
 *
 * Strict RFC 3629: no overlong forms, no surrogates, nothing past
 * U+10FFFF, no bytes 0xC0, 0xC1 or 0xF5-0xFF.
 */
#ifndef BERTH_UTF8_H
#define BERTH_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Length (1-4) of the valid UTF-8 sequence that starts at p, or 0 when the
 * bytes there are not one. A NUL byte is a one-byte sequence; a sequence
 * cut short by the string's end is invalid, and the decoder never reads
 * past that NUL.
 */
size_t utf8_sequence_length(const unsigned char *p);

/* True when the NUL-terminated s is valid UTF-8 from start to end. */
bool utf8_valid(const char *s);

/*
 * Copies s into dst (always NUL-terminated, cut short to fit) with every
 * character a terminal would act on instead of show escaped: C0 and C1
 * controls and DEL as \xNN, bidirectional and zero-width format characters
 * (U+200B-U+200F, U+202A-U+202E, U+2066-U+2069, U+FEFF) as \u{XXXX}, bytes
 * that are not UTF-8 as \xNN, and the backslash itself as \\.
 */
void utf8_escape_nonprinting(char *dst, size_t len, const char *s);

/*
 * Copies src[0..len) into dst with every byte that does not start a valid
 * sequence, and every NUL byte, replaced by U+FFFD (3 bytes), then a NUL:
 * text a program printed, made fit for a proto string. dst needs room for
 * 3 * len + 1 bytes; src[len] must be readable (a NUL). Returns the length
 * written, without the NUL.
 */
size_t utf8_replace_invalid(char *dst, const char *src, size_t len);

#endif
