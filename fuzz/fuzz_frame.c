/* SPDX-License-Identifier: Apache-2.0 */
/* Drives the frame decoder and every body decoder with arbitrary bytes.
 * Since decoding accepts only canonical encodings, whatever decodes must
 * re-encode to exactly the input: a mismatch means the decoder accepted
 * something the encoder would not produce (or the reverse). */
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz);
	CHECK(p);
	return p;
}

/* Re-encodes a decoded frame into w; returns false if the type's body did
 * not decode (then nothing is compared). */
static bool reencode(const struct vl_frame *f, struct vl_writer *w)
{
	const struct vl_bytes *b = &f->body;
	uint32_t id = f->request_id;
	switch (f->type) {
	case VL_FRAME_DEVICE_LIST:
	case VL_FRAME_DEVICE_INVITE:
	case VL_FRAME_PING:
	case VL_FRAME_REGISTER | VL_FRAME_REPLY:
	case VL_FRAME_DEVICE_REVOKE | VL_FRAME_REPLY:
	case VL_FRAME_GROUP_CREATE | VL_FRAME_REPLY:
	case VL_FRAME_SEND | VL_FRAME_REPLY:
	case VL_FRAME_ACK | VL_FRAME_REPLY:
	case VL_FRAME_PING | VL_FRAME_REPLY:
		if (vl_proto_empty_decode(b))
			return false;
		CHECK(vl_frame_encode_empty(w, f->type, id) == VL_OK);
		return true;
	case VL_FRAME_REGISTER: {
		struct vl_msg_register m;
		if (vl_msg_register_decode(b, &m))
			return false;
		CHECK(vl_msg_register_encode(w, id, &m) == VL_OK);
		return true;
	}
	case VL_FRAME_AUTH: {
		struct vl_msg_auth m;
		if (vl_msg_auth_decode(b, &m))
			return false;
		CHECK(vl_msg_auth_encode(w, id, &m) == VL_OK);
		return true;
	}
	case VL_FRAME_AUTH | VL_FRAME_REPLY: {
		struct vl_msg_auth_ok m;
		if (vl_msg_auth_ok_decode(b, &m))
			return false;
		CHECK(vl_msg_auth_ok_encode(w, id, &m) == VL_OK);
		return true;
	}
	case VL_FRAME_DEVICE_LIST | VL_FRAME_REPLY: {
		struct vl_msg_device_list_ok m;
		if (vl_msg_device_list_ok_decode(b, &m))
			return false;
		struct vl_device_info *d = xcalloc(m.devices.count, sizeof *d);
		size_t n = 0;
		while (vl_device_info_next(&m.devices, &d[n]))
			n++;
		CHECK(n == m.devices.count);
		CHECK(vl_msg_device_list_ok_encode(w, id, d, n) == VL_OK);
		free(d);
		return true;
	}
	case VL_FRAME_DEVICE_REVOKE: {
		struct vl_msg_device_revoke m;
		if (vl_msg_device_revoke_decode(b, &m))
			return false;
		CHECK(vl_msg_device_revoke_encode(w, id, &m) == VL_OK);
		return true;
	}
	case VL_FRAME_DEVICE_INVITE | VL_FRAME_REPLY: {
		struct vl_msg_device_invite_ok m;
		if (vl_msg_device_invite_ok_decode(b, &m))
			return false;
		CHECK(vl_msg_device_invite_ok_encode(w, id, &m) == VL_OK);
		return true;
	}
	case VL_FRAME_KP_UPLOAD: {
		struct vl_msg_kp_upload m;
		if (vl_msg_kp_upload_decode(b, &m))
			return false;
		struct vl_kp_upload_item *it = xcalloc(m.key_packages.count, sizeof *it);
		size_t n = 0;
		while (vl_kp_upload_item_next(&m.key_packages, &it[n]))
			n++;
		CHECK(n == m.key_packages.count);
		CHECK(vl_msg_kp_upload_encode(w, id, it, n) == VL_OK);
		free(it);
		return true;
	}
	case VL_FRAME_KP_UPLOAD | VL_FRAME_REPLY:
	case VL_FRAME_KP_LOW: {
		struct vl_msg_kp_count m;
		if (vl_msg_kp_count_decode(b, &m))
			return false;
		CHECK(vl_msg_kp_count_encode(w, f->type, id, &m) == VL_OK);
		return true;
	}
	case VL_FRAME_KP_CLAIM: {
		struct vl_msg_kp_claim m;
		if (vl_msg_kp_claim_decode(b, &m))
			return false;
		CHECK(vl_msg_kp_claim_encode(w, id, &m) == VL_OK);
		return true;
	}
	case VL_FRAME_KP_CLAIM | VL_FRAME_REPLY: {
		struct vl_msg_kp_claim_ok m;
		if (vl_msg_kp_claim_ok_decode(b, &m))
			return false;
		struct vl_claimed_kp *c = xcalloc(m.key_packages.count, sizeof *c);
		size_t n = 0;
		while (vl_claimed_kp_next(&m.key_packages, &c[n]))
			n++;
		CHECK(n == m.key_packages.count);
		CHECK(vl_msg_kp_claim_ok_encode(w, id, c, n) == VL_OK);
		free(c);
		return true;
	}
	case VL_FRAME_GROUP_CREATE: {
		struct vl_msg_group_create m;
		if (vl_msg_group_create_decode(b, &m))
			return false;
		CHECK(vl_msg_group_create_encode(w, id, &m) == VL_OK);
		return true;
	}
	case VL_FRAME_COMMIT: {
		struct vl_msg_commit m;
		if (vl_msg_commit_decode(b, &m))
			return false;
		struct vl_device_ref *a = xcalloc(m.added.count, sizeof *a);
		struct vl_device_ref *r = xcalloc(m.removed.count, sizeof *r);
		size_t na = 0, nr = 0;
		while (vl_device_ref_next(&m.added, &a[na]))
			na++;
		while (vl_device_ref_next(&m.removed, &r[nr]))
			nr++;
		CHECK(na == m.added.count && nr == m.removed.count);
		CHECK(vl_msg_commit_encode(w, id, &m, a, na, r, nr) == VL_OK);
		free(a);
		free(r);
		return true;
	}
	case VL_FRAME_COMMIT | VL_FRAME_REPLY: {
		struct vl_msg_commit_ok m;
		if (vl_msg_commit_ok_decode(b, &m))
			return false;
		CHECK(vl_msg_commit_ok_encode(w, id, &m) == VL_OK);
		return true;
	}
	case VL_FRAME_SEND: {
		struct vl_msg_send m;
		if (vl_msg_send_decode(b, &m))
			return false;
		CHECK(vl_msg_send_encode(w, id, &m) == VL_OK);
		return true;
	}
	case VL_FRAME_ACK: {
		struct vl_msg_ack m;
		if (vl_msg_ack_decode(b, &m))
			return false;
		CHECK(vl_msg_ack_encode(w, id, &m) == VL_OK);
		return true;
	}
	case VL_FRAME_CHALLENGE: {
		struct vl_msg_challenge m;
		if (vl_msg_challenge_decode(b, &m) || id != 0)
			return false;
		CHECK(vl_msg_challenge_encode(w, &m) == VL_OK);
		return true;
	}
	case VL_FRAME_DELIVER: {
		struct vl_msg_deliver m;
		if (vl_msg_deliver_decode(b, &m) || id != 0)
			return false;
		CHECK(vl_msg_deliver_encode(w, &m) == VL_OK);
		return true;
	}
	case VL_FRAME_CLOSING: {
		struct vl_msg_closing m;
		if (vl_msg_closing_decode(b, &m) || id != 0)
			return false;
		CHECK(vl_msg_closing_encode(w, &m) == VL_OK);
		return true;
	}
	case VL_FRAME_ERROR: {
		struct vl_msg_error m;
		if (vl_msg_error_decode(b, &m))
			return false;
		/* The encoder takes a C string: details with a NUL octet
		 * cannot round-trip and are skipped. */
		char detail[VL_PROTO_DETAIL_MAX + 1];
		if (m.detail.len && memchr(m.detail.p, 0, m.detail.len))
			return false;
		if (m.detail.len)
			memcpy(detail, m.detail.p, m.detail.len);
		detail[m.detail.len] = 0;
		CHECK(vl_msg_error_encode(w, id, m.code, detail) == VL_OK);
		return true;
	}
	default:
		return false;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vl_frame f;
	(void)vl_proto_type_name(size ? data[0] : 0);
	if (vl_frame_decode(data, size, VL_PROTO_FRAME_MAX, &f) != VL_OK)
		return 0;
	struct vl_writer w;
	vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
	if (reencode(&f, &w)) {
		CHECK(w.err == VL_OK);
		CHECK(w.len == size);
		CHECK(memcmp(w.buf, data, size) == 0);
	}
	vl_writer_cleanup(&w);
	return 0;
}
