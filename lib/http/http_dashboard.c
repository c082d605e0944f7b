/* http_dashboard.c — what the web dashboard reads that the Flask routes
 * did not give a person: their devices with online state, last seen and
 * latest values in one answer, one device with its keys' state, and one
 * event stream for all of their devices.
 *
 *   GET /api/v1/dashboard/devices       ?limit (1..1000, default 200)
 *        &offset: {"status":"success","devices":[DEVICE...],
 *        "meta":{"total","limit","offset"}}, by name; DEVICE is the
 *        device object of /api/v1/admin/devices (never a key) with
 *        "is_online", "last_seen" (the later of PostgreSQL's and Redis's),
 *        "latest": {NAME:{"value","timestamp"}} ({} without telemetry)
 *        and "latest_at" (the newest point's time, or null)
 *   GET /api/v1/dashboard/devices/{id}  {"status":"success","device":
 *        DEVICE (plus "last_seen_source"),"keys":[{"key_prefix","state"
 *        (active|grace|expired|revoked),"created_at","expires_at",
 *        "last_used","usage_count","revoked_at"}]}: prefixes and state,
 *        never a key or digest
 *   GET /api/v1/dashboard/stream        Server-Sent Events as
 *        /api/v1/telemetry/{id}/stream, for every device of the caller
 *        (?measurement=a,b too): a page showing many devices needs one
 *        connection (browsers allow six per server) and one PostgreSQL
 *        session, not one per device. The devices are those of when it
 *        opened: the page opens it again when its list changes. It
 *        ends when one of them is deleted or given to someone else
 *        (http_stream.c checks every few seconds).
 *
 * Who: a person's token (Bearer, or "admin TOKEN"); their own devices, an
 * admin's every device; another user's device is 404 like an unknown one.
 * A device key is not a person: 401. PostgreSQL unavailable: 503. */
#include "http/http_dev.h"
#include "http/http_stream.h"
#include "query/query.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_DEVICES_MAX 10000

/* The owner filter of a person: their id, or NULL for an admin (all). */
static const char *owner_param(const iot_user_ref *u, char *buf, size_t size)
{
	snprintf(buf, size, "%" PRId64, u->id);
	return u->is_admin ? NULL : buf;
}

/* Each device of arr gets "latest" and "latest_at" from telemetry_latest. */
static int add_latest(struct http_slot *s, json_t *arr, iot_error *err)
{
	size_t n = json_array_size(arr), i;
	json_t *d, *rows = json_array();
	int64_t *ids = calloc(n + 1, sizeof *ids);
	int rc = -1;
	if (!ids || !rows) {
		iot_error_set(err, IOT_INTERNAL, "out of memory");
		goto out;
	}
	json_array_foreach(arr, i, d) {
		ids[i] = json_integer_value(json_object_get(d, "id"));
		json_object_set_new(d, "latest", json_object());
		json_object_set_new(d, "latest_at", json_null());
	}
	iot_lastpoint_req q = { .device_ids = ids, .ndevices = n };
	if (n && iot_query_lastpoint(s->db, &q, iot_query_collect, rows, err) < 0)
		goto out;
	json_t *row;
	size_t k;
	json_array_foreach(rows, k, row) {
		json_int_t id = json_integer_value(json_object_get(row, "device_id"));
		json_array_foreach(arr, i, d)
			if (json_integer_value(json_object_get(d, "id")) == id) {
				json_object_set(d, "latest", json_object_get(row, "measurements"));
				json_object_set(d, "latest_at", json_object_get(row, "timestamp"));
				break;
			}
	}
	rc = 0;
out:
	free(ids);
	json_decref(rows);
	return rc;
}

void iot__http_dashboard_devices(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	iot_user_ref u;
	long limit, offset;
	iot_error err = { 0 };
	PGresult *res = NULL, *cnt = NULL;
	json_t *rows = NULL;
	if (iot__http_auth_person(r, s, false, &u) < 0 || iot__http_arg_long(r, "limit", 200, 1, 1000, &limit) < 0 ||
	    iot__http_arg_long(r, "offset", 0, 0, INT32_MAX, &offset) < 0)
		goto out;
	char owner[24], lim[24], off[24];
	snprintf(lim, sizeof lim, "%ld", limit);
	snprintf(off, sizeof off, "%ld", offset);
	const char *params[3] = { owner_param(&u, owner, sizeof owner), lim, off };
	res = iot_db_exec(s->db, "SELECT " IOT_HTTP_DEV_DICT " FROM devices d WHERE $1::bigint IS NULL OR"
	                  " d.user_id = $1 ORDER BY d.name, d.id LIMIT $2 OFFSET $3", 3, params, &err);
	if (res)
		cnt = iot_db_exec(s->db, "SELECT count(*) FROM devices WHERE $1::bigint IS NULL OR user_id = $1",
		                  1, params, &err);
	if (!res || !cnt) {
		iot__http_failed(r, &err, "Listing the devices");
		goto out;
	}
	if (!(rows = iot__http_dev_rows(r, s, res, false))) {
		iot__http_error(r, 500, "Internal Server Error", "Out of memory");
		goto out;
	}
	if (add_latest(s, rows, &err) < 0) {
		iot__http_failed(r, &err, "Reading the latest values");
		goto out;
	}
	iot__http_reply(r, 200, json_pack("{s:s,s:O,s:{s:I,s:i,s:i}}", "status", "success", "devices", rows,
		"meta", "total", (json_int_t)strtoll(PQgetvalue(cnt, 0, 0), NULL, 10), "limit", (int)limit,
		"offset", (int)offset));
out:
	json_decref(rows);
	PQclear(res);
	PQclear(cnt);
	iot__http_slot_put(s);
}

void iot__http_dashboard_device(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	iot_user_ref u;
	iot_error err = { 0 };
	json_t *d = NULL, *one = NULL, *keys = NULL;
	if (iot__http_auth_person(r, s, false, &u) < 0 || iot__http_dev_get(r, s, r->id, true, &d) < 0)
		goto out;
	if (!u.is_admin && json_integer_value(json_object_get(d, "user_id")) != u.id) {
		iot__http_error(r, 404, "Device not found", "No device %" PRId64 " that you may see", r->id);
		goto out;
	}
	char id[24];
	snprintf(id, sizeof id, "%" PRId64, r->id);
	iot_registry reg = iot__http_registry(r, s);
	if (!(one = json_pack("[O]", d)) || add_latest(s, one, &err) < 0 ||
	    iot_device_key_list(&reg, id, &keys, &err) < 0) {
		iot__http_failed(r, &err, "Reading the device");
		goto out;
	}
	size_t i;
	json_t *k;
	json_array_foreach(keys, i, k)
		json_object_del(k, "device_id");
	iot__http_reply(r, 200, json_pack("{s:s,s:O,s:O}", "status", "success", "device", d, "keys", keys));
out:
	json_decref(keys);
	json_decref(one);
	json_decref(d);
	iot__http_slot_put(s);
}

/* The caller's device ids into *ids (an admin: none, which follows every
 * device); 0, or -1 answered. */
static int stream_ids(struct http_req *r, struct http_slot *s, int64_t **ids, size_t *n, struct http_grant *g)
{
	iot_user_ref u;
	iot_error err = { 0 };
	*ids = NULL;
	*n = 0;
	if (iot__http_auth_person(r, s, false, &u) < 0)
		return -1;
	g->who = u.id;
	g->admin = u.is_admin;
	if (u.is_admin)
		return 0;
	char owner[24], max[24];
	snprintf(max, sizeof max, "%d", STREAM_DEVICES_MAX);
	const char *params[2] = { owner_param(&u, owner, sizeof owner), max };
	PGresult *res = iot_db_exec(s->db, "SELECT id FROM devices WHERE user_id = $1 ORDER BY id LIMIT $2",
	                            2, params, &err);
	if (!res) {
		iot__http_failed(r, &err, "Listing the devices");
		return -1;
	}
	int rows = PQntuples(res);
	/* Id 0 is no device's (ids count from 1): a person without devices
	 * follows it, and sees keep-alives only. */
	if (!(*ids = calloc((size_t)rows + 1, sizeof **ids))) {
		PQclear(res);
		iot__http_error(r, 500, "Internal Server Error", "Out of memory");
		return -1;
	}
	for (int i = 0; i < rows; i++)
		(*ids)[i] = strtoll(PQgetvalue(res, i, 0), NULL, 10);
	*n = rows ? (size_t)rows : 1;
	PQclear(res);
	return 0;
}

void iot__http_dashboard_stream(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	int64_t *ids;
	size_t n;
	struct http_grant g = { 0 };
	int ok = stream_ids(r, s, &ids, &n, &g);
	iot__http_slot_put(s);
	if (ok == 0) {
		iot__http_grant_take(r, &g);
		g.device = false;     /* a person's route: a key was refused */
		iot__http_stream_devices(r, ids, n, &g);
	}
	iot__http_grant_wipe(&g);
	free(ids);
}
