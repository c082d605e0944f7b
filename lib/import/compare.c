/* compare.c — the consistency check of the dual-write period: per device,
 * day (UTC) and measurement, point counts and min/max/sum of the Flask side
 * against this database, the differences as JSON (import.h). */
#include "import/import.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct stats {
	long long count, ncount;  /* points; numeric ones (min/max/sum are theirs) */
	double min, max, sum;
};

struct group {
	int64_t device, day;
	char *measurement;         /* NULL: free slot */
	struct stats side[2];      /* [0] the Flask side, [1] this database */
};

struct iot_compare {
	struct group *g;
	size_t cap, n;
	int64_t min_day, max_day;
};

iot_compare *iot_compare_new(void)
{
	iot_compare *c = calloc(1, sizeof *c);
	if (c && !(c->g = calloc(c->cap = 1024, sizeof *c->g))) {
		free(c);
		return NULL;
	}
	if (c) {
		c->min_day = INT64_MAX;
		c->max_day = INT64_MIN;
	}
	return c;
}

void iot_compare_free(iot_compare *c)
{
	for (size_t i = 0; c && i < c->cap; i++)
		free(c->g[i].measurement);
	if (c)
		free(c->g);
	free(c);
}

static size_t hash(int64_t device, int64_t day, const char *m)
{
	uint64_t h = 1469598103934665603ULL ^ (uint64_t)device * 0x9E3779B97F4A7C15ULL ^ (uint64_t)day * 0xC2B2AE3D27D4EB4FULL;
	for (; *m; m++)
		h = (h ^ (unsigned char)*m) * 1099511628211ULL;
	return (size_t)h;
}

static struct group *slot(struct group *g, size_t cap, int64_t device, int64_t day, const char *m)
{
	for (size_t i = hash(device, day, m) & (cap - 1);; i = (i + 1) & (cap - 1))
		if (!g[i].measurement || (g[i].device == device && g[i].day == day && !strcmp(g[i].measurement, m)))
			return &g[i];
}

static struct group *find(iot_compare *c, int64_t device, int64_t day, const char *m, iot_error *err)
{
	if (2 * (c->n + 1) > c->cap) {
		size_t cap = c->cap * 2;
		struct group *g = calloc(cap, sizeof *g);
		if (!g) {
			iot_error_set(err, IOT_INTERNAL, "out of memory");
			return NULL;
		}
		for (size_t i = 0; i < c->cap; i++)
			if (c->g[i].measurement)
				*slot(g, cap, c->g[i].device, c->g[i].day, c->g[i].measurement) = c->g[i];
		free(c->g);
		c->g = g;
		c->cap = cap;
	}
	struct group *s = slot(c->g, c->cap, device, day, m);
	if (!s->measurement) {
		if (!(s->measurement = strdup(m))) {
			iot_error_set(err, IOT_INTERNAL, "out of memory");
			return NULL;
		}
		s->device = device;
		s->day = day;
		c->n++;
	}
	return s;
}

static int64_t day_of(int64_t ts_us)
{
	int64_t d = ts_us / 86400000000LL;
	return ts_us < 0 && ts_us % 86400000000LL ? d - 1 : d;
}

/* Merge one aggregate into a side. */
static int add(iot_compare *c, int side, int64_t device, int64_t day, const char *m, long long count,
               long long ncount, double min, double max, double sum, iot_error *err)
{
	struct group *g = find(c, device, day, m, err);
	if (!g)
		return -1;
	struct stats *s = &g->side[side];
	if (ncount) {
		s->min = s->ncount ? fmin(s->min, min) : min;
		s->max = s->ncount ? fmax(s->max, max) : max;
		s->sum += sum;
	}
	s->count += count;
	s->ncount += ncount;
	if (side == 0) {
		c->min_day = day < c->min_day ? day : c->min_day;
		c->max_day = day > c->max_day ? day : c->max_day;
	}
	return 0;
}

struct csv_ctx {
	iot_compare *c;
	const iot_device_map *map;
	iot_reject_cb rej;
	void *ctx;
};

static void csv_refused(void *ctx, const char *where, int column, const char *why)
{
	struct csv_ctx *x = ctx;
	if (x->rej)
		x->rej(x->ctx, where, column, why);
}

static int csv_point(void *ctx, const iot_point *p, const char *where, int column, iot_error *err)
{
	struct csv_ctx *x = ctx;
	(void)where;
	(void)column;
	int64_t dev = iot_device_map_get(x->map, p->device_id);
	/* A device that was not imported is compared under its old id: all of
	 * it is then a difference, which is what it is. */
	bool num = p->type == IOT_VAL_NUMBER;
	return add(x->c, 0, dev ? dev : p->device_id, day_of(p->ts_us), p->measurement, 1, num, p->num, p->num,
	           num ? p->num : 0, err);
}

int iot_compare_iotdb_file(iot_compare *c, FILE *f, const char *name, const iot_device_map *map,
                           iot_reject_cb rej, void *ctx, long long *rows, iot_error *err)
{
	struct csv_ctx x = { c, map, rej, ctx };
	return iot_iotdb_csv_read(f, name, csv_point, csv_refused, &x, rows, err);
}

static double num(PGresult *r, int i, int col)
{
	return PQgetisnull(r, i, col) ? 0 : strtod(PQgetvalue(r, i, col), NULL);
}

/* Rows of (device, day, measurement, count, ncount, min, max, sum) into a side. */
static int add_rows(iot_compare *c, int side, PGresult *r, const iot_device_map *map, iot_error *err)
{
	for (int i = 0; i < PQntuples(r); i++) {
		int64_t dev = strtoll(PQgetvalue(r, i, 0), NULL, 10);
		if (map) {
			int64_t to = iot_device_map_get(map, dev);
			dev = to ? to : dev;
		}
		if (add(c, side, dev, strtoll(PQgetvalue(r, i, 1), NULL, 10), PQgetvalue(r, i, 2),
		        strtoll(PQgetvalue(r, i, 3), NULL, 10), strtoll(PQgetvalue(r, i, 4), NULL, 10),
		        num(r, i, 5), num(r, i, 6), num(r, i, 7), err) < 0)
			return -1;
	}
	return 0;
}

int iot_compare_old_db(iot_compare *c, iot_db *old, const iot_device_map *map, iot_error *err)
{
	static const char sql[] =
		"SELECT device_id, floor(extract(epoch FROM \"timestamp\") / 86400)::int8, measurement_name,"
		" count(*), count(numeric_value), min(numeric_value), max(numeric_value), sum(numeric_value)"
		" FROM telemetry_data GROUP BY 1, 2, 3";
	PGresult *r = iot_db_exec(old, sql, 0, NULL, err);
	if (!r)
		return -1;
	int rc = add_rows(c, 0, r, map, err);
	PQclear(r);
	return rc;
}

static int by_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

int iot_compare_new_db(iot_compare *c, iot_db *db, iot_error *err)
{
	if (c->n == 0)
		return 0;
	/* The devices of the Flask side (sorted, once each), over the days it covers. */
	int64_t *ids = malloc(c->n * sizeof *ids);
	size_t nids = 0, cap = 0, len = 0;
	char *devs = NULL;
	if (!ids)
		return iot_error_set(err, IOT_INTERNAL, "out of memory");
	for (size_t i = 0; i < c->cap; i++)
		if (c->g[i].measurement && c->g[i].side[0].count)
			ids[nids++] = c->g[i].device;
	qsort(ids, nids, sizeof *ids, by_id);
	cap = nids * 21 + 3;
	if (!(devs = malloc(cap))) {
		free(ids);
		return iot_error_set(err, IOT_INTERNAL, "out of memory");
	}
	devs[len++] = '{';
	for (size_t i = 0; i < nids; i++)
		if (i == 0 || ids[i] != ids[i - 1])
			len += (size_t)snprintf(devs + len, cap - len, "%s%" PRId64, len > 1 ? "," : "", ids[i]);
	devs[len++] = '}';
	devs[len] = '\0';
	free(ids);
	char from[24], to[24];
	snprintf(from, sizeof from, "%" PRId64, c->min_day);
	snprintf(to, sizeof to, "%" PRId64, c->max_day + 1);
	static const char sql[] =
		"SELECT device_id, floor(extract(epoch FROM ts) / 86400)::int8, measurement_name,"
		" count(*), count(numeric_value), min(numeric_value), max(numeric_value), sum(numeric_value)"
		" FROM telemetry_data WHERE device_id = ANY($1::integer[])"
		" AND ts >= to_timestamp($2::int8 * 86400) AND ts < to_timestamp($3::int8 * 86400) GROUP BY 1, 2, 3";
	const char *p[3] = { devs, from, to };
	PGresult *r = iot_db_exec(db, sql, 3, p, err);
	free(devs);
	if (!r)
		return -1;
	int rc = add_rows(c, 1, r, NULL, err);
	PQclear(r);
	return rc;
}

static bool close_enough(double a, double b)
{
	double scale = fmax(1.0, fmax(fabs(a), fabs(b)));
	return fabs(a - b) <= 1e-9 * scale;
}

static bool same(const struct stats *a, const struct stats *b)
{
	return a->count == b->count && a->ncount == b->ncount &&
	       (!a->ncount || (a->min == b->min && a->max == b->max && close_enough(a->sum, b->sum)));
}

static json_t *side_json(const struct stats *s)
{
	if (!s->count)
		return json_null();
	if (!s->ncount)
		return json_pack("{s:I}", "count", (json_int_t)s->count);
	return json_pack("{s:I,s:f,s:f,s:f}", "count", (json_int_t)s->count, "min", s->min, "max", s->max, "sum", s->sum);
}

static int by_key(const void *a, const void *b)
{
	const struct group *x = a, *y = b;
	if (x->device != y->device)
		return x->device < y->device ? -1 : 1;
	if (x->day != y->day)
		return x->day < y->day ? -1 : 1;
	return strcmp(x->measurement, y->measurement);
}

int iot_compare_diff(iot_compare *c, iot_import_cb cb, void *ctx, long long *ndiff, iot_error *err)
{
	/* Sorted, so the output reads (and compares) the same every time. */
	struct group *v = malloc((c->n ? c->n : 1) * sizeof *v);
	size_t n = 0;
	if (!v)
		return iot_error_set(err, IOT_INTERNAL, "out of memory");
	for (size_t i = 0; i < c->cap; i++)
		if (c->g[i].measurement && !same(&c->g[i].side[0], &c->g[i].side[1]))
			v[n++] = c->g[i];
	qsort(v, n, sizeof *v, by_key);
	for (size_t i = 0; i < n; i++) {
		char day[16];
		time_t t = (time_t)(v[i].day * 86400);
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(day, sizeof day, "%Y-%m-%d", &tm);
		json_t *row = json_pack("{s:I,s:s,s:s,s:o,s:o}", "device_id", (json_int_t)v[i].device, "day", day,
		                        "measurement", v[i].measurement, "old", side_json(&v[i].side[0]),
		                        "new", side_json(&v[i].side[1]));
		cb(ctx, row);
		json_decref(row);
	}
	*ndiff = (long long)n;
	free(v);
	return 0;
}
