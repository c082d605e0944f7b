/* bulk.c — iot-device add -: devices from NDJSON on stdin. Each line is
 * added on its own (one statement: device and first key together), so a bad
 * line changes nothing and the others go on; one result line per input line. */
#include "cli/cli.h"
#include "cli/stdin_lines.h"
#include "iot-device.h"
#include "base/json_util.h"

/* Longest NDJSON line accepted: a device's fields are far below it. */
#define LINE_MAX_BYTES 65536

static const char *const bulk_cols[] = { "line", "id", "name", "owner", "api_key", "error", NULL };

/* Lines that fail for a reason of their own are reported and skipped;
 * a database that went away stops the run. */
static bool line_error(enum iot_status s)
{
	return s == IOT_REJECTED || s == IOT_USAGE || s == IOT_NOT_FOUND;
}

static json_t *add_line(iot_registry *id, const struct dev_opts *o, const char *buf, size_t len,
                        iot_error *err)
{
	json_t *obj = iot_json_parse(buf, len, IOT_JSON_MAX_DEPTH, err), *out = NULL;
	if (!obj)
		return NULL;
	iot_device_fields f = { .owner = o->f.owner, .type = o->type, .status = o->f.status,
	                        .description = o->f.description, .location = o->f.location,
	                        .firmware = o->f.firmware, .hardware = o->f.hardware };
	if (iot_device_fields_from_json(obj, &f, err) == 0)
		iot_device_add(id, &f, &out, err);
	json_decref(obj);
	return out;
}

struct bulk {
	iot_registry *id;
	const struct dev_opts *o;
};

static int bulk_line(void *arg, long lineno, const char *s, size_t len, json_t **row, iot_error *err)
{
	const struct bulk *b = arg;
	json_t *res = NULL;
	if (s && len == 0)
		iot_error_set(err, IOT_REJECTED, "empty line");
	else if (s)
		res = add_line(b->id, b->o, s, len, err);
	dev_cache_warning(b->id->cache);
	if (res) {
		*row = res;
		return 0;
	}
	if (!line_error(err->status))
		return -1;
	iot_warn("stdin:%ld: %s", lineno, err->msg);
	*row = json_pack("{s:s}", "error", err->msg);
	return 1;
}

int dev_bulk_add(iot_registry *id, const struct dev_opts *o)
{
	struct bulk b = { id, o };
	iot_stdin_lines h = { .max_len = LINE_MAX_BYTES, .strict = o->strict, .cols = bulk_cols,
	                      .line = bulk_line, .arg = &b };
	long rejected;
	int rc = iot_stdin_lines_run(&h, o->format, &rejected);
	return rc == 0 && rejected ? IOT_REJECTED : rc;
}
