/* metrics.c — Prometheus text exposition format. */
#include "base/metrics.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int iot_metrics_write(FILE *f, iot_metric *const *metrics, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const iot_metric *m = metrics[i];
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", m->name, m->help, m->name,
		        m->type == IOT_COUNTER ? "counter" : "gauge", m->name, iot_metric_get(m));
	}
	return ferror(f) ? -1 : 0;
}

int iot_metrics_write_file(const char *path, iot_metric *const *metrics, size_t n)
{
	char *tmp;
	if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0)
		return -1;
	FILE *f = fopen(tmp, "w");
	int rc = -1;
	if (f) {
		rc = iot_metrics_write(f, metrics, n);
		if (fclose(f) != 0)
			rc = -1;
		if (rc == 0 && rename(tmp, path) != 0)
			rc = -1;
		if (rc != 0)
			unlink(tmp);
	}
	free(tmp);
	return rc;
}
