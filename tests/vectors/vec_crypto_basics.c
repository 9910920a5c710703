/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mls/crypto-basics.json: the RFC 9420 §5 helpers per cipher suite.
 * Six cases per entry: ref_hash, expand_with_label, derive_secret,
 * derive_tree_secret, sign_with_label (the given signature verifies, and so
 * does a fresh one, and a tampered one does not) and encrypt_with_label
 * (the given ciphertext decrypts, and a fresh encryption round-trips).
 * Usage: vec_crypto_basics [FILE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "testutil.h"

#define MAX_SUITES 8

/* Fields of one sub-object, freed together. */
struct fields {
	json_t *obj;
	uint8_t *v[8];
	size_t len[8];
	int n;
};

static uint8_t *hex(struct fields *f, const char *key, size_t *len)
{
	uint8_t *p = tu_json_hex(f->obj, key, len);
	f->v[f->n++] = p;
	return p;
}

static void fields_free(struct fields *f)
{
	for (int i = 0; i < f->n; i++)
		free(f->v[i]);
}

static const char *str(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static bool check_ref_hash(const struct vl_suite *s, json_t *o)
{
	struct fields f = {.obj = o};
	size_t vl, ol;
	uint8_t *value = hex(&f, "value", &vl), *out = hex(&f, "out", &ol);
	const char *label = str(o, "label");
	uint8_t got[VL_HASH_MAX];
	bool ok = value && out && label && ol == s->hash_len &&
	          vl_mls_ref_hash(s, label, value, vl, got) == VL_OK && memcmp(got, out, ol) == 0;
	fields_free(&f);
	return ok;
}

static bool check_expand(const struct vl_suite *s, json_t *o)
{
	struct fields f = {.obj = o};
	size_t sl, cl, ol;
	uint64_t len;
	uint8_t *secret = hex(&f, "secret", &sl), *ctx = hex(&f, "context", &cl);
	uint8_t *out = hex(&f, "out", &ol);
	const char *label = str(o, "label");
	uint8_t *got = malloc(ol + 1);
	bool ok =
	    secret && ctx && out && label && got && tu_json_uint(o, "length", &len) && len == ol &&
	    len <= UINT16_MAX &&
	    vl_mls_expand_with_label(s, secret, sl, label, ctx, cl, got, (uint16_t)len) == VL_OK &&
	    memcmp(got, out, ol) == 0;
	free(got);
	fields_free(&f);
	return ok;
}

static bool check_derive_secret(const struct vl_suite *s, json_t *o)
{
	struct fields f = {.obj = o};
	size_t sl, ol;
	uint8_t *secret = hex(&f, "secret", &sl), *out = hex(&f, "out", &ol);
	const char *label = str(o, "label");
	uint8_t got[VL_HASH_MAX];
	bool ok = secret && out && label && sl == s->hash_len && ol == s->hash_len &&
	          vl_mls_derive_secret(s, secret, label, got) == VL_OK && memcmp(got, out, ol) == 0;
	fields_free(&f);
	return ok;
}

static bool check_tree_secret(const struct vl_suite *s, json_t *o)
{
	struct fields f = {.obj = o};
	size_t sl, ol;
	uint64_t gen, len;
	uint8_t *secret = hex(&f, "secret", &sl), *out = hex(&f, "out", &ol);
	const char *label = str(o, "label");
	uint8_t *got = malloc(ol + 1);
	bool ok = secret && out && label && got && sl == s->hash_len &&
	          tu_json_uint(o, "generation", &gen) && gen <= UINT32_MAX &&
	          tu_json_uint(o, "length", &len) && len == ol && len <= UINT16_MAX &&
	          vl_mls_derive_tree_secret(s, secret, label, (uint32_t)gen, got, (uint16_t)len) ==
	              VL_OK &&
	          memcmp(got, out, ol) == 0;
	free(got);
	fields_free(&f);
	return ok;
}

static bool check_sign(const struct vl_suite *s, json_t *o)
{
	struct fields f = {.obj = o};
	size_t pl, ul, cl, gl, sig_len;
	uint8_t *priv = hex(&f, "priv", &pl), *pub = hex(&f, "pub", &ul);
	uint8_t *content = hex(&f, "content", &cl), *given = hex(&f, "signature", &gl);
	const char *label = str(o, "label");
	uint8_t sig[VL_SIG_MAX], derived[VL_SIG_PUB_MAX];
	bool ok = priv && pub && content && given && label && pl == s->sig_priv_len &&
	          ul == s->sig_pub_len &&
	          /* the key pair is consistent */
	          vl_sig_public_from_private(s, priv, derived) == VL_OK &&
	          memcmp(derived, pub, ul) == 0 &&
	          /* the given signature verifies */
	          vl_mls_verify_with_label(s, pub, ul, label, content, cl, given, gl) == VL_OK &&
	          /* a fresh one verifies */
	          vl_mls_sign_with_label(s, priv, label, content, cl, sig, &sig_len) == VL_OK &&
	          vl_mls_verify_with_label(s, pub, ul, label, content, cl, sig, sig_len) == VL_OK &&
	          /* and neither verifies under another label */
	          vl_mls_verify_with_label(s, pub, ul, "OtherLabel", content, cl, given, gl) ==
	              VL_ERR_CRYPTO;
	fields_free(&f);
	return ok;
}

static bool check_encrypt(const struct vl_suite *s, json_t *o)
{
	struct fields f = {.obj = o};
	size_t pl, ul, cl, tl, kl, xl;
	uint8_t *priv = hex(&f, "priv", &pl), *pub = hex(&f, "pub", &ul);
	uint8_t *ctx = hex(&f, "context", &cl), *pt = hex(&f, "plaintext", &tl);
	uint8_t *kem = hex(&f, "kem_output", &kl), *ct = hex(&f, "ciphertext", &xl);
	const char *label = str(o, "label");
	uint8_t *got = malloc(tl + 1), *fresh = malloc(tl + VL_AEAD_TAG_LEN);
	uint8_t kem2[VL_KEM_PUB_MAX];
	bool ok =
	    priv && pub && ctx && pt && kem && ct && label && got && fresh &&
	    xl == tl + VL_AEAD_TAG_LEN &&
	    vl_mls_decrypt_with_label(s, priv, label, ctx, cl, kem, kl, ct, xl, got) == VL_OK &&
	    memcmp(got, pt, tl) == 0 &&
	    vl_mls_encrypt_with_label(s, pub, ul, label, ctx, cl, pt, tl, kem2, fresh) == VL_OK &&
	    vl_mls_decrypt_with_label(s, priv, label, ctx, cl, kem2, s->kem_pub_len, fresh, xl,
	                              got) == VL_OK &&
	    memcmp(got, pt, tl) == 0;
	/* And with the private key loaded once. */
	struct vl_kem_key *k = NULL;
	if (ok)
		memset(got, 0, tl + 1);
	ok = ok && vl_kem_key_from_private(s, priv, &k) == VL_OK &&
	     vl_mls_decrypt_with_label_key(k, label, ctx, cl, kem, kl, ct, xl, got) == VL_OK &&
	     memcmp(got, pt, tl) == 0;
	vl_kem_key_free(k);
	free(got);
	free(fresh);
	fields_free(&f);
	return ok;
}

int main(int argc, char **argv)
{
	const char *path = tu_vector_path(argc > 1 ? argv[1] : NULL, "mls/crypto-basics.json");
	const char *file = tu_basename(path);
	json_t *root = tu_load_json(path);
	if (!root) {
		printf("vectors: %s: 0 passed, 0 failed, 1 skipped (file absent)\n", file);
		return 77;
	}
	static const struct {
		const char *key;
		bool (*check)(const struct vl_suite *, json_t *);
	} cases[] = {
	    {"ref_hash", check_ref_hash},           {"expand_with_label", check_expand},
	    {"derive_secret", check_derive_secret}, {"derive_tree_secret", check_tree_secret},
	    {"sign_with_label", check_sign},        {"encrypt_with_label", check_encrypt},
	};
	const size_t n_cases = sizeof cases / sizeof cases[0];
	struct tu_tally t[MAX_SUITES];
	size_t n_t = 0, i;
	json_t *e;
	json_array_foreach(root, i, e)
	{
		uint64_t id;
		if (!tu_json_uint(e, "cipher_suite", &id) || id > UINT16_MAX)
			id = 0;
		size_t k;
		for (k = 0; k < n_t && t[k].suite != id; k++)
			;
		if (k == n_t) {
			if (n_t == MAX_SUITES) {
				fprintf(stderr, "vectors: %s: too many suites\n", file);
				continue;
			}
			t[n_t++] = (struct tu_tally){.file = file, .suite = (unsigned)id};
		}
		const struct vl_suite *s = vl_suite_get((uint16_t)id);
		for (size_t c = 0; c < n_cases; c++) {
			json_t *o = json_object_get(e, cases[c].key);
			if (!s)
				tu_skip(&t[k], "cipher suite not supported");
			else if (!json_is_object(o))
				tu_fail(&t[k], i, cases[c].key);
			else if (cases[c].check(s, o))
				t[k].passed++;
			else
				tu_fail(&t[k], i, cases[c].key);
		}
	}
	json_decref(root);
	unsigned failed = 0;
	for (size_t k = 0; k < n_t; k++) {
		tu_tally_print(&t[k]);
		failed += t[k].failed;
	}
	return failed ? 1 : 0;
}
