/* device_config.c — typed per-device configuration values. The text stored
 * is the value's canonical form for its type, checked before it is stored;
 * results carry the value as the JSON type it is (a float has a fraction
 * or an exponent: 22.0, not 22). */
#include "registry/device.h"
#include "base/field_check.h"
#include "base/json_util.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_VALUE_MAX 65536

#define CONFIG_JSON \
	"json_build_object('device_id', device_id, 'key', config_key, 'type', data_type," \
	" 'value', CASE data_type WHEN 'integer' THEN to_json(config_value::numeric)" \
	"   WHEN 'float' THEN (CASE WHEN config_value ~ '[.e]' THEN config_value ELSE config_value || '.0' END)::json" \
	"   WHEN 'boolean' THEN to_json(config_value::boolean)" \
	"   WHEN 'json' THEN config_value::json ELSE to_json(config_value) END," \
	" 'updated_at', " IOT_SQL_TS("updated_at") ")::text"

static const char *const types[] = { "string", "integer", "float", "boolean", "json" };

static int key_check(const char *key, iot_error *err)
{
	size_t n = strlen(key);
	if (n == 0 || n > 64)
		return iot_error_set(err, IOT_USAGE, "config key: 1 to 64 characters");
	for (size_t i = 0; i < n; i++) {
		char c = key[i];
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		          c == '_' || (i > 0 && strchr(".:-", c));
		if (!ok)
			return iot_error_set(err, IOT_USAGE,
			                     "config key: letters, digits and _.:- only, not starting with .:-");
	}
	return 0;
}

static int type_check(const char *type, iot_error *err)
{
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (!strcmp(type, types[i]))
			return 0;
	return iot_error_set(err, IOT_USAGE, "config type: expected string, integer, float, boolean or json");
}

/* The shortest text that reads back as exactly v (base/json_util.h). */
static char *shortest_double(double v)
{
	char buf[48];
	iot_json_real_text(v, buf, sizeof buf);
	return strdup(buf);
}

char *iot_device_config_canonical(const char *value, const char *type, iot_error *err)
{
	char *out = NULL, *end;
	errno = 0;
	if (!strcmp(type, "integer")) {
		long long v = strtoll(value, &end, 10);
		if (errno || end == value || *end)
			iot_error_set(err, IOT_USAGE, "config value: not an integer (64-bit)");
		else if (asprintf(&out, "%lld", v) < 0)
			out = NULL;
	} else if (!strcmp(type, "float")) {
		double v = strtod(value, &end);
		if (end == value || *end || !isfinite(v) || errno == ERANGE)
			iot_error_set(err, IOT_USAGE, "config value: not a finite number");
		else
			out = shortest_double(v);
	} else if (!strcmp(type, "boolean")) {
		if (!strcmp(value, "true") || !strcmp(value, "false"))
			out = strdup(value);
		else
			iot_error_set(err, IOT_USAGE, "config value: expected true or false");
	} else if (!strcmp(type, "json")) {
		/* Any JSON text, scalars included; same bounds as every other JSON input. */
		iot_error pe;
		json_t *v = iot_json_parse_value(value, strlen(value), IOT_JSON_MAX_DEPTH, &pe);
		if (!v)
			iot_error_set(err, IOT_USAGE, "config value: %s", pe.msg);
		else
			out = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		json_decref(v);
	} else {
		out = strdup(value);
	}
	return out;
}

static int config_query(iot_registry *id, const char *sql, int n, const char *const *params,
                        bool one, const char *what, json_t **out, iot_error *err)
{
	PGresult *res = iot_db_exec(id->db, sql, n, params, err);
	if (!res)
		return -1;
	*out = one ? iot_registry_row(res, what, err) : iot_registry_rows(res, err);
	PQclear(res);
	return *out ? 0 : -1;
}

int iot_device_config_get(iot_registry *id, const char *spec, const char *key, json_t **out,
                          iot_error *err)
{
	int64_t dev;
	char idtext[24], what[120];
	if ((key && key_check(key, err) < 0) || iot_device_resolve(id, spec, &dev, err) < 0)
		return -1;
	snprintf(idtext, sizeof idtext, "%" PRId64, dev);
	snprintf(what, sizeof what, "device %" PRId64 " has no config key '%s'", dev, key ? key : "");
	static const char sql[] =
		"SELECT " CONFIG_JSON " FROM device_configurations WHERE device_id = $1 AND is_active"
		" AND ($2::text IS NULL OR config_key = $2) ORDER BY config_key";
	const char *params[2] = { idtext, key };
	return config_query(id, sql, 2, params, key != NULL, what, out, err);
}

/* The key's current type (left as it is when the key is new) and how many
 * other keys and bytes of values the device has. A device writes its own
 * configuration over HTTP: unbounded, it could grow without end, and every
 * change is read and published whole. */
static int config_room(iot_registry *id, const char *idtext, const char *key, char type[16], long long *keys,
                       long long *bytes, iot_error *err)
{
	const char *p[2] = { idtext, key };
	PGresult *r = iot_db_exec(id->db,
		"SELECT (SELECT data_type FROM device_configurations WHERE device_id = $1 AND config_key = $2),"
		" count(*) FILTER (WHERE config_key <> $2),"
		" coalesce(sum(octet_length(config_value)) FILTER (WHERE config_key <> $2), 0)"
		" FROM device_configurations WHERE device_id = $1", 2, p, err);
	if (!r)
		return -1;
	if (!PQgetisnull(r, 0, 0))
		snprintf(type, 16, "%s", PQgetvalue(r, 0, 0));
	*keys = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
	*bytes = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
	PQclear(r);
	return 0;
}

static int room_check(const char *idtext, long long keys, long long bytes, const char *text, iot_error *err)
{
	if (strlen(text) > CONFIG_VALUE_MAX)
		return iot_error_set(err, IOT_USAGE, "config value: longer than %d characters", CONFIG_VALUE_MAX);
	if (keys >= IOT_DEVICE_CONFIG_KEYS_MAX)
		return iot_error_set(err, IOT_REJECTED, "device %s has %d config keys, the most allowed",
		                     idtext, IOT_DEVICE_CONFIG_KEYS_MAX);
	if (bytes + (long long)strlen(text) > IOT_DEVICE_CONFIG_BYTES_MAX)
		return iot_error_set(err, IOT_REJECTED, "device %s: its config values would be over %d bytes in all",
		                     idtext, IOT_DEVICE_CONFIG_BYTES_MAX);
	return 0;
}

int iot_device_config_set(iot_registry *id, const char *spec, const char *key, const char *value,
                          const char *type, json_t **out, iot_error *err)
{
	int64_t dev;
	char idtext[24], current[16] = "string";
	if (key_check(key, err) < 0 || (type && type_check(type, err) < 0) ||
	    iot_field_check("config value", value, 0, CONFIG_VALUE_MAX, true, err) < 0 ||
	    iot_device_resolve(id, spec, &dev, err) < 0)
		return -1;
	snprintf(idtext, sizeof idtext, "%" PRId64, dev);
	long long keys, bytes;
	if (config_room(id, idtext, key, current, &keys, &bytes, err) < 0)
		return -1;
	if (!type)
		type = current;
	char *text = iot_device_config_canonical(value, type, err);
	if (!text)
		return -1;
	if (room_check(idtext, keys, bytes, text, err) < 0) {
		free(text);
		return -1;
	}
	static const char sql[] =
		"INSERT INTO device_configurations AS c (device_id, config_key, config_value, data_type)"
		" VALUES ($1, $2, $3, $4) ON CONFLICT (device_id, config_key) DO UPDATE SET"
		" config_value = EXCLUDED.config_value, data_type = EXCLUDED.data_type, is_active = true,"
		" updated_at = now() RETURNING " CONFIG_JSON;
	const char *params[4] = { idtext, key, text, type };
	int rc = config_query(id, sql, 4, params, true, "config not stored", out, err);
	free(text);
	return rc < 0 ? iot_registry_db_error(id, err, NULL, NULL) : 0;
}

int iot_device_config_remove(iot_registry *id, const char *spec, const char *key, json_t **out,
                             iot_error *err)
{
	int64_t dev;
	char idtext[24], what[120];
	if (key_check(key, err) < 0 || iot_device_resolve(id, spec, &dev, err) < 0)
		return -1;
	snprintf(idtext, sizeof idtext, "%" PRId64, dev);
	snprintf(what, sizeof what, "device %" PRId64 " has no config key '%s'", dev, key);
	static const char sql[] =
		"DELETE FROM device_configurations WHERE device_id = $1 AND config_key = $2"
		" RETURNING json_build_object('device_id', device_id, 'key', config_key, 'removed', true)::text";
	const char *params[2] = { idtext, key };
	return config_query(id, sql, 2, params, true, what, out, err);
}
