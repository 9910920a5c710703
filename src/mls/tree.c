/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ratchet tree storage, evolution, hashing and validation (RFC 9420 §§4,
 * 7, 12.4.3.1). Costs: tree hashes are cached, so a commit rehashes only
 * its path; joining validates a tree of n leaves in O(n log n) hashes and
 * n signature verifications, with hash sets for the uniqueness rules.
 */
#include "mls/tree.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mls/treemath.h"
#include "wire/wire.h"

/* Largest tree accepted: the structure decoder's limit. */
#define TREE_MAX_LEAVES VL_MLS_MAX_LEAVES

static struct mls_tnode *node_at(const struct mls_tree *t, uint32_t x)
{
	return &t->nodes[x];
}

static void leaf_free(struct mls_leaf *l)
{
	vl_sig_key_free(l->sig_key);
	free(l->enc);
}

static void parent_free(struct mls_parent *p)
{
	free(p->key);
	free(p->parent_hash);
	free(p->unmerged);
}

static void node_clear(struct mls_tnode *n)
{
	if (n->type == VL_MLS_NODE_LEAF)
		leaf_free(&n->leaf);
	else if (n->type == VL_MLS_NODE_PARENT)
		parent_free(&n->parent);
	memset(n, 0, sizeof *n);
}

/* Invalidates the cached tree hash of x and of all its ancestors. */
static void dirty(struct mls_tree *t, uint32_t x)
{
	for (;;) {
		t->nodes[x].hash_ok = false;
		uint32_t p;
		if (!mls_tm_parent(x, t->n_leaves, &p))
			return;
		x = p;
	}
}

/* --- Undo journal --- */

int mls_tree_journal_begin(struct mls_tree *t)
{
	t->journaling = true;
	t->j_n_leaves = t->n_leaves;
	t->j_len = 0;
	return VL_OK;
}

/* Makes sure node x's current version is saved. With take, the node's
 * resources move to the journal and the node is left blank (the caller
 * replaces it); otherwise a deep copy is saved (parents changed in
 * place). */
static int journal_save(struct mls_tree *t, uint32_t x, bool take)
{
	if (!t->journaling)
		return VL_OK;
	if (x >= t->j_mark_len) {
		size_t n = (size_t)x * 2 + 64;
		uint8_t *m = realloc(t->j_mark, n);
		if (!m)
			return VL_ERR_NOMEM;
		memset(m + t->j_mark_len, 0, n - t->j_mark_len);
		t->j_mark = m;
		t->j_mark_len = n;
	}
	if (t->j_mark[x])
		return VL_OK;
	if (t->j_len == t->j_cap) {
		size_t cap = t->j_cap ? 2 * t->j_cap : 32;
		struct mls_journal_entry *j = realloc(t->journal, cap * sizeof *j);
		if (!j)
			return VL_ERR_NOMEM;
		t->journal = j;
		t->j_cap = cap;
	}
	struct mls_journal_entry *e = &t->journal[t->j_len];
	e->x = x;
	struct mls_tnode *n = &t->nodes[x];
	if (take || n->type != VL_MLS_NODE_PARENT) {
		/* Leaves are never changed in place: moving is enough. */
		e->old = *n;
		memset(n, 0, sizeof *n);
		if (!take) {
			/* Not replacing: keep the node as it was, sharing
			 * nothing (only blank nodes get here). */
			*n = e->old;
		}
	} else {
		const struct mls_parent *p = &n->parent;
		struct mls_parent c = {.key_len = p->key_len,
		                       .parent_hash_len = p->parent_hash_len,
		                       .n_unmerged = p->n_unmerged};
		c.key = malloc(p->key_len ? p->key_len : 1);
		c.parent_hash = malloc(p->parent_hash_len ? p->parent_hash_len : 1);
		c.unmerged = malloc(p->n_unmerged ? p->n_unmerged * sizeof *c.unmerged : 1);
		if (!c.key || !c.parent_hash || !c.unmerged) {
			free(c.key);
			free(c.parent_hash);
			free(c.unmerged);
			return VL_ERR_NOMEM;
		}
		if (p->key_len)
			memcpy(c.key, p->key, p->key_len);
		if (p->parent_hash_len)
			memcpy(c.parent_hash, p->parent_hash, p->parent_hash_len);
		if (p->n_unmerged)
			memcpy(c.unmerged, p->unmerged, p->n_unmerged * sizeof *c.unmerged);
		e->old = *n;
		e->old.parent = c;
	}
	t->j_mark[x] = 1;
	t->j_len++;
	return VL_OK;
}

static void journal_free(struct mls_tree *t)
{
	free(t->journal);
	free(t->j_mark);
	t->journal = NULL;
	t->j_mark = NULL;
	t->j_len = t->j_cap = t->j_mark_len = 0;
	t->journaling = false;
}

void mls_tree_journal_commit(struct mls_tree *t)
{
	for (size_t i = 0; i < t->j_len; i++)
		node_clear(&t->journal[i].old);
	journal_free(t);
}

/* Resizes the node array without journaling (rollback only). */
static void resize_raw(struct mls_tree *t, uint32_t n_leaves)
{
	uint32_t old = 2 * t->n_leaves - 1, w = 2 * n_leaves - 1;
	for (uint32_t x = w; x < old; x++)
		node_clear(&t->nodes[x]);
	struct mls_tnode *n = realloc(t->nodes, (size_t)w * sizeof *n);
	if (n) {
		t->nodes = n;
	} else if (w > old) {
		abort(); /* cannot restore: the journal's invariant is gone */
	}
	if (w > old)
		memset(t->nodes + old, 0, (size_t)(w - old) * sizeof *t->nodes);
	t->n_leaves = n_leaves;
}

void mls_tree_journal_rollback(struct mls_tree *t)
{
	t->blank_hint = 0;
	if (t->n_leaves < t->j_n_leaves)
		resize_raw(t, t->j_n_leaves);
	for (size_t i = t->j_len; i-- > 0;) {
		struct mls_journal_entry *e = &t->journal[i];
		if (e->x < 2 * t->n_leaves - 1) {
			node_clear(&t->nodes[e->x]);
			t->nodes[e->x] = e->old;
		} else {
			node_clear(&e->old);
		}
	}
	if (t->n_leaves > t->j_n_leaves)
		resize_raw(t, t->j_n_leaves);
	/* Cached hashes above anything restored may describe the abandoned
	 * tree. */
	t->journaling = false;
	for (size_t i = 0; i < t->j_len; i++)
		if (t->journal[i].x < 2 * t->n_leaves - 1)
			dirty(t, t->journal[i].x);
	journal_free(t);
}

int mls_tree_init(struct mls_tree *t, const struct vl_suite *s)
{
	memset(t, 0, sizeof *t);
	t->suite = s;
	t->n_leaves = 1;
	t->nodes = calloc(1, sizeof *t->nodes);
	vl_mls_arena_init(&t->arena, 0);
	return t->nodes ? VL_OK : VL_ERR_NOMEM;
}

void mls_tree_cleanup(struct mls_tree *t)
{
	if (t->journaling)
		mls_tree_journal_commit(t);
	if (t->nodes) {
		for (uint32_t i = 0; i < mls_tree_width(t); i++)
			node_clear(&t->nodes[i]);
		free(t->nodes);
	}
	vl_mls_arena_cleanup(&t->arena);
	memset(t, 0, sizeof *t);
}

/* Grows the tree to n_leaves (a larger power of two); new nodes are blank
 * and existing nodes keep their indices and hashes. */
static int tree_extend(struct mls_tree *t, uint32_t n_leaves)
{
	if (n_leaves > TREE_MAX_LEAVES)
		return VL_ERR_LIMIT;
	uint32_t old = mls_tree_width(t), w = 2 * n_leaves - 1;
	struct mls_tnode *n = realloc(t->nodes, (size_t)w * sizeof *n);
	if (!n)
		return VL_ERR_NOMEM;
	memset(n + old, 0, (size_t)(w - old) * sizeof *n);
	t->nodes = n;
	t->n_leaves = n_leaves;
	return VL_OK;
}

void mls_tree_truncate(struct mls_tree *t)
{
	while (t->n_leaves > 1) {
		uint32_t half = t->n_leaves / 2, w = mls_tree_width(t);
		/* Right half: nodes 2*half .. w-1 except... the root sits at
		 * half*2-1; the right subtree covers indices > root. */
		uint32_t root = mls_tm_root(t->n_leaves);
		bool blank = true;
		for (uint32_t x = root + 1; x < w && blank; x++)
			blank = t->nodes[x].type == VL_MLS_NODE_BLANK;
		if (!blank)
			return;
		for (uint32_t x = root; x < w; x++) {
			if (t->nodes[x].type != VL_MLS_NODE_BLANK &&
			    journal_save(t, x, true) != VL_OK)
				return; /* keep the tree as it is: still valid */
			node_clear(&t->nodes[x]);
		}
		t->n_leaves = half;
		struct mls_tnode *n = realloc(t->nodes, (size_t)mls_tree_width(t) * sizeof *n);
		if (n)
			t->nodes = n;
	}
}

/* Re-parses every leaf into a fresh arena once replaced leaves have left
 * more garbage than live data. */
static int tree_compact(struct mls_tree *t)
{
	struct vl_mls_arena a;
	vl_mls_arena_init(&a, 0);
	for (uint32_t i = 0; i < t->n_leaves; i++) {
		struct mls_tnode *n = node_at(t, 2 * i);
		if (n->type != VL_MLS_NODE_LEAF)
			continue;
		int rc = vl_mls_leaf_node_parse(n->leaf.enc, n->leaf.enc_len, &a, &n->leaf.ln);
		if (rc != VL_OK) {
			/* Cannot happen for bytes that parsed before; keep the
			 * old arena alive so that views stay valid. */
			vl_mls_arena_cleanup(&a);
			return rc;
		}
	}
	vl_mls_arena_cleanup(&t->arena);
	t->arena = a;
	t->arena_live = a.used;
	return VL_OK;
}

/* Makes leaf node x hold a copy of ln. */
static int leaf_assign(struct mls_tree *t, uint32_t x, const struct vl_mls_leaf_node *ln)
{
	struct mls_leaf l = {0};
	int rc = vl_mls_leaf_node_encode_alloc(ln, &l.enc, &l.enc_len);
	if (rc != VL_OK)
		return rc;
	size_t before = t->arena.used;
	rc = vl_mls_leaf_node_parse(l.enc, l.enc_len, &t->arena, &l.ln);
	if (rc != VL_OK) {
		free(l.enc);
		return rc;
	}
	t->arena_live += t->arena.used - before;
	rc = journal_save(t, x, true);
	if (rc != VL_OK) {
		free(l.enc);
		return rc;
	}
	node_clear(&t->nodes[x]);
	t->nodes[x].type = VL_MLS_NODE_LEAF;
	t->nodes[x].leaf = l;
	dirty(t, x);
	if (!t->journaling && t->arena.used > 2 * t->arena_live + (256u << 10))
		return tree_compact(t);
	return VL_OK;
}

static int bytes_dup(const uint8_t *p, size_t n, uint8_t **out)
{
	*out = malloc(n ? n : 1);
	if (!*out)
		return VL_ERR_NOMEM;
	if (n)
		memcpy(*out, p, n);
	return VL_OK;
}

static int parent_assign(struct mls_tree *t, uint32_t x, const uint8_t *key, size_t key_len,
                         const uint8_t *ph, size_t ph_len, const uint32_t *unmerged,
                         size_t n_unmerged)
{
	struct mls_parent p = {
	    .key_len = key_len, .parent_hash_len = ph_len, .n_unmerged = n_unmerged};
	int rc = bytes_dup(key, key_len, &p.key);
	if (rc == VL_OK)
		rc = bytes_dup(ph, ph_len, &p.parent_hash);
	if (rc == VL_OK && n_unmerged) {
		p.unmerged = malloc(n_unmerged * sizeof *p.unmerged);
		if (p.unmerged)
			memcpy(p.unmerged, unmerged, n_unmerged * sizeof *p.unmerged);
		else
			rc = VL_ERR_NOMEM;
	}
	if (rc == VL_OK)
		rc = journal_save(t, x, true);
	if (rc != VL_OK) {
		parent_free(&p);
		return rc;
	}
	node_clear(&t->nodes[x]);
	t->nodes[x].type = VL_MLS_NODE_PARENT;
	t->nodes[x].parent = p;
	dirty(t, x);
	return VL_OK;
}

int mls_tree_copy(struct mls_tree *dst, const struct mls_tree *src)
{
	int rc = mls_tree_init(dst, src->suite);
	if (rc == VL_OK && src->n_leaves > 1)
		rc = tree_extend(dst, src->n_leaves);
	for (uint32_t x = 0; rc == VL_OK && x < mls_tree_width(src); x++) {
		const struct mls_tnode *n = node_at(src, x);
		if (n->type == VL_MLS_NODE_LEAF)
			rc = leaf_assign(dst, x, &n->leaf.ln);
		else if (n->type == VL_MLS_NODE_PARENT)
			rc = parent_assign(dst, x, n->parent.key, n->parent.key_len,
			                   n->parent.parent_hash, n->parent.parent_hash_len,
			                   n->parent.unmerged, n->parent.n_unmerged);
	}
	if (rc == VL_OK) {
		for (uint32_t x = 0; x < mls_tree_width(src); x++) {
			dst->nodes[x].hash_ok = src->nodes[x].hash_ok;
			memcpy(dst->nodes[x].hash, src->nodes[x].hash, sizeof dst->nodes[x].hash);
		}
	} else {
		mls_tree_cleanup(dst);
	}
	return rc;
}

int mls_tree_load(struct mls_tree *t, const struct vl_suite *s,
                  const struct vl_mls_ratchet_tree *rt)
{
	int rc = mls_tree_init(t, s);
	if (rc != VL_OK)
		return rc;
	if (rt->count == 0 || rt->count > 2 * (size_t)TREE_MAX_LEAVES - 1 || rt->count % 2 == 0) {
		mls_tree_cleanup(t);
		return VL_ERR_INVALID;
	}
	uint32_t leaves = (uint32_t)(rt->count + 1) / 2, full = 1;
	while (full < leaves)
		full <<= 1;
	if (full > 1)
		rc = tree_extend(t, full);
	for (size_t x = 0; rc == VL_OK && x < rt->count; x++) {
		const struct vl_mls_node *n = &rt->nodes[x];
		if (n->type == VL_MLS_NODE_LEAF) {
			rc = (x % 2 == 0) ? leaf_assign(t, (uint32_t)x, &n->leaf) : VL_ERR_INVALID;
		} else if (n->type == VL_MLS_NODE_PARENT) {
			const struct vl_mls_parent_node *p = &n->parent;
			if (x % 2 == 0) {
				rc = VL_ERR_INVALID;
				break;
			}
			for (size_t i = 0; i < p->unmerged_leaves.count; i++)
				if (p->unmerged_leaves.items[i] >= leaves)
					rc = VL_ERR_INVALID;
			if (rc == VL_OK)
				rc = parent_assign(t, (uint32_t)x, p->encryption_key.data,
				                   p->encryption_key.len, p->parent_hash.data,
				                   p->parent_hash.len, p->unmerged_leaves.items,
				                   p->unmerged_leaves.count);
		}
	}
	if (rc != VL_OK)
		mls_tree_cleanup(t);
	return rc;
}

/* The struct view of a parent node, for the encoders. */
static struct vl_mls_parent_node parent_view(const struct mls_parent *p)
{
	return (struct vl_mls_parent_node){
	    .encryption_key = {p->key, p->key_len},
	    .parent_hash = {p->parent_hash, p->parent_hash_len},
	    .unmerged_leaves = {p->unmerged, p->n_unmerged},
	};
}

int mls_tree_encode_alloc(const struct mls_tree *t, uint8_t **out, size_t *out_len)
{
	uint32_t w = mls_tree_width(t);
	while (w > 0 && t->nodes[w - 1].type == VL_MLS_NODE_BLANK)
		w--;
	*out = NULL;
	*out_len = 0;
	struct vl_mls_node *nodes = calloc(w ? w : 1, sizeof *nodes);
	if (!nodes)
		return VL_ERR_NOMEM;
	for (uint32_t x = 0; x < w; x++) {
		const struct mls_tnode *n = node_at(t, x);
		nodes[x].type = n->type;
		if (n->type == VL_MLS_NODE_LEAF)
			nodes[x].leaf = n->leaf.ln;
		else if (n->type == VL_MLS_NODE_PARENT)
			nodes[x].parent = parent_view(&n->parent);
	}
	struct vl_mls_ratchet_tree rt = {nodes, w};
	int rc = vl_mls_ratchet_tree_encode_alloc(&rt, out, out_len);
	free(nodes);
	return rc;
}

const struct vl_mls_leaf_node *mls_tree_leaf(const struct mls_tree *t, uint32_t leaf)
{
	if (mls_tree_leaf_blank(t, leaf))
		return NULL;
	return &t->nodes[2 * leaf].leaf.ln;
}

int mls_tree_leaf_sig_key(struct mls_tree *t, uint32_t leaf, const struct vl_sig_key **out)
{
	*out = NULL;
	if (mls_tree_leaf_blank(t, leaf))
		return VL_ERR_NOT_FOUND;
	struct mls_leaf *l = &t->nodes[2 * leaf].leaf;
	if (!l->sig_key) {
		int rc = vl_sig_key_from_public(t->suite, l->ln.signature_key.data,
		                                l->ln.signature_key.len, &l->sig_key);
		if (rc != VL_OK)
			return rc;
	}
	*out = l->sig_key;
	return VL_OK;
}

int mls_tree_set_leaf(struct mls_tree *t, uint32_t leaf, const struct vl_mls_leaf_node *ln)
{
	if (leaf >= TREE_MAX_LEAVES)
		return VL_ERR_LIMIT;
	uint32_t full = t->n_leaves;
	while (full <= leaf)
		full <<= 1;
	int rc = full != t->n_leaves ? tree_extend(t, full) : VL_OK;
	return rc == VL_OK ? leaf_assign(t, 2 * leaf, ln) : rc;
}

int mls_tree_set_parent(struct mls_tree *t, uint32_t node, const uint8_t *key, size_t key_len,
                        const uint8_t *parent_hash, size_t parent_hash_len)
{
	if (node >= mls_tree_width(t) || mls_tm_is_leaf(node))
		return VL_ERR_ARG;
	return parent_assign(t, node, key, key_len, parent_hash, parent_hash_len, NULL, 0);
}

int mls_tree_blank(struct mls_tree *t, uint32_t node)
{
	if (node >= mls_tree_width(t) || t->nodes[node].type == VL_MLS_NODE_BLANK)
		return VL_OK;
	int rc = journal_save(t, node, true);
	if (rc != VL_OK)
		return rc;
	node_clear(&t->nodes[node]);
	dirty(t, node);
	if (mls_tm_is_leaf(node) && node / 2 < t->blank_hint)
		t->blank_hint = node / 2;
	return VL_OK;
}

int mls_tree_blank_path(struct mls_tree *t, uint32_t leaf)
{
	uint32_t dp[32];
	uint32_t n = mls_tm_direct_path(2 * leaf, t->n_leaves, dp);
	int rc = VL_OK;
	for (uint32_t i = 0; rc == VL_OK && i < n; i++)
		rc = mls_tree_blank(t, dp[i]);
	return rc;
}

/* Inserts leaf into a parent's sorted unmerged list. */
static int unmerged_add(struct mls_parent *p, uint32_t leaf)
{
	size_t i = p->n_unmerged;
	while (i > 0 && p->unmerged[i - 1] > leaf)
		i--;
	if (i > 0 && p->unmerged[i - 1] == leaf)
		return VL_OK;
	uint32_t *u = realloc(p->unmerged, (p->n_unmerged + 1) * sizeof *u);
	if (!u)
		return VL_ERR_NOMEM;
	memmove(u + i + 1, u + i, (p->n_unmerged - i) * sizeof *u);
	u[i] = leaf;
	p->unmerged = u;
	p->n_unmerged++;
	return VL_OK;
}

int mls_tree_add(struct mls_tree *t, const struct vl_mls_leaf_node *ln, uint32_t *leaf)
{
	/* blank_hint keeps a run of adds linear in the group's size. */
	uint32_t l = t->blank_hint < t->n_leaves ? t->blank_hint : t->n_leaves;
	while (l < t->n_leaves && !mls_tree_leaf_blank(t, l))
		l++;
	int rc = mls_tree_set_leaf(t, l, ln);
	if (rc != VL_OK)
		return rc;
	uint32_t dp[32];
	uint32_t n = mls_tm_direct_path(2 * l, t->n_leaves, dp);
	for (uint32_t i = 0; rc == VL_OK && i < n; i++) {
		struct mls_tnode *p = node_at(t, dp[i]);
		if (p->type == VL_MLS_NODE_PARENT) {
			rc = journal_save(t, dp[i], false);
			if (rc == VL_OK)
				rc = unmerged_add(&p->parent, l);
			dirty(t, dp[i]);
		}
	}
	*leaf = l;
	t->blank_hint = l + 1;
	return rc;
}

uint32_t mls_tree_leftmost_blank(const struct mls_tree *t)
{
	uint32_t l = t->blank_hint < t->n_leaves ? t->blank_hint : t->n_leaves;
	while (l < t->n_leaves && !mls_tree_leaf_blank(t, l))
		l++;
	return l;
}

int mls_tree_ensure_leaf(struct mls_tree *t, uint32_t leaf)
{
	if (leaf >= TREE_MAX_LEAVES)
		return VL_ERR_LIMIT;
	uint32_t full = t->n_leaves;
	while (full <= leaf)
		full <<= 1;
	return full != t->n_leaves ? tree_extend(t, full) : VL_OK;
}

int mls_tree_update(struct mls_tree *t, uint32_t leaf, const struct vl_mls_leaf_node *ln)
{
	if (mls_tree_leaf_blank(t, leaf))
		return VL_ERR_INVALID;
	int rc = leaf_assign(t, 2 * leaf, ln);
	if (rc == VL_OK)
		rc = mls_tree_blank_path(t, leaf);
	return rc;
}

int mls_tree_remove(struct mls_tree *t, uint32_t leaf)
{
	if (mls_tree_leaf_blank(t, leaf))
		return VL_ERR_INVALID;
	int rc = mls_tree_blank(t, 2 * leaf);
	if (rc == VL_OK)
		rc = mls_tree_blank_path(t, leaf);
	if (rc == VL_OK)
		mls_tree_truncate(t);
	return rc;
}

uint32_t mls_tree_member_count(const struct mls_tree *t)
{
	uint32_t n = 0;
	for (uint32_t l = 0; l < t->n_leaves; l++)
		n += !mls_tree_leaf_blank(t, l);
	return n;
}

/* --- Tree hashes (§7.8) --- */

/* Leaves [lo, hi] under node x. */
static void leaf_span(uint32_t x, uint32_t *lo, uint32_t *hi)
{
	uint32_t span = (UINT32_C(1) << mls_tm_level(x)) - 1;
	*lo = (x - span) / 2;
	*hi = (x + span) / 2;
}

/* True if a sorted list holds a value in [lo, hi]. */
static bool sorted_any_in(const uint32_t *v, size_t n, uint32_t lo, uint32_t hi)
{
	size_t a = 0, b = n;
	while (a < b) {
		size_t m = (a + b) / 2;
		if (v[m] < lo)
			a = m + 1;
		else
			b = m;
	}
	return a < n && v[a] <= hi;
}

static bool sorted_has(const uint32_t *v, size_t n, uint32_t x)
{
	return sorted_any_in(v, n, x, x);
}

/* Hash of a TreeHashInput for a leaf (§7.8). */
static int hash_leaf(struct mls_tree *t, uint32_t x, bool blank, uint8_t out[VL_HASH_MAX])
{
	struct vl_hash_ctx *c;
	uint8_t head[6] = {VL_MLS_NODE_LEAF};
	uint32_t li = x / 2;
	head[1] = (uint8_t)(li >> 24);
	head[2] = (uint8_t)(li >> 16);
	head[3] = (uint8_t)(li >> 8);
	head[4] = (uint8_t)li;
	const struct mls_tnode *n = node_at(t, x);
	bool present = !blank && n->type == VL_MLS_NODE_LEAF;
	head[5] = present ? 1 : 0;
	int rc = vl_hash_ctx_new(t->suite, &c);
	if (rc != VL_OK)
		return rc;
	rc = vl_hash_ctx_update(c, head, sizeof head);
	if (rc == VL_OK && present)
		rc = vl_hash_ctx_update(c, n->leaf.enc, n->leaf.enc_len);
	if (rc == VL_OK)
		rc = vl_hash_ctx_final(c, out);
	vl_hash_ctx_free(c);
	return rc;
}

/* Hash of a TreeHashInput for a parent given its children's hashes; leaves
 * listed in excl are dropped from the unmerged list. */
static int hash_parent(struct mls_tree *t, uint32_t x, const uint8_t *lh, const uint8_t *rh,
                       const uint32_t *excl, size_t n_excl, uint8_t out[VL_HASH_MAX])
{
	struct vl_writer w;
	const struct mls_tnode *n = node_at(t, x);
	size_t nh = t->suite->hash_len;
	vl_writer_init_heap(&w, 1u << 26);
	(void)!vl_write_u8(&w, VL_MLS_NODE_PARENT);
	if (n->type == VL_MLS_NODE_PARENT) {
		const struct mls_parent *p = &n->parent;
		(void)!vl_write_u8(&w, 1);
		(void)!vl_write_opaque(&w, p->key, p->key_len);
		(void)!vl_write_opaque(&w, p->parent_hash, p->parent_hash_len);
		size_t mark = vl_write_vector_begin(&w);
		for (size_t i = 0; i < p->n_unmerged; i++)
			if (!excl || !sorted_has(excl, n_excl, p->unmerged[i]))
				(void)!vl_write_u32(&w, p->unmerged[i]);
		(void)!vl_write_vector_end(&w, mark);
	} else {
		(void)!vl_write_u8(&w, 0);
	}
	(void)!vl_write_opaque(&w, lh, nh);
	int rc = vl_write_opaque(&w, rh, nh);
	if (rc == VL_OK)
		rc = vl_hash(t->suite, w.buf, w.len, out);
	vl_writer_cleanup(&w);
	return rc;
}

int mls_tree_hash(struct mls_tree *t, uint32_t x, uint8_t out[VL_HASH_MAX])
{
	struct mls_tnode *n = node_at(t, x);
	if (n->hash_ok) {
		memcpy(out, n->hash, VL_HASH_MAX);
		return VL_OK;
	}
	int rc;
	if (mls_tm_is_leaf(x)) {
		rc = hash_leaf(t, x, false, n->hash);
	} else {
		uint8_t lh[VL_HASH_MAX], rh[VL_HASH_MAX];
		uint32_t l, r;
		(void)mls_tm_left(x, &l);
		(void)mls_tm_right(x, &r);
		rc = mls_tree_hash(t, l, lh);
		if (rc == VL_OK)
			rc = mls_tree_hash(t, r, rh);
		if (rc == VL_OK)
			rc = hash_parent(t, x, lh, rh, NULL, 0, n->hash);
	}
	if (rc != VL_OK)
		return rc;
	n->hash_ok = true;
	memcpy(out, n->hash, VL_HASH_MAX);
	return VL_OK;
}

int mls_tree_root_hash(struct mls_tree *t, uint8_t out[VL_HASH_MAX])
{
	return mls_tree_hash(t, mls_tm_root(t->n_leaves), out);
}

/* Tree hash of x as if the leaves in excl were blank and absent from every
 * unmerged list (the "original" tree of §7.9). Subtrees holding none of
 * them use the cache. */
static int hash_excluding(struct mls_tree *t, uint32_t x, const uint32_t *excl, size_t n_excl,
                          uint8_t out[VL_HASH_MAX])
{
	uint32_t lo, hi;
	leaf_span(x, &lo, &hi);
	if (!sorted_any_in(excl, n_excl, lo, hi))
		return mls_tree_hash(t, x, out);
	if (mls_tm_is_leaf(x))
		return hash_leaf(t, x, true, out);
	uint8_t lh[VL_HASH_MAX], rh[VL_HASH_MAX];
	uint32_t l, r;
	(void)mls_tm_left(x, &l);
	(void)mls_tm_right(x, &r);
	int rc = hash_excluding(t, l, excl, n_excl, lh);
	if (rc == VL_OK)
		rc = hash_excluding(t, r, excl, n_excl, rh);
	if (rc == VL_OK)
		rc = hash_parent(t, x, lh, rh, excl, n_excl, out);
	return rc;
}

/* --- Resolution (§4.1.1) --- */

static void res_rec(const struct mls_tree *t, uint32_t x, uint32_t *out, size_t cap, size_t *n)
{
	const struct mls_tnode *nd = node_at(t, x);
	if (nd->type != VL_MLS_NODE_BLANK) {
		if (*n < cap)
			out[*n] = x;
		(*n)++;
		if (nd->type == VL_MLS_NODE_PARENT)
			for (size_t i = 0; i < nd->parent.n_unmerged; i++) {
				if (*n < cap)
					out[*n] = 2 * nd->parent.unmerged[i];
				(*n)++;
			}
		return;
	}
	uint32_t l, r;
	if (!mls_tm_left(x, &l))
		return;
	(void)mls_tm_right(x, &r);
	res_rec(t, l, out, cap, n);
	/* Past the cap only the count matters, and it can stop growing the
	 * caller's work: cut the walk short. */
	if (cap && *n > cap)
		return;
	res_rec(t, r, out, cap, n);
}

size_t mls_tree_resolution(const struct mls_tree *t, uint32_t node, uint32_t *out, size_t cap)
{
	size_t n = 0;
	res_rec(t, node, out, cap, &n);
	return n;
}

/* --- Parent hashes (§7.9) --- */

int mls_tree_parent_hash(struct mls_tree *t, uint32_t p, uint32_t s, uint8_t out[VL_HASH_MAX])
{
	const struct mls_parent *pp = &node_at(t, p)->parent;
	uint8_t sh[VL_HASH_MAX];
	int rc = hash_excluding(t, s, pp->unmerged, pp->n_unmerged, sh);
	if (rc != VL_OK)
		return rc;
	struct vl_writer w;
	vl_writer_init_heap(&w, 1u << 16);
	(void)!vl_write_opaque(&w, pp->key, pp->key_len);
	(void)!vl_write_opaque(&w, pp->parent_hash, pp->parent_hash_len);
	rc = vl_write_opaque(&w, sh, t->suite->hash_len);
	if (rc == VL_OK)
		rc = vl_hash(t->suite, w.buf, w.len, out);
	vl_writer_cleanup(&w);
	return rc;
}

/* The parent_hash field of a node, or false if it has none to check. */
static bool node_parent_hash(const struct mls_tnode *n, const uint8_t **ph, size_t *len)
{
	if (n->type == VL_MLS_NODE_PARENT) {
		*ph = n->parent.parent_hash;
		*len = n->parent.parent_hash_len;
		return true;
	}
	if (n->type == VL_MLS_NODE_LEAF && n->leaf.ln.source == VL_MLS_LEAF_SOURCE_COMMIT) {
		*ph = n->leaf.ln.parent_hash.data;
		*len = n->leaf.ln.parent_hash.len;
		return true;
	}
	return false;
}

/* True if D's parent hash is valid with respect to P (§7.9.2), where P is
 * D's lowest non-blank ancestor. */
static int chain_ok(struct mls_tree *t, uint32_t d, uint32_t p, bool *ok)
{
	const struct mls_tnode *dn = node_at(t, d);
	const struct mls_parent *pp = &node_at(t, p)->parent;
	const uint8_t *ph;
	size_t ph_len;
	*ok = false;
	if (!node_parent_hash(dn, &ph, &ph_len))
		return VL_OK;
	uint32_t l, r;
	(void)mls_tm_left(p, &l);
	(void)mls_tm_right(p, &r);
	uint32_t c = d < p ? l : r, s = d < p ? r : l;
	uint8_t want[VL_HASH_MAX];
	int rc = mls_tree_parent_hash(t, p, s, want);
	if (rc != VL_OK)
		return rc;
	if (ph_len != t->suite->hash_len || memcmp(ph, want, ph_len) != 0)
		return VL_OK;
	/* Resolution of C minus D must be exactly P's unmerged leaves under C. */
	uint32_t lo, hi;
	leaf_span(c, &lo, &hi);
	size_t m = 0;
	for (size_t i = 0; i < pp->n_unmerged; i++)
		m += pp->unmerged[i] >= lo && pp->unmerged[i] <= hi;
	uint32_t stackbuf[64];
	uint32_t *res = m + 1 <= 64 ? stackbuf : malloc((m + 1) * sizeof *res);
	if (!res)
		return VL_ERR_NOMEM;
	size_t n = mls_tree_resolution(t, c, res, m + 1);
	bool has_d = false, good = n == m + 1;
	for (size_t i = 0; good && i < n; i++) {
		if (res[i] == d)
			has_d = true;
		else if (!mls_tm_is_leaf(res[i]) ||
		         !sorted_has(pp->unmerged, pp->n_unmerged, res[i] / 2))
			good = false;
	}
	if (res != stackbuf)
		free(res);
	*ok = good && has_d;
	return VL_OK;
}

int mls_tree_verify_parent_hashes(struct mls_tree *t)
{
	uint32_t w = mls_tree_width(t);
	uint8_t *cover = calloc(w, 1);
	if (!cover)
		return VL_ERR_NOMEM;
	int rc = VL_OK;
	for (uint32_t d = 0; rc == VL_OK && d < w; d++) {
		if (node_at(t, d)->type == VL_MLS_NODE_BLANK)
			continue;
		uint32_t p = d;
		bool found = false;
		while (mls_tm_parent(p, t->n_leaves, &p))
			if (node_at(t, p)->type != VL_MLS_NODE_BLANK) {
				found = true;
				break;
			}
		if (!found)
			continue;
		bool ok;
		rc = chain_ok(t, d, p, &ok);
		if (rc == VL_OK && ok && cover[p]++ > 0)
			rc = VL_ERR_INVALID; /* two chains end at one node */
	}
	for (uint32_t x = 1; rc == VL_OK && x < w; x += 2)
		if (node_at(t, x)->type == VL_MLS_NODE_PARENT && cover[x] != 1)
			rc = VL_ERR_INVALID;
	free(cover);
	return rc;
}

/* --- Validation (§§7.3, 12.4.3.1) --- */

static uint64_t keyset_hash(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

int mls_keyset_init(struct mls_keyset *s, size_t n)
{
	s->cap = 16;
	while (s->cap < 2 * n + 1)
		s->cap <<= 1;
	s->count = 0;
	s->slot = calloc(s->cap, sizeof *s->slot);
	return s->slot ? VL_OK : VL_ERR_NOMEM;
}

void mls_keyset_cleanup(struct mls_keyset *s)
{
	free(s->slot);
	memset(s, 0, sizeof *s);
}

static size_t keyset_find(const struct mls_keyset *s, const uint8_t *p, size_t n)
{
	size_t i = (size_t)keyset_hash(p, n) & (s->cap - 1);
	while (s->slot[i].data) {
		if (s->slot[i].len == n && memcmp(s->slot[i].data, p, n) == 0)
			return i;
		i = (i + 1) & (s->cap - 1);
	}
	return i;
}

bool mls_keyset_has(const struct mls_keyset *s, const uint8_t *p, size_t n)
{
	return s->slot[keyset_find(s, p, n)].data != NULL;
}

int mls_keyset_insert(struct mls_keyset *s, const uint8_t *p, size_t n)
{
	if (2 * (s->count + 1) >= s->cap) {
		struct mls_keyset bigger;
		int rc = mls_keyset_init(&bigger, 2 * s->cap);
		if (rc != VL_OK)
			return rc;
		for (size_t i = 0; i < s->cap; i++)
			if (s->slot[i].data)
				bigger.slot[keyset_find(&bigger, s->slot[i].data, s->slot[i].len)] =
				    s->slot[i];
		bigger.count = s->count;
		free(s->slot);
		*s = bigger;
	}
	size_t i = keyset_find(s, p, n);
	if (s->slot[i].data)
		return VL_ERR_EXISTS;
	/* Empty values still need a non-NULL marker. */
	s->slot[i].data = n ? p : (const uint8_t *)"";
	s->slot[i].len = n;
	s->count++;
	return VL_OK;
}

static bool u16_has(const struct vl_mls_u16_list *l, uint16_t v)
{
	for (size_t i = 0; i < l->count; i++)
		if (l->items[i] == v)
			return true;
	return false;
}

/* §7.2: the default extension and proposal types need not be listed. */
static bool default_ext(uint16_t t)
{
	return t >= VL_MLS_EXT_APPLICATION_ID && t <= VL_MLS_EXT_EXTERNAL_SENDERS;
}
static bool default_proposal(uint16_t t)
{
	return t >= VL_MLS_PROPOSAL_ADD && t <= VL_MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS;
}

/* The checks of one leaf that need nothing but the leaf itself and the
 * group's required capabilities. */
int mls_leaf_self_check(const struct vl_mls_leaf_node *ln,
                        const struct vl_mls_required_capabilities *req)
{
	const struct vl_mls_capabilities *c = &ln->capabilities;
	if (!u16_has(&c->credentials, ln->credential.type))
		return VL_ERR_INVALID;
	for (size_t i = 0; i < ln->extensions.count; i++) {
		uint16_t et = ln->extensions.items[i].type;
		if (!default_ext(et) && !u16_has(&c->extensions, et))
			return VL_ERR_INVALID;
	}
	if (req) {
		for (size_t i = 0; i < req->extension_types.count; i++) {
			uint16_t et = req->extension_types.items[i];
			if (!default_ext(et) && !u16_has(&c->extensions, et))
				return VL_ERR_INVALID;
		}
		for (size_t i = 0; i < req->proposal_types.count; i++) {
			uint16_t pt = req->proposal_types.items[i];
			if (!default_proposal(pt) && !u16_has(&c->proposals, pt))
				return VL_ERR_INVALID;
		}
		for (size_t i = 0; i < req->credential_types.count; i++)
			if (!u16_has(&c->credentials, req->credential_types.items[i]))
				return VL_ERR_INVALID;
	}
	return VL_OK;
}

int mls_leaf_verify(const struct vl_suite *s, const struct vl_mls_leaf_node *ln,
                    const struct vl_mls_bytes *group_id, uint32_t leaf_index,
                    const struct vl_sig_key *key)
{
	/* Most leaves fit on the stack: joining a large group verifies every
	 * one of them, so this path avoids the heap unless a leaf is big. */
	uint8_t small[1024];
	struct vl_writer w;
	vl_writer_init_fixed(&w, small, sizeof small);
	int rc = vl_mls_leaf_node_tbs_encode(&w, ln, group_id, leaf_index);
	if (rc == VL_ERR_LIMIT) {
		vl_writer_init_heap(&w, VL_MLS_MAX_ENCODED);
		rc = vl_mls_leaf_node_tbs_encode(&w, ln, group_id, leaf_index);
	}
	if (rc == VL_OK)
		rc = key ? vl_mls_verify_with_label_key(key, "LeafNodeTBS", w.buf, w.len,
		                                        ln->signature.data, ln->signature.len)
		         : vl_mls_verify_with_label(s, ln->signature_key.data,
		                                    ln->signature_key.len, "LeafNodeTBS", w.buf,
		                                    w.len, ln->signature.data, ln->signature.len);
	vl_writer_cleanup(&w);
	return rc;
}

int mls_leaf_validate(struct mls_tree *t, const struct vl_mls_leaf_node *ln,
                      const struct vl_mls_bytes *group_id, uint32_t leaf_index,
                      const struct vl_mls_required_capabilities *required, uint32_t skip_leaf)
{
	int rc = mls_leaf_self_check(ln, required);
	if (rc != VL_OK)
		return rc;
	if (ln->encryption_key.len != t->suite->kem_pub_len ||
	    ln->signature_key.len != t->suite->sig_pub_len)
		return VL_ERR_INVALID;
	rc = mls_leaf_verify(t->suite, ln, group_id, leaf_index, NULL);
	if (rc != VL_OK)
		return rc;
	/* Credential types both ways, and key uniqueness, against members. */
	for (uint32_t l = 0; l < t->n_leaves; l++) {
		if (l == skip_leaf || mls_tree_leaf_blank(t, l))
			continue;
		const struct vl_mls_leaf_node *m = mls_tree_leaf(t, l);
		if (!u16_has(&m->capabilities.credentials, ln->credential.type) ||
		    !u16_has(&ln->capabilities.credentials, m->credential.type))
			return VL_ERR_INVALID;
		if ((m->signature_key.len == ln->signature_key.len &&
		     memcmp(m->signature_key.data, ln->signature_key.data, ln->signature_key.len) ==
		         0) ||
		    (m->encryption_key.len == ln->encryption_key.len &&
		     memcmp(m->encryption_key.data, ln->encryption_key.data,
		            ln->encryption_key.len) == 0))
			return VL_ERR_INVALID;
	}
	for (uint32_t x = 1; x < mls_tree_width(t); x += 2) {
		const struct mls_tnode *n = node_at(t, x);
		if (n->type == VL_MLS_NODE_PARENT && n->parent.key_len == ln->encryption_key.len &&
		    memcmp(n->parent.key, ln->encryption_key.data, n->parent.key_len) == 0)
			return VL_ERR_INVALID;
	}
	return VL_OK;
}

/* One thread's share of the leaf signatures: leaves first, first + stride,
 * ... Interleaving keeps the shares even: a tree is padded with blank
 * leaves up to a power of two, so contiguous halves would give one thread
 * most of the members. Each leaf is touched by one thread only (its cached
 * key included). */
struct verify_job {
	struct mls_tree *t;
	const struct vl_mls_bytes *group_id;
	uint32_t first, stride;
	int rc;
};

static void *verify_share(void *arg)
{
	struct verify_job *j = arg;
	j->rc = VL_OK;
	for (uint32_t l = j->first; l < j->t->n_leaves && j->rc == VL_OK; l += j->stride) {
		const struct vl_mls_leaf_node *ln = mls_tree_leaf(j->t, l);
		const struct vl_sig_key *key = NULL;
		if (!ln)
			continue;
		j->rc = mls_tree_leaf_sig_key(j->t, l, &key) == VL_OK ? VL_OK : VL_ERR_CRYPTO;
		if (j->rc == VL_OK)
			j->rc = mls_leaf_verify(j->t->suite, ln, j->group_id, l, key);
	}
	return NULL;
}

/* Verifies every leaf's signature, on several threads for large trees:
 * verification dominates the cost of joining a big group. */
static int verify_leaves(struct mls_tree *t, const struct vl_mls_bytes *group_id)
{
	enum { MAX_THREADS = 8, MIN_PER_THREAD = 128 };
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	uint32_t n = cpus > 1 ? (uint32_t)(cpus < MAX_THREADS ? cpus : MAX_THREADS) : 1;
	while (n > 1 && t->n_leaves / n < MIN_PER_THREAD)
		n--;
	struct verify_job jobs[MAX_THREADS];
	pthread_t th[MAX_THREADS];
	bool started[MAX_THREADS] = {false};
	for (uint32_t i = 0; i < n; i++) {
		jobs[i] = (struct verify_job){t, group_id, i, n, VL_OK};
		/* Thread 0 is this one; if a thread cannot start, its share is
		 * done here too. */
		if (i > 0)
			started[i] = pthread_create(&th[i], NULL, verify_share, &jobs[i]) == 0;
	}
	verify_share(&jobs[0]);
	int rc = jobs[0].rc;
	for (uint32_t i = 1; i < n; i++) {
		if (started[i])
			pthread_join(th[i], NULL);
		else
			verify_share(&jobs[i]);
		if (rc == VL_OK)
			rc = jobs[i].rc;
	}
	return rc;
}

int mls_tree_validate(struct mls_tree *t, const struct vl_mls_bytes *group_id,
                      const struct vl_mls_required_capabilities *required)
{
	uint32_t w = mls_tree_width(t);
	struct mls_keyset enc = {0}, sig = {0};
	int rc = mls_tree_verify_parent_hashes(t);
	if (rc == VL_OK)
		rc = mls_keyset_init(&enc, w);
	if (rc == VL_OK)
		rc = mls_keyset_init(&sig, t->n_leaves);
	/* Credential types in use, and the types every member supports: a
	 * leaf fails if it lacks a type in use (§7.3). Few distinct types
	 * exist, so the lists stay short. */
	uint16_t in_use[64];
	size_t n_in_use = 0;
	for (uint32_t l = 0; rc == VL_OK && l < t->n_leaves; l++) {
		const struct vl_mls_leaf_node *ln = mls_tree_leaf(t, l);
		if (!ln)
			continue;
		bool seen = false;
		for (size_t i = 0; i < n_in_use; i++)
			seen |= in_use[i] == ln->credential.type;
		if (!seen) {
			if (n_in_use == sizeof in_use / sizeof in_use[0])
				rc = VL_ERR_LIMIT;
			else
				in_use[n_in_use++] = ln->credential.type;
		}
	}
	for (uint32_t l = 0; rc == VL_OK && l < t->n_leaves; l++) {
		const struct vl_mls_leaf_node *ln = mls_tree_leaf(t, l);
		if (!ln)
			continue;
		rc = mls_leaf_self_check(ln, required);
		for (size_t i = 0; rc == VL_OK && i < n_in_use; i++)
			if (!u16_has(&ln->capabilities.credentials, in_use[i]))
				rc = VL_ERR_INVALID;
		if (rc == VL_OK && (ln->encryption_key.len != t->suite->kem_pub_len ||
		                    ln->signature_key.len != t->suite->sig_pub_len))
			rc = VL_ERR_INVALID;
		if (rc == VL_OK &&
		    (mls_keyset_insert(&enc, ln->encryption_key.data, ln->encryption_key.len) ||
		     mls_keyset_insert(&sig, ln->signature_key.data, ln->signature_key.len)))
			rc = VL_ERR_INVALID;
	}
	/* The signatures last: they are most of the cost of joining. */
	if (rc == VL_OK)
		rc = verify_leaves(t, group_id);
	for (uint32_t x = 1; rc == VL_OK && x < w; x += 2) {
		const struct mls_tnode *n = node_at(t, x);
		if (n->type != VL_MLS_NODE_PARENT)
			continue;
		const struct mls_parent *p = &n->parent;
		if (mls_keyset_insert(&enc, p->key, p->key_len))
			rc = VL_ERR_INVALID;
		for (size_t i = 0; rc == VL_OK && i < p->n_unmerged; i++) {
			uint32_t l = p->unmerged[i], lx = 2 * l;
			/* The unmerged leaf is a non-blank descendant, and every
			 * non-blank node between it and P lists it too. */
			if (mls_tree_leaf_blank(t, l) || !mls_tm_is_descendant(lx, x)) {
				rc = VL_ERR_INVALID;
				break;
			}
			uint32_t y = lx;
			while (rc == VL_OK && mls_tm_parent(y, t->n_leaves, &y) && y != x) {
				const struct mls_tnode *yn = node_at(t, y);
				if (yn->type == VL_MLS_NODE_PARENT &&
				    !sorted_has(yn->parent.unmerged, yn->parent.n_unmerged, l))
					rc = VL_ERR_INVALID;
			}
		}
	}
	mls_keyset_cleanup(&enc);
	mls_keyset_cleanup(&sig);
	return rc;
}
