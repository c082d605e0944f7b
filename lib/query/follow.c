/* follow.c — points as they are committed (API in query.h).
 *
 * The batch writer notifies channel iotflow_telemetry in each batch's
 * transaction with the ids of the devices that got points ("*": too many
 * to list); PostgreSQL delivers a notification only once the transaction
 * has committed, and never one of a transaction that rolled back. A round
 * then reads, for those devices, the latest time of each series from
 * telemetry_latest (kept in the same transaction as the points) and, for
 * every series whose latest time is past the newest one shown, the points
 * in between, from the primary key. So a round reads only what is new,
 * and only what is committed; a point older than the newest one shown of
 * its series (late data) is not shown. */
#include "query/query_int.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>

static const char SQL_LISTEN[] = "LISTEN iotflow_telemetry";
static const char SQL_SERIES[] =
	"SELECT device_id, measurement_name, ts FROM telemetry_latest"
	" WHERE ($1::int[] IS NULL OR device_id = ANY ($1::int[]))"
	"  AND ($2::text[] IS NULL OR measurement_name = ANY ($2::text[]))";
/* Points per series and round; a series with more takes more rounds. */
#define ROUND_LIMIT 5000
#define ROUND_LIMIT_SQL "5000"
static const char SQL_POINTS[] =
	"SELECT " IOT__SQL_POINT("x.") " FROM unnest($1::int[], $2::text[], $3::timestamptz[],"
	"  $4::timestamptz[]) AS k(d, m, after, upto)"
	" CROSS JOIN LATERAL (SELECT * FROM telemetry_data t WHERE t.device_id = k.d"
	"  AND t.measurement_name = k.m AND t.ts > k.after AND t.ts <= k.upto"
	"  ORDER BY t.ts LIMIT " ROUND_LIMIT_SQL ") x"
	" ORDER BY x.ts, x.device_id, x.measurement_name COLLATE \"C\"";

struct series {
	int64_t dev, shown, latest;  /* newest time shown; latest in this round */
	int count;                   /* points shown this round */
	bool candidate;              /* latest is past shown */
	char name[72];
};

struct iot_follow {
	iot_db *db;
	enum iot_export_format format;
	char *ids, *names;           /* the filters as array parameters, or NULL */
	const int64_t *devs;         /* the followed devices, sorted (none: all) */
	int64_t *devs_own;
	size_t ndevs;
	struct series *ser;
	size_t nser, capser;
	unsigned gen;                /* the connection that LISTENs */
	bool header_done, all;       /* all: a round over every followed device */
	int64_t *notified;
	size_t nnotified, capnotified;
	struct iot__qbuf out, tmp, p_dev, p_name, p_after, p_upto;
};

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_series(const void *a, const void *b)
{
	const struct series *x = a, *y = b;
	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* The series (dev, name), added (nothing shown yet) when new; NULL when
 * out of memory. */
static struct series *series_get(iot_follow *f, int64_t dev, const char *name, size_t len)
{
	struct series key = { .dev = dev };
	snprintf(key.name, sizeof key.name, "%.*s", (int)len, name);
	struct series *s = f->nser ? bsearch(&key, f->ser, f->nser, sizeof *f->ser, cmp_series) : NULL;
	if (s)
		return s;
	if (f->nser == f->capser) {
		size_t cap = f->capser ? 2 * f->capser : 64;
		struct series *n = realloc(f->ser, cap * sizeof *n);
		if (!n)
			return NULL;
		f->ser = n;
		f->capser = cap;
	}
	size_t at = 0;
	while (at < f->nser && cmp_series(&f->ser[at], &key) < 0)
		at++;
	memmove(f->ser + at + 1, f->ser + at, (f->nser - at) * sizeof *f->ser);
	key.shown = INT64_MIN;
	f->ser[at] = key;
	f->nser++;
	return &f->ser[at];
}

static bool followed(const iot_follow *f, int64_t dev)
{
	return f->ndevs == 0 || bsearch(&dev, f->devs, f->ndevs, sizeof dev, cmp_i64);
}

/* The notifications waiting on the connection, into f->notified / f->all. */
static void take_notifications(iot_follow *f)
{
	PGconn *c = iot_db_conn(f->db);
	PGnotify *n;
	while (c && (n = PQnotifies(c))) {
		for (char *p = n->extra, *end; *p; p = *end ? end + 1 : end) {
			long long dev = strtoll(p, &end, 10);
			if (*p == '*' || end == p) {
				f->all = true;
				break;
			}
			if (dev <= 0 || !followed(f, dev))
				continue;
			if (f->nnotified == f->capnotified) {
				size_t cap = f->capnotified ? 2 * f->capnotified : 64;
				int64_t *m = realloc(f->notified, cap * sizeof *m);
				if (!m) {
					f->all = true; /* a round over everything loses nothing */
					break;
				}
				f->notified = m;
				f->capnotified = cap;
			}
			f->notified[f->nnotified++] = dev;
		}
		PQfreemem(n);
	}
}

/* The series of this round (of the notified devices, or all) with their
 * latest times, candidate when past what was shown. Returns how many, -1. */
static int read_series(iot_follow *f, iot_error *err)
{
	char *ids = NULL;
	if (!f->all) {
		qsort(f->notified, f->nnotified, sizeof *f->notified, cmp_i64);
		if (!(ids = iot__query_int_array(f->notified, f->nnotified)))
			return iot__query_oom(err);
	}
	f->nnotified = 0;
	const char *p[] = { f->all ? f->ids : ids, f->names };
	f->all = false;
	PGresult *res = iot_db_exec_binary(f->db, SQL_SERIES, 2, p, err);
	free(ids);
	if (!res)
		return -1;
	int n = PQntuples(res), candidates = 0;
	for (int i = 0; i < n; i++) {
		struct series *s = series_get(f, iot__query_int(res, i, 0), PQgetvalue(res, i, 1),
		                              (size_t)PQgetlength(res, i, 1));
		if (!s) {
			PQclear(res);
			return iot__query_oom(err);
		}
		s->latest = iot__query_ts(res, i, 2);
		s->candidate = s->latest > s->shown;
		candidates += s->candidate;
	}
	PQclear(res);
	return candidates;
}

/* The array parameters of the candidates into f->p_*. */
static void candidate_params(iot_follow *f)
{
	struct iot__qbuf *b[] = { &f->p_dev, &f->p_name, &f->p_after, &f->p_upto };
	for (int k = 0; k < 4; k++) {
		b[k]->len = 0;
		iot__qbuf_put(b[k], "{", 1);
	}
	bool first = true;
	for (size_t i = 0; i < f->nser; i++) {
		struct series *s = &f->ser[i];
		if (!s->candidate)
			continue;
		char t[48];
		for (int k = 0; k < 4 && !first; k++)
			iot__qbuf_put(b[k], ",", 1);
		first = false;
		snprintf(t, sizeof t, "%lld", (long long)s->dev);
		iot__qbuf_put(&f->p_dev, t, strlen(t));
		iot__qbuf_json_string(&f->p_name, s->name, strlen(s->name)); /* valid names need no escape */
		if (s->shown == INT64_MIN)
			snprintf(t, sizeof t, "-infinity");
		else
			iot__query_ts_param(s->shown, t, sizeof t);
		iot__qbuf_put(&f->p_after, t, strlen(t));
		iot__query_ts_param(s->latest, t, sizeof t);
		iot__qbuf_put(&f->p_upto, t, strlen(t));
	}
	for (int k = 0; k < 4; k++)
		iot__qbuf_put(b[k], "}", 1);
}

/* The candidates' new points as text into f->out; what was shown noted. */
static int read_points(iot_follow *f, iot_error *err)
{
	candidate_params(f);
	if (f->p_dev.oom || f->p_name.oom || f->p_after.oom || f->p_upto.oom)
		return iot__query_oom(err);
	const char *p[] = { f->p_dev.s, f->p_name.s, f->p_after.s, f->p_upto.s };
	PGresult *res = iot_db_exec_binary(f->db, SQL_POINTS, 4, p, err);
	if (!res)
		return -1;
	int n = PQntuples(res);
	for (int i = 0; i < n; i++) {
		iot__point_text(&f->out, &f->tmp, f->format, res, i);
		struct series *s = series_get(f, iot__query_int(res, i, 0), PQgetvalue(res, i, 1),
		                              (size_t)PQgetlength(res, i, 1));
		if (s) {
			s->count++;
			s->shown = iot__query_ts(res, i, 2);
		}
	}
	PQclear(res);
	/* A series that gave all it had is shown up to its latest time (its
	 * points may have been deleted meanwhile); one cut at the limit
	 * carries on from its last point in the next round. */
	for (size_t i = 0; i < f->nser; i++) {
		struct series *s = &f->ser[i];
		if (s->candidate && s->count < ROUND_LIMIT)
			s->shown = s->latest;
		else if (s->candidate)
			f->all = true;
		s->candidate = false;
		s->count = 0;
	}
	return f->out.oom ? iot__query_oom(err) : 0;
}

/* LISTEN, and every followed series as shown up to its latest time. */
static int start(iot_follow *f, bool catch_up, iot_error *err)
{
	PGresult *res = iot_db_exec(f->db, SQL_LISTEN, 0, NULL, err);
	if (!res)
		return -1;
	PQclear(res);
	f->gen = iot_db_generation(f->db);
	f->all = true;
	if (catch_up)
		return 0;  /* the next round shows what came meanwhile */
	if (read_series(f, err) < 0)
		return -1;
	for (size_t i = 0; i < f->nser; i++) {
		f->ser[i].shown = f->ser[i].latest;
		f->ser[i].candidate = false;
	}
	return 0;
}

iot_follow *iot_follow_open(iot_db *db, const iot_follow_req *req, iot_error *err)
{
	size_t nm = req->measurements ? req->nmeasurements : 0;
	if (iot__query_check_names("measurement", req->measurements, nm, err) < 0)
		return NULL;
	iot_follow *f = calloc(1, sizeof *f);
	if (!f) {
		iot__query_oom(err);
		return NULL;
	}
	f->db = db;
	f->format = req->format;
	if (req->device_ids && req->ndevices) {
		f->devs = f->devs_own = malloc(req->ndevices * sizeof *f->devs_own);
		if (f->devs_own) {
			memcpy(f->devs_own, req->device_ids, req->ndevices * sizeof *f->devs_own);
			qsort(f->devs_own, req->ndevices, sizeof *f->devs_own, cmp_i64);
			f->ndevs = req->ndevices;
		}
		f->ids = iot__query_int_array(req->device_ids, req->ndevices);
	}
	if (nm)
		f->names = iot__query_text_array(req->measurements, nm);
	if ((req->ndevices && (!f->devs_own || !f->ids)) || (nm && !f->names)) {
		iot__query_oom(err);
		iot_follow_close(f);
		return NULL;
	}
	if (start(f, false, err) < 0) {
		iot_follow_close(f);
		return NULL;
	}
	return f;
}

/* After a failure: a new connection (within db's retry budget) that
 * listens again and catches up. */
static int recover(iot_follow *f, iot_error *err)
{
	if (!iot_db_failed_transient(f->db))
		return -1;
	PGconn *c = iot_db_conn(f->db);
	if ((!c || PQstatus(c) != CONNECTION_OK) && iot_db_reconnect(f->db, err) < 0)
		return -1;
	return start(f, true, err);
}

/* Wait for notifications (those libpq already holds first). */
static int wait_notified(iot_follow *f, int timeout_ms, iot_error *err)
{
	take_notifications(f);
	if (f->all || f->nnotified)
		return 0;
	PGconn *c = iot_db_conn(f->db);
	struct pollfd pfd = { .fd = c ? PQsocket(c) : -1, .events = POLLIN };
	if (pfd.fd < 0 || poll(&pfd, 1, timeout_ms) <= 0)
		return 0;  /* nothing yet, or a signal */
	if (!PQconsumeInput(c)) {
		iot_db_note_failure(f->db, NULL);
		iot_error_set(err, IOT_UNAVAILABLE, "PostgreSQL: %s", PQerrorMessage(c));
		return recover(f, err);
	}
	take_notifications(f);
	return 0;
}

int iot_follow_next(iot_follow *f, int timeout_ms, const char **text, size_t *len, iot_error *err)
{
	f->out.len = 0;
	if (!f->header_done && f->format == IOT_EXPORT_CSV) {
		iot__qbuf_put(&f->out, iot__csv_header, strlen(iot__csv_header));
		f->header_done = true;
	} else if (wait_notified(f, timeout_ms, err) < 0) {
		return -1;
	}
	if (f->all || f->nnotified) {
		int n = read_series(f, err);
		if ((n < 0 || (n > 0 && read_points(f, err) < 0)) && recover(f, err) < 0)
			return -1;
	}
	/* The queries reconnected behind our back: LISTEN there, and catch up. */
	if (iot_db_generation(f->db) != f->gen && start(f, true, err) < 0)
		return -1;
	*text = f->out.s;
	*len = f->out.len;
	return f->out.len > 0;
}

void iot_follow_close(iot_follow *f)
{
	if (!f)
		return;
	free(f->ids);
	free(f->names);
	free(f->devs_own);
	free(f->ser);
	free(f->notified);
	struct iot__qbuf *b[] = { &f->out, &f->tmp, &f->p_dev, &f->p_name, &f->p_after, &f->p_upto };
	for (size_t k = 0; k < sizeof b / sizeof b[0]; k++)
		iot__qbuf_free(b[k]);
	free(f);
}
