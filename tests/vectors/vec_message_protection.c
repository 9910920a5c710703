/* SPDX-License-Identifier: Apache-2.0 */
/* message-protection.json: PublicMessage and PrivateMessage unprotect of
 * the given proposal, commit and application messages, and protect ->
 * unprotect round trips (RFC 9420 §6). Sender is leaf 1 of 2.
 * Usage: vec_message_protection [FILE] */
#include "crypto/crypto.h"
#include "mls/framing.h"
#include "mls/secrettree.h"
#include "vec_mls.h"

struct mp_case {
	const struct vl_suite *s;
	struct vl_mls_group_context gc;
	uint8_t *membership_key, *sender_data_secret, *encryption_secret;
	struct vl_sig_key *signer, *verifier;
};

/* The body of a content as bytes, for comparison with the raw value. */
static int body_encode(const struct vl_mls_framed_content *c, uint8_t **out, size_t *len)
{
	switch (c->content_type) {
	case VL_MLS_CONTENT_PROPOSAL:
		return vl_mls_proposal_encode_alloc(&c->proposal, out, len);
	case VL_MLS_CONTENT_COMMIT:
		return vl_mls_commit_encode_alloc(&c->commit, out, len);
	default:
		*out = malloc(c->application_data.len + 1);
		if (!*out)
			return VL_ERR_NOMEM;
		memcpy(*out, c->application_data.data, c->application_data.len);
		*len = c->application_data.len;
		return VL_OK;
	}
}

static bool body_is(const struct vl_mls_framed_content *c, const uint8_t *raw, size_t raw_len)
{
	uint8_t *b = NULL;
	size_t n = 0;
	bool ok = body_encode(c, &b, &n) == VL_OK && n == raw_len && memcmp(b, raw, n) == 0;
	free(b);
	return ok;
}

static void framing_init(struct mls_framing *f, struct mp_case *mc, struct mls_secret_tree *st)
{
	*f = (struct mls_framing){.suite = mc->s,
	                          .context = &mc->gc,
	                          .membership_key = mc->membership_key,
	                          .sender_data_secret = mc->sender_data_secret,
	                          .secret_tree = st,
	                          .padding_block = 32};
}

/* Unprotects an encoded MLSMessage (public or private) with a fresh secret
 * tree and checks the body against raw. */
static bool unprotect(struct mp_case *mc, const uint8_t *msg, size_t msg_len, const uint8_t *raw,
                      size_t raw_len)
{
	struct vl_mls_arena a;
	struct vl_mls_message m;
	struct mls_secret_tree st;
	struct mls_framing f;
	uint8_t *plain = NULL;
	size_t plain_len = 0;
	bool ok = false;
	vl_mls_arena_init(&a, 0);
	if (mls_secret_tree_init(&st, mc->s, mc->encryption_secret, 2, 0, 0) != VL_OK)
		goto out;
	framing_init(&f, mc, &st);
	if (vl_mls_message_parse(msg, msg_len, &a, &m) != VL_OK)
		goto out_st;
	if (m.wire_format == VL_MLS_WIRE_PUBLIC_MESSAGE) {
		struct vl_mls_public_message *pm = &m.public_message;
		ok = mls_public_check(&f, pm) == VL_OK &&
		     mls_content_verify(&f, m.wire_format, &pm->content, &pm->auth, mc->verifier) ==
		         VL_OK &&
		     pm->content.sender.index == 1 && body_is(&pm->content, raw, raw_len);
	} else if (m.wire_format == VL_MLS_WIRE_PRIVATE_MESSAGE) {
		struct vl_mls_framed_content c;
		struct vl_mls_auth_data auth;
		ok = mls_private_decode(&f, &m.private_message, &a, &c, &auth, &plain,
		                        &plain_len) == VL_OK &&
		     mls_content_verify(&f, m.wire_format, &c, &auth, mc->verifier) == VL_OK &&
		     c.sender.index == 1 && body_is(&c, raw, raw_len);
	}
out_st:
	mls_secret_tree_cleanup(&st);
out:
	if (plain) {
		vl_wipe(plain, plain_len);
		free(plain);
	}
	vl_mls_arena_cleanup(&a);
	return ok;
}

/* Protects raw (content_type) as wire_format from leaf 1, then unprotects
 * the result. For application content as a PublicMessage, succeeds only if
 * protection is refused. */
static bool protect(struct mp_case *mc, uint8_t content_type, uint16_t wire_format,
                    const uint8_t *raw, size_t raw_len)
{
	struct vl_mls_arena a;
	struct mls_secret_tree st;
	struct mls_framing f;
	uint8_t sig[VL_SIG_MAX], tag[VL_HASH_MAX] = {0};
	uint8_t *msg = NULL;
	size_t msg_len = 0;
	bool ok = false;
	vl_mls_arena_init(&a, 0);
	if (mls_secret_tree_init(&st, mc->s, mc->encryption_secret, 2, 0, 0) != VL_OK)
		goto out;
	framing_init(&f, mc, &st);
	struct vl_mls_framed_content c = {.group_id = mc->gc.group_id,
	                                  .epoch = mc->gc.epoch,
	                                  .sender = {.type = VL_MLS_SENDER_MEMBER, .index = 1},
	                                  .content_type = content_type};
	int rc = VL_OK;
	if (content_type == VL_MLS_CONTENT_PROPOSAL)
		rc = vl_mls_proposal_parse(raw, raw_len, &a, &c.proposal);
	else if (content_type == VL_MLS_CONTENT_COMMIT)
		rc = vl_mls_commit_parse(raw, raw_len, &a, &c.commit);
	else
		c.application_data = (struct vl_mls_bytes){raw, raw_len};
	struct vl_mls_auth_data auth = {0};
	if (content_type == VL_MLS_CONTENT_COMMIT)
		auth.confirmation_tag = (struct vl_mls_bytes){tag, mc->s->hash_len};
	if (rc == VL_OK)
		rc = mls_content_sign(&f, wire_format, &c, mc->signer, sig, &auth);
	if (rc != VL_OK)
		goto out_st;
	if (wire_format == VL_MLS_WIRE_PUBLIC_MESSAGE) {
		rc = mls_public_encode(&f, &c, &auth, &msg, &msg_len);
		if (content_type == VL_MLS_CONTENT_APPLICATION) {
			ok = rc == VL_ERR_INVALID;
			goto out_st;
		}
	} else {
		rc = mls_private_encode(&f, 1, &c, &auth, &msg, &msg_len);
	}
	ok = rc == VL_OK && unprotect(mc, msg, msg_len, raw, raw_len);
out_st:
	mls_secret_tree_cleanup(&st);
out:
	free(msg);
	vl_mls_arena_cleanup(&a);
	return ok;
}

static bool check_kind(struct mp_case *mc, json_t *e, const char *kind, uint8_t content_type)
{
	char key[32];
	size_t raw_len, pub_len = 0, priv_len;
	uint8_t *raw = tu_json_hex(e, kind, &raw_len);
	snprintf(key, sizeof key, "%s_pub", kind);
	uint8_t *pub =
	    content_type == VL_MLS_CONTENT_APPLICATION ? NULL : tu_json_hex(e, key, &pub_len);
	snprintf(key, sizeof key, "%s_priv", kind);
	uint8_t *priv = tu_json_hex(e, key, &priv_len);
	bool ok = raw && priv && (pub || content_type == VL_MLS_CONTENT_APPLICATION);
	if (ok && pub && !unprotect(mc, pub, pub_len, raw, raw_len)) {
		fprintf(stderr, "  %s: public unprotect failed\n", kind);
		ok = false;
	}
	if (ok && !protect(mc, content_type, VL_MLS_WIRE_PUBLIC_MESSAGE, raw, raw_len)) {
		fprintf(stderr, "  %s: public protect failed\n", kind);
		ok = false;
	}
	if (ok && !unprotect(mc, priv, priv_len, raw, raw_len)) {
		fprintf(stderr, "  %s: private unprotect failed\n", kind);
		ok = false;
	}
	if (ok && !protect(mc, content_type, VL_MLS_WIRE_PRIVATE_MESSAGE, raw, raw_len)) {
		fprintf(stderr, "  %s: private protect failed\n", kind);
		ok = false;
	}
	free(raw);
	free(pub);
	free(priv);
	return ok;
}

static bool check_entry(json_t *e, const struct vl_suite *s)
{
	struct mp_case mc = {.s = s};
	size_t gid_len, th_len, cth_len, mk_len, sds_len, es_len, spriv_len, spub_len;
	uint64_t epoch;
	uint8_t *gid = tu_json_hex(e, "group_id", &gid_len);
	uint8_t *th = tu_json_hex(e, "tree_hash", &th_len);
	uint8_t *cth = tu_json_hex(e, "confirmed_transcript_hash", &cth_len);
	uint8_t *spriv = tu_json_hex(e, "signature_priv", &spriv_len);
	uint8_t *spub = tu_json_hex(e, "signature_pub", &spub_len);
	mc.membership_key = tu_json_hex(e, "membership_key", &mk_len);
	mc.sender_data_secret = tu_json_hex(e, "sender_data_secret", &sds_len);
	mc.encryption_secret = tu_json_hex(e, "encryption_secret", &es_len);
	bool ok = gid && th && cth && spriv && spub && mc.membership_key && mc.sender_data_secret &&
	          mc.encryption_secret && mk_len == s->hash_len && sds_len == s->hash_len &&
	          es_len == s->hash_len && spriv_len == s->sig_priv_len &&
	          tu_json_uint(e, "epoch", &epoch);
	ok = ok && vl_sig_key_from_private(s, spriv, &mc.signer) == VL_OK &&
	     vl_sig_key_from_public(s, spub, spub_len, &mc.verifier) == VL_OK;
	if (ok) {
		mc.gc = (struct vl_mls_group_context){
		    .version = VL_MLS_VERSION_MLS10,
		    .cipher_suite = s->id,
		    .group_id = {gid, gid_len},
		    .epoch = epoch,
		    .tree_hash = {th, th_len},
		    .confirmed_transcript_hash = {cth, cth_len},
		};
		ok = check_kind(&mc, e, "proposal", VL_MLS_CONTENT_PROPOSAL) &&
		     check_kind(&mc, e, "commit", VL_MLS_CONTENT_COMMIT) &&
		     check_kind(&mc, e, "application", VL_MLS_CONTENT_APPLICATION);
	}
	vl_sig_key_free(mc.signer);
	vl_sig_key_free(mc.verifier);
	free(gid);
	free(th);
	free(cth);
	free(spriv);
	free(spub);
	free(mc.membership_key);
	free(mc.sender_data_secret);
	free(mc.encryption_secret);
	return ok;
}

int main(int argc, char **argv)
{
	return vec_main(argc, argv, "mls/message-protection.json", check_entry,
	                "message protection mismatch");
}
