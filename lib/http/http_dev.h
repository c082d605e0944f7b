/* http_dev.h — what the device, registration, status and admin routes
 * share (http_devices.c, http_register.c, http_statuses.c, http_admin.c).
 * Not part of the public API. */
#ifndef IOT_HTTP_DEV_H
#define IOT_HTTP_DEV_H

#include "http/http_int.h"
#include "registry/device.h"
#include "registry/registry.h"

/* The Flask Device.to_dict(): id, name, description, device_type, status,
 * location, firmware_version, hardware_version, user_id (the owner's
 * integer id), created_at, updated_at, last_seen — as column 0 (JSON
 * text) with last_seen in microseconds as column 1 and offline_at (the
 * last offline announcement, sql/008) as column 2. Never a key. */
#define IOT_HTTP_DEV_DICT \
	"json_build_object('id', d.id, 'name', d.name, 'description', d.description," \
	" 'device_type', d.device_type, 'status', d.status, 'location', d.location," \
	" 'firmware_version', d.firmware_version, 'hardware_version', d.hardware_version," \
	" 'user_id', d.user_id, 'created_at', " IOT_SQL_TS("d.created_at") "," \
	" 'updated_at', " IOT_SQL_TS("d.updated_at") ", 'last_seen', " IOT_SQL_TS("d.last_seen") ")::text," \
	" coalesce((extract(epoch FROM d.last_seen) * 1000000)::bigint, 0)," \
	" coalesce((extract(epoch FROM d.offline_at) * 1000000)::bigint, 0)"

/* The registry context on a slot's connections. */
iot_registry iot__http_registry(struct http_req *r, struct http_slot *s);
/* X-API-Key, then: an inactive device 403 (offline is not inactive), the
 * device's rate limit 429. 0 and *dev, or -1 with the answer given. */
int iot__http_dev_key(struct http_req *r, struct http_slot *s, iot_device_ref *dev);
/* Rows of IOT_HTTP_DEV_DICT -> an array of objects with last_seen the later
 * of PostgreSQL's and Redis's and "is_online" within the online_window
 * setting and after the last offline announcement; with sources, also "last_seen_source" (database|redis_cache).
 * NULL when out of memory. */
json_t *iot__http_dev_rows(struct http_req *r, struct http_slot *s, PGresult *res, bool sources);
/* One device as above: 0 and *out, or -1 with the answer given (404 unknown, 503). */
int iot__http_dev_get(struct http_req *r, struct http_slot *s, int64_t id, bool sources, json_t **out);
/* The request body as a JSON object: NULL with the answer given (400 not
 * JSON or not an object; empty is "Invalid JSON", as the Flask validator). */
json_t *iot__http_body_object(struct http_req *r);
/* A registry or database failure: 503 with Retry-After (unavailable), 404
 * (not found), 400 (usage, rejected: the registry's message, which names
 * the field), 500 otherwise (no detail: it may hold database text). */
void iot__http_failed(struct http_req *r, const iot_error *err, const char *what);
/* Query parameter name as an integer in lo..hi, def when absent: 0, or -1
 * with the 400 given (its message names the parameter and the range). */
int iot__http_arg_long(struct http_req *r, const char *name, long def, long lo, long hi, long *out);
/* A string member, NULL when absent or null; -1 with the 400 given when of another type. */
/* Who asks: a device by X-API-Key (its key valid, the device active, under
 * its rate limit) or a person by Authorization: Bearer; neither is 401
 * "API key required" (the Flask read routes' answer). 0, or -1 with the
 * answer given. */
struct http_caller {
	bool device;
	iot_device_ref dev;
	iot_user_ref user;
};
int iot__http_caller(struct http_req *r, struct http_slot *s, struct http_caller *c);
int iot__http_str_member(struct http_req *r, const json_t *obj, const char *key, const char **out);

/* handlers: device key (http_devices.c) */
void iot__http_dev_status(struct http_req *r);
void iot__http_dev_heartbeat(struct http_req *r);
void iot__http_dev_credentials(struct http_req *r);
void iot__http_dev_mqtt_credentials(struct http_req *r);
/* Config rows (iot_device_config_get) as the Flask configuration object:
 * {KEY: {"value","data_type","updated_at"}}. */
json_t *iot__http_config_object(const json_t *rows);
void iot__http_dev_config_get(struct http_req *r);
void iot__http_dev_config_post(struct http_req *r);
void iot__http_dev_config_put(struct http_req *r);
/* registration (http_register.c) */
void iot__http_dev_register(struct http_req *r);
/* statuses (http_statuses.c) */
void iot__http_dev_statuses(struct http_req *r);
void iot__http_dev_id_status(struct http_req *r);
/* admin (http_admin.c) */
void iot__http_admin_devices(struct http_req *r);
void iot__http_admin_device(struct http_req *r);
void iot__http_admin_device_delete(struct http_req *r);
void iot__http_admin_device_status(struct http_req *r);
void iot__http_admin_stats(struct http_req *r);
void iot__http_admin_gone(struct http_req *r);
/* the dashboard's reads (http_dashboard.c) */
void iot__http_dashboard_devices(struct http_req *r);
void iot__http_dashboard_device(struct http_req *r);
void iot__http_dashboard_stream(struct http_req *r);

#endif
