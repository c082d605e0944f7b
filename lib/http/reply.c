/* reply.c — answers: JSON bodies, the {"error","message"} shape, headers.
 * A request's answer is prepared here and queued by server.c. Error
 * messages are written by this library (never a backend's raw text, SQL
 * or a secret): callers pass phrases of their own or the decoder's
 * reasons, which never quote a secret. */
#include "http/http_int.h"
#include "base/json_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void set_response(struct http_req *r, int status, const char *ctype, char *text, size_t len)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, text ? text : (char *)"",
	                                                            text ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		free(text);
		return;
	}
	if (ctype)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	/* Headers set before the body (Allow, Retry-After) are carried over. */
	if (r->resp) {
		const char *v;
		static const char *const carry[] = { "Allow", "Retry-After", "WWW-Authenticate", "Vary" };
		for (size_t i = 0; i < sizeof carry / sizeof carry[0]; i++)
			if ((v = MHD_get_response_header(r->resp, carry[i])))
				MHD_add_response_header(resp, carry[i], v);
		MHD_destroy_response(r->resp);
	}
	r->resp = resp;
	r->resp_status = status;
}

void iot__http_reply_text(struct http_req *r, int status, const char *ctype, char *text, size_t len)
{
	set_response(r, status, ctype, text, len);
}

void iot__http_reply(struct http_req *r, int status, json_t *body)
{
	char *text = body ? iot_json_text(body, NULL) : NULL;
	json_decref(body);
	if (!text) {
		text = strdup("{\"error\":\"Internal Server Error\",\"message\":\"out of memory\"}");
		status = 500;
	}
	if (!text) {
		set_response(r, 500, NULL, NULL, 0);
		return;
	}
	size_t len = strlen(text);
	char *t = realloc(text, len + 2);
	if (t) {
		text = t;
		text[len++] = '\n';
		text[len] = '\0';
	}
	set_response(r, status, "application/json", text, len);
}

void iot__http_error(struct http_req *r, int status, const char *error, const char *fmt, ...)
{
	char msg[IOT_ERRMSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	iot__http_reply(r, status, json_pack("{s:s,s:s}", "error", error, "message", msg));
}

/* Headers are kept on a placeholder response until the body is set. */
void iot__http_header(struct http_req *r, const char *name, const char *value)
{
	if (!r->resp) {
		r->resp = MHD_create_response_from_buffer(0, (char *)"", MHD_RESPMEM_PERSISTENT);
		if (!r->resp)
			return;
		r->resp_status = 0;
	}
	MHD_add_response_header(r->resp, name, value);
}

void iot__http_retry_after(struct http_req *r, int seconds)
{
	char v[16];
	snprintf(v, sizeof v, "%d", seconds > 0 ? seconds : 1);
	iot__http_header(r, MHD_HTTP_HEADER_RETRY_AFTER, v);
}

const char *iot__http_get_header(struct http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *iot__http_credential(struct http_req *r, const char *name, char buf[static HTTP_CREDENTIAL_MAX])
{
	const char *v = iot__http_get_header(r, name);
	if (!v)
		return NULL;
	v += strspn(v, " \t");
	size_t n = strlen(v);
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n >= HTTP_CREDENTIAL_MAX)
		return v;  /* no credential is so long: it fails as sent */
	memcpy(buf, v, n);
	buf[n] = '\0';
	return buf;
}

/* Headers that must come once. Two Content-Length headers frame the body
 * two ways, and a proxy in front may have taken the other one (request
 * smuggling: RFC 9112 6.3 has a server refuse the message and close the
 * connection); two X-API-Key or Authorization headers are two credentials,
 * of which only the first was looked at. */
struct header_count {
	const char *name;
	unsigned n;
};

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	(void)value;
	for (struct header_count *c = cls; c->name; c++)
		if (key && !strcasecmp(key, c->name))
			c->n++;
	return MHD_YES;
}

static void refuse(struct http_req *r, int status, const char *error, const char *msg, const char *name)
{
	iot__http_error(r, status, error, msg, name);
	iot__http_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
}

/* Content-Length beside Transfer-Encoding is how a proxy and a server are
 * made to disagree on where a body ends (RFC 9112 6.1: the connection must
 * not be kept); libmicrohttpd took the chunked body and kept it alive. A
 * coding other than chunked it does not decode: it waited for a body it
 * could not delimit until the timeout, with no answer at all (RFC 9112
 * 6.1: 501). */
bool iot__http_bad_framing(struct http_req *r)
{
	struct header_count c[] = {
		{ MHD_HTTP_HEADER_CONTENT_LENGTH, 0 }, { MHD_HTTP_HEADER_TRANSFER_ENCODING, 0 }, { "X-API-Key", 0 },
		{ MHD_HTTP_HEADER_AUTHORIZATION, 0 }, { NULL, 0 },
	};
	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, count_header, c);
	for (size_t i = 0; c[i].name; i++)
		if (c[i].n > 1) {
			refuse(r, 400, "Bad Request", "The request holds more than one %s header", c[i].name);
			return true;
		}
	const char *te = iot__http_get_header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	if (te && strcasecmp(te, "chunked")) {
		refuse(r, 501, "Not Implemented", "%s: only chunked is supported (or send a Content-Length)",
		       MHD_HTTP_HEADER_TRANSFER_ENCODING);
		return true;
	}
	if (te && c[0].n) {
		refuse(r, 400, "Bad Request", "The request holds both %s and Transfer-Encoding",
		       MHD_HTTP_HEADER_CONTENT_LENGTH);
		return true;
	}
	return false;
}
