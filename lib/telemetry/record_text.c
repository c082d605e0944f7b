/* record_text.c — text helpers of the record decoder: input quoted safely
 * in messages, reasons prefixed, jansson's parse errors made precise, and
 * compact JSON text for metadata and JSON values (iot_json_compact). */
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

const char *iot__rec_dump_owned(struct dec *d, json_t *v, const char *name)
{
	char buf[IOT_REC_TEXT_MAX];
	size_t n = iot_json_compact(v, buf, sizeof buf);
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
