/* rollup.h — a batch's stored numeric points summed up per device,
 * measurement and hour (count, sum, min, max, first and last by time), to be
 * merged into telemetry_hourly. Internal to the batch writer. */
#ifndef IOT_ROLLUP_H
#define IOT_ROLLUP_H

#include <stddef.h>
#include <stdint.h>

#include "telemetry/batch_int.h"

struct hour_sum {
	int64_t device_id;
	const char *measurement;
	int64_t bucket_us;          /* start of the hour */
	int64_t count;
	double sum, min, max;
	int64_t first_ts, last_ts;
	double first, last;
};

struct rollup {
	struct hour_sum *sums;
	size_t n, cap;
	size_t *slot;               /* open addressing: 0 empty, else 1 + index into sums */
	size_t size;
};

/* Sum up the STORED numeric points of b. Returns 0 or -1 (out of memory). */
int iot__rollup_build(struct rollup *r, const struct batch *b);
void iot__rollup_free(struct rollup *r);

#endif
