/* http_post_text.c — the answers of POST /api/v1/telemetry written
 * straight to text (http_post.h): a lone stored record, the common case,
 * and a batch, without the dozens of allocations the same objects cost in
 * jansson (a tenth of iot-httpd's time for 100-record bodies). */
#include "http/http_post.h"

#include <stdlib.h>
#include <string.h>

#include "base/json_util.h"
#include "base/parse.h"

const char *iot__http_rec_status(const struct rec *rc)
{
	if (rc->state != R_DONE || rc->rejected)
		return "rejected";
	return rc->stored || !rc->duplicates ? "stored" : "duplicate";
}

static char *put_str(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

#define PUT_LIT(p, lit) put_str((p), (lit), sizeof(lit) - 1)

static char *put_int(char *p, int64_t v)
{
	return p + iot_int_text((long long)v, p);
}

static bool ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return false;
	return true;
}

bool iot__http_stored_text(struct http_req *r, const struct post *p, const struct rec *rc, const char *ts)
{
	size_t nl = strlen(p->device_name);
	if (!ascii(p->device_name, nl))
		return false;
	size_t qn = iot_json_string_text(p->device_name, nl, NULL, 0), tl = strlen(ts), ml = strlen(p->stored_msg);
	/* the fixed text is 120 bytes, each of the four numbers at most 20 */
	char *text = malloc(qn + tl + ml + 256), *t = text;
	if (!text)
		return false;
	t = PUT_LIT(t, "{\"message\":\"");
	t = put_str(t, p->stored_msg, ml);
	t = PUT_LIT(t, "\",\"device_id\":");
	t = put_int(t, p->device_id);
	t = PUT_LIT(t, ",\"device_name\":");
	t += iot_json_string_text(p->device_name, nl, t, qn);
	t = PUT_LIT(t, ",\"timestamp\":\"");
	t = put_str(t, ts, tl);
	t = PUT_LIT(t, "\",\"stored_in_postgres\":true,\"points\":");
	t = put_int(t, (int64_t)(rc->stored + rc->duplicates));
	t = PUT_LIT(t, ",\"stored\":");
	t = put_int(t, (int64_t)rc->stored);
	t = PUT_LIT(t, ",\"duplicates\":");
	t = put_int(t, (int64_t)rc->duplicates);
	t = PUT_LIT(t, "}\n");
	*t = '\0';
	iot__http_reply_text(r, 201, "application/json", text, (size_t)(t - text));
	return true;
}

/* Five or so allocations a record in jansson, none here. */
bool iot__http_batch_text(struct http_req *r, const struct post *p, const struct tally *y)
{
	size_t nl = strlen(p->device_name), cap = 6 * nl + strlen(y->msg) + (y->error ? strlen(y->error) : 0) + 340;
	if (!ascii(p->device_name, nl))
		return false;
	for (size_t i = 0; i < p->n; i++) {
		const char *why = p->rec[i].reason;
		size_t wl = why ? strlen(why) : 0;
		if (!ascii(why, wl))
			return false;
		cap += 6 * wl + 192;  /* a result's fixed text (75 bytes at most) and its four numbers (20 each) */
	}
	char *text = malloc(cap), *t = text;
	if (!text)
		return false;
	*t++ = '{';
	if (y->error) {
		t = PUT_LIT(t, "\"error\":\"");
		t = put_str(t, y->error, strlen(y->error));
		t = PUT_LIT(t, "\",");
	}
	t = PUT_LIT(t, "\"message\":\"");
	t = put_str(t, y->msg, strlen(y->msg));
	t = PUT_LIT(t, "\",\"device_id\":");
	t = put_int(t, p->device_id);
	t = PUT_LIT(t, ",\"device_name\":");
	t += iot_json_string_text(p->device_name, nl, t, 6 * nl + 2);
	t = y->rej == p->n ? PUT_LIT(t, ",\"stored_in_postgres\":false") : PUT_LIT(t, ",\"stored_in_postgres\":true");
	const struct { const char *key; size_t v; } counts[] = {
		{ ",\"records\":", p->n }, { ",\"stored\":", y->stored }, { ",\"duplicates\":", y->dup },
		{ ",\"rejected\":", y->rej }, { ",\"points_stored\":", y->points },
	};
	for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
		t = put_str(t, counts[k].key, strlen(counts[k].key));
		t = put_int(t, (int64_t)counts[k].v);
	}
	t = PUT_LIT(t, ",\"results\":[");
	for (size_t i = 0; i < p->n; i++) {
		const struct rec *rc = &p->rec[i];
		const char *st = iot__http_rec_status(rc);
		t = i ? PUT_LIT(t, ",{\"index\":") : PUT_LIT(t, "{\"index\":");
		t = put_int(t, (int64_t)i);
		t = PUT_LIT(t, ",\"status\":\"");
		t = put_str(t, st, strlen(st));
		*t++ = '"';
		if (p->batch && rc->line) {
			t = PUT_LIT(t, ",\"line\":");
			t = put_int(t, rc->line);
		}
		if (rc->state == R_DONE) {
			t = PUT_LIT(t, ",\"points\":");
			t = put_int(t, (int64_t)(rc->stored + rc->duplicates + rc->rejected));
			if (rc->duplicates && rc->stored) {
				t = PUT_LIT(t, ",\"duplicates\":");
				t = put_int(t, (int64_t)rc->duplicates);
			}
		}
		if (rc->reason) {
			t = PUT_LIT(t, ",\"error\":");
			size_t wl = strlen(rc->reason);
			t += iot_json_string_text(rc->reason, wl, t, 6 * wl + 2);
		}
		*t++ = '}';
	}
	t = PUT_LIT(t, "]}\n");
	*t = '\0';
	iot__http_reply_text(r, y->status, "application/json", text, (size_t)(t - text));
	return true;
}

