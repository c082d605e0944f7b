/* flask_history.c — the old device id map, and the Flask database's own
 * telemetry_data streamed into the batch writer (import.h). */
#include "import/import_int.h"
#include "import/history_int.h"
#include "telemetry/record.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pair {
	int64_t old_id, new_id;
};

struct iot_device_map {
	struct pair *v;
	size_t n;
};

iot_device_map *iot_device_map_load(iot_db *db, iot_error *err)
{
	PGresult *r = iot_db_exec(db, "SELECT old_id, new_id FROM flask_import WHERE kind = 'device' ORDER BY old_id",
	                          0, NULL, err);
	if (!r)
		return NULL;
	iot_device_map *m = calloc(1, sizeof *m);
	size_t n = (size_t)PQntuples(r);
	if (m && n && !(m->v = malloc(n * sizeof *m->v))) {
		free(m);
		m = NULL;
	}
	for (size_t i = 0; m && i < n; i++) {
		m->v[i].old_id = strtoll(PQgetvalue(r, (int)i, 0), NULL, 10);
		m->v[i].new_id = strtoll(PQgetvalue(r, (int)i, 1), NULL, 10);
	}
	if (m)
		m->n = n;
	PQclear(r);
	if (!m)
		iot_error_set(err, IOT_INTERNAL, "out of memory");
	return m;
}

int64_t iot_device_map_get(const iot_device_map *m, int64_t old_id)
{
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->v[mid].old_id == old_id)
			return m->v[mid].new_id;
		if (m->v[mid].old_id < old_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

void iot_device_map_free(iot_device_map *m)
{
	if (m)
		free(m->v);
	free(m);
}

#define FETCH_ROWS 10000
/* PostgreSQL's binary timestamptz counts from 2000-01-01 UTC. */
#define PG_EPOCH_US 946684800000000LL

static uint64_t be64(const char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | (unsigned char)p[i];
	return v;
}

static int64_t be_int(const char *p, int len)
{
	if (len == 8)
		return (int64_t)be64(p);
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v = v << 8 | (unsigned char)p[i];
	return (int32_t)v;
}

/* One FETCH worth of rows into points; the rest is rejected here. */
static int fetch_rows(PGresult *r, const iot_device_map *map, struct iot__hist *h, iot_point *pts,
                      size_t *np)
{
	char where[48];
	*np = 0;
	for (int i = 0; i < PQntuples(r); i++) {
		h->c->read++;
		int64_t rowid = be_int(PQgetvalue(r, i, 0), PQgetlength(r, i, 0));
		int64_t old_dev = be_int(PQgetvalue(r, i, 1), PQgetlength(r, i, 1));
		const char *name = PQgetvalue(r, i, 3);
		uint64_t bits = be64(PQgetvalue(r, i, 4));
		double v;
		memcpy(&v, &bits, sizeof v);
		int64_t dev = iot_device_map_get(map, old_dev);
		char why[96];
		snprintf(where, sizeof where, "telemetry_data id %lld", (long long)rowid);
		if (!dev)
			snprintf(why, sizeof why, "device %lld was not imported", (long long)old_dev);
		else if (!iot_measurement_name_valid(name, (size_t)PQgetlength(r, i, 3)))
			snprintf(why, sizeof why, "invalid measurement name (1..64 of [A-Za-z0-9_.:/-])");
		else if (!isfinite(v))
			snprintf(why, sizeof why, "value is not a finite number");
		else
			why[0] = '\0';
		if (why[0]) {
			iot__hist_reject(h, where, 0, why);
			continue;
		}
		iot_point *p = &pts[(*np)++];
		memset(p, 0, sizeof *p);
		p->device_id = dev;
		p->ts_us = (int64_t)be64(PQgetvalue(r, i, 2)) + PG_EPOCH_US;
		p->measurement = name;
		p->type = IOT_VAL_NUMBER;
		p->num = v;
		if (!iot__hist_admit(h, p, where, 0))
			(*np)--;
	}
	return 0;
}

int iot_flask_history_import(iot_db *old, const iot_device_map *map, iot_writer *w, int64_t max_future_us,
                             iot_reject_cb rej, void *ctx, iot_history_counts *c, iot_error *err)
{
	struct iot__hist h;
	iot__hist_init(&h, w, rej, ctx, c, max_future_us);
	iot_point *pts = malloc(FETCH_ROWS * sizeof *pts);
	if (!pts)
		return iot_error_set(err, IOT_INTERNAL, "out of memory");
	int rc = iot_db_command(old, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, err);
	if (rc == 0)
		rc = iot_db_command(old, "DECLARE flask_history NO SCROLL CURSOR FOR SELECT id::int8, device_id::int8,"
		                    " \"timestamp\", measurement_name::text, numeric_value::float8 FROM telemetry_data",
		                    0, NULL, err);
	while (rc == 0) {
		PGresult *r = iot_db_query_binary(old, "FETCH 10000 FROM flask_history", 0, NULL, err);
		if (!r) {
			rc = -1;
			break;
		}
		size_t n = 0;
		int rows = PQntuples(r);
		fetch_rows(r, map, &h, pts, &n);
		/* The writer copies the points (and their names) when they are submitted. */
		if (n && iot__hist_submit(&h, pts, n, err) < 0)
			rc = -1;
		PQclear(r);
		if (rows == 0)
			break;
	}
	iot_error e;
	iot_db_command(old, "ROLLBACK", 0, NULL, &e);
	free(pts);
	if (iot__hist_finish(&h, rc == 0 ? err : &e) < 0)
		rc = -1;
	return rc;
}
