/* http_admin.c — the admin routes (compat routes 27-31) and the Flask
 * service's Redis-sync and cache routes (32-39), which answer 410 Gone.
 *
 * Auth: Authorization: Bearer <an admin's token>, or the Flask form
 * "admin <token>" with an admin's token (there is no default admin token).
 * A device key is 403 on every one of them, and never gets data.
 *
 *   GET    /api/v1/admin/devices             {"status","total_devices","devices":[<to_dict>
 *                                            + "is_online","auth_records_count","config_count"]}
 *   GET    /api/v1/admin/devices/{id}        {"status","device","auth_records":[{"id","prefix",
 *                                            "is_active","expires_at","created_at","last_used",
 *                                            "usage_count"}],"configurations":{key:{"value"
 *                                            (typed),"data_type","updated_at"}}}; 404 unknown
 *   PUT    /api/v1/admin/devices/{id}/status {"status":"active|inactive|maintenance"} ->
 *                                            {"status","message","device_id","old_status",
 *                                            "new_status"}; 400 missing/invalid, 404 unknown
 *   GET    /api/v1/admin/stats               device_stats, auth_stats, config_stats
 *                                            (online: active and seen within online_window)
 *   DELETE /api/v1/admin/devices/{id}        {"status","message","device_id","note"}; its keys,
 *                                            configuration and telemetry go with it; 404 unknown
 *
 * Routes 32-39 managed the Flask service's Redis device-status cache and
 * its sync to PostgreSQL. Here PostgreSQL holds the status and Redis only
 * caches what PostgreSQL says (invalidated on every change), so there is
 * nothing to clear or sync: 410 {"error":"Not supported","message":...}. */
#include "http/http_dev.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 0 for an admin, -1 with the answer given (a device key 403). */
static int admin(struct http_req *r, struct http_slot *s)
{
	iot_user_ref u;
	return iot__http_auth_person(r, s, true, &u);
}

void iot__http_admin_devices(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	iot_error err = { 0 };
	PGresult *res = NULL;
	json_t *rows = NULL;
	if (admin(r, s) < 0)
		goto out;
	res = iot_db_exec(s->db, "SELECT " IOT_HTTP_DEV_DICT ","
	                  " (SELECT count(*) FROM device_auth a WHERE a.device_id = d.id),"
	                  " (SELECT count(*) FROM device_configurations c WHERE c.device_id = d.id)"
	                  " FROM devices d ORDER BY d.id", 0, NULL, &err);
	if (!res) {
		iot__http_failed(r, &err, "Listing devices");
		goto out;
	}
	if (!(rows = iot__http_dev_rows(r, s, res, false))) {
		iot__http_error(r, 500, "Internal Server Error", "Out of memory");
		goto out;
	}
	for (int i = 0; i < PQntuples(res); i++) {
		json_t *d = json_array_get(rows, (size_t)i);
		json_object_set_new(d, "auth_records_count", json_integer(strtoll(PQgetvalue(res, i, 3), NULL, 10)));
		json_object_set_new(d, "config_count", json_integer(strtoll(PQgetvalue(res, i, 4), NULL, 10)));
	}
	iot__http_reply(r, 200, json_pack("{s:s,s:I,s:O}", "status", "success",
	                                  "total_devices", (json_int_t)json_array_size(rows), "devices", rows));
out:
	json_decref(rows);
	if (res)
		PQclear(res);
	iot__http_slot_put(s);
}

void iot__http_admin_device(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	iot_registry reg = iot__http_registry(r, s);
	iot_error err = { 0 };
	json_t *d = NULL, *keys = NULL, *conf = NULL;
	char idtext[24];
	snprintf(idtext, sizeof idtext, "%" PRId64, r->id);
	if (admin(r, s) < 0 || iot__http_dev_get(r, s, r->id, false, &d) < 0)
		goto out;
	const char *params[1] = { idtext };
	PGresult *res = iot_db_exec(s->db, "SELECT json_build_object('id', id, 'prefix', key_prefix,"
		" 'is_active', is_active AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()),"
		" 'expires_at', " IOT_SQL_TS("expires_at") ", 'created_at', " IOT_SQL_TS("created_at") ","
		" 'last_used', " IOT_SQL_TS("last_used") ", 'usage_count', usage_count)::text"
		" FROM device_auth WHERE device_id = $1 ORDER BY id", 1, params, &err);
	if (res) {
		keys = iot_registry_rows(res, &err);
		PQclear(res);
	}
	if (!keys || iot_device_config_get(&reg, idtext, NULL, &conf, &err) < 0) {
		iot__http_failed(r, &err, "Reading the device");
		goto out;
	}
	json_t *configs = iot__http_config_object(conf);
	iot__http_reply(r, 200, json_pack("{s:s,s:O,s:O,s:o}", "status", "success", "device", d,
	                                  "auth_records", keys, "configurations", configs));
out:
	json_decref(d);
	json_decref(keys);
	json_decref(conf);
	iot__http_slot_put(s);
}

void iot__http_admin_device_status(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	iot_registry reg = iot__http_registry(r, s);
	iot_error err = { 0 };
	json_t *body = NULL, *d = NULL, *out = NULL;
	iot_device_fields f = { 0 };
	enum iot_device_status st;
	char idtext[24], msg[96];
	if (admin(r, s) < 0 || !(body = iot__http_body_object(r)) ||
	    iot__http_str_member(r, body, "status", &f.status) < 0)
		goto done;
	if (!f.status) {
		iot__http_error(r, 400, "Missing status", "Status field is required");
		goto done;
	}
	if (iot_device_status_parse(f.status, &st) < 0) {
		iot__http_error(r, 400, "Invalid status", "Status must be active, inactive, or maintenance");
		goto done;
	}
	if (iot__http_dev_get(r, s, r->id, false, &d) < 0)
		goto done;
	snprintf(idtext, sizeof idtext, "%" PRId64, r->id);
	/* IOT_UNAVAILABLE with *out: committed, but cached entries may linger. */
	if (iot_device_update(&reg, idtext, &f, &out, &err) < 0 && !out) {
		iot__http_failed(r, &err, "Updating the device status");
		goto done;
	}
	const char *old = json_string_value(json_object_get(d, "status"));
	snprintf(msg, sizeof msg, "Device status updated from %s to %s", old, f.status);
	json_t *b = json_pack("{s:s,s:s,s:I,s:s,s:s}", "status", "success", "message", msg,
	                      "device_id", (json_int_t)r->id, "old_status", old, "new_status", f.status);
	if (err.status == IOT_UNAVAILABLE)
		json_object_set_new(b, "warning", json_string(err.msg));
	iot__http_reply(r, 200, b);
done:
	json_decref(out);
	json_decref(d);
	json_decref(body);
	iot__http_slot_put(s);
}

void iot__http_admin_stats(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	iot_error err = { 0 };
	PGresult *res = NULL, *cnt = NULL;
	json_t *rows = NULL;
	if (admin(r, s) < 0)
		goto out;
	res = iot_db_exec(s->db, "SELECT " IOT_HTTP_DEV_DICT " FROM devices d ORDER BY d.id", 0, NULL, &err);
	if (res)
		cnt = iot_db_exec(s->db, "SELECT (SELECT count(*) FROM device_auth),"
			" (SELECT count(*) FROM device_auth WHERE is_active AND revoked_at IS NULL"
			"   AND (expires_at IS NULL OR expires_at > now())),"
			" (SELECT count(*) FROM device_configurations),"
			" (SELECT count(*) FROM device_configurations WHERE is_active)", 0, NULL, &err);
	if (!res || !cnt || !(rows = iot__http_dev_rows(r, s, res, false))) {
		iot__http_failed(r, &err, "Reading the statistics");
		goto out;
	}
	json_int_t by[3] = { 0, 0, 0 }, online = 0;
	size_t i;
	json_t *d;
	json_array_foreach(rows, i, d) {
		enum iot_device_status st;
		if (iot_device_status_parse(json_string_value(json_object_get(d, "status")), &st) < 0)
			continue;
		by[st]++;
		if (st == IOT_DEVICE_ACTIVE && json_is_true(json_object_get(d, "is_online")))
			online++;
	}
	char ts[40];
	iot_format_timestamp(iot_now_us(), ts, sizeof ts);
#define N(col) (json_int_t)strtoll(PQgetvalue(cnt, 0, col), NULL, 10)
	iot__http_reply(r, 200, json_pack("{s:s,s:s,s:{s:I,s:I,s:I,s:I,s:I,s:I},s:{s:I,s:I},s:{s:I,s:I},s:s}",
		"status", "success", "timestamp", ts,
		"device_stats", "total", (json_int_t)json_array_size(rows), "active", by[IOT_DEVICE_ACTIVE],
		"inactive", by[IOT_DEVICE_INACTIVE], "maintenance", by[IOT_DEVICE_MAINTENANCE],
		"online", online, "offline", by[IOT_DEVICE_ACTIVE] - online,
		"auth_stats", "total_records", N(0), "active_records", N(1),
		"config_stats", "total_configs", N(2), "active_configs", N(3),
		"telemetry_note", "Telemetry is in PostgreSQL: see /api/v1/telemetry/status"));
#undef N
out:
	json_decref(rows);
	if (res)
		PQclear(res);
	if (cnt)
		PQclear(cnt);
	iot__http_slot_put(s);
}

void iot__http_admin_device_delete(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	iot_registry reg = iot__http_registry(r, s);
	iot_error err = { 0 };
	json_t *out = NULL;
	char idtext[24], msg[160];
	snprintf(idtext, sizeof idtext, "%" PRId64, r->id);
	if (admin(r, s) < 0)
		goto done;
	if (iot_device_remove(&reg, idtext, &out, &err) < 0 && !out) {
		if (err.status == IOT_NOT_FOUND)
			iot__http_error(r, 404, "Device not found", "No device found with ID %" PRId64, r->id);
		else if (err.status == IOT_UNAVAILABLE && strstr(err.msg, "not removed"))
			iot__http_error(r, 503, "Service Unavailable", "%s", err.msg);
		else
			iot__http_failed(r, &err, "Deleting the device");
		goto done;
	}
	snprintf(msg, sizeof msg, "Device %.100s deleted successfully", json_string_value(json_object_get(out, "name")));
	json_t *b = json_pack("{s:s,s:s,s:I,s:s}", "status", "success", "message", msg, "device_id", (json_int_t)r->id,
	                      "note", "Its keys, configuration and telemetry are deleted with it");
	if (err.status == IOT_UNAVAILABLE)
		json_object_set_new(b, "warning", json_string(err.msg));
	iot__http_reply(r, 200, b);
done:
	json_decref(out);
	iot__http_slot_put(s);
}

void iot__http_admin_gone(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	if (admin(r, s) == 0)
		iot__http_error(r, 410, "Not supported",
		                "%s has no meaning in this version: device status lives in PostgreSQL and Redis"
		                " only caches it, invalidated on every change, so there is no cache to clear or"
		                " sync (use iot-device to inspect and change devices)", iot__http_routes[r->route].tmpl);
	iot__http_slot_put(s);
}
