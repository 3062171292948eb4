/*
 * timestamp.c - RFC 3339 and Unix seconds, both ways, to the nanosecond.
 * Civil dates become days with Howard Hinnant's days_from_civil, so the
 * result never depends on TZ or the C library's time zone handling.
 */
#include <stdio.h>
#include <string.h>

#include "timestamp.h"

#define MAX_SEC 253402300799LL /* 9999-12-31T23:59:59Z */

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + (int64_t)doe - 719468;
}

/* n decimal digits at *p into *v; advances *p. */
static bool
digits(const char **p, const char *end, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++, (*p)++) {
		if (*p >= end || **p < '0' || **p > '9')
			return false;
		*v = *v * 10 + (**p - '0');
	}
	return true;
}

/* ".123" (1 to 9 digits) at *p as nanoseconds; nothing there is 0. */
static bool
fraction(const char **p, const char *end, int32_t *nsec)
{
	int n = 0;

	*nsec = 0;
	if (*p >= end || **p != '.')
		return true;
	for ((*p)++; *p < end && **p >= '0' && **p <= '9'; (*p)++, n++) {
		if (n == 9)
			return false;
		*nsec = *nsec * 10 + (**p - '0');
	}
	if (n == 0)
		return false;
	for (int i = n; i < 9; i++)
		*nsec *= 10;
	return true;
}

static unsigned
days_in_month(int y, int m)
{
	static const unsigned days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

bool
timestamp_parse_rfc3339(const char *s, size_t len, struct timestamp *out)
{
	const char *p = s, *end = s + len;
	int y, mo, d, h, mi, sec, oh = 0, om = 0;
	int64_t total;
	int32_t nsec;

	if (!digits(&p, end, 4, &y) || p >= end || *p++ != '-' || !digits(&p, end, 2, &mo) ||
	    p >= end || *p++ != '-' || !digits(&p, end, 2, &d) || p >= end ||
	    (*p != 'T' && *p != 't' && *p != ' '))
		return false;
	p++;
	if (!digits(&p, end, 2, &h) || p >= end || *p++ != ':' || !digits(&p, end, 2, &mi) ||
	    p >= end || *p++ != ':' || !digits(&p, end, 2, &sec) || !fraction(&p, end, &nsec) ||
	    p >= end)
		return false;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || (unsigned)d > days_in_month(y, mo) ||
	    h > 23 || mi > 59 || sec > 60)
		return false;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1;
		if (!digits(&p, end, 2, &oh) || p >= end || *p++ != ':' ||
		    !digits(&p, end, 2, &om) || oh > 23 || om > 59)
			return false;
		oh *= sign;
		om *= sign;
	} else {
		return false;
	}
	if (p != end)
		return false;
	if (sec == 60) /* a leap second is the next second's start */
		sec = 59, nsec = 999999999;
	total = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec -
	    (oh * 3600 + om * 60);
	if (total < 0 || total > MAX_SEC)
		return false;
	out->sec = total;
	out->nsec = nsec;
	return true;
}

bool
timestamp_parse(const char *s, struct timestamp *out)
{
	const char *p = s, *end;
	int64_t sec = 0;
	int n = 0;
	int32_t nsec;

	if (s == NULL || *s == '\0')
		return false;
	end = s + strlen(s);
	if (timestamp_parse_rfc3339(s, (size_t)(end - s), out))
		return true;
	for (; p < end && *p >= '0' && *p <= '9'; p++, n++) {
		if (n == 12)
			return false;
		sec = sec * 10 + (*p - '0');
	}
	if (n == 0 || !fraction(&p, end, &nsec) || p != end || sec > MAX_SEC)
		return false;
	out->sec = sec;
	out->nsec = nsec;
	return true;
}

void
timestamp_format_unix(const struct timestamp *t, char *buf, size_t len)
{
	snprintf(buf, len, "%lld.%09d", (long long)t->sec, (int)t->nsec);
}

int
timestamp_compare(const struct timestamp *a, const struct timestamp *b)
{
	if (a->sec != b->sec)
		return a->sec < b->sec ? -1 : 1;
	if (a->nsec != b->nsec)
		return a->nsec < b->nsec ? -1 : 1;
	return 0;
}
