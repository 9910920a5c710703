/* SPDX-License-Identifier: Apache-2.0 */
/* Bounded reader and capped writer for the RFC 9420 §2.1 encoding. */
#include "wire/wire.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

void vl_reader_init(struct vl_reader *r, const uint8_t *buf, size_t len)
{
	r->buf = buf;
	r->len = buf ? len : 0;
	r->pos = 0;
	r->err = VL_OK;
}

size_t vl_reader_left(const struct vl_reader *r)
{
	return r->len - r->pos;
}

int vl_reader_finish(const struct vl_reader *r)
{
	if (r->err)
		return r->err;
	return r->pos == r->len ? VL_OK : VL_ERR_DECODE;
}

static int rfail(struct vl_reader *r, int err)
{
	if (!r->err)
		r->err = err;
	return r->err;
}

/* Returns a pointer to the next n bytes and consumes them, or NULL. */
static const uint8_t *take(struct vl_reader *r, size_t n)
{
	if (r->err)
		return NULL;
	if (n > r->len - r->pos) {
		rfail(r, VL_ERR_DECODE);
		return NULL;
	}
	const uint8_t *p = r->buf + r->pos;
	r->pos += n;
	return p;
}

int vl_read_u8(struct vl_reader *r, uint8_t *v)
{
	const uint8_t *p = take(r, 1);
	if (!p)
		return r->err;
	*v = p[0];
	return VL_OK;
}

int vl_read_u16(struct vl_reader *r, uint16_t *v)
{
	const uint8_t *p = take(r, 2);
	if (!p)
		return r->err;
	*v = (uint16_t)((p[0] << 8) | p[1]);
	return VL_OK;
}

int vl_read_u32(struct vl_reader *r, uint32_t *v)
{
	const uint8_t *p = take(r, 4);
	if (!p)
		return r->err;
	*v = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
	return VL_OK;
}

int vl_read_u64(struct vl_reader *r, uint64_t *v)
{
	const uint8_t *p = take(r, 8);
	if (!p)
		return r->err;
	uint64_t x = 0;
	for (int i = 0; i < 8; i++)
		x = (x << 8) | p[i];
	*v = x;
	return VL_OK;
}

int vl_read_varint(struct vl_reader *r, uint32_t *v)
{
	const uint8_t *p = take(r, 1);
	if (!p)
		return r->err;
	unsigned prefix = p[0] >> 6;
	if (prefix == 3)
		return rfail(r, VL_ERR_DECODE);
	size_t n = (size_t)1 << prefix;
	uint32_t x = p[0] & 0x3f;
	if (n > 1) {
		const uint8_t *rest = take(r, n - 1);
		if (!rest)
			return r->err;
		for (size_t i = 0; i < n - 1; i++)
			x = (x << 8) | rest[i];
	}
	/* §2.1.2: a value encoded with more bytes than needed is malformed. */
	if (vl_varint_size(x) != n)
		return rfail(r, VL_ERR_DECODE);
	*v = x;
	return VL_OK;
}

int vl_read_fixed(struct vl_reader *r, const uint8_t **p, size_t n)
{
	const uint8_t *q = take(r, n);
	if (!q)
		return r->err;
	*p = q;
	return VL_OK;
}

int vl_read_copy(struct vl_reader *r, uint8_t *out, size_t n)
{
	const uint8_t *q = take(r, n);
	if (!q)
		return r->err;
	if (n)
		memcpy(out, q, n);
	return VL_OK;
}

int vl_read_opaque(struct vl_reader *r, const uint8_t **p, size_t *n, size_t max)
{
	uint32_t len;
	int rc = vl_read_varint(r, &len);
	if (rc)
		return rc;
	if (len > max)
		return rfail(r, VL_ERR_LIMIT);
	const uint8_t *q = take(r, len);
	if (!q)
		return r->err;
	*p = q;
	*n = len;
	return VL_OK;
}

int vl_read_vector(struct vl_reader *r, struct vl_reader *sub)
{
	uint32_t len;
	int rc = vl_read_varint(r, &len);
	if (rc)
		return rc;
	const uint8_t *q = take(r, len);
	if (!q)
		return r->err;
	vl_reader_init(sub, q, len);
	return VL_OK;
}

int vl_read_optional(struct vl_reader *r, bool *present)
{
	uint8_t b;
	int rc = vl_read_u8(r, &b);
	if (rc)
		return rc;
	if (b > 1)
		return rfail(r, VL_ERR_DECODE);
	*present = b == 1;
	return VL_OK;
}

size_t vl_varint_size(uint64_t v)
{
	if (v < 0x40)
		return 1;
	if (v < 0x4000)
		return 2;
	if (v <= VL_VARINT_MAX)
		return 4;
	return 0;
}

void vl_writer_init_fixed(struct vl_writer *w, uint8_t *buf, size_t cap)
{
	w->buf = buf;
	w->len = 0;
	w->cap = cap;
	w->max = cap;
	w->heap = false;
	w->err = VL_OK;
}

void vl_writer_init_heap(struct vl_writer *w, size_t max)
{
	w->buf = NULL;
	w->len = 0;
	w->cap = 0;
	w->max = max;
	w->heap = true;
	w->err = VL_OK;
}

void vl_writer_cleanup(struct vl_writer *w)
{
	if (w->heap && w->buf) {
		OPENSSL_cleanse(w->buf, w->cap);
		free(w->buf);
	}
	w->buf = NULL;
	w->len = w->cap = 0;
}

int vl_writer_take(struct vl_writer *w, uint8_t **out, size_t *out_len)
{
	*out = NULL;
	*out_len = 0;
	if (w->err) {
		int err = w->err;
		vl_writer_cleanup(w);
		return err;
	}
	if (!w->heap)
		return VL_ERR_STATE;
	if (!w->buf) {
		/* Always hand back a valid pointer, even for empty output. */
		w->buf = malloc(1);
		if (!w->buf)
			return w->err = VL_ERR_NOMEM;
	}
	*out = w->buf;
	*out_len = w->len;
	w->buf = NULL;
	w->len = w->cap = 0;
	return VL_OK;
}

static int wfail(struct vl_writer *w, int err)
{
	if (!w->err)
		w->err = err;
	return w->err;
}

/* Makes room for n more bytes; returns a pointer to them or NULL. */
static uint8_t *room(struct vl_writer *w, size_t n)
{
	if (w->err)
		return NULL;
	if (n > w->max - w->len) {
		wfail(w, VL_ERR_LIMIT);
		return NULL;
	}
	if (n > w->cap - w->len) {
		size_t want = w->cap ? w->cap : 64;
		while (want - w->len < n)
			want = want > w->max / 2 ? w->max : want * 2;
		uint8_t *nb = malloc(want);
		if (!nb) {
			wfail(w, VL_ERR_NOMEM);
			return NULL;
		}
		/* Copy-and-wipe instead of realloc so that no stale copy of
		 * secret material stays behind in freed memory. */
		if (w->len)
			memcpy(nb, w->buf, w->len);
		if (w->buf) {
			OPENSSL_cleanse(w->buf, w->cap);
			free(w->buf);
		}
		w->buf = nb;
		w->cap = want;
	}
	uint8_t *p = w->buf + w->len;
	w->len += n;
	return p;
}

int vl_writer_reserve(struct vl_writer *w, size_t n)
{
	if (!room(w, n))
		return w->err;
	w->len -= n;
	return VL_OK;
}

int vl_write_u8(struct vl_writer *w, uint8_t v)
{
	uint8_t *p = room(w, 1);
	if (!p)
		return w->err;
	p[0] = v;
	return VL_OK;
}

int vl_write_u16(struct vl_writer *w, uint16_t v)
{
	uint8_t *p = room(w, 2);
	if (!p)
		return w->err;
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return VL_OK;
}

int vl_write_u32(struct vl_writer *w, uint32_t v)
{
	uint8_t *p = room(w, 4);
	if (!p)
		return w->err;
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
	return VL_OK;
}

int vl_write_u64(struct vl_writer *w, uint64_t v)
{
	uint8_t *p = room(w, 8);
	if (!p)
		return w->err;
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
	return VL_OK;
}

static void put_varint(uint8_t *p, size_t n, uint32_t v)
{
	static const uint8_t prefix[5] = {0, 0x00, 0x40, 0, 0x80};
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	p[0] |= prefix[n];
}

int vl_write_varint(struct vl_writer *w, uint64_t v)
{
	size_t n = vl_varint_size(v);
	if (!n)
		return wfail(w, VL_ERR_LIMIT);
	uint8_t *p = room(w, n);
	if (!p)
		return w->err;
	put_varint(p, n, (uint32_t)v);
	return VL_OK;
}

int vl_write_fixed(struct vl_writer *w, const void *src, size_t n)
{
	if (n == 0)
		return w->err;
	uint8_t *p = room(w, n);
	if (!p)
		return w->err;
	memcpy(p, src, n);
	return VL_OK;
}

int vl_write_opaque(struct vl_writer *w, const void *src, size_t n)
{
	int rc = vl_write_varint(w, n);
	if (rc)
		return rc;
	return vl_write_fixed(w, src, n);
}

int vl_write_optional(struct vl_writer *w, bool present)
{
	return vl_write_u8(w, present ? 1 : 0);
}

size_t vl_write_vector_begin(struct vl_writer *w)
{
	/* Reserve one byte, the common case; end() widens it if needed. */
	size_t mark = w->len;
	/* A failure here is sticky and reported by vl_write_vector_end(). */
	if (vl_write_u8(w, 0) != VL_OK)
		return mark;
	return mark;
}

int vl_write_vector_end(struct vl_writer *w, size_t mark)
{
	if (w->err)
		return w->err;
	size_t body = w->len - mark - 1;
	size_t n = vl_varint_size(body);
	if (!n)
		return wfail(w, VL_ERR_LIMIT);
	if (n > 1) {
		if (!room(w, n - 1))
			return w->err;
		memmove(w->buf + mark + n, w->buf + mark + 1, body);
	}
	put_varint(w->buf + mark, n, (uint32_t)body);
	return VL_OK;
}
