/* mqtt_url.h — where the broker is and who we are to it, from one URL:
 *
 *     mqtt[s]://[USER[:PASSWORD]@]HOST[:PORT][/]
 *
 * (the mqtt_url setting, IOTFLOW_MQTT_URL). USER and PASSWORD may be
 * percent-encoded (an API token never needs it; a password with '@' or ':'
 * does). mqtts:// turns on TLS with the system's CA store; the default port
 * is 1883 (8883 with TLS). HOST may be a name, an IPv4 address or an IPv6
 * address in brackets. The password is a secret: it is wiped when the
 * struct is cleared and never appears in an error message. */
#ifndef IOT_MQTT_URL_H
#define IOT_MQTT_URL_H

#include <stdbool.h>

#include "base/error.h"

struct mosquitto;

typedef struct iot_mqtt_url {
	char host[256];
	int port;
	bool tls;
	char username[256];   /* "" = none */
	char password[512];   /* "" = none; secret */
} iot_mqtt_url;

/* 0, or -1 with IOT_USAGE and a reason that never quotes the URL (it may
 * hold a password). */
int iot_mqtt_url_parse(const char *url, iot_mqtt_url *out, iot_error *err);
/* Wipe the password (sodium_memzero). */
void iot_mqtt_url_clear(iot_mqtt_url *u);
/* "host:port" (IPv6 in brackets) for messages; never the credentials. */
void iot_mqtt_url_address(const iot_mqtt_url *u, char *buf, size_t size);

/* Set a client's credentials and TLS from u (before mosquitto_connect):
 * MQTT v5 protocol, username/password when given, TLS with the system CA
 * store for mqtts. 0, or -1 with IOT_INTERNAL (libmosquitto refused). */
int iot_mqtt_client_setup(struct mosquitto *m, const iot_mqtt_url *u, iot_error *err);

#endif
