/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What transport.c shares with blob.c: the transport's state and an HTTP
 * session. Not an interface for anything else.
 */
#ifndef VL_SERVER_TRANSPORT_INT_H
#define VL_SERVER_TRANSPORT_INT_H

#include <libwebsockets.h>

#include "crypto/crypto.h"
#include "server/transport.h"

#define VL_BLOB_CHALLENGES      4096 /* outstanding upload challenges */
#define VL_BLOB_CHALLENGE_TTL_S 120

struct blob_challenge {
	uint8_t bytes[VL_PROTO_CHALLENGE_LEN];
	uint64_t expires; /* monotonic seconds; 0: free */
};

struct ws_sess;

struct vl_transport {
	struct lws_context *ctx;
	struct lws_vhost *vhost;
	struct vl_core *core;
	const struct vl_server_config *cfg;
	bool accepting;
	bool closing; /* lws_context_destroy has been called once */
	/* WebSocket sessions with frames to write at the end of this loop
	 * turn (transport.c, invariant 2), and the handles that write them. */
	struct ws_sess *dirty;
	uv_check_t flush_check;
	uv_prepare_t flush_prepare;
	char blob_dir[VL_CONFIG_PATH_MAX + 16];
	struct blob_challenge *challenges;
	size_t next_challenge;
};

struct blob_upload;

/* One HTTP request: a reply body being written, or an upload. */
struct http_sess {
	char *body;
	size_t len, sent;
	bool close_after; /* close the connection once the reply is out */
	struct blob_upload *up;
};

/* Queues an HTTP reply (takes body, a heap buffer). */
int vl_http_reply(struct lws *wsi, struct http_sess *h, unsigned status, const char *type,
                  char *body, size_t len);

/* blob.c (docs/protocol.md §7). */
int vl_blob_init(struct vl_transport *t);
void vl_blob_cleanup(struct vl_transport *t);
int vl_blob_on_http(struct lws *wsi, struct vl_transport *t, struct http_sess *h, const char *uri);
int vl_blob_on_body(struct lws *wsi, struct vl_transport *t, struct http_sess *h, const void *in,
                    size_t len);
int vl_blob_on_body_done(struct lws *wsi, struct vl_transport *t, struct http_sess *h);
void vl_blob_on_closed(struct http_sess *h);

#endif
