/* copy_buf.c — binary COPY rows for telemetry points; newest point per key. */
#include "copy_buf.h"

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

static void put_int4(struct copy_buf *b, int32_t v)
{
	put32(b, 4);
	put32(b, (uint32_t)v);
}

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

void copy_begin(struct copy_buf *b)
{
	b->len = 0;
	b->oom = false;
	put(b, "PGCOPY\n\377\r\n\0", 11);
	put32(b, 0); /* flags */
	put32(b, 0); /* header extension length */
}

void copy_end(struct copy_buf *b)
{
	put16(b, 0xFFFF);
}

void copy_point(struct copy_buf *b, const iot_point *p, int32_t idx, bool with_metadata)
{
	put16(b, (uint16_t)((idx >= 0) + 7 + with_metadata));
	if (idx >= 0)
		put_int4(b, idx);
	put_int4(b, (int32_t)p->device_id);
	put_text(b, p->measurement);
	put32(b, 8);
	put64(b, (uint64_t)(p->ts_us - PG_EPOCH_US));
	if (p->type == IOT_VAL_NUMBER) {
		uint64_t bits;
		memcpy(&bits, &p->num, 8);
		put32(b, 8);
		put64(b, bits);
	} else {
		put_null(b);
	}
	if (p->type == IOT_VAL_TEXT)
		put_text(b, p->text);
	else
		put_null(b);
	if (p->type == IOT_VAL_BOOL) {
		put32(b, 1);
		put(b, p->boolean ? "\1" : "\0", 1);
	} else {
		put_null(b);
	}
	if (p->type == IOT_VAL_JSON)
		put_jsonb(b, p->text);
	else
		put_null(b);
	if (with_metadata) {
		if (p->metadata)
			put_jsonb(b, p->metadata);
		else
			put_null(b);
	}
}

static uint64_t key_hash(const iot_point *p)
{
	uint64_t h = 1469598103934665603ULL ^ (uint64_t)p->device_id * 0x9E3779B97F4A7C15ULL;
	for (const unsigned char *s = (const unsigned char *)p->measurement; *s; s++)
		h = (h ^ *s) * 1099511628211ULL;
	return h ^ (h >> 29);
}

static bool same_key(const iot_point *a, const iot_point *b)
{
	return a->device_id == b->device_id && !strcmp(a->measurement, b->measurement);
}

int iot_latest_reduce(struct latest_map *m, const struct batch *b, size_t **latest, size_t *n)
{
	size_t want = 16;
	while (want < b->n * 2)
		want *= 2;
	if (m->size < want) {
		free(m->slot);
		m->slot = malloc(want * sizeof *m->slot);
		m->size = m->slot ? want : 0;
		if (!m->slot)
			return -1;
	}
	memset(m->slot, 0, m->size * sizeof *m->slot);
	size_t *list = realloc(*latest, (b->n ? b->n : 1) * sizeof *list);
	if (!list)
		return -1;
	*latest = list;
	size_t count = 0;
	for (size_t i = 0; i < b->n; i++) {
		if (*b->out[i] != IOT_POINT_STORED)
			continue;
		const iot_point *p = b->pt[i];
		size_t h = (size_t)key_hash(p) & (m->size - 1);
		while (m->slot[h] && !same_key(b->pt[list[m->slot[h] - 1]], p))
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

void iot_latest_map_free(struct latest_map *m)
{
	free(m->slot);
	m->slot = NULL;
	m->size = 0;
}
