/* record_text.c — text helpers of the record decoder: reasons prefixed,
 * and compact JSON text for metadata and JSON values (iot_json_compact),
 * with any key or token in it masked (keys.h).
 * Input quoted safely in messages is base's iot_show (json_util.c). */
#include "telemetry/record_int.h"

#include "auth/keys.h"
#include "base/json_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int iot__rec_prefix_error(iot_error *err, const char *fmt, ...)
{
	char pre[64];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof pre, fmt, ap);
	va_end(ap);
	size_t pl = strlen(pre), ml = strlen(err->msg);
	if (pl + ml >= sizeof err->msg)
		ml = sizeof err->msg - 1 - pl;
	memmove(err->msg + pl, err->msg, ml);
	memcpy(err->msg, pre, pl);
	err->msg[pl + ml] = '\0';
	return -1;
}

const char *iot__rec_dump_owned(struct dec *d, json_t *v, const char *name)
{
	char buf[IOT_REC_TEXT_MAX];
	size_t n = iot_json_compact(v, buf, sizeof buf);
	if (n > IOT_REC_TEXT_MAX) {
		if (name)
			reject(d, "measurement \"%s\": JSON value is %zu bytes, over the limit of %d",
			       name, n, IOT_REC_TEXT_MAX);
		else
			reject(d, "metadata is %zu bytes of JSON, over the limit of %d", n, IOT_REC_TEXT_MAX);
		return NULL;
	}
	struct owned *o = malloc(sizeof *o + n + 1);
	if (!o) {
		iot_error_set(d->err, IOT_INTERNAL, "out of memory");
		return NULL;
	}
	memcpy(o->text, buf, n);
	o->text[n] = '\0';
	/* A key or token pasted anywhere into metadata or a JSON value (the
	 * Flask scripts copy theirs into the metadata) is never stored. */
	iot_secret_mask(o->text);
	o->next = d->st->owned;
	d->st->owned = o;
	return o->text;
}
