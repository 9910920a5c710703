/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TreeKEM: path secrets, node key pairs, UpdatePath creation, merge and
 * decryption (RFC 9420 §§7.4-7.6, 4.1.2).
 */
#include "mls/treekem.h"

#include <stdlib.h>
#include <string.h>

#include "mls/treemath.h"

void mls_tree_priv_wipe(struct mls_tree_priv *p)
{
	vl_wipe(p, sizeof *p);
}

void mls_path_secrets_wipe(struct mls_path_secrets *ps)
{
	vl_wipe(ps, sizeof *ps);
}

/* node_secret = DeriveSecret(path_secret, "node"); key pair from it. */
static int node_keypair(const struct vl_suite *s, const uint8_t *path_secret, uint8_t *priv,
                        uint8_t *pub)
{
	uint8_t ns[VL_HASH_MAX];
	int rc = vl_mls_derive_secret(s, path_secret, "node", ns);
	if (rc == VL_OK)
		rc = vl_kem_derive_keypair(s, ns, s->hash_len, priv, pub);
	vl_wipe(ns, sizeof ns);
	return rc;
}

static int priv_store(struct mls_tree_priv *p, uint32_t node, const uint8_t *priv)
{
	uint32_t i;
	for (i = 0; i < p->n && p->node[i] != node; i++)
		;
	if (i == p->n) {
		if (p->n == MLS_PATH_MAX)
			return VL_ERR_LIMIT;
		p->n++;
	}
	p->node[i] = node;
	memcpy(p->priv[i], priv, VL_KEM_PRIV_MAX);
	return VL_OK;
}

int mls_tree_priv_set_path_secret(struct mls_tree_priv *p, const struct vl_suite *s, uint32_t node,
                                  const uint8_t *path_secret, uint8_t *pub)
{
	uint8_t priv[VL_KEM_PRIV_MAX] = {0}, pk[VL_KEM_PUB_MAX];
	int rc = node_keypair(s, path_secret, priv, pk);
	if (rc == VL_OK)
		rc = priv_store(p, node, priv);
	if (rc == VL_OK && pub)
		memcpy(pub, pk, s->kem_pub_len);
	vl_wipe(priv, sizeof priv);
	return rc;
}

const uint8_t *mls_tree_priv_find(const struct mls_tree_priv *p, uint32_t node)
{
	if (node == 2 * p->leaf)
		return p->leaf_priv;
	for (uint32_t i = 0; i < p->n; i++)
		if (p->node[i] == node)
			return p->priv[i];
	return NULL;
}

void mls_tree_priv_prune(struct mls_tree_priv *p, const struct mls_tree *t)
{
	uint32_t j = 0;
	for (uint32_t i = 0; i < p->n; i++) {
		uint32_t x = p->node[i];
		bool keep = x < mls_tree_width(t) && t->nodes[x].type == VL_MLS_NODE_PARENT &&
		            mls_tm_is_descendant(2 * p->leaf, x);
		if (keep) {
			if (j != i) {
				p->node[j] = x;
				memcpy(p->priv[j], p->priv[i], VL_KEM_PRIV_MAX);
			}
			j++;
		}
	}
	for (uint32_t i = j; i < p->n; i++)
		vl_wipe(p->priv[i], VL_KEM_PRIV_MAX);
	p->n = j;
}

/* True if priv is the private key of the public key pub. */
static bool key_matches(const struct vl_suite *s, const uint8_t *priv, const uint8_t *pub,
                        size_t pub_len)
{
	uint8_t pk[VL_KEM_PUB_MAX];
	return pub_len == s->kem_pub_len && vl_kem_public_from_private(s, priv, pk) == VL_OK &&
	       memcmp(pk, pub, pub_len) == 0;
}

int mls_tree_priv_check(const struct mls_tree_priv *p, const struct mls_tree *t)
{
	const struct vl_suite *s = t->suite;
	const struct vl_mls_leaf_node *ln = mls_tree_leaf(t, p->leaf);
	if (!ln || !key_matches(s, p->leaf_priv, ln->encryption_key.data, ln->encryption_key.len))
		return VL_ERR_INVALID;
	for (uint32_t i = 0; i < p->n; i++) {
		uint32_t x = p->node[i];
		if (x >= mls_tree_width(t) || t->nodes[x].type != VL_MLS_NODE_PARENT ||
		    !key_matches(s, p->priv[i], t->nodes[x].parent.key, t->nodes[x].parent.key_len))
			return VL_ERR_INVALID;
	}
	return VL_OK;
}

uint32_t mls_tree_filtered_path(const struct mls_tree *t, uint32_t leaf, uint32_t fdp[MLS_PATH_MAX],
                                uint32_t copath[MLS_PATH_MAX])
{
	uint32_t dp[32], cp[32], out = 0;
	uint32_t n = mls_tm_direct_path(2 * leaf, t->n_leaves, dp);
	(void)mls_tm_copath(2 * leaf, t->n_leaves, cp);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t one;
		/* §4.1.2: drop nodes whose copath child resolves to nothing. */
		if (mls_tree_resolution(t, cp[i], &one, 1) == 0)
			continue;
		fdp[out] = dp[i];
		copath[out] = cp[i];
		out++;
	}
	return out;
}

int mls_tree_apply_path(struct mls_tree *t, uint32_t leaf, const struct vl_mls_bytes *keys,
                        size_t n, uint8_t leaf_ph[VL_HASH_MAX], size_t *leaf_ph_len)
{
	uint32_t fdp[MLS_PATH_MAX], cp[MLS_PATH_MAX];
	uint32_t nf = mls_tree_filtered_path(t, leaf, fdp, cp);
	*leaf_ph_len = 0;
	if (n != nf)
		return VL_ERR_INVALID;
	for (size_t i = 0; i < n; i++)
		if (keys[i].len != t->suite->kem_pub_len)
			return VL_ERR_INVALID;
	int rc = mls_tree_blank_path(t, leaf);
	/* Root to leaf: each node's parent_hash is the parent hash of the
	 * next node up (empty at the top). */
	uint8_t ph[VL_HASH_MAX];
	size_t ph_len = 0;
	for (size_t i = n; rc == VL_OK && i-- > 0;) {
		rc = mls_tree_set_parent(t, fdp[i], keys[i].data, keys[i].len, ph, ph_len);
		if (rc == VL_OK)
			rc = mls_tree_parent_hash(t, fdp[i], cp[i], ph);
		ph_len = t->suite->hash_len;
	}
	if (rc == VL_OK && n > 0) {
		memcpy(leaf_ph, ph, VL_HASH_MAX);
		*leaf_ph_len = ph_len;
	}
	return rc;
}

int mls_tree_merge_path(struct mls_tree *t, uint32_t sender, const struct vl_mls_update_path *path)
{
	struct vl_mls_bytes keys[MLS_PATH_MAX];
	uint8_t ph[VL_HASH_MAX];
	size_t ph_len;
	/* The sender's leaf may be blank: an external joiner takes a free
	 * leaf (§12.4.2); the caller sized the tree. */
	if (path->node_count > MLS_PATH_MAX || sender >= t->n_leaves)
		return VL_ERR_INVALID;
	for (size_t i = 0; i < path->node_count; i++)
		keys[i] = path->nodes[i].encryption_key;
	int rc = mls_tree_apply_path(t, sender, keys, path->node_count, ph, &ph_len);
	if (rc != VL_OK)
		return rc;
	const struct vl_mls_bytes *got = &path->leaf_node.parent_hash;
	if (path->leaf_node.source != VL_MLS_LEAF_SOURCE_COMMIT || got->len != ph_len ||
	    (ph_len && memcmp(got->data, ph, ph_len) != 0))
		return VL_ERR_INVALID;
	return mls_tree_set_leaf(t, sender, &path->leaf_node);
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* The resolution of x without the excluded (new) leaves; heap array. */
static int resolution_excluding(const struct mls_tree *t, uint32_t x, const uint32_t *excluded,
                                size_t n_excluded, uint32_t **out, size_t *n)
{
	size_t cap = mls_tree_resolution(t, x, NULL, 0);
	uint32_t *r = malloc((cap ? cap : 1) * sizeof *r);
	if (!r)
		return VL_ERR_NOMEM;
	(void)mls_tree_resolution(t, x, r, cap);
	/* A commit adding thousands of members excludes thousands of leaves:
	 * look them up in a sorted copy. */
	uint32_t *ex = NULL;
	if (n_excluded) {
		ex = malloc(n_excluded * sizeof *ex);
		if (!ex) {
			free(r);
			return VL_ERR_NOMEM;
		}
		memcpy(ex, excluded, n_excluded * sizeof *ex);
		qsort(ex, n_excluded, sizeof *ex, u32_cmp);
	}
	size_t m = 0;
	for (size_t i = 0; i < cap; i++) {
		uint32_t leaf = r[i] / 2;
		if (!(ex && mls_tm_is_leaf(r[i]) &&
		      bsearch(&leaf, ex, n_excluded, sizeof *ex, u32_cmp)))
			r[m++] = r[i];
	}
	free(ex);
	*out = r;
	*n = m;
	return VL_OK;
}

int mls_treekem_decap(const struct mls_tree *t, struct mls_tree_priv *priv, uint32_t sender,
                      const struct vl_mls_update_path *path, const uint32_t *excluded,
                      size_t n_excluded, const uint8_t *group_context, size_t group_context_len,
                      uint8_t *path_secret, uint8_t commit_secret[VL_HASH_MAX])
{
	const struct vl_suite *s = t->suite;
	uint32_t fdp[MLS_PATH_MAX], cp[MLS_PATH_MAX];
	uint32_t nf = mls_tree_filtered_path(t, sender, fdp, cp);
	if (nf != path->node_count || sender == priv->leaf)
		return VL_ERR_INVALID;
	/* The lowest filtered-path node whose copath subtree holds us. */
	uint32_t k;
	for (k = 0; k < nf && !mls_tm_is_descendant(2 * priv->leaf, cp[k]); k++)
		;
	if (k == nf)
		return VL_ERR_INVALID;
	uint32_t *res;
	size_t nres;
	int rc = resolution_excluding(t, cp[k], excluded, n_excluded, &res, &nres);
	if (rc != VL_OK)
		return rc;
	const struct vl_mls_update_path_node *un = &path->nodes[k];
	const uint8_t *key = NULL;
	size_t pos;
	for (pos = 0; pos < nres && !key; pos++)
		key = mls_tree_priv_find(priv, res[pos]);
	pos--;
	if (!key || un->encrypted_path_secret_count != nres)
		rc = VL_ERR_INVALID;
	free(res);
	uint8_t secret[VL_HASH_MAX], next[VL_HASH_MAX];
	if (rc == VL_OK) {
		const struct vl_mls_hpke_ciphertext *ct = &un->encrypted_path_secret[pos];
		if (ct->ciphertext.len != s->hash_len + VL_AEAD_TAG_LEN)
			rc = VL_ERR_CRYPTO;
		else
			rc = vl_mls_decrypt_with_label(s, key, "UpdatePathNode", group_context,
			                               group_context_len, ct->kem_output.data,
			                               ct->kem_output.len, ct->ciphertext.data,
			                               ct->ciphertext.len, secret);
	}
	if (rc == VL_OK && path_secret)
		memcpy(path_secret, secret, s->hash_len);
	struct mls_tree_priv upd = *priv;
	for (uint32_t m = k; rc == VL_OK && m < nf; m++) {
		uint8_t pub[VL_KEM_PUB_MAX];
		rc = mls_tree_priv_set_path_secret(&upd, s, fdp[m], secret, pub);
		const struct vl_mls_bytes *want = &path->nodes[m].encryption_key;
		if (rc == VL_OK &&
		    (want->len != s->kem_pub_len || memcmp(want->data, pub, want->len)))
			rc = VL_ERR_INVALID;
		if (rc == VL_OK)
			rc = vl_mls_derive_secret(s, secret, "path", next);
		memcpy(secret, next, sizeof secret);
	}
	if (rc == VL_OK) {
		memcpy(commit_secret, secret, s->hash_len);
		mls_tree_priv_prune(&upd, t);
		*priv = upd;
	}
	vl_wipe(&upd, sizeof upd);
	vl_wipe(secret, sizeof secret);
	vl_wipe(next, sizeof next);
	return rc;
}

int mls_treekem_prepare(struct mls_tree *t, uint32_t leaf, const uint8_t *leaf_secret,
                        struct mls_path_secrets *ps)
{
	const struct vl_suite *s = t->suite;
	uint8_t ls[VL_HASH_MAX], cur[VL_HASH_MAX];
	memset(ps, 0, sizeof *ps);
	int rc = VL_OK;
	if (leaf_secret)
		memcpy(ls, leaf_secret, s->hash_len);
	else
		rc = vl_random(ls, s->hash_len);
	ps->n = mls_tree_filtered_path(t, leaf, ps->fdp, ps->copath);
	ps->priv.leaf = leaf;
	/* leaf_secret gives the leaf key pair and, one step up, path_secret[0]
	 * (§7.4, Figure 12). */
	if (rc == VL_OK)
		rc = node_keypair(s, ls, ps->priv.leaf_priv, ps->leaf_pub);
	if (rc == VL_OK)
		rc = vl_mls_derive_secret(s, ls, "path", cur);
	struct vl_mls_bytes keys[MLS_PATH_MAX];
	for (uint32_t i = 0; rc == VL_OK && i < ps->n; i++) {
		memcpy(ps->secret[i], cur, s->hash_len);
		rc = mls_tree_priv_set_path_secret(&ps->priv, s, ps->fdp[i], cur, ps->pub[i]);
		keys[i] = (struct vl_mls_bytes){ps->pub[i], s->kem_pub_len};
		if (rc == VL_OK)
			rc = vl_mls_derive_secret(s, cur, "path", cur);
	}
	if (rc == VL_OK) {
		memcpy(ps->commit_secret, cur, s->hash_len);
		rc = mls_tree_apply_path(t, leaf, keys, ps->n, ps->leaf_ph, &ps->leaf_ph_len);
	}
	vl_wipe(ls, sizeof ls);
	vl_wipe(cur, sizeof cur);
	if (rc != VL_OK)
		mls_path_secrets_wipe(ps);
	return rc;
}

int mls_treekem_encap(const struct mls_tree *t, const struct mls_path_secrets *ps,
                      const uint32_t *excluded, size_t n_excluded, const uint8_t *group_context,
                      size_t group_context_len, struct vl_mls_arena *arena,
                      struct vl_mls_update_path *path)
{
	const struct vl_suite *s = t->suite;
	struct vl_mls_update_path_node *nodes = NULL;
	int rc = VL_OK;
	if (ps->n)
		rc = vl_mls_arena_alloc(arena, ps->n * sizeof *nodes, (void **)&nodes);
	for (uint32_t i = 0; rc == VL_OK && i < ps->n; i++) {
		uint32_t *res;
		size_t nres;
		rc = resolution_excluding(t, ps->copath[i], excluded, n_excluded, &res, &nres);
		if (rc != VL_OK)
			break;
		struct vl_mls_hpke_ciphertext *cts = NULL;
		uint8_t *buf = NULL;
		size_t per = s->kem_pub_len + s->hash_len + VL_AEAD_TAG_LEN;
		if (nres) {
			rc = vl_mls_arena_alloc(arena, nres * sizeof *cts, (void **)&cts);
			if (rc == VL_OK)
				rc = vl_mls_arena_alloc(arena, nres * per, (void **)&buf);
		}
		for (size_t j = 0; rc == VL_OK && j < nres; j++) {
			const struct mls_tnode *n = &t->nodes[res[j]];
			const uint8_t *pk = n->type == VL_MLS_NODE_LEAF
			                        ? n->leaf.ln.encryption_key.data
			                        : n->parent.key;
			size_t pk_len = n->type == VL_MLS_NODE_LEAF ? n->leaf.ln.encryption_key.len
			                                            : n->parent.key_len;
			uint8_t *kem = buf + j * per, *ct = kem + s->kem_pub_len;
			rc = vl_mls_encrypt_with_label(s, pk, pk_len, "UpdatePathNode",
			                               group_context, group_context_len,
			                               ps->secret[i], s->hash_len, kem, ct);
			cts[j].kem_output = (struct vl_mls_bytes){kem, s->kem_pub_len};
			cts[j].ciphertext =
			    (struct vl_mls_bytes){ct, s->hash_len + VL_AEAD_TAG_LEN};
		}
		free(res);
		nodes[i].encryption_key = (struct vl_mls_bytes){ps->pub[i], s->kem_pub_len};
		nodes[i].encrypted_path_secret = cts;
		nodes[i].encrypted_path_secret_count = nres;
	}
	path->nodes = nodes;
	path->node_count = rc == VL_OK ? ps->n : 0;
	return rc;
}

bool mls_treekem_joiner_secret(const struct mls_path_secrets *ps, uint32_t new_leaf,
                               const uint8_t **path_secret)
{
	for (uint32_t i = 0; i < ps->n; i++)
		if (mls_tm_is_descendant(2 * new_leaf, ps->fdp[i])) {
			*path_secret = ps->secret[i];
			return true;
		}
	*path_secret = NULL;
	return false;
}

int mls_leaf_sign(const struct vl_sig_key *signer, struct vl_mls_leaf_node *ln,
                  const struct vl_mls_bytes *group_id, uint32_t leaf_index,
                  uint8_t sig_buf[VL_SIG_MAX])
{
	struct vl_writer w;
	size_t sig_len = 0;
	vl_writer_init_heap(&w, VL_MLS_MAX_ENCODED);
	int rc = vl_mls_leaf_node_tbs_encode(&w, ln, group_id, leaf_index);
	if (rc == VL_OK)
		rc = vl_mls_sign_with_label_key(signer, "LeafNodeTBS", w.buf, w.len, sig_buf,
		                                &sig_len);
	vl_writer_cleanup(&w);
	ln->signature = (struct vl_mls_bytes){sig_buf, rc == VL_OK ? sig_len : 0};
	return rc;
}
