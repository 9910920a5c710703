/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TreeKEM (RFC 9420 §§7.4-7.6): the private keys a member holds on its
 * direct path, creating an UpdatePath (path secrets, node keys, parent
 * hashes, HPKE encryption to the copath resolutions with new members
 * excluded), merging one into the tree and decrypting it.
 *
 * Invariants:
 *  1. struct mls_tree_priv holds the member's leaf private key and the
 *     private key of each parent node on its direct path that it knows;
 *     every key matches the public key of that node in the tree
 *     (mls_tree_priv_check verifies this).
 *  2. Path and node secrets are wiped as soon as the keys are derived.
 */
#ifndef VL_MLS_TREEKEM_H
#define VL_MLS_TREEKEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "mls/tree.h"

#define MLS_PATH_MAX 32

struct mls_tree_priv {
	uint32_t leaf;
	uint8_t leaf_priv[VL_KEM_PRIV_MAX];
	uint32_t n;                  /* entries used below */
	uint32_t node[MLS_PATH_MAX]; /* parent node index */
	uint8_t priv[MLS_PATH_MAX][VL_KEM_PRIV_MAX];
};

void mls_tree_priv_wipe(struct mls_tree_priv *p);
/* Stores the key pair derived from a node's path secret (§7.4). If pub is
 * non-NULL it receives the public key. */
VL_MUST_CHECK int mls_tree_priv_set_path_secret(struct mls_tree_priv *p, const struct vl_suite *s,
                                                uint32_t node, const uint8_t *path_secret,
                                                uint8_t *pub);
/* The private key held for a node (leaf or parent), or NULL. */
const uint8_t *mls_tree_priv_find(const struct mls_tree_priv *p, uint32_t node);
/* Drops keys of nodes that are blank in the tree or no longer on the
 * member's direct path. */
void mls_tree_priv_prune(struct mls_tree_priv *p, const struct mls_tree *t);
/* VL_OK if every key held matches the tree (invariant 1), else
 * VL_ERR_INVALID. */
VL_MUST_CHECK int mls_tree_priv_check(const struct mls_tree_priv *p, const struct mls_tree *t);

/* Filtered direct path of a leaf (§4.1.2) and the copath child of each of
 * its nodes. Returns the length. */
uint32_t mls_tree_filtered_path(const struct mls_tree *t, uint32_t leaf, uint32_t fdp[MLS_PATH_MAX],
                                uint32_t copath[MLS_PATH_MAX]);

/* Sets the public keys of the sender's filtered direct path (blanking the
 * rest of its direct path, clearing unmerged lists) and computes parent
 * hashes root to leaf; leaf_ph receives the parent hash the sender's leaf
 * must carry (*leaf_ph_len 0 if the path is empty). keys[i] has
 * kem_pub_len bytes. VL_ERR_INVALID if n differs from the filtered path's
 * length. The leaf itself is not changed. */
VL_MUST_CHECK int mls_tree_apply_path(struct mls_tree *t, uint32_t leaf,
                                      const struct vl_mls_bytes *keys, size_t n,
                                      uint8_t leaf_ph[VL_HASH_MAX], size_t *leaf_ph_len);

/* Receiver side (§7.5): merges a decoded UpdatePath from sender into the
 * tree: applies its keys, checks that its leaf carries the right parent
 * hash (VL_ERR_INVALID otherwise) and installs the leaf. The sender's leaf
 * may be blank (external commit) but must lie inside the tree. Leaf validation
 * (§7.3) is the caller's. */
VL_MUST_CHECK int mls_tree_merge_path(struct mls_tree *t, uint32_t sender,
                                      const struct vl_mls_update_path *path);

/* Receiver side, after the merge: decrypts the path secret meant for the
 * member (excluded: sorted leaves added by the same commit), derives the
 * keys above it, checks them against the path and updates priv.
 * group_context is the encoded provisional GroupContext. path_secret (may
 * be NULL) receives the first decrypted path secret, commit_secret the
 * commit secret. */
VL_MUST_CHECK int mls_treekem_decap(const struct mls_tree *t, struct mls_tree_priv *priv,
                                    uint32_t sender, const struct vl_mls_update_path *path,
                                    const uint32_t *excluded, size_t n_excluded,
                                    const uint8_t *group_context, size_t group_context_len,
                                    uint8_t *path_secret, uint8_t commit_secret[VL_HASH_MAX]);

/* Sender side, step one: fresh leaf key pair and path secrets, keys set in
 * the tree with parent hashes (mls_tree_apply_path). The caller then
 * builds and signs its new LeafNode with leaf_pub and leaf_ph, installs it
 * (mls_tree_set_leaf), computes the provisional GroupContext and calls
 * mls_treekem_encap. */
struct mls_path_secrets {
	uint32_t n;
	uint32_t fdp[MLS_PATH_MAX], copath[MLS_PATH_MAX];
	uint8_t secret[MLS_PATH_MAX][VL_HASH_MAX];
	uint8_t pub[MLS_PATH_MAX][VL_KEM_PUB_MAX];
	uint8_t commit_secret[VL_HASH_MAX];
	uint8_t leaf_pub[VL_KEM_PUB_MAX];
	uint8_t leaf_ph[VL_HASH_MAX];
	size_t leaf_ph_len;
	struct mls_tree_priv priv; /* the sender's keys once merged */
};
void mls_path_secrets_wipe(struct mls_path_secrets *ps);
/* leaf_secret NULL draws a random one. */
VL_MUST_CHECK int mls_treekem_prepare(struct mls_tree *t, uint32_t leaf, const uint8_t *leaf_secret,
                                      struct mls_path_secrets *ps);
/* Sender side, step two: encrypts each path secret to the resolution of
 * its copath child, new members excluded, and fills path->nodes (arrays
 * and buffers allocated from arena). path->leaf_node is left to the
 * caller. */
VL_MUST_CHECK int mls_treekem_encap(const struct mls_tree *t, const struct mls_path_secrets *ps,
                                    const uint32_t *excluded, size_t n_excluded,
                                    const uint8_t *group_context, size_t group_context_len,
                                    struct vl_mls_arena *arena, struct vl_mls_update_path *path);

/* Path secret of the lowest node shared by the sender's filtered path and
 * the new member's direct path (for its Welcome, §12.4.3.1); false if
 * none. */
bool mls_treekem_joiner_secret(const struct mls_path_secrets *ps, uint32_t new_leaf,
                               const uint8_t **path_secret);

/* Signs a LeafNode (LeafNodeTBS, §7.2) in place: ln->signature is set to
 * sig_buf[VL_SIG_MAX]. group_id/leaf_index are used for sources update and
 * commit. */
VL_MUST_CHECK int mls_leaf_sign(const struct vl_sig_key *signer, struct vl_mls_leaf_node *ln,
                                const struct vl_mls_bytes *group_id, uint32_t leaf_index,
                                uint8_t sig_buf[VL_SIG_MAX]);

#endif
