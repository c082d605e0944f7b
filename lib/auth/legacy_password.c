/* legacy_password.c — werkzeug and IoTDB-revision password hashes
 * (legacy_password.h). */
#include "auth/legacy_password.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ITER_MAX 10000000UL
#define SALT_MAX 128
#define KEY_MAX 64
#define SCRYPT_MEM_MAX (256UL << 20)

void iot_pbkdf2_sha256(const unsigned char *pw, size_t pwlen, const unsigned char *salt,
                       size_t saltlen, unsigned long iterations, unsigned char *out, size_t outlen)
{
	crypto_auth_hmacsha256_state keyed, st;
	unsigned char u[32], t[32], be[4];
	/* The password's HMAC pads are set up once; every iteration copies them. */
	crypto_auth_hmacsha256_init(&keyed, pw, pwlen);
	for (uint32_t block = 1; outlen > 0; block++) {
		be[0] = (unsigned char)(block >> 24);
		be[1] = (unsigned char)(block >> 16);
		be[2] = (unsigned char)(block >> 8);
		be[3] = (unsigned char)block;
		st = keyed;
		crypto_auth_hmacsha256_update(&st, salt, saltlen);
		crypto_auth_hmacsha256_update(&st, be, sizeof be);
		crypto_auth_hmacsha256_final(&st, u);
		memcpy(t, u, sizeof t);
		for (unsigned long i = 1; i < iterations; i++) {
			st = keyed;
			crypto_auth_hmacsha256_update(&st, u, sizeof u);
			crypto_auth_hmacsha256_final(&st, u);
			for (size_t k = 0; k < sizeof t; k++)
				t[k] ^= u[k];
		}
		size_t n = outlen < sizeof t ? outlen : sizeof t;
		memcpy(out, t, n);
		out += n;
		outlen -= n;
	}
	sodium_memzero(&keyed, sizeof keyed);
	sodium_memzero(&st, sizeof st);
	sodium_memzero(u, sizeof u);
	sodium_memzero(t, sizeof t);
}

/* A decimal number in [min, max] from s up to the character stop. */
static const char *number(const char *s, char stop, unsigned long min, unsigned long max,
                          unsigned long *out)
{
	unsigned long v = 0;
	const char *p = s;
	while (*p >= '0' && *p <= '9' && p - s < 9)
		v = v * 10 + (unsigned long)(*p++ - '0');
	if (p == s || *p != stop || v < min || v > max)
		return NULL;
	*out = v;
	return p + 1;
}

enum kind { K_NONE, K_PBKDF2, K_SCRYPT, K_PBKDF2_B64 };

struct parsed {
	enum kind kind;
	unsigned long iter, n, r, p;
	unsigned char salt[SALT_MAX], key[KEY_MAX];
	size_t saltlen, keylen;
};

static bool hex_key(const char *s, size_t want, struct parsed *h)
{
	size_t len = strlen(s), got = 0;
	if (len != 2 * want || strspn(s, "0123456789abcdef") != len)
		return false;
	if (sodium_hex2bin(h->key, sizeof h->key, s, len, NULL, &got, NULL) != 0 || got != want)
		return false;
	h->keylen = want;
	return true;
}

/* werkzeug: "<method>$<salt>$<hex>", the salt taken as its text's bytes. */
static bool werkzeug_rest(const char *p, size_t keylen, struct parsed *h)
{
	const char *dollar = strchr(p, '$');
	if (!dollar || dollar == p || (size_t)(dollar - p) > SALT_MAX || memchr(p, '\0', (size_t)(dollar - p)))
		return false;
	h->saltlen = (size_t)(dollar - p);
	memcpy(h->salt, p, h->saltlen);
	return hex_key(dollar + 1, keylen, h);
}

static bool b64(const char *s, size_t len, unsigned char *out, size_t cap, size_t *got)
{
	return sodium_base642bin(out, cap, s, len, NULL, got, NULL, sodium_base64_VARIANT_ORIGINAL) == 0 &&
	       *got > 0;
}

static bool parse(const char *hash, struct parsed *h)
{
	const char *p;
	memset(h, 0, sizeof *h);
	if (!hash || strlen(hash) > 512)
		return false;
	if (!strncmp(hash, "pbkdf2:sha256:", 14)) {
		if (!(p = number(hash + 14, '$', 1, ITER_MAX, &h->iter)) || !werkzeug_rest(p, 32, h))
			return false;
		h->kind = K_PBKDF2;
		return true;
	}
	if (!strncmp(hash, "scrypt:", 7)) {
		if (!(p = number(hash + 7, ':', 2, 1UL << 20, &h->n)) || (h->n & (h->n - 1)) ||
		    !(p = number(p, ':', 1, 32, &h->r)) || !(p = number(p, '$', 1, 16, &h->p)) ||
		    128UL * h->n * h->r * h->p > SCRYPT_MEM_MAX || !werkzeug_rest(p, 64, h))
			return false;
		h->kind = K_SCRYPT;
		return true;
	}
	if (!strncmp(hash, "pbkdf2_sha256$", 14)) {
		const char *salt = number(hash + 14, '$', 1, ITER_MAX, &h->iter), *key;
		if (!salt || !(key = strchr(salt, '$')) || strchr(key + 1, '$') ||
		    !b64(salt, (size_t)(key - salt), h->salt, sizeof h->salt, &h->saltlen) ||
		    !b64(key + 1, strlen(key + 1), h->key, sizeof h->key, &h->keylen))
			return false;
		h->kind = K_PBKDF2_B64;
		return true;
	}
	return false;
}

bool iot_legacy_password_supported(const char *hash)
{
	struct parsed h;
	bool ok = parse(hash, &h);
	sodium_memzero(&h, sizeof h);
	return ok;
}

bool iot_legacy_password_verify(const char *hash, const char *pw)
{
	struct parsed h;
	unsigned char got[KEY_MAX];
	bool ok = false;
	if (!pw || sodium_init() < 0 || !parse(hash, &h))
		goto out;
	size_t pwlen = strlen(pw);
	if (h.kind == K_SCRYPT) {
		if (crypto_pwhash_scryptsalsa208sha256_ll((const uint8_t *)pw, pwlen, h.salt, h.saltlen,
		                                          h.n, (uint32_t)h.r, (uint32_t)h.p, got, h.keylen) != 0)
			goto out;
	} else {
		iot_pbkdf2_sha256((const unsigned char *)pw, pwlen, h.salt, h.saltlen, h.iter, got, h.keylen);
	}
	ok = sodium_memcmp(got, h.key, h.keylen) == 0;
out:
	sodium_memzero(&h, sizeof h);
	sodium_memzero(got, sizeof got);
	return ok;
}
