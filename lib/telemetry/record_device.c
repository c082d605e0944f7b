/* record_device.c — the record decoder's DEVICE PAYLOADS (opts->device):
 * what the Flask firmware and simulator send, taken leniently. The rules
 * are in the specification at the top of record.c. */
#include <stdio.h>
#include <string.h>

#include "base/timestamp.h"
#include "telemetry/record_int.h"

/* Members that describe the device, not readings. */
static const char *const describing[] = { "device_name", "device_type", "location" };
#define NDESCRIBING (sizeof describing / sizeof describing[0])

bool iot__rec_describes(const char *k)
{
	for (size_t i = 0; i < NDESCRIBING; i++)
		if (!strcmp(k, describing[i]))
			return true;
	return false;
}

static bool in_range(struct dec *d, int64_t t)
{
	int64_t now = iot__rec_now(d), fut = d->o->max_future_us;
	return t >= d->o->min_ts_us && !(fut >= 0 && now <= INT64_MAX - fut && t > now + fut);
}

/* Device payloads: what the Flask service took, else the arrival time and
 * a note (DEVICE PAYLOADS). */
int iot__rec_device_ts(struct dec *d, json_t *v, int64_t *t)
{
	struct iot_shown sh;
	char shown[IOT_SHOW_MAX * 4 + 16];
	const char *why = NULL;
	if (json_is_string(v)) {
		why = iot_timestamp_parse_device(json_string_value(v), json_string_length(v), t);
		snprintf(shown, sizeof shown, "\"%s\"", iot_show(&sh, json_string_value(v), json_string_length(v), true));
	} else {
		snprintf(shown, sizeof shown, "%.15g", json_number_value(v));
		if (!json_is_number(v) || iot_timestamp_device_num(json_number_value(v), t) < 0)
			why = json_is_number(v) ? "is not a positive epoch time" : "is not a string or a number";
	}
	if (!why && !in_range(d, *t))
		why = "is before the earliest or too far in the future";
	if (!why)
		return 0;
	*t = d->have_fallback ? d->fallback_ts : iot__rec_now(d);
	snprintf(d->st->note, sizeof d->st->note, "timestamp %s %s: stored with the arrival time", shown, why);
	return 0;
}

/* Device payloads: the record's metadata, with what describes the device
 * and without a key; kept as an object for the points' units. */
int iot__rec_device_metadata(struct dec *d, json_t *obj, json_t *meta, const char **md)
{
	*md = NULL;
	if (meta && !json_is_object(meta))
		return reject(d, "metadata must be an object");
	json_t *m = meta ? json_copy(meta) : json_object();
	if (!m)
		return iot_error_set(d->err, IOT_INTERNAL, "out of memory");
	d->st->md_obj = m;
	json_object_del(m, "api_key");
	for (size_t i = 0; i < NDESCRIBING; i++) {
		json_t *v = json_object_get(obj, describing[i]);
		if (v && !json_object_get(m, describing[i]) && json_object_set(m, describing[i], v) < 0)
			return iot_error_set(d->err, IOT_INTERNAL, "out of memory");
	}
	if (json_object_size(m) == 0)
		return 0;
	*md = iot__rec_dump_owned(d, m, NULL);
	return *md ? 0 : -1;
}

/* Device payloads: a reading {"value":V,"unit":U,...} is V, with U in its
 * point's metadata; a null reading is skipped (*v NULL). */
int iot__rec_device_reading(struct dec *d, const char *name, json_t **v, const char **md)
{
	if (json_is_object(*v) && json_object_get(*v, "value")) {
		json_t *unit = json_object_get(*v, "unit");
		*v = json_object_get(*v, "value");
		if (json_is_string(unit) && !json_is_null(*v)) {
			json_t *m = d->st->md_obj ? json_copy(d->st->md_obj) : json_object();
			if (!m || json_object_set(m, "unit", unit) < 0) {
				json_decref(m);
				return iot_error_set(d->err, IOT_INTERNAL, "out of memory");
			}
			*md = iot__rec_dump_owned(d, m, name);
			json_decref(m);
			if (!*md)
				return -1;
		}
	}
	if (json_is_null(*v))
		*v = NULL;
	return 0;
}
