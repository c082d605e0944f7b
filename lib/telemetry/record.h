/* record.h — the telemetry record decoder: one input record (an NDJSON line,
 * an HTTP body, an MQTT payload) in, a list of typed points out, or a precise
 * reason why it was rejected. The decoder only looks at bytes; resolving the
 * device (trusted id, api_key) is the caller's job (see ingest.h). */
#ifndef IOT_RECORD_H
#define IOT_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/timestamp.h"

enum iot_value_type { IOT_VAL_NUMBER, IOT_VAL_TEXT, IOT_VAL_BOOL, IOT_VAL_JSON };

typedef struct iot_point {
	int64_t device_id;          /* 0 until resolved */
	int64_t ts_us;              /* microseconds since the Unix epoch, UTC */
	const char *measurement;    /* points into the record's storage */
	enum iot_value_type type;
	double num;                 /* IOT_VAL_NUMBER */
	bool boolean;               /* IOT_VAL_BOOL */
	const char *text;           /* IOT_VAL_TEXT: the string; IOT_VAL_JSON: compact JSON text */
	const char *metadata;       /* compact JSON object text, or NULL */
} iot_point;

enum iot_input_format {
	IOT_FORMAT_AUTO,        /* any of the below, told apart by shape */
	IOT_FORMAT_IOTFLOW,     /* {"data":{...},"metadata":{...},"timestamp":...} (+ device_id / api_key), or the flat MQTT payload */
	IOT_FORMAT_MOSQUITTO,   /* a line of mosquitto_sub -F %j (or %J) */
	IOT_FORMAT_THINGSBOARD  /* {"ts":ms,"values":{...}} or an array of such */
};

/* The largest magnitude of a number the decoder stores: sums of 10^8 of
 * them (the hourly rollups) stay within a double. Imports keep it too. */
#define IOT_REC_NUMBER_MAX 1e300

typedef struct iot_decode_opts {
	enum iot_input_format format;
	size_t max_bytes;           /* longest accepted record (default 64 KiB) */
	size_t max_points;          /* most points one record may carry (default 1000) */
	int max_depth;              /* deepest JSON nesting (default 32) */
	int64_t min_ts_us;          /* earliest accepted timestamp (default 2000-01-01T00:00:00Z) */
	int64_t max_future_us;      /* how far past now a timestamp may be (default 1 h; < 0: no limit) */
	int64_t now_us;             /* arrival time; 0 = read the clock */
	bool device;                /* take what devices send, leniently (DEVICE PAYLOADS in record.c) */
	bool naive_utc;             /* an ISO-8601 "timestamp" without a zone is UTC (the HTTP API) */
} iot_decode_opts;

void iot_decode_opts_default(iot_decode_opts *o);

typedef struct iot_record {
	/* Who the record says it is from. device_id 0 = not said. When both a
	 * topic and a body name a device, they must agree (else rejected). */
	int64_t device_id;
	const char *api_key;        /* NULL when absent; never log it */
	iot_point *points;
	size_t npoints;
	/* With opts->device: what leniency accepted that a person should hear
	 * about (a timestamp replaced by the arrival time), else NULL. */
	const char *note;
	/* private: storage owned by the record */
	void *priv_;
} iot_record;

/* Decode buf[0..len) (the rules are listed at the top of record.c).
 * Returns 0 and fills rec with at least one point, or -1 with err->status =
 * IOT_REJECTED and err->msg the reason (one line of printable ASCII, no
 * secrets), IOT_USAGE for an unknown opts->format, IOT_INTERNAL when out of
 * memory; on -1 rec holds no points, api_key or device_id. opts NULL means
 * the defaults; err may be NULL. rec must be released with iot_record_free in
 * both cases. Reentrant: no state is shared between calls. */
int iot_record_decode(const char *buf, size_t len, const iot_decode_opts *opts,
                      iot_record *rec, iot_error *err);
void iot_record_free(iot_record *rec);

/* Measurement names: 1..64 bytes of [A-Za-z0-9_.:/-], starting with a letter
 * or digit or underscore. */
bool iot_measurement_name_valid(const char *name, size_t len);


#endif
