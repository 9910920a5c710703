/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of src/mls/struct: round trips of hand-built structures, the
 * TBS and AAD encodings, and rejection of truncated input, trailing bytes,
 * non-minimal varints, reserved and unknown enum values, broken form rules,
 * limits and allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mls/struct/struct.h"

#define B(s) ((struct vl_mls_bytes){(const uint8_t *)(s), sizeof(s) - 1})

static const uint16_t caps_versions[] = {1};
static const uint16_t caps_suites[] = {1, 3, 0x2a2a};
static const uint16_t caps_exts[] = {0x0a0a, 0xff00};
static const uint16_t caps_creds[] = {1, 2};
static const struct vl_mls_extension leaf_exts[] = {{0x0a0a, {NULL, 0}}, {0xff00, {NULL, 0}}};

/* A LeafNode with a basic credential, GREASE capabilities and extensions. */
static struct vl_mls_leaf_node make_leaf(uint8_t source)
{
	struct vl_mls_leaf_node l;
	memset(&l, 0, sizeof l);
	l.encryption_key = B("encryption key 32 bytes long....");
	l.signature_key = B("signature key 32 bytes long.....");
	l.credential.type = VL_MLS_CREDENTIAL_BASIC;
	l.credential.identity = B("alice@example.org#1");
	l.capabilities.versions = (struct vl_mls_u16_list){caps_versions, 1};
	l.capabilities.cipher_suites = (struct vl_mls_u16_list){caps_suites, 3};
	l.capabilities.extensions = (struct vl_mls_u16_list){caps_exts, 2};
	l.capabilities.credentials = (struct vl_mls_u16_list){caps_creds, 2};
	l.source = source;
	l.lifetime = (struct vl_mls_lifetime){1000, 2000};
	l.parent_hash = B("parent hash");
	l.extensions = (struct vl_mls_extension_list){leaf_exts, 2};
	l.signature = B("leaf signature");
	return l;
}

static struct vl_mls_key_package make_key_package(void)
{
	struct vl_mls_key_package kp;
	memset(&kp, 0, sizeof kp);
	kp.version = VL_MLS_VERSION_MLS10;
	kp.cipher_suite = 1;
	kp.init_key = B("init key");
	kp.leaf_node = make_leaf(VL_MLS_LEAF_SOURCE_KEY_PACKAGE);
	kp.signature = B("kp signature");
	return kp;
}

static struct vl_mls_group_context make_context(void)
{
	struct vl_mls_group_context gc;
	memset(&gc, 0, sizeof gc);
	gc.version = VL_MLS_VERSION_MLS10;
	gc.cipher_suite = 2;
	gc.group_id = B("group");
	gc.epoch = 7;
	gc.tree_hash = B("tree hash");
	gc.confirmed_transcript_hash = B("cth");
	return gc;
}

/* Encodes an MLSMessage to a heap buffer (asserting success). */
static uint8_t *encode_message(const struct vl_mls_message *m, size_t *len)
{
	uint8_t *buf;
	assert_int_equal(vl_mls_message_encode_alloc(m, &buf, len), VL_OK);
	return buf;
}

/* Parses buf as an MLSMessage, re-encodes it and checks the bytes match;
 * then checks that every strict prefix and one trailing byte are rejected. */
static void check_message_round_trip(const uint8_t *buf, size_t len)
{
	struct vl_mls_arena a;
	struct vl_mls_message m;
	vl_mls_arena_init(&a, 0);
	assert_int_equal(vl_mls_message_parse(buf, len, &a, &m), VL_OK);
	uint8_t *again;
	size_t again_len;
	assert_int_equal(vl_mls_message_encode_alloc(&m, &again, &again_len), VL_OK);
	assert_int_equal(again_len, len);
	assert_memory_equal(again, buf, len);
	free(again);
	vl_mls_arena_cleanup(&a);

	for (size_t cut = 0; cut < len; cut++) {
		assert_int_equal(vl_mls_message_parse(buf, cut, &a, &m), VL_ERR_DECODE);
		vl_mls_arena_cleanup(&a);
	}
	uint8_t *longer = malloc(len + 1);
	assert_non_null(longer);
	memcpy(longer, buf, len);
	longer[len] = 0;
	assert_int_equal(vl_mls_message_parse(longer, len + 1, &a, &m), VL_ERR_DECODE);
	vl_mls_arena_cleanup(&a);
	free(longer);
}

static void test_grease(void **state)
{
	(void)state;
	unsigned n = 0;
	for (uint32_t v = 0; v <= 0xffff; v++)
		n += vl_mls_is_grease((uint16_t)v);
	assert_int_equal(n, 15);
	assert_true(vl_mls_is_grease(0x0a0a));
	assert_true(vl_mls_is_grease(0xeaea));
	assert_false(vl_mls_is_grease(0xfafa));
	assert_false(vl_mls_is_grease(0x0a1a));
}

static void test_key_package_round_trip(void **state)
{
	(void)state;
	struct vl_mls_message m = {.version = 1, .wire_format = VL_MLS_WIRE_KEY_PACKAGE};
	m.key_package = make_key_package();
	static const struct vl_mls_extension kp_exts[] = {{0x3a3a, {(const uint8_t *)"xyz", 3}}};
	m.key_package.extensions = (struct vl_mls_extension_list){kp_exts, 1};
	size_t len;
	uint8_t *buf = encode_message(&m, &len);
	check_message_round_trip(buf, len);

	struct vl_mls_arena a;
	struct vl_mls_message d;
	vl_mls_arena_init(&a, 0);
	assert_int_equal(vl_mls_message_parse(buf, len, &a, &d), VL_OK);
	const struct vl_mls_key_package *kp = &d.key_package;
	assert_int_equal(kp->cipher_suite, 1);
	assert_int_equal(kp->leaf_node.source, VL_MLS_LEAF_SOURCE_KEY_PACKAGE);
	assert_true(kp->leaf_node.lifetime.not_before == 1000);
	assert_true(kp->leaf_node.lifetime.not_after == 2000);
	assert_int_equal(kp->leaf_node.capabilities.cipher_suites.count, 3);
	assert_int_equal(kp->leaf_node.capabilities.cipher_suites.items[2], 0x2a2a);
	assert_int_equal(kp->leaf_node.credential.identity.len, 19);
	/* Opaque fields point into the input, not into copies. */
	assert_true(kp->init_key.data > buf && kp->init_key.data < buf + len);
	const struct vl_mls_extension *x = vl_mls_extensions_find(&kp->extensions, 0x3a3a);
	assert_non_null(x);
	assert_int_equal(x->data.len, 3);
	assert_null(vl_mls_extensions_find(&kp->extensions, 1));

	/* KeyPackageTBS is the encoding without the trailing signature. */
	struct vl_writer w;
	vl_writer_init_heap(&w, 1 << 16);
	assert_int_equal(vl_mls_key_package_tbs_encode(&w, kp), VL_OK);
	size_t sig_field = 1 + kp->signature.len;
	assert_int_equal(w.len, len - 4 - sig_field);
	assert_memory_equal(w.buf, buf + 4, w.len);
	vl_writer_cleanup(&w);

	/* Peek gives the cipher suite without a full decode. */
	struct vl_mls_peek pk;
	assert_int_equal(vl_mls_message_peek(buf, len, &pk), VL_OK);
	assert_int_equal(pk.wire_format, VL_MLS_WIRE_KEY_PACKAGE);
	assert_int_equal(pk.cipher_suite, 1);
	/* §10: the KeyPackage version must equal the MLSMessage version. */
	buf[5] = 2;
	assert_int_equal(vl_mls_message_parse(buf, len, &a, &d), VL_ERR_INVALID);
	assert_int_equal(vl_mls_message_peek(buf, len, &pk), VL_ERR_INVALID);
	buf[5] = 0;
	assert_int_equal(vl_mls_message_parse(buf, len, &a, &d), VL_ERR_DECODE);
	assert_int_equal(vl_mls_message_peek(buf, len, &pk), VL_ERR_DECODE);
	/* Bare, any non-zero version is kept for the engine to judge. */
	buf[5] = 2;
	struct vl_mls_key_package bare;
	assert_int_equal(vl_mls_key_package_parse(buf + 4, len - 4, &a, &bare), VL_OK);
	assert_int_equal(bare.version, 2);
	m.key_package.version = 2;
	uint8_t *enc;
	size_t enc_len;
	assert_int_equal(vl_mls_message_encode_alloc(&m, &enc, &enc_len), VL_ERR_ARG);
	vl_mls_arena_cleanup(&a);
	free(buf);

	/* §10: the leaf of a KeyPackage must have source key_package. */
	struct vl_mls_key_package kp2 = make_key_package();
	kp2.leaf_node = make_leaf(VL_MLS_LEAF_SOURCE_UPDATE);
	assert_int_equal(vl_mls_key_package_encode_alloc(&kp2, &enc, &enc_len), VL_ERR_ARG);
	struct vl_writer w2;
	vl_writer_init_heap(&w2, 1 << 16);
	assert_int_equal(vl_write_u16(&w2, 1), VL_OK);
	assert_int_equal(vl_write_u16(&w2, 1), VL_OK);
	assert_int_equal(vl_write_opaque(&w2, "k", 1), VL_OK);
	assert_int_equal(vl_mls_leaf_node_encode(&w2, &kp2.leaf_node), VL_OK);
	assert_int_equal(vl_write_u8(&w2, 0), VL_OK);
	assert_int_equal(vl_write_opaque(&w2, "s", 1), VL_OK);
	assert_int_equal(vl_mls_key_package_parse(w2.buf, w2.len, &a, &bare), VL_ERR_INVALID);
	vl_writer_cleanup(&w2);
	vl_mls_arena_cleanup(&a);
}

static void test_credentials(void **state)
{
	(void)state;
	const struct vl_mls_bytes chain[] = {B("end entity cert"), B("intermediate")};
	struct vl_mls_credential creds[3] = {
	    {.type = VL_MLS_CREDENTIAL_BASIC, .identity = B("bob")},
	    {.type = VL_MLS_CREDENTIAL_X509, .certificates = chain, .certificate_count = 2},
	    {.type = 0xf123, .other = B("custom body")},
	};
	for (int i = 0; i < 3; i++) {
		uint8_t *buf;
		size_t len;
		assert_int_equal(vl_mls_credential_encode_alloc(&creds[i], &buf, &len), VL_OK);
		struct vl_mls_arena a;
		struct vl_mls_credential d;
		vl_mls_arena_init(&a, 0);
		assert_int_equal(vl_mls_credential_parse(buf, len, &a, &d), VL_OK);
		assert_int_equal(d.type, creds[i].type);
		if (i == 1) {
			assert_int_equal(d.certificate_count, 2);
			assert_memory_equal(d.certificates[1].data, "intermediate", 12);
		}
		if (i == 2)
			assert_memory_equal(d.other.data, "custom body", 11);
		uint8_t *again;
		size_t again_len;
		assert_int_equal(vl_mls_credential_encode_alloc(&d, &again, &again_len), VL_OK);
		assert_int_equal(again_len, len);
		assert_memory_equal(again, buf, len);
		free(again);
		free(buf);
		vl_mls_arena_cleanup(&a);
	}
	/* Credential type 0 is reserved. */
	static const uint8_t zero[] = {0, 0, 0};
	struct vl_mls_arena a;
	struct vl_mls_credential d;
	vl_mls_arena_init(&a, 0);
	assert_int_equal(vl_mls_credential_parse(zero, sizeof zero, &a, &d), VL_ERR_DECODE);
	/* Too many certificates. */
	struct vl_mls_bytes many[VL_MLS_MAX_CERTIFICATES + 1];
	for (size_t i = 0; i < VL_MLS_MAX_CERTIFICATES + 1; i++)
		many[i] = B("c");
	struct vl_mls_credential big = {.type = VL_MLS_CREDENTIAL_X509,
	                                .certificates = many,
	                                .certificate_count = VL_MLS_MAX_CERTIFICATES + 1};
	uint8_t *buf;
	size_t len;
	assert_int_equal(vl_mls_credential_encode_alloc(&big, &buf, &len), VL_ERR_LIMIT);
	assert_null(buf);
	/* Hand-encode it to check the decoder's limit too. */
	uint8_t raw[64];
	size_t n = 0;
	raw[n++] = 0;
	raw[n++] = 2;
	raw[n++] = 2 * (VL_MLS_MAX_CERTIFICATES + 1);
	for (size_t i = 0; i < VL_MLS_MAX_CERTIFICATES + 1; i++) {
		raw[n++] = 1;
		raw[n++] = 'c';
	}
	assert_int_equal(vl_mls_credential_parse(raw, n, &a, &d), VL_ERR_LIMIT);
	vl_mls_arena_cleanup(&a);
}

static void test_leaf_node_tbs(void **state)
{
	(void)state;
	static const uint8_t sources[] = {VL_MLS_LEAF_SOURCE_KEY_PACKAGE, VL_MLS_LEAF_SOURCE_UPDATE,
	                                  VL_MLS_LEAF_SOURCE_COMMIT};
	for (int i = 0; i < 3; i++) {
		struct vl_mls_leaf_node leaf = make_leaf(sources[i]);
		uint8_t *enc;
		size_t len;
		assert_int_equal(vl_mls_leaf_node_encode_alloc(&leaf, &enc, &len), VL_OK);
		struct vl_mls_arena a;
		struct vl_mls_leaf_node d;
		vl_mls_arena_init(&a, 0);
		assert_int_equal(vl_mls_leaf_node_parse(enc, len, &a, &d), VL_OK);
		assert_int_equal(d.source, sources[i]);
		if (sources[i] == VL_MLS_LEAF_SOURCE_COMMIT)
			assert_memory_equal(d.parent_hash.data, "parent hash", 11);
		else
			assert_int_equal(d.parent_hash.len, 0);

		struct vl_mls_bytes gid = B("gid");
		struct vl_writer w;
		vl_writer_init_heap(&w, 1 << 16);
		assert_int_equal(vl_mls_leaf_node_tbs_encode(&w, &d, &gid, 0x01020304), VL_OK);
		size_t body = len - 1 - leaf.signature.len;
		assert_memory_equal(w.buf, enc, body);
		if (sources[i] == VL_MLS_LEAF_SOURCE_KEY_PACKAGE) {
			assert_int_equal(w.len, body);
		} else {
			static const uint8_t tail[] = {3, 'g', 'i', 'd', 1, 2, 3, 4};
			assert_int_equal(w.len, body + sizeof tail);
			assert_memory_equal(w.buf + body, tail, sizeof tail);
		}
		vl_writer_cleanup(&w);
		/* update/commit leaves need the group id. */
		vl_writer_init_heap(&w, 1 << 16);
		assert_int_equal(vl_mls_leaf_node_tbs_encode(&w, &d, NULL, 0),
		                 sources[i] == VL_MLS_LEAF_SOURCE_KEY_PACKAGE ? VL_OK : VL_ERR_ARG);
		vl_writer_cleanup(&w);

		vl_mls_arena_cleanup(&a);
		free(enc);
	}
	struct vl_mls_leaf_node bad = make_leaf(4);
	uint8_t *buf;
	size_t len;
	assert_int_equal(vl_mls_leaf_node_encode_alloc(&bad, &buf, &len), VL_ERR_ARG);
	bad = make_leaf(0);
	assert_int_equal(vl_mls_leaf_node_encode_alloc(&bad, &buf, &len), VL_ERR_ARG);
}

/* Finds the offset of the leaf node source octet in an encoded update-source
 * leaf built by make_leaf (no lifetime or parent hash follows it). */
static void test_leaf_source_rejected(void **state)
{
	(void)state;
	struct vl_mls_leaf_node leaf = make_leaf(VL_MLS_LEAF_SOURCE_UPDATE);
	leaf.extensions.count = 0;
	uint8_t *enc;
	size_t len;
	assert_int_equal(vl_mls_leaf_node_encode_alloc(&leaf, &enc, &len), VL_OK);
	/* Layout tail: source(1) extensions(1: empty) signature(1 + 14). */
	size_t pos = len - 1 - leaf.signature.len - 1 - 1;
	assert_int_equal(enc[pos], VL_MLS_LEAF_SOURCE_UPDATE);
	struct vl_mls_arena a;
	struct vl_mls_leaf_node d;
	vl_mls_arena_init(&a, 0);
	enc[pos] = 0;
	assert_int_equal(vl_mls_leaf_node_parse(enc, len, &a, &d), VL_ERR_DECODE);
	enc[pos] = 4;
	assert_int_equal(vl_mls_leaf_node_parse(enc, len, &a, &d), VL_ERR_DECODE);
	enc[pos] = VL_MLS_LEAF_SOURCE_UPDATE;
	assert_int_equal(vl_mls_leaf_node_parse(enc, len, &a, &d), VL_OK);
	vl_mls_arena_cleanup(&a);
	free(enc);
}

static void test_extensions_rules(void **state)
{
	(void)state;
	struct vl_mls_arena a;
	struct vl_mls_extension_list l;
	vl_mls_arena_init(&a, 0);
	/* Two extensions of type 5: §13.4 forbids duplicates. */
	static const uint8_t dup[] = {8, 0, 5, 1, 'a', 0, 5, 1, 'b'};
	assert_int_equal(vl_mls_extension_list_parse(dup, sizeof dup, &a, &l), VL_ERR_INVALID);
	static const uint8_t ok[] = {8, 0, 5, 1, 'a', 0, 6, 1, 'b'};
	assert_int_equal(vl_mls_extension_list_parse(ok, sizeof ok, &a, &l), VL_OK);
	assert_int_equal(l.count, 2);
	/* Type 0 is reserved. */
	static const uint8_t zero[] = {3, 0, 0, 0};
	assert_int_equal(vl_mls_extension_list_parse(zero, sizeof zero, &a, &l), VL_ERR_DECODE);
	/* The vector length claims more than there is. */
	static const uint8_t trunc[] = {9, 0, 5, 1, 'a', 0, 6, 1, 'b'};
	assert_int_equal(vl_mls_extension_list_parse(trunc, sizeof trunc, &a, &l), VL_ERR_DECODE);
	/* An element cut in the middle of the vector. */
	static const uint8_t cut[] = {4, 0, 5, 2, 'a'};
	assert_int_equal(vl_mls_extension_list_parse(cut, sizeof cut, &a, &l), VL_ERR_DECODE);
	/* Non-minimal vector length (0x40 0x08 for 8). */
	static const uint8_t nonmin[] = {0x40, 8, 0, 5, 1, 'a', 0, 6, 1, 'b'};
	assert_int_equal(vl_mls_extension_list_parse(nonmin, sizeof nonmin, &a, &l), VL_ERR_DECODE);

	/* Limit: VL_MLS_MAX_EXTENSIONS + 1 distinct extensions. */
	size_t n = VL_MLS_MAX_EXTENSIONS + 1;
	uint8_t *big = malloc(4 + n * 3);
	assert_non_null(big);
	size_t body = n * 3;
	big[0] = (uint8_t)(0x40 | (body >> 8));
	big[1] = (uint8_t)body;
	for (size_t i = 0; i < n; i++) {
		big[2 + 3 * i] = (uint8_t)((i + 1) >> 8);
		big[3 + 3 * i] = (uint8_t)(i + 1);
		big[4 + 3 * i] = 0;
	}
	assert_int_equal(vl_mls_extension_list_parse(big, 2 + body, &a, &l), VL_ERR_LIMIT);
	free(big);

	/* Typed helpers. */
	struct vl_mls_bytes v;
	struct vl_mls_extension ext = {VL_MLS_EXT_APPLICATION_ID, {(const uint8_t *)"\3app", 4}};
	assert_int_equal(vl_mls_ext_application_id_parse(&ext, &v), VL_OK);
	assert_int_equal(v.len, 3);
	ext.data.len = 3;
	assert_int_equal(vl_mls_ext_application_id_parse(&ext, &v), VL_ERR_DECODE);
	ext = (struct vl_mls_extension){VL_MLS_EXT_EXTERNAL_PUB, {(const uint8_t *)"\2pk!", 4}};
	assert_int_equal(vl_mls_ext_external_pub_parse(&ext, &v), VL_ERR_DECODE);

	static const uint16_t ext_types[] = {0xff01}, prop_types[] = {0xff02}, cred_types[] = {2};
	struct vl_mls_required_capabilities rc = {{ext_types, 1}, {prop_types, 1}, {cred_types, 1}};
	uint8_t *enc;
	size_t len;
	assert_int_equal(vl_mls_required_capabilities_encode_alloc(&rc, &enc, &len), VL_OK);
	struct vl_mls_required_capabilities rcd;
	ext = (struct vl_mls_extension){VL_MLS_EXT_REQUIRED_CAPABILITIES, {enc, len}};
	assert_int_equal(vl_mls_ext_required_capabilities_parse(&ext, &a, &rcd), VL_OK);
	assert_int_equal(rcd.proposal_types.items[0], 0xff02);
	free(enc);
	/* An odd-length uint16 list is malformed. */
	static const uint8_t odd[] = {3, 0, 1, 2, 0, 0};
	assert_int_equal(vl_mls_required_capabilities_parse(odd, sizeof odd, &a, &rcd),
	                 VL_ERR_DECODE);

	struct vl_mls_external_sender es[2] = {
	    {B("sig1"), {.type = VL_MLS_CREDENTIAL_BASIC, .identity = B("ds@example.org")}},
	    {B("sig2"), {.type = VL_MLS_CREDENTIAL_BASIC, .identity = B("records")}},
	};
	struct vl_mls_external_senders ess = {es, 2}, esd;
	assert_int_equal(vl_mls_external_senders_encode_alloc(&ess, &enc, &len), VL_OK);
	ext = (struct vl_mls_extension){VL_MLS_EXT_EXTERNAL_SENDERS, {enc, len}};
	assert_int_equal(vl_mls_ext_external_senders_parse(&ext, &a, &esd), VL_OK);
	assert_int_equal(esd.count, 2);
	assert_memory_equal(esd.items[1].credential.identity.data, "records", 7);
	free(enc);
	vl_mls_arena_cleanup(&a);
}

static void test_capabilities_limit(void **state)
{
	(void)state;
	uint16_t items[VL_MLS_MAX_CAPABILITY_ITEMS + 1] = {0};
	struct vl_mls_capabilities c = {0};
	c.cipher_suites = (struct vl_mls_u16_list){items, VL_MLS_MAX_CAPABILITY_ITEMS};
	uint8_t *enc;
	size_t len;
	assert_int_equal(vl_mls_capabilities_encode_alloc(&c, &enc, &len), VL_OK);
	struct vl_mls_arena a;
	struct vl_mls_capabilities d;
	vl_mls_arena_init(&a, 0);
	assert_int_equal(vl_mls_capabilities_parse(enc, len, &a, &d), VL_OK);
	assert_int_equal(d.cipher_suites.count, VL_MLS_MAX_CAPABILITY_ITEMS);
	free(enc);
	c.cipher_suites.count++;
	assert_int_equal(vl_mls_capabilities_encode_alloc(&c, &enc, &len), VL_ERR_LIMIT);
	/* The decoder's own limit, on a hand-made list of 257 entries. */
	size_t body = 2 * (VL_MLS_MAX_CAPABILITY_ITEMS + 1);
	uint8_t *raw = calloc(1, 2 + body + 4);
	assert_non_null(raw);
	raw[0] = 0;
	raw[1] = (uint8_t)(0x40 | (body >> 8));
	raw[2] = (uint8_t)body;
	assert_int_equal(vl_mls_capabilities_parse(raw, 3 + body + 3, &a, &d), VL_ERR_LIMIT);
	free(raw);
	vl_mls_arena_cleanup(&a);
}

static void test_proposals(void **state)
{
	(void)state;
	struct vl_mls_proposal p[9];
	memset(p, 0, sizeof p);
	p[0].type = VL_MLS_PROPOSAL_ADD;
	p[0].add = make_key_package();
	p[1].type = VL_MLS_PROPOSAL_UPDATE;
	p[1].update = make_leaf(VL_MLS_LEAF_SOURCE_UPDATE);
	p[2].type = VL_MLS_PROPOSAL_REMOVE;
	p[2].remove = 0xdeadbeef;
	p[3].type = VL_MLS_PROPOSAL_PSK;
	p[3].psk = (struct vl_mls_psk_id){
	    .type = VL_MLS_PSK_EXTERNAL, .psk_id = B("ext psk"), .psk_nonce = B("nonce")};
	p[4].type = VL_MLS_PROPOSAL_PSK;
	p[4].psk = (struct vl_mls_psk_id){.type = VL_MLS_PSK_RESUMPTION,
	                                  .usage = VL_MLS_RESUMPTION_BRANCH,
	                                  .psk_group_id = B("old group"),
	                                  .psk_epoch = 99,
	                                  .psk_nonce = B("nonce")};
	p[5].type = VL_MLS_PROPOSAL_REINIT;
	p[5].reinit =
	    (struct vl_mls_reinit){.group_id = B("new group"), .version = 1, .cipher_suite = 3};
	p[6].type = VL_MLS_PROPOSAL_EXTERNAL_INIT;
	p[6].external_init = B("kem output");
	static const struct vl_mls_extension gce[] = {{VL_MLS_EXT_APPLICATION_ID, {NULL, 0}}};
	p[7].type = VL_MLS_PROPOSAL_GROUP_CONTEXT_EXTENSIONS;
	p[7].group_context_extensions = (struct vl_mls_extension_list){gce, 1};
	p[8].type = 0xf00d; /* a custom type: body kept opaque */
	p[8].unknown = B("custom proposal body");

	for (int i = 0; i < 9; i++) {
		uint8_t *enc;
		size_t len;
		assert_int_equal(vl_mls_proposal_encode_alloc(&p[i], &enc, &len), VL_OK);
		struct vl_mls_arena a;
		struct vl_mls_proposal d;
		vl_mls_arena_init(&a, 0);
		assert_int_equal(vl_mls_proposal_parse(enc, len, &a, &d), VL_OK);
		assert_int_equal(d.type, p[i].type);
		uint8_t *again;
		size_t again_len;
		assert_int_equal(vl_mls_proposal_encode_alloc(&d, &again, &again_len), VL_OK);
		assert_int_equal(again_len, len);
		assert_memory_equal(again, enc, len);
		for (size_t cut = 0; cut < len; cut++)
			assert_int_equal(vl_mls_proposal_parse(enc, cut, &a, &d), VL_ERR_DECODE);
		free(again);
		free(enc);
		vl_mls_arena_cleanup(&a);
	}
	struct vl_mls_arena a;
	struct vl_mls_proposal d;
	vl_mls_arena_init(&a, 0);
	/* Proposal type 0 is reserved. */
	static const uint8_t zero[] = {0, 0, 0};
	assert_int_equal(vl_mls_proposal_parse(zero, sizeof zero, &a, &d), VL_ERR_DECODE);
	/* PSK type 0 and 3, resumption usage 0 and 4. */
	static const uint8_t psk0[] = {0, 4, 0, 0, 0};
	static const uint8_t psk3[] = {0, 4, 3, 0, 0};
	static const uint8_t use0[] = {0, 4, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
	static const uint8_t use4[] = {0, 4, 2, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
	static const uint8_t use3[] = {0, 4, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
	assert_int_equal(vl_mls_proposal_parse(psk0, sizeof psk0, &a, &d), VL_ERR_DECODE);
	assert_int_equal(vl_mls_proposal_parse(psk3, sizeof psk3, &a, &d), VL_ERR_DECODE);
	assert_int_equal(vl_mls_proposal_parse(use0, sizeof use0, &a, &d), VL_ERR_DECODE);
	assert_int_equal(vl_mls_proposal_parse(use4, sizeof use4, &a, &d), VL_ERR_DECODE);
	assert_int_equal(vl_mls_proposal_parse(use3, sizeof use3, &a, &d), VL_OK);
	/* ReInit with version 0. */
	static const uint8_t reinit0[] = {0, 5, 0, 0, 0, 0, 1, 0};
	static const uint8_t reinit2[] = {0, 5, 0, 0, 2, 0, 1, 0};
	assert_int_equal(vl_mls_proposal_parse(reinit0, sizeof reinit0, &a, &d), VL_ERR_DECODE);
	assert_int_equal(vl_mls_proposal_parse(reinit2, sizeof reinit2, &a, &d), VL_OK);
	/* Remove with trailing bytes. */
	static const uint8_t rm[] = {0, 3, 0, 0, 0, 1, 0};
	assert_int_equal(vl_mls_proposal_parse(rm, sizeof rm - 1, &a, &d), VL_OK);
	assert_int_equal(d.remove, 1);
	assert_int_equal(vl_mls_proposal_parse(rm, sizeof rm, &a, &d), VL_ERR_DECODE);
	/* ProposalOrRef type 0 and 3. */
	struct vl_mls_proposal_or_ref por;
	static const uint8_t por0[] = {0, 1, 'x'};
	static const uint8_t por3[] = {3, 1, 'x'};
	static const uint8_t por2[] = {2, 1, 'x'};
	assert_int_equal(vl_mls_proposal_or_ref_parse(por0, 3, &a, &por), VL_ERR_DECODE);
	assert_int_equal(vl_mls_proposal_or_ref_parse(por3, 3, &a, &por), VL_ERR_DECODE);
	assert_int_equal(vl_mls_proposal_or_ref_parse(por2, 3, &a, &por), VL_OK);
	assert_int_equal(por.reference.len, 1);
	vl_mls_arena_cleanup(&a);
	/* Encoders refuse structures without an encoding. */
	uint8_t *enc;
	size_t len;
	d.type = 0;
	assert_int_equal(vl_mls_proposal_encode_alloc(&d, &enc, &len), VL_ERR_ARG);
	por.type = 3;
	assert_int_equal(vl_mls_proposal_or_ref_encode_alloc(&por, &enc, &len), VL_ERR_ARG);
}

static struct vl_mls_commit make_commit(struct vl_mls_proposal_or_ref por[2],
                                        struct vl_mls_update_path_node nodes[2],
                                        const struct vl_mls_hpke_ciphertext *cts)
{
	memset(por, 0, 2 * sizeof *por);
	por[0].type = VL_MLS_POR_PROPOSAL;
	por[0].proposal.type = VL_MLS_PROPOSAL_REMOVE;
	por[0].proposal.remove = 3;
	por[1].type = VL_MLS_POR_REFERENCE;
	por[1].reference = B("proposal ref 32 bytes ...........");
	nodes[0] = (struct vl_mls_update_path_node){B("pk0"), cts, 2};
	nodes[1] = (struct vl_mls_update_path_node){B("pk1"), NULL, 0};
	struct vl_mls_commit c = {.proposals = por, .proposal_count = 2, .has_path = true};
	c.path.leaf_node = make_leaf(VL_MLS_LEAF_SOURCE_COMMIT);
	c.path.nodes = nodes;
	c.path.node_count = 2;
	return c;
}

static void test_public_messages(void **state)
{
	(void)state;
	struct vl_mls_proposal_or_ref por[2];
	struct vl_mls_update_path_node nodes[2];
	static const struct vl_mls_hpke_ciphertext cts[2] = {
	    {{(const uint8_t *)"kem0", 4}, {(const uint8_t *)"ct0", 3}},
	    {{(const uint8_t *)"kem1", 4}, {(const uint8_t *)"ct1", 3}},
	};
	struct vl_mls_group_context gc = make_context();
	static const uint8_t senders[] = {VL_MLS_SENDER_MEMBER, VL_MLS_SENDER_EXTERNAL,
	                                  VL_MLS_SENDER_NEW_MEMBER_PROPOSAL,
	                                  VL_MLS_SENDER_NEW_MEMBER_COMMIT};
	static const uint8_t types[] = {VL_MLS_CONTENT_APPLICATION, VL_MLS_CONTENT_PROPOSAL,
	                                VL_MLS_CONTENT_COMMIT};
	for (int s = 0; s < 4; s++) {
		for (int t = 0; t < 3; t++) {
			struct vl_mls_message m = {.version = 1,
			                           .wire_format = VL_MLS_WIRE_PUBLIC_MESSAGE};
			struct vl_mls_framed_content *fc = &m.public_message.content;
			fc->group_id = B("group");
			fc->epoch = 0x0102030405060708ull;
			fc->sender = (struct vl_mls_sender){senders[s], 5};
			fc->authenticated_data = B("aad");
			fc->content_type = types[t];
			if (types[t] == VL_MLS_CONTENT_APPLICATION)
				fc->application_data = B("hello");
			else if (types[t] == VL_MLS_CONTENT_PROPOSAL)
				fc->proposal = (struct vl_mls_proposal){.type = 3, .remove = 1};
			else
				fc->commit = make_commit(por, nodes, cts);
			m.public_message.auth.signature = B("sig");
			m.public_message.auth.confirmation_tag = B("ctag");
			m.public_message.membership_tag = B("mtag");
			size_t len;
			uint8_t *buf = encode_message(&m, &len);
			check_message_round_trip(buf, len);

			struct vl_mls_arena a;
			struct vl_mls_message d;
			vl_mls_arena_init(&a, 0);
			assert_int_equal(vl_mls_message_parse(buf, len, &a, &d), VL_OK);
			const struct vl_mls_public_message *pm = &d.public_message;
			assert_int_equal(pm->content.sender.type, senders[s]);
			bool member = senders[s] == VL_MLS_SENDER_MEMBER;
			bool indexed = member || senders[s] == VL_MLS_SENDER_EXTERNAL;
			assert_int_equal(pm->content.sender.index, indexed ? 5 : 0);
			assert_int_equal(pm->membership_tag.len, member ? 4 : 0);
			assert_int_equal(pm->auth.confirmation_tag.len,
			                 types[t] == VL_MLS_CONTENT_COMMIT ? 4 : 0);
			if (types[t] == VL_MLS_CONTENT_COMMIT) {
				const struct vl_mls_commit *c = &pm->content.commit;
				assert_int_equal(c->proposal_count, 2);
				assert_true(c->has_path);
				assert_int_equal(c->path.node_count, 2);
				assert_int_equal(c->path.nodes[0].encrypted_path_secret_count, 2);
				assert_memory_equal(
				    c->path.nodes[0].encrypted_path_secret[1].ciphertext.data,
				    "ct1", 3);
			}

			struct vl_mls_peek pk;
			assert_int_equal(vl_mls_message_peek(buf, len, &pk), VL_OK);
			assert_int_equal(pk.wire_format, VL_MLS_WIRE_PUBLIC_MESSAGE);
			assert_true(pk.epoch == 0x0102030405060708ull);
			assert_int_equal(pk.content_type, types[t]);
			assert_int_equal(pk.sender.type, senders[s]);
			assert_int_equal(pk.group_id.len, 5);

			/* FramedContentTBS: version, wire format, content, and the
			 * context for member and new_member_commit senders. */
			struct vl_writer w, wc;
			vl_writer_init_heap(&w, 1 << 16);
			vl_writer_init_heap(&wc, 1 << 16);
			bool ctx = member || senders[s] == VL_MLS_SENDER_NEW_MEMBER_COMMIT;
			assert_int_equal(vl_mls_framed_content_tbs_encode(
			                     &w, VL_MLS_WIRE_PUBLIC_MESSAGE, &pm->content, &gc),
			                 VL_OK);
			assert_int_equal(vl_mls_framed_content_encode(&wc, &pm->content), VL_OK);
			size_t want = 4 + wc.len;
			assert_memory_equal(w.buf, buf, 4);
			assert_memory_equal(w.buf + 4, wc.buf, wc.len);
			if (ctx) {
				struct vl_writer wg;
				vl_writer_init_heap(&wg, 1 << 16);
				assert_int_equal(vl_mls_group_context_encode(&wg, &gc), VL_OK);
				assert_memory_equal(w.buf + want, wg.buf, wg.len);
				want += wg.len;
				vl_writer_cleanup(&wg);
			}
			assert_int_equal(w.len, want);
			vl_writer_cleanup(&w);
			vl_writer_init_heap(&w, 1 << 16);
			assert_int_equal(vl_mls_framed_content_tbs_encode(
			                     &w, VL_MLS_WIRE_PUBLIC_MESSAGE, &pm->content, NULL),
			                 ctx ? VL_ERR_ARG : VL_OK);
			vl_writer_cleanup(&w);
			/* AuthenticatedContentTBM = TBS || auth. */
			vl_writer_init_heap(&w, 1 << 16);
			assert_int_equal(
			    vl_mls_content_tbm_encode(&w, &pm->content, &pm->auth, &gc), VL_OK);
			size_t auth_len = 4 + (types[t] == VL_MLS_CONTENT_COMMIT ? 5 : 0);
			assert_int_equal(w.len, want + auth_len);
			vl_writer_cleanup(&w);
			/* AuthenticatedContent round trip. */
			struct vl_mls_authenticated_content ac = {VL_MLS_WIRE_PUBLIC_MESSAGE,
			                                          pm->content, pm->auth};
			uint8_t *acb;
			size_t acl;
			assert_int_equal(vl_mls_authenticated_content_encode_alloc(&ac, &acb, &acl),
			                 VL_OK);
			struct vl_mls_authenticated_content acd;
			assert_int_equal(vl_mls_authenticated_content_parse(acb, acl, &a, &acd),
			                 VL_OK);
			free(acb);
			/* ConfirmedTranscriptHashInput = wire format, content, signature. */
			vl_writer_init_heap(&w, 1 << 16);
			assert_int_equal(
			    vl_mls_confirmed_transcript_input_encode(
			        &w, VL_MLS_WIRE_PUBLIC_MESSAGE, &pm->content, &pm->auth.signature),
			    VL_OK);
			assert_int_equal(w.len, 2 + wc.len + 4);
			vl_writer_cleanup(&w);
			vl_writer_cleanup(&wc);
			vl_mls_arena_cleanup(&a);
			free(buf);
		}
	}
}

/* Patches one octet of an encoded message and expects a given status. */
static void expect_patched(const uint8_t *buf, size_t len, size_t pos, uint8_t v, int want)
{
	uint8_t *copy = malloc(len);
	assert_non_null(copy);
	memcpy(copy, buf, len);
	copy[pos] = v;
	struct vl_mls_arena a;
	struct vl_mls_message m;
	vl_mls_arena_init(&a, 0);
	assert_int_equal(vl_mls_message_parse(copy, len, &a, &m), want);
	vl_mls_arena_cleanup(&a);
	free(copy);
}

static void test_message_enums(void **state)
{
	(void)state;
	struct vl_mls_message m = {.version = 1, .wire_format = VL_MLS_WIRE_PUBLIC_MESSAGE};
	struct vl_mls_framed_content *fc = &m.public_message.content;
	fc->group_id = B("g");
	fc->sender = (struct vl_mls_sender){VL_MLS_SENDER_MEMBER, 0};
	fc->content_type = VL_MLS_CONTENT_APPLICATION;
	fc->application_data = B("hi");
	m.public_message.auth.signature = B("s");
	m.public_message.membership_tag = B("t");
	size_t len;
	uint8_t *buf = encode_message(&m, &len);
	/* Layout: version(2) wire_format(2) group_id(2) epoch(8) sender_type(1)
	 * leaf_index(4) aad(1) content_type(1) ... */
	expect_patched(buf, len, 1, 0, VL_ERR_DECODE);      /* version 0 */
	expect_patched(buf, len, 1, 2, VL_ERR_UNSUPPORTED); /* version 2 */
	expect_patched(buf, len, 3, 0, VL_ERR_DECODE);      /* wire format 0 */
	expect_patched(buf, len, 3, 6, VL_ERR_UNSUPPORTED); /* wire format 6 */
	expect_patched(buf, len, 2, 0xf0, VL_ERR_UNSUPPORTED);
	expect_patched(buf, len, 14, 0, VL_ERR_DECODE); /* sender type 0 */
	expect_patched(buf, len, 14, 5, VL_ERR_DECODE); /* sender type 5 */
	expect_patched(buf, len, 20, 0, VL_ERR_DECODE); /* content type 0 */
	expect_patched(buf, len, 20, 4, VL_ERR_DECODE); /* content type 4 */
	/* Non-minimal group_id length: 0x40 0x01 in place of 0x01. */
	uint8_t *nm = malloc(len + 1);
	assert_non_null(nm);
	memcpy(nm, buf, 4);
	nm[4] = 0x40;
	memcpy(nm + 5, buf + 4, len - 4);
	struct vl_mls_arena a;
	struct vl_mls_message d;
	vl_mls_arena_init(&a, 0);
	assert_int_equal(vl_mls_message_parse(nm, len + 1, &a, &d), VL_ERR_DECODE);
	struct vl_mls_peek pk;
	assert_int_equal(vl_mls_message_peek(nm, len + 1, &pk), VL_ERR_DECODE);
	free(nm);
	/* Peek rejects what the header check rejects. */
	buf[3] = 6;
	assert_int_equal(vl_mls_message_peek(buf, len, &pk), VL_ERR_UNSUPPORTED);
	buf[3] = 1;
	buf[20] = 9;
	assert_int_equal(vl_mls_message_peek(buf, len, &pk), VL_ERR_DECODE);
	vl_mls_arena_cleanup(&a);
	free(buf);
	/* Encoders refuse what has no encoding. */
	m.version = 2;
	assert_int_equal(vl_mls_message_encode_alloc(&m, &buf, &len), VL_ERR_ARG);
	m.version = 1;
	m.wire_format = 9;
	assert_int_equal(vl_mls_message_encode_alloc(&m, &buf, &len), VL_ERR_ARG);
	m.wire_format = VL_MLS_WIRE_PUBLIC_MESSAGE;
	fc->content_type = 0;
	assert_int_equal(vl_mls_message_encode_alloc(&m, &buf, &len), VL_ERR_ARG);
	fc->content_type = 1;
	fc->sender.type = 7;
	assert_int_equal(vl_mls_message_encode_alloc(&m, &buf, &len), VL_ERR_ARG);
}

static void test_private_message(void **state)
{
	(void)state;
	struct vl_mls_message m = {.version = 1, .wire_format = VL_MLS_WIRE_PRIVATE_MESSAGE};
	struct vl_mls_private_message *pm = &m.private_message;
	pm->group_id = B("group");
	pm->epoch = 42;
	pm->content_type = VL_MLS_CONTENT_APPLICATION;
	pm->authenticated_data = B("aad");
	pm->encrypted_sender_data = B("esd");
	pm->ciphertext = B("ciphertext");
	size_t len;
	uint8_t *buf = encode_message(&m, &len);
	check_message_round_trip(buf, len);
	struct vl_mls_peek pk;
	assert_int_equal(vl_mls_message_peek(buf, len, &pk), VL_OK);
	assert_int_equal(pk.wire_format, VL_MLS_WIRE_PRIVATE_MESSAGE);
	assert_true(pk.epoch == 42);
	assert_int_equal(pk.content_type, VL_MLS_CONTENT_APPLICATION);
	/* content_type sits after version, wire format, group_id, epoch. */
	expect_patched(buf, len, 4 + 6 + 8, 0, VL_ERR_DECODE);
	expect_patched(buf, len, 4 + 6 + 8, 4, VL_ERR_DECODE);

	/* The two AAD structures. */
	struct vl_writer w;
	vl_writer_init_heap(&w, 1024);
	assert_int_equal(vl_mls_sender_data_aad_encode(&w, pm), VL_OK);
	assert_int_equal(w.len, 6 + 8 + 1);
	assert_memory_equal(w.buf, buf + 4, w.len);
	vl_writer_cleanup(&w);
	vl_writer_init_heap(&w, 1024);
	assert_int_equal(vl_mls_private_content_aad_encode(&w, pm), VL_OK);
	assert_int_equal(w.len, 6 + 8 + 1 + 4);
	assert_memory_equal(w.buf, buf + 4, w.len);
	vl_writer_cleanup(&w);
	free(buf);

	/* PrivateMessageContent with padding. */
	struct vl_mls_private_content pc = {.content_type = VL_MLS_CONTENT_COMMIT};
	struct vl_mls_proposal_or_ref por[2];
	struct vl_mls_update_path_node nodes[2];
	pc.commit = make_commit(por, nodes, NULL);
	pc.commit.path.nodes = NULL;
	pc.commit.path.node_count = 0;
	pc.auth.signature = B("sig");
	pc.auth.confirmation_tag = B("tag");
	pc.padding_len = 300;
	vl_writer_init_heap(&w, 1 << 16);
	assert_int_equal(vl_mls_private_content_encode(&w, &pc), VL_OK);
	struct vl_mls_arena a;
	struct vl_mls_private_content d;
	vl_mls_arena_init(&a, 0);
	assert_int_equal(vl_mls_private_content_parse(w.buf, w.len, VL_MLS_CONTENT_COMMIT, &a, &d),
	                 VL_OK);
	assert_int_equal(d.padding_len, 300);
	assert_int_equal(d.commit.proposal_count, 2);
	assert_memory_equal(d.auth.confirmation_tag.data, "tag", 3);
	/* A non-zero byte in the padding makes the message malformed. */
	w.buf[w.len - 150] = 1;
	assert_int_equal(vl_mls_private_content_parse(w.buf, w.len, VL_MLS_CONTENT_COMMIT, &a, &d),
	                 VL_ERR_DECODE);
	assert_int_equal(vl_mls_private_content_parse(w.buf, w.len, 0, &a, &d), VL_ERR_DECODE);
	vl_writer_cleanup(&w);
	vl_mls_arena_cleanup(&a);

	/* SenderData is exactly 12 bytes. */
	struct vl_mls_sender_data sd = {7, 9, {1, 2, 3, 4}}, sdd;
	uint8_t sdb[VL_MLS_SENDER_DATA_LEN + 1] = {0};
	vl_writer_init_fixed(&w, sdb, sizeof sdb);
	assert_int_equal(vl_mls_sender_data_encode(&w, &sd), VL_OK);
	assert_int_equal(w.len, VL_MLS_SENDER_DATA_LEN);
	assert_int_equal(vl_mls_sender_data_parse(sdb, 12, &sdd), VL_OK);
	assert_int_equal(sdd.generation, 9);
	assert_memory_equal(sdd.reuse_guard, sd.reuse_guard, 4);
	assert_int_equal(vl_mls_sender_data_parse(sdb, 11, &sdd), VL_ERR_DECODE);
	assert_int_equal(vl_mls_sender_data_parse(sdb, 13, &sdd), VL_ERR_DECODE);
}

static void test_group_info_and_welcome(void **state)
{
	(void)state;
	struct vl_mls_message m = {.version = 1, .wire_format = VL_MLS_WIRE_GROUP_INFO};
	struct vl_mls_group_info *gi = &m.group_info;
	gi->group_context = make_context();
	static const struct vl_mls_extension gc_ext[] = {
	    {VL_MLS_EXT_APPLICATION_ID, {(const uint8_t *)"\2id", 3}}};
	gi->group_context.extensions = (struct vl_mls_extension_list){gc_ext, 1};
	static const struct vl_mls_extension gi_ext[] = {
	    {VL_MLS_EXT_EXTERNAL_PUB, {(const uint8_t *)"\3pub", 4}}, {0x4a4a, {NULL, 0}}};
	gi->extensions = (struct vl_mls_extension_list){gi_ext, 2};
	gi->confirmation_tag = B("tag");
	gi->signer = 4;
	gi->signature = B("signature");
	size_t len;
	uint8_t *buf = encode_message(&m, &len);
	check_message_round_trip(buf, len);
	struct vl_mls_peek pk;
	assert_int_equal(vl_mls_message_peek(buf, len, &pk), VL_OK);
	assert_int_equal(pk.cipher_suite, 2);
	assert_true(pk.epoch == 7);
	assert_memory_equal(pk.group_id.data, "group", 5);
	/* GroupInfoTBS: everything but the signature. */
	struct vl_writer w;
	vl_writer_init_heap(&w, 1 << 16);
	assert_int_equal(vl_mls_group_info_tbs_encode(&w, gi), VL_OK);
	assert_int_equal(w.len, len - 4 - 10);
	assert_memory_equal(w.buf, buf + 4, w.len);
	vl_writer_cleanup(&w);
	/* GroupContext version must be mls10. */
	expect_patched(buf, len, 5, 0, VL_ERR_DECODE);
	expect_patched(buf, len, 5, 2, VL_ERR_UNSUPPORTED);
	expect_patched(buf, len, 7, 0, VL_ERR_DECODE); /* cipher suite 0 */
	free(buf);

	struct vl_mls_message wm = {.version = 1, .wire_format = VL_MLS_WIRE_WELCOME};
	struct vl_mls_encrypted_group_secrets egs[2] = {
	    {B("kp ref 1"), {B("kem1"), B("ct1")}},
	    {B("kp ref 2"), {B("kem2"), B("ct2")}},
	};
	wm.welcome = (struct vl_mls_welcome){3, egs, 2, B("encrypted group info")};
	buf = encode_message(&wm, &len);
	check_message_round_trip(buf, len);
	assert_int_equal(vl_mls_message_peek(buf, len, &pk), VL_OK);
	assert_int_equal(pk.cipher_suite, 3);
	expect_patched(buf, len, 5, 0, VL_ERR_DECODE); /* cipher suite 0 */
	free(buf);

	/* GroupSecrets with and without a path secret, with PSKs. */
	struct vl_mls_psk_id psks[2] = {
	    {.type = VL_MLS_PSK_EXTERNAL, .psk_id = B("id"), .psk_nonce = B("n")},
	    {.type = VL_MLS_PSK_RESUMPTION,
	     .usage = VL_MLS_RESUMPTION_APPLICATION,
	     .psk_group_id = B("g"),
	     .psk_epoch = 3,
	     .psk_nonce = B("n")},
	};
	for (int with_path = 0; with_path < 2; with_path++) {
		struct vl_mls_group_secrets gs = {B("joiner"), with_path, B("path"), psks, 2};
		uint8_t *enc;
		assert_int_equal(vl_mls_group_secrets_encode_alloc(&gs, &enc, &len), VL_OK);
		struct vl_mls_arena a;
		struct vl_mls_group_secrets d;
		vl_mls_arena_init(&a, 0);
		assert_int_equal(vl_mls_group_secrets_parse(enc, len, &a, &d), VL_OK);
		assert_int_equal(d.has_path_secret, with_path);
		assert_int_equal(d.psk_count, 2);
		assert_true(d.psks[1].psk_epoch == 3);
		/* optional<PathSecret> presence octet of 2 is malformed. */
		enc[7] = 2;
		assert_int_equal(vl_mls_group_secrets_parse(enc, len, &a, &d), VL_ERR_DECODE);
		/* PSKLabel = PreSharedKeyID || index || count. */
		struct vl_writer wl;
		vl_writer_init_heap(&wl, 1024);
		assert_int_equal(vl_mls_psk_label_encode(&wl, &psks[0], 1, 2), VL_OK);
		static const uint8_t label[] = {1, 2, 'i', 'd', 1, 'n', 0, 1, 0, 2};
		assert_int_equal(wl.len, sizeof label);
		assert_memory_equal(wl.buf, label, sizeof label);
		vl_writer_cleanup(&wl);
		vl_mls_arena_cleanup(&a);
		free(enc);
	}
}

static void test_ratchet_tree(void **state)
{
	(void)state;
	static const uint32_t unmerged[] = {1, 2};
	struct vl_mls_node nodes[5];
	memset(nodes, 0, sizeof nodes);
	nodes[0].type = VL_MLS_NODE_LEAF;
	nodes[0].leaf = make_leaf(VL_MLS_LEAF_SOURCE_KEY_PACKAGE);
	nodes[1].type = VL_MLS_NODE_PARENT;
	nodes[1].parent = (struct vl_mls_parent_node){B("pk"), B("ph"), {unmerged, 2}};
	nodes[2].type = VL_MLS_NODE_BLANK;
	nodes[3].type = VL_MLS_NODE_BLANK;
	nodes[4].type = VL_MLS_NODE_LEAF;
	nodes[4].leaf = make_leaf(VL_MLS_LEAF_SOURCE_COMMIT);
	struct vl_mls_ratchet_tree t = {nodes, 5};
	uint8_t *enc;
	size_t len;
	assert_int_equal(vl_mls_ratchet_tree_encode_alloc(&t, &enc, &len), VL_OK);
	struct vl_mls_arena a;
	struct vl_mls_ratchet_tree d;
	vl_mls_arena_init(&a, 0);
	assert_int_equal(vl_mls_ratchet_tree_parse(enc, len, &a, &d), VL_OK);
	assert_int_equal(d.count, 5);
	assert_int_equal(d.nodes[2].type, VL_MLS_NODE_BLANK);
	assert_int_equal(d.nodes[1].parent.unmerged_leaves.items[1], 2);
	assert_int_equal(d.nodes[4].leaf.source, VL_MLS_LEAF_SOURCE_COMMIT);
	uint8_t *again;
	size_t again_len;
	assert_int_equal(vl_mls_ratchet_tree_encode_alloc(&d, &again, &again_len), VL_OK);
	assert_int_equal(again_len, len);
	assert_memory_equal(again, enc, len);
	free(again);
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(vl_mls_ratchet_tree_parse(enc, cut, &a, &d), VL_ERR_DECODE);
	free(enc);
	/* Shape rules: last node blank, a parent at an even index, empty. */
	t.count = 4;
	assert_int_equal(vl_mls_ratchet_tree_encode_alloc(&t, &enc, &len), VL_ERR_ARG);
	static const uint8_t trailing_blank[] = {1, 0};
	static const uint8_t parent_at_0[] = {5, 1, 2, 0, 0, 0};
	static const uint8_t empty[] = {0};
	static const uint8_t node_type_3[] = {2, 1, 3};
	static const uint8_t optional_2[] = {1, 2};
	assert_int_equal(vl_mls_ratchet_tree_parse(trailing_blank, 2, &a, &d), VL_ERR_INVALID);
	assert_int_equal(vl_mls_ratchet_tree_parse(parent_at_0, 6, &a, &d), VL_ERR_INVALID);
	/* A leaf at index 1: [blank, leaf]. */
	uint8_t *leaf_enc;
	size_t leaf_len;
	struct vl_mls_leaf_node leaf = make_leaf(VL_MLS_LEAF_SOURCE_UPDATE);
	assert_int_equal(vl_mls_leaf_node_encode_alloc(&leaf, &leaf_enc, &leaf_len), VL_OK);
	assert_true(leaf_len + 3 < 0x4000);
	uint8_t *bad = malloc(leaf_len + 5);
	assert_non_null(bad);
	bad[0] = (uint8_t)(0x40 | ((leaf_len + 3) >> 8));
	bad[1] = (uint8_t)(leaf_len + 3);
	bad[2] = 0;
	bad[3] = 1;
	bad[4] = VL_MLS_NODE_LEAF;
	memcpy(bad + 5, leaf_enc, leaf_len);
	assert_int_equal(vl_mls_ratchet_tree_parse(bad, leaf_len + 5, &a, &d), VL_ERR_INVALID);
	bad[2] = 1; /* now [leaf?] with a stray byte: malformed */
	assert_int_equal(vl_mls_ratchet_tree_parse(bad, leaf_len + 5, &a, &d), VL_ERR_DECODE);
	free(bad);
	free(leaf_enc);
	assert_int_equal(vl_mls_ratchet_tree_parse(empty, 1, &a, &d), VL_ERR_INVALID);
	assert_int_equal(vl_mls_ratchet_tree_parse(node_type_3, 3, &a, &d), VL_ERR_DECODE);
	assert_int_equal(vl_mls_ratchet_tree_parse(optional_2, 2, &a, &d), VL_ERR_DECODE);
	/* Unmerged leaves must be strictly increasing. */
	static const uint8_t unsorted[] = {1, 'k', 0, 8, 0, 0, 0, 2, 0, 0, 0, 1};
	static const uint8_t repeated[] = {1, 'k', 0, 8, 0, 0, 0, 2, 0, 0, 0, 2};
	static const uint8_t ragged[] = {1, 'k', 0, 3, 0, 0, 0};
	struct vl_mls_parent_node pn;
	assert_int_equal(vl_mls_parent_node_parse(unsorted, sizeof unsorted, &a, &pn),
	                 VL_ERR_INVALID);
	assert_int_equal(vl_mls_parent_node_parse(repeated, sizeof repeated, &a, &pn),
	                 VL_ERR_INVALID);
	assert_int_equal(vl_mls_parent_node_parse(ragged, sizeof ragged, &a, &pn), VL_ERR_DECODE);
	vl_mls_arena_cleanup(&a);
}

static void test_tree_limit(void **state)
{
	(void)state;
	/* VL_MLS_MAX_TREE_NODES + 1 blank entries: rejected at the limit
	 * without decoding the rest. */
	size_t n = VL_MLS_MAX_TREE_NODES + 1;
	uint8_t *buf = calloc(1, 4 + n);
	assert_non_null(buf);
	buf[0] = (uint8_t)(0x80 | (n >> 24));
	buf[1] = (uint8_t)(n >> 16);
	buf[2] = (uint8_t)(n >> 8);
	buf[3] = (uint8_t)n;
	struct vl_mls_arena a;
	struct vl_mls_ratchet_tree t;
	vl_mls_arena_init(&a, 0);
	assert_int_equal(vl_mls_ratchet_tree_parse(buf, 4 + n, &a, &t), VL_ERR_LIMIT);
	vl_mls_arena_cleanup(&a);
	/* A small arena cap stops a decode that fits the count limits. */
	n--;
	buf[1] = (uint8_t)(n >> 16);
	buf[2] = (uint8_t)(n >> 8);
	buf[3] = (uint8_t)n;
	vl_mls_arena_init(&a, 4096);
	assert_int_equal(vl_mls_ratchet_tree_parse(buf, 4 + n, &a, &t), VL_ERR_LIMIT);
	vl_mls_arena_cleanup(&a);
	free(buf);
}

static void test_allocation_failures(void **state)
{
	(void)state;
	struct vl_mls_proposal_or_ref por[2];
	struct vl_mls_update_path_node nodes[2];
	static const struct vl_mls_hpke_ciphertext cts[2] = {
	    {{(const uint8_t *)"k", 1}, {(const uint8_t *)"c", 1}},
	    {{(const uint8_t *)"k", 1}, {(const uint8_t *)"c", 1}},
	};
	struct vl_mls_commit c = make_commit(por, nodes, cts);
	uint8_t *enc;
	size_t len;
	assert_int_equal(vl_mls_commit_encode_alloc(&c, &enc, &len), VL_OK);
	/* Fail the 1st, 2nd, ... allocation until the decode gets through:
	 * every failure is reported as VL_ERR_NOMEM and leaks nothing. */
	size_t k;
	for (k = 1;; k++) {
		struct vl_mls_arena a;
		struct vl_mls_commit d;
		vl_mls_arena_init(&a, 0);
		a.fail_at = k;
		int rc = vl_mls_commit_parse(enc, len, &a, &d);
		vl_mls_arena_cleanup(&a);
		if (rc == VL_OK)
			break;
		assert_int_equal(rc, VL_ERR_NOMEM);
		assert_true(k < 1000);
	}
	assert_true(k > 5);
	free(enc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_grease),
	    cmocka_unit_test(test_key_package_round_trip),
	    cmocka_unit_test(test_credentials),
	    cmocka_unit_test(test_leaf_node_tbs),
	    cmocka_unit_test(test_leaf_source_rejected),
	    cmocka_unit_test(test_extensions_rules),
	    cmocka_unit_test(test_capabilities_limit),
	    cmocka_unit_test(test_proposals),
	    cmocka_unit_test(test_public_messages),
	    cmocka_unit_test(test_message_enums),
	    cmocka_unit_test(test_private_message),
	    cmocka_unit_test(test_group_info_and_welcome),
	    cmocka_unit_test(test_ratchet_tree),
	    cmocka_unit_test(test_tree_limit),
	    cmocka_unit_test(test_allocation_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
