/* enroll.c — enrollment codes (enroll.h). */
#include "registry/enroll.h"
#include "auth/keys.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENROLL_JSON \
	"json_build_object('id', e.id, 'username', u.username, 'prefix', e.code_prefix," \
	" 'state', CASE WHEN e.revoked_at IS NULL THEN 'live' ELSE 'revoked' END," \
	" 'created_at', " IOT_SQL_TS("e.created_at") ", 'last_used', " IOT_SQL_TS("e.last_used") "," \
	" 'usage_count', e.usage_count)::text"

static bool well_formed(const char *code)
{
	return code && strlen(code) == IOT_ENROLL_CODE_LEN && strspn(code, "0123456789abcdef") == IOT_ENROLL_CODE_LEN;
}

static int digest_of(iot_registry *id, const char *code, char param[IOT_DIGEST_PARAM_LEN], iot_error *err)
{
	iot_hasher h;
	unsigned char d[IOT_DIGEST_LEN];
	if (iot_hasher_init(&h, id->cfg, err) < 0)
		return -1;
	iot_secret_digest(&h, code, strlen(code), d);
	iot_digest_param(d, param);
	iot_hasher_wipe(&h);
	sodium_memzero(d, sizeof d);
	return 0;
}

static int rows(iot_registry *id, const char *sql, int n, const char *const *params, bool one,
                const char *what, json_t **out, iot_error *err)
{
	PGresult *res = iot_db_exec(id->db, sql, n, params, err);
	if (!res)
		return -1;
	*out = one ? iot_registry_row(res, what, err) : iot_registry_rows(res, err);
	PQclear(res);
	return *out ? 0 : -1;
}

int iot_enroll_create(iot_registry *id, const char *username, json_t **out, iot_error *err)
{
	if (iot_username_check(username, err) < 0)
		return -1;
	unsigned char raw[IOT_ENROLL_CODE_LEN / 2];
	char code[IOT_ENROLL_CODE_LEN + 1], prefix[7], param[IOT_DIGEST_PARAM_LEN];
	if (sodium_init() < 0)
		return iot_error_set(err, IOT_INTERNAL, "libsodium failed to initialise");
	randombytes_buf(raw, sizeof raw);
	sodium_bin2hex(code, sizeof code, raw, sizeof raw);
	snprintf(prefix, sizeof prefix, "%.6s", code);
	int rc = -1;
	if (digest_of(id, code, param, err) == 0) {
		static const char sql[] =
			"WITH e AS (INSERT INTO user_enrollment (user_id, code_digest, code_prefix)"
			" SELECT id, $2::bytea, $3 FROM users WHERE username = $1 RETURNING *)"
			" SELECT " ENROLL_JSON " FROM e JOIN users u ON u.id = e.user_id";
		const char *params[3] = { username, param, prefix };
		char what[120];
		snprintf(what, sizeof what, "unknown user '%s'", username);
		rc = rows(id, sql, 3, params, true, what, out, err);
		if (rc == 0)
			json_object_set_new(*out, "code", json_string(code));
	}
	sodium_memzero(raw, sizeof raw);
	sodium_memzero(code, sizeof code);
	return rc;
}

int iot_enroll_list(iot_registry *id, const char *username, json_t **out, iot_error *err)
{
	if (username && (iot_username_check(username, err) < 0 || iot_registry_user_exists(id, username, err) < 0))
		return -1;
	static const char sql[] =
		"SELECT " ENROLL_JSON " FROM user_enrollment e JOIN users u ON u.id = e.user_id"
		" WHERE $1::text IS NULL OR u.username = $1 ORDER BY e.id";
	const char *params[1] = { username };
	return rows(id, sql, 1, params, false, NULL, out, err);
}

int iot_enroll_revoke(iot_registry *id, const char *username, const char *prefix, json_t **out,
                      iot_error *err)
{
	if (iot_username_check(username, err) < 0 || iot_registry_user_exists(id, username, err) < 0)
		return -1;
	if (prefix && (strlen(prefix) != 6 || strspn(prefix, "0123456789abcdef") != 6))
		return iot_error_set(err, IOT_USAGE, "enrollment code prefix: 6 lower-case hex digits");
	static const char sql[] =
		"WITH e AS (UPDATE user_enrollment SET revoked_at = now() WHERE revoked_at IS NULL"
		" AND user_id = (SELECT id FROM users WHERE username = $1)"
		" AND ($2::text IS NULL OR code_prefix = $2) RETURNING *)"
		" SELECT " ENROLL_JSON " FROM e JOIN users u ON u.id = e.user_id ORDER BY e.id";
	const char *params[2] = { username, prefix };
	if (rows(id, sql, 2, params, false, NULL, out, err) < 0)
		return -1;
	if (json_array_size(*out) == 0) {
		json_decref(*out);
		*out = NULL;
		return iot_error_set(err, IOT_NOT_FOUND, "user '%s' has no live enrollment code%s%s", username,
		                     prefix ? " " : "", prefix ? prefix : "");
	}
	return 0;
}

int iot_enroll_use(iot_registry *id, const char *code, int64_t *user_id, char *username, iot_error *err)
{
	char param[IOT_DIGEST_PARAM_LEN];
	if (!well_formed(code))
		return iot_error_set(err, IOT_DENIED, "invalid enrollment code");
	if (digest_of(id, code, param, err) < 0)
		return -1;
	static const char sql[] =
		"UPDATE user_enrollment e SET last_used = now(), usage_count = usage_count + 1"
		" FROM users u WHERE e.code_digest = $1::bytea AND e.revoked_at IS NULL"
		" AND u.id = e.user_id AND u.is_active RETURNING u.id, u.username";
	const char *params[1] = { param };
	PGresult *res = iot_db_exec(id->db, sql, 1, params, err);
	if (!res)
		return -1;
	int n = PQntuples(res);
	if (n == 1) {
		*user_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		snprintf(username, 80, "%s", PQgetvalue(res, 0, 1));
	}
	PQclear(res);
	return n == 1 ? 0 : iot_error_set(err, IOT_DENIED, "invalid enrollment code");
}
