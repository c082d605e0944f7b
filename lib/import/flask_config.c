/* flask_config.c — the Flask service's device configurations (values it
 * stored with Python str(), compat B19) and device commands (import.h). */
#include "import/import_int.h"
#include "registry/device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VALUE_MAX 65536

#define val iot__imp_val

/* Append a JSON string for the Python string literal at *s (quote q). */
static int py_string(const char **s, char q, char **o, char *end)
{
	const char *p = *s + 1;
	if (*o >= end)
		return -1;
	*(*o)++ = '"';
	for (; *p && *p != q; p++) {
		char c = *p, buf[8];
		const char *emit = buf;
		if (c == '\\') {
			char e = *++p;
			switch (e) {
			case '\\': emit = "\\\\"; break;
			case '\'': emit = "'"; break;
			case '"': emit = "\\\""; break;
			case 'n': emit = "\\n"; break;
			case 't': emit = "\\t"; break;
			case 'r': emit = "\\r"; break;
			case 'x':
				if (!p[1] || !p[2] || strspn(p + 1, "0123456789abcdefABCDEF") < 2)
					return -1;
				snprintf(buf, sizeof buf, "\\u00%.2s", p + 1);
				p += 2;
				break;
			case 'u':
				if (strspn(p + 1, "0123456789abcdefABCDEF") < 4)
					return -1;
				snprintf(buf, sizeof buf, "\\u%.4s", p + 1);
				p += 4;
				break;
			default: return -1;
			}
		} else if (c == '"') {
			emit = "\\\"";
		} else if ((unsigned char)c < 0x20) {
			return -1;
		} else {
			buf[0] = c;
			buf[1] = '\0';
		}
		size_t n = strlen(emit);
		if ((size_t)(end - *o) < n)
			return -1;
		memcpy(*o, emit, n);
		*o += n;
	}
	if (*p != q || *o >= end)
		return -1;
	*(*o)++ = '"';
	*s = p + 1;
	return 0;
}

/* repr() of dicts, lists, tuples, strings, numbers, True/False/None as
 * JSON text (malloc'd), or NULL. Validity is left to the JSON parser. */
static char *python_literal_json(const char *s)
{
	size_t cap = strlen(s) * 2 + 16;
	char *out = malloc(cap), *o = out, *end = out + cap - 1;
	static const struct { const char *py, *js; } words[] = {
		{ "True", "true" }, { "False", "false" }, { "None", "null" } };
	while (out && *s) {
		size_t w = 0;
		for (; w < 3; w++)
			if (!strncmp(s, words[w].py, strlen(words[w].py)))
				break;
		if (*s == '\'' || *s == '"') {
			if (py_string(&s, *s, &o, end) < 0)
				goto fail;
			continue;
		}
		if (w < 3) {
			size_t n = strlen(words[w].js);
			if ((size_t)(end - o) < n)
				goto fail;
			memcpy(o, words[w].js, n);
			o += n;
			s += strlen(words[w].py);
			continue;
		}
		if (o >= end || !strchr("{}[](),: \t\n+-.0123456789eE", *s))
			goto fail;
		*o++ = *s == '(' ? '[' : *s == ')' ? ']' : *s;
		s++;
	}
	if (!out)
		return NULL;
	*o = '\0';
	return out;
fail:
	free(out);
	return NULL;
}

char *iot__python_value(const char *value, const char *type, char *why, size_t whylen)
{
	iot_error e;
	const char *v = value;
	char *conv = NULL, *out;
	if (!strcmp(type, "boolean")) {
		if (!strcmp(value, "True") || !strcmp(value, "true") || !strcmp(value, "1"))
			v = "true";
		else if (!strcmp(value, "False") || !strcmp(value, "false") || !strcmp(value, "0"))
			v = "false";
	} else if (!strcmp(type, "json")) {
		json_t *j = json_loads(value, JSON_DECODE_ANY, NULL);
		if (j)
			json_decref(j);
		else if ((conv = python_literal_json(value)))
			v = conv;
	}
	out = iot_device_config_canonical(v, type, &e);
	if (!out)
		snprintf(why, whylen, "%s (stored as %s)", e.msg, type);
	free(conv);
	return out;
}

static int config_row(struct iot__imp *m, PGresult *r, int i, iot_error *err)
{
	const char *old = PQgetvalue(r, i, 0), *dev_old = PQgetvalue(r, i, 1), *key = PQgetvalue(r, i, 2);
	const char *type = val(r, i, 4) ? val(r, i, 4) : "string", *value = val(r, i, 3) ? val(r, i, 3) : "";
	int64_t done = iot__imp_mapped(m, K_CONFIG, old, err), dev;
	if (done < 0 || (dev = iot__imp_mapped(m, K_DEVICE, dev_old, err)) < 0)
		return -1;
	json_t *extra = json_pack("{s:I,s:s}", "device_id", (json_int_t)strtoll(dev_old, NULL, 10), "key", key);
	if (done > 0) {
		iot__imp_event(m, K_CONFIG, old, -done, NULL, extra);
		return 0;
	}
	char why[IOT_ERRMSG_MAX] = "", *canon = NULL;
	if (!dev)
		snprintf(why, sizeof why, "device %s was not imported", dev_old);
	else if (strlen(value) > VALUE_MAX)
		snprintf(why, sizeof why, "value longer than %d bytes", VALUE_MAX);
	else
		canon = iot__python_value(value, type, why, sizeof why);
	if (!canon) {
		iot__imp_event(m, K_CONFIG, old, 0, why, extra);
		return 0;
	}
	const char *p[7] = { dev_old, key, canon, type, PQgetvalue(r, i, 5), val(r, i, 6), val(r, i, 7) };
	static const char ins[] =
		"INSERT INTO device_configurations (device_id, config_key, config_value, data_type, is_active,"
		" created_at, updated_at) VALUES ($1::integer, $2, $3, $4, $5::boolean,"
		" coalesce($6::timestamptz, now()), coalesce($7::timestamptz, now())) RETURNING id";
	int64_t id = 0;
	int rc = iot__imp_insert(m, K_CONFIG, old, ins, 7, p, &id, why, sizeof why, err);
	free(canon);
	if (rc < 0 || iot__imp_end_row(m, rc == 0, err) < 0) {
		json_decref(extra);
		return -1;
	}
	json_object_set_new(extra, "type", json_string(type));
	iot__imp_event(m, K_CONFIG, old, rc ? 0 : id, rc ? why : NULL, extra);
	return 0;
}

int iot__imp_configs(struct iot__imp *m, iot_error *err)
{
	return iot__imp_each(m, "device_configurations",
		"SELECT id::text, device_id::text, config_key, config_value, data_type,"
		" coalesce(is_active, true)::text, created_at::text, updated_at::text"
		" FROM device_configurations ORDER BY device_configurations.id", config_row, err);
}

static int control_row(struct iot__imp *m, PGresult *r, int i, iot_error *err)
{
	const char *old = PQgetvalue(r, i, 0), *dev_old = PQgetvalue(r, i, 1), *command = PQgetvalue(r, i, 2);
	int64_t done = iot__imp_mapped(m, K_CONTROL, old, err), dev;
	if (done < 0 || (dev = iot__imp_mapped(m, K_DEVICE, dev_old, err)) < 0)
		return -1;
	json_t *extra = json_pack("{s:I,s:s,s:s?}", "device_id", (json_int_t)strtoll(dev_old, NULL, 10),
	                          "command", command, "status", val(r, i, 4));
	if (done > 0) {
		iot__imp_event(m, K_CONTROL, old, -done, NULL, extra);
		return 0;
	}
	char why[IOT_ERRMSG_MAX] = "";
	if (!dev) {
		snprintf(why, sizeof why, "device %s was not imported", dev_old);
		iot__imp_event(m, K_CONTROL, old, 0, why, extra);
		return 0;
	}
	/* created_at/updated_at were timestamps without time zone, in UTC.
	 * The Flask service never moved a command past pending and gave none a
	 * lifetime: each gets the one a command sent here gets (command_ttl,
	 * from its creation), so its old pending ones lapse to expired instead
	 * of staying open for ever, offered to the device and never expiring. */
	char ttl[24];
	snprintf(ttl, sizeof ttl, "%ld", iot_config_get_long(m->cfg, "command_ttl"));
	const char *p[7] = { dev_old, command, val(r, i, 3), val(r, i, 4) ? val(r, i, 4) : "pending",
	                     val(r, i, 5), val(r, i, 6), ttl };
	static const char ins[] =
		"INSERT INTO device_control (device_id, command, parameters, status, created_at, updated_at, expires_at)"
		" SELECT $1::integer, $2, $3::jsonb, $4, c, coalesce($6::timestamp AT TIME ZONE 'UTC', now()),"
		" c + $7::bigint * interval '1 second'"
		" FROM coalesce($5::timestamp AT TIME ZONE 'UTC', now()) AS c RETURNING id";
	int64_t id = 0;
	int rc = iot__imp_insert(m, K_CONTROL, old, ins, 7, p, &id, why, sizeof why, err);
	if (rc < 0 || iot__imp_end_row(m, rc == 0, err) < 0) {
		json_decref(extra);
		return -1;
	}
	iot__imp_event(m, K_CONTROL, old, rc ? 0 : id, rc ? why : NULL, extra);
	return 0;
}

int iot__imp_controls(struct iot__imp *m, iot_error *err)
{
	return iot__imp_each(m, "device_control",
		"SELECT id::text, device_id::text, command, parameters::text, status,"
		" created_at::timestamp::text, updated_at::timestamp::text FROM device_control ORDER BY device_control.id",
		control_row, err);
}
