/* listen_dispatch.c — the listener's second job: what the platform has to
 * tell devices and the broker does not have yet. `iot-device command send`
 * and iot-httpd publish a command at once; when the broker was away the
 * command stays pending in device_control (and a configuration change in
 * config_outbox) until someone publishes it. Here, every
 * IOT_LISTEN_DISPATCH_S seconds, the listener does (dispatch.h), with its
 * own database connection and its own publisher (the service credentials
 * of mqtt_url), so a slow publish never holds up a session's round. */
#include "mqtt/listen_int.h"

#include "base/clock.h"
#include "mqtt/dispatch.h"
#include "mqtt/publish.h"

int iot__listen_dispatch_open(struct iot_listener *l, iot_error *err)
{
	const char *url = iot_config_get(l->cfg, "mqtt_url");
	if (l->o.print)
		return 0;
	if (!url || !*url) {
		/* The listener's own default broker; the publisher wants it said. */
		iot_config_notice(l->cfg, "mqtt_url is not set: pending commands are not published from here");
		return 0;
	}
	iot_publisher_opts po = { .background = true };
	if (!(l->dispatch_db = iot_db_connect(l->cfg, err)) || !(l->pub = iot_publisher_new(l->cfg, &po, err))) {
		iot__listen_dispatch_close(l);
		return -1;
	}
	/* A round runs on the listener's own thread (readiness, the watchdog,
	 * noticing that a session failed, SIGTERM): it must not sit out an
	 * outage in retries, nor wait for a frozen host's answer. Each round is
	 * one attempt, each statement and the reconnect waiting at most
	 * IOT_LISTEN_DB_ANSWER_MS; the next round, 5 s later, is the retry. */
	iot_db_set_retry_time(l->dispatch_db, 0);
	iot_db_set_answer_time(l->dispatch_db, IOT_LISTEN_DB_ANSWER_MS);
	/* The first round once the publisher had a moment to connect. */
	l->next_dispatch_ms = iot_now_ms() + 1000;
	return 0;
}

void iot__listen_dispatch_tick(struct iot_listener *l)
{
	if (!l->pub || iot_now_ms() < l->next_dispatch_ms)
		return;
	l->next_dispatch_ms = iot_now_ms() + IOT_LISTEN_DISPATCH_S * 1000LL;
	iot_dispatch_stats st = { 0 };
	iot_error err = { 0 };
	int rc = 0;
	if (PQstatus(iot_db_conn(l->dispatch_db)) != CONNECTION_OK)
		rc = iot_db_reconnect(l->dispatch_db, &err);
	if (rc == 0)
		rc = iot_command_dispatch_pending(l->dispatch_db, l->pub, &st, &err);
	atomic_fetch_add(&l->m.cmd_sent, (uint64_t)st.sent);
	atomic_fetch_add(&l->m.cmd_expired, (uint64_t)st.expired);
	atomic_fetch_add(&l->m.configs_published, (uint64_t)st.configs);
	if (rc < 0 && !l->dispatch_down)
		iot_config_notice(l->cfg, "pending commands and configurations wait: %s", err.msg);
	else if (rc == 0 && l->dispatch_down)
		iot_config_info(l->cfg, "pending commands and configurations are published again");
	l->dispatch_down = rc < 0;
}

void iot__listen_dispatch_close(struct iot_listener *l)
{
	iot_publisher_free(l->pub);
	l->pub = NULL;
	iot_db_close(l->dispatch_db);
	l->dispatch_db = NULL;
}
