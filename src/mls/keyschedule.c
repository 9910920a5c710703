/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key schedule, PSK secret, exporter, transcript hashes and confirmation
 * tag (RFC 9420 §§6.1, 8). Every intermediate secret is wiped before
 * return.
 */
#include "mls/keyschedule.h"

#include <stdlib.h>
#include <string.h>

#include "wire/wire.h"

/* Cap on an encoded GroupContext: group_id, three hashes and the
 * extensions are each bounded by the callers; 1 MiB is far above any
 * legitimate value. */
#define MLS_GC_MAX (1u << 20)

void mls_epoch_secrets_wipe(struct mls_epoch_secrets *e)
{
	vl_wipe(e, sizeof *e);
}

int mls_expand_with_label_bytes(const struct vl_suite *s, const uint8_t *secret,
                                const uint8_t *label, size_t label_len, const void *context,
                                size_t context_len, uint8_t *out, uint16_t out_len)
{
	static const char prefix[] = "MLS 1.0 ";
	struct vl_writer w;
	size_t full = sizeof prefix - 1 + label_len;
	vl_writer_init_heap(&w, 16 + full + context_len);
	(void)!vl_write_u16(&w, out_len);
	(void)!vl_write_varint(&w, full);
	(void)!vl_write_fixed(&w, prefix, sizeof prefix - 1);
	(void)!vl_write_fixed(&w, label, label_len);
	int rc = vl_write_opaque(&w, context, context_len);
	if (rc == VL_OK)
		rc = vl_hkdf_expand(s, secret, s->hash_len, w.buf, w.len, out, out_len);
	vl_writer_cleanup(&w);
	return rc;
}

int mls_group_context_encode(const struct vl_suite *s, const uint8_t *group_id, size_t group_id_len,
                             uint64_t epoch, const uint8_t *tree_hash,
                             const uint8_t *confirmed_transcript_hash, const uint8_t *extensions,
                             size_t extensions_len, uint8_t **out, size_t *out_len)
{
	struct vl_writer w;
	vl_writer_init_heap(&w, MLS_GC_MAX);
	(void)!vl_write_u16(&w, 1); /* mls10 */
	(void)!vl_write_u16(&w, s->id);
	(void)!vl_write_opaque(&w, group_id, group_id_len);
	(void)!vl_write_u64(&w, epoch);
	(void)!vl_write_opaque(&w, tree_hash, s->hash_len);
	(void)!vl_write_opaque(&w, confirmed_transcript_hash, s->hash_len);
	(void)!vl_write_opaque(&w, extensions, extensions_len);
	return vl_writer_take(&w, out, out_len);
}

int mls_ks_joiner(const struct vl_suite *s, const uint8_t *init_secret,
                  const uint8_t *commit_secret, const uint8_t *group_context,
                  size_t group_context_len, uint8_t joiner[VL_HASH_MAX])
{
	uint8_t zero[VL_HASH_MAX] = {0}, prk[VL_HASH_MAX];
	int rc = vl_hkdf_extract(s, init_secret, s->hash_len, commit_secret ? commit_secret : zero,
	                         s->hash_len, prk);
	if (rc == VL_OK)
		rc = vl_mls_expand_with_label(s, prk, s->hash_len, "joiner", group_context,
		                              group_context_len, joiner, (uint16_t)s->hash_len);
	vl_wipe(prk, sizeof prk);
	return rc;
}

/* member_secret = Extract(joiner_secret, psk_secret). */
static int ks_member(const struct vl_suite *s, const uint8_t *joiner, const uint8_t *psk_secret,
                     uint8_t member[VL_HASH_MAX])
{
	uint8_t zero[VL_HASH_MAX] = {0};
	return vl_hkdf_extract(s, joiner, s->hash_len, psk_secret ? psk_secret : zero, s->hash_len,
	                       member);
}

int mls_ks_welcome_secret(const struct vl_suite *s, const uint8_t *joiner,
                          const uint8_t *psk_secret, uint8_t out[VL_HASH_MAX])
{
	uint8_t member[VL_HASH_MAX];
	int rc = ks_member(s, joiner, psk_secret, member);
	if (rc == VL_OK)
		rc = vl_mls_derive_secret(s, member, "welcome", out);
	vl_wipe(member, sizeof member);
	return rc;
}

int mls_ks_from_joiner(const struct vl_suite *s, const uint8_t *psk_secret,
                       const uint8_t *group_context, size_t group_context_len,
                       struct mls_epoch_secrets *e)
{
	uint8_t member[VL_HASH_MAX];
	int rc = ks_member(s, e->joiner, psk_secret, member);
	if (rc == VL_OK)
		rc = vl_mls_derive_secret(s, member, "welcome", e->welcome);
	if (rc == VL_OK)
		rc = vl_mls_expand_with_label(s, member, s->hash_len, "epoch", group_context,
		                              group_context_len, e->epoch, (uint16_t)s->hash_len);
	vl_wipe(member, sizeof member);
	/* §8, Table 4: the secrets derived from epoch_secret. */
	const struct {
		const char *label;
		uint8_t *out;
	} d[] = {
	    {"sender data", e->sender_data},
	    {"encryption", e->encryption},
	    {"exporter", e->exporter},
	    {"external", e->external},
	    {"confirm", e->confirmation_key},
	    {"membership", e->membership_key},
	    {"resumption", e->resumption_psk},
	    {"authentication", e->epoch_authenticator},
	    {"init", e->init},
	};
	for (size_t i = 0; rc == VL_OK && i < sizeof d / sizeof d[0]; i++)
		rc = vl_mls_derive_secret(s, e->epoch, d[i].label, d[i].out);
	if (rc != VL_OK) {
		uint8_t joiner[VL_HASH_MAX];
		memcpy(joiner, e->joiner, sizeof joiner);
		mls_epoch_secrets_wipe(e);
		memcpy(e->joiner, joiner, sizeof joiner);
		vl_wipe(joiner, sizeof joiner);
	}
	return rc;
}

int mls_ks_welcome_key_nonce(const struct vl_suite *s, const uint8_t *welcome_secret,
                             uint8_t key[VL_AEAD_KEY_MAX], uint8_t nonce[VL_AEAD_NONCE_MAX])
{
	int rc = vl_mls_expand_with_label(s, welcome_secret, s->hash_len, "key", NULL, 0, key,
	                                  (uint16_t)s->aead_key_len);
	if (rc == VL_OK)
		rc = vl_mls_expand_with_label(s, welcome_secret, s->hash_len, "nonce", NULL, 0,
		                              nonce, (uint16_t)s->aead_nonce_len);
	return rc;
}

int mls_ks_export(const struct vl_suite *s, const uint8_t *exporter_secret, const uint8_t *label,
                  size_t label_len, const void *context, size_t context_len, uint8_t *out,
                  uint16_t out_len)
{
	/* MLS-Exporter = ExpandWithLabel(DeriveSecret(exporter_secret, Label),
	 * "exported", Hash(Context), Length); DeriveSecret with a byte label
	 * is ExpandWithLabel with an empty context. */
	uint8_t derived[VL_HASH_MAX], h[VL_HASH_MAX];
	int rc = mls_expand_with_label_bytes(s, exporter_secret, label, label_len, NULL, 0, derived,
	                                     (uint16_t)s->hash_len);
	if (rc == VL_OK)
		rc = vl_hash(s, context, context_len, h);
	if (rc == VL_OK)
		rc = vl_mls_expand_with_label(s, derived, s->hash_len, "exported", h, s->hash_len,
		                              out, out_len);
	vl_wipe(derived, sizeof derived);
	return rc;
}

int mls_ks_external_keypair(const struct vl_suite *s, const uint8_t *external_secret, uint8_t *priv,
                            uint8_t *pub)
{
	uint8_t sk[VL_KEM_PRIV_MAX];
	int rc = vl_kem_derive_keypair(s, external_secret, s->hash_len, sk, pub);
	if (rc == VL_OK && priv)
		memcpy(priv, sk, s->kem_priv_len);
	vl_wipe(sk, sizeof sk);
	return rc;
}

/* Encodes PreSharedKeyID (§8.4). */
static void psk_id_write(struct vl_writer *w, const struct mls_psk *p)
{
	(void)!vl_write_u8(w, p->type);
	if (p->type == MLS_PSK_EXTERNAL) {
		(void)!vl_write_opaque(w, p->psk_id, p->psk_id_len);
	} else {
		(void)!vl_write_u8(w, p->usage);
		(void)!vl_write_opaque(w, p->group_id, p->group_id_len);
		(void)!vl_write_u64(w, p->epoch);
	}
	(void)!vl_write_opaque(w, p->nonce, p->nonce_len);
}

int mls_psk_secret(const struct vl_suite *s, const struct mls_psk *psks, size_t n,
                   uint8_t out[VL_HASH_MAX])
{
	uint8_t zero[VL_HASH_MAX] = {0}, extracted[VL_HASH_MAX], input[VL_HASH_MAX];
	int rc = VL_OK;
	if (n > UINT16_MAX)
		return VL_ERR_LIMIT;
	memset(out, 0, VL_HASH_MAX);
	for (size_t i = 0; rc == VL_OK && i < n; i++) {
		struct vl_writer w;
		/* PSKLabel = PreSharedKeyID id, uint16 index, uint16 count. */
		vl_writer_init_heap(&w, 1u << 20);
		psk_id_write(&w, &psks[i]);
		(void)!vl_write_u16(&w, (uint16_t)i);
		rc = vl_write_u16(&w, (uint16_t)n);
		if (rc == VL_OK)
			rc = vl_hkdf_extract(s, zero, s->hash_len, psks[i].secret,
			                     psks[i].secret_len, extracted);
		if (rc == VL_OK)
			rc = vl_mls_expand_with_label(s, extracted, s->hash_len, "derived psk",
			                              w.buf, w.len, input, (uint16_t)s->hash_len);
		vl_writer_cleanup(&w);
		/* psk_secret_[i] = Extract(psk_input_[i], psk_secret_[i-1]) */
		if (rc == VL_OK)
			rc = vl_hkdf_extract(s, input, s->hash_len, out, s->hash_len, out);
	}
	vl_wipe(extracted, sizeof extracted);
	vl_wipe(input, sizeof input);
	if (rc != VL_OK)
		vl_wipe(out, VL_HASH_MAX);
	return rc;
}

int mls_transcript_confirmed(const struct vl_suite *s, const uint8_t *interim_before,
                             const uint8_t *confirmed_input, size_t input_len,
                             uint8_t out[VL_HASH_MAX])
{
	struct vl_hash_ctx *c;
	int rc = vl_hash_ctx_new(s, &c);
	if (rc != VL_OK)
		return rc;
	if (interim_before)
		rc = vl_hash_ctx_update(c, interim_before, s->hash_len);
	if (rc == VL_OK)
		rc = vl_hash_ctx_update(c, confirmed_input, input_len);
	if (rc == VL_OK)
		rc = vl_hash_ctx_final(c, out);
	vl_hash_ctx_free(c);
	return rc;
}

int mls_transcript_interim(const struct vl_suite *s, const uint8_t *confirmed, const uint8_t *tag,
                           size_t tag_len, uint8_t out[VL_HASH_MAX])
{
	uint8_t buf[VL_HASH_MAX + 4 + VL_HASH_MAX];
	struct vl_writer w;
	if (tag_len > VL_HASH_MAX)
		return VL_ERR_LIMIT;
	vl_writer_init_fixed(&w, buf, sizeof buf);
	(void)!vl_write_fixed(&w, confirmed, s->hash_len);
	int rc = vl_write_opaque(&w, tag, tag_len);
	if (rc == VL_OK)
		rc = vl_hash(s, buf, w.len, out);
	return rc;
}

int mls_confirmation_tag(const struct vl_suite *s, const uint8_t *confirmation_key,
                         const uint8_t *confirmed, uint8_t out[VL_HASH_MAX])
{
	return vl_hmac(s, confirmation_key, s->hash_len, confirmed, s->hash_len, out);
}

int mls_confirmation_tag_verify(const struct vl_suite *s, const uint8_t *confirmation_key,
                                const uint8_t *confirmed, const uint8_t *tag, size_t tag_len)
{
	uint8_t want[VL_HASH_MAX];
	int rc = mls_confirmation_tag(s, confirmation_key, confirmed, want);
	if (rc == VL_OK && (tag_len != s->hash_len || !vl_ct_equal(want, tag, tag_len)))
		rc = VL_ERR_CRYPTO;
	vl_wipe(want, sizeof want);
	return rc;
}
