/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Secret tree and per-sender hash ratchets (RFC 9420 §9), derived lazily:
 * a leaf's secret is computed only when that member first sends or is
 * first heard from, and the node secrets used on the way are deleted.
 */
#include "mls/secrettree.h"

#include <stdlib.h>
#include <string.h>

#include "mls/keyschedule.h"
#include "mls/treemath.h"
#include "wire/wire.h"

int mls_secret_tree_init(struct mls_secret_tree *st, const struct vl_suite *s,
                         const uint8_t *encryption_secret, uint32_t n_leaves, uint32_t window,
                         uint32_t max_forward)
{
	memset(st, 0, sizeof *st);
	if (n_leaves == 0 || n_leaves > MLS_TM_MAX_LEAVES)
		return VL_ERR_ARG;
	/* The secret tree has the shape of the ratchet tree: its width is
	 * that of the smallest full tree holding n_leaves. */
	uint32_t full = 1;
	while (full < n_leaves)
		full <<= 1;
	uint32_t width = mls_tm_node_width(full);
	st->suite = s;
	st->n_leaves = n_leaves;
	st->window = window ? window : MLS_ST_DEFAULT_WINDOW;
	st->max_forward = max_forward ? max_forward : MLS_ST_DEFAULT_MAX_FORWARD;
	st->node = calloc(width, s->hash_len);
	st->have = calloc(width, 1);
	st->ratchets = calloc((size_t)n_leaves * 2, sizeof *st->ratchets);
	st->leaf_used = calloc(n_leaves, 1);
	if (!st->node || !st->have || !st->ratchets || !st->leaf_used) {
		mls_secret_tree_cleanup(st);
		return VL_ERR_NOMEM;
	}
	uint32_t root = mls_tm_root(full);
	memcpy(st->node + (size_t)root * s->hash_len, encryption_secret, s->hash_len);
	st->have[root] = 1;
	/* Remember the full width in n_leaves' place for tree math. */
	return VL_OK;
}

static uint32_t st_full_leaves(const struct mls_secret_tree *st)
{
	uint32_t full = 1;
	while (full < st->n_leaves)
		full <<= 1;
	return full;
}

void mls_secret_tree_cleanup(struct mls_secret_tree *st)
{
	/* Only what was ever written holds secrets: wiping just that keeps
	 * the cost of an epoch change independent of the group's size. */
	uint32_t width = st->node ? mls_tm_node_width(st_full_leaves(st)) : 0;
	for (uint32_t x = 0; st->have && x < width; x++)
		if (st->have[x])
			vl_wipe(st->node + (size_t)x * st->suite->hash_len, st->suite->hash_len);
	free(st->node);
	free(st->have);
	if (st->ratchets) {
		for (uint32_t l = 0; st->leaf_used && l < st->n_leaves; l++) {
			if (!st->leaf_used[l])
				continue;
			for (int k = 0; k < 2; k++) {
				struct mls_ratchet *r = &st->ratchets[2 * (size_t)l + k];
				if (r->skipped) {
					vl_wipe(r->skipped,
					        (size_t)st->window * sizeof *r->skipped);
					free(r->skipped);
				}
				vl_wipe(r->secret, sizeof r->secret);
			}
		}
		free(st->ratchets);
	}
	free(st->leaf_used);
	memset(st, 0, sizeof *st);
}

/* Derives the leaf's secret from its lowest ancestor still held, wiping
 * every consumed node secret, then starts both ratchets of the leaf. */
static int st_init_leaf(struct mls_secret_tree *st, uint32_t leaf)
{
	const struct vl_suite *s = st->suite;
	size_t nh = s->hash_len;
	uint32_t full = st_full_leaves(st);
	uint32_t x = mls_tm_leaf_node(leaf);
	uint32_t path[33], n = 0;
	/* Climb to the nearest node whose secret is held. */
	path[n++] = x;
	while (!st->have[x]) {
		uint32_t p;
		if (!mls_tm_parent(x, full, &p))
			return VL_ERR_STATE; /* invariant broken: leaf already consumed */
		x = p;
		path[n++] = x;
	}
	int rc = VL_OK;
	/* Walk down: derive both children of each node on the path. */
	for (uint32_t i = n - 1; rc == VL_OK && i > 0; i--) {
		uint32_t p = path[i], l, r;
		(void)mls_tm_left(p, &l);
		(void)mls_tm_right(p, &r);
		uint8_t *ps = st->node + (size_t)p * nh;
		rc = vl_mls_expand_with_label(s, ps, nh, "tree", "left", 4,
		                              st->node + (size_t)l * nh, (uint16_t)nh);
		if (rc == VL_OK)
			rc = vl_mls_expand_with_label(s, ps, nh, "tree", "right", 5,
			                              st->node + (size_t)r * nh, (uint16_t)nh);
		if (rc != VL_OK)
			break;
		st->have[l] = st->have[r] = 1;
		vl_wipe(ps, nh);
		st->have[p] = 0;
	}
	if (rc != VL_OK)
		return rc;
	uint8_t *ls = st->node + (size_t)mls_tm_leaf_node(leaf) * nh;
	struct mls_ratchet *hs = &st->ratchets[2 * (size_t)leaf];
	struct mls_ratchet *app = hs + 1;
	rc = vl_mls_expand_with_label(s, ls, nh, "handshake", NULL, 0, hs->secret, (uint16_t)nh);
	if (rc == VL_OK)
		rc = vl_mls_expand_with_label(s, ls, nh, "application", NULL, 0, app->secret,
		                              (uint16_t)nh);
	vl_wipe(ls, nh);
	st->have[mls_tm_leaf_node(leaf)] = 0;
	if (rc != VL_OK)
		return rc;
	hs->ready = app->ready = true;
	st->leaf_used[leaf] = 1;
	return VL_OK;
}

/* key and nonce of the ratchet's current generation, then one step:
 * secret = DeriveTreeSecret(secret, "secret", generation, Nh). */
static int ratchet_step(const struct vl_suite *s, struct mls_ratchet *r,
                        uint8_t key[VL_AEAD_KEY_MAX], uint8_t nonce[VL_AEAD_NONCE_MAX])
{
	uint8_t next[VL_HASH_MAX];
	if (r->next_gen == UINT32_MAX)
		return VL_ERR_LIMIT;
	int rc = vl_mls_derive_tree_secret(s, r->secret, "key", r->next_gen, key,
	                                   (uint16_t)s->aead_key_len);
	if (rc == VL_OK)
		rc = vl_mls_derive_tree_secret(s, r->secret, "nonce", r->next_gen, nonce,
		                               (uint16_t)s->aead_nonce_len);
	if (rc == VL_OK)
		rc = vl_mls_derive_tree_secret(s, r->secret, "secret", r->next_gen, next,
		                               (uint16_t)s->hash_len);
	if (rc == VL_OK) {
		memcpy(r->secret, next, s->hash_len);
		r->next_gen++;
	}
	vl_wipe(next, sizeof next);
	return rc;
}

static struct mls_ratchet *st_ratchet(struct mls_secret_tree *st, uint32_t leaf,
                                      enum mls_ratchet_type type, int *rc)
{
	if (leaf >= st->n_leaves) {
		*rc = VL_ERR_ARG;
		return NULL;
	}
	struct mls_ratchet *r = &st->ratchets[2 * (size_t)leaf + (type ? 1 : 0)];
	*rc = r->ready ? VL_OK : st_init_leaf(st, leaf);
	return *rc == VL_OK ? r : NULL;
}

/* Keeps a skipped generation's key; when the window is full the oldest
 * one is dropped (and wiped). */
static int ratchet_keep(struct mls_secret_tree *st, struct mls_ratchet *r, uint32_t gen,
                        const uint8_t *key, const uint8_t *nonce)
{
	if (!r->skipped) {
		r->skipped = calloc(st->window, sizeof *r->skipped);
		if (!r->skipped)
			return VL_ERR_NOMEM;
	}
	if (r->n_skipped == st->window) {
		vl_wipe(&r->skipped[0], sizeof r->skipped[0]);
		memmove(&r->skipped[0], &r->skipped[1], (st->window - 1) * sizeof r->skipped[0]);
		r->n_skipped--;
	}
	struct mls_skipped_key *k = &r->skipped[r->n_skipped++];
	k->generation = gen;
	memcpy(k->key, key, VL_AEAD_KEY_MAX);
	memcpy(k->nonce, nonce, VL_AEAD_NONCE_MAX);
	return VL_OK;
}

int mls_secret_tree_get(struct mls_secret_tree *st, uint32_t leaf, enum mls_ratchet_type type,
                        uint32_t generation, uint8_t key[VL_AEAD_KEY_MAX],
                        uint8_t nonce[VL_AEAD_NONCE_MAX])
{
	int rc;
	memset(key, 0, VL_AEAD_KEY_MAX);
	memset(nonce, 0, VL_AEAD_NONCE_MAX);
	struct mls_ratchet *r = st_ratchet(st, leaf, type, &rc);
	if (!r)
		return rc;
	if (generation < r->next_gen) {
		for (uint32_t i = 0; i < r->n_skipped; i++) {
			struct mls_skipped_key *k = &r->skipped[i];
			if (k->generation != generation)
				continue;
			memcpy(key, k->key, VL_AEAD_KEY_MAX);
			memcpy(nonce, k->nonce, VL_AEAD_NONCE_MAX);
			vl_wipe(k, sizeof *k);
			memmove(k, k + 1, (r->n_skipped - i - 1) * sizeof *k);
			r->n_skipped--;
			return VL_OK;
		}
		return VL_ERR_INVALID;
	}
	if (generation - r->next_gen > st->max_forward)
		return VL_ERR_LIMIT;
	/* Keep only the skipped generations that can still fit the window. */
	while (rc == VL_OK && r->next_gen < generation) {
		uint32_t g = r->next_gen;
		rc = ratchet_step(st->suite, r, key, nonce);
		if (rc == VL_OK && generation - g <= st->window)
			rc = ratchet_keep(st, r, g, key, nonce);
	}
	if (rc == VL_OK)
		rc = ratchet_step(st->suite, r, key, nonce);
	if (rc != VL_OK) {
		vl_wipe(key, VL_AEAD_KEY_MAX);
		vl_wipe(nonce, VL_AEAD_NONCE_MAX);
	}
	return rc;
}

int mls_secret_tree_next(struct mls_secret_tree *st, uint32_t leaf, enum mls_ratchet_type type,
                         uint32_t *generation, uint8_t key[VL_AEAD_KEY_MAX],
                         uint8_t nonce[VL_AEAD_NONCE_MAX])
{
	int rc;
	memset(key, 0, VL_AEAD_KEY_MAX);
	memset(nonce, 0, VL_AEAD_NONCE_MAX);
	struct mls_ratchet *r = st_ratchet(st, leaf, type, &rc);
	if (!r)
		return rc;
	*generation = r->next_gen;
	return ratchet_step(st->suite, r, key, nonce);
}

int mls_sender_data_key_nonce(const struct vl_suite *s, const uint8_t *sender_data_secret,
                              const uint8_t *ciphertext, size_t ciphertext_len,
                              uint8_t key[VL_AEAD_KEY_MAX], uint8_t nonce[VL_AEAD_NONCE_MAX])
{
	size_t sample = ciphertext_len < s->hash_len ? ciphertext_len : s->hash_len;
	int rc = vl_mls_expand_with_label(s, sender_data_secret, s->hash_len, "key", ciphertext,
	                                  sample, key, (uint16_t)s->aead_key_len);
	if (rc == VL_OK)
		rc = vl_mls_expand_with_label(s, sender_data_secret, s->hash_len, "nonce",
		                              ciphertext, sample, nonce,
		                              (uint16_t)s->aead_nonce_len);
	return rc;
}

int mls_secret_tree_export(const struct mls_secret_tree *st, struct vl_writer *w)
{
	const struct vl_suite *s = st->suite;
	uint32_t width = mls_tm_node_width(st_full_leaves(st));
	(void)!vl_write_u32(w, st->n_leaves);
	(void)!vl_write_u32(w, st->window);
	(void)!vl_write_u32(w, st->max_forward);
	for (uint32_t x = 0; x < width; x++) {
		(void)!vl_write_u8(w, st->have[x]);
		if (st->have[x])
			(void)!vl_write_fixed(w, st->node + (size_t)x * s->hash_len, s->hash_len);
	}
	for (size_t i = 0; i < (size_t)st->n_leaves * 2; i++) {
		const struct mls_ratchet *r = &st->ratchets[i];
		(void)!vl_write_u8(w, r->ready);
		if (!r->ready)
			continue;
		(void)!vl_write_u32(w, r->next_gen);
		(void)!vl_write_fixed(w, r->secret, s->hash_len);
		(void)!vl_write_u32(w, r->n_skipped);
		for (uint32_t k = 0; k < r->n_skipped; k++) {
			(void)!vl_write_u32(w, r->skipped[k].generation);
			(void)!vl_write_fixed(w, r->skipped[k].key, s->aead_key_len);
			(void)!vl_write_fixed(w, r->skipped[k].nonce, s->aead_nonce_len);
		}
	}
	return w->err;
}

int mls_secret_tree_import(struct mls_secret_tree *st, const struct vl_suite *s,
                           struct vl_reader *r)
{
	uint32_t n_leaves, window, max_forward;
	uint8_t zero[VL_HASH_MAX] = {0};
	memset(st, 0, sizeof *st);
	(void)!vl_read_u32(r, &n_leaves);
	(void)!vl_read_u32(r, &window);
	if (vl_read_u32(r, &max_forward) != VL_OK)
		return r->err;
	/* Bounds: the largest tree and a sane window. */
	if (n_leaves == 0 || n_leaves > (1u << 20) || window == 0 || window > 65536)
		return VL_ERR_LIMIT;
	int rc = mls_secret_tree_init(st, s, zero, n_leaves, window, max_forward);
	if (rc != VL_OK)
		return rc;
	uint32_t width = mls_tm_node_width(st_full_leaves(st));
	for (uint32_t x = 0; rc == VL_OK && x < width; x++) {
		uint8_t have = 0;
		rc = vl_read_u8(r, &have);
		if (rc == VL_OK && have > 1)
			rc = VL_ERR_DECODE;
		st->have[x] = have;
		if (rc == VL_OK && have)
			rc = vl_read_copy(r, st->node + (size_t)x * s->hash_len, s->hash_len);
	}
	for (size_t i = 0; rc == VL_OK && i < (size_t)n_leaves * 2; i++) {
		struct mls_ratchet *rt = &st->ratchets[i];
		uint8_t ready = 0;
		rc = vl_read_u8(r, &ready);
		if (rc != VL_OK || !ready)
			continue;
		uint32_t n;
		(void)!vl_read_u32(r, &rt->next_gen);
		(void)!vl_read_copy(r, rt->secret, s->hash_len);
		rc = vl_read_u32(r, &n);
		if (rc == VL_OK && n > window)
			rc = VL_ERR_LIMIT;
		rt->ready = true;
		st->leaf_used[i / 2] = 1;
		for (uint32_t k = 0; rc == VL_OK && k < n; k++) {
			uint32_t gen;
			uint8_t key[VL_AEAD_KEY_MAX] = {0}, nonce[VL_AEAD_NONCE_MAX] = {0};
			(void)!vl_read_u32(r, &gen);
			(void)!vl_read_copy(r, key, s->aead_key_len);
			rc = vl_read_copy(r, nonce, s->aead_nonce_len);
			if (rc == VL_OK)
				rc = ratchet_keep(st, rt, gen, key, nonce);
			vl_wipe(key, sizeof key);
		}
	}
	if (rc != VL_OK)
		mls_secret_tree_cleanup(st);
	return rc;
}
