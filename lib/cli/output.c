/* output.c — NDJSON, CSV and table rendering of flat JSON objects. */
#include "cli/output.h"
#include "base/json_util.h"
#include "cli/cli.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct iot_output {
	FILE *f;
	enum iot_format fmt;
	const char *const *cols;
	size_t ncols;
	bool header_done;
	json_t *rows; /* table: kept until finish */
	int err;
};

/* A write failed: remembered, and its reason kept when it was stdout. */
static void write_failed(iot_output *o)
{
	if (o->f == stdout)
		iot_stdout_failed();
	o->err = -1;
}

int iot_format_parse(const char *s, enum iot_format *out)
{
	if (!strcmp(s, "ndjson") || !strcmp(s, "json"))
		*out = IOT_FMT_NDJSON;
	else if (!strcmp(s, "table"))
		*out = IOT_FMT_TABLE;
	else if (!strcmp(s, "csv"))
		*out = IOT_FMT_CSV;
	else
		return -1;
	return 0;
}

iot_output *iot_output_new(FILE *f, enum iot_format fmt, const char *const *columns)
{
	iot_output *o = calloc(1, sizeof *o);
	if (!o)
		return NULL;
	o->f = f;
	o->fmt = fmt;
	o->cols = columns;
	while (columns && columns[o->ncols])
		o->ncols++;
	if (fmt == IOT_FMT_TABLE)
		o->rows = json_array();
	return o;
}

/* A cell as text: strings bare, null empty, everything else as compact JSON. */
static char *cell(const json_t *v)
{
	if (!v || json_is_null(v))
		return strdup("");
	if (json_is_string(v))
		return strdup(json_string_value(v));
	return iot_json_text(v, NULL);
}

/* A table cell for a terminal: control characters (a text value's
 * newline, an escape sequence) written as \n, \r, \t or \xNN, so that
 * every row stays one line and nothing reaches the terminal as a command.
 * A backslash is doubled, so the text can be told apart. */
static char *table_cell(const json_t *v)
{
	char *s = cell(v);
	if (!s)
		return NULL;
	size_t extra = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		extra += *p < 0x20 || *p == 0x7f ? 3 : *p == '\\';
	if (!extra)
		return s;
	char *t = malloc(strlen(s) + extra + 1), *q = t;
	for (const unsigned char *p = (const unsigned char *)s; t && *p; p++) {
		if (*p == '\n' || *p == '\r' || *p == '\t' || *p == '\\') {
			*q++ = '\\';
			*q++ = *p == '\n' ? 'n' : *p == '\r' ? 'r' : *p == '\t' ? 't' : '\\';
		} else if (*p < 0x20 || *p == 0x7f) {
			q += sprintf(q, "\\x%02x", *p);
		} else {
			*q++ = (char)*p;
		}
	}
	if (t)
		*q = '\0';
	free(s);
	return t;
}

static void csv_field(FILE *f, const char *s)
{
	if (strpbrk(s, ",\"\n\r") == NULL) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

int iot_output_row(iot_output *o, json_t *obj)
{
	switch (o->fmt) {
	case IOT_FMT_NDJSON:
		if (iot_json_print(o->f, obj) < 0)
			write_failed(o);
		break;
	case IOT_FMT_TABLE:
		json_array_append(o->rows, obj);
		break;
	case IOT_FMT_CSV:
		if (!o->header_done) {
			for (size_t i = 0; i < o->ncols; i++) {
				if (i)
					fputc(',', o->f);
				csv_field(o->f, o->cols[i]);
			}
			fputc('\n', o->f);
			o->header_done = true;
		}
		for (size_t i = 0; i < o->ncols; i++) {
			char *c = cell(json_object_get(obj, o->cols[i]));
			if (i)
				fputc(',', o->f);
			csv_field(o->f, c ? c : "");
			free(c);
		}
		fputc('\n', o->f);
		if (fflush(o->f) == EOF)
			write_failed(o);
		break;
	}
	return o->err;
}

static size_t display_width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			w++;
	return w;
}

static void print_table(iot_output *o)
{
	size_t n = json_array_size(o->rows);
	size_t *width = calloc(o->ncols ? o->ncols : 1, sizeof *width);
	if (!width)
		return;
	for (size_t c = 0; c < o->ncols; c++)
		width[c] = display_width(o->cols[c]);
	for (size_t r = 0; r < n; r++)
		for (size_t c = 0; c < o->ncols; c++) {
			char *s = table_cell(json_object_get(json_array_get(o->rows, r), o->cols[c]));
			if (s && display_width(s) > width[c])
				width[c] = display_width(s);
			free(s);
		}
	for (size_t r = 0; r <= n; r++) {
		for (size_t c = 0; c < o->ncols; c++) {
			char *s = r == 0 ? strdup(o->cols[c])
			                 : table_cell(json_object_get(json_array_get(o->rows, r - 1), o->cols[c]));
			const char *t = s ? s : "";
			bool last = c + 1 == o->ncols;
			fputs(t, o->f);
			if (!last)
				for (size_t k = display_width(t); k < width[c] + 2; k++)
					fputc(' ', o->f);
			free(s);
		}
		fputc('\n', o->f);
	}
	free(width);
}

int iot_output_finish(iot_output *o)
{
	if (!o)
		return 0;
	if (o->fmt == IOT_FMT_TABLE)
		print_table(o);
	if (fflush(o->f) == EOF || ferror(o->f))
		write_failed(o);
	int rc = o->err;
	json_decref(o->rows);
	free(o);
	return rc;
}

int iot_output_json(FILE *f, enum iot_format fmt, const char *const *columns, json_t *v)
{
	iot_output *out = iot_output_new(f, fmt, columns);
	if (!out)
		return -1;
	if (json_is_array(v)) {
		size_t i;
		json_t *row;
		json_array_foreach(v, i, row)
			iot_output_row(out, row);
	} else if (v) {
		iot_output_row(out, v);
	}
	return iot_output_finish(out);
}
