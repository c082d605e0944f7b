/* cache.h — the Redis cache every program shares (hiredis).
 *
 * Redis is optional. iot_cache_connect() always returns a handle (unless the
 * URL is malformed); the connection is made on first use. When Redis is not
 * configured, down, or fails mid-command, every call degrades to "miss" /
 * "no-op", a one-time warning is queued for main() (iot_cache_take_warning),
 * and connecting is retried with backoff (1 s doubling to 4 s) so Redis is
 * used again as soon as it is back. Nothing here ever blocks for longer than
 * the connect/command timeouts (300 ms / 500 ms).
 *
 * Namespaces. One Redis may serve several installations (several IoTFlow
 * databases), so every name below lives under "iotflow:<ns>:", where <ns>
 * is the installation's namespace: iotflow_cache_namespace() of its
 * database (sql/005_installation.sql: a random installation id mixed with
 * the database's own identity, so a copy or clone of a database gets a
 * namespace of its own too). Whoever holds both a database connection and
 * a cache handle reads it and sets it here (iot_auth_cache_bind in
 * auth.h). Until it is set, a handle serves and fills nothing: lookups and
 * last_seen miss as if Redis were down, online marks are dropped, rate
 * limits fail open, invalidations fail, nothing is subscribed, and the
 * one-time warning says "Redis not used: ...". So entries of two
 * installations can never mix.
 *
 * Keys (<ns> as above):
 *   iotflow:<ns>:auth:key:<hex digest>  device by key digest   (TTL 30 min or key expiry)
 *   iotflow:<ns>:auth:dev:<id>          device by id           (TTL 30 min)
 *   iotflow:<ns>:auth:gen               invalidation generation (guards racing fills)
 *   iotflow:<ns>:seen:<id>              last_seen (µs), TTL = online_window (default 5 min)
 *   iotflow:<ns>:rl:<bucket>            rate-limit counter, always with a TTL
 *   iotflow:<ns>:res:gen:<id>           a device's result generation (no TTL)
 *   iotflow:<ns>:res:<id>:<digest>      a cached read answer, "<gen>\n<answer>"
 * Channel iotflow:<ns>:auth:invalidate carries "device <id>" messages.
 * Programs from before namespaces used the same names without "<ns>:";
 * an invalidation bumps, deletes and publishes those too (nothing is ever
 * read or filled there), so a revoke also reaches such a program still
 * running during an upgrade.
 *
 * URLs: redis://[[user]:password@]host[:port][/db]  and  unix:///path/to/sock[?db=N]
 * One iot_cache is used by one thread at a time. */
#ifndef IOT_CACHE_H
#define IOT_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "base/error.h"

typedef struct iot_cache iot_cache;

/* A handle for cfg's redis_url (IOTFLOW_REDIS_URL). NULL only when the URL
 * is malformed (IOT_USAGE) or memory is short. Does not connect yet. */
iot_cache *iot_cache_connect(const iot_config *cfg, iot_error *err);
void iot_cache_free(iot_cache *c);

/* Names without "iotflow:<ns>:" in front are what this header takes and
 * the handle prefixes: key "auth:key:<hex>", bucket "api:1".
 *
 * Set the installation's namespace (1..IOT_CACHE_NS_MAX of A-Z a-z 0-9 - _).
 * Setting the same one again is a no-op; another one is refused (IOT_USAGE):
 * a handle serves one installation. */
#define IOT_CACHE_NS_MAX 64
int iot_cache_set_namespace(iot_cache *c, const char *ns, iot_error *err);
/* No namespace could be read: why (shown in the warning "Redis not used: WHY"). */
void iot_cache_namespace_failed(iot_cache *c, const char *why);
/* The namespace, or NULL while none is set. */
const char *iot_cache_namespace(const iot_cache *c);

/* A warning to print once (Redis not configured / went away), or NULL.
 * The text stays valid until the next call on c. */
const char *iot_cache_take_warning(iot_cache *c);
/* Connected now (connecting first when a retry is due). */
bool iot_cache_available(iot_cache *c);
/* IOTFLOW_REDIS_URL was set (whether or not Redis answers). */
bool iot_cache_configured(const iot_cache *c);
/* Why the last connection or invalidation failed: "Redis at HOST:PORT: reason"
 * (never a password). Valid until the next call on c. */
const char *iot_cache_last_error(const iot_cache *c);

/* Mark devices online: SET iotflow:<ns>:seen:<id> ts_us EX online_window, all in
 * one pipelined round trip. Always returns 0 (a cache miss is harmless). */
int iot_cache_device_seen(iot_cache *c, const int64_t *device_ids, size_t n, int64_t ts_us);
/* last_seen (µs) per device from Redis, 0 when unknown; one MGET. Returns 0,
 * or -1 when Redis is unavailable (out is then all zeros). */
int iot_cache_device_last_seen(iot_cache *c, const int64_t *device_ids, size_t n, int64_t *out_us);

/* Fixed-window counter: INCR and EXPIRE in one Lua script, so a counter can
 * never exist without a TTL. Returns 0 when allowed, 1 when over the limit
 * (*retry_after = seconds left in the window). Fails open: 0 when Redis is
 * unavailable. */
int iot_cache_rate_limit(iot_cache *c, const char *bucket, int limit, int window_s, int *retry_after);

/* ---- used by auth.c (device lookups and invalidation) ---- */

/* GET key (e.g. "auth:key:<hex>") and the invalidation generation in one round trip. Returns 1 and
 * the value in buf (NUL-terminated), 0 on a miss, -1 when unavailable.
 * *gen is what iot_cache_fill needs (0 when unavailable). */
int iot_cache_lookup(iot_cache *c, const char *key, char *buf, size_t size, long long *gen);
/* SET key value EX ttl_s, unless an invalidation happened since *gen was read
 * (a Lua check-and-set: a stale fill can never outlive a revoke). */
int iot_cache_fill(iot_cache *c, const char *key, const char *value, int ttl_s, long long gen);
/* Bump the generation, DEL keys, PUBLISH msg (and the same without a
 * namespace, see above): one pipelined round trip.
 * Returns 0 when every command succeeded, or -1 when Redis is unavailable
 * (warning queued) or answered one of them with an error
 * (iot_cache_last_error says why), or no namespace is set. */
int iot_cache_invalidate(iot_cache *c, const char *const *keys, size_t n, const char *msg);

/* ---- cached answers of read queries (result_cache.c) ---- */

/* An answer is cached under (device, question: the text that tells the
 * question apart, e.g. the route and its arguments) with the device's
 * generation at the time it was read; it is served only while the
 * generation is still the same. Whoever stores points or deletes them
 * bumps the device's generation after the commit and before telling anyone
 * it is done, so no reader is served an answer from before a commit once
 * the commit has returned. A bump that fails (Redis unreachable) makes
 * this process serve nothing from the cache for IOT_CACHE_RESULT_TTL_MAX:
 * another process's entries may then be stale until their TTL; the
 * generations themselves never expire. */
#define IOT_CACHE_GEN_MAX 32
#define IOT_CACHE_RESULT_TTL_MAX 900
/* 1 and *answer (malloc'd, NUL-terminated, *len bytes) on a hit; 0 on a
 * miss, with gen set for iot_cache_result_put; -1 when the cache cannot be
 * used now (gen empty: do not fill). */
int iot_cache_result_get(iot_cache *c, int64_t device, const char *question, char **answer,
                         size_t *len, char gen[IOT_CACHE_GEN_MAX]);
/* Keep answer for ttl_s seconds under the generation gen got. 0, or -1
 * when Redis is unavailable (harmless). */
int iot_cache_result_put(iot_cache *c, int64_t device, const char *question, const char *gen,
                         const char *answer, size_t len, int ttl_s);
/* Bump the generations of devices (one round trip). 0, or -1 when it did
 * not go through (then see above). */
int iot_cache_results_bump(iot_cache *c, const int64_t *devices, size_t n);
/* What a writer tells Redis after a commit, in one round trip: the
 * generations of the devices that got points bumped, and the devices heard
 * from marked online at seen_us (as iot_cache_device_seen). 0, or -1 when
 * the bump did not go through. */
int iot_cache_committed(iot_cache *c, const int64_t *bumped, size_t nbumped, const int64_t *seen, size_t nseen,
                        int64_t seen_us);

/* Drain invalidation messages without blocking (poll(2) with a zero
 * timeout on the subscription socket), at most once per millisecond of the
 * monotonic clock: a second call within the same millisecond returns what
 * the first said without looking, so a message is acted on at most about
 * 1 ms after it arrived.
 * A silent socket proves nothing (a hung Redis is silent too), so the
 * subscription is PINGed at most once a second from here, and counts as
 * live only while something arrived on it within the last 2.5 s and the
 * command connection is up; a PING unanswered for 2.5 s drops it.
 * cb gets each message; it gets "all" whenever the subscription was (re)made,
 * lost or stopped being live, since messages may have been missed. Returns
 * true while the subscription is live: only then may callers keep entries
 * for long. */
typedef void (*iot_cache_msg_fn)(void *arg, const char *msg);
bool iot_cache_poll(iot_cache *c, iot_cache_msg_fn cb, void *arg);

#endif
