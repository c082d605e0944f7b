/* command.h — commands to devices (table device_control): what is stored,
 * how a command moves, and a device's answers (acks).
 *
 * Lifecycle, forward only:
 *
 *     pending -> sent -> acknowledged -> completed | failed
 *        \________\__________________-> (acks may skip steps)
 *     pending | sent -> expired   (past expires_at, never answered)
 *
 * pending: stored, not yet accepted by the broker; sent: the broker's
 * PUBACK for its message arrived; acknowledged, completed, failed: what
 * the device (its ack on iotflow/devices/{id}/commands/ack) or its
 * owner / an admin (HTTP) said. completed, failed and expired are final.
 * A command expires when it is still pending or sent at expires_at
 * (created_at + TTL; default IOT_COMMAND_TTL_DEFAULT, the command_ttl
 * setting); an acknowledged command is in the device's hands and does not
 * expire. The same status twice is not an error (QoS 1 delivers an ack at
 * least once); going back is refused (IOT_REJECTED).
 *
 * Rows are JSON objects: id, device_id, command, parameters, status,
 * result, source ("cli" | "api"), user_id, created_at, updated_at,
 * sent_at, acknowledged_at, completed_at, expires_at (RFC 3339 UTC or
 * null). The functions take a database connection only: the MQTT
 * listener calls iot_command_ack with its own. */
#ifndef IOT_COMMAND_H
#define IOT_COMMAND_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "pg/db.h"

#define IOT_COMMAND_TTL_DEFAULT 3600L          /* seconds: 1 h */
#define IOT_COMMAND_TTL_MAX (30L * 86400)      /* 30 days */
#define IOT_COMMAND_PARAMS_MAX 16384           /* bytes of parameters as compact JSON */
#define IOT_COMMAND_ACK_MAX 65536              /* bytes of an ack payload */
#define IOT_COMMAND_LIST_MAX 10000

typedef struct iot_command_req {
	int64_t device_id;
	int64_t user_id;             /* who sent it; 0: not recorded (the shell) */
	const char *command;         /* 1..64 characters, no control characters */
	const json_t *parameters;    /* any JSON value; NULL is {} */
	long ttl_s;                  /* 1 .. IOT_COMMAND_TTL_MAX; 0: the default */
	const char *source;          /* "cli" or "api" */
} iot_command_req;

/* Store a new command, pending and taken for publishing by the caller
 * (attempt_at now: the dispatcher leaves it alone for a while). *out is
 * its row. IOT_USAGE for a bad command, parameters or TTL; IOT_REJECTED
 * when the device does not exist. */
int iot_command_create(iot_db *db, const iot_command_req *c, json_t **out, iot_error *err);

/* One command of a device; IOT_NOT_FOUND when it has no such command. */
int iot_command_get(iot_db *db, int64_t device_id, int64_t id, json_t **out, iot_error *err);

typedef struct iot_command_filter {
	int64_t device_id;           /* 0: every device */
	const char *status;          /* NULL: any; else one of the statuses */
	bool open;                   /* pending or sent only, not expired */
	bool oldest_first;           /* default newest first */
	long limit;                  /* 0: 100; at most IOT_COMMAND_LIST_MAX */
} iot_command_filter;

/* Commands as an array of rows, after expiring the lapsed ones. */
int iot_command_list(iot_db *db, const iot_command_filter *f, json_t **out, iot_error *err);

/* Move command id of device_id to status (acknowledged, completed or
 * failed; result, when not NULL, is stored with it). *out (may be NULL)
 * is the row as it now is. IOT_NOT_FOUND: no such command of that device;
 * IOT_USAGE: not one of those statuses; IOT_REJECTED: it is further
 * along already, or expired (the message says which). */
int iot_command_transition(iot_db *db, int64_t device_id, int64_t id, const char *status,
                           const json_t *result, json_t **out, iot_error *err);

/* Expire the commands (of device_id, or of every device for 0) still
 * pending or sent past their expires_at; *n (may be NULL) how many. */
int iot_command_expire(iot_db *db, int64_t device_id, long *n, iot_error *err);

/* A device's ack, the payload of iotflow/devices/{device_id}/commands/ack:
 *
 *     {"command_id": 42, "status": "acknowledged"|"completed"|"failed",
 *      "result": <any JSON>?}
 *
 * command_id may be a string of digits. status also takes the words
 * deployed firmware uses: received, accepted (acknowledged); success, ok,
 * done, executed (completed); error, unknown_command, rejected (failed);
 * such a word is kept as result {"reported_status": WORD} when there is no
 * result. Without command_id, "command" names the command (the Flask ESP32
 * firmware's reply {"command":"led_on","status":"success",...}): the
 * oldest open command of that name of the device is meant. Other members
 * (api_key, timestamp, device_id) are ignored and never stored.
 * IOT_REJECTED with the reason for a payload that is not such an object or
 * is over IOT_COMMAND_ACK_MAX, or a transition that would go back;
 * IOT_NOT_FOUND for a command the device does not have; IOT_UNAVAILABLE
 * when PostgreSQL is. */
int iot_command_ack(iot_db *db, int64_t device_id, const char *payload, size_t len, iot_error *err);

/* ---- for publishers (lib/mqtt/dispatch.c) ---- */

/* The message of a command row, for iotflow/devices/{id}/commands/control:
 * {"command_id","command","parameters","timestamp" (created_at),
 *  "expires_at","source"}. NULL when out of memory. */
json_t *iot_command_message(const json_t *row);
/* Take up to max pending, unexpired commands whose last attempt is older
 * than stale_s seconds (or none was made), oldest first, marking them
 * attempted now; rows in *out. Two dispatchers never take the same one. */
int iot_command_claim(iot_db *db, long stale_s, size_t max, json_t **out, iot_error *err);
/* The broker took command id: pending -> sent (a later status stays). */
int iot_command_mark_sent(iot_db *db, int64_t id, iot_error *err);
/* Publishing command id failed: it stays pending, for the dispatcher. */
int iot_command_release(iot_db *db, int64_t id, iot_error *err);

#endif
