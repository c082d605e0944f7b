/* http_stream.h — the long responses: the event stream of a device's
 * points (http_stream.c) and the export download (http_export.c), and the
 * one count that caps them together (iot_httpd_opts.max_streams): each
 * holds a PostgreSQL session of its own for as long as it runs. */
#ifndef IOT_HTTP_STREAM_H
#define IOT_HTTP_STREAM_H

#include "http/http_int.h"

void iot__http_telemetry_stream(struct http_req *r);
/* The stream of devices ids[0..n) (none: every device), access already
 * checked: what /api/v1/telemetry/{id}/stream sends, for several devices
 * at once (the dashboard's one stream, http_dashboard.c). g is what let
 * the caller in (copied): checked again every few seconds, the stream
 * ends when it no longer holds or, for a person who is no admin, when a
 * device of ids is no longer theirs. */
void iot__http_stream_devices(struct http_req *r, const int64_t *ids, size_t n, const struct http_grant *g);
void iot__http_telemetry_export(struct http_req *r);

/* A place under the cap: 0, or -1 when all are taken. */
int iot__http_stream_take(iot_httpd *h);
void iot__http_stream_release(iot_httpd *h);
/* The answer when the cap is reached: 503 with Retry-After. */
void iot__http_stream_busy(struct http_req *r);
/* For the end of a drain: wait (at most timeout_ms) until every stream has
 * ended (they end by themselves once the server drains) and its response
 * is gone, so that no connection is left suspended. */
void iot__http_streams_wait(iot_httpd *h, int timeout_ms);

#endif
