/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of src/mls: tree math against a definition by walking the
 * tree, and (as the engine grows) the key schedule, secret tree and group
 * scenarios. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "mls/group_int.h"
#include "mls/treemath.h"
#include "valise/mls.h"

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

/* --- Group scenarios ---------------------------------------------------- */

#define MAX_CLIENTS 64

/* A delivery service in miniature: clients and fan-out of one message to
 * every other active member. */
struct world {
	uint16_t suite;
	struct vl_group_config cfg;
	struct vl_group *g[MAX_CLIENTS];
	size_t n;
};

static void world_free(struct world *w)
{
	for (size_t i = 0; i < w->n; i++)
		vl_group_free(w->g[i]);
	memset(w, 0, sizeof *w);
}

/* Every active client but `from` processes msg; returns how many did. */
static size_t deliver(struct world *w, size_t from, const uint8_t *msg, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < w->n; i++) {
		if (i == from || !w->g[i] || !vl_group_active(w->g[i]))
			continue;
		struct vl_group_msg out;
		int rc = vl_group_process(w->g[i], msg, len, &out);
		assert_int_equal(rc, VL_OK);
		free(out.data);
		n++;
	}
	return n;
}

static void assert_agree(struct world *w)
{
	uint8_t ref[64], ea[64];
	size_t ref_len = 0, ea_len;
	uint64_t epoch = 0;
	bool first = true;
	for (size_t i = 0; i < w->n; i++) {
		if (!w->g[i] || !vl_group_active(w->g[i]))
			continue;
		if (first) {
			vl_group_epoch_authenticator(w->g[i], ref, &ref_len);
			epoch = vl_group_epoch(w->g[i]);
			first = false;
			continue;
		}
		vl_group_epoch_authenticator(w->g[i], ea, &ea_len);
		assert_int_equal(ea_len, ref_len);
		assert_memory_equal(ea, ref, ref_len);
		assert_int_equal(vl_group_epoch(w->g[i]), epoch);
	}
}

/* Client `by` commits adding n_new fresh clients; the DS accepts it and
 * everyone (new members included) moves on. */
static void add_clients(struct world *w, size_t by, size_t n_new)
{
	struct vl_key_package *kps[MAX_CLIENTS];
	const uint8_t *kpb[MAX_CLIENTS];
	size_t kpl[MAX_CLIENTS];
	for (size_t i = 0; i < n_new; i++) {
		char id[32];
		snprintf(id, sizeof id, "user%zu@example.org#1", w->n + i);
		assert_int_equal(
		    vl_key_package_new(w->suite, (const uint8_t *)id, strlen(id), NULL, &kps[i]),
		    VL_OK);
		vl_key_package_bytes(kps[i], &kpb[i], &kpl[i]);
	}
	struct vl_commit_args args = {.add = kpb, .add_len = kpl, .n_add = n_new};
	uint8_t *commit, *welcome;
	size_t commit_len, welcome_len;
	assert_int_equal(
	    vl_group_commit(w->g[by], &args, &commit, &commit_len, &welcome, &welcome_len), VL_OK);
	assert_non_null(welcome);
	deliver(w, by, commit, commit_len);
	assert_int_equal(vl_group_commit_merge(w->g[by]), VL_OK);
	for (size_t i = 0; i < n_new; i++) {
		assert_true(w->n < MAX_CLIENTS);
		assert_int_equal(
		    vl_group_join(kps[i], welcome, welcome_len, NULL, 0, &w->cfg, &w->g[w->n]),
		    VL_OK);
		w->n++;
		vl_key_package_free(kps[i]);
	}
	free(commit);
	free(welcome);
	assert_agree(w);
}

/* Client `by` commits the cached proposals (plus removes); accepted. */
static void commit_all(struct world *w, size_t by, const uint32_t *remove, size_t n_remove)
{
	struct vl_commit_args args = {.remove = remove, .n_remove = n_remove};
	uint8_t *commit, *welcome;
	size_t commit_len, welcome_len;
	assert_int_equal(
	    vl_group_commit(w->g[by], &args, &commit, &commit_len, &welcome, &welcome_len), VL_OK);
	deliver(w, by, commit, commit_len);
	assert_int_equal(vl_group_commit_merge(w->g[by]), VL_OK);
	free(commit);
	free(welcome);
	assert_agree(w);
}

/* `from` sends text; every other active member reads it back. */
static void say(struct world *w, size_t from, const char *text)
{
	uint8_t *msg;
	size_t len;
	assert_int_equal(
	    vl_group_encrypt(w->g[from], (const uint8_t *)text, strlen(text), NULL, 0, &msg, &len),
	    VL_OK);
	for (size_t i = 0; i < w->n; i++) {
		if (i == from || !w->g[i] || !vl_group_active(w->g[i]))
			continue;
		struct vl_group_msg out;
		assert_int_equal(vl_group_process(w->g[i], msg, len, &out), VL_OK);
		assert_int_equal(out.kind, VL_GROUP_MSG_APPLICATION);
		assert_int_equal(out.sender, vl_group_own_leaf(w->g[from]));
		assert_int_equal(out.data_len, strlen(text));
		assert_memory_equal(out.data, text, out.data_len);
		free(out.data);
	}
	free(msg);
}

/* Replaces every client by a copy that went through export and import. */
static void reload_all(struct world *w)
{
	for (size_t i = 0; i < w->n; i++) {
		if (!w->g[i])
			continue;
		uint8_t *st;
		size_t st_len;
		struct vl_group *copy;
		assert_int_equal(vl_group_export(w->g[i], &st, &st_len), VL_OK);
		assert_int_equal(vl_group_import(st, st_len, &w->cfg, &copy), VL_OK);
		/* Truncated state is refused, never half-loaded. */
		struct vl_group *bad = NULL;
		assert_int_not_equal(vl_group_import(st, st_len / 2, NULL, &bad), VL_OK);
		assert_null(bad);
		free(st);
		vl_group_free(w->g[i]);
		w->g[i] = copy;
	}
	assert_agree(w);
}

static int test_psk_lookup(void *ctx, const uint8_t *id, size_t id_len, const uint8_t **psk,
                           size_t *psk_len)
{
	static const uint8_t secret[32] = {42};
	(void)ctx;
	if (id_len != 7 || memcmp(id, "psk-one", 7) != 0)
		return VL_ERR_NOT_FOUND;
	*psk = secret;
	*psk_len = sizeof secret;
	return VL_OK;
}

static void start_world_cfg(struct world *w, uint16_t suite, const struct vl_group_config *cfg)
{
	memset(w, 0, sizeof *w);
	w->suite = suite;
	if (cfg)
		w->cfg = *cfg;
	static const char gid[] = "group-1";
	static const char id[] = "user0@example.org#1";
	assert_int_equal(vl_group_create(suite, (const uint8_t *)gid, sizeof gid - 1,
	                                 (const uint8_t *)id, sizeof id - 1, NULL, &w->cfg,
	                                 &w->g[0]),
	                 VL_OK);
	w->n = 1;
}

static void start_world(struct world *w, uint16_t suite)
{
	start_world_cfg(w, suite, NULL);
}

/* PreSharedKey (external and resumption) and GroupContextExtensions
 * proposals by reference, with handshake messages as PrivateMessage. */
static void test_group_psk_gce_private(void **state)
{
	(void)state;
	struct vl_group_config cfg = {.private_handshake = true, .psk_lookup = test_psk_lookup};
	struct world w;
	start_world_cfg(&w, 2, &cfg);
	add_clients(&w, 0, 3);
	uint8_t *prop;
	size_t prop_len;
	assert_int_equal(
	    vl_group_propose_external_psk(w.g[1], (const uint8_t *)"psk-one", 7, &prop, &prop_len),
	    VL_OK);
	deliver(&w, 1, prop, prop_len);
	free(prop);
	assert_int_equal(
	    vl_group_propose_external_psk(w.g[1], (const uint8_t *)"unknown", 7, &prop, &prop_len),
	    VL_ERR_NOT_FOUND);
	uint64_t e = vl_group_epoch(w.g[2]);
	assert_int_equal(vl_group_propose_resumption_psk(w.g[2], e, &prop, &prop_len), VL_OK);
	deliver(&w, 2, prop, prop_len);
	free(prop);
	/* extensions<V> holding one application_id extension. */
	static const uint8_t ext[] = {0x07, 0x00, 0x01, 0x04, 0x03, 'a', 'b', 'c'};
	assert_int_equal(vl_group_propose_extensions(w.g[3], ext, sizeof ext, &prop, &prop_len),
	                 VL_OK);
	deliver(&w, 3, prop, prop_len);
	free(prop);
	commit_all(&w, 0, NULL, 0);
	say(&w, 3, "after psk and extensions");
	add_clients(&w, 2, 1);
	say(&w, 4, "newcomer sees the extensions too");
	/* A Welcome without the tree, the tree passed beside it. */
	struct vl_key_package *kp;
	assert_int_equal(vl_key_package_new(2, (const uint8_t *)"oob", 3, NULL, &kp), VL_OK);
	const uint8_t *kb;
	size_t kl;
	vl_key_package_bytes(kp, &kb, &kl);
	struct vl_commit_args args = {
	    .add = &kb, .add_len = &kl, .n_add = 1, .tree_out_of_band = true};
	uint8_t *commit, *welcome, *tree;
	size_t commit_len, welcome_len, tree_len;
	assert_int_equal(
	    vl_group_commit(w.g[1], &args, &commit, &commit_len, &welcome, &welcome_len), VL_OK);
	deliver(&w, 1, commit, commit_len);
	assert_int_equal(vl_group_commit_merge(w.g[1]), VL_OK);
	assert_int_equal(vl_group_ratchet_tree(w.g[1], &tree, &tree_len), VL_OK);
	assert_int_equal(vl_group_join(kp, welcome, welcome_len, NULL, 0, &w.cfg, &w.g[w.n]),
	                 VL_ERR_NOT_FOUND);
	assert_int_equal(vl_group_join(kp, welcome, welcome_len, tree, tree_len, &w.cfg, &w.g[w.n]),
	                 VL_OK);
	w.n++;
	assert_agree(&w);
	say(&w, w.n - 1, "joined with the tree apart");
	free(commit);
	free(welcome);
	free(tree);
	vl_key_package_free(kp);
	world_free(&w);
}

static void test_group_lifecycle(void **state)
{
	(void)state;
	static const uint16_t suites[] = {1, 2, 3};
	for (size_t si = 0; si < 3; si++) {
		struct world w;
		start_world(&w, suites[si]);
		/* A adds B and C; messages both ways. */
		add_clients(&w, 0, 2);
		assert_int_equal(vl_group_member_count(w.g[0]), 3);
		say(&w, 0, "hello from A");
		say(&w, 2, "hello from C");
		say(&w, 1, "hello from B");
		/* B proposes an update, A commits it by reference. */
		uint8_t *prop;
		size_t prop_len;
		assert_int_equal(vl_group_propose_update(w.g[1], &prop, &prop_len), VL_OK);
		deliver(&w, 1, prop, prop_len);
		free(prop);
		/* A proposal pending across a reload stays committable. */
		assert_int_equal(vl_group_propose_update(w.g[2], &prop, &prop_len), VL_OK);
		deliver(&w, 2, prop, prop_len);
		free(prop);
		reload_all(&w);
		commit_all(&w, 0, NULL, 0);
		say(&w, 1, "B after its update");
		reload_all(&w);
		say(&w, 0, "A after the reload");
		/* A adds D; then C removes B by a proposal A commits. */
		add_clients(&w, 0, 1);
		assert_int_equal(
		    vl_group_propose_remove(w.g[2], vl_group_own_leaf(w.g[1]), &prop, &prop_len),
		    VL_OK);
		/* B keeps a copy of the message stream to try later. */
		deliver(&w, 2, prop, prop_len);
		free(prop);
		uint8_t *commit, *welcome;
		size_t commit_len, welcome_len;
		assert_int_equal(
		    vl_group_commit(w.g[0], NULL, &commit, &commit_len, &welcome, &welcome_len),
		    VL_OK);
		assert_null(welcome);
		for (size_t i = 1; i < w.n; i++) {
			struct vl_group_msg out;
			assert_int_equal(vl_group_process(w.g[i], commit, commit_len, &out), VL_OK);
			assert_int_equal(out.removed_self, i == 1);
		}
		assert_int_equal(vl_group_commit_merge(w.g[0]), VL_OK);
		free(commit);
		assert_false(vl_group_active(w.g[1]));
		assert_int_equal(vl_group_member_count(w.g[0]), 3);
		assert_agree(&w);
		/* Nothing sent after the removal is readable by B. */
		uint8_t *msg;
		size_t len;
		assert_int_equal(
		    vl_group_encrypt(w.g[0], (const uint8_t *)"secret", 6, NULL, 0, &msg, &len),
		    VL_OK);
		struct vl_group_msg out;
		assert_int_not_equal(vl_group_process(w.g[1], msg, len, &out), VL_OK);
		free(msg);
		say(&w, 3, "D says hi");
		say(&w, 2, "C says hi");
		world_free(&w);
	}
}

static void test_group_removed_member_stale(void **state)
{
	(void)state;
	struct world w;
	start_world(&w, 1);
	add_clients(&w, 0, 2);
	/* B misses its removal and keeps the old epoch: the next message is
	 * of an epoch it does not have. */
	struct vl_group *b = w.g[1];
	w.g[1] = NULL;
	uint32_t rm = vl_group_own_leaf(b);
	commit_all(&w, 0, &rm, 1);
	uint8_t *msg;
	size_t len;
	assert_int_equal(vl_group_encrypt(w.g[0], (const uint8_t *)"after", 5, NULL, 0, &msg, &len),
	                 VL_OK);
	struct vl_group_msg out;
	assert_int_equal(vl_group_process(b, msg, len, &out), VL_ERR_STALE_EPOCH);
	free(msg);
	vl_group_free(b);
	world_free(&w);
}

static void test_group_concurrent_commits(void **state)
{
	(void)state;
	struct world w;
	start_world(&w, 3);
	add_clients(&w, 0, 2);
	uint8_t *ca, *cc, *welcome, *again;
	size_t ca_len, cc_len, welcome_len, again_len;
	uint64_t epoch = vl_group_epoch(w.g[0]);
	assert_int_equal(vl_group_commit(w.g[0], NULL, &ca, &ca_len, &welcome, &welcome_len),
	                 VL_OK);
	assert_int_equal(vl_group_commit(w.g[2], NULL, &cc, &cc_len, &welcome, &welcome_len),
	                 VL_OK);
	assert_true(vl_group_commit_pending(w.g[2]));
	/* A second commit while one is pending is refused. */
	assert_int_equal(vl_group_commit(w.g[2], NULL, &again, &again_len, &welcome, &welcome_len),
	                 VL_ERR_STATE);
	/* The DS takes A's: A merges, the others process it; C's pending
	 * commit is discarded by the processing. */
	deliver(&w, 0, ca, ca_len);
	assert_int_equal(vl_group_commit_merge(w.g[0]), VL_OK);
	assert_false(vl_group_commit_pending(w.g[2]));
	assert_int_equal(vl_group_epoch(w.g[2]), epoch + 1);
	assert_agree(&w);
	/* C's stale commit is rejected by everyone. */
	struct vl_group_msg out;
	assert_int_equal(vl_group_process(w.g[1], cc, cc_len, &out), VL_ERR_STALE_EPOCH);
	free(ca);
	free(cc);
	/* C retries in the new epoch; a rejected one is discarded explicitly. */
	assert_int_equal(vl_group_commit(w.g[2], NULL, &cc, &cc_len, &welcome, &welcome_len),
	                 VL_OK);
	vl_group_commit_discard(w.g[2]);
	free(cc);
	commit_all(&w, 2, NULL, 0);
	assert_int_equal(vl_group_epoch(w.g[1]), epoch + 2);
	say(&w, 2, "retried");
	world_free(&w);
}

static void test_group_out_of_order(void **state)
{
	(void)state;
	struct world w;
	start_world(&w, 1);
	add_clients(&w, 0, 1);
	uint8_t *m[5];
	size_t l[5];
	for (int i = 0; i < 5; i++)
		assert_int_equal(
		    vl_group_encrypt(w.g[0], (const uint8_t *)"x", 1, NULL, 0, &m[i], &l[i]),
		    VL_OK);
	struct vl_group_msg out;
	static const int order[5] = {3, 0, 4, 2, 1};
	for (int i = 0; i < 5; i++) {
		assert_int_equal(vl_group_process(w.g[1], m[order[i]], l[order[i]], &out), VL_OK);
		free(out.data);
	}
	/* A replay finds its key deleted. */
	assert_int_not_equal(vl_group_process(w.g[1], m[0], l[0], &out), VL_OK);
	/* A tampered message is refused. */
	m[1][l[1] - 1] ^= 1;
	assert_int_not_equal(vl_group_process(w.g[1], m[1], l[1], &out), VL_OK);
	for (int i = 0; i < 5; i++)
		free(m[i]);
	world_free(&w);
}

/* A commit that fails its last check (confirmation tag) after its
 * proposals and path were applied leaves the receiver exactly as before. */
static void test_group_failed_commit_rollback(void **state)
{
	(void)state;
	struct world w;
	start_world(&w, 1);
	add_clients(&w, 0, 4);
	uint8_t *prop;
	size_t prop_len;
	assert_int_equal(vl_group_propose_update(w.g[3], &prop, &prop_len), VL_OK);
	deliver(&w, 3, prop, prop_len);
	free(prop);
	uint32_t rm = vl_group_own_leaf(w.g[4]);
	struct vl_key_package *kp;
	assert_int_equal(vl_key_package_new(1, (const uint8_t *)"new", 3, NULL, &kp), VL_OK);
	const uint8_t *kb;
	size_t kl;
	vl_key_package_bytes(kp, &kb, &kl);
	struct vl_commit_args args = {
	    .add = &kb, .add_len = &kl, .n_add = 1, .remove = &rm, .n_remove = 1};
	uint8_t *commit, *welcome, *forged;
	size_t commit_len, welcome_len, forged_len;
	assert_int_equal(
	    vl_group_commit(w.g[0], &args, &commit, &commit_len, &welcome, &welcome_len), VL_OK);
	/* The same commit body, signed by its sender, with a zero tag. */
	struct vl_mls_arena a;
	struct vl_mls_message m;
	vl_mls_arena_init(&a, 0);
	assert_int_equal(vl_mls_message_parse(commit, commit_len, &a, &m), VL_OK);
	assert_int_equal(mls_group_send_raw(w.g[0], NULL, &m.public_message.content.commit, &forged,
	                                    &forged_len),
	                 VL_OK);
	for (size_t i = 1; i < 4; i++) {
		uint8_t before[64], after[64];
		size_t bl, al;
		struct vl_group_msg out;
		vl_group_epoch_authenticator(w.g[i], before, &bl);
		assert_int_equal(vl_group_process(w.g[i], forged, forged_len, &out), VL_ERR_CRYPTO);
		vl_group_epoch_authenticator(w.g[i], after, &al);
		assert_memory_equal(before, after, bl);
		assert_int_equal(vl_group_member_count(w.g[i]), 5);
	}
	free(forged);
	vl_mls_arena_cleanup(&a);
	/* The real commit still applies everywhere. */
	for (size_t i = 1; i < w.n; i++) {
		struct vl_group_msg out;
		assert_int_equal(vl_group_process(w.g[i], commit, commit_len, &out), VL_OK);
	}
	assert_int_equal(vl_group_commit_merge(w.g[0]), VL_OK);
	assert_int_equal(vl_group_join(kp, welcome, welcome_len, NULL, 0, NULL, &w.g[w.n]), VL_OK);
	w.n++;
	assert_agree(&w);
	say(&w, 3, "after the rollback");
	say(&w, w.n - 1, "newcomer");
	free(commit);
	free(welcome);
	vl_key_package_free(kp);
	world_free(&w);
}

/* Joining by external commit, with the tree inside the GroupInfo and
 * beside it; the members process the new member's commit. */
static void test_group_external_join(void **state)
{
	(void)state;
	static const uint16_t suites[] = {1, 2, 3};
	for (size_t si = 0; si < 3; si++) {
		struct world w;
		start_world(&w, suites[si]);
		uint8_t *gi, *commit, *tree;
		size_t gi_len, commit_len, tree_len;
		assert_int_equal(vl_group_group_info(w.g[0], true, &gi, &gi_len), VL_ERR_STATE);
		add_clients(&w, 0, 2);
		for (int with_tree = 1; with_tree >= 0; with_tree--) {
			assert_int_equal(vl_group_group_info(w.g[1], with_tree, &gi, &gi_len),
			                 VL_OK);
			assert_int_equal(vl_group_ratchet_tree(w.g[1], &tree, &tree_len), VL_OK);
			assert_true(w.n < MAX_CLIENTS);
			assert_int_equal(
			    vl_group_join_external(gi, gi_len, with_tree ? NULL : tree,
			                           with_tree ? 0 : tree_len, (const uint8_t *)"ext",
			                           3, NULL, NULL, &commit, &commit_len, &w.g[w.n]),
			    VL_OK);
			w.n++;
			assert_int_equal(deliver(&w, w.n - 1, commit, commit_len), w.n - 1);
			assert_agree(&w);
			say(&w, w.n - 1, "joined from outside");
			say(&w, 0, "welcome, outsider");
			free(gi);
			free(commit);
			free(tree);
		}
		assert_int_equal(vl_group_member_count(w.g[0]), 5);
		commit_all(&w, w.n - 1, NULL, 0);
		world_free(&w);
	}
}

/* Commits breaking a rule of §12.2 or §12.4.2, correctly signed by a
 * member, are refused (VL_ERR_INVALID) and change nothing. */
static void test_group_invalid_commits(void **state)
{
	(void)state;
	struct world w;
	start_world(&w, 1);
	add_clients(&w, 0, 3);
	struct vl_group *a = w.g[0], *b = w.g[1];
	uint32_t la = vl_group_own_leaf(a), lc = vl_group_own_leaf(w.g[2]);
	struct vl_mls_arena ar;
	vl_mls_arena_init(&ar, 0);
	/* A valid KeyPackage, to be added twice in one commit. */
	struct vl_key_package *dup;
	assert_int_equal(vl_key_package_new(1, (const uint8_t *)"dup", 3, NULL, &dup), VL_OK);
	const uint8_t *dupb;
	size_t dupl;
	vl_key_package_bytes(dup, &dupb, &dupl);
	struct vl_mls_message km;
	assert_int_equal(vl_mls_message_parse(dupb, dupl, &ar, &km), VL_OK);

	struct vl_mls_proposal_or_ref pr[3];
	memset(pr, 0, sizeof pr);
	static const uint8_t ext[] = {0x00};
	struct vl_mls_commit cases[6];
	memset(cases, 0, sizeof cases);
	/* 0: nothing and no path (a path is required). */
	/* 1: the committer removes itself. */
	pr[0].type = VL_MLS_POR_PROPOSAL;
	pr[0].proposal.type = VL_MLS_PROPOSAL_REMOVE;
	pr[0].proposal.remove = la;
	cases[1].proposals = &pr[0];
	cases[1].proposal_count = 1;
	/* 2: the same KeyPackage added twice. */
	struct vl_mls_proposal_or_ref twice[2];
	memset(twice, 0, sizeof twice);
	for (int i = 0; i < 2; i++) {
		twice[i].type = VL_MLS_POR_PROPOSAL;
		twice[i].proposal.type = VL_MLS_PROPOSAL_ADD;
		twice[i].proposal.add = km.key_package;
	}
	cases[2].proposals = twice;
	cases[2].proposal_count = 2;
	/* 3: two GroupContextExtensions. */
	struct vl_mls_proposal_or_ref gce[2];
	memset(gce, 0, sizeof gce);
	for (int i = 0; i < 2; i++) {
		gce[i].type = VL_MLS_POR_PROPOSAL;
		gce[i].proposal.type = VL_MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS;
		assert_int_equal(vl_mls_extension_list_parse(
		                     ext, 1, &ar, &gce[i].proposal.group_context_extensions),
		                 VL_OK);
	}
	cases[3].proposals = gce;
	cases[3].proposal_count = 2;
	/* 4: a reference to a proposal nobody sent. */
	static const uint8_t bogus[32] = {7};
	pr[1].type = VL_MLS_POR_REFERENCE;
	pr[1].reference = (struct vl_mls_bytes){bogus, 32};
	cases[4].proposals = &pr[1];
	cases[4].proposal_count = 1;
	/* 5: an ExternalInit in a member's commit, and the same leaf removed
	 * twice. */
	struct vl_mls_proposal_or_ref mix[3];
	memset(mix, 0, sizeof mix);
	mix[0].type = mix[1].type = mix[2].type = VL_MLS_POR_PROPOSAL;
	mix[0].proposal.type = VL_MLS_PROPOSAL_REMOVE;
	mix[0].proposal.remove = lc;
	mix[1].proposal = mix[0].proposal;
	mix[2].proposal.type = VL_MLS_PROPOSAL_EXTERNAL_INIT;
	mix[2].proposal.external_init = (struct vl_mls_bytes){bogus, 32};
	cases[5].proposals = mix;
	cases[5].proposal_count = 3;
	for (int i = 0; i < 6; i++) {
		uint8_t *msg, before[64], after[64];
		size_t len, bl, al;
		struct vl_group_msg out;
		assert_int_equal(mls_group_send_raw(a, NULL, &cases[i], &msg, &len), VL_OK);
		vl_group_epoch_authenticator(b, before, &bl);
		assert_int_equal(vl_group_process(b, msg, len, &out), VL_ERR_INVALID);
		vl_group_epoch_authenticator(b, after, &al);
		assert_memory_equal(before, after, bl);
		free(msg);
	}
	/* A tampered membership tag. */
	uint8_t *msg;
	size_t len;
	assert_int_equal(vl_group_commit(a, NULL, &msg, &len, &(uint8_t *){NULL}, &(size_t){0}),
	                 VL_OK);
	msg[len - 1] ^= 0x80;
	struct vl_group_msg out;
	assert_int_equal(vl_group_process(b, msg, len, &out), VL_ERR_CRYPTO);
	msg[len - 1] ^= 0x80;
	assert_int_equal(vl_group_process(b, msg, len, &out), VL_OK);
	assert_int_equal(vl_group_commit_merge(a), VL_OK);
	free(msg);
	vl_key_package_free(dup);
	vl_mls_arena_cleanup(&ar);
	world_free(&w);
}

/* A small deterministic generator (xorshift64*) for the random test. */
static uint64_t rnd_state;
static uint32_t rnd(uint32_t n)
{
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return (uint32_t)((rnd_state * 0x2545F4914F6CDD1Dull) >> 33) % n;
}

/* Index of a random active client. */
static size_t pick(struct world *w)
{
	for (;;) {
		size_t i = rnd((uint32_t)w->n);
		if (w->g[i] && vl_group_active(w->g[i]))
			return i;
	}
}

static void test_group_random(void **state)
{
	(void)state;
	/* Seeded and reproducible: VALISE_MLS_SEED overrides the seed. */
	const char *env = getenv("VALISE_MLS_SEED");
	rnd_state = env ? strtoull(env, NULL, 0) : 0x5eed5eedull;
	if (!rnd_state)
		rnd_state = 1;
	struct world w;
	start_world(&w, 1);
	size_t members = 1, most = 1;
	for (int op = 0; op < 300; op++) {
		uint32_t kind = rnd(10);
		if (members < 2 || (kind < 3 && w.n + 3 <= MAX_CLIENTS && members < 48)) {
			size_t k = 1 + rnd(3);
			add_clients(&w, pick(&w), k);
			members += k;
		} else if (kind < 5 && members > 2) {
			size_t by = pick(&w), victim;
			do
				victim = pick(&w);
			while (victim == by);
			uint32_t leaf = vl_group_own_leaf(w.g[victim]);
			commit_all(&w, by, &leaf, 1);
			assert_false(vl_group_active(w.g[victim]));
			vl_group_free(w.g[victim]);
			w.g[victim] = NULL;
			members--;
		} else if (kind < 7) {
			size_t by = pick(&w), up = pick(&w);
			if (up != by) {
				uint8_t *prop;
				size_t prop_len;
				assert_int_equal(vl_group_propose_update(w.g[up], &prop, &prop_len),
				                 VL_OK);
				deliver(&w, up, prop, prop_len);
				free(prop);
			}
			commit_all(&w, by, NULL, 0);
		} else {
			say(&w, pick(&w), "random chatter");
		}
		assert_int_equal(vl_group_member_count(w.g[pick(&w)]), members);
		most = members > most ? members : most;
	}
	/* The walk must have grown a sizeable group. */
	assert_true(most >= 20);
	world_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tree_math_paths),
	    cmocka_unit_test(test_group_lifecycle),
	    cmocka_unit_test(test_group_removed_member_stale),
	    cmocka_unit_test(test_group_concurrent_commits),
	    cmocka_unit_test(test_group_out_of_order),
	    cmocka_unit_test(test_group_failed_commit_rollback),
	    cmocka_unit_test(test_group_psk_gce_private),
	    cmocka_unit_test(test_group_external_join),
	    cmocka_unit_test(test_group_invalid_commits),
	    cmocka_unit_test(test_group_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
