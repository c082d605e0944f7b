/* http_control.h — commands to devices and the broker routes
 * (http_control.c, http_mqtt.c). Not part of the public API. */
#ifndef IOT_HTTP_CONTROL_H
#define IOT_HTTP_CONTROL_H

#include "http/http_int.h"
#include "http/http_dev.h"

/* The caller may act on device id: a device on itself only (another id is
 * 403 Forbidden: device mismatch), a person on their own devices, an
 * admin on all; a device of someone else is 404, like an unknown one, so
 * ids tell nothing. 0, or -1 with the answer given. */
int iot__http_device_access(struct http_req *r, struct http_slot *s, int64_t id, struct http_caller *c);

/* After a change of device's configuration: publish it retained (when a
 * broker is configured). A failure is only a notice: the change waits in
 * config_outbox for the dispatcher. */
void iot__http_config_changed(struct http_req *r, iot_db *db, int64_t device);

/* http_control.c */
void iot__http_control_send(struct http_req *r);
void iot__http_control_status(struct http_req *r);
void iot__http_control_pending(struct http_req *r);
/* http_mqtt.c */
void iot__http_mqtt_status(struct http_req *r);
void iot__http_mqtt_publish(struct http_req *r);
void iot__http_mqtt_topics_device(struct http_req *r);
void iot__http_mqtt_topics_structure(struct http_req *r);
void iot__http_mqtt_topics_validate(struct http_req *r);
void iot__http_mqtt_device_command(struct http_req *r);
void iot__http_mqtt_monitoring(struct http_req *r);
void iot__http_mqtt_gone(struct http_req *r);

#endif
