/* memo.h — the in-process layer of the device lookups (auth.h): entries
 * for keys (by digest) and devices (by id) in set-associative tables where
 * each entry may live in either of two sets, picked by two independent
 * hashes, and goes to the less full one ("the power of two choices"), with
 * least-recently-used replacement; so a fleet of 10,000 devices stays
 * cached. (A direct-mapped table of 16384 slots lost a quarter of its keys
 * to collisions; one set per key, of 16 ways, overflowed in about one fleet
 * of 10,000 in 33, and the keys of that set then missed on every round,
 * each a trip to Redis or PostgreSQL.) An entry is found by 8 bytes of its
 * digest, then confirmed with sodium_memcmp over all of it. Lookups that
 * found nothing get short-lived entries in tables of their own, so that a
 * flood of unknown keys never evicts a known one.
 * Internal to auth/; one thread at a time, like its iot_auth. */
#ifndef IOT_AUTH_MEMO_H
#define IOT_AUTH_MEMO_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/auth.h"
#include "auth/keys.h"

/* 16 ways in 2048 sets: at 10,000 keys a set holds 4.9 on average; with
 * two choices the fullest holds 7 (with one, 13 or so, and 17 or more in
 * one fleet of 33), and even 24,000 keys (73% of the table) fit, the
 * fullest set at 14 or 15 (tests/unit/test_memo.c). */
#define MEMO_KEY_SETS 2048
#define MEMO_KEY_WAYS 16          /* 32768 keys */
#define MEMO_DEV_SETS 2048
#define MEMO_DEV_WAYS 16          /* 32768 devices */
#define MEMO_UNKNOWN_SLOTS 4096   /* unknown keys, and unknown ids, each */

struct key_entry {
	unsigned char digest[IOT_DIGEST_LEN];
	int64_t key_id, device_id, user_id;
	int64_t expires_us;            /* the key's own expiry (grace period), 0 = none */
	long long cached_ms;
	uint64_t touched;              /* the memo's clock at the last use: LRU order */
	unsigned epoch;                /* valid only while equal to the memo's epoch */
	enum iot_device_status status;
	bool used;
};

struct dev_entry {
	int64_t id, user_id;
	long long cached_ms;
	uint64_t touched;
	unsigned epoch;
	enum iot_device_status status;
	bool used;
};

struct unknown_key {
	unsigned char digest[IOT_DIGEST_LEN];
	long long cached_ms;
	unsigned epoch;
};

struct unknown_dev {
	int64_t id;
	long long cached_ms;
	unsigned epoch;
};

struct memo {
	struct key_entry *keys;        /* [MEMO_KEY_SETS * MEMO_KEY_WAYS] */
	struct dev_entry *devs;        /* [MEMO_DEV_SETS * MEMO_DEV_WAYS] */
	struct unknown_key *unknown_keys;
	struct unknown_dev *unknown_devs;
	unsigned epoch;                /* bumped to drop every entry at once */
	unsigned unknown_epoch;        /* ... every entry of what was not found */
	uint64_t clock;                /* counts uses (milliseconds tie: a round of
	                                * 10,000 hits takes a few) */
};

int iot__memo_init(struct memo *m);
void iot__memo_free(struct memo *m);

/* A live entry for digest d (its full digest compared with sodium_memcmp):
 * cached less than max_age_ms ago and, when the key has an expiry, not past
 * it. NULL when there is none. */
struct key_entry *iot__memo_key(struct memo *m, const unsigned char d[IOT_DIGEST_LEN],
                                long long now_ms, long long max_age_ms, int64_t now_us);
/* Keep e (its digest inside), replacing the entry of the same digest, else
 * in an empty or stale way of the less full of its two sets, else over the
 * least recently used entry of the two; returns where it went. */
struct key_entry *iot__memo_key_put(struct memo *m, const struct key_entry *e);
struct dev_entry *iot__memo_dev(struct memo *m, int64_t id, long long now_ms, long long max_age_ms);
struct dev_entry *iot__memo_dev_put(struct memo *m, const struct dev_entry *e);

/* Lookups that found nothing in PostgreSQL (not failures to ask it):
 * remembered for IOT_AUTH_UNKNOWN_TTL_MS (auth.h), and forgotten at once by
 * any invalidation message. */
bool iot__memo_key_unknown(struct memo *m, const unsigned char d[IOT_DIGEST_LEN], long long now_ms);
void iot__memo_key_unknown_put(struct memo *m, const unsigned char d[IOT_DIGEST_LEN], long long now_ms);
bool iot__memo_dev_unknown(struct memo *m, int64_t id, long long now_ms);
void iot__memo_dev_unknown_put(struct memo *m, int64_t id, long long now_ms);

/* Drop one device's entries (0: every entry); what was not found goes too,
 * since the message may be about a device or key that now exists. */
void iot__memo_forget(struct memo *m, int64_t device_id);

#endif
