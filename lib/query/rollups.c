/* rollups.c — telemetry_hourly rebuilt from the points (lifecycle.h).
 *
 * The table is locked SHARE ROW EXCLUSIVE for the rebuild: batch writers
 * (whose rollup merge needs ROW EXCLUSIVE) wait with their points not yet
 * committed, so the points read here are exactly those whose merges are
 * done, and the waiting merges add theirs to the rebuilt rows afterwards.
 * Hours are UTC hours (date_bin from the epoch), whatever the session's
 * time zone, as the writer buckets them. */
#include "query/lifecycle.h"
#include "query/query_int.h"

#include <stdio.h>
#include <stdlib.h>

static const char SQL_LOCK[] = "LOCK TABLE telemetry_hourly IN SHARE ROW EXCLUSIVE MODE";
static const char SQL_CLEAR[] = "DELETE FROM telemetry_hourly WHERE bucket >= $1::timestamptz";
static const char SQL_REBUILD[] =
	"INSERT INTO telemetry_hourly (device_id, measurement_name, bucket, count, sum, min, max,"
	"  first_ts, first_value, last_ts, last_value)"
	" SELECT t.device_id, t.measurement_name,"
	"  date_bin('1 hour', t.ts, timestamptz '1970-01-01 00:00:00+00') AS bucket,"
	"  count(*), sum(t.numeric_value), min(t.numeric_value), max(t.numeric_value),"
	"  min(t.ts), (array_agg(t.numeric_value ORDER BY t.ts))[1],"
	"  max(t.ts), (array_agg(t.numeric_value ORDER BY t.ts DESC))[1]"
	" FROM telemetry_data t WHERE t.ts >= $1::timestamptz AND t.numeric_value IS NOT NULL"
	"  AND EXISTS (SELECT 1 FROM devices d WHERE d.id = t.device_id)"
	" GROUP BY 1, 2, 3";

struct rebuild {
	char since[40];
	long long rows;
};

static int rebuild_tx(iot_db *db, void *arg, iot_error *err)
{
	struct rebuild *rb = arg;
	const char *p[] = { rb->since };
	PGresult *r = iot_db_query(db, SQL_LOCK, 0, NULL, err);
	if (!r)
		return -1;
	PQclear(r);
	if (!(r = iot_db_query(db, SQL_CLEAR, 1, p, err)))
		return -1;
	PQclear(r);
	if (!(r = iot_db_query(db, SQL_REBUILD, 1, p, err)))
		return -1;
	rb->rows = strtoll(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	return 0;
}

long long iot_rollups_rebuild(iot_db *db, int64_t since_us, iot_error *err)
{
	struct rebuild rb = { 0 };
	iot__query_ts_param(iot__query_floor(since_us, IOT__HOUR_US), rb.since, sizeof rb.since);
	if (iot_db_transaction(db, rebuild_tx, &rb, err) < 0)
		return -1;
	return rb.rows;
}
