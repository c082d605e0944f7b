/* parse.c — strict parsers for numbers, durations and ids from outside. */
#include "base/parse.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

int iot_parse_long(const char *s, long min, long max, long *out)
{
	if (!s || !*s)
		return -1;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int iot_parse_duration(const char *s, long *seconds)
{
	if (!s || !*s)
		return -1;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || v < 0)
		return -1;
	long mult;
	if (!*end || !strcmp(end, "s")) mult = 1;
	else if (!strcmp(end, "m")) mult = 60;
	else if (!strcmp(end, "h")) mult = 3600;
	else if (!strcmp(end, "d")) mult = 86400;
	else if (!strcmp(end, "w")) mult = 7 * 86400;
	else return -1;
	if (v > LONG_MAX / mult)
		return -1;
	*seconds = v * mult;
	return 0;
}

int iot_parse_duration_unit(const char *s, long *seconds)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || s[n - 1] < 'a' || s[n - 1] > 'z')
		return -1;
	return iot_parse_duration(s, seconds);
}

size_t iot_int_text(long long v, char *buf)
{
	char d[IOT_INT_TEXT_MAX];
	size_t k = 0, n = 0;
	unsigned long long u = v < 0 ? 0 - (unsigned long long)v : (unsigned long long)v;
	do
		d[k++] = (char)('0' + u % 10);
	while ((u /= 10));
	if (v < 0)
		buf[n++] = '-';
	while (k)
		buf[n++] = d[--k];
	buf[n] = '\0';
	return n;
}

long long iot_parse_id(const char *s)
{
	if (!s || *s < '1' || *s > '9')
		return 0;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v > 2147483647LL)
		return 0;
	return v;
}
