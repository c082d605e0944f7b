/* registry.h — the registry of users, tokens, devices and device configs:
 * its backend context (settings, PostgreSQL, Redis) and the mapping of
 * database errors to answers a person can act on. Result rows are built as JSON by PostgreSQL
 * (json_build_object) so each object is defined once, in its query. */
#ifndef IOT_REGISTRY_H
#define IOT_REGISTRY_H

#include <jansson.h>
#include <stdbool.h>

#include "cache/cache.h"
#include "base/config.h"
#include "pg/db.h"
#include "base/error.h"
#include "base/parse.h"

typedef struct iot_registry {
	const iot_config *cfg;
	iot_db *db;
	iot_cache *cache;   /* may be NULL: invalidations are then skipped */
} iot_registry;

/* Timestamps in results: RFC 3339 UTC, whole seconds. Expands to SQL text. */
#define IOT_SQL_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* Column 0 of every row is a JSON object text: an array of them. */
json_t *iot_registry_rows(PGresult *res, iot_error *err);
/* Column 0 of the only row; NULL with IOT_NOT_FOUND "<what>" when none. */
json_t *iot_registry_row(PGresult *res, const char *what, iot_error *err);

/* 0 when a user of that name exists; else -1 with IOT_NOT_FOUND
 * "unknown user 'NAME'" (or the database's error). */
int iot_registry_user_exists(iot_registry *id, const char *username, iot_error *err);

/* The one thing a name picks out, from rows (id, "OWNER/NAME", count(*)
 * OVER ()) of up to 5 matches: 0 and *out for one row; none: IOT_NOT_FOUND
 * "unknown KIND 'SPEC'"; several: IOT_USAGE "KIND 'SPEC' is ambiguous: N
 * KINDs have that name (alice/x, bob/x); name one as OWNER/NAME or by id". */
int iot_registry_pick_one(PGresult *res, const char *kind, const char *spec, int64_t *out,
                          iot_error *err);

/* After a failed statement: rewrite err for constraint violations
 * (unique -> IOT_REJECTED dup_msg, check -> IOT_USAGE, foreign key ->
 * IOT_REJECTED fk_msg). Other errors are left as they are. Returns -1. */
int iot_registry_db_error(iot_registry *id, iot_error *err, const char *dup_msg, const char *fk_msg);

/* Usernames as the schema allows: [A-Za-z0-9][A-Za-z0-9_.@-]{0,63}. */
int iot_username_check(const char *name, iot_error *err);

#endif
