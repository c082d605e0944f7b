/* pipeline.c — several statements in one round trip (libpq's pipeline
 * mode), and the prepared statements they usually are. See db.h. */
#include "pg/db.h"

#include <stdio.h>
#include <string.h>

int iot_db_prepare(iot_db *db, const char *name, const char *sql, iot_error *err)
{
	PGconn *c = iot_db_conn(db);
	PGresult *r = c ? PQprepare(c, name, sql, 0, NULL) : NULL;
	if (r && PQresultStatus(r) == PGRES_COMMAND_OK) {
		PQclear(r);
		return 0;
	}
	iot_db_note_failure(db, r);
	const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	iot_error_set(err, iot_db_failed_transient(db) ? IOT_UNAVAILABLE : IOT_INTERNAL, "PostgreSQL: %s",
	              m ? m : c ? PQerrorMessage(c) : "not connected");
	PQclear(r);
	return -1;
}

/* The session is dropped; the failure already reported is an outage that
 * a new session may not have. */
static void discard(iot_db *db, iot_error *err)
{
	iot_db_discard(db);
	if (err)
		err->status = IOT_UNAVAILABLE;
}

static int send_one(PGconn *c, const iot_db_stmt *s)
{
	if (s->name)
		return PQsendQueryPrepared(c, s->name, s->nparams, s->values, s->lengths, s->formats, 0);
	return PQsendQueryParams(c, s->sql, s->nparams, NULL, s->values, s->lengths, s->formats, 0);
}

/* The first failure is the one to report: what follows it was skipped. */
static void fail(iot_db *db, PGresult *r, bool *failed, iot_error *err)
{
	if (*failed)
		return;
	*failed = true;
	iot_db_note_failure(db, r);
	PGconn *c = iot_db_conn(db);
	const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	iot_error_set(err, iot_db_failed_transient(db) ? IOT_UNAVAILABLE : IOT_INTERNAL, "PostgreSQL: %s",
	              m ? m : PQerrorMessage(c));
}

int iot_db_pipeline(iot_db *db, const iot_db_stmt *stmts, size_t n, PGresult **res, iot_error *err)
{
	PGconn *c = iot_db_conn(db);
	for (size_t i = 0; i < n; i++)
		res[i] = NULL;
	bool failed = false;
	if (!c || PQenterPipelineMode(c) != 1) {
		fail(db, NULL, &failed, err);
		return -1;
	}
	size_t sent = 0;
	while (sent < n && send_one(c, &stmts[sent]) == 1)
		sent++;
	if (sent < n)
		fail(db, NULL, &failed, err);
	if (PQpipelineSync(c) != 1) {
		/* Results cannot be read back in order: start a new session. */
		fail(db, NULL, &failed, err);
		discard(db, err);
		return -1;
	}
	for (size_t i = 0; i < sent; i++) {
		PGresult *r = PQgetResult(c);
		if (!r) {
			fail(db, NULL, &failed, err);
			break;
		}
		ExecStatusType st = PQresultStatus(r);
		if (!failed && (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)) {
			res[i] = r;
		} else {
			if (st != PGRES_PIPELINE_ABORTED)
				fail(db, r, &failed, err);
			PQclear(r);
		}
		/* Each statement's results end with a NULL. */
		while ((r = PQgetResult(c)))
			PQclear(r);
	}
	/* Then the sync point. */
	PGresult *r;
	while ((r = PQgetResult(c))) {
		bool sync = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
		PQclear(r);
		if (sync)
			break;
	}
	if (PQexitPipelineMode(c) != 1 || PQpipelineStatus(c) != PQ_PIPELINE_OFF) {
		/* Results are still due (the server went away mid-pipeline): the
		 * session would refuse every plain query after this. */
		fail(db, NULL, &failed, err);
		discard(db, err);
	}
	if (!failed)
		return 0;
	for (size_t i = 0; i < n; i++) {
		PQclear(res[i]);
		res[i] = NULL;
	}
	return -1;
}
