/* http_body.c — the JSON object body of a device route, read under the
 * limits (depth, duplicate keys, types), apart from any backend: the
 * routes and the fuzz target (tests/fuzz/fuzz_http.c) share it. */
#include "http/http.h"
#include "base/json_util.h"

#include <stdio.h>
#include <string.h>

json_t *iot_http_body_object(const char *body, size_t len, int max_depth, char *why, size_t whylen)
{
	iot_error err;
	json_t *v;
	if (!body || !len) {
		snprintf(why, whylen, "Request body must contain valid JSON");
		return NULL;
	}
	/* It checks the nesting first; its reason is one printable line that
	 * repeats none of the body. */
	if (!(v = iot_json_parse(body, len, max_depth, &err))) {
		snprintf(why, whylen, "Request body must contain valid JSON (%s)", err.msg);
		return NULL;
	}
	if (!json_is_object(v) || !json_object_size(v)) {
		json_decref(v);
		snprintf(why, whylen, "Request body must be a non-empty JSON object");
		return NULL;
	}
	return v;
}

int iot_http_str_member(const json_t *obj, const char *key, const char **out)
{
	json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
		return -1;
	*out = json_string_value(v);
	return 0;
}
