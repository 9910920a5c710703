/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the TLS 1.3 handshake driver and record layer
 * (src/server/tls13.h) against a real OpenSSL client on memory BIOs: the
 * handshake in any split, application data both ways in both cipher
 * suites, data sent with the client's Finished, KeyUpdate either way,
 * close_notify, tampered, oversized and incomplete records, a refused
 * client, the key usage limits, and the record parser's edge cases through
 * a second record state holding the client's keys, and the record layer
 * against the published trace of RFC 8448 §3. The certificate is made at
 * start in a temporary folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "crypto/crypto.h"
#include "server/tls13.h"
#include "testutil.h"

static const char *const SUITE_NAMES[] = {"TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256"};
static const uint16_t SUITE_IDS[] = {VL_TLS13_AES_128_GCM_SHA256,
                                     VL_TLS13_CHACHA20_POLY1305_SHA256};

/* --- fixture: a self-signed certificate and the server context -------------------- */

static struct {
	char dir[64];
	char cert[128], key[128];
	X509 *x509;
	struct vl_tls13_ctx *ctx;
} G;

static void write_cert(void)
{
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(pk);
	X509 *x = X509_new();
	assert_non_null(x);
	assert_true(X509_set_version(x, 2));
	assert_true(ASN1_INTEGER_set(X509_get_serialNumber(x), 1));
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -60));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	assert_true(X509_set_pubkey(x, pk));
	X509_NAME *name = X509_get_subject_name(x);
	assert_true(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	                                       (const unsigned char *)"localhost", -1, -1, 0));
	assert_true(X509_set_issuer_name(x, name));
	assert_true(X509_sign(x, pk, EVP_sha256()) > 0);
	FILE *f = fopen(G.cert, "w");
	assert_non_null(f);
	assert_true(PEM_write_X509(f, x));
	fclose(f);
	f = fopen(G.key, "w");
	assert_non_null(f);
	assert_true(PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL));
	fclose(f);
	EVP_PKEY_free(pk);
	G.x509 = x;
}

static int group_setup(void **state)
{
	(void)state;
	strcpy(G.dir, "/tmp/vl_tls_XXXXXX");
	if (!mkdtemp(G.dir))
		return -1;
	snprintf(G.cert, sizeof G.cert, "%s/cert.pem", G.dir);
	snprintf(G.key, sizeof G.key, "%s/key.pem", G.dir);
	write_cert();
	return vl_tls13_ctx_new(G.cert, G.key, &G.ctx) == VL_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	vl_tls13_ctx_free(G.ctx);
	X509_free(G.x509);
	remove(G.cert);
	remove(G.key);
	remove(G.dir);
	return 0;
}

/* --- the OpenSSL client ------------------------------------------------------------ */

struct client {
	SSL_CTX *ctx;
	SSL *ssl;
	BIO *rbio, *wbio;
};

struct client_opts {
	const char *suites; /* NULL: OpenSSL's default TLS 1.3 list */
	int max_version;    /* 0: TLS 1.3 */
	const char *alpn;   /* wire-format ALPN list; NULL: "http/1.1" */
	size_t alpn_len;
	bool no_alpn;
};

static void client_new(struct client *c, const struct client_opts *o)
{
	c->ctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(c->ctx);
	int maxv = o && o->max_version ? o->max_version : TLS1_3_VERSION;
	assert_true(SSL_CTX_set_min_proto_version(c->ctx, maxv == TLS1_3_VERSION ? TLS1_3_VERSION
	                                                                         : TLS1_2_VERSION));
	assert_true(SSL_CTX_set_max_proto_version(c->ctx, maxv));
	if (o && o->suites)
		assert_true(SSL_CTX_set_ciphersuites(c->ctx, o->suites));
	assert_true(X509_STORE_add_cert(SSL_CTX_get_cert_store(c->ctx), G.x509));
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	c->ssl = SSL_new(c->ctx);
	assert_non_null(c->ssl);
	assert_true(SSL_set1_host(c->ssl, "localhost"));
	if (!(o && o->no_alpn)) {
		static const unsigned char http11[] = "\x08http/1.1";
		const unsigned char *alpn = o && o->alpn ? (const unsigned char *)o->alpn : http11;
		size_t alpn_len = o && o->alpn ? o->alpn_len : sizeof http11 - 1;
		assert_int_equal(SSL_set_alpn_protos(c->ssl, alpn, (unsigned)alpn_len), 0);
	}
	c->rbio = BIO_new(BIO_s_mem());
	c->wbio = BIO_new(BIO_s_mem());
	assert_non_null(c->rbio);
	assert_non_null(c->wbio);
	BIO_set_mem_eof_return(c->rbio, -1);
	SSL_set_bio(c->ssl, c->rbio, c->wbio);
	SSL_set_connect_state(c->ssl);
}

static void client_free(struct client *c)
{
	SSL_free(c->ssl);
	SSL_CTX_free(c->ctx);
	ERR_clear_error();
}

/* Everything the client has written so far (heap; free()). */
static uint8_t *client_take(struct client *c, size_t *len)
{
	size_t n = (size_t)BIO_ctrl_pending(c->wbio);
	uint8_t *buf = malloc(n ? n : 1);
	assert_non_null(buf);
	if (n)
		assert_int_equal(BIO_read(c->wbio, buf, (int)n), (int)n);
	*len = n;
	return buf;
}

static void client_give(struct client *c, const uint8_t *p, size_t n)
{
	if (n)
		assert_int_equal(BIO_write(c->rbio, p, (int)n), (int)n);
}

static void client_write(struct client *c, const uint8_t *p, size_t n)
{
	size_t written = 0;
	assert_int_equal(SSL_write_ex(c->ssl, p, n, &written), 1);
	assert_int_equal(written, n);
}

/* Reads exactly n bytes of application data from what the client got. */
static void client_read_exact(struct client *c, uint8_t *p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		size_t k = 0;
		int r = SSL_read_ex(c->ssl, p + got, n - got, &k);
		assert_int_equal(r, 1);
		got += k;
	}
	/* and nothing more */
	uint8_t extra;
	size_t k = 0;
	assert_int_equal(SSL_read_ex(c->ssl, &extra, 1, &k), 0);
	assert_int_equal(SSL_get_error(c->ssl, 0), SSL_ERROR_WANT_READ);
	ERR_clear_error();
}

/* --- the handshake pump ------------------------------------------------------------ */

static uint32_t rng_state = 12345;

static size_t rng_next(size_t max)
{
	rng_state = rng_state * 1103515245u + 12345u;
	return 1 + (rng_state >> 8) % max;
}

struct pump {
	size_t split_max;     /* 0: each flight in one call; 1: byte by byte; else random pieces */
	const uint8_t *early; /* application data the client sends right behind its Finished */
	size_t early_len;
};

/* Runs the handshake. Returns the server's last status; on VL_OK *hs is
 * the completed handshake (not yet finished). */
static int run_handshake(struct client *c, const struct pump *p, struct vl_tls13_hs **hs_out)
{
	struct vl_tls13_hs *hs;
	assert_int_equal(vl_tls13_hs_new(G.ctx, &hs), VL_OK);
	int rc = VL_ERR_AGAIN;
	bool client_done = false, early_sent = false;
	for (int round = 0; round < 20; round++) {
		if (!client_done) {
			int r = SSL_do_handshake(c->ssl);
			if (r == 1)
				client_done = true;
			else
				assert_int_equal(SSL_get_error(c->ssl, r), SSL_ERROR_WANT_READ);
		}
		if (client_done && p && p->early_len && !early_sent) {
			client_write(c, p->early, p->early_len);
			early_sent = true;
		}
		size_t n;
		uint8_t *buf = client_take(c, &n);
		size_t off = 0;
		do {
			size_t k = n - off;
			if (p && p->split_max == 1)
				k = k ? 1 : 0;
			else if (p && p->split_max > 1 && k)
				k = rng_next(p->split_max < k ? p->split_max : k);
			const uint8_t *out;
			size_t out_len;
			rc = vl_tls13_hs_input(hs, buf + off, k, &out, &out_len);
			client_give(c, out, out_len);
			off += k;
			if (rc == VL_ERR_CRYPTO)
				break;
			assert_true(rc == VL_OK || rc == VL_ERR_AGAIN);
		} while (off < n);
		free(buf);
		if (rc == VL_ERR_CRYPTO) {
			vl_tls13_hs_free(hs);
			return rc;
		}
		if (rc == VL_OK && client_done && (!p || !p->early_len || early_sent))
			break;
	}
	assert_int_equal(rc, VL_OK);
	*hs_out = hs;
	return rc;
}

/* A connection: handshake then finish; *rest as finish gave it. */
static void connect_ok(struct client *c, const struct client_opts *o, const struct pump *p,
                       struct vl_tls13 *rec, uint8_t **rest, size_t *rest_len)
{
	client_new(c, o);
	struct vl_tls13_hs *hs = NULL;
	assert_int_equal(run_handshake(c, p, &hs), VL_OK);
	assert_string_equal(vl_tls13_hs_alpn(hs), "http/1.1");
	assert_int_equal(vl_tls13_hs_finish(hs, rec, rest, rest_len), VL_OK);
	assert_int_equal(SSL_version(c->ssl), TLS1_3_VERSION);
	assert_int_equal(SSL_get_verify_result(c->ssl), X509_V_OK);
}

/* Opens every whole record of buf; the application data goes to got. */
static size_t server_read_all(struct vl_tls13 *r, uint8_t *buf, size_t len, uint8_t *got,
                              size_t cap, size_t *records)
{
	size_t off = 0, n = 0;
	*records = 0;
	while (off < len) {
		size_t used;
		const uint8_t *pl;
		size_t pl_len;
		assert_int_equal(vl_tls13_open(r, buf + off, len - off, &used, &pl, &pl_len),
		                 VL_OK);
		assert_true(used > 0 && used <= len - off);
		assert_true(n + pl_len <= cap);
		if (pl_len)
			memcpy(got + n, pl, pl_len);
		n += pl_len;
		off += used;
		(*records)++;
	}
	return n;
}

static uint8_t *pattern(size_t n, uint8_t seed)
{
	uint8_t *p = malloc(n ? n : 1);
	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31 + seed + (i >> 8));
	return p;
}

/* client -> server: n bytes through SSL_write and vl_tls13_open. */
static void send_client_to_server(struct client *c, struct vl_tls13 *rec, size_t n)
{
	uint8_t *data = pattern(n, 7);
	client_write(c, data, n);
	size_t len, records;
	uint8_t *wire = client_take(c, &len);
	uint8_t *got = malloc(n ? n : 1);
	assert_non_null(got);
	assert_int_equal(server_read_all(rec, wire, len, got, n, &records), n);
	assert_memory_equal(got, data, n);
	free(got);
	free(wire);
	free(data);
}

/* server -> client: n bytes through vl_tls13_seal and SSL_read. */
static void send_server_to_client(struct client *c, struct vl_tls13 *rec, size_t n)
{
	uint8_t *data = pattern(n, 11);
	size_t sealed = vl_tls13_sealed_len(n);
	uint8_t *wire = malloc(sealed ? sealed : 1);
	uint8_t *got = malloc(n ? n : 1);
	assert_non_null(wire);
	assert_non_null(got);
	uint8_t ctl[VL_TLS13_CONTROL_MAX];
	assert_int_equal(vl_tls13_take_control(rec, ctl), 0);
	assert_int_equal(vl_tls13_seal(rec, data, n, wire), VL_OK);
	client_give(c, wire, sealed);
	client_read_exact(c, got, n);
	assert_memory_equal(got, data, n);
	free(got);
	free(wire);
	free(data);
}

/* --- tests --------------------------------------------------------------------------- */

static void test_sealed_len(void **state)
{
	(void)state;
	assert_int_equal(vl_tls13_sealed_len(0), 0);
	assert_int_equal(vl_tls13_sealed_len(1), 1 + 22);
	assert_int_equal(vl_tls13_sealed_len(16384), 16384 + 22);
	assert_int_equal(vl_tls13_sealed_len(16385), 16385 + 44);
	assert_int_equal(vl_tls13_sealed_len(100000), 100000 + 7 * 22);
	assert_true(sizeof(struct vl_tls13) <= 192);
	print_message("sizeof(struct vl_tls13) = %zu\n", sizeof(struct vl_tls13));
}

static void test_handshake_splits(void **state)
{
	(void)state;
	const size_t splits[] = {0, 1, 7, 300};
	for (size_t s = 0; s < 2; s++) {
		for (size_t i = 0; i < sizeof splits / sizeof splits[0]; i++) {
			struct client c;
			struct client_opts o = {.suites = SUITE_NAMES[s]};
			struct pump p = {.split_max = splits[i]};
			struct vl_tls13 rec;
			uint8_t *rest;
			size_t rest_len;
			connect_ok(&c, &o, &p, &rec, &rest, &rest_len);
			assert_null(rest);
			assert_int_equal(rest_len, 0);
			assert_int_equal(SSL_CIPHER_get_protocol_id(SSL_get_current_cipher(c.ssl)),
			                 SUITE_IDS[s]);
			assert_int_equal(rec.read_seq, 0);
			assert_int_equal(rec.write_seq, 0);
			send_client_to_server(&c, &rec, 1);
			send_server_to_client(&c, &rec, 1);
			vl_tls13_wipe(&rec);
			client_free(&c);
		}
	}
}

static void test_data_both_ways(void **state)
{
	(void)state;
	const size_t sizes[] = {0, 1, 16384, 16385, 100000};
	for (size_t s = 0; s < 2; s++) {
		struct client c;
		struct client_opts o = {.suites = SUITE_NAMES[s]};
		struct vl_tls13 rec;
		uint8_t *rest;
		size_t rest_len;
		connect_ok(&c, &o, NULL, &rec, &rest, &rest_len);
		for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
			if (sizes[i]) /* SSL_write sends no record for 0 bytes */
				send_client_to_server(&c, &rec, sizes[i]);
			send_server_to_client(&c, &rec, sizes[i]);
		}
		/* 1 + 2 + 7 records of data each way after the empty ones */
		assert_int_equal(rec.write_seq, 1 + 1 + 2 + 7);
		assert_int_equal(rec.read_seq, 1 + 1 + 2 + 7);
		vl_tls13_wipe(&rec);
		client_free(&c);
	}
}

static void test_data_with_finished(void **state)
{
	(void)state;
	const size_t splits[] = {0, 1, 50};
	for (size_t s = 0; s < 2; s++) {
		for (size_t i = 0; i < 3; i++) {
			uint8_t *early = pattern(20000, 3);
			struct client c;
			struct client_opts o = {.suites = SUITE_NAMES[s]};
			struct pump p = {
			    .split_max = splits[i], .early = early, .early_len = 20000};
			struct vl_tls13 rec;
			uint8_t *rest;
			size_t rest_len;
			connect_ok(&c, &o, &p, &rec, &rest, &rest_len);
			assert_non_null(rest);
			assert_int_equal(rest_len, vl_tls13_sealed_len(20000));
			uint8_t *got = malloc(20000);
			assert_non_null(got);
			size_t records;
			assert_int_equal(
			    server_read_all(&rec, rest, rest_len, got, 20000, &records), 20000);
			assert_int_equal(records, 2);
			assert_memory_equal(got, early, 20000);
			send_server_to_client(&c, &rec, 5);
			free(got);
			free(rest);
			free(early);
			vl_tls13_wipe(&rec);
			client_free(&c);
		}
	}
}

static void key_update(int type)
{
	for (size_t s = 0; s < 2; s++) {
		struct client c;
		struct client_opts o = {.suites = SUITE_NAMES[s]};
		struct vl_tls13 rec;
		uint8_t *rest;
		size_t rest_len;
		connect_ok(&c, &o, NULL, &rec, &rest, &rest_len);
		send_client_to_server(&c, &rec, 100);
		send_server_to_client(&c, &rec, 100);
		uint8_t old_read[32], old_write[32];
		memcpy(old_read, rec.read_secret, 32);
		memcpy(old_write, rec.write_secret, 32);

		/* The client's KeyUpdate goes out with its next write. */
		assert_int_equal(SSL_key_update(c.ssl, type), 1);
		uint8_t *data = pattern(300, 5);
		client_write(&c, data, 300);
		size_t len;
		uint8_t *wire = client_take(&c, &len);
		size_t used, pl_len;
		const uint8_t *pl;
		assert_int_equal(vl_tls13_open(&rec, wire, len, &used, &pl, &pl_len), VL_OK);
		assert_int_equal(pl_len, 0); /* the KeyUpdate */
		assert_int_equal(used, 5 + 5 + 1 + 16);
		assert_memory_not_equal(rec.read_secret, old_read, 32);
		assert_int_equal(rec.read_seq, 0);
		assert_int_equal(vl_tls13_open(&rec, wire + used, len - used, &used, &pl, &pl_len),
		                 VL_OK);
		assert_int_equal(pl_len, 300);
		assert_memory_equal(pl, data, 300);
		free(wire);

		uint8_t ctl[VL_TLS13_CONTROL_MAX];
		size_t n;
		if (type == SSL_KEY_UPDATE_REQUESTED) {
			/* §4.6.3: our reply must precede our next data. */
			uint8_t tmp[64];
			assert_int_equal(vl_tls13_seal(&rec, data, 1, tmp), VL_ERR_STATE);
			n = vl_tls13_take_control(&rec, ctl);
			assert_int_equal(n, 5 + 5 + 1 + 16);
			assert_memory_not_equal(rec.write_secret, old_write, 32);
			assert_int_equal(rec.write_seq, 0);
			client_give(&c, ctl, n);
		} else {
			assert_int_equal(vl_tls13_take_control(&rec, ctl), 0);
			assert_memory_equal(rec.write_secret, old_write, 32);
		}
		assert_int_equal(vl_tls13_take_control(&rec, ctl), 0);
		/* The client reads our data (after our KeyUpdate, if any). */
		send_server_to_client(&c, &rec, 16385);
		send_client_to_server(&c, &rec, 40000);
		free(data);
		vl_tls13_wipe(&rec);
		client_free(&c);
	}
}

static void test_key_update_not_requested(void **state)
{
	(void)state;
	key_update(SSL_KEY_UPDATE_NOT_REQUESTED);
}

static void test_key_update_requested(void **state)
{
	(void)state;
	key_update(SSL_KEY_UPDATE_REQUESTED);
}

static void test_close_notify(void **state)
{
	(void)state;
	struct client c;
	struct vl_tls13 rec;
	uint8_t *rest;
	size_t rest_len;
	connect_ok(&c, NULL, NULL, &rec, &rest, &rest_len);
	send_client_to_server(&c, &rec, 10);
	assert_int_equal(SSL_shutdown(c.ssl), 0); /* sent; the peer's not yet received */
	size_t len;
	uint8_t *wire = client_take(&c, &len);
	size_t used, pl_len;
	const uint8_t *pl;
	assert_int_equal(vl_tls13_open(&rec, wire, len, &used, &pl, &pl_len), VL_ERR_STATE);
	assert_true(rec.peer_closed);
	assert_int_equal(used, len);
	assert_null(pl);
	/* Anything after close_notify is ignored. */
	assert_int_equal(vl_tls13_open(&rec, wire, len, &used, &pl, &pl_len), VL_ERR_STATE);
	assert_int_equal(used, 0);
	free(wire);
	/* We may still write, then close our side. */
	send_server_to_client(&c, &rec, 3);
	uint8_t alert[VL_TLS13_CONTROL_MAX];
	size_t n = vl_tls13_seal_alert(&rec, 0, alert);
	assert_int_equal(n, 5 + 2 + 1 + 16);
	client_give(&c, alert, n);
	uint8_t b;
	size_t k;
	assert_int_equal(SSL_read_ex(c.ssl, &b, 1, &k), 0);
	assert_int_equal(SSL_get_error(c.ssl, 0), SSL_ERROR_ZERO_RETURN);
	assert_int_equal(SSL_shutdown(c.ssl), 1);
	assert_int_equal(vl_tls13_seal(&rec, &b, 1, alert), VL_ERR_STATE);
	assert_int_equal(vl_tls13_seal_alert(&rec, 0, alert), 0);
	vl_tls13_wipe(&rec);
	client_free(&c);
}

static void test_tampered_record(void **state)
{
	(void)state;
	const size_t positions[] = {0 + 3, 5, 5 + 50, 5 + 100 + 1 + 15}; /* header, body, tag */
	for (size_t i = 0; i < 4; i++) {
		struct client c;
		struct vl_tls13 rec;
		uint8_t *rest;
		size_t rest_len;
		connect_ok(&c, NULL, NULL, &rec, &rest, &rest_len);
		uint8_t *data = pattern(100, 1);
		client_write(&c, data, 100);
		size_t len;
		uint8_t *wire = client_take(&c, &len);
		assert_int_equal(len, 100 + 22);
		size_t pos = positions[i];
		if (pos == 3) {
			wire[4] ^= 0x01; /* length 121: a shorter record than sent */
			len--;
		} else {
			wire[pos] ^= 0x20;
		}
		size_t used, pl_len;
		const uint8_t *pl;
		assert_int_equal(vl_tls13_open(&rec, wire, len, &used, &pl, &pl_len),
		                 VL_ERR_CRYPTO);
		assert_true(rec.failed);
		assert_int_equal(rec.alert, 20); /* bad_record_mac */
		assert_null(pl);
		assert_int_equal(pl_len, 0);
		/* sticky */
		assert_int_equal(vl_tls13_open(&rec, wire, len, &used, &pl, &pl_len),
		                 VL_ERR_CRYPTO);
		assert_int_equal(used, 0);
		uint8_t out[64];
		assert_int_equal(vl_tls13_seal(&rec, data, 1, out), VL_ERR_STATE);
		free(wire);
		free(data);
		vl_tls13_wipe(&rec);
		client_free(&c);
	}
}

static void test_oversized_record(void **state)
{
	(void)state;
	struct client c;
	struct vl_tls13 rec;
	uint8_t *rest;
	size_t rest_len;
	connect_ok(&c, NULL, NULL, &rec, &rest, &rest_len);
	/* 2^14 + 257 bytes of ciphertext: refused on the header alone. */
	uint8_t hdr[5] = {23, 3, 3, (16384 + 257) >> 8, (16384 + 257) & 0xff};
	size_t used, pl_len;
	const uint8_t *pl;
	assert_int_equal(vl_tls13_open(&rec, hdr, 5, &used, &pl, &pl_len), VL_ERR_CRYPTO);
	assert_int_equal(rec.alert, 22); /* record_overflow */
	assert_int_equal(used, 0);
	vl_tls13_wipe(&rec);
	client_free(&c);

	/* The largest length accepted, with a body of garbage: the tag fails. */
	connect_ok(&c, NULL, NULL, &rec, &rest, &rest_len);
	uint8_t *big = calloc(1, VL_TLS13_RECORD_MAX);
	assert_non_null(big);
	memcpy(big, (uint8_t[]){23, 3, 3, (16384 + 256) >> 8, (16384 + 256) & 0xff}, 5);
	assert_int_equal(vl_tls13_open(&rec, big, VL_TLS13_RECORD_MAX - 1, &used, &pl, &pl_len),
	                 VL_ERR_AGAIN);
	assert_int_equal(vl_tls13_open(&rec, big, VL_TLS13_RECORD_MAX, &used, &pl, &pl_len),
	                 VL_ERR_CRYPTO);
	assert_int_equal(rec.alert, 22); /* inner plaintext over 2^14 + 1 (§5.4) */
	free(big);
	vl_tls13_wipe(&rec);
	client_free(&c);

	/* A plaintext record after the handshake. */
	connect_ok(&c, NULL, NULL, &rec, &rest, &rest_len);
	uint8_t plain_alert[7] = {21, 3, 3, 0, 2, 2, 40};
	assert_int_equal(vl_tls13_open(&rec, plain_alert, 7, &used, &pl, &pl_len), VL_ERR_CRYPTO);
	assert_int_equal(rec.alert, 10); /* unexpected_message */
	vl_tls13_wipe(&rec);
	client_free(&c);
}

static void test_incomplete_record(void **state)
{
	(void)state;
	struct client c;
	struct vl_tls13 rec;
	uint8_t *rest;
	size_t rest_len;
	connect_ok(&c, NULL, NULL, &rec, &rest, &rest_len);
	uint8_t *data = pattern(1000, 2);
	client_write(&c, data, 1000);
	size_t len;
	uint8_t *wire = client_take(&c, &len);
	uint8_t *copy = malloc(len);
	assert_non_null(copy);
	memcpy(copy, wire, len);
	struct vl_tls13 before = rec;
	size_t used = 99, pl_len;
	const uint8_t *pl;
	const size_t cuts[] = {0, 1, 4, 5, 6, 500, len - 1};
	for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
		assert_int_equal(vl_tls13_open(&rec, wire, cuts[i], &used, &pl, &pl_len),
		                 VL_ERR_AGAIN);
		assert_int_equal(used, 0);
		assert_memory_equal(&rec, &before, sizeof rec);
		assert_memory_equal(wire, copy, len);
	}
	assert_int_equal(vl_tls13_open(&rec, wire, len, &used, &pl, &pl_len), VL_OK);
	assert_int_equal(used, len);
	assert_int_equal(pl_len, 1000);
	assert_memory_equal(pl, data, 1000);
	free(copy);
	free(wire);
	free(data);
	vl_tls13_wipe(&rec);
	client_free(&c);
}

static void test_tls12_client_refused(void **state)
{
	(void)state;
	struct client c;
	struct client_opts o = {.max_version = TLS1_2_VERSION};
	client_new(&c, &o);
	struct vl_tls13_hs *hs;
	assert_int_equal(vl_tls13_hs_new(G.ctx, &hs), VL_OK);
	assert_int_equal(SSL_do_handshake(c.ssl), -1);
	size_t len;
	uint8_t *hello = client_take(&c, &len);
	assert_true(len > 0);
	const uint8_t *out;
	size_t out_len;
	assert_int_equal(vl_tls13_hs_input(hs, hello, len, &out, &out_len), VL_ERR_CRYPTO);
	/* A plaintext alert record: protocol_version (70). */
	assert_int_equal(out_len, 7);
	assert_int_equal(out[0], 21);
	assert_int_equal(out[6], 70);
	assert_int_equal(vl_tls13_hs_input(hs, hello, len, &out, &out_len), VL_ERR_CRYPTO);
	assert_int_equal(out_len, 0);
	free(hello);
	vl_tls13_hs_free(hs);
	client_free(&c);
}

static void test_alpn(void **state)
{
	(void)state;
	/* No ALPN offered: accepted, none selected. */
	struct client c;
	struct client_opts o = {.no_alpn = true};
	client_new(&c, &o);
	struct vl_tls13_hs *hs = NULL;
	assert_int_equal(run_handshake(&c, NULL, &hs), VL_OK);
	assert_null(vl_tls13_hs_alpn(hs));
	vl_tls13_hs_free(hs); /* a completed handshake freed without finishing */
	client_free(&c);
	/* Only h2 offered: no_application_protocol. */
	struct client_opts o2 = {.alpn = "\x02h2", .alpn_len = 3};
	client_new(&c, &o2);
	assert_int_equal(run_handshake(&c, NULL, &hs), VL_ERR_CRYPTO);
	client_free(&c);
}

static void test_finish_errors(void **state)
{
	(void)state;
	struct vl_tls13_hs *hs;
	struct vl_tls13 rec;
	uint8_t *rest = (uint8_t *)&rec;
	size_t rest_len = 5;
	assert_int_equal(vl_tls13_hs_new(G.ctx, &hs), VL_OK);
	assert_int_equal(vl_tls13_hs_finish(hs, &rec, &rest, &rest_len), VL_ERR_STATE);
	assert_null(rest);
	assert_int_equal(rest_len, 0);
	vl_tls13_hs_free(NULL);

	/* More than VL_TLS13_HS_REST_MAX bytes past the handshake. */
	struct client c;
	client_new(&c, NULL);
	assert_int_equal(run_handshake(&c, NULL, &hs), VL_OK);
	uint8_t *big = calloc(1, VL_TLS13_HS_REST_MAX);
	assert_non_null(big);
	const uint8_t *o;
	size_t o_len;
	assert_int_equal(vl_tls13_hs_input(hs, big, VL_TLS13_HS_REST_MAX - 1, &o, &o_len), VL_OK);
	assert_int_equal(o_len, 0);
	assert_int_equal(vl_tls13_hs_input(hs, big, 2, &o, &o_len), VL_ERR_LIMIT);
	assert_int_equal(vl_tls13_hs_input(hs, big, 1, &o, &o_len), VL_OK);
	assert_int_equal(vl_tls13_hs_finish(hs, &rec, &rest, &rest_len), VL_OK);
	assert_int_equal(rest_len, VL_TLS13_HS_REST_MAX);
	assert_memory_equal(rest, big, rest_len);
	free(rest);
	free(big);
	vl_tls13_wipe(&rec);
	client_free(&c);

	/* Garbage instead of a ClientHello. */
	assert_int_equal(vl_tls13_hs_new(G.ctx, &hs), VL_OK);
	const uint8_t junk[] = "GET / HTTP/1.1\r\n\r\n";
	const uint8_t *out;
	size_t out_len;
	assert_int_equal(vl_tls13_hs_input(hs, junk, sizeof junk - 1, &out, &out_len),
	                 VL_ERR_CRYPTO);
	assert_int_equal(vl_tls13_hs_finish(hs, &rec, &rest, &rest_len), VL_ERR_STATE);
}

static void test_ctx_errors(void **state)
{
	(void)state;
	struct vl_tls13_ctx *c = (struct vl_tls13_ctx *)1;
	char missing[160];
	snprintf(missing, sizeof missing, "%s/missing.pem", G.dir);
	assert_int_equal(vl_tls13_ctx_new(missing, G.key, &c), VL_ERR_IO);
	assert_null(c);
	assert_int_equal(vl_tls13_ctx_new(G.cert, missing, &c), VL_ERR_IO);
	/* The key given as the certificate and the reverse. */
	assert_int_equal(vl_tls13_ctx_new(G.key, G.cert, &c), VL_ERR_CRYPTO);
	assert_null(c);
	/* A key that does not match the certificate. */
	char other[160];
	snprintf(other, sizeof other, "%s/other.pem", G.dir);
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(pk);
	FILE *f = fopen(other, "w");
	assert_non_null(f);
	assert_true(PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL));
	fclose(f);
	EVP_PKEY_free(pk);
	assert_int_equal(vl_tls13_ctx_new(G.cert, other, &c), VL_ERR_CRYPTO);
	remove(other);
	vl_tls13_ctx_free(NULL);
}

static void test_wipe(void **state)
{
	(void)state;
	struct client c;
	struct vl_tls13 rec;
	uint8_t *rest;
	size_t rest_len;
	connect_ok(&c, NULL, NULL, &rec, &rest, &rest_len);
	send_client_to_server(&c, &rec, 10);
	static const uint8_t zero[sizeof(struct vl_tls13)];
	assert_memory_not_equal(&rec, zero, sizeof rec);
	vl_tls13_wipe(&rec);
	assert_memory_equal(&rec, zero, sizeof rec);
	client_free(&c);
}

/* --- the record parser, through a peer state holding the client's keys ------------- */

static const uint8_t SECRET_C[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
static const uint8_t SECRET_S[32] = {9, 8, 7, 6, 5, 4, 3, 2, 1};

/* srv reads what the client writes and the reverse; peer is the client. */
static void pair(uint16_t suite, struct vl_tls13 *srv, struct vl_tls13 *peer)
{
	assert_int_equal(vl_tls13_init(srv, suite, SECRET_C, SECRET_S), VL_OK);
	assert_int_equal(vl_tls13_init(peer, suite, SECRET_S, SECRET_C), VL_OK);
}

/* The peer seals an arbitrary TLSInnerPlaintext (content, type, padding)
 * as one record, built here independently of vl_tls13_seal. */
static size_t peer_seal_inner(struct vl_tls13 *peer, const uint8_t *inner, size_t n, uint8_t *out)
{
	const struct vl_suite *s = vl_suite_get(peer->suite);
	size_t ct = n + 16;
	out[0] = 23;
	out[1] = 3;
	out[2] = 3;
	out[3] = (uint8_t)(ct >> 8);
	out[4] = (uint8_t)ct;
	uint8_t nonce[12];
	memcpy(nonce, peer->write_iv, 12);
	for (int i = 0; i < 8; i++)
		nonce[11 - i] ^= (uint8_t)(peer->write_seq >> (8 * i));
	assert_int_equal(vl_aead_seal(s, peer->write_key, nonce, out, 5, inner, n, out + 5), VL_OK);
	peer->write_seq++;
	return 5 + ct;
}

static int open_one(struct vl_tls13 *r, uint8_t *buf, size_t len, size_t *pl_len)
{
	size_t used;
	const uint8_t *pl;
	int rc = vl_tls13_open(r, buf, len, &used, &pl, pl_len);
	if (rc == VL_OK)
		assert_int_equal(used, len);
	return rc;
}

static void test_inner_plaintext(void **state)
{
	(void)state;
	static uint8_t inner[VL_TLS13_PLAIN_MAX + 300], rec[VL_TLS13_RECORD_MAX + 300];
	for (size_t s = 0; s < 2; s++) {
		struct vl_tls13 srv, peer;
		size_t n, pl_len;
		pair(SUITE_IDS[s], &srv, &peer);

		/* Padding is stripped (§5.4): "hi", type 23, 200 zeros. */
		memset(inner, 0, sizeof inner);
		memcpy(inner, "hi\x17", 3);
		n = peer_seal_inner(&peer, inner, 203, rec);
		assert_int_equal(open_one(&srv, rec, n, &pl_len), VL_OK);
		assert_int_equal(pl_len, 2);
		assert_memory_equal(rec + 5, "hi", 2);
		/* Maximal padding: 2^14 + 1 bytes of inner plaintext... */
		memset(inner, 0, sizeof inner);
		inner[0] = 23;
		n = peer_seal_inner(&peer, inner, VL_TLS13_PLAIN_MAX + 1, rec);
		assert_int_equal(open_one(&srv, rec, n, &pl_len), VL_OK);
		assert_int_equal(pl_len, 0);
		/* An empty application data record. */
		n = peer_seal_inner(&peer, (const uint8_t *)"\x17", 1, rec);
		assert_int_equal(open_one(&srv, rec, n, &pl_len), VL_OK);
		assert_int_equal(pl_len, 0);
		/* Full-size data and the seal's own records. */
		for (size_t i = 0; i < VL_TLS13_PLAIN_MAX; i++)
			inner[i] = (uint8_t)i;
		uint8_t *out = malloc(vl_tls13_sealed_len(VL_TLS13_PLAIN_MAX));
		assert_non_null(out);
		assert_int_equal(vl_tls13_seal(&peer, inner, VL_TLS13_PLAIN_MAX, out), VL_OK);
		assert_int_equal(
		    open_one(&srv, out, vl_tls13_sealed_len(VL_TLS13_PLAIN_MAX), &pl_len), VL_OK);
		assert_int_equal(pl_len, VL_TLS13_PLAIN_MAX);
		free(out);
		/* user_canceled is a closure alert: ignored. */
		n = peer_seal_inner(&peer, (const uint8_t *)"\x01\x5a\x15", 3, rec);
		assert_int_equal(open_one(&srv, rec, n, &pl_len), VL_OK);
		assert_int_equal(pl_len, 0);
		/* KeyUpdate fragmented over three records (§5.1). */
		n = peer_seal_inner(&peer, (const uint8_t *)"\x18\x00\x16", 3, rec);
		assert_int_equal(open_one(&srv, rec, n, &pl_len), VL_OK);
		n = peer_seal_inner(&peer, (const uint8_t *)"\x00\x16", 2, rec);
		assert_int_equal(open_one(&srv, rec, n, &pl_len), VL_OK);
		assert_int_equal(srv.hs_len, 3);
		n = peer_seal_inner(&peer, (const uint8_t *)"\x01\x01\x16\x00\x00", 5, rec);
		assert_int_equal(open_one(&srv, rec, n, &pl_len), VL_OK);
		assert_int_equal(srv.hs_len, 0);
		assert_int_equal(srv.read_seq, 0);
		assert_true(srv.owed & VL_TLS13_OWE_REPLY);
		/* The peer switches its keys too; its data still opens. */
		assert_int_equal(vl_tls13_init(&peer, SUITE_IDS[s], SECRET_S, SECRET_C), VL_OK);
		memcpy(peer.write_secret, srv.read_secret, 32);
		memcpy(peer.write_key, srv.read_key, 32);
		memcpy(peer.write_iv, srv.read_iv, 12);
		n = peer_seal_inner(&peer, (const uint8_t *)"ok\x17", 3, rec);
		assert_int_equal(open_one(&srv, rec, n, &pl_len), VL_OK);
		assert_int_equal(pl_len, 2);
		vl_tls13_wipe(&srv);
		vl_tls13_wipe(&peer);
	}
}

/* Each entry: an inner plaintext that must fail, and the alert owed. */
static void test_inner_plaintext_errors(void **state)
{
	(void)state;
	static const struct {
		const char *inner;
		size_t len;
		uint8_t alert;
	} cases[] = {
	    {"\x00\x00\x00", 3, 10},                 /* all zero: no content type */
	    {"", 0, 10},                             /* empty */
	    {"\x01\x14", 2, 10},                     /* change_cipher_spec */
	    {"abc\x63", 4, 10},                      /* unknown type */
	    {"\x16", 1, 10},                         /* empty handshake fragment */
	    {"\x04\x00\x00\x00\x16", 5, 10},         /* NewSessionTicket to a server */
	    {"\x01\x00\x00\x01\x00\x16", 6, 10},     /* ClientHello */
	    {"\x18\x00\x00\x02\x16", 5, 50},         /* KeyUpdate of length 2 */
	    {"\x18\x00\x00\x01\x02\x16", 6, 47},     /* request_update 2 */
	    {"\x18\x00\x00\x01\x00\x18\x16", 7, 10}, /* data after the key change */
	    {"\x02\x28\x15", 3, 255},                /* fatal alert from the peer */
	    {"\x01\x2a\x15", 3, 255},                /* a warning other than closure */
	    {"\x01\x00\x00\x15", 4, 50},             /* alert of 3 bytes */
	    {"\x01\x15", 2, 50},                     /* alert of 1 byte */
	    {"\x01\x00\x01\x00\x15", 5, 50},         /* two alerts coalesced */
	};
	uint8_t rec[256];
	for (size_t s = 0; s < 2; s++) {
		for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
			struct vl_tls13 srv, peer;
			size_t pl_len;
			pair(SUITE_IDS[s], &srv, &peer);
			size_t n = peer_seal_inner(&peer, (const uint8_t *)cases[i].inner,
			                           cases[i].len, rec);
			assert_int_equal(open_one(&srv, rec, n, &pl_len), VL_ERR_CRYPTO);
			assert_int_equal(srv.alert, cases[i].alert);
			assert_true(srv.failed);
			/* the alert can still be sent */
			uint8_t out[VL_TLS13_CONTROL_MAX];
			if (cases[i].alert != 255) {
				size_t k = vl_tls13_seal_alert(&srv, cases[i].alert, out);
				assert_int_equal(k, 24);
				assert_int_equal(open_one(&peer, out, k, &pl_len), VL_ERR_CRYPTO);
				assert_int_equal(peer.alert, 255); /* a fatal alert received */
			}
			vl_tls13_wipe(&srv);
			vl_tls13_wipe(&peer);
		}
		/* A handshake fragment then application data: interleaved. */
		struct vl_tls13 srv, peer;
		size_t pl_len, n;
		pair(SUITE_IDS[s], &srv, &peer);
		n = peer_seal_inner(&peer, (const uint8_t *)"\x18\x00\x16", 3, rec);
		assert_int_equal(open_one(&srv, rec, n, &pl_len), VL_OK);
		n = peer_seal_inner(&peer, (const uint8_t *)"x\x17", 2, rec);
		assert_int_equal(open_one(&srv, rec, n, &pl_len), VL_ERR_CRYPTO);
		assert_int_equal(srv.alert, 10);
		/* A record of ciphertext shorter than a tag. */
		pair(SUITE_IDS[s], &srv, &peer);
		uint8_t tiny[5 + 15] = {23, 3, 3, 0, 15};
		assert_int_equal(open_one(&srv, tiny, sizeof tiny, &pl_len), VL_ERR_CRYPTO);
		assert_int_equal(srv.alert, 20);
		/* A replayed record: the sequence number has moved on. */
		pair(SUITE_IDS[s], &srv, &peer);
		n = peer_seal_inner(&peer, (const uint8_t *)"x\x17", 2, rec);
		uint8_t again[64];
		memcpy(again, rec, n);
		assert_int_equal(open_one(&srv, rec, n, &pl_len), VL_OK);
		assert_int_equal(open_one(&srv, again, n, &pl_len), VL_ERR_CRYPTO);
		assert_int_equal(srv.alert, 20);
		vl_tls13_wipe(&srv);
		vl_tls13_wipe(&peer);
	}
	/* The alert state of a failure the peer caused can still be sent. */
	struct vl_tls13 srv, peer;
	size_t pl_len;
	pair(VL_TLS13_AES_128_GCM_SHA256, &srv, &peer);
	uint8_t hdr[5] = {22, 3, 3, 0, 4};
	assert_int_equal(open_one(&srv, hdr, 5, &pl_len), VL_ERR_CRYPTO);
	assert_int_equal(srv.alert, 10);
	assert_int_equal(vl_tls13_init(&srv, 0x1302, SECRET_C, SECRET_S), VL_ERR_UNSUPPORTED);
	vl_tls13_wipe(&peer);
}

static void test_key_limits(void **state)
{
	(void)state;
	static uint8_t data[3 * VL_TLS13_PLAIN_MAX],
	    out[3 * (VL_TLS13_PLAIN_MAX + VL_TLS13_OVERHEAD)];
	uint8_t ctl[VL_TLS13_CONTROL_MAX];
	memset(data, 0x5c, sizeof data);
	struct vl_tls13 srv, peer;
	size_t pl_len;

	/* AES-GCM, writing: the soft limit makes our KeyUpdate owed... */
	pair(VL_TLS13_AES_128_GCM_SHA256, &srv, &peer);
	srv.write_seq = peer.read_seq = VL_TLS13_GCM_SOFT_LIMIT - 1;
	assert_int_equal(vl_tls13_seal(&srv, data, 1, out), VL_OK);
	assert_true(srv.owed & VL_TLS13_OWE_UPDATE);
	assert_int_equal(open_one(&peer, out, 23, &pl_len), VL_OK);
	/* ...without blocking data until it is taken. */
	assert_int_equal(vl_tls13_seal(&srv, data, 2, out), VL_OK);
	assert_int_equal(open_one(&peer, out, 24, &pl_len), VL_OK);
	size_t n = vl_tls13_take_control(&srv, ctl);
	assert_int_equal(n, 27);
	assert_int_equal(srv.write_seq, 0);
	assert_int_equal(srv.owed, 0);
	assert_int_equal(open_one(&peer, ctl, n, &pl_len), VL_OK);
	assert_int_equal(peer.read_seq, 0);
	assert_int_equal(peer.owed, 0); /* update_not_requested */
	assert_int_equal(vl_tls13_seal(&srv, data, 3, out), VL_OK);
	assert_int_equal(open_one(&peer, out, 25, &pl_len), VL_OK);
	assert_int_equal(pl_len, 3);

	/* ...and at the hard limit data is refused, nothing written. */
	srv.write_seq = VL_TLS13_GCM_HARD_LIMIT - 2;
	assert_int_equal(vl_tls13_seal(&srv, data, 3 * VL_TLS13_PLAIN_MAX, out), VL_ERR_LIMIT);
	assert_int_equal(srv.write_seq, VL_TLS13_GCM_HARD_LIMIT - 2);
	assert_int_equal(vl_tls13_seal(&srv, data, 2 * VL_TLS13_PLAIN_MAX, out), VL_OK);
	assert_int_equal(vl_tls13_seal(&srv, data, 1, out), VL_ERR_LIMIT);
	/* The KeyUpdate still goes out and resets the count. */
	assert_int_equal(vl_tls13_take_control(&srv, ctl), 27);
	assert_int_equal(vl_tls13_seal(&srv, data, 1, out), VL_OK);

	/* AES-GCM, reading: past the soft limit we ask for the peer's update,
	 * once. */
	pair(VL_TLS13_AES_128_GCM_SHA256, &srv, &peer);
	srv.read_seq = peer.write_seq = VL_TLS13_GCM_SOFT_LIMIT - 1;
	n = peer_seal_inner(&peer, (const uint8_t *)"a\x17", 2, out);
	assert_int_equal(open_one(&srv, out, n, &pl_len), VL_OK);
	assert_true(srv.owed & VL_TLS13_OWE_ASK);
	n = vl_tls13_take_control(&srv, ctl);
	assert_int_equal(n, 27);
	assert_int_equal(srv.owed, VL_TLS13_ASKED);
	n = peer_seal_inner(&peer, (const uint8_t *)"b\x17", 2, out);
	assert_int_equal(open_one(&srv, out, n, &pl_len), VL_OK);
	assert_int_equal(srv.owed, VL_TLS13_ASKED); /* not asked twice */
	assert_int_equal(open_one(&peer, ctl, 27, &pl_len), VL_OK);
	assert_true(peer.owed & VL_TLS13_OWE_REPLY);
	assert_int_equal(vl_tls13_seal(&peer, data, 1, out), VL_ERR_STATE);
	n = vl_tls13_take_control(&peer, ctl);
	assert_int_equal(n, 27);
	assert_int_equal(open_one(&srv, ctl, n, &pl_len), VL_OK);
	assert_int_equal(srv.owed, 0);
	assert_int_equal(srv.read_seq, 0);
	assert_int_equal(vl_tls13_seal(&peer, data, 4, out), VL_OK);
	assert_int_equal(open_one(&srv, out, 26, &pl_len), VL_OK);
	assert_int_equal(pl_len, 4);

	/* A reply owed while our own request is due: the reply first, with
	 * update_not_requested (§4.6.3), the request on the next call. */
	pair(VL_TLS13_AES_128_GCM_SHA256, &srv, &peer);
	srv.read_seq = peer.write_seq = VL_TLS13_GCM_SOFT_LIMIT;
	n = peer_seal_inner(&peer, (const uint8_t *)"\x18\x00\x00\x01\x01\x16", 6, out);
	assert_int_equal(open_one(&srv, out, n, &pl_len), VL_OK);
	assert_int_equal(srv.owed, VL_TLS13_OWE_REPLY); /* the new read key is fresh */
	srv.read_seq = VL_TLS13_GCM_SOFT_LIMIT - 1;
	assert_int_equal(vl_tls13_init(&peer, VL_TLS13_AES_128_GCM_SHA256, SECRET_S, SECRET_C),
	                 VL_OK);
	memcpy(peer.write_key, srv.read_key, 32);
	memcpy(peer.write_iv, srv.read_iv, 12);
	peer.write_seq = srv.read_seq;
	n = peer_seal_inner(&peer, (const uint8_t *)"x\x17", 2, out);
	assert_int_equal(open_one(&srv, out, n, &pl_len), VL_OK);
	assert_int_equal(srv.owed, VL_TLS13_OWE_REPLY | VL_TLS13_OWE_ASK);
	assert_int_equal(vl_tls13_take_control(&srv, ctl), 27);
	assert_int_equal(open_one(&peer, ctl, 27, &pl_len), VL_OK);
	assert_int_equal(peer.owed, 0); /* not requested */
	assert_int_equal(srv.owed, VL_TLS13_OWE_ASK);
	assert_int_equal(vl_tls13_take_control(&srv, ctl), 27);
	assert_int_equal(open_one(&peer, ctl, 27, &pl_len), VL_OK);
	assert_int_equal(peer.owed, VL_TLS13_OWE_REPLY); /* requested */
	assert_int_equal(srv.owed, VL_TLS13_ASKED);
	assert_int_equal(vl_tls13_take_control(&srv, ctl), 0);

	/* ChaCha20-Poly1305: no soft limit; the sequence number never wraps. */
	pair(VL_TLS13_CHACHA20_POLY1305_SHA256, &srv, &peer);
	srv.write_seq = peer.read_seq = VL_TLS13_GCM_HARD_LIMIT + 5;
	assert_int_equal(vl_tls13_seal(&srv, data, 1, out), VL_OK);
	assert_int_equal(srv.owed, 0);
	assert_int_equal(open_one(&peer, out, 23, &pl_len), VL_OK);
	srv.write_seq = UINT64_MAX - 2;
	assert_int_equal(vl_tls13_seal(&srv, data, 2 * VL_TLS13_PLAIN_MAX, out), VL_ERR_LIMIT);
	assert_int_equal(vl_tls13_seal(&srv, data, 1, out), VL_OK);
	assert_int_equal(vl_tls13_seal(&srv, data, 1, out), VL_ERR_LIMIT);
	assert_int_equal(vl_tls13_seal_alert(&srv, 0, ctl), 24);
	assert_int_equal(srv.write_seq, UINT64_MAX);
	srv.read_seq = peer.write_seq = UINT64_MAX - 1;
	n = peer_seal_inner(&peer, (const uint8_t *)"a\x17", 2, out);
	assert_int_equal(open_one(&srv, out, n, &pl_len), VL_OK);
	n = peer_seal_inner(&peer, (const uint8_t *)"a\x17", 2, out);
	assert_int_equal(open_one(&srv, out, n, &pl_len), VL_ERR_CRYPTO);
	vl_tls13_wipe(&srv);
	vl_tls13_wipe(&peer);
}

/* --- RFC 8448 §3 (simple 1-RTT handshake, TLS_AES_128_GCM_SHA256) ------------------ */

static void expect_hex(const uint8_t *got, size_t len, const char *want)
{
	size_t n;
	uint8_t *w = tu_unhex(want, &n);
	assert_non_null(w);
	assert_int_equal(len, n);
	assert_memory_equal(got, w, n);
	free(w);
}

/* The application traffic secrets of the trace give its keys and IVs, and
 * its application data records are sealed and opened byte for byte: the
 * client's 50 octets 00..31 (client sequence 0), its close_notify
 * (sequence 1) and the server's 50 octets (server sequence 1: the trace's
 * server sent a NewSessionTicket first, which valised never does). */
static void test_rfc8448_records(void **state)
{
	(void)state;
	size_t n;
	uint8_t *c_ap = tu_unhex("9e40646ce79a7f9dc05af8889bce6552"
	                         "875afa0b06df0087f792ebb7c17504a5",
	                         &n);
	uint8_t *s_ap = tu_unhex("a11af9f05531f856ad47116b45a95032"
	                         "8204b4f44bfb6b3a4b4f1f3fcb631643",
	                         &n);
	static const char c_record[] = "1703030043a23f7054b62c94d0affafe8228ba55cbefacea42f914aa66"
	                               "bcab3f2b9819a8a5b46b395bd54a9a20441e2b62974e1f5a6292a297"
	                               "7014bd1e3deae63aeebb21694915e4";
	static const char c_close[] = "1703030013c9872760655666b74d7ff1153efd6db6d0b0e3";
	static const char s_record[] = "17030300432e937e11ef4ac740e538ad36005fc4a46932fc3225d05f82"
	                               "aa1b36e30efaf97d90e6dffc602dcb501a59a8fcc49c4bf2e5f0a21c00"
	                               "47c2abf332540dd032e167c2955d";
	assert_non_null(c_ap);
	assert_non_null(s_ap);
	uint8_t data[50];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (uint8_t)i;

	/* The server's view: reads with the client's secret. */
	struct vl_tls13 srv;
	assert_int_equal(vl_tls13_init(&srv, VL_TLS13_AES_128_GCM_SHA256, c_ap, s_ap), VL_OK);
	expect_hex(srv.read_key, 16, "17422dda596ed5d9acd890e3c63f5051");
	expect_hex(srv.read_iv, 12, "5b78923dee08579033e523d9");
	expect_hex(srv.write_key, 16, "9f02283b6c9c07efc26bb9f2ac92e356");
	expect_hex(srv.write_iv, 12, "cf782b88dd83549aadf1e984");
	size_t len, used, plain_len;
	const uint8_t *plain;
	uint8_t *rec = tu_unhex(c_record, &len);
	assert_non_null(rec);
	assert_int_equal(vl_tls13_open(&srv, rec, len, &used, &plain, &plain_len), VL_OK);
	assert_int_equal(used, len);
	assert_int_equal(plain_len, sizeof data);
	assert_memory_equal(plain, data, sizeof data);
	free(rec);
	rec = tu_unhex(c_close, &len);
	assert_non_null(rec);
	assert_int_equal(vl_tls13_open(&srv, rec, len, &used, &plain, &plain_len), VL_ERR_STATE);
	assert_int_equal(used, len);
	assert_true(srv.peer_closed);
	free(rec);
	uint8_t out[128];
	assert_int_equal(vl_tls13_seal(&srv, data, 1, out), VL_OK); /* sequence 0 */
	assert_int_equal(vl_tls13_seal(&srv, data, sizeof data, out), VL_OK);
	expect_hex(out, vl_tls13_sealed_len(sizeof data), s_record);

	/* The client's view: writes with its own secret. */
	struct vl_tls13 cli;
	assert_int_equal(vl_tls13_init(&cli, VL_TLS13_AES_128_GCM_SHA256, s_ap, c_ap), VL_OK);
	assert_int_equal(vl_tls13_seal(&cli, data, sizeof data, out), VL_OK);
	expect_hex(out, vl_tls13_sealed_len(sizeof data), c_record);
	assert_int_equal(vl_tls13_seal_alert(&cli, 0, out), 24);
	expect_hex(out, 24, c_close);

	vl_tls13_wipe(&srv);
	vl_tls13_wipe(&cli);
	free(c_ap);
	free(s_ap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sealed_len),
	    cmocka_unit_test(test_handshake_splits),
	    cmocka_unit_test(test_data_both_ways),
	    cmocka_unit_test(test_data_with_finished),
	    cmocka_unit_test(test_key_update_not_requested),
	    cmocka_unit_test(test_key_update_requested),
	    cmocka_unit_test(test_close_notify),
	    cmocka_unit_test(test_tampered_record),
	    cmocka_unit_test(test_oversized_record),
	    cmocka_unit_test(test_incomplete_record),
	    cmocka_unit_test(test_tls12_client_refused),
	    cmocka_unit_test(test_alpn),
	    cmocka_unit_test(test_finish_errors),
	    cmocka_unit_test(test_ctx_errors),
	    cmocka_unit_test(test_wipe),
	    cmocka_unit_test(test_inner_plaintext),
	    cmocka_unit_test(test_inner_plaintext_errors),
	    cmocka_unit_test(test_key_limits),
	    cmocka_unit_test(test_rfc8448_records),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
