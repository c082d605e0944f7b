/* http_telemetry.c — POST /api/v1/telemetry with group commit, and POST
 * /api/v1/devices/telemetry (Flask route 7), which is the same code but
 * for the message of its 201 ("Telemetry data received successfully").
 *
 * The device authenticates with X-API-Key; every record of the body goes
 * through the ingest pipeline (iot_ingest_record) with the key's device as
 * the trusted device, so a record naming another device (device_id, or an
 * api_key of another device) is refused and nothing of it is stored. The
 * request is then suspended; the writer's callbacks (one per record, on a
 * writer thread, after the commit that holds its points) fill in the
 * outcome, and the last one resumes the request. The answer never says
 * stored before the commit did.
 *
 * Checks, in the Flask service's order but with the right statuses:
 *   body over max_body                 413 (before anything is parsed)
 *   Content-Type not JSON / NDJSON     415
 *   empty body, {}, [], null           400 No data provided
 *   a batch's records not told apart   400 Invalid JSON
 *   X-API-Key missing / not valid      401 API key required / Invalid API key
 *   device inactive or maintenance     403 Device inactive (offline is not inactive)
 *   over the device's rate limit       429 with Retry-After
 *   one record: not valid JSON         400 Invalid JSON (after the key: a body is
 *                                      not decoded for a client without one)
 *               data missing           400 Telemetry data is required
 *               bad timestamp          400 Invalid timestamp format. Use ISO 8601 format.
 *               another device's       403 Forbidden: device mismatch
 *               anything else invalid  400 Invalid telemetry data (the reason)
 *   more points than max_points        413 Too many points (nothing stored);
 *   or than the decoder's per record   the same, with its reason (iot-ingest's)
 *   PostgreSQL unavailable             503 with Retry-After, after at most commit_timeout
 *
 * Answers. One record (a JSON object): 201 in the Flask shape
 * {"message","device_id","device_name","timestamp","stored_in_postgres":true}
 * plus "points", "stored", "duplicates" (a replay of stored points is a
 * success: they are in the database). A batch (a JSON array of records, or
 * NDJSON): {"message","device_id","device_name","records","stored",
 * "duplicates","rejected","results":[{"index","status","points"|"error"}]}
 * with status "stored", "duplicate" or "rejected" per record; HTTP 201 when
 * no record was rejected, 207 Multi-Status when some were, 400 when all were
 * (then with "error" first, as every error); "stored_in_postgres" is true
 * when any record is there.
 * 503 says nothing of the request is confirmed: send it again (points with
 * a timestamp of their own are stored once however often they are sent). */
#include "http/http_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json_util.h"
#include "base/parse.h"
#include "telemetry/ingest.h"

#include "http/http_post.h"

void iot__http_post_free(struct post *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		free(p->rec[i].reason);
	free(p->rec);
	free(p);
}

static int collect(void *ctx, size_t index, long line, const char *buf, size_t len)
{
	struct post *p = ctx;
	p->rec[index].buf = buf;
	p->rec[index].len = len;
	p->rec[index].line = line;
	return 0;
}

static void refuse(struct rec *rc, const iot_error *err)
{
	rc->state = R_REFUSED;
	rc->refusal = err->status;
	free(rc->reason);
	rc->reason = strdup(err->msg);
}

/* The writer's outcome of record tag of request ctx (a writer thread). */
static void on_committed(const iot_submit_result *res, void *ctx, uint64_t tag)
{
	struct http_req *r = ctx;
	iot_httpd *h = r->h;
	struct post *p = r->post;
	atomic_fetch_add(&h->m.points_stored, res->stored);
	atomic_fetch_add(&h->m.points_duplicate, res->duplicates);
	atomic_fetch_add(&h->m.points_rejected, res->rejected);
	if (res->status != IOT_OK)
		iot__http_writer_broken(h, p->writer);
	pthread_mutex_lock(&r->mu);
	struct rec *rc = &p->rec[tag];
	if (!r->answered) {
		if (res->status != IOT_OK) {
			rc->state = R_FAILED;
			p->unavailable = true;
		} else {
			rc->state = R_DONE;
			rc->stored = res->stored;
			rc->duplicates = res->duplicates;
			rc->rejected = res->rejected;
			rc->ts_us = res->npoints ? res->points[0].ts_us : 0;
			for (size_t i = 0; i < res->npoints && !rc->reason; i++)
				if (res->outcome[i] == IOT_POINT_REJECTED) {
					char why[IOT_ERRMSG_MAX];
					snprintf(why, sizeof why, "measurement %s: %s", res->points[i].measurement,
					         res->reason[i] ? res->reason[i] : "refused by PostgreSQL");
					rc->reason = strdup(why);
				}
		}
	}
	bool last = --r->pending == 0;
	bool resume = last && !r->answered && r->suspended;
	if (resume)
		r->answered = true;
	pthread_mutex_unlock(&r->mu);
	if (last) {
		iot__http_hist_add(&h->m.commit_wait, iot_now_us() - p->submitted_us);
		atomic_fetch_sub(&h->inflight_bytes, r->reserved_bytes);
		atomic_fetch_sub(&h->inflight_points, r->reserved_points);
	}
	if (resume)
		iot__http_resume(r);
	iot__http_req_unref(r);
}

/* The refusal of a lone record, as the Flask route answered it. */
static void answer_refusal(struct http_req *r, const struct rec *rc)
{
	const char *why = rc->reason ? rc->reason : "refused";
	atomic_fetch_add(&r->h->m.records_refused, 1);
	if (rc->refusal == IOT_DENIED)
		iot__http_error(r, 403, "Forbidden: device mismatch", "%s", why);
	else if (!strcmp(why, "no data"))
		iot__http_error(r, 400, "Telemetry data is required", "The data member must hold at least one measurement");
	else if (!strncmp(why, "timestamp", 9))
		iot__http_error(r, 400, "Invalid timestamp format. Use ISO 8601 format.", "%s", why);
	else if (!strncmp(why, "invalid JSON", 12))
		iot__http_error(r, 400, "Invalid JSON", "%s", why);
	else if (strstr(why, "points in one record, over the limit"))
		iot__http_error(r, 413, "Too many points", "%s", why);
	else if (rc->refusal == IOT_REJECTED)
		iot__http_error(r, 400, "Invalid telemetry data", "%s", why);
	else
		iot__http_error(r, 500, "Internal Server Error", "The record could not be processed");
}

static void unavailable(struct http_req *r, const char *why)
{
	atomic_fetch_add(&r->h->m.unavailable, 1);
	iot__http_retry_after(r, 5);
	iot__http_error(r, 503, "Service Unavailable", "%s: nothing of this request is confirmed stored; send it again", why);
}


static void answer_single(struct http_req *r, struct post *p)
{
	struct rec *rc = &p->rec[0];
	if (rc->state == R_REFUSED) {
		answer_refusal(r, rc);
		return;
	}
	if (rc->stored + rc->duplicates == 0) {
		iot__http_error(r, 400, "Telemetry rejected", "%s", rc->reason ? rc->reason : "refused by PostgreSQL");
		return;
	}
	char ts[40];
	iot_format_timestamp(rc->ts_us, ts, sizeof ts);
	if (!rc->rejected && iot__http_stored_text(r, p, rc, ts))
		return;
	json_t *body = json_pack("{s:s,s:I,s:s,s:s,s:b,s:I,s:I,s:I}",
		"message", p->stored_msg, "device_id", (json_int_t)p->device_id,
		"device_name", p->device_name, "timestamp", ts, "stored_in_postgres", 1,
		"points", (json_int_t)(rc->stored + rc->duplicates + rc->rejected),
		"stored", (json_int_t)rc->stored, "duplicates", (json_int_t)rc->duplicates);
	if (rc->rejected && body) {
		json_object_set_new(body, "rejected", json_integer((json_int_t)rc->rejected));
		json_object_set_new(body, "error", json_string(rc->reason ? rc->reason : "refused by PostgreSQL"));
	}
	iot__http_reply(r, rc->rejected ? 207 : 201, body);
}

static json_t *rec_result(const struct post *p, size_t i)
{
	const struct rec *rc = &p->rec[i];
	json_t *o = json_pack("{s:I,s:s}", "index", (json_int_t)i, "status", iot__http_rec_status(rc));
	if (!o)
		return NULL;
	if (p->batch && rc->line)
		json_object_set_new(o, "line", json_integer(rc->line));
	if (rc->state == R_DONE) {
		json_object_set_new(o, "points", json_integer((json_int_t)(rc->stored + rc->duplicates + rc->rejected)));
		if (rc->duplicates && rc->stored)
			json_object_set_new(o, "duplicates", json_integer((json_int_t)rc->duplicates));
	}
	if (rc->reason)
		json_object_set_new(o, "error", json_string(rc->reason));
	return o;
}

static void answer_batch(struct http_req *r, struct post *p)
{
	struct tally y = { 0 };
	for (size_t i = 0; i < p->n; i++) {
		const char *st = iot__http_rec_status(&p->rec[i]);
		if (!strcmp(st, "stored")) y.stored++;
		else if (!strcmp(st, "duplicate")) y.dup++;
		else y.rej++;
		if (p->rec[i].state == R_REFUSED)
			atomic_fetch_add(&r->h->m.records_refused, 1);
		y.points += p->rec[i].stored;
	}
	/* Every record rejected is an error, in the shape of every error;
	 * stored_in_postgres says whether any record is there now. */
	y.status = y.rej == 0 ? 201 : y.rej == p->n ? 400 : 207;
	y.error = y.rej == p->n ? "Invalid telemetry data" : NULL;
	y.msg = y.rej == 0 ? p->stored_msg
	      : y.rej == p->n ? "No record was stored" : "Some records were stored";
	if (iot__http_batch_text(r, p, &y))
		return;
	json_t *results = json_array(), *body = json_object();
	for (size_t i = 0; i < p->n; i++)
		json_array_append_new(results, rec_result(p, i));
	if (y.error)
		json_object_set_new(body, "error", json_string(y.error));
	json_object_update_new(body, json_pack("{s:s,s:I,s:s,s:b,s:I,s:I,s:I,s:I,s:I,s:o}",
		"message", y.msg, "device_id", (json_int_t)p->device_id, "device_name", p->device_name,
		"stored_in_postgres", y.rej < p->n, "records", (json_int_t)p->n, "stored", (json_int_t)y.stored,
		"duplicates", (json_int_t)y.dup, "rejected", (json_int_t)y.rej, "points_stored", (json_int_t)y.points,
		"results", results));
	iot__http_reply(r, y.status, body);
}

void iot__http_post_answer(struct http_req *r)
{
	struct post *p = r->post;
	pthread_mutex_lock(&r->mu);
	if (r->expired || p->unavailable)
		unavailable(r, r->expired ? "PostgreSQL did not commit in time" : "PostgreSQL is unavailable");
	else if (p->batch)
		answer_batch(r, p);
	else
		answer_single(r, p);
	pthread_mutex_unlock(&r->mu);
}

/* What a body's points may take in the writer's queue, from above: a
 * point costs ~85 bytes there plus its strings (at most the body), and
 * needs at least 5 bytes of body ("a":1). Reserved until the last
 * outcome, so the writer's queue never fills and never blocks a server
 * thread; a request over the bound is answered 503 at once. */
static int reserve(struct http_req *r)
{
	iot_httpd *h = r->h;
	int64_t bytes = 512 + 20 * (int64_t)r->len, points = (int64_t)r->len / 5 + 1;
	if (points > (int64_t)h->o.max_points)
		points = (int64_t)h->o.max_points;
	int64_t b = atomic_fetch_add(&h->inflight_bytes, bytes) + bytes;
	int64_t p = atomic_fetch_add(&h->inflight_points, points) + points;
	if (b > h->max_inflight_bytes || p > h->max_inflight_points) {
		atomic_fetch_sub(&h->inflight_bytes, bytes);
		atomic_fetch_sub(&h->inflight_points, points);
		return -1;
	}
	r->reserved_bytes = bytes;
	r->reserved_points = points;
	return 0;
}

static void unreserve(struct http_req *r)
{
	atomic_fetch_sub(&r->h->inflight_bytes, r->reserved_bytes);
	atomic_fetch_sub(&r->h->inflight_points, r->reserved_points);
}

/* The records of the body into p, or -1 with the answer given. */
static int split(struct http_req *r, struct post *p, enum iot_http_body kind)
{
	iot_httpd *h = r->h;
	iot_error err = { 0 };
	long n = iot_http_split_records(r->body, r->len, kind, h->o.max_depth, h->o.max_records, &p->batch,
	                                NULL, NULL, &err);
	if (n < 0 && strstr(err.msg, "records in one request"))
		iot__http_error(r, 413, "Too many records", "%s", err.msg);
	else if (n < 0)
		iot__http_error(r, 400, "Invalid JSON", "%s", err.msg);
	else if (n == 0)
		iot__http_error(r, 400, "No data provided", "The request body holds no telemetry");
	else if (!(p->rec = calloc((size_t)n, sizeof *p->rec)))
		iot__http_error(r, 500, "Internal Server Error", "out of memory");
	if (n <= 0 || !p->rec)
		return -1;
	p->n = (size_t)n;
	iot_http_split_records(r->body, r->len, kind, h->o.max_depth, h->o.max_records, &p->batch, collect, p, &err);
	return 0;
}

/* Who sends: an active device within its rate, or -1 with the answer given. */
static int sender(struct http_req *r, struct http_slot *s, struct post *p)
{
	iot_device_ref dev;
	if (iot__http_auth_device(r, s, &dev) < 0)
		return -1;
	if (dev.status != IOT_DEVICE_ACTIVE) {
		iot__http_error(r, 403, "Device inactive", "Device is currently %s", iot_device_status_name(dev.status));
		return -1;
	}
	if (iot__http_rate_check(r, s, dev.id) < 0)
		return -1;
	p->device_id = dev.id;
	p->dev = dev;
	iot_error err = { 0 };
	if (iot__http_device_name(s, dev.id, p->device_name, sizeof p->device_name, &err) == 0)
		return 0;
	if (err.status == IOT_UNAVAILABLE)
		unavailable(r, "PostgreSQL is unavailable");
	else
		iot__http_error(r, 401, "Invalid API key", "The provided API key is not valid");
	return -1;
}

/* A batch is validated whole first (nothing stored), so that a request
 * over max_points stores nothing. Returns 0 to go on, -1 answered. */
static int validate(struct http_req *r, struct post *p, const iot_ingest *in, const iot_resolve_opts *trust)
{
	size_t total = 0, refused = 0;
	for (size_t i = 0; i < p->n; i++) {
		iot_error err = { 0 };
		size_t np = 0;
		switch (iot_ingest_record(in, p->rec[i].buf, p->rec[i].len, trust, NULL, NULL, 0, &np, &err)) {
		case IOT_INGEST_REFUSED:
			refuse(&p->rec[i], &err);
			refused++;
			break;
		case IOT_INGEST_FAILED:
			if (err.status == IOT_UNAVAILABLE)
				unavailable(r, "PostgreSQL is unavailable");
			else
				iot__http_error(r, 500, "Internal Server Error", "The records could not be processed");
			return -1;
		case IOT_INGEST_SUBMITTED:
			total += np;
			break;
		}
	}
	if (total > r->h->o.max_points) {
		iot__http_error(r, 413, "Too many points", "%zu points in one request, over the limit of %zu",
		                total, r->h->o.max_points);
		return -1;
	}
	if (refused == p->n) {
		answer_batch(r, p);
		return -1;
	}
	return 0;
}

/* Hand every record that is not refused to the writer (r->mu held). */
static void submit(struct http_req *r, struct post *p, const iot_ingest *in, const iot_resolve_opts *trust)
{
	for (size_t i = 0; i < p->n && !p->unavailable; i++) {
		struct rec *rc = &p->rec[i];
		if (rc->state == R_REFUSED)
			continue;
		iot_error err = { 0 };
		atomic_fetch_add(&r->refs, 1);
		r->pending++;
		rc->state = R_PENDING;
		enum iot_ingest_result res = iot_ingest_record(in, rc->buf, rc->len, trust, on_committed, r, i,
		                                               &rc->points, &err);
		if (res == IOT_INGEST_SUBMITTED)
			continue;
		r->pending--;
		atomic_fetch_sub(&r->refs, 1); /* never the last: the connection holds one */
		if (res == IOT_INGEST_REFUSED) {
			refuse(rc, &err);
		} else {
			rc->state = R_FAILED;
			p->unavailable = true;
			iot__http_writer_broken(r->h, p->writer);
		}
	}
}

/* Both telemetry POST routes: the same checks, decoder and group commit;
 * only the message of a 201 is the route's own (the Flask one's). */
static void post_telemetry(struct http_req *r, const char *stored_msg)
{
	iot_httpd *h = r->h;
	enum iot_http_body kind = iot_http_content_type(iot__http_get_header(r, MHD_HTTP_HEADER_CONTENT_TYPE));
	if (r->len == 0) {
		iot__http_error(r, 400, "No data provided", "The request body is empty");
		return;
	}
	if (kind != IOT_BODY_JSON && kind != IOT_BODY_NDJSON) {
		iot__http_error(r, 415, "Unsupported Media Type", "Content-Type must be application/json or application/x-ndjson");
		return;
	}
	struct post *p = calloc(1, sizeof *p);
	if (!(r->post = p)) {
		iot__http_error(r, 500, "Internal Server Error", "out of memory");
		return;
	}
	p->stored_msg = stored_msg;
	if (split(r, p, kind) < 0)
		return;
	struct http_slot *s = iot__http_slot_get(h);
	iot_decode_opts dec;
	iot_decode_opts_default(&dec);
	dec.max_bytes = h->o.max_body;
	/* A record's limit is the decoder's, as for iot-ingest (its REJECTION
	 * REASONS apply); --max-points bounds the request, so a lower one
	 * bounds a lone record too. */
	if (dec.max_points > h->o.max_points)
		dec.max_points = h->o.max_points;
	dec.max_future_us = iot_config_get_long(h->cfg, "max_future") * 1000000LL;
	/* The Flask service took Python's isoformat() of a naive datetime
	 * (utcnow()), and the read routes take such times as UTC too. */
	dec.naive_utc = true;
	dec.max_depth = p->batch && kind == IOT_BODY_JSON ? h->o.max_depth - 1 : h->o.max_depth;
	iot_resolve_opts trust = { 0 };
	iot_ingest in = { .decode = &dec, .auth = s->auth, .writer = NULL };
	if (sender(r, s, p) < 0)
		goto out;
	trust.trusted_device = p->device_id;
	trust.trusted_ref = &p->dev;
	if (p->batch && validate(r, p, &in, &trust) < 0)
		goto out;
	if (reserve(r) < 0) {
		iot__http_retry_after(r, 1);
		iot__http_error(r, 503, "Service Unavailable", "The server is busy storing other requests; try again shortly");
		goto out;
	}
	if (!(p->writer = in.writer = iot__http_writer_get(h))) {
		unreserve(r);
		unavailable(r, "PostgreSQL is unavailable");
		goto out;
	}
	p->submitted_us = iot_now_us();
	pthread_mutex_lock(&r->mu);
	submit(r, p, &in, &trust);
	iot__http_writer_put(h);
	if (r->pending) {
		iot__http_suspend(r);
		pthread_mutex_unlock(&r->mu);
		goto out;
	}
	pthread_mutex_unlock(&r->mu);
	unreserve(r);
	if (p->unavailable)
		unavailable(r, "PostgreSQL is unavailable");
	else if (p->batch)
		answer_batch(r, p);
	else
		answer_single(r, p);
out:
	iot__http_slot_put(s);
}

void iot__http_telemetry_post(struct http_req *r)
{
	post_telemetry(r, "Telemetry data stored successfully");
}

/* Flask route 7: the device-key route, which wrote to IoTDB there (compat
 * B14); here it stores as the route above does, in PostgreSQL. */
void iot__http_dev_telemetry_post(struct http_req *r)
{
	post_telemetry(r, "Telemetry data received successfully");
}
