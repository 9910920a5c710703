/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of src/server/http1.c and ws.c (and the SHA-1 and base64 they
 * use): requests as curl and libwebsockets 4.1 send them, every rejection
 * rule, heads split at every byte, the RFC 6455 handshake example, frame
 * header forms, unmasking against a byte-at-a-time reference, and close
 * payloads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "server/http1.h"
#include "server/ws.h"
#include "wire/base64.h"

/* What libwebsockets 4.1.6 sends as a client (captured from
 * lws_client_connect_via_info with protocol "valise.v1" and an origin). */
static const char lws_upgrade[] =
    "GET / HTTP/1.1\r\nPragma: no-cache\r\nCache-Control: no-cache\r\n"
    "Host: 127.0.0.1\r\nOrigin: http://127.0.0.1\r\n"
    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: bkPyMeLmNDP4R1UW+U1i0g==\r\n"
    "Sec-WebSocket-Protocol: valise.v1\r\n"
    "Sec-WebSocket-Version: 13\r\n\r\n";
/* What curl 7.88 sends for `curl http://127.0.0.1:18942/healthz`. */
static const char curl_get[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:18942\r\n"
                               "User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";
/* And for `curl -X PUT -H "X-Valise-User: ..." --data-binary @file`, with
 * its body. */
static const char curl_put[] = "PUT /blob HTTP/1.1\r\nHost: 127.0.0.1:18963\r\n"
                               "User-Agent: curl/7.88.1\r\nAccept: */*\r\n"
                               "X-Valise-User: alice@example.org\r\nContent-Length: 6\r\n"
                               "Content-Type: application/x-www-form-urlencoded\r\n\r\nhello\n";

static int parse(const char *s, struct vl_http_req *req, size_t *head_len)
{
	return vl_http_parse_head(s, strlen(s), req, head_len);
}

static void test_sha1_base64(void **state)
{
	(void)state;
	/* FIPS 180 examples. */
	uint8_t d[20];
	char hex[41];
	assert_int_equal(vl_sha1("abc", 3, d), VL_OK);
	for (size_t i = 0; i < 20; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	assert_string_equal(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
	assert_int_equal(vl_sha1("", 0, d), VL_OK);
	for (size_t i = 0; i < 20; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	assert_string_equal(hex, "da39a3ee5e6b4b0d3255bfef95601890afd80709");

	/* RFC 4648 §10. */
	static const char *const enc[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
	                                  "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	const char *plain = "foobar";
	for (size_t n = 0; n <= 6; n++) {
		char out[16];
		assert_int_equal(vl_base64_encode((const uint8_t *)plain, n, out, sizeof out),
		                 strlen(enc[n]));
		assert_string_equal(out, enc[n]);
		uint8_t back[8];
		size_t bl;
		assert_int_equal(vl_base64_decode(enc[n], strlen(enc[n]), back, sizeof back, &bl),
		                 VL_OK);
		assert_int_equal(bl, n);
		assert_memory_equal(back, plain, n);
	}
	char small[5];
	assert_int_equal(vl_base64_encode((const uint8_t *)"foo", 3, small, 4), 0);
	assert_int_equal(vl_base64_encode((const uint8_t *)"foo", 3, small, 5), 4);
	/* Every binary byte value round-trips. */
	uint8_t all[256], back[256];
	char all64[VL_BASE64_LEN(256) + 1];
	for (size_t i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	assert_int_equal(vl_base64_encode(all, 256, all64, sizeof all64), VL_BASE64_LEN(256));
	size_t bl;
	assert_int_equal(vl_base64_decode(all64, strlen(all64), back, sizeof back, &bl), VL_OK);
	assert_int_equal(bl, 256);
	assert_memory_equal(all, back, 256);

	static const char *const bad[] = {
	    "Zg=",    "Zg",   "Zg===", "Z===", "====", "Zh==",     "Zm9=",     "Zm 9v",
	    "Zm9v\n", "Z=g=", "=Zg=",  "Zm-v", "Zm_v", "Zg==Zg==", "Zm9vYg=a",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint8_t o[16];
		size_t ol = 99;
		assert_int_equal(vl_base64_decode(bad[i], strlen(bad[i]), o, sizeof o, &ol),
		                 VL_ERR_DECODE);
		assert_int_equal(ol, 0);
	}
	uint8_t o2[2];
	assert_int_equal(vl_base64_decode("Zm9v", 4, o2, sizeof o2, &bl), VL_ERR_LIMIT);
}

static void test_real_requests(void **state)
{
	(void)state;
	struct vl_http_req r;
	size_t hl;
	assert_int_equal(parse(lws_upgrade, &r, &hl), VL_OK);
	assert_int_equal(hl, strlen(lws_upgrade));
	assert_int_equal(r.method, VL_HTTP_GET);
	assert_int_equal(r.target_len, 1);
	assert_memory_equal(r.target, "/", 1);
	assert_int_equal(r.minor, 1);
	assert_int_equal(r.content_length, -1);
	assert_false(r.chunked);
	assert_true(r.keep_alive);
	assert_true(r.upgrade_websocket);
	assert_int_equal(r.n_headers, 9);
	char out[256];
	unsigned st = 0;
	size_t n = vl_ws_accept(&r, out, sizeof out, &st);
	assert_true(n > 0);
	assert_int_equal(st, 101);
	out[n] = '\0';
	assert_non_null(strstr(out, "\r\nSec-WebSocket-Protocol: valise.v1\r\n\r\n"));

	assert_int_equal(parse(curl_get, &r, &hl), VL_OK);
	assert_int_equal(hl, strlen(curl_get));
	assert_int_equal(r.method, VL_HTTP_GET);
	assert_int_equal(r.target_len, 8);
	assert_memory_equal(r.target, "/healthz", 8);
	assert_true(r.keep_alive);
	assert_false(r.upgrade_websocket);
	size_t vl;
	const char *v = vl_http_header(&r, "user-agent", &vl);
	assert_non_null(v);
	assert_int_equal(vl, 11);
	assert_memory_equal(v, "curl/7.88.1", 11);
	/* Not an upgrade: vl_ws_accept refuses with 400. */
	assert_int_equal(vl_ws_accept(&r, out, sizeof out, &st), 0);
	assert_int_equal(st, 400);

	assert_int_equal(parse(curl_put, &r, &hl), VL_OK);
	assert_int_equal(hl, strlen(curl_put) - 6); /* the body follows the head */
	assert_memory_equal(curl_put + hl, "hello\n", 6);
	assert_int_equal(r.method, VL_HTTP_PUT);
	assert_int_equal(r.content_length, 6);
	v = vl_http_header(&r, "X-VALISE-USER", &vl);
	assert_int_equal(vl, 17);
	assert_memory_equal(v, "alice@example.org", 17);

	/* The other methods, and HTTP/1.0 without Host. */
	assert_int_equal(
	    parse("POST /blob HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", &r, &hl), VL_OK);
	assert_int_equal(r.method, VL_HTTP_POST);
	assert_int_equal(r.content_length, 0);
	assert_int_equal(parse("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", &r, &hl), VL_OK);
	assert_int_equal(r.method, VL_HTTP_HEAD);
	assert_int_equal(parse("DELETE /x?y=1 HTTP/1.1\r\nHost: a\r\n\r\n", &r, &hl), VL_OK);
	assert_int_equal(r.method, VL_HTTP_OTHER);
	assert_int_equal(r.target_len, 6);
	assert_int_equal(parse("get / HTTP/1.1\r\nHost: a\r\n\r\n", &r, &hl), VL_OK);
	assert_int_equal(r.method, VL_HTTP_OTHER); /* methods are case-sensitive */
	assert_int_equal(parse("GET /metrics HTTP/1.0\r\n\r\n", &r, &hl), VL_OK);
	assert_int_equal(r.minor, 0);
	assert_false(r.keep_alive);
	assert_int_equal(r.n_headers, 0);
	/* Empty lines before the request line are skipped and counted. */
	assert_int_equal(parse("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &r, &hl), VL_OK);
	assert_int_equal(hl, 4 + 27);
}

static void test_rejections(void **state)
{
	(void)state;
	static const char *const decode[] = {
	    "GET / HTTP/1.1\nHost: a\r\n\r\n",                  /* bare LF */
	    "GET / HTTP/1.1\r\nHost: a\n\n",                    /* bare LFs */
	    "GET / HTTP/1.1\r\nHost: a\r\n\n",                  /* bare LF as the empty line */
	    "GET / HTTP/1.1\rHost: a\r\n\r\n",                  /* lone CR */
	    "GET / HTTP/1.1\r\nHost: a\r\nX: \r1\r\n\r\n",      /* lone CR in a value */
	    "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n  2\r\n\r\n", /* obs-fold */
	    "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\t2\r\n\r\n", /* obs-fold */
	    "GET / HTTP/1.1\r\n Host: a\r\n\r\n",               /* leading white space */
	    "GET / HTTP/1.1\r\nHost : a\r\n\r\n",               /* space before colon */
	    "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n",              /* tab before colon */
	    "GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n",         /* empty name */
	    "GET / HTTP/1.1\r\nHost a\r\n\r\n",                 /* no colon */
	    "GET / HTTP/1.1\r\nHo(st: a\r\n\r\n",               /* name not a token */
	    "GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n",            /* control character */
	    "GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n",            /* DEL */
	    "GET / HTTP/1.1\r\n\r\n",                           /* 1.1 without Host */
	    "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",     /* two Hosts */
	    "GET / HTTP/1.1\r\nhost: a\r\nHOST: a\r\n\r\n",     /* two Hosts, same value */
	    "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",              /* bad Host values */
	    "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: a\xc3\xa9\r\n\r\n",
	    "GET / HTTP/1.0\r\nHost: a?b\r\n\r\n",
	    "GET / HTTP/2.0\r\nHost: a\r\n\r\n", /* other versions */
	    "GET / HTTP/1.2\r\nHost: a\r\n\r\n",
	    "GET / HTTP/0.9\r\n\r\n",
	    "GET / http/1.1\r\nHost: a\r\n\r\n",
	    "GET / HTTP/1.10\r\nHost: a\r\n\r\n",
	    "GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
	    "GET /\r\n\r\n",                      /* HTTP/0.9 form */
	    "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", /* double space */
	    " GET / HTTP/1.1\r\nHost: a\r\n\r\n",
	    "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n",
	    "G(T / HTTP/1.1\r\nHost: a\r\n\r\n",         /* method not a token */
	    "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", /* absolute-form */
	    "CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", /* authority-form */
	    "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",     /* asterisk-form */
	    "GET /a\x80 HTTP/1.1\r\nHost: a\r\n\r\n",    /* non-ASCII target */
	    "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n",
	    "GET  HTTP/1.1\r\nHost: a\r\n\r\n",
	    "\r\n", /* empty lines only... */
	};
	for (size_t i = 0; i < sizeof decode / sizeof decode[0]; i++) {
		struct vl_http_req r;
		size_t hl = 99;
		int rc = parse(decode[i], &r, &hl);
		if (i == sizeof decode / sizeof decode[0] - 1) {
			assert_int_equal(rc, VL_ERR_AGAIN); /* ...wait for a request line */
			continue;
		}
		if (rc != VL_ERR_DECODE)
			fail_msg("case %zu: %d", i, rc);
		assert_int_equal(hl, 0);
	}
	/* A NUL, which strlen would hide. */
	static const char nul[] = "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n";
	struct vl_http_req r;
	size_t hl;
	assert_int_equal(vl_http_parse_head(nul, sizeof nul - 1, &r, &hl), VL_ERR_DECODE);
	/* Malformed input is refused before the head is complete. */
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost : a\r\n", &r, &hl), VL_ERR_DECODE);
	assert_int_equal(parse("GET / HTTP/3\r\n", &r, &hl), VL_ERR_DECODE);
	assert_int_equal(parse("GET / HTTP/1.1\n", &r, &hl), VL_ERR_DECODE);
	/* Host forms that are fine. */
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n", &r, &hl), VL_OK);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: xn--caf-dma.example:443\r\n\r\n", &r, &hl),
	                 VL_OK);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost:\r\n\r\n", &r, &hl), VL_OK);
	/* obs-text in a value is kept (RFC 9110 §5.5). */
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n", &r, &hl),
	                 VL_OK);
}

static void test_limits(void **state)
{
	(void)state;
	static char buf[VL_HTTP_HEAD_MAX * 2];
	struct vl_http_req r;
	size_t hl;
	/* Exactly VL_HTTP_HEAD_MAX bytes, blank line included, is accepted;
	 * one more is VL_ERR_LIMIT, whatever follows. */
	const char *pre = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
	size_t pl = strlen(pre);
	memcpy(buf, pre, pl);
	size_t fill = VL_HTTP_HEAD_MAX - pl - 4;
	memset(buf + pl, 'x', fill);
	memcpy(buf + pl + fill, "\r\n\r\n", 4);
	assert_int_equal(vl_http_parse_head(buf, VL_HTTP_HEAD_MAX, &r, &hl), VL_OK);
	assert_int_equal(hl, VL_HTTP_HEAD_MAX);
	assert_int_equal(vl_http_parse_head(buf, VL_HTTP_HEAD_MAX - 1, &r, &hl), VL_ERR_AGAIN);
	memset(buf + pl, 'x', fill + 1);
	memcpy(buf + pl + fill + 1, "\r\n\r\n", 4);
	assert_int_equal(vl_http_parse_head(buf, VL_HTTP_HEAD_MAX + 3, &r, &hl), VL_ERR_LIMIT);
	assert_int_equal(vl_http_parse_head(buf, VL_HTTP_HEAD_MAX, &r, &hl), VL_ERR_LIMIT);
	assert_int_equal(vl_http_parse_head(buf, VL_HTTP_HEAD_MAX - 1, &r, &hl), VL_ERR_AGAIN);
	memset(buf, '\r', sizeof buf);
	for (size_t i = 1; i < sizeof buf; i += 2)
		buf[i] = '\n';
	assert_int_equal(vl_http_parse_head(buf, sizeof buf, &r, &hl), VL_ERR_LIMIT);

	/* 32 fields are fine, 33 are VL_ERR_LIMIT. */
	size_t o = (size_t)snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (int i = 1; i < 32; i++)
		o += (size_t)snprintf(buf + o, sizeof buf - o, "X-%d: %d\r\n", i, i);
	memcpy(buf + o, "\r\n", 2);
	assert_int_equal(vl_http_parse_head(buf, o + 2, &r, &hl), VL_OK);
	assert_int_equal(r.n_headers, 32);
	o += (size_t)snprintf(buf + o, sizeof buf - o, "X-33: 33\r\n");
	memcpy(buf + o, "\r\n", 2);
	assert_int_equal(vl_http_parse_head(buf, o + 2, &r, &hl), VL_ERR_LIMIT);
	assert_int_equal(vl_http_parse_head(buf, o, &r, &hl), VL_ERR_LIMIT);
}

static void test_header_lookup(void **state)
{
	(void)state;
	struct vl_http_req r;
	size_t hl, vl = 99;
	assert_int_equal(parse("GET / HTTP/1.1\r\nhOsT: example.org \r\n"
	                       "X-Valise-Device:\t \tphone\t \r\nX-Empty:\r\nX-Blank:   \r\n"
	                       "X-Inner: a  b\r\nX-Valise-Device: second\r\n\r\n",
	                       &r, &hl),
	                 VL_OK);
	const char *v = vl_http_header(&r, "HOST", &vl);
	assert_non_null(v);
	assert_int_equal(vl, 11);
	assert_memory_equal(v, "example.org", 11);
	v = vl_http_header(&r, "x-valise-device", &vl);
	assert_int_equal(vl, 5); /* the first of two */
	assert_memory_equal(v, "phone", 5);
	v = vl_http_header(&r, "x-empty", &vl);
	assert_non_null(v);
	assert_int_equal(vl, 0);
	v = vl_http_header(&r, "X-BLANK", &vl);
	assert_non_null(v);
	assert_int_equal(vl, 0);
	v = vl_http_header(&r, "x-inner", &vl);
	assert_int_equal(vl, 4);
	assert_memory_equal(v, "a  b", 4);
	assert_null(vl_http_header(&r, "X-Valise", &vl));
	assert_int_equal(vl, 0);
	assert_null(vl_http_header(&r, "X-Valise-Device-", NULL));
	assert_non_null(vl_http_header(&r, "host", NULL));
	/* Names point into the buffer, unchanged. */
	assert_int_equal(r.headers[0].name_len, 4);
	assert_memory_equal(r.headers[0].name, "hOsT", 4);
}

static int cl(const char *fields, int64_t *out)
{
	char buf[512];
	snprintf(buf, sizeof buf, "PUT /blob HTTP/1.1\r\nHost: a\r\n%s\r\n", fields);
	struct vl_http_req r;
	size_t hl;
	int rc = parse(buf, &r, &hl);
	*out = r.content_length;
	return rc;
}

static void test_content_length(void **state)
{
	(void)state;
	int64_t n;
	assert_int_equal(cl("", &n), VL_OK);
	assert_int_equal(n, -1);
	assert_int_equal(cl("Content-Length: 0\r\n", &n), VL_OK);
	assert_int_equal(n, 0);
	assert_int_equal(cl("content-length:104857600\r\n", &n), VL_OK);
	assert_int_equal(n, 104857600);
	assert_int_equal(cl("Content-Length: 007\r\n", &n), VL_OK); /* 1*DIGIT: decimal 7 */
	assert_int_equal(n, 7);
	assert_int_equal(cl("Content-Length: 9223372036854775807\r\n", &n), VL_OK);
	assert_int_equal(n, INT64_MAX);
	assert_int_equal(cl("Content-Length: 00000000000000000000000000005\r\n", &n), VL_OK);
	assert_int_equal(n, 5);
	assert_int_equal(cl("Content-Length: 5\r\nContent-Length: 5\r\n", &n), VL_OK);
	assert_int_equal(n, 5);
	assert_int_equal(cl("Content-Length: 5\r\nContent-Length: 005\r\n", &n), VL_OK);
	static const char *const bad[] = {
	    "Content-Length: 9223372036854775808\r\n",
	    "Content-Length: 18446744073709551616\r\n",
	    "Content-Length: 99999999999999999999999\r\n",
	    "Content-Length: +1\r\n",
	    "Content-Length: -1\r\n",
	    "Content-Length: \r\n",
	    "Content-Length: 1 2\r\n",
	    "Content-Length: 1,1\r\n",
	    "Content-Length: 5, 5\r\n",
	    "Content-Length: 0x10\r\n",
	    "Content-Length: 1e3\r\n",
	    "Content-Length: 12a\r\n",
	    "Content-Length: 5\r\nContent-Length: 6\r\n",
	    "Content-Length: 5\r\nContent-Length: x\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (cl(bad[i], &n) != VL_ERR_DECODE)
			fail_msg("case %zu accepted", i);

	struct vl_http_req r;
	size_t hl;
	assert_int_equal(
	    parse("POST /blob HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", &r, &hl),
	    VL_OK);
	assert_true(r.chunked);
	assert_int_equal(r.content_length, -1);
}

static void test_connection_semantics(void **state)
{
	(void)state;
	struct vl_http_req r;
	size_t hl;
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &r, &hl),
	                 VL_OK);
	assert_false(r.keep_alive);
	assert_int_equal(
	    parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, CLOSE\r\n\r\n", &r, &hl),
	    VL_OK);
	assert_false(r.keep_alive);
	assert_int_equal(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r, &hl), VL_OK);
	assert_true(r.keep_alive);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", &r, &hl),
	                 VL_OK);
	assert_true(r.keep_alive);

	/* Upgrade: both headers, tokens in lists, any case, any order. */
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n"
	                       "Upgrade: WebSocket\r\n\r\n",
	                       &r, &hl),
	                 VL_OK);
	assert_true(r.upgrade_websocket);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c, websocket\r\n"
	                       "Connection: x\r\nConnection: upgrade\r\n\r\n",
	                       &r, &hl),
	                 VL_OK);
	assert_true(r.upgrade_websocket);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", &r, &hl),
	                 VL_OK);
	assert_false(r.upgrade_websocket);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n\r\n", &r, &hl),
	                 VL_OK);
	assert_false(r.upgrade_websocket);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websockets\r\n"
	                       "Connection: upgraded\r\n\r\n",
	                       &r, &hl),
	                 VL_OK);
	assert_false(r.upgrade_websocket);
}

/* Every prefix of a valid head is VL_ERR_AGAIN; the whole is VL_OK. */
static void split_everywhere(const char *s)
{
	size_t len = strlen(s);
	struct vl_http_req r;
	size_t hl, want;
	assert_int_equal(vl_http_parse_head(s, len, &r, &want), VL_OK);
	for (size_t k = 0; k < want; k++) {
		/* A copy of exactly k bytes, so an overread shows under ASan. */
		char *p = malloc(k ? k : 1);
		assert_non_null(p);
		memcpy(p, s, k);
		int rc = vl_http_parse_head(p, k, &r, &hl);
		free(p);
		if (rc != VL_ERR_AGAIN)
			fail_msg("prefix %zu: %d", k, rc);
	}
	for (size_t k = want; k <= len; k++) {
		assert_int_equal(vl_http_parse_head(s, k, &r, &hl), VL_OK);
		assert_int_equal(hl, want);
	}
}

static void test_split(void **state)
{
	(void)state;
	split_everywhere(lws_upgrade);
	split_everywhere(curl_get);
	split_everywhere(curl_put);
	split_everywhere("\r\nGET / HTTP/1.0\r\n\r\n");
}

static void test_format_head(void **state)
{
	(void)state;
	char out[512];
	size_t n = vl_http_format_head(out, sizeof out, 200, "text/plain", 3, false, NULL);
	static const char want[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	                           "Content-Length: 3\r\nCache-Control: no-store\r\n\r\n";
	assert_int_equal(n, sizeof want - 1);
	assert_memory_equal(out, want, n);
	/* The exact size fits; one byte less does not. */
	assert_int_equal(
	    vl_http_format_head(out, sizeof want - 1, 200, "text/plain", 3, false, NULL), 0);
	assert_int_equal(vl_http_format_head(out, sizeof want, 200, "text/plain", 3, false, NULL),
	                 sizeof want - 1);
	assert_int_equal(vl_http_format_head(out, 0, 200, NULL, 0, false, NULL), 0);

	n = vl_http_format_head(out, sizeof out, 426, NULL, 0, true, VL_WS_VERSION_HEADER);
	out[n] = '\0';
	assert_string_equal(out, "HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n"
	                         "Cache-Control: no-store\r\nConnection: close\r\n"
	                         "Sec-WebSocket-Version: 13\r\n\r\n");
	n = vl_http_format_head(out, sizeof out, 431, "text/plain", 18446744073709551615ull, true,
	                        NULL);
	out[n] = '\0';
	assert_non_null(strstr(out, "HTTP/1.1 431 Request Header Fields Too Large\r\n"));
	assert_non_null(strstr(out, "Content-Length: 18446744073709551615\r\n"));
	n = vl_http_format_head(out, sizeof out, 204, NULL, 0, false, NULL);
	out[n] = '\0';
	assert_string_equal(out, "HTTP/1.1 204 No Content\r\nCache-Control: no-store\r\n\r\n");
	n = vl_http_format_head(out, sizeof out, 299, NULL, 1, false, "X-A: b\r\n");
	out[n] = '\0';
	assert_string_equal(out, "HTTP/1.1 299 \r\nContent-Length: 1\r\nCache-Control: no-store\r\n"
	                         "X-A: b\r\n\r\n");
	static const unsigned codes[] = {201, 400, 401, 404, 405, 411, 413, 500, 501, 503, 507};
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
		assert_true(strlen(vl_http_reason(codes[i])) > 0);
	/* What the server formats parses back as a well-formed head would. */
	struct vl_http_req r;
	size_t hl;
	n = vl_http_format_head(out, sizeof out, 200, "text/plain", 3, true, NULL);
	assert_int_equal(vl_http_parse_head(out, n, &r, &hl), VL_ERR_DECODE); /* not a request */
}

static int accept_of(const char *head, char *out, size_t cap, unsigned *st)
{
	struct vl_http_req r;
	size_t hl;
	int rc = parse(head, &r, &hl);
	if (rc)
		return -rc;
	return (int)vl_ws_accept(&r, out, cap, st);
}

static void test_ws_accept(void **state)
{
	(void)state;
	/* RFC 6455 §1.3 (and §4.2.2's example). */
	static const char rfc[] = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\n"
	                          "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	                          "Origin: http://example.com\r\n"
	                          "Sec-WebSocket-Protocol: chat, valise.v1\r\n"
	                          "Sec-WebSocket-Version: 13\r\n\r\n";
	static const char want[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	                           "Connection: Upgrade\r\n"
	                           "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	                           "Sec-WebSocket-Protocol: valise.v1\r\n\r\n";
	char out[256];
	unsigned st = 0;
	int n = accept_of(rfc, out, sizeof out, &st);
	assert_int_equal(n, (int)sizeof want - 1);
	assert_int_equal(st, 101);
	assert_memory_equal(out, want, sizeof want - 1);
	/* The exact size plus the NUL snprintf wants fits; less does not. */
	assert_int_equal(accept_of(rfc, out, sizeof want, &st), (int)sizeof want - 1);
	assert_int_equal(accept_of(rfc, out, sizeof want - 1, &st), 0);
	assert_int_equal(st, 500);

	struct {
		const char *fields;
		unsigned status;
	} bad[] = {
	    /* no subprotocol, or not ours */
	    {"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
	     400},
	    {"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: valise.v2, "
	     "Valise.v1, valise.v1x\r\n",
	     400},
	    /* no key, two keys, keys not of 16 bytes or not canonical */
	    {"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	     "Sec-WebSocket-Protocol: valise.v1\r\n",
	     400},
	    {"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: valise.v1\r\n",
	     400},
	    {"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=\r\nSec-WebSocket-Protocol: valise.v1\r\n",
	     400},
	    {"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==\r\nSec-WebSocket-Protocol: valise.v1\r\n",
	     400},
	    {"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZSE=\r\nSec-WebSocket-Protocol: valise.v1\r\n",
	     400},
	    {"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j\r\nSec-WebSocket-Protocol: valise.v1\r\n",
	     400},
	    /* no version; wrong versions */
	    {"Upgrade: websocket\r\nConnection: Upgrade\r\n"
	     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: valise.v1\r\n",
	     400},
	    {"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\n"
	     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: valise.v1\r\n",
	     426},
	    {"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13, 8\r\n"
	     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: valise.v1\r\n",
	     426},
	    {"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	     "Sec-WebSocket-Version: 13\r\n"
	     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: valise.v1\r\n",
	     426},
	    /* no Upgrade / Connection */
	    {"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: valise.v1\r\n",
	     400},
	    {"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
	     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: valise.v1\r\n",
	     400},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char head[1024];
		snprintf(head, sizeof head, "GET / HTTP/1.1\r\nHost: a\r\n%s\r\n", bad[i].fields);
		st = 0;
		n = accept_of(head, out, sizeof out, &st);
		if (n != 0 || st != bad[i].status)
			fail_msg("case %zu: n=%d status=%u", i, n, st);
	}
	/* Subprotocol offered in a second field; POST, HTTP/1.0 refused. */
	static const char ok2[] = "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
	                          "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	                          "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n"
	                          "Sec-WebSocket-Protocol: chat\r\n"
	                          "Sec-WebSocket-Protocol: superchat ,\tvalise.v1 \r\n\r\n";
	assert_true(accept_of(ok2, out, sizeof out, &st) > 0);
	assert_int_equal(st, 101);
	static const char post[] = "POST / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
	                           "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	                           "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n"
	                           "Sec-WebSocket-Protocol: valise.v1\r\n\r\n";
	assert_int_equal(accept_of(post, out, sizeof out, &st), 0);
	assert_int_equal(st, 400);
	static const char v10[] = "GET / HTTP/1.0\r\nHost: a\r\nUpgrade: websocket\r\n"
	                          "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	                          "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n"
	                          "Sec-WebSocket-Protocol: valise.v1\r\n\r\n";
	assert_int_equal(accept_of(v10, out, sizeof out, &st), 0);
	assert_int_equal(st, 400);
}

static int frame(const uint8_t *b, size_t n, struct vl_ws_frame *f)
{
	return vl_ws_parse_frame(b, n, f);
}

static void test_ws_frame_forms(void **state)
{
	(void)state;
	struct vl_ws_frame f;
	/* RFC 6455 §5.7: a masked "Hello". */
	static const uint8_t hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
	                                0x7f, 0x9f, 0x4d, 0x51, 0x58};
	assert_int_equal(frame(hello, sizeof hello, &f), VL_OK);
	assert_true(f.fin);
	assert_int_equal(f.opcode, VL_WS_OP_TEXT);
	assert_int_equal(f.len, 5);
	assert_int_equal(f.hdr_len, 6);
	uint8_t p[5];
	memcpy(p, hello + 6, 5);
	vl_ws_unmask(p, 5, f.mask, 0);
	assert_memory_equal(p, "Hello", 5);
	for (size_t k = 0; k < 6; k++)
		assert_int_equal(frame(hello, k, &f), VL_ERR_AGAIN);
	/* §5.7: a fragmented, masked "Hel" + "lo" (first frame no FIN). */
	static const uint8_t frag[] = {0x01, 0x83, 0, 0, 0, 0};
	assert_int_equal(frame(frag, sizeof frag, &f), VL_OK);
	assert_false(f.fin);
	assert_int_equal(f.opcode, VL_WS_OP_TEXT);

	/* 7-, 16- and 64-bit lengths at their edges, and their headers from
	 * vl_ws_frame_header read back. */
	static const uint64_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 0x7fffffffffffffffull};
	static const size_t hdr[] = {2, 2, 2, 4, 4, 4, 10, 10};
	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		uint8_t h[VL_WS_CLIENT_HDR_MAX];
		size_t hl = vl_ws_frame_header(h, VL_WS_OP_BINARY, lens[i]);
		assert_int_equal(hl, hdr[i]);
		assert_int_equal(h[0], 0x82);
		assert_int_equal(h[1] & 0x80, 0); /* server frames are unmasked */
		/* Mask it as a client would and parse it. */
		h[1] |= 0x80;
		memcpy(h + hl, "\x01\x02\x03\x04", 4);
		for (size_t k = 0; k < hl + 4; k++)
			assert_int_equal(frame(h, k, &f), VL_ERR_AGAIN);
		assert_int_equal(frame(h, hl + 4, &f), VL_OK);
		assert_int_equal(f.len, lens[i]);
		assert_int_equal(f.hdr_len, hl + 4);
		assert_memory_equal(f.mask, "\x01\x02\x03\x04", 4);
		assert_true(f.fin);
		assert_int_equal(f.opcode, VL_WS_OP_BINARY);
	}
	uint8_t h[VL_WS_SERVER_HDR_MAX];
	assert_int_equal(vl_ws_frame_header(h, VL_WS_OP_CLOSE, 2), 2);
	assert_memory_equal(h, "\x88\x02", 2);
	assert_int_equal(vl_ws_frame_header(h, VL_WS_OP_BINARY, 0x0102030405ull), 10);
	assert_memory_equal(h, "\x82\x7f\x00\x00\x00\x01\x02\x03\x04\x05", 10);
	assert_int_equal(vl_ws_frame_header(h, VL_WS_OP_BINARY, 300), 4);
	assert_memory_equal(h, "\x82\x7e\x01\x2c", 4);
	/* Control frames at their limits. */
	static const uint8_t ping125[] = {0x89, 0xfd, 1, 2, 3, 4};
	assert_int_equal(frame(ping125, sizeof ping125, &f), VL_OK);
	assert_int_equal(f.len, 125);
	static const uint8_t pong0[] = {0x8a, 0x80, 1, 2, 3, 4};
	assert_int_equal(frame(pong0, sizeof pong0, &f), VL_OK);
	assert_int_equal(f.opcode, VL_WS_OP_PONG);
	static const uint8_t cont[] = {0x80, 0x80, 1, 2, 3, 4};
	assert_int_equal(frame(cont, sizeof cont, &f), VL_OK);
	assert_int_equal(f.opcode, VL_WS_OP_CONT);
}

static void test_ws_frame_rejects(void **state)
{
	(void)state;
	struct vl_ws_frame f;
	static const uint8_t bad[][14] = {
	    {0xc2, 0x80, 1, 2, 3, 4}, /* RSV1 */
	    {0xa2, 0x80, 1, 2, 3, 4}, /* RSV2 */
	    {0x92, 0x80, 1, 2, 3, 4}, /* RSV3 */
	    {0x83, 0x80, 1, 2, 3, 4}, /* reserved data opcodes */
	    {0x87, 0x80, 1, 2, 3, 4},
	    {0x8b, 0x80, 1, 2, 3, 4}, /* reserved control opcodes */
	    {0x8f, 0x80, 1, 2, 3, 4},
	    {0x82, 0x00},                                           /* unmasked */
	    {0x82, 0x7e, 0x01, 0x00},                               /* unmasked, 16-bit */
	    {0x09, 0x80, 1, 2, 3, 4},                               /* fragmented ping */
	    {0x08, 0x80, 1, 2, 3, 4},                               /* fragmented close */
	    {0x89, 0xfe, 0x00, 0x7e, 1, 2, 3, 4},                   /* ping of 126 */
	    {0x88, 0xff, 0, 0, 0, 0, 0, 0, 0, 0x7e, 1, 2, 3, 4},    /* close, 64-bit */
	    {0x8a, 0xfe},                                           /* pong, 126 */
	    {0x82, 0xfe, 0x00, 0x7d, 1, 2, 3, 4},                   /* 125 in 16 bits */
	    {0x82, 0xfe, 0x00, 0x00, 1, 2, 3, 4},                   /* 0 in 16 bits */
	    {0x82, 0xff, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4}, /* 65535 in 64 bits */
	    {0x82, 0xff, 0, 0, 0, 0, 0, 0, 0, 0x05, 1, 2, 3, 4},    /* 5 in 64 bits */
	    {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4},    /* top bit */
	    {0x82, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4},
	};
	static const size_t shows_at[] = {1, 1, 1, 1, 1, 1, 1,  2,  2,  2,
	                                  2, 2, 2, 2, 4, 4, 10, 10, 10, 10};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		/* The error shows as soon as its bytes are there, and only
		 * VL_ERR_AGAIN before. */
		for (size_t k = 0; k < shows_at[i]; k++)
			if (frame(bad[i], k, &f) != VL_ERR_AGAIN)
				fail_msg("case %zu, %zu bytes", i, k);
		for (size_t k = shows_at[i]; k <= 14; k++)
			if (frame(bad[i], k, &f) != VL_ERR_PROTOCOL)
				fail_msg("case %zu, %zu bytes: accepted", i, k);
	}
}

static void test_ws_unmask(void **state)
{
	(void)state;
	/* Every start alignment, offset and length up to 64, against a
	 * byte-at-a-time reference. */
	static const uint8_t mask[4] = {0x9a, 0x3c, 0x55, 0xe1};
	uint8_t base[80], want[80], got[96];
	for (size_t i = 0; i < sizeof base; i++)
		base[i] = (uint8_t)(i * 37 + 11);
	for (size_t align = 0; align < 8; align++)
		for (uint64_t off = 0; off < 9; off++)
			for (size_t len = 0; len <= 64; len++) {
				for (size_t i = 0; i < len; i++)
					want[i] = base[i] ^ mask[(off + i) % 4];
				memset(got, 0xee, sizeof got);
				memcpy(got + align, base, len);
				vl_ws_unmask(got + align, len, mask, off);
				assert_memory_equal(got + align, want, len);
				/* Nothing outside the range is touched. */
				for (size_t i = 0; i < align; i++)
					assert_int_equal(got[i], 0xee);
				for (size_t i = align + len; i < sizeof got; i++)
					assert_int_equal(got[i], 0xee);
			}
	/* A payload unmasked in pieces of every size equals it unmasked whole;
	 * and unmasking twice restores it. */
	uint8_t whole[61], pieces[61];
	for (size_t i = 0; i < sizeof whole; i++)
		whole[i] = (uint8_t)(255 - i);
	memcpy(pieces, whole, sizeof whole);
	vl_ws_unmask(whole, sizeof whole, mask, 0);
	for (size_t step = 1; step <= 17; step++) {
		uint8_t t[61];
		memcpy(t, pieces, sizeof t);
		for (size_t o = 0; o < sizeof t; o += step) {
			size_t n = sizeof t - o < step ? sizeof t - o : step;
			vl_ws_unmask(t + o, n, mask, o);
		}
		assert_memory_equal(t, whole, sizeof t);
		vl_ws_unmask(t, sizeof t, mask, 0);
		assert_memory_equal(t, pieces, sizeof t);
	}
	/* A large offset: only its value mod 4 matters. */
	uint8_t a[3] = {0, 0, 0};
	vl_ws_unmask(a, 3, mask, 0xfffffffffffffffdull);
	assert_memory_equal(a, "\x3c\x55\xe1", 3);
}

static int close_of(const char *p, size_t n, uint16_t *code)
{
	return vl_ws_check_close((const uint8_t *)p, n, code);
}

static void test_ws_close(void **state)
{
	(void)state;
	uint16_t code = 1;
	assert_int_equal(close_of("", 0, &code), VL_OK);
	assert_int_equal(code, VL_WS_CLOSE_NO_STATUS);
	static const uint16_t ok[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
	                              1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		char p[2] = {(char)(ok[i] >> 8), (char)(ok[i] & 0xff)};
		assert_int_equal(close_of(p, 2, &code), VL_OK);
		assert_int_equal(code, ok[i]);
	}
	static const uint16_t bad[] = {0,    1,    999,  1004, 1005, 1006, 1015,
	                               1016, 1100, 2000, 2999, 5000, 65535};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char p[2] = {(char)(bad[i] >> 8), (char)(bad[i] & 0xff)};
		if (close_of(p, 2, &code) != VL_ERR_PROTOCOL)
			fail_msg("code %u accepted", bad[i]);
		assert_int_equal(code, 0);
	}
	assert_int_equal(close_of("\x03", 1, &code), VL_ERR_PROTOCOL);
	assert_int_equal(close_of("\x03\xe8going away", 12, &code), VL_OK);
	assert_int_equal(
	    close_of("\x03\xe8\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 13, &code), VL_OK);
	assert_int_equal(close_of("\x03\xe8\xf0\x9f\x98\x80", 6, &code), VL_OK); /* U+1F600 */
	static const char *const badutf[] = {
	    "\x03\xe8\x80",             /* lone continuation */
	    "\x03\xe8\xc3",             /* truncated */
	    "\x03\xe8\xc0\xaf",         /* overlong '/' */
	    "\x03\xe8\xe0\x80\xaf",     /* overlong */
	    "\x03\xe8\xed\xa0\x80",     /* surrogate U+D800 */
	    "\x03\xe8\xf4\x90\x80\x80", /* above U+10FFFF */
	    "\x03\xe8\xf5\x80\x80\x80",
	    "\x03\xe8\xff",
	    "\x03\xe8\xe2\x82",     /* truncated */
	    "\x03\xe8\xe2\x28\xa1", /* bad continuation */
	};
	for (size_t i = 0; i < sizeof badutf / sizeof badutf[0]; i++)
		if (close_of(badutf[i], strlen(badutf[i]), &code) != VL_ERR_PROTOCOL)
			fail_msg("bad UTF-8 case %zu accepted", i);
	/* 125 bytes in all is the control-frame limit. */
	char big[127];
	memset(big, 'a', sizeof big);
	big[0] = 0x03;
	big[1] = (char)0xe8;
	assert_int_equal(close_of(big, 125, &code), VL_OK);
	assert_int_equal(close_of(big, 126, &code), VL_ERR_PROTOCOL);
	/* Boundary code points are valid. */
	assert_true(
	    vl_ws_utf8_valid((const uint8_t *)"\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf", 10));
	assert_true(vl_ws_utf8_valid((const uint8_t *)"\x7f\xc2\x80\xdf\xbf", 5));
	assert_true(vl_ws_utf8_valid(NULL, 0));
}

/* RFC 9110 §14.2: one byte range, clipped; anything else is ignored, and
 * a well-formed range past the end is unsatisfiable. */
static void test_range(void **state)
{
	(void)state;
	struct {
		const char *v;
		uint64_t size;
		enum vl_http_range want;
		uint64_t first, last;
	} cases[] = {
	    {"bytes=0-9", 100, VL_HTTP_RANGE_ONE, 0, 9},
	    {"bytes=10-", 100, VL_HTTP_RANGE_ONE, 10, 99},
	    {"bytes=90-200", 100, VL_HTTP_RANGE_ONE, 90, 99},
	    {"bytes=-5", 100, VL_HTTP_RANGE_ONE, 95, 99},
	    {"bytes=-500", 100, VL_HTTP_RANGE_ONE, 0, 99},
	    {"Bytes= 3-3 ", 100, VL_HTTP_RANGE_ONE, 3, 3},
	    {"bytes=99-99", 100, VL_HTTP_RANGE_ONE, 99, 99},
	    {"bytes=100-", 100, VL_HTTP_RANGE_UNSATISFIABLE, 0, 0},
	    {"bytes=100-200", 100, VL_HTTP_RANGE_UNSATISFIABLE, 0, 0},
	    {"bytes=-0", 100, VL_HTTP_RANGE_UNSATISFIABLE, 0, 0},
	    {"bytes=0-", 0, VL_HTTP_RANGE_UNSATISFIABLE, 0, 0},
	    {"bytes=5-2", 100, VL_HTTP_RANGE_NONE, 0, 0},
	    {"bytes=0-1,5-6", 100, VL_HTTP_RANGE_NONE, 0, 0},
	    {"items=0-1", 100, VL_HTTP_RANGE_NONE, 0, 0},
	    {"bytes=", 100, VL_HTTP_RANGE_NONE, 0, 0},
	    {"bytes=-", 100, VL_HTTP_RANGE_NONE, 0, 0},
	    {"bytes=a-b", 100, VL_HTTP_RANGE_NONE, 0, 0},
	    {"bytes=99999999999999999999-", 100, VL_HTTP_RANGE_NONE, 0, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint64_t first = 7, last = 7;
		enum vl_http_range r = vl_http_parse_range(cases[i].v, strlen(cases[i].v),
		                                           cases[i].size, &first, &last);
		if (r != cases[i].want)
			fail_msg("\"%s\": %d, want %d", cases[i].v, r, cases[i].want);
		if (r == VL_HTTP_RANGE_ONE) {
			assert_int_equal(first, cases[i].first);
			assert_int_equal(last, cases[i].last);
		}
	}
}

/* Content-Range (RFC 9110 §14.4) as a resumable upload sends it. */
static void test_content_range(void **state)
{
	(void)state;
	static const struct {
		const char *v;
		enum vl_http_range want;
		uint64_t first, last, complete;
	} cases[] = {
	    {"bytes 0-99/100", VL_HTTP_RANGE_ONE, 0, 99, 100},
	    {"bytes 40-99/100", VL_HTTP_RANGE_ONE, 40, 99, 100},
	    {"BYTES  5-5/6 ", VL_HTTP_RANGE_ONE, 5, 5, 6},
	    {"bytes 0-0/1000000000000000000", VL_HTTP_RANGE_ONE, 0, 0, 1000000000000000000u},
	    {"bytes */100", VL_HTTP_RANGE_UNSATISFIABLE, 0, 0, 100},
	    {"bytes 0-100/100", VL_HTTP_RANGE_NONE, 0, 0, 0}, /* past the end */
	    {"bytes 9-8/100", VL_HTTP_RANGE_NONE, 0, 0, 0},   /* out of order */
	    {"bytes 0-0/0", VL_HTTP_RANGE_NONE, 0, 0, 0},     /* empty */
	    {"bytes */0", VL_HTTP_RANGE_NONE, 0, 0, 0},
	    {"bytes 0-9/*", VL_HTTP_RANGE_NONE, 0, 0, 0}, /* length unknown */
	    {"bytes 0-9", VL_HTTP_RANGE_NONE, 0, 0, 0},
	    {"bytes -9/10", VL_HTTP_RANGE_NONE, 0, 0, 0},
	    {"bytes 0-9/10, 10-19/20", VL_HTTP_RANGE_NONE, 0, 0, 0},
	    {"bytes=0-9/10", VL_HTTP_RANGE_NONE, 0, 0, 0},
	    {"octets 0-9/10", VL_HTTP_RANGE_NONE, 0, 0, 0},
	    {"bytes 0-9/18446744073709551616", VL_HTTP_RANGE_NONE, 0, 0, 0},
	    {"bytes 0x1-9/10", VL_HTTP_RANGE_NONE, 0, 0, 0},
	    {"bytes", VL_HTTP_RANGE_NONE, 0, 0, 0},
	    {"", VL_HTTP_RANGE_NONE, 0, 0, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint64_t first = 7, last = 7, complete = 7;
		enum vl_http_range r = vl_http_parse_content_range(cases[i].v, strlen(cases[i].v),
		                                                   &first, &last, &complete);
		if (r != cases[i].want)
			fail_msg("\"%s\": %d, want %d", cases[i].v, r, cases[i].want);
		if (r != VL_HTTP_RANGE_NONE) {
			assert_int_equal(first, cases[i].first);
			assert_int_equal(last, cases[i].last);
			assert_int_equal(complete, cases[i].complete);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sha1_base64),
	    cmocka_unit_test(test_real_requests),
	    cmocka_unit_test(test_rejections),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_header_lookup),
	    cmocka_unit_test(test_content_length),
	    cmocka_unit_test(test_connection_semantics),
	    cmocka_unit_test(test_split),
	    cmocka_unit_test(test_format_head),
	    cmocka_unit_test(test_range),
	    cmocka_unit_test(test_content_range),
	    cmocka_unit_test(test_ws_accept),
	    cmocka_unit_test(test_ws_frame_forms),
	    cmocka_unit_test(test_ws_frame_rejects),
	    cmocka_unit_test(test_ws_unmask),
	    cmocka_unit_test(test_ws_close),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
