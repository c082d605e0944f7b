/* chart.h — chart definitions (charts, chart_devices, chart_measurements),
 * their series read through lib/query, and their drawing as SVG: what
 * iot-chart and the /api/v1/charts routes share, so both give the same
 * answer.
 *
 * WHOSE CHARTS. A chart belongs to one user (charts.user_id). Calls that
 * take a chart id also take `owner`: 0 means any chart (the shell, which
 * holds the database's credentials anyway), a user id means that user's
 * charts only — another user's chart is IOT_NOT_FOUND like a missing one,
 * so ids tell nothing. A chart's devices must be its owner's (an admin's
 * chart may hold any device); this is checked when a device is added and
 * again when data is read (a device given away since is left out).
 *
 * THE CHART OBJECT (built by PostgreSQL, one definition for every caller):
 *   {"id":N, "name", "title", "description", "type", "user_id":N,
 *    "owner":USERNAME, "devices":[DEVICE_ID...], "measurements":[NAME...],
 *    "measurement_details":[{"name","display_name","color","unit"}...],
 *    "time_range", "refresh_interval":N, "aggregation", "group_by",
 *    "appearance_config":{...}, "created_at", "updated_at"}
 * (the row shape the IoTFlow dashboard's backend returned: snake_case,
 * appearance in appearance_config; devices are integers, measurements in
 * the order they were added). iot_chart_dashboard() adds the camelCase
 * members the dashboard sends (timeRange, refreshInterval, groupBy and the
 * appearance members at the top level), so what a client GETs it can PUT.
 *
 * FIELDS (checked before anything is written; IOT_USAGE naming the field):
 *   name 1..100 characters (unique per owner), title ..200, description
 *   ..1000; type line|bar|area|scatter|gauge|table; time_range a duration
 *   N(s|m|h|d|w) from 1m to 366d (the data's default range: the last
 *   time_range) or "custom" (the dashboard's: the range comes with each
 *   request, else the last 24h); refresh_interval 0..86400 seconds;
 *   aggregation none|mean|avg|sum|count|min|max|first|last (avg, the
 *   dashboard's word, is kept as given and read as mean);
 *   group_by "device" (one series per device and measurement) or a bucket
 *   width N(s|m|h|d|w) for aggregated charts (default: chosen from the
 *   range, about 150 buckets). Appearance members (all optional, null
 *   removes one): showLegend, showGrid, animations, fillArea (booleans),
 *   lineWidth 0..20, aspectRatio 0.1..10, yAxisMin, yAxisMax (numbers),
 *   customColors (up to 64 colours), backgroundColor, borderColor
 *   (colours), pointStyle (circle, cross, crossRot, dash, line, rect,
 *   rectRounded, rectRot, star, triangle, none); anything else is refused.
 *   A colour is #RRGGBB (also #RGB, stored as #RRGGBB). Measurement names
 *   are 1..64 characters, display names ..100, units ..16.
 * Limits: 50 devices and 20 measurements a chart, 1000 charts a user. */
#ifndef IOT_CHART_H
#define IOT_CHART_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "registry/registry.h"

#define IOT_CHART_CUSTOM_RANGE     "custom"
#define IOT_CHART_DEVICES_MAX      50
#define IOT_CHART_MEASUREMENTS_MAX 20
#define IOT_CHART_PER_USER_MAX     1000

/* NULL (or refresh < 0) = not given: add takes the default, update leaves
 * it. On update an empty title, description or group_by removes it. */
typedef struct iot_chart_fields {
	const char *name, *title, *description, *type, *time_range, *aggregation, *group_by;
	long refresh;                  /* -1: not given */
	const json_t *appearance;      /* members to set (null: remove); NULL: none */
	bool appearance_replace;       /* update: appearance replaces the whole object */
	const json_t *devices;         /* array of device ids: replaces the list; NULL: kept */
	const json_t *measurements;    /* array of names or {"name","display_name","color","unit"}
	                                * (also "displayName"): replaces the list; NULL: kept */
} iot_chart_fields;

/* Check every given field (and that add has a name). 0 or -1 with IOT_USAGE. */
int iot_chart_fields_check(const iot_chart_fields *f, bool adding, iot_error *err);
/* "#RRGGBB" or "#RGB" -> "#rrggbb" in out (8 bytes). 0 or -1 (IOT_USAGE naming what). */
int iot_chart_color_parse(const char *what, const char *s, char out[8], iot_error *err);

/* A user's id by username: IOT_NOT_FOUND "unknown user 'x'". */
int iot_chart_user_id(iot_registry *id, const char *username, int64_t *out, iot_error *err);
/* CHART as the shell names one: an id (digits), OWNER/NAME, or a NAME
 * exactly one chart has (several: IOT_USAGE listing them as OWNER/NAME). */
int iot_chart_resolve(iot_registry *id, const char *spec, int64_t *out, iot_error *err);

/* Add a chart for user owner_id (> 0). out: the chart object. A name the
 * owner already uses: IOT_REJECTED. */
int iot_chart_add(iot_registry *id, int64_t owner_id, const iot_chart_fields *f, json_t **out,
                  iot_error *err);
/* The charts of owner (0: everyone's), by owner and name; an array. */
int iot_chart_list(iot_registry *id, int64_t owner, json_t **out, iot_error *err);
int iot_chart_get(iot_registry *id, int64_t chart_id, int64_t owner, json_t **out, iot_error *err);
int iot_chart_update(iot_registry *id, int64_t chart_id, int64_t owner, const iot_chart_fields *f,
                     json_t **out, iot_error *err);
/* out: {"id", "name", "owner", "removed":true}. */
int iot_chart_remove(iot_registry *id, int64_t chart_id, int64_t owner, json_t **out, iot_error *err);
/* A copy, for the same owner, named new_name or (NULL) "NAME (copy)",
 * "NAME (copy 2)", ...: devices, measurements and appearance included. */
int iot_chart_duplicate(iot_registry *id, int64_t chart_id, int64_t owner, const char *new_name,
                        json_t **out, iot_error *err);

/* Devices more (those already there: no change), all or none, or one
 * less (not there: IOT_NOT_FOUND). Specs as iot_device_resolve reads
 * them. out: the chart. */
int iot_chart_device_add(iot_registry *id, int64_t chart_id, const char *const *device_specs, size_t n,
                         json_t **out, iot_error *err);
int iot_chart_device_remove(iot_registry *id, int64_t chart_id, const char *device_spec,
                            json_t **out, iot_error *err);
/* Add a measurement, or change the display name, colour or unit of one
 * already there (NULL: unchanged, "": removed). out: the chart. */
int iot_chart_measurement_add(iot_registry *id, int64_t chart_id, const char *name,
                              const char *display_name, const char *color, const char *unit,
                              json_t **out, iot_error *err);
int iot_chart_measurement_remove(iot_registry *id, int64_t chart_id, const char *name,
                                 json_t **out, iot_error *err);

/* The chart object with the dashboard's camelCase members added (a new
 * reference). */
json_t *iot_chart_dashboard(const json_t *chart);
/* The appearance members found at the top level of a dashboard body, as a
 * new object (NULL: none there); whether key is one of them. */
json_t *iot_chart_appearance_members(const json_t *body);
bool iot_chart_is_appearance_member(const char *key);

/* ---- Series (chart_data.c) ---------------------------------------------- */

typedef struct iot_chart_point {
	int64_t t_us;
	double v, lo, hi;      /* lo/hi: the bucket's min and max (aggregated) */
	bool null;             /* a bucket without points: a gap */
	long count;            /* points in the bucket (aggregated) */
} iot_chart_point;

typedef struct iot_chart_series {
	int64_t device_id;
	char device_name[404];
	char measurement[260];
	char label[520];       /* display name, or DEVICE measurement */
	char color[8];         /* #rrggbb: the measurement's, customColors[i], or the palette */
	char unit[68];
	iot_chart_point *pts;  /* oldest first */
	size_t n;
	bool band;             /* lo/hi are set */
} iot_chart_series;

typedef struct iot_chart_data {
	int64_t chart_id;
	int64_t start_us, end_us;
	bool aggregated;
	int64_t window_us;     /* aggregated: the bucket width */
	iot_chart_series *series;
	size_t nseries;
} iot_chart_data;

/* The range to read: since/until in iot_query_parse_time's grammar (NULL:
 * the chart's time_range back from now, and now). */
typedef struct iot_chart_range {
	const char *since, *until;
	const char *since_name, *until_name;  /* in messages (NULL: --since, --until) */
	int64_t now_us;        /* 0: the clock */
} iot_chart_range;

/* Read the series of chart (the object of iot_chart_get): one per device
 * and measurement, the chart's own devices that its owner may still see.
 * Raw points (aggregation none: the newest 10000 of the range, numbers
 * only) or buckets of the aggregation with the bucket's min and max (a
 * band) and empty buckets as gaps. Fills *out (free with
 * iot_chart_data_free). */
int iot_chart_data_read(iot_db *db, const json_t *chart, const iot_chart_range *rng,
                        iot_chart_data *out, iot_error *err);
void iot_chart_data_free(iot_chart_data *d);
/* One series as JSON: {"chart_id", "device_id", "device_name",
 * "measurement", "label", "color", "unit", "aggregation", "window",
 * "points":[{"timestamp":T,"value":V}...]} (aggregated: "value" may be
 * null, plus "min", "max", "count"). A new reference. */
json_t *iot_chart_series_json(const iot_chart_data *d, const json_t *chart, size_t i);

/* ---- SVG (svg_render.c) -------------------------------------------------- */

#define IOT_CHART_WIDTH_MIN   200
#define IOT_CHART_WIDTH_MAX   4000
#define IOT_CHART_HEIGHT_MIN  150
#define IOT_CHART_HEIGHT_MAX  3000

typedef struct iot_svg_opts {
	int width, height;     /* 0: 800 x 400 */
	int utc_offset_min;    /* time labels in this fixed offset from UTC */
} iot_svg_opts;

/* A time zone for the labels: "UTC" (or NULL, "Z"), "+HH:MM", "-HH:MM",
 * "+HH", or "local" (the TZ variable's zone, its offset at at_us).
 * 0 and *offset_min, or -1 with IOT_USAGE. */
int iot_chart_tz_parse(const char *s, int64_t at_us, int *offset_min, iot_error *err);

/* Draw chart with its data as a standalone SVG document (malloc'd, NUL
 * terminated; *len its length): time and value axes with ticks, grid,
 * legend, the series in their colours (line, area, bar, scatter), gaps
 * where data is missing, min/max bands when aggregated, "No data" when
 * there is none; a gauge of the latest value; a table of the latest
 * values. Each series is a <g class="series" data-points="N">. NULL with
 * IOT_USAGE for a size out of bounds, IOT_INTERNAL out of memory. */
char *iot_chart_svg(const json_t *chart, const iot_chart_data *d, const iot_svg_opts *o, size_t *len,
                    iot_error *err);

#endif
