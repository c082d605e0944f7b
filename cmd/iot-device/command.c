/* command.c — iot-device command send/list/retry, and the publication of
 * a device's configuration after config set/rm (lib/mqtt/dispatch.h). */
#include "cli/cli.h"
#include "iot-device.h"
#include "base/json_util.h"
#include "mqtt/dispatch.h"

#include <string.h>

static const char *const command_cols[] = { "id", "device_id", "command", "status", "created_at",
	"sent_at", "expires_at", NULL };
static const char *const retry_cols[] = { "sent", "expired", "configs", "left", NULL };

/* The broker, when mqtt_url is set: NULL with err otherwise (IOT_USAGE
 * when not set, IOT_UNAVAILABLE when unreachable). */
static iot_publisher *broker(iot_registry *id, iot_error *err)
{
	iot_publisher_opts po = { .background = false };
	return iot_publisher_new(id->cfg, &po, err);
}

/* After the broker refused this login or this publication (IOT_DENIED):
 * what it wants. A broker with the IoTFlow plugin takes a person's API
 * token as the password, and only for that person's devices (or all, for
 * an admin). */
static void login_hint(const iot_error *why)
{
	if (why->status == IOT_DENIED)
		iot_warn("a broker with the IoTFlow plugin takes a person's API token as the password:"
		         " mqtt_url mqtt://NAME:TOKEN@HOST:PORT, the devices' owner's or an admin's"
		         " (iotflow-mosquitto(8))");
}

/* The exit status of a change stored but not delivered: 4 when the broker
 * refused, 6 for an internal error, else 5 (the broker could not be
 * reached, or mqtt_url is not set). */
static int undelivered(const iot_error *why)
{
	return why->status == IOT_DENIED || why->status == IOT_INTERNAL ? (int)why->status : IOT_UNAVAILABLE;
}

int dev_command_send(iot_registry *id, char **args, const struct dev_opts *o)
{
	iot_error err = { 0 };
	json_t *params = NULL, *row = NULL;
	iot_publisher *pub = NULL;
	int rc;
	if (o->params && !(params = iot_json_parse_value(o->params, strlen(o->params), IOT_JSON_MAX_DEPTH, &err))) {
		rc = iot_usage_error("invalid --params: %s", err.msg);
		goto out;
	}
	iot_command_req c = { .command = args[1], .parameters = params, .ttl_s = o->ttl, .source = "cli" };
	if (iot_device_resolve(id, args[0], &c.device_id, &err) < 0) {
		rc = iot_fatal_error(&err);
		goto out;
	}
	iot_error berr = { 0 };
	pub = broker(id, &berr);
	if (iot_command_send(id->db, pub, &c, &row, &err) == 0) {
		rc = dev_emit(row, command_cols, o->format) < 0 ? IOT_INTERNAL : 0;
		goto out;
	}
	if (!row) {
		rc = iot_fatal_error(&err);
		goto out;
	}
	/* Stored, not delivered: said on stderr, the row on stdout, exit 4 or 5. */
	const iot_error *why = pub ? &err : &berr;
	iot_warn("%s", why->msg);
	login_hint(why);
	iot_warn("command %lld stays pending until `iot-device command retry` (or iot-mqtt-listen) sends it",
	         (long long)json_integer_value(json_object_get(row, "id")));
	rc = undelivered(why);
	if (dev_emit(row, command_cols, o->format) < 0)
		rc = IOT_INTERNAL;
out:
	iot_publisher_free(pub);
	json_decref(row);
	json_decref(params);
	return rc;
}

int dev_command_list(iot_registry *id, const struct dev_opts *o)
{
	iot_error err = { 0 };
	iot_command_filter f = { .status = o->f.status, .limit = o->limit };
	json_t *rows = NULL;
	if ((o->device && iot_device_resolve(id, o->device, &f.device_id, &err) < 0) ||
	    iot_command_list(id->db, &f, &rows, &err) < 0)
		return iot_fatal_error(&err);
	int rc = dev_emit(rows, command_cols, o->format) < 0 ? IOT_INTERNAL : 0;
	json_decref(rows);
	return rc;
}

int dev_command_retry(iot_registry *id, const struct dev_opts *o)
{
	iot_error err = { 0 };
	iot_dispatch_stats st = { 0 };
	iot_publisher *pub = broker(id, &err);
	int rc = 0;
	if (!pub || iot_command_dispatch_pending(id->db, pub, &st, &err) < 0)
		rc = err.status;
	json_t *out = json_pack("{s:I,s:I,s:I,s:I,s:I}", "sent", (json_int_t)st.sent, "expired", (json_int_t)st.expired,
	                        "configs", (json_int_t)st.configs, "retracted", (json_int_t)st.retracted,
	                        "left", (json_int_t)st.left);
	if (rc) {
		iot_fatal("%s", err.msg);
		login_hint(&err);
	}
	if (rc == 0 || rc == IOT_UNAVAILABLE)
		rc = dev_emit(out, retry_cols, o->format) < 0 ? IOT_INTERNAL : rc;
	json_decref(out);
	iot_publisher_free(pub);
	return rc;
}

int dev_config_publish(iot_registry *id, const json_t *result)
{
	iot_error err = { 0 };
	if (!iot_config_get(id->cfg, "mqtt_url"))
		return 0;   /* no broker: nothing to tell (the change waits in config_outbox) */
	int64_t dev = json_integer_value(json_object_get(result, "device_id"));
	iot_publisher *pub = broker(id, &err);
	int rc = pub ? iot_config_publish(id->db, pub, dev, &err) : -1;
	iot_publisher_free(pub);
	if (rc == 0)
		return 0;
	iot_warn("the configuration is stored but not published: %s", err.msg);
	login_hint(&err);
	iot_warn("`iot-device command retry` (or iot-mqtt-listen) publishes it later");
	return undelivered(&err);
}
