/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Drives valised's own connection handling (src/server/transport.c: HTTP
 * request heads and bodies, the WebSocket upgrade, frame assembly, control
 * frames, closing) with arbitrary bytes over real loopback TCP, against a
 * real core on an in-memory store. The parsers it calls are fuzzed on
 * their own (fuzz_http_head, fuzz_ws_frame); this harness is for what
 * transport.c keeps between reads.
 *
 * The input is a script: one flags byte (bit 0: begin with a valid
 * WebSocket upgrade request), then records `uint16 len, len bytes`, each
 * written to the socket on its own and read by the server before the next
 * (so records split heads, frame headers and payloads where the input
 * says). Then the client closes. Whatever came, valised must not crash,
 * and once the connection is gone the core must hold no connection and no
 * job (leaks are LeakSanitizer's to find).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "server/config.h"
#include "server/core.h"
#include "server/log.h"
#include "server/transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x)) {                                                                        \
			fprintf(stderr, "check failed: %s\n", #x);                                 \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static uv_loop_t loop;
static struct vl_server_config cfg;
static struct vl_store *st;
static struct vl_core *core;
static struct vl_transport *tr;
static int port;

/* The data folder (blobs/) goes with the process. */
static void remove_data_dir(void)
{
	char cmd[VL_CONFIG_PATH_MAX + 16];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", cfg.data_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_transport: could not remove %s\n", cfg.data_dir);
}

static void setup(void)
{
	/* As valised does: a peer gone mid-write is an error, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	vl_log_set_level(VL_LOG_ERROR);
	CHECK(uv_loop_init(&loop) == 0);
	vl_server_config_defaults(&cfg);
	strcpy(cfg.listen_host, "127.0.0.1");
	cfg.port = 0;
	cfg.tls = false;
	char dir[] = "/tmp/vl_fuzz_transport_XXXXXX";
	CHECK(mkdtemp(dir));
	snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", dir);
	atexit(remove_data_dir);
	strcpy(cfg.server_name, "example.org");
	cfg.core.server_name = cfg.server_name;
	cfg.core.max_frame = 1u << 16;
	cfg.send_buffer = 1u << 16;
	struct vl_store_config sc = {.backend = "sqlite", .path = ":memory:"};
	CHECK(vl_store_open(&sc, &st) == VL_OK);
	CHECK(vl_core_new(&cfg.core, st, NULL, NULL, NULL, NULL, &core) == VL_OK);
	CHECK(vl_transport_new(&loop, &cfg, core, &tr) == VL_OK);
	port = vl_transport_port(tr);
}

/* Lets the server take what was written and answer (loopback delivers at
 * once; a few turns cover accept, read, the end-of-turn write). */
static void turns(int fd)
{
	for (int i = 0; i < 4; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		uint8_t sink[65536];
		while (read(fd, sink, sizeof sink) > 0)
			;
	}
}

static void write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EAGAIN) {
			turns(fd); /* the server reads; room comes back */
			continue;
		}
		if (w <= 0)
			return; /* the server closed: the rest goes nowhere */
		p += w;
		n -= (size_t)w;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!tr)
		setup();
	if (!size)
		return 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	CHECK(fd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(0x7f000001);
	int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
	CHECK(rc == 0 || errno == EINPROGRESS);
	turns(fd);
	if (data[0] & 1) {
		static const char up[] = "GET / HTTP/1.1\r\nHost: example.org\r\n"
		                         "Upgrade: websocket\r\nConnection: Upgrade\r\n"
		                         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		                         "Sec-WebSocket-Version: 13\r\n"
		                         "Sec-WebSocket-Protocol: valise.v1\r\n\r\n";
		write_all(fd, (const uint8_t *)up, sizeof up - 1);
		turns(fd);
	}
	size_t pos = 1;
	while (size - pos >= 2) {
		size_t len = (size_t)data[pos] << 8 | data[pos + 1];
		pos += 2;
		if (len > size - pos)
			len = size - pos;
		write_all(fd, data + pos, len);
		pos += len;
		turns(fd);
	}
	close(fd);
	/* The server sees the end, closes its side, and the core forgets the
	 * connection: at once, unless the kernel left the FIN to ksoftirqd,
	 * so after the first turns wait a millisecond between them (2 s at
	 * most: a connection still held then is a leak). */
	for (int i = 0; i < 2100 && vl_core_conn_count(core); i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		if (i >= 100 && vl_core_conn_count(core))
			usleep(1000);
	}
	uv_run(&loop, UV_RUN_NOWAIT);
	CHECK(vl_core_conn_count(core) == 0);
	CHECK(vl_core_jobs_inflight(core) == 0);
	return 0;
}
