/* keycheck.c — iot-device key check: API keys on stdin, one per line; one
 * result per line, through the same layers every program uses (in-process
 * cache, Redis, PostgreSQL). Left running on a pipe, it shows revocations
 * reaching a live process. Keys are never echoed (cli/secret_check.h), and
 * a check does not count as a use of the key. */
#include "auth/auth.h"
#include "cli/cli.h"
#include "cli/secret_check.h"
#include "iot-device.h"

static const char *const check_cols[] = { "line", "valid", "device_id", "user_id", "status", "source", "error", NULL };

struct key_check {
	iot_auth *auth;
	iot_cache *cache;
};

static int check_one(void *arg, const char *key, json_t **row, iot_error *err)
{
	struct key_check *k = arg;
	iot_device_ref ref;
	/* A check, not a use: last_used and usage_count stay as they are. */
	if (iot_auth_device_key_check(k->auth, key, &ref, err) < 0)
		return -1;
	*row = json_pack("{s:I,s:I,s:s,s:s}", "device_id", (json_int_t)ref.id,
	                 "user_id", (json_int_t)ref.user_id, "status", iot_device_status_name(ref.status),
	                 "source", iot_auth_last_source(k->auth));
	return 0;
}

static void after_line(void *arg)
{
	dev_cache_warning(((struct key_check *)arg)->cache);
}

int dev_key_check(iot_registry *id, const struct dev_opts *o)
{
	iot_error err = { 0 };
	struct key_check k = { iot_auth_new(id->cfg, id->db, id->cache, &err), id->cache };
	if (!k.auth)
		return iot_fatal_error(&err);
	iot_secret_checker checker = { .check = check_one, .after_line = after_line, .arg = &k,
	                               .cols = check_cols, .malformed = "invalid API key" };
	int rc = iot_check_secrets(o->format, &checker);
	iot_auth_free(k.auth);
	return rc;
}
