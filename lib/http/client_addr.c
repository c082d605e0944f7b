/* client_addr.c — whom a request is from, for what goes by client address
 * (the enrollment rate limit, /metrics for local clients): the peer's
 * address, or, when the peer is a trusted proxy (the trusted_proxies
 * setting), the address its X-Forwarded-For names. Without the setting
 * the header is ignored: anyone can send it. Behind a reverse proxy every
 * request comes from the proxy, so all clients would share one rate limit
 * (one client could use up everybody's), and a proxy on the same host
 * would make every client local.
 *
 * X-Forwarded-For is read from the right: each proxy appends the address
 * it heard from, so the entries a trusted proxy added come last; the first
 * entry from the right that is not a trusted proxy is the client (what a
 * client wrote itself is further left, and never read). Every such header
 * line counts, in order. A request from a trusted proxy without the
 * header, with an entry that is not an address where the client should
 * be, or with more of them than 2 KiB holds, is from an unknown client: it shares one rate limit bucket and is
 * not local. */
#include "http/http_int.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct http_net {
	int family;             /* AF_INET or AF_INET6 */
	unsigned char a[16];
	int bits;               /* prefix length */
};

/* ADDR or ADDR/BITS, IPv4 or IPv6 (an IPv4-mapped IPv6 address is IPv4). */
static bool parse_addr(const char *s, size_t n, int *family, unsigned char a[16])
{
	char buf[INET6_ADDRSTRLEN + 1];
	if (n == 0 || n >= sizeof buf)
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, a) == 1) {
		*family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, buf, a) != 1)
		return false;
	*family = AF_INET6;
	if (IN6_IS_ADDR_V4MAPPED((struct in6_addr *)a)) {
		memmove(a, a + 12, 4);
		*family = AF_INET;
	}
	return true;
}

static bool parse_net(const char *s, size_t n, struct http_net *net)
{
	const char *slash = memchr(s, '/', n);
	size_t alen = slash ? (size_t)(slash - s) : n;
	memset(net, 0, sizeof *net);
	if (!parse_addr(s, alen, &net->family, net->a))
		return false;
	int max = net->family == AF_INET ? 32 : 128;
	net->bits = max;
	if (slash) {
		const char *d = slash + 1, *end = s + n;
		if (d == end || end - d > 3)
			return false;
		int bits = 0;
		for (; d < end; d++) {
			if (*d < '0' || *d > '9')
				return false;
			bits = bits * 10 + (*d - '0');
		}
		if (bits > max)
			return false;
		net->bits = bits;
	}
	return true;
}

static bool in_net(const struct http_net *net, int family, const unsigned char a[16])
{
	if (family != net->family)
		return false;
	int full = net->bits / 8, rest = net->bits % 8;
	if (memcmp(a, net->a, (size_t)full))
		return false;
	if (!rest)
		return true;
	unsigned char mask = (unsigned char)(0xFF << (8 - rest));
	return (a[full] & mask) == (net->a[full] & mask);
}

static bool trusted(const iot_httpd *h, int family, const unsigned char a[16])
{
	for (size_t i = 0; i < h->nproxies; i++)
		if (in_net(&h->proxies[i], family, a))
			return true;
	return false;
}

int iot__http_proxies_parse(iot_httpd *h, const char *list, iot_error *err)
{
	h->nproxies = 0;
	if (!list)
		return 0;
	for (const char *p = list; *p;) {
		p += strspn(p, ", \t");
		size_t n = strcspn(p, ", \t");
		if (!n)
			break;
		struct http_net net;
		if (!parse_net(p, n, &net))
			return iot_error_set(err, IOT_USAGE,
			                     "the trusted_proxies setting: '%.*s' is not an address or ADDRESS/PREFIX", (int)(n > 64 ? 64 : n), p);
		struct http_net *more = realloc(h->proxies, (h->nproxies + 1) * sizeof *more);
		if (!more)
			return iot_error_set(err, IOT_INTERNAL, "out of memory");
		h->proxies = more;
		h->proxies[h->nproxies++] = net;
		p += n;
	}
	return 0;
}

struct xff { char buf[2048]; size_t len; bool over; };

static enum MHD_Result collect_xff(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	struct xff *x = cls;
	if (!key || strcasecmp(key, "X-Forwarded-For") || !value)
		return MHD_YES;
	size_t n = strlen(value);
	if (x->over || x->len + n + 2 > sizeof x->buf) {
		x->over = true;
		return MHD_NO;
	}
	if (x->len)
		x->buf[x->len++] = ',';
	memcpy(x->buf + x->len, value, n);
	x->len += n;
	x->buf[x->len] = '\0';
	return MHD_YES;
}

/* The client's address: family and bytes; false when unknown. */
static bool client(struct http_req *r, int *family, unsigned char a[16])
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!ci || !ci->client_addr)
		return false;
	const struct sockaddr *sa = ci->client_addr;
	if (sa->sa_family == AF_INET) {
		*family = AF_INET;
		memcpy(a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		*family = AF_INET6;
		memcpy(a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		if (IN6_IS_ADDR_V4MAPPED((struct in6_addr *)a)) {
			memmove(a, a + 12, 4);
			*family = AF_INET;
		}
	} else {
		return false;
	}
	if (!trusted(r->h, *family, a))
		return true;
	struct xff x = { .len = 0 };
	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, collect_xff, &x);
	if (!x.len || x.over)
		return false;
	/* From the right; the leftmost entry when all are trusted proxies. */
	size_t end = x.len;
	for (;;) {
		size_t start = end;
		while (start > 0 && x.buf[start - 1] != ',')
			start--;
		const char *s = x.buf + start;
		size_t n = end - start;
		while (n && (*s == ' ' || *s == '\t'))
			s++, n--;
		while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
			n--;
		if (!parse_addr(s, n, family, a))
			return false;
		if (!trusted(r->h, *family, a))
			return true;
		if (start == 0)
			return true;
		end = start - 1;
	}
}

bool iot__http_client_addr(struct http_req *r, char *text, size_t size)
{
	int family;
	unsigned char a[16];
	if (!client(r, &family, a) || !inet_ntop(family, a, text, (socklen_t)size)) {
		snprintf(text, size, "unknown");
		return false;
	}
	return true;
}

bool iot__http_client_loopback(struct http_req *r)
{
	int family;
	unsigned char a[16];
	if (!client(r, &family, a))
		return false;
	if (family == AF_INET)
		return a[0] == 127;
	return IN6_IS_ADDR_LOOPBACK((struct in6_addr *)a);
}
