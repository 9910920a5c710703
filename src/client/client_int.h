/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals of libvalise shared by its files: the client object, the
 * request/reply machinery over the connection (client.c), conversations
 * and the processing of deliveries (conv.c), message records and content
 * (msg.c), attachments (attach.c), contacts and safety numbers
 * (contacts.c). See docs/internals/client.md.
 */
#ifndef VL_CLIENT_INT_H
#define VL_CLIENT_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/net.h"
#include "client/store.h"
#include "crypto/crypto.h"
#include "proto/proto.h"
#include "valise/client.h"
#include "valise/content.h"
#include "valise/mls.h"
#include "wire/hex.h"

#define CL_SUITE         1 /* MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 */
#define CL_GROUP_ID_LEN  32
#define CL_IDENTITY_MAX  (VL_CLIENT_ADDRESS_MAX + 1 + VL_CLIENT_DEVICE_MAX)
#define CL_KP_TARGET     20
#define CL_TIMEOUT_MS    15000
#define CL_EVENTS_MAX    100000 /* queued events kept before the oldest go */
#define CL_PUSH_MAX      4096   /* pushes kept while a request waits */
#define CL_RECORD_MAX    ((size_t)1 << 20)
#define CL_PREV_EPOCH_MS (5 * 60 * 1000)

/* Content types of Valise's control parts (inside MIMI content). */
#define CL_TYPE_RECEIPT "application/vnd.valise.receipt"
#define CL_TYPE_TYPING  "application/vnd.valise.typing"
#define CL_TYPE_META    "application/vnd.valise.group-meta"
#define CL_TYPE_LEAVE   "application/vnd.valise.leave"

/* One conversation as held in memory; its persistent part (kind, name,
 * admins, counters) is the sealed secret "conv/<hex id>", its MLS state is
 * in the store's groups table. */
struct cl_conv {
	uint8_t gid[VL_PROTO_GROUP_ID_MAX];
	size_t gid_len;
	char id[VL_CLIENT_ID_MAX + 1];
	struct vl_group *g; /* NULL once inactive */
	/* The previous epoch, kept in memory for CL_PREV_EPOCH_MS after a
	 * commit to read messages sent in it before their sender saw the
	 * commit (RFC 9420 §14 allows keeping past epochs for a bounded
	 * time). Never stored, never used to send. */
	struct vl_group *prev;
	uint64_t prev_until_ms;
	uint8_t kind; /* enum vl_conv_kind */
	char *name;
	char **admins;
	size_t n_admins;
	bool has_meta;                        /* meta received from the group (or we created it) */
	char peer[VL_CLIENT_ADDRESS_MAX + 1]; /* direct conversations */
	uint64_t last_ms;
	uint32_t unread;
	bool active;
	/* Users who asked to leave (CL_TYPE_LEAVE), removed by this device
	 * after the current batch of deliveries when it is the designated
	 * committer (conv.c). */
	char **leavers;
	size_t n_leavers;
	/* Received message ids awaiting a delivery receipt (32 octets each). */
	uint8_t *rcpt;
	size_t n_rcpt;
	struct cl_conv *next;
};

struct cl_push {
	uint8_t *buf;
	size_t len;
};

struct vl_client {
	struct vl_client_store *st;
	char address[VL_CLIENT_ADDRESS_MAX + 1];
	char device[VL_CLIENT_DEVICE_MAX + 1];
	char identity[CL_IDENTITY_MAX + 1];
	char url[300];
	struct cl_url u;
	char *ca_file;
	struct cl_tls_opts tls;
	int timeout_ms;
	uint32_t kp_target;
	uint16_t suite;
	const struct vl_suite *s;
	uint8_t sig_priv[VL_SIG_PRIV_MAX];
	uint8_t sig_pub[VL_SIG_PUB_MAX];
	size_t sig_pub_len;

	struct cl_net net;
	bool connected;
	uint8_t challenge[VL_PROTO_CHALLENGE_LEN];
	char server_name[VL_PROTO_SERVER_NAME_MAX + 1];
	uint32_t next_id;
	uint64_t seq_done;  /* last delivery processed (persisted) */
	uint64_t seq_acked; /* last ACK sent on this connection */
	uint32_t kp_stock;  /* server's count of our KeyPackages */
	bool kp_low;        /* a KP_LOW push asks for more */
	/* Set around sends that need no answer (receipts, typing): the SEND
	 * goes out and its reply is dropped when it comes, so the caller does
	 * not wait for the server's durable write. */
	bool nowait;

	struct cl_push *pushq;
	size_t push_head, n_push, cap_push;

	struct vl_event *evq;
	size_t ev_head, n_ev, cap_ev;
	vl_event_fn cb;
	void *cb_ctx;
	bool in_cb, in_poll;

	struct cl_conv *convs;
	char err[256];
};

/* Counters read by bench/bench_client.c (what a send costs): MLS
 * application encryptions, SEND frames, attachment encryptions and blob
 * uploads made by this process. */
extern unsigned long cl_stat_encryptions, cl_stat_sends;
extern unsigned long cl_attach_encryptions, cl_attach_uploads;
/* Test hook (tests/e2e): the next commit's frame is sent and the call then
 * fails as if the process had died before the answer came. */
extern bool cl_test_crash_after_commit_send;
/* Test hook (tests/e2e): the next message is encrypted without first
 * processing what the server has pushed, as when another member's commit
 * is accepted between that step and the message's arrival. */
extern bool cl_test_send_without_drain;

/* --- client.c -------------------------------------------------------- */
/* Sets c->err (printf-style) and returns rc. */
int cl_fail(struct vl_client *c, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
uint64_t cl_now_ms(void);
/* A fresh request id. */
uint32_t cl_next_id(struct vl_client *c);
/* Sends the frame in w (cleaned up) and waits for the reply to id: its
 * body copied into *body (heap, free()) when wanted. Pushes that arrive
 * meanwhile are queued for processing. An ERROR reply is mapped to a
 * status (stale_epoch -> VL_ERR_STALE_EPOCH, forbidden -> PERMISSION,
 * not_found, exists, rate_limited -> AGAIN, limit/too_large -> LIMIT,
 * invalid, invalid_invite/auth_failed -> AUTH, others -> PROTOCOL). */
VL_MUST_CHECK int cl_request(struct vl_client *c, struct vl_writer *w, uint32_t id, uint8_t **body,
                             size_t *body_len);
/* Queues an event (takes ownership of what ev points to). */
void cl_event_push(struct vl_client *c, struct vl_event *ev);
/* Processes queued pushes (deliveries, KP_LOW, CLOSING). */
VL_MUST_CHECK int cl_process_pushes(struct vl_client *c);
/* Reads one frame from the network within timeout_ms and queues it (or
 * drops a stray reply). VL_OK, VL_ERR_TIMEOUT, VL_ERR_NET. */
VL_MUST_CHECK int cl_read_one(struct vl_client *c, int timeout_ms);
/* Identity "user@domain#device" split into its parts. */
bool cl_split_identity(const uint8_t *id, size_t len, char user[VL_CLIENT_ADDRESS_MAX + 1],
                       char dev[VL_CLIENT_DEVICE_MAX + 1]);
/* Parses hex of at most max octets; true on success. */
bool cl_unhex(const char *hex, uint8_t *out, size_t max, size_t *len);
/* KeyPackages: upload up to target (+ a last-resort package). */
VL_MUST_CHECK int cl_kp_replenish(struct vl_client *c, uint32_t target, uint32_t *uploaded);
/* Claims KeyPackages of user; learns the device keys. */
struct cl_claimed {
	char device[VL_CLIENT_DEVICE_MAX + 1];
	uint8_t *kp;
	size_t kp_len;
};
VL_MUST_CHECK int cl_kp_claim(struct vl_client *c, const char *user, struct cl_claimed **out,
                              size_t *n);
void cl_claimed_free(struct cl_claimed *list, size_t n);
/* Our KeyPackage (with private keys) whose ref is `ref`, or NOT_FOUND;
 * last_resort tells whether to keep it after use. */
VL_MUST_CHECK int cl_kp_lookup(struct vl_client *c, const uint8_t *ref, size_t ref_len,
                               struct vl_key_package **kp, bool *last_resort);
void cl_kp_forget(struct vl_client *c, const uint8_t *ref, size_t ref_len);

/* --- conv.c ---------------------------------------------------------- */
VL_MUST_CHECK int cl_convs_load(struct vl_client *c);
void cl_convs_free(struct vl_client *c);
struct cl_conv *cl_conv_find(struct vl_client *c, const char *id);
struct cl_conv *cl_conv_find_gid(struct vl_client *c, const uint8_t *gid, size_t len);
VL_MUST_CHECK int cl_conv_save_meta(struct vl_client *c, struct cl_conv *cv);
VL_MUST_CHECK int cl_conv_save_state(struct vl_client *c, struct cl_conv *cv);
/* Handles one DELIVER push. */
VL_MUST_CHECK int cl_deliver(struct vl_client *c, const struct vl_msg_deliver *d);
/* Commits the removals asked for by leave requests (after a batch). */
void cl_convs_after_batch(struct vl_client *c);
/* Resends commits left pending by a crash (on connect). */
VL_MUST_CHECK int cl_resend_pending(struct vl_client *c);
/* Encrypts and sends application data to a conversation (the group state
 * is saved before the message leaves). */
VL_MUST_CHECK int cl_conv_send(struct vl_client *c, struct cl_conv *cv, const uint8_t *data,
                               size_t len);
/* Members' user addresses of a group (sorted, unique; heap). */
VL_MUST_CHECK int cl_conv_users(const struct cl_conv *cv, char ***users, size_t *n);
bool cl_conv_is_admin(const struct cl_conv *cv, const char *user);
/* Frees an array of n heap strings. */
void cl_strv_free(char **v, size_t n);

/* --- msg.c ----------------------------------------------------------- */
/* Handles decrypted application data from sender (user, device). */
VL_MUST_CHECK int cl_msg_receive(struct vl_client *c, struct cl_conv *cv, const char *user,
                                 const char *device, const uint8_t *data, size_t len);
/* Sends a MIMI content (salt set here), stores it as ours when `store`.
 * id (may be NULL) receives the hex message id. */
VL_MUST_CHECK int cl_msg_send(struct vl_client *c, struct cl_conv *cv, struct vl_mimi_content *mc,
                              bool store, char id[VL_CLIENT_MSG_ID_LEN + 1]);
/* Sends the conversation's meta (kind, name, admins) to the group. */
VL_MUST_CHECK int cl_msg_send_meta(struct vl_client *c, struct cl_conv *cv);
/* Stores a system message describing a change. */
void cl_msg_system(struct vl_client *c, struct cl_conv *cv, const char *text);
/* Record codec of stored messages. */
VL_MUST_CHECK int cl_record_decode(const uint8_t *buf, size_t len, struct vl_message *m);
VL_MUST_CHECK int cl_record_encode(const struct vl_message *m, uint8_t **out, size_t *len);
VL_MUST_CHECK int cl_record_put(struct vl_client *c, const struct vl_message *m);
/* Sends pending delivery receipts collected while processing. */
void cl_receipts_flush(struct vl_client *c);
/* Copies a message (deep). */
VL_MUST_CHECK int cl_message_copy(struct vl_message *dst, const struct vl_message *src);

/* --- attach.c -------------------------------------------------------- */
/* Stores the key and nonce of a received attachment under its blob id. */
VL_MUST_CHECK int cl_attach_secret_put(struct vl_client *c, const char *blob_id,
                                       const struct vl_mimi_external *e);

/* --- contacts.c ------------------------------------------------------ */
/* Records a device key of user (trust on first use); raises
 * VL_EVENT_DEVICES_CHANGED when a known contact's devices change. */
void cl_contact_learn(struct vl_client *c, const char *user, const char *device, const uint8_t *key,
                      size_t key_len);
/* Learns the keys of a KeyPackage (an MLSMessage). */
void cl_contact_learn_kp(struct vl_client *c, const uint8_t *kp, size_t kp_len);

#endif
