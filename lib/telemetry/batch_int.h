/* batch_int.h — what the batch writer's queue (batch.c) and its PostgreSQL
 * side (batch_store.c) share. Not part of the public API. */
#ifndef IOT_BATCH_INT_H
#define IOT_BATCH_INT_H

#include <pthread.h>

#include "telemetry/batch.h"
#include "cache/cache.h"
#include "pg/db.h"

/* One producer's submission: its points copied into one allocation. */
struct submission {
	struct submission *next;
	iot_point *points;
	size_t n;
	size_t bytes;               /* the whole allocation, for the queue's memory bound */
	enum iot_point_outcome *outcome;
	char **reason;              /* malloc'd strings, only for rejected points */
	iot_submit_cb cb;
	void *ctx;
	uint64_t tag;
	bool done;                  /* ticket mode: set under the writer's lock */
	bool ticket;
	uint64_t seq;
	long long enqueued_ms;
	iot_submit_result res;
	struct iot_writer *w;
};

/* A batch as the store sees it: a flat view of the points of its submissions. */
struct batch {
	struct submission **sub;    /* [n]: which submission point i belongs to */
	const iot_point **pt;       /* [n] */
	enum iot_point_outcome **out; /* [n]: where its outcome goes */
	char ***why;                /* [n]: where its reason goes */
	size_t n, cap;
};

enum writer_metric {
	M_BATCHES, M_STORED, M_DUPLICATES, M_REJECTED, M_RETRIES, M_DEDUP_BATCHES,
	M_BISECTS, M_COMMIT_MS, M_QUEUED, M_SMALL_BATCHES, M_COUNT
};

struct store;

/* The PostgreSQL side, run on the writer thread only. */
struct store *iot__store_new(const iot_config *cfg, iot_cache *cache, iot_metric *metrics, iot_error *err);
void iot__store_free(struct store *s);
/* Cancel the statement the store runs now (from any thread). */
void iot__store_cancel(struct store *s);
/* Write one batch (outcomes filled in). Returns 0 when committed, -1 with
 * err set when the database stayed unavailable or failed for good. */
int iot__store_batch(struct store *s, struct batch *b, iot_error *err);

#endif
