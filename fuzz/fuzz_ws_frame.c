/* SPDX-License-Identifier: Apache-2.0 */
/* Drives vl_ws_parse_frame, vl_ws_unmask and vl_ws_check_close with
 * arbitrary bytes. A header that parses must obey RFC 6455 §5.2's rules and
 * re-encode (as a server header, plus mask bit and key) to exactly the input
 * bytes, since only shortest lengths are accepted; unmasking the payload in
 * two pieces at any split must equal unmasking it whole, and twice must
 * restore it. */
#include <stdlib.h>
#include <string.h>

#include "server/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vl_ws_frame f;
	int rc = vl_ws_parse_frame(data, size, &f);
	if (rc == VL_ERR_AGAIN) {
		CHECK(size < VL_WS_CLIENT_HDR_MAX);
		return 0;
	}
	if (rc != VL_OK) {
		CHECK(rc == VL_ERR_PROTOCOL);
		return 0;
	}
	CHECK(f.hdr_len <= size && f.hdr_len <= VL_WS_CLIENT_HDR_MAX);
	CHECK((f.len >> 63) == 0);
	if (f.opcode & 0x08)
		CHECK(f.fin && f.len <= VL_WS_CONTROL_MAX);
	/* Only the shortest form parses, so the header re-encodes exactly. */
	uint8_t h[VL_WS_CLIENT_HDR_MAX];
	size_t hl = vl_ws_frame_header(h, f.opcode, f.len);
	if (!f.fin)
		h[0] &= 0x7f;
	h[1] |= 0x80;
	memcpy(h + hl, f.mask, 4);
	CHECK(hl + 4 == f.hdr_len && memcmp(h, data, f.hdr_len) == 0);

	size_t avail = size - f.hdr_len;
	size_t n = f.len < avail ? (size_t)f.len : avail;
	uint8_t *whole = malloc(n ? n : 1), *parts = malloc(n ? n : 1);
	CHECK(whole && parts);
	memcpy(whole, data + f.hdr_len, n);
	memcpy(parts, whole, n);
	vl_ws_unmask(whole, n, f.mask, 0);
	size_t split = n ? data[0] % (n + 1) : 0;
	vl_ws_unmask(parts, split, f.mask, 0);
	vl_ws_unmask(parts + split, n - split, f.mask, split);
	CHECK(memcmp(whole, parts, n) == 0);
	for (size_t i = 0; i < n; i++)
		CHECK(whole[i] == (data[f.hdr_len + i] ^ f.mask[i & 3]));
	if (f.opcode == VL_WS_OP_CLOSE && n == f.len) {
		uint16_t code;
		int crc = vl_ws_check_close(whole, n, &code);
		CHECK(crc == VL_OK || crc == VL_ERR_PROTOCOL);
		CHECK(crc != VL_OK || n == 0 || code == (uint16_t)(whole[0] << 8 | whole[1]));
	}
	vl_ws_unmask(whole, n, f.mask, 0);
	CHECK(memcmp(whole, data + f.hdr_len, n) == 0);
	free(whole);
	free(parts);
	return 0;
}
