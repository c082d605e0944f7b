/* parse.h — strict parsers for text from outside (options, settings, URLs):
 * the whole string must be the thing, in range; nothing is half-accepted. */
#ifndef IOT_PARSE_H
#define IOT_PARSE_H

#include <stddef.h>

/* Whole string a decimal number in [min, max]. Returns 0 or -1. */
int iot_parse_long(const char *s, long min, long max, long *out);
/* Durations: "90", "90s", "15m", "2h", "7d", "1w" -> seconds. Returns 0 or -1. */
int iot_parse_duration(const char *s, long *seconds);
/* The same with the unit required ("7d", never "7"): for a duration where
 * a bare number taken as seconds would do harm (how much data to keep). */
int iot_parse_duration_unit(const char *s, long *seconds);
/* "12" -> 12; 0 when s is not a plain positive decimal below 2^31. */
long long iot_parse_id(const char *s);
/* The other way: v in decimal at buf, NUL-terminated (buf holds at least
 * IOT_INT_TEXT_MAX bytes); returns its length. What snprintf's "%lld"
 * writes, for the paths that format a number for every point or request
 * (snprintf costs some 800 instructions a call). */
#define IOT_INT_TEXT_MAX 21
size_t iot_int_text(long long v, char *buf);

#endif
