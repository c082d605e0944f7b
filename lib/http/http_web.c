/* http_web.c — the web dashboard's static files (web/ in the tree,
 * DATADIR/iotflow/web installed), served by GET / (to browsers) and
 * GET /ui/NAME.
 *
 * The files are the fixed list below, read once when the server starts
 * from the web root (iot_httpd_opts.web_root) into memory: a request is
 * answered from that list by exact name, so no part of a URL ever reaches
 * the file system (/ui/../../etc/passwd is simply not in the list: 404).
 * A web root that is missing, or lacks a file of the list, turns the
 * dashboard off with one notice: the API runs as ever, / answers its JSON
 * index to everyone and /ui/ is 404.
 *
 * GET / is the page for a client whose Accept prefers text/html (a
 * browser), the JSON index otherwise (curl, scripts: what they parse
 * today); both say Vary: Accept. Every dashboard answer carries a
 * Content-Security-Policy that allows scripts, styles and connections of
 * this origin only (no inline script, no eval, not framed), nosniff and
 * Referrer-Policy: no-referrer. Files have a strong ETag (FNV-1a of their
 * bytes) and Cache-Control: no-cache, so a browser revalidates each time
 * and gets 304 for what it has. */
#include "http/http_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define WEB_FILE_MAX (4 << 20)

static const struct web_file {
	const char *url, *file, *ctype;
} files[] = {
	{ "/", "index.html", "text/html; charset=utf-8" },
	{ "/ui/style.css", "style.css", "text/css; charset=utf-8" },
	{ "/ui/app.js", "app.js", "text/javascript; charset=utf-8" },
	{ "/ui/api.js", "api.js", "text/javascript; charset=utf-8" },
	{ "/ui/devices.js", "devices.js", "text/javascript; charset=utf-8" },
	{ "/ui/charts.js", "charts.js", "text/javascript; charset=utf-8" },
	{ "/ui/favicon.svg", "favicon.svg", "image/svg+xml" },
	{ "/ui/vendor/uPlot.iife.min.js", "vendor/uPlot.iife.min.js", "text/javascript; charset=utf-8" },
	{ "/ui/vendor/uPlot.min.css", "vendor/uPlot.min.css", "text/css; charset=utf-8" },
};
#define NFILES (sizeof files / sizeof files[0])

struct http_web {
	struct { char *data; size_t len; char etag[24]; } f[NFILES];
};

static const char csp[] =
	"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
	"form-action 'self'; frame-ancestors 'none'";

static char *slurp(const char *path, size_t *len, const char **why)
{
	FILE *fp = fopen(path, "rb");
	struct stat st;
	char *buf = NULL;
	*why = NULL;
	if (!fp || fstat(fileno(fp), &st) < 0) {
		*why = strerror(errno);
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > WEB_FILE_MAX) {
		*why = S_ISREG(st.st_mode) ? "larger than 4 MiB" : "not a regular file";
		goto out;
	}
	if (!(buf = malloc((size_t)st.st_size + 1))) {
		*why = "out of memory";
		goto out;
	}
	*len = fread(buf, 1, (size_t)st.st_size, fp);
	if (ferror(fp) || *len != (size_t)st.st_size) {
		*why = "short read";
		free(buf);
		buf = NULL;
	}
out:
	if (fp)
		fclose(fp);
	return buf;
}

static void etag_of(const char *data, size_t len, char *out, size_t size)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)data[i];
		h *= 1099511628211ull;
	}
	snprintf(out, size, "\"%016llx\"", (unsigned long long)h);
}

void iot__http_web_free(iot_httpd *h)
{
	if (!h->web)
		return;
	for (size_t i = 0; i < NFILES; i++)
		free(h->web->f[i].data);
	free(h->web);
	h->web = NULL;
}

void iot__http_web_load(iot_httpd *h)
{
	const char *root = h->o.web_root;
	if (!root || !*root)
		return;
	if (!(h->web = calloc(1, sizeof *h->web))) {
		iot_config_notice(h->cfg, "the web dashboard is off: out of memory");
		return;
	}
	for (size_t i = 0; i < NFILES; i++) {
		char path[4096];
		const char *why = NULL;
		if ((size_t)snprintf(path, sizeof path, "%s/%s", root, files[i].file) >= sizeof path)
			why = "path too long";
		else
			h->web->f[i].data = slurp(path, &h->web->f[i].len, &why);
		if (why) {
			iot_config_notice(h->cfg, "the web dashboard is off (the API is served): %s: %s"
			                  " (see --web-root)", path, why);
			iot__http_web_free(h);
			return;
		}
		etag_of(h->web->f[i].data, h->web->f[i].len, h->web->f[i].etag, sizeof h->web->f[i].etag);
	}
}

/* (The JSON answers of reply.c say nosniff already.) */
static void security_headers(struct MHD_Response *resp, bool nosniff)
{
	MHD_add_response_header(resp, "Content-Security-Policy", csp);
	if (nosniff)
		MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
}

/* File i as the answer: 200, or 304 when the client has it already. */
static void serve(struct http_req *r, size_t i)
{
	const char *inm = iot__http_get_header(r, MHD_HTTP_HEADER_IF_NONE_MATCH);
	bool fresh = inm && strstr(inm, r->h->web->f[i].etag);
	struct MHD_Response *resp = fresh
		? MHD_create_response_from_buffer(0, (char *)"", MHD_RESPMEM_PERSISTENT)
		: MHD_create_response_from_buffer(r->h->web->f[i].len, r->h->web->f[i].data, MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		iot__http_error(r, 500, "Internal Server Error", "out of memory");
		return;
	}
	if (!fresh)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, files[i].ctype);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, r->h->web->f[i].etag);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	if (i == 0)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Accept");
	security_headers(resp, true);
	if (r->resp)
		MHD_destroy_response(r->resp);
	r->resp = resp;
	r->resp_status = fresh ? 304 : 200;
}

bool iot__http_web_index(struct http_req *r)
{
	if (!r->h->web || !iot_http_prefers_html(iot__http_get_header(r, MHD_HTTP_HEADER_ACCEPT)))
		return false;
	serve(r, 0);
	return true;
}

void iot__http_web_asset(struct http_req *r)
{
	if (r->h->web && r->path)
		for (size_t i = 1; i < NFILES; i++)
			if (!strcmp(r->path, files[i].url)) {
				serve(r, i);
				return;
			}
	iot__http_error(r, 404, "Not Found", r->h->web ? "No such file of the dashboard"
	                                               : "The web dashboard is not installed on this server");
	if (r->resp)
		security_headers(r->resp, false);
}
