/* http_dev_config.c — a device's own configuration (X-API-Key), compat
 * routes 13, 14 and 9.
 *
 * GET  /api/v1/devices/config  {"status":"success","device_id","configuration":
 *      {"<key>":{"value":<typed>,"data_type","updated_at"}}}
 * POST /api/v1/devices/config  {"config_key","config_value","data_type"?}: the
 *      value is stored as what it is — a JSON number, boolean, object or
 *      array keeps its type (integer, float, boolean, json), a string is a
 *      string unless data_type says otherwise (then it must read as one:
 *      "22" as integer); answered with the value as stored, typed (the Flask
 *      service stored and echoed Python str()). 400 for a value that is not
 *      of its data_type or a key outside [A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}.
 * PUT  /api/v1/devices/config  location, firmware_version, hardware_version,
 *      description, and optionally config_key/config_value as POST; answered
 *      {"message","device":<to_dict>}. "status" is not required; one other
 *      than the device's own is refused with 403: the status is an admin's. */
#include "http/http_dev.h"
#include "http/http_control.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *iot__http_config_object(const json_t *rows)
{
	json_t *conf = json_object();
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
		json_object_set_new(conf, json_string_value(json_object_get(row, "key")),
		                    json_pack("{s:O,s:O,s:O}", "value", json_object_get(row, "value"),
		                              "data_type", json_object_get(row, "type"),
		                              "updated_at", json_object_get(row, "updated_at")));
	return conf;
}

void iot__http_dev_config_get(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	iot_registry reg = iot__http_registry(r, s);
	iot_device_ref dev;
	json_t *rows = NULL;
	iot_error err = { 0 };
	char idtext[24];
	if (iot__http_dev_key(r, s, &dev) < 0)
		goto out;
	snprintf(idtext, sizeof idtext, "%" PRId64, dev.id);
	if (iot_device_config_get(&reg, idtext, NULL, &rows, &err) < 0) {
		iot__http_failed(r, &err, "Reading the configuration");
		goto out;
	}
	json_t *conf = iot__http_config_object(rows);
	iot__http_reply(r, 200, json_pack("{s:s,s:I,s:o}", "status", "success", "device_id", (json_int_t)dev.id,
	                                  "configuration", conf));
out:
	json_decref(rows);
	iot__http_slot_put(s);
}

/* config_key/config_value/data_type of body -> stored; *out is the row. */
static int config_set(struct http_req *r, iot_registry *reg, int64_t dev, const json_t *body, json_t **out)
{
	const char *key, *type;
	json_t *v = json_object_get(body, "config_value");
	if (iot__http_str_member(r, body, "config_key", &key) < 0 ||
	    iot__http_str_member(r, body, "data_type", &type) < 0)
		return -1;
	if (!key || !v) {
		iot__http_error(r, 400, "Missing required fields", "Required fields: config_key, config_value");
		return -1;
	}
	char *text = NULL;
	if (json_is_string(v)) {
		if (strlen(json_string_value(v)) != json_string_length(v)) {
			iot__http_error(r, 400, "Invalid request", "config_value: contains a NUL character");
			return -1;
		}
		text = strdup(json_string_value(v));
	} else {
		text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!type)
			type = json_is_integer(v) ? "integer" : json_is_real(v) ? "float"
			     : json_is_boolean(v) ? "boolean" : "json";
	}
	if (!text) {
		iot__http_error(r, 500, "Internal Server Error", "Out of memory");
		return -1;
	}
	char idtext[24];
	snprintf(idtext, sizeof idtext, "%" PRId64, dev);
	iot_error err = { 0 };
	int rc = iot_device_config_set(reg, idtext, key, text, type, out, &err);
	free(text);
	if (rc < 0)
		iot__http_failed(r, &err, "Updating the configuration");
	else
		iot__http_config_changed(r, reg->db, dev);
	return rc;
}

void iot__http_dev_config_post(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	iot_registry reg = iot__http_registry(r, s);
	iot_device_ref dev;
	json_t *body = NULL, *row = NULL;
	if (iot__http_dev_key(r, s, &dev) < 0 || !(body = iot__http_body_object(r)) ||
	    config_set(r, &reg, dev.id, body, &row) < 0)
		goto out;
	iot__http_reply(r, 200, json_pack("{s:s,s:s,s:O,s:O,s:O,s:O}", "status", "success",
		"message", "Configuration updated successfully", "config_key", json_object_get(row, "key"),
		"config_value", json_object_get(row, "value"), "data_type", json_object_get(row, "type"),
		"updated_at", json_object_get(row, "updated_at")));
out:
	json_decref(row);
	json_decref(body);
	iot__http_slot_put(s);
}

void iot__http_dev_config_put(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	iot_registry reg = iot__http_registry(r, s);
	iot_device_ref dev;
	iot_device_fields f = { 0 };
	json_t *body = NULL, *row = NULL, *d = NULL, *out = NULL;
	const char *status;
	iot_error err = { 0 };
	char idtext[24];
	if (iot__http_dev_key(r, s, &dev) < 0 || !(body = iot__http_body_object(r)))
		goto out;
	if (iot__http_str_member(r, body, "status", &status) < 0 ||
	    iot__http_str_member(r, body, "location", &f.location) < 0 ||
	    iot__http_str_member(r, body, "firmware_version", &f.firmware) < 0 ||
	    iot__http_str_member(r, body, "hardware_version", &f.hardware) < 0 ||
	    iot__http_str_member(r, body, "description", &f.description) < 0)
		goto out;
	if (status && strcmp(status, iot_device_status_name(dev.status))) {
		iot__http_error(r, 403, "Forbidden", "A device cannot change its own status (it is %s); an admin sets it",
		                iot_device_status_name(dev.status));
		goto out;
	}
	bool conf = json_object_get(body, "config_key") || json_object_get(body, "config_value");
	if (!conf && !f.location && !f.firmware && !f.hardware && !f.description && !status) {
		iot__http_error(r, 400, "Nothing to update", "Send location, firmware_version, hardware_version,"
		                " description, or config_key and config_value");
		goto out;
	}
	snprintf(idtext, sizeof idtext, "%" PRId64, dev.id);
	if ((f.location || f.firmware || f.hardware || f.description) &&
	    iot_device_update(&reg, idtext, &f, &out, &err) < 0) {
		iot__http_failed(r, &err, "Configuration update");
		goto out;
	}
	if ((conf && config_set(r, &reg, dev.id, body, &row) < 0) || iot__http_dev_get(r, s, dev.id, false, &d) < 0)
		goto out;
	json_object_del(d, "is_online");
	iot__http_reply(r, 200, json_pack("{s:s,s:O}", "message", "Device configuration updated successfully",
	                                  "device", d));
out:
	json_decref(out);
	json_decref(d);
	json_decref(row);
	json_decref(body);
	iot__http_slot_put(s);
}
