/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of src/proto: every body round-trips, the frame header is
 * checked (size limit, version, trailing bytes), every truncation of a
 * frame is rejected, and names and limits are enforced on both ends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/proto.h"

#define B(s) ((struct vl_bytes){(const uint8_t *)(s), sizeof(s) - 1})

/* Encoded frame into a heap buffer; the test owns it. */
struct enc {
	uint8_t *buf;
	size_t len;
};

static struct enc take(struct vl_writer *w)
{
	struct enc e = {0};
	assert_int_equal(vl_writer_take(w, &e.buf, &e.len), VL_OK);
	return e;
}

/* Decodes the frame header and checks type and id. */
static struct vl_frame frame_of(const struct enc *e, uint8_t type, uint32_t id)
{
	struct vl_frame f;
	assert_int_equal(vl_frame_decode(e->buf, e->len, VL_PROTO_FRAME_MAX, &f), VL_OK);
	assert_int_equal(f.version, VL_PROTO_VERSION);
	assert_int_equal(f.type, type);
	assert_int_equal(f.request_id, id);
	return f;
}

/* Every proper prefix of a frame must fail to decode as a frame, and every
 * proper prefix of its body must fail to decode as that body. */
typedef int (*body_decode_fn)(const struct vl_bytes *body, void *out);

static void check_truncations(const struct enc *e, body_decode_fn dec, void *scratch)
{
	struct vl_frame f;
	for (size_t n = 0; n < e->len; n++)
		assert_int_not_equal(vl_frame_decode(e->buf, n, VL_PROTO_FRAME_MAX, &f), VL_OK);
	assert_int_equal(vl_frame_decode(e->buf, e->len, VL_PROTO_FRAME_MAX, &f), VL_OK);
	struct vl_bytes body = f.body;
	for (size_t n = 0; n < body.len; n++) {
		struct vl_bytes cut = {body.p, n};
		assert_int_not_equal(dec(&cut, scratch), VL_OK);
	}
	/* One trailing byte inside the body. */
	uint8_t *longer = malloc(body.len + 1);
	assert_non_null(longer);
	if (body.len)
		memcpy(longer, body.p, body.len);
	longer[body.len] = 0;
	struct vl_bytes extra = {longer, body.len + 1};
	assert_int_not_equal(dec(&extra, scratch), VL_OK);
	free(longer);
}

static void test_names(void **state)
{
	(void)state;
	assert_true(vl_proto_address_valid((const uint8_t *)"alice@example.org", 17));
	assert_true(vl_proto_address_valid((const uint8_t *)"a@b", 3));
	assert_false(vl_proto_address_valid((const uint8_t *)"Alice@example.org", 17));
	assert_false(vl_proto_address_valid((const uint8_t *)"alice", 5));
	assert_false(vl_proto_address_valid((const uint8_t *)"@example.org", 12));
	assert_false(vl_proto_address_valid((const uint8_t *)"alice@", 6));
	assert_false(vl_proto_address_valid((const uint8_t *)"a@b@c", 5));
	assert_false(vl_proto_address_valid((const uint8_t *)"a#1@b", 5));
	assert_false(vl_proto_address_valid((const uint8_t *)"a\0@b", 4));
	char local[70];
	memset(local, 'x', 65);
	memcpy(local + 65, "@b.c", 4);
	assert_false(vl_proto_address_valid((const uint8_t *)local, 69));
	assert_true(vl_proto_address_valid((const uint8_t *)local + 1, 68));

	assert_true(vl_proto_device_valid((const uint8_t *)"Laptop-2.work_1", 15));
	assert_false(vl_proto_device_valid((const uint8_t *)"", 0));
	assert_false(vl_proto_device_valid((const uint8_t *)"a#b", 3));
	assert_false(vl_proto_device_valid((const uint8_t *)"a b", 3));
	char dev[65];
	memset(dev, 'd', sizeof dev);
	assert_true(vl_proto_device_valid((const uint8_t *)dev, 64));
	assert_false(vl_proto_device_valid((const uint8_t *)dev, 65));

	assert_string_equal(vl_proto_error_name(VL_PERR_STALE_EPOCH), "stale_epoch");
	assert_string_equal(vl_proto_error_name(VL_PERR_EPOCH_AHEAD), "epoch_ahead");
	assert_string_equal(vl_proto_error_name(0), "unknown");
	assert_string_equal(vl_proto_error_name(999), "unknown");
	assert_string_equal(vl_proto_type_name(VL_FRAME_SEND), "SEND");
	assert_string_equal(vl_proto_type_name(VL_FRAME_SEND | VL_FRAME_REPLY), "SEND_OK");
	assert_string_equal(vl_proto_type_name(VL_FRAME_DELIVER), "DELIVER");
	assert_string_equal(vl_proto_type_name(0x55), "unknown");
	assert_true(vl_proto_is_request(VL_FRAME_COMMIT));
	assert_false(vl_proto_is_request(VL_FRAME_DELIVER));
	assert_false(vl_proto_is_request(VL_FRAME_ERROR));
}

static void test_frame_header(void **state)
{
	(void)state;
	struct vl_writer w;
	vl_writer_init_heap(&w, 64);
	assert_int_equal(vl_frame_encode_empty(&w, VL_FRAME_PING, 0x01020304), VL_OK);
	struct enc e = take(&w);
	static const uint8_t want[] = {1, 0x24, 1, 2, 3, 4, 0};
	assert_int_equal(e.len, sizeof want);
	assert_memory_equal(e.buf, want, sizeof want);
	struct vl_frame f = frame_of(&e, VL_FRAME_PING, 0x01020304);
	assert_int_equal(vl_proto_empty_decode(&f.body), VL_OK);

	/* Size limit: header still reported so the reply can be addressed. */
	assert_int_equal(vl_frame_decode(e.buf, e.len, e.len - 1, &f), VL_ERR_LIMIT);
	assert_int_equal(f.type, VL_FRAME_PING);
	assert_int_equal(f.request_id, 0x01020304);

	/* Unknown version: type and id filled. */
	e.buf[0] = 2;
	assert_int_equal(vl_frame_decode(e.buf, e.len, 1024, &f), VL_ERR_UNSUPPORTED);
	assert_int_equal(f.version, 2);
	assert_int_equal(f.request_id, 0x01020304);
	e.buf[0] = 0;
	assert_int_equal(vl_frame_decode(e.buf, e.len, 1024, &f), VL_ERR_UNSUPPORTED);
	free(e.buf);

	/* Trailing byte after the body, non-minimal body length. */
	static const uint8_t trailing[] = {1, 0x24, 0, 0, 0, 1, 0, 0};
	assert_int_equal(vl_frame_decode(trailing, sizeof trailing, 1024, &f), VL_ERR_DECODE);
	static const uint8_t nonmin[] = {1, 0x24, 0, 0, 0, 1, 0x40, 0};
	assert_int_equal(vl_frame_decode(nonmin, sizeof nonmin, 1024, &f), VL_ERR_DECODE);
	static const uint8_t body_over[] = {1, 0x24, 0, 0, 0, 1, 5, 1, 2};
	assert_int_equal(vl_frame_decode(body_over, sizeof body_over, 1024, &f), VL_ERR_DECODE);
	assert_int_equal(vl_frame_decode(NULL, 0, 1024, &f), VL_ERR_DECODE);

	/* A non-empty body where an empty one is required. */
	struct vl_bytes one = {want, 1};
	assert_int_equal(vl_proto_empty_decode(&one), VL_ERR_DECODE);

	/* The writer's cap bounds a frame. */
	vl_writer_init_heap(&w, 6);
	assert_int_not_equal(vl_frame_encode_empty(&w, VL_FRAME_PING, 1), VL_OK);
	vl_writer_cleanup(&w);
}

static int dec_register(const struct vl_bytes *b, void *m)
{
	return vl_msg_register_decode(b, m);
}

static void test_register_auth(void **state)
{
	(void)state;
	uint8_t sig[64], key[32];
	memset(sig, 0x5a, sizeof sig);
	memset(key, 0x11, sizeof key);
	struct vl_msg_register in = {
	    .invite = B("K7QX-2MTP-91ZD"),
	    .user = B("alice@example.org"),
	    .device = B("laptop"),
	    .cipher_suite = 1,
	    .signature_key = {key, sizeof key},
	    .signature = {sig, sizeof sig},
	};
	struct vl_writer w;
	vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
	assert_int_equal(vl_msg_register_encode(&w, 7, &in), VL_OK);
	struct enc e = take(&w);
	struct vl_frame f = frame_of(&e, VL_FRAME_REGISTER, 7);
	struct vl_msg_register out;
	assert_int_equal(vl_msg_register_decode(&f.body, &out), VL_OK);
	assert_int_equal(out.cipher_suite, 1);
	assert_int_equal(out.invite.len, in.invite.len);
	assert_memory_equal(out.invite.p, in.invite.p, in.invite.len);
	assert_memory_equal(out.user.p, "alice@example.org", 17);
	assert_memory_equal(out.device.p, "laptop", 6);
	assert_memory_equal(out.signature_key.p, key, sizeof key);
	assert_memory_equal(out.signature.p, sig, sizeof sig);
	check_truncations(&e, dec_register, &out);
	free(e.buf);

	/* The encoder refuses what the decoder would reject. */
	struct vl_msg_register bad = in;
	bad.user = B("Alice@example.org");
	vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
	assert_int_equal(vl_msg_register_encode(&w, 7, &bad), VL_ERR_INVALID);
	vl_writer_cleanup(&w);
	bad = in;
	uint8_t big[VL_PROTO_SIGNATURE_MAX + 1] = {0};
	bad.signature = (struct vl_bytes){big, sizeof big};
	vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
	assert_int_equal(vl_msg_register_encode(&w, 7, &bad), VL_ERR_LIMIT);
	vl_writer_cleanup(&w);

	struct vl_msg_auth a = {B("bob@example.org"), B("phone"), {sig, 64}}, a2;
	vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
	assert_int_equal(vl_msg_auth_encode(&w, 8, &a), VL_OK);
	e = take(&w);
	f = frame_of(&e, VL_FRAME_AUTH, 8);
	assert_int_equal(vl_msg_auth_decode(&f.body, &a2), VL_OK);
	assert_memory_equal(a2.user.p, "bob@example.org", 15);
	assert_int_equal(a2.signature.len, 64);
	/* A bad device name inside a well-formed body is VL_ERR_INVALID. */
	uint8_t *p = NULL;
	for (size_t i = 0; i + 5 <= e.len && !p; i++)
		if (memcmp(e.buf + i, "phone", 5) == 0)
			p = e.buf + i;
	assert_non_null(p);
	p[0] = '#';
	f = frame_of(&e, VL_FRAME_AUTH, 8);
	assert_int_equal(vl_msg_auth_decode(&f.body, &a2), VL_ERR_INVALID);
	free(e.buf);

	struct vl_msg_auth_ok ok = {.key_packages = 42, .acked_seq = 1ull << 40}, ok2;
	vl_writer_init_heap(&w, 64);
	assert_int_equal(vl_msg_auth_ok_encode(&w, 8, &ok), VL_OK);
	e = take(&w);
	f = frame_of(&e, VL_FRAME_AUTH | VL_FRAME_REPLY, 8);
	assert_int_equal(vl_msg_auth_ok_decode(&f.body, &ok2), VL_OK);
	assert_int_equal(ok2.key_packages, 42);
	assert_true(ok2.acked_seq == 1ull << 40);
	free(e.buf);
}

static void test_challenge_and_tbs(void **state)
{
	(void)state;
	uint8_t ch[VL_PROTO_CHALLENGE_LEN];
	for (size_t i = 0; i < sizeof ch; i++)
		ch[i] = (uint8_t)i;
	struct vl_msg_challenge c = {1, 1, {ch, sizeof ch}, B("example.org")}, c2;
	struct vl_writer w;
	vl_writer_init_heap(&w, 256);
	assert_int_equal(vl_msg_challenge_encode(&w, &c), VL_OK);
	struct enc e = take(&w);
	struct vl_frame f = frame_of(&e, VL_FRAME_CHALLENGE, 0);
	assert_int_equal(vl_msg_challenge_decode(&f.body, &c2), VL_OK);
	assert_memory_equal(c2.challenge.p, ch, sizeof ch);
	assert_int_equal(c2.server_name.len, 11);
	free(e.buf);

	/* A challenge of the wrong length cannot be sent. */
	c.challenge.len = 16;
	vl_writer_init_heap(&w, 256);
	assert_int_equal(vl_msg_challenge_encode(&w, &c), VL_ERR_ARG);
	vl_writer_cleanup(&w);

	/* AuthTBS layout: label, challenge, server name, user, device. */
	uint8_t buf[512];
	vl_writer_init_fixed(&w, buf, sizeof buf);
	struct vl_bytes chb = {ch, sizeof ch}, sn = B("example.org"), u = B("a@b"), d = B("x");
	assert_int_equal(vl_proto_auth_tbs(&w, VL_PROTO_LABEL_AUTH, &chb, &sn, &u, &d), VL_OK);
	assert_int_equal(w.len, 1 + 14 + 1 + 32 + 1 + 11 + 1 + 3 + 1 + 1);
	assert_int_equal(buf[0], 14);
	assert_memory_equal(buf + 1, "valise auth v1", 14);
	uint8_t buf2[512];
	vl_writer_init_fixed(&w, buf2, sizeof buf2);
	assert_int_equal(vl_proto_auth_tbs(&w, VL_PROTO_LABEL_REGISTER, &chb, &sn, &u, &d), VL_OK);
	assert_memory_not_equal(buf, buf2, 16);
}

static int dec_device_list_ok(const struct vl_bytes *b, void *m)
{
	return vl_msg_device_list_ok_decode(b, m);
}

static void test_devices(void **state)
{
	(void)state;
	uint8_t k1[32] = {1}, k2[65] = {4};
	struct vl_device_info in[2] = {
	    {B("laptop"), 1, {k1, sizeof k1}, 1700000000, false},
	    {B("phone"), 2, {k2, sizeof k2}, 1700000100, true},
	};
	struct vl_writer w;
	vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
	assert_int_equal(vl_msg_device_list_ok_encode(&w, 3, in, 2), VL_OK);
	struct enc e = take(&w);
	struct vl_frame f = frame_of(&e, VL_FRAME_DEVICE_LIST | VL_FRAME_REPLY, 3);
	struct vl_msg_device_list_ok m;
	assert_int_equal(vl_msg_device_list_ok_decode(&f.body, &m), VL_OK);
	assert_int_equal(m.devices.count, 2);
	struct vl_device_info d;
	assert_true(vl_device_info_next(&m.devices, &d));
	assert_memory_equal(d.device.p, "laptop", 6);
	assert_int_equal(d.cipher_suite, 1);
	assert_false(d.revoked);
	assert_true(vl_device_info_next(&m.devices, &d));
	assert_int_equal(d.signature_key.len, 65);
	assert_true(d.revoked);
	assert_true(d.created == 1700000100);
	assert_false(vl_device_info_next(&m.devices, &d));
	check_truncations(&e, dec_device_list_ok, &m);
	/* The revoked flag must be 0 or 1. */
	e.buf[e.len - 1] = 2;
	f = frame_of(&e, VL_FRAME_DEVICE_LIST | VL_FRAME_REPLY, 3);
	assert_int_equal(vl_msg_device_list_ok_decode(&f.body, &m), VL_ERR_DECODE);
	free(e.buf);

	/* Empty list. */
	vl_writer_init_heap(&w, 64);
	assert_int_equal(vl_msg_device_list_ok_encode(&w, 3, NULL, 0), VL_OK);
	e = take(&w);
	f = frame_of(&e, VL_FRAME_DEVICE_LIST | VL_FRAME_REPLY, 3);
	assert_int_equal(vl_msg_device_list_ok_decode(&f.body, &m), VL_OK);
	assert_int_equal(m.devices.count, 0);
	free(e.buf);

	struct vl_msg_device_revoke r = {B("phone")}, r2;
	vl_writer_init_heap(&w, 64);
	assert_int_equal(vl_msg_device_revoke_encode(&w, 4, &r), VL_OK);
	e = take(&w);
	f = frame_of(&e, VL_FRAME_DEVICE_REVOKE, 4);
	assert_int_equal(vl_msg_device_revoke_decode(&f.body, &r2), VL_OK);
	assert_memory_equal(r2.device.p, "phone", 5);
	free(e.buf);

	struct vl_msg_device_invite_ok inv = {B("ABCD-EFGH")}, inv2;
	vl_writer_init_heap(&w, 64);
	assert_int_equal(vl_msg_device_invite_ok_encode(&w, 5, &inv), VL_OK);
	e = take(&w);
	f = frame_of(&e, VL_FRAME_DEVICE_INVITE | VL_FRAME_REPLY, 5);
	assert_int_equal(vl_msg_device_invite_ok_decode(&f.body, &inv2), VL_OK);
	assert_memory_equal(inv2.invite.p, "ABCD-EFGH", 9);
	free(e.buf);
}

static int dec_kp_upload(const struct vl_bytes *b, void *m)
{
	return vl_msg_kp_upload_decode(b, m);
}

static void test_key_packages(void **state)
{
	(void)state;
	uint8_t kp[300];
	memset(kp, 0xab, sizeof kp);
	struct vl_kp_upload_item items[VL_PROTO_KP_PER_UPLOAD + 1];
	for (size_t i = 0; i < VL_PROTO_KP_PER_UPLOAD + 1; i++)
		items[i] = (struct vl_kp_upload_item){i == 0, {kp, 100 + i}};
	struct vl_writer w;
	vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
	assert_int_equal(vl_msg_kp_upload_encode(&w, 9, items, 3), VL_OK);
	struct enc e = take(&w);
	struct vl_frame f = frame_of(&e, VL_FRAME_KP_UPLOAD, 9);
	struct vl_msg_kp_upload m;
	assert_int_equal(vl_msg_kp_upload_decode(&f.body, &m), VL_OK);
	assert_int_equal(m.key_packages.count, 3);
	struct vl_kp_upload_item it;
	for (size_t i = 0; i < 3; i++) {
		assert_true(vl_kp_upload_item_next(&m.key_packages, &it));
		assert_int_equal(it.last_resort, i == 0);
		assert_int_equal(it.key_package.len, 100 + i);
	}
	assert_false(vl_kp_upload_item_next(&m.key_packages, &it));
	check_truncations(&e, dec_kp_upload, &m);
	free(e.buf);

	/* Count limit on both ends. */
	vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
	assert_int_equal(vl_msg_kp_upload_encode(&w, 9, items, VL_PROTO_KP_PER_UPLOAD + 1),
	                 VL_ERR_LIMIT);
	vl_writer_cleanup(&w);
	vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
	assert_int_equal(vl_msg_kp_upload_encode(&w, 9, items, VL_PROTO_KP_PER_UPLOAD), VL_OK);
	e = take(&w);
	f = frame_of(&e, VL_FRAME_KP_UPLOAD, 9);
	assert_int_equal(vl_msg_kp_upload_decode(&f.body, &m), VL_OK);
	assert_int_equal(m.key_packages.count, VL_PROTO_KP_PER_UPLOAD);
	free(e.buf);
	/* Hand-built body with 101 one-byte packages. */
	uint8_t body[4 + 3 * (VL_PROTO_KP_PER_UPLOAD + 1)];
	size_t n = 3 * (VL_PROTO_KP_PER_UPLOAD + 1);
	body[0] = (uint8_t)(0x40 | (n >> 8));
	body[1] = (uint8_t)n;
	for (size_t i = 0; i < VL_PROTO_KP_PER_UPLOAD + 1; i++) {
		body[2 + 3 * i] = 0;
		body[3 + 3 * i] = 1;
		body[4 + 3 * i] = 0x77;
	}
	struct vl_bytes bb = {body, 2 + n};
	assert_int_equal(vl_msg_kp_upload_decode(&bb, &m), VL_ERR_LIMIT);
	/* An empty KeyPackage is malformed. */
	static const uint8_t empty_kp[] = {2, 0, 0};
	bb = (struct vl_bytes){empty_kp, sizeof empty_kp};
	assert_int_equal(vl_msg_kp_upload_decode(&bb, &m), VL_ERR_DECODE);

	struct vl_msg_kp_count cnt = {17}, cnt2;
	vl_writer_init_heap(&w, 64);
	assert_int_equal(vl_msg_kp_count_encode(&w, VL_FRAME_KP_LOW, 0, &cnt), VL_OK);
	e = take(&w);
	f = frame_of(&e, VL_FRAME_KP_LOW, 0);
	assert_int_equal(vl_msg_kp_count_decode(&f.body, &cnt2), VL_OK);
	assert_int_equal(cnt2.key_packages, 17);
	free(e.buf);
	vl_writer_init_heap(&w, 64);
	assert_int_equal(vl_msg_kp_count_encode(&w, VL_FRAME_SEND, 0, &cnt), VL_ERR_ARG);
	vl_writer_cleanup(&w);

	struct vl_msg_kp_claim c = {B("carol@example.org")}, c2;
	vl_writer_init_heap(&w, 64);
	assert_int_equal(vl_msg_kp_claim_encode(&w, 10, &c), VL_OK);
	e = take(&w);
	f = frame_of(&e, VL_FRAME_KP_CLAIM, 10);
	assert_int_equal(vl_msg_kp_claim_decode(&f.body, &c2), VL_OK);
	assert_int_equal(c2.user.len, 17);
	free(e.buf);

	struct vl_claimed_kp claimed[2] = {{B("a"), {kp, 10}}, {B("b"), {kp, 20}}};
	vl_writer_init_heap(&w, 256);
	assert_int_equal(vl_msg_kp_claim_ok_encode(&w, 10, claimed, 2), VL_OK);
	e = take(&w);
	f = frame_of(&e, VL_FRAME_KP_CLAIM | VL_FRAME_REPLY, 10);
	struct vl_msg_kp_claim_ok ok;
	assert_int_equal(vl_msg_kp_claim_ok_decode(&f.body, &ok), VL_OK);
	assert_int_equal(ok.key_packages.count, 2);
	struct vl_claimed_kp ck;
	assert_true(vl_claimed_kp_next(&ok.key_packages, &ck));
	assert_memory_equal(ck.device.p, "a", 1);
	assert_true(vl_claimed_kp_next(&ok.key_packages, &ck));
	assert_int_equal(ck.key_package.len, 20);
	assert_false(vl_claimed_kp_next(&ok.key_packages, &ck));
	free(e.buf);
}

static int dec_commit(const struct vl_bytes *b, void *m)
{
	return vl_msg_commit_decode(b, m);
}

static int dec_deliver(const struct vl_bytes *b, void *m)
{
	return vl_msg_deliver_decode(b, m);
}

static void test_delivery(void **state)
{
	(void)state;
	uint8_t gid[32], msg[500], wel[200];
	memset(gid, 0x01, sizeof gid);
	memset(msg, 0x02, sizeof msg);
	memset(wel, 0x03, sizeof wel);
	struct vl_device_ref added[2] = {{B("bob@example.org"), B("phone")},
	                                 {B("bob@example.org"), B("laptop")}};
	struct vl_device_ref removed[1] = {{B("eve@example.org"), B("x")}};
	struct vl_msg_commit c = {.group_id = {gid, sizeof gid},
	                          .epoch = 5,
	                          .commit = {msg, sizeof msg},
	                          .has_welcome = true,
	                          .welcome = {wel, sizeof wel}};
	memset(c.client_msg_id, 0x44, sizeof c.client_msg_id);
	struct vl_writer w;
	vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
	assert_int_equal(vl_msg_commit_encode(&w, 11, &c, added, 2, removed, 1), VL_OK);
	struct enc e = take(&w);
	struct vl_frame f = frame_of(&e, VL_FRAME_COMMIT, 11);
	struct vl_msg_commit m;
	assert_int_equal(vl_msg_commit_decode(&f.body, &m), VL_OK);
	assert_true(m.epoch == 5);
	assert_memory_equal(m.client_msg_id, c.client_msg_id, VL_PROTO_MSG_ID_LEN);
	assert_int_equal(m.commit.len, sizeof msg);
	assert_int_equal(m.added.count, 2);
	assert_int_equal(m.removed.count, 1);
	assert_true(m.has_welcome);
	assert_int_equal(m.welcome.len, sizeof wel);
	struct vl_device_ref d;
	assert_true(vl_device_ref_next(&m.added, &d));
	assert_memory_equal(d.device.p, "phone", 5);
	assert_true(vl_device_ref_next(&m.added, &d));
	assert_false(vl_device_ref_next(&m.added, &d));
	assert_true(vl_device_ref_next(&m.removed, &d));
	assert_memory_equal(d.user.p, "eve@example.org", 15);
	check_truncations(&e, dec_commit, &m);
	free(e.buf);

	/* Without a Welcome; the optional octet must be 0 or 1. */
	c.has_welcome = false;
	vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
	assert_int_equal(vl_msg_commit_encode(&w, 12, &c, NULL, 0, NULL, 0), VL_OK);
	e = take(&w);
	f = frame_of(&e, VL_FRAME_COMMIT, 12);
	assert_int_equal(vl_msg_commit_decode(&f.body, &m), VL_OK);
	assert_false(m.has_welcome);
	assert_int_equal(m.added.count, 0);
	e.buf[e.len - 1] = 2;
	f = frame_of(&e, VL_FRAME_COMMIT, 12);
	assert_int_equal(vl_msg_commit_decode(&f.body, &m), VL_ERR_DECODE);
	free(e.buf);

	struct vl_msg_commit_ok co = {6}, co2;
	vl_writer_init_heap(&w, 64);
	assert_int_equal(vl_msg_commit_ok_encode(&w, 11, &co), VL_OK);
	e = take(&w);
	f = frame_of(&e, VL_FRAME_COMMIT | VL_FRAME_REPLY, 11);
	assert_int_equal(vl_msg_commit_ok_decode(&f.body, &co2), VL_OK);
	assert_true(co2.epoch == 6);
	free(e.buf);

	struct vl_msg_send s = {.group_id = {gid, sizeof gid}, .message = {msg, sizeof msg}}, s2;
	memset(s.client_msg_id, 0x55, sizeof s.client_msg_id);
	vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
	assert_int_equal(vl_msg_send_encode(&w, 13, &s), VL_OK);
	e = take(&w);
	f = frame_of(&e, VL_FRAME_SEND, 13);
	assert_int_equal(vl_msg_send_decode(&f.body, &s2), VL_OK);
	assert_memory_equal(s2.client_msg_id, s.client_msg_id, VL_PROTO_MSG_ID_LEN);
	assert_memory_equal(s2.message.p, msg, sizeof msg);
	free(e.buf);
	/* Empty group id or message cannot be sent. */
	s.group_id.len = 0;
	vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
	assert_int_not_equal(vl_msg_send_encode(&w, 13, &s), VL_OK);
	vl_writer_cleanup(&w);

	struct vl_msg_ack a = {UINT64_MAX}, a2;
	vl_writer_init_heap(&w, 64);
	assert_int_equal(vl_msg_ack_encode(&w, 14, &a), VL_OK);
	e = take(&w);
	f = frame_of(&e, VL_FRAME_ACK, 14);
	assert_int_equal(vl_msg_ack_decode(&f.body, &a2), VL_OK);
	assert_true(a2.seq == UINT64_MAX);
	free(e.buf);

	struct vl_msg_deliver dv = {.seq = 99,
	                            .kind = VL_DELIVERY_WELCOME,
	                            .group_id = {gid, 8},
	                            .sender = {B("alice@example.org"), B("laptop")},
	                            .message = {wel, sizeof wel}},
	                      dv2;
	vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
	assert_int_equal(vl_msg_deliver_encode(&w, &dv), VL_OK);
	e = take(&w);
	f = frame_of(&e, VL_FRAME_DELIVER, 0);
	assert_int_equal(vl_msg_deliver_decode(&f.body, &dv2), VL_OK);
	assert_true(dv2.seq == 99);
	assert_int_equal(dv2.kind, VL_DELIVERY_WELCOME);
	assert_int_equal(dv2.group_id.len, 8);
	assert_memory_equal(dv2.sender.user.p, "alice@example.org", 17);
	check_truncations(&e, dec_deliver, &dv2);
	/* Unknown kind. */
	e.buf[(size_t)(f.body.p - e.buf) + 8] = 9;
	f = frame_of(&e, VL_FRAME_DELIVER, 0);
	assert_int_equal(vl_msg_deliver_decode(&f.body, &dv2), VL_ERR_DECODE);
	free(e.buf);
}

static void test_error_closing(void **state)
{
	(void)state;
	struct vl_writer w;
	vl_writer_init_heap(&w, 512);
	char longdetail[300];
	memset(longdetail, 'x', sizeof longdetail - 1);
	longdetail[sizeof longdetail - 1] = 0;
	assert_int_equal(vl_msg_error_encode(&w, 15, VL_PERR_STALE_EPOCH, longdetail), VL_OK);
	struct enc e = take(&w);
	struct vl_frame f = frame_of(&e, VL_FRAME_ERROR, 15);
	struct vl_msg_error m;
	assert_int_equal(vl_msg_error_decode(&f.body, &m), VL_OK);
	assert_int_equal(m.code, VL_PERR_STALE_EPOCH);
	assert_int_equal(m.detail.len, VL_PROTO_DETAIL_MAX);
	free(e.buf);

	vl_writer_init_heap(&w, 64);
	assert_int_equal(vl_msg_error_encode(&w, 15, VL_PERR_MALFORMED, NULL), VL_OK);
	e = take(&w);
	f = frame_of(&e, VL_FRAME_ERROR, 15);
	assert_int_equal(vl_msg_error_decode(&f.body, &m), VL_OK);
	assert_int_equal(m.detail.len, 0);
	free(e.buf);

	struct vl_msg_closing c = {VL_PERR_REVOKED}, c2;
	vl_writer_init_heap(&w, 64);
	assert_int_equal(vl_msg_closing_encode(&w, &c), VL_OK);
	e = take(&w);
	f = frame_of(&e, VL_FRAME_CLOSING, 0);
	assert_int_equal(vl_msg_closing_decode(&f.body, &c2), VL_OK);
	assert_int_equal(c2.code, VL_PERR_REVOKED);
	free(e.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),         cmocka_unit_test(test_frame_header),
	    cmocka_unit_test(test_register_auth), cmocka_unit_test(test_challenge_and_tbs),
	    cmocka_unit_test(test_devices),       cmocka_unit_test(test_key_packages),
	    cmocka_unit_test(test_delivery),      cmocka_unit_test(test_error_closing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
