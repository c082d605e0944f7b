/* history.c — telemetry imports into the batch writer (history_int.h). */
#include "import/history_int.h"
#include "base/timestamp.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <time.h>

void iot__hist_init(struct iot__hist *h, iot_writer *w, iot_reject_cb rej, void *ctx, iot_history_counts *c,
                    int64_t max_future_us)
{
	iot_decode_opts o;
	iot_decode_opts_default(&o);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	h->w = w;
	h->rej = rej;
	h->ctx = ctx;
	h->c = c;
	h->min_ts_us = o.min_ts_us;
	h->max_ts_us = max_future_us < 0 ? INT64_MAX
	             : (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000 + max_future_us;
	pthread_mutex_init(&h->mu, NULL);
}

bool iot__hist_admit(struct iot__hist *h, const iot_point *p, const char *where, int column)
{
	char why[192], a[48], b[48];
	iot_format_timestamp(p->ts_us, a, sizeof a);
	if (p->ts_us < h->min_ts_us) {
		iot_format_timestamp(h->min_ts_us, b, sizeof b);
		snprintf(why, sizeof why, "timestamp %s is before %s", a, b);
	} else if (p->ts_us > h->max_ts_us) {
		iot_format_timestamp(h->max_ts_us, b, sizeof b);
		snprintf(why, sizeof why, "timestamp %s is after %s (now + max_future)", a, b);
	} else if (p->type == IOT_VAL_NUMBER && fabs(p->num) > IOT_REC_NUMBER_MAX) {
		snprintf(why, sizeof why, "number %g is out of range (+-1e300)", p->num);
	} else {
		return true;
	}
	iot__hist_reject(h, where, column, why);
	return false;
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
