/* result_cache.c — cached answers of read queries, per device, made stale
 * by a per-device generation (API and guarantees in cache.h).
 *
 *   iotflow:<ns>:res:gen:<device>          the generation; no TTL, so it
 *                                          outlives every entry
 *   iotflow:<ns>:res:<device>:<digest>     "<generation>\n<answer>", EX ttl
 *
 * An entry is served only when the generation it was computed at is the
 * device's generation now; a writer bumps it after its commit, before it
 * reports success, so an answer computed before the commit is never
 * served after it. Every generation is a random 62-bit number: a bump sets
 * a new one, and one that is missing (evicted, Redis emptied) starts again
 * at one, so entries of before never match it (but by a 2^-62 chance).
 * When a bump fails (Redis unreachable), this process serves nothing from
 * the cache for the longest entry TTL: its own entries can then be stale. */
#include "cache/cache_int.h"

#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/parse.h"

static _Atomic long long unsafe_until_ms;

/* GET the generation (starting it when missing) and the entry at once. */
static const char get_script[] =
	"local g = redis.call('GET', KEYS[1]) "
	"if not g then redis.call('SET', KEYS[1], ARGV[1], 'NX') g = redis.call('GET', KEYS[1]) end "
	"return {g, redis.call('GET', KEYS[2])}";
/* A generation: a random number only has to differ from the generations
 * of before, so one draw from the system a process (a
 * getrandom call per device and batch was a system call per point)
 * seeds a counter, and splitmix64 spreads it. */
static _Atomic uint64_t gen_seed, gen_count;

static void random_gen(char out[24])
{
	uint64_t seed = atomic_load(&gen_seed);
	while (!seed) {
		uint64_t v = 0;
		randombytes_buf(&v, sizeof v);
		v |= 1;
		uint64_t none = 0;
		if (atomic_compare_exchange_strong(&gen_seed, &none, v))
			seed = v;
		else
			seed = none;
	}
	uint64_t z = seed + 0x9e3779b97f4a7c15ull * (atomic_fetch_add(&gen_count, 1) + 1);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	iot_int_text((long long)(z >> 2), out);
}

/* The entry's name: the device, and a digest of the question. */
static void entry_key(int64_t device, const char *question, char *out, size_t size)
{
	unsigned char d[16];
	char hex[33];
	crypto_generichash(d, sizeof d, (const unsigned char *)question, strlen(question), NULL, 0);
	sodium_bin2hex(hex, sizeof hex, d, sizeof d);
	snprintf(out, size, "res:%lld:%s", (long long)device, hex);
}

int iot_cache_result_get(iot_cache *c, int64_t device, const char *question, char **answer,
                         size_t *len, char gen[IOT_CACHE_GEN_MAX])
{
	*answer = NULL;
	*len = 0;
	gen[0] = '\0';
	if (iot_now_ms() < atomic_load(&unsafe_until_ms))
		return -1;
	redisContext *ctx = iot__cache_ctx(c);
	if (!ctx || sodium_init() < 0)
		return -1;
	char key[128], init[24];
	entry_key(device, question, key, sizeof key);
	random_gen(init);
	const char *pre = iot__cache_prefix(c);
	redisAppendCommand(ctx, "EVAL %s 2 %sres:gen:%lld %s%s %s", get_script, pre, (long long)device, pre, key,
	                   init);
	redisReply *r;
	if (iot__cache_replies(c, &r, 1) < 0)
		return -1;
	int rc = -1;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == REDIS_REPLY_STRING &&
	    r->element[0]->len < IOT_CACHE_GEN_MAX) {
		const redisReply *g = r->element[0], *e = r->element[1];
		memcpy(gen, g->str, g->len);
		gen[g->len] = '\0';
		rc = 0;
		if (e->type == REDIS_REPLY_STRING && e->len > g->len && e->str[g->len] == '\n' &&
		    !memcmp(e->str, g->str, g->len) && (*answer = malloc(e->len - g->len))) {
			*len = e->len - g->len - 1;
			memcpy(*answer, e->str + g->len + 1, *len);
			(*answer)[*len] = '\0';
			rc = 1;
		}
	}
	freeReplyObject(r);
	return rc;
}

int iot_cache_result_put(iot_cache *c, int64_t device, const char *question, const char *gen,
                         const char *answer, size_t len, int ttl_s)
{
	if (!gen || !gen[0] || ttl_s < 1)
		return 0;
	redisContext *ctx = iot__cache_ctx(c);
	if (!ctx || sodium_init() < 0)
		return -1;
	char key[128];
	entry_key(device, question, key, sizeof key);
	size_t glen = strlen(gen);
	char *v = malloc(glen + 1 + len);
	if (!v)
		return -1;
	memcpy(v, gen, glen);
	v[glen] = '\n';
	memcpy(v + glen + 1, answer, len);
	redisAppendCommand(ctx, "SET %s%s %b EX %d", iot__cache_prefix(c), key, v, glen + 1 + len, ttl_s);
	free(v);
	redisReply *r;
	if (iot__cache_replies(c, &r, 1) < 0)
		return -1;
	freeReplyObject(r);
	return 0;
}

int iot_cache_results_bump(iot_cache *c, const int64_t *devices, size_t n)
{
	return iot_cache_committed(c, devices, n, NULL, 0, 0);
}

/* A prefix is at most 74 bytes, then "res:gen:" and an id. */
#define KEY_MAX 112
#define BUMP_CHUNK 64

static size_t make_key(char *k, const char *pre, size_t pl, const char *kind, size_t kindl, int64_t id)
{
	memcpy(k, pre, pl);
	memcpy(k + pl, kind, kindl);
	return pl + kindl + iot_int_text((long long)id, k + pl + kindl);
}

int iot_cache_committed(iot_cache *c, const int64_t *bumped, size_t nbumped, const int64_t *seen, size_t nseen,
                        int64_t seen_us)
{
	if ((nbumped == 0 && nseen == 0) || !c || !iot_cache_configured(c))
		return 0;
	redisContext *ctx = iot__cache_ctx(c);
	int rc = ctx && sodium_init() >= 0 ? 0 : -1;
	if (rc < 0)
		ctx = NULL;
	char ts[IOT_INT_TEXT_MAX], ttl[IOT_INT_TEXT_MAX];
	iot_int_text((long long)seen_us, ts);
	iot_int_text(iot__cache_seen_ttl(c), ttl);
	/* Plain commands, pipelined (a script doing the same cost Redis about
	 * 2.5 us a device, its redis.call). A bump only has to move the
	 * generation to a value no answer was computed at, so it is a fresh
	 * random one, and an MSET sets those of up to BUMP_CHUNK devices. */
	const char *pre = iot__cache_prefix(c);
	size_t pl = strlen(pre), ncmd = 0, tsl = strlen(ts), ttll = strlen(ttl);
	char key[KEY_MAX];
	for (size_t b = 0; ctx && b < nbumped; b += BUMP_CHUNK) {
		size_t n = nbumped - b < BUMP_CHUNK ? nbumped - b : BUMP_CHUNK, a = 0;
		const char *argv[1 + 2 * BUMP_CHUNK];
		size_t lens[1 + 2 * BUMP_CHUNK];
		char keys[BUMP_CHUNK][KEY_MAX], gens[BUMP_CHUNK][24];
		argv[a] = "MSET", lens[a++] = 4;
		for (size_t i = 0; i < n; i++) {
			argv[a] = keys[i], lens[a++] = make_key(keys[i], pre, pl, "res:gen:", 8, bumped[b + i]);
			random_gen(gens[i]);
			argv[a] = gens[i], lens[a++] = strlen(gens[i]);
		}
		iot__cache_append(ctx, (int)a, argv, lens);
		ncmd++;
	}
	for (size_t i = 0; ctx && i < nseen; i++) {
		size_t kl = make_key(key, pre, pl, "seen:", 5, seen[i]);
		const char *set[] = { "SET", key, ts, "EX", ttl };
		const size_t setl[] = { 3, kl, tsl, 2, ttll };
		iot__cache_append(ctx, 5, set, setl);
		ncmd++;
	}
	for (size_t i = 0; i < ncmd; i++) {
		redisReply *r;
		if (iot__cache_replies(c, &r, 1) < 0) {
			rc = -2;  /* the connection is gone, and the replies with it */
			break;
		}
		if (r->type == REDIS_REPLY_ERROR)
			rc = -1;
		freeReplyObject(r);
	}
	/* Only a bump that did not go through makes cached answers unsafe; a
	 * lost online mark is a cache miss. */
	if (rc < 0 && nbumped)
		atomic_store(&unsafe_until_ms, iot_now_ms() + IOT_CACHE_RESULT_TTL_MAX * 1000LL);
	return rc < 0 && nbumped ? -1 : 0;
}
