/* args.c — the arguments of the read side: times (the Flask grammar plus
 * epoch numbers, nothing guessed), ranges, windows, limits, functions; and
 * timestamps out as Python's isoformat() writes them. */
#include "query/query_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/clock.h"
#include "base/timestamp.h"

#define US_PER_S INT64_C(1000000)
#define TS_MIN INT64_C(0)                          /* 1970-01-01T00:00:00Z */
#define TS_MAX (INT64_C(253402300800) * US_PER_S - 1)  /* 9999-12-31T23:59:59.999999Z */
#define SHOWN_MAX 64                                /* bytes of an argument quoted back */

static const char TIME_RULE[] =
	"use now, -N with s, m, h, d or w (-24h), ISO 8601 (2026-11-28T06:00:00Z) or epoch "
	"seconds/milliseconds";

/* s as it may be quoted in a message: printable ASCII, the rest \xNN, cut. */
static void shown(const char *s, char *out, size_t size)
{
	size_t n = 0;
	for (const unsigned char *c = (const unsigned char *)s; *c && n + 5 < size; c++) {
		if ((size_t)(c - (const unsigned char *)s) >= SHOWN_MAX) {
			n += (size_t)snprintf(out + n, size - n, "...");
			break;
		}
		if (*c >= 0x20 && *c < 0x7f && *c != '"' && *c != '\\')
			out[n++] = (char)*c;
		else
			n += (size_t)snprintf(out + n, size - n, "\\x%02x", *c);
	}
	out[n < size ? n : size - 1] = '\0';
}

static int bad_arg(iot_error *err, const char *what, const char *s, const char *why)
{
	char q[SHOWN_MAX * 4 + 8];
	shown(s, q, sizeof q);
	return iot_error_set(err, IOT_USAGE, "%s \"%s\" %s", what, q, why);
}

static int64_t unit_us(char u)
{
	switch (u) {
	case 's': return US_PER_S;
	case 'm': return 60 * US_PER_S;
	case 'h': return 3600 * US_PER_S;
	case 'd': return 86400 * US_PER_S;
	case 'w': return 7 * 86400 * US_PER_S;
	}
	return 0;
}

/* "N" followed by a unit (or none, when bare_unit is set): microseconds, or -1. */
static int64_t amount(const char *s, int64_t bare_unit)
{
	size_t n = strspn(s, "0123456789");
	if (n == 0 || n > 9)
		return -1;
	int64_t u = s[n] == '\0' ? bare_unit : s[n + 1] == '\0' ? unit_us(s[n]) : 0;
	long long v = strtoll(s, NULL, 10);
	if (u <= 0 || v > INT64_MAX / u)
		return -1;
	return v * u;
}

/* ISO 8601 as Flask clients write it, rewritten to what base/timestamp.c
 * accepts: seconds added to HH:MM, a missing zone read as UTC, a decoded
 * '+' (a space) put back, a date alone made midnight. */
static const char *iso_time(const char *s, int64_t *ts_us)
{
	char buf[80];
	size_t len = strlen(s);
	if (len >= sizeof buf - 12)
		return "is too long for a time";
	memcpy(buf, s, len + 1);
	if (len == 10) {
		memcpy(buf + len, "T00:00:00Z", 11);
		len += 10;
	} else if (len >= 16 && (len == 16 || buf[16] != ':')) {
		memmove(buf + 19, buf + 16, len - 16 + 1);
		memcpy(buf + 16, ":00", 3);
		len += 3;
	}
	/* Where the zone starts: after the seconds and any fraction. */
	size_t z = 19;
	if (z < len && buf[z] == '.')
		for (z++; z < len && buf[z] >= '0' && buf[z] <= '9'; z++)
			;
	if (z == len && len >= 19)
		memcpy(buf + len, "Z", 2), len++;
	else if (z < len && buf[z] == ' ' && len - z == 6 && buf[z + 3] == ':')
		buf[z] = '+';
	return iot_timestamp_parse(buf, len, 0, ts_us);
}

/* Digits with at most one '.': 0, -1 when malformed, -2 when out of range. */
static int epoch_time(const char *s, int64_t *ts_us)
{
	const char *dot = strchr(s, '.');
	if (dot && (strchr(dot + 1, '.') || dot[1] == '\0'))
		return -1;
	errno = 0;
	char *end;
	double v = strtod(s, &end);
	if (*end)
		return -1;
	double us = v >= 1e11 ? v * 1e3 : v * 1e6;
	if (errno || !isfinite(v) || us > (double)TS_MAX)
		return -2;
	*ts_us = (int64_t)(us + 0.5);
	return 0;
}

int iot_query_parse_time(const char *what, const char *s, int64_t now_us, int64_t *ts_us,
                         iot_error *err)
{
	if (now_us == 0)
		now_us = iot_now_us();
	if (!s || !*s || !strcasecmp(s, "now")) {
		*ts_us = now_us;
		return 0;
	}
	int64_t t;
	if (s[0] == '-') {
		int64_t d = amount(s + 1, 0);
		if (d < 0)
			return bad_arg(err, what, s, "is not a time: a relative time is -N with s, m, h, d or w (-15m, -24h, -7d)");
		t = now_us - d;
	} else if (s[0] >= '0' && s[0] <= '9' && s[strspn(s, "0123456789.")] == '\0' &&
	           epoch_time(s, &t) != -1) {
		if (epoch_time(s, &t) < 0)
			return bad_arg(err, what, s, "is not a time: epoch seconds or milliseconds out of range");
	} else if (strlen(s) >= 10 && s[4] == '-') {
		const char *why = iso_time(s, &t);
		if (why) {
			char msg[200];
			snprintf(msg, sizeof msg, "is not a time: %s", why);
			return bad_arg(err, what, s, msg);
		}
	} else {
		char msg[200];
		snprintf(msg, sizeof msg, "is not a time: %s", TIME_RULE);
		return bad_arg(err, what, s, msg);
	}
	if (t < TS_MIN || t > TS_MAX)
		return bad_arg(err, what, s, "is outside 1970-01-01 .. 9999-12-31");
	*ts_us = t;
	return 0;
}

int iot_query_check_range(const char *start_what, int64_t start_us, const char *end_what,
                          int64_t end_us, iot_error *err)
{
	if (start_us <= end_us)
		return 0;
	char a[40], b[40];
	iot_query_format_ts(start_us, a, sizeof a);
	iot_query_format_ts(end_us, b, sizeof b);
	return iot_error_set(err, IOT_USAGE, "%s (%s) is after %s (%s)", start_what, a, end_what, b);
}

int iot_query_parse_window(const char *what, const char *s, int64_t *window_us, iot_error *err)
{
	int64_t w = s ? amount(s, US_PER_S) : -1;
	if (w < 0)
		return bad_arg(err, what, s ? s : "", "is not a window: use N with s, m, h, d or w (5m, 1h, 1d, 7d)");
	if (w < IOT_QUERY_WINDOW_MIN_US || w > IOT_QUERY_WINDOW_MAX_US)
		return bad_arg(err, what, s, "is out of bounds: a window is 1s to 366d");
	*window_us = w;
	return 0;
}

int iot_query_parse_limit(const char *what, const char *s, long deflt, long max, long *out,
                          iot_error *err)
{
	if (!s || !*s) {
		*out = deflt;
		return 0;
	}
	size_t n = strspn(s, "0123456789");
	if (n == 0 || s[n] != '\0')
		return bad_arg(err, what, s, "is not a positive integer");
	long v = n > 9 ? max + 1 : strtol(s, NULL, 10);
	if (v < 1)
		return bad_arg(err, what, s, "is not a positive integer");
	if (v > max) {
		char msg[80];
		snprintf(msg, sizeof msg, "is over the maximum of %ld", max);
		return bad_arg(err, what, s, msg);
	}
	*out = v;
	return 0;
}

static const char *const FN_NAMES[] = {
	[IOT_AGG_MEAN] = "mean", [IOT_AGG_SUM] = "sum", [IOT_AGG_COUNT] = "count",
	[IOT_AGG_MIN] = "min", [IOT_AGG_MAX] = "max", [IOT_AGG_FIRST] = "first", [IOT_AGG_LAST] = "last",
};

int iot_query_parse_fn(const char *what, const char *s, enum iot_agg_fn *fn, iot_error *err)
{
	for (size_t i = 0; s && i < sizeof FN_NAMES / sizeof FN_NAMES[0]; i++)
		if (!strcmp(s, FN_NAMES[i])) {
			*fn = (enum iot_agg_fn)i;
			return 0;
		}
	if (s && !strcmp(s, "avg")) {
		*fn = IOT_AGG_MEAN;
		return 0;
	}
	return bad_arg(err, what, s ? s : "", "is not an aggregation: use mean (or avg), sum, count, min, max, first or last");
}

const char *iot_query_fn_name(enum iot_agg_fn fn)
{
	return (unsigned)fn < sizeof FN_NAMES / sizeof FN_NAMES[0] ? FN_NAMES[fn] : "?";
}

static void put2(char *p, int v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

/* Written by hand, the date part remembered per thread: formatting with
 * snprintf was a fifth of the time of a 2,000-record range. */
void iot_query_format_ts(int64_t ts_us, char *buf, size_t size)
{
	static _Thread_local int64_t cached_day = INT64_MIN;
	static _Thread_local char date[24];
	int64_t secs = iot__query_floor(ts_us, US_PER_S) / US_PER_S;
	int64_t day = iot__query_floor(secs, 86400) / 86400;
	int sod = (int)(secs - day * 86400), us = (int)(ts_us - secs * US_PER_S);
	if (day != cached_day) {
		char t[40];
		iot_format_timestamp(day * 86400 * US_PER_S, t, sizeof t);  /* YYYY-MM-DDT00:00:00.000000Z */
		snprintf(date, sizeof date, "%.*s", (int)(strchr(t, 'T') - t + 1), t);
		cached_day = day;
	}
	char out[48];
	size_t n = strlen(date);
	memcpy(out, date, n);
	put2(out + n, sod / 3600);
	out[n + 2] = ':';
	put2(out + n + 3, sod / 60 % 60);
	out[n + 5] = ':';
	put2(out + n + 6, sod % 60);
	n += 8;
	if (us) {
		out[n++] = '.';
		for (int i = 5, v = us; i >= 0; i--, v /= 10)
			out[n + (size_t)i] = (char)('0' + v % 10);
		n += 6;
	}
	memcpy(out + n, "+00:00", 7);
	n += 6;
	if (size) {
		size_t k = n < size ? n : size - 1;
		memcpy(buf, out, k);
		buf[k] = '\0';
	}
}

void iot__query_ts_param(int64_t ts_us, char *buf, size_t size)
{
	iot_format_timestamp(ts_us, buf, size);
}

int64_t iot__query_floor(int64_t ts_us, int64_t width_us)
{
	int64_t q = ts_us / width_us;
	if (ts_us % width_us && ts_us < 0)
		q--;
	return q * width_us;
}

void iot_query_file_ts(int64_t ts_us, char *buf, size_t size)
{
	char iso[48];
	iot_query_format_ts(iot__query_floor(ts_us, US_PER_S), iso, sizeof iso);
	size_t k = 0;
	if (size < 2) {
		if (size)
			buf[0] = '\0';
		return;
	}
	for (const char *p = iso; *p && *p != '+' && k + 2 < size; p++)
		if (*p != '-' && *p != ':')
			buf[k++] = *p;
	buf[k++] = 'Z';
	buf[k] = '\0';
}
