/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Deterministic CBOR (RFC 8949 §4.2.1) on top of libcbor: a pull reader that
 * takes one data item head at a time from libcbor's streaming decoder and
 * rejects anything that is not in deterministic form (indefinite lengths,
 * arguments not in their shortest form, reserved or unassigned values), and
 * a capped writer over libcbor's head encoders with a sticky error. Used by
 * the MIMI content codec; internal to src/content.
 */
#ifndef VL_CONTENT_CBOR_IO_H
#define VL_CONTENT_CBOR_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "valise/status.h"

enum mimi_cbor_kind {
	MIMI_CBOR_UINT,
	MIMI_CBOR_NEGINT, /* value -1 - val */
	MIMI_CBOR_BSTR,
	MIMI_CBOR_TSTR,
	MIMI_CBOR_ARRAY, /* val items follow */
	MIMI_CBOR_MAP,   /* val pairs follow */
	MIMI_CBOR_TAG,   /* one item follows */
	MIMI_CBOR_FLOAT,
	MIMI_CBOR_FALSE,
	MIMI_CBOR_TRUE,
	MIMI_CBOR_NULL,
	MIMI_CBOR_UNDEFINED,
};

struct mimi_cbor_item {
	enum mimi_cbor_kind kind;
	uint64_t val;        /* integer, tag number, array or map count */
	const uint8_t *data; /* string contents, inside the reader's buffer */
	size_t len;          /* string length */
	size_t start;        /* offset of the item's first byte */
};

struct mimi_cbor_reader {
	const uint8_t *buf;
	size_t len;
	size_t pos;
};

/* Reads the next item head (for strings, the whole string). VL_ERR_DECODE
 * at the end of input or on anything not deterministic or not well formed. */
VL_MUST_CHECK int mimi_cbor_next(struct mimi_cbor_reader *r, struct mimi_cbor_item *it);
/* Reads and checks one whole item (any type), nesting at most max_depth
 * deep; map keys must be in strictly increasing deterministic order. */
VL_MUST_CHECK int mimi_cbor_skip(struct mimi_cbor_reader *r, unsigned max_depth);
/* True if buf holds exactly one deterministic item of at most max_depth. */
bool mimi_cbor_is_one_item(const uint8_t *buf, size_t len, unsigned max_depth);
/* Bytewise comparison of two encoded map keys (RFC 8949 §4.2.1). */
int mimi_cbor_key_cmp(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len);
/* True if s[0..len) is valid UTF-8 (RFC 3629); with no_nul, also free of
 * U+0000. */
bool mimi_utf8_valid(const uint8_t *s, size_t len, bool no_nul);

/* A capped writer (buf of cap bytes), or with count_only a counter of the
 * bytes that would be written. Errors are sticky. */
struct mimi_cbor_writer {
	uint8_t *buf;
	size_t cap;
	size_t len;
	bool count_only;
	int err;
};

void mimi_cbor_put_uint(struct mimi_cbor_writer *w, uint64_t v);
void mimi_cbor_put_negint(struct mimi_cbor_writer *w, uint64_t v);
void mimi_cbor_put_bstr(struct mimi_cbor_writer *w, const void *data, size_t len);
void mimi_cbor_put_tstr(struct mimi_cbor_writer *w, const char *s, size_t len);
void mimi_cbor_put_array(struct mimi_cbor_writer *w, size_t n);
void mimi_cbor_put_map(struct mimi_cbor_writer *w, size_t n);
void mimi_cbor_put_bool(struct mimi_cbor_writer *w, bool b);
void mimi_cbor_put_null(struct mimi_cbor_writer *w);
/* Appends bytes that are already CBOR. */
void mimi_cbor_put_raw(struct mimi_cbor_writer *w, const void *data, size_t len);

#endif
