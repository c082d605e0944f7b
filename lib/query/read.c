/* read.c — ranges of records, latest values, the fleet's lastpoint and a
 * user's telemetry (shapes and rules in query.h). */
#include "query/query_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Device ids are int4 in the schema: a larger one has no telemetry (and
 * must not reach PostgreSQL as an out-of-range error). */
#define DEVICE_ID_OK(id) ((id) > 0 && (id) <= INT32_MAX)

/* One series (a filter of one name): its newest `limit` points inside the
 * range, from the primary key, however long the range. */
#define RANGE_ONE_SQL(DIR)                                                                    \
	"SELECT t.ts, t.measurement_name, " IOT__SQL_VALUES("t.") ","                              \
	"  CASE WHEN $6::boolean THEN t.metadata END::text FROM telemetry_data t"                 \
	" WHERE t.device_id = $1 AND t.measurement_name = ($4::text[])[1]"                        \
	"  AND t.ts >= $2::timestamptz AND t.ts <= $3::timestamptz"                               \
	" ORDER BY t.ts " DIR " LIMIT $5"

/* Several series (the device's, from telemetry_latest, or the filter's):
 * first the timestamp that ends the newest `limit` records ("cut": the
 * limit-th newest distinct timestamp over the newest `limit` of each series,
 * read from the primary key alone), then every point at or after it. So no
 * more points are read than the records hold, also when series never share
 * a timestamp, and big metadata is fetched only for points that are shown.
 * (Cutting after fetching, or with a join back, measured slower or held up
 * to limit x series points.) */
#define RANGE_SQL(DIR, CUT, OP)                                                               \
	"WITH s AS MATERIALIZED (SELECT measurement_name FROM telemetry_latest"                   \
	"  WHERE device_id = $1 AND $4::text[] IS NULL"                                           \
	"  UNION SELECT unnest($4::text[])),"                                                     \
	" c AS (SELECT " CUT "(ts) AS cut FROM (SELECT DISTINCT x.ts FROM s CROSS JOIN LATERAL"   \
	"  (SELECT t.ts FROM telemetry_data t"                                                    \
	"   WHERE t.device_id = $1 AND t.measurement_name = s.measurement_name"                   \
	"    AND t.ts >= $2::timestamptz AND t.ts <= $3::timestamptz"                             \
	"   ORDER BY t.ts " DIR " LIMIT $5) x ORDER BY 1 " DIR " LIMIT $5) k)"                    \
	" SELECT x.ts, s.measurement_name, " IOT__SQL_VALUES("x.") ", x.metadata::text"            \
	" FROM s CROSS JOIN LATERAL"                                                              \
	"  (SELECT t.ts, t.numeric_value, t.text_value, t.boolean_value, t.json_value,"           \
	"    CASE WHEN $6::boolean THEN t.metadata END AS metadata FROM telemetry_data t"         \
	"   WHERE t.device_id = $1 AND t.measurement_name = s.measurement_name"                   \
	"    AND t.ts >= $2::timestamptz AND t.ts <= $3::timestamptz"                             \
	"    AND t.ts " OP " (SELECT cut FROM c)"                                                  \
	"   ORDER BY t.ts " DIR " LIMIT $5) x"                                                    \
	" ORDER BY x.ts " DIR ", s.measurement_name COLLATE \"C\""

static const char SQL_RANGE_DESC[] = RANGE_SQL("DESC", "min", ">=");
static const char SQL_RANGE_ASC[] = RANGE_SQL("ASC", "max", "<=");
static const char SQL_RANGE_ONE_DESC[] = RANGE_ONE_SQL("DESC");
static const char SQL_RANGE_ONE_ASC[] = RANGE_ONE_SQL("ASC");

static const char SQL_LATEST[] =
	"SELECT measurement_name, ts, " IOT__SQL_VALUES("")
	" FROM telemetry_latest WHERE device_id = $1 ORDER BY measurement_name";

/* Newest `limit` points of each of the user's series, then the newest
 * `limit` of those. */
static const char SQL_USER[] =
	"SELECT x.device_id, x.ts, x.measurement_name, " IOT__SQL_VALUES("x.") ","
	"  x.metadata::text"
	" FROM telemetry_latest l JOIN devices d ON d.id = l.device_id AND d.user_id = $1::bigint"
	" CROSS JOIN LATERAL (SELECT t.* FROM telemetry_data t"
	"  WHERE t.device_id = l.device_id AND t.measurement_name = l.measurement_name"
	"   AND t.ts >= $2::timestamptz AND t.ts <= $3::timestamptz ORDER BY t.ts DESC LIMIT $4) x"
	" ORDER BY x.ts DESC, x.device_id, x.measurement_name COLLATE \"C\" LIMIT $4";

static const char SQL_USER_TOTAL[] =
	"SELECT count(*) FROM telemetry_data t"
	" WHERE t.device_id IN (SELECT id FROM devices WHERE user_id = $1::bigint)"
	"  AND t.ts >= $2::timestamptz AND t.ts <= $3::timestamptz";

extern const char iot__sql_aggregate[], iot__sql_lastpoint[];

const char *iot__query_sql(const char *name)
{
	static const struct { const char *name, *sql; } all[] = {
		{ "range", SQL_RANGE_DESC }, { "range_asc", SQL_RANGE_ASC }, { "range_one", SQL_RANGE_ONE_DESC },
		{ "range_one_asc", SQL_RANGE_ONE_ASC }, { "latest", SQL_LATEST },
		{ "lastpoint", iot__sql_lastpoint }, { "user", SQL_USER }, { "user_total", SQL_USER_TOTAL },
		{ "aggregate", iot__sql_aggregate },
	};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		if (!strcmp(name, all[i].name))
			return all[i].sql;
	return NULL;
}

/* ---- range ---- */

static bool reserved(const char *name)
{
	return !strcmp(name, "timestamp") || !strcmp(name, "measurements") ||
	       !strcmp(name, "metadata") || !strcmp(name, "device_id");
}

struct group {
	json_t *rec, *measurements, *metadata;
	int64_t ts;
};

static int group_start(struct group *g, int64_t ts)
{
	g->ts = ts;
	g->rec = json_object();
	g->measurements = json_object();
	g->metadata = NULL;
	if (!g->rec || !g->measurements || json_object_set_new(g->rec, "timestamp", iot__query_ts_json(ts)) < 0 ||
	    json_object_set(g->rec, "measurements", g->measurements) < 0)
		return -1;
	return 0;
}

/* Row i (ts, name, 4 values, metadata) into the group. */
static int group_add(struct group *g, const PGresult *res, int i, iot_error *err)
{
	const char *name = PQgetvalue(res, i, 1);
	json_t *v = iot__query_value(res, i, 2, err);
	if (!v)
		return -1;
	/* Names come from the database, valid UTF-8: no checks. */
	int rc = json_object_set_nocheck(g->measurements, name, v);
	if (rc == 0 && !reserved(name))
		rc = json_object_set_nocheck(g->rec, name, v);
	json_decref(v);
	if (rc < 0)
		return iot__query_oom(err);
	if (PQgetisnull(res, i, 6))
		return 0;
	json_t *m = iot__query_jsonb(PQgetvalue(res, i, 6), (size_t)PQgetlength(res, i, 6), 0);
	if (!json_is_object(m)) {
		json_decref(m);
		return iot_error_set(err, IOT_INTERNAL, "unable to read stored metadata");
	}
	if (!g->metadata) {
		g->metadata = m;
		return 0;
	}
	rc = json_object_update(g->metadata, m);
	json_decref(m);
	return rc < 0 ? iot__query_oom(err) : 0;
}

static int group_emit(struct group *g, iot_query_row_fn fn, void *arg, iot_error *err)
{
	json_t *rec = g->rec;
	json_decref(g->measurements);
	if (g->metadata && json_object_size(g->metadata) > 0 &&
	    json_object_set(rec, "metadata", g->metadata) < 0) {
		json_decref(rec);
		rec = NULL;
	}
	json_decref(g->metadata);
	memset(g, 0, sizeof *g);
	return iot__query_emit(fn, arg, rec, err);
}

/* Rows in time order, one record per timestamp, at most limit records. */
static int range_rows(const PGresult *res, long limit, iot_query_row_fn fn, void *arg, iot_error *err)
{
	struct group g = { 0 };
	int n = PQntuples(res), groups = 0;
	for (int i = 0; i < n; i++) {
		int64_t ts = iot__query_ts(res, i, 0);
		if (g.rec && ts != g.ts) {
			groups++;
			if (group_emit(&g, fn, arg, err) < 0)
				return -1;
			if (groups == limit)
				return groups;
		}
		if (!g.rec && group_start(&g, ts) < 0) {
			json_decref(g.rec);
			json_decref(g.measurements);
			return iot__query_oom(err);
		}
		if (group_add(&g, res, i, err) < 0) {
			json_decref(g.rec);
			json_decref(g.measurements);
			json_decref(g.metadata);
			return -1;
		}
	}
	if (g.rec) {
		groups++;
		if (group_emit(&g, fn, arg, err) < 0)
			return -1;
	}
	return groups;
}

int iot_query_range(iot_db *db, const iot_range_req *req, iot_query_row_fn fn, void *arg,
                    iot_error *err)
{
	long limit = req->limit ? req->limit : IOT_QUERY_RANGE_LIMIT_DEFAULT;
	if (limit < 1 || limit > IOT_QUERY_RANGE_LIMIT_MAX)
		return iot_error_set(err, IOT_USAGE, "limit %ld is out of bounds (1 to %d)", limit,
		                     IOT_QUERY_RANGE_LIMIT_MAX);
	size_t nm = req->measurements ? req->nmeasurements : 0;
	if (iot_query_check_range("start", req->start_us, "end", req->end_us, err) < 0 ||
	    iot__query_check_names("measurement", req->measurements, nm, err) < 0)
		return -1;
	if (!DEVICE_ID_OK(req->device_id))
		return 0;
	char dev[24], lo[40], hi[40], lim[24];
	snprintf(dev, sizeof dev, "%lld", (long long)req->device_id);
	snprintf(lim, sizeof lim, "%ld", limit);
	iot__query_ts_param(req->start_us, lo, sizeof lo);
	iot__query_ts_param(req->end_us, hi, sizeof hi);
	char *names = NULL;
	if (nm && !(names = iot__query_text_array(req->measurements, nm)))
		return iot__query_oom(err);
	const char *p[] = { dev, lo, hi, names, lim, req->metadata ? "t" : "f" };
	bool one = nm == 1;
	const char *sql = one ? (req->ascending ? SQL_RANGE_ONE_ASC : SQL_RANGE_ONE_DESC)
	                      : (req->ascending ? SQL_RANGE_ASC : SQL_RANGE_DESC);
	PGresult *res = iot_db_exec_binary(db, sql, 6, p, err);
	free(names);
	if (!res)
		return -1;
	int rc = range_rows(res, limit, fn, arg, err);
	PQclear(res);
	return rc;
}

/* ---- latest and lastpoint ---- */

/* A latest object built a row at a time (latest and lastpoint rows), so
 * that a device's rows may come in two batches of a cursor. A device's
 * measurements mostly share one timestamp: its string is made once and
 * shared (the fleet's lastpoint is 40,000 of them). */
struct latest_build {
	json_t *all, *ts_json;
	int64_t newest, ts_made;
	bool oom;
};

static void latest_begin(struct latest_build *b)
{
	*b = (struct latest_build){ .all = json_object(), .newest = INT64_MIN };
	b->oom = !b->all;
}

/* Row i of res: name at col, then ts, then the 4 values. */
static int latest_add(struct latest_build *b, const PGresult *res, int i, int col, iot_error *err)
{
	const char *name = PQgetvalue(res, i, col);
	int64_t ts = iot__query_ts(res, i, col + 1);
	if (!b->ts_json || ts != b->ts_made) {
		json_decref(b->ts_json);
		if (!(b->ts_json = iot__query_ts_json(ts)))
			return iot__query_oom(err);
		b->ts_made = ts;
	}
	if (ts > b->newest)
		b->newest = ts;
	json_t *v = iot__query_value(res, i, col + 2, err);
	if (!v)
		return -1;
	/* Names and texts come from the database, valid UTF-8: no checks. */
	json_t *m = json_object();
	int rc = m ? json_object_set_new_nocheck(m, "value", v) : (json_decref(v), -1);
	rc |= m ? json_object_set_nocheck(m, "timestamp", b->ts_json) : -1;
	rc |= json_object_set_new_nocheck(b->all, name, m);
	return rc < 0 ? iot__query_oom(err) : 0;
}

static void latest_drop(struct latest_build *b)
{
	json_decref(b->all);
	json_decref(b->ts_json);
	b->all = b->ts_json = NULL;
}

/* {"timestamp", "latest_data", "measurements"}: latest_data holds the
 * measurements stored at exactly the newest time. NULL with err set. */
static json_t *latest_finish(struct latest_build *b, iot_error *err)
{
	json_t *obj = NULL, *at = json_object(), *ts = NULL;
	if (b->oom || !at)
		goto oom;
	ts = b->ts_made == b->newest && b->ts_json ? json_incref(b->ts_json) : iot__query_ts_json(b->newest);
	const char *newest = json_string_value(ts), *name;
	json_t *m;
	if (!newest)
		goto oom;
	json_object_foreach (b->all, name, m)
		if (!strcmp(json_string_value(json_object_get(m, "timestamp")), newest) &&
		    json_object_set_nocheck(at, name, json_object_get(m, "value")) < 0)
			goto oom;
	if (!(obj = json_object()) || json_object_set_new_nocheck(obj, "timestamp", ts) < 0) {
		ts = NULL;
		goto oom;
	}
	ts = NULL;
	if (json_object_set_new_nocheck(obj, "latest_data", at) < 0) {
		at = NULL;
		goto oom;
	}
	at = NULL;
	if (json_object_set_nocheck(obj, "measurements", b->all) < 0)
		goto oom;
	latest_drop(b);
	return obj;
oom:
	iot__query_oom(err);
	json_decref(ts);
	json_decref(at);
	json_decref(obj);
	latest_drop(b);
	return NULL;
}

/* Rows [lo, hi) of res as one latest object; NULL with err set. */
static json_t *latest_object(const PGresult *res, int lo, int hi, int col, iot_error *err)
{
	struct latest_build b;
	latest_begin(&b);
	for (int i = lo; i < hi && !b.oom; i++)
		if (latest_add(&b, res, i, col, err) < 0) {
			latest_drop(&b);
			return NULL;
		}
	return latest_finish(&b, err);
}

json_t *iot_query_latest(iot_db *db, int64_t device_id, iot_error *err)
{
	if (!DEVICE_ID_OK(device_id)) {
		iot_error_set(err, IOT_NOT_FOUND, "no telemetry for device %lld", (long long)device_id);
		return NULL;
	}
	char dev[24];
	snprintf(dev, sizeof dev, "%lld", (long long)device_id);
	const char *p[] = { dev };
	PGresult *res = iot_db_exec_binary(db, SQL_LATEST, 1, p, err);
	if (!res)
		return NULL;
	json_t *obj = NULL;
	if (PQntuples(res) == 0) {
		iot_error_set(err, IOT_NOT_FOUND, "no telemetry for device %lld", (long long)device_id);
	} else {
		obj = latest_object(res, 0, PQntuples(res), 0, err);
		if (obj && json_object_set_new(obj, "device_id", json_integer(device_id)) < 0) {
			json_decref(obj);
			obj = NULL;
			iot__query_oom(err);
		}
	}
	PQclear(res);
	return obj;
}

/* The fleet's lastpoint (its rows from lastpoint.c), a device at a time. */
struct lastpoint {
	struct latest_build b;
	bool open;
	int64_t id;
	json_t *name;
	int devices;
	iot_query_row_fn fn;
	void *arg;
};

static int lastpoint_begin(void *ctx, const PGresult *res, int i, iot_error *err)
{
	struct lastpoint *lp = ctx;
	latest_begin(&lp->b);
	lp->open = true;
	lp->id = iot__query_int(res, i, 0);
	lp->name = json_stringn_nocheck(PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1));
	return lp->name ? 0 : iot__query_oom(err);
}

static int lastpoint_add(void *ctx, const PGresult *res, int i, iot_error *err)
{
	return latest_add(&((struct lastpoint *)ctx)->b, res, i, 2, err);
}

/* The device built, handed out. */
static int lastpoint_end(void *ctx, iot_error *err)
{
	struct lastpoint *lp = ctx;
	lp->open = false;
	json_t *obj = latest_finish(&lp->b, err);
	if (obj && (json_object_set_new_nocheck(obj, "device_id", json_integer(lp->id)) < 0 ||
	            json_object_set_new_nocheck(obj, "device_name", lp->name) < 0)) {
		json_decref(obj);
		obj = NULL;
		iot__query_oom(err);
	}
	lp->name = NULL;
	if (iot__query_emit(lp->fn, lp->arg, obj, err) < 0)
		return -1;
	lp->devices++;
	return 0;
}

int iot_query_lastpoint(iot_db *db, const iot_lastpoint_req *req, iot_query_row_fn fn, void *arg,
                        iot_error *err)
{
	struct lastpoint lp = { .fn = fn, .arg = arg };
	const struct iot__lastpoint_sink sink = { .begin = lastpoint_begin, .add = lastpoint_add,
		.end = lastpoint_end, .ctx = &lp };
	int rc = iot__lastpoint_scan(db, req, &sink, err);
	if (lp.open)
		latest_drop(&lp.b);
	json_decref(lp.name);
	return rc < 0 ? -1 : lp.devices;
}

/* ---- a user's telemetry ---- */

static json_t *user_item(const PGresult *res, int i, iot_error *err)
{
	json_t *v = iot__query_value(res, i, 3, err);
	if (!v)
		return NULL;
	json_t *meta = PQgetisnull(res, i, 7) ? json_null()
	             : iot__query_jsonb(PQgetvalue(res, i, 7), (size_t)PQgetlength(res, i, 7), 0);
	if (!meta) {
		json_decref(v);
		iot_error_set(err, IOT_INTERNAL, "unable to read stored metadata");
		return NULL;
	}
	/* "o" steals v and meta, also when packing fails. */
	json_t *item = json_pack("{sIsosssoso}", "device_id", (json_int_t)iot__query_int(res, i, 0),
	                         "timestamp", iot__query_ts_json(iot__query_ts(res, i, 1)),
	                         "measurement_name", PQgetvalue(res, i, 2), "value", v, "metadata", meta);
	if (!item)
		iot__query_oom(err);
	return item;
}

int iot_query_user(iot_db *db, const iot_user_req *req, iot_query_row_fn fn, void *arg,
                   long long *total, iot_error *err)
{
	long limit = req->limit ? req->limit : IOT_QUERY_USER_LIMIT_DEFAULT;
	if (limit < 1 || limit > IOT_QUERY_USER_LIMIT_MAX)
		return iot_error_set(err, IOT_USAGE, "limit %ld is out of bounds (1 to %d)", limit,
		                     IOT_QUERY_USER_LIMIT_MAX);
	if (iot_query_check_range("start", req->start_us, "end", req->end_us, err) < 0)
		return -1;
	char user[24], lo[40], hi[40], lim[24];
	snprintf(user, sizeof user, "%lld", (long long)req->user_id);
	snprintf(lim, sizeof lim, "%ld", limit);
	iot__query_ts_param(req->start_us, lo, sizeof lo);
	iot__query_ts_param(req->end_us, hi, sizeof hi);
	const char *p[] = { user, lo, hi, lim };
	if (total) {
		PGresult *t = iot_db_exec_binary(db, SQL_USER_TOTAL, 3, p, err);
		if (!t)
			return -1;
		*total = iot__query_int(t, 0, 0);
		PQclear(t);
	}
	PGresult *res = iot_db_exec_binary(db, SQL_USER, 4, p, err);
	if (!res)
		return -1;
	int n = PQntuples(res), rc = n;
	for (int i = 0; i < n; i++) {
		json_t *item = user_item(res, i, err);
		if (!item || iot__query_emit(fn, arg, item, err) < 0) {
			rc = -1;
			break;
		}
	}
	PQclear(res);
	return rc;
}
