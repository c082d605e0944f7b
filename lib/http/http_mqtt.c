/* http_mqtt.c — the server's broker connection and the /api/v1/mqtt routes
 * (compat §1.8), every one authenticated (the Flask ones mostly were not):
 *
 *   GET  /api/v1/mqtt/status              any person or device: the server's
 *        broker connection {"status":"success","mqtt_status":{"connected","host",
 *        "port","client_id","use_tls","messages_published","publish_failures"},
 *        "broker_info":{"host","port","connected","tls_enabled"}}; 503 when no
 *        broker is configured
 *   POST /api/v1/mqtt/publish             admins: {"topic":"iotflow/...","payload",
 *        "retain"?} published at QoS 1 (objects and arrays as JSON, strings as
 *        they are); 400 for a topic outside iotflow/ or with + # NUL
 *   GET  /api/v1/mqtt/topics/device/{id}  the device, its owner, an admin: the
 *        topics the platform uses for it
 *   GET  /api/v1/mqtt/topics/structure    any person or device: the catalogue
 *   POST /api/v1/mqtt/topics/validate     any person or device: {"topic"} parsed
 *   POST /api/v1/mqtt/device/{id}/command admins: {"command_type":"control"?,
 *        "command":"NAME" | {"command","parameters"}, "parameters"?} — a command
 *        as POST /api/v1/devices/{id}/control (stored, tracked); "config" is
 *        refused (400: the config topic carries the device's whole config, set
 *        through the config routes), "firmware" too (not supported)
 *   GET  /api/v1/mqtt/monitoring/metrics  admins: the connection status and counts
 *   410 Gone (after authentication): POST /api/v1/mqtt/subscribe, POST
 *        /api/v1/mqtt/fleet/{id}/command, POST /api/v1/mqtt/telemetry/{id} —
 *        the message says what to use instead. */
#include "http/http_control.h"
#include "http/http_dev.h"
#include "mqtt/dispatch.h"
#include "base/clock.h"
#include "base/json_util.h"
#include "base/timestamp.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BROKER_TIMEOUT_MS 2000

int iot__http_broker_open(iot_httpd *h, iot_error *err)
{
	const char *url = iot_config_get(h->cfg, "mqtt_url");
	if (!url || !*url)
		return 0;
	iot_publisher_opts po = { .background = true, .tell_refusals = true, .timeout_ms = BROKER_TIMEOUT_MS };
	return (h->pub = iot_publisher_new(h->cfg, &po, err)) ? 0 : -1;
}

void iot__http_broker_close(iot_httpd *h)
{
	iot_publisher_free(h->pub);
	h->pub = NULL;
}

void iot__http_config_changed(struct http_req *r, iot_db *db, int64_t device)
{
	iot_error err = { 0 };
	if (r->h->pub && iot_config_publish(db, r->h->pub, device, &err) < 0)
		iot_config_notice(r->h->cfg, "the configuration of device %" PRId64 " is stored but not published: %s",
		                  device, err.msg);
}

/* The topics of a device: name, leaf under iotflow/devices/{id}/, QoS, retained, what it is. */
static const struct topic { const char *name, *leaf, *type; int qos; bool retain; const char *what; } topics[] = {
	{ "device_telemetry", "telemetry", "telemetry", 1, false, "readings (the HTTP telemetry body)" },
	{ "device_telemetry_sensors", "telemetry/sensors", "telemetry", 1, false, "readings" },
	{ "device_telemetry_metrics", "telemetry/metrics", "telemetry", 1, false, "readings" },
	{ "device_telemetry_events", "telemetry/events", "telemetry", 1, false, "readings" },
	{ "device_status_heartbeat", "status/heartbeat", "status", 0, false, "keeps the device online" },
	{ "device_status_online", "status/online", "status", 1, true, "the device connected" },
	{ "device_status_offline", "status/offline", "status", 1, true, "the device went away (its will)" },
	{ "device_commands_control", "commands/control", "commands", 1, false, "commands to the device" },
	{ "device_commands_config", "commands/config", "commands", 1, true, "the device's whole configuration" },
	{ "device_commands_ack", "commands/ack", "commands", 1, false, "the device's answers to commands" },
};
#define NTOPICS (sizeof topics / sizeof topics[0])

static json_t *topic_json(const struct topic *t, const char *id)
{
	char path[160];
	snprintf(path, sizeof path, "iotflow/devices/%s/%s", id, t->leaf);
	return json_pack("{s:s,s:s,s:i,s:b,s:s}", "name", t->name, "path", path, "qos", t->qos,
	                 "retain", t->retain, "description", t->what);
}

/* The caller's answer when no broker is configured: -1 answered. */
static int need_broker(struct http_req *r)
{
	if (r->h->pub)
		return 0;
	iot__http_reply(r, 503, json_pack("{s:s,s:s,s:s}", "error", "MQTT service not available",
	                                  "message", "No broker is configured (mqtt_url)", "status", "unavailable"));
	return -1;
}

static json_t *status_json(iot_httpd *h)
{
	iot_publisher_info in;
	iot_publisher_get_info(h->pub, &in);
	return json_pack("{s:b,s:s,s:i,s:s,s:b,s:I,s:I}", "connected", in.connected, "host", in.host, "port", in.port,
	                 "client_id", in.client_id, "use_tls", in.tls, "messages_published", (json_int_t)in.published,
	                 "publish_failures", (json_int_t)in.failed);
}

void iot__http_mqtt_status(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	struct http_caller c;
	if (iot__http_caller(r, s, &c) == 0 && need_broker(r) == 0) {
		json_t *st = status_json(r->h);
		iot__http_reply(r, 200, json_pack("{s:s,s:o,s:{s:O,s:O,s:O,s:O}}", "status", "success", "mqtt_status", st,
			"broker_info", "host", json_object_get(st, "host"), "port", json_object_get(st, "port"),
			"connected", json_object_get(st, "connected"), "tls_enabled", json_object_get(st, "use_tls")));
	}
	iot__http_slot_put(s);
}

void iot__http_mqtt_monitoring(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	iot_user_ref u;
	if (iot__http_auth_person(r, s, true, &u) == 0 && need_broker(r) == 0) {
		char ts[40];
		iot_format_timestamp(iot_now_us(), ts, sizeof ts);
		iot__http_reply(r, 200, json_pack("{s:s,s:{s:o,s:{s:i,s:s}},s:s}", "status", "success", "metrics",
			"connection_status", status_json(r->h), "topics", "total_structures", (int)NTOPICS,
			"base_topic", "iotflow", "timestamp", ts));
	}
	iot__http_slot_put(s);
}

/* A topic a client may publish to: under iotflow/, no wildcard, no NUL. */
static const char *topic_error(const char *t, size_t len)
{
	if (len > 65535)
		return "longer than 65535 bytes";
	if (strncmp(t, "iotflow/", 8) || len == 8)
		return "must start with iotflow/";
	if (strlen(t) != len || strpbrk(t, "+#"))
		return "must not hold + # or NUL";
	return NULL;
}

void iot__http_mqtt_publish(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	iot_user_ref u;
	json_t *body = NULL;
	char *text = NULL;
	iot_error err = { 0 };
	if (iot__http_auth_person(r, s, true, &u) < 0 || need_broker(r) < 0 || !(body = iot__http_body_object(r)))
		goto out;
	json_t *topic = json_object_get(body, "topic"), *payload = json_object_get(body, "payload"),
	       *retain = json_object_get(body, "retain");
	if (!json_is_string(topic) || !payload) {
		iot__http_error(r, 400, !topic ? "Missing required field: topic" : !payload ? "Missing required field: payload"
		                : "Invalid topic format", "Send {\"topic\": \"iotflow/...\", \"payload\": ...}");
		goto out;
	}
	const char *why = topic_error(json_string_value(topic), json_string_length(topic));
	if (why || (retain && !json_is_boolean(retain))) {
		iot__http_reply(r, 400, json_pack("{s:s,s:s,s:O}", "error", why ? "Invalid topic format" : "Invalid request",
		                                  "message", why ? why : "retain: true or false", "topic", topic));
		goto out;
	}
	size_t len = json_string_length(payload);
	text = json_is_string(payload) ? strdup(json_string_value(payload)) : iot_json_text(payload, &len);
	if (!text || iot_publish(r->h->pub, json_string_value(topic), text, len, json_is_true(retain), &err) < 0) {
		iot__http_retry_after(r, 5);
		iot__http_reply(r, err.status == IOT_DENIED ? 403 : 503, json_pack("{s:s,s:s,s:O}", "error",
		                "Failed to publish message", "message", text ? err.msg : "out of memory", "topic", topic));
		goto out;
	}
	iot__http_reply(r, 200, json_pack("{s:s,s:s,s:O,s:i,s:b}", "status", "success", "message",
	                "Message published successfully", "topic", topic, "qos", 1, "retain", json_is_true(retain)));
out:
	free(text);
	json_decref(body);
	iot__http_slot_put(s);
}

void iot__http_mqtt_topics_device(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	struct http_caller c;
	if (iot__http_device_access(r, s, r->id, &c) == 0) {
		char id[24];
		snprintf(id, sizeof id, "%" PRId64, r->id);
		json_t *by_type = json_object();
		for (size_t i = 0; i < NTOPICS; i++) {
			json_t *list = json_object_get(by_type, topics[i].type);
			if (!list)
				json_object_set_new(by_type, topics[i].type, list = json_array());
			json_array_append_new(list, topic_json(&topics[i], id));
		}
		iot__http_reply(r, 200, json_pack("{s:s,s:s,s:o,s:i}", "status", "success", "device_id", id,
		                                  "topics", by_type, "total_topics", (int)NTOPICS));
	}
	iot__http_slot_put(s);
}

void iot__http_mqtt_topics_structure(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	struct http_caller c;
	if (iot__http_caller(r, s, &c) == 0) {
		json_t *st = json_object();
		for (size_t i = 0; i < NTOPICS; i++) {
			json_t *t = topic_json(&topics[i], "{device_id}");
			char base[96], example[96];
			snprintf(base, sizeof base, "devices/{device_id}/%s", topics[i].leaf);
			snprintf(example, sizeof example, "iotflow/devices/12/%s", topics[i].leaf);
			json_object_set_new(st, topics[i].name, json_pack("{s:s,s:s,s:O,s:O,s:O,s:s}", "base_path", base,
				"topic_type", topics[i].type, "qos", json_object_get(t, "qos"), "retain", json_object_get(t, "retain"),
				"description", json_object_get(t, "description"), "full_topic_example", example));
			json_decref(t);
		}
		iot__http_reply(r, 200, json_pack("{s:s,s:s,s:{s:s,s:s,s:s,s:s},s:o,s:i}", "status", "success",
			"base_topic", "iotflow", "wildcard_patterns", "all_device_telemetry", "iotflow/devices/+/telemetry/#",
			"all_device_status", "iotflow/devices/+/status/+", "all_device_commands", "iotflow/devices/+/commands/+",
			"everything", "iotflow/#", "topic_structures", st, "total_structures", (int)NTOPICS));
	}
	iot__http_slot_put(s);
}

/* topic -> the catalogue entry it is an instance of, with its device id; NULL when none. */
static const struct topic *parse_topic(const char *t, char *id, size_t idsize)
{
	if (strncmp(t, "iotflow/devices/", 16))
		return NULL;
	const char *p = t + 16;
	size_t n = strspn(p, "0123456789");
	if (n == 0 || n >= idsize || p[n] != '/' || *p == '0')
		return NULL;
	snprintf(id, idsize, "%.*s", (int)n, p);
	for (size_t i = 0; i < NTOPICS; i++)
		if (!strcmp(p + n + 1, topics[i].leaf))
			return &topics[i];
	return NULL;
}

void iot__http_mqtt_topics_validate(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	struct http_caller c;
	json_t *body = NULL;
	if (iot__http_caller(r, s, &c) < 0 || !(body = iot__http_body_object(r)))
		goto out;
	json_t *topic = json_object_get(body, "topic");
	if (!json_is_string(topic)) {
		iot__http_error(r, 400, "Missing required field: topic", "Send {\"topic\": \"iotflow/...\"}");
		goto out;
	}
	const char *t = json_string_value(topic);
	const char *why = topic_error(t, json_string_length(topic));
	char id[16] = "";
	const struct topic *hit = why ? NULL : parse_topic(t, id, sizeof id);
	json_t *ans = json_pack("{s:s,s:O,s:b}", "status", "success", "topic", topic, "is_valid", hit != NULL);
	if (hit) {
		const char *leaf = strchr(hit->leaf, '/');
		json_object_set_new(ans, "parsed", json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s?}", "base", "iotflow",
			"full_topic", t, "path", t + 8, "category", "devices", "device_id", id, "topic_type", hit->type,
			"subtopic", leaf ? leaf + 1 : hit->leaf));
	} else {
		json_object_set_new(ans, "parsed", json_null());
		json_object_set_new(ans, "validation_errors", json_pack("[s]", why ? why
		                    : "not a topic of the catalogue (GET /api/v1/mqtt/topics/structure)"));
	}
	iot__http_reply(r, 200, ans);
out:
	json_decref(body);
	iot__http_slot_put(s);
}

void iot__http_mqtt_gone(struct http_req *r)
{
	static const struct { const char *tmpl, *instead; } gone[] = {
		{ "/api/v1/mqtt/subscribe", "iot-httpd does not subscribe for clients: subscribe at the broker"
		  " (mosquitto_sub), or follow telemetry with GET /api/v1/telemetry/{id}/stream" },
		{ "/api/v1/mqtt/fleet/{id}/command", "there are no device groups: send the command to each device"
		  " with POST /api/v1/devices/{id}/control" },
		{ "/api/v1/mqtt/telemetry/{id}", "send telemetry with POST /api/v1/telemetry (X-API-Key), or publish"
		  " it to iotflow/devices/{id}/telemetry" },
	};
	struct http_slot *s = iot__http_slot_get(r->h);
	struct http_caller c;
	if (iot__http_caller(r, s, &c) == 0) {
		const char *tmpl = iot__http_routes[r->route].tmpl, *instead = "see iot-httpd(8)";
		for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++)
			if (!strcmp(tmpl, gone[i].tmpl))
				instead = gone[i].instead;
		iot__http_error(r, 410, "Not supported", "%s has no meaning in this version: %s", tmpl, instead);
	}
	iot__http_slot_put(s);
}
