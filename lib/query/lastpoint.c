/* lastpoint.c — the fleet's lastpoint: its rows read through a cursor (for
 * the objects of read.c and the text here), and each device's latest
 * object written as compact JSON text straight from its rows. The text is
 * what iot_json_text writes of the object iot_query_lastpoint hands out,
 * byte for byte, without building the object: jansson's objects, about 45
 * allocations a device, were most of the library's time for a fleet. */
#include "query/query_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json_util.h"
#include "base/parse.h"

/* Tens of thousands of rows: the next batch is on its way while this one
 * is turned into JSON. */
#define LASTPOINT_FETCH_ROWS 4000

#define SQL_LASTPOINT_BODY                                                            \
	"SELECT l.device_id, d.name, l.measurement_name, l.ts, " IOT__SQL_VALUES("l.")         \
	" FROM telemetry_latest l JOIN devices d ON d.id = l.device_id"                        \
	" WHERE ($1::int[] IS NULL OR l.device_id = ANY ($1::int[]))"                          \
	"  AND ($2::bigint IS NULL OR d.user_id = $2::bigint)"                                 \
	"  AND ($3::text IS NULL OR d.device_type = $3::text)"                                 \
	" ORDER BY l.device_id, l.measurement_name"
const char iot__sql_lastpoint[] = SQL_LASTPOINT_BODY;
static const char SQL_LASTPOINT_CURSOR[] = "DECLARE iotflow_lastpoint NO SCROLL CURSOR FOR " SQL_LASTPOINT_BODY;

/* A batch's rows handed out a device at a time; open: a device has begun
 * and not ended (it may go on in the next batch). */
static int scan_batch(const struct iot__lastpoint_sink *k, const PGresult *res, bool *open, int64_t *id,
                      iot_error *err)
{
	for (int i = 0, n = PQntuples(res); i < n; i++) {
		int64_t dev = iot__query_int(res, i, 0);
		if (*open && dev != *id) {
			*open = false;
			if (k->end(k->ctx, err) < 0)
				return -1;
		}
		if (!*open) {
			if (k->begin(k->ctx, res, i, err) < 0)
				return -1;
			*open = true;
			*id = dev;
		}
		if (k->add(k->ctx, res, i, err) < 0)
			return -1;
	}
	return 0;
}

int iot__lastpoint_scan(iot_db *db, const iot_lastpoint_req *req, const struct iot__lastpoint_sink *sink,
                        iot_error *err)
{
	char owner[24], *ids = NULL;
	snprintf(owner, sizeof owner, "%lld", (long long)req->owner_id);
	if (req->device_ids && req->ndevices && !(ids = iot__query_int_array(req->device_ids, req->ndevices)))
		return iot__query_oom(err);
	const char *p[] = { ids, req->owner_id ? owner : NULL, req->device_type };
	const struct iot__cursor_query q = { .name = "iotflow_lastpoint", .declare = SQL_LASTPOINT_CURSOR,
		.nparams = 3, .params = p, .rows = LASTPOINT_FETCH_ROWS };
	struct iot__cursor cur;
	PGresult *res;
	bool open = false;
	int64_t id = 0;
	int rc = iot__cursor_open(&cur, db, &q, &res, err);
	free(ids);
	while (rc > 0) {
		rc = scan_batch(sink, res, &open, &id, err);
		PQclear(res);
		if (rc == 0)
			rc = iot__cursor_next(&cur, &res, err);
	}
	iot__cursor_close(&cur);
	if (rc == 0 && open)
		rc = sink->end(sink->ctx, err);
	return rc < 0 ? -1 : 0;
}

/* ---- the text ---- */

#define PUT_LIT(b, lit) iot__qbuf_put((b), (lit), sizeof(lit) - 1)

/* One measurement of the open device: where its escaped name and its
 * value are in meas, and its time. */
struct entry {
	size_t name, name_len, val, val_len;
	int64_t ts;
};

struct lp_text {
	struct iot__qbuf meas;   /* the device's "name":{"value":V,"timestamp":"T"},... */
	struct iot__qbuf dname;  /* its name, escaped */
	struct iot__qbuf line;   /* the object being handed out */
	struct entry *e;
	size_t n, cap;
	int64_t id, newest, ts_made;
	char ts_text[48];
	size_t ts_len;
	int devices;
	iot_query_text_fn fn;
	void *arg;
};

static void put_string(struct iot__qbuf *b, const char *s, size_t n)
{
	if (iot__qbuf_reserve(b, 6 * n + 2) < 0)
		return;
	b->len += iot_json_string_text(s, n, b->s + b->len, b->cap - b->len - 1);
	b->s[b->len] = '\0';
}

static void put_json(struct iot__qbuf *b, const json_t *v)
{
	if (iot__qbuf_reserve(b, 64) < 0)
		return;
	size_t n = iot_json_compact(v, b->s + b->len, b->cap - b->len - 1);
	if (n > b->cap - b->len - 1) {
		if (iot__qbuf_reserve(b, n) < 0)
			return;
		n = iot_json_compact(v, b->s + b->len, b->cap - b->len - 1);
	}
	b->len += n;
	b->s[b->len] = '\0';
}

/* The value in columns col..col+3 as iot__query_value's would be written. */
static int put_value(struct iot__qbuf *b, const PGresult *res, int i, int col, iot_error *err)
{
	if (!PQgetisnull(res, i, col)) {
		char num[40];
		iot__qbuf_put(b, num, iot_json_real_text(iot__query_float8(res, i, col), num, sizeof num));
	} else if (!PQgetisnull(res, i, col + 1)) {
		put_string(b, PQgetvalue(res, i, col + 1), (size_t)PQgetlength(res, i, col + 1));
	} else if (!PQgetisnull(res, i, col + 2)) {
		if (PQgetvalue(res, i, col + 2)[0])
			PUT_LIT(b, "true");
		else
			PUT_LIT(b, "false");
	} else {
		json_t *v = iot__query_value(res, i, col, err);
		if (!v)
			return -1;
		put_json(b, v);
		json_decref(v);
	}
	return 0;
}

static void put_ts(struct lp_text *t, struct iot__qbuf *b, int64_t ts)
{
	if (ts != t->ts_made || !t->ts_len) {
		iot_query_format_ts(ts, t->ts_text, sizeof t->ts_text);
		t->ts_len = strlen(t->ts_text);
		t->ts_made = ts;
	}
	PUT_LIT(b, "\"");
	iot__qbuf_put(b, t->ts_text, t->ts_len);
	PUT_LIT(b, "\"");
}

/* Row i: measurement name at col 2, then ts, then the 4 values. */
static int text_add(void *ctx, const PGresult *res, int i, iot_error *err)
{
	struct lp_text *t = ctx;
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 16;
		struct entry *e = realloc(t->e, cap * sizeof *e);
		if (!e)
			return iot__query_oom(err);
		t->e = e;
		t->cap = cap;
	}
	struct iot__qbuf *b = &t->meas;
	struct entry *e = &t->e[t->n++];
	if (t->n > 1)
		PUT_LIT(b, ",");
	e->name = b->len;
	put_string(b, PQgetvalue(res, i, 2), (size_t)PQgetlength(res, i, 2));
	e->name_len = b->len - e->name;
	PUT_LIT(b, ":{\"value\":");
	e->val = b->len;
	if (put_value(b, res, i, 4, err) < 0)
		return -1;
	e->val_len = b->len - e->val;
	e->ts = iot__query_ts(res, i, 3);
	if (e->ts > t->newest)
		t->newest = e->ts;
	PUT_LIT(b, ",\"timestamp\":");
	put_ts(t, b, e->ts);
	PUT_LIT(b, "}");
	return b->oom ? iot__query_oom(err) : 0;
}

/* {"timestamp","latest_data","measurements","device_id","device_name"}, as
 * read.c builds it: latest_data holds the measurements at the newest time. */
static int text_emit(void *ctx, iot_error *err)
{
	struct lp_text *t = ctx;
	struct iot__qbuf *b = &t->line;
	const char *m = t->meas.s;
	b->len = 0;
	PUT_LIT(b, "{\"timestamp\":");
	put_ts(t, b, t->newest);
	PUT_LIT(b, ",\"latest_data\":{");
	bool first = true;
	for (size_t k = 0; k < t->n; k++) {
		if (t->e[k].ts != t->newest)
			continue;
		if (!first)
			PUT_LIT(b, ",");
		first = false;
		iot__qbuf_put(b, m + t->e[k].name, t->e[k].name_len);
		PUT_LIT(b, ":");
		iot__qbuf_put(b, m + t->e[k].val, t->e[k].val_len);
	}
	PUT_LIT(b, "},\"measurements\":{");
	iot__qbuf_put(b, m, t->meas.len);
	char id[IOT_INT_TEXT_MAX];
	PUT_LIT(b, "},\"device_id\":");
	iot__qbuf_put(b, id, iot_int_text(t->id, id));
	PUT_LIT(b, ",\"device_name\":");
	iot__qbuf_put(b, t->dname.s, t->dname.len);
	PUT_LIT(b, "}");
	if (b->oom || t->dname.oom)
		return iot__query_oom(err);
	if (t->fn(t->arg, b->s, b->len) != 0)
		return iot_error_set(err, IOT_INTERNAL, "stopped by the caller");
	t->devices++;
	return 0;
}

static int text_begin(void *ctx, const PGresult *res, int i, iot_error *err)
{
	struct lp_text *t = ctx;
	t->id = iot__query_int(res, i, 0);
	t->n = 0;
	t->newest = INT64_MIN;
	t->meas.len = t->dname.len = 0;
	put_string(&t->dname, PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1));
	return t->dname.oom ? iot__query_oom(err) : 0;
}

int iot_query_lastpoint_text(iot_db *db, const iot_lastpoint_req *req, iot_query_text_fn fn, void *arg,
                             iot_error *err)
{
	struct lp_text t = { .fn = fn, .arg = arg };
	const struct iot__lastpoint_sink sink = { .begin = text_begin, .add = text_add, .end = text_emit, .ctx = &t };
	int rc = iot__lastpoint_scan(db, req, &sink, err);
	iot__qbuf_free(&t.meas);
	iot__qbuf_free(&t.dname);
	iot__qbuf_free(&t.line);
	free(t.e);
	return rc < 0 ? -1 : t.devices;
}
