/* SPDX-License-Identifier: Apache-2.0 */
/*
 * WebSocket (RFC 6455) handshake, frame headers, unmasking and close
 * payloads for valised; see ws.h.
 */
#include "server/ws.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "crypto/crypto.h"
#include "wire/base64.h"

/* RFC 6455 §1.3: the GUID appended to the key before hashing. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

#define WS_KEY_B64_LEN 24 /* base64 of 16 bytes */

/* The only field called name, or NULL if there is none or more than one. */
static const char *ws_single_header(const struct vl_http_req *req, const char *name,
                                    size_t *value_len, size_t *count)
{
	const char *v = NULL;
	size_t nl = strlen(name);
	*count = 0;
	*value_len = 0;
	for (size_t k = 0; k < req->n_headers; k++) {
		const struct vl_http_header *h = &req->headers[k];
		if (h->name_len != nl || strncasecmp(h->name, name, nl) != 0)
			continue;
		if (++*count == 1) {
			v = h->value;
			*value_len = h->value_len;
		}
	}
	if (*count != 1) {
		*value_len = 0;
		return NULL;
	}
	return v;
}

/* True if some Sec-WebSocket-Protocol field lists VL_WS_SUBPROTOCOL.
 * Subprotocol names are compared exactly (§4.1: they are tokens, and the
 * registry of §11.5 treats them as case-sensitive). */
static bool ws_offers_subprotocol(const struct vl_http_req *req)
{
	static const char want[] = VL_WS_SUBPROTOCOL;
	const size_t wl = sizeof want - 1;
	for (size_t k = 0; k < req->n_headers; k++) {
		const struct vl_http_header *h = &req->headers[k];
		if (h->name_len != 22 || strncasecmp(h->name, "Sec-WebSocket-Protocol", 22) != 0)
			continue;
		const char *v = h->value;
		size_t i = 0, len = h->value_len;
		while (i < len) {
			size_t s = i;
			while (i < len && v[i] != ',')
				i++;
			size_t e = i;
			while (s < e && (v[s] == ' ' || v[s] == '\t'))
				s++;
			while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
				e--;
			if (e - s == wl && memcmp(v + s, want, wl) == 0)
				return true;
			i++;
		}
	}
	return false;
}

size_t vl_ws_accept(const struct vl_http_req *req, char *out, size_t cap, unsigned *status)
{
	*status = 400;
	if (req->method != VL_HTTP_GET || req->minor != 1 || !req->upgrade_websocket)
		return 0;
	size_t n, count;
	/* §4.2.2: a version we do not speak gets 426 naming the one we do;
	 * checked before the key, whose form differs in older drafts. */
	const char *ver = ws_single_header(req, "Sec-WebSocket-Version", &n, &count);
	if (count == 0)
		return 0;
	if (!ver || n != 2 || memcmp(ver, "13", 2) != 0) {
		*status = 426;
		return 0;
	}
	const char *key = ws_single_header(req, "Sec-WebSocket-Key", &n, &count);
	uint8_t raw[18];
	size_t raw_len;
	if (!key || n != WS_KEY_B64_LEN ||
	    vl_base64_decode(key, n, raw, sizeof raw, &raw_len) != VL_OK || raw_len != 16)
		return 0;
	if (!ws_offers_subprotocol(req))
		return 0;

	*status = 500;
	char in[WS_KEY_B64_LEN + sizeof ws_guid - 1];
	memcpy(in, key, WS_KEY_B64_LEN);
	memcpy(in + WS_KEY_B64_LEN, ws_guid, sizeof ws_guid - 1);
	uint8_t digest[20];
	if (vl_sha1(in, sizeof in, digest) != VL_OK)
		return 0;
	char accept[VL_BASE64_LEN(20) + 1];
	if (vl_base64_encode(digest, sizeof digest, accept, sizeof accept) == 0)
		return 0;
	int w = snprintf(out, cap,
	                 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	                 "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
	                 "Sec-WebSocket-Protocol: " VL_WS_SUBPROTOCOL "\r\n\r\n",
	                 accept);
	if (w < 0 || (size_t)w >= cap)
		return 0;
	*status = 101;
	return (size_t)w;
}

static bool ws_opcode_defined(uint8_t op)
{
	return op <= VL_WS_OP_BINARY || (op >= VL_WS_OP_CLOSE && op <= VL_WS_OP_PONG);
}

int vl_ws_parse_frame(const uint8_t *buf, size_t len, struct vl_ws_frame *f)
{
	memset(f, 0, sizeof *f);
	if (len < 1)
		return VL_ERR_AGAIN;
	bool fin = buf[0] & 0x80;
	uint8_t op = buf[0] & 0x0f;
	/* §5.2: RSV1-3 must be 0 unless an extension says otherwise; valised
	 * negotiates none. */
	if ((buf[0] & 0x70) != 0 || !ws_opcode_defined(op))
		return VL_ERR_PROTOCOL;
	if (len < 2)
		return VL_ERR_AGAIN;
	uint8_t len7 = buf[1] & 0x7f;
	/* §5.1: a server must close on an unmasked client frame. */
	if (!(buf[1] & 0x80))
		return VL_ERR_PROTOCOL;
	/* §5.5: control frames are never fragmented and carry <= 125 bytes. */
	if ((op & 0x08) && (!fin || len7 > VL_WS_CONTROL_MAX))
		return VL_ERR_PROTOCOL;
	uint64_t plen = len7;
	size_t pos = 2;
	if (len7 == 126) {
		if (len < 4)
			return VL_ERR_AGAIN;
		plen = (uint64_t)buf[2] << 8 | buf[3];
		if (plen < 126)
			return VL_ERR_PROTOCOL;
		pos = 4;
	} else if (len7 == 127) {
		if (len < 10)
			return VL_ERR_AGAIN;
		plen = 0;
		for (size_t i = 2; i < 10; i++)
			plen = plen << 8 | buf[i];
		if ((plen >> 63) != 0 || plen <= 0xffff)
			return VL_ERR_PROTOCOL;
		pos = 10;
	}
	if (len < pos + 4)
		return VL_ERR_AGAIN;
	f->fin = fin;
	f->opcode = op;
	memcpy(f->mask, buf + pos, 4);
	f->len = plen;
	f->hdr_len = pos + 4;
	return VL_OK;
}

void vl_ws_unmask(uint8_t *p, size_t len, const uint8_t mask[4], uint64_t offset)
{
	size_t i = 0;
	/* Bytes up to an 8-byte boundary one at a time, then whole words with
	 * the key rotated to the word's position in the payload, then the
	 * tail. memcpy keeps the word accesses free of aliasing and alignment
	 * assumptions; the compiler turns it into plain loads and stores. */
	while (i < len && ((uintptr_t)(p + i) & 7) != 0) {
		p[i] ^= mask[(offset + i) & 3];
		i++;
	}
	if (len - i >= 8) {
		uint8_t kb[8];
		for (size_t k = 0; k < 8; k++)
			kb[k] = mask[(offset + i + k) & 3];
		uint64_t key;
		memcpy(&key, kb, 8);
		for (; len - i >= 8; i += 8) {
			uint64_t w;
			memcpy(&w, p + i, 8);
			w ^= key;
			memcpy(p + i, &w, 8);
		}
	}
	for (; i < len; i++)
		p[i] ^= mask[(offset + i) & 3];
}

size_t vl_ws_frame_header(uint8_t *out, uint8_t opcode, uint64_t len)
{
	assert(ws_opcode_defined(opcode));
	assert((len >> 63) == 0);
	assert(!(opcode & 0x08) || len <= VL_WS_CONTROL_MAX);
	out[0] = (uint8_t)(0x80 | opcode);
	if (len < 126) {
		out[1] = (uint8_t)len;
		return 2;
	}
	if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		return 4;
	}
	out[1] = 127;
	for (size_t i = 0; i < 8; i++)
		out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
	return 10;
}

bool vl_ws_utf8_valid(const uint8_t *p, size_t len)
{
	size_t i = 0;
	while (i < len) {
		uint8_t c = p[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t n;
		uint8_t lo = 0x80, hi = 0xbf; /* range of the second byte */
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			if (c == 0xe0)
				lo = 0xa0; /* overlong */
			else if (c == 0xed)
				hi = 0x9f; /* UTF-16 surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			if (c == 0xf0)
				lo = 0x90; /* overlong */
			else if (c == 0xf4)
				hi = 0x8f; /* above U+10FFFF */
		} else {
			return false; /* continuation byte, 0xc0/0xc1 overlong, 0xf5+ */
		}
		if (len - i - 1 < n)
			return false;
		if (p[i + 1] < lo || p[i + 1] > hi)
			return false;
		for (size_t k = 2; k <= n; k++)
			if (p[i + k] < 0x80 || p[i + k] > 0xbf)
				return false;
		i += n + 1;
	}
	return true;
}

/* §7.4.1, §7.4.2 and the IANA registry of §11.7: codes that may be sent in a
 * close frame. 1004 is reserved, 1005, 1006 and 1015 are only reported
 * locally, 0-999 and 1016-2999 are unassigned or reserved for the RFC and
 * its extensions, 3000-3999 registered and 4000-4999 private use. */
static bool ws_close_code_ok(uint16_t code)
{
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
	       (code >= 3000 && code <= 4999);
}

int vl_ws_check_close(const uint8_t *p, size_t len, uint16_t *code)
{
	*code = 0;
	if (len == 0) {
		*code = VL_WS_CLOSE_NO_STATUS;
		return VL_OK;
	}
	if (len < 2 || len > VL_WS_CONTROL_MAX)
		return VL_ERR_PROTOCOL;
	uint16_t c = (uint16_t)(p[0] << 8 | p[1]);
	if (!ws_close_code_ok(c) || !vl_ws_utf8_valid(p + 2, len - 2))
		return VL_ERR_PROTOCOL;
	*code = c;
	return VL_OK;
}
