/* listen.h — the MQTT listener behind iot-mqtt-listen: sessions on the
 * broker that take devices' telemetry, status and command answers, and store
 * telemetry at least once.
 *
 * AT LEAST ONCE. A QoS 1 message is acknowledged (PUBACK) only after its
 * points are committed in PostgreSQL (or, with print, written and flushed to
 * the output), or after it was refused for good (a message that can never be
 * stored is acknowledged, counted and reported, never redelivered forever).
 * libmosquitto 2.0 writes the PUBACK of a QoS 1 message from inside its read
 * of the PUBLISH, before on_message runs, when the client is driven with
 * mosquitto_loop() and not marked threaded; marked threaded
 * (mosquitto_threaded_set), packets are only queued and go out at the next
 * mosquitto_loop_write(). Each session therefore drives its own loop: read
 * what the broker has sent (up to the receive maximum), hand every message to
 * the batch writer, wait for the commit (iot_writer_flush), and only then
 * write the queued PUBACKs. A crash (kill -9) before that leaves the messages
 * unacknowledged in the session the broker keeps (clean start off, session
 * expiry), and they come again after the restart; a replay of what was
 * committed but not acknowledged is absorbed by the telemetry key.
 *
 * SESSIONS. Without a group, one session with plain subscriptions. With a
 * group, several sessions in one process share one subscription group
 * ($share/GROUP/...), so the broker spreads messages over them, and their
 * messages are committed together by one batch writer; other instances
 * with the same group (on other machines) split the load with them. One
 * session already commits what it has read in one batch (up to the receive
 * maximum), so sessions are for spreading work, not for batching. The
 * catch (mosquitto 2.0.11, measured): a broker restarted from its
 * persistence file keeps a session's plain subscriptions but forgets its
 * shared ones, so what is published after such a restart and before the
 * sessions are back and subscribed again is not delivered to a group.
 * Session i's client id is CLIENT_ID-i; it must stay the same across
 * restarts, or the broker's queue for the old session is orphaned.
 *
 * TOPICS (DESIGN §4, compat §2.3):
 *   iotflow/devices/ID/telemetry[/ANY/...]  telemetry, through the ingest
 *                                           pipeline (ingest.h)
 *   iotflow/devices/ID/status/online|heartbeat  last_seen moves
 *   iotflow/devices/ID/status/offline       the device is offline (its last
 *                                           will; payload JSON or plain text)
 *   iotflow/devices/ID/commands/ack         a device's answer to a command
 * A status topic never changes the device's status (the admin's). */
#ifndef IOT_MQTT_LISTEN_H
#define IOT_MQTT_LISTEN_H

#include <stdbool.h>
#include <stdio.h>

#include "base/config.h"
#include "base/error.h"
#include "telemetry/batch.h"
#include "telemetry/record.h"

typedef struct iot_listen_opts {
	const char *group;          /* shared-subscription group (NULL: plain subscriptions) */
	const char *client_id;      /* sessions are CLIENT_ID-1..N (default "iot-mqtt-listen-HOSTNAME") */
	int sessions;               /* MQTT sessions in this process (default 1; more need a group) */
	int receive_max;            /* unacknowledged messages per session (default 1000) */
	int keepalive;              /* seconds (default 60) */
	long session_expiry;        /* seconds the broker keeps a session of ours while we are away (default 7 days) */
	/* The broker authenticates devices (the IoTFlow plugin): a payload
	 * without api_key is the topic's device's. Otherwise (default) every
	 * telemetry, online and heartbeat payload must carry a valid api_key of
	 * the topic's device. */
	bool trust_broker;
	FILE *print;                /* non-NULL: write NDJSON points here instead of storing */
	iot_writer_opts writer;
	iot_decode_opts decode;     /* device leniency is turned on by iot_listen_opts_default */
} iot_listen_opts;

void iot_listen_opts_default(iot_listen_opts *o);

typedef struct iot_listener iot_listener;

/* Check the options and cfg's mqtt_url (IOTFLOW_MQTT_URL; default
 * mqtt://localhost), connect to PostgreSQL (auth) and open the batch writer.
 * Sessions start in iot_listener_run. cfg must outlive the listener, with
 * its stop flag set (iot_config_set_stop): setting the flag drains and stops
 * the listener. Notices (connections, refused messages and why) go to cfg's
 * notice hook. NULL with err: IOT_USAGE (options, URL), IOT_UNAVAILABLE. */
iot_listener *iot_listener_new(const iot_config *cfg, const iot_listen_opts *o, iot_error *err);

/* Run the sessions until the stop flag is set: every message read by then
 * is committed (or refused) and acknowledged, and the sessions disconnect,
 * which the broker keeps. tick(arg, subscribed) runs on the calling thread
 * about every 250 ms while the sessions run, subscribed being how many
 * sessions are subscribed now (readiness and the watchdog). Returns 0, or -1 with err when the
 * listener cannot go on: IOT_UNAVAILABLE (PostgreSQL stayed unreachable past
 * db_retry_time; nothing unacknowledged is lost), IOT_INTERNAL (the print
 * output failed). */
typedef void (*iot_listen_tick_fn)(void *arg, int subscribed);
int iot_listener_run(iot_listener *l, iot_listen_tick_fn tick, void *arg, iot_error *err);

/* The Prometheus text of the listener's metrics (and its writer's). */
int iot_listener_metrics_write(iot_listener *l, FILE *f);

/* Serve GET /metrics (that text) on the listening socket fd (taken over)
 * until the listener is freed. 0 or -1 with err. */
int iot_listener_serve_metrics(iot_listener *l, int fd, iot_error *err);

void iot_listener_free(iot_listener *l);

#endif
