/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The TLS presentation language as RFC 9420 §2.1 uses it: big-endian
 * integers, fixed-size opaque fields, vectors with the variable-length
 * length prefix of §2.1.2 (minimal encoding enforced on decode) and
 * optional<T> (a presence octet of 0 or 1).
 *
 * The reader never reads past its input and never allocates: opaque values
 * are returned as pointers into the input. The writer either fills a caller
 * buffer or grows a heap buffer up to a hard cap. Both carry a sticky error:
 * after the first failure every later call fails with the same status, so a
 * run of calls can be checked once at the end.
 */
#ifndef VL_WIRE_H
#define VL_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "valise/status.h"

/* Largest length a §2.1.2 variable-length integer can carry (2^30 - 1). */
#define VL_VARINT_MAX 0x3fffffffu

struct vl_reader {
	const uint8_t *buf;
	size_t len;
	size_t pos;
	int err; /* sticky: first failure, VL_OK while none */
};

void vl_reader_init(struct vl_reader *r, const uint8_t *buf, size_t len);
/* Bytes not yet read. */
size_t vl_reader_left(const struct vl_reader *r);
/* VL_OK if there was no error and every byte was read, VL_ERR_DECODE if
 * bytes are left over, or the sticky error. */
VL_MUST_CHECK int vl_reader_finish(const struct vl_reader *r);

VL_MUST_CHECK int vl_read_u8(struct vl_reader *r, uint8_t *v);
VL_MUST_CHECK int vl_read_u16(struct vl_reader *r, uint16_t *v);
VL_MUST_CHECK int vl_read_u32(struct vl_reader *r, uint32_t *v);
VL_MUST_CHECK int vl_read_u64(struct vl_reader *r, uint64_t *v);
/* §2.1.2 variable-length integer; rejects prefix 0b11 and non-minimal
 * encodings with VL_ERR_DECODE. */
VL_MUST_CHECK int vl_read_varint(struct vl_reader *r, uint32_t *v);
/* n raw bytes; *p points into the input. */
VL_MUST_CHECK int vl_read_fixed(struct vl_reader *r, const uint8_t **p, size_t n);
/* Like vl_read_fixed but copies into out[n]. */
VL_MUST_CHECK int vl_read_copy(struct vl_reader *r, uint8_t *out, size_t n);
/* opaque data<V>: *p points into the input; fails with VL_ERR_LIMIT when
 * the length exceeds max. */
VL_MUST_CHECK int vl_read_opaque(struct vl_reader *r, const uint8_t **p, size_t *n, size_t max);
/* A vector T<V>: sub is set to a reader over exactly its content bytes;
 * the outer reader moves past it. */
VL_MUST_CHECK int vl_read_vector(struct vl_reader *r, struct vl_reader *sub);
/* optional<T> presence octet: 0 or 1, anything else is VL_ERR_DECODE. */
VL_MUST_CHECK int vl_read_optional(struct vl_reader *r, bool *present);

struct vl_writer {
	uint8_t *buf;
	size_t len;
	size_t cap;
	size_t max; /* hard cap on len */
	bool heap;  /* buf is owned and may grow */
	int err;    /* sticky */
};

/* Writes into buf[cap]; never allocates. */
void vl_writer_init_fixed(struct vl_writer *w, uint8_t *buf, size_t cap);
/* Grows a heap buffer as needed, up to max bytes. */
void vl_writer_init_heap(struct vl_writer *w, size_t max);
/* For a heap writer: makes room for at least n more bytes now, so that a
 * large output whose size is roughly known is not built by repeated
 * doubling (each step a copy, a wipe and a fresh allocation). Fails with
 * VL_ERR_LIMIT past the cap; a no-op for fixed buffers with room. */
VL_MUST_CHECK int vl_writer_reserve(struct vl_writer *w, size_t n);
/* Frees a heap buffer (after wiping it); a no-op for fixed buffers. */
void vl_writer_cleanup(struct vl_writer *w);
/* Hands the heap buffer to the caller (free() it) and resets the writer.
 * Returns the sticky error; on error *out is NULL and nothing is owned. */
VL_MUST_CHECK int vl_writer_take(struct vl_writer *w, uint8_t **out, size_t *out_len);

VL_MUST_CHECK int vl_write_u8(struct vl_writer *w, uint8_t v);
VL_MUST_CHECK int vl_write_u16(struct vl_writer *w, uint16_t v);
VL_MUST_CHECK int vl_write_u32(struct vl_writer *w, uint32_t v);
VL_MUST_CHECK int vl_write_u64(struct vl_writer *w, uint64_t v);
/* Fails with VL_ERR_LIMIT above VL_VARINT_MAX. */
VL_MUST_CHECK int vl_write_varint(struct vl_writer *w, uint64_t v);
VL_MUST_CHECK int vl_write_fixed(struct vl_writer *w, const void *p, size_t n);
/* opaque data<V>: varint length then the bytes. */
VL_MUST_CHECK int vl_write_opaque(struct vl_writer *w, const void *p, size_t n);
VL_MUST_CHECK int vl_write_optional(struct vl_writer *w, bool present);

/* For a vector whose length is known only after its elements are written:
 * begin returns a mark; end writes the minimal length prefix in front of
 * everything written since the mark. Marks nest. */
size_t vl_write_vector_begin(struct vl_writer *w);
VL_MUST_CHECK int vl_write_vector_end(struct vl_writer *w, size_t mark);

/* Encoded size of a varint (1, 2 or 4), or 0 if v is too large. */
size_t vl_varint_size(uint64_t v);

#endif
