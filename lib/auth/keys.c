/* keys.c — random secrets, their digests, and Argon2id passwords. */
#include "auth/keys.h"
#include "auth/legacy_password.h"

#include <sodium.h>
#include <string.h>

static int sodium_ready(iot_error *err)
{
	if (sodium_init() < 0)
		return iot_error_set(err, IOT_INTERNAL, "unable to initialise libsodium");
	return 0;
}

int iot_hasher_init(iot_hasher *h, const iot_config *cfg, iot_error *err)
{
	memset(h, 0, sizeof *h);
	if (sodium_ready(err) < 0)
		return -1;
	const char *pepper = iot_config_get(cfg, "key_pepper");
	if (pepper && *pepper) {
		crypto_generichash(h->key, sizeof h->key, (const unsigned char *)pepper,
		                   strlen(pepper), NULL, 0);
		h->keyed = true;
	}
	return 0;
}

void iot_hasher_wipe(iot_hasher *h)
{
	sodium_memzero(h, sizeof *h);
}

void iot_secret_digest(const iot_hasher *h, const char *secret, size_t len,
                       unsigned char out[IOT_DIGEST_LEN])
{
	crypto_generichash(out, IOT_DIGEST_LEN, (const unsigned char *)secret, len,
	                   h->keyed ? h->key : NULL, h->keyed ? sizeof h->key : 0);
}

int iot_secret_new(const char *kind, char *out, char *display, iot_error *err)
{
	if (sodium_ready(err) < 0)
		return -1;
	unsigned char raw[32];
	char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
	randombytes_buf(raw, sizeof raw);
	sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof raw);
	size_t kl = strlen(kind);
	memcpy(out, kind, kl);
	memcpy(out + kl, b64, 43);
	out[kl + 43] = '\0';
	memcpy(display, out, kl + 8);
	display[kl + 8] = '\0';
	sodium_memzero(b64, sizeof b64);
	return 0;
}

void iot_digest_param(const unsigned char d[IOT_DIGEST_LEN], char out[IOT_DIGEST_PARAM_LEN])
{
	out[0] = '\\';
	out[1] = 'x';
	sodium_bin2hex(out + 2, IOT_DIGEST_PARAM_LEN - 2, d, IOT_DIGEST_LEN);
}

int iot_digest_from_param(const char *text, unsigned char out[IOT_DIGEST_LEN])
{
	size_t bin_len = 0;
	if (!text || text[0] != '\\' || text[1] != 'x' || strlen(text) != 2 + 2 * IOT_DIGEST_LEN)
		return -1;
	if (sodium_hex2bin(out, IOT_DIGEST_LEN, text + 2, 2 * IOT_DIGEST_LEN, NULL, &bin_len, NULL) != 0 ||
	    bin_len != IOT_DIGEST_LEN)
		return -1;
	return 0;
}

static void pw_cost(const iot_config *cfg, unsigned long long *ops, size_t *mem)
{
	*ops = (unsigned long long)iot_config_get_long(cfg, "password_ops");
	*mem = (size_t)iot_config_get_long(cfg, "password_mem_kib") * 1024;
}

int iot_password_check(const char *pw, iot_error *err)
{
	size_t n = strlen(pw);
	if (n < IOT_PASSWORD_MIN)
		return iot_error_set(err, IOT_USAGE, "password: shorter than %d bytes", IOT_PASSWORD_MIN);
	if (n > IOT_PASSWORD_MAX)
		return iot_error_set(err, IOT_USAGE, "password: longer than %d bytes", IOT_PASSWORD_MAX);
	return 0;
}

int iot_password_hash(const iot_config *cfg, const char *pw, char *out, iot_error *err)
{
	if (iot_password_check(pw, err) < 0 || sodium_ready(err) < 0)
		return -1;
	unsigned long long ops;
	size_t mem;
	pw_cost(cfg, &ops, &mem);
	_Static_assert(IOT_PWHASH_LEN >= crypto_pwhash_STRBYTES, "IOT_PWHASH_LEN too small");
	if (crypto_pwhash_str_alg(out, pw, strlen(pw), ops, mem, crypto_pwhash_ALG_ARGON2ID13) != 0)
		return iot_error_set(err, IOT_INTERNAL, "unable to hash password (out of memory?)");
	return 0;
}

bool iot_password_verify(const char *hash, const char *pw)
{
	if (!hash || !pw || sodium_init() < 0)
		return false;
	if (strncmp(hash, "$argon2", 7) != 0)
		return iot_legacy_password_verify(hash, pw);
	return crypto_pwhash_str_verify(hash, pw, strlen(pw)) == 0;
}

bool iot_password_verify_dummy(const iot_config *cfg, const char *pw)
{
	if (!pw || sodium_init() < 0)
		return false;
	unsigned long long ops;
	size_t mem;
	pw_cost(cfg, &ops, &mem);
	/* A well-formed Argon2id string with the current cost, a random salt
	 * and a random "hash": verifying against it costs what a real verify
	 * costs, and can never succeed. */
	unsigned char salt[crypto_pwhash_SALTBYTES], tag[32];
	char salt64[sodium_base64_ENCODED_LEN(sizeof salt, sodium_base64_VARIANT_ORIGINAL_NO_PADDING)];
	char tag64[sodium_base64_ENCODED_LEN(sizeof tag, sodium_base64_VARIANT_ORIGINAL_NO_PADDING)];
	char dummy[crypto_pwhash_STRBYTES];
	randombytes_buf(salt, sizeof salt);
	randombytes_buf(tag, sizeof tag);
	sodium_bin2base64(salt64, sizeof salt64, salt, sizeof salt, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
	sodium_bin2base64(tag64, sizeof tag64, tag, sizeof tag, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
	int n = snprintf(dummy, sizeof dummy, "$argon2id$v=19$m=%zu,t=%llu,p=1$%s$%s",
	                 mem / 1024, ops, salt64, tag64);
	if (n < 0 || (size_t)n >= sizeof dummy)
		return false;
	int wrong = crypto_pwhash_str_verify(dummy, pw, strlen(pw));
	sodium_memzero(dummy, sizeof dummy);
	return wrong == 0 && false;
}

bool iot_password_needs_rehash(const iot_config *cfg, const char *hash)
{
	unsigned long long ops;
	size_t mem;
	if (strncmp(hash, "$argon2id$", 10) != 0)
		return true;  /* an imported Flask hash: Argon2id at the first login */
	pw_cost(cfg, &ops, &mem);
	return crypto_pwhash_str_needs_rehash(hash, ops, mem) != 0;
}

int iot_secret_issue(const iot_config *cfg, const char *kind, iot_issued_secret *out, iot_error *err)
{
	iot_hasher h;
	unsigned char d[IOT_DIGEST_LEN];
	if (iot_hasher_init(&h, cfg, err) < 0 || iot_secret_new(kind, out->secret, out->display, err) < 0)
		return -1;
	iot_secret_digest(&h, out->secret, strlen(out->secret), d);
	iot_hasher_wipe(&h);
	iot_digest_param(d, out->digest_param);
	return 0;
}
