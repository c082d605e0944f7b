/* sockets.c — iot-httpd's three ways to get connections. */
#include "sockets.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "base/error.h"
#include "cli/cli.h"

#define DEFAULT_PORT "5000"

/* "[ADDR:]PORT", "[V6ADDR]:PORT", ":PORT" -> host (NULL: any) and port. */
static int split_address(const char *spec, char *host, size_t hsize, char *port, size_t psize)
{
	const char *colon;
	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');
		if (!close || close[1] != ':' || (size_t)(close - spec - 1) >= hsize)
			return -1;
		snprintf(host, hsize, "%.*s", (int)(close - spec - 1), spec + 1);
		colon = close + 1;
	} else if ((colon = strrchr(spec, ':'))) {
		if ((size_t)(colon - spec) >= hsize || memchr(spec, ':', (size_t)(colon - spec)))
			return -1; /* a bare IPv6 address needs brackets */
		snprintf(host, hsize, "%.*s", (int)(colon - spec), spec);
	} else {
		host[0] = '\0';
		colon = spec - 1;
	}
	const char *p = colon + 1;
	if (!*p || strlen(p) >= psize || strspn(p, "0123456789") != strlen(p))
		return -1;
	snprintf(port, psize, "%s", p);
	return 0;
}

static int listen_on(const char *spec, int *out)
{
	char host[256], port[16];
	if (split_address(spec, host, sizeof host, port, sizeof port) < 0)
		return iot_usage_error("invalid --listen '%s' ([ADDR:]PORT, [IPV6]:PORT)", spec);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *ai = NULL;
	int gai = getaddrinfo(host[0] ? host : "0.0.0.0", port, &hints, &ai);
	if (gai != 0) {
		iot_fatal("unable to listen on %s: %s", spec, gai_strerror(gai));
		return IOT_USAGE;
	}
	int fd = -1, err = 0;
	for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, a->ai_addr, a->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
			err = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(ai);
	if (fd < 0) {
		iot_fatal("unable to listen on %s: %s", spec, strerror(err));
		return IOT_USAGE;
	}
	*out = fd;
	return 0;
}

static bool same_file(int a, int b)
{
	struct stat sa, sb;
	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* inetd hands the connection over as fds 0 and 1, often 2 as well: the
 * server gets its own descriptor, and 0-2 are pointed at /dev/null where
 * they are that connection, so nothing but HTTP is ever written to it. */
static int take_stdin(struct endpoint *ep)
{
	int fd = fcntl(0, F_DUPFD_CLOEXEC, 3);
	if (fd < 0) {
		iot_fatal("unable to take over standard input: %s", strerror(errno));
		return IOT_INTERNAL;
	}
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	for (int i = 2; i >= 0 && null >= 0; i--)
		if (same_file(i, fd))
			dup2(null, i);
	if (null > 2)
		close(null);
	ep->fd = fd;
	ep->connected = true;
	return 0;
}

int endpoint_open(bool inetd, const char *listen, struct endpoint *ep)
{
	ep->fd = -1;
	ep->connected = false;
	if (inetd)
		return take_stdin(ep);
	if (listen)
		return listen_on(listen, &ep->fd);
	int n = sd_listen_fds(1);
	if (n < 0) {
		iot_fatal("unable to take the sockets systemd passed: %s", strerror(-n));
		return IOT_INTERNAL;
	}
	if (n == 0)
		return listen_on(DEFAULT_PORT, &ep->fd);
	if (n > 1)
		iot_warn("systemd passed %d sockets: serving the first (fd %d) only", n, SD_LISTEN_FDS_START);
	int fd = SD_LISTEN_FDS_START;
	if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) > 0) {
		ep->fd = fd;
	} else if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 0) > 0) {
		ep->fd = fd;            /* Accept=yes: one connection */
		ep->connected = true;
	} else {
		iot_fatal("fd %d from systemd is not a stream socket", fd);
		return IOT_USAGE;
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	return 0;
}

void endpoint_close(struct endpoint *ep)
{
	if (ep->fd >= 0)
		close(ep->fd);
	ep->fd = -1;
}
