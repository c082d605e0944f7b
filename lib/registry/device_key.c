/* device_key.c — a device's keys: rotate with a grace period, revoke, list.
 * Each change is one transaction, then invalidated everywhere. */
#include "registry/device_int.h"
#include "base/field_check.h"
#include "auth/auth.h"
#include "auth/keys.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define KEY_JSON \
	"json_build_object('device_id', device_id, 'key_prefix', key_prefix," \
	" 'state', CASE WHEN revoked_at IS NOT NULL OR NOT is_active THEN 'revoked'" \
	"   WHEN expires_at <= now() THEN 'expired' WHEN expires_at IS NOT NULL THEN 'grace'" \
	"   ELSE 'active' END," \
	" 'created_at', " IOT_SQL_TS("created_at") ", 'expires_at', " IOT_SQL_TS("expires_at") "," \
	" 'last_used', " IOT_SQL_TS("last_used") ", 'usage_count', usage_count," \
	" 'revoked_at', " IOT_SQL_TS("revoked_at") ")::text"

/* Live keys end now (grace 0: revoked) or at now + grace (never later than
 * an expiry they already had); the new key is inserted and shown. Run after
 * lock_sql in one transaction: rotations of one device take turns, and each
 * sees the key the one before inserted (in one statement a concurrent
 * rotation's new key is outside the snapshot, and stayed live beside this
 * one's). Columns: the result, the old keys' digests, one old key's prefix. */
static const char lock_sql[] = "SELECT 1 FROM devices WHERE id = $1 FOR UPDATE";
static const char rotate_sql[] =
	"WITH old AS (UPDATE device_auth SET"
	"   expires_at = CASE WHEN $2::bigint > 0 THEN"
	"     least(coalesce(expires_at, 'infinity'), now() + make_interval(secs => $2::bigint))"
	"     ELSE expires_at END,"
	"   is_active = $2::bigint > 0,"
	"   revoked_at = CASE WHEN $2::bigint > 0 THEN NULL ELSE now() END"
	"   WHERE device_id = $1 AND is_active AND revoked_at IS NULL"
	"   AND (expires_at IS NULL OR expires_at > now()) RETURNING key_digest, key_prefix, expires_at),"
	" new AS (INSERT INTO device_auth (device_id, key_digest, key_prefix) VALUES ($1, $3::bytea, $4)"
	"   RETURNING device_id),"
	" dev AS (UPDATE devices SET api_key = $4, updated_at = now() WHERE id = $1 RETURNING id)"
	" SELECT json_build_object('id', dev.id, 'key_prefix', $4::text,"
	"   'previous_keys', (SELECT count(*) FROM old),"
	"   'previous_valid_until', (SELECT " IOT_SQL_TS("max(expires_at)") " FROM old WHERE $2::bigint > 0))::text,"
	"   (SELECT string_agg(encode(key_digest, 'hex'), ',') FROM old),"
	"   (SELECT min(key_prefix) FROM old)"
	" FROM dev JOIN new ON new.device_id = dev.id";

/* A key change's transaction: its parameters and, once run, its result. */
struct rotate_tx {
	const char *const *params;
	PGresult *res;
};

static int rotate_tx(iot_db *db, void *arg, iot_error *err)
{
	struct rotate_tx *t = arg;
	PQclear(t->res);               /* from a run that did not commit */
	t->res = NULL;
	PGresult *r = iot_db_query(db, lock_sql, 1, t->params, err);
	if (!r)
		return -1;
	int n = PQntuples(r);
	PQclear(r);
	if (n != 1)
		return iot_error_set(err, IOT_NOT_FOUND, "device vanished");
	t->res = iot_db_query(db, rotate_sql, 4, t->params, err);
	return t->res ? 0 : -1;
}

/* The rotation is committed but its invalidation failed (err says why).
 * Stale entries of the old keys live IOT_AUTH_STALE_MAX_MIN at most: when
 * there are none, or the grace period outlasts them, nothing is wrong
 * (main shows the cache's warning). Else say what is true, and that
 * rotating again would issue yet another key. */
static int rotate_not_dropped(int64_t dev, long grace_s, const json_t *out, const char *old_prefix,
                              const iot_error *why, iot_error *err)
{
	if (json_integer_value(json_object_get(out, "previous_keys")) == 0 ||
	    grace_s >= IOT_AUTH_STALE_MAX_MIN * 60L)
		return 0;
	const char *until = json_string_value(json_object_get(out, "previous_valid_until"));
	char end[48] = "now";
	if (grace_s > 0 && until)
		snprintf(end, sizeof end, "at %s", until);
	return iot_error_set(err, IOT_UNAVAILABLE,
	                     "device %" PRId64 ": the new key is issued (it is in the output) and the old"
	                     " keys end %s, but the device's cached entries could not be dropped (%s):"
	                     " programs may accept the old keys from the cache for up to %d minutes."
	                     " Do not rotate again (that issues another key): once that is fixed,"
	                     " 'iot-device key revoke %" PRId64 " %s' drops them%s", dev, end, why->msg,
	                     IOT_AUTH_STALE_MAX_MIN, dev, old_prefix,
	                     grace_s > 0 ? " (and ends that key's grace period)" : "");
}

int iot_device_key_rotate(iot_registry *id, const char *spec, long grace_s, json_t **out, iot_error *err)
{
	int64_t dev;
	if (grace_s < 0 || grace_s > 366L * 86400)
		return iot_error_set(err, IOT_USAGE, "grace: expected 0 to 366 days");
	if (iot_device_resolve(id, spec, &dev, err) < 0)
		return -1;
	iot_issued_secret sec;
	char idtext[24], grace[24];
	if (iot_secret_issue(id->cfg, IOT_DEVICE_KEY_PREFIX, &sec, err) < 0)
		return -1;
	const char *key = sec.secret, *prefix = sec.display, *param = sec.digest_param;
	snprintf(idtext, sizeof idtext, "%" PRId64, dev);
	snprintf(grace, sizeof grace, "%ld", grace_s);
	const char *params[4] = { idtext, grace, param, prefix };
	struct rotate_tx t = { .params = params };
	int rc = -1;
	if (iot_db_transaction(id->db, rotate_tx, &t, err) == 0) {
		*out = iot_registry_row(t.res, "device vanished", err);
		if (*out) {
			/* The new key is committed: it is handed over even when the
			 * invalidation fails, or it would be lost. */
			json_object_set_new(*out, "api_key", json_string(key));
			iot_error why = { 0 };
			rc = iot__device_invalidate(id, dev, &why);
			if (rc < 0)
				rc = rotate_not_dropped(dev, grace_s, *out, PQgetvalue(t.res, 0, 2), &why, err);
		}
	}
	PQclear(t.res);
	sodium_memzero(&sec, sizeof sec);
	return rc;
}

static const char revoke_sql[] =
	"WITH r AS (UPDATE device_auth SET is_active = false, revoked_at = now()"
	"   WHERE device_id = $1 AND revoked_at IS NULL AND ($2::text IS NULL OR key_prefix = $2)"
	"   RETURNING key_digest, key_prefix),"
	" dev AS (UPDATE devices SET api_key = NULL, updated_at = now()"
	"   WHERE id = $1 AND api_key IN (SELECT key_prefix FROM r) RETURNING id)"
	" SELECT json_build_object('id', $1::integer, 'revoked', (SELECT count(*) FROM r),"
	"   'key_prefixes', coalesce((SELECT json_agg(key_prefix) FROM r), '[]'::json))::text,"
	"   (SELECT count(*) FROM device_auth WHERE device_id = $1"
	"    AND ($2::text IS NULL OR key_prefix = $2)), (SELECT count(*) FROM dev)";

/* After lock_sql, as a rotation: a revoke waits for a rotation in progress
 * and then sees the key it inserted (a lone statement's snapshot would
 * not, and that key stayed live after "revoke all"). */
static int revoke_tx(iot_db *db, void *arg, iot_error *err)
{
	struct rotate_tx *t = arg;
	PQclear(t->res);
	t->res = NULL;
	PGresult *r = iot_db_query(db, lock_sql, 1, t->params, err);
	if (!r)
		return -1;
	PQclear(r);
	t->res = iot_db_query(db, revoke_sql, 2, t->params, err);
	return t->res ? 0 : -1;
}

int iot_device_key_revoke(iot_registry *id, const char *spec, const char *prefix, json_t **out,
                          iot_error *err)
{
	int64_t dev;
	char idtext[24];
	if (prefix && iot_field_check("key prefix", prefix, 1, 16, false, err) < 0)
		return -1;
	if (iot_device_resolve(id, spec, &dev, err) < 0)
		return -1;
	snprintf(idtext, sizeof idtext, "%" PRId64, dev);
	const char *params[2] = { idtext, prefix };
	struct rotate_tx t = { .params = params };
	if (iot_db_transaction(id->db, revoke_tx, &t, err) < 0) {
		PQclear(t.res);
		return -1;
	}
	PGresult *res = t.res;
	*out = iot_registry_row(res, "device vanished", err);
	bool unknown = *out && !strcmp(PQgetvalue(res, 0, 1), "0");
	PQclear(res);
	if (!*out)
		return -1;
	if (unknown && prefix) {
		json_decref(*out);
		*out = NULL;
		return iot_error_set(err, IOT_NOT_FOUND, "device %" PRId64 " has no key '%s'", dev, prefix);
	}
	/* Keys revoked before count too: running revoke again repairs an
	 * invalidation that did not go through the first time. */
	iot_error why = { 0 };
	if (iot__device_invalidate(id, dev, &why) == 0)
		return 0;
	return iot_error_set(err, IOT_UNAVAILABLE,
	                     "device %" PRId64 ": the key revocation is committed in PostgreSQL, but the"
	                     " device's cached entries could not be dropped (%s): programs may accept the"
	                     " revoked keys from the cache for up to %d minutes. Once that is fixed, run"
	                     " this key revoke again: it drops them (revoked keys stay revoked)",
	                     dev, why.msg, IOT_AUTH_STALE_MAX_MIN);
}

int iot_device_key_list(iot_registry *id, const char *spec, json_t **out, iot_error *err)
{
	int64_t dev;
	char idtext[24];
	if (iot_device_resolve(id, spec, &dev, err) < 0)
		return -1;
	snprintf(idtext, sizeof idtext, "%" PRId64, dev);
	static const char sql[] = "SELECT " KEY_JSON " FROM device_auth WHERE device_id = $1 ORDER BY id";
	const char *params[1] = { idtext };
	PGresult *res = iot_db_exec(id->db, sql, 1, params, err);
	if (!res)
		return -1;
	*out = iot_registry_rows(res, err);
	PQclear(res);
	return *out ? 0 : -1;
}
