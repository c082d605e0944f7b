/* test_metrics.c — lib/base/metrics.c's histograms read while they are
 * written: one thread observes as fast as it can, another scrapes, and
 * every scrape must be a valid histogram (cumulative buckets never above
 * +Inf, which is _count). Built by the Makefile (build/unit/test_metrics,
 * ASan + UBSan), run by tests/monitoring.bats. Prints one line per failure
 * and "N passed, N failed". */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/metrics.h"

#define SCRAPES 20000

static const uint64_t bounds[] = { 1, 10, 100 };
static iot_histogram h = { "t_seconds", "test", bounds, 3, 1.0, { 0 }, 0, 0 };
static atomic_bool stop;

static void *observe(void *arg)
{
	(void)arg;
	for (uint64_t i = 0; !atomic_load_explicit(&stop, memory_order_relaxed); i++)
		iot_histogram_observe(&h, i % 3 ? 5 : 50);
	return NULL;
}

/* 0 when the bucket lines never fall, up to and including +Inf. */
static int check_scrape(char *text, char *why, size_t whylen)
{
	unsigned long long prev = 0, v;
	char le[32];
	int nb = 0;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		if (sscanf(line, "t_seconds_bucket{le=\"%31[^\"]\"} %llu", le, &v) != 2)
			continue;
		if (v < prev) {
			snprintf(why, whylen, "bucket le=%s %llu below the one before, %llu", le, v, prev);
			return -1;
		}
		prev = v;
		nb++;
	}
	if (nb != 4) {
		snprintf(why, whylen, "%d bucket lines", nb);
		return -1;
	}
	return 0;
}

int main(void)
{
	int passed = 0, failed = 0;
	pthread_t t;
	if (pthread_create(&t, NULL, observe, NULL) != 0)
		return 2;
	char why[128] = "", first[128] = "";
	for (int i = 0; i < SCRAPES; i++) {
		char *text = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&text, &len);
		if (!f)
			return 2;
		iot_histogram_write(f, &h);
		fclose(f);
		if (check_scrape(text, why, sizeof why) == 0) {
			passed++;
		} else {
			if (!failed)
				snprintf(first, sizeof first, "%s", why);
			failed++;
		}
		free(text);
	}
	atomic_store(&stop, true);
	pthread_join(t, NULL);
	if (failed)
		printf("FAIL %d of %d scrapes during observations, the first: %s\n", failed, SCRAPES, first);
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
