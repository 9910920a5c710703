/* SPDX-License-Identifier: Apache-2.0 */
/* deserialization.json: variable-length vector headers (RFC 9420 §2.1.2).
 * Usage: vec_deserialization [FILE] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "wire/wire.h"

int main(int argc, char **argv)
{
	const char *path = tu_vector_path(argc > 1 ? argv[1] : NULL, "mls/deserialization.json");
	json_t *root = tu_load_json(path);
	struct tu_tally t = {.file = tu_basename(path)};
	if (!root) {
		printf("vectors: %s: 0 passed, 0 failed, 1 skipped (file absent)\n", t.file);
		return 77;
	}
	size_t i;
	json_t *e;
	json_array_foreach(root, i, e)
	{
		size_t n;
		uint64_t want;
		uint8_t *hdr = tu_json_hex(e, "vlbytes_header", &n);
		if (!hdr || !tu_json_uint(e, "length", &want)) {
			tu_fail(&t, i, "bad vector entry");
			free(hdr);
			continue;
		}
		struct vl_reader r;
		uint32_t v;
		vl_reader_init(&r, hdr, n);
		int ok =
		    vl_read_varint(&r, &v) == VL_OK && vl_reader_finish(&r) == VL_OK && v == want;
		uint8_t out[4];
		struct vl_writer w;
		vl_writer_init_fixed(&w, out, sizeof out);
		ok = ok && vl_write_varint(&w, want) == VL_OK && w.len == n &&
		     memcmp(out, hdr, n) == 0;
		if (ok)
			t.passed++;
		else
			tu_fail(&t, i, "decode or re-encode mismatch");
		free(hdr);
	}
	json_decref(root);
	tu_tally_print(&t);
	return t.failed ? 1 : 0;
}
