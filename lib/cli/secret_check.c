/* secret_check.c — secrets on standard input, one a line, one row each. */
#include "cli/secret_check.h"

#include <errno.h>
#include <string.h>

#include "base/line_reader.h"
#include "cli/cli.h"

/* No key or token comes near this; a longer line is refused unread. */
#define SECRET_LINE_MAX 255

/* The row for one line, or NULL with err set when the run must stop. */
static json_t *check_line(const iot_secret_checker *c, long lineno, enum iot_line_status st,
                          const char *line, size_t len, iot_error *err)
{
	json_t *found = NULL;
	if (st == IOT_LINE_TOO_LONG || memchr(line, '\0', len))
		iot_error_set(err, IOT_DENIED, "%s", c->malformed);
	else if (c->check(c->arg, line, &found, err) == 0)
		err->status = IOT_OK;
	if (!found && err->status == IOT_OK)
		iot_error_set(err, IOT_INTERNAL, "out of memory");
	if (c->after_line)
		c->after_line(c->arg);
	json_t *row = NULL;
	if (found) {
		row = json_pack("{s:I,s:b}", "line", (json_int_t)lineno, "valid", 1);
		if (row)
			json_object_update(row, found);
		json_decref(found);
	} else if (err->status == IOT_DENIED) {
		row = json_pack("{s:I,s:b,s:s}", "line", (json_int_t)lineno, "valid", 0, "error", err->msg);
	} else {
		return NULL;
	}
	if (!row)
		iot_error_set(err, IOT_INTERNAL, "out of memory");
	return row; /* err->status says whether it is a refusal */
}

int iot_check_secrets(enum iot_format fmt, const iot_secret_checker *c)
{
	iot_line_reader r;
	iot_output *out = iot_output_new(stdout, fmt, c->cols);
	long refused = 0;
	int rc = 0;
	if (iot_line_reader_init(&r, stdin, SECRET_LINE_MAX) < 0 || !out) {
		iot_line_reader_free(&r);
		iot_output_finish(out);
		iot_fatal("out of memory");
		return IOT_INTERNAL;
	}
	for (;;) {
		const char *line = NULL;
		size_t len = 0;
		enum iot_line_status st = iot_line_read(&r, &line, &len);
		if (st == IOT_LINE_EOF)
			break;
		if (st == IOT_LINE_ERROR) {
			iot_fatal("unable to read standard input: %s", strerror(errno ? errno : EIO));
			rc = IOT_INTERNAL;
			break;
		}
		iot_error err = { 0 };
		json_t *row = check_line(c, r.lineno, st, line, len, &err);
		if (!row) {
			rc = iot_fatal_error(&err);
			break;
		}
		if (err.status == IOT_DENIED)
			refused++;
		int wr = iot_output_row(out, row);
		json_decref(row);
		if (wr < 0) {
			rc = IOT_INTERNAL;
			break;
		}
	}
	iot_line_reader_wipe(&r);
	iot_line_reader_free(&r);
	if (iot_output_finish(out) < 0 && rc == 0)
		rc = IOT_INTERNAL;
	return rc == 0 && refused ? IOT_DENIED : rc;
}
