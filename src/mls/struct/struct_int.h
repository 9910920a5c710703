/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal helpers shared by the files of src/mls/struct: error recording on
 * readers and writers, opaque fields with the module's size limit, and
 * generic vector decoding/encoding through per-element callbacks.
 */
#ifndef VL_MLS_STRUCT_INT_H
#define VL_MLS_STRUCT_INT_H

#include "mls/struct/struct.h"

#define VLM_TRY(x)                                                                                 \
	do {                                                                                       \
		int vlm_rc_ = (x);                                                                 \
		if (vlm_rc_ != VL_OK)                                                              \
			return vlm_rc_;                                                            \
	} while (0)

/* Writes are checked once through the writer's sticky error; this swallows
 * the per-call status where a sequence of writes continues regardless. */
static inline void vlm_sticky(int rc)
{
	(void)rc;
}

/* Counts an allocation for fault injection; VL_ERR_NOMEM when it must fail. */
int vl_mls_arena_tick(struct vl_mls_arena *a);

/* Records rc as the sticky error of r (if none yet) and returns it. */
int vlm_rfail(struct vl_reader *r, int rc);
/* Same for a writer. */
int vlm_wfail(struct vl_writer *w, int rc);

int vlm_read_bytes(struct vl_reader *r, struct vl_mls_bytes *b);
int vlm_write_bytes(struct vl_writer *w, const struct vl_mls_bytes *b);
int vlm_read_u16_list(struct vl_reader *r, struct vl_mls_arena *a, struct vl_mls_u16_list *l,
                      size_t limit);
int vlm_write_u16_list(struct vl_writer *w, const struct vl_mls_u16_list *l, size_t limit);

typedef int (*vlm_dec_fn)(struct vl_reader *r, struct vl_mls_arena *a, void *elem);
typedef int (*vlm_enc_fn)(struct vl_writer *w, const void *elem);

/* T items<V>: decodes elements of elem_size bytes with fn until the vector
 * is consumed, at most limit of them, into one arena array. */
int vlm_read_vec(struct vl_reader *r, struct vl_mls_arena *a, size_t elem_size, size_t limit,
                 vlm_dec_fn fn, const void **items, size_t *count);
int vlm_write_vec(struct vl_writer *w, const void *items, size_t count, size_t elem_size,
                  size_t limit, vlm_enc_fn fn);

/* Decoders shared between files that take extra context. */
int vlm_auth_data_decode(struct vl_reader *r, uint8_t content_type, struct vl_mls_auth_data *out);
int vlm_auth_data_encode(struct vl_writer *w, uint8_t content_type,
                         const struct vl_mls_auth_data *in);

/* Defines vl_mls_NAME_parse and vl_mls_NAME_encode_alloc from the
 * reader/writer functions. */
#define VLM_DEFINE_WHOLE(NAME, TYPE)                                                               \
	int vl_mls_##NAME##_parse(const uint8_t *buf, size_t len, struct vl_mls_arena *a,          \
	                          TYPE *out)                                                       \
	{                                                                                          \
		struct vl_reader r;                                                                \
		vl_reader_init(&r, buf, len);                                                      \
		VLM_TRY(vl_mls_##NAME##_decode(&r, a, out));                                       \
		return vl_reader_finish(&r);                                                       \
	}                                                                                          \
	int vl_mls_##NAME##_encode_alloc(const TYPE *in, uint8_t **out, size_t *out_len)           \
	{                                                                                          \
		struct vl_writer w;                                                                \
		vl_writer_init_heap(&w, VL_MLS_MAX_ENCODED);                                       \
		vlm_sticky(vl_mls_##NAME##_encode(&w, in));                                        \
		return vl_writer_take(&w, out, out_len);                                           \
	}

/* void* adapters of a typed decoder/encoder pair for vlm_read/write_vec. */
#define VLM_VOID_ADAPTERS(NAME, TYPE)                                                              \
	static int NAME##_dec_v(struct vl_reader *r, struct vl_mls_arena *a, void *p)              \
	{                                                                                          \
		return vl_mls_##NAME##_decode(r, a, (TYPE *)p);                                    \
	}                                                                                          \
	static int NAME##_enc_v(struct vl_writer *w, const void *p)                                \
	{                                                                                          \
		return vl_mls_##NAME##_encode(w, (const TYPE *)p);                                 \
	}

#endif
