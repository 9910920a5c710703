/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 request heads (RFC 9112) for valised's own connection handling:
 * a parser of the request line and header fields of one request, and a
 * formatter of response heads. Pure functions over caller buffers: no
 * sockets, no allocation, parsed strings point into the input. valised
 * answers only GET /healthz, GET /metrics, the blob endpoints and the
 * WebSocket upgrade (docs/protocol.md §1, §7), so the parser accepts the
 * strict RFC 9112 syntax and nothing looser.
 *
 * Decisions where the RFC leaves a choice:
 *  - A line must end in CRLF. A bare LF (RFC 9112 §2.2 allows a recipient
 *    to accept it) or a CR not followed by LF is VL_ERR_DECODE: every client
 *    of valised sends CRLF, and one framing rule leaves no room for a proxy
 *    and valised to disagree about where the head ends.
 *  - Empty lines before the request line are skipped (RFC 9112 §2.2: a
 *    client may send a CRLF after a POST body); they count towards
 *    VL_HTTP_HEAD_MAX and *head_len.
 *  - Content-Length must be 1*DIGIT (leading zeros allowed, the value is
 *    decimal); a comma list, a sign, white space inside or a value above
 *    INT64_MAX is VL_ERR_DECODE, as are two Content-Length fields that
 *    differ. Identical repeated fields are accepted (RFC 9110 §8.6).
 *  - More than one Host field is VL_ERR_DECODE (RFC 9112 §3.2), as is none
 *    in an HTTP/1.1 request, or a Host value with a character that cannot
 *    appear in uri-host [":" port] (RFC 3986 §3.2.2).
 */
#ifndef VL_SERVER_HTTP1_H
#define VL_SERVER_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "valise/status.h"

#define VL_HTTP_HEAD_MAX    8192u /* request line + headers, incl. the blank line */
#define VL_HTTP_HEADERS_MAX 32u

/* One header field. name and value point into the parsed buffer and are not
 * NUL-terminated; value is trimmed of leading and trailing white space. */
struct vl_http_header {
	const char *name, *value;
	size_t name_len, value_len;
};

enum vl_http_method { VL_HTTP_GET, VL_HTTP_HEAD, VL_HTTP_POST, VL_HTTP_PUT, VL_HTTP_OTHER };

struct vl_http_req {
	enum vl_http_method method;
	const char *target; /* origin-form only ("/..."), points into the buffer */
	size_t target_len;
	int minor;              /* 0 for HTTP/1.0, 1 for HTTP/1.1 */
	int64_t content_length; /* -1 if absent */
	bool chunked;           /* Transfer-Encoding present (we answer 411/501) */
	bool keep_alive;        /* 1.1: yes unless "Connection: close"; 1.0: only with
	                        * "Connection: keep-alive" */
	bool upgrade_websocket; /* Upgrade lists the token "websocket" and Connection
	                         * lists "upgrade" (both case-insensitive) */
	struct vl_http_header headers[VL_HTTP_HEADERS_MAX];
	size_t n_headers;
};

/* Parses one request head at buf[0..len).
 *
 * req: filled on VL_OK; its pointers point into buf, which must outlive it.
 *      On any other return its contents are unspecified.
 * head_len: on VL_OK, the bytes up to and including the empty line; the
 *      request body (if any) starts at buf + *head_len.
 *
 * Returns VL_OK: a complete, well-formed head.
 *         VL_ERR_AGAIN: what is there is a well-formed beginning, the end is
 *           not there yet, and len < VL_HTTP_HEAD_MAX: call again with more.
 *         VL_ERR_LIMIT: no end within VL_HTTP_HEAD_MAX bytes, or more than
 *           VL_HTTP_HEADERS_MAX header fields (answer 431).
 *         VL_ERR_DECODE: malformed (answer 400): bad request line, a method
 *           that is not a token, a target not in origin-form, a version other
 *           than HTTP/1.0 or HTTP/1.1, a bare LF or lone CR, obs-fold (a line
 *           starting with white space), white space before a colon, a field
 *           name that is not a token, a control character or NUL, a bad or
 *           conflicting Content-Length, no Host or several Hosts in 1.1, a
 *           Host value with characters a host and port cannot have.
 *           Malformed input is reported as soon as it is seen, even before
 *           the head is complete. */
VL_MUST_CHECK int vl_http_parse_head(const char *buf, size_t len, struct vl_http_req *req,
                                     size_t *head_len);

/* The value of the first header field called name (compared without regard
 * to ASCII case), trimmed of white space; NULL if there is none. The value is
 * not NUL-terminated: *value_len (if value_len is non-NULL) gets its length,
 * 0 when NULL is returned. */
const char *vl_http_header(const struct vl_http_req *req, const char *name, size_t *value_len);

/* Formats a response head into out[0..cap): the status line with the standard
 * reason phrase (RFC 9110 §15; empty for a code it does not know), then
 * "Content-Type: type" if type is non-NULL, "Content-Length:" (omitted for
 * 1xx and 204, where RFC 9110 §8.6 forbids it), "Cache-Control: no-store",
 * "Connection: close" if close, then extra (complete "Name: value\r\n" lines,
 * may be NULL) and the empty line. status must be in 100..599.
 * Returns the bytes written (no NUL is added), or 0 if cap is too small. */
size_t vl_http_format_head(char *out, size_t cap, unsigned status, const char *type,
                           uint64_t content_length, bool close, const char *extra);

/* A Range header's value v[0..len) (RFC 9110 §14.2) against a
 * representation of size octets:
 *   VL_HTTP_RANGE_ONE: one satisfiable "bytes=" range, clipped to the
 *     size: octets [*first, *last];
 *   VL_HTTP_RANGE_NONE: to be ignored (another unit, several ranges, or
 *     not well formed): the whole representation is sent;
 *   VL_HTTP_RANGE_UNSATISFIABLE: a well-formed range that selects nothing
 *     (416). */
enum vl_http_range { VL_HTTP_RANGE_NONE, VL_HTTP_RANGE_ONE, VL_HTTP_RANGE_UNSATISFIABLE };
enum vl_http_range vl_http_parse_range(const char *v, size_t len, uint64_t size, uint64_t *first,
                                       uint64_t *last);

/* A Content-Range header's value v[0..len) (RFC 9110 §14.4) in one of its
 * two forms:
 *   "bytes first-last/complete" (0 < complete, first <= last < complete):
 *     VL_HTTP_RANGE_ONE;
 *   "bytes", an asterisk for the range, then "/complete" (0 < complete:
 *     how far an upload got, docs/protocol.md §7):
 *     VL_HTTP_RANGE_UNSATISFIABLE, with *first = *last = 0.
 * Anything else (another unit, an asterisk for the length, numbers out of
 * order or too large) is VL_HTTP_RANGE_NONE. */
enum vl_http_range vl_http_parse_content_range(const char *v, size_t len, uint64_t *first,
                                               uint64_t *last, uint64_t *complete);

/* The standard reason phrase of status, or "" if not known. Never NULL. */
const char *vl_http_reason(unsigned status);

#endif
