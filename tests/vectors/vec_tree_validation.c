/* SPDX-License-Identifier: Apache-2.0 */
/* tree-validation.json: resolution and tree hash of every node, parent
 * hashes and leaf signatures of a ratchet tree as a joiner checks them
 * (RFC 9420 §§4.1.1, 7.8, 7.9, 7.3). Usage: vec_tree_validation [FILE] */
#include "crypto/crypto.h"
#include "mls/tree.h"
#include "vec_mls.h"

static bool check_entry(json_t *e, const struct vl_suite *s)
{
	size_t tree_len, gid_len;
	uint8_t *tree = tu_json_hex(e, "tree", &tree_len);
	uint8_t *gid = tu_json_hex(e, "group_id", &gid_len);
	json_t *res = json_object_get(e, "resolutions");
	json_t *hashes = json_object_get(e, "tree_hashes");
	struct vl_mls_arena a;
	struct vl_mls_ratchet_tree rt;
	struct mls_tree t = {0};
	vl_mls_arena_init(&a, 0);
	bool ok = tree && gid && json_is_array(res) && json_is_array(hashes) &&
	          vl_mls_ratchet_tree_parse(tree, tree_len, &a, &rt) == VL_OK &&
	          mls_tree_load(&t, s, &rt) == VL_OK;
	ok = ok && json_array_size(res) <= mls_tree_width(&t) &&
	     json_array_size(hashes) == json_array_size(res);
	uint32_t *r = ok ? calloc(mls_tree_width(&t), sizeof *r) : NULL;
	for (size_t x = 0; ok && x < json_array_size(res); x++) {
		json_t *want = json_array_get(res, x);
		size_t n = mls_tree_resolution(&t, (uint32_t)x, r, mls_tree_width(&t));
		ok = json_is_array(want) && n == json_array_size(want);
		for (size_t i = 0; ok && i < n; i++)
			ok = (json_int_t)r[i] == json_integer_value(json_array_get(want, i));
		if (!ok)
			fprintf(stderr, "  resolution of node %zu differs\n", x);
		uint8_t h[VL_HASH_MAX];
		ok = ok && mls_tree_hash(&t, (uint32_t)x, h) == VL_OK;
		size_t hl;
		uint8_t *wh =
		    ok ? tu_unhex(json_string_value(json_array_get(hashes, x)), &hl) : NULL;
		ok = ok && wh && hl == s->hash_len && memcmp(wh, h, hl) == 0;
		if (!ok)
			fprintf(stderr, "  tree hash of node %zu differs\n", x);
		free(wh);
	}
	free(r);
	struct vl_mls_bytes group_id = {gid, gid_len};
	if (ok && mls_tree_validate(&t, &group_id, NULL) != VL_OK) {
		fprintf(stderr, "  tree does not validate\n");
		ok = false;
	}
	/* The tree re-encodes to the same bytes. */
	uint8_t *enc = NULL;
	size_t enc_len = 0;
	ok = ok && mls_tree_encode_alloc(&t, &enc, &enc_len) == VL_OK && enc_len == tree_len &&
	     memcmp(enc, tree, tree_len) == 0;
	free(enc);
	mls_tree_cleanup(&t);
	vl_mls_arena_cleanup(&a);
	free(tree);
	free(gid);
	return ok;
}

int main(int argc, char **argv)
{
	return vec_main(argc, argv, "mls/tree-validation.json", check_entry,
	                "tree validation mismatch");
}
