/* stdin_lines.h — commands that answer each line of standard input with one
 * row on stdout (iot-device add -, key check, token check): reading with a
 * bound, line numbers, output, counting and stopping, written once. */
#ifndef IOT_STDIN_LINES_H
#define IOT_STDIN_LINES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"
#include "cli/output.h"

typedef struct iot_stdin_lines {
	size_t max_len;           /* a longer line is not read, only rejected */
	bool strict;              /* stop after the first rejected line */
	bool secret;              /* the lines hold secrets: wipe what was read */
	const char *const *cols;  /* the columns of table and CSV output, "line" first */
	/* Answer line lineno: s, len bytes without NUL (possibly empty); or s
	 * NULL when the line cannot be taken, err saying why (IOT_REJECTED
	 * "line longer than N bytes", "line contains a NUL byte"). Return 0
	 * (accepted) or 1 (rejected) with *row: the members shown after "line"
	 * (handed over); or -1 with err set, which ends the run as fatal. */
	int (*line)(void *arg, long lineno, const char *s, size_t len, json_t **row, iot_error *err);
	void *arg;
} iot_stdin_lines;

/* Read standard input to its end (as data comes: a pipe left open gets each
 * answer at once), one row per line on stdout in fmt. Returns 0, or
 * IOT_INTERNAL when reading (said on stderr) or writing failed, or a fatal
 * line's status (said on stderr). *rejected: how many lines were rejected. */
int iot_stdin_lines_run(const iot_stdin_lines *h, enum iot_format fmt, long *rejected);

#endif
