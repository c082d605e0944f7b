/* http_metrics.c — GET /metrics in the Prometheus text format (0.0.4):
 * requests by method, route template (never the raw path: one series per
 * route, however many device ids there are) and status; latency
 * histograms; the time requests waited for their commit; points; the
 * batch writer's own counters; open connections.
 *
 * When the metrics_token setting is set, /metrics needs
 * "Authorization: Bearer <metrics_token>" (or an admin's API token).
 * Without it, a client on a loopback address (a Prometheus on the same
 * host) needs nothing, and any other an admin's API token: metrics are
 * never open to the network by default. Behind a trusted proxy the client
 * is the one it forwards (client_addr.c). */
#include "http/http_int.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every status iot-httpd answers; the one after the last 0 stands for any other. */
static const int statuses[HTTP_NSTATUS] = { 200, 201, 204, 207, 304, 400, 401, 403, 404, 405, 408, 409,
                                            410, 413, 415, 429, 431, 499, 500, 501, 503, 0, 0 };
static const char *const method_names[HTTP_NMETHODS] = { "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "other" };
/* Upper bounds in microseconds: 0.5 ms .. 10 s. */
static const uint64_t bounds_us[HTTP_NBUCKETS] = { 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,
                                                     250000, 500000, 1000000, 2500000, 5000000, 10000000 };

int iot__http_metrics_init(struct http_metrics *m)
{
	size_t n = iot__http_nroutes + 1;
	m->requests = calloc(n, sizeof *m->requests);
	m->latency = calloc(n, sizeof *m->latency);
	return m->requests && m->latency ? 0 : -1;
}

void iot__http_metrics_free(struct http_metrics *m)
{
	free(m->requests);
	free(m->latency);
}

static int status_index(int status)
{
	for (int i = 0; i < HTTP_NSTATUS && statuses[i]; i++)
		if (statuses[i] == status)
			return i;
	return HTTP_NSTATUS - 1; /* "other": its status label is shown as 0 */
}

static int method_index(unsigned method)
{
	for (int i = 0; i < HTTP_NMETHODS; i++)
		if (method == 1u << i)
			return i;
	return HTTP_NMETHODS - 1;
}

void iot__http_hist_add(struct http_hist *hst, long long us)
{
	iot_hist_observe(hst->bucket, bounds_us, HTTP_NBUCKETS, &hst->count, &hst->sum_us, us < 0 ? 0 : (uint64_t)us);
}

void iot__http_metrics_request(struct http_metrics *m, size_t route, unsigned method, int status, long long us)
{
	atomic_fetch_add_explicit(&m->requests[route][method_index(method)][status_index(status)], 1,
	                          memory_order_relaxed);
	iot__http_hist_add(&m->latency[route], us);
}

static const char *route_label(size_t i)
{
	return i < iot__http_nroutes ? iot__http_routes[i].tmpl : "unmatched";
}

static void write_hist(FILE *f, const char *name, const char *labels, const struct http_hist *hst)
{
	iot_hist_write(f, name, labels, bounds_us, HTTP_NBUCKETS, 1e-6, hst->bucket, &hst->count, &hst->sum_us);
}

static void write_requests(FILE *f, const struct http_metrics *m)
{
	fputs("# HELP iotflow_http_requests_total HTTP requests answered, by method, route template and status.\n"
	      "# TYPE iotflow_http_requests_total counter\n", f);
	for (size_t r = 0; r <= iot__http_nroutes; r++)
		for (int k = 0; k < HTTP_NMETHODS; k++)
			for (int s = 0; s < HTTP_NSTATUS; s++) {
				uint64_t v = atomic_load(&m->requests[r][k][s]);
				if (v)
					fprintf(f, "iotflow_http_requests_total{method=\"%s\",route=\"%s\",status=\"%d\"} %" PRIu64 "\n",
					        method_names[k], route_label(r), statuses[s], v);
			}
	fputs("# HELP iotflow_http_request_duration_seconds Time from a request's headers to its answer.\n"
	      "# TYPE iotflow_http_request_duration_seconds histogram\n", f);
	for (size_t r = 0; r <= iot__http_nroutes; r++) {
		if (!atomic_load(&m->latency[r].count))
			continue;
		char labels[160];
		snprintf(labels, sizeof labels, "route=\"%s\"", route_label(r));
		write_hist(f, "iotflow_http_request_duration_seconds", labels, &m->latency[r]);
	}
	fputs("# HELP iotflow_http_commit_wait_seconds Time a telemetry request waited for the commit of its points.\n"
	      "# TYPE iotflow_http_commit_wait_seconds histogram\n", f);
	write_hist(f, "iotflow_http_commit_wait_seconds", "", &m->commit_wait);
}

static void write_one(FILE *f, const char *name, const char *type, const char *help, double v)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

/* The writer's counters, in base units (its batch time is counted in ms). */
static void write_writer(FILE *f, iot_httpd *h)
{
	iot_writer *w = iot__http_writer_get(h);
	write_one(f, "iotflow_http_writer_up", "gauge", "1 while a batch writer is storing telemetry.", w ? 1 : 0);
	write_one(f, "iotflow_http_writer_replacements_total", "counter", "Batch writers replaced after failing.",
	          (double)atomic_load(&h->keeper.replaced));
	if (!w)
		return;
	iot_writer_metrics_write(f, w);
	iot__http_writer_put(h);
}

/* Device lookups of the backend slots, by where they were answered. */
static void write_auth(FILE *f, iot_httpd *h)
{
	iot_auth_stats sum = { 0 };
	for (int i = 0; i < h->nslots; i++) {
		if (!h->slots[i].auth)
			continue;
		iot_auth_stats st;
		iot_auth_get_stats(h->slots[i].auth, &st);
		sum.memory += st.memory;
		sum.redis += st.redis;
		sum.database += st.database;
		sum.unknown += st.unknown;
	}
	fputs("# HELP iotflow_auth_lookups_total Device key and device id lookups, by where they were answered"
	      " (unknown: remembered as not found).\n# TYPE iotflow_auth_lookups_total counter\n", f);
	fprintf(f, "iotflow_auth_lookups_total{source=\"memory\"} %" PRIu64 "\n", sum.memory);
	fprintf(f, "iotflow_auth_lookups_total{source=\"redis\"} %" PRIu64 "\n", sum.redis);
	fprintf(f, "iotflow_auth_lookups_total{source=\"database\"} %" PRIu64 "\n", sum.database);
	fprintf(f, "iotflow_auth_lookups_total{source=\"unknown\"} %" PRIu64 "\n", sum.unknown);
}

static void write_all(FILE *f, iot_httpd *h)
{
	const struct http_metrics *m = &h->m;
	write_requests(f, m);
	write_one(f, "iotflow_http_points_stored_total", "counter", "Points stored for HTTP requests.",
	          (double)atomic_load(&m->points_stored));
	write_one(f, "iotflow_http_points_duplicate_total", "counter", "Points of HTTP requests already stored.",
	          (double)atomic_load(&m->points_duplicate));
	write_one(f, "iotflow_http_points_rejected_total", "counter", "Points of HTTP requests PostgreSQL refused.",
	          (double)atomic_load(&m->points_rejected));
	write_one(f, "iotflow_http_records_refused_total", "counter", "Records refused before storing (invalid, wrong device).",
	          (double)atomic_load(&m->records_refused));
	write_one(f, "iotflow_http_rate_limited_total", "counter", "Requests refused by the per-device rate limit.",
	          (double)atomic_load(&m->rate_limited));
	write_one(f, "iotflow_http_unavailable_total", "counter", "Requests answered 503 because PostgreSQL was unavailable.",
	          (double)atomic_load(&m->unavailable));
	write_one(f, "iotflow_http_commit_timeouts_total", "counter", "Requests answered 503 after waiting commit_timeout for their commit.",
	          (double)atomic_load(&m->timed_out));
	write_one(f, "iotflow_http_open_connections", "gauge", "Open HTTP connections.",
	          (double)atomic_load(&m->open_connections));
	write_one(f, "iotflow_http_requests_in_progress", "gauge", "Requests being read, handled or answered.",
	          (double)atomic_load(&m->in_progress));
	write_one(f, "iotflow_http_requests_waiting_commit", "gauge", "Requests suspended until their points commit.",
	          (double)atomic_load(&m->suspended));
	write_auth(f, h);
	write_writer(f, h);
}

static bool token_ok(iot_httpd *h, const char *auth)
{
	if (!auth || strncasecmp(auth, "Bearer ", 7))
		return false;
	const char *t = auth + 7 + strspn(auth + 7, " \t");
	size_t a = strlen(t), b = strlen(h->metrics_token);
	return a == b && sodium_memcmp(t, h->metrics_token, a) == 0;
}

void iot__http_metrics_page(struct http_req *r)
{
	iot_httpd *h = r->h;
	char buf[HTTP_CREDENTIAL_MAX];
	bool open = h->metrics_token ? token_ok(h, iot__http_credential(r, MHD_HTTP_HEADER_AUTHORIZATION, buf))
	                             : iot__http_client_loopback(r);
	if (!open) {
		/* Not the metrics token, or not from this host: an admin's API token will do. */
		iot_user_ref u;
		struct http_slot *s = iot__http_slot_get(h);
		int rc = iot__http_auth_person(r, s, true, &u);
		iot__http_slot_put(s);
		if (rc < 0)
			return;
	}
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f) {
		iot__http_error(r, 500, "Internal Server Error", "out of memory");
		return;
	}
	write_all(f, h);
	if (fclose(f) != 0) {
		free(text);
		iot__http_error(r, 500, "Internal Server Error", "out of memory");
		return;
	}
	iot__http_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}
