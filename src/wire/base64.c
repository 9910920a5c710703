/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Base64 (RFC 4648 §4), canonical encodings only on decode; see base64.h.
 */
#include "wire/base64.h"

#include <stdbool.h>

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t vl_base64_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
	if (len > (SIZE_MAX - 1) / 4 * 3 - 2 || cap < VL_BASE64_LEN(len) + 1)
		return 0;
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		size_t left = len - i;
		uint32_t v = (uint32_t)in[i] << 16;
		if (left > 1)
			v |= (uint32_t)in[i + 1] << 8;
		if (left > 2)
			v |= in[i + 2];
		out[o++] = b64_alphabet[(v >> 18) & 63];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = left > 1 ? b64_alphabet[(v >> 6) & 63] : '=';
		out[o++] = left > 2 ? b64_alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	return o;
}

/* The 6-bit value of an alphabet character, or -1. */
static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int vl_base64_decode(const char *in, size_t in_len, uint8_t *out, size_t cap, size_t *out_len)
{
	*out_len = 0;
	if (in_len % 4 != 0)
		return VL_ERR_DECODE;
	size_t o = 0;
	for (size_t i = 0; i < in_len; i += 4) {
		bool last = i + 4 == in_len;
		/* '=' may only end the final quantum: "xx==" or "xxx=". */
		size_t pad = 0;
		if (last && in[i + 3] == '=')
			pad = in[i + 2] == '=' ? 2 : 1;
		uint32_t v = 0;
		for (size_t k = 0; k < 4 - pad; k++) {
			int d = b64_value((unsigned char)in[i + k]);
			if (d < 0)
				return VL_ERR_DECODE;
			v = v << 6 | (uint32_t)d;
		}
		v <<= 6 * pad;
		/* RFC 4648 §3.5: the bits below the last byte must be zero, or
		 * several strings would decode to the same bytes. */
		if ((pad == 1 && (v & 0xff) != 0) || (pad == 2 && (v & 0xffff) != 0))
			return VL_ERR_DECODE;
		size_t n = 3 - pad;
		if (cap - o < n)
			return VL_ERR_LIMIT;
		out[o++] = (uint8_t)(v >> 16);
		if (n > 1)
			out[o++] = (uint8_t)(v >> 8);
		if (n > 2)
			out[o++] = (uint8_t)v;
	}
	*out_len = o;
	return VL_OK;
}
