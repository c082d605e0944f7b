/* device.h — devices from the shell: provisioning, their keys, typed
 * configuration and online state. A device is named by its id ("12"; a
 * DEVICE of digits only is always an id), by "OWNER/NAME" (names are unique
 * per owner; usernames cannot contain '/', so the first '/' splits), or by
 * a bare NAME that exactly one device has. Results are JSON objects; no
 * key or digest appears in one except "api_key" in the results of add and
 * key rotate.
 *
 * Status (active / inactive / maintenance) is what an admin sets. Online /
 * offline is derived: last_seen (the later of devices.last_seen and Redis
 * iotflow:<ns>:seen:<id>) within the online window. Going quiet never
 * changes the status. Every change that affects authentication (status,
 * owner, key rotation or revocation, removal) is committed first and then
 * invalidated in Redis and in every running process (auth.h). When Redis
 * is configured but the device's entries could not be dropped, these
 * return -1 with IOT_UNAVAILABLE and still fill *out (the change is
 * committed), with a message that says what may stay cached, for how long,
 * and what to run once Redis is back (revoke and set: the same command
 * again; rotate: never rotate again, it would issue another key — a
 * rotation whose old keys cannot outlive their grace period in the cache
 * returns 0). Removal is the exception: it checks first, and changes
 * nothing when Redis cannot be told. */
#ifndef IOT_DEVICE_H
#define IOT_DEVICE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "registry/registry.h"

/* NULL = not given (add: default; set: unchanged). For the optional text
 * fields (description, location, firmware, hardware) "" clears on set. */
typedef struct iot_device_fields {
	const char *name, *owner, *type, *description, *location, *firmware, *hardware, *status;
} iot_device_fields;

/* Field limits as the schema's CHECKs: name 1..100, type 1..50,
 * description ..1000, location ..200, firmware/hardware ..50 characters. */
int iot_device_fields_check(const iot_device_fields *f, bool adding, iot_error *err);
/* One NDJSON object: members name, owner, type, description, location,
 * firmware_version, hardware_version, status — strings; anything else is
 * refused. f points into obj. */
int iot_device_fields_from_json(const json_t *obj, iot_device_fields *f, iot_error *err);

/* "12", "OWNER/NAME" or "NAME" -> id; IOT_NOT_FOUND when no such device,
 * IOT_USAGE when several devices have NAME (the message lists them as
 * OWNER/NAME). */
int iot_device_resolve(iot_registry *id, const char *spec, int64_t *out, iot_error *err);

/* Add one device and its first key: out has id, name, owner, type, status, api_key. */
int iot_device_add(iot_registry *id, const iot_device_fields *f, json_t **out, iot_error *err);

typedef struct iot_device_filter {
	const char *owner, *type, *status;
	int online;        /* -1 any, 0 offline only, 1 online only */
	long window_s;     /* online window; 0 = the online_window setting */
} iot_device_filter;

int iot_device_list(iot_registry *id, const iot_device_filter *flt, json_t **out, iot_error *err);
/* One device with its keys (prefixes and state only) and configuration. */
int iot_device_show(iot_registry *id, const char *spec, long window_s, json_t **out, iot_error *err);
int iot_device_update(iot_registry *id, const char *spec, const iot_device_fields *f,
                      json_t **out, iot_error *err);
int iot_device_remove(iot_registry *id, const char *spec, json_t **out, iot_error *err);
/* Counts by status and online/offline over a device list. */
json_t *iot_device_summary(const json_t *list);

/* New key; the device's other live keys stop at once (grace_s 0) or after
 * grace_s seconds. out has id, api_key, key_prefix, previous_keys,
 * previous_valid_until. */
int iot_device_key_rotate(iot_registry *id, const char *spec, long grace_s, json_t **out, iot_error *err);
/* Revoke one key by its prefix, or every key (prefix NULL). */
int iot_device_key_revoke(iot_registry *id, const char *spec, const char *prefix, json_t **out,
                          iot_error *err);
int iot_device_key_list(iot_registry *id, const char *spec, json_t **out, iot_error *err);

/* Typed configuration: string, integer (64-bit), float (finite), boolean
 * (true/false), json (any JSON text). type NULL on set: the key's current
 * type, else string. Keys: [A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}; values up to
 * 65536 characters; at most IOT_DEVICE_CONFIG_KEYS_MAX keys and
 * IOT_DEVICE_CONFIG_BYTES_MAX bytes of values per device (IOT_REJECTED
 * past them). */
#define IOT_DEVICE_CONFIG_KEYS_MAX 1000
/* The whole configuration is published as one retained message: it must
 * fit the broker's message_size_limit (256 KiB in contrib/mosquitto). */
#define IOT_DEVICE_CONFIG_BYTES_MAX (128 << 10)
/* The canonical text of value as type (string, integer, float, boolean,
 * json), malloc'd: what config set stores. NULL with err (IOT_USAGE) when
 * value is not one. */
char *iot_device_config_canonical(const char *value, const char *type, iot_error *err);
int iot_device_config_get(iot_registry *id, const char *spec, const char *key, json_t **out,
                          iot_error *err);
int iot_device_config_set(iot_registry *id, const char *spec, const char *key, const char *value,
                          const char *type, json_t **out, iot_error *err);
int iot_device_config_remove(iot_registry *id, const char *spec, const char *key, json_t **out,
                             iot_error *err);


#endif
