/* batch_small.c — the small-batch path: a batch of fresh points from live
 * devices (what iot-httpd's group commit makes, a few dozen points) in two
 * round trips instead of a dozen. One pipeline holds BEGIN, the device
 * lock, the points as an INSERT from binary arrays (no COPY: a pipeline
 * cannot hold one), the latest-value upsert, last_seen, the hourly merge and
 * the notification (batch_rollups.c), and COMMIT. Anything else — a duplicate (a plain INSERT fails on
 * it), a removed device, a bad point, a lost connection — rolls back and
 * leaves the batch to the general path (batch_store.c), which knows how to
 * sort those out: the outcome is the same, only slower. Measured on the
 * one-point HTTP case: about 80% of a batch's time went to the round trips
 * of its dozen statements, not to PostgreSQL's work.
 *
 * A removed device cannot slip through although COMMIT is sent before the
 * lock's rows are seen: every point is taken as stored, so each of its
 * devices gets a telemetry_latest row; a device gone before the lock took
 * its latest rows with it (ON DELETE CASCADE), so that upsert inserts and
 * meets the foreign key to devices, which fails the pipeline; a device
 * there at the lock cannot go before COMMIT (its row is locked). */
#include "telemetry/store_int.h"

#include <string.h>

static bool fits(const struct batch *b)
{
	if (b->n == 0 || b->n > STORE_SMALL_POINTS)
		return false;
	size_t bytes = 0;
	for (size_t i = 0; i < b->n; i++) {
		const iot_point *p = b->pt[i];
		bytes += 80 + strlen(p->measurement) + (p->text ? strlen(p->text) : 0) +
		         (p->metadata ? strlen(p->metadata) : 0);
	}
	return bytes <= STORE_SMALL_BYTES;
}

/* After a failure the pipeline skipped what followed, COMMIT too: the
 * transaction is still open (or the connection gone). */
static void rollback(struct store *s)
{
	iot_error e;
	PGresult *r = iot_db_query(s->db, "ROLLBACK", 0, NULL, &e);
	PQclear(r);
}

int iot__store_small(struct store *s, struct batch *b)
{
	iot_error e = { 0 };
	/* A session's first batch takes the general path, which sets it up. */
	if (s->replaying || s->prepared_gen != iot_db_generation(s->db) || !fits(b) || iot__store_prepare(s, &e) < 0 ||
	    iot__device_lock_ids(&s->devices, b) < 0)
		return 0;
	for (size_t i = 0; i < b->n; i++)
		*b->out[i] = IOT_POINT_STORED;
	iot__store_stmts_reset(s);
	iot__store_stmt(s, NULL, "BEGIN");
	iot__store_stmt(s, "iotflow_lock", NULL);
	iot__store_param_text(s, s->devices.idlist);
	iot__store_stmt(s, "iotflow_insert", NULL);
	for (int col = 0; col < 8; col++) {
		iot__store_param_array(s, iot__point_field_oid(col), b->n);
		for (size_t i = 0; i < b->n; i++)
			iot__copy_point_field(&s->par.buf, b->pt[i], col);
	}
	if (iot__store_rollups_add(s, b, &e) < 0 || iot__store_stmts_close(s, &e) < 0)
		return 0;
	iot__store_stmt(s, NULL, "COMMIT");
	PGresult *res[STORE_MAX_STMTS];
	if (iot_db_pipeline(s->db, s->stmt, s->nstmt, res, &e) < 0) {
		/* A collision: the general path would fail its COPY the same way. */
		if (!strcmp(iot_db_sqlstate(s->db), "23505"))
			s->replaying = true;
		rollback(s);
		return 0;
	}
	for (size_t i = 0; i < s->nstmt; i++)
		PQclear(res[i]);
	return 1;
}
