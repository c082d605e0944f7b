/* memo.c — the in-process entries of the device lookups (see memo.h). */
#include "auth/memo.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

int iot__memo_init(struct memo *m)
{
	memset(m, 0, sizeof *m);
	/* Large and zeroed: the pages are only really there once touched. */
	m->keys = calloc((size_t)MEMO_KEY_SETS * MEMO_KEY_WAYS, sizeof *m->keys);
	m->devs = calloc((size_t)MEMO_DEV_SETS * MEMO_DEV_WAYS, sizeof *m->devs);
	m->unknown_keys = calloc(MEMO_UNKNOWN_SLOTS, sizeof *m->unknown_keys);
	m->unknown_devs = calloc(MEMO_UNKNOWN_SLOTS, sizeof *m->unknown_devs);
	/* Epoch 0 never matches: a zeroed slot is empty. */
	m->epoch = m->unknown_epoch = 1;
	return m->keys && m->devs && m->unknown_keys && m->unknown_devs ? 0 : -1;
}

void iot__memo_free(struct memo *m)
{
	if (m->keys)
		sodium_memzero(m->keys, (size_t)MEMO_KEY_SETS * MEMO_KEY_WAYS * sizeof *m->keys);
	free(m->keys);
	free(m->devs);
	free(m->unknown_keys);
	free(m->unknown_devs);
	memset(m, 0, sizeof *m);
}

/* Digests are BLAKE2b output: any 8 of their bytes are as good as a hash,
 * and two different 8 are two independent ones. */
static uint64_t digest_hash(const unsigned char d[IOT_DIGEST_LEN], int which)
{
	uint64_t h;
	memcpy(&h, d + 8 * which, sizeof h);
	return h;
}

/* Device ids are dense: mixed, so that neighbours spread over the sets;
 * the second choice with a multiplier of its own. */
static uint64_t id_hash(int64_t id, int which)
{
	uint64_t h = (uint64_t)id * (which ? 0xC2B2AE3D27D4EB4FULL : 0x9E3779B97F4A7C15ULL);
	return h ^ (h >> 31);
}

static struct key_entry *key_set(struct memo *m, const unsigned char d[IOT_DIGEST_LEN], int which)
{
	return &m->keys[(digest_hash(d, which) & (MEMO_KEY_SETS - 1)) * MEMO_KEY_WAYS];
}

static struct dev_entry *dev_set(struct memo *m, int64_t id, int which)
{
	return &m->devs[(id_hash(id, which) & (MEMO_DEV_SETS - 1)) * MEMO_DEV_WAYS];
}

struct key_entry *iot__memo_key(struct memo *m, const unsigned char d[IOT_DIGEST_LEN],
                                long long now_ms, long long max_age_ms, int64_t now_us)
{
	for (int s = 0; s < 2; s++) {
		struct key_entry *set = key_set(m, d, s);
		for (int w = 0; w < MEMO_KEY_WAYS; w++) {
			struct key_entry *e = &set[w];
			/* The first 8 bytes pick the candidates (they chose a set
			 * too); the whole digest confirms, in constant time. */
			if (e->used && e->epoch == m->epoch && memcmp(e->digest, d, 8) == 0 &&
			    sodium_memcmp(e->digest, d, IOT_DIGEST_LEN) == 0 && now_ms - e->cached_ms < max_age_ms &&
			    (e->expires_us == 0 || now_us < e->expires_us)) {
				e->touched = ++m->clock;
				return e;
			}
		}
	}
	return NULL;
}

/* The way for a new entry of type among the two sets s0 and s1: the one holding the
 * same thing, else an empty (or stale) way of the set with fewer live
 * entries, else the least recently used of both. */
#define PICK_WAY(type, s0, s1, ways, same, live, victim)                             \
	do {                                                                          \
		type *set_[2] = { (s0), (s1) };                                       \
		int live_[2] = { 0, 0 };                                              \
		victim = NULL;                                                        \
		for (int s_ = 0; s_ < 2; s_++)                                        \
			for (int w_ = 0; w_ < (ways); w_++) {                         \
				if (live(&set_[s_][w_]) && same(&set_[s_][w_]))       \
					victim = &set_[s_][w_];                       \
				live_[s_] += live(&set_[s_][w_]);                     \
			}                                                             \
		int fewer_ = live_[1] < live_[0];                                     \
		for (int w_ = 0; w_ < (ways) && !victim; w_++)                        \
			if (!live(&set_[fewer_][w_]))                                 \
				victim = &set_[fewer_][w_];                           \
		if (!victim) {                                                        \
			victim = &set_[0][0];                                         \
			for (int s_ = 0; s_ < 2; s_++)                                \
				for (int w_ = 0; w_ < (ways); w_++)                   \
					if (set_[s_][w_].touched < victim->touched)   \
						victim = &set_[s_][w_];               \
		}                                                                     \
	} while (0)

struct key_entry *iot__memo_key_put(struct memo *m, const struct key_entry *e)
{
	struct key_entry *victim;
#define LIVE(x) ((x)->used && (x)->epoch == m->epoch)
#define SAME(x) (sodium_memcmp((x)->digest, e->digest, IOT_DIGEST_LEN) == 0)
	PICK_WAY(struct key_entry, key_set(m, e->digest, 0), key_set(m, e->digest, 1), MEMO_KEY_WAYS, SAME, LIVE, victim);
#undef SAME
	*victim = *e;
	victim->used = true;
	victim->epoch = m->epoch;
	victim->touched = ++m->clock;
	return victim;
}

struct dev_entry *iot__memo_dev(struct memo *m, int64_t id, long long now_ms, long long max_age_ms)
{
	for (int s = 0; s < 2; s++) {
		struct dev_entry *set = dev_set(m, id, s);
		for (int w = 0; w < MEMO_DEV_WAYS; w++) {
			struct dev_entry *e = &set[w];
			if (e->used && e->epoch == m->epoch && e->id == id && now_ms - e->cached_ms < max_age_ms) {
				e->touched = ++m->clock;
				return e;
			}
		}
	}
	return NULL;
}

struct dev_entry *iot__memo_dev_put(struct memo *m, const struct dev_entry *e)
{
	struct dev_entry *victim;
#define SAME(x) ((x)->id == e->id)
	PICK_WAY(struct dev_entry, dev_set(m, e->id, 0), dev_set(m, e->id, 1), MEMO_DEV_WAYS, SAME, LIVE, victim);
#undef SAME
#undef LIVE
	*victim = *e;
	victim->used = true;
	victim->epoch = m->epoch;
	victim->touched = ++m->clock;
	return victim;
}

bool iot__memo_key_unknown(struct memo *m, const unsigned char d[IOT_DIGEST_LEN], long long now_ms)
{
	const struct unknown_key *u = &m->unknown_keys[digest_hash(d, 0) & (MEMO_UNKNOWN_SLOTS - 1)];
	return u->epoch == m->unknown_epoch && now_ms - u->cached_ms < IOT_AUTH_UNKNOWN_TTL_MS &&
	       sodium_memcmp(u->digest, d, IOT_DIGEST_LEN) == 0;
}

void iot__memo_key_unknown_put(struct memo *m, const unsigned char d[IOT_DIGEST_LEN], long long now_ms)
{
	struct unknown_key *u = &m->unknown_keys[digest_hash(d, 0) & (MEMO_UNKNOWN_SLOTS - 1)];
	memcpy(u->digest, d, IOT_DIGEST_LEN);
	u->cached_ms = now_ms;
	u->epoch = m->unknown_epoch;
}

bool iot__memo_dev_unknown(struct memo *m, int64_t id, long long now_ms)
{
	const struct unknown_dev *u = &m->unknown_devs[id_hash(id, 0) & (MEMO_UNKNOWN_SLOTS - 1)];
	return u->epoch == m->unknown_epoch && u->id == id && now_ms - u->cached_ms < IOT_AUTH_UNKNOWN_TTL_MS;
}

void iot__memo_dev_unknown_put(struct memo *m, int64_t id, long long now_ms)
{
	struct unknown_dev *u = &m->unknown_devs[id_hash(id, 0) & (MEMO_UNKNOWN_SLOTS - 1)];
	*u = (struct unknown_dev){ .id = id, .cached_ms = now_ms, .epoch = m->unknown_epoch };
}

void iot__memo_forget(struct memo *m, int64_t device_id)
{
	m->unknown_epoch++;
	if (device_id == 0) {
		m->epoch++;
		return;
	}
	for (size_t i = 0; i < (size_t)MEMO_KEY_SETS * MEMO_KEY_WAYS; i++)
		if (m->keys[i].used && m->keys[i].device_id == device_id)
			m->keys[i].used = false;
	for (int s = 0; s < 2; s++) {
		struct dev_entry *set = dev_set(m, device_id, s);
		for (int w = 0; w < MEMO_DEV_WAYS; w++)
			if (set[w].id == device_id)
				set[w].used = false;
	}
}
