/* device_lock.h — the first step of every batch transaction: lock the rows
 * of the batch's devices so that none can be deleted before the batch
 * commits, and reject the points of devices already deleted. Internal to
 * the batch writer.
 *
 * Why: telemetry_data has no foreign key (it would halve COPY), and
 * removing a device removes its telemetry from a trigger. Without the lock,
 * a batch committing while the device is deleted left its rows behind, or
 * met telemetry_latest's foreign key and failed as a whole. With it, a
 * DELETE waits for the batches holding the row, and its trigger (and the
 * cascades into telemetry_latest and telemetry_hourly) then remove what they
 * committed; a batch that starts later finds the device gone. */
#ifndef IOT_DEVICE_LOCK_H
#define IOT_DEVICE_LOCK_H

#include <stddef.h>
#include <stdint.h>

#include "telemetry/batch_int.h"

struct device_lock {
	int64_t *ids;               /* the batch's distinct devices, ascending; then those still there */
	size_t nids, cap;
	char *idlist;               /* ids as an array literal, the query's parameter */
	size_t capidlist;
	struct batch live;          /* a view of the batch without the points of removed devices */
};

/* Inside the batch's transaction: lock the devices of b's points FOR KEY
 * SHARE, in id order. Points of devices that are gone get the outcome
 * IOT_POINT_REJECTED and the reason "unknown device N (removed)"; *use is
 * then a view of the other points (sharing b's points and outcome slots),
 * else b itself. Returns 0, or -1 with err set (transient failures as
 * iot_db_query reports them). */
int iot__device_lock(iot_db *db, struct device_lock *dl, struct batch *b, struct batch **use,
                     iot_error *err);
/* Only the first step: b's distinct devices, ascending, into dl->ids and
 * as "{1,2,...}" into dl->idlist, for a caller that sends the lock
 * itself (iot__sql_lock_devices, dl->idlist its parameter) and compares the
 * rows it got with dl->nids. 0 or -1 (out of memory). */
int iot__device_lock_ids(struct device_lock *dl, const struct batch *b);
extern const char iot__sql_lock_devices[];
void iot__device_lock_free(struct device_lock *dl);

#endif
