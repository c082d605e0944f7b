/* timestamp.c — telemetry timestamps: RFC 3339 text and epoch numbers to
 * microseconds since the Unix epoch (UTC), and back to RFC 3339 text.
 *
 * The calendar arithmetic is done here (days from a civil date, after
 * Howard Hinnant's public-domain algorithms) rather than with mktime/timegm:
 * those consult the time-zone database and the environment, and this runs
 * once per telemetry record. Nothing here reads or writes global state.
 *
 * Accepted text (the rules are listed in full at the top of telemetry/record.c):
 *   YYYY-MM-DD('T'|'t'|' ')HH:MM:SS[.F{1,9}](Z|z|+hh:mm|-hh:mm|+hhmm|-hhmm)
 * Fractions beyond microseconds are truncated. Second 60 (a leap second) is
 * rejected: the result could not be told apart from second 59 or 00 after
 * conversion, and devices keeping UTC by NTP never send it. */
#include "base/timestamp.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define US_PER_SEC INT64_C(1000000)
#define SECS_PER_DAY INT64_C(86400)

/* Days since 1970-01-01 of the proleptic Gregorian date y-m-d. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;                                /* [0, 399] */
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;        /* [0, 146096] */
	return era * 146097 + doe - 719468;
}

/* The inverse: the civil date of day z since 1970-01-01. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const unsigned char mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && is_leap(y) ? 29 : mdays[m - 1];
}

/* Exactly n ASCII digits at s, as a number in *out. */
static bool take_digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/* A zone offset "+hh:mm", "-hh:mm", "+hhmm" or "-hhmm" at s[0..len): the
 * number of bytes it takes, or 0 when it is not one. */
static size_t take_offset(const char *s, size_t len, int64_t *offset_s, const char **why)
{
	int hh, mm;
	size_t used;
	if (len >= 6 && s[3] == ':' && take_digits(s + 1, 2, &hh) && take_digits(s + 4, 2, &mm))
		used = 6;
	else if (len >= 5 && take_digits(s + 1, 2, &hh) && take_digits(s + 3, 2, &mm))
		used = 5;
	else {
		*why = "has an invalid time zone offset";
		return 0;
	}
	if (hh > 23 || mm > 59) {
		*why = "has a time zone offset out of range";
		return 0;
	}
	*offset_s = (hh * 3600 + mm * 60) * (s[0] == '-' ? -1 : 1);
	return used;
}

/* The fraction after the '.' at s[0..len): microseconds (truncated) and the
 * number of digits, 0 when there are none or more than 9. */
static size_t take_fraction(const char *s, size_t len, int *us)
{
	size_t n = 0;
	int v = 0;
	while (n < len && s[n] >= '0' && s[n] <= '9') {
		if (n < 6)
			v = v * 10 + (s[n] - '0');
		n++;
	}
	for (size_t k = n; k < 6; k++)
		v *= 10;
	*us = v;
	return n <= 9 ? n : 0;
}

static const char *check_fields(int y, int mo, int d, int h, int mi, int s)
{
	if (mo < 1 || mo > 12)
		return "has a month out of range";
	if (d < 1 || d > days_in_month(y, mo))
		return "has a day out of range for its month";
	if (h > 23)
		return "has an hour out of range";
	if (mi > 59)
		return "has a minute out of range";
	if (s > 59)
		return s == 60 ? "is a leap second (60), which is not accepted" : "has a second out of range";
	return NULL;
}

/* The zone part at s[0..len) (may be empty): offset east of UTC in seconds. */
static const char *take_zone(const char *s, size_t len, unsigned flags, int64_t *offset_s)
{
	const char *why = NULL;
	size_t i = 0;
	*offset_s = 0;
	if (len == 0)
		return flags & IOT_TS_NAIVE_UTC ? NULL : "has no time zone (add Z for UTC, or an offset like +01:00)";
	if (s[0] == 'Z' || s[0] == 'z') {
		i = 1;
		/* mosquitto_sub -F %j / %J writes local time, a literal Z, then the offset. */
		if ((flags & IOT_TS_MOSQUITTO_TST) && i < len && (s[i] == '+' || s[i] == '-')) {
			size_t n = take_offset(s + i, len - i, offset_s, &why);
			if (n == 0)
				return why;
			i += n;
		}
	} else if (s[0] == '+' || s[0] == '-') {
		i = take_offset(s, len, offset_s, &why);
		if (i == 0)
			return why;
	} else {
		return "has no time zone (add Z for UTC, or an offset like +01:00)";
	}
	return i == len ? NULL : "has trailing characters after the time zone";
}

const char *iot_timestamp_parse(const char *s, size_t len, unsigned flags, int64_t *ts_us)
{
	int y, mo, d, h, mi, sec, us = 0;
	if (len < 19 || !take_digits(s, 4, &y) || s[4] != '-' || !take_digits(s + 5, 2, &mo) ||
	    s[7] != '-' || !take_digits(s + 8, 2, &d) ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !take_digits(s + 11, 2, &h) ||
	    s[13] != ':' || !take_digits(s + 14, 2, &mi) || s[16] != ':' || !take_digits(s + 17, 2, &sec))
		return "is not an ISO-8601 date and time (YYYY-MM-DDTHH:MM:SS[.ffffff]Z)";
	const char *why = check_fields(y, mo, d, h, mi, sec);
	if (why)
		return why;
	size_t i = 19;
	if (i < len && s[i] == '.') {
		size_t n = take_fraction(s + i + 1, len - i - 1, &us);
		if (n == 0)
			return "has a fraction of a second with no digits or more than 9";
		i += 1 + n;
	}
	int64_t offset_s;
	why = take_zone(s + i, len - i, flags, &offset_s);
	if (why)
		return why;
	int64_t secs = days_from_civil(y, mo, d) * SECS_PER_DAY + h * 3600 + mi * 60 + sec - offset_s;
	*ts_us = secs * US_PER_SEC + us;
	return NULL;
}

int iot_parse_timestamp_str(const char *s, int64_t *ts_us)
{
	if (!s)
		return -1;
	return iot_timestamp_parse(s, strlen(s), 0, ts_us) ? -1 : 0;
}

int iot_parse_timestamp_num(double v, int64_t *ts_us)
{
	/* 1e11 s is the year 5138 and 1e11 ms is 1973-03-03: no telemetry is
	 * from either, so the magnitude tells the unit. The upper bound keeps
	 * the microsecond count inside int64_t. */
	if (!isfinite(v) || v <= 0)
		return -1;
	double us = v >= 1e11 ? v * 1e3 : v * 1e6;
	if (us >= 9.2e18)
		return -1;
	*ts_us = (int64_t)(us + 0.5);
	return 0;
}

int iot_timestamp_device_num(double v, int64_t *ts_us)
{
	if (!isfinite(v) || v <= 0)
		return -1;
	double us = v < 1e10 ? v * 1e6 : v * 1e3;
	if (us >= 9.2e18)
		return -1;
	*ts_us = (int64_t)(us + 0.5);
	return 0;
}

/* s[0..len) is digits with at most one '.', and at least one digit. */
static bool epoch_text(const char *s, size_t len)
{
	size_t digits = 0, dots = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			digits++;
		else if (s[i] == '.' && ++dots <= 1)
			continue;
		else
			return false;
	}
	return digits > 0 && digits <= 20;
}

/* "MM/DD/YYYY HH:MM:SS" (us) or "DD/MM/YYYY HH:MM:SS" as ISO text in UTC. */
static bool slashed_as_iso(const char *s, size_t len, bool us, char out[32])
{
	if (len != 19 || s[2] != '/' || s[5] != '/' || s[10] != ' ')
		return false;
	const char *mo = us ? s : s + 3, *d = us ? s + 3 : s;
	snprintf(out, 32, "%.4s-%.2s-%.2sT%.8sZ", s + 6, mo, d, s + 11);
	return true;
}

const char *iot_timestamp_parse_device(const char *s, size_t len, int64_t *ts_us)
{
	char buf[64];
	if (epoch_text(s, len)) {
		snprintf(buf, sizeof buf, "%.*s", (int)len, s);
		return iot_timestamp_device_num(strtod(buf, NULL), ts_us) == 0 ? NULL
		       : "is not a positive epoch time in seconds or milliseconds";
	}
	const char *why = iot_timestamp_parse(s, len, 0, ts_us);
	if (!why || len + 2 > sizeof buf)
		return why;
	/* "...+00:00Z": an offset, then a Z that means nothing more. */
	if ((s[len - 1] == 'Z' || s[len - 1] == 'z') && iot_timestamp_parse(s, len - 1, 0, ts_us) == NULL)
		return NULL;
	/* No zone at all: UTC, as the Flask service took it. */
	if (iot_timestamp_parse(s, len, IOT_TS_NAIVE_UTC, ts_us) == NULL)
		return NULL;
	if ((slashed_as_iso(s, len, true, buf) && iot_timestamp_parse(buf, strlen(buf), 0, ts_us) == NULL) ||
	    (slashed_as_iso(s, len, false, buf) && iot_timestamp_parse(buf, strlen(buf), 0, ts_us) == NULL))
		return NULL;
	return why;
}

/* v as exactly n decimal digits, leading zeros included, at *p. */
static void put_digits(char **p, unsigned v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		(*p)[i] = (char)('0' + v % 10);
		v /= 10;
	}
	*p += n;
}

void iot_format_timestamp(int64_t ts_us, char *buf, size_t size)
{
	int64_t secs = ts_us / US_PER_SEC, us = ts_us % US_PER_SEC;
	if (us < 0) {
		us += US_PER_SEC;
		secs--;
	}
	int64_t days = secs / SECS_PER_DAY, sod = secs % SECS_PER_DAY;
	if (sod < 0) {
		sod += SECS_PER_DAY;
		days--;
	}
	int64_t y;
	int m, d;
	civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999 || size < 28) {
		snprintf(buf, size, "%04lld-%02d-%02dT%02d:%02d:%02d.%06dZ", (long long)y, m, d,
		         (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60), (int)us);
		return;
	}
	/* The same text digit by digit: snprintf took some 3,600 instructions
	 * a call, and every answer and exported row has a timestamp. */
	char *p = buf;
	put_digits(&p, (unsigned)y, 4);
	*p++ = '-';
	put_digits(&p, (unsigned)m, 2);
	*p++ = '-';
	put_digits(&p, (unsigned)d, 2);
	*p++ = 'T';
	put_digits(&p, (unsigned)(sod / 3600), 2);
	*p++ = ':';
	put_digits(&p, (unsigned)(sod / 60 % 60), 2);
	*p++ = ':';
	put_digits(&p, (unsigned)(sod % 60), 2);
	*p++ = '.';
	put_digits(&p, (unsigned)us, 6);
	*p++ = 'Z';
	*p = '\0';
}
