/* record_text.c — text helpers of the record decoder: input quoted safely
 * in messages, reasons prefixed, jansson's parse errors made precise, and
 * compact JSON text for metadata and JSON values. */
#include "telemetry/record_int.h"

#include "base/json_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *iot__show(struct iot_shown *out, const char *s, size_t len, bool quoted)
{
	size_t j = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (i == IOT_SHOW_MAX) {
			memcpy(out->s + j, "...", 3);
			j += 3;
			break;
		}
		if (quoted && (c == '"' || c == '\\')) {
			out->s[j++] = '\\';
			out->s[j++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			j += (size_t)snprintf(out->s + j, 5, "\\x%02x", c);
		} else {
			out->s[j++] = (char)c;
		}
	}
	out->s[j] = '\0';
	return out->s;
}

int iot__rec_prefix_error(iot_error *err, const char *fmt, ...)
{
	char pre[64];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof pre, fmt, ap);
	va_end(ap);
	size_t pl = strlen(pre), ml = strlen(err->msg);
	if (pl + ml >= sizeof err->msg)
		ml = sizeof err->msg - 1 - pl;
	memmove(err->msg + pl, err->msg, ml);
	memcpy(err->msg, pre, pl);
	err->msg[pl + ml] = '\0';
	return -1;
}

/* Rewrite a parse failure from json_util (jansson's words) into a precise,
 * printable line that quotes no string content. */
void iot__explain_json_error(iot_error *err)
{
	static const char head[] = "invalid JSON at column ";
	static const char dup[] = "duplicate object key near '";
	char text[IOT_ERRMSG_MAX], *end;
	struct iot_shown sh;

	if (strncmp(err->msg, dup, sizeof dup - 1) == 0) {
		snprintf(text, sizeof text, "%s", err->msg + sizeof dup - 1);
		size_t n = strlen(text);
		if (n && text[n - 1] == '\'')
			n--;
		iot_error_set(err, IOT_REJECTED, "duplicate key %s", iot__show(&sh, text, n, false));
		return;
	}
	if (strncmp(err->msg, head, sizeof head - 1) != 0)
		return; /* e.g. the nesting limit: already clear */
	long col = strtol(err->msg + sizeof head - 1, &end, 10);
	if (strncmp(end, ": ", 2) != 0)
		return;
	snprintf(text, sizeof text, "%s", end + 2);
	const char *near = NULL;
	size_t near_len = 0;
	char *cut = strstr(text, " near '");
	if (cut) {
		*cut = '\0';
		near = cut + 7;
		near_len = strlen(near);
		if (near_len && near[near_len - 1] == '\'')
			near_len--;
	}
	if (strstr(text, "NUL byte in object key"))
		iot_error_set(err, IOT_REJECTED, "%s%ld: object key contains \\u0000", head, col);
	else if (strstr(text, "\\u0000"))
		iot_error_set(err, IOT_REJECTED, "%s%ld: string contains \\u0000", head, col);
	else if (strncmp(text, "unable to decode byte ", 22) == 0)
		/* jansson gives the column of the last good character. */
		iot_error_set(err, IOT_REJECTED, "%s%ld: invalid UTF-8 (byte %s)", head, col + 1,
		              iot__show(&sh, text + 22, strlen(text + 22), false));
	else if (strncmp(text, "'[' or '{' expected", 19) == 0)
		iot_error_set(err, IOT_REJECTED, "%s%ld: a record must be a JSON object or array", head, col);
	else if (near && near_len > 0 && near_len <= 24 && near[0] != '"') {
		char tok[sizeof sh.s];
		snprintf(tok, sizeof tok, "%s", iot__show(&sh, near, near_len, false));
		iot_error_set(err, IOT_REJECTED, "%s%ld: %s near '%s'", head, col,
		              iot__show(&sh, text, strlen(text), false), tok);
	} else
		iot_error_set(err, IOT_REJECTED, "%s%ld: %s", head, col, iot__show(&sh, text, strlen(text), false));
}

/* ---- compact JSON ------------------------------------------------------ */

/* Writes within cap and counts past it, so an oversized value can be
 * reported with its size. */
struct sbuf {
	char *p;
	size_t len, cap;
};

static void put(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n <= b->cap)
		memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void put_string(struct sbuf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t start = 0;
	put(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		put(b, s + start, i - start);
		start = i + 1;
		char e[6] = { '\\', (char)c, 0, 0, 0, 0 };
		size_t el = 2;
		switch (c) {
		case '"': case '\\': break;
		case '\n': e[1] = 'n'; break;
		case '\t': e[1] = 't'; break;
		case '\r': e[1] = 'r'; break;
		case '\b': e[1] = 'b'; break;
		case '\f': e[1] = 'f'; break;
		default:
			memcpy(e + 1, "u00", 3);
			e[4] = hex[c >> 4];
			e[5] = hex[c & 15];
			el = 6;
		}
		put(b, e, el);
	}
	put(b, s + start, n - start);
	put(b, "\"", 1);
}

/* The shortest text that reads back as the same double, in the form the
 * decoder's own parser takes back (iot_json_real_text: 0.1 stays 0.1, 7.0
 * stays a real, and beyond 2^53 an exponent, 1.8014398509481984e+16, where
 * "18014398509481984.0" would be refused on re-import). */
static void put_real(struct sbuf *b, double v)
{
	char tmp[48];
	put(b, tmp, iot_json_real_text(v, tmp, sizeof tmp));
}

static void put_json(struct sbuf *b, json_t *v)
{
	char tmp[32];
	const char *k;
	json_t *m;
	size_t i;
	bool first = true;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		put(b, "{", 1);
		json_object_foreach(v, k, m) {
			if (!first)
				put(b, ",", 1);
			first = false;
			put_string(b, k, strlen(k));
			put(b, ":", 1);
			put_json(b, m);
		}
		put(b, "}", 1);
		break;
	case JSON_ARRAY:
		put(b, "[", 1);
		json_array_foreach(v, i, m) {
			if (i)
				put(b, ",", 1);
			put_json(b, m);
		}
		put(b, "]", 1);
		break;
	case JSON_STRING: put_string(b, json_string_value(v), json_string_length(v)); break;
	case JSON_INTEGER:
		put(b, tmp, (size_t)snprintf(tmp, sizeof tmp, "%lld", (long long)json_integer_value(v)));
		break;
	case JSON_REAL: put_real(b, json_real_value(v)); break;
	case JSON_TRUE: put(b, "true", 4); break;
	case JSON_FALSE: put(b, "false", 5); break;
	case JSON_NULL: put(b, "null", 4); break;
	}
}

size_t iot__json_compact(json_t *v, char *buf, size_t cap)
{
	struct sbuf b = { buf, 0, cap };
	put_json(&b, v);
	return b.len;
}

const char *iot__rec_dump_owned(struct dec *d, json_t *v, const char *name)
{
	char buf[IOT_REC_TEXT_MAX];
	size_t n = iot__json_compact(v, buf, sizeof buf);
	if (n > IOT_REC_TEXT_MAX) {
		if (name)
			reject(d, "measurement \"%s\": JSON value is %zu bytes, over the limit of %d",
			       name, n, IOT_REC_TEXT_MAX);
		else
			reject(d, "metadata is %zu bytes of JSON, over the limit of %d", n, IOT_REC_TEXT_MAX);
		return NULL;
	}
	struct owned *o = malloc(sizeof *o + n + 1);
	if (!o) {
		iot_error_set(d->err, IOT_INTERNAL, "out of memory");
		return NULL;
	}
	memcpy(o->text, buf, n);
	o->text[n] = '\0';
	o->next = d->st->owned;
	d->st->owned = o;
	return o->text;
}
