/* http_conn.c — a request must arrive within --timeout.
 *
 * libmicrohttpd's connection timeout counts from the last byte received,
 * so a client that sent one byte of its headers every few seconds held its
 * connection for ever, and --max-connections such clients shut everyone
 * else out (slowloris). Here each connection has a deadline: its request's
 * headers are due within --timeout of the connection being ready for them
 * (opened, or the answer before sent), the body within --timeout of the
 * headers. While a request is being handled (waiting for its commit, an
 * event stream, an answer on its way) there is none. A connection past its
 * deadline is shut down (shutdown(2)): libmicrohttpd sees the stream end
 * and closes it itself, the only safe way to end one from another thread. */
#include "http/http_int.h"
#include "base/cond.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

struct http_conn {
	struct http_conn *prev, *next;
	MHD_socket fd;
	long long deadline_ms; /* 0: none; under conns_mu */
	bool linked;
};

static struct http_conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

void iot__http_conn_opened(iot_httpd *h, struct MHD_Connection *c, void **socket_context)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct http_conn *k = calloc(1, sizeof *k);
	*socket_context = k;
	if (!k || !ci)
		return; /* no deadline: the idle timeout still applies */
	k->fd = ci->connect_fd;
	pthread_mutex_lock(&h->conns_mu);
	k->deadline_ms = iot_now_ms() + (long long)h->o.connection_timeout_s * 1000;
	k->next = h->conns;
	if (h->conns)
		h->conns->prev = k;
	h->conns = k;
	k->linked = true;
	pthread_mutex_unlock(&h->conns_mu);
}

/* libmicrohttpd calls this before it closes the socket, so the reaper
 * never shuts down a descriptor that was reused meanwhile. */
void iot__http_conn_closed(iot_httpd *h, void **socket_context)
{
	struct http_conn *k = *socket_context;
	*socket_context = NULL;
	if (!k)
		return;
	pthread_mutex_lock(&h->conns_mu);
	if (k->linked) {
		if (k->prev)
			k->prev->next = k->next;
		else
			h->conns = k->next;
		if (k->next)
			k->next->prev = k->prev;
	}
	pthread_mutex_unlock(&h->conns_mu);
	free(k);
}

void iot__http_conn_due(iot_httpd *h, struct MHD_Connection *c, bool due)
{
	struct http_conn *k = conn_of(c);
	if (!k)
		return;
	pthread_mutex_lock(&h->conns_mu);
	k->deadline_ms = due ? iot_now_ms() + (long long)h->o.connection_timeout_s * 1000 : 0;
	pthread_mutex_unlock(&h->conns_mu);
}

static void *reaper_main(void *arg)
{
	iot_httpd *h = arg;
	pthread_mutex_lock(&h->conns_mu);
	while (!h->conns_stop) {
		long long now = iot_now_ms();
		for (struct http_conn *k = h->conns; k; k = k->next)
			if (k->deadline_ms && k->deadline_ms <= now) {
				k->deadline_ms = 0;
				shutdown(k->fd, SHUT_RDWR);
			}
		struct timespec ts = iot_clock_in(CLOCK_MONOTONIC, 250);
		pthread_cond_timedwait(&h->conns_cv, &h->conns_mu, &ts);
	}
	pthread_mutex_unlock(&h->conns_mu);
	return NULL;
}

int iot__http_conns_start(iot_httpd *h, iot_error *err)
{
	pthread_mutex_init(&h->conns_mu, NULL);
	iot_cond_init_monotonic(&h->conns_cv);
	h->conns_init = true;
	if (pthread_create(&h->conns_thread, NULL, reaper_main, h) != 0)
		return iot_error_set(err, IOT_INTERNAL, "unable to start a thread");
	h->conns_started = true;
	return 0;
}

void iot__http_conns_stop(iot_httpd *h)
{
	if (h->conns_started) {
		pthread_mutex_lock(&h->conns_mu);
		h->conns_stop = true;
		pthread_cond_signal(&h->conns_cv);
		pthread_mutex_unlock(&h->conns_mu);
		pthread_join(h->conns_thread, NULL);
		h->conns_started = false;
	}
	if (h->conns_init) {
		pthread_mutex_destroy(&h->conns_mu);
		pthread_cond_destroy(&h->conns_cv);
		h->conns_init = false;
	}
}
