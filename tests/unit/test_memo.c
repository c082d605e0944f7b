/* test_memo.c — lib/auth/memo.c's tables hold a fleet, round after round.
 * A server looks every key up at each request and puts it back after a miss;
 * once a fleet that fits has been seen, a round must miss nothing. With one
 * set per key, a set of 16 ways overflowed in about one fleet of 10,000 in
 * 33, and least-recently-used replacement then missed every key of that set
 * on every round. Random digests, many fleets; dense and sparse device ids.
 * Built by the Makefile (build/unit/test_memo, ASan + UBSan), run by
 * tests/identity_cache.bats. Prints one line per failure and
 * "N passed, N failed". */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/memo.h"

#define FLEETS 40
#define FLEET 24000 /* 73% of the 32768 ways */

static int passed, failed;

static void check(int ok, const char *what, long a, long b)
{
	if (ok) {
		passed++;
		return;
	}
	failed++;
	printf("FAIL %s (%ld, %ld)\n", what, a, b);
}

/* One round as a server makes it: look up, put back what missed. */
static long key_round(struct memo *m, unsigned char (*d)[IOT_DIGEST_LEN], long n)
{
	long misses = 0;
	for (long i = 0; i < n; i++) {
		if (iot__memo_key(m, d[i], 1, 1000000, 0))
			continue;
		misses++;
		struct key_entry e = { .key_id = i + 1, .device_id = i + 1, .cached_ms = 1 };
		memcpy(e.digest, d[i], IOT_DIGEST_LEN);
		iot__memo_key_put(m, &e);
	}
	return misses;
}

static long dev_round(struct memo *m, const int64_t *id, long n)
{
	long misses = 0;
	for (long i = 0; i < n; i++) {
		if (iot__memo_dev(m, id[i], 1, 1000000))
			continue;
		misses++;
		struct dev_entry e = { .id = id[i], .user_id = 7, .cached_ms = 1 };
		iot__memo_dev_put(m, &e);
	}
	return misses;
}

static void keys(unsigned char (*d)[IOT_DIGEST_LEN])
{
	long worst = 0;
	for (int f = 0; f < FLEETS; f++) {
		struct memo m;
		if (iot__memo_init(&m) < 0)
			abort();
		randombytes_buf(d, (size_t)FLEET * IOT_DIGEST_LEN);
		long first = key_round(&m, d, FLEET), again = key_round(&m, d, FLEET) + key_round(&m, d, FLEET);
		check(first == FLEET, "a new fleet's first round misses every key", first, FLEET);
		if (again > worst)
			worst = again;
		/* One device's entries go, and only they. */
		iot__memo_forget(&m, 5);
		check(!iot__memo_key(&m, d[4], 1, 1000000, 0) && iot__memo_key(&m, d[5], 1, 1000000, 0),
		      "forgetting device 5 drops its key only", 4, 5);
		iot__memo_free(&m);
	}
	check(worst == 0, "keys missed in the later rounds of the worst fleet", worst, 0);
}

static void devices(void)
{
	int64_t *id = malloc(sizeof *id * FLEET);
	if (!id)
		abort();
	long worst = 0;
	for (int f = 0; f < FLEETS; f++) {
		struct memo m;
		if (iot__memo_init(&m) < 0)
			abort();
		/* Dense ids from a random start, every other fleet sparse. */
		int64_t base = 1 + randombytes_uniform(1000000);
		for (long i = 0; i < FLEET; i++)
			id[i] = f % 2 ? base + i : 1 + (int64_t)randombytes_uniform(0x7fffffff) * 4096 + i;
		long first = dev_round(&m, id, FLEET), again = dev_round(&m, id, FLEET) + dev_round(&m, id, FLEET);
		check(first == FLEET, "a new fleet's first round misses every device", first, FLEET);
		if (again > worst)
			worst = again;
		iot__memo_forget(&m, id[3]);
		check(!iot__memo_dev(&m, id[3], 1, 1000000) && iot__memo_dev(&m, id[4], 1, 1000000),
		      "forgetting a device drops it only", 3, 4);
		iot__memo_free(&m);
	}
	check(worst == 0, "devices missed in the later rounds of the worst fleet", worst, 0);
	free(id);
}

/* More keys than ways: the table stays usable, and what was used last stays. */
static void overflow(unsigned char (*d)[IOT_DIGEST_LEN])
{
	struct memo m;
	if (iot__memo_init(&m) < 0)
		abort();
	long n = 40000;
	randombytes_buf(d, (size_t)n * IOT_DIGEST_LEN);
	key_round(&m, d, n);
	long lost = 0;
	for (long i = n - 4000; i < n; i++)
		lost += !iot__memo_key(&m, d[i], 1, 1000000, 0);
	check(lost == 0, "of the 4000 keys put last, lost", lost, 0);
	/* A stale entry (past its age) is not served and its way is reused. */
	check(!iot__memo_key(&m, d[n - 1], 2000000, 1000000, 0), "an entry past max_age is not served", 0, 0);
	iot__memo_free(&m);
}

int main(void)
{
	if (sodium_init() < 0)
		return 2;
	unsigned char (*d)[IOT_DIGEST_LEN] = malloc((size_t)40000 * IOT_DIGEST_LEN);
	if (!d)
		return 2;
	keys(d);
	devices();
	overflow(d);
	free(d);
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
