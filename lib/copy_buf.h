/* copy_buf.h — PostgreSQL binary COPY encoding of telemetry points, and the
 * per-batch reduction to the newest point per (device, measurement).
 * Internal to the batch writer. */
#ifndef IOT_COPY_BUF_H
#define IOT_COPY_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batch_int.h"
#include "record.h"

struct copy_buf {
	char *data;
	size_t len, cap;
	bool oom;
};

/* Start a COPY stream (header). */
void copy_begin(struct copy_buf *b);
/* One row: [idx int4 when idx >= 0], device_id int4, measurement text, ts
 * timestamptz, numeric float8, text, boolean, json jsonb, [metadata jsonb
 * when with_metadata]. Exactly one value column is non-NULL. */
void copy_point(struct copy_buf *b, const iot_point *p, int32_t idx, bool with_metadata);
/* End of stream (trailer). */
void copy_end(struct copy_buf *b);

/* Open-addressing map from (device, measurement) to a slot in the latest list. */
struct latest_map {
	size_t *slot;     /* 0 = empty, else 1 + position in the latest list */
	size_t size;      /* power of two */
};

/* Fill *latest with the index (into b) of the newest STORED point for each
 * (device, measurement) in b; *n of them. Returns 0 or -1 (out of memory). */
int iot_latest_reduce(struct latest_map *m, const struct batch *b, size_t **latest, size_t *n);
void iot_latest_map_free(struct latest_map *m);

#endif
