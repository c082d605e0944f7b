/* user.c — people's accounts and API tokens. */
#include "registry/user.h"
#include "base/field_check.h"
#include "auth/keys.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USER_JSON \
	"json_build_object('id', u.id, 'username', u.username, 'email', u.email," \
	" 'is_admin', u.is_admin, 'is_active', u.is_active," \
	" 'has_password', u.password_hash IS NOT NULL," \
	" 'created_at', " IOT_SQL_TS("u.created_at") ", 'updated_at', " IOT_SQL_TS("u.updated_at") "," \
	" 'last_login', " IOT_SQL_TS("u.last_login") "," \
	" 'devices', (SELECT count(*) FROM devices d WHERE d.user_id = u.id)," \
	" 'tokens', (SELECT count(*) FROM user_tokens t WHERE t.user_id = u.id AND t.revoked_at IS NULL" \
	"            AND (t.expires_at IS NULL OR t.expires_at > now())))::text"

#define TOKEN_JSON \
	"json_build_object('id', t.id, 'username', u.username, 'name', t.name, 'prefix', t.token_prefix," \
	" 'state', CASE WHEN t.revoked_at IS NOT NULL THEN 'revoked'" \
	"   WHEN t.expires_at <= now() THEN 'expired' ELSE 'active' END," \
	" 'created_at', " IOT_SQL_TS("t.created_at") ", 'expires_at', " IOT_SQL_TS("t.expires_at") "," \
	" 'last_used', " IOT_SQL_TS("t.last_used") ", 'usage_count', t.usage_count," \
	" 'revoked_at', " IOT_SQL_TS("t.revoked_at") ")::text"

static int check_email(const char *email, iot_error *err)
{
	if (!email || !*email)
		return 0;
	if (iot_field_check("email", email, 3, 254, false, err) < 0)
		return -1;
	const char *at = strchr(email, '@');
	if (!at || at == email || !at[1] || strchr(email, ' '))
		return iot_error_set(err, IOT_USAGE, "email: expected name@domain");
	return 0;
}

static int user_query(iot_registry *id, const char *sql, int n, const char *const *params,
                      const char *username, json_t **out, iot_error *err)
{
	PGresult *res = iot_db_exec(id->db, sql, n, params, err);
	if (!res)
		return -1;
	char what[128];
	snprintf(what, sizeof what, "unknown user '%s'", username);
	*out = iot_registry_row(res, what, err);
	PQclear(res);
	return *out ? 0 : -1;
}

int iot_user_add(iot_registry *id, const char *username, const char *email, bool admin,
                 const char *password, json_t **out, iot_error *err)
{
	char hash[IOT_PWHASH_LEN] = "";
	if (iot_username_check(username, err) < 0 || check_email(email, err) < 0)
		return -1;
	if (password && iot_password_hash(id->cfg, password, hash, err) < 0)
		return -1;
	static const char sql[] =
		"WITH u AS (INSERT INTO users (username, email, password_hash, is_admin)"
		" VALUES ($1, nullif($2, ''), nullif($3, ''), $4::boolean) RETURNING *)"
		" SELECT " USER_JSON " FROM u";
	const char *params[4] = { username, email ? email : "", hash, admin ? "true" : "false" };
	PGresult *res = iot_db_exec(id->db, sql, 4, params, err);
	sodium_memzero(hash, sizeof hash);
	if (!res) {
		char dup[160];
		snprintf(dup, sizeof dup, "user '%s' or its email already exists", username);
		return iot_registry_db_error(id, err, dup, NULL);
	}
	*out = iot_registry_row(res, "user not created", err);
	PQclear(res);
	return *out ? 0 : -1;
}

int iot_user_list(iot_registry *id, json_t **out, iot_error *err)
{
	static const char sql[] = "SELECT " USER_JSON " FROM users u ORDER BY u.username";
	PGresult *res = iot_db_exec(id->db, sql, 0, NULL, err);
	if (!res)
		return -1;
	*out = iot_registry_rows(res, err);
	PQclear(res);
	return *out ? 0 : -1;
}

int iot_user_show(iot_registry *id, const char *username, json_t **out, iot_error *err)
{
	if (iot_username_check(username, err) < 0)
		return -1;
	static const char sql[] = "SELECT " USER_JSON " FROM users u WHERE u.username = $1";
	const char *params[1] = { username };
	return user_query(id, sql, 1, params, username, out, err);
}

int iot_user_update(iot_registry *id, const char *username, const char *email, int admin,
                    int active, json_t **out, iot_error *err)
{
	if (iot_username_check(username, err) < 0 || check_email(email, err) < 0)
		return -1;
	static const char sql[] =
		"WITH u AS (UPDATE users SET"
		" email = CASE WHEN $2::text IS NULL THEN email ELSE nullif($2, '') END,"
		" is_admin = coalesce($3::boolean, is_admin), is_active = coalesce($4::boolean, is_active),"
		" updated_at = now() WHERE username = $1 RETURNING *)"
		" SELECT " USER_JSON " FROM u";
	const char *params[4] = { username, email, admin < 0 ? NULL : admin ? "true" : "false",
	                          active < 0 ? NULL : active ? "true" : "false" };
	if (user_query(id, sql, 4, params, username, out, err) < 0) {
		char dup[160];
		snprintf(dup, sizeof dup, "email already belongs to another user");
		return iot_registry_db_error(id, err, dup, NULL);
	}
	return 0;
}

int iot_user_set_password(iot_registry *id, const char *username, const char *password, iot_error *err)
{
	char hash[IOT_PWHASH_LEN];
	if (iot_username_check(username, err) < 0 || iot_password_hash(id->cfg, password, hash, err) < 0)
		return -1;
	static const char sql[] =
		"UPDATE users SET password_hash = $2, updated_at = now() WHERE username = $1 RETURNING id";
	const char *params[2] = { username, hash };
	PGresult *res = iot_db_exec(id->db, sql, 2, params, err);
	sodium_memzero(hash, sizeof hash);
	if (!res)
		return -1;
	int n = PQntuples(res);
	PQclear(res);
	return n == 1 ? 0 : iot_error_set(err, IOT_NOT_FOUND, "unknown user '%s'", username);
}

/* Store a hash made with the current cost settings, unless the password changed meanwhile. */
static void rehash(iot_registry *id, const char *uid, const char *old, const char *password)
{
	char hash[IOT_PWHASH_LEN];
	iot_error e;
	if (iot_password_hash(id->cfg, password, hash, &e) < 0)
		return;
	static const char sql[] =
		"UPDATE users SET password_hash = $2 WHERE id = $1 AND password_hash = $3";
	const char *params[3] = { uid, hash, old };
	iot_db_command(id->db, sql, 3, params, &e);
	sodium_memzero(hash, sizeof hash);
}

int iot_user_verify_password(iot_registry *id, const char *username, const char *password,
                             json_t **out, iot_error *err)
{
	if (iot_username_check(username, err) < 0)
		return iot_error_set(err, IOT_DENIED, "invalid username or password");
	static const char sql[] =
		"SELECT id, password_hash FROM users WHERE username = $1 AND is_active";
	const char *params[1] = { username };
	PGresult *res = iot_db_exec(id->db, sql, 1, params, err);
	if (!res)
		return -1;
	bool found = PQntuples(res) == 1 && !PQgetisnull(res, 0, 1);
	/* Without a hash to check, the same work anyway: the time taken must
	 * not tell whether the username exists (or is active). */
	bool ok = found ? iot_password_verify(PQgetvalue(res, 0, 1), password)
	                : iot_password_verify_dummy(id->cfg, password);
	if (ok) {
		const char *uid = PQgetvalue(res, 0, 0), *hash = PQgetvalue(res, 0, 1);
		bool stale = iot_password_needs_rehash(id->cfg, hash);
		if (stale)
			rehash(id, uid, hash, password);
		static const char login[] = "UPDATE users SET last_login = now() WHERE id = $1";
		const char *p2[1] = { uid };
		iot_db_command(id->db, login, 1, p2, err);
		*out = json_pack("{s:s,s:b,s:b}", "username", username, "ok", 1, "rehashed", stale);
	}
	PQclear(res);
	return ok ? 0 : iot_error_set(err, IOT_DENIED, "invalid username or password");
}

int iot_user_remove(iot_registry *id, const char *username, json_t **out, iot_error *err)
{
	if (iot_username_check(username, err) < 0)
		return -1;
	static const char sql[] =
		"DELETE FROM users WHERE username = $1 RETURNING json_build_object('id', id, 'username', username,"
		" 'removed', true)::text";
	const char *params[1] = { username };
	if (user_query(id, sql, 1, params, username, out, err) < 0) {
		char fk[160];
		snprintf(fk, sizeof fk, "user '%s' still owns devices; remove them first", username);
		return iot_registry_db_error(id, err, NULL, fk);
	}
	return 0;
}

/* ---- tokens ---- */

static int check_token_name(const char *name, iot_error *err)
{
	return iot_field_check("token name", name, 1, 64, false, err);
}

int iot_token_create(iot_registry *id, const char *username, const char *name, long expires_s,
                     json_t **out, iot_error *err)
{
	if (iot_username_check(username, err) < 0 || check_token_name(name, err) < 0)
		return -1;
	iot_issued_secret sec;
	if (iot_secret_issue(id->cfg, IOT_USER_TOKEN_PREFIX, &sec, err) < 0)
		return -1;
	const char *token = sec.secret, *prefix = sec.display, *param = sec.digest_param;
	char exp[24];
	snprintf(exp, sizeof exp, "%ld", expires_s);
	static const char sql[] =
		"WITH t AS (INSERT INTO user_tokens (user_id, name, token_digest, token_prefix, expires_at)"
		" SELECT id, $2, $3::bytea, $4, CASE WHEN $5::bigint > 0"
		"   THEN now() + make_interval(secs => $5::bigint) END"
		" FROM users WHERE username = $1 RETURNING *)"
		" SELECT " TOKEN_JSON " FROM t JOIN users u ON u.id = t.user_id";
	const char *params[5] = { username, name, param, prefix, exp };
	int rc = user_query(id, sql, 5, params, username, out, err);
	if (rc < 0) {
		char dup[160];
		snprintf(dup, sizeof dup, "user '%s' already has a token named '%s'", username, name);
		iot_registry_db_error(id, err, dup, NULL);
	} else {
		json_object_set_new(*out, "token", json_string(token));
	}
	sodium_memzero(&sec, sizeof sec);
	return rc;
}

int iot_token_list(iot_registry *id, const char *username, json_t **out, iot_error *err)
{
	if (iot_username_check(username, err) < 0 || iot_registry_user_exists(id, username, err) < 0)
		return -1;
	static const char sql[] =
		"SELECT " TOKEN_JSON " FROM user_tokens t JOIN users u ON u.id = t.user_id"
		" WHERE u.username = $1 ORDER BY t.id";
	const char *params[1] = { username };
	PGresult *res = iot_db_exec(id->db, sql, 1, params, err);
	if (!res)
		return -1;
	*out = iot_registry_rows(res, err);
	PQclear(res);
	return *out ? 0 : -1;
}

int iot_token_revoke(iot_registry *id, const char *username, const char *name, json_t **out,
                     iot_error *err)
{
	if (iot_username_check(username, err) < 0 || check_token_name(name, err) < 0 ||
	    iot_registry_user_exists(id, username, err) < 0)
		return -1;
	/* Names are unique among live tokens only (004_token_names.sql): the
	 * live one is revoked; without one, the latest revoked one is shown. */
	static const char sql[] =
		"WITH r AS (UPDATE user_tokens SET revoked_at = now()"
		" WHERE user_id = (SELECT id FROM users WHERE username = $1) AND name = $2"
		" AND revoked_at IS NULL RETURNING *),"
		" t AS (SELECT * FROM r UNION ALL (SELECT * FROM user_tokens"
		"   WHERE user_id = (SELECT id FROM users WHERE username = $1) AND name = $2"
		"   AND NOT EXISTS (SELECT 1 FROM r) ORDER BY id DESC LIMIT 1))"
		" SELECT " TOKEN_JSON " FROM t JOIN users u ON u.id = t.user_id";
	const char *params[2] = { username, name };
	PGresult *res = iot_db_exec(id->db, sql, 2, params, err);
	if (!res)
		return -1;
	char what[160];
	snprintf(what, sizeof what, "user '%s' has no token named '%s'", username, name);
	*out = iot_registry_row(res, what, err);
	PQclear(res);
	return *out ? 0 : -1;
}
