/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What transport.c shares with blob.c: the transport's state and the HTTP
 * exchange of one connection. Not an interface for anything else.
 */
#ifndef VL_SERVER_TRANSPORT_INT_H
#define VL_SERVER_TRANSPORT_INT_H

#include <pthread.h>

#include "crypto/crypto.h"
#include "server/http1.h"
#include "server/transport.h"

#define VL_BLOB_CHALLENGES      4096 /* outstanding upload challenges */
#define VL_BLOB_CHALLENGE_TTL_S 120
/* Resumable uploads cut short, kept for their device to finish
 * (docs/protocol.md §7; for upload_ttl seconds after their last octet): at
 * most this many per device and on the whole server. */
#define VL_BLOB_PARTIALS_PER_DEVICE 4
#define VL_BLOB_PARTIALS_MAX        1024

struct blob_challenge {
	uint8_t bytes[VL_PROTO_CHALLENGE_LEN];
	uint64_t expires; /* monotonic seconds; 0: free */
};

struct tconn;
struct blob_part;
struct vl_tls13_ctx;
struct addr_count;
struct io_uring;

struct vl_transport {
	uv_loop_t *loop;
	uv_tcp_t listener;
	uv_timer_t sweep;       /* connection deadlines, once a second */
	uv_check_t flush_check; /* the end-of-turn flush (transport.c) */
	uv_prepare_t flush_prepare;
	struct vl_core *core;
	const struct vl_server_config *cfg;
	struct vl_tls13_ctx *tls;             /* NULL: plain (loopback only) */
	struct tconn *conns;                  /* every open connection */
	struct tconn *dirty;                  /* connections with bytes to write this turn */
	struct tconn *hs_wait, *hs_wait_tail; /* waiting for a handshake slot */
	size_t n_hs;                          /* handshakes in progress */
	size_t n_dirty;
	size_t n_conns;
	size_t rx_held;            /* bytes held for WebSocket messages still arriving */
	size_t out_held;           /* bytes held for sending, all connections (atomic) */
	struct addr_count **addrs; /* connections per client address (transport.c) */
	struct io_uring *ring;     /* the loop's sends (flush_many); NULL: send() */
	/* The flusher thread (transport.c, flush_many). */
	pthread_t flusher;
	pthread_mutex_t fl_mu;
	pthread_cond_t fl_cv, fl_done;
	struct flush_job *fl_jobs;
	size_t fl_cap, fl_n, fl_split;
	bool fl_started, fl_go, fl_stop;
	int port;
	bool accepting;
	bool closing;
	char blob_dir[VL_CONFIG_PATH_MAX + 16];
	struct blob_challenge *challenges;
	size_t next_challenge;
	struct blob_part *partials; /* resumable uploads (blob.c) */
	size_t n_partials;
	uint64_t retire_next;  /* monotonic seconds: the next retention pass */
	uint64_t store_faults; /* storage failures already logged (on_sweep) */
	bool retire_running;   /* a retention job is with the store */
	/* Every read lands here and is handled before the next one: an idle
	 * connection holds no input buffer of its own. */
	uint8_t rbuf[64 * 1024];
};

struct blob_upload;

/* One connection's HTTP exchange (before a WebSocket upgrade, or for the
 * whole of a plain HTTP connection). */
struct http_sess {
	struct tconn *c;
	char *head; /* the request head while it arrives */
	size_t head_len;
	uint64_t body_left; /* request body bytes still to come */
	uint64_t moved;     /* octets of a transfer in this window (transfer_moved) */
	bool responding;    /* a reply is queued: input waits for it */
	bool close_after;   /* close the connection once the reply is out */
	bool head_only;     /* a HEAD request: the reply's head, no body */
	int file_fd;        /* a download being sent, or -1 */
	bool slow;          /* its socket has been full: smaller pieces (file_pump) */
	uint64_t file_left;
	struct blob_upload *up;
};

/* Queues a reply: status line, headers, then body (a heap buffer this
 * takes, or NULL with len 0). Returns 0, or -1 if the connection is to be
 * closed at once. */
int vl_http_reply(struct http_sess *h, unsigned status, const char *type, char *body, size_t len);
/* The same with extra header lines ("Name: value\r\n"...), or NULL. */
int vl_http_reply_extra(struct http_sess *h, unsigned status, const char *type, char *body,
                        size_t len, const char *extra);
/* Queues a reply with the file at path as its body, streamed: the whole
 * file (200, with Accept-Ranges), or the one range the request's Range
 * header asks for (206 with Content-Range; 416 if it selects nothing).
 * req may be NULL. -1 if the file cannot be opened. */
int vl_http_reply_file(struct http_sess *h, const char *path, const char *type,
                       const struct vl_http_req *req);
/* Stops (true) or resumes reading the connection's socket. */
void vl_http_pause(struct http_sess *h, bool paused);
/* Closes the connection at once (outside a callback that could return
 * -1 instead). */
void vl_http_abort(struct http_sess *h);

/* blob.c (docs/protocol.md §7). path: the request target without its
 * query. Each returns 0, or -1 to close the connection. */
int vl_blob_init(struct vl_transport *t);
void vl_blob_cleanup(struct vl_transport *t);
int vl_blob_on_http(struct vl_transport *t, struct http_sess *h, const struct vl_http_req *req,
                    const char *path);
int vl_blob_on_body(struct vl_transport *t, struct http_sess *h, const uint8_t *in, size_t len);
int vl_blob_on_body_done(struct vl_transport *t, struct http_sess *h);
void vl_blob_on_closed(struct http_sess *h);
/* Drops resumable uploads idle past upload_ttl and, with blob_ttl, starts
 * a retention pass when one is due (once a second, from the transport's
 * sweep). */
void vl_blob_sweep(struct vl_transport *t);

#endif
