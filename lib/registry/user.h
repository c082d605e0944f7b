/* user.h — people: accounts (Argon2id passwords) and their API tokens.
 * Users are named by username. Results are JSON objects; no password hash,
 * token or digest ever appears in one, except the "token" member of
 * iot_token_create's result, the one moment it is handed to its owner. */
#ifndef IOT_USER_H
#define IOT_USER_H

#include <jansson.h>
#include <stdbool.h>

#include "registry/registry.h"

/* password may be NULL (an account that only uses tokens). email NULL or "". */
int iot_user_add(iot_registry *id, const char *username, const char *email, bool admin,
                 const char *password, json_t **out, iot_error *err);
int iot_user_list(iot_registry *id, json_t **out, iot_error *err);
int iot_user_show(iot_registry *id, const char *username, json_t **out, iot_error *err);
/* email: NULL unchanged, "" removes it; admin/active: -1 unchanged, 0/1. */
int iot_user_update(iot_registry *id, const char *username, const char *email, int admin,
                    int active, json_t **out, iot_error *err);
int iot_user_set_password(iot_registry *id, const char *username, const char *password, iot_error *err);
/* 0 when the password is right and the account active (rehashing when the
 * cost settings changed, recording last_login); -1 with IOT_DENIED
 * "invalid username or password" otherwise. */
int iot_user_verify_password(iot_registry *id, const char *username, const char *password,
                             json_t **out, iot_error *err);
/* Refused (IOT_REJECTED) while the user still owns devices. */
int iot_user_remove(iot_registry *id, const char *username, json_t **out, iot_error *err);

/* Token names: 1..64 characters. expires_s 0 = never. */
int iot_token_create(iot_registry *id, const char *username, const char *name, long expires_s,
                     json_t **out, iot_error *err);
int iot_token_list(iot_registry *id, const char *username, json_t **out, iot_error *err);
int iot_token_revoke(iot_registry *id, const char *username, const char *name, json_t **out,
                     iot_error *err);

#endif
