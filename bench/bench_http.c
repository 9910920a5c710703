/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 and WebSocket parsing speed (src/server/http1.c, ws.c): request
 * heads as libwebsockets and curl send them, the 101 handshake, client frame
 * headers, and unmasking at several payload sizes against a byte-at-a-time
 * loop. Prints a table of nanoseconds per operation and, for unmasking,
 * GB/s. Each row runs for about 0.3 s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/http1.h"
#include "server/ws.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char lws_upgrade[] =
    "GET / HTTP/1.1\r\nPragma: no-cache\r\nCache-Control: no-cache\r\n"
    "Host: 127.0.0.1\r\nOrigin: http://127.0.0.1\r\n"
    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: bkPyMeLmNDP4R1UW+U1i0g==\r\n"
    "Sec-WebSocket-Protocol: valise.v1\r\n"
    "Sec-WebSocket-Version: 13\r\n\r\n";
static const char curl_get[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:18942\r\n"
                               "User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";

static volatile size_t sink;

static void row(const char *what, double secs, unsigned long n, size_t bytes)
{
	double ns = secs * 1e9 / (double)n;
	if (bytes)
		printf("%-38s %10.1f %10.2f\n", what, ns, (double)bytes * (double)n / secs / 1e9);
	else
		printf("%-38s %10.1f %10s\n", what, ns, "-");
}

static void bench_head(const char *what, const char *head)
{
	struct vl_http_req r;
	size_t hl, len = strlen(head);
	unsigned long n = 0;
	double t0 = now(), t;
	do {
		for (int i = 0; i < 1000; i++, n++) {
			if (vl_http_parse_head(head, len, &r, &hl) != VL_OK)
				abort();
			sink += hl;
		}
		t = now() - t0;
	} while (t < 0.3);
	row(what, t, n, 0);
}

static void bench_accept(void)
{
	struct vl_http_req r;
	size_t hl;
	if (vl_http_parse_head(lws_upgrade, strlen(lws_upgrade), &r, &hl) != VL_OK)
		abort();
	char out[256];
	unsigned st;
	unsigned long n = 0;
	double t0 = now(), t;
	do {
		for (int i = 0; i < 100; i++, n++) {
			size_t w = vl_ws_accept(&r, out, sizeof out, &st);
			if (!w)
				abort();
			sink += w;
		}
		t = now() - t0;
	} while (t < 0.3);
	row("vl_ws_accept (101 response)", t, n, 0);
}

static void bench_frame(void)
{
	static const uint8_t f16[] = {0x82, 0xfe, 0x01, 0x00, 1, 2, 3, 4};
	struct vl_ws_frame f;
	unsigned long n = 0;
	double t0 = now(), t;
	do {
		for (int i = 0; i < 10000; i++, n++) {
			if (vl_ws_parse_frame(f16, sizeof f16, &f) != VL_OK)
				abort();
			sink += f.hdr_len;
		}
		t = now() - t0;
	} while (t < 0.3);
	row("vl_ws_parse_frame (16-bit length)", t, n, 0);
}

static void unmask_bytes(uint8_t *p, size_t len, const uint8_t mask[4], uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		p[i] ^= mask[(off + i) & 3];
}

static void bench_unmask(size_t len, bool reference)
{
	uint8_t *buf = malloc(len + 1);
	if (!buf)
		abort();
	memset(buf, 0x5a, len + 1);
	static const uint8_t mask[4] = {1, 2, 3, 4};
	unsigned long n = 0;
	double t0 = now(), t;
	unsigned long batch = len >= 65536 ? 10 : 1000;
	do {
		for (unsigned long i = 0; i < batch; i++, n++) {
			/* Start one byte in, as a payload after a 6-byte header
			 * in a read buffer usually is misaligned. */
			if (reference)
				unmask_bytes(buf + 1, len, mask, n);
			else
				vl_ws_unmask(buf + 1, len, mask, n);
		}
		sink += buf[len / 2];
		t = now() - t0;
	} while (t < 0.3);
	char what[64];
	snprintf(what, sizeof what, "%s %zu B", reference ? "unmask byte loop" : "vl_ws_unmask",
	         len);
	row(what, t, n, len);
	free(buf);
}

int main(void)
{
	printf("%-38s %10s %10s\n", "operation", "ns/op", "GB/s");
	bench_head("parse head: libwebsockets upgrade", lws_upgrade);
	bench_head("parse head: curl GET /healthz", curl_get);
	bench_accept();
	bench_frame();
	static const size_t sizes[] = {64, 1024, 65536, 1u << 20};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		bench_unmask(sizes[i], false);
		bench_unmask(sizes[i], true);
	}
	return 0;
}
