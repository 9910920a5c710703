/* SPDX-License-Identifier: Apache-2.0 */
/* Drives the client's network decoders with what a hostile server could
 * send, through a real socket (a socketpair): the first octet picks the
 * reader, the rest is the byte stream, then end of stream.
 *  - 0: WebSocket messages (cl_net_recv) until the stream fails. Every
 *    message is at most CL_NET_MSG_MAX; the failure is one of the
 *    documented codes.
 *  - 1-3: an HTTP response (cl_http_response) to a GET asking for the body
 *    from octet 0, 7 or 1000, with at most 4 KiB taken. The sink never
 *    receives more than that, and a range request never comes back as a
 *    206 (a partial response is checked and reported as 200). */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "client/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

struct sink {
	uint64_t got;
};

static bool sink_write(void *ctx, const uint8_t *d, size_t n)
{
	struct sink *s = ctx;
	(void)d;
	s->got += n;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The socket buffer holds the whole input: no writer thread. */
	if (size < 1 || size > 65536)
		return 0;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return 0;
	int big = 1 << 20;
	(void)setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
	/* As tcp_connect bounds a real connection's writes: answers to a
	 * flood of pings that nobody reads fail instead of blocking. */
	struct timeval tv = {.tv_usec = 20000};
	(void)setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	size_t off = 1;
	while (off < size) {
		ssize_t w = write(sv[1], data + off, size - off);
		CHECK(w > 0);
		off += (size_t)w;
	}
	CHECK(shutdown(sv[1], SHUT_WR) == 0);
	struct cl_net n;
	cl_net_init(&n);
	n.fd = sv[0];
	unsigned mode = data[0] % 4;
	if (mode == 0) {
		for (;;) {
			uint8_t *msg;
			size_t len;
			int rc = cl_net_recv(&n, &msg, &len, 0);
			if (rc != VL_OK) {
				CHECK(msg == NULL && len == 0);
				CHECK(rc == VL_ERR_NET || rc == VL_ERR_PROTOCOL ||
				      rc == VL_ERR_LIMIT || rc == VL_ERR_TIMEOUT);
				break;
			}
			CHECK(msg != NULL && len <= CL_NET_MSG_MAX);
			free(msg);
		}
	} else {
		static const uint64_t from[] = {0, 7, 1000};
		struct sink s = {0};
		struct cl_http_req req = {.method = "GET",
		                          .path = "/blob/x",
		                          .resp_write = sink_write,
		                          .resp_ctx = &s,
		                          .resp_max = 4096,
		                          .range_from = from[mode - 1]};
		int status;
		int rc = cl_http_response(&n, &req, 1000, &status);
		CHECK(s.got <= req.resp_max);
		if (rc == VL_OK)
			CHECK(status >= 100 && (req.range_from == 0 || status != 206));
		else
			CHECK(rc == VL_ERR_NET || rc == VL_ERR_PROTOCOL || rc == VL_ERR_LIMIT ||
			      rc == VL_ERR_TIMEOUT);
	}
	n.closed = true; /* no close frame to a peer that is gone */
	cl_net_close(&n);
	close(sv[1]);
	return 0;
}
