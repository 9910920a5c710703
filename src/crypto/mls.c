/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cryptographic helpers of RFC 9420 §5: ExpandWithLabel and the
 * secrets derived with it (§5.1), RefHash and the two references (§5.2),
 * SignWithLabel/VerifyWithLabel (§5.1.2) and EncryptWithLabel/
 * DecryptWithLabel (§5.1.3). The labeled structures are serialized with
 * src/wire; their bodies (contexts, signed content) are fed to the hash or
 * signature in pieces rather than copied, except where a primitive needs
 * one contiguous input.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto_int.h"
#include "wire/wire.h"

static const char mls_prefix[] = "MLS 1.0 ";
#define MLS_PREFIX_LEN (sizeof mls_prefix - 1)

/* Writes the §2.1.2 length prefix of an n-byte vector into buf[4]. */
static int varint_prefix(size_t n, uint8_t *buf, size_t *len)
{
	struct vl_writer w;
	vl_writer_init_fixed(&w, buf, 4);
	*len = 0;
	if (n > VL_VARINT_MAX)
		return VL_ERR_LIMIT;
	int rc = vl_write_varint(&w, n);
	*len = w.len;
	return rc;
}

/* Fills the three pieces of an opaque label<V> = "MLS 1.0 " + label. */
static int label_parts(const char *label, uint8_t *prefix, struct vlcrypto_buf *parts)
{
	size_t label_len = strlen(label), plen;
	int rc = varint_prefix(MLS_PREFIX_LEN + label_len, prefix, &plen);
	parts[0] = (struct vlcrypto_buf){prefix, plen};
	parts[1] = (struct vlcrypto_buf){mls_prefix, MLS_PREFIX_LEN};
	parts[2] = (struct vlcrypto_buf){label, label_len};
	return rc;
}

int vl_mls_expand_with_label(const struct vl_suite *s, const uint8_t *secret, size_t secret_len,
                             const char *label, const void *context, size_t context_len,
                             uint8_t *out, uint16_t out_len)
{
	(void)s;
	/* KDFLabel = uint16 length || opaque label<V> || opaque context<V> */
	uint8_t len16[2] = {(uint8_t)(out_len >> 8), (uint8_t)out_len}, lp[4], cp[4];
	struct vlcrypto_buf parts[6];
	size_t cp_len;
	parts[0] = (struct vlcrypto_buf){len16, 2};
	int rc = label_parts(label, lp, parts + 1);
	if (rc == VL_OK)
		rc = varint_prefix(context_len, cp, &cp_len);
	if (rc != VL_OK) {
		memset(out, 0, out_len);
		return rc;
	}
	parts[4] = (struct vlcrypto_buf){cp, cp_len};
	parts[5] = (struct vlcrypto_buf){context, context_len};
	return vlcrypto_hkdf_expand_v(secret, secret_len, parts, 6, out, out_len);
}

int vl_mls_derive_secret(const struct vl_suite *s, const uint8_t *secret, const char *label,
                         uint8_t out[VL_HASH_MAX])
{
	return vl_mls_expand_with_label(s, secret, s->hash_len, label, NULL, 0, out,
	                                (uint16_t)s->hash_len);
}

int vl_mls_derive_tree_secret(const struct vl_suite *s, const uint8_t *secret, const char *label,
                              uint32_t generation, uint8_t *out, uint16_t out_len)
{
	const uint8_t gen[4] = {(uint8_t)(generation >> 24), (uint8_t)(generation >> 16),
	                        (uint8_t)(generation >> 8), (uint8_t)generation};
	return vl_mls_expand_with_label(s, secret, s->hash_len, label, gen, sizeof gen, out,
	                                out_len);
}

int vl_mls_ref_hash(const struct vl_suite *s, const char *label, const void *value,
                    size_t value_len, uint8_t out[VL_HASH_MAX])
{
	/* RefHashInput = opaque label<V> || opaque value<V>; the label is
	 * used as given (the reference labels already carry "MLS 1.0 "). */
	const struct vlcrypto_algs *a = vlcrypto_algs();
	size_t label_len = strlen(label), lp_len, vp_len;
	uint8_t lp[4], vp[4];
	int rc = varint_prefix(label_len, lp, &lp_len);
	if (rc == VL_OK)
		rc = varint_prefix(value_len, vp, &vp_len);
	if (rc != VL_OK) {
		memset(out, 0, s->hash_len);
		return rc;
	}
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = a && c && EVP_DigestInit_ex2(c, a->sha256, NULL) &&
	         EVP_DigestUpdate(c, lp, lp_len) && EVP_DigestUpdate(c, label, label_len) &&
	         EVP_DigestUpdate(c, vp, vp_len) &&
	         (!value_len || EVP_DigestUpdate(c, value, value_len)) &&
	         EVP_DigestFinal_ex(c, out, NULL);
	EVP_MD_CTX_free(c);
	if (!ok) {
		memset(out, 0, s->hash_len);
		return vlcrypto_fail();
	}
	return VL_OK;
}

int vl_mls_key_package_ref(const struct vl_suite *s, const void *kp, size_t kp_len,
                           uint8_t out[VL_HASH_MAX])
{
	return vl_mls_ref_hash(s, "MLS 1.0 KeyPackage Reference", kp, kp_len, out);
}

int vl_mls_proposal_ref(const struct vl_suite *s, const void *auth_content, size_t len,
                        uint8_t out[VL_HASH_MAX])
{
	return vl_mls_ref_hash(s, "MLS 1.0 Proposal Reference", auth_content, len, out);
}

/* SignContent = opaque label<V> || opaque content<V>, as five pieces. */
static int sign_content(const char *label, const void *content, size_t content_len, uint8_t *lp,
                        uint8_t *cp, struct vlcrypto_buf *parts)
{
	size_t cp_len;
	int rc = label_parts(label, lp, parts);
	if (rc == VL_OK)
		rc = varint_prefix(content_len, cp, &cp_len);
	parts[3] = (struct vlcrypto_buf){cp, rc == VL_OK ? cp_len : 0};
	parts[4] = (struct vlcrypto_buf){content, content_len};
	return rc;
}

int vl_mls_sign_with_label_key(const struct vl_sig_key *k, const char *label, const void *content,
                               size_t content_len, uint8_t *sig, size_t *sig_len)
{
	uint8_t lp[4], cp[4];
	struct vlcrypto_buf parts[5];
	int rc = sign_content(label, content, content_len, lp, cp, parts);
	if (rc != VL_OK) {
		memset(sig, 0, VL_SIG_MAX);
		*sig_len = 0;
		return rc;
	}
	return vlcrypto_sig_key_sign_v(k, parts, 5, sig, sig_len);
}

int vl_mls_verify_with_label_key(const struct vl_sig_key *k, const char *label, const void *content,
                                 size_t content_len, const uint8_t *sig, size_t sig_len)
{
	uint8_t lp[4], cp[4];
	struct vlcrypto_buf parts[5];
	int rc = sign_content(label, content, content_len, lp, cp, parts);
	if (rc != VL_OK)
		return rc;
	return vlcrypto_sig_key_verify_v(k, parts, 5, sig, sig_len);
}

int vl_mls_sign_with_label(const struct vl_suite *s, const uint8_t *priv, const char *label,
                           const void *content, size_t content_len, uint8_t *sig, size_t *sig_len)
{
	uint8_t lp[4], cp[4];
	struct vlcrypto_buf parts[5];
	int rc = sign_content(label, content, content_len, lp, cp, parts);
	if (rc != VL_OK) {
		memset(sig, 0, VL_SIG_MAX);
		*sig_len = 0;
		return rc;
	}
	return vlcrypto_sign_raw_v(s, priv, parts, 5, sig, sig_len);
}

int vl_mls_verify_with_label(const struct vl_suite *s, const uint8_t *pub, size_t pub_len,
                             const char *label, const void *content, size_t content_len,
                             const uint8_t *sig, size_t sig_len)
{
	uint8_t lp[4], cp[4];
	struct vlcrypto_buf parts[5];
	int rc = sign_content(label, content, content_len, lp, cp, parts);
	if (rc != VL_OK)
		return rc;
	return vlcrypto_verify_raw_v(s, pub, pub_len, parts, 5, sig, sig_len);
}

/* EncryptContext = opaque label<V> || opaque context<V>, the HPKE info.
 * Held in buf[cap] when it fits, else on the heap (*heap, free it). */
static int encrypt_context(const char *label, const void *context, size_t context_len, uint8_t *buf,
                           size_t cap, uint8_t **info, size_t *info_len, uint8_t **heap)
{
	size_t label_len = MLS_PREFIX_LEN + strlen(label);
	size_t need = 4 + label_len + 4 + context_len;
	*heap = NULL;
	if (context_len > VL_VARINT_MAX || label_len > VL_VARINT_MAX)
		return VL_ERR_LIMIT;
	if (need > cap) {
		*heap = malloc(need);
		if (!*heap)
			return VL_ERR_NOMEM;
		buf = *heap;
		cap = need;
	}
	struct vl_writer w;
	vl_writer_init_fixed(&w, buf, cap);
	int rc = vl_write_varint(&w, label_len);
	if (rc == VL_OK)
		rc = vl_write_fixed(&w, mls_prefix, MLS_PREFIX_LEN);
	if (rc == VL_OK)
		rc = vl_write_fixed(&w, label, label_len - MLS_PREFIX_LEN);
	if (rc == VL_OK)
		rc = vl_write_opaque(&w, context, context_len);
	*info = buf;
	*info_len = w.len;
	return rc;
}

int vl_mls_encrypt_with_label(const struct vl_suite *s, const uint8_t *pub, size_t pub_len,
                              const char *label, const void *context, size_t context_len,
                              const void *pt, size_t pt_len, uint8_t *kem_output, uint8_t *ct)
{
	uint8_t stack[512], *info, *heap;
	size_t info_len;
	int rc = encrypt_context(label, context, context_len, stack, sizeof stack, &info, &info_len,
	                         &heap);
	/* §5.1.3: SealBase(pk, EncryptContext, "", plaintext). */
	if (rc == VL_OK)
		rc = vl_hpke_seal(s, pub, pub_len, info, info_len, "", 0, pt, pt_len, kem_output,
		                  ct);
	free(heap);
	if (rc != VL_OK) {
		memset(kem_output, 0, s->kem_pub_len);
		if (pt_len <= SIZE_MAX - VL_AEAD_TAG_LEN)
			memset(ct, 0, pt_len + VL_AEAD_TAG_LEN);
	}
	return rc;
}

static int decrypt_with_label(const struct vl_suite *s, const struct vl_kem_key *key,
                              const uint8_t *priv, const char *label, const void *context,
                              size_t context_len, const uint8_t *kem_output, size_t kem_output_len,
                              const void *ct, size_t ct_len, uint8_t *pt)
{
	uint8_t stack[512], *info, *heap;
	size_t info_len;
	int rc = encrypt_context(label, context, context_len, stack, sizeof stack, &info, &info_len,
	                         &heap);
	/* §5.1.3: OpenBase(kem_output, sk, EncryptContext, "", ciphertext). */
	if (rc == VL_OK && key)
		rc = vl_hpke_open_key(s, key, kem_output, kem_output_len, info, info_len, "", 0, ct,
		                      ct_len, pt);
	else if (rc == VL_OK)
		rc = vl_hpke_open(s, priv, kem_output, kem_output_len, info, info_len, "", 0, ct,
		                  ct_len, pt);
	else if (ct_len >= VL_AEAD_TAG_LEN)
		vl_wipe(pt, ct_len - VL_AEAD_TAG_LEN);
	free(heap);
	return rc;
}

int vl_mls_decrypt_with_label(const struct vl_suite *s, const uint8_t *priv, const char *label,
                              const void *context, size_t context_len, const uint8_t *kem_output,
                              size_t kem_output_len, const void *ct, size_t ct_len, uint8_t *pt)
{
	return decrypt_with_label(s, NULL, priv, label, context, context_len, kem_output,
	                          kem_output_len, ct, ct_len, pt);
}

int vl_mls_decrypt_with_label_key(const struct vl_kem_key *k, const char *label,
                                  const void *context, size_t context_len,
                                  const uint8_t *kem_output, size_t kem_output_len, const void *ct,
                                  size_t ct_len, uint8_t *pt)
{
	return decrypt_with_label(k->suite, k, NULL, label, context, context_len, kem_output,
	                          kem_output_len, ct, ct_len, pt);
}
