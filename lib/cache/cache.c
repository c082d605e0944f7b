/* cache.c — Redis as an optional cache: lazy connect, degrade, retry. */
#include "cache/cache.h"
#include "cache/cache_int.h"
#include "cache/redis_url.h"
#include "base/clock.h"
#include "base/parse.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every name is PREFIX "<namespace>:" + what cache.h lists. Programs from
 * before namespaces used PREFIX alone: invalidations clear those names too. */
#define PREFIX "iotflow:"
#define INVALIDATE_CHANNEL "auth:invalidate"
#define GEN_KEY "auth:gen"
#define RETRY_MIN_MS 1000
#define RETRY_MAX_MS 4000
/* The subscription socket is silent when nothing is published, and also when
 * Redis hangs (SIGSTOP, a frozen VM): silence proves nothing. So it is PINGed
 * (at most once a second, from iot_cache_poll) and counts as live only while
 * something arrived on it within SUB_LIVE_MS; a PING unanswered for that long
 * ends the connection. */
#define SUB_PING_MS 1000
#define SUB_LIVE_MS 2500

struct iot_cache {
	bool configured;
	struct iot__redis_url url;
	long seen_ttl;
	redisContext *ctx;
	long long retry_at, retry_step;
	redisContext *sub;
	long long sub_retry_at;
	long long sub_rx_ms;           /* when the subscription last received anything */
	long long sub_ping_ms;         /* when a PING went out unanswered, 0 = none */
	bool sub_live;                 /* what iot_cache_poll said last */
	long long sub_polled_ms;       /* when it last looked at the socket */
	char ns[IOT_CACHE_NS_MAX + 1]; /* "" until set: then nothing is served or filled */
	char prefix[sizeof PREFIX + IOT_CACHE_NS_MAX + 1]; /* "iotflow:<ns>:" */
	char ns_why[200];              /* why no namespace could be set */
	bool ns_warned;
	bool down_reported;
	bool warning_pending;
	char warning[320];
	char last_error[320];          /* why the last invalidation failed */
};

iot_cache *iot_cache_connect(const iot_config *cfg, iot_error *err)
{
	iot_cache *c = calloc(1, sizeof *c);
	if (!c) {
		iot_error_set(err, IOT_INTERNAL, "out of memory");
		return NULL;
	}
	c->seen_ttl = iot_config_get_long(cfg, "online_window");
	if (c->seen_ttl <= 0)
		c->seen_ttl = 300;
	c->retry_step = RETRY_MIN_MS;
	const char *url = iot_config_get(cfg, "redis_url");
	if (!url || !*url)
		return c;
	c->configured = true;
	if (iot__redis_url_parse(url, &c->url, err) < 0) {
		iot_cache_free(c);
		return NULL;
	}
	return c;
}

void iot_cache_free(iot_cache *c)
{
	if (!c)
		return;
	if (c->ctx)
		redisFree(c->ctx);
	if (c->sub)
		redisFree(c->sub);
	iot__redis_url_free(&c->url);
	free(c);
}

static void where(const iot_cache *c, char *buf, size_t size)
{
	if (c->url.path)
		snprintf(buf, size, "%s", c->url.path);
	else
		snprintf(buf, size, "%s:%d", c->url.host, c->url.port);
}

static void queue_warning(iot_cache *c, const char *reason)
{
	if (c->down_reported)
		return;
	c->down_reported = true;
	c->warning_pending = true;
	if (!c->configured) {
		snprintf(c->warning, sizeof c->warning,
		         "Redis not configured (IOTFLOW_REDIS_URL): running without the cache");
		return;
	}
	char w[160];
	where(c, w, sizeof w);
	snprintf(c->warning, sizeof c->warning,
	         "Redis at %s unavailable (%s): continuing with PostgreSQL only", w, reason);
}

const char *iot_cache_take_warning(iot_cache *c)
{
	if (!c || !c->warning_pending)
		return NULL;
	c->warning_pending = false;
	return c->warning;
}

static void set_last_error(iot_cache *c, const char *reason)
{
	char w[160];
	where(c, w, sizeof w);
	snprintf(c->last_error, sizeof c->last_error, "Redis at %s: %.100s", w, reason);
}

static void mark_down(iot_cache *c, const char *reason)
{
	queue_warning(c, reason);
	set_last_error(c, reason);
	if (c->ctx) {
		redisFree(c->ctx);
		c->ctx = NULL;
	}
	c->retry_at = iot_now_ms() + c->retry_step;
	c->retry_step = c->retry_step * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : c->retry_step * 2;
}

static bool reply_ok(const redisReply *r)
{
	return r && r->type != REDIS_REPLY_ERROR;
}

/* A fresh, authenticated connection on the right database, or NULL with
 * reason filled. The password never appears in reason. */
static redisContext *open_ctx(iot_cache *c, char *reason, size_t size)
{
	struct timeval cto = { 0, 300000 }, to = { 0, 500000 };
	redisContext *ctx = c->url.path ? redisConnectUnixWithTimeout(c->url.path, cto)
	                            : redisConnectWithTimeout(c->url.host, c->url.port, cto);
	if (!ctx || ctx->err) {
		snprintf(reason, size, "%s", ctx ? ctx->errstr : "out of memory");
		if (ctx)
			redisFree(ctx);
		return NULL;
	}
	redisSetTimeout(ctx, to);
	redisEnableKeepAlive(ctx);
	redisReply *r = NULL;
	if (c->url.password) {
		r = c->url.user ? redisCommand(ctx, "AUTH %s %s", c->url.user, c->url.password)
		            : redisCommand(ctx, "AUTH %s", c->url.password);
		if (!reply_ok(r)) {
			snprintf(reason, size, "authentication failed");
			goto fail;
		}
		freeReplyObject(r);
	}
	if (c->url.dbnum) {
		r = redisCommand(ctx, "SELECT %d", c->url.dbnum);
		if (!reply_ok(r)) {
			snprintf(reason, size, "choosing Redis database %d failed", c->url.dbnum);
			goto fail;
		}
		freeReplyObject(r);
	}
	return ctx;
fail:
	if (r)
		freeReplyObject(r);
	else
		snprintf(reason, size, "%s", ctx->errstr);
	redisFree(ctx);
	return NULL;
}

/* Connected, or connecting now when a retry is due. */
static bool ensure(iot_cache *c)
{
	if (!c)
		return false;
	if (c->ctx)
		return true;
	if (!c->configured) {
		queue_warning(c, "not configured");
		return false;
	}
	if (iot_now_ms() < c->retry_at)
		return false;
	char reason[128];
	c->ctx = open_ctx(c, reason, sizeof reason);
	if (!c->ctx) {
		mark_down(c, reason);
		return false;
	}
	c->down_reported = false;
	c->retry_step = RETRY_MIN_MS;
	return true;
}

bool iot_cache_available(iot_cache *c)
{
	return ensure(c);
}

bool iot_cache_configured(const iot_cache *c)
{
	return c && c->configured;
}

const char *iot_cache_last_error(const iot_cache *c)
{
	if (!c || !c->configured)
		return "Redis not configured";
	return c->last_error[0] ? c->last_error : "Redis unavailable";
}

int iot_cache_set_namespace(iot_cache *c, const char *ns, iot_error *err)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
	size_t n = ns ? strlen(ns) : 0;
	if (n == 0 || n > IOT_CACHE_NS_MAX || strspn(ns, ok) != n)
		return iot_error_set(err, IOT_USAGE, "cache namespace: 1 to %d letters, digits, '-' or '_'",
		                     IOT_CACHE_NS_MAX);
	if (c->ns[0] && strcmp(c->ns, ns))
		return iot_error_set(err, IOT_USAGE, "cache namespace: this handle already serves another installation");
	memcpy(c->ns, ns, n + 1);
	snprintf(c->prefix, sizeof c->prefix, PREFIX "%s:", ns);
	return 0;
}

void iot_cache_namespace_failed(iot_cache *c, const char *why)
{
	if (c && !c->ns[0])
		snprintf(c->ns_why, sizeof c->ns_why, "%s", why);
}

const char *iot_cache_namespace(const iot_cache *c)
{
	return c && c->ns[0] ? c->ns : NULL;
}

/* Named and connected: only then is anything read or written. */
static bool ready(iot_cache *c)
{
	if (!c)
		return false;
	if (c->configured && !c->ns[0]) {
		snprintf(c->last_error, sizeof c->last_error, "Redis not used: %s",
		         c->ns_why[0] ? c->ns_why : "no installation namespace was set");
		if (!c->ns_warned) {
			c->ns_warned = true;
			c->warning_pending = true;
			snprintf(c->warning, sizeof c->warning, "%s", c->last_error);
		}
		return false;
	}
	return ensure(c);
}

/* Read n pipelined replies into r[]. On an I/O error everything is freed,
 * the connection is marked down and -1 returned. */
static int read_replies(iot_cache *c, redisReply **r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		void *p = NULL;
		if (redisGetReply(c->ctx, &p) != REDIS_OK) {
			char reason[128];
			snprintf(reason, sizeof reason, "%s", c->ctx->errstr[0] ? c->ctx->errstr : "I/O error");
			for (size_t k = 0; k < i; k++)
				freeReplyObject(r[k]);
			mark_down(c, reason);
			return -1;
		}
		r[i] = p;
	}
	return 0;
}

static void free_replies(redisReply **r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		freeReplyObject(r[i]);
}

int iot_cache_device_seen(iot_cache *c, const int64_t *ids, size_t n, int64_t ts_us)
{
	iot_cache_committed(c, NULL, 0, ids, n, ts_us);
	return 0;
}

int iot_cache_device_last_seen(iot_cache *c, const int64_t *ids, size_t n, int64_t *out)
{
	memset(out, 0, n * sizeof *out);
	if (n == 0)
		return 0;
	if (!ready(c))
		return -1;
	const size_t chunk = 512;
	for (size_t off = 0; off < n; off += chunk) {
		size_t m = n - off < chunk ? n - off : chunk;
		char (*keys)[sizeof c->prefix + 32] = malloc(m * sizeof *keys);
		const char **argv = malloc((m + 1) * sizeof *argv);
		if (!keys || !argv) {
			free(keys);
			free(argv);
			return -1;
		}
		argv[0] = "MGET";
		for (size_t i = 0; i < m; i++) {
			snprintf(keys[i], sizeof keys[i], "%sseen:%lld", c->prefix, (long long)ids[off + i]);
			argv[i + 1] = keys[i];
		}
		redisAppendCommandArgv(c->ctx, (int)m + 1, argv, NULL);
		free(argv);
		free(keys);
		redisReply *r;
		if (read_replies(c, &r, 1) < 0)
			return -1;
		if (r->type == REDIS_REPLY_ARRAY)
			for (size_t i = 0; i < r->elements && i < m; i++)
				if (r->element[i]->type == REDIS_REPLY_STRING)
					out[off + i] = strtoll(r->element[i]->str, NULL, 10);
		freeReplyObject(r);
	}
	return 0;
}

static const char rate_script[] =
	"local n = redis.call('INCR', KEYS[1]) "
	"local ttl = redis.call('TTL', KEYS[1]) "
	"if ttl < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) ttl = tonumber(ARGV[1]) end "
	"return {n, ttl}";

int iot_cache_rate_limit(iot_cache *c, const char *bucket, int limit, int window_s, int *retry_after)
{
	if (retry_after)
		*retry_after = 0;
	if (window_s < 1)
		window_s = 1;
	if (!ready(c))
		return 0;
	/* An argument vector (see iot_cache_device_seen): this runs for every request. */
	char key[sizeof c->prefix + 160], win[16];
	size_t kl = (size_t)snprintf(key, sizeof key, "%srl:%s", c->prefix, bucket);
	if (kl < sizeof key) {
		const char *argv[] = { "EVAL", rate_script, "1", key, win };
		const size_t lens[] = { 4, sizeof rate_script - 1, 1, kl, (size_t)snprintf(win, sizeof win, "%d", window_s) };
		iot__cache_append(c->ctx, 5, argv, lens);
	} else {
		redisAppendCommand(c->ctx, "EVAL %s 1 %srl:%s %d", rate_script, c->prefix, bucket, window_s);
	}
	redisReply *r;
	if (read_replies(c, &r, 1) < 0)
		return 0;
	int rc = 0;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->integer > limit) {
		rc = 1;
		if (retry_after)
			*retry_after = r->element[1]->integer > 0 ? (int)r->element[1]->integer : 1;
	}
	freeReplyObject(r);
	return rc;
}

int iot_cache_lookup(iot_cache *c, const char *key, char *buf, size_t size, long long *gen)
{
	*gen = 0;
	if (!ready(c))
		return -1;
	redisAppendCommand(c->ctx, "GET %s%s", c->prefix, key);
	redisAppendCommand(c->ctx, "GET %s" GEN_KEY, c->prefix);
	redisReply *r[2];
	if (read_replies(c, r, 2) < 0)
		return -1;
	int rc = 0;
	if (r[1]->type == REDIS_REPLY_STRING)
		*gen = strtoll(r[1]->str, NULL, 10);
	if (r[0]->type == REDIS_REPLY_STRING && r[0]->len < size) {
		memcpy(buf, r[0]->str, r[0]->len);
		buf[r[0]->len] = '\0';
		rc = 1;
	}
	free_replies(r, 2);
	return rc;
}

static const char fill_script[] =
	"local g = redis.call('GET', KEYS[2]) or '0' "
	"if g == ARGV[3] then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) return 1 end "
	"return 0";

int iot_cache_fill(iot_cache *c, const char *key, const char *value, int ttl_s, long long gen)
{
	if (ttl_s < 1 || !ready(c))
		return 0;
	redisAppendCommand(c->ctx, "EVAL %s 2 %s%s %s" GEN_KEY " %s %d %lld", fill_script,
	                   c->prefix, key, c->prefix, value, ttl_s, gen);
	redisReply *r;
	if (read_replies(c, &r, 1) < 0)
		return -1;
	freeReplyObject(r);
	return 0;
}

int iot_cache_invalidate(iot_cache *c, const char *const *keys, size_t n, const char *msg)
{
	if (!ready(c))
		return -1;
	/* This installation's names, then the same names without a namespace,
	 * for programs from before namespaces still running beside this one. */
	const char *prefixes[2] = { c->prefix, PREFIX };
	for (int p = 0; p < 2; p++) {
		redisAppendCommand(c->ctx, "INCR %s" GEN_KEY, prefixes[p]);
		for (size_t i = 0; i < n; i++)
			redisAppendCommand(c->ctx, "DEL %s%s", prefixes[p], keys[i]);
		redisAppendCommand(c->ctx, "PUBLISH %s" INVALIDATE_CHANNEL " %s", prefixes[p], msg);
	}
	int rc = 0;
	for (size_t i = 0; i < 2 * (n + 2); i++) {
		void *p = NULL;
		if (redisGetReply(c->ctx, &p) != REDIS_OK) {
			mark_down(c, c->ctx->errstr[0] ? c->ctx->errstr : "I/O error");
			return -1;
		}
		/* An error reply (a read-only replica, out of memory) means that
		 * entry may still be there: the invalidation did not go through. */
		if (!reply_ok(p) && rc == 0) {
			const redisReply *r = p;
			set_last_error(c, r && r->str ? r->str : "error reply");
			rc = -1;
		}
		freeReplyObject(p);
	}
	return rc;
}

static void sub_lost(iot_cache *c, iot_cache_msg_fn cb, void *arg)
{
	redisFree(c->sub);
	c->sub = NULL;
	c->sub_live = false;
	c->sub_retry_at = iot_now_ms() + RETRY_MIN_MS;
	cb(arg, "all");
}

static void sub_open(iot_cache *c, iot_cache_msg_fn cb, void *arg)
{
	/* Only while the command connection works: when Redis is away, its
	 * backoff (not a second connect timeout per lookup) decides retries. */
	if (!c->configured || iot_now_ms() < c->sub_retry_at || !ready(c))
		return;
	char reason[128];
	c->sub = open_ctx(c, reason, sizeof reason);
	redisReply *r = c->sub ? redisCommand(c->sub, "SUBSCRIBE %s" INVALIDATE_CHANNEL, c->prefix) : NULL;
	if (!r || r->type != REDIS_REPLY_ARRAY) {
		if (r)
			freeReplyObject(r);
		if (c->sub)
			redisFree(c->sub);
		c->sub = NULL;
		c->sub_retry_at = iot_now_ms() + RETRY_MIN_MS;
		return;
	}
	freeReplyObject(r);
	c->sub_rx_ms = iot_now_ms();
	c->sub_ping_ms = 0;
	c->sub_live = true;
	/* Anything cached before now may have missed an invalidation. */
	cb(arg, "all");
}

static void sub_dispatch(redisReply *r, iot_cache_msg_fn cb, void *arg)
{
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
	    r->element[0]->type == REDIS_REPLY_STRING && !strcmp(r->element[0]->str, "message") &&
	    r->element[2]->type == REDIS_REPLY_STRING)
		cb(arg, r->element[2]->str);
}

bool iot_cache_poll(iot_cache *c, iot_cache_msg_fn cb, void *arg)
{
	if (!c)
		return false;
	if (!c->sub) {
		sub_open(c, cb, arg);
		if (!c->sub)
			return false;
	}
	long long now = iot_now_ms();
	/* Once a millisecond is enough: a busy server asks at every request,
	 * and the poll(2) was one of its eight or so system calls each. */
	if (now == c->sub_polled_ms)
		return c->sub_live;
	c->sub_polled_ms = now;
	struct pollfd pfd = { .fd = c->sub->fd, .events = POLLIN };
	int n = poll(&pfd, 1, 0);
	if (n > 0) {
		if (redisBufferRead(c->sub) != REDIS_OK) {
			sub_lost(c, cb, arg);
			return false;
		}
		for (;;) {
			void *p = NULL;
			if (redisGetReplyFromReader(c->sub, &p) != REDIS_OK) {
				sub_lost(c, cb, arg);
				return false;
			}
			if (!p)
				break;
			/* Messages and PING answers alike prove the connection alive. */
			c->sub_rx_ms = now;
			c->sub_ping_ms = 0;
			sub_dispatch(p, cb, arg);
			freeReplyObject(p);
		}
	}
	if (c->sub_ping_ms && now - c->sub_ping_ms >= SUB_LIVE_MS) {
		sub_lost(c, cb, arg);
		return false;
	}
	if (!c->sub_ping_ms && now - c->sub_rx_ms >= SUB_PING_MS) {
		int done = 0;
		redisAppendCommand(c->sub, "PING");
		do {
			if (redisBufferWrite(c->sub, &done) != REDIS_OK) {
				sub_lost(c, cb, arg);
				return false;
			}
		} while (!done);
		c->sub_ping_ms = now;
	}
	/* Live only while it answered lately and the command connection is up
	 * (a hung Redis makes lookups time out first). A lapse may have hidden
	 * an invalidation nobody could publish: entries from before it go. */
	bool live = c->ctx && now - c->sub_rx_ms < SUB_LIVE_MS;
	if (c->sub_live && !live)
		cb(arg, "all");
	c->sub_live = live;
	return live;
}

/* ---- for the other files of this room (cache_int.h) ---- */

redisContext *iot__cache_ctx(iot_cache *c)
{
	return ready(c) ? c->ctx : NULL;
}

const char *iot__cache_prefix(const iot_cache *c)
{
	return c->prefix;
}

long iot__cache_seen_ttl(const iot_cache *c)
{
	return c->seen_ttl;
}

int iot__cache_replies(iot_cache *c, redisReply **r, size_t n)
{
	return read_replies(c, r, n);
}
