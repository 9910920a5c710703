/* SPDX-License-Identifier: Apache-2.0 */
/* Decodes the input as a LeafNode (RFC 9420 §7.2); what decodes must
 * re-encode to the same bytes, and its LeafNodeTBS must encode. */
#include "fuzz_struct.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vl_mls_arena a;
	struct vl_mls_leaf_node v;
	vl_mls_arena_init(&a, 0);
	if (vl_mls_leaf_node_parse(data, size, &a, &v) == VL_OK) {
		struct vl_writer w;
		fz_writer(&w);
		fz_check(vl_mls_leaf_node_encode(&w, &v), &w, data, size);
		static const struct vl_mls_bytes gid = {(const uint8_t *)"g", 1};
		fz_writer(&w);
		fz_must_encode(vl_mls_leaf_node_tbs_encode(&w, &v, &gid, 1), &w);
	}
	vl_mls_arena_cleanup(&a);
	return 0;
}
