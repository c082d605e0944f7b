/* listen_int.h — what the listener (listen.c), its sessions (session.c),
 * its message handlers (listen_route.c) and its metrics (listen_metrics.c)
 * share. Not part of the public API. */
#ifndef IOT_LISTEN_INT_H
#define IOT_LISTEN_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "auth/auth.h"
#include "base/log_limit.h"
#include "cache/cache.h"
#include "mqtt/listen.h"
#include "mqtt/mqtt_url.h"
#include "pg/db.h"
#include "telemetry/ingest.h"

struct mosquitto;
struct mosquitto_message;
struct MHD_Daemon;

/* Why a message was refused (the reason label of the metric). */
enum listen_reason {
	LR_INVALID,         /* the decoder refused it, or the device is not active */
	LR_DENIED,          /* missing or wrong api_key */
	LR_UNKNOWN_DEVICE,
	LR_BAD_TOPIC,       /* a topic we do not handle */
	LR_UNKNOWN_COMMAND, /* an answer to no open command of that device */
	LR_COUNT
};

enum listen_kind { LK_TELEMETRY, LK_STATUS, LK_ACK, LK_OTHER, LK_COUNT };

struct listen_metrics {
	_Atomic uint64_t received[LK_COUNT];
	_Atomic uint64_t rejected[LR_COUNT];
	_Atomic uint64_t stored_messages, points_stored, points_duplicate, points_rejected;
	_Atomic uint64_t ts_arrival;          /* timestamps replaced by the arrival time */
	_Atomic uint64_t seen, offline;       /* status updates applied */
	_Atomic uint64_t answers;             /* command answers applied (device_control) */
	_Atomic uint64_t cmd_sent, cmd_expired, configs_published; /* by the dispatch */
	_Atomic uint64_t connects, disconnects, connected;
	_Atomic uint64_t rounds, wait_us;     /* commit waits: count and total time */
};

struct session {
	struct iot_listener *l;
	int index;
	char client_id[160];
	struct mosquitto *m;
	pthread_t thread;
	bool started;
	iot_db *db;
	iot_cache *cache;
	iot_auth *auth;
	iot_ingest in;
	bool subscribed;
	bool connected;         /* the broker accepted the login (CONNACK success) */
	/* Reconnecting: a socket that does not connect and a login the broker
	 * refuses take the same backoff; it starts again once a login is
	 * accepted. */
	int attempt;            /* attempts since the last accepted login */
	long long next_try;     /* no attempt before this (iot_now_ms) */
	bool told_unreachable;  /* "unable to connect" told for this series */
	long refusals;          /* logins refused in a row */
	long long refusal_told_ms; /* when the last refusal was told */
	const char *topic;      /* of the message being handled, for its notes */
	int submitted;          /* messages of this round handed to the writer */
	atomic_bool round_failed; /* a commit of this round failed: no PUBACK may leave */
	bool fatal;             /* the round cannot be acknowledged at all (print output failed) */
	iot_error err;
};

struct iot_listener {
	const iot_config *cfg;
	iot_listen_opts o;
	iot_mqtt_url url;
	char addr[300];
	char group[128];
	char client_id[128];
	iot_writer *w;
	struct session *s;
	pthread_mutex_t print_mu;
	pthread_mutex_t mu;
	bool failed;
	iot_error fail;
	struct listen_metrics m;
	iot_log_limit refusals;  /* refused messages and replaced timestamps told */
	struct MHD_Daemon *metrics_http;
	/* listen_dispatch.c: commands and configurations the broker missed */
	iot_db *dispatch_db;
	struct iot_publisher *pub;
	long long next_dispatch_ms;
	bool dispatch_down;     /* the last round could not publish (told once) */
};

/* What a message's sender can repeat (refusals, replaced timestamps) is
 * told at most BURST times in WINDOW; the count of the rest follows. */
/* The first login refused in a row is told, then at most one a minute
 * (with how many were), whatever the backoff. */
#define IOT_LISTEN_REFUSAL_TELL_MS  60000
#define IOT_LISTEN_NOTICE_BURST     20
#define IOT_LISTEN_NOTICE_WINDOW_MS 10000
void iot__listen_notice(struct iot_listener *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* session.c: a session's client (made before its thread starts), and its
 * thread (started and joined by listen.c). */
int iot__listen_session_init(struct session *s, iot_error *err);
void *iot__listen_session_main(void *arg);
/* The listener cannot go on (first failure wins); every session stops. */
void iot__listen_fail(struct iot_listener *l, const iot_error *err);
bool iot__listen_stopping(const struct iot_listener *l);

/* listen_dispatch.c: every IOT_LISTEN_DISPATCH_S seconds (from the
 * listener's own thread), publish the commands still pending and the
 * configurations changed since last published (dispatch.h), and expire
 * lapsed commands. Not with --print. */
#define IOT_LISTEN_DISPATCH_S 5
/* The longest the listener's own thread waits for PostgreSQL's answer, or
 * for a connect (a dispatch round's statements, the keys' usage counts at
 * the exit): a frozen host never answers and cannot run its
 * statement_timeout, and that thread must act on SIGTERM and keep feeding
 * the watchdog. */
#define IOT_LISTEN_DB_ANSWER_MS 2000
int iot__listen_dispatch_open(struct iot_listener *l, iot_error *err);
void iot__listen_dispatch_tick(struct iot_listener *l);
void iot__listen_dispatch_close(struct iot_listener *l);

/* listen_http.c: stop serving /metrics (before the listener goes). */
void iot__listen_metrics_stop(struct iot_listener *l);

/* listen_route.c: one message, on its session's thread. */
void iot__listen_message(struct session *s, const struct mosquitto_message *msg);
/* A decoder's note (ingest.h) about a session's message: logged and counted. */
void iot__listen_note(void *session, const char *note);

#endif
