/* json_util.h — jansson helpers: bounded parsing, NDJSON output. */
#ifndef IOT_JSON_UTIL_H
#define IOT_JSON_UTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "base/error.h"

#define IOT_JSON_MAX_DEPTH 32

/* Parse one JSON text, an object or an array: rejects duplicate keys,
 * NaN/Infinity, \u0000, invalid UTF-8, nesting deeper than max_depth, and
 * numbers a double or a 64-bit integer would not hold as written: beyond
 * 64 bits, too large or (not 0 but) too close to 0 for a double, or written
 * with a fraction and no exponent and an integer part beyond +-2^53 (the
 * rules are at the top of json_util.c). On failure err says why
 * (IOT_REJECTED) with the column; err may be NULL when the reason is not
 * wanted. */
json_t *iot_json_parse(const char *buf, size_t len, int max_depth, iot_error *err);
/* The same for any JSON value: a bare number, string, true, false or null too. */
json_t *iot_json_parse_value(const char *buf, size_t len, int max_depth, iot_error *err);

/* A piece of input made fit for a one-line message. */
#define IOT_SHOW_MAX 64 /* bytes of an input string shown in a message */
struct iot_shown {
	char s[IOT_SHOW_MAX * 4 + 8];
};
/* s[0..len) as printable ASCII: at most IOT_SHOW_MAX bytes of it (then
 * "..."), other bytes as \xNN; with quoted, '"' and '\' are escaped too, for
 * text shown between double quotes. Returns out->s. */
const char *iot_show(struct iot_shown *out, const char *s, size_t len, bool quoted);
/* Deepest nesting of arrays/objects in buf (strings skipped), or -1 once
 * max is exceeded (stops scanning early). */
int iot_json_depth(const char *buf, size_t len, int max);

/* v as compact JSON text, as json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)
 * writes it (keys in their order, the same escapes), except reals: in their
 * shortest form (iot_json_real_text: 0.1, not 0.10000000000000001). Every
 * program's output goes through it. malloc'd, NUL-terminated, its length
 * in *len (len may be NULL); NULL when out of memory. */
char *iot_json_text(const json_t *v, size_t *len);
/* The same text into buf (no NUL): its whole length, which may be more than
 * cap; the text is all there only when it is not. */
size_t iot_json_compact(const json_t *v, char *buf, size_t cap);
/* s[0..n) as a JSON string, quoted and escaped as iot_json_text writes it,
 * into buf (no NUL): its whole length, which may be more than cap (as
 * iot_json_compact). For answers written without building a json_t. */
size_t iot_json_string_text(const char *s, size_t n, char *buf, size_t cap);
/* One compact object per line (iot_json_text), flushed. Returns 0 or -1 on
 * a write error. */
int iot_json_print(FILE *f, const json_t *v);

/* The shortest text that reads back as exactly v (finite), written so
 * that iot_json_parse takes it back as that double: "0.1", "7.0", "-0.0",
 * "0.00001"; beyond 2^53 always with an exponent ("1e+16",
 * "1.8014398509481984e+16"), since a number written with neither fraction
 * nor exponent is an integer and one with a fraction only may not have an
 * integer part beyond 2^53. buf holds at least 32 bytes. Returns the length. */
size_t iot_json_real_text(double v, char *buf, size_t size);

/* Look up a string member; NULL when absent or not a string. */
const char *iot_json_str(const json_t *obj, const char *key);

#endif
