/* cache_probe.c — drives lib/cache/cache.h from tests/identity_cache.bats.
 *   cache_probe ratelimit BUCKET LIMIT WINDOW N   N calls, one "allowed retry_after" line each
 *   cache_probe seen ID...                        mark online now, then print last_seen per id
 *   cache_probe ping                              "up" or "down", then any warning
 *   cache_probe devid < ids                       iot_auth_device_id per line: "ID STATUS SOURCE" or "ID error"
 *   cache_probe keys PASSES < keys                every key checked, PASSES times over: per pass
 *                                                 "pass N memory M redis R database D unknown U failed F"
 * Settings come from the environment (IOTFLOW_REDIS_URL ...); PROBE_NS, when
 * set, is the cache namespace (devid reads its own from the database). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth.h"
#include "cache/cache.h"
#include "cli/cli.h"

static int ratelimit(iot_cache *c, char **argv)
{
	int limit = atoi(argv[1]), window = atoi(argv[2]), n = atoi(argv[3]);
	for (int i = 0; i < n; i++) {
		int retry = -1;
		int rc = iot_cache_rate_limit(c, argv[0], limit, window, &retry);
		printf("%s %d\n", rc == 0 ? "allowed" : "limited", retry);
	}
	return 0;
}

static int seen(iot_cache *c, int argc, char **argv)
{
	int64_t ids[64], out[64];
	int n = argc < 64 ? argc : 64;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	for (int i = 0; i < n; i++)
		ids[i] = atoll(argv[i]);
	iot_cache_device_seen(c, ids, (size_t)n, now);
	if (iot_cache_device_last_seen(c, ids, (size_t)n, out) < 0)
		printf("unavailable\n");
	for (int i = 0; i < n; i++)
		printf("%lld %s\n", (long long)ids[i], out[i] == now ? "now" : out[i] ? "other" : "none");
	return 0;
}

static int devid(const iot_config *cfg, iot_cache *c)
{
	iot_error err;
	iot_db *db = iot_db_connect(cfg, &err);
	iot_auth *a = db ? iot_auth_new(cfg, db, c, &err) : NULL;
	char line[64];
	if (!a) {
		iot_db_close(db);
		return iot_fatal_error(&err);
	}
	while (fgets(line, sizeof line, stdin)) {
		long long id = atoll(line);
		iot_device_ref ref;
		if (iot_auth_device_id(a, id, &ref, &err) == 0)
			printf("%lld %s %s\n", id, iot_device_status_name(ref.status), iot_auth_last_source(a));
		else
			printf("%lld error %d %s\n", id, (int)err.status, err.msg);
		fflush(stdout);
	}
	iot_auth_free(a);
	iot_db_close(db);
	return 0;
}

/* A fleet's keys, round after round, as a server sees them. */
static int keys(const iot_config *cfg, iot_cache *c, int passes)
{
	iot_error err;
	iot_db *db = iot_db_connect(cfg, &err);
	iot_auth *a = db ? iot_auth_new(cfg, db, iot_cache_configured(c) ? c : NULL, &err) : NULL;
	if (!a) {
		iot_db_close(db);
		return iot_fatal_error(&err);
	}
	size_t n = 0, cap = 0;
	char **list = NULL, line[128];
	while (fgets(line, sizeof line, stdin)) {
		line[strcspn(line, "\n")] = '\0';
		if (n == cap && !(list = realloc(list, (cap = cap ? cap * 2 : 1024) * sizeof *list)))
			return 6;
		list[n++] = strdup(line);
	}
	for (int p = 1; p <= passes; p++) {
		iot_auth_stats before, after;
		iot_auth_get_stats(a, &before);
		long failed = 0;
		for (size_t i = 0; i < n; i++) {
			iot_device_ref ref;
			if (iot_auth_device_key_check(a, list[i], &ref, &err) < 0)
				failed++;
		}
		iot_auth_get_stats(a, &after);
		printf("pass %d memory %llu redis %llu database %llu unknown %llu failed %ld\n", p,
		       (unsigned long long)(after.memory - before.memory), (unsigned long long)(after.redis - before.redis),
		       (unsigned long long)(after.database - before.database),
		       (unsigned long long)(after.unknown - before.unknown), failed);
	}
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
	iot_auth_free(a);
	iot_db_close(db);
	return 0;
}

int main(int argc, char **argv)
{
	iot_cli_init("cache_probe");
	iot_error err;
	iot_config *cfg = iot_config_new(iot_progname);
	if (argc < 2 || iot_config_load(cfg, NULL, &err) < 0)
		return 2;
	iot_cache *c = iot_cache_connect(cfg, &err);
	if (!c) {
		iot_config_free(cfg);
		return iot_fatal_error(&err);
	}
	int rc = 0;
	const char *ns = getenv("PROBE_NS");
	if (ns && iot_cache_set_namespace(c, ns, &err) < 0) {
		iot_cache_free(c);
		iot_config_free(cfg);
		return iot_fatal_error(&err);
	}
	if (!strcmp(argv[1], "ratelimit") && argc == 6)
		rc = ratelimit(c, argv + 2);
	else if (!strcmp(argv[1], "seen"))
		rc = seen(c, argc - 2, argv + 2);
	else if (!strcmp(argv[1], "devid"))
		rc = devid(cfg, c);
	else if (!strcmp(argv[1], "keys") && argc == 3)
		rc = keys(cfg, c, atoi(argv[2]));
	else if (!strcmp(argv[1], "ping"))
		printf("%s\n", iot_cache_available(c) ? "up" : "down");
	else
		rc = 2;
	const char *w = iot_cache_take_warning(c);
	if (w)
		printf("warning: %s\n", w);
	iot_cache_free(c);
	iot_config_free(cfg);
	return rc;
}
