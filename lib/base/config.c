/* config.c — the one table of settings every program knows. */
#include "base/config.h"
#include "base/parse.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef IOT_SYSCONFDIR
#define IOT_SYSCONFDIR "/etc"
#endif

enum kind { K_STRING, K_SECRET, K_DURATION, K_INT };

struct setting {
	const char *key;
	const char *env;
	enum kind kind;
	const char *def;
	long min, max;
};

/* Every setting, its environment variable, type and default. Adding a key here
 * makes it valid in the file, the environment and (via iot_config_set) options. */
static const struct setting settings[] = {
	{ "database",          "IOTFLOW_DATABASE_URL",   K_SECRET,   NULL, 0, 0 },
	{ "redis_url",         "IOTFLOW_REDIS_URL",      K_SECRET,   NULL, 0, 0 },
	{ "mqtt_url",          "IOTFLOW_MQTT_URL",       K_SECRET,   NULL, 0, 0 },
	{ "key_pepper",        "IOTFLOW_KEY_PEPPER",     K_SECRET,   NULL, 0, 0 },
	/* iot-httpd: GET /metrics needs "Authorization: Bearer <this>" when set. */
	{ "metrics_token",     "IOTFLOW_METRICS_TOKEN",  K_SECRET,   NULL, 0, 0 },
	/* iot-httpd: peers whose X-Forwarded-For names the client (client_addr.c). */
	{ "trusted_proxies",   "IOTFLOW_TRUSTED_PROXIES", K_STRING,  NULL, 0, 0 },
	{ "online_window",     "IOTFLOW_ONLINE_WINDOW",  K_DURATION, "300", 1, 86400 * 30 },
	{ "db_retry_time",     "IOTFLOW_DB_RETRY_TIME",  K_DURATION, "15", 0, 86400 },
	{ "partition_ahead",   "IOTFLOW_PARTITION_AHEAD", K_INT,     "7", 0, 3650 },
	{ "sql_dir",           "IOTFLOW_SQL_DIR",        K_STRING,   NULL, 0, 0 },
	{ "max_future",        "IOTFLOW_MAX_FUTURE",     K_DURATION, "3600", 0, 86400 * 365 },
	/* How long a command to a device may wait for its device (--ttl overrides). */
	{ "command_ttl",       "IOTFLOW_COMMAND_TTL",    K_DURATION, "3600", 1, 86400 * 30 },
	/* Argon2id cost for people's passwords; a stored hash made with other
	 * values is rehashed at the next successful password check. */
	{ "password_ops",      "IOTFLOW_PASSWORD_OPS",   K_INT,      "2", 1, 10 },
	{ "password_mem_kib",  "IOTFLOW_PASSWORD_MEM_KIB", K_INT,    "65536", 8, 4194304 },
};
#define NSETTINGS (sizeof settings / sizeof settings[0])

struct iot_config {
	char *value[NSETTINGS];
	char *file;
	char *program;
	iot_notice_fn notice;
	void *notice_arg;
	const atomic_bool *stop;
};

static int find(const char *key)
{
	for (size_t i = 0; i < NSETTINGS; i++)
		if (!strcmp(settings[i].key, key))
			return (int)i;
	return -1;
}

iot_config *iot_config_new(const char *program)
{
	iot_config *cfg = calloc(1, sizeof(iot_config));
	if (cfg && !(cfg->program = strdup(program ? program : "iotflow"))) {
		free(cfg);
		return NULL;
	}
	return cfg;
}

void iot_config_set_notice(iot_config *cfg, iot_notice_fn fn, void *arg)
{
	cfg->notice = fn;
	cfg->notice_arg = arg;
}

static void vnotice(const iot_config *cfg, enum iot_notice_level level, const char *fmt, va_list ap)
{
	if (!cfg || !cfg->notice)
		return;
	char msg[IOT_ERRMSG_MAX];
	vsnprintf(msg, sizeof msg, fmt, ap);
	/* One printable line, like every error message. */
	for (char *c = msg; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = ' ';
	cfg->notice(cfg->notice_arg, level, msg);
}

void iot_config_notice(const iot_config *cfg, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vnotice(cfg, IOT_NOTICE_WARNING, fmt, ap);
	va_end(ap);
}

void iot_config_info(const iot_config *cfg, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vnotice(cfg, IOT_NOTICE_INFO, fmt, ap);
	va_end(ap);
}

void iot_config_set_stop(iot_config *cfg, const atomic_bool *stop)
{
	cfg->stop = stop;
}

const atomic_bool *iot_config_stop(const iot_config *cfg)
{
	return cfg->stop;
}

const char *iot_config_program(const iot_config *cfg)
{
	return cfg->program;
}

void iot_config_free(iot_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < NSETTINGS; i++) {
		if (cfg->value[i] && settings[i].kind == K_SECRET)
			memset(cfg->value[i], 0, strlen(cfg->value[i]));
		free(cfg->value[i]);
	}
	free(cfg->file);
	free(cfg->program);
	free(cfg);
}

int iot_config_set(iot_config *cfg, const char *key, const char *value, iot_error *err)
{
	int i = find(key);
	if (i < 0)
		return iot_error_set(err, IOT_USAGE, "unknown setting '%s'", key);
	const struct setting *s = &settings[i];
	char *copy;
	if (s->kind == K_DURATION || s->kind == K_INT) {
		long v;
		int bad = s->kind == K_DURATION ? iot_parse_duration(value, &v)
		                                : iot_parse_long(value, s->min, s->max, &v);
		if (bad || v < s->min || v > s->max)
			return iot_error_set(err, IOT_USAGE, "invalid value '%s' for %s (%s %ld..%ld)",
			                     value, key, s->kind == K_DURATION ? "seconds," : "integer",
			                     s->min, s->max);
		if (asprintf(&copy, "%ld", v) < 0)
			return iot_error_set(err, IOT_INTERNAL, "out of memory");
	} else {
		copy = strdup(value);
		if (!copy)
			return iot_error_set(err, IOT_INTERNAL, "out of memory");
	}
	free(cfg->value[i]);
	cfg->value[i] = copy;
	return 0;
}

const char *iot_config_get(const iot_config *cfg, const char *key)
{
	int i = find(key);
	if (i < 0)
		return NULL;
	if (cfg && cfg->value[i])
		return cfg->value[i];
	return settings[i].def;
}

long iot_config_get_long(const iot_config *cfg, const char *key)
{
	const char *v = iot_config_get(cfg, key);
	return v ? strtol(v, NULL, 10) : 0;
}

const char *iot_config_file(const iot_config *cfg)
{
	return cfg->file;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	char *e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static int load_file(iot_config *cfg, const char *path, bool must_exist, iot_error *err)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		if (!must_exist && errno == ENOENT)
			return 0;
		return iot_error_set(err, IOT_USAGE, "unable to read config file %s: %s", path, strerror(errno));
	}
	char *line = NULL;
	size_t cap = 0;
	long lineno = 0;
	int rc = 0;
	while (getline(&line, &cap, f) >= 0) {
		lineno++;
		char *s = trim(line);
		if (!*s || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			rc = iot_error_set(err, IOT_USAGE, "%s:%ld: expected 'key = value'", path, lineno);
			break;
		}
		*eq = '\0';
		char *key = trim(s), *val = trim(eq + 1);
		size_t vl = strlen(val);
		if (vl >= 2 && ((val[0] == '"' && val[vl - 1] == '"') || (val[0] == '\'' && val[vl - 1] == '\''))) {
			val[vl - 1] = '\0';
			val++;
		}
		iot_error e2;
		if (iot_config_set(cfg, key, val, &e2) < 0) {
			rc = iot_error_set(err, IOT_USAGE, "%s:%ld: %s", path, lineno, e2.msg);
			break;
		}
	}
	free(line);
	fclose(f);
	if (rc == 0) {
		free(cfg->file);
		cfg->file = strdup(path);
	}
	return rc;
}

int iot_config_load(iot_config *cfg, const char *path, iot_error *err)
{
	const char *envpath = getenv("IOTFLOW_CONFIG");
	if (path) {
		if (load_file(cfg, path, true, err) < 0)
			return -1;
	} else if (envpath && *envpath) {
		if (load_file(cfg, envpath, true, err) < 0)
			return -1;
	} else if (load_file(cfg, IOT_SYSCONFDIR "/iotflow/iotflow.conf", false, err) < 0) {
		return -1;
	}
	for (size_t i = 0; i < NSETTINGS; i++) {
		const char *v = getenv(settings[i].env);
		if (v && *v) {
			iot_error e2;
			if (iot_config_set(cfg, settings[i].key, v, &e2) < 0)
				return iot_error_set(err, IOT_USAGE, "%s: %s", settings[i].env, e2.msg);
		}
	}
	return 0;
}

int iot_config_setup(iot_config *cfg, const char *path, const char *conninfo, iot_error *err)
{
	if (!cfg)
		return iot_error_set(err, IOT_INTERNAL, "out of memory");
	if (iot_config_load(cfg, path, err) < 0)
		return -1;
	return conninfo ? iot_config_set(cfg, "database", conninfo, err) : 0;
}
