/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes the MIMI content decoder. Whatever decodes must re-encode to the
 * very same bytes (the decoder accepts only deterministic CBOR), and those
 * bytes must decode to an equal value. The derived-values decoder gets the
 * same input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "valise/content.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vl_mimi_content c, again;
	if (vl_mimi_content_decode(&c, data, size) == VL_OK) {
		uint8_t *buf;
		size_t len;
		if (vl_mimi_content_encode_alloc(&c, &buf, &len) != VL_OK || len != size ||
		    memcmp(buf, data, size) != 0)
			abort();
		if (vl_mimi_content_decode(&again, buf, len) != VL_OK ||
		    !vl_mimi_content_equal(&c, &again))
			abort();
		uint8_t id[VL_MIMI_MESSAGE_ID_LEN];
		if (vl_mimi_message_id(buf, len, "s", 1, "r", 1, id) != VL_OK)
			abort();
		vl_mimi_content_cleanup(&again);
		free(buf);
	}
	vl_mimi_content_cleanup(&c);

	struct vl_mimi_derived d;
	if (vl_mimi_derived_decode(&d, data, size) == VL_OK) {
		uint8_t *buf;
		size_t len;
		if (vl_mimi_derived_encode_alloc(&d, &buf, &len) != VL_OK || len != size ||
		    memcmp(buf, data, size) != 0)
			abort();
		free(buf);
	}
	vl_mimi_derived_cleanup(&d);
	return 0;
}
