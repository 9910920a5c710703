/* SPDX-License-Identifier: Apache-2.0 */
/*
 * valise-selfcheck: a quick known-answer and round-trip check of every
 * primitive of each supported cipher suite, on the OpenSSL this binary
 * runs against. The known answers are the published examples of the
 * primitives' own standards (FIPS 180-4, RFC 4231, RFC 5869, the GCM
 * specification, RFC 8439, RFC 7748, RFC 8032, the P-256 generator).
 * Prints one line per suite; exits 1 if any check fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "crypto/crypto_int.h"

struct run {
	unsigned checks, failed;
	char first_failure[64];
};

static void check(struct run *r, bool ok, const char *what)
{
	r->checks++;
	if (!ok && !r->failed++)
		snprintf(r->first_failure, sizeof r->first_failure, "%s", what);
}

/* Hex to bytes; the strings here are constants and well formed. */
static size_t unhex(const char *h, uint8_t *out)
{
	size_t n = strlen(h) / 2;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(h + 2 * i, "%2x", &v) != 1)
			return 0;
		out[i] = (uint8_t)v;
	}
	return n;
}

static bool eq_hex(const uint8_t *got, const char *want)
{
	uint8_t buf[256];
	size_t n = unhex(want, buf);
	return n && memcmp(got, buf, n) == 0;
}

static void check_symmetric(struct run *r, const struct vl_suite *s)
{
	uint8_t out[VL_HASH_MAX], buf[160], key[32], nonce[12];

	/* FIPS 180-4 example: SHA-256("abc"). */
	check(r,
	      vl_hash(s, "abc", 3, out) == VL_OK &&
	          eq_hex(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
	      "hash");
	struct vl_hash_ctx *hc;
	bool ok = vl_hash_ctx_new(s, &hc) == VL_OK;
	ok = ok && vl_hash_ctx_update(hc, "a", 1) == VL_OK &&
	     vl_hash_ctx_update(hc, "bc", 2) == VL_OK && vl_hash_ctx_final(hc, out) == VL_OK &&
	     eq_hex(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	vl_hash_ctx_free(hc);
	check(r, ok, "incremental hash");

	/* RFC 4231 test case 2. */
	const char *data = "what do ya want for nothing?";
	check(r,
	      vl_hmac(s, "Jefe", 4, data, strlen(data), out) == VL_OK &&
	          eq_hex(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
	      "hmac");

	/* RFC 5869 test case 1. */
	uint8_t ikm[22], salt[13], info[10], okm[42];
	memset(ikm, 0x0b, sizeof ikm);
	for (int i = 0; i < 13; i++)
		salt[i] = (uint8_t)i;
	for (int i = 0; i < 10; i++)
		info[i] = (uint8_t)(0xf0 + i);
	check(r,
	      vl_hkdf_extract(s, salt, sizeof salt, ikm, sizeof ikm, out) == VL_OK &&
	          eq_hex(out, "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5") &&
	          vl_hkdf_expand(s, out, 32, info, sizeof info, okm, sizeof okm) == VL_OK &&
	          eq_hex(okm, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf3400"
	                      "7208d5b887185865"),
	      "hkdf");

	if (s->aead_id == VL_HPKE_AEAD_AES128GCM) {
		/* GCM specification, test case 2: zero key and nonce, one
		 * zero block. */
		memset(key, 0, sizeof key);
		memset(nonce, 0, sizeof nonce);
		memset(buf, 0, 16);
		check(
		    r,
		    vl_aead_seal(s, key, nonce, NULL, 0, buf, 16, buf) == VL_OK &&
		        eq_hex(buf,
		               "0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf"),
		    "aead known answer");
	} else {
		/* RFC 8439 §2.8.2: the tag covers the whole ciphertext. */
		const char *pt = "Ladies and Gentlemen of the class of '99: If I could offer you "
		                 "only one tip for the future, sunscreen would be it.";
		size_t n = strlen(pt);
		uint8_t aad[12];
		for (int i = 0; i < 32; i++)
			key[i] = (uint8_t)(0x80 + i);
		unhex("070000004041424344454647", nonce);
		unhex("50515253c0c1c2c3c4c5c6c7", aad);
		check(r,
		      n + VL_AEAD_TAG_LEN <= sizeof buf &&
		          vl_aead_seal(s, key, nonce, aad, sizeof aad, pt, n, buf) == VL_OK &&
		          eq_hex(buf + n, "1ae10b594f09e26a7e902ecbd0600691"),
		      "aead known answer");
	}
	/* Round trip and tamper detection. */
	uint8_t msg[40] = "the diplomatic bag may not be opened", ct[56], back[40];
	check(r,
	      vl_random(key, sizeof key) == VL_OK && vl_random(nonce, sizeof nonce) == VL_OK &&
	          vl_aead_seal(s, key, nonce, "ad", 2, msg, sizeof msg, ct) == VL_OK &&
	          vl_aead_open(s, key, nonce, "ad", 2, ct, sizeof ct, back) == VL_OK &&
	          memcmp(back, msg, sizeof msg) == 0,
	      "aead round trip");
	ct[3] ^= 1;
	check(r, vl_aead_open(s, key, nonce, "ad", 2, ct, sizeof ct, back) == VL_ERR_CRYPTO,
	      "aead tamper");
}

static void check_kem(struct run *r, const struct vl_suite *s)
{
	const struct vlcrypto_kem *k = vlcrypto_kem_get(s->kem_id);
	uint8_t sk[32], pk[65], sk2[32], pk2[65];
	if (s->kem_id == VL_HPKE_KEM_X25519_SHA256) {
		/* RFC 7748 §6.1. */
		uint8_t bob[32], dh[32];
		EVP_PKEY *a = NULL, *b = NULL;
		unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", sk);
		unhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f", bob);
		check(
		    r,
		    vl_kem_public_from_private(s, sk, pk) == VL_OK &&
		        eq_hex(
		            pk,
		            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a") &&
		        vlcrypto_kem_load_private(k, sk, &a, NULL) == VL_OK &&
		        vlcrypto_kem_load_public(k, bob, 32, &b) == VL_OK &&
		        vlcrypto_kem_dh(k, a, b, dh) == VL_OK &&
		        eq_hex(dh,
		               "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"),
		    "x25519 known answer");
		EVP_PKEY_free(a);
		EVP_PKEY_free(b);
	} else {
		/* The scalar 1 gives the generator. */
		memset(sk, 0, 32);
		sk[31] = 1;
		check(
		    r,
		    vl_kem_public_from_private(s, sk, pk) == VL_OK &&
		        eq_hex(pk,
		               "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
		               "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"),
		    "p256 known answer");
		memset(sk, 0, 32);
		check(r, vl_kem_public_from_private(s, sk, pk) == VL_ERR_CRYPTO,
		      "p256 zero scalar");
		pk[64] ^= 1;
		check(r, vl_kem_check_public(s, pk, 65) == VL_ERR_CRYPTO, "p256 off-curve point");
	}
	check(r,
	      vl_kem_derive_keypair(s, "0123456789abcdef0123456789abcdef", 32, sk, pk) == VL_OK &&
	          vl_kem_derive_keypair(s, "0123456789abcdef0123456789abcdef", 32, sk2, pk2) ==
	              VL_OK &&
	          memcmp(sk, sk2, 32) == 0 && memcmp(pk, pk2, s->kem_pub_len) == 0 &&
	          vl_kem_public_from_private(s, sk, pk2) == VL_OK &&
	          memcmp(pk, pk2, s->kem_pub_len) == 0,
	      "kem derive");

	/* HPKE single shot and EncryptWithLabel round trips. */
	uint8_t enc[65], ct[64], pt[48];
	const char *msg = "a welcome for the new attache";
	size_t n = strlen(msg);
	check(r,
	      vl_kem_generate(s, sk, pk) == VL_OK &&
	          vl_hpke_seal(s, pk, s->kem_pub_len, "info", 4, "aad", 3, msg, n, enc, ct) ==
	              VL_OK &&
	          vl_hpke_open(s, sk, enc, s->kem_pub_len, "info", 4, "aad", 3, ct, n + 16, pt) ==
	              VL_OK &&
	          memcmp(pt, msg, n) == 0,
	      "hpke round trip");
	check(r,
	      vl_hpke_open(s, sk, enc, s->kem_pub_len, "infx", 4, "aad", 3, ct, n + 16, pt) ==
	          VL_ERR_CRYPTO,
	      "hpke wrong info");
	check(r,
	      vl_mls_encrypt_with_label(s, pk, s->kem_pub_len, "UpdatePathNode", "ctx", 3, msg, n,
	                                enc, ct) == VL_OK &&
	          vl_mls_decrypt_with_label(s, sk, "UpdatePathNode", "ctx", 3, enc, s->kem_pub_len,
	                                    ct, n + 16, pt) == VL_OK &&
	          memcmp(pt, msg, n) == 0,
	      "encrypt_with_label round trip");
}

static void check_sig(struct run *r, const struct vl_suite *s)
{
	uint8_t sk[32], pk[65], sig[VL_SIG_MAX];
	size_t sig_len;
	if (s->sig_alg == VL_SIG_ED25519) {
		/* RFC 8032 §7.1, test 1 (empty message). */
		unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", sk);
		check(
		    r,
		    vl_sig_public_from_private(s, sk, pk) == VL_OK &&
		        eq_hex(
		            pk,
		            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a") &&
		        vl_sign(s, sk, "", 0, sig, &sig_len) == VL_OK && sig_len == 64 &&
		        eq_hex(sig,
		               "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
		               "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
		    "ed25519 known answer");
	}
	const char *msg = "communique";
	check(r,
	      vl_sig_generate(s, sk, pk) == VL_OK &&
	          vl_sign(s, sk, msg, strlen(msg), sig, &sig_len) == VL_OK &&
	          vl_verify(s, pk, s->sig_pub_len, msg, strlen(msg), sig, sig_len) == VL_OK,
	      "signature round trip");
	sig[sig_len - 1] ^= 1;
	check(r, vl_verify(s, pk, s->sig_pub_len, msg, strlen(msg), sig, sig_len) == VL_ERR_CRYPTO,
	      "signature tamper");
	check(r,
	      vl_mls_sign_with_label(s, sk, "LeafNodeTBS", msg, strlen(msg), sig, &sig_len) ==
	              VL_OK &&
	          vl_mls_verify_with_label(s, pk, s->sig_pub_len, "LeafNodeTBS", msg, strlen(msg),
	                                   sig, sig_len) == VL_OK &&
	          vl_mls_verify_with_label(s, pk, s->sig_pub_len, "GroupInfoTBS", msg, strlen(msg),
	                                   sig, sig_len) == VL_ERR_CRYPTO,
	      "sign_with_label");
}

static void check_mls(struct run *r, const struct vl_suite *s)
{
	uint8_t secret[32], a[VL_HASH_MAX], b[VL_HASH_MAX];
	memset(secret, 0x5a, sizeof secret);
	check(r,
	      vl_mls_derive_secret(s, secret, "epoch", a) == VL_OK &&
	          vl_mls_expand_with_label(s, secret, 32, "epoch", "", 0, b, 32) == VL_OK &&
	          memcmp(a, b, 32) == 0,
	      "derive_secret");
	check(r,
	      vl_mls_derive_tree_secret(s, secret, "key", 7, a, 16) == VL_OK &&
	          vl_mls_expand_with_label(s, secret, 32, "key", "\0\0\0\7", 4, b, 16) == VL_OK &&
	          memcmp(a, b, 16) == 0,
	      "derive_tree_secret");
	check(r,
	      vl_mls_key_package_ref(s, "kp", 2, a) == VL_OK &&
	          vl_mls_ref_hash(s, "MLS 1.0 KeyPackage Reference", "kp", 2, b) == VL_OK &&
	          memcmp(a, b, 32) == 0,
	      "ref_hash");
}

int main(void)
{
	static const uint16_t ids[] = {1, 2, 3};
	unsigned bad = 0;
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		const struct vl_suite *s = vl_suite_get(ids[i]);
		struct run r = {0};
		check_symmetric(&r, s);
		check_kem(&r, s);
		check_sig(&r, s);
		check_mls(&r, s);
		if (r.failed)
			printf("suite 0x%04x %s: FAILED %u of %u checks (first: %s)\n", s->id,
			       s->name, r.failed, r.checks, r.first_failure);
		else
			printf("suite 0x%04x %s: ok (%u checks)\n", s->id, s->name, r.checks);
		bad += r.failed;
	}
	return bad ? 1 : 0;
}
