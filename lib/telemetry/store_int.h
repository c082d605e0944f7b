/* store_int.h — what the batch writer's PostgreSQL side shares between its
 * files: the store (one per writer connection), the general path
 * (batch_store.c: COPY, de-duplication, bisection), the small-batch path
 * (batch_small.c: one pipeline) and what every batch writes besides its
 * points (batch_rollups.c: latest values, last_seen, hourly rollups, the
 * followers' notification). Runs on the writer thread only. */
#ifndef IOT_STORE_INT_H
#define IOT_STORE_INT_H

#include "telemetry/batch_int.h"
#include "telemetry/device_lock.h"
#include "telemetry/pg_binary.h"
#include "telemetry/rollup.h"

/* Parameters of one pipeline: binary arrays in one buffer, text values
 * beside them. */
#define STORE_MAX_PARAMS 32
struct store_params {
	struct copy_buf buf;
	size_t off[STORE_MAX_PARAMS];   /* where each binary value starts in buf */
	const char *text[STORE_MAX_PARAMS]; /* or a text value (NULL: binary) */
	const char *val[STORE_MAX_PARAMS];
	int len[STORE_MAX_PARAMS], fmt[STORE_MAX_PARAMS];
	int n;
};

#define STORE_MAX_STMTS 10

/* Room to sort a batch (batch_order.c). */
struct batch_entry;
struct batch_order {
	struct batch_entry *e;
	size_t cap;
};

struct store {
	iot_db *db;
	iot_cache *cache;
	iot_metric *m;
	unsigned prepared_gen;      /* connection generation the temp tables exist in */
	unsigned stmts_gen;         /* ... and the prepared statements */
	size_t nprepared;           /* how many of them are, in stmts_gen */
	bool replaying;             /* the last batch collided: go straight to the staged path */
	bool staged;                /* the current batch took the staged path (counted once) */
	int attempts;               /* runs of the current batch's transaction */
	bool partitions_stale;      /* a batch met a dropped partition */
	bool partitions_reset;      /* ... and the known days were forgotten for it */
	int64_t *days;              /* days (since epoch) whose partition is known to exist */
	size_t ndays, capdays;
	struct copy_buf buf;
	size_t *latest;             /* indexes of the newest stored point per (device, measurement) */
	size_t nlatest;
	int64_t *devs;              /* tell_cache: the batch's devices, then those heard from */
	size_t devs_cap;            /* ... room for devs_cap of each */
	struct point_map map;
	struct rollup hourly;
	struct device_lock devices;
	struct batch_order order;
	int64_t online_window_us;   /* a device whose newest point is older is not "seen" now */
	struct store_params par;
	iot_db_stmt stmt[STORE_MAX_STMTS];
	size_t nstmt;
	char notify[7924];          /* the followers' device list */
};

/* batch_order.c */
/* Put b's points in key order (device, time, measurement; equal keys keep
 * their order), so that every batch inserts its rows, and waits for rows
 * another batch holds, in one order: two parallel batches that share keys
 * (a replay of overlapping files, a device that sends again) then wait for
 * each other instead of deadlocking. PostgreSQL would break a deadlock,
 * but only after deadlock_timeout, and replays kept meeting new ones until
 * the batch's retry time ran out. 0 or -1 (out of memory). */
int iot__batch_order(struct batch *b, struct batch_order *o);
void iot__batch_order_free(struct batch_order *o);

/* batch_rollups.c */
/* Prepare the statements of both paths on the current session, once per
 * connection generation. 0 or -1. */
int iot__store_prepare(struct store *s, iot_error *err);
/* Append to s->stmt what the STORED points of b make true besides
 * themselves: the latest-value upsert, last_seen, the hourly merge and the
 * notification, their parameters in s->par (after what is there). Fills
 * s->latest (sorted by device). 0 or -1 (out of memory). */
int iot__store_rollups_add(struct store *s, const struct batch *b, iot_error *err);
/* Start a statement list and its parameters afresh. */
void iot__store_stmts_reset(struct store *s);
/* Start a statement of the list: its parameters are the ones added next. */
iot_db_stmt *iot__store_stmt(struct store *s, const char *name, const char *sql);
/* Parameters: a binary array of n elements of type oid (its elements are
 * then encoded into s->par.buf), or a text value. */
void iot__store_param_array(struct store *s, uint32_t oid, size_t n);
void iot__store_param_text(struct store *s, const char *v);
/* Close the list: parameter pointers into the (final) buffer. 0 or -1 (out
 * of memory while encoding). */
int iot__store_stmts_close(struct store *s, iot_error *err);
/* Run the list as one pipeline (results dropped). 0 or -1. */
int iot__store_stmts_run(struct store *s, iot_error *err);

/* batch_small.c */
/* The small-batch path, outside any transaction: one round trip for the
 * whole batch, COMMIT included. 1 when it committed (every point
 * STORED), 0 when the batch needs the general path (a duplicate, a removed
 * device, a bad point, any failure: everything was rolled back). */
int iot__store_small(struct store *s, struct batch *b);
/* The batches it takes: up to this many points and bytes of parameters. */
#define STORE_SMALL_POINTS 2000
#define STORE_SMALL_BYTES (1u << 20)

#endif
