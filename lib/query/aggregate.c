/* aggregate.c — mean/sum/count/min/max/first/last over epoch-aligned time
 * buckets of any width (rules in query.h).
 *
 * One statement serves both sources. Its "parts" are partial aggregates
 * (count, sum, min, max, and the first and last point with their times)
 * that the outer query merges per bucket:
 *   - whole hours inside the range, read from telemetry_hourly [$5, $6);
 *   - raw points of [$3, $4) and [$7, $8), summed up per $9-wide bin.
 * The raw source passes the whole range as [$3, $4) with bins of the window
 * itself and empty hourly and second ranges; the hourly source passes the
 * partial hours at the two edges as raw ranges with one-hour bins. Windows of
 * whole hours are unions of whole hours (both are aligned to the epoch), so
 * every part falls into exactly one bucket. first/last are the value at the
 * earliest/latest time: array_agg ordered by time, only computed when asked
 * for ($10, $11). The two raw ranges are separate scans so each reads only
 * its own stretch of the primary key. */
#include "query/query_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RAW_PART(LO, HI)                                                                      \
	" SELECT date_bin($9::int8 * interval '1 microsecond', ts, timestamptz 'epoch'),"         \
	"  count(*), sum(numeric_value), min(numeric_value), max(numeric_value), min(ts),"         \
	"  (array_agg(numeric_value ORDER BY ts) FILTER (WHERE $10::boolean))[1], max(ts),"        \
	"  (array_agg(numeric_value ORDER BY ts DESC) FILTER (WHERE $11::boolean))[1]"             \
	" FROM telemetry_data WHERE device_id = $1 AND measurement_name = $2"                     \
	"  AND numeric_value IS NOT NULL AND ts >= " LO "::timestamptz AND ts < " HI "::timestamptz" \
	" GROUP BY 1"

const char iot__sql_aggregate[] =
	"WITH parts (b, n, s, lo, hi, fts, fv, lts, lv) AS ("
	" SELECT bucket, count, sum, min, max, first_ts, first_value, last_ts, last_value"
	" FROM telemetry_hourly WHERE device_id = $1 AND measurement_name = $2"
	"  AND bucket >= $5::timestamptz AND bucket < $6::timestamptz"
	" UNION ALL" RAW_PART("$3", "$4")
	" UNION ALL" RAW_PART("$7", "$8")
	")"
	" SELECT date_bin($12::int8 * interval '1 microsecond', b, timestamptz 'epoch'),"
	"  sum(n)::int8, sum(s), min(lo), max(hi),"
	"  (array_agg(fv ORDER BY fts))[1], (array_agg(lv ORDER BY lts DESC))[1]"
	" FROM parts GROUP BY 1 ORDER BY 1";

struct bucket {
	int64_t ts, count;
	double value;
};

enum iot_agg_source iot_query_aggregate_source(const iot_aggregate_req *req)
{
	if (req->source == IOT_AGG_AUTO)
		return req->window_us > 0 && req->window_us % IOT__HOUR_US == 0 ? IOT_AGG_HOURLY : IOT_AGG_RAW;
	return req->source;
}

int iot_query_aggregate_check(const iot_aggregate_req *req, iot_error *err)
{
	if (req->window_us < IOT_QUERY_WINDOW_MIN_US || req->window_us > IOT_QUERY_WINDOW_MAX_US)
		return iot_error_set(err, IOT_USAGE, "window: out of bounds (1s to 366d)");
	if (iot_query_aggregate_source(req) == IOT_AGG_HOURLY && req->window_us % IOT__HOUR_US)
		return iot_error_set(err, IOT_USAGE, "window: the hourly rollups serve whole hours only");
	if ((unsigned)req->fn > IOT_AGG_LAST)
		return iot_error_set(err, IOT_USAGE, "aggregation: unknown function");
	if (iot_query_check_range("start", req->start_us, "end", req->end_us, err) < 0)
		return -1;
	const char *m = req->measurement;
	if (iot__query_check_names("field", &m, 1, err) < 0)
		return -1;
	int64_t n = (iot__query_floor(req->end_us, req->window_us) -
	             iot__query_floor(req->start_us, req->window_us)) / req->window_us + 1;
	if (n > IOT_QUERY_BUCKETS_MAX)
		return iot_error_set(err, IOT_USAGE,
		                     "window: %lld buckets over the range, over the maximum of %d "
		                     "(use a wider window or a shorter range)", (long long)n, IOT_QUERY_BUCKETS_MAX);
	return 0;
}

/* The statement's time parameters (see the top of this file). */
struct ranges {
	int64_t raw1_lo, raw1_hi, hours_lo, hours_hi, raw2_lo, raw2_hi, bin;
};

static struct ranges plan(const iot_aggregate_req *req)
{
	int64_t end = req->end_us + 1; /* exclusive */
	struct ranges r = { req->start_us, end, end, end, end, end, req->window_us };
	if (iot_query_aggregate_source(req) != IOT_AGG_HOURLY)
		return r;
	int64_t hs = iot__query_floor(req->start_us + IOT__HOUR_US - 1, IOT__HOUR_US);
	int64_t he = iot__query_floor(end, IOT__HOUR_US);
	r.bin = IOT__HOUR_US;
	if (hs < he) {
		r.raw1_hi = hs;
		r.hours_lo = hs;
		r.hours_hi = he;
		r.raw2_lo = he;
	}
	return r;
}

static double bucket_value(const PGresult *res, int i, enum iot_agg_fn fn, int64_t count)
{
	static const int col[] = {
		[IOT_AGG_SUM] = 2, [IOT_AGG_MIN] = 3, [IOT_AGG_MAX] = 4, [IOT_AGG_FIRST] = 5, [IOT_AGG_LAST] = 6,
	};
	if (fn == IOT_AGG_COUNT)
		return (double)count;
	double sum = iot__query_float8(res, i, 2);
	if (fn == IOT_AGG_MEAN)
		return sum / (double)count;
	return iot__query_float8(res, i, col[fn]);
}

void iot__query_aggregate_params(const iot_aggregate_req *req, struct iot__agg_params *ap)
{
	struct ranges r = plan(req);
	int64_t t[] = { r.raw1_lo, r.raw1_hi, r.hours_lo, r.hours_hi, r.raw2_lo, r.raw2_hi };
	for (int i = 0; i < 6; i++)
		iot__query_ts_param(t[i], ap->ts[i], sizeof ap->ts[i]);
	snprintf(ap->dev, sizeof ap->dev, "%lld", (long long)req->device_id);
	snprintf(ap->bin, sizeof ap->bin, "%lld", (long long)r.bin);
	snprintf(ap->win, sizeof ap->win, "%lld", (long long)req->window_us);
	const char *p[] = { ap->dev, req->measurement, ap->ts[0], ap->ts[1], ap->ts[2], ap->ts[3], ap->ts[4],
	                    ap->ts[5], ap->bin, req->fn == IOT_AGG_FIRST ? "t" : "f",
	                    req->fn == IOT_AGG_LAST ? "t" : "f", ap->win };
	memcpy(ap->p, p, sizeof p);
}

static PGresult *run(iot_db *db, const iot_aggregate_req *req, iot_error *err)
{
	struct iot__agg_params ap;
	iot__query_aggregate_params(req, &ap);
	return iot_db_exec_binary(db, iot__sql_aggregate, IOT__AGG_NPARAMS, ap.p, err);
}

static json_t *bucket_row(const struct bucket *b, const struct bucket *prev, int64_t ts, enum iot_agg_fn fn)
{
	json_t *v;
	if (b && fn == IOT_AGG_COUNT)
		v = json_integer(b->count);
	else if (b)
		v = json_real(b->value);
	else if (prev)
		v = fn == IOT_AGG_COUNT ? json_integer(prev->count) : json_real(prev->value);
	else
		v = json_null();
	return json_pack("{sosos I}", "timestamp", iot__query_ts_json(ts), "value", v,
	                 "count", (json_int_t)(b ? b->count : 0));
}

/* The first of b[0..n) (ascending) at or after ts. */
static size_t lower_bound(const struct bucket *b, size_t n, int64_t ts)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (b[mid].ts < ts)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int emit(const struct bucket *b, size_t n, const iot_aggregate_req *req, iot_query_row_fn fn,
                void *arg, iot_error *err)
{
	int64_t w = req->window_us, first = iot__query_floor(req->start_us, w);
	int64_t total = req->fill == IOT_FILL_NONE ? (int64_t)n
	              : (iot__query_floor(req->end_us, w) - first) / w + 1;
	for (int64_t k = 0; k < total; k++) {
		int64_t i = req->ascending ? k : total - 1 - k;
		const struct bucket *at = NULL, *prev = NULL;
		int64_t ts;
		if (req->fill == IOT_FILL_NONE) {
			at = &b[i];
			ts = at->ts;
		} else {
			ts = first + i * w;
			size_t pos = lower_bound(b, n, ts);
			if (pos < n && b[pos].ts == ts)
				at = &b[pos];
			else if (pos > 0 && req->fill == IOT_FILL_PREVIOUS)
				prev = &b[pos - 1];
		}
		if (iot__query_emit(fn, arg, bucket_row(at, prev, ts, req->fn), err) < 0)
			return -1;
	}
	return (int)total;
}

int iot_query_aggregate(iot_db *db, const iot_aggregate_req *req, iot_query_row_fn fn, void *arg,
                        iot_error *err)
{
	if (iot_query_aggregate_check(req, err) < 0)
		return -1;
	PGresult *res = NULL;
	if (req->device_id > 0 && req->device_id <= INT32_MAX && !(res = run(db, req, err)))
		return -1;
	size_t n = res ? (size_t)PQntuples(res) : 0;
	struct bucket *b = calloc(n ? n : 1, sizeof *b);
	if (!b) {
		PQclear(res);
		return iot__query_oom(err);
	}
	for (size_t i = 0; i < n; i++) {
		b[i].ts = iot__query_ts(res, (int)i, 0);
		b[i].count = iot__query_int(res, (int)i, 1);
		b[i].value = bucket_value(res, (int)i, req->fn, b[i].count);
	}
	PQclear(res);
	int rc = emit(b, n, req, fn, arg, err);
	free(b);
	return rc;
}
