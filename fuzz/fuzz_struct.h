/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared check of the MLS structure harnesses: a structure that decoded is
 * encoded again and must give back exactly the input bytes, since the
 * decoders accept only canonical encodings. Any difference, or an encoder
 * error on a decoded structure, aborts so that libFuzzer reports it.
 */
#ifndef VL_FUZZ_STRUCT_H
#define VL_FUZZ_STRUCT_H

#include <stdlib.h>
#include <string.h>

#include "mls/struct/struct.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline void fz_writer(struct vl_writer *w)
{
	vl_writer_init_heap(w, VL_MLS_MAX_ENCODED);
}

/* rc is the encoder's status for what was written to w. */
static inline void fz_check(int rc, struct vl_writer *w, const uint8_t *data, size_t size)
{
	if (rc != VL_OK || w->len != size || (size && memcmp(w->buf, data, size) != 0))
		abort();
	vl_writer_cleanup(w);
}

/* Runs an encoder that must succeed on a decoded structure (the TBS
 * encodings) and discards its output. */
static inline void fz_must_encode(int rc, struct vl_writer *w)
{
	if (rc != VL_OK)
		abort();
	vl_writer_cleanup(w);
}

#endif
