/* SPDX-License-Identifier: Apache-2.0 */
/* End-to-end transport writes: valised collects the frames of one loop
 * turn per connection and writes them together, already framed. These
 * tests read the server's byte stream with a strict RFC 6455 §5.2 parser
 * (every frame final, binary, unmasked, its length in the shortest form)
 * and check that bursts of pushes of every length class, over plain
 * WebSocket and TLS, arrive whole and in order; and that a reader that
 * never reads is still closed as too slow, its messages kept for later.
 * Then the rest of the transport valised implements itself: control
 * frames between fragments, TLS key updates, HTTP keep-alive and bad
 * request heads. */
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/ssl.h>

#include "e2e.h"

static const char *valised_path;
static struct srv *running; /* cleaned up by teardown even if a test fails */
static const uint8_t GID[32] = {0x7a, 0x11, 9, 8, 7};

#define OK(t) ((t) | VL_FRAME_REPLY)

static int teardown(void **state)
{
	(void)state;
	if (running) {
		srv_cleanup(running);
		free(running);
	}
	running = NULL;
	return 0;
}

static struct srv *start(bool tls, const char *const *extra)
{
	struct srv *s = calloc(1, sizeof *s);
	assert_non_null(s);
	for (int i = 0; extra[i] && i < 7; i++)
		s->extra[i] = extra[i];
	assert_int_equal(srv_start(s, valised_path, tls), 0);
	running = s;
	return s;
}

static void expect_ok(struct cli *c, uint32_t id, uint8_t type)
{
	struct rframe r;
	uint16_t code = 0;
	int t = cli_reply(c, id, &code, &r, 10000);
	if (t == VL_FRAME_ERROR)
		fail_msg("%s: ERROR %s", vl_proto_type_name(type), vl_proto_error_name(code));
	assert_int_equal(t, OK(type));
	rframe_free(&r);
}

static void send_writer(struct cli *c, struct vl_writer *w)
{
	assert_int_equal(cli_send_writer(c, w), 0);
}

static void ack_nowait(struct cli *c, uint64_t seq)
{
	struct vl_msg_ack a = {seq};
	struct vl_writer w;
	vl_writer_init_heap(&w, 64);
	assert_int_equal(vl_msg_ack_encode(&w, c->next_id++, &a), VL_OK);
	send_writer(c, &w);
}

/* Alice creates the group and adds the n devices m[0..n) in one commit;
 * each receives its Welcome and acknowledges it. */
static void make_group(struct cli *a, struct cli *m, size_t n)
{
	struct vl_msg_group_create g = {{GID, sizeof GID}};
	struct vl_writer w;
	vl_writer_init_heap(&w, 128);
	uint32_t id = a->next_id++;
	assert_int_equal(vl_msg_group_create_encode(&w, id, &g), VL_OK);
	send_writer(a, &w);
	expect_ok(a, id, VL_FRAME_GROUP_CREATE);

	uint8_t *cm, *wel;
	size_t cm_len, wel_len;
	const struct vtc_device **adds = calloc(n, sizeof *adds);
	struct vl_device_ref *refs = calloc(n, sizeof *refs);
	assert_non_null(adds);
	assert_non_null(refs);
	for (size_t i = 0; i < n; i++) {
		adds[i] = &m[i].dev;
		refs[i] =
		    (struct vl_device_ref){{(const uint8_t *)m[i].dev.user, strlen(m[i].dev.user)},
		                           {(const uint8_t *)m[i].dev.name, strlen(m[i].dev.name)}};
	}
	assert_int_equal(vtc_commit_message(GID, sizeof GID, 0, adds, n, &cm, &cm_len), VL_OK);
	assert_int_equal(vtc_welcome_message(1, &wel, &wel_len), VL_OK);
	struct vl_msg_commit c = {.group_id = {GID, sizeof GID},
	                          .epoch = 0,
	                          .commit = {cm, cm_len},
	                          .has_welcome = true,
	                          .welcome = {wel, wel_len}};
	memset(c.client_msg_id, 0xc0, sizeof c.client_msg_id);
	vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
	id = a->next_id++;
	assert_int_equal(vl_msg_commit_encode(&w, id, &c, refs, n, NULL, 0), VL_OK);
	send_writer(a, &w);
	free(cm);
	free(wel);
	free(adds);
	free(refs);
	expect_ok(a, id, VL_FRAME_COMMIT);

	for (size_t i = 0; i < n; i++) {
		struct rframe r;
		assert_int_equal(cli_wait(&m[i], VL_FRAME_DELIVER, 0, 5000, &r), 1);
		struct vl_msg_deliver d;
		assert_int_equal(vl_msg_deliver_decode(&r.f.body, &d), VL_OK);
		assert_int_equal(d.kind, VL_DELIVERY_WELCOME);
		uint64_t seq = d.seq;
		rframe_free(&r);
		vl_writer_init_heap(&w, 64);
		id = m[i].next_id++;
		struct vl_msg_ack ak = {seq};
		assert_int_equal(vl_msg_ack_encode(&w, id, &ak), VL_OK);
		send_writer(&m[i], &w);
		expect_ok(&m[i], id, VL_FRAME_ACK);
	}
}

/* Alice and Bob, registered; Alice creates the group and adds Bob. */
static void make_pair(struct srv *s, struct cli *a, struct cli *b)
{
	assert_int_equal(cli_new_device(a, s, "alice@example.org", "laptop", 1), 0);
	assert_int_equal(cli_new_device(b, s, "bob@example.org", "phone", 1), 0);
	make_group(a, b, 1);
}

/* The messages Alice sent, in order, for comparing what Bob receives. */
struct sent {
	uint8_t **msg;
	size_t *len;
	size_t n, cap;
};

static void sent_free(struct sent *st)
{
	for (size_t i = 0; i < st->n; i++)
		free(st->msg[i]);
	free(st->msg);
	free(st->len);
	memset(st, 0, sizeof *st);
}

/* Sends count application messages of the sizes size_of(i), `chunk` in
 * flight at a time, and waits for every acknowledgement. */
static void send_many(struct cli *a, struct sent *st, size_t count, size_t chunk,
                      size_t (*size_of)(size_t i))
{
	if (st->n + count > st->cap) {
		st->cap = st->n + count;
		st->msg = realloc(st->msg, st->cap * sizeof *st->msg);
		st->len = realloc(st->len, st->cap * sizeof *st->len);
		assert_non_null(st->msg);
		assert_non_null(st->len);
	}
	uint32_t ids[128];
	assert_true(chunk <= 128);
	for (size_t done = 0; done < count;) {
		size_t k = count - done < chunk ? count - done : chunk;
		for (size_t j = 0; j < k; j++) {
			size_t i = st->n;
			uint8_t *pm;
			size_t pm_len;
			assert_int_equal(
			    vtc_private_message(GID, sizeof GID, 1, size_of(i), &pm, &pm_len),
			    VL_OK);
			/* The ciphertext's last bytes (the server does not read
			 * them) number the message, so each one is distinct. */
			uint32_t tag = (uint32_t)i;
			assert_true(pm_len >= sizeof tag);
			memcpy(pm + pm_len - sizeof tag, &tag, sizeof tag);
			struct vl_msg_send m = {.group_id = {GID, sizeof GID},
			                        .message = {pm, pm_len}};
			memcpy(m.client_msg_id, &tag, sizeof tag);
			struct vl_writer w;
			vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
			ids[j] = a->next_id++;
			assert_int_equal(vl_msg_send_encode(&w, ids[j], &m), VL_OK);
			send_writer(a, &w);
			st->msg[i] = pm;
			st->len[i] = pm_len;
			st->n++;
		}
		for (size_t j = 0; j < k; j++)
			expect_ok(a, ids[j], VL_FRAME_SEND);
		done += k;
	}
}

/* --- a strict reader of the server's WebSocket stream ----------------------- */

struct strict {
	struct wsc *ws;
	uint8_t *buf;
	size_t len, cap;
	uint64_t offset; /* stream offset of buf[0], for messages */
	uint64_t frames;
};

static void strict_init(struct strict *r, struct cli *c)
{
	memset(r, 0, sizeof *r);
	r->ws = &c->ws;
	/* Bytes the test client already read and did not consume. */
	r->cap = c->ws.len > 65536 ? c->ws.len : 65536;
	r->buf = malloc(r->cap);
	assert_non_null(r->buf);
	memcpy(r->buf, c->ws.buf, c->ws.len);
	r->len = c->ws.len;
	c->ws.len = 0;
}

static void strict_cleanup(struct strict *r)
{
	free(r->buf);
	r->buf = NULL;
}

/* Reads more bytes: 1, 0 at the end of the stream, -1 on timeout. */
static int strict_fill(struct strict *r, int timeout_ms)
{
	if (r->len == r->cap) {
		r->cap *= 2;
		r->buf = realloc(r->buf, r->cap);
		assert_non_null(r->buf);
	}
	SSL *ssl = r->ws->ssl;
	if (!(ssl && SSL_pending(ssl) > 0)) {
		struct pollfd pfd = {r->ws->fd, POLLIN, 0};
		if (poll(&pfd, 1, timeout_ms) <= 0)
			return -1;
	}
	ssize_t n = ssl ? SSL_read(ssl, r->buf + r->len, (int)(r->cap - r->len))
	                : read(r->ws->fd, r->buf + r->len, r->cap - r->len);
	if (n == 0 || (ssl && n < 0 && SSL_get_error(ssl, (int)n) == SSL_ERROR_ZERO_RETURN))
		return 0;
	if (n < 0)
		return ssl && SSL_get_error(ssl, (int)n) == SSL_ERROR_WANT_READ ? 1 : 0;
	r->len += (size_t)n;
	return 1;
}

/* The next message, which must be one final unmasked binary frame with
 * its length in the shortest encoding (RFC 6455 §5.2). Returns 1 with a
 * decoded frame (out->buf heap), 0 on a close frame or the stream's end. */
static int strict_next(struct strict *r, struct rframe *out, int timeout_ms)
{
	for (;;) {
		if (r->len >= 2) {
			uint8_t b0 = r->buf[0], b1 = r->buf[1];
			if (b0 == 0x88)
				return 0;
			if (b0 != 0x82)
				fail_msg(
				    "frame %llu at byte %llu: first byte 0x%02x, expected 0x82",
				    (unsigned long long)r->frames, (unsigned long long)r->offset,
				    b0);
			if (b1 & 0x80)
				fail_msg("frame %llu: masked by the server",
				         (unsigned long long)r->frames);
			size_t h = 2;
			uint64_t n = b1 & 0x7f;
			if (n == 126)
				h = 4;
			else if (n == 127)
				h = 10;
			if (r->len >= h) {
				if (n == 126) {
					n = (uint64_t)r->buf[2] << 8 | r->buf[3];
					assert_true(n >= 126);
				} else if (n == 127) {
					n = 0;
					for (int i = 0; i < 8; i++)
						n = n << 8 | r->buf[2 + i];
					assert_true(n > 0xffff);
					assert_true(n < (1ull << 63));
				}
				assert_true(n <= VL_PROTO_FRAME_MAX + 4096);
				if (r->len >= h + n) {
					out->len = (size_t)n;
					out->buf = malloc(out->len ? out->len : 1);
					assert_non_null(out->buf);
					memcpy(out->buf, r->buf + h, out->len);
					memmove(r->buf, r->buf + h + n, r->len - h - n);
					r->len -= h + (size_t)n;
					r->offset += h + n;
					r->frames++;
					assert_int_equal(vl_frame_decode(out->buf, out->len,
					                                 VL_PROTO_FRAME_MAX + 4096,
					                                 &out->f),
					                 VL_OK);
					return 1;
				}
			}
		}
		int rc = strict_fill(r, timeout_ms);
		if (rc == 0)
			return 0;
		if (rc < 0)
			fail_msg("timed out after %llu frames", (unsigned long long)r->frames);
	}
}

/* Receives count DELIVERs, each the next message Alice sent (from
 * st->msg[first]), with increasing seqs; acknowledges every `every` and
 * the last. */
static void receive_in_order(struct cli *b, struct strict *r, const struct sent *st, size_t first,
                             size_t count, size_t every)
{
	uint64_t last = 0;
	size_t got = 0;
	/* Frames the client set aside before the strict reader took over. */
	while (got < count) {
		struct rframe f;
		bool from_backlog = b->n_backlog > 0;
		if (from_backlog) {
			f = b->backlog[0];
			memmove(&b->backlog[0], &b->backlog[1],
			        (b->n_backlog - 1) * sizeof b->backlog[0]);
			b->n_backlog--;
		} else {
			assert_int_equal(strict_next(r, &f, 10000), 1);
		}
		/* Answers to the acknowledgements, and the notice that the
		 * device has no KeyPackages left, may come in between. */
		if (f.f.type == OK(VL_FRAME_ACK) || f.f.type == VL_FRAME_KP_LOW) {
			rframe_free(&f);
			continue;
		}
		if (f.f.type != VL_FRAME_DELIVER)
			fail_msg("frame of type %s among the deliveries",
			         vl_proto_type_name(f.f.type));
		struct vl_msg_deliver d;
		assert_int_equal(vl_msg_deliver_decode(&f.f.body, &d), VL_OK);
		assert_int_equal(d.kind, VL_DELIVERY_APPLICATION);
		assert_true(d.seq > last);
		last = d.seq;
		size_t i = first + got;
		if (d.message.len != st->len[i] || memcmp(d.message.p, st->msg[i], st->len[i]))
			fail_msg("message %zu: %zu bytes, not the %zu sent", i, d.message.len,
			         st->len[i]);
		rframe_free(&f);
		got++;
		if (got % every == 0 || got == count)
			ack_nowait(b, last);
	}
}

/* Every length class of RFC 6455 §5.2 and more than one TLS record. */
static size_t burst_size(size_t i)
{
	if (i % 50 == 7)
		return 100000; /* a 64-bit length */
	if (i % 10 == 3)
		return 20000; /* 16-bit length, more than one 16 KiB TLS record */
	return 20 + (i * 37) % 600;
}

static void burst(bool tls)
{
	static const char *const extra[] = {"rate=100000", "burst=100000", NULL};
	struct srv *s = start(tls, extra);
	struct cli a, b;
	make_pair(s, &a, &b);
	struct sent st = {0};

	/* Bob offline: 600 messages wait in his queue, then reach him in
	 * pages of the push window (256), each page one turn's writes. */
	cli_close(&b);
	enum { N1 = 600, N2 = 400 };
	send_many(&a, &st, N1, 100, burst_size);
	uint16_t code;
	assert_int_equal(cli_open(&b, s), 0);
	assert_int_equal(cli_auth(&b, &code), OK(VL_FRAME_AUTH));
	struct strict r;
	strict_init(&r, &b);
	receive_in_order(&b, &r, &st, 0, N1, 128);

	/* Bob online: pushed live as each batch of sends becomes durable. */
	send_many(&a, &st, N2, 100, burst_size);
	receive_in_order(&b, &r, &st, N1, N2, 100);
	strict_cleanup(&r);
	sent_free(&st);
	cli_close(&a);
	cli_close(&b);
}

static void test_burst_plain(void **state)
{
	(void)state;
	burst(false);
}

static void test_burst_tls(void **state)
{
	(void)state;
	burst(true);
}

static bool log_has(struct srv *s, const char *what);

/* A message to 300 members makes over 256 connections dirty in one turn:
 * the end-of-turn flush gives half of them to the flusher thread, and
 * each half goes to the kernel in one io_uring submission (or, with
 * io_uring off, one send() each). Every member gets every message, whole
 * (one of them over a TLS record) and in order, read by the strict
 * parser. */
static void fanout_wide(bool tls, const char *io_uring)
{
	static const char *extra[] = {"rate=100000", "burst=100000", "log_level=info", NULL, NULL};
	extra[3] = io_uring;
	struct srv *s = start(tls, extra);
	enum { M = 300, K = 5 };
	struct cli a, *m = calloc(M, sizeof *m);
	assert_non_null(m);
	assert_int_equal(cli_new_device(&a, s, "alice@example.org", "laptop", 1), 0);
	assert_int_equal(cli_new_devices(m, M, s, "m"), 0);
	/* The log says which way the sends went. */
	if (strcmp(io_uring, "io_uring=off") == 0)
		assert_true(log_has(s, "io_uring=off"));
	else
		assert_true(log_has(s, "io_uring=on") || log_has(s, "io_uring_unavailable"));
	make_group(&a, m, M);
	struct sent st = {0};
	send_many(&a, &st, K, K, burst_size);
	for (size_t i = 0; i < M; i++) {
		struct strict r;
		strict_init(&r, &m[i]);
		receive_in_order(&m[i], &r, &st, 0, K, K);
		strict_cleanup(&r);
		cli_close(&m[i]);
	}
	/* Everything written: the output held (send_budget's count, taken
	 * by both threads) is back to nothing. */
	assert_int_equal(srv_metric_wait(s, "valised_send_buffered_bytes", 0, 5000), 0);
	sent_free(&st);
	cli_close(&a);
	free(m);
}

static void test_fanout_wide_plain(void **state)
{
	(void)state;
	fanout_wide(false, "io_uring=on");
}

static void test_fanout_wide_tls(void **state)
{
	(void)state;
	fanout_wide(true, "io_uring=on");
}

static void test_fanout_wide_plain_send(void **state)
{
	(void)state;
	fanout_wide(false, "io_uring=off");
}

static void test_fanout_wide_tls_send(void **state)
{
	(void)state;
	fanout_wide(true, "io_uring=off");
}

static size_t big_size(size_t i)
{
	(void)i;
	return 60000;
}

/* Whether the server's log (its data folder) has a line with `what`. */
static bool log_has(struct srv *s, const char *what)
{
	char path[200], line[1024];
	snprintf(path, sizeof path, "%s/valised.log", s->dir);
	FILE *f = fopen(path, "r");
	bool found = false;
	while (f && !found && fgets(line, sizeof line, f))
		found = strstr(line, what) != NULL;
	if (f)
		fclose(f);
	return found;
}

/* Waits (up to 30 s) until the server counts want open connections. */
static void wait_conns(struct srv *s, long want)
{
	long conns = -1;
	for (int i = 0; i < 300 && conns != want; i++) {
		conns = srv_metric(s, "valised_connections");
		if (conns != want)
			usleep(100 * 1000);
	}
	assert_int_equal(conns, want);
}

/* After Bob's connection was cut with m messages of st for him: Alice is
 * unaffected (one more), and nothing meant for Bob was lost: restarted
 * with a window the send buffer holds, he gets it all, a message per
 * ACK. */
static void after_bob_cut(struct srv *s, struct cli *a, struct cli *b, struct sent *st, size_t m)
{
	send_many(a, st, 1, 1, big_size);
	cli_close(a);
	cli_close(b);
	assert_int_equal(srv_stop(s, 10000), 0);
	s->extra[4] = "window_bytes=64K";
	assert_int_equal(srv_restart(s), 0);
	uint16_t code;
	assert_int_equal(cli_open(b, s), 0);
	assert_int_equal(cli_auth(b, &code), OK(VL_FRAME_AUTH));
	struct strict r;
	strict_init(&r, b);
	receive_in_order(b, &r, st, 0, m + 1, 1);
	strict_cleanup(&r);
	sent_free(st);
	cli_close(b);
}

static void test_slow_reader_closed(void **state)
{
	(void)state;
	/* 64 KiB of frames may wait per connection (the smallest setting):
	 * with a push window larger than that, a reader that reads nothing
	 * fills it and is too slow. */
	static const char *const extra[] = {"rate=100000",
	                                    "burst=100000",
	                                    "send_buffer=65536",
	                                    "max_frame=65536",
	                                    "window_bytes=16M",
	                                    "log_level=info",
	                                    NULL};
	struct srv *s = start(false, extra);
	struct cli a, b;
	make_pair(s, &a, &b);
	int small = 4096;
	assert_int_equal(setsockopt(b.ws.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
	assert_int_equal(srv_metric(s, "valised_connections"), 2);

	/* 18 MB for Bob, who reads nothing: the push window lets more
	 * through than the socket buffers and the send cap hold. */
	enum { M = 300 };
	struct sent st = {0};
	send_many(&a, &st, M, 50, big_size);
	wait_conns(s, 1);
	assert_true(log_has(s, "conn_too_slow"));

	after_bob_cut(s, &a, &b, &st, M);
}

/* send_budget bounds what all connections together hold for sending: a
 * reader that reads nothing, whose push window and send buffer would let
 * it hold 16 MB, is reset once the total passes 1 MiB, and loses nothing
 * (its messages wait in its queue); the sender is unaffected. */
static void test_send_budget(void **state)
{
	(void)state;
	static const char *const extra[] = {
	    "rate=100000",      "burst=100000",   "send_buffer=64M", "max_frame=65536",
	    "window_bytes=16M", "send_budget=1M", "log_level=info",  NULL};
	struct srv *s = start(false, extra);
	struct cli a, b;
	make_pair(s, &a, &b);
	int small = 4096;
	assert_int_equal(setsockopt(b.ws.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
	enum { M = 300 };
	struct sent st = {0};
	send_many(&a, &st, M, 50, big_size);
	wait_conns(s, 1);
	assert_true(log_has(s, "conn_shed"));
	assert_false(log_has(s, "conn_too_slow"));
	assert_int_equal(srv_metric(s, "valised_connections_shed_total"), 1);
	/* Bob's partly written buffers are all given back. */
	assert_int_equal(srv_metric_wait(s, "valised_send_buffered_bytes", 0, 5000), 0);

	after_bob_cut(s, &a, &b, &st, M);
}

/* With the push window (in octets) within the send buffer, a reader that
 * stops reading is paused, not closed: its messages wait in its queue and
 * come once it reads and acknowledges again. */
static void test_slow_reader_paused(void **state)
{
	(void)state;
	static const char *const extra[] = {"rate=100000",
	                                    "burst=100000",
	                                    "send_buffer=65536",
	                                    "max_frame=65536",
	                                    "window_bytes=64K",
	                                    "log_level=info",
	                                    NULL};
	struct srv *s = start(false, extra);
	struct cli a, b;
	make_pair(s, &a, &b);

	/* 18 MB for Bob, who reads nothing: one 60 kB message fits in the
	 * window, the rest wait in his queue. */
	enum { M = 300 };
	long pushed = srv_metric(s, "valised_pushed_live_total") +
	              srv_metric(s, "valised_pushed_fetched_total");
	struct sent st = {0};
	send_many(&a, &st, M, 50, big_size);
	usleep(300 * 1000);
	assert_int_equal(srv_metric(s, "valised_connections"), 2);
	assert_false(log_has(s, "conn_too_slow"));
	assert_int_equal(srv_metric(s, "valised_pushed_live_total") +
	                     srv_metric(s, "valised_pushed_fetched_total"),
	                 pushed + 1);

	struct strict r;
	strict_init(&r, &b);
	receive_in_order(&b, &r, &st, 0, M, 1);
	strict_cleanup(&r);
	assert_false(log_has(s, "conn_too_slow"));
	sent_free(&st);
	cli_close(&a);
	cli_close(&b);
}

/* A PING request answered: the connection works both ways. */
static void ping_roundtrip(struct cli *c, uint8_t n)
{
	uint8_t ping[] = {1, VL_FRAME_PING, 0, 0, 0, n, 0};
	assert_int_equal(wsc_send(&c->ws, WSC_BINARY, ping, sizeof ping), 0);
	expect_ok(c, n, VL_FRAME_PING);
}

/* The request with this id (a message of junk) gets ERROR malformed, and
 * the connection goes on: a PING with id `ping` is answered. */
static void malformed_then_ping(struct cli *c, uint32_t id, uint8_t ping)
{
	struct rframe rf;
	uint16_t code = 0;
	assert_int_equal(cli_reply(c, id, &code, &rf, 5000), VL_FRAME_ERROR);
	rframe_free(&rf);
	assert_int_equal(code, VL_PERR_MALFORMED);
	ping_roundtrip(c, ping);
}

/* RFC 6455 §5.4: control frames may come between a message's fragments;
 * the message is whole once its last fragment is in. */
static void control_between_fragments(bool tls)
{
	static const char *const extra[] = {NULL};
	struct srv *s = start(tls, extra);
	struct cli a, b;
	make_pair(s, &a, &b);
	uint8_t ping[] = {1, VL_FRAME_PING, 0, 0, 0, 41, 0};
	assert_int_equal(wsc_send_frame(&a.ws, WSC_BINARY, false, ping, 3), 0);
	assert_int_equal(wsc_send_frame(&a.ws, WSC_PING, true, "hi", 2), 0);
	assert_int_equal(wsc_send_frame(&a.ws, 0, false, ping + 3, 2), 0);
	assert_int_equal(wsc_send_frame(&a.ws, WSC_PONG, true, NULL, 0), 0);
	assert_int_equal(wsc_send_frame(&a.ws, 0, true, ping + 5, 2), 0);
	expect_ok(&a, 41, VL_FRAME_PING);
	ping_roundtrip(&a, 42);
	if (!tls) {
		/* One frame in three reads: part of its header, the rest of
		 * it, then the payload (a client may write them apart). */
		uint8_t f[6 + sizeof ping] = {0x82, 0x80 | sizeof ping, 1, 2, 3, 4};
		for (size_t i = 0; i < sizeof ping; i++)
			f[6 + i] = (uint8_t)((i == 5 ? 43 : ping[i]) ^ f[2 + i % 4]);
		assert_int_equal(write(a.ws.fd, f, 1), 1);
		usleep(30 * 1000);
		assert_int_equal(write(a.ws.fd, f + 1, 5), 5);
		usleep(30 * 1000);
		assert_int_equal(write(a.ws.fd, f + 6, sizeof ping), (ssize_t)sizeof ping);
		expect_ok(&a, 43, VL_FRAME_PING);
	}
	cli_close(&a);
	cli_close(&b);
}

static void test_control_between_fragments_plain(void **state)
{
	(void)state;
	control_between_fragments(false);
}

static void test_control_between_fragments_tls(void **state)
{
	(void)state;
	control_between_fragments(true);
}

/* RFC 8446 §4.6.3: a client updates its keys, asking the server to
 * update its own or not; the connection carries on under the new keys
 * both ways. */
static void test_tls_key_update(void **state)
{
	(void)state;
	static const char *const extra[] = {NULL};
	struct srv *s = start(true, extra);
	struct cli a, b;
	make_pair(s, &a, &b);
	ping_roundtrip(&a, 50);
	for (uint8_t i = 0; i < 6; i++) {
		int type = i % 2 ? SSL_KEY_UPDATE_NOT_REQUESTED : SSL_KEY_UPDATE_REQUESTED;
		assert_int_equal(SSL_key_update((SSL *)a.ws.ssl, type), 1);
		ping_roundtrip(&a, (uint8_t)(51 + i));
	}
	cli_close(&a);
	cli_close(&b);
}

/* Opens a plain TCP connection to the server. */
static int tcp_open(struct srv *s)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
	sa.sin_addr.s_addr = htonl(0x7f000001);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	return fd;
}

/* Reads until `want` replies' worth of "HTTP/1.1 " status lines have come,
 * or the peer closes, or 5 s pass. Returns what came (heap). */
static char *tcp_read_all(int fd, int want, bool *closed)
{
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap + 1);
	assert_non_null(buf);
	*closed = false;
	long long deadline = (long long)time(NULL) + 5;
	for (;;) {
		buf[len] = 0;
		int seen = 0;
		for (char *p = buf; (p = strstr(p, "HTTP/1.1 ")); p++)
			seen++;
		if (seen >= want && want > 0)
			break;
		struct pollfd pfd = {fd, POLLIN, 0};
		if ((long long)time(NULL) > deadline || poll(&pfd, 1, 200) < 0)
			break;
		if (!(pfd.revents & (POLLIN | POLLHUP)))
			continue;
		ssize_t n = read(fd, buf + len, cap - len);
		if (n <= 0) {
			*closed = true;
			break;
		}
		len += (size_t)n;
		assert_true(len < cap);
	}
	buf[len] = 0;
	return buf;
}

/* HTTP/1.1 on the WebSocket port: keep-alive with pipelined requests, a
 * head sent a byte at a time, and heads that are malformed or too large
 * answered with 400 and 431 and the connection closed. */
static void test_http_requests(void **state)
{
	(void)state;
	static const char *const extra[] = {NULL};
	struct srv *s = start(false, extra);
	bool closed;

	int fd = tcp_open(s);
	const char two[] = "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
	                   "GET /nothing HTTP/1.1\r\nHost: a\r\n\r\n";
	assert_int_equal(write(fd, two, sizeof two - 1), (ssize_t)(sizeof two - 1));
	char *r = tcp_read_all(fd, 2, &closed);
	char *second = strstr(r, "HTTP/1.1 404");
	assert_non_null(strstr(r, "HTTP/1.1 200"));
	assert_non_null(second);
	assert_true(strstr(r, "HTTP/1.1 200") < second);
	assert_false(closed);
	free(r);
	const char one[] = "GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
	for (size_t i = 0; i < sizeof one - 1; i++)
		assert_int_equal(write(fd, one + i, 1), 1);
	r = tcp_read_all(fd, 0, &closed);
	assert_non_null(strstr(r, "HTTP/1.1 200"));
	assert_non_null(strstr(r, "ok\n"));
	assert_true(closed);
	free(r);
	close(fd);

	fd = tcp_open(s);
	const char bad[] = "GET /healthz HTTP/1.1\r\nHost : a\r\n\r\n";
	assert_int_equal(write(fd, bad, sizeof bad - 1), (ssize_t)(sizeof bad - 1));
	r = tcp_read_all(fd, 0, &closed);
	assert_non_null(strstr(r, "HTTP/1.1 400"));
	assert_true(closed);
	free(r);
	close(fd);

	fd = tcp_open(s);
	char big[10000];
	int n = snprintf(big, sizeof big, "GET /healthz HTTP/1.1\r\nHost: a\r\nX-Pad: ");
	memset(big + n, 'a', sizeof big - (size_t)n);
	assert_int_equal(write(fd, big, sizeof big), (ssize_t)sizeof big);
	r = tcp_read_all(fd, 0, &closed);
	assert_non_null(strstr(r, "HTTP/1.1 431"));
	assert_true(closed);
	free(r);
	close(fd);

	/* HEAD: GET's status and headers, no body; the next request on the
	 * connection is read right after (RFC 9110 §9.3.2). */
	fd = tcp_open(s);
	const char head_get[] = "HEAD /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
	                        "GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
	assert_int_equal(write(fd, head_get, sizeof head_get - 1), (ssize_t)(sizeof head_get - 1));
	r = tcp_read_all(fd, 0, &closed);
	char *get_reply = strstr(r + 1, "HTTP/1.1 200");
	assert_true(strncmp(r, "HTTP/1.1 200", 12) == 0);
	assert_non_null(get_reply);
	*get_reply = 0; /* r: the HEAD reply alone */
	assert_non_null(strstr(r, "Content-Length: 3\r\n"));
	assert_null(strstr(r, "ok\n"));
	*get_reply = 'H';
	assert_non_null(strstr(get_reply, "\r\n\r\nok\n"));
	free(r);
	close(fd);

	/* Another method: 405, saying which are allowed (RFC 9110 §15.5.6). */
	fd = tcp_open(s);
	const char del[] = "DELETE /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
	assert_int_equal(write(fd, del, sizeof del - 1), (ssize_t)(sizeof del - 1));
	r = tcp_read_all(fd, 0, &closed);
	assert_non_null(strstr(r, "HTTP/1.1 405"));
	assert_non_null(strstr(r, "Allow: GET, HEAD\r\n"));
	free(r);
	close(fd);

	/* The server is unharmed. */
	char *body = NULL;
	assert_int_equal(wsc_http_get("127.0.0.1", s->port, false, "/healthz", &body), 200);
	free(body);
}

struct closer {
	int fd;
	int delay_ms;
};

static void *close_later(void *arg)
{
	struct closer *cl = arg;
	usleep((useconds_t)cl->delay_ms * 1000);
	close(cl->fd);
	return NULL;
}

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* With every handshake slot taken by connections that send nothing, a
 * new TLS client waits, unread, until one of them goes; then it is
 * served. */
static void test_handshake_slots(void **state)
{
	(void)state;
	static const char *const extra[] = {"max_handshakes=3", NULL};
	struct srv *s = start(true, extra);
	int idle[3];
	for (int i = 0; i < 3; i++)
		idle[i] = tcp_open(s);
	usleep(100 * 1000); /* accepted, each holding a slot */
	struct closer cl = {idle[0], 400};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, close_later, &cl), 0);
	long long t0 = mono_ms();
	struct wsc w;
	assert_int_equal(wsc_connect(&w, "127.0.0.1", s->port, true, "valise.v1"), 0);
	long long waited = mono_ms() - t0;
	pthread_join(th, NULL);
	assert_true(waited >= 300);
	wsc_close(&w);
	close(idle[1]);
	close(idle[2]);
	/* Slots are given back: plenty of handshakes one after another. */
	for (int i = 0; i < 8; i++) {
		assert_int_equal(wsc_connect(&w, "127.0.0.1", s->port, true, "valise.v1"), 0);
		wsc_close(&w);
	}
}

/* A WebSocket connection that does not authenticate in time is closed;
 * one that did stays open. */
static void test_auth_timeout(void **state)
{
	(void)state;
	static const char *const extra[] = {"auth_timeout=1", NULL};
	struct srv *s = start(false, extra);
	struct cli a, b;
	make_pair(s, &a, &b); /* authenticated */
	struct wsc w;
	assert_int_equal(wsc_connect(&w, "127.0.0.1", s->port, false, "valise.v1"), 0);
	long long t0 = mono_ms();
	uint8_t *msg = NULL;
	size_t len;
	int op, r;
	/* The CHALLENGE, then nothing until the server closes. */
	while ((r = wsc_recv(&w, &msg, &len, &op, 5000)) == 1) {
		free(msg);
		msg = NULL;
	}
	assert_int_equal(r, 0);
	assert_true(w.closed && w.close_code == 1008);
	long long waited = mono_ms() - t0;
	assert_true(waited >= 900 && waited < 4500);
	wsc_close(&w);
	ping_roundtrip(&a, 60);
	ping_roundtrip(&b, 61);
	cli_close(&a);
	cli_close(&b);
}

/* Messages still arriving are held within assembly_budget over all
 * connections: the one that would pass it is closed with 1013, the others
 * carry on, and the budget is free again once the messages are whole. */
static void test_assembly_budget(void **state)
{
	(void)state;
	static const char *const extra[] = {"assembly_budget=64K", NULL};
	struct srv *s = start(false, extra);
	struct cli a, b;
	make_pair(s, &a, &b);
	enum { PART = 40 << 10 };
	uint8_t *part = calloc(1, PART);
	assert_non_null(part);
	/* A PING frame that is far too long: its body does not decode. */
	part[0] = 1;
	part[1] = VL_FRAME_PING;
	part[5] = 70;
	/* a holds 64 KiB (the buffer doubles past 40 KiB): all of it. */
	assert_int_equal(wsc_send_frame(&a.ws, WSC_BINARY, false, part, PART), 0);
	ping_roundtrip(&b, 71);
	/* b starts a message: closed, try again later. */
	assert_int_equal(wsc_send_frame(&b.ws, WSC_BINARY, false, part, 8 << 10), 0);
	uint8_t *msg = NULL;
	size_t len;
	int op, r;
	while ((r = wsc_recv(&b.ws, &msg, &len, &op, 5000)) == 1) {
		free(msg);
		msg = NULL;
	}
	assert_int_equal(r, 0);
	assert_true(b.ws.closed && b.ws.close_code == 1013);
	/* a finishes its message: answered (malformed), and it stays. */
	assert_int_equal(wsc_send_frame(&a.ws, 0, true, part, 16), 0);
	malformed_then_ping(&a, 70, 72);
	/* The budget is free again: a new connection may send as much. */
	struct wsc w;
	assert_int_equal(wsc_connect(&w, "127.0.0.1", s->port, false, "valise.v1"), 0);
	assert_int_equal(wsc_send_frame(&w, WSC_BINARY, false, part, PART), 0);
	assert_int_equal(wsc_send_frame(&w, 0, true, part, 16), 0);
	bool answered = false;
	while (!answered && (r = wsc_recv(&w, &msg, &len, &op, 5000)) == 1) {
		struct vl_frame f;
		if (vl_frame_decode(msg, len, VL_PROTO_FRAME_MAX, &f) == VL_OK &&
		    f.type == VL_FRAME_ERROR && f.request_id == 70)
			answered = true;
		free(msg);
		msg = NULL;
	}
	assert_true(answered);
	assert_false(w.closed);
	wsc_close(&w);
	assert_int_equal(srv_metric(s, "valised_assembly_refused_total"), 1);
	free(part);
	cli_close(&a);
	cli_close(&b);
}

/* A message trickled slower than transfer_min_rate is dropped and its
 * connection closed with 1008 within a window or two (http_timeout), its
 * buffer given back; one sent at the rate, over several windows, is
 * answered. Windows of 1 s, 4 KiB each here. */
static void test_slow_message(void **state)
{
	(void)state;
	static const char *const extra[] = {"http_timeout=1", "transfer_min_rate=4K", NULL};
	struct srv *s = start(false, extra);
	struct cli a, b;
	make_pair(s, &a, &b);
	enum { PART = 1024 };
	uint8_t *part = calloc(1, PART);
	assert_non_null(part);
	/* A PING frame far too long: its body does not decode. */
	part[0] = 1;
	part[1] = VL_FRAME_PING;
	part[5] = 80;
	/* b: 100 octets every 250 ms. */
	long long t0 = mono_ms();
	assert_int_equal(wsc_send_frame(&b.ws, WSC_BINARY, false, part, 100), 0);
	for (int i = 0; i < 40 && !b.ws.closed; i++) {
		uint8_t *msg = NULL;
		size_t len;
		int op;
		if (wsc_recv(&b.ws, &msg, &len, &op, 250) == 1) {
			free(msg);
			continue;
		}
		if (!b.ws.closed)
			(void)wsc_send_frame(&b.ws, 0, false, part + 100, 100);
	}
	assert_true(b.ws.closed && b.ws.close_code == 1008);
	assert_true(mono_ms() - t0 < 5000);
	/* a: 1 KiB every 125 ms (8 KiB/s) for 3 s, then the end: answered. */
	assert_int_equal(wsc_send_frame(&a.ws, WSC_BINARY, false, part, PART), 0);
	for (int i = 0; i < 24; i++) {
		usleep(125000);
		assert_int_equal(wsc_send_frame(&a.ws, 0, false, part, PART), 0);
	}
	assert_int_equal(wsc_send_frame(&a.ws, 0, true, part, 16), 0);
	malformed_then_ping(&a, 80, 81);
	assert_int_equal(srv_metric(s, "valised_slow_transfers_total"), 1);
	free(part);
	cli_close(&a);
	cli_close(&b);
}

/* One address holds at most max_conns_per_addr connections (loopback
 * counted here with limit_loopback=1): one more is closed at once and
 * counted; once one of the first closes, a new one is served. */
static void test_conns_per_addr(void **state)
{
	(void)state;
	static const char *const extra[] = {"max_conns_per_addr=2", "limit_loopback=1", NULL};
	struct srv *s = start(false, extra);
	bool closed;
	int a = tcp_open(s), b = tcp_open(s);
	int third = tcp_open(s);
	char *r = tcp_read_all(third, 0, &closed);
	assert_true(closed);
	assert_string_equal(r, "");
	free(r);
	close(third);
	/* b is still served. */
	const char get[] = "GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
	assert_int_equal(write(b, get, sizeof get - 1), (ssize_t)(sizeof get - 1));
	r = tcp_read_all(b, 0, &closed);
	assert_non_null(strstr(r, "HTTP/1.1 200"));
	free(r);
	close(b);
	close(a);
	/* Both slots come back once the server has seen the closes. */
	bool served = false;
	for (int i = 0; i < 50 && !served; i++) {
		int c = tcp_open(s);
		assert_int_equal(write(c, get, sizeof get - 1), (ssize_t)(sizeof get - 1));
		r = tcp_read_all(c, 0, &closed);
		served = strstr(r, "HTTP/1.1 200") != NULL;
		free(r);
		close(c);
		if (!served)
			usleep(20 * 1000);
	}
	assert_true(served);
	/* The count, once the server has seen every close (the fetch itself
	 * needs a slot). */
	char *body = NULL;
	int status = -1;
	for (int i = 0; i < 50 && status != 200; i++) {
		free(body);
		body = NULL;
		status = wsc_http_get("127.0.0.1", s->port, false, "/metrics", &body);
		if (status != 200)
			usleep(20 * 1000);
	}
	assert_int_equal(status, 200);
	const char *k = strstr(body, "\nvalised_connections_refused_per_addr_total ");
	assert_non_null(k);
	assert_true(atol(k + strlen("\nvalised_connections_refused_per_addr_total ")) >= 1);
	free(body);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH-TO-VALISED\n", argv[0]);
		return 2;
	}
	valised_path = argv[1];
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_burst_plain, teardown),
	    cmocka_unit_test_teardown(test_burst_tls, teardown),
	    cmocka_unit_test_teardown(test_fanout_wide_plain, teardown),
	    cmocka_unit_test_teardown(test_fanout_wide_tls, teardown),
	    cmocka_unit_test_teardown(test_fanout_wide_plain_send, teardown),
	    cmocka_unit_test_teardown(test_fanout_wide_tls_send, teardown),
	    cmocka_unit_test_teardown(test_slow_reader_closed, teardown),
	    cmocka_unit_test_teardown(test_slow_reader_paused, teardown),
	    cmocka_unit_test_teardown(test_send_budget, teardown),
	    cmocka_unit_test_teardown(test_control_between_fragments_plain, teardown),
	    cmocka_unit_test_teardown(test_control_between_fragments_tls, teardown),
	    cmocka_unit_test_teardown(test_tls_key_update, teardown),
	    cmocka_unit_test_teardown(test_http_requests, teardown),
	    cmocka_unit_test_teardown(test_handshake_slots, teardown),
	    cmocka_unit_test_teardown(test_auth_timeout, teardown),
	    cmocka_unit_test_teardown(test_slow_message, teardown),
	    cmocka_unit_test_teardown(test_assembly_budget, teardown),
	    cmocka_unit_test_teardown(test_conns_per_addr, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
