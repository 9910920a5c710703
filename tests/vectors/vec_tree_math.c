/* SPDX-License-Identifier: Apache-2.0 */
/* tree-math.json: node counts, root, children, parent and sibling in the
 * array representation (RFC 9420 Appendix C). Usage: vec_tree_math [FILE] */
#include <stdio.h>
#include <stdlib.h>

#include "mls/treemath.h"
#include "testutil.h"

/* Compares an array of optional<uint32> with the function's answers. */
static bool check_array(json_t *arr, uint32_t n_nodes, uint32_t n_leaves, int which)
{
	if (!json_is_array(arr) || json_array_size(arr) != n_nodes)
		return false;
	for (uint32_t i = 0; i < n_nodes; i++) {
		json_t *v = json_array_get(arr, i);
		uint32_t got = 0;
		bool have;
		switch (which) {
		case 0:
			have = mls_tm_left(i, &got);
			break;
		case 1:
			have = mls_tm_right(i, &got);
			break;
		case 2:
			have = mls_tm_parent(i, n_leaves, &got);
			break;
		default:
			have = mls_tm_sibling(i, n_leaves, &got);
			break;
		}
		if (json_is_null(v) ? have
		                    : (!have || !json_is_integer(v) ||
		                       (json_int_t)got != json_integer_value(v)))
			return false;
	}
	return true;
}

int main(int argc, char **argv)
{
	const char *path = tu_vector_path(argc > 1 ? argv[1] : NULL, "mls/tree-math.json");
	json_t *root = tu_load_json(path);
	struct tu_tally t = {.file = tu_basename(path)};
	if (!root) {
		printf("vectors: %s: 0 passed, 0 failed, 1 skipped (file absent)\n", t.file);
		return 77;
	}
	size_t i;
	json_t *e;
	json_array_foreach(root, i, e)
	{
		uint64_t n_leaves, n_nodes, rt;
		if (!tu_json_uint(e, "n_leaves", &n_leaves) ||
		    !tu_json_uint(e, "n_nodes", &n_nodes) || !tu_json_uint(e, "root", &rt) ||
		    n_leaves == 0 || n_leaves > MLS_TM_MAX_LEAVES) {
			tu_fail(&t, i, "bad vector entry");
			continue;
		}
		uint32_t nl = (uint32_t)n_leaves;
		bool ok = mls_tm_node_width(nl) == n_nodes && mls_tm_root(nl) == rt &&
		          check_array(json_object_get(e, "left"), (uint32_t)n_nodes, nl, 0) &&
		          check_array(json_object_get(e, "right"), (uint32_t)n_nodes, nl, 1) &&
		          check_array(json_object_get(e, "parent"), (uint32_t)n_nodes, nl, 2) &&
		          check_array(json_object_get(e, "sibling"), (uint32_t)n_nodes, nl, 3);
		if (ok)
			t.passed++;
		else
			tu_fail(&t, i, "tree math mismatch");
	}
	json_decref(root);
	tu_tally_print(&t);
	return t.failed ? 1 : 0;
}
