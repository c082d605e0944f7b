/* flask_meta.c — the Flask service's users and devices, and the one
 * transaction the metadata import runs in (import.h). */
#include "import/import_int.h"
#include "registry/registry.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kinds[] = { "user", "device", "config", "control" };

const char *iot__imp_kind(int kind)
{
	return kinds[kind];
}

void iot__imp_event(struct iot__imp *m, int kind, const char *old_id, int64_t new_id,
                    const char *reason, json_t *extra)
{
	const char *action = reason ? "rejected" : new_id < 0 ? "unchanged"
	                   : m->o->dry_run ? "would import" : "imported";
	json_t *ev = json_pack("{s:s,s:I,s:s}", "kind", kinds[kind], "old_id",
	                       (json_int_t)strtoll(old_id, NULL, 10), "action", action);
	if (!ev) {
		json_decref(extra);
		return;
	}
	if (new_id)
		json_object_set_new(ev, "id", json_integer(new_id < 0 ? -new_id : new_id));
	if (reason)
		json_object_set_new(ev, "reason", json_string(reason));
	if (extra)
		json_object_update(ev, extra);
	json_decref(extra);
	if (reason)
		m->counts[kind].rejected++;
	else if (new_id < 0)
		m->counts[kind].unchanged++;
	else
		m->counts[kind].imported++;
	m->cb(m->ctx, ev);
	json_decref(ev);
}

int64_t iot__imp_mapped(struct iot__imp *m, int kind, const char *old_id, iot_error *err)
{
	const char *p[2] = { kinds[kind], old_id };
	PGresult *r = iot_db_query(m->db, "SELECT new_id FROM flask_import WHERE kind = $1 AND old_id = $2::bigint",
	                           2, p, err);
	if (!r)
		return -1;
	int64_t id = PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
	PQclear(r);
	return id;
}

int iot__imp_map_add(struct iot__imp *m, int kind, const char *old_id, int64_t new_id, iot_error *err)
{
	char idtext[24];
	snprintf(idtext, sizeof idtext, "%" PRId64, new_id);
	const char *p[3] = { kinds[kind], old_id, idtext };
	return iot_db_command(m->db, "INSERT INTO flask_import (kind, old_id, new_id) VALUES ($1, $2::bigint, $3::bigint)",
	                      3, p, err);
}

int iot__imp_begin_row(struct iot__imp *m, iot_error *err)
{
	return iot_db_command(m->db, "SAVEPOINT flask_row", 0, NULL, err);
}

int iot__imp_end_row(struct iot__imp *m, bool keep, iot_error *err)
{
	return iot_db_command(m->db, keep ? "RELEASE SAVEPOINT flask_row" : "ROLLBACK TO SAVEPOINT flask_row",
	                      0, NULL, err);
}

/* What a constraint this side has and the Flask database had not means
 * for the object that violates it. */
static const char *constraint_reason(const char *constraint)
{
	static const char *const reasons[][2] = {
		{ "users_username_key", "a user of that name exists here already" },
		{ "users_email_key", "its email is another user's here" },
		{ "devices_pkey", "its id is taken here by another device" },
		{ "devices_user_id_name_key", "its owner has another device of that name (names are unique per owner)" },
		{ "device_auth_key_digest_key", "its api_key is another device's here" },
		{ "users_email_check", "email: 3 to 254 characters with an @" },
		{ "devices_name_check", "name: 1 to 100 characters" },
		{ "devices_description_check", "description: longer than 1000 characters" },
		{ "device_configurations_config_key_check", "config key: 1 to 64 of A-Z a-z 0-9 _ . : -" },
		{ "device_control_command_check", "command: 1 to 64 characters" },
		{ "device_control_status_check", "status: pending, sent, acknowledged, completed, failed or expired" },
	};
	for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
		if (!strcmp(constraint, reasons[i][0]))
			return reasons[i][1];
	return NULL;
}

int iot__imp_stmt(struct iot__imp *m, const char *sql, int n, const char *const *p, PGresult **res,
                  char *why, size_t whylen, iot_error *err)
{
	iot_error e;
	PGresult *r = iot_db_query(m->db, sql, n, p, &e);
	if (!r) {
		/* A data error (class 22) or a violated constraint (23) is this
		 * object's: it is refused and the import goes on. Anything else
		 * (a lost connection, a permission) ends the import. */
		const char *state = iot_db_sqlstate(m->db);
		if (strncmp(state, "22", 2) && strncmp(state, "23", 2)) {
			*err = e;
			return -1;
		}
		const char *reason = constraint_reason(iot_db_constraint(m->db));
		snprintf(why, whylen, "%s", reason ? reason : e.msg);
		return 1;
	}
	if (res)
		*res = r;
	else
		PQclear(r);
	return 0;
}

static int old_has(struct iot__imp *m, const char *table, iot_error *err)
{
	const char *p[1] = { table };
	PGresult *r = iot_db_query(m->old, "SELECT to_regclass($1) IS NOT NULL", 1, p, err);
	if (!r)
		return -1;
	int has = PQgetvalue(r, 0, 0)[0] == 't';
	PQclear(r);
	return has;
}

int iot__imp_each(struct iot__imp *m, const char *table, const char *sql, iot__imp_row_fn row, iot_error *err)
{
	int has = old_has(m, table, err);
	if (has <= 0)
		return has;
	PGresult *r = iot_db_query(m->old, sql, 0, NULL, err);
	if (!r) {
		size_t l = strlen(err->msg);
		snprintf(err->msg + l, sizeof err->msg - l, " (the Flask database)");
		return -1;
	}
	int rc = 0;
	for (int i = 0; i < PQntuples(r) && rc == 0; i++)
		rc = row(m, r, i, err);
	PQclear(r);
	return rc;
}

const char *iot__imp_val(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

int iot__imp_insert(struct iot__imp *m, int kind, const char *old_id, const char *sql, int n,
                    const char *const *p, int64_t *id, char *why, size_t whylen, iot_error *err)
{
	PGresult *res = NULL;
	if (iot__imp_begin_row(m, err) < 0)
		return -1;
	int rc = iot__imp_stmt(m, sql, n, p, &res, why, whylen, err);
	if (rc == 0) {
		*id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
		rc = iot__imp_map_add(m, kind, old_id, *id, err);
	}
	return rc;
}

#define val iot__imp_val

/* The old users.user_id as an enrollment code (enroll.h: 32 lower-case hex). */
static bool code_shaped(const char *s)
{
	return s && strlen(s) == 32 && strspn(s, "0123456789abcdef") == 32;
}

static int user_row(struct iot__imp *m, PGresult *r, int i, iot_error *err)
{
	const char *old = PQgetvalue(r, i, 0), *code = val(r, i, 1), *name = PQgetvalue(r, i, 2);
	const char *hash = val(r, i, 4);
	int64_t done = iot__imp_mapped(m, K_USER, old, err);
	if (done < 0)
		return -1;
	if (done > 0) {
		iot__imp_event(m, K_USER, old, -done, NULL, json_pack("{s:s}", "username", name));
		return 0;
	}
	iot_error e;
	if (iot_username_check(name, &e) < 0) {
		iot__imp_event(m, K_USER, old, 0, e.msg, json_pack("{s:s}", "username", name));
		return 0;
	}
	bool keep_pw = hash && iot_legacy_password_supported(hash);
	const char *p[8] = { name, val(r, i, 3), keep_pw ? hash : NULL, PQgetvalue(r, i, 5), PQgetvalue(r, i, 6),
	                     val(r, i, 7), val(r, i, 8), val(r, i, 9) };
	static const char ins[] =
		"INSERT INTO users (username, email, password_hash, is_active, is_admin, created_at, updated_at, last_login)"
		" VALUES ($1, $2, $3, $4::boolean, $5::boolean, coalesce($6::timestamptz, now()),"
		" coalesce($7::timestamptz, now()), $8::timestamptz) RETURNING id";
	char why[IOT_ERRMSG_MAX] = "";
	int64_t id = 0;
	int rc = iot__imp_insert(m, K_USER, old, ins, 8, p, &id, why, sizeof why, err);
	bool enrolled = false;
	if (rc == 0 && code_shaped(code)) {
		unsigned char d[IOT_DIGEST_LEN];
		char param[IOT_DIGEST_PARAM_LEN], idtext[24], prefix[7];
		iot_secret_digest(&m->hasher, code, 32, d);
		iot_digest_param(d, param);
		snprintf(idtext, sizeof idtext, "%" PRId64, id);
		snprintf(prefix, sizeof prefix, "%.6s", code);
		const char *q[3] = { idtext, param, prefix };
		rc = iot__imp_stmt(m, "INSERT INTO user_enrollment (user_id, code_digest, code_prefix)"
		                   " VALUES ($1::bigint, $2::bytea, $3)", 3, q, NULL, why, sizeof why, err);
		enrolled = rc == 0;
	}
	if (rc < 0 || iot__imp_end_row(m, rc == 0, err) < 0)
		return -1;
	const char *pw = keep_pw ? "kept until the first login" : hash ? "unsupported format: not imported" : "none";
	json_t *extra = rc ? json_pack("{s:s}", "username", name)
	                   : json_pack("{s:s,s:s,s:b}", "username", name, "password", pw, "enrollment_code", enrolled);
	iot__imp_event(m, K_USER, old, rc ? 0 : id, rc ? why : NULL, extra);
	return 0;
}

static int users(struct iot__imp *m, iot_error *err)
{
	return iot__imp_each(m, "users",
		"SELECT id::text, user_id, username, email, password_hash, coalesce(is_active, true)::text,"
		" coalesce(is_admin, false)::text, created_at::text, updated_at::text, last_login::text"
		" FROM users ORDER BY users.id", user_row, err);
}

/* Flask wrote "offline" into devices.status from status topics (compat
 * B5); here online/offline comes from last_seen, so such a device is active. */
static const char *device_status(const char *s)
{
	if (!s || !strcmp(s, "active") || !strcmp(s, "offline"))
		return "active";
	if (!strcmp(s, "inactive") || !strcmp(s, "maintenance"))
		return s;
	return NULL;
}

static int device_row(struct iot__imp *m, PGresult *r, int i, iot_error *err)
{
	const char *old = PQgetvalue(r, i, 0), *name = PQgetvalue(r, i, 1), *key = val(r, i, 4);
	int64_t done = iot__imp_mapped(m, K_DEVICE, old, err), owner = 0;
	if (done < 0)
		return -1;
	if (done > 0) {
		iot__imp_event(m, K_DEVICE, old, -done, NULL, json_pack("{s:s}", "name", name));
		return 0;
	}
	const char *status = device_status(val(r, i, 5)), *why_not = NULL;
	if (val(r, i, 12) && (owner = iot__imp_mapped(m, K_USER, val(r, i, 12), err)) < 0)
		return -1;
	if (!owner)
		owner = val(r, i, 12) ? 0 : m->orphan_uid;
	if (!owner)
		why_not = val(r, i, 12) ? "its owner was not imported" : "it has no owner (see --orphans-to)";
	else if (!status)
		why_not = "unknown status (expected active, inactive, maintenance or offline)";
	else if (!key || !iot_device_key_well_formed(key, strlen(key)))
		why_not = "its api_key is not 8..64 characters of [A-Za-z0-9-_.~+/=] (not shown)";
	if (why_not) {
		iot__imp_event(m, K_DEVICE, old, 0, why_not, json_pack("{s:s}", "name", name));
		return 0;
	}
	char owner_text[24], why[IOT_ERRMSG_MAX] = "", param[IOT_DIGEST_PARAM_LEN];
	unsigned char d[IOT_DIGEST_LEN];
	snprintf(owner_text, sizeof owner_text, "%" PRId64, owner);
	iot_secret_digest(&m->hasher, key, strlen(key), d);
	iot_digest_param(d, param);
	const char *p[12] = { old, name, val(r, i, 2), val(r, i, 3), val(r, i, 6), val(r, i, 7), val(r, i, 8),
	                      status, owner_text, val(r, i, 9), val(r, i, 10), val(r, i, 11) };
	static const char ins[] =
		"INSERT INTO devices (id, name, description, device_type, location, firmware_version, hardware_version,"
		" status, user_id, api_key, created_at, updated_at, last_seen)"
		" VALUES ($1::integer, $2, $3, coalesce($4, 'sensor'), $5, $6, $7, $8, $9::bigint, '" IOT_LEGACY_KEY_DISPLAY "',"
		" coalesce($10::timestamptz, now()), coalesce($11::timestamptz, now()), $12::timestamptz)";
	const char *q[2] = { old, param };
	if (iot__imp_begin_row(m, err) < 0)
		return -1;
	int rc = iot__imp_stmt(m, ins, 12, p, NULL, why, sizeof why, err);
	if (rc == 0)
		rc = iot__imp_stmt(m, "INSERT INTO device_auth (device_id, key_digest, key_prefix)"
		                   " VALUES ($1::integer, $2::bytea, '" IOT_LEGACY_KEY_DISPLAY "')", 2, q, NULL,
		                   why, sizeof why, err);
	if (rc == 0)
		rc = iot__imp_map_add(m, K_DEVICE, old, strtoll(old, NULL, 10), err);
	if (rc < 0 || iot__imp_end_row(m, rc == 0, err) < 0)
		return -1;
	json_t *extra = json_pack("{s:s,s:s,s:I}", "name", name, "status", status, "user_id", (json_int_t)owner);
	iot__imp_event(m, K_DEVICE, old, rc ? 0 : strtoll(old, NULL, 10), rc ? why : NULL, extra);
	return 0;
}

static int devices(struct iot__imp *m, iot_error *err)
{
	int rc = iot__imp_each(m, "devices",
		"SELECT id::text, name, description, device_type, api_key, status, location, firmware_version,"
		" hardware_version, created_at::text, updated_at::text, last_seen::text, user_id::text"
		" FROM devices ORDER BY devices.id", device_row, err);
	/* Devices kept their ids: new ones are numbered after them. setval is
	 * not undone by a rollback, so a dry run leaves it alone. */
	if (rc == 0 && !m->o->dry_run && m->counts[K_DEVICE].imported > 0)
		rc = iot_db_command(m->db, "SELECT setval(pg_get_serial_sequence('devices', 'id'),"
		                    " greatest((SELECT max(id) FROM devices), 1))", 0, NULL, err);
	return rc;
}

static int orphan_owner(struct iot__imp *m, iot_error *err)
{
	if (!m->o->orphan_owner)
		return 0;
	const char *p[1] = { m->o->orphan_owner };
	PGresult *r = iot_db_query(m->db, "SELECT id FROM users WHERE username = $1", 1, p, err);
	if (!r)
		return -1;
	if (PQntuples(r) == 1)
		m->orphan_uid = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return m->orphan_uid ? 0 : iot_error_set(err, IOT_NOT_FOUND, "unknown user '%s'", m->o->orphan_owner);
}

static int run(struct iot__imp *m, iot_error *err)
{
	static const char *const needed[] = { "users", "devices" };
	for (size_t i = 0; i < 2; i++) {
		int has = old_has(m, needed[i], err);
		if (has < 0)
			return -1;
		if (!has)
			return iot_error_set(err, IOT_NOT_FOUND, "the old database has no table %s: is it the Flask service's?",
			                     needed[i]);
	}
	if (iot_db_command(m->db, "SELECT pg_advisory_xact_lock(7405281)", 0, NULL, err) < 0 ||
	    orphan_owner(m, err) < 0 || users(m, err) < 0 || devices(m, err) < 0 ||
	    iot__imp_configs(m, err) < 0 || iot__imp_controls(m, err) < 0)
		return -1;
	return 0;
}

int iot_flask_import(const iot_config *cfg, iot_db *db, iot_db *old, const iot_flask_opts *opts,
                     iot_import_cb cb, void *ctx, iot_import_counts counts[4], iot_error *err)
{
	struct iot__imp m = { .cfg = cfg, .db = db, .old = old, .o = opts, .cb = cb, .ctx = ctx, .counts = counts };
	memset(counts, 0, 4 * sizeof *counts);
	if (iot_hasher_init(&m.hasher, cfg, err) < 0)
		return -1;
	/* One snapshot of the old database, one transaction here. */
	int rc = iot_db_command(old, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, err);
	if (rc == 0 && (rc = iot_db_command(db, "BEGIN", 0, NULL, err)) == 0) {
		rc = run(&m, err);
		iot_error e;
		if (rc == 0)
			rc = iot_db_command(db, opts->dry_run ? "ROLLBACK" : "COMMIT", 0, NULL, err);
		else
			iot_db_command(db, "ROLLBACK", 0, NULL, &e);
	}
	iot_error e2;
	iot_db_command(old, "ROLLBACK", 0, NULL, &e2);
	iot_hasher_wipe(&m.hasher);
	return rc;
}
