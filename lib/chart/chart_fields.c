/* chart_fields.c — the fields of a chart checked and normalised before
 * anything is written (chart.h says the rules), the appearance object and
 * the dashboard's camelCase form. */
#include "chart/chart_int.h"
#include "base/field_check.h"
#include "base/json_util.h"
#include "query/query.h"
#include "telemetry/record.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static const char *const chart_types[] = { "line", "bar", "area", "scatter", "gauge", "table", NULL };
/* avg is the dashboard's word for mean: kept as sent, read as mean. */
static const char *const aggregations[] = { "none", "mean", "avg", "sum", "count", "min", "max", "first",
	"last", NULL };
static const char *const point_styles[] = { "circle", "cross", "crossRot", "dash", "line", "rect",
	"rectRounded", "rectRot", "star", "triangle", "none", NULL };

static bool in_list(const char *const *list, const char *s)
{
	for (size_t i = 0; list[i]; i++)
		if (!strcmp(list[i], s))
			return true;
	return false;
}

const char *iot__chart_aggregation(const char *s)
{
	for (size_t i = 0; aggregations[i]; i++)
		if (!strcmp(aggregations[i], s))
			return aggregations[i];
	return NULL;
}

int iot_chart_color_parse(const char *what, const char *s, char out[8], iot_error *err)
{
	size_t n = strlen(s);
	bool ok = (n == 7 || n == 4) && s[0] == '#';
	for (size_t i = 1; ok && i < n; i++)
		ok = isxdigit((unsigned char)s[i]);
	if (!ok)
		return iot_error_set(err, IOT_USAGE, "%s: expected a colour #RRGGBB (or #RGB), not '%.16s'",
		                     what, s);
	out[0] = '#';
	for (size_t i = 0; i < 6; i++)
		out[1 + i] = (char)tolower((unsigned char)s[n == 7 ? 1 + i : 1 + i / 2]);
	out[7] = '\0';
	return 0;
}

int iot__chart_duration(const char *what, const char *s, int64_t min_us, int64_t *us, iot_error *err)
{
	if (iot_query_parse_window(what, s, us, err) < 0)
		return -1;
	if (*us < min_us)
		return iot_error_set(err, IOT_USAGE, "%s: at least %lld seconds", what,
		                     (long long)(min_us / 1000000));
	return 0;
}

int iot_chart_fields_check(const iot_chart_fields *f, bool adding, iot_error *err)
{
	int64_t us;
	if (adding && !f->name)
		return iot_error_set(err, IOT_USAGE, "name: missing");
	if ((f->name && iot_field_check("name", f->name, 1, 100, false, err) < 0) ||
	    (f->title && iot_field_check("title", f->title, 0, 200, false, err) < 0) ||
	    (f->description && iot_field_check("description", f->description, 0, 1000, true, err) < 0))
		return -1;
	if (f->type && !in_list(chart_types, f->type))
		return iot_error_set(err, IOT_USAGE, "type: expected line, bar, area, scatter, gauge or table,"
		                     " not '%.32s'", f->type);
	if (f->time_range && strcmp(f->time_range, IOT_CHART_CUSTOM_RANGE) &&
	    iot__chart_duration("time_range", f->time_range, INT64_C(60000000), &us, err) < 0)
		return -1;
	if (f->refresh > 86400)
		return iot_error_set(err, IOT_USAGE, "refresh_interval: 0 to 86400 seconds");
	if (f->aggregation && !iot__chart_aggregation(f->aggregation))
		return iot_error_set(err, IOT_USAGE, "aggregation: expected none, mean (avg), sum, count, min,"
		                     " max, first or last, not '%.32s'", f->aggregation);
	if (f->group_by && *f->group_by && strcmp(f->group_by, "device") &&
	    iot__chart_duration("group_by (device, or a bucket width)", f->group_by, 1000000, &us, err) < 0)
		return -1;
	json_t *tmp;
	if (f->appearance) {
		if (!(tmp = iot__chart_appearance(f->appearance, err)))
			return -1;
		json_decref(tmp);
	}
	if (f->devices) {
		if (!(tmp = iot__chart_devices(f->devices, err)))
			return -1;
		json_decref(tmp);
	}
	if (f->measurements) {
		if (!(tmp = iot__chart_measurements(f->measurements, err)))
			return -1;
		json_decref(tmp);
	}
	return 0;
}

/* ---- appearance ---- */

enum kind { K_BOOL, K_NUMBER, K_COLOR, K_COLORS, K_STYLE };
static const struct member {
	const char *name;
	enum kind kind;
	double lo, hi;
} members[] = {
	{ "showLegend", K_BOOL, 0, 0 },     { "showGrid", K_BOOL, 0, 0 },
	{ "animations", K_BOOL, 0, 0 },     { "fillArea", K_BOOL, 0, 0 },
	{ "lineWidth", K_NUMBER, 0, 20 },   { "aspectRatio", K_NUMBER, 0.1, 10 },
	{ "yAxisMin", K_NUMBER, -1e300, 1e300 }, { "yAxisMax", K_NUMBER, -1e300, 1e300 },
	{ "customColors", K_COLORS, 0, 0 }, { "backgroundColor", K_COLOR, 0, 0 },
	{ "borderColor", K_COLOR, 0, 0 },   { "pointStyle", K_STYLE, 0, 0 },
};
#define NMEMBERS (sizeof members / sizeof members[0])

static json_t *color_value(const char *what, const json_t *v, iot_error *err)
{
	char c[8];
	if (!json_is_string(v)) {
		iot_error_set(err, IOT_USAGE, "%s: expected a colour string", what);
		return NULL;
	}
	return iot_chart_color_parse(what, json_string_value(v), c, err) < 0 ? NULL : json_string(c);
}

static json_t *member_value(const struct member *m, const json_t *v, iot_error *err)
{
	switch (m->kind) {
	case K_BOOL:
		if (json_is_boolean(v))
			return json_incref((json_t *)v);
		iot_error_set(err, IOT_USAGE, "%s: expected true or false", m->name);
		return NULL;
	case K_NUMBER:
		if (json_is_number(v) && json_number_value(v) >= m->lo && json_number_value(v) <= m->hi)
			return json_real(json_number_value(v));
		iot_error_set(err, IOT_USAGE, "%s: expected a number from %g to %g", m->name, m->lo, m->hi);
		return NULL;
	case K_COLOR:
		return color_value(m->name, v, err);
	case K_STYLE:
		if (json_is_string(v) && in_list(point_styles, json_string_value(v)))
			return json_incref((json_t *)v);
		iot_error_set(err, IOT_USAGE, "pointStyle: expected circle, cross, crossRot, dash, line, rect,"
		              " rectRounded, rectRot, star, triangle or none");
		return NULL;
	case K_COLORS:
		break;
	}
	if (!json_is_array(v) || json_array_size(v) > 64) {
		iot_error_set(err, IOT_USAGE, "customColors: expected an array of up to 64 colours");
		return NULL;
	}
	json_t *arr = json_array(), *e, *c;
	size_t i;
	json_array_foreach(v, i, e) {
		if (!(c = color_value("customColors", e, err))) {
			json_decref(arr);
			return NULL;
		}
		json_array_append_new(arr, c);
	}
	return arr;
}

json_t *iot__chart_appearance(const json_t *a, iot_error *err)
{
	if (!json_is_object(a)) {
		iot_error_set(err, IOT_USAGE, "appearance: expected a JSON object");
		return NULL;
	}
	json_t *out = json_object(), *v, *nv;
	const char *key;
	json_object_foreach((json_t *)a, key, v) {
		size_t i;
		for (i = 0; i < NMEMBERS && strcmp(members[i].name, key); i++)
			;
		if (i == NMEMBERS) {
			iot_error_set(err, IOT_USAGE, "appearance: unknown member '%.64s' (known: showLegend,"
			              " showGrid, animations, fillArea, lineWidth, aspectRatio, yAxisMin, yAxisMax,"
			              " customColors, backgroundColor, borderColor, pointStyle)", key);
			goto fail;
		}
		if (json_is_null(v))
			nv = json_null();
		else if (!(nv = member_value(&members[i], v, err)))
			goto fail;
		json_object_set_new(out, key, nv);
	}
	json_t *lo = json_object_get(out, "yAxisMin"), *hi = json_object_get(out, "yAxisMax");
	if (json_is_number(lo) && json_is_number(hi) && json_number_value(lo) >= json_number_value(hi)) {
		iot_error_set(err, IOT_USAGE, "yAxisMin: must be below yAxisMax");
		goto fail;
	}
	return out;
fail:
	json_decref(out);
	return NULL;
}

/* ---- devices and measurements ---- */

json_t *iot__chart_devices(const json_t *devices, iot_error *err)
{
	if (!json_is_array(devices) || json_array_size(devices) > IOT_CHART_DEVICES_MAX) {
		iot_error_set(err, IOT_USAGE, "devices: expected an array of up to %d device ids",
		              IOT_CHART_DEVICES_MAX);
		return NULL;
	}
	json_t *out = json_array(), *e;
	size_t i, j;
	json_array_foreach(devices, i, e) {
		long long idv = 0;
		if (json_is_integer(e))
			idv = json_integer_value(e) > 0 && json_integer_value(e) < (INT64_C(1) << 31)
			      ? json_integer_value(e) : 0;
		else if (json_is_string(e))
			idv = iot_parse_id(json_string_value(e));
		if (idv <= 0) {
			json_decref(out);
			iot_error_set(err, IOT_USAGE, "devices: element %zu is not a device id", i + 1);
			return NULL;
		}
		for (j = 0; j < json_array_size(out) && json_integer_value(json_array_get(out, j)) != idv; j++)
			;
		if (j == json_array_size(out))
			json_array_append_new(out, json_integer(idv));
	}
	return out;
}

/* One measurement: a name, or an object; its text members checked. */
static json_t *measurement(const json_t *e, size_t i, iot_error *err)
{
	char what[64];
	const char *name = json_is_string(e) ? json_string_value(e) : iot_json_str(e, "name");
	snprintf(what, sizeof what, "measurements[%zu].name", i + 1);
	if (!name) {
		iot_error_set(err, IOT_USAGE, "%s: expected a measurement name", what);
		return NULL;
	}
	if (iot_field_check(what, name, 1, 64, false, err) < 0)
		return NULL;
	/* A name no point can have would only break the chart's data later. */
	if (!iot_measurement_name_valid(name, strlen(name))) {
		iot_error_set(err, IOT_USAGE, "%s: invalid measurement name (1 to 64 of A-Z a-z 0-9 _ . : / -, "
		              "starting with a letter, a digit or _)", what);
		return NULL;
	}
	json_t *m = json_pack("{s:s}", "name", name);
	if (json_is_string(e))
		return m;
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)e, key, v) {
		const char *k = !strcmp(key, "displayName") ? "display_name" : key;
		size_t max = !strcmp(k, "display_name") ? 100 : !strcmp(k, "unit") ? 16 : 7;
		snprintf(what, sizeof what, "measurements[%zu].%s", i + 1, k);
		if (!strcmp(k, "name") || json_is_null(v))
			continue;
		if (strcmp(k, "display_name") && strcmp(k, "unit") && strcmp(k, "color")) {
			iot_error_set(err, IOT_USAGE, "%s: unknown member (name, display_name, color, unit)", what);
			goto fail;
		}
		if (!json_is_string(v)) {
			iot_error_set(err, IOT_USAGE, "%s: expected a string", what);
			goto fail;
		}
		char c[8];
		if (!strcmp(k, "color") && !*json_string_value(v)) {
			json_object_set(m, k, v);          /* "": no colour of its own */
		} else if (!strcmp(k, "color")) {
			if (iot_chart_color_parse(what, json_string_value(v), c, err) < 0)
				goto fail;
			json_object_set_new(m, k, json_string(c));
		} else {
			if (iot_field_check(what, json_string_value(v), 0, max, false, err) < 0)
				goto fail;
			json_object_set(m, k, v);
		}
	}
	return m;
fail:
	json_decref(m);
	return NULL;
}

json_t *iot__chart_measurements(const json_t *measurements, iot_error *err)
{
	if (!json_is_array(measurements) || json_array_size(measurements) > IOT_CHART_MEASUREMENTS_MAX) {
		iot_error_set(err, IOT_USAGE, "measurements: expected an array of up to %d names",
		              IOT_CHART_MEASUREMENTS_MAX);
		return NULL;
	}
	json_t *out = json_array(), *e, *m;
	size_t i, j;
	json_array_foreach(measurements, i, e) {
		if (!(m = measurement(e, i, err))) {
			json_decref(out);
			return NULL;
		}
		const char *name = iot_json_str(m, "name");
		for (j = 0; j < json_array_size(out); j++)
			if (!strcmp(iot_json_str(json_array_get(out, j), "name"), name))
				break;
		if (j < json_array_size(out)) {
			json_decref(m);
			json_decref(out);
			iot_error_set(err, IOT_USAGE, "measurements: '%.64s' twice", name);
			return NULL;
		}
		json_array_append_new(out, m);
	}
	return out;
}

/* ---- the dashboard's form ---- */

json_t *iot_chart_dashboard(const json_t *chart)
{
	json_t *o = json_deep_copy(chart);
	if (!o)
		return NULL;
	json_object_set(o, "timeRange", json_object_get(chart, "time_range"));
	json_object_set(o, "refreshInterval", json_object_get(chart, "refresh_interval"));
	json_object_set(o, "groupBy", json_object_get(chart, "group_by"));
	json_object_set(o, "createdAt", json_object_get(chart, "created_at"));
	json_object_set(o, "updatedAt", json_object_get(chart, "updated_at"));
	json_t *a = json_object_get(chart, "appearance_config");
	for (size_t i = 0; i < NMEMBERS; i++) {
		json_t *v = json_object_get(a, members[i].name);
		if (v)
			json_object_set(o, members[i].name, v);
	}
	return o;
}

json_t *iot_chart_appearance_members(const json_t *body)
{
	json_t *a = NULL;
	for (size_t i = 0; i < NMEMBERS; i++) {
		json_t *v = json_object_get(body, members[i].name);
		if (!v)
			continue;
		if (!a)
			a = json_object();
		json_object_set(a, members[i].name, v);
	}
	return a;
}

bool iot_chart_is_appearance_member(const char *key)
{
	for (size_t i = 0; i < NMEMBERS; i++)
		if (!strcmp(members[i].name, key))
			return true;
	return false;
}
