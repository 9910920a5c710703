/* SPDX-License-Identifier: Apache-2.0 */
/* End-to-end blobs over HTTP on the server's port: challenge-signed
 * uploads, content addressing, download by id, the size limit, the
 * per-user quota, and refused signatures and replayed challenges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "e2e.h"

static const char *valised_path;
static struct srv *running;

static int teardown(void **state)
{
	(void)state;
	if (running)
		srv_cleanup(running);
	running = NULL;
	return 0;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

/* Uploads data as c's device; returns the HTTP status, *id the reply. */
static int upload(struct srv *s, const struct vtc_device *d, const uint8_t *data, size_t len,
                  bool corrupt_sig, char *challenge_out, const char *reuse_challenge, char **id)
{
	char *chal = NULL;
	char ch_hex[80];
	if (reuse_challenge) {
		snprintf(ch_hex, sizeof ch_hex, "%s", reuse_challenge);
	} else {
		assert_int_equal(
		    wsc_http_get("127.0.0.1", s->port, s->tls, "/blob/challenge", &chal), 200);
		snprintf(ch_hex, sizeof ch_hex, "%.64s", chal);
		free(chal);
	}
	if (challenge_out)
		strcpy(challenge_out, ch_hex);
	struct vtc_challenge ch;
	for (int i = 0; i < 32; i++) {
		unsigned v;
		assert_int_equal(sscanf(ch_hex + 2 * i, "%2x", &v), 1);
		ch.challenge[i] = (uint8_t)v;
	}
	strcpy(ch.server_name, "example.org");
	uint8_t tbs[600], sig[VL_SIG_MAX];
	size_t sig_len;
	struct vl_writer w;
	vl_writer_init_fixed(&w, tbs, sizeof tbs);
	struct vl_bytes cb = {ch.challenge, 32}, sn = {(const uint8_t *)"example.org", 11};
	struct vl_bytes u = {(const uint8_t *)d->user, strlen(d->user)};
	struct vl_bytes n = {(const uint8_t *)d->name, strlen(d->name)};
	assert_int_equal(vl_proto_auth_tbs(&w, VL_PROTO_LABEL_BLOB, &cb, &sn, &u, &n), VL_OK);
	assert_int_equal(vl_sign(vl_suite_get(d->suite), d->priv, tbs, w.len, sig, &sig_len),
	                 VL_OK);
	if (corrupt_sig)
		sig[3] ^= 1;
	char sig_hex[2 * VL_SIG_MAX + 1];
	hex(sig, sig_len, sig_hex);
	char headers[1024];
	snprintf(headers, sizeof headers,
	         "X-Valise-User: %s\r\nX-Valise-Device: %s\r\nX-Valise-Challenge: %s\r\n"
	         "X-Valise-Signature: %s\r\n",
	         d->user, d->name, ch_hex, sig_hex);
	size_t rl;
	return wsc_http_request("127.0.0.1", s->port, s->tls, "PUT", "/blob", headers, data, len,
	                        id, &rl);
}

/* One request on a connection of its own (Connection: close); the whole
 * response, NUL-terminated, in *out (heap); returns its length. */
static size_t raw_request(int port, const char *method, const char *path, const char *headers,
                          char **out)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	char req[512];
	int rl =
	    snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: a\r\n%sConnection: close\r\n\r\n",
	             method, path, headers);
	assert_int_equal(write(fd, req, (size_t)rl), rl);
	size_t cap = 1 << 20, have = 0;
	char *buf = malloc(cap + 1);
	assert_non_null(buf);
	ssize_t n;
	while (have < cap && (n = read(fd, buf + have, cap - have)) > 0)
		have += (size_t)n;
	buf[have] = 0;
	close(fd);
	*out = buf;
	return have;
}

static void test_blobs(void **state)
{
	(void)state;
	struct srv s = {0};
	s.extra[0] = "max_blob=200K";
	s.extra[1] = "blob_quota=250K";
	running = &s;
	assert_int_equal(srv_start(&s, valised_path, false), 0);
	struct cli a, b;
	assert_int_equal(cli_new_device(&a, &s, "alice@example.org", "laptop", 1), 0);
	assert_int_equal(cli_new_device(&b, &s, "bob@example.org", "phone", 2), 0);

	size_t len = 150 * 1024;
	uint8_t *data = malloc(len);
	assert_non_null(data);
	assert_int_equal(vl_random(data, len), VL_OK);
	char *id = NULL, chal[80];
	assert_int_equal(upload(&s, &a.dev, data, len, false, chal, NULL, &id), 201);
	assert_non_null(id);
	assert_int_equal(strlen(id), 65);
	id[64] = 0;
	/* The id is the SHA-256 of the content. */
	uint8_t h[VL_HASH_MAX];
	char want[65];
	assert_int_equal(vl_hash(vl_suite_get(1), data, len, h), VL_OK);
	hex(h, 32, want);
	assert_string_equal(id, want);

	/* Download: the same bytes. */
	char path[80];
	snprintf(path, sizeof path, "/blob/%s", id);
	char *got = NULL;
	size_t got_len = 0;
	assert_int_equal(wsc_http_request("127.0.0.1", s.port, false, "GET", path, NULL, NULL, 0,
	                                  &got, &got_len),
	                 200);
	assert_int_equal(got_len, len);
	assert_memory_equal(got, data, len);
	free(got);
	got = NULL;
	/* HEAD: the download's headers, not its bytes. */
	char *resp;
	size_t have = raw_request(s.port, "HEAD", path, "", &resp);
	char cl[64];
	snprintf(cl, sizeof cl, "Content-Length: %zu\r\n", len);
	assert_true(strncmp(resp, "HTTP/1.1 200", 12) == 0);
	assert_non_null(strstr(resp, cl));
	assert_non_null(strstr(resp, "Accept-Ranges: bytes\r\n"));
	char *end = strstr(resp, "\r\n\r\n");
	assert_non_null(end);
	assert_int_equal(have, (size_t)(end + 4 - resp)); /* nothing after the head */
	free(resp);
	/* One range (RFC 9110 §14): 206 with those bytes; past the end: 416. */
	have = raw_request(s.port, "GET", path, "Range: bytes=10-19\r\n", &resp);
	assert_true(strncmp(resp, "HTTP/1.1 206", 12) == 0);
	snprintf(cl, sizeof cl, "Content-Range: bytes 10-19/%zu\r\n", len);
	assert_non_null(strstr(resp, cl));
	end = strstr(resp, "\r\n\r\n");
	assert_non_null(end);
	assert_int_equal(have - (size_t)(end + 4 - resp), 10);
	assert_memory_equal(end + 4, data + 10, 10);
	free(resp);
	char past[64];
	snprintf(past, sizeof past, "Range: bytes=%zu-\r\n", len);
	raw_request(s.port, "GET", path, past, &resp);
	assert_true(strncmp(resp, "HTTP/1.1 416", 12) == 0);
	snprintf(cl, sizeof cl, "Content-Range: bytes */%zu\r\n", len);
	assert_non_null(strstr(resp, cl));
	free(resp);
	/* Unknown or malformed ids. */
	char *r = NULL;
	assert_int_equal(wsc_http_get("127.0.0.1", s.port, false,
	                              "/blob/0000000000000000000000000000000000000000000000000000"
	                              "000000000000",
	                              &r),
	                 404);
	free(r);
	assert_int_equal(wsc_http_get("127.0.0.1", s.port, false, "/blob/../valise.db", &r), 404);
	free(r);

	/* A challenge is good once; a bad signature is refused. */
	r = NULL;
	assert_int_equal(upload(&s, &a.dev, data, 1000, false, NULL, chal, &r), 401);
	free(r);
	r = NULL;
	assert_int_equal(upload(&s, &a.dev, data, 1000, true, NULL, NULL, &r), 401);
	free(r);
	/* Over the size limit. */
	uint8_t *big = calloc(1, 250 * 1024);
	assert_non_null(big);
	r = NULL;
	assert_int_equal(upload(&s, &a.dev, big, 250 * 1024, false, NULL, NULL, &r), 413);
	free(r);
	/* The same content again is not charged twice; other content over
	 * the quota is refused; Bob has his own quota. */
	r = NULL;
	assert_int_equal(upload(&s, &a.dev, data, len, false, NULL, NULL, &r), 201);
	free(r);
	r = NULL;
	data[0] ^= 1;
	assert_int_equal(upload(&s, &a.dev, data, len, false, NULL, NULL, &r), 507);
	free(r);
	r = NULL;
	assert_int_equal(upload(&s, &b.dev, data, len, false, NULL, NULL, &r), 201);
	free(r);
	/* A revoked or unknown device cannot upload. */
	struct vtc_device stranger;
	assert_int_equal(vtc_device_init(&stranger, "carol@example.org", "x", 1), VL_OK);
	r = NULL;
	assert_int_equal(upload(&s, &stranger, data, 100, false, NULL, NULL, &r), 401);
	free(r);
	free(big);
	free(data);
	free(id);
	cli_close(&a);
	cli_close(&b);
	srv_cleanup(&s);
	running = NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH-TO-VALISED\n", argv[0]);
		return 2;
	}
	valised_path = argv[1];
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_blobs, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
