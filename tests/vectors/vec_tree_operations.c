/* SPDX-License-Identifier: Apache-2.0 */
/* tree-operations.json: applying an Add, Update or Remove proposal to a
 * ratchet tree (RFC 9420 §12.1, §7.7), checking the encoded tree and tree
 * hashes before and after. Usage: vec_tree_operations [FILE] */
#include "crypto/crypto.h"
#include "mls/tree.h"
#include "vec_mls.h"

static bool check_entry(json_t *e, const struct vl_suite *s)
{
	size_t before_len, prop_len, after_len;
	uint64_t sender;
	uint8_t *before = tu_json_hex(e, "tree_before", &before_len);
	uint8_t *prop = tu_json_hex(e, "proposal", &prop_len);
	uint8_t *after = tu_json_hex(e, "tree_after", &after_len);
	struct vl_mls_arena a;
	struct vl_mls_ratchet_tree rt;
	struct vl_mls_proposal p;
	struct mls_tree t = {0};
	uint8_t h[VL_HASH_MAX];
	vl_mls_arena_init(&a, 0);
	bool ok = before && prop && after && tu_json_uint(e, "proposal_sender", &sender) &&
	          sender <= UINT32_MAX &&
	          vl_mls_ratchet_tree_parse(before, before_len, &a, &rt) == VL_OK &&
	          vl_mls_proposal_parse(prop, prop_len, &a, &p) == VL_OK &&
	          mls_tree_load(&t, s, &rt) == VL_OK;
	ok = ok && mls_tree_root_hash(&t, h) == VL_OK &&
	     vec_same(e, "tree_hash_before", h, s->hash_len);
	if (ok) {
		uint32_t leaf;
		switch (p.type) {
		case VL_MLS_PROPOSAL_ADD:
			ok = mls_tree_add(&t, &p.add.leaf_node, &leaf) == VL_OK;
			break;
		case VL_MLS_PROPOSAL_UPDATE:
			ok = mls_tree_update(&t, (uint32_t)sender, &p.update) == VL_OK;
			break;
		case VL_MLS_PROPOSAL_REMOVE:
			ok = mls_tree_remove(&t, p.remove) == VL_OK;
			break;
		default:
			ok = false;
		}
	}
	uint8_t *enc = NULL;
	size_t enc_len = 0;
	ok = ok && mls_tree_encode_alloc(&t, &enc, &enc_len) == VL_OK &&
	     vec_same(e, "tree_after", enc, enc_len);
	ok = ok && mls_tree_root_hash(&t, h) == VL_OK &&
	     vec_same(e, "tree_hash_after", h, s->hash_len);
	free(enc);
	mls_tree_cleanup(&t);
	vl_mls_arena_cleanup(&a);
	free(before);
	free(prop);
	free(after);
	return ok;
}

int main(int argc, char **argv)
{
	return vec_main(argc, argv, "mls/tree-operations.json", check_entry,
	                "tree operation mismatch");
}
