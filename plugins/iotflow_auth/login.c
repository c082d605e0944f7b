/* login.c — who may connect (MOSQ_EVT_BASIC_AUTH).
 *
 *   username = a device id (decimal, no sign, no leading zero, below 2^31),
 *     password = one of that device's active API keys (iotf_..., or a key
 *     imported from a Flask installation); the
 *     device must be active. The key must belong to that very device.
 *   any other username (1..64 of A-Z a-z 0-9 . _ -) = a service account,
 *     password = a person's API token (iotu_...); the person must be active.
 *     What it may do depends on whether that person is an admin (acl.c).
 *   no username: refused, unless legacy mode is on (legacy_anonymous).
 * Anything else (wildcards, slashes, control characters, too long) is
 * refused before any lookup. */
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "auth/keys.h"
#include "base/clock.h"
#include "base/parse.h"
#include "plugin_int.h"

#define USERNAME_MAX 64

bool iotp_username_ok(const char *u)
{
	size_t n = strnlen(u, USERNAME_MAX + 1);
	if (n == 0 || n > USERNAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = u[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static bool all_digits(const char *u)
{
	for (; *u; u++)
		if (*u < '0' || *u > '9')
			return false;
	return true;
}

static char *dup_secret(const char *s)
{
	size_t n = strnlen(s, IOT_SECRET_LEN + 1);
	char *c = malloc(n + 1);
	if (c) {
		memcpy(c, s, n);
		c[n] = '\0';
	}
	return c;
}

/* A failed lookup: unavailable backends are told apart (and logged once);
 * everything else is a plain refusal. */
static int refuse(struct plugin *p, const iot_error *err)
{
	if (err->status == IOT_UNAVAILABLE) {
		iotp_backend_failed(p, err);
		return MOSQ_ERR_UNKNOWN;
	}
	return MOSQ_ERR_AUTH;
}

static int remember(struct plugin *p, struct mosquitto *client, struct session *s, const char *secret)
{
	const char *cid = mosquitto_client_id(client), *user = mosquitto_client_username(client);
	s->client = client;
	s->client_id = strdup(cid ? cid : "");
	s->username = user ? strdup(user) : NULL;
	s->secret = secret ? dup_secret(secret) : NULL;
	s->checked_ms = iot_now_ms();
	s->may_queue = !mosquitto_client_clean_session(client);
	if (!s->client_id || (user && !s->username) || (secret && !s->secret)) {
		iotp_session_free(s);
		return MOSQ_ERR_NOMEM;
	}
	iotp_session_put(p, s);
	return MOSQ_ERR_SUCCESS;
}

static int device_login(struct plugin *p, struct mosquitto *client, int64_t id, const char *key)
{
	iot_device_ref dev;
	iot_error err = { 0 };
	if (!iotp_backend_ready(p))
		return MOSQ_ERR_UNKNOWN;
	if (iot_auth_device_key(p->auth, key, &dev, &err) < 0)
		return refuse(p, &err);
	iotp_backend_answered(p);
	/* Another device's key, or a device an admin switched off. */
	if (dev.id != id || dev.status != IOT_DEVICE_ACTIVE)
		return MOSQ_ERR_AUTH;
	struct session *s = calloc(1, sizeof *s);
	if (!s)
		return MOSQ_ERR_NOMEM;
	s->kind = SESSION_DEVICE;
	s->device_id = id;
	s->key_expires_us = dev.key_expires_us;
	return remember(p, client, s, key);
}

static int service_login(struct plugin *p, struct mosquitto *client, const char *token)
{
	iot_user_ref user;
	iot_error err = { 0 };
	if (!iotp_backend_ready(p))
		return MOSQ_ERR_UNKNOWN;
	if (iot_auth_user_token(p->auth, token, &user, &err) < 0)
		return refuse(p, &err);
	iotp_backend_answered(p);
	struct session *s = calloc(1, sizeof *s);
	if (!s)
		return MOSQ_ERR_NOMEM;
	s->kind = SESSION_SERVICE;
	s->user_id = user.id;
	s->is_admin = user.is_admin;
	return remember(p, client, s, token);
}

int iotp_on_basic_auth(int event, void *event_data, void *userdata)
{
	(void)event;
	struct mosquitto_evt_basic_auth *ed = event_data;
	struct plugin *p = userdata;
	const char *u = ed->username, *pw = ed->password;
	/* A client that logs in again on the same connection (MQTT 5 re-auth)
	 * is who it now says it is, or nobody. */
	iotp_session_drop(p, ed->client);
	if (!u) {
		if (!p->legacy || pw)
			return MOSQ_ERR_AUTH;
		struct session *s = calloc(1, sizeof *s);
		if (!s)
			return MOSQ_ERR_NOMEM;
		s->kind = SESSION_ANONYMOUS;
		return remember(p, ed->client, s, NULL);
	}
	if (!pw || !iotp_username_ok(u))
		return MOSQ_ERR_AUTH;
	long long id = 0;
	if (all_digits(u)) {
		id = iot_parse_id(u);
		/* iotf_ keys, and the keys a Flask installation's devices came over
		 * with (iot-migrate import-flask): the shared format check. */
		if (id <= 0 || !iot_device_key_well_formed(pw, strlen(pw)))
			return MOSQ_ERR_AUTH;
	} else if (strncmp(pw, IOT_USER_TOKEN_PREFIX, strlen(IOT_USER_TOKEN_PREFIX))) {
		return MOSQ_ERR_AUTH;
	}
	/* Load shedding: once this loop turn's lookups have spent the budget,
	 * the other clients come first; the rest are turned away like when the
	 * database is down (closed without a CONNACK), and try again. */
	if (p->login_budget_ms && p->spent_us >= p->login_budget_ms * 1000) {
		p->turned_away++;
		return MOSQ_ERR_UNKNOWN;
	}
	int64_t t0 = iot_now_us();
	int rc = id ? device_login(p, ed->client, id, pw) : service_login(p, ed->client, pw);
	p->spent_us += iot_now_us() - t0;
	return rc;
}
