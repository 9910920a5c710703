/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signatures: Ed25519 (RFC 8032, pure) and ECDSA over P-256 with SHA-256,
 * DER-encoded as TLS encodes it (RFC 9420 §5.1.2 refers to RFC 8446). Keys
 * come in as raw bytes or as a struct vl_sig_key loaded once for hot paths.
 * Messages may be given in pieces (vlcrypto_sign_v) so that SignWithLabel
 * can sign its SignContent without first copying it, except for Ed25519,
 * whose one-pass interface needs the whole message.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto_int.h"

struct vl_sig_key {
	enum vl_sig_alg alg;
	EVP_PKEY *pkey;
	bool has_private;
};

static int load_private(enum vl_sig_alg alg, const uint8_t *priv, EVP_PKEY **out, uint8_t *pub)
{
	if (alg == VL_SIG_ED25519)
		return vlcrypto_raw_private("ED25519", priv, out, pub);
	return vlcrypto_p256_private(priv, out, pub);
}

static int load_public(enum vl_sig_alg alg, const uint8_t *pub, size_t pub_len, EVP_PKEY **out)
{
	if (alg == VL_SIG_ED25519)
		return vlcrypto_raw_public("ED25519", pub, pub_len, out);
	return vlcrypto_p256_public(pub, pub_len, out);
}

/* Joins the parts into one heap buffer when Ed25519 needs the message in one
 * piece; *owned is set when the caller must free the result. */
static const uint8_t *join(const struct vlcrypto_buf *parts, size_t n, size_t *len, bool *owned)
{
	*owned = false;
	if (n == 1) {
		*len = parts[0].len;
		return parts[0].p ? parts[0].p : (const uint8_t *)"";
	}
	size_t total = 0;
	for (size_t i = 0; i < n; i++) {
		if (parts[i].len > SIZE_MAX - total)
			return NULL;
		total += parts[i].len;
	}
	uint8_t *buf = malloc(total ? total : 1);
	if (!buf)
		return NULL;
	size_t at = 0;
	for (size_t i = 0; i < n; i++) {
		if (parts[i].len)
			memcpy(buf + at, parts[i].p, parts[i].len);
		at += parts[i].len;
	}
	*len = total;
	*owned = true;
	return buf;
}

int vlcrypto_sign_v(enum vl_sig_alg alg, EVP_PKEY *pkey, const struct vlcrypto_buf *parts, size_t n,
                    uint8_t *sig, size_t *sig_len)
{
	const struct vlcrypto_algs *a = vlcrypto_algs();
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	size_t len = VL_SIG_MAX;
	int ok = a && c;
	if (ok && alg == VL_SIG_ED25519) {
		bool owned;
		size_t msg_len;
		const uint8_t *msg = join(parts, n, &msg_len, &owned);
		ok = msg && EVP_DigestSignInit(c, NULL, NULL, NULL, pkey) > 0 &&
		     EVP_DigestSign(c, sig, &len, msg, msg_len) > 0;
		if (owned)
			free((void *)msg);
	} else if (ok) {
		ok = EVP_DigestSignInit(c, NULL, a->sha256, NULL, pkey) > 0;
		for (size_t i = 0; ok && i < n; i++)
			if (parts[i].len)
				ok = EVP_DigestSignUpdate(c, parts[i].p, parts[i].len) > 0;
		ok = ok && EVP_DigestSignFinal(c, sig, &len) > 0;
	}
	EVP_MD_CTX_free(c);
	if (!ok || len > VL_SIG_MAX) {
		memset(sig, 0, VL_SIG_MAX);
		*sig_len = 0;
		return vlcrypto_fail();
	}
	*sig_len = len;
	return VL_OK;
}

int vlcrypto_verify_v(enum vl_sig_alg alg, EVP_PKEY *pkey, const struct vlcrypto_buf *parts,
                      size_t n, const uint8_t *sig, size_t sig_len)
{
	const struct vlcrypto_algs *a = vlcrypto_algs();
	if (!a || sig_len > VL_SIG_MAX || (alg == VL_SIG_ED25519 && sig_len != 64))
		return vlcrypto_fail();
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c != NULL;
	if (ok && alg == VL_SIG_ED25519) {
		bool owned;
		size_t msg_len;
		const uint8_t *msg = join(parts, n, &msg_len, &owned);
		ok = msg && EVP_DigestVerifyInit(c, NULL, NULL, NULL, pkey) > 0 &&
		     EVP_DigestVerify(c, sig, sig_len, msg, msg_len) == 1;
		if (owned)
			free((void *)msg);
	} else if (ok) {
		/* OpenSSL re-encodes the parsed signature and refuses anything
		 * that is not strict DER, so one signature has one encoding. */
		ok = EVP_DigestVerifyInit(c, NULL, a->sha256, NULL, pkey) > 0;
		for (size_t i = 0; ok && i < n; i++)
			if (parts[i].len)
				ok = EVP_DigestVerifyUpdate(c, parts[i].p, parts[i].len) > 0;
		ok = ok && EVP_DigestVerifyFinal(c, sig, sig_len) == 1;
	}
	EVP_MD_CTX_free(c);
	return ok ? VL_OK : vlcrypto_fail();
}

int vl_sig_generate(const struct vl_suite *s, uint8_t *priv, uint8_t *pub)
{
	int rc =
	    s->sig_alg == VL_SIG_ED25519 ? vl_random(priv, 32) : vlcrypto_p256_random_scalar(priv);
	if (rc == VL_OK)
		rc = vl_sig_public_from_private(s, priv, pub);
	if (rc != VL_OK) {
		vl_wipe(priv, s->sig_priv_len);
		memset(pub, 0, s->sig_pub_len);
	}
	return rc;
}

int vl_sig_public_from_private(const struct vl_suite *s, const uint8_t *priv, uint8_t *pub)
{
	EVP_PKEY *k = NULL;
	int rc = s->sig_alg == VL_SIG_ED25519 ? load_private(s->sig_alg, priv, &k, pub)
	                                      : vlcrypto_p256_private(priv, NULL, pub);
	EVP_PKEY_free(k);
	if (rc != VL_OK)
		memset(pub, 0, s->sig_pub_len);
	return rc;
}

int vlcrypto_sign_raw_v(const struct vl_suite *s, const uint8_t *priv,
                        const struct vlcrypto_buf *parts, size_t n, uint8_t *sig, size_t *sig_len)
{
	/* A one-off key is loaded without its public part where the
	 * algorithm allows (ECDSA), saving a scalar multiplication. */
	EVP_PKEY *k;
	int rc = load_private(s->sig_alg, priv, &k, NULL);
	if (rc == VL_OK)
		rc = vlcrypto_sign_v(s->sig_alg, k, parts, n, sig, sig_len);
	EVP_PKEY_free(k);
	if (rc != VL_OK) {
		memset(sig, 0, VL_SIG_MAX);
		*sig_len = 0;
	}
	return rc;
}

int vlcrypto_verify_raw_v(const struct vl_suite *s, const uint8_t *pub, size_t pub_len,
                          const struct vlcrypto_buf *parts, size_t n, const uint8_t *sig,
                          size_t sig_len)
{
	EVP_PKEY *k;
	int rc = load_public(s->sig_alg, pub, pub_len, &k);
	if (rc == VL_OK)
		rc = vlcrypto_verify_v(s->sig_alg, k, parts, n, sig, sig_len);
	EVP_PKEY_free(k);
	return rc;
}

int vl_sign(const struct vl_suite *s, const uint8_t *priv, const void *msg, size_t msg_len,
            uint8_t *sig, size_t *sig_len)
{
	struct vlcrypto_buf part = {msg, msg_len};
	return vlcrypto_sign_raw_v(s, priv, &part, 1, sig, sig_len);
}

int vl_verify(const struct vl_suite *s, const uint8_t *pub, size_t pub_len, const void *msg,
              size_t msg_len, const uint8_t *sig, size_t sig_len)
{
	struct vlcrypto_buf part = {msg, msg_len};
	return vlcrypto_verify_raw_v(s, pub, pub_len, &part, 1, sig, sig_len);
}

int vl_sig_key_from_private(const struct vl_suite *s, const uint8_t *priv, struct vl_sig_key **out)
{
	*out = NULL;
	struct vl_sig_key *k = calloc(1, sizeof *k);
	if (!k)
		return VL_ERR_NOMEM;
	k->alg = s->sig_alg;
	k->has_private = true;
	/* Loading with the public part lets the key verify as well. */
	uint8_t pub[VL_SIG_PUB_MAX];
	int rc = load_private(s->sig_alg, priv, &k->pkey, pub);
	if (rc != VL_OK) {
		free(k);
		return rc;
	}
	*out = k;
	return VL_OK;
}

int vl_sig_key_from_public(const struct vl_suite *s, const uint8_t *pub, size_t pub_len,
                           struct vl_sig_key **out)
{
	*out = NULL;
	struct vl_sig_key *k = calloc(1, sizeof *k);
	if (!k)
		return VL_ERR_NOMEM;
	k->alg = s->sig_alg;
	int rc = load_public(s->sig_alg, pub, pub_len, &k->pkey);
	if (rc != VL_OK) {
		free(k);
		return rc;
	}
	*out = k;
	return VL_OK;
}

void vl_sig_key_free(struct vl_sig_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey); /* OpenSSL cleanses private key material */
	free(k);
}

int vlcrypto_sig_key_sign_v(const struct vl_sig_key *k, const struct vlcrypto_buf *parts, size_t n,
                            uint8_t *sig, size_t *sig_len)
{
	if (!k->has_private) {
		memset(sig, 0, VL_SIG_MAX);
		*sig_len = 0;
		return VL_ERR_ARG;
	}
	return vlcrypto_sign_v(k->alg, k->pkey, parts, n, sig, sig_len);
}

int vlcrypto_sig_key_verify_v(const struct vl_sig_key *k, const struct vlcrypto_buf *parts,
                              size_t n, const uint8_t *sig, size_t sig_len)
{
	return vlcrypto_verify_v(k->alg, k->pkey, parts, n, sig, sig_len);
}

int vl_sig_key_sign(const struct vl_sig_key *k, const void *msg, size_t msg_len, uint8_t *sig,
                    size_t *sig_len)
{
	struct vlcrypto_buf part = {msg, msg_len};
	return vlcrypto_sig_key_sign_v(k, &part, 1, sig, sig_len);
}

int vl_sig_key_verify(const struct vl_sig_key *k, const void *msg, size_t msg_len,
                      const uint8_t *sig, size_t sig_len)
{
	struct vlcrypto_buf part = {msg, msg_len};
	return vlcrypto_sig_key_verify_v(k, &part, 1, sig, sig_len);
}
