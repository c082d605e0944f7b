/* mqtt_url.c — the broker URL (mqtt_url.h). */
#include "mqtt/mqtt_url.h"

#include <ctype.h>
#include <mosquitto.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Percent-decode s[0..n) into out (size bytes); -1 when malformed, too
 * long, or decoding to a NUL byte. */
static int pct_decode(const char *s, size_t n, char *out, size_t size)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '%') {
			if (i + 2 >= n || !isxdigit((unsigned char)s[i + 1]) || !isxdigit((unsigned char)s[i + 2]))
				return -1;
			char hex[3] = { s[i + 1], s[i + 2], 0 };
			c = (int)strtol(hex, NULL, 16);
			if (c == 0)
				return -1;
			i += 2;
		}
		if (o + 1 >= size)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

int iot_mqtt_url_parse(const char *url, iot_mqtt_url *out, iot_error *err)
{
	memset(out, 0, sizeof *out);
	if (!url || !*url)
		return iot_error_set(err, IOT_USAGE, "the broker URL is empty");
	const char *p;
	if (!strncmp(url, "mqtt://", 7)) {
		p = url + 7;
	} else if (!strncmp(url, "mqtts://", 8)) {
		p = url + 8;
		out->tls = true;
	} else {
		return iot_error_set(err, IOT_USAGE, "the broker URL must start with mqtt:// or mqtts://");
	}
	size_t auth_end = strcspn(p, "/?#");
	const char *at = NULL;
	for (const char *q = p; q < p + auth_end; q++)
		if (*q == '@')
			at = q;   /* the last '@' before the path ends the credentials */
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		size_t ul = colon ? (size_t)(colon - p) : (size_t)(at - p);
		if (pct_decode(p, ul, out->username, sizeof out->username) < 0)
			goto bad_user;
		if (colon && pct_decode(colon + 1, (size_t)(at - colon - 1), out->password, sizeof out->password) < 0) {
			iot_mqtt_url_clear(out);
			return iot_error_set(err, IOT_USAGE, "the broker URL's password is malformed or too long");
		}
		p = at + 1;
		auth_end = strcspn(p, "/?#");
	}
	const char *hp = p, *hend = p + auth_end, *portp = NULL;
	size_t hl;
	if (*hp == '[') {
		const char *rb = memchr(hp, ']', (size_t)(hend - hp));
		if (!rb)
			goto bad_host;
		hp++;
		hl = (size_t)(rb - hp);
		if (rb + 1 < hend) {
			if (rb[1] != ':')
				goto bad_host;
			portp = rb + 2;
		}
	} else {
		const char *colon = memchr(hp, ':', (size_t)(hend - hp));
		hl = colon ? (size_t)(colon - hp) : (size_t)(hend - hp);
		if (colon)
			portp = colon + 1;
	}
	if (hl == 0 || hl >= sizeof out->host)
		goto bad_host;
	memcpy(out->host, hp, hl);
	out->host[hl] = '\0';
	out->port = out->tls ? 8883 : 1883;
	if (portp) {
		long v = 0;
		const char *q = portp;
		if (q == hend)
			goto bad_port;
		for (; q < hend; q++) {
			if (!isdigit((unsigned char)*q) || v > 65535)
				goto bad_port;
			v = v * 10 + (*q - '0');
		}
		if (v < 1 || v > 65535)
			goto bad_port;
		out->port = (int)v;
	}
	if (*hend && strcmp(hend, "/") != 0) {
		iot_mqtt_url_clear(out);
		return iot_error_set(err, IOT_USAGE, "the broker URL has a path or query, which means nothing to MQTT");
	}
	return 0;
bad_user:
	iot_mqtt_url_clear(out);
	return iot_error_set(err, IOT_USAGE, "the broker URL's user name is malformed or too long");
bad_host:
	iot_mqtt_url_clear(out);
	return iot_error_set(err, IOT_USAGE, "the broker URL has no usable host");
bad_port:
	iot_mqtt_url_clear(out);
	return iot_error_set(err, IOT_USAGE, "the broker URL's port is not a number from 1 to 65535");
}

void iot_mqtt_url_clear(iot_mqtt_url *u)
{
	sodium_memzero(u->password, sizeof u->password);
}

void iot_mqtt_url_address(const iot_mqtt_url *u, char *buf, size_t size)
{
	if (strchr(u->host, ':'))
		snprintf(buf, size, "[%s]:%d", u->host, u->port);
	else
		snprintf(buf, size, "%s:%d", u->host, u->port);
}

int iot_mqtt_client_setup(struct mosquitto *m, const iot_mqtt_url *u, iot_error *err)
{
	int rc = mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
	if (rc == MOSQ_ERR_SUCCESS && u->username[0])
		rc = mosquitto_username_pw_set(m, u->username, u->password[0] ? u->password : NULL);
	if (rc == MOSQ_ERR_SUCCESS && u->tls)
		rc = mosquitto_tls_set(m, NULL, "/etc/ssl/certs", NULL, NULL, NULL);
	if (rc != MOSQ_ERR_SUCCESS)
		return iot_error_set(err, IOT_INTERNAL, "cannot set up the MQTT client: %s", mosquitto_strerror(rc));
	return 0;
}
