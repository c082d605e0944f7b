/* record_mosquitto.c — the record decoder's shape (c): a line of
 * mosquitto_sub -F %j (or %J), whose topic names the device and whose payload
 * is one of the other shapes. The rules are in the specification in record.c. */
#include <stdio.h>
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
		return reject(d, "tst \"%s\" %s", iot_show(&sh, s, n, true), why);
	d->have_fallback = true;
	return 0;
}

/* A payload written as a JSON string: with -F %j every payload is (its bytes
 * as sent, escaped), so it is parsed here, as any JSON value, for the shape
 * check to judge. mosquitto_sub ends the string at a NUL byte of the payload;
 * "payloadlen" tells. */
static int string_payload(struct dec *d, json_t *env, json_t *payload)
{
	static const char head[] = "invalid JSON ";
	const char *s = json_string_value(payload);
	size_t n = json_string_length(payload);
	json_t *plen = json_object_get(env, "payloadlen");
	if (json_is_integer(plen) && json_integer_value(plen) != (json_int_t)n)
		return reject(d, "payload: payloadlen is %lld but the payload string holds %zu bytes (a payload "
		                 "cut short at a NUL byte by -F %%j, or a JSON string under -F %%J)",
		              (long long)json_integer_value(plen), n);
	if (iot__rec_parse_text(d, s, n, true, &d->st->payload) == 0)
		return 0;
	if (strncmp(d->err->msg, head, sizeof head - 1) != 0)
		return iot__rec_prefix_error(d->err, "payload: ");
	char why[IOT_ERRMSG_MAX];
	snprintf(why, sizeof why, "%s", d->err->msg + sizeof head - 1);
	return reject(d, "payload is not JSON (%s)", why);
}

/* (c): see the SHAPES part of the specification in record.c. */
int iot__rec_decode_mosquitto(struct dec *d, json_t *env)
{
	json_t *topic = json_object_get(env, "topic"), *payload = json_object_get(env, "payload");
	json_t *tst = json_object_get(env, "tst");
	struct iot_shown sh;
	if (!json_is_string(topic) || !payload)
		return reject(d, "expected a mosquitto_sub -F %%j line: an object with \"topic\" and \"payload\"");
	const char *ts = json_string_value(topic);
	size_t tn = json_string_length(topic);
	int64_t id = topic_device(ts, tn);
	if (id == 0)
		return reject(d, "topic \"%s\" is not a telemetry topic (iotflow/devices/ID/telemetry[/...])",
		              iot_show(&sh, ts, tn, true));
	if (tst && take_tst(d, tst) < 0)
		return -1;
	if (json_is_string(payload)) {
		if (string_payload(d, env, payload) < 0)
			return -1;
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
