/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The network side of valised: one port serving WebSocket (subprotocol
 * valise.v1, binary messages, one frame each) and plain HTTP (/healthz,
 * /metrics), over TLS 1.3, or in the clear on a loopback address only.
 * Runs on the caller's libuv loop (transport.c: TLS via tls13.c, HTTP/1.1
 * and WebSocket via http1.c and ws.c); every WebSocket connection is
 * handed to the server core.
 */
#ifndef VL_SERVER_TRANSPORT_H
#define VL_SERVER_TRANSPORT_H

#include <uv.h>

#include "server/config.h"
#include "server/core.h"

struct vl_transport;

/* Starts listening on cfg->listen_host:cfg->port (0: an ephemeral port).
 * VL_ERR_INVALID if TLS is off on an address that is not loopback;
 * VL_ERR_IO if the TLS certificate or key cannot be read, VL_ERR_CRYPTO if
 * they are not a usable pair; VL_ERR_NET if the address cannot be listened
 * on. */
VL_MUST_CHECK int vl_transport_new(uv_loop_t *loop, const struct vl_server_config *cfg,
                                   struct vl_core *core, struct vl_transport **out);
/* The port actually listened on. */
int vl_transport_port(const struct vl_transport *t);
/* Whether the loop's sends go through io_uring (cfg io_uring, and the
 * kernel allowed it). */
bool vl_transport_io_uring(const struct vl_transport *t);
/* From now on new connections are refused and /healthz answers 503. */
/* Writes every connection with output now, instead of at the end of the
 * loop turn (main.c does after each batch of store completions). */
void vl_transport_flush(struct vl_transport *t);
void vl_transport_stop_accepting(struct vl_transport *t);
/* Closes every connection and the listener; the loop
 * must then run until its handles are closed, and vl_transport_free be
 * called after it. Accepts NULL. */
void vl_transport_close(struct vl_transport *t);
/* Finishes the teardown (after the loop has run) and frees. Accepts NULL. */
void vl_transport_free(struct vl_transport *t);

/* Prometheus text of the core's metrics, the store's counters and, with
 * data_dir, the sizes of its files and the space left there, into a heap
 * string (free()). */
char *vl_server_metrics_text(struct vl_core *core, const char *data_dir, size_t *len);

#endif
