/* history_int.h — telemetry imports share one way to hand points to the
 * batch writer and count and report what became of them. */
#ifndef IOT_HISTORY_INT_H
#define IOT_HISTORY_INT_H

#include <pthread.h>

#include "import/import.h"

struct iot__hist {
	iot_writer *w;
	iot_reject_cb rej;
	void *ctx;
	iot_history_counts *c;
	int64_t min_ts_us, max_ts_us; /* the times iot-ingest accepts (max: now + max_future at the start) */
	pthread_mutex_t mu;   /* outcomes arrive on the writer's threads */
};

void iot__hist_init(struct iot__hist *h, iot_writer *w, iot_reject_cb rej, void *ctx, iot_history_counts *c,
                    int64_t max_future_us);
/* Whether p keeps what the decoder asks of every point (its time within
 * [2000-01-01, now + max_future], a number within +-1e300); when not, it
 * is rejected (counted and reported at where, column) and false returned. */
bool iot__hist_admit(struct iot__hist *h, const iot_point *p, const char *where, int column);
/* Count and report one point (or cell, or row) refused before the writer. */
void iot__hist_reject(struct iot__hist *h, const char *where, int column, const char *why);
/* Hand n points to the writer (copied); outcomes are counted as they commit. */
int iot__hist_submit(struct iot__hist *h, const iot_point *pts, size_t n, iot_error *err);
/* Wait for every submitted point's outcome; 0 or -1 with err. */
int iot__hist_finish(struct iot__hist *h, iot_error *err);

#endif
