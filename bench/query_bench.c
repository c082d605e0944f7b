/* query_bench — the lib/query calls that bench/query measures, and the very
 * same statements as a psql script, so both sides run identical SQL with
 * identical parameters.
 *   query_bench run CASE N DEVICE NOW     N calls; prints "rows R", then each call's microseconds
 *   query_bench psql CASE N DEVICE NOW    a psql script running the case's SQL N times
 * CASE: latest | lastpoint (the fleet's, as the NDJSON text iot-query prints)
 * | lastpoint_objects (the same as jansson objects, as iot-httpd gets them) | aggregate (30-day hourly mean) | range (the newest
 * 2,000 points of one series) | range24 (24 hours of one series, 1,440 points)
 * | records (the newest 1,000 records of the device, every series: the Flask
 * GET /api/v1/telemetry/{id} with its defaults but a 24 h range).
 * NOW is an RFC 3339 time; PG* variables name the database. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/config.h"
#include "cli/cli.h"
#include "query/query_int.h"

#define MEASUREMENT "temperature"
#define DAY_US INT64_C(86400000000)

struct bench {
	const char *name;
	int64_t dev, now;
	iot_range_req range;
	iot_aggregate_req agg;
	const char *names[1];
	char p[6][48];
	const char *params[IOT__AGG_NPARAMS];
	int nparams;
	const char *sql;
};

static int count_row(void *arg, json_t *row)
{
	(void)row;
	++*(long *)arg;
	return 0;
}

static int count_text(void *arg, const char *text, size_t len)
{
	(void)text;
	++*(long *)arg;
	return len ? 0 : -1;
}

/* The case's request, and its SQL and parameters as the library passes them. */
static int setup(struct bench *b)
{
	b->names[0] = MEASUREMENT;
	snprintf(b->p[0], sizeof b->p[0], "%lld", (long long)b->dev);
	b->params[0] = b->p[0];
	if (!strcmp(b->name, "latest") || !strncmp(b->name, "lastpoint", 9)) {
		b->sql = iot__query_sql(!strcmp(b->name, "latest") ? "latest" : "lastpoint");
		b->nparams = !strcmp(b->name, "latest") ? 1 : 3;
		if (b->nparams == 3)
			b->params[0] = NULL;
		return 0;
	}
	if (!strcmp(b->name, "aggregate")) {
		b->agg = (iot_aggregate_req){ .device_id = b->dev, .measurement = MEASUREMENT, .fn = IOT_AGG_MEAN,
		                              .window_us = 3600000000, .start_us = b->now - 30 * DAY_US,
		                              .end_us = b->now };
		static struct iot__agg_params ap;
		iot__query_aggregate_params(&b->agg, &ap);
		memcpy(b->params, ap.p, sizeof ap.p);
		b->nparams = IOT__AGG_NPARAMS;
		b->sql = iot__query_sql("aggregate");
		return 0;
	}
	bool day = !strcmp(b->name, "range24"), all = !strcmp(b->name, "records");
	if (!day && !all && strcmp(b->name, "range"))
		return -1;
	b->range = (iot_range_req){ .device_id = b->dev, .start_us = b->now - (day || all ? DAY_US : 2 * DAY_US),
	                            .end_us = b->now, .measurements = all ? NULL : b->names,
	                            .nmeasurements = all ? 0 : 1, .limit = day ? 10000 : all ? 1000 : 2000 };
	iot__query_ts_param(b->range.start_us, b->p[1], sizeof b->p[1]);
	iot__query_ts_param(b->range.end_us, b->p[2], sizeof b->p[2]);
	snprintf(b->p[3], sizeof b->p[3], "{\"%s\"}", MEASUREMENT);
	snprintf(b->p[4], sizeof b->p[4], "%ld", b->range.limit);
	const char *p[] = { b->p[0], b->p[1], b->p[2], all ? NULL : b->p[3], b->p[4], "f" };
	memcpy(b->params, p, sizeof p);
	b->nparams = 6;
	b->sql = iot__query_sql(all ? "range" : "range_one");
	return 0;
}

static long call(iot_db *db, struct bench *b, iot_error *err)
{
	long rows = 0;
	int rc;
	if (!strcmp(b->name, "latest")) {
		json_t *v = iot_query_latest(db, b->dev, err);
		rows = v ? (long)json_object_size(json_object_get(v, "measurements")) : -1;
		json_decref(v);
		return rows;
	}
	if (!strcmp(b->name, "lastpoint")) {
		iot_lastpoint_req r = { 0 };
		rc = iot_query_lastpoint_text(db, &r, count_text, &rows, err);
	} else if (!strcmp(b->name, "lastpoint_objects")) {
		iot_lastpoint_req r = { 0 };
		rc = iot_query_lastpoint(db, &r, count_row, &rows, err);
	} else if (!strcmp(b->name, "aggregate")) {
		rc = iot_query_aggregate(db, &b->agg, count_row, &rows, err);
	} else {
		rc = iot_query_range(db, &b->range, count_row, &rows, err);
	}
	return rc < 0 ? -1 : rows;
}

static int run(struct bench *b, int n)
{
	iot_error err;
	iot_config *cfg = iot_config_new("query_bench");
	iot_db *db = cfg && iot_config_setup(cfg, NULL, NULL, &err) == 0 ? iot_db_connect(cfg, &err) : NULL;
	if (!db)
		return iot_fatal_error(&err);
	long long *t = calloc((size_t)n, sizeof *t);
	long rows = 0;
	for (int i = 0; i < n && rows >= 0; i++) {
		long long t0 = iot_now_us();
		rows = call(db, b, &err);
		t[i] = iot_now_us() - t0;
	}
	if (rows < 0)
		return iot_fatal_error(&err);
	printf("rows %ld\n", rows);
	for (int i = 0; i < n; i++)
		printf("%lld\n", t[i]);
	free(t);
	iot_db_close(db);
	iot_config_free(cfg);
	return 0;
}

/* A psql literal: the text in single quotes, quotes doubled; NULL. */
static void literal(const char *s)
{
	if (!s) {
		fputs("NULL", stdout);
		return;
	}
	putchar('\'');
	for (; *s; s++) {
		if (*s == '\'')
			putchar('\'');
		putchar(*s);
	}
	putchar('\'');
}

static int psql_script(const struct bench *b, int n)
{
	/* Custom plans, as the library's unnamed PQexecParams statements get. */
	printf("SET plan_cache_mode = force_custom_plan;\nPREPARE q AS %s;\n\\o /dev/null\n\\timing on\n", b->sql);
	for (int i = 0; i < n; i++) {
		fputs("EXECUTE q(", stdout);
		for (int k = 0; k < b->nparams; k++) {
			if (k)
				putchar(',');
			literal(b->params[k]);
		}
		fputs(");\n", stdout);
	}
	return 0;
}

int main(int argc, char **argv)
{
	iot_cli_init("query_bench");
	if (argc != 6)
		return iot_usage_error("usage: query_bench run|psql CASE N DEVICE NOW");
	iot_error err;
	struct bench b = { .name = argv[2], .dev = atoll(argv[4]) };
	int n = atoi(argv[3]);
	if (n < 1 || iot_query_parse_time("NOW", argv[5], 0, &b.now, &err) < 0 || setup(&b) < 0)
		return iot_usage_error("bad N, NOW or CASE");
	int rc = !strcmp(argv[1], "run") ? run(&b, n) : !strcmp(argv[1], "psql") ? psql_script(&b, n) : 2;
	return iot_finish_stdout(rc);
}
