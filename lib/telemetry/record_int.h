/* record_int.h — what the record decoder (record.c), its mosquitto shape
 * (record_mosquitto.c), its device payloads (record_device.c) and its text
 * helpers (record_text.c) share. Not part
 * of the public API. */
#ifndef IOT_RECORD_INT_H
#define IOT_RECORD_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/json_util.h"
#include "telemetry/record.h"

#define INLINE_POINTS 8 /* most records carry a handful of points */
#define IOT_REC_TEXT_MAX 4096 /* bytes of a text or JSON value, or of metadata */

/* A copy the record owns: metadata or a JSON value as compact text. */
struct owned {
	struct owned *next;
	char text[];
};

struct dec_store {
	json_t *root;
	json_t *payload;     /* a mosquitto payload that arrived as a JSON string, parsed */
	struct owned *owned;
	iot_point *heap;     /* points, once they outgrow inline_pts */
	json_t *md_obj;      /* device payloads: the record's metadata as an object */
	char note[IOT_ERRMSG_MAX];
	iot_point inline_pts[INLINE_POINTS];
};

/* One decode call in progress. */
struct dec {
	const iot_decode_opts *o;
	iot_record *rec;
	struct dec_store *st;
	iot_error *err;
	iot_point *pts;
	size_t cap;
	int64_t now_us;      /* 0 until first needed */
	int64_t fallback_ts; /* tst of a mosquitto line */
	bool have_fallback;
};

/* Reject the record being decoded: sets d->err, returns -1. */
#define reject(d, ...) iot_error_set((d)->err, IOT_REJECTED, __VA_ARGS__)

/* Shared by the decoder's files: see record.c. */
int iot__rec_prefix_error(iot_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int64_t iot__rec_parse_id(const char *s, size_t n);
int iot__rec_parse_text(struct dec *d, const char *s, size_t n, bool any, json_t **out);
int iot__rec_decode_shape(struct dec *d, json_t *v, enum iot_input_format fmt, bool envelope);
int iot__rec_decode_mosquitto(struct dec *d, json_t *env);
/* record_thingsboard.c: shape (d), one object or an array of them. */
int iot__rec_decode_tb_object(struct dec *d, json_t *obj);
int iot__rec_decode_tb_array(struct dec *d, json_t *arr);
/* record.c, for the shapes: a timestamp member (NULL: the arrival time)
 * checked against the limits; room for n more points; one point. */
int iot__rec_check_range(struct dec *d, int64_t t);
int iot__rec_record_ts(struct dec *d, json_t *v, int64_t *t);
int iot__rec_reserve(struct dec *d, size_t n);
int iot__rec_add_point(struct dec *d, const char *name, json_t *v, int64_t ts, const char *md);
/* The arrival time (opts->now_us, or the clock, read once per record). */
int64_t iot__rec_now(struct dec *d);
/* record_device.c: DEVICE PAYLOADS. */
bool iot__rec_describes(const char *member);
int iot__rec_device_metadata(struct dec *d, json_t *obj, json_t *meta, const char **md);
int iot__rec_device_reading(struct dec *d, const char *name, json_t **v, const char **md);
int iot__rec_device_ts(struct dec *d, json_t *v, int64_t *t);

/* v as compact JSON text owned by the record (d->st), or NULL with the
 * error set (over IOT_REC_TEXT_MAX, out of memory). name says whose value it
 * is, for the message (NULL: the metadata). */
const char *iot__rec_dump_owned(struct dec *d, json_t *v, const char *name);

#endif
