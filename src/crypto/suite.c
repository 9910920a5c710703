/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The suite table and the symmetric half of the provider: random bytes,
 * wiping and constant-time comparison, SHA-256 (one-shot and incremental),
 * SHA-1 (for the WebSocket handshake only),
 * HMAC, HKDF (RFC 5869) and the two AEADs. OpenSSL algorithm objects are
 * fetched once, on first use, because fetching by name on every call costs
 * more than hashing a short message.
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "crypto/crypto_int.h"

static const struct vl_suite suites[] = {
    {
        .id = VL_SUITE_X25519_AES128GCM_SHA256_ED25519,
        .kem_id = VL_HPKE_KEM_X25519_SHA256,
        .kdf_id = VL_HPKE_KDF_HKDF_SHA256,
        .aead_id = VL_HPKE_AEAD_AES128GCM,
        .sig_alg = VL_SIG_ED25519,
        .hash_len = 32,
        .aead_key_len = 16,
        .aead_nonce_len = 12,
        .kem_pub_len = 32,
        .kem_priv_len = 32,
        .kem_secret_len = 32,
        .sig_pub_len = 32,
        .sig_priv_len = 32,
        .name = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519",
    },
    {
        .id = VL_SUITE_P256_AES128GCM_SHA256_P256,
        .kem_id = VL_HPKE_KEM_P256_SHA256,
        .kdf_id = VL_HPKE_KDF_HKDF_SHA256,
        .aead_id = VL_HPKE_AEAD_AES128GCM,
        .sig_alg = VL_SIG_ECDSA_P256_SHA256,
        .hash_len = 32,
        .aead_key_len = 16,
        .aead_nonce_len = 12,
        .kem_pub_len = 65,
        .kem_priv_len = 32,
        .kem_secret_len = 32,
        .sig_pub_len = 65,
        .sig_priv_len = 32,
        .name = "MLS_128_DHKEMP256_AES128GCM_SHA256_P256",
    },
    {
        .id = VL_SUITE_X25519_CHACHA20POLY1305_SHA256_ED25519,
        .kem_id = VL_HPKE_KEM_X25519_SHA256,
        .kdf_id = VL_HPKE_KDF_HKDF_SHA256,
        .aead_id = VL_HPKE_AEAD_CHACHA20POLY1305,
        .sig_alg = VL_SIG_ED25519,
        .hash_len = 32,
        .aead_key_len = 32,
        .aead_nonce_len = 12,
        .kem_pub_len = 32,
        .kem_priv_len = 32,
        .kem_secret_len = 32,
        .sig_pub_len = 32,
        .sig_priv_len = 32,
        .name = "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519",
    },
};

const struct vl_suite *vl_suite_get(uint16_t id)
{
	for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++)
		if (suites[i].id == id)
			return &suites[i];
	return NULL;
}

/* --- Algorithm objects ---------------------------------------------- */

static struct vlcrypto_algs algs;
static bool algs_ok;
static pthread_once_t algs_once = PTHREAD_ONCE_INIT;

static void algs_init(void)
{
	algs.sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
	algs.aes128gcm = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
	algs.chacha20poly1305 = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
	algs_ok = algs.sha256 && algs.aes128gcm && algs.chacha20poly1305;
	ERR_clear_error();
}

const struct vlcrypto_algs *vlcrypto_algs(void)
{
	pthread_once(&algs_once, algs_init);
	return algs_ok ? &algs : NULL;
}

int vlcrypto_fail(void)
{
	ERR_clear_error();
	return VL_ERR_CRYPTO;
}

/* --- Utilities ------------------------------------------------------ */

int vl_random(void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t left = len;
	while (left) {
		int n = left > INT_MAX ? INT_MAX : (int)left;
		if (RAND_bytes(p, n) != 1) {
			vl_wipe(buf, len);
			return vlcrypto_fail();
		}
		p += n;
		left -= (size_t)n;
	}
	return VL_OK;
}

bool vl_ct_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

void vl_wipe(void *p, size_t len)
{
	if (p && len)
		OPENSSL_cleanse(p, len);
}

/* --- Hash ------------------------------------------------------------ */

int vl_hash(const struct vl_suite *s, const void *data, size_t len, uint8_t out[VL_HASH_MAX])
{
	const struct vlcrypto_algs *a = vlcrypto_algs();
	if (!a || !EVP_Digest(data, len, out, NULL, a->sha256, NULL)) {
		memset(out, 0, s->hash_len);
		return vlcrypto_fail();
	}
	return VL_OK;
}

/* Fetched apart from the suite algorithms, so that a provider without SHA-1
 * (a FIPS configuration) breaks only the WebSocket handshake. */
static EVP_MD *sha1_md;
static pthread_once_t sha1_once = PTHREAD_ONCE_INIT;

static void sha1_init(void)
{
	sha1_md = EVP_MD_fetch(NULL, "SHA1", NULL);
	ERR_clear_error();
}

int vl_sha1(const void *data, size_t len, uint8_t out[20])
{
	pthread_once(&sha1_once, sha1_init);
	unsigned int n = 0;
	if (!sha1_md || !EVP_Digest(data, len, out, &n, sha1_md, NULL) || n != 20) {
		memset(out, 0, 20);
		return vlcrypto_fail();
	}
	return VL_OK;
}

struct vl_hash_ctx {
	EVP_MD_CTX *md;
	const EVP_MD *type;
	size_t len;
};

int vl_hash_ctx_new(const struct vl_suite *s, struct vl_hash_ctx **out)
{
	*out = NULL;
	const struct vlcrypto_algs *a = vlcrypto_algs();
	if (!a)
		return vlcrypto_fail();
	struct vl_hash_ctx *c = calloc(1, sizeof *c);
	if (!c)
		return VL_ERR_NOMEM;
	c->md = EVP_MD_CTX_new();
	c->type = a->sha256;
	c->len = s->hash_len;
	if (!c->md || !EVP_DigestInit_ex2(c->md, c->type, NULL)) {
		vl_hash_ctx_free(c);
		return vlcrypto_fail();
	}
	*out = c;
	return VL_OK;
}

int vl_hash_ctx_update(struct vl_hash_ctx *c, const void *data, size_t len)
{
	if (len && !EVP_DigestUpdate(c->md, data, len))
		return vlcrypto_fail();
	return VL_OK;
}

int vl_hash_ctx_final(struct vl_hash_ctx *c, uint8_t out[VL_HASH_MAX])
{
	if (!EVP_DigestFinal_ex(c->md, out, NULL) || !EVP_DigestInit_ex2(c->md, c->type, NULL)) {
		memset(out, 0, c->len);
		return vlcrypto_fail();
	}
	return VL_OK;
}

int vl_hash_ctx_peek(const struct vl_hash_ctx *c, uint8_t out[VL_HASH_MAX])
{
	EVP_MD_CTX *copy = EVP_MD_CTX_new();
	int ok = copy && EVP_MD_CTX_copy_ex(copy, c->md) && EVP_DigestFinal_ex(copy, out, NULL);
	EVP_MD_CTX_free(copy);
	if (!ok) {
		memset(out, 0, c->len);
		return vlcrypto_fail();
	}
	return VL_OK;
}

void vl_hash_ctx_free(struct vl_hash_ctx *c)
{
	if (!c)
		return;
	EVP_MD_CTX_free(c->md);
	free(c);
}

/* --- HMAC and HKDF ---------------------------------------------------- */

/*
 * HMAC (RFC 2104) is composed here on the provider's SHA-256 rather than
 * taken from EVP_MAC: in OpenSSL 3.0 every new HMAC key costs a duplicated
 * MAC context (three digest contexts and their provider state), which
 * doubles the price of the short HMACs that dominate HKDF, the MLS key
 * schedule and the secret tree. One digest context per call, freed (and
 * so cleansed) at the end, and the padded keys on the stack, wiped.
 */
#define HMAC_BLOCK 64 /* SHA-256 block size */

struct hmac_key {
	uint8_t ipad[HMAC_BLOCK], opad[HMAC_BLOCK];
};

static int hmac_key_init(struct hmac_key *hk, const void *key, size_t key_len)
{
	const struct vlcrypto_algs *a = vlcrypto_algs();
	uint8_t k[HMAC_BLOCK] = {0};
	if (!a)
		return 0;
	if (key_len > HMAC_BLOCK) {
		/* Keys longer than a block are hashed first. */
		if (!EVP_Digest(key, key_len, k, NULL, a->sha256, NULL))
			return 0;
	} else if (key_len) {
		memcpy(k, key, key_len);
	}
	for (size_t i = 0; i < HMAC_BLOCK; i++) {
		hk->ipad[i] = k[i] ^ 0x36;
		hk->opad[i] = k[i] ^ 0x5c;
	}
	vl_wipe(k, sizeof k);
	return 1;
}

/* out = H(opad || H(ipad || parts...)), 32 bytes. */
static int hmac_run(EVP_MD_CTX *c, const struct hmac_key *hk, const struct vlcrypto_buf *parts,
                    size_t n, uint8_t *out)
{
	const EVP_MD *md = vlcrypto_algs()->sha256;
	int ok = EVP_DigestInit_ex2(c, md, NULL) && EVP_DigestUpdate(c, hk->ipad, HMAC_BLOCK);
	for (size_t i = 0; ok && i < n; i++)
		if (parts[i].len)
			ok = EVP_DigestUpdate(c, parts[i].p, parts[i].len);
	return ok && EVP_DigestFinal_ex(c, out, NULL) && EVP_DigestInit_ex2(c, md, NULL) &&
	       EVP_DigestUpdate(c, hk->opad, HMAC_BLOCK) && EVP_DigestUpdate(c, out, 32) &&
	       EVP_DigestFinal_ex(c, out, NULL);
}

int vlcrypto_hmac_v(const void *key, size_t key_len, const struct vlcrypto_buf *parts,
                    size_t n_parts, uint8_t *out)
{
	struct hmac_key hk;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c && hmac_key_init(&hk, key, key_len) && hmac_run(c, &hk, parts, n_parts, out);
	EVP_MD_CTX_free(c); /* the provider cleanses its hash state */
	vl_wipe(&hk, sizeof hk);
	if (!ok) {
		memset(out, 0, 32);
		return vlcrypto_fail();
	}
	return VL_OK;
}

/* Upper bound on the pieces of an HKDF info (the labeled forms use 6). */
#define HKDF_INFO_PARTS_MAX 8

int vlcrypto_hkdf_expand_v(const void *prk, size_t prk_len, const struct vlcrypto_buf *info,
                           size_t n_info, uint8_t *out, size_t out_len)
{
	/* RFC 5869 §2.3: L <= 255 * HashLen. */
	if (out_len > 255 * 32) {
		memset(out, 0, out_len);
		return VL_ERR_LIMIT;
	}
	if (n_info > HKDF_INFO_PARTS_MAX) {
		memset(out, 0, out_len);
		return VL_ERR_ARG;
	}
	/* T(i) = HMAC(PRK, T(i-1) || info || i); the key pads are made once
	 * for all blocks. */
	struct hmac_key hk;
	struct vlcrypto_buf parts[HKDF_INFO_PARTS_MAX + 2];
	uint8_t t[32], counter = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c && hmac_key_init(&hk, prk, prk_len);
	parts[0] = (struct vlcrypto_buf){t, 0};
	memcpy(parts + 1, info, n_info * sizeof *info);
	parts[n_info + 1] = (struct vlcrypto_buf){&counter, 1};
	for (size_t done = 0; ok && done < out_len;) {
		counter++;
		ok = hmac_run(c, &hk, parts, n_info + 2, t);
		parts[0].len = sizeof t;
		size_t n = out_len - done < sizeof t ? out_len - done : sizeof t;
		memcpy(out + done, t, n);
		done += n;
	}
	EVP_MD_CTX_free(c);
	vl_wipe(&hk, sizeof hk);
	vl_wipe(t, sizeof t);
	if (!ok) {
		memset(out, 0, out_len);
		return vlcrypto_fail();
	}
	return VL_OK;
}

int vl_hmac(const struct vl_suite *s, const void *key, size_t key_len, const void *data, size_t len,
            uint8_t out[VL_HASH_MAX])
{
	(void)s; /* every supported suite hashes with SHA-256 */
	struct vlcrypto_buf part = {data, len};
	return vlcrypto_hmac_v(key, key_len, &part, 1, out);
}

int vl_hkdf_extract(const struct vl_suite *s, const void *salt, size_t salt_len, const void *ikm,
                    size_t ikm_len, uint8_t out[VL_HASH_MAX])
{
	/* RFC 5869 §2.2: PRK = HMAC-Hash(salt, IKM). */
	return vl_hmac(s, salt, salt_len, ikm, ikm_len, out);
}

int vl_hkdf_expand(const struct vl_suite *s, const void *prk, size_t prk_len, const void *info,
                   size_t info_len, uint8_t *out, size_t out_len)
{
	(void)s;
	struct vlcrypto_buf part = {info, info_len};
	return vlcrypto_hkdf_expand_v(prk, prk_len, &part, 1, out, out_len);
}

/* --- AEAD ------------------------------------------------------------- */

const EVP_CIPHER *vlcrypto_aead_cipher(uint16_t aead_id, size_t *nk, size_t *nn)
{
	const struct vlcrypto_algs *a = vlcrypto_algs();
	if (!a)
		return NULL;
	*nn = 12;
	switch (aead_id) {
	case VL_HPKE_AEAD_AES128GCM:
		*nk = 16;
		return a->aes128gcm;
	case VL_HPKE_AEAD_CHACHA20POLY1305:
		*nk = 32;
		return a->chacha20poly1305;
	default:
		return NULL;
	}
}

/* Feeds len bytes through EVP_CipherUpdate in int-sized pieces. */
static int cipher_update(EVP_CIPHER_CTX *c, uint8_t *out, const uint8_t *in, size_t len)
{
	while (len) {
		int n = len > (size_t)INT_MAX - 64 ? INT_MAX - 64 : (int)len, got = 0;
		if (!EVP_CipherUpdate(c, out, &got, in, n) || got != n)
			return 0;
		in += n;
		out += n;
		len -= (size_t)n;
	}
	return 1;
}

static int cipher_aad(EVP_CIPHER_CTX *c, const uint8_t *aad, size_t len)
{
	while (len) {
		int n = len > (size_t)INT_MAX ? INT_MAX : (int)len, got;
		if (!EVP_CipherUpdate(c, NULL, &got, aad, n))
			return 0;
		aad += n;
		len -= (size_t)n;
	}
	return 1;
}

int vlcrypto_aead_seal(const EVP_CIPHER *cipher, const uint8_t *key, const uint8_t *nonce,
                       const void *aad, size_t aad_len, const void *pt, size_t pt_len, uint8_t *ct)
{
	if (pt_len > SIZE_MAX - VL_AEAD_TAG_LEN)
		return VL_ERR_LIMIT;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int got = 0;
	int ok = c && cipher && EVP_EncryptInit_ex2(c, cipher, key, nonce, NULL) &&
	         cipher_aad(c, aad, aad_len) && cipher_update(c, ct, pt, pt_len) &&
	         EVP_EncryptFinal_ex(c, ct + pt_len, &got) && got == 0 &&
	         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, VL_AEAD_TAG_LEN, ct + pt_len) > 0;
	EVP_CIPHER_CTX_free(c); /* cleanses the key schedule */
	if (!ok) {
		memset(ct, 0, pt_len + VL_AEAD_TAG_LEN);
		return vlcrypto_fail();
	}
	return VL_OK;
}

int vlcrypto_aead_open(const EVP_CIPHER *cipher, const uint8_t *key, const uint8_t *nonce,
                       const void *aad, size_t aad_len, const void *ct, size_t ct_len, uint8_t *pt)
{
	if (ct_len < VL_AEAD_TAG_LEN)
		return vlcrypto_fail();
	size_t pt_len = ct_len - VL_AEAD_TAG_LEN;
	/* The tag is copied first: with in-place decryption pt and ct alias. */
	uint8_t tag[VL_AEAD_TAG_LEN];
	memcpy(tag, (const uint8_t *)ct + pt_len, sizeof tag);
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int got = 0;
	int ok = c && cipher && EVP_DecryptInit_ex2(c, cipher, key, nonce, NULL) &&
	         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, sizeof tag, tag) > 0 &&
	         cipher_aad(c, aad, aad_len) && cipher_update(c, pt, ct, pt_len) &&
	         EVP_DecryptFinal_ex(c, pt + pt_len, &got) > 0 && got == 0;
	EVP_CIPHER_CTX_free(c);
	if (!ok) {
		/* Never release plaintext that failed authentication. */
		vl_wipe(pt, pt_len);
		return vlcrypto_fail();
	}
	return VL_OK;
}

static const EVP_CIPHER *suite_cipher(const struct vl_suite *s)
{
	size_t nk, nn;
	return vlcrypto_aead_cipher(s->aead_id, &nk, &nn);
}

int vl_aead_seal(const struct vl_suite *s, const uint8_t *key, const uint8_t *nonce,
                 const void *aad, size_t aad_len, const void *pt, size_t pt_len, uint8_t *ct)
{
	return vlcrypto_aead_seal(suite_cipher(s), key, nonce, aad, aad_len, pt, pt_len, ct);
}

int vl_aead_open(const struct vl_suite *s, const uint8_t *key, const uint8_t *nonce,
                 const void *aad, size_t aad_len, const void *ct, size_t ct_len, uint8_t *pt)
{
	return vlcrypto_aead_open(suite_cipher(s), key, nonce, aad, aad_len, ct, ct_len, pt);
}
