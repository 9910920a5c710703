/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of libvalise that need no server: URL rules, the stored
 * message record codec, argument checks and failure paths of account
 * set-up and opening (nothing left behind). The client against a real
 * server is tested in tests/e2e/e2e_client.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/client_int.h"

static void test_url(void **state)
{
	(void)state;
	struct cl_url u;
	assert_int_equal(cl_url_parse("ws://127.0.0.1:8443", &u), VL_OK);
	assert_false(u.tls);
	assert_int_equal(u.port, 8443);
	assert_string_equal(u.host, "127.0.0.1");
	assert_int_equal(cl_url_parse("wss://chat.example.org", &u), VL_OK);
	assert_true(u.tls);
	assert_int_equal(u.port, 443);
	assert_int_equal(cl_url_parse("wss://[::1]:9/", &u), VL_OK);
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.port, 9);
	assert_int_equal(cl_url_parse("ws://localhost", &u), VL_OK);
	/* Plain only on loopback (protocol.md §1). */
	assert_int_equal(cl_url_parse("ws://chat.example.org", &u), VL_ERR_ARG);
	assert_int_equal(cl_url_parse("http://127.0.0.1", &u), VL_ERR_ARG);
	assert_int_equal(cl_url_parse("wss://host:0", &u), VL_ERR_ARG);
	assert_int_equal(cl_url_parse("wss://host:65536", &u), VL_ERR_ARG);
	assert_int_equal(cl_url_parse("wss://host:12x", &u), VL_ERR_ARG);
	assert_int_equal(cl_url_parse("wss://", &u), VL_ERR_ARG);
	assert_int_equal(cl_url_parse("wss://host/path", &u), VL_ERR_ARG);
	assert_int_equal(cl_url_parse("wss://[::1", &u), VL_ERR_ARG);
}

static void test_identity_and_hex(void **state)
{
	(void)state;
	char user[VL_CLIENT_ADDRESS_MAX + 1], dev[VL_CLIENT_DEVICE_MAX + 1];
	const char *id = "alice@example.org#laptop";
	assert_true(cl_split_identity((const uint8_t *)id, strlen(id), user, dev));
	assert_string_equal(user, "alice@example.org");
	assert_string_equal(dev, "laptop");
	const char *bad[] = {"alice@example.org", "alice#laptop", "Alice@example.org#x",
	                     "alice@example.org#", "alice@example.org#a b"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_false(cl_split_identity((const uint8_t *)bad[i], strlen(bad[i]), user, dev));
	uint8_t b[4] = {0x00, 0xab, 0x10, 0xff}, back[4];
	char hex[9];
	vl_hex_encode(b, 4, hex);
	assert_string_equal(hex, "00ab10ff");
	size_t n;
	assert_true(cl_unhex("00AB10ff", back, sizeof back, &n));
	assert_int_equal(n, 4);
	assert_memory_equal(back, b, 4);
	assert_false(cl_unhex("abc", back, sizeof back, &n));
	assert_false(cl_unhex("zz", back, sizeof back, &n));
	assert_false(cl_unhex("0011223344", back, sizeof back, &n));
	assert_false(cl_unhex("", back, sizeof back, &n));
}

static void test_record_round_trip(void **state)
{
	(void)state;
	struct vl_message m;
	memset(&m, 0, sizeof m);
	m.kind = VL_MSG_ATTACHMENT;
	snprintf(m.sender, sizeof m.sender, "bob@example.org");
	snprintf(m.sender_device, sizeof m.sender_device, "phone");
	m.timestamp_ms = 1700000000123ull;
	m.text = "scan.pdf";
	m.text_len = 8;
	m.edited = true;
	m.outgoing = false;
	snprintf(m.in_reply_to, sizeof m.in_reply_to, "%064d", 1);
	memset(m.attachment.blob_id, 'a', 64);
	m.attachment.file_name = "scan.pdf";
	m.attachment.media_type = "application/pdf";
	m.attachment.size = 5u << 20;
	memset(m.attachment.hash, 0x5a, 32);
	struct vl_reaction r[2] = {{"alice@example.org", "\xf0\x9f\x91\x8d"},
	                           {"carol@example.org", "ok"}};
	m.reactions = r;
	m.n_reactions = 2;
	struct vl_receipt rc[1] = {{"alice@example.org", VL_RECEIPT_READ}};
	m.receipts = rc;
	m.n_receipts = 1;
	uint8_t *buf;
	size_t len;
	assert_int_equal(cl_record_encode(&m, &buf, &len), VL_OK);
	struct vl_message d;
	assert_int_equal(cl_record_decode(buf, len, &d), VL_OK);
	assert_int_equal(d.kind, VL_MSG_ATTACHMENT);
	assert_string_equal(d.sender, m.sender);
	assert_string_equal(d.sender_device, "phone");
	assert_int_equal(d.timestamp_ms, m.timestamp_ms);
	assert_string_equal(d.text, "scan.pdf");
	assert_true(d.edited);
	assert_false(d.deleted);
	assert_string_equal(d.in_reply_to, m.in_reply_to);
	assert_string_equal(d.attachment.blob_id, m.attachment.blob_id);
	assert_string_equal(d.attachment.media_type, "application/pdf");
	assert_int_equal(d.attachment.size, 5u << 20);
	assert_memory_equal(d.attachment.hash, m.attachment.hash, 32);
	assert_int_equal(d.n_reactions, 2);
	assert_string_equal(d.reactions[1].reaction, "ok");
	assert_int_equal(d.n_receipts, 1);
	assert_int_equal(d.receipts[0].kind, VL_RECEIPT_READ);
	vl_message_cleanup(&d);
	/* Every truncation fails cleanly; so does a trailing byte. */
	for (size_t cut = 0; cut < len; cut++) {
		assert_int_not_equal(cl_record_decode(buf, cut, &d), VL_OK);
		assert_null(d.text);
	}
	uint8_t *longer = malloc(len + 1);
	assert_non_null(longer);
	memcpy(longer, buf, len);
	longer[len] = 0;
	assert_int_equal(cl_record_decode(longer, len + 1, &d), VL_ERR_DECODE);
	buf[0] = 9; /* unknown version */
	assert_int_equal(cl_record_decode(buf, len, &d), VL_ERR_UNSUPPORTED);
	free(longer);
	free(buf);
}

static char tmpdir[64];

static int setup_dir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/vl_client_XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_open_and_register_failures(void **state)
{
	(void)state;
	char dir[128];
	snprintf(dir, sizeof dir, "%s/dev", tmpdir);
	struct vl_client_opts o = {.data_dir = dir,
	                           .passphrase = "pw",
	                           .passphrase_len = 2,
	                           .argon2_m_kib = 8192,
	                           .timeout_ms = 2000};
	struct vl_client *c = NULL;
	assert_int_equal(vl_client_open(&o, &c), VL_ERR_NOT_FOUND);
	assert_null(c);
	/* Bad arguments are refused before anything is created. */
	assert_int_equal(vl_client_register(&o, "ws://127.0.0.1:1", "Alice@x", "d", "i", &c),
	                 VL_ERR_ARG);
	assert_int_equal(vl_client_register(&o, "ws://127.0.0.1:1", "a@x", "bad name", "i", &c),
	                 VL_ERR_ARG);
	assert_int_equal(vl_client_register(&o, "ws://example.org", "a@x", "d", "i", &c),
	                 VL_ERR_ARG);
	struct stat sb;
	assert_int_not_equal(stat(dir, &sb), 0);
	/* A server that is not there: a network error and no folder left. A
	 * port is reserved and closed so nothing listens on it. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	socklen_t sl = sizeof sa;
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	close(fd);
	char url[64];
	snprintf(url, sizeof url, "ws://127.0.0.1:%d", ntohs(sa.sin_port));
	assert_int_equal(vl_client_register(&o, url, "a@example.org", "d", "invite", &c),
	                 VL_ERR_NET);
	assert_null(c);
	assert_int_not_equal(stat(dir, &sb), 0);
	/* The same with a key file: the key file made for it goes too. */
	char kf[160], err[200] = "";
	snprintf(kf, sizeof kf, "%s/store.key", tmpdir);
	struct vl_client_opts ok = o;
	ok.passphrase = NULL;
	ok.passphrase_len = 0;
	ok.key_file = kf;
	ok.errbuf = err;
	ok.errbuf_len = sizeof err;
	assert_int_equal(vl_client_register(&ok, url, "a@example.org", "d", "invite", &c),
	                 VL_ERR_NET);
	assert_true(strlen(err) > 0);
	assert_int_not_equal(stat(kf, &sb), 0);
	assert_int_not_equal(stat(dir, &sb), 0);
	/* Both or neither of passphrase and key file. */
	struct vl_client_opts o2 = o;
	o2.passphrase = NULL;
	o2.passphrase_len = 0;
	assert_int_not_equal(vl_client_open(&o2, &c), VL_OK);
	vl_client_close(NULL);
}

static void test_net_against_non_websocket(void **state)
{
	(void)state;
	/* A listener that answers the upgrade with plain HTTP: the client
	 * must refuse it as not a WebSocket. */
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(ls >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof sa), 0);
	socklen_t sl = sizeof sa;
	assert_int_equal(getsockname(ls, (struct sockaddr *)&sa, &sl), 0);
	assert_int_equal(listen(ls, 1), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = accept(ls, NULL, NULL);
		char buf[2048];
		ssize_t r = read(fd, buf, sizeof buf);
		(void)r;
		static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
		ssize_t w = write(fd, resp, sizeof resp - 1);
		(void)w;
		close(fd);
		_exit(0);
	}
	close(ls);
	struct cl_url u;
	char url[64];
	snprintf(url, sizeof url, "ws://127.0.0.1:%d", ntohs(sa.sin_port));
	assert_int_equal(cl_url_parse(url, &u), VL_OK);
	struct cl_net n;
	assert_int_equal(cl_net_connect(&n, &u, NULL, 2000), VL_ERR_PROTOCOL);
	assert_int_equal(n.fd, -1);
	int st;
	waitpid(pid, &st, 0);
}

static void test_net_silent_peer(void **state)
{
	(void)state;
	/* A peer that accepts and never answers: the upgrade times out. */
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(ls >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof sa), 0);
	socklen_t sl = sizeof sa;
	assert_int_equal(getsockname(ls, (struct sockaddr *)&sa, &sl), 0);
	assert_int_equal(listen(ls, 1), 0);
	struct cl_url u;
	char url[64];
	snprintf(url, sizeof url, "ws://127.0.0.1:%d", ntohs(sa.sin_port));
	assert_int_equal(cl_url_parse(url, &u), VL_OK);
	struct cl_net n;
	assert_int_equal(cl_net_connect(&n, &u, NULL, 300), VL_ERR_TIMEOUT);
	assert_int_equal(n.fd, -1);
	close(ls);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_url),
	    cmocka_unit_test(test_identity_and_hex),
	    cmocka_unit_test(test_record_round_trip),
	    cmocka_unit_test_setup_teardown(test_open_and_register_failures, setup_dir,
	                                    teardown_dir),
	    cmocka_unit_test(test_net_against_non_websocket),
	    cmocka_unit_test(test_net_silent_peer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
