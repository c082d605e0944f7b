/* fuzz_http.c — libFuzzer target for what iot-httpd reads from a request
 * before any backend: the query string (decoding, the secret-in-URL
 * refusal, boolean parameters), the route templates, the Content-Type, and
 * the records of a body (JSON object, array, NDJSON), each record then
 * decoded as the server decodes it; and, for the device routes
 * (/api/v1/devices/register, /config, /heartbeat), the body as a JSON
 * object with its string members (iot_http_body_object,
 * iot_http_str_member) and their field checks, as registration makes them.
 *
 * Input: line 1 is the request target (path?query), line 2 the
 * Content-Type, the rest the body. Invariants: every record handed out
 * lies inside the body, in order, not overlapping, non-empty, without
 * leading or trailing JSON whitespace; the count returned is the count
 * handed out and never over max_records; a JSON body of one value gives at
 * most one record and is a batch only when it starts with '['; query
 * values hold no NUL; a matched {id} is in 1..2^31-1; a body object is a
 * non-empty object and a string member has no NUL. Built by the
 * Makefile, run by scripts/fuzz.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/field_check.h"
#include "http/http.h"
#include "telemetry/record.h"

#define MAX_RECORDS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_http: invariant broken: %s\n", what);
	abort();
}

struct seen {
	const char *body;
	size_t len, n;
	const char *last_end;
	bool batch_json;
};

static bool space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static int on_record(void *ctx, size_t index, long line, const char *buf, size_t len)
{
	struct seen *s = ctx;
	if (index != s->n)
		fail("records out of order");
	if (buf < s->body || buf + len > s->body + s->len || len == 0)
		fail("record outside the body");
	if (s->last_end && buf < s->last_end)
		fail("records overlap");
	if (space(buf[0]) || space(buf[len - 1]))
		fail("record not trimmed");
	(void)line;
	s->last_end = buf + len;
	s->n++;
	/* Each record as the server decodes it (no backend: decode only). */
	iot_decode_opts o;
	iot_decode_opts_default(&o);
	o.max_points = 16;
	o.max_depth = s->batch_json ? 31 : 32;
	o.now_us = INT64_C(1795867200) * 1000000;
	iot_record rec = { 0 };
	iot_error err;
	iot_record_decode(buf, len, &o, &rec, &err);
	iot_record_free(&rec);
	return 0;
}

static void fuzz_target(const char *target)
{
	static const char *const templates[] = {
		"/", "/health", "/api/v1/telemetry", "/api/v1/telemetry/{id}", "/api/v1/telemetry/{id}/latest",
		"/api/v1/telemetry/user/{id}",
	};
	char *t = strdup(target);
	if (!t)
		return;
	char *qs = strchr(t, '?');
	if (qs)
		*qs++ = '\0';
	for (size_t i = 0; i < sizeof templates / sizeof templates[0]; i++) {
		int64_t id = 0;
		if (iot_http_match_template(templates[i], t, &id) && strstr(templates[i], "{id}") &&
		    (id < 1 || id > INT32_MAX))
			fail("id out of range");
	}
	iot_http_args args;
	bool had_nul = qs && strstr(qs, "%00");
	iot_http_query_parse(qs ? qs : t + strlen(t), &args);
	if (args.nul && !had_nul)
		fail("a NUL said where the query has no %00");
	if (args.n > IOT_HTTP_MAX_ARGS)
		fail("too many args");
	for (size_t i = 0; i < args.n; i++)
		if (!args.a[i].name || !args.a[i].value || !args.a[i].name[0])
			fail("empty arg");
	bool b;
	iot_http_arg_bool(&args, "detailed", false, &b);
	iot_http_args_secret(&args);
	free(t);
}

/* A device route's body, as registration and the config route read it. */
static void fuzz_device_body(const char *body, size_t len)
{
	static const struct { const char *key; size_t max; } fields[] = {
		{ "name", 100 }, { "device_type", 50 }, { "description", 1000 }, { "location", 200 },
		{ "firmware_version", 50 }, { "hardware_version", 50 }, { "config_key", 64 }, { "data_type", 16 },
		{ "user_id", 64 }, { "status", 16 },
	};
	char why[200];
	why[0] = '\0';
	json_t *obj = iot_http_body_object(body, len, 32, why, sizeof why);
	if (!obj) {
		if (!why[0] || strchr(why, '\n'))
			fail("a refused body without a one-line reason");
		return;
	}
	if (!json_is_object(obj) || json_object_size(obj) == 0)
		fail("body object not a non-empty object");
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		const char *v;
		if (iot_http_str_member(obj, fields[i].key, &v) < 0)
			continue;
		if (v && strlen(v) != json_string_length(json_object_get(obj, fields[i].key)))
			fail("string member with a NUL");
		iot_error err;
		if (v)
			iot_field_check(fields[i].key, v, 0, fields[i].max, false, &err);
	}
	/* config_value of any type, as the config route stores its text. */
	json_t *cv = json_object_get(obj, "config_value");
	if (cv && !json_is_string(cv)) {
		char *text = json_dumps(cv, JSON_COMPACT | JSON_ENCODE_ANY);
		free(text);
	}
	json_decref(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1);
	if (!in)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	char *nl1 = memchr(in, '\n', size);
	char *nl2 = nl1 ? memchr(nl1 + 1, '\n', size - (size_t)(nl1 + 1 - in)) : NULL;
	if (!nl1 || !nl2 || memchr(in, '\0', (size_t)(nl2 - in))) {
		free(in);
		return 0;
	}
	*nl1 = *nl2 = '\0';
	fuzz_target(in);
	enum iot_http_body kind = iot_http_content_type(nl1 + 1);
	(void)iot_http_prefers_html(nl1 + 1); /* the same line, read as an Accept header */
	/* The body as MHD hands it over: its own copy, exactly size bytes. */
	size_t blen = size - (size_t)(nl2 + 1 - in);
	char *body = malloc(blen ? blen : 1);
	if (body) {
		memcpy(body, nl2 + 1, blen);
		struct seen s = { .body = body, .len = blen };
		bool batch = false;
		if (!strncmp(in, "/api/v1/devices/", 16))
			fuzz_device_body(body, blen);
		if (kind == IOT_BODY_JSON || kind == IOT_BODY_NDJSON) {
			size_t a = 0;
			while (a < blen && space(body[a]))
				a++;
			s.batch_json = kind == IOT_BODY_JSON && a < blen && body[a] == '[';
			iot_error err;
			long n = iot_http_split_records(body, blen, kind, 32, MAX_RECORDS, &batch, on_record, &s, &err);
			if (n >= 0 && (size_t)n != s.n)
				fail("count differs from records handed out");
			if (n > MAX_RECORDS)
				fail("over max_records");
			if (kind == IOT_BODY_JSON && !s.batch_json && (n > 1 || batch))
				fail("one JSON value gave a batch");
			if (n < 0 && !err.msg[0])
				fail("refusal without a reason");
		}
		free(body);
	}
	free(in);
	return 0;
}
