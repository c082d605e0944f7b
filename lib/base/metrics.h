/* metrics.h — Prometheus counters and gauges: cheap atomic updates on hot
 * paths, rendered in the text exposition format for /metrics or for
 * node_exporter's textfile collector. */
#ifndef IOT_METRICS_H
#define IOT_METRICS_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"

enum iot_metric_type { IOT_COUNTER, IOT_GAUGE };

typedef struct iot_metric {
	const char *name;   /* e.g. "iotflow_ingest_points_stored_total" */
	const char *help;
	enum iot_metric_type type;
	_Atomic uint64_t value;
} iot_metric;

static inline void iot_metric_add(iot_metric *m, uint64_t n)
{
	atomic_fetch_add_explicit(&m->value, n, memory_order_relaxed);
}

static inline void iot_metric_set(iot_metric *m, uint64_t v)
{
	atomic_store_explicit(&m->value, v, memory_order_relaxed);
}

static inline uint64_t iot_metric_get(const iot_metric *m)
{
	return atomic_load_explicit(&m->value, memory_order_relaxed);
}

/* Histograms: a count per bucket (not cumulative until written), their
 * count and sum, in the observed unit (microseconds, points...). */
void iot_hist_observe(_Atomic uint64_t *bucket, const uint64_t *bounds, int nbounds,
                      _Atomic uint64_t *count, _Atomic uint64_t *sum, uint64_t v);
/* Its _bucket (cumulative, le= the bounds times scale, then +Inf), _sum
 * (times scale) and _count lines; labels ("a=\"b\"") may be "". An
 * observation counts before it lands in its bucket, and the buckets are
 * read before the count: a scrape during one never shows a bucket above
 * +Inf, which Prometheus would take for a broken histogram. */
void iot_hist_write(FILE *f, const char *name, const char *labels, const uint64_t *bounds, int nbounds,
                    double scale, const _Atomic uint64_t *bucket, const _Atomic uint64_t *count,
                    const _Atomic uint64_t *sum);

#define IOT_HIST_MAX 16
typedef struct iot_histogram {
	const char *name, *help;
	const uint64_t *bounds;    /* upper bounds, ascending, at most IOT_HIST_MAX */
	int nbounds;
	double scale;              /* observed unit -> the metric's unit (1e-3: ms -> s) */
	_Atomic uint64_t bucket[IOT_HIST_MAX], count, sum;
} iot_histogram;

static inline void iot_histogram_observe(iot_histogram *h, uint64_t v)
{
	iot_hist_observe(h->bucket, h->bounds, h->nbounds, &h->count, &h->sum, v);
}
/* HELP, TYPE and the lines of iot_hist_write. */
void iot_histogram_write(FILE *f, const iot_histogram *h);

/* Render n metrics in the text exposition format, in base units: a counter
 * NAME_milliseconds_total is written as NAME_seconds_total, in seconds.
 * Returns 0 or -1. */
int iot_metrics_write(FILE *f, iot_metric *const *metrics, size_t n);
/* Whether path can take the metrics file: an existing regular file (not a
 * symlink, fifo, device or directory), or a new name in an existing
 * directory. Call it once at start, so a bad path is refused before any
 * work; IOT_USAGE with the reason otherwise. */
int iot_metrics_file_check(const char *path, iot_error *err);
/* Write them to path atomically, as the textfile collector requires: a new
 * file of mode 0644 with an unpredictable name (path.tmp.XXXXXX, created
 * exclusively, so nothing planted there is followed), renamed over path.
 * Returns 0, or -1 with errno set; EEXIST when path has become something
 * other than a regular file since the check. Thread-safe. */
int iot_metrics_write_file(const char *path, iot_metric *const *metrics, size_t n);

#endif
