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
#include <stdio.h>

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
 * devices not imported are rejected, and so are those iot-ingest would
 * refuse (a time before 2000 or over max_future_us ahead, < 0: no limit;
 * a number beyond +-1e300). Returns 0 (rejections are counted), or -1
 * with err. */
int iot_flask_history_import(iot_db *old, const iot_device_map *map, iot_writer *w, int64_t max_future_us,
                             iot_reject_cb rej, void *ctx, iot_history_counts *c, iot_error *err);

/* IoTDB CSV exports (export-csv / export-data), both layouts:
 *   aligned by time:   Time,root.iotflow.users.user_U.devices.device_D.M,...
 *   aligned by device: Time,Device,M,...   with a Device cell per row
 *                      root.iotflow.users.user_U.devices.device_D
 * Headers may carry data types, "M(DOUBLE)": BOOLEAN, INT32, INT64, FLOAT,
 * DOUBLE, TEXT (STRING); without one a cell is a number when it reads as
 * one, else true/false, else text. Time is epoch milliseconds or ISO 8601
 * with an offset (+08:00 or +0800). Empty and "null" cells are absent
 * values. Fields are comma-separated, optionally in double quotes ("" or
 * \" for a quote); a record is one line. A measurement may be in IoTDB's
 * backquotes. U is not checked: the device's owner is what it is here.
 * cb gets each point with the series' (old) device id and where it came
 * from ("FILE:LINE", column from 1); rej gets each refused column (at
 * line 1), row (column 0, or the bad Time/Device column) and cell. Text
 * in a point is valid only during the call. Returns 0 (refusals are
 * reported, not errors), or -1 with err: a file that is no such export,
 * a read error, or cb's own -1 (its err). */
typedef int (*iot_iotdb_point_cb)(void *ctx, const iot_point *p, const char *where, int column,
                                  iot_error *err);
int iot_iotdb_csv_read(FILE *f, const char *name, iot_iotdb_point_cb cb, iot_reject_cb rej, void *ctx,
                       long long *rows, iot_error *err);

/* One IoTDB CSV file into the writer, device ids mapped through map
 * (points of devices not imported, and those iot-ingest would refuse, as
 * iot_flask_history_import says, are refused with their line and column).
 * c accumulates over calls; finish with iot_iotdb_import_end. */
typedef struct iot_iotdb_import iot_iotdb_import;
iot_iotdb_import *iot_iotdb_import_new(const iot_device_map *map, iot_writer *w, int64_t max_future_us,
                                       iot_reject_cb rej, void *ctx, iot_history_counts *c);
int iot_iotdb_import_file(iot_iotdb_import *im, FILE *f, const char *name, iot_error *err);
/* Wait for every point's outcome and free; 0 or -1 with err. */
int iot_iotdb_import_end(iot_iotdb_import *im, iot_error *err);

/* The consistency check: the Flask side (its database's telemetry_data,
 * or IoTDB CSV exports; old device ids mapped, those not imported kept
 * under their old id) against telemetry_data here, for the Flask side's
 * devices over the days (UTC) it covers. Per device, day and measurement:
 * count, and over the numeric points min, max and sum (sums equal within
 * 1e-9 relative: addition order differs). */
typedef struct iot_compare iot_compare;
iot_compare *iot_compare_new(void);
int iot_compare_old_db(iot_compare *c, iot_db *old, const iot_device_map *map, iot_error *err);
int iot_compare_iotdb_file(iot_compare *c, FILE *f, const char *name, const iot_device_map *map,
                           iot_reject_cb rej, void *ctx, long long *rows, iot_error *err);
/* Read this database's side; after every source is in. */
int iot_compare_new_db(iot_compare *c, iot_db *db, iot_error *err);
/* Each difference, sorted by device, day, measurement:
 * {"device_id","day":"YYYY-MM-DD","measurement","old":S,"new":S}, S being
 * {"count","min","max","sum"} (only count when none was a number) or null. */
int iot_compare_diff(iot_compare *c, iot_import_cb cb, void *ctx, long long *ndiff, iot_error *err);
void iot_compare_free(iot_compare *c);

#endif
