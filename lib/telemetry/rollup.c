/* rollup.c — hourly sums of a batch's stored numeric points. Built from the
 * points a batch actually inserted, so a replay never counts twice. */
#include "telemetry/rollup.h"

#include <stdlib.h>
#include <string.h>

#define HOUR_US 3600000000LL

static int64_t hour_of(int64_t ts_us)
{
	int64_t h = ts_us / HOUR_US;
	if (ts_us < 0 && ts_us % HOUR_US)
		h--;
	return h * HOUR_US;
}

static size_t hash(int64_t device, const char *measurement, int64_t bucket)
{
	uint64_t h = 1469598103934665603ULL ^ (uint64_t)device * 0x9E3779B97F4A7C15ULL;
	h ^= (uint64_t)bucket * 0xC2B2AE3D27D4EB4FULL;
	for (const unsigned char *s = (const unsigned char *)measurement; *s; s++)
		h = (h ^ *s) * 1099511628211ULL;
	return (size_t)(h ^ (h >> 29));
}

static int reset(struct rollup *r, size_t n)
{
	size_t want = 16;
	while (want < n * 2)
		want *= 2;
	if (r->size < want) {
		free(r->slot);
		r->slot = malloc(want * sizeof *r->slot);
		r->size = r->slot ? want : 0;
		if (!r->slot)
			return -1;
	}
	memset(r->slot, 0, r->size * sizeof *r->slot);
	if (r->cap < n) {
		struct hour_sum *p = realloc(r->sums, n * sizeof *p);
		if (!p)
			return -1;
		r->sums = p;
		r->cap = n;
	}
	r->n = 0;
	return 0;
}

static void add(struct hour_sum *h, const iot_point *p)
{
	h->count++;
	h->sum += p->num;
	if (p->num < h->min)
		h->min = p->num;
	if (p->num > h->max)
		h->max = p->num;
	if (p->ts_us < h->first_ts) {
		h->first_ts = p->ts_us;
		h->first = p->num;
	}
	if (p->ts_us > h->last_ts) {
		h->last_ts = p->ts_us;
		h->last = p->num;
	}
}

int iot__rollup_build(struct rollup *r, const struct batch *b)
{
	if (reset(r, b->n ? b->n : 1) < 0)
		return -1;
	for (size_t i = 0; i < b->n; i++) {
		const iot_point *p = b->pt[i];
		if (*b->out[i] != IOT_POINT_STORED || p->type != IOT_VAL_NUMBER)
			continue;
		int64_t bucket = hour_of(p->ts_us);
		size_t k = hash(p->device_id, p->measurement, bucket) & (r->size - 1);
		struct hour_sum *h;
		while (r->slot[k]) {
			h = &r->sums[r->slot[k] - 1];
			if (h->device_id == p->device_id && h->bucket_us == bucket && !strcmp(h->measurement, p->measurement))
				break;
			k = (k + 1) & (r->size - 1);
		}
		if (r->slot[k]) {
			add(&r->sums[r->slot[k] - 1], p);
			continue;
		}
		h = &r->sums[r->n++];
		r->slot[k] = r->n;
		*h = (struct hour_sum){ .device_id = p->device_id, .measurement = p->measurement,
		                        .bucket_us = bucket, .count = 1, .sum = p->num, .min = p->num,
		                        .max = p->num, .first_ts = p->ts_us, .last_ts = p->ts_us,
		                        .first = p->num, .last = p->num };
	}
	return 0;
}

void iot__rollup_free(struct rollup *r)
{
	free(r->sums);
	free(r->slot);
	memset(r, 0, sizeof *r);
}
