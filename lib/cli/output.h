/* output.h — records out as NDJSON (default), CSV or an aligned table. */
#ifndef IOT_OUTPUT_H
#define IOT_OUTPUT_H

#include <jansson.h>
#include <stdio.h>

enum iot_format { IOT_FMT_NDJSON, IOT_FMT_TABLE, IOT_FMT_CSV };

/* "ndjson"/"json", "table", "csv" -> format; -1 when unknown. */
int iot_format_parse(const char *s, enum iot_format *out);

typedef struct iot_output iot_output;

/* columns: NULL-terminated list of the keys shown by table/CSV (NDJSON shows
 * every key). The list must outlive the output. */
iot_output *iot_output_new(FILE *f, enum iot_format fmt, const char *const *columns);
/* Write (NDJSON, CSV) or keep (table) one object. Returns 0 or -1 on a write error. */
int iot_output_row(iot_output *o, json_t *obj);
/* Print the buffered table; free everything. Returns 0 or -1 on a write error. */
int iot_output_finish(iot_output *o);

/* Render v — one object, or an array of objects, or NULL for nothing — in
 * one go. Returns 0 or -1 on a write error. */
int iot_output_json(FILE *f, enum iot_format fmt, const char *const *columns, json_t *v);

#endif
