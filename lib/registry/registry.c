/* registry.c — what the user, device and config operations share. */
#include "registry/registry.h"
#include "base/field_check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *iot_registry_rows(PGresult *res, iot_error *err)
{
	json_t *arr = json_array();
	int n = PQntuples(res);
	for (int i = 0; arr && i < n; i++) {
		json_t *row = json_loads(PQgetvalue(res, i, 0), 0, NULL);
		if (!row || json_array_append_new(arr, row) < 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	if (!arr)
		iot_error_set(err, IOT_INTERNAL, "unable to read a result row");
	return arr;
}

int iot_registry_pick_one(PGresult *res, const char *kind, const char *spec, int64_t *out,
                          iot_error *err)
{
	int n = PQntuples(res);
	if (n == 0)
		return iot_error_set(err, IOT_NOT_FOUND, "unknown %s '%s'", kind, spec);
	if (n == 1) {
		*out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		return 0;
	}
	char list[300] = "";
	size_t len = 0;
	for (int i = 0; i < n && len < sizeof list; i++)
		len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", PQgetvalue(res, i, 1));
	long total = strtol(PQgetvalue(res, 0, 2), NULL, 10);
	return iot_error_set(err, IOT_USAGE, "%s '%s' is ambiguous: %ld %ss have that name (%s%s); name one as"
	                     " OWNER/NAME or by id", kind, spec, total, kind, list, total > n ? ", ..." : "");
}

json_t *iot_registry_row(PGresult *res, const char *what, iot_error *err)
{
	if (PQntuples(res) < 1) {
		iot_error_set(err, IOT_NOT_FOUND, "%s", what);
		return NULL;
	}
	json_t *row = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	if (!row)
		iot_error_set(err, IOT_INTERNAL, "unable to read a result row");
	return row;
}

int iot_registry_db_error(iot_registry *id, iot_error *err, const char *dup_msg, const char *fk_msg)
{
	const char *state = iot_db_sqlstate(id->db);
	if (!strcmp(state, "23505") && dup_msg)
		return iot_error_set(err, IOT_REJECTED, "%s", dup_msg);
	if (!strcmp(state, "23503") && fk_msg)
		return iot_error_set(err, IOT_REJECTED, "%s", fk_msg);
	/* Fields are checked before any statement: a check constraint that
	 * fires is a rule this side missed. Its message names the table and
	 * the constraint, which a reply must not show. */
	if (!strcmp(state, "23514"))
		return iot_error_set(err, IOT_USAGE, "a value out of the range the database allows");
	if (!strcmp(state, "22001") || !strcmp(state, "22P02") || !strcmp(state, "22021"))
		err->status = IOT_USAGE;
	return -1;
}

int iot_username_check(const char *name, iot_error *err)
{
	size_t n = strlen(name);
	if (n == 0)
		return iot_error_set(err, IOT_USAGE, "username: must not be empty");
	if (n > 64)
		return iot_error_set(err, IOT_USAGE, "username: longer than 64 characters");
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || !strchr("_.@-", c)))
			return iot_error_set(err, IOT_USAGE,
			                     "username: letters, digits and _.@- only, starting with a letter or digit");
	}
	return 0;
}

int iot_registry_user_exists(iot_registry *id, const char *username, iot_error *err)
{
	static const char sql[] = "SELECT 1 FROM users WHERE username = $1";
	const char *params[1] = { username };
	PGresult *res = iot_db_exec(id->db, sql, 1, params, err);
	if (!res)
		return -1;
	int n = PQntuples(res);
	PQclear(res);
	return n == 1 ? 0 : iot_error_set(err, IOT_NOT_FOUND, "unknown user '%s'", username);
}
