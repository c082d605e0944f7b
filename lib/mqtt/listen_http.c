/* listen_http.c — GET /metrics of the listener on a socket of its own
 * (--metrics-listen), served by libmicrohttpd on one internal thread. */
#include "mqtt/listen_int.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *type, char *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	enum MHD_Result rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *data, size_t *size, void **state)
{
	(void)version, (void)data, (void)size, (void)state;
	iot_listener *l = cls;
	if (strcmp(url, "/metrics") != 0)
		return answer(c, MHD_HTTP_NOT_FOUND, "text/plain", strdup("not found: try /metrics\n"), 24);
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return answer(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", strdup("GET only\n"), 9);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return MHD_NO;
	iot_listener_metrics_write(l, f);
	if (fclose(f) != 0) {
		free(text);
		return MHD_NO;
	}
	return answer(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

int iot_listener_serve_metrics(iot_listener *l, int fd, iot_error *err)
{
	l->metrics_http = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, on_request, l,
	                                   MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, 32u,
	                                   MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
	if (!l->metrics_http)
		return iot_error_set(err, IOT_INTERNAL, "unable to serve metrics");
	return 0;
}

void iot__listen_metrics_stop(iot_listener *l)
{
	if (l->metrics_http)
		MHD_stop_daemon(l->metrics_http);
	l->metrics_http = NULL;
}
