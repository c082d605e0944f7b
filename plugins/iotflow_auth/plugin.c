/* plugin.c — the Mosquitto 2 entry points (plugin API v5), the plugin's
 * options, its backend (PostgreSQL, Redis, the shared auth lookups) and the
 * tick that keeps it connected and reads the invalidation channel.
 *
 * Why lookups are done inline and bounded, not preloaded: the broker calls
 * us on its one thread, so a login that waits stalls every client. A cold
 * key costs one Redis round trip and one indexed PostgreSQL lookup (well
 * under a millisecond on a local network, bench/mqtt-connect), and every
 * statement has a statement_timeout (lookup_timeout, 250 ms by default),
 * and on our side a wait for its answer of twice that plus 100 ms (a frozen
 * host cannot run its statement_timeout: iot_db_set_answer_time), and
 * every connection attempt a connect timeout (PGCONNECT_TIMEOUT, 2 s unless
 * set), with reconnects spaced out by a backoff (1 s doubling to 30 s) so
 * an unreachable database costs one attempt per step, not one per login.
 * The logins of one loop turn share a budget (login_budget, login.c), so a
 * storm of cold keys delays the other clients by about that much.
 * Preloading every key digest would make the broker's memory hold the whole
 * device_auth table and still need the database for keys made after start
 * (a new device publishes no invalidation), and it would bypass the
 * shared lookups and their usage counts.
 * Usage counts are flushed every second (FLUSH_EVERY_MS): a 10-second
 * batch of a storm's keys was one UPDATE of thousands of rows, which
 * stalled the broker for a few hundred milliseconds (bench/mqtt-connect). */
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/parse.h"
#include "plugin_int.h"

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000
#define FLUSH_EVERY_MS 1000
#define REBIND_MS 10000
#define TURNED_AWAY_LOG_MS 10000

void iotp_log(int level, const char *fmt, ...)
{
	char msg[IOT_ERRMSG_MAX + 64];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	mosquitto_log_printf(level, "iotflow: %s", msg);
}

static void notice(void *arg, enum iot_notice_level level, const char *msg)
{
	(void)arg;
	iotp_log(level == IOT_NOTICE_INFO ? MOSQ_LOG_INFO : MOSQ_LOG_NOTICE, "%s", msg);
}

static void take_cache_warnings(struct plugin *p)
{
	const char *w;
	if (p->cache && (w = iot_cache_take_warning(p->cache)))
		iotp_log(MOSQ_LOG_WARNING, "%s", w);
	if (p->watch && (w = iot_cache_take_warning(p->watch)))
		iotp_log(MOSQ_LOG_WARNING, "invalidations: %s", w);
}

static void backend_backoff(struct plugin *p, const iot_error *err)
{
	long long now = iot_now_ms();
	if (now < p->backend_retry_ms)
		return;
	p->backend_backoff_ms = p->backend_backoff_ms ? p->backend_backoff_ms * 2 : BACKOFF_MIN_MS;
	if (p->backend_backoff_ms > BACKOFF_MAX_MS)
		p->backend_backoff_ms = BACKOFF_MAX_MS;
	p->backend_retry_ms = now + p->backend_backoff_ms;
	if (!p->backend_warned)
		iotp_log(MOSQ_LOG_WARNING, "%s; keys not in the caches are refused until it is back",
		         err && err->msg[0] ? err->msg : "PostgreSQL is unavailable");
	p->backend_warned = true;
}

void iotp_backend_failed(struct plugin *p, const iot_error *err)
{
	backend_backoff(p, err);
}

void iotp_backend_answered(struct plugin *p)
{
	if (!p->backend_warned || strcmp(iot_auth_last_source(p->auth), "database"))
		return;
	iotp_log(MOSQ_LOG_NOTICE, "PostgreSQL is back");
	p->backend_warned = false;
	p->backend_backoff_ms = 0;
	p->backend_retry_ms = 0;
}

static bool conn_ok(struct plugin *p)
{
	return p->db && PQstatus(iot_db_conn(p->db)) == CONNECTION_OK;
}

/* statement_timeout for this connection: a slow lookup must not hold the broker. */
static int set_timeout(struct plugin *p, iot_error *err)
{
	char ms[24];
	snprintf(ms, sizeof ms, "%ld", p->lookup_timeout_ms);
	const char *params[1] = { ms };
	PGresult *res = iot_db_query(p->db, "SELECT set_config('statement_timeout', $1, false)", 1, params, err);
	if (!res)
		return -1;
	PQclear(res);
	p->db_generation = iot_db_generation(p->db);
	return 0;
}

bool iotp_backend_ready(struct plugin *p)
{
	iot_error err = { 0 };
	if (!conn_ok(p) && iot_now_ms() >= p->backend_retry_ms) {
		int rc;
		if (!p->db) {
			rc = (p->db = iot_db_connect(p->cfg, &err)) ? 0 : -1;
			/* The server's statement_timeout ends a slow lookup with an
			 * error; this wait, longer, ends one a frozen host never
			 * answers (the session is dropped and made again). */
			if (p->db)
				iot_db_set_answer_time(p->db, 2 * p->lookup_timeout_ms + 100);
		} else
			rc = iot_db_reconnect(p->db, &err);
		if (rc < 0)
			backend_backoff(p, &err);
	}
	if (conn_ok(p) && iot_db_generation(p->db) != p->db_generation) {
		if (set_timeout(p, &err) < 0) {
			backend_backoff(p, &err);
			return p->auth != NULL;
		}
		if (p->backend_warned)
			iotp_log(MOSQ_LOG_NOTICE, "PostgreSQL is back");
		p->backend_warned = false;
		p->backend_backoff_ms = 0;
		p->backend_retry_ms = 0;
	}
	if (!p->auth && conn_ok(p)) {
		p->auth = iot_auth_new(p->cfg, p->db, p->cache, &err);
		if (!p->auth)
			backend_backoff(p, &err);
		p->bind_ms = iot_now_ms();
		if (p->auth && iot_auth_cache_bind(p->db, p->watch, &err) < 0)
			iotp_log(MOSQ_LOG_WARNING, "invalidations: %s", err.msg);
	}
	/* A database not migrated yet when the broker started has no
	 * namespace, so Redis stays unused: try again every 10 s. */
	if (p->auth && conn_ok(p) && iot_cache_configured(p->cache) && !iot_cache_namespace(p->watch) &&
	    iot_now_ms() - p->bind_ms >= REBIND_MS) {
		p->bind_ms = iot_now_ms();
		if (iot_auth_cache_bind(p->db, p->cache, &err) == 0 && iot_auth_cache_bind(p->db, p->watch, &err) == 0 &&
		    iot_cache_namespace(p->watch))
			iotp_log(MOSQ_LOG_NOTICE, "Redis is used now that the database is migrated");
	}
	return p->auth != NULL;
}

static void on_invalidation(void *arg, const char *msg)
{
	iotp_sessions_invalidated(arg, msg);
}

static int on_tick(int event, void *event_data, void *userdata)
{
	(void)event;
	(void)event_data;
	struct plugin *p = userdata;
	static long long last_flush;
	long long now = iot_now_ms();
	p->spent_us = 0;
	if (p->turned_away && now - p->turned_away_log_ms >= TURNED_AWAY_LOG_MS) {
		iotp_log(MOSQ_LOG_NOTICE, "%ld logins turned away while lookups had spent their budget (login_budget %ld ms)",
		         p->turned_away, p->login_budget_ms);
		p->turned_away = 0;
		p->turned_away_log_ms = now;
	}
	if (iotp_backend_ready(p)) {
		iot_cache_poll(p->watch, on_invalidation, p);
		iotp_sessions_tick(p);
		if (now - last_flush >= FLUSH_EVERY_MS && conn_ok(p)) {
			iot_error err;
			iot_auth_flush_usage(p->auth, &err);
			last_flush = now;
		}
	}
	take_cache_warnings(p);
	return MOSQ_ERR_SUCCESS;
}

static int on_disconnect(int event, void *event_data, void *userdata)
{
	(void)event;
	struct mosquitto_evt_disconnect *ed = event_data;
	iotp_session_disconnected(userdata, ed->client);
	return MOSQ_ERR_SUCCESS;
}

/* ---- options ---- */

static bool parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off") || !strcmp(v, "0"))
		*out = false;
	else
		return false;
	return true;
}

static int apply_options(struct plugin *p, struct mosquitto_opt *opts, int n)
{
	const char *config = NULL;
	for (int i = 0; i < n; i++)
		if (!strcmp(opts[i].key, "config"))
			config = opts[i].value;
	iot_error err = { 0 };
	if (iot_config_setup(p->cfg, config, NULL, &err) < 0) {
		iotp_log(MOSQ_LOG_ERR, "plugin_opt_config: %s", err.msg);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		const char *k = opts[i].key, *v = opts[i].value ? opts[i].value : "";
		long ms;
		if (!strcmp(k, "config"))
			continue;
		if (!strcmp(k, "database") || !strcmp(k, "redis_url") || !strcmp(k, "key_pepper")) {
			if (iot_config_set(p->cfg, k, v, &err) < 0) {
				iotp_log(MOSQ_LOG_ERR, "plugin_opt_%s: %s", k, err.msg);
				return -1;
			}
		} else if (!strcmp(k, "legacy_anonymous")) {
			if (!parse_bool(v, &p->legacy)) {
				iotp_log(MOSQ_LOG_ERR, "plugin_opt_legacy_anonymous: expected true or false, not '%.40s'", v);
				return -1;
			}
		} else if (!strcmp(k, "login_budget")) {
			if (iot_parse_long(v, 0, 10000, &ms) < 0) {
				iotp_log(MOSQ_LOG_ERR, "plugin_opt_login_budget: expected milliseconds in 0..10000, not '%.40s'", v);
				return -1;
			}
			p->login_budget_ms = ms;
		} else if (!strcmp(k, "lookup_timeout")) {
			if (iot_parse_long(v, 10, 5000, &ms) < 0) {
				iotp_log(MOSQ_LOG_ERR, "plugin_opt_lookup_timeout: expected milliseconds in 10..5000, not '%.40s'", v);
				return -1;
			}
			p->lookup_timeout_ms = ms;
		} else {
			iotp_log(MOSQ_LOG_ERR, "unknown option plugin_opt_%.60s (see iotflow-mosquitto(8))", k);
			return -1;
		}
	}
	/* Inside the broker a retry is a stall: every failure is final, and
	 * the tick reconnects with its own backoff. */
	return iot_config_set(p->cfg, "db_retry_time", "0", &err);
}

/* ---- entry points ---- */

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
	for (int i = 0; i < supported_version_count; i++)
		if (supported_versions[i] == 5)
			return 5;
	return -1;
}

static void plugin_free(struct plugin *p)
{
	if (!p)
		return;
	iotp_sessions_clear(p);
	iot_auth_free(p->auth);
	iot_cache_free(p->watch);
	iot_cache_free(p->cache);
	iot_db_close(p->db);
	iot_config_free(p->cfg);
	free(p);
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
                          struct mosquitto_opt *options, int option_count)
{
	struct plugin *p = calloc(1, sizeof *p);
	if (!p || !(p->cfg = iot_config_new("iotflow-mosquitto-plugin"))) {
		free(p);
		return MOSQ_ERR_NOMEM;
	}
	p->id = identifier;
	p->lookup_timeout_ms = 250;
	p->login_budget_ms = 100;
	iot_config_set_notice(p->cfg, notice, NULL);
	if (apply_options(p, options, option_count) < 0) {
		plugin_free(p);
		return MOSQ_ERR_INVAL;
	}
	/* A connection attempt must end: libpq waits forever by default. */
	setenv("PGCONNECT_TIMEOUT", "2", 0);
	iot_error err = { 0 };
	p->cache = iot_cache_connect(p->cfg, &err);
	p->watch = p->cache ? iot_cache_connect(p->cfg, &err) : NULL;
	if (!p->cache || !p->watch) {
		iotp_log(MOSQ_LOG_ERR, "Redis: %s", err.msg);
		plugin_free(p);
		return MOSQ_ERR_INVAL;
	}
	/* PostgreSQL away at start is no reason to keep the broker down: the
	 * tick connects as soon as it can. */
	if (!iotp_backend_ready(p))
		iotp_log(MOSQ_LOG_WARNING, "starting without PostgreSQL; retrying");
	iotp_log(MOSQ_LOG_NOTICE, "auth plugin loaded%s",
	         p->legacy ? "; legacy mode: anonymous clients may publish telemetry and status" : "");
	int rc = mosquitto_callback_register(identifier, MOSQ_EVT_BASIC_AUTH, iotp_on_basic_auth, NULL, p);
	if (!rc)
		rc = mosquitto_callback_register(identifier, MOSQ_EVT_ACL_CHECK, iotp_on_acl_check, NULL, p);
	if (!rc)
		rc = mosquitto_callback_register(identifier, MOSQ_EVT_TICK, on_tick, NULL, p);
	if (!rc)
		rc = mosquitto_callback_register(identifier, MOSQ_EVT_DISCONNECT, on_disconnect, NULL, p);
	if (rc) {
		iotp_log(MOSQ_LOG_ERR, "unable to register callbacks (%d)", rc);
		plugin_free(p);
		return rc;
	}
	*userdata = p;
	return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count)
{
	(void)options;
	(void)option_count;
	struct plugin *p = userdata;
	if (p) {
		mosquitto_callback_unregister(p->id, MOSQ_EVT_BASIC_AUTH, iotp_on_basic_auth, NULL);
		mosquitto_callback_unregister(p->id, MOSQ_EVT_ACL_CHECK, iotp_on_acl_check, NULL);
		mosquitto_callback_unregister(p->id, MOSQ_EVT_TICK, on_tick, NULL);
		mosquitto_callback_unregister(p->id, MOSQ_EVT_DISCONNECT, on_disconnect, NULL);
	}
	plugin_free(p);
	return MOSQ_ERR_SUCCESS;
}
