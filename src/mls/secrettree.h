/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The secret tree (RFC 9420 §9): per-epoch tree of secrets rooted at the
 * encryption secret, giving every member a handshake and an application
 * hash ratchet, plus the sender-data key and nonce (§6.3.2).
 *
 * Invariants:
 *  1. A node secret is held only until both children are derived; it is
 *     then wiped (§9: "delete ... as soon as they have been used").
 *  2. A leaf secret is wiped once its two ratchets are initialised.
 *  3. A ratchet keeps its current secret for generation next_gen and at
 *     most `window` keys of skipped generations, for out-of-order messages.
 *     A key handed out is deleted: asking twice for one generation fails
 *     (VL_ERR_INVALID), which also guards against nonce reuse.
 *  4. A receiver never moves a ratchet more than `max_forward` generations
 *     ahead in one step (VL_ERR_LIMIT), bounding the work a sender can force.
 */
#ifndef VL_MLS_SECRETTREE_H
#define VL_MLS_SECRETTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"

enum mls_ratchet_type { MLS_RATCHET_HANDSHAKE = 0, MLS_RATCHET_APPLICATION = 1 };

#define MLS_ST_DEFAULT_WINDOW      32
#define MLS_ST_DEFAULT_MAX_FORWARD 1024

struct mls_skipped_key {
	uint32_t generation;
	uint8_t key[VL_AEAD_KEY_MAX];
	uint8_t nonce[VL_AEAD_NONCE_MAX];
};

struct mls_ratchet {
	uint8_t secret[VL_HASH_MAX];
	uint32_t next_gen;
	bool ready;
	struct mls_skipped_key *skipped; /* ring of up to window entries */
	uint32_t n_skipped;
};

struct mls_secret_tree {
	const struct vl_suite *suite;
	uint32_t n_leaves;
	uint8_t *node;                /* width * hash_len node secrets */
	uint8_t *have;                /* width flags: node secret present */
	struct mls_ratchet *ratchets; /* 2 per leaf: [2*leaf + type] */
	uint8_t *leaf_used;           /* per leaf: its ratchets were started */
	uint32_t window;
	uint32_t max_forward;
};

/* Sets up the tree for n_leaves (> 0) leaves from the encryption secret.
 * window and max_forward of 0 take the defaults above. */
VL_MUST_CHECK int mls_secret_tree_init(struct mls_secret_tree *st, const struct vl_suite *s,
                                       const uint8_t *encryption_secret, uint32_t n_leaves,
                                       uint32_t window, uint32_t max_forward);
/* Wipes and frees everything. Accepts a zeroed struct. */
void mls_secret_tree_cleanup(struct mls_secret_tree *st);

/* Receiver: key and nonce of `generation` for leaf's ratchet; the key is
 * deleted from the tree. VL_ERR_INVALID if the generation was already used
 * or fell out of the window, VL_ERR_LIMIT if it is too far ahead,
 * VL_ERR_ARG for a leaf outside the tree. */
VL_MUST_CHECK int mls_secret_tree_get(struct mls_secret_tree *st, uint32_t leaf,
                                      enum mls_ratchet_type type, uint32_t generation,
                                      uint8_t key[VL_AEAD_KEY_MAX],
                                      uint8_t nonce[VL_AEAD_NONCE_MAX]);
/* Sender: key and nonce of the next generation of leaf's ratchet. */
VL_MUST_CHECK int mls_secret_tree_next(struct mls_secret_tree *st, uint32_t leaf,
                                       enum mls_ratchet_type type, uint32_t *generation,
                                       uint8_t key[VL_AEAD_KEY_MAX],
                                       uint8_t nonce[VL_AEAD_NONCE_MAX]);

/* sender_data_key / sender_data_nonce (§6.3.2) from the sender data secret
 * and the PrivateMessage ciphertext (its first Nh bytes are the sample). */
VL_MUST_CHECK int mls_sender_data_key_nonce(const struct vl_suite *s,
                                            const uint8_t *sender_data_secret,
                                            const uint8_t *ciphertext, size_t ciphertext_len,
                                            uint8_t key[VL_AEAD_KEY_MAX],
                                            uint8_t nonce[VL_AEAD_NONCE_MAX]);

struct vl_writer;
struct vl_reader;
/* Serialises the whole state (secrets included) for persistence, and
 * restores it; the import validates every size and count
 * (VL_ERR_DECODE / VL_ERR_LIMIT). */
VL_MUST_CHECK int mls_secret_tree_export(const struct mls_secret_tree *st, struct vl_writer *w);
VL_MUST_CHECK int mls_secret_tree_import(struct mls_secret_tree *st, const struct vl_suite *s,
                                         struct vl_reader *r);

#endif
