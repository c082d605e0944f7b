/* plugin_int.h — what the files of the broker plugin share.
 *
 * The plugin runs on the broker's one thread: every callback, the tick
 * included, is called from it, so nothing here locks. The backend (the
 * database connection, the Redis handles, the iot_auth lookups) may be
 * missing while PostgreSQL is away; the tick brings it back, and until then
 * only what the caches hold can log in (iotflow-mosquitto(8), FAILURES). */
#ifndef IOTFLOW_PLUGIN_INT_H
#define IOTFLOW_PLUGIN_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/auth.h"
#include "base/config.h"
#include "cache/cache.h"
#include "pg/db.h"

struct mosquitto;

/* Who a client is, decided at login. A client with a persistent session
 * (clean start off) keeps its entry when it disconnects, marked offline:
 * the broker goes on queueing what its subscriptions match, and asks us
 * whether it may receive each message (MOSQ_ACL_READ) while nobody is
 * connected. A client that has no subscription has nothing to queue and
 * its entry goes at the disconnect (may_queue). An offline entry only ever answers for the same client id
 * and username; a client that logs in again gets a new entry, and the
 * broker checks the queued messages against it before delivering any. */
enum session_kind {
	SESSION_DEVICE,      /* username = device id, password = its API key */
	SESSION_SERVICE,     /* a person's API token (iotu_...) */
	SESSION_ANONYMOUS    /* legacy mode only: no username */
};

struct session {
	struct session *next;          /* hash chain */
	const struct mosquitto *client; /* only compared, never dereferenced */
	char *client_id;               /* for kicking this one session */
	char *secret;                  /* the key or token, re-checked on invalidation; wiped on free */
	enum session_kind kind;
	int64_t device_id;             /* SESSION_DEVICE */
	int64_t key_expires_us;        /* SESSION_DEVICE: its key ends then (wall clock; 0 never) */
	int64_t user_id;               /* SESSION_SERVICE */
	bool is_admin;                 /* SESSION_SERVICE */
	long long checked_ms;          /* last (re-)check of a service token */
	char *username;                /* as logged in (NULL: anonymous) */
	bool offline;                  /* disconnected, its persistent session kept */
	/* The broker's session may hold subscriptions: one was allowed on this
	 * connection, or it logged in with clean start off and so may have
	 * resumed a session whose subscriptions were made before (on an earlier
	 * connection, or before a broker restart), which we never saw. */
	bool may_queue;
};

/* Offline entries kept at most; past it a disconnecting client's session
 * is forgotten (its messages are then refused, and the log says so once). */
#define OFFLINE_MAX 131072

#define SESSION_BUCKETS 65536

struct plugin {
	void *id;                      /* mosquitto_plugin_id_t * */
	iot_config *cfg;
	iot_db *db;                    /* NULL while PostgreSQL could not be reached */
	iot_cache *cache;              /* what iot_auth looks up in */
	iot_cache *watch;              /* the invalidation subscription the plugin reads itself */
	iot_auth *auth;                /* NULL while db is */
	unsigned db_generation;        /* statement_timeout set for this connection */
	long long backend_retry_ms;    /* next reconnect attempt */
	long backend_backoff_ms;
	bool backend_warned;
	long long bind_ms;             /* last attempt to name the Redis handles */
	bool legacy;                   /* anonymous legacy firmware may publish telemetry/status */
	long lookup_timeout_ms;
	long login_budget_ms;          /* lookup time per broker loop turn; 0 = no limit */
	long long spent_us;            /* spent by logins since the last tick */
	long turned_away;              /* logins refused over the budget, since the last notice */
	long long turned_away_log_ms;
	/* Sessions by client pointer. */
	struct session *bucket[SESSION_BUCKETS];
	size_t nsessions;
	size_t noffline;               /* of which offline */
	bool offline_full_warned;
	/* A full re-check in slices (after the subscription was lost or remade). */
	bool recheck_all;
	size_t recheck_cursor;
	long long service_check_ms;
};

/* plugin.c */
void iotp_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Connect what is missing, at most once per backoff step. true when auth is usable. */
bool iotp_backend_ready(struct plugin *p);
/* A lookup failed with IOT_UNAVAILABLE: drop the connection state so the
 * tick reconnects (with backoff), instead of every login trying. */
void iotp_backend_failed(struct plugin *p, const iot_error *err);
/* A lookup was answered: when the database had failed, say it is back. */
void iotp_backend_answered(struct plugin *p);

/* login.c: MOSQ_EVT_BASIC_AUTH */
int iotp_on_basic_auth(int event, void *event_data, void *userdata);
/* Usernames a device (decimal id, no leading zero) or service may use. */
bool iotp_username_ok(const char *u);

/* acl.c: MOSQ_EVT_ACL_CHECK */
int iotp_on_acl_check(int event, void *event_data, void *userdata);

/* sessions.c */
struct session *iotp_session_find(struct plugin *p, const struct mosquitto *client);
/* The client's entry for an ACL check: an offline one only while the
 * client's id and username are still those it logged in with. */
struct session *iotp_session_for(struct plugin *p, const struct mosquitto *client);
/* MOSQ_EVT_DISCONNECT: keep a persistent session's entry offline, or drop it. */
void iotp_session_disconnected(struct plugin *p, const struct mosquitto *client);
/* Adds (or replaces the entry of the same client); takes ownership of s. */
void iotp_session_put(struct plugin *p, struct session *s);
void iotp_session_drop(struct plugin *p, const struct mosquitto *client);
void iotp_session_free(struct session *s);
void iotp_sessions_clear(struct plugin *p);
/* An invalidation message ("device <id>" or "all") from the watch handle. */
void iotp_sessions_invalidated(struct plugin *p, const char *msg);
/* Called every tick: slices of a full re-check, service tokens every 30 s. */
void iotp_sessions_tick(struct plugin *p);
/* Is the client's session still allowed (used by re-checks)? 1 yes, 0 no, -1 cannot tell. */
int iotp_session_still_valid(struct plugin *p, struct session *s);

#endif
