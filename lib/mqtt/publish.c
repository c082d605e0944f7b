/* publish.c — a QoS 1 publisher that waits for the PUBACK (publish.h).
 *
 * libmosquitto's loop thread runs the connection and calls on_publish
 * when a PUBACK arrives. A publishing thread learns its message id only
 * when mosquitto_publish returns, and the PUBACK may already have been
 * handled by then: acks that find no waiter are kept for a while in a
 * small ring, where the publisher looks first. */
#include "mqtt/publish.h"
#include "base/cond.h"
#include "mqtt/mqtt_url.h"
#include "base/clock.h"
#include "base/json_util.h"

#include <errno.h>
#include <mosquitto.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#define EARLY 64

struct waiter {
	int mid;
	bool done;
	int reason;                  /* the PUBACK's reason code; -1: connection lost */
	struct waiter *next;
};

struct iot_publisher {
	struct mosquitto *m;
	const iot_config *cfg;       /* background: refused logins are told through it */
	iot_publisher_opts o;
	iot_mqtt_url url;
	char client_id[64];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool connected, refused, loop_started, stopping, connector_started;
	pthread_t connector;         /* background: connects, and again after a refused login */
	int connect_rc;
	long refusals;               /* logins refused in a row */
	long long refusal_told_ms;
	struct waiter *waiters;
	struct { int mid, reason; long long at_ms; } early[EARLY];
	size_t early_next;
	unsigned long published, failed;
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static void lib_init(void)
{
	mosquitto_lib_init();
}

#define REFUSAL_TELL_MS 60000

/* A daemon's publisher (tell_refusals) says when the broker refuses its login (the first
 * of a series, then at most once a minute) and when it is let in again:
 * nothing else would show why its commands stay pending. */
static void on_connect(struct mosquitto *m, void *arg, int rc, int flags, const mosquitto_property *props)
{
	(void)m;
	(void)flags;
	(void)props;
	iot_publisher *p = arg;
	long long now = iot_now_ms();
	pthread_mutex_lock(&p->mu);
	long refused_before = p->refusals;
	p->connected = rc == 0;
	p->refused = rc != 0;
	p->connect_rc = rc;
	p->refusals = rc ? p->refusals + 1 : 0;
	bool tell = rc && (p->refusals == 1 || now - p->refusal_told_ms >= REFUSAL_TELL_MS);
	if (tell)
		p->refusal_told_ms = now;
	long refusals = p->refusals;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	if (!p->o.background || !p->o.tell_refusals)
		return;
	char addr[300];
	iot_mqtt_url_address(&p->url, addr, sizeof addr);
	if (tell)
		iot_config_notice(p->cfg, "the broker at %s refused the login of mqtt_url: %s%s; check its user and "
		                  "password (behind iotflow-mosquitto(8): a person's API token); retrying with backoff "
		                  "to 30 s", addr, mosquitto_reason_string(rc),
		                  refusals > 1 ? " (again)" : "");
	else if (!rc && refused_before)
		iot_config_info(p->cfg, "connected to the broker at %s, after %ld refused logins", addr, refused_before);
}

static void on_disconnect(struct mosquitto *m, void *arg, int rc, const mosquitto_property *props)
{
	(void)m;
	(void)rc;
	(void)props;
	iot_publisher *p = arg;
	pthread_mutex_lock(&p->mu);
	p->connected = false;
	/* What was in flight may never be acked: its senders stop waiting. */
	for (struct waiter *w = p->waiters; w; w = w->next)
		if (!w->done) {
			w->done = true;
			w->reason = -1;
		}
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static void on_publish(struct mosquitto *m, void *arg, int mid, int reason, const mosquitto_property *props)
{
	(void)m;
	(void)props;
	iot_publisher *p = arg;
	pthread_mutex_lock(&p->mu);
	struct waiter *w = p->waiters;
	while (w && w->mid != mid)
		w = w->next;
	if (w) {
		w->done = true;
		w->reason = reason;
	} else {
		size_t i = p->early_next++ % EARLY;
		p->early[i].mid = mid;
		p->early[i].reason = reason;
		p->early[i].at_ms = iot_now_ms();
	}
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* Foreground: wait for the CONNACK. Called with p->mu held. */
static int wait_connected(iot_publisher *p, iot_error *err)
{
	struct timespec dl = iot_clock_in(CLOCK_MONOTONIC, p->o.timeout_ms);
	while (!p->connected && !p->refused)
		if (pthread_cond_timedwait(&p->cv, &p->mu, &dl) == ETIMEDOUT)
			break;
	char addr[300];
	iot_mqtt_url_address(&p->url, addr, sizeof addr);
	if (p->connected)
		return 0;
	if (p->refused)
		return iot_error_set(err, p->connect_rc == 0x86 || p->connect_rc == 0x87 || p->connect_rc == 4 ||
		                     p->connect_rc == 5 ? IOT_DENIED : IOT_UNAVAILABLE,
		                     "the broker at %s refused the connection: %s", addr,
		                     mosquitto_reason_string(p->connect_rc));
	return iot_error_set(err, IOT_UNAVAILABLE, "the broker at %s did not answer within %d ms", addr,
	                     p->o.timeout_ms);
}

/* The network thread takes no signals: they stay the program's. */
static int loop_start(iot_publisher *p)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = mosquitto_loop_start(p->m);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

/* Background: libmosquitto's loop reconnects a connection it once had
 * that was lost, but its thread never starts one whose first connect
 * failed, and it ends for good when the broker refuses the login (an MQTT
 * v5 reason code is a protocol error to it). So this thread connects
 * (1 s doubling to 30 s), lets the loop run, and when a login is refused
 * stops the loop and connects again after the backoff. Called with p->mu
 * not held: the loop's callbacks take it. */
static void *connector_main(void *arg)
{
	iot_publisher *p = arg;
	int delay_ms = 1000;
	pthread_mutex_lock(&p->mu);
	while (!p->stopping) {
		if (!p->loop_started) {
			pthread_mutex_unlock(&p->mu);
			bool up = mosquitto_connect(p->m, p->url.host, p->url.port, 30) == MOSQ_ERR_SUCCESS &&
			          loop_start(p) == MOSQ_ERR_SUCCESS;
			pthread_mutex_lock(&p->mu);
			p->loop_started = up;
		}
		/* Running: until the publisher is freed or a login is refused. */
		while (p->loop_started && !p->stopping && !p->refused)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stopping)
			break;
		if (p->loop_started) {
			p->loop_started = false;
			p->refused = false;
			pthread_mutex_unlock(&p->mu);
			mosquitto_disconnect(p->m); /* a loop still trying ends too */
			mosquitto_loop_stop(p->m, false);
			pthread_mutex_lock(&p->mu);
		}
		if (p->refusals == 1)
			delay_ms = 1000; /* the first refusal after a login was accepted */
		struct timespec dl = iot_clock_in(CLOCK_MONOTONIC, delay_ms);
		while (!p->stopping && pthread_cond_timedwait(&p->cv, &p->mu, &dl) != ETIMEDOUT)
			;
		delay_ms = delay_ms >= 15000 ? 30000 : delay_ms * 2;
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static int start(iot_publisher *p, iot_error *err)
{
	char addr[300];
	iot_mqtt_url_address(&p->url, addr, sizeof addr);
	int rc;
	mosquitto_reconnect_delay_set(p->m, 1, 30, true);
	if (p->o.background) {
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		rc = pthread_create(&p->connector, NULL, connector_main, p);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (rc != 0)
			return iot_error_set(err, IOT_INTERNAL, "cannot start a thread: %s", strerror(rc));
		p->connector_started = true;
		return 0;
	}
	if ((rc = mosquitto_connect(p->m, p->url.host, p->url.port, 30)) != MOSQ_ERR_SUCCESS)
		return iot_error_set(err, IOT_UNAVAILABLE, "unable to connect to the broker at %s: %s", addr,
		                     rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
	if ((rc = loop_start(p)) != MOSQ_ERR_SUCCESS)
		return iot_error_set(err, IOT_INTERNAL, "cannot start the MQTT network thread: %s", mosquitto_strerror(rc));
	p->loop_started = true;
	pthread_mutex_lock(&p->mu);
	rc = wait_connected(p, err);
	pthread_mutex_unlock(&p->mu);
	return rc;
}

iot_publisher *iot_publisher_new(const iot_config *cfg, const iot_publisher_opts *o, iot_error *err)
{
	const char *url = iot_config_get(cfg, "mqtt_url");
	if (!url || !*url) {
		iot_error_set(err, IOT_USAGE, "mqtt_url is not set (IOTFLOW_MQTT_URL)");
		return NULL;
	}
	iot_publisher *p = calloc(1, sizeof *p);
	if (!p) {
		iot_error_set(err, IOT_INTERNAL, "out of memory");
		return NULL;
	}
	p->o = *o;
	p->cfg = cfg;
	if (p->o.timeout_ms <= 0)
		p->o.timeout_ms = IOT_PUBLISH_TIMEOUT_MS;
	pthread_mutex_init(&p->mu, NULL);
	iot_cond_init_monotonic(&p->cv);
	if (iot_mqtt_url_parse(url, &p->url, err) < 0)
		goto fail;
	pthread_once(&lib_once, lib_init);
	const char *prog = iot_config_program(cfg);
	snprintf(p->client_id, sizeof p->client_id, "iotflow-%.24s-%ld-%08x", prog ? prog : "lib", (long)getpid(),
	         (unsigned)randombytes_random());
	if (!(p->m = mosquitto_new(p->client_id, true, p))) {
		iot_error_set(err, IOT_INTERNAL, "cannot create an MQTT client: %s", strerror(errno));
		goto fail;
	}
	if (iot_mqtt_client_setup(p->m, &p->url, err) < 0)
		goto fail;
	mosquitto_connect_v5_callback_set(p->m, on_connect);
	mosquitto_disconnect_v5_callback_set(p->m, on_disconnect);
	mosquitto_publish_v5_callback_set(p->m, on_publish);
	if (start(p, err) < 0)
		goto fail;
	return p;
fail:
	iot_publisher_free(p);
	return NULL;
}

void iot_publisher_free(iot_publisher *p)
{
	if (!p)
		return;
	if (p->connector_started) {
		pthread_mutex_lock(&p->mu);
		p->stopping = true;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		pthread_join(p->connector, NULL);
	}
	if (p->m) {
		if (p->loop_started) {
			mosquitto_disconnect(p->m);
			mosquitto_loop_stop(p->m, false);
		}
		mosquitto_destroy(p->m);
	}
	iot_mqtt_url_clear(&p->url);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

/* An ack that came before its waiter: its reason code, or -2 when none. */
static int take_early(iot_publisher *p, int mid)
{
	long long old = iot_now_ms() - 2LL * p->o.timeout_ms;
	for (size_t i = 0; i < EARLY; i++)
		if (p->early[i].mid == mid && p->early[i].at_ms > old) {
			p->early[i].mid = 0;
			return p->early[i].reason;
		}
	return -2;
}

/* Wait for the PUBACK of mid: its reason code, -1 connection lost, -3 timed out. */
static int wait_ack(iot_publisher *p, int mid)
{
	pthread_mutex_lock(&p->mu);
	int reason = take_early(p, mid);
	if (reason != -2) {
		pthread_mutex_unlock(&p->mu);
		return reason;
	}
	struct waiter w = { .mid = mid, .next = p->waiters };
	p->waiters = &w;
	struct timespec dl = iot_clock_in(CLOCK_MONOTONIC, p->o.timeout_ms);
	while (!w.done)
		if (pthread_cond_timedwait(&p->cv, &p->mu, &dl) == ETIMEDOUT)
			break;
	for (struct waiter **pp = &p->waiters; *pp; pp = &(*pp)->next)
		if (*pp == &w) {
			*pp = w.next;
			break;
		}
	pthread_mutex_unlock(&p->mu);
	return w.done ? w.reason : -3;
}

int iot_publish(iot_publisher *p, const char *topic, const void *payload, size_t len, bool retain,
                iot_error *err)
{
	char addr[300];
	iot_mqtt_url_address(&p->url, addr, sizeof addr);
	pthread_mutex_lock(&p->mu);
	bool up = p->connected;
	pthread_mutex_unlock(&p->mu);
	int mid = 0, rc = MOSQ_ERR_NO_CONN;
	if (up)
		rc = mosquitto_publish_v5(p->m, &mid, topic, (int)len, payload, 1, retain, NULL);
	if (rc == MOSQ_ERR_SUCCESS) {
		int reason = wait_ack(p, mid);
		if (reason >= 0 && reason < 0x80) {
			__atomic_add_fetch(&p->published, 1, __ATOMIC_RELAXED);
			return 0;
		}
		__atomic_add_fetch(&p->failed, 1, __ATOMIC_RELAXED);
		if (reason == -1)
			return iot_error_set(err, IOT_UNAVAILABLE, "the connection to the broker at %s was lost", addr);
		if (reason == -3)
			return iot_error_set(err, IOT_UNAVAILABLE, "no answer from the broker at %s within %d ms", addr,
			                     p->o.timeout_ms);
		return iot_error_set(err, IOT_DENIED, "the broker at %s refused the message to %s: %s", addr, topic,
		                     mosquitto_reason_string(reason));
	}
	__atomic_add_fetch(&p->failed, 1, __ATOMIC_RELAXED);
	switch (rc) {
	case MOSQ_ERR_NO_CONN:
	case MOSQ_ERR_CONN_LOST:
		pthread_mutex_lock(&p->mu);
		int refused = p->refusals ? p->connect_rc : 0;
		pthread_mutex_unlock(&p->mu);
		if (refused)
			return iot_error_set(err, IOT_UNAVAILABLE, "not connected: the broker at %s refused the login of "
			                     "mqtt_url: %s", addr, mosquitto_reason_string(refused));
		return iot_error_set(err, IOT_UNAVAILABLE, "not connected to the broker at %s", addr);
	case MOSQ_ERR_INVAL:
	case MOSQ_ERR_MALFORMED_UTF8:
	case MOSQ_ERR_PAYLOAD_SIZE:
	case MOSQ_ERR_OVERSIZE_PACKET:
	case MOSQ_ERR_QOS_NOT_SUPPORTED:
		return iot_error_set(err, IOT_USAGE, "the broker would not take this message: %s", mosquitto_strerror(rc));
	default:
		return iot_error_set(err, IOT_UNAVAILABLE, "unable to publish to the broker at %s: %s", addr,
		                     mosquitto_strerror(rc));
	}
}

int iot_publish_json(iot_publisher *p, const char *topic, const json_t *v, bool retain, iot_error *err)
{
	size_t n;
	char *text = iot_json_text(v, &n);
	if (!text)
		return iot_error_set(err, IOT_INTERNAL, "out of memory");
	int rc = iot_publish(p, topic, text, n, retain, err);
	free(text);
	return rc;
}

void iot_publisher_get_info(iot_publisher *p, iot_publisher_info *out)
{
	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&p->mu);
	out->connected = p->connected;
	pthread_mutex_unlock(&p->mu);
	out->tls = p->url.tls;
	out->port = p->url.port;
	snprintf(out->host, sizeof out->host, "%s", p->url.host);
	iot_mqtt_url_address(&p->url, out->address, sizeof out->address);
	snprintf(out->client_id, sizeof out->client_id, "%s", p->client_id);
	out->published = __atomic_load_n(&p->published, __ATOMIC_RELAXED);
	out->failed = __atomic_load_n(&p->failed, __ATOMIC_RELAXED);
}
