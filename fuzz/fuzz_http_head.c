/* SPDX-License-Identifier: Apache-2.0 */
/* Drives vl_http_parse_head with arbitrary bytes. Whatever parses must be
 * self-consistent: the head within the input and ending in CRLF CRLF, every
 * pointer inside the head, values trimmed, fields within the limits; and the
 * parse must not depend on bytes after the head. Whatever is offered to
 * vl_ws_accept must give a 101 or a refusal status, never anything else. */
#include <stdlib.h>
#include <string.h>

#include "server/http1.h"
#include "server/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

static bool inside(const char *buf, size_t head_len, const char *p, size_t len)
{
	return p >= buf && len <= head_len && (size_t)(p - buf) <= head_len - len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct vl_http_req req;
	size_t head_len = 0;
	int rc = vl_http_parse_head(buf, size, &req, &head_len);
	if (rc != VL_OK) {
		CHECK(rc == VL_ERR_AGAIN || rc == VL_ERR_LIMIT || rc == VL_ERR_DECODE);
		CHECK(head_len == 0);
		CHECK(rc != VL_ERR_AGAIN || size < VL_HTTP_HEAD_MAX);
		return 0;
	}
	CHECK(head_len >= 4 && head_len <= size && head_len <= VL_HTTP_HEAD_MAX);
	CHECK(memcmp(buf + head_len - 4, "\r\n\r\n", 4) == 0);
	CHECK(inside(buf, head_len, req.target, req.target_len));
	CHECK(req.target_len > 0 && req.target[0] == '/');
	CHECK(req.minor == 0 || req.minor == 1);
	CHECK(req.content_length >= -1);
	CHECK(req.n_headers <= VL_HTTP_HEADERS_MAX);
	for (size_t i = 0; i < req.n_headers; i++) {
		const struct vl_http_header *h = &req.headers[i];
		CHECK(h->name_len > 0 && inside(buf, head_len, h->name, h->name_len));
		CHECK(inside(buf, head_len, h->value, h->value_len));
		CHECK(memchr(h->value, '\r', h->value_len) == NULL);
		if (h->value_len) {
			CHECK(h->value[0] != ' ' && h->value[0] != '\t');
			CHECK(h->value[h->value_len - 1] != ' ' &&
			      h->value[h->value_len - 1] != '\t');
		}
	}
	CHECK(vl_http_header(&req, "host", NULL) != NULL || req.minor == 0);
	/* Every header value as a Range against a few sizes: one range is
	 * always inside the representation. */
	for (size_t i = 0; i < req.n_headers; i++) {
		static const uint64_t sizes[] = {0, 1, 100, UINT64_MAX};
		for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
			uint64_t first = 0, last = 0;
			if (vl_http_parse_range(req.headers[i].value, req.headers[i].value_len,
			                        sizes[k], &first, &last) == VL_HTTP_RANGE_ONE)
				CHECK(first <= last && last < sizes[k]);
		}
	}
	/* And as a Content-Range: a range inside a non-empty length. */
	for (size_t i = 0; i < req.n_headers; i++) {
		uint64_t first = 1, last = 1, complete = 0;
		enum vl_http_range r = vl_http_parse_content_range(
		    req.headers[i].value, req.headers[i].value_len, &first, &last, &complete);
		if (r == VL_HTTP_RANGE_ONE)
			CHECK(first <= last && last < complete);
		else if (r == VL_HTTP_RANGE_UNSATISFIABLE)
			CHECK(first == 0 && last == 0 && complete > 0);
	}
	/* The head alone parses the same. */
	struct vl_http_req again;
	size_t again_len;
	CHECK(vl_http_parse_head(buf, head_len, &again, &again_len) == VL_OK);
	CHECK(again_len == head_len && again.n_headers == req.n_headers);
	CHECK(again.content_length == req.content_length && again.keep_alive == req.keep_alive);

	char out[256];
	unsigned status = 0;
	size_t n = vl_ws_accept(&req, out, sizeof out, &status);
	if (n) {
		CHECK(status == 101 && req.upgrade_websocket && n < sizeof out);
		CHECK(memcmp(out + n - 4, "\r\n\r\n", 4) == 0);
	} else {
		CHECK(status == 400 || status == 426 || status == 500);
	}
	return 0;
}
