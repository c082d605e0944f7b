/* import.h — moving a Flask IoTFlow installation over: its metadata
 * (users, devices and their keys, configurations, commands) from its
 * PostgreSQL database, its telemetry history from that database's
 * telemetry_data or from IoTDB CSV exports, and the consistency check of
 * the dual-write period. What each step does is told through a callback,
 * one JSON object per event; the library prints nothing.
 *
 * Ids: a device keeps its id (firmware knows it: MQTT topics, IoTDB
 * series paths), users get new ones; table flask_import (sql/010) records
 * every imported object (kind, old id, new id), so a second import skips
 * what it lists and changes nothing, and telemetry maps old device ids
 * through it. */
#ifndef IOT_IMPORT_H
#define IOT_IMPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/config.h"
#include "base/error.h"
#include "pg/db.h"
#include "telemetry/batch.h"

/* One event: {"kind", "old_id", "id"?, "action", "reason"?, ...}. action is
 * "imported" (or "would import" under dry_run), "unchanged" (imported
 * before), or "rejected" with the reason (never a secret). The callback
 * borrows ev. */
typedef void (*iot_import_cb)(void *ctx, const json_t *ev);

typedef struct iot_import_counts {
	long imported, unchanged, rejected;
} iot_import_counts;

typedef struct iot_flask_opts {
	bool dry_run;              /* do it all in a transaction, then roll back */
	const char *orphan_owner;  /* username owning devices that had none; NULL: reject them */
} iot_flask_opts;

/* Users (password hashes kept when legacy_password.h accepts them; the old
 * users.user_id becomes an enrollment code when it is 32 lower-case hex
 * digits), devices (the plaintext api_key stored only as its digest),
 * device_configurations (Python str() values decoded by type) and
 * device_control, from old (the Flask database) into db, in one
 * transaction. counts[4]: users, devices, configs, controls. Returns 0,
 * or -1 with err when the import could not run (nothing is committed). */
int iot_flask_import(const iot_config *cfg, iot_db *db, iot_db *old, const iot_flask_opts *opts,
                     iot_import_cb cb, void *ctx, iot_import_counts counts[4], iot_error *err);

/* Old device id -> new one, from flask_import (devices keep their ids, so
 * this is mostly the identity, and says which devices were imported). */
typedef struct iot_device_map iot_device_map;
iot_device_map *iot_device_map_load(iot_db *db, iot_error *err);
/* 0 when old_id was not imported. */
int64_t iot_device_map_get(const iot_device_map *m, int64_t old_id);
void iot_device_map_free(iot_device_map *m);

/* Telemetry import totals, as iot-ingest reports them. */
typedef struct iot_history_counts {
	long long read, points, stored, duplicates, rejected;
} iot_history_counts;

/* A rejected point or cell: where (a row id, "FILE:LINE"), column (0: the
 * whole row) and why. */
typedef void (*iot_reject_cb)(void *ctx, const char *where, int column, const char *reason);

/* The old database's telemetry_data into the writer through a server-side
 * cursor (constant memory), old device ids mapped through map; rows of
 * devices not imported are rejected. Returns 0 (rejections are counted),
 * or -1 with err. */
int iot_flask_history_import(iot_db *old, const iot_device_map *map, iot_writer *w,
                             iot_reject_cb rej, void *ctx, iot_history_counts *c, iot_error *err);

#endif
