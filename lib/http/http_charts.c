/* http_charts.c — the IoTFlow dashboard's chart routes over lib/chart, so
 * that they and iot-chart give the same answer:
 *
 *   GET    /api/v1/charts                  the caller's charts
 *   POST   /api/v1/charts                  a new chart (201)
 *   GET    /api/v1/charts/{id}             one
 *   PUT    /api/v1/charts/{id}             change one (members not sent stay)
 *   DELETE /api/v1/charts/{id}
 *   POST   /api/v1/charts/{id}/duplicate   a copy, "NAME (copy)" (201)
 *   GET    /api/v1/charts/{id}/data        its series (?start_time, end_time)
 *   GET    /api/v1/charts/{id}/render.svg  drawn (?start_time, end_time,
 *                                          width, height, tz)
 *
 * Who: a person's Bearer token (or "admin TOKEN"); a chart is its owner's
 * alone — another user's chart is 404 like a missing one, and that holds
 * for admins too (charts are personal dashboards; iot-chart is the
 * operator's tool for everyone's). A device key is not a person: 401.
 *
 * Shape: {"success":true,"data":CHART} with CHART the chart object of
 * chart.h plus the dashboard's camelCase members (iot_chart_dashboard);
 * lists {"success":true,"data":[CHART...]}. Bodies are the dashboard's:
 * name, title, description, type, devices[] (ids), measurements[] (names
 * or {name, display_name, color, unit}), timeRange, refreshInterval,
 * aggregation, groupBy (the snake_case forms too), and the appearance
 * members at the top level or in appearance_config; the members the
 * server owns (id, user_id, owner, created_at, ...) are ignored, anything
 * else is 400. Errors: {"error","message"} with 400 (bad field: the
 * message names it and the rule), 401, 404, 409 (a name the user already
 * uses), 503 with Retry-After. */
#include "http/http_dev.h"
#include "chart/chart.h"
#include "query/query.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 0 and the caller, or -1 with the answer given (401, 403, 503). */
static int person(struct http_req *r, struct http_slot *s, iot_user_ref *u)
{
	return iot__http_auth_person(r, s, false, u);
}

static void failed(struct http_req *r, const iot_error *err, const char *what)
{
	if (err->status == IOT_NOT_FOUND)
		iot__http_error(r, 404, "Chart not found", "No chart with ID %" PRId64 " (%s)", r->id, err->msg);
	else if (err->status == IOT_REJECTED)
		iot__http_error(r, 409, "Conflict", "%s", err->msg);
	else
		iot__http_failed(r, err, what);
}

static void reply_chart(struct http_req *r, int status, const json_t *chart)
{
	json_t *d = iot_chart_dashboard(chart);
	if (!d) {
		iot__http_error(r, 500, "Internal Server Error", "Out of memory");
		return;
	}
	iot__http_reply(r, status, json_pack("{s:b,s:o}", "success", 1, "data", d));
}

/* ---- the body ---- */

static const char *const server_members[] = { "id", "user_id", "owner", "created_at", "updated_at",
	"createdAt", "updatedAt", "is_active", "measurement_details", NULL };

static bool listed(const char *const *list, const char *key)
{
	for (size_t i = 0; list[i]; i++)
		if (!strcmp(list[i], key))
			return true;
	return false;
}

/* camelCase or snake_case; both at once must agree: the camelCase wins. */
static const json_t *member(const json_t *body, const char *camel, const char *snake)
{
	const json_t *v = json_object_get(body, camel);
	return v ? v : snake ? json_object_get(body, snake) : NULL;
}

static int text(struct http_req *r, const json_t *body, const char *camel, const char *snake,
                const char **out)
{
	const json_t *v = member(body, camel, snake);
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
		iot__http_error(r, 400, "Invalid request", "%s: expected a string", camel);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

/* The fields of a body; *appearance (to be freed) holds the appearance
 * members. 0, or -1 with the 400 given. */
static int fields_of(struct http_req *r, const json_t *body, iot_chart_fields *f, json_t **appearance)
{
	static const char *const known[] = { "name", "title", "description", "type", "devices", "measurements",
		"timeRange", "time_range", "refreshInterval", "refresh_interval", "aggregation", "groupBy",
		"group_by", "appearance_config", NULL };
	const char *key;
	json_t *v;
	memset(f, 0, sizeof *f);
	f->refresh = -1;
	*appearance = NULL;
	json_object_foreach((json_t *)body, key, v) {
		if (!listed(known, key) && !listed(server_members, key) && !iot_chart_is_appearance_member(key)) {
			iot__http_error(r, 400, "Invalid request", "unknown member '%.64s'", key);
			return -1;
		}
	}
	if (text(r, body, "name", NULL, &f->name) < 0 || text(r, body, "title", NULL, &f->title) < 0 ||
	    text(r, body, "description", NULL, &f->description) < 0 || text(r, body, "type", NULL, &f->type) < 0 ||
	    text(r, body, "timeRange", "time_range", &f->time_range) < 0 ||
	    text(r, body, "aggregation", NULL, &f->aggregation) < 0 ||
	    text(r, body, "groupBy", "group_by", &f->group_by) < 0)
		return -1;
	const json_t *ri = member(body, "refreshInterval", "refresh_interval");
	if (ri && !json_is_null(ri)) {
		if (!json_is_integer(ri) || json_integer_value(ri) < 0 || json_integer_value(ri) > 86400) {
			iot__http_error(r, 400, "Invalid request", "refreshInterval: expected an integer from 0 to 86400");
			return -1;
		}
		f->refresh = (long)json_integer_value(ri);
	}
	const json_t *dev = json_object_get(body, "devices"), *ms = json_object_get(body, "measurements");
	f->devices = json_is_null(dev) ? NULL : dev;
	f->measurements = json_is_null(ms) ? NULL : ms;
	/* appearance_config, then the top-level members over it. */
	const json_t *ac = json_object_get(body, "appearance_config");
	json_t *top = iot_chart_appearance_members(body);
	if (ac && !json_is_null(ac)) {
		if (!json_is_object(ac)) {
			json_decref(top);
			iot__http_error(r, 400, "Invalid request", "appearance_config: expected a JSON object");
			return -1;
		}
		*appearance = json_deep_copy(ac);
		if (top)
			json_object_update(*appearance, top);
		json_decref(top);
	} else {
		*appearance = top;
	}
	f->appearance = *appearance;
	iot_error err = { 0 };
	if (iot_chart_fields_check(f, r->method == HM_POST, &err) < 0) {
		iot__http_error(r, 400, "Invalid request", "%s", err.msg);
		return -1;
	}
	return 0;
}

/* ---- routes ---- */

void iot__http_charts_list(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	iot_user_ref u;
	iot_error err = { 0 };
	json_t *list = NULL;
	if (person(r, s, &u) < 0)
		goto out;
	iot_registry reg = iot__http_registry(r, s);
	if (iot_chart_list(&reg, u.id, &list, &err) < 0) {
		failed(r, &err, "Listing the charts");
		goto out;
	}
	json_t *data = json_array(), *c;
	size_t i;
	json_array_foreach(list, i, c)
		json_array_append_new(data, iot_chart_dashboard(c));
	iot__http_reply(r, 200, json_pack("{s:b,s:o}", "success", 1, "data", data));
out:
	json_decref(list);
	iot__http_slot_put(s);
}

/* POST (create) and PUT (update). */
static void write_chart(struct http_req *r, bool create)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	iot_user_ref u;
	iot_chart_fields f;
	iot_error err = { 0 };
	json_t *body = NULL, *appearance = NULL, *chart = NULL;
	if (person(r, s, &u) < 0 || !(body = iot__http_body_object(r)) || fields_of(r, body, &f, &appearance) < 0)
		goto out;
	iot_registry reg = iot__http_registry(r, s);
	int rc = create ? iot_chart_add(&reg, u.id, &f, &chart, &err)
	                : iot_chart_update(&reg, r->id, u.id, &f, &chart, &err);
	if (rc < 0)
		failed(r, &err, create ? "Creating the chart" : "Updating the chart");
	else
		reply_chart(r, create ? 201 : 200, chart);
out:
	json_decref(chart);
	json_decref(appearance);
	json_decref(body);
	iot__http_slot_put(s);
}

void iot__http_charts_create(struct http_req *r)
{
	write_chart(r, true);
}

void iot__http_chart_update(struct http_req *r)
{
	write_chart(r, false);
}

/* GET, DELETE and duplicate: one lib/chart call on the path's chart, for the caller. */
typedef int (*chart_call)(iot_registry *reg, int64_t chart_id, int64_t owner, json_t **out, iot_error *err);

static void one_chart(struct http_req *r, chart_call fn, const char *what, int status, bool removed)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	iot_user_ref u;
	iot_error err = { 0 };
	json_t *out = NULL;
	if (person(r, s, &u) < 0)
		goto done;
	iot_registry reg = iot__http_registry(r, s);
	if (fn(&reg, r->id, u.id, &out, &err) < 0)
		failed(r, &err, what);
	else if (removed)
		iot__http_reply(r, status, json_pack("{s:b,s:s,s:O}", "success", 1, "message",
		                                     "Chart deleted successfully", "data", out));
	else
		reply_chart(r, status, out);
done:
	json_decref(out);
	iot__http_slot_put(s);
}

static int duplicate(iot_registry *reg, int64_t chart_id, int64_t owner, json_t **out, iot_error *err)
{
	return iot_chart_duplicate(reg, chart_id, owner, NULL, out, err);
}

void iot__http_chart_get(struct http_req *r)
{
	one_chart(r, iot_chart_get, "Reading the chart", 200, false);
}

void iot__http_chart_delete(struct http_req *r)
{
	one_chart(r, iot_chart_remove, "Deleting the chart", 200, true);
}

void iot__http_chart_duplicate(struct http_req *r)
{
	one_chart(r, duplicate, "Duplicating the chart", 201, false);
}

/* The chart and its series for data and render: 0, or -1 answered. */
static int read_data(struct http_req *r, struct http_slot *s, json_t **chart, iot_chart_data *d)
{
	iot_user_ref u;
	iot_error err = { 0 };
	if (person(r, s, &u) < 0)
		return -1;
	iot_registry reg = iot__http_registry(r, s);
	if (iot_chart_get(&reg, r->id, u.id, chart, &err) < 0) {
		failed(r, &err, "Reading the chart");
		return -1;
	}
	iot_chart_range rng = { .since = iot_http_arg(&r->args, "start_time"),
		.until = iot_http_arg(&r->args, "end_time"), .since_name = "start_time", .until_name = "end_time" };
	if (iot_chart_data_read(s->db, *chart, &rng, d, &err) < 0) {
		iot__http_failed(r, &err, "Reading the chart's data");
		return -1;
	}
	return 0;
}

void iot__http_chart_data(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	json_t *chart = NULL;
	iot_chart_data d = { 0 };
	if (read_data(r, s, &chart, &d) < 0)
		goto out;
	json_t *series = json_array();
	for (size_t i = 0; i < d.nseries; i++)
		json_array_append_new(series, iot_chart_series_json(&d, chart, i));
	char from[48], to[48], win[32];
	iot_query_format_ts(d.start_us, from, sizeof from);
	iot_query_format_ts(d.end_us, to, sizeof to);
	snprintf(win, sizeof win, "%" PRId64 "s", d.window_us / 1000000);
	iot__http_reply(r, 200, json_pack("{s:b,s:{s:I,s:s,s:s,s:O,s:o,s:o}}", "success", 1, "data",
		"chart_id", (json_int_t)d.chart_id, "start_time", from, "end_time", to,
		"aggregation", json_object_get(chart, "aggregation"),
		"window", d.aggregated ? json_string(win) : json_null(), "series", series));
out:
	iot_chart_data_free(&d);
	json_decref(chart);
	iot__http_slot_put(s);
}

void iot__http_chart_render(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	json_t *chart = NULL;
	iot_chart_data d = { 0 };
	iot_error err = { 0 };
	long w, h;
	iot_svg_opts o = { 0 };
	if (iot__http_arg_long(r, "width", 0, IOT_CHART_WIDTH_MIN, IOT_CHART_WIDTH_MAX, &w) < 0 ||
	    iot__http_arg_long(r, "height", 0, IOT_CHART_HEIGHT_MIN, IOT_CHART_HEIGHT_MAX, &h) < 0)
		goto out;
	o.width = (int)w;
	o.height = (int)h;
	const char *tz = iot_http_arg(&r->args, "tz");
	if (tz && !strcmp(tz, "local")) {
		/* The server's zone is no business of the reader's. */
		iot__http_error(r, 400, "Invalid parameter", "tz: expected UTC, +HH:MM or -HH:MM");
		goto out;
	}
	if (iot_chart_tz_parse(tz, 0, &o.utc_offset_min, &err) < 0) {
		iot__http_error(r, 400, "Invalid parameter", "%s", err.msg);
		goto out;
	}
	if (read_data(r, s, &chart, &d) < 0)
		goto out;
	size_t len;
	char *svg = iot_chart_svg(chart, &d, &o, &len, &err);
	if (!svg)
		iot__http_failed(r, &err, "Drawing the chart");
	else {
		iot__http_reply_text(r, 200, "image/svg+xml; charset=utf-8", svg, len);
		/* Opened on its own, the drawing may run nothing and load nothing
		 * (its text is escaped anyway: names come from users). */
		if (r->resp)
			MHD_add_response_header(r->resp, "Content-Security-Policy",
			                        "default-src 'none'; style-src 'unsafe-inline'");
	}
out:
	iot_chart_data_free(&d);
	json_decref(chart);
	iot__http_slot_put(s);
}
