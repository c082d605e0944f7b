/* svg_panels.c — the charts that are not a time plot: a gauge of the
 * latest value (its scale from yAxisMin/yAxisMax, else round numbers
 * around what the range saw) and a table of each series' latest value,
 * min and max. */
#include "chart/chart_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define FONT "font-family=\"DejaVu Sans, Arial, sans-serif\""

/* The newest point with a value, or NULL. */
static const iot_chart_point *latest(const iot_chart_series *s)
{
	for (size_t i = s->n; i-- > 0;)
		if (!s->pts[i].null)
			return &s->pts[i];
	return NULL;
}

static void value_text(double v, char *buf, size_t size)
{
	snprintf(buf, size, fabs(v) >= 1e6 || (v != 0 && fabs(v) < 1e-3) ? "%.3g" : "%.2f", v);
	/* 21.50 -> 21.5, 20.00 -> 20 */
	char *dot = strchr(buf, '.');
	if (dot && !strchr(buf, 'e')) {
		char *end = buf + strlen(buf);
		while (end > dot && (end[-1] == '0' || end[-1] == '.'))
			*--end = '\0';
	}
}

void iot__svg_gauge(struct svg_buf *b, const json_t *chart, const iot_chart_data *d, double x, double y,
                    double w, double h)
{
	const iot_chart_series *s = NULL;
	const iot_chart_point *pt = NULL;
	for (size_t k = 0; k < d->nseries && !pt; k++)
		if ((pt = latest(&d->series[k])))
			s = &d->series[k];
	double cx = x + w / 2, cy = y + h * 0.72, r = fmin(w / 2, h * 0.62) - 16;
	if (r < 20)
		r = 20;
	iot__svg_printf(b, "<g class=\"gauge\" " FONT ">\n<path class=\"gauge-track\" d=\"M%.1f %.1fA%.1f %.1f 0 0 1"
	                " %.1f %.1f\" fill=\"none\" stroke=\"#e0e0e0\" stroke-width=\"%.1f\"/>\n", cx - r, cy, r, r,
	                cx + r, cy, r * 0.22);
	if (!pt) {
		iot__svg_printf(b, "</g>\n");
		iot__svg_no_data(b, cx, cy - r * 0.3);
		return;
	}
	/* The scale: the chart's, else round numbers over what was seen. */
	double lo = pt->v, hi = pt->v;
	for (size_t i = 0; i < s->n; i++)
		if (!s->pts[i].null) {
			lo = fmin(lo, s->pts[i].v);
			hi = fmax(hi, s->pts[i].v);
		}
	if (lo > 0)
		lo = 0;
	iot__axis_value_step(&lo, &hi, 5);
	iot__chart_app_num(chart, "yAxisMin", &lo);
	iot__chart_app_num(chart, "yAxisMax", &hi);
	double f = hi > lo ? (pt->v - lo) / (hi - lo) : 0;
	f = f < 0 ? 0 : f > 1 ? 1 : f;
	double a = M_PI - f * M_PI, ex = cx + r * cos(a), ey = cy - r * sin(a);
	char v[40], l[40], hv[40];
	value_text(pt->v, v, sizeof v);
	value_text(lo, l, sizeof l);
	value_text(hi, hv, sizeof hv);
	iot__svg_printf(b, "<path class=\"gauge-value\" data-value=\"%s\" d=\"M%.1f %.1fA%.1f %.1f 0 0 1 %.1f %.1f\""
	                " fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\"/>\n", v, cx - r, cy, r, r, ex, ey,
	                s->color, r * 0.22);
	iot__svg_printf(b, "<text class=\"gauge-text\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\""
	                " font-size=\"%.0f\" font-weight=\"bold\" fill=\"#212121\">%s", cx, cy - r * 0.12,
	                fmax(12, r * 0.26), v);
	if (*s->unit) {
		iot__svg_printf(b, " ");
		iot__svg_text(b, s->unit);
	}
	iot__svg_printf(b, "</text>\n<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"13\""
	                " fill=\"#616161\">", cx, cy + 22);
	iot__svg_text(b, s->label);
	iot__svg_printf(b, "</text>\n<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"11\""
	                " fill=\"#757575\">%s</text>\n<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\""
	                " font-size=\"11\" fill=\"#757575\">%s</text>\n</g>\n", cx - r, cy + 16, l, cx + r,
	                cy + 16, hv);
}

void iot__svg_table(struct svg_buf *b, const iot_chart_data *d, double x, double y, double w, double h)
{
	static const char *const heads[] = { "Series", "Latest", "Min", "Max", "Unit" };
	static const double cols[] = { 0, 0.45, 0.6, 0.75, 0.9 };
	double row = 22;
	if (d->nseries == 0 || (size_t)(h / row) < 2) {
		iot__svg_no_data(b, x + w / 2, y + h / 2);
		return;
	}
	iot__svg_printf(b, "<g class=\"table\" " FONT " font-size=\"12\" fill=\"#212121\">\n");
	for (size_t c = 0; c < 5; c++)
		iot__svg_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-weight=\"bold\">%s</text>\n",
		                x + cols[c] * w, y + 16, heads[c]);
	size_t rows = (size_t)(h / row) - 1;
	for (size_t k = 0; k < d->nseries && k < rows; k++) {
		const iot_chart_series *s = &d->series[k];
		const iot_chart_point *pt = latest(s);
		double ry = y + row * (double)(k + 2) - 6, lo = 0, hi = 0;
		bool any = false;
		for (size_t i = 0; i < s->n; i++)
			if (!s->pts[i].null) {
				lo = any ? fmin(lo, s->band ? s->pts[i].lo : s->pts[i].v) : s->band ? s->pts[i].lo : s->pts[i].v;
				hi = any ? fmax(hi, s->band ? s->pts[i].hi : s->pts[i].v) : s->band ? s->pts[i].hi : s->pts[i].v;
				any = true;
			}
		char v[40] = "-", l[40] = "-", hv[40] = "-";
		if (pt) {
			value_text(pt->v, v, sizeof v);
			value_text(lo, l, sizeof l);
			value_text(hi, hv, sizeof hv);
		}
		iot__svg_printf(b, "<g class=\"series\" data-points=\"%zu\">\n<rect x=\"%.1f\" y=\"%.1f\" width=\"10\""
		                " height=\"10\" fill=\"%s\"/><text x=\"%.1f\" y=\"%.1f\">", iot__series_points(s),
		                x, ry - 9, s->color, x + 14, ry);
		iot__svg_text(b, s->label);
		iot__svg_printf(b, "</text><text x=\"%.1f\" y=\"%.1f\">%s</text><text x=\"%.1f\" y=\"%.1f\">%s</text>"
		                "<text x=\"%.1f\" y=\"%.1f\">%s</text><text x=\"%.1f\" y=\"%.1f\">", x + cols[1] * w, ry,
		                v, x + cols[2] * w, ry, l, x + cols[3] * w, ry, hv, x + cols[4] * w, ry);
		iot__svg_text(b, s->unit);
		iot__svg_printf(b, "</text>\n</g>\n");
	}
	iot__svg_printf(b, "</g>\n");
}
