/* auth.c — device keys and people's tokens: in-process cache, Redis, PostgreSQL. */
#include "auth/auth.h"
#include "auth/keys.h"
#include "auth/memo.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TTL_SUBSCRIBED_MS 60000    /* invalidations arrive: keep a while */
#define TTL_UNSUBSCRIBED_MS 5000   /* nobody can tell us: keep briefly */
#define REDIS_TTL_S 1800
_Static_assert(REDIS_TTL_S / 60 + TTL_SUBSCRIBED_MS / 60000 <= IOT_AUTH_STALE_MAX_MIN,
               "IOT_AUTH_STALE_MAX_MIN must cover the Redis TTL and a process's memory");
#define FLUSH_INTERVAL_MS 10000
#define FLUSH_MAX_KEYS 4096
#define USAGE_HARD_CAP 65536       /* with the database gone for long, counts are dropped */

struct usage_slot {
	int64_t id, count, last_us;
};

struct usage_table {
	struct usage_slot *slot;
	size_t cap, n;
};

struct iot_auth {
	iot_db *db;
	iot_cache *cache;
	iot_hasher hasher;
	struct memo memo;
	bool subscribed;
	struct usage_table key_usage, token_usage;
	long long last_flush_ms;
	const char *last_source;
	_Atomic uint64_t answered[4];  /* iot_auth_get_stats: memory, redis, database, unknown */
};

static const char *const status_names[] = { "active", "inactive", "maintenance" };

const char *iot_device_status_name(enum iot_device_status s)
{
	return (unsigned)s < 3 ? status_names[s] : "unknown";
}

int iot_device_status_parse(const char *s, enum iot_device_status *out)
{
	for (int i = 0; i < 3; i++)
		if (s && !strcmp(s, status_names[i])) {
			*out = (enum iot_device_status)i;
			return 0;
		}
	return -1;
}

static int64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

iot_auth *iot_auth_new(const iot_config *cfg, iot_db *db, iot_cache *cache, iot_error *err)
{
	iot_auth *a = calloc(1, sizeof *a);
	if (!a) {
		iot_error_set(err, IOT_INTERNAL, "out of memory");
		return NULL;
	}
	a->db = db;
	a->cache = cache;
	if (iot__memo_init(&a->memo) < 0) {
		iot_error_set(err, IOT_INTERNAL, "out of memory");
		iot_auth_free(a);
		return NULL;
	}
	if (iot_hasher_init(&a->hasher, cfg, err) < 0) {
		iot_auth_free(a);
		return NULL;
	}
	/* Not migrated: the cache stays unused and says why; that is all. */
	iot_error e = { 0 };
	if (iot_auth_cache_bind(db, cache, &e) < 0 && e.status == IOT_UNAVAILABLE) {
		*err = e;
		iot_auth_free(a);
		return NULL;
	}
	a->last_flush_ms = iot_now_ms();
	return a;
}

static const char key_usage_sql[] =
	"UPDATE device_auth a SET usage_count = a.usage_count + u.n,"
	" last_used = greatest(a.last_used, to_timestamp(u.t / 1000000.0))"
	" FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS u(id, n, t)"
	" WHERE a.id = u.id";
static const char token_usage_sql[] =
	"UPDATE user_tokens a SET usage_count = a.usage_count + u.n,"
	" last_used = greatest(a.last_used, to_timestamp(u.t / 1000000.0))"
	" FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS u(id, n, t)"
	" WHERE a.id = u.id";

static int flush_table(iot_auth *a, struct usage_table *t, const char *sql, bool retry, iot_error *err);

void iot_auth_free(iot_auth *a)
{
	if (!a)
		return;
	if (a->db) {
		iot_error e;
		flush_table(a, &a->key_usage, key_usage_sql, false, &e);
		flush_table(a, &a->token_usage, token_usage_sql, false, &e);
	}
	free(a->key_usage.slot);
	free(a->token_usage.slot);
	iot__memo_free(&a->memo);
	iot_hasher_wipe(&a->hasher);
	free(a);
}

/* ---- usage counting ---- */

static int usage_grow(struct usage_table *t)
{
	size_t cap = t->cap ? t->cap * 2 : 256;
	struct usage_slot *s = calloc(cap, sizeof *s);
	if (!s)
		return -1;
	for (size_t i = 0; i < t->cap; i++) {
		if (!t->slot[i].id)
			continue;
		size_t j = (size_t)t->slot[i].id & (cap - 1);
		while (s[j].id)
			j = (j + 1) & (cap - 1);
		s[j] = t->slot[i];
	}
	free(t->slot);
	t->slot = s;
	t->cap = cap;
	return 0;
}

static void usage_note(struct usage_table *t, int64_t id, int64_t now_us)
{
	/* No room for another key (at the hard cap, or out of memory): keys
	 * already in the table are still counted, only new ones are dropped.
	 * The table is never more than half full, so the probe ends. */
	bool room = (t->n + 1) * 2 <= t->cap ||
	            (t->n < USAGE_HARD_CAP && usage_grow(t) == 0);
	if (!t->cap)
		return;
	size_t j = (size_t)id & (t->cap - 1);
	while (t->slot[j].id && t->slot[j].id != id)
		j = (j + 1) & (t->cap - 1);
	if (!t->slot[j].id) {
		if (!room)
			return;
		t->slot[j].id = id;
		t->n++;
	}
	t->slot[j].count++;
	t->slot[j].last_us = now_us;
}

/* "{1,2,3}" of one field of every used slot. */
static char *usage_array(const struct usage_table *t, int field)
{
	size_t size = t->n * 21 + 3, len = 0;
	char *s = malloc(size);
	if (!s)
		return NULL;
	s[len++] = '{';
	for (size_t i = 0; i < t->cap; i++) {
		const struct usage_slot *u = &t->slot[i];
		if (!u->id)
			continue;
		int64_t v = field == 0 ? u->id : field == 1 ? u->count : u->last_us;
		len += (size_t)snprintf(s + len, size - len, "%s%" PRId64, len > 1 ? "," : "", v);
	}
	s[len++] = '}';
	s[len] = '\0';
	return s;
}

static int flush_table(iot_auth *a, struct usage_table *t, const char *sql, bool retry, iot_error *err)
{
	if (t->n == 0)
		return 0;
	PGconn *conn = iot_db_conn(a->db);
	/* Never write inside a transaction the caller has open on this connection. */
	if (!retry && (!conn || PQtransactionStatus(conn) != PQTRANS_IDLE))
		return 0;
	char *ids = usage_array(t, 0), *counts = usage_array(t, 1), *times = usage_array(t, 2);
	int rc = -1;
	if (ids && counts && times) {
		const char *params[3] = { ids, counts, times };
		PGresult *res = retry ? iot_db_exec(a->db, sql, 3, params, err)
		                      : iot_db_query(a->db, sql, 3, params, err);
		if (res) {
			PQclear(res);
			memset(t->slot, 0, t->cap * sizeof *t->slot);
			t->n = 0;
			rc = 0;
		}
	} else {
		iot_error_set(err, IOT_INTERNAL, "out of memory");
	}
	free(ids);
	free(counts);
	free(times);
	return rc;
}

int iot_auth_flush_usage(iot_auth *a, iot_error *err)
{
	int rc = flush_table(a, &a->key_usage, key_usage_sql, true, err);
	if (flush_table(a, &a->token_usage, token_usage_sql, true, err) < 0)
		rc = -1;
	a->last_flush_ms = iot_now_ms();
	return rc;
}

static void maybe_flush(iot_auth *a, long long now_ms)
{
	if (a->key_usage.n + a->token_usage.n == 0)
		return;
	if (now_ms - a->last_flush_ms < FLUSH_INTERVAL_MS &&
	    a->key_usage.n < FLUSH_MAX_KEYS && a->token_usage.n < FLUSH_MAX_KEYS)
		return;
	iot_error e;
	flush_table(a, &a->key_usage, key_usage_sql, false, &e);
	flush_table(a, &a->token_usage, token_usage_sql, false, &e);
	a->last_flush_ms = now_ms;
}

/* ---- invalidation ---- */

void iot_auth_forget(iot_auth *a, int64_t device_id)
{
	iot__memo_forget(&a->memo, device_id);
}

static void on_message(void *arg, const char *msg)
{
	iot_auth *a = arg;
	long long id;
	if (!strcmp(msg, "all"))
		iot_auth_forget(a, 0);
	else if (sscanf(msg, "device %lld", &id) == 1 && id > 0)
		iot_auth_forget(a, id);
}

static long long max_age_ms(iot_auth *a)
{
	if (a->cache)
		a->subscribed = iot_cache_poll(a->cache, on_message, a);
	return a->subscribed ? TTL_SUBSCRIBED_MS : TTL_UNSUBSCRIBED_MS;
}

void iot_auth_key_cache_name(const unsigned char digest[32], char out[96])
{
	memcpy(out, "auth:key:", 9);
	sodium_bin2hex(out + 9, 96 - 9, digest, 32);
}

void iot_auth_dev_cache_name(int64_t device_id, char out[48])
{
	snprintf(out, 48, "auth:dev:%" PRId64, device_id);
}

int iot_auth_invalidate_device(iot_cache *cache, int64_t device_id,
                               const unsigned char (*digests)[32], size_t ndigests)
{
	if (!cache)
		return 0;
	char (*names)[96] = calloc(ndigests + 1, sizeof *names);
	const char **keys = calloc(ndigests + 1, sizeof *keys);
	int rc = -1;
	if (names && keys) {
		for (size_t i = 0; i < ndigests; i++) {
			iot_auth_key_cache_name(digests[i], names[i]);
			keys[i] = names[i];
		}
		iot_auth_dev_cache_name(device_id, names[ndigests]);
		keys[ndigests] = names[ndigests];
		char msg[40];
		snprintf(msg, sizeof msg, "device %" PRId64, device_id);
		rc = iot_cache_invalidate(cache, keys, ndigests + 1, msg);
	}
	free(names);
	free(keys);
	return rc;
}

/* ---- counting where lookups were answered ---- */

enum { BY_MEMORY, BY_REDIS, BY_DATABASE, BY_UNKNOWN };

static void tally(iot_auth *a, int by)
{
	atomic_fetch_add_explicit(&a->answered[by], 1, memory_order_relaxed);
}

/* By the source the lookup just set. */
static void tally_source(iot_auth *a)
{
	const char *s = a->last_source;
	tally(a, s[0] == 'm' ? BY_MEMORY : s[0] == 'r' ? BY_REDIS : BY_DATABASE);
}

void iot_auth_get_stats(const iot_auth *a, iot_auth_stats *out)
{
	out->memory = atomic_load_explicit(&a->answered[BY_MEMORY], memory_order_relaxed);
	out->redis = atomic_load_explicit(&a->answered[BY_REDIS], memory_order_relaxed);
	out->database = atomic_load_explicit(&a->answered[BY_DATABASE], memory_order_relaxed);
	out->unknown = atomic_load_explicit(&a->answered[BY_UNKNOWN], memory_order_relaxed);
}

/* ---- device by key ---- */

static int deny_key(iot_error *err)
{
	return iot_error_set(err, IOT_DENIED, "invalid API key");
}

/* "key_id device_id user_id status expires_us" */
static bool parse_key_value(const char *v, struct key_entry *e)
{
	long long kid, did, uid, exp;
	int st;
	if (sscanf(v, "%lld %lld %lld %d %lld", &kid, &did, &uid, &st, &exp) != 5 || st < 0 || st > 2)
		return false;
	e->key_id = kid;
	e->device_id = did;
	e->user_id = uid;
	e->status = (enum iot_device_status)st;
	e->expires_us = exp;
	return true;
}

static const char key_sql[] =
	"SELECT a.id, a.device_id, d.user_id, d.status, a.key_digest,"
	" coalesce((extract(epoch FROM a.expires_at) * 1000000)::bigint, 0)"
	" FROM device_auth a JOIN devices d ON d.id = a.device_id"
	" WHERE a.key_digest = $1::bytea AND a.is_active AND a.revoked_at IS NULL"
	" AND (a.expires_at IS NULL OR a.expires_at > now())";

/* 1 found, 0 unknown, -1 database error (err set). */
static int key_from_db(iot_auth *a, const unsigned char d[32], struct key_entry *e, iot_error *err)
{
	char param[IOT_DIGEST_PARAM_LEN];
	iot_digest_param(d, param);
	const char *params[1] = { param };
	PGresult *res = iot_db_exec(a->db, key_sql, 1, params, err);
	if (!res)
		return -1;
	int rc = 0;
	unsigned char stored[IOT_DIGEST_LEN];
	if (PQntuples(res) == 1 && iot_digest_from_param(PQgetvalue(res, 0, 4), stored) == 0 &&
	    sodium_memcmp(stored, d, IOT_DIGEST_LEN) == 0 &&
	    iot_device_status_parse(PQgetvalue(res, 0, 3), &e->status) == 0) {
		e->key_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		e->device_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		e->user_id = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
		e->expires_us = strtoll(PQgetvalue(res, 0, 5), NULL, 10);
		rc = 1;
	}
	PQclear(res);
	return rc;
}

/* The Redis layer then the database; fills *e. 0 or -1 (err set). */
static int key_fetch(iot_auth *a, const unsigned char d[32], struct key_entry *e,
                     int64_t now_us, iot_error *err)
{
	char name[96], val[128];
	long long gen = 0;
	int hit = -1;
	if (a->cache) {
		iot_auth_key_cache_name(d, name);
		hit = iot_cache_lookup(a->cache, name, val, sizeof val, &gen);
		if (hit == 1 && parse_key_value(val, e) && (e->expires_us == 0 || now_us < e->expires_us)) {
			a->last_source = "redis";
			return 0;
		}
	}
	a->last_source = "database";
	int rc = key_from_db(a, d, e, err);
	if (rc <= 0)
		return rc < 0 ? -1 : deny_key(err);
	if (hit >= 0) {
		long long ttl = REDIS_TTL_S;
		if (e->expires_us && (e->expires_us - now_us) / 1000000 < ttl)
			ttl = (e->expires_us - now_us) / 1000000;
		snprintf(val, sizeof val, "%" PRId64 " %" PRId64 " %" PRId64 " %d %" PRId64,
		         e->key_id, e->device_id, e->user_id, (int)e->status, e->expires_us);
		iot_cache_fill(a->cache, name, val, (int)ttl, gen);
	}
	return 0;
}

static int device_key(iot_auth *a, const char *key, bool use, iot_device_ref *out, iot_error *err)
{
	size_t len = key ? strnlen(key, IOT_DEVICE_KEY_MAX + 1) : 0;
	if (!key || !iot_device_key_well_formed(key, len))
		return deny_key(err);
	unsigned char d[IOT_DIGEST_LEN];
	iot_secret_digest(&a->hasher, key, len, d);
	long long max_age = max_age_ms(a);
	long long now_ms = iot_now_ms();
	int64_t now_us = wall_us();
	struct key_entry *e = iot__memo_key(&a->memo, d, now_ms, max_age, now_us);
	a->last_source = "memory";
	if (!e && iot__memo_key_unknown(&a->memo, d, now_ms)) {
		tally(a, BY_UNKNOWN);
		return deny_key(err);
	}
	if (!e) {
		struct key_entry fresh = { .used = true };
		if (key_fetch(a, d, &fresh, now_us, err) < 0) {
			if (err->status == IOT_DENIED) {
				iot__memo_key_unknown_put(&a->memo, d, now_ms);
				tally_source(a);
			}
			return -1;
		}
		memcpy(fresh.digest, d, IOT_DIGEST_LEN);
		fresh.cached_ms = now_ms;
		e = iot__memo_key_put(&a->memo, &fresh);
	}
	tally_source(a);
	out->id = e->device_id;
	out->user_id = e->user_id;
	out->status = e->status;
	out->key_expires_us = e->expires_us;
	if (use)
		usage_note(&a->key_usage, e->key_id, now_us);
	maybe_flush(a, now_ms);
	return 0;
}

int iot_auth_device_key(iot_auth *a, const char *key, iot_device_ref *out, iot_error *err)
{
	return device_key(a, key, true, out, err);
}

int iot_auth_device_key_check(iot_auth *a, const char *key, iot_device_ref *out, iot_error *err)
{
	return device_key(a, key, false, out, err);
}

/* ---- device by id ---- */

static const char dev_sql[] = "SELECT user_id, status FROM devices WHERE id = $1";

static int dev_fetch(iot_auth *a, int64_t id, struct dev_entry *e, iot_error *err)
{
	char name[48], val[64];
	long long gen = 0, uid;
	int hit = -1, st;
	if (a->cache) {
		iot_auth_dev_cache_name(id, name);
		hit = iot_cache_lookup(a->cache, name, val, sizeof val, &gen);
		if (hit == 1 && sscanf(val, "%lld %d", &uid, &st) == 2 && st >= 0 && st <= 2) {
			a->last_source = "redis";
			e->user_id = uid;
			e->status = (enum iot_device_status)st;
			return 0;
		}
	}
	char idtext[24];
	snprintf(idtext, sizeof idtext, "%" PRId64, id);
	const char *params[1] = { idtext };
	a->last_source = "database";
	PGresult *res = iot_db_exec(a->db, dev_sql, 1, params, err);
	if (!res)
		return -1;
	if (PQntuples(res) != 1 || iot_device_status_parse(PQgetvalue(res, 0, 1), &e->status) < 0) {
		PQclear(res);
		return iot_error_set(err, IOT_NOT_FOUND, "unknown device %" PRId64, id);
	}
	e->user_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	if (hit >= 0) {
		snprintf(val, sizeof val, "%" PRId64 " %d", e->user_id, (int)e->status);
		iot_cache_fill(a->cache, name, val, REDIS_TTL_S, gen);
	}
	return 0;
}

int iot_auth_device_id(iot_auth *a, int64_t id, iot_device_ref *out, iot_error *err)
{
	if (id <= 0 || id > INT32_MAX)
		return iot_error_set(err, IOT_NOT_FOUND, "unknown device %" PRId64, id);
	long long max_age = max_age_ms(a);
	long long now_ms = iot_now_ms();
	struct dev_entry *e = iot__memo_dev(&a->memo, id, now_ms, max_age);
	a->last_source = "memory";
	if (!e && iot__memo_dev_unknown(&a->memo, id, now_ms)) {
		tally(a, BY_UNKNOWN);
		return iot_error_set(err, IOT_NOT_FOUND, "unknown device %" PRId64, id);
	}
	if (!e) {
		struct dev_entry fresh = { .id = id, .used = true, .cached_ms = now_ms };
		if (dev_fetch(a, id, &fresh, err) < 0) {
			if (err->status == IOT_NOT_FOUND) {
				iot__memo_dev_unknown_put(&a->memo, id, now_ms);
				tally_source(a);
			}
			return -1;
		}
		e = iot__memo_dev_put(&a->memo, &fresh);
	}
	tally_source(a);
	out->id = id;
	out->user_id = e->user_id;
	out->status = e->status;
	out->key_expires_us = 0;
	return 0;
}

/* ---- people's tokens ---- */

static const char token_sql[] =
	"SELECT t.id, t.user_id, u.is_admin, t.token_digest"
	" FROM user_tokens t JOIN users u ON u.id = t.user_id"
	" WHERE t.token_digest = $1::bytea AND t.revoked_at IS NULL"
	" AND (t.expires_at IS NULL OR t.expires_at > now()) AND u.is_active";

static int user_token(iot_auth *a, const char *token, bool count, iot_user_ref *out, iot_error *err)
{
	size_t len = token ? strnlen(token, IOT_SECRET_LEN + 1) : 0;
	if (!token || !iot_secret_well_formed(IOT_USER_TOKEN_PREFIX, token, len))
		return iot_error_set(err, IOT_DENIED, "invalid API token");
	unsigned char d[IOT_DIGEST_LEN], stored[IOT_DIGEST_LEN];
	char param[IOT_DIGEST_PARAM_LEN];
	iot_secret_digest(&a->hasher, token, len, d);
	iot_digest_param(d, param);
	const char *params[1] = { param };
	a->last_source = "database";
	PGresult *res = iot_db_exec(a->db, token_sql, 1, params, err);
	if (!res)
		return -1;
	bool ok = PQntuples(res) == 1 && iot_digest_from_param(PQgetvalue(res, 0, 3), stored) == 0 &&
	          sodium_memcmp(stored, d, IOT_DIGEST_LEN) == 0;
	int64_t token_id = 0;
	if (ok) {
		token_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		out->id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		out->is_admin = PQgetvalue(res, 0, 2)[0] == 't';
	}
	PQclear(res);
	if (!ok)
		return iot_error_set(err, IOT_DENIED, "invalid API token");
	if (!count)
		return 0;
	long long now_ms = iot_now_ms();
	usage_note(&a->token_usage, token_id, wall_us());
	maybe_flush(a, now_ms);
	return 0;
}

int iot_auth_user_token(iot_auth *a, const char *token, iot_user_ref *out, iot_error *err)
{
	return user_token(a, token, true, out, err);
}

int iot_auth_user_token_check(iot_auth *a, const char *token, iot_user_ref *out, iot_error *err)
{
	return user_token(a, token, false, out, err);
}

const char *iot_auth_last_source(const iot_auth *a)
{
	return a->last_source ? a->last_source : "none";
}
