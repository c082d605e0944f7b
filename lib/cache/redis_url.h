/* redis_url.h — the parts of a Redis URL (internal to the cache room). */
#ifndef IOT_REDIS_URL_H
#define IOT_REDIS_URL_H

#include "base/error.h"

struct iot__redis_url {
	char *host, *path, *user, *password;  /* path: a unix socket, else host */
	int port, dbnum;
};

/* redis://[[user]:password@]host[:port][/db] (port 6379 by default) or
 * unix:///path[?db=N]; user and password %XX-decoded. 0, or -1 with
 * IOT_USAGE naming what is wrong (never echoing the password). What was
 * filled before a failure is freed by iot__redis_url_free. */
int iot__redis_url_parse(const char *url, struct iot__redis_url *u, iot_error *err);
/* Frees the strings (the password wiped first). */
void iot__redis_url_free(struct iot__redis_url *u);

#endif
