/* record.c — the telemetry record decoder (API in record.h).
 *
 * This comment is the specification; the man page is written from it.
 *
 * INPUT. One record: an NDJSON line, an HTTP body or an MQTT payload, given
 * as len bytes (no NUL terminator needed). It is rejected when
 *   - it is longer than max_bytes:        record is N bytes, over the limit of M
 *   - it is empty or only JSON whitespace: empty record
 *   - it starts with a UTF-8 byte order mark
 *   - it holds a raw NUL byte:            record contains a NUL byte (at byte N)
 *     (N counts bytes from 1, as C below counts characters)
 *   - it is not one JSON object or array, or it is not valid JSON. The reason
 *     reads "invalid JSON at column C: ..." (C counts characters from 1), e.g.
 *     "invalid UTF-8 (byte 0xff)" (overlong forms and encoded surrogates
 *     included), "string contains \u0000" (or "object key contains"), "invalid token
 *     near 'NaN'" (NaN and Infinity are not JSON), "invalid Unicode '\uD800'"
 *     (a lone surrogate), "control character 0x1" (raw control characters in
 *     strings); or "duplicate key K" (any level), or "nesting deeper than N
 *     levels" (max_depth), or a number that cannot be held as written (below).
 *     Text from inside a string is never quoted back, so a broken api_key
 *     cannot leak into a log.
 *
 * NUMBERS, anywhere in the record (measurements, metadata, JSON values,
 * timestamps, ids; a string payload of a mosquitto line too). One written
 * without a fraction or an exponent is an integer, held exactly in 64 bits;
 * one with either is read as a double. Rejected, the first in the text
 * ("number N at column C ...", C as above, N cut at 40 characters):
 *   - an integer beyond 64 bits:                     ... is an integer beyond 64 bits
 *   - a fraction without an exponent whose integer part is beyond +-2^53
 *     (9007199254740993.0, 9007199254740993.5): a double cannot hold its units
 *     digit (the integer form is rejected as a measurement, see VALUES):
 *       ... has an integer part beyond +-2^53, which a double cannot hold exactly
 *   - too large for a double (1e400, -1.8e308):       ... is too large for a double
 *   - not 0, yet closer to 0 than the smallest normal double
 *     2.2250738585072014e-308, so that it would become 0 (1e-400) or a
 *     subnormal with fewer digits (4.9e-324):
 *       ... is too close to 0 for a double (not 0, but below 2.2250738585072014e-308)
 * Zero in any spelling (0e-400, -0.0) is zero. Written with an exponent, a
 * number is floating point by its writer's choice and becomes the nearest
 * double, also past 2^53 (9.007199254740993e15, 1e16); a fraction is
 * rounded to the nearest double (9007199254740991.5 becomes ...992).
 *
 * SHAPES. opts->format picks one; IOT_FORMAT_AUTO tells them apart in this
 * order: an array is ThingsBoard (d); an object with "topic" and "payload"
 * is a mosquitto line (c); an object whose "values" is an object and which
 * has no "data" is ThingsBoard (d); any other object is IoTFlow (a or b).
 *  a) IoTFlow body: {"data":{NAME:VALUE,...}, "metadata":{...}?,
 *     "timestamp":T?, "device_id":ID?, "api_key":"..."?}. No other member is
 *     allowed beside "data":  unknown member "x" beside "data" (...)
 *  b) IoTFlow flat MQTT payload: an object without "data". The members
 *     api_key, device_id, timestamp and metadata mean what they mean in (a);
 *     every other member is a measurement.
 *  c) mosquitto_sub -F %j (or %J) line: {"tst":..,"topic":..,"payload":..,
 *     ...}; other envelope members (qos, retain, mid, properties) are
 *     ignored, and so is payloadlen but for the check below. The topic must
 *     be iotflow/devices/ID/telemetry or iotflow/devices/ID/telemetry/ANYTHING
 *     with ID a positive decimal integer without leading zeros; it becomes
 *     the record's device_id:
 *       topic "X" is not a telemetry topic (iotflow/devices/ID/telemetry[/...])
 *     The payload is an object or array decoded as (a), (b) or (d) by shape,
 *     or a string holding the payload's text, parsed with the same limits:
 *     -F %j writes every payload so, its bytes escaped, which is the only
 *     way a payload that is not JSON reaches iot-ingest (-F %J prints an
 *     empty line for one, and passes JSON payloads through its own parser,
 *     which rounds numbers: 9007199254740993 arrives as 9.00719925474099e+15,
 *     1e400 as null). Not JSON at all:
 *       payload is not JSON (at column C: ...)
 *     and JSON that is not an object or array: payload: expected a JSON
 *     object or array. -F %j ends the string at a NUL byte of the payload;
 *     so when payloadlen is an integer it must be the string's length in
 *     bytes (a JSON string payload under -F %J fails this check too):
 *       payload: payloadlen is P but the payload string holds N bytes (...)
 *     Other reasons about the payload are prefixed "payload: ". A null
 *     payload (an empty message): payload is empty; a blank string:
 *     payload: empty record. A payload device_id that differs from the topic's:
 *       device_id in payload (X) does not match topic (Y)
 *     Points without a timestamp of their own take "tst", the time
 *     mosquitto_sub received the message. mosquitto_sub writes local time, a
 *     literal Z and then the real offset ("2026-11-28T11:00:00.123456Z+0100");
 *     the offset is honoured. A tst that does not parse rejects the line.
 *  d) ThingsBoard: {"ts":MS,"values":{NAME:VALUE,...}}, "ts" optional,
 *     milliseconds since the epoch (a positive number; no seconds guessing
 *     here, ThingsBoard defines it as milliseconds), or an array of such
 *     objects, each with its own ts; reasons about one are prefixed
 *     "element I: " (I counts from 0). No other member is allowed. An empty
 *     array is "no data"; so is an array whose elements carry no values.
 *
 * VALUES. A number becomes IOT_VAL_NUMBER (a double), by the rules of
 * NUMBERS. An integer beyond +-2^53 would silently change on the way into a
 * double, so it is rejected (measurement "x": integer N is beyond +-2^53 and
 * would lose precision); as a real it is rejected by NUMBERS already. A
 * number beyond +-1e300 is rejected too, so that sums of them (the hourly
 * rollups) cannot overflow (measurement "x": number N is out of range (+-1e300)).
 * A string is IOT_VAL_TEXT, at most 4096 bytes. true/false are IOT_VAL_BOOL.
 * An object or array is IOT_VAL_JSON, stored as compact JSON text (members in
 * input order, integers as written, reals in the shortest form that reads
 * back as the same double), at most 4096 bytes.
 * null is rejected (measurement "x" is null): a point has a value.
 *
 * NAMES. 1 to 64 bytes of A-Z a-z 0-9 _ . : / -, starting with a letter, a
 * digit or '_' (invalid measurement name "..."; the name is shown escaped,
 * non-printable bytes as \xNN, cut at 64 bytes).
 *
 * COUNTS. No measurement at all: "no data". More than max_points in the whole
 * record (all elements of an array together): N points in one record, over
 * the limit of M.
 *
 * METADATA. An object (else: metadata must be an object); stored as compact
 * JSON text on every point of the record, at most 4096 bytes; {} is the same
 * as no metadata. A member "api_key" is removed (the Flask scripts copy the
 * device's key there), and any key or token of ours elsewhere in it, or in a
 * JSON value, is cut to its prefix and "(not shown)": a key is never stored.
 * Nor is one quoted back in a reason.
 *
 * TIMESTAMPS. Absent: the arrival time (opts->now_us, or the clock), or tst
 * for mosquitto lines. A string must be RFC 3339 / ISO-8601:
 *   YYYY-MM-DD(T|t|space)HH:MM:SS[.F](Z|z|+hh:mm|-hh:mm|+hhmm|-hhmm)
 * with 1 to 9 fraction digits (kept to the microsecond, truncated). A zone
 * is required, so a local time is never guessed. Months, days (leap years
 * included), hours, minutes and seconds are range-checked; second 60 (a leap
 * second) is rejected. Reason: timestamp "..." has no time zone (...), etc.
 * A number is epoch seconds, or epoch milliseconds when >= 1e11 (fractions
 * rounded to the microsecond). Any other type is rejected. Every point's
 * timestamp must then lie in [min_ts_us, now + max_future_us]:
 *   timestamp 1999-12-31T23:59:59.000000Z is before 2000-01-01T00:00:00.000000Z
 *   timestamp 2027-...Z is more than 3600 s in the future
 * (a negative max_future_us switches the second check off).
 *
 * DEVICE PAYLOADS. opts->device (off by default; iot-mqtt-listen turns it
 * on, iot-ingest with --device-payloads) takes what the Flask firmware and
 * simulator send over MQTT (compat 2.4, 2.8) instead of rejecting it. The
 * rules above hold, but for these:
 *   - A reading written as an object with a "value" member,
 *     {"value":22.1,"unit":"C","timestamp":...}, is its value (VALUES); a
 *     "unit" beside it goes into that point's metadata as "unit"; the
 *     object's other members are dropped (its timestamp included: the
 *     record's applies).
 *   - A null reading (a sensor that failed: "temperature":null beside
 *     "sensor_error") is skipped, not rejected; a record left with no
 *     reading is still "no data".
 *   - device_name, device_type and location describe the device, they are
 *     not readings: in a flat payload, and beside "data" (where they are
 *     allowed), they go into the metadata (a metadata member of the same
 *     name wins). "ts" is the timestamp when there is no "timestamp".
 *     Everything else of a flat payload is a reading: status, command,
 *     sensor_error, led_state... (texts and numbers as they come).
 *   - Timestamps as the Flask service took them from devices: a number, or
 *     a string of digits with at most one '.', is epoch seconds when below
 *     1e10, else milliseconds; ISO-8601 as above, or without a zone (UTC),
 *     or with an offset and a stray Z ("+00:00Z"); "MM/DD/YYYY HH:MM:SS"
 *     (tried first) and "DD/MM/YYYY HH:MM:SS", in UTC. A timestamp that
 *     still does not parse ("20251121_195928"), or lies outside
 *     [min_ts_us, now + max_future_us] (an ESP32 without NTP sends seconds
 *     since boot: 1970), is replaced by the arrival time, and the record
 *     says so in rec->note: timestamp "..." <why>: stored with the arrival time
 *
 * IDENTITY. device_id: an integer 1..2^53 or a string of decimal digits
 * with that value and no leading zero (else: device_id must be a positive
 * integer). api_key: a string of 1..256 bytes (api_key must be a string /
 * api_key is empty / api_key is longer than 256 bytes). Its value never
 * appears in a message. Every point carries the record's device_id (0 when
 * the record names none; the caller resolves api_key to a device).
 *
 * MEMORY. Names, texts and keys point into the parsed tree, which the record
 * keeps (priv_); metadata and JSON values are the only copies. A failed
 * decode leaves points/npoints/api_key/device_id empty. No state is shared
 * between calls: threads may decode concurrently. */
#include "telemetry/record.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/keys.h"
#include "base/json_util.h"
#include "telemetry/record_int.h"

#define API_KEY_MAX 256
#define EXACT_INT_MAX INT64_C(9007199254740992) /* 2^53: doubles are exact up to here */


void iot_decode_opts_default(iot_decode_opts *o)
{
	o->format = IOT_FORMAT_AUTO;
	o->max_bytes = 64 * 1024;
	o->max_points = 1000;
	o->max_depth = IOT_JSON_MAX_DEPTH;
	o->min_ts_us = INT64_C(946684800) * 1000000; /* 2000-01-01T00:00:00Z */
	o->max_future_us = INT64_C(3600) * 1000000;
	o->now_us = 0;
	o->device = false;
	o->naive_utc = false;
}

bool iot_measurement_name_valid(const char *name, size_t len)
{
	if (!name || len == 0 || len > 64)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')
			continue;
		if (i == 0 || (c != '.' && c != ':' && c != '/' && c != '-'))
			return false;
	}
	return true;
}

/* ---- identity, time, metadata ----------------------------------------- */

/* A positive decimal integer up to 2^53 without sign, space or leading
 * zero, or 0 when s[0..n) is not one. */
int64_t iot__rec_parse_id(const char *s, size_t n)
{
	int64_t v = 0;
	if (n == 0 || n > 16 || s[0] == '0')
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	return v <= EXACT_INT_MAX ? v : 0;
}

static int take_device_id(struct dec *d, json_t *v)
{
	int64_t id = 0;
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		id = i >= 1 && i <= EXACT_INT_MAX ? (int64_t)i : 0;
	} else if (json_is_string(v)) {
		id = iot__rec_parse_id(json_string_value(v), json_string_length(v));
	}
	if (id == 0)
		return reject(d, "device_id must be a positive integer");
	d->rec->device_id = id;
	return 0;
}

static int take_api_key(struct dec *d, json_t *v)
{
	if (!json_is_string(v))
		return reject(d, "api_key must be a string");
	size_t n = json_string_length(v);
	if (n == 0)
		return reject(d, "api_key is empty");
	if (n > API_KEY_MAX)
		return reject(d, "api_key is longer than %d bytes", API_KEY_MAX);
	d->rec->api_key = json_string_value(v);
	return 0;
}

static int take_metadata(struct dec *d, json_t *meta, const char **md)
{
	*md = NULL;
	if (!meta || (json_is_object(meta) && json_object_size(meta) == 0))
		return 0;
	if (!json_is_object(meta))
		return reject(d, "metadata must be an object");
	json_object_del(meta, "api_key");
	if (json_object_size(meta) == 0)
		return 0;
	*md = iot__rec_dump_owned(d, meta, NULL);
	return *md ? 0 : -1;
}

int64_t iot__rec_now(struct dec *d)
{
	if (d->now_us == 0) {
		struct timespec ts;
		if (d->o->now_us)
			d->now_us = d->o->now_us;
		else if (clock_gettime(CLOCK_REALTIME, &ts) == 0)
			d->now_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	}
	return d->now_us;
}

int iot__rec_check_range(struct dec *d, int64_t t)
{
	char a[48], b[48];
	int64_t now = iot__rec_now(d), fut = d->o->max_future_us;
	if (t < d->o->min_ts_us) {
		iot_format_timestamp(t, a, sizeof a);
		iot_format_timestamp(d->o->min_ts_us, b, sizeof b);
		return reject(d, "timestamp %s is before %s", a, b);
	}
	if (fut >= 0 && now <= INT64_MAX - fut && t > now + fut) {
		iot_format_timestamp(t, a, sizeof a);
		return reject(d, "timestamp %s is more than %lld s in the future", a,
		              (long long)(fut / 1000000));
	}
	return 0;
}

/* The time of a record with "timestamp" v (NULL: absent). */
int iot__rec_record_ts(struct dec *d, json_t *v, int64_t *t)
{
	struct iot_shown sh;
	if (v && d->o->device)
		return iot__rec_device_ts(d, v, t);
	if (!v) {
		*t = d->have_fallback ? d->fallback_ts : iot__rec_now(d);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t n = json_string_length(v);
		const char *why = iot_timestamp_parse(s, n, d->o->naive_utc ? IOT_TS_NAIVE_UTC : 0, t);
		if (why)
			return reject(d, "timestamp \"%s\" %s", iot_show(&sh, s, n, true), why);
	} else if (json_is_number(v)) {
		if (iot_parse_timestamp_num(json_number_value(v), t) < 0)
			return reject(d, "timestamp %.15g is not a positive epoch time in seconds or milliseconds",
			              json_number_value(v));
	} else {
		return reject(d, "timestamp must be an ISO-8601 string or a number of seconds "
		                 "or milliseconds since the epoch");
	}
	return iot__rec_check_range(d, *t);
}

/* ---- points ------------------------------------------------------------ */

/* Room for n more points, within max_points. */
int iot__rec_reserve(struct dec *d, size_t n)
{
	size_t need = d->rec->npoints + n;
	if (need > d->o->max_points)
		return reject(d, "%zu point%s in one record, over the limit of %zu", need,
		              need == 1 ? "" : "s", d->o->max_points);
	if (need <= d->cap)
		return 0;
	iot_point *p = realloc(d->st->heap, need * sizeof *p);
	if (!p)
		return iot_error_set(d->err, IOT_INTERNAL, "out of memory");
	if (d->pts == d->st->inline_pts)
		memcpy(p, d->pts, d->rec->npoints * sizeof *p);
	d->st->heap = d->pts = p;
	d->cap = need;
	return 0;
}

int iot__rec_add_point(struct dec *d, const char *name, json_t *v, int64_t ts, const char *md)
{
	size_t len = strlen(name);
	struct iot_shown sh;
	if (!iot_measurement_name_valid(name, len))
		return reject(d, "invalid measurement name \"%s\"", iot_show(&sh, name, len, true));
	iot_point *p = &d->pts[d->rec->npoints];
	*p = (iot_point){ .ts_us = ts, .measurement = name, .type = IOT_VAL_NUMBER, .metadata = md };
	switch (json_typeof(v)) {
	case JSON_INTEGER: {
		json_int_t i = json_integer_value(v);
		if (i > EXACT_INT_MAX || i < -EXACT_INT_MAX)
			return reject(d, "measurement \"%s\": integer %lld is beyond +-2^53 and would lose precision",
			              name, (long long)i);
		p->num = (double)i;
		break;
	}
	case JSON_REAL:
		p->num = json_real_value(v);
		if (!isfinite(p->num)) /* jansson refuses these; kept as a guard */
			return reject(d, "measurement \"%s\" is not a finite number", name);
		/* Sums of such values (hourly rollups) could overflow a double. */
		if (fabs(p->num) > IOT_REC_NUMBER_MAX)
			return reject(d, "measurement \"%s\": number %g is out of range (+-1e300)", name, p->num);
		break;
	case JSON_STRING:
		if (json_string_length(v) > IOT_REC_TEXT_MAX)
			return reject(d, "measurement \"%s\": text is %zu bytes, over the limit of %d",
			              name, json_string_length(v), IOT_REC_TEXT_MAX);
		p->type = IOT_VAL_TEXT;
		p->text = json_string_value(v);
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		p->type = IOT_VAL_BOOL;
		p->boolean = json_is_true(v);
		break;
	case JSON_OBJECT:
	case JSON_ARRAY:
		p->type = IOT_VAL_JSON;
		if (!(p->text = iot__rec_dump_owned(d, v, name)))
			return -1;
		break;
	case JSON_NULL:
		return reject(d, "measurement \"%s\" is null", name);
	}
	d->rec->npoints++;
	return 0;
}

/* ---- shapes ------------------------------------------------------------ */

enum member { M_MEASUREMENT, M_DATA, M_METADATA, M_TIMESTAMP, M_DEVICE_ID, M_API_KEY,
              M_TS_OTHER, M_DESCRIBES };

static enum member classify(const char *k, bool device)
{
	if (device) {
		if (!strcmp(k, "ts"))
			return M_TS_OTHER;
		if (iot__rec_describes(k))
			return M_DESCRIBES;
	}
	switch (k[0]) {
	case 'a': return strcmp(k, "api_key") ? M_MEASUREMENT : M_API_KEY;
	case 'd': return !strcmp(k, "data") ? M_DATA : !strcmp(k, "device_id") ? M_DEVICE_ID : M_MEASUREMENT;
	case 'm': return strcmp(k, "metadata") ? M_MEASUREMENT : M_METADATA;
	case 't': return strcmp(k, "timestamp") ? M_MEASUREMENT : M_TIMESTAMP;
	}
	return M_MEASUREMENT;
}

/* (a) with "data", (b) without. */
static int decode_iotflow(struct dec *d, json_t *obj)
{
	json_t *data = json_object_get(obj, "data"), *ts = NULL, *ts_other = NULL, *meta = NULL, *v;
	const char *k, *md;
	size_t n = 0;
	int64_t t = 0;
	struct iot_shown sh;
	bool device = d->o->device;
	json_object_foreach(obj, k, v) {
		switch (classify(k, device)) {
		case M_DATA: break;
		case M_METADATA: meta = v; break;
		case M_TIMESTAMP: ts = v; break;
		case M_TS_OTHER: ts_other = v; break;
		case M_DESCRIBES: break;
		case M_DEVICE_ID:
			if (take_device_id(d, v) < 0)
				return -1;
			break;
		case M_API_KEY:
			if (take_api_key(d, v) < 0)
				return -1;
			break;
		case M_MEASUREMENT:
			if (data)
				return reject(d, "unknown member \"%s\" beside \"data\" (expected metadata, "
				                 "timestamp, device_id or api_key)", iot_show(&sh, k, strlen(k), true));
			n++;
		}
	}
	if (data && !json_is_object(data))
		return reject(d, "data must be an object");
	if (data)
		n = json_object_size(data);
	if (!ts)
		ts = ts_other;
	if ((device ? iot__rec_device_metadata(d, obj, meta, &md) : take_metadata(d, meta, &md)) < 0 ||
	    iot__rec_record_ts(d, ts, &t) < 0 || iot__rec_reserve(d, n) < 0)
		return -1;
	json_object_foreach(data ? data : obj, k, v) {
		const char *pmd = md;
		if (!data && classify(k, device) != M_MEASUREMENT)
			continue;
		if (device && iot__rec_device_reading(d, k, &v, &pmd) < 0)
			return -1;
		if (v && iot__rec_add_point(d, k, v, t, pmd) < 0)
			return -1;
	}
	return 0;
}

/* "iotflow/devices/1/telemetry {...}": a topic, a space, the payload, as
 * mosquitto_sub -v prints a message. */
static bool topic_first(const char *s, size_t n)
{
	size_t i = 0;
	bool slash = false;
	for (; i < n && s[i] != ' ' && s[i] != '{' && s[i] != '[' && s[i] != '"'; i++)
		slash |= s[i] == '/';
	return slash && i + 1 < n && s[i] == ' ' && (s[i + 1] == '{' || s[i + 1] == '[');
}

/* One JSON text: blank, BOM and parse checks; any: a bare value will do. */
int iot__rec_parse_text(struct dec *d, const char *s, size_t n, bool any, json_t **out)
{
	size_t i = 0;
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	if (i == n)
		return reject(d, "empty record");
	if (n - i >= 3 && memcmp(s + i, "\xef\xbb\xbf", 3) == 0)
		return reject(d, "record starts with a UTF-8 byte order mark, which JSON does not allow");
	/* jansson reads a raw NUL outside a string as the end of the input. */
	const char *nul = memchr(s, '\0', n);
	if (nul)
		return reject(d, "record contains a NUL byte (at byte %zu)", (size_t)(nul - s) + 1);
	*out = any ? iot_json_parse_value(s, n, d->o->max_depth, d->err)
	           : iot_json_parse(s, n, d->o->max_depth, d->err);
	if (!*out && topic_first(s + i, n - i)) {
		size_t l = strlen(d->err->msg);
		snprintf(d->err->msg + l, sizeof d->err->msg - l,
		         " (a topic before the payload, as mosquitto_sub -v prints it: use mosquitto_sub -F %%j)");
	}
	return *out ? 0 : -1;
}

/* v in format fmt; envelope: a mosquitto line may appear here (not inside one). */
int iot__rec_decode_shape(struct dec *d, json_t *v, enum iot_input_format fmt, bool envelope)
{
	if (json_is_array(v)) {
		if (fmt == IOT_FORMAT_IOTFLOW || fmt == IOT_FORMAT_MOSQUITTO)
			return reject(d, "expected a JSON object, not an array");
		return iot__rec_decode_tb_array(d, v);
	}
	if (!json_is_object(v))
		return reject(d, "expected a JSON object or array");
	switch (fmt) {
	case IOT_FORMAT_IOTFLOW: return decode_iotflow(d, v);
	case IOT_FORMAT_MOSQUITTO: return iot__rec_decode_mosquitto(d, v);
	case IOT_FORMAT_THINGSBOARD: return iot__rec_decode_tb_object(d, v);
	case IOT_FORMAT_AUTO: break;
	}
	if (envelope && json_object_get(v, "topic") && json_object_get(v, "payload"))
		return iot__rec_decode_mosquitto(d, v);
	if (json_is_object(json_object_get(v, "values")) && !json_object_get(v, "data"))
		return iot__rec_decode_tb_object(d, v);
	return decode_iotflow(d, v);
}

int iot_record_decode(const char *buf, size_t len, const iot_decode_opts *opts,
                      iot_record *rec, iot_error *err)
{
	iot_decode_opts defaults;
	iot_error scratch;
	memset(rec, 0, sizeof *rec);
	if (!err)
		err = &scratch;
	iot_error_clear(err);
	if (!opts) {
		iot_decode_opts_default(&defaults);
		opts = &defaults;
	}
	if ((unsigned)opts->format > IOT_FORMAT_THINGSBOARD)
		return iot_error_set(err, IOT_USAGE, "unknown input format %d", (int)opts->format);
	if (len > opts->max_bytes)
		return iot_error_set(err, IOT_REJECTED, "record is %zu bytes, over the limit of %zu",
		                     len, opts->max_bytes);
	struct dec_store *st = malloc(sizeof *st);
	if (!st)
		return iot_error_set(err, IOT_INTERNAL, "out of memory");
	st->root = st->payload = NULL;
	st->owned = NULL;
	st->heap = NULL;
	st->md_obj = NULL;
	st->note[0] = '\0';
	rec->priv_ = st;
	struct dec d = { .o = opts, .rec = rec, .st = st, .err = err,
	                 .pts = st->inline_pts, .cap = INLINE_POINTS };
	if (iot__rec_parse_text(&d, buf, len, false, &st->root) < 0 ||
	    iot__rec_decode_shape(&d, st->root, opts->format, true) < 0)
		goto fail;
	if (rec->npoints == 0) {
		reject(&d, "no data");
		goto fail;
	}
	rec->points = d.pts;
	iot_secret_mask(st->note);
	rec->note = st->note[0] ? st->note : NULL;
	for (size_t i = 0; i < rec->npoints; i++)
		rec->points[i].device_id = rec->device_id;
	return 0;
fail:
	/* A key or token the input held where none belongs (a timestamp, a
	 * member's name) is not quoted back. */
	iot_secret_mask(err->msg);
	rec->points = NULL;
	rec->npoints = 0;
	rec->api_key = NULL;
	rec->device_id = 0;
	return -1;
}

void iot_record_free(iot_record *rec)
{
	if (!rec)
		return;
	struct dec_store *st = rec->priv_;
	if (st) {
		json_decref(st->root);
		json_decref(st->payload);
		json_decref(st->md_obj);
		while (st->owned) {
			struct owned *next = st->owned->next;
			free(st->owned);
			st->owned = next;
		}
		free(st->heap);
		free(st);
	}
	memset(rec, 0, sizeof *rec);
}
