/* legacy_password.h — password hashes imported from the Flask service
 * (iot-migrate import-flask), verified until the first successful login
 * replaces them with Argon2id (iot_password_needs_rehash is true for them).
 *
 * Accepted formats, all compared in constant time:
 *   pbkdf2:sha256:ITER$SALT$HEX     werkzeug generate_password_hash (2.x
 *                                   default): PBKDF2-HMAC-SHA256 over the
 *                                   password with SALT's bytes, 32-byte key
 *                                   (HEX: 64 lower-case hex digits)
 *   scrypt:N:R:P$SALT$HEX           werkzeug >= 3.0: scrypt with SALT's
 *                                   bytes, 64-byte key (128 hex digits)
 *   pbkdf2_sha256$ITER$B64SALT$B64KEY  the IoTDB revision's own format:
 *                                   PBKDF2-HMAC-SHA256 with the decoded salt
 * Limits (so a hash from the old database cannot cost a login minutes):
 * ITER 1..10,000,000; N a power of two 2..2^20, R 1..32, P 1..16, and
 * 128*N*R*P at most 256 MiB; SALT 1..128 bytes. bcrypt ($2a$/$2b$/$2y$)
 * and every other format are not accepted. */
#ifndef IOT_LEGACY_PASSWORD_H
#define IOT_LEGACY_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

/* True when hash is in one of the formats above (shape and limits only). */
bool iot_legacy_password_supported(const char *hash);
/* True when pw matches hash; false for a mismatch or an unsupported hash. */
bool iot_legacy_password_verify(const char *hash, const char *pw);

/* PBKDF2-HMAC-SHA256 (RFC 8018) over libsodium's HMAC-SHA256. */
void iot_pbkdf2_sha256(const unsigned char *pw, size_t pwlen, const unsigned char *salt,
                       size_t saltlen, unsigned long iterations, unsigned char *out, size_t outlen);

#endif
