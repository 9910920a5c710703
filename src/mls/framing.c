/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PublicMessage and PrivateMessage protection (RFC 9420 §6). Temporary
 * encodings (TBS, TBM, AAD) are built in heap writers with a hard cap;
 * keys and nonces are wiped before return.
 */
#include "mls/framing.h"

#include <stdlib.h>
#include <string.h>

#include "mls/keyschedule.h"
#include "wire/wire.h"

/* Cap on a TBS/TBM/AAD encoding: the message plus its context. */
#define MLS_TBS_MAX (MLS_MAX_MESSAGE + (1u << 16))

static bool bytes_eq(const struct vl_mls_bytes *a, const struct vl_mls_bytes *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* A heap writer with room for about `hint` bytes from the start: large
 * messages are then not built by repeated doubling, each step a copy, a
 * wipe and, for big buffers, a fresh mapping from the allocator. The
 * writer still grows if the hint was short. */
static void writer_init_hint(struct vl_writer *w, size_t max, size_t hint)
{
	vl_writer_init_heap(w, max);
	if (hint > max)
		hint = max;
	w->buf = malloc(hint);
	w->cap = w->buf ? hint : 0;
}

/* About the encoded size of a content and what surrounds it. */
static size_t content_hint(const struct vl_mls_framed_content *c, const struct mls_framing *f)
{
	size_t n = 512 + c->group_id.len + c->authenticated_data.len;
	if (c->content_type == VL_MLS_CONTENT_APPLICATION)
		n += c->application_data.len;
	if (f->context)
		n += f->context->group_id.len + 4 * VL_HASH_MAX;
	return n;
}

int mls_content_sign(const struct mls_framing *f, uint16_t wire_format,
                     const struct vl_mls_framed_content *content, const struct vl_sig_key *signer,
                     uint8_t sig_buf[VL_SIG_MAX], struct vl_mls_auth_data *auth)
{
	struct vl_writer w;
	size_t sig_len = 0;
	writer_init_hint(&w, MLS_TBS_MAX, content_hint(content, f));
	int rc = vl_mls_framed_content_tbs_encode(&w, wire_format, content, f->context);
	if (rc == VL_OK)
		rc = vl_mls_sign_with_label_key(signer, "FramedContentTBS", w.buf, w.len, sig_buf,
		                                &sig_len);
	vl_writer_cleanup(&w);
	auth->signature.data = sig_buf;
	auth->signature.len = rc == VL_OK ? sig_len : 0;
	return rc;
}

int mls_content_verify(const struct mls_framing *f, uint16_t wire_format,
                       const struct vl_mls_framed_content *content,
                       const struct vl_mls_auth_data *auth, const struct vl_sig_key *sender_key)
{
	struct vl_writer w;
	writer_init_hint(&w, MLS_TBS_MAX, content_hint(content, f));
	int rc = vl_mls_framed_content_tbs_encode(&w, wire_format, content, f->context);
	if (rc == VL_OK)
		rc = vl_mls_verify_with_label_key(sender_key, "FramedContentTBS", w.buf, w.len,
		                                  auth->signature.data, auth->signature.len);
	vl_writer_cleanup(&w);
	return rc;
}

/* membership_tag = MAC(membership_key, AuthenticatedContentTBM) (§6.2). */
static int membership_tag(const struct mls_framing *f, const struct vl_mls_framed_content *content,
                          const struct vl_mls_auth_data *auth, uint8_t tag[VL_HASH_MAX])
{
	struct vl_writer w;
	vl_writer_init_heap(&w, MLS_TBS_MAX);
	int rc = vl_mls_content_tbm_encode(&w, content, auth, f->context);
	if (rc == VL_OK)
		rc = vl_hmac(f->suite, f->membership_key, f->suite->hash_len, w.buf, w.len, tag);
	vl_writer_cleanup(&w);
	return rc;
}

int mls_public_encode(const struct mls_framing *f, const struct vl_mls_framed_content *content,
                      const struct vl_mls_auth_data *auth, uint8_t **out, size_t *out_len)
{
	uint8_t tag[VL_HASH_MAX];
	*out = NULL;
	*out_len = 0;
	if (content->content_type == VL_MLS_CONTENT_APPLICATION)
		return VL_ERR_INVALID;
	struct vl_mls_message m = {.version = VL_MLS_VERSION_MLS10,
	                           .wire_format = VL_MLS_WIRE_PUBLIC_MESSAGE};
	m.public_message.content = *content;
	m.public_message.auth = *auth;
	if (content->sender.type == VL_MLS_SENDER_MEMBER) {
		int rc = membership_tag(f, content, auth, tag);
		if (rc != VL_OK)
			return rc;
		m.public_message.membership_tag.data = tag;
		m.public_message.membership_tag.len = f->suite->hash_len;
	}
	return vl_mls_message_encode_alloc(&m, out, out_len);
}

/* Same group and epoch as the framing context. */
static int check_epoch(const struct mls_framing *f, const struct vl_mls_bytes *group_id,
                       uint64_t epoch)
{
	if (!bytes_eq(group_id, &f->context->group_id))
		return VL_ERR_INVALID;
	if (epoch != f->context->epoch)
		return VL_ERR_STALE_EPOCH;
	return VL_OK;
}

int mls_public_check(const struct mls_framing *f, const struct vl_mls_public_message *pm)
{
	const struct vl_mls_framed_content *c = &pm->content;
	int rc = check_epoch(f, &c->group_id, c->epoch);
	if (rc != VL_OK)
		return rc;
	if (c->content_type == VL_MLS_CONTENT_APPLICATION)
		return VL_ERR_INVALID;
	if (c->sender.type != VL_MLS_SENDER_MEMBER)
		return VL_OK;
	uint8_t tag[VL_HASH_MAX];
	rc = membership_tag(f, c, &pm->auth, tag);
	if (rc == VL_OK && (pm->membership_tag.len != f->suite->hash_len ||
	                    !vl_ct_equal(tag, pm->membership_tag.data, f->suite->hash_len)))
		rc = VL_ERR_CRYPTO;
	return rc;
}

/* Size of an opaque<V> of n bytes. */
static size_t opaque_size(size_t n)
{
	return vl_varint_size(n) + n;
}

int mls_public_raw(const uint8_t *msg, size_t msg_len, const struct vl_mls_public_message *pm,
                   struct mls_raw_content *raw)
{
	const struct vl_mls_framed_content *c = &pm->content;
	size_t auth = opaque_size(pm->auth.signature.len);
	if (c->content_type == VL_MLS_CONTENT_COMMIT)
		auth += opaque_size(pm->auth.confirmation_tag.len);
	size_t tail = auth;
	if (c->sender.type == VL_MLS_SENDER_MEMBER)
		tail += opaque_size(pm->membership_tag.len);
	if (msg_len < 4 + tail)
		return VL_ERR_DECODE;
	raw->msg = msg;
	raw->fc_end = msg_len - tail;
	raw->auth_end = raw->fc_end + auth;
	return VL_OK;
}

int mls_public_open(const struct mls_framing *f, const struct vl_mls_public_message *pm,
                    const struct mls_raw_content *raw, const struct vl_sig_key *key)
{
	const struct vl_mls_framed_content *c = &pm->content;
	int rc = check_epoch(f, &c->group_id, c->epoch);
	if (rc != VL_OK)
		return rc;
	if (c->content_type == VL_MLS_CONTENT_APPLICATION)
		return VL_ERR_INVALID;
	/* TBS = version || wire_format || FramedContent || GroupContext (for
	 * member and new-member-commit senders); TBM = TBS || auth. */
	bool with_context = c->sender.type == VL_MLS_SENDER_MEMBER ||
	                    c->sender.type == VL_MLS_SENDER_NEW_MEMBER_COMMIT;
	struct vl_writer w;
	writer_init_hint(&w, MLS_TBS_MAX, raw->auth_end + 512);
	(void)!vl_write_fixed(&w, raw->msg, raw->fc_end);
	if (with_context)
		(void)!vl_mls_group_context_encode(&w, f->context);
	size_t tbs_len = w.len;
	rc = vl_write_fixed(&w, raw->msg + raw->fc_end, raw->auth_end - raw->fc_end);
	if (rc == VL_OK && c->sender.type == VL_MLS_SENDER_MEMBER) {
		uint8_t tag[VL_HASH_MAX];
		rc = vl_hmac(f->suite, f->membership_key, f->suite->hash_len, w.buf, w.len, tag);
		if (rc == VL_OK && (pm->membership_tag.len != f->suite->hash_len ||
		                    !vl_ct_equal(tag, pm->membership_tag.data, f->suite->hash_len)))
			rc = VL_ERR_CRYPTO;
	}
	if (rc == VL_OK)
		rc = vl_mls_verify_with_label_key(key, "FramedContentTBS", w.buf, tbs_len,
		                                  pm->auth.signature.data, pm->auth.signature.len);
	vl_writer_cleanup(&w);
	return rc;
}

int mls_transcript_confirmed_raw(const struct vl_suite *s, const uint8_t *interim_before,
                                 const struct mls_raw_content *raw,
                                 const struct vl_mls_bytes *signature, uint8_t out[VL_HASH_MAX])
{
	uint8_t prefix[4];
	struct vl_writer w;
	struct vl_hash_ctx *c;
	vl_writer_init_fixed(&w, prefix, sizeof prefix);
	int rc = vl_write_varint(&w, signature->len);
	if (rc != VL_OK)
		return rc;
	rc = vl_hash_ctx_new(s, &c);
	if (rc != VL_OK)
		return rc;
	if (interim_before)
		rc = vl_hash_ctx_update(c, interim_before, s->hash_len);
	/* wire_format || FramedContent: the message from its third byte. */
	if (rc == VL_OK)
		rc = vl_hash_ctx_update(c, raw->msg + 2, raw->fc_end - 2);
	if (rc == VL_OK)
		rc = vl_hash_ctx_update(c, prefix, w.len);
	if (rc == VL_OK && signature->len)
		rc = vl_hash_ctx_update(c, signature->data, signature->len);
	if (rc == VL_OK)
		rc = vl_hash_ctx_final(c, out);
	vl_hash_ctx_free(c);
	return rc;
}

static enum mls_ratchet_type ratchet_of(uint8_t content_type)
{
	return content_type == VL_MLS_CONTENT_APPLICATION ? MLS_RATCHET_APPLICATION
	                                                  : MLS_RATCHET_HANDSHAKE;
}

int mls_private_encode(const struct mls_framing *f, uint32_t leaf,
                       const struct vl_mls_framed_content *content,
                       const struct vl_mls_auth_data *auth, uint8_t **out, size_t *out_len)
{
	const struct vl_suite *s = f->suite;
	uint8_t key[VL_AEAD_KEY_MAX], nonce[VL_AEAD_NONCE_MAX];
	uint8_t sd_key[VL_AEAD_KEY_MAX], sd_nonce[VL_AEAD_NONCE_MAX];
	uint8_t sd_plain[VL_MLS_SENDER_DATA_LEN], sd_ct[VL_MLS_SENDER_DATA_LEN + VL_AEAD_TAG_LEN];
	struct vl_writer pw, aw;
	uint8_t *ct = NULL;
	*out = NULL;
	*out_len = 0;
	writer_init_hint(&pw, MLS_MAX_MESSAGE, content_hint(content, f) + f->padding_block);
	vl_writer_init_heap(&aw, MLS_TBS_MAX);

	struct vl_mls_private_content pc = {.content_type = content->content_type, .auth = *auth};
	switch (content->content_type) {
	case VL_MLS_CONTENT_APPLICATION:
		pc.application_data = content->application_data;
		break;
	case VL_MLS_CONTENT_PROPOSAL:
		pc.proposal = content->proposal;
		break;
	default:
		pc.commit = content->commit;
		break;
	}
	int rc = vl_mls_private_content_encode(&pw, &pc);
	/* §6.3.1: zero padding to a multiple of the block hides the length. */
	if (rc == VL_OK && f->padding_block > 1) {
		size_t pad = (f->padding_block - pw.len % f->padding_block) % f->padding_block;
		for (size_t i = 0; rc == VL_OK && i < pad; i++)
			rc = vl_write_u8(&pw, 0);
	}
	struct vl_mls_message m = {.version = VL_MLS_VERSION_MLS10,
	                           .wire_format = VL_MLS_WIRE_PRIVATE_MESSAGE};
	struct vl_mls_private_message *pm = &m.private_message;
	pm->group_id = content->group_id;
	pm->epoch = content->epoch;
	pm->content_type = content->content_type;
	pm->authenticated_data = content->authenticated_data;
	if (rc == VL_OK)
		rc = vl_mls_private_content_aad_encode(&aw, pm);
	struct vl_mls_sender_data sd = {.leaf_index = leaf};
	if (rc == VL_OK)
		rc = mls_secret_tree_next(f->secret_tree, leaf, ratchet_of(content->content_type),
		                          &sd.generation, key, nonce);
	if (rc == VL_OK)
		rc = vl_random(sd.reuse_guard, sizeof sd.reuse_guard);
	if (rc == VL_OK) {
		/* §6.3.1: the reuse guard masks the first four nonce bytes. */
		for (int i = 0; i < 4; i++)
			nonce[i] ^= sd.reuse_guard[i];
		ct = malloc(pw.len + VL_AEAD_TAG_LEN);
		rc = ct ? vl_aead_seal(s, key, nonce, aw.buf, aw.len, pw.buf, pw.len, ct)
		        : VL_ERR_NOMEM;
	}
	if (rc == VL_OK) {
		pm->ciphertext.data = ct;
		pm->ciphertext.len = pw.len + VL_AEAD_TAG_LEN;
		rc = mls_sender_data_key_nonce(s, f->sender_data_secret, ct, pm->ciphertext.len,
		                               sd_key, sd_nonce);
	}
	if (rc == VL_OK) {
		struct vl_writer sw;
		vl_writer_init_fixed(&sw, sd_plain, sizeof sd_plain);
		rc = vl_mls_sender_data_encode(&sw, &sd);
		aw.len = 0;
		if (rc == VL_OK)
			rc = vl_mls_sender_data_aad_encode(&aw, pm);
		if (rc == VL_OK)
			rc = vl_aead_seal(s, sd_key, sd_nonce, aw.buf, aw.len, sd_plain,
			                  sizeof sd_plain, sd_ct);
	}
	if (rc == VL_OK) {
		pm->encrypted_sender_data.data = sd_ct;
		pm->encrypted_sender_data.len = sizeof sd_ct;
		struct vl_writer mw;
		writer_init_hint(&mw, VL_MLS_MAX_ENCODED,
		                 pm->ciphertext.len + 256 + pm->group_id.len +
		                     pm->authenticated_data.len);
		rc = vl_mls_message_encode(&mw, &m);
		rc = rc == VL_OK ? vl_writer_take(&mw, out, out_len) : rc;
		vl_writer_cleanup(&mw);
	}
	vl_wipe(key, sizeof key);
	vl_wipe(nonce, sizeof nonce);
	vl_wipe(sd_key, sizeof sd_key);
	vl_wipe(sd_nonce, sizeof sd_nonce);
	vl_writer_cleanup(&pw);
	vl_writer_cleanup(&aw);
	free(ct);
	return rc;
}

int mls_private_decode(const struct mls_framing *f, const struct vl_mls_private_message *pm,
                       struct vl_mls_arena *arena, struct vl_mls_framed_content *content,
                       struct vl_mls_auth_data *auth, uint8_t **plain, size_t *plain_len)
{
	const struct vl_suite *s = f->suite;
	uint8_t key[VL_AEAD_KEY_MAX], nonce[VL_AEAD_NONCE_MAX];
	uint8_t sd_plain[VL_MLS_SENDER_DATA_LEN];
	struct vl_writer aw;
	uint8_t *pt = NULL;
	*plain = NULL;
	*plain_len = 0;
	int rc = check_epoch(f, &pm->group_id, pm->epoch);
	if (rc != VL_OK)
		return rc;
	if (pm->encrypted_sender_data.len != sizeof sd_plain + VL_AEAD_TAG_LEN ||
	    pm->ciphertext.len < VL_AEAD_TAG_LEN || pm->ciphertext.len > MLS_MAX_MESSAGE)
		return VL_ERR_CRYPTO;
	vl_writer_init_heap(&aw, MLS_TBS_MAX);
	rc = mls_sender_data_key_nonce(s, f->sender_data_secret, pm->ciphertext.data,
	                               pm->ciphertext.len, key, nonce);
	if (rc == VL_OK)
		rc = vl_mls_sender_data_aad_encode(&aw, pm);
	if (rc == VL_OK)
		rc = vl_aead_open(s, key, nonce, aw.buf, aw.len, pm->encrypted_sender_data.data,
		                  pm->encrypted_sender_data.len, sd_plain);
	struct vl_mls_sender_data sd;
	if (rc == VL_OK)
		rc = vl_mls_sender_data_parse(sd_plain, sizeof sd_plain, &sd);
	if (rc == VL_OK)
		rc = mls_secret_tree_get(f->secret_tree, sd.leaf_index,
		                         ratchet_of(pm->content_type), sd.generation, key, nonce);
	if (rc == VL_OK) {
		for (int i = 0; i < 4; i++)
			nonce[i] ^= sd.reuse_guard[i];
		aw.len = 0;
		rc = vl_mls_private_content_aad_encode(&aw, pm);
	}
	size_t pt_len = pm->ciphertext.len - VL_AEAD_TAG_LEN;
	if (rc == VL_OK) {
		/* malloc(0) may return NULL: keep at least one byte. */
		pt = malloc(pt_len ? pt_len : 1);
		rc = pt ? vl_aead_open(s, key, nonce, aw.buf, aw.len, pm->ciphertext.data,
		                       pm->ciphertext.len, pt)
		        : VL_ERR_NOMEM;
	}
	struct vl_mls_private_content pc;
	if (rc == VL_OK)
		rc = vl_mls_private_content_parse(pt, pt_len, pm->content_type, arena, &pc);
	if (rc == VL_OK) {
		memset(content, 0, sizeof *content);
		content->group_id = pm->group_id;
		content->epoch = pm->epoch;
		content->sender.type = VL_MLS_SENDER_MEMBER;
		content->sender.index = sd.leaf_index;
		content->authenticated_data = pm->authenticated_data;
		content->content_type = pm->content_type;
		switch (pm->content_type) {
		case VL_MLS_CONTENT_APPLICATION:
			content->application_data = pc.application_data;
			break;
		case VL_MLS_CONTENT_PROPOSAL:
			content->proposal = pc.proposal;
			break;
		default:
			content->commit = pc.commit;
			break;
		}
		*auth = pc.auth;
		*plain = pt;
		*plain_len = pt_len;
		pt = NULL;
	}
	if (pt) {
		vl_wipe(pt, pt_len);
		free(pt);
	}
	vl_wipe(key, sizeof key);
	vl_wipe(nonce, sizeof nonce);
	vl_wipe(sd_plain, sizeof sd_plain);
	vl_writer_cleanup(&aw);
	return rc;
}

int mls_transcript_update(const struct vl_suite *s, const uint8_t *interim_before,
                          uint16_t wire_format, const struct vl_mls_framed_content *content,
                          const struct vl_mls_auth_data *auth, uint8_t confirmed[VL_HASH_MAX],
                          uint8_t interim[VL_HASH_MAX])
{
	struct vl_writer w;
	if (content->content_type != VL_MLS_CONTENT_COMMIT)
		return VL_ERR_ARG;
	vl_writer_init_heap(&w, MLS_TBS_MAX);
	int rc =
	    vl_mls_confirmed_transcript_input_encode(&w, wire_format, content, &auth->signature);
	if (rc == VL_OK)
		rc = mls_transcript_confirmed(s, interim_before, w.buf, w.len, confirmed);
	if (rc == VL_OK)
		rc = mls_transcript_interim(s, confirmed, auth->confirmation_tag.data,
		                            auth->confirmation_tag.len, interim);
	vl_writer_cleanup(&w);
	return rc;
}
