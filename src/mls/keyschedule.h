/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The MLS key schedule (RFC 9420 §8): from the previous epoch's init secret,
 * the commit secret, the PSK secret and the new GroupContext to the joiner,
 * welcome and epoch secrets and everything derived from them; the exporter
 * (§8.5), external_pub (§8.3), PSK secret (§8.4), transcript hashes (§8.2)
 * and the confirmation tag (§6.1).
 *
 * All secrets are hash_len bytes (Nh) of the suite and live in fixed
 * VL_HASH_MAX buffers; mls_epoch_secrets_wipe() clears a whole set.
 */
#ifndef VL_MLS_KEYSCHEDULE_H
#define VL_MLS_KEYSCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"

/* Every secret of one epoch (§8, table of Figure 23). */
struct mls_epoch_secrets {
	uint8_t joiner[VL_HASH_MAX];
	uint8_t welcome[VL_HASH_MAX];
	uint8_t epoch[VL_HASH_MAX];
	uint8_t sender_data[VL_HASH_MAX];
	uint8_t encryption[VL_HASH_MAX];
	uint8_t exporter[VL_HASH_MAX];
	uint8_t external[VL_HASH_MAX];
	uint8_t confirmation_key[VL_HASH_MAX];
	uint8_t membership_key[VL_HASH_MAX];
	uint8_t resumption_psk[VL_HASH_MAX];
	uint8_t epoch_authenticator[VL_HASH_MAX];
	uint8_t init[VL_HASH_MAX]; /* init_secret of this epoch, for the next */
};

void mls_epoch_secrets_wipe(struct mls_epoch_secrets *e);

/* ExpandWithLabel with a label given as bytes (the exporter's label is
 * arbitrary application data and may hold zero bytes). */
VL_MUST_CHECK int mls_expand_with_label_bytes(const struct vl_suite *s, const uint8_t *secret,
                                              const uint8_t *label, size_t label_len,
                                              const void *context, size_t context_len, uint8_t *out,
                                              uint16_t out_len);

/* Encodes a GroupContext (§8.1) into a heap buffer (free() it). extensions
 * is the encoded content of the extensions<V> vector (without its length
 * prefix), possibly empty. */
VL_MUST_CHECK int mls_group_context_encode(const struct vl_suite *s, const uint8_t *group_id,
                                           size_t group_id_len, uint64_t epoch,
                                           const uint8_t *tree_hash,
                                           const uint8_t *confirmed_transcript_hash,
                                           const uint8_t *extensions, size_t extensions_len,
                                           uint8_t **out, size_t *out_len);

/* joiner_secret = ExpandWithLabel(Extract(init_secret, commit_secret),
 * "joiner", GroupContext, Nh). commit_secret NULL means the all-zero
 * vector (§8). */
VL_MUST_CHECK int mls_ks_joiner(const struct vl_suite *s, const uint8_t *init_secret,
                                const uint8_t *commit_secret, const uint8_t *group_context,
                                size_t group_context_len, uint8_t joiner[VL_HASH_MAX]);

/* From the joiner secret (already in e->joiner) and psk_secret (NULL for
 * no PSK: the zero vector) derives every other secret of e. */
VL_MUST_CHECK int mls_ks_from_joiner(const struct vl_suite *s, const uint8_t *psk_secret,
                                     const uint8_t *group_context, size_t group_context_len,
                                     struct mls_epoch_secrets *e);

/* Only the welcome secret, for a joiner that has the joiner secret from a
 * Welcome but not yet the GroupContext. */
VL_MUST_CHECK int mls_ks_welcome_secret(const struct vl_suite *s, const uint8_t *joiner,
                                        const uint8_t *psk_secret, uint8_t out[VL_HASH_MAX]);

/* Welcome key and nonce from the welcome secret (§12.4.3.1). */
VL_MUST_CHECK int mls_ks_welcome_key_nonce(const struct vl_suite *s, const uint8_t *welcome_secret,
                                           uint8_t key[VL_AEAD_KEY_MAX],
                                           uint8_t nonce[VL_AEAD_NONCE_MAX]);

/* MLS-Exporter(label, context, length) (§8.5). */
VL_MUST_CHECK int mls_ks_export(const struct vl_suite *s, const uint8_t *exporter_secret,
                                const uint8_t *label, size_t label_len, const void *context,
                                size_t context_len, uint8_t *out, uint16_t out_len);

/* external_pub (and its private key) = KEM.DeriveKeyPair(external_secret)
 * (§8.3). priv may be NULL. */
VL_MUST_CHECK int mls_ks_external_keypair(const struct vl_suite *s, const uint8_t *external_secret,
                                          uint8_t *priv, uint8_t *pub);

/* --- Pre-shared keys (§8.4) --- */

enum { MLS_PSK_EXTERNAL = 1, MLS_PSK_RESUMPTION = 2 };
enum { MLS_RESUMPTION_APPLICATION = 1, MLS_RESUMPTION_REINIT = 2, MLS_RESUMPTION_BRANCH = 3 };

/* A PreSharedKeyID with its secret value. Pointers are borrowed. */
struct mls_psk {
	uint8_t type; /* MLS_PSK_EXTERNAL or MLS_PSK_RESUMPTION */
	const uint8_t *psk_id;
	size_t psk_id_len; /* external */
	uint8_t usage;     /* resumption */
	const uint8_t *group_id;
	size_t group_id_len; /* resumption */
	uint64_t epoch;      /* resumption */
	const uint8_t *nonce;
	size_t nonce_len;
	const uint8_t *secret;
	size_t secret_len;
};

/* psk_secret over psks[0..n) in order; n == 0 gives the zero vector. */
VL_MUST_CHECK int mls_psk_secret(const struct vl_suite *s, const struct mls_psk *psks, size_t n,
                                 uint8_t out[VL_HASH_MAX]);

/* --- Transcript hashes (§8.2) and confirmation tag (§6.1) --- */

/* confirmed = Hash(interim_before || confirmed_input), where
 * confirmed_input is the encoded ConfirmedTranscriptHashInput (wire_format,
 * FramedContent, signature). interim_before may be NULL at epoch 0 (the
 * empty string). */
VL_MUST_CHECK int mls_transcript_confirmed(const struct vl_suite *s, const uint8_t *interim_before,
                                           const uint8_t *confirmed_input, size_t input_len,
                                           uint8_t out[VL_HASH_MAX]);
/* interim = Hash(confirmed || InterimTranscriptHashInput(confirmation_tag)). */
VL_MUST_CHECK int mls_transcript_interim(const struct vl_suite *s, const uint8_t *confirmed,
                                         const uint8_t *tag, size_t tag_len,
                                         uint8_t out[VL_HASH_MAX]);
/* confirmation_tag = MAC(confirmation_key, confirmed_transcript_hash). */
VL_MUST_CHECK int mls_confirmation_tag(const struct vl_suite *s, const uint8_t *confirmation_key,
                                       const uint8_t *confirmed, uint8_t out[VL_HASH_MAX]);
/* VL_OK if tag (tag_len bytes) is the confirmation tag, VL_ERR_CRYPTO
 * otherwise; compared in constant time. */
VL_MUST_CHECK int mls_confirmation_tag_verify(const struct vl_suite *s,
                                              const uint8_t *confirmation_key,
                                              const uint8_t *confirmed, const uint8_t *tag,
                                              size_t tag_len);

#endif
