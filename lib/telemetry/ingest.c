/* ingest.c — the ingest pipeline: decode, resolve and admit a record's
 * device, submit its points. */
#include "telemetry/ingest.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>

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
	} else if (iot_record_resolve(in->auth, &rec, trust ? trust : &untrusted, NULL, err) < 0) {
		rc = backend_failure(err) ? IOT_INGEST_FAILED : IOT_INGEST_REFUSED;
	} else if (in->writer &&
	           iot_writer_submit_cb(in->writer, rec.points, rec.npoints, cb, ctx, tag, err) < 0) {
		/* Whatever the writer says (even permission denied), it is not the record's fault. */
		rc = IOT_INGEST_FAILED;
	} else if (npoints) {
		*npoints = rec.npoints;
	}
	iot_record_free(&rec);
	return rc;
}

char *iot_point_to_json(const iot_point *p)
{
	char ts[40];
	iot_format_timestamp(p->ts_us, ts, sizeof ts);
	json_t *v;
	switch (p->type) {
	case IOT_VAL_NUMBER: v = json_real(p->num); break;
	case IOT_VAL_BOOL: v = json_boolean(p->boolean); break;
	case IOT_VAL_TEXT: v = json_string(p->text); break;
	default: v = json_loads(p->text, JSON_DECODE_ANY, NULL); break;
	}
	json_t *o = json_pack("{s:I,s:s,s:{s:o?},s:o?}", "device_id", (json_int_t)p->device_id,
	                      "timestamp", ts, "data", p->measurement, v,
	                      "metadata", p->metadata ? json_loads(p->metadata, 0, NULL) : NULL);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}
