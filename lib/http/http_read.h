/* http_read.h — what the telemetry read routes share (http_read.c) with
 * the streaming ones (http_stream.c, http_export.c): who may read a
 * device, the time arguments, failures as answers. */
#ifndef IOT_HTTP_READ_H
#define IOT_HTTP_READ_H

#include "http/http_int.h"

/* The path's device as its reader sees it. */
struct target {
	char name[404], type[64];
	int64_t owner;
	bool by_key;                 /* who reads: a device by its key, */
	int64_t reader;              /* that device's id or the person's */
	bool reader_admin;
};

/* Authentication (X-API-Key: that device only; a person's token: their
 * own devices, another's is 404; admins all) and the path's device: 0 and
 * *t, or -1 with the answer given. */
int iot__http_read_open(struct http_req *r, struct http_slot *s, struct target *t);
/* A failure of lib/query (or a lookup) as an answer: 400, 404, 503, 500. */
void iot__http_read_failed(struct http_req *r, const iot_error *err, const char *what);
/* start_time (default deflt) and end_name (default now) as a checked
 * range, both against one clock reading; -1 answered. */
int iot__http_read_range_args(struct http_req *r, const char *end_name, const char *deflt,
                              int64_t *start_us, int64_t *end_us);
/* "a,b,c" into names (pointing into buf, which is cut); the count, or -1
 * when there are more than max. */
long iot__http_read_names(char *buf, const char **names, size_t max);

#endif
