/* dispatch.h — commands and configurations out to devices over MQTT.
 *
 *   iotflow/devices/{id}/commands/control  QoS 1, not retained: one
 *       message per command (iot_command_message, registry/command.h):
 *       {"command_id","command","parameters","timestamp","expires_at","source"}.
 *       A device may see a command twice (QoS 1, or a dispatcher sending
 *       one whose PUBACK was lost): command_id tells it.
 *   iotflow/devices/{id}/commands/config   QoS 1, retained: the device's
 *       whole current configuration, so a device that connects later gets
 *       it at once:
 *       {"device_id": 12, "config": {"KEY": <typed value>, ...},
 *        "timestamp": "<when it last changed, RFC 3339>"}
 *       (an empty "config" when it has none left). When the device is
 *       removed, an empty retained message there takes it off the broker.
 *
 * Nothing is lost when the broker is unreachable: a command stays pending
 * in PostgreSQL, a changed configuration stays in config_outbox (filled
 * by a trigger on every change), a removed device's id stays in
 * config_retract, and iot_command_dispatch_pending sends them all once the
 * broker is back. */
#ifndef IOT_MQTT_DISPATCH_H
#define IOT_MQTT_DISPATCH_H

#include <jansson.h>
#include <stdint.h>

#include "mqtt/publish.h"
#include "pg/db.h"
#include "registry/command.h"

/* Store a command and publish it: *out is its row, "sent" once the broker
 * acked it. pub NULL (no broker) or unreachable: the command stays
 * pending, *out is set all the same, and -1 is returned with
 * IOT_UNAVAILABLE and a message that says so. Other failures: *out NULL. */
int iot_command_send(iot_db *db, iot_publisher *pub, const iot_command_req *c, json_t **out, iot_error *err);

/* Publish one claimed command row and mark it sent (row's status and
 * sent_at updated in place); on failure release it for a later dispatch. */
int iot_command_publish(iot_db *db, iot_publisher *pub, json_t *row, iot_error *err);

/* Publish device_id's whole configuration, retained; its config_outbox
 * entry is cleared unless it changed again meanwhile. */
int iot_config_publish(iot_db *db, iot_publisher *pub, int64_t device_id, iot_error *err);

typedef struct iot_dispatch_stats {
	long sent, expired, configs;     /* commands published, expired, configurations published */
	long retracted;                  /* removed devices' configurations taken off the broker */
	long left;                       /* commands still pending (not sent this time) */
} iot_dispatch_stats;

/* For a daemon to call periodically (or `iot-device command retry`):
 * expire lapsed commands, publish pending ones nobody is sending (none
 * tried yet, or the last try older than 2 publish timeouts), the
 * configurations changed since last published, and the retained
 * configurations of removed devices away. Stops at the first
 * failure to publish: -1 with IOT_UNAVAILABLE (st says what was done). */
int iot_command_dispatch_pending(iot_db *db, iot_publisher *pub, iot_dispatch_stats *st, iot_error *err);

#endif
