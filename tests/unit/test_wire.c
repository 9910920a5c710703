/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of src/wire: integers, varints, opaque, vectors, optionals,
 * the writer's cap and the sticky errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wire/wire.h"

static void test_integers_round_trip(void **state)
{
	(void)state;
	uint8_t buf[15];
	struct vl_writer w;
	vl_writer_init_fixed(&w, buf, sizeof buf);
	assert_int_equal(vl_write_u8(&w, 0xab), VL_OK);
	assert_int_equal(vl_write_u16(&w, 0x1234), VL_OK);
	assert_int_equal(vl_write_u32(&w, 0xdeadbeef), VL_OK);
	assert_int_equal(vl_write_u64(&w, 0x0102030405060708ull), VL_OK);
	assert_int_equal(w.len, 15);
	static const uint8_t want[15] = {0xab, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 1,
	                                 2,    3,    4,    5,    6,    7,    8};
	assert_memory_equal(buf, want, 15);

	struct vl_reader r;
	vl_reader_init(&r, buf, w.len);
	uint8_t a;
	uint16_t b;
	uint32_t c;
	uint64_t d;
	assert_int_equal(vl_read_u8(&r, &a), VL_OK);
	assert_int_equal(vl_read_u16(&r, &b), VL_OK);
	assert_int_equal(vl_read_u32(&r, &c), VL_OK);
	assert_int_equal(vl_read_u64(&r, &d), VL_OK);
	assert_int_equal(a, 0xab);
	assert_int_equal(b, 0x1234);
	assert_int_equal(c, 0xdeadbeef);
	assert_true(d == 0x0102030405060708ull);
	assert_int_equal(vl_reader_finish(&r), VL_OK);
}

static void test_varint_examples(void **state)
{
	(void)state;
	/* RFC 9420 §2.1.2 examples. */
	static const struct {
		uint8_t enc[4];
		size_t n;
		uint32_t v;
	} ex[] = {
	    {{0x9d, 0x7f, 0x3e, 0x7d}, 4, 494878333},
	    {{0x7b, 0xbd}, 2, 15293},
	    {{0x25}, 1, 37},
	};
	for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
		struct vl_reader r;
		uint32_t v;
		vl_reader_init(&r, ex[i].enc, ex[i].n);
		assert_int_equal(vl_read_varint(&r, &v), VL_OK);
		assert_int_equal(v, ex[i].v);
		assert_int_equal(vl_reader_finish(&r), VL_OK);

		uint8_t out[4];
		struct vl_writer w;
		vl_writer_init_fixed(&w, out, sizeof out);
		assert_int_equal(vl_write_varint(&w, ex[i].v), VL_OK);
		assert_int_equal(w.len, ex[i].n);
		assert_memory_equal(out, ex[i].enc, ex[i].n);
	}
}

static void test_varint_rejects(void **state)
{
	(void)state;
	static const struct {
		uint8_t enc[4];
		size_t n;
	} bad[] = {
	    {{0xc0}, 1},                   /* prefix 11 */
	    {{0x40, 0x25}, 2},             /* 37 in two bytes: not minimal */
	    {{0x80, 0x00, 0x3f, 0xff}, 4}, /* 16383 in four bytes */
	    {{0x40}, 1},                   /* truncated */
	    {{0x80, 0x00, 0x40}, 3},       /* truncated */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct vl_reader r;
		uint32_t v;
		vl_reader_init(&r, bad[i].enc, bad[i].n);
		assert_int_equal(vl_read_varint(&r, &v), VL_ERR_DECODE);
	}
	uint8_t out[4];
	struct vl_writer w;
	vl_writer_init_fixed(&w, out, sizeof out);
	assert_int_equal(vl_write_varint(&w, (uint64_t)VL_VARINT_MAX + 1), VL_ERR_LIMIT);
	/* sticky */
	assert_int_equal(vl_write_u8(&w, 1), VL_ERR_LIMIT);
}

static void test_varint_boundaries(void **state)
{
	(void)state;
	static const uint32_t vals[] = {0, 63, 64, 16383, 16384, VL_VARINT_MAX};
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		uint8_t out[4];
		struct vl_writer w;
		vl_writer_init_fixed(&w, out, sizeof out);
		assert_int_equal(vl_write_varint(&w, vals[i]), VL_OK);
		assert_int_equal(w.len, vl_varint_size(vals[i]));
		struct vl_reader r;
		uint32_t v;
		vl_reader_init(&r, out, w.len);
		assert_int_equal(vl_read_varint(&r, &v), VL_OK);
		assert_int_equal(v, vals[i]);
	}
}

static void test_opaque_and_limits(void **state)
{
	(void)state;
	struct vl_writer w;
	vl_writer_init_heap(&w, 1 << 20);
	uint8_t big[300];
	memset(big, 7, sizeof big);
	assert_int_equal(vl_write_opaque(&w, "abc", 3), VL_OK);
	assert_int_equal(vl_write_opaque(&w, big, sizeof big), VL_OK);
	assert_int_equal(vl_write_opaque(&w, NULL, 0), VL_OK);
	uint8_t *out;
	size_t n;
	assert_int_equal(vl_writer_take(&w, &out, &n), VL_OK);
	assert_int_equal(n, 1 + 3 + 2 + 300 + 1);

	struct vl_reader r;
	const uint8_t *p;
	size_t plen;
	vl_reader_init(&r, out, n);
	assert_int_equal(vl_read_opaque(&r, &p, &plen, 16), VL_OK);
	assert_int_equal(plen, 3);
	assert_memory_equal(p, "abc", 3);
	/* The second value is longer than the caller allows. */
	assert_int_equal(vl_read_opaque(&r, &p, &plen, 16), VL_ERR_LIMIT);
	assert_int_equal(vl_reader_finish(&r), VL_ERR_LIMIT);

	/* A length that runs past the input. */
	vl_reader_init(&r, out, 5);
	assert_int_equal(vl_read_opaque(&r, &p, &plen, 1000), VL_OK);
	assert_int_equal(vl_read_opaque(&r, &p, &plen, 1000), VL_ERR_DECODE);
	free(out);
}

static void test_writer_cap(void **state)
{
	(void)state;
	struct vl_writer w;
	vl_writer_init_heap(&w, 10);
	assert_int_equal(vl_write_u64(&w, 1), VL_OK);
	assert_int_equal(vl_write_u16(&w, 1), VL_OK);
	assert_int_equal(vl_write_u8(&w, 1), VL_ERR_LIMIT);
	uint8_t *out;
	size_t n;
	assert_int_equal(vl_writer_take(&w, &out, &n), VL_ERR_LIMIT);
	assert_null(out);

	uint8_t small[3];
	vl_writer_init_fixed(&w, small, sizeof small);
	assert_int_equal(vl_write_u32(&w, 1), VL_ERR_LIMIT);
	vl_writer_cleanup(&w);
}

static void test_writer_reserve(void **state)
{
	(void)state;
	struct vl_writer w;
	vl_writer_init_heap(&w, 1000);
	assert_int_equal(vl_writer_reserve(&w, 700), VL_OK);
	assert_true(w.cap >= 700);
	assert_int_equal(w.len, 0);
	uint8_t *before = w.buf;
	for (int i = 0; i < 700; i++)
		assert_int_equal(vl_write_u8(&w, (uint8_t)i), VL_OK);
	/* The reservation held: no reallocation while filling it. */
	assert_ptr_equal(w.buf, before);
	assert_int_equal(vl_writer_reserve(&w, 301), VL_ERR_LIMIT);
	assert_int_equal(vl_write_u8(&w, 1), VL_ERR_LIMIT);
	vl_writer_cleanup(&w);
}

static void test_nested_vectors(void **state)
{
	(void)state;
	struct vl_writer w;
	vl_writer_init_heap(&w, 1 << 20);
	size_t outer = vl_write_vector_begin(&w);
	size_t inner = vl_write_vector_begin(&w);
	for (int i = 0; i < 100; i++)
		assert_int_equal(vl_write_u8(&w, (uint8_t)i), VL_OK);
	assert_int_equal(vl_write_vector_end(&w, inner), VL_OK);
	assert_int_equal(vl_write_u16(&w, 0xbeef), VL_OK);
	assert_int_equal(vl_write_vector_end(&w, outer), VL_OK);
	uint8_t *out;
	size_t n;
	assert_int_equal(vl_writer_take(&w, &out, &n), VL_OK);
	/* outer: 2-byte prefix (104 bytes), inner: 2-byte prefix (100 bytes). */
	assert_int_equal(n, 2 + 2 + 100 + 2);

	struct vl_reader r, o, in;
	vl_reader_init(&r, out, n);
	assert_int_equal(vl_read_vector(&r, &o), VL_OK);
	assert_int_equal(vl_reader_finish(&r), VL_OK);
	assert_int_equal(vl_read_vector(&o, &in), VL_OK);
	assert_int_equal(vl_reader_left(&in), 100);
	for (int i = 0; i < 100; i++) {
		uint8_t b;
		assert_int_equal(vl_read_u8(&in, &b), VL_OK);
		assert_int_equal(b, i);
	}
	assert_int_equal(vl_reader_finish(&in), VL_OK);
	uint16_t t;
	assert_int_equal(vl_read_u16(&o, &t), VL_OK);
	assert_int_equal(t, 0xbeef);
	assert_int_equal(vl_reader_finish(&o), VL_OK);
	free(out);
}

static void test_optional(void **state)
{
	(void)state;
	static const uint8_t in[] = {0, 1, 2};
	struct vl_reader r;
	bool present;
	vl_reader_init(&r, in, sizeof in);
	assert_int_equal(vl_read_optional(&r, &present), VL_OK);
	assert_false(present);
	assert_int_equal(vl_read_optional(&r, &present), VL_OK);
	assert_true(present);
	assert_int_equal(vl_read_optional(&r, &present), VL_ERR_DECODE);
}

static void test_trailing_bytes(void **state)
{
	(void)state;
	static const uint8_t in[] = {1, 2, 3};
	struct vl_reader r;
	uint16_t v;
	vl_reader_init(&r, in, sizeof in);
	assert_int_equal(vl_read_u16(&r, &v), VL_OK);
	assert_int_equal(vl_reader_finish(&r), VL_ERR_DECODE);
	assert_string_equal(vl_strerror(VL_ERR_DECODE), "malformed input");
	assert_string_equal(vl_strerror(9999), "unknown error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_integers_round_trip),
	    cmocka_unit_test(test_varint_examples),
	    cmocka_unit_test(test_varint_rejects),
	    cmocka_unit_test(test_varint_boundaries),
	    cmocka_unit_test(test_opaque_and_limits),
	    cmocka_unit_test(test_writer_cap),
	    cmocka_unit_test(test_writer_reserve),
	    cmocka_unit_test(test_nested_vectors),
	    cmocka_unit_test(test_optional),
	    cmocka_unit_test(test_trailing_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
