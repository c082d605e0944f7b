/* iot-mqtt-listen — devices' MQTT telemetry and status into IoTFlow. */
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/listen_socket.h"
#include "mqtt/listen.h"

static const char usage[] =
	"Usage: iot-mqtt-listen [OPTION]...\n"
	"Subscribe to the broker (the mqtt_url setting, IOTFLOW_MQTT_URL) and store\n"
	"devices' telemetry at least once: a QoS 1 message is acknowledged only after\n"
	"its points are committed. Topics: iotflow/devices/ID/telemetry[/...] (stored),\n"
	"iotflow/devices/ID/status/online|heartbeat (last_seen), .../status/offline\n"
	"(offline, never inactive), .../commands/ack (moves the command forward).\n"
	"\n"
	"Options:\n"
	"  -c, --config=FILE          read settings from FILE\n"
	"  -d, --db=CONNINFO          PostgreSQL conninfo string or URI (default: PG* variables)\n"
	"  -g, --share=GROUP          subscribe in the shared-subscription group GROUP:\n"
	"                             sessions and instances with the same GROUP split\n"
	"                             the messages (default: plain subscriptions)\n"
	"  -i, --client-id=ID         sessions are ID-1..ID-N; keep it across restarts\n"
	"                             (default iot-mqtt-listen-HOSTNAME)\n"
	"  -k, --keepalive=SECONDS    MQTT keepalive (default 60)\n"
	"  -m, --metrics-listen=[ADDR:]PORT  serve Prometheus metrics at /metrics\n"
	"  -n, --sessions=N           MQTT sessions in this process (default 1; more\n"
	"                             need --share)\n"
	"  -p, --print                write the points as NDJSON on stdout (read back by\n"
	"                             iot-ingest) instead of storing them\n"
	"  -q, --quiet                no warnings or notices on stderr\n"
	"  -r, --receive-max=N        unacknowledged messages per session (default 1000)\n"
	"  -s, --session-expiry=DURATION  how long the broker keeps our sessions while we\n"
	"                             are away (default 7d)\n"
	"  -t, --trust-broker         the broker authenticates devices (IoTFlow plugin):\n"
	"                             payloads need no api_key (one given is still checked)\n"
	"  -h, --help                 show this help and exit\n"
	"  -V, --version              show the version and exit\n"
	"\n"
	"Without --trust-broker every telemetry, online and heartbeat payload must carry\n"
	"the api_key of the topic's device.\n"
	"\n"
	"A broker that is away or refuses the login (its reason is logged) is tried\n"
	"again with backoff, 0.25 s doubling to 30 s, for as long as it takes.\n"
	"\n"
	"SIGHUP is ignored (settings are read at start only).\n"
	"\n"
	"Exit status: 0 stopped by SIGTERM or SIGINT (everything read was committed);\n"
	"2 usage; 4 PostgreSQL refused the credentials; 5 PostgreSQL unavailable for\n"
	"db_retry_time (nothing unacknowledged is lost); 6 internal error (also: the\n"
	"--print output failed). See iot-mqtt-listen(8).\n";

static const struct option longopts[] = {
	{ "client-id",      required_argument, NULL, 'i' },
	{ "config",         required_argument, NULL, 'c' },
	{ "db",             required_argument, NULL, 'd' },
	{ "help",           no_argument,       NULL, 'h' },
	{ "keepalive",      required_argument, NULL, 'k' },
	{ "metrics-listen", required_argument, NULL, 'm' },
	{ "print",          no_argument,       NULL, 'p' },
	{ "quiet",          no_argument,       NULL, 'q' },
	{ "receive-max",    required_argument, NULL, 'r' },
	{ "session-expiry", required_argument, NULL, 's' },
	{ "sessions",       required_argument, NULL, 'n' },
	{ "share",          required_argument, NULL, 'g' },
	{ "trust-broker",   no_argument,       NULL, 't' },
	{ "version",        no_argument,       NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

struct args {
	iot_listen_opts o;
	const char *config, *db, *metrics;
};

static int parse_args(int argc, char **argv, struct args *a, int *done)
{
	static const char shortopts[] = "c:d:g:hi:k:m:n:pqr:s:tV";
	int c;
	long v;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case 'c': a->config = optarg; break;
		case 'd': a->db = optarg; break;
		case 'g': a->o.group = optarg; break;
		case 'h': *done = 1; return iot_print_help(usage);
		case 'i': a->o.client_id = optarg; break;
		case 'k':
			if (iot_parse_long(optarg, 5, 65535, &v) < 0)
				return iot_usage_error("invalid --keepalive '%s' (5..65535 seconds)", optarg);
			a->o.keepalive = (int)v;
			break;
		case 'm': a->metrics = optarg; break;
		case 'n':
			if (iot_parse_long(optarg, 1, 64, &v) < 0)
				return iot_usage_error("invalid --sessions '%s' (1..64)", optarg);
			a->o.sessions = (int)v;
			break;
		case 'p': a->o.print = stdout; break;
		case 'q': iot_quiet = true; break;
		case 'r':
			if (iot_parse_long(optarg, 1, 65535, &v) < 0)
				return iot_usage_error("invalid --receive-max '%s' (1..65535)", optarg);
			a->o.receive_max = (int)v;
			break;
		case 's':
			if (iot_parse_duration(optarg, &v) < 0 || v > 0xFFFFFFFFL)
				return iot_usage_error("invalid --session-expiry '%s' (a duration: 3600, 90m, 7d)", optarg);
			a->o.session_expiry = v;
			break;
		case 't': a->o.trust_broker = true; break;
		case 'V': *done = 1; return iot_print_version();
		default: return iot_getopt_error(argc, argv, shortopts, longopts);
		}
	}
	if (optind < argc)
		return iot_usage_error("unexpected argument '%s'", argv[optind]);
	if (a->o.sessions > 1 && !a->o.group)
		return iot_usage_error("several sessions need a shared-subscription group (--share)");
	return 0;
}

static atomic_bool stop, hangup;

/* SIGHUP's default action would end the process without draining:
 * settings are read only at start, so it is only said that it changes
 * nothing. */
static void on_signal(int sig)
{
	atomic_store(sig == SIGHUP ? &hangup : &stop, true);
}

/* Readiness as soon as the sessions run: PostgreSQL is connected and the
 * MQTT clients are started. A broker that is away is waited for in the
 * background and never ends the program, so readiness cannot wait for it
 * (the start would time out); STATUS= says how many sessions are
 * subscribed, told again whenever that changes. The watchdog while
 * running. */
struct notify_state {
	bool ready;
	int sessions, told;  /* told: subscribed sessions last told (-1: none yet) */
};

static void on_tick(void *arg, int subscribed)
{
	struct notify_state *n = arg;
	if (atomic_exchange(&hangup, false))
		iot_warn("SIGHUP ignored: settings are read only at start (restart to apply them)");
	if (subscribed != n->told) {
		const char *ready = n->ready ? "" : "READY=1\n";
		if (subscribed == 0)
			sd_notifyf(0, "%sSTATUS=waiting for the broker: not subscribed", ready);
		else if (subscribed < n->sessions)
			sd_notifyf(0, "%sSTATUS=subscribed: %d of %d sessions", ready, subscribed, n->sessions);
		else
			sd_notifyf(0, "%sSTATUS=subscribed", ready);
		n->ready = true;
		n->told = subscribed;
	}
	sd_notify(0, "WATCHDOG=1");
}

int main(int argc, char **argv)
{
	iot_cli_init(argv[0]);
	struct args a = { 0 };
	iot_listen_opts_default(&a.o);
	int done = 0, rc = parse_args(argc, argv, &a, &done);
	if (rc || done)
		return iot_finish_stdout(rc);
	iot_config *cfg = iot_config_new(iot_progname);
	iot_listener *l = NULL;
	iot_error err;
	int metrics_fd = -1;
	if (iot_config_setup(cfg, a.config, a.db, &err) < 0) {
		rc = iot_fatal_error(&err);
		goto out;
	}
	iot_config_set_notice(cfg, iot_cli_notice, NULL);
	iot_config_set_stop(cfg, &stop);
	struct sigaction sa = { 0 };
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	a.o.decode.max_future_us = iot_config_get_long(cfg, "max_future") * 1000000LL;
	if (a.metrics && (rc = iot_listen_socket("metrics-listen", a.metrics, &metrics_fd)) != 0)
		goto out;
	if (!(l = iot_listener_new(cfg, &a.o, &err))) {
		rc = iot_fatal_error(&err);
		goto out;
	}
	if (metrics_fd >= 0) {
		if (iot_listener_serve_metrics(l, metrics_fd, &err) < 0) {
			rc = iot_fatal_error(&err);
			goto out;
		}
		metrics_fd = -1;
	}
	struct notify_state notify = { .sessions = a.o.sessions, .told = -1 };
	if (iot_listener_run(l, on_tick, &notify, &err) < 0)
		rc = iot_fatal_error(&err);
	sd_notify(0, "STOPPING=1");
out:
	if (metrics_fd >= 0)
		close(metrics_fd);
	iot_listener_free(l);
	iot_config_free(cfg);
	return iot_finish_stdout(rc);
}
