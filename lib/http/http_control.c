/* http_control.c — commands to a device (compat §1.5, routes 17-19), with
 * authentication (the Flask routes had none): the device itself by its
 * X-API-Key, its owner or an admin by their token; anyone else gets 404
 * as for an unknown device (a device key for another device: 403).
 *
 *   POST /api/v1/devices/{id}/control   {"command": "reboot", "parameters": <any JSON>?,
 *        "ttl": SECONDS?} -> stored, published to iotflow/devices/{id}/commands/control
 *        (QoS 1); 201 {"message", "control_id", "id", "device_id", "command",
 *        "parameters", "status" ("sent" once the broker acked it, "pending" when
 *        the broker is unreachable: it is sent once the broker is back),
 *        "created_at", "expires_at"}
 *   POST /api/v1/devices/{id}/control/{cid}/status  {"status": "acknowledged" |
 *        "completed" | "failed", "result": <any JSON>?} -> 200 {"message": "Status
 *        updated", "id", "device_id", "command", "parameters", "status", "result",
 *        "updated_at"}; 400 {"error": "Invalid status"}; 404 {"error": "Control
 *        command not found"} (cid must be the device's); 409 going back or expired
 *   GET  /api/v1/devices/{id}/control/pending -> 200, a bare array, oldest first:
 *        [{"id", "device_id", "command", "parameters", "status", "created_at",
 *        "expires_at"}] — the commands not answered yet (pending or sent), not
 *        expired */
#include "http/http_control.h"
#include "http/http_dev.h"
#include "mqtt/dispatch.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int iot__http_device_access(struct http_req *r, struct http_slot *s, int64_t id, struct http_caller *c)
{
	if (iot__http_caller(r, s, c) < 0)
		return -1;
	if (c->device) {
		if (c->dev.id == id)
			return 0;
		iot__http_error(r, 403, "Forbidden: device mismatch", "A device key acts on its own device only");
		return -1;
	}
	iot_device_ref d;
	iot_error err = { 0 };
	if (iot_auth_device_id(s->auth, id, &d, &err) < 0 && err.status != IOT_NOT_FOUND) {
		iot__http_failed(r, &err, "The device lookup");
		return -1;
	}
	if (err.status == IOT_NOT_FOUND || (!c->user.is_admin && d.user_id != c->user.id)) {
		iot__http_error(r, 404, "Device not found", "No device %" PRId64 " that you may command", id);
		return -1;
	}
	return 0;
}

/* The members of a row the answers carry. */
static json_t *pick(const json_t *row, const char *const *keys)
{
	json_t *o = json_object();
	for (size_t i = 0; keys[i]; i++)
		json_object_set(o, keys[i], json_object_get(row, keys[i]));
	return o;
}

static const char *const sent_keys[] = { "id", "device_id", "command", "parameters", "status", "created_at",
	"expires_at", NULL };
static const char *const status_keys[] = { "id", "device_id", "command", "parameters", "status", "result",
	"updated_at", NULL };

/* Store and publish a command for dev: 0 and *row, or -1 with the answer given. */
static int send_command(struct http_req *r, struct http_slot *s, const struct http_caller *c, const char *command,
                        const json_t *params, const json_t *ttl, json_t **row)
{
	iot_error err = { 0 };
	if (!command) {
		iot__http_error(r, 400, "Missing required fields", "Required fields: command");
		return -1;
	}
	if (ttl && (!json_is_integer(ttl) || json_integer_value(ttl) < 1 ||
	            json_integer_value(ttl) > IOT_COMMAND_TTL_MAX)) {
		iot__http_error(r, 400, "Invalid request", "ttl: whole seconds from 1 to %ld", IOT_COMMAND_TTL_MAX);
		return -1;
	}
	iot_command_req q = { .device_id = r->id, .user_id = c->device ? 0 : c->user.id, .command = command,
	                      .parameters = params, .source = "api",
	                      .ttl_s = ttl ? (long)json_integer_value(ttl) : iot_config_get_long(r->h->cfg, "command_ttl") };
	if (iot_command_send(s->db, r->h->pub, &q, row, &err) < 0 && !*row) {
		iot__http_failed(r, &err, "Sending the command");
		return -1;
	}
	return 0;
}

static bool is_sent(const json_t *row)
{
	return !strcmp(json_string_value(json_object_get(row, "status")), "sent");
}

void iot__http_control_send(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	struct http_caller c;
	json_t *body = NULL, *row = NULL;
	const char *command;
	if (iot__http_device_access(r, s, r->id, &c) < 0 || !(body = iot__http_body_object(r)) ||
	    iot__http_str_member(r, body, "command", &command) < 0 ||
	    send_command(r, s, &c, command, json_object_get(body, "parameters"), json_object_get(body, "ttl"), &row) < 0)
		goto out;
	json_t *ans = pick(row, sent_keys);
	json_object_set_new(ans, "message", json_string(is_sent(row) ? "Command sent via MQTT"
	                    : "Command stored; the broker is unreachable: it is sent once the broker is back"));
	json_object_set(ans, "control_id", json_object_get(row, "id"));
	iot__http_reply(r, 201, ans);
out:
	json_decref(row);
	json_decref(body);
	iot__http_slot_put(s);
}

/* POST /api/v1/mqtt/device/{id}/command (admins; compat route 46): a
 * command of command_type control, tracked like any other. */
void iot__http_mqtt_device_command(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	struct http_caller c;
	json_t *body = NULL, *row = NULL;
	const char *type, *command = NULL;
	if (iot__http_device_access(r, s, r->id, &c) < 0)
		goto out;
	if (c.device || !c.user.is_admin) {
		iot__http_error(r, 403, "Forbidden", "This needs an admin's token");
		goto out;
	}
	if (!(body = iot__http_body_object(r)) || iot__http_str_member(r, body, "command_type", &type) < 0)
		goto out;
	if (type && strcmp(type, "control")) {
		iot__http_error(r, 400, "Invalid command type", !strcmp(type, "config")
		                ? "config is published by the platform itself: the device's whole configuration, retained,"
		                  " whenever it changes (POST /api/v1/devices/config, iot-device config set)"
		                : "Must be control (firmware updates are not supported here)");
		goto out;
	}
	/* "command": "NAME", or the Flask form's object {"command": NAME, "parameters": ...}. */
	json_t *cmd = json_object_get(body, "command"), *params = json_object_get(body, "parameters");
	if (json_is_object(cmd)) {
		params = json_object_get(cmd, "parameters") ? json_object_get(cmd, "parameters") : params;
		cmd = json_object_get(cmd, "command");
	}
	if (cmd && !json_is_string(cmd)) {
		iot__http_error(r, 400, "Invalid request", "command: the command's name, a string");
		goto out;
	}
	command = json_string_value(cmd);
	if (send_command(r, s, &c, command, params, json_object_get(body, "ttl"), &row) < 0)
		goto out;
	char id[24], topic[96];
	snprintf(id, sizeof id, "%" PRId64, r->id);
	snprintf(topic, sizeof topic, "iotflow/devices/%" PRId64 "/commands/control", r->id);
	iot__http_reply(r, 200, json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:O,s:O}", "status", "success", "message",
		is_sent(row) ? "Command sent successfully" : "Command stored; the broker is unreachable: it is sent once"
		" the broker is back", "device_id", id, "command_type", "control", "topic", topic, "qos", 1,
		"command_id", json_object_get(row, "id"), "command_status", json_object_get(row, "status")));
out:
	json_decref(row);
	json_decref(body);
	iot__http_slot_put(s);
}

void iot__http_control_status(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	struct http_caller c;
	json_t *body = NULL, *row = NULL;
	const char *status;
	iot_error err = { 0 };
	if (iot__http_device_access(r, s, r->id, &c) < 0 || !(body = iot__http_body_object(r)) ||
	    iot__http_str_member(r, body, "status", &status) < 0)
		goto out;
	if (!status || (strcmp(status, "acknowledged") && strcmp(status, "completed") && strcmp(status, "failed"))) {
		iot__http_error(r, 400, "Invalid status", "status: acknowledged, completed or failed");
		goto out;
	}
	if (iot_command_transition(s->db, r->id, r->ids[1], status, json_object_get(body, "result"), &row, &err) < 0) {
		if (err.status == IOT_NOT_FOUND)
			iot__http_error(r, 404, "Control command not found", "%s", err.msg);
		else if (err.status == IOT_REJECTED)
			iot__http_error(r, 409, "Invalid transition", "%s", err.msg);
		else
			iot__http_failed(r, &err, "Updating the command");
		goto out;
	}
	json_t *ans = pick(row, status_keys);
	json_object_set_new(ans, "message", json_string("Status updated"));
	iot__http_reply(r, 200, ans);
out:
	json_decref(row);
	json_decref(body);
	iot__http_slot_put(s);
}

void iot__http_control_pending(struct http_req *r)
{
	static const char *const keys[] = { "id", "device_id", "command", "parameters", "status", "created_at",
		"expires_at", NULL };
	struct http_slot *s = iot__http_slot_get(r->h);
	struct http_caller c;
	json_t *rows = NULL;
	iot_error err = { 0 };
	iot_command_filter f = { .device_id = r->id, .open = true, .oldest_first = true, .limit = 100 };
	if (iot__http_device_access(r, s, r->id, &c) < 0)
		goto out;
	if (iot_command_list(s->db, &f, &rows, &err) < 0) {
		iot__http_failed(r, &err, "Reading the commands");
		goto out;
	}
	json_t *arr = json_array();
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
		json_array_append_new(arr, pick(row, keys));
	iot__http_reply(r, 200, arr);
out:
	json_decref(rows);
	iot__http_slot_put(s);
}
