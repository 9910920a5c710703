/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Message framing (RFC 9420 §6): signing and verifying FramedContent,
 * PublicMessage with its membership tag, and PrivateMessage with
 * sender-data encryption, reuse guard and padding.
 *
 * The framing layer knows no group state beyond what one epoch gives it
 * (struct mls_framing): the GroupContext, the membership key, the sender
 * data secret and the secret tree. Who may send what, and which signature
 * key belongs to which leaf, is the group engine's business: unprotect
 * returns the decoded content and the sender, and mls_content_verify()
 * checks the signature once the caller has looked up the sender's key.
 */
#ifndef VL_MLS_FRAMING_H
#define VL_MLS_FRAMING_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "mls/secrettree.h"
#include "mls/struct/struct.h"

/* Largest application message, and largest padded PrivateMessage plaintext. */
#define MLS_MAX_MESSAGE (16u << 20)

struct mls_framing {
	const struct vl_suite *suite;
	const struct vl_mls_group_context *context; /* current epoch */
	const uint8_t *membership_key;              /* Nh bytes */
	const uint8_t *sender_data_secret;          /* Nh bytes */
	struct mls_secret_tree *secret_tree;
	/* PrivateMessage plaintexts are padded with zeros to a multiple of
	 * this (0 or 1: no padding), hiding exact lengths (§6.3.1). */
	uint32_t padding_block;
};

/* Signs content as wire_format (public or private message) into auth->
 * signature, whose bytes are written to sig_buf (VL_SIG_MAX). */
VL_MUST_CHECK int mls_content_sign(const struct mls_framing *f, uint16_t wire_format,
                                   const struct vl_mls_framed_content *content,
                                   const struct vl_sig_key *signer, uint8_t sig_buf[VL_SIG_MAX],
                                   struct vl_mls_auth_data *auth);
/* Verifies auth->signature over content (FramedContentTBS, §6.1) with the
 * sender's key. VL_OK or VL_ERR_CRYPTO. */
VL_MUST_CHECK int mls_content_verify(const struct mls_framing *f, uint16_t wire_format,
                                     const struct vl_mls_framed_content *content,
                                     const struct vl_mls_auth_data *auth,
                                     const struct vl_sig_key *sender_key);

/* Builds an MLSMessage(PublicMessage) (heap buffer, free() it) from signed
 * content; computes the membership tag for member senders (§6.2).
 * Application content is refused (VL_ERR_INVALID): §6.2 forbids it. */
VL_MUST_CHECK int mls_public_encode(const struct mls_framing *f,
                                    const struct vl_mls_framed_content *content,
                                    const struct vl_mls_auth_data *auth, uint8_t **out,
                                    size_t *out_len);
/* Checks a decoded PublicMessage against the epoch: group id, epoch,
 * content type allowed in a PublicMessage, and for member senders the
 * membership tag (constant time). The signature is left to
 * mls_content_verify(). VL_ERR_STALE_EPOCH for another epoch,
 * VL_ERR_INVALID for another group, VL_ERR_CRYPTO for a bad tag. */
VL_MUST_CHECK int mls_public_check(const struct mls_framing *f,
                                   const struct vl_mls_public_message *pm);

/* A received PublicMessage as the bytes it arrived in: msg[0..4) holds
 * version and wire format, msg[4..fc_end) the FramedContent, then the auth
 * data up to auth_end. The decoders accept only canonical encodings, so
 * these bytes are exactly what re-encoding the decoded structure would
 * give; using them saves re-encoding large commits three times. */
struct mls_raw_content {
	const uint8_t *msg;
	size_t fc_end, auth_end;
};

/* Locates the FramedContent and auth data of a decoded PublicMessage in
 * its MLSMessage bytes. VL_ERR_DECODE if they do not add up. */
VL_MUST_CHECK int mls_public_raw(const uint8_t *msg, size_t msg_len,
                                 const struct vl_mls_public_message *pm,
                                 struct mls_raw_content *raw);
/* mls_public_check() and mls_content_verify() in one pass over the raw
 * bytes: group, epoch, content type, membership tag for member senders and
 * the signature with key. */
VL_MUST_CHECK int mls_public_open(const struct mls_framing *f,
                                  const struct vl_mls_public_message *pm,
                                  const struct mls_raw_content *raw, const struct vl_sig_key *key);
/* confirmed_transcript_hash from the raw bytes (§8.2): Hash(interim_before
 * || wire_format || FramedContent || signature<V>). */
VL_MUST_CHECK int mls_transcript_confirmed_raw(const struct vl_suite *s,
                                               const uint8_t *interim_before,
                                               const struct mls_raw_content *raw,
                                               const struct vl_mls_bytes *signature,
                                               uint8_t out[VL_HASH_MAX]);

/* Encrypts signed content from the member at leaf into an
 * MLSMessage(PrivateMessage) (heap buffer, free() it), using the next
 * generation of the handshake or application ratchet (§6.3). */
VL_MUST_CHECK int mls_private_encode(const struct mls_framing *f, uint32_t leaf,
                                     const struct vl_mls_framed_content *content,
                                     const struct vl_mls_auth_data *auth, uint8_t **out,
                                     size_t *out_len);
/* Decrypts a decoded PrivateMessage: sender data, then the content with the
 * sender's ratchet key (deleted once used). On success content and auth
 * point into *plain (heap, owned by the caller: wipe and free() it) and
 * into arena. The signature is left to mls_content_verify(). */
VL_MUST_CHECK int
mls_private_decode(const struct mls_framing *f, const struct vl_mls_private_message *pm,
                   struct vl_mls_arena *arena, struct vl_mls_framed_content *content,
                   struct vl_mls_auth_data *auth, uint8_t **plain, size_t *plain_len);

/* Transcript hashes after a commit (§8.2): confirmed from the previous
 * interim hash (NULL at epoch 0) and the commit's wire format, content and
 * signature; interim from confirmed and the confirmation tag. */
VL_MUST_CHECK int mls_transcript_update(const struct vl_suite *s, const uint8_t *interim_before,
                                        uint16_t wire_format,
                                        const struct vl_mls_framed_content *content,
                                        const struct vl_mls_auth_data *auth,
                                        uint8_t confirmed[VL_HASH_MAX],
                                        uint8_t interim[VL_HASH_MAX]);

#endif
