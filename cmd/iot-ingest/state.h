/* state.h — iot-ingest's state, shared by its option parsing (main.c), its
 * read loop (run.c) and what it tells people (report.c). */
#ifndef IOT_INGEST_CMD_H
#define IOT_INGEST_CMD_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

#include "auth/auth.h"
#include "base/config.h"
#include "base/metrics.h"
#include "cache/cache.h"
#include "pg/db.h"
#include "telemetry/batch.h"
#include "telemetry/ingest.h"
#include "telemetry/record.h"

struct ingest;

/* One input: the context of every submission made from its lines. */
struct source {
	struct ingest *g;
	const char *path;   /* as given; NULL for stdin */
	char *shown;        /* for messages: "stdin" or the path, control characters escaped */
};

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
	/* output shared with the writer threads' callbacks and the ticker */
	pthread_mutex_t out_mu;
	pthread_cond_t tick_cv;     /* wakes the ticker thread to stop */
	bool tick_stop;
	FILE *reject;
	bool reject_failed;         /* a write to the reject file failed: exit 6 */
	bool progress;              /* standard error is a terminal and not -q */
	bool progress_shown;        /* a progress line is on the terminal now */
	long long start_ms, notice_ms;
	/* counters (the writer threads add to some) */
	iot_metric lines, rejected_lines, records, points;
	_Atomic uint64_t stored, duplicates, valid, refused_points;
	atomic_bool stop;           /* set by SIGINT/SIGTERM: stop reading, no more retries */
	volatile sig_atomic_t signo;
	atomic_bool strict_hit;
	bool read_failed;           /* a source could not be read to its end */
	bool open_failed;           /* a FILE could not be opened */
	bool input_done;            /* every source was read to its end */
};

/* Read every source, store what is valid, report the rest. Returns the exit code. */
int ingest_run(struct ingest *g);

/* report.c */
char *source_shown(const char *path);
/* A rejected line: a warning, and (with --reject-file) a comment line with
 * the reason followed by the line itself, so it can be fixed and fed back. */
void report_reject(struct ingest *g, const struct source *src, long lineno, const char *reason,
                   const char *raw, size_t rawlen);
/* A warning that clears the progress line first. */
void report_warning(struct ingest *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The config's notice hook: retries and the like, at most once in 5 s. */
void report_notice(void *arg, enum iot_notice_level level, const char *msg);
/* The ticker thread refreshes the progress line every second and the
 * metrics file every 10 s, input or not, and cancels the writer's
 * statements a second after a signal. */
int ticker_start(struct ingest *g, pthread_t *t);
void ticker_stop(struct ingest *g, pthread_t t);
/* Clear the progress line; write the metrics file once more. */
void report_final(struct ingest *g);
void write_metrics(struct ingest *g);
void print_summary(struct ingest *g);

#endif
