/* http_auth.c — who is asking: the pool of backend slots (one iot_auth,
 * PostgreSQL session and Redis handle each, behind a mutex), device keys
 * (X-API-Key), people's tokens (Authorization: Bearer, or the Flask form
 * "admin TOKEN" for admins), device names for answers, and the per-device
 * rate limit. */
#include "http/http_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Lookups made while serving a request may wait this long for PostgreSQL
 * (reconnecting included) before the request is answered 503. */
#define SLOT_DB_RETRY_MS 1000
/* At the exit, the keys' and tokens' usage counts wait at most this long
 * for a PostgreSQL that no longer answers (a frozen host): they are not
 * worth outliving the service manager's stop timeout for. */
#define SLOT_LAST_FLUSH_MS 2000
#define NAME_TTL_MS 60000

int iot__http_slots_open(iot_httpd *h, iot_error *err)
{
	h->nslots = h->o.threads > 0 ? h->o.threads : 1;
	if (!(h->slots = calloc((size_t)h->nslots, sizeof *h->slots)))
		return iot_error_set(err, IOT_INTERNAL, "out of memory");
	for (int i = 0; i < h->nslots; i++) {
		struct http_slot *s = &h->slots[i];
		pthread_mutex_init(&s->mu, NULL);
		if (!(s->db = iot_db_connect(h->cfg, err)))
			return -1;
		iot_db_set_retry_time(s->db, SLOT_DB_RETRY_MS);
		if (h->o.cache && !(s->cache = iot_cache_connect(h->cfg, err)))
			return -1;
		if (!(s->auth = iot_auth_new(h->cfg, s->db, s->cache, err)))
			return -1;
	}
	return 0;
}

void iot__http_slots_close(iot_httpd *h)
{
	for (int i = 0; h->slots && i < h->nslots; i++) {
		struct http_slot *s = &h->slots[i];
		iot_error err;
		if (s->db)
			iot_db_set_answer_time(s->db, SLOT_LAST_FLUSH_MS);
		if (s->auth)
			iot_auth_flush_usage(s->auth, &err);
		iot_auth_free(s->auth);
		iot_cache_free(s->cache);
		iot_db_close(s->db);
		pthread_mutex_destroy(&s->mu);
	}
	free(h->slots);
	h->slots = NULL;
}

/* Each server thread keeps to one slot; the mutex only matters when there
 * are more threads than slots. */
static _Thread_local int my_slot = -1;

struct http_slot *iot__http_slot_get(iot_httpd *h)
{
	if (my_slot < 0 || my_slot >= h->nslots)
		my_slot = (int)(atomic_fetch_add(&h->next_slot, 1) % (unsigned)h->nslots);
	struct http_slot *s = &h->slots[my_slot];
	pthread_mutex_lock(&s->mu);
	return s;
}

void iot__http_slot_put(struct http_slot *s)
{
	pthread_mutex_unlock(&s->mu);
}

static void unavailable(struct http_req *r)
{
	atomic_fetch_add(&r->h->m.unavailable, 1);
	iot__http_retry_after(r, 5);
	iot__http_error(r, 503, "Service Unavailable", "The database is unavailable; try again shortly");
}

int iot__http_auth_device(struct http_req *r, struct http_slot *s, iot_device_ref *dev)
{
	char buf[HTTP_CREDENTIAL_MAX];
	const char *key = iot__http_credential(r, "X-API-Key", buf);
	if (!key || !*key) {
		iot__http_error(r, 401, "API key required", "Please provide API key in X-API-Key header");
		return -1;
	}
	iot_error err = { 0 };
	if (iot_auth_device_key(s->auth, key, dev, &err) == 0)
		return 0;
	if (err.status == IOT_DENIED)
		iot__http_error(r, 401, "Invalid API key", "The provided API key is not valid");
	else if (err.status == IOT_UNAVAILABLE)
		unavailable(r);
	else
		iot__http_error(r, 500, "Internal Server Error", "The API key could not be checked");
	return -1;
}

int iot__http_auth_person(struct http_req *r, struct http_slot *s, bool admin, iot_user_ref *u)
{
	/* A device is authenticated, just not allowed here: 403, on every
	 * route for people only (admin, broker, metrics). */
	if (admin && iot__http_get_header(r, "X-API-Key")) {
		iot__http_error(r, 403, "Forbidden", "This needs an admin's token; a device key is not one");
		return -1;
	}
	char buf[HTTP_CREDENTIAL_MAX];
	const char *a = iot__http_credential(r, MHD_HTTP_HEADER_AUTHORIZATION, buf);
	bool admin_form = a && !strncmp(a, "admin ", 6);
	bool bearer = a && !strncasecmp(a, "Bearer ", 7);
	if (!admin_form && !bearer) {
		iot__http_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"IoTFlow\"");
		iot__http_error(r, 401, "Authentication required",
		                a ? "Unsupported authorization scheme: send Authorization: Bearer <token>"
		                  : "Send Authorization: Bearer <token> (iot-user token create)");
		return -1;
	}
	const char *token = a + (admin_form ? 6 : 7);
	token += strspn(token, " \t");
	iot_error err = { 0 };
	if (iot_auth_user_token(s->auth, token, u, &err) < 0) {
		if (err.status == IOT_UNAVAILABLE) {
			unavailable(r);
		} else if (err.status != IOT_DENIED) {
			iot__http_error(r, 500, "Internal Server Error", "The token could not be checked");
		} else if (admin_form) {
			iot__http_error(r, 403, "Invalid admin token", "The token is not a valid admin's token");
		} else {
			iot__http_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"IoTFlow\", error=\"invalid_token\"");
			iot__http_error(r, 401, "Invalid API token", "The provided token is not valid");
		}
		return -1;
	}
	/* The Flask scheme "admin TOKEN" is an admin's scheme: a person's
	 * ordinary token is not an admin token by being sent that way. */
	if ((admin || admin_form) && !u->is_admin) {
		iot__http_error(r, 403, admin_form ? "Invalid admin token" : "Forbidden",
		                "This needs an admin's token");
		return -1;
	}
	return 0;
}

void iot__http_grant_take(struct http_req *r, struct http_grant *g)
{
	char buf[HTTP_CREDENTIAL_MAX];
	const char *v = iot__http_credential(r, "X-API-Key", buf);
	g->device = v != NULL;
	if (!v && (v = iot__http_credential(r, MHD_HTTP_HEADER_AUTHORIZATION, buf))) {
		v += !strncmp(v, "admin ", 6) ? 6 : !strncasecmp(v, "Bearer ", 7) ? 7 : strlen(v);
		v += strspn(v, " \t");
	}
	snprintf(g->secret, sizeof g->secret, "%s", v ? v : "");
	explicit_bzero(buf, sizeof buf);
}

int iot__http_grant_check(struct http_slot *s, const struct http_grant *g, iot_error *err)
{
	if (g->device) {
		iot_device_ref dev;
		if (iot_auth_device_key_check(s->auth, g->secret, &dev, err) < 0)
			return err->status == IOT_DENIED ? iot_error_set(err, IOT_DENIED, "the API key is no longer valid") : -1;
		if (dev.id != g->who || dev.status != IOT_DEVICE_ACTIVE)
			return iot_error_set(err, IOT_DENIED, "the device is no longer active");
		return 0;
	}
	iot_user_ref u;
	if (iot_auth_user_token_check(s->auth, g->secret, &u, err) < 0)
		return err->status == IOT_DENIED ? iot_error_set(err, IOT_DENIED, "the token is no longer valid") : -1;
	if (u.id != g->who || (g->admin && !u.is_admin))
		return iot_error_set(err, IOT_DENIED, "the token is no longer an admin's");
	return 0;
}

void iot__http_grant_wipe(struct http_grant *g)
{
	explicit_bzero(g->secret, sizeof g->secret);
}

int iot__http_device_name(struct http_slot *s, int64_t id, char *out, size_t size, iot_error *err)
{
	long long now = iot_now_ms();
	size_t i = (size_t)id % HTTP_NAME_CACHE;
	if (s->names[i].id == id && s->names[i].until_ms > now) {
		/* a copy, as snprintf(out, size, "%s") makes it, for a fraction of its cost */
		size_t n = strnlen(s->names[i].name, sizeof s->names[i].name);
		if (size) {
			if (n >= size)
				n = size - 1;
			memcpy(out, s->names[i].name, n);
			out[n] = '\0';
		}
		return 0;
	}
	char idtext[24];
	snprintf(idtext, sizeof idtext, "%" PRId64, id);
	const char *params[] = { idtext };
	PGresult *res = iot_db_exec(s->db, "SELECT name FROM devices WHERE id = $1", 1, params, err);
	if (!res)
		return -1;
	int rc = 0;
	if (PQntuples(res) == 1) {
		snprintf(s->names[i].name, sizeof s->names[i].name, "%s", PQgetvalue(res, 0, 0));
		s->names[i].id = id;
		s->names[i].until_ms = now + NAME_TTL_MS;
		snprintf(out, size, "%s", s->names[i].name);
	} else {
		rc = iot_error_set(err, IOT_NOT_FOUND, "unknown device %" PRId64, id);
	}
	PQclear(res);
	return rc;
}

/* Fixed windows per device in a small table; a collision restarts the
 * other device's count (lenient, never stricter than configured). */
static bool local_over(iot_httpd *h, int64_t id, int *retry_after)
{
	long long now_s = iot_now_ms() / 1000, window = now_s / h->o.rate_window_s;
	size_t i = (size_t)((uint64_t)id * 2654435761u) % 4096;
	pthread_mutex_lock(&h->rl_mu);
	if (h->rl[i].id != id || h->rl[i].window != window) {
		h->rl[i].id = id;
		h->rl[i].window = window;
		h->rl[i].count = 0;
	}
	bool over = ++h->rl[i].count > h->o.rate_limit;
	pthread_mutex_unlock(&h->rl_mu);
	*retry_after = (int)((window + 1) * h->o.rate_window_s - now_s);
	return over;
}

int iot__http_rate_check(struct http_req *r, struct http_slot *s, int64_t device_id)
{
	iot_httpd *h = r->h;
	if (h->o.rate_limit <= 0)
		return 0;
	int retry = 0;
	bool over;
	if (s->cache && iot_cache_available(s->cache)) {
		char bucket[48];
		snprintf(bucket, sizeof bucket, "http:dev:%" PRId64, device_id);
		over = iot_cache_rate_limit(s->cache, bucket, h->o.rate_limit, h->o.rate_window_s, &retry) == 1;
		if (!over && !iot_cache_available(s->cache))
			over = local_over(h, device_id, &retry); /* Redis went away during the call */
	} else {
		over = local_over(h, device_id, &retry);
	}
	if (!over)
		return 0;
	atomic_fetch_add(&h->m.rate_limited, 1);
	iot__http_retry_after(r, retry);
	char msg[96];
	snprintf(msg, sizeof msg, "Maximum %d requests per %d seconds", h->o.rate_limit, h->o.rate_window_s);
	iot__http_reply(r, 429, json_pack("{s:s,s:s,s:i,s:i,s:i}", "error", "Rate limit exceeded", "message", msg,
	                                  "retry_after", retry > 0 ? retry : 1, "limit", h->o.rate_limit,
	                                  "window", h->o.rate_window_s));
	return -1;
}
