/* http_export.c — GET /api/v1/telemetry/{id}/export?format=ndjson|csv
 * &start_time=&end_time=: every point of the device in the range, streamed
 * from lib/query's export (the bytes `iot-query export` writes for the same
 * device and range), with Content-Disposition so a browser saves a file.
 *
 * start_time defaults to -24h, end_time to now (times as for the other
 * read routes). The export runs on a PostgreSQL session of its own (a
 * cursor in a read-only transaction), read a batch at a time as
 * libmicrohttpd asks for more: memory stays constant however long the
 * range. It counts against max_streams with the event streams. A failure
 * before the first byte is an answer (503 with Retry-After); one after it
 * cuts the connection, so the client sees an incomplete chunked body,
 * never a short file passed off as whole. */
#include "http/http_read.h"
#include "http/http_stream.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/query.h"

struct download {
	iot_httpd *h;
	iot_db *db;
	iot_export *x;
	const char *text;
	size_t len, off;
};

static ssize_t download_read(void *cls, uint64_t pos, char *out, size_t max)
{
	(void)pos;
	struct download *d = cls;
	if (d->off == d->len) {
		iot_error err = { 0 };
		int rc = iot_export_next(d->x, &d->text, &d->len, &err);
		d->off = 0;
		if (rc < 0)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (rc == 0)
			return MHD_CONTENT_READER_END_OF_STREAM;
	}
	size_t n = d->len - d->off;
	if (n > max)
		n = max;
	memcpy(out, d->text + d->off, n);
	d->off += n;
	return (ssize_t)n;
}

static void download_free(void *cls)
{
	struct download *d = cls;
	iot_httpd *h = d->h;
	iot_export_close(d->x);
	iot_db_close(d->db);
	free(d);
	iot__http_stream_release(h);
}

/* format=ndjson (default) or csv: 0, or -1 answered. */
static int format_arg(struct http_req *r, enum iot_export_format *fmt)
{
	const char *f = iot_http_arg(&r->args, "format");
	if (!f || !*f || !strcmp(f, "ndjson") || !strcmp(f, "json")) {
		*fmt = IOT_EXPORT_NDJSON;
		return 0;
	}
	if (!strcmp(f, "csv")) {
		*fmt = IOT_EXPORT_CSV;
		return 0;
	}
	iot__http_error(r, 400, "Bad Request", "format must be ndjson or csv");
	return -1;
}

static void headers(struct MHD_Response *resp, int64_t dev, const iot_export_req *q)
{
	char from[24], to[24], disp[128];
	iot_query_file_ts(q->start_us, from, sizeof from);
	iot_query_file_ts(q->end_us, to, sizeof to);
	bool csv = q->format == IOT_EXPORT_CSV;
	snprintf(disp, sizeof disp, "attachment; filename=\"telemetry-%" PRId64 "-%s-%s.%s\"", dev, from, to,
	         csv ? "csv" : "ndjson");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	                        csv ? "text/csv; charset=utf-8" : "application/x-ndjson");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disp);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
}

void iot__http_telemetry_export(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	struct target t;
	int64_t dev = r->id;
	iot_export_req q = { .device_ids = &dev, .ndevices = 1 };
	int ok = iot__http_read_open(r, s, &t);
	iot__http_slot_put(s);
	if (ok < 0 || format_arg(r, &q.format) < 0 ||
	    iot__http_read_range_args(r, "end_time", "-24h", &q.start_us, &q.end_us) < 0)
		return;
	if (iot__http_stream_take(r->h) < 0) {
		iot__http_stream_busy(r);
		return;
	}
	iot_error err = { 0 };
	struct download *d = calloc(1, sizeof *d);
	if (!d) {
		iot__http_stream_release(r->h);
		iot__http_error(r, 500, "Internal Server Error", "out of memory");
		return;
	}
	d->h = r->h;
	struct MHD_Response *resp = NULL;
	if (!(d->db = iot_db_connect(r->h->cfg, &err)) || !(d->x = iot_export_open(d->db, &q, &err))) {
		iot__http_read_failed(r, &err, "The export could not be started");
	} else if (!(resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, download_read, d,
	                                                         download_free))) {
		iot__http_error(r, 500, "Internal Server Error", "out of memory");
	}
	if (!resp) {
		download_free(d);
		return;
	}
	headers(resp, dev, &q);
	if (r->resp)
		MHD_destroy_response(r->resp);
	r->resp = resp;
	r->resp_status = 200;
}
