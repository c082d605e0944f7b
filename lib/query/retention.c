/* retention.c — partitions past their age archived, verified, dropped
 * (the steps and their guarantees are in lifecycle.h).
 *
 * LOCKS. The partition is locked SHARE first: batch writers storing a
 * point into it wait (they take nothing else before their points, see
 * delete.c), readers go on. The latest-value rows are updated after that,
 * like a writer updating them for newer points would: one that holds such
 * a row commits first (it needs nothing of ours) and our statement, READ
 * COMMITTED, then sees its newer row and leaves it. The DROP needs the
 * partition and telemetry_data itself ACCESS EXCLUSIVE (PostgreSQL locks
 * the parent of a partition it drops), and while it waits for the queries
 * running on them, every other reader and writer of every partition waits
 * behind it: so each try waits at most DROP_TRY, rolled back to a savepoint
 * when it times out, the others going on between tries, for DROP_BUDGET_MS
 * in all; then everything rolls back. */
#include "query/archive_int.h"
#include "query/lifecycle.h"
#include "query/query_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"

static const char SQL_EXPIRED[] =
	"SELECT name, (extract(epoch FROM lo) * 1000000)::bigint, (extract(epoch FROM hi) * 1000000)::bigint"
	" FROM iotflow_partitions() WHERE hi <= $1::timestamptz ORDER BY lo";
static const char SQL_LOCK[] = "SELECT iotflow_lock_partition($1)";
static const char SQL_COUNT[] =
	"SELECT count(*) FROM telemetry_data WHERE ts >= $1::timestamptz AND ts < $2::timestamptz";
static const char SQL_HOURLY[] =
	"DELETE FROM telemetry_hourly WHERE bucket >= $1::timestamptz AND bucket < $2::timestamptz";
/* Series whose latest point goes: the newest point left elsewhere, or no row. */
static const char SQL_LATEST[] =
	"WITH g AS (SELECT device_id AS d, measurement_name AS m FROM telemetry_latest"
	"  WHERE ts >= $1::timestamptz AND ts < $2::timestamptz),"
	" r AS (SELECT g.d, g.m, x.* FROM g LEFT JOIN LATERAL"
	"  (SELECT t.ts, t.numeric_value, t.text_value, t.boolean_value, t.json_value"
	"   FROM telemetry_data t WHERE t.device_id = g.d AND t.measurement_name = g.m"
	"    AND (t.ts < $1::timestamptz OR t.ts >= $2::timestamptz)"
	"   ORDER BY t.ts DESC LIMIT 1) x ON true),"
	" gone AS (DELETE FROM telemetry_latest o USING r WHERE o.device_id = r.d"
	"  AND o.measurement_name = r.m AND r.ts IS NULL"
	"  AND o.ts >= $1::timestamptz AND o.ts < $2::timestamptz RETURNING 1),"
	" kept AS (UPDATE telemetry_latest o SET ts = r.ts, numeric_value = r.numeric_value,"
	"  text_value = r.text_value, boolean_value = r.boolean_value, json_value = r.json_value"
	"  FROM r WHERE o.device_id = r.d AND o.measurement_name = r.m AND r.ts IS NOT NULL"
	"  AND o.ts >= $1::timestamptz AND o.ts < $2::timestamptz RETURNING 1)"
	" SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM kept)";
static const char SQL_DROP[] = "SELECT iotflow_drop_partition($1)";
#define DROP_TRY "200ms"
#define DROP_BUDGET_MS (5 * 60 * 1000)
static const char SQL_DEVICES[] = "SELECT id FROM devices ORDER BY id";

/* Every device's cached answers stale: a daily job's one pipelined round
 * trip per thousand devices, rather than a scan of the partition for the
 * devices it held. A failure is harmless here (Redis away: nothing cached
 * is served by a process that could not bump either) but for other
 * processes, whose entries then live out their TTL. */
static void bump_all(iot_db *db, iot_cache *cache)
{
	iot_error ignored = { 0 };
	PGresult *res = iot_db_exec(db, SQL_DEVICES, 0, NULL, &ignored);
	if (!res)
		return;
	int64_t ids[1000];
	int n = PQntuples(res);
	for (int i = 0; i < n;) {
		size_t k = 0;
		for (; i < n && k < sizeof ids / sizeof ids[0]; i++)
			ids[k++] = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		iot_cache_results_bump(cache, ids, k);
	}
	PQclear(res);
}

struct part {
	iot_retention_item it;
	char lo[40], hi[40], stamp[24];
};

/* The partition's rows through the export into the archive. */
static int export_to(iot_db *db, struct part *pt, struct iot__archive *a, iot_error *err)
{
	iot_export_req q = { .start_us = pt->it.lo_us, .end_us = pt->it.hi_us - 1,
	                     .format = IOT_EXPORT_NDJSON, .in_transaction = true };
	iot_export *x = iot_export_open(db, &q, err);
	if (!x)
		return -1;
	const char *text;
	size_t len;
	int more;
	while ((more = iot_export_next(x, &text, &len, err)) > 0)
		if (iot__archive_write(a, text, len, err) < 0) {
			more = -1;
			break;
		}
	iot_export_close(x);
	return more;
}

static char *manifest(const struct part *pt, const struct iot__archive *a)
{
	char from[40], to[40], now[40];
	iot_query_format_ts(pt->it.lo_us, from, sizeof from);
	iot_query_format_ts(pt->it.hi_us, to, sizeof to);
	iot_query_format_ts(iot_now_us(), now, sizeof now);
	const char *file = strrchr(a->path, '/');
	json_t *m = json_pack("{s:s,s:s,s:s,s:I,s:s,s:s,s:s,s:I,s:s,s:s,s:s}", "partition", pt->it.partition,
	                      "from", from, "to", to, "rows", (json_int_t)pt->it.rows, "format", "ndjson",
	                      "compression", "gzip", "file", file ? file + 1 : a->path,
	                      "bytes", (json_int_t)a->file_bytes, "sha256", a->sha256,
	                      "content_sha256", a->content_sha256, "created", now);
	char *s = m ? json_dumps(m, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(m);
	if (s) {
		char *t = realloc(s, strlen(s) + 2);
		if (t)
			strcat(s = t, "\n");
	}
	return s;
}

/* The DROP, in tries that hold up the others at most DROP_TRY each (LOCKS
 * above). *res is its result. */
static int drop_bounded(iot_db *db, const char *partition, PGresult **res, iot_error *err)
{
	const char *pn[] = { partition };
	long long until = iot_now_ms() + DROP_BUDGET_MS;
	long pause_ms = 100;
	for (;;) {
		if (iot__query_cmd(db, "SAVEPOINT iotflow_drop", 0, NULL, NULL, err) < 0 ||
		    iot__query_cmd(db, "SET LOCAL lock_timeout = '" DROP_TRY "'", 0, NULL, NULL, err) < 0)
			return -1;
		if (iot__query_cmd(db, SQL_DROP, 1, pn, res, err) == 0)
			return iot__query_cmd(db, "RELEASE SAVEPOINT iotflow_drop", 0, NULL, NULL, err);
		if (strcmp(iot_db_sqlstate(db), "55P03")) /* not lock_not_available */
			return -1;
		if (iot_now_ms() + pause_ms > until)
			return iot_error_set(err, err->status,
			                     "partition %s: telemetry_data stayed in use by other queries for %d minutes, so "
			                     "it could not be dropped; nothing was (run again when they are done)",
			                     partition, DROP_BUDGET_MS / 60000);
		if (iot__query_cmd(db, "ROLLBACK TO SAVEPOINT iotflow_drop", 0, NULL, NULL, err) < 0)
			return -1;
		struct timespec ts = { pause_ms / 1000, (pause_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		pause_ms = pause_ms * 2 > 2000 ? 2000 : pause_ms * 2;
	}
}

/* Steps 2-5 of lifecycle.h inside the transaction that holds the lock. */
static int archive_and_drop(iot_db *db, const iot_retention_req *req, struct part *pt, iot_error *err)
{
	char base[128];
	snprintf(base, sizeof base, "%s-%s", pt->it.partition, pt->stamp);
	struct iot__archive a;
	if (iot__archive_open(&a, req->archive_dir, base, err) < 0)
		return -1;
	char *text = NULL;
	const char *p[] = { pt->lo, pt->hi };
	PGresult *res = NULL;
	int rc = export_to(db, pt, &a, err) < 0 || iot__archive_finish(&a, pt->it.rows, err) < 0 ? -1 : 0;
	if (rc == 0 && !(text = manifest(pt, &a)))
		rc = iot__query_oom(err);
	if (rc == 0)
		rc = iot__archive_place(&a, req->archive_dir, text, err);
	if (rc == 0)
		rc = iot__query_cmd(db, SQL_HOURLY, 2, p, NULL, err) < 0 ||
		     iot__query_cmd(db, SQL_LATEST, 2, p, NULL, err) < 0 ||
		     drop_bounded(db, pt->it.partition, &res, err) < 0 ? -1 : 0;
	if (rc == 0 && strcmp(PQgetvalue(res, 0, 0), "t"))
		rc = iot_error_set(err, IOT_INTERNAL, "partition %s went away meanwhile", pt->it.partition);
	PQclear(res);
	free(text);
	snprintf(pt->it.archive, sizeof pt->it.archive, "%s", a.path);
	snprintf(pt->it.manifest, sizeof pt->it.manifest, "%s", a.manifest);
	snprintf(pt->it.sha256, sizeof pt->it.sha256, "%s", a.sha256);
	/* Failed before the COMMIT (the caller rolls back): the partition stays,
	 * so its archive goes; else each failing run would leave another copy. */
	if (rc < 0)
		iot__archive_unplace(&a);
	iot__archive_abort(&a);
	return rc;
}

/* One partition, in one transaction. 1 done, 0 gone meanwhile, -1. */
static int retain_one(iot_db *db, const iot_retention_req *req, struct part *pt, iot_error *err)
{
	const char *pn[] = { pt->it.partition };
	const char *p[] = { pt->lo, pt->hi };
	PGresult *lock = NULL, *count = NULL;
	if (iot__query_cmd(db, "BEGIN", 0, NULL, NULL, err) < 0)
		return -1;
	int rc = 1;
	if (iot__query_cmd(db, "SET LOCAL lock_timeout = '60s'", 0, NULL, NULL, err) < 0 ||
	    iot__query_cmd(db, SQL_LOCK, 1, pn, &lock, err) < 0)
		rc = -1;
	else if (strcmp(PQgetvalue(lock, 0, 0), "t"))
		rc = 0;
	else if (iot__query_cmd(db, SQL_COUNT, 2, p, &count, err) < 0)
		rc = -1;
	if (rc == 1) {
		pt->it.rows = strtoll(PQgetvalue(count, 0, 0), NULL, 10);
		if (!req->dry_run && archive_and_drop(db, req, pt, err) < 0)
			rc = -1;
	}
	PQclear(lock);
	PQclear(count);
	iot_error ignored = { 0 };
	if (rc < 0 || req->dry_run) {
		PQclear(iot_db_query(db, "ROLLBACK", 0, NULL, &ignored));
		return rc;
	}
	if (iot__query_cmd(db, "COMMIT", 0, NULL, NULL, err) < 0)
		return -1;
	pt->it.dropped = rc == 1;
	if (req->cache)
		bump_all(db, req->cache);
	return rc;
}

int iot_retention_run(iot_db *db, const iot_retention_req *req, iot_retention_fn fn, void *arg,
                      iot_error *err)
{
	if (!req->archive_dir || !*req->archive_dir)
		return iot_error_set(err, IOT_USAGE, "an archive directory is required");
	if (req->keep_us <= 0)
		return iot_error_set(err, IOT_USAGE, "the age to keep must be positive");
	if (iot__archive_dir_check(req->archive_dir, err) < 0)
		return -1;
	int64_t now = req->now_us ? req->now_us : iot_now_us();
	char cutoff[40], stamp[24];
	iot__query_ts_param(now - req->keep_us, cutoff, sizeof cutoff);
	iot_query_file_ts(now, stamp, sizeof stamp);
	const char *p[] = { cutoff };
	PGresult *res = iot_db_exec(db, SQL_EXPIRED, 1, p, err);
	if (!res)
		return -1;
	int n = PQntuples(res), done = 0, rc = 0;
	for (int i = 0; i < n && rc == 0; i++) {
		struct part pt = { 0 };
		snprintf(pt.it.partition, sizeof pt.it.partition, "%s", PQgetvalue(res, i, 0));
		pt.it.lo_us = strtoll(PQgetvalue(res, i, 1), NULL, 10);
		pt.it.hi_us = strtoll(PQgetvalue(res, i, 2), NULL, 10);
		iot__query_ts_param(pt.it.lo_us, pt.lo, sizeof pt.lo);
		iot__query_ts_param(pt.it.hi_us, pt.hi, sizeof pt.hi);
		snprintf(pt.stamp, sizeof pt.stamp, "%s", stamp);
		int r = retain_one(db, req, &pt, err);
		if (r < 0)
			rc = -1;
		else if (r == 1 && (++done, fn && fn(arg, &pt.it) != 0))
			rc = iot_error_set(err, IOT_INTERNAL, "stopped by the caller");
	}
	PQclear(res);
	return rc < 0 ? -1 : done;
}
