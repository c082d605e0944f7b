/* error.c — error records carried from the library up to main(). */
#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int iot_error_set(iot_error *err, enum iot_status status, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		err->status = status;
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
		/* Messages are one line: a multi-line libpq message keeps its first line. */
		char *nl = strchr(err->msg, '\n');
		if (nl)
			*nl = '\0';
	}
	return -1;
}

void iot_error_clear(iot_error *err)
{
	if (err) {
		err->status = IOT_OK;
		err->msg[0] = '\0';
	}
}

const char *iot_status_name(enum iot_status status)
{
	switch (status) {
	case IOT_OK: return "ok";
	case IOT_REJECTED: return "rejected";
	case IOT_USAGE: return "usage";
	case IOT_NOT_FOUND: return "not found";
	case IOT_DENIED: return "denied";
	case IOT_UNAVAILABLE: return "unavailable";
	case IOT_INTERNAL: return "internal error";
	}
	return "unknown";
}
