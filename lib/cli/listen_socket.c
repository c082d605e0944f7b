/* listen_socket.c — a listening TCP socket from "[ADDR:]PORT" (listen_socket.h). */
#include "cli/listen_socket.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/error.h"
#include "cli/cli.h"

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

int iot_listen_socket(const char *option, const char *spec, int *out)
{
	char host[256], port[16];
	if (split_address(spec, host, sizeof host, port, sizeof port) < 0)
		return iot_usage_error("invalid --%s '%s' ([ADDR:]PORT, [IPV6]:PORT)", option, spec);
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

