/* chart_int.h — what the files of lib/chart share: the normalised forms of
 * the fields (chart_fields.c), the SVG text buffer and the axes
 * (svg_axis.c). Not part of the public API. */
#ifndef IOT_CHART_INT_H
#define IOT_CHART_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "chart/chart.h"

/* ---- chart_fields.c ---- */

/* The appearance members checked, colours normalised, as a new object
 * (nulls kept: they remove a member). NULL with IOT_USAGE. */
json_t *iot__chart_appearance(const json_t *a, iot_error *err);
/* The devices as an array of distinct integers. NULL with IOT_USAGE. */
json_t *iot__chart_devices(const json_t *devices, iot_error *err);
/* The measurements as an array of {"name"[, "display_name", "color",
 * "unit"]} with distinct names, colours normalised. NULL with IOT_USAGE. */
json_t *iot__chart_measurements(const json_t *measurements, iot_error *err);
/* time_range, group_by (when a duration) as microseconds. */
int iot__chart_duration(const char *what, const char *s, int64_t min_us, int64_t *us, iot_error *err);
/* The canonical aggregation name ("avg" -> "mean"), or NULL when unknown. */
const char *iot__chart_aggregation(const char *s);

/* ---- svg_axis.c ---- */

/* A growing text buffer; on out of memory it stops growing and oom is set. */
struct svg_buf {
	char *s;
	size_t len, cap;
	int oom;
};
void iot__svg_printf(struct svg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Text with &, <, >, " and ' escaped. */
void iot__svg_text(struct svg_buf *b, const char *s);

/* Value ticks: a "nice" step (1, 2 or 5 times a power of ten) giving about
 * `want` ticks over [*lo, *hi], which are widened to multiples of it. */
double iot__axis_value_step(double *lo, double *hi, int want);
/* A value label: at most 6 significant digits, no trailing zeros. */
void iot__axis_value_label(double v, double step, char *buf, size_t size);

#define IOT_AXIS_TICKS_MAX 64
struct time_ticks {
	int64_t t_us[IOT_AXIS_TICKS_MAX];
	char label[IOT_AXIS_TICKS_MAX][32];
	int n;
};
/* Time ticks over [start, end] at a round step (seconds to years), aligned
 * in the time zone offset_min minutes east of UTC, labelled there: HH:MM
 * (and :SS) within a day, the date where a day starts, "Mon DD" or
 * "Mon YYYY" for longer steps. */
void iot__axis_time_ticks(int64_t start_us, int64_t end_us, int offset_min, int want,
                          struct time_ticks *out);

/* ---- svg_render.c, svg_panels.c ---- */

/* An appearance member of chart, or def / false when it has none. */
bool iot__chart_app_bool(const json_t *chart, const char *key, bool def);
bool iot__chart_app_num(const json_t *chart, const char *key, double *out);
/* The points of s that have a value. */
size_t iot__series_points(const iot_chart_series *s);
/* "No data" centred on (cx, cy). */
void iot__svg_no_data(struct svg_buf *b, double cx, double cy);
/* A gauge of the latest value of the first series that has one; a table
 * of every series' latest value, min and max; in the box x, y, w, h. */
void iot__svg_gauge(struct svg_buf *b, const json_t *chart, const iot_chart_data *d, double x, double y,
                    double w, double h);
void iot__svg_table(struct svg_buf *b, const iot_chart_data *d, double x, double y, double w, double h);

#endif
