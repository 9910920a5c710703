/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 request-head parser and response-head formatter (RFC 9112,
 * RFC 9110); the choices the RFCs leave open are listed in http1.h.
 *
 * The parser checks each line as soon as its CRLF is there, so a malformed
 * head is refused without waiting for the rest, and interprets the few fields
 * valised acts on once the empty line arrives. A caller that reads in pieces
 * calls it again on the longer buffer: heads are at most VL_HTTP_HEAD_MAX
 * bytes, so the rescan is cheap and no state is kept between calls.
 */
#include "server/http1.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* RFC 9110 §5.6.2 tchar. */
static bool http_is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static unsigned char http_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static bool http_ieq(const char *a, size_t a_len, const char *b, size_t b_len)
{
	if (a_len != b_len)
		return false;
	for (size_t i = 0; i < a_len; i++)
		if (http_lower((unsigned char)a[i]) != http_lower((unsigned char)b[i]))
			return false;
	return true;
}

static bool http_is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* True if the comma-separated list v[0..len) (RFC 9110 §5.6.1) has an element
 * equal to token, ignoring ASCII case. Empty elements are skipped. */
static bool http_list_has(const char *v, size_t len, const char *token)
{
	size_t tl = strlen(token);
	size_t i = 0;
	while (i < len) {
		size_t start = i;
		while (i < len && v[i] != ',')
			i++;
		size_t end = i;
		while (start < end && http_is_ows(v[start]))
			start++;
		while (end > start && http_is_ows(v[end - 1]))
			end--;
		if (http_ieq(v + start, end - start, token, tl))
			return true;
		i++; /* past the comma */
	}
	return false;
}

static enum vl_http_method http_method(const char *m, size_t len)
{
	if (len == 3 && memcmp(m, "GET", 3) == 0)
		return VL_HTTP_GET;
	if (len == 4 && memcmp(m, "HEAD", 4) == 0)
		return VL_HTTP_HEAD;
	if (len == 4 && memcmp(m, "POST", 4) == 0)
		return VL_HTTP_POST;
	if (len == 3 && memcmp(m, "PUT", 3) == 0)
		return VL_HTTP_PUT;
	return VL_HTTP_OTHER;
}

/* Request line line[0..len) (without CRLF): method SP origin-form SP version
 * (RFC 9112 §3). */
static int http_request_line(const char *line, size_t len, struct vl_http_req *req)
{
	size_t i = 0;
	while (i < len && http_is_tchar((unsigned char)line[i]))
		i++;
	if (i == 0 || i == len || line[i] != ' ')
		return VL_ERR_DECODE;
	req->method = http_method(line, i);
	size_t t = ++i;
	/* RFC 9112 §3.2.1 origin-form: absolute-path [ "?" query ], visible
	 * ASCII only. Absolute-form, authority-form and "*" are for proxies
	 * and OPTIONS, which valised does not serve. */
	while (i < len && (unsigned char)line[i] > 0x20 && (unsigned char)line[i] < 0x7f)
		i++;
	if (i == t || line[t] != '/' || i == len || line[i] != ' ')
		return VL_ERR_DECODE;
	req->target = line + t;
	req->target_len = i - t;
	i++;
	if (len - i != 8 || memcmp(line + i, "HTTP/1.", 7) != 0)
		return VL_ERR_DECODE;
	if (line[i + 7] == '1')
		req->minor = 1;
	else if (line[i + 7] == '0')
		req->minor = 0;
	else
		return VL_ERR_DECODE;
	return VL_OK;
}

/* RFC 9110 §8.6: Content-Length = 1*DIGIT. */
static int http_content_length(const char *v, size_t len, int64_t *out)
{
	if (len == 0)
		return VL_ERR_DECODE;
	int64_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return VL_ERR_DECODE;
		int d = v[i] - '0';
		if (n > (INT64_MAX - d) / 10)
			return VL_ERR_DECODE;
		n = n * 10 + d;
	}
	*out = n;
	return VL_OK;
}

/* One field line line[0..len) (without CRLF), RFC 9112 §5. */
static int http_field(const char *line, size_t len, struct vl_http_header *h)
{
	/* A line starting with white space is obs-fold (RFC 9112 §5.2). */
	size_t i = 0;
	while (i < len && http_is_tchar((unsigned char)line[i]))
		i++;
	/* White space between name and colon must be refused (§5.1): a
	 * lenient reader and a strict one would see different fields. */
	if (i == 0 || i == len || line[i] != ':')
		return VL_ERR_DECODE;
	h->name = line;
	h->name_len = i;
	i++;
	size_t vs = i;
	for (; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		/* field-vchar, SP, HTAB (RFC 9110 §5.5); obs-text is kept. */
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return VL_ERR_DECODE;
	}
	size_t ve = len;
	while (vs < ve && http_is_ows(line[vs]))
		vs++;
	while (ve > vs && http_is_ows(line[ve - 1]))
		ve--;
	h->value = line + vs;
	h->value_len = ve - vs;
	return VL_OK;
}

/* RFC 9110 §7.2: Host = uri-host [ ":" port ], uri-host being a reg-name,
 * an IPv4 address or a bracketed IP literal (RFC 3986 §3.2.2). Only the
 * character set is checked: enough to refuse a value that another reader
 * could split differently (white space, '/', '@', '?', '#'). */
static bool http_host_ok(const char *v, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];
		if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
			continue;
		if (c == 0 || !strchr("-._~%!$&'()*+,;=:[]", c))
			return false;
	}
	return true;
}

/* Interprets the fields valised acts on, once all are split. */
static int http_interpret(struct vl_http_req *req)
{
	size_t hosts = 0;
	bool conn_close = false, conn_keep_alive = false, conn_upgrade = false;
	bool upgrade_ws = false;
	for (size_t k = 0; k < req->n_headers; k++) {
		const struct vl_http_header *h = &req->headers[k];
		if (http_ieq(h->name, h->name_len, "Content-Length", 14)) {
			int64_t n;
			if (http_content_length(h->value, h->value_len, &n))
				return VL_ERR_DECODE;
			if (req->content_length >= 0 && req->content_length != n)
				return VL_ERR_DECODE;
			req->content_length = n;
		} else if (http_ieq(h->name, h->name_len, "Transfer-Encoding", 17)) {
			req->chunked = true;
		} else if (http_ieq(h->name, h->name_len, "Host", 4)) {
			if (!http_host_ok(h->value, h->value_len))
				return VL_ERR_DECODE;
			hosts++;
		} else if (http_ieq(h->name, h->name_len, "Connection", 10)) {
			conn_close |= http_list_has(h->value, h->value_len, "close");
			conn_keep_alive |= http_list_has(h->value, h->value_len, "keep-alive");
			conn_upgrade |= http_list_has(h->value, h->value_len, "upgrade");
		} else if (http_ieq(h->name, h->name_len, "Upgrade", 7)) {
			upgrade_ws |= http_list_has(h->value, h->value_len, "websocket");
		}
	}
	if (hosts > 1 || (req->minor == 1 && hosts == 0))
		return VL_ERR_DECODE;
	/* RFC 9112 §9.3: persistence is the default in 1.1, opt-in in 1.0. */
	if (conn_close)
		req->keep_alive = false;
	else
		req->keep_alive = req->minor == 1 || conn_keep_alive;
	req->upgrade_websocket = upgrade_ws && conn_upgrade;
	return VL_OK;
}

int vl_http_parse_head(const char *buf, size_t len, struct vl_http_req *req, size_t *head_len)
{
	*head_len = 0;
	req->method = VL_HTTP_OTHER;
	req->target = NULL;
	req->target_len = 0;
	req->minor = 0;
	req->content_length = -1;
	req->chunked = false;
	req->keep_alive = false;
	req->upgrade_websocket = false;
	req->n_headers = 0;

	size_t n = len < VL_HTTP_HEAD_MAX ? len : VL_HTTP_HEAD_MAX;
	/* RFC 9112 §2.2: ignore empty lines before the request line. */
	size_t s = 0;
	while (s + 1 < n && buf[s] == '\r' && buf[s + 1] == '\n')
		s += 2;
	bool first = true;
	size_t line = s;
	for (size_t i = s; i < n; i++) {
		char c = buf[i];
		/* A bare LF (the LF of a CRLF is stepped over below) or a NUL
		 * anywhere is refused at once, complete head or not. */
		if (c == '\n' || c == '\0')
			return VL_ERR_DECODE;
		if (c != '\r')
			continue;
		if (i + 1 == n)
			break; /* the LF may still come */
		if (buf[i + 1] != '\n')
			return VL_ERR_DECODE;
		int rc;
		if (first) {
			rc = http_request_line(buf + line, i - line, req);
			first = false;
		} else if (i == line) {
			/* The empty line: the head is complete. */
			rc = http_interpret(req);
			if (rc == VL_OK)
				*head_len = i + 2;
			return rc;
		} else if (req->n_headers == VL_HTTP_HEADERS_MAX) {
			rc = VL_ERR_LIMIT;
		} else {
			rc = http_field(buf + line, i - line, &req->headers[req->n_headers]);
			req->n_headers += rc == VL_OK;
		}
		if (rc)
			return rc;
		i++;
		line = i + 1;
	}
	return len >= VL_HTTP_HEAD_MAX ? VL_ERR_LIMIT : VL_ERR_AGAIN;
}

/* Digits v[*i..) as a number without overflow; false if none or too big. */
static bool range_num(const char *v, size_t len, size_t *i, uint64_t *out)
{
	size_t start = *i;
	uint64_t n = 0;
	while (*i < len && v[*i] >= '0' && v[*i] <= '9') {
		if (n > (UINT64_MAX - 9) / 10)
			return false;
		n = n * 10 + (uint64_t)(v[*i] - '0');
		(*i)++;
	}
	*out = n;
	return *i > start;
}

enum vl_http_range vl_http_parse_range(const char *v, size_t len, uint64_t size, uint64_t *first,
                                       uint64_t *last)
{
	while (len && http_is_ows(v[len - 1]))
		len--;
	if (len < 6 || strncasecmp(v, "bytes=", 6) != 0)
		return VL_HTTP_RANGE_NONE;
	size_t i = 6;
	while (i < len && http_is_ows(v[i]))
		i++;
	uint64_t a = 0, b = 0;
	if (i < len && v[i] == '-') {
		/* A suffix: the last b octets. */
		i++;
		if (!range_num(v, len, &i, &b) || i != len)
			return VL_HTTP_RANGE_NONE;
		if (b == 0 || size == 0)
			return VL_HTTP_RANGE_UNSATISFIABLE;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return VL_HTTP_RANGE_ONE;
	}
	if (!range_num(v, len, &i, &a) || i >= len || v[i] != '-')
		return VL_HTTP_RANGE_NONE;
	i++;
	bool open_end = i == len;
	if (!open_end && (!range_num(v, len, &i, &b) || i != len || b < a))
		return VL_HTTP_RANGE_NONE; /* also several ranges: "a-b,c-d" */
	if (a >= size)
		return VL_HTTP_RANGE_UNSATISFIABLE;
	*first = a;
	*last = open_end || b >= size ? size - 1 : b;
	return VL_HTTP_RANGE_ONE;
}

enum vl_http_range vl_http_parse_content_range(const char *v, size_t len, uint64_t *first,
                                               uint64_t *last, uint64_t *complete)
{
	while (len && http_is_ows(v[len - 1]))
		len--;
	if (len < 6 || strncasecmp(v, "bytes ", 6) != 0)
		return VL_HTTP_RANGE_NONE;
	size_t i = 6;
	while (i < len && http_is_ows(v[i]))
		i++;
	uint64_t a = 0, b = 0, n = 0;
	bool star = i < len && v[i] == '*';
	if (star)
		i++;
	else if (!range_num(v, len, &i, &a) || i >= len || v[i++] != '-' ||
	         !range_num(v, len, &i, &b) || b < a)
		return VL_HTTP_RANGE_NONE;
	if (i >= len || v[i++] != '/' || !range_num(v, len, &i, &n) || i != len || n == 0 ||
	    (!star && b >= n))
		return VL_HTTP_RANGE_NONE;
	*first = a;
	*last = b;
	*complete = n;
	return star ? VL_HTTP_RANGE_UNSATISFIABLE : VL_HTTP_RANGE_ONE;
}

const char *vl_http_header(const struct vl_http_req *req, const char *name, size_t *value_len)
{
	size_t nl = strlen(name);
	for (size_t k = 0; k < req->n_headers; k++) {
		const struct vl_http_header *h = &req->headers[k];
		if (http_ieq(h->name, h->name_len, name, nl)) {
			if (value_len)
				*value_len = h->value_len;
			return h->value;
		}
	}
	if (value_len)
		*value_len = 0;
	return NULL;
}

const char *vl_http_reason(unsigned status)
{
	/* RFC 9110 §15, plus 429 and 431 (RFC 6585) and 507 (RFC 4918). */
	switch (status) {
	case 100:
		return "Continue";
	case 101:
		return "Switching Protocols";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 206:
		return "Partial Content";
	case 301:
		return "Moved Permanently";
	case 302:
		return "Found";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 411:
		return "Length Required";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 415:
		return "Unsupported Media Type";
	case 416:
		return "Range Not Satisfiable";
	case 417:
		return "Expectation Failed";
	case 426:
		return "Upgrade Required";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	case 507:
		return "Insufficient Storage";
	default:
		return "";
	}
}

size_t vl_http_format_head(char *out, size_t cap, unsigned status, const char *type,
                           uint64_t content_length, bool close, const char *extra)
{
	assert(status >= 100 && status <= 599);
	char cl[48] = "";
	/* RFC 9110 §8.6: no Content-Length in a 1xx or 204 response. */
	if (status >= 200 && status != 204)
		snprintf(cl, sizeof cl, "Content-Length: %llu\r\n",
		         (unsigned long long)content_length);
	int n = snprintf(out, cap, "HTTP/1.1 %u %s\r\n%s%s%s%sCache-Control: no-store\r\n%s%s\r\n",
	                 status, vl_http_reason(status), type ? "Content-Type: " : "",
	                 type ? type : "", type ? "\r\n" : "", cl,
	                 close ? "Connection: close\r\n" : "", extra ? extra : "");
	if (n < 0 || (size_t)n >= cap)
		return 0;
	return (size_t)n;
}
