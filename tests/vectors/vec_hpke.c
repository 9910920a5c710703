/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RFC 9180 test vectors for the HPKE algorithms of the MLS suites
 * (hpke/rfc9180-mls-suites.json format: the RFC's JSON vectors). For each
 * entry: DeriveKeyPair of every given ikm, sender and receiver setup (enc
 * and the key schedule outputs), every encryption (seal gives ct exactly,
 * open gives pt) and every export, from both sides.
 *
 * Entries are reported by the MLS suite whose KEM and AEAD they use; the
 * export-only entries on a line of their own per KEM. An entry whose
 * algorithms are not supported counts as skipped, never passed.
 *
 * Usage: vec_hpke [FILE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "crypto/crypto_int.h"
#include "testutil.h"

enum { G_S1, G_S2, G_S3, G_EXP_X25519, G_EXP_P256, G_OTHER, N_GROUPS };

static int group_of(uint64_t kem, uint64_t kdf, uint64_t aead)
{
	if (kdf != VL_HPKE_KDF_HKDF_SHA256)
		return G_OTHER;
	if (kem == VL_HPKE_KEM_X25519_SHA256 && aead == VL_HPKE_AEAD_AES128GCM)
		return G_S1;
	if (kem == VL_HPKE_KEM_P256_SHA256 && aead == VL_HPKE_AEAD_AES128GCM)
		return G_S2;
	if (kem == VL_HPKE_KEM_X25519_SHA256 && aead == VL_HPKE_AEAD_CHACHA20POLY1305)
		return G_S3;
	if (kem == VL_HPKE_KEM_X25519_SHA256 && aead == VL_HPKE_AEAD_EXPORT_ONLY)
		return G_EXP_X25519;
	if (kem == VL_HPKE_KEM_P256_SHA256 && aead == VL_HPKE_AEAD_EXPORT_ONLY)
		return G_EXP_P256;
	return G_OTHER;
}

/* Hex fields of one entry; absent ones stay NULL with length 0. */
struct field {
	const char *name;
	uint8_t *v;
	size_t len;
};

static bool eq(const uint8_t *a, size_t a_len, const struct field *f)
{
	return f->v && a_len == f->len && memcmp(a, f->v, a_len) == 0;
}

/* DeriveKeyPair(ikm) must give (sk, pk). */
static bool check_derive(const struct vl_suite *s, const struct field *ikm, const struct field *sk,
                         const struct field *pk)
{
	uint8_t priv[VL_KEM_PRIV_MAX], pub[VL_KEM_PUB_MAX];
	if (!ikm->v)
		return false;
	if (vl_kem_derive_keypair(s, ikm->v, ikm->len, priv, pub) != VL_OK)
		return false;
	return eq(priv, s->kem_priv_len, sk) && eq(pub, s->kem_pub_len, pk);
}

static void run_entry(json_t *e, size_t idx, struct tu_tally *t, uint64_t kem, uint64_t aead,
                      uint64_t mode)
{
	struct field f[] = {
	    {"info", 0, 0},   {"ikmR", 0, 0}, {"ikmE", 0, 0},       {"ikmS", 0, 0},
	    {"skRm", 0, 0},   {"skEm", 0, 0}, {"skSm", 0, 0},       {"pkRm", 0, 0},
	    {"pkEm", 0, 0},   {"pkSm", 0, 0}, {"enc", 0, 0},        {"psk", 0, 0},
	    {"psk_id", 0, 0}, {"key", 0, 0},  {"base_nonce", 0, 0}, {"exporter_secret", 0, 0},
	};
	enum {
		INFO,
		IKMR,
		IKME,
		IKMS,
		SKR,
		SKE,
		SKS,
		PKR,
		PKE,
		PKS,
		ENC,
		PSK,
		PSKID,
		KEY,
		NONCE,
		EXP
	};
	const size_t nf = sizeof f / sizeof f[0];
	for (size_t i = 0; i < nf; i++)
		f[i].v = tu_json_hex(e, f[i].name, &f[i].len);

	/* A suite-like view of the entry's KEM, for the key functions. */
	struct vl_suite s = *vl_suite_get(kem == VL_HPKE_KEM_P256_SHA256 ? 2 : 1);
	bool auth = mode == VL_HPKE_MODE_AUTH || mode == VL_HPKE_MODE_AUTH_PSK;
	bool psk = mode == VL_HPKE_MODE_PSK || mode == VL_HPKE_MODE_AUTH_PSK;
	struct vl_hpke_ctx *snd = NULL, *rcv = NULL;

	/* Case: key derivation. */
	bool ok = check_derive(&s, &f[IKMR], &f[SKR], &f[PKR]) &&
	          check_derive(&s, &f[IKME], &f[SKE], &f[PKE]) &&
	          (!auth || check_derive(&s, &f[IKMS], &f[SKS], &f[PKS]));
	if (ok)
		t->passed++;
	else
		tu_fail(t, idx, "DeriveKeyPair");

	/* Case: setup of both sides, enc and key schedule outputs. */
	struct vl_hpke_alg alg = {(uint16_t)kem, VL_HPKE_KDF_HKDF_SHA256, (uint16_t)aead};
	struct vl_hpke_mode_args ms = {
	    .mode = (enum vl_hpke_mode)mode,
	    .psk = f[PSK].v,
	    .psk_len = psk ? f[PSK].len : 0,
	    .psk_id = f[PSKID].v,
	    .psk_id_len = psk ? f[PSKID].len : 0,
	    .sk_s = auth ? f[SKS].v : NULL,
	};
	struct vl_hpke_mode_args mr = ms;
	mr.sk_s = NULL;
	mr.pk_s = auth ? f[PKS].v : NULL;
	mr.pk_s_len = auth ? f[PKS].len : 0;
	uint8_t enc[VL_KEM_PUB_MAX];
	ok = f[PKR].v && f[IKME].v && f[SKR].v && f[ENC].v && f[INFO].v &&
	     vl_hpke_setup_sender(&alg, &ms, f[PKR].v, f[PKR].len, f[INFO].v, f[INFO].len,
	                          f[IKME].v, f[IKME].len, enc, &snd) == VL_OK &&
	     eq(enc, s.kem_pub_len, &f[ENC]) &&
	     vl_hpke_setup_receiver(&alg, &mr, f[ENC].v, f[ENC].len, f[SKR].v, f[INFO].v,
	                            f[INFO].len, &rcv) == VL_OK;
	/* A receiver with the private key loaded once must agree too. */
	struct vl_kem_key *kk = NULL;
	struct vl_hpke_ctx *rcv2 = NULL;
	ok = ok && vl_kem_key_from_private(&s, f[SKR].v, &kk) == VL_OK &&
	     vl_hpke_setup_receiver_key(&alg, &mr, f[ENC].v, f[ENC].len, kk, f[INFO].v, f[INFO].len,
	                                &rcv2) == VL_OK;
	if (ok) {
		uint8_t key[VL_AEAD_KEY_MAX], nonce[VL_AEAD_NONCE_MAX], exp[VL_HASH_MAX];
		struct vl_hpke_ctx *ctxs[] = {snd, rcv, rcv2};
		for (int side = 0; side < 3 && ok; side++) {
			vlcrypto_hpke_ctx_peek(ctxs[side], key, nonce, exp);
			ok = eq(exp, 32, &f[EXP]);
			if (aead != VL_HPKE_AEAD_EXPORT_ONLY)
				ok = ok &&
				     eq(key, aead == VL_HPKE_AEAD_AES128GCM ? 16 : 32, &f[KEY]) &&
				     eq(nonce, 12, &f[NONCE]);
		}
	}
	if (ok)
		t->passed++;
	else
		tu_fail(t, idx, "setup: enc or key schedule");
	vl_hpke_ctx_free(rcv2);
	vl_kem_key_free(kk);

	/* Cases: encryptions in sequence order, then exports. */
	size_t j;
	json_t *x;
	json_array_foreach(json_object_get(e, "encryptions"), j, x)
	{
		size_t pt_len = 0, aad_len = 0, ct_len = 0;
		uint8_t *pt = tu_json_hex(x, "pt", &pt_len), *aad = tu_json_hex(x, "aad", &aad_len);
		uint8_t *ct = tu_json_hex(x, "ct", &ct_len);
		uint8_t *buf = malloc(pt_len + VL_AEAD_TAG_LEN + 1);
		bool c_ok = snd && rcv && pt && aad && ct && buf && ct_len == pt_len + 16 &&
		            vl_hpke_ctx_seal(snd, aad, aad_len, pt, pt_len, buf) == VL_OK &&
		            memcmp(buf, ct, ct_len) == 0 &&
		            vl_hpke_ctx_open(rcv, aad, aad_len, ct, ct_len, buf) == VL_OK &&
		            memcmp(buf, pt, pt_len) == 0;
		if (c_ok)
			t->passed++;
		else
			tu_fail(t, idx, "encryption");
		free(pt);
		free(aad);
		free(ct);
		free(buf);
	}
	json_array_foreach(json_object_get(e, "exports"), j, x)
	{
		size_t ctx_len = 0, want_len = 0;
		uint64_t l = 0;
		uint8_t *ctx = tu_json_hex(x, "exporter_context", &ctx_len);
		uint8_t *want = tu_json_hex(x, "exported_value", &want_len);
		uint8_t *got = malloc(want_len + 1);
		bool c_ok =
		    snd && rcv && ctx && want && got && tu_json_uint(x, "L", &l) && l == want_len;
		for (int side = 0; c_ok && side < 2; side++)
			c_ok = vl_hpke_ctx_export(side ? rcv : snd, ctx, ctx_len, got, want_len) ==
			           VL_OK &&
			       memcmp(got, want, want_len) == 0;
		if (c_ok)
			t->passed++;
		else
			tu_fail(t, idx, "export");
		free(ctx);
		free(want);
		free(got);
	}
	vl_hpke_ctx_free(snd);
	vl_hpke_ctx_free(rcv);
	for (size_t i = 0; i < nf; i++)
		free(f[i].v);
}

int main(int argc, char **argv)
{
	const char *path =
	    tu_vector_path(argc > 1 ? argv[1] : NULL, "hpke/rfc9180-mls-suites.json");
	const char *file = tu_basename(path);
	json_t *root = tu_load_json(path);
	if (!root) {
		printf("vectors: %s: 0 passed, 0 failed, 1 skipped (file absent)\n", file);
		return 77;
	}
	char names[N_GROUPS][256];
	snprintf(names[G_EXP_X25519], sizeof names[0], "%s export-only DHKEM(X25519)", file);
	snprintf(names[G_EXP_P256], sizeof names[0], "%s export-only DHKEM(P-256)", file);
	snprintf(names[G_OTHER], sizeof names[0], "%s other algorithms", file);
	struct tu_tally t[N_GROUPS] = {
	    [G_S1] = {.file = file, .suite = 1},
	    [G_S2] = {.file = file, .suite = 2},
	    [G_S3] = {.file = file, .suite = 3},
	    [G_EXP_X25519] = {.file = names[G_EXP_X25519]},
	    [G_EXP_P256] = {.file = names[G_EXP_P256]},
	    [G_OTHER] = {.file = names[G_OTHER]},
	};
	size_t i;
	json_t *e;
	json_array_foreach(root, i, e)
	{
		uint64_t mode, kem, kdf, aead;
		if (!tu_json_uint(e, "mode", &mode) || !tu_json_uint(e, "kem_id", &kem) ||
		    !tu_json_uint(e, "kdf_id", &kdf) || !tu_json_uint(e, "aead_id", &aead) ||
		    mode > 3) {
			tu_fail(&t[G_OTHER], i, "bad vector entry");
			continue;
		}
		int g = group_of(kem, kdf, aead);
		if (g == G_OTHER) {
			tu_skip(&t[g], "KEM/KDF/AEAD outside the MLS suites");
			continue;
		}
		run_entry(e, i, &t[g], kem, aead, mode);
	}
	json_decref(root);
	unsigned failed = 0;
	for (int g = 0; g < N_GROUPS; g++) {
		if (g == G_OTHER && !t[g].passed && !t[g].failed && !t[g].skipped)
			continue;
		tu_tally_print(&t[g]);
		failed += t[g].failed;
	}
	return failed ? 1 : 0;
}
