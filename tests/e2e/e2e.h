/* SPDX-License-Identifier: Apache-2.0 */
/*
 * End-to-end test support: starts the real valised (path given as the
 * test's first argument) on an ephemeral loopback port with its own data
 * folder, issues invites with `valised admin invite`, and plays devices
 * over real WebSocket connections (tests/common/wsc.h) with the protocol
 * test client (tests/common/vtc.h).
 */
#ifndef VL_E2E_H
#define VL_E2E_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/proto.h"
#include "wire/hex.h"
#include "vtc.h"
#include "wsc.h"

struct srv {
	const char *exe;
	char dir[128];
	pid_t pid;
	int port;
	bool tls;
	const char *extra[8]; /* more "--set" values, NULL-terminated */
};

/* Creates a data folder and starts valised; 0 or -1. */
int srv_start(struct srv *s, const char *exe, bool tls);
/* Starts again on the same data folder (after srv_kill9 / srv_stop). */
int srv_restart(struct srv *s);
/* SIGKILL, no cleanup. */
void srv_kill9(struct srv *s);
/* SIGTERM and wait; returns the exit status (-1 if it did not exit in
 * timeout_ms). */
int srv_stop(struct srv *s, int timeout_ms);
/* Removes the data folder. */
void srv_cleanup(struct srv *s);
/* A fresh invite code for user (admin CLI); heap string or NULL. */
char *srv_invite(struct srv *s, const char *user);
/* A counter or gauge from the server's /metrics, or -1 (absent, or the
 * request failed). */
long srv_metric(const struct srv *s, const char *name);
/* srv_metric until it is want or timeout_ms have passed; its last value. */
long srv_metric_wait(const struct srv *s, const char *name, long want, int timeout_ms);

/* A received frame kept whole. */
struct rframe {
	uint8_t *buf;
	size_t len;
	struct vl_frame f;
};

struct cli {
	struct wsc ws;
	struct vtc_device dev;
	struct vtc_challenge ch;
	uint32_t next_id;
	struct rframe backlog[256];
	size_t n_backlog;
};

/* Opens a connection and reads its CHALLENGE; 0 or -1. */
int cli_open(struct cli *c, struct srv *s);
void cli_close(struct cli *c);
/* Sends the writer's frame (and cleans it up); 0 or -1. */
int cli_send_writer(struct cli *c, struct vl_writer *w);
/* Next frame of a type (any id if id == UINT32_MAX), from the backlog or
 * the socket, within timeout_ms; other frames are kept for later. 1 if
 * found (caller frees out->buf with rframe_free), 0 if the connection
 * closed, -1 on timeout. */
int cli_wait(struct cli *c, uint8_t type, uint32_t id, int timeout_ms, struct rframe *out);
/* Waits for the server's CLOSING; returns its code, or -1 if none came
 * (or it did not decode). */
int cli_closing_code(struct cli *c, int timeout_ms);
/* The reply to request id: its OK type or ERROR. Returns the frame type
 * (with *code the error code for ERROR) or -1. */
int cli_reply(struct cli *c, uint32_t id, uint16_t *code, struct rframe *out, int timeout_ms);
void rframe_free(struct rframe *r);

/* Registers c->dev (set up by the caller) with an invite; returns the
 * REGISTER reply type or -1 (code set on ERROR). */
int cli_register(struct cli *c, const char *invite, uint16_t *code);
int cli_auth(struct cli *c, uint16_t *code);

/* A whole device: key pair, invite, connection, REGISTER. 0 or -1. */
int cli_new_device(struct cli *c, struct srv *s, const char *user, const char *name,
                   uint16_t suite);
/* n devices c[0..n) of the users PREFIX1@example.org .. PREFIXn@example.org
 * (one `admin invites` for them all), each connected and registered. */
int cli_new_devices(struct cli *c, size_t n, struct srv *s, const char *prefix);

/* The X-Valise-* authentication headers of one blob upload request of
 * d's (docs/protocol.md §7), over a fresh challenge (or reuse_challenge),
 * into headers; the challenge used into challenge_out if not NULL; the
 * signature spoilt if corrupt_sig. 0, or -1 if no challenge came. */
int blob_auth_headers(struct srv *s, const struct vtc_device *d, bool corrupt_sig,
                      char *challenge_out, const char *reuse_challenge, char *headers, size_t cap);

#endif
