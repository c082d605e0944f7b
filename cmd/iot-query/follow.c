/* follow.c — points on stdout as they are committed, until a signal. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "iot-query.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* SIGINT, SIGTERM, SIGHUP end the follow (exit 0); no SA_RESTART, so the
 * wait for a notification returns at once. */
static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

int q_follow(iot_registry *reg, const struct q_opts *o)
{
	iot_error err = { 0 };
	int64_t *ids = NULL;
	if (q_resolve_devices(reg, o, &ids, &err) < 0) {
		free(ids);
		return q_fail(&err);
	}
	iot_follow_req req = { .device_ids = ids, .ndevices = o->ndevices,
	                       .measurements = o->measurements, .nmeasurements = o->nmeasurements,
	                       .format = o->format == IOT_FMT_CSV ? IOT_EXPORT_CSV : IOT_EXPORT_NDJSON };
	install_signals();
	iot_follow *f = iot_follow_open(reg->db, &req, &err);
	free(ids);
	if (!f)
		return q_fail(&err);
	int rc = 0, more = 0;
	const char *text;
	size_t len;
	while (!stop && (more = iot_follow_next(f, 1000, &text, &len, &err)) >= 0) {
		if (more && (fwrite(text, 1, len, stdout) != len || fflush(stdout) == EOF)) {
			rc = q_write_error();
			break;
		}
	}
	if (more < 0 && !stop)
		rc = q_fail(&err);
	iot_follow_close(f);
	return rc;
}
