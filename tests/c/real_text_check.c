/* real_text_check — iot_json_real_text against iot_json_parse_value, for
 * tests/iot_query.bats: every text it writes is a number the parser (and so
 * the record decoder, and so iot-ingest) takes, and reads back as the very
 * same double (also -0.0); up to 2^53 it is no longer than the shortest
 * of %.15g..%.17g plus ".0". Doubles tried: the edge cases, N random bit patterns, N random
 * decimals with up to 6 places (the fast path), N integers around 2^53.
 * Then iot_json_text, every program's JSON output: for N/10 random trees
 * without reals it writes exactly what json_dumps(JSON_COMPACT |
 * JSON_ENCODE_ANY) writes (keys in order, strings with every control
 * character, quotes, backslashes and UTF-8), and with reals it reads back
 * as the same tree.
 *   real_text_check N [SEED]     prints "ok COUNT" or the first failure, exit 1 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json_util.h"

static unsigned long long state;

static uint64_t next(void)
{
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return state;
}

/* 1 when v passes, 0 when it is not tried (not finite, or subnormal: the
 * parser refuses those as written), -1 with a line on stdout. */
static int check(double v)
{
	if (!isfinite(v) || fpclassify(v) == FP_SUBNORMAL)
		return 0;
	char buf[64], ref[64];
	size_t n = iot_json_real_text(v, buf, sizeof buf);
	iot_error err = { 0 };
	json_t *j = n == strlen(buf) ? iot_json_parse_value(buf, n, 4, &err) : NULL;
	bool real = json_is_real(j);
	double back = real ? json_real_value(j) : 0;
	json_decref(j);
	if (!real) {
		printf("%.17g: \"%s\" is not a real: %s\n", v, buf, j ? "an integer" : err.msg);
		return -1;
	}
	if (memcmp(&back, &v, sizeof v) != 0) {
		printf("%.17g: \"%s\" reads back as %.17g\n", v, buf, back);
		return -1;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(ref, sizeof ref, "%.*g", prec, v);
		if (strtod(ref, NULL) == v)
			break;
	}
	if (fabs(v) <= 9007199254740992.0 && n > strlen(ref) + 2) {
		printf("%.17g: \"%s\" is longer than \"%s\"\n", v, buf, ref);
		return -1;
	}
	return 1;
}

/* A random tree; reals only when with_reals. */
static json_t *tree(int depth, bool with_reals)
{
	static const char pieces[][5] = { "a", "\"", "\\", "\n", "\t", "\b", "\f", "\r", "\x01", "\x1f", "\x7f",
		"/", "\xc3\xa9", "\xe2\x98\x83", " ", "9" };
	int kind = (int)(next() % (depth > 3 ? 5 : 7));
	switch (kind) {
	case 0: return json_integer((json_int_t)next());
	case 1: return with_reals ? json_real((double)(int64_t)(next() % 2000001 - 1000000) / 1000.0) : json_true();
	case 2: return next() % 2 ? json_false() : json_null();
	case 3:
	case 4: {
		char buf[64] = "";
		for (int i = (int)(next() % 8); i > 0; i--)
			strcat(buf, pieces[next() % (sizeof pieces / sizeof pieces[0])]);
		return json_string(buf);
	}
	case 5: {
		json_t *a = json_array();
		for (int i = (int)(next() % 4); i > 0; i--)
			json_array_append_new(a, tree(depth + 1, with_reals));
		return a;
	}
	default: {
		json_t *o = json_object();
		for (int i = (int)(next() % 4); i > 0; i--) {
			char key[16];
			snprintf(key, sizeof key, "k%d\t%u", i, (unsigned)(next() % 100));
			json_object_set_new(o, key, tree(depth + 1, with_reals));
		}
		return o;
	}
	}
}

static int check_text(long count)
{
	for (long i = 0; i < count; i++) {
		bool reals = i % 2;
		json_t *t = tree(0, reals);
		char *mine = iot_json_text(t, NULL), *ref = json_dumps(t, JSON_COMPACT | JSON_ENCODE_ANY);
		json_t *back = mine ? json_loads(mine, JSON_DECODE_ANY, NULL) : NULL;
		bool ok = mine && ref && (reals ? json_equal(back, t) : !strcmp(mine, ref));
		if (!ok)
			printf("iot_json_text: \"%s\" where json_dumps wrote \"%s\"\n", mine ? mine : "(null)", ref ? ref : "");
		json_decref(back);
		free(mine);
		free(ref);
		json_decref(t);
		if (!ok)
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	long count = strtol(argv[1], NULL, 10);
	state = argc > 2 ? strtoull(argv[2], NULL, 10) | 1 : 88172645463325252ULL;
	static const double edges[] = { 0.0, -0.0, 0.1, -0.1, 7, -7, 1e-5, 1e-300, 1e300, -1e300,
		2.2250738585072014e-308, 1.7976931348623157e308, 9007199254740991.0, 9007199254740992.0,
		9007199254740994.0, 1.8014398509481984e16, 1e16, 123456789012.345, 999999999.999999,
		1e9, 0.3, 2.5e-7, 1e15, 1e21, 5e-324 };
	long ok = 0;
	for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
		int r = check(edges[i]);
		if (r < 0)
			return 1;
		ok += r;
	}
	for (long i = 0; i < count; i++) {
		uint64_t bits = next();
		double v;
		memcpy(&v, &bits, sizeof v);
		int places = (int)(next() % 7);
		double dec = (double)(int64_t)(next() % 2000000000000ULL - 1000000000000LL) / pow(10, places);
		double big = ldexp(1, 53) + (double)(int64_t)(next() % 2001 - 1000) * 2;
		int r1 = check(v), r2 = check(dec), r3 = check(big);
		if (r1 < 0 || r2 < 0 || r3 < 0)
			return 1;
		ok += r1 + r2 + r3;
	}
	if (check_text(count / 10 + 1) < 0)
		return 1;
	printf("ok %ld\n", ok);
	return 0;
}
