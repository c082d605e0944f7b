/* iotdb.c — import-iotdb (IoTDB CSV exports) and compare (the consistency
 * check of the dual-write period). */
#include "imports.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/json_util.h"
#include "cli/cli.h"

/* FILE, or stdin for "-"; NULL with the fatal message printed. */
static FILE *open_input(const char *path)
{
	if (!strcmp(path, "-"))
		return stdin;
	FILE *f = fopen(path, "r");
	if (!f)
		iot_fatal("unable to open %s: %s", path, strerror(errno));
	return f;
}

int cmd_import_iotdb(iot_config *cfg, iot_db *db, const struct import_opts *o, char **files, int nfiles)
{
	(void)o;
	iot_error err;
	iot_history_counts c = { 0 };
	iot_device_map *map = iot_device_map_load(db, &err);
	if (!map)
		return iot_fatal_error(&err);
	iot_writer *w = import_writer(cfg);
	iot_iotdb_import *im = w ? iot_iotdb_import_new(map, w, iot_config_get_long(cfg, "max_future") * 1000000LL,
	                                                    import_print_reject, NULL, &c) : NULL;
	int rc = w ? 0 : IOT_UNAVAILABLE;
	if (w && !im)
		rc = IOT_INTERNAL;
	for (int i = 0; im && i < nfiles && rc == 0; i++) {
		FILE *f = open_input(files[i]);
		if (!f) {
			rc = IOT_USAGE;
			break;
		}
		if (iot_iotdb_import_file(im, f, strcmp(files[i], "-") ? files[i] : "stdin", &err) < 0)
			rc = iot_fatal_error(&err);
		if (f != stdin)
			fclose(f);
	}
	if (im && iot_iotdb_import_end(im, &err) < 0 && rc == 0)
		rc = iot_fatal_error(&err);
	if (w && iot_writer_close(w, &err) < 0 && rc == 0)
		rc = iot_fatal_error(&err);
	if (rc == 0)
		rc = import_summary(&c);
	iot_device_map_free(map);
	return rc;
}

static void print_diff(void *ctx, const json_t *row)
{
	(void)ctx;
	iot_json_print(stdout, row);
}

int cmd_compare(const iot_config *cfg, iot_db *db, const struct import_opts *o, char **files, int nfiles)
{
	(void)cfg;
	iot_error err;
	iot_device_map *map = iot_device_map_load(db, &err);
	if (!map)
		return iot_fatal_error(&err);
	iot_compare *cmp = iot_compare_new();
	iot_config *oldcfg = NULL;
	int rc = cmp ? 0 : IOT_INTERNAL;
	long long rows = 0, ndiff = 0;
	if (rc == 0 && o->from) {
		int crc = 0;
		iot_db *old = import_connect_old(o->from, &oldcfg, &crc);
		if (!old)
			rc = crc;
		else if (iot_compare_old_db(cmp, old, map, &err) < 0)
			rc = iot_fatal_error(&err);
		iot_db_close(old);
	}
	for (int i = 0; rc == 0 && i < nfiles; i++) {
		FILE *f = open_input(files[i]);
		if (!f) {
			rc = IOT_USAGE;
			break;
		}
		if (iot_compare_iotdb_file(cmp, f, strcmp(files[i], "-") ? files[i] : "stdin", map, import_print_reject, NULL,
		                           &rows, &err) < 0)
			rc = iot_fatal_error(&err);
		if (f != stdin)
			fclose(f);
	}
	if (rc == 0 && (iot_compare_new_db(cmp, db, &err) < 0 || iot_compare_diff(cmp, print_diff, NULL, &ndiff, &err) < 0))
		rc = iot_fatal_error(&err);
	if (rc == 0 && ndiff) {
		if (!iot_quiet)
			fprintf(stderr, "%s: %lld difference(s)\n", iot_progname, ndiff);
		rc = IOT_REJECTED;
	}
	iot_compare_free(cmp);
	iot_config_free(oldcfg);
	iot_device_map_free(map);
	return rc;
}
