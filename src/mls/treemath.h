/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tree math for the array representation of a left-balanced binary tree
 * (RFC 9420 §4.1, Appendix C). Leaves sit at even node indices (leaf i is
 * node 2i), parents at odd ones; a node's level is the number of trailing
 * one bits of its index. The tree is always "full" in the sense of §7.8:
 * the number of leaves is a power of two, so every function is a few bit
 * operations and none allocates.
 *
 * Functions whose result may not exist (the parent of the root, the left
 * child of a leaf) take an output pointer and return false instead.
 */
#ifndef VL_MLS_TREEMATH_H
#define VL_MLS_TREEMATH_H

#include <stdbool.h>
#include <stdint.h>

/* Largest supported number of leaves (2^30), so that node indices and
 * widths fit in uint32_t. */
#define MLS_TM_MAX_LEAVES (UINT32_C(1) << 30)

/* floor(log2(x)) for x > 0; 0 for x == 0. */
uint32_t mls_tm_log2(uint32_t x);
/* Level of a node: 0 for leaves. */
uint32_t mls_tm_level(uint32_t x);
/* Number of nodes of a tree with n_leaves leaves (2n - 1; 0 for 0). */
uint32_t mls_tm_node_width(uint32_t n_leaves);
/* Root node index of a tree with n_leaves > 0 leaves. */
uint32_t mls_tm_root(uint32_t n_leaves);
static inline uint32_t mls_tm_leaf_node(uint32_t leaf)
{
	return leaf * 2;
}
static inline bool mls_tm_is_leaf(uint32_t x)
{
	return (x & 1) == 0;
}
/* Children of a parent node; false for a leaf. */
bool mls_tm_left(uint32_t x, uint32_t *out);
bool mls_tm_right(uint32_t x, uint32_t *out);
/* Parent and sibling within a tree of n_leaves; false for the root or for a
 * node outside the tree. */
bool mls_tm_parent(uint32_t x, uint32_t n_leaves, uint32_t *out);
bool mls_tm_sibling(uint32_t x, uint32_t n_leaves, uint32_t *out);
/* Writes the direct path of x (parent up to the root, root included,
 * x excluded) into out (room for 32 entries) and returns its length. */
uint32_t mls_tm_direct_path(uint32_t x, uint32_t n_leaves, uint32_t out[32]);
/* Copath: the sibling of x and of each node of its direct path but the
 * root. Same length as the direct path. */
uint32_t mls_tm_copath(uint32_t x, uint32_t n_leaves, uint32_t out[32]);
/* Lowest common ancestor of two nodes. */
uint32_t mls_tm_common_ancestor(uint32_t x, uint32_t y);
/* True if node a is x itself or one of its descendants. */
bool mls_tm_is_descendant(uint32_t a, uint32_t x);

#endif
