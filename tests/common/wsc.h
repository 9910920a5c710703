/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A minimal blocking WebSocket client (RFC 6455) over TCP, optionally TLS,
 * for the end-to-end tests: enough to open a valise.v1 connection, send
 * binary (or deliberately wrong) messages and read whole messages back.
 * Not a general client: no extensions, no redirects, no certificate
 * verification (tests connect to their own server on loopback).
 */
#ifndef VL_WSC_H
#define VL_WSC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wsc {
	int fd;
	void *ssl;     /* SSL * when TLS */
	void *ssl_ctx; /* SSL_CTX * */
	uint8_t *buf;  /* received, not yet consumed bytes */
	size_t len, cap;
	bool closed; /* a close frame arrived or the socket ended */
	uint16_t close_code;
};

enum { WSC_TEXT = 1, WSC_BINARY = 2, WSC_CLOSE = 8, WSC_PING = 9, WSC_PONG = 10 };

/* Connects and upgrades (subprotocol: NULL for none). 0 or -1. */
int wsc_connect(struct wsc *c, const char *host, int port, bool tls, const char *subprotocol);
/* Sends one message of opcode, masked as clients must (§5.3). 0 or -1. */
int wsc_send(struct wsc *c, int opcode, const void *data, size_t len);
/* Sends one frame, masked, FIN set or not (to build fragmented messages
 * with control frames between their fragments). 0 or -1. */
int wsc_send_frame(struct wsc *c, int opcode, bool fin, const void *data, size_t len);
/* Sends a message in fragments of frag bytes (§5.4). */
int wsc_send_fragmented(struct wsc *c, const void *data, size_t len, size_t frag);
/* Receives the next data message (answers pings). Returns 1 with *msg
 * (heap, free()) and *opcode, 0 if the connection closed, -1 on timeout
 * or error. */
int wsc_recv(struct wsc *c, uint8_t **msg, size_t *len, int *opcode, int timeout_ms);
/* Sends a close frame and closes the socket. */
void wsc_close(struct wsc *c);

/* One plain HTTP/1.1 GET; returns the status, body in *body (heap). */
int wsc_http_get(const char *host, int port, bool tls, const char *path, char **body);
/* Any request: extra_headers ("Name: value\r\n"...) may be NULL; the
 * response body (heap, NUL-terminated) and its length are returned. */
int wsc_http_request(const char *host, int port, bool tls, const char *method, const char *path,
                     const char *extra_headers, const void *body, size_t body_len, char **resp,
                     size_t *resp_len);

#endif
