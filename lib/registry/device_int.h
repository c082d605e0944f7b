/* device_int.h — what the device_*.c files share; not part of the API. */
#ifndef IOT_DEVICE_INT_H
#define IOT_DEVICE_INT_H

#include "registry/device.h"

/* After a committed change, drop every
 * cached entry of the device (all its digests, whatever their state, so
 * that running a command again repairs a failed invalidation). 0, or -1
 * with IOT_UNAVAILABLE and why the entries were not dropped (callers say
 * what that means for their change). */
int iot__device_invalidate(iot_registry *id, int64_t device_id, iot_error *err);

#endif
