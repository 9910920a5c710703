/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Message ids and salts of MIMI content (draft-ietf-mimi-content §"Message
 * ID"), and the MessageDerivedValues record (§"Derived Data Values"). The
 * hashing and randomness come from the cipher-suite provider.
 */
#include "valise/content.h"

#include <stdlib.h>
#include <string.h>

#include "content/cbor_io.h"
#include "crypto/crypto.h"

int vl_mimi_content_new_salt(struct vl_mimi_content *c)
{
	return vl_random(c->salt, VL_MIMI_SALT_LEN);
}

int vl_mimi_message_id(const uint8_t *msg, size_t msg_len, const char *sender_uri,
                       size_t sender_uri_len, const char *room_uri, size_t room_uri_len,
                       uint8_t out[VL_MIMI_MESSAGE_ID_LEN])
{
	memset(out, 0, VL_MIMI_MESSAGE_ID_LEN);
	/* A mimiContent opens with the head of a 7-item array (0x87) and the
	 * head of its 16-octet salt (0x50). */
	if (!msg || msg_len < 2 + VL_MIMI_SALT_LEN || msg[0] != 0x87 || msg[1] != 0x50)
		return VL_ERR_DECODE;
	if (sender_uri_len > UINT16_MAX || room_uri_len > UINT16_MAX)
		return VL_ERR_LIMIT;
	/* The draft fixes SHA-256 (hash id 1) whatever the group's suite;
	 * suite 0x0001's hash is SHA-256. */
	const struct vl_suite *s = vl_suite_get(VL_SUITE_X25519_AES128GCM_SHA256_ED25519);
	if (!s)
		return VL_ERR_CRYPTO;
	uint8_t sl[2] = {(uint8_t)(sender_uri_len >> 8), (uint8_t)sender_uri_len};
	uint8_t rl[2] = {(uint8_t)(room_uri_len >> 8), (uint8_t)room_uri_len};
	uint8_t h[VL_HASH_MAX];
	struct vl_hash_ctx *ctx = NULL;
	int rc = vl_hash_ctx_new(s, &ctx);
	/* The salt is hashed a second time at the end against length
	 * extension (draft §"Message ID"). */
	if (rc || (rc = vl_hash_ctx_update(ctx, sl, 2)) ||
	    (rc = vl_hash_ctx_update(ctx, sender_uri, sender_uri_len)) ||
	    (rc = vl_hash_ctx_update(ctx, rl, 2)) ||
	    (rc = vl_hash_ctx_update(ctx, room_uri, room_uri_len)) ||
	    (rc = vl_hash_ctx_update(ctx, msg, msg_len)) ||
	    (rc = vl_hash_ctx_update(ctx, msg + 2, VL_MIMI_SALT_LEN)) ||
	    (rc = vl_hash_ctx_final(ctx, h))) {
		vl_hash_ctx_free(ctx);
		return VL_ERR_CRYPTO;
	}
	vl_hash_ctx_free(ctx);
	out[0] = VL_MIMI_HASH_SHA256;
	memcpy(out + 1, h, VL_MIMI_MESSAGE_ID_LEN - 1);
	return VL_OK;
}

/* --- MessageDerivedValues ------------------------------------------------ */

void vl_mimi_derived_init(struct vl_mimi_derived *d)
{
	memset(d, 0, sizeof *d);
}

void vl_mimi_derived_cleanup(struct vl_mimi_derived *d)
{
	if (!d)
		return;
	free(d->group_id.data);
	free(d->sender_client_url.str);
	free(d->sender_user_url.str);
	free(d->room_url.str);
	vl_mimi_derived_init(d);
}

static int next_kind(struct mimi_cbor_reader *r, enum mimi_cbor_kind kind,
                     struct mimi_cbor_item *it)
{
	int rc = mimi_cbor_next(r, it);
	return rc ? rc : it->kind == kind ? VL_OK : VL_ERR_DECODE;
}

static int dup_text(struct mimi_cbor_reader *r, struct vl_mimi_text *t)
{
	struct mimi_cbor_item it;
	int rc = next_kind(r, MIMI_CBOR_TSTR, &it);
	if (rc)
		return rc;
	if (!mimi_utf8_valid(it.data, it.len, true))
		return VL_ERR_DECODE;
	if (!(t->str = malloc(it.len + 1)))
		return VL_ERR_NOMEM;
	memcpy(t->str, it.data, it.len);
	t->str[it.len] = 0;
	t->len = it.len;
	return VL_OK;
}

static int derived_decode(struct vl_mimi_derived *d, struct mimi_cbor_reader *r)
{
	struct mimi_cbor_item it;
	int rc;
	if ((rc = next_kind(r, MIMI_CBOR_ARRAY, &it)))
		return rc;
	if (it.val != 7)
		return VL_ERR_DECODE;
	if ((rc = next_kind(r, MIMI_CBOR_BSTR, &it)))
		return rc;
	if (it.len != VL_MIMI_MESSAGE_ID_LEN)
		return VL_ERR_DECODE;
	memcpy(d->message_id, it.data, it.len);
	if ((rc = mimi_cbor_next(r, &it)))
		return rc;
	if (it.kind == MIMI_CBOR_TAG && it.val == 1001)
		return VL_ERR_UNSUPPORTED; /* RFC 9581 extended time */
	if (it.kind != MIMI_CBOR_UINT)
		return VL_ERR_DECODE;
	d->hub_accepted_ms = it.val;
	if ((rc = next_kind(r, MIMI_CBOR_BSTR, &it)))
		return rc;
	if (!(d->group_id.data = malloc(it.len ? it.len : 1)))
		return VL_ERR_NOMEM;
	if (it.len)
		memcpy(d->group_id.data, it.data, it.len);
	d->group_id.len = it.len;
	if ((rc = next_kind(r, MIMI_CBOR_UINT, &it)))
		return rc;
	if (it.val > UINT32_MAX)
		return VL_ERR_DECODE;
	d->sender_leaf_index = (uint32_t)it.val;
	if ((rc = dup_text(r, &d->sender_client_url)) || (rc = dup_text(r, &d->sender_user_url)) ||
	    (rc = dup_text(r, &d->room_url)))
		return rc;
	return r->pos == r->len ? VL_OK : VL_ERR_DECODE;
}

int vl_mimi_derived_decode(struct vl_mimi_derived *d, const uint8_t *buf, size_t len)
{
	vl_mimi_derived_init(d);
	if (len > VL_MIMI_MAX_MESSAGE_LEN)
		return VL_ERR_LIMIT;
	struct mimi_cbor_reader r = {.buf = buf, .len = buf ? len : 0};
	int rc = derived_decode(d, &r);
	if (rc)
		vl_mimi_derived_cleanup(d);
	return rc;
}

static void put_opt_text(struct mimi_cbor_writer *w, const struct vl_mimi_text *t)
{
	if (t->str && !mimi_utf8_valid((const uint8_t *)t->str, t->len, true) && !w->err)
		w->err = VL_ERR_INVALID;
	mimi_cbor_put_tstr(w, t->str ? t->str : "", t->str ? t->len : 0);
}

static void derived_put(struct mimi_cbor_writer *w, const struct vl_mimi_derived *d)
{
	mimi_cbor_put_array(w, 7);
	mimi_cbor_put_bstr(w, d->message_id, VL_MIMI_MESSAGE_ID_LEN);
	mimi_cbor_put_uint(w, d->hub_accepted_ms);
	mimi_cbor_put_bstr(w, d->group_id.data, d->group_id.data ? d->group_id.len : 0);
	mimi_cbor_put_uint(w, d->sender_leaf_index);
	put_opt_text(w, &d->sender_client_url);
	put_opt_text(w, &d->sender_user_url);
	put_opt_text(w, &d->room_url);
}

int vl_mimi_derived_encode_alloc(const struct vl_mimi_derived *d, uint8_t **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	struct mimi_cbor_writer count = {.count_only = true};
	derived_put(&count, d);
	if (count.err)
		return count.err;
	struct mimi_cbor_writer w = {.buf = malloc(count.len ? count.len : 1), .cap = count.len};
	if (!w.buf)
		return VL_ERR_NOMEM;
	derived_put(&w, d);
	if (w.err) {
		free(w.buf);
		return w.err;
	}
	*out = w.buf;
	*len = w.len;
	return VL_OK;
}
