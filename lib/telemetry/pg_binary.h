/* pg_binary.h — telemetry points as rows of a PostgreSQL binary COPY, and
 * the per-batch maps from a point's key to its index. Internal to the batch
 * writer. (Binary arrays for INSERT .. SELECT FROM unnest() were measured as
 * the de-duplicating path: 60% slower than COPY into a temp table.) */
#ifndef IOT_PG_BINARY_H
#define IOT_PG_BINARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "telemetry/batch_int.h"
#include "telemetry/record.h"

struct copy_buf {
	char *data;
	size_t len, cap;
	bool oom;
};

/* Start a COPY stream (header). */
void iot__copy_begin(struct copy_buf *b);
/* One row: [idx int4 when idx >= 0], device_id int4, measurement text, ts
 * timestamptz, numeric float8, text, boolean, json jsonb, [metadata jsonb
 * when with_metadata]. Exactly one value column is non-NULL. */
void iot__copy_point(struct copy_buf *b, const iot_point *p, int32_t idx, bool with_metadata);
/* End of stream (trailer). */
void iot__copy_end(struct copy_buf *b);
/* Rows of other shapes: a field count, then that many fields. */
void iot__copy_row(struct copy_buf *b, int nfields);
void iot__copy_int4(struct copy_buf *b, int32_t v);
void iot__copy_int8(struct copy_buf *b, int64_t v);
void iot__copy_float8(struct copy_buf *b, double v);
void iot__copy_text(struct copy_buf *b, const char *s);
void iot__copy_timestamptz(struct copy_buf *b, int64_t ts_us);

/* A one-dimensional binary array parameter of n elements of type
 * elem_oid (INT4OID ...); the elements follow, each as a field above. */
void iot__array_begin(struct copy_buf *b, uint32_t elem_oid, size_t n);
/* Column col (0..7, iot__copy_point's order with metadata) of a point as
 * one field, and that column's element type for iot__array_begin. */
void iot__copy_point_field(struct copy_buf *b, const iot_point *p, int col);
uint32_t iot__point_field_oid(int col);
#define IOT_OID_BOOL 16u
#define IOT_OID_INT8 20u
#define IOT_OID_INT4 23u
#define IOT_OID_TEXT 25u
#define IOT_OID_FLOAT8 701u
#define IOT_OID_TIMESTAMPTZ 1184u
#define IOT_OID_JSONB 3802u

/* Open-addressing map from a point's key, (device, measurement) or
 * (device, measurement, ts), to an index. */
struct point_map {
	size_t *slot;     /* 0 = empty, else 1 + index */
	size_t size;      /* power of two */
};

/* Fill *latest with the index (into b) of the newest STORED point for each
 * (device, measurement) in b; *n of them. Returns 0 or -1 (out of memory). */
int iot__latest_reduce(struct point_map *m, const struct batch *b, size_t **latest, size_t *n);
/* Index the points [lo, hi) of b by (device, measurement, ts); the first of
 * equal keys wins. Returns 0 or -1. */
int iot__point_map_build(struct point_map *m, const struct batch *b, size_t lo, size_t hi);
/* The index of the point with that key, or (size_t)-1. */
size_t iot__point_map_find(const struct point_map *m, const struct batch *b,
                          int64_t device, const char *measurement, int64_t ts_us);
void iot__point_map_free(struct point_map *m);

#endif
