/* SPDX-License-Identifier: Apache-2.0 */
#include "wire/hex.h"

void vl_hex_encode(const uint8_t *in, size_t len, char *out)
{
	static const char digit[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digit[in[i] >> 4];
		out[2 * i + 1] = digit[in[i] & 15];
	}
	out[2 * len] = '\0';
}
