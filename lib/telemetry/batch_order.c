/* batch_order.c — a batch's points in key order before it is written (see
 * store_int.h, iot__batch_order). Runs on the writer thread only. */
#include "telemetry/store_int.h"

#include <stdlib.h>
#include <string.h>

struct batch_entry {
	const iot_point *pt;
	struct submission *sub;
	enum iot_point_outcome *out;
	char **why;
	size_t idx;
};

/* Device, time, measurement; equal keys keep their order (the first of
 * two points with one key is the one stored). */
static int cmp_points(const iot_point *p, const iot_point *q)
{
	if (p->device_id != q->device_id)
		return p->device_id < q->device_id ? -1 : 1;
	if (p->ts_us != q->ts_us)
		return p->ts_us < q->ts_us ? -1 : 1;
	return strcmp(p->measurement, q->measurement);
}

static int by_entry(const void *x, const void *y)
{
	const struct batch_entry *a = x, *b = y;
	int c = cmp_points(a->pt, b->pt);
	if (c)
		return c;
	return (a->idx > b->idx) - (a->idx < b->idx);
}

int iot__batch_order(struct batch *b, struct batch_order *o)
{
	size_t i = 1;
	while (i < b->n && cmp_points(b->pt[i - 1], b->pt[i]) <= 0)
		i++;
	if (i >= b->n)
		return 0;   /* in order already, as one device's stream often is */
	if (o->cap < b->n) {
		struct batch_entry *e = realloc(o->e, b->n * sizeof *e);
		if (!e)
			return -1;
		o->e = e;
		o->cap = b->n;
	}
	for (i = 0; i < b->n; i++)
		o->e[i] = (struct batch_entry){ b->pt[i], b->sub[i], b->out[i], b->why[i], i };
	qsort(o->e, b->n, sizeof *o->e, by_entry);
	for (i = 0; i < b->n; i++) {
		b->pt[i] = o->e[i].pt;
		b->sub[i] = o->e[i].sub;
		b->out[i] = o->e[i].out;
		b->why[i] = o->e[i].why;
	}
	return 0;
}

void iot__batch_order_free(struct batch_order *o)
{
	free(o->e);
	o->e = NULL;
	o->cap = 0;
}
