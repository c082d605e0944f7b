/* cursor.c — a read-only server-side cursor read in batches (query_int.h).
 * The next FETCH is sent before a batch is handed out, so PostgreSQL reads
 * the next batch while the caller works on this one: for a big answer the
 * two sides overlap instead of taking turns. */
#include "query/query_int.h"

#include <stdio.h>

#include "base/clock.h"

/* The result of the FETCH sent ahead (NULL with err when it failed). */
static PGresult *take_fetch(struct iot__cursor *k, iot_error *err)
{
	PGconn *c = iot_db_conn(k->db);
	PGresult *res = NULL, *r;
	while (c && (r = PQgetResult(c)))
		if (res)
			PQclear(r);
		else
			res = r;
	k->pending = false;
	if (res && PQresultStatus(res) == PGRES_TUPLES_OK)
		return res;
	iot_db_note_failure(k->db, res);
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	iot_error_set(err, iot_db_failed_transient(k->db) ? IOT_UNAVAILABLE : IOT_INTERNAL, "PostgreSQL: %s",
	              msg ? msg : c ? PQerrorMessage(c) : "not connected");
	PQclear(res);
	return NULL;
}

static void send_fetch(struct iot__cursor *k)
{
	PGconn *c = iot_db_conn(k->db);
	k->pending = c && PQsendQueryParams(c, k->fetch, 0, NULL, NULL, NULL, NULL, 1);
}

/* End the transaction with sql; in the caller's transaction, close the
 * cursor only (when the transaction can still run a statement). */
static void end_tx(struct iot__cursor *k, const char *sql)
{
	PGconn *c = iot_db_conn(k->db);
	if (k->pending) {
		iot_error ignored;
		PQclear(take_fetch(k, &ignored));
	}
	if (k->callers_tx)
		sql = c && PQtransactionStatus(c) == PQTRANS_INTRANS ? k->close : NULL;
	if (sql && c && PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) != PQTRANS_IDLE)
		PQclear(PQexecParams(c, sql, 0, NULL, NULL, NULL, NULL, 0));
	k->in_tx = false;
}

/* BEGIN, the set-up, the cursor, and its first FETCH sent: one attempt. */
static int declare(struct iot__cursor *k, const struct iot__cursor_query *q, iot_error *err)
{
	PGresult *res;
	if (!k->callers_tx) {
		if (!(res = iot_db_query(k->db, "BEGIN READ ONLY", 0, NULL, err)))
			return -1;
		PQclear(res);
	}
	k->in_tx = true;
	if (q->setup) {
		if (!(res = iot_db_query(k->db, q->setup, 0, NULL, err)))
			return -1;
		PQclear(res);
	}
	if (!(res = iot_db_query(k->db, q->declare, q->nparams, q->params, err)))
		return -1;
	PQclear(res);
	send_fetch(k);
	return 0;
}

int iot__cursor_next(struct iot__cursor *k, PGresult **res, iot_error *err)
{
	*res = NULL;
	if (k->done)
		return 0;
	if (!k->pending)
		send_fetch(k);
	if (!(*res = take_fetch(k, err)))
		return -1;
	int n = PQntuples(*res);
	if (n == k->rows) {
		send_fetch(k);
		return 1;
	}
	/* A short batch is the last: no FETCH more to learn that. */
	end_tx(k, "COMMIT"); /* read only: a failed COMMIT loses nothing */
	k->done = true;
	if (n > 0)
		return 1;
	PQclear(*res);
	*res = NULL;
	return 0;
}

int iot__cursor_open(struct iot__cursor *k, iot_db *db, const struct iot__cursor_query *q, PGresult **first,
                     iot_error *err)
{
	*k = (struct iot__cursor){ .db = db, .rows = q->rows, .callers_tx = q->callers_tx };
	snprintf(k->fetch, sizeof k->fetch, "FETCH %d FROM %s", q->rows, q->name);
	snprintf(k->close, sizeof k->close, "CLOSE %s", q->name);
	/* Nothing is handed out yet, so a transient failure is retried
	 * (reconnecting when the connection is gone) within db's retry budget;
	 * later ones end the read: it cannot tell what it would repeat. */
	long long started = iot_now_ms();
	int attempt = 0;
	for (;;) {
		int rc;
		if (declare(k, q, err) == 0 && (rc = iot__cursor_next(k, first, err)) >= 0)
			return rc;
		if (k->callers_tx || !iot_db_failed_transient(db))
			return -1;
		end_tx(k, "ROLLBACK");
		if (!iot_db_backoff(db, started, &attempt))
			return -1;
		PGconn *c = iot_db_conn(db);
		if ((!c || PQstatus(c) != CONNECTION_OK) && iot_db_reconnect(db, err) < 0)
			return -1;
	}
}

void iot__cursor_close(struct iot__cursor *k)
{
	if (k->in_tx)
		end_tx(k, "ROLLBACK");
}
