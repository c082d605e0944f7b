/* test_record.c — unit tests of the telemetry record decoder (lib/telemetry/record.c).
 *
 * Table-driven: an input record and either the points it must decode to
 * (rendered as one line, see render()) or a piece of the reason it must be
 * rejected with. Then the timestamp helpers, the malformed-input corpus in
 * tests/unit/json_malformed (n_*: must be rejected, i_*: must not crash),
 * concurrent decoding, and a timing loop that prints ns per record.
 *
 * Usage: test_record [CORPUS_DIR]   (TAP-like output; exit 1 on failure) */
#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "telemetry/record.h"

#define NOW_S INT64_C(1795867200) /* 2026-11-28T12:00:00Z */
#define NOW_US (NOW_S * 1000000)

static int tests, failures;

__attribute__((format(printf, 2, 3)))
static void check(bool ok, const char *fmt, ...)
{
	va_list ap;
	tests++;
	if (!ok)
		failures++;
	printf("%sok %d - ", ok ? "" : "not ", tests);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* ---- the table --------------------------------------------------------- */

/* Rendering of a decoded record: "dev=ID[ key=KEY] |" then each point as
 * " NAME=VALUE", followed by "@TIME" when its time differs from the previous
 * point's and "#META" when its metadata does. Numbers %.17g (shortest form
 * that reads back), text in double quotes as is, JSON values as J<text>. */
static void render(const iot_record *r, char *out, size_t size)
{
	size_t n = (size_t)snprintf(out, size, "dev=%" PRId64 "%s%s |", r->device_id,
	                            r->api_key ? " key=" : "", r->api_key ? r->api_key : "");
	for (size_t i = 0; i < r->npoints && n < size; i++) {
		const iot_point *p = &r->points[i];
		char v[4200], ts[40];
		switch (p->type) {
		case IOT_VAL_NUMBER: {
			int prec = 15;
			do
				snprintf(v, sizeof v, "%.*g", prec++, p->num);
			while (strtod(v, NULL) != p->num && prec <= 17);
			break;
		}
		case IOT_VAL_TEXT: snprintf(v, sizeof v, "\"%s\"", p->text); break;
		case IOT_VAL_BOOL: snprintf(v, sizeof v, "%s", p->boolean ? "true" : "false"); break;
		case IOT_VAL_JSON: snprintf(v, sizeof v, "J%s", p->text); break;
		}
		n += (size_t)snprintf(out + n, size - n, " %s=%s", p->measurement, v);
		if (i == 0 || p->ts_us != r->points[i - 1].ts_us) {
			iot_format_timestamp(p->ts_us, ts, sizeof ts);
			n += (size_t)snprintf(out + n, size - n, "@%s", ts);
		}
		const char *prev = i ? r->points[i - 1].metadata : NULL;
		if (p->metadata && (!prev || strcmp(prev, p->metadata) != 0))
			n += (size_t)snprintf(out + n, size - n, "#%s", p->metadata);
		if (p->device_id != r->device_id)
			n += (size_t)snprintf(out + n, size - n, "!dev%" PRId64, p->device_id);
	}
}

#include "record_cases.h"

/* Inputs too long to write out: built here, keyed by case name. */
static char *build_input(const char *name)
{
	size_t cap = 80000, n = 0;
	char *b = malloc(cap);
	if (!b)
		abort();
#define ADD(...) (n += (size_t)snprintf(b + n, cap - n, __VA_ARGS__))
	if (!strcmp(name, "text of 4096 bytes") || !strcmp(name, "text over 4096")) {
		size_t len = strstr(name, "over") ? 4097 : 4096;
		ADD("{\"data\":{\"s\":\"");
		memset(b + n, 'x', len);
		n += len;
		ADD("\"}}");
	} else if (!strcmp(name, "JSON value over 4096")) {
		ADD("{\"data\":{\"j\":[\"");
		memset(b + n, 'x', 4095);
		n += 4095;
		ADD("\"]}}");
	} else if (!strcmp(name, "metadata too big")) {
		ADD("{\"data\":{\"a\":1},\"metadata\":{");
		for (int i = 0; i < 500; i++)
			ADD("%s\"k%03d\":1", i ? "," : "", i);
		ADD("}}");
	} else if (!strcmp(name, "many points (heap)") || !strcmp(name, "over 1000 points")) {
		int count = name[0] == 'm' ? 20 : 1001;
		ADD("{\"data\":{");
		for (int i = 0; i < count; i++)
			ADD("%s\"m%d\":%d", i ? "," : "", i, i);
		ADD("}}");
	} else if (!strcmp(name, "api_key too long")) {
		ADD("{\"api_key\":\"SECRET");
		memset(b + n, 'k', 251);
		n += 251;
		ADD("\",\"data\":{\"a\":1}}");
	} else if (!strcmp(name, "underflow without an exponent")) {
		ADD("{\"a\":0.");
		memset(b + n, '0', 400);
		n += 400;
		ADD("1}");
	} else if (!strcmp(name, "long bad name cut")) {
		ADD("{\"data\":{\"");
		memset(b + n, 'n', 100);
		n += 100;
		ADD(" \":1}}");
	}
#undef ADD
	return b;
}

/* A rejection reason must be one line of printable ASCII. */
static bool printable(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

static void special_expect(const char *name, const iot_record *r, char *want, size_t size)
{
	if (!strcmp(name, "text of 4096 bytes")) {
		snprintf(want, size, "%s", r->npoints == 1 && r->points[0].type == IOT_VAL_TEXT &&
		         strlen(r->points[0].text) == 4096 ? "text4096" : "wrong");
	} else if (!strcmp(name, "many points (heap)")) {
		bool ok = r->npoints == 20;
		for (size_t i = 0; ok && i < r->npoints; i++)
			ok = r->points[i].num == (double)i && r->points[i].ts_us == NOW_US;
		snprintf(want, size, "%s", ok ? "many20" : "wrong");
	}
}

static void run_case(const struct tcase *c, bool device)
{
	iot_decode_opts o;
	iot_decode_opts_default(&o);
	o.format = c->format;
	o.now_us = NOW_US;
	o.device = device;
	if (c->max_bytes)
		o.max_bytes = c->max_bytes;
	if (c->max_points)
		o.max_points = c->max_points;
	char *owned = c->input ? NULL : build_input(c->name);
	const char *in = c->input ? c->input : owned;
	iot_record r;
	iot_error err;
	char got[16384];
	int rc = iot_record_decode(in, strlen(in), &o, &r, &err);
	if (rc == 0) {
		if (!strncmp(c->expect, "OK ", 3) && c->expect[3] != 'd')
			special_expect(c->name, &r, got, sizeof got);
		else
			render(&r, got, sizeof got);
		if (r.note)
			snprintf(got + strlen(got), sizeof got - strlen(got), " ~%s", r.note);
		bool ok = !strncmp(c->expect, "OK ", 3) && !strcmp(got, c->expect + 3);
		check(ok, "%s%s%s%s%s", c->name, ok ? "" : "\n#   want: ", ok ? "" : c->expect,
		      ok ? "" : "\n#   got:  OK ", ok ? "" : got);
	} else {
		bool ok = !strncmp(c->expect, "ERR ", 4) && strstr(err.msg, c->expect + 4) &&
		          printable(err.msg) && r.npoints == 0 && !r.points && !r.api_key &&
		          (c->forbid == NULL || !strstr(err.msg, c->forbid)) &&
		          err.status == (c->format == 9 ? IOT_USAGE : IOT_REJECTED);
		check(ok, "%s%s%s%s%s", c->name, ok ? "" : "\n#   want: ", ok ? "" : c->expect,
		      ok ? "" : "\n#   got:  ERR ", ok ? "" : err.msg);
	}
	iot_record_free(&r);
	free(owned);
}

/* ---- helpers of record.h ----------------------------------------------- */

static void test_helpers(void)
{
	int64_t t = 0;
	char buf[40];
	check(iot_measurement_name_valid("a", 1) && !iot_measurement_name_valid("a", 0) &&
	      !iot_measurement_name_valid(NULL, 3) && !iot_measurement_name_valid("a\0b", 3),
	      "iot_measurement_name_valid: lengths and NUL");
	check(iot_parse_timestamp_str("2026-11-28T10:00:00Z", &t) == 0 && t == (NOW_S - 7200) * 1000000,
	      "iot_parse_timestamp_str: UTC");
	check(iot_parse_timestamp_str("2026-11-28T10:00:00", &t) == -1 && iot_parse_timestamp_str(NULL, &t) == -1,
	      "iot_parse_timestamp_str: rejects");
	check(iot_parse_timestamp_num(99999999999.0, &t) == 0 && t == INT64_C(99999999999000000),
	      "iot_parse_timestamp_num: below 1e11 is seconds");
	check(iot_parse_timestamp_num(1e11, &t) == 0 && t == INT64_C(100000000000000),
	      "iot_parse_timestamp_num: 1e11 is milliseconds");
	check(iot_parse_timestamp_num(0.0 / 0.0, &t) == -1 && iot_parse_timestamp_num(-1, &t) == -1 &&
	      iot_parse_timestamp_num(1e300, &t) == -1 && iot_parse_timestamp_num(1.0 / 0.0, &t) == -1,
	      "iot_parse_timestamp_num: NaN, negative, huge, infinite");
	iot_format_timestamp(0, buf, sizeof buf);
	check(!strcmp(buf, "1970-01-01T00:00:00.000000Z"), "iot_format_timestamp: epoch");
	iot_format_timestamp(-1, buf, sizeof buf);
	check(!strcmp(buf, "1969-12-31T23:59:59.999999Z"), "iot_format_timestamp: before the epoch (%s)", buf);
	iot_format_timestamp(INT64_C(951782400) * 1000000 + 1, buf, sizeof buf);
	check(!strcmp(buf, "2000-02-29T00:00:00.000001Z"), "iot_format_timestamp: 2000-02-29 (%s)", buf);
	/* Every day from 1999 to 2101 survives format -> parse. */
	bool ok = true;
	for (int64_t day = 10592; day < 47848 && ok; day++) {
		int64_t us = day * 86400 * 1000000 + INT64_C(45296789012), back = 0;
		iot_format_timestamp(us, buf, sizeof buf);
		ok = iot_parse_timestamp_str(buf, &back) == 0 && back == us;
	}
	check(ok, "iot_format_timestamp and iot_parse_timestamp_str agree 1999..2101 (last %s)", buf);
	const char *why = iot_timestamp_parse("2026-11-28T10:00:00Z+0100", 25, IOT_TS_MOSQUITTO_TST, &t);
	check(!why && t == (NOW_S - 3 * 3600) * 1000000, "iot_timestamp_parse: mosquitto tst offset");
	why = iot_timestamp_parse("2026-11-28T10:00:00Zjunk", 20, 0, &t); /* not NUL-terminated use */
	check(!why && t == (NOW_S - 7200) * 1000000, "iot_timestamp_parse: reads only len bytes");
}

static void test_lifecycle(void)
{
	iot_record r;
	memset(&r, 0, sizeof r);
	iot_record_free(&r);
	iot_record_free(&r);
	iot_record_free(NULL);
	check(true, "iot_record_free on a zeroed record, twice, and NULL");

	const char *line = "{\"data\":{\"a\":1,\"b\":{\"c\":2}},\"metadata\":{\"m\":1}}";
	check(iot_record_decode(line, strlen(line), NULL, &r, NULL) == 0 && r.npoints == 2,
	      "decode with NULL opts and NULL err (defaults, real clock)");
	iot_record_free(&r);
	check(r.priv_ == NULL && r.points == NULL, "iot_record_free clears the record");
	check(iot_record_decode("{", 1, NULL, &r, NULL) == -1, "failure with NULL err");
	iot_record_free(&r);
	/* Not NUL-terminated: the byte after len must not be read as part of it. */
	char buf[32];
	memcpy(buf, "{\"data\":{\"a\":1}}XXXXXXXX", 24);
	iot_error err;
	check(iot_record_decode(buf, 16, NULL, &r, &err) == 0 && r.npoints == 1,
	      "decodes exactly len bytes of an unterminated buffer");
	iot_record_free(&r);
	static const char with_nul[] = "{\"data\":{\"a\":1}}\0";
	check(iot_record_decode(with_nul, sizeof with_nul - 1, NULL, &r, &err) == -1 &&
	      !strcmp(err.msg, "record contains a NUL byte (at byte 17)"), "raw NUL byte: %s", err.msg);
	iot_record_free(&r);
	iot_decode_opts o;
	iot_decode_opts_default(&o);
	o.max_points = 0;
	check(iot_record_decode(buf, 16, &o, &r, &err) == -1 &&
	      !strcmp(err.msg, "1 point in one record, over the limit of 0"), "max_points 0: %s", err.msg);
	iot_record_free(&r);
	o.max_points = 1000;
	o.max_future_us = -1;
	o.now_us = NOW_US;
	const char *far = "{\"data\":{\"a\":1},\"timestamp\":\"9999-12-31T23:59:59.999999Z\"}";
	check(iot_record_decode(far, strlen(far), &o, &r, &err) == 0, "max_future_us < 0: no limit");
	iot_record_free(&r);
}

/* ---- the malformed-input corpus ----------------------------------------- */

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	char *b = malloc(cap);
	size_t got;
	while (b && (got = fread(b + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			char *nb = realloc(b, cap *= 2);
			if (!nb)
				free(b);
			b = nb;
		}
	}
	fclose(f);
	*len = n;
	return b;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_corpus_file(const char *dir, const char *name)
{
	char path[4096];
	size_t len = 0;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	char *data = slurp(path, &len);
	if (!data) {
		check(false, "corpus %s: unreadable", name);
		return;
	}
	bool must_reject = name[0] == 'n', ok = true;
	char why[600] = "";
	for (int big = 0; big < 2; big++) {
		for (int fmt = IOT_FORMAT_AUTO; fmt <= IOT_FORMAT_THINGSBOARD; fmt++) {
			iot_decode_opts o;
			iot_decode_opts_default(&o);
			o.format = (enum iot_input_format)fmt;
			o.now_us = NOW_US;
			if (big) /* let the huge ones reach the parser */
				o.max_bytes = 1 << 20;
			iot_record r;
			iot_error err;
			int rc = iot_record_decode(data, len, &o, &r, &err);
			if (rc == 0 && must_reject) {
				ok = false;
				snprintf(why, sizeof why, " (accepted in format %d)", fmt);
			} else if (rc != 0 && (!printable(err.msg) || err.status != IOT_REJECTED)) {
				ok = false;
				snprintf(why, sizeof why, " (bad reason in format %d: %s)", fmt, err.msg);
			} else if (rc != 0 && fmt == IOT_FORMAT_AUTO && big) {
				snprintf(why, sizeof why, ": %s", err.msg);
			}
			iot_record_free(&r);
		}
	}
	check(ok, "corpus %s%s", name, why);
	free(data);
}

static void test_corpus(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d) {
		check(false, "corpus directory %s", dir);
		return;
	}
	char *names[1024];
	size_t n = 0, nrej = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < 1024)
		if ((e->d_name[0] == 'n' || e->d_name[0] == 'i') && e->d_name[1] == '_')
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof *names, name_cmp);
	for (size_t i = 0; i < n; i++) {
		nrej += names[i][0] == 'n';
		test_corpus_file(dir, names[i]);
		free(names[i]);
	}
	check(nrej >= 50, "corpus holds %zu must-reject files", nrej);
}

/* ---- concurrency and speed --------------------------------------------- */

static const char typical[] = "{\"device_id\":17,\"data\":{\"temperature\":23.5,\"humidity\":61,"
                              "\"pressure\":1013.2,\"status\":\"ok\"},\"timestamp\":\"2026-11-28T10:00:00Z\"}";

static void *decode_many(void *arg)
{
	long *bad = arg;
	iot_decode_opts o;
	iot_decode_opts_default(&o);
	o.now_us = NOW_US;
	for (int i = 0; i < 20000; i++) {
		iot_record r;
		iot_error err;
		const char *in = i % 3 ? typical : "{\"data\":{\"x\":NaN}}";
		int rc = iot_record_decode(in, strlen(in), &o, &r, &err);
		if ((rc == 0) != (i % 3 != 0) || (rc == 0 && r.npoints != 4))
			(*bad)++;
		iot_record_free(&r);
	}
	return NULL;
}

static void test_threads(void)
{
	pthread_t th[4];
	long bad[4] = { 0 };
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, decode_many, &bad[i]);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	check(bad[0] + bad[1] + bad[2] + bad[3] == 0, "4 threads decode concurrently with the same results");
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void bench(void)
{
	iot_decode_opts o;
	iot_decode_opts_default(&o);
	o.now_us = NOW_US;
	const int n = 200000;
	size_t len = strlen(typical);
	double t0 = now_ns();
	for (int i = 0; i < n; i++) {
		iot_record r;
		iot_error err;
		if (iot_record_decode(typical, len, &o, &r, &err) != 0 || r.npoints != 4) {
			check(false, "bench decode: %s", err.msg);
			iot_record_free(&r);
			return;
		}
		iot_record_free(&r);
	}
	double dt = now_ns() - t0;
	printf("# decode: %.0f ns/record (%d records of %zu bytes, 4 points each)\n", dt / n, n, len);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "tests/unit/json_malformed";
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		run_case(&cases[i], false);
	for (size_t i = 0; i < sizeof device_cases / sizeof device_cases[0]; i++)
		run_case(&device_cases[i], true);
	test_helpers();
	test_lifecycle();
	test_corpus(dir);
	test_threads();
	bench();
	printf("1..%d\n# %d passed, %d failed\n", tests, tests - failures, failures);
	return failures ? 1 : 0;
}
