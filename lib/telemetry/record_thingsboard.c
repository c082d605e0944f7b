/* record_thingsboard.c — shape (d) of the decoder, ThingsBoard records:
 * {"ts":MS,"values":{NAME:VALUE,...}} or an array of such (the rules are
 * in the specification at the top of record.c). */
#include <string.h>

#include "telemetry/record_int.h"

/* ThingsBoard's "ts": milliseconds, always. */
static int tb_ts(struct dec *d, json_t *v, int64_t *t)
{
	if (!v)
		return iot__rec_record_ts(d, NULL, t);
	double ms = json_number_value(v);
	if (!json_is_number(v) || !(ms > 0) || ms >= 9.2e15)
		return reject(d, "ts must be a positive number of milliseconds since the epoch");
	*t = (int64_t)(ms * 1000.0 + 0.5);
	return iot__rec_check_range(d, *t);
}

/* (d), one object. */
int iot__rec_decode_tb_object(struct dec *d, json_t *obj)
{
	json_t *ts = NULL, *values = NULL, *v;
	const char *k;
	int64_t t = 0;
	struct iot_shown sh;
	json_object_foreach(obj, k, v) {
		if (!strcmp(k, "ts"))
			ts = v;
		else if (!strcmp(k, "values"))
			values = v;
		else
			return reject(d, "unknown member \"%s\" in a ThingsBoard record (expected ts and values)",
			              iot_show(&sh, k, strlen(k), true));
	}
	if (!values)
		return reject(d, "a ThingsBoard record needs \"values\"");
	if (!json_is_object(values))
		return reject(d, "values must be an object");
	if (tb_ts(d, ts, &t) < 0 || iot__rec_reserve(d, json_object_size(values)) < 0)
		return -1;
	json_object_foreach(values, k, v) {
		if (iot__rec_add_point(d, k, v, t, NULL) < 0)
			return -1;
	}
	return 0;
}

/* (d), an array: the limit counts the points of all elements together. */
int iot__rec_decode_tb_array(struct dec *d, json_t *arr)
{
	size_t i, total = 0;
	json_t *el;
	if (json_array_size(arr) == 0)
		return reject(d, "no data");
	json_array_foreach(arr, i, el) {
		json_t *values = json_object_get(el, "values");
		if (json_is_object(values))
			total += json_object_size(values);
	}
	if (iot__rec_reserve(d, total) < 0)
		return -1;
	json_array_foreach(arr, i, el) {
		if (!json_is_object(el))
			return reject(d, "element %zu of the array is not an object", i);
		if (iot__rec_decode_tb_object(d, el) < 0)
			return iot__rec_prefix_error(d->err, "element %zu: ", i);
	}
	return 0;
}
