/* cache_bind.c — name a cache handle for the installation its database is. */
#include "auth/auth.h"

#include <string.h>

int iot_auth_cache_bind(iot_db *db, iot_cache *cache, iot_error *err)
{
	if (!cache || !iot_cache_configured(cache) || iot_cache_namespace(cache))
		return 0;
	PGresult *res = iot_db_exec(db, "SELECT iotflow_cache_namespace()", 0, NULL, err);
	if (!res) {
		if (!strcmp(iot_db_sqlstate(db), "42883"))
			iot_error_set(err, IOT_INTERNAL, "the database has no installation id"
			              " (migration 005_installation is not applied: run iot-migrate up)");
		if (err->status != IOT_UNAVAILABLE)
			iot_cache_namespace_failed(cache, err->msg);
		return -1;
	}
	int rc = 0;
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
		rc = iot_error_set(err, IOT_INTERNAL, "the database has no installation id"
		                   " (iotflow_settings 'installation_id' is missing)");
		iot_cache_namespace_failed(cache, err->msg);
	} else {
		rc = iot_cache_set_namespace(cache, PQgetvalue(res, 0, 0), err);
	}
	PQclear(res);
	return rc;
}
