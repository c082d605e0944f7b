/* http_parse.c — what the server reads from a request before any backend
 * is involved: route templates, content types, the records of a body,
 * query parameters, whether the client prefers HTML. Pure functions, no allocation: the fuzz target runs
 * them on hostile input. */
#include "http/http.h"
#include "auth/keys.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

bool iot_http_match_template(const char *tmpl, const char *path, int64_t *id)
{
	int64_t ids[2] = { 0, 0 };
	if (!iot_http_match_ids(tmpl, path, ids, 2))
		return false;
	if (id)
		*id = ids[0];
	return true;
}

bool iot_http_match_ids(const char *tmpl, const char *path, int64_t *ids, size_t nids)
{
	const char *t = tmpl, *p = path;
	size_t k = 0;
	while (*t) {
		if (!strncmp(t, "{id}", 4)) {
			if (*p < '1' || *p > '9')
				return false;
			int64_t v = 0;
			while (*p >= '0' && *p <= '9') {
				v = v * 10 + (*p - '0');
				if (v > INT32_MAX)
					return false;
				p++;
			}
			if (k < nids)
				ids[k] = v;
			k++;
			t += 4;
			continue;
		}
		if (t[0] == '*' && t[1] == '\0')
			return true;
		if (*t != *p)
			return false;
		t++;
		p++;
	}
	return *p == '\0';
}

/* Compare the media type of ct (up to ';' or blanks) with want. */
static bool media_is(const char *ct, size_t n, const char *want)
{
	return n == strlen(want) && !strncasecmp(ct, want, n);
}

enum iot_http_body iot_http_content_type(const char *ct)
{
	if (!ct)
		return IOT_BODY_MISSING;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	size_t n = strcspn(ct, "; \t");
	if (n == 0)
		return IOT_BODY_MISSING;
	if (media_is(ct, n, "application/json"))
		return IOT_BODY_JSON;
	if (n > 5 && !strncasecmp(ct, "application/", 12) && !strncasecmp(ct + n - 5, "+json", 5))
		return IOT_BODY_JSON;
	if (media_is(ct, n, "application/x-ndjson") || media_is(ct, n, "application/ndjson") ||
	    media_is(ct, n, "application/jsonlines") || media_is(ct, n, "application/x-jsonlines"))
		return IOT_BODY_NDJSON;
	return IOT_BODY_OTHER;
}

/* The q of one Accept element ("text/html;level=1;q=0.8": 0.8), from 0 to
 * 1000; a missing or bad q is 1000 (q=1), as browsers do. */
static int accept_q(const char *params, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++) {
		if (params[i] != ';')
			continue;
		size_t k = i + 1;
		while (k < n && (params[k] == ' ' || params[k] == '\t'))
			k++;
		if (k + 2 > n || (params[k] != 'q' && params[k] != 'Q') || params[k + 1] != '=')
			continue;
		k += 2;
		if (k == n || (params[k] != '0' && params[k] != '1'))
			return 1000;
		int q = (params[k++] - '0') * 1000, digits = 0;
		if (k < n && params[k] == '.')
			for (k++; k < n && params[k] >= '0' && params[k] <= '9' && digits < 3; k++, digits++)
				q += (params[k] - '0') * (digits == 0 ? 100 : digits == 1 ? 10 : 1);
		return q > 1000 ? 1000 : q;
	}
	return 1000;
}

bool iot_http_prefers_html(const char *accept)
{
	if (!accept)
		return false;
	/* The q each type gets from its most specific element: 3 the type, 2 its
	 * kind's wildcard, 1 the wildcard of all. */
	int html_q = 0, html_spec = 0, json_q = 0, json_spec = 0;
	const char *p = accept;
	while (*p) {
		size_t n = strcspn(p, ",");
		const char *m = p;
		while (m < p + n && (*m == ' ' || *m == '\t'))
			m++;
		size_t mlen = strcspn(m, ";, \t");
		if (m + mlen > p + n)
			mlen = (size_t)(p + n - m);
		int q = accept_q(m + mlen, (size_t)(p + n - (m + mlen)));
		int h = media_is(m, mlen, "text/html") ? 3 : media_is(m, mlen, "text/*") ? 2 : media_is(m, mlen, "*/*") ? 1 : 0;
		int j = media_is(m, mlen, "application/json") ? 3 : media_is(m, mlen, "application/*") ? 2
		      : media_is(m, mlen, "*/*") ? 1 : 0;
		if (h > html_spec) {
			html_spec = h;
			html_q = q;
		}
		if (j > json_spec) {
			json_spec = j;
			json_q = q;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	/* Equal (the wildcard of all, curl's default): the JSON the scripts parse. */
	return html_q > json_q;
}

static bool json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t skip_space(const char *buf, size_t len, size_t i)
{
	while (i < len && json_space(buf[i]))
		i++;
	return i;
}

/* The end of the JSON value starting at buf[i] (an object, array, string
 * or scalar), found by bracket and string scanning only: whether the value
 * is valid is the record decoder's business. Returns the index past it,
 * or 0 when it does not end within len or nests deeper than max_depth. */
static size_t value_end(const char *buf, size_t len, size_t i, int max_depth)
{
	int depth = 0;
	bool in_str = false;
	for (; i < len; i++) {
		char c = buf[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"') {
				in_str = false;
				if (depth == 0)
					return i + 1;
			}
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > max_depth)
				return 0;
		} else if (depth == 0 && (c == ',' || c == ']' || c == '}' || json_space(c))) {
			return i; /* the end of a scalar (or nothing, when i is where it started) */
		} else if (c == '}' || c == ']') {
			if (--depth == 0)
				return i + 1;
		}
	}
	return depth == 0 && !in_str ? i : 0;
}

static bool is_literal(const char *buf, size_t len, const char *lit)
{
	return len == strlen(lit) && !memcmp(buf, lit, len);
}

static long split_array(const char *buf, size_t len, size_t i, int max_depth, size_t max_records,
                        iot_http_record_fn fn, void *ctx, iot_error *err)
{
	size_t n = 0;
	i = skip_space(buf, len, i + 1);
	if (i < len && buf[i] == ']')
		return skip_space(buf, len, i + 1) == len ? 0 :
		       iot_error_set(err, IOT_REJECTED, "invalid JSON: text after the end of the array");
	for (;;) {
		size_t end = i < len ? value_end(buf, len, i, max_depth - 1) : 0;
		if (end == 0 || end <= i)
			return iot_error_set(err, IOT_REJECTED, "invalid JSON: element %zu is incomplete or "
			                     "nests deeper than %d levels", n, max_depth);
		if (n == max_records)
			return iot_error_set(err, IOT_REJECTED, "more than %zu records in one request", max_records);
		if (fn && fn(ctx, n, 0, buf + i, end - i) < 0)
			return iot_error_set(err, IOT_INTERNAL, "out of memory");
		n++;
		i = skip_space(buf, len, end);
		if (i < len && buf[i] == ',') {
			i = skip_space(buf, len, i + 1);
			continue;
		}
		if (i < len && buf[i] == ']')
			break;
		return iot_error_set(err, IOT_REJECTED, "invalid JSON: expected ',' or ']' after element %zu", n - 1);
	}
	if (skip_space(buf, len, i + 1) != len)
		return iot_error_set(err, IOT_REJECTED, "invalid JSON: text after the end of the array");
	return (long)n;
}

static long split_lines(const char *buf, size_t len, size_t max_records, iot_http_record_fn fn,
                        void *ctx, iot_error *err)
{
	size_t n = 0;
	long line = 0;
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(buf + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - buf) : len;
		line++;
		size_t a = skip_space(buf, end, i), b = end;
		while (b > a && json_space(buf[b - 1]))
			b--;
		if (b > a) {
			if (n == max_records)
				return iot_error_set(err, IOT_REJECTED, "more than %zu records in one request", max_records);
			if (fn && fn(ctx, n, line, buf + a, b - a) < 0)
				return iot_error_set(err, IOT_INTERNAL, "out of memory");
			n++;
		}
		i = end + 1;
	}
	return (long)n;
}

long iot_http_split_records(const char *buf, size_t len, enum iot_http_body kind, int max_depth,
                            size_t max_records, bool *batch, iot_http_record_fn fn, void *ctx,
                            iot_error *err)
{
	*batch = kind == IOT_BODY_NDJSON;
	if (kind == IOT_BODY_NDJSON)
		return split_lines(buf, len, max_records, fn, ctx, err);
	size_t a = skip_space(buf, len, 0), b = len;
	while (b > a && json_space(buf[b - 1]))
		b--;
	if (a == b || is_literal(buf + a, b - a, "null"))
		return 0;
	if (buf[a] == '[') {
		*batch = true;
		return split_array(buf, b, a, max_depth, max_records, fn, ctx, err);
	}
	/* One record: {} is no data; anything else is the decoder's to judge
	 * (a scalar, broken JSON: its reason says what is wrong). */
	size_t c = skip_space(buf, b, a + (buf[a] == '{'));
	if (buf[a] == '{' && c < b && buf[c] == '}' && skip_space(buf, b, c + 1) == b)
		return 0;
	if (fn && fn(ctx, 0, 0, buf + a, b - a) < 0)
		return iot_error_set(err, IOT_INTERNAL, "out of memory");
	return 1;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decode %XX and '+' in place; false when the result holds a NUL byte. */
static bool unescape(char *s)
{
	char *o = s;
	for (char *i = s; *i; i++) {
		if (*i == '+') {
			*o++ = ' ';
		} else if (*i == '%' && hexval(i[1]) >= 0 && hexval(i[2]) >= 0) {
			char c = (char)(hexval(i[1]) * 16 + hexval(i[2]));
			if (c == '\0')
				return false;
			*o++ = c;
			i += 2;
		} else {
			*o++ = *i;
		}
	}
	*o = '\0';
	return true;
}

void iot_http_query_parse(char *qs, iot_http_args *args)
{
	args->n = 0;
	args->truncated = false;
	args->nul = false;
	for (char *p = qs; p && *p;) {
		char *amp = strchr(p, '&');
		if (amp)
			*amp = '\0';
		char *eq = strchr(p, '=');
		if (eq)
			*eq = '\0';
		const char *v = eq ? eq + 1 : "";
		if (!*p) {
			/* no name: nothing to look up */
		} else if (!unescape(p) || !unescape(eq ? eq + 1 : p + strlen(p))) {
			args->nul = true;
		} else {
			if (args->n == IOT_HTTP_MAX_ARGS) {
				args->truncated = true;
			} else {
				args->a[args->n].name = p;
				args->a[args->n].value = v;
				args->n++;
			}
		}
		p = amp ? amp + 1 : NULL;
	}
}

const char *iot_http_arg(const iot_http_args *args, const char *name)
{
	for (size_t i = 0; i < args->n; i++)
		if (!strcmp(args->a[i].name, name))
			return args->a[i].value;
	return NULL;
}

int iot_http_arg_bool(const iot_http_args *args, const char *name, bool def, bool *out)
{
	static const char *const yes[] = { "true", "1", "yes", "on" }, *const no[] = { "false", "0", "no", "off" };
	const char *v = iot_http_arg(args, name);
	*out = def;
	if (!v)
		return 0;
	for (size_t i = 0; i < 4; i++) {
		if (!strcasecmp(v, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(v, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

const char *iot_http_args_secret(const iot_http_args *args)
{
	static const char *const names[] = { "api_key", "apikey", "api-key", "x-api-key", "key", "token",
	                                      "access_token", "authorization", "bearer", "password" };
	for (size_t i = 0; i < args->n; i++) {
		for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
			if (!strcasecmp(args->a[i].name, names[k]))
				return names[k];
		/* Under any name: never echoed (the name may be the key itself). */
		const char *n = args->a[i].name, *v = args->a[i].value;
		if (iot_secret_in_text(n, strlen(n)) || iot_secret_in_text(v, strlen(v)))
			return "that holds an IoTFlow key or token";
	}
	return NULL;
}
