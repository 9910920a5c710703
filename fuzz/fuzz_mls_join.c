/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Drives joining (RFC 9420 §12.4.3.1) against a fixed KeyPackage (made once
 * per process). The first byte picks how the rest is used:
 *   0: a Welcome (MLSMessage) for vl_group_join();
 *   1: a ratchet tree, loaded and put through the joiner's validation
 *      (parent hashes, leaves, unmerged leaves, key uniqueness), its
 *      resolutions and tree hash;
 *   2: a ratchet tree passed to vl_group_join() with the fixed, valid
 *      Welcome, which carries its own tree: the argument must be ignored
 *      and the join succeed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "mls/tree.h"
#include "valise/mls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vl_key_package *kp;
static uint8_t *welcome;
static size_t welcome_len;

static void setup(void)
{
	static const char gid[] = "fuzz-join";
	static const char a[] = "a@fuzz#1", b[] = "b@fuzz#1";
	struct vl_group *g;
	const uint8_t *kb;
	size_t kl;
	uint8_t *commit;
	size_t commit_len;
	if (vl_group_create(1, (const uint8_t *)gid, sizeof gid - 1, (const uint8_t *)a,
	                    sizeof a - 1, NULL, NULL, &g) != VL_OK ||
	    vl_key_package_new(1, (const uint8_t *)b, sizeof b - 1, NULL, &kp) != VL_OK)
		abort();
	vl_key_package_bytes(kp, &kb, &kl);
	struct vl_commit_args args = {.add = &kb, .add_len = &kl, .n_add = 1};
	if (vl_group_commit(g, &args, &commit, &commit_len, &welcome, &welcome_len) != VL_OK)
		abort();
	free(commit);
	vl_group_free(g);
}

static void tree_check(const uint8_t *buf, size_t len)
{
	struct vl_mls_arena a;
	struct vl_mls_ratchet_tree rt;
	struct mls_tree t;
	vl_mls_arena_init(&a, 1u << 24);
	if (vl_mls_ratchet_tree_parse(buf, len, &a, &rt) == VL_OK &&
	    mls_tree_load(&t, vl_suite_get(1), &rt) == VL_OK) {
		static const uint8_t gid[] = "fuzz";
		struct vl_mls_bytes group_id = {gid, sizeof gid - 1};
		uint8_t h[VL_HASH_MAX];
		uint32_t res[64];
		(void)!mls_tree_validate(&t, &group_id, NULL);
		for (uint32_t x = 0; x < mls_tree_width(&t) && x < 256; x++)
			(void)mls_tree_resolution(&t, x, res, 64);
		(void)!mls_tree_root_hash(&t, h);
		uint8_t *enc = NULL;
		size_t enc_len = 0;
		/* A loaded tree re-encodes to what was parsed. */
		if (mls_tree_encode_alloc(&t, &enc, &enc_len) == VL_OK &&
		    (enc_len != len || memcmp(enc, buf, len) != 0)) {
			fprintf(stderr, "fuzz_mls_join: tree re-encoding differs\n");
			abort();
		}
		free(enc);
		mls_tree_cleanup(&t);
	}
	vl_mls_arena_cleanup(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!kp)
		setup();
	if (size == 0)
		return 0;
	struct vl_group *g = NULL;
	switch (data[0] % 3) {
	case 0:
		(void)!vl_group_join(kp, data + 1, size - 1, NULL, 0, NULL, &g);
		break;
	case 1:
		tree_check(data + 1, size - 1);
		break;
	default:
		if (vl_group_join(kp, welcome, welcome_len, data + 1, size - 1, NULL, &g) !=
		    VL_OK) {
			fprintf(stderr, "fuzz_mls_join: the valid Welcome was refused\n");
			abort();
		}
		break;
	}
	vl_group_free(g);
	return 0;
}
