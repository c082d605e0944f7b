/* cond.h — condition variables whose timed waits use the monotonic clock
 * (their deadlines from iot_clock_in(CLOCK_MONOTONIC, ...), clock.h). */
#ifndef IOT_COND_H
#define IOT_COND_H

#include <pthread.h>
#include <time.h>

static inline int iot_cond_init_monotonic(pthread_cond_t *cv)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int rc = pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
	return rc;
}

#endif
