/* SPDX-License-Identifier: Apache-2.0 */
/* treekem.json: merging and decrypting the given UpdatePaths as every
 * other member, the resulting tree hash and commit secret, then a fresh
 * UpdatePath from each sender processed by every other member (RFC 9420
 * §§7.4-7.6). Usage: vec_treekem [FILE] */
#include "crypto/crypto.h"
#include "mls/keyschedule.h"
#include "mls/treekem.h"
#include "mls/treemath.h"
#include "vec_mls.h"

#define MAX_MEMBERS 64

struct tk_case {
	const struct vl_suite *s;
	struct mls_tree tree; /* ratchet_tree as given */
	uint8_t *gid, *cth;
	size_t gid_len, cth_len;
	uint64_t epoch;
	struct mls_tree_priv priv[MAX_MEMBERS];
	uint8_t *sig_priv[MAX_MEMBERS];
	bool have[MAX_MEMBERS];
};

/* GroupContext with the tree's current root hash. */
static int tk_context(struct tk_case *c, struct mls_tree *t, uint8_t **gc, size_t *gc_len)
{
	uint8_t th[VL_HASH_MAX];
	int rc = mls_tree_root_hash(t, th);
	if (rc == VL_OK)
		rc = mls_group_context_encode(c->s, c->gid, c->gid_len, c->epoch, th, c->cth, NULL,
		                              0, gc, gc_len);
	return rc;
}

static bool load_private(struct tk_case *c, json_t *lp)
{
	size_t i;
	json_t *e;
	json_array_foreach(lp, i, e)
	{
		uint64_t idx;
		size_t n, sl;
		if (!tu_json_uint(e, "index", &idx) || idx >= MAX_MEMBERS)
			return false;
		struct mls_tree_priv *p = &c->priv[idx];
		memset(p, 0, sizeof *p);
		p->leaf = (uint32_t)idx;
		uint8_t *ep = tu_json_hex(e, "encryption_priv", &n);
		c->sig_priv[idx] = tu_json_hex(e, "signature_priv", &sl);
		if (!ep || n != c->s->kem_priv_len || !c->sig_priv[idx]) {
			free(ep);
			return false;
		}
		memcpy(p->leaf_priv, ep, n);
		free(ep);
		json_t *pss = json_object_get(e, "path_secrets");
		size_t j;
		json_t *ps;
		json_array_foreach(pss, j, ps)
		{
			uint64_t node;
			uint8_t *sec = tu_json_hex(ps, "path_secret", &n);
			bool ok = sec && n == c->s->hash_len && tu_json_uint(ps, "node", &node) &&
			          mls_tree_priv_set_path_secret(p, c->s, (uint32_t)node, sec,
			                                        NULL) == VL_OK;
			free(sec);
			if (!ok)
				return false;
		}
		if (mls_tree_priv_check(p, &c->tree) != VL_OK) {
			fprintf(stderr, "  private state %u inconsistent with the tree\n",
			        (unsigned)idx);
			return false;
		}
		c->have[idx] = true;
	}
	return true;
}

/* Every member but the sender merges path into a copy of the tree and
 * decrypts it; secrets (if non-NULL) lists the expected path secrets.
 * Checks the commit secret and, if th_after is non-NULL, the tree hash. */
static bool process_all(struct tk_case *c, uint32_t sender, const struct vl_mls_update_path *path,
                        json_t *secrets, const uint8_t *commit_secret, json_t *up)
{
	struct mls_tree t;
	uint8_t *gc = NULL;
	size_t gc_len;
	if (mls_tree_copy(&t, &c->tree) != VL_OK)
		return false;
	bool ok = mls_tree_merge_path(&t, sender, path) == VL_OK;
	if (!ok)
		fprintf(stderr, "  merge of the path from %u failed\n", sender);
	uint8_t th[VL_HASH_MAX];
	if (ok && up)
		ok = mls_tree_root_hash(&t, th) == VL_OK &&
		     vec_same(up, "tree_hash_after", th, c->s->hash_len);
	ok = ok && tk_context(c, &t, &gc, &gc_len) == VL_OK;
	for (uint32_t j = 0; ok && j < MAX_MEMBERS; j++) {
		if (!c->have[j] || j == sender || mls_tree_leaf_blank(&t, j))
			continue;
		struct mls_tree_priv p = c->priv[j];
		uint8_t ps[VL_HASH_MAX], cs[VL_HASH_MAX];
		ok = mls_treekem_decap(&t, &p, sender, path, NULL, 0, gc, gc_len, ps, cs) == VL_OK;
		if (ok && secrets) {
			size_t n;
			uint8_t *want = tu_unhex(json_string_value(json_array_get(secrets, j)), &n);
			ok = want && n == c->s->hash_len && memcmp(want, ps, n) == 0;
			free(want);
		}
		ok = ok && memcmp(cs, commit_secret, c->s->hash_len) == 0;
		ok = ok && mls_tree_priv_check(&p, &t) == VL_OK;
		if (!ok)
			fprintf(stderr, "  member %u could not process the path from %u\n", j,
			        sender);
		mls_tree_priv_wipe(&p);
	}
	free(gc);
	mls_tree_cleanup(&t);
	return ok;
}

/* A fresh UpdatePath from sender, processed by everyone else. */
static bool fresh_path(struct tk_case *c, uint32_t sender)
{
	struct mls_tree t;
	struct mls_path_secrets ps;
	struct vl_mls_arena a;
	struct vl_sig_key *signer = NULL;
	uint8_t *gc = NULL, sig[VL_SIG_MAX];
	size_t gc_len;
	if (!c->sig_priv[sender] || mls_tree_copy(&t, &c->tree) != VL_OK)
		return false;
	vl_mls_arena_init(&a, 0);
	bool ok = vl_sig_key_from_private(c->s, c->sig_priv[sender], &signer) == VL_OK &&
	          mls_treekem_prepare(&t, sender, NULL, &ps) == VL_OK;
	struct vl_mls_update_path path = {0};
	if (ok) {
		path.leaf_node = *mls_tree_leaf(&c->tree, sender);
		path.leaf_node.encryption_key =
		    (struct vl_mls_bytes){ps.leaf_pub, c->s->kem_pub_len};
		path.leaf_node.source = VL_MLS_LEAF_SOURCE_COMMIT;
		path.leaf_node.parent_hash = (struct vl_mls_bytes){ps.leaf_ph, ps.leaf_ph_len};
		struct vl_mls_bytes gid = {c->gid, c->gid_len};
		ok = mls_leaf_sign(signer, &path.leaf_node, &gid, sender, sig) == VL_OK &&
		     mls_tree_set_leaf(&t, sender, &path.leaf_node) == VL_OK &&
		     tk_context(c, &t, &gc, &gc_len) == VL_OK &&
		     mls_treekem_encap(&t, &ps, NULL, 0, gc, gc_len, &a, &path) == VL_OK;
	}
	/* Round trip through the wire encoding, as a receiver would get it. */
	uint8_t *enc = NULL;
	size_t enc_len = 0;
	struct vl_mls_update_path dec;
	ok = ok && vl_mls_update_path_encode_alloc(&path, &enc, &enc_len) == VL_OK &&
	     vl_mls_update_path_parse(enc, enc_len, &a, &dec) == VL_OK;
	ok = ok && process_all(c, sender, &dec, NULL, ps.commit_secret, NULL);
	free(enc);
	free(gc);
	mls_path_secrets_wipe(&ps);
	vl_sig_key_free(signer);
	vl_mls_arena_cleanup(&a);
	mls_tree_cleanup(&t);
	return ok;
}

static bool check_entry(json_t *e, const struct vl_suite *s)
{
	struct tk_case *c = calloc(1, sizeof *c);
	size_t rt_len;
	uint8_t *rt = tu_json_hex(e, "ratchet_tree", &rt_len);
	struct vl_mls_arena a;
	struct vl_mls_ratchet_tree tree;
	vl_mls_arena_init(&a, 0);
	if (!c) {
		free(rt);
		return false;
	}
	c->s = s;
	c->gid = tu_json_hex(e, "group_id", &c->gid_len);
	c->cth = tu_json_hex(e, "confirmed_transcript_hash", &c->cth_len);
	bool ok = rt && c->gid && c->cth && c->cth_len == s->hash_len &&
	          tu_json_uint(e, "epoch", &c->epoch) &&
	          vl_mls_ratchet_tree_parse(rt, rt_len, &a, &tree) == VL_OK &&
	          mls_tree_load(&c->tree, s, &tree) == VL_OK;
	ok = ok && load_private(c, json_object_get(e, "leaves_private"));
	json_t *ups = json_object_get(e, "update_paths");
	size_t i;
	json_t *up;
	json_array_foreach(ups, i, up)
	{
		if (!ok)
			break;
		uint64_t sender;
		size_t up_len, cs_len;
		uint8_t *upb = tu_json_hex(up, "update_path", &up_len);
		uint8_t *cs = tu_json_hex(up, "commit_secret", &cs_len);
		struct vl_mls_update_path path;
		ok = upb && cs && cs_len == s->hash_len && tu_json_uint(up, "sender", &sender) &&
		     sender < MAX_MEMBERS &&
		     vl_mls_update_path_parse(upb, up_len, &a, &path) == VL_OK;
		ok = ok && process_all(c, (uint32_t)sender, &path,
		                       json_object_get(up, "path_secrets"), cs, up);
		ok = ok && fresh_path(c, (uint32_t)sender);
		free(upb);
		free(cs);
	}
	for (uint32_t j = 0; j < MAX_MEMBERS; j++) {
		mls_tree_priv_wipe(&c->priv[j]);
		free(c->sig_priv[j]);
	}
	mls_tree_cleanup(&c->tree);
	vl_mls_arena_cleanup(&a);
	free(c->gid);
	free(c->cth);
	free(c);
	free(rt);
	return ok;
}

int main(int argc, char **argv)
{
	return vec_main(argc, argv, "mls/treekem.json", check_entry, "treekem mismatch");
}
