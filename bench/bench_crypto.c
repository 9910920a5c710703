/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_crypto: the cost of the provider against the same operations done
 * directly on OpenSSL, in the same run, per cipher suite: HPKE base-mode
 * single-shot seal and open of 100 bytes, signing and verifying 100 bytes,
 * and AEAD sealing at 100 B, 1 KiB and 64 KiB.
 *
 * The direct versions are what a careful OpenSSL user would write: keys
 * pre-loaded as EVP_PKEY objects, algorithms fetched once, contexts reused
 * where OpenSSL allows it. They take the same inputs per operation as the
 * provider's call (raw key bytes where the call takes raw bytes are
 * "ours, raw key"; loaded keys for "ours, loaded key"), so the ratio shows
 * the overhead of the interface. This file is the one place outside
 * src/crypto that calls OpenSSL primitives, on purpose, as the baseline.
 *
 * Each measurement alternates ours and direct in short slices and keeps the
 * best rate of each, to damp the noise of a shared machine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "crypto/crypto.h"

#define SLICE_SEC 0.05
#define SLICES    8

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef int (*bench_fn)(void *arg);

/* Operations per second of fn over one slice. */
static double rate(bench_fn fn, void *arg)
{
	unsigned long n = 0, batch = 1;
	double start = now(), t;
	do {
		for (unsigned long i = 0; i < batch; i++)
			if (fn(arg) != 0) {
				fprintf(stderr, "bench_crypto: operation failed\n");
				exit(1);
			}
		n += batch;
		if (batch < 64)
			batch *= 2;
		t = now() - start;
	} while (t < SLICE_SEC);
	return (double)n / t;
}

static void measure(bench_fn ours, void *ours_arg, bench_fn direct, void *direct_arg,
                    double *r_ours, double *r_direct)
{
	*r_ours = *r_direct = 0;
	for (int i = 0; i < SLICES; i++) {
		double a = rate(ours, ours_arg), b = rate(direct, direct_arg);
		if (a > *r_ours)
			*r_ours = a;
		if (b > *r_direct)
			*r_direct = b;
	}
}

/* --- Fixture ----------------------------------------------------------- */

struct fixture {
	const struct vl_suite *s;
	/* provider side */
	uint8_t kem_sk[32], kem_pk[65], sig_sk[32], sig_pk[65];
	struct vl_sig_key *sig_key, *sig_pub_key;
	struct vl_kem_key *kem_key;
	uint8_t enc[65], hpke_ct[116], sig[VL_SIG_MAX];
	size_t sig_len;
	/* direct side */
	EVP_PKEY *kem_skey, *sig_skey, *sig_pkey;
	EVP_PKEY_CTX *keygen;
	EVP_MAC_CTX *hmac;
	const EVP_CIPHER *cipher;
	EVP_MD *sha256;
	EVP_CIPHER_CTX *cctx;
	EVP_MD_CTX *mdctx;
	/* shared inputs */
	uint8_t msg[65536], out[65536 + 16], key[32], nonce[12];
	size_t aead_len;
};

static int export_kem_keys(struct fixture *f, EVP_PKEY *k)
{
	size_t len = 0;
	if (f->s->kem_id == VL_HPKE_KEM_X25519_SHA256) {
		len = 32;
		if (!EVP_PKEY_get_raw_private_key(k, f->kem_sk, &len))
			return -1;
		len = 32;
		return EVP_PKEY_get_raw_public_key(k, f->kem_pk, &len) ? 0 : -1;
	}
	BIGNUM *d = NULL;
	int ok = EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &d) &&
	         BN_bn2binpad(d, f->kem_sk, 32) == 32 &&
	         EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, f->kem_pk,
	                                         65, &len) &&
	         len == 65;
	BN_clear_free(d);
	return ok ? 0 : -1;
}

static EVP_PKEY_CTX *keygen_ctx(const struct vl_suite *s)
{
	bool x = s->kem_id == VL_HPKE_KEM_X25519_SHA256;
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, x ? "X25519" : "EC", NULL);
	if (!c || EVP_PKEY_keygen_init(c) <= 0 ||
	    (!x && EVP_PKEY_CTX_set_group_name(c, "P-256") <= 0)) {
		EVP_PKEY_CTX_free(c);
		return NULL;
	}
	return c;
}

static int fixture_init(struct fixture *f, const struct vl_suite *s)
{
	memset(f, 0, sizeof *f);
	f->s = s;
	f->keygen = keygen_ctx(s);
	f->sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
	f->cipher = EVP_CIPHER_fetch(
	    NULL, s->aead_id == VL_HPKE_AEAD_AES128GCM ? "AES-128-GCM" : "ChaCha20-Poly1305", NULL);
	f->cctx = EVP_CIPHER_CTX_new();
	f->mdctx = EVP_MD_CTX_new();
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	f->hmac = mac ? EVP_MAC_CTX_new(mac) : NULL;
	EVP_MAC_free(mac);
	OSSL_PARAM p[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA2-256", 0),
	                  OSSL_PARAM_construct_end()};
	if (!f->keygen || !f->sha256 || !f->cipher || !f->cctx || !f->mdctx || !f->hmac ||
	    !EVP_MAC_CTX_set_params(f->hmac, p))
		return -1;
	/* The recipient's KEM key, as EVP_PKEY for the direct side and raw
	 * bytes for ours. */
	if (EVP_PKEY_keygen(f->keygen, &f->kem_skey) <= 0 || export_kem_keys(f, f->kem_skey))
		return -1;
	if (vl_kem_key_from_private(s, f->kem_sk, &f->kem_key) != VL_OK)
		return -1;
	if (vl_sig_generate(s, f->sig_sk, f->sig_pk) != VL_OK ||
	    vl_sig_key_from_private(s, f->sig_sk, &f->sig_key) != VL_OK ||
	    vl_sig_key_from_public(s, f->sig_pk, s->sig_pub_len, &f->sig_pub_key) != VL_OK)
		return -1;
	if (s->sig_alg == VL_SIG_ED25519) {
		f->sig_skey = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, f->sig_sk, 32);
		f->sig_pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, f->sig_pk, 32);
	} else {
		EVP_PKEY_CTX *kg = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		if (!kg || EVP_PKEY_keygen_init(kg) <= 0 ||
		    EVP_PKEY_CTX_set_group_name(kg, "P-256") <= 0 ||
		    EVP_PKEY_keygen(kg, &f->sig_skey) <= 0) {
			EVP_PKEY_CTX_free(kg);
			return -1;
		}
		EVP_PKEY_CTX_free(kg);
		f->sig_pkey = f->sig_skey;
		EVP_PKEY_up_ref(f->sig_pkey);
	}
	if (!f->sig_skey || !f->sig_pkey)
		return -1;
	for (size_t i = 0; i < sizeof f->msg; i++)
		f->msg[i] = (uint8_t)(i * 31);
	if (vl_random(f->key, sizeof f->key) || vl_random(f->nonce, sizeof f->nonce))
		return -1;
	/* Inputs of the open and verify measurements. */
	if (vl_hpke_seal(s, f->kem_pk, s->kem_pub_len, "info", 4, NULL, 0, f->msg, 100, f->enc,
	                 f->hpke_ct) != VL_OK ||
	    vl_sign(s, f->sig_sk, f->msg, 100, f->sig, &f->sig_len) != VL_OK)
		return -1;
	return 0;
}

static void fixture_cleanup(struct fixture *f)
{
	vl_sig_key_free(f->sig_key);
	vl_sig_key_free(f->sig_pub_key);
	vl_kem_key_free(f->kem_key);
	EVP_PKEY_free(f->kem_skey);
	EVP_PKEY_free(f->sig_skey);
	EVP_PKEY_free(f->sig_pkey);
	EVP_PKEY_CTX_free(f->keygen);
	EVP_MAC_CTX_free(f->hmac);
	EVP_CIPHER_free((EVP_CIPHER *)f->cipher);
	EVP_MD_free(f->sha256);
	EVP_CIPHER_CTX_free(f->cctx);
	EVP_MD_CTX_free(f->mdctx);
}

/* --- Direct HPKE (RFC 9180 base mode, single shot) ----------------------- */

struct piece {
	const void *p;
	size_t len;
};

static int d_hmac(struct fixture *f, const void *key, size_t key_len, const struct piece *parts,
                  size_t n, uint8_t *out)
{
	static const uint8_t empty[1];
	EVP_MAC_CTX *c = EVP_MAC_CTX_dup(f->hmac);
	size_t len;
	int ok = c && EVP_MAC_init(c, key_len ? key : empty, key_len, NULL);
	for (size_t i = 0; ok && i < n; i++)
		ok = EVP_MAC_update(c, parts[i].p, parts[i].len);
	ok = ok && EVP_MAC_final(c, out, &len, 32);
	EVP_MAC_CTX_free(c);
	return ok ? 0 : -1;
}

static int d_extract(struct fixture *f, const uint8_t *sid, size_t sid_len, const void *salt,
                     size_t salt_len, const char *label, const void *ikm, size_t ikm_len,
                     uint8_t *out)
{
	struct piece p[] = {{"HPKE-v1", 7}, {sid, sid_len}, {label, strlen(label)}, {ikm, ikm_len}};
	return d_hmac(f, salt, salt_len, p, 4, out);
}

/* Single-block expand: every output here is at most 32 bytes. */
static int d_expand(struct fixture *f, const uint8_t *sid, size_t sid_len, const uint8_t *prk,
                    const char *label, const void *info, size_t info_len, uint8_t *out, size_t len)
{
	uint8_t l2[2] = {0, (uint8_t)len}, one = 1, t[32];
	struct piece p[] = {{l2, 2},          {"HPKE-v1", 7},
	                    {sid, sid_len},   {label, strlen(label)},
	                    {info, info_len}, {&one, 1}};
	if (d_hmac(f, prk, 32, p, 6, t))
		return -1;
	memcpy(out, t, len);
	return 0;
}

static int d_dh(EVP_PKEY *sk, EVP_PKEY *pk, uint8_t *out)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, sk, NULL);
	size_t len = 32;
	int ok = c && EVP_PKEY_derive_init(c) > 0 && EVP_PKEY_derive_set_peer_ex(c, pk, 0) > 0 &&
	         EVP_PKEY_derive(c, out, &len) > 0;
	EVP_PKEY_CTX_free(c);
	return ok ? 0 : -1;
}

/* From the shared secret to key and base nonce (base mode, no PSK). */
static int d_schedule(struct fixture *f, const uint8_t *ss, const char *info, uint8_t *key,
                      uint8_t *nonce)
{
	const struct vl_suite *s = f->s;
	const uint8_t sid[10] = {
	    'H', 'P', 'K', 'E', 0, (uint8_t)s->kem_id, 0, 1, 0, (uint8_t)s->aead_id};
	uint8_t ksc[65], secret[32], exp[32];
	ksc[0] = 0;
	return d_extract(f, sid, 10, "", 0, "psk_id_hash", "", 0, ksc + 1) ||
	       d_extract(f, sid, 10, "", 0, "info_hash", info, strlen(info), ksc + 33) ||
	       d_extract(f, sid, 10, ss, 32, "secret", "", 0, secret) ||
	       d_expand(f, sid, 10, secret, "key", ksc, 65, key, s->aead_key_len) ||
	       d_expand(f, sid, 10, secret, "base_nonce", ksc, 65, nonce, 12) ||
	       d_expand(f, sid, 10, secret, "exp", ksc, 65, exp, 32);
}

static int d_shared_secret(struct fixture *f, const uint8_t *dh, const uint8_t *enc,
                           const uint8_t *pkr, uint8_t *ss)
{
	size_t n = f->s->kem_pub_len;
	const uint8_t sid[5] = {'K', 'E', 'M', 0, (uint8_t)f->s->kem_id};
	uint8_t kc[130], prk[32];
	memcpy(kc, enc, n);
	memcpy(kc + n, pkr, n);
	return d_extract(f, sid, 5, "", 0, "eae_prk", dh, 32, prk) ||
	       d_expand(f, sid, 5, prk, "shared_secret", kc, 2 * n, ss, 32);
}

static int d_pub(struct fixture *f, EVP_PKEY *k, uint8_t *out)
{
	size_t len = f->s->kem_pub_len;
	if (f->s->kem_id == VL_HPKE_KEM_X25519_SHA256)
		return EVP_PKEY_get_raw_public_key(k, out, &len) ? 0 : -1;
	return EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, out, len,
	                                       &len)
	           ? 0
	           : -1;
}

static int d_aead_seal(struct fixture *f, const uint8_t *key, const uint8_t *nonce,
                       const uint8_t *pt, size_t len, uint8_t *ct)
{
	int n = 0, m = 0;
	return EVP_EncryptInit_ex2(f->cctx, f->cipher, key, nonce, NULL) &&
	               EVP_EncryptUpdate(f->cctx, ct, &n, pt, (int)len) &&
	               EVP_EncryptFinal_ex(f->cctx, ct + n, &m) &&
	               EVP_CIPHER_CTX_ctrl(f->cctx, EVP_CTRL_AEAD_GET_TAG, 16, ct + len) > 0
	           ? 0
	           : -1;
}

static int direct_hpke_seal(void *arg)
{
	struct fixture *f = arg;
	EVP_PKEY *eph = NULL;
	uint8_t enc[65], dh[32], ss[32], key[32], nonce[12];
	int rc = EVP_PKEY_keygen(f->keygen, &eph) > 0 ? 0 : -1;
	rc = rc || d_pub(f, eph, enc) || d_dh(eph, f->kem_skey, dh) ||
	     d_shared_secret(f, dh, enc, f->kem_pk, ss) || d_schedule(f, ss, "info", key, nonce) ||
	     d_aead_seal(f, key, nonce, f->msg, 100, f->out);
	EVP_PKEY_free(eph);
	return rc;
}

static int direct_hpke_open(void *arg)
{
	struct fixture *f = arg;
	const struct vl_suite *s = f->s;
	uint8_t dh[32], ss[32], key[32], nonce[12];
	EVP_PKEY *pke = NULL;
	/* enc arrives as bytes: loading it is part of the job. */
	if (s->kem_id == VL_HPKE_KEM_X25519_SHA256) {
		pke = EVP_PKEY_new_raw_public_key_ex(NULL, "X25519", NULL, f->enc, 32);
	} else {
		EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		OSSL_PARAM p[] = {
		    OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0),
		    OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, f->enc, 65),
		    OSSL_PARAM_construct_end()};
		if (!c || EVP_PKEY_fromdata_init(c) <= 0 ||
		    EVP_PKEY_fromdata(c, &pke, EVP_PKEY_PUBLIC_KEY, p) <= 0)
			pke = NULL;
		EVP_PKEY_CTX_free(c);
	}
	int n = 0, m = 0;
	int rc = !pke || d_dh(f->kem_skey, pke, dh) ||
	         d_shared_secret(f, dh, f->enc, f->kem_pk, ss) ||
	         d_schedule(f, ss, "info", key, nonce);
	rc =
	    rc || !(EVP_DecryptInit_ex2(f->cctx, f->cipher, key, nonce, NULL) &&
	            EVP_CIPHER_CTX_ctrl(f->cctx, EVP_CTRL_AEAD_SET_TAG, 16, f->hpke_ct + 100) > 0 &&
	            EVP_DecryptUpdate(f->cctx, f->out, &n, f->hpke_ct, 100) &&
	            EVP_DecryptFinal_ex(f->cctx, f->out + n, &m) > 0);
	EVP_PKEY_free(pke);
	return rc;
}

static int ours_hpke_seal(void *arg)
{
	struct fixture *f = arg;
	uint8_t enc[65];
	return vl_hpke_seal(f->s, f->kem_pk, f->s->kem_pub_len, "info", 4, NULL, 0, f->msg, 100,
	                    enc, f->out);
}

static int ours_hpke_open(void *arg)
{
	struct fixture *f = arg;
	return vl_hpke_open(f->s, f->kem_sk, f->enc, f->s->kem_pub_len, "info", 4, NULL, 0,
	                    f->hpke_ct, 116, f->out);
}

static int ours_hpke_open_key(void *arg)
{
	struct fixture *f = arg;
	return vl_hpke_open_key(f->s, f->kem_key, f->enc, f->s->kem_pub_len, "info", 4, NULL, 0,
	                        f->hpke_ct, 116, f->out);
}

/* --- Signatures ---------------------------------------------------------- */

static int ours_sign_raw(void *arg)
{
	struct fixture *f = arg;
	uint8_t sig[VL_SIG_MAX];
	size_t len;
	return vl_sign(f->s, f->sig_sk, f->msg, 100, sig, &len);
}

static int ours_sign_key(void *arg)
{
	struct fixture *f = arg;
	uint8_t sig[VL_SIG_MAX];
	size_t len;
	return vl_sig_key_sign(f->sig_key, f->msg, 100, sig, &len);
}

static int direct_sign(void *arg)
{
	struct fixture *f = arg;
	uint8_t sig[VL_SIG_MAX];
	size_t len = sizeof sig;
	bool ed = f->s->sig_alg == VL_SIG_ED25519;
	int ok = EVP_MD_CTX_reset(f->mdctx) &&
	         EVP_DigestSignInit(f->mdctx, NULL, ed ? NULL : f->sha256, NULL, f->sig_skey) > 0 &&
	         EVP_DigestSign(f->mdctx, sig, &len, f->msg, 100) > 0;
	return ok ? 0 : -1;
}

static int ours_verify_raw(void *arg)
{
	struct fixture *f = arg;
	return vl_verify(f->s, f->sig_pk, f->s->sig_pub_len, f->msg, 100, f->sig, f->sig_len);
}

static int ours_verify_key(void *arg)
{
	struct fixture *f = arg;
	return vl_sig_key_verify(f->sig_pub_key, f->msg, 100, f->sig, f->sig_len);
}

/* The direct verifier checks its own signature (made once, below). */
static uint8_t direct_sig[VL_SIG_MAX];
static size_t direct_sig_len;

static int direct_verify(void *arg)
{
	struct fixture *f = arg;
	bool ed = f->s->sig_alg == VL_SIG_ED25519;
	int ok =
	    EVP_MD_CTX_reset(f->mdctx) &&
	    EVP_DigestVerifyInit(f->mdctx, NULL, ed ? NULL : f->sha256, NULL, f->sig_pkey) > 0 &&
	    EVP_DigestVerify(f->mdctx, direct_sig, direct_sig_len, f->msg, 100) == 1;
	return ok ? 0 : -1;
}

/* --- AEAD ------------------------------------------------------------------ */

static int ours_aead(void *arg)
{
	struct fixture *f = arg;
	return vl_aead_seal(f->s, f->key, f->nonce, NULL, 0, f->msg, f->aead_len, f->out);
}

static int direct_aead(void *arg)
{
	struct fixture *f = arg;
	return d_aead_seal(f, f->key, f->nonce, f->msg, f->aead_len, f->out);
}

/* --- Table ----------------------------------------------------------------- */

static void row(const char *what, const char *unit, double ours, double direct, double scale)
{
	printf("  %-34s %12.0f %12.0f %s  %6.2f\n", what, ours * scale, direct * scale, unit,
	       direct > 0 ? ours / direct : 0.0);
}

static int bench_suite(const struct vl_suite *s)
{
	struct fixture *f = malloc(sizeof *f);
	if (!f || fixture_init(f, s)) {
		fprintf(stderr, "bench_crypto: cannot set up suite 0x%04x\n", s->id);
		if (f)
			fixture_cleanup(f);
		free(f);
		return -1;
	}
	/* The direct HPKE must interoperate with ours, or the comparison is
	 * meaningless: open a direct seal with the provider. */
	{
		EVP_PKEY *eph = NULL;
		uint8_t enc[65], dh[32], ss[32], key[32], nonce[12], ct[116], pt[100];
		int bad = EVP_PKEY_keygen(f->keygen, &eph) <= 0 || d_pub(f, eph, enc) ||
		          d_dh(eph, f->kem_skey, dh) ||
		          d_shared_secret(f, dh, enc, f->kem_pk, ss) ||
		          d_schedule(f, ss, "info", key, nonce) ||
		          d_aead_seal(f, key, nonce, f->msg, 100, ct) ||
		          vl_hpke_open(s, f->kem_sk, enc, s->kem_pub_len, "info", 4, NULL, 0, ct,
		                       116, pt) != VL_OK ||
		          memcmp(pt, f->msg, 100) != 0 || direct_hpke_open(f) != 0;
		EVP_PKEY_free(eph);
		direct_sig_len = sizeof direct_sig;
		bool ed = s->sig_alg == VL_SIG_ED25519;
		bad =
		    bad ||
		    !EVP_DigestSignInit(f->mdctx, NULL, ed ? NULL : f->sha256, NULL, f->sig_skey) ||
		    !EVP_DigestSign(f->mdctx, direct_sig, &direct_sig_len, f->msg, 100);
		if (bad) {
			fprintf(stderr,
			        "bench_crypto: direct baseline disagrees with the provider\n");
			fixture_cleanup(f);
			free(f);
			return -1;
		}
	}
	printf("\nsuite 0x%04x %s\n", s->id, s->name);
	printf("  %-34s %12s %12s %-5s  %6s\n", "operation", "ours", "direct", "unit", "ratio");
	double a, b;
	measure(ours_hpke_seal, f, direct_hpke_seal, f, &a, &b);
	row("HPKE seal, 100 B", "op/s ", a, b, 1);
	measure(ours_hpke_open, f, direct_hpke_open, f, &a, &b);
	row("HPKE open, 100 B (raw key)", "op/s ", a, b, 1);
	measure(ours_hpke_open_key, f, direct_hpke_open, f, &a, &b);
	row("HPKE open, 100 B (loaded key)", "op/s ", a, b, 1);
	measure(ours_sign_raw, f, direct_sign, f, &a, &b);
	row("sign 100 B (raw key)", "op/s ", a, b, 1);
	measure(ours_sign_key, f, direct_sign, f, &a, &b);
	row("sign 100 B (loaded key)", "op/s ", a, b, 1);
	measure(ours_verify_raw, f, direct_verify, f, &a, &b);
	row("verify 100 B (raw key)", "op/s ", a, b, 1);
	measure(ours_verify_key, f, direct_verify, f, &a, &b);
	row("verify 100 B (loaded key)", "op/s ", a, b, 1);
	static const size_t sizes[] = {100, 1024, 65536};
	for (size_t i = 0; i < 3; i++) {
		char what[64];
		f->aead_len = sizes[i];
		measure(ours_aead, f, direct_aead, f, &a, &b);
		snprintf(what, sizeof what, "AEAD seal, %zu B", sizes[i]);
		row(what, "MB/s ", a, b, (double)sizes[i] / 1e6);
	}
	fixture_cleanup(f);
	free(f);
	return 0;
}

int main(void)
{
	static const uint16_t ids[] = {1, 2, 3};
	int rc = 0;
	printf("bench_crypto: ours = src/crypto, direct = the same operation on OpenSSL EVP\n"
	       "(pre-loaded keys, algorithms fetched once); ratio = ours / direct, higher is\n"
	       "better. Best of %d slices of %.2f s each.\n",
	       SLICES, SLICE_SEC);
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
		if (bench_suite(vl_suite_get(ids[i])))
			rc = 1;
	return rc;
}
