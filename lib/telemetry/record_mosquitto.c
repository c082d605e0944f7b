/* record_mosquitto.c — the record decoder's shape (c): a line of
 * mosquitto_sub -F %J, whose topic names the device and whose payload is one
 * of the other shapes. The rules are in the specification in record.c. */
#include <string.h>

#include "telemetry/record.h"
#include "telemetry/record_int.h"

/* The device id in iotflow/devices/ID/telemetry[/...], or 0. */
static int64_t topic_device(const char *t, size_t len)
{
	static const char pre[] = "iotflow/devices/", tel[] = "/telemetry";
	const size_t pl = sizeof pre - 1, tl = sizeof tel - 1;
	if (len < pl || memcmp(t, pre, pl) != 0)
		return 0;
	const char *id = t + pl, *end = t + len;
	const char *slash = memchr(id, '/', (size_t)(end - id));
	if (!slash)
		return 0;
	size_t rest = (size_t)(end - slash);
	if (rest < tl || memcmp(slash, tel, tl) != 0 || (rest > tl && slash[tl] != '/'))
		return 0;
	return iot__rec_parse_id(id, (size_t)(slash - id));
}

static int take_tst(struct dec *d, json_t *tst)
{
	struct iot_shown sh;
	if (!json_is_string(tst))
		return reject(d, "tst must be a string");
	const char *s = json_string_value(tst);
	size_t n = json_string_length(tst);
	const char *why = iot_timestamp_parse(s, n, IOT_TS_MOSQUITTO_TST, &d->fallback_ts);
	if (why)
		return reject(d, "tst \"%s\" %s", iot__show(&sh, s, n, true), why);
	d->have_fallback = true;
	return 0;
}

/* (c): see the SHAPES part of the specification in record.c. */
int iot__rec_decode_mosquitto(struct dec *d, json_t *env)
{
	json_t *topic = json_object_get(env, "topic"), *payload = json_object_get(env, "payload");
	json_t *tst = json_object_get(env, "tst");
	struct iot_shown sh;
	if (!json_is_string(topic) || !payload)
		return reject(d, "expected a mosquitto_sub -F %%J line: an object with \"topic\" and \"payload\"");
	const char *ts = json_string_value(topic);
	size_t tn = json_string_length(topic);
	int64_t id = topic_device(ts, tn);
	if (id == 0)
		return reject(d, "topic \"%s\" is not a telemetry topic (iotflow/devices/ID/telemetry[/...])",
		              iot__show(&sh, ts, tn, true));
	if (tst && take_tst(d, tst) < 0)
		return -1;
	if (json_is_string(payload)) {
		const char *s = json_string_value(payload);
		size_t n = json_string_length(payload);
		if (iot__rec_parse_text(d, s, n, &d->st->payload) < 0)
			return iot__rec_prefix_error(d->err, "payload: ");
		payload = d->st->payload;
	} else if (json_is_null(payload)) {
		return reject(d, "payload is empty");
	}
	if (iot__rec_decode_shape(d, payload, IOT_FORMAT_AUTO, false) < 0)
		return iot__rec_prefix_error(d->err, "payload: ");
	if (d->rec->device_id && d->rec->device_id != id)
		return reject(d, "device_id in payload (%lld) does not match topic (%lld)",
		              (long long)d->rec->device_id, (long long)id);
	d->rec->device_id = id;
	return 0;
}
