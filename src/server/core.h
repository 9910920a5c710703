/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The socket-free heart of valised: connections as state machines fed
 * with frames, the request handlers (one file per request type,
 * handle_*.c), delivery to connected devices, rate limits and metrics. A
 * transport (transport.c: WebSocket on libuv) or a test or fuzz
 * driver feeds it bytes and gives it a way to send and close; nothing here
 * touches a socket.
 *
 * Connection lifecycle:
 *
 *   open --vl_core_conn_open--> CHALLENGED --REGISTER/AUTH ok--> AUTHED
 *     CHALLENGED|AUTHED --vl_core_conn_closed (peer gone)--> gone
 *     AUTHED --revoked / replaced / drain / too_slow--> CLOSING --> gone
 *
 * Invariants:
 *  1. Every request gets exactly one reply (its type | 0x80, or ERROR)
 *     unless the connection is gone; a reply that depends on a write is
 *     sent only after the store reports that write durable.
 *  2. A connection's pushes (DELIVER) leave in increasing seq order and
 *     never skip an entry of the device's queue: a message is pushed live
 *     only when the connection has caught up with its queue; otherwise it
 *     waits in the queue and the connection fetches it (pump).
 *  3. At most `window` pushes, and `window_bytes` octets of them, are
 *     unacknowledged per connection (a single larger message goes alone);
 *     beyond that, messages wait in the durable queue, not in memory.
 *  4. A connection is freed only when the transport has reported it gone
 *     and no store job refers to it (reference count).
 *  5. Store jobs run on the executor thread (vl_core_new with an executor)
 *     or inline (no executor: tests and fuzzers); their completion always
 *     runs on the core's thread.
 */
#ifndef VL_SERVER_CORE_H
#define VL_SERVER_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "proto/proto.h"
#include "server/store/store.h"

struct vl_core_config {
	const char *server_name; /* domain in CHALLENGE and AuthTBS */
	size_t max_frame;
	unsigned max_devices;
	double rate;            /* requests per second per connection */
	double burst;           /* token bucket size */
	unsigned window;        /* unacknowledged pushes per connection */
	size_t window_bytes;    /* ... and their octets */
	unsigned kp_low;        /* KP_LOW below this many ordinary packages */
	unsigned max_malformed; /* malformed frames before closing */
	uint64_t invite_ttl;    /* seconds an invite stays valid */
};
/* Fills the documented defaults (docs/protocol.md §6). */
void vl_core_config_defaults(struct vl_core_config *cfg);

/* What a transport does for a connection. */
struct vl_conn_ops {
	/* Queues one frame for sending (copies it). Returns false if the
	 * connection's send buffer is full: the core then closes it. */
	bool (*send)(void *tctx, const uint8_t *frame, size_t len);
	/* Closes the connection after the queued frames are written. The
	 * transport later calls vl_core_conn_closed. */
	void (*close)(void *tctx);
};

struct vl_core;
struct vl_conn;

/* Counters for /metrics. */
struct vl_core_metrics {
	uint64_t conns_open, conns_total, conns_authed;
	uint64_t frames_in, frames_out, bytes_in, bytes_out;
	uint64_t malformed, unknown_type, too_large, bad_version;
	uint64_t assembly_refused; /* connections closed: assembly_budget full */
	uint64_t addr_refused;     /* connections refused: max_conns_per_addr */
	uint64_t slow_transfers;   /* heads, bodies, downloads, messages too slow */
	uint64_t conns_shed;       /* connections reset to keep output within send_budget */
	uint64_t send_held;        /* bytes held for sending, all connections (gauge) */
	uint64_t errors_sent[32];  /* by protocol error code */
	uint64_t requests[256];    /* by frame type */
	uint64_t auth_ok, auth_failed, registered, revoked;
	uint64_t rate_limited;
	uint64_t queued, pushed_live, pushed_fetched, acks;
	uint64_t commits_ok, commits_stale, sends_ok, sends_stale, duplicates;
	uint64_t kp_uploaded, kp_rejected, kp_claimed;
	/* Blob uploads (blob.c): stored, refused, requests that went on with
	 * a resumable upload, resumable uploads held unfinished (a gauge) and
	 * dropped as stale. */
	uint64_t blobs_stored, blobs_refused, blob_resumes, blob_unfinished, blob_expired;
	uint64_t blobs_retired; /* blob records dropped after blob_ttl */
	uint64_t jobs_submitted, jobs_completed, jobs_inflight;
	/* Latency stages of store jobs run by an executor (the executor's
	 * own stages are in its stats): request decoded -> submitted;
	 * durable -> its completion turn started on the core's thread;
	 * turn started -> this job's reply and pushes handed to the
	 * transport; decoded -> reply and pushes handed over, for jobs that
	 * delivered something (SEND, COMMIT) and for all. */
	struct vl_store_hist lat_submit, lat_handoff, lat_complete, lat_total_deliver, lat_total;
	uint64_t completion_turns; /* vl_core_run_completions calls with work */
};

/* Clock in milliseconds (monotonic for rate limits) and seconds (wall,
 * for records); replaceable for tests and fuzzing. */
struct vl_core_clock {
	uint64_t (*mono_ms)(void *ctx);
	uint64_t (*wall_s)(void *ctx);
	void *ctx;
};

/* Creates a core over an open store. exec may be NULL: jobs then run
 * inline on the caller's thread. wake, if not NULL, is called from the
 * executor thread when completions wait (the caller then runs
 * vl_core_run_completions on the core's thread). clock NULL: system
 * clocks. */
VL_MUST_CHECK int vl_core_new(const struct vl_core_config *cfg, struct vl_store *st,
                              struct vl_store_exec *exec, void (*wake)(void *ctx), void *wake_ctx,
                              const struct vl_core_clock *clock, struct vl_core **out);
/* Frees the core; every connection must be gone and every job done. */
void vl_core_free(struct vl_core *core);
/* Runs the completions of finished store jobs (core's thread). */
void vl_core_run_completions(struct vl_core *core);
/* Jobs submitted and not yet completed. */
size_t vl_core_jobs_inflight(struct vl_core *core);
const struct vl_core_metrics *vl_core_metrics(struct vl_core *core);
struct vl_store *vl_core_store(struct vl_core *core);
/* The executor given to vl_core_new, or NULL. */
struct vl_store_exec *vl_core_exec(struct vl_core *core);
/* Number of open connections. */
size_t vl_core_conn_count(struct vl_core *core);

/* Starts draining: every connection gets CLOSING shutting_down and is
 * closed once its in-flight requests are answered; new requests get
 * ERROR internal ("shutting down"). */
void vl_core_drain(struct vl_core *core);
bool vl_core_draining(struct vl_core *core);

/* A new connection: sends CHALLENGE. Returns NULL if out of memory (the
 * transport then closes the socket). peer is for logs (not kept). */
struct vl_conn *vl_core_conn_open(struct vl_core *core, const struct vl_conn_ops *ops, void *tctx,
                                  const char *peer);
/* One received WebSocket binary message (len may exceed max_frame: it is
 * answered with ERROR too_large). The bytes are only read during the call. */
void vl_core_conn_input(struct vl_conn *c, const uint8_t *buf, size_t len);
/* A text message, or a message the transport could not assemble (too
 * large): answered with ERROR code for request_id (0 if unknown) and
 * counted as malformed. */
void vl_core_conn_input_bad(struct vl_conn *c, uint32_t request_id, unsigned code,
                            const char *detail);
/* The transport has lost the connection: no more ops calls for it. */
void vl_core_conn_closed(struct vl_conn *c);

/* --- for handlers (handle_*.c) and the core only ------------------------ */

/* A job: a store operation run off the core's thread, completed on it. */
struct vl_core_job;
typedef int (*vl_core_job_run_fn)(struct vl_store *st, struct vl_core_job *job);
typedef void (*vl_core_job_complete_fn)(struct vl_core_job *job);

/* A fan-out entry created by a job: recipient, seq, kind. */
struct vl_core_queued {
	int64_t device_id;
	uint64_t seq;
	uint8_t kind;
};

struct vl_core_job {
	struct vl_store_job sj; /* first */
	struct vl_core *core;
	struct vl_conn *conn; /* referenced while the job lives; may be gone */
	uint32_t request_id;
	vl_core_job_run_fn run;
	vl_core_job_complete_fn complete;
	struct vl_core_job *next_done;
	/* Fan-out collected by the job (vl_core_job_queued). */
	struct vl_core_queued *queued;
	size_t n_queued, cap_queued;
	bool queued_nomem;
	/* A copy of the request frame the handler decoded from. */
	uint8_t *frame;
	size_t frame_len;
	void *data;     /* handler's state */
	uint64_t t_new; /* vl_store_mono_ns at creation (latency metrics) */
};

/* Allocates a job of `size` bytes (>= sizeof struct vl_core_job; handlers
 * embed the job first in their own struct) holding a copy of buf. NULL if
 * out of memory. */
struct vl_core_job *vl_core_job_new(struct vl_conn *c, size_t size, uint32_t request_id,
                                    const uint8_t *buf, size_t len, vl_core_job_run_fn run,
                                    vl_core_job_complete_fn complete);
/* A job that belongs to no WebSocket connection (HTTP blob uploads). */
struct vl_core_job *vl_core_job_new_raw(struct vl_core *core, size_t size, vl_core_job_run_fn run,
                                        vl_core_job_complete_fn complete);
/* What an operator's revocation did. */
struct vl_core_revoked {
	int64_t *ids; /* the devices revoked now (heap, n of them; free()) */
	size_t n;
	size_t already;   /* devices that were revoked before */
	unsigned invites; /* unused invites cancelled (a whole user) */
};
/* The operator's revocation, from the store alone: device `name` of
 * `user`, or with name NULL every device of the user and its unused
 * invites (someone leaving the organisation). VL_ERR_NOT_FOUND: no such
 * device, or a user with neither devices nor invites. `valised admin
 * revoke` calls it when no server runs. On an error *r holds what was
 * revoked before it; r->ids is the caller's to free either way. */
VL_MUST_CHECK int vl_core_revoke_named(struct vl_store *st, const char *user, const char *name,
                                       struct vl_core_revoked *r);
/* The same on a running server, as a store job (name NULL: the whole
 * user): once it is durable the connections of the devices revoked are
 * closed with `revoked` and done(ctx, status, r) runs on the core's
 * thread (r->ids is freed after). VL_ERR_ARG if a name is too long,
 * VL_ERR_NOMEM; otherwise done reports. */
typedef void (*vl_core_admin_done_fn)(void *ctx, int status, const struct vl_core_revoked *r);
/* What a revocation did, for the operator: one device ("revoked",
 * "already revoked") or a whole user ("revoked N devices (M before),
 * cancelled K invites"). */
void vl_core_revoked_text(const struct vl_core_revoked *r, bool whole_user, char *out, size_t cap);
VL_MUST_CHECK int vl_core_admin_revoke(struct vl_core *core, const char *user, const char *name,
                                       vl_core_admin_done_fn done, void *ctx);
/* Submits (or runs inline); the job is freed after its completion. */
void vl_core_job_submit(struct vl_core_job *job);
/* vl_store_queued_fn that records into the job. */
void vl_core_job_queued(void *job, int64_t device_id, uint64_t seq, uint8_t kind);

/* Live delivery of a job's fan-out: for each queued entry whose device is
 * connected, push it (message bytes by kind: msgs[kind]) or let it wait. */
void vl_core_deliver(struct vl_core *core, const struct vl_core_job *job,
                     const struct vl_bytes *gid, const struct vl_conn *sender,
                     const struct vl_bytes msgs[4]);

/* Connection accessors. */
bool vl_conn_alive(const struct vl_conn *c);
bool vl_conn_authed(const struct vl_conn *c);
const struct vl_store_device *vl_conn_device(const struct vl_conn *c);
const uint8_t *vl_conn_challenge(const struct vl_conn *c);
struct vl_core *vl_conn_core(const struct vl_conn *c);
uint64_t vl_conn_id(const struct vl_conn *c);
/* Marks c authenticated as d: replaces any other connection of the same
 * device (closed with CLOSING replaced), starts delivery after acked. */
void vl_conn_set_authed(struct vl_conn *c, const struct vl_store_device *d);
/* The connection of a device, or NULL. */
struct vl_conn *vl_core_conn_of(struct vl_core *core, int64_t device_id);
/* Sends CLOSING code and closes. */
void vl_conn_close_with(struct vl_conn *c, unsigned code);
/* Handles an ACK for pushes up to seq (after it is durable). */
void vl_conn_acked(struct vl_conn *c, uint64_t seq);
/* Sends a prepared frame from a writer (reset afterwards). */
void vl_conn_send_writer(struct vl_conn *c, struct vl_writer *w);
/* Sends ERROR code with a short detail. */
void vl_conn_error(struct vl_conn *c, uint32_t request_id, unsigned code, const char *detail);
/* Sends an empty reply to request type `type`. */
void vl_conn_reply_empty(struct vl_conn *c, uint8_t type, uint32_t request_id);
/* Answers a body that did not decode (rc from a vl_msg_*_decode): counted
 * as malformed (VL_ERR_DECODE), or ERROR limit / invalid. */
void vl_conn_bad_body(struct vl_conn *c, uint32_t request_id, int rc);
/* While a REGISTER or AUTH is in flight no other may start. */
void vl_conn_set_auth_pending(struct vl_conn *c, bool pending);
/* Pushes KP_LOW with the device's stock. */
void vl_conn_push_kp_low(struct vl_conn *c, uint32_t stock);
/* Maps a store status to a protocol error code. */
unsigned vl_core_error_of(int status);
/* A commit or send of c's was for a later epoch than the store has for its
 * group (VL_ERR_EPOCH_AHEAD): logs it, for the operator, and returns the
 * ERROR detail that tells the client why. */
const char *vl_core_epoch_ahead(const struct vl_conn *c, const char *request);
/* Seconds since the Unix epoch by the core's clock. */
uint64_t vl_core_now(struct vl_core *core);
const struct vl_core_config *vl_core_config(struct vl_core *core);
struct vl_core_metrics *vl_core_metrics_mut(struct vl_core *core);

/* Handlers: each decodes its body from f (whose bytes are valid only
 * during the call) and replies, now or from a job. */
void vl_handle_register(struct vl_conn *c, const struct vl_frame *f);
void vl_handle_auth(struct vl_conn *c, const struct vl_frame *f);
void vl_handle_device_list(struct vl_conn *c, const struct vl_frame *f);
void vl_handle_device_revoke(struct vl_conn *c, const struct vl_frame *f);
void vl_handle_device_invite(struct vl_conn *c, const struct vl_frame *f);
void vl_handle_kp_upload(struct vl_conn *c, const struct vl_frame *f);
void vl_handle_kp_claim(struct vl_conn *c, const struct vl_frame *f);
void vl_handle_group_create(struct vl_conn *c, const struct vl_frame *f);
void vl_handle_commit(struct vl_conn *c, const struct vl_frame *f);
void vl_handle_send(struct vl_conn *c, const struct vl_frame *f);
void vl_handle_ack(struct vl_conn *c, const struct vl_frame *f);
void vl_handle_ping(struct vl_conn *c, const struct vl_frame *f);

/* Checks an uploaded KeyPackage (an MLSMessage) against the uploading
 * device (docs/protocol.md §4.3). VL_OK or VL_ERR_INVALID. */
VL_MUST_CHECK int vl_server_kp_check(const struct vl_store_device *dev, const uint8_t *kp,
                                     size_t len, uint64_t now);

/* The ProposalRef (RFC 9420 §5.2) of msg, a PublicMessage proposal from a
 * sender of type member, made with the hash of cipher suite `suite` (the
 * sending device's, which is its groups'), into ref[*ref_len]. VL_OK, or
 * VL_ERR_INVALID for anything else. */
VL_MUST_CHECK int vl_server_proposal_ref(uint16_t suite, const uint8_t *msg, size_t len,
                                         uint8_t ref[VL_HASH_MAX], size_t *ref_len);

/* Invite codes: a fresh human-typable code (XXXX-XXXX-XXXX-XXXX, 20
 * chars + NUL) and the store key of a code (SHA-256 of it). */
VL_MUST_CHECK int vl_core_invite_code(char out[20]);
VL_MUST_CHECK int vl_core_invite_key(const uint8_t *code, size_t len, uint8_t key[32]);

#endif
