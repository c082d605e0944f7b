/* iot-query — telemetry out: ranges, latest values, the fleet's last
 * points, aggregates over time buckets, streaming exports, live follow. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/config.h"
#include "base/field_check.h"
#include "cli/cli.h"
#include "cli/command_table.h"
#include "iot-query.h"
#include "pg/db.h"
#include "telemetry/record.h"

static const char help_text[] =
"Usage: iot-query [OPTION]... COMMAND [COMMAND OPTION]...\n"
"Read IoTFlow telemetry back from PostgreSQL.\n"
"\n"
"Commands:\n"
"  range --device=DEVICE --since=TIME [--until=TIME] [--measurement=NAME]...\n"
"        [--limit=N] [--order=ORDER] [--metadata]\n"
"                           a device's records (the points of one time),\n"
"                           newest first; N is 1 to 10000 (default 1000)\n"
"  latest --device=DEVICE   the latest value of each of a device's measurements\n"
"  lastpoint [--device=DEVICE]... [--owner=USER] [--type=TYPE]\n"
"                           the latest values of every matching device\n"
"  aggregate --device=DEVICE --measurement=NAME --fn=FN --window=DURATION\n"
"        --since=TIME [--until=TIME] [--fill=FILL] [--order=ORDER]\n"
"                           one value per time bucket, newest first\n"
"  export --since=TIME [--until=TIME] [--device=DEVICE]...\n"
"                           every point of the range, streamed, in the shape\n"
"                           iot-ingest stores back (--format ndjson or csv)\n"
"  follow [--device=DEVICE]... [--measurement=NAME]...\n"
"                           points as they are stored, in that shape, until\n"
"                           interrupted\n"
"\n"
"Command options:\n"
"      --device=DEVICE      a device id, OWNER/NAME, or a NAME only one device has\n"
"      --measurement=NAME   only this measurement (again for more)\n"
"      --since=TIME         from TIME (inclusive)\n"
"      --until=TIME         up to TIME (inclusive; default now)\n"
"      --limit=N            at most N records\n"
"      --order=ORDER        desc (newest first, default) or asc\n"
"      --metadata           add each record's metadata\n"
"      --owner=USER         only devices of this user\n"
"      --type=TYPE          only devices of this type\n"
"      --fn=FN              avg (or mean), min, max, sum, count, first or last\n"
"      --window=DURATION    the width of a bucket, 1s to 366d (5m, 1h, 1d)\n"
"      --fill=FILL          empty buckets: none (left out, default), null, or\n"
"                           previous (the value of the bucket before)\n"
"\n"
"Options:\n"
"  -c, --config=FILE        read settings from FILE\n"
"  -d, --db=CONNINFO        PostgreSQL connection string (default: PG* variables)\n"
"      --format=FORMAT      ndjson (default), table or csv\n"
"  -q, --quiet              no warnings or progress\n"
"  -h, --help               show this help and exit\n"
"  -V, --version            show the version and exit\n"
"\n"
"TIME is now, -N with a unit s, m, h, d or w (-15m, -24h, -7d), ISO 8601\n"
"(2026-11-28T06:00:00Z; no zone means UTC) or epoch seconds (milliseconds\n"
"from 1e11 on). DURATION is N with a unit s, m, h, d or w.\n"
"Exit status: 0 ok (follow: ended by a signal), 2 usage (also an ambiguous\n"
"NAME), 3 unknown device or user, or no telemetry (latest), 4 PostgreSQL\n"
"refused the credentials, 5 database unavailable, 6 internal error.\n"
"See iot-query(1).\n";

enum {
	O_DEVICE = 1 << 0, O_FILL = 1 << 1, O_FN = 1 << 2, O_LIMIT = 1 << 3, O_MEASUREMENT = 1 << 4,
	O_METADATA = 1 << 5, O_ORDER = 1 << 6, O_OWNER = 1 << 7, O_SINCE = 1 << 8, O_TYPE = 1 << 9,
	O_UNTIL = 1 << 10, O_WINDOW = 1 << 11,
};
static bool listed(const char **names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return true;
	return false;
}

static const char *const opt_names[] = { "--device", "--fill", "--fn", "--limit", "--measurement",
	"--metadata", "--order", "--owner", "--since", "--type", "--until", "--window" };

enum action { A_RANGE, A_LATEST, A_LASTPOINT, A_AGGREGATE, A_EXPORT, A_FOLLOW };

static const iot_command commands[] = {
	{ "range", NULL, 0, 0, O_DEVICE | O_MEASUREMENT | O_SINCE | O_UNTIL | O_LIMIT | O_ORDER | O_METADATA,
	  A_RANGE, NULL },
	{ "latest", NULL, 0, 0, O_DEVICE, A_LATEST, NULL },
	{ "lastpoint", NULL, 0, 0, O_DEVICE | O_OWNER | O_TYPE, A_LASTPOINT, NULL },
	{ "aggregate", NULL, 0, 0, O_DEVICE | O_MEASUREMENT | O_FN | O_WINDOW | O_SINCE | O_UNTIL | O_FILL |
	  O_ORDER, A_AGGREGATE, NULL },
	{ "export", NULL, 0, 0, O_DEVICE | O_SINCE | O_UNTIL, A_EXPORT, NULL },
	{ "follow", NULL, 0, 0, O_DEVICE | O_MEASUREMENT, A_FOLLOW, NULL },
};

static const iot_command_table command_table = {
	commands, sizeof commands / sizeof commands[0], opt_names, sizeof opt_names / sizeof opt_names[0],
};

static void set_opt(struct q_opts *o, unsigned bit, const char **field)
{
	o->seen |= bit;
	*field = optarg;
}

static int parse_options(int argc, char **argv, struct q_opts *o, int *done)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "db", required_argument, NULL, 'd' },
		{ "device", required_argument, NULL, 'D' },
		{ "fill", required_argument, NULL, 'F' },
		{ "fn", required_argument, NULL, 'n' },
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "limit", required_argument, NULL, 'l' },
		{ "measurement", required_argument, NULL, 'm' },
		{ "metadata", no_argument, NULL, 'M' },
		{ "order", required_argument, NULL, 'o' },
		{ "owner", required_argument, NULL, 'O' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "since", required_argument, NULL, 's' },
		{ "type", required_argument, NULL, 't' },
		{ "until", required_argument, NULL, 'u' },
		{ "version", no_argument, NULL, 'V' },
		{ "window", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	static const char shortopts[] = "c:d:hqV";
	int c;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->config = optarg; break;
		case 'd': o->db = optarg; break;
		case 'D': o->seen |= O_DEVICE; o->devices[o->ndevices++] = optarg; break;
		case 'F': set_opt(o, O_FILL, &o->fill); break;
		case 'n': set_opt(o, O_FN, &o->fn); break;
		case 'f':
			if (iot_format_parse(optarg, &o->format) < 0)
				return iot_usage_error("invalid --format '%s' (ndjson, table or csv)", optarg);
			break;
		case 'h': *done = 1; return iot_print_help(help_text);
		case 'l': set_opt(o, O_LIMIT, &o->limit); break;
		case 'm':
			o->seen |= O_MEASUREMENT;
			/* The same name twice is one measurement (one column of a table). */
			if (!listed(o->measurements, o->nmeasurements, optarg))
				o->measurements[o->nmeasurements++] = optarg;
			break;
		case 'M': o->seen |= O_METADATA; o->metadata = true; break;
		case 'o': set_opt(o, O_ORDER, &o->order); break;
		case 'O': set_opt(o, O_OWNER, &o->owner); break;
		case 'q': iot_quiet = true; break;
		case 's': set_opt(o, O_SINCE, &o->since); break;
		case 't': set_opt(o, O_TYPE, &o->type); break;
		case 'u': set_opt(o, O_UNTIL, &o->until); break;
		case 'V': *done = 1; return iot_print_version();
		case 'w': set_opt(o, O_WINDOW, &o->window); break;
		default:
			return iot_getopt_error(argc, argv, shortopts, longopts);
		}
	}
	return 0;
}

/* The options a command cannot do without, and those given once only. */
static int check_required(const iot_command *cmd, const struct q_opts *o)
{
	static const struct { int action; unsigned need; } required[] = {
		{ A_RANGE, O_DEVICE | O_SINCE }, { A_LATEST, O_DEVICE },
		{ A_AGGREGATE, O_DEVICE | O_MEASUREMENT | O_FN | O_WINDOW | O_SINCE }, { A_EXPORT, O_SINCE },
	};
	for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
		if (required[i].action != cmd->action)
			continue;
		for (size_t b = 0; b < command_table.n_opts; b++)
			if ((required[i].need & (1u << b)) && !(o->seen & (1u << b)))
				return iot_usage_error("%s: %s is required", cmd->name, opt_names[b]);
	}
	bool one_device = cmd->action == A_RANGE || cmd->action == A_LATEST || cmd->action == A_AGGREGATE;
	if (one_device && o->ndevices > 1)
		return iot_usage_error("%s: one --device only (%zu given)", cmd->name, o->ndevices);
	if (cmd->action == A_AGGREGATE && o->nmeasurements > 1)
		return iot_usage_error("aggregate: one --measurement only (%zu given)", o->nmeasurements);
	if ((cmd->action == A_EXPORT || cmd->action == A_FOLLOW) && o->format == IOT_FMT_TABLE)
		return iot_usage_error("%s: --format is ndjson or csv (a table is printed at the end)",
		                       cmd->name);
	return 0;
}

/* Times, limit, order, function, window and fill, checked before connecting. */
static int check_values(const iot_command *cmd, struct q_opts *o)
{
	iot_error err = { 0 };
	int64_t now = iot_now_us();
	o->until_us = now;
	/* The library reads "" as now (or the default limit), for HTTP query
	 * strings; on a command line it is an unset variable or a failed
	 * $(date ...), which would quietly query nothing. */
	const char *empty = o->since && !*o->since ? "--since" : o->until && !*o->until ? "--until" :
	                    o->limit && !*o->limit ? "--limit" : NULL;
	if (empty)
		return iot_usage_error("%s: must not be empty", empty);
	for (size_t i = 0; i < o->nmeasurements; i++)
		if (!iot_measurement_name_valid(o->measurements[i], strlen(o->measurements[i])))
			return iot_usage_error("invalid --measurement '%s' (1 to 64 of A-Z a-z 0-9 _ . : / -, "
			                       "starting with a letter, a digit or _)", o->measurements[i]);
	if (o->nmeasurements > IOT_QUERY_MEASUREMENTS_MAX)
		return iot_usage_error("%zu --measurement options, over the maximum of %d", o->nmeasurements,
		                       IOT_QUERY_MEASUREMENTS_MAX);
	if ((o->since && iot_query_parse_time("--since", o->since, now, &o->since_us, &err) < 0) ||
	    (o->until && iot_query_parse_time("--until", o->until, now, &o->until_us, &err) < 0) ||
	    (o->since && iot_query_check_range("--since", o->since_us, "--until", o->until_us, &err) < 0) ||
	    iot_query_parse_limit("--limit", o->limit, IOT_QUERY_RANGE_LIMIT_DEFAULT,
	                          IOT_QUERY_RANGE_LIMIT_MAX, &o->limit_n, &err) < 0 ||
	    (o->fn && iot_query_parse_fn("--fn", o->fn, &o->agg_fn, &err) < 0) ||
	    (o->window && iot_query_parse_window("--window", o->window, &o->window_us, &err) < 0))
		return iot_usage_error("%s", err.msg);
	if (o->order && strcmp(o->order, "asc") && strcmp(o->order, "desc"))
		return iot_usage_error("invalid --order '%s' (asc or desc)", o->order);
	o->ascending = o->order && !strcmp(o->order, "asc");
	o->agg_fill = IOT_FILL_NONE;
	if (o->fill && !strcmp(o->fill, "null"))
		o->agg_fill = IOT_FILL_NULL;
	else if (o->fill && !strcmp(o->fill, "previous"))
		o->agg_fill = IOT_FILL_PREVIOUS;
	else if (o->fill && strcmp(o->fill, "none"))
		return iot_usage_error("invalid --fill '%s' (none, null or previous)", o->fill);
	if (cmd->action == A_AGGREGATE) {
		iot_aggregate_req req = { .device_id = 1, .measurement = o->measurements[0], .fn = o->agg_fn,
		                          .window_us = o->window_us, .start_us = o->since_us,
		                          .end_us = o->until_us, .fill = o->agg_fill };
		if (iot_query_aggregate_check(&req, &err) < 0)
			return iot_usage_error("%s", err.msg);
	}
	return 0;
}

int q_write_error(void)
{
	iot_fatal("unable to write output: %s", strerror(errno ? errno : EIO));
	clearerr(stdout);
	return IOT_INTERNAL;
}

int q_fail(const iot_error *err)
{
	if (err->status == IOT_USAGE)
		return iot_usage_error("%s", err->msg);
	return iot_fatal_error(err);
}

static int run(iot_registry *reg, const iot_command *cmd, const struct q_opts *o)
{
	switch ((enum action)cmd->action) {
	case A_RANGE: return q_range(reg, o);
	case A_LATEST: return q_latest(reg, o);
	case A_LASTPOINT: return q_lastpoint(reg, o);
	case A_AGGREGATE: return q_aggregate(reg, o);
	case A_EXPORT: return q_export(reg, o);
	case A_FOLLOW: return q_follow(reg, o);
	}
	return IOT_INTERNAL;
}

int main(int argc, char **argv)
{
	iot_cli_init(argv[0]);
	/* Each repeatable option appears at most argc times. */
	const char **lists = calloc(2 * (size_t)argc + 2, sizeof *lists);
	if (!lists) {
		iot_fatal("out of memory");
		return IOT_INTERNAL;
	}
	struct q_opts o = { .format = IOT_FMT_NDJSON, .devices = lists, .measurements = lists + argc + 1 };
	iot_error err = { 0 };
	iot_config *cfg = NULL;
	iot_db *db = NULL;
	int argc0 = argc;
	char **argv0 = argv;
	int done = 0, rc = parse_options(argc, argv, &o, &done);
	if (rc || done)
		goto out;
	argc -= optind;
	argv += optind;
	char **args;
	int nargs;
	const iot_command *cmd = iot_command_find(&command_table, argc, argv, o.seen, &args, &nargs);
	if (!cmd) {
		rc = IOT_USAGE;
		goto out;
	}
	if (iot_args_utf8_check(argc0, argv0, &err) < 0) {
		rc = iot_usage_error("%s", err.msg);
		goto out;
	}
	if ((rc = check_required(cmd, &o)) || (rc = check_values(cmd, &o)))
		goto out;
	cfg = iot_config_new(iot_progname);
	if (iot_config_setup(cfg, o.config, o.db, &err) < 0 || !(db = iot_db_connect(cfg, &err))) {
		rc = iot_fatal_error(&err);
		goto out;
	}
	iot_registry reg = { .cfg = cfg, .db = db, .cache = NULL };
	rc = run(&reg, cmd, &o);
out:
	iot_db_close(db);
	iot_config_free(cfg);
	free(lists);
	return iot_finish_stdout(rc);
}
