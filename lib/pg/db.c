/* db.c — PostgreSQL connection, classification of failures, retries. */
#include "pg/db.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct iot_db {
	PGconn *conn;
	char *conninfo;
	char *program;       /* fallback_application_name */
	const iot_config *cfg; /* for notices */
	const atomic_bool *stop; /* set: no more retries */
	char why[256];       /* the last failure, one line, for the retry notice */
	pthread_mutex_t cancel_mu; /* guards cancel: iot_db_cancel comes from other threads */
	PGcancel *cancel;
	long retry_ms;
	long answer_ms;      /* iot_db_set_answer_time; 0: wait as long as it takes */
	char unanswered[48]; /* why the last statement failed, when it got no answer */
	unsigned generation;
	char sqlstate[6];
	char constraint[64]; /* PG_DIAG_CONSTRAINT_NAME of the last failure */
	bool transient;
	/* The outage this handle is in: when its first retried failure began
	 * (0: none; the last statement or connect succeeded), and whether it
	 * told the outage. Every retry loop, nested or not, ends at
	 * down_since + retry_ms: a lost connection found by a batch, then by
	 * its transaction, then by the reconnect, is one outage with one
	 * budget, not three. */
	long long down_since;
	int steps;           /* backoff steps in this outage */
	bool told;
};

/* Several handles of one program meet the same outage (a writer's, each
 * session's): it is told once, and so is its end. */
static atomic_bool outage_told;

bool iot_sqlstate_transient(const char *s)
{
	if (!s || !*s)
		return true; /* no SQLSTATE: the connection itself failed */
	if (!strncmp(s, "08", 2) || !strncmp(s, "53", 2))
		return true;
	if (!strcmp(s, "57P01") || !strcmp(s, "57P02") || !strcmp(s, "57P03") ||
	    !strcmp(s, "57P04") || !strcmp(s, "57P05"))
		return true;
	if (!strcmp(s, "40001") || !strcmp(s, "40P01"))
		return true;
	/* lock_not_available (lock_timeout) and query_canceled (statement_timeout,
	 * a cancel): the same statement may well go through a moment later. */
	if (!strcmp(s, "55P03") || !strcmp(s, "57014"))
		return true;
	return false;
}

/* What a failed connection attempt means: worth retrying (server down,
 * starting, out of connections), a connection string that cannot work
 * (usage), refused credentials (denied), or a database or role that does not
 * exist (unavailable: no waiting will create it). */
static enum iot_status connect_failure_kind(const char *msg)
{
	static const char *const usage[] = {
		"invalid connection option", "invalid URI", "missing \"=\"", "invalid sslmode",
		"invalid integer value", "invalid port number", "unterminated quoted string",
	};
	/* libpq's "no password supplied" (the server wants one, none was
	 * given: no ~/.pgpass) and a pg_hba.conf "reject" line are refusals
	 * too: retrying them only made every program wait db_retry_time. */
	static const char *const denied[] = {
		"authentication failed", "no pg_hba.conf entry", "password is required", "permission denied",
		"is not permitted to log in", "no password supplied", "pg_hba.conf rejects connection",
	};
	for (size_t i = 0; i < sizeof usage / sizeof usage[0]; i++)
		if (strstr(msg, usage[i]))
			return IOT_USAGE;
	for (size_t i = 0; i < sizeof denied / sizeof denied[0]; i++)
		if (strstr(msg, denied[i]))
			return IOT_DENIED;
	if (strstr(msg, "does not exist") || strstr(msg, "could not translate host name"))
		return IOT_NOT_FOUND;
	return IOT_UNAVAILABLE;
}

/* One line: libpq's messages run over several lines ("server closed the
 * connection unexpectedly\n\tThis probably means ..."), which become one,
 * each run of blanks one space; one too long is cut at a word, with "...". */
static void keep_why(iot_db *db, const char *msg)
{
	size_t n = 0, cap = sizeof db->why - 4;
	bool cut = false;
	for (const char *c = msg; *c; c++) {
		bool blank = (unsigned char)*c <= 0x20 || *c == 0x7f;
		if (blank && (n == 0 || db->why[n - 1] == ' '))
			continue;
		if (n == cap) {
			cut = true;
			break;
		}
		db->why[n++] = blank ? ' ' : *c;
	}
	if (cut) {
		size_t word = n;
		while (word > 0 && db->why[word - 1] != ' ')
			word--;
		if (word > cap / 2)
			n = word;
	}
	while (n > 0 && db->why[n - 1] == ' ')
		n--;
	if (cut) {
		memcpy(db->why + n, "...", 3);
		n += 3;
	}
	db->why[n] = '\0';
}

/* A statement or connect went through: the outage, if any, is over. */
static void outage_over(iot_db *db)
{
	db->down_since = 0;
	db->steps = 0;
	if (!db->told)
		return;
	db->told = false;
	if (atomic_exchange(&outage_told, false))
		iot_config_info(db->cfg, "PostgreSQL is back");
}

bool iot_db_backoff(iot_db *db, long long started_ms, int *attempt)
{
	long long now = iot_now_ms();
	if (!db->down_since || started_ms < db->down_since)
		db->down_since = started_ms;
	long long elapsed = now - db->down_since;
	if (elapsed >= db->retry_ms || (db->stop && atomic_load(db->stop)))
		return false;
	/* Told from the second step: a session found closed (the server was
	 * restarted while it sat idle) and opened again at once is no outage. */
	if (++db->steps >= 2 && !db->told) {
		db->told = true;
		if (!atomic_exchange(&outage_told, true))
			iot_config_notice(db->cfg, "PostgreSQL is unavailable (%s): retrying for up to %lld s",
			                  db->why[0] ? db->why : "connection lost", (db->retry_ms - elapsed + 999) / 1000);
	}
	long long delay = 100LL << (*attempt < 5 ? *attempt : 5);
	if (delay > 2000)
		delay = 2000;
	delay = delay / 2 + (long long)(rand() % (int)(delay / 2 + 1));
	if (delay > db->retry_ms - elapsed)
		delay = db->retry_ms - elapsed;
	(*attempt)++;
	struct timespec ts = { delay / 1000, (delay % 1000) * 1000000L };
	nanosleep(&ts, NULL);
	return true;
}

static void ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static int open_conn(iot_db *db, iot_error *err)
{
	/* With an answer time, a connect is bounded too: a frozen host accepts
	 * the connection in its kernel and never answers the startup packet.
	 * Before dbname, so that a connect_timeout of the conninfo wins, and
	 * only when PGCONNECT_TIMEOUT does not set one. */
	char timeout[24];
	const char *keys[4] = { "dbname", "fallback_application_name", NULL, NULL };
	const char *vals[4] = { db->conninfo, db->program, NULL, NULL };
	const char *env = getenv("PGCONNECT_TIMEOUT");
	if (db->answer_ms && !(env && *env)) {
		snprintf(timeout, sizeof timeout, "%ld", (db->answer_ms + 999) / 1000);
		keys[0] = "connect_timeout", vals[0] = timeout;
		keys[1] = "dbname", vals[1] = db->conninfo;
		keys[2] = "fallback_application_name", vals[2] = db->program;
	}
	long long start = iot_now_ms();
	int attempt = 0;
	for (;;) {
		db->conn = PQconnectdbParams(keys, vals, 1);
		if (db->conn && PQstatus(db->conn) == CONNECTION_OK) {
			/* The library never prints: server NOTICEs are dropped. */
			PQsetNoticeProcessor(db->conn, ignore_notice, NULL);
			PGcancel *cancel = PQgetCancel(db->conn);
			pthread_mutex_lock(&db->cancel_mu);
			PQfreeCancel(db->cancel);
			db->cancel = cancel;
			pthread_mutex_unlock(&db->cancel_mu);
			db->generation++;
			outage_over(db);
			return 0;
		}
		const char *msg = db->conn ? PQerrorMessage(db->conn) : "out of memory";
		enum iot_status kind = db->conn ? connect_failure_kind(msg) : IOT_INTERNAL;
		keep_why(db, msg);
		if (kind != IOT_UNAVAILABLE || !iot_db_backoff(db, start, &attempt)) {
			/* A missing database or role is reported as unavailable (exit 5). */
			iot_error_set(err, kind == IOT_NOT_FOUND ? IOT_UNAVAILABLE : kind,
			              "unable to connect to PostgreSQL: %s", msg);
			PQfinish(db->conn);
			db->conn = NULL;
			return -1;
		}
		PQfinish(db->conn);
		db->conn = NULL;
	}
}

/* A "key=value ..." string or a URI must parse; a bare word is a database name. */
static bool conninfo_valid(const char *ci)
{
	if (!strchr(ci, '=') && strncmp(ci, "postgresql://", 13) && strncmp(ci, "postgres://", 11))
		return true;
	char *msg = NULL;
	PQconninfoOption *o = PQconninfoParse(ci, &msg);
	if (msg)
		PQfreemem(msg);
	if (!o)
		return false;
	PQconninfoFree(o);
	return true;
}

iot_db *iot_db_connect(const iot_config *cfg, iot_error *err)
{
	iot_db *db = calloc(1, sizeof *db);
	if (!db) {
		iot_error_set(err, IOT_INTERNAL, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&db->cancel_mu, NULL);
	const char *ci = iot_config_get(cfg, "database");
	if (ci && !conninfo_valid(ci)) {
		/* libpq's message would quote the offending part: it may be the password. */
		iot_error_set(err, IOT_USAGE, "invalid PostgreSQL connection string (not shown: it may hold a password)");
		free(db);
		return NULL;
	}
	db->conninfo = strdup(ci ? ci : "");
	db->program = strdup(iot_config_program(cfg));
	db->cfg = cfg;
	db->stop = iot_config_stop(cfg);
	db->retry_ms = iot_config_get_long(cfg, "db_retry_time") * 1000;
	if (!db->conninfo || !db->program || open_conn(db, err) < 0) {
		iot_db_close(db);
		return NULL;
	}
	return db;
}

void iot_db_close(iot_db *db)
{
	if (!db)
		return;
	PQfinish(db->conn);
	PQfreeCancel(db->cancel);
	pthread_mutex_destroy(&db->cancel_mu);
	if (db->conninfo) {
		memset(db->conninfo, 0, strlen(db->conninfo));
		free(db->conninfo);
	}
	free(db->program);
	free(db);
}

PGconn *iot_db_conn(iot_db *db) { return db->conn; }
void iot_db_set_retry_time(iot_db *db, long ms) { db->retry_ms = ms; }
void iot_db_set_answer_time(iot_db *db, long ms) { db->answer_ms = ms > 0 ? ms : 0; }
unsigned iot_db_generation(const iot_db *db) { return db->generation; }
const char *iot_db_sqlstate(const iot_db *db) { return db->sqlstate; }
const char *iot_db_constraint(const iot_db *db) { return db->constraint; }
bool iot_db_failed_transient(const iot_db *db) { return db->transient; }

void iot_db_cancel(iot_db *db)
{
	char buf[256];
	pthread_mutex_lock(&db->cancel_mu);
	if (db->cancel)
		PQcancel(db->cancel, buf, sizeof buf);
	pthread_mutex_unlock(&db->cancel_mu);
}

int iot_db_reconnect(iot_db *db, iot_error *err)
{
	PQfinish(db->conn);
	db->conn = NULL;
	return open_conn(db, err);
}

void iot_db_discard(iot_db *db)
{
	PQfinish(db->conn);
	db->conn = NULL;
	db->transient = true;
}

void iot_db_note_failure(iot_db *db, const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	snprintf(db->sqlstate, sizeof db->sqlstate, "%s", state ? state : "");
	const char *constraint = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
	snprintf(db->constraint, sizeof db->constraint, "%s", constraint ? constraint : "");
	db->transient = iot_sqlstate_transient(state) || !db->conn || PQstatus(db->conn) != CONNECTION_OK;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	keep_why(db, msg ? msg : db->conn ? PQerrorMessage(db->conn) : "not connected");
}

/* Until libpq has a result to hand out without blocking, or until end_ms:
 * 0, or -1 when the server has not answered by then (or poll failed). A
 * broken connection counts as an answer: libpq then hands out its error. */
static int wait_answer(PGconn *c, long long end_ms)
{
	while (PQisBusy(c)) {
		long long left = end_ms - iot_now_ms();
		struct pollfd pfd = { .fd = PQsocket(c), .events = POLLIN };
		int r = left > 0 ? poll(&pfd, 1, (int)left) : 0;
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		if (!PQconsumeInput(c))
			return 0;
	}
	return 0;
}

/* PQexecParams, waiting at most db->answer_ms for the answer. A server
 * that stops answering at the TCP level (a frozen host) sends no error and
 * no reset, and its statement_timeout cannot fire: past the wait the
 * session is dropped (the statement's fate unknown, as with a lost
 * connection) and the next attempt reconnects. */
static PGresult *exec_params(iot_db *db, const char *sql, int nparams, const char *const *params, int format)
{
	if (!db->answer_ms)
		return PQexecParams(db->conn, sql, nparams, NULL, params, NULL, NULL, format);
	PGconn *c = db->conn;
	long long end = iot_now_ms() + db->answer_ms;
	if (!PQsendQueryParams(c, sql, nparams, NULL, params, NULL, NULL, format))
		return NULL;
	PGresult *res = NULL;
	for (;;) {
		if (wait_answer(c, end) < 0) {
			PQclear(res);
			iot_db_discard(db);
			snprintf(db->unanswered, sizeof db->unanswered, "no answer within %ld ms", db->answer_ms);
			return NULL;
		}
		PGresult *r = PQgetResult(c);
		if (!r)
			return res;
		/* As PQexec: the last result, but an error wins. */
		if (res && PQresultStatus(res) == PGRES_FATAL_ERROR) {
			PQclear(r);
			continue;
		}
		PQclear(res);
		res = r;
		ExecStatusType st = PQresultStatus(r);
		if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH)
			return res;
	}
}

static PGresult *query(iot_db *db, const char *sql, int nparams, const char *const *params,
                       int format, iot_error *err)
{
	db->sqlstate[0] = '\0';
	db->constraint[0] = '\0';
	db->unanswered[0] = '\0';
	db->transient = false;
	PGresult *res = db->conn ? exec_params(db, sql, nparams, params, format) : NULL;
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK || st == PGRES_COPY_IN) {
		outage_over(db);
		return res;
	}
	iot_db_note_failure(db, res);
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (!msg)
		msg = db->unanswered[0] ? db->unanswered : db->conn ? PQerrorMessage(db->conn) : "not connected";
	keep_why(db, msg);
	enum iot_status kind = db->transient ? IOT_UNAVAILABLE
	                     : (!strncmp(db->sqlstate, "42501", 5) ? IOT_DENIED : IOT_INTERNAL);
	iot_error_set(err, kind, "PostgreSQL: %s", msg);
	PQclear(res);
	return NULL;
}

PGresult *iot_db_query(iot_db *db, const char *sql, int nparams,
                       const char *const *params, iot_error *err)
{
	return query(db, sql, nparams, params, 0, err);
}

PGresult *iot_db_query_binary(iot_db *db, const char *sql, int nparams,
                              const char *const *params, iot_error *err)
{
	return query(db, sql, nparams, params, 1, err);
}

/* At the start of a call (outside a transaction), a session lost before is
 * opened again first: a handle whose outage outlasted its budget (every
 * later retry loop ends at once) still tries once per call, and works again
 * when the server is back. Not with a budget of 0 (iot_db_set_retry_time). */
static int revive(iot_db *db, iot_error *err)
{
	if (db->retry_ms <= 0 || (db->conn && PQstatus(db->conn) == CONNECTION_OK))
		return 0;
	return iot_db_reconnect(db, err);
}

static PGresult *exec(iot_db *db, const char *sql, int nparams, const char *const *params,
                      int format, iot_error *err)
{
	long long start = iot_now_ms();
	int attempt = 0;
	if (revive(db, err) < 0)
		return NULL;
	for (;;) {
		PGresult *res = query(db, sql, nparams, params, format, err);
		if (res || !db->transient)
			return res;
		bool in_tx = db->conn && PQstatus(db->conn) == CONNECTION_OK &&
		             PQtransactionStatus(db->conn) != PQTRANS_IDLE;
		if (in_tx || !iot_db_backoff(db, start, &attempt))
			return NULL;
		if (!db->conn || PQstatus(db->conn) != CONNECTION_OK) {
			iot_error e2;
			if (iot_db_reconnect(db, &e2) < 0) {
				if (err)
					*err = e2;
				return NULL;
			}
		}
	}
}

PGresult *iot_db_exec(iot_db *db, const char *sql, int nparams,
                      const char *const *params, iot_error *err)
{
	return exec(db, sql, nparams, params, 0, err);
}

PGresult *iot_db_exec_binary(iot_db *db, const char *sql, int nparams,
                             const char *const *params, iot_error *err)
{
	return exec(db, sql, nparams, params, 1, err);
}

int iot_db_command(iot_db *db, const char *sql, int nparams,
                   const char *const *params, iot_error *err)
{
	PGresult *res = iot_db_exec(db, sql, nparams, params, err);
	if (!res)
		return -1;
	PQclear(res);
	return 0;
}

static void rollback_quietly(iot_db *db)
{
	if (db->conn && PQstatus(db->conn) == CONNECTION_OK &&
	    PQtransactionStatus(db->conn) != PQTRANS_IDLE) {
		PGresult *r = PQexecParams(db->conn, "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0);
		PQclear(r);
	}
}

int iot_db_transaction(iot_db *db, iot_db_tx_fn fn, void *arg, iot_error *err)
{
	long long start = iot_now_ms();
	int attempt = 0;
	if (revive(db, err) < 0)
		return -1;
	for (;;) {
		PGresult *res = iot_db_query(db, "BEGIN", 0, NULL, err);
		int rc = -1;
		if (res) {
			PQclear(res);
			rc = fn(db, arg, err);
			if (rc >= 0) {
				res = iot_db_query(db, "COMMIT", 0, NULL, err);
				if (res) {
					PQclear(res);
					return rc;
				}
			}
		}
		bool transient = db->transient;
		rollback_quietly(db);
		if (!transient || !iot_db_backoff(db, start, &attempt))
			return -1;
		if (!db->conn || PQstatus(db->conn) != CONNECTION_OK) {
			iot_error e2;
			if (iot_db_reconnect(db, &e2) < 0) {
				if (err)
					*err = e2;
				return -1;
			}
		}
	}
}
