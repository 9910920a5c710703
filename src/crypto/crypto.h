/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cipher-suite provider: every cryptographic primitive Valise uses, for
 * MLS cipher suites 0x0001, 0x0002 and 0x0003, composed on OpenSSL 3.
 * Nothing outside src/crypto calls OpenSSL for primitives.
 *
 * Conventions:
 *  - A suite is a constant table (struct vl_suite) found with vl_suite_get();
 *    its *_len fields give every size a caller must provide. The *_MAX
 *    constants bound them over all suites, for stack buffers.
 *  - Keys cross this interface as raw bytes in the encodings of the MLS test
 *    vectors: HPKE keys as SerializePublicKey/SerializePrivateKey (RFC 9180
 *    §7.1), Ed25519 private keys as the 32-byte seed, ECDSA P-256 private keys
 *    as the 32-byte big-endian scalar and public keys as uncompressed points.
 *    Hot paths may load a key once into a struct vl_sig_key / vl_kem_key.
 *  - Functions do not allocate for their outputs: callers pass buffers.
 *  - Every failure of a cryptographic check (bad signature, bad tag, bad
 *    point) is VL_ERR_CRYPTO with no further detail; outputs are zeroed on
 *    failure.
 */
#ifndef VL_CRYPTO_H
#define VL_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "valise/status.h"

#define VL_HASH_MAX       64 /* largest Nh */
#define VL_AEAD_KEY_MAX   32
#define VL_AEAD_NONCE_MAX 12
#define VL_AEAD_TAG_LEN   16
#define VL_KEM_PUB_MAX    65 /* P-256 uncompressed point */
#define VL_KEM_PRIV_MAX   32
#define VL_KEM_SECRET_MAX 32
#define VL_SIG_PUB_MAX    65
#define VL_SIG_PRIV_MAX   32
#define VL_SIG_MAX        72 /* DER ECDSA P-256 signature, worst case */

/* MLS cipher suites (RFC 9420 §17.1). */
enum {
	VL_SUITE_X25519_AES128GCM_SHA256_ED25519 = 0x0001,
	VL_SUITE_P256_AES128GCM_SHA256_P256 = 0x0002,
	VL_SUITE_X25519_CHACHA20POLY1305_SHA256_ED25519 = 0x0003,
};

/* HPKE algorithm identifiers (RFC 9180 §7). */
enum {
	VL_HPKE_KEM_P256_SHA256 = 0x0010,
	VL_HPKE_KEM_X25519_SHA256 = 0x0020,
	VL_HPKE_KDF_HKDF_SHA256 = 0x0001,
	VL_HPKE_AEAD_AES128GCM = 0x0001,
	VL_HPKE_AEAD_CHACHA20POLY1305 = 0x0003,
	VL_HPKE_AEAD_EXPORT_ONLY = 0xffff,
};

enum vl_sig_alg { VL_SIG_ED25519 = 1, VL_SIG_ECDSA_P256_SHA256 = 2 };

struct vl_suite {
	uint16_t id;
	uint16_t kem_id, kdf_id, aead_id; /* HPKE identifiers */
	enum vl_sig_alg sig_alg;
	size_t hash_len;       /* Nh: hash, HMAC, HKDF-Extract output */
	size_t aead_key_len;   /* Nk */
	size_t aead_nonce_len; /* Nn */
	size_t kem_pub_len;    /* Npk, also the length of an HPKE enc (Nenc) */
	size_t kem_priv_len;   /* Nsk */
	size_t kem_secret_len; /* Nsecret */
	size_t sig_pub_len;
	size_t sig_priv_len;
	const char *name; /* e.g. "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519" */
};

/* The suite table entry for an MLS cipher suite id, or NULL if unsupported. */
const struct vl_suite *vl_suite_get(uint16_t id);

/* --- Utilities ------------------------------------------------------ */

/* Cryptographically secure random bytes. VL_ERR_CRYPTO if the generator
 * fails (the output is then zeroed). */
VL_MUST_CHECK int vl_random(void *buf, size_t len);
/* Constant-time comparison: true if equal. */
bool vl_ct_equal(const void *a, const void *b, size_t len);
/* Wipes memory in a way the compiler cannot remove. Accepts NULL. */
void vl_wipe(void *p, size_t len);

/* --- Hash, HMAC, HKDF ----------------------------------------------- */

/* SHA-1 of data[0..len) into out. For the WebSocket opening handshake's
 * Sec-WebSocket-Accept value only (RFC 6455 §4.2.2), where the digest proves
 * nothing beyond "this server read the key": SHA-1 is not collision
 * resistant and must not be used for any security purpose. VL_ERR_CRYPTO
 * (out zeroed) if OpenSSL cannot provide it. */
VL_MUST_CHECK int vl_sha1(const void *data, size_t len, uint8_t out[20]);

VL_MUST_CHECK int vl_hash(const struct vl_suite *s, const void *data, size_t len,
                          uint8_t out[VL_HASH_MAX]);
/* Incremental hash, for transcripts and tree hashes built in pieces. */
struct vl_hash_ctx;
VL_MUST_CHECK int vl_hash_ctx_new(const struct vl_suite *s, struct vl_hash_ctx **out);
VL_MUST_CHECK int vl_hash_ctx_update(struct vl_hash_ctx *c, const void *data, size_t len);
/* Writes hash_len bytes and resets the context for reuse. */
VL_MUST_CHECK int vl_hash_ctx_final(struct vl_hash_ctx *c, uint8_t out[VL_HASH_MAX]);
/* Writes the hash of what was fed so far; c goes on from there. */
VL_MUST_CHECK int vl_hash_ctx_peek(const struct vl_hash_ctx *c, uint8_t out[VL_HASH_MAX]);
void vl_hash_ctx_free(struct vl_hash_ctx *c);

VL_MUST_CHECK int vl_hmac(const struct vl_suite *s, const void *key, size_t key_len,
                          const void *data, size_t len, uint8_t out[VL_HASH_MAX]);
/* HKDF-Extract(salt, ikm) -> hash_len bytes. */
VL_MUST_CHECK int vl_hkdf_extract(const struct vl_suite *s, const void *salt, size_t salt_len,
                                  const void *ikm, size_t ikm_len, uint8_t out[VL_HASH_MAX]);
/* HKDF-Expand(prk, info, out_len); out_len <= 255 * hash_len, else
 * VL_ERR_LIMIT (out zeroed). */
VL_MUST_CHECK int vl_hkdf_expand(const struct vl_suite *s, const void *prk, size_t prk_len,
                                 const void *info, size_t info_len, uint8_t *out, size_t out_len);

/* --- AEAD ------------------------------------------------------------ */

/* ct must hold pt_len + VL_AEAD_TAG_LEN bytes. In-place (ct == pt) is
 * allowed. */
VL_MUST_CHECK int vl_aead_seal(const struct vl_suite *s, const uint8_t *key, const uint8_t *nonce,
                               const void *aad, size_t aad_len, const void *pt, size_t pt_len,
                               uint8_t *ct);
/* pt must hold ct_len - VL_AEAD_TAG_LEN bytes. VL_ERR_CRYPTO on a bad tag
 * or a ct_len shorter than the tag. In-place allowed. */
VL_MUST_CHECK int vl_aead_open(const struct vl_suite *s, const uint8_t *key, const uint8_t *nonce,
                               const void *aad, size_t aad_len, const void *ct, size_t ct_len,
                               uint8_t *pt);

/* --- Signatures -------------------------------------------------------- */

/* A fresh signature key pair: priv[sig_priv_len], pub[sig_pub_len]. */
VL_MUST_CHECK int vl_sig_generate(const struct vl_suite *s, uint8_t *priv, uint8_t *pub);
VL_MUST_CHECK int vl_sig_public_from_private(const struct vl_suite *s, const uint8_t *priv,
                                             uint8_t *pub);
/* sig must hold VL_SIG_MAX bytes; *sig_len is set to the length written. */
VL_MUST_CHECK int vl_sign(const struct vl_suite *s, const uint8_t *priv, const void *msg,
                          size_t msg_len, uint8_t *sig, size_t *sig_len);
/* VL_OK if valid, VL_ERR_CRYPTO otherwise (including a malformed key). */
VL_MUST_CHECK int vl_verify(const struct vl_suite *s, const uint8_t *pub, size_t pub_len,
                            const void *msg, size_t msg_len, const uint8_t *sig, size_t sig_len);

/* A signature key loaded once (private or public only), for hot paths.
 * Read-only after loading: several threads may use it at once. Freed (and
 * its private part wiped) by vl_sig_key_free, which accepts NULL.
 * VL_ERR_CRYPTO for an invalid key, VL_ERR_NOMEM. A key loaded from the
 * private key can verify too. */
struct vl_sig_key;
VL_MUST_CHECK int vl_sig_key_from_private(const struct vl_suite *s, const uint8_t *priv,
                                          struct vl_sig_key **out);
VL_MUST_CHECK int vl_sig_key_from_public(const struct vl_suite *s, const uint8_t *pub,
                                         size_t pub_len, struct vl_sig_key **out);
void vl_sig_key_free(struct vl_sig_key *k);
/* VL_ERR_ARG if k was loaded from a public key only. */
VL_MUST_CHECK int vl_sig_key_sign(const struct vl_sig_key *k, const void *msg, size_t msg_len,
                                  uint8_t *sig, size_t *sig_len);
VL_MUST_CHECK int vl_sig_key_verify(const struct vl_sig_key *k, const void *msg, size_t msg_len,
                                    const uint8_t *sig, size_t sig_len);

/* --- KEM ------------------------------------------------------------- */

/* A fresh HPKE key pair: priv[kem_priv_len], pub[kem_pub_len]. */
VL_MUST_CHECK int vl_kem_generate(const struct vl_suite *s, uint8_t *priv, uint8_t *pub);
/* RFC 9180 DeriveKeyPair(ikm). */
VL_MUST_CHECK int vl_kem_derive_keypair(const struct vl_suite *s, const void *ikm, size_t ikm_len,
                                        uint8_t *priv, uint8_t *pub);
VL_MUST_CHECK int vl_kem_public_from_private(const struct vl_suite *s, const uint8_t *priv,
                                             uint8_t *pub);
/* VL_OK if pub is a valid public key of the suite's KEM: for P-256 an
 * uncompressed point on the curve; for X25519 any 32 bytes (a small-order
 * key is refused later, when the DH output is all zero). VL_ERR_CRYPTO
 * otherwise. */
VL_MUST_CHECK int vl_kem_check_public(const struct vl_suite *s, const uint8_t *pub, size_t pub_len);

/* An HPKE private key loaded once, its public key computed once, for a
 * receiver that opens many messages with it (a leaf's encryption key, a
 * KeyPackage's init key). Read-only after loading: it may be used by
 * several threads at once. The private key is wiped by vl_kem_key_free
 * (which accepts NULL). VL_ERR_CRYPTO for an invalid private key,
 * VL_ERR_NOMEM. */
struct vl_kem_key;
VL_MUST_CHECK int vl_kem_key_from_private(const struct vl_suite *s, const uint8_t *priv,
                                          struct vl_kem_key **out);
/* Copies the key's public key (kem_pub_len bytes) into pub. */
void vl_kem_key_public(const struct vl_kem_key *k, uint8_t *pub);
void vl_kem_key_free(struct vl_kem_key *k);

/* --- HPKE (RFC 9180) -------------------------------------------------- */

enum vl_hpke_mode {
	VL_HPKE_MODE_BASE = 0,
	VL_HPKE_MODE_PSK = 1,
	VL_HPKE_MODE_AUTH = 2,
	VL_HPKE_MODE_AUTH_PSK = 3,
};

/* An HPKE algorithm triple; it need not be an MLS suite (export-only AEAD
 * is allowed). */
struct vl_hpke_alg {
	uint16_t kem_id, kdf_id, aead_id;
};

/* Mode inputs: psk/psk_id for the psk modes; for the auth modes the sender's
 * private key (when sending) or public key (when receiving). */
struct vl_hpke_mode_args {
	enum vl_hpke_mode mode;
	const uint8_t *psk;
	size_t psk_len;
	const uint8_t *psk_id;
	size_t psk_id_len;
	const uint8_t *sk_s; /* auth modes, sender side */
	const uint8_t *pk_s; /* auth modes, receiver side */
	size_t pk_s_len;
};

/* An HPKE context (sender or receiver). Holds key, base nonce, sequence
 * number and exporter secret; wiped by vl_hpke_ctx_free. */
struct vl_hpke_ctx;

/* SetupS: enc must hold the KEM's Nenc bytes. ikm_e, if non-NULL, makes the
 * ephemeral key deterministic (DeriveKeyPair(ikm_e)); for tests only.
 * m may be NULL for base mode. *out is a new context (vl_hpke_ctx_free) or
 * NULL on error. Returns VL_ERR_UNSUPPORTED for an algorithm triple not
 * provided, VL_ERR_ARG for mode inputs that break RFC 9180 §5.1 (psk and
 * psk_id given together and only in the psk modes, a psk of at least 32
 * bytes; sk_s in the auth modes), VL_ERR_CRYPTO for an invalid key
 * (including an X25519 key of small order), VL_ERR_NOMEM. */
VL_MUST_CHECK int vl_hpke_setup_sender(const struct vl_hpke_alg *alg,
                                       const struct vl_hpke_mode_args *m, const uint8_t *pk_r,
                                       size_t pk_r_len, const void *info, size_t info_len,
                                       const uint8_t *ikm_e, size_t ikm_e_len, uint8_t *enc,
                                       struct vl_hpke_ctx **out);
VL_MUST_CHECK int vl_hpke_setup_receiver(const struct vl_hpke_alg *alg,
                                         const struct vl_hpke_mode_args *m, const uint8_t *enc,
                                         size_t enc_len, const uint8_t *sk_r, const void *info,
                                         size_t info_len, struct vl_hpke_ctx **out);
/* SetupR with a loaded private key; VL_ERR_ARG if the key belongs to
 * another KEM than alg->kem_id. */
VL_MUST_CHECK int vl_hpke_setup_receiver_key(const struct vl_hpke_alg *alg,
                                             const struct vl_hpke_mode_args *m, const uint8_t *enc,
                                             size_t enc_len, const struct vl_kem_key *sk_r,
                                             const void *info, size_t info_len,
                                             struct vl_hpke_ctx **out);
/* Context Seal/Open; ct holds pt_len + tag. Each success advances the
 * sequence number (the nonce is base_nonce XOR seq, §5.2); a failed open
 * does not, so messages must be opened in the order they were sealed.
 * VL_ERR_UNSUPPORTED for an export-only context, VL_ERR_CRYPTO for a bad
 * tag (pt zeroed), VL_ERR_LIMIT when the sequence number is exhausted. */
VL_MUST_CHECK int vl_hpke_ctx_seal(struct vl_hpke_ctx *c, const void *aad, size_t aad_len,
                                   const void *pt, size_t pt_len, uint8_t *ct);
VL_MUST_CHECK int vl_hpke_ctx_open(struct vl_hpke_ctx *c, const void *aad, size_t aad_len,
                                   const void *ct, size_t ct_len, uint8_t *pt);
/* Export (§5.3): out_len <= 255 * Nh, else VL_ERR_LIMIT. */
VL_MUST_CHECK int vl_hpke_ctx_export(const struct vl_hpke_ctx *c, const void *ctx, size_t ctx_len,
                                     uint8_t *out, size_t out_len);
void vl_hpke_ctx_free(struct vl_hpke_ctx *c);

/* Single-shot base-mode seal/open with an MLS suite's HPKE algorithms.
 * enc holds kem_pub_len bytes, ct pt_len + tag. VL_ERR_CRYPTO for a bad
 * key, enc or tag (outputs zeroed). */
VL_MUST_CHECK int vl_hpke_seal(const struct vl_suite *s, const uint8_t *pk_r, size_t pk_r_len,
                               const void *info, size_t info_len, const void *aad, size_t aad_len,
                               const void *pt, size_t pt_len, uint8_t *enc, uint8_t *ct);
VL_MUST_CHECK int vl_hpke_open(const struct vl_suite *s, const uint8_t *sk_r, const uint8_t *enc,
                               size_t enc_len, const void *info, size_t info_len, const void *aad,
                               size_t aad_len, const void *ct, size_t ct_len, uint8_t *pt);

/* vl_hpke_open with a loaded private key (of the same suite's KEM). */
VL_MUST_CHECK int vl_hpke_open_key(const struct vl_suite *s, const struct vl_kem_key *sk_r,
                                   const uint8_t *enc, size_t enc_len, const void *info,
                                   size_t info_len, const void *aad, size_t aad_len, const void *ct,
                                   size_t ct_len, uint8_t *pt);

/* --- MLS helpers (RFC 9420 §5) ------------------------------------------ */
/* Labels are given without the "MLS 1.0 " prefix; the functions add it,
 * except vl_mls_ref_hash, whose label is used verbatim as §5.2 defines it. */

VL_MUST_CHECK int vl_mls_expand_with_label(const struct vl_suite *s, const uint8_t *secret,
                                           size_t secret_len, const char *label,
                                           const void *context, size_t context_len, uint8_t *out,
                                           uint16_t out_len);
/* DeriveSecret = ExpandWithLabel(secret, label, "", Nh). */
VL_MUST_CHECK int vl_mls_derive_secret(const struct vl_suite *s, const uint8_t *secret,
                                       const char *label, uint8_t out[VL_HASH_MAX]);
/* DeriveTreeSecret(secret, label, generation, length). */
VL_MUST_CHECK int vl_mls_derive_tree_secret(const struct vl_suite *s, const uint8_t *secret,
                                            const char *label, uint32_t generation, uint8_t *out,
                                            uint16_t out_len);
/* RefHash(label, value) = Hash(RefHashInput) (§5.2). The label is taken
 * as it is: no "MLS 1.0 " prefix is added. */
VL_MUST_CHECK int vl_mls_ref_hash(const struct vl_suite *s, const char *label, const void *value,
                                  size_t value_len, uint8_t out[VL_HASH_MAX]);
/* KeyPackageRef / ProposalRef (§5.2): RefHash with their fixed labels. */
VL_MUST_CHECK int vl_mls_key_package_ref(const struct vl_suite *s, const void *kp, size_t kp_len,
                                         uint8_t out[VL_HASH_MAX]);
VL_MUST_CHECK int vl_mls_proposal_ref(const struct vl_suite *s, const void *auth_content,
                                      size_t len, uint8_t out[VL_HASH_MAX]);
/* SignWithLabel / VerifyWithLabel (§5.1.2). */
VL_MUST_CHECK int vl_mls_sign_with_label(const struct vl_suite *s, const uint8_t *priv,
                                         const char *label, const void *content, size_t content_len,
                                         uint8_t *sig, size_t *sig_len);
VL_MUST_CHECK int vl_mls_verify_with_label(const struct vl_suite *s, const uint8_t *pub,
                                           size_t pub_len, const char *label, const void *content,
                                           size_t content_len, const uint8_t *sig, size_t sig_len);
/* Same, with a loaded key. */
VL_MUST_CHECK int vl_mls_sign_with_label_key(const struct vl_sig_key *k, const char *label,
                                             const void *content, size_t content_len, uint8_t *sig,
                                             size_t *sig_len);
VL_MUST_CHECK int vl_mls_verify_with_label_key(const struct vl_sig_key *k, const char *label,
                                               const void *content, size_t content_len,
                                               const uint8_t *sig, size_t sig_len);
/* EncryptWithLabel / DecryptWithLabel (§5.1.3): kem_output holds
 * kem_pub_len bytes, ct pt_len + tag. */
VL_MUST_CHECK int vl_mls_encrypt_with_label(const struct vl_suite *s, const uint8_t *pub,
                                            size_t pub_len, const char *label, const void *context,
                                            size_t context_len, const void *pt, size_t pt_len,
                                            uint8_t *kem_output, uint8_t *ct);
VL_MUST_CHECK int vl_mls_decrypt_with_label(const struct vl_suite *s, const uint8_t *priv,
                                            const char *label, const void *context,
                                            size_t context_len, const uint8_t *kem_output,
                                            size_t kem_output_len, const void *ct, size_t ct_len,
                                            uint8_t *pt);
/* DecryptWithLabel with a loaded private key (its suite is the key's). */
VL_MUST_CHECK int vl_mls_decrypt_with_label_key(const struct vl_kem_key *k, const char *label,
                                                const void *context, size_t context_len,
                                                const uint8_t *kem_output, size_t kem_output_len,
                                                const void *ct, size_t ct_len, uint8_t *pt);

#endif
