/* field_check.c — UTF-8 and length checks. */
#include "base/field_check.h"

#include <string.h>

bool iot_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	while (i < len) {
		unsigned char c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t n;
		unsigned int cp;
		if (c >= 0xC2 && c <= 0xDF) { n = 1; cp = c & 0x1F; }
		else if (c >= 0xE0 && c <= 0xEF) { n = 2; cp = c & 0x0F; }
		else if (c >= 0xF0 && c <= 0xF4) { n = 3; cp = c & 0x07; }
		else return false;
		if (i + n >= len)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += n + 1;
	}
	return true;
}

size_t iot_utf8_length(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			n++;
	return n;
}

int iot_field_check(const char *field, const char *s, size_t min, size_t max,
                    bool allow_ctrl, iot_error *err)
{
	size_t len = strlen(s);
	if (!iot_utf8_valid(s, len))
		return iot_error_set(err, IOT_USAGE, "%s: invalid UTF-8", field);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		bool ctrl = c < 0x20 || c == 0x7F;
		if (ctrl && !(allow_ctrl && (c == '\n' || c == '\t' || c == '\r')))
			return iot_error_set(err, IOT_USAGE, "%s: control characters are not allowed", field);
	}
	size_t chars = iot_utf8_length(s, len);
	if (chars < min)
		return iot_error_set(err, IOT_USAGE, min == 1 ? "%s: must not be empty"
		                                              : "%s: shorter than %zu characters", field, min);
	if (chars > max)
		return iot_error_set(err, IOT_USAGE, "%s: longer than %zu characters", field, max);
	return 0;
}

int iot_args_utf8_check(int argc, char **argv, iot_error *err)
{
	for (int i = 0; i < argc; i++)
		if (!iot_utf8_valid(argv[i], strlen(argv[i])))
			return iot_error_set(err, IOT_USAGE, "argument %d: invalid UTF-8", i + 1);
	return 0;
}
