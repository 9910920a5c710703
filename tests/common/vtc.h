/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small test client of the Valise protocol, without transport: device
 * keys, signed REGISTER/AUTH frames, real signed KeyPackages, and MLS
 * messages whose clear headers are what the server reads (the bodies are
 * well formed but carry placeholder signatures and ciphertext: the server
 * never checks them). Used by the server's unit, end-to-end and fuzz
 * corpus code and by bench/loadgen.
 */
#ifndef VL_VTC_H
#define VL_VTC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "proto/proto.h"

struct vtc_device {
	char user[VL_PROTO_ADDRESS_MAX + 1];
	char name[VL_PROTO_DEVICE_MAX + 1];
	uint16_t suite;
	uint8_t priv[VL_SIG_PRIV_MAX];
	uint8_t pub[VL_SIG_PUB_MAX];
	size_t pub_len;
};

/* A fresh signature key pair for user#name in suite. */
int vtc_device_init(struct vtc_device *d, const char *user, const char *name, uint16_t suite);
/* The same with a key derived from seed (reproducible test inputs): the
 * Ed25519 seed, or the P-256 scalar (seed must be a valid scalar). */
int vtc_device_init_seed(struct vtc_device *d, const char *user, const char *name, uint16_t suite,
                         const uint8_t seed[32]);
void vtc_device_cleanup(struct vtc_device *d);

/* The challenge and server name of a CHALLENGE frame. */
struct vtc_challenge {
	uint8_t challenge[VL_PROTO_CHALLENGE_LEN];
	char server_name[VL_PROTO_SERVER_NAME_MAX + 1];
};
/* Decodes a CHALLENGE frame. */
int vtc_challenge_parse(const uint8_t *frame, size_t len, struct vtc_challenge *out);

/* REGISTER and AUTH frames signed over the challenge. */
int vtc_register_frame(struct vl_writer *w, uint32_t id, const struct vtc_device *d,
                       const char *invite, const struct vtc_challenge *ch);
int vtc_auth_frame(struct vl_writer *w, uint32_t id, const struct vtc_device *d,
                   const struct vtc_challenge *ch);

/* A KeyPackage MLSMessage for d, properly signed; lifetime from now-1h
 * to now+90d. identity overrides the credential identity (NULL: the
 * device's own "user#name"). *out is heap (free()). */
int vtc_key_package(const struct vtc_device *d, const char *identity, uint8_t **out,
                    size_t *out_len);

/* MLS messages with the given clear header: a PublicMessage commit
 * carrying one Add proposal by value (with a fresh KeyPackage) for each
 * of adds[n_adds], placeholder signature and tags; a PrivateMessage of
 * content type application with `len` bytes of ciphertext; a Welcome. */
int vtc_commit_message(const uint8_t *gid, size_t gid_len, uint64_t epoch,
                       const struct vtc_device *const *adds, size_t n_adds, uint8_t **out,
                       size_t *out_len);
/* The same commit sent by the member at leaf `sender` (vtc_commit_message
 * sends from leaf 0, the group's creator), also removing the leaves
 * removes[n_removes] (Remove proposals by value, after the Adds). */
int vtc_commit_message_from(const uint8_t *gid, size_t gid_len, uint64_t epoch, uint32_t sender,
                            const struct vtc_device *const *adds, size_t n_adds,
                            const uint32_t *removes, size_t n_removes, uint8_t **out,
                            size_t *out_len);
int vtc_private_message(const uint8_t *gid, size_t gid_len, uint64_t epoch, size_t len,
                        uint8_t **out, size_t *out_len);
int vtc_welcome_message(uint16_t suite, uint8_t **out, size_t *out_len);

#endif
