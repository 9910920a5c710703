/* SPDX-License-Identifier: Apache-2.0 */
/* Decodes the input as a Commit (RFC 9420 §12.4); what decodes must
 * re-encode to the same bytes. The same input is also tried as a decrypted
 * PrivateMessageContent (§6.3.1) of that content type, padding included. */
#include "fuzz_struct.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vl_mls_arena a;
	struct vl_mls_commit v;
	vl_mls_arena_init(&a, 0);
	if (vl_mls_commit_parse(data, size, &a, &v) == VL_OK) {
		struct vl_writer w;
		fz_writer(&w);
		fz_check(vl_mls_commit_encode(&w, &v), &w, data, size);
	}
	struct vl_mls_private_content pc;
	if (vl_mls_private_content_parse(data, size, VL_MLS_CONTENT_COMMIT, &a, &pc) == VL_OK) {
		struct vl_writer w;
		fz_writer(&w);
		fz_check(vl_mls_private_content_encode(&w, &pc), &w, data, size);
	}
	vl_mls_arena_cleanup(&a);
	return 0;
}
