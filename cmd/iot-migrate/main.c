/* iot-migrate — apply and verify IoTFlow's SQL migrations, keep partitions ahead,
 * move a Flask IoTFlow installation over (imports.h). */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/command_table.h"
#include "base/config.h"
#include "pg/db.h"
#include "base/json_util.h"
#include "pg/migrate.h"
#include "cli/output.h"
#include "imports.h"
#include "auth/auth.h"
#include "query/lifecycle.h"
#include "query/query.h"

static const char usage[] =
	"Usage: iot-migrate [OPTION]... COMMAND [ARG]...\n"
	"Apply and verify IoTFlow's numbered SQL migrations; move a Flask IoTFlow over.\n"
	"\n"
	"Commands:\n"
	"  up                  apply pending migrations, then create partitions ahead\n"
	"  status              list every migration and its state\n"
	"  verify              exit 1 unless every migration is applied and unedited\n"
	"  partitions          create telemetry partitions for now and the next N intervals\n"
	"  import-flask        users, devices and their keys, configs and commands from\n"
	"                      the Flask service's database (--from); again: no change\n"
	"  import-telemetry    that database's telemetry_data into this one (--from)\n"
	"  import-iotdb FILE...  IoTDB CSV exports, either layout ('-': stdin)\n"
	"  compare [FILE...]   per device and day, the Flask side (--from, or IoTDB CSV\n"
	"                      files) against this database: the differences as NDJSON\n"
	"  retention --keep=AGE --archive-dir=DIR\n"
	"                      archive each partition older than AGE (gzip NDJSON and a\n"
	"                      manifest), verify the archive, then drop the partition\n"
	"  rollups --rebuild=SINCE\n"
	"                      recompute the hourly rollups from the points since SINCE\n"
	"\n"
	"Options:\n"
	"  -a, --ahead=N         partitions to keep ahead (default: partition_ahead, 7)\n"
	"      --archive-dir=DIR retention: where archives and manifests are written\n"
	"  -c, --config=FILE     read settings from FILE\n"
	"  -d, --db=CONNINFO     PostgreSQL conninfo string or URI (default: PG* variables)\n"
	"  -f, --from=CONNINFO   the Flask service's PostgreSQL database (import-flask,\n"
	"                        import-telemetry, compare)\n"
	"  -n, --dry-run         up, import-flask: do it in a transaction, then roll back;\n"
	"                        retention: tell what would be archived, change nothing\n"
	"      --format=FORMAT   ndjson (default), table or csv\n"
	"  -i, --interval=WIDTH  partitions: day or month (stored; used from then on)\n"
	"      --keep=AGE        retention: keep partitions younger than AGE (365d, 52w)\n"
	"  -o, --orphans-to=USER import-flask: the owner of devices that had none\n"
	"  -q, --quiet           no summary or warnings on stderr\n"
	"      --rebuild=SINCE   rollups: from this time (ISO 8601, -7d, epoch seconds)\n"
	"  -s, --sql-dir=DIR     migrations directory (default: the installed one)\n"
	"  -h, --help            show this help and exit\n"
	"  -V, --version         show the version and exit\n"
	"\n"
	"Exit status: 0 ok; 1 an applied migration was edited (or, for verify, anything\n"
	"is not applied; for the imports, something was rejected; for compare, the two\n"
	"sides differ); 2 usage; 3 no migrations found (imports: the Flask database\n"
	"has no users or devices table, or no such --orphans-to user); 4 PostgreSQL\n"
	"refused the credentials or permission; 5 database unavailable; 6 internal.\n"
	"See iot-migrate(1).\n";

struct opts {
	const char *config, *db, *sql_dir, *interval, *archive_dir, *rebuild;
	long ahead, keep_s;
	bool dry_run;
	enum iot_format format;
	struct import_opts imp;
};

static const char *const status_cols[] = { "version", "name", "state", "applied_at", NULL };

enum action { M_UP, M_STATUS, M_VERIFY, M_PARTITIONS, M_IMPORT_FLASK, M_IMPORT_TELEMETRY, M_IMPORT_IOTDB,
              M_COMPARE, M_RETENTION, M_ROLLUPS };
enum { O_DRY_RUN = 1 << 0, O_INTERVAL = 1 << 1, O_FROM = 1 << 2, O_ORPHANS = 1 << 3, O_KEEP = 1 << 4,
       O_ARCHIVE = 1 << 5, O_REBUILD = 1 << 6 };
static const char *const opt_names[] = { "--dry-run", "--interval", "--from", "--orphans-to", "--keep",
                                          "--archive-dir", "--rebuild" };

static const iot_command commands[] = {
	{ "up", NULL, 0, 0, O_DRY_RUN, M_UP, NULL },
	{ "status", NULL, 0, 0, 0, M_STATUS, status_cols },
	{ "verify", NULL, 0, 0, 0, M_VERIFY, status_cols },
	{ "partitions", NULL, 0, 0, O_INTERVAL, M_PARTITIONS, NULL },
	{ "import-flask", NULL, 0, 0, O_FROM | O_DRY_RUN | O_ORPHANS, M_IMPORT_FLASK, NULL },
	{ "import-telemetry", NULL, 0, 0, O_FROM, M_IMPORT_TELEMETRY, NULL },
	{ "import-iotdb", NULL, 1, 1024, 0, M_IMPORT_IOTDB, NULL },
	{ "compare", NULL, 0, 1024, O_FROM, M_COMPARE, NULL },
	{ "retention", NULL, 0, 0, O_KEEP | O_ARCHIVE | O_DRY_RUN, M_RETENTION, NULL },
	{ "rollups", NULL, 0, 0, O_REBUILD, M_ROLLUPS, NULL },
};

static const iot_command_table command_table = {
	commands, sizeof commands / sizeof commands[0], opt_names, sizeof opt_names / sizeof opt_names[0],
};

static void applied_cb(const iot_migration *m, long ms, void *arg)
{
	bool dry = *(bool *)arg;
	json_t *o = json_pack("{s:i,s:s,s:s,s:i}", "version", m->version, "name", m->name,
	                      "action", dry ? "would apply" : "applied", "ms", (int)ms);
	iot_json_print(stdout, o);
	json_decref(o);
}

static int cmd_status(iot_db *db, const iot_migration_set *set, const struct opts *o,
                      const char *const *cols, bool verify)
{
	iot_migration_status *st;
	size_t n;
	iot_error err;
	if (iot_migrate_status(db, set, &st, &n, &err) < 0)
		return iot_fatal_error(&err);
	iot_output *out = iot_output_new(stdout, o->format, cols);
	int bad = 0;
	for (size_t i = 0; i < n; i++) {
		if (st[i].state != IOT_MIG_APPLIED)
			bad++;
		if (verify && st[i].state == IOT_MIG_APPLIED)
			continue;
		json_t *row = json_pack("{s:i,s:s,s:s,s:s?}", "version", st[i].version, "name", st[i].name,
		                        "state", iot_migration_state_name(st[i].state),
		                        "applied_at", st[i].applied_at[0] ? st[i].applied_at : NULL);
		iot_output_row(out, row);
		json_decref(row);
	}
	iot_output_finish(out);
	free(st);
	if (verify && bad && !iot_quiet)
		fprintf(stderr, "%s: %d migration(s) not applied as written\n", iot_progname, bad);
	return verify && bad ? IOT_REJECTED : 0;
}

static int cmd_up(iot_db *db, const iot_migration_set *set, const struct opts *o)
{
	iot_error err;
	bool dry = o->dry_run;
	if (iot_migrate_lock(db, &err) < 0)
		return iot_fatal_error(&err);
	int rc = 0;
	if (iot_migrate_up(db, set, dry, applied_cb, &dry, &err) < 0) {
		rc = iot_fatal_error(&err);
	} else if (!dry) {
		int created = 0;
		if (iot_partitions_create(db, (int)o->ahead, NULL, &created, &err) < 0)
			rc = iot_fatal_error(&err);
		else if (!iot_quiet)
			fprintf(stderr, "%s: schema at version %d; %d partition(s) created\n",
			        iot_progname, set->items[set->n - 1].version, created);
	}
	iot_migrate_unlock(db, &err);
	return rc;
}

static int cmd_partitions(iot_db *db, const struct opts *o)
{
	iot_error err;
	int created = 0;
	if (iot_partitions_create(db, (int)o->ahead, o->interval, &created, &err) < 0)
		return iot_fatal_error(&err);
	json_t *row = json_pack("{s:i,s:i}", "ahead", (int)o->ahead, "created", created);
	iot_json_print(stdout, row);
	json_decref(row);
	return 0;
}

static int retention_row(void *arg, const iot_retention_item *it)
{
	(void)arg;
	char from[40], to[40];
	iot_query_format_ts(it->lo_us, from, sizeof from);
	iot_query_format_ts(it->hi_us, to, sizeof to);
	const char *action = it->dropped ? "archived and dropped" : "would archive and drop";
	json_t *row = json_pack("{s:s,s:s,s:s,s:I,s:s}", "partition", it->partition, "from", from, "to", to,
	                        "rows", (json_int_t)it->rows, "action", action);
	if (it->dropped)
		json_object_update_new(row, json_pack("{s:s,s:s,s:s}", "archive", it->archive, "manifest", it->manifest,
		                                      "sha256", it->sha256));
	int rc = iot_json_print(stdout, row);
	json_decref(row);
	return rc;
}

/* retention and rollups (lib/query/lifecycle.h). */
static int cmd_lifecycle(iot_db *db, const iot_config *cfg, const iot_command *cmd, const struct opts *o)
{
	iot_error err = { 0 };
	if (cmd->action == M_RETENTION) {
		if (o->keep_s <= 0 || !o->archive_dir)
			return iot_usage_error("retention needs --keep=AGE and --archive-dir=DIR");
		/* Redis (optional): the read routes' cached answers go stale with a drop. */
		iot_cache *cache = o->dry_run ? NULL : iot_cache_connect(cfg, &err);
		iot_error ignored = { 0 };
		if (cache)
			iot_auth_cache_bind(db, cache, &ignored);
		iot_retention_req req = { .keep_us = (int64_t)o->keep_s * 1000000, .archive_dir = o->archive_dir,
		                          .dry_run = o->dry_run, .cache = cache };
		int rc = iot_retention_run(db, &req, retention_row, NULL, &err) < 0 ? iot_fatal_error(&err) : 0;
		iot_cache_free(cache);
		return rc;
	}
	int64_t since;
	if (!o->rebuild)
		return iot_usage_error("rollups needs --rebuild=SINCE");
	if (!*o->rebuild) /* an unset variable: not "now" */
		return iot_usage_error("--rebuild: must not be empty");
	if (iot_query_parse_time("--rebuild", o->rebuild, 0, &since, &err) < 0)
		return iot_usage_error("%s", err.msg);
	long long rows = iot_rollups_rebuild(db, since, &err);
	if (rows < 0)
		return iot_fatal_error(&err);
	char from[40];
	iot_query_format_ts(since - since % 3600000000LL, from, sizeof from);
	json_t *row = json_pack("{s:s,s:I}", "rebuilt_from", from, "hours", (json_int_t)rows);
	iot_json_print(stdout, row);
	json_decref(row);
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o, iot_config *cfg, int *done)
{
	static const struct option longopts[] = {
		{ "ahead",    required_argument, NULL, 'a' },
		{ "archive-dir", required_argument, NULL, 'A' },
		{ "config",   required_argument, NULL, 'c' },
		{ "db",       required_argument, NULL, 'd' },
		{ "dry-run",  no_argument,       NULL, 'n' },
		{ "format",   required_argument, NULL, 'F' },
		{ "from",     required_argument, NULL, 'f' },
		{ "help",     no_argument,       NULL, 'h' },
		{ "interval", required_argument, NULL, 'i' },
		{ "keep",     required_argument, NULL, 'K' },
		{ "orphans-to", required_argument, NULL, 'o' },
		{ "quiet",    no_argument,       NULL, 'q' },
		{ "rebuild",  required_argument, NULL, 'R' },
		{ "sql-dir",  required_argument, NULL, 's' },
		{ "version",  no_argument,       NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	static const char shortopts[] = "a:c:d:f:hi:no:qs:V";
	int c;
	o->ahead = -1;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (iot_parse_long(optarg, 0, 3650, &o->ahead) < 0)
				return iot_usage_error("invalid --ahead '%s' (0..3650)", optarg);
			break;
		case 'A': o->archive_dir = optarg; break;
		case 'K':
			if (iot_parse_duration_unit(optarg, &o->keep_s) < 0 || o->keep_s <= 0 ||
			    o->keep_s > 36500LL * 86400)
				return iot_usage_error("invalid --keep '%s' (a number and its unit, s, m, h, d or w: 365d, 52w, 8760h;"
				                       " at most 36500d)",
				                       optarg);
			break;
		case 'R': o->rebuild = optarg; break;
		case 'c': o->config = optarg; break;
		case 'd': o->db = optarg; break;
		case 'F':
			if (iot_format_parse(optarg, &o->format) < 0)
				return iot_usage_error("invalid --format '%s' (ndjson, table, csv)", optarg);
			break;
		case 'h': *done = 1; return iot_print_help(usage);
		case 'i':
			if (strcmp(optarg, "day") && strcmp(optarg, "month"))
				return iot_usage_error("invalid --interval '%s' (day, month)", optarg);
			o->interval = optarg;
			break;
		case 'f': o->imp.from = optarg; break;
		case 'n': o->dry_run = o->imp.dry_run = true; break;
		case 'o': o->imp.orphans_to = optarg; break;
		case 'q': iot_quiet = true; break;
		case 's': o->sql_dir = optarg; break;
		case 'V': *done = 1; return iot_print_version();
		default: return iot_getopt_error(argc, argv, shortopts, longopts);
		}
	}
	iot_error err;
	if (iot_config_setup(cfg, o->config, o->db, &err) < 0 ||
	    (o->sql_dir && iot_config_set(cfg, "sql_dir", o->sql_dir, &err) < 0))
		return iot_fatal_error(&err);
	if (o->ahead < 0)
		o->ahead = iot_config_get_long(cfg, "partition_ahead");
	return 0;
}

int main(int argc, char **argv)
{
	iot_cli_init(argv[0]);
	struct opts o = { 0 };
	iot_config *cfg = iot_config_new(iot_progname);
	iot_migration_set set = { 0 };
	iot_db *db = NULL;
	iot_error err;
	int done = 0, rc = parse_args(argc, argv, &o, cfg, &done);
	if (rc || done)
		goto out;
	argc -= optind;
	argv += optind;
	char **args;
	int nargs;
	unsigned seen = (o.dry_run ? O_DRY_RUN : 0) | (o.interval ? O_INTERVAL : 0) | (o.imp.from ? O_FROM : 0) |
	                (o.imp.orphans_to ? O_ORPHANS : 0) | (o.keep_s ? O_KEEP : 0) |
	                (o.archive_dir ? O_ARCHIVE : 0) | (o.rebuild ? O_REBUILD : 0);
	const iot_command *cmd = iot_command_find(&command_table, argc, argv, seen, &args, &nargs);
	if (!cmd) {
		rc = IOT_USAGE;
		goto out;
	}
	if ((cmd->action == M_IMPORT_FLASK || cmd->action == M_IMPORT_TELEMETRY ||
	     (cmd->action == M_COMPARE && nargs == 0)) && !o.imp.from) {
		rc = iot_usage_error("%s needs --from=CONNINFO (the Flask service's database)", cmd->name);
		goto out;
	}
	if (cmd->action == M_COMPARE && nargs > 0 && o.imp.from) {
		rc = iot_usage_error("compare: --from or FILE..., not both");
		goto out;
	}
	bool needs_files = cmd->action == M_UP || cmd->action == M_STATUS || cmd->action == M_VERIFY;
	char dirbuf[4096];
	if (needs_files && iot_migrations_load(iot_sql_dir(cfg, dirbuf, sizeof dirbuf), &set, &err) < 0) {
		rc = iot_fatal_error(&err);
		goto out;
	}
	if (!(db = iot_db_connect(cfg, &err))) {
		rc = iot_fatal_error(&err);
		goto out;
	}
	/* The advisory lock belongs to this session: never reconnect behind it. */
	iot_db_set_retry_time(db, 0);
	if (cmd->action == M_UP)
		rc = cmd_up(db, &set, &o);
	else if (cmd->action == M_PARTITIONS)
		rc = cmd_partitions(db, &o);
	else if (cmd->action == M_IMPORT_FLASK)
		rc = cmd_import_flask(cfg, db, &o.imp);
	else if (cmd->action == M_IMPORT_TELEMETRY)
		rc = cmd_import_telemetry(cfg, db, &o.imp);
	else if (cmd->action == M_IMPORT_IOTDB)
		rc = cmd_import_iotdb(cfg, db, &o.imp, args, nargs);
	else if (cmd->action == M_COMPARE)
		rc = cmd_compare(cfg, db, &o.imp, args, nargs);
	else if (cmd->action == M_RETENTION || cmd->action == M_ROLLUPS)
		rc = cmd_lifecycle(db, cfg, cmd, &o);
	else
		rc = cmd_status(db, &set, &o, cmd->cols, cmd->action == M_VERIFY);
out:
	iot_db_close(db);
	iot_migrations_free(&set);
	iot_config_free(cfg);
	return iot_finish_stdout(rc);
}
