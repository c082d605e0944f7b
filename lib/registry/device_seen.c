/* device_seen.c — a device seen now, or gone (device_seen.h). */
#include "registry/device_seen.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "auth/auth.h"
#include "base/clock.h"

static int one_device(iot_db *db, const char *sql, int64_t id, iot_error *err)
{
	char idtext[24];
	snprintf(idtext, sizeof idtext, "%" PRId64, id);
	const char *params[1] = { idtext };
	PGresult *res = iot_db_exec(db, sql, 1, params, err);
	if (!res)
		return -1;
	int rc = 0;
	if (PQntuples(res) == 0)
		rc = iot_error_set(err, IOT_NOT_FOUND, "unknown device %" PRId64, id);
	PQclear(res);
	return rc;
}

int iot_device_seen(iot_db *db, iot_cache *cache, int64_t id, iot_error *err)
{
	int64_t now = iot_now_us();
	if (one_device(db, "UPDATE devices SET last_seen = greatest(last_seen, now()) WHERE id = $1 RETURNING id",
	               id, err) < 0)
		return -1;
	iot_error e;
	if (cache && iot_auth_cache_bind(db, cache, &e) == 0)
		iot_cache_device_seen(cache, &id, 1, now);
	return 0;
}

int iot_device_offline(iot_db *db, int64_t id, iot_error *err)
{
	return one_device(db, "UPDATE devices SET offline_at = now() WHERE id = $1 RETURNING id", id, err);
}
