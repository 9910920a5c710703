/* SPDX-License-Identifier: Apache-2.0 */
/* End-to-end blobs over HTTP on the server's port: challenge-signed
 * uploads, content addressing, download by id, the size limit, the
 * per-user quota, refused signatures and replayed challenges, resumable
 * uploads, retention, and transfers too slow to keep. */
#include <dirent.h>
#include <fcntl.h>
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
#include <poll.h>
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

/* Uploads data as d; returns the HTTP status, *id the reply. */
static int upload(struct srv *s, const struct vtc_device *d, const uint8_t *data, size_t len,
                  bool corrupt_sig, char *challenge_out, const char *reuse_challenge, char **id)
{
	char headers[1024];
	assert_int_equal(blob_auth_headers(s, d, corrupt_sig, challenge_out, reuse_challenge,
	                                   headers, sizeof headers),
	                 0);
	size_t rl;
	return wsc_http_request("127.0.0.1", s->port, s->tls, "PUT", "/blob", headers, data, len,
	                        id, &rl);
}

/* Opens a connection and sends a request head (Connection: close) and
 * the first n octets of its body; returns the connection, still open. */
static int request_start(int port, const char *method, const char *path, const char *headers,
                         const uint8_t *body, size_t n)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	char req[2048];
	int rl =
	    snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: a\r\n%sConnection: close\r\n\r\n",
	             method, path, headers);
	assert_true(rl > 0 && (size_t)rl < sizeof req);
	assert_int_equal(write(fd, req, (size_t)rl), rl);
	while (n) {
		ssize_t w = write(fd, body, n);
		assert_true(w > 0);
		body += w;
		n -= (size_t)w;
	}
	return fd;
}

/* Reads the whole response of fd and closes it: NUL-terminated, in *out
 * (heap); returns its length. */
static size_t response(int fd, char **out)
{
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

/* One request with no body on a connection of its own; as response(). */
static size_t raw_request(int port, const char *method, const char *path, const char *headers,
                          char **out)
{
	return response(request_start(port, method, path, headers, NULL, 0), out);
}

/* Starts valised with blobs of at most 200 KiB and 250 KiB per user (and
 * extra, one more setting, or NULL) and registers Alice and Bob; returns
 * 150 KiB of random data (heap), its length in *len. */
static uint8_t *blob_setup(struct srv *s, const char *extra, struct cli *a, struct cli *b,
                           size_t *len)
{
	s->extra[0] = "max_blob=200K";
	s->extra[1] = "blob_quota=250K";
	s->extra[2] = extra;
	running = s;
	assert_int_equal(srv_start(s, valised_path, false), 0);
	assert_int_equal(cli_new_device(a, s, "alice@example.org", "laptop", 1), 0);
	assert_int_equal(cli_new_device(b, s, "bob@example.org", "phone", 2), 0);
	*len = 150 * 1024;
	uint8_t *data = malloc(*len);
	assert_non_null(data);
	assert_int_equal(vl_random(data, *len), VL_OK);
	return data;
}

/* Downloads path whole (200) and checks it is data[0..len). */
static void expect_download(const struct srv *s, const char *path, const uint8_t *data, size_t len)
{
	char *got = NULL;
	size_t got_len = 0;
	assert_int_equal(wsc_http_request("127.0.0.1", s->port, false, "GET", path, NULL, NULL, 0,
	                                  &got, &got_len),
	                 200);
	assert_int_equal(got_len, len);
	assert_memory_equal(got, data, len);
	free(got);
}

static void test_blobs(void **state)
{
	(void)state;
	struct srv s = {0};
	struct cli a, b;
	size_t len;
	uint8_t *data = blob_setup(&s, NULL, &a, &b, &len);
	char *id = NULL, chal[80];
	assert_int_equal(upload(&s, &a.dev, data, len, false, chal, NULL, &id), 201);
	assert_non_null(id);
	assert_int_equal(strlen(id), 65);
	id[64] = 0;
	/* The id is the SHA-256 of the content. */
	uint8_t h[VL_HASH_MAX];
	char want[65];
	assert_int_equal(vl_hash(vl_suite_get(1), data, len, h), VL_OK);
	vl_hex_encode(h, 32, want);
	assert_string_equal(id, want);

	/* Download: the same bytes. */
	char path[80];
	snprintf(path, sizeof path, "/blob/%s", id);
	expect_download(&s, path, data, len);
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

/* The status of an HTTP response, or -1. */
static int status_of(const char *resp)
{
	int st = -1;
	return sscanf(resp, "HTTP/1.1 %d", &st) == 1 ? st : -1;
}

/* The X-Valise-Offset of a response, or -1 if it has none. */
static long long offset_of(const char *resp)
{
	static const char name[] = "\r\nX-Valise-Offset: ";
	const char *o = strstr(resp, name);
	return o ? atoll(o + sizeof name - 1) : -1;
}

/* Starts a resumable upload of data[0..total) as d with that upload id,
 * sending n octets of it; returns the connection, still open. */
static int resumable_start(struct srv *s, const struct vtc_device *d, const char *uid,
                           const uint8_t *data, size_t total, size_t first, size_t n)
{
	char auth[1024], headers[1400];
	assert_int_equal(blob_auth_headers(s, d, false, NULL, NULL, auth, sizeof auth), 0);
	int hl =
	    snprintf(headers, sizeof headers, "%sX-Valise-Upload: %s\r\nContent-Length: %zu\r\n",
	             auth, uid, total - first);
	if (first)
		snprintf(headers + hl, sizeof headers - (size_t)hl,
		         "Content-Range: bytes %zu-%zu/%zu\r\n", first, total - 1, total);
	return request_start(s->port, "PUT", "/blob", headers, data + first, n);
}

/* Asks how far d's upload uid of total octets got: the whole response in
 * *out (heap); returns its status. */
static int resumable_query(struct srv *s, const struct vtc_device *d, const char *uid, size_t total,
                           char **out)
{
	char auth[1024], headers[1400];
	assert_int_equal(blob_auth_headers(s, d, false, NULL, NULL, auth, sizeof auth), 0);
	snprintf(headers, sizeof headers,
	         "%sX-Valise-Upload: %s\r\nContent-Range: bytes */%zu\r\nContent-Length: 0\r\n",
	         auth, uid, total);
	raw_request(s->port, "PUT", "/blob", headers, out);
	return status_of(*out);
}

/* Waits (up to 5 s) until the server holds want octets of d's upload uid:
 * the bytes sent before have been read, authenticated and written. */
static void wait_offset(struct srv *s, const struct vtc_device *d, const char *uid, size_t total,
                        long long want)
{
	long long got = -1;
	for (int i = 0; i < 250 && got != want; i++) {
		char *r;
		assert_int_equal(resumable_query(s, d, uid, total, &r), 200);
		got = offset_of(r);
		free(r);
		if (got != want)
			usleep(20000);
	}
	assert_int_equal(got, want);
}

static void expect_id(const char *resp, const uint8_t *data, size_t len)
{
	uint8_t h[VL_HASH_MAX];
	char want[65];
	assert_int_equal(vl_hash(vl_suite_get(1), data, len, h), VL_OK);
	vl_hex_encode(h, 32, want);
	const char *body = strstr(resp, "\r\n\r\n");
	assert_non_null(body);
	assert_int_equal(strncmp(body + 4, want, 64), 0);
}

static size_t files_in(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	size_t n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Resumable uploads (docs/protocol.md §7): a connection cut part-way
 * leaves what arrived for the same device to finish; queries, offsets
 * that do not match, a newer request taking over, limits, expiry, a crash
 * (the part is lost) and a stop (it is kept). */
/* Waits (up to 5 s) for dir to hold n files. */
static void wait_files(const char *dir, size_t n)
{
	for (int i = 0; i < 250 && files_in(dir) != n; i++)
		usleep(20000);
	assert_int_equal(files_in(dir), n);
}

/* Changes the first octet of the one part file in dir (not its note). */
static void spoil_part(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	char path[520] = "";
	for (struct dirent *e; (e = readdir(d));)
		if (e->d_name[0] != '.' && !strstr(e->d_name, ".part"))
			snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
	closedir(d);
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	uint8_t c;
	assert_int_equal(pread(fd, &c, 1, 0), 1);
	c ^= 0xff;
	assert_int_equal(pwrite(fd, &c, 1, 0), 1);
	close(fd);
}

static void test_resumable(void **state)
{
	(void)state;
	struct srv s = {0};
	struct cli a, b;
	size_t len;
	uint8_t *data = blob_setup(&s, "upload_ttl=2", &a, &b, &len);
	const char *u1 = "00112233445566778899aabbccddeeff";
	char *r;

	/* Nothing held yet: offset 0. */
	assert_int_equal(resumable_query(&s, &a.dev, u1, len, &r), 200);
	assert_int_equal(offset_of(r), 0);
	free(r);
	/* 60 KiB sent, then the connection is lost. */
	int fd = resumable_start(&s, &a.dev, u1, data, len, 0, 10 * 1024);
	wait_offset(&s, &a.dev, u1, len, 10 * 1024);
	size_t more = 50 * 1024;
	assert_int_equal(write(fd, data + 10 * 1024, more), (ssize_t)more);
	wait_offset(&s, &a.dev, u1, len, 60 * 1024);
	close(fd);
	wait_offset(&s, &a.dev, u1, len, 60 * 1024);
	/* Another user's device does not see it; another size is refused. */
	assert_int_equal(resumable_query(&s, &b.dev, u1, len, &r), 200);
	assert_int_equal(offset_of(r), 0);
	free(r);
	assert_int_equal(resumable_query(&s, &a.dev, u1, len + 1, &r), 400);
	free(r);
	/* Starting elsewhere than the server's offset: 409 and the offset. */
	raw_request(s.port, "GET", "/healthz", "", &r);
	free(r);
	fd = resumable_start(&s, &a.dev, u1, data, len, 0, 0);
	response(fd, &r);
	assert_int_equal(status_of(r), 409);
	assert_int_equal(offset_of(r), 60 * 1024);
	free(r);
	fd = resumable_start(&s, &a.dev, u1, data, len, 70 * 1024, 0);
	response(fd, &r);
	assert_int_equal(status_of(r), 409);
	assert_int_equal(offset_of(r), 60 * 1024);
	free(r);
	/* The rest from there: stored under the hash of the whole. */
	fd = resumable_start(&s, &a.dev, u1, data, len, 60 * 1024, len - 60 * 1024);
	response(fd, &r);
	assert_int_equal(status_of(r), 201);
	expect_id(r, data, len);
	const char *body = strstr(r, "\r\n\r\n") + 4;
	char path[80];
	snprintf(path, sizeof path, "/blob/%.64s", body);
	free(r);
	expect_download(&s, path, data, len);
	/* Finished: no longer held. */
	assert_int_equal(resumable_query(&s, &a.dev, u1, len, &r), 200);
	assert_int_equal(offset_of(r), 0);
	free(r);

	/* A newer request takes over from one the server still reads: the
	 * old one gets 409, the new one finishes the blob. */
	const char *u2 = "0123456789abcdef0123456789abcdef";
	uint8_t *small = data + 1000; /* other content, 20 KiB */
	size_t slen = 20 * 1024;
	int old = resumable_start(&s, &a.dev, u2, small, slen, 0, 5 * 1024);
	wait_offset(&s, &a.dev, u2, slen, 5 * 1024);
	fd = resumable_start(&s, &a.dev, u2, small, slen, 5 * 1024, slen - 5 * 1024);
	response(fd, &r);
	assert_int_equal(status_of(r), 201);
	expect_id(r, small, slen);
	free(r);
	response(old, &r);
	assert_int_equal(status_of(r), 409);
	free(r);

	/* Refused shapes: Content-Range without X-Valise-Upload, a range that
	 * stops short of the end, a query with a body, a bad upload id. */
	char auth[1024], h[1400];
	static const char *const bad[] = {
	    "Content-Range: bytes 0-9/10\r\nContent-Length: 10\r\n",
	    "X-Valise-Upload: 00112233445566778899aabbccddeeff\r\n"
	    "Content-Range: bytes 0-9/100\r\nContent-Length: 10\r\n",
	    "X-Valise-Upload: 00112233445566778899aabbccddeeff\r\n"
	    "Content-Range: bytes */100\r\nContent-Length: 5\r\n",
	    "X-Valise-Upload: 0011\r\nContent-Length: 10\r\n",
	    "X-Valise-Upload: 00112233445566778899aabbccddeeff00\r\nContent-Length: 10\r\n",
	    "X-Valise-Upload: \r\nContent-Length: 10\r\n",
	    "X-Valise-Upload: 00112233445566778899AABBCCDDEEFF\r\nContent-Length: 10\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		assert_int_equal(
		    blob_auth_headers(&s, &a.dev, false, NULL, NULL, auth, sizeof auth), 0);
		snprintf(h, sizeof h, "%s%s", auth, bad[i]);
		raw_request(s.port, "PUT", "/blob", h, &r);
		if (status_of(r) != 400)
			fail_msg("case %zu: %.40s", i, r);
		free(r);
	}

	/* Limits: the user's unfinished uploads count against the quota
	 * (250 KiB: 150 held, 150 more refused); four per device. */
	const char *uids[] = {
	    "10000000000000000000000000000000", "20000000000000000000000000000000",
	    "30000000000000000000000000000000", "40000000000000000000000000000000",
	    "50000000000000000000000000000000"};
	fd = resumable_start(&s, &a.dev, uids[0], data, len, 0, 1024);
	wait_offset(&s, &a.dev, uids[0], len, 1024);
	close(fd);
	fd = resumable_start(&s, &a.dev, uids[1], data + 1, len, 0, 0);
	response(fd, &r);
	assert_int_equal(status_of(r), 507);
	free(r);
	for (int i = 1; i < 4; i++) {
		fd = resumable_start(&s, &a.dev, uids[i], data + i, 1024, 0, 100);
		wait_offset(&s, &a.dev, uids[i], 1024, 100);
		close(fd);
	}
	fd = resumable_start(&s, &a.dev, uids[4], data, 1024, 0, 0);
	response(fd, &r);
	assert_int_equal(status_of(r), 429);
	free(r);
	/* Bob has his own. */
	fd = resumable_start(&s, &b.dev, uids[4], data, 1024, 0, 100);
	wait_offset(&s, &b.dev, uids[4], 1024, 100);
	close(fd);
	char tmp[200];
	snprintf(tmp, sizeof tmp, "%s/blobs/tmp", s.dir);
	wait_files(tmp, 10); /* five parts, each with its note */

	/* Counted in /metrics. */
	assert_int_equal(srv_metric(&s, "valised_blob_uploads_unfinished"), 5);
	assert_int_equal(srv_metric(&s, "valised_blob_upload_resumes_total"), 2);
	assert_int_equal(srv_metric(&s, "valised_blob_uploads_total"), 2);
	assert_int_equal(srv_metric(&s, "valised_blob_uploads_refused_total"), 10);

	/* upload_ttl (2 s) after their last octet they are gone, files too
	 * (not before 2 s; waited for up to 10). */
	sleep(2);
	for (int i = 0; i < 100 && files_in(tmp); i++)
		usleep(100000);
	assert_int_equal(resumable_query(&s, &a.dev, uids[0], len, &r), 200);
	assert_int_equal(offset_of(r), 0);
	free(r);
	assert_int_equal(files_in(tmp), 0);
	assert_int_equal(srv_metric(&s, "valised_blob_uploads_unfinished"), 0);
	assert_int_equal(srv_metric(&s, "valised_blob_uploads_expired_total"), 5);

	/* After kill -9 a start takes the part back as the last request that
	 * left it unfinished noted it: 1024 octets, though 2048 more came
	 * since on a request still open. */
	fd = resumable_start(&s, &a.dev, u1, data, len, 0, 1024);
	wait_offset(&s, &a.dev, u1, len, 1024);
	close(fd);
	wait_files(tmp, 2);
	fd = resumable_start(&s, &a.dev, u1, data, len, 1024, 2048);
	wait_offset(&s, &a.dev, u1, len, 3072);
	srv_kill9(&s);
	close(fd);
	assert_int_equal(srv_restart(&s), 0);
	assert_int_equal(files_in(tmp), 2);
	assert_int_equal(resumable_query(&s, &a.dev, u1, len, &r), 200);
	assert_int_equal(offset_of(r), 1024);
	free(r);
	/* A file that no longer holds what its note says (the crash lost
	 * some of it) is not taken back: the upload starts again from 0. */
	srv_kill9(&s);
	spoil_part(tmp);
	assert_int_equal(srv_restart(&s), 0);
	assert_int_equal(files_in(tmp), 0);
	assert_int_equal(resumable_query(&s, &a.dev, u1, len, &r), 200);
	assert_int_equal(offset_of(r), 0);
	free(r);
	/* A stop (SIGTERM) syncs the file and its note; the next start takes
	 * it back, and the rest completes it. */
	fd = resumable_start(&s, &a.dev, u1, data, len, 0, 1024);
	wait_offset(&s, &a.dev, u1, len, 1024);
	close(fd);
	wait_files(tmp, 2);
	assert_int_equal(srv_stop(&s, 10000), 0);
	assert_int_equal(files_in(tmp), 2);
	assert_int_equal(srv_restart(&s), 0);
	assert_int_equal(files_in(tmp), 2);
	assert_int_equal(srv_metric(&s, "valised_blob_uploads_unfinished"), 1);
	assert_int_equal(resumable_query(&s, &a.dev, u1, len, &r), 200);
	assert_int_equal(offset_of(r), 1024);
	free(r);
	assert_int_equal(resumable_query(&s, &b.dev, u1, len, &r), 200);
	assert_int_equal(offset_of(r), 0); /* still only its own device's */
	free(r);
	fd = resumable_start(&s, &a.dev, u1, data, len, 1024, len - 1024);
	response(fd, &r);
	assert_int_equal(status_of(r), 201);
	expect_id(r, data, len);
	free(r);
	assert_int_equal(files_in(tmp), 0);
	assert_int_equal(srv_stop(&s, 10000), 0);
	assert_int_equal(files_in(tmp), 0);
	cli_close(&a);
	cli_close(&b);
	free(data);
	srv_cleanup(&s);
	running = NULL;
}

/* What `valised admin usage` prints for user: the bytes counted against
 * the quota; -1 if the line is not the one expected. */
static long long admin_usage(const struct srv *s, const char *user)
{
	char cmd[512], line[256];
	snprintf(cmd, sizeof cmd, "%s admin usage %s --data %s --set blob_quota=250K", valised_path,
	         user, s->dir);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	long long used = -1;
	char who[128];
	if (fgets(line, sizeof line, p) &&
	    (sscanf(line, "%127[^\t]\tblobs\t%lld\tof\t256000\tbytes\t", who, &used) != 2 ||
	     strcmp(who, user) != 0))
		used = -1;
	assert_int_equal(pclose(p), 0);
	return used;
}

/* Retention (blob_ttl): a blob is gone blob_ttl seconds after its upload,
 * its file deleted and its bytes given back to the user's quota. */
static void test_retention(void **state)
{
	(void)state;
	struct srv s = {0};
	struct cli a, b;
	size_t len;
	uint8_t *data = blob_setup(&s, "blob_ttl=2", &a, &b, &len);
	char *id = NULL;
	assert_int_equal(upload(&s, &a.dev, data, len, false, NULL, NULL, &id), 201);
	char path[80], file[300];
	snprintf(path, sizeof path, "/blob/%.64s", id);
	snprintf(file, sizeof file, "%s/blobs/%.2s/%.64s", s.dir, id, id);
	free(id);
	assert_int_equal(access(file, F_OK), 0);
	assert_int_equal(admin_usage(&s, "alice@example.org"), (long long)len);
	assert_int_equal(admin_usage(&s, "bob@example.org"), 0);
	/* Over the quota while it is kept. */
	char *r = NULL;
	data[0] ^= 1;
	assert_int_equal(upload(&s, &a.dev, data, len, false, NULL, NULL, &r), 507);
	free(r);
	/* Gone a few seconds later (passes run every blob_ttl / 2 here). */
	int st = 0;
	for (int i = 0; i < 200; i++) {
		char *body = NULL;
		st = wsc_http_get("127.0.0.1", s.port, false, path, &body);
		free(body);
		if (st == 404)
			break;
		usleep(50000);
	}
	assert_int_equal(st, 404);
	assert_int_not_equal(access(file, F_OK), 0);
	/* The file goes while the pass runs, the count once it is durable. */
	assert_int_equal(srv_metric_wait(&s, "valised_blobs_retired_total", 1, 5000), 1);
	/* Its bytes are free again. */
	assert_int_equal(admin_usage(&s, "alice@example.org"), 0);
	r = NULL;
	assert_int_equal(upload(&s, &a.dev, data, len, false, NULL, NULL, &r), 201);
	free(r);
	cli_close(&a);
	cli_close(&b);
	free(data);
	srv_cleanup(&s);
	running = NULL;
}

/* Waits up to ms for fd to close or answer: the first response octets
 * into buf (NUL-terminated), their count; 0 if the server closed without
 * a word, -1 if nothing came in time. */
static ssize_t wait_answer(int fd, int ms, char *buf, size_t cap)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, ms) != 1)
		return -1;
	ssize_t n = recv(fd, buf, cap - 1, 0);
	buf[n > 0 ? n : 0] = 0;
	return n > 0 ? n : 0;
}

/* Sends n octets of data every step_ms, MSG_NOSIGNAL, until all are
 * sent or the server answers or closes; returns what wait_answer did
 * (-1: all sent, no answer). *sent counts what went. */
static ssize_t trickle(int fd, const uint8_t *data, size_t len, size_t n, int step_ms, size_t *sent,
                       char *buf, size_t cap)
{
	*sent = 0;
	while (*sent < len) {
		ssize_t r = wait_answer(fd, step_ms, buf, cap);
		if (r >= 0)
			return r;
		size_t k = len - *sent < n ? len - *sent : n;
		if (send(fd, data + *sent, k, MSG_NOSIGNAL) != (ssize_t)k)
			return 0;
		*sent += k;
	}
	return -1;
}

/* http_timeout and transfer_min_rate: a request head, an upload or a download
 * slower than the minimum rate is cut after a window, an upload with 408
 * and its resumable part kept; one at the rate goes through. Windows of 2 s
 * here, 8 KiB each (4 KiB/s). */
static void test_slow_transfers(void **state)
{
	(void)state;
	struct srv s = {0};
	struct cli a, b;
	size_t len;
	s.extra[3] = "transfer_min_rate=4K";
	s.extra[4] = "max_blob=16M";
	s.extra[5] = "blob_quota=64M";
	uint8_t *data = blob_setup(&s, "http_timeout=2", &a, &b, &len);
	char buf[512];
	size_t sent;

	/* A head an octet at a time: closed without an answer. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s.port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	static const char head[] =
	    "GET /healthz HTTP/1.1\r\nHost: a\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa";
	assert_int_equal(
	    trickle(fd, (const uint8_t *)head, sizeof head - 1, 1, 250, &sent, buf, sizeof buf), 0);
	assert_true(sent < sizeof head - 1);
	close(fd);

	/* A resumable upload at 400 octets a second: 408 after about a
	 * window, and what came is kept for the next attempt. */
	const char *uid = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
	fd = resumable_start(&s, &a.dev, uid, data, len, 0, 1000);
	ssize_t r = trickle(fd, data + 1000, len - 1000, 100, 250, &sent, buf, sizeof buf);
	assert_true(r > 0);
	assert_int_equal(status_of(buf), 408);
	close(fd);
	assert_true(sent < 20 * 100); /* cut within 5 s */
	char *q;
	assert_int_equal(resumable_query(&s, &a.dev, uid, len, &q), 200);
	long long have = offset_of(q);
	free(q);
	assert_true(have >= 1000 && (size_t)have <= 1000 + sent);
	fd = resumable_start(&s, &a.dev, uid, data, len, (size_t)have, len - (size_t)have);
	response(fd, &q);
	assert_int_equal(status_of(q), 201);
	expect_id(q, data, len);
	free(q);

	/* 40 KiB at 10 KiB/s, over two windows: stored. */
	char auth[1024], headers[1200];
	assert_int_equal(blob_auth_headers(&s, &a.dev, false, NULL, NULL, auth, sizeof auth), 0);
	snprintf(headers, sizeof headers, "%sContent-Length: %d\r\n", auth, 40 * 1024);
	fd = request_start(s.port, "PUT", "/blob", headers, NULL, 0);
	assert_int_equal(trickle(fd, data, 40 * 1024, 2048, 200, &sent, buf, sizeof buf), -1);
	response(fd, &q);
	assert_int_equal(status_of(q), 201);
	expect_id(q, data, 40 * 1024);
	free(q);

	/* A download read at 1 KiB/s (8 MiB, more than the sockets hold):
	 * cut; read at full speed, whole. */
	size_t big_len = 8u << 20;
	uint8_t *big = malloc(big_len);
	assert_non_null(big);
	assert_int_equal(vl_random(big, big_len), VL_OK);
	char *id = NULL;
	assert_int_equal(upload(&s, &a.dev, big, big_len, false, NULL, NULL, &id), 201);
	char path[80];
	snprintf(path, sizeof path, "/blob/%.64s", id);
	free(id);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	int small = 4096;
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	char get[160];
	int gl = snprintf(get, sizeof get, "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", path);
	assert_int_equal(write(fd, get, (size_t)gl), gl);
	size_t got = 0;
	ssize_t n = 1;
	for (int i = 0; i < 40 && n > 0; i++) {
		usleep(250000);
		n = recv(fd, buf, 256, 0);
		got += n > 0 ? (size_t)n : 0;
	}
	assert_true(n <= 0); /* closed within 10 s */
	assert_true(got < big_len);
	close(fd);
	expect_download(&s, path, big, big_len);
	free(big);
	/* The head, the upload and the download. */
	assert_int_equal(srv_metric(&s, "valised_slow_transfers_total"), 3);
	/* The reset download's buffers, and every other, are given back. */
	assert_int_equal(srv_metric_wait(&s, "valised_send_buffered_bytes", 0, 5000), 0);
	cli_close(&a);
	cli_close(&b);
	free(data);
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
	    cmocka_unit_test_teardown(test_resumable, teardown),
	    cmocka_unit_test_teardown(test_retention, teardown),
	    cmocka_unit_test_teardown(test_slow_transfers, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
