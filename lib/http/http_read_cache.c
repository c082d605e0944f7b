/* http_read_cache.c — cached answers of the read routes in Redis
 * (cache.h, "cached answers of read queries"): a range of records for
 * RANGE_TTL_S (recent telemetry, "L2") and aggregated buckets for
 * AGGREGATE_TTL_S ("L3"), made stale by the device's generation, which
 * the batch writer bumps after each commit and DELETE after its own. The
 * question is the route, the device as it is shown and the arguments as
 * sent: a relative time (-1h) is kept as such, so an answer may lag the
 * moving edge of its window by up to its TTL, never a commit. Access is
 * checked before the cache is asked. X-Cache: hit or miss says which it
 * was (absent when Redis is not used). */
#include "http/http_read.h"
#include "http/http_read_cache.h"
#include "base/json_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Answers bigger than this (10,000 records can be megabytes) are not kept:
 * Redis memory is better spent on many small ones. */
#define HTTP_CACHE_ANSWER_MAX (1u << 20)

static const char *const range_args[] = { "start_time", "end_time", "measurement", "limit", "metadata", NULL };
static const char *const aggregate_args[] = { "field", "aggregation", "window", "start_time", "end_time", NULL };

int iot__http_cache_try(struct http_req *r, struct http_slot *s, enum http_cache_class cls,
                        const struct target *t, struct http_cache *hc)
{
	memset(hc, 0, sizeof *hc);
	if (!s->cache)
		return 0;
	const char *const *names = cls == HTTP_CACHE_RANGE ? range_args : aggregate_args;
	size_t n = (size_t)snprintf(hc->question, sizeof hc->question, "%s\x1f%s\x1f%s",
	                            cls == HTTP_CACHE_RANGE ? "range" : "aggregated", t->name, t->type);
	for (size_t i = 0; names[i] && n < sizeof hc->question; i++) {
		const char *v = iot_http_arg(&r->args, names[i]);
		n += (size_t)snprintf(hc->question + n, sizeof hc->question - n, "\x1f%s%s%s", names[i],
		                      v ? "=" : "\x1e", v ? v : "");
	}
	if (n >= sizeof hc->question)
		return 0;  /* too long to be told apart: not cached */
	hc->ttl_s = cls == HTTP_CACHE_RANGE ? HTTP_CACHE_RANGE_TTL_S : HTTP_CACHE_AGGREGATE_TTL_S;
	hc->used = true;
	char *answer;
	size_t len;
	int rc = iot_cache_result_get(s->cache, r->id, hc->question, &answer, &len, hc->gen);
	if (rc == 1) {
		iot__http_reply_text(r, 200, "application/json", answer, len);
		iot__http_header(r, "X-Cache", "hit");
		return 1;
	}
	return 0;
}

void iot__http_cache_reply(struct http_req *r, struct http_slot *s, struct http_cache *hc, json_t *body)
{
	char *text = body ? iot_json_text(body, NULL) : NULL;
	json_decref(body);
	size_t len = text ? strlen(text) : 0;
	char *t = text ? realloc(text, len + 2) : NULL;
	if (!t) {
		free(text);
		iot__http_error(r, 500, "Internal Server Error", "out of memory");
		return;
	}
	t[len++] = '\n';
	t[len] = '\0';
	if (hc->used && len <= HTTP_CACHE_ANSWER_MAX)
		iot_cache_result_put(s->cache, r->id, hc->question, hc->gen, t, len, hc->ttl_s);
	iot__http_reply_text(r, 200, "application/json", t, len);
	if (hc->used)
		iot__http_header(r, "X-Cache", "miss");  /* after the body: it keeps only its own headers */
}

void iot__http_cache_bump(struct http_slot *s, int64_t device)
{
	if (s->cache)
		iot_cache_results_bump(s->cache, &device, 1);
}
