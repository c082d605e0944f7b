/* iot-device.h — what the parts of iot-device share. */
#ifndef IOT_DEVICE_CMD_H
#define IOT_DEVICE_CMD_H

#include <jansson.h>

#include "registry/device.h"
#include "cli/output.h"

struct dev_opts {
	const char *config, *db;
	iot_device_fields f;           /* --name --owner --type ... */
	const char *type;              /* --type as given (device type, or value type for config set) */
	const char *device, *params;   /* command list --device, command send --params */
	enum iot_format format;
	long grace, window, ttl, limit;
	int online;                    /* -1, 0 (--offline), 1 (--online) */
	bool strict, summary;
	unsigned seen;
};

/* Print v (an object or an array of objects) in the chosen format. */
int dev_emit(json_t *v, const char *const *cols, enum iot_format fmt);
/* Print the cache's one-time warning, if any. */
void dev_cache_warning(iot_cache *cache);

/* add -: NDJSON on stdin, one result line per input line. Returns the exit code. */
int dev_bulk_add(iot_registry *id, const struct dev_opts *o);
/* key check: keys on stdin, one result line per key. Returns the exit code. */
int dev_key_check(iot_registry *id, const struct dev_opts *o);

/* command send/list/retry (command.c); each returns the exit code. */
int dev_command_send(iot_registry *id, char **args, const struct dev_opts *o);
int dev_command_list(iot_registry *id, const struct dev_opts *o);
int dev_command_retry(iot_registry *id, const struct dev_opts *o);
/* After config set/rm: publish the device's whole config, retained, when
 * mqtt_url is set. Returns the exit code (0, or 5 with a warning: the
 * change is stored and waits to be published). */
int dev_config_publish(iot_registry *id, const json_t *result);

#endif
