/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HPKE (RFC 9180) composed on EVP, since OpenSSL 3.0 has none: DHKEM
 * Encap/Decap and their authenticated forms (§4.1), the key schedule of the
 * four modes with the PSK input checks (§5.1), context encryption with its
 * sequence number (§5.2), the secret export (§5.3) and single-shot base
 * mode (§6.1). KDF is HKDF-SHA256; AEADs AES-128-GCM, ChaCha20-Poly1305 and
 * export-only.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto_int.h"

/* RFC 9180 §5.1 (and §9.5): a PSK carries at least 32 bytes of entropy. */
#define PSK_MIN_LEN 32

static int mode_args_check(const struct vl_hpke_mode_args *m, bool sender)
{
	bool psk_mode = m->mode == VL_HPKE_MODE_PSK || m->mode == VL_HPKE_MODE_AUTH_PSK;
	bool auth_mode = m->mode == VL_HPKE_MODE_AUTH || m->mode == VL_HPKE_MODE_AUTH_PSK;
	if (m->mode > VL_HPKE_MODE_AUTH_PSK)
		return VL_ERR_ARG;
	/* VerifyPSKInputs: psk and psk_id come together, and exactly in the
	 * psk modes. */
	bool got_psk = m->psk_len > 0, got_psk_id = m->psk_id_len > 0;
	if (got_psk != got_psk_id || got_psk != psk_mode)
		return VL_ERR_ARG;
	if (psk_mode && (!m->psk || !m->psk_id || m->psk_len < PSK_MIN_LEN))
		return VL_ERR_ARG;
	if (auth_mode && (sender ? !m->sk_s : !m->pk_s))
		return VL_ERR_ARG;
	return VL_OK;
}

static int ctx_prepare(struct vl_hpke_ctx *c, const struct vl_hpke_alg *alg)
{
	memset(c, 0, sizeof *c);
	if (alg->kdf_id != VL_HPKE_KDF_HKDF_SHA256 || !vlcrypto_kem_get(alg->kem_id))
		return VL_ERR_UNSUPPORTED;
	c->nh = 32;
	if (alg->aead_id != VL_HPKE_AEAD_EXPORT_ONLY) {
		c->cipher = vlcrypto_aead_cipher(alg->aead_id, &c->nk, &c->nn);
		if (!c->cipher)
			return VL_ERR_UNSUPPORTED;
	}
	const uint8_t sid[10] = {'H',
	                         'P',
	                         'K',
	                         'E',
	                         (uint8_t)(alg->kem_id >> 8),
	                         (uint8_t)alg->kem_id,
	                         (uint8_t)(alg->kdf_id >> 8),
	                         (uint8_t)alg->kdf_id,
	                         (uint8_t)(alg->aead_id >> 8),
	                         (uint8_t)alg->aead_id};
	memcpy(c->suite_id, sid, sizeof sid);
	return VL_OK;
}

/* §5.1 KeySchedule: fills key, base_nonce and exporter_secret. */
static int key_schedule(struct vl_hpke_ctx *c, const struct vl_hpke_mode_args *m,
                        const uint8_t *shared_secret, const void *info, size_t info_len)
{
	const uint8_t *sid = c->suite_id;
	uint8_t ksc[1 + 32 + 32], secret[32];
	ksc[0] = (uint8_t)m->mode;
	int rc = vlcrypto_labeled_extract(sid, 10, "", 0, "psk_id_hash", m->psk_id, m->psk_id_len,
	                                  ksc + 1);
	if (rc == VL_OK)
		rc =
		    vlcrypto_labeled_extract(sid, 10, "", 0, "info_hash", info, info_len, ksc + 33);
	if (rc == VL_OK)
		rc = vlcrypto_labeled_extract(sid, 10, shared_secret, 32, "secret", m->psk,
		                              m->psk_len, secret);
	if (rc == VL_OK && c->cipher)
		rc =
		    vlcrypto_labeled_expand(sid, 10, secret, "key", ksc, sizeof ksc, c->key, c->nk);
	if (rc == VL_OK && c->cipher)
		rc = vlcrypto_labeled_expand(sid, 10, secret, "base_nonce", ksc, sizeof ksc,
		                             c->base_nonce, c->nn);
	if (rc == VL_OK)
		rc = vlcrypto_labeled_expand(sid, 10, secret, "exp", ksc, sizeof ksc,
		                             c->exporter_secret, c->nh);
	vl_wipe(secret, sizeof secret);
	c->seq = 0;
	return rc;
}

/* ExtractAndExpand(dh, kem_context) of §4.1. */
static int extract_and_expand(const struct vlcrypto_kem *k, const uint8_t *dh, size_t dh_len,
                              const uint8_t *kem_context, size_t kc_len, uint8_t *shared_secret)
{
	uint8_t prk[32];
	int rc = vlcrypto_labeled_extract(k->suite_id, 5, "", 0, "eae_prk", dh, dh_len, prk);
	if (rc == VL_OK)
		rc = vlcrypto_labeled_expand(k->suite_id, 5, prk, "shared_secret", kem_context,
		                             kc_len, shared_secret, k->nsecret);
	vl_wipe(prk, sizeof prk);
	return rc;
}

/* Encap / AuthEncap (sk_s non-NULL): enc[npk] and shared_secret[32]. */
static int encap(const struct vlcrypto_kem *k, const uint8_t *pk_r, size_t pk_r_len,
                 const uint8_t *sk_s, const uint8_t *ikm_e, size_t ikm_e_len, uint8_t *enc,
                 uint8_t *shared_secret)
{
	EVP_PKEY *pkr = NULL, *ske = NULL, *sks = NULL;
	uint8_t ske_raw[VL_KEM_PRIV_MAX], dh[64], kc[3 * VL_KEM_PUB_MAX];
	size_t kc_len = 0, dh_len = k->ndh;
	int rc = vlcrypto_kem_load_public(k, pk_r, pk_r_len, &pkr);
	if (rc == VL_OK && ikm_e) {
		rc = vlcrypto_kem_derive(k, ikm_e, ikm_e_len, ske_raw, enc);
		if (rc == VL_OK)
			rc = vlcrypto_kem_load_private(k, ske_raw, &ske, NULL);
	} else if (rc == VL_OK && k->id == VL_HPKE_KEM_X25519_SHA256) {
		rc = vl_random(ske_raw, 32);
		if (rc == VL_OK)
			rc = vlcrypto_kem_load_private(k, ske_raw, &ske, enc);
	} else if (rc == VL_OK) {
		rc = vlcrypto_p256_ephemeral(&ske, enc);
	}
	if (rc == VL_OK)
		rc = vlcrypto_kem_dh(k, ske, pkr, dh);
	if (rc == VL_OK) {
		/* kem_context = enc || pkRm (|| pkSm) */
		memcpy(kc, enc, k->npk);
		memcpy(kc + k->npk, pk_r, k->npk);
		kc_len = 2 * k->npk;
	}
	if (rc == VL_OK && sk_s) {
		rc = vlcrypto_kem_load_private(k, sk_s, &sks, kc + kc_len);
		if (rc == VL_OK)
			rc = vlcrypto_kem_dh(k, sks, pkr, dh + k->ndh);
		kc_len += k->npk;
		dh_len += k->ndh;
	}
	if (rc == VL_OK)
		rc = extract_and_expand(k, dh, dh_len, kc, kc_len, shared_secret);
	EVP_PKEY_free(pkr);
	EVP_PKEY_free(ske);
	EVP_PKEY_free(sks);
	vl_wipe(ske_raw, sizeof ske_raw);
	vl_wipe(dh, sizeof dh);
	if (rc != VL_OK) {
		memset(enc, 0, k->npk);
		vl_wipe(shared_secret, k->nsecret);
	}
	return rc;
}

/* Decap / AuthDecap (pk_s non-NULL), with the recipient's key loaded and
 * its serialized public key pkrm at hand. */
static int decap(const struct vlcrypto_kem *k, const uint8_t *enc, size_t enc_len, EVP_PKEY *skr,
                 const uint8_t *pkrm, const uint8_t *pk_s, size_t pk_s_len, uint8_t *shared_secret)
{
	EVP_PKEY *pke = NULL, *pks = NULL;
	uint8_t dh[64], kc[3 * VL_KEM_PUB_MAX];
	size_t dh_len = k->ndh, kc_len = 2 * k->npk;
	int rc = vlcrypto_kem_load_public(k, enc, enc_len, &pke);
	if (rc == VL_OK)
		rc = vlcrypto_kem_dh(k, skr, pke, dh);
	if (rc == VL_OK && pk_s) {
		rc = vlcrypto_kem_load_public(k, pk_s, pk_s_len, &pks);
		if (rc == VL_OK)
			rc = vlcrypto_kem_dh(k, skr, pks, dh + k->ndh);
		if (rc == VL_OK)
			memcpy(kc + kc_len, pk_s, k->npk);
		kc_len += k->npk;
		dh_len += k->ndh;
	}
	if (rc == VL_OK) {
		/* kem_context = enc || pkRm (|| pkSm) */
		memcpy(kc, enc, k->npk);
		memcpy(kc + k->npk, pkrm, k->npk);
		rc = extract_and_expand(k, dh, dh_len, kc, kc_len, shared_secret);
	}
	EVP_PKEY_free(pke);
	EVP_PKEY_free(pks);
	vl_wipe(dh, sizeof dh);
	if (rc != VL_OK)
		vl_wipe(shared_secret, k->nsecret);
	return rc;
}

static const struct vl_hpke_mode_args base_mode = {.mode = VL_HPKE_MODE_BASE};

static int setup_sender(struct vl_hpke_ctx *c, const struct vl_hpke_alg *alg,
                        const struct vl_hpke_mode_args *m, const uint8_t *pk_r, size_t pk_r_len,
                        const void *info, size_t info_len, const uint8_t *ikm_e, size_t ikm_e_len,
                        uint8_t *enc)
{
	if (!m)
		m = &base_mode;
	int rc = ctx_prepare(c, alg);
	if (rc != VL_OK)
		return rc;
	const struct vlcrypto_kem *k = vlcrypto_kem_get(alg->kem_id);
	rc = mode_args_check(m, true);
	if (rc != VL_OK) {
		memset(enc, 0, k->npk);
		return rc;
	}
	bool auth = m->mode == VL_HPKE_MODE_AUTH || m->mode == VL_HPKE_MODE_AUTH_PSK;
	uint8_t ss[32];
	rc = encap(k, pk_r, pk_r_len, auth ? m->sk_s : NULL, ikm_e, ikm_e_len, enc, ss);
	if (rc == VL_OK)
		rc = key_schedule(c, m, ss, info, info_len);
	vl_wipe(ss, sizeof ss);
	if (rc != VL_OK) {
		vl_wipe(c, sizeof *c);
		memset(enc, 0, k->npk);
	}
	return rc;
}

/* SetupR with either a loaded key (key) or raw private key bytes (sk_r). */
static int setup_receiver(struct vl_hpke_ctx *c, const struct vl_hpke_alg *alg,
                          const struct vl_hpke_mode_args *m, const uint8_t *enc, size_t enc_len,
                          const struct vl_kem_key *key, const uint8_t *sk_r, const void *info,
                          size_t info_len)
{
	if (!m)
		m = &base_mode;
	int rc = ctx_prepare(c, alg);
	if (rc == VL_OK)
		rc = mode_args_check(m, false);
	if (rc == VL_OK && key && key->kem->id != alg->kem_id)
		rc = VL_ERR_ARG;
	if (rc != VL_OK)
		return rc;
	const struct vlcrypto_kem *k = vlcrypto_kem_get(alg->kem_id);
	bool auth = m->mode == VL_HPKE_MODE_AUTH || m->mode == VL_HPKE_MODE_AUTH_PSK;
	EVP_PKEY *loaded = NULL;
	uint8_t pkrm[VL_KEM_PUB_MAX], ss[32];
	if (!key)
		rc = vlcrypto_kem_load_private(k, sk_r, &loaded, pkrm);
	if (rc == VL_OK)
		rc = decap(k, enc, enc_len, key ? key->pkey : loaded, key ? key->pub : pkrm,
		           auth ? m->pk_s : NULL, m->pk_s_len, ss);
	if (rc == VL_OK)
		rc = key_schedule(c, m, ss, info, info_len);
	EVP_PKEY_free(loaded);
	vl_wipe(ss, sizeof ss);
	if (rc != VL_OK)
		vl_wipe(c, sizeof *c);
	return rc;
}

int vl_hpke_setup_sender(const struct vl_hpke_alg *alg, const struct vl_hpke_mode_args *m,
                         const uint8_t *pk_r, size_t pk_r_len, const void *info, size_t info_len,
                         const uint8_t *ikm_e, size_t ikm_e_len, uint8_t *enc,
                         struct vl_hpke_ctx **out)
{
	*out = NULL;
	struct vl_hpke_ctx *c = malloc(sizeof *c);
	if (!c)
		return VL_ERR_NOMEM;
	int rc = setup_sender(c, alg, m, pk_r, pk_r_len, info, info_len, ikm_e, ikm_e_len, enc);
	if (rc != VL_OK) {
		free(c);
		return rc;
	}
	*out = c;
	return VL_OK;
}

int vl_hpke_setup_receiver(const struct vl_hpke_alg *alg, const struct vl_hpke_mode_args *m,
                           const uint8_t *enc, size_t enc_len, const uint8_t *sk_r,
                           const void *info, size_t info_len, struct vl_hpke_ctx **out)
{
	*out = NULL;
	struct vl_hpke_ctx *c = malloc(sizeof *c);
	if (!c)
		return VL_ERR_NOMEM;
	int rc = setup_receiver(c, alg, m, enc, enc_len, NULL, sk_r, info, info_len);
	if (rc != VL_OK) {
		free(c);
		return rc;
	}
	*out = c;
	return VL_OK;
}

int vl_hpke_setup_receiver_key(const struct vl_hpke_alg *alg, const struct vl_hpke_mode_args *m,
                               const uint8_t *enc, size_t enc_len, const struct vl_kem_key *sk_r,
                               const void *info, size_t info_len, struct vl_hpke_ctx **out)
{
	*out = NULL;
	struct vl_hpke_ctx *c = malloc(sizeof *c);
	if (!c)
		return VL_ERR_NOMEM;
	int rc = setup_receiver(c, alg, m, enc, enc_len, sk_r, NULL, info, info_len);
	if (rc != VL_OK) {
		free(c);
		return rc;
	}
	*out = c;
	return VL_OK;
}

/* §5.2 ComputeNonce: base_nonce XOR I2OSP(seq, Nn). */
static void compute_nonce(const struct vl_hpke_ctx *c, uint8_t *nonce)
{
	memcpy(nonce, c->base_nonce, c->nn);
	for (size_t i = 0; i < 8; i++)
		nonce[c->nn - 1 - i] ^= (uint8_t)(c->seq >> (8 * i));
}

int vl_hpke_ctx_seal(struct vl_hpke_ctx *c, const void *aad, size_t aad_len, const void *pt,
                     size_t pt_len, uint8_t *ct)
{
	if (!c->cipher)
		return VL_ERR_UNSUPPORTED;
	/* §5.2 IncrementSeq: the sequence number must never wrap, or a
	 * nonce would repeat. With a 64-bit counter this is theoretical. */
	if (c->seq == UINT64_MAX)
		return VL_ERR_LIMIT;
	uint8_t nonce[VL_AEAD_NONCE_MAX];
	compute_nonce(c, nonce);
	int rc = vlcrypto_aead_seal(c->cipher, c->key, nonce, aad, aad_len, pt, pt_len, ct);
	if (rc == VL_OK)
		c->seq++;
	return rc;
}

int vl_hpke_ctx_open(struct vl_hpke_ctx *c, const void *aad, size_t aad_len, const void *ct,
                     size_t ct_len, uint8_t *pt)
{
	if (!c->cipher)
		return VL_ERR_UNSUPPORTED;
	if (c->seq == UINT64_MAX)
		return VL_ERR_LIMIT;
	uint8_t nonce[VL_AEAD_NONCE_MAX];
	compute_nonce(c, nonce);
	/* A failed open leaves the sequence number where it was (§5.2). */
	int rc = vlcrypto_aead_open(c->cipher, c->key, nonce, aad, aad_len, ct, ct_len, pt);
	if (rc == VL_OK)
		c->seq++;
	return rc;
}

int vl_hpke_ctx_export(const struct vl_hpke_ctx *c, const void *ctx, size_t ctx_len, uint8_t *out,
                       size_t out_len)
{
	/* §5.3: Export = LabeledExpand(exporter_secret, "sec", ctx, L),
	 * L <= 255 * Nh. */
	return vlcrypto_labeled_expand(c->suite_id, 10, c->exporter_secret, "sec", ctx, ctx_len,
	                               out, out_len);
}

void vl_hpke_ctx_free(struct vl_hpke_ctx *c)
{
	if (!c)
		return;
	vl_wipe(c, sizeof *c);
	free(c);
}

void vlcrypto_hpke_ctx_peek(const struct vl_hpke_ctx *c, uint8_t *key, uint8_t *base_nonce,
                            uint8_t *exporter_secret)
{
	memcpy(key, c->key, c->nk);
	memcpy(base_nonce, c->base_nonce, c->nn);
	memcpy(exporter_secret, c->exporter_secret, c->nh);
}

/* --- Single shot (§6.1) ------------------------------------------------ */

int vl_hpke_seal(const struct vl_suite *s, const uint8_t *pk_r, size_t pk_r_len, const void *info,
                 size_t info_len, const void *aad, size_t aad_len, const void *pt, size_t pt_len,
                 uint8_t *enc, uint8_t *ct)
{
	const struct vl_hpke_alg alg = {s->kem_id, s->kdf_id, s->aead_id};
	struct vl_hpke_ctx c;
	int rc = setup_sender(&c, &alg, NULL, pk_r, pk_r_len, info, info_len, NULL, 0, enc);
	if (rc == VL_OK)
		rc = vl_hpke_ctx_seal(&c, aad, aad_len, pt, pt_len, ct);
	vl_wipe(&c, sizeof c);
	if (rc != VL_OK)
		memset(enc, 0, s->kem_pub_len);
	return rc;
}

static int open_single(const struct vl_suite *s, const struct vl_kem_key *key, const uint8_t *sk_r,
                       const uint8_t *enc, size_t enc_len, const void *info, size_t info_len,
                       const void *aad, size_t aad_len, const void *ct, size_t ct_len, uint8_t *pt)
{
	const struct vl_hpke_alg alg = {s->kem_id, s->kdf_id, s->aead_id};
	struct vl_hpke_ctx c;
	int rc = setup_receiver(&c, &alg, NULL, enc, enc_len, key, sk_r, info, info_len);
	if (rc == VL_OK)
		rc = vl_hpke_ctx_open(&c, aad, aad_len, ct, ct_len, pt);
	else if (ct_len >= VL_AEAD_TAG_LEN)
		vl_wipe(pt, ct_len - VL_AEAD_TAG_LEN);
	vl_wipe(&c, sizeof c);
	return rc;
}

int vl_hpke_open(const struct vl_suite *s, const uint8_t *sk_r, const uint8_t *enc, size_t enc_len,
                 const void *info, size_t info_len, const void *aad, size_t aad_len, const void *ct,
                 size_t ct_len, uint8_t *pt)
{
	return open_single(s, NULL, sk_r, enc, enc_len, info, info_len, aad, aad_len, ct, ct_len,
	                   pt);
}

int vl_hpke_open_key(const struct vl_suite *s, const struct vl_kem_key *sk_r, const uint8_t *enc,
                     size_t enc_len, const void *info, size_t info_len, const void *aad,
                     size_t aad_len, const void *ct, size_t ct_len, uint8_t *pt)
{
	return open_single(s, sk_r, NULL, enc, enc_len, info, info_len, aad, aad_len, ct, ct_len,
	                   pt);
}
