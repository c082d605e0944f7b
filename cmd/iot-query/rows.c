/* rows.c — range, latest, lastpoint and aggregate: the library's rows on
 * stdout, as they are (NDJSON) or as flat rows for csv and table. */
#include <stdlib.h>
#include <string.h>

#include "base/json_util.h"
#include "cli/cli.h"
#include "iot-query.h"
#include "registry/device.h"
#include "registry/user.h"

enum shape {
	SHAPE_PLAIN,   /* aggregate buckets: one row each */
	SHAPE_RECORD,  /* range records: a column per measurement */
	SHAPE_LATEST   /* latest objects: a row per measurement */
};

struct sink {
	iot_output *out;
	enum iot_format fmt;
	enum shape shape;
	const char *const *names;   /* SHAPE_RECORD: the measurements, in column order */
	char **labels;              /*   ... and their column names */
	size_t nnames;
	bool metadata;              /* SHAPE_RECORD: a metadata column */
	bool device_name;           /* SHAPE_LATEST: a device_name column (lastpoint) */
	bool write_failed;
};

/* A value for a cell: a number in its shortest exact form (jansson would
 * write 0.1 as 0.10000000000000001), anything else as it is. */
static json_t *cell(json_t *v)
{
	if (!json_is_real(v))
		return json_incref(v);
	char buf[40];
	size_t n = iot_json_real_text(json_real_value(v), buf, sizeof buf);
	return json_stringn(buf, n);
}

static int put(struct sink *s, json_t *row)
{
	int rc = row ? iot_output_row(s->out, row) : -1;
	json_decref(row);
	if (rc < 0)
		s->write_failed = true;
	return rc;
}

static int put_record(struct sink *s, json_t *rec)
{
	json_t *row = json_object(), *m = json_object_get(rec, "measurements");
	json_object_set(row, "timestamp", json_object_get(rec, "timestamp"));
	for (size_t i = 0; i < s->nnames; i++) {
		json_t *v = json_object_get(m, s->names[i]);
		if (v)
			json_object_set_new(row, s->labels[i], cell(v));
	}
	if (s->metadata && json_object_get(rec, "metadata"))
		json_object_set(row, "metadata", json_object_get(rec, "metadata"));
	return put(s, row);
}

static int put_latest(struct sink *s, json_t *obj)
{
	const char *name;
	json_t *m;
	json_object_foreach(json_object_get(obj, "measurements"), name, m) {
		json_t *row = json_object();
		json_object_set(row, "device_id", json_object_get(obj, "device_id"));
		if (s->device_name)
			json_object_set(row, "device_name", json_object_get(obj, "device_name"));
		json_object_set_new(row, "measurement", json_string(name));
		json_object_set_new(row, "value", cell(json_object_get(m, "value")));
		json_object_set(row, "timestamp", json_object_get(m, "timestamp"));
		if (put(s, row) < 0)
			return -1;
	}
	return 0;
}

static int sink_row(void *arg, json_t *row)
{
	struct sink *s = arg;
	if (s->fmt == IOT_FMT_NDJSON) {
		if (iot_output_row(s->out, row) < 0) {
			s->write_failed = true;
			return -1;
		}
		return 0;
	}
	switch (s->shape) {
	case SHAPE_RECORD: return put_record(s, row);
	case SHAPE_LATEST: return put_latest(s, row);
	case SHAPE_PLAIN: break;
	}
	json_t *copy = json_copy(row);
	if (copy)
		json_object_set_new(copy, "value", cell(json_object_get(row, "value")));
	return put(s, copy);
}

/* An NDJSON line written by the library (lastpoint); flushed by finish. */
static int sink_text(void *arg, const char *text, size_t len)
{
	struct sink *s = arg;
	if (fwrite(text, 1, len, stdout) != len || putchar('\n') == EOF) {
		s->write_failed = true;
		return -1;
	}
	return 0;
}

/* Flush the output; the exit code for a call that returned n. */
static int finish(struct sink *s, int n, const iot_error *err)
{
	if (iot_output_finish(s->out) < 0 || s->write_failed)
		return q_write_error();
	return n < 0 ? q_fail(err) : 0;
}

static int sink_open(struct sink *s, const struct q_opts *o, enum shape shape, const char *const *cols)
{
	s->fmt = o->format;
	s->shape = shape;
	s->out = iot_output_new(stdout, o->format, cols);
	if (!s->out) {
		iot_fatal("out of memory");
		return -1;
	}
	return 0;
}

int q_resolve_devices(iot_registry *reg, const struct q_opts *o, int64_t **ids, iot_error *err)
{
	*ids = calloc(o->ndevices ? o->ndevices : 1, sizeof **ids);
	if (!*ids)
		return iot_error_set(err, IOT_INTERNAL, "out of memory");
	for (size_t i = 0; i < o->ndevices; i++)
		if (iot_device_resolve(reg, o->devices[i], &(*ids)[i], err) < 0)
			return -1;
	return 0;
}

static int strcmp_p(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A measurement whose column is "measurements.NAME": "timestamp" and
 * "metadata" (where they are in the NDJSON record), and a name that begins
 * "measurements.", which could otherwise take the column of one of them. */
static bool column_clash(const char *name)
{
	return !strcmp(name, "timestamp") || !strcmp(name, "metadata") ||
	       !strncmp(name, "measurements.", strlen("measurements."));
}

/* csv, table: the measurements as columns: those asked for, in order, or
 * the device's (from its latest values), sorted; no two share a column
 * (column_clash). Returns the column list (NULL-terminated), or NULL. */

static const char **record_columns(iot_registry *reg, int64_t dev, const struct q_opts *o,
                                   struct sink *s, json_t **keep, iot_error *err)
{
	const char **names = NULL;
	size_t n = o->nmeasurements;
	if (n) {
		names = malloc(n * sizeof *names);
		if (names)
			memcpy(names, o->measurements, n * sizeof *names);
	} else {
		iot_error none = { 0 };
		*keep = iot_query_latest(reg->db, dev, &none);
		if (!*keep && none.status != IOT_NOT_FOUND) {
			*err = none;
			return NULL;
		}
		json_t *all = json_object_get(*keep, "measurements");
		names = malloc((json_object_size(all) + 1) * sizeof *names);
		const char *k;
		json_t *v;
		json_object_foreach(all, k, v)
			if (names)
				names[n++] = k;
		if (names)
			qsort(names, n, sizeof *names, strcmp_p);
	}
	const char **cols = calloc(n + 3, sizeof *cols);
	s->labels = calloc(n + 1, sizeof *s->labels);
	if (!names || !cols || !s->labels) {
		free(names);
		free(cols);
		iot_error_set(err, IOT_INTERNAL, "out of memory");
		return NULL;
	}
	cols[0] = "timestamp";
	for (size_t i = 0; i < n; i++) {
		if (asprintf(&s->labels[i], "%s%s", column_clash(names[i]) ? "measurements." : "", names[i]) < 0)
			s->labels[i] = NULL;
		cols[i + 1] = s->labels[i] ? s->labels[i] : names[i];
	}
	if (o->metadata)
		cols[n + 1] = "metadata";
	s->names = names;
	s->nnames = n;
	s->metadata = o->metadata;
	return cols;
}

int q_range(iot_registry *reg, const struct q_opts *o)
{
	iot_error err = { 0 };
	int64_t dev;
	if (iot_device_resolve(reg, o->devices[0], &dev, &err) < 0)
		return q_fail(&err);
	struct sink s = { 0 };
	json_t *keep = NULL;
	const char **cols = NULL;
	if (o->format != IOT_FMT_NDJSON && !(cols = record_columns(reg, dev, o, &s, &keep, &err)))
		return q_fail(&err);
	int rc = IOT_INTERNAL;
	if (sink_open(&s, o, SHAPE_RECORD, cols) == 0) {
		iot_range_req req = { .device_id = dev, .start_us = o->since_us, .end_us = o->until_us,
		                      .measurements = o->measurements, .nmeasurements = o->nmeasurements,
		                      .limit = o->limit_n, .ascending = o->ascending, .metadata = o->metadata };
		rc = finish(&s, iot_query_range(reg->db, &req, sink_row, &s, &err), &err);
	}
	for (size_t i = 0; s.labels && i < s.nnames; i++)
		free(s.labels[i]);
	free(s.labels);
	free((void *)s.names);
	free(cols);
	json_decref(keep);
	return rc;
}

int q_latest(iot_registry *reg, const struct q_opts *o)
{
	static const char *const cols[] = { "device_id", "measurement", "value", "timestamp", NULL };
	iot_error err = { 0 };
	int64_t dev;
	if (iot_device_resolve(reg, o->devices[0], &dev, &err) < 0)
		return q_fail(&err);
	json_t *obj = iot_query_latest(reg->db, dev, &err);
	if (!obj)
		return q_fail(&err);
	struct sink s = { 0 };
	int rc = IOT_INTERNAL;
	if (sink_open(&s, o, SHAPE_LATEST, cols) == 0)
		rc = finish(&s, sink_row(&s, obj), &err);
	json_decref(obj);
	return rc;
}

int q_lastpoint(iot_registry *reg, const struct q_opts *o)
{
	static const char *const cols[] = { "device_id", "device_name", "measurement", "value",
		"timestamp", NULL };
	iot_error err = { 0 };
	int64_t *ids = NULL, owner = 0;
	int rc = IOT_INTERNAL;
	if (q_resolve_devices(reg, o, &ids, &err) < 0)
		goto fail;
	if (o->owner) {
		json_t *u = NULL;
		if (iot_user_show(reg, o->owner, &u, &err) < 0)
			goto fail;
		owner = json_integer_value(json_object_get(u, "id"));
		json_decref(u);
	}
	struct sink s = { .device_name = true };
	if (sink_open(&s, o, SHAPE_LATEST, cols) == 0) {
		iot_lastpoint_req req = { .device_ids = ids, .ndevices = o->ndevices, .owner_id = owner,
		                          .device_type = o->type };
		/* NDJSON: the library's text as it is (the fleet's objects are not built). */
		int n = o->format == IOT_FMT_NDJSON ? iot_query_lastpoint_text(reg->db, &req, sink_text, &s, &err)
		                                    : iot_query_lastpoint(reg->db, &req, sink_row, &s, &err);
		rc = finish(&s, n, &err);
	}
	free(ids);
	return rc;
fail:
	free(ids);
	return q_fail(&err);
}

int q_aggregate(iot_registry *reg, const struct q_opts *o)
{
	static const char *const cols[] = { "timestamp", "value", "count", NULL };
	iot_error err = { 0 };
	int64_t dev;
	if (iot_device_resolve(reg, o->devices[0], &dev, &err) < 0)
		return q_fail(&err);
	struct sink s = { 0 };
	if (sink_open(&s, o, SHAPE_PLAIN, cols) < 0)
		return IOT_INTERNAL;
	iot_aggregate_req req = { .device_id = dev, .measurement = o->measurements[0], .fn = o->agg_fn,
	                          .window_us = o->window_us, .start_us = o->since_us, .end_us = o->until_us,
	                          .fill = o->agg_fill, .ascending = o->ascending };
	return finish(&s, iot_query_aggregate(reg->db, &req, sink_row, &s, &err), &err);
}
