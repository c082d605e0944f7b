/* lifecycle.h — the data lifecycle of telemetry: retention (each partition
 * past its age exported to a compressed archive with a manifest, the
 * archive verified, and only then the partition dropped) and the repair of
 * the hourly rollups. Partitions ahead are pg/migrate.h's; the rollups are
 * kept incrementally by the batch writer in every commit.
 *
 * The library never prints: results go to a callback, failures to err. */
#ifndef IOT_LIFECYCLE_H
#define IOT_LIFECYCLE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "cache/cache.h"
#include "pg/db.h"

/* ---- Retention ------------------------------------------------------------ */

typedef struct iot_retention_req {
	int64_t keep_us;             /* partitions whose end is older than now - keep go */
	const char *archive_dir;     /* where archives and manifests are written */
	bool dry_run;                /* only tell what would go (and its rows) */
	int64_t now_us;              /* 0: the clock */
	iot_cache *cache;            /* after each drop, every device's cached read
	                              * answers made stale (NULL: no Redis) */
} iot_retention_req;

typedef struct iot_retention_item {
	char partition[64];          /* telemetry_data_YYYYMMDD (or _YYYYMM) */
	int64_t lo_us, hi_us;        /* its bounds: lo <= ts < hi */
	long long rows;
	char archive[4096], manifest[4096];  /* the files (not on a dry run) */
	char sha256[65];             /* of the archive file as written */
	bool dropped;
} iot_retention_item;

typedef int (*iot_retention_fn)(void *arg, const iot_retention_item *it);

/* ARCHIVE_DIR must be an existing directory this process can write into
 * (IOT_USAGE otherwise), also on a dry run and when nothing is due.
 * For each partition of telemetry_data that ends at or before now - keep,
 * oldest first, in one transaction each:
 *   1. lock it against writers (readers go on), count its rows;
 *   2. export it (lib/query's NDJSON: what iot-ingest stores back as the
 *      same rows) through gzip into ARCHIVE_DIR/.NAME-STAMP.ndjson.gz.tmp,
 *      flush it to disk;
 *   3. verify: read the file back through gzip; its lines must be the
 *      partition's row count and its content the bytes written (SHA-256);
 *   4. move it to NAME-STAMP.ndjson.gz beside a manifest NAME-STAMP.json
 *      {"partition","from","to","rows","format":"ndjson","compression":"gzip",
 *       "file","bytes","sha256" (of the file),"content_sha256","created"},
 *      both flushed to disk (STAMP: when the run started, so a partition
 *      that comes back with late data never overwrites an archive);
 *   5. delete its hours from telemetry_hourly, put telemetry_latest right
 *      for series whose latest point was in it (the newest point left, or
 *      no row), drop it, commit; then bump the result-cache generation of
 *      every device (cache.h), before the partition is reported. The drop
 *      locks telemetry_data itself: its waits are bounded (retention.c).
 * Any failure before the commit (a file that cannot be written, a disk
 * full, a read-back that does not verify, a drop refused) rolls back: the
 * partition stays, its files go (the archive too, when it was placed), and
 * the run stops with err (IOT_UNAVAILABLE for
 * I/O and PostgreSQL, IOT_INTERNAL for a verification that failed). fn is
 * called once per partition done (or, dry_run, that would be). Returns the
 * number of partitions, or -1. db must not retry behind the caller's back
 * (iot_db_set_retry_time 0): a transaction here is never rerun. */
int iot_retention_run(iot_db *db, const iot_retention_req *req, iot_retention_fn fn, void *arg,
                      iot_error *err);

/* ---- Rollups -------------------------------------------------------------- */

/* Recompute telemetry_hourly from telemetry_data for every hour from the
 * one holding since_us on, in one transaction that holds writers' rollup
 * merges back until it commits (their points then add to the rebuilt
 * rows, so nothing counts twice or is missed). Sums are summed again in
 * PostgreSQL's order: they may differ from the incremental ones in the last
 * bit. Returns the number of hourly rows written, or -1 with err. */
long long iot_rollups_rebuild(iot_db *db, int64_t since_us, iot_error *err);

#endif
