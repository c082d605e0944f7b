/* delete.c — deleting a device's points in a time range while keeping
 * telemetry_hourly and telemetry_latest right, in one transaction.
 *
 * LOCK ORDER. The batch writer (telemetry/batch_store.c) may be storing
 * points of the same device at the same time. Each of its transactions
 * takes, in this order: the rows it inserts into telemetry_data, then its
 * telemetry_latest rows in (device, measurement) byte order, then its
 * telemetry_hourly rows in (device, measurement, bucket) order. A delete
 * takes the same kinds of lock in the same order:
 *   1. the device's telemetry_latest rows (those of the measurement filter),
 *      FOR UPDATE in byte order (COLLATE "C", the writer's strcmp order).
 *      A writer with points for one of those series now waits for us before
 *      it touches latest or hourly, or we waited for it to commit;
 *   2. DELETE the points (a writer inserting one of the same keys waits for
 *      us in its first phase, holding nothing we need);
 *   3. should the delete have met a series that had no latest row in step 1
 *      (its first points committed between steps 1 and 2), its latest row is
 *      locked now, out of order: a deadlock is then possible, PostgreSQL
 *      detects it and iot_db_transaction reruns the delete (40P01 is
 *      transient);
 *   4. the telemetry_hourly rows of the affected series and hours, FOR
 *      UPDATE in (measurement, bucket) byte order;
 *   5. only then, in new statements (READ COMMITTED: each sees everything
 *      committed before it started), recompute those hours from the points
 *      that remain, and the latest row of every affected series whose latest
 *      point was deleted from the newest point that remains (or delete it).
 * A writer that committed before we took our locks is in what step 5 reads;
 * one that waits for our locks adds its own points to the recomputed rows
 * after we commit (its rollup merge and latest upsert are increments), and
 * its points were invisible to our DELETE, so they remain. Either way the
 * rollups and latest values describe exactly the points that remain. */
#include "query/query_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char SQL_LOCK_LATEST[] =
	"SELECT measurement_name FROM telemetry_latest WHERE device_id = $1"
	" AND ($2::text IS NULL OR measurement_name = $2::text)"
	" ORDER BY measurement_name COLLATE \"C\" FOR UPDATE";

static const char SQL_DELETE[] =
	"WITH d AS (DELETE FROM telemetry_data WHERE device_id = $1"
	"  AND ts >= $2::timestamptz AND ts <= $3::timestamptz"
	"  AND ($4::text IS NULL OR measurement_name = $4::text) RETURNING measurement_name)"
	" SELECT measurement_name, count(*) FROM d GROUP BY 1 ORDER BY measurement_name COLLATE \"C\"";

static const char SQL_LOCK_LATEST_MORE[] =
	"SELECT 1 FROM telemetry_latest WHERE device_id = $1 AND measurement_name = ANY ($2::text[])"
	" ORDER BY measurement_name COLLATE \"C\" FOR UPDATE";

/* Hours that can hold a deleted point: from the hour of start to end. */
static const char SQL_LOCK_HOURLY[] =
	"SELECT 1 FROM telemetry_hourly WHERE device_id = $1 AND measurement_name = ANY ($2::text[])"
	" AND bucket >= $3::timestamptz AND bucket <= $4::timestamptz"
	" ORDER BY measurement_name COLLATE \"C\", bucket FOR UPDATE";

static const char SQL_FIX_HOURLY[] =
	"WITH h AS (SELECT measurement_name AS m, bucket FROM telemetry_hourly"
	"  WHERE device_id = $1 AND measurement_name = ANY ($2::text[])"
	"  AND bucket >= $3::timestamptz AND bucket <= $4::timestamptz),"
	" r AS (SELECT h.m, h.bucket, x.* FROM h CROSS JOIN LATERAL"
	"  (SELECT count(*) AS n, sum(numeric_value) AS s, min(numeric_value) AS lo,"
	"    max(numeric_value) AS hi, min(ts) AS fts,"
	"    (array_agg(numeric_value ORDER BY ts))[1] AS fv, max(ts) AS lts,"
	"    (array_agg(numeric_value ORDER BY ts DESC))[1] AS lv"
	"   FROM telemetry_data t WHERE t.device_id = $1 AND t.measurement_name = h.m"
	"    AND t.ts >= h.bucket AND t.ts < h.bucket + interval '1 hour'"
	"    AND t.numeric_value IS NOT NULL) x),"
	" gone AS (DELETE FROM telemetry_hourly o USING r WHERE o.device_id = $1"
	"  AND o.measurement_name = r.m AND o.bucket = r.bucket AND r.n = 0 RETURNING 1),"
	" kept AS (UPDATE telemetry_hourly o SET count = r.n, sum = r.s, min = r.lo, max = r.hi,"
	"  first_ts = r.fts, first_value = r.fv, last_ts = r.lts, last_value = r.lv FROM r"
	"  WHERE o.device_id = $1 AND o.measurement_name = r.m AND o.bucket = r.bucket AND r.n > 0"
	"  RETURNING 1)"
	" SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM kept)";

static const char SQL_FIX_LATEST[] =
	"WITH g AS (SELECT measurement_name AS m FROM telemetry_latest"
	"  WHERE device_id = $1 AND measurement_name = ANY ($2::text[])"
	"  AND ts >= $3::timestamptz AND ts <= $4::timestamptz),"
	" r AS (SELECT g.m, x.* FROM g LEFT JOIN LATERAL"
	"  (SELECT t.ts, t.numeric_value, t.text_value, t.boolean_value, t.json_value"
	"   FROM telemetry_data t WHERE t.device_id = $1 AND t.measurement_name = g.m"
	"   ORDER BY t.ts DESC LIMIT 1) x ON true),"
	" gone AS (DELETE FROM telemetry_latest o USING r WHERE o.device_id = $1"
	"  AND o.measurement_name = r.m AND r.ts IS NULL RETURNING 1),"
	" kept AS (UPDATE telemetry_latest o SET ts = r.ts, numeric_value = r.numeric_value,"
	"  text_value = r.text_value, boolean_value = r.boolean_value, json_value = r.json_value"
	"  FROM r WHERE o.device_id = $1 AND o.measurement_name = r.m AND r.ts IS NOT NULL RETURNING 1)"
	" SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM kept)";

struct del {
	const iot_delete_req *req;
	char dev[24], lo[40], hi[40], hour_lo[40];
	long long deleted;
};

/* Names in column 0 of res as a text[] parameter; *extra tells whether one
 * of them is not in column 0 of locked. */
static char *affected(const PGresult *res, const PGresult *locked, bool *extra)
{
	int n = PQntuples(res), nl = PQntuples(locked);
	const char **names = malloc(sizeof *names * (size_t)(n ? n : 1));
	if (!names)
		return NULL;
	*extra = false;
	for (int i = 0; i < n; i++) {
		names[i] = PQgetvalue(res, i, 0);
		bool found = false;
		for (int k = 0; k < nl && !found; k++)
			found = !strcmp(names[i], PQgetvalue(locked, k, 0));
		*extra = *extra || !found;
	}
	char *s = iot__query_text_array(names, (size_t)n);
	free(names);
	return s;
}

static int delete_tx(iot_db *db, void *arg, iot_error *err)
{
	struct del *d = arg;
	const char *m = d->req->measurement;
	const char *p1[] = { d->dev, m };
	PGresult *locked = NULL, *gone = NULL;
	d->deleted = 0;
	if (iot__query_cmd(db, SQL_LOCK_LATEST, 2, p1, &locked, err) < 0)
		return -1;
	const char *p2[] = { d->dev, d->lo, d->hi, m };
	if (iot__query_cmd(db, SQL_DELETE, 4, p2, &gone, err) < 0) {
		PQclear(locked);
		return -1;
	}
	for (int i = 0; i < PQntuples(gone); i++)
		d->deleted += strtoll(PQgetvalue(gone, i, 1), NULL, 10);
	bool extra = false;
	char *names = PQntuples(gone) ? affected(gone, locked, &extra) : NULL;
	bool oom = PQntuples(gone) && !names;
	PQclear(locked);
	PQclear(gone);
	if (oom)
		return iot__query_oom(err);
	if (!names)
		return 0;
	const char *p3[] = { d->dev, names, d->hour_lo, d->hi };
	const char *p4[] = { d->dev, names, d->lo, d->hi };
	int rc = (extra ? iot__query_cmd(db, SQL_LOCK_LATEST_MORE, 2, p3, NULL, err) : 0) < 0 ||
	         iot__query_cmd(db, SQL_LOCK_HOURLY, 4, p3, NULL, err) < 0 ||
	         iot__query_cmd(db, SQL_FIX_HOURLY, 4, p3, NULL, err) < 0 ||
	         iot__query_cmd(db, SQL_FIX_LATEST, 4, p4, NULL, err) < 0 ? -1 : 0;
	free(names);
	return rc;
}

long long iot_query_delete(iot_db *db, const iot_delete_req *req, iot_error *err)
{
	if (iot_query_check_range("start", req->start_us, "end", req->end_us, err) < 0)
		return -1;
	if (req->measurement && iot__query_check_names("measurement", &req->measurement, 1, err) < 0)
		return -1;
	if (req->device_id <= 0 || req->device_id > INT32_MAX)
		return 0;
	struct del d = { .req = req };
	snprintf(d.dev, sizeof d.dev, "%lld", (long long)req->device_id);
	iot__query_ts_param(req->start_us, d.lo, sizeof d.lo);
	iot__query_ts_param(req->end_us, d.hi, sizeof d.hi);
	iot__query_ts_param(iot__query_floor(req->start_us, IOT__HOUR_US), d.hour_lo, sizeof d.hour_lo);
	if (iot_db_transaction(db, delete_tx, &d, err) < 0)
		return -1;
	return d.deleted;
}
