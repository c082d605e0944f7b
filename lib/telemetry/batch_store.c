/* batch_store.c — the batch writer's PostgreSQL side, its general path: the
 * batch's devices locked (points of removed ones rejected); binary COPY
 * inside a savepoint; on a collision the staged INSERT .. ON CONFLICT DO
 * NOTHING path; on a permanent error bisection down to the bad points; then
 * the latest values, last_seen and hourly rollups (batch_rollups.c), all in
 * one transaction that is rerun from the start on a transient failure. A
 * small batch tries its one-pipeline path first (batch_small.c). Runs on
 * the writer thread only. */
#include "telemetry/store_int.h"
#include "auth/auth.h"
#include "cache/cache.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>


static const char SQL_COPY[] =
	"COPY telemetry_data (device_id, measurement_name, ts, numeric_value, text_value,"
	" boolean_value, json_value, metadata) FROM STDIN (FORMAT binary)";
static const char SQL_STAGE_TABLE[] =
	"CREATE TEMP TABLE IF NOT EXISTS iotflow_stage (device_id integer,"
	" measurement_name text, ts timestamptz, numeric_value double precision, text_value text,"
	" boolean_value boolean, json_value jsonb, metadata jsonb) ON COMMIT DELETE ROWS";
static const char SQL_COPY_STAGE[] =
	"COPY iotflow_stage (device_id, measurement_name, ts, numeric_value, text_value,"
	" boolean_value, json_value, metadata) FROM STDIN (FORMAT binary)";
/* The keys of the rows that went in; every other point was there already.
 * (Staging through COPY into a temp table measured 60% faster than passing
 * the batch as binary arrays to INSERT .. SELECT FROM unnest().) */
static const char SQL_STAGE_INSERT[] =
	"INSERT INTO telemetry_data (device_id, measurement_name, ts, numeric_value,"
	" text_value, boolean_value, json_value, metadata)"
	" SELECT device_id, measurement_name, ts, numeric_value, text_value, boolean_value,"
	" json_value, metadata FROM iotflow_stage"
	" ON CONFLICT DO NOTHING"
	" RETURNING device_id, measurement_name, (extract(epoch FROM ts) * 1000000)::int8";


struct store *iot__store_new(const iot_config *cfg, iot_cache *cache, iot_metric *metrics, iot_error *err)
{
	struct store *s = calloc(1, sizeof *s);
	if (!s) {
		iot_error_set(err, IOT_INTERNAL, "out of memory");
		return NULL;
	}
	if (!(s->db = iot_db_connect(cfg, err))) {
		free(s);
		return NULL;
	}
	/* Online marks go under this database's installation; a database that
	 * has none (not migrated) leaves the cache unused. */
	iot_error e = { 0 };
	if (iot_auth_cache_bind(s->db, cache, &e) < 0 && e.status == IOT_UNAVAILABLE) {
		*err = e;
		iot__store_free(s);
		return NULL;
	}
	s->cache = cache;
	s->m = metrics;
	s->online_window_us = iot_config_get_long(cfg, "online_window") * 1000000LL;
	return s;
}

void iot__store_cancel(struct store *s)
{
	iot_db_cancel(s->db);
}

void iot__store_free(struct store *s)
{
	if (!s)
		return;
	iot_db_close(s->db);
	free(s->days);
	free(s->buf.data);
	free(s->latest);
	free(s->devs);
	iot__device_lock_free(&s->devices);
	iot__batch_order_free(&s->order);
	iot__point_map_free(&s->map);
	iot__rollup_free(&s->hourly);
	free(s->par.buf.data);
	free(s);
}

static bool days_contains(const int64_t *days, size_t n, int64_t day)
{
	for (size_t i = n; i-- > 0;)
		if (days[i] == day)
			return true;
	return false;
}

static int days_insert(struct store *s, int64_t day)
{
	if (s->ndays == s->capdays) {
		size_t cap = s->capdays ? s->capdays * 2 : 64;
		int64_t *p = realloc(s->days, cap * sizeof *p);
		if (!p)
			return -1;
		s->days = p;
		s->capdays = cap;
	}
	s->days[s->ndays++] = day;
	return 0;
}

static int simple(struct store *s, const char *sql, iot_error *err)
{
	PGresult *r = iot_db_query(s->db, sql, 0, NULL, err);
	PQclear(r);
	return r ? 0 : -1;
}

/* COPY in three steps, so that a batch's rows (each with its metadata) are
 * streamed in chunks and never held in memory all at once. */
#define COPY_CHUNK (1u << 20)

static int copy_start(struct store *s, const char *sql, iot_error *err)
{
	PGresult *r = iot_db_query(s->db, sql, 0, NULL, err);
	if (!r)
		return -1;
	PQclear(r);
	iot__copy_begin(&s->buf);
	return 0;
}

/* Send what is encoded so far (when it is at least min bytes); false once
 * sending failed (copy_finish reports it). */
static bool copy_flush(struct store *s, size_t min)
{
	if (s->buf.oom || s->buf.len < min)
		return !s->buf.oom;
	bool ok = s->buf.len == 0 || PQputCopyData(iot_db_conn(s->db), s->buf.data, (int)s->buf.len) == 1;
	s->buf.len = 0;
	return ok;
}

/* End the COPY (sending the rest; aborting it when !ok) and collect its
 * result: 0, or -1 with err and the SQLSTATE kept. */
static int copy_finish(struct store *s, bool ok, iot_error *err)
{
	PGconn *c = iot_db_conn(s->db);
	bool oom = s->buf.oom;
	if (ok) {
		iot__copy_end(&s->buf);
		ok = copy_flush(s, 0);
	}
	ok = PQputCopyEnd(c, ok ? NULL : "aborted by the client") == 1 && ok;
	int rc = ok ? 0 : -1;
	PGresult *r;
	while ((r = PQgetResult(c))) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK && !oom) {
			rc = -1;
			const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
			iot_db_note_failure(s->db, r);
			iot_error_set(err, iot_db_failed_transient(s->db) ? IOT_UNAVAILABLE : IOT_REJECTED,
			              "%s", m ? m : PQerrorMessage(c));
		}
		PQclear(r);
	}
	if (oom)
		return iot_error_set(err, IOT_INTERNAL, "out of memory");
	if (rc < 0 && !ok && PQstatus(c) != CONNECTION_OK) {
		iot_db_note_failure(s->db, NULL);
		iot_error_set(err, IOT_UNAVAILABLE, "PostgreSQL: %s", PQerrorMessage(c));
	}
	return rc;
}

/* Points [lo, hi) with their metadata into sql's COPY, a chunk at a time. */
static int copy_points(struct store *s, const char *sql, const struct batch *b, size_t lo, size_t hi,
                       iot_error *err)
{
	if (copy_start(s, sql, err) < 0)
		return -1;
	bool ok = true;
	for (size_t i = lo; i < hi && ok; i++) {
		iot__copy_point(&s->buf, b->pt[i], -1, true);
		ok = copy_flush(s, COPY_CHUNK);
	}
	return copy_finish(s, ok, err);
}

static int copy_direct(struct store *s, const struct batch *b, size_t lo, size_t hi, iot_error *err)
{
	if (copy_points(s, SQL_COPY, b, lo, hi, err) < 0)
		return -1;
	for (size_t i = lo; i < hi; i++)
		*b->out[i] = IOT_POINT_STORED;
	return 0;
}

static int copy_staged(struct store *s, const struct batch *b, size_t lo, size_t hi, iot_error *err)
{
	s->staged = true;
	if (simple(s, "TRUNCATE iotflow_stage", err) < 0 || copy_points(s, SQL_COPY_STAGE, b, lo, hi, err) < 0)
		return -1;
	PGresult *r = iot_db_query(s->db, SQL_STAGE_INSERT, 0, NULL, err);
	if (!r)
		return -1;
	for (size_t i = lo; i < hi; i++)
		*b->out[i] = IOT_POINT_DUPLICATE;
	int n = PQntuples(r);
	if (n > 0 && iot__point_map_build(&s->map, b, lo, hi) < 0) {
		PQclear(r);
		return iot_error_set(err, IOT_INTERNAL, "out of memory");
	}
	for (int k = 0; k < n; k++) {
		size_t i = iot__point_map_find(&s->map, b, strtoll(PQgetvalue(r, k, 0), NULL, 10),
		                              PQgetvalue(r, k, 1), strtoll(PQgetvalue(r, k, 2), NULL, 10));
		if (i != (size_t)-1)
			*b->out[i] = IOT_POINT_STORED;
	}
	PQclear(r);
	return 0;
}

/* Store points [lo, hi): COPY straight in; on a collision the staged path; on
 * a permanent error split in two until the bad points stand alone. */
static int store_range(struct store *s, const struct batch *b, size_t lo, size_t hi,
                       bool staged, iot_error *err)
{
	if (simple(s, "SAVEPOINT p", err) < 0)
		return -1;
	int rc = staged ? copy_staged(s, b, lo, hi, err) : copy_direct(s, b, lo, hi, err);
	if (rc == 0)
		return simple(s, "RELEASE SAVEPOINT p", err);
	if (iot_db_failed_transient(s->db))
		return -1;
	char state[6];
	snprintf(state, sizeof state, "%s", iot_db_sqlstate(s->db));
	iot_error why = *err;
	if (simple(s, "ROLLBACK TO SAVEPOINT p", err) < 0 || simple(s, "RELEASE SAVEPOINT p", err) < 0)
		return -1;
	if (!staged && !strcmp(state, "23505"))
		return store_range(s, b, lo, hi, true, err);
	/* A partition this writer believed in was dropped (retention): forget
	 * what it knows and redo the batch, which creates it again. */
	if (!strcmp(state, "23514") && strstr(why.msg, "no partition of relation") && !s->partitions_reset) {
		s->partitions_stale = true;
		*err = why;
		return -1;
	}
	/* Only data errors (class 22, class 23) can be one point's fault. Anything
	 * else (permissions, a missing table...) would wrongly reject every point:
	 * fail the batch instead, and say why. */
	if (strncmp(state, "22", 2) && strncmp(state, "23", 2)) {
		*err = why;
		if (!strcmp(state, "42501"))
			err->status = IOT_DENIED;
		else if (err->status == IOT_REJECTED)
			err->status = IOT_INTERNAL;
		return -1;
	}
	if (hi - lo == 1) {
		*b->out[lo] = IOT_POINT_REJECTED;
		free(*b->why[lo]);
		*b->why[lo] = strdup(why.msg);
		return 0;
	}
	iot_metric_add(&s->m[M_BISECTS], 1);
	size_t mid = lo + (hi - lo) / 2;
	if (store_range(s, b, lo, mid, staged, err) < 0)
		return -1;
	return store_range(s, b, mid, hi, staged, err);
}

static int prepare_session(struct store *s, iot_error *err);

static int batch_tx(iot_db *db, void *arg, iot_error *err)
{
	(void)db;
	struct batch *b = ((void **)arg)[1];
	struct store *s = ((void **)arg)[0];
	/* iot_db_transaction reruns this on a transient failure: count those. */
	if (s->attempts++ > 0)
		iot_metric_add(&s->m[M_RETRIES], 1);
	if (prepare_session(s, err) < 0)
		return -1;
	for (size_t i = 0; i < b->n; i++) {
		free(*b->why[i]);
		*b->why[i] = NULL;
	}
	struct batch *use;
	if (iot__device_lock(s->db, &s->devices, b, &use, err) < 0)
		return -1;
	/* A replay collides batch after batch: skip the doomed COPY until a
	 * staged batch turns out to be all fresh again. The rollups below take
	 * only stored points, so they need not know about removed devices. */
	if (use->n > 0 && store_range(s, use, 0, use->n, s->replaying, err) < 0)
		return -1;
	bool any_dup = false;
	for (size_t i = 0; i < b->n && !any_dup; i++)
		any_dup = *b->out[i] == IOT_POINT_DUPLICATE;
	s->replaying = any_dup;
	iot__store_stmts_reset(s);
	if (iot__store_rollups_add(s, b, err) < 0 || iot__store_stmts_close(s, err) < 0)
		return -1;
	return s->nstmt ? iot__store_stmts_run(s, err) : 0;
}

/* Partitions for every day the batch touches, created outside the batch's
 * transaction (creating one locks the parent table). Known days are cached. */
static int ensure_partitions(struct store *s, const struct batch *b, iot_error *err)
{
	int64_t last = INT64_MIN;
	for (size_t i = 0; i < b->n; i++) {
		int64_t ts = b->pt[i]->ts_us;
		int64_t day = ts >= 0 ? ts / 86400000000LL : (ts + 1) / 86400000000LL - 1;
		if (day == last)
			continue;
		last = day;
		if (days_contains(s->days, s->ndays, day))
			continue;
		char tsbuf[40];
		iot_format_timestamp(ts, tsbuf, sizeof tsbuf);
		const char *p[] = { tsbuf };
		if (iot_db_command(s->db, "SELECT iotflow_ensure_partition($1::timestamptz)", 1, p, err) < 0)
			return -1;
		if (days_insert(s, day) < 0)
			return iot_error_set(err, IOT_INTERNAL, "out of memory");
	}
	return 0;
}

/* Tell Redis about the commit, before any outcome is reported (so no
 * producer hears "stored" before the bump), in one round trip: the devices
 * that got points (their cached answers are stale now: cache.h, "cached
 * answers of read queries") and those heard from, whose newest stored
 * point is recent (a backfill of old data does not make a device online).
 * Both come from the latest list: one entry per stored (device,
 * measurement), sorted by device, so a device's entries are adjacent. */
static void tell_cache(struct store *s, const struct batch *b)
{
	if (!s->cache || s->nlatest == 0 || !iot_cache_configured(s->cache))
		return;
	if (s->nlatest > s->devs_cap) {
		int64_t *p = realloc(s->devs, 2 * s->nlatest * sizeof *p);
		if (!p) { /* out of memory: bump one device at a time, mark none online */
			for (size_t k = 0; k < s->nlatest; k++)
				if (k == 0 || b->pt[s->latest[k - 1]]->device_id != b->pt[s->latest[k]]->device_id)
					iot_cache_results_bump(s->cache, &b->pt[s->latest[k]]->device_id, 1);
			return;
		}
		s->devs = p;
		s->devs_cap = s->nlatest;
	}
	int64_t now = iot_now_us(), *bumped = s->devs, *seen = s->devs + s->devs_cap;
	size_t nb = 0, ns = 0;
	for (size_t k = 0; k < s->nlatest; k++) {
		const iot_point *p = b->pt[s->latest[k]];
		if (nb == 0 || bumped[nb - 1] != p->device_id)
			bumped[nb++] = p->device_id;
		if (p->ts_us >= now - s->online_window_us && (ns == 0 || seen[ns - 1] != p->device_id))
			seen[ns++] = p->device_id;
	}
	iot_cache_committed(s->cache, bumped, nb, seen, ns, now);
}

static void count_outcomes(struct store *s, const struct batch *b, long long t0)
{
	size_t stored = 0, dup = 0, rej = 0;
	for (size_t i = 0; i < b->n; i++) {
		if (*b->out[i] == IOT_POINT_STORED) stored++;
		else if (*b->out[i] == IOT_POINT_DUPLICATE) dup++;
		else rej++;
	}
	iot_metric_add(&s->m[M_BATCHES], 1);
	/* Whether it met a collision or went there straight (a replay). */
	if (s->staged)
		iot_metric_add(&s->m[M_DEDUP_BATCHES], 1);
	iot_metric_add(&s->m[M_STORED], stored);
	iot_metric_add(&s->m[M_DUPLICATES], dup);
	iot_metric_add(&s->m[M_REJECTED], rej);
	iot_metric_add(&s->m[M_COMMIT_MS], (uint64_t)(iot_now_ms() - t0));
}

/* The staging tables live as long as the session. They are made inside the
 * batch's transaction (iot_db_transaction may reconnect and rerun it on a
 * new session), and counted as made only once that transaction commits: a
 * rolled-back CREATE leaves nothing behind. */
/* A lock held by someone else (a forgotten transaction, a LOCK TABLE)
 * must not hold a batch for ever: lock waits and statements end with a
 * transient error, and the batch fails unless the retry budget allows
 * another try. Generous, since parallel writers wait for each other's
 * latest and hourly rows; a program asked to stop does not wait for them
 * (iot_writer_cancel). Only where the session has no limit of its own
 * (PGOPTIONS, role or database settings win). */
#define SQL_SESSION_LIMITS \
	"SELECT CASE WHEN current_setting('lock_timeout') = '0'" \
	"  THEN set_config('lock_timeout', '60s', false) END," \
	" CASE WHEN current_setting('statement_timeout') = '0'" \
	"  THEN set_config('statement_timeout', '300s', false) END"

static int prepare_session(struct store *s, iot_error *err)
{
	if (iot_db_generation(s->db) == s->prepared_gen)
		return 0;
	if (simple(s, SQL_SESSION_LIMITS, err) < 0 || simple(s, SQL_STAGE_TABLE, err) < 0)
		return -1;
	return iot__store_prepare(s, err);
}

int iot__store_batch(struct store *s, struct batch *b, iot_error *err)
{
	long long t0 = iot_now_ms();
	int attempt = 0;
	s->attempts = 0;
	s->partitions_stale = s->partitions_reset = s->staged = false;
	if (iot__batch_order(b, &s->order) < 0)
		return iot_error_set(err, IOT_INTERNAL, "out of memory");
	iot_error e;
	bool small = ensure_partitions(s, b, &e) == 0 && iot__store_small(s, b) == 1;
	if (small)
		iot_metric_add(&s->m[M_SMALL_BATCHES], 1);
	for (; !small;) {
		void *arg[2] = { s, b };
		if (ensure_partitions(s, b, err) == 0 && iot_db_transaction(s->db, batch_tx, arg, err) == 0) {
			s->prepared_gen = iot_db_generation(s->db);
			break;
		}
		if (s->partitions_stale && !s->partitions_reset) {
			s->partitions_stale = false;
			s->partitions_reset = true;
			s->ndays = 0;
			continue;
		}
		if (!iot_db_failed_transient(s->db) || !iot_db_backoff(s->db, t0, &attempt))
			return -1;
		if (PQstatus(iot_db_conn(s->db)) != CONNECTION_OK && iot_db_reconnect(s->db, err) < 0)
			return -1;
	}
	tell_cache(s, b);
	count_outcomes(s, b, t0);
	return 0;
}
