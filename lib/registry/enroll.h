/* enroll.h — enrollment codes: a code lets whoever holds it register
 * devices for its user without a token (deployed firmware sends it as
 * "user_id", compat §5). Codes are 32 lower-case hex digits from 16 random
 * bytes, printed once by create and stored only as a digest (keys.h, with
 * the pepper); a user may hold several; revoke stops one (by its 6-digit
 * prefix) or all at once. Results are JSON objects {id, username, prefix,
 * state (live|revoked), created_at, last_used, usage_count}; create's adds
 * "code", the one moment it is shown. */
#ifndef IOT_ENROLL_H
#define IOT_ENROLL_H

#include <jansson.h>
#include <stdint.h>

#include "registry/registry.h"

#define IOT_ENROLL_CODE_LEN 32

int iot_enroll_create(iot_registry *id, const char *username, json_t **out, iot_error *err);
/* username NULL: every user's codes. */
int iot_enroll_list(iot_registry *id, const char *username, json_t **out, iot_error *err);
/* prefix NULL: every live code of the user. out: the codes revoked. */
int iot_enroll_revoke(iot_registry *id, const char *username, const char *prefix, json_t **out,
                      iot_error *err);
/* The user a live code belongs to (an active user): 0 and *user_id, *username
 * (size 80), counting the use; -1 with IOT_DENIED for anything else
 * (malformed, unknown, revoked, user disabled), IOT_UNAVAILABLE. */
int iot_enroll_use(iot_registry *id, const char *code, int64_t *user_id, char *username, iot_error *err);

#endif
