/* batch.c — the batch writer's queue, worker threads and tickets. Each
 * worker has its own PostgreSQL connection and takes the next batch from the
 * shared queue, so batches commit in parallel (the server gets more than one
 * core); a submission's outcome is reported when its own batch commits. The
 * PostgreSQL side is in batch_store.c. */
#include "telemetry/batch_int.h"
#include "base/cond.h"
#include "cache/cache.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct worker {
	struct iot_writer *w;
	pthread_t thread;
	bool started;
	struct store *store;
	iot_cache *cache;
	struct batch b;
	uint64_t busy_min;          /* lowest seq in the batch being written; 0 when idle */
	long long busy_since_ms;    /* when it began writing it */
};

struct iot_writer {
	pthread_mutex_t mu;
	pthread_cond_t work_cv;     /* workers wait for points / flush / close */
	pthread_cond_t space_cv;    /* producers wait for queue space */
	pthread_cond_t done_cv;     /* tickets and flushers wait for outcomes */
	struct submission *head, *tail;
	size_t queued;              /* points in the queue */
	size_t queued_bytes;        /* and the memory they hold */
	uint64_t next_seq, flush_seq;
	bool closing, failed;
	iot_error fail;
	iot_writer_opts o;
	struct worker *workers;
	int nworkers;
	iot_metric m[M_COUNT];
	iot_metric *mp[M_COUNT];
	iot_histogram hist[2];      /* points per commit, time per commit */
	iot_histogram *hp[2];
};

static const uint64_t points_bounds[] = { 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000,
                                          10000, 20000, 50000 };
static const uint64_t commit_bounds_us[] = { 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,
                                             250000, 500000, 1000000, 2500000, 5000000, 10000000 };

struct iot_ticket {
	struct submission sub;
};

void iot_writer_opts_default(iot_writer_opts *o)
{
	memset(o, 0, sizeof *o);
	o->batch_size = 20000;
	o->flush_ms = 100;
	o->connections = 2;
}

static const struct { const char *name, *help; enum iot_metric_type type; } metric_defs[M_COUNT] = {
	[M_BATCHES] = { "iotflow_ingest_batches_total", "Batches committed to PostgreSQL.", IOT_COUNTER },
	[M_STORED] = { "iotflow_ingest_points_stored_total", "Points stored.", IOT_COUNTER },
	[M_DUPLICATES] = { "iotflow_ingest_points_duplicate_total", "Points already stored (replays).", IOT_COUNTER },
	[M_REJECTED] = { "iotflow_ingest_points_rejected_total", "Points PostgreSQL refused.", IOT_COUNTER },
	[M_RETRIES] = { "iotflow_ingest_retries_total", "Batches retried after a transient failure.", IOT_COUNTER },
	[M_DEDUP_BATCHES] = { "iotflow_ingest_dedup_batches_total", "Batches that took the de-duplicating path.", IOT_COUNTER },
	[M_BISECTS] = { "iotflow_ingest_bisect_steps_total", "Steps spent isolating bad points.", IOT_COUNTER },
	[M_COMMIT_MS] = { "iotflow_ingest_batch_milliseconds_total", "Time spent writing batches.", IOT_COUNTER },
	[M_QUEUED] = { "iotflow_ingest_queued_points", "Points waiting for a batch.", IOT_GAUGE },
	[M_SMALL_BATCHES] = { "iotflow_ingest_pipelined_batches_total",
	                      "Batches committed in one pipeline (small, fresh, every device there).", IOT_COUNTER },
};

static void finish(iot_writer *w, struct submission *s)
{
	s->res.npoints = s->n;
	s->res.points = s->points;
	s->res.outcome = s->outcome;
	s->res.reason = (const char *const *)s->reason;
	for (size_t i = 0; s->res.status == IOT_OK && i < s->n; i++) {
		if (s->outcome[i] == IOT_POINT_STORED) s->res.stored++;
		else if (s->outcome[i] == IOT_POINT_DUPLICATE) s->res.duplicates++;
		else s->res.rejected++;
	}
	if (s->ticket) {
		pthread_mutex_lock(&w->mu);
		s->done = true;
		pthread_mutex_unlock(&w->mu);
		return;
	}
	s->cb(&s->res, s->ctx, s->tag);
	for (size_t i = 0; i < s->n; i++)
		free(s->reason[i]);
	free(s);
}

static int batch_add(struct batch *b, struct submission *s)
{
	if (b->n + s->n > b->cap) {
		size_t cap = (b->n + s->n) * 2;
		void *p1 = realloc(b->sub, cap * sizeof *b->sub), *p2 = p1 ? realloc(b->pt, cap * sizeof *b->pt) : NULL;
		if (p1) b->sub = p1;
		if (p2) b->pt = p2;
		void *p3 = p2 ? realloc(b->out, cap * sizeof *b->out) : NULL;
		if (p3) b->out = p3;
		void *p4 = p3 ? realloc(b->why, cap * sizeof *b->why) : NULL;
		if (!p4)
			return -1;
		b->why = p4;
		b->cap = cap;
	}
	for (size_t i = 0; i < s->n; i++) {
		b->sub[b->n] = s;
		b->pt[b->n] = &s->points[i];
		b->out[b->n] = &s->outcome[i];
		b->why[b->n] = &s->reason[i];
		b->n++;
	}
	return 0;
}

/* Take whole submissions off the queue, up to batch_size points (at least one). */
static struct submission *take_batch(iot_writer *w, size_t *npoints)
{
	struct submission *first = w->head, *last = NULL;
	size_t n = 0;
	size_t bytes = 0;
	for (struct submission *s = w->head; s && (n == 0 || n + s->n <= w->o.batch_size); s = s->next) {
		n += s->n;
		bytes += s->bytes;
		last = s;
	}
	w->queued_bytes -= bytes;
	w->head = last->next;
	if (!w->head)
		w->tail = NULL;
	last->next = NULL;
	w->queued -= n;
	*npoints = n;
	iot_metric_set(&w->m[M_QUEUED], w->queued);
	pthread_cond_broadcast(&w->space_cv);
	return first;
}

static bool batch_due(iot_writer *w, long long now)
{
	return w->head && (w->queued >= w->o.batch_size || w->closing || w->flush_seq >= w->head->seq ||
	                   now - w->head->enqueued_ms >= w->o.flush_ms);
}

static void write_batch(struct worker *k, struct submission *list)
{
	iot_writer *w = k->w;
	struct batch *b = &k->b;
	b->n = 0;
	iot_error err = { 0 };
	int rc = 0;
	pthread_mutex_lock(&w->mu);
	bool failed = w->failed;
	pthread_mutex_unlock(&w->mu);
	for (struct submission *s = list; s && rc == 0; s = s->next)
		rc = batch_add(b, s);
	if (rc < 0)
		iot_error_set(&err, IOT_INTERNAL, "out of memory");
	else if (failed)
		rc = -1; /* the database is gone for good: fail what is left at once */
	else if (w->o.dry_run)
		for (size_t i = 0; i < b->n; i++)
			*b->out[i] = IOT_POINT_STORED;
	else {
		long long t0 = iot_now_us();
		rc = iot__store_batch(k->store, b, &err);
		if (rc == 0) {
			iot_histogram_observe(&w->hist[0], b->n);
			iot_histogram_observe(&w->hist[1], (uint64_t)(iot_now_us() - t0));
		}
	}
	pthread_mutex_lock(&w->mu);
	if (rc < 0 && !w->failed) {
		w->failed = true;
		w->fail = err;
	}
	pthread_mutex_unlock(&w->mu);
	for (struct submission *s = list, *next; s; s = next) {
		next = s->next;
		if (rc < 0) {
			/* w->fail is never written again once set: safe to point at. */
			s->res.status = w->fail.status ? w->fail.status : IOT_INTERNAL;
			s->res.error = w->fail.msg;
		}
		finish(w, s);
	}
	pthread_mutex_lock(&w->mu);
	k->busy_min = 0;
	pthread_cond_broadcast(&w->done_cv);
	pthread_mutex_unlock(&w->mu);
}

/* Without a batch timer, one writer at a time: while another writer's
 * batch is on its way (and has not taken SERIAL_STALL_MS yet), what waits
 * is left for it to take as one batch when it is done. Writers in parallel
 * would each commit a few points, and lock each other out of the same
 * latest-value and rollup rows: measured in bench/http (one-point POSTs),
 * two writers taking turns like this made 31,700 req/s where two in
 * parallel made 26,400. A batch that stalls (a lock, a big body) no longer
 * holds the rest back once it has taken that long, and a full batch never
 * waits. Returns how many ms k should wait, 0 to go (called locked). */
#define SERIAL_STALL_MS 10

static long long serial_hold(const iot_writer *w, const struct worker *k, long long now)
{
	if (w->o.flush_ms != 0 || w->closing || w->queued >= w->o.batch_size)
		return 0;
	long long until = 0;
	for (int i = 0; i < w->nworkers; i++) {
		const struct worker *o = &w->workers[i];
		if (o != k && o->busy_min && o->busy_since_ms + SERIAL_STALL_MS > until)
			until = o->busy_since_ms + SERIAL_STALL_MS;
	}
	return until > now ? until - now : 0;
}

static void *worker_main(void *arg)
{
	struct worker *k = arg;
	iot_writer *w = k->w;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		for (;;) {
			long long now = iot_now_ms(), hold = 0;
			if (w->closing && !w->head)
				break;
			if (batch_due(w, now) && (hold = serial_hold(w, k, now)) == 0)
				break;
			long wait = hold ? (long)hold : w->head ? w->o.flush_ms - (long)(now - w->head->enqueued_ms) : 1000;
			struct timespec ts = iot_clock_in(CLOCK_MONOTONIC, wait > 0 ? wait : 1);
			pthread_cond_timedwait(&w->work_cv, &w->mu, &ts);
		}
		if (!w->head && w->closing)
			break;
		size_t n;
		struct submission *list = take_batch(w, &n);
		k->busy_min = list->seq;
		k->busy_since_ms = iot_now_ms();
		/* Someone else may take the rest of the queue meanwhile. */
		if (w->head)
			pthread_cond_signal(&w->work_cv);
		pthread_mutex_unlock(&w->mu);
		write_batch(k, list);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Every submission up to seq target has its outcome (called locked). */
static bool settled(const iot_writer *w, uint64_t target)
{
	if (w->head && w->head->seq <= target)
		return false;
	for (int i = 0; i < w->nworkers; i++)
		if (w->workers[i].busy_min && w->workers[i].busy_min <= target)
			return false;
	return true;
}

static void free_workers(iot_writer *w)
{
	for (int i = 0; i < w->nworkers; i++) {
		struct worker *k = &w->workers[i];
		iot__store_free(k->store);
		iot_cache_free(k->cache);
		free(k->b.sub);
		free(k->b.pt);
		free(k->b.out);
		free(k->b.why);
	}
	free(w->workers);
}

/* Connections first, threads after: a writer that cannot reach the database
 * fails here, before any point is accepted. */
static int start_workers(iot_writer *w, const iot_config *cfg, iot_error *err)
{
	w->workers = calloc((size_t)w->o.connections, sizeof *w->workers);
	if (!w->workers)
		return iot_error_set(err, IOT_INTERNAL, "out of memory");
	w->nworkers = w->o.connections;
	for (int i = 0; i < w->nworkers; i++) {
		struct worker *k = &w->workers[i];
		k->w = w;
		if (w->o.dry_run)
			continue;
		if (w->o.use_cache && !(k->cache = iot_cache_connect(cfg, err)))
			return -1;
		if (!(k->store = iot__store_new(cfg, k->cache, w->m, err)))
			return -1;
	}
	/* Signals are the program's: its threads are started with every signal
	 * blocked, so a SIGTERM reaches the thread that waits for it (a read
	 * interrupted with EINTR) and not a writer in the middle of a batch. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = 0;
	for (int i = 0; i < w->nworkers && rc == 0; i++) {
		if (pthread_create(&w->workers[i].thread, NULL, worker_main, &w->workers[i]) != 0)
			rc = iot_error_set(err, IOT_INTERNAL, "unable to start a writer thread");
		else
			w->workers[i].started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

static void stop_workers(iot_writer *w)
{
	pthread_mutex_lock(&w->mu);
	w->closing = true;
	pthread_cond_broadcast(&w->work_cv);
	pthread_cond_broadcast(&w->space_cv);
	pthread_mutex_unlock(&w->mu);
	for (int i = 0; i < w->nworkers; i++)
		if (w->workers[i].started)
			pthread_join(w->workers[i].thread, NULL);
}

iot_writer *iot_writer_new(const iot_config *cfg, const iot_writer_opts *opts, iot_error *err)
{
	iot_writer *w = calloc(1, sizeof *w);
	if (!w) {
		iot_error_set(err, IOT_INTERNAL, "out of memory");
		return NULL;
	}
	iot_writer_opts_default(&w->o);
	if (opts)
		w->o = *opts;
	if (!w->o.batch_size)
		w->o.batch_size = 20000;
	if (w->o.flush_ms < 0)
		w->o.flush_ms = 100;
	if (w->o.connections <= 0)
		w->o.connections = 1;
	if (!w->o.max_queued)
		w->o.max_queued = (size_t)(w->o.connections + 2) * w->o.batch_size;
	if (!w->o.max_queued_bytes)
		w->o.max_queued_bytes = 64u << 20;
	for (int i = 0; i < M_COUNT; i++) {
		w->m[i].name = metric_defs[i].name;
		w->m[i].help = metric_defs[i].help;
		w->m[i].type = metric_defs[i].type;
		w->mp[i] = &w->m[i];
	}
	w->hist[0] = (iot_histogram){ .name = "iotflow_ingest_batch_points", .help = "Points per committed batch.",
	                              .bounds = points_bounds, .nbounds = 15, .scale = 1 };
	w->hist[1] = (iot_histogram){ .name = "iotflow_ingest_commit_seconds",
	                              .help = "Time to store a batch, from its first statement to its commit.",
	                              .bounds = commit_bounds_us, .nbounds = 15, .scale = 1e-6 };
	w->hp[0] = &w->hist[0];
	w->hp[1] = &w->hist[1];
	pthread_mutex_init(&w->mu, NULL);
	iot_cond_init_monotonic(&w->work_cv);
	pthread_cond_init(&w->space_cv, NULL);
	pthread_cond_init(&w->done_cv, NULL);
	w->next_seq = 1;
	if (start_workers(w, cfg, err) < 0) {
		iot_error keep = *err;
		stop_workers(w);
		free_workers(w);
		*err = keep;
		free(w);
		return NULL;
	}
	return w;
}

/* One allocation: the submission (or ticket), its points, outcomes, reason
 * slots and a copy of every string the points refer to. Consecutive points
 * with the same metadata pointer (a record's points) share one copy: a
 * record of 1000 points and 4 KB of metadata holds 4 KB of it, not 4 MB. */
static struct submission *copy_points(const iot_point *pts, size_t n, bool ticket)
{
	size_t strings = 0;
	for (size_t i = 0; i < n; i++) {
		strings += strlen(pts[i].measurement) + 1;
		if (pts[i].text)
			strings += strlen(pts[i].text) + 1;
		if (pts[i].metadata && (i == 0 || pts[i].metadata != pts[i - 1].metadata))
			strings += strlen(pts[i].metadata) + 1;
	}
	size_t head = ticket ? sizeof(struct iot_ticket) : sizeof(struct submission);
	head = (head + 15) & ~(size_t)15;
	size_t size = head + n * (sizeof(iot_point) + sizeof(enum iot_point_outcome) + sizeof(char *)) + strings;
	char *mem = calloc(1, size);
	if (!mem)
		return NULL;
	struct submission *s = (struct submission *)mem;
	s->bytes = size;
	s->points = (iot_point *)(mem + head);
	s->reason = (char **)(s->points + n);
	s->outcome = (enum iot_point_outcome *)(s->reason + n);
	char *str = (char *)(s->outcome + n);
	s->n = n;
	for (size_t i = 0; i < n; i++) {
		s->points[i] = pts[i];
		size_t l = strlen(pts[i].measurement) + 1;
		s->points[i].measurement = memcpy(str, pts[i].measurement, l);
		str += l;
		if (pts[i].text) {
			l = strlen(pts[i].text) + 1;
			s->points[i].text = memcpy(str, pts[i].text, l);
			str += l;
		}
		if (pts[i].metadata && i > 0 && pts[i].metadata == pts[i - 1].metadata) {
			s->points[i].metadata = s->points[i - 1].metadata;
		} else if (pts[i].metadata) {
			l = strlen(pts[i].metadata) + 1;
			s->points[i].metadata = memcpy(str, pts[i].metadata, l);
			str += l;
		}
	}
	return s;
}

static int enqueue(iot_writer *w, struct submission *s, iot_error *err)
{
	pthread_mutex_lock(&w->mu);
	while (!w->closing && !w->failed && w->queued > 0 &&
	       (w->queued + s->n > w->o.max_queued || w->queued_bytes + s->bytes > w->o.max_queued_bytes))
		pthread_cond_wait(&w->space_cv, &w->mu);
	if (w->closing || w->failed) {
		if (w->failed)
			*err = w->fail;
		else
			iot_error_set(err, IOT_INTERNAL, "the writer is closing");
		pthread_mutex_unlock(&w->mu);
		return -1;
	}
	s->w = w;
	s->seq = w->next_seq++;
	s->enqueued_ms = iot_now_ms();
	if (w->tail)
		w->tail->next = s;
	else
		w->head = s;
	w->tail = s;
	w->queued += s->n;
	w->queued_bytes += s->bytes;
	iot_metric_set(&w->m[M_QUEUED], w->queued);
	/* A full batch, or the first point of an empty queue (whose flush timer
	 * an idle worker is not running yet), needs a worker now. */
	if (w->queued >= w->o.batch_size || w->head == s)
		pthread_cond_signal(&w->work_cv);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

iot_ticket *iot_writer_submit(iot_writer *w, const iot_point *points, size_t n, iot_error *err)
{
	struct submission *s = copy_points(points, n, true);
	if (!s) {
		iot_error_set(err, IOT_INTERNAL, "out of memory");
		return NULL;
	}
	s->ticket = true;
	if (enqueue(w, s, err) < 0) {
		free(s);
		return NULL;
	}
	return (iot_ticket *)s;
}

int iot_writer_submit_cb(iot_writer *w, const iot_point *points, size_t n,
                         iot_submit_cb cb, void *ctx, uint64_t tag, iot_error *err)
{
	struct submission *s = copy_points(points, n, false);
	if (!s)
		return iot_error_set(err, IOT_INTERNAL, "out of memory");
	s->cb = cb;
	s->ctx = ctx;
	s->tag = tag;
	if (enqueue(w, s, err) < 0) {
		free(s);
		return -1;
	}
	return 0;
}

const iot_submit_result *iot_ticket_wait(iot_ticket *t)
{
	iot_writer *w = t->sub.w;
	pthread_mutex_lock(&w->mu);
	if (!t->sub.done) {
		/* Don't wait out the flush timer for a point someone is waiting on. */
		if (w->flush_seq < t->sub.seq)
			w->flush_seq = t->sub.seq;
		pthread_cond_signal(&w->work_cv);
	}
	while (!t->sub.done)
		pthread_cond_wait(&w->done_cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
	return &t->sub.res;
}

void iot_ticket_free(iot_ticket *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->sub.n; i++)
		free(t->sub.reason[i]);
	free(t);
}

int iot_writer_flush(iot_writer *w, iot_error *err)
{
	pthread_mutex_lock(&w->mu);
	uint64_t target = w->next_seq - 1;
	if (w->flush_seq < target)
		w->flush_seq = target;
	pthread_cond_broadcast(&w->work_cv);
	/* Even after a failure: the batches in flight finish (quickly once the
	 * writer has failed) and their outcomes must be in before we return. */
	while (!settled(w, target))
		pthread_cond_wait(&w->done_cv, &w->mu);
	int rc = 0;
	if (w->failed) {
		*err = w->fail;
		rc = -1;
	}
	pthread_mutex_unlock(&w->mu);
	return rc;
}

int iot_writer_close(iot_writer *w, iot_error *err)
{
	if (!w)
		return 0;
	int rc = iot_writer_flush(w, err);
	stop_workers(w);
	free_workers(w);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->work_cv);
	pthread_cond_destroy(&w->space_cv);
	pthread_cond_destroy(&w->done_cv);
	free(w);
	return rc;
}

void iot_writer_cancel(iot_writer *w)
{
	for (int i = 0; i < w->nworkers; i++)
		if (w->workers[i].store)
			iot__store_cancel(w->workers[i].store);
}

size_t iot_writer_metrics(iot_writer *w, iot_metric *const **out)
{
	*out = w->mp;
	return M_COUNT;
}

size_t iot_writer_histograms(iot_writer *w, iot_histogram *const **out)
{
	*out = w->hp;
	return 2;
}
