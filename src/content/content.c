/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The MIMI content container (draft-ietf-mimi-content §"MIMI Content
 * Container Message Semantics", CDDL in its Appendix B): strict decoding
 * into struct vl_mimi_content, deterministic encoding back, comparison,
 * release, and the setters that build messages. CBOR goes through
 * cbor_io.c, which only lets deterministic encodings through, so that every
 * accepted message re-encodes to its own bytes.
 */
#include "valise/content.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "content/cbor_io.h"
#include "crypto/crypto.h"

/* Array lengths of a NestedPart by cardinality: disposition, language,
 * cardinality, then the fields of NullPart / SinglePart / ExternalPart /
 * MultiPart. */
static const uint64_t part_items[] = {3, 5, 15, 5};

/* --- Memory ------------------------------------------------------------ */

static void text_free(struct vl_mimi_text *t)
{
	free(t->str);
	t->str = NULL;
	t->len = 0;
}

static void bytes_free(struct vl_mimi_bytes *b)
{
	/* Attachment keys and message bodies pass through here. */
	vl_wipe(b->data, b->len);
	free(b->data);
	b->data = NULL;
	b->len = 0;
}

static int text_set(struct vl_mimi_text *t, const char *s, size_t len)
{
	char *p = malloc(len + 1);
	if (!p)
		return VL_ERR_NOMEM;
	if (len)
		memcpy(p, s, len);
	p[len] = 0;
	text_free(t);
	t->str = p;
	t->len = len;
	return VL_OK;
}

static int bytes_set(struct vl_mimi_bytes *b, const void *data, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);
	if (!p)
		return VL_ERR_NOMEM;
	if (len)
		memcpy(p, data, len);
	bytes_free(b);
	b->data = p;
	b->len = len;
	return VL_OK;
}

static void external_free(struct vl_mimi_external *e)
{
	text_free(&e->url);
	bytes_free(&e->key);
	bytes_free(&e->nonce);
	bytes_free(&e->aad);
	bytes_free(&e->content_hash);
	text_free(&e->description);
	text_free(&e->filename);
	memset(e, 0, sizeof *e);
}

static void part_free(struct vl_mimi_part *p)
{
	text_free(&p->language);
	text_free(&p->content_type);
	bytes_free(&p->content);
	external_free(&p->external);
	for (size_t i = 0; i < p->parts_len; i++)
		part_free(&p->parts[i]);
	free(p->parts);
	memset(p, 0, sizeof *p);
}

void vl_mimi_content_init(struct vl_mimi_content *c)
{
	memset(c, 0, sizeof *c);
	c->body.cardinality = VL_MIMI_NULLPART;
}

void vl_mimi_content_cleanup(struct vl_mimi_content *c)
{
	if (!c)
		return;
	bytes_free(&c->topic_id);
	text_free(&c->sender_uri);
	text_free(&c->room_uri);
	for (size_t i = 0; i < c->extensions_len; i++) {
		text_free(&c->extensions[i].key_text);
		bytes_free(&c->extensions[i].value);
	}
	free(c->extensions);
	part_free(&c->body);
	vl_mimi_content_init(c);
}

/* --- Decoding ---------------------------------------------------------- */

struct dec {
	struct mimi_cbor_reader r;
	size_t parts;
};

static int expect(struct dec *d, enum mimi_cbor_kind kind, struct mimi_cbor_item *it)
{
	int rc = mimi_cbor_next(&d->r, it);
	if (rc)
		return rc;
	return it->kind == kind ? VL_OK : VL_ERR_DECODE;
}

static int read_uint(struct dec *d, uint64_t max, uint64_t *out)
{
	struct mimi_cbor_item it;
	int rc = expect(d, MIMI_CBOR_UINT, &it);
	if (rc)
		return rc;
	if (it.val > max)
		return VL_ERR_DECODE;
	*out = it.val;
	return VL_OK;
}

static int read_array(struct dec *d, uint64_t *n)
{
	struct mimi_cbor_item it;
	int rc = expect(d, MIMI_CBOR_ARRAY, &it);
	if (!rc)
		*n = it.val;
	return rc;
}

static int read_text(struct dec *d, struct vl_mimi_text *t)
{
	struct mimi_cbor_item it;
	int rc = expect(d, MIMI_CBOR_TSTR, &it);
	if (rc)
		return rc;
	if (!mimi_utf8_valid(it.data, it.len, true))
		return VL_ERR_DECODE;
	return text_set(t, (const char *)it.data, it.len);
}

static int read_bytes(struct dec *d, struct vl_mimi_bytes *b)
{
	struct mimi_cbor_item it;
	int rc = expect(d, MIMI_CBOR_BSTR, &it);
	if (rc)
		return rc;
	return bytes_set(b, it.data, it.len);
}

static int read_fixed(struct dec *d, uint8_t *out, size_t n)
{
	struct mimi_cbor_item it;
	int rc = expect(d, MIMI_CBOR_BSTR, &it);
	if (rc)
		return rc;
	if (it.len != n)
		return VL_ERR_DECODE;
	memcpy(out, it.data, n);
	return VL_OK;
}

/* null / MessageId */
static int read_opt_id(struct dec *d, bool *has, uint8_t out[VL_MIMI_MESSAGE_ID_LEN])
{
	struct mimi_cbor_item it;
	int rc = mimi_cbor_next(&d->r, &it);
	if (rc)
		return rc;
	if (it.kind == MIMI_CBOR_NULL) {
		*has = false;
		return VL_OK;
	}
	if (it.kind != MIMI_CBOR_BSTR || it.len != VL_MIMI_MESSAGE_ID_LEN)
		return VL_ERR_DECODE;
	/* Security Considerations: an id naming an unknown hash algorithm is
	 * a sign of a malicious message. */
	if (it.data[0] != VL_MIMI_HASH_SHA256)
		return VL_ERR_UNSUPPORTED;
	memcpy(out, it.data, VL_MIMI_MESSAGE_ID_LEN);
	*has = true;
	return VL_OK;
}

static int read_external(struct dec *d, struct vl_mimi_external *e)
{
	uint64_t v;
	int rc;
	if ((rc = read_text(d, &e->url)) || (rc = read_uint(d, UINT32_MAX, &v)))
		return rc;
	e->expires = (uint32_t)v;
	if ((rc = read_uint(d, UINT64_MAX, &e->size)) || (rc = read_uint(d, UINT16_MAX, &v)))
		return rc;
	e->enc_alg = (uint16_t)v;
	if ((rc = read_bytes(d, &e->key)) || (rc = read_bytes(d, &e->nonce)) ||
	    (rc = read_bytes(d, &e->aad)) || (rc = read_uint(d, UINT8_MAX, &v)))
		return rc;
	e->hash_alg = (uint8_t)v;
	if ((rc = read_bytes(d, &e->content_hash)) || (rc = read_text(d, &e->description)) ||
	    (rc = read_text(d, &e->filename)))
		return rc;
	return VL_OK;
}

static int read_part(struct dec *d, struct vl_mimi_part *p, unsigned depth)
{
	uint64_t n, v;
	int rc;
	if (depth > VL_MIMI_MAX_DEPTH || ++d->parts > VL_MIMI_MAX_PARTS)
		return VL_ERR_LIMIT;
	if ((rc = read_array(d, &n)) || (rc = read_uint(d, UINT8_MAX, &v)))
		return rc;
	p->disposition = (uint8_t)v;
	if ((rc = read_text(d, &p->language)) || (rc = read_uint(d, VL_MIMI_MULTI, &v)))
		return rc;
	p->cardinality = (enum vl_mimi_cardinality)v;
	if (n != part_items[v])
		return VL_ERR_DECODE;
	switch (p->cardinality) {
	case VL_MIMI_NULLPART:
		return VL_OK;
	case VL_MIMI_SINGLE:
		if ((rc = read_text(d, &p->content_type)))
			return rc;
		return read_bytes(d, &p->content);
	case VL_MIMI_EXTERNAL:
		if ((rc = read_text(d, &p->content_type)))
			return rc;
		return read_external(d, &p->external);
	case VL_MIMI_MULTI:
		break;
	}
	if ((rc = read_uint(d, VL_MIMI_PROCESS_ALL, &v)))
		return rc;
	p->semantics = (enum vl_mimi_semantics)v;
	if ((rc = read_array(d, &n)))
		return rc;
	/* parts: [2* NestedPart] */
	if (n < 2)
		return VL_ERR_DECODE;
	if (n > VL_MIMI_MAX_PARTS)
		return VL_ERR_LIMIT;
	p->parts = calloc((size_t)n, sizeof *p->parts);
	if (!p->parts)
		return VL_ERR_NOMEM;
	p->parts_len = (size_t)n;
	for (size_t i = 0; i < p->parts_len; i++)
		if ((rc = read_part(d, &p->parts[i], depth + 1)))
			return rc;
	return VL_OK;
}

static int read_extensions(struct dec *d, struct vl_mimi_content *c)
{
	struct mimi_cbor_item it;
	int rc = expect(d, MIMI_CBOR_MAP, &it);
	if (rc)
		return rc;
	if (it.val > VL_MIMI_MAX_EXTENSIONS + 2)
		return VL_ERR_LIMIT;
	size_t n = (size_t)it.val;
	if (n) {
		c->extensions = calloc(n, sizeof *c->extensions);
		if (!c->extensions)
			return VL_ERR_NOMEM;
	}
	const uint8_t *prev = NULL;
	size_t prev_len = 0;
	for (size_t i = 0; i < n; i++) {
		struct mimi_cbor_item key;
		size_t key_start = d->r.pos;
		if ((rc = mimi_cbor_next(&d->r, &key)))
			return rc;
		const uint8_t *enc = d->r.buf + key_start;
		size_t enc_len = d->r.pos - key_start;
		/* RFC 8949 §4.2.1 order; strictly increasing also rules out the
		 * duplicate keys the draft forbids. */
		if (prev && mimi_cbor_key_cmp(prev, prev_len, enc, enc_len) >= 0)
			return VL_ERR_DECODE;
		prev = enc;
		prev_len = enc_len;
		if (key.kind == MIMI_CBOR_UINT && (key.val == 1 || key.val == 2)) {
			struct vl_mimi_text *t = key.val == 1 ? &c->sender_uri : &c->room_uri;
			if ((rc = read_text(d, t)))
				return rc;
			continue;
		}
		struct vl_mimi_extension *x = &c->extensions[c->extensions_len];
		if (key.kind == MIMI_CBOR_UINT || key.kind == MIMI_CBOR_NEGINT) {
			x->key_kind =
			    key.kind == MIMI_CBOR_UINT ? VL_MIMI_KEY_UINT : VL_MIMI_KEY_NEGINT;
			x->key_int = key.val;
		} else if (key.kind == MIMI_CBOR_TSTR) {
			/* name = tstr .size (1..255) */
			if (key.len < 1 || key.len > 255 ||
			    !mimi_utf8_valid(key.data, key.len, true))
				return VL_ERR_DECODE;
			x->key_kind = VL_MIMI_KEY_TEXT;
			if ((rc = text_set(&x->key_text, (const char *)key.data, key.len)))
				return rc;
		} else {
			return VL_ERR_DECODE;
		}
		c->extensions_len++;
		if (c->extensions_len > VL_MIMI_MAX_EXTENSIONS)
			return VL_ERR_LIMIT;
		size_t v_start = d->r.pos;
		if ((rc = mimi_cbor_skip(&d->r, VL_MIMI_MAX_VALUE_DEPTH)))
			return rc;
		if (d->r.pos - v_start > VL_MIMI_MAX_EXT_VALUE)
			return VL_ERR_LIMIT;
		if ((rc = bytes_set(&x->value, d->r.buf + v_start, d->r.pos - v_start)))
			return rc;
	}
	return VL_OK;
}

static int decode(struct dec *d, struct vl_mimi_content *c)
{
	uint64_t n;
	int rc;
	if ((rc = read_array(d, &n)))
		return rc;
	if (n != 7)
		return VL_ERR_DECODE;
	if ((rc = read_fixed(d, c->salt, VL_MIMI_SALT_LEN)) ||
	    (rc = read_opt_id(d, &c->has_replaces, c->replaces)) ||
	    (rc = read_bytes(d, &c->topic_id)))
		return rc;
	if (c->topic_id.len > VL_MIMI_MAX_TOPIC_LEN)
		return VL_ERR_LIMIT;
	struct mimi_cbor_item it;
	if ((rc = mimi_cbor_next(&d->r, &it)))
		return rc;
	if (it.kind == MIMI_CBOR_ARRAY) {
		/* Expiration = [relative: bool, time: uint .size 4] */
		if (it.val != 2 || (rc = mimi_cbor_next(&d->r, &it)))
			return rc ? rc : VL_ERR_DECODE;
		if (it.kind != MIMI_CBOR_TRUE && it.kind != MIMI_CBOR_FALSE)
			return VL_ERR_DECODE;
		c->has_expires = true;
		c->expires_relative = it.kind == MIMI_CBOR_TRUE;
		uint64_t t;
		if ((rc = read_uint(d, UINT32_MAX, &t)))
			return rc;
		c->expires_time = (uint32_t)t;
	} else if (it.kind != MIMI_CBOR_NULL) {
		return VL_ERR_DECODE;
	}
	if ((rc = read_opt_id(d, &c->has_in_reply_to, c->in_reply_to)) ||
	    (rc = read_extensions(d, c)) || (rc = read_part(d, &c->body, 1)))
		return rc;
	return d->r.pos == d->r.len ? VL_OK : VL_ERR_DECODE;
}

int vl_mimi_content_decode(struct vl_mimi_content *c, const uint8_t *buf, size_t len)
{
	vl_mimi_content_init(c);
	if (len > VL_MIMI_MAX_MESSAGE_LEN)
		return VL_ERR_LIMIT;
	struct dec d = {.r = {.buf = buf, .len = buf ? len : 0}};
	int rc = decode(&d, c);
	if (rc)
		vl_mimi_content_cleanup(c);
	return rc;
}

/* --- Encoding ---------------------------------------------------------- */

static bool text_ok(const struct vl_mimi_text *t)
{
	return !t->str || mimi_utf8_valid((const uint8_t *)t->str, t->len, true);
}

static void put_text(struct mimi_cbor_writer *w, const struct vl_mimi_text *t)
{
	if (!text_ok(t)) {
		if (!w->err)
			w->err = VL_ERR_INVALID;
		return;
	}
	mimi_cbor_put_tstr(w, t->str ? t->str : "", t->str ? t->len : 0);
}

static void put_bytes(struct mimi_cbor_writer *w, const struct vl_mimi_bytes *b)
{
	mimi_cbor_put_bstr(w, b->data, b->data ? b->len : 0);
}

static void fail(struct mimi_cbor_writer *w, int err)
{
	if (!w->err)
		w->err = err;
}

static void put_part(struct mimi_cbor_writer *w, const struct vl_mimi_part *p, unsigned depth,
                     size_t *count)
{
	if (depth > VL_MIMI_MAX_DEPTH || ++*count > VL_MIMI_MAX_PARTS) {
		fail(w, VL_ERR_LIMIT);
		return;
	}
	if ((unsigned)p->cardinality > VL_MIMI_MULTI) {
		fail(w, VL_ERR_INVALID);
		return;
	}
	mimi_cbor_put_array(w, (size_t)part_items[p->cardinality]);
	mimi_cbor_put_uint(w, p->disposition);
	put_text(w, &p->language);
	mimi_cbor_put_uint(w, p->cardinality);
	const struct vl_mimi_external *e = &p->external;
	switch (p->cardinality) {
	case VL_MIMI_NULLPART:
		return;
	case VL_MIMI_SINGLE:
		put_text(w, &p->content_type);
		put_bytes(w, &p->content);
		return;
	case VL_MIMI_EXTERNAL:
		put_text(w, &p->content_type);
		put_text(w, &e->url);
		mimi_cbor_put_uint(w, e->expires);
		mimi_cbor_put_uint(w, e->size);
		mimi_cbor_put_uint(w, e->enc_alg);
		put_bytes(w, &e->key);
		put_bytes(w, &e->nonce);
		put_bytes(w, &e->aad);
		mimi_cbor_put_uint(w, e->hash_alg);
		put_bytes(w, &e->content_hash);
		put_text(w, &e->description);
		put_text(w, &e->filename);
		return;
	case VL_MIMI_MULTI:
		break;
	}
	if ((unsigned)p->semantics > VL_MIMI_PROCESS_ALL || p->parts_len < 2 || !p->parts) {
		fail(w, VL_ERR_INVALID);
		return;
	}
	if (p->parts_len > VL_MIMI_MAX_PARTS) {
		fail(w, VL_ERR_LIMIT);
		return;
	}
	mimi_cbor_put_uint(w, p->semantics);
	mimi_cbor_put_array(w, p->parts_len);
	for (size_t i = 0; i < p->parts_len && !w->err; i++)
		put_part(w, &p->parts[i], depth + 1, count);
}

/* The deterministic encoding of an extension key, into key[0..return). */
#define KEY_ENC_MAX (2 + 255)
static size_t key_encode(const struct vl_mimi_extension *x, uint8_t key[KEY_ENC_MAX])
{
	struct mimi_cbor_writer w = {.buf = key, .cap = KEY_ENC_MAX};
	switch (x->key_kind) {
	case VL_MIMI_KEY_UINT:
		mimi_cbor_put_uint(&w, x->key_int);
		break;
	case VL_MIMI_KEY_NEGINT:
		mimi_cbor_put_negint(&w, x->key_int);
		break;
	case VL_MIMI_KEY_TEXT:
		if (!x->key_text.str || x->key_text.len < 1 || x->key_text.len > 255 ||
		    !text_ok(&x->key_text))
			return 0;
		mimi_cbor_put_tstr(&w, x->key_text.str, x->key_text.len);
		break;
	default:
		return 0;
	}
	return w.err ? 0 : w.len;
}

static void put_extensions(struct mimi_cbor_writer *w, const struct vl_mimi_content *c)
{
	size_t n = c->extensions_len;
	if (n > VL_MIMI_MAX_EXTENSIONS) {
		fail(w, VL_ERR_LIMIT);
		return;
	}
	mimi_cbor_put_map(w, n + (c->sender_uri.str != NULL) + (c->room_uri.str != NULL));
	/* Keys 1 and 2 encode as 0x01 and 0x02: in deterministic order only
	 * the key 0 (0x00) comes before them. */
	bool uris_done = false;
	uint8_t prev[KEY_ENC_MAX], key[KEY_ENC_MAX];
	size_t prev_len = 0;
	for (size_t i = 0; i <= n && !w->err; i++) {
		const struct vl_mimi_extension *x = i < n ? &c->extensions[i] : NULL;
		size_t key_len = 0;
		if (x) {
			key_len = key_encode(x, key);
			if (!key_len || (key_len == 1 && (key[0] == 0x01 || key[0] == 0x02)) ||
			    (prev_len && mimi_cbor_key_cmp(prev, prev_len, key, key_len) >= 0)) {
				fail(w, VL_ERR_INVALID);
				return;
			}
		}
		if (!uris_done && (!x || key[0] != 0x00 || key_len != 1)) {
			if (c->sender_uri.str) {
				mimi_cbor_put_uint(w, 1);
				put_text(w, &c->sender_uri);
			}
			if (c->room_uri.str) {
				mimi_cbor_put_uint(w, 2);
				put_text(w, &c->room_uri);
			}
			uris_done = true;
		}
		if (!x)
			break;
		if (x->value.len > VL_MIMI_MAX_EXT_VALUE) {
			fail(w, VL_ERR_LIMIT);
			return;
		}
		if (!mimi_cbor_is_one_item(x->value.data, x->value.len, VL_MIMI_MAX_VALUE_DEPTH)) {
			fail(w, VL_ERR_INVALID);
			return;
		}
		mimi_cbor_put_raw(w, key, key_len);
		mimi_cbor_put_raw(w, x->value.data, x->value.len);
		memcpy(prev, key, key_len);
		prev_len = key_len;
	}
}

static int encode(const struct vl_mimi_content *c, struct mimi_cbor_writer *w)
{
	if ((c->has_replaces && c->replaces[0] != VL_MIMI_HASH_SHA256) ||
	    (c->has_in_reply_to && c->in_reply_to[0] != VL_MIMI_HASH_SHA256))
		fail(w, VL_ERR_INVALID);
	mimi_cbor_put_array(w, 7);
	mimi_cbor_put_bstr(w, c->salt, VL_MIMI_SALT_LEN);
	if (c->has_replaces)
		mimi_cbor_put_bstr(w, c->replaces, VL_MIMI_MESSAGE_ID_LEN);
	else
		mimi_cbor_put_null(w);
	if (c->topic_id.len > VL_MIMI_MAX_TOPIC_LEN)
		fail(w, VL_ERR_LIMIT);
	put_bytes(w, &c->topic_id);
	if (c->has_expires) {
		mimi_cbor_put_array(w, 2);
		mimi_cbor_put_bool(w, c->expires_relative);
		mimi_cbor_put_uint(w, c->expires_time);
	} else {
		mimi_cbor_put_null(w);
	}
	if (c->has_in_reply_to)
		mimi_cbor_put_bstr(w, c->in_reply_to, VL_MIMI_MESSAGE_ID_LEN);
	else
		mimi_cbor_put_null(w);
	put_extensions(w, c);
	size_t count = 0;
	put_part(w, &c->body, 1, &count);
	if (!w->err && w->len > VL_MIMI_MAX_MESSAGE_LEN)
		w->err = VL_ERR_LIMIT;
	return w->err;
}

int vl_mimi_content_encoded_size(const struct vl_mimi_content *c, size_t *len)
{
	struct mimi_cbor_writer w = {.count_only = true};
	int rc = encode(c, &w);
	*len = rc ? 0 : w.len;
	return rc;
}

int vl_mimi_content_encode(const struct vl_mimi_content *c, uint8_t *buf, size_t cap, size_t *len)
{
	assert(buf || cap == 0);
	struct mimi_cbor_writer w = {.buf = buf, .cap = cap};
	int rc = encode(c, &w);
	*len = rc ? 0 : w.len;
	return rc;
}

int vl_mimi_content_encode_alloc(const struct vl_mimi_content *c, uint8_t **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	size_t n;
	int rc = vl_mimi_content_encoded_size(c, &n);
	if (rc)
		return rc;
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf)
		return VL_ERR_NOMEM;
	if ((rc = vl_mimi_content_encode(c, buf, n, len))) {
		free(buf);
		return rc;
	}
	*out = buf;
	return VL_OK;
}

/* --- Comparison -------------------------------------------------------- */

static bool text_eq(const struct vl_mimi_text *a, const struct vl_mimi_text *b)
{
	size_t al = a->str ? a->len : 0, bl = b->str ? b->len : 0;
	return al == bl && (al == 0 || memcmp(a->str, b->str, al) == 0);
}

static bool bytes_eq(const struct vl_mimi_bytes *a, const struct vl_mimi_bytes *b)
{
	size_t al = a->data ? a->len : 0, bl = b->data ? b->len : 0;
	return al == bl && (al == 0 || memcmp(a->data, b->data, al) == 0);
}

static bool part_eq(const struct vl_mimi_part *a, const struct vl_mimi_part *b)
{
	if (a->disposition != b->disposition || !text_eq(&a->language, &b->language) ||
	    a->cardinality != b->cardinality)
		return false;
	const struct vl_mimi_external *x = &a->external, *y = &b->external;
	switch (a->cardinality) {
	case VL_MIMI_NULLPART:
		return true;
	case VL_MIMI_SINGLE:
		return text_eq(&a->content_type, &b->content_type) &&
		       bytes_eq(&a->content, &b->content);
	case VL_MIMI_EXTERNAL:
		return text_eq(&a->content_type, &b->content_type) && text_eq(&x->url, &y->url) &&
		       x->expires == y->expires && x->size == y->size && x->enc_alg == y->enc_alg &&
		       bytes_eq(&x->key, &y->key) && bytes_eq(&x->nonce, &y->nonce) &&
		       bytes_eq(&x->aad, &y->aad) && x->hash_alg == y->hash_alg &&
		       bytes_eq(&x->content_hash, &y->content_hash) &&
		       text_eq(&x->description, &y->description) &&
		       text_eq(&x->filename, &y->filename);
	case VL_MIMI_MULTI:
		break;
	}
	if (a->semantics != b->semantics || a->parts_len != b->parts_len)
		return false;
	for (size_t i = 0; i < a->parts_len; i++)
		if (!part_eq(&a->parts[i], &b->parts[i]))
			return false;
	return true;
}

static bool opt_text_eq(const struct vl_mimi_text *a, const struct vl_mimi_text *b)
{
	return (a->str == NULL) == (b->str == NULL) && text_eq(a, b);
}

bool vl_mimi_content_equal(const struct vl_mimi_content *a, const struct vl_mimi_content *b)
{
	if (memcmp(a->salt, b->salt, VL_MIMI_SALT_LEN) != 0 || a->has_replaces != b->has_replaces ||
	    (a->has_replaces && memcmp(a->replaces, b->replaces, VL_MIMI_MESSAGE_ID_LEN) != 0) ||
	    !bytes_eq(&a->topic_id, &b->topic_id) || a->has_expires != b->has_expires ||
	    (a->has_expires &&
	     (a->expires_relative != b->expires_relative || a->expires_time != b->expires_time)) ||
	    a->has_in_reply_to != b->has_in_reply_to ||
	    (a->has_in_reply_to &&
	     memcmp(a->in_reply_to, b->in_reply_to, VL_MIMI_MESSAGE_ID_LEN) != 0) ||
	    !opt_text_eq(&a->sender_uri, &b->sender_uri) ||
	    !opt_text_eq(&a->room_uri, &b->room_uri) || a->extensions_len != b->extensions_len)
		return false;
	for (size_t i = 0; i < a->extensions_len; i++) {
		const struct vl_mimi_extension *x = &a->extensions[i], *y = &b->extensions[i];
		if (x->key_kind != y->key_kind || !bytes_eq(&x->value, &y->value))
			return false;
		if (x->key_kind == VL_MIMI_KEY_TEXT ? !text_eq(&x->key_text, &y->key_text)
		                                    : x->key_int != y->key_int)
			return false;
	}
	return part_eq(&a->body, &b->body);
}

/* --- Building ---------------------------------------------------------- */

static int opt_text_set(struct vl_mimi_text *t, const char *s)
{
	if (!s) {
		text_free(t);
		return VL_OK;
	}
	return text_set(t, s, strlen(s));
}

int vl_mimi_content_set_uris(struct vl_mimi_content *c, const char *sender_uri,
                             const char *room_uri)
{
	int rc = opt_text_set(&c->sender_uri, sender_uri);
	return rc ? rc : opt_text_set(&c->room_uri, room_uri);
}

int vl_mimi_content_set_topic(struct vl_mimi_content *c, const void *topic, size_t len)
{
	if (len == 0) {
		bytes_free(&c->topic_id);
		return VL_OK;
	}
	return bytes_set(&c->topic_id, topic, len);
}

int vl_mimi_content_add_extension(struct vl_mimi_content *c, enum vl_mimi_key_kind kind,
                                  uint64_t key_int, const char *key_text, const uint8_t *value,
                                  size_t value_len)
{
	struct vl_mimi_extension x = {.key_kind = kind, .key_int = key_int};
	if (kind == VL_MIMI_KEY_TEXT) {
		if (!key_text)
			return VL_ERR_ARG;
		x.key_text.str = (char *)key_text;
		x.key_text.len = strlen(key_text);
		x.key_int = 0;
	}
	if (kind == VL_MIMI_KEY_UINT && (key_int == 1 || key_int == 2))
		return VL_ERR_ARG;
	uint8_t key[KEY_ENC_MAX], other[KEY_ENC_MAX];
	size_t key_len = key_encode(&x, key);
	if (!key_len)
		return VL_ERR_ARG;
	if (value_len > VL_MIMI_MAX_EXT_VALUE)
		return VL_ERR_LIMIT;
	if (!mimi_cbor_is_one_item(value, value_len, VL_MIMI_MAX_VALUE_DEPTH))
		return VL_ERR_INVALID;
	if (c->extensions_len >= VL_MIMI_MAX_EXTENSIONS)
		return VL_ERR_LIMIT;
	size_t at = 0;
	for (; at < c->extensions_len; at++) {
		size_t other_len = key_encode(&c->extensions[at], other);
		int cmp = mimi_cbor_key_cmp(key, key_len, other, other_len);
		if (cmp == 0)
			return VL_ERR_EXISTS;
		if (cmp < 0)
			break;
	}
	struct vl_mimi_extension *grown =
	    realloc(c->extensions, (c->extensions_len + 1) * sizeof *c->extensions);
	if (!grown)
		return VL_ERR_NOMEM;
	c->extensions = grown;
	struct vl_mimi_extension made = {.key_kind = kind, .key_int = x.key_int};
	int rc = VL_OK;
	if (kind == VL_MIMI_KEY_TEXT)
		rc = text_set(&made.key_text, key_text, x.key_text.len);
	if (!rc && (rc = bytes_set(&made.value, value, value_len)))
		text_free(&made.key_text);
	if (rc)
		return rc;
	memmove(&grown[at + 1], &grown[at], (c->extensions_len - at) * sizeof *grown);
	grown[at] = made;
	c->extensions_len++;
	return VL_OK;
}

static int part_head(struct vl_mimi_part *p, uint8_t disposition, const char *language,
                     enum vl_mimi_cardinality cardinality)
{
	part_free(p);
	p->disposition = disposition;
	p->cardinality = cardinality;
	return text_set(&p->language, language ? language : "", language ? strlen(language) : 0);
}

void vl_mimi_part_set_null(struct vl_mimi_part *p, uint8_t disposition)
{
	part_free(p);
	p->disposition = disposition;
	p->cardinality = VL_MIMI_NULLPART;
}

int vl_mimi_part_set_single(struct vl_mimi_part *p, uint8_t disposition, const char *language,
                            const char *content_type, const void *content, size_t content_len)
{
	int rc;
	if ((rc = part_head(p, disposition, language, VL_MIMI_SINGLE)) ||
	    (rc = text_set(&p->content_type, content_type, strlen(content_type))) ||
	    (rc = bytes_set(&p->content, content, content_len))) {
		part_free(p);
		return rc;
	}
	return VL_OK;
}

static int opt_copy_text(struct vl_mimi_text *dst, const struct vl_mimi_text *src)
{
	return text_set(dst, src->str ? src->str : "", src->str ? src->len : 0);
}

static int opt_copy_bytes(struct vl_mimi_bytes *dst, const struct vl_mimi_bytes *src)
{
	return bytes_set(dst, src->data, src->data ? src->len : 0);
}

int vl_mimi_part_set_external(struct vl_mimi_part *p, uint8_t disposition, const char *language,
                              const char *content_type, const struct vl_mimi_external *ext)
{
	int rc;
	struct vl_mimi_external *e = &p->external;
	if ((rc = part_head(p, disposition, language, VL_MIMI_EXTERNAL)) ||
	    (rc = text_set(&p->content_type, content_type, strlen(content_type))) ||
	    (rc = opt_copy_text(&e->url, &ext->url)) || (rc = opt_copy_bytes(&e->key, &ext->key)) ||
	    (rc = opt_copy_bytes(&e->nonce, &ext->nonce)) ||
	    (rc = opt_copy_bytes(&e->aad, &ext->aad)) ||
	    (rc = opt_copy_bytes(&e->content_hash, &ext->content_hash)) ||
	    (rc = opt_copy_text(&e->description, &ext->description)) ||
	    (rc = opt_copy_text(&e->filename, &ext->filename))) {
		part_free(p);
		return rc;
	}
	e->expires = ext->expires;
	e->size = ext->size;
	e->enc_alg = ext->enc_alg;
	e->hash_alg = ext->hash_alg;
	return VL_OK;
}

int vl_mimi_part_set_multi(struct vl_mimi_part *p, uint8_t disposition, const char *language,
                           enum vl_mimi_semantics semantics, size_t n)
{
	if (n < 2 || n > VL_MIMI_MAX_PARTS || (unsigned)semantics > VL_MIMI_PROCESS_ALL)
		return VL_ERR_ARG;
	int rc = part_head(p, disposition, language, VL_MIMI_MULTI);
	if (!rc && !(p->parts = calloc(n, sizeof *p->parts)))
		rc = VL_ERR_NOMEM;
	if (rc) {
		part_free(p);
		return rc;
	}
	p->semantics = semantics;
	p->parts_len = n;
	return VL_OK;
}

int vl_mimi_content_set_text(struct vl_mimi_content *c, bool markdown, const char *text,
                             size_t text_len)
{
	return vl_mimi_part_set_single(
	    &c->body, VL_MIMI_DISP_RENDER, "",
	    markdown ? VL_MIMI_TYPE_TEXT_MARKDOWN : VL_MIMI_TYPE_TEXT_PLAIN, text, text_len);
}

int vl_mimi_content_set_reaction(struct vl_mimi_content *c,
                                 const uint8_t target[VL_MIMI_MESSAGE_ID_LEN], const char *reaction,
                                 size_t reaction_len)
{
	int rc = vl_mimi_part_set_single(&c->body, VL_MIMI_DISP_REACTION, "",
	                                 VL_MIMI_TYPE_TEXT_PLAIN, reaction, reaction_len);
	if (rc)
		return rc;
	c->has_in_reply_to = true;
	memcpy(c->in_reply_to, target, VL_MIMI_MESSAGE_ID_LEN);
	return VL_OK;
}

void vl_mimi_content_set_delete(struct vl_mimi_content *c,
                                const uint8_t target[VL_MIMI_MESSAGE_ID_LEN], uint8_t disposition)
{
	vl_mimi_part_set_null(&c->body, disposition);
	c->has_replaces = true;
	memcpy(c->replaces, target, VL_MIMI_MESSAGE_ID_LEN);
}
