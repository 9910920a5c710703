/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Base64 in the standard alphabet with padding (RFC 4648 §4), as HTTP header
 * values carry it (the WebSocket key and accept value of RFC 6455 §4).
 * The decoder is strict: it accepts only the one canonical encoding of each
 * byte string (padding present, no whitespace, unused bits zero), so two
 * different strings never decode to the same bytes. Neither side allocates.
 */
#ifndef VL_BASE64_H
#define VL_BASE64_H

#include <stddef.h>
#include <stdint.h>

#include "valise/status.h"

/* Characters in the encoding of n bytes (without a terminating NUL). */
#define VL_BASE64_LEN(n) ((((n) + 2) / 3) * 4)

/* Encodes in[0..len) into out and NUL-terminates it. Returns the number of
 * characters written (VL_BASE64_LEN(len)), or 0 with out untouched if cap is
 * smaller than VL_BASE64_LEN(len) + 1. */
size_t vl_base64_encode(const uint8_t *in, size_t len, char *out, size_t cap);

/* Decodes in[0..in_len) into out[0..cap); *out_len gets the byte count.
 * VL_ERR_DECODE if the input is not a canonical padded encoding (length not a
 * multiple of 4, a character outside the alphabet, misplaced '=', non-zero
 * unused bits); VL_ERR_LIMIT if the result would not fit in cap. On error
 * *out_len is 0 and out may hold partial output. */
VL_MUST_CHECK int vl_base64_decode(const char *in, size_t in_len, uint8_t *out, size_t cap,
                                   size_t *out_len);

#endif
