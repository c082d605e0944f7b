/* log_limit.h — a bound on how many notices of one kind a program writes:
 * a device that keeps sending what is refused must not fill the journal.
 * At most `burst` notices pass in each window of `window_ms`; the rest are
 * counted, and the first notice of a later window says how many were left
 * out. Thread-safe. */
#ifndef IOT_LOG_LIMIT_H
#define IOT_LOG_LIMIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct iot_log_limit {
	pthread_mutex_t mu;
	int64_t window_ms, window_start;
	unsigned burst, passed;
	uint64_t dropped;
} iot_log_limit;

void iot_log_limit_init(iot_log_limit *l, unsigned burst, int64_t window_ms);
void iot_log_limit_destroy(iot_log_limit *l);
/* Whether a notice may be written now (now_ms: a monotonic clock). When it
 * may and notices were left out before, *dropped says how many (else 0). */
bool iot_log_limit_pass(iot_log_limit *l, int64_t now_ms, uint64_t *dropped);

#endif
