/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals shared by the files of src/crypto: the algorithm objects fetched
 * once from OpenSSL, HMAC and HKDF over scattered inputs (the labeled
 * constructions of RFC 9180 and RFC 9420 are concatenations, fed piece by
 * piece instead of being copied), the DHKEM building blocks and the HPKE
 * context layout. Nothing here is part of the public interface.
 */
#ifndef VL_CRYPTO_INT_H
#define VL_CRYPTO_INT_H

#include <openssl/evp.h>

#include "crypto/crypto.h"

/* Algorithm objects fetched once (first use, thread-safe) and kept for the
 * life of the process; read-only afterwards. */
struct vlcrypto_algs {
	EVP_MD *sha256;
	EVP_CIPHER *aes128gcm;
	EVP_CIPHER *chacha20poly1305;
};
/* NULL if OpenSSL could not provide an algorithm (then every call fails). */
const struct vlcrypto_algs *vlcrypto_algs(void);

/* One piece of a scattered input. */
struct vlcrypto_buf {
	const void *p;
	size_t len;
};

/* HMAC-SHA256 over the concatenation of parts. out gets 32 bytes. */
int vlcrypto_hmac_v(const void *key, size_t key_len, const struct vlcrypto_buf *parts,
                    size_t n_parts, uint8_t *out);
/* HKDF-Expand(prk, concatenation of info parts, out_len) with SHA-256;
 * at most 8 info parts. */
int vlcrypto_hkdf_expand_v(const void *prk, size_t prk_len, const struct vlcrypto_buf *info,
                           size_t n_info, uint8_t *out, size_t out_len);

/* The AEAD cipher of an HPKE AEAD id, with its key and nonce lengths; NULL
 * for export-only or unknown ids. */
const EVP_CIPHER *vlcrypto_aead_cipher(uint16_t aead_id, size_t *nk, size_t *nn);
/* AEAD seal/open with an explicit cipher (lengths as vl_aead_seal/open). */
int vlcrypto_aead_seal(const EVP_CIPHER *cipher, const uint8_t *key, const uint8_t *nonce,
                       const void *aad, size_t aad_len, const void *pt, size_t pt_len, uint8_t *ct);
int vlcrypto_aead_open(const EVP_CIPHER *cipher, const uint8_t *key, const uint8_t *nonce,
                       const void *aad, size_t aad_len, const void *ct, size_t ct_len, uint8_t *pt);

/* RFC 9180 §4 LabeledExtract / LabeledExpand under a suite_id (5 bytes
 * for a KEM, 10 for HPKE). out of LabeledExtract gets 32 bytes. */
int vlcrypto_labeled_extract(const uint8_t *suite_id, size_t suite_id_len, const void *salt,
                             size_t salt_len, const char *label, const void *ikm, size_t ikm_len,
                             uint8_t *out);
int vlcrypto_labeled_expand(const uint8_t *suite_id, size_t suite_id_len, const uint8_t *prk,
                            const char *label, const void *info, size_t info_len, uint8_t *out,
                            size_t out_len);

/* --- Keys (keys.c) --- */

/* P-256 private scalar (32 bytes big-endian) -> EVP_PKEY; pub, if non-NULL,
 * receives the uncompressed point. With out NULL only pub is computed (no
 * key object). VL_ERR_CRYPTO unless 0 < sk < n. */
int vlcrypto_p256_private(const uint8_t *sk, EVP_PKEY **out, uint8_t *pub);
/* Uncompressed P-256 point -> EVP_PKEY; VL_ERR_CRYPTO unless it is 65 bytes,
 * starts with 0x04 and lies on the curve. */
int vlcrypto_p256_public(const uint8_t *pk, size_t pk_len, EVP_PKEY **out);
/* A fresh P-256 key pair that never leaves OpenSSL (HPKE's ephemeral key):
 * pub receives the uncompressed point. */
int vlcrypto_p256_ephemeral(EVP_PKEY **out, uint8_t *pub);
/* A uniformly random valid P-256 scalar (rejection sampling). */
int vlcrypto_p256_random_scalar(uint8_t *sk);
/* X25519 / Ed25519 raw keys ("X25519" or "ED25519"); pub, if non-NULL,
 * receives the 32-byte public key of a private key. */
int vlcrypto_raw_private(const char *type, const uint8_t *sk, EVP_PKEY **out, uint8_t *pub);
int vlcrypto_raw_public(const char *type, const uint8_t *pk, size_t pk_len, EVP_PKEY **out);

/* --- Signatures over scattered messages (sig.c) --- */

int vlcrypto_sign_v(enum vl_sig_alg alg, EVP_PKEY *pkey, const struct vlcrypto_buf *parts, size_t n,
                    uint8_t *sig, size_t *sig_len);
int vlcrypto_verify_v(enum vl_sig_alg alg, EVP_PKEY *pkey, const struct vlcrypto_buf *parts,
                      size_t n, const uint8_t *sig, size_t sig_len);
/* The same with raw key bytes of suite s. */
int vlcrypto_sign_raw_v(const struct vl_suite *s, const uint8_t *priv,
                        const struct vlcrypto_buf *parts, size_t n, uint8_t *sig, size_t *sig_len);
int vlcrypto_verify_raw_v(const struct vl_suite *s, const uint8_t *pub, size_t pub_len,
                          const struct vlcrypto_buf *parts, size_t n, const uint8_t *sig,
                          size_t sig_len);
int vlcrypto_sig_key_sign_v(const struct vl_sig_key *k, const struct vlcrypto_buf *parts, size_t n,
                            uint8_t *sig, size_t *sig_len);
int vlcrypto_sig_key_verify_v(const struct vl_sig_key *k, const struct vlcrypto_buf *parts,
                              size_t n, const uint8_t *sig, size_t sig_len);

/* --- DHKEM (RFC 9180 §4.1) --- */

struct vlcrypto_kem {
	uint16_t id;
	size_t npk, nsk, nsecret, ndh;
	uint8_t suite_id[5]; /* "KEM" || I2OSP(kem_id, 2) */
};
/* The DHKEM of an HPKE KEM id, or NULL. */
const struct vlcrypto_kem *vlcrypto_kem_get(uint16_t kem_id);
/* Raw private key -> EVP_PKEY (with its public part); pub, if non-NULL,
 * receives SerializePublicKey. VL_ERR_CRYPTO for an invalid scalar. */
int vlcrypto_kem_load_private(const struct vlcrypto_kem *k, const uint8_t *sk, EVP_PKEY **out,
                              uint8_t *pub);
/* Serialized public key -> EVP_PKEY, validated (length, form, on curve). */
int vlcrypto_kem_load_public(const struct vlcrypto_kem *k, const uint8_t *pk, size_t pk_len,
                             EVP_PKEY **out);
/* DH(sk, pk) into out[ndh]; rejects an all-zero X25519 result. */
int vlcrypto_kem_dh(const struct vlcrypto_kem *k, EVP_PKEY *sk, EVP_PKEY *pk, uint8_t *out);
/* DeriveKeyPair(ikm) into sk[nsk] and pk[npk] (RFC 9180 §7.1.3). */
int vlcrypto_kem_derive(const struct vlcrypto_kem *k, const void *ikm, size_t ikm_len, uint8_t *sk,
                        uint8_t *pk);

/* A loaded HPKE private key (struct vl_kem_key of crypto.h). */
struct vl_kem_key {
	const struct vl_suite *suite;
	const struct vlcrypto_kem *kem;
	EVP_PKEY *pkey;
	uint8_t pub[VL_KEM_PUB_MAX];
};

/* --- HPKE context --- */

struct vl_hpke_ctx {
	const EVP_CIPHER *cipher; /* NULL: export-only */
	size_t nk, nn, nh;
	uint64_t seq;
	uint8_t key[VL_AEAD_KEY_MAX];
	uint8_t base_nonce[VL_AEAD_NONCE_MAX];
	uint8_t exporter_secret[VL_HASH_MAX];
	uint8_t suite_id[10]; /* "HPKE" || kem || kdf || aead */
};

/* Test hook for the RFC 9180 vectors: copies the key schedule outputs of
 * a context (key[nk], base_nonce[nn], exporter_secret[nh]). Not for use
 * outside tests: it hands out secrets. */
void vlcrypto_hpke_ctx_peek(const struct vl_hpke_ctx *c, uint8_t *key, uint8_t *base_nonce,
                            uint8_t *exporter_secret);

/* Marks a failure: clears OpenSSL's error queue so no detail leaks into
 * later calls, and returns VL_ERR_CRYPTO. */
int vlcrypto_fail(void);

#endif
