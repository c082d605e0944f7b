/* server.c — libmicrohttpd glue: the daemon in its three start modes, a
 * request's life (route, early refusals, body accumulated under a hard
 * cap, dispatch, suspension and resumption), the deadline of suspended
 * requests, and draining. */
#include "http/http_int.h"
#include "base/cond.h"
#include "http/http_stream.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

void iot_httpd_opts_default(iot_httpd_opts *o)
{
	memset(o, 0, sizeof *o);
	o->threads = 2;
	o->max_connections = 1024;
	o->connection_timeout_s = 30;
	o->max_body = 1u << 20;
	o->max_points = 10000;
	o->max_records = 1000;
	o->max_depth = 32;
	o->commit_timeout_ms = 5000;
	o->rate_limit = 1200;
	o->rate_window_s = 60;
	o->max_streams = 32;
	o->cache = true;
	iot_writer_opts_default(&o->writer);
	/* No timer: a batch is whatever requests are waiting when a writer
	 * connection is free, so a quiet server commits a request at once and a
	 * busy one gathers the requests that came in during the last commit.
	 * bench/http, one-point POSTs, 3 x 10 s: 24,099 req/s (0.92x pgbench)
	 * against 15,393 (0.59x) with a 2 ms timer (bench/README.md). */
	o->writer.flush_ms = 0;
}

/* ---- requests ---- */

static unsigned method_of(const char *m)
{
	static const struct { const char *name; unsigned bit; } names[] = {
		{ "GET", HM_GET }, { "HEAD", HM_HEAD }, { "POST", HM_POST }, { "PUT", HM_PUT },
		{ "DELETE", HM_DELETE }, { "OPTIONS", HM_OPTIONS },
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (!strcmp(m, names[i].name))
			return names[i].bit;
	return HM_OTHER;
}

void iot__http_req_unref(struct http_req *r)
{
	if (atomic_fetch_sub(&r->refs, 1) != 1)
		return;
	if (r->resp)
		MHD_destroy_response(r->resp);
	iot__http_post_free(r->post);
	free(r->path);
	free(r->query);
	pthread_mutex_destroy(&r->mu);
	free(r->body);
	free(r);
}

static void allow_header(struct http_req *r, const struct http_route *rt)
{
	static const struct { unsigned bit; const char *name; } names[] = {
		{ HM_GET, "GET, HEAD" }, { HM_POST, "POST" }, { HM_PUT, "PUT" }, { HM_DELETE, "DELETE" },
	};
	char allow[64] = "";
	for (size_t i = 0; i < sizeof rt->on / sizeof rt->on[0] && rt->on[i].fn; i++)
		for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
			if (rt->on[i].method == names[k].bit) {
				if (allow[0])
					strcat(allow, ", ");
				strcat(allow, names[k].name);
			}
	strcat(allow, ", OPTIONS");
	iot__http_header(r, "Allow", allow);
}

/* Route and method; the refusals that need no body. Returns the index of
 * the route's handler, or -1 with the answer given. */
static int begin(struct http_req *r, const char *url, const char *method)
{
	const struct http_route *rt = NULL;
	for (size_t i = 0; i < iot__http_nroutes; i++)
		if (iot_http_match_ids(iot__http_routes[i].tmpl, url, r->ids, 2)) {
			r->id = r->ids[0];
			rt = &iot__http_routes[i];
			r->route = i;
			break;
		}
	size_t tl = rt ? strlen(rt->tmpl) : 0;
	if (rt && tl && rt->tmpl[tl - 1] == '*' && !(r->path = strdup(url)))
		rt = NULL;
	iot_http_query_parse(r->query, &r->args);
	if (r->nul_in_path || r->args.nul) {
		iot__http_error(r, 400, "Bad Request", "The URL holds a NUL byte (%%00)");
		return -1;
	}
	if (iot__http_bad_framing(r))
		return -1;
	if (!rt) {
		iot__http_error(r, 404, "Not Found", "The requested resource was not found");
		return -1;
	}
	const char *secret = iot_http_args_secret(&r->args);
	if (secret) {
		iot__http_error(r, 400, "Credentials in URL",
		                "The query parameter %s is refused: send device keys in the X-API-Key header "
		                "and tokens in Authorization (URLs end up in logs)", secret);
		return -1;
	}
	unsigned m = r->method == HM_HEAD ? HM_GET : r->method;
	int found = -1;
	for (size_t i = 0; i < sizeof rt->on / sizeof rt->on[0] && rt->on[i].fn; i++)
		if (rt->on[i].method == m)
			found = (int)i;
	if (r->method == HM_OPTIONS) {
		allow_header(r, rt);
		iot__http_reply_text(r, 204, NULL, NULL, 0);
		return -1;
	}
	if (found < 0) {
		allow_header(r, rt);
		iot__http_error(r, 405, "Method Not Allowed", "%s is not allowed on %s", method, rt->tmpl);
		return -1;
	}
	const char *cl = iot__http_get_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *te = iot__http_get_header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	bool has_body = te || (cl && strcmp(cl, "0"));
	if (cl) {
		char *end;
		errno = 0;
		unsigned long long n = strtoull(cl, &end, 10);
		if (errno || *end || n > r->h->o.max_body) {
			iot__http_error(r, 413, "Payload Too Large", "The request body is over the limit of %zu bytes",
			                r->h->o.max_body);
			return -1;
		}
	}
	if (has_body && rt->on[found].body) {
		enum iot_http_body kind = iot_http_content_type(iot__http_get_header(r, MHD_HTTP_HEADER_CONTENT_TYPE));
		if (kind != IOT_BODY_JSON && kind != IOT_BODY_NDJSON) {
			iot__http_error(r, 415, "Unsupported Media Type",
			                "Content-Type must be application/json or application/x-ndjson");
			return -1;
		}
	}
	return found;
}

static bool take_body(struct http_req *r, const char *data, size_t n)
{
	if (r->too_big || r->len + n > r->h->o.max_body) {
		/* Read and dropped, so the 413 can be answered at the end; a
		 * client that goes on for ever is cut off. */
		r->too_big = true;
		r->discarded += n;
		return r->discarded <= 8 * r->h->o.max_body;
	}
	if (r->len + n + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		while (cap < r->len + n + 1)
			cap *= 2;
		if (cap > r->h->o.max_body + 1)
			cap = r->h->o.max_body + 1;
		char *b = realloc(r->body, cap);
		if (!b)
			return false;
		r->body = b;
		r->cap = cap;
	}
	memcpy(r->body + r->len, data, n);
	r->len += n;
	r->body[r->len] = '\0';
	return true;
}

static enum MHD_Result queue(struct http_req *r)
{
	struct MHD_Response *resp = r->resp;
	r->resp = NULL;
	r->status = r->resp_status;
	r->queued = true;
	if (atomic_load(&r->h->draining))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	enum MHD_Result rc = MHD_queue_response(r->conn, (unsigned)r->resp_status, resp);
	MHD_destroy_response(resp);
	return rc;
}

/* A request begins with its request line, before libmicrohttpd decodes
 * it: the query string is kept as sent, for iot_http_query_parse (the code
 * the fuzzer runs), and a %00 in the path is noted. libmicrohttpd's own
 * decoding would end the path at the NUL byte, so that /ui/app.js%00.css
 * served app.js. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	iot_httpd *h = cls;
	struct http_req *r = calloc(1, sizeof *r);
	const char *q = strchr(uri, '?');
	if (!r || (q && q[1] && !(r->query = strdup(q + 1)))) {
		free(r);
		return NULL; /* on_access closes the connection */
	}
	r->h = h;
	r->conn = c;
	r->route = iot__http_nroutes;
	r->method = HM_OTHER;
	r->nul_in_path = memmem(uri, q ? (size_t)(q - uri) : strlen(uri), "%00", 3) != NULL;
	r->start_us = iot_now_us();
	pthread_mutex_init(&r->mu, NULL);
	atomic_init(&r->refs, 1);
	atomic_fetch_add(&h->m.in_progress, 1);
	return r;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                 const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	(void)version;
	iot_httpd *h = cls;
	struct http_req *r = *con_cls;
	if (!r)
		return MHD_NO; /* out of memory in on_uri */
	if (!r->began) {
		r->began = true;
		iot__http_conn_due(h, c, true); /* the headers are in: now the body */
		r->method = method_of(method);
		if ((r->entry = begin(r, url, method)) < 0)
			return queue(r);
		return MHD_YES;
	}
	if (*upload_size) {
		bool ok = take_body(r, upload, *upload_size);
		*upload_size = 0;
		return ok ? MHD_YES : MHD_NO;
	}
	if (r->queued)
		return MHD_YES;
	if (!r->dispatched) {
		r->dispatched = true;
		iot__http_conn_due(h, c, false);
		if (r->too_big)
			iot__http_error(r, 413, "Payload Too Large", "The request body is over the limit of %zu bytes",
			                h->o.max_body);
		else
			iot__http_routes[r->route].on[r->entry].fn(r);
	} else if (r->answered && !r->resp) {
		iot__http_post_answer(r); /* resumed */
	}
	if (r->resp)
		return queue(r);
	return MHD_YES; /* suspended */
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	(void)toe;
	iot_httpd *h = cls;
	iot__http_conn_due(h, c, true); /* the next request's headers */
	struct http_req *r = *con_cls;
	if (!r)
		return;
	*con_cls = NULL;
	/* One that libmicrohttpd refused itself (431, a broken header) is
	 * not counted: it never reached a route. */
	if (r->began)
		iot__http_metrics_request(&h->m, r->route, r->method, r->queued ? r->status : 499,
		                          iot_now_us() - r->start_us);
	atomic_fetch_sub(&h->m.in_progress, 1);
	iot__http_req_unref(r);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
	iot_httpd *h = cls;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		atomic_fetch_add(&h->m.open_connections, 1);
		iot__http_conn_opened(h, c, socket_context);
	} else {
		iot__http_conn_closed(h, socket_context);
		atomic_fetch_sub(&h->m.open_connections, 1);
		if (h->inetd)
			atomic_store(&h->client_gone, true);
	}
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	iot_httpd *h = cls;
	char msg[256];
	vsnprintf(msg, sizeof msg, fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	/* A connection handed over that is no TCP socket (socat's socketpair,
	 * a Unix socket): libmicrohttpd 0.9.75 cannot be told so and tries
	 * TCP options on it anyway; failing is expected there, and says
	 * nothing about the connection. */
	if (h->not_tcp && (!strncmp(msg, "Setting TCP_", 12) || !strncmp(msg, "Failed to push the data", 23)))
		return;
	iot_config_notice(h->cfg, "HTTP: %s", msg);
}

/* ---- suspended requests and their deadline ---- */

void iot__http_suspend(struct http_req *r)
{
	iot_httpd *h = r->h;
	MHD_suspend_connection(r->conn);
	r->suspended = true;
	atomic_fetch_add(&h->m.suspended, 1);
	atomic_fetch_add(&r->refs, 1); /* the deadline list's */
	pthread_mutex_lock(&h->dl_mu);
	r->deadline_ms = iot_now_ms() + h->o.commit_timeout_ms;
	r->on_dl = true;
	r->dl_prev = h->dl_tail;
	r->dl_next = NULL;
	bool first = !h->dl_tail;
	if (h->dl_tail)
		h->dl_tail->dl_next = r;
	else
		h->dl_head = r;
	h->dl_tail = r;
	/* Every request has the same budget, so a new tail is never due before
	 * the head the deadline thread already waits for: it needs waking only
	 * for a new head (a wake-up per suspension was two futex calls and two
	 * context switches per request). */
	if (first)
		pthread_cond_signal(&h->dl_cv);
	pthread_mutex_unlock(&h->dl_mu);
}

/* Unlink r (called with dl_mu held); the caller owns the list's reference. */
static void dl_unlink(iot_httpd *h, struct http_req *r)
{
	if (r->dl_prev)
		r->dl_prev->dl_next = r->dl_next;
	else
		h->dl_head = r->dl_next;
	if (r->dl_next)
		r->dl_next->dl_prev = r->dl_prev;
	else
		h->dl_tail = r->dl_prev;
	r->on_dl = false;
}

void iot__http_resume(struct http_req *r)
{
	iot_httpd *h = r->h;
	pthread_mutex_lock(&h->dl_mu);
	bool listed = r->on_dl;
	if (listed)
		dl_unlink(h, r);
	pthread_mutex_unlock(&h->dl_mu);
	atomic_fetch_sub(&h->m.suspended, 1);
	MHD_resume_connection(r->conn);
	if (listed)
		iot__http_req_unref(r);
}

static void expire(struct http_req *r)
{
	pthread_mutex_lock(&r->mu);
	bool resume = !r->answered;
	if (resume) {
		r->answered = true;
		r->expired = true;
	}
	pthread_mutex_unlock(&r->mu);
	if (resume) {
		atomic_fetch_add(&r->h->m.timed_out, 1);
		atomic_fetch_sub(&r->h->m.suspended, 1);
		MHD_resume_connection(r->conn);
	}
	iot__http_req_unref(r);
}

static void *deadline_main(void *arg)
{
	iot_httpd *h = arg;
	pthread_mutex_lock(&h->dl_mu);
	while (!h->dl_stop) {
		long long now = iot_now_ms();
		struct http_req *r = h->dl_head;
		if (r && r->deadline_ms <= now) {
			dl_unlink(h, r);
			pthread_mutex_unlock(&h->dl_mu);
			expire(r);
			pthread_mutex_lock(&h->dl_mu);
			continue;
		}
		long wait = r ? (long)(r->deadline_ms - now) : 1000;
		struct timespec ts = iot_clock_in(CLOCK_MONOTONIC, wait);
		pthread_cond_timedwait(&h->dl_cv, &h->dl_mu, &ts);
	}
	pthread_mutex_unlock(&h->dl_mu);
	return NULL;
}

/* Every suspended request answered now (503), for the end of a drain. */
static void expire_all(iot_httpd *h)
{
	pthread_mutex_lock(&h->dl_mu);
	while (h->dl_head) {
		struct http_req *r = h->dl_head;
		dl_unlink(h, r);
		pthread_mutex_unlock(&h->dl_mu);
		expire(r);
		pthread_mutex_lock(&h->dl_mu);
	}
	pthread_mutex_unlock(&h->dl_mu);
}

/* ---- the server ---- */

iot_httpd *iot_httpd_new(const iot_config *cfg, const iot_httpd_opts *o, iot_error *err)
{
	iot_httpd *h = calloc(1, sizeof *h);
	if (!h) {
		iot_error_set(err, IOT_INTERNAL, "out of memory");
		return NULL;
	}
	h->cfg = cfg;
	h->listen_fd = -1;
	if (o)
		h->o = *o;
	else
		iot_httpd_opts_default(&h->o);
	if (h->o.threads < 1)
		h->o.threads = 1;
	h->metrics_token = iot_config_get(cfg, "metrics_token");
	if (iot__http_proxies_parse(h, iot_config_get(cfg, "trusted_proxies"), err) < 0) {
		free(h->proxies);
		free(h);
		return NULL;
	}
	/* What the writer's queue may hold for suspended requests, estimated
	 * from above (see http_telemetry.c): the writer never blocks a server
	 * thread, a request over the estimate is answered 503 instead. */
	h->max_inflight_bytes = 64ll << 20;
	h->max_inflight_points = 1ll << 19;
	h->o.writer.max_queued = (size_t)h->max_inflight_points * 2;
	h->o.writer.max_queued_bytes = (size_t)h->max_inflight_bytes * 2;
	h->o.writer.use_cache = h->o.cache;
	pthread_mutex_init(&h->dl_mu, NULL);
	iot_cond_init_monotonic(&h->dl_cv);
	pthread_mutex_init(&h->rl_mu, NULL);
	if (iot__http_metrics_init(&h->m) < 0 || !(h->rl = calloc(4096, sizeof *h->rl))) {
		iot_error_set(err, IOT_INTERNAL, "out of memory");
		goto fail;
	}
	if (iot__http_slots_open(h, err) < 0 || iot__http_keeper_start(h, err) < 0 || iot__http_broker_open(h, err) < 0)
		goto fail;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&h->dl_thread, NULL, deadline_main, h);
	h->dl_started = rc == 0;
	if (rc == 0)
		rc = iot__http_conns_start(h, err);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		iot_error_set(err, IOT_INTERNAL, "unable to start a thread");
		goto fail;
	}
	iot__http_web_load(h);
	return h;
fail:
	iot_httpd_free(h, NULL);
	return NULL;
}

static int start(iot_httpd *h, unsigned flags, int fd, iot_error *err)
{
	flags |= MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	unsigned threads = h->inetd ? 1 : (unsigned)h->o.threads;
	/* Signals are the program's: the server threads start with every signal blocked. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	struct MHD_OptionItem ops[12] = {
		{ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, h },
		{ MHD_OPTION_CONNECTION_LIMIT, h->o.max_connections, NULL },
		{ MHD_OPTION_CONNECTION_TIMEOUT, h->o.connection_timeout_s, NULL },
		{ MHD_OPTION_CONNECTION_MEMORY_LIMIT, 16 * 1024, NULL },
		{ MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, h },
		{ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, h },
		{ MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, h },
	};
	size_t n = 7;
	/* One thread: no pool at all (a pool of 0 or 1 is warned about on
	 * every start, which in inetd mode is every connection). */
	if (threads > 1)
		ops[n++] = (struct MHD_OptionItem){ MHD_OPTION_THREAD_POOL_SIZE, threads, NULL };
	/* inetd mode has no listening socket. */
	if (!h->inetd)
		ops[n++] = (struct MHD_OptionItem){ MHD_OPTION_LISTEN_SOCKET, fd, NULL };
	ops[n] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	h->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_access, h, MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!h->mhd)
		return iot_error_set(err, IOT_INTERNAL, "unable to start the HTTP server: %s", strerror(errno));
	return 0;
}

int iot_httpd_serve_listener(iot_httpd *h, int fd, iot_error *err)
{
	h->listen_fd = fd;
	return start(h, 0, fd, err);
}

int iot_httpd_serve_connection(iot_httpd *h, int fd, iot_error *err)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
		return iot_error_set(err, IOT_USAGE, "file descriptor %d is not a connected socket: %s", fd, strerror(errno));
	h->inetd = true;
	h->not_tcp = ss.ss_family != AF_INET && ss.ss_family != AF_INET6;
	if (start(h, MHD_USE_NO_LISTEN_SOCKET, -1, err) < 0)
		return -1;
	if (MHD_add_connection(h->mhd, fd, (struct sockaddr *)&ss, sl) != MHD_YES)
		return iot_error_set(err, IOT_INTERNAL, "unable to serve the connection on fd %d: %s", fd, strerror(errno));
	return 0;
}

bool iot_httpd_done(iot_httpd *h)
{
	return atomic_load(&h->client_gone);
}

int iot_httpd_drain(iot_httpd *h, int timeout_ms)
{
	if (!h->mhd)
		return 0;
	atomic_store(&h->draining, true);
	if (!h->inetd) {
		MHD_socket fd = MHD_quiesce_daemon(h->mhd);
		if (fd != MHD_INVALID_SOCKET) {
			close(fd);
			h->listen_fd = -1;
		}
	}
	long long until = iot_now_ms() + timeout_ms;
	while (atomic_load(&h->m.in_progress) > 0 && iot_now_ms() < until) {
		struct timespec ts = { 0, 10 * 1000000L };
		nanosleep(&ts, NULL);
	}
	int cut = (int)atomic_load(&h->m.in_progress);
	/* Requests still waiting for a commit are answered 503 and let go
	 * (MHD must not stop with a connection suspended). */
	expire_all(h);
	iot__http_streams_wait(h, 3000);
	struct timespec ts = { 0, 100 * 1000000L };
	nanosleep(&ts, NULL);
	MHD_stop_daemon(h->mhd);
	h->mhd = NULL;
	return cut;
}

int iot_httpd_free(iot_httpd *h, iot_error *err)
{
	if (!h)
		return 0;
	if (h->mhd)
		iot_httpd_drain(h, 0);
	if (h->dl_started) {
		pthread_mutex_lock(&h->dl_mu);
		h->dl_stop = true;
		pthread_cond_signal(&h->dl_cv);
		pthread_mutex_unlock(&h->dl_mu);
		pthread_join(h->dl_thread, NULL);
	}
	iot__http_conns_stop(h);
	iot_error e;
	int rc = iot__http_keeper_stop(h, err ? err : &e);
	iot__http_slots_close(h);
	iot__http_broker_close(h);
	if (h->listen_fd >= 0)
		close(h->listen_fd);
	iot__http_metrics_free(&h->m);
	iot__http_web_free(h);
	free(h->rl);
	free(h->proxies);
	pthread_mutex_destroy(&h->dl_mu);
	pthread_cond_destroy(&h->dl_cv);
	pthread_mutex_destroy(&h->rl_mu);
	free(h);
	return rc;
}
