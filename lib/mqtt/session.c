/* session.c — one MQTT session of the listener, on a thread of its own:
 * connect (persistent session, reconnect with backoff), subscribe, and the
 * read -> commit -> acknowledge rounds that keep delivery at least once
 * (listen.h says why the loop is driven by hand). */
#include "mqtt/listen_int.h"

#include <errno.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "base/clock.h"

#define BACKOFF_FIRST_MS 250
#define BACKOFF_MAX_MS 30000

/* The next attempt waits 0.25 s doubling to 30 s (with jitter: half to all
 * of it) after this one; an accepted login starts the series again. */
static void schedule_next_try(struct session *s)
{
	long delay = BACKOFF_FIRST_MS << (s->attempt < 7 ? s->attempt : 7);
	if (delay > BACKOFF_MAX_MS)
		delay = BACKOFF_MAX_MS;
	s->attempt++;
	s->next_try = iot_now_ms() + delay / 2 + random() % (delay / 2 + 1);
}

/* A login the broker refused (bad credentials, not authorized, or, behind
 * iotflow-mosquitto(8), PostgreSQL restarting so that no token can be
 * checked): no reconnect before the backoff says, and told once, then at
 * most once a minute. */
static void login_refused(struct session *s, int reason)
{
	struct iot_listener *l = s->l;
	long long now = iot_now_ms();
	s->refusals++;
	if (s->refusals > 1 && now - s->refusal_told_ms < IOT_LISTEN_REFUSAL_TELL_MS)
		return;
	s->refusal_told_ms = now;
	long long wait = s->next_try > now ? s->next_try - now : 0;
	char times[48] = "";
	if (s->refusals > 1)
		snprintf(times, sizeof times, " (%ld times in a row)", s->refusals);
	iot_config_notice(l->cfg, "session %s: the broker at %s refused the login: %s%s; check the user and "
	                  "password of mqtt_url (behind iotflow-mosquitto(8): a person's API token, and PostgreSQL "
	                  "must be up for the broker to check it); retrying in %lld.%lld s, backing off to %d s",
	                  s->client_id, l->addr, mosquitto_reason_string(reason), times, wait / 1000,
	                  wait % 1000 / 100, BACKOFF_MAX_MS / 1000);
}

static const char *const topic_filters[] = {
	"iotflow/devices/+/telemetry/#", /* also matches .../telemetry itself */
	"iotflow/devices/+/status/+",
	"iotflow/devices/+/commands/ack",
};
#define NFILTERS (sizeof topic_filters / sizeof topic_filters[0])

static void on_connect(struct mosquitto *m, void *obj, int rc, int flags, const mosquitto_property *props)
{
	(void)props;
	struct session *s = obj;
	struct iot_listener *l = s->l;
	if (rc != 0) {
		login_refused(s, rc);
		return;
	}
	atomic_fetch_add(&l->m.connects, 1);
	atomic_fetch_add(&l->m.connected, 1);
	s->connected = true;
	long refused = s->refusals;
	s->attempt = 0;
	s->next_try = 0;
	s->refusals = 0;
	char subs[NFILTERS][200];
	char *list[NFILTERS];
	for (size_t i = 0; i < NFILTERS; i++) {
		if (l->group[0])
			snprintf(subs[i], sizeof subs[i], "$share/%s/%s", l->group, topic_filters[i]);
		else
			snprintf(subs[i], sizeof subs[i], "%s", topic_filters[i]);
		list[i] = subs[i];
	}
	/* Again on every connect, whether or not the broker kept the session:
	 * the same subscription replaces itself, nothing is lost (and the broker
	 * may have forgotten it: mosquitto 2.0.11 restores plain subscriptions
	 * of a persistent session after a restart, shared ones not). Retained
	 * messages are never replayed: an old status/online and status/offline
	 * would come back in any order on every reconnect (compat B5). */
	rc = mosquitto_subscribe_multiple(m, NULL, (int)NFILTERS, list, 1, MQTT_SUB_OPT_SEND_RETAIN_NEVER, NULL);
	if (rc != MOSQ_ERR_SUCCESS)
		iot_config_notice(l->cfg, "session %s: unable to subscribe: %s", s->client_id, mosquitto_strerror(rc));
	if (refused)
		iot_config_info(l->cfg, "session %s connected to %s (%s), after %ld refused logins", s->client_id,
		                l->addr, flags & 1 ? "the broker kept its session" : "a new session", refused);
	else if (s->index == 0 || (flags & 1) == 0)
		iot_config_info(l->cfg, "session %s connected to %s (%s)", s->client_id, l->addr,
		                flags & 1 ? "the broker kept its session" : "a new session");
}

static void on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *granted,
                         const mosquitto_property *props)
{
	(void)m, (void)mid, (void)props;
	struct session *s = obj;
	for (int i = 0; i < n; i++)
		if (granted[i] > 2) {
			iot_config_notice(s->l->cfg, "session %s: the broker refused the subscription to %s: %s",
			                  s->client_id, i < (int)NFILTERS ? topic_filters[i] : "?",
			                  mosquitto_reason_string(granted[i]));
			return;
		}
	s->subscribed = true;
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc, const mosquitto_property *props)
{
	(void)m, (void)props;
	struct session *s = obj;
	struct iot_listener *l = s->l;
	if (s->connected) {
		atomic_fetch_sub(&l->m.connected, 1);
		atomic_fetch_add(&l->m.disconnects, 1);
		if (!iot__listen_stopping(l))
			iot_config_notice(l->cfg, "session %s lost the broker at %s (%s): reconnecting", s->client_id,
			                  l->addr, rc == 0 ? "disconnected" : mosquitto_strerror(rc));
	}
	s->connected = false;
	s->subscribed = false;
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg,
                       const mosquitto_property *props)
{
	(void)m, (void)props;
	iot__listen_message(obj, msg);
}

/* Create the client: persistent session, threaded (nothing is written
 * outside mosquitto_loop_write), MQTT v5 with our receive maximum. */
int iot__listen_session_init(struct session *s, iot_error *err)
{
	struct iot_listener *l = s->l;
	if (!(s->m = mosquitto_new(s->client_id, false, s)))
		return iot_error_set(err, IOT_INTERNAL, "unable to create an MQTT client: %s", strerror(errno));
	mosquitto_threaded_set(s->m, true);
	if (iot_mqtt_client_setup(s->m, &l->url, err) < 0)
		return -1;
	int rc = mosquitto_int_option(s->m, MOSQ_OPT_RECEIVE_MAXIMUM, l->o.receive_max);
	if (rc != MOSQ_ERR_SUCCESS)
		return iot_error_set(err, IOT_INTERNAL, "cannot set the receive maximum: %s", mosquitto_strerror(rc));
	mosquitto_connect_v5_callback_set(s->m, on_connect);
	mosquitto_subscribe_v5_callback_set(s->m, on_subscribe);
	mosquitto_disconnect_v5_callback_set(s->m, on_disconnect);
	mosquitto_message_v5_callback_set(s->m, on_message);
	return 0;
}

static int try_connect(struct session *s)
{
	struct iot_listener *l = s->l;
	mosquitto_property *props = NULL;
	int rc = mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
	                                      (uint32_t)l->o.session_expiry);
	if (rc == MOSQ_ERR_SUCCESS)
		rc = mosquitto_connect_bind_v5(s->m, l->url.host, l->url.port, l->o.keepalive, NULL, props);
	mosquitto_property_free_all(&props);
	return rc;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, 0) > 0;
}

/* Nothing of this round may be acknowledged: drop the connection without
 * writing (the queued PUBACKs are discarded at the next connect), so the
 * broker sends the messages again. */
static void drop_unacknowledged(struct session *s)
{
	int fd = mosquitto_socket(s->m);
	if (fd < 0)
		return;
	shutdown(fd, SHUT_RDWR);
	mosquitto_loop_read(s->m, 1); /* sees the end of the stream and closes */
}

/* Read what the broker has sent (at most receive_max messages), commit
 * what was handed to the writer, then let the PUBACKs go. */
static void round_trip(struct session *s)
{
	struct iot_listener *l = s->l;
	s->submitted = 0;
	s->fatal = false;
	atomic_store(&s->round_failed, false);
	int handled = 0, rc = MOSQ_ERR_SUCCESS;
	do {
		rc = mosquitto_loop_read(s->m, 1);
		handled++;
	} while (rc == MOSQ_ERR_SUCCESS && handled < l->o.receive_max && !s->fatal &&
	         !atomic_load(&s->round_failed) && mosquitto_socket(s->m) >= 0 && readable(mosquitto_socket(s->m)));
	if (s->submitted > 0 && !atomic_load(&s->round_failed)) {
		long long t0 = iot_now_ms();
		iot_error err;
		if (iot_writer_flush(l->w, &err) < 0) {
			iot__listen_fail(l, &err);
			atomic_store(&s->round_failed, true);
		}
		atomic_fetch_add(&l->m.rounds, 1);
		atomic_fetch_add(&l->m.wait_us, (uint64_t)(iot_now_ms() - t0) * 1000);
	}
	if (atomic_load(&s->round_failed) || s->fatal)
		drop_unacknowledged(s);
}

/* Write what is queued (PUBACKs, SUBSCRIBE, PINGREQ, DISCONNECT), for at
 * most about a second. */
static void write_out(struct session *s, bool all)
{
	long long until = iot_now_ms() + 1000;
	do {
		if (mosquitto_socket(s->m) < 0 || mosquitto_loop_write(s->m, 1) != MOSQ_ERR_SUCCESS)
			return;
		if (!all || !mosquitto_want_write(s->m))
			return;
		struct pollfd p = { .fd = mosquitto_socket(s->m), .events = POLLOUT };
		poll(&p, 1, 50);
	} while (iot_now_ms() < until);
}

void *iot__listen_session_main(void *arg)
{
	struct session *s = arg;
	struct iot_listener *l = s->l;
	while (!iot__listen_stopping(l)) {
		int fd = mosquitto_socket(s->m);
		if (fd < 0) {
			long long now = iot_now_ms();
			if (now < s->next_try) {
				sleep_ms(s->next_try - now < 100 ? s->next_try - now : 100);
				continue;
			}
			/* Scheduled before the outcome is known: the login may yet be
			 * refused (on_connect), which must wait as a refused socket does. */
			schedule_next_try(s);
			int rc = try_connect(s);
			if (rc == MOSQ_ERR_SUCCESS) {
				s->told_unreachable = false;
				continue;
			}
			if (!s->told_unreachable)
				iot_config_notice(l->cfg, "session %s: unable to connect to the broker at %s: %s: retrying "
				                  "with backoff", s->client_id, l->addr,
				                  rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
			s->told_unreachable = true;
			continue;
		}
		struct pollfd p = { .fd = fd, .events = POLLIN | (mosquitto_want_write(s->m) ? POLLOUT : 0) };
		int n = poll(&p, 1, 100);
		if (n > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)))
			round_trip(s);
		if (s->fatal)
			break;
		write_out(s, false);
		if (mosquitto_socket(s->m) >= 0)
			mosquitto_loop_misc(s->m);
	}
	/* Stopping: the last round is committed and its PUBACKs are queued;
	 * they go out before the DISCONNECT, and the broker keeps the session. */
	if (mosquitto_socket(s->m) >= 0 && !s->fatal) {
		mosquitto_disconnect_v5(s->m, 0, NULL);
		write_out(s, true);
	}
	return NULL;
}
