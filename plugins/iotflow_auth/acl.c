/* acl.c — what a connected client may publish, subscribe to and receive
 * (MOSQ_EVT_ACL_CHECK). Topics are compared level by level, exactly; a
 * device id in a topic must be written as the plugin accepts it at login
 * (decimal, no leading zero), so "007" or "+" never names device 7.
 *
 * Device N (its own key):
 *   publish   iotflow/devices/N/telemetry[/...]      not retained
 *             iotflow/devices/N/status/X             retained only X = online|offline
 *             iotflow/devices/N/commands/ack         not retained
 *   subscribe iotflow/devices/N/commands/...         (wildcards below that level)
 *   receive   iotflow/devices/N/commands/...
 * Service account, an admin's token:
 *   subscribe and receive anything under iotflow/ ($share/GROUP/ in front too)
 *   publish   iotflow/devices/ID/commands/control|config|firmware (retained or not)
 * Service account, an ordinary person's token: the same, but only for
 *   topics iotflow/devices/ID/... naming one of that person's devices (no
 *   wildcard in the device level).
 * Anonymous (legacy mode only): publish telemetry and status as a device
 *   would, for any device id (the listener checks the api_key inside each
 *   payload); nothing else, no subscriptions. */
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include <string.h>

#include "base/parse.h"
#include "plugin_int.h"

#define MAX_LEVELS 8

struct levels {
	const char *s[MAX_LEVELS];
	size_t len[MAX_LEVELS];
	int n;                         /* all levels, even past MAX_LEVELS */
};

static void split(const char *t, struct levels *l)
{
	l->n = 0;
	for (;;) {
		const char *slash = strchr(t, '/');
		size_t len = slash ? (size_t)(slash - t) : strlen(t);
		if (l->n < MAX_LEVELS) {
			l->s[l->n] = t;
			l->len[l->n] = len;
		}
		l->n++;
		if (!slash)
			return;
		t = slash + 1;
	}
}

static bool is(const struct levels *l, int i, const char *word)
{
	return i < l->n && i < MAX_LEVELS && l->len[i] == strlen(word) && !memcmp(l->s[i], word, l->len[i]);
}

/* The device id of level 2 of iotflow/devices/ID/..., or 0. */
static int64_t device_of(const struct levels *l)
{
	if (l->n < 4 || !is(l, 0, "iotflow") || !is(l, 1, "devices"))
		return 0;
	const char *s = l->s[2];
	size_t n = l->len[2];
	if (n == 0 || n > 10 || s[0] < '1' || s[0] > '9')
		return 0;
	int64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	return v <= 2147483647 ? v : 0;
}

/* What a device (or, in legacy mode, anonymous firmware) may publish
 * under its own iotflow/devices/ID/. */
static bool device_publish_ok(const struct levels *l, bool retain, bool acks)
{
	if (is(l, 3, "telemetry"))
		return !retain;
	if (is(l, 3, "status") && l->n == 5 && l->len[4] > 0)
		return !retain || is(l, 4, "online") || is(l, 4, "offline");
	if (acks && is(l, 3, "commands") && l->n == 5 && is(l, 4, "ack"))
		return !retain;
	return false;
}

static bool command_topic(const struct levels *l)
{
	return l->n == 5 && is(l, 3, "commands") &&
	       (is(l, 4, "control") || is(l, 4, "config") || is(l, 4, "firmware"));
}

/* "$share/GROUP/filter" -> "filter"; NULL when malformed. */
static const char *unshare(const char *t)
{
	if (strncmp(t, "$share/", 7))
		return t;
	const char *slash = strchr(t + 7, '/');
	return slash && slash > t + 7 ? slash + 1 : NULL;
}

static bool owns(struct plugin *p, const struct session *s, int64_t device)
{
	if (s->is_admin)
		return true;
	if (!device || !iotp_backend_ready(p))
		return false;
	iot_device_ref d;
	iot_error err = { 0 };
	if (iot_auth_device_id(p->auth, device, &d, &err) < 0) {
		if (err.status == IOT_UNAVAILABLE)
			iotp_backend_failed(p, &err);
		return false;
	}
	return d.user_id == s->user_id;
}

static bool service_ok(struct plugin *p, const struct session *s, const struct levels *l, int access)
{
	int64_t dev = device_of(l);
	switch (access) {
	case MOSQ_ACL_SUBSCRIBE:
	case MOSQ_ACL_READ:
		if (s->is_admin)
			return is(l, 0, "iotflow");
		return owns(p, s, dev);
	case MOSQ_ACL_WRITE:
		return dev && command_topic(l) && owns(p, s, dev);
	default:
		return false;
	}
}

static bool allowed(struct plugin *p, const struct session *s, const char *topic, int access, bool retain)
{
	if (access == MOSQ_ACL_SUBSCRIBE && !(topic = unshare(topic)))
		return false;
	struct levels l;
	split(topic, &l);
	int64_t dev = device_of(&l);
	switch (s->kind) {
	case SESSION_DEVICE:
		if (dev != s->device_id)
			return false;
		if (access == MOSQ_ACL_WRITE)
			return device_publish_ok(&l, retain, true);
		return (access == MOSQ_ACL_SUBSCRIBE || access == MOSQ_ACL_READ) && is(&l, 3, "commands") && l.n >= 5;
	case SESSION_ANONYMOUS:
		return access == MOSQ_ACL_WRITE && dev && device_publish_ok(&l, retain, false);
	case SESSION_SERVICE:
		return service_ok(p, s, &l, access);
	}
	return false;
}

int iotp_on_acl_check(int event, void *event_data, void *userdata)
{
	(void)event;
	struct mosquitto_evt_acl_check *ed = event_data;
	struct plugin *p = userdata;
	if (ed->access == MOSQ_ACL_UNSUBSCRIBE)
		return MOSQ_ERR_SUCCESS;
	struct session *s = iotp_session_for(p, ed->client);
	struct session will;
	if (!s && ed->access == MOSQ_ACL_WRITE) {
		/* A will goes out after the disconnect callback dropped the
		 * session (a clean one: a persistent one is kept offline); only a client that logged in through us has a session
		 * to lose, so its username is one login.c accepted. */
		const char *u = mosquitto_client_username(ed->client);
		memset(&will, 0, sizeof will);
		will.kind = u ? SESSION_DEVICE : SESSION_ANONYMOUS;
		will.device_id = u ? iot_parse_id(u) : 0;
		if ((u && will.device_id > 0) || (!u && p->legacy))
			s = &will;
	}
	if (!s && ed->access == MOSQ_ACL_READ && !mosquitto_client_address(ed->client))
		/* A session the broker restored from its persistence file (no
		 * socket, never logged in through us): what its subscriptions
		 * match is queued, as without a plugin. Nobody reads it before a
		 * login; then the broker checks every queued message against
		 * whoever logged in, and drops what they may not read. */
		return MOSQ_ERR_SUCCESS;
	if (!s || !ed->topic || !allowed(p, s, ed->topic, ed->access, ed->retain))
		return MOSQ_ERR_ACL_DENIED;
	if (ed->access == MOSQ_ACL_SUBSCRIBE)
		s->may_queue = true;   /* its entry must outlive the connection */
	return MOSQ_ERR_SUCCESS;
}
