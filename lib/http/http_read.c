/* http_read.c — the telemetry read routes over lib/query, so that they and
 * iot-query give the same answer to the same question:
 *
 *   GET    /api/v1/telemetry/{id}             records, newest first (Flask route 21)
 *   GET    /api/v1/telemetry/{id}/latest      latest values (route 22)
 *   GET    /api/v1/telemetry/{id}/aggregated  buckets of any window (route 23)
 *   DELETE /api/v1/telemetry/{id}             points of a range, with the count (route 24)
 *   GET    /api/v1/telemetry/status           (route 25)
 *   GET    /api/v1/telemetry/user/{id}        a user's points (route 26)
 *   GET    /api/v1/devices/telemetry          a device's own, by its key only (route 8)
 *
 * Who may read a device's telemetry (and delete it):
 *   X-API-Key            that device only, when active (inactive or
 *                        maintenance: 403 Device inactive; offline is not
 *                        inactive); another id: 403 Forbidden: device
 *                        mismatch, before anything is looked up; the
 *                        per-device rate limit applies as to POSTs;
 *   Authorization        Bearer TOKEN (or "admin TOKEN", an admin's only):
 *                        the person's own devices; another user's device
 *                        is 404 like an unknown one, so ids do not tell
 *                        whether a device exists; admins every device.
 * X-API-Key wins when both are sent. Neither: 401 API key required.
 *
 * Arguments are lib/query's (time grammar, windows, functions); a bad one
 * is 400 with the rule in the message, never a silent default. A limit
 * over its cap is clamped, as the Flask service did (old clients send
 * big ones); 0, negative or not a number is 400. PostgreSQL unavailable:
 * 503 with Retry-After. */
#include "http/http_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_dev.h"
#include "http/http_read.h"
#include "http/http_read_cache.h"
#include "query/query.h"
#include "telemetry/record.h"



static void unavailable(struct http_req *r)
{
	atomic_fetch_add(&r->h->m.unavailable, 1);
	iot__http_retry_after(r, 5);
	iot__http_error(r, 503, "Service Unavailable", "The database is unavailable; try again shortly");
}

/* A failure of lib/query (or a lookup) as an answer. */
void iot__http_read_failed(struct http_req *r, const iot_error *err, const char *what)
{
	switch (err->status) {
	case IOT_USAGE:
		iot__http_error(r, 400, "Bad Request", "%s", err->msg);
		break;
	case IOT_NOT_FOUND:
		iot__http_error(r, 404, "Not Found", "%s", err->msg);
		break;
	case IOT_UNAVAILABLE:
		unavailable(r);
		break;
	default:
		iot__http_error(r, 500, "Internal Server Error", "%s", what);
	}
}

static const char *arg(struct http_req *r, const char *name)
{
	return iot_http_arg(&r->args, name);
}

/* The path's device, when the caller may see it: 0 and *t, or -1 answered. */
static int target(struct http_req *r, struct http_slot *s, const struct http_caller *c, struct target *t)
{
	if (c->device && c->dev.id != r->id) {
		iot__http_error(r, 403, "Forbidden: device mismatch",
		                "A device key reads and deletes its own device's telemetry only");
		return -1;
	}
	char id[24];
	snprintf(id, sizeof id, "%" PRId64, r->id);
	const char *params[] = { id };
	iot_error err = { 0 };
	PGresult *res = iot_db_exec(s->db, "SELECT name, device_type, user_id FROM devices WHERE id = $1",
	                            1, params, &err);
	if (!res) {
		iot__http_read_failed(r, &err, "The device could not be looked up");
		return -1;
	}
	bool found = PQntuples(res) == 1;
	if (found) {
		snprintf(t->name, sizeof t->name, "%s", PQgetvalue(res, 0, 0));
		snprintf(t->type, sizeof t->type, "%s", PQgetvalue(res, 0, 1));
		t->owner = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	}
	PQclear(res);
	if (!found || (!c->device && !c->user.is_admin && t->owner != c->user.id)) {
		iot__http_error(r, 404, "Device not found", "No device %" PRId64 " that you may read", r->id);
		return -1;
	}
	return 0;
}

/* Authentication and access to the path's device in one step. */
int iot__http_read_open(struct http_req *r, struct http_slot *s, struct target *t)
{
	struct http_caller c;
	if (iot__http_caller(r, s, &c) < 0)
		return -1;
	t->by_key = c.device;
	t->reader = c.device ? c.dev.id : c.user.id;
	t->reader_admin = !c.device && c.user.is_admin;
	return target(r, s, &c, t);
}

/* A limit: default when absent, clamped to cap when over it; -1 answered. */
static int limit_arg(struct http_req *r, long deflt, long cap, long *out)
{
	const char *v = arg(r, "limit");
	size_t n = v ? strspn(v, "0123456789") : 0;
	if (v && n > 9 && !v[n] && strspn(v, "0") < n) {
		*out = cap;
		return 0;
	}
	iot_error err = { 0 };
	if (iot_query_parse_limit("limit", v, deflt, 999999999, out, &err) < 0) {
		iot__http_read_failed(r, &err, "bad limit");
		return -1;
	}
	if (*out > cap)
		*out = cap;
	return 0;
}

/* start_time (default deflt) and end_time (default now) as a checked
 * range, both against one clock reading; -1 answered. */
int iot__http_read_range_args(struct http_req *r, const char *end_name, const char *deflt,
                      int64_t *start_us, int64_t *end_us)
{
	int64_t now = iot_now_us();
	const char *st = arg(r, "start_time"), *en = arg(r, end_name);
	iot_error err = { 0 };
	if (iot_query_parse_time("start_time", st ? st : deflt, now, start_us, &err) < 0 ||
	    iot_query_parse_time(end_name, en, now, end_us, &err) < 0 ||
	    iot_query_check_range("start_time", *start_us, end_name, *end_us, &err) < 0) {
		iot__http_read_failed(r, &err, "bad time");
		return -1;
	}
	return 0;
}

static json_t *device_head(struct http_req *r, const struct target *t)
{
	return json_pack("{s:I,s:s,s:s}", "device_id", (json_int_t)r->id, "device_name", t->name,
	                 "device_type", t->type);
}

long iot__http_read_names(char *buf, const char **names, size_t max)
{
	size_t n = 0;
	for (char *save = NULL, *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		if (n == max)
			return -1;
		names[n++] = p;
	}
	return (long)n;
}

/* ---- GET /api/v1/telemetry/{id} ---- */

/* A range route's defaults: the Flask routes 21 and 8 differ in these. */
struct range_defaults {
	const char *start;
	long limit, cap;
};
static const struct range_defaults by_id = { "-1h", IOT_QUERY_RANGE_LIMIT_DEFAULT, IOT_QUERY_RANGE_LIMIT_MAX };

static int range_req(struct http_req *r, const struct range_defaults *d, iot_range_req *q, char *mbuf,
                     size_t mbufsize, const char **names)
{
	if (iot__http_read_range_args(r, "end_time", d->start, &q->start_us, &q->end_us) < 0 ||
	    limit_arg(r, d->limit, d->cap, &q->limit) < 0)
		return -1;
	bool md = false;
	if (iot_http_arg_bool(&r->args, "metadata", false, &md) < 0) {
		iot__http_error(r, 400, "Bad Request", "metadata must be true or false");
		return -1;
	}
	q->metadata = md;
	const char *m = arg(r, "measurement");
	if (m && *m) {
		snprintf(mbuf, mbufsize, "%s", m);
		long n = strlen(m) < mbufsize ? iot__http_read_names(mbuf, names, IOT_QUERY_MEASUREMENTS_MAX) : -1;
		if (n < 0) {
			iot__http_error(r, 400, "Bad Request", "measurement: at most %d names, comma-separated",
			                IOT_QUERY_MEASUREMENTS_MAX);
			return -1;
		}
		q->measurements = names;
		q->nmeasurements = (size_t)n;
	}
	return 0;
}

void iot__http_telemetry_range(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	struct target t;
	iot_range_req q = { .device_id = r->id };
	char mbuf[IOT_QUERY_MEASUREMENTS_MAX * 65 + 1];
	const char *names[IOT_QUERY_MEASUREMENTS_MAX];
	json_t *data = NULL, *body;
	iot_error err = { 0 };
	struct http_cache hc;
	if (iot__http_read_open(r, s, &t) < 0 || iot__http_cache_try(r, s, HTTP_CACHE_RANGE, &t, &hc) > 0 ||
	    range_req(r, &by_id, &q, mbuf, sizeof mbuf, names) < 0)
		goto out;
	if (!(data = json_array()) || iot_query_range(s->db, &q, iot_query_collect, data, &err) < 0) {
		iot__http_read_failed(r, &err, "The telemetry could not be read");
		goto out;
	}
	const char *st = arg(r, "start_time"), *en = arg(r, "end_time");
	body = device_head(r, &t);
	json_object_set_new(body, "start_time", json_string(st ? st : "-1h"));
	json_object_set_new(body, "end_time", en ? json_string(en) : json_null());
	json_object_set_new(body, "limit", json_integer(q.limit));
	json_object_set_new(body, "count", json_integer((json_int_t)json_array_size(data)));
	json_object_set_new(body, "postgres_available", json_true());
	json_object_set_new(body, "data", data);
	data = NULL;
	iot__http_cache_reply(r, s, &hc, body);
out:
	json_decref(data);
	iot__http_slot_put(s);
}

/* ---- GET /api/v1/devices/telemetry ---- */

/* 200 with body's members, then start_time, end_time (as sent) and items
 * as "telemetry" (taken): the Flask shape of routes 8 and 26. */
static void reply_telemetry(struct http_req *r, json_t *body, const char *start_deflt, json_t *items)
{
	const char *st = arg(r, "start_time"), *en = arg(r, "end_time");
	json_object_set_new(body, "start_time", json_string(st ? st : start_deflt));
	json_object_set_new(body, "end_time", en ? json_string(en) : json_null());
	json_object_set_new(body, "telemetry", items);
	iot__http_reply(r, 200, body);
}

/* Flask route 8, the device reading its own telemetry by its key alone
 * (X-API-Key; a person's token is not enough: this is a device route):
 * what GET /api/v1/telemetry/{id} reads, with that route's defaults
 * (start_time -24h, limit 100 clamped to 1000), in its shape
 * {"status","telemetry","count","limit","start_time"}. It read IoTDB
 * there (compat B14); here PostgreSQL, as every read route. Its "type"
 * filtered on a member no record carries, so it answered nothing: 400. */
static const struct range_defaults own = { "-24h", 100, 1000 };

void iot__http_dev_telemetry_get(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	struct http_caller c = { .device = true };
	struct target t;
	iot_range_req q = { 0 };
	char mbuf[IOT_QUERY_MEASUREMENTS_MAX * 65 + 1];
	const char *names[IOT_QUERY_MEASUREMENTS_MAX];
	json_t *data = NULL;
	iot_error err = { 0 };
	if (iot__http_dev_key(r, s, &c.dev) < 0)
		goto out;
	if (arg(r, "type")) {
		iot__http_error(r, 400, "Bad Request", "type is not supported (no record carries a data type); "
		                "measurement picks series");
		goto out;
	}
	r->id = q.device_id = c.dev.id;
	if (target(r, s, &c, &t) < 0 || range_req(r, &own, &q, mbuf, sizeof mbuf, names) < 0)
		goto out;
	if (!(data = json_array()) || iot_query_range(s->db, &q, iot_query_collect, data, &err) < 0) {
		iot__http_read_failed(r, &err, "The telemetry could not be read");
		goto out;
	}
	reply_telemetry(r, json_pack("{s:s,s:I,s:s,s:I,s:I}", "status", "success", "device_id", (json_int_t)r->id,
	                             "device_name", t.name, "count", (json_int_t)json_array_size(data),
	                             "limit", (json_int_t)q.limit), own.start, data);
	data = NULL;
out:
	json_decref(data);
	iot__http_slot_put(s);
}

/* ---- GET /api/v1/telemetry/{id}/latest ---- */

void iot__http_telemetry_latest(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	struct target t;
	iot_error err = { 0 };
	json_t *latest;
	if (iot__http_read_open(r, s, &t) < 0)
		goto out;
	if (!(latest = iot_query_latest(s->db, r->id, &err))) {
		if (err.status != IOT_NOT_FOUND) {
			iot__http_read_failed(r, &err, "The telemetry could not be read");
			goto out;
		}
		json_t *body = device_head(r, &t);
		json_object_set_new(body, "error", json_string("No telemetry data found"));
		json_object_set_new(body, "message", json_string("No telemetry data found"));
		json_object_set_new(body, "postgres_available", json_true());
		iot__http_reply(r, 404, body);
		goto out;
	}
	json_t *head = device_head(r, &t);
	json_object_update(latest, head);
	json_decref(head);
	json_object_set_new(latest, "postgres_available", json_true());
	iot__http_reply(r, 200, latest);
out:
	iot__http_slot_put(s);
}

/* ---- GET /api/v1/telemetry/{id}/aggregated ---- */

static int aggregate_req(struct http_req *r, iot_aggregate_req *q)
{
	const char *fn = arg(r, "aggregation");
	iot_error err = { 0 };
	if (iot_query_parse_fn("aggregation", fn ? fn : "mean", &q->fn, &err) < 0) {
		json_t *valid = json_array();
		for (int f = IOT_AGG_MEAN; f <= IOT_AGG_LAST; f++)
			json_array_append_new(valid, json_string(iot_query_fn_name((enum iot_agg_fn)f)));
		iot__http_reply(r, 400, json_pack("{s:s,s:s,s:o}", "error", "Invalid aggregation function",
		                                  "message", err.msg, "valid_functions", valid));
		return -1;
	}
	const char *w = arg(r, "window"), *field = arg(r, "field");
	if (iot_query_parse_window("window", w ? w : "1h", &q->window_us, &err) < 0) {
		iot__http_read_failed(r, &err, "bad window");
		return -1;
	}
	q->measurement = field && *field ? field : "temperature";
	if (!iot_measurement_name_valid(q->measurement, strlen(q->measurement))) {
		iot__http_error(r, 400, "Bad Request", "field: invalid measurement name (1 to 64 of A-Z a-z 0-9 "
		                "_ . : / -, starting with a letter, a digit or _)");
		return -1;
	}
	return iot__http_read_range_args(r, "end_time", "-24h", &q->start_us, &q->end_us);
}

void iot__http_telemetry_aggregated(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	struct target t;
	iot_aggregate_req q = { .device_id = r->id, .fill = IOT_FILL_NONE, .source = IOT_AGG_AUTO };
	json_t *data = NULL, *body;
	iot_error err = { 0 };
	struct http_cache hc;
	if (iot__http_read_open(r, s, &t) < 0 || iot__http_cache_try(r, s, HTTP_CACHE_AGGREGATE, &t, &hc) > 0 ||
	    aggregate_req(r, &q) < 0)
		goto out;
	if (!(data = json_array()) || iot_query_aggregate(s->db, &q, iot_query_collect, data, &err) < 0) {
		iot__http_read_failed(r, &err, "The telemetry could not be aggregated");
		goto out;
	}
	const char *st = arg(r, "start_time"), *en = arg(r, "end_time"), *w = arg(r, "window");
	body = device_head(r, &t);
	json_object_set_new(body, "field", json_string(q.measurement));
	json_object_set_new(body, "aggregation", json_string(iot_query_fn_name(q.fn)));
	json_object_set_new(body, "window", json_string(w ? w : "1h"));
	json_object_set_new(body, "start_time", json_string(st ? st : "-24h"));
	json_object_set_new(body, "end_time", en ? json_string(en) : json_null());
	json_object_set_new(body, "count", json_integer((json_int_t)json_array_size(data)));
	json_object_set_new(body, "postgres_available", json_true());
	json_object_set_new(body, "data", data);
	data = NULL;
	iot__http_cache_reply(r, s, &hc, body);
out:
	json_decref(data);
	iot__http_slot_put(s);
}

/* ---- DELETE /api/v1/telemetry/{id} ---- */

/* The body's start_time and stop_time (and measurement): 0, or -1 answered. */
static int delete_req(struct http_req *r, json_t *b, iot_delete_req *q)
{
	json_t *st = json_object_get(b, "start_time"), *sp = json_object_get(b, "stop_time");
	json_t *m = json_object_get(b, "measurement");
	if (!st || !sp) {
		iot__http_error(r, 400, "start_time and stop_time are required",
		                "Send {\"start_time\":\"-1h\",\"stop_time\":\"now\"} (times as for reading)");
		return -1;
	}
	if (!json_is_string(st) || !json_is_string(sp) || (m && !json_is_null(m) && !json_is_string(m))) {
		iot__http_error(r, 400, "Bad Request", "start_time, stop_time and measurement must be strings");
		return -1;
	}
	int64_t now = iot_now_us();
	iot_error err = { 0 };
	if (iot_query_parse_time("start_time", json_string_value(st), now, &q->start_us, &err) < 0 ||
	    iot_query_parse_time("stop_time", json_string_value(sp), now, &q->end_us, &err) < 0 ||
	    iot_query_check_range("start_time", q->start_us, "stop_time", q->end_us, &err) < 0) {
		iot__http_read_failed(r, &err, "bad time");
		return -1;
	}
	q->measurement = json_is_string(m) ? json_string_value(m) : NULL;
	if (q->measurement && !iot_measurement_name_valid(q->measurement, strlen(q->measurement))) {
		iot__http_error(r, 400, "Bad Request", "measurement: invalid measurement name");
		return -1;
	}
	return 0;
}

static json_t *delete_body(struct http_req *r)
{
	if (r->len == 0) {
		iot__http_error(r, 400, "Request body required with start_time and stop_time",
		                "Send {\"start_time\":\"-1h\",\"stop_time\":\"now\"}");
		return NULL;
	}
	if (iot_http_content_type(iot__http_get_header(r, MHD_HTTP_HEADER_CONTENT_TYPE)) != IOT_BODY_JSON) {
		iot__http_error(r, 415, "Unsupported Media Type", "Content-Type must be application/json");
		return NULL;
	}
	json_error_t jerr;
	json_t *b = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &jerr);
	if (!b) {
		iot__http_error(r, 400, "Invalid JSON", "The body is not valid JSON (line %d, column %d)",
		                jerr.line, jerr.column);
		return NULL;
	}
	if (!json_is_object(b) || json_object_size(b) == 0) {
		json_decref(b);
		iot__http_error(r, 400, "Request body required with start_time and stop_time",
		                "The body must be a JSON object with start_time and stop_time");
		return NULL;
	}
	return b;
}

void iot__http_telemetry_delete(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	struct target t;
	iot_delete_req q = { .device_id = r->id };
	iot_error err = { 0 };
	json_t *b = NULL;
	if (iot__http_read_open(r, s, &t) < 0 || !(b = delete_body(r)) || delete_req(r, b, &q) < 0)
		goto out;
	long long n = iot_query_delete(s->db, &q, &err);
	if (n < 0) {
		iot__http_read_failed(r, &err, "The telemetry could not be deleted");
		goto out;
	}
	if (n > 0)
		iot__http_cache_bump(s, r->id);
	char msg[480];
	snprintf(msg, sizeof msg, "Telemetry data deleted for device %s", t.name);
	json_t *body = json_pack("{s:s,s:I,s:s,s:O,s:O,s:I}", "message", msg, "device_id", (json_int_t)r->id,
	                         "device_name", t.name, "start_time", json_object_get(b, "start_time"),
	                         "stop_time", json_object_get(b, "stop_time"), "deleted", (json_int_t)n);
	if (q.measurement)
		json_object_set_new(body, "measurement", json_string(q.measurement));
	iot__http_reply(r, 200, body);
out:
	json_decref(b);
	iot__http_slot_put(s);
}

/* ---- GET /api/v1/telemetry/status ---- */

/* No credentials needed (monitoring probes call it bare, as they did the
 * Flask route): then it says only whether PostgreSQL answers. The device
 * count, which tells the size of a fleet, is given to a person's token
 * (their devices) or an admin's (all); a device key sees none either. */
void iot__http_telemetry_status(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	struct http_caller c = { 0 };
	bool person = false;
	if (iot__http_get_header(r, MHD_HTTP_HEADER_AUTHORIZATION) && !iot__http_get_header(r, "X-API-Key")) {
		if (iot__http_auth_person(r, s, false, &c.user) < 0)
			goto out;
		person = true;
	}
	char uid[24];
	snprintf(uid, sizeof uid, "%" PRId64, c.user.id);
	const char *params[] = { person && !c.user.is_admin ? uid : NULL };
	iot_error err = { 0 };
	PGresult *res = iot_db_exec(s->db, "SELECT count(*) FROM devices WHERE $1::bigint IS NULL OR user_id = $1",
	                            1, params, &err);
	json_t *body = json_pack("{s:b,s:s,s:s}", "postgres_available", res != NULL, "backend", "PostgreSQL",
	                         "status", res ? "healthy" : "unavailable");
	if (res && person)
		json_object_set_new(body, "total_devices", json_integer(strtoll(PQgetvalue(res, 0, 0), NULL, 10)));
	PQclear(res);
	if (!res && err.status == IOT_UNAVAILABLE) {
		atomic_fetch_add(&r->h->m.unavailable, 1);
		iot__http_retry_after(r, 5);
	}
	iot__http_reply(r, res ? 200 : 503, body);
out:
	iot__http_slot_put(s);
}

/* ---- GET /api/v1/telemetry/user/{id} ---- */

/* The caller may read user r->id's telemetry: that user's token, an
 * admin's, or the key of one of that user's devices (as in Flask). */
static int user_access(struct http_req *r, struct http_slot *s)
{
	struct http_caller c;
	if (iot__http_caller(r, s, &c) < 0)
		return -1;
	int64_t self = c.device ? c.dev.user_id : c.user.id;
	if (self != r->id && (c.device || !c.user.is_admin)) {
		iot__http_error(r, 403, "Forbidden: user mismatch", "This credential reads its own user's telemetry only");
		return -1;
	}
	if (self == r->id)
		return 0;
	char id[24];
	snprintf(id, sizeof id, "%" PRId64, r->id);
	const char *params[] = { id };
	iot_error err = { 0 };
	PGresult *res = iot_db_exec(s->db, "SELECT 1 FROM users WHERE id = $1", 1, params, &err);
	if (!res) {
		iot__http_read_failed(r, &err, "The user could not be looked up");
		return -1;
	}
	bool found = PQntuples(res) == 1;
	PQclear(res);
	if (!found) {
		iot__http_error(r, 404, "User not found", "No user %" PRId64, r->id);
		return -1;
	}
	return 0;
}

void iot__http_telemetry_user(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	iot_user_req q = { .user_id = r->id };
	json_t *items = NULL;
	long long total = 0;
	iot_error err = { 0 };
	if (user_access(r, s) < 0 || iot__http_read_range_args(r, "end_time", "-24h", &q.start_us, &q.end_us) < 0 ||
	    limit_arg(r, IOT_QUERY_USER_LIMIT_DEFAULT, IOT_QUERY_USER_LIMIT_MAX, &q.limit) < 0)
		goto out;
	if (!(items = json_array()) || iot_query_user(s->db, &q, iot_query_collect, items, &total, &err) < 0) {
		iot__http_read_failed(r, &err, "The telemetry could not be read");
		goto out;
	}
	reply_telemetry(r, json_pack("{s:s,s:I,s:I,s:I,s:i}", "status", "success", "user_id", (json_int_t)r->id,
	                             "count", (json_int_t)json_array_size(items), "total_count", (json_int_t)total,
	                             "limit", (int)q.limit), "-24h", items);
	items = NULL;
out:
	json_decref(items);
	iot__http_slot_put(s);
}
