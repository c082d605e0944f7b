/* metrics.c — Prometheus text exposition format. */
#include "base/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A counter of milliseconds (NAME_milliseconds_total) is written as
 * NAME_seconds_total in seconds: Prometheus' base unit. */
int iot_metrics_write(FILE *f, iot_metric *const *metrics, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const iot_metric *m = metrics[i];
		const char *ms = strstr(m->name, "_milliseconds_total");
		if (ms && m->type == IOT_COUNTER) {
			int len = (int)(ms - m->name);
			fprintf(f, "# HELP %.*s_seconds_total %s\n# TYPE %.*s_seconds_total counter\n%.*s_seconds_total %.17g\n",
			        len, m->name, m->help, len, m->name, len, m->name, (double)iot_metric_get(m) / 1000.0);
			continue;
		}
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", m->name, m->help, m->name,
		        m->type == IOT_COUNTER ? "counter" : "gauge", m->name, iot_metric_get(m));
	}
	return ferror(f) ? -1 : 0;
}

void iot_hist_observe(_Atomic uint64_t *bucket, const uint64_t *bounds, int nbounds,
                      _Atomic uint64_t *count, _Atomic uint64_t *sum, uint64_t v)
{
	atomic_fetch_add(count, 1);
	atomic_fetch_add_explicit(sum, v, memory_order_relaxed);
	for (int i = 0; i < nbounds; i++)
		if (v <= bounds[i]) {
			atomic_fetch_add(&bucket[i], 1);
			break;
		}
}

void iot_hist_write(FILE *f, const char *name, const char *labels, const uint64_t *bounds, int nbounds,
                    double scale, const _Atomic uint64_t *bucket, const _Atomic uint64_t *count,
                    const _Atomic uint64_t *sum)
{
	uint64_t n[IOT_HIST_MAX];
	for (int i = 0; i < nbounds && i < IOT_HIST_MAX; i++)
		n[i] = atomic_load(&bucket[i]);
	uint64_t total = atomic_load(count), total_sum = atomic_load_explicit(sum, memory_order_relaxed);
	uint64_t cum = 0;
	const char *sep = *labels ? "," : "";
	for (int i = 0; i < nbounds && i < IOT_HIST_MAX; i++) {
		cum += n[i];
		fprintf(f, "%s_bucket{%s%sle=\"%g\"} %" PRIu64 "\n", name, labels, sep, (double)bounds[i] * scale, cum);
	}
	fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, labels, sep, total);
	const char *open = *labels ? "{" : "", *close = *labels ? "}" : "";
	fprintf(f, "%s_sum%s%s%s %.6f\n", name, open, labels, close, (double)total_sum * scale);
	fprintf(f, "%s_count%s%s%s %" PRIu64 "\n", name, open, labels, close, total);
}

void iot_histogram_write(FILE *f, const iot_histogram *h)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", h->name, h->help, h->name);
	iot_hist_write(f, h->name, "", h->bounds, h->nbounds, h->scale, h->bucket, &h->count, &h->sum);
}

static const char *file_kind(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISLNK(mode))
		return "a symbolic link";
	if (S_ISFIFO(mode))
		return "a fifo";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	if (S_ISSOCK(mode))
		return "a socket";
	return "not a regular file";
}

int iot_metrics_file_check(const char *path, iot_error *err)
{
	struct stat st;
	if (!*path)
		return iot_error_set(err, IOT_USAGE, "an empty file name");
	if (lstat(path, &st) == 0) {
		if (S_ISREG(st.st_mode))
			return 0;
		return iot_error_set(err, IOT_USAGE, "%s is %s, not a regular file", path,
		                     file_kind(st.st_mode));
	}
	if (errno != ENOENT)
		return iot_error_set(err, IOT_USAGE, "%s: %s", path, strerror(errno));
	/* Not there yet: its directory must be, or every write would fail. */
	const char *slash = strrchr(path, '/');
	char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
	if (!dir)
		return iot_error_set(err, IOT_INTERNAL, "out of memory");
	int rc = 0;
	if (stat(dir, &st) != 0)
		rc = iot_error_set(err, IOT_USAGE, "directory %s: %s", dir, strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		rc = iot_error_set(err, IOT_USAGE, "%s is not a directory", dir);
	free(dir);
	return rc;
}

/* The temporary file gets a name nobody can guess and is created with
 * O_EXCL (mkstemp), so a planted file or symlink there is never followed;
 * rename() then replaces the target, never writing through it. */
int iot_metrics_write_file(const char *path, iot_metric *const *metrics, size_t n)
{
	struct stat st;
	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		errno = EEXIST;
		return -1;
	}
	char *tmp;
	if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0)
		return -1;
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		free(tmp);
		return -1;
	}
	int rc = -1, saved = 0;
	FILE *f = NULL;
	/* 0644: node_exporter's textfile collector usually runs as another user. */
	if (fchmod(fd, 0644) == 0 && (f = fdopen(fd, "w"))) {
		rc = iot_metrics_write(f, metrics, n);
		saved = errno;
		if (fclose(f) != 0 && rc == 0) {
			rc = -1;
			saved = errno;
		}
		if (rc == 0 && rename(tmp, path) != 0) {
			rc = -1;
			saved = errno;
		}
	} else {
		saved = errno;
		close(fd);
	}
	if (rc != 0)
		unlink(tmp);
	free(tmp);
	errno = saved;
	return rc;
}
