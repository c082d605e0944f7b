/* test_http.c — table-driven tests of lib/http/http_parse.c: route
 * templates, content types, the records of a body, query strings; and how
 * diagnostics mask keys and tokens (lib/auth/secret_format.c).
 * Built by the Makefile (build/unit/test_http, ASan + UBSan), run by
 * tests/httpd.bats. Prints one line per failure and "N passed, N failed". */
#include <stdio.h>
#include <string.h>

#include "auth/keys.h"
#include "http/http.h"

static int passed, failed;

static void check(int ok, const char *what, const char *input)
{
	if (ok) {
		passed++;
	} else {
		failed++;
		printf("FAIL %s: %s\n", what, input);
	}
}

static void test_templates(void)
{
	static const struct { const char *tmpl, *path; int match; long long id; } cases[] = {
		{ "/", "/", 1, 0 },
		{ "/health", "/health", 1, 0 },
		{ "/health", "/health/", 0, 0 },
		{ "/health", "/healthz", 0, 0 },
		{ "/api/v1/telemetry/{id}", "/api/v1/telemetry/42", 1, 42 },
		{ "/api/v1/telemetry/{id}", "/api/v1/telemetry/042", 0, 0 },
		{ "/api/v1/telemetry/{id}", "/api/v1/telemetry/0", 0, 0 },
		{ "/api/v1/telemetry/{id}", "/api/v1/telemetry/-1", 0, 0 },
		{ "/api/v1/telemetry/{id}", "/api/v1/telemetry/2147483647", 1, 2147483647 },
		{ "/api/v1/telemetry/{id}", "/api/v1/telemetry/2147483648", 0, 0 },
		{ "/api/v1/telemetry/{id}", "/api/v1/telemetry/99999999999999999999", 0, 0 },
		{ "/api/v1/telemetry/{id}", "/api/v1/telemetry/status", 0, 0 },
		{ "/api/v1/telemetry/{id}", "/api/v1/telemetry/7/latest", 0, 0 },
		{ "/api/v1/telemetry/{id}/latest", "/api/v1/telemetry/7/latest", 1, 7 },
		{ "/api/v1/telemetry/{id}/latest", "/api/v1/telemetry/7/", 0, 0 },
		{ "/api/v1/telemetry/{id}", "/api/v1/telemetry/", 0, 0 },
		{ "/ui/*", "/ui/app.js", 1, 0 },
		{ "/ui/*", "/ui/../../etc/passwd", 1, 0 }, /* matched: the handler's list decides */
		{ "/ui/*", "/ui", 0, 0 },
		{ "/ui/*", "/uix/app.js", 0, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int64_t id = 0;
		bool m = iot_http_match_template(cases[i].tmpl, cases[i].path, &id);
		check(m == (cases[i].match != 0) && (!m || id == cases[i].id), cases[i].tmpl, cases[i].path);
	}
	/* Two {id}s, in order (the control status route). */
	static const struct { const char *path; int match; long long a, b; } two[] = {
		{ "/d/12/c/7/s", 1, 12, 7 },
		{ "/d/12/c/0/s", 0, 0, 0 },
		{ "/d/12/c/7", 0, 0, 0 },
		{ "/d/12/c//s", 0, 0, 0 },
		{ "/d/1/c/2147483647/s", 1, 1, 2147483647 },
	};
	for (size_t i = 0; i < sizeof two / sizeof two[0]; i++) {
		int64_t ids[2] = { 0, 0 }, first = 0;
		bool m = iot_http_match_ids("/d/{id}/c/{id}/s", two[i].path, ids, 2);
		check(m == (two[i].match != 0) && (!m || (ids[0] == two[i].a && ids[1] == two[i].b)), "two ids", two[i].path);
		/* One slot: the first is kept, the second matched only. */
		m = iot_http_match_ids("/d/{id}/c/{id}/s", two[i].path, &first, 1);
		check(m == (two[i].match != 0) && (!m || first == two[i].a), "one slot", two[i].path);
	}
}

static void test_content_types(void)
{
	static const struct { const char *ct; enum iot_http_body kind; } cases[] = {
		{ "application/json", IOT_BODY_JSON },
		{ "Application/JSON; charset=utf-8", IOT_BODY_JSON },
		{ "  application/json  ", IOT_BODY_JSON },
		{ "application/vnd.api+json", IOT_BODY_JSON },
		{ "application/x-ndjson", IOT_BODY_NDJSON },
		{ "application/ndjson;charset=utf-8", IOT_BODY_NDJSON },
		{ "application/jsonx", IOT_BODY_OTHER },
		{ "text/json", IOT_BODY_OTHER },
		{ "application/x-www-form-urlencoded", IOT_BODY_OTHER },
		{ "+json", IOT_BODY_OTHER },
		{ "", IOT_BODY_MISSING },
		{ ";charset=utf-8", IOT_BODY_MISSING },
		{ NULL, IOT_BODY_MISSING },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check(iot_http_content_type(cases[i].ct) == cases[i].kind, "content type",
		      cases[i].ct ? cases[i].ct : "(null)");
}

struct got { char text[512]; };

static int collect(void *ctx, size_t index, long line, const char *buf, size_t len)
{
	struct got *g = ctx;
	char one[128];
	snprintf(one, sizeof one, "%s%zu:%ld:%.*s", index ? "|" : "", index, line, (int)len, buf);
	strncat(g->text, one, sizeof g->text - strlen(g->text) - 1);
	return 0;
}

static void test_accept(void)
{
	static const struct { const char *accept; int html; } cases[] = {
		{ "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8", 1 },
		{ "text/html", 1 },
		{ "TEXT/HTML ; q=0.5", 1 },
		{ "*/*", 0 },
		{ "application/json", 0 },
		{ "application/json, text/plain, */*", 0 },
		{ "text/html;q=0.5, application/json", 0 },
		{ "text/html, application/json", 0 },
		{ "text/html;q=1.0, application/json;q=0.9", 1 },
		{ "application/json;q=0, text/*", 1 },
		{ "text/html;q=0", 0 },
		{ "text/html;q=0, */*", 0 },
		{ "", 0 },
		{ ",,;q=,text/html;q=", 1 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check(iot_http_prefers_html(cases[i].accept) == (cases[i].html != 0), "accept", cases[i].accept);
	check(!iot_http_prefers_html(NULL), "accept", "NULL");
}

static void test_split(void)
{
	static const struct { enum iot_http_body kind; const char *body; long n; int batch; const char *records; } cases[] = {
		{ IOT_BODY_JSON, "", 0, 0, "" },
		{ IOT_BODY_JSON, "  \n ", 0, 0, "" },
		{ IOT_BODY_JSON, "null", 0, 0, "" },
		{ IOT_BODY_JSON, "{}", 0, 0, "" },
		{ IOT_BODY_JSON, " { } ", 0, 0, "" },
		{ IOT_BODY_JSON, "[]", 0, 1, "" },
		{ IOT_BODY_JSON, " [ ] ", 0, 1, "" },
		{ IOT_BODY_JSON, " {\"data\":{\"a\":1}} \n", 1, 0, "0:0:{\"data\":{\"a\":1}}" },
		{ IOT_BODY_JSON, "\"text\"", 1, 0, "0:0:\"text\"" },
		{ IOT_BODY_JSON, "{\"a\":1", 1, 0, "0:0:{\"a\":1" },
		{ IOT_BODY_JSON, "[{\"a\":1}, {\"b\":\"]\"}]", 2, 1, "0:0:{\"a\":1}|1:0:{\"b\":\"]\"}" },
		{ IOT_BODY_JSON, "[1, \"x\\\"]\", null]", 3, 1, "0:0:1|1:0:\"x\\\"]\"|2:0:null" },
		{ IOT_BODY_JSON, "[[1,2],{\"a\":[3]}]", 2, 1, "0:0:[1,2]|1:0:{\"a\":[3]}" },
		{ IOT_BODY_JSON, "[{\"a\":1} {\"b\":2}]", -1, 1, "0:0:{\"a\":1}" },
		{ IOT_BODY_JSON, "[{\"a\":1},]", -1, 1, "0:0:{\"a\":1}" },
		{ IOT_BODY_JSON, "[{\"a\":1}] x", -1, 1, "0:0:{\"a\":1}" },
		{ IOT_BODY_JSON, "[{\"a\":1}", -1, 1, "0:0:{\"a\":1}" },
		{ IOT_BODY_JSON, "[{\"a\":1}}]", -1, 1, "0:0:{\"a\":1}" },
		{ IOT_BODY_JSON, "[{\"a\":\"]", -1, 1, "" },
		{ IOT_BODY_JSON, "[[[[1]]]]", -1, 1, "" },   /* deeper than max_depth 3 */
		{ IOT_BODY_JSON, "[1,2,3,4,5]", -1, 1, "0:0:1|1:0:2|2:0:3|3:0:4" }, /* more than max_records 4 */
		{ IOT_BODY_NDJSON, "", 0, 1, "" },
		{ IOT_BODY_NDJSON, "{\"a\":1}\n\n  \r\n{\"b\":2}\r\n{\"c\"", 3, 1,
		  "0:1:{\"a\":1}|1:4:{\"b\":2}|2:5:{\"c\"" },
		{ IOT_BODY_NDJSON, "[1]\n[2]", 2, 1, "0:1:[1]|1:2:[2]" },
		{ IOT_BODY_NDJSON, "1\n2\n3\n4\n5\n", -1, 1, "0:1:1|1:2:2|2:3:3|3:4:4" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct got g = { "" };
		bool batch = false;
		iot_error err = { 0 };
		long n = iot_http_split_records(cases[i].body, strlen(cases[i].body), cases[i].kind, 3, 4, &batch,
		                                collect, &g, &err);
		int ok = n == cases[i].n && batch == (cases[i].batch != 0) && !strcmp(g.text, cases[i].records) &&
		         (n >= 0 || err.msg[0]);
		if (!ok)
			printf("  got n=%ld batch=%d records=[%s] err=%s\n", n, batch, g.text, err.msg);
		check(ok, "split", cases[i].body);
	}
}

static void test_query(void)
{
	char qs[] = "detailed=TRUE&x=%41+b%2&flag&=v&nul=a%00b&api%5Fkey=iotf_x&limit=10";
	iot_http_args a;
	iot_http_query_parse(qs, &a);
	check(a.n == 5, "query: pairs kept (empty names and NUL values dropped)", "");
	check(a.n > 1 && !strcmp(iot_http_arg(&a, "x"), "A b%2"), "query: %XX and + decoded", "x");
	check(iot_http_arg(&a, "flag") && !strcmp(iot_http_arg(&a, "flag"), ""), "query: a name without value", "flag");
	check(!iot_http_arg(&a, "nul") && a.nul, "query: NUL dropped, and said", "nul");
	bool b = false;
	check(iot_http_arg_bool(&a, "detailed", false, &b) == 0 && b, "query: bool TRUE", "detailed");
	check(iot_http_arg_bool(&a, "missing", true, &b) == 0 && b, "query: bool default", "missing");
	check(iot_http_arg_bool(&a, "limit", false, &b) < 0, "query: bool refuses 10", "limit");
	const char *s = iot_http_args_secret(&a);
	check(s && !strcmp(s, "api_key"), "query: secret found under an escaped name", "api%5Fkey");
	char many[40 * 4 + 1] = "";
	for (int i = 0; i < 40; i++)
		strcat(many, "a=1&");
	iot_http_query_parse(many, &a);
	check(a.n == IOT_HTTP_MAX_ARGS && a.truncated, "query: capped", "40 pairs");
	/* The names of keys and tokens, and their shape under any name. */
	static const struct { const char *qs, *want; } secrets[] = {
		{ "key=abc", "key" }, { "PASSWORD=x", "password" }, { "authorization=Bearer%20x", "authorization" },
		{ "bearer=x", "bearer" }, { "access_token=x", "access_token" },
		{ "q=iotf_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "that holds an IoTFlow key or token" },
		{ "q=Bearer+iotu_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-_AAAAAAAAAAAA", "that holds an IoTFlow key or token" },
		{ "iotu_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=1", "that holds an IoTFlow key or token" },
		{ "measurement=iotf_short", NULL }, { "q=iotf_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL },
		{ "q=iotx_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL }, { "keys=1&monkey=2", NULL },
	};
	for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
		char sq[128];
		snprintf(sq, sizeof sq, "%s", secrets[i].qs);
		iot_http_query_parse(sq, &a);
		const char *got = iot_http_args_secret(&a);
		check(secrets[i].want ? got && !strcmp(got, secrets[i].want) : !got, "query: secret by name or shape",
		      secrets[i].qs);
	}
	char clean[] = "start_time=-1h&measurement=temperature";
	iot_http_query_parse(clean, &a);
	check(!iot_http_args_secret(&a), "query: no secret", clean);
	check(!a.nul && a.n == 2, "query: no NUL", clean);
	iot_http_query_parse(NULL, &a);
	check(a.n == 0 && !a.nul && !a.truncated, "query: none", "NULL");
}

/* What diagnostics show of a key or token (lib/cli prints through it). */
static void test_secret_mask(void)
{
#define K43 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-_AAAAA"
	static const struct { const char *in, *want; int n; } cases[] = {
		{ "unknown command 'iotf_" K43 "'", "unknown command 'iotf_(not shown)'", 1 },
		{ "--key=iotf_" K43 "iotu_" K43, "--key=iotf_(not shown)iotu_(not shown)", 2 },
		{ "iotu_" K43 "x", "iotu_(not shown)x", 1 },
		{ "iotf_" K43, "iotf_(not shown)", 1 },
		{ "iotf_" K43 "A", "iotf_(not shown)A", 1 },
		{ "iotf_short and iotx_" K43, "iotf_short and iotx_" K43, 0 },
		{ "", "", 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char buf[256];
		snprintf(buf, sizeof buf, "%s", cases[i].in);
		int n = iot_secret_mask(buf);
		check(n == cases[i].n && !strcmp(buf, cases[i].want), "secret mask", cases[i].in);
	}
#undef K43
}

int main(void)
{
	test_secret_mask();
	test_templates();
	test_content_types();
	test_accept();
	test_split();
	test_query();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
