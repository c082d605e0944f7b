/* imports.h — iot-migrate's commands for moving a Flask installation over. */
#ifndef IOT_MIGRATE_IMPORTS_H
#define IOT_MIGRATE_IMPORTS_H

#include <stdbool.h>

#include "base/config.h"
#include "pg/db.h"

struct import_opts {
	const char *from;          /* conninfo of the Flask database */
	const char *orphans_to;    /* owner of devices that had none */
	bool dry_run;
};

int cmd_import_flask(const iot_config *cfg, iot_db *db, const struct import_opts *o);
int cmd_import_telemetry(iot_config *cfg, iot_db *db, const struct import_opts *o);
int cmd_import_iotdb(iot_config *cfg, iot_db *db, const struct import_opts *o, char **files, int nfiles);
int cmd_compare(const iot_config *cfg, iot_db *db, const struct import_opts *o, char **files, int nfiles);

/* Shared by the telemetry imports (flask.c). */
#include "import/import.h"
int import_summary(const iot_history_counts *c);
/* A refused point, row or cell as a warning: "WHERE: column N: REASON". */
void import_print_reject(void *ctx, const char *where, int column, const char *reason);
iot_writer *import_writer(iot_config *cfg);
/* The Flask database (--from), its settings in *oldcfg (free it after);
 * NULL with the fatal message printed and *rc its exit status (2 for a
 * malformed connection string, 5 for a database that cannot be reached). */
iot_db *import_connect_old(const char *from, iot_config **oldcfg, int *rc);

#endif
