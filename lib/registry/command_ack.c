/* command_ack.c — a device's answer to a command (command.h has the
 * payload): parsed under limits, matched to a command of that device,
 * moved forward by iot_command_transition. */
#include "registry/command.h"
#include "registry/registry.h"
#include "base/json_util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The statuses a device may report, with the words deployed firmware uses. */
static const struct { const char *word, *status; } words[] = {
	{ "acknowledged", "acknowledged" }, { "received", "acknowledged" }, { "accepted", "acknowledged" },
	{ "completed", "completed" }, { "success", "completed" }, { "ok", "completed" },
	{ "done", "completed" }, { "executed", "completed" },
	{ "failed", "failed" }, { "error", "failed" }, { "unknown_command", "failed" }, { "rejected", "failed" },
};

static const char *status_of(const char *word)
{
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (!strcmp(word, words[i].word))
			return words[i].status;
	return NULL;
}

/* command_id as a positive integer or a string of digits; 0 when absent,
 * -1 when malformed. */
static int64_t command_id_of(const json_t *v)
{
	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v))
		return json_integer_value(v) > 0 ? json_integer_value(v) : -1;
	if (!json_is_string(v))
		return -1;
	const char *s = json_string_value(v);
	char *end;
	long long n = strtoll(s, &end, 10);
	return (*s >= '1' && *s <= '9' && !*end && n > 0 && n < INT64_MAX) ? n : -1;
}

/* The oldest open command named name of the device: its id, 0 and
 * IOT_NOT_FOUND when none. */
static int64_t by_name(iot_db *db, int64_t device_id, const char *name, iot_error *err)
{
	char dev[24];
	snprintf(dev, sizeof dev, "%" PRId64, device_id);
	const char *p[2] = { dev, name };
	PGresult *res = iot_db_exec(db,
		"SELECT id FROM device_control WHERE device_id = $1 AND command = $2"
		" AND status IN ('pending', 'sent', 'acknowledged') AND (status = 'acknowledged' OR expires_at > now())"
		" ORDER BY id LIMIT 1", 2, p, err);
	if (!res)
		return -1;
	int64_t id = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
	PQclear(res);
	if (!id)
		iot_error_set(err, IOT_NOT_FOUND, "device %" PRId64 " has no open command '%s'", device_id, name);
	return id;
}

int iot_command_ack(iot_db *db, int64_t device_id, const char *payload, size_t len, iot_error *err)
{
	if (len > IOT_COMMAND_ACK_MAX)
		return iot_error_set(err, IOT_REJECTED, "ack: longer than %d bytes", IOT_COMMAND_ACK_MAX);
	if (!payload || len == 0)
		return iot_error_set(err, IOT_REJECTED, "ack: empty (a JSON object is expected)");
	json_t *o = iot_json_parse(payload, len, IOT_JSON_MAX_DEPTH, err);
	if (!o)
		return -1;   /* IOT_REJECTED with the column */
	int rc = -1;
	json_t *result = NULL;
	if (!json_is_object(o)) {
		iot_error_set(err, IOT_REJECTED, "ack: not a JSON object");
		goto out;
	}
	const char *word = iot_json_str(o, "status"), *status = word ? status_of(word) : NULL;
	if (!status) {
		iot_error_set(err, IOT_REJECTED, "ack: \"status\" must be acknowledged, completed or failed");
		goto out;
	}
	int64_t id = command_id_of(json_object_get(o, "command_id"));
	const char *name = iot_json_str(o, "command");
	if (id < 0) {
		iot_error_set(err, IOT_REJECTED, "ack: \"command_id\" must be a positive integer");
		goto out;
	}
	if (id == 0 && (!name || !*name || strlen(name) > 64)) {
		iot_error_set(err, IOT_REJECTED, "ack: \"command_id\" (or the command's name in \"command\") is required");
		goto out;
	}
	if (id == 0 && (id = by_name(db, device_id, name, err)) <= 0)
		goto out;
	result = json_incref(json_object_get(o, "result"));
	if (!result && strcmp(word, status))
		result = json_pack("{s:s}", "reported_status", word);
	if (iot_command_transition(db, device_id, id, status, result, NULL, err) < 0) {
		if (err->status == IOT_USAGE)
			err->status = IOT_REJECTED;
		goto out;
	}
	rc = 0;
out:
	json_decref(result);
	json_decref(o);
	return rc;
}
