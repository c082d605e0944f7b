/* text.c — text written by hand for the export and read back from jsonb:
 * a growing buffer, JSON strings, and jsonb's own text made compact JSON
 * that reads back as the value that was stored. */
#include "query/query_int.h"

#include <errno.h>
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

void iot__qbuf_put(struct iot__qbuf *b, const char *s, size_t n)
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
	static const char hex[] = "0123456789abcdef";
	/* Worst case: every byte as \u00XX. */
	if (iot__qbuf_reserve(b, 6 * n + 2) < 0)
		return;
	char *o = b->s + b->len;
	*o++ = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
		} else if (c >= 0x20) {
			*o++ = (char)c;
		} else if (c == '\n') {
			*o++ = '\\';
			*o++ = 'n';
		} else if (c == '\t') {
			*o++ = '\\';
			*o++ = 't';
		} else if (c == '\r') {
			*o++ = '\\';
			*o++ = 'r';
		} else {
			memcpy(o, "\\u00", 4);
			o[4] = hex[c >> 4];
			o[5] = hex[c & 15];
			o += 6;
		}
	}
	*o++ = '"';
	*o = '\0';
	b->len = (size_t)(o - b->s);
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
