/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Proposals, commits, message framing and the join structures of RFC 9420
 * (§6 framing, §12.1 proposals, §12.4 commits, group info and welcome),
 * the encodings that are signed, MACed, hashed or used as AEAD data, and the
 * cheap peek at an MLSMessage's clear header for the delivery service.
 */
#include "mls/struct/struct_int.h"

#include <string.h>

/* --- Proposals -------------------------------------------------------- */

static int reinit_decode(struct vl_reader *r, struct vl_mls_arena *a, struct vl_mls_reinit *out)
{
	VLM_TRY(vlm_read_bytes(r, &out->group_id));
	VLM_TRY(vl_read_u16(r, &out->version));
	VLM_TRY(vl_read_u16(r, &out->cipher_suite));
	/* Reserved values (§17.1); a future version is the engine's call. */
	if (out->version == 0 || out->cipher_suite == 0)
		return vlm_rfail(r, VL_ERR_DECODE);
	return vl_mls_extension_list_decode(r, a, &out->extensions);
}

int vl_mls_proposal_body_decode(struct vl_reader *r, struct vl_mls_arena *a, uint16_t type,
                                struct vl_mls_proposal *out)
{
	memset(out, 0, sizeof *out);
	out->type = type;
	switch (type) {
	case 0:
		return vlm_rfail(r, VL_ERR_DECODE);
	case VL_MLS_PROPOSAL_ADD:
		return vl_mls_key_package_decode(r, a, &out->add);
	case VL_MLS_PROPOSAL_UPDATE:
		return vl_mls_leaf_node_decode(r, a, &out->update);
	case VL_MLS_PROPOSAL_REMOVE:
		return vl_read_u32(r, &out->remove);
	case VL_MLS_PROPOSAL_PSK:
		return vl_mls_psk_id_decode(r, a, &out->psk);
	case VL_MLS_PROPOSAL_REINIT:
		return reinit_decode(r, a, &out->reinit);
	case VL_MLS_PROPOSAL_EXTERNAL_INIT:
		return vlm_read_bytes(r, &out->external_init);
	case VL_MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS:
		return vl_mls_extension_list_decode(r, a, &out->group_context_extensions);
	default:
		/* A type defined elsewhere (§13.2): body kept as one opaque<V>. */
		return vlm_read_bytes(r, &out->unknown);
	}
}

int vl_mls_proposal_body_encode(struct vl_writer *w, const struct vl_mls_proposal *in)
{
	switch (in->type) {
	case 0:
		return vlm_wfail(w, VL_ERR_ARG);
	case VL_MLS_PROPOSAL_ADD:
		return vl_mls_key_package_encode(w, &in->add);
	case VL_MLS_PROPOSAL_UPDATE:
		return vl_mls_leaf_node_encode(w, &in->update);
	case VL_MLS_PROPOSAL_REMOVE:
		return vl_write_u32(w, in->remove);
	case VL_MLS_PROPOSAL_PSK:
		return vl_mls_psk_id_encode(w, &in->psk);
	case VL_MLS_PROPOSAL_REINIT:
		if (in->reinit.version == 0 || in->reinit.cipher_suite == 0)
			return vlm_wfail(w, VL_ERR_ARG);
		vlm_sticky(vlm_write_bytes(w, &in->reinit.group_id));
		vlm_sticky(vl_write_u16(w, in->reinit.version));
		vlm_sticky(vl_write_u16(w, in->reinit.cipher_suite));
		return vl_mls_extension_list_encode(w, &in->reinit.extensions);
	case VL_MLS_PROPOSAL_EXTERNAL_INIT:
		return vlm_write_bytes(w, &in->external_init);
	case VL_MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS:
		return vl_mls_extension_list_encode(w, &in->group_context_extensions);
	default:
		return vlm_write_bytes(w, &in->unknown);
	}
}

int vl_mls_proposal_decode(struct vl_reader *r, struct vl_mls_arena *a, struct vl_mls_proposal *out)
{
	uint16_t type;
	memset(out, 0, sizeof *out);
	VLM_TRY(vl_read_u16(r, &type));
	return vl_mls_proposal_body_decode(r, a, type, out);
}

int vl_mls_proposal_encode(struct vl_writer *w, const struct vl_mls_proposal *in)
{
	if (in->type == 0)
		return vlm_wfail(w, VL_ERR_ARG);
	vlm_sticky(vl_write_u16(w, in->type));
	return vl_mls_proposal_body_encode(w, in);
}

int vl_mls_proposal_or_ref_decode(struct vl_reader *r, struct vl_mls_arena *a,
                                  struct vl_mls_proposal_or_ref *out)
{
	memset(out, 0, sizeof *out);
	VLM_TRY(vl_read_u8(r, &out->type));
	switch (out->type) {
	case VL_MLS_POR_PROPOSAL:
		return vl_mls_proposal_decode(r, a, &out->proposal);
	case VL_MLS_POR_REFERENCE:
		return vlm_read_bytes(r, &out->reference);
	default:
		return vlm_rfail(r, VL_ERR_DECODE);
	}
}

int vl_mls_proposal_or_ref_encode(struct vl_writer *w, const struct vl_mls_proposal_or_ref *in)
{
	switch (in->type) {
	case VL_MLS_POR_PROPOSAL:
		vlm_sticky(vl_write_u8(w, in->type));
		return vl_mls_proposal_encode(w, &in->proposal);
	case VL_MLS_POR_REFERENCE:
		vlm_sticky(vl_write_u8(w, in->type));
		return vlm_write_bytes(w, &in->reference);
	default:
		return vlm_wfail(w, VL_ERR_ARG);
	}
}

VLM_VOID_ADAPTERS(proposal_or_ref, struct vl_mls_proposal_or_ref)

int vl_mls_commit_decode(struct vl_reader *r, struct vl_mls_arena *a, struct vl_mls_commit *out)
{
	const void *items;
	memset(out, 0, sizeof *out);
	VLM_TRY(vlm_read_vec(r, a, sizeof(struct vl_mls_proposal_or_ref), VL_MLS_MAX_LEAVES,
	                     proposal_or_ref_dec_v, &items, &out->proposal_count));
	out->proposals = items;
	VLM_TRY(vl_read_optional(r, &out->has_path));
	if (out->has_path)
		return vl_mls_update_path_decode(r, a, &out->path);
	return VL_OK;
}

int vl_mls_commit_encode(struct vl_writer *w, const struct vl_mls_commit *in)
{
	vlm_sticky(vlm_write_vec(w, in->proposals, in->proposal_count, sizeof *in->proposals,
	                         VL_MLS_MAX_LEAVES, proposal_or_ref_enc_v));
	vlm_sticky(vl_write_optional(w, in->has_path));
	if (in->has_path)
		return vl_mls_update_path_encode(w, &in->path);
	return w->err;
}

/* --- Framing ---------------------------------------------------------- */

int vl_mls_sender_decode(struct vl_reader *r, struct vl_mls_arena *a, struct vl_mls_sender *out)
{
	(void)a;
	memset(out, 0, sizeof *out);
	VLM_TRY(vl_read_u8(r, &out->type));
	switch (out->type) {
	case VL_MLS_SENDER_MEMBER:
	case VL_MLS_SENDER_EXTERNAL:
		return vl_read_u32(r, &out->index);
	case VL_MLS_SENDER_NEW_MEMBER_PROPOSAL:
	case VL_MLS_SENDER_NEW_MEMBER_COMMIT:
		return VL_OK;
	default:
		return vlm_rfail(r, VL_ERR_DECODE);
	}
}

int vl_mls_sender_encode(struct vl_writer *w, const struct vl_mls_sender *in)
{
	switch (in->type) {
	case VL_MLS_SENDER_MEMBER:
	case VL_MLS_SENDER_EXTERNAL:
		vlm_sticky(vl_write_u8(w, in->type));
		return vl_write_u32(w, in->index);
	case VL_MLS_SENDER_NEW_MEMBER_PROPOSAL:
	case VL_MLS_SENDER_NEW_MEMBER_COMMIT:
		return vl_write_u8(w, in->type);
	default:
		return vlm_wfail(w, VL_ERR_ARG);
	}
}

int vl_mls_group_context_decode(struct vl_reader *r, struct vl_mls_arena *a,
                                struct vl_mls_group_context *out)
{
	memset(out, 0, sizeof *out);
	VLM_TRY(vl_read_u16(r, &out->version));
	/* §8.1: version = mls10. */
	if (out->version == 0)
		return vlm_rfail(r, VL_ERR_DECODE);
	if (out->version != VL_MLS_VERSION_MLS10)
		return vlm_rfail(r, VL_ERR_UNSUPPORTED);
	VLM_TRY(vl_read_u16(r, &out->cipher_suite));
	if (out->cipher_suite == 0)
		return vlm_rfail(r, VL_ERR_DECODE);
	VLM_TRY(vlm_read_bytes(r, &out->group_id));
	VLM_TRY(vl_read_u64(r, &out->epoch));
	VLM_TRY(vlm_read_bytes(r, &out->tree_hash));
	VLM_TRY(vlm_read_bytes(r, &out->confirmed_transcript_hash));
	return vl_mls_extension_list_decode(r, a, &out->extensions);
}

int vl_mls_group_context_encode(struct vl_writer *w, const struct vl_mls_group_context *in)
{
	if (in->version != VL_MLS_VERSION_MLS10 || in->cipher_suite == 0)
		return vlm_wfail(w, VL_ERR_ARG);
	vlm_sticky(vl_write_u16(w, in->version));
	vlm_sticky(vl_write_u16(w, in->cipher_suite));
	vlm_sticky(vlm_write_bytes(w, &in->group_id));
	vlm_sticky(vl_write_u64(w, in->epoch));
	vlm_sticky(vlm_write_bytes(w, &in->tree_hash));
	vlm_sticky(vlm_write_bytes(w, &in->confirmed_transcript_hash));
	return vl_mls_extension_list_encode(w, &in->extensions);
}

static bool content_type_ok(uint8_t t)
{
	return t >= VL_MLS_CONTENT_APPLICATION && t <= VL_MLS_CONTENT_COMMIT;
}

/* The select on content_type shared by FramedContent and
 * PrivateMessageContent. body points at the union of either struct, whose
 * members are laid out alike. */
static int content_body_decode(struct vl_reader *r, struct vl_mls_arena *a, uint8_t type,
                               struct vl_mls_bytes *app, struct vl_mls_proposal *prop,
                               struct vl_mls_commit *commit)
{
	switch (type) {
	case VL_MLS_CONTENT_APPLICATION:
		return vlm_read_bytes(r, app);
	case VL_MLS_CONTENT_PROPOSAL:
		return vl_mls_proposal_decode(r, a, prop);
	case VL_MLS_CONTENT_COMMIT:
		return vl_mls_commit_decode(r, a, commit);
	default:
		return vlm_rfail(r, VL_ERR_DECODE);
	}
}

static int content_body_encode(struct vl_writer *w, uint8_t type, const struct vl_mls_bytes *app,
                               const struct vl_mls_proposal *prop,
                               const struct vl_mls_commit *commit)
{
	switch (type) {
	case VL_MLS_CONTENT_APPLICATION:
		return vlm_write_bytes(w, app);
	case VL_MLS_CONTENT_PROPOSAL:
		return vl_mls_proposal_encode(w, prop);
	case VL_MLS_CONTENT_COMMIT:
		return vl_mls_commit_encode(w, commit);
	default:
		return vlm_wfail(w, VL_ERR_ARG);
	}
}

int vl_mls_framed_content_decode(struct vl_reader *r, struct vl_mls_arena *a,
                                 struct vl_mls_framed_content *out)
{
	memset(out, 0, sizeof *out);
	VLM_TRY(vlm_read_bytes(r, &out->group_id));
	VLM_TRY(vl_read_u64(r, &out->epoch));
	VLM_TRY(vl_mls_sender_decode(r, a, &out->sender));
	VLM_TRY(vlm_read_bytes(r, &out->authenticated_data));
	VLM_TRY(vl_read_u8(r, &out->content_type));
	return content_body_decode(r, a, out->content_type, &out->application_data, &out->proposal,
	                           &out->commit);
}

int vl_mls_framed_content_encode(struct vl_writer *w, const struct vl_mls_framed_content *in)
{
	if (!content_type_ok(in->content_type))
		return vlm_wfail(w, VL_ERR_ARG);
	vlm_sticky(vlm_write_bytes(w, &in->group_id));
	vlm_sticky(vl_write_u64(w, in->epoch));
	vlm_sticky(vl_mls_sender_encode(w, &in->sender));
	vlm_sticky(vlm_write_bytes(w, &in->authenticated_data));
	vlm_sticky(vl_write_u8(w, in->content_type));
	return content_body_encode(w, in->content_type, &in->application_data, &in->proposal,
	                           &in->commit);
}

int vlm_auth_data_decode(struct vl_reader *r, uint8_t content_type, struct vl_mls_auth_data *out)
{
	memset(out, 0, sizeof *out);
	VLM_TRY(vlm_read_bytes(r, &out->signature));
	/* §6.1: only commits carry a confirmation tag. */
	if (content_type == VL_MLS_CONTENT_COMMIT)
		return vlm_read_bytes(r, &out->confirmation_tag);
	return VL_OK;
}

int vlm_auth_data_encode(struct vl_writer *w, uint8_t content_type,
                         const struct vl_mls_auth_data *in)
{
	vlm_sticky(vlm_write_bytes(w, &in->signature));
	if (content_type == VL_MLS_CONTENT_COMMIT)
		return vlm_write_bytes(w, &in->confirmation_tag);
	return w->err;
}

static bool framed_wire_format_ok(uint16_t wf)
{
	return wf == VL_MLS_WIRE_PUBLIC_MESSAGE || wf == VL_MLS_WIRE_PRIVATE_MESSAGE;
}

int vl_mls_authenticated_content_decode(struct vl_reader *r, struct vl_mls_arena *a,
                                        struct vl_mls_authenticated_content *out)
{
	memset(out, 0, sizeof *out);
	VLM_TRY(vl_read_u16(r, &out->wire_format));
	/* Framed content only exists in the two message wire formats. */
	if (!framed_wire_format_ok(out->wire_format))
		return vlm_rfail(r, VL_ERR_DECODE);
	VLM_TRY(vl_mls_framed_content_decode(r, a, &out->content));
	return vlm_auth_data_decode(r, out->content.content_type, &out->auth);
}

int vl_mls_authenticated_content_encode(struct vl_writer *w,
                                        const struct vl_mls_authenticated_content *in)
{
	if (!framed_wire_format_ok(in->wire_format))
		return vlm_wfail(w, VL_ERR_ARG);
	vlm_sticky(vl_write_u16(w, in->wire_format));
	vlm_sticky(vl_mls_framed_content_encode(w, &in->content));
	return vlm_auth_data_encode(w, in->content.content_type, &in->auth);
}

int vl_mls_public_message_decode(struct vl_reader *r, struct vl_mls_arena *a,
                                 struct vl_mls_public_message *out)
{
	memset(out, 0, sizeof *out);
	VLM_TRY(vl_mls_framed_content_decode(r, a, &out->content));
	VLM_TRY(vlm_auth_data_decode(r, out->content.content_type, &out->auth));
	/* §6.2: only member senders carry a membership tag. */
	if (out->content.sender.type == VL_MLS_SENDER_MEMBER)
		return vlm_read_bytes(r, &out->membership_tag);
	return VL_OK;
}

int vl_mls_public_message_encode(struct vl_writer *w, const struct vl_mls_public_message *in)
{
	vlm_sticky(vl_mls_framed_content_encode(w, &in->content));
	vlm_sticky(vlm_auth_data_encode(w, in->content.content_type, &in->auth));
	if (in->content.sender.type == VL_MLS_SENDER_MEMBER)
		return vlm_write_bytes(w, &in->membership_tag);
	return w->err;
}

int vl_mls_private_message_decode(struct vl_reader *r, struct vl_mls_arena *a,
                                  struct vl_mls_private_message *out)
{
	(void)a;
	memset(out, 0, sizeof *out);
	VLM_TRY(vlm_read_bytes(r, &out->group_id));
	VLM_TRY(vl_read_u64(r, &out->epoch));
	VLM_TRY(vl_read_u8(r, &out->content_type));
	if (!content_type_ok(out->content_type))
		return vlm_rfail(r, VL_ERR_DECODE);
	VLM_TRY(vlm_read_bytes(r, &out->authenticated_data));
	VLM_TRY(vlm_read_bytes(r, &out->encrypted_sender_data));
	return vlm_read_bytes(r, &out->ciphertext);
}

/* The first three fields, shared by the message and both AAD structures. */
static int private_header_encode(struct vl_writer *w, const struct vl_mls_private_message *in)
{
	if (!content_type_ok(in->content_type))
		return vlm_wfail(w, VL_ERR_ARG);
	vlm_sticky(vlm_write_bytes(w, &in->group_id));
	vlm_sticky(vl_write_u64(w, in->epoch));
	return vl_write_u8(w, in->content_type);
}

int vl_mls_private_message_encode(struct vl_writer *w, const struct vl_mls_private_message *in)
{
	(void)private_header_encode(w, in);
	vlm_sticky(vlm_write_bytes(w, &in->authenticated_data));
	vlm_sticky(vlm_write_bytes(w, &in->encrypted_sender_data));
	return vlm_write_bytes(w, &in->ciphertext);
}

int vl_mls_private_content_aad_encode(struct vl_writer *w, const struct vl_mls_private_message *pm)
{
	(void)private_header_encode(w, pm);
	return vlm_write_bytes(w, &pm->authenticated_data);
}

int vl_mls_sender_data_aad_encode(struct vl_writer *w, const struct vl_mls_private_message *pm)
{
	return private_header_encode(w, pm);
}

int vl_mls_private_content_parse(const uint8_t *buf, size_t len, uint8_t content_type,
                                 struct vl_mls_arena *a, struct vl_mls_private_content *out)
{
	struct vl_reader r;
	memset(out, 0, sizeof *out);
	vl_reader_init(&r, buf, len);
	out->content_type = content_type;
	VLM_TRY(content_body_decode(&r, a, content_type, &out->application_data, &out->proposal,
	                            &out->commit));
	VLM_TRY(vlm_auth_data_decode(&r, content_type, &out->auth));
	/* §6.3.1: whatever follows is padding and MUST be all zero. The
	 * check reads every byte to keep its time independent of where a
	 * non-zero byte is. */
	uint8_t acc = 0;
	for (size_t i = r.pos; i < len; i++)
		acc |= buf[i];
	if (acc)
		return VL_ERR_DECODE;
	out->padding_len = len - r.pos;
	return VL_OK;
}

int vl_mls_private_content_encode(struct vl_writer *w, const struct vl_mls_private_content *in)
{
	(void)content_body_encode(w, in->content_type, &in->application_data, &in->proposal,
	                          &in->commit);
	vlm_sticky(vlm_auth_data_encode(w, in->content_type, &in->auth));
	static const uint8_t zeros[256];
	for (size_t left = in->padding_len; left > 0 && !w->err;) {
		size_t n = left < sizeof zeros ? left : sizeof zeros;
		vlm_sticky(vl_write_fixed(w, zeros, n));
		left -= n;
	}
	return w->err;
}

int vl_mls_sender_data_parse(const uint8_t *buf, size_t len, struct vl_mls_sender_data *out)
{
	struct vl_reader r;
	memset(out, 0, sizeof *out);
	vl_reader_init(&r, buf, len);
	VLM_TRY(vl_read_u32(&r, &out->leaf_index));
	VLM_TRY(vl_read_u32(&r, &out->generation));
	VLM_TRY(vl_read_copy(&r, out->reuse_guard, sizeof out->reuse_guard));
	return vl_reader_finish(&r);
}

int vl_mls_sender_data_encode(struct vl_writer *w, const struct vl_mls_sender_data *in)
{
	vlm_sticky(vl_write_u32(w, in->leaf_index));
	vlm_sticky(vl_write_u32(w, in->generation));
	return vl_write_fixed(w, in->reuse_guard, sizeof in->reuse_guard);
}

/* --- Signed, MACed and hashed inputs ---------------------------------- */

static bool sender_needs_context(uint8_t type)
{
	return type == VL_MLS_SENDER_MEMBER || type == VL_MLS_SENDER_NEW_MEMBER_COMMIT;
}

int vl_mls_framed_content_tbs_encode(struct vl_writer *w, uint16_t wire_format,
                                     const struct vl_mls_framed_content *content,
                                     const struct vl_mls_group_context *context)
{
	bool need = sender_needs_context(content->sender.type);
	if (!framed_wire_format_ok(wire_format) || (need && !context))
		return vlm_wfail(w, VL_ERR_ARG);
	vlm_sticky(vl_write_u16(w, VL_MLS_VERSION_MLS10));
	vlm_sticky(vl_write_u16(w, wire_format));
	vlm_sticky(vl_mls_framed_content_encode(w, content));
	/* §6.1: members and new members committing bind the group context. */
	if (need)
		return vl_mls_group_context_encode(w, context);
	return w->err;
}

int vl_mls_content_tbm_encode(struct vl_writer *w, const struct vl_mls_framed_content *content,
                              const struct vl_mls_auth_data *auth,
                              const struct vl_mls_group_context *context)
{
	vlm_sticky(
	    vl_mls_framed_content_tbs_encode(w, VL_MLS_WIRE_PUBLIC_MESSAGE, content, context));
	return vlm_auth_data_encode(w, content->content_type, auth);
}

int vl_mls_confirmed_transcript_input_encode(struct vl_writer *w, uint16_t wire_format,
                                             const struct vl_mls_framed_content *content,
                                             const struct vl_mls_bytes *signature)
{
	if (!framed_wire_format_ok(wire_format))
		return vlm_wfail(w, VL_ERR_ARG);
	vlm_sticky(vl_write_u16(w, wire_format));
	vlm_sticky(vl_mls_framed_content_encode(w, content));
	return vlm_write_bytes(w, signature);
}

int vl_mls_interim_transcript_input_encode(struct vl_writer *w, const struct vl_mls_bytes *tag)
{
	return vlm_write_bytes(w, tag);
}

/* --- GroupInfo, GroupSecrets, Welcome --------------------------------- */

int vl_mls_group_info_decode(struct vl_reader *r, struct vl_mls_arena *a,
                             struct vl_mls_group_info *out)
{
	memset(out, 0, sizeof *out);
	VLM_TRY(vl_mls_group_context_decode(r, a, &out->group_context));
	VLM_TRY(vl_mls_extension_list_decode(r, a, &out->extensions));
	VLM_TRY(vlm_read_bytes(r, &out->confirmation_tag));
	VLM_TRY(vl_read_u32(r, &out->signer));
	return vlm_read_bytes(r, &out->signature);
}

int vl_mls_group_info_tbs_encode(struct vl_writer *w, const struct vl_mls_group_info *gi)
{
	vlm_sticky(vl_mls_group_context_encode(w, &gi->group_context));
	vlm_sticky(vl_mls_extension_list_encode(w, &gi->extensions));
	vlm_sticky(vlm_write_bytes(w, &gi->confirmation_tag));
	return vl_write_u32(w, gi->signer);
}

int vl_mls_group_info_encode(struct vl_writer *w, const struct vl_mls_group_info *in)
{
	vlm_sticky(vl_mls_group_info_tbs_encode(w, in));
	return vlm_write_bytes(w, &in->signature);
}

VLM_VOID_ADAPTERS(psk_id, struct vl_mls_psk_id)

int vl_mls_group_secrets_decode(struct vl_reader *r, struct vl_mls_arena *a,
                                struct vl_mls_group_secrets *out)
{
	const void *items;
	memset(out, 0, sizeof *out);
	VLM_TRY(vlm_read_bytes(r, &out->joiner_secret));
	VLM_TRY(vl_read_optional(r, &out->has_path_secret));
	if (out->has_path_secret)
		VLM_TRY(vlm_read_bytes(r, &out->path_secret));
	VLM_TRY(vlm_read_vec(r, a, sizeof(struct vl_mls_psk_id), VL_MLS_MAX_PSKS, psk_id_dec_v,
	                     &items, &out->psk_count));
	out->psks = items;
	return VL_OK;
}

int vl_mls_group_secrets_encode(struct vl_writer *w, const struct vl_mls_group_secrets *in)
{
	vlm_sticky(vlm_write_bytes(w, &in->joiner_secret));
	vlm_sticky(vl_write_optional(w, in->has_path_secret));
	if (in->has_path_secret)
		vlm_sticky(vlm_write_bytes(w, &in->path_secret));
	return vlm_write_vec(w, in->psks, in->psk_count, sizeof *in->psks, VL_MLS_MAX_PSKS,
	                     psk_id_enc_v);
}

static int egs_decode(struct vl_reader *r, struct vl_mls_arena *a, void *p)
{
	struct vl_mls_encrypted_group_secrets *s = p;
	memset(s, 0, sizeof *s);
	VLM_TRY(vlm_read_bytes(r, &s->new_member));
	return vl_mls_hpke_ciphertext_decode(r, a, &s->encrypted_group_secrets);
}

static int egs_encode(struct vl_writer *w, const void *p)
{
	const struct vl_mls_encrypted_group_secrets *s = p;
	vlm_sticky(vlm_write_bytes(w, &s->new_member));
	return vl_mls_hpke_ciphertext_encode(w, &s->encrypted_group_secrets);
}

int vl_mls_welcome_decode(struct vl_reader *r, struct vl_mls_arena *a, struct vl_mls_welcome *out)
{
	const void *items;
	memset(out, 0, sizeof *out);
	VLM_TRY(vl_read_u16(r, &out->cipher_suite));
	if (out->cipher_suite == 0)
		return vlm_rfail(r, VL_ERR_DECODE);
	VLM_TRY(vlm_read_vec(r, a, sizeof(struct vl_mls_encrypted_group_secrets), VL_MLS_MAX_LEAVES,
	                     egs_decode, &items, &out->secret_count));
	out->secrets = items;
	return vlm_read_bytes(r, &out->encrypted_group_info);
}

int vl_mls_welcome_encode(struct vl_writer *w, const struct vl_mls_welcome *in)
{
	if (in->cipher_suite == 0)
		return vlm_wfail(w, VL_ERR_ARG);
	vlm_sticky(vl_write_u16(w, in->cipher_suite));
	vlm_sticky(vlm_write_vec(w, in->secrets, in->secret_count, sizeof *in->secrets,
	                         VL_MLS_MAX_LEAVES, egs_encode));
	return vlm_write_bytes(w, &in->encrypted_group_info);
}

/* --- MLSMessage ------------------------------------------------------- */

/* §6 and §17.2: version must be mls10 and the wire format one this code
 * can lay out; 0 is reserved in both registries. */
static int message_header_check(struct vl_reader *r, uint16_t version, uint16_t wire_format)
{
	if (version == 0 || wire_format == 0)
		return vlm_rfail(r, VL_ERR_DECODE);
	if (version != VL_MLS_VERSION_MLS10 || wire_format > VL_MLS_WIRE_KEY_PACKAGE)
		return vlm_rfail(r, VL_ERR_UNSUPPORTED);
	return VL_OK;
}

int vl_mls_message_decode(struct vl_reader *r, struct vl_mls_arena *a, struct vl_mls_message *out)
{
	memset(out, 0, sizeof *out);
	VLM_TRY(vl_read_u16(r, &out->version));
	VLM_TRY(vl_read_u16(r, &out->wire_format));
	VLM_TRY(message_header_check(r, out->version, out->wire_format));
	switch (out->wire_format) {
	case VL_MLS_WIRE_PUBLIC_MESSAGE:
		return vl_mls_public_message_decode(r, a, &out->public_message);
	case VL_MLS_WIRE_PRIVATE_MESSAGE:
		return vl_mls_private_message_decode(r, a, &out->private_message);
	case VL_MLS_WIRE_WELCOME:
		return vl_mls_welcome_decode(r, a, &out->welcome);
	case VL_MLS_WIRE_GROUP_INFO:
		return vl_mls_group_info_decode(r, a, &out->group_info);
	default:
		VLM_TRY(vl_mls_key_package_decode(r, a, &out->key_package));
		/* §10: a KeyPackage in an MLSMessage repeats its version. */
		if (out->key_package.version != out->version)
			return vlm_rfail(r, VL_ERR_INVALID);
		return VL_OK;
	}
}

int vl_mls_message_encode(struct vl_writer *w, const struct vl_mls_message *in)
{
	if (in->version != VL_MLS_VERSION_MLS10)
		return vlm_wfail(w, VL_ERR_ARG);
	switch (in->wire_format) {
	case VL_MLS_WIRE_PUBLIC_MESSAGE:
	case VL_MLS_WIRE_PRIVATE_MESSAGE:
	case VL_MLS_WIRE_WELCOME:
	case VL_MLS_WIRE_GROUP_INFO:
		break;
	case VL_MLS_WIRE_KEY_PACKAGE:
		if (in->key_package.version != in->version)
			return vlm_wfail(w, VL_ERR_ARG);
		break;
	default:
		return vlm_wfail(w, VL_ERR_ARG);
	}
	vlm_sticky(vl_write_u16(w, in->version));
	vlm_sticky(vl_write_u16(w, in->wire_format));
	switch (in->wire_format) {
	case VL_MLS_WIRE_PUBLIC_MESSAGE:
		return vl_mls_public_message_encode(w, &in->public_message);
	case VL_MLS_WIRE_PRIVATE_MESSAGE:
		return vl_mls_private_message_encode(w, &in->private_message);
	case VL_MLS_WIRE_WELCOME:
		return vl_mls_welcome_encode(w, &in->welcome);
	case VL_MLS_WIRE_GROUP_INFO:
		return vl_mls_group_info_encode(w, &in->group_info);
	default:
		return vl_mls_key_package_encode(w, &in->key_package);
	}
}

int vl_mls_message_peek(const uint8_t *buf, size_t len, struct vl_mls_peek *out)
{
	struct vl_reader r;
	uint16_t version;
	memset(out, 0, sizeof *out);
	vl_reader_init(&r, buf, len);
	VLM_TRY(vl_read_u16(&r, &version));
	VLM_TRY(vl_read_u16(&r, &out->wire_format));
	VLM_TRY(message_header_check(&r, version, out->wire_format));
	switch (out->wire_format) {
	case VL_MLS_WIRE_PUBLIC_MESSAGE: {
		struct vl_mls_bytes skip;
		VLM_TRY(vlm_read_bytes(&r, &out->group_id));
		VLM_TRY(vl_read_u64(&r, &out->epoch));
		VLM_TRY(vl_mls_sender_decode(&r, NULL, &out->sender));
		VLM_TRY(vlm_read_bytes(&r, &skip));
		VLM_TRY(vl_read_u8(&r, &out->content_type));
		break;
	}
	case VL_MLS_WIRE_PRIVATE_MESSAGE:
		VLM_TRY(vlm_read_bytes(&r, &out->group_id));
		VLM_TRY(vl_read_u64(&r, &out->epoch));
		VLM_TRY(vl_read_u8(&r, &out->content_type));
		break;
	case VL_MLS_WIRE_GROUP_INFO: {
		uint16_t gc_version;
		VLM_TRY(vl_read_u16(&r, &gc_version));
		if (gc_version != VL_MLS_VERSION_MLS10)
			return gc_version ? VL_ERR_UNSUPPORTED : VL_ERR_DECODE;
		VLM_TRY(vl_read_u16(&r, &out->cipher_suite));
		VLM_TRY(vlm_read_bytes(&r, &out->group_id));
		VLM_TRY(vl_read_u64(&r, &out->epoch));
		break;
	}
	case VL_MLS_WIRE_WELCOME:
		VLM_TRY(vl_read_u16(&r, &out->cipher_suite));
		break;
	default: {
		uint16_t kp_version;
		VLM_TRY(vl_read_u16(&r, &kp_version));
		if (kp_version != version)
			return kp_version ? VL_ERR_INVALID : VL_ERR_DECODE;
		VLM_TRY(vl_read_u16(&r, &out->cipher_suite));
		break;
	}
	}
	if ((out->wire_format == VL_MLS_WIRE_PUBLIC_MESSAGE ||
	     out->wire_format == VL_MLS_WIRE_PRIVATE_MESSAGE) &&
	    !content_type_ok(out->content_type))
		return VL_ERR_DECODE;
	if (out->wire_format >= VL_MLS_WIRE_WELCOME && out->cipher_suite == 0)
		return VL_ERR_DECODE;
	return VL_OK;
}

VLM_DEFINE_WHOLE(proposal, struct vl_mls_proposal)
VLM_DEFINE_WHOLE(proposal_or_ref, struct vl_mls_proposal_or_ref)
VLM_DEFINE_WHOLE(commit, struct vl_mls_commit)
VLM_DEFINE_WHOLE(sender, struct vl_mls_sender)
VLM_DEFINE_WHOLE(group_context, struct vl_mls_group_context)
VLM_DEFINE_WHOLE(framed_content, struct vl_mls_framed_content)
VLM_DEFINE_WHOLE(authenticated_content, struct vl_mls_authenticated_content)
VLM_DEFINE_WHOLE(public_message, struct vl_mls_public_message)
VLM_DEFINE_WHOLE(private_message, struct vl_mls_private_message)
VLM_DEFINE_WHOLE(group_info, struct vl_mls_group_info)
VLM_DEFINE_WHOLE(group_secrets, struct vl_mls_group_secrets)
VLM_DEFINE_WHOLE(welcome, struct vl_mls_welcome)
VLM_DEFINE_WHOLE(message, struct vl_mls_message)
