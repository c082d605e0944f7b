/* auth_bench.c — what one device-key check costs on each path:
 * in-process cache hit, Redis hit (one round trip), PostgreSQL.
 * Built and run by bench/auth.sh; prints numbers, asserts nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth.h"
#include "cli/cli.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* forget: 0 never, 1 drop the in-process cache before every lookup. */
static int measure(const char *label, iot_auth *a, const char *key, long n, int forget)
{
	iot_device_ref ref;
	iot_error err;
	if (iot_auth_device_key(a, key, &ref, &err) < 0) {
		fprintf(stderr, "auth_bench: %s\n", err.msg);
		return -1;
	}
	double t0 = now_s();
	for (long i = 0; i < n; i++) {
		if (forget)
			iot_auth_forget(a, 0);
		if (iot_auth_device_key(a, key, &ref, &err) < 0) {
			fprintf(stderr, "auth_bench: %s\n", err.msg);
			return -1;
		}
	}
	double per = (now_s() - t0) / (double)n;
	printf("{\"path\":\"%s\",\"lookups\":%ld,\"us_per_lookup\":%.3f,\"answered_by\":\"%s\"}\n",
	       label, n, per * 1e6, iot_auth_last_source(a));
	return 0;
}

int main(int argc, char **argv)
{
	iot_cli_init("auth_bench");
	long n = argc > 1 ? atol(argv[1]) : 100000;
	char key[128];
	if (!fgets(key, sizeof key, stdin)) {
		fprintf(stderr, "usage: auth_bench [N] < key\n");
		return 2;
	}
	key[strcspn(key, "\n")] = '\0';
	iot_error err;
	iot_config *cfg = iot_config_new(iot_progname);
	if (iot_config_load(cfg, NULL, &err) < 0)
		return iot_fatal_error(&err);
	iot_db *db = iot_db_connect(cfg, &err);
	iot_cache *cache = db ? iot_cache_connect(cfg, &err) : NULL;
	if (!db || !cache)
		return iot_fatal_error(&err);
	iot_auth *with_redis = iot_auth_new(cfg, db, cache, &err);
	iot_auth *pg_only = iot_auth_new(cfg, db, NULL, &err);
	int rc = 0;
	if (!with_redis || !pg_only ||
	    measure("memory", with_redis, key, n, 0) < 0 ||
	    measure("redis", with_redis, key, n / 20 + 1, 1) < 0 ||
	    measure("postgresql", pg_only, key, n / 50 + 1, 1) < 0)
		rc = 1;
	iot_auth_free(with_redis);
	iot_auth_free(pg_only);
	iot_cache_free(cache);
	iot_db_close(db);
	iot_config_free(cfg);
	return rc;
}
