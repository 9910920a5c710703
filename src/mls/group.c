/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The group state machine (RFC 9420 §§8, 10-12) behind include/valise/mls.h.
 *
 * Invariants:
 *  1. g->cur is the complete state of the current epoch: GroupContext
 *     fields, ratchet tree, the member's private tree keys, epoch secrets
 *     and secret tree. It changes only by a whole swap (epoch_swap), so an
 *     error while processing a commit leaves the group as it was.
 *  2. The proposal cache holds only proposals of the current epoch; it is
 *     emptied at every epoch change.
 *  3. At most one own commit is pending (g->pending); its next epoch is
 *     prepared in full in g->next and installed by vl_group_commit_merge().
 *     Processing another member's commit for the same epoch discards it.
 *  4. An inactive group (removed member) holds no epoch secrets.
 *
 * Transitions: create/join -> active; vl_group_process(commit) and
 * vl_group_commit_merge() -> next epoch (epoch_swap); a commit removing us
 * -> inactive.
 */
#include "valise/mls.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "mls/framing.h"
#include "mls/group_int.h"
#include "mls/keyschedule.h"
#include "mls/secrettree.h"
#include "mls/struct/struct.h"
#include "mls/tree.h"
#include "mls/treekem.h"
#include "mls/treemath.h"
#include "wire/wire.h"

/* Largest message processed or produced. */
#define GROUP_MSG_MAX VL_MLS_MAX_ENCODED
/* Resumption PSKs remembered for PreSharedKey proposals (§8.6). */
#define RESUMPTION_KEEP 8
/* Proposals cached in one epoch. */
#define PROPOSALS_MAX 4096

/* --- KeyPackages ------------------------------------------------------ */

struct vl_key_package {
	const struct vl_suite *suite;
	uint8_t *msg; /* MLSMessage encoding */
	size_t msg_len;
	uint8_t *kp; /* KeyPackage encoding (input of KeyPackageRef) */
	size_t kp_len;
	struct vl_mls_arena arena;
	struct vl_mls_key_package view; /* points into kp */
	uint8_t init_priv[VL_KEM_PRIV_MAX];
	uint8_t enc_priv[VL_KEM_PRIV_MAX];
	uint8_t sig_priv[VL_SIG_PRIV_MAX];
};

void vl_key_package_free(struct vl_key_package *kp)
{
	if (!kp)
		return;
	vl_mls_arena_cleanup(&kp->arena);
	free(kp->msg);
	free(kp->kp);
	vl_wipe(kp, sizeof *kp);
	free(kp);
}

void vl_key_package_bytes(const struct vl_key_package *kp, const uint8_t **out, size_t *len)
{
	*out = kp->msg;
	*len = kp->msg_len;
}

/* Parses an MLSMessage(KeyPackage) into kp->msg / kp->kp / kp->view. */
static int kp_load(struct vl_key_package *kp, const uint8_t *msg, size_t msg_len)
{
	struct vl_mls_message m;
	kp->msg = malloc(msg_len ? msg_len : 1);
	if (!kp->msg)
		return VL_ERR_NOMEM;
	if (msg_len)
		memcpy(kp->msg, msg, msg_len);
	kp->msg_len = msg_len;
	vl_mls_arena_init(&kp->arena, 0);
	int rc = vl_mls_message_parse(kp->msg, msg_len, &kp->arena, &m);
	if (rc == VL_OK && m.wire_format != VL_MLS_WIRE_KEY_PACKAGE)
		rc = VL_ERR_INVALID;
	if (rc == VL_OK)
		rc = vl_mls_key_package_encode_alloc(&m.key_package, &kp->kp, &kp->kp_len);
	if (rc == VL_OK)
		rc = vl_mls_key_package_parse(kp->kp, kp->kp_len, &kp->arena, &kp->view);
	if (rc == VL_OK) {
		kp->suite = vl_suite_get(kp->view.cipher_suite);
		if (!kp->suite)
			rc = VL_ERR_UNSUPPORTED;
	}
	return rc;
}

/* §10.1 and §7.3 checks of a KeyPackage that need no group. */
static int kp_verify(const struct vl_suite *s, const struct vl_mls_key_package *kp)
{
	if (kp->version != VL_MLS_VERSION_MLS10 || kp->cipher_suite != s->id)
		return VL_ERR_INVALID;
	const struct vl_mls_leaf_node *ln = &kp->leaf_node;
	if (ln->source != VL_MLS_LEAF_SOURCE_KEY_PACKAGE || kp->init_key.len != s->kem_pub_len ||
	    ln->encryption_key.len != s->kem_pub_len || ln->signature_key.len != s->sig_pub_len)
		return VL_ERR_INVALID;
	/* §10.1: init_key and encryption_key must differ. */
	if (memcmp(kp->init_key.data, ln->encryption_key.data, s->kem_pub_len) == 0)
		return VL_ERR_INVALID;
	if (mls_leaf_self_check(ln, NULL) != VL_OK)
		return VL_ERR_INVALID;
	struct vl_writer w;
	vl_writer_init_heap(&w, VL_MLS_MAX_ENCODED);
	int rc = vl_mls_key_package_tbs_encode(&w, kp);
	if (rc == VL_OK)
		rc = vl_mls_verify_with_label(s, ln->signature_key.data, ln->signature_key.len,
		                              "KeyPackageTBS", w.buf, w.len, kp->signature.data,
		                              kp->signature.len);
	vl_writer_cleanup(&w);
	if (rc == VL_OK)
		rc = mls_leaf_verify(s, ln, NULL, 0, NULL);
	return rc;
}

/* The capabilities Valise advertises (ARCHITECTURE: basic and x509). */
static const uint16_t caps_versions[] = {VL_MLS_VERSION_MLS10};
static const uint16_t caps_credentials[] = {VL_MLS_CREDENTIAL_BASIC, VL_MLS_CREDENTIAL_X509};

/* A basic-credential LeafNode skeleton (unsigned). suite_id must outlive
 * the leaf (it is pointed to). */
static void leaf_skeleton(struct vl_mls_leaf_node *ln, const uint16_t *suite_id,
                          const uint8_t *identity, size_t identity_len, const uint8_t *enc_pub,
                          size_t enc_len, const uint8_t *sig_pub, size_t sig_len)
{
	memset(ln, 0, sizeof *ln);
	ln->encryption_key = (struct vl_mls_bytes){enc_pub, enc_len};
	ln->signature_key = (struct vl_mls_bytes){sig_pub, sig_len};
	ln->credential.type = VL_MLS_CREDENTIAL_BASIC;
	ln->credential.identity = (struct vl_mls_bytes){identity, identity_len};
	ln->capabilities.versions = (struct vl_mls_u16_list){caps_versions, 1};
	ln->capabilities.cipher_suites = (struct vl_mls_u16_list){suite_id, 1};
	ln->capabilities.credentials = (struct vl_mls_u16_list){caps_credentials, 2};
}

int vl_key_package_new(uint16_t suite, const uint8_t *identity, size_t identity_len,
                       const uint8_t *sig_priv, struct vl_key_package **out)
{
	*out = NULL;
	const struct vl_suite *s = vl_suite_get(suite);
	if (!s)
		return VL_ERR_UNSUPPORTED;
	struct vl_key_package *kp = calloc(1, sizeof *kp);
	if (!kp)
		return VL_ERR_NOMEM;
	uint8_t init_pub[VL_KEM_PUB_MAX], enc_pub[VL_KEM_PUB_MAX], sig_pub[VL_SIG_PUB_MAX];
	uint8_t sig[VL_SIG_MAX], kp_sig[VL_SIG_MAX];
	struct vl_sig_key *signer = NULL;
	int rc = vl_kem_generate(s, kp->init_priv, init_pub);
	if (rc == VL_OK)
		rc = vl_kem_generate(s, kp->enc_priv, enc_pub);
	if (rc == VL_OK && sig_priv) {
		memcpy(kp->sig_priv, sig_priv, s->sig_priv_len);
		rc = vl_sig_public_from_private(s, kp->sig_priv, sig_pub);
	} else if (rc == VL_OK) {
		rc = vl_sig_generate(s, kp->sig_priv, sig_pub);
	}
	if (rc == VL_OK)
		rc = vl_sig_key_from_private(s, kp->sig_priv, &signer);
	uint16_t suite_id = suite;
	struct vl_mls_key_package k = {.version = VL_MLS_VERSION_MLS10, .cipher_suite = suite};
	k.init_key = (struct vl_mls_bytes){init_pub, s->kem_pub_len};
	leaf_skeleton(&k.leaf_node, &suite_id, identity, identity_len, enc_pub, s->kem_pub_len,
	              sig_pub, s->sig_pub_len);
	k.leaf_node.source = VL_MLS_LEAF_SOURCE_KEY_PACKAGE;
	/* A lifetime of 90 days, starting an hour back for clock skew. */
	uint64_t now = (uint64_t)time(NULL);
	k.leaf_node.lifetime.not_before = now > 3600 ? now - 3600 : 0;
	k.leaf_node.lifetime.not_after = now + 90ull * 86400;
	if (rc == VL_OK)
		rc = mls_leaf_sign(signer, &k.leaf_node, NULL, 0, sig);
	struct vl_writer w;
	vl_writer_init_heap(&w, VL_MLS_MAX_ENCODED);
	size_t kp_sig_len = 0;
	if (rc == VL_OK)
		rc = vl_mls_key_package_tbs_encode(&w, &k);
	if (rc == VL_OK)
		rc = vl_mls_sign_with_label_key(signer, "KeyPackageTBS", w.buf, w.len, kp_sig,
		                                &kp_sig_len);
	vl_writer_cleanup(&w);
	k.signature = (struct vl_mls_bytes){kp_sig, kp_sig_len};
	struct vl_mls_message m = {.version = VL_MLS_VERSION_MLS10,
	                           .wire_format = VL_MLS_WIRE_KEY_PACKAGE};
	m.key_package = k;
	uint8_t *msg = NULL;
	size_t msg_len = 0;
	if (rc == VL_OK)
		rc = vl_mls_message_encode_alloc(&m, &msg, &msg_len);
	if (rc == VL_OK)
		rc = kp_load(kp, msg, msg_len);
	free(msg);
	vl_sig_key_free(signer);
	if (rc != VL_OK) {
		vl_key_package_free(kp);
		return rc;
	}
	*out = kp;
	return VL_OK;
}

int vl_key_package_from_parts(const uint8_t *msg, size_t msg_len, const uint8_t *init_priv,
                              const uint8_t *enc_priv, const uint8_t *sig_priv,
                              struct vl_key_package **out)
{
	*out = NULL;
	struct vl_key_package *kp = calloc(1, sizeof *kp);
	if (!kp)
		return VL_ERR_NOMEM;
	int rc = kp_load(kp, msg, msg_len);
	uint8_t pub[VL_KEM_PUB_MAX > VL_SIG_PUB_MAX ? VL_KEM_PUB_MAX : VL_SIG_PUB_MAX];
	if (rc == VL_OK) {
		const struct vl_suite *s = kp->suite;
		const struct vl_mls_leaf_node *ln = &kp->view.leaf_node;
		memcpy(kp->init_priv, init_priv, s->kem_priv_len);
		memcpy(kp->enc_priv, enc_priv, s->kem_priv_len);
		memcpy(kp->sig_priv, sig_priv, s->sig_priv_len);
		if (vl_kem_public_from_private(s, kp->init_priv, pub) != VL_OK ||
		    kp->view.init_key.len != s->kem_pub_len ||
		    memcmp(pub, kp->view.init_key.data, s->kem_pub_len) != 0 ||
		    vl_kem_public_from_private(s, kp->enc_priv, pub) != VL_OK ||
		    ln->encryption_key.len != s->kem_pub_len ||
		    memcmp(pub, ln->encryption_key.data, s->kem_pub_len) != 0 ||
		    vl_sig_public_from_private(s, kp->sig_priv, pub) != VL_OK ||
		    ln->signature_key.len != s->sig_pub_len ||
		    memcmp(pub, ln->signature_key.data, s->sig_pub_len) != 0)
			rc = VL_ERR_INVALID;
	}
	if (rc != VL_OK) {
		vl_key_package_free(kp);
		return rc;
	}
	*out = kp;
	return VL_OK;
}

/* --- Group state ------------------------------------------------------ */

/* Everything that belongs to one epoch (invariant 1). */
struct epoch {
	uint64_t epoch;
	uint8_t tree_hash[VL_HASH_MAX];
	uint8_t confirmed[VL_HASH_MAX];
	uint8_t interim[VL_HASH_MAX];
	/* Epoch 0 of a new group: both transcript hashes are the empty
	 * string (§8.2), not hash_len bytes. */
	bool th_empty;
	uint8_t conf_tag[VL_HASH_MAX]; /* of the commit that made the epoch */
	uint8_t *ext;                  /* encoded extensions<V> of the GroupContext */
	size_t ext_len;
	struct vl_mls_arena ext_arena;
	struct vl_mls_extension_list ext_view;
	struct mls_tree tree;
	struct mls_tree_priv priv;
	struct mls_epoch_secrets sec;
	struct mls_secret_tree st;
	bool st_ready;
};

/* A proposal received (or sent) in the current epoch. */
struct proposal_entry {
	uint8_t ref[VL_HASH_MAX];
	uint8_t sender_type;
	uint32_t sender;
	uint8_t *buf; /* owned bytes the view points into */
	struct vl_mls_arena arena;
	struct vl_mls_proposal p;
	bool own_update; /* our Update: upd_priv is the new leaf key */
	uint8_t upd_priv[VL_KEM_PRIV_MAX];
};

struct resumption_psk {
	uint64_t epoch;
	uint8_t secret[VL_HASH_MAX];
};

struct vl_group {
	const struct vl_suite *suite;
	struct vl_group_config cfg;
	uint8_t *group_id;
	size_t group_id_len;
	uint8_t sig_priv[VL_SIG_PRIV_MAX];
	struct vl_sig_key *signer;
	bool active;
	struct epoch cur;
	struct proposal_entry *props;
	size_t n_props;
	struct resumption_psk resumption[RESUMPTION_KEEP];
	size_t n_resumption;
	bool pending;
	struct epoch next; /* the pending commit's epoch */
};

static void epoch_cleanup(struct epoch *e)
{
	free(e->ext);
	vl_mls_arena_cleanup(&e->ext_arena);
	mls_tree_cleanup(&e->tree);
	mls_tree_priv_wipe(&e->priv);
	mls_epoch_secrets_wipe(&e->sec);
	if (e->st_ready)
		mls_secret_tree_cleanup(&e->st);
	memset(e, 0, sizeof *e);
}

/* Sets the GroupContext extensions from an encoded extensions<V>. */
static int epoch_set_ext(struct epoch *e, const uint8_t *ext, size_t ext_len)
{
	uint8_t *copy = malloc(ext_len ? ext_len : 1);
	if (!copy)
		return VL_ERR_NOMEM;
	if (ext_len)
		memcpy(copy, ext, ext_len);
	struct vl_mls_arena a;
	struct vl_mls_extension_list view;
	vl_mls_arena_init(&a, 0);
	int rc = vl_mls_extension_list_parse(copy, ext_len, &a, &view);
	if (rc != VL_OK) {
		vl_mls_arena_cleanup(&a);
		free(copy);
		return rc;
	}
	free(e->ext);
	vl_mls_arena_cleanup(&e->ext_arena);
	e->ext = copy;
	e->ext_len = ext_len;
	e->ext_arena = a;
	e->ext_view = view;
	return VL_OK;
}

static int epoch_set_ext_list(struct epoch *e, const struct vl_mls_extension_list *l)
{
	uint8_t *enc = NULL;
	size_t len = 0;
	int rc = vl_mls_extension_list_encode_alloc(l, &enc, &len);
	if (rc == VL_OK)
		rc = epoch_set_ext(e, enc, len);
	free(enc);
	return rc;
}

/* A deep copy of the public part of an epoch (tree, context fields and
 * private tree keys); secrets are not copied. */
static int epoch_fork(struct epoch *dst, const struct epoch *src)
{
	memset(dst, 0, sizeof *dst);
	dst->epoch = src->epoch;
	memcpy(dst->tree_hash, src->tree_hash, VL_HASH_MAX);
	memcpy(dst->confirmed, src->confirmed, VL_HASH_MAX);
	memcpy(dst->interim, src->interim, VL_HASH_MAX);
	dst->th_empty = src->th_empty;
	dst->priv = src->priv;
	int rc = epoch_set_ext(dst, src->ext, src->ext_len);
	if (rc == VL_OK)
		rc = mls_tree_copy(&dst->tree, &src->tree);
	if (rc != VL_OK)
		epoch_cleanup(dst);
	return rc;
}

/* Like epoch_fork, but the tree moves from src to dst under an undo
 * journal instead of being copied: processing a commit then costs what it
 * changes, not the size of the group. src must not use its tree until
 * epoch_unfork() or the swap. */
static int epoch_fork_inplace(struct epoch *dst, struct epoch *src)
{
	memset(dst, 0, sizeof *dst);
	dst->epoch = src->epoch;
	memcpy(dst->tree_hash, src->tree_hash, VL_HASH_MAX);
	memcpy(dst->confirmed, src->confirmed, VL_HASH_MAX);
	memcpy(dst->interim, src->interim, VL_HASH_MAX);
	dst->th_empty = src->th_empty;
	dst->priv = src->priv;
	int rc = epoch_set_ext(dst, src->ext, src->ext_len);
	if (rc != VL_OK) {
		epoch_cleanup(dst);
		return rc;
	}
	dst->tree = src->tree;
	memset(&src->tree, 0, sizeof src->tree);
	return mls_tree_journal_begin(&dst->tree);
}

/* Undoes epoch_fork_inplace after a failure: the tree goes back to src as
 * it was. */
static void epoch_unfork(struct epoch *dst, struct epoch *src)
{
	mls_tree_journal_rollback(&dst->tree);
	src->tree = dst->tree;
	memset(&dst->tree, 0, sizeof dst->tree);
	epoch_cleanup(dst);
}

/* The GroupContext view of an epoch (pointers into g and e). */
static struct vl_mls_group_context epoch_context(const struct vl_group *g, const struct epoch *e)
{
	return (struct vl_mls_group_context){
	    .version = VL_MLS_VERSION_MLS10,
	    .cipher_suite = g->suite->id,
	    .group_id = {g->group_id, g->group_id_len},
	    .epoch = e->epoch,
	    .tree_hash = {e->tree_hash, g->suite->hash_len},
	    .confirmed_transcript_hash = {e->confirmed, e->th_empty ? 0 : g->suite->hash_len},
	    .extensions = e->ext_view,
	};
}

static int epoch_context_encode(const struct vl_group *g, const struct epoch *e, uint8_t **out,
                                size_t *out_len)
{
	struct vl_mls_group_context gc = epoch_context(g, e);
	return vl_mls_group_context_encode_alloc(&gc, out, out_len);
}

/* The required_capabilities of an epoch's extensions, if any. */
static int epoch_required(const struct epoch *e, struct vl_mls_arena *a,
                          struct vl_mls_required_capabilities *rc_out, bool *have)
{
	const struct vl_mls_extension *x =
	    vl_mls_extensions_find(&e->ext_view, VL_MLS_EXT_REQUIRED_CAPABILITIES);
	*have = x != NULL;
	if (!x)
		return VL_OK;
	return vl_mls_ext_required_capabilities_parse(x, a, rc_out);
}

static struct mls_framing epoch_framing(const struct vl_group *g, struct epoch *e,
                                        const struct vl_mls_group_context *gc)
{
	return (struct mls_framing){.suite = g->suite,
	                            .context = gc,
	                            .membership_key = e->sec.membership_key,
	                            .sender_data_secret = e->sec.sender_data,
	                            .secret_tree = &e->st,
	                            .padding_block =
	                                g->cfg.padding_block ? g->cfg.padding_block : 32};
}

/* Starts the secret tree of an epoch whose secrets are set. */
static int epoch_start(const struct vl_group *g, struct epoch *e)
{
	int rc = mls_secret_tree_init(&e->st, g->suite, e->sec.encryption, e->tree.n_leaves,
	                              g->cfg.window, g->cfg.max_forward);
	e->st_ready = rc == VL_OK;
	return rc;
}

static void props_clear(struct vl_group *g)
{
	for (size_t i = 0; i < g->n_props; i++) {
		vl_mls_arena_cleanup(&g->props[i].arena);
		free(g->props[i].buf);
		vl_wipe(g->props[i].upd_priv, sizeof g->props[i].upd_priv);
	}
	free(g->props);
	g->props = NULL;
	g->n_props = 0;
}

static void remember_resumption(struct vl_group *g, const struct epoch *e)
{
	if (g->n_resumption == RESUMPTION_KEEP) {
		vl_wipe(&g->resumption[0], sizeof g->resumption[0]);
		memmove(&g->resumption[0], &g->resumption[1],
		        (RESUMPTION_KEEP - 1) * sizeof g->resumption[0]);
		g->n_resumption--;
	}
	g->resumption[g->n_resumption].epoch = e->epoch;
	memcpy(g->resumption[g->n_resumption].secret, e->sec.resumption_psk, VL_HASH_MAX);
	g->n_resumption++;
}

/* Installs next as the current epoch (invariants 1 and 2). */
static void epoch_swap(struct vl_group *g, struct epoch *next)
{
	epoch_cleanup(&g->cur);
	g->cur = *next;
	memset(next, 0, sizeof *next);
	props_clear(g);
	remember_resumption(g, &g->cur);
}

void vl_group_free(struct vl_group *g)
{
	if (!g)
		return;
	epoch_cleanup(&g->cur);
	if (g->pending)
		epoch_cleanup(&g->next);
	props_clear(g);
	vl_sig_key_free(g->signer);
	free(g->group_id);
	vl_wipe(g, sizeof *g);
	free(g);
}

static int group_alloc(const struct vl_suite *s, const uint8_t *group_id, size_t group_id_len,
                       const uint8_t *sig_priv, const struct vl_group_config *cfg,
                       struct vl_group **out)
{
	struct vl_group *g = calloc(1, sizeof *g);
	if (!g)
		return VL_ERR_NOMEM;
	g->suite = s;
	if (cfg)
		g->cfg = *cfg;
	g->group_id = malloc(group_id_len ? group_id_len : 1);
	int rc = g->group_id ? VL_OK : VL_ERR_NOMEM;
	if (rc == VL_OK) {
		if (group_id_len)
			memcpy(g->group_id, group_id, group_id_len);
		g->group_id_len = group_id_len;
		memcpy(g->sig_priv, sig_priv, s->sig_priv_len);
		rc = vl_sig_key_from_private(s, g->sig_priv, &g->signer);
	}
	if (rc != VL_OK) {
		vl_group_free(g);
		return rc;
	}
	*out = g;
	return VL_OK;
}

/* --- Accessors -------------------------------------------------------- */

uint64_t vl_group_epoch(const struct vl_group *g)
{
	return g->cur.epoch;
}

uint16_t vl_group_cipher_suite(const struct vl_group *g)
{
	return g->suite->id;
}

bool vl_group_active(const struct vl_group *g)
{
	return g->active;
}

uint32_t vl_group_own_leaf(const struct vl_group *g)
{
	return g->cur.priv.leaf;
}

uint32_t vl_group_leaf_count(const struct vl_group *g)
{
	return g->cur.tree.n_leaves;
}

uint32_t vl_group_member_count(const struct vl_group *g)
{
	return mls_tree_member_count(&g->cur.tree);
}

int vl_group_member(const struct vl_group *g, uint32_t leaf, uint16_t *cred_type,
                    const uint8_t **identity, size_t *identity_len)
{
	const struct vl_mls_leaf_node *ln = mls_tree_leaf(&g->cur.tree, leaf);
	*identity = NULL;
	*identity_len = 0;
	if (!ln)
		return VL_ERR_NOT_FOUND;
	*cred_type = ln->credential.type;
	if (ln->credential.type == VL_MLS_CREDENTIAL_BASIC) {
		*identity = ln->credential.identity.data;
		*identity_len = ln->credential.identity.len;
	}
	return VL_OK;
}

void vl_group_epoch_authenticator(const struct vl_group *g, uint8_t out[64], size_t *len)
{
	memcpy(out, g->cur.sec.epoch_authenticator, g->suite->hash_len);
	*len = g->suite->hash_len;
}

int vl_group_export_secret(const struct vl_group *g, const char *label, const uint8_t *context,
                           size_t context_len, uint8_t *out, size_t out_len)
{
	if (!g->active)
		return VL_ERR_STATE;
	if (out_len > UINT16_MAX)
		return VL_ERR_ARG;
	return mls_ks_export(g->suite, g->cur.sec.exporter, (const uint8_t *)label, strlen(label),
	                     context, context_len, out, (uint16_t)out_len);
}

int vl_group_ratchet_tree(const struct vl_group *g, uint8_t **out, size_t *out_len)
{
	*out = NULL;
	*out_len = 0;
	if (!g->active)
		return VL_ERR_STATE;
	return mls_tree_encode_alloc(&g->cur.tree, out, out_len);
}

bool vl_group_commit_pending(const struct vl_group *g)
{
	return g->pending;
}

/* --- Pre-shared keys (§8.4) -------------------------------------------- */

/* Fills p from a PreSharedKeyID and the secret it names. VL_ERR_NOT_FOUND
 * if the PSK is not available. */
static int psk_resolve(const struct vl_group *g, const struct vl_mls_psk_id *id, struct mls_psk *p)
{
	memset(p, 0, sizeof *p);
	if (id->psk_nonce.len != g->suite->hash_len)
		return VL_ERR_INVALID;
	p->type = id->type;
	p->nonce = id->psk_nonce.data;
	p->nonce_len = id->psk_nonce.len;
	if (id->type == VL_MLS_PSK_EXTERNAL) {
		p->psk_id = id->psk_id.data;
		p->psk_id_len = id->psk_id.len;
		if (!g->cfg.psk_lookup)
			return VL_ERR_NOT_FOUND;
		return g->cfg.psk_lookup(g->cfg.psk_ctx, id->psk_id.data, id->psk_id.len,
		                         &p->secret, &p->secret_len) == VL_OK
		           ? VL_OK
		           : VL_ERR_NOT_FOUND;
	}
	/* §12.1.4: reinit and branch PSKs only in those operations, which
	 * this engine does not perform. */
	if (id->usage != VL_MLS_RESUMPTION_APPLICATION)
		return VL_ERR_INVALID;
	p->usage = id->usage;
	p->group_id = id->psk_group_id.data;
	p->group_id_len = id->psk_group_id.len;
	p->epoch = id->psk_epoch;
	if (id->psk_group_id.len != g->group_id_len ||
	    memcmp(id->psk_group_id.data, g->group_id, g->group_id_len) != 0)
		return VL_ERR_NOT_FOUND;
	if (id->psk_epoch == g->cur.epoch) {
		p->secret = g->cur.sec.resumption_psk;
		p->secret_len = g->suite->hash_len;
		return VL_OK;
	}
	for (size_t i = 0; i < g->n_resumption; i++)
		if (g->resumption[i].epoch == id->psk_epoch) {
			p->secret = g->resumption[i].secret;
			p->secret_len = g->suite->hash_len;
			return VL_OK;
		}
	return VL_ERR_NOT_FOUND;
}

static bool psk_id_equal(const struct vl_mls_psk_id *a, const struct vl_mls_psk_id *b)
{
#define BEQ(x, y) ((x).len == (y).len && ((x).len == 0 || memcmp((x).data, (y).data, (x).len) == 0))
	if (a->type != b->type || !BEQ(a->psk_nonce, b->psk_nonce))
		return false;
	if (a->type == VL_MLS_PSK_EXTERNAL)
		return BEQ(a->psk_id, b->psk_id);
	return a->usage == b->usage && a->psk_epoch == b->psk_epoch &&
	       BEQ(a->psk_group_id, b->psk_group_id);
#undef BEQ
}

/* --- Proposal lists (§§12.1-12.3) --------------------------------------- */

/* One proposal of a commit, by value or resolved from the cache. */
struct committed {
	const struct vl_mls_proposal *p;
	uint8_t sender_type;
	uint32_t sender;
	const struct proposal_entry *entry; /* NULL for by value */
};

/* What applying a list produced. */
struct applied {
	uint32_t *added; /* new leaves, in list order */
	size_t n_added;
	const struct vl_mls_key_package **added_kp;
	struct mls_psk *psks;
	struct vl_mls_psk_id *psk_ids;
	size_t n_psks;
	bool path_required;
	bool removes_self;
};

static void applied_cleanup(struct applied *a)
{
	free(a->added);
	free(a->added_kp);
	free(a->psks);
	free(a->psk_ids);
	memset(a, 0, sizeof *a);
}

static bool u16_listed(const struct vl_mls_u16_list *l, uint16_t v)
{
	for (size_t i = 0; i < l->count; i++)
		if (l->items[i] == v)
			return true;
	return false;
}

/* Credential types in use and those every member supports (§7.3): both
 * short lists over a tree. */
struct cred_rules {
	uint16_t in_use[32];
	size_t n_in_use;
	uint16_t common[64];
	size_t n_common;
	bool first;
};

static void cred_fold(struct cred_rules *c, const struct vl_mls_leaf_node *ln)
{
	bool seen = false;
	for (size_t i = 0; i < c->n_in_use; i++)
		seen |= c->in_use[i] == ln->credential.type;
	if (!seen && c->n_in_use < sizeof c->in_use / sizeof c->in_use[0])
		c->in_use[c->n_in_use++] = ln->credential.type;
	const struct vl_mls_u16_list *caps = &ln->capabilities.credentials;
	if (c->first) {
		for (size_t i = 0; i < caps->count && c->n_common < 64; i++)
			c->common[c->n_common++] = caps->items[i];
		c->first = false;
		return;
	}
	size_t j = 0;
	for (size_t i = 0; i < c->n_common; i++)
		if (u16_listed(caps, c->common[i]))
			c->common[j++] = c->common[i];
	c->n_common = j;
}

/* A new leaf's credential fits the group: its type is supported by every
 * member and it supports every type in use. */
static bool cred_fits(const struct cred_rules *c, const struct vl_mls_leaf_node *ln)
{
	if (!c->first) {
		bool ok = false;
		for (size_t i = 0; i < c->n_common; i++)
			ok |= c->common[i] == ln->credential.type;
		if (!ok)
			return false;
	}
	for (size_t i = 0; i < c->n_in_use; i++)
		if (!u16_listed(&ln->capabilities.credentials, c->in_use[i]))
			return false;
	return true;
}

/* Index of the current members' keys after updates and removes, for the
 * uniqueness rules; parents' keys join the encryption set. */
struct member_index {
	struct mls_keyset enc, sig;
	struct cred_rules cred;
};

static int index_build(const struct mls_tree *t, struct member_index *ix)
{
	memset(ix, 0, sizeof *ix);
	ix->cred.first = true;
	int rc = mls_keyset_init(&ix->enc, mls_tree_width(t));
	if (rc == VL_OK)
		rc = mls_keyset_init(&ix->sig, t->n_leaves);
	for (uint32_t x = 0; rc == VL_OK && x < mls_tree_width(t); x++) {
		const struct mls_tnode *n = &t->nodes[x];
		if (n->type == VL_MLS_NODE_LEAF) {
			const struct vl_mls_leaf_node *ln = &n->leaf.ln;
			if (mls_keyset_insert(&ix->enc, ln->encryption_key.data,
			                      ln->encryption_key.len) != VL_OK ||
			    mls_keyset_insert(&ix->sig, ln->signature_key.data,
			                      ln->signature_key.len) != VL_OK)
				rc = VL_ERR_INVALID;
			cred_fold(&ix->cred, ln);
		} else if (n->type == VL_MLS_NODE_PARENT) {
			if (mls_keyset_insert(&ix->enc, n->parent.key, n->parent.key_len) != VL_OK)
				rc = VL_ERR_INVALID;
		}
	}
	return rc;
}

static void index_cleanup(struct member_index *ix)
{
	if (!ix->enc.slot)
		return;
	mls_keyset_cleanup(&ix->enc);
	mls_keyset_cleanup(&ix->sig);
}

/* Checks that every member supports the (new) GroupContext extensions and
 * required capabilities (§12.1.7). */
static int gce_supported(const struct mls_tree *t, const struct vl_mls_extension_list *ext,
                         const struct vl_mls_required_capabilities *req)
{
	for (uint32_t l = 0; l < t->n_leaves; l++) {
		const struct vl_mls_leaf_node *ln = mls_tree_leaf(t, l);
		if (!ln)
			continue;
		for (size_t i = 0; i < ext->count; i++) {
			uint16_t et = ext->items[i].type;
			if (!(et >= VL_MLS_EXT_APPLICATION_ID &&
			      et <= VL_MLS_EXT_EXTERNAL_SENDERS) &&
			    !u16_listed(&ln->capabilities.extensions, et))
				return VL_ERR_INVALID;
		}
		if (mls_leaf_self_check(ln, req) != VL_OK)
			return VL_ERR_INVALID;
	}
	return VL_OK;
}

/* Validates (§12.2) and applies (§12.3) a regular commit's proposal list
 * from committer to next. */
static int apply_proposals(struct vl_group *g, struct epoch *next, uint32_t committer,
                           bool external, const struct committed *list, size_t n,
                           struct applied *out)
{
	const struct vl_suite *s = g->suite;
	struct vl_mls_bytes gid = {g->group_id, g->group_id_len};
	struct vl_mls_arena a;
	struct member_index ix = {0};
	size_t n_add = 0, n_psk = 0, n_gce = 0, n_other = 0, n_upd = 0, n_ext = 0, n_rem = 0;
	int rc = VL_OK;
	memset(out, 0, sizeof *out);
	vl_mls_arena_init(&a, 0);
	/* Pass 1: the rules on the list's shape. */
	uint8_t *touched = calloc(next->tree.n_leaves, 1);
	if (!touched)
		return VL_ERR_NOMEM;
	for (size_t i = 0; rc == VL_OK && i < n; i++) {
		const struct vl_mls_proposal *p = list[i].p;
		switch (p->type) {
		case VL_MLS_PROPOSAL_ADD:
			n_add++;
			break;
		case VL_MLS_PROPOSAL_UPDATE:
			n_other++;
			n_upd++;
			/* §12.2: not from the committer, one per leaf. */
			if (list[i].sender_type != VL_MLS_SENDER_MEMBER ||
			    list[i].sender == committer || list[i].sender >= next->tree.n_leaves ||
			    touched[list[i].sender]++)
				rc = VL_ERR_INVALID;
			break;
		case VL_MLS_PROPOSAL_REMOVE:
			n_other++;
			n_rem++;
			if (p->remove == committer || p->remove >= next->tree.n_leaves ||
			    mls_tree_leaf_blank(&next->tree, p->remove) || touched[p->remove]++)
				rc = VL_ERR_INVALID;
			break;
		case VL_MLS_PROPOSAL_PSK:
			for (size_t j = 0; j < i && rc == VL_OK; j++)
				if (list[j].p->type == VL_MLS_PROPOSAL_PSK &&
				    psk_id_equal(&list[j].p->psk, &p->psk))
					rc = VL_ERR_INVALID;
			n_psk++;
			break;
		case VL_MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS:
			n_other++;
			if (++n_gce > 1)
				rc = VL_ERR_INVALID;
			break;
		case VL_MLS_PROPOSAL_REINIT:
			/* ReInit (§11.2) is not implemented: the group cannot be
			 * reinitialised by this engine. */
			rc = VL_ERR_UNSUPPORTED;
			break;
		case VL_MLS_PROPOSAL_EXTERNAL_INIT:
			/* Only in external commits, applied by the caller. */
			n_ext++;
			if (!external)
				rc = VL_ERR_INVALID;
			break;
		default:
			/* Other types are not supported by this client (§12.2). */
			rc = VL_ERR_INVALID;
			break;
		}
	}
	free(touched);
	/* §12.2: an external commit holds one ExternalInit, at most one
	 * Remove (the joiner's old self) and PSKs, nothing else. */
	if (rc == VL_OK && external && (n_ext != 1 || n_rem > 1 || n_add || n_upd || n_gce))
		rc = VL_ERR_INVALID;
	out->path_required = n == 0 || n_other > 0;
	if (rc == VL_OK && n_add) {
		out->added = calloc(n_add, sizeof *out->added);
		out->added_kp = calloc(n_add, sizeof *out->added_kp);
		if (!out->added || !out->added_kp)
			rc = VL_ERR_NOMEM;
	}
	if (rc == VL_OK && n_psk) {
		out->psks = calloc(n_psk, sizeof *out->psks);
		out->psk_ids = calloc(n_psk, sizeof *out->psk_ids);
		if (!out->psks || !out->psk_ids)
			rc = VL_ERR_NOMEM;
	}
	/* GroupContextExtensions first: later checks use the new extensions. */
	for (size_t i = 0; rc == VL_OK && i < n; i++)
		if (list[i].p->type == VL_MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS)
			rc = epoch_set_ext_list(next, &list[i].p->group_context_extensions);
	struct vl_mls_required_capabilities req;
	bool have_req = false;
	if (rc == VL_OK)
		rc = epoch_required(next, &a, &req, &have_req);
	if (rc == VL_OK && n_gce)
		rc = gce_supported(&next->tree, &next->ext_view, have_req ? &req : NULL);
	/* Updates, then removes. */
	for (size_t i = 0; rc == VL_OK && i < n; i++) {
		const struct vl_mls_proposal *p = list[i].p;
		if (p->type == VL_MLS_PROPOSAL_UPDATE) {
			const struct vl_mls_leaf_node *old =
			    mls_tree_leaf(&next->tree, list[i].sender);
			const struct vl_mls_leaf_node *ln = &p->update;
			if (!old || ln->source != VL_MLS_LEAF_SOURCE_UPDATE ||
			    ln->encryption_key.len != s->kem_pub_len ||
			    ln->signature_key.len != s->sig_pub_len ||
			    (old->encryption_key.len == ln->encryption_key.len &&
			     memcmp(old->encryption_key.data, ln->encryption_key.data,
			            ln->encryption_key.len) == 0) ||
			    mls_leaf_self_check(ln, have_req ? &req : NULL) != VL_OK)
				rc = VL_ERR_INVALID;
			if (rc == VL_OK)
				rc = mls_leaf_verify(s, ln, &gid, list[i].sender, NULL);
			if (rc == VL_OK)
				rc = mls_tree_update(&next->tree, list[i].sender, ln);
			if (rc == VL_OK && list[i].sender == next->priv.leaf) {
				/* Our own Update committed by another member. */
				if (!list[i].entry || !list[i].entry->own_update)
					rc = VL_ERR_INVALID;
				else
					memcpy(next->priv.leaf_priv, list[i].entry->upd_priv,
					       VL_KEM_PRIV_MAX);
			}
		}
	}
	for (size_t i = 0; rc == VL_OK && i < n; i++) {
		const struct vl_mls_proposal *p = list[i].p;
		if (p->type != VL_MLS_PROPOSAL_REMOVE)
			continue;
		if (p->remove == next->priv.leaf)
			out->removes_self = true;
		/* Blank now, truncate once every remove is done. */
		rc = mls_tree_blank(&next->tree, 2 * p->remove);
		if (rc == VL_OK)
			rc = mls_tree_blank_path(&next->tree, p->remove);
	}
	if (rc == VL_OK)
		mls_tree_truncate(&next->tree);
	/* Uniqueness (§7.3) over the members left, then each Add in order.
	 * A commit with neither adds nor updates brings no new leaf but the
	 * committer's, which path_check() looks at. */
	if (rc == VL_OK && (n_add || n_upd))
		rc = index_build(&next->tree, &ix);
	for (size_t i = 0; rc == VL_OK && i < n; i++) {
		/* Updated leaves must fit the credential rules of the others. */
		if (list[i].p->type == VL_MLS_PROPOSAL_UPDATE &&
		    !cred_fits(&ix.cred, &list[i].p->update))
			rc = VL_ERR_INVALID;
	}
	for (size_t i = 0; rc == VL_OK && i < n; i++) {
		const struct vl_mls_proposal *p = list[i].p;
		if (p->type != VL_MLS_PROPOSAL_ADD)
			continue;
		const struct vl_mls_leaf_node *ln = &p->add.leaf_node;
		rc = kp_verify(s, &p->add);
		if (rc == VL_OK && (!cred_fits(&ix.cred, ln) ||
		                    mls_leaf_self_check(ln, have_req ? &req : NULL) != VL_OK))
			rc = VL_ERR_INVALID;
		if (rc == VL_OK &&
		    (mls_keyset_insert(&ix.enc, ln->encryption_key.data, ln->encryption_key.len) ||
		     mls_keyset_insert(&ix.sig, ln->signature_key.data, ln->signature_key.len)))
			rc = VL_ERR_INVALID;
		uint32_t leaf;
		if (rc == VL_OK)
			rc = mls_tree_add(&next->tree, ln, &leaf);
		if (rc == VL_OK) {
			cred_fold(&ix.cred, ln);
			out->added_kp[out->n_added] = &p->add;
			out->added[out->n_added++] = leaf;
		}
	}
	for (size_t i = 0; rc == VL_OK && i < n; i++) {
		if (list[i].p->type != VL_MLS_PROPOSAL_PSK)
			continue;
		out->psk_ids[out->n_psks] = list[i].p->psk;
		rc = psk_resolve(g, &list[i].p->psk, &out->psks[out->n_psks]);
		out->n_psks++;
	}
	index_cleanup(&ix);
	vl_mls_arena_cleanup(&a);
	if (rc != VL_OK)
		applied_cleanup(out);
	return rc;
}

/* --- Epoch transition (§§8, 12.4) --------------------------------------- */

/* Completes next after its tree and extensions are final: transcript
 * hashes, key schedule, confirmation tag (verified when tag_in is set,
 * else written to tag_out), interim hash and secret tree. next->epoch and
 * next->tree_hash must already be set. */
static int epoch_finish(struct vl_group *g, struct epoch *next, const uint8_t *commit_secret,
                        const uint8_t *init_secret, const struct applied *ap,
                        const struct mls_raw_content *raw, uint16_t wire_format,
                        const struct vl_mls_framed_content *content,
                        const struct vl_mls_auth_data *auth, const struct vl_mls_bytes *tag_in,
                        uint8_t tag_out[VL_HASH_MAX])
{
	const struct vl_suite *s = g->suite;
	struct vl_writer w;
	uint8_t *gc = NULL, psk_secret[VL_HASH_MAX], tag[VL_HASH_MAX];
	size_t gc_len = 0;
	vl_writer_init_heap(&w, GROUP_MSG_MAX);
	int rc =
	    vl_mls_confirmed_transcript_input_encode(&w, wire_format, content, &auth->signature);
	if (rc == VL_OK)
		rc = mls_transcript_confirmed(s, g->cur.th_empty ? NULL : g->cur.interim, w.buf,
		                              w.len, next->confirmed);
	vl_writer_cleanup(&w);
	next->th_empty = false;
	if (rc == VL_OK)
		rc = epoch_context_encode(g, next, &gc, &gc_len);
	if (rc == VL_OK)
		rc = mls_psk_secret(s, ap->psks, ap->n_psks, psk_secret);
	if (rc == VL_OK)
		rc = mls_ks_joiner(s, init_secret ? init_secret : g->cur.sec.init, commit_secret,
		                   gc, gc_len, next->sec.joiner);
	if (rc == VL_OK)
		rc = mls_ks_from_joiner(s, psk_secret, gc, gc_len, &next->sec);
	if (rc == VL_OK)
		rc = mls_confirmation_tag(s, next->sec.confirmation_key, next->confirmed, tag);
	if (rc == VL_OK && tag_in &&
	    (tag_in->len != s->hash_len || !vl_ct_equal(tag, tag_in->data, s->hash_len)))
		rc = VL_ERR_CRYPTO;
	if (rc == VL_OK && tag_out)
		memcpy(tag_out, tag, VL_HASH_MAX);
	if (rc == VL_OK)
		memcpy(next->conf_tag, tag, VL_HASH_MAX);
	if (rc == VL_OK)
		rc = mls_transcript_interim(s, next->confirmed, tag, s->hash_len, next->interim);
	if (rc == VL_OK)
		rc = epoch_start(g, next);
	free(gc);
	vl_wipe(psk_secret, sizeof psk_secret);
	return rc;
}

/* §12.4.2: the committer's new leaf and path keys against the tree the
 * proposals produced (before the merge). */
static int path_check(const struct vl_group *g, const struct epoch *next, uint32_t committer,
                      bool external, const struct vl_mls_update_path *path)
{
	const struct vl_suite *s = g->suite;
	const struct vl_mls_leaf_node *ln = &path->leaf_node;
	const struct vl_mls_leaf_node *old = mls_tree_leaf(&next->tree, committer);
	struct vl_mls_bytes gid = {g->group_id, g->group_id_len};
	struct vl_mls_arena a;
	struct vl_mls_required_capabilities req;
	bool have_req;
	/* An external joiner's leaf is blank until the path is merged. */
	if ((!old && !external) || ln->source != VL_MLS_LEAF_SOURCE_COMMIT ||
	    ln->encryption_key.len != s->kem_pub_len || ln->signature_key.len != s->sig_pub_len)
		return VL_ERR_INVALID;
	vl_mls_arena_init(&a, 0);
	int rc = epoch_required(next, &a, &req, &have_req);
	if (rc == VL_OK)
		rc = mls_leaf_self_check(ln, have_req ? &req : NULL);
	vl_mls_arena_cleanup(&a);
	if (rc != VL_OK)
		return VL_ERR_INVALID;
	/* The credential rules need a walk over the members only when the
	 * committer's credential type or supported types change. */
	bool cred_same =
	    old && ln->credential.type == old->credential.type &&
	    ln->capabilities.credentials.count == old->capabilities.credentials.count &&
	    (ln->capabilities.credentials.count == 0 ||
	     memcmp(ln->capabilities.credentials.items, old->capabilities.credentials.items,
	            ln->capabilities.credentials.count * sizeof(uint16_t)) == 0);
	bool sig_same =
	    old && ln->signature_key.len == old->signature_key.len &&
	    memcmp(ln->signature_key.data, old->signature_key.data, ln->signature_key.len) == 0;
	/* Every key of the path is new to the tree; the signature key may
	 * stay the committer's own. Keys are compared on their first eight
	 * bytes before memcmp: this walk is the one part of processing a
	 * commit that grows with the group. */
	size_t nk = path->node_count + 1;
	uint64_t heads[MLS_PATH_MAX + 1];
	const struct vl_mls_bytes *keys[MLS_PATH_MAX + 1];
	if (path->node_count > MLS_PATH_MAX)
		return VL_ERR_INVALID;
	keys[0] = &ln->encryption_key;
	for (size_t i = 0; i < path->node_count; i++)
		keys[i + 1] = &path->nodes[i].encryption_key;
	for (size_t i = 0; i < nk; i++) {
		if (keys[i]->len < 8)
			return VL_ERR_INVALID;
		memcpy(&heads[i], keys[i]->data, 8);
	}
	for (uint32_t x = 0; x < mls_tree_width(&next->tree); x++) {
		const struct mls_tnode *n = &next->tree.nodes[x];
		const uint8_t *k = NULL;
		size_t k_len = 0;
		if (n->type == VL_MLS_NODE_LEAF) {
			const struct vl_mls_leaf_node *m = &n->leaf.ln;
			k = m->encryption_key.data;
			k_len = m->encryption_key.len;
			if (x != 2 * committer && !sig_same &&
			    m->signature_key.len == ln->signature_key.len &&
			    memcmp(m->signature_key.data, ln->signature_key.data,
			           ln->signature_key.len) == 0)
				return VL_ERR_INVALID;
			if (x != 2 * committer && !cred_same &&
			    (!u16_listed(&m->capabilities.credentials, ln->credential.type) ||
			     !u16_listed(&ln->capabilities.credentials, m->credential.type)))
				return VL_ERR_INVALID;
		} else if (n->type == VL_MLS_NODE_PARENT) {
			k = n->parent.key;
			k_len = n->parent.key_len;
		}
		if (!k || k_len < 8)
			continue;
		uint64_t head;
		memcpy(&head, k, 8);
		for (size_t i = 0; i < nk; i++)
			if (head == heads[i] && keys[i]->len == k_len &&
			    memcmp(keys[i]->data, k, k_len) == 0)
				return VL_ERR_INVALID;
	}
	return mls_leaf_verify(s, ln, &gid, committer, NULL);
}

/* --- Incoming messages -------------------------------------------------- */

/* A decoded, authenticated message: the views point into buf / plain and
 * arena, all owned here until handed over. */
struct incoming {
	uint8_t *buf;
	uint8_t *plain;
	size_t plain_len;
	struct vl_mls_arena arena;
	uint16_t wire_format;
	struct vl_mls_framed_content content;
	struct vl_mls_auth_data auth;
	bool have_raw; /* PublicMessage: the bytes as received */
	struct mls_raw_content raw;
};

static void incoming_cleanup(struct incoming *in)
{
	free(in->buf);
	if (in->plain) {
		vl_wipe(in->plain, in->plain_len);
		free(in->plain);
	}
	vl_mls_arena_cleanup(&in->arena);
}

/* The key that must have signed a received content: the sender leaf's,
 * or for a new member's commit (§12.4.3.2) the one in its path (loaded
 * into *owned). External senders and new-member proposals are not
 * supported by this engine. */
static int sender_key(struct vl_group *g, const struct incoming *in, const struct vl_sig_key **key,
                      struct vl_sig_key **owned)
{
	*key = NULL;
	*owned = NULL;
	if (in->content.sender.type == VL_MLS_SENDER_NEW_MEMBER_COMMIT) {
		const struct vl_mls_commit *c = &in->content.commit;
		if (in->wire_format != VL_MLS_WIRE_PUBLIC_MESSAGE ||
		    in->content.content_type != VL_MLS_CONTENT_COMMIT || !c->has_path)
			return VL_ERR_INVALID;
		if (vl_sig_key_from_public(g->suite, c->path.leaf_node.signature_key.data,
		                           c->path.leaf_node.signature_key.len, owned) != VL_OK)
			return VL_ERR_CRYPTO;
		*key = *owned;
		return VL_OK;
	}
	if (in->content.sender.type != VL_MLS_SENDER_MEMBER)
		return VL_ERR_UNSUPPORTED;
	if (mls_tree_leaf_sig_key(&g->cur.tree, in->content.sender.index, key) != VL_OK)
		return VL_ERR_INVALID;
	return VL_OK;
}

/* Decodes, unprotects and authenticates a message of the current epoch. */
static int incoming_open(struct vl_group *g, const uint8_t *msg, size_t msg_len,
                         struct incoming *in)
{
	memset(in, 0, sizeof *in);
	vl_mls_arena_init(&in->arena, 0);
	if (msg_len > GROUP_MSG_MAX)
		return VL_ERR_LIMIT;
	in->buf = malloc(msg_len ? msg_len : 1);
	if (!in->buf)
		return VL_ERR_NOMEM;
	if (msg_len)
		memcpy(in->buf, msg, msg_len);
	struct vl_mls_message m;
	int rc = vl_mls_message_parse(in->buf, msg_len, &in->arena, &m);
	if (rc != VL_OK)
		return rc;
	struct vl_mls_group_context gc = epoch_context(g, &g->cur);
	struct mls_framing f = epoch_framing(g, &g->cur, &gc);
	in->wire_format = m.wire_format;
	if (m.wire_format == VL_MLS_WIRE_PUBLIC_MESSAGE) {
		const struct vl_mls_public_message *pm = &m.public_message;
		in->content = pm->content;
		in->auth = pm->auth;
		/* Group and epoch first: a stale message says so, whoever sent
		 * it. */
		if (pm->content.group_id.len != g->group_id_len ||
		    memcmp(pm->content.group_id.data, g->group_id, g->group_id_len) != 0)
			return VL_ERR_INVALID;
		if (pm->content.epoch != g->cur.epoch)
			return VL_ERR_STALE_EPOCH;
		rc = mls_public_raw(in->buf, msg_len, pm, &in->raw);
		in->have_raw = rc == VL_OK;
		const struct vl_sig_key *key = NULL;
		struct vl_sig_key *owned = NULL;
		if (rc == VL_OK)
			rc = sender_key(g, in, &key, &owned);
		if (rc == VL_OK)
			rc = mls_public_open(&f, pm, &in->raw, key);
		vl_sig_key_free(owned);
		return rc;
	}
	if (m.wire_format != VL_MLS_WIRE_PRIVATE_MESSAGE)
		return VL_ERR_INVALID;
	rc = mls_private_decode(&f, &m.private_message, &in->arena, &in->content, &in->auth,
	                        &in->plain, &in->plain_len);
	const struct vl_sig_key *key = NULL;
	struct vl_sig_key *owned = NULL;
	if (rc == VL_OK)
		rc = sender_key(g, in, &key, &owned);
	if (rc == VL_OK)
		rc = mls_content_verify(&f, in->wire_format, &in->content, &in->auth, key);
	vl_sig_key_free(owned);
	return rc;
}

static int proposal_ref_of(const struct vl_suite *s, const struct incoming *in,
                           uint8_t ref[VL_HASH_MAX])
{
	/* AuthenticatedContent = wire_format || FramedContent || auth: as
	 * received, when we have the bytes. */
	if (in->have_raw)
		return vl_mls_proposal_ref(s, in->raw.msg + 2, in->raw.auth_end - 2, ref);
	struct vl_mls_authenticated_content ac = {
	    .wire_format = in->wire_format, .content = in->content, .auth = in->auth};
	uint8_t *enc = NULL;
	size_t len = 0;
	int rc = vl_mls_authenticated_content_encode_alloc(&ac, &enc, &len);
	if (rc == VL_OK)
		rc = vl_mls_proposal_ref(s, enc, len, ref);
	free(enc);
	return rc;
}

/* Caches a proposal; takes the buffers of in. */
static int cache_proposal(struct vl_group *g, struct incoming *in, const uint8_t *upd_priv)
{
	if (g->n_props == PROPOSALS_MAX)
		return VL_ERR_LIMIT;
	struct proposal_entry e = {.sender_type = in->content.sender.type,
	                           .sender = in->content.sender.index,
	                           .p = in->content.proposal};
	int rc = proposal_ref_of(g->suite, in, e.ref);
	if (rc != VL_OK)
		return rc;
	struct proposal_entry *n = realloc(g->props, (g->n_props + 1) * sizeof *n);
	if (!n)
		return VL_ERR_NOMEM;
	g->props = n;
	if (upd_priv) {
		e.own_update = true;
		memcpy(e.upd_priv, upd_priv, VL_KEM_PRIV_MAX);
	}
	/* The proposal's views point into buf or plain and into arena. */
	e.buf = in->plain ? in->plain : in->buf;
	if (in->plain) {
		free(in->buf);
	}
	e.arena = in->arena;
	in->buf = NULL;
	in->plain = NULL;
	vl_mls_arena_init(&in->arena, 0);
	g->props[g->n_props++] = e;
	return VL_OK;
}

/* init_secret from an ExternalInit (§8.3): the receiving side of
 * SetupBaseS(external_pub, "") and export("MLS 1.0 external init secret"). */
static int external_init_secret(const struct vl_group *g, const struct vl_mls_bytes *kem_output,
                                uint8_t out[VL_HASH_MAX])
{
	static const char label[] = "MLS 1.0 external init secret";
	const struct vl_suite *s = g->suite;
	struct vl_hpke_alg alg = {s->kem_id, s->kdf_id, s->aead_id};
	struct vl_hpke_mode_args m = {.mode = VL_HPKE_MODE_BASE};
	struct vl_hpke_ctx *ctx = NULL;
	uint8_t priv[VL_KEM_PRIV_MAX], pub[VL_KEM_PUB_MAX];
	int rc = mls_ks_external_keypair(s, g->cur.sec.external, priv, pub);
	if (rc == VL_OK)
		rc = vl_hpke_setup_receiver(&alg, &m, kem_output->data, kem_output->len, priv, "",
		                            0, &ctx);
	if (rc == VL_OK)
		rc = vl_hpke_ctx_export(ctx, label, sizeof label - 1, out, s->hash_len);
	vl_hpke_ctx_free(ctx);
	vl_wipe(priv, sizeof priv);
	return rc == VL_OK ? VL_OK : VL_ERR_CRYPTO;
}

/* Applies another member's commit (§12.4.2). */
static int process_commit(struct vl_group *g, struct incoming *in, struct vl_group_msg *out)
{
	const struct vl_suite *s = g->suite;
	const struct vl_mls_commit *c = &in->content.commit;
	uint32_t committer = in->content.sender.index;
	struct committed *list = NULL;
	struct applied ap = {0};
	struct epoch next;
	uint8_t commit_secret[VL_HASH_MAX] = {0}, *gc = NULL;
	size_t gc_len = 0;
	bool have_secret = false;
	bool external = in->content.sender.type == VL_MLS_SENDER_NEW_MEMBER_COMMIT;
	uint8_t ext_init[VL_HASH_MAX];
	if (external)
		committer = UINT32_MAX; /* known once the proposals are applied */
	else if (committer == g->cur.priv.leaf)
		return VL_ERR_INVALID; /* our own commit comes back through merge */
	if (c->proposal_count)
		list = calloc(c->proposal_count, sizeof *list);
	if (c->proposal_count && !list)
		return VL_ERR_NOMEM;
	int rc = VL_OK;
	for (size_t i = 0; rc == VL_OK && i < c->proposal_count; i++) {
		const struct vl_mls_proposal_or_ref *por = &c->proposals[i];
		/* A joiner cannot have seen this epoch's proposals. */
		if (external && por->type != VL_MLS_POR_PROPOSAL)
			rc = VL_ERR_INVALID;
		if (por->type == VL_MLS_POR_PROPOSAL) {
			list[i] = (struct committed){&por->proposal, VL_MLS_SENDER_MEMBER,
			                             committer, NULL};
			continue;
		}
		size_t j;
		for (j = 0; j < g->n_props; j++)
			if (por->reference.len == s->hash_len &&
			    memcmp(g->props[j].ref, por->reference.data, s->hash_len) == 0)
				break;
		if (j == g->n_props) {
			rc = VL_ERR_INVALID; /* a proposal we never saw */
			break;
		}
		list[i] = (struct committed){&g->props[j].p, g->props[j].sender_type,
		                             g->props[j].sender, &g->props[j]};
	}
	bool forked = false;
	memset(&next, 0, sizeof next);
	if (rc == VL_OK) {
		rc = epoch_fork_inplace(&next, &g->cur);
		forked = rc == VL_OK || next.tree.nodes;
	}
	if (rc == VL_OK)
		rc = apply_proposals(g, &next, committer, external, list, c->proposal_count, &ap);
	if (rc == VL_OK && ap.path_required && !c->has_path)
		rc = VL_ERR_INVALID;
	if (rc == VL_OK && ap.removes_self) {
		/* Removed: nothing of the next epoch is ours to know. */
		mls_tree_journal_commit(&next.tree);
		epoch_cleanup(&next);
		applied_cleanup(&ap);
		free(list);
		if (g->pending) {
			epoch_cleanup(&g->next);
			g->pending = false;
		}
		epoch_cleanup(&g->cur);
		props_clear(g);
		g->active = false;
		out->removed_self = true;
		return VL_OK;
	}
	next.epoch = g->cur.epoch + 1;
	/* External commit: the joiner takes the leftmost free leaf and the
	 * init secret comes from its ExternalInit (§8.3). */
	if (rc == VL_OK && external) {
		committer = mls_tree_leftmost_blank(&next.tree);
		rc = mls_tree_ensure_leaf(&next.tree, committer);
		for (size_t i = 0; rc == VL_OK && i < c->proposal_count; i++)
			if (list[i].p->type == VL_MLS_PROPOSAL_EXTERNAL_INIT)
				rc = external_init_secret(g, &list[i].p->external_init, ext_init);
		out->sender = committer;
	}
	if (rc == VL_OK && c->has_path) {
		rc = path_check(g, &next, committer, external, &c->path);
		if (rc == VL_OK)
			rc = mls_tree_merge_path(&next.tree, committer, &c->path);
		/* The provisional GroupContext keeps the old confirmed hash. */
		if (rc == VL_OK)
			rc = mls_tree_root_hash(&next.tree, next.tree_hash);
		if (rc == VL_OK)
			rc = epoch_context_encode(g, &next, &gc, &gc_len);
		if (rc == VL_OK)
			rc =
			    mls_treekem_decap(&next.tree, &next.priv, committer, &c->path, ap.added,
			                      ap.n_added, gc, gc_len, NULL, commit_secret);
		have_secret = rc == VL_OK;
	} else if (rc == VL_OK) {
		rc = mls_tree_root_hash(&next.tree, next.tree_hash);
	}
	if (rc == VL_OK) {
		mls_tree_priv_prune(&next.priv, &next.tree);
		rc = epoch_finish(g, &next, have_secret ? commit_secret : NULL,
		                  external ? ext_init : NULL, &ap, in->have_raw ? &in->raw : NULL,
		                  in->wire_format, &in->content, &in->auth,
		                  &in->auth.confirmation_tag, NULL);
	}
	if (rc == VL_OK) {
		if (g->pending) {
			/* Invariant 3: the other commit won; ours is void. */
			epoch_cleanup(&g->next);
			g->pending = false;
		}
		mls_tree_journal_commit(&next.tree);
		epoch_swap(g, &next);
	} else if (forked) {
		epoch_unfork(&next, &g->cur);
	} else {
		epoch_cleanup(&next);
	}
	free(gc);
	vl_wipe(commit_secret, sizeof commit_secret);
	vl_wipe(ext_init, sizeof ext_init);
	applied_cleanup(&ap);
	free(list);
	return rc;
}

int vl_group_process(struct vl_group *g, const uint8_t *msg, size_t msg_len,
                     struct vl_group_msg *out)
{
	struct incoming in;
	memset(out, 0, sizeof *out);
	if (!g->active)
		return VL_ERR_STATE;
	int rc = incoming_open(g, msg, msg_len, &in);
	if (rc == VL_OK) {
		out->sender = in.content.sender.index;
		switch (in.content.content_type) {
		case VL_MLS_CONTENT_APPLICATION:
			/* §6.2: never as PublicMessage (mls_public_check refuses). */
			out->kind = VL_GROUP_MSG_APPLICATION;
			out->data_len = in.content.application_data.len;
			out->data = malloc(out->data_len ? out->data_len : 1);
			if (!out->data)
				rc = VL_ERR_NOMEM;
			else if (out->data_len)
				memcpy(out->data, in.content.application_data.data, out->data_len);
			break;
		case VL_MLS_CONTENT_PROPOSAL:
			out->kind = VL_GROUP_MSG_PROPOSAL;
			rc = cache_proposal(g, &in, NULL);
			break;
		default:
			out->kind = VL_GROUP_MSG_COMMIT;
			rc = process_commit(g, &in, out);
			break;
		}
	}
	incoming_cleanup(&in);
	if (rc != VL_OK) {
		free(out->data);
		memset(out, 0, sizeof *out);
	}
	return rc;
}

/* --- Joining (§12.4.3.1) ------------------------------------------------ */

/* The private keys a joiner learns from the path secret: the lowest node
 * it shares with the committer's direct path and every non-blank node
 * above it, each checked against the tree. */
static int join_path_keys(const struct vl_suite *s, struct epoch *e, uint32_t committer,
                          const struct vl_mls_bytes *path_secret)
{
	if (path_secret->len != s->hash_len || committer == e->priv.leaf ||
	    committer >= e->tree.n_leaves)
		return VL_ERR_INVALID;
	uint8_t secret[VL_HASH_MAX];
	memcpy(secret, path_secret->data, s->hash_len);
	uint32_t x = mls_tm_common_ancestor(2 * e->priv.leaf, 2 * committer);
	int rc = VL_OK;
	for (;;) {
		const struct mls_tnode *n = &e->tree.nodes[x];
		/* After a commit, the committer's filtered direct path is exactly
		 * the non-blank nodes of its direct path. */
		if (n->type == VL_MLS_NODE_PARENT) {
			uint8_t pub[VL_KEM_PUB_MAX];
			rc = mls_tree_priv_set_path_secret(&e->priv, s, x, secret, pub);
			if (rc == VL_OK && (n->parent.key_len != s->kem_pub_len ||
			                    memcmp(n->parent.key, pub, s->kem_pub_len) != 0))
				rc = VL_ERR_INVALID;
			if (rc == VL_OK)
				rc = vl_mls_derive_secret(s, secret, "path", secret);
		}
		if (rc != VL_OK || !mls_tm_parent(x, e->tree.n_leaves, &x))
			break;
	}
	vl_wipe(secret, sizeof secret);
	return rc;
}

/* Installs the public state a GroupInfo describes into g->cur (§12.4.3.1):
 * the tree (from the ratchet_tree extension, else the caller's), checked
 * against the tree hash, the GroupInfo signature by its signer's leaf, the
 * whole-tree validation, and the GroupContext fields. */
static int gi_install(struct vl_group *g, const struct vl_mls_group_info *gi,
                      const uint8_t *ratchet_tree, size_t rt_len)
{
	const struct vl_suite *s = g->suite;
	const struct vl_mls_group_context *gctx = &gi->group_context;
	struct epoch *e = &g->cur;
	struct vl_mls_arena a;
	struct vl_mls_ratchet_tree rt;
	if (gctx->cipher_suite != s->id || gctx->tree_hash.len != s->hash_len ||
	    gctx->confirmed_transcript_hash.len != s->hash_len)
		return VL_ERR_INVALID;
	vl_mls_arena_init(&a, 0);
	int rc;
	const struct vl_mls_extension *x =
	    vl_mls_extensions_find(&gi->extensions, VL_MLS_EXT_RATCHET_TREE);
	if (x)
		rc = vl_mls_ext_ratchet_tree_parse(x, &a, &rt);
	else if (ratchet_tree)
		rc = vl_mls_ratchet_tree_parse(ratchet_tree, rt_len, &a, &rt);
	else
		rc = VL_ERR_NOT_FOUND;
	if (rc == VL_OK)
		rc = mls_tree_load(&e->tree, s, &rt);
	if (rc == VL_OK) {
		uint8_t th[VL_HASH_MAX];
		rc = mls_tree_root_hash(&e->tree, th);
		if (rc == VL_OK && memcmp(th, gctx->tree_hash.data, s->hash_len) != 0)
			rc = VL_ERR_INVALID;
	}
	/* GroupInfo signature by the signer's leaf (§12.4.3). */
	if (rc == VL_OK) {
		const struct vl_sig_key *sk;
		struct vl_writer tw;
		vl_writer_init_heap(&tw, GROUP_MSG_MAX);
		rc = mls_tree_leaf_sig_key(&e->tree, gi->signer, &sk) == VL_OK ? VL_OK
		                                                               : VL_ERR_INVALID;
		if (rc == VL_OK)
			rc = vl_mls_group_info_tbs_encode(&tw, gi);
		if (rc == VL_OK)
			rc = vl_mls_verify_with_label_key(sk, "GroupInfoTBS", tw.buf, tw.len,
			                                  gi->signature.data, gi->signature.len);
		vl_writer_cleanup(&tw);
	}
	struct vl_mls_required_capabilities req;
	const struct vl_mls_extension *rqx =
	    rc == VL_OK
	        ? vl_mls_extensions_find(&gctx->extensions, VL_MLS_EXT_REQUIRED_CAPABILITIES)
	        : NULL;
	if (rqx)
		rc = vl_mls_ext_required_capabilities_parse(rqx, &a, &req);
	if (rc == VL_OK)
		rc = mls_tree_validate(&e->tree, &gctx->group_id, rqx ? &req : NULL);
	if (rc == VL_OK) {
		e->epoch = gctx->epoch;
		memcpy(e->tree_hash, gctx->tree_hash.data, s->hash_len);
		memcpy(e->confirmed, gctx->confirmed_transcript_hash.data, s->hash_len);
		rc = epoch_set_ext_list(e, &gctx->extensions);
	}
	vl_mls_arena_cleanup(&a);
	return rc;
}

int vl_group_join(const struct vl_key_package *kp, const uint8_t *welcome, size_t welcome_len,
                  const uint8_t *ratchet_tree, size_t rt_len, const struct vl_group_config *cfg,
                  struct vl_group **out)
{
	const struct vl_suite *s = kp->suite;
	struct vl_mls_arena a;
	struct vl_mls_message m;
	struct vl_group *g = NULL;
	uint8_t ref[VL_HASH_MAX], *gs_plain = NULL, *gi_plain = NULL;
	size_t gs_len = 0, gi_len = 0;
	struct mls_psk *psks = NULL;
	*out = NULL;
	if (welcome_len > GROUP_MSG_MAX)
		return VL_ERR_LIMIT;
	vl_mls_arena_init(&a, 0);
	int rc = vl_mls_message_parse(welcome, welcome_len, &a, &m);
	if (rc == VL_OK && m.wire_format != VL_MLS_WIRE_WELCOME)
		rc = VL_ERR_INVALID;
	const struct vl_mls_welcome *w = &m.welcome;
	if (rc == VL_OK && w->cipher_suite != s->id)
		rc = VL_ERR_INVALID;
	if (rc == VL_OK)
		rc = vl_mls_key_package_ref(s, kp->kp, kp->kp_len, ref);
	const struct vl_mls_encrypted_group_secrets *egs = NULL;
	for (size_t i = 0; rc == VL_OK && i < w->secret_count; i++)
		if (w->secrets[i].new_member.len == s->hash_len &&
		    memcmp(w->secrets[i].new_member.data, ref, s->hash_len) == 0)
			egs = &w->secrets[i];
	if (rc == VL_OK && !egs)
		rc = VL_ERR_NOT_FOUND;
	/* GroupSecrets = DecryptWithLabel(init_priv, "Welcome",
	 * encrypted_group_info, kem_output, ciphertext). */
	if (rc == VL_OK) {
		const struct vl_mls_hpke_ciphertext *ct = &egs->encrypted_group_secrets;
		if (ct->ciphertext.len < VL_AEAD_TAG_LEN)
			rc = VL_ERR_CRYPTO;
		gs_len = rc == VL_OK ? ct->ciphertext.len - VL_AEAD_TAG_LEN : 0;
		gs_plain = malloc(gs_len ? gs_len : 1);
		if (rc == VL_OK && !gs_plain)
			rc = VL_ERR_NOMEM;
		if (rc == VL_OK)
			rc = vl_mls_decrypt_with_label(
			    s, kp->init_priv, "Welcome", w->encrypted_group_info.data,
			    w->encrypted_group_info.len, ct->kem_output.data, ct->kem_output.len,
			    ct->ciphertext.data, ct->ciphertext.len, gs_plain);
	}
	struct vl_mls_group_secrets gs;
	if (rc == VL_OK)
		rc = vl_mls_group_secrets_parse(gs_plain, gs_len, &a, &gs);
	if (rc == VL_OK && gs.joiner_secret.len != s->hash_len)
		rc = VL_ERR_INVALID;
	/* A temporary group to resolve PSKs through the configuration. */
	struct vl_group tmp = {.suite = s};
	if (cfg)
		tmp.cfg = *cfg;
	if (rc == VL_OK && gs.psk_count) {
		psks = calloc(gs.psk_count, sizeof *psks);
		if (!psks)
			rc = VL_ERR_NOMEM;
	}
	for (size_t i = 0; rc == VL_OK && i < gs.psk_count; i++) {
		if (gs.psks[i].type != VL_MLS_PSK_EXTERNAL)
			rc = VL_ERR_UNSUPPORTED; /* resumption needs the old group */
		else
			rc = psk_resolve(&tmp, &gs.psks[i], &psks[i]);
	}
	uint8_t psk_secret[VL_HASH_MAX], welcome_secret[VL_HASH_MAX];
	uint8_t key[VL_AEAD_KEY_MAX], nonce[VL_AEAD_NONCE_MAX];
	if (rc == VL_OK)
		rc = mls_psk_secret(s, psks, gs.psk_count, psk_secret);
	if (rc == VL_OK)
		rc = mls_ks_welcome_secret(s, gs.joiner_secret.data, psk_secret, welcome_secret);
	if (rc == VL_OK)
		rc = mls_ks_welcome_key_nonce(s, welcome_secret, key, nonce);
	if (rc == VL_OK) {
		if (w->encrypted_group_info.len < VL_AEAD_TAG_LEN)
			rc = VL_ERR_CRYPTO;
		gi_len = rc == VL_OK ? w->encrypted_group_info.len - VL_AEAD_TAG_LEN : 0;
		gi_plain = malloc(gi_len ? gi_len : 1);
		if (rc == VL_OK && !gi_plain)
			rc = VL_ERR_NOMEM;
		if (rc == VL_OK)
			rc = vl_aead_open(s, key, nonce, NULL, 0, w->encrypted_group_info.data,
			                  w->encrypted_group_info.len, gi_plain);
	}
	struct vl_mls_group_info gi;
	if (rc == VL_OK)
		rc = vl_mls_group_info_parse(gi_plain, gi_len, &a, &gi);
	const struct vl_mls_group_context *gctx = &gi.group_context;
	if (rc == VL_OK && (gctx->cipher_suite != s->id || gctx->tree_hash.len != s->hash_len ||
	                    gctx->confirmed_transcript_hash.len != s->hash_len))
		rc = VL_ERR_INVALID;
	if (rc == VL_OK)
		rc = group_alloc(s, gctx->group_id.data, gctx->group_id.len, kp->sig_priv, cfg, &g);
	struct epoch *e = g ? &g->cur : NULL;
	if (rc == VL_OK)
		rc = gi_install(g, &gi, ratchet_tree, rt_len);
	/* Our leaf: the one identical to the KeyPackage's (encoded once,
	 * compared with each leaf's stored encoding). */
	if (rc == VL_OK) {
		uint32_t l = e->tree.n_leaves;
		uint8_t *enc = NULL;
		size_t len = 0;
		rc = vl_mls_leaf_node_encode_alloc(&kp->view.leaf_node, &enc, &len);
		for (l = 0; rc == VL_OK && l < e->tree.n_leaves; l++) {
			const struct mls_tnode *n = &e->tree.nodes[2 * l];
			if (n->type == VL_MLS_NODE_LEAF && len == n->leaf.enc_len &&
			    memcmp(enc, n->leaf.enc, len) == 0)
				break;
		}
		free(enc);
		if (rc == VL_OK && l == e->tree.n_leaves)
			rc = VL_ERR_INVALID;
		e->priv.leaf = l;
		memcpy(e->priv.leaf_priv, kp->enc_priv, VL_KEM_PRIV_MAX);
	}
	if (rc == VL_OK && gs.has_path_secret)
		rc = join_path_keys(s, e, gi.signer, &gs.path_secret);
	uint8_t *gc = NULL;
	size_t gc_len = 0;
	if (rc == VL_OK)
		rc = epoch_context_encode(g, e, &gc, &gc_len);
	if (rc == VL_OK) {
		memcpy(e->sec.joiner, gs.joiner_secret.data, s->hash_len);
		rc = mls_ks_from_joiner(s, psk_secret, gc, gc_len, &e->sec);
	}
	if (rc == VL_OK)
		rc = mls_confirmation_tag_verify(s, e->sec.confirmation_key, e->confirmed,
		                                 gi.confirmation_tag.data, gi.confirmation_tag.len);
	if (rc == VL_OK)
		rc = mls_transcript_interim(s, e->confirmed, gi.confirmation_tag.data,
		                            gi.confirmation_tag.len, e->interim);
	if (rc == VL_OK)
		memcpy(e->conf_tag, gi.confirmation_tag.data, s->hash_len);
	if (rc == VL_OK)
		rc = epoch_start(g, e);
	if (rc == VL_OK) {
		g->active = true;
		remember_resumption(g, e);
		*out = g;
	} else {
		vl_group_free(g);
	}
	free(gc);
	free(psks);
	if (gs_plain) {
		vl_wipe(gs_plain, gs_len);
		free(gs_plain);
	}
	if (gi_plain) {
		vl_wipe(gi_plain, gi_len);
		free(gi_plain);
	}
	vl_wipe(psk_secret, sizeof psk_secret);
	vl_wipe(welcome_secret, sizeof welcome_secret);
	vl_wipe(key, sizeof key);
	vl_wipe(nonce, sizeof nonce);
	vl_mls_arena_cleanup(&a);
	return rc;
}

/* --- Creating ------------------------------------------------------------- */

int vl_group_create(uint16_t suite, const uint8_t *group_id, size_t group_id_len,
                    const uint8_t *identity, size_t identity_len, const uint8_t *sig_priv,
                    const struct vl_group_config *cfg, struct vl_group **out)
{
	*out = NULL;
	const struct vl_suite *s = vl_suite_get(suite);
	if (!s)
		return VL_ERR_UNSUPPORTED;
	uint8_t sp[VL_SIG_PRIV_MAX], sig_pub[VL_SIG_PUB_MAX], enc_pub[VL_KEM_PUB_MAX];
	uint8_t sig[VL_SIG_MAX];
	struct vl_group *g = NULL;
	int rc;
	if (sig_priv) {
		memcpy(sp, sig_priv, s->sig_priv_len);
		rc = vl_sig_public_from_private(s, sp, sig_pub);
	} else {
		rc = vl_sig_generate(s, sp, sig_pub);
	}
	if (rc == VL_OK)
		rc = group_alloc(s, group_id, group_id_len, sp, cfg, &g);
	vl_wipe(sp, sizeof sp);
	struct epoch *e = g ? &g->cur : NULL;
	if (rc == VL_OK)
		rc = mls_tree_init(&e->tree, s);
	if (rc == VL_OK)
		rc = vl_kem_generate(s, e->priv.leaf_priv, enc_pub);
	uint16_t suite_id = suite;
	struct vl_mls_leaf_node ln;
	leaf_skeleton(&ln, &suite_id, identity, identity_len, enc_pub, s->kem_pub_len, sig_pub,
	              s->sig_pub_len);
	ln.source = VL_MLS_LEAF_SOURCE_KEY_PACKAGE;
	uint64_t now = (uint64_t)time(NULL);
	ln.lifetime.not_before = now > 3600 ? now - 3600 : 0;
	ln.lifetime.not_after = now + 90ull * 86400;
	if (rc == VL_OK)
		rc = mls_leaf_sign(g->signer, &ln, NULL, 0, sig);
	if (rc == VL_OK)
		rc = mls_tree_set_leaf(&e->tree, 0, &ln);
	static const uint8_t empty_ext[1] = {0};
	if (rc == VL_OK)
		rc = epoch_set_ext(e, empty_ext, 1);
	if (rc == VL_OK)
		rc = mls_tree_root_hash(&e->tree, e->tree_hash);
	/* §8: epoch 0 starts from a random init secret, a zero commit secret
	 * and an empty confirmed transcript hash (all zero here). */
	uint8_t init[VL_HASH_MAX], *gc = NULL;
	size_t gc_len = 0;
	if (rc == VL_OK)
		rc = vl_random(init, s->hash_len);
	e->th_empty = true;
	if (rc == VL_OK)
		rc = epoch_context_encode(g, e, &gc, &gc_len);
	if (rc == VL_OK)
		rc = mls_ks_joiner(s, init, NULL, gc, gc_len, e->sec.joiner);
	if (rc == VL_OK)
		rc = mls_ks_from_joiner(s, NULL, gc, gc_len, &e->sec);
	if (rc == VL_OK)
		rc = epoch_start(g, e);
	vl_wipe(init, sizeof init);
	free(gc);
	if (rc != VL_OK) {
		vl_group_free(g);
		return rc;
	}
	g->active = true;
	*out = g;
	return VL_OK;
}

/* --- Sending ---------------------------------------------------------------- */

/* Frames, signs and encodes own content of the current epoch. auth may
 * carry a confirmation tag (commits): then the signature is made first
 * and sig_out receives it, and finish() is called between signing and
 * encoding to compute the tag. */
static int send_encode(struct vl_group *g, struct vl_mls_framed_content *c,
                       struct vl_mls_auth_data *auth, uint8_t sig[VL_SIG_MAX], uint8_t **msg,
                       size_t *msg_len)
{
	struct vl_mls_group_context gc = epoch_context(g, &g->cur);
	struct mls_framing f = epoch_framing(g, &g->cur, &gc);
	bool priv = c->content_type == VL_MLS_CONTENT_APPLICATION || g->cfg.private_handshake;
	if (priv)
		return mls_private_encode(&f, g->cur.priv.leaf, c, auth, msg, msg_len);
	return mls_public_encode(&f, c, auth, msg, msg_len);
}

static uint16_t send_wire_format(const struct vl_group *g, uint8_t content_type)
{
	return content_type == VL_MLS_CONTENT_APPLICATION || g->cfg.private_handshake
	           ? VL_MLS_WIRE_PRIVATE_MESSAGE
	           : VL_MLS_WIRE_PUBLIC_MESSAGE;
}

static struct vl_mls_framed_content own_content(const struct vl_group *g, uint8_t type)
{
	return (struct vl_mls_framed_content){
	    .group_id = {g->group_id, g->group_id_len},
	    .epoch = g->cur.epoch,
	    .sender = {.type = VL_MLS_SENDER_MEMBER, .index = g->cur.priv.leaf},
	    .content_type = type,
	};
}

int vl_group_encrypt(struct vl_group *g, const uint8_t *data, size_t len, const uint8_t *aad,
                     size_t aad_len, uint8_t **msg, size_t *msg_len)
{
	*msg = NULL;
	*msg_len = 0;
	if (!g->active)
		return VL_ERR_STATE;
	if (len > MLS_MAX_MESSAGE / 2 || aad_len > 1u << 16)
		return VL_ERR_LIMIT;
	struct vl_mls_framed_content c = own_content(g, VL_MLS_CONTENT_APPLICATION);
	c.application_data = (struct vl_mls_bytes){data, len};
	c.authenticated_data = (struct vl_mls_bytes){aad, aad_len};
	struct vl_mls_group_context gc = epoch_context(g, &g->cur);
	struct mls_framing f = epoch_framing(g, &g->cur, &gc);
	struct vl_mls_auth_data auth = {0};
	uint8_t sig[VL_SIG_MAX];
	int rc = mls_content_sign(&f, VL_MLS_WIRE_PRIVATE_MESSAGE, &c, g->signer, sig, &auth);
	if (rc == VL_OK)
		rc = send_encode(g, &c, &auth, sig, msg, msg_len);
	return rc;
}

/* Sends a proposal and caches it under its reference. */
static int send_proposal(struct vl_group *g, const struct vl_mls_proposal *p,
                         const uint8_t *upd_priv, uint8_t **msg, size_t *msg_len)
{
	*msg = NULL;
	*msg_len = 0;
	if (!g->active)
		return VL_ERR_STATE;
	struct vl_mls_framed_content c = own_content(g, VL_MLS_CONTENT_PROPOSAL);
	c.proposal = *p;
	uint16_t wf = send_wire_format(g, VL_MLS_CONTENT_PROPOSAL);
	struct vl_mls_group_context gc = epoch_context(g, &g->cur);
	struct mls_framing f = epoch_framing(g, &g->cur, &gc);
	struct vl_mls_auth_data auth = {0};
	uint8_t sig[VL_SIG_MAX];
	int rc = mls_content_sign(&f, wf, &c, g->signer, sig, &auth);
	/* The cached copy: the proposal re-parsed from its own encoding, the
	 * reference over the AuthenticatedContent as sent. */
	struct incoming in;
	memset(&in, 0, sizeof in);
	vl_mls_arena_init(&in.arena, 0);
	size_t plen = 0;
	if (rc == VL_OK)
		rc = vl_mls_proposal_encode_alloc(p, &in.buf, &plen);
	if (rc == VL_OK)
		rc = vl_mls_proposal_parse(in.buf, plen, &in.arena, &c.proposal);
	in.wire_format = wf;
	in.content = c;
	in.auth = auth;
	if (rc == VL_OK)
		rc = send_encode(g, &c, &auth, sig, msg, msg_len);
	if (rc == VL_OK)
		rc = cache_proposal(g, &in, upd_priv);
	incoming_cleanup(&in);
	if (rc != VL_OK) {
		free(*msg);
		*msg = NULL;
		*msg_len = 0;
	}
	return rc;
}

int vl_group_propose_add(struct vl_group *g, const uint8_t *key_package, size_t kp_len,
                         uint8_t **msg, size_t *msg_len)
{
	struct vl_mls_arena a;
	struct vl_mls_message m;
	vl_mls_arena_init(&a, 0);
	int rc = vl_mls_message_parse(key_package, kp_len, &a, &m);
	if (rc == VL_OK && m.wire_format != VL_MLS_WIRE_KEY_PACKAGE)
		rc = VL_ERR_INVALID;
	if (rc == VL_OK)
		rc = kp_verify(g->suite, &m.key_package);
	struct vl_mls_proposal p = {.type = VL_MLS_PROPOSAL_ADD};
	if (rc == VL_OK) {
		p.add = m.key_package;
		rc = send_proposal(g, &p, NULL, msg, msg_len);
	}
	vl_mls_arena_cleanup(&a);
	return rc;
}

int vl_group_propose_remove(struct vl_group *g, uint32_t leaf, uint8_t **msg, size_t *msg_len)
{
	*msg = NULL;
	if (mls_tree_leaf_blank(&g->cur.tree, leaf) || leaf == g->cur.priv.leaf)
		return VL_ERR_ARG;
	struct vl_mls_proposal p = {.type = VL_MLS_PROPOSAL_REMOVE, .remove = leaf};
	return send_proposal(g, &p, NULL, msg, msg_len);
}

int vl_group_propose_update(struct vl_group *g, uint8_t **msg, size_t *msg_len)
{
	*msg = NULL;
	if (!g->active)
		return VL_ERR_STATE;
	const struct vl_suite *s = g->suite;
	uint8_t priv[VL_KEM_PRIV_MAX] = {0}, pub[VL_KEM_PUB_MAX], sig[VL_SIG_MAX];
	struct vl_mls_proposal p = {.type = VL_MLS_PROPOSAL_UPDATE};
	p.update = *mls_tree_leaf(&g->cur.tree, g->cur.priv.leaf);
	int rc = vl_kem_generate(s, priv, pub);
	p.update.encryption_key = (struct vl_mls_bytes){pub, s->kem_pub_len};
	p.update.source = VL_MLS_LEAF_SOURCE_UPDATE;
	p.update.parent_hash = (struct vl_mls_bytes){NULL, 0};
	struct vl_mls_bytes gid = {g->group_id, g->group_id_len};
	if (rc == VL_OK)
		rc = mls_leaf_sign(g->signer, &p.update, &gid, g->cur.priv.leaf, sig);
	if (rc == VL_OK)
		rc = send_proposal(g, &p, priv, msg, msg_len);
	vl_wipe(priv, sizeof priv);
	return rc;
}

static int propose_psk(struct vl_group *g, struct vl_mls_psk_id *id, uint8_t **msg, size_t *msg_len)
{
	uint8_t nonce[VL_HASH_MAX];
	struct mls_psk resolved;
	*msg = NULL;
	*msg_len = 0;
	if (!g->active)
		return VL_ERR_STATE;
	int rc = vl_random(nonce, g->suite->hash_len);
	id->psk_nonce = (struct vl_mls_bytes){nonce, g->suite->hash_len};
	if (rc == VL_OK)
		rc = psk_resolve(g, id, &resolved);
	struct vl_mls_proposal p = {.type = VL_MLS_PROPOSAL_PSK};
	p.psk = *id;
	if (rc == VL_OK)
		rc = send_proposal(g, &p, NULL, msg, msg_len);
	return rc;
}

int vl_group_propose_external_psk(struct vl_group *g, const uint8_t *id, size_t id_len,
                                  uint8_t **msg, size_t *msg_len)
{
	struct vl_mls_psk_id pid = {.type = VL_MLS_PSK_EXTERNAL, .psk_id = {id, id_len}};
	return propose_psk(g, &pid, msg, msg_len);
}

int vl_group_propose_resumption_psk(struct vl_group *g, uint64_t epoch, uint8_t **msg,
                                    size_t *msg_len)
{
	struct vl_mls_psk_id pid = {.type = VL_MLS_PSK_RESUMPTION,
	                            .usage = VL_MLS_RESUMPTION_APPLICATION,
	                            .psk_group_id = {g->group_id, g->group_id_len},
	                            .psk_epoch = epoch};
	return propose_psk(g, &pid, msg, msg_len);
}

int vl_group_propose_extensions(struct vl_group *g, const uint8_t *ext, size_t ext_len,
                                uint8_t **msg, size_t *msg_len)
{
	struct vl_mls_arena a;
	struct vl_mls_proposal p = {.type = VL_MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS};
	*msg = NULL;
	*msg_len = 0;
	vl_mls_arena_init(&a, 0);
	int rc = vl_mls_extension_list_parse(ext, ext_len, &a, &p.group_context_extensions);
	/* Refuse what the group could not apply (§12.1.7). */
	struct vl_mls_required_capabilities req;
	const struct vl_mls_extension *rx =
	    rc == VL_OK ? vl_mls_extensions_find(&p.group_context_extensions,
	                                         VL_MLS_EXT_REQUIRED_CAPABILITIES)
	                : NULL;
	if (rx)
		rc = vl_mls_ext_required_capabilities_parse(rx, &a, &req);
	if (rc == VL_OK)
		rc = gce_supported(&g->cur.tree, &p.group_context_extensions, rx ? &req : NULL);
	if (rc == VL_OK)
		rc = send_proposal(g, &p, NULL, msg, msg_len);
	vl_mls_arena_cleanup(&a);
	return rc;
}

/* A signed GroupInfo (§12.4.3) of epoch e with its confirmation tag,
 * external_pub and, if asked, the ratchet tree; as an MLSMessage if
 * as_message. */
static int group_info_encode(struct vl_group *g, const struct epoch *e, const uint8_t *tag,
                             bool with_tree, bool as_message, uint8_t **out, size_t *out_len)
{
	const struct vl_suite *s = g->suite;
	uint8_t *tree = NULL, ext_pub[VL_KEM_PUB_MAX], sig[VL_SIG_MAX];
	size_t tree_len = 0;
	int rc = with_tree ? mls_tree_encode_alloc(&e->tree, &tree, &tree_len) : VL_OK;
	if (rc == VL_OK)
		rc = mls_ks_external_keypair(s, e->sec.external, NULL, ext_pub);
	/* external_pub is an opaque<V>: encode its extension_data. */
	uint8_t ext_pub_data[VL_KEM_PUB_MAX + 4];
	struct vl_writer xw;
	vl_writer_init_fixed(&xw, ext_pub_data, sizeof ext_pub_data);
	struct vl_mls_bytes epb = {ext_pub, s->kem_pub_len};
	if (rc == VL_OK)
		rc = vl_mls_ext_opaque_encode(&xw, &epb);
	struct vl_mls_extension gi_ext[2] = {
	    {VL_MLS_EXT_EXTERNAL_PUB, {ext_pub_data, xw.len}},
	    {VL_MLS_EXT_RATCHET_TREE, {tree, tree_len}},
	};
	struct vl_mls_message m = {.version = VL_MLS_VERSION_MLS10,
	                           .wire_format = VL_MLS_WIRE_GROUP_INFO};
	struct vl_mls_group_info *gi = &m.group_info;
	*gi = (struct vl_mls_group_info){
	    .group_context = epoch_context(g, e),
	    .extensions = {gi_ext, with_tree ? 2 : 1},
	    .confirmation_tag = {tag, s->hash_len},
	    .signer = e->priv.leaf,
	};
	struct vl_writer tw;
	vl_writer_init_heap(&tw, GROUP_MSG_MAX);
	size_t sig_len = 0;
	if (rc == VL_OK)
		rc = vl_mls_group_info_tbs_encode(&tw, gi);
	if (rc == VL_OK)
		rc = vl_mls_sign_with_label_key(g->signer, "GroupInfoTBS", tw.buf, tw.len, sig,
		                                &sig_len);
	vl_writer_cleanup(&tw);
	gi->signature = (struct vl_mls_bytes){sig, sig_len};
	if (rc == VL_OK)
		rc = as_message ? vl_mls_message_encode_alloc(&m, out, out_len)
		                : vl_mls_group_info_encode_alloc(gi, out, out_len);
	free(tree);
	return rc;
}

/* Builds the Welcome for the members a commit adds (§12.4.3.1). */
static int make_welcome(struct vl_group *g, struct epoch *next, const struct applied *ap,
                        const struct mls_path_secrets *ps, const uint8_t *tag, bool with_tree,
                        uint8_t **out, size_t *out_len)
{
	const struct vl_suite *s = g->suite;
	struct vl_mls_arena a;
	uint8_t *gi_enc = NULL, *egi = NULL;
	uint8_t key[VL_AEAD_KEY_MAX], nonce[VL_AEAD_NONCE_MAX];
	size_t gi_len = 0;
	vl_mls_arena_init(&a, 0);
	int rc = group_info_encode(g, next, tag, with_tree, false, &gi_enc, &gi_len);
	if (rc == VL_OK)
		rc = mls_ks_welcome_key_nonce(s, next->sec.welcome, key, nonce);
	if (rc == VL_OK) {
		egi = malloc(gi_len + VL_AEAD_TAG_LEN);
		rc = egi ? vl_aead_seal(s, key, nonce, NULL, 0, gi_enc, gi_len, egi) : VL_ERR_NOMEM;
	}
	struct vl_mls_encrypted_group_secrets *egs = NULL;
	if (rc == VL_OK)
		rc = vl_mls_arena_alloc(&a, ap->n_added * sizeof *egs, (void **)&egs);
	for (size_t i = 0; rc == VL_OK && i < ap->n_added; i++) {
		const struct vl_mls_key_package *kp = ap->added_kp[i];
		struct vl_mls_group_secrets gs = {
		    .joiner_secret = {next->sec.joiner, s->hash_len},
		    .psks = ap->psk_ids,
		    .psk_count = ap->n_psks,
		};
		const uint8_t *psec;
		if (mls_treekem_joiner_secret(ps, ap->added[i], &psec)) {
			gs.has_path_secret = true;
			gs.path_secret = (struct vl_mls_bytes){psec, s->hash_len};
		}
		uint8_t *gse = NULL, *refb = NULL, *kem = NULL, *ct = NULL, *kpe = NULL;
		size_t gse_len = 0, kpe_len = 0;
		rc = vl_mls_group_secrets_encode_alloc(&gs, &gse, &gse_len);
		if (rc == VL_OK)
			rc = vl_mls_arena_alloc(&a, VL_HASH_MAX, (void **)&refb);
		if (rc == VL_OK)
			rc = vl_mls_arena_alloc(&a, s->kem_pub_len, (void **)&kem);
		if (rc == VL_OK)
			rc = vl_mls_arena_alloc(&a, gse_len + VL_AEAD_TAG_LEN, (void **)&ct);
		if (rc == VL_OK)
			rc = vl_mls_key_package_encode_alloc(kp, &kpe, &kpe_len);
		if (rc == VL_OK)
			rc = vl_mls_key_package_ref(s, kpe, kpe_len, refb);
		if (rc == VL_OK)
			rc = vl_mls_encrypt_with_label(s, kp->init_key.data, kp->init_key.len,
			                               "Welcome", egi, gi_len + VL_AEAD_TAG_LEN,
			                               gse, gse_len, kem, ct);
		egs[i].new_member = (struct vl_mls_bytes){refb, s->hash_len};
		egs[i].encrypted_group_secrets.kem_output =
		    (struct vl_mls_bytes){kem, s->kem_pub_len};
		egs[i].encrypted_group_secrets.ciphertext =
		    (struct vl_mls_bytes){ct, gse_len + VL_AEAD_TAG_LEN};
		if (gse)
			vl_wipe(gse, gse_len);
		free(gse);
		free(kpe);
	}
	struct vl_mls_message m = {.version = VL_MLS_VERSION_MLS10,
	                           .wire_format = VL_MLS_WIRE_WELCOME};
	m.welcome.cipher_suite = s->id;
	m.welcome.secrets = egs;
	m.welcome.secret_count = ap->n_added;
	m.welcome.encrypted_group_info = (struct vl_mls_bytes){egi, gi_len + VL_AEAD_TAG_LEN};
	if (rc == VL_OK)
		rc = vl_mls_message_encode_alloc(&m, out, out_len);
	vl_wipe(key, sizeof key);
	vl_wipe(nonce, sizeof nonce);
	free(gi_enc);
	free(egi);
	vl_mls_arena_cleanup(&a);
	return rc;
}

int vl_group_commit(struct vl_group *g, const struct vl_commit_args *args, uint8_t **commit,
                    size_t *commit_len, uint8_t **welcome, size_t *welcome_len)
{
	const struct vl_suite *s = g->suite;
	static const struct vl_commit_args none = {0};
	*commit = NULL;
	*commit_len = 0;
	*welcome = NULL;
	*welcome_len = 0;
	if (!g->active || g->pending)
		return VL_ERR_STATE;
	if (!args)
		args = &none;
	uint32_t me = g->cur.priv.leaf;
	struct vl_mls_arena a;
	vl_mls_arena_init(&a, 0);
	size_t n = g->n_props + args->n_add + args->n_remove;
	struct committed *list = calloc(n ? n : 1, sizeof *list);
	struct vl_mls_proposal_or_ref *por = calloc(n ? n : 1, sizeof *por);
	struct vl_mls_proposal *byval = calloc(n ? n : 1, sizeof *byval);
	int rc = list && por && byval ? VL_OK : VL_ERR_NOMEM;
	size_t k = 0;
	/* Every cached proposal by reference, but our own Updates (§12.2). */
	for (size_t i = 0; rc == VL_OK && i < g->n_props; i++) {
		const struct proposal_entry *e = &g->props[i];
		if (e->p.type == VL_MLS_PROPOSAL_UPDATE && e->sender == me)
			continue;
		list[k] = (struct committed){&e->p, e->sender_type, e->sender, e};
		por[k].type = VL_MLS_POR_REFERENCE;
		por[k].reference = (struct vl_mls_bytes){e->ref, s->hash_len};
		k++;
	}
	for (size_t i = 0; rc == VL_OK && i < args->n_remove; i++) {
		byval[k] = (struct vl_mls_proposal){.type = VL_MLS_PROPOSAL_REMOVE,
		                                    .remove = args->remove[i]};
		list[k] = (struct committed){&byval[k], VL_MLS_SENDER_MEMBER, me, NULL};
		por[k] = (struct vl_mls_proposal_or_ref){.type = VL_MLS_POR_PROPOSAL,
		                                         .proposal = byval[k]};
		k++;
	}
	for (size_t i = 0; rc == VL_OK && i < args->n_add; i++) {
		struct vl_mls_message m;
		rc = vl_mls_message_parse(args->add[i], args->add_len[i], &a, &m);
		if (rc == VL_OK && m.wire_format != VL_MLS_WIRE_KEY_PACKAGE)
			rc = VL_ERR_INVALID;
		if (rc != VL_OK)
			break;
		/* §7.3: a sender checks the lifetime of what it sends. */
		uint64_t now = (uint64_t)time(NULL);
		const struct vl_mls_lifetime *lt = &m.key_package.leaf_node.lifetime;
		if (now < lt->not_before || now > lt->not_after) {
			rc = VL_ERR_INVALID;
			break;
		}
		byval[k] = (struct vl_mls_proposal){.type = VL_MLS_PROPOSAL_ADD};
		byval[k].add = m.key_package;
		list[k] = (struct committed){&byval[k], VL_MLS_SENDER_MEMBER, me, NULL};
		por[k] = (struct vl_mls_proposal_or_ref){.type = VL_MLS_POR_PROPOSAL,
		                                         .proposal = byval[k]};
		k++;
	}
	struct epoch next;
	struct applied ap = {0};
	struct mls_path_secrets *ps = calloc(1, sizeof *ps);
	memset(&next, 0, sizeof next);
	if (rc == VL_OK && !ps)
		rc = VL_ERR_NOMEM;
	if (rc == VL_OK)
		rc = epoch_fork(&next, &g->cur);
	if (rc == VL_OK)
		rc = apply_proposals(g, &next, me, false, list, k, &ap);
	next.epoch = g->cur.epoch + 1;
	/* The update path: new leaf key and path keys, leaf signed with the
	 * parent hash, provisional GroupContext, encryption to the copath. */
	if (rc == VL_OK)
		rc = mls_treekem_prepare(&next.tree, me, NULL, ps);
	struct vl_mls_framed_content c = own_content(g, VL_MLS_CONTENT_COMMIT);
	uint8_t leaf_sig[VL_SIG_MAX], *gc = NULL;
	size_t gc_len = 0;
	c.commit.proposals = por;
	c.commit.proposal_count = k;
	c.commit.has_path = true;
	if (rc == VL_OK) {
		struct vl_mls_leaf_node ln = *mls_tree_leaf(&g->cur.tree, me);
		struct vl_mls_bytes gid = {g->group_id, g->group_id_len};
		ln.encryption_key = (struct vl_mls_bytes){ps->leaf_pub, s->kem_pub_len};
		ln.source = VL_MLS_LEAF_SOURCE_COMMIT;
		ln.parent_hash = (struct vl_mls_bytes){ps->leaf_ph, ps->leaf_ph_len};
		rc = mls_leaf_sign(g->signer, &ln, &gid, me, leaf_sig);
		if (rc == VL_OK)
			rc = mls_tree_set_leaf(&next.tree, me, &ln);
		c.commit.path.leaf_node = ln;
	}
	if (rc == VL_OK)
		rc = mls_tree_root_hash(&next.tree, next.tree_hash);
	if (rc == VL_OK)
		rc = epoch_context_encode(g, &next, &gc, &gc_len);
	if (rc == VL_OK)
		rc = mls_treekem_encap(&next.tree, ps, ap.added, ap.n_added, gc, gc_len, &a,
		                       &c.commit.path);
	if (rc == VL_OK) {
		next.priv = ps->priv;
		mls_tree_priv_prune(&next.priv, &next.tree);
	}
	uint16_t wf = send_wire_format(g, VL_MLS_CONTENT_COMMIT);
	struct vl_mls_group_context cur_gc = epoch_context(g, &g->cur);
	struct mls_framing f = epoch_framing(g, &g->cur, &cur_gc);
	struct vl_mls_auth_data auth = {0};
	uint8_t sig[VL_SIG_MAX], tag[VL_HASH_MAX];
	if (rc == VL_OK)
		rc = mls_content_sign(&f, wf, &c, g->signer, sig, &auth);
	if (rc == VL_OK)
		rc = epoch_finish(g, &next, ps->commit_secret, NULL, &ap, NULL, wf, &c, &auth, NULL,
		                  tag);
	auth.confirmation_tag = (struct vl_mls_bytes){tag, s->hash_len};
	if (rc == VL_OK)
		rc = send_encode(g, &c, &auth, sig, commit, commit_len);
	if (rc == VL_OK && ap.n_added)
		rc = make_welcome(g, &next, &ap, ps, tag, !args->tree_out_of_band, welcome,
		                  welcome_len);
	if (rc == VL_OK) {
		g->next = next;
		g->pending = true;
	} else {
		epoch_cleanup(&next);
		free(*commit);
		*commit = NULL;
		*commit_len = 0;
	}
	free(gc);
	if (ps) {
		mls_path_secrets_wipe(ps);
		free(ps);
	}
	applied_cleanup(&ap);
	free(list);
	free(por);
	free(byval);
	vl_mls_arena_cleanup(&a);
	return rc;
}

int vl_group_commit_merge(struct vl_group *g)
{
	if (!g->pending)
		return VL_ERR_STATE;
	g->pending = false;
	epoch_swap(g, &g->next);
	return VL_OK;
}

void vl_group_commit_discard(struct vl_group *g)
{
	if (!g->pending)
		return;
	epoch_cleanup(&g->next);
	g->pending = false;
}

/* --- Persistence --------------------------------------------------------- */

#define STATE_MAGIC   0x564c4732u /* "VLG2" */
#define STATE_MAX     (256u << 20)
#define STATE_MAX_OPQ (64u << 20)

int vl_group_export(const struct vl_group *g, uint8_t **out, size_t *out_len)
{
	const struct vl_suite *s = g->suite;
	const struct epoch *e = &g->cur;
	size_t nh = s->hash_len;
	*out = NULL;
	*out_len = 0;
	if (g->pending)
		return VL_ERR_STATE;
	struct vl_writer w;
	uint8_t *tree = NULL;
	size_t tree_len = 0;
	int rc = g->active ? mls_tree_encode_alloc(&e->tree, &tree, &tree_len) : VL_OK;
	if (rc != VL_OK)
		return rc;
	vl_writer_init_heap(&w, STATE_MAX);
	(void)!vl_write_u32(&w, STATE_MAGIC);
	(void)!vl_write_u16(&w, s->id);
	(void)!vl_write_opaque(&w, g->group_id, g->group_id_len);
	(void)!vl_write_fixed(&w, g->sig_priv, s->sig_priv_len);
	(void)!vl_write_u8(&w, g->active);
	if (g->active) {
		(void)!vl_write_u64(&w, e->epoch);
		(void)!vl_write_u8(&w, e->th_empty);
		(void)!vl_write_fixed(&w, e->tree_hash, nh);
		(void)!vl_write_fixed(&w, e->confirmed, nh);
		(void)!vl_write_fixed(&w, e->interim, nh);
		(void)!vl_write_fixed(&w, e->conf_tag, nh);
		(void)!vl_write_opaque(&w, e->ext, e->ext_len);
		(void)!vl_write_opaque(&w, tree, tree_len);
		(void)!vl_write_u32(&w, e->priv.leaf);
		(void)!vl_write_fixed(&w, e->priv.leaf_priv, s->kem_priv_len);
		(void)!vl_write_u8(&w, (uint8_t)e->priv.n);
		for (uint32_t i = 0; i < e->priv.n; i++) {
			(void)!vl_write_u32(&w, e->priv.node[i]);
			(void)!vl_write_fixed(&w, e->priv.priv[i], s->kem_priv_len);
		}
		const uint8_t *secs[] = {e->sec.joiner,
		                         e->sec.welcome,
		                         e->sec.epoch,
		                         e->sec.sender_data,
		                         e->sec.encryption,
		                         e->sec.exporter,
		                         e->sec.external,
		                         e->sec.confirmation_key,
		                         e->sec.membership_key,
		                         e->sec.resumption_psk,
		                         e->sec.epoch_authenticator,
		                         e->sec.init};
		for (size_t i = 0; i < sizeof secs / sizeof secs[0]; i++)
			(void)!vl_write_fixed(&w, secs[i], nh);
		(void)!mls_secret_tree_export(&e->st, &w);
		(void)!vl_write_u32(&w, (uint32_t)g->n_props);
		for (size_t i = 0; i < g->n_props; i++) {
			const struct proposal_entry *pe = &g->props[i];
			(void)!vl_write_fixed(&w, pe->ref, nh);
			(void)!vl_write_u8(&w, pe->sender_type);
			(void)!vl_write_u32(&w, pe->sender);
			size_t mark = vl_write_vector_begin(&w);
			(void)!vl_mls_proposal_encode(&w, &pe->p);
			(void)!vl_write_vector_end(&w, mark);
			(void)!vl_write_u8(&w, pe->own_update);
			if (pe->own_update)
				(void)!vl_write_fixed(&w, pe->upd_priv, s->kem_priv_len);
		}
		(void)!vl_write_u8(&w, (uint8_t)g->n_resumption);
		for (size_t i = 0; i < g->n_resumption; i++) {
			(void)!vl_write_u64(&w, g->resumption[i].epoch);
			(void)!vl_write_fixed(&w, g->resumption[i].secret, nh);
		}
	}
	free(tree);
	return vl_writer_take(&w, out, out_len);
}

/* Restores one cached proposal from its encoding. */
static int import_proposal(struct vl_group *g, struct vl_reader *r)
{
	const struct vl_suite *s = g->suite;
	struct proposal_entry pe;
	const uint8_t *enc;
	size_t enc_len;
	uint8_t own = 0;
	memset(&pe, 0, sizeof pe);
	vl_mls_arena_init(&pe.arena, 0);
	(void)!vl_read_copy(r, pe.ref, s->hash_len);
	(void)!vl_read_u8(r, &pe.sender_type);
	(void)!vl_read_u32(r, &pe.sender);
	(void)!vl_read_opaque(r, &enc, &enc_len, STATE_MAX_OPQ);
	int rc = vl_read_u8(r, &own);
	if (rc == VL_OK && own > 1)
		rc = VL_ERR_DECODE;
	pe.own_update = own;
	if (rc == VL_OK && own)
		rc = vl_read_copy(r, pe.upd_priv, s->kem_priv_len);
	if (rc == VL_OK) {
		pe.buf = malloc(enc_len ? enc_len : 1);
		rc = pe.buf ? VL_OK : VL_ERR_NOMEM;
	}
	if (rc == VL_OK) {
		memcpy(pe.buf, enc, enc_len);
		rc = vl_mls_proposal_parse(pe.buf, enc_len, &pe.arena, &pe.p);
	}
	struct proposal_entry *n = NULL;
	if (rc == VL_OK) {
		n = realloc(g->props, (g->n_props + 1) * sizeof *n);
		rc = n ? VL_OK : VL_ERR_NOMEM;
	}
	if (rc != VL_OK) {
		vl_mls_arena_cleanup(&pe.arena);
		free(pe.buf);
		vl_wipe(&pe, sizeof pe);
		return rc;
	}
	g->props = n;
	g->props[g->n_props++] = pe;
	return VL_OK;
}

int vl_group_import(const uint8_t *buf, size_t len, const struct vl_group_config *cfg,
                    struct vl_group **out)
{
	struct vl_reader r;
	uint32_t magic = 0;
	uint16_t suite = 0;
	const uint8_t *gid, *sig_priv;
	size_t gid_len;
	uint8_t active = 0;
	struct vl_group *g = NULL;
	*out = NULL;
	if (len > STATE_MAX)
		return VL_ERR_LIMIT;
	vl_reader_init(&r, buf, len);
	(void)!vl_read_u32(&r, &magic);
	(void)!vl_read_u16(&r, &suite);
	int rc = vl_read_opaque(&r, &gid, &gid_len, STATE_MAX_OPQ);
	if (rc != VL_OK)
		return rc;
	const struct vl_suite *s = vl_suite_get(suite);
	if (magic != STATE_MAGIC || !s)
		return VL_ERR_DECODE;
	size_t nh = s->hash_len;
	(void)!vl_read_fixed(&r, &sig_priv, s->sig_priv_len);
	rc = vl_read_u8(&r, &active);
	if (rc == VL_OK && active > 1)
		rc = VL_ERR_DECODE;
	if (rc == VL_OK)
		rc = group_alloc(s, gid, gid_len, sig_priv, cfg, &g);
	struct epoch *e = g ? &g->cur : NULL;
	if (rc == VL_OK && active) {
		uint8_t th_empty = 0, n_priv = 0;
		const uint8_t *ext, *tree;
		size_t ext_len, tree_len;
		(void)!vl_read_u64(&r, &e->epoch);
		(void)!vl_read_u8(&r, &th_empty);
		(void)!vl_read_copy(&r, e->tree_hash, nh);
		(void)!vl_read_copy(&r, e->confirmed, nh);
		(void)!vl_read_copy(&r, e->interim, nh);
		(void)!vl_read_copy(&r, e->conf_tag, nh);
		(void)!vl_read_opaque(&r, &ext, &ext_len, STATE_MAX_OPQ);
		(void)!vl_read_opaque(&r, &tree, &tree_len, STATE_MAX_OPQ);
		(void)!vl_read_u32(&r, &e->priv.leaf);
		(void)!vl_read_copy(&r, e->priv.leaf_priv, s->kem_priv_len);
		rc = vl_read_u8(&r, &n_priv);
		if (rc == VL_OK && (n_priv > MLS_PATH_MAX || th_empty > 1))
			rc = VL_ERR_DECODE;
		e->th_empty = th_empty;
		e->priv.n = n_priv;
		for (uint32_t i = 0; rc == VL_OK && i < n_priv; i++) {
			(void)!vl_read_u32(&r, &e->priv.node[i]);
			rc = vl_read_copy(&r, e->priv.priv[i], s->kem_priv_len);
		}
		uint8_t *secs[] = {e->sec.joiner,
		                   e->sec.welcome,
		                   e->sec.epoch,
		                   e->sec.sender_data,
		                   e->sec.encryption,
		                   e->sec.exporter,
		                   e->sec.external,
		                   e->sec.confirmation_key,
		                   e->sec.membership_key,
		                   e->sec.resumption_psk,
		                   e->sec.epoch_authenticator,
		                   e->sec.init};
		for (size_t i = 0; rc == VL_OK && i < sizeof secs / sizeof secs[0]; i++)
			rc = vl_read_copy(&r, secs[i], nh);
		if (rc == VL_OK)
			rc = epoch_set_ext(e, ext, ext_len);
		struct vl_mls_arena ta;
		struct vl_mls_ratchet_tree rt;
		vl_mls_arena_init(&ta, 0);
		if (rc == VL_OK)
			rc = vl_mls_ratchet_tree_parse(tree, tree_len, &ta, &rt);
		if (rc == VL_OK)
			rc = mls_tree_load(&e->tree, s, &rt);
		vl_mls_arena_cleanup(&ta);
		/* The state must be coherent: our leaf is ours and every private
		 * key matches the tree. */
		uint8_t th[VL_HASH_MAX];
		if (rc == VL_OK && (mls_tree_priv_check(&e->priv, &e->tree) != VL_OK ||
		                    mls_tree_root_hash(&e->tree, th) != VL_OK ||
		                    memcmp(th, e->tree_hash, nh) != 0))
			rc = VL_ERR_DECODE;
		if (rc == VL_OK) {
			rc = mls_secret_tree_import(&e->st, s, &r);
			e->st_ready = rc == VL_OK;
		}
		if (rc == VL_OK && e->st.n_leaves != e->tree.n_leaves)
			rc = VL_ERR_DECODE;
		uint32_t n_props = 0;
		if (rc == VL_OK)
			rc = vl_read_u32(&r, &n_props);
		if (rc == VL_OK && n_props > PROPOSALS_MAX)
			rc = VL_ERR_LIMIT;
		for (uint32_t i = 0; rc == VL_OK && i < n_props; i++)
			rc = import_proposal(g, &r);
		uint8_t n_res = 0;
		if (rc == VL_OK)
			rc = vl_read_u8(&r, &n_res);
		if (rc == VL_OK && n_res > RESUMPTION_KEEP)
			rc = VL_ERR_LIMIT;
		for (uint8_t i = 0; rc == VL_OK && i < n_res; i++) {
			(void)!vl_read_u64(&r, &g->resumption[i].epoch);
			rc = vl_read_copy(&r, g->resumption[i].secret, nh);
			g->n_resumption = i + 1u;
		}
	}
	if (rc == VL_OK)
		rc = vl_reader_finish(&r);
	if (rc != VL_OK) {
		vl_group_free(g);
		return rc;
	}
	g->active = active;
	*out = g;
	return VL_OK;
}

/* --- Internal entry points (group_int.h) --------------------------------- */

int mls_group_send_raw(struct vl_group *g, const struct vl_mls_proposal *p,
                       const struct vl_mls_commit *c, uint8_t **msg, size_t *msg_len)
{
	*msg = NULL;
	*msg_len = 0;
	if (!g->active)
		return VL_ERR_STATE;
	uint8_t type = p ? VL_MLS_CONTENT_PROPOSAL : VL_MLS_CONTENT_COMMIT;
	struct vl_mls_framed_content fc = own_content(g, type);
	if (p)
		fc.proposal = *p;
	else
		fc.commit = *c;
	uint16_t wf = send_wire_format(g, type);
	struct vl_mls_group_context gc = epoch_context(g, &g->cur);
	struct mls_framing f = epoch_framing(g, &g->cur, &gc);
	struct vl_mls_auth_data auth = {0};
	uint8_t sig[VL_SIG_MAX], tag[VL_HASH_MAX] = {0};
	if (!p)
		auth.confirmation_tag = (struct vl_mls_bytes){tag, g->suite->hash_len};
	int rc = mls_content_sign(&f, wf, &fc, g->signer, sig, &auth);
	if (rc == VL_OK)
		rc = send_encode(g, &fc, &auth, sig, msg, msg_len);
	return rc;
}

/* --- External joins (§12.4.3.2) ----------------------------------------- */

int vl_group_group_info(struct vl_group *g, bool with_tree, uint8_t **out, size_t *out_len)
{
	*out = NULL;
	*out_len = 0;
	/* Epoch 0 has no commit, hence no confirmation tag to show. */
	if (!g->active || g->cur.th_empty)
		return VL_ERR_STATE;
	return group_info_encode(g, &g->cur, g->cur.conf_tag, with_tree, true, out, out_len);
}

int vl_group_join_external(const uint8_t *group_info, size_t gi_len, const uint8_t *ratchet_tree,
                           size_t rt_len, const uint8_t *identity, size_t identity_len,
                           const uint8_t *sig_priv, const struct vl_group_config *cfg,
                           uint8_t **commit, size_t *commit_len, struct vl_group **out)
{
	static const char label[] = "MLS 1.0 external init secret";
	struct vl_mls_arena a;
	struct vl_mls_message m;
	struct vl_group *g = NULL;
	struct mls_path_secrets *ps = NULL;
	struct vl_hpke_ctx *hctx = NULL;
	struct epoch next;
	uint8_t *gc = NULL;
	size_t gc_len = 0;
	*commit = NULL;
	*commit_len = 0;
	*out = NULL;
	memset(&next, 0, sizeof next);
	if (gi_len > GROUP_MSG_MAX)
		return VL_ERR_LIMIT;
	vl_mls_arena_init(&a, 0);
	int rc = vl_mls_message_parse(group_info, gi_len, &a, &m);
	if (rc == VL_OK && m.wire_format != VL_MLS_WIRE_GROUP_INFO)
		rc = VL_ERR_INVALID;
	const struct vl_mls_group_info *gi = &m.group_info;
	const struct vl_suite *s =
	    rc == VL_OK ? vl_suite_get(gi->group_context.cipher_suite) : NULL;
	if (rc == VL_OK && !s)
		rc = VL_ERR_UNSUPPORTED;
	uint8_t sp[VL_SIG_PRIV_MAX], sig_pub[VL_SIG_PUB_MAX];
	if (rc == VL_OK) {
		if (sig_priv) {
			memcpy(sp, sig_priv, s->sig_priv_len);
			rc = vl_sig_public_from_private(s, sp, sig_pub);
		} else {
			rc = vl_sig_generate(s, sp, sig_pub);
		}
	}
	if (rc == VL_OK)
		rc = group_alloc(s, gi->group_context.group_id.data, gi->group_context.group_id.len,
		                 sp, cfg, &g);
	vl_wipe(sp, sizeof sp);
	if (rc == VL_OK)
		rc = gi_install(g, gi, ratchet_tree, rt_len);
	struct epoch *e = g ? &g->cur : NULL;
	if (rc == VL_OK && gi->confirmation_tag.len != s->hash_len)
		rc = VL_ERR_INVALID;
	if (rc == VL_OK) {
		memcpy(e->conf_tag, gi->confirmation_tag.data, s->hash_len);
		rc = mls_transcript_interim(s, e->confirmed, gi->confirmation_tag.data, s->hash_len,
		                            e->interim);
	}
	/* ExternalInit (§8.3): kem_output, context = SetupBaseS(external_pub,
	 * ""); init_secret = context.export("MLS 1.0 external init secret"). */
	struct vl_mls_bytes ext_pub = {0};
	if (rc == VL_OK) {
		const struct vl_mls_extension *x =
		    vl_mls_extensions_find(&gi->extensions, VL_MLS_EXT_EXTERNAL_PUB);
		rc = x ? vl_mls_ext_external_pub_parse(x, &ext_pub) : VL_ERR_NOT_FOUND;
	}
	uint8_t kem_output[VL_KEM_PUB_MAX];
	struct vl_hpke_alg alg = {s ? s->kem_id : 0, s ? s->kdf_id : 0, s ? s->aead_id : 0};
	struct vl_hpke_mode_args mode = {.mode = VL_HPKE_MODE_BASE};
	if (rc == VL_OK)
		rc = vl_hpke_setup_sender(&alg, &mode, ext_pub.data, ext_pub.len, "", 0, NULL, 0,
		                          kem_output, &hctx);
	if (rc == VL_OK)
		rc = vl_hpke_ctx_export(hctx, label, sizeof label - 1, e->sec.init, s->hash_len);
	vl_hpke_ctx_free(hctx);
	/* The new epoch: the leftmost free leaf and an update path from it. */
	if (rc == VL_OK)
		rc = epoch_fork(&next, e);
	uint32_t me = rc == VL_OK ? mls_tree_leftmost_blank(&next.tree) : 0;
	if (rc == VL_OK)
		rc = mls_tree_ensure_leaf(&next.tree, me);
	ps = calloc(1, sizeof *ps);
	if (rc == VL_OK && !ps)
		rc = VL_ERR_NOMEM;
	if (rc == VL_OK)
		rc = mls_treekem_prepare(&next.tree, me, NULL, ps);
	uint16_t suite_id = s ? s->id : 0;
	uint8_t leaf_sig[VL_SIG_MAX];
	struct vl_mls_leaf_node ln;
	leaf_skeleton(&ln, &suite_id, identity, identity_len, ps ? ps->leaf_pub : NULL,
	              s ? s->kem_pub_len : 0, sig_pub, s ? s->sig_pub_len : 0);
	ln.source = VL_MLS_LEAF_SOURCE_COMMIT;
	if (rc == VL_OK) {
		struct vl_mls_bytes gid = {g->group_id, g->group_id_len};
		ln.parent_hash = (struct vl_mls_bytes){ps->leaf_ph, ps->leaf_ph_len};
		rc = mls_leaf_sign(g->signer, &ln, &gid, me, leaf_sig);
	}
	if (rc == VL_OK)
		rc = mls_tree_set_leaf(&next.tree, me, &ln);
	if (rc == VL_OK) {
		next.epoch = e->epoch + 1;
		rc = mls_tree_root_hash(&next.tree, next.tree_hash);
	}
	if (rc == VL_OK)
		rc = epoch_context_encode(g, &next, &gc, &gc_len);
	struct vl_mls_proposal_or_ref por = {.type = VL_MLS_POR_PROPOSAL};
	por.proposal.type = VL_MLS_PROPOSAL_EXTERNAL_INIT;
	por.proposal.external_init = (struct vl_mls_bytes){kem_output, s ? s->kem_pub_len : 0};
	struct vl_mls_framed_content c = {
	    .group_id = {g ? g->group_id : NULL, g ? g->group_id_len : 0},
	    .epoch = e ? e->epoch : 0,
	    .sender = {.type = VL_MLS_SENDER_NEW_MEMBER_COMMIT},
	    .content_type = VL_MLS_CONTENT_COMMIT,
	};
	c.commit.proposals = &por;
	c.commit.proposal_count = 1;
	c.commit.has_path = true;
	c.commit.path.leaf_node = ln;
	if (rc == VL_OK)
		rc = mls_treekem_encap(&next.tree, ps, NULL, 0, gc, gc_len, &a, &c.commit.path);
	if (rc == VL_OK) {
		next.priv = ps->priv;
		mls_tree_priv_prune(&next.priv, &next.tree);
	}
	struct vl_mls_auth_data auth = {0};
	uint8_t sig[VL_SIG_MAX], tag[VL_HASH_MAX];
	struct applied ap = {0};
	if (rc == VL_OK) {
		struct vl_mls_group_context cur_gc = epoch_context(g, e);
		struct mls_framing f = epoch_framing(g, e, &cur_gc);
		rc = mls_content_sign(&f, VL_MLS_WIRE_PUBLIC_MESSAGE, &c, g->signer, sig, &auth);
		if (rc == VL_OK)
			rc = epoch_finish(g, &next, ps->commit_secret, NULL, &ap, NULL,
			                  VL_MLS_WIRE_PUBLIC_MESSAGE, &c, &auth, NULL, tag);
		auth.confirmation_tag = (struct vl_mls_bytes){tag, s->hash_len};
		if (rc == VL_OK)
			rc = mls_public_encode(&f, &c, &auth, commit, commit_len);
	}
	if (rc == VL_OK) {
		epoch_swap(g, &next);
		g->active = true;
		*out = g;
	} else {
		epoch_cleanup(&next);
		vl_group_free(g);
		free(*commit);
		*commit = NULL;
		*commit_len = 0;
	}
	if (ps) {
		mls_path_secrets_wipe(ps);
		free(ps);
	}
	free(gc);
	vl_mls_arena_cleanup(&a);
	return rc;
}
