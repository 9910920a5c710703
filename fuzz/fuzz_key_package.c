/* SPDX-License-Identifier: Apache-2.0 */
/* Decodes the input as a KeyPackage (RFC 9420 §10); what decodes must
 * re-encode to the same bytes, and its KeyPackageTBS must encode. */
#include "fuzz_struct.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vl_mls_arena a;
	struct vl_mls_key_package v;
	vl_mls_arena_init(&a, 0);
	if (vl_mls_key_package_parse(data, size, &a, &v) == VL_OK) {
		struct vl_writer w;
		fz_writer(&w);
		fz_check(vl_mls_key_package_encode(&w, &v), &w, data, size);
		fz_writer(&w);
		fz_must_encode(vl_mls_key_package_tbs_encode(&w, &v), &w);
	}
	vl_mls_arena_cleanup(&a);
	return 0;
}
