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
#include "cli/listen_socket.h"

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
		return iot_listen_socket("listen", listen, &ep->fd);
	int n = sd_listen_fds(1);
	if (n < 0) {
		iot_fatal("unable to take the sockets systemd passed: %s", strerror(-n));
		return IOT_INTERNAL;
	}
	if (n == 0)
		return iot_listen_socket("listen", "5000", &ep->fd); /* the Flask default port */
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
