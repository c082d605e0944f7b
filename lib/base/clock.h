/* clock.h — the two clocks: monotonic for timeouts, wall clock for data. */
#ifndef IOT_CLOCK_H
#define IOT_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds on the monotonic clock: for deadlines and durations. */
static inline long long iot_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The time ms milliseconds from now on clock (CLOCK_MONOTONIC for a
 * condition variable set to it, else CLOCK_REALTIME): what
 * pthread_cond_timedwait wants. */
static inline struct timespec iot_clock_in(clockid_t clock, long ms)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

/* Microseconds since the Unix epoch: arrival times, last_seen. */
static inline int64_t iot_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#endif
