/* listen.c — the listener (listen.h): options, the shared batch writer, one
 * PostgreSQL connection and cache handle per session (iot_auth is for one
 * thread), starting and stopping the sessions. */
#include "mqtt/listen_int.h"

#include <mosquitto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void iot_listen_opts_default(iot_listen_opts *o)
{
	memset(o, 0, sizeof *o);
	o->sessions = 1;
	o->receive_max = 1000;
	o->keepalive = 60;
	o->session_expiry = 7L * 86400;
	iot_writer_opts_default(&o->writer);
	/* Messages wait for their commit before the next are read: short
	 * batches, flushed as soon as a round has been read (session.c). */
	o->writer.batch_size = 5000;
	o->writer.flush_ms = 20;
	o->writer.use_cache = true;
	iot_decode_opts_default(&o->decode);
	o->decode.device = true;
}

static bool group_valid(const char *g)
{
	size_t n = strlen(g);
	return n >= 1 && n < 100 && strcspn(g, "/+#") == n;
}

static bool client_id_valid(const char *c)
{
	size_t n = strlen(c);
	return n >= 1 && n <= 100 && strspn(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:") == n;
}

static int check_opts(struct iot_listener *l, iot_error *err)
{
	iot_listen_opts *o = &l->o;
	if (o->sessions < 1 || o->sessions > 64)
		return iot_error_set(err, IOT_USAGE, "sessions must be 1..64");
	if (o->receive_max < 1 || o->receive_max > 65535)
		return iot_error_set(err, IOT_USAGE, "the receive maximum must be 1..65535");
	if (o->keepalive < 5 || o->keepalive > 65535)
		return iot_error_set(err, IOT_USAGE, "the keepalive must be 5..65535 seconds");
	if (o->session_expiry < 0 || o->session_expiry > 0xFFFFFFFFL)
		return iot_error_set(err, IOT_USAGE, "the session expiry must be 0..4294967295 seconds");
	if (o->group && !group_valid(o->group))
		return iot_error_set(err, IOT_USAGE, "a subscription group is 1..99 characters without '/', '+' or '#'");
	if (!o->group && o->sessions > 1)
		return iot_error_set(err, IOT_USAGE, "several sessions need a shared-subscription group (--share): "
		                     "without one each session would get every message");
	snprintf(l->group, sizeof l->group, "%s", o->group ? o->group : "");
	if (o->client_id) {
		if (!client_id_valid(o->client_id))
			return iot_error_set(err, IOT_USAGE, "a client id is 1..100 of A-Z a-z 0-9 - _ . :");
		snprintf(l->client_id, sizeof l->client_id, "%s", o->client_id);
	} else {
		char host[64] = "localhost";
		gethostname(host, sizeof host - 1);
		host[strcspn(host, ".")] = '\0';
		if (!client_id_valid(host))
			snprintf(host, sizeof host, "host");
		snprintf(l->client_id, sizeof l->client_id, "iot-mqtt-listen-%s", host);
	}
	return 0;
}

static int open_session(struct iot_listener *l, struct session *s, int i, iot_error *err)
{
	s->l = l;
	s->index = i;
	snprintf(s->client_id, sizeof s->client_id, "%s-%d", l->client_id, i + 1);
	if (!(s->db = iot_db_connect(l->cfg, err)) || !(s->cache = iot_cache_connect(l->cfg, err)) ||
	    !(s->auth = iot_auth_new(l->cfg, s->db, s->cache, err)))
		return -1;
	s->in = (iot_ingest){ .decode = &l->o.decode, .auth = s->auth, .writer = l->w,
	                      .note = iot__listen_note, .note_arg = s };
	return iot__listen_session_init(s, err);
}

iot_listener *iot_listener_new(const iot_config *cfg, const iot_listen_opts *o, iot_error *err)
{
	struct iot_listener *l = calloc(1, sizeof *l);
	if (!l) {
		iot_error_set(err, IOT_INTERNAL, "out of memory");
		return NULL;
	}
	l->cfg = cfg;
	l->o = *o;
	pthread_mutex_init(&l->mu, NULL);
	pthread_mutex_init(&l->print_mu, NULL);
	iot_log_limit_init(&l->refusals, IOT_LISTEN_NOTICE_BURST, IOT_LISTEN_NOTICE_WINDOW_MS);
	mosquitto_lib_init();
	const char *url = iot_config_get(cfg, "mqtt_url");
	if (check_opts(l, err) < 0 || iot_mqtt_url_parse(url && *url ? url : "mqtt://localhost", &l->url, err) < 0)
		goto fail;
	iot_mqtt_url_address(&l->url, l->addr, sizeof l->addr);
	if (!o->print && !(l->w = iot_writer_new(cfg, &l->o.writer, err)))
		goto fail;
	if (!(l->s = calloc((size_t)o->sessions, sizeof *l->s))) {
		iot_error_set(err, IOT_INTERNAL, "out of memory");
		goto fail;
	}
	for (int i = 0; i < o->sessions; i++)
		if (open_session(l, &l->s[i], i, err) < 0)
			goto fail;
	if (iot__listen_dispatch_open(l, err) < 0)
		goto fail;
	return l;
fail:
	iot_listener_free(l);
	return NULL;
}

void iot__listen_fail(struct iot_listener *l, const iot_error *err)
{
	pthread_mutex_lock(&l->mu);
	if (!l->failed) {
		l->failed = true;
		l->fail = *err;
	}
	pthread_mutex_unlock(&l->mu);
}

bool iot__listen_stopping(const struct iot_listener *l)
{
	const atomic_bool *stop = iot_config_stop(l->cfg);
	if (stop && atomic_load(stop))
		return true;
	pthread_mutex_lock((pthread_mutex_t *)&l->mu);
	bool failed = l->failed;
	pthread_mutex_unlock((pthread_mutex_t *)&l->mu);
	return failed;
}

int iot_listener_run(iot_listener *l, iot_listen_tick_fn tick, void *arg, iot_error *err)
{
	sigset_t all, old;
	sigfillset(&all);
	/* Signals stay the program's (its handler sets the stop flag). */
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (int i = 0; i < l->o.sessions; i++) {
		if (pthread_create(&l->s[i].thread, NULL, iot__listen_session_main, &l->s[i]) != 0) {
			iot_error e;
			iot_error_set(&e, IOT_INTERNAL, "unable to start a thread");
			iot__listen_fail(l, &e);
			break;
		}
		l->s[i].started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	while (!iot__listen_stopping(l)) {
		int subscribed = 0;
		for (int i = 0; i < l->o.sessions; i++)
			subscribed += l->s[i].subscribed;
		if (tick)
			tick(arg, subscribed);
		iot__listen_dispatch_tick(l);
		struct timespec ts = { 0, 250 * 1000000L };
		nanosleep(&ts, NULL);
	}
	for (int i = 0; i < l->o.sessions; i++)
		if (l->s[i].started) {
			pthread_join(l->s[i].thread, NULL);
			l->s[i].started = false;
		}
	if (l->failed) {
		*err = l->fail;
		return -1;
	}
	return 0;
}

void iot_listener_free(iot_listener *l)
{
	if (!l)
		return;
	iot__listen_metrics_stop(l);
	iot__listen_dispatch_close(l);
	for (int i = 0; l->s && i < l->o.sessions; i++) {
		struct session *s = &l->s[i];
		if (s->m)
			mosquitto_destroy(s->m);
		iot_error e;
		/* Gone past its retry budget, PostgreSQL gets one try at the keys'
		 * usage counts, not a budget of its own before the exit. */
		if (s->db && l->failed && l->fail.status == IOT_UNAVAILABLE)
			iot_db_set_retry_time(s->db, 0);
		/* Nor do they outlive a PostgreSQL that no longer answers. */
		if (s->db)
			iot_db_set_answer_time(s->db, IOT_LISTEN_DB_ANSWER_MS);
		if (s->auth)
			iot_auth_flush_usage(s->auth, &e);
		iot_auth_free(s->auth);
		iot_cache_free(s->cache);
		iot_db_close(s->db);
	}
	free(l->s);
	if (l->w) {
		iot_error e;
		iot_writer_close(l->w, &e);
	}
	iot_mqtt_url_clear(&l->url);
	pthread_mutex_destroy(&l->mu);
	pthread_mutex_destroy(&l->print_mu);
	iot_log_limit_destroy(&l->refusals);
	mosquitto_lib_cleanup();
	free(l);
}
