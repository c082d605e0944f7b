/* redis_url.c — IOTFLOW_REDIS_URL: redis://[[user]:password@]host[:port][/db]
 * or unix:///path[?db=N]. */
#include "cache/redis_url.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* %XX with exactly two hex digits is a byte; any other '%' stays as it is. */
static char *pct_decode(const char *s, size_t n)
{
	char *out = malloc(n + 1);
	size_t j = 0;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		if (s[i] == '%' && i + 2 < n && (hi = hex_digit(s[i + 1])) >= 0 &&
		    (lo = hex_digit(s[i + 2])) >= 0) {
			out[j++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[j++] = s[i];
		}
	}
	out[j] = '\0';
	return out;
}

static int parse_db(const char *s, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (end == s || *end || v < 0 || v > 1000)
		return -1;
	*out = (int)v;
	return 0;
}

int iot__redis_url_parse(const char *url, struct iot__redis_url *c, iot_error *err)
{
	c->port = 6379;
	if (!strncmp(url, "unix://", 7)) {
		const char *p = url + 7, *q = strchr(p, '?');
		if (*p != '/')
			return iot_error_set(err, IOT_USAGE, "redis_url: unix:// needs an absolute socket path");
		c->path = q ? strndup(p, (size_t)(q - p)) : strdup(p);
		if (q && (strncmp(q, "?db=", 4) || parse_db(q + 4, &c->dbnum) < 0))
			return iot_error_set(err, IOT_USAGE, "redis_url: expected unix:///path[?db=N]");
		return c->path ? 0 : iot_error_set(err, IOT_INTERNAL, "out of memory");
	}
	if (strncmp(url, "redis://", 8))
		return iot_error_set(err, IOT_USAGE, "redis_url: expected redis://[:password@]host:port[/db] or unix:///path");
	const char *p = url + 8, *at = strrchr(p, '@');
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		if (colon) {
			if (colon > p)
				c->user = pct_decode(p, (size_t)(colon - p));
			c->password = pct_decode(colon + 1, (size_t)(at - colon - 1));
		} else {
			c->password = pct_decode(p, (size_t)(at - p));
		}
		p = at + 1;
	}
	const char *slash = strchr(p, '/');
	size_t hostport = slash ? (size_t)(slash - p) : strlen(p);
	const char *colon = memchr(p, ':', hostport);
	size_t hl = colon ? (size_t)(colon - p) : hostport;
	if (hl == 0)
		return iot_error_set(err, IOT_USAGE, "redis_url: missing host");
	c->host = strndup(p, hl);
	if (colon) {
		char port[8] = "";
		size_t pl = hostport - hl - 1;
		char *end;
		if (pl == 0 || pl >= sizeof port)
			return iot_error_set(err, IOT_USAGE, "redis_url: invalid port");
		memcpy(port, colon + 1, pl);
		long v = strtol(port, &end, 10);
		if (*end || v < 1 || v > 65535)
			return iot_error_set(err, IOT_USAGE, "redis_url: invalid port");
		c->port = (int)v;
	}
	if (slash && slash[1] && parse_db(slash + 1, &c->dbnum) < 0)
		return iot_error_set(err, IOT_USAGE, "redis_url: invalid database number");
	return c->host ? 0 : iot_error_set(err, IOT_INTERNAL, "out of memory");
}

static void wipe_free(char *s)
{
	if (s) {
		sodium_memzero(s, strlen(s));
		free(s);
	}
}

void iot__redis_url_free(struct iot__redis_url *u)
{
	free(u->host);
	free(u->path);
	wipe_free(u->user);
	wipe_free(u->password);
	memset(u, 0, sizeof *u);
}
