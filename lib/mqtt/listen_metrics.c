/* listen_metrics.c — the listener's Prometheus metrics (text format 0.0.4):
 * messages by topic kind, refused by reason, stored, timestamps replaced by
 * the arrival time, status updates, the time rounds wait for their commit,
 * the sessions' connection state, and the batch writer's own counters. */
#include "mqtt/listen_int.h"

#include <inttypes.h>
#include <string.h>

static const char *const kind_names[LK_COUNT] = { "telemetry", "status", "command_ack", "other" };
static const char *const reason_names[LR_COUNT] = { "invalid", "denied", "unknown_device", "bad_topic",
                                                    "unknown_command" };

static void head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void one(FILE *f, const char *name, const char *type, const char *help, double v)
{
	head(f, name, type, help);
	fprintf(f, "%s %.17g\n", name, v);
}

int iot_listener_metrics_write(iot_listener *l, FILE *f)
{
	struct listen_metrics *m = &l->m;
	head(f, "iotflow_mqtt_messages_received_total", "counter", "MQTT messages received, by topic kind.");
	for (int i = 0; i < LK_COUNT; i++)
		fprintf(f, "iotflow_mqtt_messages_received_total{kind=\"%s\"} %" PRIu64 "\n", kind_names[i],
		        atomic_load(&m->received[i]));
	head(f, "iotflow_mqtt_messages_rejected_total", "counter",
	     "MQTT messages refused (acknowledged, not stored), by reason.");
	for (int i = 0; i < LR_COUNT; i++)
		fprintf(f, "iotflow_mqtt_messages_rejected_total{reason=\"%s\"} %" PRIu64 "\n", reason_names[i],
		        atomic_load(&m->rejected[i]));
	one(f, "iotflow_mqtt_messages_stored_total", "counter",
	    l->o.print ? "Telemetry messages written to the output." : "Telemetry messages whose points are committed.",
	    (double)atomic_load(&m->stored_messages));
	one(f, "iotflow_mqtt_points_stored_total", "counter", "Points stored (or written to the output).",
	    (double)atomic_load(&m->points_stored));
	one(f, "iotflow_mqtt_points_duplicate_total", "counter", "Points already stored (redeliveries).",
	    (double)atomic_load(&m->points_duplicate));
	one(f, "iotflow_mqtt_points_rejected_total", "counter", "Points PostgreSQL refused.",
	    (double)atomic_load(&m->points_rejected));
	one(f, "iotflow_mqtt_timestamps_replaced_total", "counter",
	    "Device timestamps that did not parse or were out of range, replaced by the arrival time.",
	    (double)atomic_load(&m->ts_arrival));
	one(f, "iotflow_mqtt_devices_seen_total", "counter", "Status online and heartbeat messages applied (last_seen).",
	    (double)atomic_load(&m->seen));
	one(f, "iotflow_mqtt_devices_offline_total", "counter", "Status offline messages applied (last wills).",
	    (double)atomic_load(&m->offline));
	one(f, "iotflow_mqtt_command_answers_total", "counter",
	    "Command answers (commands/ack) that moved a command forward.", (double)atomic_load(&m->answers));
	one(f, "iotflow_mqtt_commands_sent_total", "counter",
	    "Pending commands published by the dispatch (the broker was away when they were sent).",
	    (double)atomic_load(&m->cmd_sent));
	one(f, "iotflow_mqtt_commands_expired_total", "counter", "Commands the dispatch found past their TTL.",
	    (double)atomic_load(&m->cmd_expired));
	one(f, "iotflow_mqtt_configs_published_total", "counter",
	    "Device configurations published (retained) by the dispatch.", (double)atomic_load(&m->configs_published));
	head(f, "iotflow_mqtt_commit_wait_seconds", "summary",
	     "Time a session waited for the commit of the messages it had read, before acknowledging them.");
	fprintf(f, "iotflow_mqtt_commit_wait_seconds_sum %.6f\n", atomic_load(&m->wait_us) / 1e6);
	fprintf(f, "iotflow_mqtt_commit_wait_seconds_count %" PRIu64 "\n", atomic_load(&m->rounds));
	one(f, "iotflow_mqtt_sessions", "gauge", "MQTT sessions of this listener.", l->o.sessions);
	one(f, "iotflow_mqtt_sessions_connected", "gauge", "MQTT sessions connected to the broker now.",
	    (double)atomic_load(&m->connected));
	one(f, "iotflow_mqtt_connects_total", "counter", "Connections accepted by the broker (CONNACK success).",
	    (double)atomic_load(&m->connects));
	one(f, "iotflow_mqtt_disconnects_total", "counter", "Connections to the broker lost or closed.",
	    (double)atomic_load(&m->disconnects));
	if (l->w)
		iot_writer_metrics_write(f, l->w);
	return ferror(f) ? -1 : 0;
}
