/* timestamp.h — telemetry timestamps: RFC 3339 text and epoch numbers to
 * microseconds since the Unix epoch (UTC), and back. */
#ifndef IOT_TIMESTAMP_H
#define IOT_TIMESTAMP_H

#include <stddef.h>
#include <stdint.h>

/* Timestamps: ISO-8601 with a zone (Z or +hh:mm), epoch seconds or epoch
 * milliseconds (numbers >= 1e11 are milliseconds, rounded to the nearest
 * microsecond). Returns 0 or -1. The rules in full are at the top of telemetry/record.c. */
int iot_parse_timestamp_str(const char *s, int64_t *ts_us);
int iot_parse_timestamp_num(double v, int64_t *ts_us);
/* iot_parse_timestamp_str on s[0..len) (no NUL needed), saying why not:
 * returns NULL on success or a static phrase to follow the quoted text,
 * e.g. "has no time zone (...)". With IOT_TS_MOSQUITTO_TST it also accepts
 * the "tst" of mosquitto_sub -F %j (or %J), local time written as
 * "2026-11-28T11:00:00.123456Z+0100" (the offset after the Z applies). */
#define IOT_TS_MOSQUITTO_TST 1u
/* IOT_TS_NAIVE_UTC: a time without any zone is UTC, as the Flask service
 * took Python's isoformat() of a naive datetime (utcnow()). */
#define IOT_TS_NAIVE_UTC 2u
const char *iot_timestamp_parse(const char *s, size_t len, unsigned flags, int64_t *ts_us);
/* What devices send (the Flask service's rules, for device payloads):
 * epoch numbers written as digits with at most one '.' (seconds when below
 * 1e10, else milliseconds), ISO-8601 as iot_timestamp_parse with or without
 * a zone (none is UTC), an offset followed by a stray Z ("+00:00Z"), and
 * "MM/DD/YYYY HH:MM:SS" (tried first) or "DD/MM/YYYY HH:MM:SS" in UTC.
 * NULL on success, else why not (a static phrase, as above). */
const char *iot_timestamp_parse_device(const char *s, size_t len, int64_t *ts_us);
/* An epoch number as devices send it: seconds below 1e10, else milliseconds.
 * Returns 0, or -1 when not positive and finite or out of range. */
int iot_timestamp_device_num(double v, int64_t *ts_us);
/* Format ts_us as RFC 3339 UTC with microseconds into buf (>= 32 bytes). */
void iot_format_timestamp(int64_t ts_us, char *buf, size_t size);

#endif
