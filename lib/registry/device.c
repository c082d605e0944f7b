/* device.c — provisioning: fields, lookup by id or OWNER/NAME, add, set, rm,
 * and the invalidation that follows every change that affects auth. */
#include "registry/device_int.h"
#include "auth/auth.h"
#include "base/field_check.h"
#include "auth/keys.h"

#include <inttypes.h>
#include <stddef.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int iot_device_fields_check(const iot_device_fields *f, bool adding, iot_error *err)
{
	enum iot_device_status st;
	if (adding && !f->name)
		return iot_error_set(err, IOT_USAGE, "name: missing");
	if (adding && !f->owner)
		return iot_error_set(err, IOT_USAGE, "owner: missing");
	if ((f->name && iot_field_check("name", f->name, 1, 100, false, err) < 0) ||
	    (f->type && iot_field_check("type", f->type, 1, 50, false, err) < 0) ||
	    (f->description && iot_field_check("description", f->description, 0, 1000, true, err) < 0) ||
	    (f->location && iot_field_check("location", f->location, 0, 200, false, err) < 0) ||
	    (f->firmware && iot_field_check("firmware_version", f->firmware, 0, 50, false, err) < 0) ||
	    (f->hardware && iot_field_check("hardware_version", f->hardware, 0, 50, false, err) < 0))
		return -1;
	if (f->owner && iot_username_check(f->owner, err) < 0)
		return -1;
	if (f->status && iot_device_status_parse(f->status, &st) < 0)
		return iot_error_set(err, IOT_USAGE, "status: expected active, inactive or maintenance");
	return 0;
}

int iot_device_fields_from_json(const json_t *obj, iot_device_fields *f, iot_error *err)
{
	static const struct { const char *key; size_t off; } members[] = {
		{ "name", offsetof(iot_device_fields, name) },
		{ "owner", offsetof(iot_device_fields, owner) },
		{ "type", offsetof(iot_device_fields, type) },
		{ "device_type", offsetof(iot_device_fields, type) },
		{ "description", offsetof(iot_device_fields, description) },
		{ "location", offsetof(iot_device_fields, location) },
		{ "firmware_version", offsetof(iot_device_fields, firmware) },
		{ "hardware_version", offsetof(iot_device_fields, hardware) },
		{ "status", offsetof(iot_device_fields, status) },
	};
	if (!json_is_object(obj))
		return iot_error_set(err, IOT_REJECTED, "expected a JSON object");
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)obj, key, v) {
		size_t i;
		for (i = 0; i < sizeof members / sizeof members[0]; i++)
			if (!strcmp(key, members[i].key))
				break;
		if (i == sizeof members / sizeof members[0])
			return iot_error_set(err, IOT_REJECTED, "unknown member '%.64s'", key);
		if (json_is_null(v))
			continue;
		if (!json_is_string(v))
			return iot_error_set(err, IOT_REJECTED, "%s: expected a string", key);
		if (strlen(json_string_value(v)) != json_string_length(v))
			return iot_error_set(err, IOT_REJECTED, "%s: contains a NUL character", key);
		*(const char **)((char *)f + members[i].off) = json_string_value(v);
	}
	return 0;
}

/* A bare NAME: the one device that has it. Several: say which they are. */
static int resolve_name(iot_registry *id, const char *name, int64_t *out, iot_error *err)
{
	static const char sql[] =
		"SELECT d.id, u.username || '/' || d.name, count(*) OVER ()"
		" FROM devices d JOIN users u ON u.id = d.user_id WHERE d.name = $1"
		" ORDER BY u.username LIMIT 5";
	const char *params[1] = { name };
	PGresult *res = iot_db_exec(id->db, sql, 1, params, err);
	if (!res)
		return -1;
	int rc = iot_registry_pick_one(res, "device", name, out, err);
	PQclear(res);
	return rc;
}

int iot_device_resolve(iot_registry *id, const char *spec, int64_t *out, iot_error *err)
{
	if (iot_field_check("device", spec, 1, 200, false, err) < 0)
		return -1;
	long long num = iot_parse_id(spec);
	const char *slash = strchr(spec, '/');
	PGresult *res;
	if (num > 0) {
		char idtext[24];
		snprintf(idtext, sizeof idtext, "%lld", num);
		const char *params[1] = { idtext };
		res = iot_db_exec(id->db, "SELECT id FROM devices WHERE id = $1", 1, params, err);
	} else if (slash && slash > spec && slash[1]) {
		char owner[80];
		size_t ol = (size_t)(slash - spec);
		if (ol >= sizeof owner)
			return iot_error_set(err, IOT_NOT_FOUND, "unknown device '%s'", spec);
		memcpy(owner, spec, ol);
		owner[ol] = '\0';
		const char *params[2] = { owner, slash + 1 };
		res = iot_db_exec(id->db,
		                  "SELECT d.id FROM devices d JOIN users u ON u.id = d.user_id"
		                  " WHERE u.username = $1 AND d.name = $2", 2, params, err);
	} else if (!slash && strspn(spec, "0123456789") != strlen(spec)) {
		return resolve_name(id, spec, out, err);
	} else {
		return iot_error_set(err, IOT_USAGE, "device: expected an id, OWNER/NAME or NAME, not '%s'", spec);
	}
	if (!res)
		return -1;
	int n = PQntuples(res);
	if (n == 1)
		*out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return n == 1 ? 0 : iot_error_set(err, IOT_NOT_FOUND, "unknown device '%s'", spec);
}

/* A comma-separated list of hex digests (never shown to anyone). 0, or -1
 * when Redis is configured but the entries were not dropped: err says why
 * (Redis's answer, or the database's when the installation's namespace
 * could not be read). Without Redis there is nothing to tell: programs
 * keep entries only 5 s then. */
static int invalidate_digests(iot_registry *id, int64_t device_id, const char *hex, iot_error *err)
{
	if (!id->cache || !iot_cache_configured(id->cache))
		return 0;
	/* Unnamed (no installation id), the invalidation below fails and says so. */
	iot_error e = { 0 };
	if (iot_auth_cache_bind(id->db, id->cache, &e) < 0 && e.status == IOT_UNAVAILABLE)
		return iot_error_set(err, IOT_UNAVAILABLE, "%s", e.msg);
	size_t n = 0, cap = hex && *hex ? strlen(hex) / 64 + 1 : 0;
	unsigned char (*d)[32] = calloc(cap + 1, sizeof *d);
	if (!d)
		return iot_error_set(err, IOT_INTERNAL, "out of memory");
	for (const char *p = hex; p && *p && n < cap;) {
		size_t bin = 0;
		if (sodium_hex2bin(d[n], 32, p, 64, NULL, &bin, NULL) == 0 && bin == 32)
			n++;
		p += 64;
		if (*p == ',')
			p++;
		else
			break;
	}
	int rc = iot_auth_invalidate_device(id->cache, device_id, (const unsigned char (*)[32])d, n);
	sodium_memzero(d, (cap + 1) * sizeof *d);
	free(d);
	if (rc < 0)
		return iot_error_set(err, IOT_UNAVAILABLE, "%s", iot_cache_last_error(id->cache));
	return 0;
}

int iot__device_invalidate(iot_registry *id, int64_t device_id, iot_error *err)
{
	if (!id->cache || !iot_cache_configured(id->cache))
		return 0;
	char idtext[24];
	snprintf(idtext, sizeof idtext, "%" PRId64, device_id);
	const char *params[1] = { idtext };
	PGresult *res = iot_db_exec(id->db,
	                            "SELECT string_agg(encode(key_digest, 'hex'), ',') FROM device_auth"
	                            " WHERE device_id = $1", 1, params, err);
	if (!res) {
		err->status = IOT_UNAVAILABLE;
		return -1;
	}
	int rc = invalidate_digests(id, device_id, PQgetvalue(res, 0, 0), err);
	PQclear(res);
	return rc;
}

static const char add_sql[] =
	"WITH o AS (SELECT id FROM users WHERE username = $1),"
	" d AS (INSERT INTO devices (name, user_id, device_type, description, location,"
	"   firmware_version, hardware_version, status, api_key)"
	"   SELECT $2, o.id, coalesce($3, 'sensor'), nullif($4, ''), nullif($5, ''), nullif($6, ''),"
	"   nullif($7, ''), coalesce($8, 'active'), $9 FROM o RETURNING *),"
	" k AS (INSERT INTO device_auth (device_id, key_digest, key_prefix)"
	"   SELECT id, $10::bytea, $9 FROM d RETURNING device_id)"
	" SELECT json_build_object('id', d.id, 'name', d.name, 'owner', $1::text, 'type', d.device_type,"
	"   'status', d.status, 'key_prefix', d.api_key)::text FROM d JOIN k ON k.device_id = d.id";

int iot_device_add(iot_registry *id, const iot_device_fields *f, json_t **out, iot_error *err)
{
	if (iot_device_fields_check(f, true, err) < 0)
		return -1;
	iot_issued_secret sec;
	if (iot_secret_issue(id->cfg, IOT_DEVICE_KEY_PREFIX, &sec, err) < 0)
		return -1;
	const char *key = sec.secret, *prefix = sec.display, *param = sec.digest_param;
	const char *params[10] = { f->owner, f->name, f->type, f->description, f->location,
	                           f->firmware, f->hardware, f->status, prefix, param };
	PGresult *res = iot_db_exec(id->db, add_sql, 10, params, err);
	int rc = -1;
	if (!res) {
		char dup[200];
		snprintf(dup, sizeof dup, "owner '%s' already has a device named '%.100s'", f->owner, f->name);
		iot_registry_db_error(id, err, dup, NULL);
	} else {
		char what[120];
		snprintf(what, sizeof what, "unknown owner '%s'", f->owner);
		*out = iot_registry_row(res, what, err);
		if (*out) {
			json_object_set_new(*out, "api_key", json_string(key));
			rc = 0;
			/* Programs that looked this id up before it existed remember
			 * that it was unknown (auth.h): the message makes them forget.
			 * Without Redis they do within IOT_AUTH_UNKNOWN_TTL_MS. */
			iot_error e;
			invalidate_digests(id, json_integer_value(json_object_get(*out, "id")), NULL, &e);
		}
		PQclear(res);
	}
	sodium_memzero(&sec, sizeof sec);
	return rc;
}

static int owner_id(iot_registry *id, const char *owner, char *out, size_t size, iot_error *err)
{
	const char *params[1] = { owner };
	PGresult *res = iot_db_exec(id->db, "SELECT id FROM users WHERE username = $1", 1, params, err);
	if (!res)
		return -1;
	int n = PQntuples(res);
	if (n == 1)
		snprintf(out, size, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return n == 1 ? 0 : iot_error_set(err, IOT_NOT_FOUND, "unknown owner '%s'", owner);
}

/* The name device idtext has now, for a message (empty when it cannot be read). */
static void device_name(iot_registry *id, const char *idtext, char *out, size_t size)
{
	const char *params[1] = { idtext };
	iot_error e = { 0 };
	PGresult *res = iot_db_exec(id->db, "SELECT name FROM devices WHERE id = $1", 1, params, &e);
	if (res && PQntuples(res) == 1)
		snprintf(out, size, "%.100s", PQgetvalue(res, 0, 0));
	PQclear(res);
}

static const char update_sql[] =
	"WITH d AS (UPDATE devices SET name = coalesce($2, name), device_type = coalesce($3, device_type),"
	"   description = CASE WHEN $4::text IS NULL THEN description ELSE nullif($4, '') END,"
	"   location = CASE WHEN $5::text IS NULL THEN location ELSE nullif($5, '') END,"
	"   firmware_version = CASE WHEN $6::text IS NULL THEN firmware_version ELSE nullif($6, '') END,"
	"   hardware_version = CASE WHEN $7::text IS NULL THEN hardware_version ELSE nullif($7, '') END,"
	"   status = coalesce($8, status), user_id = coalesce($9::bigint, user_id), updated_at = now()"
	"   WHERE id = $1 RETURNING *)"
	" SELECT json_build_object('id', d.id, 'name', d.name, 'owner', u.username, 'type', d.device_type,"
	"   'status', d.status, 'description', d.description, 'location', d.location,"
	"   'firmware_version', d.firmware_version, 'hardware_version', d.hardware_version,"
	"   'updated_at', " IOT_SQL_TS("d.updated_at") ")::text FROM d JOIN users u ON u.id = d.user_id";

int iot_device_update(iot_registry *id, const char *spec, const iot_device_fields *f,
                      json_t **out, iot_error *err)
{
	int64_t dev;
	char uid[24] = "", idtext[24];
	if (iot_device_fields_check(f, false, err) < 0 || iot_device_resolve(id, spec, &dev, err) < 0)
		return -1;
	if (f->owner && owner_id(id, f->owner, uid, sizeof uid, err) < 0)
		return -1;
	snprintf(idtext, sizeof idtext, "%" PRId64, dev);
	const char *params[9] = { idtext, f->name, f->type, f->description, f->location,
	                          f->firmware, f->hardware, f->status, f->owner ? uid : NULL };
	PGresult *res = iot_db_exec(id->db, update_sql, 9, params, err);
	if (!res) {
		char dup[300], name[104] = "";
		if (strcmp(iot_db_sqlstate(id->db), "23505"))
			return iot_registry_db_error(id, err, NULL, NULL);
		if (f->name)
			snprintf(name, sizeof name, "%.100s", f->name);
		else
			device_name(id, idtext, name, sizeof name);
		if (f->owner)
			snprintf(dup, sizeof dup, "owner '%.100s' already has a device named '%s'", f->owner, name);
		else
			snprintf(dup, sizeof dup, "the owner already has a device named '%s'", name);
		return iot_error_set(err, IOT_REJECTED, "%s", dup);
	}
	*out = iot_registry_row(res, "device vanished", err);
	PQclear(res);
	if (!*out)
		return -1;
	iot_error why = { 0 };
	if (!(f->status || f->owner) || iot__device_invalidate(id, dev, &why) == 0)
		return 0;
	return iot_error_set(err, IOT_UNAVAILABLE,
	                     "device %" PRId64 ": the status or owner change is committed in PostgreSQL, but"
	                     " the device's cached entries could not be dropped (%s): programs may go on"
	                     " using its old status and owner from the cache for up to %d minutes. Once"
	                     " that is fixed, run this set again: it changes nothing more and drops them",
	                     dev, why.msg, IOT_AUTH_STALE_MAX_MIN);
}

static const char remove_sql[] =
	"WITH d AS (DELETE FROM devices WHERE id = $1 RETURNING id, name, user_id)"
	" SELECT json_build_object('id', d.id, 'name', d.name, 'owner', u.username, 'removed', true)::text,"
	"   (SELECT string_agg(encode(key_digest, 'hex'), ',') FROM device_auth WHERE device_id = $1)"
	" FROM d JOIN users u ON u.id = d.user_id";

int iot_device_remove(iot_registry *id, const char *spec, json_t **out, iot_error *err)
{
	int64_t dev;
	char idtext[24];
	if (iot_device_resolve(id, spec, &dev, err) < 0)
		return -1;
	/* Once the rows are gone, nobody could name the digests to drop any
	 * more: so with Redis configured but not taking the invalidation,
	 * nothing is removed. */
	iot_error e = { 0 };
	if (iot__device_invalidate(id, dev, &e) < 0)
		return iot_error_set(err, IOT_UNAVAILABLE,
		                     "device %" PRId64 " not removed: its cached entries could not be dropped"
		                     " (%s), and once it is gone nobody could drop them any more. Remove it once"
		                     " that is fixed. To refuse it meanwhile, revoke its keys or set it inactive:"
		                     " committed at once, though programs may accept its cached keys for up to"
		                     " %d minutes", dev, e.msg, IOT_AUTH_STALE_MAX_MIN);
	snprintf(idtext, sizeof idtext, "%" PRId64, dev);
	const char *params[1] = { idtext };
	PGresult *res = iot_db_exec(id->db, remove_sql, 1, params, err);
	if (!res)
		return -1;
	*out = iot_registry_row(res, "device vanished", err);
	/* Again: a lookup between the first invalidation and the delete may
	 * have cached a key anew. */
	int rc = *out ? 0 : -1;
	if (*out && invalidate_digests(id, dev, PQgetvalue(res, 0, 1), &e) < 0)
		rc = iot_error_set(err, IOT_UNAVAILABLE,
		                   "device %" PRId64 " removed from PostgreSQL, but its cached entries could not"
		                   " be dropped (%s): programs may accept its keys from the cache for up to %d"
		                   " minutes, unless the keys iotflow:%s:auth:* are deleted in Redis",
		                   dev, e.msg, IOT_AUTH_STALE_MAX_MIN,
		                   iot_cache_namespace(id->cache) ? iot_cache_namespace(id->cache) : "*");
	PQclear(res);
	return rc;
}
