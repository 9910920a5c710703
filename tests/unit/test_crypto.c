/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of src/crypto, for each supported suite: round trips, tamper
 * detection (a flipped bit of tag, ciphertext, signature or message gives
 * VL_ERR_CRYPTO and a zeroed output), invalid keys, HPKE sequence numbers,
 * nonces, modes and their input checks, export limits, the MLS helpers,
 * wiping, constant-time comparison and the HKDF length limit. Known answers
 * are in the vector tests and valise-selfcheck.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "crypto/crypto_int.h"

static const uint16_t suite_ids[] = {1, 2, 3};
#define N_SUITES (sizeof suite_ids / sizeof suite_ids[0])

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

static void test_suite_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_SUITES; i++) {
		const struct vl_suite *s = vl_suite_get(suite_ids[i]);
		assert_non_null(s);
		assert_int_equal(s->id, suite_ids[i]);
		assert_true(s->hash_len <= VL_HASH_MAX);
		assert_true(s->aead_key_len <= VL_AEAD_KEY_MAX);
		assert_true(s->aead_nonce_len <= VL_AEAD_NONCE_MAX);
		assert_true(s->kem_pub_len <= VL_KEM_PUB_MAX);
		assert_true(s->sig_pub_len <= VL_SIG_PUB_MAX);
		assert_non_null(s->name);
	}
	assert_null(vl_suite_get(0));
	assert_null(vl_suite_get(4)); /* P-521: not supported */
	assert_null(vl_suite_get(0xffff));
}

static void test_wipe_and_ct_equal(void **state)
{
	(void)state;
	uint8_t a[33], b[33];
	memset(a, 0xa5, sizeof a);
	vl_wipe(a, sizeof a);
	assert_true(all_zero(a, sizeof a));
	vl_wipe(NULL, 10); /* accepted */
	vl_wipe(a, 0);

	memset(a, 7, sizeof a);
	memcpy(b, a, sizeof b);
	assert_true(vl_ct_equal(a, b, sizeof a));
	assert_true(vl_ct_equal(a, b, 0));
	for (size_t i = 0; i < sizeof a; i += 8) {
		b[i] ^= 0x80;
		assert_false(vl_ct_equal(a, b, sizeof a));
		b[i] ^= 0x80;
	}
	b[32] ^= 1;
	assert_false(vl_ct_equal(a, b, sizeof a));
	assert_true(vl_ct_equal(a, b, 32));
}

static void test_random(void **state)
{
	(void)state;
	uint8_t a[32] = {0}, b[32] = {0};
	assert_int_equal(vl_random(a, sizeof a), VL_OK);
	assert_int_equal(vl_random(b, sizeof b), VL_OK);
	assert_false(all_zero(a, sizeof a));
	assert_memory_not_equal(a, b, sizeof a);
	assert_int_equal(vl_random(a, 0), VL_OK);
}

static void test_hash_incremental(void **state)
{
	(void)state;
	const struct vl_suite *s = vl_suite_get(1);
	uint8_t msg[300], one[VL_HASH_MAX], inc[VL_HASH_MAX];
	for (size_t i = 0; i < sizeof msg; i++)
		msg[i] = (uint8_t)i;
	assert_int_equal(vl_hash(s, msg, sizeof msg, one), VL_OK);
	struct vl_hash_ctx *c;
	assert_int_equal(vl_hash_ctx_new(s, &c), VL_OK);
	uint8_t head[VL_HASH_MAX], peek[VL_HASH_MAX];
	assert_int_equal(vl_hash(s, msg, 100, head), VL_OK);
	/* Twice: final resets the context for reuse. A peek on the way gives
	 * the hash of the first 100 octets and changes nothing. */
	for (int round = 0; round < 2; round++) {
		assert_int_equal(vl_hash_ctx_update(c, msg, 1), VL_OK);
		assert_int_equal(vl_hash_ctx_update(c, msg + 1, 0), VL_OK);
		assert_int_equal(vl_hash_ctx_update(c, msg + 1, 99), VL_OK);
		assert_int_equal(vl_hash_ctx_peek(c, peek), VL_OK);
		assert_memory_equal(head, peek, s->hash_len);
		assert_int_equal(vl_hash_ctx_update(c, msg + 100, sizeof msg - 100), VL_OK);
		assert_int_equal(vl_hash_ctx_final(c, inc), VL_OK);
		assert_memory_equal(one, inc, s->hash_len);
	}
	vl_hash_ctx_free(c);
	vl_hash_ctx_free(NULL);
}

static void test_hmac_key_sizes(void **state)
{
	(void)state;
	const struct vl_suite *s = vl_suite_get(1);
	/* RFC 4231 test case 6: a key longer than the block is hashed first. */
	uint8_t key[131], out[VL_HASH_MAX];
	memset(key, 0xaa, sizeof key);
	const char *data = "Test Using Larger Than Block-Size Key - Hash Key First";
	static const uint8_t want[32] = {0x60, 0xe4, 0x31, 0x59, 0x1e, 0xe0, 0xb6, 0x7f,
	                                 0x0d, 0x8a, 0x26, 0xaa, 0xcb, 0xf5, 0xb7, 0x7f,
	                                 0x8e, 0x0b, 0xc6, 0x21, 0x37, 0x28, 0xc5, 0x14,
	                                 0x05, 0x46, 0x04, 0x0f, 0x0e, 0xe3, 0x7f, 0x54};
	assert_int_equal(vl_hmac(s, key, sizeof key, data, strlen(data), out), VL_OK);
	assert_memory_equal(out, want, 32);
	/* A key of exactly one block is used as it is; one byte more is
	 * hashed: the two must differ from each other. */
	uint8_t a[VL_HASH_MAX], b[VL_HASH_MAX];
	assert_int_equal(vl_hmac(s, key, 64, "x", 1, a), VL_OK);
	assert_int_equal(vl_hmac(s, key, 65, "x", 1, b), VL_OK);
	assert_memory_not_equal(a, b, 32);
	/* Empty key and empty message. */
	assert_int_equal(vl_hmac(s, NULL, 0, NULL, 0, a), VL_OK);
	assert_int_equal(vl_hmac(s, key, 0, "", 0, b), VL_OK);
	assert_memory_equal(a, b, 32);
}

static void test_hkdf_limits(void **state)
{
	(void)state;
	const struct vl_suite *s = vl_suite_get(1);
	uint8_t prk[VL_HASH_MAX];
	size_t max = 255 * s->hash_len;
	uint8_t *out = malloc(max + 1);
	assert_non_null(out);
	assert_int_equal(vl_hkdf_extract(s, NULL, 0, "ikm", 3, prk), VL_OK);
	assert_int_equal(vl_hkdf_expand(s, prk, s->hash_len, "i", 1, out, max), VL_OK);
	/* The first block of a long output equals a one-block output. */
	uint8_t first[32];
	assert_int_equal(vl_hkdf_expand(s, prk, s->hash_len, "i", 1, first, 32), VL_OK);
	assert_memory_equal(first, out, 32);
	memset(out, 0xee, max + 1);
	assert_int_equal(vl_hkdf_expand(s, prk, s->hash_len, "i", 1, out, max + 1), VL_ERR_LIMIT);
	assert_true(all_zero(out, max + 1));
	/* ExpandWithLabel takes a uint16 length but is bound by the same. */
	uint8_t *big = malloc(UINT16_MAX);
	assert_non_null(big);
	assert_int_equal(vl_mls_expand_with_label(s, prk, 32, "x", NULL, 0, big, UINT16_MAX),
	                 VL_ERR_LIMIT);
	free(big);
	/* An empty salt is HashLen zeros (RFC 5869 §2.2). */
	uint8_t zeros[32] = {0}, prk2[VL_HASH_MAX];
	assert_int_equal(vl_hkdf_extract(s, zeros, 32, "ikm", 3, prk2), VL_OK);
	assert_memory_equal(prk, prk2, 32);
	free(out);
}

static void test_aead(void **state)
{
	(void)state;
	for (size_t si = 0; si < N_SUITES; si++) {
		const struct vl_suite *s = vl_suite_get(suite_ids[si]);
		uint8_t key[VL_AEAD_KEY_MAX], nonce[VL_AEAD_NONCE_MAX];
		uint8_t pt[100], ct[116], back[100];
		assert_int_equal(vl_random(key, sizeof key), VL_OK);
		assert_int_equal(vl_random(nonce, sizeof nonce), VL_OK);
		assert_int_equal(vl_random(pt, sizeof pt), VL_OK);
		assert_int_equal(vl_aead_seal(s, key, nonce, "aad", 3, pt, sizeof pt, ct), VL_OK);
		assert_int_equal(vl_aead_open(s, key, nonce, "aad", 3, ct, sizeof ct, back), VL_OK);
		assert_memory_equal(pt, back, sizeof pt);

		/* Any flipped bit: tag, ciphertext, aad, nonce, key. */
		size_t flips[] = {0, 50, 99, 100, 115};
		for (size_t f = 0; f < sizeof flips / sizeof flips[0]; f++) {
			ct[flips[f]] ^= 0x10;
			memset(back, 0xcc, sizeof back);
			assert_int_equal(vl_aead_open(s, key, nonce, "aad", 3, ct, sizeof ct, back),
			                 VL_ERR_CRYPTO);
			assert_true(all_zero(back, sizeof back));
			ct[flips[f]] ^= 0x10;
		}
		assert_int_equal(vl_aead_open(s, key, nonce, "aae", 3, ct, sizeof ct, back),
		                 VL_ERR_CRYPTO);
		nonce[11] ^= 1;
		assert_int_equal(vl_aead_open(s, key, nonce, "aad", 3, ct, sizeof ct, back),
		                 VL_ERR_CRYPTO);
		nonce[11] ^= 1;
		key[0] ^= 1;
		assert_int_equal(vl_aead_open(s, key, nonce, "aad", 3, ct, sizeof ct, back),
		                 VL_ERR_CRYPTO);
		key[0] ^= 1;
		/* Shorter than a tag; truncated. */
		assert_int_equal(vl_aead_open(s, key, nonce, NULL, 0, ct, 15, back), VL_ERR_CRYPTO);
		assert_int_equal(vl_aead_open(s, key, nonce, "aad", 3, ct, sizeof ct - 1, back),
		                 VL_ERR_CRYPTO);

		/* In place, and an empty message. */
		uint8_t io[116];
		memcpy(io, pt, sizeof pt);
		assert_int_equal(vl_aead_seal(s, key, nonce, "aad", 3, io, sizeof pt, io), VL_OK);
		assert_memory_equal(io, ct, sizeof ct);
		assert_int_equal(vl_aead_open(s, key, nonce, "aad", 3, io, sizeof io, io), VL_OK);
		assert_memory_equal(io, pt, sizeof pt);
		uint8_t tag[16];
		assert_int_equal(vl_aead_seal(s, key, nonce, NULL, 0, NULL, 0, tag), VL_OK);
		assert_int_equal(vl_aead_open(s, key, nonce, NULL, 0, tag, 16, back), VL_OK);
	}
}

static void test_signatures(void **state)
{
	(void)state;
	for (size_t si = 0; si < N_SUITES; si++) {
		const struct vl_suite *s = vl_suite_get(suite_ids[si]);
		uint8_t priv[VL_SIG_PRIV_MAX], pub[VL_SIG_PUB_MAX], pub2[VL_SIG_PUB_MAX];
		uint8_t sig[VL_SIG_MAX], msg[64];
		size_t sig_len;
		assert_int_equal(vl_sig_generate(s, priv, pub), VL_OK);
		assert_int_equal(vl_sig_public_from_private(s, priv, pub2), VL_OK);
		assert_memory_equal(pub, pub2, s->sig_pub_len);
		assert_int_equal(vl_random(msg, sizeof msg), VL_OK);
		assert_int_equal(vl_sign(s, priv, msg, sizeof msg, sig, &sig_len), VL_OK);
		assert_true(sig_len <= VL_SIG_MAX);
		if (s->sig_alg == VL_SIG_ED25519)
			assert_int_equal(sig_len, 64);
		else
			assert_int_equal(sig[0], 0x30); /* DER SEQUENCE */
		const size_t pl = s->sig_pub_len;
		assert_int_equal(vl_verify(s, pub, pl, msg, sizeof msg, sig, sig_len), VL_OK);

		/* Tampering: signature bits, message bit, length. */
		for (size_t i = 0; i < sig_len; i += 7) {
			sig[i] ^= 0x01;
			assert_int_equal(vl_verify(s, pub, pl, msg, sizeof msg, sig, sig_len),
			                 VL_ERR_CRYPTO);
			sig[i] ^= 0x01;
		}
		msg[10] ^= 4;
		assert_int_equal(vl_verify(s, pub, pl, msg, sizeof msg, sig, sig_len),
		                 VL_ERR_CRYPTO);
		msg[10] ^= 4;
		assert_int_equal(vl_verify(s, pub, pl, msg, sizeof msg, sig, sig_len - 1),
		                 VL_ERR_CRYPTO);
		/* Trailing bytes after a DER signature are not accepted. */
		uint8_t longer[VL_SIG_MAX + 1];
		memcpy(longer, sig, sig_len);
		longer[sig_len] = 0;
		assert_int_equal(vl_verify(s, pub, pl, msg, sizeof msg, longer, sig_len + 1),
		                 VL_ERR_CRYPTO);
		assert_int_equal(vl_verify(s, pub, pl, msg, sizeof msg, sig, 0), VL_ERR_CRYPTO);
		/* Wrong key length, other key. */
		assert_int_equal(vl_verify(s, pub, pl - 1, msg, sizeof msg, sig, sig_len),
		                 VL_ERR_CRYPTO);
		assert_int_equal(vl_sig_generate(s, priv, pub2), VL_OK);
		assert_int_equal(vl_verify(s, pub2, pl, msg, sizeof msg, sig, sig_len),
		                 VL_ERR_CRYPTO);

		/* Loaded keys; a public-only key cannot sign. */
		struct vl_sig_key *kpriv, *kpub;
		assert_int_equal(vl_sig_key_from_private(s, priv, &kpriv), VL_OK);
		assert_int_equal(vl_sig_key_from_public(s, pub2, pl, &kpub), VL_OK);
		assert_int_equal(vl_sig_key_sign(kpriv, msg, sizeof msg, sig, &sig_len), VL_OK);
		assert_int_equal(vl_sig_key_verify(kpub, msg, sizeof msg, sig, sig_len), VL_OK);
		assert_int_equal(vl_sig_key_verify(kpriv, msg, sizeof msg, sig, sig_len), VL_OK);
		assert_int_equal(vl_verify(s, pub2, pl, msg, sizeof msg, sig, sig_len), VL_OK);
		assert_int_equal(vl_sig_key_sign(kpub, msg, sizeof msg, sig, &sig_len), VL_ERR_ARG);
		assert_int_equal(sig_len, 0);
		vl_sig_key_free(kpriv);
		vl_sig_key_free(kpub);
		vl_sig_key_free(NULL);
		struct vl_sig_key *bad = (void *)1;
		assert_int_equal(vl_sig_key_from_public(s, pub2, pl + 1, &bad), VL_ERR_CRYPTO);
		assert_null(bad);
	}
}

static void test_p256_invalid_keys(void **state)
{
	(void)state;
	const struct vl_suite *s = vl_suite_get(2);
	uint8_t priv[32], pub[65], sig[VL_SIG_MAX], out[65];
	size_t sig_len;
	assert_int_equal(vl_sig_generate(s, priv, pub), VL_OK);
	assert_int_equal(vl_sign(s, priv, "m", 1, sig, &sig_len), VL_OK);

	uint8_t bad[65];
	memcpy(bad, pub, 65);
	bad[64] ^= 1; /* off the curve */
	assert_int_equal(vl_verify(s, bad, 65, "m", 1, sig, sig_len), VL_ERR_CRYPTO);
	assert_int_equal(vl_kem_check_public(s, bad, 65), VL_ERR_CRYPTO);
	memcpy(bad, pub, 65);
	bad[0] = 0x02; /* compressed prefix on an uncompressed body */
	assert_int_equal(vl_kem_check_public(s, bad, 65), VL_ERR_CRYPTO);
	assert_int_equal(vl_kem_check_public(s, pub, 33), VL_ERR_CRYPTO);
	memset(bad, 0, 65);
	bad[0] = 0x04; /* (0, 0) is not on the curve */
	assert_int_equal(vl_kem_check_public(s, bad, 65), VL_ERR_CRYPTO);
	assert_int_equal(vl_kem_check_public(s, bad, 1), VL_ERR_CRYPTO); /* infinity */
	assert_int_equal(vl_kem_check_public(s, pub, 65), VL_OK);

	/* Private scalars must be in [1, n-1]. */
	memset(priv, 0, 32);
	assert_int_equal(vl_sig_public_from_private(s, priv, out), VL_ERR_CRYPTO);
	assert_true(all_zero(out, 65));
	memset(priv, 0xff, 32);
	assert_int_equal(vl_kem_public_from_private(s, priv, out), VL_ERR_CRYPTO);
	assert_int_equal(vl_sign(s, priv, "m", 1, sig, &sig_len), VL_ERR_CRYPTO);
	assert_int_equal(sig_len, 0);
	/* n itself, then n - 1 (valid). */
	static const uint8_t n[32] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
	                              0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	                              0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84,
	                              0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
	memcpy(priv, n, 32);
	assert_int_equal(vl_kem_public_from_private(s, priv, out), VL_ERR_CRYPTO);
	priv[31]--;
	assert_int_equal(vl_kem_public_from_private(s, priv, out), VL_OK);
}

static void test_x25519_small_order(void **state)
{
	(void)state;
	const struct vl_suite *s = vl_suite_get(1);
	/* u = 0 and u = 1 are of small order: the DH output is all zero and
	 * RFC 9180 §7.1.4 requires failing. */
	uint8_t pk[32] = {0}, enc[32], ct[20], sk[32], good[32];
	assert_int_equal(vl_hpke_seal(s, pk, 32, NULL, 0, NULL, 0, "abcd", 4, enc, ct),
	                 VL_ERR_CRYPTO);
	assert_true(all_zero(enc, 32));
	pk[0] = 1;
	assert_int_equal(vl_hpke_seal(s, pk, 32, NULL, 0, NULL, 0, "abcd", 4, enc, ct),
	                 VL_ERR_CRYPTO);
	/* The same on the receiving side, as an enc. */
	assert_int_equal(vl_kem_generate(s, sk, good), VL_OK);
	memset(ct, 0, sizeof ct);
	assert_int_equal(vl_hpke_open(s, sk, pk, 32, NULL, 0, NULL, 0, ct, 20, ct), VL_ERR_CRYPTO);
	assert_int_equal(vl_hpke_seal(s, good, 31, NULL, 0, NULL, 0, "abcd", 4, enc, ct),
	                 VL_ERR_CRYPTO);
}

static void test_kem_derive(void **state)
{
	(void)state;
	for (size_t si = 0; si < N_SUITES; si++) {
		const struct vl_suite *s = vl_suite_get(suite_ids[si]);
		uint8_t sk1[32], pk1[65], sk2[32], pk2[65], pk3[65];
		assert_int_equal(vl_kem_derive_keypair(s, "seed", 4, sk1, pk1), VL_OK);
		assert_int_equal(vl_kem_derive_keypair(s, "seed", 4, sk2, pk2), VL_OK);
		assert_memory_equal(sk1, sk2, 32);
		assert_memory_equal(pk1, pk2, s->kem_pub_len);
		assert_int_equal(vl_kem_public_from_private(s, sk1, pk3), VL_OK);
		assert_memory_equal(pk1, pk3, s->kem_pub_len);
		assert_int_equal(vl_kem_check_public(s, pk1, s->kem_pub_len), VL_OK);
		assert_int_equal(vl_kem_derive_keypair(s, "seee", 4, sk2, pk2), VL_OK);
		assert_memory_not_equal(sk1, sk2, 32);
	}
}

static void test_hpke_sequence(void **state)
{
	(void)state;
	for (size_t si = 0; si < N_SUITES; si++) {
		const struct vl_suite *s = vl_suite_get(suite_ids[si]);
		struct vl_hpke_alg alg = {s->kem_id, s->kdf_id, s->aead_id};
		uint8_t sk[32], pk[65], enc[65], ct[3][26], pt[10];
		assert_int_equal(vl_kem_generate(s, sk, pk), VL_OK);
		struct vl_hpke_ctx *snd, *rcv;
		assert_int_equal(vl_hpke_setup_sender(&alg, NULL, pk, s->kem_pub_len, "info", 4,
		                                      NULL, 0, enc, &snd),
		                 VL_OK);
		assert_int_equal(
		    vl_hpke_setup_receiver(&alg, NULL, enc, s->kem_pub_len, sk, "info", 4, &rcv),
		    VL_OK);
		for (int i = 0; i < 3; i++)
			assert_int_equal(vl_hpke_ctx_seal(snd, "a", 1, "0123456789", 10, ct[i]),
			                 VL_OK);
		/* Same plaintext, different nonce each time. */
		assert_memory_not_equal(ct[0], ct[1], 26);

		/* Nonce i is base_nonce XOR i in the low-order bytes. */
		uint8_t key[32], nonce[12], exp[32], direct[26];
		vlcrypto_hpke_ctx_peek(snd, key, nonce, exp);
		nonce[11] ^= 2;
		assert_int_equal(vl_aead_seal(s, key, nonce, "a", 1, "0123456789", 10, direct),
		                 VL_OK);
		assert_memory_equal(direct, ct[2], 26);

		/* Out of order fails; a failure does not advance the count. */
		assert_int_equal(vl_hpke_ctx_open(rcv, "a", 1, ct[1], 26, pt), VL_ERR_CRYPTO);
		ct[0][25] ^= 1;
		assert_int_equal(vl_hpke_ctx_open(rcv, "a", 1, ct[0], 26, pt), VL_ERR_CRYPTO);
		ct[0][25] ^= 1;
		for (int i = 0; i < 3; i++) {
			assert_int_equal(vl_hpke_ctx_open(rcv, "a", 1, ct[i], 26, pt), VL_OK);
			assert_memory_equal(pt, "0123456789", 10);
		}
		/* A replay of an earlier message now fails. */
		assert_int_equal(vl_hpke_ctx_open(rcv, "a", 1, ct[0], 26, pt), VL_ERR_CRYPTO);

		/* Exports agree; the limit is 255 * Nh. */
		uint8_t e1[64], e2[64], *big = malloc(255 * 32 + 1);
		assert_non_null(big);
		assert_int_equal(vl_hpke_ctx_export(snd, "ctx", 3, e1, 64), VL_OK);
		assert_int_equal(vl_hpke_ctx_export(rcv, "ctx", 3, e2, 64), VL_OK);
		assert_memory_equal(e1, e2, 64);
		assert_int_equal(vl_hpke_ctx_export(snd, "ctx", 3, big, 255 * 32), VL_OK);
		assert_int_equal(vl_hpke_ctx_export(snd, "ctx", 3, big, 255 * 32 + 1),
		                 VL_ERR_LIMIT);
		free(big);
		vl_hpke_ctx_free(snd);
		vl_hpke_ctx_free(rcv);
		vl_hpke_ctx_free(NULL);
	}
}

static void test_hpke_modes(void **state)
{
	(void)state;
	static const uint8_t psk[32] = "thirty-two bytes of shared psk..";
	for (size_t si = 0; si < N_SUITES; si++) {
		const struct vl_suite *s = vl_suite_get(suite_ids[si]);
		struct vl_hpke_alg alg = {s->kem_id, s->kdf_id, s->aead_id};
		uint8_t skr[32], pkr[65], sks[32], pks[65], other_sk[32], other_pk[65];
		assert_int_equal(vl_kem_generate(s, skr, pkr), VL_OK);
		assert_int_equal(vl_kem_generate(s, sks, pks), VL_OK);
		assert_int_equal(vl_kem_generate(s, other_sk, other_pk), VL_OK);
		for (int mode = 0; mode <= 3; mode++) {
			bool use_psk = mode & 1, auth = mode & 2;
			struct vl_hpke_mode_args ms = {
			    .mode = (enum vl_hpke_mode)mode,
			    .psk = use_psk ? psk : NULL,
			    .psk_len = use_psk ? sizeof psk : 0,
			    .psk_id = use_psk ? (const uint8_t *)"id" : NULL,
			    .psk_id_len = use_psk ? 2 : 0,
			    .sk_s = auth ? sks : NULL,
			};
			struct vl_hpke_mode_args mr = ms;
			mr.sk_s = NULL;
			mr.pk_s = auth ? pks : NULL;
			mr.pk_s_len = auth ? s->kem_pub_len : 0;
			uint8_t enc[65], ct[21], pt[5];
			struct vl_hpke_ctx *snd, *rcv;
			assert_int_equal(vl_hpke_setup_sender(&alg, &ms, pkr, s->kem_pub_len, NULL,
			                                      0, NULL, 0, enc, &snd),
			                 VL_OK);
			assert_int_equal(vl_hpke_ctx_seal(snd, NULL, 0, "hello", 5, ct), VL_OK);
			assert_int_equal(vl_hpke_setup_receiver(&alg, &mr, enc, s->kem_pub_len, skr,
			                                        NULL, 0, &rcv),
			                 VL_OK);
			assert_int_equal(vl_hpke_ctx_open(rcv, NULL, 0, ct, 21, pt), VL_OK);
			assert_memory_equal(pt, "hello", 5);
			vl_hpke_ctx_free(rcv);
			vl_hpke_ctx_free(snd);

			/* The receiver with a wrong sender key or PSK derives
			 * other keys. */
			if (auth) {
				mr.pk_s = other_pk;
				assert_int_equal(vl_hpke_setup_receiver(&alg, &mr, enc,
				                                        s->kem_pub_len, skr, NULL,
				                                        0, &rcv),
				                 VL_OK);
				assert_int_equal(vl_hpke_ctx_open(rcv, NULL, 0, ct, 21, pt),
				                 VL_ERR_CRYPTO);
				vl_hpke_ctx_free(rcv);
				mr.pk_s = pks;
			}
			if (use_psk) {
				mr.psk_id = (const uint8_t *)"iD";
				assert_int_equal(vl_hpke_setup_receiver(&alg, &mr, enc,
				                                        s->kem_pub_len, skr, NULL,
				                                        0, &rcv),
				                 VL_OK);
				assert_int_equal(vl_hpke_ctx_open(rcv, NULL, 0, ct, 21, pt),
				                 VL_ERR_CRYPTO);
				vl_hpke_ctx_free(rcv);
			}
		}

		/* §5.1 VerifyPSKInputs and the auth inputs. */
		uint8_t enc[65];
		struct vl_hpke_ctx *c = (void *)1;
		struct vl_hpke_mode_args bad[] = {
		    {.mode = VL_HPKE_MODE_PSK},                                 /* no psk */
		    {.mode = VL_HPKE_MODE_PSK, .psk = psk, .psk_len = 32},      /* no id */
		    {.mode = VL_HPKE_MODE_PSK, .psk_id = psk, .psk_id_len = 3}, /* no psk */
		    {.mode = VL_HPKE_MODE_BASE,
		     .psk = psk,
		     .psk_len = 32, /* unwanted */
		     .psk_id = psk,
		     .psk_id_len = 2},
		    {.mode = VL_HPKE_MODE_AUTH,
		     .psk = psk,
		     .psk_len = 32, /* unwanted */
		     .psk_id = psk,
		     .psk_id_len = 2,
		     .sk_s = sks},
		    {.mode = VL_HPKE_MODE_PSK,
		     .psk = psk,
		     .psk_len = 31, /* short */
		     .psk_id = psk,
		     .psk_id_len = 2},
		    {.mode = VL_HPKE_MODE_AUTH}, /* no sk_s */
		    {.mode = VL_HPKE_MODE_AUTH_PSK,
		     .psk = psk,
		     .psk_len = 32, /* no sk_s */
		     .psk_id = psk,
		     .psk_id_len = 2},
		    {.mode = (enum vl_hpke_mode)4},
		};
		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			assert_int_equal(vl_hpke_setup_sender(&alg, &bad[i], pkr, s->kem_pub_len,
			                                      NULL, 0, NULL, 0, enc, &c),
			                 VL_ERR_ARG);
			assert_null(c);
		}
		struct vl_hpke_mode_args no_pks = {.mode = VL_HPKE_MODE_AUTH};
		assert_int_equal(
		    vl_hpke_setup_receiver(&alg, &no_pks, pkr, s->kem_pub_len, skr, NULL, 0, &c),
		    VL_ERR_ARG);
	}
}

static void test_hpke_export_only_and_unsupported(void **state)
{
	(void)state;
	const struct vl_suite *s = vl_suite_get(1);
	struct vl_hpke_alg alg = {s->kem_id, s->kdf_id, VL_HPKE_AEAD_EXPORT_ONLY};
	uint8_t sk[32], pk[32], enc[32], ct[32], e1[32], e2[32];
	assert_int_equal(vl_kem_generate(s, sk, pk), VL_OK);
	struct vl_hpke_ctx *snd, *rcv;
	assert_int_equal(vl_hpke_setup_sender(&alg, NULL, pk, 32, "i", 1, NULL, 0, enc, &snd),
	                 VL_OK);
	assert_int_equal(vl_hpke_setup_receiver(&alg, NULL, enc, 32, sk, "i", 1, &rcv), VL_OK);
	assert_int_equal(vl_hpke_ctx_seal(snd, NULL, 0, "x", 1, ct), VL_ERR_UNSUPPORTED);
	assert_int_equal(vl_hpke_ctx_open(rcv, NULL, 0, ct, 17, ct), VL_ERR_UNSUPPORTED);
	assert_int_equal(vl_hpke_ctx_export(snd, "c", 1, e1, 32), VL_OK);
	assert_int_equal(vl_hpke_ctx_export(rcv, "c", 1, e2, 32), VL_OK);
	assert_memory_equal(e1, e2, 32);
	vl_hpke_ctx_free(snd);
	vl_hpke_ctx_free(rcv);

	struct vl_hpke_alg unknown[] = {
	    {0x0011, 1, 1}, /* P-384 */
	    {0x0020, 2, 1}, /* HKDF-SHA384 */
	    {0x0020, 1, 2}, /* AES-256-GCM */
	};
	for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
		assert_int_equal(
		    vl_hpke_setup_sender(&unknown[i], NULL, pk, 32, NULL, 0, NULL, 0, enc, &snd),
		    VL_ERR_UNSUPPORTED);
}

static void test_hpke_single_shot(void **state)
{
	(void)state;
	for (size_t si = 0; si < N_SUITES; si++) {
		const struct vl_suite *s = vl_suite_get(suite_ids[si]);
		uint8_t sk[32], pk[65], enc[65], ct[116], pt[100], back[100];
		assert_int_equal(vl_kem_generate(s, sk, pk), VL_OK);
		assert_int_equal(vl_random(pt, sizeof pt), VL_OK);
		const size_t n = s->kem_pub_len;
		assert_int_equal(vl_hpke_seal(s, pk, n, "info", 4, "aad", 3, pt, 100, enc, ct),
		                 VL_OK);
		assert_int_equal(vl_hpke_open(s, sk, enc, n, "info", 4, "aad", 3, ct, 116, back),
		                 VL_OK);
		assert_memory_equal(pt, back, 100);
		/* Tampered enc, ct, info; wrong key. */
		enc[n - 1] ^= 1;
		memset(back, 0x55, sizeof back);
		assert_int_equal(vl_hpke_open(s, sk, enc, n, "info", 4, "aad", 3, ct, 116, back),
		                 VL_ERR_CRYPTO);
		assert_true(all_zero(back, sizeof back));
		enc[n - 1] ^= 1;
		ct[7] ^= 1;
		assert_int_equal(vl_hpke_open(s, sk, enc, n, "info", 4, "aad", 3, ct, 116, back),
		                 VL_ERR_CRYPTO);
		ct[7] ^= 1;
		assert_int_equal(vl_hpke_open(s, sk, enc, n, "infO", 4, "aad", 3, ct, 116, back),
		                 VL_ERR_CRYPTO);
		uint8_t sk2[32], pk2[65];
		assert_int_equal(vl_kem_generate(s, sk2, pk2), VL_OK);
		assert_int_equal(vl_hpke_open(s, sk2, enc, n, "info", 4, "aad", 3, ct, 116, back),
		                 VL_ERR_CRYPTO);
		/* Two seals to the same key differ (fresh ephemeral keys). */
		uint8_t enc2[65], ct2[116];
		assert_int_equal(vl_hpke_seal(s, pk, n, "info", 4, "aad", 3, pt, 100, enc2, ct2),
		                 VL_OK);
		assert_memory_not_equal(enc, enc2, n);
	}
}

static void test_mls_helpers(void **state)
{
	(void)state;
	for (size_t si = 0; si < N_SUITES; si++) {
		const struct vl_suite *s = vl_suite_get(suite_ids[si]);
		uint8_t priv[32], pub[65], sig[VL_SIG_MAX];
		size_t sig_len;
		/* Content larger than any stack buffer inside. */
		size_t big = 70000;
		uint8_t *content = malloc(big), *ct = malloc(big + 16), *pt = malloc(big);
		assert_non_null(content);
		assert_non_null(ct);
		assert_non_null(pt);
		assert_int_equal(vl_random(content, big), VL_OK);

		assert_int_equal(vl_sig_generate(s, priv, pub), VL_OK);
		const size_t pl = s->sig_pub_len;
		assert_int_equal(
		    vl_mls_sign_with_label(s, priv, "LeafNodeTBS", content, big, sig, &sig_len),
		    VL_OK);
		assert_int_equal(
		    vl_mls_verify_with_label(s, pub, pl, "LeafNodeTBS", content, big, sig, sig_len),
		    VL_OK);
		assert_int_equal(
		    vl_mls_verify_with_label(s, pub, pl, "LeafNodeTBs", content, big, sig, sig_len),
		    VL_ERR_CRYPTO);
		assert_int_equal(vl_mls_verify_with_label(s, pub, pl, "LeafNodeTBS", content,
		                                          big - 1, sig, sig_len),
		                 VL_ERR_CRYPTO);
		/* SignWithLabel is not a plain signature of the content. */
		assert_int_equal(vl_verify(s, pub, pl, content, big, sig, sig_len), VL_ERR_CRYPTO);
		struct vl_sig_key *k;
		assert_int_equal(vl_sig_key_from_private(s, priv, &k), VL_OK);
		assert_int_equal(
		    vl_mls_verify_with_label_key(k, "LeafNodeTBS", content, big, sig, sig_len),
		    VL_OK);
		assert_int_equal(vl_mls_sign_with_label_key(k, "X", "", 0, sig, &sig_len), VL_OK);
		assert_int_equal(vl_mls_verify_with_label(s, pub, pl, "X", NULL, 0, sig, sig_len),
		                 VL_OK);
		vl_sig_key_free(k);

		uint8_t ksk[32], kpk[65], kem_out[65];
		const size_t kn = s->kem_pub_len;
		assert_int_equal(vl_kem_generate(s, ksk, kpk), VL_OK);
		/* A context larger than the internal stack buffer. */
		assert_int_equal(vl_mls_encrypt_with_label(s, kpk, kn, "Welcome", content, 1000,
		                                           content, big, kem_out, ct),
		                 VL_OK);
		assert_int_equal(vl_mls_decrypt_with_label(s, ksk, "Welcome", content, 1000,
		                                           kem_out, kn, ct, big + 16, pt),
		                 VL_OK);
		assert_memory_equal(pt, content, big);
		assert_int_equal(vl_mls_decrypt_with_label(s, ksk, "Welcomf", content, 1000,
		                                           kem_out, kn, ct, big + 16, pt),
		                 VL_ERR_CRYPTO);
		assert_int_equal(vl_mls_decrypt_with_label(s, ksk, "Welcome", content, 999, kem_out,
		                                           kn, ct, big + 16, pt),
		                 VL_ERR_CRYPTO);
		kem_out[1] ^= 1;
		assert_int_equal(vl_mls_decrypt_with_label(s, ksk, "Welcome", content, 1000,
		                                           kem_out, kn, ct, big + 16, pt),
		                 VL_ERR_CRYPTO);

		/* Derivations differ by label, generation and length prefix. */
		uint8_t secret[32], a[VL_HASH_MAX], b[VL_HASH_MAX];
		memset(secret, 1, 32);
		assert_int_equal(vl_mls_derive_tree_secret(s, secret, "key", 0, a, 16), VL_OK);
		assert_int_equal(vl_mls_derive_tree_secret(s, secret, "key", 1, b, 16), VL_OK);
		assert_memory_not_equal(a, b, 16);
		assert_int_equal(
		    vl_mls_expand_with_label(s, secret, 32, "key", "\0\0\0\0", 4, b, 16), VL_OK);
		assert_memory_equal(a, b, 16);
		assert_int_equal(
		    vl_mls_expand_with_label(s, secret, 32, "key", "\0\0\0\0", 4, b, 17), VL_OK);
		assert_memory_not_equal(a, b, 16); /* the length is in the label */
		assert_int_equal(vl_mls_key_package_ref(s, "x", 1, a), VL_OK);
		assert_int_equal(vl_mls_proposal_ref(s, "x", 1, b), VL_OK);
		assert_memory_not_equal(a, b, s->hash_len);
		free(content);
		free(ct);
		free(pt);
	}
}

/* Loaded keys are read-only and shared between threads. */
struct shared {
	const struct vl_suite *s;
	struct vl_kem_key *kem;
	struct vl_sig_key *sig;
	uint8_t kem_pub[65], enc[65], ct[48];
};

static void *worker(void *arg)
{
	struct shared *sh = arg;
	int bad = 0;
	for (int i = 0; i < 40; i++) {
		uint8_t pt[32], enc[65], ct[48], sig[VL_SIG_MAX];
		size_t sig_len;
		bad += vl_hpke_open_key(sh->s, sh->kem, sh->enc, sh->s->kem_pub_len, NULL, 0, NULL,
		                        0, sh->ct, sizeof sh->ct, pt) != VL_OK;
		bad += memcmp(pt, "thirty-two bytes of plaintext...", 32) != 0;
		bad += vl_hpke_seal(sh->s, sh->kem_pub, sh->s->kem_pub_len, NULL, 0, NULL, 0, pt,
		                    32, enc, ct) != VL_OK;
		bad += vl_sig_key_sign(sh->sig, pt, 32, sig, &sig_len) != VL_OK;
		bad += vl_sig_key_verify(sh->sig, pt, 32, sig, sig_len) != VL_OK;
	}
	return (void *)(intptr_t)bad;
}

static void test_shared_keys_threads(void **state)
{
	(void)state;
	for (size_t si = 0; si < N_SUITES; si++) {
		struct shared sh = {.s = vl_suite_get(suite_ids[si])};
		uint8_t sk[32], sig_sk[32], sig_pk[65];
		assert_int_equal(vl_kem_generate(sh.s, sk, sh.kem_pub), VL_OK);
		assert_int_equal(vl_kem_key_from_private(sh.s, sk, &sh.kem), VL_OK);
		assert_int_equal(vl_sig_generate(sh.s, sig_sk, sig_pk), VL_OK);
		assert_int_equal(vl_sig_key_from_private(sh.s, sig_sk, &sh.sig), VL_OK);
		assert_int_equal(vl_hpke_seal(sh.s, sh.kem_pub, sh.s->kem_pub_len, NULL, 0, NULL, 0,
		                              "thirty-two bytes of plaintext...", 32, sh.enc,
		                              sh.ct),
		                 VL_OK);
		pthread_t t[4];
		for (int i = 0; i < 4; i++)
			assert_int_equal(pthread_create(&t[i], NULL, worker, &sh), 0);
		for (int i = 0; i < 4; i++) {
			void *bad;
			assert_int_equal(pthread_join(t[i], &bad), 0);
			assert_int_equal((intptr_t)bad, 0);
		}
		vl_kem_key_free(sh.kem);
		vl_sig_key_free(sh.sig);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_suite_table),
	    cmocka_unit_test(test_wipe_and_ct_equal),
	    cmocka_unit_test(test_random),
	    cmocka_unit_test(test_hash_incremental),
	    cmocka_unit_test(test_hmac_key_sizes),
	    cmocka_unit_test(test_hkdf_limits),
	    cmocka_unit_test(test_aead),
	    cmocka_unit_test(test_signatures),
	    cmocka_unit_test(test_p256_invalid_keys),
	    cmocka_unit_test(test_x25519_small_order),
	    cmocka_unit_test(test_kem_derive),
	    cmocka_unit_test(test_hpke_sequence),
	    cmocka_unit_test(test_hpke_modes),
	    cmocka_unit_test(test_hpke_export_only_and_unsupported),
	    cmocka_unit_test(test_hpke_single_shot),
	    cmocka_unit_test(test_mls_helpers),
	    cmocka_unit_test(test_shared_keys_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
