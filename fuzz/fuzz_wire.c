/* SPDX-License-Identifier: Apache-2.0 */
/* Drives the wire reader with arbitrary bytes: the input is a script of
 * (op, value) pairs chosen by the input itself. Each value read is written
 * back with its op byte; since decoding accepts only canonical encodings,
 * the output must equal the consumed input byte for byte. */
#include <stdlib.h>
#include <string.h>

#include "wire/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vl_reader r;
	struct vl_writer w;
	vl_reader_init(&r, data, size);
	vl_writer_init_heap(&w, 1 << 20);
	uint8_t op;
	size_t consumed = 0;
	while (vl_read_u8(&r, &op) == VL_OK) {
		int rc = vl_write_u8(&w, op);
		if (rc)
			break;
		switch (op % 7) {
		case 0: {
			uint16_t v;
			if ((rc = vl_read_u16(&r, &v)) == VL_OK)
				rc = vl_write_u16(&w, v);
			break;
		}
		case 1: {
			uint32_t v;
			if ((rc = vl_read_u32(&r, &v)) == VL_OK)
				rc = vl_write_u32(&w, v);
			break;
		}
		case 2: {
			uint64_t v;
			if ((rc = vl_read_u64(&r, &v)) == VL_OK)
				rc = vl_write_u64(&w, v);
			break;
		}
		case 3: {
			uint32_t v;
			if ((rc = vl_read_varint(&r, &v)) == VL_OK)
				rc = vl_write_varint(&w, v);
			break;
		}
		case 4: {
			const uint8_t *p;
			size_t n;
			if ((rc = vl_read_opaque(&r, &p, &n, 4096)) == VL_OK)
				rc = vl_write_opaque(&w, p, n);
			break;
		}
		case 5: {
			struct vl_reader sub;
			if ((rc = vl_read_vector(&r, &sub)) == VL_OK) {
				size_t mark = vl_write_vector_begin(&w);
				const uint8_t *p;
				size_t left = vl_reader_left(&sub);
				if (vl_read_fixed(&sub, &p, left) == VL_OK)
					rc = vl_write_fixed(&w, p, left);
				if (rc == VL_OK)
					rc = vl_write_vector_end(&w, mark);
			}
			break;
		}
		default: {
			bool present;
			if ((rc = vl_read_optional(&r, &present)) == VL_OK)
				rc = vl_write_optional(&w, present);
			break;
		}
		}
		if (rc)
			break;
		consumed = r.pos;
	}
	/* Drop the op byte of a failed last step. */
	if (w.err == VL_OK && w.len > consumed)
		w.len = consumed;
	uint8_t *out;
	size_t n;
	if (vl_writer_take(&w, &out, &n) == VL_OK) {
		if (n != consumed || memcmp(out, data, n) != 0)
			abort();
		free(out);
	}
	return 0;
}
