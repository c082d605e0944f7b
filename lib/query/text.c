/* text.c — text written by hand for the export and read back from jsonb:
 * a growing buffer, JSON strings, jsonb's own text made compact JSON that
 * reads back as the value that was stored, and a point as a line of NDJSON
 * or CSV (the shapes are in query.h, at iot_export_open). */
#include "query/query_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json_util.h"

int iot__qbuf_reserve(struct iot__qbuf *b, size_t more)
{
	if (b->oom)
		return -1;
	if (b->len + more + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more + 1)
		cap *= 2;
	char *s = realloc(b->s, cap);
	if (!s) {
		b->oom = true;
		return -1;
	}
	b->s = s;
	b->cap = cap;
	return 0;
}

void iot__qbuf_put_slow(struct iot__qbuf *b, const char *s, size_t n)
{
	if (iot__qbuf_reserve(b, n) < 0)
		return;
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void iot__qbuf_free(struct iot__qbuf *b)
{
	free(b->s);
	memset(b, 0, sizeof *b);
}

void iot__qbuf_json_string(struct iot__qbuf *b, const char *s, size_t n)
{
	/* Worst case: every byte as \u00XX, the quotes, the NUL. */
	if (iot__qbuf_reserve(b, 6 * n + 3) < 0)
		return;
	b->len += iot_json_string_text(s, n, b->s + b->len, 6 * n + 3);
	b->s[b->len] = '\0';
}

/* Whether the digits d[0..n) (no sign) exceed the decimal max[] of as
 * many digits or more. */
static bool digits_over(const char *d, size_t n, const char *max)
{
	size_t m = strlen(max);
	return n != m ? n > m : memcmp(d, max, n) > 0;
}

/* The number s[0..n) of jsonb's text, as iot_json_parse takes it back: as
 * it is, or (an integer beyond 64 bits, a fraction with an integer part of
 * 16 digits or more, or one longer than 24 characters: 1e-300 comes back
 * as 0.000...1) as the nearest double in its shortest form. A jsonb number
 * came from the record decoder, which stores every number past those
 * bounds as a double (record.c, VALUES), so that double is the value. */
static void put_number(struct iot__qbuf *b, const char *s, size_t n)
{
	const char *d = s + (s[0] == '-');
	size_t ipn = strspn(d, "0123456789");
	size_t rest = n - (size_t)(d - s) - ipn;
	bool fraction = rest > 0 && d[ipn] == '.';
	bool exponent = memchr(s, 'e', n) || memchr(s, 'E', n);
	bool rewrite = !exponent && (fraction ? ipn >= 16 || n > 24
	                                      : digits_over(d, ipn, s[0] == '-' ? "9223372036854775808"
	                                                                        : "9223372036854775807"));
	if (!rewrite) {
		iot__qbuf_put(b, s, n);
		return;
	}
	char tmp[400], out[40];
	if (n >= sizeof tmp) { /* 400 digits are beyond any double: not from the decoder */
		iot__qbuf_put(b, s, n);
		return;
	}
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	errno = 0;
	double v = strtod(tmp, NULL);
	if (errno == ERANGE) {
		iot__qbuf_put(b, s, n);
		return;
	}
	iot__qbuf_put(b, out, iot_json_real_text(v, out, sizeof out));
}

void iot__query_jsonb_compact(struct iot__qbuf *b, const char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		char c = s[i];
		if (c == '"') {
			size_t j = i + 1;
			while (j < len && s[j] != '"')
				j += s[j] == '\\' ? 2 : 1;
			j = j < len ? j + 1 : len;
			iot__qbuf_put(b, s + i, j - i);
			i = j;
		} else if (c == '-' || (c >= '0' && c <= '9')) {
			size_t j = i + 1;
			while (j < len && strchr("0123456789.eE+-", s[j]))
				j++;
			put_number(b, s + i, j - i);
			i = j;
		} else if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
			i++;
		} else {
			size_t j = i + 1;
			while (j < len && !strchr("\" \n\t\r-0123456789", s[j]))
				j++;
			iot__qbuf_put(b, s + i, j - i);
			i = j;
		}
	}
}

json_t *iot__query_jsonb(const char *s, size_t len, int flags)
{
	struct iot__qbuf b = { 0 };
	iot__query_jsonb_compact(&b, s, len);
	json_t *v = b.oom ? NULL : json_loadb(b.s ? b.s : "", b.len, flags, NULL);
	iot__qbuf_free(&b);
	return v;
}

/* A CSV field: quoted when it holds a comma, a quote or a line break, or
 * when force (an empty text, which unquoted would read as no value). */
static void csv_field(struct iot__qbuf *b, const char *s, size_t n, bool force)
{
	bool quote = force;
	for (size_t i = 0; i < n && !quote; i++)
		quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
	if (!quote) {
		iot__qbuf_put(b, s, n);
		return;
	}
	/* A quote is written twice: once ending a piece, once starting the next. */
	size_t start = 0;
	iot__qbuf_put(b, "\"", 1);
	for (size_t i = 0; i < n; i++)
		if (s[i] == '"') {
			iot__qbuf_put(b, s + start, i + 1 - start);
			start = i;
		}
	iot__qbuf_put(b, s + start, n - start);
	iot__qbuf_put(b, "\"", 1);
}

/* The value in columns 3..6 of row i: its type name; its text appended
 * to b (JSON for NDJSON, bare for CSV text). */
static const char *put_value(struct iot__qbuf *b, const PGresult *res, int i, bool json)
{
	char num[40];
	if (!PQgetisnull(res, i, 3)) {
		iot__qbuf_put(b, num, iot_json_real_text(iot__query_float8(res, i, 3), num, sizeof num));
		return "number";
	}
	if (!PQgetisnull(res, i, 4)) {
		if (json)
			iot__qbuf_json_string(b, PQgetvalue(res, i, 4), (size_t)PQgetlength(res, i, 4));
		else
			iot__qbuf_put(b, PQgetvalue(res, i, 4), (size_t)PQgetlength(res, i, 4));
		return "text";
	}
	if (!PQgetisnull(res, i, 5)) {
		bool v = PQgetvalue(res, i, 5)[0] != 0;
		iot__qbuf_put(b, v ? "true" : "false", v ? 4 : 5);
		return "boolean";
	}
	iot__query_jsonb_compact(b, PQgetvalue(res, i, 6), (size_t)PQgetlength(res, i, 6));
	return "json";
}

static void put_ndjson(struct iot__qbuf *b, const PGresult *res, int i, const char *dev, const char *ts)
{
	iot__qbuf_put(b, "{\"device_id\":", 13);
	iot__qbuf_put(b, dev, strlen(dev));
	iot__qbuf_put(b, ",\"timestamp\":\"", 14);
	iot__qbuf_put(b, ts, strlen(ts));
	iot__qbuf_put(b, "\",\"data\":{", 10);
	iot__qbuf_json_string(b, PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1));
	iot__qbuf_put(b, ":", 1);
	put_value(b, res, i, true);
	iot__qbuf_put(b, "}", 1);
	if (!PQgetisnull(res, i, 7)) {
		iot__qbuf_put(b, ",\"metadata\":", 12);
		iot__query_jsonb_compact(b, PQgetvalue(res, i, 7), (size_t)PQgetlength(res, i, 7));
	}
	iot__qbuf_put(b, "}\n", 2);
}

static void put_csv(struct iot__qbuf *b, struct iot__qbuf *t, const PGresult *res, int i,
                    const char *dev, const char *ts)
{
	iot__qbuf_put(b, dev, strlen(dev));
	iot__qbuf_put(b, ",", 1);
	iot__qbuf_put(b, ts, strlen(ts));
	iot__qbuf_put(b, ",", 1);
	csv_field(b, PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1), false);
	t->len = 0;
	const char *type = put_value(t, res, i, false);
	iot__qbuf_put(b, ",", 1);
	iot__qbuf_put(b, type, strlen(type));
	iot__qbuf_put(b, ",", 1);
	csv_field(b, t->s ? t->s : "", t->len, t->len == 0);
	iot__qbuf_put(b, ",", 1);
	if (!PQgetisnull(res, i, 7)) {
		t->len = 0;
		iot__query_jsonb_compact(t, PQgetvalue(res, i, 7), (size_t)PQgetlength(res, i, 7));
		csv_field(b, t->s ? t->s : "", t->len, false);
	}
	iot__qbuf_put(b, "\n", 1);
	if (t->oom)
		b->oom = true;
}

/* n >= 0 in decimal into buf (>= 21 bytes); returns the length. */
static size_t put_uint(char *buf, uint64_t n)
{
	char d[24];
	size_t k = 0, len = 0;
	do
		d[k++] = (char)('0' + n % 10);
	while ((n /= 10) > 0);
	while (k)
		buf[len++] = d[--k];
	buf[len] = '\0';
	return len;
}

const char iot__csv_header[] = "device_id,timestamp,measurement,type,value,metadata\n";

void iot__point_text(struct iot__qbuf *out, struct iot__qbuf *tmp, enum iot_export_format fmt,
                     const PGresult *res, int i)
{
	char ts[48], dev[24];
	put_uint(dev, (uint64_t)iot__query_int(res, i, 0));   /* a device id: positive */
	iot_query_format_ts(iot__query_ts(res, i, 2), ts, sizeof ts);
	if (fmt == IOT_EXPORT_CSV)
		put_csv(out, tmp, res, i, dev, ts);
	else
		put_ndjson(out, res, i, dev, ts);
}
