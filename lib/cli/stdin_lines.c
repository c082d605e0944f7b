/* stdin_lines.c — one row per line of standard input. */
#include "cli/stdin_lines.h"

#include <errno.h>
#include <string.h>

#include "base/line_reader.h"
#include "cli/cli.h"

/* Its row, "line" first, or NULL with err set when the run must stop;
 * *verdict 0 accepted, 1 rejected. */
static json_t *answer(const iot_stdin_lines *h, long lineno, enum iot_line_status st,
                      const char *s, size_t len, int *verdict, iot_error *err)
{
	json_t *members = NULL;
	if (st == IOT_LINE_TOO_LONG) {
		iot_error_set(err, IOT_REJECTED, "line longer than %zu bytes", h->max_len);
		s = NULL;
	} else if (memchr(s, '\0', len)) {
		iot_error_set(err, IOT_REJECTED, "line contains a NUL byte");
		s = NULL;
	}
	*verdict = h->line(h->arg, lineno, s, s ? len : 0, &members, err);
	if (*verdict < 0)
		return NULL;
	json_t *row = json_pack("{s:I}", "line", (json_int_t)lineno);
	if (row && members && json_object_update(row, members) == 0) {
		json_decref(members);
		return row;
	}
	json_decref(row);
	json_decref(members);
	iot_error_set(err, IOT_INTERNAL, "out of memory");
	return NULL;
}

int iot_stdin_lines_run(const iot_stdin_lines *h, enum iot_format fmt, long *rejected)
{
	iot_line_reader r;
	iot_output *out = iot_output_new(stdout, fmt, h->cols);
	int rc = 0;
	*rejected = 0;
	if (iot_line_reader_init(&r, stdin, h->max_len) < 0 || !out) {
		iot_line_reader_free(&r);
		iot_output_finish(out);
		iot_fatal("out of memory");
		return IOT_INTERNAL;
	}
	for (;;) {
		const char *s = NULL;
		size_t len = 0;
		enum iot_line_status st = iot_line_read(&r, &s, &len);
		if (st == IOT_LINE_EOF)
			break;
		if (st == IOT_LINE_ERROR) {
			iot_fatal("unable to read standard input: %s", strerror(errno ? errno : EIO));
			rc = IOT_INTERNAL;
			break;
		}
		iot_error err = { 0 };
		int verdict;
		json_t *row = answer(h, r.lineno, st, s, len, &verdict, &err);
		if (!row) {
			rc = iot_fatal_error(&err);
			break;
		}
		*rejected += verdict;
		int wr = iot_output_row(out, row);
		json_decref(row);
		if (wr < 0) {
			rc = IOT_INTERNAL;
			break;
		}
		if (verdict && h->strict)
			break;
	}
	if (h->secret)
		iot_line_reader_wipe(&r);
	iot_line_reader_free(&r);
	if (iot_output_finish(out) < 0 && rc == 0)
		rc = IOT_INTERNAL;
	return rc;
}
