/* rows.c — values and times out of results, array parameters in, rows
 * handed to the caller. */
#include "query/query_int.h"

#include <stdlib.h>
#include <string.h>

#include "telemetry/record.h"

static uint64_t be(const char *p, int len)
{
	uint64_t v = 0;
	for (int i = 0; i < len; i++)
		v = v << 8 | (unsigned char)p[i];
	return v;
}

int64_t iot__query_int(const PGresult *res, int row, int col)
{
	int len = PQgetlength(res, row, col);
	uint64_t v = be(PQgetvalue(res, row, col), len);
	return len == 4 ? (int64_t)(int32_t)(uint32_t)v : (int64_t)v;
}

double iot__query_float8(const PGresult *res, int row, int col)
{
	uint64_t v = be(PQgetvalue(res, row, col), 8);
	double d;
	memcpy(&d, &v, sizeof d);
	return d;
}

/* PostgreSQL counts microseconds from 2000-01-01. */
int64_t iot__query_ts(const PGresult *res, int row, int col)
{
	return iot__query_int(res, row, col) + INT64_C(946684800000000);
}

json_t *iot__query_value(const PGresult *res, int row, int col, iot_error *err)
{
	json_t *v = NULL;
	if (!PQgetisnull(res, row, col)) {
		v = json_real(iot__query_float8(res, row, col));
	} else if (!PQgetisnull(res, row, col + 1)) {
		const char *s = PQgetvalue(res, row, col + 1);
		v = json_stringn_nocheck(s, (size_t)PQgetlength(res, row, col + 1));
	} else if (!PQgetisnull(res, row, col + 2)) {
		v = json_boolean(PQgetvalue(res, row, col + 2)[0] != 0);
	} else if (!PQgetisnull(res, row, col + 3)) {
		v = iot__query_jsonb(PQgetvalue(res, row, col + 3), (size_t)PQgetlength(res, row, col + 3),
		                     JSON_DECODE_ANY);
	}
	if (!v)
		iot_error_set(err, IOT_INTERNAL, "unable to read a stored value");
	return v;
}

json_t *iot__query_ts_json(int64_t ts_us)
{
	char buf[48];
	iot_query_format_ts(ts_us, buf, sizeof buf);
	return json_string_nocheck(buf);
}

int iot__query_check_names(const char *what, const char *const *names, size_t n, iot_error *err)
{
	if (n > IOT_QUERY_MEASUREMENTS_MAX)
		return iot_error_set(err, IOT_USAGE, "%s: %zu names, over the maximum of %d", what, n,
		                     IOT_QUERY_MEASUREMENTS_MAX);
	for (size_t i = 0; i < n; i++)
		if (!names[i] || !iot_measurement_name_valid(names[i], strlen(names[i])))
			return iot_error_set(err, IOT_USAGE,
			                     "%s: invalid measurement name (1 to 64 of A-Z a-z 0-9 _ . : / -, "
			                     "starting with a letter, a digit or _)", what);
	return 0;
}

/* Valid measurement names hold nothing an array literal must escape; they
 * are quoted all the same. */
char *iot__query_text_array(const char *const *names, size_t n)
{
	size_t cap = 3;
	for (size_t i = 0; i < n; i++)
		cap += 2 * strlen(names[i]) + 3;
	char *s = malloc(cap), *p = s;
	if (!s)
		return NULL;
	*p++ = '{';
	for (size_t i = 0; i < n; i++) {
		if (i)
			*p++ = ',';
		*p++ = '"';
		for (const char *c = names[i]; *c; c++) {
			if (*c == '"' || *c == '\\')
				*p++ = '\\';
			*p++ = *c;
		}
		*p++ = '"';
	}
	*p++ = '}';
	*p = '\0';
	return s;
}

char *iot__query_int_array(const int64_t *ids, size_t n)
{
	size_t cap = 3 + n * 21;
	char *s = malloc(cap);
	if (!s)
		return NULL;
	size_t len = 0;
	s[len++] = '{';
	for (size_t i = 0; i < n; i++)
		if (ids[i] > 0 && ids[i] <= INT32_MAX) /* int4 ids: no other has telemetry */
			len += (size_t)snprintf(s + len, cap - len, "%s%lld", len > 1 ? "," : "", (long long)ids[i]);
	s[len++] = '}';
	s[len] = '\0';
	return s;
}

int iot__query_oom(iot_error *err)
{
	return iot_error_set(err, IOT_INTERNAL, "out of memory");
}

int iot__query_emit(iot_query_row_fn fn, void *arg, json_t *row, iot_error *err)
{
	if (!row)
		return iot__query_oom(err);
	int rc = fn(arg, row);
	json_decref(row);
	return rc == 0 ? 0 : iot_error_set(err, IOT_INTERNAL, "stopped by the caller");
}

int iot__query_cmd(iot_db *db, const char *sql, int n, const char *const *p, PGresult **out, iot_error *err)
{
	PGresult *r = iot_db_query(db, sql, n, p, err);
	if (!r)
		return -1;
	if (out)
		*out = r;
	else
		PQclear(r);
	return 0;
}

int iot_query_collect(void *arg, json_t *row)
{
	return json_array_append(arg, row);
}
