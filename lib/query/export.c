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
#define FETCH_ROWS 2000

#define CHUNK_BYTES 65536

struct iot_export {
	enum iot_export_format format;
	char lo[40], hi[40], *ids;
	bool header_done;
	struct iot__cursor cur;
	PGresult *res;
	int row;
	long long points;
	struct iot__qbuf out, tmp;
};

iot_export *iot_export_open(iot_db *db, const iot_export_req *req, iot_error *err)
{
	if (iot_query_check_range("start", req->start_us, "end", req->end_us, err) < 0)
		return NULL;
	iot_export *x = calloc(1, sizeof *x);
	if (!x) {
		iot__query_oom(err);
		return NULL;
	}
	x->format = req->format;
	iot__query_ts_param(req->start_us, x->lo, sizeof x->lo);
	iot__query_ts_param(req->end_us, x->hi, sizeof x->hi);
	if (req->device_ids && req->ndevices &&
	    !(x->ids = iot__query_int_array(req->device_ids, req->ndevices))) {
		iot__query_oom(err);
		free(x);
		return NULL;
	}
	/* The first batch now, so that a failure shows before any output. */
	const char *p[] = { x->lo, x->hi, x->ids };
	const struct iot__cursor_query q = { .name = "iotflow_export", .setup = "SET LOCAL synchronize_seqscans = off",
		.declare = SQL_DECLARE, .nparams = 3, .params = p, .rows = FETCH_ROWS,
		.callers_tx = req->in_transaction };
	if (iot__cursor_open(&x->cur, db, &q, &x->res, err) < 0) {
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
		x->row = 0;
		int rc = iot__cursor_next(&x->cur, &x->res, err);
		if (rc < 0)
			return -1;
		if (rc == 0)
			break;
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
	iot__cursor_close(&x->cur);
	iot__qbuf_free(&x->out);
	iot__qbuf_free(&x->tmp);
	free(x->ids);
	free(x);
}
