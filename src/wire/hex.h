/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Lowercase hexadecimal, as blob ids, group ids and file names spell
 * bytes.
 */
#ifndef VL_HEX_H
#define VL_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Writes the 2 * len lowercase hex digits of in[0..len) and a NUL to out,
 * which must hold 2 * len + 1 characters. */
void vl_hex_encode(const uint8_t *in, size_t len, char *out);

#endif
