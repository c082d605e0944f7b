/* history.c — telemetry imports into the batch writer (history_int.h). */
#include "import/history_int.h"
#include "base/timestamp.h"

#include <inttypes.h>
#include <stdio.h>

void iot__hist_init(struct iot__hist *h, iot_writer *w, iot_reject_cb rej, void *ctx, iot_history_counts *c)
{
	h->w = w;
	h->rej = rej;
	h->ctx = ctx;
	h->c = c;
	pthread_mutex_init(&h->mu, NULL);
}

void iot__hist_reject(struct iot__hist *h, const char *where, int column, const char *why)
{
	pthread_mutex_lock(&h->mu);
	h->c->rejected++;
	if (h->rej)
		h->rej(h->ctx, where, column, why);
	pthread_mutex_unlock(&h->mu);
}

static void outcome(const iot_submit_result *res, void *ctx, uint64_t tag)
{
	struct iot__hist *h = ctx;
	(void)tag;
	pthread_mutex_lock(&h->mu);
	if (res->status != IOT_OK) {
		h->c->rejected += (long long)res->npoints;
		if (h->rej)
			h->rej(h->ctx, "batch", 0, res->error ? res->error : "not stored");
	} else {
		h->c->stored += (long long)res->stored;
		h->c->duplicates += (long long)res->duplicates;
		h->c->rejected += (long long)res->rejected;
		for (size_t i = 0; h->rej && i < res->npoints; i++) {
			if (res->outcome[i] != IOT_POINT_REJECTED)
				continue;
			const iot_point *p = &res->points[i];
			char ts[40], where[160];
			iot_format_timestamp(p->ts_us, ts, sizeof ts);
			snprintf(where, sizeof where, "device %" PRId64 " %s at %s", p->device_id, p->measurement, ts);
			h->rej(h->ctx, where, 0, res->reason[i] ? res->reason[i] : "rejected");
		}
	}
	pthread_mutex_unlock(&h->mu);
}

int iot__hist_submit(struct iot__hist *h, const iot_point *pts, size_t n, iot_error *err)
{
	pthread_mutex_lock(&h->mu);
	h->c->points += (long long)n;
	pthread_mutex_unlock(&h->mu);
	return iot_writer_submit_cb(h->w, pts, n, outcome, h, 0, err);
}

int iot__hist_finish(struct iot__hist *h, iot_error *err)
{
	int rc = h->w ? iot_writer_flush(h->w, err) : 0;
	pthread_mutex_destroy(&h->mu);
	return rc;
}
