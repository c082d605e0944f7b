/* listen_route.c — one message on its session's thread: which topic it came
 * on, and what that topic means (the table in listen.h).
 *
 * Who may say what. Without the broker plugin in front (trust_broker off,
 * the default) the broker authenticates nobody, so a payload must prove
 * whose it is: telemetry, status/online and status/heartbeat need the
 * api_key of the topic's device in the payload (as the Flask firmware sends
 * it), else they are refused (denied). status/offline needs no key: the
 * ESP32 last will is the plain text "offline", written once at connect and
 * sent by the broker, and an offline mark changes nothing but the derived
 * online state until the device is seen again. With trust_broker the
 * plugin has authenticated the publisher as the topic's device; a key in
 * the payload is still checked. */
#include "mqtt/listen_int.h"

#include <inttypes.h>
#include <jansson.h>
#include <mosquitto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json_util.h"
#include "base/parse.h"
#include "registry/command.h"
#include "registry/device_seen.h"

enum topic_kind { T_TELEMETRY, T_STATUS, T_ACK, T_OTHER };

/* iotflow/devices/ID/REST: the device id (1..2^31, no leading zero) and
 * what the topic is; *sub is the status level. */
static enum topic_kind parse_topic(const char *t, int64_t *id, const char **sub)
{
	static const char pre[] = "iotflow/devices/";
	if (strncmp(t, pre, sizeof pre - 1) != 0)
		return T_OTHER;
	const char *p = t + sizeof pre - 1, *slash = strchr(p, '/');
	char digits[12];
	size_t n = slash ? (size_t)(slash - p) : 0;
	if (n == 0 || n >= sizeof digits)
		return T_OTHER;
	memcpy(digits, p, n);
	digits[n] = '\0';
	if (digits[0] == '0' || (*id = iot_parse_id(digits)) <= 0)
		return T_OTHER;
	const char *rest = slash + 1;
	if (!strncmp(rest, "telemetry", 9) && (rest[9] == '\0' || rest[9] == '/'))
		return T_TELEMETRY;
	if (!strncmp(rest, "status/", 7) && rest[7] && !strchr(rest + 7, '/')) {
		*sub = rest + 7;
		return T_STATUS;
	}
	if (!strcmp(rest, "commands/ack"))
		return T_ACK;
	return T_OTHER;
}

static enum listen_reason reason_of(enum iot_status st)
{
	switch (st) {
	case IOT_DENIED: return LR_DENIED;
	case IOT_NOT_FOUND: return LR_UNKNOWN_DEVICE;
	default: return LR_INVALID;
	}
}

void iot__listen_notice(struct iot_listener *l, const char *fmt, ...)
{
	uint64_t dropped;
	if (!iot_log_limit_pass(&l->refusals, iot_now_ms(), &dropped))
		return;
	if (dropped)
		iot_config_notice(l->cfg, "%llu more notices of refused messages or replaced timestamps were left out",
		                  (unsigned long long)dropped);
	char msg[IOT_ERRMSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	iot_config_notice(l->cfg, "%s", msg);
}

static void refuse(struct session *s, const char *topic, enum listen_reason why, const char *msg)
{
	atomic_fetch_add(&s->l->m.rejected[why], 1);
	iot__listen_notice(s->l, "%.200s: refused: %s", topic, msg);
}

/* An error that is not the message's fault (database unavailable past the
 * retries): nothing of this round may be acknowledged, and the listener
 * stops (listen.h). */
static void backend_failed(struct session *s, const iot_error *err)
{
	iot__listen_fail(s->l, err);
	atomic_store(&s->round_failed, true);
}

static bool backend_error(const iot_error *err)
{
	return err->status == IOT_UNAVAILABLE || err->status == IOT_INTERNAL;
}

/* ---- telemetry ---- */

/* On a writer thread, once the message's batch has committed (or failed). */
static void on_stored(const iot_submit_result *r, void *ctx, uint64_t tag)
{
	(void)tag;
	struct session *s = ctx;
	struct listen_metrics *m = &s->l->m;
	if (r->status != IOT_OK) {
		atomic_store(&s->round_failed, true);
		return;
	}
	atomic_fetch_add(&m->stored_messages, 1);
	atomic_fetch_add(&m->points_stored, r->stored);
	atomic_fetch_add(&m->points_duplicate, r->duplicates);
	atomic_fetch_add(&m->points_rejected, r->rejected);
}

/* Which message it was, as for a refusal: the device is in the topic. */
void iot__listen_note(void *arg, const char *note)
{
	struct session *s = arg;
	atomic_fetch_add(&s->l->m.ts_arrival, 1);
	iot__listen_notice(s->l, "%.200s: %s", s->topic ? s->topic : "?", note);
}

/* --print: the points as NDJSON records iot-ingest reads back, written and
 * flushed before the PUBACK can leave. */
static void print_points(struct session *s, const iot_record *rec)
{
	struct iot_listener *l = s->l;
	pthread_mutex_lock(&l->print_mu);
	for (size_t i = 0; i < rec->npoints;) {
		size_t n = iot_points_group(rec->points + i, rec->npoints - i);
		char *line = iot_points_to_json(rec->points + i, n);
		if (!line || fputs(line, l->o.print) == EOF || fputc('\n', l->o.print) == EOF)
			s->fatal = true;
		free(line);
		i += n;
	}
	if (fflush(l->o.print) != 0 || ferror(l->o.print))
		s->fatal = true;
	pthread_mutex_unlock(&l->print_mu);
	if (s->fatal) {
		iot_error e;
		iot_error_set(&e, IOT_INTERNAL, "unable to write the output");
		iot__listen_fail(l, &e);
	} else {
		atomic_fetch_add(&l->m.stored_messages, 1);
		atomic_fetch_add(&l->m.points_stored, rec->npoints);
	}
}

static void print_telemetry(struct session *s, const struct mosquitto_message *msg, const iot_resolve_opts *trust)
{
	iot_record rec;
	iot_error err = { 0 };
	if (iot_record_decode(msg->payload, (size_t)msg->payloadlen, &s->l->o.decode, &rec, &err) < 0 ||
	    iot_record_resolve(s->auth, &rec, trust, NULL, &err) < 0) {
		if (backend_error(&err))
			backend_failed(s, &err);
		else
			refuse(s, msg->topic, reason_of(err.status), err.msg);
	} else {
		if (rec.note)
			iot__listen_note(s, rec.note);
		print_points(s, &rec);
	}
	iot_record_free(&rec);
}

static void on_telemetry(struct session *s, const struct mosquitto_message *msg, int64_t id)
{
	iot_resolve_opts trust = { .trusted_device = id, .require_key = !s->l->o.trust_broker };
	if (s->l->o.print) {
		print_telemetry(s, msg, &trust);
		return;
	}
	iot_error err = { 0 };
	switch (iot_ingest_record(&s->in, msg->payload, (size_t)msg->payloadlen, &trust, on_stored, s, 0,
	                          NULL, &err)) {
	case IOT_INGEST_SUBMITTED: s->submitted++; break;
	case IOT_INGEST_REFUSED: refuse(s, msg->topic, reason_of(err.status), err.msg); break;
	case IOT_INGEST_FAILED: backend_failed(s, &err); break;
	}
}

/* ---- status ---- */

/* Whose is this status payload or answer (an active device's): 0 and
 * *dev, or -1 with err. */
static int status_device(struct session *s, const struct mosquitto_message *msg, int64_t id,
                         iot_device_ref *dev, iot_error *err)
{
	const char *key = NULL;
	json_t *root = NULL;
	if (msg->payloadlen > 0 && msg->payloadlen <= (int)s->l->o.decode.max_bytes)
		root = iot_json_parse(msg->payload, (size_t)msg->payloadlen, IOT_JSON_MAX_DEPTH, NULL);
	if (root)
		key = iot_json_str(root, "api_key");
	int rc;
	if (key && *key) {
		rc = iot_auth_device_key(s->auth, key, dev, err);
		if (rc == 0 && dev->id != id)
			rc = iot_error_set(err, IOT_DENIED, "api_key does not belong to device %" PRId64, id);
	} else if (!s->l->o.trust_broker) {
		rc = iot_error_set(err, IOT_DENIED, "missing api_key");
	} else {
		rc = iot_auth_device_id(s->auth, id, dev, err);
	}
	json_decref(root);
	/* An inactive device is refused here as over HTTP: offline is not inactive. */
	if (rc == 0 && dev->status != IOT_DEVICE_ACTIVE)
		rc = iot_error_set(err, IOT_REJECTED, "device %" PRId64 " is %s", id, iot_device_status_name(dev->status));
	return rc;
}

static void on_status(struct session *s, const struct mosquitto_message *msg, int64_t id, const char *sub)
{
	iot_device_ref dev;
	iot_error err = { 0 };
	int rc;
	if (!strcmp(sub, "offline")) {
		rc = iot_auth_device_id(s->auth, id, &dev, &err);
		if (rc == 0 && (rc = iot_device_offline(s->db, id, &err)) == 0)
			atomic_fetch_add(&s->l->m.offline, 1);
	} else if (!strcmp(sub, "online") || !strcmp(sub, "heartbeat")) {
		rc = status_device(s, msg, id, &dev, &err);
		if (rc == 0 && (rc = iot_device_seen(s->db, s->cache, id, &err)) == 0)
			atomic_fetch_add(&s->l->m.seen, 1);
	} else {
		refuse(s, msg->topic, LR_BAD_TOPIC, "not a status this listener handles (online, heartbeat, offline)");
		return;
	}
	if (rc == 0)
		return;
	if (backend_error(&err))
		backend_failed(s, &err);
	else
		refuse(s, msg->topic, reason_of(err.status), err.msg);
}

/* ---- command answers ---- */

/* iotflow/devices/ID/commands/ack: a device's answer to one of its
 * commands (the payload: lib/registry/command.h, iot_command_ack). Who may
 * answer is checked as for status/online: the topic's device's key in the
 * payload, or the broker's word with trust_broker, and the device must be
 * active (as over HTTP). Applied at once, on this
 * session's thread, so it is in the database before its PUBACK leaves;
 * --print leaves answers alone (they are not telemetry). */
static void on_command_ack(struct session *s, const struct mosquitto_message *msg, int64_t id)
{
	if (s->l->o.print)
		return;
	iot_device_ref dev = { 0 };
	iot_error err = { 0 };
	int rc = status_device(s, msg, id, &dev, &err);
	if (rc == 0)
		rc = iot_command_ack(s->db, id, msg->payload, msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0, &err);
	if (rc == 0) {
		atomic_fetch_add(&s->l->m.answers, 1);
		return;
	}
	if (backend_error(&err))
		backend_failed(s, &err);
	else
		refuse(s, msg->topic, err.status == IOT_NOT_FOUND && dev.id == id ? LR_UNKNOWN_COMMAND : reason_of(err.status),
		       err.msg);
}

void iot__listen_message(struct session *s, const struct mosquitto_message *msg)
{
	struct listen_metrics *m = &s->l->m;
	int64_t id = 0;
	const char *sub = NULL;
	if (atomic_load(&s->round_failed) || s->fatal)
		return; /* the round will not be acknowledged: the broker sends it again */
	enum topic_kind k = parse_topic(msg->topic, &id, &sub);
	s->topic = msg->topic;
	switch (k) {
	case T_TELEMETRY:
		atomic_fetch_add(&m->received[LK_TELEMETRY], 1);
		on_telemetry(s, msg, id);
		break;
	case T_STATUS:
		atomic_fetch_add(&m->received[LK_STATUS], 1);
		on_status(s, msg, id, sub);
		break;
	case T_ACK:
		atomic_fetch_add(&m->received[LK_ACK], 1);
		on_command_ack(s, msg, id);
		break;
	case T_OTHER:
		atomic_fetch_add(&m->received[LK_OTHER], 1);
		refuse(s, msg->topic, LR_BAD_TOPIC, "not a topic this listener handles");
		break;
	}
	s->topic = NULL;
}
