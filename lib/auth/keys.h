/* keys.h — secrets on libsodium: device API keys and people's API tokens
 * (32 random bytes, shown once as base64url, stored only as a BLAKE2b-256
 * digest), and passwords (Argon2id strings).
 *
 * Secret format: a fixed kind prefix ("iotf_" device key, "iotu_" user
 * token) then 43 base64url characters without padding (32 random bytes):
 * 48 characters in all. The display prefix stored next to the digest is the
 * kind prefix plus the next 8 characters (48 bits of 256: not a secret).
 *
 * Digest: BLAKE2b-256 over the whole secret text. With a server pepper
 * (setting key_pepper) the hash is keyed: generichash takes a key of 16..64
 * bytes, so the pepper (any length) is first reduced to a 32-byte key with
 * unkeyed BLAKE2b-256. Changing the pepper invalidates every key and token. */
#ifndef IOT_KEYS_H
#define IOT_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/config.h"
#include "base/error.h"

#define IOT_DIGEST_LEN 32
#define IOT_DEVICE_KEY_PREFIX "iotf_"
#define IOT_USER_TOKEN_PREFIX "iotu_"
#define IOT_SECRET_LEN 48          /* 5-char kind prefix + 43 base64url */
#define IOT_SECRET_DISPLAY_LEN 13  /* kind prefix + 8 */

typedef struct iot_hasher {
	unsigned char key[32];
	bool keyed;
} iot_hasher;

/* Initialise libsodium and derive the pepper key from cfg (key_pepper). */
int iot_hasher_init(iot_hasher *h, const iot_config *cfg, iot_error *err);
void iot_hasher_wipe(iot_hasher *h);
void iot_secret_digest(const iot_hasher *h, const char *secret, size_t len,
                       unsigned char out[IOT_DIGEST_LEN]);

/* A new secret of the given kind prefix into out (IOT_SECRET_LEN + 1 bytes)
 * and its display prefix into display (IOT_SECRET_DISPLAY_LEN + 1 bytes). */
int iot_secret_new(const char *kind, char *out, char *display, iot_error *err);
/* Right kind prefix, right length, base64url alphabet. Checked before any
 * lookup so garbage never reaches the database. */
bool iot_secret_well_formed(const char *kind, const char *s, size_t len);

/* Keys imported from the Flask service (iot-migrate import-flask): the old
 * plaintext key as it is (Flask drew 32 of [A-Za-z0-9]; other generators
 * made 64 hex digits), 8..64 characters of [A-Za-z0-9-_.~+/=], not starting
 * with a kind prefix. Only the digest of that text is stored, and the
 * display prefix is the constant IOT_LEGACY_KEY_DISPLAY: no character of
 * such a key is kept anywhere. */
#define IOT_LEGACY_KEY_MIN 8
#define IOT_LEGACY_KEY_MAX 64
#define IOT_LEGACY_KEY_DISPLAY "legacy"
bool iot_legacy_key_well_formed(const char *s, size_t len);
/* What a device may present: an iotf_ key or a legacy one (at most
 * IOT_DEVICE_KEY_MAX characters either way). */
#define IOT_DEVICE_KEY_MAX 64
bool iot_device_key_well_formed(const char *s, size_t len);
/* Does s hold a device key or a person's token (kind prefix and 43
 * base64url characters) anywhere? (secret_format.c, as the three above) */
bool iot_secret_in_text(const char *s, size_t len);
/* Every such key or token in the NUL-terminated s is cut to its kind prefix
 * and IOT_SECRET_MASK, in place (s only gets shorter); returns how many. */
#define IOT_SECRET_MASK "(not shown)"
int iot_secret_mask(char *s);

/* Digest as a bytea text parameter: "\x" + 64 hex digits (67 bytes with NUL). */
#define IOT_DIGEST_PARAM_LEN 67

/* A new secret and what is stored of it: its digest (as a bytea parameter)
 * and its display prefix. Wipe it with sodium_memzero once handed over. */
typedef struct iot_issued_secret {
	char secret[IOT_SECRET_LEN + 1];
	char display[IOT_SECRET_DISPLAY_LEN + 1];
	char digest_param[IOT_DIGEST_PARAM_LEN];
} iot_issued_secret;
int iot_secret_issue(const iot_config *cfg, const char *kind, iot_issued_secret *out, iot_error *err);

void iot_digest_param(const unsigned char d[IOT_DIGEST_LEN], char out[IOT_DIGEST_PARAM_LEN]);
/* Parse "\x..." bytea text output back into 32 bytes. Returns 0 or -1. */
int iot_digest_from_param(const char *text, unsigned char out[IOT_DIGEST_LEN]);

/* Passwords: 8..1024 bytes. Argon2id with the cost settings password_ops /
 * password_mem_kib. out must hold IOT_PWHASH_LEN bytes. iot_password_verify
 * also accepts the imported Flask formats (legacy_password.h), for which
 * iot_password_needs_rehash is always true. */
#define IOT_PWHASH_LEN 128
#define IOT_PASSWORD_MIN 8
#define IOT_PASSWORD_MAX 1024
int iot_password_check(const char *pw, iot_error *err);
int iot_password_hash(const iot_config *cfg, const char *pw, char *out, iot_error *err);
bool iot_password_verify(const char *hash, const char *pw);
/* The work of iot_password_verify against a hash with the current cost
 * settings, for when there is no hash (unknown or inactive user): so the
 * time taken does not tell whether a username exists. Always false. */
bool iot_password_verify_dummy(const iot_config *cfg, const char *pw);
/* True when hash was made with other cost settings than cfg's. */
bool iot_password_needs_rehash(const iot_config *cfg, const char *hash);

#endif
