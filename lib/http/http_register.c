/* http_register.c — POST /api/v1/devices/register (compat route 5).
 *
 * Who may register, and for whom:
 *   Authorization: Bearer TOKEN   for the token's user; a "user_id" member
 *                                 (an id, a username, or an enrollment code)
 *                                 must name that same user unless the token
 *                                 is an admin's (403 otherwise)
 *   no token, "user_id": CODE     an enrollment code (iot-user enroll create),
 *                                 for deployed firmware that sends the Flask
 *                                 service's 32-hex user_id (compat §5): the
 *                                 device belongs to the code's user. Rate-
 *                                 limited per client address (10 per 300 s,
 *                                 as the Flask route: 429 with Retry-After;
 *                                 behind a trusted proxy, the address it
 *                                 forwards: client_addr.c).
 *                                 A wrong code: 401 Authentication failed.
 *   neither                       401 Authentication required (the ESP32
 *                                 sketch that sends no user_id gets this,
 *                                 with what to send, not the Flask 400)
 * Body: name and device_type required (400 Missing required fields);
 * description, location, firmware_version, hardware_version optional;
 * other members (capabilities, metadata) ignored. Names are unique per
 * owner: 409 Device name already exists. 201
 * {"message","device":{<to_dict>,"api_key","owner":{"username","email"}}}:
 * the key is shown this once. */
#include "http/http_dev.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/enroll.h"

#define ENROLL_LIMIT 10
#define ENROLL_WINDOW_S 300

/* In-process fixed windows per address hash, for when Redis is down. */
static pthread_mutex_t local_mu = PTHREAD_MUTEX_INITIALIZER;
static struct { uint64_t h; long long window; int count; } local_rl[1024];

static bool local_over(const char *addr, int *retry)
{
	uint64_t h = 1469598103934665603ull;
	for (const char *p = addr; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	long long now = iot_now_ms() / 1000, window = now / ENROLL_WINDOW_S;
	size_t i = h % (sizeof local_rl / sizeof local_rl[0]);
	pthread_mutex_lock(&local_mu);
	if (local_rl[i].h != h || local_rl[i].window != window) {
		local_rl[i].h = h;
		local_rl[i].window = window;
		local_rl[i].count = 0;
	}
	bool over = ++local_rl[i].count > ENROLL_LIMIT;
	pthread_mutex_unlock(&local_mu);
	*retry = (int)((window + 1) * ENROLL_WINDOW_S - now);
	return over;
}

/* 0 allowed, -1 with the 429 given. */
static int enroll_rate(struct http_req *r, struct http_slot *s)
{
	char addr[64], bucket[96];
	iot__http_client_addr(r, addr, sizeof addr);
	int retry = 0;
	bool over;
	snprintf(bucket, sizeof bucket, "http:enroll:%s", addr);
	if (s->cache && iot_cache_available(s->cache))
		over = iot_cache_rate_limit(s->cache, bucket, ENROLL_LIMIT, ENROLL_WINDOW_S, &retry) == 1;
	else
		over = local_over(addr, &retry);
	if (!over)
		return 0;
	atomic_fetch_add(&r->h->m.rate_limited, 1);
	iot__http_retry_after(r, retry > 0 ? retry : 1);
	iot__http_reply(r, 429, json_pack("{s:s,s:s,s:i,s:i,s:i}", "error", "Rate limit exceeded",
		"message", "Maximum 10 registrations per 300 seconds from one address without a token",
		"retry_after", retry > 0 ? retry : 1, "limit", ENROLL_LIMIT, "window", ENROLL_WINDOW_S));
	return -1;
}

/* The user a token holder's "user_id" member names: 0 and *id; -1 unknown. */
static int named_user(struct http_slot *s, iot_registry *reg, const json_t *v, int64_t *id)
{
	char text[80];
	iot_error err = { 0 };
	char uname[80];
	if (json_is_integer(v)) {
		snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	} else if (json_is_string(v) && json_string_length(v) < sizeof text) {
		if (iot_enroll_use(reg, json_string_value(v), id, uname, &err) == 0)
			return 0;
		snprintf(text, sizeof text, "%s", json_string_value(v));
	} else {
		return -1;
	}
	const char *params[1] = { text };
	PGresult *res = iot_db_exec(s->db, "SELECT id FROM users WHERE id::text = $1 OR username = $1",
	                            1, params, &err);
	if (!res)
		return -1;
	int n = PQntuples(res);
	if (n == 1)
		*id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return n == 1 ? 0 : -1;
}

/* Who the device will belong to: 0 and *owner, or -1 with the answer given. */
static int owner_of(struct http_req *r, struct http_slot *s, iot_registry *reg, const json_t *body, int64_t *owner)
{
	json_t *uid = json_object_get(body, "user_id");
	if (iot__http_get_header(r, MHD_HTTP_HEADER_AUTHORIZATION)) {
		iot_user_ref u;
		if (iot__http_auth_person(r, s, false, &u) < 0)
			return -1;
		*owner = u.id;
		if (!uid || json_is_null(uid))
			return 0;
		int64_t named = 0;
		if (named_user(s, reg, uid, &named) == 0 && (named == u.id || u.is_admin)) {
			*owner = named;
			return 0;
		}
		if (u.is_admin)
			iot__http_error(r, 404, "User not found", "user_id names no user");
		else
			iot__http_error(r, 403, "Forbidden", "user_id names another user: only an admin registers"
			                " devices for others (leave user_id out to register for yourself)");
		return -1;
	}
	if (!uid || json_is_null(uid)) {
		iot__http_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"IoTFlow\"");
		iot__http_error(r, 401, "Authentication required", "Registration needs Authorization: Bearer <token>"
		                " (iot-user token create), or an enrollment code in user_id (iot-user enroll create)");
		return -1;
	}
	if (enroll_rate(r, s) < 0)
		return -1;
	char uname[80];
	iot_error err = { 0 };
	if (!json_is_string(uid) || iot_enroll_use(reg, json_string_value(uid), owner, uname, &err) < 0) {
		if (err.status == IOT_UNAVAILABLE)
			iot__http_failed(r, &err, "Registration");
		else
			iot__http_error(r, 401, "Authentication failed", "Invalid user_id or user is not active");
		return -1;
	}
	return 0;
}

static int fields_of(struct http_req *r, const json_t *body, iot_device_fields *f)
{
	if (iot__http_str_member(r, body, "name", &f->name) < 0 ||
	    iot__http_str_member(r, body, "device_type", &f->type) < 0 ||
	    iot__http_str_member(r, body, "description", &f->description) < 0 ||
	    iot__http_str_member(r, body, "location", &f->location) < 0 ||
	    iot__http_str_member(r, body, "firmware_version", &f->firmware) < 0 ||
	    iot__http_str_member(r, body, "hardware_version", &f->hardware) < 0)
		return -1;
	if (!f->name || !f->type) {
		iot__http_error(r, 400, "Missing required fields", "Required fields: name, device_type");
		return -1;
	}
	return 0;
}

/* Username and email of a user id as {"username","email"}; NULL on failure (err). */
static json_t *owner_json(struct http_slot *s, int64_t id, iot_error *err)
{
	char idtext[24];
	snprintf(idtext, sizeof idtext, "%" PRId64, id);
	const char *params[1] = { idtext };
	PGresult *res = iot_db_exec(s->db, "SELECT json_build_object('username', username, 'email', email)::text"
	                            " FROM users WHERE id = $1", 1, params, err);
	if (!res)
		return NULL;
	json_t *o = iot_registry_row(res, "owner vanished", err);
	PQclear(res);
	return o;
}

void iot__http_dev_register(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	iot_registry reg = iot__http_registry(r, s);
	iot_device_fields f = { 0 };
	json_t *body = NULL, *owner = NULL, *added = NULL, *d = NULL;
	int64_t uid;
	iot_error err = { 0 };
	if (!(body = iot__http_body_object(r)) || fields_of(r, body, &f) < 0 || owner_of(r, s, &reg, body, &uid) < 0)
		goto out;
	if (!(owner = owner_json(s, uid, &err))) {
		iot__http_failed(r, &err, "Registration");
		goto out;
	}
	f.owner = json_string_value(json_object_get(owner, "username"));
	if (iot_device_add(&reg, &f, &added, &err) < 0) {
		if (err.status == IOT_REJECTED)
			iot__http_error(r, 409, "Device name already exists", "Please choose a different device name");
		else
			iot__http_failed(r, &err, "Registration");
		goto out;
	}
	int64_t id = json_integer_value(json_object_get(added, "id"));
	if (iot__http_dev_get(r, s, id, false, &d) < 0)
		goto out;
	json_object_del(d, "is_online");
	json_object_set(d, "api_key", json_object_get(added, "api_key"));
	json_object_set(d, "owner", owner);
	iot__http_reply(r, 201, json_pack("{s:s,s:O}", "message", "Device registered successfully", "device", d));
out:
	json_decref(d);
	if (added)
		json_object_clear(added);
	json_decref(added);
	json_decref(owner);
	json_decref(body);
	iot__http_slot_put(s);
}
