/* secret_check.h — `iot-user token check`, `iot-device key check`: secrets
 * read from standard input, one a line, one result row each, the secret itself
 * never shown. The program says what one secret is worth; this reads and
 * numbers the lines, refuses what cannot be a secret, prints and counts. */
#ifndef IOT_SECRET_CHECK_H
#define IOT_SECRET_CHECK_H

#include <jansson.h>

#include "base/error.h"
#include "cli/output.h"

typedef struct iot_secret_checker {
	/* Check one secret: a line without NUL bytes, of at most 255 bytes,
	 * possibly empty. 0: valid; *row holds the columns to show after "line"
	 * and "valid" (handed over). -1: err says why; IOT_DENIED refuses this
	 * secret (err->msg becomes its "error" column), any other status ends
	 * the run as a fatal error. */
	int (*check)(void *arg, const char *secret, json_t **row, iot_error *err);
	/* After each line, and before a fatal error is shown (a cache's warning, say); or NULL. */
	void (*after_line)(void *arg);
	void *arg;
	const char *const *cols;  /* the columns of table and CSV output */
	const char *malformed;    /* the error for a line that cannot be a secret */
} iot_secret_checker;

/* Check every line of standard input as it comes (a pipe left open gets
 * each answer at once), one row each on stdout in fmt, then wipe what was
 * read. Returns the exit code: 0 when every line was valid, IOT_DENIED when
 * one was refused, IOT_INTERNAL when reading or writing failed (reading:
 * said on stderr), or a fatal check's status (said on stderr). */
int iot_check_secrets(enum iot_format fmt, const iot_secret_checker *c);

#endif
