/* resp.c — a command's Redis protocol text (RESP) written here rather than
 * by hiredis (cache_int.h says why). */
#include "cache/cache_int.h"

#include <string.h>

static char *put_len(char *p, char kind, size_t n)
{
	char d[24];
	int k = 0;
	do
		d[k++] = (char)('0' + n % 10);
	while ((n /= 10));
	*p++ = kind;
	while (k)
		*p++ = d[--k];
	*p++ = '\r';
	*p++ = '\n';
	return p;
}

int iot__cache_append(redisContext *ctx, int argc, const char **argv, const size_t *lens)
{
	char buf[1024];
	size_t need = 24;
	for (int i = 0; i < argc; i++)
		need += lens[i] + 26;
	if (need > sizeof buf)
		return redisAppendCommandArgv(ctx, argc, argv, lens);
	char *p = put_len(buf, '*', (size_t)argc);
	for (int i = 0; i < argc; i++) {
		p = put_len(p, '$', lens[i]);
		memcpy(p, argv[i], lens[i]);
		p += lens[i];
		*p++ = '\r';
		*p++ = '\n';
	}
	return redisAppendFormattedCommand(ctx, buf, (size_t)(p - buf));
}
