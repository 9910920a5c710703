/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Raw key bytes to OpenSSL key objects and back, for the three curves of
 * the supported suites: X25519 and Ed25519 (32-byte strings) and P-256
 * (32-byte big-endian scalars, 65-byte uncompressed points). Every public
 * key is validated here, once, so that the signature and KEM code can
 * trust an EVP_PKEY it holds.
 */
#include <pthread.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>

#include "crypto/crypto_int.h"

static EVP_PKEY *from_params(const char *type, int selection, OSSL_PARAM *params);

/* The group and its order, built once; EC_POINT_mul only reads them. Also a
 * key object holding only the domain parameters: OpenSSL builds a new
 * group (with its Montgomery constants) for every key imported by name,
 * while duplicating this template copies the one already built. */
static EC_GROUP *p256;
static EVP_PKEY *p256_params;
static uint8_t p256_order[32];
static pthread_once_t p256_once = PTHREAD_ONCE_INIT;

static void p256_init(void)
{
	p256 = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	const BIGNUM *n = p256 ? EC_GROUP_get0_order(p256) : NULL;
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0),
	    OSSL_PARAM_construct_end(),
	};
	p256_params = from_params("EC", EVP_PKEY_KEY_PARAMETERS, params);
	if (!n || BN_bn2binpad(n, p256_order, sizeof p256_order) != 32 || !p256_params) {
		EC_GROUP_free(p256);
		EVP_PKEY_free(p256_params);
		p256 = NULL;
		p256_params = NULL;
	}
}

static const EC_GROUP *p256_group(void)
{
	pthread_once(&p256_once, p256_init);
	return p256;
}

/* Constant time: 1 if 0 < sk < n (big-endian comparison), else 0. */
static int p256_scalar_ok(const uint8_t *sk)
{
	unsigned lt = 0, gt = 0, nonzero = 0;
	for (size_t i = 0; i < 32; i++) {
		unsigned a = sk[i], b = p256_order[i];
		/* The first differing byte decides: later bytes only count
		 * while no earlier byte has. */
		unsigned undecided = ((lt | gt) ^ 1) & 1;
		lt |= undecided & ((a - b) >> 8 & 1);
		gt |= undecided & ((b - a) >> 8 & 1);
		nonzero |= a;
	}
	return (int)(lt & (nonzero != 0));
}

int vlcrypto_p256_random_scalar(uint8_t *sk)
{
	if (!p256_group())
		return vlcrypto_fail();
	/* The order is just below 2^256: a rejection is rarer than 2^-32. */
	for (int i = 0; i < 64; i++) {
		if (vl_random(sk, 32) != VL_OK)
			return vlcrypto_fail();
		if (p256_scalar_ok(sk))
			return VL_OK;
	}
	vl_wipe(sk, 32);
	return vlcrypto_fail();
}

static EVP_PKEY *from_params(const char *type, int selection, OSSL_PARAM *params)
{
	EVP_PKEY *pk = NULL;
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	if (!c || EVP_PKEY_fromdata_init(c) <= 0 ||
	    EVP_PKEY_fromdata(c, &pk, selection, params) <= 0)
		pk = NULL;
	EVP_PKEY_CTX_free(c);
	return pk;
}

int vlcrypto_p256_private(const uint8_t *sk, EVP_PKEY **out, uint8_t *pub)
{
	bool out_wanted = out != NULL;
	EVP_PKEY *dummy;
	if (!out)
		out = &dummy;
	*out = NULL;
	const EC_GROUP *g = p256_group();
	if (!g || !p256_scalar_ok(sk))
		return vlcrypto_fail();
	uint8_t q[65], native[32];
	int ok = 1;
	/* The public point costs a scalar multiplication; signing and ECDH
	 * do not need it, so it is computed only when asked for. */
	if (pub) {
		BIGNUM *d = BN_secure_new();
		EC_POINT *pt = EC_POINT_new(g);
		ok = d && pt && BN_bin2bn(sk, 32, d) && EC_POINT_mul(g, pt, d, NULL, NULL, NULL) &&
		     EC_POINT_point2oct(g, pt, POINT_CONVERSION_UNCOMPRESSED, q, sizeof q, NULL) ==
		         sizeof q;
		BN_clear_free(d);
		EC_POINT_free(pt);
	}
	/* OSSL_PARAM integers are unsigned in the host's byte order. */
	const union {
		uint16_t u;
		uint8_t c[2];
	} probe = {1};
	for (size_t i = 0; i < 32; i++)
		native[i] = probe.c[0] ? sk[31 - i] : sk[i];
	if (ok && !out_wanted) {
		/* Only the public key was asked for. */
		memcpy(pub, q, sizeof q);
		vl_wipe(native, sizeof native);
		return VL_OK;
	}
	if (ok) {
		OSSL_PARAM params[] = {
		    OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0),
		    OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_PRIV_KEY, native, sizeof native),
		    OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, q, sizeof q),
		    OSSL_PARAM_construct_end(),
		};
		if (!pub)
			params[2] = OSSL_PARAM_construct_end();
		*out = from_params("EC", EVP_PKEY_KEYPAIR, params);
		ok = *out != NULL;
	}
	vl_wipe(native, sizeof native);
	if (!ok)
		return vlcrypto_fail();
	if (pub)
		memcpy(pub, q, sizeof q);
	return VL_OK;
}

int vlcrypto_p256_public(const uint8_t *pk, size_t pk_len, EVP_PKEY **out)
{
	*out = NULL;
	/* RFC 9180 §7.1.1 / RFC 9420: uncompressed points only. The import
	 * decodes the point and refuses one that is not on the curve; the
	 * cofactor is 1, so on the curve means in the group. */
	if (pk_len != 65 || pk[0] != 0x04 || !p256_group())
		return vlcrypto_fail();
	EVP_PKEY *k = EVP_PKEY_dup(p256_params);
	if (!k || EVP_PKEY_set1_encoded_public_key(k, pk, pk_len) != 1) {
		EVP_PKEY_free(k);
		return vlcrypto_fail();
	}
	*out = k;
	return VL_OK;
}

int vlcrypto_p256_ephemeral(EVP_PKEY **out, uint8_t *pub)
{
	*out = NULL;
	if (!p256_group())
		return vlcrypto_fail();
	/* Generating from the template reuses its group (see p256_init). */
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, p256_params, NULL);
	size_t len = 0;
	int ok = c && EVP_PKEY_keygen_init(c) > 0 && EVP_PKEY_keygen(c, out) > 0 &&
	         EVP_PKEY_get_octet_string_param(*out, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pub, 65,
	                                         &len) &&
	         len == 65 && pub[0] == 0x04;
	EVP_PKEY_CTX_free(c);
	if (!ok) {
		EVP_PKEY_free(*out);
		*out = NULL;
		memset(pub, 0, 65);
		return vlcrypto_fail();
	}
	return VL_OK;
}

int vlcrypto_raw_private(const char *type, const uint8_t *sk, EVP_PKEY **out, uint8_t *pub)
{
	*out = EVP_PKEY_new_raw_private_key_ex(NULL, type, NULL, sk, 32);
	size_t len = 32;
	if (!*out || (pub && (!EVP_PKEY_get_raw_public_key(*out, pub, &len) || len != 32))) {
		EVP_PKEY_free(*out);
		*out = NULL;
		if (pub)
			memset(pub, 0, 32);
		return vlcrypto_fail();
	}
	return VL_OK;
}

int vlcrypto_raw_public(const char *type, const uint8_t *pk, size_t pk_len, EVP_PKEY **out)
{
	*out = NULL;
	if (pk_len != 32)
		return vlcrypto_fail();
	*out = EVP_PKEY_new_raw_public_key_ex(NULL, type, NULL, pk, 32);
	return *out ? VL_OK : vlcrypto_fail();
}
