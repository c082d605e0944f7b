/* svg_render.c — a chart as a standalone SVG document: the frame, title
 * and legend, and the time/value plot of line, area, bar and scatter
 * charts (gaps where data is missing, min/max bands when aggregated). The
 * gauge and the table are svg_panels.c's. */
#include "chart/chart_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FONT "font-family=\"DejaVu Sans, Arial, sans-serif\""

bool iot__chart_app_bool(const json_t *chart, const char *key, bool def)
{
	json_t *v = json_object_get(json_object_get(chart, "appearance_config"), key);
	return json_is_boolean(v) ? json_is_true(v) : def;
}

bool iot__chart_app_num(const json_t *chart, const char *key, double *out)
{
	json_t *v = json_object_get(json_object_get(chart, "appearance_config"), key);
	if (!json_is_number(v))
		return false;
	*out = json_number_value(v);
	return true;
}

size_t iot__series_points(const iot_chart_series *s)
{
	size_t n = 0;
	for (size_t i = 0; i < s->n; i++)
		n += !s->pts[i].null;
	return n;
}

void iot__svg_no_data(struct svg_buf *b, double cx, double cy)
{
	iot__svg_printf(b, "<text class=\"no-data\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"18\""
	                " fill=\"#757575\" " FONT ">No data</text>\n", cx, cy);
	iot__svg_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"12\" fill=\"#9e9e9e\" "
	                FONT ">in the selected time range</text>\n", cx, cy + 20);
}

struct plot {
	double x0, y0, w, h;          /* the plot area */
	int64_t t0, t1;
	double v0, v1;
};

static double px(const struct plot *p, int64_t t)
{
	return p->x0 + (double)(t - p->t0) / (double)(p->t1 - p->t0) * p->w;
}

static double py(const struct plot *p, double v)
{
	double y = p->y0 + p->h - (v - p->v0) / (p->v1 - p->v0) * p->h;
	return y < p->y0 - 2 ? p->y0 - 2 : y > p->y0 + p->h + 2 ? p->y0 + p->h + 2 : y;  /* clipped */
}

/* Raw points further apart than 3 times the median spacing leave a gap. */
static int64_t gap_after(const iot_chart_series *s, bool aggregated)
{
	if (aggregated || s->n < 3)
		return INT64_MAX;
	int64_t *dt = malloc((s->n - 1) * sizeof *dt);
	if (!dt)
		return INT64_MAX;
	for (size_t i = 1; i < s->n; i++)
		dt[i - 1] = s->pts[i].t_us - s->pts[i - 1].t_us;
	/* A partial selection is enough for a median. */
	size_t k = (s->n - 1) / 2;
	for (size_t i = 0; i <= k; i++)
		for (size_t j = i + 1; j < s->n - 1; j++)
			if (dt[j] < dt[i]) {
				int64_t t = dt[i];
				dt[i] = dt[j];
				dt[j] = t;
			}
	int64_t med = dt[k];
	free(dt);
	return med > 0 ? med * 3 : INT64_MAX;
}

/* Is point i the start of a new piece (after a gap)? */
static bool breaks(const iot_chart_series *s, size_t i, int64_t gap)
{
	return i == 0 || s->pts[i - 1].null || s->pts[i].t_us - s->pts[i - 1].t_us > gap;
}

static void draw_band(struct svg_buf *b, const struct plot *p, const iot_chart_series *s)
{
	for (size_t i = 0; i < s->n;) {
		if (s->pts[i].null) {
			i++;
			continue;
		}
		size_t j = i;
		while (j + 1 < s->n && !s->pts[j + 1].null)
			j++;
		iot__svg_printf(b, "<polygon class=\"band\" fill=\"%s\" fill-opacity=\"0.18\" stroke=\"none\" points=\"",
		                s->color);
		for (size_t k = i; k <= j; k++)
			iot__svg_printf(b, "%.1f,%.1f ", px(p, s->pts[k].t_us), py(p, s->pts[k].hi));
		for (size_t k = j + 1; k-- > i;)
			iot__svg_printf(b, "%.1f,%.1f ", px(p, s->pts[k].t_us), py(p, s->pts[k].lo));
		iot__svg_printf(b, "\"/>\n");
		i = j + 1;
	}
}

static void draw_line(struct svg_buf *b, const struct plot *p, const iot_chart_series *s, int64_t gap,
                      bool fill, double width)
{
	double base = py(p, p->v0 > 0 ? p->v0 : p->v1 < 0 ? p->v1 : 0);
	if (fill) {
		iot__svg_printf(b, "<path class=\"area\" fill=\"%s\" fill-opacity=\"0.3\" stroke=\"none\" d=\"",
		                s->color);
		double first_x = 0, last_x = 0;
		bool open = false;
		for (size_t i = 0; i < s->n; i++) {
			if (s->pts[i].null)
				continue;
			double x = px(p, s->pts[i].t_us), y = py(p, s->pts[i].v);
			if (breaks(s, i, gap)) {
				if (open)
					iot__svg_printf(b, "L%.1f %.1fL%.1f %.1fZ", last_x, base, first_x, base);
				iot__svg_printf(b, "M%.1f %.1f", x, y);
				first_x = x;
				open = true;
			} else {
				iot__svg_printf(b, "L%.1f %.1f", x, y);
			}
			last_x = x;
		}
		if (open)
			iot__svg_printf(b, "L%.1f %.1fL%.1f %.1fZ", last_x, base, first_x, base);
		iot__svg_printf(b, "\"/>\n");
	}
	iot__svg_printf(b, "<path class=\"line\" fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\""
	                " stroke-linejoin=\"round\" d=\"", s->color, width);
	for (size_t i = 0; i < s->n; i++)
		if (!s->pts[i].null)
			iot__svg_printf(b, "%c%.1f %.1f", breaks(s, i, gap) ? 'M' : 'L', px(p, s->pts[i].t_us),
			                py(p, s->pts[i].v));
	iot__svg_printf(b, "\"/>\n");
}

static void draw_points(struct svg_buf *b, const struct plot *p, const iot_chart_series *s, double r)
{
	for (size_t i = 0; i < s->n; i++)
		if (!s->pts[i].null)
			iot__svg_printf(b, "<circle class=\"point\" cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\"/>\n",
			                px(p, s->pts[i].t_us), py(p, s->pts[i].v), r, s->color);
}

/* Bars side by side in each point's slot; a bucket's bars stand in its middle. */
static void draw_bars(struct svg_buf *b, const struct plot *p, const iot_chart_series *s, size_t idx,
                      size_t nseries, size_t most, int64_t half_bucket)
{
	double slot = p->w / (double)(most ? most : 1), bw = slot * 0.8 / (double)nseries;
	if (bw < 1)
		bw = 1;
	double base = py(p, p->v0 > 0 ? p->v0 : p->v1 < 0 ? p->v1 : 0);
	for (size_t i = 0; i < s->n; i++) {
		if (s->pts[i].null)
			continue;
		double x = px(p, s->pts[i].t_us + half_bucket) - slot * 0.4 + (double)idx * bw;
		double y = py(p, s->pts[i].v);
		iot__svg_printf(b, "<rect class=\"point\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\""
		                " fill=\"%s\"/>\n", x, y < base ? y : base, bw, fabs(base - y), s->color);
	}
}

/* The value range: the points (and bands), or yAxisMin/yAxisMax. */
static void value_range(const json_t *chart, const iot_chart_data *d, double *lo, double *hi)
{
	bool any = false;
	for (size_t k = 0; k < d->nseries; k++)
		for (size_t i = 0; i < d->series[k].n; i++) {
			const iot_chart_point *pt = &d->series[k].pts[i];
			if (pt->null)
				continue;
			double a = d->series[k].band ? pt->lo : pt->v, z = d->series[k].band ? pt->hi : pt->v;
			if (!any || a < *lo)
				*lo = a;
			if (!any || z > *hi)
				*hi = z;
			any = true;
		}
	const char *type = json_string_value(json_object_get(chart, "type"));
	if (type && !strcmp(type, "bar") && *lo > 0)
		*lo = 0;                /* bars stand on zero */
	iot__chart_app_num(chart, "yAxisMin", lo);
	iot__chart_app_num(chart, "yAxisMax", hi);
}

/* The time ticks under the plot, the grid's vertical lines and the frame. */
static void time_axis(struct svg_buf *b, const iot_chart_data *d, const struct plot *p,
                      const iot_svg_opts *o, bool grid)
{
	struct time_ticks tt;
	iot__axis_time_ticks(d->start_us, d->end_us, o->utc_offset_min, (int)(p->w / 110), &tt);
	iot__svg_printf(b, "<g class=\"axis x\" " FONT " font-size=\"11\" fill=\"#424242\">\n");
	for (int i = 0; i < tt.n; i++) {
		double x = px(p, tt.t_us[i]);
		if (grid)
			iot__svg_printf(b, "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\""
			                " stroke=\"#eeeeee\"/>\n", x, x, p->y0, p->y0 + p->h);
		/* A label that would stick out past the right edge ends at its tick. */
		bool last = x + 3.4 * (double)strlen(tt.label[i]) > p->x0 + p->w + 16;
		iot__svg_printf(b, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">%s</text>\n",
		                x, p->y0 + p->h + 16, last ? "end" : "middle", tt.label[i]);
	}
	iot__svg_printf(b, "</g>\n<rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\""
	                " fill=\"none\" stroke=\"#9e9e9e\"/>\n", p->x0, p->y0, p->w, p->h);
}

static void axes(struct svg_buf *b, const json_t *chart, const iot_chart_data *d, struct plot *p,
                 const iot_svg_opts *o)
{
	double step = iot__axis_value_step(&p->v0, &p->v1, p->h >= 250 ? 6 : 4);
	double ymin, ymax;          /* fixed ends stay as asked */
	if (iot__chart_app_num(chart, "yAxisMin", &ymin))
		p->v0 = ymin;
	if (iot__chart_app_num(chart, "yAxisMax", &ymax))
		p->v1 = ymax;
	bool grid = iot__chart_app_bool(chart, "showGrid", true);
	iot__svg_printf(b, "<g class=\"axis y\" " FONT " font-size=\"11\" fill=\"#424242\">\n");
	for (double v = ceil(p->v0 / step) * step; v <= p->v1 + step * 1e-9; v += step) {
		char label[32];
		iot__axis_value_label(v, step, label, sizeof label);
		double y = py(p, v);
		if (grid)
			iot__svg_printf(b, "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\""
			                " stroke=\"#e0e0e0\"/>\n", p->x0, p->x0 + p->w, y, y);
		iot__svg_printf(b, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
		                p->x0 - 6, y + 4, label);
	}
	/* The units of the series, each once: "°C", or "°C / %". */
	char units[160] = "";
	for (size_t k = 0; k < d->nseries; k++) {
		const char *u = d->series[k].unit;
		bool seen = !*u;
		for (size_t j = 0; j < k && !seen; j++)
			seen = !strcmp(d->series[j].unit, u);
		if (!seen && strlen(units) + strlen(u) + 4 < sizeof units)
			snprintf(units + strlen(units), sizeof units - strlen(units), "%s%s", *units ? " / " : "", u);
	}
	if (*units) {
		iot__svg_printf(b, "<text class=\"unit\" transform=\"translate(%.1f %.1f) rotate(-90)\""
		                " text-anchor=\"middle\">", p->x0 - 48, p->y0 + p->h / 2);
		iot__svg_text(b, units);
		iot__svg_printf(b, "</text>\n");
	}
	iot__svg_printf(b, "</g>\n");
	time_axis(b, d, p, o, grid);
}

static void plot(struct svg_buf *b, const json_t *chart, const iot_chart_data *d, struct plot *p,
                 const iot_svg_opts *o)
{
	const char *type = json_string_value(json_object_get(chart, "type"));
	double width = 2;
	iot__chart_app_num(chart, "lineWidth", &width);
	const char *style = json_string_value(json_object_get(json_object_get(chart, "appearance_config"),
	                                                      "pointStyle"));
	bool fill = !strcmp(type, "area") || iot__chart_app_bool(chart, "fillArea", false);
	size_t most = 0;
	for (size_t k = 0; k < d->nseries; k++)
		most = d->series[k].n > most ? d->series[k].n : most;
	value_range(chart, d, &p->v0, &p->v1);
	axes(b, chart, d, p, o);
	iot__svg_printf(b, "<clipPath id=\"plot\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>"
	                "</clipPath>\n", p->x0, p->y0 - 3, p->w, p->h + 6);
	for (size_t k = 0; k < d->nseries; k++) {
		const iot_chart_series *s = &d->series[k];
		iot__svg_printf(b, "<g class=\"series\" clip-path=\"url(#plot)\" data-points=\"%zu\" data-label=\"",
		                iot__series_points(s));
		iot__svg_text(b, s->label);
		iot__svg_printf(b, "\">\n");
		if (!strcmp(type, "bar")) {
			draw_bars(b, p, s, k, d->nseries, most, d->aggregated ? d->window_us / 2 : 0);
		} else if (!strcmp(type, "scatter")) {
			draw_points(b, p, s, 3);
		} else {
			if (s->band)
				draw_band(b, p, s);
			draw_line(b, p, s, gap_after(s, d->aggregated), fill, width);
			if (s->n <= 300 && !(style && !strcmp(style, "none")))
				draw_points(b, p, s, width + 0.5);
		}
		iot__svg_printf(b, "</g>\n");
	}
}

/* The legend rows under the plot: how tall they are, and drawn when b. */
static double legend(struct svg_buf *b, const iot_chart_data *d, double x0, double y0, double w)
{
	double x = x0, y = y0;
	if (b)
		iot__svg_printf(b, "<g class=\"legend\" " FONT " font-size=\"12\" fill=\"#212121\">\n");
	for (size_t k = 0; k < d->nseries; k++) {
		const iot_chart_series *s = &d->series[k];
		double item = 24 + 7.0 * (double)strlen(s->label) + (*s->unit ? 7.0 * (double)(strlen(s->unit) + 3) : 0);
		if (x > x0 && x + item > x0 + w) {
			x = x0;
			y += 18;
		}
		if (b) {
			iot__svg_printf(b, "<rect class=\"swatch\" x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"10\""
			                " fill=\"%s\"/><text x=\"%.1f\" y=\"%.1f\">", x, y - 9, s->color, x + 18, y);
			iot__svg_text(b, s->label);
			if (*s->unit) {
				iot__svg_printf(b, " (");
				iot__svg_text(b, s->unit);
				iot__svg_printf(b, ")");
			}
			iot__svg_printf(b, "</text>\n");
		}
		x += item + 12;
	}
	if (b)
		iot__svg_printf(b, "</g>\n");
	return y - y0 + 18;
}

char *iot_chart_svg(const json_t *chart, const iot_chart_data *d, const iot_svg_opts *o, size_t *len,
                    iot_error *err)
{
	iot_svg_opts opts = *o;
	if (!opts.width)
		opts.width = 800;
	if (!opts.height)
		opts.height = 400;
	if (opts.width < IOT_CHART_WIDTH_MIN || opts.width > IOT_CHART_WIDTH_MAX ||
	    opts.height < IOT_CHART_HEIGHT_MIN || opts.height > IOT_CHART_HEIGHT_MAX) {
		iot_error_set(err, IOT_USAGE, "width: %d to %d, height: %d to %d pixels", IOT_CHART_WIDTH_MIN,
		              IOT_CHART_WIDTH_MAX, IOT_CHART_HEIGHT_MIN, IOT_CHART_HEIGHT_MAX);
		return NULL;
	}
	double W = opts.width, H = opts.height;
	struct svg_buf b = { 0 };
	const char *type = json_string_value(json_object_get(chart, "type"));
	const char *title = json_string_value(json_object_get(chart, "title"));
	const char *bg = json_string_value(json_object_get(json_object_get(chart, "appearance_config"),
	                                                   "backgroundColor"));
	if (!title)
		title = json_string_value(json_object_get(chart, "name"));
	iot__svg_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\""
	                " viewBox=\"0 0 %d %d\" class=\"chart %s\">\n<title>", opts.width, opts.height,
	                opts.width, opts.height, type);
	iot__svg_text(&b, title ? title : "chart");
	iot__svg_printf(&b, "</title>\n<rect class=\"background\" width=\"100%%\" height=\"100%%\" fill=\"%s\"/>\n"
	                "<text class=\"title\" x=\"%.1f\" y=\"24\" text-anchor=\"middle\" font-size=\"16\""
	                " font-weight=\"bold\" fill=\"#212121\" " FONT ">", bg ? bg : "#ffffff", W / 2);
	iot__svg_text(&b, title ? title : "");
	iot__svg_printf(&b, "</text>\n");
	size_t points = 0;
	for (size_t k = 0; k < d->nseries; k++)
		points += iot__series_points(&d->series[k]);
	bool show_legend = iot__chart_app_bool(chart, "showLegend", true) && d->nseries > 0 &&
	                   strcmp(type, "gauge") && strcmp(type, "table");
	double lh = show_legend ? legend(NULL, d, 20, 0, W - 40) : 0;
	struct plot p = { .x0 = 64, .y0 = 40, .w = W - 64 - 20, .h = H - 40 - 28 - lh - (lh ? 10 : 0),
	                  .t0 = d->start_us, .t1 = d->end_us > d->start_us ? d->end_us : d->start_us + 1 };
	if (p.h < 40)
		p.h = 40;
	if (!strcmp(type, "gauge"))
		iot__svg_gauge(&b, chart, d, 20, 40, W - 40, H - 50);
	else if (!strcmp(type, "table"))
		iot__svg_table(&b, d, 20, 40, W - 40, H - 50);
	else if (points == 0) {
		time_axis(&b, d, &p, &opts, false);   /* the range that has nothing */
		iot__svg_no_data(&b, p.x0 + p.w / 2, p.y0 + p.h / 2);
	} else
		plot(&b, chart, d, &p, &opts);
	if (show_legend)
		legend(&b, d, 20, H - lh + 4, W - 40);
	iot__svg_printf(&b, "</svg>\n");
	if (b.oom) {
		free(b.s);
		iot_error_set(err, IOT_INTERNAL, "out of memory drawing the chart");
		return NULL;
	}
	*len = b.len;
	return b.s;
}
