/* device_list.c — reading devices: list with filters, show, online state. */
#include "registry/device.h"
#include "auth/auth.h"
#include "base/field_check.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEVICE_JSON \
	"json_build_object('id', d.id, 'name', d.name, 'owner', u.username, 'type', d.device_type," \
	" 'status', d.status, 'online', false, 'last_seen', " IOT_SQL_TS("d.last_seen") "," \
	" 'location', d.location, 'description', d.description," \
	" 'firmware_version', d.firmware_version, 'hardware_version', d.hardware_version," \
	" 'key_prefix', d.api_key, 'created_at', " IOT_SQL_TS("d.created_at") "," \
	" 'updated_at', " IOT_SQL_TS("d.updated_at") ")::text," \
	" coalesce((extract(epoch FROM d.last_seen) * 1000000)::bigint, 0)," \
	" coalesce((extract(epoch FROM d.offline_at) * 1000000)::bigint, 0)"

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void format_us(int64_t us, char *buf, size_t size)
{
	time_t s = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Rows -> device objects with last_seen the later of PostgreSQL's and
 * Redis's, online derived from it (within the window, and after the last
 * offline announcement: sql/008), and the online filter applied. */
static json_t *merge_online(iot_registry *id, PGresult *res, long window_s, int online_filter)
{
	int n = PQntuples(res);
	int64_t *ids = calloc((size_t)n + 1, sizeof *ids), *seen = calloc((size_t)n + 1, sizeof *seen);
	json_t *arr = json_array();
	if (!ids || !seen || !arr) {
		free(ids);
		free(seen);
		json_decref(arr);
		return NULL;
	}
	json_t **rows = calloc((size_t)n + 1, sizeof *rows);
	for (int i = 0; rows && i < n; i++) {
		rows[i] = json_loads(PQgetvalue(res, i, 0), 0, NULL);
		ids[i] = json_integer_value(json_object_get(rows[i], "id"));
	}
	/* Redis is a cache: when the installation's namespace cannot be read,
	 * last_seen is PostgreSQL's alone (the cache's warning says why). */
	iot_error e;
	if (id->cache && n > 0 && iot_auth_cache_bind(id->db, id->cache, &e) == 0)
		iot_cache_device_last_seen(id->cache, ids, (size_t)n, seen);
	int64_t now = now_us();
	for (int i = 0; rows && i < n; i++) {
		if (!rows[i])
			continue;
		int64_t db_seen = strtoll(PQgetvalue(res, i, 1), NULL, 10);
		int64_t last = seen[i] > db_seen ? seen[i] : db_seen;
		int64_t offline_at = strtoll(PQgetvalue(res, i, 2), NULL, 10);
		bool online = last > 0 && last > offline_at && now - last <= (int64_t)window_s * 1000000;
		if (last > 0) {
			char ts[40];
			format_us(last, ts, sizeof ts);
			json_object_set_new(rows[i], "last_seen", json_string(ts));
		}
		json_object_set_new(rows[i], "online", json_boolean(online));
		if (online_filter < 0 || online_filter == (int)online)
			json_array_append(arr, rows[i]);
		json_decref(rows[i]);
	}
	if (!rows) {
		json_decref(arr);
		arr = NULL;
	}
	free(rows);
	free(ids);
	free(seen);
	return arr;
}

static long window_of(iot_registry *id, long window_s)
{
	if (window_s > 0)
		return window_s;
	long w = iot_config_get_long(id->cfg, "online_window");
	return w > 0 ? w : 300;
}

int iot_device_list(iot_registry *id, const iot_device_filter *flt, json_t **out, iot_error *err)
{
	enum iot_device_status st;
	if (flt->owner && iot_username_check(flt->owner, err) < 0)
		return -1;
	if (flt->type && iot_field_check("type", flt->type, 1, 50, false, err) < 0)
		return -1;
	if (flt->status && iot_device_status_parse(flt->status, &st) < 0)
		return iot_error_set(err, IOT_USAGE, "status: expected active, inactive or maintenance");
	if (flt->owner) {
		const char *p[1] = { flt->owner };
		PGresult *r = iot_db_exec(id->db, "SELECT 1 FROM users WHERE username = $1", 1, p, err);
		if (!r)
			return -1;
		int n = PQntuples(r);
		PQclear(r);
		if (n != 1)
			return iot_error_set(err, IOT_NOT_FOUND, "unknown owner '%s'", flt->owner);
	}
	static const char sql[] =
		"SELECT " DEVICE_JSON " FROM devices d JOIN users u ON u.id = d.user_id"
		" WHERE ($1::text IS NULL OR u.username = $1) AND ($2::text IS NULL OR d.device_type = $2)"
		" AND ($3::text IS NULL OR d.status = $3) ORDER BY d.id";
	const char *params[3] = { flt->owner, flt->type, flt->status };
	PGresult *res = iot_db_exec(id->db, sql, 3, params, err);
	if (!res)
		return -1;
	*out = merge_online(id, res, window_of(id, flt->window_s), flt->online);
	PQclear(res);
	return *out ? 0 : iot_error_set(err, IOT_INTERNAL, "out of memory");
}

int iot_device_show(iot_registry *id, const char *spec, long window_s, json_t **out, iot_error *err)
{
	int64_t dev;
	char idtext[24];
	if (iot_device_resolve(id, spec, &dev, err) < 0)
		return -1;
	snprintf(idtext, sizeof idtext, "%" PRId64, dev);
	static const char sql[] =
		"SELECT " DEVICE_JSON " FROM devices d JOIN users u ON u.id = d.user_id WHERE d.id = $1";
	const char *params[1] = { idtext };
	PGresult *res = iot_db_exec(id->db, sql, 1, params, err);
	if (!res)
		return -1;
	json_t *arr = merge_online(id, res, window_of(id, window_s), -1);
	PQclear(res);
	if (!arr || json_array_size(arr) != 1) {
		json_decref(arr);
		return iot_error_set(err, IOT_NOT_FOUND, "unknown device '%s'", spec);
	}
	*out = json_incref(json_array_get(arr, 0));
	json_decref(arr);
	json_t *keys = NULL, *config = NULL;
	if (iot_device_key_list(id, idtext, &keys, err) < 0 ||
	    iot_device_config_get(id, idtext, NULL, &config, err) < 0) {
		json_decref(keys);
		json_decref(*out);
		return -1;
	}
	json_object_set_new(*out, "keys", keys);
	json_object_set_new(*out, "config", config);
	return 0;
}

json_t *iot_device_summary(const json_t *list)
{
	json_int_t total = 0, online = 0, by[3] = { 0, 0, 0 };
	size_t i;
	json_t *d;
	json_array_foreach(list, i, d) {
		enum iot_device_status st;
		total++;
		if (json_is_true(json_object_get(d, "online")))
			online++;
		if (iot_device_status_parse(json_string_value(json_object_get(d, "status")), &st) == 0)
			by[st]++;
	}
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "devices", total, "online", online,
	                 "offline", total - online, "active", by[IOT_DEVICE_ACTIVE],
	                 "inactive", by[IOT_DEVICE_INACTIVE], "maintenance", by[IOT_DEVICE_MAINTENANCE]);
}
