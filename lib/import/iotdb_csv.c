/* iotdb_csv.c — the CSV files IoTDB's export tool writes, read into points
 * of the IoTFlow series layout (import.h has the rules). */
#include "import/import.h"
#include "base/line_reader.h"
#include "base/timestamp.h"
#include "telemetry/record.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LINE_MAX_BYTES (1 << 20)
#define COLS_MAX 4096

enum ctype { T_ANY, T_BOOL, T_NUM, T_TEXT };

struct col {
	int64_t device;        /* aligned by time: the path's device; by device: 0 */
	char *measurement;     /* NULL: the column was refused at the header */
	enum ctype type;
};

struct csv {
	const char *name;
	iot_iotdb_point_cb cb;
	iot_reject_cb rej;
	void *ctx;
	bool by_device;
	struct col *cols;
	int ncols;
	char *fields[COLS_MAX];
	int nfields;
	char where[300];
};

/* Split line (modified in place) into fields: unquoted ones trimmed of
 * spaces, quoted ones with "" or \" inside. -1 for an unterminated quote
 * or too many fields. */
static int split(struct csv *c, char *line)
{
	char *p = line;
	c->nfields = 0;
	for (;;) {
		if (c->nfields == COLS_MAX)
			return -1;
		while (*p == ' ' || *p == '\t')
			p++;
		char *start = p, *o = p;
		if (*p == '"') {
			for (p++;; p++) {
				if (!*p)
					return -1;
				if ((*p == '"' && p[1] == '"') || (*p == '\\' && p[1] == '"')) {
					*o++ = '"';
					p++;
				} else if (*p == '"') {
					p++;
					break;
				} else {
					*o++ = *p;
				}
			}
			while (*p == ' ' || *p == '\t')
				p++;
			if (*p && *p != ',')
				return -1;
		} else {
			while (*p && *p != ',')
				p++;
			o = p;
			while (o > start && (o[-1] == ' ' || o[-1] == '\t'))
				o--;
		}
		char sep = *p;
		*o = '\0';
		c->fields[c->nfields++] = start;
		if (!sep)
			return 0;
		p++;
	}
}

static enum ctype type_of(const char *t)
{
	static const char *const bools[] = { "BOOLEAN" }, *const nums[] = { "INT32", "INT64", "FLOAT", "DOUBLE", "INT", "LONG" };
	if (!strcasecmp(t, bools[0]))
		return T_BOOL;
	for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
		if (!strcasecmp(t, nums[i]))
			return T_NUM;
	if (!strcasecmp(t, "TEXT") || !strcasecmp(t, "STRING"))
		return T_TEXT;
	return T_ANY;
}

/* "name(TYPE)" -> name (cut in place), its type. */
static enum ctype header_type(char *h, bool *bad)
{
	size_t n = strlen(h);
	*bad = false;
	if (n < 3 || h[n - 1] != ')')
		return T_ANY;
	char *open = strrchr(h, '(');
	if (!open)
		return T_ANY;
	h[n - 1] = '\0';
	enum ctype t = type_of(open + 1);
	*bad = t == T_ANY;
	while (open > h && open[-1] == ' ')
		open--;
	*open = '\0';
	return t;
}

/* A decimal id after prefix at *s, up to '.' or the end. */
static int64_t path_id(const char **s, const char *prefix)
{
	size_t pl = strlen(prefix);
	if (strncmp(*s, prefix, pl))
		return 0;
	const char *p = *s + pl;
	int64_t v = 0;
	if (*p < '1' || *p > '9')
		return 0;
	while (*p >= '0' && *p <= '9' && v < 1000000000000LL)
		v = v * 10 + (*p++ - '0');
	if (*p && *p != '.')
		return 0;
	*s = *p ? p + 1 : p;
	return v;
}

/* root.iotflow.users.user_U.devices.device_D[.MEASUREMENT]: the device id
 * (0 when not that shape) and where the measurement starts. */
static int64_t series_device(const char *path, const char **rest)
{
	const char *p = path;
	if (strncmp(p, "root.iotflow.users.", 19))
		return 0;
	p += 19;
	if (!path_id(&p, "user_") || strncmp(p, "devices.", 8))
		return 0;
	p += 8;
	int64_t d = path_id(&p, "device_");
	*rest = p;
	return d;
}

/* A measurement name as IoTDB may quote it: `name`. */
static char *measurement_of(const char *s)
{
	size_t n = strlen(s);
	if (n >= 2 && s[0] == '`' && s[n - 1] == '`') {
		s++;
		n -= 2;
	}
	if (!iot_measurement_name_valid(s, n))
		return NULL;
	return strndup(s, n);
}

static void reject(struct csv *c, long line, int column, const char *fmt, const char *arg)
{
	char where[320], why[400];
	snprintf(where, sizeof where, "%s:%ld", c->name, line);
	snprintf(why, sizeof why, fmt, arg);
	c->rej(c->ctx, where, column, why);
}

static int header(struct csv *c, char *line)
{
	if (split(c, line) < 0 || c->nfields < 2 || strcasecmp(c->fields[0], "Time"))
		return -1;
	c->by_device = !strcasecmp(c->fields[1], "Device");
	int first = c->by_device ? 2 : 1;
	c->ncols = c->nfields;
	if (!(c->cols = calloc((size_t)c->ncols, sizeof *c->cols)))
		return -1;
	for (int i = first; i < c->ncols; i++) {
		bool badtype;
		char *h = c->fields[i];
		struct col *col = &c->cols[i];
		col->type = header_type(h, &badtype);
		const char *m = h;
		if (badtype) {
			reject(c, 1, i + 1, "unknown data type in '%.200s'", h);
			continue;
		}
		if (!c->by_device && !(col->device = series_device(h, &m))) {
			reject(c, 1, i + 1, "'%.200s' is not an IoTFlow series"
			       " (root.iotflow.users.user_U.devices.device_D.MEASUREMENT)", h);
			continue;
		}
		if (!(col->measurement = measurement_of(m)))
			reject(c, 1, i + 1, "invalid measurement name in '%.200s' (1..64 of [A-Za-z0-9_.:/-])", h);
	}
	return 0;
}

/* IoTDB writes epoch milliseconds (-tf timestamp) or ISO 8601 with an
 * offset, "+08:00" or "+0800". */
static int parse_time(const char *s, int64_t *us)
{
	char buf[64];
	size_t n = strlen(s);
	if (n && strspn(s, "0123456789") == n && n <= 16) {
		*us = strtoll(s, NULL, 10) * 1000;
		return 0;
	}
	if (n < 5 || n >= sizeof buf - 1)
		return -1;
	memcpy(buf, s, n + 1);
	if ((buf[n - 5] == '+' || buf[n - 5] == '-') && strspn(buf + n - 4, "0123456789") == 4) {
		memmove(buf + n - 1, buf + n - 2, 3);
		buf[n - 2] = ':';
	}
	return iot_parse_timestamp_str(buf, us);
}

static int cell(struct csv *c, long line, int i, int64_t device, int64_t ts, const char *v, iot_error *err)
{
	const struct col *col = &c->cols[i];
	if (!*v || !strcasecmp(v, "null"))
		return 0;
	iot_point p = { .device_id = device, .ts_us = ts, .measurement = col->measurement };
	char *end;
	errno = 0;
	double d = strtod(v, &end);
	bool num = end != v && !*end && errno != ERANGE;
	bool is_true = !strcasecmp(v, "true"), is_false = !strcasecmp(v, "false");
	if (col->type == T_TEXT || (col->type == T_ANY && !num && !is_true && !is_false)) {
		p.type = IOT_VAL_TEXT;
		p.text = v;
	} else if (col->type == T_BOOL || (col->type == T_ANY && !num)) {
		if (!is_true && !is_false) {
			reject(c, line, i + 1, "not a boolean: '%.100s'", v);
			return 0;
		}
		p.type = IOT_VAL_BOOL;
		p.boolean = is_true;
	} else {
		if (!num || !isfinite(d)) {
			reject(c, line, i + 1, "not a finite number: '%.100s'", v);
			return 0;
		}
		p.type = IOT_VAL_NUMBER;
		p.num = d;
	}
	snprintf(c->where, sizeof c->where, "%s:%ld", c->name, line);
	return c->cb(c->ctx, &p, c->where, i + 1, err);
}

static int row(struct csv *c, long line, char *text, iot_error *err)
{
	if (split(c, text) < 0) {
		reject(c, line, 0, "%s", "unterminated quote or too many fields");
		return 0;
	}
	if (c->nfields != c->ncols) {
		char n[48];
		snprintf(n, sizeof n, "%d fields, the header has %d", c->nfields, c->ncols);
		reject(c, line, 0, "%s", n);
		return 0;
	}
	int64_t ts, device = 0;
	if (parse_time(c->fields[0], &ts) < 0) {
		reject(c, line, 1, "bad time '%.100s' (epoch milliseconds or ISO 8601 with an offset)", c->fields[0]);
		return 0;
	}
	if (c->by_device) {
		const char *rest;
		if (!(device = series_device(c->fields[1], &rest)) || *rest) {
			reject(c, line, 2, "'%.200s' is not an IoTFlow device (root.iotflow.users.user_U.devices.device_D)",
			       c->fields[1]);
			return 0;
		}
	}
	for (int i = c->by_device ? 2 : 1; i < c->ncols; i++)
		if (c->cols[i].measurement &&
		    cell(c, line, i, c->by_device ? device : c->cols[i].device, ts, c->fields[i], err) < 0)
			return -1;
	return 0;
}

int iot_iotdb_csv_read(FILE *f, const char *name, iot_iotdb_point_cb cb, iot_reject_cb rej, void *ctx,
                       long long *rows, iot_error *err)
{
	struct csv c = { .name = name, .cb = cb, .rej = rej, .ctx = ctx };
	iot_line_reader lr;
	if (iot_line_reader_init(&lr, f, LINE_MAX_BYTES) < 0)
		return iot_error_set(err, IOT_INTERNAL, "out of memory");
	int rc = 0;
	for (;;) {
		const char *line;
		size_t len;
		enum iot_line_status st = iot_line_read(&lr, &line, &len);
		if (st == IOT_LINE_EOF)
			break;
		if (st == IOT_LINE_ERROR) {
			rc = iot_error_set(err, IOT_USAGE, "%s: read error: %s", name, strerror(errno));
			break;
		}
		if (st == IOT_LINE_TOO_LONG || memchr(line, '\0', len)) {
			reject(&c, lr.lineno, 0, "%s", st == IOT_LINE_TOO_LONG ? "line longer than 1 MiB" : "NUL byte");
			continue;
		}
		if (!c.cols) {
			if (len == 0)
				continue;
			if (header(&c, (char *)line) < 0) {
				rc = iot_error_set(err, IOT_REJECTED, "%s:%ld: not an IoTDB CSV export"
				                   " (the first line must be Time,... or Time,Device,...)", name, lr.lineno);
				break;
			}
			continue;
		}
		if (len == 0)
			continue;
		(*rows)++;
		if (row(&c, lr.lineno, (char *)line, err) < 0) {
			rc = -1;
			break;
		}
	}
	iot_line_reader_free(&lr);
	for (int i = 0; c.cols && i < c.ncols; i++)
		free(c.cols[i].measurement);
	free(c.cols);
	return rc;
}
