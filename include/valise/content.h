/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Application content in the IETF MIMI content format
 * (draft-ietf-mimi-content): the mimiContent container (salt, replaces,
 * topicId, expires, inReplyTo, extensions, body) and its NestedPart body
 * tree, decoded from and encoded to CBOR; the message id of §"Message ID";
 * and the MessageDerivedValues record of §"Derived Data Values".
 *
 * Encoding is deterministic (RFC 8949 §4.2.1: shortest argument forms,
 * definite lengths, map keys in bytewise order of their encodings), and the
 * decoder accepts only that form, so decode followed by encode gives back
 * the input bytes exactly. The decoder is bounded by the VL_MIMI_MAX_*
 * limits below.
 *
 * Ownership: a struct vl_mimi_content (and every struct vl_mimi_part in it)
 * owns all the memory its pointers reach. Initialise one with
 * vl_mimi_content_init() and release it with vl_mimi_content_cleanup();
 * setters copy their inputs. Text fields are stored with their length and a
 * terminating NUL (never part of len); a text field whose str is NULL is
 * absent (for the optional senderUri/roomUri) or empty (elsewhere).
 */
#ifndef VALISE_CONTENT_H
#define VALISE_CONTENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "valise/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VL_MIMI_SALT_LEN       16
#define VL_MIMI_MESSAGE_ID_LEN 32
/* Hash algorithm octet of a message id (IANA Named Information registry). */
#define VL_MIMI_HASH_SHA256 1

/* Decoder limits. Depth, part count and topic length are the draft's own
 * (§"Security Considerations", "General handling"). */
#define VL_MIMI_MAX_MESSAGE_LEN ((size_t)1 << 20) /* whole encoded message */
#define VL_MIMI_MAX_DEPTH       4                 /* NestedPart levels */
#define VL_MIMI_MAX_PARTS       1024              /* NestedParts in a message */
#define VL_MIMI_MAX_TOPIC_LEN   4096              /* topicId octets */
#define VL_MIMI_MAX_EXTENSIONS  32                /* entries of mimiExtensions */
#define VL_MIMI_MAX_EXT_VALUE   4095              /* encoded size of one value */
#define VL_MIMI_MAX_VALUE_DEPTH 16                /* nesting inside a value */

/* Common content types. */
#define VL_MIMI_TYPE_TEXT_PLAIN    "text/plain;charset=utf-8"
#define VL_MIMI_TYPE_TEXT_MARKDOWN "text/markdown;variant=GFM-MIMI"

/* Dispositions (baseDispos); values 9..255 are kept as they are. */
enum vl_mimi_disposition {
	VL_MIMI_DISP_UNSPECIFIED = 0,
	VL_MIMI_DISP_RENDER = 1,
	VL_MIMI_DISP_REACTION = 2,
	VL_MIMI_DISP_PROFILE = 3,
	VL_MIMI_DISP_INLINE = 4,
	VL_MIMI_DISP_ICON = 5,
	VL_MIMI_DISP_ATTACHMENT = 6,
	VL_MIMI_DISP_SESSION = 7,
	VL_MIMI_DISP_PREVIEW = 8,
};

enum vl_mimi_cardinality {
	VL_MIMI_NULLPART = 0,
	VL_MIMI_SINGLE = 1,
	VL_MIMI_EXTERNAL = 2,
	VL_MIMI_MULTI = 3,
};

enum vl_mimi_semantics {
	VL_MIMI_CHOOSE_ONE = 0,
	VL_MIMI_SINGLE_UNIT = 1,
	VL_MIMI_PROCESS_ALL = 2,
};

/* A CBOR text string (valid UTF-8 without U+0000 in the fields of the
 * container; extension values are not inspected). str is NUL-terminated. */
struct vl_mimi_text {
	char *str;
	size_t len;
};

/* A CBOR byte string. */
struct vl_mimi_bytes {
	uint8_t *data;
	size_t len;
};

/* Body of an ExternalPart (the fields after contentType). */
struct vl_mimi_external {
	struct vl_mimi_text url;
	uint32_t expires; /* seconds since the epoch, 0 = does not expire */
	uint64_t size;    /* octets, 0 = not given */
	uint16_t enc_alg; /* IANA AEAD algorithm, 0 = not encrypted */
	struct vl_mimi_bytes key, nonce, aad;
	uint8_t hash_alg; /* IANA Named Information hash, 0 = none */
	struct vl_mimi_bytes content_hash;
	struct vl_mimi_text description, filename;
};

/* One NestedPart. Which fields are meaningful depends on cardinality:
 * content_type for SINGLE and EXTERNAL, content for SINGLE, external for
 * EXTERNAL, semantics and parts for MULTI (at least two). */
struct vl_mimi_part {
	uint8_t disposition; /* enum vl_mimi_disposition or 9..255 */
	struct vl_mimi_text language;
	enum vl_mimi_cardinality cardinality;
	struct vl_mimi_text content_type;
	struct vl_mimi_bytes content;
	struct vl_mimi_external external;
	enum vl_mimi_semantics semantics;
	struct vl_mimi_part *parts;
	size_t parts_len;
};

enum vl_mimi_key_kind {
	VL_MIMI_KEY_UINT = 0,   /* key = key_int */
	VL_MIMI_KEY_NEGINT = 1, /* key = -1 - key_int */
	VL_MIMI_KEY_TEXT = 2,   /* key = key_text, 1..255 octets */
};

/* An extension other than senderUri (1) and roomUri (2). The value is kept
 * as its deterministic CBOR encoding (at most VL_MIMI_MAX_EXT_VALUE octets). */
struct vl_mimi_extension {
	enum vl_mimi_key_kind key_kind;
	uint64_t key_int;
	struct vl_mimi_text key_text;
	struct vl_mimi_bytes value;
};

struct vl_mimi_content {
	uint8_t salt[VL_MIMI_SALT_LEN];
	bool has_replaces;
	uint8_t replaces[VL_MIMI_MESSAGE_ID_LEN];
	struct vl_mimi_bytes topic_id;
	bool has_expires;
	bool expires_relative;
	uint32_t expires_time;
	bool has_in_reply_to;
	uint8_t in_reply_to[VL_MIMI_MESSAGE_ID_LEN];
	struct vl_mimi_text sender_uri;       /* extension 1; str NULL when absent */
	struct vl_mimi_text room_uri;         /* extension 2; str NULL when absent */
	struct vl_mimi_extension *extensions; /* the others, in key order */
	size_t extensions_len;
	struct vl_mimi_part body;
};

/* Zeroes c: no references, no extensions, an unspecified null-part body. */
void vl_mimi_content_init(struct vl_mimi_content *c);
/* Frees everything c owns and re-initialises it. Accepts NULL. */
void vl_mimi_content_cleanup(struct vl_mimi_content *c);

/* Decodes one mimiContent from buf[0..len). c is initialised first, so it
 * must not hold anything (clean it up before reusing it); on failure it is
 * left initialised and empty. The result does not point into buf.
 * Returns VL_OK; VL_ERR_DECODE for malformed or non-deterministic CBOR, a
 * wrong type, a wrong array length, an unknown cardinality or part
 * semantics, trailing bytes, invalid UTF-8, or duplicate/unsorted map keys;
 * VL_ERR_UNSUPPORTED for a replaces/inReplyTo id whose first octet is not
 * a known hash algorithm (only VL_MIMI_HASH_SHA256); VL_ERR_LIMIT when a
 * VL_MIMI_MAX_* limit is exceeded; VL_ERR_NOMEM.
 * Checks that need a clock or history (expiry a year away, duplicate ids,
 * the sender's membership) are the caller's. */
VL_MUST_CHECK int vl_mimi_content_decode(struct vl_mimi_content *c, const uint8_t *buf, size_t len);

/* Length of the encoding of c, into *len.
 * Returns VL_OK; VL_ERR_INVALID if c breaks a rule of the format (an
 * extension value that is not deterministic CBOR, a multipart with fewer
 * than two parts, a key text of 0 or over 255 octets, a reserved extension
 * key 1 or 2 among the others, duplicate extension keys, a replaces or
 * inReplyTo id not starting with VL_MIMI_HASH_SHA256); VL_ERR_LIMIT when
 * a VL_MIMI_MAX_* limit is exceeded. */
VL_MUST_CHECK int vl_mimi_content_encoded_size(const struct vl_mimi_content *c, size_t *len);
/* Encodes c into buf (cap bytes); *len receives the length written.
 * Returns as vl_mimi_content_encoded_size, and VL_ERR_LIMIT if cap is too
 * small. */
VL_MUST_CHECK int vl_mimi_content_encode(const struct vl_mimi_content *c, uint8_t *buf, size_t cap,
                                         size_t *len);
/* Encodes c into a new heap buffer *out (free() it) of *len bytes. */
VL_MUST_CHECK int vl_mimi_content_encode_alloc(const struct vl_mimi_content *c, uint8_t **out,
                                               size_t *len);

/* True if a and b hold the same values (field by field, recursively). */
bool vl_mimi_content_equal(const struct vl_mimi_content *a, const struct vl_mimi_content *b);

/* --- Building messages (all copy their inputs; VL_ERR_NOMEM) ------------ */

/* Fresh random salt (VL_ERR_CRYPTO if the generator fails). */
VL_MUST_CHECK int vl_mimi_content_new_salt(struct vl_mimi_content *c);
/* Sets (or with NULL removes) senderUri and roomUri. */
VL_MUST_CHECK int vl_mimi_content_set_uris(struct vl_mimi_content *c, const char *sender_uri,
                                           const char *room_uri);
/* Sets topicId (len 0: no topic). */
VL_MUST_CHECK int vl_mimi_content_set_topic(struct vl_mimi_content *c, const void *topic,
                                            size_t len);
/* Adds an extension (key kind/int/text as in struct vl_mimi_extension,
 * value: its CBOR encoding, checked to be one deterministic item of at most
 * VL_MIMI_MAX_EXT_VALUE octets). Keeps the list in key order.
 * VL_ERR_ARG for a key 1 or 2 (use vl_mimi_content_set_uris) or a bad key
 * text length; VL_ERR_EXISTS if the key is present; VL_ERR_INVALID for a
 * bad value; VL_ERR_LIMIT beyond VL_MIMI_MAX_EXTENSIONS. */
VL_MUST_CHECK int vl_mimi_content_add_extension(struct vl_mimi_content *c,
                                                enum vl_mimi_key_kind kind, uint64_t key_int,
                                                const char *key_text, const uint8_t *value,
                                                size_t value_len);

/* Frees what p owns and makes it a null part of this disposition. */
void vl_mimi_part_set_null(struct vl_mimi_part *p, uint8_t disposition);
/* Makes p a single part. language may be NULL (""). */
VL_MUST_CHECK int vl_mimi_part_set_single(struct vl_mimi_part *p, uint8_t disposition,
                                          const char *language, const char *content_type,
                                          const void *content, size_t content_len);
/* Makes p an external part with a deep copy of ext. */
VL_MUST_CHECK int vl_mimi_part_set_external(struct vl_mimi_part *p, uint8_t disposition,
                                            const char *language, const char *content_type,
                                            const struct vl_mimi_external *ext);
/* Makes p a multipart of n (2..VL_MIMI_MAX_PARTS) null parts for the caller
 * to fill through p->parts[i]. VL_ERR_ARG for n out of range. */
VL_MUST_CHECK int vl_mimi_part_set_multi(struct vl_mimi_part *p, uint8_t disposition,
                                         const char *language, enum vl_mimi_semantics semantics,
                                         size_t n);

/* Shorthands for the common messages; each replaces c's body (and the
 * reference fields named). text is UTF-8 of text_len octets. */
/* Text: plain (markdown false) or GFM-MIMI markdown, disposition render. */
VL_MUST_CHECK int vl_mimi_content_set_text(struct vl_mimi_content *c, bool markdown,
                                           const char *text, size_t text_len);
/* Reaction to message `target`: inReplyTo = target, reaction part. */
VL_MUST_CHECK int vl_mimi_content_set_reaction(struct vl_mimi_content *c,
                                               const uint8_t target[VL_MIMI_MESSAGE_ID_LEN],
                                               const char *reaction, size_t reaction_len);
/* Delete (or unlike): replaces = target, null part of the given disposition
 * (render to delete a message, reaction to withdraw a reaction). */
void vl_mimi_content_set_delete(struct vl_mimi_content *c,
                                const uint8_t target[VL_MIMI_MESSAGE_ID_LEN], uint8_t disposition);

/* --- Message id ----------------------------------------------------------- */

/* The message id of an encoded mimiContent (draft §"Message ID"):
 * 0x01 || SHA-256(u16 len || sender_uri || u16 len || room_uri || msg ||
 * salt)[0..30], the salt read from msg's first field.
 * Returns VL_OK; VL_ERR_DECODE if msg does not start with a 7-item array
 * and a 16-octet salt; VL_ERR_LIMIT for a URI longer than 65535 octets;
 * VL_ERR_CRYPTO if hashing fails. */
VL_MUST_CHECK int vl_mimi_message_id(const uint8_t *msg, size_t msg_len, const char *sender_uri,
                                     size_t sender_uri_len, const char *room_uri,
                                     size_t room_uri_len, uint8_t out[VL_MIMI_MESSAGE_ID_LEN]);

/* --- Derived values --------------------------------------------------------- */

/* MessageDerivedValues: what a receiver knows about a message besides its
 * content. Only the millisecond form of the timestamp is supported. */
struct vl_mimi_derived {
	uint8_t message_id[VL_MIMI_MESSAGE_ID_LEN];
	uint64_t hub_accepted_ms;
	struct vl_mimi_bytes group_id;
	uint32_t sender_leaf_index;
	struct vl_mimi_text sender_client_url, sender_user_url, room_url;
};

void vl_mimi_derived_init(struct vl_mimi_derived *d);
void vl_mimi_derived_cleanup(struct vl_mimi_derived *d);
/* As vl_mimi_content_decode; VL_ERR_UNSUPPORTED for the extended-time
 * (tag 1001) timestamp. */
VL_MUST_CHECK int vl_mimi_derived_decode(struct vl_mimi_derived *d, const uint8_t *buf, size_t len);
/* Encodes d into a new heap buffer *out (free() it). */
VL_MUST_CHECK int vl_mimi_derived_encode_alloc(const struct vl_mimi_derived *d, uint8_t **out,
                                               size_t *len);

#ifdef __cplusplus
}
#endif
#endif
