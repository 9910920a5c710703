/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DHKEM (RFC 9180 §4.1) over X25519 and P-256 with HKDF-SHA256: the labeled
 * KDF, key derivation (§7.1.3), key validation and the Diffie-Hellman step.
 * Encap/Decap themselves live in hpke.c, next to the key schedule that
 * consumes their output.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto_int.h"

static const struct vlcrypto_kem kems[] = {
    {VL_HPKE_KEM_X25519_SHA256, 32, 32, 32, 32, {'K', 'E', 'M', 0x00, 0x20}},
    {VL_HPKE_KEM_P256_SHA256, 65, 32, 32, 32, {'K', 'E', 'M', 0x00, 0x10}},
};

const struct vlcrypto_kem *vlcrypto_kem_get(uint16_t kem_id)
{
	for (size_t i = 0; i < sizeof kems / sizeof kems[0]; i++)
		if (kems[i].id == kem_id)
			return &kems[i];
	return NULL;
}

static const char hpke_v1[] = "HPKE-v1";

int vlcrypto_labeled_extract(const uint8_t *suite_id, size_t suite_id_len, const void *salt,
                             size_t salt_len, const char *label, const void *ikm, size_t ikm_len,
                             uint8_t *out)
{
	/* labeled_ikm = "HPKE-v1" || suite_id || label || ikm, fed in pieces. */
	const struct vlcrypto_buf parts[] = {
	    {hpke_v1, sizeof hpke_v1 - 1},
	    {suite_id, suite_id_len},
	    {label, strlen(label)},
	    {ikm, ikm_len},
	};
	return vlcrypto_hmac_v(salt, salt_len, parts, 4, out);
}

int vlcrypto_labeled_expand(const uint8_t *suite_id, size_t suite_id_len, const uint8_t *prk,
                            const char *label, const void *info, size_t info_len, uint8_t *out,
                            size_t out_len)
{
	if (out_len > 255 * 32) {
		memset(out, 0, out_len);
		return VL_ERR_LIMIT;
	}
	const uint8_t len16[2] = {(uint8_t)(out_len >> 8), (uint8_t)out_len};
	const struct vlcrypto_buf parts[] = {
	    {len16, 2},
	    {hpke_v1, sizeof hpke_v1 - 1},
	    {suite_id, suite_id_len},
	    {label, strlen(label)},
	    {info, info_len},
	};
	return vlcrypto_hkdf_expand_v(prk, 32, parts, 5, out, out_len);
}

int vlcrypto_kem_load_private(const struct vlcrypto_kem *k, const uint8_t *sk, EVP_PKEY **out,
                              uint8_t *pub)
{
	if (k->id == VL_HPKE_KEM_X25519_SHA256)
		return vlcrypto_raw_private("X25519", sk, out, pub);
	return vlcrypto_p256_private(sk, out, pub);
}

int vlcrypto_kem_load_public(const struct vlcrypto_kem *k, const uint8_t *pk, size_t pk_len,
                             EVP_PKEY **out)
{
	if (k->id == VL_HPKE_KEM_X25519_SHA256)
		return vlcrypto_raw_public("X25519", pk, pk_len, out);
	return vlcrypto_p256_public(pk, pk_len, out);
}

int vlcrypto_kem_dh(const struct vlcrypto_kem *k, EVP_PKEY *sk, EVP_PKEY *pk, uint8_t *out)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, sk, NULL);
	size_t len = k->ndh;
	/* Peer validation is off: every public key was validated when it
	 * was loaded (on the curve, and P-256 has cofactor 1), and OpenSSL's
	 * check would repeat a full scalar multiplication. */
	int ok = c && EVP_PKEY_derive_init(c) > 0 && EVP_PKEY_derive_set_peer_ex(c, pk, 0) > 0 &&
	         EVP_PKEY_derive(c, out, &len) > 0 && len == k->ndh;
	EVP_PKEY_CTX_free(c);
	if (ok && k->id == VL_HPKE_KEM_X25519_SHA256) {
		/* RFC 9180 §7.1.4: a small-order peer key gives the all-zero
		 * output, which must be refused. */
		uint8_t acc = 0;
		for (size_t i = 0; i < len; i++)
			acc |= out[i];
		ok = acc != 0;
	}
	if (!ok) {
		vl_wipe(out, k->ndh);
		return vlcrypto_fail();
	}
	return VL_OK;
}

int vlcrypto_kem_derive(const struct vlcrypto_kem *k, const void *ikm, size_t ikm_len, uint8_t *sk,
                        uint8_t *pk)
{
	uint8_t prk[32];
	int rc = vlcrypto_labeled_extract(k->suite_id, sizeof k->suite_id, "", 0, "dkp_prk", ikm,
	                                  ikm_len, prk);
	if (rc == VL_OK && k->id == VL_HPKE_KEM_X25519_SHA256) {
		rc = vlcrypto_labeled_expand(k->suite_id, sizeof k->suite_id, prk, "sk", "", 0, sk,
		                             k->nsk);
	} else if (rc == VL_OK) {
		/* §7.1.3: draw candidates until one is a valid scalar; with
		 * the P-256 order this almost never takes a second round. */
		rc = VL_ERR_CRYPTO;
		for (unsigned counter = 0; counter <= 255; counter++) {
			uint8_t ctr = (uint8_t)counter;
			if (vlcrypto_labeled_expand(k->suite_id, sizeof k->suite_id, prk,
			                            "candidate", &ctr, 1, sk, k->nsk) != VL_OK)
				break;
			sk[0] &= 0xff; /* the bitmask of P-256 keeps every bit */
			if (vlcrypto_p256_private(sk, NULL, pk) == VL_OK) {
				rc = VL_OK;
				break;
			}
		}
	}
	if (rc == VL_OK && k->id == VL_HPKE_KEM_X25519_SHA256) {
		EVP_PKEY *key;
		rc = vlcrypto_raw_private("X25519", sk, &key, pk);
		EVP_PKEY_free(key);
	}
	vl_wipe(prk, sizeof prk);
	if (rc != VL_OK) {
		vl_wipe(sk, k->nsk);
		memset(pk, 0, k->npk);
		return rc == VL_ERR_LIMIT ? rc : vlcrypto_fail();
	}
	return VL_OK;
}

/* --- Public KEM functions -------------------------------------------- */

int vl_kem_generate(const struct vl_suite *s, uint8_t *priv, uint8_t *pub)
{
	/* RFC 9180 §4: GenerateKeyPair may be DeriveKeyPair(random(Nsk)).
	 * Drawing the key directly saves the KDF calls. */
	const struct vlcrypto_kem *k = vlcrypto_kem_get(s->kem_id);
	EVP_PKEY *key = NULL;
	int rc = k ? VL_OK : VL_ERR_UNSUPPORTED;
	if (rc == VL_OK)
		rc = k->id == VL_HPKE_KEM_X25519_SHA256 ? vl_random(priv, 32)
		                                        : vlcrypto_p256_random_scalar(priv);
	if (rc == VL_OK)
		rc = k->id == VL_HPKE_KEM_X25519_SHA256
		         ? vlcrypto_kem_load_private(k, priv, &key, pub)
		         : vlcrypto_p256_private(priv, NULL, pub);
	EVP_PKEY_free(key);
	if (rc != VL_OK) {
		vl_wipe(priv, s->kem_priv_len);
		memset(pub, 0, s->kem_pub_len);
	}
	return rc;
}

int vl_kem_derive_keypair(const struct vl_suite *s, const void *ikm, size_t ikm_len, uint8_t *priv,
                          uint8_t *pub)
{
	const struct vlcrypto_kem *k = vlcrypto_kem_get(s->kem_id);
	if (!k)
		return VL_ERR_UNSUPPORTED;
	return vlcrypto_kem_derive(k, ikm, ikm_len, priv, pub);
}

int vl_kem_public_from_private(const struct vl_suite *s, const uint8_t *priv, uint8_t *pub)
{
	const struct vlcrypto_kem *k = vlcrypto_kem_get(s->kem_id);
	if (!k)
		return VL_ERR_UNSUPPORTED;
	EVP_PKEY *key = NULL;
	int rc = k->id == VL_HPKE_KEM_X25519_SHA256 ? vlcrypto_kem_load_private(k, priv, &key, pub)
	                                            : vlcrypto_p256_private(priv, NULL, pub);
	EVP_PKEY_free(key);
	if (rc != VL_OK)
		memset(pub, 0, s->kem_pub_len);
	return rc;
}

int vl_kem_check_public(const struct vl_suite *s, const uint8_t *pub, size_t pub_len)
{
	const struct vlcrypto_kem *k = vlcrypto_kem_get(s->kem_id);
	if (!k)
		return VL_ERR_UNSUPPORTED;
	EVP_PKEY *key;
	int rc = vlcrypto_kem_load_public(k, pub, pub_len, &key);
	EVP_PKEY_free(key);
	return rc;
}

int vl_kem_key_from_private(const struct vl_suite *s, const uint8_t *priv, struct vl_kem_key **out)
{
	*out = NULL;
	const struct vlcrypto_kem *k = vlcrypto_kem_get(s->kem_id);
	if (!k)
		return VL_ERR_UNSUPPORTED;
	struct vl_kem_key *key = calloc(1, sizeof *key);
	if (!key)
		return VL_ERR_NOMEM;
	key->suite = s;
	key->kem = k;
	int rc = vlcrypto_kem_load_private(k, priv, &key->pkey, key->pub);
	if (rc != VL_OK) {
		free(key);
		return rc;
	}
	*out = key;
	return VL_OK;
}

void vl_kem_key_public(const struct vl_kem_key *k, uint8_t *pub)
{
	memcpy(pub, k->pub, k->kem->npk);
}

void vl_kem_key_free(struct vl_kem_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey); /* OpenSSL cleanses the private scalar */
	free(k);
}
