/* bulk.c — iot-device add -: devices from NDJSON on stdin. Each line is
 * added on its own (one statement: device and first key together), so a bad
 * line changes nothing and the others go on; one result line per input line. */
#include <errno.h>
#include <string.h>

#include "cli/cli.h"
#include "iot-device.h"
#include "base/json_util.h"
#include "base/line_reader.h"

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

int dev_bulk_add(iot_registry *id, const struct dev_opts *o)
{
	iot_line_reader r;
	iot_output *out = iot_output_new(stdout, o->format, bulk_cols);
	long rejected = 0;
	int rc = 0;
	if (iot_line_reader_init(&r, stdin, LINE_MAX_BYTES) < 0 || !out) {
		iot_line_reader_free(&r);
		iot_output_finish(out);
		iot_fatal("out of memory");
		return IOT_INTERNAL;
	}
	for (;;) {
		const char *buf = NULL;
		size_t len = 0;
		iot_error err = { 0 };
		enum iot_line_status st = iot_line_read(&r, &buf, &len);
		if (st == IOT_LINE_EOF)
			break;
		if (st == IOT_LINE_ERROR) {
			iot_fatal("unable to read standard input: %s", strerror(errno ? errno : EIO));
			rc = IOT_INTERNAL;
			break;
		}
		long lineno = r.lineno;
		json_t *res = NULL;
		if (st == IOT_LINE_TOO_LONG)
			iot_error_set(&err, IOT_REJECTED, "line longer than %d bytes", LINE_MAX_BYTES);
		else if (memchr(buf, '\0', len))
			iot_error_set(&err, IOT_REJECTED, "line contains a NUL byte");
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
	iot_line_reader_free(&r);
	if (rc == 0 && rejected)
		rc = IOT_REJECTED;
	return rc;
}
