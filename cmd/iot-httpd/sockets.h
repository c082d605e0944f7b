/* sockets.h — where iot-httpd's connections come from: systemd's socket
 * (fd 3: listening, or one connection of an Accept=yes unit), inetd's
 * connection on fd 0, or a socket of its own (--listen). */
#ifndef IOT_HTTPD_SOCKETS_H
#define IOT_HTTPD_SOCKETS_H

#include <stdbool.h>

struct endpoint {
	int fd;
	bool connected;   /* one connection to serve, not a listener */
};

/* Returns 0 or an exit code (the reason printed). */
int endpoint_open(bool inetd, const char *listen, struct endpoint *ep);
void endpoint_close(struct endpoint *ep);

#endif
