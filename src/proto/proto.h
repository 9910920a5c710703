/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client<->server protocol of docs/protocol.md: frame header, every
 * request, reply and push body, and the error codes, encoded with src/wire.
 * Shared by valised and libvalise, so both ends agree by construction.
 *
 * Decoders never allocate: byte fields (struct vl_bytes) and lists point
 * into the caller's input, which must outlive the decoded struct. Every
 * decoder checks the whole body (sizes, syntax of addresses and device
 * names, flag values, list counts) before returning VL_OK, so a list
 * iterator over a decoded body cannot fail. Encoders write one complete
 * frame (header and body) into a struct vl_writer; a heap writer's cap
 * bounds the frame.
 */
#ifndef VL_PROTO_H
#define VL_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "valise/status.h"
#include "wire/wire.h"

#define VL_PROTO_VERSION         1
#define VL_PROTO_MIN_VERSION     1
#define VL_PROTO_MAX_VERSION     1
#define VL_PROTO_SUBPROTOCOL     "valise.v1"
#define VL_PROTO_FRAME_MAX       (1u << 20) /* default frame limit */
#define VL_PROTO_HEADER_MIN      7          /* version, type, id, 1-octet length */
#define VL_PROTO_ADDRESS_MAX     255
#define VL_PROTO_LOCAL_MAX       64
#define VL_PROTO_DOMAIN_MAX      190
#define VL_PROTO_DEVICE_MAX      64
#define VL_PROTO_GROUP_ID_MAX    255
#define VL_PROTO_INVITE_MAX      64
#define VL_PROTO_KP_MAX          (64u * 1024)
#define VL_PROTO_KP_PER_UPLOAD   100
#define VL_PROTO_SIG_KEY_MAX     133 /* room for larger curves later */
#define VL_PROTO_SIGNATURE_MAX   256
#define VL_PROTO_CHALLENGE_LEN   32
#define VL_PROTO_SERVER_NAME_MAX 255
#define VL_PROTO_MSG_ID_LEN      16
#define VL_PROTO_DETAIL_MAX      200
#define VL_PROTO_LIST_MAX        4096 /* devices in one list or roster change */

#define VL_PROTO_LABEL_REGISTER "valise register v1"
#define VL_PROTO_LABEL_AUTH     "valise auth v1"
#define VL_PROTO_LABEL_BLOB     "valise blob v1"

enum vl_frame_type {
	VL_FRAME_REGISTER = 0x01,
	VL_FRAME_AUTH = 0x02,
	VL_FRAME_DEVICE_LIST = 0x03,
	VL_FRAME_DEVICE_REVOKE = 0x04,
	VL_FRAME_DEVICE_INVITE = 0x05,
	VL_FRAME_KP_UPLOAD = 0x10,
	VL_FRAME_KP_CLAIM = 0x11,
	VL_FRAME_GROUP_CREATE = 0x20,
	VL_FRAME_COMMIT = 0x21,
	VL_FRAME_SEND = 0x22,
	VL_FRAME_ACK = 0x23,
	VL_FRAME_PING = 0x24,
	VL_FRAME_ERROR = 0x7f,
	VL_FRAME_REPLY = 0x80, /* reply to T is T | VL_FRAME_REPLY */
	VL_FRAME_CHALLENGE = 0xc0,
	VL_FRAME_DELIVER = 0xc1,
	VL_FRAME_KP_LOW = 0xc2,
	VL_FRAME_CLOSING = 0xc3,
};

/* Error codes carried by ERROR and CLOSING frames (docs/protocol.md §5). */
enum vl_proto_error {
	VL_PERR_MALFORMED = 1,
	VL_PERR_TOO_LARGE = 2,
	VL_PERR_UNKNOWN_TYPE = 3,
	VL_PERR_UNSUPPORTED_VERSION = 4,
	VL_PERR_NOT_AUTHENTICATED = 5,
	VL_PERR_AUTH_FAILED = 6,
	VL_PERR_FORBIDDEN = 7,
	VL_PERR_NOT_FOUND = 8,
	VL_PERR_EXISTS = 9,
	VL_PERR_STALE_EPOCH = 10,
	VL_PERR_RATE_LIMITED = 11,
	VL_PERR_LIMIT = 12,
	VL_PERR_INVALID = 13,
	VL_PERR_INVALID_INVITE = 14,
	VL_PERR_INTERNAL = 15,
	VL_PERR_REVOKED = 16,
	VL_PERR_SHUTTING_DOWN = 17,
	VL_PERR_TOO_MANY_ERRORS = 18,
	VL_PERR_TOO_SLOW = 19,
	VL_PERR_REPLACED = 20,
	VL_PERR_EPOCH_AHEAD = 21,
};

enum vl_delivery_kind {
	VL_DELIVERY_APPLICATION = 1,
	VL_DELIVERY_COMMIT = 2,
	VL_DELIVERY_WELCOME = 3,
};

/* A byte string inside a caller's buffer (decoders) or the caller's data
 * (encoders). */
struct vl_bytes {
	const uint8_t *p;
	size_t len;
};

/* Short name of an error code ("stale_epoch"), "unknown" if unknown. */
const char *vl_proto_error_name(unsigned code);
/* Short name of a frame type ("SEND", "SEND_OK"), "unknown" if unknown. */
const char *vl_proto_type_name(unsigned type);
/* True if type is a request type a client may send. */
bool vl_proto_is_request(unsigned type);

/* True if s is a valid address (local@domain, protocol.md §4). */
bool vl_proto_address_valid(const uint8_t *s, size_t len);
/* True if s is a valid device name: 1..64 octets of [A-Za-z0-9._-]. */
bool vl_proto_device_valid(const uint8_t *s, size_t len);

/* --- Frames ------------------------------------------------------------ */

struct vl_frame {
	uint8_t version;
	uint8_t type;
	uint32_t request_id;
	struct vl_bytes body;
};

/* Decodes the frame header. Returns VL_ERR_LIMIT if len > max_len (the
 * header fields are still filled when present, so the caller can address
 * its error reply), VL_ERR_DECODE if the header or body length does not
 * decode or bytes follow the body, VL_ERR_UNSUPPORTED if the version is not
 * spoken (type and request_id are filled). The body is not decoded. */
VL_MUST_CHECK int vl_frame_decode(const uint8_t *buf, size_t len, size_t max_len,
                                  struct vl_frame *f);

/* Starts a frame: writes the header and opens the body vector. Returns a
 * mark for vl_frame_end. Errors are sticky in w. */
size_t vl_frame_begin(struct vl_writer *w, uint8_t type, uint32_t request_id);
/* Closes the body opened at mark. Returns w's sticky error. */
VL_MUST_CHECK int vl_frame_end(struct vl_writer *w, size_t mark);
/* A frame with an empty body (most replies, PING, lists of nothing). */
VL_MUST_CHECK int vl_frame_encode_empty(struct vl_writer *w, uint8_t type, uint32_t request_id);
/* Decodes an empty body: VL_ERR_DECODE unless body is the empty struct. */
VL_MUST_CHECK int vl_proto_empty_decode(const struct vl_bytes *body);

/* --- Lists ------------------------------------------------------------- */

/* An iterator over a list already checked by a decoder. */
struct vl_proto_iter {
	struct vl_reader r;
	size_t count; /* elements in the list */
};

/* --- Bodies -------------------------------------------------------------- */
/* Each body type has _decode(body, out) and _encode(w, request_id, in).
 * Decoders return VL_OK, VL_ERR_DECODE (does not parse, trailing bytes, a
 * flag not 0/1), VL_ERR_LIMIT (a field or list over its limit) or
 * VL_ERR_INVALID (an address or device name of bad syntax). Encoders
 * return the writer's status, VL_ERR_LIMIT for a field over its limit, or
 * VL_ERR_INVALID for a bad address/name, so a peer never receives what its
 * decoder would reject. */

struct vl_msg_challenge {
	uint8_t min_version, max_version;
	struct vl_bytes challenge; /* VL_PROTO_CHALLENGE_LEN octets */
	struct vl_bytes server_name;
};
VL_MUST_CHECK int vl_msg_challenge_decode(const struct vl_bytes *body, struct vl_msg_challenge *m);
VL_MUST_CHECK int vl_msg_challenge_encode(struct vl_writer *w, const struct vl_msg_challenge *m);

/* The AuthTBS structure a device signs (protocol.md §4.1); label is one of
 * the VL_PROTO_LABEL_* strings. Writes into w (a fixed or heap writer). */
VL_MUST_CHECK int vl_proto_auth_tbs(struct vl_writer *w, const char *label,
                                    const struct vl_bytes *challenge,
                                    const struct vl_bytes *server_name, const struct vl_bytes *user,
                                    const struct vl_bytes *device);

struct vl_msg_register {
	struct vl_bytes invite, user, device;
	uint16_t cipher_suite;
	struct vl_bytes signature_key, signature;
};
VL_MUST_CHECK int vl_msg_register_decode(const struct vl_bytes *body, struct vl_msg_register *m);
VL_MUST_CHECK int vl_msg_register_encode(struct vl_writer *w, uint32_t id,
                                         const struct vl_msg_register *m);

struct vl_msg_auth {
	struct vl_bytes user, device, signature;
};
VL_MUST_CHECK int vl_msg_auth_decode(const struct vl_bytes *body, struct vl_msg_auth *m);
VL_MUST_CHECK int vl_msg_auth_encode(struct vl_writer *w, uint32_t id, const struct vl_msg_auth *m);

struct vl_msg_auth_ok {
	uint32_t key_packages;
	uint64_t acked_seq;
};
VL_MUST_CHECK int vl_msg_auth_ok_decode(const struct vl_bytes *body, struct vl_msg_auth_ok *m);
VL_MUST_CHECK int vl_msg_auth_ok_encode(struct vl_writer *w, uint32_t id,
                                        const struct vl_msg_auth_ok *m);

struct vl_device_info {
	struct vl_bytes device;
	uint16_t cipher_suite;
	struct vl_bytes signature_key;
	uint64_t created;
	bool revoked;
};
struct vl_msg_device_list_ok {
	struct vl_proto_iter devices; /* of struct vl_device_info */
};
VL_MUST_CHECK int vl_msg_device_list_ok_decode(const struct vl_bytes *body,
                                               struct vl_msg_device_list_ok *m);
/* Encodes n entries of devices[]. */
VL_MUST_CHECK int vl_msg_device_list_ok_encode(struct vl_writer *w, uint32_t id,
                                               const struct vl_device_info *devices, size_t n);
/* Next entry; false at the end. */
bool vl_device_info_next(struct vl_proto_iter *it, struct vl_device_info *out);

/* DEVICE_REVOKE { device }, also used by nothing else. */
struct vl_msg_device_revoke {
	struct vl_bytes device;
};
VL_MUST_CHECK int vl_msg_device_revoke_decode(const struct vl_bytes *body,
                                              struct vl_msg_device_revoke *m);
VL_MUST_CHECK int vl_msg_device_revoke_encode(struct vl_writer *w, uint32_t id,
                                              const struct vl_msg_device_revoke *m);

struct vl_msg_device_invite_ok {
	struct vl_bytes invite;
};
VL_MUST_CHECK int vl_msg_device_invite_ok_decode(const struct vl_bytes *body,
                                                 struct vl_msg_device_invite_ok *m);
VL_MUST_CHECK int vl_msg_device_invite_ok_encode(struct vl_writer *w, uint32_t id,
                                                 const struct vl_msg_device_invite_ok *m);

struct vl_kp_upload_item {
	bool last_resort;
	struct vl_bytes key_package;
};
struct vl_msg_kp_upload {
	struct vl_proto_iter key_packages; /* of struct vl_kp_upload_item */
};
VL_MUST_CHECK int vl_msg_kp_upload_decode(const struct vl_bytes *body, struct vl_msg_kp_upload *m);
VL_MUST_CHECK int vl_msg_kp_upload_encode(struct vl_writer *w, uint32_t id,
                                          const struct vl_kp_upload_item *items, size_t n);
bool vl_kp_upload_item_next(struct vl_proto_iter *it, struct vl_kp_upload_item *out);

/* KP_UPLOAD_OK and the KP_LOW push: a stock count. */
struct vl_msg_kp_count {
	uint32_t key_packages;
};
VL_MUST_CHECK int vl_msg_kp_count_decode(const struct vl_bytes *body, struct vl_msg_kp_count *m);
/* type is VL_FRAME_KP_UPLOAD | VL_FRAME_REPLY or VL_FRAME_KP_LOW. */
VL_MUST_CHECK int vl_msg_kp_count_encode(struct vl_writer *w, uint8_t type, uint32_t id,
                                         const struct vl_msg_kp_count *m);

struct vl_msg_kp_claim {
	struct vl_bytes user;
};
VL_MUST_CHECK int vl_msg_kp_claim_decode(const struct vl_bytes *body, struct vl_msg_kp_claim *m);
VL_MUST_CHECK int vl_msg_kp_claim_encode(struct vl_writer *w, uint32_t id,
                                         const struct vl_msg_kp_claim *m);

struct vl_claimed_kp {
	struct vl_bytes device, key_package;
};
struct vl_msg_kp_claim_ok {
	struct vl_proto_iter key_packages; /* of struct vl_claimed_kp */
};
VL_MUST_CHECK int vl_msg_kp_claim_ok_decode(const struct vl_bytes *body,
                                            struct vl_msg_kp_claim_ok *m);
VL_MUST_CHECK int vl_msg_kp_claim_ok_encode(struct vl_writer *w, uint32_t id,
                                            const struct vl_claimed_kp *items, size_t n);
bool vl_claimed_kp_next(struct vl_proto_iter *it, struct vl_claimed_kp *out);

struct vl_msg_group_create {
	struct vl_bytes group_id;
};
VL_MUST_CHECK int vl_msg_group_create_decode(const struct vl_bytes *body,
                                             struct vl_msg_group_create *m);
VL_MUST_CHECK int vl_msg_group_create_encode(struct vl_writer *w, uint32_t id,
                                             const struct vl_msg_group_create *m);

struct vl_device_ref {
	struct vl_bytes user, device;
};
struct vl_msg_commit {
	struct vl_bytes group_id;
	uint64_t epoch;
	uint8_t client_msg_id[VL_PROTO_MSG_ID_LEN];
	struct vl_bytes commit;
	struct vl_proto_iter added, removed; /* decode: of struct vl_device_ref */
	bool has_welcome;
	struct vl_bytes welcome;
};
VL_MUST_CHECK int vl_msg_commit_decode(const struct vl_bytes *body, struct vl_msg_commit *m);
/* Encodes m's scalar fields with added[n_added] and removed[n_removed]
 * (m->added and m->removed are ignored). */
VL_MUST_CHECK int vl_msg_commit_encode(struct vl_writer *w, uint32_t id,
                                       const struct vl_msg_commit *m,
                                       const struct vl_device_ref *added, size_t n_added,
                                       const struct vl_device_ref *removed, size_t n_removed);
bool vl_device_ref_next(struct vl_proto_iter *it, struct vl_device_ref *out);

/* COMMIT_OK { epoch } */
struct vl_msg_commit_ok {
	uint64_t epoch;
};
VL_MUST_CHECK int vl_msg_commit_ok_decode(const struct vl_bytes *body, struct vl_msg_commit_ok *m);
VL_MUST_CHECK int vl_msg_commit_ok_encode(struct vl_writer *w, uint32_t id,
                                          const struct vl_msg_commit_ok *m);

struct vl_msg_send {
	struct vl_bytes group_id;
	uint8_t client_msg_id[VL_PROTO_MSG_ID_LEN];
	struct vl_bytes message;
};
VL_MUST_CHECK int vl_msg_send_decode(const struct vl_bytes *body, struct vl_msg_send *m);
VL_MUST_CHECK int vl_msg_send_encode(struct vl_writer *w, uint32_t id, const struct vl_msg_send *m);

struct vl_msg_ack {
	uint64_t seq;
};
VL_MUST_CHECK int vl_msg_ack_decode(const struct vl_bytes *body, struct vl_msg_ack *m);
VL_MUST_CHECK int vl_msg_ack_encode(struct vl_writer *w, uint32_t id, const struct vl_msg_ack *m);

struct vl_msg_deliver {
	uint64_t seq;
	uint8_t kind; /* enum vl_delivery_kind */
	struct vl_bytes group_id;
	struct vl_device_ref sender;
	struct vl_bytes message;
};
VL_MUST_CHECK int vl_msg_deliver_decode(const struct vl_bytes *body, struct vl_msg_deliver *m);
VL_MUST_CHECK int vl_msg_deliver_encode(struct vl_writer *w, const struct vl_msg_deliver *m);

struct vl_msg_error {
	uint16_t code; /* enum vl_proto_error */
	struct vl_bytes detail;
};
VL_MUST_CHECK int vl_msg_error_decode(const struct vl_bytes *body, struct vl_msg_error *m);
/* detail may be NULL; it is truncated to VL_PROTO_DETAIL_MAX octets. */
VL_MUST_CHECK int vl_msg_error_encode(struct vl_writer *w, uint32_t id, uint16_t code,
                                      const char *detail);

struct vl_msg_closing {
	uint16_t code;
};
VL_MUST_CHECK int vl_msg_closing_decode(const struct vl_bytes *body, struct vl_msg_closing *m);
VL_MUST_CHECK int vl_msg_closing_encode(struct vl_writer *w, const struct vl_msg_closing *m);

#endif
