/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_tls: what one idle server-side TLS 1.3 connection costs in OpenSSL's
 * heap, with the settings valised gives its SSL_CTX (TLS 1.3 only, buffers
 * released while idle, no session tickets, no session cache). It opens N
 * connections over socketpairs, completes each handshake, moves one record
 * each way, frees the client side and keeps the server side, counting every
 * byte OpenSSL holds through CRYPTO_set_mem_functions. It prints the live
 * bytes per connection and the allocation sites that hold them, which is
 * the floor under valised's RSS per idle TLS connection (bench_loadgen
 * --tls --only conns) as long as each connection keeps an SSL object.
 *
 * Usage: bench_tls [N]   (default 2000)
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/* --- counting allocator -------------------------------------------------------- */

#define MAX_SITES 4096

struct site {
	const char *file;
	int line;
	size_t live, count;
};

static struct site sites[MAX_SITES];
static size_t n_sites, live_total, live_count;

/* Each block carries its size and its site ahead of the caller's bytes;
 * 16 bytes keep the caller's pointer aligned for any type. */
struct hdr {
	uint32_t site;
	uint32_t pad;
	size_t size;
};

static uint32_t site_of(const char *file, int line)
{
	for (size_t i = 0; i < n_sites; i++)
		if (sites[i].line == line && sites[i].file == file)
			return (uint32_t)i;
	if (n_sites == MAX_SITES)
		return MAX_SITES - 1; /* lumped together; never reached in practice */
	sites[n_sites] = (struct site){file, line, 0, 0};
	return (uint32_t)n_sites++;
}

static void account(uint32_t site, size_t size, int sign)
{
	if (sign > 0) {
		sites[site].live += size;
		sites[site].count++;
		live_total += size;
		live_count++;
	} else {
		sites[site].live -= size;
		sites[site].count--;
		live_total -= size;
		live_count--;
	}
}

static void *count_malloc(size_t n, const char *file, int line)
{
	struct hdr *h = malloc(sizeof *h + n);
	if (!h)
		return NULL;
	h->site = site_of(file, line);
	h->size = n;
	account(h->site, n, +1);
	return h + 1;
}

static void count_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	if (!p)
		return;
	struct hdr *h = (struct hdr *)p - 1;
	account(h->site, h->size, -1);
	free(h);
}

static void *count_realloc(void *p, size_t n, const char *file, int line)
{
	if (!p)
		return count_malloc(n, file, line);
	struct hdr *h = (struct hdr *)p - 1;
	struct hdr old = *h;
	struct hdr *nh = realloc(h, sizeof *nh + n);
	if (!nh)
		return NULL;
	account(old.site, old.size, -1);
	nh->site = site_of(file, line);
	nh->size = n;
	account(nh->site, n, +1);
	return nh + 1;
}

/* --- TLS ------------------------------------------------------------------------ */

static void die(const char *what)
{
	fprintf(stderr, "bench_tls: %s\n", what);
	exit(1);
}

/* A throwaway P-256 key and self-signed certificate, made in memory. */
static void server_identity(SSL_CTX *ctx)
{
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
	    !X509_set_issuer_name(crt, name) || !X509_sign(crt, key, EVP_sha256()) ||
	    SSL_CTX_use_certificate(ctx, crt) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1)
		die("certificate");
	X509_free(crt);
	EVP_PKEY_free(key);
}

/* The settings valised's transport gives its server SSL_CTX. */
static SSL_CTX *server_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		die("SSL_CTX_new");
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION);
	server_identity(ctx);
	return ctx;
}

static SSL *attach(SSL_CTX *ctx, int fd, bool server)
{
	SSL *s = SSL_new(ctx);
	if (!s || SSL_set_fd(s, fd) != 1)
		die("SSL_new");
	if (server)
		SSL_set_accept_state(s);
	else
		SSL_set_connect_state(s);
	return s;
}

/* Drives both ends over a non-blocking socketpair until both are done. */
static void handshake(SSL *c, SSL *s)
{
	for (int i = 0; i < 64; i++) {
		int a = SSL_do_handshake(c), b = SSL_do_handshake(s);
		if (a == 1 && b == 1)
			return;
	}
	die("handshake did not complete");
}

static void one_record_each_way(SSL *c, SSL *s)
{
	char buf[16];
	if (SSL_write(c, "ping", 4) != 4 || SSL_read(s, buf, sizeof buf) != 4 ||
	    SSL_write(s, "pong", 4) != 4 || SSL_read(c, buf, sizeof buf) != 4)
		die("record exchange");
}

static int cmp_live(const void *a, const void *b)
{
	const struct site *x = a, *y = b;
	return (x->live < y->live) - (x->live > y->live);
}

int main(int argc, char **argv)
{
	if (!CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free))
		die("OpenSSL allocated before main");
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 2000;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && (rlim_t)n + 64 > rl.rlim_cur) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		if ((rlim_t)n + 64 > rl.rlim_cur)
			n = (long)rl.rlim_cur - 64;
	}
	if (n < 1)
		die("usage: bench_tls [N]");

	SSL_CTX *sctx = server_ctx(), *cctx = SSL_CTX_new(TLS_client_method());
	if (!cctx)
		die("SSL_CTX_new");
	SSL_CTX_set_min_proto_version(cctx, TLS1_3_VERSION);
	SSL **keep = calloc((size_t)n, sizeof *keep);
	if (!keep)
		die("out of memory");

	/* Site totals before the measured connections, so only what they
	 * add is attributed to them. */
	static size_t before[MAX_SITES];
	size_t live0 = 0, count0 = 0;
	for (long i = -1; i < n; i++) {
		if (i == 0) {
			for (size_t k = 0; k < n_sites; k++)
				before[k] = sites[k].live;
			live0 = live_total;
			count0 = live_count;
		}
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
			die("socketpair");
		fcntl(sv[0], F_SETFL, O_NONBLOCK);
		fcntl(sv[1], F_SETFL, O_NONBLOCK);
		SSL *s = attach(sctx, sv[0], true), *c = attach(cctx, sv[1], false);
		handshake(c, s);
		one_record_each_way(c, s);
		SSL_free(c);
		close(sv[1]);
		if (i < 0) { /* a warm-up connection: lazily made shared state */
			SSL_free(s);
			close(sv[0]);
		} else {
			keep[i] = s;
		}
	}
	for (size_t k = 0; k < n_sites; k++)
		sites[k].live -= before[k];
	qsort(sites, n_sites, sizeof sites[0], cmp_live);

	double per = (double)(live_total - live0) / (double)n;
	printf("bench_tls: %s, %ld idle server-side TLS 1.3 connections (valised's SSL_CTX "
	       "settings)\n",
	       OpenSSL_version(OPENSSL_VERSION), n);
	printf("| held by OpenSSL per connection | allocations per connection |\n|---|---|\n");
	printf("| %.0f B (%.2f KiB) | %.1f |\n\n", per, per / 1024,
	       (double)(live_count - count0) / (double)n);
	printf("| allocation site | bytes per connection |\n|---|---|\n");
	for (size_t k = 0; k < n_sites && k < 12; k++) {
		double b = (double)sites[k].live / (double)n;
		if (b < 1)
			break;
		printf("| %s:%d | %.0f |\n", sites[k].file, sites[k].line, b);
	}

	for (long i = 0; i < n; i++) {
		close(SSL_get_fd(keep[i]));
		SSL_free(keep[i]);
	}
	free(keep);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	return 0;
}
