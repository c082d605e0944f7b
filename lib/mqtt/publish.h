/* publish.h — publishing to the broker at QoS 1 and knowing it arrived:
 * iot_publish returns once the broker's PUBACK for the message is in (or
 * a bounded time has passed), so a caller marks a command "sent" only when
 * the broker has it.
 *
 * The broker is the mqtt_url setting (IOTFLOW_MQTT_URL, mqtt_url.h); its
 * user and password are the service's credentials (e.g. a person's API
 * token as the password). One publisher is one client connection with its
 * own network thread (libmosquitto's loop thread), client id
 * "iotflow-PROGRAM-PID-RANDOM", clean start, MQTT v5.
 *
 *   foreground (the shell): connect now; iot_publisher_new fails with
 *     IOT_UNAVAILABLE when the broker cannot be reached within timeout_ms
 *     (or refuses us: IOT_DENIED); free disconnects.
 *   background (daemons): connect in the background and keep reconnecting
 *     (1 s doubling to 30 s), from the start too (a broker that is down
 *     when the daemon starts is fine) and after a refused login (the
 *     credentials may be made valid again); iot_publisher_new fails only
 *     for a bad URL. With tell_refusals, a refused login is told through
 *     the config's notices (the first of a series, then at most once a
 *     minute), and the login that follows through its information.
 *     A publish while disconnected fails at once with IOT_UNAVAILABLE.
 *
 * iot_publish may be called from any number of threads at once. Nothing
 * is queued by the publisher: a message it could not hand over is the
 * caller's to keep (commands stay pending in PostgreSQL). The library
 * never prints; credentials never appear in a message. */
#ifndef IOT_MQTT_PUBLISH_H
#define IOT_MQTT_PUBLISH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/config.h"
#include "base/error.h"

#define IOT_PUBLISH_TIMEOUT_MS 5000

typedef struct iot_publisher iot_publisher;

typedef struct iot_publisher_opts {
	bool background;             /* keep connected and reconnect (daemons) */
	bool tell_refusals;          /* background: tell refused logins (a program whose own
	                              * sessions do not already say so) */
	int timeout_ms;              /* connecting (foreground) and each PUBACK; 0: IOT_PUBLISH_TIMEOUT_MS */
} iot_publisher_opts;

/* NULL with err: IOT_USAGE (mqtt_url not set or malformed), IOT_UNAVAILABLE
 * (foreground: unreachable), IOT_DENIED (foreground: the broker refused
 * the credentials), IOT_INTERNAL. */
iot_publisher *iot_publisher_new(const iot_config *cfg, const iot_publisher_opts *o, iot_error *err);
void iot_publisher_free(iot_publisher *p);

/* Publish at QoS 1 and wait for the PUBACK. 0, or -1 with err:
 * IOT_UNAVAILABLE (not connected, connection lost, no PUBACK within the
 * timeout: the broker may still have it), IOT_DENIED (the broker refused
 * the message, e.g. its ACL), IOT_USAGE (a topic or payload the broker
 * would never take). */
int iot_publish(iot_publisher *p, const char *topic, const void *payload, size_t len, bool retain,
                iot_error *err);
/* The same with v as compact JSON. */
int iot_publish_json(iot_publisher *p, const char *topic, const json_t *v, bool retain, iot_error *err);

/* What a status page may show: never the credentials. */
typedef struct iot_publisher_info {
	bool connected, tls;
	char address[300];           /* host:port */
	char host[256];
	int port;
	char client_id[64];
	unsigned long published, failed;
} iot_publisher_info;
void iot_publisher_get_info(iot_publisher *p, iot_publisher_info *out);

#endif
