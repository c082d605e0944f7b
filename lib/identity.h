/* identity.h — what the user, token, device and device-config operations
 * share: the handles they need and the mapping of database errors to
 * answers a person can act on. Result rows are built as JSON by PostgreSQL
 * (json_build_object) so each object is defined once, in its query. */
#ifndef IOT_IDENTITY_H
#define IOT_IDENTITY_H

#include <jansson.h>
#include <stdbool.h>

#include "cache.h"
#include "config.h"
#include "db.h"
#include "error.h"

typedef struct iot_identity {
	const iot_config *cfg;
	iot_db *db;
	iot_cache *cache;   /* may be NULL: invalidations are then skipped */
} iot_identity;

/* Timestamps in results: RFC 3339 UTC, whole seconds. Expands to SQL text. */
#define IOT_SQL_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* Column 0 of every row is a JSON object text: an array of them. */
json_t *iot_identity_rows(PGresult *res, iot_error *err);
/* Column 0 of the only row; NULL with IOT_NOT_FOUND "<what>" when none. */
json_t *iot_identity_row(PGresult *res, const char *what, iot_error *err);

/* After a failed statement: rewrite err for constraint violations
 * (unique -> IOT_REJECTED dup_msg, check -> IOT_USAGE, foreign key ->
 * IOT_REJECTED fk_msg). Other errors are left as they are. Returns -1. */
int iot_identity_db_error(iot_identity *id, iot_error *err, const char *dup_msg, const char *fk_msg);

/* Usernames as the schema allows: [A-Za-z0-9][A-Za-z0-9_.@-]{0,63}. */
int iot_username_check(const char *name, iot_error *err);
/* "12" -> 12; 0 when s is not a plain positive decimal below 2^31. */
long long iot_parse_id(const char *s);

#endif
