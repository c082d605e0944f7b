/* bulk.c — iot-device add -: devices from NDJSON on stdin. Each line is
 * added on its own (one statement: device and first key together), so a bad
 * line changes nothing and the others go on; one result line per input line. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "base/field_check.h"
#include "iot-device.h"
#include "base/json_util.h"

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

static int report(iot_output *out, long lineno, json_t *res, const iot_error *err)
{
	json_t *row = res ? res : json_object();
	json_t *line = json_pack("{s:I}", "line", (json_int_t)lineno);
	json_object_update(line, row);
	if (!res) {
		json_object_set_new(line, "error", json_string(err->msg));
		iot_warn("stdin:%ld: %s", lineno, err->msg);
	}
	int rc = iot_output_row(out, line);
	json_decref(line);
	json_decref(row);
	return rc;
}

static const char *read_problem(int r)
{
	switch (r) {
	case -2: return "line longer than 65536 bytes";
	case -3: return "line contains a NUL byte";
	default: return "read error";
	}
}

int dev_bulk_add(iot_registry *id, const struct dev_opts *o)
{
	char *buf = malloc(IOT_LINE_MAX + 1);
	iot_output *out = iot_output_new(stdout, o->format, bulk_cols);
	long lineno = 0, rejected = 0;
	int rc = 0;
	if (!buf || !out) {
		free(buf);
		iot_output_finish(out);
		iot_fatal("out of memory");
		return IOT_INTERNAL;
	}
	for (;;) {
		size_t len = 0;
		iot_error err = { 0 };
		int r = iot_read_line(stdin, buf, IOT_LINE_MAX + 1, &len);
		if (r == 0)
			break;
		if (r == -1) {
			iot_fatal("unable to read stdin");
			rc = IOT_INTERNAL;
			break;
		}
		lineno++;
		json_t *res = NULL;
		if (r < 0)
			iot_error_set(&err, IOT_REJECTED, "%s", read_problem(r));
		else if (len == 0)
			iot_error_set(&err, IOT_REJECTED, "empty line");
		else
			res = add_line(id, o, buf, len, &err);
		dev_cache_warning(id->cache);
		if (!res && !line_error(err.status)) {
			rc = iot_fatal_error(&err);
			break;
		}
		if (!res)
			rejected++;
		if (report(out, lineno, res, &err) < 0) {
			rc = IOT_INTERNAL;
			break;
		}
		if (!res && o->strict)
			break;
	}
	if (iot_output_finish(out) < 0 && rc == 0)
		rc = IOT_INTERNAL;
	free(buf);
	if (rc == 0 && rejected)
		rc = IOT_REJECTED;
	return rc;
}
