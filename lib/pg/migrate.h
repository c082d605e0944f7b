/* migrate.h — numbered SQL migrations (sql/NNN_name.sql): load, checksum,
 * compare with schema_migrations, apply each in one transaction under an
 * advisory lock so concurrent runs never race. */
#ifndef IOT_MIGRATE_H
#define IOT_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/config.h"
#include "pg/db.h"
#include "base/error.h"

typedef struct iot_migration {
	int version;
	char *name;        /* "identity" for 001_identity.sql */
	char *path;
	char *sql;
	char checksum[65]; /* SHA-256 of the file, hex */
} iot_migration;

typedef struct iot_migration_set {
	iot_migration *items; /* sorted by version */
	size_t n;
	char *dir;
} iot_migration_set;

enum iot_migration_state {
	IOT_MIG_PENDING,   /* file present, not applied */
	IOT_MIG_APPLIED,   /* applied, checksum matches */
	IOT_MIG_MODIFIED,  /* applied, but the file changed since */
	IOT_MIG_MISSING    /* applied, but no such file (the schema is newer than these files) */
};

typedef struct iot_migration_status {
	int version;
	char name[128];
	enum iot_migration_state state;
	char applied_at[40]; /* "" when not applied */
} iot_migration_status;

/* The SQL directory: cfg's sql_dir, else ../sql beside the executable when
 * it holds migrations (a build tree), else the installed IOT_SQLDIR. */
const char *iot_sql_dir(const iot_config *cfg, char *buf, size_t size);

int iot_migrations_load(const char *dir, iot_migration_set *set, iot_error *err);
void iot_migrations_free(iot_migration_set *set);

/* Take/release the migration advisory lock (session level; waits). */
int iot_migrate_lock(iot_db *db, iot_error *err);
int iot_migrate_unlock(iot_db *db, iot_error *err);

/* Status of every migration known to the files or the database, by version.
 * *out is malloc'd: free it. */
int iot_migrate_status(iot_db *db, const iot_migration_set *set,
                       iot_migration_status **out, size_t *n, iot_error *err);
const char *iot_migration_state_name(enum iot_migration_state s);

/* Called for each migration applied (or that would be, with dry_run). */
typedef void (*iot_migrate_cb)(const iot_migration *m, long ms, void *arg);

/* Apply pending migrations in version order. Refuses (IOT_REJECTED) when an
 * applied migration's file was edited. dry_run runs them all in one
 * transaction that is rolled back. Call with the lock held. */
int iot_migrate_up(iot_db *db, const iot_migration_set *set, bool dry_run,
                   iot_migrate_cb cb, void *arg, iot_error *err);

/* Partitions of telemetry_data for now and the next `ahead` intervals.
 * interval: NULL to keep the setting, else "day" or "month". */
int iot_partitions_create(iot_db *db, int ahead, const char *interval,
                          int *created, iot_error *err);

#endif
