/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Array-representation tree math (RFC 9420 Appendix C), computed with bit
 * operations on node indices.
 */
#include "mls/treemath.h"

uint32_t mls_tm_log2(uint32_t x)
{
	if (x == 0)
		return 0;
	return 31 - (uint32_t)__builtin_clz(x);
}

uint32_t mls_tm_level(uint32_t x)
{
	if ((x & 1) == 0)
		return 0;
	return (uint32_t)__builtin_ctz(~x);
}

uint32_t mls_tm_node_width(uint32_t n_leaves)
{
	return n_leaves == 0 ? 0 : 2 * (n_leaves - 1) + 1;
}

uint32_t mls_tm_root(uint32_t n_leaves)
{
	return (UINT32_C(1) << mls_tm_log2(mls_tm_node_width(n_leaves))) - 1;
}

bool mls_tm_left(uint32_t x, uint32_t *out)
{
	uint32_t k = mls_tm_level(x);
	if (k == 0)
		return false;
	*out = x ^ (UINT32_C(1) << (k - 1));
	return true;
}

bool mls_tm_right(uint32_t x, uint32_t *out)
{
	uint32_t k = mls_tm_level(x);
	if (k == 0)
		return false;
	*out = x ^ (UINT32_C(3) << (k - 1));
	return true;
}

bool mls_tm_parent(uint32_t x, uint32_t n_leaves, uint32_t *out)
{
	if (n_leaves == 0 || x >= mls_tm_node_width(n_leaves) || x == mls_tm_root(n_leaves))
		return false;
	uint32_t k = mls_tm_level(x);
	uint32_t b = (x >> (k + 1)) & 1;
	*out = (x | (UINT32_C(1) << k)) ^ (b << (k + 1));
	return true;
}

bool mls_tm_sibling(uint32_t x, uint32_t n_leaves, uint32_t *out)
{
	uint32_t p, l, r;
	if (!mls_tm_parent(x, n_leaves, &p))
		return false;
	(void)mls_tm_left(p, &l);
	(void)mls_tm_right(p, &r);
	*out = x < p ? r : l;
	return true;
}

uint32_t mls_tm_direct_path(uint32_t x, uint32_t n_leaves, uint32_t out[32])
{
	uint32_t n = 0, p;
	while (mls_tm_parent(x, n_leaves, &p)) {
		out[n++] = p;
		x = p;
	}
	return n;
}

uint32_t mls_tm_copath(uint32_t x, uint32_t n_leaves, uint32_t out[32])
{
	uint32_t n = 0, p, s;
	while (mls_tm_parent(x, n_leaves, &p)) {
		(void)mls_tm_sibling(x, n_leaves, &s);
		out[n++] = s;
		x = p;
	}
	return n;
}

uint32_t mls_tm_common_ancestor(uint32_t x, uint32_t y)
{
	/* The ancestor at level k of a node keeps the bits above k and sets
	 * bit k-1.. pattern 0111; the LCA is where the high bits agree. */
	uint32_t lx = mls_tm_level(x) + 1, ly = mls_tm_level(y) + 1;
	if (lx <= ly && (x >> ly) == (y >> ly))
		return y;
	if (ly <= lx && (x >> lx) == (y >> lx))
		return x;
	uint32_t xn = x, yn = y, k = 0;
	while (xn != yn) {
		xn >>= 1;
		yn >>= 1;
		k++;
	}
	return (xn << k) + (UINT32_C(1) << (k - 1)) - 1;
}

bool mls_tm_is_descendant(uint32_t a, uint32_t x)
{
	uint32_t k = mls_tm_level(x);
	/* The subtree of x spans node indices [x - (2^k - 1), x + (2^k - 1)]. */
	uint32_t span = (UINT32_C(1) << k) - 1;
	return a >= x - span && a <= x + span;
}
