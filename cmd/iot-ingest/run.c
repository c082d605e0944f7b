/* run.c — iot-ingest's loop: read the lines of each source and put each
 * through the ingest pipeline (lib/telemetry/ingest.h); report every
 * rejected line with its source, line number and reason. */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/line_reader.h"
#include "cli/cli.h"

static void reject_line(struct ingest *g, const struct source *src, long lineno, const char *reason,
                        const char *raw, size_t rawlen)
{
	iot_metric_add(&g->rejected_lines, 1);
	report_reject(g, src, lineno, reason, raw, rawlen);
}

/* The outcome of one line's points, on a writer thread once their batch
 * has committed. ctx is the line's source, tag its line number. */
static void on_result(const iot_submit_result *r, void *ctx, uint64_t tag)
{
	const struct source *src = ctx;
	struct ingest *g = src->g;
	if (r->status != IOT_OK)
		return; /* the writer failed: the main loop sees it at its next submit or at close */
	atomic_fetch_add(&g->stored, r->stored);
	atomic_fetch_add(&g->duplicates, r->duplicates);
	if (!r->rejected)
		return;
	atomic_fetch_add(&g->refused_points, r->rejected);
	/* The line counts once, however many of its points were refused. */
	iot_metric_add(&g->rejected_lines, 1);
	for (size_t i = 0; i < r->npoints; i++) {
		if (r->outcome[i] != IOT_POINT_REJECTED)
			continue;
		char reason[IOT_ERRMSG_MAX + 80];
		snprintf(reason, sizeof reason, "measurement %s: %s", r->points[i].measurement, r->reason[i]);
		char *rec = iot_point_to_json(&r->points[i]);
		report_reject(g, src, (long)tag, reason, rec, rec ? strlen(rec) : 0);
		free(rec);
	}
}

struct line_ref {
	struct ingest *g;
	const struct source *src;
	long lineno;
};

/* --device-payloads: what leniency accepted (a timestamp replaced by the
 * arrival time), said as a warning about the line. */
static void on_note(void *arg, const char *note)
{
	const struct line_ref *r = arg;
	report_warning(r->g, "%s:%ld: %s", r->src->shown, r->lineno, note);
}

/* A backend failure after a signal is the signal's doing: the writer's
 * statements were cancelled, every retry cut short. It is not told as a
 * fatal error nor made exit 5 (the database is not unavailable): the
 * warnings say what was not stored and the exit status is the signal's.
 * Any other failure is fatal, with its own status. */
static int stopped_failure(struct ingest *g, const iot_error *err)
{
	if (g->signo && err->status == IOT_UNAVAILABLE)
		return 0;
	return iot_fatal_error(err);
}

/* One line through the pipeline. Returns 0, or an exit code to stop with. */
static int one_line(struct ingest *g, const struct source *src, long lineno, const char *line, size_t len)
{
	struct line_ref ref = { g, src, lineno };
	const iot_ingest in = { .decode = &g->dec, .auth = g->auth, .writer = g->dry_run ? NULL : g->w,
	                        .note = on_note, .note_arg = &ref };
	iot_error err = { 0 };
	size_t n = 0;
	iot_metric_add(&g->records, 1);
	switch (iot_ingest_record(&in, line, len, &g->res, on_result, (void *)src, (uint64_t)lineno, &n, &err)) {
	case IOT_INGEST_REFUSED:
		reject_line(g, src, lineno, err.msg, line, len);
		return 0;
	case IOT_INGEST_FAILED:
		return stopped_failure(g, &err);
	case IOT_INGEST_SUBMITTED:
		break;
	}
	iot_metric_add(&g->points, n);
	if (g->dry_run)
		atomic_fetch_add(&g->valid, n);
	return 0;
}

static bool skip_line(const char *line, size_t len)
{
	size_t i = 0;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	return i == len || line[i] == '#';
}

static bool stopping(struct ingest *g)
{
	return atomic_load(&g->stop) || atomic_load(&g->strict_hit);
}

/* Sets *cut when it stopped before the end of the source. */
static int read_source(struct ingest *g, const struct source *src, FILE *f, bool *cut)
{
	iot_line_reader r;
	if (iot_line_reader_init(&r, f, g->dec.max_bytes) < 0) {
		iot_fatal("out of memory");
		return IOT_INTERNAL;
	}
	int rc = 0;
	while (!(*cut = stopping(g))) {
		const char *line;
		size_t len;
		enum iot_line_status st = iot_line_read(&r, &line, &len);
		if (st == IOT_LINE_EOF)
			break;
		if (st == IOT_LINE_ERROR) {
			if (errno == EINTR)
				continue; /* a signal: the loop condition says whether to stop */
			/* The rest of this source is lost to us; the other sources are not. */
			report_warning(g, "unable to read %s after line %ld: %s", src->shown, r.lineno, strerror(errno));
			g->read_failed = true;
			break;
		}
		iot_metric_add(&g->lines, 1);
		if (st == IOT_LINE_TOO_LONG) {
			char why[128];
			snprintf(why, sizeof why, "line is %zu bytes, over the limit of %zu", len, g->dec.max_bytes);
			reject_line(g, src, r.lineno, why, NULL, 0);
		} else if (!skip_line(line, len) && (rc = one_line(g, src, r.lineno, line, len)) != 0) {
			break;
		}
	}
	iot_line_reader_free(&r);
	return rc;
}

/* stdin, or the FILE opened for reading; NULL (warned, counted) when it
 * cannot be read: missing, unreadable, a directory. */
static FILE *open_source(struct ingest *g, const struct source *src)
{
	if (!src->path)
		return stdin;
	int fd = open(src->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	const char *why = NULL;
	if (fd < 0)
		why = strerror(errno);
	else if (fstat(fd, &st) < 0)
		why = strerror(errno);
	else if (S_ISDIR(st.st_mode))
		why = "is a directory";
	FILE *f = why ? NULL : fdopen(fd, "r");
	if (!f) {
		report_warning(g, "unable to open %s: %s", src->shown, why ? why : strerror(errno));
		if (fd >= 0)
			close(fd);
		g->open_failed = true;
	}
	return f;
}

static int read_all(struct ingest *g, struct source *srcs, size_t nsrc)
{
	int rc = 0;
	bool cut = false;
	size_t i = 0;
	for (; i < nsrc && rc == 0 && !cut && !stopping(g); i++) {
		FILE *f = open_source(g, &srcs[i]);
		if (!f)
			continue;
		rc = read_source(g, &srcs[i], f, &cut);
		if (f != stdin)
			fclose(f);
	}
	g->input_done = rc == 0 && !cut && i == nsrc;
	return rc;
}

static uint64_t unstored(struct ingest *g)
{
	if (g->dry_run)
		return 0;
	uint64_t points = iot_metric_get(&g->points);
	uint64_t done = atomic_load(&g->stored) + atomic_load(&g->duplicates) + atomic_load(&g->refused_points);
	return points > done ? points - done : 0;
}

/* After a signal or a failure: what was read and not stored, said plainly. */
static void report_unstored(struct ingest *g)
{
	uint64_t n = unstored(g);
	if (n)
		iot_warn("%" PRIu64 " of the %" PRIu64 " points read were not stored: feed the same input again "
		         "(what is stored already is skipped)", n, iot_metric_get(&g->points));
}

/* Whether a signal stopped anything: the reading, or the storing of what
 * was read. One that came after the end of the input, once everything
 * was stored, stopped nothing. */
static bool report_stopped(struct ingest *g)
{
	if (!g->signo || (g->input_done && unstored(g) == 0))
		return false;
	if (g->input_done)
		iot_warn("stopped by %s after the end of the input (%" PRIu64 " lines), before all of it was stored",
		         strsignal(g->signo), iot_metric_get(&g->lines));
	else
		iot_warn("stopped by %s after %" PRIu64 " lines: the rest of the input was not read",
		         strsignal(g->signo), iot_metric_get(&g->lines));
	report_unstored(g);
	return true;
}

int ingest_run(struct ingest *g)
{
	g->start_ms = iot_now_ms();
	size_t nsrc = g->nfiles ? (size_t)g->nfiles : 1;
	struct source *srcs = calloc(nsrc, sizeof *srcs);
	if (!srcs) {
		iot_fatal("out of memory");
		return IOT_INTERNAL;
	}
	int rc = 0;
	for (size_t i = 0; i < nsrc && rc == 0; i++) {
		srcs[i].g = g;
		srcs[i].path = g->nfiles && strcmp(g->files[i], "-") ? g->files[i] : NULL;
		if (!(srcs[i].shown = source_shown(srcs[i].path))) {
			iot_fatal("out of memory");
			rc = IOT_INTERNAL;
		}
	}
	pthread_t ticker;
	bool ticking = rc == 0 && ticker_start(g, &ticker) == 0;
	if (rc == 0)
		rc = read_all(g, srcs, nsrc);
	iot_error err;
	/* The callbacks refer to the sources: every outcome is in before they go. */
	if (g->w && iot_writer_flush(g->w, &err) < 0 && rc == 0)
		rc = stopped_failure(g, &err);
	if (ticking)
		ticker_stop(g, ticker);
	report_final(g);
	bool stopped = report_stopped(g);
	if (!stopped && (rc == IOT_UNAVAILABLE || rc == IOT_INTERNAL))
		report_unstored(g);
	print_summary(g);
	for (size_t i = 0; i < nsrc; i++)
		free(srcs[i].shown);
	free(srcs);
	if (rc)
		return rc;
	if (stopped)
		return 128 + g->signo;
	if (g->reject_failed || g->read_failed)
		return IOT_INTERNAL;
	if (g->open_failed)
		return IOT_NOT_FOUND;
	return iot_metric_get(&g->rejected_lines) ? IOT_REJECTED : 0;
}
