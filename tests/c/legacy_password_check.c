/* legacy_password_check — lib/auth/legacy_password.h for
 * tests/migrate_flask_password.bats, against python3's hashlib:
 *   legacy_password_check pbkdf2 ITERATIONS SALT_HEX LENGTH   < password
 *       prints PBKDF2-HMAC-SHA256 in hex
 *   legacy_password_check verify HASH                         < password
 *       exit 0 when the password matches, 1 when not; "supported" or
 *       "unsupported" on stdout
 * The password is stdin as it is (no newline stripped). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/keys.h"
#include "auth/legacy_password.h"

static char pw[4096];

int main(int argc, char **argv)
{
	size_t n = fread(pw, 1, sizeof pw - 1, stdin);
	pw[n] = '\0';
	if (sodium_init() < 0)
		return 2;
	if (argc == 5 && !strcmp(argv[1], "pbkdf2")) {
		unsigned char salt[256], out[256];
		size_t saltlen = 0, len = strtoul(argv[4], NULL, 10);
		if (len > sizeof out ||
		    sodium_hex2bin(salt, sizeof salt, argv[3], strlen(argv[3]), NULL, &saltlen, NULL) != 0)
			return 2;
		iot_pbkdf2_sha256((const unsigned char *)pw, n, salt, saltlen, strtoul(argv[2], NULL, 10), out, len);
		for (size_t i = 0; i < len; i++)
			printf("%02x", out[i]);
		putchar('\n');
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "verify")) {
		puts(iot_legacy_password_supported(argv[2]) ? "supported" : "unsupported");
		/* Through the one entry point logins use. */
		return iot_password_verify(argv[2], pw) ? 0 : 1;
	}
	fprintf(stderr, "usage: legacy_password_check pbkdf2 ITER SALT_HEX LEN | verify HASH  < password\n");
	return 2;
}
