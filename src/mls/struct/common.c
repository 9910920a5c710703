/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Building blocks of the MLS structures: opaque fields, integer lists,
 * generic vectors, and the structures that describe a member and the tree
 * (RFC 9420 §5.3 credentials, §7 leaf and parent nodes, ratchet tree,
 * update paths, §10 KeyPackage, §8.4 PreSharedKeyID, extension bodies).
 */
#include "mls/struct/struct_int.h"

#include <stdlib.h>
#include <string.h>

bool vl_mls_is_grease(uint16_t v)
{
	/* §13.5: 0x0A0A, 0x1A1A, ..., 0xEAEA. */
	return (v & 0x0f0f) == 0x0a0a && (v >> 12) == ((v >> 4) & 0xf) && (v >> 12) <= 0xe;
}

int vlm_rfail(struct vl_reader *r, int rc)
{
	if (!r->err)
		r->err = rc;
	return rc;
}

int vlm_wfail(struct vl_writer *w, int rc)
{
	if (!w->err)
		w->err = rc;
	return w->err;
}

int vlm_read_bytes(struct vl_reader *r, struct vl_mls_bytes *b)
{
	return vl_read_opaque(r, &b->data, &b->len, VL_MLS_MAX_OPAQUE);
}

int vlm_write_bytes(struct vl_writer *w, const struct vl_mls_bytes *b)
{
	if (b->len > VL_MLS_MAX_OPAQUE)
		return vlm_wfail(w, VL_ERR_LIMIT);
	return vl_write_opaque(w, b->data, b->len);
}

int vlm_read_u16_list(struct vl_reader *r, struct vl_mls_arena *a, struct vl_mls_u16_list *l,
                      size_t limit)
{
	struct vl_reader sub;
	VLM_TRY(vl_read_vector(r, &sub));
	size_t n = vl_reader_left(&sub);
	if (n % 2)
		return vlm_rfail(r, VL_ERR_DECODE);
	n /= 2;
	if (n > limit)
		return vlm_rfail(r, VL_ERR_LIMIT);
	l->items = NULL;
	l->count = n;
	if (!n)
		return VL_OK;
	uint16_t *items;
	int rc = vl_mls_arena_alloc(a, n * sizeof *items, (void **)&items);
	if (rc)
		return vlm_rfail(r, rc);
	for (size_t i = 0; i < n; i++)
		if (vl_read_u16(&sub, &items[i]) != VL_OK)
			return vlm_rfail(r, VL_ERR_DECODE);
	l->items = items;
	return VL_OK;
}

int vlm_write_u16_list(struct vl_writer *w, const struct vl_mls_u16_list *l, size_t limit)
{
	if (l->count > limit)
		return vlm_wfail(w, VL_ERR_LIMIT);
	size_t mark = vl_write_vector_begin(w);
	for (size_t i = 0; i < l->count; i++)
		vlm_sticky(vl_write_u16(w, l->items[i]));
	return vl_write_vector_end(w, mark);
}

int vlm_read_vec(struct vl_reader *r, struct vl_mls_arena *a, size_t elem_size, size_t limit,
                 vlm_dec_fn fn, const void **items, size_t *count)
{
	struct vl_reader sub;
	*items = NULL;
	*count = 0;
	VLM_TRY(vl_read_vector(r, &sub));
	/* Elements are decoded into a growing scratch array, then copied once
	 * into the arena: the arena holds exactly the final array, and the
	 * scratch space never exceeds twice the limit's worth of elements. */
	unsigned char *tmp = NULL;
	size_t n = 0, cap = 0;
	int rc = VL_OK;
	while (vl_reader_left(&sub) > 0) {
		if (n == limit) {
			rc = VL_ERR_LIMIT;
			goto cleanup;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 4;
			if (ncap > limit)
				ncap = limit;
			if ((rc = vl_mls_arena_tick(a)) != VL_OK)
				goto cleanup;
			unsigned char *nt = realloc(tmp, ncap * elem_size);
			if (!nt) {
				rc = VL_ERR_NOMEM;
				goto cleanup;
			}
			tmp = nt;
			cap = ncap;
		}
		if ((rc = fn(&sub, a, tmp + n * elem_size)) != VL_OK)
			goto cleanup;
		n++;
	}
	if (n) {
		void *out;
		if ((rc = vl_mls_arena_alloc(a, n * elem_size, &out)) != VL_OK)
			goto cleanup;
		memcpy(out, tmp, n * elem_size);
		*items = out;
		*count = n;
	}
cleanup:
	free(tmp);
	return rc ? vlm_rfail(r, rc) : VL_OK;
}

int vlm_write_vec(struct vl_writer *w, const void *items, size_t count, size_t elem_size,
                  size_t limit, vlm_enc_fn fn)
{
	if (count > limit)
		return vlm_wfail(w, VL_ERR_LIMIT);
	size_t mark = vl_write_vector_begin(w);
	const unsigned char *p = items;
	for (size_t i = 0; i < count; i++)
		if (fn(w, p + i * elem_size) != VL_OK)
			break;
	return vl_write_vector_end(w, mark);
}

/* --- Extensions ----------------------------------------------------- */

static int extension_decode(struct vl_reader *r, struct vl_mls_arena *a, void *p)
{
	(void)a;
	struct vl_mls_extension *e = p;
	memset(e, 0, sizeof *e);
	VLM_TRY(vl_read_u16(r, &e->type));
	/* 0 is reserved in the extension type registry (§17.3). */
	if (e->type == 0)
		return vlm_rfail(r, VL_ERR_DECODE);
	return vlm_read_bytes(r, &e->data);
}

static int extension_encode(struct vl_writer *w, const void *p)
{
	const struct vl_mls_extension *e = p;
	if (e->type == 0)
		return vlm_wfail(w, VL_ERR_ARG);
	vlm_sticky(vl_write_u16(w, e->type));
	return vlm_write_bytes(w, &e->data);
}

int vl_mls_extension_list_decode(struct vl_reader *r, struct vl_mls_arena *a,
                                 struct vl_mls_extension_list *out)
{
	const void *items;
	VLM_TRY(vlm_read_vec(r, a, sizeof(struct vl_mls_extension), VL_MLS_MAX_EXTENSIONS,
	                     extension_decode, &items, &out->count));
	out->items = items;
	/* §13.4: a list holds at most one extension of each type. */
	for (size_t i = 0; i < out->count; i++)
		for (size_t j = i + 1; j < out->count; j++)
			if (out->items[i].type == out->items[j].type)
				return vlm_rfail(r, VL_ERR_INVALID);
	return VL_OK;
}

int vl_mls_extension_list_encode(struct vl_writer *w, const struct vl_mls_extension_list *in)
{
	return vlm_write_vec(w, in->items, in->count, sizeof *in->items, VL_MLS_MAX_EXTENSIONS,
	                     extension_encode);
}

const struct vl_mls_extension *vl_mls_extensions_find(const struct vl_mls_extension_list *list,
                                                      uint16_t type)
{
	for (size_t i = 0; i < list->count; i++)
		if (list->items[i].type == type)
			return &list->items[i];
	return NULL;
}

/* --- Capabilities and credentials ------------------------------------ */

int vl_mls_capabilities_decode(struct vl_reader *r, struct vl_mls_arena *a,
                               struct vl_mls_capabilities *out)
{
	memset(out, 0, sizeof *out);
	/* §7.2: unknown and GREASE values are kept; the engine ignores them. */
	VLM_TRY(vlm_read_u16_list(r, a, &out->versions, VL_MLS_MAX_CAPABILITY_ITEMS));
	VLM_TRY(vlm_read_u16_list(r, a, &out->cipher_suites, VL_MLS_MAX_CAPABILITY_ITEMS));
	VLM_TRY(vlm_read_u16_list(r, a, &out->extensions, VL_MLS_MAX_CAPABILITY_ITEMS));
	VLM_TRY(vlm_read_u16_list(r, a, &out->proposals, VL_MLS_MAX_CAPABILITY_ITEMS));
	return vlm_read_u16_list(r, a, &out->credentials, VL_MLS_MAX_CAPABILITY_ITEMS);
}

int vl_mls_capabilities_encode(struct vl_writer *w, const struct vl_mls_capabilities *in)
{
	vlm_sticky(vlm_write_u16_list(w, &in->versions, VL_MLS_MAX_CAPABILITY_ITEMS));
	vlm_sticky(vlm_write_u16_list(w, &in->cipher_suites, VL_MLS_MAX_CAPABILITY_ITEMS));
	vlm_sticky(vlm_write_u16_list(w, &in->extensions, VL_MLS_MAX_CAPABILITY_ITEMS));
	vlm_sticky(vlm_write_u16_list(w, &in->proposals, VL_MLS_MAX_CAPABILITY_ITEMS));
	return vlm_write_u16_list(w, &in->credentials, VL_MLS_MAX_CAPABILITY_ITEMS);
}

static int cert_decode(struct vl_reader *r, struct vl_mls_arena *a, void *p)
{
	(void)a;
	return vlm_read_bytes(r, p);
}

static int cert_encode(struct vl_writer *w, const void *p)
{
	return vlm_write_bytes(w, p);
}

int vl_mls_credential_decode(struct vl_reader *r, struct vl_mls_arena *a,
                             struct vl_mls_credential *out)
{
	memset(out, 0, sizeof *out);
	VLM_TRY(vl_read_u16(r, &out->type));
	switch (out->type) {
	case 0:
		return vlm_rfail(r, VL_ERR_DECODE);
	case VL_MLS_CREDENTIAL_BASIC:
		return vlm_read_bytes(r, &out->identity);
	case VL_MLS_CREDENTIAL_X509: {
		const void *items;
		VLM_TRY(vlm_read_vec(r, a, sizeof(struct vl_mls_bytes), VL_MLS_MAX_CERTIFICATES,
		                     cert_decode, &items, &out->certificate_count));
		out->certificates = items;
		return VL_OK;
	}
	default:
		return vlm_read_bytes(r, &out->other);
	}
}

int vl_mls_credential_encode(struct vl_writer *w, const struct vl_mls_credential *in)
{
	if (in->type == 0)
		return vlm_wfail(w, VL_ERR_ARG);
	vlm_sticky(vl_write_u16(w, in->type));
	switch (in->type) {
	case VL_MLS_CREDENTIAL_BASIC:
		return vlm_write_bytes(w, &in->identity);
	case VL_MLS_CREDENTIAL_X509:
		return vlm_write_vec(w, in->certificates, in->certificate_count,
		                     sizeof *in->certificates, VL_MLS_MAX_CERTIFICATES,
		                     cert_encode);
	default:
		return vlm_write_bytes(w, &in->other);
	}
}

/* --- LeafNode and KeyPackage ---------------------------------------- */

int vl_mls_leaf_node_decode(struct vl_reader *r, struct vl_mls_arena *a,
                            struct vl_mls_leaf_node *out)
{
	memset(out, 0, sizeof *out);
	VLM_TRY(vlm_read_bytes(r, &out->encryption_key));
	VLM_TRY(vlm_read_bytes(r, &out->signature_key));
	VLM_TRY(vl_mls_credential_decode(r, a, &out->credential));
	VLM_TRY(vl_mls_capabilities_decode(r, a, &out->capabilities));
	VLM_TRY(vl_read_u8(r, &out->source));
	switch (out->source) {
	case VL_MLS_LEAF_SOURCE_KEY_PACKAGE:
		VLM_TRY(vl_read_u64(r, &out->lifetime.not_before));
		VLM_TRY(vl_read_u64(r, &out->lifetime.not_after));
		break;
	case VL_MLS_LEAF_SOURCE_UPDATE:
		break;
	case VL_MLS_LEAF_SOURCE_COMMIT:
		VLM_TRY(vlm_read_bytes(r, &out->parent_hash));
		break;
	default:
		return vlm_rfail(r, VL_ERR_DECODE);
	}
	VLM_TRY(vl_mls_extension_list_decode(r, a, &out->extensions));
	return vlm_read_bytes(r, &out->signature);
}

/* The fields shared by LeafNode and LeafNodeTBS. */
static int leaf_node_body_encode(struct vl_writer *w, const struct vl_mls_leaf_node *in)
{
	vlm_sticky(vlm_write_bytes(w, &in->encryption_key));
	vlm_sticky(vlm_write_bytes(w, &in->signature_key));
	vlm_sticky(vl_mls_credential_encode(w, &in->credential));
	vlm_sticky(vl_mls_capabilities_encode(w, &in->capabilities));
	vlm_sticky(vl_write_u8(w, in->source));
	switch (in->source) {
	case VL_MLS_LEAF_SOURCE_KEY_PACKAGE:
		vlm_sticky(vl_write_u64(w, in->lifetime.not_before));
		vlm_sticky(vl_write_u64(w, in->lifetime.not_after));
		break;
	case VL_MLS_LEAF_SOURCE_UPDATE:
		break;
	case VL_MLS_LEAF_SOURCE_COMMIT:
		vlm_sticky(vlm_write_bytes(w, &in->parent_hash));
		break;
	default:
		return vlm_wfail(w, VL_ERR_ARG);
	}
	return vl_mls_extension_list_encode(w, &in->extensions);
}

int vl_mls_leaf_node_encode(struct vl_writer *w, const struct vl_mls_leaf_node *in)
{
	(void)leaf_node_body_encode(w, in);
	return vlm_write_bytes(w, &in->signature);
}

int vl_mls_leaf_node_tbs_encode(struct vl_writer *w, const struct vl_mls_leaf_node *leaf,
                                const struct vl_mls_bytes *group_id, uint32_t leaf_index)
{
	(void)leaf_node_body_encode(w, leaf);
	/* §7.2: leaves created inside a group bind the group and position. */
	if (leaf->source == VL_MLS_LEAF_SOURCE_UPDATE ||
	    leaf->source == VL_MLS_LEAF_SOURCE_COMMIT) {
		if (!group_id)
			return vlm_wfail(w, VL_ERR_ARG);
		vlm_sticky(vlm_write_bytes(w, group_id));
		vlm_sticky(vl_write_u32(w, leaf_index));
	}
	return w->err;
}

int vl_mls_key_package_decode(struct vl_reader *r, struct vl_mls_arena *a,
                              struct vl_mls_key_package *out)
{
	memset(out, 0, sizeof *out);
	VLM_TRY(vl_read_u16(r, &out->version));
	VLM_TRY(vl_read_u16(r, &out->cipher_suite));
	/* Version and cipher suite 0 are reserved (§17.1); other values are
	 * judged by the engine against what it supports (§10.1). */
	if (out->version == 0 || out->cipher_suite == 0)
		return vlm_rfail(r, VL_ERR_DECODE);
	VLM_TRY(vlm_read_bytes(r, &out->init_key));
	VLM_TRY(vl_mls_leaf_node_decode(r, a, &out->leaf_node));
	/* §10: the leaf of a KeyPackage MUST have source key_package. */
	if (out->leaf_node.source != VL_MLS_LEAF_SOURCE_KEY_PACKAGE)
		return vlm_rfail(r, VL_ERR_INVALID);
	VLM_TRY(vl_mls_extension_list_decode(r, a, &out->extensions));
	return vlm_read_bytes(r, &out->signature);
}

int vl_mls_key_package_tbs_encode(struct vl_writer *w, const struct vl_mls_key_package *kp)
{
	if (kp->version == 0 || kp->cipher_suite == 0 ||
	    kp->leaf_node.source != VL_MLS_LEAF_SOURCE_KEY_PACKAGE)
		return vlm_wfail(w, VL_ERR_ARG);
	vlm_sticky(vl_write_u16(w, kp->version));
	vlm_sticky(vl_write_u16(w, kp->cipher_suite));
	vlm_sticky(vlm_write_bytes(w, &kp->init_key));
	vlm_sticky(vl_mls_leaf_node_encode(w, &kp->leaf_node));
	return vl_mls_extension_list_encode(w, &kp->extensions);
}

int vl_mls_key_package_encode(struct vl_writer *w, const struct vl_mls_key_package *in)
{
	vlm_sticky(vl_mls_key_package_tbs_encode(w, in));
	return vlm_write_bytes(w, &in->signature);
}

/* --- Ratchet tree ---------------------------------------------------- */

int vl_mls_parent_node_decode(struct vl_reader *r, struct vl_mls_arena *a,
                              struct vl_mls_parent_node *out)
{
	memset(out, 0, sizeof *out);
	VLM_TRY(vlm_read_bytes(r, &out->encryption_key));
	VLM_TRY(vlm_read_bytes(r, &out->parent_hash));
	struct vl_reader sub;
	VLM_TRY(vl_read_vector(r, &sub));
	size_t n = vl_reader_left(&sub);
	if (n % 4)
		return vlm_rfail(r, VL_ERR_DECODE);
	n /= 4;
	if (n > VL_MLS_MAX_LEAVES)
		return vlm_rfail(r, VL_ERR_LIMIT);
	if (!n)
		return VL_OK;
	uint32_t *items;
	int rc = vl_mls_arena_alloc(a, n * sizeof *items, (void **)&items);
	if (rc)
		return vlm_rfail(r, rc);
	for (size_t i = 0; i < n; i++) {
		if (vl_read_u32(&sub, &items[i]) != VL_OK)
			return vlm_rfail(r, VL_ERR_DECODE);
		/* §7.1: unmerged_leaves MUST be sorted in increasing order. */
		if (i > 0 && items[i] <= items[i - 1])
			return vlm_rfail(r, VL_ERR_INVALID);
	}
	out->unmerged_leaves.items = items;
	out->unmerged_leaves.count = n;
	return VL_OK;
}

int vl_mls_parent_node_encode(struct vl_writer *w, const struct vl_mls_parent_node *in)
{
	if (in->unmerged_leaves.count > VL_MLS_MAX_LEAVES)
		return vlm_wfail(w, VL_ERR_LIMIT);
	vlm_sticky(vlm_write_bytes(w, &in->encryption_key));
	vlm_sticky(vlm_write_bytes(w, &in->parent_hash));
	size_t mark = vl_write_vector_begin(w);
	for (size_t i = 0; i < in->unmerged_leaves.count; i++)
		vlm_sticky(vl_write_u32(w, in->unmerged_leaves.items[i]));
	return vl_write_vector_end(w, mark);
}

static int node_decode(struct vl_reader *r, struct vl_mls_arena *a, void *p)
{
	struct vl_mls_node *n = p;
	memset(n, 0, sizeof *n);
	bool present;
	VLM_TRY(vl_read_optional(r, &present));
	if (!present)
		return VL_OK;
	VLM_TRY(vl_read_u8(r, &n->type));
	switch (n->type) {
	case VL_MLS_NODE_LEAF:
		return vl_mls_leaf_node_decode(r, a, &n->leaf);
	case VL_MLS_NODE_PARENT:
		return vl_mls_parent_node_decode(r, a, &n->parent);
	default:
		return vlm_rfail(r, VL_ERR_DECODE);
	}
}

static int node_encode(struct vl_writer *w, const void *p)
{
	const struct vl_mls_node *n = p;
	switch (n->type) {
	case VL_MLS_NODE_BLANK:
		return vl_write_optional(w, false);
	case VL_MLS_NODE_LEAF:
		vlm_sticky(vl_write_optional(w, true));
		vlm_sticky(vl_write_u8(w, n->type));
		return vl_mls_leaf_node_encode(w, &n->leaf);
	case VL_MLS_NODE_PARENT:
		vlm_sticky(vl_write_optional(w, true));
		vlm_sticky(vl_write_u8(w, n->type));
		return vl_mls_parent_node_encode(w, &n->parent);
	default:
		return vlm_wfail(w, VL_ERR_ARG);
	}
}

/* §12.4.3.3 and Appendix C: leaves sit at even and parents at odd array
 * positions, and the sender drops trailing blank nodes, so the last entry
 * must be present (which also rules out an empty tree). */
static bool tree_shape_ok(const struct vl_mls_ratchet_tree *t)
{
	if (t->count == 0 || t->nodes[t->count - 1].type == VL_MLS_NODE_BLANK)
		return false;
	for (size_t i = 0; i < t->count; i++) {
		uint8_t type = t->nodes[i].type;
		if (type != VL_MLS_NODE_BLANK &&
		    type != (i % 2 == 0 ? VL_MLS_NODE_LEAF : VL_MLS_NODE_PARENT))
			return false;
	}
	return true;
}

int vl_mls_ratchet_tree_decode(struct vl_reader *r, struct vl_mls_arena *a,
                               struct vl_mls_ratchet_tree *out)
{
	const void *items;
	memset(out, 0, sizeof *out);
	VLM_TRY(vlm_read_vec(r, a, sizeof(struct vl_mls_node), VL_MLS_MAX_TREE_NODES, node_decode,
	                     &items, &out->count));
	out->nodes = items;
	if (!tree_shape_ok(out))
		return vlm_rfail(r, VL_ERR_INVALID);
	return VL_OK;
}

int vl_mls_ratchet_tree_encode(struct vl_writer *w, const struct vl_mls_ratchet_tree *in)
{
	if (!tree_shape_ok(in))
		return vlm_wfail(w, VL_ERR_ARG);
	return vlm_write_vec(w, in->nodes, in->count, sizeof *in->nodes, VL_MLS_MAX_TREE_NODES,
	                     node_encode);
}

/* --- UpdatePath ------------------------------------------------------ */

int vl_mls_hpke_ciphertext_decode(struct vl_reader *r, struct vl_mls_arena *a,
                                  struct vl_mls_hpke_ciphertext *out)
{
	(void)a;
	memset(out, 0, sizeof *out);
	VLM_TRY(vlm_read_bytes(r, &out->kem_output));
	return vlm_read_bytes(r, &out->ciphertext);
}

int vl_mls_hpke_ciphertext_encode(struct vl_writer *w, const struct vl_mls_hpke_ciphertext *in)
{
	vlm_sticky(vlm_write_bytes(w, &in->kem_output));
	return vlm_write_bytes(w, &in->ciphertext);
}

VLM_VOID_ADAPTERS(hpke_ciphertext, struct vl_mls_hpke_ciphertext)

static int path_node_decode(struct vl_reader *r, struct vl_mls_arena *a, void *p)
{
	struct vl_mls_update_path_node *n = p;
	memset(n, 0, sizeof *n);
	VLM_TRY(vlm_read_bytes(r, &n->encryption_key));
	const void *items;
	VLM_TRY(vlm_read_vec(r, a, sizeof(struct vl_mls_hpke_ciphertext), VL_MLS_MAX_LEAVES,
	                     hpke_ciphertext_dec_v, &items, &n->encrypted_path_secret_count));
	n->encrypted_path_secret = items;
	return VL_OK;
}

static int path_node_encode(struct vl_writer *w, const void *p)
{
	const struct vl_mls_update_path_node *n = p;
	vlm_sticky(vlm_write_bytes(w, &n->encryption_key));
	return vlm_write_vec(w, n->encrypted_path_secret, n->encrypted_path_secret_count,
	                     sizeof *n->encrypted_path_secret, VL_MLS_MAX_LEAVES,
	                     hpke_ciphertext_enc_v);
}

int vl_mls_update_path_decode(struct vl_reader *r, struct vl_mls_arena *a,
                              struct vl_mls_update_path *out)
{
	memset(out, 0, sizeof *out);
	VLM_TRY(vl_mls_leaf_node_decode(r, a, &out->leaf_node));
	const void *items;
	VLM_TRY(vlm_read_vec(r, a, sizeof(struct vl_mls_update_path_node), VL_MLS_MAX_PATH_NODES,
	                     path_node_decode, &items, &out->node_count));
	out->nodes = items;
	return VL_OK;
}

int vl_mls_update_path_encode(struct vl_writer *w, const struct vl_mls_update_path *in)
{
	vlm_sticky(vl_mls_leaf_node_encode(w, &in->leaf_node));
	return vlm_write_vec(w, in->nodes, in->node_count, sizeof *in->nodes, VL_MLS_MAX_PATH_NODES,
	                     path_node_encode);
}

/* --- PreSharedKeyID --------------------------------------------------- */

int vl_mls_psk_id_decode(struct vl_reader *r, struct vl_mls_arena *a, struct vl_mls_psk_id *out)
{
	(void)a;
	memset(out, 0, sizeof *out);
	VLM_TRY(vl_read_u8(r, &out->type));
	switch (out->type) {
	case VL_MLS_PSK_EXTERNAL:
		VLM_TRY(vlm_read_bytes(r, &out->psk_id));
		break;
	case VL_MLS_PSK_RESUMPTION:
		VLM_TRY(vl_read_u8(r, &out->usage));
		if (out->usage < VL_MLS_RESUMPTION_APPLICATION ||
		    out->usage > VL_MLS_RESUMPTION_BRANCH)
			return vlm_rfail(r, VL_ERR_DECODE);
		VLM_TRY(vlm_read_bytes(r, &out->psk_group_id));
		VLM_TRY(vl_read_u64(r, &out->psk_epoch));
		break;
	default:
		return vlm_rfail(r, VL_ERR_DECODE);
	}
	return vlm_read_bytes(r, &out->psk_nonce);
}

int vl_mls_psk_id_encode(struct vl_writer *w, const struct vl_mls_psk_id *in)
{
	switch (in->type) {
	case VL_MLS_PSK_EXTERNAL:
		vlm_sticky(vl_write_u8(w, in->type));
		vlm_sticky(vlm_write_bytes(w, &in->psk_id));
		break;
	case VL_MLS_PSK_RESUMPTION:
		if (in->usage < VL_MLS_RESUMPTION_APPLICATION ||
		    in->usage > VL_MLS_RESUMPTION_BRANCH)
			return vlm_wfail(w, VL_ERR_ARG);
		vlm_sticky(vl_write_u8(w, in->type));
		vlm_sticky(vl_write_u8(w, in->usage));
		vlm_sticky(vlm_write_bytes(w, &in->psk_group_id));
		vlm_sticky(vl_write_u64(w, in->psk_epoch));
		break;
	default:
		return vlm_wfail(w, VL_ERR_ARG);
	}
	return vlm_write_bytes(w, &in->psk_nonce);
}

int vl_mls_psk_label_encode(struct vl_writer *w, const struct vl_mls_psk_id *id, uint16_t index,
                            uint16_t count)
{
	vlm_sticky(vl_mls_psk_id_encode(w, id));
	vlm_sticky(vl_write_u16(w, index));
	return vl_write_u16(w, count);
}

/* --- Typed extension bodies ------------------------------------------ */

int vl_mls_required_capabilities_decode(struct vl_reader *r, struct vl_mls_arena *a,
                                        struct vl_mls_required_capabilities *out)
{
	memset(out, 0, sizeof *out);
	VLM_TRY(vlm_read_u16_list(r, a, &out->extension_types, VL_MLS_MAX_CAPABILITY_ITEMS));
	VLM_TRY(vlm_read_u16_list(r, a, &out->proposal_types, VL_MLS_MAX_CAPABILITY_ITEMS));
	return vlm_read_u16_list(r, a, &out->credential_types, VL_MLS_MAX_CAPABILITY_ITEMS);
}

int vl_mls_required_capabilities_encode(struct vl_writer *w,
                                        const struct vl_mls_required_capabilities *in)
{
	vlm_sticky(vlm_write_u16_list(w, &in->extension_types, VL_MLS_MAX_CAPABILITY_ITEMS));
	vlm_sticky(vlm_write_u16_list(w, &in->proposal_types, VL_MLS_MAX_CAPABILITY_ITEMS));
	return vlm_write_u16_list(w, &in->credential_types, VL_MLS_MAX_CAPABILITY_ITEMS);
}

static int external_sender_decode(struct vl_reader *r, struct vl_mls_arena *a, void *p)
{
	struct vl_mls_external_sender *s = p;
	memset(s, 0, sizeof *s);
	VLM_TRY(vlm_read_bytes(r, &s->signature_key));
	return vl_mls_credential_decode(r, a, &s->credential);
}

static int external_sender_encode(struct vl_writer *w, const void *p)
{
	const struct vl_mls_external_sender *s = p;
	vlm_sticky(vlm_write_bytes(w, &s->signature_key));
	return vl_mls_credential_encode(w, &s->credential);
}

int vl_mls_external_senders_decode(struct vl_reader *r, struct vl_mls_arena *a,
                                   struct vl_mls_external_senders *out)
{
	const void *items;
	memset(out, 0, sizeof *out);
	VLM_TRY(vlm_read_vec(r, a, sizeof(struct vl_mls_external_sender),
	                     VL_MLS_MAX_EXTERNAL_SENDERS, external_sender_decode, &items,
	                     &out->count));
	out->items = items;
	return VL_OK;
}

int vl_mls_external_senders_encode(struct vl_writer *w, const struct vl_mls_external_senders *in)
{
	return vlm_write_vec(w, in->items, in->count, sizeof *in->items,
	                     VL_MLS_MAX_EXTERNAL_SENDERS, external_sender_encode);
}

static int ext_opaque_parse(const struct vl_mls_extension *ext, struct vl_mls_bytes *out)
{
	struct vl_reader r;
	vl_reader_init(&r, ext->data.data, ext->data.len);
	VLM_TRY(vlm_read_bytes(&r, out));
	return vl_reader_finish(&r);
}

int vl_mls_ext_application_id_parse(const struct vl_mls_extension *ext, struct vl_mls_bytes *out)
{
	return ext_opaque_parse(ext, out);
}

int vl_mls_ext_external_pub_parse(const struct vl_mls_extension *ext, struct vl_mls_bytes *out)
{
	return ext_opaque_parse(ext, out);
}

int vl_mls_ext_opaque_encode(struct vl_writer *w, const struct vl_mls_bytes *v)
{
	return vlm_write_bytes(w, v);
}

int vl_mls_ext_ratchet_tree_parse(const struct vl_mls_extension *ext, struct vl_mls_arena *a,
                                  struct vl_mls_ratchet_tree *out)
{
	return vl_mls_ratchet_tree_parse(ext->data.data, ext->data.len, a, out);
}

int vl_mls_ext_required_capabilities_parse(const struct vl_mls_extension *ext,
                                           struct vl_mls_arena *a,
                                           struct vl_mls_required_capabilities *out)
{
	return vl_mls_required_capabilities_parse(ext->data.data, ext->data.len, a, out);
}

int vl_mls_ext_external_senders_parse(const struct vl_mls_extension *ext, struct vl_mls_arena *a,
                                      struct vl_mls_external_senders *out)
{
	return vl_mls_external_senders_parse(ext->data.data, ext->data.len, a, out);
}

VLM_DEFINE_WHOLE(extension_list, struct vl_mls_extension_list)
VLM_DEFINE_WHOLE(capabilities, struct vl_mls_capabilities)
VLM_DEFINE_WHOLE(credential, struct vl_mls_credential)
VLM_DEFINE_WHOLE(leaf_node, struct vl_mls_leaf_node)
VLM_DEFINE_WHOLE(key_package, struct vl_mls_key_package)
VLM_DEFINE_WHOLE(parent_node, struct vl_mls_parent_node)
VLM_DEFINE_WHOLE(ratchet_tree, struct vl_mls_ratchet_tree)
VLM_DEFINE_WHOLE(hpke_ciphertext, struct vl_mls_hpke_ciphertext)
VLM_DEFINE_WHOLE(update_path, struct vl_mls_update_path)
VLM_DEFINE_WHOLE(psk_id, struct vl_mls_psk_id)
VLM_DEFINE_WHOLE(required_capabilities, struct vl_mls_required_capabilities)
VLM_DEFINE_WHOLE(external_senders, struct vl_mls_external_senders)
