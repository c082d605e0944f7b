/* line_reader.h — NDJSON input with a bound on line length: a line over the
 * limit is skipped to its end and reported, never held in memory whole. */
#ifndef IOT_LINE_READER_H
#define IOT_LINE_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct iot_line_reader {
	FILE *f;
	char *buf;         /* a line that spans two reads is put together here */
	size_t max;        /* longest accepted line, without its newline */
	long lineno;       /* number of the line last returned */
	char *in;          /* read buffer */
	size_t pos, end;
	bool eof;
} iot_line_reader;

enum iot_line_status { IOT_LINE_OK, IOT_LINE_TOO_LONG, IOT_LINE_EOF, IOT_LINE_ERROR };

int iot_line_reader_init(iot_line_reader *r, FILE *f, size_t max);
void iot_line_reader_free(iot_line_reader *r);
/* Zero the buffers, for lines that held secrets; free as usual afterwards. */
void iot_line_reader_wipe(iot_line_reader *r);
/* Next line (newline and a trailing \r removed; NUL-terminated, but it may
 * hold NUL bytes: trust *len) in *line / *len, valid until the next call. TOO_LONG:
 * the line was skipped; *len is how many bytes it had. ERROR: errno says
 * why (EINTR when a signal interrupted the read). */
enum iot_line_status iot_line_read(iot_line_reader *r, const char **line, size_t *len);

#endif
