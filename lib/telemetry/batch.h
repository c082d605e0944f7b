/* batch.h — the batch writer: points from any number of producer threads
 * into PostgreSQL through COPY, in batches flushed by size or by time.
 *
 * A producer hands over the points of one record (iot_writer_submit); they
 * are copied, so the caller may free its own right away (points sharing one
 * metadata text, as a record's do, share one copy of it). The submission is
 * never split across batches. When the batch that holds it has committed (or
 * failed for good) the writer reports the outcome of every point: stored,
 * duplicate (already in the database: replays are absorbed by the
 * uniqueness key), or rejected with PostgreSQL's reason, or with "unknown
 * device N (removed)" when the device was deleted while its points were on
 * their way. Producers either wait for that on a ticket or get a callback on
 * the writer thread.
 *
 * Fresh data goes through a raw COPY inside a savepoint. A batch that collides
 * with stored rows is redone through a staging table with INSERT .. ON
 * CONFLICT DO NOTHING; a batch with a permanently bad point is bisected until
 * the bad points are found and the rest is stored. Transient failures
 * (connection lost, server restarting) are retried with backoff for
 * db_retry_time while producers are held back by a bounded queue: memory
 * stays bounded and nothing submitted is dropped. Each batch first locks its
 * devices' rows (FOR KEY SHARE), so a device deleted meanwhile either waits
 * for the batch and then takes its points with it, or is gone and its points
 * are rejected. Each committed batch also upserts telemetry_latest and
 * devices.last_seen, and tells the cache which devices were seen. */
#ifndef IOT_BATCH_H
#define IOT_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/config.h"
#include "base/error.h"
#include "base/metrics.h"
#include "telemetry/record.h"

typedef struct iot_writer iot_writer;
typedef struct iot_ticket iot_ticket;

enum iot_point_outcome { IOT_POINT_STORED, IOT_POINT_DUPLICATE, IOT_POINT_REJECTED };

typedef struct iot_writer_opts {
	size_t batch_size;   /* points per COPY (default 20000) */
	int flush_ms;        /* longest a point waits for its batch (default 100); 0: none, a
	                      * batch is whatever is queued when a worker is free */
	size_t max_queued;   /* points held before producers block (default connections + 2 batches) */
	size_t max_queued_bytes; /* and the memory they may hold (default 64 MiB): metadata is
	                          * copied to every point, so points alone do not bound it */
	bool dry_run;        /* accept and report everything as stored, write nothing */
	int connections;     /* PostgreSQL connections writing batches in parallel (default 2) */
	bool use_cache;      /* tell Redis which devices were seen (each connection its own handle) */
} iot_writer_opts;

void iot_writer_opts_default(iot_writer_opts *o);

/* The outcome of one submission, valid until the ticket is freed or the
 * callback returns. status is IOT_OK when the batch committed (then each
 * point has an outcome), IOT_UNAVAILABLE when the database stayed
 * unreachable past the retry budget (nothing of it is stored).
 * Batches commit in parallel, so outcomes may arrive out of submission order. */
typedef struct iot_submit_result {
	enum iot_status status;
	const char *error;            /* when status != IOT_OK */
	const iot_point *points;      /* [npoints]: the writer's copy */
	size_t npoints, stored, duplicates, rejected;
	const enum iot_point_outcome *outcome;  /* [npoints] */
	const char *const *reason;    /* [npoints]: NULL unless rejected */
} iot_submit_result;

/* ctx and tag are the producer's, passed back as given: ctx for its state
 * (a request, a source), tag to tell its submissions apart (a line number,
 * a message id). */
typedef void (*iot_submit_cb)(const iot_submit_result *res, void *ctx, uint64_t tag);

/* Open the writer's PostgreSQL connections (retrying as configured) and
 * start one thread for each (with every signal blocked: signals stay the
 * program's business). cfg must outlive the writer; once its stop
 * flag is set (iot_config_set_stop) failures are final, nothing is retried,
 * so flush and close return promptly and what did not commit is reported
 * as failed. */
iot_writer *iot_writer_new(const iot_config *cfg, const iot_writer_opts *opts, iot_error *err);

/* Hand over n points (device_id resolved) and get a ticket to wait on.
 * Blocks while the queue is full. Returns NULL with err set when the writer
 * has failed or is closing. */
iot_ticket *iot_writer_submit(iot_writer *w, const iot_point *points, size_t n, iot_error *err);
/* The same, but cb(res, ctx, tag) runs on a writer thread once the outcome is
 * known (keep it short: that thread's next batch waits for it). Callbacks
 * of different batches may run concurrently on different threads.
 * Returns 0 or -1. Submitting or waiting on a ticket after (or during)
 * iot_writer_close is not allowed. */
int iot_writer_submit_cb(iot_writer *w, const iot_point *points, size_t n,
                         iot_submit_cb cb, void *ctx, uint64_t tag, iot_error *err);
/* Wait for the submission's outcome. The result lives until iot_ticket_free. */
const iot_submit_result *iot_ticket_wait(iot_ticket *t);
void iot_ticket_free(iot_ticket *t);

/* Commit everything submitted so far; returns 0, or -1 once the writer has
 * failed (err says why). */
int iot_writer_flush(iot_writer *w, iot_error *err);
/* Flush, stop the thread, close the connection. Returns 0 or -1 as flush. */
int iot_writer_close(iot_writer *w, iot_error *err);

/* Cancel the statements the writer's connections run now (a lock wait, a
 * long COPY): with the config's stop flag set, so that flush and close
 * return at once instead of waiting for them; the batches they belonged to
 * fail. Any thread. */
void iot_writer_cancel(iot_writer *w);

/* The writer's Prometheus metrics (valid while the writer lives). */
size_t iot_writer_metrics(iot_writer *w, iot_metric *const **out);
/* And its histograms: points per committed batch, time per batch (valid
 * while the writer lives). */
size_t iot_writer_histograms(iot_writer *w, iot_histogram *const **out);
/* Both in the Prometheus text format, in base units (the batch time, counted
 * in milliseconds, is written as *_seconds_total): what every daemon's
 * /metrics shows of its writer. -1 when writing to f failed. */
int iot_writer_metrics_write(FILE *f, iot_writer *w);

#endif
