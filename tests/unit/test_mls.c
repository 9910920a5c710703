/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of src/mls: tree math against a definition by walking the
 * tree, and (as the engine grows) the key schedule, secret tree and group
 * scenarios. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mls/treemath.h"

/* Common ancestor by walking parents: the first node on y's path (y
 * included) whose subtree holds x. */
static uint32_t slow_common_ancestor(uint32_t x, uint32_t y, uint32_t n_leaves)
{
	uint32_t a = y;
	while (!mls_tm_is_descendant(x, a)) {
		uint32_t p;
		assert_true(mls_tm_parent(a, n_leaves, &p));
		a = p;
	}
	return a;
}

static void test_tree_math_paths(void **state)
{
	(void)state;
	for (uint32_t n = 1; n <= 64; n *= 2) {
		uint32_t w = mls_tm_node_width(n);
		uint32_t root = mls_tm_root(n);
		for (uint32_t x = 0; x < w; x++) {
			uint32_t dp[32], cp[32];
			uint32_t nd = mls_tm_direct_path(x, n, dp);
			uint32_t nc = mls_tm_copath(x, n, cp);
			assert_int_equal(nd, nc);
			/* The direct path climbs one level at a time to the root. */
			assert_int_equal(nd, mls_tm_level(root) - mls_tm_level(x));
			if (nd > 0)
				assert_int_equal(dp[nd - 1], root);
			for (uint32_t i = 0; i < nd; i++) {
				assert_true(mls_tm_is_descendant(x, dp[i]));
				assert_false(mls_tm_is_descendant(x, cp[i]));
			}
			for (uint32_t y = 0; y < w; y++)
				assert_int_equal(mls_tm_common_ancestor(x, y),
				                 slow_common_ancestor(x, y, n));
		}
		uint32_t p;
		assert_false(mls_tm_parent(root, n, &p));
		assert_false(mls_tm_parent(w, n, &p));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tree_math_paths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
