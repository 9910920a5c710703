/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The RFC 9420 structures that travel on the wire (§§6-12, registries of
 * §17): decoders that accept only canonical, well-formed encodings and
 * encoders that reproduce them byte for byte. No state, no secrets, no
 * cryptography: signatures, MACs and hashes are computed by the group engine
 * over the TBS encodings provided here.
 *
 * Memory model
 *  - Decoding never copies payloads: every opaque field (struct vl_mls_bytes)
 *    points into the input buffer, which the caller keeps alive and unchanged
 *    for as long as the decoded structures are used.
 *  - Variable-count arrays are allocated from a per-decode arena (struct
 *    vl_mls_arena): one vl_mls_arena_cleanup() frees the whole tree of
 *    objects. An arena can serve several decodes. On a decode error the
 *    output is partly filled and must not be used; the arena still owns
 *    everything allocated and is cleaned up as usual.
 *  - The same structures are built by the group engine to encode messages:
 *    array and byte pointers may then point anywhere the caller likes (stack,
 *    heap, an arena). Encoders only read them.
 *
 * Limits
 *  Every count is capped by a documented VL_MLS_MAX_* constant below and the
 *  arena has a hard byte cap, so a hostile input cannot make a decoder
 *  allocate without bound; exceeding a limit gives VL_ERR_LIMIT.
 *
 * What is checked here (form) and what is left to the engine (meaning)
 *  Here: truncation, trailing bytes (the *_parse functions), minimal varints,
 *  optional<T> octets, the reserved value 0 of every enum, values of select
 *  tags that decide the layout (wire format, content type, sender type, leaf
 *  node source, PSK type, resumption usage, proposal-or-ref type, node type),
 *  protocol version mls10 where the RFC fixes it (MLSMessage, GroupContext),
 *  at most one extension of each type per list (§13.4), sorted unmerged
 *  leaves (§7.1), zero padding of PrivateMessageContent (§6.3.1), the shape
 *  of a ratchet tree (§12.4.3.3: leaves at even, parents at odd positions,
 *  last node not blank), the fixed sizes of SenderData, and two rules of
 *  §10 on a KeyPackage's own fields: its leaf has source key_package, and
 *  inside an MLSMessage its version equals the message's (VL_ERR_INVALID).
 *  Left to the engine: anything that needs keys, the group state or policy,
 *  e.g. signatures and tags, cipher-suite support, key lengths, capability
 *  rules (§7.2: default types not listed), lifetimes, which sender types may
 *  send which content, proposal validity.
 *  Unknown values are kept, not rejected, wherever the RFC allows them
 *  (GREASE included, §13.5, with no special treatment): capability lists,
 *  extension types (extension_data kept opaque), cipher suites, KeyPackage
 *  and ReInit versions other than 0. Credentials and proposals of a type
 *  this code does not know carry their body as one opaque<V>: the RFC leaves
 *  their layout to the specification that defines them and this is the
 *  form deployed implementations use for custom types.
 *
 * Conventions
 *  - vl_mls_X_decode(r, arena, out) reads one X from a reader and leaves the
 *    reader after it; errors are also recorded as the reader's sticky error.
 *    vl_mls_X_parse(buf, len, arena, out) decodes a whole buffer and fails
 *    with VL_ERR_DECODE on trailing bytes.
 *  - vl_mls_X_encode(w, x) appends X to a writer (its sticky error is
 *    returned); vl_mls_X_encode_alloc(x, &buf, &len) returns a heap buffer
 *    the caller free()s. Encoders return VL_ERR_ARG for a structure that has
 *    no encoding (e.g. an unknown select tag) and VL_ERR_LIMIT when a length
 *    or count exceeds what the wire or the limits below allow.
 */
#ifndef VL_MLS_STRUCT_H
#define VL_MLS_STRUCT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "valise/status.h"
#include "wire/wire.h"

/* --- Limits --------------------------------------------------------- */

/* Largest group: leaves of a ratchet tree, and the bound used for every list
 * whose length grows with the group (proposals in a Commit, secrets in a
 * Welcome, HPKE ciphertexts in an UpdatePathNode, unmerged leaves). */
#define VL_MLS_MAX_LEAVES 65536u
/* Nodes of a ratchet tree: 2 * leaves - 1. */
#define VL_MLS_MAX_TREE_NODES (2u * VL_MLS_MAX_LEAVES - 1u)
/* Nodes of an UpdatePath: the filtered direct path is at most the tree
 * depth (16 for VL_MLS_MAX_LEAVES); twice that leaves room. */
#define VL_MLS_MAX_PATH_NODES 32u
/* Extensions in one list. */
#define VL_MLS_MAX_EXTENSIONS 128u
/* Entries in one capabilities or required_capabilities list. */
#define VL_MLS_MAX_CAPABILITY_ITEMS 256u
/* Certificates in one x509 credential chain. */
#define VL_MLS_MAX_CERTIFICATES 16u
/* Pre-shared keys listed in one GroupSecrets. */
#define VL_MLS_MAX_PSKS 64u
/* Entries of an external_senders extension. */
#define VL_MLS_MAX_EXTERNAL_SENDERS 64u
/* Any one opaque field. */
#define VL_MLS_MAX_OPAQUE (16u << 20)
/* Default byte cap of an arena (vl_mls_arena_init with max 0). */
#define VL_MLS_ARENA_DEFAULT_MAX (64u << 20)
/* Cap of the heap buffers of the *_encode_alloc functions. */
#define VL_MLS_MAX_ENCODED (64u << 20)

/* --- Registries (RFC 9420 §17) -------------------------------------- */

enum {
	VL_MLS_VERSION_MLS10 = 1,
};

enum { /* WireFormat, §17.2 */
       VL_MLS_WIRE_PUBLIC_MESSAGE = 1,
       VL_MLS_WIRE_PRIVATE_MESSAGE = 2,
       VL_MLS_WIRE_WELCOME = 3,
       VL_MLS_WIRE_GROUP_INFO = 4,
       VL_MLS_WIRE_KEY_PACKAGE = 5,
};

enum { /* ContentType, §6 */
       VL_MLS_CONTENT_APPLICATION = 1,
       VL_MLS_CONTENT_PROPOSAL = 2,
       VL_MLS_CONTENT_COMMIT = 3,
};

enum { /* SenderType, §6 */
       VL_MLS_SENDER_MEMBER = 1,
       VL_MLS_SENDER_EXTERNAL = 2,
       VL_MLS_SENDER_NEW_MEMBER_PROPOSAL = 3,
       VL_MLS_SENDER_NEW_MEMBER_COMMIT = 4,
};

enum { /* LeafNodeSource, §7.2 */
       VL_MLS_LEAF_SOURCE_KEY_PACKAGE = 1,
       VL_MLS_LEAF_SOURCE_UPDATE = 2,
       VL_MLS_LEAF_SOURCE_COMMIT = 3,
};

enum { /* CredentialType, §17.5 */
       VL_MLS_CREDENTIAL_BASIC = 1,
       VL_MLS_CREDENTIAL_X509 = 2,
};

enum { /* ExtensionType, §17.3 */
       VL_MLS_EXT_APPLICATION_ID = 1,
       VL_MLS_EXT_RATCHET_TREE = 2,
       VL_MLS_EXT_REQUIRED_CAPABILITIES = 3,
       VL_MLS_EXT_EXTERNAL_PUB = 4,
       VL_MLS_EXT_EXTERNAL_SENDERS = 5,
};

enum { /* ProposalType, §17.4 */
       VL_MLS_PROPOSAL_ADD = 1,
       VL_MLS_PROPOSAL_UPDATE = 2,
       VL_MLS_PROPOSAL_REMOVE = 3,
       VL_MLS_PROPOSAL_PSK = 4,
       VL_MLS_PROPOSAL_REINIT = 5,
       VL_MLS_PROPOSAL_EXTERNAL_INIT = 6,
       VL_MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS = 7,
};

enum { /* ProposalOrRefType, §12.4 */
       VL_MLS_POR_PROPOSAL = 1,
       VL_MLS_POR_REFERENCE = 2,
};

enum { /* PSKType and ResumptionPSKUsage, §8.4 */
       VL_MLS_PSK_EXTERNAL = 1,
       VL_MLS_PSK_RESUMPTION = 2,
       VL_MLS_RESUMPTION_APPLICATION = 1,
       VL_MLS_RESUMPTION_REINIT = 2,
       VL_MLS_RESUMPTION_BRANCH = 3,
};

enum { /* NodeType, §7.8; 0 marks a blank node in struct vl_mls_node */
       VL_MLS_NODE_BLANK = 0,
       VL_MLS_NODE_LEAF = 1,
       VL_MLS_NODE_PARENT = 2,
};

/* True for the GREASE values of §13.5 (0x0A0A, 0x1A1A, ... 0xEAEA). For
 * building GREASE-bearing lists; decoders give them no special treatment. */
bool vl_mls_is_grease(uint16_t v);

/* --- Arena ---------------------------------------------------------- */

struct vl_mls_arena_chunk;

struct vl_mls_arena {
	struct vl_mls_arena_chunk *head;
	size_t used; /* bytes handed out, over all chunks */
	size_t max;  /* hard cap on used */
	/* Fault injection for tests: when non-zero, the fail_at-th allocation
	 * (counting from 1) and every later one fail with VL_ERR_NOMEM. */
	size_t fail_at;
	size_t n_allocs;
};

/* Prepares an empty arena capped at max bytes (0: the default cap). */
void vl_mls_arena_init(struct vl_mls_arena *a, size_t max);
/* Frees everything allocated from the arena; it can be used again. */
void vl_mls_arena_cleanup(struct vl_mls_arena *a);
/* n zeroed bytes aligned for any type, owned by the arena. Returns VL_OK,
 * VL_ERR_LIMIT past the cap or VL_ERR_NOMEM. */
VL_MUST_CHECK int vl_mls_arena_alloc(struct vl_mls_arena *a, size_t n, void **out);

/* --- Common pieces -------------------------------------------------- */

/* An opaque<V> value (or fixed-size bytes); not owned. */
struct vl_mls_bytes {
	const uint8_t *data;
	size_t len;
};

/* A vector of uint16 (capability lists) or uint32 (unmerged leaves). */
struct vl_mls_u16_list {
	const uint16_t *items;
	size_t count;
};
struct vl_mls_u32_list {
	const uint32_t *items;
	size_t count;
};

/* Extension (§7.2): any type, data kept opaque. */
struct vl_mls_extension {
	uint16_t type;
	struct vl_mls_bytes data;
};
struct vl_mls_extension_list {
	const struct vl_mls_extension *items;
	size_t count;
};

/* Capabilities (§7.2). */
struct vl_mls_capabilities {
	struct vl_mls_u16_list versions, cipher_suites, extensions, proposals, credentials;
};

/* Lifetime (§7.2): seconds since the Unix epoch. */
struct vl_mls_lifetime {
	uint64_t not_before, not_after;
};

/* Credential (§5.3). basic: identity; x509: certificates (DER, end-entity
 * first); any other type: its body as one opaque<V> in other. Type 0 is
 * rejected. */
struct vl_mls_credential {
	uint16_t type;
	struct vl_mls_bytes identity;
	const struct vl_mls_bytes *certificates;
	size_t certificate_count;
	struct vl_mls_bytes other;
};

/* LeafNode (§7.2). lifetime is meaningful for source key_package only,
 * parent_hash for source commit only. */
struct vl_mls_leaf_node {
	struct vl_mls_bytes encryption_key; /* HPKEPublicKey */
	struct vl_mls_bytes signature_key;  /* SignaturePublicKey */
	struct vl_mls_credential credential;
	struct vl_mls_capabilities capabilities;
	uint8_t source; /* VL_MLS_LEAF_SOURCE_* */
	struct vl_mls_lifetime lifetime;
	struct vl_mls_bytes parent_hash;
	struct vl_mls_extension_list extensions;
	struct vl_mls_bytes signature;
};

/* KeyPackage (§10); leaf_node.source must be key_package. */
struct vl_mls_key_package {
	uint16_t version; /* 0 rejected; others kept for the engine to judge */
	uint16_t cipher_suite;
	struct vl_mls_bytes init_key;
	struct vl_mls_leaf_node leaf_node;
	struct vl_mls_extension_list extensions;
	struct vl_mls_bytes signature;
};

/* ParentNode (§7.1); unmerged_leaves strictly increasing. */
struct vl_mls_parent_node {
	struct vl_mls_bytes encryption_key;
	struct vl_mls_bytes parent_hash;
	struct vl_mls_u32_list unmerged_leaves;
};

/* One entry of a ratchet tree: optional<Node> (§12.4.3.3). */
struct vl_mls_node {
	uint8_t type; /* VL_MLS_NODE_BLANK, _LEAF or _PARENT */
	union {
		struct vl_mls_leaf_node leaf;
		struct vl_mls_parent_node parent;
	};
};

/* optional<Node> ratchet_tree<V>: nodes in array order (§4.2, Appendix C),
 * with trailing blanks omitted as the RFC requires. */
struct vl_mls_ratchet_tree {
	const struct vl_mls_node *nodes;
	size_t count;
};

/* HPKECiphertext (§7.6). */
struct vl_mls_hpke_ciphertext {
	struct vl_mls_bytes kem_output, ciphertext;
};

/* UpdatePathNode and UpdatePath (§7.6). */
struct vl_mls_update_path_node {
	struct vl_mls_bytes encryption_key;
	const struct vl_mls_hpke_ciphertext *encrypted_path_secret;
	size_t encrypted_path_secret_count;
};
struct vl_mls_update_path {
	struct vl_mls_leaf_node leaf_node;
	const struct vl_mls_update_path_node *nodes;
	size_t node_count;
};

/* PreSharedKeyID (§8.4). psk_id for external PSKs; usage, psk_group_id and
 * psk_epoch for resumption PSKs. */
struct vl_mls_psk_id {
	uint8_t type; /* VL_MLS_PSK_* */
	struct vl_mls_bytes psk_id;
	uint8_t usage; /* VL_MLS_RESUMPTION_* */
	struct vl_mls_bytes psk_group_id;
	uint64_t psk_epoch;
	struct vl_mls_bytes psk_nonce;
};

/* ReInit (§12.1.5). */
struct vl_mls_reinit {
	struct vl_mls_bytes group_id;
	uint16_t version; /* 0 rejected */
	uint16_t cipher_suite;
	struct vl_mls_extension_list extensions;
};

/* Proposal (§12.1). The member of the union in use follows type; a type
 * other than the seven of RFC 9420 carries its body in unknown. */
struct vl_mls_proposal {
	uint16_t type; /* VL_MLS_PROPOSAL_* or another non-zero value */
	union {
		struct vl_mls_key_package add;                         /* Add.key_package */
		struct vl_mls_leaf_node update;                        /* Update.leaf_node */
		uint32_t remove;                                       /* Remove.removed */
		struct vl_mls_psk_id psk;                              /* PreSharedKey.psk */
		struct vl_mls_reinit reinit;                           /* ReInit */
		struct vl_mls_bytes external_init;                     /* ExternalInit.kem_output */
		struct vl_mls_extension_list group_context_extensions; /* .extensions */
		struct vl_mls_bytes unknown;
	};
};

/* ProposalOrRef (§12.4). */
struct vl_mls_proposal_or_ref {
	uint8_t type; /* VL_MLS_POR_* */
	struct vl_mls_proposal proposal;
	struct vl_mls_bytes reference; /* ProposalRef */
};

/* Commit (§12.4). */
struct vl_mls_commit {
	const struct vl_mls_proposal_or_ref *proposals;
	size_t proposal_count;
	bool has_path;
	struct vl_mls_update_path path;
};

/* Sender (§6): index is leaf_index for members, sender_index for external
 * senders, unused otherwise. */
struct vl_mls_sender {
	uint8_t type; /* VL_MLS_SENDER_* */
	uint32_t index;
};

/* GroupContext (§8.1); version must be mls10. */
struct vl_mls_group_context {
	uint16_t version;
	uint16_t cipher_suite;
	struct vl_mls_bytes group_id;
	uint64_t epoch;
	struct vl_mls_bytes tree_hash;
	struct vl_mls_bytes confirmed_transcript_hash;
	struct vl_mls_extension_list extensions;
};

/* FramedContent (§6): the body member in use follows content_type. */
struct vl_mls_framed_content {
	struct vl_mls_bytes group_id;
	uint64_t epoch;
	struct vl_mls_sender sender;
	struct vl_mls_bytes authenticated_data;
	uint8_t content_type; /* VL_MLS_CONTENT_* */
	union {
		struct vl_mls_bytes application_data;
		struct vl_mls_proposal proposal;
		struct vl_mls_commit commit;
	};
};

/* FramedContentAuthData (§6.1); confirmation_tag only for commits. */
struct vl_mls_auth_data {
	struct vl_mls_bytes signature;
	struct vl_mls_bytes confirmation_tag;
};

/* AuthenticatedContent (§6). */
struct vl_mls_authenticated_content {
	uint16_t wire_format; /* public or private message */
	struct vl_mls_framed_content content;
	struct vl_mls_auth_data auth;
};

/* PublicMessage (§6.2); membership_tag only for sender type member. */
struct vl_mls_public_message {
	struct vl_mls_framed_content content;
	struct vl_mls_auth_data auth;
	struct vl_mls_bytes membership_tag;
};

/* PrivateMessage (§6.3). */
struct vl_mls_private_message {
	struct vl_mls_bytes group_id;
	uint64_t epoch;
	uint8_t content_type;
	struct vl_mls_bytes authenticated_data;
	struct vl_mls_bytes encrypted_sender_data;
	struct vl_mls_bytes ciphertext;
};

/* PrivateMessageContent (§6.3.1): the plaintext of PrivateMessage.ciphertext.
 * content_type comes from the enclosing PrivateMessage; padding_len zero
 * bytes follow the auth data. */
struct vl_mls_private_content {
	uint8_t content_type;
	union {
		struct vl_mls_bytes application_data;
		struct vl_mls_proposal proposal;
		struct vl_mls_commit commit;
	};
	struct vl_mls_auth_data auth;
	size_t padding_len;
};

/* SenderData (§6.3.2). */
struct vl_mls_sender_data {
	uint32_t leaf_index;
	uint32_t generation;
	uint8_t reuse_guard[4];
};
#define VL_MLS_SENDER_DATA_LEN 12u

/* GroupInfo (§12.4.3). */
struct vl_mls_group_info {
	struct vl_mls_group_context group_context;
	struct vl_mls_extension_list extensions;
	struct vl_mls_bytes confirmation_tag;
	uint32_t signer;
	struct vl_mls_bytes signature;
};

/* PathSecret, GroupSecrets, EncryptedGroupSecrets, Welcome (§12.4.3.1). */
struct vl_mls_group_secrets {
	struct vl_mls_bytes joiner_secret;
	bool has_path_secret;
	struct vl_mls_bytes path_secret;
	const struct vl_mls_psk_id *psks;
	size_t psk_count;
};
struct vl_mls_encrypted_group_secrets {
	struct vl_mls_bytes new_member; /* KeyPackageRef */
	struct vl_mls_hpke_ciphertext encrypted_group_secrets;
};
struct vl_mls_welcome {
	uint16_t cipher_suite;
	const struct vl_mls_encrypted_group_secrets *secrets;
	size_t secret_count;
	struct vl_mls_bytes encrypted_group_info;
};

/* MLSMessage (§6): version must be mls10; the wire formats 1-5 are decoded,
 * any other non-zero value is VL_ERR_UNSUPPORTED, 0 is VL_ERR_DECODE. */
struct vl_mls_message {
	uint16_t version;
	uint16_t wire_format;
	union {
		struct vl_mls_public_message public_message;
		struct vl_mls_private_message private_message;
		struct vl_mls_welcome welcome;
		struct vl_mls_group_info group_info;
		struct vl_mls_key_package key_package;
	};
};

/* Typed extension bodies (§12.1.8.1, §11.1, §12.4.3.2, §12.4.3.3). */
struct vl_mls_required_capabilities {
	struct vl_mls_u16_list extension_types, proposal_types, credential_types;
};
struct vl_mls_external_sender {
	struct vl_mls_bytes signature_key;
	struct vl_mls_credential credential;
};
struct vl_mls_external_senders {
	const struct vl_mls_external_sender *items;
	size_t count;
};

/* --- Decoders and encoders ------------------------------------------ */

/* Declares vl_mls_NAME_decode / _encode / _parse / _encode_alloc for
 * struct TYPE (see Conventions at the top). */
#define VL_MLS_CODEC(NAME, TYPE)                                                                   \
	VL_MUST_CHECK int vl_mls_##NAME##_decode(struct vl_reader *r, struct vl_mls_arena *a,      \
	                                         TYPE *out);                                       \
	VL_MUST_CHECK int vl_mls_##NAME##_encode(struct vl_writer *w, const TYPE *in);             \
	VL_MUST_CHECK int vl_mls_##NAME##_parse(const uint8_t *buf, size_t len,                    \
	                                        struct vl_mls_arena *a, TYPE *out);                \
	VL_MUST_CHECK int vl_mls_##NAME##_encode_alloc(const TYPE *in, uint8_t **out,              \
	                                               size_t *out_len);

VL_MLS_CODEC(extension_list, struct vl_mls_extension_list)
VL_MLS_CODEC(capabilities, struct vl_mls_capabilities)
VL_MLS_CODEC(credential, struct vl_mls_credential)
VL_MLS_CODEC(leaf_node, struct vl_mls_leaf_node)
VL_MLS_CODEC(key_package, struct vl_mls_key_package)
VL_MLS_CODEC(parent_node, struct vl_mls_parent_node)
VL_MLS_CODEC(ratchet_tree, struct vl_mls_ratchet_tree)
VL_MLS_CODEC(hpke_ciphertext, struct vl_mls_hpke_ciphertext)
VL_MLS_CODEC(update_path, struct vl_mls_update_path)
VL_MLS_CODEC(psk_id, struct vl_mls_psk_id)
VL_MLS_CODEC(proposal, struct vl_mls_proposal)
VL_MLS_CODEC(proposal_or_ref, struct vl_mls_proposal_or_ref)
VL_MLS_CODEC(commit, struct vl_mls_commit)
VL_MLS_CODEC(sender, struct vl_mls_sender)
VL_MLS_CODEC(group_context, struct vl_mls_group_context)
VL_MLS_CODEC(framed_content, struct vl_mls_framed_content)
VL_MLS_CODEC(authenticated_content, struct vl_mls_authenticated_content)
VL_MLS_CODEC(public_message, struct vl_mls_public_message)
VL_MLS_CODEC(private_message, struct vl_mls_private_message)
VL_MLS_CODEC(group_info, struct vl_mls_group_info)
VL_MLS_CODEC(group_secrets, struct vl_mls_group_secrets)
VL_MLS_CODEC(welcome, struct vl_mls_welcome)
VL_MLS_CODEC(message, struct vl_mls_message)
VL_MLS_CODEC(required_capabilities, struct vl_mls_required_capabilities)
VL_MLS_CODEC(external_senders, struct vl_mls_external_senders)

/* The bodies of the seven proposal types, as they appear alone (e.g. in the
 * MLS test vectors): Add, Update, Remove, PreSharedKey, ReInit,
 * ExternalInit, GroupContextExtensions. Each takes a Proposal whose type
 * selects the body; decode sets type. */
VL_MUST_CHECK int vl_mls_proposal_body_decode(struct vl_reader *r, struct vl_mls_arena *a,
                                              uint16_t type, struct vl_mls_proposal *out);
VL_MUST_CHECK int vl_mls_proposal_body_encode(struct vl_writer *w,
                                              const struct vl_mls_proposal *in);

/* PrivateMessageContent (§6.3.1): decodes a whole decrypted plaintext,
 * checking that the padding is all zero (VL_ERR_DECODE otherwise).
 * content_type is the enclosing PrivateMessage's. The encoder appends
 * in->padding_len zero bytes. */
VL_MUST_CHECK int vl_mls_private_content_parse(const uint8_t *buf, size_t len, uint8_t content_type,
                                               struct vl_mls_arena *a,
                                               struct vl_mls_private_content *out);
VL_MUST_CHECK int vl_mls_private_content_encode(struct vl_writer *w,
                                                const struct vl_mls_private_content *in);

/* SenderData (§6.3.2): fixed 12 bytes; the parser rejects any other length. */
VL_MUST_CHECK int vl_mls_sender_data_parse(const uint8_t *buf, size_t len,
                                           struct vl_mls_sender_data *out);
VL_MUST_CHECK int vl_mls_sender_data_encode(struct vl_writer *w,
                                            const struct vl_mls_sender_data *in);

/* --- Encodings that are signed, MACed, hashed or used as AAD ---------- */

/* LeafNodeTBS (§7.2): group_id and leaf_index are used only for sources
 * update and commit (pass NULL/0 for key_package). */
VL_MUST_CHECK int vl_mls_leaf_node_tbs_encode(struct vl_writer *w,
                                              const struct vl_mls_leaf_node *leaf,
                                              const struct vl_mls_bytes *group_id,
                                              uint32_t leaf_index);
/* KeyPackageTBS (§10): every field but the signature. */
VL_MUST_CHECK int vl_mls_key_package_tbs_encode(struct vl_writer *w,
                                                const struct vl_mls_key_package *kp);
/* GroupInfoTBS (§12.4.3): every field but the signature. */
VL_MUST_CHECK int vl_mls_group_info_tbs_encode(struct vl_writer *w,
                                               const struct vl_mls_group_info *gi);
/* FramedContentTBS (§6.1): context is required (non-NULL) for senders of
 * type member and new_member_commit and ignored otherwise (VL_ERR_ARG if
 * missing). */
VL_MUST_CHECK int vl_mls_framed_content_tbs_encode(struct vl_writer *w, uint16_t wire_format,
                                                   const struct vl_mls_framed_content *content,
                                                   const struct vl_mls_group_context *context);
/* AuthenticatedContentTBM (§6.2): the input of membership_tag. */
VL_MUST_CHECK int vl_mls_content_tbm_encode(struct vl_writer *w,
                                            const struct vl_mls_framed_content *content,
                                            const struct vl_mls_auth_data *auth,
                                            const struct vl_mls_group_context *context);
/* ConfirmedTranscriptHashInput and InterimTranscriptHashInput (§8.2). */
VL_MUST_CHECK int
vl_mls_confirmed_transcript_input_encode(struct vl_writer *w, uint16_t wire_format,
                                         const struct vl_mls_framed_content *content,
                                         const struct vl_mls_bytes *signature);
VL_MUST_CHECK int vl_mls_interim_transcript_input_encode(struct vl_writer *w,
                                                         const struct vl_mls_bytes *tag);
/* PrivateContentAAD (§6.3.1) from a PrivateMessage's first four fields. */
VL_MUST_CHECK int vl_mls_private_content_aad_encode(struct vl_writer *w,
                                                    const struct vl_mls_private_message *pm);
/* SenderDataAAD (§6.3.2) from a PrivateMessage's first three fields. */
VL_MUST_CHECK int vl_mls_sender_data_aad_encode(struct vl_writer *w,
                                                const struct vl_mls_private_message *pm);
/* PSKLabel (§8.4). */
VL_MUST_CHECK int vl_mls_psk_label_encode(struct vl_writer *w, const struct vl_mls_psk_id *id,
                                          uint16_t index, uint16_t count);

/* --- Extension helpers ---------------------------------------------- */

/* The extension of the given type in a list, or NULL. */
const struct vl_mls_extension *vl_mls_extensions_find(const struct vl_mls_extension_list *list,
                                                      uint16_t type);
/* Typed bodies: each parses an extension's whole extension_data. */
VL_MUST_CHECK int vl_mls_ext_application_id_parse(const struct vl_mls_extension *ext,
                                                  struct vl_mls_bytes *out);
VL_MUST_CHECK int vl_mls_ext_ratchet_tree_parse(const struct vl_mls_extension *ext,
                                                struct vl_mls_arena *a,
                                                struct vl_mls_ratchet_tree *out);
VL_MUST_CHECK int vl_mls_ext_required_capabilities_parse(const struct vl_mls_extension *ext,
                                                         struct vl_mls_arena *a,
                                                         struct vl_mls_required_capabilities *out);
VL_MUST_CHECK int vl_mls_ext_external_pub_parse(const struct vl_mls_extension *ext,
                                                struct vl_mls_bytes *out);
VL_MUST_CHECK int vl_mls_ext_external_senders_parse(const struct vl_mls_extension *ext,
                                                    struct vl_mls_arena *a,
                                                    struct vl_mls_external_senders *out);
/* extension_data encoders for application_id and external_pub (each is a
 * single opaque<V>); the other typed bodies use their *_encode functions. */
VL_MUST_CHECK int vl_mls_ext_opaque_encode(struct vl_writer *w, const struct vl_mls_bytes *v);

/* --- Peek ----------------------------------------------------------- */

/* The clear header of an MLSMessage, read without decoding the body. */
struct vl_mls_peek {
	uint16_t wire_format;
	/* public/private message and group_info: */
	struct vl_mls_bytes group_id;
	uint64_t epoch;
	/* public/private message: */
	uint8_t content_type;
	/* public message only: */
	struct vl_mls_sender sender;
	/* welcome, group_info, key_package: */
	uint16_t cipher_suite;
};

/* Reads version, wire format and the leading fields of the body (for a
 * PublicMessage everything up to content_type, for a PrivateMessage up to
 * content_type, for a GroupInfo its GroupContext's first four fields, for a
 * Welcome or KeyPackage the cipher suite, with a KeyPackage's version
 * checked against the message's). Does not allocate and does not check the
 * rest of the message: a later full decode may still fail. Returns VL_OK,
 * VL_ERR_DECODE, VL_ERR_INVALID (KeyPackage version differs) or
 * VL_ERR_UNSUPPORTED (version not mls10 or unknown wire format). */
VL_MUST_CHECK int vl_mls_message_peek(const uint8_t *buf, size_t len, struct vl_mls_peek *out);

#endif
