/* svg_axis.c — what the drawing stands on: the SVG text buffer, value
 * ticks at round steps, time ticks from seconds to years aligned in the
 * reader's time zone, and that zone's name read. */
#include "chart/chart_int.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void iot__svg_printf(struct svg_buf *b, const char *fmt, ...)
{
	if (b->oom)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if (b->s && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap : 16384;
		while (cap <= b->len + (size_t)n)
			cap *= 2;
		char *s = realloc(b->s, cap);
		if (!s) {
			b->oom = 1;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
}

void iot__svg_text(struct svg_buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': iot__svg_printf(b, "&amp;"); break;
		case '<': iot__svg_printf(b, "&lt;"); break;
		case '>': iot__svg_printf(b, "&gt;"); break;
		case '"': iot__svg_printf(b, "&quot;"); break;
		case '\'': iot__svg_printf(b, "&apos;"); break;
		default: iot__svg_printf(b, "%c", *s);
		}
	}
}

double iot__axis_value_step(double *lo, double *hi, int want)
{
	if (!(*hi > *lo)) {             /* one value (or none): a band around it */
		double pad = fabs(*lo) > 0 ? fabs(*lo) * 0.1 : 1;
		*lo -= pad;
		*hi += pad;
	}
	double raw = (*hi - *lo) / (want > 1 ? want : 1);
	double mag = pow(10, floor(log10(raw))), f = raw / mag;
	double step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
	*lo = floor(*lo / step) * step;
	*hi = ceil(*hi / step) * step;
	return step;
}

void iot__axis_value_label(double v, double step, char *buf, size_t size)
{
	if (fabs(v) < step * 1e-9)
		v = 0;                      /* no "-0" or 1e-17 from the arithmetic */
	int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
	if (fabs(v) >= 1e6 || (fabs(v) > 0 && fabs(v) < 1e-4))
		snprintf(buf, size, "%.3g", v);
	else
		snprintf(buf, size, "%.*f", decimals > 6 ? 6 : decimals, v);
}

/* ---- time ---- */

static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
	"Oct", "Nov", "Dec" };

/* Fixed steps in seconds, then month steps (negative: that many months). */
static const long steps[] = { 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
	21600, 43200, 86400, 2 * 86400, 7 * 86400, 14 * 86400, -1, -3, -6, -12, -24, -60 };

static void label_for(int64_t t_us, long step, int offset_min, bool first, int64_t prev_us, char *buf,
                      size_t size)
{
	time_t t = (time_t)(t_us / 1000000 + offset_min * 60L), p = (time_t)(prev_us / 1000000 + offset_min * 60L);
	struct tm tm, pm;
	gmtime_r(&t, &tm);
	gmtime_r(&p, &pm);
	bool new_day = first || tm.tm_yday != pm.tm_yday || tm.tm_year != pm.tm_year;
	if (step < 0 && step > -12)
		snprintf(buf, size, "%s %d", months[tm.tm_mon], tm.tm_year + 1900);
	else if (step <= -12)
		snprintf(buf, size, "%d", tm.tm_year + 1900);
	else if (step >= 86400)
		snprintf(buf, size, "%s %d", months[tm.tm_mon], tm.tm_mday);
	else if (step < 60 && new_day)
		snprintf(buf, size, "%s %d %02d:%02d:%02d", months[tm.tm_mon], tm.tm_mday, tm.tm_hour, tm.tm_min,
		         tm.tm_sec);
	else if (step < 60)
		snprintf(buf, size, "%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
	else if (new_day)
		snprintf(buf, size, "%s %d %02d:%02d", months[tm.tm_mon], tm.tm_mday, tm.tm_hour, tm.tm_min);
	else
		snprintf(buf, size, "%02d:%02d", tm.tm_hour, tm.tm_min);
}

/* The first month boundary (a multiple of months months since year 0) at
 * or after local time t_s, as UTC microseconds. */
static int64_t month_ceil(int64_t t_s, int offset_min, int months_step, int k)
{
	time_t t = (time_t)(t_s + offset_min * 60L);
	struct tm tm;
	gmtime_r(&t, &tm);
	long m = (long)(tm.tm_year + 1900) * 12 + tm.tm_mon;
	bool exact = tm.tm_mday == 1 && tm.tm_hour == 0 && tm.tm_min == 0 && tm.tm_sec == 0;
	if (!exact || m % months_step)
		m = (m / months_step + 1) * months_step;
	m += (long)k * months_step;
	struct tm b = { .tm_year = (int)(m / 12) - 1900, .tm_mon = (int)(m % 12), .tm_mday = 1 };
	return ((int64_t)timegm(&b) - offset_min * 60L) * 1000000;
}

void iot__axis_time_ticks(int64_t start_us, int64_t end_us, int offset_min, int want,
                          struct time_ticks *out)
{
	memset(out, 0, sizeof *out);
	int64_t span_s = (end_us - start_us) / 1000000;
	size_t i;
	for (i = 0; i + 1 < sizeof steps / sizeof steps[0]; i++) {
		long st = steps[i];
		int64_t approx = st > 0 ? st : -st * 30 * 86400L;
		if (span_s / approx <= want)
			break;
	}
	long st = steps[i];
	for (int k = 0; out->n < IOT_AXIS_TICKS_MAX; k++) {
		int64_t t;
		if (st > 0) {
			int64_t off = offset_min * 60L, local = start_us / 1000000 + off;
			/* Weeks start on Monday (1970-01-05 was one). */
			int64_t base = st == 7 * 86400 || st == 14 * 86400 ? 4 * 86400 : 0;
			int64_t first = local - base;
			int64_t q = first / st;
			if (q * st < first)
				q++;               /* the first step boundary at or after start */
			first = q * st + base;
			t = (first - off + (int64_t)k * st) * 1000000;
		} else {
			t = month_ceil(start_us / 1000000, offset_min, (int)-st, k);
		}
		if (t < start_us)
			continue;
		if (t > end_us)
			break;
		out->t_us[out->n] = t;
		label_for(t, st, offset_min, out->n == 0, out->n ? out->t_us[out->n - 1] : t,
		          out->label[out->n], sizeof out->label[out->n]);
		out->n++;
	}
}

int iot_chart_tz_parse(const char *s, int64_t at_us, int *offset_min, iot_error *err)
{
	if (!s || !strcmp(s, "UTC") || !strcmp(s, "utc") || !strcmp(s, "Z")) {
		*offset_min = 0;
		return 0;
	}
	if (!strcmp(s, "local")) {
		time_t t = (time_t)(at_us / 1000000);
		struct tm tm;
		if (!localtime_r(&t, &tm))
			return iot_error_set(err, IOT_USAGE, "--tz: the local time zone is unknown");
		*offset_min = (int)(tm.tm_gmtoff / 60);
		return 0;
	}
	/* +HH, +HH:MM (a '+' a URL decoder made a space is one). */
	size_t n = strlen(s);
	bool digits = n >= 3 && isdigit((unsigned char)s[1]) && isdigit((unsigned char)s[2]);
	bool minutes = n == 6 && s[3] == ':' && isdigit((unsigned char)s[4]) && isdigit((unsigned char)s[5]);
	if ((s[0] == '+' || s[0] == '-' || s[0] == ' ') && digits && (n == 3 || minutes)) {
		int h = (s[1] - '0') * 10 + (s[2] - '0'), m = minutes ? (s[4] - '0') * 10 + (s[5] - '0') : 0;
		if (h <= 14 && m < 60) {
			*offset_min = (s[0] == '-' ? -1 : 1) * (h * 60 + m);
			return 0;
		}
	}
	return iot_error_set(err, IOT_USAGE, "tz: expected UTC, local, +HH:MM or -HH:MM, not '%.16s'", s);
}
