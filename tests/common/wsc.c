/* SPDX-License-Identifier: Apache-2.0 */
/* The blocking WebSocket test client of wsc.h. */
#include "wsc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

static int tcp_connect(const char *host, int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (inet_pton(AF_INET, strcmp(host, "localhost") == 0 ? "127.0.0.1" : host, &a.sin_addr) !=
	        1 ||
	    connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		close(fd);
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static int raw_write(struct wsc *c, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t w = c->ssl ? SSL_write(c->ssl, b, (int)n) : write(c->fd, b, n);
		if (w <= 0) {
			if (!c->ssl && w < 0 && errno == EINTR)
				continue;
			return -1;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads more bytes into the buffer; 1 read, 0 closed, -1 timeout/error. */
static int raw_fill(struct wsc *c, int timeout_ms)
{
	if (c->len == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 65536;
		uint8_t *n = realloc(c->buf, cap);
		if (!n)
			return -1;
		c->buf = n;
		c->cap = cap;
	}
	if (!(c->ssl && SSL_pending(c->ssl) > 0)) {
		struct pollfd pfd = {c->fd, POLLIN, 0};
		int pr = poll(&pfd, 1, timeout_ms);
		if (pr <= 0)
			return -1;
	}
	ssize_t r = c->ssl ? SSL_read(c->ssl, c->buf + c->len, (int)(c->cap - c->len))
	                   : read(c->fd, c->buf + c->len, c->cap - c->len);
	if (r == 0 || (c->ssl && r < 0 && SSL_get_error(c->ssl, (int)r) == SSL_ERROR_ZERO_RETURN))
		return 0;
	if (r < 0)
		return -1;
	c->len += (size_t)r;
	return 1;
}

static void consume(struct wsc *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

int wsc_connect(struct wsc *c, const char *host, int port, bool tls, const char *subprotocol)
{
	memset(c, 0, sizeof *c);
	c->fd = tcp_connect(host, port);
	if (c->fd < 0)
		return -1;
	if (tls) {
		SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
		if (!ctx)
			goto fail;
		SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
		c->ssl_ctx = ctx;
		SSL *ssl = SSL_new(ctx);
		if (!ssl)
			goto fail;
		c->ssl = ssl;
		SSL_set_fd(ssl, c->fd);
		SSL_set_tlsext_host_name(ssl, "localhost");
		if (SSL_connect(ssl) != 1)
			goto fail;
	}
	char req[512];
	int n = snprintf(req, sizeof req,
	                 "GET / HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
	                 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	                 "Sec-WebSocket-Version: 13\r\n%s%s%s\r\n",
	                 host, port, subprotocol ? "Sec-WebSocket-Protocol: " : "",
	                 subprotocol ? subprotocol : "", subprotocol ? "\r\n" : "");
	if (raw_write(c, req, (size_t)n))
		goto fail;
	/* Read the response head. */
	for (;;) {
		if (c->len >= 4) {
			uint8_t *end = NULL;
			for (size_t i = 0; i + 4 <= c->len; i++)
				if (memcmp(c->buf + i, "\r\n\r\n", 4) == 0) {
					end = c->buf + i + 4;
					break;
				}
			if (end) {
				bool ok = c->len >= 12 && memcmp(c->buf, "HTTP/1.1 101", 12) == 0;
				consume(c, (size_t)(end - c->buf));
				if (!ok)
					goto fail;
				return 0;
			}
		}
		if (raw_fill(c, 5000) != 1)
			goto fail;
	}
fail:
	wsc_close(c);
	return -1;
}

int wsc_send_frame(struct wsc *c, int opcode, bool fin, const void *data, size_t len)
{
	uint8_t hdr[14];
	size_t h = 0;
	hdr[h++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
	if (len < 126) {
		hdr[h++] = (uint8_t)(0x80 | len);
	} else if (len < 65536) {
		hdr[h++] = 0x80 | 126;
		hdr[h++] = (uint8_t)(len >> 8);
		hdr[h++] = (uint8_t)len;
	} else {
		hdr[h++] = 0x80 | 127;
		for (int i = 7; i >= 0; i--)
			hdr[h++] = (uint8_t)((uint64_t)len >> (8 * i));
	}
	uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
	memcpy(hdr + h, mask, 4);
	h += 4;
	uint8_t *out = malloc(h + len + 1);
	if (!out)
		return -1;
	memcpy(out, hdr, h);
	const uint8_t *d = data;
	for (size_t i = 0; i < len; i++)
		out[h + i] = d[i] ^ mask[i & 3];
	int rc = raw_write(c, out, h + len);
	free(out);
	return rc;
}

int wsc_send(struct wsc *c, int opcode, const void *data, size_t len)
{
	return wsc_send_frame(c, opcode, true, data, len);
}

int wsc_send_fragmented(struct wsc *c, const void *data, size_t len, size_t frag)
{
	const uint8_t *d = data;
	size_t off = 0;
	int op = WSC_BINARY;
	do {
		size_t n = len - off < frag ? len - off : frag;
		if (wsc_send_frame(c, op, off + n == len, d + off, n))
			return -1;
		off += n;
		op = 0; /* continuation */
	} while (off < len);
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Parses one frame at the head of the buffer: 1 and fields, 0 if more
 * bytes are needed. */
static int parse_frame(struct wsc *c, int *op, bool *fin, size_t *hlen, size_t *plen)
{
	if (c->len < 2)
		return 0;
	*fin = c->buf[0] & 0x80;
	*op = c->buf[0] & 0x0f;
	size_t n = c->buf[1] & 0x7f, h = 2;
	if (n == 126) {
		if (c->len < 4)
			return 0;
		n = (size_t)c->buf[2] << 8 | c->buf[3];
		h = 4;
	} else if (n == 127) {
		if (c->len < 10)
			return 0;
		n = 0;
		for (int i = 0; i < 8; i++)
			n = n << 8 | c->buf[2 + i];
		h = 10;
	}
	if (c->buf[1] & 0x80)
		h += 4; /* servers do not mask; tolerated */
	if (c->len < h + n)
		return 0;
	*hlen = h;
	*plen = n;
	return 1;
}

int wsc_recv(struct wsc *c, uint8_t **msg, size_t *len, int *opcode, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	uint8_t *acc = NULL;
	size_t acc_len = 0;
	int acc_op = 0;
	*msg = NULL;
	for (;;) {
		int op;
		bool fin;
		size_t h, n;
		while (parse_frame(c, &op, &fin, &h, &n)) {
			uint8_t *p = c->buf + h;
			if (op == WSC_PING) {
				wsc_send_frame(c, WSC_PONG, true, p, n);
			} else if (op == WSC_CLOSE) {
				c->closed = true;
				c->close_code = n >= 2 ? (uint16_t)(p[0] << 8 | p[1]) : 0;
				consume(c, h + n);
				free(acc);
				return 0;
			} else if (op != WSC_PONG) {
				uint8_t *m = realloc(acc, acc_len + n + 1);
				if (!m) {
					free(acc);
					return -1;
				}
				acc = m;
				memcpy(acc + acc_len, p, n);
				acc_len += n;
				if (op)
					acc_op = op;
				if (fin) {
					consume(c, h + n);
					*msg = acc;
					*len = acc_len;
					*opcode = acc_op;
					return 1;
				}
			}
			consume(c, h + n);
		}
		long long left = deadline - now_ms();
		if (left <= 0) {
			free(acc);
			return -1;
		}
		int r = raw_fill(c, (int)left);
		if (r == 0) {
			c->closed = true;
			free(acc);
			return 0;
		}
		if (r < 0) {
			free(acc);
			return -1;
		}
	}
}

void wsc_close(struct wsc *c)
{
	if (c->fd >= 0 && !c->closed) {
		uint8_t code[2] = {0x03, 0xe8};
		wsc_send_frame(c, WSC_CLOSE, true, code, 2);
	}
	if (c->ssl)
		SSL_free(c->ssl);
	if (c->ssl_ctx)
		SSL_CTX_free(c->ssl_ctx);
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	memset(c, 0, sizeof *c);
	c->fd = -1;
}

int wsc_http_get(const char *host, int port, bool tls, const char *path, char **body)
{
	size_t n;
	return wsc_http_request(host, port, tls, "GET", path, NULL, NULL, 0, body, &n);
}

int wsc_http_request(const char *host, int port, bool tls, const char *method, const char *path,
                     const char *extra_headers, const void *req_body, size_t req_len, char **body,
                     size_t *body_len)
{
	struct wsc c;
	memset(&c, 0, sizeof c);
	*body = NULL;
	c.fd = tcp_connect(host, port);
	if (c.fd < 0)
		return -1;
	int status = -1;
	if (tls) {
		c.ssl_ctx = SSL_CTX_new(TLS_client_method());
		c.ssl = c.ssl_ctx ? SSL_new(c.ssl_ctx) : NULL;
		if (!c.ssl)
			goto done;
		SSL_set_fd(c.ssl, c.fd);
		if (SSL_connect(c.ssl) != 1)
			goto done;
	}
	char req[4096];
	int n;
	if (req_body)
		n = snprintf(req, sizeof req,
		             "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n%s"
		             "Content-Length: %zu\r\n\r\n",
		             method, path, host, extra_headers ? extra_headers : "", req_len);
	else
		n = snprintf(req, sizeof req,
		             "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n%s\r\n", method,
		             path, host, extra_headers ? extra_headers : "");
	if (n < 0 || (size_t)n >= sizeof req || raw_write(&c, req, (size_t)n))
		goto done;
	if (req_body && req_len && raw_write(&c, req_body, req_len))
		goto done;
	while (raw_fill(&c, 5000) == 1)
		;
	if (c.len < 12 || memcmp(c.buf, "HTTP/1.1 ", 9) != 0)
		goto done;
	status = atoi((const char *)c.buf + 9);
	for (size_t i = 0; i + 4 <= c.len; i++)
		if (memcmp(c.buf + i, "\r\n\r\n", 4) == 0) {
			size_t bl = c.len - i - 4;
			*body = malloc(bl + 1);
			if (*body) {
				memcpy(*body, c.buf + i + 4, bl);
				(*body)[bl] = 0;
				*body_len = bl;
			}
			break;
		}
done:
	c.closed = true;
	wsc_close(&c);
	return status;
}
