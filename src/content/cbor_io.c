/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Deterministic CBOR reading and writing over libcbor (see cbor_io.h).
 * libcbor's streaming decoder reports one item head per call through
 * callbacks; we record what it saw, then check what it does not: that the
 * head used the shortest argument form, that the length was definite, and
 * that a string really lies inside the buffer.
 */
#include "content/cbor_io.h"

#include <string.h>

#include <cbor.h>

/* What the callbacks saw for one call of cbor_stream_decode. */
struct seen {
	struct mimi_cbor_item *it;
	bool set;
	bool bad; /* an indefinite-length start or a break */
};

static void seen_int(void *ctx, enum mimi_cbor_kind kind, uint64_t v)
{
	struct seen *s = ctx;
	s->set = true;
	s->it->kind = kind;
	s->it->val = v;
}

static void cb_u8(void *ctx, uint8_t v)
{
	seen_int(ctx, MIMI_CBOR_UINT, v);
}
static void cb_u16(void *ctx, uint16_t v)
{
	seen_int(ctx, MIMI_CBOR_UINT, v);
}
static void cb_u32(void *ctx, uint32_t v)
{
	seen_int(ctx, MIMI_CBOR_UINT, v);
}
static void cb_u64(void *ctx, uint64_t v)
{
	seen_int(ctx, MIMI_CBOR_UINT, v);
}
static void cb_n8(void *ctx, uint8_t v)
{
	seen_int(ctx, MIMI_CBOR_NEGINT, v);
}
static void cb_n16(void *ctx, uint16_t v)
{
	seen_int(ctx, MIMI_CBOR_NEGINT, v);
}
static void cb_n32(void *ctx, uint32_t v)
{
	seen_int(ctx, MIMI_CBOR_NEGINT, v);
}
static void cb_n64(void *ctx, uint64_t v)
{
	seen_int(ctx, MIMI_CBOR_NEGINT, v);
}
static void cb_tag(void *ctx, uint64_t v)
{
	seen_int(ctx, MIMI_CBOR_TAG, v);
}

static void seen_str(void *ctx, enum mimi_cbor_kind kind, cbor_data d, size_t n)
{
	struct seen *s = ctx;
	s->set = true;
	s->it->kind = kind;
	s->it->data = d;
	s->it->len = n;
}

static void cb_bstr(void *ctx, cbor_data d, size_t n)
{
	seen_str(ctx, MIMI_CBOR_BSTR, d, n);
}
static void cb_tstr(void *ctx, cbor_data d, size_t n)
{
	seen_str(ctx, MIMI_CBOR_TSTR, d, n);
}
static void cb_array(void *ctx, size_t n)
{
	seen_int(ctx, MIMI_CBOR_ARRAY, n);
}
static void cb_map(void *ctx, size_t n)
{
	seen_int(ctx, MIMI_CBOR_MAP, n);
}

static void cb_indef(void *ctx)
{
	struct seen *s = ctx;
	s->set = true;
	s->bad = true;
}

static void cb_float(void *ctx, float f)
{
	seen_int(ctx, MIMI_CBOR_FLOAT, 0);
}
static void cb_double(void *ctx, double f)
{
	seen_int(ctx, MIMI_CBOR_FLOAT, 0);
}
static void cb_null(void *ctx)
{
	seen_int(ctx, MIMI_CBOR_NULL, 0);
}
static void cb_undef(void *ctx)
{
	seen_int(ctx, MIMI_CBOR_UNDEFINED, 0);
}
static void cb_bool(void *ctx, bool b)
{
	seen_int(ctx, b ? MIMI_CBOR_TRUE : MIMI_CBOR_FALSE, 0);
}

/* Every callback is set: libcbor calls them without checking for NULL. */
static const struct cbor_callbacks callbacks = {
    .uint8 = cb_u8,
    .uint16 = cb_u16,
    .uint32 = cb_u32,
    .uint64 = cb_u64,
    .negint8 = cb_n8,
    .negint16 = cb_n16,
    .negint32 = cb_n32,
    .negint64 = cb_n64,
    .byte_string_start = cb_indef,
    .byte_string = cb_bstr,
    .string = cb_tstr,
    .string_start = cb_indef,
    .indef_array_start = cb_indef,
    .array_start = cb_array,
    .indef_map_start = cb_indef,
    .map_start = cb_map,
    .tag = cb_tag,
    .float2 = cb_float,
    .float4 = cb_float,
    .float8 = cb_double,
    .undefined = cb_undef,
    .null = cb_null,
    .boolean = cb_bool,
    .indef_break = cb_indef,
};

/* Size of the shortest head carrying argument v (RFC 8949 §4.2.1). */
static size_t min_head(uint64_t v)
{
	if (v < 24)
		return 1;
	if (v <= 0xff)
		return 2;
	if (v <= 0xffff)
		return 3;
	if (v <= 0xffffffffu)
		return 5;
	return 9;
}

int mimi_cbor_next(struct mimi_cbor_reader *r, struct mimi_cbor_item *it)
{
	memset(it, 0, sizeof *it);
	if (r->pos >= r->len)
		return VL_ERR_DECODE;
	it->start = r->pos;
	struct seen s = {.it = it};
	const uint8_t *p = r->buf + r->pos;
	size_t avail = r->len - r->pos;
	struct cbor_decoder_result res = cbor_stream_decode(p, avail, &callbacks, &s);
	if (res.status != CBOR_DECODER_FINISHED || !s.set || s.bad || res.read == 0 ||
	    res.read > avail)
		return VL_ERR_DECODE;
	size_t head = res.read;
	switch (it->kind) {
	case MIMI_CBOR_BSTR:
	case MIMI_CBOR_TSTR:
		/* The string must lie inside what libcbor says it consumed. */
		if (it->len > res.read || it->data != p + (res.read - it->len))
			return VL_ERR_DECODE;
		head = res.read - it->len;
		if (head != min_head(it->len))
			return VL_ERR_DECODE;
		break;
	case MIMI_CBOR_UINT:
	case MIMI_CBOR_NEGINT:
	case MIMI_CBOR_ARRAY:
	case MIMI_CBOR_MAP:
	case MIMI_CBOR_TAG:
		if (head != min_head(it->val))
			return VL_ERR_DECODE;
		break;
	case MIMI_CBOR_FALSE:
	case MIMI_CBOR_TRUE:
	case MIMI_CBOR_NULL:
	case MIMI_CBOR_UNDEFINED:
		if (head != 1)
			return VL_ERR_DECODE;
		break;
	case MIMI_CBOR_FLOAT:
		break;
	}
	r->pos += res.read;
	return VL_OK;
}

static int skip_item(struct mimi_cbor_reader *r, unsigned depth, unsigned max_depth)
{
	struct mimi_cbor_item it;
	int rc = mimi_cbor_next(r, &it);
	if (rc)
		return rc;
	switch (it.kind) {
	case MIMI_CBOR_TSTR:
		return mimi_utf8_valid(it.data, it.len, false) ? VL_OK : VL_ERR_DECODE;
	case MIMI_CBOR_ARRAY:
	case MIMI_CBOR_MAP:
	case MIMI_CBOR_TAG:
		break;
	default:
		return VL_OK;
	}
	if (depth >= max_depth)
		return VL_ERR_LIMIT;
	if (it.kind == MIMI_CBOR_TAG)
		return skip_item(r, depth + 1, max_depth);
	/* Each item takes at least one byte: a count above what is left is
	 * malformed, and checking it first bounds the loop. */
	if (it.val > r->len - r->pos)
		return VL_ERR_DECODE;
	const uint8_t *prev = NULL;
	size_t prev_len = 0;
	for (uint64_t i = 0; i < it.val; i++) {
		size_t key_start = r->pos;
		if ((rc = skip_item(r, depth + 1, max_depth)))
			return rc;
		if (it.kind != MIMI_CBOR_MAP)
			continue;
		const uint8_t *key = r->buf + key_start;
		size_t key_len = r->pos - key_start;
		if (prev && mimi_cbor_key_cmp(prev, prev_len, key, key_len) >= 0)
			return VL_ERR_DECODE;
		prev = key;
		prev_len = key_len;
		if ((rc = skip_item(r, depth + 1, max_depth)))
			return rc;
	}
	return VL_OK;
}

int mimi_cbor_skip(struct mimi_cbor_reader *r, unsigned max_depth)
{
	return skip_item(r, 0, max_depth);
}

bool mimi_cbor_is_one_item(const uint8_t *buf, size_t len, unsigned max_depth)
{
	struct mimi_cbor_reader r = {.buf = buf, .len = len};
	return buf && mimi_cbor_skip(&r, max_depth) == VL_OK && r.pos == len;
}

int mimi_cbor_key_cmp(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
	size_t n = a_len < b_len ? a_len : b_len;
	int c = n ? memcmp(a, b, n) : 0;
	if (c)
		return c;
	return a_len < b_len ? -1 : a_len > b_len ? 1 : 0;
}

bool mimi_utf8_valid(const uint8_t *s, size_t len, bool no_nul)
{
	size_t i = 0;
	while (i < len) {
		uint8_t c = s[i];
		if (c < 0x80) {
			if (c == 0 && no_nul)
				return false;
			i++;
			continue;
		}
		size_t n;
		uint32_t cp, min;
		if ((c & 0xe0) == 0xc0) {
			n = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (len - i <= n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates and values past U+10FFFF are not
		 * UTF-8 (RFC 3629 §3). */
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

/* --- Writer ------------------------------------------------------------ */

static void put_bytes(struct mimi_cbor_writer *w, const void *data, size_t len)
{
	if (w->err)
		return;
	if (len > SIZE_MAX - w->len) {
		w->err = VL_ERR_LIMIT;
		return;
	}
	if (!w->count_only) {
		if (len > w->cap - w->len) {
			w->err = VL_ERR_LIMIT;
			return;
		}
		if (len)
			memcpy(w->buf + w->len, data, len);
	}
	w->len += len;
}

/* libcbor's head encoders pick the shortest form; they write into a small
 * scratch buffer so that counting and writing share one path. */
static void put_head(struct mimi_cbor_writer *w, size_t (*enc)(uint64_t, unsigned char *, size_t),
                     uint64_t v)
{
	unsigned char tmp[9];
	size_t n = enc(v, tmp, sizeof tmp);
	if (n == 0) {
		if (!w->err)
			w->err = VL_ERR_LIMIT;
		return;
	}
	put_bytes(w, tmp, n);
}

static size_t enc_bstr(uint64_t v, unsigned char *b, size_t n)
{
	return cbor_encode_bytestring_start((size_t)v, b, n);
}
static size_t enc_tstr(uint64_t v, unsigned char *b, size_t n)
{
	return cbor_encode_string_start((size_t)v, b, n);
}
static size_t enc_array(uint64_t v, unsigned char *b, size_t n)
{
	return cbor_encode_array_start((size_t)v, b, n);
}
static size_t enc_map(uint64_t v, unsigned char *b, size_t n)
{
	return cbor_encode_map_start((size_t)v, b, n);
}

void mimi_cbor_put_uint(struct mimi_cbor_writer *w, uint64_t v)
{
	put_head(w, cbor_encode_uint, v);
}
void mimi_cbor_put_negint(struct mimi_cbor_writer *w, uint64_t v)
{
	put_head(w, cbor_encode_negint, v);
}

void mimi_cbor_put_bstr(struct mimi_cbor_writer *w, const void *data, size_t len)
{
	put_head(w, enc_bstr, len);
	put_bytes(w, data, len);
}

void mimi_cbor_put_tstr(struct mimi_cbor_writer *w, const char *s, size_t len)
{
	put_head(w, enc_tstr, len);
	put_bytes(w, s, len);
}

void mimi_cbor_put_array(struct mimi_cbor_writer *w, size_t n)
{
	put_head(w, enc_array, n);
}
void mimi_cbor_put_map(struct mimi_cbor_writer *w, size_t n)
{
	put_head(w, enc_map, n);
}

void mimi_cbor_put_bool(struct mimi_cbor_writer *w, bool b)
{
	unsigned char tmp[1];
	if (cbor_encode_bool(b, tmp, sizeof tmp) == 1)
		put_bytes(w, tmp, 1);
	else if (!w->err)
		w->err = VL_ERR_LIMIT;
}

void mimi_cbor_put_null(struct mimi_cbor_writer *w)
{
	unsigned char tmp[1];
	if (cbor_encode_null(tmp, sizeof tmp) == 1)
		put_bytes(w, tmp, 1);
	else if (!w->err)
		w->err = VL_ERR_LIMIT;
}

void mimi_cbor_put_raw(struct mimi_cbor_writer *w, const void *data, size_t len)
{
	put_bytes(w, data, len);
}
