/* iot-chart — chart definitions from the shell (add, list, show, set, rm,
 * duplicate, their devices and measurements), their series as NDJSON and
 * their drawing as SVG. The logic is lib/chart's. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/config.h"
#include "base/field_check.h"
#include "base/json_util.h"
#include "chart/chart.h"
#include "cli/cli.h"
#include "cli/command_table.h"
#include "cli/output.h"
#include "pg/db.h"
#include "query/query.h"

static const char help_text[] =
"Usage: iot-chart [OPTION]... COMMAND [ARG]...\n"
"Define IoTFlow charts, read their series and draw them as SVG.\n"
"\n"
"Commands:\n"
"  add NAME --owner=USER [FIELD OPTION]...   add a chart\n"
"  list [--owner=USER]                       charts, by owner and name\n"
"  show CHART                                one chart\n"
"  set CHART [--name=NAME] [FIELD OPTION]... change a chart\n"
"  rm CHART                                  remove a chart\n"
"  duplicate CHART [--name=NAME]             a copy (default name: NAME (copy))\n"
"  device add CHART DEVICE...                put devices on a chart\n"
"  device rm CHART DEVICE                    take one off\n"
"  measurement add CHART NAME [--display-name=TEXT] [--color=COLOR] [--unit=UNIT]\n"
"                                            put a measurement on a chart, or\n"
"                                            change how it is shown\n"
"  measurement rm CHART NAME                 take one off\n"
"  data CHART [--since=TIME] [--until=TIME]  the series, one NDJSON line each\n"
"  render CHART [--since=TIME] [--until=TIME] [--width=PX] [--height=PX]\n"
"        [--tz=ZONE]                         the chart as SVG on stdout\n"
"\n"
"CHART is a chart id, OWNER/NAME, or a NAME only one chart has; DEVICE a\n"
"device id, OWNER/NAME or NAME, as in iot-device.\n"
"\n"
"Field options (add, set):\n"
"      --title=TEXT         shown above the chart (up to 200 characters)\n"
"      --description=TEXT   free text (up to 1000)\n"
"      --type=TYPE          line (default), bar, area, scatter, gauge or table\n"
"      --range=DURATION     the time shown: the last DURATION (default 24h;\n"
"                           1m to 366d), or custom (each request's range)\n"
"      --refresh=SECONDS    the dashboard's refresh interval (0 to 86400,\n"
"                           default 60)\n"
"      --aggregation=FN     none (default), avg (or mean), min, max, sum,\n"
"                           count, first or last\n"
"      --group-by=WHAT      device (one series per device and measurement),\n"
"                           or the bucket width of an aggregation (5m, 1h)\n"
"      --appearance=JSON    appearance members to set (null removes one):\n"
"                           showLegend, showGrid, fillArea, lineWidth,\n"
"                           yAxisMin, yAxisMax, customColors, backgroundColor,\n"
"                           borderColor, pointStyle, animations, aspectRatio\n"
"  On set, an empty TEXT or WHAT removes the value.\n"
"\n"
"Measurement options:\n"
"      --display-name=TEXT  the legend's name for it (up to 100)\n"
"      --color=COLOR        #RRGGBB or #RGB\n"
"      --unit=UNIT          shown on the axis and legend (up to 16)\n"
"  An empty value removes it.\n"
"\n"
"Data and render options:\n"
"      --since=TIME         from TIME (default: the chart's range before --until)\n"
"      --until=TIME         up to TIME (default now)\n"
"      --width=PX           200 to 4000 (default 800)\n"
"      --height=PX          150 to 3000 (default 400)\n"
"      --tz=ZONE            time labels in UTC, +HH:MM, -HH:MM, or local (the\n"
"                           TZ variable's zone; the default)\n"
"\n"
"Options:\n"
"  -c, --config=FILE        read settings from FILE\n"
"  -d, --db=CONNINFO        PostgreSQL connection string (default: PG* variables)\n"
"      --format=FORMAT      ndjson (default), table or csv (data: one row a point)\n"
"      --owner=USER         whose chart (add; list: only this user's)\n"
"  -q, --quiet              no warnings\n"
"  -h, --help               show this help and exit\n"
"  -V, --version            show the version and exit\n"
"\n"
"TIME is now, -N with a unit s, m, h, d or w, ISO 8601 or epoch seconds.\n"
"Exit status: 0 ok, 1 rejected (a name the owner already uses), 2 usage or\n"
"invalid value (unknown type, bad colour, bad range; an ambiguous NAME),\n"
"3 not found, 4 PostgreSQL refused the credentials, 5 database unavailable,\n"
"6 internal error. See iot-chart(1).\n";

enum {
	O_AGGREGATION = 1 << 0, O_APPEARANCE = 1 << 1, O_COLOR = 1 << 2, O_DESCRIPTION = 1 << 3,
	O_DISPLAY = 1 << 4, O_GROUP_BY = 1 << 5, O_HEIGHT = 1 << 6, O_NAME = 1 << 7, O_OWNER = 1 << 8,
	O_RANGE = 1 << 9, O_REFRESH = 1 << 10, O_SINCE = 1 << 11, O_TITLE = 1 << 12, O_TYPE = 1 << 13,
	O_TZ = 1 << 14, O_UNIT = 1 << 15, O_UNTIL = 1 << 16, O_WIDTH = 1 << 17,
};
static const char *const opt_names[] = { "--aggregation", "--appearance", "--color", "--description",
	"--display-name", "--group-by", "--height", "--name", "--owner", "--range", "--refresh", "--since",
	"--title", "--type", "--tz", "--unit", "--until", "--width" };
#define FIELD_OPTS (O_AGGREGATION | O_APPEARANCE | O_DESCRIPTION | O_GROUP_BY | O_RANGE | O_REFRESH | \
                    O_TITLE | O_TYPE)

static const char *const chart_cols[] = { "id", "name", "owner", "type", "time_range", "aggregation",
	"devices", "measurements", "title", NULL };
static const char *const removed_cols[] = { "id", "name", "owner", "removed", NULL };

enum action { A_ADD, A_LIST, A_SHOW, A_SET, A_RM, A_DUP, A_DEV_ADD, A_DEV_RM, A_M_ADD, A_M_RM,
	A_DATA, A_RENDER };

static const iot_command commands[] = {
	{ "add", NULL, 1, 1, FIELD_OPTS | O_OWNER, A_ADD, chart_cols },
	{ "list", NULL, 0, 0, O_OWNER, A_LIST, chart_cols },
	{ "show", NULL, 1, 1, 0, A_SHOW, chart_cols },
	{ "set", NULL, 1, 1, FIELD_OPTS | O_NAME, A_SET, chart_cols },
	{ "rm", NULL, 1, 1, 0, A_RM, removed_cols },
	{ "duplicate", NULL, 1, 1, O_NAME, A_DUP, chart_cols },
	{ "device", "add", 2, 1 + IOT_CHART_DEVICES_MAX, 0, A_DEV_ADD, chart_cols },
	{ "device", "rm", 2, 2, 0, A_DEV_RM, chart_cols },
	{ "measurement", "add", 2, 2, O_DISPLAY | O_COLOR | O_UNIT, A_M_ADD, chart_cols },
	{ "measurement", "rm", 2, 2, 0, A_M_RM, chart_cols },
	{ "data", NULL, 1, 1, O_SINCE | O_UNTIL, A_DATA, NULL },
	{ "render", NULL, 1, 1, O_SINCE | O_UNTIL | O_WIDTH | O_HEIGHT | O_TZ, A_RENDER, NULL },
};
static const iot_command_table command_table = {
	commands, sizeof commands / sizeof commands[0], opt_names, sizeof opt_names / sizeof opt_names[0],
};

struct opts {
	const char *config, *db, *owner, *appearance, *display, *color, *unit, *since, *until, *tz;
	iot_chart_fields f;
	enum iot_format format;
	long width, height;
	unsigned seen;
};

static int text_opt(struct opts *o, unsigned bit, const char **field)
{
	o->seen |= bit;
	*field = optarg;
	return 0;
}

static int long_opt(struct opts *o, unsigned bit, const char *name, long lo, long hi, long *out)
{
	o->seen |= bit;
	if (iot_parse_long(optarg, lo, hi, out) < 0)
		return iot_usage_error("invalid %s '%s' (%ld to %ld)", name, optarg, lo, hi);
	return 0;
}

static int parse_options(int argc, char **argv, struct opts *o, int *done)
{
	static const struct option longopts[] = {
		{ "aggregation", required_argument, NULL, 'A' },
		{ "appearance", required_argument, NULL, 'P' },
		{ "color", required_argument, NULL, 'C' },
		{ "config", required_argument, NULL, 'c' },
		{ "db", required_argument, NULL, 'd' },
		{ "description", required_argument, NULL, 'D' },
		{ "display-name", required_argument, NULL, 'N' },
		{ "format", required_argument, NULL, 'f' },
		{ "group-by", required_argument, NULL, 'G' },
		{ "height", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ "name", required_argument, NULL, 'n' },
		{ "owner", required_argument, NULL, 'o' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "range", required_argument, NULL, 'R' },
		{ "refresh", required_argument, NULL, 'r' },
		{ "since", required_argument, NULL, 's' },
		{ "title", required_argument, NULL, 'T' },
		{ "type", required_argument, NULL, 't' },
		{ "tz", required_argument, NULL, 'z' },
		{ "unit", required_argument, NULL, 'U' },
		{ "until", required_argument, NULL, 'u' },
		{ "version", no_argument, NULL, 'V' },
		{ "width", required_argument, NULL, 'W' },
		{ NULL, 0, NULL, 0 },
	};
	static const char shortopts[] = "c:d:hqV";
	int c, rc = 0;
	while (rc == 0 && (c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case 'A': rc = text_opt(o, O_AGGREGATION, &o->f.aggregation); break;
		case 'P': rc = text_opt(o, O_APPEARANCE, &o->appearance); break;
		case 'C': rc = text_opt(o, O_COLOR, &o->color); break;
		case 'c': o->config = optarg; break;
		case 'd': o->db = optarg; break;
		case 'D': rc = text_opt(o, O_DESCRIPTION, &o->f.description); break;
		case 'N': rc = text_opt(o, O_DISPLAY, &o->display); break;
		case 'f':
			if (iot_format_parse(optarg, &o->format) < 0)
				return iot_usage_error("invalid --format '%s' (ndjson, table or csv)", optarg);
			break;
		case 'G': rc = text_opt(o, O_GROUP_BY, &o->f.group_by); break;
		case 'H': rc = long_opt(o, O_HEIGHT, "--height", IOT_CHART_HEIGHT_MIN, IOT_CHART_HEIGHT_MAX,
		                        &o->height); break;
		case 'h': *done = 1; return iot_print_help(help_text);
		case 'n': rc = text_opt(o, O_NAME, &o->f.name); break;
		case 'o': rc = text_opt(o, O_OWNER, &o->owner); break;
		case 'q': iot_quiet = true; break;
		case 'R': rc = text_opt(o, O_RANGE, &o->f.time_range); break;
		case 'r': rc = long_opt(o, O_REFRESH, "--refresh", 0, 86400, &o->f.refresh); break;
		case 's': rc = text_opt(o, O_SINCE, &o->since); break;
		case 'T': rc = text_opt(o, O_TITLE, &o->f.title); break;
		case 't': rc = text_opt(o, O_TYPE, &o->f.type); break;
		case 'z': rc = text_opt(o, O_TZ, &o->tz); break;
		case 'U': rc = text_opt(o, O_UNIT, &o->unit); break;
		case 'u': rc = text_opt(o, O_UNTIL, &o->until); break;
		case 'V': *done = 1; return iot_print_version();
		case 'W': rc = long_opt(o, O_WIDTH, "--width", IOT_CHART_WIDTH_MIN, IOT_CHART_WIDTH_MAX,
		                        &o->width); break;
		default:
			return iot_getopt_error(argc, argv, shortopts, longopts);
		}
	}
	return rc;
}

/* data, render: --since, --until and --tz checked before connecting, as
 * usage errors; an empty time (an unset variable, a failed $(date ...))
 * is refused rather than read as now. The chart's own range is checked
 * once it is read. */
static int check_range_opts(const struct opts *o)
{
	iot_error err = { 0 };
	int64_t now = iot_now_us(), since = 0, until = now;
	int offset;
	const char *empty = o->since && !*o->since ? "--since" : o->until && !*o->until ? "--until" : NULL;
	if (empty)
		return iot_usage_error("%s: must not be empty", empty);
	if ((o->since && iot_query_parse_time("--since", o->since, now, &since, &err) < 0) ||
	    (o->until && iot_query_parse_time("--until", o->until, now, &until, &err) < 0) ||
	    (o->since && iot_query_check_range("--since", since, "--until", until, &err) < 0) ||
	    (o->tz && iot_chart_tz_parse(o->tz, now, &offset, &err) < 0))
		return iot_usage_error("%s", err.msg);
	return 0;
}

/* data --format table|csv: one row a point. */
static const char *const point_cols[] = { "device_id", "device_name", "measurement", "timestamp",
	"value", "min", "max", "count", NULL };

static int print_data(iot_db *db, const json_t *chart, const struct opts *o, iot_error *err)
{
	iot_chart_range rng = { .since = o->since, .until = o->until };
	iot_chart_data d;
	if (iot_chart_data_read(db, chart, &rng, &d, err) < 0)
		return -1;
	iot_output *out = o->format == IOT_FMT_NDJSON ? NULL : iot_output_new(stdout, o->format, point_cols);
	int rc = 0;
	for (size_t i = 0; i < d.nseries && rc == 0; i++) {
		json_t *s = iot_chart_series_json(&d, chart, i), *p;
		size_t k;
		if (!out) {
			rc = iot_json_print(stdout, s);
		} else {
			json_array_foreach(json_object_get(s, "points"), k, p) {
				json_t *row = json_deep_copy(p);
				json_object_set(row, "device_id", json_object_get(s, "device_id"));
				json_object_set(row, "device_name", json_object_get(s, "device_name"));
				json_object_set(row, "measurement", json_object_get(s, "measurement"));
				if (iot_output_row(out, row) < 0)
					rc = -1;
				json_decref(row);
			}
		}
		json_decref(s);
	}
	if (out && iot_output_finish(out) < 0)
		rc = -1;
	iot_chart_data_free(&d);
	return rc < 0 ? iot_error_set(err, IOT_INTERNAL, "unable to write the data") : 0;
}

static int render(iot_db *db, const json_t *chart, const struct opts *o, iot_error *err)
{
	iot_chart_range rng = { .since = o->since, .until = o->until };
	iot_chart_data d;
	iot_svg_opts so = { .width = (int)o->width, .height = (int)o->height };
	if (iot_chart_data_read(db, chart, &rng, &d, err) < 0)
		return -1;
	size_t len = 0;
	char *svg = NULL;
	if (iot_chart_tz_parse(o->tz ? o->tz : "local", d.end_us, &so.utc_offset_min, err) == 0)
		svg = iot_chart_svg(chart, &d, &so, &len, err);
	iot_chart_data_free(&d);
	if (!svg)
		return -1;
	int rc = fwrite(svg, 1, len, stdout) == len ? 0 : -1;
	free(svg);
	return rc < 0 ? iot_error_set(err, IOT_INTERNAL, "unable to write the SVG") : 0;
}

static int run(iot_registry *id, const iot_command *cmd, char **args, int nargs, struct opts *o,
               json_t **out, iot_error *err)
{
	int64_t chart = 0, owner = 0;
	if (cmd->action == A_ADD || (cmd->action == A_LIST && o->owner)) {
		if (iot_chart_user_id(id, o->owner, &owner, err) < 0)
			return -1;
	} else if (cmd->action != A_LIST && iot_chart_resolve(id, args[0], &chart, err) < 0) {
		return -1;
	}
	switch ((enum action)cmd->action) {
	case A_ADD:
		o->f.name = args[0];
		return iot_chart_add(id, owner, &o->f, out, err);
	case A_LIST: return iot_chart_list(id, owner, out, err);
	case A_SHOW: return iot_chart_get(id, chart, 0, out, err);
	case A_SET: return iot_chart_update(id, chart, 0, &o->f, out, err);
	case A_RM: return iot_chart_remove(id, chart, 0, out, err);
	case A_DUP: return iot_chart_duplicate(id, chart, 0, o->f.name, out, err);
	case A_DEV_ADD: return iot_chart_device_add(id, chart, (const char *const *)(args + 1), (size_t)(nargs - 1), out, err);
	case A_DEV_RM: return iot_chart_device_remove(id, chart, args[1], out, err);
	case A_M_ADD:
		return iot_chart_measurement_add(id, chart, args[1], o->display, o->color, o->unit, out, err);
	case A_M_RM: return iot_chart_measurement_remove(id, chart, args[1], out, err);
	case A_DATA:
	case A_RENDER:
		break;
	}
	json_t *def = NULL;
	if (iot_chart_get(id, chart, 0, &def, err) < 0)
		return -1;
	int rc = cmd->action == A_DATA ? print_data(id->db, def, o, err) : render(id->db, def, o, err);
	json_decref(def);
	return rc;
}

int main(int argc, char **argv)
{
	iot_cli_init(argv[0]);
	struct opts o = { .format = IOT_FMT_NDJSON, .f = { .refresh = -1 } };
	iot_error err = { 0 };
	iot_config *cfg = NULL;
	iot_db *db = NULL;
	json_t *result = NULL, *appearance = NULL;
	int done = 0, rc = parse_options(argc, argv, &o, &done);
	if (rc || done)
		return rc ? rc : iot_finish_stdout(0);
	argc -= optind;
	argv += optind;
	char **args;
	int nargs;
	const iot_command *cmd = iot_command_find(&command_table, argc, argv, o.seen, &args, &nargs);
	if (!cmd)
		return IOT_USAGE;
	if (cmd->action == A_ADD && !o.owner)
		return iot_usage_error("add: --owner is required");
	if (o.appearance) {
		if (!(appearance = iot_json_parse(o.appearance, strlen(o.appearance), IOT_JSON_MAX_DEPTH, &err)))
			return iot_usage_error("--appearance: %s", err.msg);
		o.f.appearance = appearance;
	}
	if (iot_args_utf8_check(argc, argv, &err) < 0 || iot_chart_fields_check(&o.f, false, &err) < 0) {
		rc = iot_usage_error("%s", err.msg);
		goto out;
	}
	if ((rc = check_range_opts(&o)))
		goto out;
	cfg = iot_config_new(iot_progname);
	if (iot_config_setup(cfg, o.config, o.db, &err) < 0 || !(db = iot_db_connect(cfg, &err)))
		goto fail;
	iot_registry id = { .cfg = cfg, .db = db, .cache = NULL };
	if (run(&id, cmd, args, nargs, &o, &result, &err) < 0)
		goto fail;
	if (result && iot_output_json(stdout, o.format, cmd->cols, result) < 0)
		rc = IOT_INTERNAL;
	goto out;
fail:
	rc = iot_fatal_error(&err);
out:
	json_decref(result);
	json_decref(appearance);
	iot_db_close(db);
	iot_config_free(cfg);
	return iot_finish_stdout(rc);
}
