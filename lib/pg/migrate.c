/* migrate.c — numbered migrations: files, checksums, the ledger table,
 * the advisory lock, and partition maintenance. */
#include "pg/migrate.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef IOT_SQLDIR
#define IOT_SQLDIR "/usr/local/share/iotflow/sql"
#endif

/* Arbitrary but fixed: the bytes of "iotflow" — every iot-migrate agrees on it. */
#define MIGRATE_LOCK_KEY "29400711155396727"
#define MAX_MIGRATION_BYTES (4 * 1024 * 1024)

static const char SQL_LEDGER[] =
	"CREATE TABLE IF NOT EXISTS schema_migrations ("
	" version integer PRIMARY KEY,"
	" name text NOT NULL,"
	" checksum text NOT NULL,"
	" applied_at timestamptz NOT NULL DEFAULT now(),"
	" duration_ms integer NOT NULL DEFAULT 0)";

static bool dir_has_migrations(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return false;
	bool found = false;
	struct dirent *e;
	while (!found && (e = readdir(d)))
		found = !strncmp(e->d_name, "001_", 4);
	closedir(d);
	return found;
}

const char *iot_sql_dir(const iot_config *cfg, char *buf, size_t size)
{
	const char *v = iot_config_get(cfg, "sql_dir");
	if (v && *v) {
		snprintf(buf, size, "%s", v);
		return buf;
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			snprintf(buf, size, "%s/../sql", exe);
			if (dir_has_migrations(buf))
				return buf;
		}
	}
	snprintf(buf, size, "%s", IOT_SQLDIR);
	return buf;
}

static char *read_file(const char *path, iot_error *err)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		iot_error_set(err, IOT_NOT_FOUND, "unable to read %s: %s", path, strerror(errno));
		return NULL;
	}
	char *buf = malloc(MAX_MIGRATION_BYTES + 1);
	size_t n = buf ? fread(buf, 1, MAX_MIGRATION_BYTES + 1, f) : 0;
	bool bad = !buf || ferror(f) || n > MAX_MIGRATION_BYTES;
	fclose(f);
	if (bad) {
		iot_error_set(err, IOT_INTERNAL, "unable to read %s: %s", path,
		              n > MAX_MIGRATION_BYTES ? "file too large" : "read error");
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	if (strlen(buf) != n) {
		iot_error_set(err, IOT_INTERNAL, "%s contains a NUL byte", path);
		free(buf);
		return NULL;
	}
	return buf;
}

static void sha256_hex(const char *data, char out[65])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, (const unsigned char *)data, strlen(data));
	sodium_bin2hex(out, 65, h, sizeof h);
}

static int by_version(const void *a, const void *b)
{
	const iot_migration *x = a, *y = b;
	return (x->version > y->version) - (x->version < y->version);
}

/* "012_add_things.sql" -> 12, "add_things"; -1 when the name does not fit. */
static int parse_name(const char *fname, int *version, char **name)
{
	size_t len = strlen(fname);
	if (len < 9 || strcmp(fname + len - 4, ".sql"))
		return -1;
	int v = 0, digits = 0;
	while (fname[digits] >= '0' && fname[digits] <= '9' && digits < 6)
		v = v * 10 + (fname[digits++] - '0');
	if (digits < 3 || fname[digits] != '_' || v <= 0)
		return -1;
	*version = v;
	*name = strndup(fname + digits + 1, len - 4 - (size_t)digits - 1);
	return *name ? 0 : -1;
}

static int add_file(iot_migration_set *set, const char *dir, const char *fname, iot_error *err)
{
	iot_migration m = { 0 };
	if (parse_name(fname, &m.version, &m.name) < 0)
		return 0; /* not a migration (README, editor backup...) */
	if (asprintf(&m.path, "%s/%s", dir, fname) < 0 || !(m.sql = read_file(m.path, err))) {
		if (!m.path)
			iot_error_set(err, IOT_INTERNAL, "out of memory");
		free(m.name);
		free(m.path);
		return -1;
	}
	sha256_hex(m.sql, m.checksum);
	iot_migration *items = realloc(set->items, (set->n + 1) * sizeof *items);
	if (!items) {
		free(m.name); free(m.path); free(m.sql);
		return iot_error_set(err, IOT_INTERNAL, "out of memory");
	}
	set->items = items;
	set->items[set->n++] = m;
	return 0;
}

int iot_migrations_load(const char *dir, iot_migration_set *set, iot_error *err)
{
	memset(set, 0, sizeof *set);
	DIR *d = opendir(dir);
	if (!d)
		return iot_error_set(err, IOT_NOT_FOUND, "unable to open SQL directory %s: %s", dir, strerror(errno));
	set->dir = strdup(dir);
	struct dirent *e;
	int rc = 0;
	while (rc == 0 && (e = readdir(d)))
		rc = add_file(set, dir, e->d_name, err);
	closedir(d);
	if (rc < 0)
		return -1;
	if (set->n == 0)
		return iot_error_set(err, IOT_NOT_FOUND, "no migrations (NNN_name.sql) in %s", dir);
	qsort(set->items, set->n, sizeof *set->items, by_version);
	for (size_t i = 1; i < set->n; i++)
		if (set->items[i].version == set->items[i - 1].version)
			return iot_error_set(err, IOT_INTERNAL, "two migrations with version %d: %s and %s",
			                     set->items[i].version, set->items[i - 1].path, set->items[i].path);
	return 0;
}

void iot_migrations_free(iot_migration_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		free(set->items[i].name);
		free(set->items[i].path);
		free(set->items[i].sql);
	}
	free(set->items);
	free(set->dir);
	memset(set, 0, sizeof *set);
}

int iot_migrate_lock(iot_db *db, iot_error *err)
{
	const char *p[] = { MIGRATE_LOCK_KEY };
	return iot_db_command(db, "SELECT pg_advisory_lock($1::bigint)", 1, p, err);
}

int iot_migrate_unlock(iot_db *db, iot_error *err)
{
	const char *p[] = { MIGRATE_LOCK_KEY };
	return iot_db_command(db, "SELECT pg_advisory_unlock($1::bigint)", 1, p, err);
}

const char *iot_migration_state_name(enum iot_migration_state s)
{
	switch (s) {
	case IOT_MIG_PENDING: return "pending";
	case IOT_MIG_APPLIED: return "applied";
	case IOT_MIG_MODIFIED: return "modified";
	case IOT_MIG_MISSING: return "missing";
	}
	return "?";
}

/* The ledger rows, or an empty result when the table does not exist yet. */
static PGresult *ledger(iot_db *db, iot_error *err)
{
	PGresult *r = iot_db_exec(db,
		"SELECT version, name, checksum, to_char(applied_at AT TIME ZONE 'UTC', "
		"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM schema_migrations "
		"WHERE to_regclass('schema_migrations') IS NOT NULL ORDER BY version", 0, NULL, err);
	if (r || strcmp(iot_db_sqlstate(db), "42P01"))
		return r;
	/* undefined_table: nothing applied yet */
	return iot_db_exec(db, "SELECT 1::int, ''::text, ''::text, ''::text WHERE false", 0, NULL, err);
}

static void status_put(iot_migration_status *st, int version, const char *name,
                       enum iot_migration_state state, const char *at)
{
	st->version = version;
	snprintf(st->name, sizeof st->name, "%s", name);
	st->state = state;
	snprintf(st->applied_at, sizeof st->applied_at, "%s", at ? at : "");
}

static int by_status_version(const void *a, const void *b)
{
	const iot_migration_status *x = a, *y = b;
	return (x->version > y->version) - (x->version < y->version);
}

int iot_migrate_status(iot_db *db, const iot_migration_set *set,
                       iot_migration_status **out, size_t *n, iot_error *err)
{
	PGresult *r = ledger(db, err);
	if (!r)
		return -1;
	int rows = PQntuples(r);
	iot_migration_status *st = calloc(set->n + (size_t)rows + 1, sizeof *st);
	if (!st) {
		PQclear(r);
		return iot_error_set(err, IOT_INTERNAL, "out of memory");
	}
	size_t k = 0;
	for (size_t i = 0; i < set->n; i++) {
		const iot_migration *m = &set->items[i];
		enum iot_migration_state s = IOT_MIG_PENDING;
		const char *at = NULL;
		for (int j = 0; j < rows; j++)
			if (atoi(PQgetvalue(r, j, 0)) == m->version) {
				s = strcmp(PQgetvalue(r, j, 2), m->checksum) ? IOT_MIG_MODIFIED : IOT_MIG_APPLIED;
				at = PQgetvalue(r, j, 3);
			}
		status_put(&st[k++], m->version, m->name, s, at);
	}
	for (int j = 0; j < rows; j++) {
		int v = atoi(PQgetvalue(r, j, 0));
		bool known = false;
		for (size_t i = 0; i < set->n && !known; i++)
			known = set->items[i].version == v;
		if (!known)
			status_put(&st[k++], v, PQgetvalue(r, j, 1), IOT_MIG_MISSING, PQgetvalue(r, j, 3));
	}
	PQclear(r);
	qsort(st, k, sizeof *st, by_status_version);
	*out = st;
	*n = k;
	return 0;
}

/* Migration files hold many statements, so they go through the simple query
 * protocol (PQexec): their text is our own constant SQL, never user input. */
static int run_script(iot_db *db, const iot_migration *m, iot_error *err)
{
	PGresult *r = PQexec(iot_db_conn(db), m->sql);
	ExecStatusType st = PQresultStatus(r);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
		PQclear(r);
		return 0;
	}
	const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	iot_error_set(err, IOT_INTERNAL, "migration %03d_%s failed: %s", m->version, m->name,
	              msg ? msg : PQerrorMessage(iot_db_conn(db)));
	PQclear(r);
	return -1;
}

static int record(iot_db *db, const iot_migration *m, long ms, iot_error *err)
{
	char v[16], d[24];
	snprintf(v, sizeof v, "%d", m->version);
	snprintf(d, sizeof d, "%ld", ms);
	const char *p[] = { v, m->name, m->checksum, d };
	PGresult *r = iot_db_query(db, "INSERT INTO schema_migrations (version, name, checksum, duration_ms) "
	                               "VALUES ($1, $2, $3, $4)", 4, p, err);
	PQclear(r);
	return r ? 0 : -1;
}

static int check_ledger(iot_db *db, const iot_migration_set *set, bool *pending, iot_error *err)
{
	iot_migration_status *st;
	size_t n;
	if (iot_migrate_status(db, set, &st, &n, err) < 0)
		return -1;
	int rc = 0;
	*pending = false;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (st[i].state == IOT_MIG_MODIFIED)
			rc = iot_error_set(err, IOT_REJECTED,
			                   "migration %03d_%s was edited after it was applied (checksum differs); "
			                   "restore the file and add a new migration instead", st[i].version, st[i].name);
		if (st[i].state == IOT_MIG_PENDING)
			*pending = true;
	}
	free(st);
	return rc;
}

static int tx(iot_db *db, const char *stmt, iot_error *err)
{
	PGresult *r = iot_db_query(db, stmt, 0, NULL, err);
	PQclear(r);
	return r ? 0 : -1;
}

/* Applies every pending migration; with dry_run all in one transaction that is
 * rolled back, otherwise each in its own. */
static int apply_pending(iot_db *db, const iot_migration_set *set, bool dry_run,
                         iot_migrate_cb cb, void *arg, iot_error *err)
{
	iot_migration_status *st;
	size_t n;
	if (iot_migrate_status(db, set, &st, &n, err) < 0)
		return -1;
	int rc = dry_run ? tx(db, "BEGIN", err) : 0;
	if (rc == 0 && dry_run)
		rc = tx(db, SQL_LEDGER, err);
	for (size_t i = 0; i < set->n && rc == 0; i++) {
		const iot_migration *m = &set->items[i];
		bool pending = false;
		for (size_t j = 0; j < n; j++)
			if (st[j].version == m->version)
				pending = st[j].state == IOT_MIG_PENDING;
		if (!pending)
			continue;
		long long t0 = iot_now_ms();
		if (!dry_run && tx(db, "BEGIN", err) < 0) {
			rc = -1;
			break;
		}
		rc = run_script(db, m, err);
		long ms = (long)(iot_now_ms() - t0);
		if (rc == 0)
			rc = record(db, m, ms, err);
		if (rc == 0 && !dry_run)
			rc = tx(db, "COMMIT", err);
		if (rc < 0 && !dry_run) {
			iot_error keep = *err;
			tx(db, "ROLLBACK", err);
			*err = keep;
		}
		if (rc == 0 && cb)
			cb(m, ms, arg);
	}
	if (dry_run) {
		iot_error keep = *err;
		tx(db, "ROLLBACK", err);
		*err = keep;
	}
	free(st);
	return rc;
}

int iot_migrate_up(iot_db *db, const iot_migration_set *set, bool dry_run,
                   iot_migrate_cb cb, void *arg, iot_error *err)
{
	/* A dry run must change nothing, not even create the ledger. */
	if (!dry_run && iot_db_command(db, SQL_LEDGER, 0, NULL, err) < 0)
		return -1;
	bool pending;
	if (check_ledger(db, set, &pending, err) < 0)
		return -1;
	if (!pending)
		return 0;
	return apply_pending(db, set, dry_run, cb, arg, err);
}

int iot_partitions_create(iot_db *db, int ahead, const char *interval, int *created, iot_error *err)
{
	if (interval) {
		const char *p[] = { interval };
		if (iot_db_command(db, "UPDATE iotflow_settings SET value = $1 WHERE key = 'partition_interval'",
		                   1, p, err) < 0)
			return -1;
	}
	char a[16];
	snprintf(a, sizeof a, "%d", ahead);
	const char *p[] = { a };
	PGresult *r = iot_db_exec(db, "SELECT iotflow_create_partitions($1::int)", 1, p, err);
	if (!r)
		return -1;
	*created = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}
