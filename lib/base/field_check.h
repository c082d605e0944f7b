/* field_check.h — checks for text that comes from outside (argv, NDJSON):
 * valid UTF-8, no control characters, length limits in characters (as the
 * schema's CHECKs count them). Lines are read with base/line_reader.h. */
#ifndef IOT_FIELD_CHECK_H
#define IOT_FIELD_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

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

#endif
