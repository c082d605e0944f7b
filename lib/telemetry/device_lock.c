/* device_lock.c — lock a batch's devices, reject the points of removed ones
 * (see device_lock.h). Runs on the writer thread, inside the batch's
 * transaction. */
#include "telemetry/device_lock.h"
#include "base/parse.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* FOR KEY SHARE: what a foreign key check takes. It does not block other
 * batches, last_seen updates or `iot-device set`, only a DELETE (or a
 * change of id). A device deleted before is not returned. The rows are
 * locked in id order: when a batch has to wait, behind a DELETE, it holds
 * only lower ids, as every other batch would. (A deadlock with something
 * deleting several devices in another order is still possible; PostgreSQL
 * breaks it and the batch is rerun as after any transient failure.) */
const char iot__sql_lock_devices[] =
	"SELECT id FROM devices WHERE id = ANY($1::int8[]) ORDER BY id FOR KEY SHARE";

static int by_id(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
	return (a > b) - (a < b);
}

int iot__device_lock_ids(struct device_lock *dl, const struct batch *b)
{
	if (dl->cap < b->n) {
		int64_t *p = realloc(dl->ids, b->n * sizeof *p);
		if (!p)
			return -1;
		dl->ids = p;
		dl->cap = b->n;
	}
	size_t n = 0;
	/* A record's points are adjacent: most repeats go before the sort. */
	for (size_t i = 0; i < b->n; i++)
		if (n == 0 || dl->ids[n - 1] != b->pt[i]->device_id)
			dl->ids[n++] = b->pt[i]->device_id;
	qsort(dl->ids, n, sizeof *dl->ids, by_id);
	dl->nids = 0;
	for (size_t i = 0; i < n; i++)
		if (dl->nids == 0 || dl->ids[dl->nids - 1] != dl->ids[i])
			dl->ids[dl->nids++] = dl->ids[i];
	size_t want = 3 + dl->nids * 21;   /* braces and NUL; an id is at most 20 digits, and a comma */
	if (dl->capidlist < want) {
		char *p = realloc(dl->idlist, want);
		if (!p)
			return -1;
		dl->idlist = p;
		dl->capidlist = want;
	}
	char *o = dl->idlist, *end = dl->idlist + dl->capidlist;
	*o++ = '{';
	for (size_t i = 0; i < dl->nids; i++) {
		if (i)
			*o++ = ',';
		o += iot_int_text(dl->ids[i], o);
	}
	*o++ = '}';
	*o = '\0';
	(void)end;   /* want is enough for nids ids of 20 digits */
	return 0;
}

static int live_reserve(struct batch *l, size_t n)
{
	if (l->cap >= n)
		return 0;
	const iot_point **pt = realloc(l->pt, n * sizeof *pt);
	if (pt)
		l->pt = pt;
	enum iot_point_outcome **out = pt ? realloc(l->out, n * sizeof *out) : NULL;
	if (out)
		l->out = out;
	char ***why = out ? realloc(l->why, n * sizeof *why) : NULL;
	if (!why)
		return -1;
	l->why = why;
	l->cap = n;
	return 0;
}

/* Reject the points of devices not in dl->ids; the others go into dl->live. */
static int drop_removed(struct device_lock *dl, struct batch *b, iot_error *err)
{
	struct batch *l = &dl->live;
	if (live_reserve(l, b->n) < 0)
		return iot_error_set(err, IOT_INTERNAL, "out of memory");
	l->n = 0;
	for (size_t i = 0; i < b->n; i++) {
		int64_t id = b->pt[i]->device_id;
		if (bsearch(&id, dl->ids, dl->nids, sizeof *dl->ids, by_id)) {
			l->pt[l->n] = b->pt[i];
			l->out[l->n] = b->out[i];
			l->why[l->n++] = b->why[i];
			continue;
		}
		char why[64];
		snprintf(why, sizeof why, "unknown device %" PRId64 " (removed)", id);
		*b->out[i] = IOT_POINT_REJECTED;
		free(*b->why[i]);
		if (!(*b->why[i] = strdup(why)))
			return iot_error_set(err, IOT_INTERNAL, "out of memory");
	}
	return 0;
}

int iot__device_lock(iot_db *db, struct device_lock *dl, struct batch *b, struct batch **use,
                     iot_error *err)
{
	*use = b;
	if (b->n == 0)
		return 0;
	if (iot__device_lock_ids(dl, b) < 0)
		return iot_error_set(err, IOT_INTERNAL, "out of memory");
	const char *p[] = { dl->idlist };
	PGresult *r = iot_db_query(db, iot__sql_lock_devices, 1, p, err);
	if (!r)
		return -1;
	size_t n = (size_t)PQntuples(r);
	if (n == dl->nids) {
		PQclear(r);
		return 0;
	}
	/* The rows are the devices still there, ascending: a subset of ids. */
	for (size_t i = 0; i < n; i++)
		dl->ids[i] = strtoll(PQgetvalue(r, (int)i, 0), NULL, 10);
	dl->nids = n;
	PQclear(r);
	*use = &dl->live;
	return drop_removed(dl, b, err);
}

void iot__device_lock_free(struct device_lock *dl)
{
	free(dl->ids);
	free(dl->idlist);
	free(dl->live.pt);
	free(dl->live.out);
	free(dl->live.why);
	memset(dl, 0, sizeof *dl);
}
