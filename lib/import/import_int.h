/* import_int.h — what the files of the import room share. */
#ifndef IOT_IMPORT_INT_H
#define IOT_IMPORT_INT_H

#include "auth/keys.h"
#include "auth/legacy_password.h"
#include "import/import.h"

enum { K_USER, K_DEVICE, K_CONFIG, K_CONTROL };

/* One metadata import run. */
struct iot__imp {
	const iot_config *cfg;
	iot_db *db, *old;
	const iot_flask_opts *o;
	iot_import_cb cb;
	void *ctx;
	iot_import_counts *counts;    /* [4] by K_* */
	iot_hasher hasher;
	int64_t orphan_uid;           /* 0: devices without an owner are rejected */
};

/* The kind's name in flask_import and in events. */
const char *iot__imp_kind(int kind);
/* Tell one event ("imported"/"would import", "unchanged" or "rejected" with
 * reason) and count it; extra (may be NULL) adds members and is stolen. */
void iot__imp_event(struct iot__imp *m, int kind, const char *old_id, int64_t new_id,
                    const char *reason, json_t *extra);
/* The new id of an imported object: > 0, 0 when not imported, -1 on error. */
int64_t iot__imp_mapped(struct iot__imp *m, int kind, const char *old_id, iot_error *err);
/* One object's statements go in a savepoint: begin_row, then stmt for
 * each (0 and *res, which may be NULL when not wanted; 1 when the database
 * refused it: why holds its message and the row is to be ended without
 * keeping it; -1 when the connection failed: err), then end_row keeping
 * or undoing the row's work. */
int iot__imp_begin_row(struct iot__imp *m, iot_error *err);
int iot__imp_stmt(struct iot__imp *m, const char *sql, int n, const char *const *p, PGresult **res,
                  char *why, size_t whylen, iot_error *err);
int iot__imp_end_row(struct iot__imp *m, bool keep, iot_error *err);
/* Record kind/old_id -> new_id in flask_import (inside the row's work). */
int iot__imp_map_add(struct iot__imp *m, int kind, const char *old_id, int64_t new_id, iot_error *err);
/* Run row(m, r, i, err) for every row of sql on the old database (table
 * named: nothing when the old database has no such table). 0 or -1. */
typedef int (*iot__imp_row_fn)(struct iot__imp *m, PGresult *r, int i, iot_error *err);
int iot__imp_each(struct iot__imp *m, const char *table, const char *sql, iot__imp_row_fn row, iot_error *err);
/* A column's text, NULL for SQL NULL. */
const char *iot__imp_val(PGresult *r, int row, int col);
/* Begin the object's row, run sql (an INSERT .. RETURNING id) and record
 * the mapping: 0 and *id, 1 refused (why), -1 (err), as iot__imp_stmt;
 * the caller ends the row. */
int iot__imp_insert(struct iot__imp *m, int kind, const char *old_id, const char *sql, int n,
                    const char *const *p, int64_t *id, char *why, size_t whylen, iot_error *err);

int iot__imp_configs(struct iot__imp *m, iot_error *err);
int iot__imp_controls(struct iot__imp *m, iot_error *err);

/* A value the Flask service stored with Python str() as the canonical text
 * of its data_type (malloc'd), or NULL with why. */
char *iot__python_value(const char *value, const char *type, char *why, size_t whylen);

#endif
