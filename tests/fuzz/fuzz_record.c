/* fuzz_record.c — libFuzzer target for the telemetry record decoder.
 *
 * Every input is decoded in each of the four formats. Besides the
 * sanitizers' own checks it asserts what callers rely on: a success carries
 * 1..max_points points with valid names and values, times inside the window,
 * and owned strings; a rejection carries one printable line and leaves the
 * record empty. The timestamp parser is fed the same bytes and must agree
 * with the formatter on whatever it accepts. Built and run by scripts/fuzz.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry/record.h"

#define NOW_US (INT64_C(1795867200) * 1000000) /* 2026-11-28T12:00:00Z */
#define MAX_POINTS 16 /* small, so the limit is reachable */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_record: invariant broken: %s: %s\n", what, detail);
	abort();
}

static void check_success(const iot_record *r, const iot_decode_opts *o)
{
	if (r->npoints == 0 || r->npoints > o->max_points || !r->points)
		fail("point count", "out of range");
	if (r->api_key && (strlen(r->api_key) == 0 || strlen(r->api_key) > 256))
		fail("api_key", "length");
	for (size_t i = 0; i < r->npoints; i++) {
		const iot_point *p = &r->points[i];
		if (!iot_measurement_name_valid(p->measurement, strlen(p->measurement)))
			fail("measurement name", p->measurement);
		if (p->ts_us < o->min_ts_us || p->ts_us > NOW_US + o->max_future_us)
			fail("timestamp window", p->measurement);
		if (p->device_id != r->device_id)
			fail("device_id", p->measurement);
		if ((p->type == IOT_VAL_TEXT || p->type == IOT_VAL_JSON) && (!p->text || strlen(p->text) > 4096))
			fail("text", p->measurement);
		if (p->type == IOT_VAL_NUMBER && !(p->num == p->num && p->num - p->num == 0))
			fail("number not finite", p->measurement);
		if (p->metadata && (p->metadata[0] != '{' || strlen(p->metadata) > 4096))
			fail("metadata", p->metadata);
	}
}

static void check_failure(const iot_record *r, const iot_error *err)
{
	if (r->npoints || r->points || r->api_key || r->device_id)
		fail("rejected record not empty", err->msg);
	if (err->status != IOT_REJECTED || !err->msg[0])
		fail("rejection without a reason", err->msg);
	for (const char *c = err->msg; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			fail("reason not printable ASCII", err->msg);
}

static void check_timestamp(const uint8_t *data, size_t size)
{
	int64_t ts, back;
	char buf[48];
	for (unsigned flags = 0; flags <= IOT_TS_MOSQUITTO_TST; flags++) {
		if (iot_timestamp_parse((const char *)data, size, flags, &ts) != NULL)
			continue;
		/* 0001-01-02 .. 9999-12-30 format back into the accepted range */
		if (ts < INT64_C(-62135510400) * 1000000 || ts > INT64_C(253402041600) * 1000000)
			continue;
		iot_format_timestamp(ts, buf, sizeof buf);
		if (iot_parse_timestamp_str(buf, &back) != 0 || back != ts)
			fail("timestamp round trip", buf);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (int fmt = IOT_FORMAT_AUTO; fmt <= IOT_FORMAT_THINGSBOARD; fmt++) {
		iot_decode_opts o;
		iot_decode_opts_default(&o);
		o.format = (enum iot_input_format)fmt;
		o.now_us = NOW_US;
		o.max_points = MAX_POINTS;
		iot_record r;
		iot_error err;
		if (iot_record_decode((const char *)data, size, &o, &r, &err) == 0)
			check_success(&r, &o);
		else
			check_failure(&r, &err);
		iot_record_free(&r);
	}
	check_timestamp(data, size);
	return 0;
}
