/* db.h — the PostgreSQL connection layer: connect with retries, tell transient
 * failures (connection lost, server starting/stopping, serialization, out of
 * resources) from permanent ones, and rerun autocommit statements or whole
 * transactions on transient failures with backoff. SQL is always constant
 * text with parameters. */
#ifndef IOT_DB_H
#define IOT_DB_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "base/clock.h"
#include "base/config.h"
#include "base/error.h"

typedef struct iot_db iot_db;

/* Connect using cfg's "database" conninfo (else libpq's PG* variables),
 * retrying transient failures for up to cfg's db_retry_time. cfg must
 * outlive db: the first retry of every outage is told through its notice
 * hook, and its stop flag ends retrying (iot_config_set_notice, _set_stop). */
iot_db *iot_db_connect(const iot_config *cfg, iot_error *err);
void iot_db_close(iot_db *db);
PGconn *iot_db_conn(iot_db *db);
/* Bumped on every reconnect: prepared statements must be prepared again. */
unsigned iot_db_generation(const iot_db *db);
/* Change the retry budget after connecting. 0 makes every failure final and
 * never reconnects behind the caller's back (session state such as an
 * advisory lock would silently be lost). */
void iot_db_set_retry_time(iot_db *db, long ms);
/* The longest a statement of iot_db_query/_exec/_command waits for the
 * server's answer, in ms (0, the default: as long as it takes). A server
 * that stops answering at the TCP level (a frozen host) sends neither an
 * error nor a reset, and cannot run its statement_timeout; past this wait
 * the session is dropped, the failure is transient ("no answer within N
 * ms") and the next attempt reconnects. For a caller that must not block,
 * such as the broker plugin on the broker's only thread. Pipelines and
 * COPY are not bounded by it. Reconnects are: their connect_timeout is
 * ms rounded up to seconds (libpq waits at least 2 s), unless the conninfo
 * or PGCONNECT_TIMEOUT sets one. */
void iot_db_set_answer_time(iot_db *db, long ms);
/* Ask the server to cancel the statement running on db now (it fails with
 * SQLSTATE 57014). The one call that may come from another thread than the
 * connection's user; a no-op when nothing runs. */
void iot_db_cancel(iot_db *db);
/* Drop and re-establish the connection (with the same retry budget). */
int iot_db_reconnect(iot_db *db, iot_error *err);
/* Close a session that cannot be trusted any more (a pipeline that could not
 * be left): the failure counts as transient, and the caller's next attempt
 * finds no connection and reconnects within its retry budget. */
void iot_db_discard(iot_db *db);

/* True for SQLSTATEs worth retrying: class 08 (connection), 57P01-57P05
 * (shutdown, cannot connect now), 40001/40P01 (serialization, deadlock),
 * class 53 (insufficient resources), 55P03 (lock timeout), 57014 (statement
 * canceled or timed out). NULL (no SQLSTATE: connection lost) too. */
bool iot_sqlstate_transient(const char *sqlstate);
/* SQLSTATE of the last failed statement ("" when none). */
const char *iot_db_sqlstate(const iot_db *db);
/* The constraint the last failed statement violated ("" when none). */
const char *iot_db_constraint(const iot_db *db);
/* Whether the last failure was transient. */
bool iot_db_failed_transient(const iot_db *db);
/* Classify a failed result obtained directly from libpq (COPY, pipelines):
 * keeps its SQLSTATE and whether it is transient. res may be NULL. */
void iot_db_note_failure(iot_db *db, const PGresult *res);

/* One attempt: returns a PGresult with TUPLES_OK/COMMAND_OK/COPY_IN or NULL
 * with err set (status IOT_UNAVAILABLE when transient). */
PGresult *iot_db_query(iot_db *db, const char *sql, int nparams,
                       const char *const *params, iot_error *err);
/* iot_db_query with the rows in binary format (see iot_db_exec_binary):
 * one attempt, for statements inside a transaction (FETCH from a cursor). */
PGresult *iot_db_query_binary(iot_db *db, const char *sql, int nparams,
                              const char *const *params, iot_error *err);
/* Like iot_db_query outside a transaction, retried on transient failures
 * (reconnecting when needed) within the outage's budget (iot_db_backoff).
 * A session lost before is opened again first, even when that budget is
 * spent (one attempt). */
PGresult *iot_db_exec(iot_db *db, const char *sql, int nparams,
                      const char *const *params, iot_error *err);
/* iot_db_exec with the rows in binary format (parameters stay text): integers
 * and floats arrive as network-order bytes, timestamptz as microseconds since
 * 2000-01-01 (int8), text as its bytes. For big results: no number is
 * printed by the server and parsed again by the client. */
PGresult *iot_db_exec_binary(iot_db *db, const char *sql, int nparams,
                             const char *const *params, iot_error *err);
/* iot_db_exec for statements whose rows don't matter; returns 0 or -1. */
int iot_db_command(iot_db *db, const char *sql, int nparams,
                   const char *const *params, iot_error *err);

/* Run fn inside BEGIN/COMMIT. On a transient failure (in fn or at COMMIT)
 * roll back, wait, and run fn again from the start: fn must be safe to
 * repeat (within the outage's budget, iot_db_backoff). A session lost
 * before is opened again first. Returns fn's result, or -1 with err set. */
typedef int (*iot_db_tx_fn)(iot_db *db, void *arg, iot_error *err);
int iot_db_transaction(iot_db *db, iot_db_tx_fn fn, void *arg, iot_error *err);

/* Prepare sql as the named statement on db's current session (parameter
 * types from the casts in the text). Prepared statements die with the
 * session: prepare again when iot_db_generation changes. 0 or -1. */
int iot_db_prepare(iot_db *db, const char *name, const char *sql, iot_error *err);

/* One statement of a pipeline: a prepared one by name, else sql's text.
 * lengths and formats as PQexecParams takes them (NULL: all text). */
typedef struct iot_db_stmt {
	const char *name, *sql;
	int nparams;
	const char *const *values;
	const int *lengths, *formats;
} iot_db_stmt;

/* Send n statements in one pipeline (one round trip, libpq's pipeline
 * mode) and collect each one's result into res[i] (the caller PQclears
 * them). One attempt, never retried: 0, or -1 with err set by the first
 * statement that failed (its SQLSTATE kept, as iot_db_query does), every
 * res[i] NULL and PostgreSQL having skipped the statements after it. Inside
 * a transaction the failure aborts it as any failed statement would;
 * outside one, the statements form one implicit transaction. Keep the
 * parameters small (up to some MB): the results are read only after
 * everything is sent. */
int iot_db_pipeline(iot_db *db, const iot_db_stmt *stmts, size_t n, PGresult **res, iot_error *err);

/* Sleep for the next step of an exponential backoff (100 ms doubling to 2 s,
 * with jitter). Returns false when the retry budget is spent: db_retry_time
 * from the start of db's outage, which is started_ms or, when db was
 * already failing (a retry loop inside another: a batch, its transaction,
 * the reconnect), the start of the outermost; it ends when a statement or a
 * connect succeeds. An outage is told through the notice hook at its second
 * step ("PostgreSQL is unavailable (...): retrying for up to N s"; a lost
 * session opened again at once is not one), once for all the handles of a
 * process, and its end as information ("PostgreSQL is back"). */
bool iot_db_backoff(iot_db *db, long long started_ms, int *attempt);

#endif
