/* flask.c — import-flask and import-telemetry: a Flask installation's
 * database into this one. */
#include "imports.h"

#include <stdio.h>
#include <string.h>

#include "base/json_util.h"
#include "cli/cli.h"
#include "import/import.h"

/* The Flask database, by the conninfo of --from. */
iot_db *import_connect_old(const char *from, iot_config **oldcfg, int *rc)
{
	iot_error err;
	iot_db *old = NULL;
	*oldcfg = iot_config_new(iot_progname);
	if (!*oldcfg || iot_config_set(*oldcfg, "database", from, &err) < 0 ||
	    !(old = iot_db_connect(*oldcfg, &err))) {
		snprintf(err.msg + strlen(err.msg), sizeof err.msg - strlen(err.msg), " (--from)");
		*rc = iot_fatal_error(&err);
		return NULL;
	}
	iot_db_set_retry_time(old, 0);
	return old;
}

static void print_event(void *ctx, const json_t *ev)
{
	(void)ctx;
	iot_json_print(stdout, ev);
	const char *reason = iot_json_str(ev, "reason");
	if (reason)
		iot_warn("%s %lld: %s", iot_json_str(ev, "kind"),
		         (long long)json_integer_value(json_object_get(ev, "old_id")), reason);
}

int cmd_import_flask(const iot_config *cfg, iot_db *db, const struct import_opts *o)
{
	static const char *const names[4] = { "users", "devices", "configs", "controls" };
	iot_config *oldcfg;
	int crc = 0;
	iot_db *old = import_connect_old(o->from, &oldcfg, &crc);
	if (!old) {
		iot_config_free(oldcfg);
		return crc;
	}
	iot_flask_opts fo = { .dry_run = o->dry_run, .orphan_owner = o->orphans_to };
	iot_import_counts c[4];
	iot_error err;
	int rc = 0;
	if (iot_flask_import(cfg, db, old, &fo, print_event, NULL, c, &err) < 0) {
		rc = iot_fatal_error(&err);
	} else {
		long rejected = 0;
		for (int k = 0; k < 4; k++) {
			rejected += c[k].rejected;
			if (!iot_quiet)
				fprintf(stderr, "%s: %s: %ld %s, %ld unchanged, %ld rejected\n", iot_progname, names[k],
				        c[k].imported, o->dry_run ? "to import" : "imported", c[k].unchanged, c[k].rejected);
		}
		rc = rejected ? IOT_REJECTED : 0;
	}
	iot_db_close(old);
	iot_config_free(oldcfg);
	return rc;
}

void import_print_reject(void *ctx, const char *where, int column, const char *reason)
{
	(void)ctx;
	if (column)
		iot_warn("%s: column %d: %s", where, column, reason);
	else
		iot_warn("%s: %s", where, reason);
}

/* The totals line, as iot-ingest prints it; exit 1 when anything was rejected. */
int import_summary(const iot_history_counts *c)
{
	json_t *o = json_pack("{s:I,s:I,s:I,s:I,s:I}", "read", (json_int_t)c->read, "points", (json_int_t)c->points,
	                      "stored", (json_int_t)c->stored, "duplicates", (json_int_t)c->duplicates,
	                      "rejected", (json_int_t)c->rejected);
	iot_json_print(stdout, o);
	json_decref(o);
	return c->rejected ? IOT_REJECTED : 0;
}

/* The batch writer for history: no online marks in Redis for old points. */
iot_writer *import_writer(iot_config *cfg)
{
	iot_writer_opts wo;
	iot_error err;
	iot_writer_opts_default(&wo);
	wo.use_cache = false;
	iot_writer *w = iot_writer_new(cfg, &wo, &err);
	if (!w)
		iot_fatal_error(&err);
	return w;
}

int cmd_import_telemetry(iot_config *cfg, iot_db *db, const struct import_opts *o)
{
	iot_error err;
	iot_config *oldcfg;
	iot_history_counts c = { 0 };
	iot_device_map *map = iot_device_map_load(db, &err);
	if (!map)
		return iot_fatal_error(&err);
	int crc = 0;
	iot_db *old = import_connect_old(o->from, &oldcfg, &crc);
	iot_writer *w = old ? import_writer(cfg) : NULL;
	int rc = old ? (w ? 0 : IOT_UNAVAILABLE) : crc;
	if (w) {
		int64_t future = iot_config_get_long(cfg, "max_future") * 1000000LL;
		if (iot_flask_history_import(old, map, w, future, import_print_reject, NULL, &c, &err) < 0)
			rc = iot_fatal_error(&err);
		if (iot_writer_close(w, &err) < 0 && rc == 0)
			rc = iot_fatal_error(&err);
		if (rc == 0)
			rc = import_summary(&c);
	}
	iot_db_close(old);
	iot_config_free(oldcfg);
	iot_device_map_free(map);
	return rc;
}
