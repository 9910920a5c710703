/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal entry points of the group engine for the fuzz harnesses and
 * tests of the receiving side. Not part of the public API.
 */
#ifndef VL_MLS_GROUP_INT_H
#define VL_MLS_GROUP_INT_H

#include <stddef.h>
#include <stdint.h>

#include "mls/struct/struct.h"
#include "valise/mls.h"

/* Frames, signs and encodes handshake content from this member exactly as
 * given: a proposal (p) or a commit (c, with an all-zero confirmation tag
 * since the sender does not compute the next epoch). Nothing is cached or
 * changed but the sender's handshake ratchet when sending privately. */
VL_MUST_CHECK int mls_group_send_raw(struct vl_group *g, const struct vl_mls_proposal *p,
                                     const struct vl_mls_commit *c, uint8_t **msg, size_t *msg_len);

#endif
