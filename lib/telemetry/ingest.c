/* ingest.c — the ingest pipeline: decode, resolve and admit a record's
 * device, submit its points. */
#include "telemetry/ingest.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static int pick_device(iot_auth *auth, const iot_record *rec, const iot_resolve_opts *o,
                       iot_device_ref *dev, iot_error *err)
{
	if (rec->api_key) {
		if (iot_auth_device_key(auth, rec->api_key, dev, err) < 0)
			return -1;
		if (rec->device_id && rec->device_id != dev->id)
			return iot_error_set(err, IOT_DENIED, "api_key does not belong to device %" PRId64, rec->device_id);
		if (o->trusted_device && o->trusted_device != dev->id)
			return iot_error_set(err, IOT_DENIED, "api_key does not belong to device %" PRId64,
			                     o->trusted_device);
		return 0;
	}
	if (o->require_key)
		return iot_error_set(err, IOT_DENIED, "missing api_key");
	int64_t id = rec->device_id ? rec->device_id : o->trusted_device;
	if (!id)
		return iot_error_set(err, IOT_REJECTED, "no device: the record names none (device_id, api_key or topic)");
	if (rec->device_id && o->trusted_device && rec->device_id != o->trusted_device)
		return iot_error_set(err, IOT_DENIED, "device_id %" PRId64 " does not match the authenticated device %" PRId64,
		                     rec->device_id, o->trusted_device);
	if (o->trusted_ref && o->trusted_ref->id == id) {
		*dev = *o->trusted_ref;
		return 0;
	}
	return iot_auth_device_id(auth, id, dev, err);
}

int iot_record_resolve(iot_auth *auth, iot_record *rec, const iot_resolve_opts *opts,
                       iot_device_ref *dev, iot_error *err)
{
	iot_device_ref d;
	if (pick_device(auth, rec, opts, &d, err) < 0)
		return -1;
	if (d.status != IOT_DEVICE_ACTIVE)
		return iot_error_set(err, IOT_REJECTED, "device %" PRId64 " is %s", d.id, iot_device_status_name(d.status));
	for (size_t i = 0; i < rec->npoints; i++)
		rec->points[i].device_id = d.id;
	if (dev)
		*dev = d;
	return 0;
}

static bool backend_failure(const iot_error *err)
{
	return err->status == IOT_UNAVAILABLE || err->status == IOT_INTERNAL;
}

enum iot_ingest_result iot_ingest_record(const iot_ingest *in, const char *buf, size_t len,
                                         const iot_resolve_opts *trust, iot_submit_cb cb,
                                         void *ctx, uint64_t tag, size_t *npoints, iot_error *err)
{
	static const iot_resolve_opts untrusted = { 0 };
	iot_record rec = { 0 };
	enum iot_ingest_result rc = IOT_INGEST_SUBMITTED;
	if (npoints)
		*npoints = 0;
	if (iot_record_decode(buf, len, in->decode, &rec, err) < 0) {
		rc = backend_failure(err) ? IOT_INGEST_FAILED : IOT_INGEST_REFUSED;
		goto out;
	}
	if (rec.note && in->note)
		in->note(in->note_arg, rec.note);
	if (iot_record_resolve(in->auth, &rec, trust ? trust : &untrusted, NULL, err) < 0) {
		rc = backend_failure(err) ? IOT_INGEST_FAILED : IOT_INGEST_REFUSED;
	} else if (in->writer &&
	           iot_writer_submit_cb(in->writer, rec.points, rec.npoints, cb, ctx, tag, err) < 0) {
		/* Whatever the writer says (even permission denied), it is not the record's fault. */
		rc = IOT_INGEST_FAILED;
	} else if (npoints) {
		*npoints = rec.npoints;
	}
out:
	iot_record_free(&rec);
	return rc;
}

static json_t *point_value(const iot_point *p)
{
	switch (p->type) {
	case IOT_VAL_NUMBER: return json_real(p->num);
	case IOT_VAL_BOOL: return json_boolean(p->boolean);
	case IOT_VAL_TEXT: return json_string(p->text);
	default: return json_loads(p->text, JSON_DECODE_ANY, NULL);
	}
}

static bool same_text(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

size_t iot_points_group(const iot_point *pts, size_t n)
{
	size_t k = 1;
	for (; k < n; k++) {
		const iot_point *p = &pts[k];
		if (p->device_id != pts[0].device_id || p->ts_us != pts[0].ts_us || !same_text(p->metadata, pts[0].metadata))
			break;
		for (size_t j = 0; j < k; j++)
			if (!strcmp(pts[j].measurement, p->measurement))
				return k;
	}
	return k;
}

char *iot_points_to_json(const iot_point *pts, size_t n)
{
	char ts[40];
	iot_format_timestamp(pts[0].ts_us, ts, sizeof ts);
	json_t *data = json_object();
	for (size_t i = 0; data && i < n; i++)
		if (json_object_set_new(data, pts[i].measurement, point_value(&pts[i])) < 0) {
			json_decref(data);
			data = NULL;
		}
	json_t *o = data ? json_pack("{s:I,s:s,s:o,s:o*}", "device_id", (json_int_t)pts[0].device_id,
	                             "timestamp", ts, "data", data,
	                             "metadata", pts[0].metadata ? json_loads(pts[0].metadata, 0, NULL) : NULL)
	                 : NULL;
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}

char *iot_point_to_json(const iot_point *p)
{
	return iot_points_to_json(p, 1);
}
