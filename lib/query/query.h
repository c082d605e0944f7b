/* query.h — the telemetry read side, in one place, so that the HTTP routes,
 * iot-query and chart data always give the same answer to the same question:
 * ranges of records, latest values, aggregates over time buckets, deletes
 * that keep the rollups right, a user's telemetry, the fleet's lastpoint.
 *
 * The library never prints. Every call takes the caller's iot_db (one thread
 * at a time, as ever), returns 0 / a count or -1 with err set: IOT_USAGE for
 * bad arguments (the message names the argument and the rule, for a 400 or a
 * usage exit), IOT_NOT_FOUND, IOT_UNAVAILABLE (PostgreSQL gone after the
 * retries of pg/db.h), IOT_INTERNAL. Reads are single statements retried on
 * transient failures; a delete is one transaction, rerun from the start.
 *
 * RESULT SHAPES (jansson objects, built here so every caller prints the same):
 *   timestamps   RFC 3339 text as Python's isoformat() writes it (Flask
 *                clients parse that): "2026-11-28T06:00:00+00:00", with
 *                ".ffffff" only when the microseconds are not zero
 *                (iot_query_format_ts);
 *   values       as stored: a number (JSON real: 7 reads back as 7.0, as
 *                the Flask service sent floats), a string, true/false, or the
 *                JSON object/array itself (the programs print them with
 *                iot_json_text: a real in its shortest exact form, 0.1);
 *   range record {"timestamp":T, "measurements":{NAME:VALUE,...}, NAME:VALUE,
 *                ..., "metadata":{...}}: the grouped form of the Flask
 *                PostgreSQL revision AND the flat form the later scripts
 *                read (data[0].temperature). Points of one device sharing a
 *                timestamp make one record. Name clashes: a measurement
 *                called "timestamp", "measurements", "metadata" or
 *                "device_id" (all valid names) is never copied to the top
 *                level; it is found in "measurements" only, which always
 *                holds every measurement. "metadata" (only when asked for,
 *                and only when a point has some) is the points' metadata;
 *                when points of one record carry different metadata the
 *                objects are merged in measurement-name order, later names
 *                winning on a clashing key;
 *   latest       {"device_id":N, "timestamp":T, "latest_data":{NAME:VALUE},
 *                "measurements":{NAME:{"value":V,"timestamp":T}}}: T is the
 *                newest point's time, latest_data the Flask form (only the
 *                measurements stored at exactly T), measurements every
 *                measurement's latest value with its own time; lastpoint
 *                rows add "device_name";
 *   aggregate    {"timestamp":BUCKET_START, "value":V|null, "count":N}
 *                (value an integer for count, else a real);
 *   user item    {"device_id":N, "timestamp":T, "measurement_name":NAME,
 *                "value":V, "metadata":{...}|null}.
 *
 * Rows are handed to a callback as they are built (borrowed: json_incref
 * to keep one); it returns 0 to go on, anything else to stop, and the call
 * then fails with IOT_INTERNAL "stopped by the caller". iot_query_collect
 * appends them to a JSON array. What each call reads: latest and
 * lastpoint read telemetry_latest only; a range reads, from the primary key,
 * only the points of the records it returns (however long the range);
 * aggregates read whole hours from telemetry_hourly when the window is whole
 * hours, and the raw points of the range otherwise; the user listing's
 * total counts the points of the range.
 *
 * INVARIANT relied on: telemetry_latest has a row for every (device,
 * measurement) that has points (the batch writer upserts it in the same
 * transaction, iot_query_delete keeps it so). A range without a measurement
 * filter lists the device's series from it. */
#ifndef IOT_QUERY_H
#define IOT_QUERY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "pg/db.h"

/* Limits: defaults and caps as the Flask service had them. The calls refuse
 * a limit over its cap (IOT_USAGE); a caller that must clamp for an old
 * client (the Flask routes did min(limit, cap)) clamps before calling. */
#define IOT_QUERY_RANGE_LIMIT_DEFAULT 1000   /* records */
#define IOT_QUERY_RANGE_LIMIT_MAX     10000
#define IOT_QUERY_USER_LIMIT_DEFAULT  100    /* points */
#define IOT_QUERY_USER_LIMIT_MAX      1000
#define IOT_QUERY_MEASUREMENTS_MAX    64     /* names in one measurement filter */
#define IOT_QUERY_WINDOW_MIN_US       INT64_C(1000000)              /* 1 s */
#define IOT_QUERY_WINDOW_MAX_US       (INT64_C(366) * 86400000000)  /* 366 days */
#define IOT_QUERY_BUCKETS_MAX         100000 /* buckets an aggregate may span */

/* ---- Arguments ---------------------------------------------------------- */

/* A time argument (start_time, --since...). The grammar of the Flask
 * service, plus epoch numbers; anything else is an error (the Flask service
 * silently took now - 1 h):
 *   NULL, "" or "now"           now_us (0: the clock)
 *   -N followed by s|m|h|d|w    now minus N seconds, minutes (m is minutes,
 *                               as in Flask), hours, days, weeks
 *   ISO 8601                    2026-11-28T06:00:00[.ffffff](Z|+hh:mm|-hh:mm|
 *                               +hhmm); 'T' may be a space; no zone means UTC
 *                               (Flask clients send naive UTC); date only
 *                               (midnight UTC) and HH:MM without seconds are
 *                               accepted, as Python's fromisoformat does; a
 *                               zone " hh:mm" is read as "+hh:mm" (a '+' that
 *                               a URL decoder turned into a space)
 *   digits[.digits]             epoch seconds, or milliseconds when >= 1e11
 * and the result must lie in 1970-01-01 .. 9999-12-31. what names the
 * argument in the message, e.g.
 *   start_time "yesterday" is not a time: use now, -N with s, m, h, d or w
 *   (-24h), ISO 8601 (2026-11-28T06:00:00Z) or epoch seconds/milliseconds */
int iot_query_parse_time(const char *what, const char *s, int64_t now_us, int64_t *ts_us,
                         iot_error *err);
/* start <= end, else IOT_USAGE "start_time (T1) is after end_time (T2)". */
int iot_query_check_range(const char *start_what, int64_t start_us, const char *end_what,
                          int64_t end_us, iot_error *err);
/* A window: N followed by s|m|h|d|w (a bare N is seconds), within
 * IOT_QUERY_WINDOW_MIN_US..MAX_US. */
int iot_query_parse_window(const char *what, const char *s, int64_t *window_us, iot_error *err);
/* A limit: NULL or "" -> deflt; else a decimal integer in 1..max. */
int iot_query_parse_limit(const char *what, const char *s, long deflt, long max, long *out,
                          iot_error *err);

enum iot_agg_fn {
	IOT_AGG_MEAN, IOT_AGG_SUM, IOT_AGG_COUNT, IOT_AGG_MIN, IOT_AGG_MAX,
	IOT_AGG_FIRST, IOT_AGG_LAST
};
/* "mean" (or "avg"), "sum", "count", "min", "max", "first", "last". */
int iot_query_parse_fn(const char *what, const char *s, enum iot_agg_fn *fn, iot_error *err);
const char *iot_query_fn_name(enum iot_agg_fn fn);

/* ts_us as Python's isoformat() (see above) into buf (>= 40 bytes). */
void iot_query_format_ts(int64_t ts_us, char *buf, size_t size);

/* ts_us to the second as a file name part without ':' or '-' (which some
 * systems refuse): "20261128T060000Z", into buf (>= 24 bytes). */
void iot_query_file_ts(int64_t ts_us, char *buf, size_t size);

/* ---- Results ------------------------------------------------------------- */

typedef int (*iot_query_row_fn)(void *arg, json_t *row);
/* A row callback appending to the JSON array arg. */
int iot_query_collect(void *arg, json_t *row);

/* ---- Range: records of one device, newest first ------------------------ */

typedef struct iot_range_req {
	int64_t device_id;
	int64_t start_us, end_us;          /* start <= ts <= end */
	const char *const *measurements;   /* only these (nmeasurements of them); none: all */
	size_t nmeasurements;
	long limit;                        /* records (not points); 0: the default */
	bool ascending;                    /* oldest first */
	bool metadata;                     /* add each record's "metadata" */
} iot_range_req;

/* One callback per record, in time order. Returns the number of records, or -1. */
int iot_query_range(iot_db *db, const iot_range_req *req, iot_query_row_fn fn, void *arg,
                    iot_error *err);

/* ---- Latest and lastpoint (telemetry_latest only) ------------------------ */

/* The latest object of one device; NULL with IOT_NOT_FOUND when it has no
 * telemetry. */
json_t *iot_query_latest(iot_db *db, int64_t device_id, iot_error *err);

typedef struct iot_lastpoint_req {
	const int64_t *device_ids;   /* only these (ndevices of them); none: every device */
	size_t ndevices;
	int64_t owner_id;            /* only this user's devices; 0: anyone's */
	const char *device_type;     /* only this type; NULL: any */
} iot_lastpoint_req;

/* One latest object (plus "device_name") per matching device that has
 * telemetry, by device id, in one query. Returns the number of devices, or -1. */
int iot_query_lastpoint(iot_db *db, const iot_lastpoint_req *req, iot_query_row_fn fn, void *arg,
                        iot_error *err);

/* Text out: one object as compact JSON (no newline; not NUL-terminated
 * for the callee's sake: use len); a non-zero return stops the read. */
typedef int (*iot_query_text_fn)(void *arg, const char *text, size_t len);
/* The same objects as iot_query_lastpoint, each as the very text
 * iot_json_text writes of it, made straight from the rows (no jansson
 * object is built): for output. Returns the number of devices, or -1. */
int iot_query_lastpoint_text(iot_db *db, const iot_lastpoint_req *req, iot_query_text_fn fn, void *arg,
                             iot_error *err);

/* ---- Aggregates over time buckets ---------------------------------------- */

enum iot_agg_source {
	IOT_AGG_AUTO,    /* telemetry_hourly when the window is whole hours, else raw */
	IOT_AGG_RAW,     /* telemetry_data only */
	IOT_AGG_HOURLY   /* telemetry_hourly for the whole hours, raw rows for the
	                  * partial hours at the edges; whole-hour windows only */
};
enum iot_agg_fill {
	IOT_FILL_NONE,     /* only buckets with points (the Flask behaviour) */
	IOT_FILL_NULL,     /* every bucket of the range; empty ones value null, count 0 */
	IOT_FILL_PREVIOUS  /* empty buckets repeat the value of the bucket before them
	                    * (null before the first), count 0 */
};

typedef struct iot_aggregate_req {
	int64_t device_id;
	const char *measurement;
	enum iot_agg_fn fn;
	int64_t window_us;           /* bucket width */
	int64_t start_us, end_us;    /* points with start <= ts <= end */
	enum iot_agg_fill fill;
	bool ascending;              /* oldest bucket first (default newest first) */
	enum iot_agg_source source;
} iot_aggregate_req;

/* Buckets are [k*window, (k+1)*window) counted from 1970-01-01T00:00:00Z,
 * so a 1d window is a UTC day and a 7d window starts on a Thursday (as the
 * epoch did). Only numeric points are aggregated (text, booleans and JSON
 * have no mean; telemetry_hourly holds numbers only), so both sources agree.
 * first/last are the values at the earliest/latest time in the bucket.
 * Edge buckets cover only the part of them inside [start, end]. Fails with
 * IOT_USAGE for a window out of bounds, more than IOT_QUERY_BUCKETS_MAX
 * buckets, or IOT_AGG_HOURLY with a window that is not whole hours.
 * Returns the number of buckets given to fn, or -1. */
int iot_query_aggregate(iot_db *db, const iot_aggregate_req *req, iot_query_row_fn fn, void *arg,
                        iot_error *err);
/* The checks iot_query_aggregate makes before it reads anything (0, or -1
 * with IOT_USAGE), for a caller that validates its arguments first. */
int iot_query_aggregate_check(const iot_aggregate_req *req, iot_error *err);
/* The source a request reads (IOT_AGG_RAW or IOT_AGG_HOURLY). */
enum iot_agg_source iot_query_aggregate_source(const iot_aggregate_req *req);

/* ---- Delete ---------------------------------------------------------------- */

typedef struct iot_delete_req {
	int64_t device_id;
	int64_t start_us, end_us;    /* start <= ts <= end */
	const char *measurement;     /* only this one; NULL: all */
} iot_delete_req;

/* Delete the points and, in the same transaction, put telemetry_hourly
 * (the affected hours recomputed from the points that remain) and
 * telemetry_latest (from the newest point that remains, or no row) right.
 * Safe while batch writers store points for the same device: see
 * delete.c for the lock order. Returns the number of points deleted, or -1. */
long long iot_query_delete(iot_db *db, const iot_delete_req *req, iot_error *err);

/* ---- A user's telemetry -------------------------------------------------- */

typedef struct iot_user_req {
	int64_t user_id;
	int64_t start_us, end_us;    /* start <= ts <= end */
	long limit;                  /* points; 0: the default */
} iot_user_req;

/* The newest points of all the user's devices, one user item each, newest
 * first (ties by device id, then name). When total is not NULL it gets the
 * number of points in the range (a count over the range: it costs a scan).
 * Returns the number of items, or -1. */
int iot_query_user(iot_db *db, const iot_user_req *req, iot_query_row_fn fn, void *arg,
                   long long *total, iot_error *err);

/* ---- Export: every point of a time range, streamed ---------------------- */

enum iot_export_format {
	IOT_EXPORT_NDJSON,  /* one record per point, as iot-ingest reads it */
	IOT_EXPORT_CSV      /* a header, then one line per point, the type in a column */
};

typedef struct iot_export_req {
	int64_t start_us, end_us;      /* start <= ts <= end */
	const int64_t *device_ids;     /* only these (ndevices of them); none: every device */
	size_t ndevices;
	enum iot_export_format format;
	bool in_transaction;           /* declare the cursor in the transaction db is
	                                * in (the caller's: its locks and snapshot),
	                                * end nothing but the cursor, retry nothing */
} iot_export_req;

/* Points in storage order: partition by partition, oldest first, and
 * within one partition as stored (roughly as they arrived, each batch by
 * device, time and measurement, as telemetry/ writes it; with a device
 * filter, by device and measurement, in time order, when the planner reads
 * the primary key); the same data always comes in the same order. Read
 * through a cursor a couple of thousand rows at a time (the next batch
 * asked for while this one is written out), so neither side holds more
 * than one batch however long the range. Text, built here so the HTTP
 * export and iot-query write the same bytes:
 *   NDJSON  {"device_id":N,"timestamp":T,"data":{NAME:VALUE}} with
 *           ,"metadata":{...} before the closing brace when the point has
 *           some: the record iot-ingest stores back as the very same row.
 *           T as iot_query_format_ts; a number in the shortest form that
 *           reads back as the same double (iot_json_real_text: 21.5,
 *           7.0, 1e+300); a JSON value and metadata as compact JSON whose
 *           numbers read back as stored (query_int.h says how).
 *   CSV     device_id,timestamp,measurement,type,value,metadata (RFC
 *           4180, a line ends with LF). type is number, text, boolean or
 *           json; value is the number as in NDJSON, the text itself (an
 *           empty text as ""), true/false, or the compact JSON; metadata
 *           is compact JSON, or an empty field (unquoted, which psql's
 *           COPY ... CSV reads as NULL) when there is none.
 * The export holds db (a transaction with the cursor) until it is closed:
 * use db for nothing else meanwhile. A transient failure before the first
 * piece is retried within db's retry budget; one after it fails the export
 * (IOT_UNAVAILABLE): what was handed out is a valid prefix, whole lines. */
typedef struct iot_export iot_export;

iot_export *iot_export_open(iot_db *db, const iot_export_req *req, iot_error *err);
/* The next piece of the text (whole lines, tens of kilobytes; the CSV
 * header comes first): *text valid until the next call. Returns 1 with a
 * piece, 0 at the end (the transaction then ended), -1 with err. */
int iot_export_next(iot_export *x, const char **text, size_t *len, iot_error *err);
/* Points handed out so far. */
long long iot_export_points(const iot_export *x);
/* End the transaction (when still open) and free x. */
void iot_export_close(iot_export *x);

/* ---- Follow: points as they are committed -------------------------------- */

typedef struct iot_follow_req {
	const int64_t *device_ids;          /* only these (ndevices of them); none: every device */
	size_t ndevices;
	const char *const *measurements;    /* only these (nmeasurements); none: all */
	size_t nmeasurements;
	enum iot_export_format format;      /* the lines, as the export writes them */
} iot_follow_req;

/* The points committed after iot_follow_open, as they are committed: the
 * batch writer notifies channel iotflow_telemetry in each batch's
 * transaction with the ids of its devices, and PostgreSQL delivers that
 * only after the commit (and never for a batch that rolled back), so what
 * is shown is committed. For each notified device, the points of each
 * series newer than the newest one shown (from the latest-value table and
 * the primary key), in time order: a point older than the newest shown
 * point of its series (late data) is not shown. The text is the export's
 * (NDJSON that iot-ingest reads, or CSV, header first). The follow holds
 * db (it LISTENs on it) until it is closed. After a lost connection it
 * connects again within db's retry budget, and the next round shows what
 * was committed meanwhile. */
typedef struct iot_follow iot_follow;

iot_follow *iot_follow_open(iot_db *db, const iot_follow_req *req, iot_error *err);
/* Wait up to timeout_ms (a signal cuts it short) for a notification, then
 * read what is new. Returns 1 with text (whole lines, valid until the next
 * call), 0 when there was nothing, -1 with err (IOT_UNAVAILABLE: PostgreSQL
 * gone for longer than the retry budget). */
int iot_follow_next(iot_follow *f, int timeout_ms, const char **text, size_t *len, iot_error *err);
void iot_follow_close(iot_follow *f);

#endif
