/* batch_rollups.c — what every batch writes besides its points, in one
 * pipeline with binary array parameters: the newest value of each
 * (device, measurement) into telemetry_latest, devices.last_seen, the
 * batch's hourly sums merged into telemetry_hourly, and the followers'
 * notification; the prepared statements of both store paths; the
 * statement list both build. Runs on the writer thread only. */
#include "telemetry/store_int.h"
#include "base/parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The small-batch path's points (batch_small.c). */
static const char SQL_INSERT[] =
	"INSERT INTO telemetry_data (device_id, measurement_name, ts, numeric_value, text_value,"
	" boolean_value, json_value, metadata)"
	" SELECT * FROM unnest($1::int4[], $2::text[], $3::timestamptz[], $4::float8[], $5::text[],"
	" $6::bool[], $7::jsonb[], $8::jsonb[])";
/* Rows go in in array order, sorted by key: parallel batches lock latest
 * and rollup rows in one order and never deadlock on them. */
static const char SQL_UPSERT_LATEST[] =
	"INSERT INTO telemetry_latest AS l (device_id, measurement_name, ts, numeric_value,"
	" text_value, boolean_value, json_value)"
	" SELECT * FROM unnest($1::int4[], $2::text[], $3::timestamptz[], $4::float8[], $5::text[],"
	" $6::bool[], $7::jsonb[])"
	" ON CONFLICT (device_id, measurement_name) DO UPDATE SET ts = EXCLUDED.ts,"
	" numeric_value = EXCLUDED.numeric_value, text_value = EXCLUDED.text_value,"
	" boolean_value = EXCLUDED.boolean_value, json_value = EXCLUDED.json_value"
	" WHERE l.ts < EXCLUDED.ts";
/* last_seen moves at most every 30 s per device: one cheap UPDATE per batch
 * instead of a row write per device per batch. It is the newest point's
 * time, never later than now (a backfill does not make a device online). */
static const char SQL_LAST_SEEN[] =
	"UPDATE devices d SET last_seen = s.ts FROM"
	" (SELECT u.device_id, least(max(u.ts), now()) AS ts"
	"  FROM unnest($1::int4[], $2::timestamptz[]) AS u(device_id, ts) GROUP BY u.device_id) s"
	" WHERE d.id = s.device_id AND (d.last_seen IS NULL OR d.last_seen < s.ts - interval '30 seconds')";
/* Merge a batch's hourly sums into the rollups: counts and sums add up,
 * first/last go to the earliest/latest point, whichever batch brought it. */
static const char SQL_UPSERT_HOURLY[] =
	"INSERT INTO telemetry_hourly AS h (device_id, measurement_name, bucket, count, sum, min, max,"
	" first_ts, first_value, last_ts, last_value)"
	" SELECT * FROM unnest($1::int4[], $2::text[], $3::timestamptz[], $4::int8[], $5::float8[],"
	" $6::float8[], $7::float8[], $8::timestamptz[], $9::float8[], $10::timestamptz[], $11::float8[])"
	" ON CONFLICT (device_id, measurement_name, bucket) DO UPDATE SET"
	" count = h.count + EXCLUDED.count, sum = h.sum + EXCLUDED.sum,"
	" min = least(h.min, EXCLUDED.min), max = greatest(h.max, EXCLUDED.max),"
	" first_ts = least(h.first_ts, EXCLUDED.first_ts),"
	" first_value = CASE WHEN EXCLUDED.first_ts < h.first_ts THEN EXCLUDED.first_value ELSE h.first_value END,"
	" last_ts = greatest(h.last_ts, EXCLUDED.last_ts),"
	" last_value = CASE WHEN EXCLUDED.last_ts > h.last_ts THEN EXCLUDED.last_value ELSE h.last_value END";
/* Followers (iot-query follow, the HTTP stream) LISTEN on this channel:
 * at commit, PostgreSQL tells them the ids of the devices that got points,
 * "1,2,3", or "*" when the list would not fit a notification's 8000 bytes.
 * NOTIFY is transactional: nothing is told of a batch that rolls back. */
static const char SQL_NOTIFY[] = "SELECT pg_notify('iotflow_telemetry', $1)";
#define NOTIFY_MAX 7900
_Static_assert(sizeof ((struct store *)0)->notify >= NOTIFY_MAX + 24, "room for the device list");

static const struct { const char *name, *sql; } prepared[] = {
	{ "iotflow_lock", iot__sql_lock_devices },
	{ "iotflow_insert", SQL_INSERT },
	{ "iotflow_latest", SQL_UPSERT_LATEST },
	{ "iotflow_last_seen", SQL_LAST_SEEN },
	{ "iotflow_hourly", SQL_UPSERT_HOURLY },
	{ "iotflow_notify", SQL_NOTIFY },
};

int iot__store_prepare(struct store *s, iot_error *err)
{
	unsigned gen = iot_db_generation(s->db);
	if (s->stmts_gen != gen) {
		s->stmts_gen = gen;
		s->nprepared = 0;
	}
	/* One at a time, counted: a preparation can fail half-way (it waits
	 * for table locks, and may time out) and is tried again later on the
	 * same session, where the first ones exist already. */
	for (; s->nprepared < sizeof prepared / sizeof prepared[0]; s->nprepared++)
		if (iot_db_prepare(s->db, prepared[s->nprepared].name, prepared[s->nprepared].sql, err) < 0)
			return -1;
	return 0;
}

void iot__store_stmts_reset(struct store *s)
{
	s->nstmt = 0;
	s->par.n = 0;
	s->par.buf.len = 0;
	s->par.buf.oom = false;
}

iot_db_stmt *iot__store_stmt(struct store *s, const char *name, const char *sql)
{
	iot_db_stmt *t = &s->stmt[s->nstmt++];
	*t = (iot_db_stmt){ .name = name, .sql = sql, .values = &s->par.val[s->par.n],
	                    .lengths = &s->par.len[s->par.n], .formats = &s->par.fmt[s->par.n] };
	return t;
}

static void param_start(struct store *s)
{
	s->stmt[s->nstmt - 1].nparams++;
	if (s->par.n > 0 && !s->par.text[s->par.n - 1])
		s->par.len[s->par.n - 1] = (int)(s->par.buf.len - s->par.off[s->par.n - 1]);
}

void iot__store_param_array(struct store *s, uint32_t oid, size_t n)
{
	param_start(s);
	int i = s->par.n++;
	s->par.text[i] = NULL;
	s->par.off[i] = s->par.buf.len;
	s->par.fmt[i] = 1;
	iot__array_begin(&s->par.buf, oid, n);
}

void iot__store_param_text(struct store *s, const char *v)
{
	param_start(s);
	int i = s->par.n++;
	s->par.text[i] = v;
	s->par.fmt[i] = 0;
	s->par.len[i] = 0;
}

int iot__store_stmts_close(struct store *s, iot_error *err)
{
	struct store_params *p = &s->par;
	if (p->n > 0 && !p->text[p->n - 1])
		p->len[p->n - 1] = (int)(p->buf.len - p->off[p->n - 1]);
	if (p->buf.oom)
		return iot_error_set(err, IOT_INTERNAL, "out of memory");
	for (int i = 0; i < p->n; i++)
		p->val[i] = p->text[i] ? p->text[i] : p->buf.data + p->off[i];
	return 0;
}

int iot__store_stmts_run(struct store *s, iot_error *err)
{
	PGresult *res[STORE_MAX_STMTS];
	if (iot_db_pipeline(s->db, s->stmt, s->nstmt, res, err) < 0)
		return -1;
	for (size_t i = 0; i < s->nstmt; i++)
		PQclear(res[i]);
	return 0;
}

static int by_key(const void *x, const void *y, void *arg)
{
	const struct batch *b = arg;
	const iot_point *p = b->pt[*(const size_t *)x], *q = b->pt[*(const size_t *)y];
	if (p->device_id != q->device_id)
		return p->device_id < q->device_id ? -1 : 1;
	return strcmp(p->measurement, q->measurement);
}

/* Hourly sums in key order (parallel batches lock rollup rows in one order). */
static int by_hour_key(const void *x, const void *y)
{
	const struct hour_sum *p = x, *q = y;
	if (p->device_id != q->device_id)
		return p->device_id < q->device_id ? -1 : 1;
	int c = strcmp(p->measurement, q->measurement);
	if (c)
		return c;
	return (p->bucket_us > q->bucket_us) - (p->bucket_us < q->bucket_us);
}

/* The devices of the stored points (the latest list, sorted by device). */
static const char *notify_text(struct store *s, const struct batch *b)
{
	size_t len = 0;
	int64_t last = 0;
	for (size_t k = 0; k < s->nlatest && len <= NOTIFY_MAX; k++) {
		int64_t dev = b->pt[s->latest[k]]->device_id;
		if (dev != last) {
			if (len)
				s->notify[len++] = ',';
			len += iot_int_text((long long)dev, s->notify + len);
		}
		last = dev;
	}
	return len <= NOTIFY_MAX ? s->notify : "*";
}

static void add_latest(struct store *s, const struct batch *b)
{
	struct copy_buf *a = &s->par.buf;
	iot__store_stmt(s, "iotflow_latest", NULL);
	for (int col = 0; col < 7; col++) {
		iot__store_param_array(s, iot__point_field_oid(col), s->nlatest);
		for (size_t k = 0; k < s->nlatest; k++)
			iot__copy_point_field(a, b->pt[s->latest[k]], col);
	}
	/* last_seen takes the latest list's device and ts arrays again. */
	iot__store_stmt(s, "iotflow_last_seen", NULL);
	for (int col = 0; col <= 2; col += 2) {
		iot__store_param_array(s, iot__point_field_oid(col), s->nlatest);
		for (size_t k = 0; k < s->nlatest; k++)
			iot__copy_point_field(a, b->pt[s->latest[k]], col);
	}
}

static void add_hourly(struct store *s)
{
	struct copy_buf *a = &s->par.buf;
	const struct rollup *r = &s->hourly;
	static const uint32_t oid[11] = { IOT_OID_INT4, IOT_OID_TEXT, IOT_OID_TIMESTAMPTZ, IOT_OID_INT8,
	                                  IOT_OID_FLOAT8, IOT_OID_FLOAT8, IOT_OID_FLOAT8, IOT_OID_TIMESTAMPTZ,
	                                  IOT_OID_FLOAT8, IOT_OID_TIMESTAMPTZ, IOT_OID_FLOAT8 };
	iot__store_stmt(s, "iotflow_hourly", NULL);
	for (int col = 0; col < 11; col++) {
		iot__store_param_array(s, oid[col], r->n);
		for (size_t i = 0; i < r->n; i++) {
			const struct hour_sum *h = &r->sums[i];
			switch (col) {
			case 0: iot__copy_int4(a, (int32_t)h->device_id); break;
			case 1: iot__copy_text(a, h->measurement); break;
			case 2: iot__copy_timestamptz(a, h->bucket_us); break;
			case 3: iot__copy_int8(a, h->count); break;
			case 4: iot__copy_float8(a, h->sum); break;
			case 5: iot__copy_float8(a, h->min); break;
			case 6: iot__copy_float8(a, h->max); break;
			case 7: iot__copy_timestamptz(a, h->first_ts); break;
			case 8: iot__copy_float8(a, h->first); break;
			case 9: iot__copy_timestamptz(a, h->last_ts); break;
			default: iot__copy_float8(a, h->last); break;
			}
		}
	}
}

int iot__store_rollups_add(struct store *s, const struct batch *b, iot_error *err)
{
	s->nlatest = 0;
	if (iot__latest_reduce(&s->map, b, &s->latest, &s->nlatest) < 0 || iot__rollup_build(&s->hourly, b) < 0)
		return iot_error_set(err, IOT_INTERNAL, "out of memory");
	if (s->nlatest == 0)
		return 0;    /* nothing stored: nothing to tell either */
	qsort_r(s->latest, s->nlatest, sizeof *s->latest, by_key, (void *)b);
	add_latest(s, b);
	if (s->hourly.n > 0) {
		qsort(s->hourly.sums, s->hourly.n, sizeof *s->hourly.sums, by_hour_key);
		add_hourly(s);
	}
	iot__store_stmt(s, "iotflow_notify", NULL);
	iot__store_param_text(s, notify_text(s, b));
	return 0;
}
