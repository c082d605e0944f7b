/* iotdb_import.c — IoTDB CSV exports into the batch writer (import.h). */
#include "import/history_int.h"

#include <stdlib.h>
#include <string.h>

#define BUF_POINTS 10000

struct iot_iotdb_import {
	const iot_device_map *map;
	struct iot__hist h;
	iot_point pts[BUF_POINTS];
	char *texts[BUF_POINTS];   /* copies of names and text values, freed once submitted */
	size_t n;
};

iot_iotdb_import *iot_iotdb_import_new(const iot_device_map *map, iot_writer *w, int64_t max_future_us,
                                       iot_reject_cb rej, void *ctx, iot_history_counts *c)
{
	iot_iotdb_import *im = calloc(1, sizeof *im);
	if (!im)
		return NULL;
	im->map = map;
	iot__hist_init(&im->h, w, rej, ctx, c, max_future_us);
	return im;
}

static int flush(iot_iotdb_import *im, iot_error *err)
{
	int rc = im->n ? iot__hist_submit(&im->h, im->pts, im->n, err) : 0;
	for (size_t i = 0; i < im->n; i++)
		free(im->texts[i]);
	im->n = 0;
	return rc;
}

static int point(void *ctx, const iot_point *p, const char *where, int column, iot_error *err)
{
	iot_iotdb_import *im = ctx;
	int64_t dev = iot_device_map_get(im->map, p->device_id);
	if (!dev) {
		char why[64];
		snprintf(why, sizeof why, "device %lld was not imported", (long long)p->device_id);
		iot__hist_reject(&im->h, where, column, why);
		return 0;
	}
	if (!iot__hist_admit(&im->h, p, where, column))
		return 0;
	/* The reader's names and texts last only for the call: one copy of
	 * both per point, freed once the writer has its own. */
	size_t ml = strlen(p->measurement) + 1, tl = p->type == IOT_VAL_TEXT ? strlen(p->text) + 1 : 0;
	char *copy = malloc(ml + tl);
	if (!copy)
		return iot_error_set(err, IOT_INTERNAL, "out of memory");
	im->pts[im->n] = *p;
	im->pts[im->n].device_id = dev;
	im->pts[im->n].measurement = memcpy(copy, p->measurement, ml);
	if (tl)
		im->pts[im->n].text = memcpy(copy + ml, p->text, tl);
	im->texts[im->n] = copy;
	if (++im->n == BUF_POINTS)
		return flush(im, err);
	return 0;
}

static void refused(void *ctx, const char *where, int column, const char *why)
{
	iot__hist_reject(&((iot_iotdb_import *)ctx)->h, where, column, why);
}

int iot_iotdb_import_file(iot_iotdb_import *im, FILE *f, const char *name, iot_error *err)
{
	long long rows = 0;
	int rc = iot_iotdb_csv_read(f, name, point, refused, im, &rows, err);
	pthread_mutex_lock(&im->h.mu);
	im->h.c->read += rows;
	pthread_mutex_unlock(&im->h.mu);
	if (flush(im, rc < 0 ? &(iot_error){ 0 } : err) < 0 && rc == 0)
		rc = -1;
	return rc;
}

int iot_iotdb_import_end(iot_iotdb_import *im, iot_error *err)
{
	int rc = iot__hist_finish(&im->h, err);
	free(im);
	return rc;
}
