/* secret_format.c — what keys and tokens look like (keys.h), apart from
 * libsodium: the request parser (lib/http/http_parse.c) refuses them in
 * URLs, and its unit test and fuzz target link no libsodium. */
#include "auth/keys.h"

#include <string.h>

bool iot_secret_well_formed(const char *kind, const char *s, size_t len)
{
	size_t kl = strlen(kind);
	if (len != IOT_SECRET_LEN || memcmp(s, kind, kl) != 0)
		return false;
	for (size_t i = kl; i < len; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

bool iot_legacy_key_well_formed(const char *s, size_t len)
{
	if (len < IOT_LEGACY_KEY_MIN || len > IOT_LEGACY_KEY_MAX)
		return false;
	/* Text that starts like a key or token of ours is held to that format. */
	if (!memcmp(s, IOT_DEVICE_KEY_PREFIX, 5) || !memcmp(s, IOT_USER_TOKEN_PREFIX, 5))
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      (c && strchr("-_.~+/=", c))))
			return false;
	}
	return true;
}

bool iot_device_key_well_formed(const char *s, size_t len)
{
	return iot_secret_well_formed(IOT_DEVICE_KEY_PREFIX, s, len) || iot_legacy_key_well_formed(s, len);
}

static const char *const kinds[] = { IOT_DEVICE_KEY_PREFIX, IOT_USER_TOKEN_PREFIX };

static bool secret_at(const char *s)
{
	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
		if (s[0] == 'i' && iot_secret_well_formed(kinds[k], s, IOT_SECRET_LEN))
			return true;
	return false;
}

bool iot_secret_in_text(const char *s, size_t len)
{
	for (size_t i = 0; i + IOT_SECRET_LEN <= len; i++)
		if (secret_at(s + i))
			return true;
	return false;
}

int iot_secret_mask(char *s)
{
	size_t len = strlen(s), kl = strlen(IOT_DEVICE_KEY_PREFIX), ml = strlen(IOT_SECRET_MASK);
	_Static_assert(sizeof IOT_SECRET_MASK - 1 < IOT_SECRET_LEN - 5, "the mask must be shorter than a secret");
	int n = 0;
	for (size_t i = 0; i + IOT_SECRET_LEN <= len; i++) {
		if (!secret_at(s + i))
			continue;
		memcpy(s + i + kl, IOT_SECRET_MASK, ml);
		memmove(s + i + kl + ml, s + i + IOT_SECRET_LEN, len - i - IOT_SECRET_LEN + 1);
		len -= IOT_SECRET_LEN - kl - ml;
		i += kl + ml - 1;
		n++;
	}
	return n;
}
