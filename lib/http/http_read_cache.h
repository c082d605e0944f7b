/* http_read_cache.h — the read routes' answers cached in Redis
 * (http_read_cache.c). */
#ifndef IOT_HTTP_READ_CACHE_H
#define IOT_HTTP_READ_CACHE_H

#include "http/http_read.h"

enum http_cache_class { HTTP_CACHE_RANGE, HTTP_CACHE_AGGREGATE };
#define HTTP_CACHE_RANGE_TTL_S 60
#define HTTP_CACHE_AGGREGATE_TTL_S 900

struct http_cache {
	bool used;                   /* asked, so the answer is to be kept */
	int ttl_s;
	char gen[IOT_CACHE_GEN_MAX];
	char question[2048];
};

/* The cached answer of the path's device for this question: 1 with it
 * given (X-Cache: hit), or 0 with hc ready for iot__http_cache_reply. */
int iot__http_cache_try(struct http_req *r, struct http_slot *s, enum http_cache_class cls,
                        const struct target *t, struct http_cache *hc);
/* Answer 200 with body (taken), keeping it when hc was asked. */
void iot__http_cache_reply(struct http_req *r, struct http_slot *s, struct http_cache *hc, json_t *body);
/* After a delete of the device's points committed: its answers are stale. */
void iot__http_cache_bump(struct http_slot *s, int64_t device);

#endif
