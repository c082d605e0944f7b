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

struct tcase {
	const char *name;
	enum iot_input_format format;
	const char *input;      /* NULL: use big[] built by the case's builder */
	const char *expect;     /* "OK <render>" or "ERR <substring of the reason>" */
	const char *forbid;     /* must not appear in the reason (secrets) */
	size_t max_bytes, max_points; /* 0: default */
};
#define DEV 0, 0

#define T "2026-11-28T10:00:00.000000Z"
#define N "2026-11-28T12:00:00.000000Z"
#define A IOT_FORMAT_AUTO
#define F IOT_FORMAT_IOTFLOW
#define M IOT_FORMAT_MOSQUITTO
#define B IOT_FORMAT_THINGSBOARD

static const struct tcase cases[] = {
	/* (a) the IoTFlow body */
	{ "typical line", A, "{\"device_id\":17,\"data\":{\"temperature\":23.5,\"humidity\":61,\"pressure\":1013.2,\"status\":\"ok\"},\"timestamp\":\"2026-11-28T10:00:00Z\"}",
	  "OK dev=17 | temperature=23.5@" T " humidity=61 pressure=1013.2 status=\"ok\"", NULL, 0, 0 },
	{ "body without timestamp is now", A, "{\"data\":{\"t\":1}}", "OK dev=0 | t=1@" N, NULL, 0, 0 },
	{ "metadata on every point", A, "{\"data\":{\"a\":1,\"b\":2},\"metadata\":{\"loc\":\"lab\",\"n\":[1,0.1]}}",
	  "OK dev=0 | a=1@" N "#{\"loc\":\"lab\",\"n\":[1,0.1]} b=2", NULL, 0, 0 },
	{ "empty metadata is none", A, "{\"data\":{\"a\":1},\"metadata\":{}}", "OK dev=0 | a=1@" N, NULL, 0, 0 },
	{ "api_key and device_id string", A, "{\"api_key\":\"k-1\",\"device_id\":\"42\",\"data\":{\"a\":true}}",
	  "OK dev=42 key=k-1 | a=true@" N, NULL, 0, 0 },
	{ "epoch seconds", A, "{\"data\":{\"a\":1},\"timestamp\":1795860000}", "OK dev=0 | a=1@" T, NULL, 0, 0 },
	{ "epoch seconds fraction", A, "{\"data\":{\"a\":1},\"timestamp\":1795860000.25}",
	  "OK dev=0 | a=1@2026-11-28T10:00:00.250000Z", NULL, 0, 0 },
	{ "epoch milliseconds", A, "{\"data\":{\"a\":1},\"timestamp\":1795860000123}",
	  "OK dev=0 | a=1@2026-11-28T10:00:00.123000Z", NULL, 0, 0 },
	{ "offset +02:00", A, "{\"data\":{\"a\":1},\"timestamp\":\"2026-11-28T12:00:00+02:00\"}", "OK dev=0 | a=1@" T, NULL, 0, 0 },
	{ "offset -0130", A, "{\"data\":{\"a\":1},\"timestamp\":\"2026-11-28T08:30:00-0130\"}", "OK dev=0 | a=1@" T, NULL, 0, 0 },
	{ "space, lower-case z", A, "{\"data\":{\"a\":1},\"timestamp\":\"2026-11-28 10:00:00.5z\"}",
	  "OK dev=0 | a=1@2026-11-28T10:00:00.500000Z", NULL, 0, 0 },
	{ "nanoseconds truncated", A, "{\"data\":{\"a\":1},\"timestamp\":\"2026-11-28t10:00:00.123456789Z\"}",
	  "OK dev=0 | a=1@2026-11-28T10:00:00.123456Z", NULL, 0, 0 },
	{ "leap day", A, "{\"data\":{\"a\":1},\"timestamp\":\"2024-02-29T23:59:59Z\"}",
	  "OK dev=0 | a=1@2024-02-29T23:59:59.000000Z", NULL, 0, 0 },
	{ "earliest accepted", A, "{\"data\":{\"a\":1},\"timestamp\":\"2000-01-01T00:00:00Z\"}",
	  "OK dev=0 | a=1@2000-01-01T00:00:00.000000Z", NULL, 0, 0 },
	{ "latest accepted", A, "{\"data\":{\"a\":1},\"timestamp\":\"2026-11-28T13:00:00Z\"}",
	  "OK dev=0 | a=1@2026-11-28T13:00:00.000000Z", NULL, 0, 0 },
	{ "value types", A, "{\"data\":{\"n\":-0.5,\"i\":-3,\"z\":0,\"t\":\"\",\"b\":false,\"o\":{\"x\":[1,2.5,\"q\\\"\\n\"],\"y\":null},\"e\":[],\"h\":1e300,\"u\":1e-300}}",
	  "OK dev=0 | n=-0.5@" N " i=-3 z=0 t=\"\" b=false o=J{\"x\":[1,2.5,\"q\\\"\\n\"],\"y\":null} e=J[] h=1e+300 u=1e-300", NULL, 0, 0 },
	{ "reals in JSON values", A, "{\"data\":{\"o\":[0.1,1.0,-0.0,1e300,0.30000000000000004,\"\\u0001\\u00e9\"]}}",
	  "OK dev=0 | o=J[0.1,1.0,-0.0,1e+300,0.30000000000000004,\"\\u0001\xc3\xa9\"]@" N, NULL, 0, 0 },
	{ "integers at +-2^53", A, "{\"data\":{\"p\":9007199254740992,\"m\":-9007199254740992}}",
	  "OK dev=0 | p=9007199254740992@" N " m=-9007199254740992", NULL, 0, 0 },
	/* numbers: what is stored (the rejections are further down) */
	{ "2^53 written as a real", A, "{\"data\":{\"p\":9007199254740992.0,\"m\":-9007199254740992.0,\"f\":4503599627370495.5,\"r\":9007199254740991.5}}",
	  "OK dev=0 | p=9007199254740992@" N " m=-9007199254740992 f=4503599627370495.5 r=9007199254740992", NULL, 0, 0 },
	{ "with an exponent a number is floating point", A, "{\"data\":{\"a\":9.007199254740993e15,\"b\":1e16,\"c\":6.02214076E+23,\"d\":1E2,\"e\":12345678901234567e-3}}",
	  "OK dev=0 | a=9007199254740992@" N " b=1e+16 c=6.02214076e+23 d=100 e=12345678901234.566", NULL, 0, 0 },
	{ "smallest normal double, and zeros", A, "{\"data\":{\"a\":2.2250738585072014e-308,\"b\":-2.2250738585072014e-308,\"z\":0e-400,\"y\":-0.0e-999,\"x\":0.000}}",
	  "OK dev=0 | a=2.2250738585072014e-308@" N " b=-2.2250738585072014e-308 z=0 y=-0 x=0", NULL, 0, 0 },
	{ "number-like text in strings is text", A, "{\"data\":{\"s\":\"1e-400\",\"t\":\"\\\"9007199254740993.0\"}}",
	  "OK dev=0 | s=\"1e-400\"@" N " t=\"\"9007199254740993.0\"", NULL, 0, 0 },
	{ "64-bit integers in metadata and JSON values are kept exactly", A,
	  "{\"data\":{\"o\":[9223372036854775807,-9223372036854775808,9007199254740993]},\"metadata\":{\"serial\":18014398509481985}}",
	  "OK dev=0 | o=J[9223372036854775807,-9223372036854775808,9007199254740993]@" N "#{\"serial\":18014398509481985}", NULL, 0, 0 },
	{ "near the ends of a double's range", A, "{\"data\":{\"o\":[1e308,9.9e307,9e-308,1e-307,0.9e-307,-22.5e-309]}}",
	  "OK dev=0 | o=J[1e+308,9.9e+307,9e-308,1e-307,9e-308,-2.25e-308]@" N, NULL, 0, 0 },
	{ "largest double in a JSON value", A, "{\"data\":{\"o\":[1.7976931348623157e308,-1.7976931348623157e308]}}",
	  "OK dev=0 | o=J[1.7976931348623157e+308,-1.7976931348623157e+308]@" N, NULL, 0, 0 },
	{ "name characters", A, "{\"data\":{\"_x\":1,\"9lives\":2,\"room1/temp:c-1.x\":3,\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\":4}}",
	  "OK dev=0 | _x=1@" N " 9lives=2 room1/temp:c-1.x=3 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=4", NULL, 0, 0 },
	{ "whitespace and CRLF", A, " \t{\"data\":{\"a\":1}}\r\n", "OK dev=0 | a=1@" N, NULL, 0, 0 },
	{ "exactly max_points", A, "{\"data\":{\"a\":1,\"b\":2,\"c\":3}}", "OK dev=0 | a=1@" N " b=2 c=3", NULL, 0, 3 },
	{ "text of 4096 bytes", A, NULL, "OK text4096", NULL, 0, 0 },
	{ "many points (heap)", A, NULL, "OK many20", NULL, 0, 0 },
	/* (b) the flat MQTT payload */
	{ "flat payload", A, "{\"api_key\":\"abc\",\"temperature\":22.5,\"humidity\":60,\"timestamp\":\"2026-11-28T10:00:00Z\"}",
	  "OK dev=0 key=abc | temperature=22.5@" T " humidity=60", NULL, 0, 0 },
	{ "flat with device_id and metadata", F, "{\"device_id\":5,\"metadata\":{\"fw\":\"1.2\"},\"v\":1}",
	  "OK dev=5 | v=1@" N "#{\"fw\":\"1.2\"}", NULL, 0, 0 },
	{ "flat: values not an object is a measurement", A, "{\"values\":3}", "OK dev=0 | values=3@" N, NULL, 0, 0 },
	{ "flat, forced: values object is a JSON value", F, "{\"values\":{\"a\":1}}", "OK dev=0 | values=J{\"a\":1}@" N, NULL, 0, 0 },
	{ "flat: ts is a measurement", A, "{\"ts\":5,\"x\":1}", "OK dev=0 | ts=5@" N " x=1", NULL, 0, 0 },
	/* (c) mosquitto_sub -F %j and -F %J */
	{ "mosquitto object payload", A, "{\"tst\":\"2026-11-28T10:00:00.000000Z+0000\",\"topic\":\"iotflow/devices/7/telemetry\",\"qos\":1,\"retain\":0,\"payloadlen\":20,\"mid\":3,\"payload\":{\"temp\":1}}",
	  "OK dev=7 | temp=1@" T, NULL, 0, 0 },
	{ "mosquitto tst in local time", A, "{\"tst\":\"2026-11-28T11:00:00.123456Z+0100\",\"topic\":\"iotflow/devices/7/telemetry/sensors\",\"payload\":{\"data\":{\"t\":2}}}",
	  "OK dev=7 | t=2@2026-11-28T10:00:00.123456Z", NULL, 0, 0 },
	{ "mosquitto payload timestamp wins", A, "{\"tst\":\"2026-11-28T11:00:00.000000Z+0000\",\"topic\":\"iotflow/devices/7/telemetry\",\"payload\":{\"t\":2,\"timestamp\":\"2026-11-28T10:00:00Z\",\"device_id\":7,\"api_key\":\"kk\"}}",
	  "OK dev=7 key=kk | t=2@" T, NULL, 0, 0 },
	{ "mosquitto string payload (%j)", A, "{\"tst\":\"2026-11-28T10:00:00Z\",\"topic\":\"iotflow/devices/12/telemetry\",\"payload\":\"{\\\"a\\\":1,\\\"b\\\":\\\"x\\\"}\"}",
	  "OK dev=12 | a=1@" T " b=\"x\"", NULL, 0, 0 },
	{ "mosquitto -F %j line (as mosquitto_sub 2.0 prints it)", A, "{\"tst\":\"2026-11-28T10:00:00.000000Z+0000\",\"topic\":\"iotflow/devices/12/telemetry\",\"qos\":0,\"retain\":0,\"payloadlen\":20,\"payload\":\"{\\\"a\\\":1,\\\"s\\\":\\\"x\\\\\\\"y\\u00e9\\\"}\"}",
	  "OK dev=12 | a=1@" T " s=\"x\"y\xc3\xa9\"", NULL, 0, 0 },
	{ "the same message under -F %J", A, "{\"tst\":\"2026-11-28T10:00:00.000000Z+0000\",\"topic\":\"iotflow/devices/12/telemetry\",\"qos\":0,\"retain\":0,\"payloadlen\":20,\"payload\":{\"a\":1,\"s\":\"x\\\"y\\u00e9\"}}",
	  "OK dev=12 | a=1@" T " s=\"x\"y\xc3\xa9\"", NULL, 0, 0 },
	{ "-F %j: UTF-8 counted in bytes", A, "{\"topic\":\"iotflow/devices/12/telemetry\",\"payloadlen\":10,\"payload\":\"{\\\"a\\\":\\\"\xc3\xa9\\\"}\"}",
	  "OK dev=12 | a=\"\xc3\xa9\"@" N, NULL, 0, 0 },
	{ "-F %j: a ThingsBoard array", A, "{\"topic\":\"iotflow/devices/3/telemetry\",\"payloadlen\":39,\"payload\":\"[{\\\"ts\\\":1795860000000,\\\"values\\\":{\\\"a\\\":1}}]\"}",
	  "OK dev=3 | a=1@" T, NULL, 0, 0 },
	{ "mosquitto ThingsBoard payload", M, "{\"topic\":\"iotflow/devices/3/telemetry/metrics\",\"payload\":[{\"ts\":1795860000000,\"values\":{\"a\":1}},{\"values\":{\"b\":2}}]}",
	  "OK dev=3 | a=1@" T " b=2@" N, NULL, 0, 0 },
	{ "mosquitto without tst is now", M, "{\"topic\":\"iotflow/devices/3/telemetry/\",\"payload\":{\"a\":1}}", "OK dev=3 | a=1@" N, NULL, 0, 0 },
	/* (d) ThingsBoard */
	{ "ThingsBoard object", A, "{\"ts\":1795860000000,\"values\":{\"a\":1,\"b\":\"x\"}}", "OK dev=0 | a=1@" T " b=\"x\"", NULL, 0, 0 },
	{ "ThingsBoard without ts", A, "{\"values\":{\"a\":1}}", "OK dev=0 | a=1@" N, NULL, 0, 0 },
	{ "ThingsBoard fractional ms", B, "{\"ts\":1795860000000.5,\"values\":{\"a\":1}}",
	  "OK dev=0 | a=1@2026-11-28T10:00:00.000500Z", NULL, 0, 0 },
	{ "ThingsBoard array", A, "[{\"ts\":1795860000000,\"values\":{\"a\":1}},{\"ts\":1795860001000,\"values\":{\"a\":2,\"b\":3}}]",
	  "OK dev=0 | a=1@" T " a=2@2026-11-28T10:00:01.000000Z b=3", NULL, 0, 0 },
	{ "ThingsBoard array, an empty element", B, "[{\"values\":{}},{\"values\":{\"a\":1}}]", "OK dev=0 | a=1@" N, NULL, 0, 0 },

	/* rejections: the whole record */
	{ "over max_bytes", A, "{\"data\":{\"a\":1}}", "ERR record is 16 bytes, over the limit of 15", NULL, 15, 0 },
	{ "empty", A, "", "ERR empty record", NULL, 0, 0 },
	{ "blank", A, " \r\n\t ", "ERR empty record", NULL, 0, 0 },
	{ "byte order mark", A, "\xef\xbb\xbf{\"data\":{\"a\":1}}", "ERR byte order mark", NULL, 0, 0 },
	{ "trailing comma", A, "{\"data\":{\"a\":1,}}", "ERR invalid JSON at column 16: string or '}' expected near '}'", NULL, 0, 0 },
	{ "single quotes", A, "{'data':1}", "ERR invalid JSON at column 2", NULL, 0, 0 },
	{ "NaN", A, "{\"data\":{\"a\":NaN}}", "ERR invalid JSON at column 16: invalid token near 'NaN'", NULL, 0, 0 },
	{ "Infinity", A, "{\"a\":Infinity}", "ERR near 'Infinity'", NULL, 0, 0 },
	{ "-Infinity", A, "{\"a\":-Infinity}", "ERR invalid JSON at column", NULL, 0, 0 },
	{ "1e400", A, "{\"a\":1e400}", "ERR number 1e400 at column 6 is too large for a double", NULL, 0, 0 },
	{ "huge integer", A, "{\"a\":123456789012345678901234567890}", "ERR number 123456789012345678901234567890 at column 6 is an integer beyond 64 bits", NULL, 0, 0 },
	{ "\\u0000", A, "{\"a\":\"x\\u0000y\"}", "ERR invalid JSON at column 15: string contains \\u0000", NULL, 0, 0 },
	{ "invalid UTF-8", A, "{\"a\":\"x\xffy\"}", "ERR invalid JSON at column 8: invalid UTF-8 (byte 0xff)", NULL, 0, 0 },
	{ "overlong UTF-8", A, "{\"a\":\"\xc0\xaf\"}", "ERR invalid UTF-8 (byte 0xc0)", NULL, 0, 0 },
	{ "\\u0000 in a key", A, "{\"data\":{\"a\\u0000\":1}}", "ERR object key contains \\u0000", NULL, 0, 0 },
	{ "lone surrogate", A, "{\"a\":\"\\uD800\"}", "ERR invalid Unicode '\\uD800'", NULL, 0, 0 },
	{ "control character", A, "{\"a\":\"x\x01\"}", "ERR control character 0x1", NULL, 0, 0 },
	{ "duplicate key", A, "{\"data\":{\"a\":1,\"a\":2}}", "ERR duplicate key \"a\"", NULL, 0, 0 },
	{ "too deep", A, "{\"data\":{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}", "ERR nesting deeper than 32 levels", NULL, 0, 0 },
	{ "a scalar", A, "42", "ERR a record must be a JSON object or array", NULL, 0, 0 },
	{ "a string", A, "\"data\"", "ERR a record must be a JSON object or array", NULL, 0, 0 },
	{ "truncated secret", A, "{\"api_key\":\"SECRETKEY", "ERR premature end of input", "SECRET", 0, 0 },
	{ "broken secret", A, "{\"api_key\":\"SECRET\x01KEY\"}", "ERR control character", "SECRET", 0, 0 },
	{ "secret then garbage", A, "{\"api_key\":\"SECRETKEY\" x}", "ERR invalid JSON", "SECRET", 0, 0 },
	{ "two records", A, "{\"data\":{\"a\":1}}{\"data\":{\"a\":1}}", "ERR end of file expected", NULL, 0, 0 },
	{ "comment", A, "{\"data\":{\"a\":1}} // hi", "ERR invalid JSON", NULL, 0, 0 },
	{ "unknown format", 9, "{\"data\":{\"a\":1}}", "ERR unknown input format 9", NULL, 0, 0 },
	/* rejections: numbers a double (or a 64-bit integer) would not hold as written, anywhere */
	{ "2^53+1 written as a real", A, "{\"data\":{\"a\":9007199254740993.0}}",
	  "ERR number 9007199254740993.0 at column 14 has an integer part beyond +-2^53, which a double cannot hold exactly", NULL, 0, 0 },
	{ "-(2^53+1) written as a real", A, "{\"a\":-9007199254740993.0}", "ERR number -9007199254740993.0 at column 6 has an integer part beyond +-2^53", NULL, 0, 0 },
	{ "a fraction past 2^53", A, "{\"a\":9007199254740993.5}", "ERR number 9007199254740993.5 at column 6 has an integer part beyond", NULL, 0, 0 },
	{ "17 integer digits as a real", A, "{\"a\":10000000000000000.0}", "ERR number 10000000000000000.0 at column 6 has an integer part beyond", NULL, 0, 0 },
	{ "a real past 2^53 in a JSON value", A, "{\"data\":{\"o\":[1,9007199254740993.0]}}", "ERR number 9007199254740993.0 at column 17", NULL, 0, 0 },
	{ "a real past 2^53 in metadata", A, "{\"data\":{\"a\":1},\"metadata\":{\"x\":9007199254740994.0}}", "ERR number 9007199254740994.0 at column 33", NULL, 0, 0 },
	{ "2^63 as an integer", A, "{\"data\":{\"o\":[9223372036854775808]}}", "ERR number 9223372036854775808 at column 15 is an integer beyond 64 bits", NULL, 0, 0 },
	{ "-2^63-1 as an integer", A, "{\"data\":{\"o\":[-9223372036854775809]}}", "ERR number -9223372036854775809 at column 15 is an integer beyond 64 bits", NULL, 0, 0 },
	{ "1e-400 (underflow to 0)", A, "{\"data\":{\"a\":1e-400}}",
	  "ERR number 1e-400 at column 14 is too close to 0 for a double (not 0, but below 2.2250738585072014e-308)", NULL, 0, 0 },
	{ "-1e-400", A, "{\"a\":-1e-400}", "ERR number -1e-400 at column 6 is too close to 0", NULL, 0, 0 },
	{ "largest subnormal", A, "{\"a\":2.2250738585072009e-308}", "ERR number 2.2250738585072009e-308 at column 6 is too close to 0", NULL, 0, 0 },
	{ "smallest subnormal", A, "{\"a\":4.9406564584124654e-324}", "ERR is too close to 0", NULL, 0, 0 },
	{ "underflow without an exponent", A, NULL, "ERR number 0.00000000000000000000000000000000000000... at column 6 is too close to 0", NULL, 0, 0 },
	{ "underflow with many digits", A, "{\"a\":0.00000000001e-300}", "ERR number 0.00000000001e-300 at column 6 is too close to 0", NULL, 0, 0 },
	{ "underflow in a JSON value", A, "{\"data\":{\"o\":{\"x\":1e-999}}}", "ERR number 1e-999 at column 19 is too close to 0", NULL, 0, 0 },
	{ "just too large", A, "{\"a\":99e307}", "ERR number 99e307 at column 6 is too large for a double", NULL, 0, 0 },
	{ "just too small", A, "{\"a\":0.1e-307}", "ERR number 0.1e-307 at column 6 is too close to 0", NULL, 0, 0 },
	{ "overflow, negative", A, "{\"a\":-1.8e308}", "ERR number -1.8e308 at column 6 is too large for a double", NULL, 0, 0 },
	{ "overflow, huge exponent", A, "{\"a\":1e99999999999999999999}", "ERR number 1e99999999999999999999 at column 6 is too large", NULL, 0, 0 },
	{ "underflow, huge negative exponent", A, "{\"a\":1e-99999999999999999999}", "ERR number 1e-99999999999999999999 at column 6 is too close to 0", NULL, 0, 0 },
	{ "the first bad number is named", A, "{\"a\":1e-400,\"b\":1e400}", "ERR number 1e-400 at column 6", NULL, 0, 0 },
	{ "column counts characters", A, "{\"\xc3\xa9\xc3\xa9\":1e-400}", "ERR number 1e-400 at column 7", NULL, 0, 0 },
	{ "column counts from the start of the line", A, "{\"data\":\n  {\"a\":1e-400}}", "ERR number 1e-400 at column 8", NULL, 0, 0 },
	{ "column after a number", A, "{\"b\":-12.5e-3,\"a\":1e400}", "ERR number 1e400 at column 19", NULL, 0, 0 },
	{ "a long number is cut", A, "{\"a\":1000000000000000000000000000000000000000000000000000000000.5}",
	  "ERR number 1000000000000000000000000000000000000000... at column 6 has an integer part beyond", NULL, 0, 0 },
	{ "a bad number after a syntax error: the syntax error", A, "{\"a\":1e-400,}", "ERR invalid JSON at column", NULL, 0, 0 },
	{ "a malformed number", A, "{\"a\":1.e400}", "ERR invalid JSON at column", NULL, 0, 0 },
	/* rejections: shape */
	{ "array as IoTFlow", F, "[{\"data\":{\"a\":1}}]", "ERR expected a JSON object, not an array", NULL, 0, 0 },
	{ "unknown member beside data", A, "{\"data\":{\"a\":1},\"timestmap\":1}", "ERR unknown member \"timestmap\" beside \"data\"", NULL, 0, 0 },
	{ "data not an object", A, "{\"data\":[1]}", "ERR data must be an object", NULL, 0, 0 },
	{ "metadata not an object", A, "{\"data\":{\"a\":1},\"metadata\":\"x\"}", "ERR metadata must be an object", NULL, 0, 0 },
	{ "metadata null", A, "{\"data\":{\"a\":1},\"metadata\":null}", "ERR metadata must be an object", NULL, 0, 0 },
	{ "metadata too big", A, NULL, "ERR metadata is 4501 bytes of JSON, over the limit of 4096", NULL, 0, 0 },
	{ "no data: empty data", A, "{\"data\":{}}", "ERR no data", NULL, 0, 0 },
	{ "no data: empty object", A, "{}", "ERR no data", NULL, 0, 0 },
	{ "no data: only reserved", A, "{\"api_key\":\"k\",\"timestamp\":\"2026-11-28T10:00:00Z\"}", "ERR no data", NULL, 0, 0 },
	{ "no data: empty array", A, "[]", "ERR no data", NULL, 0, 0 },
	{ "no data: empty values", A, "[{\"values\":{}}]", "ERR no data", NULL, 0, 0 },
	{ "over max_points", A, "{\"data\":{\"a\":1,\"b\":2,\"c\":3,\"d\":4}}", "ERR 4 points in one record, over the limit of 3", NULL, 0, 3 },
	{ "over max_points across an array", A, "[{\"values\":{\"a\":1,\"b\":2}},{\"values\":{\"a\":1,\"b\":2}}]", "ERR 4 points in one record, over the limit of 3", NULL, 0, 3 },
	{ "over 1000 points", A, NULL, "ERR 1001 points in one record, over the limit of 1000", NULL, 0, 0 },
	/* rejections: names and values */
	{ "empty name", A, "{\"data\":{\"\":1}}", "ERR invalid measurement name \"\"", NULL, 0, 0 },
	{ "name with space", A, "{\"data\":{\"a b\":1}}", "ERR invalid measurement name \"a b\"", NULL, 0, 0 },
	{ "name starting with a dot", A, "{\"x\":1,\".x\":1}", "ERR invalid measurement name \".x\"", NULL, 0, 0 },
	{ "name starting with a dash", A, "{\"data\":{\"-x\":1}}", "ERR invalid measurement name \"-x\"", NULL, 0, 0 },
	{ "name of 65 bytes", A, "{\"data\":{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\":1}}", "ERR invalid measurement name \"aaaa", NULL, 0, 0 },
	{ "name non-ASCII", A, "{\"data\":{\"t\xc3\xa9\":1}}", "ERR invalid measurement name \"t\\xc3\\xa9\"", NULL, 0, 0 },
	{ "name with quote and newline", A, "{\"data\":{\"a\\\"\\n\":1}}", "ERR invalid measurement name \"a\\\"\\x0a\"", NULL, 0, 0 },
	{ "long bad name cut", A, NULL, "ERR ...\"", NULL, 0, 0 },
	{ "null value", A, "{\"data\":{\"a\":null}}", "ERR measurement \"a\" is null", NULL, 0, 0 },
	{ "integer beyond 2^53", A, "{\"data\":{\"a\":9007199254740993}}", "ERR measurement \"a\": integer 9007199254740993 is beyond +-2^53", NULL, 0, 0 },
	{ "negative integer beyond 2^53", A, "{\"data\":{\"a\":-9007199254740993}}", "ERR integer -9007199254740993 is beyond", NULL, 0, 0 },
	{ "number beyond 1e300", A, "{\"data\":{\"a\":1.5e300}}", "ERR measurement \"a\": number 1.5e+300 is out of range (+-1e300)", NULL, 0, 0 },
	{ "negative number beyond 1e300", A, "{\"data\":{\"a\":-1e301}}", "ERR is out of range (+-1e300)", NULL, 0, 0 },
	{ "text over 4096", A, NULL, "ERR measurement \"s\": text is 4097 bytes, over the limit of 4096", NULL, 0, 0 },
	{ "JSON value over 4096", A, NULL, "ERR measurement \"j\": JSON value is 4099 bytes, over the limit of 4096", NULL, 0, 0 },
	/* rejections: timestamps */
	{ "no time zone", A, "{\"data\":{\"a\":1},\"timestamp\":\"2026-11-28T10:00:00\"}", "ERR timestamp \"2026-11-28T10:00:00\" has no time zone", NULL, 0, 0 },
	{ "date only", A, "{\"data\":{\"a\":1},\"timestamp\":\"2026-11-28\"}", "ERR timestamp \"2026-11-28\" is not an ISO-8601 date and time", NULL, 0, 0 },
	{ "numeric string", A, "{\"data\":{\"a\":1},\"timestamp\":\"1795860000\"}", "ERR is not an ISO-8601 date and time", NULL, 0, 0 },
	{ "month 13", A, "{\"data\":{\"a\":1},\"timestamp\":\"2026-13-28T10:00:00Z\"}", "ERR has a month out of range", NULL, 0, 0 },
	{ "month 0", A, "{\"data\":{\"a\":1},\"timestamp\":\"2026-00-28T10:00:00Z\"}", "ERR has a month out of range", NULL, 0, 0 },
	{ "Nov 31", A, "{\"data\":{\"a\":1},\"timestamp\":\"2026-11-31T10:00:00Z\"}", "ERR has a day out of range for its month", NULL, 0, 0 },
	{ "Feb 29 2026", A, "{\"data\":{\"a\":1},\"timestamp\":\"2026-02-29T10:00:00Z\"}", "ERR has a day out of range", NULL, 0, 0 },
	{ "Feb 29 2100", A, "{\"data\":{\"a\":1},\"timestamp\":\"2100-02-29T10:00:00Z\"}", "ERR has a day out of range", NULL, 0, 0 },
	{ "day 0", A, "{\"data\":{\"a\":1},\"timestamp\":\"2026-11-00T10:00:00Z\"}", "ERR has a day out of range", NULL, 0, 0 },
	{ "hour 24", A, "{\"data\":{\"a\":1},\"timestamp\":\"2026-11-28T24:00:00Z\"}", "ERR has an hour out of range", NULL, 0, 0 },
	{ "minute 60", A, "{\"data\":{\"a\":1},\"timestamp\":\"2026-11-28T10:60:00Z\"}", "ERR has a minute out of range", NULL, 0, 0 },
	{ "leap second", A, "{\"data\":{\"a\":1},\"timestamp\":\"2026-06-30T23:59:60Z\"}", "ERR is a leap second", NULL, 0, 0 },
	{ "second 61", A, "{\"data\":{\"a\":1},\"timestamp\":\"2026-06-30T23:59:61Z\"}", "ERR has a second out of range", NULL, 0, 0 },
	{ "empty fraction", A, "{\"data\":{\"a\":1},\"timestamp\":\"2026-11-28T10:00:00.Z\"}", "ERR fraction of a second", NULL, 0, 0 },
	{ "10 fraction digits", A, "{\"data\":{\"a\":1},\"timestamp\":\"2026-11-28T10:00:00.1234567890Z\"}", "ERR fraction of a second", NULL, 0, 0 },
	{ "offset hour 24", A, "{\"data\":{\"a\":1},\"timestamp\":\"2026-11-28T10:00:00+24:00\"}", "ERR time zone offset out of range", NULL, 0, 0 },
	{ "offset +2", A, "{\"data\":{\"a\":1},\"timestamp\":\"2026-11-28T10:00:00+2\"}", "ERR invalid time zone offset", NULL, 0, 0 },
	{ "zone name", A, "{\"data\":{\"a\":1},\"timestamp\":\"2026-11-28T10:00:00 UTC\"}", "ERR has no time zone", NULL, 0, 0 },
	{ "trailing after zone", A, "{\"data\":{\"a\":1},\"timestamp\":\"2026-11-28T10:00:00Zx\"}", "ERR has trailing characters", NULL, 0, 0 },
	{ "Z+0100 outside tst", A, "{\"data\":{\"a\":1},\"timestamp\":\"2026-11-28T10:00:00Z+0100\"}", "ERR has trailing characters", NULL, 0, 0 },
	{ "negative epoch", A, "{\"data\":{\"a\":1},\"timestamp\":-5}", "ERR timestamp -5 is not a positive epoch time", NULL, 0, 0 },
	{ "zero epoch", A, "{\"data\":{\"a\":1},\"timestamp\":0}", "ERR timestamp 0 is not a positive epoch time", NULL, 0, 0 },
	{ "huge epoch", A, "{\"data\":{\"a\":1},\"timestamp\":1e300}", "ERR timestamp 1e+300 is not a positive epoch time", NULL, 0, 0 },
	{ "boolean timestamp", A, "{\"data\":{\"a\":1},\"timestamp\":true}", "ERR timestamp must be an ISO-8601 string or a number", NULL, 0, 0 },
	{ "null timestamp", A, "{\"data\":{\"a\":1},\"timestamp\":null}", "ERR timestamp must be", NULL, 0, 0 },
	{ "before 2000", A, "{\"data\":{\"a\":1},\"timestamp\":\"1999-12-31T23:59:59Z\"}",
	  "ERR timestamp 1999-12-31T23:59:59.000000Z is before 2000-01-01T00:00:00.000000Z", NULL, 0, 0 },
	{ "seconds that are 1970", A, "{\"data\":{\"a\":1},\"timestamp\":86400}", "ERR timestamp 1970-01-02T00:00:00.000000Z is before", NULL, 0, 0 },
	{ "in the future", A, "{\"data\":{\"a\":1},\"timestamp\":\"2026-11-28T13:00:00.000001Z\"}",
	  "ERR timestamp 2026-11-28T13:00:00.000001Z is more than 3600 s in the future", NULL, 0, 0 },
	{ "year 9999", A, "{\"data\":{\"a\":1},\"timestamp\":\"9999-12-31T23:59:59Z\"}", "ERR is more than 3600 s in the future", NULL, 0, 0 },
	/* rejections: identity */
	{ "device_id 0", A, "{\"device_id\":0,\"data\":{\"a\":1}}", "ERR device_id must be a positive integer", NULL, 0, 0 },
	{ "device_id -1", A, "{\"device_id\":-1,\"data\":{\"a\":1}}", "ERR device_id must be a positive integer", NULL, 0, 0 },
	{ "device_id 1.5", A, "{\"device_id\":1.5,\"data\":{\"a\":1}}", "ERR device_id must be a positive integer", NULL, 0, 0 },
	{ "device_id 2^53+1", A, "{\"device_id\":9007199254740993,\"data\":{\"a\":1}}", "ERR device_id must be a positive integer", NULL, 0, 0 },
	{ "device_id \"abc\"", A, "{\"device_id\":\"abc\",\"data\":{\"a\":1}}", "ERR device_id must be a positive integer", NULL, 0, 0 },
	{ "device_id \"017\"", A, "{\"device_id\":\"017\",\"data\":{\"a\":1}}", "ERR device_id must be a positive integer", NULL, 0, 0 },
	{ "device_id \"\"", A, "{\"device_id\":\"\",\"data\":{\"a\":1}}", "ERR device_id must be a positive integer", NULL, 0, 0 },
	{ "device_id true", A, "{\"device_id\":true,\"a\":1}", "ERR device_id must be a positive integer", NULL, 0, 0 },
	{ "api_key number", A, "{\"api_key\":12345,\"data\":{\"a\":1}}", "ERR api_key must be a string", "12345", 0, 0 },
	{ "api_key empty", A, "{\"api_key\":\"\",\"data\":{\"a\":1}}", "ERR api_key is empty", NULL, 0, 0 },
	{ "api_key too long", A, NULL, "ERR api_key is longer than 256 bytes", "SECRET", 0, 0 },
	/* rejections: ThingsBoard */
	{ "ts a string", A, "{\"ts\":\"2026-11-28T10:00:00Z\",\"values\":{\"a\":1}}", "ERR ts must be a positive number of milliseconds", NULL, 0, 0 },
	{ "ts negative", B, "{\"ts\":-1,\"values\":{\"a\":1}}", "ERR ts must be a positive number of milliseconds", NULL, 0, 0 },
	{ "ts in seconds", A, "{\"ts\":1795860000,\"values\":{\"a\":1}}", "ERR timestamp 1970-01-21", NULL, 0, 0 },
	{ "ThingsBoard unknown member", A, "{\"ts\":1795860000000,\"values\":{\"a\":1},\"device\":\"x\"}", "ERR unknown member \"device\" in a ThingsBoard record", NULL, 0, 0 },
	{ "ThingsBoard without values", B, "{\"ts\":1795860000000}", "ERR a ThingsBoard record needs \"values\"", NULL, 0, 0 },
	{ "ThingsBoard values not an object", B, "{\"values\":[1]}", "ERR values must be an object", NULL, 0, 0 },
	{ "array element not an object", A, "[{\"values\":{\"a\":1}},3]", "ERR element 1 of the array is not an object", NULL, 0, 0 },
	{ "array element in error", A, "[{\"values\":{\"a\":1}},{\"values\":{\"b\":null}}]", "ERR element 1: measurement \"b\" is null", NULL, 0, 0 },
	{ "array of IoTFlow bodies", A, "[{\"data\":{\"a\":1}}]", "ERR element 0: unknown member \"data\" in a ThingsBoard record", NULL, 0, 0 },
	/* rejections: mosquitto */
	{ "mosquitto without topic", M, "{\"payload\":{\"a\":1}}", "ERR expected a mosquitto_sub -F %j line", NULL, 0, 0 },
	{ "mosquitto topic not a string", M, "{\"topic\":7,\"payload\":{\"a\":1}}", "ERR expected a mosquitto_sub -F %j line", NULL, 0, 0 },
	{ "topic: status", A, "{\"topic\":\"iotflow/devices/7/status/heartbeat\",\"payload\":{\"a\":1}}", "ERR topic \"iotflow/devices/7/status/heartbeat\" is not a telemetry topic", NULL, 0, 0 },
	{ "topic: other prefix", A, "{\"topic\":\"devices/7/telemetry\",\"payload\":{\"a\":1}}", "ERR is not a telemetry topic", NULL, 0, 0 },
	{ "topic: id not a number", A, "{\"topic\":\"iotflow/devices/abc/telemetry\",\"payload\":{\"a\":1}}", "ERR is not a telemetry topic", NULL, 0, 0 },
	{ "topic: id 0", A, "{\"topic\":\"iotflow/devices/0/telemetry\",\"payload\":{\"a\":1}}", "ERR is not a telemetry topic", NULL, 0, 0 },
	{ "topic: leading zero", A, "{\"topic\":\"iotflow/devices/07/telemetry\",\"payload\":{\"a\":1}}", "ERR is not a telemetry topic", NULL, 0, 0 },
	{ "topic: telemetryx", A, "{\"topic\":\"iotflow/devices/7/telemetryx\",\"payload\":{\"a\":1}}", "ERR is not a telemetry topic", NULL, 0, 0 },
	{ "topic: no level", A, "{\"topic\":\"iotflow/devices/7\",\"payload\":{\"a\":1}}", "ERR is not a telemetry topic", NULL, 0, 0 },
	{ "topic: control bytes shown escaped", A, "{\"topic\":\"a\\u0001b\",\"payload\":{\"a\":1}}", "ERR topic \"a\\x01b\"", NULL, 0, 0 },
	{ "tst not a string", A, "{\"tst\":5,\"topic\":\"iotflow/devices/7/telemetry\",\"payload\":{\"a\":1}}", "ERR tst must be a string", NULL, 0, 0 },
	{ "tst invalid", A, "{\"tst\":\"yesterday\",\"topic\":\"iotflow/devices/7/telemetry\",\"payload\":{\"a\":1}}", "ERR tst \"yesterday\" is not an ISO-8601", NULL, 0, 0 },
	{ "tst too old", A, "{\"tst\":\"1990-01-01T00:00:00.000000Z+0000\",\"topic\":\"iotflow/devices/7/telemetry\",\"payload\":{\"a\":1}}", "ERR timestamp 1990-01-01T00:00:00.000000Z is before", NULL, 0, 0 },
	{ "payload null", A, "{\"topic\":\"iotflow/devices/7/telemetry\",\"payload\":null}", "ERR payload is empty", NULL, 0, 0 },
	{ "payload blank string", A, "{\"topic\":\"iotflow/devices/7/telemetry\",\"payload\":\" \"}", "ERR payload: empty record", NULL, 0, 0 },
	{ "payload number", A, "{\"topic\":\"iotflow/devices/7/telemetry\",\"payload\":21.5}", "ERR payload: expected a JSON object or array", NULL, 0, 0 },
	{ "payload string not JSON", A, "{\"topic\":\"iotflow/devices/7/telemetry\",\"payload\":\"21.5 C\"}", "ERR payload is not JSON (at column 6: end of file expected near 'C')", NULL, 0, 0 },
	{ "-F %j: not JSON", A, "{\"tst\":\"2026-11-28T10:00:00.000000Z+0000\",\"topic\":\"iotflow/devices/7/telemetry\",\"qos\":1,\"retain\":0,\"payloadlen\":8,\"payload\":\"not json\"}",
	  "ERR payload is not JSON (at column 3: invalid token near 'not')", NULL, 0, 0 },
	{ "-F %j: binary", A, "{\"topic\":\"iotflow/devices/7/telemetry\",\"payloadlen\":3,\"payload\":\"\\u0001\\u0002\x7f\"}", "ERR payload is not JSON (at column 1:", NULL, 0, 0 },
	{ "-F %j: a number", A, "{\"topic\":\"iotflow/devices/7/telemetry\",\"payloadlen\":4,\"payload\":\"21.5\"}", "ERR payload: expected a JSON object or array", NULL, 0, 0 },
	{ "-F %j: a JSON string", A, "{\"topic\":\"iotflow/devices/7/telemetry\",\"payloadlen\":5,\"payload\":\"\\\"str\\\"\"}", "ERR payload: expected a JSON object or array", NULL, 0, 0 },
	{ "-F %j: cut short at a NUL byte", A, "{\"topic\":\"iotflow/devices/7/telemetry\",\"payloadlen\":12,\"payload\":\"{\\\"a\\\":1}\"}",
	  "ERR payload: payloadlen is 12 but the payload string holds 7 bytes", NULL, 0, 0 },
	{ "-F %J: a JSON string payload", A, "{\"topic\":\"iotflow/devices/7/telemetry\",\"payloadlen\":15,\"payload\":\"{\\\"a\\\":1}\"}",
	  "ERR payload: payloadlen is 15 but the payload string holds 7 bytes", NULL, 0, 0 },
	{ "-F %j: a number a double cannot hold", A, "{\"topic\":\"iotflow/devices/7/telemetry\",\"payloadlen\":24,\"payload\":\"{\\\"a\\\":9007199254740993.0}\"}",
	  "ERR payload: number 9007199254740993.0 at column 6 has an integer part beyond +-2^53", NULL, 0, 0 },
	{ "-F %j: payload not UTF-8 spoils the line", A, "{\"topic\":\"iotflow/devices/7/telemetry\",\"payloadlen\":3,\"payload\":\"a\xff" "b\"}", "ERR invalid UTF-8 (byte 0xff)", NULL, 0, 0 },
	{ "payload string too deep", A, "{\"topic\":\"iotflow/devices/7/telemetry\",\"payload\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\"}", "ERR payload: nesting deeper than 32 levels", NULL, 0, 0 },
	{ "payload string with secret broken", A, "{\"topic\":\"iotflow/devices/7/telemetry\",\"payload\":\"{\\\"api_key\\\":\\\"SECRET\"}", "ERR payload is not JSON (at column 18: premature end of input)", "SECRET", 0, 0 },
	{ "payload in error", A, "{\"topic\":\"iotflow/devices/7/telemetry\",\"payload\":{\"a\":null}}", "ERR payload: measurement \"a\" is null", NULL, 0, 0 },
	{ "envelope in a payload is not unwrapped", A, "{\"topic\":\"iotflow/devices/7/telemetry\",\"payload\":{\"topic\":\"iotflow/devices/7/telemetry\",\"payload\":{\"a\":1}}}",
	  "OK dev=7 | topic=\"iotflow/devices/7/telemetry\"@" N " payload=J{\"a\":1}", NULL, 0, 0 },
	{ "device mismatch", A, "{\"topic\":\"iotflow/devices/7/telemetry\",\"payload\":{\"device_id\":8,\"a\":1}}", "ERR device_id in payload (8) does not match topic (7)", NULL, 0, 0 },
	{ "mosquitto without data", A, "{\"topic\":\"iotflow/devices/7/telemetry\",\"payload\":{\"api_key\":\"k\"}}", "ERR no data", NULL, 0, 0 },
	{ "device: strict mode keeps value objects as JSON", A, "{\"data\":{\"t\":{\"value\":22.1,\"unit\":\"C\"}}}",
	  "OK dev=0 | t=J{\"value\":22.1,\"unit\":\"C\"}@" N, NULL, 0, 0 },
	{ "device: identity members beside data go to the metadata, strict rejects them", A,
	  "{\"device_type\":\"esp32\",\"location\":\"lab\",\"data\":{\"a\":1}}", "ERR unknown member \"device_type\" beside \"data\"", NULL, 0, 0 },
	{ "device: strict is still strict about a zone", A, "{\"a\":1,\"timestamp\":\"2026-11-28 10:00:00\"}", "ERR has no time zone", NULL, 0, 0 },
};

/* DEVICE PAYLOADS (opts.device): what the Flask firmware and simulator
 * send; a note renders as " ~NOTE". */
static const struct tcase device_cases[] = {
	{ "device: value objects are numbers, the unit in the point's metadata", A,
	  "{\"device_id\":5,\"device_name\":\"sim\",\"timestamp\":\"2026-11-28T10:00:00Z\",\"data\":{\"t\":{\"value\":22.1,\"unit\":\"C\",\"timestamp\":\"x\"},\"rh\":{\"value\":45},\"n\":3},\"metadata\":{\"fw\":\"1\"}}",
	  "OK dev=5 | t=22.1@" T "#{\"fw\":\"1\",\"device_name\":\"sim\",\"unit\":\"C\"} rh=45#{\"fw\":\"1\",\"device_name\":\"sim\"} n=3", NULL, DEV },
	{ "device: flat payload, ts, null skipped, texts kept", A,
	  "{\"api_key\":\"k\",\"ts\":\"2026-11-28T10:00:00Z\",\"temperature\":null,\"sensor_error\":\"DHT_READ_FAILED\",\"status\":\"ok\",\"device_name\":\"e\",\"led\":1}",
	  "OK dev=0 key=k | sensor_error=\"DHT_READ_FAILED\"@" T "#{\"device_name\":\"e\"} status=\"ok\" led=1", NULL, DEV },
	{ "device: timestamp wins over ts", A, "{\"ts\":1,\"timestamp\":1795860000,\"a\":1}", "OK dev=0 | a=1@" T, NULL, DEV },
	{ "device: api_key in metadata is never kept", A, "{\"data\":{\"a\":1},\"metadata\":{\"api_key\":\"SECRET\",\"s\":\"x\"}}",
	  "OK dev=0 | a=1@" N "#{\"s\":\"x\"}", NULL, DEV },
	{ "device: only nulls is no data", A, "{\"a\":null,\"b\":null}", "ERR no data", NULL, DEV },
	{ "device: epoch digit string, seconds", A, "{\"a\":1,\"timestamp\":\"1795860000\"}", "OK dev=0 | a=1@" T, NULL, DEV },
	{ "device: epoch digit string, milliseconds from 1e10", A, "{\"a\":1,\"timestamp\":\"1795860000250\"}",
	  "OK dev=0 | a=1@2026-11-28T10:00:00.250000Z", NULL, DEV },
	{ "device: epoch float string", A, "{\"a\":1,\"timestamp\":\"1795860000.5\"}", "OK dev=0 | a=1@2026-11-28T10:00:00.500000Z", NULL, DEV },
	{ "device: ISO without a zone is UTC", A, "{\"a\":1,\"timestamp\":\"2026-11-28T10:00:00.000\"}", "OK dev=0 | a=1@" T, NULL, DEV },
	{ "device: ISO with space, no zone", A, "{\"a\":1,\"timestamp\":\"2026-11-28 10:00:00\"}", "OK dev=0 | a=1@" T, NULL, DEV },
	{ "device: +00:00Z", A, "{\"a\":1,\"timestamp\":\"2026-11-28T11:00:00+01:00Z\"}", "OK dev=0 | a=1@" T, NULL, DEV },
	{ "device: US form first", A, "{\"a\":1,\"timestamp\":\"11/10/2026 10:00:00\"}", "OK dev=0 | a=1@2026-11-10T10:00:00.000000Z", NULL, DEV },
	{ "device: EU form when US cannot be", A, "{\"a\":1,\"timestamp\":\"28/11/2026 10:00:00\"}", "OK dev=0 | a=1@" T, NULL, DEV },
	{ "device: unparseable is the arrival time, with a note", A, "{\"a\":1,\"timestamp\":\"20251121_195928\"}",
	  "OK dev=0 | a=1@" N " ~timestamp \"20251121_195928\" is not an ISO-8601 date and time (YYYY-MM-DDTHH:MM:SS[.ffffff]Z): stored with the arrival time", NULL, DEV },
	{ "device: seconds since boot is the arrival time", A, "{\"data\":{\"a\":1},\"timestamp\":\"123\"}",
	  "OK dev=0 | a=1@" N " ~timestamp \"123\" is before the earliest or too far in the future: stored with the arrival time", NULL, DEV },
	{ "device: far future is the arrival time", A, "{\"a\":1,\"timestamp\":4102444800}",
	  "OK dev=0 | a=1@" N " ~timestamp 4102444800 is before the earliest or too far in the future: stored with the arrival time", NULL, DEV },
	{ "device: a boolean timestamp is the arrival time", A, "{\"a\":1,\"timestamp\":true}",
	  "OK dev=0 | a=1@" N " ~timestamp 0 is not a string or a number: stored with the arrival time", NULL, DEV },
	{ "device: NaN is still not JSON", A, "{\"a\":NaN}", "ERR invalid token near 'NaN'", NULL, DEV },
	{ "device: a mosquitto line with a device payload", A,
	  "{\"topic\":\"iotflow/devices/7/telemetry/sensors\",\"payload\":{\"api_key\":\"k\",\"t\":{\"value\":1,\"unit\":\"C\"},\"timestamp\":\"2026-11-28 10:00:00\"}}",
	  "OK dev=7 key=k | t=1@" T "#{\"unit\":\"C\"}", NULL, DEV },
};

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
	      !strcmp(err.msg, "record contains a NUL byte (at byte 16)"), "raw NUL byte: %s", err.msg);
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
