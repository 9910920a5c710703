/* SPDX-License-Identifier: Apache-2.0 */
/* valised's transport in this process (src/server/transport.c), for what
 * the end-to-end tests cannot reach from outside: an io_uring that fails
 * after start-up. The ring's descriptor is replaced under it, so the next
 * submission is refused; the connections whose sends it held must be
 * closed (not left half-written), the transport must go on with send(),
 * and nothing may leak or crash (the sanitizer build runs this too). */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "server/config.h"
#include "server/core.h"
#include "server/log.h"
#include "server/transport.h"
#include "server/transport_int.h"

static uv_loop_t loop;
static struct vl_server_config cfg;
static struct vl_store *st;
static struct vl_core *core;
static struct vl_transport *tr;
static char dir[64];

static void turns(int n)
{
	for (int i = 0; i < n; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
}

/* A plain WebSocket connection, upgraded. */
static int ws_open(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons((uint16_t)vl_transport_port(tr))};
	sa.sin_addr.s_addr = htonl(0x7f000001);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	static const char up[] = "GET / HTTP/1.1\r\nHost: example.org\r\n"
	                         "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	                         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	                         "Sec-WebSocket-Version: 13\r\n"
	                         "Sec-WebSocket-Protocol: valise.v1\r\n\r\n";
	assert_int_equal(write(fd, up, sizeof up - 1), (ssize_t)(sizeof up - 1));
	char head[1024];
	size_t got = 0;
	while (!memmem(head, got, "\r\n\r\n", 4)) {
		turns(1);
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 10) == 1) {
			ssize_t n = read(fd, head + got, sizeof head - got);
			assert_true(n > 0);
			got += (size_t)n;
		}
	}
	assert_non_null(memmem(head, got, " 101 ", 5));
	return fd;
}

/* Sends a masked PING with a 4-octet payload. */
static void ping(int fd, const char *payload)
{
	uint8_t f[10] = {0x89, 0x84, 0, 0, 0, 0};
	memcpy(f + 6, payload, 4); /* a zero mask: the payload as is */
	assert_int_equal(write(fd, f, sizeof f), (ssize_t)sizeof f);
}

/* What the server sent back within a few turns: 1 for a PONG carrying
 * payload, 0 for the connection closed without one. */
static int pong_or_closed(int fd, const char *payload)
{
	uint8_t b[64];
	size_t got = 0;
	for (int i = 0; i < 2000; i++) {
		turns(1);
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 1) != 1)
			continue;
		ssize_t n = read(fd, b + got, sizeof b - got);
		if (n <= 0)
			return 0;
		got += (size_t)n;
		if (got >= 6) {
			assert_int_equal(b[0], 0x8a);
			assert_int_equal(b[1], 4);
			assert_memory_equal(b + 2, payload, 4);
			return 1;
		}
	}
	fail_msg("neither a PONG nor a close");
	return -1;
}

static int setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	vl_log_set_level(VL_LOG_ERROR); /* the failure's warning is expected */
	assert_int_equal(uv_loop_init(&loop), 0);
	vl_server_config_defaults(&cfg);
	strcpy(cfg.listen_host, "127.0.0.1");
	cfg.port = 0;
	cfg.tls = false;
	snprintf(dir, sizeof dir, "/tmp/vl_test_transport_XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", dir);
	strcpy(cfg.server_name, "example.org");
	cfg.core.server_name = cfg.server_name;
	struct vl_store_config sc = {.backend = "sqlite", .path = ":memory:"};
	assert_int_equal(vl_store_open(&sc, &st), VL_OK);
	assert_int_equal(vl_core_new(&cfg.core, st, NULL, NULL, NULL, NULL, &core), VL_OK);
	assert_int_equal(vl_transport_new(&loop, &cfg, core, &tr), VL_OK);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	vl_transport_close(tr);
	for (int i = 0; i < 100 && uv_run(&loop, UV_RUN_NOWAIT); i++)
		;
	vl_transport_free(tr);
	vl_core_free(core);
	vl_store_free(st);
	assert_int_equal(uv_loop_close(&loop), 0);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* Pings each of fd[0..n) before the server's next turn (so that their
 * PONGs share a flush), payload four times `first` + i, and checks that
 * each answers (want 1) or is closed without an answer (want 0). */
static void ping_all(const int *fd, size_t n, char first, int want)
{
	char payload[8][5];
	assert_true(n <= 8);
	for (size_t i = 0; i < n; i++) {
		memset(payload[i], first + (char)i, 4);
		payload[i][4] = 0;
		ping(fd[i], payload[i]);
	}
	for (size_t i = 0; i < n; i++)
		assert_int_equal(pong_or_closed(fd[i], payload[i]), want);
}

static void test_ring_failure(void **state)
{
	(void)state;
	if (!vl_transport_io_uring(tr)) {
		print_message("io_uring unavailable here: the failure path cannot be reached\n");
		skip();
	}
	/* With the ring: three connections answered in one turn. */
	int fd[3] = {ws_open(), ws_open(), ws_open()};
	ping_all(fd, 3, 'a', 1);

	/* The ring's descriptor now names /dev/null: the next submission
	 * is refused. The three PONGs of that turn were in it: their
	 * connections are closed, none gets a PONG or half of one. */
	int null = open("/dev/null", O_RDWR);
	assert_true(null >= 0);
	assert_true(dup2(null, tr->ring->ring_fd) >= 0);
	close(null);
	ping_all(fd, 3, 'A', 0);
	assert_false(vl_transport_io_uring(tr));
	for (int i = 0; i < 3; i++)
		close(fd[i]);

	/* Then send(): new connections are answered, several in a turn. */
	int more[2] = {ws_open(), ws_open()};
	ping_all(more, 2, 'd', 1);
	close(more[0]);
	close(more[1]);
	for (int i = 0; i < 2000 && vl_core_conn_count(core); i++) {
		turns(1);
		usleep(500);
	}
	assert_int_equal(vl_core_conn_count(core), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_ring_failure, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
