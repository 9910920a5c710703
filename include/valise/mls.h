/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The MLS group engine (RFC 9420): an opaque group object a client keeps
 * per conversation, and KeyPackages for being added to groups.
 *
 * A group's life:
 *
 *   vl_group_create() ----.                 .---- vl_group_join() (Welcome)
 *                          v               v
 *                      [ member of epoch n ] <--- vl_group_process(): commit of
 *                          |        ^            another member -> epoch n+1
 *         vl_group_commit()|        | vl_group_commit_discard() (DS rejected it)
 *                          v        |
 *                 [ member, commit pending ] -- vl_group_commit_merge() (DS
 *                                               accepted it) -> epoch n+1
 *
 * While a commit is pending the group still works in epoch n (messages can be
 * sent and received); processing another member's commit for epoch n
 * discards the pending one, and the caller commits again in the new epoch.
 * A member removed by a commit becomes inactive: every call but the
 * accessors then returns VL_ERR_STATE.
 *
 * Messages are MLSMessage encodings; output buffers are heap allocated and
 * owned by the caller (free()). Handshake messages are PublicMessage unless
 * the configuration asks for PrivateMessage; application messages are
 * always PrivateMessage.
 */
#ifndef VALISE_MLS_H
#define VALISE_MLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "valise/status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct vl_group;
struct vl_key_package;

/* Looks up an external PSK by id; returns VL_OK with *psk set (borrowed,
 * valid until the call returns) or VL_ERR_NOT_FOUND. */
typedef int (*vl_psk_lookup_fn)(void *ctx, const uint8_t *id, size_t id_len, const uint8_t **psk,
                                size_t *psk_len);

struct vl_group_config {
	uint32_t padding_block; /* PrivateMessage padding; 0: 32 bytes */
	uint32_t window;        /* out-of-order keys kept per sender; 0: 32 */
	uint32_t max_forward;   /* largest generation jump; 0: 1024 */
	bool private_handshake; /* proposals and commits as PrivateMessage */
	vl_psk_lookup_fn psk_lookup;
	void *psk_ctx;
};

/* --- KeyPackages ---------------------------------------------------- */

/* A fresh KeyPackage for cipher suite `suite` with a basic credential
 * holding identity, and its private keys. sig_priv (the device's signature
 * key, sig_priv_len bytes of the suite) may be NULL to generate one.
 * VL_ERR_UNSUPPORTED for an unknown suite. */
VL_MUST_CHECK int vl_key_package_new(uint16_t suite, const uint8_t *identity, size_t identity_len,
                                     const uint8_t *sig_priv, struct vl_key_package **out);
/* A KeyPackage (MLSMessage encoding) with its three private keys, e.g. as
 * stored by the client. Checks that the keys match (VL_ERR_INVALID). */
VL_MUST_CHECK int vl_key_package_from_parts(const uint8_t *msg, size_t msg_len,
                                            const uint8_t *init_priv, const uint8_t *enc_priv,
                                            const uint8_t *sig_priv, struct vl_key_package **out);
/* The MLSMessage(KeyPackage) encoding (borrowed). */
void vl_key_package_bytes(const struct vl_key_package *kp, const uint8_t **out, size_t *len);
void vl_key_package_free(struct vl_key_package *kp);

/* --- Groups ----------------------------------------------------------- */

/* A new group with one member (leaf 0) holding a basic credential with
 * identity; sig_priv may be NULL to generate a key. cfg may be NULL. */
VL_MUST_CHECK int vl_group_create(uint16_t suite, const uint8_t *group_id, size_t group_id_len,
                                  const uint8_t *identity, size_t identity_len,
                                  const uint8_t *sig_priv, const struct vl_group_config *cfg,
                                  struct vl_group **out);
/* Joins from a Welcome (MLSMessage) meant for kp. ratchet_tree (the
 * encoded tree, may be NULL) is needed when the Welcome's GroupInfo does
 * not carry the ratchet_tree extension. Validates everything §12.4.3.1
 * asks. VL_ERR_NOT_FOUND if the Welcome has no entry for kp. */
VL_MUST_CHECK int vl_group_join(const struct vl_key_package *kp, const uint8_t *welcome,
                                size_t welcome_len, const uint8_t *ratchet_tree, size_t rt_len,
                                const struct vl_group_config *cfg, struct vl_group **out);
void vl_group_free(struct vl_group *g);

/* Proposals, sent as a message and kept for the next commit. */
VL_MUST_CHECK int vl_group_propose_add(struct vl_group *g, const uint8_t *key_package,
                                       size_t kp_len, uint8_t **msg, size_t *msg_len);
VL_MUST_CHECK int vl_group_propose_remove(struct vl_group *g, uint32_t leaf, uint8_t **msg,
                                          size_t *msg_len);
/* An Update of the own leaf with a fresh encryption key. */
VL_MUST_CHECK int vl_group_propose_update(struct vl_group *g, uint8_t **msg, size_t *msg_len);

/* A PreSharedKey proposal (§12.1.4) for an external PSK (known to every
 * member through its psk_lookup) or for the resumption PSK of one of this
 * group's recent epochs. The nonce is drawn at random. VL_ERR_NOT_FOUND if
 * this member cannot resolve the PSK itself. */
VL_MUST_CHECK int vl_group_propose_external_psk(struct vl_group *g, const uint8_t *id,
                                                size_t id_len, uint8_t **msg, size_t *msg_len);
VL_MUST_CHECK int vl_group_propose_resumption_psk(struct vl_group *g, uint64_t epoch, uint8_t **msg,
                                                  size_t *msg_len);
/* A GroupContextExtensions proposal (§12.1.7): ext is an encoded
 * extensions<V> list replacing the group's. */
VL_MUST_CHECK int vl_group_propose_extensions(struct vl_group *g, const uint8_t *ext,
                                              size_t ext_len, uint8_t **msg, size_t *msg_len);

/* What a commit covers besides the proposals received in the epoch, which
 * it always includes by reference. */
struct vl_commit_args {
	const uint8_t *const *add; /* KeyPackages (MLSMessage) added by value */
	const size_t *add_len;
	size_t n_add;
	const uint32_t *remove; /* leaves removed by value */
	size_t n_remove;
	/* Leave the ratchet tree out of the Welcome: the joiners get it from
	 * vl_group_ratchet_tree() (after the merge) through another channel.
	 * For large groups: RFC 9420 §12.4.3.1 makes every new member's HPKE
	 * context the whole encrypted GroupInfo, so a tree inside it costs
	 * hashing it once per new member. */
	bool tree_out_of_band;
};

/* Builds a commit (always with an update path) and, if it adds members, a
 * Welcome carrying the ratchet tree. The commit is pending until
 * vl_group_commit_merge() or vl_group_commit_discard(). args may be NULL.
 * welcome is set to NULL when nobody is added. VL_ERR_STATE if a commit is
 * already pending. */
VL_MUST_CHECK int vl_group_commit(struct vl_group *g, const struct vl_commit_args *args,
                                  uint8_t **commit, size_t *commit_len, uint8_t **welcome,
                                  size_t *welcome_len);
/* The delivery service accepted the pending commit: move to its epoch. */
VL_MUST_CHECK int vl_group_commit_merge(struct vl_group *g);
/* The delivery service rejected it: forget it. */
void vl_group_commit_discard(struct vl_group *g);
bool vl_group_commit_pending(const struct vl_group *g);

enum vl_group_msg_kind {
	VL_GROUP_MSG_APPLICATION = 1,
	VL_GROUP_MSG_PROPOSAL = 2,
	VL_GROUP_MSG_COMMIT = 3,
};

struct vl_group_msg {
	enum vl_group_msg_kind kind;
	uint32_t sender; /* leaf index of the sender */
	uint8_t *data;   /* application data (heap, free() it), else NULL */
	size_t data_len;
	bool removed_self; /* the commit removed this member */
};

/* Processes one incoming MLSMessage of this group: an application message
 * (decrypted into out->data), a proposal (cached) or a commit (applied;
 * the group moves to the next epoch). VL_ERR_STALE_EPOCH for a message of
 * another epoch; VL_ERR_CRYPTO for a bad signature, tag or ciphertext;
 * VL_ERR_INVALID for a commit that breaks a rule of RFC 9420 §12 (and for
 * this member's own commit coming back: use vl_group_commit_merge()). On
 * error the group is unchanged. */
VL_MUST_CHECK int vl_group_process(struct vl_group *g, const uint8_t *msg, size_t msg_len,
                                   struct vl_group_msg *out);
/* Encrypts application data into a PrivateMessage. */
VL_MUST_CHECK int vl_group_encrypt(struct vl_group *g, const uint8_t *data, size_t len,
                                   const uint8_t *aad, size_t aad_len, uint8_t **msg,
                                   size_t *msg_len);

/* The current ratchet tree, encoded as the ratchet_tree extension carries
 * it (heap buffer, free() it). */
VL_MUST_CHECK int vl_group_ratchet_tree(const struct vl_group *g, uint8_t **out, size_t *out_len);

/* --- External joins (§12.4.3.2) ---------------------------------------- */

/* A signed GroupInfo (MLSMessage) of the current epoch with external_pub,
 * and the ratchet tree if with_tree, for clients joining by external
 * commit. VL_ERR_STATE at epoch 0 (no commit has confirmed it yet). */
VL_MUST_CHECK int vl_group_group_info(struct vl_group *g, bool with_tree, uint8_t **out,
                                      size_t *out_len);
/* Joins by external commit: validates the GroupInfo as a Welcome joiner
 * would (tree from its extension or ratchet_tree), takes the leftmost free
 * leaf with a basic credential holding identity (sig_priv may be NULL to
 * generate a key) and builds the commit to send. The group returned is
 * already in the new epoch; if the delivery service rejects the commit,
 * free it and try again from a fresh GroupInfo. */
VL_MUST_CHECK int vl_group_join_external(const uint8_t *group_info, size_t gi_len,
                                         const uint8_t *ratchet_tree, size_t rt_len,
                                         const uint8_t *identity, size_t identity_len,
                                         const uint8_t *sig_priv, const struct vl_group_config *cfg,
                                         uint8_t **commit, size_t *commit_len,
                                         struct vl_group **out);

/* --- Persistence ------------------------------------------------------- */

/* Serialises the group state (heap buffer, free() it). The bytes hold every
 * secret of the epoch: the caller seals them before storing (the client
 * store does). VL_ERR_STATE while a commit is pending: merge or discard it
 * first. The configuration is not part of the state. */
VL_MUST_CHECK int vl_group_export(const struct vl_group *g, uint8_t **out, size_t *out_len);
/* Restores a state made by vl_group_export(); cfg may be NULL. Every size
 * and count is checked: bad input gives VL_ERR_DECODE or VL_ERR_LIMIT. */
VL_MUST_CHECK int vl_group_import(const uint8_t *buf, size_t len, const struct vl_group_config *cfg,
                                  struct vl_group **out);

/* --- Accessors ---------------------------------------------------------- */

uint64_t vl_group_epoch(const struct vl_group *g);
uint16_t vl_group_cipher_suite(const struct vl_group *g);
bool vl_group_active(const struct vl_group *g);
uint32_t vl_group_own_leaf(const struct vl_group *g);
/* Leaves in the tree (including blank ones) and members (non-blank). */
uint32_t vl_group_leaf_count(const struct vl_group *g);
uint32_t vl_group_member_count(const struct vl_group *g);
/* The credential of the member at leaf: type and, for basic credentials,
 * the identity (borrowed until the group changes). VL_ERR_NOT_FOUND for a
 * blank leaf. */
VL_MUST_CHECK int vl_group_member(const struct vl_group *g, uint32_t leaf, uint16_t *cred_type,
                                  const uint8_t **identity, size_t *identity_len);
/* The epoch authenticator (§8.7) into out[*len]; *len is set to its size
 * (at most 64). */
void vl_group_epoch_authenticator(const struct vl_group *g, uint8_t out[64], size_t *len);
/* MLS-Exporter (§8.5). */
VL_MUST_CHECK int vl_group_export_secret(const struct vl_group *g, const char *label,
                                         const uint8_t *context, size_t context_len, uint8_t *out,
                                         size_t out_len);

#ifdef __cplusplus
}
#endif
#endif
