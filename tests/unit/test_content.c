/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of src/content: building MIMI messages (text, markdown, reply,
 * reaction, edit, delete, expiry, attachment, multipart, extensions), their
 * round trips and message ids, and the decoder's refusal of malformed or
 * non-deterministic CBOR and of inputs past its limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "valise/content.h"

static const char *const SENDER = "mimi://example.org/u/ambassador";
static const char *const ROOM = "mimi://example.org/r/delegation";

/* Encodes c, decodes the result and checks it equals c; returns the
 * encoding (free() it). */
static uint8_t *round_trip(const struct vl_mimi_content *c, size_t *len)
{
	uint8_t *buf;
	assert_int_equal(vl_mimi_content_encode_alloc(c, &buf, len), VL_OK);
	size_t size;
	assert_int_equal(vl_mimi_content_encoded_size(c, &size), VL_OK);
	assert_int_equal(size, *len);
	struct vl_mimi_content back;
	assert_int_equal(vl_mimi_content_decode(&back, buf, *len), VL_OK);
	assert_true(vl_mimi_content_equal(c, &back));
	uint8_t *again;
	size_t again_len;
	assert_int_equal(vl_mimi_content_encode_alloc(&back, &again, &again_len), VL_OK);
	assert_int_equal(again_len, *len);
	assert_memory_equal(again, buf, *len);
	free(again);
	vl_mimi_content_cleanup(&back);
	return buf;
}

static void new_message(struct vl_mimi_content *c)
{
	vl_mimi_content_init(c);
	assert_int_equal(vl_mimi_content_new_salt(c), VL_OK);
	assert_int_equal(vl_mimi_content_set_uris(c, SENDER, ROOM), VL_OK);
}

static void message_id(const uint8_t *buf, size_t len, uint8_t id[VL_MIMI_MESSAGE_ID_LEN])
{
	assert_int_equal(
	    vl_mimi_message_id(buf, len, SENDER, strlen(SENDER), ROOM, strlen(ROOM), id), VL_OK);
	assert_int_equal(id[0], VL_MIMI_HASH_SHA256);
}

static void test_text_plain_and_markdown(void **state)
{
	(void)state;
	for (int md = 0; md < 2; md++) {
		struct vl_mimi_content c;
		new_message(&c);
		const char *text = md ? "Draft text **agreed**" : "Meeting at 10:00 in room B";
		assert_int_equal(vl_mimi_content_set_text(&c, md, text, strlen(text)), VL_OK);
		size_t len;
		uint8_t *buf = round_trip(&c, &len);
		struct vl_mimi_content d;
		assert_int_equal(vl_mimi_content_decode(&d, buf, len), VL_OK);
		assert_int_equal(d.body.cardinality, VL_MIMI_SINGLE);
		assert_int_equal(d.body.disposition, VL_MIMI_DISP_RENDER);
		assert_string_equal(d.body.content_type.str,
		                    md ? VL_MIMI_TYPE_TEXT_MARKDOWN : VL_MIMI_TYPE_TEXT_PLAIN);
		assert_int_equal(d.body.content.len, strlen(text));
		assert_memory_equal(d.body.content.data, text, strlen(text));
		assert_string_equal(d.sender_uri.str, SENDER);
		assert_string_equal(d.room_uri.str, ROOM);
		assert_false(d.has_replaces || d.has_in_reply_to || d.has_expires);
		vl_mimi_content_cleanup(&d);
		vl_mimi_content_cleanup(&c);
		free(buf);
	}
}

static void test_reply_reaction_edit_delete(void **state)
{
	(void)state;
	struct vl_mimi_content orig, reply, react, edit, del;
	new_message(&orig);
	assert_int_equal(vl_mimi_content_set_text(&orig, false, "Original", 8), VL_OK);
	size_t olen;
	uint8_t *obuf = round_trip(&orig, &olen);
	uint8_t oid[VL_MIMI_MESSAGE_ID_LEN];
	message_id(obuf, olen, oid);

	new_message(&reply);
	reply.has_in_reply_to = true;
	memcpy(reply.in_reply_to, oid, sizeof oid);
	assert_int_equal(vl_mimi_content_set_text(&reply, true, "_Agreed_", 8), VL_OK);
	size_t rlen;
	uint8_t *rbuf = round_trip(&reply, &rlen);
	uint8_t rid[VL_MIMI_MESSAGE_ID_LEN];
	message_id(rbuf, rlen, rid);
	assert_memory_not_equal(rid, oid, sizeof rid);

	new_message(&react);
	assert_int_equal(vl_mimi_content_set_reaction(&react, oid, "\xe2\x9d\xa4", 3), VL_OK);
	size_t len;
	uint8_t *buf = round_trip(&react, &len);
	struct vl_mimi_content d;
	assert_int_equal(vl_mimi_content_decode(&d, buf, len), VL_OK);
	assert_true(d.has_in_reply_to);
	assert_memory_equal(d.in_reply_to, oid, sizeof oid);
	assert_int_equal(d.body.disposition, VL_MIMI_DISP_REACTION);
	assert_string_equal(d.body.content_type.str, VL_MIMI_TYPE_TEXT_PLAIN);
	assert_memory_equal(d.body.content.data, "\xe2\x9d\xa4", 3);
	vl_mimi_content_cleanup(&d);
	free(buf);

	/* An edit replaces the reply and keeps its inReplyTo. */
	new_message(&edit);
	edit.has_replaces = true;
	memcpy(edit.replaces, rid, sizeof rid);
	edit.has_in_reply_to = true;
	memcpy(edit.in_reply_to, oid, sizeof oid);
	assert_int_equal(vl_mimi_content_set_text(&edit, true, "_Agreed_, with thanks", 21), VL_OK);
	buf = round_trip(&edit, &len);
	assert_int_equal(vl_mimi_content_decode(&d, buf, len), VL_OK);
	assert_true(d.has_replaces);
	assert_memory_equal(d.replaces, rid, sizeof rid);
	vl_mimi_content_cleanup(&d);
	free(buf);

	new_message(&del);
	vl_mimi_content_set_delete(&del, rid, VL_MIMI_DISP_RENDER);
	buf = round_trip(&del, &len);
	assert_int_equal(vl_mimi_content_decode(&d, buf, len), VL_OK);
	assert_int_equal(d.body.cardinality, VL_MIMI_NULLPART);
	assert_true(d.has_replaces);
	assert_memory_equal(d.replaces, rid, sizeof rid);
	vl_mimi_content_cleanup(&d);
	free(buf);

	/* Two messages with the same body differ by their salt. */
	struct vl_mimi_content twin;
	new_message(&twin);
	assert_int_equal(vl_mimi_content_set_text(&twin, false, "Original", 8), VL_OK);
	size_t tlen;
	uint8_t *tbuf = round_trip(&twin, &tlen);
	uint8_t tid[VL_MIMI_MESSAGE_ID_LEN];
	message_id(tbuf, tlen, tid);
	assert_memory_not_equal(tid, oid, sizeof tid);

	/* The id binds the sender and the room. */
	uint8_t other[VL_MIMI_MESSAGE_ID_LEN];
	assert_int_equal(
	    vl_mimi_message_id(obuf, olen, ROOM, strlen(ROOM), SENDER, strlen(SENDER), other),
	    VL_OK);
	assert_memory_not_equal(other, oid, sizeof oid);
	assert_int_equal(vl_mimi_message_id((const uint8_t *)"\x83\x01", 2, "", 0, "", 0, other),
	                 VL_ERR_DECODE);

	free(tbuf);
	free(rbuf);
	free(obuf);
	vl_mimi_content_cleanup(&twin);
	vl_mimi_content_cleanup(&orig);
	vl_mimi_content_cleanup(&reply);
	vl_mimi_content_cleanup(&react);
	vl_mimi_content_cleanup(&edit);
	vl_mimi_content_cleanup(&del);
}

static void test_expiry_and_topic(void **state)
{
	(void)state;
	struct vl_mimi_content c;
	new_message(&c);
	c.has_expires = true;
	c.expires_relative = true;
	c.expires_time = 600;
	assert_int_equal(vl_mimi_content_set_topic(&c, "round 3", 7), VL_OK);
	assert_int_equal(vl_mimi_content_set_text(&c, false, "gone in ten", 11), VL_OK);
	size_t len;
	uint8_t *buf = round_trip(&c, &len);
	struct vl_mimi_content d;
	assert_int_equal(vl_mimi_content_decode(&d, buf, len), VL_OK);
	assert_true(d.has_expires && d.expires_relative);
	assert_int_equal(d.expires_time, 600);
	assert_int_equal(d.topic_id.len, 7);
	vl_mimi_content_cleanup(&d);
	free(buf);
	c.expires_relative = false;
	c.expires_time = UINT32_MAX;
	buf = round_trip(&c, &len);
	free(buf);
	vl_mimi_content_cleanup(&c);
}

static void test_attachment(void **state)
{
	(void)state;
	struct vl_mimi_content c;
	new_message(&c);
	uint8_t key[16], nonce[12], hash[32];
	for (int i = 0; i < 32; i++) {
		if (i < 16)
			key[i] = (uint8_t)(0xa0 + i);
		if (i < 12)
			nonce[i] = (uint8_t)(0x10 + i);
		hash[i] = (uint8_t)i;
	}
	struct vl_mimi_external e = {
	    .url = {(char *)"https://valise.example.org/blobs/9f2c", 37},
	    .expires = 1900000000,
	    .size = 5u << 20,
	    .enc_alg = 1,
	    .key = {key, sizeof key},
	    .nonce = {nonce, sizeof nonce},
	    .hash_alg = 1,
	    .content_hash = {hash, sizeof hash},
	    .description = {(char *)"Annotated draft, page 4", 23},
	    .filename = {(char *)"draft-p4.jpg", 12},
	};
	assert_int_equal(
	    vl_mimi_part_set_external(&c.body, VL_MIMI_DISP_ATTACHMENT, "fr", "image/jpeg", &e),
	    VL_OK);
	size_t len;
	uint8_t *buf = round_trip(&c, &len);
	struct vl_mimi_content d;
	assert_int_equal(vl_mimi_content_decode(&d, buf, len), VL_OK);
	const struct vl_mimi_part *p = &d.body;
	assert_int_equal(p->cardinality, VL_MIMI_EXTERNAL);
	assert_int_equal(p->disposition, VL_MIMI_DISP_ATTACHMENT);
	assert_string_equal(p->language.str, "fr");
	assert_string_equal(p->content_type.str, "image/jpeg");
	assert_string_equal(p->external.url.str, e.url.str);
	assert_int_equal(p->external.expires, 1900000000);
	assert_int_equal(p->external.size, 5u << 20);
	assert_int_equal(p->external.enc_alg, 1);
	assert_memory_equal(p->external.key.data, key, sizeof key);
	assert_memory_equal(p->external.nonce.data, nonce, sizeof nonce);
	assert_int_equal(p->external.aad.len, 0);
	assert_int_equal(p->external.hash_alg, 1);
	assert_memory_equal(p->external.content_hash.data, hash, sizeof hash);
	assert_string_equal(p->external.description.str, "Annotated draft, page 4");
	assert_string_equal(p->external.filename.str, "draft-p4.jpg");
	vl_mimi_content_cleanup(&d);
	free(buf);
	vl_mimi_content_cleanup(&c);
}

static void test_multipart(void **state)
{
	(void)state;
	struct vl_mimi_content c;
	new_message(&c);
	assert_int_equal(
	    vl_mimi_part_set_multi(&c.body, VL_MIMI_DISP_RENDER, "", VL_MIMI_SINGLE_UNIT, 2),
	    VL_OK);
	struct vl_mimi_part *alt = &c.body.parts[0];
	assert_int_equal(
	    vl_mimi_part_set_multi(alt, VL_MIMI_DISP_RENDER, "", VL_MIMI_CHOOSE_ONE, 2), VL_OK);
	assert_int_equal(vl_mimi_part_set_single(&alt->parts[0], VL_MIMI_DISP_RENDER, "en",
	                                         "text/html;charset=utf-8", "<p>Hi</p>", 9),
	                 VL_OK);
	assert_int_equal(vl_mimi_part_set_single(&alt->parts[1], VL_MIMI_DISP_RENDER, "fr",
	                                         "text/html;charset=utf-8", "<p>Salut</p>", 12),
	                 VL_OK);
	assert_int_equal(vl_mimi_part_set_single(&c.body.parts[1], VL_MIMI_DISP_INLINE, NULL,
	                                         "image/png", "\x89PNG", 4),
	                 VL_OK);
	size_t len;
	uint8_t *buf = round_trip(&c, &len);
	free(buf);
	assert_int_equal(vl_mimi_part_set_multi(&c.body, 1, "", VL_MIMI_PROCESS_ALL, 1),
	                 VL_ERR_ARG);
	/* A multipart left with one part cannot be encoded. */
	assert_int_equal(vl_mimi_part_set_multi(&c.body, 1, "", VL_MIMI_PROCESS_ALL, 2), VL_OK);
	c.body.parts_len = 1;
	assert_int_equal(vl_mimi_content_encode_alloc(&c, &buf, &len), VL_ERR_INVALID);
	c.body.parts_len = 2;
	vl_mimi_content_cleanup(&c);
}

static void test_extensions(void **state)
{
	(void)state;
	struct vl_mimi_content c;
	new_message(&c);
	assert_int_equal(vl_mimi_content_set_text(&c, false, "x", 1), VL_OK);
	static const uint8_t one[] = {0x01}, text[] = {0x63, 'a', 'b', 'c'};
	assert_int_equal(
	    vl_mimi_content_add_extension(&c, VL_MIMI_KEY_TEXT, 0, "x-priority", text, 4), VL_OK);
	assert_int_equal(vl_mimi_content_add_extension(&c, VL_MIMI_KEY_NEGINT, 4, NULL, one, 1),
	                 VL_OK);
	assert_int_equal(vl_mimi_content_add_extension(&c, VL_MIMI_KEY_UINT, 0, NULL, one, 1),
	                 VL_OK);
	assert_int_equal(vl_mimi_content_add_extension(&c, VL_MIMI_KEY_UINT, 300, NULL, one, 1),
	                 VL_OK);
	assert_int_equal(vl_mimi_content_add_extension(&c, VL_MIMI_KEY_UINT, 300, NULL, one, 1),
	                 VL_ERR_EXISTS);
	assert_int_equal(vl_mimi_content_add_extension(&c, VL_MIMI_KEY_UINT, 1, NULL, one, 1),
	                 VL_ERR_ARG);
	assert_int_equal(vl_mimi_content_add_extension(&c, VL_MIMI_KEY_TEXT, 0, "", one, 1),
	                 VL_ERR_ARG);
	static const uint8_t indefinite[] = {0x9f, 0xff}, two[] = {0x01, 0x02};
	assert_int_equal(
	    vl_mimi_content_add_extension(&c, VL_MIMI_KEY_UINT, 9, NULL, indefinite, 2),
	    VL_ERR_INVALID);
	assert_int_equal(vl_mimi_content_add_extension(&c, VL_MIMI_KEY_UINT, 9, NULL, two, 2),
	                 VL_ERR_INVALID);
	/* Deterministic order: 0, then senderUri 1 and roomUri 2, then 300
	 * (0x19 012c), then -5 (0x24), then the text key. */
	assert_int_equal(c.extensions_len, 4);
	assert_int_equal(c.extensions[0].key_int, 0);
	assert_int_equal(c.extensions[1].key_int, 300);
	assert_int_equal(c.extensions[2].key_kind, VL_MIMI_KEY_NEGINT);
	assert_int_equal(c.extensions[3].key_kind, VL_MIMI_KEY_TEXT);
	size_t len;
	uint8_t *buf = round_trip(&c, &len);
	/* Map of 6 right after inReplyTo; first key 0. */
	size_t at = 1 + 17 + 1 + 1 + 1 + 1;
	assert_int_equal(buf[at], 0xa6);
	assert_int_equal(buf[at + 1], 0x00);
	assert_int_equal(buf[at + 3], 0x01);
	free(buf);
	/* The others must stay sorted for the encoder. */
	struct vl_mimi_extension tmp = c.extensions[0];
	c.extensions[0] = c.extensions[1];
	c.extensions[1] = tmp;
	assert_int_equal(vl_mimi_content_encode_alloc(&c, &buf, &len), VL_ERR_INVALID);
	vl_mimi_content_cleanup(&c);
}

static void test_encode_cap(void **state)
{
	(void)state;
	struct vl_mimi_content c;
	new_message(&c);
	assert_int_equal(vl_mimi_content_set_text(&c, false, "hello", 5), VL_OK);
	size_t n, len;
	assert_int_equal(vl_mimi_content_encoded_size(&c, &n), VL_OK);
	uint8_t *buf = malloc(n);
	assert_int_equal(vl_mimi_content_encode(&c, buf, n - 1, &len), VL_ERR_LIMIT);
	assert_int_equal(vl_mimi_content_encode(&c, buf, n, &len), VL_OK);
	assert_int_equal(len, n);
	/* Invalid UTF-8 is refused on the way out too. */
	c.body.language.str[0] = 0;
	free(c.body.language.str);
	c.body.language.str = strdup("\xff");
	c.body.language.len = 1;
	assert_int_equal(vl_mimi_content_encode(&c, buf, n + 10, &len), VL_ERR_INVALID);
	free(buf);
	vl_mimi_content_cleanup(&c);
}

/* --- Malformed input ---------------------------------------------------- */

/* [salt 0^16, null, h'', null, null, EXT, BODY] from hex pieces. */
static int decode_hex(const char *ext, const char *body)
{
	char hex[20000];
	snprintf(hex, sizeof hex,
	         "8750%032x"
	         "f640f6f6%s%s",
	         0, ext, body);
	size_t len;
	uint8_t *buf = tu_unhex(hex, &len);
	assert_non_null(buf);
	struct vl_mimi_content c;
	int rc = vl_mimi_content_decode(&c, buf, len);
	if (rc == VL_OK) {
		uint8_t *re;
		size_t re_len;
		assert_int_equal(vl_mimi_content_encode_alloc(&c, &re, &re_len), VL_OK);
		assert_int_equal(re_len, len);
		assert_memory_equal(re, buf, len);
		free(re);
	}
	vl_mimi_content_cleanup(&c);
	free(buf);
	return rc;
}

static void test_rejects_malformed(void **state)
{
	(void)state;
	assert_int_equal(decode_hex("a0", "83016000"), VL_OK);
	assert_int_equal(decode_hex("a0", "8301600000"), VL_ERR_DECODE); /* trailing byte */
	assert_int_equal(decode_hex("a0", "830160"), VL_ERR_DECODE);     /* truncated */
	assert_int_equal(decode_hex("a0", "83016004"), VL_ERR_DECODE);   /* cardinality 4 */
	assert_int_equal(decode_hex("a0", "8401600000"), VL_ERR_DECODE); /* wrong length */
	assert_int_equal(decode_hex("a0", "8319010060"
	                                  "00"),
	                 VL_ERR_DECODE);                                   /* disposition 256 */
	assert_int_equal(decode_hex("a0", "8318016000"), VL_ERR_DECODE);   /* non-minimal 1 */
	assert_int_equal(decode_hex("a0", "8318ff6000"), VL_OK);           /* unknown disposition */
	assert_int_equal(decode_hex("a0", "9f016000ff"), VL_ERR_DECODE);   /* indefinite array */
	assert_int_equal(decode_hex("a0", "830161ff00"), VL_ERR_DECODE);   /* bad UTF-8 */
	assert_int_equal(decode_hex("a0", "8301610000"), VL_ERR_DECODE);   /* NUL in language */
	assert_int_equal(decode_hex("a0", "8301c06000"), VL_ERR_DECODE);   /* tag for text */
	assert_int_equal(decode_hex("a0", "83f93c006000"), VL_ERR_DECODE); /* float */
	/* single: content must be bstr */
	assert_int_equal(decode_hex("a0", "8501600160"
	                                  "4161"),
	                 VL_OK);
	assert_int_equal(decode_hex("a0", "8501600160"
	                                  "6161"),
	                 VL_ERR_DECODE);
	/* multipart needs two parts and a known semantics */
	assert_int_equal(decode_hex("a0", "850160030081"
	                                  "83016000"),
	                 VL_ERR_DECODE);
	assert_int_equal(decode_hex("a0", "850160030082"
	                                  "83016000"
	                                  "83016000"),
	                 VL_OK);
	assert_int_equal(decode_hex("a0", "850160030382"
	                                  "83016000"
	                                  "83016000"),
	                 VL_ERR_DECODE);
	/* extensions: sorted, unique, typed */
	assert_int_equal(decode_hex("a2016161026162", "83016000"), VL_OK);
	assert_int_equal(decode_hex("a2026161016162", "83016000"), VL_ERR_DECODE);
	assert_int_equal(decode_hex("a2016161016162", "83016000"), VL_ERR_DECODE);
	assert_int_equal(decode_hex("a10101", "83016000"), VL_ERR_DECODE);
	assert_int_equal(decode_hex("a1f601", "83016000"), VL_ERR_DECODE);   /* null key */
	assert_int_equal(decode_hex("a16001", "83016000"), VL_ERR_DECODE);   /* empty text key */
	assert_int_equal(decode_hex("a1039fff", "83016000"), VL_ERR_DECODE); /* indefinite value */
	assert_int_equal(decode_hex("a103a2020101f6", "83016000"),
	                 VL_ERR_DECODE); /* unsorted inner */
	assert_int_equal(decode_hex("a103a2010102f6", "83016000"), VL_OK);
	assert_int_equal(decode_hex("a10361ff", "83016000"),
	                 VL_ERR_DECODE); /* bad UTF-8 in value */
	assert_int_equal(decode_hex("a1031818", "83016000"), VL_OK);
	assert_int_equal(decode_hex("a103c11a5f000000", "83016000"), VL_OK); /* tagged value */

	/* salt of 15 octets, replaces of 31, expiry past 32 bits */
	static const char *const bad[] = {
	    "874f"
	    "000000000000000000000000000000"
	    "f640f6f6a083016000",
	    "8750"
	    "00000000000000000000000000000000"
	    "581f"
	    "00000000000000000000000000000000000000000000000000000000000000"
	    "40f6f6a083016000",
	    "8750"
	    "00000000000000000000000000000000"
	    "f640"
	    "82f51b0000000100000000"
	    "f6a083016000",
	    "8750"
	    "00000000000000000000000000000000"
	    "f640"
	    "83f4000000"
	    "f6a083016000",
	    "8750"
	    "00000000000000000000000000000000"
	    "f640"
	    "820000"
	    "f6a083016000",
	    "8650"
	    "00000000000000000000000000000000"
	    "f640f6f6a0",
	};
	struct vl_mimi_content c;
	size_t len;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		uint8_t *b = tu_unhex(bad[i], &len);
		assert_non_null(b);
		assert_int_equal(vl_mimi_content_decode(&c, b, len), VL_ERR_DECODE);
		free(b);
	}
	/* A referenced id with an unknown hash algorithm; a long topic. */
	char hex[20000];
	snprintf(hex, sizeof hex, "8750%032x5820%064x40f6f6a083016000", 0, 0);
	uint8_t *b = tu_unhex(hex, &len);
	assert_int_equal(vl_mimi_content_decode(&c, b, len), VL_ERR_UNSUPPORTED);
	free(b);
	int n = snprintf(hex, sizeof hex, "8750%032xf6591001", 0);
	for (int i = 0; i < 4097; i++)
		n += snprintf(hex + n, sizeof hex - (size_t)n, "00");
	snprintf(hex + n, sizeof hex - (size_t)n, "f6f6a083016000");
	b = tu_unhex(hex, &len);
	assert_int_equal(vl_mimi_content_decode(&c, b, len), VL_ERR_LIMIT);
	free(b);
	b = tu_unhex("8750"
	             "00000000000000000000000000000000"
	             "f640"
	             "82f4190258"
	             "f6a083016000",
	             &len);
	assert_int_equal(vl_mimi_content_decode(&c, b, len), VL_OK);
	assert_true(c.has_expires && !c.expires_relative && c.expires_time == 600);
	vl_mimi_content_cleanup(&c);
	free(b);
	assert_int_equal(vl_mimi_content_decode(&c, NULL, 0), VL_ERR_DECODE);
}

static void test_limits(void **state)
{
	(void)state;
	/* Nesting: each level is a multipart whose first part goes deeper. */
	char body[4096] = "83016000";
	for (int depth = 2; depth <= VL_MIMI_MAX_DEPTH + 1; depth++) {
		char next[sizeof body];
		size_t have = strlen(body);
		assert_true(have + 21 < sizeof next);
		memcpy(next, "850160030082", 12);
		memcpy(next + 12, body, have);
		memcpy(next + 12 + have, "83016000", 9);
		memcpy(body, next, sizeof body);
		int rc = decode_hex("a0", body);
		assert_int_equal(rc, depth <= VL_MIMI_MAX_DEPTH ? VL_OK : VL_ERR_LIMIT);
	}
	/* Too many parts in total. */
	char many[16384];
	int n = snprintf(many, sizeof many, "850160030099%04x", VL_MIMI_MAX_PARTS + 1);
	for (int i = 0; i < VL_MIMI_MAX_PARTS + 1; i++)
		n += snprintf(many + n, sizeof many - (size_t)n, "83016000");
	assert_int_equal(decode_hex("a0", many), VL_ERR_LIMIT);
	/* Exactly the limit (the multipart itself and 1023 parts) is fine. */
	n = snprintf(many, sizeof many, "85016003009903ff");
	for (int i = 0; i < VL_MIMI_MAX_PARTS - 1; i++)
		n += snprintf(many + n, sizeof many - (size_t)n, "83016000");
	assert_int_equal(decode_hex("a0", many), VL_OK);
	/* An extension value over 4095 octets. */
	char *ext = malloc(2 * 4200 + 16);
	n = sprintf(ext, "a103590ffd");
	for (int i = 0; i < 0xffd; i++)
		n += sprintf(ext + n, "00");
	assert_int_equal(decode_hex(ext, "83016000"), VL_ERR_LIMIT);
	n = sprintf(ext, "a103590ffc");
	for (int i = 0; i < 0xffc; i++)
		n += sprintf(ext + n, "00");
	assert_int_equal(decode_hex(ext, "83016000"), VL_OK);
	/* Value nesting. */
	n = sprintf(ext, "a103");
	for (int i = 0; i < VL_MIMI_MAX_VALUE_DEPTH + 1; i++)
		n += sprintf(ext + n, "81");
	sprintf(ext + n, "00");
	assert_int_equal(decode_hex(ext, "83016000"), VL_ERR_LIMIT);
	free(ext);
	/* Whole message. */
	size_t big = VL_MIMI_MAX_MESSAGE_LEN + 1;
	uint8_t *buf = calloc(1, big);
	struct vl_mimi_content c;
	assert_int_equal(vl_mimi_content_decode(&c, buf, big), VL_ERR_LIMIT);
	free(buf);
	/* A count larger than the input is refused without allocating it. */
	assert_int_equal(decode_hex("bb00ffffffffffffff", "83016000"), VL_ERR_LIMIT);
	assert_int_equal(decode_hex("a103"
	                            "9b00ffffffffffffff",
	                            "83016000"),
	                 VL_ERR_DECODE);
}

/* Every prefix of a message is refused; every single-bit change is
 * either refused or decodes to something that re-encodes to itself. */
static void test_truncations_and_flips(void **state)
{
	(void)state;
	struct vl_mimi_content c;
	new_message(&c);
	assert_int_equal(vl_mimi_part_set_multi(&c.body, 1, "en", VL_MIMI_PROCESS_ALL, 2), VL_OK);
	assert_int_equal(
	    vl_mimi_part_set_single(&c.body.parts[0], 1, "", VL_MIMI_TYPE_TEXT_PLAIN, "caption", 7),
	    VL_OK);
	struct vl_mimi_external e = {.url = {(char *)"https://x.example/b", 19}, .size = 70000};
	assert_int_equal(vl_mimi_part_set_external(&c.body.parts[1], VL_MIMI_DISP_ATTACHMENT, "",
	                                           "application/pdf", &e),
	                 VL_OK);
	static const uint8_t val[] = {0x82, 0x01, 0x61, 'z'};
	assert_int_equal(vl_mimi_content_add_extension(&c, VL_MIMI_KEY_UINT, 7, NULL, val, 4),
	                 VL_OK);
	size_t len;
	uint8_t *buf = round_trip(&c, &len);
	struct vl_mimi_content d;
	for (size_t n = 0; n < len; n++)
		assert_int_not_equal(vl_mimi_content_decode(&d, buf, n), VL_OK);
	size_t accepted = 0;
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			buf[i] ^= (uint8_t)(1u << bit);
			if (vl_mimi_content_decode(&d, buf, len) == VL_OK) {
				uint8_t *re;
				size_t re_len;
				assert_int_equal(vl_mimi_content_encode_alloc(&d, &re, &re_len),
				                 VL_OK);
				assert_int_equal(re_len, len);
				assert_memory_equal(re, buf, len);
				free(re);
				accepted++;
			}
			vl_mimi_content_cleanup(&d);
			buf[i] ^= (uint8_t)(1u << bit);
		}
	}
	/* Flips inside salts, strings and integers still decode. */
	assert_true(accepted > 0);
	free(buf);
	vl_mimi_content_cleanup(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_text_plain_and_markdown),
	    cmocka_unit_test(test_reply_reaction_edit_delete),
	    cmocka_unit_test(test_expiry_and_topic),
	    cmocka_unit_test(test_attachment),
	    cmocka_unit_test(test_multipart),
	    cmocka_unit_test(test_extensions),
	    cmocka_unit_test(test_encode_cap),
	    cmocka_unit_test(test_rejects_malformed),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_truncations_and_flips),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
