/* SPDX-License-Identifier: Apache-2.0 */
/* Decodes the input as an MLSMessage (RFC 9420 §6) of any wire format; what
 * decodes must re-encode to the same bytes, the clear-header peek must
 * agree with the full decode, and the signed and AAD encodings derived from
 * it must encode. */
#include "fuzz_struct.h"

static void check_peek(const uint8_t *data, size_t size, const struct vl_mls_message *m)
{
	struct vl_mls_peek pk;
	if (vl_mls_message_peek(data, size, &pk) != VL_OK || pk.wire_format != m->wire_format)
		abort();
	const struct vl_mls_bytes *gid = NULL;
	uint64_t epoch = 0;
	switch (m->wire_format) {
	case VL_MLS_WIRE_PUBLIC_MESSAGE:
		gid = &m->public_message.content.group_id;
		epoch = m->public_message.content.epoch;
		if (pk.content_type != m->public_message.content.content_type ||
		    pk.sender.type != m->public_message.content.sender.type ||
		    pk.sender.index != m->public_message.content.sender.index)
			abort();
		break;
	case VL_MLS_WIRE_PRIVATE_MESSAGE:
		gid = &m->private_message.group_id;
		epoch = m->private_message.epoch;
		if (pk.content_type != m->private_message.content_type)
			abort();
		break;
	case VL_MLS_WIRE_GROUP_INFO:
		gid = &m->group_info.group_context.group_id;
		epoch = m->group_info.group_context.epoch;
		if (pk.cipher_suite != m->group_info.group_context.cipher_suite)
			abort();
		break;
	case VL_MLS_WIRE_WELCOME:
		if (pk.cipher_suite != m->welcome.cipher_suite)
			abort();
		break;
	default:
		if (pk.cipher_suite != m->key_package.cipher_suite)
			abort();
		break;
	}
	if (gid &&
	    (pk.group_id.data != gid->data || pk.group_id.len != gid->len || pk.epoch != epoch))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vl_mls_arena a;
	struct vl_mls_message m;
	struct vl_mls_peek pk;
	vl_mls_arena_init(&a, 0);
	int rc = vl_mls_message_parse(data, size, &a, &m);
	int peek_rc = vl_mls_message_peek(data, size, &pk);
	if (rc == VL_OK) {
		struct vl_writer w;
		fz_writer(&w);
		fz_check(vl_mls_message_encode(&w, &m), &w, data, size);
		check_peek(data, size, &m);
		if (m.wire_format == VL_MLS_WIRE_PUBLIC_MESSAGE) {
			const struct vl_mls_public_message *p = &m.public_message;
			struct vl_mls_group_context gc = {.version = 1, .cipher_suite = 1};
			fz_writer(&w);
			fz_must_encode(vl_mls_content_tbm_encode(&w, &p->content, &p->auth, &gc),
			               &w);
			fz_writer(&w);
			fz_must_encode(vl_mls_confirmed_transcript_input_encode(
			                   &w, m.wire_format, &p->content, &p->auth.signature),
			               &w);
		} else if (m.wire_format == VL_MLS_WIRE_PRIVATE_MESSAGE) {
			fz_writer(&w);
			fz_must_encode(vl_mls_private_content_aad_encode(&w, &m.private_message),
			               &w);
			fz_writer(&w);
			fz_must_encode(vl_mls_sender_data_aad_encode(&w, &m.private_message), &w);
		}
	} else if (rc == VL_ERR_UNSUPPORTED && peek_rc != VL_ERR_UNSUPPORTED) {
		/* Versions and wire formats are judged alike by both paths. */
		abort();
	}
	vl_mls_arena_cleanup(&a);
	return 0;
}
