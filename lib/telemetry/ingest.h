/* ingest.h — the ingest pipeline every entry point shares: one record's
 * bytes -> decode -> resolve the device -> submit to the batch writer ->
 * outcome per point. iot-ingest (lines of files and pipes), iot-httpd
 * (request bodies) and iot-mqtt-listen (messages) call the same function;
 * each brings its own source of trust (a device key checked by the HTTP
 * layer, a broker-authenticated device id, an operator's --device, or none)
 * and its own way of reporting outcomes (the callback). */
#ifndef IOT_INGEST_H
#define IOT_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth.h"
#include "base/error.h"
#include "telemetry/batch.h"
#include "telemetry/record.h"

typedef struct iot_resolve_opts {
	int64_t trusted_device;   /* authenticated elsewhere (HTTP X-API-Key, broker, --device); 0 = none */
	bool require_key;         /* every record must carry a valid api_key */
	/* trusted_device as the caller has just looked it up, or NULL: a record
	 * that names no other device takes it as it is, without a lookup of
	 * its own (HTTP: one lookup a request instead of two). */
	const iot_device_ref *trusted_ref;
} iot_resolve_opts;

/* Set device_id on every point of rec. Returns 0, or -1 with err:
 * IOT_DENIED (bad or missing key, key of another device), IOT_NOT_FOUND
 * (unknown device), IOT_REJECTED (no device named, device not active,
 * device ids that disagree), IOT_UNAVAILABLE (database unreachable). */
int iot_record_resolve(iot_auth *auth, iot_record *rec, const iot_resolve_opts *opts,
                       iot_device_ref *dev, iot_error *err);

/* What one pipeline needs; all borrowed. An iot_ingest is used by one
 * thread at a time (iot_auth is), the writer by any number. */
typedef struct iot_ingest {
	const iot_decode_opts *decode;  /* NULL: the defaults */
	iot_auth *auth;
	iot_writer *writer;             /* NULL: validate only, store nothing */
	/* A record decoded with a note (record.h: what device leniency
	 * accepted, e.g. a timestamp replaced by the arrival time): note(arg,
	 * text) before it is submitted. NULL: notes are dropped. */
	void (*note)(void *arg, const char *text);
	void *note_arg;
} iot_ingest;

enum iot_ingest_result {
	IOT_INGEST_FAILED = -1,    /* the pipeline failed (database unavailable, writer failed,
	                            * out of memory): err says why; stop or answer 503 */
	IOT_INGEST_SUBMITTED = 0,  /* handed to the writer: cb(res, ctx, tag) reports each point
	                            * once its batch commits (never, when validating only) */
	IOT_INGEST_REFUSED = 1     /* the record is refused, nothing of it submitted: err->msg is
	                            * the reason to show, err->status IOT_REJECTED (bad record,
	                            * inactive device), IOT_DENIED (key), IOT_NOT_FOUND (device) */
};

/* Run buf[0..len) through the pipeline. *npoints (may be NULL) is how many
 * points the record carried when it was submitted (or validated). */
enum iot_ingest_result iot_ingest_record(const iot_ingest *in, const char *buf, size_t len,
                                         const iot_resolve_opts *trust, iot_submit_cb cb,
                                         void *ctx, uint64_t tag, size_t *npoints, iot_error *err);

/* A stored-or-refused point as a record that decodes back to it
 * ({"device_id","timestamp","data":{name:value},"metadata"}), compact JSON,
 * malloc'd; NULL when out of memory. For reporting refused points in a form
 * that can be corrected and fed back. */
char *iot_point_to_json(const iot_point *p);
/* The same for points[0..n), which must share device, timestamp and
 * metadata: one record {"device_id","timestamp","data":{...},"metadata"}. */
char *iot_points_to_json(const iot_point *points, size_t n);
/* How many points from points[0] on (at least 1, at most n) share device,
 * timestamp and metadata and no measurement name, so that one record holds
 * them. */
size_t iot_points_group(const iot_point *points, size_t n);

#endif
