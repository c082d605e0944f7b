/* json_util.c — bounded JSON parsing and NDJSON output on jansson. */
#include "base/json_util.h"

#include <stdbool.h>
#include <string.h>

int iot_json_depth(const char *buf, size_t len, int max)
{
	int depth = 0, deepest = 0;
	bool in_str = false;
	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > deepest) {
				deepest = depth;
				if (deepest > max)
					return -1;
			}
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return deepest;
}

json_t *iot_json_parse(const char *buf, size_t len, int max_depth, iot_error *err)
{
	/* jansson's own limit is 2048 levels; ours is far lower, and checked
	 * before parsing so a hostile line costs one linear scan. */
	if (iot_json_depth(buf, len, max_depth) < 0) {
		iot_error_set(err, IOT_REJECTED, "nesting deeper than %d levels", max_depth);
		return NULL;
	}
	json_error_t je;
	json_t *v = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!v) {
		if (strstr(je.text, "duplicate object key"))
			iot_error_set(err, IOT_REJECTED, "%s", je.text);
		else
			iot_error_set(err, IOT_REJECTED, "invalid JSON at column %d: %s", je.column, je.text);
	}
	return v;
}

int iot_json_print(FILE *f, const json_t *v)
{
	if (json_dumpf(v, f, JSON_COMPACT) < 0)
		return -1;
	if (fputc('\n', f) == EOF || fflush(f) == EOF)
		return -1;
	return 0;
}

const char *iot_json_str(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}
