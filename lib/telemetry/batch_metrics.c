/* batch_metrics.c — the batch writer's metrics as a daemon's /metrics
 * shows them (batch.h). */
#include <string.h>

#include "telemetry/batch.h"

static void one(FILE *f, const char *name, const char *type, const char *help, double v)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

int iot_writer_metrics_write(FILE *f, iot_writer *w)
{
	iot_metric *const *ms;
	size_t n = iot_writer_metrics(w, &ms);
	for (size_t i = 0; i < n; i++) {
		const char *name = ms[i]->name, *ms_suffix = strstr(name, "_milliseconds_total");
		if (ms_suffix) {
			char sec[128];
			snprintf(sec, sizeof sec, "%.*s_seconds_total", (int)(ms_suffix - name), name);
			one(f, sec, "counter", ms[i]->help, iot_metric_get(ms[i]) / 1000.0);
		} else {
			one(f, name, ms[i]->type == IOT_COUNTER ? "counter" : "gauge", ms[i]->help,
			    (double)iot_metric_get(ms[i]));
		}
	}
	iot_histogram *const *hs;
	n = iot_writer_histograms(w, &hs);
	for (size_t i = 0; i < n; i++)
		iot_histogram_write(f, hs[i]);
	return ferror(f) ? -1 : 0;
}
