/* query_check — drives lib/query/query.h from tests/query.bats. One command
 * per run; results as NDJSON on stdout (aggregates with --text as
 * "EPOCH_SECONDS|VALUE(%.17g)|COUNT" lines, for comparison with SQL);
 * errors as "query_check: fatal: MSG" and the status as the exit code.
 *   query_check [--now TIME] time WHAT TEXT...    one line per TEXT: microseconds and isoformat
 *   query_check window TEXT | limit TEXT DEFAULT MAX | fn TEXT | fmt MICROSECONDS
 *   query_check range DEV START END [-m NAME]... [-l LIMIT] [--asc] [--meta]
 *   query_check latest DEV
 *   query_check lastpoint [-o OWNER] [-t TYPE] [--text] [DEV...]   --text: the text path
 *   query_check aggregate DEV FIELD FN WINDOW START END [--source auto|raw|hourly]
 *                         [--fill none|null|previous] [--asc] [--text]
 *   query_check delete DEV START END [NAME]       prints {"deleted":N}
 *   query_check user USER START END [LIMIT]       items, then {"total_count":N}
 * PG* variables name the database. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/json_util.h"
#include "cli/cli.h"
#include "query/query.h"

static int64_t now_us;
static iot_error err;

static int print_row(void *arg, json_t *row)
{
	(void)arg;
	return iot_json_print(stdout, row);
}

static int print_line(void *arg, const char *text, size_t len)
{
	(void)arg;
	return fwrite(text, 1, len, stdout) == len && putchar('\n') != EOF ? 0 : -1;
}

static int print_text(void *arg, json_t *row)
{
	(void)arg;
	const char *ts = json_string_value(json_object_get(row, "timestamp"));
	int64_t us;
	char iso[48];
	/* isoformat back to epoch seconds: +00:00 -> Z */
	snprintf(iso, sizeof iso, "%.*sZ", (int)strlen(ts) - 6, ts);
	if (iot_query_parse_time("timestamp", iso, 0, &us, &err) < 0)
		return -1;
	json_t *v = json_object_get(row, "value");
	long long count = (long long)json_integer_value(json_object_get(row, "count"));
	if (json_is_null(v))
		printf("%lld|null|%lld\n", (long long)(us / 1000000), count);
	else
		printf("%lld|%.17g|%lld\n", (long long)(us / 1000000), json_number_value(v), count);
	return 0;
}

static int times(int argc, char **argv, int64_t *start, int64_t *end)
{
	if (argc < 2)
		return iot_usage_error("START and END expected");
	if (iot_query_parse_time("start", argv[0], now_us, start, &err) < 0 ||
	    iot_query_parse_time("end", argv[1], now_us, end, &err) < 0)
		return iot_fatal_error(&err);
	return 0;
}

static int cmd_args(const char *cmd, int argc, char **argv)
{
	char buf[48];
	if (!strcmp(cmd, "time")) {
		for (int i = 1; i < argc; i++) {
			int64_t t;
			if (iot_query_parse_time(argv[0], argv[i], now_us, &t, &err) < 0)
				return iot_fatal_error(&err);
			iot_query_format_ts(t, buf, sizeof buf);
			printf("%lld %s\n", (long long)t, buf);
		}
		return 0;
	}
	if (!strcmp(cmd, "window") && argc == 1) {
		int64_t w;
		if (iot_query_parse_window("window", argv[0], &w, &err) < 0)
			return iot_fatal_error(&err);
		printf("%lld\n", (long long)w);
		return 0;
	}
	if (!strcmp(cmd, "limit") && argc == 3) {
		long v;
		if (iot_query_parse_limit("limit", argv[0], atol(argv[1]), atol(argv[2]), &v, &err) < 0)
			return iot_fatal_error(&err);
		printf("%ld\n", v);
		return 0;
	}
	if (!strcmp(cmd, "fn") && argc == 1) {
		enum iot_agg_fn fn;
		if (iot_query_parse_fn("aggregation", argv[0], &fn, &err) < 0)
			return iot_fatal_error(&err);
		printf("%s\n", iot_query_fn_name(fn));
		return 0;
	}
	if (!strcmp(cmd, "fmt") && argc == 1) {
		iot_query_format_ts(atoll(argv[0]), buf, sizeof buf);
		printf("%s\n", buf);
		return 0;
	}
	return -1;
}

static int cmd_range(iot_db *db, int argc, char **argv)
{
	iot_range_req r = { .device_id = argc ? atoll(argv[0]) : 0 };
	const char *names[70];
	size_t n = 0;
	if (argc < 3 || times(argc - 1, argv + 1, &r.start_us, &r.end_us))
		return IOT_USAGE;
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "-m") && i + 1 < argc && n < 70)
			names[n++] = argv[++i];
		else if (!strcmp(argv[i], "-l") && i + 1 < argc)
			r.limit = atol(argv[++i]);
		else if (!strcmp(argv[i], "--asc"))
			r.ascending = true;
		else if (!strcmp(argv[i], "--meta"))
			r.metadata = true;
		else
			return iot_usage_error("range: unknown argument %s", argv[i]);
	}
	if (n) {
		r.measurements = names;
		r.nmeasurements = n;
	}
	return iot_query_range(db, &r, print_row, NULL, &err) < 0 ? iot_fatal_error(&err) : 0;
}

static int cmd_lastpoint(iot_db *db, int argc, char **argv)
{
	iot_lastpoint_req r = { 0 };
	int64_t ids[64];
	size_t n = 0;
	bool text = false;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--text"))
			text = true;
		else if (!strcmp(argv[i], "-o") && i + 1 < argc)
			r.owner_id = atoll(argv[++i]);
		else if (!strcmp(argv[i], "-t") && i + 1 < argc)
			r.device_type = argv[++i];
		else if (n < 64)
			ids[n++] = atoll(argv[i]);
	}
	if (n) {
		r.device_ids = ids;
		r.ndevices = n;
	}
	int rc = text ? iot_query_lastpoint_text(db, &r, print_line, NULL, &err)
	              : iot_query_lastpoint(db, &r, print_row, NULL, &err);
	return rc < 0 ? iot_fatal_error(&err) : 0;
}

static int pick(const char *s, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

static int cmd_aggregate(iot_db *db, int argc, char **argv)
{
	static const char *const sources[] = { "auto", "raw", "hourly" };
	static const char *const fills[] = { "none", "null", "previous" };
	if (argc < 6)
		return iot_usage_error("aggregate: DEV FIELD FN WINDOW START END expected");
	iot_aggregate_req r = { .device_id = atoll(argv[0]), .measurement = argv[1] };
	if (iot_query_parse_fn("aggregation", argv[2], &r.fn, &err) < 0 ||
	    iot_query_parse_window("window", argv[3], &r.window_us, &err) < 0)
		return iot_fatal_error(&err);
	int rc = times(2, argv + 4, &r.start_us, &r.end_us);
	if (rc)
		return rc;
	bool text = false;
	for (int i = 6; i < argc; i++) {
		int k;
		if (!strcmp(argv[i], "--source") && i + 1 < argc && (k = pick(argv[++i], sources, 3)) >= 0)
			r.source = (enum iot_agg_source)k;
		else if (!strcmp(argv[i], "--fill") && i + 1 < argc && (k = pick(argv[++i], fills, 3)) >= 0)
			r.fill = (enum iot_agg_fill)k;
		else if (!strcmp(argv[i], "--asc"))
			r.ascending = true;
		else if (!strcmp(argv[i], "--text"))
			text = true;
		else
			return iot_usage_error("aggregate: bad argument %s", argv[i]);
	}
	if (getenv("QUERY_CHECK_SOURCE"))
		fprintf(stderr, "source %s\n", sources[iot_query_aggregate_source(&r)]);
	return iot_query_aggregate(db, &r, text ? print_text : print_row, NULL, &err) < 0
	       ? iot_fatal_error(&err) : 0;
}

static int cmd_delete(iot_db *db, int argc, char **argv)
{
	iot_delete_req r = { .device_id = argc ? atoll(argv[0]) : 0, .measurement = argc > 3 ? argv[3] : NULL };
	if (argc < 3 || times(2, argv + 1, &r.start_us, &r.end_us))
		return IOT_USAGE;
	long long n = iot_query_delete(db, &r, &err);
	if (n < 0)
		return iot_fatal_error(&err);
	printf("{\"deleted\":%lld}\n", n);
	return 0;
}

static int cmd_user(iot_db *db, int argc, char **argv)
{
	iot_user_req r = { .user_id = argc ? atoll(argv[0]) : 0, .limit = argc > 3 ? atol(argv[3]) : 0 };
	long long total = -1;
	if (argc < 3 || times(2, argv + 1, &r.start_us, &r.end_us))
		return IOT_USAGE;
	if (iot_query_user(db, &r, print_row, NULL, &total, &err) < 0)
		return iot_fatal_error(&err);
	printf("{\"total_count\":%lld}\n", total);
	return 0;
}

static int run(iot_db *db, const char *cmd, int argc, char **argv)
{
	if (!strcmp(cmd, "range"))
		return cmd_range(db, argc, argv);
	if (!strcmp(cmd, "latest") && argc == 1) {
		json_t *v = iot_query_latest(db, atoll(argv[0]), &err);
		if (!v)
			return iot_fatal_error(&err);
		iot_json_print(stdout, v);
		json_decref(v);
		return 0;
	}
	if (!strcmp(cmd, "lastpoint"))
		return cmd_lastpoint(db, argc, argv);
	if (!strcmp(cmd, "aggregate"))
		return cmd_aggregate(db, argc, argv);
	if (!strcmp(cmd, "delete"))
		return cmd_delete(db, argc, argv);
	if (!strcmp(cmd, "user"))
		return cmd_user(db, argc, argv);
	return iot_usage_error("unknown command %s", cmd);
}

int main(int argc, char **argv)
{
	iot_cli_init("query_check");
	argc--, argv++;
	if (argc >= 2 && !strcmp(argv[0], "--now")) {
		if (iot_query_parse_time("--now", argv[1], 0, &now_us, &err) < 0)
			return iot_fatal_error(&err);
		argc -= 2, argv += 2;
	}
	if (argc < 1)
		return iot_usage_error("a command expected");
	int rc = cmd_args(argv[0], argc - 1, argv + 1);
	if (rc >= 0)
		return iot_finish_stdout(rc);
	iot_config *cfg = iot_config_new(iot_progname);
	if (!cfg || iot_config_setup(cfg, NULL, NULL, &err) < 0)
		return iot_fatal_error(&err);
	iot_db *db = iot_db_connect(cfg, &err);
	if (!db) {
		iot_config_free(cfg);
		return iot_fatal_error(&err);
	}
	rc = run(db, argv[0], argc - 1, argv + 1);
	iot_db_close(db);
	iot_config_free(cfg);
	return iot_finish_stdout(rc);
}
