/* batch_results.c — after a batch commits, the cached read answers of its
 * devices made stale (cache.h, "cached answers of read queries") and the
 * devices heard from marked online. Called by the store between the commit
 * and the outcomes, so no producer hears "stored" before the bump; one
 * round trip per batch. */
#include "telemetry/batch_int.h"

#include <stdlib.h>

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

void iot__batch_committed(iot_cache *c, const struct batch *b, const int64_t *seen, size_t nseen, int64_t seen_us)
{
	if (!c || !iot_cache_configured(c) || b->n == 0)
		return;
	int64_t stack[256], *ids = b->n <= 256 ? stack : malloc(b->n * sizeof *ids);
	size_t n = 0;
	if (!ids) { /* out of memory: one device at a time */
		iot_cache_committed(c, NULL, 0, seen, nseen, seen_us);
		for (size_t i = 0; i < b->n; i++)
			if (*b->out[i] == IOT_POINT_STORED)
				iot_cache_results_bump(c, &b->pt[i]->device_id, 1);
		return;
	}
	for (size_t i = 0; i < b->n; i++)
		if (*b->out[i] == IOT_POINT_STORED)
			ids[n++] = b->pt[i]->device_id;
	qsort(ids, n, sizeof *ids, cmp_i64);
	size_t u = 0;
	for (size_t i = 0; i < n; i++)
		if (u == 0 || ids[u - 1] != ids[i])
			ids[u++] = ids[i];
	iot_cache_committed(c, ids, u, seen, nseen, seen_us);
	if (ids != stack)
		free(ids);
}
