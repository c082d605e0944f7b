/* pg_binary.c — binary COPY rows for telemetry points; key maps over a batch. */
#include "telemetry/pg_binary.h"

#include <stdlib.h>
#include <string.h>

/* PostgreSQL timestamps count microseconds from 2000-01-01T00:00:00Z. */
#define PG_EPOCH_US 946684800000000LL

static void reserve(struct copy_buf *b, size_t more)
{
	if (b->len + more <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 65536;
	while (cap < b->len + more)
		cap *= 2;
	char *p = realloc(b->data, cap);
	if (!p) {
		b->oom = true;
		return;
	}
	b->data = p;
	b->cap = cap;
}

static void put(struct copy_buf *b, const void *p, size_t n)
{
	reserve(b, n);
	if (b->oom)
		return;
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void put16(struct copy_buf *b, uint16_t v)
{
	unsigned char x[2] = { (unsigned char)(v >> 8), (unsigned char)v };
	put(b, x, 2);
}

static void put32(struct copy_buf *b, uint32_t v)
{
	unsigned char x[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
	                       (unsigned char)(v >> 8), (unsigned char)v };
	put(b, x, 4);
}

static void put64(struct copy_buf *b, uint64_t v)
{
	put32(b, (uint32_t)(v >> 32));
	put32(b, (uint32_t)v);
}

static void put_null(struct copy_buf *b) { put32(b, 0xFFFFFFFFu); }

static void put_text(struct copy_buf *b, const char *s)
{
	size_t n = strlen(s);
	put32(b, (uint32_t)n);
	put(b, s, n);
}

/* jsonb's binary input is a version byte (1) followed by the JSON text. */
static void put_jsonb(struct copy_buf *b, const char *s)
{
	size_t n = strlen(s);
	put32(b, (uint32_t)n + 1);
	put(b, "\1", 1);
	put(b, s, n);
}

/* Field i (0..7) of a point, as a length-prefixed binary value or NULL.
 * Returns whether it was NULL. */
static bool put_field(struct copy_buf *b, const iot_point *p, int i)
{
	switch (i) {
	case 0:
		iot__copy_int4(b, (int32_t)p->device_id);
		return false;
	case 1:
		put_text(b, p->measurement);
		return false;
	case 2:
		iot__copy_timestamptz(b, p->ts_us);
		return false;
	case 3:
		if (p->type != IOT_VAL_NUMBER)
			break;
		iot__copy_float8(b, p->num);
		return false;
	case 4:
		if (p->type != IOT_VAL_TEXT)
			break;
		put_text(b, p->text);
		return false;
	case 5:
		if (p->type != IOT_VAL_BOOL)
			break;
		put32(b, 1);
		put(b, p->boolean ? "\1" : "\0", 1);
		return false;
	case 6:
		if (p->type != IOT_VAL_JSON)
			break;
		put_jsonb(b, p->text);
		return false;
	default:
		if (!p->metadata)
			break;
		put_jsonb(b, p->metadata);
		return false;
	}
	put_null(b);
	return true;
}

void iot__copy_row(struct copy_buf *b, int nfields) { put16(b, (uint16_t)nfields); }

void iot__copy_int4(struct copy_buf *b, int32_t v)
{
	put32(b, 4);
	put32(b, (uint32_t)v);
}

void iot__copy_int8(struct copy_buf *b, int64_t v)
{
	put32(b, 8);
	put64(b, (uint64_t)v);
}

void iot__copy_float8(struct copy_buf *b, double v)
{
	uint64_t bits;
	memcpy(&bits, &v, 8);
	put32(b, 8);
	put64(b, bits);
}

void iot__copy_text(struct copy_buf *b, const char *s) { put_text(b, s); }

void iot__copy_timestamptz(struct copy_buf *b, int64_t ts_us) { iot__copy_int8(b, ts_us - PG_EPOCH_US); }

void iot__copy_begin(struct copy_buf *b)
{
	b->len = 0;
	b->oom = false;
	put(b, "PGCOPY\n\377\r\n\0", 11);
	put32(b, 0); /* flags */
	put32(b, 0); /* header extension length */
}

void iot__copy_end(struct copy_buf *b)
{
	put16(b, 0xFFFF);
}

void iot__copy_point(struct copy_buf *b, const iot_point *p, int32_t idx, bool with_metadata)
{
	int n = with_metadata ? 8 : 7;
	put16(b, (uint16_t)(n + (idx >= 0)));
	if (idx >= 0) {
		put32(b, 4);
		put32(b, (uint32_t)idx);
	}
	for (int i = 0; i < n; i++)
		put_field(b, p, i);
}

void iot__array_begin(struct copy_buf *b, uint32_t elem_oid, size_t n)
{
	put32(b, 1);        /* dimensions */
	put32(b, 1);        /* may hold NULLs (the server looks at each element) */
	put32(b, elem_oid);
	put32(b, (uint32_t)n);
	put32(b, 1);        /* lower bound */
}

void iot__copy_point_field(struct copy_buf *b, const iot_point *p, int col) { put_field(b, p, col); }

uint32_t iot__point_field_oid(int col)
{
	static const uint32_t oid[8] = { IOT_OID_INT4, IOT_OID_TEXT, IOT_OID_TIMESTAMPTZ, IOT_OID_FLOAT8,
	                                 IOT_OID_TEXT, IOT_OID_BOOL, IOT_OID_JSONB, IOT_OID_JSONB };
	return oid[col];
}

static uint64_t key_hash(int64_t device, const char *measurement, int64_t ts_us)
{
	uint64_t h = 1469598103934665603ULL ^ (uint64_t)device * 0x9E3779B97F4A7C15ULL;
	h ^= (uint64_t)ts_us * 0xC2B2AE3D27D4EB4FULL;
	for (const unsigned char *s = (const unsigned char *)measurement; *s; s++)
		h = (h ^ *s) * 1099511628211ULL;
	return h ^ (h >> 29);
}

static int map_reset(struct point_map *m, size_t n)
{
	size_t want = 16;
	while (want < n * 2)
		want *= 2;
	if (m->size < want) {
		free(m->slot);
		m->slot = malloc(want * sizeof *m->slot);
		m->size = m->slot ? want : 0;
		if (!m->slot)
			return -1;
	}
	memset(m->slot, 0, m->size * sizeof *m->slot);
	return 0;
}

int iot__latest_reduce(struct point_map *m, const struct batch *b, size_t **latest, size_t *n)
{
	size_t *list = realloc(*latest, (b->n ? b->n : 1) * sizeof *list);
	if (!list || map_reset(m, b->n) < 0)
		return -1;
	*latest = list;
	size_t count = 0;
	for (size_t i = 0; i < b->n; i++) {
		if (*b->out[i] != IOT_POINT_STORED)
			continue;
		const iot_point *p = b->pt[i];
		size_t h = (size_t)key_hash(p->device_id, p->measurement, 0) & (m->size - 1);
		const iot_point *q;
		while (m->slot[h] && ((q = b->pt[list[m->slot[h] - 1]])->device_id != p->device_id ||
		                      strcmp(q->measurement, p->measurement)))
			h = (h + 1) & (m->size - 1);
		if (!m->slot[h]) {
			list[count++] = i;
			m->slot[h] = count;
		} else if (b->pt[list[m->slot[h] - 1]]->ts_us < p->ts_us) {
			list[m->slot[h] - 1] = i;
		}
	}
	*n = count;
	return 0;
}

static bool same(const iot_point *p, int64_t device, const char *measurement, int64_t ts_us)
{
	return p->device_id == device && p->ts_us == ts_us && !strcmp(p->measurement, measurement);
}

int iot__point_map_build(struct point_map *m, const struct batch *b, size_t lo, size_t hi)
{
	if (map_reset(m, hi - lo) < 0)
		return -1;
	for (size_t i = lo; i < hi; i++) {
		const iot_point *p = b->pt[i];
		size_t h = (size_t)key_hash(p->device_id, p->measurement, p->ts_us) & (m->size - 1);
		while (m->slot[h] && !same(b->pt[m->slot[h] - 1], p->device_id, p->measurement, p->ts_us))
			h = (h + 1) & (m->size - 1);
		if (!m->slot[h])
			m->slot[h] = i + 1;
	}
	return 0;
}

size_t iot__point_map_find(const struct point_map *m, const struct batch *b,
                          int64_t device, const char *measurement, int64_t ts_us)
{
	size_t h = (size_t)key_hash(device, measurement, ts_us) & (m->size - 1);
	while (m->slot[h]) {
		if (same(b->pt[m->slot[h] - 1], device, measurement, ts_us))
			return m->slot[h] - 1;
		h = (h + 1) & (m->size - 1);
	}
	return (size_t)-1;
}

void iot__point_map_free(struct point_map *m)
{
	free(m->slot);
	m->slot = NULL;
	m->size = 0;
}
