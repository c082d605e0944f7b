/* http_devices.c — the routes a device calls with its own key (X-API-Key),
 * in the Flask shapes (compat §1.4, routes 6 and 9-14), and what the other
 * device-route files share.
 *
 *   GET  /api/v1/devices/status           the device, telemetry_count (all its
 *                                         stored points), is_online (last_seen
 *                                         within the online_window setting)
 *   POST /api/v1/devices/heartbeat        moves last_seen (PostgreSQL and Redis);
 *                                         never the status an admin set
 *   GET  /api/v1/devices/credentials      id, name, type, owner and the MQTT
 *                                         topics the server really uses; 401
 *                                         without a key, 404 for an unknown one
 *                                         (the ESP32 client branches on these)
 *   GET  /api/v1/devices/mqtt-credentials broker host and port (of mqtt_url;
 *                                         null without one), client id,
 *                                         username; the key is not echoed (the
 *                                         device has it; a reply is no place
 *                                         for a secret)
 *   GET|POST /api/v1/devices/config       typed configuration values
 *   PUT  /api/v1/devices/config           location, firmware_version,
 *                                         hardware_version (and a config_key/
 *                                         config_value pair, as POST); "status"
 *                                         is not required and a device cannot
 *                                         change its own status (403)
 *
 * Every one refuses an inactive (or maintenance) device with 403; a device
 * that is only offline is served. Reading the status does not move
 * last_seen (telemetry and heartbeats do), so is_online means something. */
#include "http/http_dev.h"
#include "registry/device_seen.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json_util.h"
#include "mqtt/mqtt_url.h"

iot_registry iot__http_registry(struct http_req *r, struct http_slot *s)
{
	iot_registry reg = { r->h->cfg, s->db, s->cache };
	return reg;
}

static void unavailable(struct http_req *r)
{
	atomic_fetch_add(&r->h->m.unavailable, 1);
	iot__http_retry_after(r, 5);
	iot__http_error(r, 503, "Service Unavailable", "The database is unavailable; try again shortly");
}

void iot__http_failed(struct http_req *r, const iot_error *err, const char *what)
{
	switch (err->status) {
	case IOT_UNAVAILABLE: unavailable(r); break;
	case IOT_NOT_FOUND: iot__http_error(r, 404, "Not Found", "%s", err->msg); break;
	case IOT_USAGE:
	case IOT_REJECTED: iot__http_error(r, 400, "Invalid request", "%s", err->msg); break;
	default: iot__http_error(r, 500, "Internal Server Error", "%s failed", what); break;
	}
}

int iot__http_dev_key(struct http_req *r, struct http_slot *s, iot_device_ref *dev)
{
	if (iot__http_auth_device(r, s, dev) < 0)
		return -1;
	if (dev->status != IOT_DEVICE_ACTIVE) {
		iot__http_error(r, 403, "Device inactive", "Device is currently %s", iot_device_status_name(dev->status));
		return -1;
	}
	return iot__http_rate_check(r, s, dev->id);
}

int iot__http_caller(struct http_req *r, struct http_slot *s, struct http_caller *c)
{
	memset(c, 0, sizeof *c);
	if (iot__http_get_header(r, "X-API-Key")) {
		if (iot__http_dev_key(r, s, &c->dev) < 0)
			return -1;
		c->device = true;
		return 0;
	}
	if (iot__http_get_header(r, MHD_HTTP_HEADER_AUTHORIZATION))
		return iot__http_auth_person(r, s, false, &c->user);
	iot__http_error(r, 401, "API key required",
	                "Please provide API key in X-API-Key header, or a person's token in "
	                "Authorization: Bearer <token>");
	return -1;
}

json_t *iot__http_dev_rows(struct http_req *r, struct http_slot *s, PGresult *res, bool sources)
{
	int n = PQntuples(res);
	int64_t *ids = calloc((size_t)n + 1, sizeof *ids), *seen = calloc((size_t)n + 1, sizeof *seen);
	json_t *arr = json_array();
	if (!ids || !seen || !arr)
		goto fail;
	for (int i = 0; i < n; i++) {
		json_t *o = json_loads(PQgetvalue(res, i, 0), 0, NULL);
		if (!o || json_array_append_new(arr, o) < 0)
			goto fail;
		ids[i] = json_integer_value(json_object_get(o, "id"));
	}
	/* Redis is a cache: without it last_seen is PostgreSQL's alone. */
	iot_error e;
	if (s->cache && n > 0 && iot_auth_cache_bind(s->db, s->cache, &e) == 0)
		iot_cache_device_last_seen(s->cache, ids, (size_t)n, seen);
	long window = iot_config_get_long(r->h->cfg, "online_window");
	int64_t now = iot_now_us(), win_us = (int64_t)(window > 0 ? window : 300) * 1000000;
	for (int i = 0; i < n; i++) {
		json_t *o = json_array_get(arr, (size_t)i);
		int64_t db_seen = strtoll(PQgetvalue(res, i, 1), NULL, 10);
		bool from_redis = seen[i] > db_seen;
		int64_t last = from_redis ? seen[i] : db_seen;
		if (from_redis) {
			char ts[40];
			iot_format_timestamp(last, ts, sizeof ts);
			json_object_set_new(o, "last_seen", json_string(ts));
		}
		int64_t offline_at = strtoll(PQgetvalue(res, i, 2), NULL, 10);
		json_object_set_new(o, "is_online", json_boolean(last > 0 && last > offline_at && now - last <= win_us));
		if (sources)
			json_object_set_new(o, "last_seen_source", json_string(from_redis ? "redis_cache" : "database"));
	}
	free(ids);
	free(seen);
	return arr;
fail:
	free(ids);
	free(seen);
	json_decref(arr);
	return NULL;
}

int iot__http_dev_get(struct http_req *r, struct http_slot *s, int64_t id, bool sources, json_t **out)
{
	char idtext[24];
	snprintf(idtext, sizeof idtext, "%" PRId64, id);
	const char *params[1] = { idtext };
	iot_error err = { 0 };
	PGresult *res = iot_db_exec(s->db, "SELECT " IOT_HTTP_DEV_DICT " FROM devices d WHERE d.id = $1",
	                            1, params, &err);
	if (!res) {
		iot__http_failed(r, &err, "Reading the device");
		return -1;
	}
	json_t *arr = iot__http_dev_rows(r, s, res, sources);
	PQclear(res);
	if (!arr || json_array_size(arr) != 1) {
		if (arr)
			iot__http_error(r, 404, "Device not found", "No device found with ID %" PRId64, id);
		else
			iot__http_error(r, 500, "Internal Server Error", "Out of memory");
		json_decref(arr);
		return -1;
	}
	*out = json_incref(json_array_get(arr, 0));
	json_decref(arr);
	return 0;
}

json_t *iot__http_body_object(struct http_req *r)
{
	char why[200];
	json_t *v = iot_http_body_object(r->body, r->len, r->h->o.max_depth, why, sizeof why);
	if (!v)
		iot__http_error(r, 400, "Invalid JSON", "%s", why);
	return v;
}

int iot__http_arg_long(struct http_req *r, const char *name, long def, long lo, long hi, long *out)
{
	const char *v = iot_http_arg(&r->args, name);
	*out = def;
	if (!v)
		return 0;
	if (iot_parse_long(v, lo, hi, out) < 0) {
		iot__http_error(r, 400, "Invalid parameter", "%s: expected an integer from %ld to %ld", name, lo, hi);
		return -1;
	}
	return 0;
}

int iot__http_str_member(struct http_req *r, const json_t *obj, const char *key, const char **out)
{
	if (iot_http_str_member(obj, key, out) == 0)
		return 0;
	iot__http_error(r, 400, "Invalid request", "%s: expected a string", key);
	return -1;
}

/* ---- GET /api/v1/devices/status ---- */

static int telemetry_count(struct http_slot *s, int64_t id, json_int_t *out, iot_error *err)
{
	char idtext[24];
	snprintf(idtext, sizeof idtext, "%" PRId64, id);
	const char *params[1] = { idtext };
	PGresult *res = iot_db_exec(s->db, "SELECT count(*) FROM telemetry_data WHERE device_id = $1",
	                            1, params, err);
	if (!res)
		return -1;
	*out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 0;
}

void iot__http_dev_status(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	iot_device_ref dev;
	json_t *d = NULL;
	json_int_t count = 0;
	iot_error err = { 0 };
	if (iot__http_dev_key(r, s, &dev) < 0 || iot__http_dev_get(r, s, dev.id, false, &d) < 0)
		goto out;
	if (telemetry_count(s, dev.id, &count, &err) < 0) {
		iot__http_failed(r, &err, "Status retrieval");
		goto out;
	}
	json_object_set_new(d, "telemetry_count", json_integer(count));
	iot__http_reply(r, 200, json_pack("{s:s,s:O}", "status", "success", "device", d));
out:
	json_decref(d);
	iot__http_slot_put(s);
}

/* ---- POST /api/v1/devices/heartbeat ---- */

void iot__http_dev_heartbeat(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	iot_device_ref dev;
	iot_error err = { 0 };
	if (iot__http_dev_key(r, s, &dev) < 0)
		goto out;
	int64_t now = iot_now_us();
	char ts[40];
	/* last_seen only: the status column is the admin's. */
	if (iot_device_seen(s->db, s->cache, dev.id, &err) < 0) {
		iot__http_failed(r, &err, "Heartbeat");
		goto out;
	}
	iot_format_timestamp(now, ts, sizeof ts);
	iot__http_reply(r, 200, json_pack("{s:s,s:I,s:s,s:s}", "message", "Heartbeat received",
	                                  "device_id", (json_int_t)dev.id, "timestamp", ts, "status", "online"));
out:
	iot__http_slot_put(s);
}

/* ---- GET /api/v1/devices/credentials, /mqtt-credentials ---- */

/* The topics the server subscribes to and publishes on (DESIGN §4). */
static json_t *topics(int64_t id)
{
	char t[4][80];
	snprintf(t[0], sizeof t[0], "iotflow/devices/%" PRId64 "/telemetry/sensors", id);
	snprintf(t[1], sizeof t[1], "iotflow/devices/%" PRId64 "/status/online", id);
	snprintf(t[2], sizeof t[2], "iotflow/devices/%" PRId64 "/commands/control", id);
	snprintf(t[3], sizeof t[3], "iotflow/devices/%" PRId64 "/status/heartbeat", id);
	return json_pack("{s:s,s:s,s:s,s:s}", "telemetry", t[0], "status", t[1], "commands", t[2],
	                 "heartbeat", t[3]);
}

void iot__http_dev_credentials(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	char buf[HTTP_CREDENTIAL_MAX];
	const char *key = iot__http_credential(r, "X-API-Key", buf);
	iot_device_ref dev;
	iot_error err = { 0 };
	if (!key || !*key) {
		iot__http_error(r, 401, "API key required", "X-API-Key header is required");
		goto out;
	}
	if (iot_auth_device_key(s->auth, key, &dev, &err) < 0) {
		if (err.status == IOT_DENIED)
			iot__http_error(r, 404, "Invalid API key", "Device not found");
		else
			iot__http_failed(r, &err, "Credentials retrieval");
		goto out;
	}
	if (dev.status != IOT_DEVICE_ACTIVE) {
		iot__http_error(r, 403, "Device inactive", "Device is currently %s", iot_device_status_name(dev.status));
		goto out;
	}
	if (iot__http_rate_check(r, s, dev.id) < 0)
		goto out;
	char idtext[24];
	snprintf(idtext, sizeof idtext, "%" PRId64, dev.id);
	const char *params[1] = { idtext };
	PGresult *res = iot_db_exec(s->db,
		"SELECT json_build_object('id', d.id, 'name', d.name, 'device_type', d.device_type,"
		" 'user_id', d.user_id::text, 'status', d.status,"
		" 'owner', json_build_object('username', u.username))::text"
		" FROM devices d JOIN users u ON u.id = d.user_id WHERE d.id = $1", 1, params, &err);
	json_t *d = res ? iot_registry_row(res, "device not found", &err) : NULL;
	if (res)
		PQclear(res);
	if (!d) {
		iot__http_failed(r, &err, "Credentials retrieval");
		goto out;
	}
	json_object_set_new(d, "mqtt_topics", topics(dev.id));
	iot__http_reply(r, 200, json_pack("{s:s,s:o}", "status", "success", "device", d));
out:
	iot__http_slot_put(s);
}

/* The broker of the mqtt_url setting, parsed as the server's own client
 * parses it (lib/mqtt), its password wiped: false when none is
 * configured (or it does not parse), so that no address is made up. */
static bool broker_of(struct http_req *r, iot_mqtt_url *u)
{
	const char *url = iot_config_get(r->h->cfg, "mqtt_url");
	iot_error err = { 0 };
	bool ok = url && *url && iot_mqtt_url_parse(url, u, &err) == 0;
	iot_mqtt_url_clear(u);
	return ok;
}

void iot__http_dev_mqtt_credentials(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	iot_device_ref dev;
	char name[404], client_id[440], user[24], t[4][80];
	iot_mqtt_url broker;
	iot_error err = { 0 };
	if (iot__http_dev_key(r, s, &dev) < 0)
		goto out;
	if (iot__http_device_name(s, dev.id, name, sizeof name, &err) < 0) {
		iot__http_failed(r, &err, "MQTT credentials");
		goto out;
	}
	for (char *c = name; *c; c++)
		if (*c == ' ')
			*c = '_';
	snprintf(client_id, sizeof client_id, "device_%" PRId64 "_%s", dev.id, name);
	snprintf(user, sizeof user, "%" PRId64, dev.id);
	bool configured = broker_of(r, &broker);
	snprintf(t[0], sizeof t[0], "iotflow/devices/%" PRId64 "/telemetry", dev.id);
	snprintf(t[1], sizeof t[1], "iotflow/devices/%" PRId64 "/status/heartbeat", dev.id);
	snprintf(t[2], sizeof t[2], "iotflow/devices/%" PRId64 "/commands/control", dev.id);
	snprintf(t[3], sizeof t[3], "iotflow/devices/%" PRId64 "/commands/config", dev.id);
	/* Without a broker the members stay (clients read them), null, and
	 * the answer says so. */
	json_t *c = json_pack("{s:o,s:o,s:b,s:s,s:s,s:b,s:s,s:{s:s,s:s,s:s,s:s}}",
		"mqtt_host", configured ? json_string(broker.host) : json_null(),
		"mqtt_port", configured ? json_integer(broker.port) : json_null(),
		"broker_configured", configured, "client_id", client_id, "username", user,
		"anonymous_connection", 0,
		"authentication_note", configured ? "Connect with the device id as username and the device's API key as"
		" password; the key is not repeated here" : "No MQTT broker is configured on this server (mqtt_url);"
		" send telemetry over HTTP",
		"topics", "telemetry_publish", t[0], "status_publish", t[1], "commands_subscribe", t[2],
		"config_subscribe", t[3]);
	if (c && configured)
		json_object_set_new(c, "tls", json_boolean(broker.tls));
	iot__http_reply(r, 200, json_pack("{s:s,s:o}", "status", "success", "credentials", c));
out:
	iot__http_slot_put(s);
}
