/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ratchet tree (RFC 9420 §§4, 7): array of nodes, blank or holding a
 * LeafNode or a ParentNode; extension and truncation at the right edge
 * (§7.7); resolution (§4.1.1); tree hashes (§7.8) cached per node; parent
 * hashes (§7.9) and the validation a joiner performs (§12.4.3.1, §7.3).
 *
 * Invariants:
 *  1. n_leaves is a power of two; nodes has 2 * n_leaves - 1 entries.
 *  2. A leaf owns the encoding of its LeafNode (enc); its parsed view (ln)
 *     points into enc and into the tree's arena.
 *  3. A parent owns copies of its encryption key, parent hash and sorted
 *     unmerged leaves.
 *  4. hash_ok on a node means hash is the tree hash of its subtree; every
 *     change clears it on the node and all its ancestors.
 *  5. A leaf's loaded signature key (sig_key) always matches ln.
 */
#ifndef VL_MLS_TREE_H
#define VL_MLS_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "mls/struct/struct.h"

struct mls_leaf {
	uint8_t *enc; /* owned LeafNode encoding */
	size_t enc_len;
	struct vl_mls_leaf_node ln; /* view into enc and the tree arena */
	struct vl_sig_key *sig_key; /* loaded lazily */
};

struct mls_parent {
	uint8_t *key; /* owned HPKE public key */
	size_t key_len;
	uint8_t *parent_hash; /* owned; may be empty */
	size_t parent_hash_len;
	uint32_t *unmerged; /* owned, strictly increasing */
	size_t n_unmerged;
};

struct mls_tnode {
	uint8_t type; /* VL_MLS_NODE_BLANK, _LEAF or _PARENT */
	bool hash_ok;
	uint8_t hash[VL_HASH_MAX];
	union {
		struct mls_leaf leaf;
		struct mls_parent parent;
	};
};

/* A node as it was before the first change made under a journal. */
struct mls_journal_entry {
	uint32_t x;
	struct mls_tnode old;
};

struct mls_tree {
	const struct vl_suite *suite;
	uint32_t n_leaves; /* power of two */
	struct mls_tnode *nodes;
	struct vl_mls_arena arena; /* leaf views */
	size_t arena_live;         /* estimate of live arena bytes, for compaction */
	uint32_t blank_hint;       /* no blank leaf below this index */
	/* Undo journal (mls_tree_journal_begin): the old version of every
	 * node changed since, so that a failed commit costs only what it
	 * touched instead of a copy of the whole tree. */
	bool journaling;
	uint32_t j_n_leaves;
	struct mls_journal_entry *journal;
	size_t j_len, j_cap;
	uint8_t *j_mark; /* per node: already saved */
	size_t j_mark_len;
};

/* An empty tree of one blank leaf. */
VL_MUST_CHECK int mls_tree_init(struct mls_tree *t, const struct vl_suite *s);
void mls_tree_cleanup(struct mls_tree *t);
/* Deep copy (the copy shares nothing with the source). */
VL_MUST_CHECK int mls_tree_copy(struct mls_tree *dst, const struct mls_tree *src);

/* Starts recording changes so that they can be undone. While a journal is
 * open the leaf arena is not compacted. */
VL_MUST_CHECK int mls_tree_journal_begin(struct mls_tree *t);
/* Keeps the changes and frees what they replaced. */
void mls_tree_journal_commit(struct mls_tree *t);
/* Puts the tree back as it was at mls_tree_journal_begin(). */
void mls_tree_journal_rollback(struct mls_tree *t);

/* Loads a decoded ratchet tree (§12.4.3.3): copies every node. Checks the
 * form (leaf count within limits, unmerged leaves inside the tree) but not
 * signatures or hashes: see mls_tree_validate(). */
VL_MUST_CHECK int mls_tree_load(struct mls_tree *t, const struct vl_suite *s,
                                const struct vl_mls_ratchet_tree *rt);
/* Encodes optional<Node> ratchet_tree<V> with trailing blanks removed
 * (heap buffer, free() it). */
VL_MUST_CHECK int mls_tree_encode_alloc(const struct mls_tree *t, uint8_t **out, size_t *out_len);

static inline uint32_t mls_tree_width(const struct mls_tree *t)
{
	return 2 * t->n_leaves - 1;
}
static inline bool mls_tree_leaf_blank(const struct mls_tree *t, uint32_t leaf)
{
	return leaf >= t->n_leaves || t->nodes[2 * leaf].type != VL_MLS_NODE_LEAF;
}
/* The LeafNode at leaf, or NULL if blank or outside the tree. */
const struct vl_mls_leaf_node *mls_tree_leaf(const struct mls_tree *t, uint32_t leaf);
/* The leaf's signature key, loaded once and cached. */
VL_MUST_CHECK int mls_tree_leaf_sig_key(struct mls_tree *t, uint32_t leaf,
                                        const struct vl_sig_key **out);

/* Sets the leaf to a copy of ln (extending the tree if needed). */
VL_MUST_CHECK int mls_tree_set_leaf(struct mls_tree *t, uint32_t leaf,
                                    const struct vl_mls_leaf_node *ln);
/* Sets a parent node (copies key and parent hash; unmerged emptied). */
VL_MUST_CHECK int mls_tree_set_parent(struct mls_tree *t, uint32_t node, const uint8_t *key,
                                      size_t key_len, const uint8_t *parent_hash,
                                      size_t parent_hash_len);
/* Blanks a node. Fails only when a journal cannot record it. */
VL_MUST_CHECK int mls_tree_blank(struct mls_tree *t, uint32_t node);
/* Blanks every node of the leaf's direct path. */
VL_MUST_CHECK int mls_tree_blank_path(struct mls_tree *t, uint32_t leaf);

/* Add (§12.1.1): the leftmost blank leaf, or a new one after extending the
 * tree; the new leaf is added to the unmerged leaves of every non-blank
 * parent on its direct path. */
VL_MUST_CHECK int mls_tree_add(struct mls_tree *t, const struct vl_mls_leaf_node *ln,
                               uint32_t *leaf);
/* The leftmost blank leaf, or n_leaves if there is none. */
uint32_t mls_tree_leftmost_blank(const struct mls_tree *t);
/* Extends the tree until it holds leaf. */
VL_MUST_CHECK int mls_tree_ensure_leaf(struct mls_tree *t, uint32_t leaf);

/* Update (§12.1.2): replaces the leaf and blanks its direct path. */
VL_MUST_CHECK int mls_tree_update(struct mls_tree *t, uint32_t leaf,
                                  const struct vl_mls_leaf_node *ln);
/* Remove (§12.1.3): blanks the leaf and its direct path, then truncates. */
VL_MUST_CHECK int mls_tree_remove(struct mls_tree *t, uint32_t leaf);
/* Truncates while the right half is blank (§7.7). */
void mls_tree_truncate(struct mls_tree *t);
/* Number of non-blank leaves. */
uint32_t mls_tree_member_count(const struct mls_tree *t);

/* Tree hash of a node (§7.8), cached. */
VL_MUST_CHECK int mls_tree_hash(struct mls_tree *t, uint32_t node, uint8_t out[VL_HASH_MAX]);
VL_MUST_CHECK int mls_tree_root_hash(struct mls_tree *t, uint8_t out[VL_HASH_MAX]);

/* Resolution of a node (§4.1.1) into out[cap]; returns the number of
 * entries. With cap 0 only counts (out may be NULL). With cap > 0 and a
 * resolution larger than cap, returns some value above cap (the walk stops
 * early) and out holds the first cap entries. */
size_t mls_tree_resolution(const struct mls_tree *t, uint32_t node, uint32_t *out, size_t cap);

/* Parent hash of parent node p with copath child s (§7.9): Hash of
 * ParentHashInput with the original sibling tree hash of s. */
VL_MUST_CHECK int mls_tree_parent_hash(struct mls_tree *t, uint32_t p, uint32_t s,
                                       uint8_t out[VL_HASH_MAX]);
/* Verifies that every non-blank parent is parent-hash valid (§7.9.2),
 * bottom up, in O(n log n). VL_ERR_INVALID otherwise. */
VL_MUST_CHECK int mls_tree_verify_parent_hashes(struct mls_tree *t);

/* Everything a joiner checks of a tree (§12.4.3.1) but the tree hash
 * against the GroupContext: parent hashes, every leaf (§7.3: signature
 * with group_id, source rules, extensions listed in capabilities,
 * credential types supported by all, required capabilities if given),
 * unmerged-leaf rules, uniqueness of encryption and signature keys.
 * required may be NULL. VL_ERR_INVALID or VL_ERR_CRYPTO. */
VL_MUST_CHECK int mls_tree_validate(struct mls_tree *t, const struct vl_mls_bytes *group_id,
                                    const struct vl_mls_required_capabilities *required);

/* §7.3 checks of one leaf node in a group context: signature (group_id
 * and leaf index bind update/commit leaves), extensions listed in its own
 * capabilities, required capabilities, credential type supported by every
 * member and every member's credential type supported by it, lifetime
 * ignored (§7.3 leaves it to the receiver; checked by the caller if
 * wanted). skip_leaf (UINT32_MAX for none) is ignored when comparing with
 * members, e.g. the leaf being replaced. */
VL_MUST_CHECK int mls_leaf_validate(struct mls_tree *t, const struct vl_mls_leaf_node *ln,
                                    const struct vl_mls_bytes *group_id, uint32_t leaf_index,
                                    const struct vl_mls_required_capabilities *required,
                                    uint32_t skip_leaf);

/* The checks of §7.3 that need only the leaf and the group's required
 * capabilities: own credential type and extensions listed in its
 * capabilities, required capabilities met. */
VL_MUST_CHECK int mls_leaf_self_check(const struct vl_mls_leaf_node *ln,
                                      const struct vl_mls_required_capabilities *required);
/* Verifies a LeafNode's signature (LeafNodeTBS with group_id and leaf index
 * for sources update and commit) with key, or with its own signature_key if
 * key is NULL. */
VL_MUST_CHECK int mls_leaf_verify(const struct vl_suite *s, const struct vl_mls_leaf_node *ln,
                                  const struct vl_mls_bytes *group_id, uint32_t leaf_index,
                                  const struct vl_sig_key *key);

/* A set of byte strings (borrowed, must outlive the set) with O(1)
 * insertion and lookup, for the uniqueness rules of §7.3. */
struct mls_keyset {
	struct vl_mls_bytes *slot;
	size_t cap, count;
};
VL_MUST_CHECK int mls_keyset_init(struct mls_keyset *s, size_t expected);
void mls_keyset_cleanup(struct mls_keyset *s);
bool mls_keyset_has(const struct mls_keyset *s, const uint8_t *p, size_t n);
/* VL_ERR_EXISTS if already present. */
VL_MUST_CHECK int mls_keyset_insert(struct mls_keyset *s, const uint8_t *p, size_t n);

#endif
