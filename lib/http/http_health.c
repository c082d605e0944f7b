/* http_health.c — GET / (the JSON index; the dashboard to browsers) and
 * GET /health.
 *
 * /health answers 200 {"status":"healthy",...} without touching any
 * backend (a liveness probe). With ?detailed=true it checks PostgreSQL
 * (SELECT 1), Redis (one round trip) and the MQTT broker (a TCP connect),
 * each with its response time, and says:
 *   healthy    every configured check passed            -> HTTP 200
 *   degraded   PostgreSQL is fine, Redis or the broker
 *              is not (a cache, and the MQTT side)      -> HTTP 200
 *   unhealthy  PostgreSQL (or the batch writer) is not:
 *              no telemetry can be stored               -> HTTP 503
 * Backends that are not configured are "not_configured" and not failures.
 * GET /status is the detailed form, as it was in the Flask service. */
#include "http/http_int.h"
#include "mqtt/mqtt_url.h"

#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>
#include <errno.h>

#define BROKER_TIMEOUT_MS 500

/* A browser gets the dashboard (http_web.c), everyone else the index. */
void iot__http_root(struct http_req *r)
{
	if (iot__http_web_index(r))
		return;
	iot__http_header(r, MHD_HTTP_HEADER_VARY, "Accept");
	iot__http_reply(r, 200, json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s,s:s,s:s},s:s}",
		"name", "IoTFlow", "version", IOT_VERSION,
		"description", "REST API for IoT device connectivity and telemetry data management",
		"endpoints", "health", "/health", "devices", "/api/v1/devices", "admin", "/api/v1/admin",
		"mqtt", "/api/v1/mqtt", "telemetry", "/api/v1/telemetry", "metrics", "/metrics",
		"documentation", "See iot-httpd(8)"));
}

static double ms_since(long long t0_us)
{
	return (double)(iot_now_us() - t0_us) / 1000.0;
}

static json_t *check_database(struct http_slot *s)
{
	long long t0 = iot_now_us();
	iot_error err;
	PGresult *res = iot_db_exec(s->db, "SELECT 1", 0, NULL, &err);
	if (!res)
		return json_pack("{s:b,s:s,s:s}", "healthy", 0, "status", "disconnected",
		                 "error", err.status == IOT_UNAVAILABLE ? "PostgreSQL is unavailable" : "the check failed");
	PQclear(res);
	return json_pack("{s:b,s:s,s:f}", "healthy", 1, "status", "connected", "response_time_ms", ms_since(t0));
}

static json_t *check_redis(struct http_slot *s)
{
	if (!s->cache || !iot_cache_configured(s->cache))
		return json_pack("{s:b,s:s}", "healthy", 1, "status", "not_configured");
	long long t0 = iot_now_us();
	int64_t id = 0, seen;
	if (iot_cache_device_last_seen(s->cache, &id, 1, &seen) < 0)
		return json_pack("{s:b,s:s,s:s}", "healthy", 0, "status", "disconnected", "error", "Redis is unavailable");
	return json_pack("{s:b,s:s,s:f}", "healthy", 1, "status", "connected", "response_time_ms", ms_since(t0));
}

static bool tcp_reachable(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return false;
	bool ok = false;
	for (struct addrinfo *a = ai; a && !ok; a = a->ai_next) {
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
			ok = true;
		} else if (errno == EINPROGRESS) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			int e = 0;
			socklen_t el = sizeof e;
			ok = poll(&pfd, 1, BROKER_TIMEOUT_MS) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) == 0 && e == 0;
		}
		close(fd);
	}
	freeaddrinfo(ai);
	return ok;
}

static json_t *check_broker(iot_httpd *h)
{
	const char *url = iot_config_get(h->cfg, "mqtt_url");
	if (!url || !*url)
		return json_pack("{s:b,s:s}", "healthy", 1, "status", "not_configured");
	iot_mqtt_url u;
	if (iot_mqtt_url_parse(url, &u, NULL) < 0)
		return json_pack("{s:b,s:s,s:s}", "healthy", 0, "status", "disconnected", "error", "mqtt_url is not usable");
	iot_mqtt_url_clear(&u);
	char port[16];
	snprintf(port, sizeof port, "%d", u.port);
	long long t0 = iot_now_us();
	if (!tcp_reachable(u.host, port))
		return json_pack("{s:b,s:s,s:s}", "healthy", 0, "status", "disconnected", "error", "the broker is unreachable");
	return json_pack("{s:b,s:s,s:f}", "healthy", 1, "status", "connected", "response_time_ms", ms_since(t0));
}

static bool healthy(const json_t *check)
{
	return json_is_true(json_object_get(check, "healthy"));
}

static void detailed(struct http_req *r)
{
	iot_httpd *h = r->h;
	struct http_slot *s = iot__http_slot_get(h);
	json_t *db = check_database(s), *redis = check_redis(s);
	iot__http_slot_put(s);
	json_t *broker = check_broker(h);
	iot_writer *w = iot__http_writer_get(h);
	if (w)
		iot__http_writer_put(h);
	json_t *writer = json_pack("{s:b,s:s}", "healthy", w != NULL, "status", w ? "running" : "restarting");
	json_t *failed = json_array();
	const char *names[] = { "database", "writer", "redis", "broker" };
	json_t *checks[] = { db, writer, redis, broker };
	for (size_t i = 0; i < 4; i++)
		if (!healthy(checks[i]))
			json_array_append_new(failed, json_string(names[i]));
	const char *status = !healthy(db) || !healthy(writer) ? "unhealthy"
	                   : json_array_size(failed) ? "degraded" : "healthy";
	char ts[40];
	iot_format_timestamp(iot_now_us(), ts, sizeof ts);
	json_t *body = json_pack("{s:s,s:s,s:s,s:{s:o,s:o,s:o,s:o},s:o,s:{s:I,s:I}}",
		"status", status, "timestamp", ts, "version", IOT_VERSION,
		"checks", "database", db, "writer", writer, "redis", redis, "broker", broker,
		"failed_checks", failed,
		"connections", "open", (json_int_t)atomic_load(&h->m.open_connections),
		"waiting_commit", (json_int_t)atomic_load(&h->m.suspended));
	/* Times in ms to the microsecond, not to 17 digits. */
	bool down = !strcmp(status, "unhealthy");
	if (down)
		iot__http_retry_after(r, 5); /* as every other 503 */
	iot__http_reply(r, down ? 503 : 200, body);
}

/* GET /status: the Flask service's detailed health under its other name. */
void iot__http_status(struct http_req *r)
{
	detailed(r);
}

void iot__http_health(struct http_req *r)
{
	bool d;
	if (iot_http_arg_bool(&r->args, "detailed", false, &d) < 0) {
		iot__http_error(r, 400, "Bad Request", "detailed must be true or false");
		return;
	}
	if (d) {
		detailed(r);
		return;
	}
	iot__http_reply(r, 200, json_pack("{s:s,s:s,s:s}", "status", "healthy",
	                                  "message", "IoT Connectivity Layer is running", "version", IOT_VERSION));
}
