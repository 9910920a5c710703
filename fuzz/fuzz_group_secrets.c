/* SPDX-License-Identifier: Apache-2.0 */
/* Decodes the input as a GroupSecrets (RFC 9420 §12.4.3.1); what decodes
 * must re-encode to the same bytes. */
#include "fuzz_struct.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vl_mls_arena a;
	struct vl_mls_group_secrets v;
	vl_mls_arena_init(&a, 0);
	if (vl_mls_group_secrets_parse(data, size, &a, &v) == VL_OK) {
		struct vl_writer w;
		fz_writer(&w);
		fz_check(vl_mls_group_secrets_encode(&w, &v), &w, data, size);
	}
	vl_mls_arena_cleanup(&a);
	return 0;
}
