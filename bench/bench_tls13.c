/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_tls13: what an idle server-side TLS 1.3 connection costs once the
 * handshake is done through src/server/tls13.h (OpenSSL for the handshake,
 * then only struct vl_tls13 kept), next to bench_tls's figure for a kept
 * SSL object; and what our record layer costs per record against
 * OpenSSL's, for both cipher suites.
 *
 * Part 1 completes N handshakes against an OpenSSL client on memory BIOs,
 * moves one record each way, frees the client and the handshake, keeps
 * each struct vl_tls13, and counts every byte OpenSSL still holds through
 * CRYPTO_set_mem_functions. Part 2 seals and opens records of 100 bytes
 * and 16 KiB for about a second each: vl_tls13_seal + vl_tls13_open
 * against SSL_write + SSL_read between two SSL objects on memory BIOs
 * (both sides' work in each case).
 *
 * Usage: bench_tls13 [N]   (default 2000)
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "server/tls13.h"

/* --- counting allocator ---------------------------------------------------------- */

static size_t live_total, live_count;

struct hdr {
	size_t size;
	size_t pad; /* keeps the caller's pointer 16-byte aligned */
};

static void *count_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	struct hdr *h = malloc(sizeof *h + n);
	if (!h)
		return NULL;
	h->size = n;
	live_total += n;
	live_count++;
	return h + 1;
}

static void count_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	if (!p)
		return;
	struct hdr *h = (struct hdr *)p - 1;
	live_total -= h->size;
	live_count--;
	free(h);
}

static void *count_realloc(void *p, size_t n, const char *file, int line)
{
	if (!p)
		return count_malloc(n, file, line);
	struct hdr *h = (struct hdr *)p - 1;
	size_t old = h->size;
	struct hdr *nh = realloc(h, sizeof *nh + n);
	if (!nh)
		return NULL;
	live_total = live_total - old + n;
	nh->size = n;
	return nh + 1;
}

/* --- setup -------------------------------------------------------------------------- */

static void die(const char *what)
{
	fprintf(stderr, "bench_tls13: %s\n", what);
	exit(1);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char dir[64], cert_path[128], key_path[128];

/* A throwaway P-256 key and self-signed certificate in a temporary folder
 * (vl_tls13_ctx_new reads PEM files). */
static void write_identity(void)
{
	strcpy(dir, "/tmp/bench_tls13_XXXXXX");
	if (!mkdtemp(dir))
		die("mkdtemp");
	snprintf(cert_path, sizeof cert_path, "%s/cert.pem", dir);
	snprintf(key_path, sizeof key_path, "%s/key.pem", dir);
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *crt = X509_new();
	if (!key || !crt || !X509_set_version(crt, 2) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(crt), 1) ||
	    !X509_gmtime_adj(X509_getm_notBefore(crt), 0) ||
	    !X509_gmtime_adj(X509_getm_notAfter(crt), 3600) || !X509_set_pubkey(crt, key))
		die("certificate");
	X509_NAME *name = X509_get_subject_name(crt);
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	                                (const unsigned char *)"localhost", -1, -1, 0) ||
	    !X509_set_issuer_name(crt, name) || !X509_sign(crt, key, EVP_sha256()))
		die("certificate");
	FILE *f = fopen(cert_path, "w");
	if (!f || !PEM_write_X509(f, crt))
		die("writing the certificate");
	fclose(f);
	f = fopen(key_path, "w");
	if (!f || !PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL))
		die("writing the key");
	fclose(f);
	X509_free(crt);
	EVP_PKEY_free(key);
}

static SSL *mem_ssl(SSL_CTX *ctx, bool server)
{
	SSL *s = SSL_new(ctx);
	BIO *r = BIO_new(BIO_s_mem()), *w = BIO_new(BIO_s_mem());
	if (!s || !r || !w)
		die("SSL_new");
	BIO_set_mem_eof_return(r, -1);
	SSL_set_bio(s, r, w);
	if (server)
		SSL_set_accept_state(s);
	else
		SSL_set_connect_state(s);
	return s;
}

/* Moves what a wrote to b's read BIO. */
static void move(SSL *a, SSL *b)
{
	char buf[32768];
	BIO *w = SSL_get_wbio(a), *r = SSL_get_rbio(b);
	int n;
	while ((n = BIO_read(w, buf, sizeof buf)) > 0)
		if (BIO_write(r, buf, n) != n)
			die("BIO_write");
}

static uint8_t *take(SSL *c, size_t *len)
{
	BIO *w = SSL_get_wbio(c);
	size_t n = (size_t)BIO_ctrl_pending(w);
	uint8_t *p = malloc(n ? n : 1);
	if (!p || (n && BIO_read(w, p, (int)n) != (int)n))
		die("BIO_read");
	*len = n;
	return p;
}

/* One connection: handshake through vl_tls13_hs_*, one record each way. */
static void connect_one(struct vl_tls13_ctx *sctx, SSL_CTX *cctx, struct vl_tls13 *rec)
{
	SSL *c = mem_ssl(cctx, false);
	struct vl_tls13_hs *hs;
	if (vl_tls13_hs_new(sctx, &hs) != VL_OK)
		die("vl_tls13_hs_new");
	int rc = VL_ERR_AGAIN;
	for (int i = 0; i < 16 && rc != VL_OK; i++) {
		(void)SSL_do_handshake(c);
		size_t n;
		uint8_t *in = take(c, &n);
		const uint8_t *out;
		size_t out_len;
		rc = vl_tls13_hs_input(hs, in, n, &out, &out_len);
		free(in);
		if (out_len && BIO_write(SSL_get_rbio(c), out, (int)out_len) != (int)out_len)
			die("BIO_write");
		if (rc != VL_OK && rc != VL_ERR_AGAIN)
			die("handshake failed");
	}
	if (SSL_do_handshake(c) != 1)
		die("client handshake");
	uint8_t *rest;
	size_t rest_len;
	if (vl_tls13_hs_finish(hs, rec, &rest, &rest_len) != VL_OK)
		die("vl_tls13_hs_finish");
	free(rest);
	/* one record each way */
	if (SSL_write(c, "ping", 4) != 4)
		die("SSL_write");
	size_t n, used, pl_len;
	uint8_t *wire = take(c, &n);
	const uint8_t *pl;
	if (vl_tls13_open(rec, wire, n, &used, &pl, &pl_len) != VL_OK || pl_len != 4)
		die("vl_tls13_open");
	free(wire);
	uint8_t sealed[4 + VL_TLS13_OVERHEAD];
	char buf[8];
	if (vl_tls13_seal(rec, (const uint8_t *)"pong", 4, sealed) != VL_OK ||
	    BIO_write(SSL_get_rbio(c), sealed, sizeof sealed) != (int)sizeof sealed ||
	    SSL_read(c, buf, sizeof buf) != 4)
		die("record to the client");
	SSL_free(c);
}

/* --- part 2: records --------------------------------------------------------------- */

struct rate {
	double records_per_s, mb_per_s;
};

static struct rate ours(uint16_t suite, size_t size)
{
	static const uint8_t sa[VL_TLS13_SECRET_LEN] = {1}, sb[VL_TLS13_SECRET_LEN] = {2};
	struct vl_tls13 srv, peer;
	if (vl_tls13_init(&srv, suite, sa, sb) || vl_tls13_init(&peer, suite, sb, sa))
		die("vl_tls13_init");
	static uint8_t data[VL_TLS13_PLAIN_MAX], rec[VL_TLS13_PLAIN_MAX + VL_TLS13_OVERHEAD];
	memset(data, 0x42, sizeof data);
	size_t sealed = vl_tls13_sealed_len(size), count = 0;
	double t0 = now(), t;
	do {
		for (int i = 0; i < 256; i++) {
			size_t used, pl_len;
			const uint8_t *pl;
			if (vl_tls13_seal(&srv, data, size, rec) != VL_OK ||
			    vl_tls13_open(&peer, rec, sealed, &used, &pl, &pl_len) != VL_OK ||
			    pl_len != size)
				die("seal/open");
		}
		count += 256;
		t = now() - t0;
	} while (t < 1.0);
	vl_tls13_wipe(&srv);
	vl_tls13_wipe(&peer);
	return (struct rate){count / t, count * (double)size / t / 1e6};
}

static struct rate openssl(SSL_CTX *sctx, SSL_CTX *cctx, const char *suite, size_t size)
{
	if (!SSL_CTX_set_ciphersuites(cctx, suite))
		die("ciphersuites");
	SSL *s = mem_ssl(sctx, true), *c = mem_ssl(cctx, false);
	for (int i = 0; i < 16; i++) {
		int a = SSL_do_handshake(c);
		move(c, s);
		int b = SSL_do_handshake(s);
		move(s, c);
		if (a == 1 && b == 1)
			break;
	}
	static uint8_t data[VL_TLS13_PLAIN_MAX], got[VL_TLS13_PLAIN_MAX];
	memset(data, 0x42, sizeof data);
	size_t count = 0;
	double t0 = now(), t;
	do {
		for (int i = 0; i < 256; i++) {
			if (SSL_write(s, data, (int)size) != (int)size)
				die("SSL_write");
			move(s, c);
			if (SSL_read(c, got, sizeof got) != (int)size)
				die("SSL_read");
		}
		count += 256;
		t = now() - t0;
	} while (t < 1.0);
	SSL_free(s);
	SSL_free(c);
	return (struct rate){count / t, count * (double)size / t / 1e6};
}

int main(int argc, char **argv)
{
	if (!CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free))
		die("OpenSSL allocated before main");
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 2000;
	if (n < 1 || n > 10000000)
		die("usage: bench_tls13 [N]");
	write_identity();
	struct vl_tls13_ctx *sctx;
	if (vl_tls13_ctx_new(cert_path, key_path, &sctx) != VL_OK)
		die("vl_tls13_ctx_new");
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	if (!cctx)
		die("SSL_CTX_new");
	SSL_CTX_set_min_proto_version(cctx, TLS1_3_VERSION);
	struct vl_tls13 *recs = calloc((size_t)n, sizeof *recs);
	if (!recs)
		die("out of memory");

	struct vl_tls13 warm;
	connect_one(sctx, cctx, &warm); /* lazily made shared state */
	vl_tls13_wipe(&warm);
	size_t live0 = live_total, count0 = live_count;
	double t0 = now();
	for (long i = 0; i < n; i++)
		connect_one(sctx, cctx, &recs[i]);
	double t = now() - t0;
	double per = ((double)live_total - (double)live0) / (double)n;
	printf("bench_tls13: %s, %ld idle server-side TLS 1.3 connections through "
	       "src/server/tls13.h\n",
	       OpenSSL_version(OPENSSL_VERSION), n);
	printf("| held by OpenSSL per connection | OpenSSL allocations per connection | "
	       "struct vl_tls13 | handshakes/s (both ends, one thread) |\n|---|---|---|---|\n");
	printf("| %.1f B | %.2f | %zu B | %.0f |\n\n", per,
	       ((double)live_count - (double)count0) / (double)n, sizeof(struct vl_tls13),
	       (double)n / t);
	for (long i = 0; i < n; i++)
		vl_tls13_wipe(&recs[i]);
	free(recs);

	/* Part 2. The OpenSSL server gets the same suites as valised's. */
	SSL_CTX *ossl = SSL_CTX_new(TLS_server_method());
	if (!ossl || !SSL_CTX_set_min_proto_version(ossl, TLS1_3_VERSION) ||
	    SSL_CTX_use_certificate_chain_file(ossl, cert_path) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ossl, key_path, SSL_FILETYPE_PEM) != 1)
		die("OpenSSL server context");
	SSL_CTX_set_num_tickets(ossl, 0);
	static const struct {
		const char *name;
		uint16_t id;
	} suites[] = {{"TLS_AES_128_GCM_SHA256", VL_TLS13_AES_128_GCM_SHA256},
	              {"TLS_CHACHA20_POLY1305_SHA256", VL_TLS13_CHACHA20_POLY1305_SHA256}};
	static const size_t sizes[] = {100, VL_TLS13_PLAIN_MAX};
	printf("| suite | record | tls13.h seal+open records/s | MB/s | OpenSSL SSL_write+SSL_read "
	       "records/s | MB/s |\n|---|---|---|---|---|---|\n");
	for (size_t s = 0; s < 2; s++) {
		for (size_t k = 0; k < 2; k++) {
			struct rate a = ours(suites[s].id, sizes[k]);
			struct rate b = openssl(ossl, cctx, suites[s].name, sizes[k]);
			printf("| %s | %zu B | %.0f | %.1f | %.0f | %.1f |\n", suites[s].name,
			       sizes[k], a.records_per_s, a.mb_per_s, b.records_per_s, b.mb_per_s);
		}
	}
	SSL_CTX_free(ossl);
	SSL_CTX_free(cctx);
	vl_tls13_ctx_free(sctx);
	remove(cert_path);
	remove(key_path);
	remove(dir);
	return 0;
}
