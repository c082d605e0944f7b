/* export.c — every point of a time range as NDJSON or CSV, through a
 * cursor (shapes and guarantees in query.h). */
#include "query/query_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/json_util.h"

/* No ORDER BY: a whole-range export is a sequential read of each
 * partition (measured 3.5 times faster than the primary key's order over
 * 2.6M points held in memory, and it needs no random reads of a partition
 * on disk); with a device filter the planner reads the primary key of each
 * partition instead. Points come partition by partition, oldest first, and
 * within one in the order they are stored (for a seqential read: as they
 * arrived). synchronize_seqscans is off so that a read does not start in
 * the middle of a big partition that another read is scanning: the same
 * data gives the same file. */
static const char SQL_DECLARE[] =
	"DECLARE iotflow_export NO SCROLL CURSOR FOR"
	" SELECT " IOT__SQL_POINT("")
	" FROM telemetry_data WHERE ts >= $1::timestamptz AND ts <= $2::timestamptz"
	"  AND ($3::int[] IS NULL OR device_id = ANY ($3::int[]))";
/* Rows per FETCH: a few hundred kilobytes of typical points; at most ~25 MB
 * when every point carries the largest value and metadata (4 KiB each). */
static const char SQL_FETCH[] = "FETCH 2000 FROM iotflow_export";

#define CHUNK_BYTES 65536

struct iot_export {
	iot_db *db;
	enum iot_export_format format;
	char lo[40], hi[40], *ids;
	bool in_tx, pending, header_done, done;
	bool callers_tx;             /* the cursor lives in the caller's transaction */
	PGresult *res;
	int row;
	long long points;
	struct iot__qbuf out, tmp;
};

/* The result of the FETCH sent ahead (NULL with err when it failed). */
static PGresult *take_fetch(iot_export *x, iot_error *err)
{
	PGconn *c = iot_db_conn(x->db);
	PGresult *res = NULL, *r;
	while (c && (r = PQgetResult(c)))
		if (res)
			PQclear(r);
		else
			res = r;
	x->pending = false;
	if (res && PQresultStatus(res) == PGRES_TUPLES_OK)
		return res;
	iot_db_note_failure(x->db, res);
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	iot_error_set(err, iot_db_failed_transient(x->db) ? IOT_UNAVAILABLE : IOT_INTERNAL, "PostgreSQL: %s",
	              msg ? msg : c ? PQerrorMessage(c) : "not connected");
	PQclear(res);
	return NULL;
}

/* Send the next FETCH without waiting: the server reads the next batch
 * while this side writes out the one it has. */
static void send_fetch(iot_export *x)
{
	PGconn *c = iot_db_conn(x->db);
	x->pending = c && PQsendQueryParams(c, SQL_FETCH, 0, NULL, NULL, NULL, NULL, 1);
}

/* End the transaction with sql; in the caller's transaction, close the
 * cursor only (when the transaction can still run a statement). */
static void end_tx(iot_export *x, const char *sql)
{
	PGconn *c = iot_db_conn(x->db);
	if (x->pending) {
		iot_error ignored;
		PQclear(take_fetch(x, &ignored));
	}
	if (x->callers_tx)
		sql = c && PQtransactionStatus(c) == PQTRANS_INTRANS ? "CLOSE iotflow_export" : NULL;
	if (sql && c && PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) != PQTRANS_IDLE)
		PQclear(PQexecParams(c, sql, 0, NULL, NULL, NULL, NULL, 0));
	x->in_tx = false;
}

/* BEGIN, the cursor, and its first FETCH sent: one attempt. */
static int declare(iot_export *x, iot_error *err)
{
	PGresult *res;
	if (!x->callers_tx) {
		if (!(res = iot_db_query(x->db, "BEGIN READ ONLY", 0, NULL, err)))
			return -1;
		PQclear(res);
	}
	x->in_tx = true;
	const char *p[] = { x->lo, x->hi, x->ids };
	if (!(res = iot_db_query(x->db, "SET LOCAL synchronize_seqscans = off", 0, NULL, err)))
		return -1;
	PQclear(res);
	if (!(res = iot_db_query(x->db, SQL_DECLARE, 3, p, err)))
		return -1;
	PQclear(res);
	send_fetch(x);
	return 0;
}

/* The next batch of rows into x->res, and the one after it asked for. */
static int fetch(iot_export *x, iot_error *err)
{
	if (!x->pending)
		send_fetch(x);
	if (!(x->res = take_fetch(x, err)))
		return -1;
	x->row = 0;
	if (PQntuples(x->res) > 0) {
		send_fetch(x);
	} else {
		end_tx(x, "COMMIT"); /* read only: a failed COMMIT loses nothing */
		x->done = true;
	}
	return 0;
}

/* The cursor and its first batch. Nothing is handed out yet, so a
 * transient failure is retried (reconnecting when the connection is gone)
 * within db's retry budget; later ones end the export: it cannot tell
 * what it would repeat. */
static int start(iot_export *x, iot_error *err)
{
	long long started = iot_now_ms();
	int attempt = 0;
	for (;;) {
		if (declare(x, err) == 0 && fetch(x, err) == 0)
			return 0;
		if (x->callers_tx || !iot_db_failed_transient(x->db))
			return -1;
		end_tx(x, "ROLLBACK");
		if (!iot_db_backoff(x->db, started, &attempt))
			return -1;
		PGconn *c = iot_db_conn(x->db);
		if ((!c || PQstatus(c) != CONNECTION_OK) && iot_db_reconnect(x->db, err) < 0)
			return -1;
	}
}

iot_export *iot_export_open(iot_db *db, const iot_export_req *req, iot_error *err)
{
	if (iot_query_check_range("start", req->start_us, "end", req->end_us, err) < 0)
		return NULL;
	iot_export *x = calloc(1, sizeof *x);
	if (!x) {
		iot__query_oom(err);
		return NULL;
	}
	x->db = db;
	x->format = req->format;
	x->callers_tx = req->in_transaction;
	iot__query_ts_param(req->start_us, x->lo, sizeof x->lo);
	iot__query_ts_param(req->end_us, x->hi, sizeof x->hi);
	if (req->device_ids && req->ndevices &&
	    !(x->ids = iot__query_int_array(req->device_ids, req->ndevices))) {
		iot__query_oom(err);
		free(x);
		return NULL;
	}
	/* The first batch now, so that a failure shows before any output. */
	if (start(x, err) < 0) {
		iot_export_close(x);
		return NULL;
	}
	return x;
}

/* Row x->row of the batch into x->out. */
static void put_row(iot_export *x)
{
	iot__point_text(&x->out, &x->tmp, x->format, x->res, x->row);
	x->row++;
	x->points++;
}

int iot_export_next(iot_export *x, const char **text, size_t *len, iot_error *err)
{
	x->out.len = 0;
	if (x->format == IOT_EXPORT_CSV && !x->header_done) {
		iot__qbuf_put(&x->out, iot__csv_header, strlen(iot__csv_header));
		x->header_done = true;
	}
	while (x->out.len < CHUNK_BYTES && !x->out.oom) {
		if (x->res && x->row < PQntuples(x->res)) {
			put_row(x);
			continue;
		}
		PQclear(x->res);
		x->res = NULL;
		if (x->done)
			break;
		if (fetch(x, err) < 0)
			return -1;
	}
	if (x->out.oom)
		return iot__query_oom(err);
	*text = x->out.s;
	*len = x->out.len;
	return x->out.len > 0;
}

long long iot_export_points(const iot_export *x)
{
	return x->points;
}

void iot_export_close(iot_export *x)
{
	if (!x)
		return;
	PQclear(x->res);
	if (x->in_tx)
		end_tx(x, "ROLLBACK");
	iot__qbuf_free(&x->out);
	iot__qbuf_free(&x->tmp);
	free(x->ids);
	free(x);
}
