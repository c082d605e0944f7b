/* json_util.c — bounded JSON parsing and NDJSON output on jansson.
 *
 * Numbers. jansson reads a number written with a fraction or an exponent
 * as a double and one without as a 64-bit integer. It refuses a double that
 * overflows and an integer beyond 64 bits, but lets a double underflow to 0
 * or to a subnormal (1e-400 becomes 0) and rounds 9007199254740993.0 to
 * 9007199254740992, without a word. So the scan that bounds the nesting
 * also notes whether any number needs a closer look (16 or more integer
 * digits, 300 or more fraction digits, an exponent that may leave the range
 * of a double: rare in telemetry), and only then check_numbers() goes over
 * the text again and rejects the first number that does not survive the trip
 * into a double:
 *   - an integer beyond 64 bits (jansson's refusal, in our words);
 *   - a number with a fraction but no exponent whose integer part is beyond
 *     +-2^53 (9007199254740992): a double cannot hold its units digit;
 *   - a number too large for a double (1e400; jansson's refusal too);
 *   - a number that is not 0 but closer to 0 than the smallest normal double
 *     (2.2250738585072014e-308): it would become 0 or lose digits.
 * With an exponent and in range, a number is floating point by its writer's
 * choice and becomes the nearest double (9.007199254740993e15 too). */
#include "base/json_util.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHOW_NUMBER_MAX 40 /* characters of a number quoted in a message */

/* Whether a number with ipn integer digits, fpn fraction digits and
 * exponent exp surely lies in the range of a double, 0 or in
 * [1e-307, 1e308]: a non-zero one is at least 10^(exp - fpn) and below
 * 10^(ipn + exp). */
static bool surely_in_range(size_t ipn, size_t fpn, long exp)
{
	return (long)ipn + exp <= 308 && exp - (long)fpn >= -307;
}

/* The length of the number-like run at s[0..len) (s[0] is a digit or '-'),
 * setting *look when it may need check_numbers(). */
static size_t skim_number(const char *s, size_t len, bool *look)
{
	size_t j = s[0] == '-', ipn = 0, fpn = 0;
	for (; j < len && s[j] >= '0' && s[j] <= '9'; j++)
		ipn++;
	if (j < len && s[j] == '.')
		for (j++; j < len && s[j] >= '0' && s[j] <= '9'; j++)
			fpn++;
	if (j < len && (s[j] == 'e' || s[j] == 'E')) {
		bool neg = ++j < len && s[j] == '-';
		long exp = 0;
		if (j < len && (s[j] == '+' || s[j] == '-'))
			j++;
		for (; j < len && s[j] >= '0' && s[j] <= '9'; j++)
			if (exp < 100000)
				exp = exp * 10 + (s[j] - '0');
		if (!surely_in_range(ipn, fpn, neg ? -exp : exp))
			*look = true;
	} else if (ipn >= 16 || fpn >= 300) {
		*look = true;
	}
	return j; /* at least 1: s[0] is '-' or a digit */
}

/* Depth of buf, or -1 past max; with look, *look is set when a number in
 * buf needs check_numbers(). Strings are skipped. */
static int scan(const char *buf, size_t len, int max, bool *look)
{
	int depth = 0, deepest = 0;
	bool in_str = false;
	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > deepest) {
				deepest = depth;
				if (deepest > max)
					return -1;
			}
		} else if (c == '}' || c == ']') {
			depth--;
		} else if (look && !*look && ((c >= '0' && c <= '9') || c == '-')) {
			i += skim_number(buf + i, len - i, look) - 1;
		}
	}
	return deepest;
}

int iot_json_depth(const char *buf, size_t len, int max)
{
	return scan(buf, len, max, NULL);
}

/* A JSON number token, split into its parts. */
struct num {
	const char *s, *ip, *fp, *ep; /* the token; integer, fraction, exponent digits */
	size_t len, ipn, fpn, epn;
	bool neg, frac, exp, exp_neg;
};

static size_t digits(const char *s, size_t len)
{
	size_t n = 0;
	while (n < len && s[n] >= '0' && s[n] <= '9')
		n++;
	return n;
}

/* The number starting at s[0..len) by JSON's grammar, or false when what
 * starts there is not one (jansson says why, or has said so already). */
static bool number_at(const char *s, size_t len, struct num *n)
{
	size_t i = 0;
	memset(n, 0, sizeof *n);
	n->s = s;
	n->neg = s[0] == '-';
	i += n->neg;
	n->ip = s + i;
	n->ipn = digits(s + i, len - i);
	if (n->ipn == 0 || (n->ipn > 1 && n->ip[0] == '0'))
		return false;
	i += n->ipn;
	if (i < len && s[i] == '.') {
		n->frac = true;
		n->fp = s + ++i;
		if ((n->fpn = digits(s + i, len - i)) == 0)
			return false;
		i += n->fpn;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		n->exp = true;
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			n->exp_neg = s[i++] == '-';
		n->ep = s + i;
		if ((n->epn = digits(s + i, len - i)) == 0)
			return false;
		i += n->epn;
	}
	n->len = i;
	return true;
}

/* Whether the n decimal digits d (no leading zero) exceed the digits of limit. */
static bool beyond(const char *d, size_t n, const char *limit)
{
	size_t ln = strlen(limit);
	return n > ln || (n == ln && memcmp(d, limit, n) > 0);
}

/* The exponent of n, saturated. */
static long exponent(const struct num *n)
{
	long exp = 0;
	for (size_t i = 0; i < n->epn && exp < 100000000; i++)
		exp = exp * 10 + (n->ep[i] - '0');
	return n->exp_neg ? -exp : exp;
}

/* The double strtod makes of n, computed from its digits and exponent alone
 * ("DIGITSeEXP"), so the locale's decimal point plays no part. *nonzero
 * says whether any digit is not 0. Returns false when out of memory. */
static bool value_of(const struct num *n, double *v, bool *nonzero)
{
	long exp = exponent(n) - (long)n->fpn;
	char *b = malloc(n->ipn + n->fpn + 32);
	if (!b)
		return false;
	memcpy(b, n->ip, n->ipn);
	if (n->fpn)
		memcpy(b + n->ipn, n->fp, n->fpn);
	size_t k = n->ipn + n->fpn;
	*nonzero = false;
	for (size_t i = 0; i < k && !*nonzero; i++)
		*nonzero = b[i] != '0';
	snprintf(b + k, 32, "e%ld", exp);
	*v = strtod(b, NULL);
	free(b);
	return true;
}

/* Why n does not survive the trip into a jansson value, or NULL. */
static const char *number_problem(const struct num *n)
{
	if (!n->frac && !n->exp)
		return beyond(n->ip, n->ipn, n->neg ? "9223372036854775808" : "9223372036854775807")
		       ? "is an integer beyond 64 bits" : NULL;
	if (!n->exp && beyond(n->ip, n->ipn, "9007199254740992"))
		return "has an integer part beyond +-2^53, which a double cannot hold exactly";
	double v;
	bool nonzero;
	if (surely_in_range(n->ipn, n->fpn, exponent(n)))
		return NULL;
	if (!value_of(n, &v, &nonzero))
		return NULL; /* out of memory: jansson's verdict stands */
	if (isinf(v))
		return "is too large for a double";
	if (nonzero && fabs(v) < DBL_MIN)
		return "is too close to 0 for a double (not 0, but below 2.2250738585072014e-308)";
	return NULL;
}

/* Reject the first number of buf[0..len) that number_problem() finds, with
 * its column (characters from 1 on its line, as jansson counts). */
static int check_numbers(const char *buf, size_t len, iot_error *err)
{
	bool in_str = false, escaped = false;
	long col = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];
		if ((c & 0xc0) != 0x80)
			col++;
		if (c == '\n')
			col = 0;
		if (in_str) {
			if (escaped)
				escaped = false;
			else if (c == '\\')
				escaped = true;
			else if (c == '"')
				in_str = false;
			continue;
		}
		struct num n;
		if (c == '"') {
			in_str = true;
		} else if (((c >= '0' && c <= '9') || c == '-') && number_at(buf + i, len - i, &n)) {
			const char *why = number_problem(&n);
			if (why) {
				int shown = n.len > SHOW_NUMBER_MAX ? SHOW_NUMBER_MAX : (int)n.len;
				return iot_error_set(err, IOT_REJECTED, "number %.*s%s at column %ld %s", shown, n.s,
				                     n.len > SHOW_NUMBER_MAX ? "..." : "", col, why);
			}
			col += (long)n.len - 1; /* a number is ASCII */
			i += n.len - 1;
		}
	}
	return 0;
}

const char *iot_show(struct iot_shown *out, const char *s, size_t len, bool quoted)
{
	size_t j = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (i == IOT_SHOW_MAX) {
			memcpy(out->s + j, "...", 3);
			j += 3;
			break;
		}
		if (quoted && (c == '"' || c == '\\')) {
			out->s[j++] = '\\';
			out->s[j++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			j += (size_t)snprintf(out->s + j, 5, "\\x%02x", c);
		} else {
			out->s[j++] = (char)c;
		}
	}
	out->s[j] = '\0';
	return out->s;
}

/* Rewrite a parse failure (jansson's words, in err->msg) into a precise,
 * printable line that quotes no string content: jansson's "near '...'"
 * repeats the input, control characters and broken UTF-8 included. */
static void explain(iot_error *err)
{
	static const char head[] = "invalid JSON at column ";
	static const char dup[] = "duplicate object key near '";
	char text[IOT_ERRMSG_MAX], *end;
	struct iot_shown sh;

	if (strncmp(err->msg, dup, sizeof dup - 1) == 0) {
		snprintf(text, sizeof text, "%s", err->msg + sizeof dup - 1);
		size_t n = strlen(text);
		if (n && text[n - 1] == '\'')
			n--;
		iot_error_set(err, IOT_REJECTED, "duplicate key %s", iot_show(&sh, text, n, false));
		return;
	}
	if (strncmp(err->msg, head, sizeof head - 1) != 0)
		return; /* e.g. the nesting limit: already clear */
	long col = strtol(err->msg + sizeof head - 1, &end, 10);
	if (strncmp(end, ": ", 2) != 0)
		return;
	snprintf(text, sizeof text, "%s", end + 2);
	const char *near = NULL;
	size_t near_len = 0;
	char *cut = strstr(text, " near '");
	if (cut) {
		*cut = '\0';
		near = cut + 7;
		near_len = strlen(near);
		if (near_len && near[near_len - 1] == '\'')
			near_len--;
	}
	if (strstr(text, "NUL byte in object key"))
		iot_error_set(err, IOT_REJECTED, "%s%ld: object key contains \\u0000", head, col);
	else if (strstr(text, "\\u0000"))
		iot_error_set(err, IOT_REJECTED, "%s%ld: string contains \\u0000", head, col);
	else if (strncmp(text, "unable to decode byte ", 22) == 0)
		/* jansson gives the column of the last good character. */
		iot_error_set(err, IOT_REJECTED, "%s%ld: invalid UTF-8 (byte %s)", head, col + 1,
		              iot_show(&sh, text + 22, strlen(text + 22), false));
	else if (strncmp(text, "'[' or '{' expected", 19) == 0)
		iot_error_set(err, IOT_REJECTED, "%s%ld: a record must be a JSON object or array", head, col);
	else if (near && near_len > 0 && near_len <= 24 && near[0] != '"') {
		char tok[sizeof sh.s];
		snprintf(tok, sizeof tok, "%s", iot_show(&sh, near, near_len, false));
		iot_error_set(err, IOT_REJECTED, "%s%ld: %s near '%s'", head, col,
		              iot_show(&sh, text, strlen(text), false), tok);
	} else
		iot_error_set(err, IOT_REJECTED, "%s%ld: %s", head, col, iot_show(&sh, text, strlen(text), false));
}

static json_t *parse(const char *buf, size_t len, int max_depth, size_t flags, iot_error *err)
{
	/* The reason is rewritten in place (explain), so it needs a home even
	 * when the caller does not want it. */
	iot_error unwanted;
	if (!err)
		err = &unwanted;
	/* jansson's own limit is 2048 levels; ours is far lower, and checked
	 * before parsing so a hostile line costs one linear scan. */
	bool look = false;
	if (scan(buf, len, max_depth, &look) < 0) {
		iot_error_set(err, IOT_REJECTED, "nesting deeper than %d levels", max_depth);
		return NULL;
	}
	json_error_t je;
	json_t *v = json_loadb(buf, len, JSON_REJECT_DUPLICATES | flags, &je);
	if (v && look && check_numbers(buf, len, err) < 0) {
		json_decref(v);
		return NULL;
	}
	if (!v) {
		if (strstr(je.text, "duplicate object key"))
			iot_error_set(err, IOT_REJECTED, "%s", je.text);
		else if (!(look && (strstr(je.text, "real number overflow") || strstr(je.text, "too big")) &&
		           check_numbers(buf, len, err) < 0))
			iot_error_set(err, IOT_REJECTED, "invalid JSON at column %d: %s", je.column, je.text);
		explain(err);
	}
	return v;
}

json_t *iot_json_parse(const char *buf, size_t len, int max_depth, iot_error *err)
{
	return parse(buf, len, max_depth, 0, err);
}

json_t *iot_json_parse_value(const char *buf, size_t len, int max_depth, iot_error *err)
{
	return parse(buf, len, max_depth, JSON_DECODE_ANY, err);
}

/* ---- compact text with the shortest reals ---- */

/* Grows (iot_json_text), or writes within cap and counts past it
 * (iot_json_compact), so that an oversized value can be reported with its
 * size. */
struct jbuf {
	char *s;
	size_t len, cap;
	bool grow, oom;
};

static void jput(struct jbuf *b, const char *s, size_t n)
{
	if (b->grow && !b->oom && b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (b->len + n + 1 > cap)
			cap *= 2;
		char *p = realloc(b->s, cap);
		if (p) {
			b->s = p;
			b->cap = cap;
		} else {
			b->oom = true;
		}
	}
	if (b->len + n <= b->cap && !b->oom)
		memcpy(b->s + b->len, s, n);
	b->len += n;
}

/* Escaped as jansson escapes (its JSON_COMPACT output): " \ \b \f \n
 * \r \t, the other control characters as \u00XX, the rest as it is. */
static void jstring(struct jbuf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	jput(b, "\"", 1);
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		jput(b, s + run, i - run);
		run = i + 1;
		char e[6] = { '\\', 0 };
		size_t k = 2;
		switch (c) {
		case '"': e[1] = '"'; break;
		case '\\': e[1] = '\\'; break;
		case '\b': e[1] = 'b'; break;
		case '\f': e[1] = 'f'; break;
		case '\n': e[1] = 'n'; break;
		case '\r': e[1] = 'r'; break;
		case '\t': e[1] = 't'; break;
		default:
			memcpy(e, "\\u00", 4);
			e[4] = hex[c >> 4];
			e[5] = hex[c & 15];
			k = 6;
		}
		jput(b, e, k);
	}
	jput(b, s + run, n - run);
	jput(b, "\"", 1);
}

static void jvalue(struct jbuf *b, const json_t *v)
{
	char num[40];
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *key;
		json_t *m;
		bool first = true;
		jput(b, "{", 1);
		json_object_foreach ((json_t *)v, key, m) {
			if (!first)
				jput(b, ",", 1);
			first = false;
			jstring(b, key, strlen(key));
			jput(b, ":", 1);
			jvalue(b, m);
		}
		jput(b, "}", 1);
		break;
	}
	case JSON_ARRAY:
		jput(b, "[", 1);
		for (size_t i = 0; i < json_array_size(v); i++) {
			if (i)
				jput(b, ",", 1);
			jvalue(b, json_array_get(v, i));
		}
		jput(b, "]", 1);
		break;
	case JSON_STRING:
		jstring(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		jput(b, num, (size_t)snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v)));
		break;
	case JSON_REAL:
		jput(b, num, iot_json_real_text(json_real_value(v), num, sizeof num));
		break;
	case JSON_TRUE: jput(b, "true", 4); break;
	case JSON_FALSE: jput(b, "false", 5); break;
	case JSON_NULL: jput(b, "null", 4); break;
	}
}

char *iot_json_text(const json_t *v, size_t *len)
{
	struct jbuf b = { .grow = true };
	if (v)
		jvalue(&b, v);
	jput(&b, "", 1);
	if (!v || b.oom) {
		free(b.s);
		return NULL;
	}
	if (len)
		*len = b.len - 1;
	return b.s;
}

size_t iot_json_compact(const json_t *v, char *buf, size_t cap)
{
	struct jbuf b = { .s = buf, .cap = cap };
	jvalue(&b, v);
	return b.len;
}

size_t iot_json_string_text(const char *s, size_t n, char *buf, size_t cap)
{
	struct jbuf b = { .s = buf, .cap = cap };
	jstring(&b, s, n);
	return b.len;
}

int iot_json_print(FILE *f, const json_t *v)
{
	size_t n;
	char *text = iot_json_text(v, &n);
	int rc = text && fwrite(text, 1, n, f) == n && fputc('\n', f) != EOF && fflush(f) != EOF ? 0 : -1;
	free(text);
	return rc;
}

const char *iot_json_str(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The shortest of "%.*e" with 1 to 17 significant digits that reads back as v. */
static size_t real_exp(double v, char *buf, size_t size)
{
	int n = 0;
	for (int prec = 0; prec <= 16; prec++) {
		n = snprintf(buf, size, "%.*e", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return n > 0 ? (size_t)n : 0;
}

/* The common case without printf (which was most of an export's time):
 * v is m / 10^k for an integer m of at most 15 digits and k <= 6, checked
 * by dividing back. That division is correctly rounded, as strtod is, so
 * the text (the digits of m, a point k from the end) reads back as v, with
 * the digits %.15g would find (written without an exponent: 0.00001).
 * Returns the length, or 0 when v is not such a number. */
static size_t real_fast(double v, char *buf, size_t size)
{
	static const double p10[] = { 1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6 };
	if (!(fabs(v) < 1e9) || size < 32)
		return 0;
	if (v == 0) {
		memcpy(buf, signbit(v) ? "-0.0" : "0.0", signbit(v) ? 5 : 4);
		return signbit(v) ? 4 : 3;
	}
	for (int k = 0; k <= 6; k++) {
		double m = nearbyint(v * p10[k]);
		if (m / p10[k] != v)
			continue;
		char digits[24];
		int nd = 0;
		for (long long u = llabs((long long)m); u; u /= 10)
			digits[nd++] = (char)('0' + u % 10);
		while (nd <= k)                      /* 0.005: the leading zeros */
			digits[nd++] = '0';
		size_t n = 0;
		if (v < 0)
			buf[n++] = '-';
		while (nd > k)
			buf[n++] = digits[--nd];
		buf[n++] = '.';
		if (k == 0)
			buf[n++] = '0';
		while (nd > 0)
			buf[n++] = digits[--nd];
		buf[n] = '\0';
		return n;
	}
	return 0;
}

size_t iot_json_real_text(double v, char *buf, size_t size)
{
	size_t n = real_fast(v, buf, size);
	if (n)
		return n;
	if (fabs(v) > 9007199254740992.0) {
		n = real_exp(v, buf, size);
	} else {
		for (int prec = 15; prec <= 17; prec++) {
			int k = snprintf(buf, size, "%.*g", prec, v);
			n = k > 0 ? (size_t)k : 0;
			if (strtod(buf, NULL) == v)
				break;
		}
		if (!strpbrk(buf, ".eE,") && n + 2 < size) {
			memcpy(buf + n, ".0", 3);
			n += 2;
		}
	}
	for (char *c = buf; *c; c++)
		if (*c == ',') /* a decimal comma from the caller's locale is not JSON */
			*c = '.';
	return n;
}
