/* export.c — every point of a range streamed to stdout (lib/query's
 * export), with progress on a terminal. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/clock.h"
#include "cli/cli.h"
#include "iot-query.h"

/* "iot-query: 1234567 points" rewritten in place once a second while
 * stderr is a terminal (and not -q), and the count once more at the end. */
struct progress {
	bool on;
	long long next_ms;
};

static void progress_show(struct progress *p, long long points, bool last)
{
	long long now = iot_now_ms();
	if (!p->on || (!last && now < p->next_ms))
		return;
	fprintf(stderr, "\r%s: %lld points%s", iot_progname, points, last ? "\n" : "");
	fflush(stderr);
	p->next_ms = now + 1000;
}

int q_export(iot_registry *reg, const struct q_opts *o)
{
	iot_error err = { 0 };
	int64_t *ids = NULL;
	if (q_resolve_devices(reg, o, &ids, &err) < 0) {
		free(ids);
		return q_fail(&err);
	}
	iot_export_req req = { .start_us = o->since_us, .end_us = o->until_us, .device_ids = ids,
	                       .ndevices = o->ndevices,
	                       .format = o->format == IOT_FMT_CSV ? IOT_EXPORT_CSV : IOT_EXPORT_NDJSON };
	iot_export *x = iot_export_open(reg->db, &req, &err);
	free(ids);
	if (!x)
		return q_fail(&err);
	struct progress p = { .on = !iot_quiet && isatty(STDERR_FILENO), .next_ms = iot_now_ms() + 1000 };
	const char *text;
	size_t len;
	int more, rc = 0;
	while ((more = iot_export_next(x, &text, &len, &err)) > 0) {
		if (fwrite(text, 1, len, stdout) != len || fflush(stdout) == EOF) {
			rc = q_write_error();
			break;
		}
		progress_show(&p, iot_export_points(x), false);
	}
	progress_show(&p, iot_export_points(x), true);
	if (more < 0)
		rc = q_fail(&err);
	iot_export_close(x);
	return rc;
}
