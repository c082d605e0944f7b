/* report.c — what iot-ingest tells people while it runs: rejected lines
 * (stderr and the reject file), notices, the progress line, the metrics
 * file and the closing summary. */
#include "state.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/json_util.h"
#include "cli/cli.h"

/* A file name goes into one-line messages and into comment lines of the
 * reject file: a newline in it must not start a line of its own there
 * (fed back, it would be read as a record). Control bytes and the
 * backslash are written as escapes. */
char *source_shown(const char *path)
{
	if (!path)
		return strdup("stdin");
	size_t n = strlen(path);
	char *out = malloc(n * 4 + 1), *o = out;
	if (!out)
		return NULL;
	for (const unsigned char *c = (const unsigned char *)path; *c; c++) {
		if (*c == '\\') {
			*o++ = '\\';
			*o++ = '\\';
		} else if (*c == '\n') {
			*o++ = '\\';
			*o++ = 'n';
		} else if (*c < 0x20 || *c == 0x7f) {
			o += sprintf(o, "\\x%02x", *c);
		} else {
			*o++ = (char)*c;
		}
	}
	*o = '\0';
	return out;
}

/* Called with out_mu held. */
static void clear_progress(struct ingest *g)
{
	if (g->progress_shown) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		g->progress_shown = false;
	}
}

void report_reject(struct ingest *g, const struct source *src, long lineno, const char *reason,
                   const char *raw, size_t rawlen)
{
	pthread_mutex_lock(&g->out_mu);
	clear_progress(g);
	iot_warn("%s:%ld: %s", src->shown, lineno, reason);
	if (g->reject && !g->reject_failed) {
		fprintf(g->reject, "# %s:%ld: %s\n", src->shown, lineno, reason);
		if (raw) {
			fwrite(raw, 1, rawlen, g->reject);
			fputc('\n', g->reject);
		}
		/* A rejected line that cannot be kept is lost: that is fatal. */
		if (fflush(g->reject) == EOF || ferror(g->reject)) {
			g->reject_failed = true;
			iot_fatal("unable to write %s: %s", g->reject_path, strerror(errno));
			atomic_store(&g->stop, true);
		}
	}
	pthread_mutex_unlock(&g->out_mu);
	if (g->strict)
		atomic_store(&g->strict_hit, true);
}

void report_warning(struct ingest *g, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&g->out_mu);
	clear_progress(g);
	iot_warn("%s", msg);
	pthread_mutex_unlock(&g->out_mu);
}

void report_notice(void *arg, enum iot_notice_level level, const char *msg)
{
	struct ingest *g = arg;
	long long now = iot_now_ms();
	pthread_mutex_lock(&g->out_mu);
	/* Every writer connection meets the same outage: say it once. */
	bool say = level == IOT_NOTICE_INFO || !g->notice_ms || now - g->notice_ms >= 5000;
	if (say) {
		if (level != IOT_NOTICE_INFO)
			g->notice_ms = now;
		clear_progress(g);
		iot_cli_notice(NULL, level, msg);
	}
	pthread_mutex_unlock(&g->out_mu);
}

/* Only while we are the terminal's foreground job: a pipeline sent to the
 * background with & would otherwise write into the shell's prompt. */
static bool in_foreground(void)
{
	pid_t fg = tcgetpgrp(STDERR_FILENO);
	return fg != -1 && fg == getpgrp();
}

static void show_progress(struct ingest *g)
{
	long long now = iot_now_ms();
	double secs = (double)(now - g->start_ms) / 1000.0;
	uint64_t stored = atomic_load(&g->stored), dup = atomic_load(&g->duplicates);
	pthread_mutex_lock(&g->out_mu);
	if (in_foreground()) {
		fprintf(stderr, "\r\033[K%s: %" PRIu64 " lines, %" PRIu64 " stored, %" PRIu64 " duplicates, %" PRIu64
		        " rejected, %.0f points/s", iot_progname, iot_metric_get(&g->lines), stored, dup,
		        iot_metric_get(&g->rejected_lines), secs > 0 ? (double)(stored + dup) / secs : 0.0);
		fflush(stderr);
		g->progress_shown = true;
	} else {
		clear_progress(g);
	}
	pthread_mutex_unlock(&g->out_mu);
}

void write_metrics(struct ingest *g)
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
		report_warning(g, "unable to write metrics to %s: %s", g->metrics_path, strerror(errno));
}

static void *ticker_main(void *arg)
{
	struct ingest *g = arg;
	long long last_metrics = iot_now_ms(), stopped_ms = 0;
	pthread_mutex_lock(&g->out_mu);
	while (!g->tick_stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&g->tick_cv, &g->out_mu, &ts);
		if (g->tick_stop)
			break;
		pthread_mutex_unlock(&g->out_mu);
		/* Asked to stop, and the last batches still not in after a second
		 * (a lock wait, a slow COPY): cancel them; nothing is retried now. */
		if (atomic_load(&g->stop) && g->w) {
			if (!stopped_ms)
				stopped_ms = iot_now_ms();
			else if (iot_now_ms() - stopped_ms >= 1000)
				iot_writer_cancel(g->w);
		}
		if (g->progress)
			show_progress(g);
		/* Every 10 s, so an idle pipe's file does not go stale (node_exporter reports its age). */
		if (g->metrics_path && iot_now_ms() - last_metrics >= 9900) {
			write_metrics(g);
			last_metrics = iot_now_ms();
		}
		pthread_mutex_lock(&g->out_mu);
	}
	pthread_mutex_unlock(&g->out_mu);
	return NULL;
}

int ticker_start(struct ingest *g, pthread_t *t)
{
	/* Signals go to the main thread, whose read they interrupt. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(t, NULL, ticker_main, g) == 0 ? 0 : -1;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

void ticker_stop(struct ingest *g, pthread_t t)
{
	pthread_mutex_lock(&g->out_mu);
	g->tick_stop = true;
	pthread_cond_signal(&g->tick_cv);
	pthread_mutex_unlock(&g->out_mu);
	pthread_join(t, NULL);
}

void report_final(struct ingest *g)
{
	pthread_mutex_lock(&g->out_mu);
	clear_progress(g);
	pthread_mutex_unlock(&g->out_mu);
	write_metrics(g);
}

void print_summary(struct ingest *g)
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
