/* config.h — settings from, in rising priority: built-in defaults, a config
 * file, IOTFLOW_* environment variables, command-line options.
 * PostgreSQL connection settings are libpq's own: PG* variables apply unless
 * a conninfo string ("database" key, IOTFLOW_DATABASE_URL, --db) overrides. */
#ifndef IOT_CONFIG_H
#define IOT_CONFIG_H

#include "base/error.h"

typedef struct iot_config iot_config;

/* program names who connects (PostgreSQL's application_name, log lines):
 * "iot-ingest", "iotflow-mosquitto-plugin". NULL only when memory is short. */
iot_config *iot_config_new(const char *program);
void iot_config_free(iot_config *cfg);

/* Read the config file (path, else $IOTFLOW_CONFIG, else SYSCONFDIR/iotflow/iotflow.conf
 * if it exists), then the environment. An explicit path that cannot be read is an error. */
int iot_config_load(iot_config *cfg, const char *path, iot_error *err);
/* What every program does first: load the config file (--config FILE, or
 * NULL for the default) and the environment into cfg, then apply --db
 * CONNINFO (or NULL) on top. Returns 0 or -1. */
int iot_config_setup(iot_config *cfg, const char *path, const char *conninfo, iot_error *err);
/* Set one key (validated against its type); unknown keys are an error. */
int iot_config_set(iot_config *cfg, const char *key, const char *value, iot_error *err);
/* Current value or NULL when unset and without default. */
const char *iot_config_get(const iot_config *cfg, const char *key);
/* Typed getters: keys of type duration (seconds) or integer. */
long iot_config_get_long(const iot_config *cfg, const char *key);

/* The program name given to iot_config_new. */
const char *iot_config_program(const iot_config *cfg);
/* The file that was read, or NULL. */
const char *iot_config_file(const iot_config *cfg);

#endif
