/* auth.h — one way for every program to authenticate devices and people.
 *
 * Device keys and people's tokens are looked up by their BLAKE2b-256 digest
 * (see keys.h) in three layers:
 *   1. in-process entries (auth/memo.h): 16-way set-associative tables,
 *      least recently used out, for 32768 keys (digest-keyed, each hit
 *      confirmed with sodium_memcmp over the full digest) and 32768
 *      devices by id;
 *   2. Redis (iotflow:<ns>:auth:key:<digest>, 30-minute TTL, never past the
 *      key's own expires_at), one pipelined round trip; <ns> is the
 *      installation's namespace (cache.h), which iot_auth_new reads;
 *   3. PostgreSQL: equality on the unique digest index, confirmed with
 *      sodium_memcmp.
 *
 * Invalidation (revoke, rotation, status or owner change, deletion) commits
 * in PostgreSQL, then bumps a generation, DELs the Redis entries and
 * PUBLISHes "device <id>" — one round trip. Every iot_auth polls its
 * subscription socket without blocking at the start of each lookup (a
 * poll(2) with zero timeout, ~0.3 µs when idle), so a busy process drops a
 * revoked key before its very next check. In-process entries live at most
 * 60 s while the subscription is live and 5 s while it is not (Redis down,
 * hung, or not configured); the subscription is PINGed and counts as live
 * only while it answers (cache.h), and when it stops, every entry goes.
 * That bounds staleness when nobody can tell us.
 *
 * A lookup that found nothing (an unknown or revoked key, an unknown or
 * removed device id) is remembered in-process for IOT_AUTH_UNKNOWN_TTL_MS,
 * in tables apart from the known entries (a flood of unknown keys does not
 * evict them), so 20,000 lines of a removed device cost one query, not
 * 20,000. Every invalidation message forgets all of them: a device added
 * (iot-device add and registration publish "device <id>" for it) or a key
 * added or rotated in works at once where the subscription is live, and
 * within IOT_AUTH_UNKNOWN_TTL_MS where it is not. (A new key's digest is
 * random: no lookup can have missed it before it existed.) Failures to ask
 * (PostgreSQL unavailable) are not remembered.
 *
 * last_used / usage_count are counted in memory and written in one UPDATE
 * per table every 10 s (or 4096 distinct keys, or iot_auth_flush_usage). */
#ifndef IOT_AUTH_H
#define IOT_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "cache/cache.h"
#include "base/config.h"
#include "pg/db.h"
#include "base/error.h"

enum iot_device_status { IOT_DEVICE_ACTIVE, IOT_DEVICE_INACTIVE, IOT_DEVICE_MAINTENANCE };

typedef struct iot_device_ref {
	int64_t id;
	int64_t user_id;
	enum iot_device_status status;
	/* When the key looked up ends (a grace period after a rotation), in
	 * microseconds since the epoch; 0: it does not. Always 0 by id. */
	int64_t key_expires_us;
} iot_device_ref;

typedef struct iot_user_ref {
	int64_t id;
	bool is_admin;
} iot_user_ref;

typedef struct iot_auth iot_auth;

/* The longest an entry that a failed invalidation left behind can still be
 * used, in minutes: 30 in Redis, then up to one more in a program's memory. */
#define IOT_AUTH_STALE_MAX_MIN 31

/* How long a lookup that found nothing is remembered (see above). */
#define IOT_AUTH_UNKNOWN_TTL_MS 5000

/* db is borrowed (not owned); cache may be NULL (no Redis). The cache is
 * named for db's installation (iot_auth_cache_bind): NULL with
 * IOT_UNAVAILABLE when the database cannot be reached for that; a database
 * without an installation id (not migrated) only leaves the cache unused,
 * with its warning. One iot_auth is used by one thread at a time. */
iot_auth *iot_auth_new(const iot_config *cfg, iot_db *db, iot_cache *cache, iot_error *err);
/* Flushes pending usage counts (one attempt, no retries) and frees. */
void iot_auth_free(iot_auth *a);

/* Device by API key: 0 and *out filled, or -1 with err->status IOT_DENIED
 * ("invalid API key" — the key is never echoed) for malformed, unknown,
 * expired or revoked keys, IOT_UNAVAILABLE when the database cannot be
 * reached. Does not check the device's status: callers decide. */
int iot_auth_device_key(iot_auth *a, const char *key, iot_device_ref *out, iot_error *err);
/* The same lookup for diagnostics (iot-device key check): a check is not a
 * use, so last_used and usage_count stay as they are. */
int iot_auth_device_key_check(iot_auth *a, const char *key, iot_device_ref *out, iot_error *err);
/* Device by id (trusted input): -1 with IOT_NOT_FOUND "unknown device N".
 * Cached in-process + Redis, invalidated like keys. */
int iot_auth_device_id(iot_auth *a, int64_t id, iot_device_ref *out, iot_error *err);
/* A person by API token (Authorization: Bearer): IOT_DENIED "invalid API
 * token" for malformed, unknown, expired or revoked tokens and for disabled
 * users. Always checked against PostgreSQL (people's calls are rare; a
 * revoke or a disabled account takes effect at once). */
int iot_auth_user_token(iot_auth *a, const char *token, iot_user_ref *out, iot_error *err);
/* The same lookup, not counted as a use (last_used, usage_count): a
 * long-lived request checking again that its token still holds. */
int iot_auth_user_token_check(iot_auth *a, const char *token, iot_user_ref *out, iot_error *err);

/* Apply pending last_used/usage_count updates now (called periodically and at exit). */
int iot_auth_flush_usage(iot_auth *a, iot_error *err);

/* Where the last successful lookup was answered: "memory", "redis" or
 * "database" (for diagnostics: iot-device key check prints it). */
const char *iot_auth_last_source(const iot_auth *a);

/* Lookups (device keys and device ids) since iot_auth_new, by where they
 * were answered: in-process entries, Redis, PostgreSQL (found or not), and
 * in-process entries of lookups that found nothing. Any thread may read
 * them (for /metrics) while the owner looks up. */
typedef struct iot_auth_stats {
	uint64_t memory, redis, database, unknown;
} iot_auth_stats;
void iot_auth_get_stats(const iot_auth *a, iot_auth_stats *out);

/* Drop every in-process entry of one device (0: all). Lookups call this on
 * invalidation messages; exposed for programs that learn of changes otherwise. */
void iot_auth_forget(iot_auth *a, int64_t device_id);

const char *iot_device_status_name(enum iot_device_status s);
/* "active"/"inactive"/"maintenance" -> status; -1 when unknown. */
int iot_device_status_parse(const char *s, enum iot_device_status *out);

/* Read the namespace of db's installation (iotflow_cache_namespace(),
 * sql/005_installation.sql) and set it on cache, once per handle: whoever
 * holds both a connection and a cache handle calls this before using the
 * cache. 0 (also when cache is NULL, not configured or named already), or
 * -1 with err: IOT_UNAVAILABLE when the database cannot be reached, else
 * (no installation id: not migrated) the cache is left unnamed, so unused,
 * and its warning says why. */
int iot_auth_cache_bind(iot_db *db, iot_cache *cache, iot_error *err);

/* Cache names (under the namespace) for one device's entries (used by the
 * invalidation side): "auth:key:<hex>", "auth:dev:<id>". */
void iot_auth_key_cache_name(const unsigned char digest[32], char out[96]);
void iot_auth_dev_cache_name(int64_t device_id, char out[48]);
/* Tell every process that device_id changed: the Redis entries for the
 * given digests and the device id go, and "device <id>" is published.
 * Returns 0, or -1 when Redis is unavailable (its warning is queued). */
int iot_auth_invalidate_device(iot_cache *cache, int64_t device_id,
                               const unsigned char (*digests)[32], size_t ndigests);

#endif
