/* query_int.h — what the files of lib/query share: reading values and
 * times out of results, parameters in, handing rows to the caller. */
#ifndef IOT_QUERY_INT_H
#define IOT_QUERY_INT_H

#include <libpq-fe.h>
#include <string.h>

#include "query/query.h"

/* Results come in binary format (iot_db_exec_binary): no number is printed
 * by the server and parsed again here (a third of the time of a fleet-wide
 * lastpoint, measured). */

/* The four value columns of telemetry_data / telemetry_latest, in the order
 * iot__query_value reads them (JSON as text). */
#define IOT__SQL_VALUES(t) t "numeric_value, " t "text_value, " t "boolean_value, " t "json_value::text"

#define IOT__HOUR_US INT64_C(3600000000)

/* The value in columns col..col+3 (float8, text, boolean, JSON text) of
 * row: a new reference, or NULL (IOT_INTERNAL) when none is set or the JSON
 * does not parse. */
json_t *iot__query_value(const PGresult *res, int row, int col, iot_error *err);
/* Binary columns: int4 or int8 (by the column's length), float8,
 * timestamptz as microseconds since the Unix epoch. */
int64_t iot__query_int(const PGresult *res, int row, int col);
double iot__query_float8(const PGresult *res, int row, int col);
int64_t iot__query_ts(const PGresult *res, int row, int col);
/* A new JSON string holding ts_us as iot_query_format_ts writes it. */
json_t *iot__query_ts_json(int64_t ts_us);
/* ts_us as a timestamptz parameter (RFC 3339 UTC, microseconds) into buf (>= 40 bytes). */
void iot__query_ts_param(int64_t ts_us, char *buf, size_t size);
/* floor(ts / width) * width, also below zero. */
int64_t iot__query_floor(int64_t ts_us, int64_t width_us);

/* Measurement names: each valid (telemetry/record.h rules), at most
 * IOT_QUERY_MEASUREMENTS_MAX of them. */
int iot__query_check_names(const char *what, const char *const *names, size_t n, iot_error *err);
/* A text[] parameter {"a","b"}; NULL when out of memory. Free it. */
char *iot__query_text_array(const char *const *names, size_t n);
/* An int[] parameter {1,2} of the ids that can be device ids (1 to
 * 2^31-1); NULL when out of memory. Free it. */
char *iot__query_int_array(const int64_t *ids, size_t n);

/* A growing text buffer, NUL-terminated; oom set (and nothing more
 * written) once memory ran out. */
struct iot__qbuf {
	char *s;
	size_t len, cap;
	bool oom;
};
int iot__qbuf_reserve(struct iot__qbuf *b, size_t more);
void iot__qbuf_put_slow(struct iot__qbuf *b, const char *s, size_t n);
/* Inline: the export and lastpoint write a few bytes at a time. */
static inline void iot__qbuf_put(struct iot__qbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		iot__qbuf_put_slow(b, s, n);
		return;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}
/* s[0..n) (valid UTF-8) as a JSON string, quotes included. */
void iot__qbuf_json_string(struct iot__qbuf *b, const char *s, size_t n);
void iot__qbuf_free(struct iot__qbuf *b);

/* jsonb's text (json_value::text, metadata::text) as compact JSON that
 * iot_json_parse, and so the record decoder, reads back as the value that
 * was stored. PostgreSQL writes a jsonb number without an exponent: a real
 * the decoder stored as 1e+300 comes back as a 1 and 300 zeros, an integer
 * beyond 64 bits that jansson and the decoder refuse. Such numbers (an
 * integer beyond 64 bits; a fraction whose integer part has 16 digits or
 * more, or longer than 24 characters) are written as the double they were
 * stored from, in its shortest form; whitespace outside strings is dropped. */
void iot__query_jsonb_compact(struct iot__qbuf *b, const char *s, size_t len);
/* The same, parsed by jansson (json_loadb flags); NULL when it does not parse. */
json_t *iot__query_jsonb(const char *s, size_t len, int flags);

/* A point's columns from telemetry_data (t: "" or an alias and a dot), as
 * iot__point_text reads them: device_id, measurement_name, ts, the four
 * values, metadata as text. */
/* cursor.c: a read-only cursor read in batches of q->rows, the next one
 * asked for while the caller works on the current one. open and next
 * return 1 with a batch in *res (the caller clears it), 0 at the end (the
 * transaction is over), -1 with err. open retries a transient failure
 * within db's retry budget (nothing is handed out yet); a failure later
 * ends the read; a batch shorter than q->rows is the last. With callers_tx the cursor lives in the caller's
 * transaction and only it is closed. */
struct iot__cursor_query {
	const char *name;      /* the cursor's name, as in declare */
	const char *setup;     /* a statement run first in the transaction, or NULL */
	const char *declare;   /* "DECLARE name NO SCROLL CURSOR FOR ..." */
	int nparams;
	const char *const *params;
	int rows;
	bool callers_tx;
};
struct iot__cursor {
	iot_db *db;
	char fetch[96], close[80];
	int rows;
	bool in_tx, pending, done, callers_tx;
};
int iot__cursor_open(struct iot__cursor *k, iot_db *db, const struct iot__cursor_query *q, PGresult **res,
                     iot_error *err);
int iot__cursor_next(struct iot__cursor *k, PGresult **res, iot_error *err);
void iot__cursor_close(struct iot__cursor *k);

/* lastpoint.c: the fleet's lastpoint rows (device_id, device name,
 * measurement, ts, the 4 values; by device, then measurement) through a
 * cursor, a device at a time: begin with its first row, add with each of
 * its rows (the first too), end after its last. Each returns 0, or -1 with
 * err to stop. Returns 0 or -1 with err (a device begun may then not have
 * ended). */
struct iot__lastpoint_sink {
	int (*begin)(void *ctx, const PGresult *res, int row, iot_error *err);
	int (*add)(void *ctx, const PGresult *res, int row, iot_error *err);
	int (*end)(void *ctx, iot_error *err);
	void *ctx;
};
int iot__lastpoint_scan(iot_db *db, const iot_lastpoint_req *req, const struct iot__lastpoint_sink *sink,
                        iot_error *err);

#define IOT__SQL_POINT(t) t "device_id, " t "measurement_name, " t "ts, " IOT__SQL_VALUES(t) ", " t "metadata::text"
/* Row i of res (IOT__SQL_POINT, binary) as one line of fmt, appended to
 * out; tmp is scratch space. */
void iot__point_text(struct iot__qbuf *out, struct iot__qbuf *tmp, enum iot_export_format fmt,
                     const PGresult *res, int i);
/* The CSV header line, "device_id,...,metadata\n". */
extern const char iot__csv_header[];

/* Hand row (a new reference, consumed; NULL means out of memory) to fn.
 * Returns 0, or -1 with err when fn stopped or memory ran out. */
int iot__query_emit(iot_query_row_fn fn, void *arg, json_t *row, iot_error *err);
/* One attempt of a statement inside a transaction (iot_db_query): 0 with
 * the result in *out (or cleared when out is NULL), or -1 with err. */
int iot__query_cmd(iot_db *db, const char *sql, int n, const char *const *p, PGresult **out, iot_error *err);
/* IOT_INTERNAL "out of memory"; returns -1. */
int iot__query_oom(iot_error *err);

/* The parameters of the aggregate statement for req (which must be valid):
 * p points into the struct. */
#define IOT__AGG_NPARAMS 12
struct iot__agg_params {
	char ts[6][40], dev[24], bin[24], win[24];
	const char *p[IOT__AGG_NPARAMS];
};
void iot__query_aggregate_params(const iot_aggregate_req *req, struct iot__agg_params *ap);

/* The SQL text of a query by name ("latest", "range", "aggregate",
 * "lastpoint", "user", "user_total"), so a benchmark can run the very same
 * statement in psql; NULL for an unknown name. */
const char *iot__query_sql(const char *name);

#endif
