/* record_int.h — what the record decoder (record.c) and its text helpers
 * (record_text.c) share. Not part of the public API. */
#ifndef IOT_RECORD_INT_H
#define IOT_RECORD_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define IOT_SHOW_MAX 64 /* bytes of an input string shown in a message */

/* A piece of input made fit for a one-line message. */
struct iot_shown {
	char s[IOT_SHOW_MAX * 4 + 8];
};

/* s[0..len) as printable ASCII: at most IOT_SHOW_MAX bytes of it (then
 * "..."), other bytes as \xNN; with quoted, '"' and '\' are escaped too, for
 * text shown between double quotes. Returns out->s. */
const char *iot_show(struct iot_shown *out, const char *s, size_t len, bool quoted);

/* Rewrite a parse failure of iot_json_parse (jansson's words) in err->msg
 * into a precise, printable line that quotes no string content. */
void iot_explain_json_error(iot_error *err);

/* v as compact JSON text into buf[0..cap) (no NUL). Returns the full length,
 * which may exceed cap: then buf holds only part of it. Object members keep
 * their input order; reals take their shortest exact form. */
size_t iot_json_compact(json_t *v, char *buf, size_t cap);

#endif
