/* SPDX-License-Identifier: Apache-2.0 */
/* End-to-end limits and bad input: oversized and malformed frames, text
 * and fragmented messages, the rate limit, /metrics counting it all,
 * /healthz, TLS 1.3, and plain WebSocket refused off loopback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e.h"

static const char *valised_path;
static struct srv *running; /* cleaned up by teardown even if a test fails */

static int teardown(void **state)
{
	(void)state;
	if (running)
		srv_cleanup(running);
	running = NULL;
	return 0;
}

#define OK(t) ((t) | VL_FRAME_REPLY)

#define expect_error(c, id) expect_error_at(c, id, __LINE__)
static uint16_t expect_error_at(struct cli *c, uint32_t id, int line)
{
	struct rframe r;
	if (cli_wait(c, VL_FRAME_ERROR, id, 5000, &r) != 1)
		fail_msg("no ERROR for request %u (line %d)", id, line);
	struct vl_msg_error e;
	assert_int_equal(vl_msg_error_decode(&r.f.body, &e), VL_OK);
	rframe_free(&r);
	return e.code;
}

static void test_bad_input(void **state)
{
	(void)state;
	struct srv s = {0};
	s.extra[0] = "max_frame=8192";
	running = &s;
	assert_int_equal(srv_start(&s, valised_path, false), 0);
	struct cli c;
	assert_int_equal(cli_new_device(&c, &s, "alice@example.org", "laptop", 1), 0);

	/* Too large, in one message or in fragments. */
	uint8_t *big = calloc(1, 10000);
	assert_non_null(big);
	big[0] = 1;
	big[1] = VL_FRAME_PING;
	big[5] = 77;
	assert_int_equal(wsc_send(&c.ws, WSC_BINARY, big, 10000), 0);
	assert_int_equal(expect_error(&c, 77), VL_PERR_TOO_LARGE);
	big[5] = 76;
	assert_int_equal(wsc_send_fragmented(&c.ws, big, 10000, 1000), 0);
	assert_int_equal(expect_error(&c, 76), VL_PERR_TOO_LARGE);
	free(big);
	/* A fragmented message within the limit is one frame. */
	uint8_t ping[] = {1, VL_FRAME_PING, 0, 0, 0, 78, 0};
	assert_int_equal(wsc_send_fragmented(&c.ws, ping, sizeof ping, 2), 0);
	struct rframe r;
	assert_int_equal(cli_wait(&c, OK(VL_FRAME_PING), 78, 5000, &r), 1);
	rframe_free(&r);
	/* Garbage, a text message, an unknown type, a bad body. */
	static const uint8_t junk[] = {1, 0x22, 0, 0, 0, 79, 0x40};
	assert_int_equal(wsc_send(&c.ws, WSC_BINARY, junk, sizeof junk), 0);
	assert_int_equal(expect_error(&c, 79), VL_PERR_MALFORMED);
	assert_int_equal(wsc_send(&c.ws, WSC_TEXT, "hello", 5), 0);
	assert_int_equal(expect_error(&c, 0), VL_PERR_MALFORMED);
	static const uint8_t unknown[] = {1, 0x6e, 0, 0, 0, 80, 0};
	assert_int_equal(wsc_send(&c.ws, WSC_BINARY, unknown, sizeof unknown), 0);
	assert_int_equal(expect_error(&c, 80), VL_PERR_UNKNOWN_TYPE);
	static const uint8_t badbody[] = {1, VL_FRAME_ACK, 0, 0, 0, 81, 2, 0, 1};
	assert_int_equal(wsc_send(&c.ws, WSC_BINARY, badbody, sizeof badbody), 0);
	assert_int_equal(expect_error(&c, 81), VL_PERR_MALFORMED);
	/* The server still works for this connection. */
	assert_int_equal(wsc_send(&c.ws, WSC_BINARY, ping, sizeof ping), 0);
	assert_int_equal(cli_wait(&c, OK(VL_FRAME_PING), 78, 5000, &r), 1);
	rframe_free(&r);
	/* Counted in /metrics. */
	assert_true(srv_metric(&s, "valised_malformed_frames_total") >= 5);
	assert_true(srv_metric(&s, "valised_oversized_frames_total") >= 2);
	assert_true(srv_metric(&s, "valised_unknown_type_frames_total") >= 1);
	/* Enough garbage closes the connection. */
	for (int i = 0; i < 20 && !c.ws.closed; i++)
		if (wsc_send(&c.ws, WSC_BINARY, junk, sizeof junk))
			break;
	assert_int_equal(cli_closing_code(&c, 5000), VL_PERR_TOO_MANY_ERRORS);
	cli_close(&c);
	/* The server lives on. */
	char *body = NULL;
	assert_int_equal(wsc_http_get("127.0.0.1", s.port, false, "/healthz", &body), 200);
	assert_string_equal(body, "ok\n");
	free(body);
	assert_int_equal(wsc_http_get("127.0.0.1", s.port, false, "/nothing", &body), 404);
	free(body);
	srv_cleanup(&s);
	running = NULL;
}

static void test_rate_limit(void **state)
{
	(void)state;
	struct srv s = {0};
	s.extra[0] = "rate=5";
	s.extra[1] = "burst=10";
	running = &s;
	assert_int_equal(srv_start(&s, valised_path, false), 0);
	struct cli c;
	assert_int_equal(cli_open(&c, &s), 0);
	for (uint32_t i = 1; i <= 40; i++) {
		uint8_t ping[] = {1, VL_FRAME_PING, 0, 0, 0, (uint8_t)i, 0};
		assert_int_equal(wsc_send(&c.ws, WSC_BINARY, ping, sizeof ping), 0);
	}
	unsigned ok = 0, limited = 0;
	for (uint32_t i = 1; i <= 40; i++) {
		struct rframe r;
		uint16_t code = 0;
		int t = cli_reply(&c, i, &code, &r, 5000);
		if (t == OK(VL_FRAME_PING))
			ok++;
		else if (t == VL_FRAME_ERROR && code == VL_PERR_RATE_LIMITED)
			limited++;
		if (t >= 0)
			rframe_free(&r);
	}
	assert_int_equal(ok + limited, 40);
	assert_true(ok >= 10 && ok < 20);
	assert_true(srv_metric(&s, "valised_rate_limited_total") == (long)limited);
	cli_close(&c);
	srv_cleanup(&s);
	running = NULL;
}

static void test_tls(void **state)
{
	(void)state;
	struct srv s = {0};
	running = &s;
	assert_int_equal(srv_start(&s, valised_path, true), 0);
	char *body = NULL;
	assert_int_equal(wsc_http_get("127.0.0.1", s.port, true, "/healthz", &body), 200);
	free(body);
	struct cli c;
	assert_int_equal(cli_new_device(&c, &s, "alice@example.org", "laptop", 2), 0);
	uint8_t ping[] = {1, VL_FRAME_PING, 0, 0, 0, 9, 0};
	assert_int_equal(wsc_send(&c.ws, WSC_BINARY, ping, sizeof ping), 0);
	struct rframe r;
	assert_int_equal(cli_wait(&c, OK(VL_FRAME_PING), 9, 5000, &r), 1);
	rframe_free(&r);
	cli_close(&c);
	/* No plain-text connection on the TLS port. */
	struct wsc w;
	assert_int_equal(wsc_connect(&w, "127.0.0.1", s.port, false, VL_PROTO_SUBPROTOCOL), -1);
	assert_int_equal(srv_stop(&s, 10000), 0);
	srv_cleanup(&s);
	running = NULL;

	/* Plain WebSocket is refused off loopback. */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		FILE *devnull = freopen("/dev/null", "w", stderr);
		(void)devnull;
		execl(valised_path, valised_path, "run", "--plain", "--listen", "0.0.0.0:0",
		      "--data", "/tmp", (char *)NULL);
		_exit(127);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 2);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH-TO-VALISED\n", argv[0]);
		return 2;
	}
	valised_path = argv[1];
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_bad_input, teardown),
	    cmocka_unit_test_teardown(test_rate_limit, teardown),
	    cmocka_unit_test_teardown(test_tls, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
