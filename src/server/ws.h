/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The WebSocket protocol (RFC 6455) as valised speaks it, server side: the
 * opening handshake's validation and 101 response (§4.2), the header of
 * client frames (§5.2), unmasking (§5.3), server frame headers and close
 * payload checks (§5.5.1, §7.4). Pure functions over caller buffers: no
 * sockets, no allocation. Reassembly of fragmented messages, UTF-8 checks
 * of text messages and the close handshake's timing belong to the caller.
 */
#ifndef VL_SERVER_WS_H
#define VL_SERVER_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"
#include "server/http1.h"
#include "valise/status.h"

#define VL_WS_SUBPROTOCOL VL_PROTO_SUBPROTOCOL /* "valise.v1" */
/* The extra header line of a 426 answer to a wrong Sec-WebSocket-Version,
 * for vl_http_format_head's extra (RFC 6455 §4.2.2). */
#define VL_WS_VERSION_HEADER "Sec-WebSocket-Version: 13\r\n"
/* Largest header vl_ws_frame_header writes, and largest client header. */
#define VL_WS_SERVER_HDR_MAX 10u
#define VL_WS_CLIENT_HDR_MAX 14u
/* Largest payload of a control frame (§5.5). */
#define VL_WS_CONTROL_MAX 125u

/* Opcodes (RFC 6455 §5.2, §11.8). */
enum {
	VL_WS_OP_CONT = 0x0,
	VL_WS_OP_TEXT = 0x1,
	VL_WS_OP_BINARY = 0x2,
	VL_WS_OP_CLOSE = 0x8,
	VL_WS_OP_PING = 0x9,
	VL_WS_OP_PONG = 0xa,
};

/* Close codes valised sends (RFC 6455 §7.4.1). */
enum {
	VL_WS_CLOSE_NORMAL = 1000,
	VL_WS_CLOSE_GOING_AWAY = 1001,
	VL_WS_CLOSE_PROTOCOL = 1002,
	VL_WS_CLOSE_UNSUPPORTED = 1003,
	VL_WS_CLOSE_NO_STATUS = 1005, /* never on the wire: an empty close payload */
	VL_WS_CLOSE_BAD_DATA = 1007,
	VL_WS_CLOSE_POLICY = 1008,
	VL_WS_CLOSE_TOO_BIG = 1009,
	VL_WS_CLOSE_INTERNAL = 1011,
};

/* Validates a WebSocket upgrade request and formats the 101 response.
 *
 * The request must be (RFC 6455 §4.2.1): GET, HTTP/1.1, req->upgrade_websocket,
 * exactly one Sec-WebSocket-Version equal to 13, exactly one Sec-WebSocket-Key
 * that is the canonical base64 of 16 bytes, and Sec-WebSocket-Protocol
 * (one or more fields, comma lists) offering VL_WS_SUBPROTOCOL. Origin is not
 * checked: valised's clients are not browsers, and each connection
 * authenticates with a device signature.
 *
 * out[0..cap) gets "HTTP/1.1 101 Switching Protocols" with Upgrade,
 * Connection, Sec-WebSocket-Accept (base64 of SHA-1 of the key and the GUID
 * of §1.3) and "Sec-WebSocket-Protocol: valise.v1", ended by the empty line
 * (no NUL). 160 bytes are always enough.
 *
 * Returns the bytes written. Returns 0 if the request is not an acceptable
 * upgrade, with *status set to the HTTP status to answer: 400 (malformed or
 * missing handshake fields, subprotocol not offered), 426 (a version other
 * than 13: answer with VL_WS_VERSION_HEADER as extra header), or 500 (cap too
 * small, or SHA-1 unavailable). *status is 101 on success. */
size_t vl_ws_accept(const struct vl_http_req *req, char *out, size_t cap, unsigned *status);

/* A parsed client frame header. */
struct vl_ws_frame {
	bool fin;
	uint8_t opcode;
	uint8_t mask[4];
	uint64_t len;   /* payload length */
	size_t hdr_len; /* bytes of header, including the masking key */
};

/* Parses the header of a client-to-server frame at buf[0..len) into *f.
 * Returns VL_OK (the payload starts at buf + f->hdr_len), VL_ERR_AGAIN if the
 * header is not complete yet (nothing wrong so far), or VL_ERR_PROTOCOL
 * (close with 1002) if an RSV bit is set (no extension is negotiated), the
 * opcode is reserved, the frame is not masked (§5.1), a control frame has a
 * payload over 125 bytes or no FIN (§5.5), a 64-bit length has its top bit
 * set, or a length is not in its shortest form (§5.2: "the minimal number of
 * bytes MUST be used"). Errors are reported as soon as the bytes that show
 * them are there. The caller limits f->len to what it will buffer. */
VL_MUST_CHECK int vl_ws_parse_frame(const uint8_t *buf, size_t len, struct vl_ws_frame *f);

/* Unmasks p[0..len) in place with mask (§5.3). offset is how many bytes of
 * this frame's payload were unmasked by earlier calls, so a payload may be
 * unmasked in pieces as it arrives. */
void vl_ws_unmask(uint8_t *p, size_t len, const uint8_t mask[4], uint64_t offset);

/* Writes the header of a server frame (FIN set, unmasked, §5.2) for opcode
 * and a payload of len bytes into out, which must hold VL_WS_SERVER_HDR_MAX
 * bytes. opcode must be a defined opcode, len < 2^63, and len <= 125 for
 * control opcodes. Returns the header length (2, 4 or 10). */
size_t vl_ws_frame_header(uint8_t *out, uint8_t opcode, uint64_t len);

/* Validates a close frame payload p[0..len) (§5.5.1, §7.4): empty, or a
 * status code that may appear on the wire followed by a UTF-8 reason, at most
 * 125 bytes in all. Codes allowed: 1000-1003, 1007-1014 (1012-1014 are in the
 * IANA registry of §11.7), 3000-4999. *code gets the code, or
 * VL_WS_CLOSE_NO_STATUS (1005) for an empty payload (§7.1.5).
 * Returns VL_OK or VL_ERR_PROTOCOL (then *code is 0). */
VL_MUST_CHECK int vl_ws_check_close(const uint8_t *p, size_t len, uint16_t *code);

/* True if p[0..len) is well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF). For close reasons and text messages. */
bool vl_ws_utf8_valid(const uint8_t *p, size_t len);

#endif
