/* http.h — the HTTP API server (libmicrohttpd) behind iot-httpd.
 *
 * One iot_httpd serves one of: a listening socket (made by --listen, or
 * handed over by systemd: fd 3), or one connected socket (inetd mode,
 * or an Accept=yes unit). Requests are dispatched through one route table
 * whose templates ("/api/v1/telemetry/{id}") are also the metrics labels.
 *
 * Threads: libmicrohttpd runs a small pool of polling threads (epoll),
 * each request is handled on one of them; PostgreSQL and Redis lookups go
 * through a pool of iot_auth contexts (one per server thread, each behind
 * a mutex, so none is ever used by two threads at once). Telemetry goes to
 * one shared batch writer: a POST is suspended after its points are
 * submitted and resumed from the writer's callback once the commit that
 * holds them is done, so its 201 never leaves before the points are
 * stored, and concurrent requests share commits (group commit).
 *
 * Failures: when PostgreSQL is unavailable a request is answered 503 with
 * Retry-After, at the latest after commit_timeout_ms; a writer that failed
 * for good is replaced in the background, so service resumes without a
 * restart once PostgreSQL is back.
 *
 * The library never prints: notices (PostgreSQL unavailable, a writer
 * replaced) go through the config's notice hook. */
#ifndef IOT_HTTP_H
#define IOT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "base/error.h"
#include "telemetry/batch.h"

#include <jansson.h>

typedef struct iot_httpd iot_httpd;

typedef struct iot_httpd_opts {
	int threads;                 /* polling threads (default 2) */
	unsigned max_connections;    /* open connections at once (default 1024) */
	unsigned connection_timeout_s; /* idle / slow client limit (default 30) */
	size_t max_body;             /* bytes of a request body (default 1 MiB) */
	size_t max_points;           /* points in one request (default 10000) */
	size_t max_records;          /* records in one batch request (default 1000) */
	int max_depth;               /* JSON nesting (default 32) */
	int commit_timeout_ms;       /* longest a POST waits for its commit (default 5000) */
	int rate_limit;              /* requests per device per rate_window_s; 0 = none (default 1200) */
	int rate_window_s;           /* (default 60) */
	int max_streams;             /* event streams and exports at once (default 32) */
	bool cache;                  /* use Redis (default true; it is optional anyway) */
	const char *web_root;        /* the dashboard's files (web/); NULL or "": none (default NULL) */
	iot_writer_opts writer;      /* the batch writer (flush_ms default 0 here) */
} iot_httpd_opts;

void iot_httpd_opts_default(iot_httpd_opts *o);

/* Connect to PostgreSQL (retrying for db_retry_time), Redis, start the
 * batch writer. cfg must outlive the server; its stop flag ends retries.
 * The metrics token is the config's "metrics_token" setting. */
iot_httpd *iot_httpd_new(const iot_config *cfg, const iot_httpd_opts *o, iot_error *err);

/* Serve on a listening socket (taken over: closed by iot_httpd_free). */
int iot_httpd_serve_listener(iot_httpd *h, int fd, iot_error *err);
/* Serve one connected socket; iot_httpd_done() turns true once the
 * client has gone (inetd mode). */
int iot_httpd_serve_connection(iot_httpd *h, int fd, iot_error *err);
bool iot_httpd_done(iot_httpd *h);

/* Stop accepting connections, let the requests in progress finish (their
 * points commit), for at most timeout_ms; then close every connection.
 * Returns the number of requests cut short (0 normally). */
int iot_httpd_drain(iot_httpd *h, int timeout_ms);
/* Close the writer (flushing it) and free everything. Returns 0, or -1
 * with err when the writer's last batches did not commit. */
int iot_httpd_free(iot_httpd *h, iot_error *err);

/* ---- pure helpers, shared with the fuzz target and the unit tests ---- */

/* Does path match template tmpl ("/a/{id}/b")? {id} matches a positive
 * decimal integer below 2^31 without leading zeros (put into *id); a
 * template whose last character is a star matches any rest of the path
 * (the dashboard's files under /ui/). */
bool iot_http_match_template(const char *tmpl, const char *path, int64_t *id);
/* The same with every {id} in order into ids[0..nids) (those beyond nids
 * are matched, not stored): "/devices/{id}/control/{id}/status". */
bool iot_http_match_ids(const char *tmpl, const char *path, int64_t *ids, size_t nids);

enum iot_http_body { IOT_BODY_JSON, IOT_BODY_NDJSON, IOT_BODY_OTHER, IOT_BODY_MISSING };
/* application/json (or +json), application/x-ndjson (or application/ndjson),
 * parameters (charset=...) ignored, case-insensitive; NULL is missing. */
enum iot_http_body iot_http_content_type(const char *ct);

/* Does an Accept header prefer text/html to application/json? Each takes
 * the q of its most specific element (the type itself, then its kind's
 * wildcard, then the wildcard of all), and HTML must have the higher: a
 * browser's Accept does, curl's wildcard of all and scripts'
 * application/json do not. NULL is false. */
bool iot_http_prefers_html(const char *accept);

/* The records of a telemetry body. A JSON body is one object (one record)
 * or an array (each element a record); an NDJSON body is one record per
 * non-blank line. Each record is given as its bytes, to be decoded on its
 * own. Returns the number of records, or -1 with err (IOT_REJECTED: not
 * one JSON value, more than max_records). *batch says whether the answer
 * is per record (array or NDJSON). Empty bodies and {} [] null give 0. */
typedef int (*iot_http_record_fn)(void *ctx, size_t index, long line, const char *buf, size_t len);
long iot_http_split_records(const char *buf, size_t len, enum iot_http_body kind, int max_depth,
                            size_t max_records, bool *batch, iot_http_record_fn fn, void *ctx,
                            iot_error *err);

/* Query parameters as decoded name/value pairs. */
#define IOT_HTTP_MAX_ARGS 32
typedef struct iot_http_args {
	size_t n;
	struct { const char *name, *value; } a[IOT_HTTP_MAX_ARGS];
	bool truncated;              /* more than IOT_HTTP_MAX_ARGS */
	bool nul;                    /* a pair decoded to a NUL byte (%00), and was dropped */
} iot_http_args;
/* Parse a raw query string (without '?'; NULL for none) into args,
 * decoding %XX and '+' in place in qs (which must be writable). Pairs that
 * decode to a NUL byte are dropped, and args->nul says so: iot-httpd
 * refuses such a request, as a C string would end at the NUL. */
void iot_http_query_parse(char *qs, iot_http_args *args);
const char *iot_http_arg(const iot_http_args *args, const char *name);
/* "true"/"1"/"yes"/"on" and "false"/"0"/"no"/"off", any case; missing is
 * def. Returns 0, or -1 for anything else. */
int iot_http_arg_bool(const iot_http_args *args, const char *name, bool def, bool *out);
/* A secret in the URL: a parameter named api_key, apikey, api-key,
 * x-api-key, key, token, access_token, authorization, bearer or password
 * (any case), or any name or value holding a device key or a person's
 * token (iotf_, iotu_ and 43 base64url characters). Returns what to name
 * in the refusal ("The query parameter %s is refused": the name, or a
 * description, never the text sent), or NULL. Such requests are refused:
 * URLs end up in logs. */
const char *iot_http_args_secret(const iot_http_args *args);

/* A device route's body (register, heartbeat, config, control): one
 * non-empty JSON object, nested at most max_depth levels, no key twice.
 * NULL when it is not, with why (one line, the parser's column and
 * reason) for the 400's message. */
json_t *iot_http_body_object(const char *body, size_t len, int max_depth, char *why, size_t whylen);
/* Member key of a body object as a string: 0 with *out NULL when absent
 * or null, 0 with *out the string, -1 when it is another type or holds a
 * NUL character. */
int iot_http_str_member(const json_t *obj, const char *key, const char **out);

#endif
