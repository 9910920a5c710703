/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client's local store: one SQLite file in which every secret or
 * content value (device keys, MLS group states, pending commits, message
 * bodies, attachment keys) is sealed with an AEAD under a random storage
 * key. The storage key is kept in the same file, wrapped under a key that
 * comes either from a passphrase (Argon2id) or from a key file that only
 * its owner may read (mode 0600). Each sealed value's associated data names
 * its table, column and row, so a value copied into another row or column
 * does not open. See docs/internals/client-store.md.
 *
 * Crash safety: every call is one SQLite transaction (WAL, synchronous
 * FULL). An MLS commit goes through a pending record: the client stores
 * the commit and the group state it leads to with
 * vl_client_store_pending_put() before sending, keeps the current state
 * untouched, and only when the server answers either promotes the pending
 * state (vl_client_store_pending_accept) or drops it
 * (vl_client_store_pending_discard). After a crash both states are there
 * and the client can resend the commit or learn its fate.
 *
 * Values returned by the getters are heap buffers owned by the caller,
 * released with vl_client_store_free(), which wipes them.
 */
#ifndef VL_CLIENT_STORE_H
#define VL_CLIENT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "valise/status.h"

/* Current schema version (table schema_version). */
#define VL_CLIENT_STORE_SCHEMA_VERSION 1

/* Argon2id defaults, RFC 9106 §4 second recommended option: 3 passes,
 * 64 MiB, 4 lanes, 16-octet salt, 32-octet output. */
#define VL_CLIENT_STORE_ARGON2_T     3
#define VL_CLIENT_STORE_ARGON2_M_KIB (64u * 1024)
#define VL_CLIENT_STORE_ARGON2_P     4
/* Bounds accepted when creating and when reading parameters back from a
 * file (a tampered file must not make opening take hours). */
#define VL_CLIENT_STORE_ARGON2_M_MIN_KIB (8u * 1024)
#define VL_CLIENT_STORE_ARGON2_M_MAX_KIB (2u * 1024 * 1024)
#define VL_CLIENT_STORE_ARGON2_T_MAX     32
#define VL_CLIENT_STORE_ARGON2_P_MAX     16

/* Size of a key file: the raw 32-octet key-wrapping key. */
#define VL_CLIENT_STORE_KEYFILE_LEN 32
/* Largest value stored (a group state of a large group, a message). */
#define VL_CLIENT_STORE_MAX_VALUE ((size_t)64 << 20)

struct vl_client_store;

struct vl_client_store_opts {
	const char *path; /* database file */
	/* Exactly one of passphrase (non-empty for a new store or a rekey)
	 * and key_file. Names and blob ids below are NUL-terminated strings;
	 * group ids and values are byte strings. */
	const char *passphrase;
	size_t passphrase_len;
	const char *key_file;
	/* Create the database (and, for key_file, the key file, mode 0600, if
	 * absent) when it does not exist. */
	bool create;
	/* Argon2id cost for a new store; 0 means the default. Checked against
	 * the bounds above. */
	uint32_t argon2_t, argon2_m_kib, argon2_p;
	/* Optional: receives a one-line reason on failure (never a secret). */
	char *errbuf;
	size_t errbuf_len;
};

/* Opens (or creates) a store and unlocks its storage key.
 * Returns VL_OK; VL_ERR_ARG for bad options (both or neither of
 * passphrase/key_file, Argon2 cost out of bounds); VL_ERR_NOT_FOUND if the
 * database does not exist and create is false, or the key file is
 * missing; VL_ERR_PERMISSION if the key file is not a regular file of the
 * current user with mode 0600 (or stricter) or has the wrong size;
 * VL_ERR_AUTH for a wrong passphrase or key file; VL_ERR_UNSUPPORTED for a
 * schema newer than this code; VL_ERR_STORE for SQLite failures
 * (corruption included); VL_ERR_IO; VL_ERR_NOMEM. */
VL_MUST_CHECK int vl_client_store_open(const struct vl_client_store_opts *opts,
                                       struct vl_client_store **out);
/* Changes how the storage key is protected (a new passphrase, new Argon2id
 * costs, or a switch between passphrase and key file): the key is wrapped
 * again under `to`'s passphrase or key file (to->path is ignored; with
 * to->create a missing key file is made). The sealed data is untouched.
 * Returns VL_OK, VL_ERR_ARG, the key-file errors of vl_client_store_open,
 * VL_ERR_STORE. */
VL_MUST_CHECK int vl_client_store_rekey(struct vl_client_store *s,
                                        const struct vl_client_store_opts *to);
/* Closes the store and wipes its storage key. Accepts NULL. */
void vl_client_store_close(struct vl_client_store *s);
/* The last failure's reason (static or owned by s; never a secret). */
const char *vl_client_store_errmsg(const struct vl_client_store *s);
/* Wipes and frees a buffer returned by a getter. Accepts NULL. */
void vl_client_store_free(void *buf, size_t len);

/* Groups the calls made until vl_client_store_batch_end() into one
 * transaction: one durable write (one fsync) instead of one per call, and
 * all or nothing after a crash. A failing call inside the batch undoes
 * only itself. VL_ERR_STATE if a batch is already open; VL_ERR_STORE. */
VL_MUST_CHECK int vl_client_store_batch_begin(struct vl_client_store *s);
/* Commits the batch (commit true) or rolls all of it back. VL_ERR_STATE
 * without an open batch; VL_ERR_STORE if the commit fails (nothing of the
 * batch is then stored). */
VL_MUST_CHECK int vl_client_store_batch_end(struct vl_client_store *s, bool commit);

/* Common returns of the calls below: VL_OK; VL_ERR_NOT_FOUND (getters,
 * accept, discard); VL_ERR_CRYPTO if a sealed value does not open (tampered
 * or moved); VL_ERR_LIMIT for a value over VL_CLIENT_STORE_MAX_VALUE or a
 * key over 1024 octets; VL_ERR_STORE; VL_ERR_NOMEM. */

/* Named secrets of the account and device (signature keys, tokens). */
VL_MUST_CHECK int vl_client_store_secret_put(struct vl_client_store *s, const char *name,
                                             const void *value, size_t len);
VL_MUST_CHECK int vl_client_store_secret_get(struct vl_client_store *s, const char *name,
                                             uint8_t **value, size_t *len);
VL_MUST_CHECK int vl_client_store_secret_delete(struct vl_client_store *s, const char *name);

/* Names of the secrets starting with prefix, in byte order (names only:
 * nothing is unsealed). *names is released with vl_client_store_names_free. */
VL_MUST_CHECK int vl_client_store_secret_list(struct vl_client_store *s, const char *prefix,
                                              char ***names, size_t *n);
void vl_client_store_names_free(char **names, size_t n);

/* The current state of an MLS group (an opaque serialisation) at an
 * epoch. Putting replaces it. */
VL_MUST_CHECK int vl_client_store_group_put(struct vl_client_store *s, const uint8_t *group_id,
                                            size_t group_id_len, uint64_t epoch, const void *state,
                                            size_t state_len);
VL_MUST_CHECK int vl_client_store_group_get(struct vl_client_store *s, const uint8_t *group_id,
                                            size_t group_id_len, uint64_t *epoch, uint8_t **state,
                                            size_t *state_len);
/* Removes the group, its pending commit and its messages. */
VL_MUST_CHECK int vl_client_store_group_delete(struct vl_client_store *s, const uint8_t *group_id,
                                               size_t group_id_len);

/* Records a commit about to be sent and the state it leads to (at
 * new_epoch). VL_ERR_NOT_FOUND if the group has no current state;
 * VL_ERR_EXISTS if a commit is already pending (discard or accept it first);
 * VL_ERR_STATE if new_epoch is not the current epoch + 1. */
VL_MUST_CHECK int vl_client_store_pending_put(struct vl_client_store *s, const uint8_t *group_id,
                                              size_t group_id_len, uint64_t new_epoch,
                                              const void *commit, size_t commit_len,
                                              const void *state, size_t state_len);
/* The pending commit, to resend after a restart; either output pointer
 * pair may be NULL when not wanted. */
VL_MUST_CHECK int vl_client_store_pending_get(struct vl_client_store *s, const uint8_t *group_id,
                                              size_t group_id_len, uint64_t *new_epoch,
                                              uint8_t **commit, size_t *commit_len, uint8_t **state,
                                              size_t *state_len);
/* The server accepted the commit: in one transaction the pending state
 * becomes the current state and the pending record goes. */
VL_MUST_CHECK int vl_client_store_pending_accept(struct vl_client_store *s, const uint8_t *group_id,
                                                 size_t group_id_len);
/* The server refused it (another commit won the epoch): drop it and keep
 * the current state. */
VL_MUST_CHECK int vl_client_store_pending_discard(struct vl_client_store *s,
                                                  const uint8_t *group_id, size_t group_id_len);

/* Messages: the body (e.g. the encoded MIMI content with what the client
 * knows of its sender) is sealed; group, message id and timestamp are kept
 * in clear for ordering and duplicate detection. VL_ERR_EXISTS if the
 * message id is already stored (a duplicate delivery). */
VL_MUST_CHECK int vl_client_store_message_put(struct vl_client_store *s, const uint8_t *group_id,
                                              size_t group_id_len, const uint8_t message_id[32],
                                              uint64_t timestamp_ms, const void *body,
                                              size_t body_len);
VL_MUST_CHECK int vl_client_store_message_get(struct vl_client_store *s,
                                              const uint8_t message_id[32], uint8_t **body,
                                              size_t *body_len);
/* The group a stored message belongs to (heap, vl_client_store_free). */
VL_MUST_CHECK int vl_client_store_message_group(struct vl_client_store *s,
                                                const uint8_t message_id[32], uint8_t **group_id,
                                                size_t *group_id_len);
VL_MUST_CHECK int vl_client_store_message_delete(struct vl_client_store *s,
                                                 const uint8_t message_id[32]);
/* Message ids of a group in timestamp order (then insertion order), at
 * most max (up to 100000: VL_ERR_LIMIT beyond) of them after skipping
 * `offset`. *ids holds *n * 32 octets. */
VL_MUST_CHECK int vl_client_store_message_list(struct vl_client_store *s, const uint8_t *group_id,
                                               size_t group_id_len, size_t offset, size_t max,
                                               uint8_t **ids, size_t *n);

/* Attachment secrets (key, nonce, hash: an opaque record) by blob id. */
VL_MUST_CHECK int vl_client_store_attachment_put(struct vl_client_store *s, const char *blob_id,
                                                 const void *secret, size_t len);
VL_MUST_CHECK int vl_client_store_attachment_get(struct vl_client_store *s, const char *blob_id,
                                                 uint8_t **secret, size_t *len);

#endif
