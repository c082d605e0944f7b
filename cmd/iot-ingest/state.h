/* state.h — iot-ingest's state, shared by its option parsing (main.c) and
 * its read-decode-resolve-submit loop (run.c). */
#ifndef IOT_INGEST_CMD_H
#define IOT_INGEST_CMD_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

#include "auth/auth.h"
#include "telemetry/batch.h"
#include "cache/cache.h"
#include "base/config.h"
#include "pg/db.h"
#include "telemetry/ingest.h"
#include "base/metrics.h"
#include "telemetry/record.h"

struct ingest {
	/* options */
	iot_decode_opts dec;
	iot_resolve_opts res;
	iot_writer_opts wo;
	bool strict, dry_run;
	const char *reject_path, *metrics_path;
	char **files;
	int nfiles;
	/* connections */
	iot_config *cfg;
	iot_db *db;
	iot_cache *cache;
	iot_auth *auth;
	iot_writer *w;
	/* output shared with the writer thread's callback */
	pthread_mutex_t out_mu;
	pthread_cond_t metrics_cv;  /* wakes the metrics-file thread to stop */
	bool metrics_stop;
	FILE *reject;
	bool reject_failed;         /* a write to the reject file failed: exit 6 */
	bool progress;
	/* counters (the writer thread adds to some) */
	iot_metric lines, rejected_lines, records, points;
	_Atomic uint64_t stored, duplicates, valid;
	volatile sig_atomic_t stop;
	atomic_bool strict_hit;
	int exit_code;
};

/* Read every source, store what is valid, report the rest. Returns the exit code. */
int ingest_run(struct ingest *g);

#endif
