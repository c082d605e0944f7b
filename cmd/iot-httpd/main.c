/* iot-httpd — the IoTFlow HTTP API: options, the three ways to start,
 * signals. The server itself is lib/http. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "http/http.h"
#include "sockets.h"

#ifndef IOT_WEBDIR
#define IOT_WEBDIR "/usr/local/share/iotflow/web"
#endif

static const char usage[] =
	"Usage: iot-httpd [OPTION]...\n"
	"Serve the IoTFlow HTTP API: devices post telemetry (POST /api/v1/telemetry),\n"
	"GET /health and GET /metrics tell how it goes; a browser opening / gets the\n"
	"web dashboard (sign in with a token of 'iot-user token create').\n"
	"\n"
	"It serves one of: the listening socket systemd passes (fd 3, socket\n"
	"activation), the one connection on standard input (--inetd), or a socket of\n"
	"its own (--listen; the default, on port 5000).\n"
	"\n"
	"Options:\n"
	"  -b, --batch-size=N       points per COPY batch (default 20000)\n"
	"  -c, --config=FILE        read settings from FILE\n"
	"      --commit-timeout=MS  longest a request waits for its commit before\n"
	"                           503 (default 5000)\n"
	"  -j, --connections=N      PostgreSQL connections writing batches (default 2)\n"
	"  -d, --db=CONNINFO        PostgreSQL conninfo string or URI (default: PG* variables)\n"
	"      --drain-timeout=S    on SIGTERM, longest wait for requests in progress\n"
	"                           (default 30)\n"
	"      --flush-ms=MS        longest a point waits for its batch to fill (default 0:\n"
	"                           a batch is what waits when a writer is free)\n"
	"  -i, --inetd              serve the connection on standard input, then exit\n"
	"  -l, --listen=[ADDR:]PORT listen on ADDR (default 0.0.0.0) and PORT;\n"
	"                           [ADDR]:PORT for IPv6\n"
	"      --max-body=BYTES     longest request body (default 1048576)\n"
	"      --max-connections=N  open connections at once (default 1024)\n"
	"      --max-points=N       points in one request (default 10000; 1000 a record)\n"
	"      --max-records=N      records in one batch request (default 1000)\n"
	"      --max-streams=N      event streams and exports at once (default 32)\n"
	"      --no-cache           do not use Redis\n"
	"  -q, --quiet              no warnings on stderr\n"
	"      --rate-limit=N/S     requests per device in S seconds (default 1200/60;\n"
	"                           0 switches the limit off)\n"
	"  -t, --threads=N          server threads (default 2)\n"
	"      --timeout=S          close connections idle for S seconds, or whose\n"
	"                           request's headers or body take longer (default 30)\n"
	"  -h, --help               show this help and exit\n"
	"  -V, --version            show the version and exit\n"
	"      --web-root=DIR       the dashboard's files (default " IOT_WEBDIR ");\n"
	"                           when they are missing only the API is served\n"
	"\n"
	"SIGHUP is ignored (settings are read at start only).\n"
	"\n"
	"Exit status: 0 stopped by SIGTERM or SIGINT after draining, or the --inetd\n"
	"connection ended; 2 usage (also an address that cannot be listened on);\n"
	"4 PostgreSQL refused the credentials; 5 database unavailable at start, or\n"
	"points (answered 503) still unstored at the end of a drain;\n"
	"6 internal error. See iot-httpd(8).\n";

enum {
	OPT_COMMIT = 256, OPT_DRAIN, OPT_FLUSH, OPT_MAX_BODY, OPT_MAX_CONN, OPT_MAX_POINTS,
	OPT_MAX_RECORDS, OPT_MAX_STREAMS, OPT_NO_CACHE, OPT_RATE, OPT_TIMEOUT, OPT_WEB_ROOT
};

static const struct option longopts[] = {
	{ "batch-size",      required_argument, NULL, 'b' },
	{ "commit-timeout",  required_argument, NULL, OPT_COMMIT },
	{ "config",          required_argument, NULL, 'c' },
	{ "connections",     required_argument, NULL, 'j' },
	{ "db",              required_argument, NULL, 'd' },
	{ "drain-timeout",   required_argument, NULL, OPT_DRAIN },
	{ "flush-ms",        required_argument, NULL, OPT_FLUSH },
	{ "help",            no_argument,       NULL, 'h' },
	{ "inetd",           no_argument,       NULL, 'i' },
	{ "listen",          required_argument, NULL, 'l' },
	{ "max-body",        required_argument, NULL, OPT_MAX_BODY },
	{ "max-connections", required_argument, NULL, OPT_MAX_CONN },
	{ "max-points",      required_argument, NULL, OPT_MAX_POINTS },
	{ "max-records",     required_argument, NULL, OPT_MAX_RECORDS },
	{ "max-streams",     required_argument, NULL, OPT_MAX_STREAMS },
	{ "no-cache",        no_argument,       NULL, OPT_NO_CACHE },
	{ "quiet",           no_argument,       NULL, 'q' },
	{ "rate-limit",      required_argument, NULL, OPT_RATE },
	{ "threads",         required_argument, NULL, 't' },
	{ "timeout",         required_argument, NULL, OPT_TIMEOUT },
	{ "version",         no_argument,       NULL, 'V' },
	{ "web-root",        required_argument, NULL, OPT_WEB_ROOT },
	{ NULL, 0, NULL, 0 }
};

struct options {
	iot_httpd_opts http;
	const char *config, *db, *listen;
	bool inetd;
	long drain_s;
};

static int number(const char *opt, const char *s, long min, long max, long *out)
{
	if (iot_parse_long(s, min, max, out) < 0)
		return iot_usage_error("invalid --%s '%s' (%ld..%ld)", opt, s, min, max);
	return 0;
}

static int rate_limit(const char *s, iot_httpd_opts *o)
{
	long n, w = 60;
	char buf[64];
	snprintf(buf, sizeof buf, "%s", s);
	char *slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (iot_parse_long(buf, 0, 1000000, &n) < 0 || (slash && iot_parse_long(slash + 1, 1, 86400, &w) < 0))
		return iot_usage_error("invalid --rate-limit '%s' (N or N/SECONDS, e.g. 1200/60)", s);
	o->rate_limit = (int)n;
	o->rate_window_s = (int)w;
	return 0;
}

static int parse_numeric(int c, struct options *o)
{
	iot_httpd_opts *h = &o->http;
	long v;
	int rc = 0;
	switch (c) {
	case 'b': if (!(rc = number("batch-size", optarg, 1, 100000, &v))) h->writer.batch_size = (size_t)v; break;
	case 'j': if (!(rc = number("connections", optarg, 1, 16, &v))) h->writer.connections = (int)v; break;
	case 't': if (!(rc = number("threads", optarg, 1, 64, &v))) h->threads = (int)v; break;
	case OPT_COMMIT: if (!(rc = number("commit-timeout", optarg, 100, 600000, &v))) h->commit_timeout_ms = (int)v; break;
	case OPT_DRAIN: rc = number("drain-timeout", optarg, 0, 3600, &o->drain_s); break;
	case OPT_FLUSH: if (!(rc = number("flush-ms", optarg, 0, 60000, &v))) h->writer.flush_ms = (int)v; break;
	case OPT_MAX_BODY: if (!(rc = number("max-body", optarg, 64, 64L << 20, &v))) h->max_body = (size_t)v; break;
	case OPT_MAX_CONN: if (!(rc = number("max-connections", optarg, 1, 100000, &v))) h->max_connections = (unsigned)v; break;
	case OPT_MAX_POINTS: if (!(rc = number("max-points", optarg, 1, 1000000, &v))) h->max_points = (size_t)v; break;
	case OPT_MAX_RECORDS: if (!(rc = number("max-records", optarg, 1, 1000000, &v))) h->max_records = (size_t)v; break;
	case OPT_MAX_STREAMS: if (!(rc = number("max-streams", optarg, 1, 10000, &v))) h->max_streams = (int)v; break;
	case OPT_TIMEOUT: if (!(rc = number("timeout", optarg, 1, 3600, &v))) h->connection_timeout_s = (unsigned)v; break;
	default: rc = iot_usage_error("invalid option");
	}
	return rc;
}

static int parse_args(int argc, char **argv, struct options *o, int *done)
{
	int c;
	while ((c = getopt_long(argc, argv, "b:c:d:hij:l:qt:V", longopts, NULL)) != -1) {
		int rc = 0;
		switch (c) {
		case 'c': o->config = optarg; break;
		case 'd': o->db = optarg; break;
		case 'h': *done = 1; return iot_print_help(usage);
		case 'i': o->inetd = true; break;
		case 'l': o->listen = optarg; break;
		case 'q': iot_quiet = true; break;
		case 'V': *done = 1; return iot_print_version();
		case OPT_NO_CACHE: o->http.cache = false; break;
		case OPT_RATE: rc = rate_limit(optarg, &o->http); break;
		case OPT_WEB_ROOT: o->http.web_root = optarg; break;
		default: rc = parse_numeric(c, o);
		}
		if (rc)
			return rc;
	}
	if (optind < argc)
		return iot_usage_error("unexpected argument '%s'", argv[optind]);
	if (o->inetd && o->listen)
		return iot_usage_error("--inetd and --listen cannot be used together");
	return 0;
}

/* SIGTERM and SIGINT are waited for here; every thread has them blocked.
 * So has it SIGHUP, whose default action would end the process at once,
 * cutting the requests in progress: settings are read only at start, so
 * there is nothing to reload, and it is only said so. */
static int wait_for_end(iot_httpd *h, bool inetd, sigset_t *set)
{
	for (;;) {
		struct timespec ts = { 0, 200 * 1000000L };
		int sig = sigtimedwait(set, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			return sig;
		if (sig == SIGHUP)
			iot_warn("SIGHUP ignored: settings are read only at start (restart to apply them)");
		if (inetd && iot_httpd_done(h))
			return 0;
	}
}

static int serve(const struct options *o, iot_config *cfg, atomic_bool *stop, sigset_t *set)
{
	struct endpoint ep;
	int rc = endpoint_open(o->inetd, o->listen, &ep);
	if (rc)
		return rc;
	iot_httpd_opts ho = o->http;
	if (ep.connected) {
		/* One connection: one thread and one writer connection are plenty
		 * (four PostgreSQL sessions per inetd connection would not be). */
		ho.threads = 1;
		ho.writer.connections = 1;
	}
	iot_error err;
	iot_httpd *h = iot_httpd_new(cfg, &ho, &err);
	if (!h) {
		endpoint_close(&ep);
		return iot_fatal_error(&err);
	}
	int started = ep.connected ? iot_httpd_serve_connection(h, ep.fd, &err)
	                           : iot_httpd_serve_listener(h, ep.fd, &err);
	if (started < 0) {
		rc = iot_fatal_error(&err);
	} else {
		int sig = wait_for_end(h, ep.connected, set);
		int cut = iot_httpd_drain(h, (int)o->drain_s * 1000);
		if (cut > 0)
			iot_warn("%d requests were still in progress after %ld s and were cut short", cut, o->drain_s);
		if (sig)
			iot_warn("stopped by %s", strsignal(sig));
	}
	/* From here on nothing waits for PostgreSQL to come back. */
	atomic_store(stop, true);
	if (iot_httpd_free(h, &err) < 0 && rc == 0) {
		iot_warn("the last batches were not stored: %s", err.msg);
		rc = err.status ? (int)err.status : IOT_INTERNAL;
	}
	return rc;
}

int main(int argc, char **argv)
{
	iot_cli_init(argv[0]);
	signal(SIGPIPE, SIG_IGN);
	/* Blocked before any thread starts, so that every thread inherits it
	 * and only sigtimedwait() below sees SIGTERM, SIGINT and SIGHUP. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	struct options o = { .drain_s = 30 };
	iot_httpd_opts_default(&o.http);
	o.http.web_root = IOT_WEBDIR;
	int done = 0, rc = parse_args(argc, argv, &o, &done);
	if (rc || done)
		return iot_finish_stdout(rc);
	static atomic_bool stop;
	iot_config *cfg = iot_config_new(iot_progname);
	if (!cfg) {
		iot_fatal("out of memory");
		return IOT_INTERNAL;
	}
	iot_config_set_notice(cfg, iot_cli_notice, NULL);
	iot_config_set_stop(cfg, &stop);
	iot_error err;
	if (iot_config_setup(cfg, o.config, o.db, &err) < 0)
		rc = iot_fatal_error(&err);
	else
		rc = serve(&o, cfg, &stop, &set);
	iot_config_free(cfg);
	return rc;
}
