/* chart_data.c — a chart's series, read through lib/query (ranges for raw
 * points, aggregates with their windows for buckets): no telemetry SQL of
 * its own, so a chart shows what iot-query and the telemetry routes show. */
#include "chart/chart_int.h"
#include "base/clock.h"
#include "base/json_util.h"
#include "query/query.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SERIES_POINTS_MAX 10000     /* raw points or buckets of one series */
#define DATA_POINTS_MAX   200000    /* of all the series of a chart */
#define AUTO_BUCKETS      150

/* Colours for series without one of their own (colour-blind safe first). */
static const char *const palette[] = { "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
	"#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf" };

/* The bucket width of an aggregated chart over span_us: group_by when it
 * is one, else the first round width giving at most AUTO_BUCKETS buckets. */
static int window_for(const json_t *chart, int64_t span_us, int64_t *out, iot_error *err)
{
	static const int64_t widths_s[] = { 1, 5, 10, 30, 60, 300, 600, 900, 1800, 3600, 7200, 10800,
		21600, 43200, 86400, 2 * 86400, 7 * 86400, 14 * 86400, 30 * 86400 };
	const char *g = iot_json_str(chart, "group_by");
	if (g && *g && strcmp(g, "device"))
		return iot__chart_duration("group_by", g, 1000000, out, err);
	size_t i;
	for (i = 0; i + 1 < sizeof widths_s / sizeof widths_s[0]; i++)
		if (span_us / (widths_s[i] * INT64_C(1000000)) <= AUTO_BUCKETS)
			break;
	*out = widths_s[i] * INT64_C(1000000);
	return 0;
}

static int range_of(const json_t *chart, const iot_chart_range *rng, iot_chart_data *d, iot_error *err)
{
	int64_t now = rng && rng->now_us ? rng->now_us : iot_now_us(), span;
	const char *tr = iot_json_str(chart, "time_range");
	if (!tr || !strcmp(tr, IOT_CHART_CUSTOM_RANGE))
		tr = "24h"; /* custom: the request's range, else the last day */
	if (iot__chart_duration("time_range", tr, 1000000, &span, err) < 0)
		return -1;
	const char *sn = rng && rng->since_name ? rng->since_name : "--since";
	const char *un = rng && rng->until_name ? rng->until_name : "--until";
	if (iot_query_parse_time(un, rng ? rng->until : NULL, now, &d->end_us, err) < 0)
		return -1;
	if (rng && rng->since) {
		if (iot_query_parse_time(sn, rng->since, now, &d->start_us, err) < 0)
			return -1;
	} else {
		d->start_us = d->end_us - span;
	}
	return iot_query_check_range(sn, d->start_us, un, d->end_us, err);
}

/* The chart's devices its owner may still see, by id: rows of (id, name). */
static PGresult *devices_of(iot_db *db, const json_t *chart, iot_error *err)
{
	char idt[24];
	snprintf(idt, sizeof idt, "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(chart, "id")));
	const char *params[1] = { idt };
	return iot_db_exec(db,
		"SELECT d.id, d.name FROM chart_devices cd JOIN devices d ON d.id = cd.device_id"
		" JOIN charts c ON c.id = cd.chart_id JOIN users u ON u.id = c.user_id"
		" WHERE cd.chart_id = $1 AND (u.is_admin OR d.user_id = u.id) ORDER BY d.id", 1, params, err);
}

struct collect {
	iot_chart_series *s;
	size_t cap;
	const char *measurement;
	int which;                  /* aggregates: 0 value, 1 min, 2 max */
	size_t at;
	iot_error *err;
};

static iot_chart_point *next_point(struct collect *c)
{
	if (c->s->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		iot_chart_point *p = realloc(c->s->pts, cap * sizeof *p);
		if (!p)
			return NULL;
		c->s->pts = p;
		c->cap = cap;
	}
	iot_chart_point *p = &c->s->pts[c->s->n++];
	memset(p, 0, sizeof *p);
	return p;
}

static int row_time(const json_t *row, int64_t *t, iot_error *err)
{
	return iot_query_parse_time("timestamp", iot_json_str(row, "timestamp"), 1, t, err);
}

/* A range record: its value when it is a number (charts draw numbers). */
static int raw_row(void *arg, json_t *row)
{
	struct collect *c = arg;
	json_t *v = json_object_get(json_object_get(row, "measurements"), c->measurement);
	int64_t t;
	if (!json_is_number(v))
		return 0;
	if (row_time(row, &t, c->err) < 0)
		return -1;
	iot_chart_point *p = next_point(c);
	if (!p)
		return -1;
	p->t_us = t;
	p->v = p->lo = p->hi = json_number_value(v);
	p->count = 1;
	return 0;
}

/* An aggregate bucket: the first pass adds points, the min/max passes fill them. */
static int bucket_row(void *arg, json_t *row)
{
	struct collect *c = arg;
	json_t *v = json_object_get(row, "value");
	int64_t t;
	if (row_time(row, &t, c->err) < 0)
		return -1;
	iot_chart_point *p;
	if (c->which == 0) {
		if (!(p = next_point(c)))
			return -1;
		p->t_us = t;
		p->null = !json_is_number(v);
		p->v = p->lo = p->hi = json_number_value(v);
		p->count = (long)json_integer_value(json_object_get(row, "count"));
		return 0;
	}
	if (c->at >= c->s->n || c->s->pts[c->at].t_us != t)
		return -1;   /* the buckets of one range are always the same ones */
	p = &c->s->pts[c->at++];
	if (json_is_number(v)) {
		if (c->which == 1)
			p->lo = json_number_value(v);
		else
			p->hi = json_number_value(v);
	}
	return 0;
}

static int read_series(iot_db *db, iot_chart_data *d, iot_chart_series *s, enum iot_agg_fn fn,
                       size_t max, iot_error *err)
{
	struct collect c = { .s = s, .measurement = s->measurement, .err = err };
	if (!d->aggregated) {
		const char *const names[1] = { s->measurement };
		iot_range_req req = { .device_id = s->device_id, .start_us = d->start_us, .end_us = d->end_us,
			.measurements = names, .nmeasurements = 1, .limit = (long)max };
		if (iot_query_range(db, &req, raw_row, &c, err) < 0)
			return -1;
		/* Newest first from the range (the newest `max` of it): oldest first here. */
		for (size_t i = 0; i < s->n / 2; i++) {
			iot_chart_point tmp = s->pts[i];
			s->pts[i] = s->pts[s->n - 1 - i];
			s->pts[s->n - 1 - i] = tmp;
		}
		return 0;
	}
	iot_aggregate_req req = { .device_id = s->device_id, .measurement = s->measurement, .fn = fn,
		.window_us = d->window_us, .start_us = d->start_us, .end_us = d->end_us,
		.fill = IOT_FILL_NULL, .ascending = true, .source = IOT_AGG_AUTO };
	if (iot_query_aggregate(db, &req, bucket_row, &c, err) < 0)
		return -1;
	if (fn == IOT_AGG_COUNT)
		return 0;
	for (c.which = 1; c.which <= 2; c.which++) {
		c.at = 0;
		req.fn = c.which == 1 ? IOT_AGG_MIN : IOT_AGG_MAX;
		if (iot_query_aggregate(db, &req, bucket_row, &c, err) < 0)
			return -1;
	}
	s->band = true;
	return 0;
}

/* Name, colour and unit of series i, device di of ndev, measurement m: the
 * measurement's own colour (on its first device), else customColors[i],
 * else the palette. */
static void describe(iot_chart_series *s, const json_t *chart, const json_t *m, size_t i, size_t di,
                     size_t ndev)
{
	const char *disp = iot_json_str(m, "display_name"), *unit = iot_json_str(m, "unit");
	const char *color = di == 0 ? iot_json_str(m, "color") : NULL;
	snprintf(s->measurement, sizeof s->measurement, "%s", iot_json_str(m, "name"));
	if (disp && ndev > 1)
		snprintf(s->label, sizeof s->label, "%.100s (%.400s)", disp, s->device_name);
	else if (disp)
		snprintf(s->label, sizeof s->label, "%s", disp);
	else
		snprintf(s->label, sizeof s->label, "%.255s %.255s", s->device_name, s->measurement);
	json_t *custom = json_object_get(json_object_get(chart, "appearance_config"), "customColors");
	if (!color)
		color = json_string_value(json_array_get(custom, i));
	snprintf(s->color, sizeof s->color, "%s",
	         color ? color : palette[i % (sizeof palette / sizeof palette[0])]);
	snprintf(s->unit, sizeof s->unit, "%s", unit ? unit : "");
}

int iot_chart_data_read(iot_db *db, const json_t *chart, const iot_chart_range *rng,
                        iot_chart_data *d, iot_error *err)
{
	memset(d, 0, sizeof *d);
	d->chart_id = json_integer_value(json_object_get(chart, "id"));
	if (range_of(chart, rng, d, err) < 0)
		return -1;
	const char *agg = iot_json_str(chart, "aggregation");
	enum iot_agg_fn fn = IOT_AGG_MEAN;
	d->aggregated = agg && strcmp(agg, "none");
	if (d->aggregated) {
		if (iot_query_parse_fn("aggregation", agg, &fn, err) < 0 ||
		    window_for(chart, d->end_us - d->start_us, &d->window_us, err) < 0)
			return -1;
		if ((d->end_us - d->start_us) / d->window_us + 2 > SERIES_POINTS_MAX)
			return iot_error_set(err, IOT_USAGE, "group_by: more than %d buckets over the range;"
			                     " a wider bucket or a shorter range", SERIES_POINTS_MAX);
	}
	PGresult *devs = devices_of(db, chart, err);
	if (!devs)
		return -1;
	const json_t *ms = json_object_get(chart, "measurement_details");
	size_t ndev = (size_t)PQntuples(devs), nm = json_array_size(ms), ns = ndev * nm;
	int rc = 0;
	int64_t buckets = d->aggregated ? (d->end_us - d->start_us) / d->window_us + 2 : 0;
	if (d->aggregated && (int64_t)ns * buckets > DATA_POINTS_MAX)
		rc = iot_error_set(err, IOT_USAGE, "the chart's %zu series of %lld buckets are more than %d"
		                   " points: a wider bucket (group_by), a shorter range or fewer series", ns,
		                   (long long)buckets, DATA_POINTS_MAX);
	if (rc == 0 && ns > 0 && !(d->series = calloc(ns, sizeof *d->series)))
		rc = iot_error_set(err, IOT_INTERNAL, "out of memory");
	size_t max = ns > 0 ? DATA_POINTS_MAX / ns : 0;
	if (max > SERIES_POINTS_MAX)
		max = SERIES_POINTS_MAX;
	for (size_t k = 0; rc == 0 && k < ns; k++) {
		iot_chart_series *s = &d->series[d->nseries++];
		size_t di = k / nm, mi = k % nm;
		s->device_id = strtoll(PQgetvalue(devs, (int)di, 0), NULL, 10);
		snprintf(s->device_name, sizeof s->device_name, "%s", PQgetvalue(devs, (int)di, 1));
		describe(s, chart, json_array_get(ms, mi), k, di, ndev);
		if (read_series(db, d, s, fn, max, err) < 0) {
			if (err->status == IOT_OK)
				iot_error_set(err, IOT_INTERNAL, "reading series %zu failed", k + 1);
			rc = -1;
		}
	}
	PQclear(devs);
	if (rc < 0)
		iot_chart_data_free(d);
	return rc;
}

void iot_chart_data_free(iot_chart_data *d)
{
	for (size_t i = 0; i < d->nseries; i++)
		free(d->series[i].pts);
	free(d->series);
	d->series = NULL;
	d->nseries = 0;
}

static json_t *point_json(const iot_chart_data *d, const iot_chart_point *p, bool band)
{
	char ts[48];
	iot_query_format_ts(p->t_us, ts, sizeof ts);
	json_t *o = json_pack("{s:s,s:o}", "timestamp", ts, "value", p->null ? json_null() : json_real(p->v));
	if (d->aggregated) {
		if (band) {
			json_object_set_new(o, "min", p->null ? json_null() : json_real(p->lo));
			json_object_set_new(o, "max", p->null ? json_null() : json_real(p->hi));
		}
		json_object_set_new(o, "count", json_integer(p->count));
	}
	return o;
}

json_t *iot_chart_series_json(const iot_chart_data *d, const json_t *chart, size_t i)
{
	const iot_chart_series *s = &d->series[i];
	char win[32] = "";
	if (d->aggregated)
		snprintf(win, sizeof win, "%" PRId64 "s", d->window_us / 1000000);
	json_t *pts = json_array();
	for (size_t k = 0; k < s->n; k++)
		json_array_append_new(pts, point_json(d, &s->pts[k], s->band));
	return json_pack("{s:I,s:I,s:s,s:s,s:s,s:s,s:o,s:O,s:o,s:o}", "chart_id", (json_int_t)d->chart_id,
		"device_id", (json_int_t)s->device_id, "device_name", s->device_name, "measurement",
		s->measurement, "label", s->label, "color", s->color,
		"unit", *s->unit ? json_string(s->unit) : json_null(),
		"aggregation", json_object_get(chart, "aggregation"),
		"window", *win ? json_string(win) : json_null(), "points", pts);
}
