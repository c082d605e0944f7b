/* command.c — commands to devices: storing, listing, moving them forward
 * (command.h has the lifecycle). Every check of a transition is made by
 * PostgreSQL in the statement that makes it, under the row's lock, so two
 * answers arriving at once cannot move a command back. */
#include "registry/command.h"
#include "registry/registry.h"
#include "base/field_check.h"
#include "base/json_util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROW_JSON(t) \
	"json_build_object('id', " t ".id, 'device_id', " t ".device_id, 'command', " t ".command," \
	" 'parameters', coalesce(" t ".parameters, '{}'::jsonb), 'status', " t ".status," \
	" 'result', " t ".result, 'source', " t ".source, 'user_id', " t ".user_id," \
	" 'created_at', " IOT_SQL_TS(t ".created_at") ", 'updated_at', " IOT_SQL_TS(t ".updated_at") "," \
	" 'sent_at', " IOT_SQL_TS(t ".sent_at") ", 'acknowledged_at', " IOT_SQL_TS(t ".acknowledged_at") "," \
	" 'completed_at', " IOT_SQL_TS(t ".completed_at") ", 'expires_at', " IOT_SQL_TS(t ".expires_at") ")::text"

/* The order of the statuses; the final ones share the last rank. */
#define RANK(s) "(CASE " s " WHEN 'pending' THEN 0 WHEN 'sent' THEN 1 WHEN 'acknowledged' THEN 2 ELSE 3 END)"
#define LAPSED(t) "(" t ".status IN ('pending', 'sent') AND " t ".expires_at <= now())"

static const char *const statuses[] = { "pending", "sent", "acknowledged", "completed", "failed", "expired" };

static bool known_status(const char *s)
{
	for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
		if (!strcmp(s, statuses[i]))
			return true;
	return false;
}

static void id_text(int64_t v, char buf[24])
{
	snprintf(buf, 24, "%" PRId64, v);
}

static int rows_of(iot_db *db, const char *sql, int n, const char *const *p, bool one, const char *what,
                   json_t **out, iot_error *err)
{
	PGresult *res = iot_db_exec(db, sql, n, p, err);
	if (!res)
		return -1;
	json_t *v = one ? iot_registry_row(res, what, err) : iot_registry_rows(res, err);
	PQclear(res);
	if (!v)
		return -1;
	if (out)
		*out = v;
	else
		json_decref(v);
	return 0;
}

int iot_command_create(iot_db *db, const iot_command_req *c, json_t **out, iot_error *err)
{
	long ttl = c->ttl_s ? c->ttl_s : IOT_COMMAND_TTL_DEFAULT;
	if (iot_field_check("command", c->command ? c->command : "", 1, 64, false, err) < 0)
		return -1;
	if (ttl < 1 || ttl > IOT_COMMAND_TTL_MAX)
		return iot_error_set(err, IOT_USAGE, "ttl: from 1 second to %ld days", IOT_COMMAND_TTL_MAX / 86400);
	if (!c->source || (strcmp(c->source, "cli") && strcmp(c->source, "api")))
		return iot_error_set(err, IOT_INTERNAL, "command source: cli or api");
	char *params = c->parameters ? json_dumps(c->parameters, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("{}");
	if (!params)
		return iot_error_set(err, IOT_INTERNAL, "out of memory");
	if (strlen(params) > IOT_COMMAND_PARAMS_MAX) {
		free(params);
		return iot_error_set(err, IOT_USAGE, "parameters: longer than %d bytes as JSON", IOT_COMMAND_PARAMS_MAX);
	}
	char dev[24], user[24], ttltext[24];
	id_text(c->device_id, dev);
	id_text(c->user_id, user);
	snprintf(ttltext, sizeof ttltext, "%ld", ttl);
	static const char sql[] =
		"INSERT INTO device_control AS d (device_id, user_id, command, parameters, source, attempt_at, expires_at)"
		" VALUES ($1, nullif($2::bigint, 0), $3, $4::jsonb, $5, now(), now() + $6::bigint * interval '1 second')"
		" RETURNING " ROW_JSON("d");
	const char *p[6] = { dev, user, c->command, params, c->source, ttltext };
	PGresult *res = iot_db_exec(db, sql, 6, p, err);
	free(params);
	if (!res) {
		if (!strcmp(iot_db_sqlstate(db), "23503"))
			return iot_error_set(err, IOT_NOT_FOUND, "no device %" PRId64, c->device_id);
		if (!strcmp(iot_db_sqlstate(db), "23514") || !strcmp(iot_db_sqlstate(db), "22P02"))
			err->status = IOT_USAGE;
		return -1;
	}
	*out = iot_registry_row(res, "command not stored", err);
	PQclear(res);
	return *out ? 0 : -1;
}

int iot_command_get(iot_db *db, int64_t device_id, int64_t id, json_t **out, iot_error *err)
{
	char dev[24], cid[24], what[96];
	id_text(device_id, dev);
	id_text(id, cid);
	snprintf(what, sizeof what, "device %" PRId64 " has no command %" PRId64, device_id, id);
	const char *p[2] = { cid, dev };
	return rows_of(db, "SELECT " ROW_JSON("d") " FROM device_control d WHERE id = $1 AND device_id = $2",
	               2, p, true, what, out, err);
}

int iot_command_expire(iot_db *db, int64_t device_id, long *n, iot_error *err)
{
	char dev[24];
	id_text(device_id, dev);
	const char *p[1] = { dev };
	PGresult *res = iot_db_exec(db,
		"UPDATE device_control d SET status = 'expired', updated_at = now(), attempt_at = NULL"
		" WHERE status IN ('pending', 'sent') AND expires_at <= now()"
		" AND ($1::integer = 0 OR device_id = $1)", 1, p, err);
	if (!res)
		return -1;
	if (n)
		*n = strtol(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return 0;
}

int iot_command_list(iot_db *db, const iot_command_filter *f, json_t **out, iot_error *err)
{
	long limit = f->limit ? f->limit : 100;
	if (limit < 1 || limit > IOT_COMMAND_LIST_MAX)
		return iot_error_set(err, IOT_USAGE, "limit: from 1 to %d", IOT_COMMAND_LIST_MAX);
	if (f->status && !known_status(f->status))
		return iot_error_set(err, IOT_USAGE,
		                     "status: pending, sent, acknowledged, completed, failed or expired");
	if (iot_command_expire(db, f->device_id, NULL, err) < 0)
		return -1;
	char dev[24], lim[24];
	id_text(f->device_id, dev);
	snprintf(lim, sizeof lim, "%ld", limit);
	static const char sql[] =
		"SELECT " ROW_JSON("d") " FROM device_control d"
		" WHERE ($1::integer = 0 OR device_id = $1) AND ($2::text IS NULL OR status = $2)"
		" AND (NOT $3::boolean OR status IN ('pending', 'sent'))"
		" ORDER BY CASE WHEN $4::boolean THEN id END, id DESC LIMIT $5";
	const char *p[5] = { dev, f->status, f->open ? "true" : "false", f->oldest_first ? "true" : "false", lim };
	return rows_of(db, sql, 5, p, false, NULL, out, err);
}

int iot_command_transition(iot_db *db, int64_t device_id, int64_t id, const char *status,
                           const json_t *result, json_t **out, iot_error *err)
{
	if (!status || (strcmp(status, "acknowledged") && strcmp(status, "completed") && strcmp(status, "failed")))
		return iot_error_set(err, IOT_USAGE, "status: acknowledged, completed or failed");
	char dev[24], cid[24];
	id_text(device_id, dev);
	id_text(id, cid);
	char *res_text = result ? json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	if (result && !res_text)
		return iot_error_set(err, IOT_INTERNAL, "out of memory");
	if (res_text && strlen(res_text) > IOT_COMMAND_ACK_MAX) {
		free(res_text);
		return iot_error_set(err, IOT_REJECTED, "result: longer than %d bytes as JSON", IOT_COMMAND_ACK_MAX);
	}
	/* One statement: lock the row, expire it when it lapsed, else move it
	 * when the new status is further along. */
	static const char sql[] =
		"WITH cur AS (SELECT d.id, d.status, " LAPSED("d") " AS lapsed FROM device_control d"
		"   WHERE d.id = $1 AND d.device_id = $2 FOR UPDATE),"
		" upd AS (UPDATE device_control d SET"
		"   status = CASE WHEN cur.lapsed THEN 'expired' ELSE $3 END,"
		"   result = CASE WHEN cur.lapsed THEN d.result ELSE coalesce($4::jsonb, d.result) END,"
		"   updated_at = now(), attempt_at = NULL,"
		"   acknowledged_at = CASE WHEN NOT cur.lapsed AND $3 = 'acknowledged' THEN now() ELSE d.acknowledged_at END,"
		"   completed_at = CASE WHEN NOT cur.lapsed AND $3 <> 'acknowledged' THEN now() ELSE d.completed_at END"
		"   FROM cur WHERE d.id = cur.id AND (cur.lapsed OR " RANK("cur.status") " < " RANK("$3") ")"
		"   RETURNING d.status, " ROW_JSON("d") " AS j)"
		" SELECT cur.status, cur.lapsed, upd.j FROM cur LEFT JOIN upd ON true";
	const char *p[4] = { cid, dev, status, res_text };
	PGresult *res = iot_db_exec(db, sql, 4, p, err);
	free(res_text);
	if (!res)
		return -1;
	int rc = 0;
	if (PQntuples(res) != 1) {
		rc = iot_error_set(err, IOT_NOT_FOUND, "device %" PRId64 " has no command %" PRId64, device_id, id);
	} else if (!strcmp(PQgetvalue(res, 0, 1), "t")) {
		rc = iot_error_set(err, IOT_REJECTED, "command %" PRId64 " has expired", id);
	} else if (PQgetisnull(res, 0, 2) && strcmp(PQgetvalue(res, 0, 0), status)) {
		rc = iot_error_set(err, IOT_REJECTED, "command %" PRId64 " is %s already: it cannot become %s",
		                   id, PQgetvalue(res, 0, 0), status);
	} else if (!PQgetisnull(res, 0, 2) && out) {
		if (!(*out = json_loads(PQgetvalue(res, 0, 2), 0, NULL)))
			rc = iot_error_set(err, IOT_INTERNAL, "unable to read a result row");
	}
	bool unchanged = rc == 0 && PQgetisnull(res, 0, 2);
	PQclear(res);
	/* The same status again: nothing moved; the row as it is. */
	if (unchanged && out)
		return iot_command_get(db, device_id, id, out, err);
	return rc;
}

json_t *iot_command_message(const json_t *row)
{
	return json_pack("{s:O,s:O,s:O,s:O,s:O,s:O}", "command_id", json_object_get(row, "id"),
	                 "command", json_object_get(row, "command"), "parameters", json_object_get(row, "parameters"),
	                 "timestamp", json_object_get(row, "created_at"), "expires_at", json_object_get(row, "expires_at"),
	                 "source", json_object_get(row, "source"));
}

int iot_command_claim(iot_db *db, long stale_s, size_t max, json_t **out, iot_error *err)
{
	char st[24], lim[24];
	snprintf(st, sizeof st, "%ld", stale_s);
	snprintf(lim, sizeof lim, "%zu", max);
	static const char sql[] =
		"WITH c AS (SELECT id FROM device_control WHERE status = 'pending' AND expires_at > now()"
		"   AND (attempt_at IS NULL OR attempt_at <= now() - $1::bigint * interval '1 second')"
		"   ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)"
		" UPDATE device_control d SET attempt_at = now() FROM c WHERE d.id = c.id"
		" RETURNING " ROW_JSON("d");
	const char *p[2] = { st, lim };
	if (rows_of(db, sql, 2, p, false, NULL, out, err) < 0)
		return -1;
	/* RETURNING keeps no order: oldest first, as they were sent. */
	size_t n = json_array_size(*out);
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0; j--) {
			json_t *a = json_array_get(*out, j - 1), *b = json_array_get(*out, j);
			if (json_integer_value(json_object_get(a, "id")) <= json_integer_value(json_object_get(b, "id")))
				break;
			json_incref(a);
			json_array_set(*out, j - 1, b);
			json_array_set_new(*out, j, a);
		}
	return 0;
}

int iot_command_mark_sent(iot_db *db, int64_t id, iot_error *err)
{
	char cid[24];
	id_text(id, cid);
	const char *p[1] = { cid };
	return iot_db_command(db,
		"UPDATE device_control SET sent_at = coalesce(sent_at, now()), attempt_at = NULL,"
		" status = CASE WHEN status = 'pending' THEN 'sent' ELSE status END,"
		" updated_at = CASE WHEN status = 'pending' THEN now() ELSE updated_at END WHERE id = $1", 1, p, err);
}

int iot_command_release(iot_db *db, int64_t id, iot_error *err)
{
	char cid[24];
	id_text(id, cid);
	const char *p[1] = { cid };
	return iot_db_command(db, "UPDATE device_control SET attempt_at = NULL WHERE id = $1 AND status = 'pending'",
	                      1, p, err);
}
