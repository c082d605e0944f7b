/* log_limit.c — see log_limit.h. */
#include "base/log_limit.h"

void iot_log_limit_init(iot_log_limit *l, unsigned burst, int64_t window_ms)
{
	pthread_mutex_init(&l->mu, NULL);
	l->window_ms = window_ms > 0 ? window_ms : 1;
	l->window_start = INT64_MIN / 2;
	l->burst = burst;
	l->passed = 0;
	l->dropped = 0;
}

void iot_log_limit_destroy(iot_log_limit *l)
{
	pthread_mutex_destroy(&l->mu);
}

bool iot_log_limit_pass(iot_log_limit *l, int64_t now_ms, uint64_t *dropped)
{
	*dropped = 0;
	pthread_mutex_lock(&l->mu);
	if (now_ms - l->window_start >= l->window_ms) {
		l->window_start = now_ms;
		l->passed = 0;
	}
	bool pass = l->passed < l->burst;
	if (pass) {
		l->passed++;
		*dropped = l->dropped;
		l->dropped = 0;
	} else {
		l->dropped++;
	}
	pthread_mutex_unlock(&l->mu);
	return pass;
}
