/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The operator's channel to a running valised (docs/operations.md): a Unix
 * socket, DATA/admin.sock, mode 0600 in a folder of mode 0700, so only the
 * account that runs valised (or root) can use it. One request per
 * connection, one line each way:
 *
 *   revoke USER@DOMAIN#DEVICE\n  ->  ok revoked\n | ok already revoked\n |
 *                                    error TEXT\n
 *
 * `valised admin revoke` sends it; when no server listens it does the same
 * on the store itself.
 */
#ifndef VL_SERVER_ADMIN_H
#define VL_SERVER_ADMIN_H

#include <stddef.h>

#include <uv.h>

#include "server/core.h"

/* Longest request line, its newline included. */
#define VL_ADMIN_LINE_MAX 384

struct vl_admin;

/* Listens on path (a stale socket file is replaced). VL_OK, VL_ERR_ARG if
 * the path is too long for a socket address, VL_ERR_IO. */
VL_MUST_CHECK int vl_admin_listen(uv_loop_t *loop, struct vl_core *core, const char *path,
                                  struct vl_admin **out);
/* Stops listening, closes the connections and removes the socket file;
 * the loop must then run for the handles to close. Requests still in the
 * store complete without an answer. */
void vl_admin_close(struct vl_admin *a);
/* After the loop has run past vl_admin_close (and after the last
 * completions). Accepts NULL. */
void vl_admin_free(struct vl_admin *a);

/* Client side: sends line (with its newline) to the server on path and
 * reads the answer line into reply (NUL-terminated, newline removed).
 * VL_OK, VL_ERR_NOT_FOUND if no server listens there, VL_ERR_NET,
 * VL_ERR_TIMEOUT (no answer within timeout_ms). */
VL_MUST_CHECK int vl_admin_request(const char *path, const char *line, char *reply, size_t cap,
                                   int timeout_ms);

#endif
