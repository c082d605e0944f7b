/* iot-ingest — NDJSON telemetry from files or stdin into PostgreSQL. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "state.h"

static const char usage[] =
	"Usage: iot-ingest [OPTION]... [FILE]...\n"
	"Store NDJSON telemetry from FILEs (or standard input; '-' is standard input)\n"
	"in PostgreSQL, in batches. Each line is one record: an IoTFlow body\n"
	"({\"data\":{...},\"timestamp\":...} with device_id or api_key), an IoTFlow MQTT\n"
	"payload, a line of 'mosquitto_sub -F %j' (or %J), or ThingsBoard {\"ts\":..,\"values\":{..}}.\n"
	"Blank lines and lines starting with '#' are skipped.\n"
	"\n"
	"Options:\n"
	"  -b, --batch-size=N      points per COPY batch (default 50000)\n"
	"  -c, --config=FILE       read settings from FILE\n"
	"  -d, --db=CONNINFO       PostgreSQL conninfo string or URI (default: PG* variables)\n"
	"  -D, --device=ID         trusted input: records without a device are device ID's\n"
	"  -P, --device-payloads   take payloads as devices send them, leniently (value\n"
	"                          objects, Flask timestamp forms; as iot-mqtt-listen does)\n"
	"  -f, --input-format=SHAPE  the input's shape: auto (default), iotflow,\n"
	"                          mosquitto or thingsboard (--format is an old name)\n"
	"  -j, --connections=N     PostgreSQL connections writing batches in parallel\n"
	"                          (default 2)\n"
	"      --flush-ms=MS       longest a point waits for its batch (default 100)\n"
	"  -k, --require-key       every record must carry a valid api_key\n"
	"      --metrics-file=FILE write Prometheus metrics to FILE (textfile collector)\n"
	"  -n, --dry-run           validate only: decode and resolve, store nothing\n"
	"  -q, --quiet             no warnings or progress on stderr\n"
	"  -r, --reject-file=FILE  append each rejected line, after a '# SOURCE:LINE: reason' line\n"
	"  -s, --strict            stop at the first rejected line\n"
	"  -h, --help              show this help and exit\n"
	"  -V, --version           show the version and exit\n"
	"\n"
	"At the end one summary object is printed on stdout:\n"
	"  {\"read\":N,\"records\":N,\"points\":N,\"stored\":N,\"duplicates\":N,\"rejected\":N}\n"
	"\n"
	"Exit status: 0 all stored; 1 some lines rejected; 2 usage (also a bad connection\n"
	"string, a reject file that cannot be opened, or a metrics file that is not a\n"
	"regular file); 3 a FILE could not be opened; 4 PostgreSQL refused the\n"
	"credentials; 5 database unavailable after retries; 6 internal error;\n"
	"128+N stopped by signal N (SIGINT 130, SIGTERM 143) before the end of the\n"
	"input, or before all of it was stored. See iot-ingest(1).\n";

static const struct option longopts[] = {
	{ "batch-size",   required_argument, NULL, 'b' },
	{ "config",       required_argument, NULL, 'c' },
	{ "connections",  required_argument, NULL, 'j' },
	{ "db",           required_argument, NULL, 'd' },
	{ "device",       required_argument, NULL, 'D' },
	{ "device-payloads", no_argument,    NULL, 'P' },
	{ "dry-run",      no_argument,       NULL, 'n' },
	{ "flush-ms",     required_argument, NULL, 'F' },
	{ "format",       required_argument, NULL, 'f' }, /* the old name of --input-format */
	{ "help",         no_argument,       NULL, 'h' },
	{ "input-format", required_argument, NULL, 'f' },
	{ "metrics-file", required_argument, NULL, 'M' },
	{ "quiet",        no_argument,       NULL, 'q' },
	{ "reject-file",  required_argument, NULL, 'r' },
	{ "require-key",  no_argument,       NULL, 'k' },
	{ "strict",       no_argument,       NULL, 's' },
	{ "version",      no_argument,       NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

static int parse_format(const char *s, enum iot_input_format *f)
{
	static const struct { const char *name; enum iot_input_format f; } names[] = {
		{ "auto", IOT_FORMAT_AUTO }, { "iotflow", IOT_FORMAT_IOTFLOW },
		{ "mosquitto", IOT_FORMAT_MOSQUITTO }, { "thingsboard", IOT_FORMAT_THINGSBOARD },
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (!strcmp(s, names[i].name)) {
			*f = names[i].f;
			return 0;
		}
	return -1;
}

static int parse_args(int argc, char **argv, struct ingest *g, const char **config, const char **db, int *done)
{
	int c;
	long v;
	static const char shortopts[] = "b:c:d:D:f:hj:knPqr:sV";
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (iot_parse_long(optarg, 1, 100000, &v) < 0)
				return iot_usage_error("invalid --batch-size '%s' (1..100000)", optarg);
			g->wo.batch_size = (size_t)v;
			break;
		case 'c': *config = optarg; break;
		case 'd': *db = optarg; break;
		case 'D':
			if (iot_parse_long(optarg, 1, INT32_MAX, &v) < 0)
				return iot_usage_error("invalid --device '%s' (a device id)", optarg);
			g->res.trusted_device = v;
			break;
		case 'f':
			if (parse_format(optarg, &g->dec.format) < 0)
				return iot_usage_error("invalid --input-format '%s' (auto, iotflow, mosquitto, thingsboard)", optarg);
			break;
		case 'F':
			if (iot_parse_long(optarg, 1, 60000, &v) < 0)
				return iot_usage_error("invalid --flush-ms '%s' (1..60000)", optarg);
			g->wo.flush_ms = (int)v;
			break;
		case 'h': *done = 1; return iot_print_help(usage);
		case 'j':
			if (iot_parse_long(optarg, 1, 16, &v) < 0)
				return iot_usage_error("invalid --connections '%s' (1..16)", optarg);
			g->wo.connections = (int)v;
			break;
		case 'k': g->res.require_key = true; break;
		case 'M': g->metrics_path = optarg; break;
		case 'n': g->dry_run = true; break;
		case 'P': g->dec.device = true; break;
		case 'q': iot_quiet = true; break;
		case 'r': g->reject_path = optarg; break;
		case 's': g->strict = true; break;
		case 'V': *done = 1; return iot_print_version();
		default: return iot_getopt_error(argc, argv, shortopts, longopts);
		}
	}
	return 0;
}

/* Rejected lines are kept as read, api_key included: the file is created
 * readable by its owner only, like the input it comes from should be. */
static FILE *open_reject_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return NULL;
	FILE *f = fdopen(fd, "a");
	if (!f)
		close(fd);
	return f;
}

static void on_signal(int sig);
static struct ingest *signal_target;

/* Stop reading, and let nothing wait on retries from here on (the
 * database's and the writer's loops watch the same flag). A lock-free
 * atomic store is safe in a handler. */
static void on_signal(int sig)
{
	signal_target->signo = sig;
	atomic_store(&signal_target->stop, true);
}

static void install_signals(struct ingest *g)
{
	signal_target = g;
	struct sigaction sa = { 0 };
	sa.sa_handler = on_signal; /* no SA_RESTART: a blocked read returns EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void init_metric(iot_metric *m, const char *name, const char *help)
{
	m->name = name;
	m->help = help;
	m->type = IOT_COUNTER;
}

static int open_backends(struct ingest *g)
{
	iot_error err;
	if (!(g->db = iot_db_connect(g->cfg, &err)))
		return iot_fatal_error(&err);
	if (!(g->cache = iot_cache_connect(g->cfg, &err)))
		return iot_fatal_error(&err);
	if (!(g->auth = iot_auth_new(g->cfg, g->db, g->cache, &err)))
		return iot_fatal_error(&err);
	if (g->dry_run)
		return 0;
	g->wo.use_cache = true;
	if (!(g->w = iot_writer_new(g->cfg, &g->wo, &err)))
		return iot_fatal_error(&err);
	return 0;
}

static int close_backends(struct ingest *g, int rc)
{
	iot_error err;
	if (g->w && iot_writer_close(g->w, &err) < 0 && rc == 0)
		rc = iot_fatal_error(&err);
	if (g->auth && iot_auth_flush_usage(g->auth, &err) < 0)
		iot_warn("%s", err.msg);
	const char *warning = g->cache ? iot_cache_take_warning(g->cache) : NULL;
	if (warning)
		iot_warn("%s", warning);
	iot_auth_free(g->auth);
	iot_cache_free(g->cache);
	iot_db_close(g->db);
	return rc;
}

int main(int argc, char **argv)
{
	iot_cli_init(argv[0]);
	struct ingest g = { 0 };
	iot_decode_opts_default(&g.dec);
	iot_writer_opts_default(&g.wo);
	/* Files and pipes favour throughput: each batch also upserts one latest
	 * and one hourly row per device and measurement, so bigger batches
	 * amortise those (measured: 0.84x of psql \copy at 20000, 1.12x at 50000). */
	g.wo.batch_size = 50000;
	pthread_mutex_init(&g.out_mu, NULL);
	pthread_cond_init(&g.tick_cv, NULL);
	init_metric(&g.lines, "iotflow_ingest_lines_total", "Input lines read.");
	init_metric(&g.rejected_lines, "iotflow_ingest_lines_rejected_total", "Input lines rejected.");
	init_metric(&g.records, "iotflow_ingest_records_total", "Records decoded (lines that are not blank or comments).");
	init_metric(&g.points, "iotflow_ingest_points_total", "Points accepted for storage.");
	const char *config = NULL, *db = NULL;
	int done = 0, rc = parse_args(argc, argv, &g, &config, &db, &done);
	g.cfg = iot_config_new(iot_progname);
	if (g.cfg) {
		iot_config_set_notice(g.cfg, report_notice, &g);
		iot_config_set_stop(g.cfg, &g.stop);
		install_signals(&g);
	}
	iot_error err;
	if (rc || done)
		goto out;
	if (g.metrics_path && iot_metrics_file_check(g.metrics_path, &err) < 0) {
		rc = iot_usage_error("invalid --metrics-file: %s", err.msg);
		goto out;
	}
	g.files = argv + optind;
	g.nfiles = argc - optind;
	if (iot_config_setup(g.cfg, config, db, &err) < 0) {
		rc = iot_fatal_error(&err);
		goto out;
	}
	g.dec.max_future_us = iot_config_get_long(g.cfg, "max_future") * 1000000LL;
	if (g.reject_path && !(g.reject = open_reject_file(g.reject_path))) {
		rc = iot_usage_error("unable to open --reject-file %s: %s", g.reject_path, strerror(errno));
		goto out;
	}
	g.progress = !iot_quiet && isatty(STDERR_FILENO);
	rc = open_backends(&g);
	if (rc == 0)
		rc = ingest_run(&g);
	rc = close_backends(&g, rc);
out:
	if (g.reject && fclose(g.reject) != 0 && !g.reject_failed) {
		iot_fatal("unable to write %s", g.reject_path);
		if (rc == 0 || rc == IOT_REJECTED)
			rc = IOT_INTERNAL;
	}
	iot_config_free(g.cfg);
	return iot_finish_stdout(rc);
}
