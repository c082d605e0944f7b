/* device_seen.h — what devices say about their presence: seen now
 * (heartbeats, status/online), or gone (their MQTT last will). Both move
 * only the derived online state (device.h), never the status column, which
 * is the admin's: a device cannot lock itself out (compat B5). */
#ifndef IOT_DEVICE_SEEN_H
#define IOT_DEVICE_SEEN_H

#include <stdint.h>

#include "cache/cache.h"
#include "base/error.h"
#include "pg/db.h"

/* last_seen = now in PostgreSQL (never backwards) and the online mark in
 * Redis (cache may be NULL). 0, or -1 with err (IOT_NOT_FOUND: no such
 * device; IOT_UNAVAILABLE). */
int iot_device_seen(iot_db *db, iot_cache *cache, int64_t id, iot_error *err);
/* The device is offline from now until it is seen again (sql/008). 0 or -1
 * as above. */
int iot_device_offline(iot_db *db, int64_t id, iot_error *err);

#endif
