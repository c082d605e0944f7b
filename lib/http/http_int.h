/* http_int.h — what the files of lib/http share: the server, a request,
 * the route table, the backend slots, the writer keeper, metrics. Not
 * part of the public API. */
#ifndef IOT_HTTP_INT_H
#define IOT_HTTP_INT_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

#include "auth/auth.h"
#include "base/clock.h"
#include "cache/cache.h"
#include "http/http.h"
#include "pg/db.h"
#include "telemetry/batch.h"

/* ---- routes (http_routes.c) ---- */

enum { HM_GET = 1, HM_HEAD = 2, HM_POST = 4, HM_PUT = 8, HM_DELETE = 16, HM_OPTIONS = 32, HM_OTHER = 64 };
#define HTTP_NMETHODS 7

struct http_req;
typedef void (*http_handler)(struct http_req *r);

struct http_route {
	const char *tmpl;            /* dispatch and the metrics label */
	struct { unsigned method; http_handler fn; bool body; } on[3];
};

extern const struct http_route iot__http_routes[];
extern const size_t iot__http_nroutes;   /* label index nroutes = "unmatched" */

/* ---- backend slots (http_auth.c) ---- */

#define HTTP_NAME_CACHE 256
struct http_slot {
	pthread_mutex_t mu;
	iot_db *db;
	iot_cache *cache;
	iot_auth *auth;
	struct { int64_t id; long long until_ms; char name[404]; } names[HTTP_NAME_CACHE];
};

/* ---- the writer keeper (http_writer.c) ---- */

struct http_keeper {
	pthread_rwlock_t lk;         /* readers submit; the keeper swaps writers */
	iot_writer *w;               /* NULL while being replaced */
	iot_writer *current;         /* w, as the keeper knows it (under mu) */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool broken, stopping, started, inited;
	pthread_t thread;
	_Atomic uint64_t replaced;
};

/* ---- metrics (http_metrics.c) ---- */

#define HTTP_NSTATUS 23
#define HTTP_NBUCKETS 14
struct http_hist {
	_Atomic uint64_t bucket[HTTP_NBUCKETS];  /* cumulative on output only */
	_Atomic uint64_t count, sum_us;
};

struct http_metrics {
	_Atomic uint64_t (*requests)[HTTP_NMETHODS][HTTP_NSTATUS];   /* [route] */
	struct http_hist *latency;                                   /* [route] */
	struct http_hist commit_wait;
	_Atomic uint64_t points_stored, points_duplicate, points_rejected, records_refused;
	_Atomic uint64_t rate_limited, unavailable, timed_out;
	_Atomic int64_t open_connections, in_progress, suspended;
};

/* ---- the server ---- */

struct iot_httpd {
	const iot_config *cfg;
	iot_httpd_opts o;
	struct MHD_Daemon *mhd;
	int listen_fd;
	bool inetd;
	bool not_tcp;                /* inetd: the connection is no TCP socket (socat's socketpair) */
	atomic_bool client_gone;     /* inetd: the one connection closed */
	atomic_bool draining;
	struct http_slot *slots;
	int nslots;
	atomic_uint next_slot;
	struct http_keeper keeper;
	/* suspended requests, oldest deadline first (one budget: append order) */
	pthread_mutex_t dl_mu;
	pthread_cond_t dl_cv;
	struct http_req *dl_head, *dl_tail;
	bool dl_stop, dl_started;
	pthread_t dl_thread;
	/* what suspended requests may hold in the writer's queue */
	_Atomic int64_t inflight_bytes, inflight_points;
	int64_t max_inflight_bytes, max_inflight_points;
	/* the in-process rate limiter (Redis down) */
	pthread_mutex_t rl_mu;
	struct { int64_t id; long long window; int count; } *rl;
	struct http_metrics m;
	/* event streams and exports running, and the streams' threads (http_stream.h) */
	atomic_int streams, stream_threads;
	const char *metrics_token;   /* the config's; NULL: /metrics is open */
	struct http_net *proxies;    /* trusted_proxies (client_addr.c) */
	size_t nproxies;
	struct iot_publisher *pub;   /* the broker (http_mqtt.c); NULL: mqtt_url not set */
	struct http_web *web;        /* the dashboard's files (http_web.c); NULL: off */
	/* open connections and their deadlines (http_conn.c) */
	pthread_mutex_t conns_mu;
	pthread_cond_t conns_cv;
	struct http_conn *conns;
	bool conns_init, conns_started, conns_stop;
	pthread_t conns_thread;
};

struct post;

struct http_req {
	iot_httpd *h;
	struct MHD_Connection *conn;
	size_t route;                /* index into the table; iot__http_nroutes: unmatched */
	int entry;                   /* which of the route's handlers */
	unsigned method;
	int64_t id;                  /* the path's {id} */
	int64_t ids[2];              /* its first two {id}s: /devices/{id}/control/{id}/status */
	char *path;                  /* the path, for a route ending in a star only (the dashboard's files) */
	char *query;                 /* the query string as sent (args point into it), or NULL */
	bool began;                  /* the handler has seen it (on_access's first call) */
	bool nul_in_path;            /* the path as sent holds %00 */
	long long start_us;
	int status;                  /* what was answered, for the metrics */
	bool queued;
	struct MHD_Response *resp;   /* prepared, not yet queued */
	int resp_status;
	/* body */
	char *body;
	size_t len, cap, discarded;
	bool too_big, dispatched;
	iot_http_args args;
	/* asynchronous answers (suspended until the writer's callbacks are in) */
	pthread_mutex_t mu;
	atomic_int refs;
	size_t pending;              /* submissions without an outcome yet */
	bool suspended, answered, expired;
	long long deadline_ms;
	struct http_req *dl_prev, *dl_next;
	bool on_dl;
	int64_t reserved_bytes, reserved_points;
	struct post *post;
};

/* server.c */
void iot__http_req_unref(struct http_req *r);
/* Suspend r (called with r->mu held) until iot__http_answer. */
void iot__http_suspend(struct http_req *r);
/* The writer callbacks are all in, or the deadline passed: resume r
 * (r->answered just set by the caller, under r->mu, then released). */
void iot__http_resume(struct http_req *r);

/* reply.c */
void iot__http_reply(struct http_req *r, int status, json_t *body);   /* steals body */
/* With json_dumps flags of its own (JSON_REAL_PRECISION for measured times). */
void iot__http_error(struct http_req *r, int status, const char *error, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void iot__http_reply_text(struct http_req *r, int status, const char *ctype, char *text, size_t len); /* takes text */
void iot__http_header(struct http_req *r, const char *name, const char *value);
void iot__http_retry_after(struct http_req *r, int seconds);
const char *iot__http_get_header(struct http_req *r, const char *name);
/* A request framed or authenticated ambiguously (a header twice,
 * Content-Length beside Transfer-Encoding, a transfer coding other than
 * chunked): true with the answer given, the connection to be closed. */
bool iot__http_bad_framing(struct http_req *r);

/* http_conn.c: a connection's request is due within --timeout; one past its
 * deadline is shut down. opened/closed from the connection notification,
 * due(true) when a request's headers are in or the answer before it sent,
 * due(false) while a request is being handled. */
int iot__http_conns_start(iot_httpd *h, iot_error *err);
void iot__http_conns_stop(iot_httpd *h);
void iot__http_conn_opened(iot_httpd *h, struct MHD_Connection *c, void **socket_context);
void iot__http_conn_closed(iot_httpd *h, void **socket_context);
void iot__http_conn_due(iot_httpd *h, struct MHD_Connection *c, bool due);
/* A credential header (X-API-Key, Authorization) without the optional
 * whitespace around its value (RFC 9110 §5.5: a client or proxy may leave
 * a space or tab at the end), copied into buf; NULL when absent. */
#define HTTP_CREDENTIAL_MAX 512
const char *iot__http_credential(struct http_req *r, const char *name, char buf[static HTTP_CREDENTIAL_MAX]);

/* client_addr.c: trusted_proxies (addresses and ADDRESS/PREFIX, separated
 * by commas or spaces) into h; 0, or -1 with a usage error. The client's
 * address as text ("unknown" and false when a trusted proxy did not say),
 * and whether it is a loopback one. */
int iot__http_proxies_parse(iot_httpd *h, const char *list, iot_error *err);
bool iot__http_client_addr(struct http_req *r, char *text, size_t size);
bool iot__http_client_loopback(struct http_req *r);

/* http_auth.c */
int iot__http_slots_open(iot_httpd *h, iot_error *err);
void iot__http_slots_close(iot_httpd *h);
struct http_slot *iot__http_slot_get(iot_httpd *h);
void iot__http_slot_put(struct http_slot *s);
/* X-API-Key: 0 and *dev, or -1 with the answer already given (401, 503). */
int iot__http_auth_device(struct http_req *r, struct http_slot *s, iot_device_ref *dev);
/* Authorization: Bearer TOKEN, or "admin TOKEN" (an admin's token only).
 * 0 and *u, or -1 with the answer given (401, 403, 503). With admin, a
 * device key (X-API-Key) is 403: the route is for admins only. */
int iot__http_auth_person(struct http_req *r, struct http_slot *s, bool admin, iot_user_ref *u);
int iot__http_device_name(struct http_slot *s, int64_t id, char *out, size_t size, iot_error *err);
/* What let a long request in (an event stream), to be checked again while
 * it runs: revoking the key or token, disabling the person, making the
 * device inactive or taking an admin's flag ends it (http_stream.c). The
 * secret is kept in memory for that, never written anywhere, and wiped by
 * iot__http_grant_wipe. */
struct http_grant {
	char secret[HTTP_CREDENTIAL_MAX];
	bool device;                 /* X-API-Key; otherwise a person's token */
	int64_t who;                 /* that device's id, or that person's */
	bool admin;                  /* the person was an admin */
};
/* r's credential (X-API-Key wins, as for the read routes) into g->secret,
 * after it was checked; the caller sets who and admin. */
void iot__http_grant_take(struct http_req *r, struct http_grant *g);
/* 0 while the grant holds, or -1 with err: IOT_DENIED (no longer, the
 * message says why) or IOT_UNAVAILABLE. Not counted as a use. */
int iot__http_grant_check(struct http_slot *s, const struct http_grant *g, iot_error *err);
void iot__http_grant_wipe(struct http_grant *g);
/* 0 allowed, or -1 with the 429 given. */
int iot__http_rate_check(struct http_req *r, struct http_slot *s, int64_t device_id);

/* http_writer.c */
int iot__http_keeper_start(iot_httpd *h, iot_error *err);
int iot__http_keeper_stop(iot_httpd *h, iot_error *err);
iot_writer *iot__http_writer_get(iot_httpd *h);    /* NULL: none now (not held) */
void iot__http_writer_put(iot_httpd *h);
void iot__http_writer_broken(iot_httpd *h, iot_writer *w); /* any thread; w failed */

/* http_metrics.c */
int iot__http_metrics_init(struct http_metrics *m);
void iot__http_metrics_free(struct http_metrics *m);
void iot__http_metrics_request(struct http_metrics *m, size_t route, unsigned method, int status, long long us);
void iot__http_hist_add(struct http_hist *hst, long long us);

/* http_web.c: the dashboard's files, read once at start (a notice and
 * none when the web root lacks one) */
void iot__http_web_load(iot_httpd *h);
void iot__http_web_free(iot_httpd *h);
/* GET / from a browser: the page (true), else false (the JSON index). */
bool iot__http_web_index(struct http_req *r);
void iot__http_web_asset(struct http_req *r);

/* handlers */
void iot__http_root(struct http_req *r);
void iot__http_health(struct http_req *r);
void iot__http_status(struct http_req *r);
void iot__http_metrics_page(struct http_req *r);
void iot__http_telemetry_post(struct http_req *r);
/* POST|GET /api/v1/devices/telemetry (Flask routes 7, 8): the device by its key */
void iot__http_dev_telemetry_post(struct http_req *r);
void iot__http_dev_telemetry_get(struct http_req *r);
/* http_read.c: the telemetry read routes */
void iot__http_telemetry_range(struct http_req *r);
void iot__http_telemetry_latest(struct http_req *r);
void iot__http_telemetry_aggregated(struct http_req *r);
void iot__http_telemetry_delete(struct http_req *r);
void iot__http_telemetry_status(struct http_req *r);
void iot__http_telemetry_user(struct http_req *r);
/* http_mqtt.c: the server's one broker connection (background publisher). */
int iot__http_broker_open(iot_httpd *h, iot_error *err);
void iot__http_broker_close(iot_httpd *h);
/* http_charts.c: the dashboard's chart routes over lib/chart */
void iot__http_charts_list(struct http_req *r);
void iot__http_charts_create(struct http_req *r);
void iot__http_chart_get(struct http_req *r);
void iot__http_chart_update(struct http_req *r);
void iot__http_chart_delete(struct http_req *r);
void iot__http_chart_duplicate(struct http_req *r);
void iot__http_chart_data(struct http_req *r);
void iot__http_chart_render(struct http_req *r);
/* The answer of a resumed POST (on its connection's thread). */
void iot__http_post_answer(struct http_req *r);
void iot__http_post_free(struct post *p);

#endif
