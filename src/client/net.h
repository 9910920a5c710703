/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client's network layer: a small blocking WebSocket client (RFC 6455)
 * over TCP or TLS 1.3 (libssl) for the valise.v1 protocol connection, and
 * one-shot HTTP/1.1 requests for the blob endpoints (docs/protocol.md §7).
 *
 * Blocking with explicit timeouts rather than an event library: the client
 * library is driven by its caller (vl_client_poll), holds one connection,
 * and a request waits for its reply anyway, so a socket with poll() is the
 * simplest thing that is robust. Every received size is bounded.
 */
#ifndef VL_CLIENT_NET_H
#define VL_CLIENT_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "valise/status.h"

/* Largest WebSocket message accepted (a protocol frame is at most 1 MiB). */
#define CL_NET_MSG_MAX  ((size_t)2 << 20)
#define CL_NET_HOST_MAX 255

struct cl_url {
	char host[CL_NET_HOST_MAX + 1];
	int port;
	bool tls;
};

struct cl_tls_opts {
	const char *ca_file; /* NULL: system default paths */
	bool insecure;       /* no certificate verification (development) */
};

struct cl_net {
	int fd;
	void *ssl;     /* SSL * */
	void *ssl_ctx; /* SSL_CTX * */
	uint8_t *buf;  /* received bytes not yet consumed */
	size_t len, cap;
	bool closed;
	uint16_t close_code;
};

/* Parses "ws://host[:port]" or "wss://host[:port]" (an optional trailing
 * "/"). Plain ws:// only for a loopback host (127.0.0.0/8, ::1,
 * localhost): VL_ERR_ARG otherwise, as for anything malformed. */
VL_MUST_CHECK int cl_url_parse(const char *url, struct cl_url *out);

void cl_net_init(struct cl_net *n);
/* Connects and upgrades to a WebSocket with subprotocol valise.v1.
 * VL_OK, VL_ERR_NET, VL_ERR_TIMEOUT, VL_ERR_PROTOCOL (not a WebSocket
 * upgrade), VL_ERR_NOMEM. */
VL_MUST_CHECK int cl_net_connect(struct cl_net *n, const struct cl_url *u,
                                 const struct cl_tls_opts *tls, int timeout_ms);
/* Sends one binary message. VL_OK or VL_ERR_NET. */
VL_MUST_CHECK int cl_net_send(struct cl_net *n, const uint8_t *data, size_t len);
/* Receives the next binary message (pings answered, text messages are a
 * protocol error). timeout_ms < 0 waits without limit. *msg is heap
 * (free()). VL_OK, VL_ERR_TIMEOUT, VL_ERR_NET (closed), VL_ERR_PROTOCOL,
 * VL_ERR_LIMIT, VL_ERR_NOMEM. */
VL_MUST_CHECK int cl_net_recv(struct cl_net *n, uint8_t **msg, size_t *len, int timeout_ms);
/* True if a received message is already buffered (no need to wait). */
bool cl_net_pending(const struct cl_net *n);
/* Sends a close frame (if open) and closes the socket. */
void cl_net_close(struct cl_net *n);

/* Body source for cl_http: fills buf with up to cap octets at offset,
 * returns the count (0 at the end) or -1 to abort. */
typedef long (*cl_http_read_fn)(void *ctx, uint8_t *buf, size_t cap);
/* Response sink: consumes len octets; false aborts. */
typedef bool (*cl_http_write_fn)(void *ctx, const uint8_t *data, size_t len);

struct cl_http_req {
	const char *method; /* "GET", "PUT" */
	const char *path;
	const char *headers; /* extra header lines, each ending in \r\n, or NULL */
	uint64_t body_len;   /* with body_read */
	cl_http_read_fn body_read;
	void *body_ctx;
	cl_http_write_fn resp_write; /* response body, with resp_max cap */
	void *resp_ctx;
	uint64_t resp_max;
	/* GET only: the body from this octet on (a Range request, RFC 9110
	 * §14). A 206 must start there; from a server that answers 200 with
	 * the whole body, the octets before it are read and dropped. Either
	 * way resp_write sees the body from range_from and *status is 200. */
	uint64_t range_from;
};

/* One HTTP/1.1 request on a fresh connection ("Connection: close").
 * *status receives the HTTP status. Only Content-Length bodies are read
 * (chunked responses give VL_ERR_PROTOCOL). VL_OK (whatever the status),
 * VL_ERR_NET, VL_ERR_TIMEOUT, VL_ERR_PROTOCOL, VL_ERR_LIMIT (response body
 * over resp_max), VL_ERR_STATE (a callback aborted). */
VL_MUST_CHECK int cl_http(const struct cl_url *u, const struct cl_tls_opts *tls,
                          const struct cl_http_req *req, int timeout_ms, int *status);
/* The response part of cl_http, for a request already written on n (the
 * fuzzer drives it with arbitrary bytes): the same results. */
VL_MUST_CHECK int cl_http_response(struct cl_net *n, const struct cl_http_req *req, int timeout_ms,
                                   int *status);

#endif
