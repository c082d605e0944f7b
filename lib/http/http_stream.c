/* http_stream.c — GET /api/v1/telemetry/{id}/stream: the device's points
 * as they are committed, as Server-Sent Events (text/event-stream), from
 * lib/query's follow (what `iot-query follow` prints).
 *
 *   : connected                 a comment once the follow is set up (what
 *                               is committed from then on is sent)
 *   data: {"device_id":..}      one event per point, the line of the
 *                               NDJSON export (iot-ingest reads it back)
 *   : keep-alive                a comment when nothing was sent for a
 *                               while (15 s, or half the connection
 *                               timeout), so proxies keep the connection
 *                               and a client that went away is noticed
 *
 * Access as for the other read routes (http_read.h). Tokens travel in
 * headers only (a token in the URL is refused), so a browser reads the
 * stream with fetch() and a ReadableStream rather than EventSource, which
 * cannot send headers. measurement=a,b keeps only those series.
 *
 * Each stream has a thread of its own with its own PostgreSQL session
 * (the follow LISTENs on it); it fills a buffer that libmicrohttpd's
 * content reader empties, and while there is nothing to send the
 * connection is suspended and resumed by the thread. Streams and exports
 * together are capped (max_streams: 503 with Retry-After beyond). A stream
 * ends when the client goes away (noticed at the next write: a keep-alive
 * at the latest), when the follow fails (an "event: error" first), when
 * what let it in no longer holds (checked every RECHECK_MS: a revoked key
 * or token must not keep a stream it opened; "event: error" Unauthorized
 * first), or when the server drains (SIGTERM): the thread sees it within
 * a round and ends the response cleanly. */
#include "http/http_read.h"
#include "http/http_stream.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "query/query.h"

#define ROUND_MS 250                 /* one wait for notifications */
#define KEEPALIVE_MS 15000
#define BUF_HIGH (256 * 1024)        /* the thread waits while more is unsent */
#define RECHECK_MS 5000              /* the grant checked again */

struct stream {
	iot_httpd *h;
	struct MHD_Connection *conn;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *buf;
	size_t len, off, cap;
	bool suspended;              /* by the content reader, until resumed */
	bool gone;                   /* the response was freed: no resume any more */
	bool ended;                  /* the thread sends nothing more */
	bool oom;
	atomic_int refs;             /* the thread's and the response's */
	iot_db *db;
	iot_follow *f;
	long keepalive_ms;
	struct http_grant grant;     /* what let the request in */
	char *ids_text;              /* a person's devices followed, "{1,2}" */
};

/* ---- the count of streams and exports ---- */

int iot__http_stream_take(iot_httpd *h)
{
	int n = atomic_fetch_add(&h->streams, 1);
	if (n >= h->o.max_streams) {
		atomic_fetch_sub(&h->streams, 1);
		return -1;
	}
	return 0;
}

void iot__http_stream_release(iot_httpd *h)
{
	atomic_fetch_sub(&h->streams, 1);
}

void iot__http_stream_busy(struct http_req *r)
{
	iot__http_retry_after(r, 5);
	iot__http_error(r, 503, "Too many streams",
	                "At most %d event streams and exports at once; try again shortly", r->h->o.max_streams);
}

void iot__http_streams_wait(iot_httpd *h, int timeout_ms)
{
	long long until = iot_now_ms() + timeout_ms;
	while ((atomic_load(&h->streams) > 0 || atomic_load(&h->stream_threads) > 0) && iot_now_ms() < until) {
		struct timespec ts = { 0, 10 * 1000000L };
		nanosleep(&ts, NULL);
	}
}

/* ---- the buffer between the thread and the content reader ---- */

static void unref(struct stream *st)
{
	if (atomic_fetch_sub(&st->refs, 1) != 1)
		return;
	iot_follow_close(st->f);
	iot_db_close(st->db);
	pthread_mutex_destroy(&st->mu);
	pthread_cond_destroy(&st->cv);
	free(st->buf);
	free(st->ids_text);
	iot__http_grant_wipe(&st->grant);
	free(st);
}

/* Append under st->mu. */
static void put(struct stream *st, const char *s, size_t n)
{
	if (st->off == st->len)
		st->off = st->len = 0;
	if (st->len + n > st->cap) {
		size_t cap = st->cap ? st->cap : 4096;
		while (cap < st->len + n)
			cap *= 2;
		char *b = realloc(st->buf, cap);
		if (!b) {
			st->oom = true;
			return;
		}
		st->buf = b;
		st->cap = cap;
	}
	memcpy(st->buf + st->len, s, n);
	st->len += n;
}

/* NDJSON lines as events, under st->mu. */
static void put_events(struct stream *st, const char *text, size_t len)
{
	while (len > 0) {
		const char *nl = memchr(text, '\n', len);
		size_t n = nl ? (size_t)(nl - text) : len;
		if (n > 0) {
			put(st, "data: ", 6);
			put(st, text, n);
			put(st, "\n\n", 2);
		}
		if (!nl)
			break;
		len -= n + 1;
		text = nl + 1;
	}
}

/* Under st->mu: the content reader waits for this. */
static void wake(struct stream *st)
{
	if (st->suspended && !st->gone) {
		st->suspended = false;
		MHD_resume_connection(st->conn);
	}
}

/* ---- the thread: follow rounds into the buffer ---- */

static const char failure_event[] =
	"event: error\ndata: {\"error\":\"Service Unavailable\","
	"\"message\":\"The database is unavailable; reconnect shortly\"}\n\n";

static const char ended_event[] =
	"event: error\ndata: {\"error\":\"Unauthorized\","
	"\"message\":\"Access ended (the key or token was revoked or expired, or a device is no longer yours)\"}\n\n";

/* Does what let the stream in still hold? false only when it does not
 * (a database that cannot be asked is the follow's to notice). A person's
 * devices must still be theirs, none gone or given away. */
static bool still_allowed(struct stream *st)
{
	iot_error err = { 0 };
	struct http_slot *s = iot__http_slot_get(st->h);
	int rc = iot__http_grant_check(s, &st->grant, &err);
	if (rc == 0 && st->ids_text) {
		char who[24];
		snprintf(who, sizeof who, "%" PRId64, st->grant.who);
		const char *params[2] = { who, st->ids_text };
		PGresult *res = iot_db_exec(s->db, "SELECT count(*) FROM unnest($2::bigint[]) i WHERE i > 0 AND"
		                            " NOT EXISTS (SELECT 1 FROM devices d WHERE d.id = i AND d.user_id = $1)",
		                            2, params, &err);
		if (res && strcmp(PQgetvalue(res, 0, 0), "0"))
			rc = iot_error_set(&err, IOT_DENIED, "a device is no longer the person's");
		PQclear(res);
	}
	iot__http_slot_put(s);
	return rc == 0 || err.status != IOT_DENIED;
}

static void *stream_main(void *arg)
{
	struct stream *st = arg;
	long long quiet_since = iot_now_ms(), check_at = quiet_since + RECHECK_MS;
	bool failed = false;
	iot_error err = { 0 };
	for (;;) {
		pthread_mutex_lock(&st->mu);
		while (!st->gone && st->len - st->off > BUF_HIGH && !atomic_load(&st->h->draining)) {
			struct timespec ts = iot_clock_in(CLOCK_REALTIME, ROUND_MS);
			pthread_cond_timedwait(&st->cv, &st->mu, &ts);
		}
		bool stop = st->gone || st->oom || atomic_load(&st->h->draining);
		pthread_mutex_unlock(&st->mu);
		if (stop)
			break;
		const char *text;
		size_t len;
		int rc = iot_follow_next(st->f, ROUND_MS, &text, &len, &err);
		long long now = iot_now_ms();
		bool allowed = true;
		if (rc >= 0 && now >= check_at) {
			allowed = still_allowed(st);
			check_at = now + RECHECK_MS;
		}
		pthread_mutex_lock(&st->mu);
		if (!allowed) {
			put(st, ended_event, sizeof ended_event - 1);
			failed = true;
		} else if (rc < 0) {
			put(st, failure_event, sizeof failure_event - 1);
			failed = true;
		} else if (rc > 0) {
			put_events(st, text, len);
			quiet_since = now;
		} else if (now - quiet_since >= st->keepalive_ms) {
			put(st, ": keep-alive\n\n", sizeof ": keep-alive\n\n" - 1);
			quiet_since = now;
		}
		wake(st);
		pthread_mutex_unlock(&st->mu);
		if (failed)
			break;
	}
	pthread_mutex_lock(&st->mu);
	st->ended = true;
	wake(st);
	pthread_mutex_unlock(&st->mu);
	/* The session is not needed any more, whoever frees the rest. */
	iot_follow_close(st->f);
	st->f = NULL;
	iot_db_close(st->db);
	st->db = NULL;
	iot_httpd *h = st->h;
	unref(st);
	atomic_fetch_sub(&h->stream_threads, 1);
	return NULL;
}

/* ---- libmicrohttpd's side ---- */

static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
	(void)pos;
	struct stream *st = cls;
	pthread_mutex_lock(&st->mu);
	if (st->off < st->len) {
		size_t n = st->len - st->off;
		if (n > max)
			n = max;
		memcpy(out, st->buf + st->off, n);
		st->off += n;
		pthread_cond_signal(&st->cv);
		pthread_mutex_unlock(&st->mu);
		return (ssize_t)n;
	}
	if (st->ended) {
		pthread_mutex_unlock(&st->mu);
		return MHD_CONTENT_READER_END_OF_STREAM;
	}
	st->suspended = true;
	MHD_suspend_connection(st->conn);
	pthread_mutex_unlock(&st->mu);
	return 0;
}

static void stream_free(void *cls)
{
	struct stream *st = cls;
	iot_httpd *h = st->h;
	pthread_mutex_lock(&st->mu);
	st->gone = true;
	pthread_cond_signal(&st->cv);
	pthread_mutex_unlock(&st->mu);
	unref(st);
	iot__http_stream_release(h);
}

/* The follow of devices ids[0..n) on a session of its own: 0, or -1 answered. */
static int stream_open(struct http_req *r, struct stream *st, const int64_t *ids, size_t n)
{
	char mbuf[IOT_QUERY_MEASUREMENTS_MAX * 65 + 1];
	const char *names[IOT_QUERY_MEASUREMENTS_MAX];
	long nnames = 0;
	const char *m = iot_http_arg(&r->args, "measurement");
	if (m && *m) {
		snprintf(mbuf, sizeof mbuf, "%s", m);
		nnames = strlen(m) < sizeof mbuf ? iot__http_read_names(mbuf, names, IOT_QUERY_MEASUREMENTS_MAX) : -1;
		if (nnames < 0) {
			iot__http_error(r, 400, "Bad Request", "measurement: at most %d names, comma-separated",
			                IOT_QUERY_MEASUREMENTS_MAX);
			return -1;
		}
	}
	iot_error err = { 0 };
	iot_follow_req q = { .device_ids = ids, .ndevices = n, .measurements = nnames ? names : NULL,
	                     .nmeasurements = (size_t)nnames, .format = IOT_EXPORT_NDJSON };
	if (!(st->db = iot_db_connect(r->h->cfg, &err)) || !(st->f = iot_follow_open(st->db, &q, &err))) {
		iot__http_read_failed(r, &err, "The stream could not be opened");
		return -1;
	}
	return 0;
}

static struct stream *stream_new(struct http_req *r)
{
	struct stream *st = calloc(1, sizeof *st);
	if (!st)
		return NULL;
	st->h = r->h;
	st->conn = r->conn;
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cv, NULL);
	atomic_init(&st->refs, 1);
	long half = (long)r->h->o.connection_timeout_s * 500;
	st->keepalive_ms = half < KEEPALIVE_MS ? half : KEEPALIVE_MS;
	return st;
}

/* The thread, with every signal blocked (signals are the program's). */
static int stream_start(struct stream *st)
{
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	atomic_fetch_add(&st->refs, 1);
	atomic_fetch_add(&st->h->stream_threads, 1);
	pthread_t t;
	int rc = pthread_create(&t, &at, stream_main, st);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&at);
	if (rc != 0) {
		atomic_fetch_sub(&st->h->stream_threads, 1);
		atomic_fetch_sub(&st->refs, 1);
		return -1;
	}
	return 0;
}

void iot__http_telemetry_stream(struct http_req *r)
{
	struct http_slot *s = iot__http_slot_get(r->h);
	struct target t;
	int ok = iot__http_read_open(r, s, &t);
	iot__http_slot_put(s);
	if (ok < 0)
		return;
	int64_t dev = r->id;
	struct http_grant g = { .device = t.by_key, .who = t.reader, .admin = t.reader_admin };
	iot__http_grant_take(r, &g);
	iot__http_stream_devices(r, &dev, 1, &g);
	iot__http_grant_wipe(&g);
}

/* "{1,2,3}": the devices a person's stream must find still theirs. */
static char *ids_text(const int64_t *ids, size_t n)
{
	char *t = malloc(n * 21 + 3), *p = t;
	if (!t)
		return NULL;
	*p++ = '{';
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s%" PRId64, i ? "," : "", ids[i]);
	strcpy(p, "}");
	return t;
}

void iot__http_stream_devices(struct http_req *r, const int64_t *ids, size_t n, const struct http_grant *g)
{
	if (iot__http_stream_take(r->h) < 0) {
		iot__http_stream_busy(r);
		return;
	}
	struct stream *st = stream_new(r);
	if (st) {
		st->grant = *g;
		if (!g->device && !g->admin && !(st->ids_text = ids_text(ids, n))) {
			unref(st);
			st = NULL;
		}
	}
	if (!st) {
		iot__http_stream_release(r->h);
		iot__http_error(r, 500, "Internal Server Error", "out of memory");
		return;
	}
	if (stream_open(r, st, ids, n) < 0) {
		unref(st);
		iot__http_stream_release(r->h);
		return;
	}
	put(st, ": connected\n\n", sizeof ": connected\n\n" - 1);
	struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, st,
	                                                              stream_free);
	if (!resp) {
		unref(st);
		iot__http_stream_release(r->h);
		iot__http_error(r, 500, "Internal Server Error", "out of memory");
		return;
	}
	/* From here the response owns st's first reference and the count. */
	if (stream_start(st) < 0) {
		pthread_mutex_lock(&st->mu);
		st->ended = true;
		pthread_mutex_unlock(&st->mu);
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "X-Accel-Buffering", "no");  /* nginx: pass events at once */
	if (r->resp)
		MHD_destroy_response(r->resp);
	r->resp = resp;
	r->resp_status = 200;
}
