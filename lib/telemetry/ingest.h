/* ingest.h — from a decoded record to points ready for the batch writer:
 * who sent it (trusted device id, api_key, or both, which must agree), and
 * whether that device may send (it exists and its status is active).
 * Shared by iot-ingest, iot-httpd and iot-mqtt-listen. */
#ifndef IOT_INGEST_H
#define IOT_INGEST_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/auth.h"
#include "base/error.h"
#include "telemetry/record.h"

typedef struct iot_resolve_opts {
	int64_t trusted_device;   /* authenticated elsewhere (HTTP X-API-Key, broker, --device); 0 = none */
	bool require_key;         /* every record must carry a valid api_key */
} iot_resolve_opts;

/* Set device_id on every point of rec. Returns 0, or -1 with err:
 * IOT_DENIED (bad or missing key, key of another device), IOT_NOT_FOUND
 * (unknown device), IOT_REJECTED (no device named, device not active,
 * device ids that disagree), IOT_UNAVAILABLE (database unreachable). */
int iot_record_resolve(iot_auth *auth, iot_record *rec, const iot_resolve_opts *opts,
                       iot_device_ref *dev, iot_error *err);

#endif
