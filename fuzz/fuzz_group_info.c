/* SPDX-License-Identifier: Apache-2.0 */
/* Decodes the input as a GroupInfo (RFC 9420 §12.4.3); what decodes must
 * re-encode to the same bytes, and its GroupInfoTBS must encode. The typed
 * extensions it carries (ratchet_tree, external_pub, external_senders, ...)
 * are decoded too and must re-encode to their extension_data. */
#include "fuzz_struct.h"

static void check_typed(const struct vl_mls_extension_list *list, struct vl_mls_arena *a)
{
	for (size_t i = 0; i < list->count; i++) {
		const struct vl_mls_extension *e = &list->items[i];
		struct vl_writer w;
		int rc = -1; /* -1: not parsed; else the encoder's status */
		fz_writer(&w);
		switch (e->type) {
		case VL_MLS_EXT_APPLICATION_ID:
		case VL_MLS_EXT_EXTERNAL_PUB: {
			struct vl_mls_bytes v;
			if (vl_mls_ext_application_id_parse(e, &v) == VL_OK)
				rc = vl_mls_ext_opaque_encode(&w, &v);
			break;
		}
		case VL_MLS_EXT_RATCHET_TREE: {
			struct vl_mls_ratchet_tree t;
			if (vl_mls_ext_ratchet_tree_parse(e, a, &t) == VL_OK)
				rc = vl_mls_ratchet_tree_encode(&w, &t);
			break;
		}
		case VL_MLS_EXT_REQUIRED_CAPABILITIES: {
			struct vl_mls_required_capabilities c;
			if (vl_mls_ext_required_capabilities_parse(e, a, &c) == VL_OK)
				rc = vl_mls_required_capabilities_encode(&w, &c);
			break;
		}
		case VL_MLS_EXT_EXTERNAL_SENDERS: {
			struct vl_mls_external_senders s;
			if (vl_mls_ext_external_senders_parse(e, a, &s) == VL_OK)
				rc = vl_mls_external_senders_encode(&w, &s);
			break;
		}
		default:
			break;
		}
		if (rc == -1)
			vl_writer_cleanup(&w);
		else
			fz_check(rc, &w, e->data.data, e->data.len);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vl_mls_arena a;
	struct vl_mls_group_info v;
	vl_mls_arena_init(&a, 0);
	if (vl_mls_group_info_parse(data, size, &a, &v) == VL_OK) {
		struct vl_writer w;
		fz_writer(&w);
		fz_check(vl_mls_group_info_encode(&w, &v), &w, data, size);
		fz_writer(&w);
		fz_must_encode(vl_mls_group_info_tbs_encode(&w, &v), &w);
		check_typed(&v.group_context.extensions, &a);
		check_typed(&v.extensions, &a);
	}
	vl_mls_arena_cleanup(&a);
	return 0;
}
