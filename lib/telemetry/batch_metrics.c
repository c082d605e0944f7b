/* batch_metrics.c — the batch writer's metrics as a daemon's /metrics
 * shows them (batch.h): its counters as iot_metrics_write renders them
 * (its batch time in seconds), then its histograms. */
#include "telemetry/batch.h"

int iot_writer_metrics_write(FILE *f, iot_writer *w)
{
	iot_metric *const *ms;
	size_t n = iot_writer_metrics(w, &ms);
	iot_metrics_write(f, ms, n);
	iot_histogram *const *hs;
	n = iot_writer_histograms(w, &hs);
	for (size_t i = 0; i < n; i++)
		iot_histogram_write(f, hs[i]);
	return ferror(f) ? -1 : 0;
}
