/* ingest.c — resolving and admitting a decoded record's device. */
#include "telemetry/ingest.h"

#include <inttypes.h>

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
