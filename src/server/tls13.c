/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS 1.3 server: OpenSSL's handshake on memory BIOs, then our own record
 * layer (RFC 8446 §5) over the traffic secrets the handshake produced. The
 * record cryptography (HKDF-Expand-Label, AEAD) goes through src/crypto;
 * libssl is used for the handshake only.
 *
 * Design:
 *  1. The handshake's SSL never reads ahead: OpenSSL takes from the read BIO
 *     exactly the records it processes, so whatever the client sent behind
 *     its Finished is still in the BIO when the handshake completes, and is
 *     handed to the caller by vl_tls13_hs_finish. SSL_has_pending() must be
 *     0 at that point; if it is not, finish fails instead of guessing.
 *  2. The server sends nothing after its Finished (no session tickets, no
 *     post-handshake messages), and OpenSSL reads no record after the
 *     client's Finished, so both application sequence numbers start at 0.
 *  3. OpenSSL 3.0 offers no public call that returns the application
 *     traffic secrets; its key log callback is the only public way to see
 *     them (the "CLIENT_TRAFFIC_SECRET_0" and "SERVER_TRAFFIC_SECRET_0"
 *     lines of the NSS key log format). The callback parses them strictly
 *     into the handshake's struct (found through SSL ex_data), writes them
 *     nowhere else, and every copy is wiped. OpenSSL clears its own line.
 *  4. After the handshake, struct vl_tls13 is the whole state. A record is
 *     opened in place; a failure is sticky (r->failed), as is close_notify
 *     (r->peer_closed) and our own alert (r->write_closed).
 *  5. Post-handshake, the only handshake message a client may send us is
 *     KeyUpdate (we request no post-handshake authentication). It may be
 *     fragmented over records (the fragment is kept in r->hs_part) but must
 *     end its record, since it changes keys (§5.1).
 *
 * State of a connection's records:
 *   open ──vl_tls13_open(close_notify)──> peer_closed (writing still allowed)
 *   open ──vl_tls13_seal_alert──> write_closed (reading still allowed)
 *   any ──failure in open/seal/take_control──> failed (nothing more)
 */
#include "server/tls13.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "crypto/crypto.h"

/* --- key schedule (RFC 8446 §7.1-7.3) --------------------------------------- */

/* HKDF-Expand-Label(secret, label, "", out_len) with SHA-256: HkdfLabel is
 * uint16 length, opaque label<7..255> = "tls13 " + label, opaque
 * context<0..255> (empty here). */
static int tls13_expand_label(const struct vl_suite *s, const uint8_t secret[VL_TLS13_SECRET_LEN],
                              const char *label, uint8_t *out, size_t out_len)
{
	static const char prefix[] = "tls13 ";
	uint8_t info[2 + 1 + 255 + 1];
	size_t plen = sizeof prefix - 1, llen = strlen(label);
	if (plen + llen > 255 || out_len > 0xffff)
		return VL_ERR_ARG;
	size_t n = 0;
	info[n++] = (uint8_t)(out_len >> 8);
	info[n++] = (uint8_t)out_len;
	info[n++] = (uint8_t)(plen + llen);
	memcpy(info + n, prefix, plen);
	n += plen;
	memcpy(info + n, label, llen);
	n += llen;
	info[n++] = 0; /* empty context */
	return vl_hkdf_expand(s, secret, VL_TLS13_SECRET_LEN, info, n, out, out_len);
}

/* [sender]_write_key and [sender]_write_iv from a traffic secret (§7.3). */
static int tls13_derive(const struct vl_suite *s, const uint8_t secret[VL_TLS13_SECRET_LEN],
                        uint8_t key[32], uint8_t iv[12])
{
	if (tls13_expand_label(s, secret, "key", key, s->aead_key_len) != VL_OK ||
	    tls13_expand_label(s, secret, "iv", iv, 12) != VL_OK)
		return VL_ERR_CRYPTO;
	return VL_OK;
}

/* application_traffic_secret_N+1 = HKDF-Expand-Label(secret_N, "traffic upd",
 * "", Hash.length) and its key and IV (§7.2). */
static int tls13_update(const struct vl_suite *s, uint8_t secret[VL_TLS13_SECRET_LEN],
                        uint8_t key[32], uint8_t iv[12])
{
	uint8_t next[VL_TLS13_SECRET_LEN];
	int rc = tls13_expand_label(s, secret, "traffic upd", next, sizeof next);
	if (rc == VL_OK) {
		memcpy(secret, next, sizeof next);
		rc = tls13_derive(s, secret, key, iv);
	}
	vl_wipe(next, sizeof next);
	return rc == VL_OK ? VL_OK : VL_ERR_CRYPTO;
}

int vl_tls13_init(struct vl_tls13 *r, uint16_t cipher_suite,
                  const uint8_t read_secret[static VL_TLS13_SECRET_LEN],
                  const uint8_t write_secret[static VL_TLS13_SECRET_LEN])
{
	memset(r, 0, sizeof *r);
	uint16_t id;
	switch (cipher_suite) {
	case VL_TLS13_AES_128_GCM_SHA256:
		id = VL_SUITE_X25519_AES128GCM_SHA256_ED25519;
		break;
	case VL_TLS13_CHACHA20_POLY1305_SHA256:
		id = VL_SUITE_X25519_CHACHA20POLY1305_SHA256_ED25519;
		break;
	default:
		return VL_ERR_UNSUPPORTED;
	}
	const struct vl_suite *s = vl_suite_get(id);
	if (!s)
		return VL_ERR_UNSUPPORTED;
	r->suite = id;
	memcpy(r->read_secret, read_secret, VL_TLS13_SECRET_LEN);
	memcpy(r->write_secret, write_secret, VL_TLS13_SECRET_LEN);
	if (tls13_derive(s, r->read_secret, r->read_key, r->read_iv) != VL_OK ||
	    tls13_derive(s, r->write_secret, r->write_key, r->write_iv) != VL_OK) {
		vl_tls13_wipe(r);
		return VL_ERR_CRYPTO;
	}
	return VL_OK;
}

void vl_tls13_wipe(struct vl_tls13 *r)
{
	vl_wipe(r, sizeof *r);
}

/* --- records (RFC 8446 §5) --------------------------------------------------- */

enum {
	CT_ALERT = 21,
	CT_HANDSHAKE = 22,
	CT_APPLICATION_DATA = 23,
	HS_KEY_UPDATE = 24,
	ALERT_CLOSE_NOTIFY = 0,
	ALERT_UNEXPECTED_MESSAGE = 10,
	ALERT_BAD_RECORD_MAC = 20,
	ALERT_RECORD_OVERFLOW = 22,
	ALERT_ILLEGAL_PARAMETER = 47,
	ALERT_DECODE_ERROR = 50,
	ALERT_INTERNAL_ERROR = 80,
	ALERT_USER_CANCELED = 90,
	ALERT_NONE = 255,
	CIPHERTEXT_MAX = VL_TLS13_RECORD_MAX - 5, /* 2^14 + 256 (§5.2) */
	INNER_MAX = VL_TLS13_PLAIN_MAX + 1,       /* TLSInnerPlaintext (§5.4) */
};

/* §5.3: the 64-bit sequence number, big-endian, left-padded to the IV's
 * length and XORed with it. */
static void tls13_nonce(const uint8_t iv[12], uint64_t seq, uint8_t nonce[12])
{
	memcpy(nonce, iv, 12);
	for (int i = 0; i < 8; i++)
		nonce[11 - i] ^= (uint8_t)(seq >> (8 * i));
}

/* The write side can no longer be trusted: nothing more is sent. */
static void tls13_write_fail(struct vl_tls13 *r)
{
	r->failed = true;
	r->write_closed = true;
}

/* Seals one record at out: header, then inner (content || type) already at
 * out + 5 (inner_len bytes), then the tag. Uses and advances write_seq,
 * which the caller has checked. */
static int tls13_seal_inner(struct vl_tls13 *r, const struct vl_suite *s, uint8_t *out,
                            size_t inner_len)
{
	size_t ct_len = inner_len + VL_AEAD_TAG_LEN;
	out[0] = CT_APPLICATION_DATA; /* §5.2: opaque_type is always 23 */
	out[1] = 0x03;
	out[2] = 0x03;
	out[3] = (uint8_t)(ct_len >> 8);
	out[4] = (uint8_t)ct_len;
	uint8_t nonce[12];
	tls13_nonce(r->write_iv, r->write_seq, nonce);
	int rc = vl_aead_seal(s, r->write_key, nonce, out, 5, out + 5, inner_len, out + 5);
	if (rc != VL_OK) {
		tls13_write_fail(r);
		return VL_ERR_CRYPTO;
	}
	r->write_seq++;
	return VL_OK;
}

/* Records the write key may still protect as application data. */
static uint64_t tls13_write_room(const struct vl_tls13 *r)
{
	uint64_t limit = r->suite == VL_SUITE_X25519_AES128GCM_SHA256_ED25519
	                     ? VL_TLS13_GCM_HARD_LIMIT
	                     : UINT64_MAX - 1; /* seq UINT64_MAX is never used */
	return r->write_seq >= limit ? 0 : limit - r->write_seq;
}

size_t vl_tls13_sealed_len(size_t len)
{
	return len + (len + VL_TLS13_PLAIN_MAX - 1) / VL_TLS13_PLAIN_MAX * VL_TLS13_OVERHEAD;
}

int vl_tls13_seal(struct vl_tls13 *r, const uint8_t *in, size_t len, uint8_t *out)
{
	if (r->failed || r->write_closed || (r->owed & VL_TLS13_OWE_REPLY))
		return VL_ERR_STATE;
	if (len == 0)
		return VL_OK;
	const struct vl_suite *s = vl_suite_get(r->suite);
	if (!s)
		return VL_ERR_STATE;
	size_t records = (len + VL_TLS13_PLAIN_MAX - 1) / VL_TLS13_PLAIN_MAX;
	if ((uint64_t)records > tls13_write_room(r))
		return VL_ERR_LIMIT;
	while (len) {
		size_t n = len < VL_TLS13_PLAIN_MAX ? len : VL_TLS13_PLAIN_MAX;
		memcpy(out + 5, in, n);
		out[5 + n] = CT_APPLICATION_DATA;
		if (tls13_seal_inner(r, s, out, n + 1) != VL_OK)
			return VL_ERR_CRYPTO;
		out += n + VL_TLS13_OVERHEAD;
		in += n;
		len -= n;
	}
	/* §5.5: rekey well before AES-GCM's limit; the next take_control
	 * sends our KeyUpdate. */
	if (r->suite == VL_SUITE_X25519_AES128GCM_SHA256_ED25519 &&
	    r->write_seq >= VL_TLS13_GCM_SOFT_LIMIT)
		r->owed |= VL_TLS13_OWE_UPDATE;
	return VL_OK;
}

size_t vl_tls13_take_control(struct vl_tls13 *r, uint8_t *out)
{
	uint8_t want = r->owed & (VL_TLS13_OWE_REPLY | VL_TLS13_OWE_UPDATE | VL_TLS13_OWE_ASK);
	if (!want || r->failed || r->write_closed)
		return 0;
	const struct vl_suite *s = vl_suite_get(r->suite);
	if (!s || r->write_seq == UINT64_MAX) {
		tls13_write_fail(r);
		return 0;
	}
	/* §4.6.3: one KeyUpdate answers any number of requests, and a reply
	 * says update_not_requested; a request of our own (our read key's
	 * soft limit) then waits for the next call. */
	bool ask = (want & VL_TLS13_OWE_ASK) && !(want & VL_TLS13_OWE_REPLY);
	uint8_t *m = out + 5;
	m[0] = HS_KEY_UPDATE;
	m[1] = 0;
	m[2] = 0;
	m[3] = 1;
	m[4] = ask ? 1 : 0;
	m[5] = CT_HANDSHAKE;
	if (tls13_seal_inner(r, s, out, 6) != VL_OK)
		return 0;
	if (tls13_update(s, r->write_secret, r->write_key, r->write_iv) != VL_OK) {
		tls13_write_fail(r);
		return 0;
	}
	r->write_seq = 0;
	r->owed &= (uint8_t) ~(VL_TLS13_OWE_REPLY | VL_TLS13_OWE_UPDATE);
	if (ask)
		r->owed = (uint8_t)((r->owed & ~VL_TLS13_OWE_ASK) | VL_TLS13_ASKED);
	return 6 + VL_TLS13_OVERHEAD - 1;
}

size_t vl_tls13_seal_alert(struct vl_tls13 *r, uint8_t description, uint8_t *out)
{
	/* A failure on the read side leaves the write side able to say why
	 * (the alert in r->alert). */
	if (r->write_closed)
		return 0;
	const struct vl_suite *s = vl_suite_get(r->suite);
	if (!s || r->write_seq == UINT64_MAX)
		return 0;
	/* §6: closure alerts as warnings (what peers expect); every error
	 * alert is fatal in TLS 1.3. */
	bool closure = description == ALERT_CLOSE_NOTIFY || description == ALERT_USER_CANCELED;
	out[5] = closure ? 1 : 2;
	out[6] = description;
	out[7] = CT_ALERT;
	if (tls13_seal_inner(r, s, out, 3) != VL_OK)
		return 0;
	r->write_closed = true;
	return 3 + VL_TLS13_OVERHEAD - 1;
}

/* Marks r failed with the alert owed to the peer. */
static int tls13_fail(struct vl_tls13 *r, uint8_t alert)
{
	r->failed = true;
	r->alert = alert;
	r->hs_len = 0;
	vl_wipe(r->hs_part, sizeof r->hs_part);
	return VL_ERR_CRYPTO;
}

/* Post-handshake handshake bytes (§4.6): only KeyUpdate is acceptable from
 * a client we did not ask to authenticate. Messages may be fragmented over
 * records; a KeyUpdate must end its record (§5.1: messages preceding a key
 * change align with a record boundary). */
static int tls13_handshake(struct vl_tls13 *r, const struct vl_suite *s, const uint8_t *p, size_t n)
{
	if (n == 0) /* §5.1: no zero-length handshake fragments */
		return tls13_fail(r, ALERT_UNEXPECTED_MESSAGE);
	for (size_t i = 0; i < n; i++) {
		uint8_t b = p[i];
		switch (r->hs_len) {
		case 0:
			if (b != HS_KEY_UPDATE)
				return tls13_fail(r, ALERT_UNEXPECTED_MESSAGE);
			break;
		case 1:
		case 2:
		case 3:
			/* uint24 length: exactly 1 (KeyUpdateRequest) */
			if (b != (r->hs_len == 3 ? 1 : 0))
				return tls13_fail(r, ALERT_DECODE_ERROR);
			break;
		default: /* the request_update byte */
			if (b > 1)
				return tls13_fail(r, ALERT_ILLEGAL_PARAMETER);
			if (i + 1 != n)
				return tls13_fail(r, ALERT_UNEXPECTED_MESSAGE);
			r->hs_len = 0;
			vl_wipe(r->hs_part, sizeof r->hs_part);
			if (tls13_update(s, r->read_secret, r->read_key, r->read_iv) != VL_OK)
				return tls13_fail(r, ALERT_INTERNAL_ERROR);
			r->read_seq = 0;
			/* The peer's new key answers any request of ours. */
			r->owed &= (uint8_t) ~(VL_TLS13_OWE_ASK | VL_TLS13_ASKED);
			if (b == 1)
				r->owed |= VL_TLS13_OWE_REPLY;
			return VL_OK;
		}
		r->hs_part[r->hs_len++] = b;
	}
	return VL_OK;
}

int vl_tls13_open(struct vl_tls13 *r, uint8_t *buf, size_t len, size_t *consumed,
                  const uint8_t **plain, size_t *plain_len)
{
	*consumed = 0;
	*plain = NULL;
	*plain_len = 0;
	if (r->failed)
		return VL_ERR_CRYPTO;
	if (r->peer_closed)
		return VL_ERR_STATE;
	if (len < 5)
		return VL_ERR_AGAIN;
	/* Checked on the header alone, so that a bad record is refused
	 * before its body is waited for. §5: no plaintext record (alert,
	 * handshake, change_cipher_spec) is acceptable after the handshake. */
	if (buf[0] != CT_APPLICATION_DATA)
		return tls13_fail(r, ALERT_UNEXPECTED_MESSAGE);
	size_t ct_len = (size_t)buf[3] << 8 | buf[4];
	if (ct_len > CIPHERTEXT_MAX)
		return tls13_fail(r, ALERT_RECORD_OVERFLOW);
	if (len - 5 < ct_len)
		return VL_ERR_AGAIN;
	if (ct_len < VL_AEAD_TAG_LEN)
		return tls13_fail(r, ALERT_BAD_RECORD_MAC);
	size_t pt_len = ct_len - VL_AEAD_TAG_LEN;
	if (pt_len > INNER_MAX) /* §5.4 */
		return tls13_fail(r, ALERT_RECORD_OVERFLOW);
	const struct vl_suite *s = vl_suite_get(r->suite);
	if (!s)
		return tls13_fail(r, ALERT_INTERNAL_ERROR);
	if (r->read_seq == UINT64_MAX) /* §5.3: never wrap; the peer did not rekey */
		return tls13_fail(r, ALERT_UNEXPECTED_MESSAGE);
	uint8_t nonce[12];
	tls13_nonce(r->read_iv, r->read_seq, nonce);
	uint8_t *p = buf + 5;
	if (vl_aead_open(s, r->read_key, nonce, buf, 5, p, ct_len, p) != VL_OK)
		return tls13_fail(r, ALERT_BAD_RECORD_MAC);
	r->read_seq++;
	/* §5.4: the content type is the last non-zero byte; zeros after it
	 * are padding. An inner plaintext of zeros only has no type. */
	size_t n = pt_len;
	while (n > 0 && p[n - 1] == 0)
		n--;
	if (n == 0)
		return tls13_fail(r, ALERT_UNEXPECTED_MESSAGE);
	uint8_t type = p[--n];
	/* §5.1: a fragmented handshake message may not be interleaved with
	 * records of another type. */
	if (r->hs_len && type != CT_HANDSHAKE)
		return tls13_fail(r, ALERT_UNEXPECTED_MESSAGE);
	switch (type) {
	case CT_APPLICATION_DATA:
		*plain = p;
		*plain_len = n;
		break;
	case CT_HANDSHAKE:
		if (tls13_handshake(r, s, p, n) != VL_OK)
			return VL_ERR_CRYPTO;
		break;
	case CT_ALERT:
		/* §6: one alert per record, never fragmented. */
		if (n != 2)
			return tls13_fail(r, ALERT_DECODE_ERROR);
		if (p[1] == ALERT_CLOSE_NOTIFY) {
			r->peer_closed = true;
			*consumed = 5 + ct_len;
			return VL_ERR_STATE;
		}
		/* §6.1: user_canceled is a closure alert, normally followed
		 * by close_notify; every other alert is an error (§6.2). */
		if (p[1] != ALERT_USER_CANCELED)
			return tls13_fail(r, ALERT_NONE);
		break;
	default:
		return tls13_fail(r, ALERT_UNEXPECTED_MESSAGE);
	}
	/* §5.5: past AES-GCM's soft limit on the peer's key, ask once for
	 * its KeyUpdate (take_control sends the request). */
	if (r->suite == VL_SUITE_X25519_AES128GCM_SHA256_ED25519 &&
	    r->read_seq >= VL_TLS13_GCM_SOFT_LIMIT && !(r->owed & VL_TLS13_ASKED))
		r->owed |= VL_TLS13_OWE_ASK;
	*consumed = 5 + ct_len;
	return VL_OK;
}

/* --- server context and handshake ---------------------------------------- */

struct vl_tls13_ctx {
	SSL_CTX *ssl_ctx;
};

struct vl_tls13_hs {
	SSL *ssl;
	BIO *rbio, *wbio; /* owned by ssl */
	bool done, failed;
	bool have_client, have_server;
	uint8_t client_secret[VL_TLS13_SECRET_LEN];
	uint8_t server_secret[VL_TLS13_SECRET_LEN];
};

static int hs_ex_index = -1;
static pthread_once_t hs_ex_once = PTHREAD_ONCE_INIT;

static void hs_ex_init(void)
{
	hs_ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Exactly 2 * len hex digits into out; false otherwise. */
static bool hex_exact(const char *hex, size_t hex_len, uint8_t *out, size_t len)
{
	if (hex_len != 2 * len)
		return false;
	for (size_t i = 0; i < len; i++) {
		int hi = hex_nibble(hex[2 * i]), lo = hex_nibble(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

/* The key log callback (design note 3). A line is "LABEL <client random:
 * 64 hex> <secret: 64 hex for SHA-256>"; only the two application secrets
 * are kept, and only when the client random is this SSL's. A malformed
 * line is dropped, so finish then fails for lack of the secret. */
static void tls13_keylog(const SSL *ssl, const char *line)
{
	struct vl_tls13_hs *hs = hs_ex_index >= 0 ? SSL_get_ex_data(ssl, hs_ex_index) : NULL;
	if (!hs)
		return;
	static const char client_label[] = "CLIENT_TRAFFIC_SECRET_0 ";
	static const char server_label[] = "SERVER_TRAFFIC_SECRET_0 ";
	uint8_t *dst;
	bool *have;
	const char *p;
	if (strncmp(line, client_label, sizeof client_label - 1) == 0) {
		dst = hs->client_secret;
		have = &hs->have_client;
		p = line + sizeof client_label - 1;
	} else if (strncmp(line, server_label, sizeof server_label - 1) == 0) {
		dst = hs->server_secret;
		have = &hs->have_server;
		p = line + sizeof server_label - 1;
	} else {
		return;
	}
	uint8_t random[SSL3_RANDOM_SIZE], expected[SSL3_RANDOM_SIZE];
	const char *sp = strchr(p, ' ');
	if (!sp || !hex_exact(p, (size_t)(sp - p), random, sizeof random) ||
	    SSL_get_client_random(ssl, expected, sizeof expected) != sizeof expected ||
	    memcmp(random, expected, sizeof random) != 0)
		return;
	uint8_t secret[VL_TLS13_SECRET_LEN];
	if (hex_exact(sp + 1, strlen(sp + 1), secret, sizeof secret)) {
		memcpy(dst, secret, sizeof secret);
		*have = true;
	}
	vl_wipe(secret, sizeof secret);
}

/* ALPN (RFC 7301 §3.2): "http/1.1" if offered; a client that offers only
 * other protocols gets no_application_protocol. */
static int tls13_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                      const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	static const unsigned char http11[] = "http/1.1";
	for (unsigned int i = 0; i < inlen;) {
		unsigned int n = in[i];
		if (n > inlen - i - 1)
			break;
		if (n == sizeof http11 - 1 && memcmp(in + i + 1, http11, n) == 0) {
			*out = in + i + 1;
			*outlen = (unsigned char)n;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + n;
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static bool file_readable(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return false;
	fclose(f);
	return true;
}

int vl_tls13_ctx_new(const char *cert_file, const char *key_file, struct vl_tls13_ctx **out)
{
	*out = NULL;
	if (!file_readable(cert_file) || !file_readable(key_file))
		return VL_ERR_IO;
	pthread_once(&hs_ex_once, hs_ex_init);
	if (hs_ex_index < 0)
		return VL_ERR_CRYPTO;
	struct vl_tls13_ctx *c = calloc(1, sizeof *c);
	if (!c)
		return VL_ERR_NOMEM;
	int rc = VL_ERR_CRYPTO;
	SSL_CTX *ctx = c->ssl_ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		goto cleanup;
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256") ||
	    !SSL_CTX_set_num_tickets(ctx, 0) || !SSL_CTX_set_max_early_data(ctx, 0) ||
	    !SSL_CTX_set_recv_max_early_data(ctx, 0))
		goto cleanup;
	/* AES-128-GCM first, unless the client puts ChaCha20 first (a client
	 * without AES instructions does). */
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION |
	                             SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	                             SSL_OP_PRIORITIZE_CHACHA);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* Design note 1: no read-ahead (the default, made explicit). */
	SSL_CTX_set_read_ahead(ctx, 0);
	SSL_CTX_set_keylog_callback(ctx, tls13_keylog);
	SSL_CTX_set_alpn_select_cb(ctx, tls13_alpn, NULL);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		goto cleanup;
	*out = c;
	c = NULL;
	rc = VL_OK;
cleanup:
	ERR_clear_error(); /* no detail leaves this module */
	vl_tls13_ctx_free(c);
	return rc;
}

void vl_tls13_ctx_free(struct vl_tls13_ctx *c)
{
	if (!c)
		return;
	SSL_CTX_free(c->ssl_ctx);
	free(c);
}

int vl_tls13_hs_new(struct vl_tls13_ctx *c, struct vl_tls13_hs **out)
{
	*out = NULL;
	struct vl_tls13_hs *hs = calloc(1, sizeof *hs);
	if (!hs)
		return VL_ERR_NOMEM;
	hs->ssl = SSL_new(c->ssl_ctx);
	hs->rbio = BIO_new(BIO_s_mem());
	hs->wbio = BIO_new(BIO_s_mem());
	if (!hs->ssl || !hs->rbio || !hs->wbio || !SSL_set_ex_data(hs->ssl, hs_ex_index, hs)) {
		BIO_free(hs->rbio);
		BIO_free(hs->wbio);
		SSL_free(hs->ssl);
		free(hs);
		ERR_clear_error();
		return VL_ERR_CRYPTO;
	}
	/* An empty memory BIO reads as "retry", which OpenSSL reports as
	 * SSL_ERROR_WANT_READ. */
	BIO_set_mem_eof_return(hs->rbio, -1);
	SSL_set_bio(hs->ssl, hs->rbio, hs->wbio);
	SSL_set_accept_state(hs->ssl);
	*out = hs;
	return VL_OK;
}

void vl_tls13_hs_free(struct vl_tls13_hs *hs)
{
	if (!hs)
		return;
	SSL_free(hs->ssl); /* frees both BIOs */
	vl_wipe(hs, sizeof *hs);
	free(hs);
}

/* Appends len bytes to the read BIO, which takes at most INT_MAX at once. */
static bool hs_feed(struct vl_tls13_hs *hs, const uint8_t *in, size_t len)
{
	while (len) {
		int n = len > INT_MAX ? INT_MAX : (int)len;
		if (BIO_write(hs->rbio, in, n) != n)
			return false;
		in += n;
		len -= (size_t)n;
	}
	return true;
}

int vl_tls13_hs_input(struct vl_tls13_hs *hs, const uint8_t *in, size_t len, const uint8_t **out,
                      size_t *out_len)
{
	*out = NULL;
	*out_len = 0;
	if (hs->failed)
		return VL_ERR_CRYPTO;
	/* The previous call's output has been sent by now. */
	(void)BIO_reset(hs->wbio);
	if (hs->done) {
		size_t pending = (size_t)BIO_ctrl_pending(hs->rbio);
		if (pending > VL_TLS13_HS_REST_MAX || len > VL_TLS13_HS_REST_MAX - pending)
			return VL_ERR_LIMIT;
		if (!hs_feed(hs, in, len)) {
			hs->failed = true;
			ERR_clear_error();
			return VL_ERR_CRYPTO;
		}
		return VL_OK;
	}
	int rc;
	if (!hs_feed(hs, in, len)) {
		rc = VL_ERR_CRYPTO;
	} else {
		int r = SSL_do_handshake(hs->ssl);
		if (r == 1) {
			hs->done = true;
			rc = VL_OK;
		} else if (SSL_get_error(hs->ssl, r) == SSL_ERROR_WANT_READ) {
			rc = VL_ERR_AGAIN;
		} else {
			rc = VL_ERR_CRYPTO;
		}
	}
	if (rc == VL_ERR_CRYPTO)
		hs->failed = true;
	ERR_clear_error();
	char *data = NULL;
	long n = BIO_get_mem_data(hs->wbio, &data);
	if (n > 0 && data) {
		*out = (const uint8_t *)data;
		*out_len = (size_t)n;
	}
	if (rc == VL_OK && BIO_ctrl_pending(hs->rbio) > VL_TLS13_HS_REST_MAX)
		return VL_ERR_LIMIT;
	return rc;
}

const char *vl_tls13_hs_alpn(const struct vl_tls13_hs *hs)
{
	const unsigned char *p = NULL;
	unsigned int n = 0;
	SSL_get0_alpn_selected(hs->ssl, &p, &n);
	return n == 8 && memcmp(p, "http/1.1", 8) == 0 ? "http/1.1" : NULL;
}

int vl_tls13_hs_finish(struct vl_tls13_hs *hs, struct vl_tls13 *rec, uint8_t **rest,
                       size_t *rest_len)
{
	*rest = NULL;
	*rest_len = 0;
	memset(rec, 0, sizeof *rec);
	int rc = VL_ERR_STATE;
	if (!hs->done || hs->failed || !SSL_is_init_finished(hs->ssl))
		goto cleanup;
	rc = VL_ERR_CRYPTO;
	const SSL_CIPHER *cipher = SSL_get_current_cipher(hs->ssl);
	/* Design note 1: a record OpenSSL took from the BIO but did not
	 * process would be lost, and the sequence numbers wrong. */
	if (SSL_version(hs->ssl) != TLS1_3_VERSION || !cipher || SSL_has_pending(hs->ssl) ||
	    SSL_pending(hs->ssl) || !hs->have_client || !hs->have_server)
		goto cleanup;
	/* Design note 3: the server's secret is ours to write with, the
	 * client's is the peer's. */
	rc = vl_tls13_init(rec, SSL_CIPHER_get_protocol_id(cipher), hs->client_secret,
	                   hs->server_secret);
	if (rc != VL_OK) {
		rc = VL_ERR_CRYPTO;
		goto cleanup;
	}
	size_t pending = (size_t)BIO_ctrl_pending(hs->rbio);
	if (pending) {
		uint8_t *buf = malloc(pending);
		if (!buf) {
			rc = VL_ERR_NOMEM;
			goto cleanup;
		}
		if (BIO_read(hs->rbio, buf, (int)pending) != (int)pending) {
			free(buf);
			rc = VL_ERR_CRYPTO;
			goto cleanup;
		}
		*rest = buf;
		*rest_len = pending;
	}
	rc = VL_OK;
cleanup:
	if (rc != VL_OK)
		vl_tls13_wipe(rec);
	ERR_clear_error();
	vl_tls13_hs_free(hs);
	return rc;
}
