/* dispatch.c — commands and configurations out to devices (dispatch.h). */
#include "mqtt/dispatch.h"
#include "registry/device.h"
#include "base/clock.h"
#include "base/timestamp.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DISPATCH_BATCH 100

static void topic_of(char *buf, size_t size, int64_t device_id, const char *leaf)
{
	snprintf(buf, size, "iotflow/devices/%" PRId64 "/commands/%s", device_id, leaf);
}

int iot_command_publish(iot_db *db, iot_publisher *pub, json_t *row, iot_error *err)
{
	int64_t id = json_integer_value(json_object_get(row, "id"));
	int64_t dev = json_integer_value(json_object_get(row, "device_id"));
	char topic[96];
	topic_of(topic, sizeof topic, dev, "control");
	json_t *msg = iot_command_message(row);
	int rc = msg ? iot_publish_json(pub, topic, msg, false, err) : iot_error_set(err, IOT_INTERNAL, "out of memory");
	json_decref(msg);
	if (rc < 0) {
		iot_error e2 = { 0 };
		(void)iot_command_release(db, id, &e2);   /* else it waits out the stale time */
		return -1;
	}
	if (iot_command_mark_sent(db, id, err) < 0)
		return -1;
	const char *st = json_string_value(json_object_get(row, "status"));
	if (st && !strcmp(st, "pending"))
		json_object_set_new(row, "status", json_string("sent"));
	return 0;
}

int iot_command_send(iot_db *db, iot_publisher *pub, const iot_command_req *c, json_t **out, iot_error *err)
{
	*out = NULL;
	if (iot_command_create(db, c, out, err) < 0)
		return -1;
	int64_t id = json_integer_value(json_object_get(*out, "id"));
	if (!pub) {
		iot_error e2 = { 0 };
		(void)iot_command_release(db, id, &e2);
		return iot_error_set(err, IOT_UNAVAILABLE, "no broker to send command %" PRId64 " to: it stays pending", id);
	}
	if (iot_command_publish(db, pub, *out, err) < 0) {
		if (err->status == IOT_UNAVAILABLE) {
			char why[IOT_ERRMSG_MAX];
			snprintf(why, sizeof why, "%s", err->msg);
			iot_error_set(err, IOT_UNAVAILABLE, "%s: command %" PRId64 " stays pending", why, id);
		}
		return -1;
	}
	/* sent_at as stored. */
	json_t *row = NULL;
	if (iot_command_get(db, c->device_id, id, &row, err) < 0)
		return -1;
	json_decref(*out);
	*out = row;
	return 0;
}

/* The device's configuration as one object {KEY: value}. */
static json_t *config_object(iot_db *db, int64_t device_id, iot_error *err)
{
	iot_registry reg = { .db = db };
	char idtext[24];
	snprintf(idtext, sizeof idtext, "%" PRId64, device_id);
	json_t *rows = NULL;
	if (iot_device_config_get(&reg, idtext, NULL, &rows, err) < 0)
		return NULL;
	json_t *conf = json_object();
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
		json_object_set(conf, json_string_value(json_object_get(row, "key")), json_object_get(row, "value"));
	json_decref(rows);
	return conf;
}

int iot_config_publish(iot_db *db, iot_publisher *pub, int64_t device_id, iot_error *err)
{
	char idtext[24], topic[96];
	snprintf(idtext, sizeof idtext, "%" PRId64, device_id);
	const char *p[2] = { idtext, NULL };
	/* When it changed, read before the config: a change after this read
	 * leaves the outbox entry for the next publication. */
	PGresult *res = iot_db_exec(db,
		"SELECT changed_at::text, " IOT_SQL_TS("changed_at") " FROM config_outbox WHERE device_id = $1",
		1, p, err);
	if (!res)
		return -1;
	char changed[64] = "", ts[40] = "";
	if (PQntuples(res) == 1) {
		snprintf(changed, sizeof changed, "%s", PQgetvalue(res, 0, 0));
		snprintf(ts, sizeof ts, "%s", PQgetvalue(res, 0, 1));
	}
	PQclear(res);
	json_t *conf = config_object(db, device_id, err);
	if (!conf)
		return -1;
	if (!ts[0])
		iot_format_timestamp(iot_now_us() / 1000000 * 1000000, ts, sizeof ts);
	json_t *msg = json_pack("{s:I,s:o,s:s}", "device_id", (json_int_t)device_id, "config", conf, "timestamp", ts);
	topic_of(topic, sizeof topic, device_id, "config");
	int rc = msg ? iot_publish_json(pub, topic, msg, true, err) : iot_error_set(err, IOT_INTERNAL, "out of memory");
	json_decref(msg);
	if (rc < 0 || !changed[0])
		return rc;
	p[1] = changed;
	return iot_db_command(db, "DELETE FROM config_outbox WHERE device_id = $1 AND changed_at = $2::timestamptz",
	                      2, p, err);
}

static int dispatch_configs(iot_db *db, iot_publisher *pub, iot_dispatch_stats *st, iot_error *err)
{
	char lim[16];
	snprintf(lim, sizeof lim, "%d", DISPATCH_BATCH);
	const char *p[1] = { lim };
	PGresult *res = iot_db_exec(db, "SELECT device_id FROM config_outbox ORDER BY changed_at LIMIT $1", 1, p, err);
	if (!res)
		return -1;
	int rc = 0;
	for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
		rc = iot_config_publish(db, pub, strtoll(PQgetvalue(res, i, 0), NULL, 10), err);
		if (rc == 0)
			st->configs++;
		else if (err->status == IOT_NOT_FOUND)
			rc = 0;   /* removed meanwhile: its entry went with it */
	}
	PQclear(res);
	return rc;
}

/* Removed devices' retained configurations off the broker (012): an empty
 * retained message deletes the retained one. */
static int dispatch_retracts(iot_db *db, iot_publisher *pub, iot_dispatch_stats *st, iot_error *err)
{
	char lim[16];
	snprintf(lim, sizeof lim, "%d", DISPATCH_BATCH);
	const char *p[1] = { lim };
	PGresult *res = iot_db_exec(db, "SELECT device_id FROM config_retract ORDER BY removed_at LIMIT $1", 1, p, err);
	if (!res)
		return -1;
	int rc = 0;
	for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
		char topic[96];
		const char *id = PQgetvalue(res, i, 0);
		topic_of(topic, sizeof topic, strtoll(id, NULL, 10), "config");
		const char *q[1] = { id };
		rc = iot_publish(pub, topic, "", 0, true, err);
		if (rc == 0)
			rc = iot_db_command(db, "DELETE FROM config_retract WHERE device_id = $1", 1, q, err);
		if (rc == 0)
			st->retracted++;
	}
	PQclear(res);
	return rc;
}

int iot_command_dispatch_pending(iot_db *db, iot_publisher *pub, iot_dispatch_stats *st, iot_error *err)
{
	memset(st, 0, sizeof *st);
	/* Longer than a publisher waits for its PUBACK: a command with a more
	 * recent attempt is being sent by someone right now. */
	long stale_s = 2 * IOT_PUBLISH_TIMEOUT_MS / 1000;
	if (iot_command_expire(db, 0, &st->expired, err) < 0)
		return -1;
	for (;;) {
		json_t *rows = NULL;
		if (iot_command_claim(db, stale_s, DISPATCH_BATCH, &rows, err) < 0)
			return -1;
		size_t n = json_array_size(rows), i = 0;
		for (; i < n; i++) {
			if (iot_command_publish(db, pub, json_array_get(rows, i), err) < 0)
				break;
			st->sent++;
		}
		/* The ones after a failure go back untried. */
		for (size_t k = i + 1; k < n; k++) {
			iot_error e2 = { 0 };
			(void)iot_command_release(db, json_integer_value(json_object_get(json_array_get(rows, k), "id")), &e2);
		}
		json_decref(rows);
		if (i < n) {
			st->left = (long)(n - i);
			return -1;
		}
		if (n < DISPATCH_BATCH)
			break;
	}
	if (dispatch_configs(db, pub, st, err) < 0)
		return -1;
	return dispatch_retracts(db, pub, st, err);
}
