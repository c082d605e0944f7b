/* line_reader.c — bounded line input over large reads (no per-byte calls). */
#include "base/line_reader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (256 * 1024)

int iot_line_reader_init(iot_line_reader *r, FILE *f, size_t max)
{
	memset(r, 0, sizeof *r);
	r->f = f;
	r->max = max;
	r->buf = malloc(max + 2); /* the limit, a \r, and the NUL */
	r->in = malloc(CHUNK + 1);
	return r->buf && r->in ? 0 : -1;
}

void iot_line_reader_free(iot_line_reader *r)
{
	free(r->buf);
	free(r->in);
	r->buf = r->in = NULL;
}

void iot_line_reader_wipe(iot_line_reader *r)
{
	if (r->buf)
		explicit_bzero(r->buf, r->max + 2);
	if (r->in)
		explicit_bzero(r->in, CHUNK + 1);
}

/* Refill the read buffer; 1 data, 0 end of input, -1 error. */
static int fill(iot_line_reader *r)
{
	if (r->eof)
		return 0;
	/* read(2), not fread: a pipe fed slowly (mosquitto_sub) must hand over
	 * each line as it comes, not once a whole chunk has arrived. */
	r->pos = r->end = 0;
	ssize_t n = read(fileno(r->f), r->in, CHUNK);
	if (n > 0) {
		r->end = (size_t)n;
		return 1;
	}
	if (n < 0)
		return -1;
	r->eof = true;
	return 0;
}

/* A whole line in p[0..n): drop a trailing \r, then hold it to the limit. */
static enum iot_line_status done(iot_line_reader *r, char *p, size_t n, const char **line, size_t *len)
{
	r->lineno++;
	size_t full = n;
	if (n > 0 && p[n - 1] == '\r')
		n--;
	if (n > r->max) {
		*len = full;
		return IOT_LINE_TOO_LONG;
	}
	p[n] = '\0';
	*line = p;
	*len = n;
	return IOT_LINE_OK;
}

enum iot_line_status iot_line_read(iot_line_reader *r, const char **line, size_t *len)
{
	size_t room = r->max + 1; /* the limit, plus a \r before the newline */
	size_t have = 0;          /* bytes of this line so far (kept in buf while <= room) */
	for (;;) {
		if (r->pos == r->end) {
			int f = fill(r);
			if (f < 0)
				return IOT_LINE_ERROR;
			if (f == 0) {
				if (have == 0)
					return IOT_LINE_EOF;
				if (have > room) {
					r->lineno++;
					*len = have;
					return IOT_LINE_TOO_LONG;
				}
				return done(r, r->buf, have, line, len);
			}
		}
		char *start = r->in + r->pos;
		size_t avail = r->end - r->pos;
		char *nl = memchr(start, '\n', avail);
		size_t take = nl ? (size_t)(nl - start) : avail;
		r->pos += take + (nl != NULL);
		if (nl && have == 0 && take <= room)
			return done(r, start, take, line, len); /* the common case: no copy */
		if (have + take <= room)
			memcpy(r->buf + have, start, take);
		have += take;
		if (nl) {
			if (have > room) {
				r->lineno++;
				*len = have;
				return IOT_LINE_TOO_LONG;
			}
			return done(r, r->buf, have, line, len);
		}
	}
}
