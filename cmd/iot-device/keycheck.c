/* keycheck.c — iot-device key check: API keys on stdin, one per line; one
 * result per line, through the same layers every program uses (in-process
 * cache, Redis, PostgreSQL). Left running on a pipe, it shows revocations
 * reaching a live process. Keys are never echoed, and a check does not
 * count as a use of the key. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "cli/cli.h"
#include "base/field_check.h"
#include "iot-device.h"

static const char *const check_cols[] = { "line", "valid", "device_id", "user_id", "status", "source", "error", NULL };

int dev_key_check(iot_registry *id, const struct dev_opts *o)
{
	iot_error err = { 0 };
	iot_auth *auth = iot_auth_new(id->cfg, id->db, id->cache, &err);
	iot_output *out = iot_output_new(stdout, o->format, check_cols);
	char buf[256];
	long lineno = 0, refused = 0;
	int rc = 0;
	if (!auth || !out) {
		iot_output_finish(out);
		iot_auth_free(auth);
		return iot_fatal_error(&err);
	}
	for (;;) {
		size_t len = 0;
		int r = iot_read_line(stdin, buf, sizeof buf, &len);
		if (r == 0)
			break;
		if (r == -1) {
			iot_fatal("unable to read standard input: %s", strerror(errno ? errno : EIO));
			rc = IOT_INTERNAL;
			break;
		}
		lineno++;
		iot_device_ref ref;
		json_t *row;
		/* A check, not a use: last_used and usage_count stay as they are. */
		if (r > 0 && iot_auth_device_key_check(auth, buf, &ref, &err) == 0) {
			row = json_pack("{s:I,s:b,s:I,s:I,s:s,s:s}", "line", (json_int_t)lineno, "valid", 1,
			                "device_id", (json_int_t)ref.id, "user_id", (json_int_t)ref.user_id,
			                "status", iot_device_status_name(ref.status),
			                "source", iot_auth_last_source(auth));
		} else {
			if (r < 0)
				iot_error_set(&err, IOT_DENIED, "invalid API key");
			if (err.status != IOT_DENIED) {
				dev_cache_warning(id->cache);
				rc = iot_fatal_error(&err);
				break;
			}
			refused++;
			row = json_pack("{s:I,s:b,s:s}", "line", (json_int_t)lineno, "valid", 0,
			                "error", err.msg);
		}
		dev_cache_warning(id->cache);
		int wr = iot_output_row(out, row);
		json_decref(row);
		if (wr < 0) {
			rc = IOT_INTERNAL;
			break;
		}
	}
	memset(buf, 0, sizeof buf);
	iot_auth_free(auth);
	if (iot_output_finish(out) < 0 && rc == 0)
		rc = IOT_INTERNAL;
	if (rc == 0 && refused)
		rc = IOT_DENIED;
	return rc;
}
