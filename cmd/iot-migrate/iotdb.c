/* iotdb.c — import-iotdb and compare. */
#include "imports.h"

#include "cli/cli.h"

int cmd_import_iotdb(iot_config *cfg, iot_db *db, const struct import_opts *o, char **files, int nfiles)
{
	(void)cfg; (void)db; (void)o; (void)files; (void)nfiles;
	return iot_usage_error("not yet");
}

int cmd_compare(const iot_config *cfg, iot_db *db, const struct import_opts *o, char **files, int nfiles)
{
	(void)cfg; (void)db; (void)o; (void)files; (void)nfiles;
	return iot_usage_error("not yet");
}
