/* error.h — how the library reports failure without printing or exiting. */
#ifndef IOT_ERROR_H
#define IOT_ERROR_H

#include <stddef.h>

/* Outcome kinds; their values are the exit codes of every program (DESIGN §2). */
enum iot_status {
	IOT_OK = 0,
	IOT_REJECTED = 1,     /* ran, but some input was rejected */
	IOT_USAGE = 2,        /* bad usage / invalid argument */
	IOT_NOT_FOUND = 3,
	IOT_DENIED = 4,       /* permission denied / authentication failed */
	IOT_UNAVAILABLE = 5,  /* backend unavailable after retries */
	IOT_INTERNAL = 6
};

#define IOT_ERRMSG_MAX 512

typedef struct iot_error {
	enum iot_status status;
	char msg[IOT_ERRMSG_MAX];
} iot_error;

/* Record an error (printf-style) and return -1 so callers can `return iot_error_set(...)`. */
int iot_error_set(iot_error *err, enum iot_status status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void iot_error_clear(iot_error *err);
const char *iot_status_name(enum iot_status status);

#endif
