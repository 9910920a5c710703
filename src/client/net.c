/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Blocking WebSocket and HTTP/1.1 client over TCP or TLS (see net.h).
 *
 * Only what the valise protocol needs: client-side masking (RFC 6455 §5.3),
 * fragmented messages reassembled up to CL_NET_MSG_MAX (§5.4), ping/pong
 * and close (§5.5). TLS is libssl with TLS 1.3 only (protocol.md §1),
 * certificate and host name verified unless the caller asks otherwise.
 */
#include "client/net.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "wire/base64.h"

#define HTTP_HEAD_MAX 8192
/* How long the rest of a started fragmented message is awaited. */
#define CL_NET_MID_MESSAGE_MS 30000

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static bool host_is_loopback(const char *h)
{
	return strcmp(h, "localhost") == 0 || strncmp(h, "127.", 4) == 0 || strcmp(h, "::1") == 0;
}

int cl_url_parse(const char *url, struct cl_url *out)
{
	memset(out, 0, sizeof *out);
	const char *p;
	if (strncmp(url, "wss://", 6) == 0) {
		out->tls = true;
		out->port = 443;
		p = url + 6;
	} else if (strncmp(url, "ws://", 5) == 0) {
		out->port = 80;
		p = url + 5;
	} else {
		return VL_ERR_ARG;
	}
	const char *end = p + strcspn(p, "/");
	if (*end == '/' && end[1] != '\0')
		return VL_ERR_ARG;
	const char *host_end = end;
	if (*p == '[') { /* [v6]:port */
		const char *rb = memchr(p, ']', (size_t)(end - p));
		if (!rb)
			return VL_ERR_ARG;
		if ((size_t)(rb - p - 1) > CL_NET_HOST_MAX)
			return VL_ERR_ARG;
		memcpy(out->host, p + 1, (size_t)(rb - p - 1));
		host_end = rb + 1;
	} else {
		const char *colon = memchr(p, ':', (size_t)(end - p));
		if (colon)
			host_end = colon;
		if ((size_t)(host_end - p) > CL_NET_HOST_MAX || host_end == p)
			return VL_ERR_ARG;
		memcpy(out->host, p, (size_t)(host_end - p));
	}
	if (out->host[0] == '\0')
		return VL_ERR_ARG;
	if (host_end < end) {
		if (*host_end != ':')
			return VL_ERR_ARG;
		char *e;
		long port = strtol(host_end + 1, &e, 10);
		if (e != end || port < 1 || port > 65535)
			return VL_ERR_ARG;
		out->port = (int)port;
	}
	/* protocol.md §1: plain connections only on loopback. */
	if (!out->tls && !host_is_loopback(out->host))
		return VL_ERR_ARG;
	return VL_OK;
}

void cl_net_init(struct cl_net *n)
{
	memset(n, 0, sizeof *n);
	n->fd = -1;
}

/* Waits until fd is readable (or writable); VL_OK or VL_ERR_TIMEOUT. */
static int wait_fd(int fd, bool write, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = write ? POLLOUT : POLLIN};
	for (;;) {
		int r = poll(&p, 1, timeout_ms);
		if (r > 0)
			return VL_OK;
		if (r == 0)
			return VL_ERR_TIMEOUT;
		if (errno != EINTR)
			return VL_ERR_NET;
	}
}

/* connect() bounded by timeout_ms: non-blocking, then poll for the
 * outcome. */
static bool connect_within(int fd, const struct sockaddr *sa, socklen_t len, int timeout_ms)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return false;
	int r = connect(fd, sa, len);
	if (r != 0 && errno != EINPROGRESS)
		return false;
	if (r != 0) {
		if (wait_fd(fd, true, timeout_ms) != VL_OK)
			return false;
		int err = 0;
		socklen_t el = sizeof err;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0)
			return false;
	}
	return fcntl(fd, F_SETFL, fl) == 0;
}

static int tcp_connect(const struct cl_url *u, int timeout_ms, int *fd_out)
{
	char port[8];
	snprintf(port, sizeof port, "%d", u->port);
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	if (getaddrinfo(u->host, port, &hints, &res) != 0)
		return VL_ERR_NET;
	if (timeout_ms <= 0)
		timeout_ms = 15000;
	int rc = VL_ERR_NET;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect_within(fd, ai->ai_addr, ai->ai_addrlen, timeout_ms)) {
			/* Frames are small and answered at once: without this,
			 * Nagle's algorithm holds a frame's second write back until
			 * the peer's delayed ACK, some 40 ms. */
			int one = 1;
			(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
			/* Reads wait in poll(); these bound the blocking writes and
			 * the TLS handshake against a peer that stops answering. */
			struct timeval tv = {.tv_sec = timeout_ms / 1000,
			                     .tv_usec = (timeout_ms % 1000) * 1000};
			(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
			(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
			*fd_out = fd;
			rc = VL_OK;
			break;
		}
		close(fd);
	}
	freeaddrinfo(res);
	return rc;
}

static int tls_start(struct cl_net *n, const struct cl_url *u, const struct cl_tls_opts *t)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return VL_ERR_NOMEM;
	n->ssl_ctx = ctx;
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	if (t && t->insecure) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		int ok = (t && t->ca_file) ? SSL_CTX_load_verify_locations(ctx, t->ca_file, NULL)
		                           : SSL_CTX_set_default_verify_paths(ctx);
		if (ok != 1)
			return VL_ERR_NET;
	}
	SSL *ssl = SSL_new(ctx);
	if (!ssl)
		return VL_ERR_NOMEM;
	n->ssl = ssl;
	SSL_set_fd(ssl, n->fd);
	SSL_set_tlsext_host_name(ssl, u->host);
	if (!(t && t->insecure))
		SSL_set1_host(ssl, u->host);
	if (SSL_connect(ssl) != 1) {
		ERR_clear_error();
		return VL_ERR_NET;
	}
	return VL_OK;
}

static int raw_write(struct cl_net *n, const void *data, size_t len)
{
	const uint8_t *p = data;
	while (len > 0) {
		ssize_t w;
		if (n->ssl) {
			int r = SSL_write(n->ssl, p, len > INT32_MAX ? INT32_MAX : (int)len);
			if (r <= 0) {
				ERR_clear_error();
				return VL_ERR_NET;
			}
			w = r;
		} else {
			w = send(n->fd, p, len, MSG_NOSIGNAL);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return VL_ERR_NET;
		}
		p += w;
		len -= (size_t)w;
	}
	return VL_OK;
}

/* Reads more bytes into the buffer, waiting until deadline (0: none).
 * VL_OK, VL_ERR_TIMEOUT, VL_ERR_NET (closed), VL_ERR_LIMIT. */
static int fill(struct cl_net *n, uint64_t deadline, size_t max)
{
	if (n->len >= max)
		return VL_ERR_LIMIT;
	if (n->cap - n->len < 16384) {
		size_t ncap = n->cap ? n->cap * 2 : 32768;
		if (ncap > max + 16384)
			ncap = max + 16384;
		if (ncap <= n->len)
			return VL_ERR_LIMIT;
		uint8_t *nb = realloc(n->buf, ncap);
		if (!nb)
			return VL_ERR_NOMEM;
		n->buf = nb;
		n->cap = ncap;
	}
	for (;;) {
		if (!(n->ssl && SSL_pending(n->ssl) > 0)) {
			int to = -1;
			if (deadline) {
				uint64_t t = now_ms();
				to = t >= deadline ? 0 : (int)(deadline - t);
			}
			int rc = wait_fd(n->fd, false, to);
			if (rc)
				return rc;
		}
		ssize_t r;
		size_t room = n->cap - n->len;
		if (n->ssl) {
			int s = SSL_read(n->ssl, n->buf + n->len,
			                 room > INT32_MAX ? INT32_MAX : (int)room);
			if (s <= 0) {
				int e = SSL_get_error(n->ssl, s);
				ERR_clear_error();
				if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
					continue; /* a TLS record without application data */
				n->closed = true;
				return VL_ERR_NET;
			}
			r = s;
		} else {
			r = recv(n->fd, n->buf + n->len, room, 0);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				n->closed = true;
				return VL_ERR_NET;
			}
		}
		n->len += (size_t)r;
		return VL_OK;
	}
}

static void consume(struct cl_net *n, size_t k)
{
	memmove(n->buf, n->buf + k, n->len - k);
	n->len -= k;
}

/* Reads an HTTP response head (up to the blank line) into head (NUL
 * terminated, without the blank line), leaving the body bytes buffered. */
static int read_head(struct cl_net *n, uint64_t deadline, char head[HTTP_HEAD_MAX + 1])
{
	for (;;) {
		for (size_t i = 3; i < n->len; i++) {
			if (memcmp(n->buf + i - 3, "\r\n\r\n", 4) == 0) {
				if (i - 3 > HTTP_HEAD_MAX)
					return VL_ERR_LIMIT;
				memcpy(head, n->buf, i - 3);
				head[i - 3] = '\0';
				consume(n, i + 1);
				return VL_OK;
			}
		}
		int rc = fill(n, deadline, HTTP_HEAD_MAX + 4);
		if (rc)
			return rc == VL_ERR_LIMIT ? VL_ERR_PROTOCOL : rc;
	}
}

/* The value of header `name` in head (case-insensitive), copied to out. */
static bool header_value(const char *head, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
		const char *line = p + 2;
		if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
			const char *v = line + nl + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			size_t vl = strcspn(v, "\r");
			while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
				vl--;
			if (vl >= cap)
				return false;
			memcpy(out, v, vl);
			out[vl] = '\0';
			return true;
		}
	}
	return false;
}

static int http_status(const char *head)
{
	int st = 0;
	if (sscanf(head, "HTTP/1.1 %3d", &st) != 1 && sscanf(head, "HTTP/1.0 %3d", &st) != 1)
		return -1;
	return st;
}

static int open_conn(struct cl_net *n, const struct cl_url *u, const struct cl_tls_opts *tls,
                     int timeout_ms)
{
	int rc = tcp_connect(u, timeout_ms, &n->fd);
	if (rc == VL_OK && u->tls)
		rc = tls_start(n, u, tls);
	return rc;
}

int cl_net_connect(struct cl_net *n, const struct cl_url *u, const struct cl_tls_opts *tls,
                   int timeout_ms)
{
	cl_net_init(n);
	uint64_t deadline = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 15000);
	int rc = open_conn(n, u, tls, timeout_ms);
	if (rc)
		goto fail;
	uint8_t key[16];
	char key64[32];
	rc = vl_random(key, sizeof key);
	if (rc)
		goto fail;
	if (!vl_base64_encode(key, sizeof key, key64, sizeof key64)) {
		rc = VL_ERR_ARG;
		goto fail;
	}
	char req[600];
	int len = snprintf(req, sizeof req,
	                   "GET / HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
	                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
	                   "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: valise.v1\r\n\r\n",
	                   u->host, u->port, key64);
	if (len < 0 || (size_t)len >= sizeof req) {
		rc = VL_ERR_ARG;
		goto fail;
	}
	rc = raw_write(n, req, (size_t)len);
	if (rc)
		goto fail;
	char head[HTTP_HEAD_MAX + 1], val[64];
	rc = read_head(n, deadline, head);
	if (rc)
		goto fail;
	/* The upgrade must be a 101 naming our subprotocol, with the accept
	 * value of our key (RFC 6455 §4.1: base64 of the SHA-1 of the key and
	 * the protocol's GUID), so that a reply cached or forged by something
	 * that is not a WebSocket endpoint for this request is refused. */
	char hashed[sizeof key64 + 36];
	uint8_t digest[20];
	char expect[32];
	snprintf(hashed, sizeof hashed, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key64);
	if (http_status(head) != 101 ||
	    !header_value(head, "Sec-WebSocket-Protocol", val, sizeof val) ||
	    strcmp(val, "valise.v1") != 0 ||
	    !header_value(head, "Sec-WebSocket-Accept", val, sizeof val) ||
	    vl_sha1(hashed, strlen(hashed), digest) != VL_OK ||
	    !vl_base64_encode(digest, sizeof digest, expect, sizeof expect) ||
	    strcmp(val, expect) != 0) {
		rc = VL_ERR_PROTOCOL;
		goto fail;
	}
	return VL_OK;
fail:
	cl_net_close(n);
	return rc;
}

static int send_frame(struct cl_net *n, int opcode, const uint8_t *data, size_t len)
{
	uint8_t hdr[14];
	size_t h = 0;
	hdr[h++] = (uint8_t)(0x80 | opcode);
	if (len < 126) {
		hdr[h++] = (uint8_t)(0x80 | len);
	} else if (len <= 0xffff) {
		hdr[h++] = 0x80 | 126;
		hdr[h++] = (uint8_t)(len >> 8);
		hdr[h++] = (uint8_t)len;
	} else {
		hdr[h++] = 0x80 | 127;
		for (int i = 7; i >= 0; i--)
			hdr[h++] = (uint8_t)((uint64_t)len >> (8 * i));
	}
	uint8_t mask[4];
	if (vl_random(mask, sizeof mask))
		return VL_ERR_NET;
	memcpy(hdr + h, mask, 4);
	h += 4;
	int rc = raw_write(n, hdr, h);
	uint8_t chunk[4096];
	for (size_t off = 0; rc == VL_OK && off < len; off += sizeof chunk) {
		size_t k = len - off < sizeof chunk ? len - off : sizeof chunk;
		for (size_t i = 0; i < k; i++)
			chunk[i] = data[off + i] ^ mask[(off + i) & 3];
		rc = raw_write(n, chunk, k);
	}
	return rc;
}

int cl_net_send(struct cl_net *n, const uint8_t *data, size_t len)
{
	if (n->fd < 0 || n->closed)
		return VL_ERR_NET;
	return send_frame(n, 2, data, len);
}

/* Parses one WebSocket frame at the start of the buffer if complete:
 * 1 with its header fields, 0 if more bytes are needed, <0 on error. */
static int parse_frame(struct cl_net *n, bool *fin, int *op, size_t *hlen, size_t *plen)
{
	if (n->len < 2)
		return 0;
	const uint8_t *b = n->buf;
	if (b[0] & 0x70)
		return -VL_ERR_PROTOCOL; /* no extensions negotiated */
	if (b[1] & 0x80)
		return -VL_ERR_PROTOCOL; /* servers do not mask (§5.1) */
	*fin = b[0] & 0x80;
	*op = b[0] & 0x0f;
	uint64_t l = b[1] & 0x7f;
	size_t h = 2;
	if (l == 126) {
		if (n->len < 4)
			return 0;
		l = (uint64_t)b[2] << 8 | b[3];
		h = 4;
	} else if (l == 127) {
		if (n->len < 10)
			return 0;
		l = 0;
		for (int i = 0; i < 8; i++)
			l = l << 8 | b[2 + i];
		h = 10;
	}
	if (l > CL_NET_MSG_MAX)
		return -VL_ERR_LIMIT;
	*hlen = h;
	*plen = (size_t)l;
	return n->len >= h + l ? 1 : 0;
}

bool cl_net_pending(const struct cl_net *n)
{
	/* Conservative: any buffered bytes may hold a message. */
	return n->fd >= 0 && n->len > 0;
}

int cl_net_recv(struct cl_net *n, uint8_t **msg, size_t *len, int timeout_ms)
{
	*msg = NULL;
	*len = 0;
	if (n->fd < 0)
		return VL_ERR_NET;
	uint64_t deadline = timeout_ms < 0 ? 0 : now_ms() + (uint64_t)timeout_ms;
	if (timeout_ms == 0)
		deadline = now_ms(); /* poll once */
	uint8_t *acc = NULL;
	size_t acc_len = 0;
	bool in_msg = false;
	int rc;
	for (;;) {
		bool fin;
		int op;
		size_t h, l;
		int r = parse_frame(n, &fin, &op, &h, &l);
		if (r < 0) {
			rc = -r;
			goto fail;
		}
		if (r == 0) {
			/* Bytes of a frame not yet whole stay in the buffer for the
			 * next call; but once a fragmented message has started, its
			 * earlier fragments live only here, so the rest is awaited
			 * (for at most CL_NET_MID_MESSAGE_MS, then the connection is
			 * given up). */
			if (in_msg) {
				rc = fill(n, now_ms() + CL_NET_MID_MESSAGE_MS, CL_NET_MSG_MAX + 16);
				if (rc == VL_ERR_TIMEOUT) {
					n->closed = true;
					rc = VL_ERR_NET;
				}
			} else {
				rc = fill(n, deadline, CL_NET_MSG_MAX + 16);
			}
			if (rc)
				goto fail;
			continue;
		}
		const uint8_t *payload = n->buf + h;
		if (op >= 8 && (!fin || l > 125)) {
			rc = VL_ERR_PROTOCOL; /* RFC 6455 §5.5: whole and short */
			goto fail;
		}
		if (op == 9) { /* ping: answer with the same payload */
			uint8_t tmp[125];
			memcpy(tmp, payload, l);
			consume(n, h + l);
			rc = send_frame(n, 10, tmp, l);
			if (rc)
				goto fail;
			continue;
		}
		if (op == 10) {
			consume(n, h + l);
			continue;
		}
		if (op == 8) {
			n->close_code = l >= 2 ? (uint16_t)(payload[0] << 8 | payload[1]) : 1005;
			consume(n, h + l);
			n->closed = true;
			rc = VL_ERR_NET;
			goto fail;
		}
		if (op == 1 || (op == 0 && !in_msg) || (op == 2 && in_msg) || op > 2) {
			rc = VL_ERR_PROTOCOL;
			goto fail;
		}
		if (acc_len + l > CL_NET_MSG_MAX) {
			rc = VL_ERR_LIMIT;
			goto fail;
		}
		uint8_t *na = realloc(acc, acc_len + l + 1);
		if (!na) {
			rc = VL_ERR_NOMEM;
			goto fail;
		}
		acc = na;
		memcpy(acc + acc_len, payload, l);
		acc_len += l;
		consume(n, h + l);
		in_msg = true;
		if (fin) {
			*msg = acc;
			*len = acc_len;
			return VL_OK;
		}
	}
fail:
	free(acc);
	return rc;
}

void cl_net_close(struct cl_net *n)
{
	if (n->fd >= 0 && !n->closed) {
		uint8_t code[2] = {0x03, 0xe8}; /* 1000 normal closure */
		(void)send_frame(n, 8, code, 2);
	}
	if (n->ssl) {
		SSL_shutdown(n->ssl);
		SSL_free(n->ssl);
		ERR_clear_error();
	}
	if (n->ssl_ctx)
		SSL_CTX_free(n->ssl_ctx);
	if (n->fd >= 0)
		close(n->fd);
	free(n->buf);
	cl_net_init(n);
}

int cl_http_response(struct cl_net *n, const struct cl_http_req *req, int timeout_ms, int *status)
{
	*status = 0;
	/* A long upload came before: the deadline starts now. */
	uint64_t deadline = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 15000);
	char head[HTTP_HEAD_MAX + 1];
	int rc = read_head(n, deadline, head);
	if (rc)
		return rc;
	*status = http_status(head);
	if (*status < 100)
		return VL_ERR_PROTOCOL;
	char val[32];
	if (header_value(head, "Transfer-Encoding", val, sizeof val))
		return VL_ERR_PROTOCOL;
	uint64_t clen = 0;
	if (header_value(head, "Content-Length", val, sizeof val)) {
		char *e;
		unsigned long long v = strtoull(val, &e, 10);
		if (*e != '\0' || val[0] == '\0')
			return VL_ERR_PROTOCOL;
		clen = v;
	}
	/* Octets of the body before range_from, to drop (a server that
	 * ignored the Range header), or a 206 that must start there. */
	uint64_t skip = 0;
	if (req->range_from && *status == 200) {
		if (clen < req->range_from)
			return VL_ERR_PROTOCOL;
		skip = req->range_from;
		clen -= skip;
	} else if (req->range_from && *status == 206) {
		unsigned long long first, last, full;
		int used = 0;
		char cr[80]; /* "bytes " and three 20-digit numbers */
		if (!header_value(head, "Content-Range", cr, sizeof cr) ||
		    sscanf(cr, "bytes %llu-%llu/%llu%n", &first, &last, &full, &used) != 3 ||
		    cr[used] != '\0' || first != req->range_from || last < first || last >= full ||
		    last - first + 1 != clen)
			return VL_ERR_PROTOCOL;
		*status = 200;
	}
	if (clen > req->resp_max)
		return VL_ERR_LIMIT;
	uint64_t got = 0;
	while (got < clen || skip) {
		if (n->len == 0) {
			rc = fill(n, deadline, 65536);
			if (rc)
				return rc;
			deadline = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 15000);
		}
		if (skip) {
			size_t k = n->len < skip ? n->len : (size_t)skip;
			consume(n, k);
			skip -= k;
			continue;
		}
		size_t k = n->len;
		if (k > clen - got)
			k = (size_t)(clen - got);
		if (req->resp_write && !req->resp_write(req->resp_ctx, n->buf, k))
			return VL_ERR_STATE;
		consume(n, k);
		got += k;
	}
	return VL_OK;
}

int cl_http(const struct cl_url *u, const struct cl_tls_opts *tls, const struct cl_http_req *req,
            int timeout_ms, int *status)
{
	*status = 0;
	struct cl_net n;
	cl_net_init(&n);
	int rc = open_conn(&n, u, tls, timeout_ms);
	uint8_t *chunk = NULL;
	if (rc)
		goto done;
	char head[HTTP_HEAD_MAX + 1], range[48] = "";
	if (req->range_from)
		snprintf(range, sizeof range, "Range: bytes=%llu-\r\n",
		         (unsigned long long)req->range_from);
	int hl = snprintf(head, sizeof head,
	                  "%s %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n"
	                  "Content-Length: %llu\r\n%s%s\r\n",
	                  req->method, req->path, u->host, u->port,
	                  (unsigned long long)(req->body_read ? req->body_len : 0), range,
	                  req->headers ? req->headers : "");
	if (hl < 0 || (size_t)hl >= sizeof head) {
		rc = VL_ERR_ARG;
		goto done;
	}
	rc = raw_write(&n, head, (size_t)hl);
	if (rc)
		goto done;
	chunk = malloc(65536);
	if (!chunk) {
		rc = VL_ERR_NOMEM;
		goto done;
	}
	if (req->body_read) {
		uint64_t sent = 0;
		while (sent < req->body_len) {
			long k = req->body_read(req->body_ctx, chunk, 65536);
			if (k < 0) {
				rc = VL_ERR_STATE;
				goto done;
			}
			if (k == 0 || sent + (uint64_t)k > req->body_len) {
				rc = VL_ERR_IO;
				goto done;
			}
			rc = raw_write(&n, chunk, (size_t)k);
			if (rc)
				goto done;
			sent += (uint64_t)k;
		}
	}
	rc = cl_http_response(&n, req, timeout_ms, status);
done:
	free(chunk);
	n.closed = true; /* no WebSocket close frame on an HTTP connection */
	cl_net_close(&n);
	return rc;
}
