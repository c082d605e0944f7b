/* field_check.h — checks for text that comes from outside (argv, NDJSON):
 * valid UTF-8, no control characters, length limits in characters (as the
 * schema's CHECKs count them), and a bounded line reader for NDJSON on stdin. */
#ifndef IOT_FIELD_CHECK_H
#define IOT_FIELD_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "base/error.h"

/* Longest NDJSON line the identity tools accept. */
#define IOT_LINE_MAX 65536

/* Well-formed UTF-8: no overlongs, no surrogates, nothing above U+10FFFF. */
bool iot_utf8_valid(const char *s, size_t len);
/* Every argument valid UTF-8; else IOT_USAGE "argument N: invalid UTF-8". */
int iot_args_utf8_check(int argc, char **argv, iot_error *err);
/* Number of code points in valid UTF-8. */
size_t iot_utf8_length(const char *s, size_t len);

/* Check one field: valid UTF-8, no control characters (unless allow_ctrl,
 * which still refuses NUL), min..max characters. On failure err says which
 * field and why (status IOT_USAGE), without echoing the value. */
int iot_field_check(const char *field, const char *s, size_t min, size_t max,
                    bool allow_ctrl, iot_error *err);

/* Read one line (without its newline) into buf of cap bytes, NUL-terminated.
 * Returns 1 for a line, 0 at EOF, -1 on a read error, -2 when the line was
 * longer than cap-1 bytes (the rest of it is consumed and dropped), -3 when
 * it contained a NUL byte. *len is the line's length when 1 is returned. */
int iot_read_line(FILE *f, char *buf, size_t cap, size_t *len);

#endif
