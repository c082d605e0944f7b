/* http_statuses.c — GET /api/v1/devices/statuses and
 * GET /api/v1/devices/{id}/status (compat routes 15, 16), authenticated
 * (the Flask ones were not): a person's Bearer token sees the person's own
 * devices (an admin's: all), a device key itself only.
 *
 * statuses: ?limit (1..1000, default 100) &offset (default 0); anything else
 * 400. {"status":"success","devices":[{"id","name","device_type","status",
 * "is_online"}],"meta":{"total","limit","offset","cache_used"}}.
 * {id}/status: {"status":"success","device":{"id","name","device_type",
 * "status","is_online","status_source":"database","last_seen",
 * "last_seen_source":"database"|"redis_cache"}}; an id that is not the
 * caller's is 404 like an unknown one (a device key: 403 device mismatch).
 * is_online is last_seen within the online_window setting (not 5 s), and
 * reading it changes nothing. */
#include "http/http_dev.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *brief(const json_t *d)
{
	return json_pack("{s:O,s:O,s:O,s:O,s:O}", "id", json_object_get(d, "id"), "name", json_object_get(d, "name"),
	                 "device_type", json_object_get(d, "device_type"), "status", json_object_get(d, "status"),
	                 "is_online", json_object_get(d, "is_online"));
}

void iot__http_dev_statuses(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	struct http_caller c;
	long limit, offset;
	iot_error err = { 0 };
	PGresult *res = NULL, *cnt = NULL;
	json_t *rows = NULL;
	if (iot__http_caller(r, s, &c) < 0 || iot__http_arg_long(r, "limit", 100, 1, 1000, &limit) < 0 ||
	    iot__http_arg_long(r, "offset", 0, 0, INT32_MAX, &offset) < 0)
		goto out;
	char owner[24], only[24], lim[24], off[24];
	snprintf(owner, sizeof owner, "%" PRId64, c.user.id);
	snprintf(only, sizeof only, "%" PRId64, c.dev.id);
	snprintf(lim, sizeof lim, "%ld", limit);
	snprintf(off, sizeof off, "%ld", offset);
	const char *params[4] = { c.device || c.user.is_admin ? NULL : owner, c.device ? only : NULL, lim, off };
	res = iot_db_exec(s->db, "SELECT " IOT_HTTP_DEV_DICT " FROM devices d WHERE ($1::bigint IS NULL OR"
	                  " d.user_id = $1) AND ($2::int IS NULL OR d.id = $2) ORDER BY d.id LIMIT $3 OFFSET $4",
	                  4, params, &err);
	if (res)
		cnt = iot_db_exec(s->db, "SELECT count(*) FROM devices d WHERE ($1::bigint IS NULL OR"
		                  " d.user_id = $1) AND ($2::int IS NULL OR d.id = $2)", 2, params, &err);
	if (!res || !cnt) {
		iot__http_failed(r, &err, "Status retrieval");
		goto out;
	}
	if (!(rows = iot__http_dev_rows(r, s, res, false))) {
		iot__http_error(r, 500, "Internal Server Error", "Out of memory");
		goto out;
	}
	json_t *list = json_array();
	size_t i;
	json_t *d;
	json_array_foreach(rows, i, d)
		json_array_append_new(list, brief(d));
	bool cache = s->cache && iot_cache_available(s->cache);
	iot__http_reply(r, 200, json_pack("{s:s,s:o,s:{s:I,s:i,s:i,s:b}}", "status", "success", "devices", list,
		"meta", "total", (json_int_t)strtoll(PQgetvalue(cnt, 0, 0), NULL, 10), "limit", (int)limit,
		"offset", (int)offset, "cache_used", cache));
out:
	json_decref(rows);
	if (res)
		PQclear(res);
	if (cnt)
		PQclear(cnt);
	iot__http_slot_put(s);
}

void iot__http_dev_id_status(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	struct http_caller c;
	json_t *d = NULL;
	if (iot__http_caller(r, s, &c) < 0)
		goto out;
	if (c.device && c.dev.id != r->id) {
		iot__http_error(r, 403, "Forbidden: device mismatch", "A device key reads its own device's status only");
		goto out;
	}
	if (iot__http_dev_get(r, s, r->id, true, &d) < 0)
		goto out;
	if (!c.device && !c.user.is_admin && json_integer_value(json_object_get(d, "user_id")) != c.user.id) {
		iot__http_error(r, 404, "Device not found", "No device found with ID %" PRId64, r->id);
		goto out;
	}
	json_t *o = brief(d);
	json_object_set_new(o, "status_source", json_string("database"));
	json_object_set(o, "last_seen", json_object_get(d, "last_seen"));
	json_object_set(o, "last_seen_source", json_object_get(d, "last_seen_source"));
	iot__http_reply(r, 200, json_pack("{s:s,s:o}", "status", "success", "device", o));
out:
	json_decref(d);
	iot__http_slot_put(s);
}
