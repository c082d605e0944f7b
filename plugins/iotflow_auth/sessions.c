/* sessions.c — the connected clients the plugin let in, by client, and
 * cutting those that are no longer allowed.
 *
 * An invalidation "device N" (a key revoked or rotated, the device
 * deactivated, moved or deleted: auth.h) makes every session of device N
 * check its key again, from PostgreSQL (the message dropped the cached
 * entries); a session whose key no longer names an active device N is
 * kicked. "all" (the subscription was made again or lapsed, so messages may
 * have been missed) re-checks every session, SLICE of them per tick.
 * People's tokens publish no invalidation: service sessions are re-checked
 * every SERVICE_RECHECK_MS instead, so a revoked token or a disabled
 * person's session ends within that. Nor does a key's grace period
 * ending: a device session whose key has an end is checked again once it
 * has passed, within a second. Kicks happen after the walk: a kick
 * fires the disconnect callback, which edits the table. A kicked client's
 * entry goes first, so that its persistent session is not kept offline;
 * an offline entry that is no longer allowed is dropped, never kicked (a
 * client connected under its id now is another login, checked on its own). */
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "plugin_int.h"

#define SLICE 256
#define SERVICE_RECHECK_MS 30000

static size_t bucket_of(const struct mosquitto *client)
{
	uintptr_t v = (uintptr_t)client;
	v ^= v >> 17;
	v *= 0x9E3779B97F4A7C15u;
	return (size_t)(v >> 7) & (SESSION_BUCKETS - 1);
}

struct session *iotp_session_find(struct plugin *p, const struct mosquitto *client)
{
	for (struct session *s = p->bucket[bucket_of(client)]; s; s = s->next)
		if (s->client == client)
			return s;
	return NULL;
}

void iotp_session_free(struct session *s)
{
	if (!s)
		return;
	if (s->secret) {
		sodium_memzero(s->secret, strlen(s->secret));
		free(s->secret);
	}
	free(s->client_id);
	free(s->username);
	free(s);
}

void iotp_session_drop(struct plugin *p, const struct mosquitto *client)
{
	struct session **pp = &p->bucket[bucket_of(client)];
	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->client == client) {
			struct session *s = *pp;
			*pp = s->next;
			if (s->offline)
				p->noffline--;
			iotp_session_free(s);
			p->nsessions--;
			return;
		}
}

void iotp_session_put(struct plugin *p, struct session *s)
{
	iotp_session_drop(p, s->client);
	size_t b = bucket_of(s->client);
	s->next = p->bucket[b];
	p->bucket[b] = s;
	p->nsessions++;
}

void iotp_sessions_clear(struct plugin *p)
{
	for (size_t b = 0; b < SESSION_BUCKETS; b++)
		while (p->bucket[b]) {
			struct session *s = p->bucket[b];
			p->bucket[b] = s->next;
			iotp_session_free(s);
		}
	p->nsessions = p->noffline = 0;
}

static bool same(const char *a, const char *b)
{
	return a ? b && !strcmp(a, b) : !b;
}

struct session *iotp_session_for(struct plugin *p, const struct mosquitto *client)
{
	struct session *s = iotp_session_find(p, client);
	if (s && s->offline && (!same(s->client_id, mosquitto_client_id(client)) ||
	                        !same(s->username, mosquitto_client_username(client)))) {
		iotp_session_drop(p, client);
		return NULL;
	}
	return s;
}

void iotp_session_disconnected(struct plugin *p, const struct mosquitto *client)
{
	struct session *s = iotp_session_find(p, client);
	if (!s || s->offline)
		return;
	/* MQTT 3.1 and 3.1.1: a clean session ends here. MQTT 5: the session
	 * expiry interval says, and the broker does not tell plugins; kept, and
	 * an entry whose client is gone is replaced by the next login that
	 * reuses its memory (iotp_session_put), never matched by another.
	 * Unless the session has no subscription (may_queue): nothing is
	 * queued for it then, so no ACL check will ask for the entry, and a
	 * publishing device does not leave one behind at every disconnect. */
	if (s->kind == SESSION_ANONYMOUS || !s->may_queue ||
	    (mosquitto_client_protocol_version(client) != 5 && mosquitto_client_clean_session(client))) {
		const char *cid = mosquitto_client_id(client);
		iotp_session_drop(p, client);
		iotp_log(MOSQ_LOG_DEBUG, "client %s disconnected: nothing to queue for it, forgotten "
		         "(%zu offline sessions kept)", cid ? cid : "?", p->noffline);
		return;
	}
	if (p->noffline >= OFFLINE_MAX) {
		if (!p->offline_full_warned)
			iotp_log(MOSQ_LOG_WARNING, "%d offline persistent sessions kept: client %s and later ones get "
			         "no queued messages while away", OFFLINE_MAX, s->client_id);
		p->offline_full_warned = true;
		iotp_session_drop(p, client);
		return;
	}
	s->offline = true;
	p->noffline++;
	iotp_log(MOSQ_LOG_DEBUG, "client %s disconnected: its session kept offline (%zu offline sessions kept)",
	         s->client_id, p->noffline);
}

int iotp_session_still_valid(struct plugin *p, struct session *s)
{
	iot_error err = { 0 };
	if (s->kind == SESSION_ANONYMOUS)
		return p->legacy;
	if (!iotp_backend_ready(p))
		return -1;
	if (s->kind == SESSION_DEVICE) {
		iot_device_ref d;
		if (iot_auth_device_key_check(p->auth, s->secret, &d, &err) == 0) {
			s->key_expires_us = d.key_expires_us; /* a rotation may have given it an end */
			return d.id == s->device_id && d.status == IOT_DEVICE_ACTIVE;
		}
	} else {
		iot_user_ref u;
		if (iot_auth_user_token(p->auth, s->secret, &u, &err) == 0) {
			s->is_admin = u.is_admin; /* an admin flag taken away takes effect */
			return u.id == s->user_id;
		}
	}
	if (err.status == IOT_UNAVAILABLE) {
		iotp_backend_failed(p, &err);
		return -1;  /* cannot tell: keep it, try again at the next message or tick */
	}
	return 0;
}

/* Sessions no longer allowed, gathered during a walk: the client ids of
 * connected ones to kick, and every one's client to drop. */
struct kick_list {
	char **id;                     /* NULL for an offline one: dropped only */
	const struct mosquitto **client;
	size_t n, cap;
};

static void kick_add(struct kick_list *k, const struct session *s)
{
	if (k->n == k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 16;
		char **v = realloc(k->id, cap * sizeof *v);
		if (v)
			k->id = v;
		const struct mosquitto **c = v ? realloc(k->client, cap * sizeof *c) : NULL;
		if (!c)
			return;
		k->client = c;
		k->cap = cap;
	}
	k->id[k->n] = NULL;
	if (!s->offline && !(k->id[k->n] = strdup(s->client_id)))
		return;
	k->client[k->n++] = s->client;
}

static void kick_all(struct plugin *p, struct kick_list *k, const char *why)
{
	for (size_t i = 0; i < k->n; i++) {
		iotp_session_drop(p, k->client[i]);
		if (!k->id[i]) {
			iotp_log(MOSQ_LOG_NOTICE, "forgetting an offline session: %s", why);
			continue;
		}
		iotp_log(MOSQ_LOG_NOTICE, "disconnecting client %s: %s", k->id[i], why);
		mosquitto_kick_client_by_clientid(k->id[i], false);
		free(k->id[i]);
	}
	free(k->id);
	free(k->client);
	k->id = NULL;
	k->client = NULL;
	k->n = k->cap = 0;
}

void iotp_sessions_invalidated(struct plugin *p, const char *msg)
{
	long long id = 0;
	if (!strcmp(msg, "all")) {
		p->recheck_all = true;
		p->recheck_cursor = 0;
		return;
	}
	if (sscanf(msg, "device %lld", &id) != 1 || id <= 0)
		return;
	/* The lookups' own subscription may not have read this yet. */
	if (p->auth)
		iot_auth_forget(p->auth, id);
	struct kick_list k = { 0 };
	for (size_t b = 0; b < SESSION_BUCKETS; b++)
		for (struct session *s = p->bucket[b]; s; s = s->next)
			if (s->kind == SESSION_DEVICE && s->device_id == id && iotp_session_still_valid(p, s) == 0)
				kick_add(&k, s);
	kick_all(p, &k, "its key or device changed");
}

/* A service token is checked again every SERVICE_RECHECK_MS; a device's
 * key once its grace period (after a rotation) is over: no invalidation
 * is published when it ends. */
static bool recheck_due(const struct session *s, long long now_ms, int64_t now_us)
{
	if (s->kind == SESSION_SERVICE)
		return now_ms - s->checked_ms >= SERVICE_RECHECK_MS;
	return s->kind == SESSION_DEVICE && s->key_expires_us && now_us >= s->key_expires_us;
}

void iotp_sessions_tick(struct plugin *p)
{
	struct kick_list k = { 0 };
	long long now = iot_now_ms();
	if (p->recheck_all) {
		size_t checked = 0, b = p->recheck_cursor;
		for (; b < SESSION_BUCKETS && checked < SLICE; b++)
			for (struct session *s = p->bucket[b]; s; s = s->next, checked++)
				if (s->kind != SESSION_SERVICE && iotp_session_still_valid(p, s) == 0)
					kick_add(&k, s);
		p->recheck_cursor = b;
		p->recheck_all = b < SESSION_BUCKETS;
	}
	/* Service sessions are few (listeners, command senders), and a device
	 * session's check here is one comparison: walking once a second is cheap. */
	if (now - p->service_check_ms >= 1000) {
		p->service_check_ms = now;
		int64_t now_us = iot_now_us();
		for (size_t b = 0; b < SESSION_BUCKETS; b++)
			for (struct session *s = p->bucket[b]; s; s = s->next)
				if (recheck_due(s, now, now_us)) {
					s->checked_ms = now;
					if (iotp_session_still_valid(p, s) == 0)
						kick_add(&k, s);
				}
	}
	kick_all(p, &k, "no longer allowed");
}
