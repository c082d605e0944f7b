/* cache_int.h — what the files of lib/cache share: the connection of a
 * handle when it may be used, its key prefix, pipelined replies. */
#ifndef IOT_CACHE_INT_H
#define IOT_CACHE_INT_H

#include <hiredis/hiredis.h>

#include "cache/cache.h"

/* The connection when c is named and connected (connecting first when a
 * retry is due), else NULL: then nothing may be read or written. */
redisContext *iot__cache_ctx(iot_cache *c);
/* "iotflow:<ns>:" */
const char *iot__cache_prefix(const iot_cache *c);
/* How long an online mark lasts, in seconds (online_window). */
long iot__cache_seen_ttl(const iot_cache *c);
/* redisAppendCommandArgv, with the protocol text written here: hiredis
 * builds it with sdscatfmt, some 3,800 instructions for a 5-argument
 * command, and the write path sends two for every device of a batch. */
int iot__cache_append(redisContext *ctx, int argc, const char **argv, const size_t *lens);
/* Read n pipelined replies into r[]; on an I/O error all are freed, the
 * connection is marked down and -1 returned. */
int iot__cache_replies(iot_cache *c, redisReply **r, size_t n);

#endif
