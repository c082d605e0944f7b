/* config.h — settings from, in rising priority: built-in defaults, a config
 * file, IOTFLOW_* environment variables, command-line options.
 * PostgreSQL connection settings are libpq's own: PG* variables apply unless
 * a conninfo string ("database" key, IOTFLOW_DATABASE_URL, --db) overrides. */
#ifndef IOT_CONFIG_H
#define IOT_CONFIG_H

#include <stdatomic.h>

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

/* Notices: things a person should hear about while they happen and that
 * are not errors (the library never prints). Two levels: a warning is
 * something going wrong ("PostgreSQL is unavailable (...): retrying for up
 * to 15 s"), information a routine event or the end of a trouble told
 * before ("PostgreSQL is back", a connection made). fn may run on any
 * thread, at any time while something made with this config is in use; it
 * must be quick and thread-safe. NULL (the default) drops them. */
enum iot_notice_level { IOT_NOTICE_WARNING, IOT_NOTICE_INFO };
typedef void (*iot_notice_fn)(void *arg, enum iot_notice_level level, const char *msg);
void iot_config_set_notice(iot_config *cfg, iot_notice_fn fn, void *arg);
/* A warning. */
void iot_config_notice(const iot_config *cfg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Information. */
void iot_config_info(const iot_config *cfg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A stop flag (a signal handler may set it; it must outlive everything made
 * with this config): once set, nothing made with this config retries a
 * failure any more — connecting, statements, the batch writer — so a
 * program asked to stop is not held up by the retry budget. */
void iot_config_set_stop(iot_config *cfg, const atomic_bool *stop);
const atomic_bool *iot_config_stop(const iot_config *cfg);
/* The program name given to iot_config_new. */
const char *iot_config_program(const iot_config *cfg);
/* The file that was read, or NULL. */
const char *iot_config_file(const iot_config *cfg);

#endif
