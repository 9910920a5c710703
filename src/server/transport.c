/* SPDX-License-Identifier: Apache-2.0 */
/*
 * valised's connections (see transport.h), on libuv: TCP, then TLS 1.3
 * (tls13.c: OpenSSL does the handshake, after which only the record keys
 * are kept and the SSL object is freed), then HTTP/1.1 (http1.c) and,
 * after an upgrade, WebSocket (ws.c). docs/internals/transport.md says
 * why this is not libwebsockets: what an idle connection costs.
 *
 * Input: every read lands in the transport's one read buffer and is
 * handled at once; a connection keeps bytes of its own only for a record,
 * a frame header or a message that has not arrived whole.
 *
 * Output: what the core sends a connection is framed here and collected,
 * then written once per loop turn (one send(), under TLS sealed as one run
 * of records): a store batch completing answers and pushes hundreds of
 * frames at once, often several to one connection. At most one write is
 * in flight per connection; what comes meanwhile collects behind it,
 * capped (the core's push window bounds pushes; the cap catches a reader
 * that stops reading, which the core then closes as too slow).
 */
#include "server/transport.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <liburing.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/log.h"
#include "server/tls13.h"
#include "server/transport_int.h"
#include "server/ws.h"

/* Bytes collected before they are written without waiting for the end of
 * the turn: several TLS records' worth, a few hundred small frames. */
#define OUT_COALESCE_MAX (64u * 1024u)
/* A file being downloaded is read in pieces of this size. */
#define FILE_CHUNK (64u * 1024u)
/* Seconds allowed for the TLS handshake and a closing connection's last
 * bytes. HTTP has its own (http_timeout, transfer_moved). */
#define HANDSHAKE_TIMEOUT_S 30u
#define CLOSE_TIMEOUT_S     10u
#define LISTEN_BACKLOG      4096
/* Dirty connections at the end of a turn from which the flusher thread
 * takes half (flush_many). */
#define FLUSH_PAR_MIN 256

enum conn_state { CS_HANDSHAKE, CS_HTTP, CS_WS };

enum ws_opcode { WS_CONT = 0, WS_TEXT = 1, WS_BIN = 2, WS_CLOSE = 8, WS_PING = 9, WS_PONG = 10 };

/* A WebSocket frame or message that has not arrived whole. Allocated only
 * while one is in progress. */
struct ws_rx {
	uint8_t hdr[14]; /* a frame header split across reads */
	uint8_t hdr_len;
	bool in_frame; /* header parsed, payload still coming */
	bool fin;
	uint8_t opcode;
	uint8_t mask[4];
	uint64_t left;    /* payload bytes of this frame still to come */
	uint64_t off;     /* payload bytes of this frame already seen */
	bool in_msg;      /* a fragmented message has begun */
	bool msg_bad;     /* text, or larger than the frame limit: dropped */
	uint8_t msg_op;   /* the message's first opcode */
	uint8_t first[6]; /* a message's first bytes: its request id */
	uint8_t first_len;
	uint8_t *msg;
	uint32_t msg_len, msg_cap;
	uint64_t win_end;   /* loop ms: a held message must have moved enough by then */
	uint64_t win_moved; /* its octets in this window (rx_moved) */
	uint8_t ctrl[125];  /* a control frame's payload */
	uint8_t ctrl_len;
};

/* One connection.
 *
 * Invariants:
 * 1. out is NULL while nothing waits to be written: an idle connection
 *    holds no send buffer. Otherwise it holds out_len bytes in the order
 *    they were queued: plaintext once TLS is up (sealed when written),
 *    handshake bytes before.
 * 2. A connection with out_len > 0 is on the transport's dirty list, or
 *    has a write in flight (inflight > 0) whose completion writes it.
 * 3. At most one uv_write is in flight; nothing else is written while it
 *    is, so bytes reach the socket in the order they were queued.
 * 4. Once closing is set uv_close has been called: nothing is read,
 *    written or handed to the core again; the close callback frees.
 */
struct tconn {
	uv_tcp_t tcp;
	struct vl_transport *t;
	struct tconn *next, *prev;             /* t->conns */
	struct tconn *dirty_next, *dirty_prev; /* t->dirty */
	struct vl_tls13_hs *hs;                /* during the handshake */
	struct tconn *wait_next, *wait_prev;   /* t->hs_wait: no handshake slot yet */
	struct vl_tls13 *rec;                  /* after it */
	uint8_t *rin;                          /* a TLS record not yet whole */
	uint32_t rin_len;
	uint8_t *out;
	uint32_t out_len, out_cap;
	uint32_t inflight;
	size_t held;       /* out_cap and the buffer in flight: its share of t->out_held */
	uint64_t deadline; /* the loop's clock, ms (uv_now); 0: none */
	uint8_t state;
	bool dirty;
	bool closing;       /* invariant 4 */
	bool close_pending; /* close once everything queued is written */
	bool shut;          /* FIN sent: waiting for the peer's */
	bool paused;
	bool waiting; /* on t->hs_wait */
	struct http_sess *http;
	struct vl_conn *core;
	struct ws_rx *rx;
	struct addr_count *addr; /* its address's count, when counted */
};

struct wreq {
	uv_write_t req;
	struct tconn *c;
	uint8_t *buf;
	size_t held; /* counted in c->held */
};

/* A deadline secs seconds from now, on the loop's clock. */
static uint64_t deadline_in(const struct tconn *c, unsigned secs)
{
	return uv_now(c->t->loop) + (uint64_t)secs * 1000u;
}

/* An HTTP connection's next window: a request head, an idle keep-alive
 * or a stretch of a transfer each get http_timeout. */
static void http_window(struct tconn *c)
{
	c->http->moved = 0;
	c->deadline = deadline_in(c, c->t->cfg->http_timeout);
}

/* What a transfer must move in one window of http_timeout. */
static uint64_t window_octets(const struct vl_server_config *cfg)
{
	return cfg->transfer_min_rate * cfg->http_timeout;
}

/* Counts n octets moved into *moved; true once the window has seen
 * window_octets, and a new one begins (*moved starts again). */
static bool window_moved(const struct vl_server_config *cfg, uint64_t *moved, uint64_t n)
{
	*moved += n;
	if (!n || *moved < window_octets(cfg))
		return false;
	*moved = 0;
	return true;
}

/* A request body or a download moved n octets. The next window begins
 * only once this one has seen transfer_min_rate octets a second, so a
 * peer that trickles (an octet just before each timeout) is still cut. */
static void transfer_moved(struct tconn *c, uint64_t n)
{
	if (window_moved(c->t->cfg, &c->http->moved, n))
		http_window(c);
}

/* Output held for a connection grows or shrinks (send_budget). The
 * flusher thread's jobs change it too, hence the atomic total. */
static void held_add(struct tconn *c, size_t n)
{
	c->held += n;
	__atomic_add_fetch(&c->t->out_held, n, __ATOMIC_RELAXED);
}

static void held_sub(struct tconn *c, size_t n)
{
	c->held -= n;
	__atomic_sub_fetch(&c->t->out_held, n, __ATOMIC_RELAXED);
}

static void conn_flush(struct tconn *c);
static void conn_kill(struct tconn *c);
static void conn_reset(struct tconn *c);
static void conn_input(struct tconn *c, uint8_t *p, size_t n);

/* --- output ------------------------------------------------------------------ */

static void dirty_add(struct tconn *c)
{
	struct vl_transport *t = c->t;
	if (c->dirty || c->closing)
		return;
	c->dirty = true;
	t->n_dirty++;
	c->dirty_prev = NULL;
	c->dirty_next = t->dirty;
	if (t->dirty)
		t->dirty->dirty_prev = c;
	t->dirty = c;
}

static void dirty_remove(struct tconn *c)
{
	if (!c->dirty)
		return;
	if (c->dirty_prev)
		c->dirty_prev->dirty_next = c->dirty_next;
	else
		c->t->dirty = c->dirty_next;
	if (c->dirty_next)
		c->dirty_next->dirty_prev = c->dirty_prev;
	c->t->n_dirty--;
	c->dirty = false;
	c->dirty_next = c->dirty_prev = NULL;
}

/* Makes room for n more bytes in out. */
static uint8_t *out_room(struct tconn *c, size_t n)
{
	size_t need = (size_t)c->out_len + n;
	if (need > UINT32_MAX)
		return NULL;
	if (need > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 512;
		while (cap < need)
			cap *= 2;
		if (cap > UINT32_MAX)
			cap = UINT32_MAX;
		uint8_t *p = realloc(c->out, cap);
		if (!p)
			return NULL;
		held_add(c, cap - c->out_cap);
		c->out = p;
		c->out_cap = (uint32_t)cap;
	}
	return c->out + c->out_len;
}

/* Queues bytes as they are (already framed) for the end of the turn. */
static bool conn_queue(struct tconn *c, const void *p, size_t n)
{
	uint8_t *dst = out_room(c, n);
	if (!dst)
		return false;
	memcpy(dst, p, n);
	c->out_len += (uint32_t)n;
	dirty_add(c);
	return true;
}

static void on_write(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct tconn *c = w->c;
	held_sub(c, w->held);
	free(w->buf);
	free(w);
	uint32_t sent = c->inflight;
	c->inflight = 0;
	if (c->closing)
		return;
	if (status >= 0 && c->http && c->http->responding && !c->close_pending)
		transfer_moved(c, sent);
	if (status < 0) {
		conn_kill(c);
		return;
	}
	conn_flush(c);
}

/* The wire bytes for what is queued, into *w (heap) and *len (0: none):
 * as they are, or sealed as TLS records behind any control record owed (a
 * KeyUpdate reply must precede records under the new keys, RFC 8446
 * §4.6.3). Takes out. False if sealing failed. */
static bool conn_wire(struct tconn *c, uint8_t **w, size_t *len)
{
	held_sub(c, c->out_cap); /* out is taken either way */
	if (!c->rec) {
		*w = c->out;
		*len = c->out_len;
	} else {
		uint8_t ctrl[VL_TLS13_CONTROL_MAX];
		size_t nc = vl_tls13_take_control(c->rec, ctrl);
		*len = nc + vl_tls13_sealed_len(c->out_len);
		*w = *len ? malloc(*len) : NULL;
		bool ok = !*len || (*w && (!c->out_len || vl_tls13_seal(c->rec, c->out, c->out_len,
		                                                        *w + nc) == VL_OK));
		free(c->out);
		if (!ok) {
			free(*w);
			*w = NULL;
		} else if (nc) {
			memcpy(*w, ctrl, nc);
		}
		vl_wipe(ctrl, sizeof ctrl);
		if (!ok) {
			c->out = NULL;
			c->out_len = c->out_cap = 0;
			return false;
		}
	}
	c->out = NULL;
	c->out_len = c->out_cap = 0;
	return true;
}

/* Reads the next piece of a download into out. False on a read error.
 * Once the socket has been full, a piece is no larger than a window's
 * worth at transfer_min_rate, so that a reader keeping to that rate finishes
 * a write in every window (progress is counted as writes complete). */
static bool file_pump(struct http_sess *h)
{
	uint64_t piece = h->slow ? window_octets(h->c->t->cfg) : 0;
	piece = !piece || piece > FILE_CHUNK ? FILE_CHUNK : piece < 4096 ? 4096 : piece;
	size_t n = h->file_left < piece ? (size_t)h->file_left : (size_t)piece;
	uint8_t *dst = out_room(h->c, n);
	if (!dst)
		return false;
	ssize_t r = read(h->file_fd, dst, n);
	if (r <= 0)
		return false;
	h->c->out_len += (uint32_t)r;
	h->file_left -= (uint64_t)r;
	if (!h->file_left) {
		close(h->file_fd);
		h->file_fd = -1;
	}
	return true;
}

static void http_reply_done(struct tconn *c);

static void on_shutdown(uv_shutdown_t *req, int status)
{
	(void)status; /* the peer's end, or the deadline, closes */
	free(req);
}

/* Drops a connection's partial WebSocket message, if any. */
static void rx_free(struct tconn *c)
{
	if (c->rx) {
		c->t->rx_held -= c->rx->msg_cap;
		free(c->rx->msg);
		free(c->rx);
		c->rx = NULL;
	}
}

/* Everything queued has been written. */
static void conn_drained(struct tconn *c)
{
	if (c->http && c->http->responding)
		http_reply_done(c);
	if (c->closing || !c->close_pending || c->shut)
		return;
	if (c->rec) {
		/* close_notify (RFC 8446 §6.1), after everything else: nothing
		 * is in flight, so the socket takes these few bytes. */
		uint8_t a[VL_TLS13_CONTROL_MAX];
		size_t n = vl_tls13_seal_alert(c->rec, 0, a);
		if (n)
			(void)uv_try_write((uv_stream_t *)&c->tcp, &(uv_buf_t){(char *)a, n}, 1);
	}
	/* Half-close and wait for the peer's end (or the deadline), so the
	 * last bytes are not lost to a reset from unread input. */
	c->shut = true;
	uv_shutdown_t *req = malloc(sizeof *req);
	if (!req || uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown)) {
		free(req);
		conn_kill(c);
	}
}

/* What became of writing w[0..len): n bytes written, or n < 0 a libuv
 * error. Frees w, or hands what the socket did not take to one uv_write
 * whose completion writes whatever queued meanwhile (invariant 3).
 * Returns true if everything was written and the connection lives. */
static bool conn_wrote(struct tconn *c, uint8_t *w, size_t len, ssize_t n)
{
	if (n == UV_EAGAIN)
		n = 0;
	if (n < 0) {
		free(w);
		conn_kill(c);
		return false;
	}
	if (n > 0 && c->http && c->http->responding && !c->close_pending)
		transfer_moved(c, (uint64_t)n);
	if ((size_t)n == len) {
		free(w);
		return true;
	}
	if (c->http)
		c->http->slow = true;
	struct wreq *r = malloc(sizeof *r);
	uv_buf_t rest = uv_buf_init((char *)w + n, (unsigned)(len - (size_t)n));
	if (r) {
		r->c = c;
		r->buf = w;
		r->held = len;
	}
	if (!r || uv_write(&r->req, (uv_stream_t *)&c->tcp, &rest, 1, on_write)) {
		free(w);
		free(r);
		conn_kill(c);
		return false;
	}
	held_add(c, len);
	c->inflight = rest.len;
	return false;
}

/* Writes everything queued: uv_try_write first, then conn_wrote. */
static void conn_flush(struct tconn *c)
{
	dirty_remove(c);
	if (c->closing || c->inflight)
		return;
	for (;;) {
		struct http_sess *h = c->http;
		if (!c->out_len && h && h->file_fd >= 0 && !file_pump(h)) {
			conn_kill(c);
			return;
		}
		uint8_t *w;
		size_t len;
		if (!conn_wire(c, &w, &len)) {
			conn_kill(c);
			return;
		}
		if (!len)
			break;
		int n = uv_try_write((uv_stream_t *)&c->tcp, &(uv_buf_t){(char *)w, len}, 1);
		if (!conn_wrote(c, w, len, n))
			return;
	}
	conn_drained(c);
}

/* --- flushing many connections at once ----------------------------------- *
 *
 * A store batch completing makes tens to thousands of connections dirty in
 * one turn (a reply to each sender, a push to each receiver). On the
 * development machine a 200-octet send() on loopback cost 5.5 us of CPU as
 * a system call of its own and 3.1 us among a thousand in one io_uring
 * submission (docs/internals/transport.md, "Writing"). So the end-of-turn flush
 * seals every such connection's bytes and hands all the sends to the
 * kernel in one io_uring submission (RING_ENTRIES at a time). The sends
 * carry MSG_DONTWAIT: each completes during the submission, written in
 * part or whole or refused with EAGAIN, so every buffer is done with when
 * flush_jobs_run returns. Without io_uring (`io_uring = off`, or a kernel
 * or sandbox that refuses it) the same jobs get one send() each.
 *
 * When at least FLUSH_PAR_MIN connections are dirty, the flusher thread
 * takes half of the jobs (with its own ring) while the loop thread does
 * the other half. Only the part of conn_flush that touches nothing but
 * the connection itself runs in a job (conn_wire, and a send on a socket
 * with no uv_write queued, which is what uv_try_write does); what follows
 * (a uv_write for the rest, a close, conn_drained) runs on the loop thread
 * once both halves are done. HTTP connections, and those with a write in
 * flight, take the serial path. */

#define RING_ENTRIES 256u

struct flush_job {
	struct tconn *c;
	uint8_t *w;
	size_t len;
	ssize_t n;   /* bytes written, or a libuv error */
	bool failed; /* sealing failed */
	bool sent;   /* n is set */
};

static int conn_fd(const struct tconn *c)
{
	uv_os_fd_t fd;
	return uv_fileno((const uv_handle_t *)&c->tcp, &fd) == 0 ? fd : -1;
}

static void job_send(struct flush_job *j)
{
	ssize_t n;
	do
		n = send(conn_fd(j->c), j->w, j->len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	j->n = n >= 0 ? n : uv_translate_sys_error(errno);
	j->sent = true;
}

static struct io_uring *ring_new(void)
{
	struct io_uring *r = malloc(sizeof *r);
	if (r && io_uring_queue_init(RING_ENTRIES, r, 0) != 0) {
		free(r);
		r = NULL;
	}
	return r;
}

static void ring_free(struct io_uring *r)
{
	if (r) {
		io_uring_queue_exit(r);
		free(r);
	}
}

/* Submits the queued sends and sets each one's result. False if the
 * kernel refused the submission or a completion could not be read. */
static bool ring_run(struct io_uring *r, struct flush_job *jobs, unsigned queued)
{
	/* The kernel takes every send at once unless short of memory
	 * (EAGAIN) or interrupted; anything else is a broken ring. */
	for (unsigned tries = 0; io_uring_sq_ready(r);) {
		int rc = io_uring_submit(r);
		if (rc > 0)
			continue;
		if ((rc != 0 && rc != -EINTR && rc != -EAGAIN) || ++tries > 1000)
			return false;
	}
	for (unsigned got = 0; got < queued;) {
		struct io_uring_cqe *cqe;
		int rc = io_uring_wait_cqe(r, &cqe);
		if (rc == -EINTR)
			continue;
		if (rc < 0)
			return false;
		struct flush_job *j = &jobs[cqe->user_data];
		j->n = cqe->res >= 0 ? (ssize_t)cqe->res : uv_translate_sys_error(-cqe->res);
		j->sent = true;
		io_uring_cqe_seen(r, cqe);
		got++;
	}
	return true;
}

static bool ring_send(struct io_uring *r, struct flush_job *jobs, size_t n)
{
	unsigned queued = 0;
	for (size_t i = 0; i < n; i++) {
		struct flush_job *j = &jobs[i];
		if (j->failed || !j->len)
			continue;
		struct io_uring_sqe *sqe = io_uring_get_sqe(r);
		if (!sqe) {
			if (!ring_run(r, jobs, queued))
				return false;
			queued = 0;
			sqe = io_uring_get_sqe(r);
		}
		io_uring_prep_send(sqe, conn_fd(j->c), j->w, j->len, MSG_NOSIGNAL | MSG_DONTWAIT);
		sqe->user_data = i;
		queued++;
	}
	return !queued || ring_run(r, jobs, queued);
}

/* Seals each job's bytes, then sends them: through *ring if there is one,
 * else one send() each. A ring that fails is freed (*ring = NULL; later
 * flushes use send()), and the connections whose sends it held are
 * closed: whether their bytes went out is unknown, and their messages
 * wait in the durable queues for the reconnect. */
static void flush_jobs_run(struct io_uring **ring, struct flush_job *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		jobs[i].failed = !conn_wire(jobs[i].c, &jobs[i].w, &jobs[i].len);
	if (*ring && !ring_send(*ring, jobs, n)) {
		ring_free(*ring);
		*ring = NULL;
		vl_log(VL_LOG_WARN, "io_uring_failed", "fallback=send");
		for (size_t i = 0; i < n; i++) {
			if (!jobs[i].sent)
				jobs[i].n = UV_EIO;
			jobs[i].sent = true;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (!jobs[i].failed && jobs[i].len && !jobs[i].sent)
			job_send(&jobs[i]);
}

static void *flusher_main(void *arg)
{
	struct vl_transport *t = arg;
	struct io_uring *ring = t->cfg->io_uring ? ring_new() : NULL;
	pthread_mutex_lock(&t->fl_mu);
	for (;;) {
		while (!t->fl_go && !t->fl_stop)
			pthread_cond_wait(&t->fl_cv, &t->fl_mu);
		if (t->fl_stop)
			break;
		size_t from = t->fl_split, to = t->fl_n;
		pthread_mutex_unlock(&t->fl_mu);
		flush_jobs_run(&ring, t->fl_jobs + from, to - from);
		pthread_mutex_lock(&t->fl_mu);
		t->fl_go = false;
		pthread_cond_signal(&t->fl_done);
	}
	pthread_mutex_unlock(&t->fl_mu);
	ring_free(ring);
	return NULL;
}

/* Flushes the dirty connections that can go as jobs, when there are enough
 * of them for a ring or the flusher to be worth it. */
static void flush_many(struct vl_transport *t)
{
	bool par = t->fl_started && t->n_dirty >= FLUSH_PAR_MIN;
	if (t->n_dirty < 2 || (!t->ring && !par))
		return;
	if (t->fl_cap < t->n_dirty) {
		struct flush_job *j = realloc(t->fl_jobs, t->n_dirty * sizeof *j);
		if (!j)
			return;
		t->fl_jobs = j;
		t->fl_cap = t->n_dirty;
	}
	size_t n = 0;
	for (struct tconn *c = t->dirty, *next; c; c = next) {
		next = c->dirty_next;
		if (c->http || c->inflight || c->closing)
			continue; /* the serial path, after */
		dirty_remove(c);
		t->fl_jobs[n++] = (struct flush_job){.c = c};
	}
	size_t mine = n;
	if (par) {
		pthread_mutex_lock(&t->fl_mu);
		t->fl_n = n;
		t->fl_split = mine = n / 2;
		t->fl_go = true;
		pthread_cond_signal(&t->fl_cv);
		pthread_mutex_unlock(&t->fl_mu);
	}
	flush_jobs_run(&t->ring, t->fl_jobs, mine);
	if (par) {
		pthread_mutex_lock(&t->fl_mu);
		while (t->fl_go)
			pthread_cond_wait(&t->fl_done, &t->fl_mu);
		pthread_mutex_unlock(&t->fl_mu);
	}
	for (size_t i = 0; i < n; i++) {
		struct flush_job *j = &t->fl_jobs[i];
		if (j->failed)
			conn_kill(j->c);
		else if (!j->len || conn_wrote(j->c, j->w, j->len, j->n))
			conn_drained(j->c);
	}
}

/* At most this many connections are shed in one turn. */
#define SHED_MAX 64u

/* Output held over all connections passed send_budget: the connections
 * holding the most are reset until what the others hold is back under
 * three quarters of it. A slow reader loses nothing by it (its messages
 * wait in its durable queue); without it, many readers that stop reading
 * with a full push window each could make the server hold window_bytes
 * apiece. What closing connections hold is on its way back and counts
 * for nothing. */
static void shed(struct vl_transport *t, size_t held)
{
	size_t low = t->cfg->send_budget / 4 * 3;
	for (unsigned k = 0; k < SHED_MAX; k++) {
		struct tconn *big = NULL;
		size_t freeing = 0;
		for (struct tconn *c = t->conns; c; c = c->next) {
			if (c->closing)
				freeing += c->held;
			else if (!big || c->held > big->held)
				big = c;
		}
		if (!big || !big->held || held - (freeing < held ? freeing : held) <= low)
			return;
		vl_log(VL_LOG_INFO, "conn_shed", "held=%zu total=%zu budget=%llu", big->held, held,
		       (unsigned long long)t->cfg->send_budget);
		vl_core_metrics_mut(t->core)->conns_shed++;
		conn_reset(big);
	}
}

void vl_transport_flush(struct vl_transport *t)
{
	flush_many(t);
	/* One at a time from the head: each takes itself off the list. */
	while (t->dirty)
		conn_flush(t->dirty);
	size_t held = __atomic_load_n(&t->out_held, __ATOMIC_RELAXED);
	vl_core_metrics_mut(t->core)->send_held = held;
	if (t->cfg->send_budget && held > t->cfg->send_budget)
		shed(t, held);
}

/* Libuv runs check handles right after polling for I/O, where the
 * connections' input and the store's completions were handled, and
 * prepare handles just before polling, after timers: between them every
 * frame of a turn is written in that turn, before the loop may block. */
static void on_flush_check(uv_check_t *h)
{
	vl_transport_flush(h->data);
}

static void on_flush_prepare(uv_prepare_t *h)
{
	vl_transport_flush(h->data);
}

/* --- closing ------------------------------------------------------------------ */

/* --- handshake slots ----------------------------------------------------------- *
 *
 * At most cfg->max_handshakes TLS handshakes run at once. OpenSSL holds
 * tens of KiB for each until it ends: beyond that many, new connections
 * wait, unread, for a slot (within their handshake timeout), so clients
 * that start handshakes and stall cannot make the server hold that for
 * every connection it can take. The price is that that many stalled
 * handshakes delay new ones until they time out; about 2,000 handshakes a
 * second fit on one core, so the default (4,096) is far above what honest
 * clients need at once. */

static void on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void hs_unwait(struct tconn *c)
{
	struct vl_transport *t = c->t;
	if (!c->waiting)
		return;
	if (c->wait_prev)
		c->wait_prev->wait_next = c->wait_next;
	else
		t->hs_wait = c->wait_next;
	if (c->wait_next)
		c->wait_next->wait_prev = c->wait_prev;
	else
		t->hs_wait_tail = c->wait_prev;
	c->waiting = false;
	c->wait_next = c->wait_prev = NULL;
}

/* Starts c's handshake in a free slot: reading begins. */
static void hs_begin(struct tconn *c)
{
	struct vl_transport *t = c->t;
	if (vl_tls13_hs_new(t->tls, &c->hs) != VL_OK) {
		c->hs = NULL;
		conn_kill(c);
		return;
	}
	t->n_hs++;
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read))
		conn_kill(c);
}

/* A slot has come free: it goes to the longest waiting connection. */
static void t_hs_done(struct vl_transport *t)
{
	t->n_hs--;
	while (!t->closing && t->n_hs < t->cfg->max_handshakes && t->hs_wait) {
		struct tconn *w = t->hs_wait;
		hs_unwait(w);
		hs_begin(w);
	}
}

/* Frees c's handshake and gives its slot away. */
static void hs_release(struct tconn *c)
{
	vl_tls13_hs_free(c->hs);
	c->hs = NULL;
	t_hs_done(c->t);
}

/* --- connections per client address ------------------------------------------ *
 *
 * One host may hold at most max_conns_per_addr connections, so that it
 * cannot take the whole open-file budget of the process (19,000 on the
 * development machine) from everyone else. Loopback is not counted unless
 * limit_loopback is set: a reverse proxy on the same host brings every
 * client from 127.0.0.1 and must limit them itself. IPv4-mapped IPv6
 * addresses count as the IPv4 address. */

#define ADDR_BUCKETS 4096u

struct addr_count {
	struct addr_count *next;
	uint8_t key[17]; /* family (4 or 6), then the address */
	uint32_t n;
};

static bool addr_key(const struct sockaddr_storage *sa, uint8_t key[17], bool *loopback)
{
	memset(key, 0, 17);
	const uint8_t *a4 = NULL;
	if (sa->ss_family == AF_INET) {
		a4 = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	} else if (sa->ss_family == AF_INET6) {
		const uint8_t *a6 = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (memcmp(a6, mapped, 12) == 0) {
			a4 = a6 + 12;
		} else {
			static const uint8_t one[16] = {[15] = 1};
			key[0] = 6;
			memcpy(key + 1, a6, 16);
			*loopback = memcmp(a6, one, 16) == 0;
			return true;
		}
	} else {
		return false;
	}
	key[0] = 4;
	memcpy(key + 1, a4, 4);
	*loopback = a4[0] == 127;
	return true;
}

static size_t addr_bucket(const uint8_t key[17])
{
	/* FNV-1a: a host cannot aim many addresses at one bucket without
	 * owning them, and a bucket only costs a short list walk. */
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < 17; i++)
		h = (h ^ key[i]) * 16777619u;
	return h % ADDR_BUCKETS;
}

/* Counts c against its address; false if the address is at its limit
 * (or no memory). */
static bool addr_admit(struct vl_transport *t, struct tconn *c)
{
	const struct vl_server_config *cfg = t->cfg;
	struct sockaddr_storage sa;
	int salen = sizeof sa;
	uint8_t key[17];
	bool loopback = false;
	if (!cfg->max_conns_per_addr ||
	    uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&sa, &salen) != 0 ||
	    !addr_key(&sa, key, &loopback) || (loopback && !cfg->limit_loopback))
		return true;
	if (!t->addrs && !(t->addrs = calloc(ADDR_BUCKETS, sizeof *t->addrs)))
		return false;
	struct addr_count **b = &t->addrs[addr_bucket(key)], *e = *b;
	while (e && memcmp(e->key, key, sizeof e->key) != 0)
		e = e->next;
	if (!e) {
		if (!(e = calloc(1, sizeof *e)))
			return false;
		memcpy(e->key, key, sizeof e->key);
		e->next = *b;
		*b = e;
	}
	if (e->n >= cfg->max_conns_per_addr)
		return false;
	e->n++;
	c->addr = e;
	return true;
}

static void addr_release(struct vl_transport *t, struct tconn *c)
{
	struct addr_count *e = c->addr;
	if (!e || --e->n)
		return;
	struct addr_count **p = &t->addrs[addr_bucket(e->key)];
	while (*p != e)
		p = &(*p)->next;
	*p = e->next;
	free(e);
}

static void on_conn_closed(uv_handle_t *hd)
{
	struct tconn *c = hd->data;
	struct vl_transport *t = c->t;
	if (c->core)
		vl_core_conn_closed(c->core);
	if (c->http) {
		vl_blob_on_closed(c->http);
		if (c->http->file_fd >= 0)
			close(c->http->file_fd);
		free(c->http->head);
		free(c->http);
	}
	rx_free(c);
	hs_unwait(c);
	if (c->hs)
		hs_release(c);
	if (c->rec) {
		vl_tls13_wipe(c->rec);
		free(c->rec);
	}
	free(c->rin);
	held_sub(c, c->out_cap);
	free(c->out);
	addr_release(t, c);
	if (c->prev)
		c->prev->next = c->next;
	else
		t->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	t->n_conns--;
	free(c);
}

/* Closes at once (invariant 4). */
static void conn_kill(struct tconn *c)
{
	if (c->closing)
		return;
	dirty_remove(c);
	c->closing = true;
	uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

/* Closes a connection whose peer let a deadline pass, with a reset: what
 * its socket still holds is dropped, where a plain close would leave the
 * kernel holding it (up to the send buffer's few MiB) for a peer that may
 * never read it. */
static void conn_reset(struct tconn *c)
{
	uv_os_fd_t fd;
	if (!c->closing && uv_fileno((const uv_handle_t *)&c->tcp, &fd) == 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &(struct linger){1, 0},
		                 sizeof(struct linger));
	conn_kill(c);
}

/* Closes once everything queued is written (conn_drained), within
 * CLOSE_TIMEOUT_S. */
static void conn_close_soon(struct tconn *c)
{
	if (c->close_pending || c->closing)
		return;
	c->close_pending = true;
	c->deadline = deadline_in(c, CLOSE_TIMEOUT_S);
	dirty_add(c);
}

/* --- WebSocket ---------------------------------------------------------------- */

static bool ws_queue_frame(struct tconn *c, uint8_t opcode, const uint8_t *p, size_t len)
{
	uint8_t hdr[10];
	size_t hl = vl_ws_frame_header(hdr, opcode, len);
	uint8_t *dst = out_room(c, hl + len);
	if (!dst)
		return false;
	memcpy(dst, hdr, hl);
	if (len)
		memcpy(dst + hl, p, len);
	c->out_len += (uint32_t)(hl + len);
	dirty_add(c);
	return true;
}

/* Ends the WebSocket with a close frame (RFC 6455 §5.5.1), then the
 * connection. */
static void ws_fail(struct tconn *c, uint16_t code)
{
	uint8_t p[2] = {(uint8_t)(code >> 8), (uint8_t)code};
	if (!c->close_pending && !ws_queue_frame(c, WS_CLOSE, p, 2)) {
		conn_kill(c);
		return;
	}
	conn_close_soon(c);
}

static bool ws_send(void *tctx, const uint8_t *frame, size_t len)
{
	struct tconn *c = tctx;
	if (c->closing || c->close_pending)
		return true; /* gone: the queue keeps it for the next connection */
	const struct vl_server_config *cfg = c->t->cfg;
	size_t hdr = len < 126 ? 2 : len <= 0xffff ? 4 : 10;
	size_t limit = cfg->send_buffer + cfg->core.max_frame;
	if (limit > UINT32_MAX - 16)
		limit = UINT32_MAX - 16;
	if (c->out_len && c->out_len + hdr + len > OUT_COALESCE_MAX && !c->inflight) {
		/* Enough for one write: send it now rather than hold more (a
		 * page of fetched messages can be megabytes). The cap below
		 * then only counts what a full socket refused. */
		conn_flush(c);
		if (c->closing)
			return false;
	}
	if (len > limit || c->out_len + hdr + len > limit)
		return false;
	return ws_queue_frame(c, WS_BIN, frame, len);
}

static void ws_close(void *tctx)
{
	struct tconn *c = tctx;
	/* What is queued goes first, then a normal close. */
	ws_fail(c, 1000);
}

static const struct vl_conn_ops ws_ops = {ws_send, ws_close};

static uint32_t first_id(const uint8_t *b, size_t n)
{
	uint8_t h[6] = {0};
	memcpy(h, b, n < 6 ? n : 6);
	return (uint32_t)h[2] << 24 | (uint32_t)h[3] << 16 | (uint32_t)h[4] << 8 | h[5];
}

static void ws_control(struct tconn *c, uint8_t opcode, const uint8_t *p, size_t len)
{
	if (opcode == WS_PING) {
		if (!ws_queue_frame(c, WS_PONG, p, len))
			conn_kill(c);
		return;
	}
	if (opcode == WS_CLOSE) {
		uint16_t code;
		if (vl_ws_check_close(p, len, &code) != VL_OK) {
			ws_fail(c, 1002);
			return;
		}
		/* Echo the peer's code (RFC 6455 §5.5.1), then close. */
		ws_fail(c, len ? code : 1000);
	}
	/* A pong needs nothing. */
}

/* A message being held moved n octets: as transfer_moved, its next
 * window (of http_timeout) begins once this one has seen
 * transfer_min_rate octets a second. Without it, a few connections
 * trickling large messages could keep assembly_budget full for good. */
static void rx_moved(struct tconn *c, struct ws_rx *rx, size_t n)
{
	if (window_moved(c->t->cfg, &rx->win_moved, n) || !rx->win_end)
		rx->win_end = deadline_in(c, c->t->cfg->http_timeout);
}

/* Payload bytes of a data frame, unmasked. 0, -1 if out of memory, or 1
 * if holding them would take the bytes held for messages still arriving
 * on all connections past assembly_budget. That budget bounds what
 * clients can make the server hold by starting large messages (up to
 * max_frame each) on many connections and never finishing them; the
 * connection that would pass it is closed with 1013 (try again later),
 * and nothing it had sent before is lost. */
static int ws_data(struct tconn *c, struct ws_rx *rx, const uint8_t *p, size_t n)
{
	size_t max = c->t->cfg->core.max_frame;
	if (rx->first_len < 6) {
		size_t k = n < 6u - rx->first_len ? n : 6u - rx->first_len;
		memcpy(rx->first + rx->first_len, p, k);
		rx->first_len += (uint8_t)k;
	}
	if (rx->msg_bad || !n)
		return 0;
	struct vl_transport *t = c->t;
	if ((uint64_t)rx->msg_len + n > max) {
		rx->msg_bad = true;
		t->rx_held -= rx->msg_cap;
		free(rx->msg);
		rx->msg = NULL;
		rx->msg_len = rx->msg_cap = 0;
		return 0;
	}
	if (rx->msg_len + n > rx->msg_cap) {
		size_t cap = rx->msg_cap ? rx->msg_cap : 4096;
		while (cap < rx->msg_len + n)
			cap *= 2;
		if (t->rx_held - rx->msg_cap + cap > t->cfg->assembly_budget)
			return 1;
		uint8_t *m = realloc(rx->msg, cap);
		if (!m)
			return -1;
		t->rx_held = t->rx_held - rx->msg_cap + cap;
		rx->msg = m;
		rx->msg_cap = (uint32_t)cap;
	}
	memcpy(rx->msg + rx->msg_len, p, n);
	rx->msg_len += (uint32_t)n;
	rx_moved(c, rx, n);
	return 0;
}

/* Reports a dropped message: too large (with its request id), or text. */
static void ws_report_bad(struct tconn *c, struct ws_rx *rx, uint8_t msg_op)
{
	if (msg_op == WS_TEXT)
		vl_core_conn_input_bad(c->core, 0, VL_PERR_MALFORMED, "text message");
	else
		vl_core_conn_input_bad(c->core, first_id(rx->first, rx->first_len),
		                       VL_PERR_TOO_LARGE, "frame too large");
}

static void ws_input(struct tconn *c, uint8_t *p, size_t n)
{
	while (n && !c->closing && !c->close_pending) {
		struct ws_rx *rx = c->rx;
		if (!rx || !rx->in_frame) {
			struct vl_ws_frame f;
			size_t used; /* bytes of p the header takes */
			int rc;
			if (!rx || !rx->hdr_len) {
				rc = vl_ws_parse_frame(p, n, &f);
				used = f.hdr_len;
			} else {
				size_t k = n < sizeof rx->hdr - rx->hdr_len
				               ? n
				               : sizeof rx->hdr - rx->hdr_len;
				memcpy(rx->hdr + rx->hdr_len, p, k);
				rc = vl_ws_parse_frame(rx->hdr, rx->hdr_len + k, &f);
				used = rc == VL_OK ? f.hdr_len - rx->hdr_len : k;
			}
			if (rc == VL_ERR_AGAIN) {
				if (!rx && !(rx = c->rx = calloc(1, sizeof *rx))) {
					conn_kill(c);
					return;
				}
				size_t k = rx->hdr_len ? used : n;
				if (!rx->hdr_len)
					memcpy(rx->hdr, p, n);
				rx->hdr_len += (uint8_t)k;
				return;
			}
			if (rc != VL_OK) {
				ws_fail(c, 1002);
				return;
			}
			p += used;
			n -= used;
			bool control = f.opcode >= 8;
			bool in_msg = rx && rx->in_msg;
			if (!control && (f.opcode == WS_CONT) != in_msg) {
				/* A continuation with no message, or a new message
				 * inside one (RFC 6455 §5.4). */
				ws_fail(c, 1002);
				return;
			}
			/* The common case: a whole single-frame message in this
			 * read. Handed over in place, nothing kept. */
			if (f.opcode == WS_BIN && f.fin && f.len <= n &&
			    f.len <= c->t->cfg->core.max_frame) {
				vl_ws_unmask(p, (size_t)f.len, f.mask, 0);
				if (rx)
					rx->hdr_len = 0;
				vl_core_conn_input(c->core, p, (size_t)f.len);
				p += f.len;
				n -= (size_t)f.len;
				if (rx && !rx->in_msg)
					rx_free(c);
				continue;
			}
			if (control && f.len <= n) {
				vl_ws_unmask(p, (size_t)f.len, f.mask, 0);
				if (rx)
					rx->hdr_len = 0;
				ws_control(c, f.opcode, p, (size_t)f.len);
				p += f.len;
				n -= (size_t)f.len;
				if (c->rx && !c->rx->in_msg)
					rx_free(c);
				continue;
			}
			if (!rx && !(rx = c->rx = calloc(1, sizeof *rx))) {
				conn_kill(c);
				return;
			}
			rx->hdr_len = 0;
			rx->in_frame = true;
			rx->fin = f.fin;
			rx->opcode = f.opcode;
			memcpy(rx->mask, f.mask, 4);
			rx->left = f.len;
			rx->off = 0;
			rx->ctrl_len = 0;
			if (!control && f.opcode != WS_CONT) {
				rx->in_msg = true;
				rx->msg_bad = f.opcode == WS_TEXT;
				rx->first_len = 0;
				rx->msg_len = 0;
				rx->msg_op = f.opcode;
			}
		}
		/* Payload of the frame in progress. */
		size_t k = rx->left < n ? (size_t)rx->left : n;
		vl_ws_unmask(p, k, rx->mask, rx->off);
		if (rx->opcode >= 8) {
			memcpy(rx->ctrl + rx->ctrl_len, p, k);
			rx->ctrl_len += (uint8_t)k;
		} else {
			int drc = ws_data(c, rx, p, k);
			if (drc < 0) {
				conn_kill(c);
				return;
			}
			if (drc > 0) {
				vl_core_metrics_mut(c->t->core)->assembly_refused++;
				vl_log(VL_LOG_DEBUG, "assembly_budget_full", "held=%zu",
				       c->t->rx_held);
				rx_free(c);
				ws_fail(c, 1013);
				return;
			}
		}
		p += k;
		n -= k;
		rx->left -= k;
		rx->off += k;
		if (rx->left)
			return; /* the rest comes with a later read */
		rx->in_frame = false;
		if (rx->opcode >= 8) {
			ws_control(c, rx->opcode, rx->ctrl, rx->ctrl_len);
		} else if (rx->fin) {
			if (rx->msg_bad)
				ws_report_bad(c, rx, rx->msg_op);
			else
				vl_core_conn_input(c->core, rx->msg, rx->msg_len);
			rx->in_msg = false;
		}
		if (c->rx && !c->rx->in_msg)
			rx_free(c); /* idle again: nothing kept */
	}
}

/* --- HTTP --------------------------------------------------------------------- */

int vl_http_reply_extra(struct http_sess *h, unsigned status, const char *type, char *body,
                        size_t len, const char *extra)
{
	struct tconn *c = h->c;
	char head[512];
	size_t hl =
	    vl_http_format_head(head, sizeof head, status, type, len, h->close_after, extra);
	bool ok =
	    hl && conn_queue(c, head, hl) && (!len || h->head_only || conn_queue(c, body, len));
	free(body);
	if (!ok)
		return -1;
	h->responding = true;
	return 0;
}

int vl_http_reply(struct http_sess *h, unsigned status, const char *type, char *body, size_t len)
{
	return vl_http_reply_extra(h, status, type, body, len, NULL);
}

int vl_http_reply_file(struct http_sess *h, const char *path, const char *type,
                       const struct vl_http_req *req)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return -1;
	}
	uint64_t size = (uint64_t)st.st_size, first = 0, last = size ? size - 1 : 0;
	size_t rl = 0;
	const char *rv = req ? vl_http_header(req, "range", &rl) : NULL;
	enum vl_http_range range =
	    rv ? vl_http_parse_range(rv, rl, size, &first, &last) : VL_HTTP_RANGE_NONE;
	if (range == VL_HTTP_RANGE_UNSATISFIABLE) {
		close(fd);
		char cr[64];
		snprintf(cr, sizeof cr, "Content-Range: bytes */%llu\r\n",
		         (unsigned long long)size);
		return vl_http_reply_extra(h, 416, NULL, NULL, 0, cr);
	}
	/* RFC 9110 §14.4: a 206 names the range sent and the whole size. */
	char extra[96] = "Accept-Ranges: bytes\r\n";
	unsigned status = 200;
	uint64_t len = size;
	if (range == VL_HTTP_RANGE_ONE) {
		status = 206;
		len = last - first + 1;
		snprintf(extra, sizeof extra, "Content-Range: bytes %llu-%llu/%llu\r\n",
		         (unsigned long long)first, (unsigned long long)last,
		         (unsigned long long)size);
		if (!h->head_only && lseek(fd, (off_t)first, SEEK_SET) != (off_t)first) {
			close(fd);
			return -1;
		}
	}
	char head[512];
	size_t hl =
	    vl_http_format_head(head, sizeof head, status, type, len, h->close_after, extra);
	if (!hl || !conn_queue(h->c, head, hl)) {
		close(fd);
		return -1;
	}
	h->file_left = h->head_only ? 0 : len;
	h->slow = false;
	if (h->file_left)
		h->file_fd = fd;
	else
		close(fd);
	h->responding = true;
	return 0;
}

void vl_http_pause(struct http_sess *h, bool paused)
{
	struct tconn *c = h->c;
	if (c->closing || c->paused == paused)
		return;
	c->paused = paused;
	if (paused) {
		uv_read_stop((uv_stream_t *)&c->tcp);
	} else {
		http_window(c); /* the pause was the server's: a fresh window */
		uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	}
}

void vl_http_abort(struct http_sess *h)
{
	conn_kill(h->c);
}

static int http_text_extra(struct http_sess *h, unsigned status, const char *text, bool close,
                           const char *extra)
{
	char *b = strdup(text);
	if (!b)
		return -1;
	h->close_after = h->close_after || close;
	return vl_http_reply_extra(h, status, "text/plain", b, strlen(b), extra);
}

static int http_text(struct http_sess *h, unsigned status, const char *text, bool close)
{
	return http_text_extra(h, status, text, close, NULL);
}

/* The WebSocket opening handshake (RFC 6455 §4.2.2). */
static int http_upgrade(struct tconn *c, const struct vl_http_req *req)
{
	struct vl_transport *t = c->t;
	struct http_sess *h = c->http;
	if (!t->accepting)
		return http_text(h, 503, "draining\n", true);
	char out[512];
	unsigned status = 400;
	size_t n = vl_ws_accept(req, out, sizeof out, &status);
	if (!n)
		return http_text_extra(h, status, "bad WebSocket upgrade\n", true,
		                       status == 426 ? VL_WS_VERSION_HEADER : NULL);
	if (!conn_queue(c, out, n))
		return -1;
	char peer[64] = "-";
	struct sockaddr_storage sa;
	int salen = sizeof sa;
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&sa, &salen) == 0) {
		if (sa.ss_family == AF_INET6)
			uv_ip6_name((struct sockaddr_in6 *)&sa, peer, sizeof peer);
		else
			uv_ip4_name((struct sockaddr_in *)&sa, peer, sizeof peer);
	}
	free(h->head);
	free(h);
	c->http = NULL;
	c->state = CS_WS;
	c->deadline = deadline_in(c, c->t->cfg->auth_timeout); /* to REGISTER or AUTH */
	c->core = vl_core_conn_open(t->core, &ws_ops, c, peer);
	return c->core ? 0 : -1;
}

static int http_request(struct tconn *c, const struct vl_http_req *req)
{
	struct vl_transport *t = c->t;
	struct http_sess *h = c->http;
	char path[VL_HTTP_HEAD_MAX];
	size_t pl = req->target_len;
	const char *q = memchr(req->target, '?', pl);
	if (q)
		pl = (size_t)(q - req->target);
	memcpy(path, req->target, pl);
	path[pl] = 0;
	h->close_after = !req->keep_alive;
	/* RFC 9110 §9.3.2: HEAD is GET without the body (same headers). */
	h->head_only = req->method == VL_HTTP_HEAD;
	if (req->upgrade_websocket)
		return http_upgrade(c, req);
	if (req->chunked)
		return http_text(h, 411, "Content-Length required\n", true);
	if (strncmp(path, "/blob", 5) == 0) {
		if (req->content_length > 0 && req->method != VL_HTTP_PUT &&
		    req->method != VL_HTTP_POST)
			return http_text(h, 400, "unexpected body\n", true);
		if (req->method == VL_HTTP_PUT || req->method == VL_HTTP_POST)
			h->body_left = req->content_length > 0 ? (uint64_t)req->content_length : 0;
		size_t el;
		const char *e = vl_http_header(req, "expect", &el);
		if (h->body_left && e && el == 12 && strncasecmp(e, "100-continue", 12) == 0) {
			/* RFC 9110 §10.1.1: the client waits for this before its
			 * body (curl does for bodies over 1 MiB). */
			static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
			if (!conn_queue(c, cont, sizeof cont - 1))
				return -1;
		}
		return vl_blob_on_http(t, h, req, path);
	}
	if (req->content_length > 0)
		return http_text(h, 413, "no body expected\n", true);
	if (req->method != VL_HTTP_GET && req->method != VL_HTTP_HEAD)
		return http_text_extra(h, 405, "method not allowed\n", false,
		                       "Allow: GET, HEAD\r\n");
	if (strcmp(path, "/healthz") == 0)
		return http_text(h, t->accepting ? 200 : 503, t->accepting ? "ok\n" : "draining\n",
		                 false);
	if (strcmp(path, "/metrics") == 0) {
		size_t n;
		char *body = vl_server_metrics_text(t->core, t->cfg->data_dir, &n);
		return body ? vl_http_reply(h, 200, "text/plain; version=0.0.4", body, n) : -1;
	}
	return http_text(h, 404, "not found\n", false);
}

/* The reply to the current request is written: ready for the next one. */
static void http_reply_done(struct tconn *c)
{
	struct http_sess *h = c->http;
	h->responding = false;
	if (h->close_after || h->body_left) {
		/* A reply before the whole body (a refused upload) always
		 * closes: the rest of the body is not read. */
		conn_close_soon(c);
		return;
	}
	http_window(c);
	if (h->head_len) {
		/* The next request arrived while this one was answered. */
		size_t n = h->head_len;
		uint8_t *p = (uint8_t *)h->head;
		h->head = NULL;
		h->head_len = 0;
		conn_input(c, p, n);
		free(p);
	}
}

static void http_input(struct tconn *c, uint8_t *p, size_t n)
{
	while (n && c->state == CS_HTTP && !c->closing && !c->close_pending) {
		struct http_sess *h = c->http;
		if (h->body_left) {
			size_t k = h->body_left < n ? (size_t)h->body_left : n;
			h->body_left -= k;
			if (!h->body_left)
				http_window(c); /* the server's turn: it has a window to answer */
			else if (!h->responding)
				transfer_moved(c, k);
			if (vl_blob_on_body(c->t, h, p, k) ||
			    (!h->body_left && vl_blob_on_body_done(c->t, h))) {
				conn_kill(c);
				return;
			}
			p += k;
			n -= k;
			continue;
		}
		/* The head, collected; while a reply is being written, the next
		 * request waits here too (bounded by the head limit). */
		size_t room = VL_HTTP_HEAD_MAX - h->head_len;
		size_t k = n < room ? n : room;
		if (!k) {
			conn_kill(c);
			return;
		}
		char *hb = realloc(h->head, h->head_len + k);
		if (!hb) {
			conn_kill(c);
			return;
		}
		h->head = hb;
		memcpy(h->head + h->head_len, p, k);
		h->head_len += k;
		p += k;
		n -= k;
		if (h->responding)
			continue;
		struct vl_http_req req;
		size_t head_len;
		int rc = vl_http_parse_head(h->head, h->head_len, &req, &head_len);
		if (rc == VL_ERR_AGAIN)
			continue;
		if (rc != VL_OK) {
			h->head_len = 0; /* nothing after a bad head is read */
			if (http_text(h, rc == VL_ERR_LIMIT ? 431 : 400,
			              rc == VL_ERR_LIMIT ? "request head too large\n"
			                                 : "bad request\n",
			              true))
				conn_kill(c);
			return;
		}
		/* What followed the head (a body, frames, the next request) is
		 * handled after the request, from a copy: req points into head. */
		size_t rest_len = h->head_len - head_len + n;
		uint8_t *rest = NULL;
		if (rest_len) {
			rest = malloc(rest_len);
			if (!rest) {
				conn_kill(c);
				return;
			}
			memcpy(rest, h->head + head_len, h->head_len - head_len);
			memcpy(rest + h->head_len - head_len, p, n);
		}
		http_window(c);
		int r = http_request(c, &req);
		if (c->http) {
			free(c->http->head);
			c->http->head = NULL;
			c->http->head_len = 0;
		}
		if (r) {
			free(rest);
			conn_kill(c);
			return;
		}
		if (rest_len)
			conn_input(c, rest, rest_len);
		free(rest);
		return;
	}
}

/* --- input -------------------------------------------------------------------- */

/* Plaintext from the peer. */
static void conn_input(struct tconn *c, uint8_t *p, size_t n)
{
	if (c->state == CS_WS)
		ws_input(c, p, n);
	else if (c->state == CS_HTTP)
		http_input(c, p, n);
}

static bool conn_start_http(struct tconn *c)
{
	c->state = CS_HTTP;
	c->http = calloc(1, sizeof *c->http);
	if (!c->http)
		return false;
	c->http->c = c;
	c->http->file_fd = -1;
	http_window(c); /* for the first request head */
	return true;
}

/* TLS records from the peer, opened in place. */
static void tls_input(struct tconn *c, uint8_t *p, size_t n)
{
	uint8_t *buf = p;
	if (c->rin_len) {
		/* A record begun in an earlier read: join it. */
		uint8_t *r = realloc(c->rin, (size_t)c->rin_len + n);
		if (!r) {
			conn_kill(c);
			return;
		}
		memcpy(r + c->rin_len, p, n);
		c->rin = r;
		buf = r;
		n += c->rin_len;
		c->rin_len = 0;
	}
	size_t off = 0;
	bool control = false;
	while (off < n && !c->closing) {
		size_t used;
		const uint8_t *plain;
		size_t plain_len;
		int rc = vl_tls13_open(c->rec, buf + off, n - off, &used, &plain, &plain_len);
		if (rc == VL_ERR_AGAIN)
			break;
		if (rc == VL_ERR_STATE) {
			/* close_notify: the peer sends nothing more. */
			conn_close_soon(c);
			off = n;
			break;
		}
		if (rc != VL_OK) {
			/* RFC 8446 §6.2: the alert tls13.c names (bad_record_mac
			 * for a record that does not open), then the end. */
			uint8_t a[VL_TLS13_CONTROL_MAX];
			size_t an = c->rec->alert == 255
			                ? 0
			                : vl_tls13_seal_alert(c->rec, c->rec->alert, a);
			if (an && !c->inflight)
				(void)uv_try_write((uv_stream_t *)&c->tcp,
				                   &(uv_buf_t){(char *)a, an}, 1);
			conn_kill(c);
			break;
		}
		off += used;
		if (!plain_len)
			control = true; /* maybe a KeyUpdate to answer */
		else if (!c->close_pending)
			conn_input(c, (uint8_t *)plain, plain_len);
	}
	if (control && !c->closing)
		dirty_add(c);
	if (c->closing || off == n) {
		if (buf == c->rin) {
			free(c->rin);
			c->rin = NULL;
		}
		return;
	}
	/* Keep the unfinished record for the next read. */
	size_t left = n - off;
	if (buf == c->rin) {
		/* Shrunk to the partial record (< VL_TLS13_RECORD_MAX): the
		 * joined buffer could hold a whole read. */
		memmove(c->rin, c->rin + off, left);
		uint8_t *r = realloc(c->rin, left);
		if (r)
			c->rin = r;
	} else {
		free(c->rin);
		c->rin = malloc(left);
		if (!c->rin) {
			conn_kill(c);
			return;
		}
		memcpy(c->rin, buf + off, left);
	}
	c->rin_len = (uint32_t)left;
}

static void handshake_input(struct tconn *c, const uint8_t *p, size_t n)
{
	const uint8_t *out;
	size_t out_len;
	int rc = vl_tls13_hs_input(c->hs, p, n, &out, &out_len);
	if (out_len && !conn_queue(c, out, out_len)) {
		conn_kill(c);
		return;
	}
	if (rc == VL_ERR_AGAIN)
		return;
	if (rc != VL_OK) {
		/* The alert, if any, goes out before the close. */
		vl_log(VL_LOG_DEBUG, "tls_handshake_failed", "state=closing");
		hs_release(c);
		conn_close_soon(c);
		return;
	}
	/* Handshake bytes are written as they are: none may still wait in
	 * out once sealing starts (the server's last flight went before the
	 * client's Finished came, so this is the rare case). */
	if (c->out_len)
		conn_flush(c);
	if (c->closing)
		return;
	uint8_t *rest = NULL;
	size_t rest_len = 0;
	c->rec = c->out_len ? NULL : malloc(sizeof *c->rec);
	if (!c->rec) {
		conn_kill(c);
		return;
	}
	int frc = vl_tls13_hs_finish(c->hs, c->rec, &rest, &rest_len);
	c->hs = NULL; /* freed, whatever the outcome */
	t_hs_done(c->t);
	if (frc != VL_OK) {
		conn_kill(c);
		return;
	}
	if (!conn_start_http(c)) {
		free(rest);
		conn_kill(c);
		return;
	}
	if (rest_len)
		tls_input(c, rest, rest_len);
	free(rest);
}

static void on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	struct tconn *c = hd->data;
	buf->base = (char *)c->t->rbuf;
	buf->len = sizeof c->t->rbuf;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct tconn *c = s->data;
	if (nread == 0 || c->closing)
		return;
	if (nread < 0) {
		/* The peer has gone (or finished after our FIN). */
		conn_kill(c);
		return;
	}
	uint8_t *p = (uint8_t *)buf->base;
	size_t n = (size_t)nread;
	if (c->close_pending)
		return; /* closing: input is ignored */
	if (c->state == CS_HANDSHAKE)
		handshake_input(c, p, n);
	else if (c->rec)
		tls_input(c, p, n);
	else
		conn_input(c, p, n);
}

/* --- listening ---------------------------------------------------------------- */

static void on_connection(uv_stream_t *server, int status)
{
	struct vl_transport *t = server->data;
	if (status < 0) {
		/* EMFILE and the like: libuv has already shed the connection. */
		vl_log(VL_LOG_WARN, "accept_failed", "error=%s", uv_err_name(status));
		return;
	}
	struct tconn *c = calloc(1, sizeof *c);
	if (!c)
		return;
	c->t = t;
	uv_tcp_init(t->loop, &c->tcp);
	c->tcp.data = c;
	c->next = t->conns;
	if (t->conns)
		t->conns->prev = c;
	t->conns = c;
	t->n_conns++;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) || !t->accepting) {
		/* Draining: new connections are refused at once. */
		conn_kill(c);
		return;
	}
	if (!addr_admit(t, c)) {
		vl_core_metrics_mut(t->core)->addr_refused++;
		conn_kill(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	c->deadline = deadline_in(c, HANDSHAKE_TIMEOUT_S);
	if (t->tls) {
		c->state = CS_HANDSHAKE;
		if (t->n_hs < t->cfg->max_handshakes) {
			hs_begin(c);
		} else {
			/* Unread until a slot frees (hs_release). */
			c->waiting = true;
			c->wait_prev = t->hs_wait_tail;
			if (t->hs_wait_tail)
				t->hs_wait_tail->wait_next = c;
			else
				t->hs_wait = c;
			t->hs_wait_tail = c;
		}
		return;
	}
	if (!conn_start_http(c) || uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read))
		conn_kill(c);
}

/* An HTTP connection's window passed. An idle keep-alive closes. A
 * request body too slow in coming is answered 408 (its upload dropped; a
 * resumable part stays for the next attempt); a request head or a reply
 * too slow is reset (conn_reset). */
static void http_timed_out(struct tconn *c)
{
	struct http_sess *h = c->http;
	if (!h->body_left && !h->head_len && !h->responding) {
		conn_kill(c); /* an idle keep-alive: a plain close */
		return;
	}
	vl_log(VL_LOG_INFO, "slow_transfer", "stage=%s",
	       h->responding  ? "response"
	       : h->body_left ? "body"
	                      : "head");
	vl_core_metrics_mut(c->t->core)->slow_transfers++;
	if (!h->body_left || h->responding) {
		conn_reset(c);
		return;
	}
	vl_blob_on_closed(h);
	c->deadline = deadline_in(c, CLOSE_TIMEOUT_S);
	if (http_text(h, 408, "request timeout\n", true))
		conn_kill(c);
}

/* Closes connections past their deadline; drops stale resumable uploads. */
/* Logs failures of the storage (a full disk...) seen since the last
 * sweep: at most a line a second however many, with the backend's words
 * for the last one. Clients get `internal` for what failed. */
static void log_store_faults(struct vl_transport *t)
{
	struct vl_store *st = vl_core_store(t->core);
	if (!st)
		return;
	struct vl_store_stats ss;
	vl_store_stats_get(st, &ss);
	if (ss.faults == t->store_faults)
		return;
	char why[VL_STORE_ERROR_MAX];
	size_t i = 0;
	for (; ss.last_fault[i] && i + 1 < sizeof why; i++) {
		char ch = ss.last_fault[i];
		why[i] = ch == '"' || (unsigned char)ch < 0x20 ? '\'' : ch;
	}
	why[i] = '\0';
	vl_log(VL_LOG_ERROR, "store_fault", "new=%llu total=%llu last=\"%s\"",
	       (unsigned long long)(ss.faults - t->store_faults), (unsigned long long)ss.faults,
	       why);
	t->store_faults = ss.faults;
}

static void on_sweep(uv_timer_t *tm)
{
	struct vl_transport *t = tm->data;
	uint64_t now = uv_now(t->loop);
	for (struct tconn *c = t->conns, *next; c; c = next) {
		next = c->next;
		if (c->rx && c->rx->msg_cap && now >= c->rx->win_end && !c->closing &&
		    !c->close_pending) {
			vl_log(VL_LOG_INFO, "slow_transfer", "stage=message");
			vl_core_metrics_mut(t->core)->slow_transfers++;
			rx_free(c);
			ws_fail(c, 1008); /* policy: too slow */
			continue;
		}
		if (!c->deadline || c->closing)
			continue;
		if (c->state == CS_WS && !c->close_pending && vl_conn_authed(c->core)) {
			c->deadline = 0; /* authenticated in time */
			continue;
		}
		if (now < c->deadline)
			continue;
		if (c->state == CS_WS && !c->close_pending)
			ws_fail(c, 1008); /* not authenticated in time: policy */
		else if (c->state == CS_HTTP && !c->close_pending)
			http_timed_out(c);
		else
			conn_reset(c);
	}
	vl_blob_sweep(t);
	log_store_faults(t);
}

static int listen_on(struct vl_transport *t, const struct vl_server_config *cfg)
{
	struct addrinfo hints = {0}, *res = NULL;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	char port[16];
	snprintf(port, sizeof port, "%u", cfg->port);
	if (getaddrinfo(cfg->listen_host[0] ? cfg->listen_host : NULL, port, &hints, &res) || !res)
		return VL_ERR_NET;
	int rc = uv_tcp_bind(&t->listener, res->ai_addr, 0);
	freeaddrinfo(res);
	if (!rc)
		rc = uv_listen((uv_stream_t *)&t->listener, LISTEN_BACKLOG, on_connection);
	if (rc) {
		vl_log(VL_LOG_ERROR, "listen_failed", "host=%s port=%u error=%s", cfg->listen_host,
		       cfg->port, uv_err_name(rc));
		return VL_ERR_NET;
	}
	struct sockaddr_storage sa;
	int salen = sizeof sa;
	uv_tcp_getsockname(&t->listener, (struct sockaddr *)&sa, &salen);
	t->port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
	                                         : ((struct sockaddr_in *)&sa)->sin_port);
	return VL_OK;
}

int vl_transport_new(uv_loop_t *loop, const struct vl_server_config *cfg, struct vl_core *core,
                     struct vl_transport **out)
{
	*out = NULL;
	if (!cfg->tls && !vl_server_host_is_loopback(cfg->listen_host))
		return VL_ERR_INVALID;
	struct vl_transport *t = calloc(1, sizeof *t);
	if (!t)
		return VL_ERR_NOMEM;
	t->loop = loop;
	t->core = core;
	t->cfg = cfg;
	t->accepting = true;
	if (vl_blob_init(t) != VL_OK) {
		free(t);
		return VL_ERR_IO;
	}
	if (cfg->tls) {
		int rc = vl_tls13_ctx_new(cfg->tls_cert, cfg->tls_key, &t->tls);
		if (rc != VL_OK) {
			vl_log(VL_LOG_ERROR, "tls_context_failed",
			       "cert=\"%s\" key=\"%s\" error=%s", cfg->tls_cert, cfg->tls_key,
			       vl_strerror(rc));
			vl_blob_cleanup(t);
			free(t);
			return rc;
		}
	}
	uv_tcp_init(loop, &t->listener);
	t->listener.data = t;
	/* Handles close asynchronously; from here on failures go through
	 * vl_transport_close and the loop like a normal stop. */
	uv_timer_init(loop, &t->sweep);
	uv_check_init(loop, &t->flush_check);
	uv_prepare_init(loop, &t->flush_prepare);
	t->sweep.data = t->flush_check.data = t->flush_prepare.data = t;
	if (listen_on(t, cfg) != VL_OK) {
		vl_transport_close(t);
		uv_run(loop, UV_RUN_NOWAIT);
		vl_transport_free(t);
		return VL_ERR_NET;
	}
	pthread_mutex_init(&t->fl_mu, NULL);
	pthread_cond_init(&t->fl_cv, NULL);
	pthread_cond_init(&t->fl_done, NULL);
	t->fl_started =
	    cfg->flush_threads > 0 && pthread_create(&t->flusher, NULL, flusher_main, t) == 0;
	if (cfg->io_uring && !(t->ring = ring_new()))
		vl_log(VL_LOG_WARN, "io_uring_unavailable", "fallback=send");
	/* Unreferenced: they must not keep the loop running once everything
	 * else has stopped. */
	uv_timer_start(&t->sweep, on_sweep, 1000, 1000);
	uv_unref((uv_handle_t *)&t->sweep);
	uv_check_start(&t->flush_check, on_flush_check);
	uv_prepare_start(&t->flush_prepare, on_flush_prepare);
	uv_unref((uv_handle_t *)&t->flush_check);
	uv_unref((uv_handle_t *)&t->flush_prepare);
	*out = t;
	return VL_OK;
}

int vl_transport_port(const struct vl_transport *t)
{
	return t->port;
}

bool vl_transport_io_uring(const struct vl_transport *t)
{
	return t->ring != NULL;
}

void vl_transport_stop_accepting(struct vl_transport *t)
{
	t->accepting = false;
}

void vl_transport_close(struct vl_transport *t)
{
	if (!t || t->closing)
		return;
	t->closing = true;
	t->accepting = false;
	for (struct tconn *c = t->conns; c; c = c->next)
		conn_kill(c);
	uv_close((uv_handle_t *)&t->listener, NULL);
	uv_close((uv_handle_t *)&t->sweep, NULL);
	uv_close((uv_handle_t *)&t->flush_check, NULL);
	uv_close((uv_handle_t *)&t->flush_prepare, NULL);
}

void vl_transport_free(struct vl_transport *t)
{
	if (!t)
		return;
	/* vl_transport_close and a run of the loop come first (transport.h):
	 * the handles live in t and the connections' close callbacks free
	 * them. */
	assert(t->closing && !t->conns);
	if (t->fl_started) {
		pthread_mutex_lock(&t->fl_mu);
		t->fl_stop = true;
		pthread_cond_signal(&t->fl_cv);
		pthread_mutex_unlock(&t->fl_mu);
		pthread_join(t->flusher, NULL);
		pthread_mutex_destroy(&t->fl_mu);
		pthread_cond_destroy(&t->fl_cv);
		pthread_cond_destroy(&t->fl_done);
	}
	ring_free(t->ring);
	free(t->fl_jobs);
	free(t->addrs); /* empty: every connection has closed */
	vl_tls13_ctx_free(t->tls);
	vl_blob_cleanup(t);
	free(t);
}
