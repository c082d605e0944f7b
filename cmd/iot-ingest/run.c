/* run.c — iot-ingest's loop: read lines, decode, resolve the device, hand
 * the points to the batch writer; report every rejected line with its
 * source, line number and reason, and keep it in the reject file. */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "base/clock.h"
#include "base/json_util.h"
#include "base/line_reader.h"

#define LINE_BITS 48

static struct ingest *G; /* for the writer thread's callback */

static void write_metrics(struct ingest *g);

static const char *source_name(const struct ingest *g, size_t src)
{
	return g->nfiles ? g->files[src] : "stdin";
}

/* One rejected line: a warning, and into the reject file as a comment line
 * with the reason followed by the line itself, so it can be fixed and fed
 * back (iot-ingest skips lines starting with '#'). */
static void report_reject(struct ingest *g, size_t src, long lineno, const char *reason,
                          const char *raw, size_t rawlen)
{
	pthread_mutex_lock(&g->out_mu);
	if (g->progress)
		fputs("\r\033[K", stderr);
	iot_warn("%s:%ld: %s", source_name(g, src), lineno, reason);
	if (g->reject && !g->reject_failed) {
		fprintf(g->reject, "# %s:%ld: %s\n", source_name(g, src), lineno, reason);
		if (raw) {
			fwrite(raw, 1, rawlen, g->reject);
			fputc('\n', g->reject);
		}
		/* A rejected line that cannot be kept is lost: that is fatal. */
		if (fflush(g->reject) == EOF || ferror(g->reject)) {
			g->reject_failed = true;
			iot_fatal("unable to write %s: %s", g->reject_path, strerror(errno));
			g->stop = 1;
		}
	}
	pthread_mutex_unlock(&g->out_mu);
	if (g->strict)
		atomic_store(&g->strict_hit, true);
}

static void reject_line(struct ingest *g, size_t src, long lineno, const char *reason,
                        const char *raw, size_t rawlen)
{
	iot_metric_add(&g->rejected_lines, 1);
	report_reject(g, src, lineno, reason, raw, rawlen);
}

/* A point PostgreSQL refused, written back as a record that can be re-ingested. */
static char *point_record(const iot_point *p)
{
	char ts[40];
	iot_format_timestamp(p->ts_us, ts, sizeof ts);
	json_t *v;
	switch (p->type) {
	case IOT_VAL_NUMBER: v = json_real(p->num); break;
	case IOT_VAL_BOOL: v = json_boolean(p->boolean); break;
	case IOT_VAL_TEXT: v = json_string(p->text); break;
	default: v = json_loads(p->text, JSON_DECODE_ANY, NULL); break;
	}
	json_t *o = json_pack("{s:I,s:s,s:{s:o?},s:o?}", "device_id", (json_int_t)p->device_id,
	                      "timestamp", ts, "data", p->measurement, v,
	                      "metadata", p->metadata ? json_loads(p->metadata, 0, NULL) : NULL);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}

static void on_result(const iot_submit_result *r, void *arg)
{
	struct ingest *g = G;
	uintptr_t tag = (uintptr_t)arg;
	size_t src = tag >> LINE_BITS;
	long lineno = (long)(tag & (((uintptr_t)1 << LINE_BITS) - 1));
	if (r->status != IOT_OK)
		return; /* the writer failed: the main loop sees it at its next submit or at close */
	atomic_fetch_add(&g->stored, r->stored);
	atomic_fetch_add(&g->duplicates, r->duplicates);
	if (!r->rejected)
		return;
	/* The line counts once, however many of its points were refused. */
	iot_metric_add(&g->rejected_lines, 1);
	for (size_t i = 0; i < r->npoints; i++) {
		if (r->outcome[i] != IOT_POINT_REJECTED)
			continue;
		char reason[IOT_ERRMSG_MAX + 80];
		snprintf(reason, sizeof reason, "measurement %s: %s", r->points[i].measurement, r->reason[i]);
		char *rec = point_record(&r->points[i]);
		report_reject(g, src, lineno, reason, rec, rec ? strlen(rec) : 0);
		free(rec);
	}
}

static void progress(struct ingest *g, long long *last_ms, long long start_ms, bool final)
{
	long long now = iot_now_ms();
	if (!g->progress || (!final && now - *last_ms < 1000))
		return;
	*last_ms = now;
	double secs = (double)(now - start_ms) / 1000.0;
	uint64_t stored = atomic_load(&g->stored), dup = atomic_load(&g->duplicates);
	pthread_mutex_lock(&g->out_mu);
	fprintf(stderr, "\r\033[K%s: %" PRIu64 " lines, %" PRIu64 " stored, %" PRIu64 " duplicates, %" PRIu64
	        " rejected, %.0f points/s%s", iot_progname, iot_metric_get(&g->lines), stored, dup,
	        iot_metric_get(&g->rejected_lines), secs > 0 ? (double)(stored + dup) / secs : 0.0,
	        final ? "\n" : "");
	pthread_mutex_unlock(&g->out_mu);
}

/* Decode, resolve and submit one line. Returns 0, or an exit code to stop with. */
static int one_line(struct ingest *g, size_t src, long lineno, const char *line, size_t len)
{
	iot_record rec = { 0 };
	iot_error err = { 0 };
	int rc = 0;
	iot_metric_add(&g->records, 1);
	if (iot_record_decode(line, len, &g->dec, &rec, &err) < 0) {
		reject_line(g, src, lineno, err.msg, line, len);
	} else if (iot_record_resolve(g->auth, &rec, &g->res, NULL, &err) < 0) {
		if (err.status == IOT_UNAVAILABLE || err.status == IOT_INTERNAL)
			rc = iot_fatal_error(&err);
		else
			reject_line(g, src, lineno, err.msg, line, len);
	} else {
		iot_metric_add(&g->points, rec.npoints);
		if (g->dry_run) {
			atomic_fetch_add(&g->valid, rec.npoints);
		} else {
			uintptr_t tag = ((uintptr_t)src << LINE_BITS) | (uintptr_t)lineno;
			if (iot_writer_submit_cb(g->w, rec.points, rec.npoints, on_result, (void *)tag, &err) < 0)
				rc = iot_fatal_error(&err);
		}
	}
	iot_record_free(&rec);
	return rc;
}

static bool skip_line(const char *line, size_t len)
{
	size_t i = 0;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	return i == len || line[i] == '#';
}

/* Every 10 s while running, so an idle pipe's file does not go stale
 * (node_exporter reports its age). The counters are atomic. */
static void *metrics_main(void *arg)
{
	struct ingest *g = arg;
	pthread_mutex_lock(&g->out_mu);
	while (!g->metrics_stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 10;
		pthread_cond_timedwait(&g->metrics_cv, &g->out_mu, &ts);
		if (g->metrics_stop)
			break;
		pthread_mutex_unlock(&g->out_mu);
		write_metrics(g);
		pthread_mutex_lock(&g->out_mu);
	}
	pthread_mutex_unlock(&g->out_mu);
	return NULL;
}

static void write_metrics(struct ingest *g)
{
	if (!g->metrics_path)
		return;
	iot_metric *const *wm = NULL;
	size_t n = g->w ? iot_writer_metrics(g->w, &wm) : 0;
	iot_metric *all[32];
	size_t k = 0;
	all[k++] = &g->lines;
	all[k++] = &g->rejected_lines;
	all[k++] = &g->records;
	all[k++] = &g->points;
	for (size_t i = 0; i < n && k < 32; i++)
		all[k++] = wm[i];
	if (iot_metrics_write_file(g->metrics_path, all, k) < 0)
		iot_warn("unable to write metrics to %s: %s", g->metrics_path, strerror(errno));
}

static int read_source(struct ingest *g, size_t src, FILE *f, long long start_ms)
{
	iot_line_reader r;
	if (iot_line_reader_init(&r, f, g->dec.max_bytes) < 0) {
		iot_fatal("out of memory");
		return IOT_INTERNAL;
	}
	long long last_progress = iot_now_ms();
	int rc = 0;
	for (;;) {
		if (g->stop || atomic_load(&g->strict_hit))
			break;
		const char *line;
		size_t len;
		enum iot_line_status st = iot_line_read(&r, &line, &len);
		if (st == IOT_LINE_EOF)
			break;
		if (st == IOT_LINE_ERROR) {
			if (errno == EINTR && g->stop)
				break;
			if (errno == EINTR)
				continue;
			iot_fatal("unable to read %s: %s", source_name(g, src), strerror(errno));
			rc = IOT_INTERNAL;
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
		progress(g, &last_progress, start_ms, false);
	}
	iot_line_reader_free(&r);
	return rc;
}

static void print_summary(struct ingest *g)
{
	json_t *o = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}",
		"read", (json_int_t)iot_metric_get(&g->lines),
		"records", (json_int_t)iot_metric_get(&g->records),
		"points", (json_int_t)iot_metric_get(&g->points),
		"stored", (json_int_t)(g->dry_run ? atomic_load(&g->valid) : atomic_load(&g->stored)),
		"duplicates", (json_int_t)atomic_load(&g->duplicates),
		"rejected", (json_int_t)iot_metric_get(&g->rejected_lines));
	if (g->dry_run)
		json_object_set_new(o, "dry_run", json_true());
	iot_json_print(stdout, o);
	json_decref(o);
}

int ingest_run(struct ingest *g)
{
	G = g;
	long long start = iot_now_ms(), last = start;
	int rc = 0, open_failed = 0;
	pthread_t metrics_thread;
	bool metrics_running = g->metrics_path &&
	                       pthread_create(&metrics_thread, NULL, metrics_main, g) == 0;
	size_t nsrc = g->nfiles ? (size_t)g->nfiles : 1;
	for (size_t src = 0; src < nsrc && rc == 0; src++) {
		if (g->stop || atomic_load(&g->strict_hit))
			break;
		FILE *f = stdin;
		if (g->nfiles && strcmp(g->files[src], "-") && !(f = fopen(g->files[src], "r"))) {
			iot_fatal("unable to open %s: %s", g->files[src], strerror(errno));
			open_failed = 1;
			continue;
		}
		rc = read_source(g, src, f, start);
		if (f != stdin)
			fclose(f);
	}
	iot_error err;
	if (g->w && iot_writer_flush(g->w, &err) < 0 && rc == 0)
		rc = iot_fatal_error(&err);
	progress(g, &last, start, true);
	if (metrics_running) {
		pthread_mutex_lock(&g->out_mu);
		g->metrics_stop = true;
		pthread_cond_signal(&g->metrics_cv);
		pthread_mutex_unlock(&g->out_mu);
		pthread_join(metrics_thread, NULL);
	}
	write_metrics(g);
	print_summary(g);
	if (rc)
		return rc;
	if (g->reject_failed)
		return IOT_INTERNAL;
	if (open_failed)
		return IOT_NOT_FOUND;
	return iot_metric_get(&g->rejected_lines) ? IOT_REJECTED : 0;
}
