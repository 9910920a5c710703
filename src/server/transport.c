/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libwebsockets glue (see transport.h). Frames the core sends a WebSocket
 * connection are framed here and collected per connection, then written
 * once per event-loop turn with one lws_write for all of them: one send(),
 * or under TLS one SSL_write, where each frame used to cost its own (a
 * store batch completing answers and pushes hundreds of frames at once,
 * often several to one connection). The collected bytes are capped (the
 * core's window bounds pushes; the cap catches a reader that stops
 * reading, which the core then closes as too slow). Fragmented incoming
 * messages are reassembled, capped at the frame limit.
 */
#include "server/transport.h"

#include <assert.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "server/log.h"
#include "server/transport_int.h"

/* Bytes collected before they are written without waiting for the end of
 * the turn: several TLS records' worth, a few hundred small frames. */
#define WS_COALESCE_MAX (64u * 1024u)
/* The most one send() (or SSL_write) may carry: a default-sized frame
 * whole. More waits in libwebsockets for the next writeable event. */
#define WS_TX_PACKET (VL_PROTO_FRAME_MAX + 16u)

/* A connection's session (libwebsockets allocates it, per_session_data_size).
 *
 * Invariants:
 * 1. out is NULL while nothing waits to be written: an idle connection
 *    holds no send buffer. Otherwise it holds LWS_PRE bytes of room, then
 *    out_len bytes of whole, already framed WebSocket messages, in the
 *    order the core sent them.
 * 2. A session with out_len > 0 is on the transport's dirty list (dirty is
 *    set) or is waiting for a writeable callback because libwebsockets
 *    still holds the tail of an earlier write (lws_partial_buffered).
 * 3. Nothing is written while libwebsockets holds such a tail: its
 *    writeable callback sends that first, then calls ours, which writes
 *    what accumulated meanwhile.
 * 4. out_len exceeds WS_COALESCE_MAX only while libwebsockets holds an
 *    unsent tail (the socket is full) or when out is one frame larger
 *    than that, and never exceeds send_buffer + max_frame: past that the
 *    reader is too slow and ws_send refuses, which makes the core close
 *    it.
 */
struct ws_sess {
	struct lws *wsi;
	struct vl_conn *conn;
	uint8_t *out;
	uint32_t out_len, out_cap; /* bytes after the LWS_PRE room */
	struct ws_sess *dirty_next, *dirty_prev;
	uint8_t *rx;
	uint32_t rx_len, rx_cap;
	bool dirty;
	bool rx_bad;
	bool close_pending;
};

static struct vl_transport *sess_transport(const struct ws_sess *s)
{
	return lws_context_user(lws_get_context(s->wsi));
}

static void dirty_add(struct vl_transport *t, struct ws_sess *s)
{
	if (s->dirty)
		return;
	s->dirty = true;
	s->dirty_prev = NULL;
	s->dirty_next = t->dirty;
	if (t->dirty)
		t->dirty->dirty_prev = s;
	t->dirty = s;
}

static void dirty_remove(struct vl_transport *t, struct ws_sess *s)
{
	if (!s->dirty)
		return;
	if (s->dirty_prev)
		s->dirty_prev->dirty_next = s->dirty_next;
	else
		t->dirty = s->dirty_next;
	if (s->dirty_next)
		s->dirty_next->dirty_prev = s->dirty_prev;
	s->dirty = false;
	s->dirty_next = s->dirty_prev = NULL;
}

static void out_free(struct ws_sess *s)
{
	free(s->out);
	s->out = NULL;
	s->out_len = s->out_cap = 0;
}

/* Writes everything waiting in one lws_write. LWS_WRITE_HTTP makes
 * libwebsockets send the bytes as they are (our frames are framed
 * already): one send(), or under TLS one SSL_write, for all of them. What
 * the socket does not take, libwebsockets keeps and sends before anything
 * else (invariant 3). Returns false if the connection failed. */
static bool sess_write(struct ws_sess *s)
{
	if (!s->out_len)
		return true;
	int n = lws_write(s->wsi, s->out + LWS_PRE, s->out_len, LWS_WRITE_HTTP);
	bool ok = n >= 0 && (size_t)n >= s->out_len;
	/* Invariant 1: the buffer goes with what it held. */
	out_free(s);
	return ok;
}

static bool ws_send(void *tctx, const uint8_t *frame, size_t len)
{
	struct ws_sess *s = tctx;
	struct vl_transport *t = sess_transport(s);
	/* RFC 6455 §5.2: FIN and opcode, then the payload length in 7 bits,
	 * or 126 and 16 bits, or 127 and 64 bits; a server does not mask. */
	size_t hdr = len < 126 ? 2 : len <= 0xffff ? 4 : 10;
	size_t limit = t->cfg->send_buffer + t->cfg->core.max_frame;
	if (limit > UINT32_MAX)
		limit = UINT32_MAX;
	if (s->out_len && s->out_len + hdr + len > WS_COALESCE_MAX &&
	    !lws_partial_buffered(s->wsi)) {
		/* Enough for one write: send it now rather than hold more (a
		 * page of fetched messages can be megabytes). The cap below
		 * then only counts what a full socket refused. */
		if (!sess_write(s))
			return false;
	}
	if (len > limit || s->out_len + hdr + len > limit)
		return false;
	size_t need = s->out_len + hdr + len;
	if (need > s->out_cap) {
		size_t cap = s->out_cap ? s->out_cap : 1024;
		while (cap < need)
			cap *= 2;
		if (cap > limit)
			cap = limit;
		uint8_t *n = realloc(s->out, LWS_PRE + cap);
		if (!n)
			return false;
		s->out = n;
		s->out_cap = (uint32_t)cap;
	}
	uint8_t *p = s->out + LWS_PRE + s->out_len;
	*p++ = 0x80 | 0x2; /* FIN, binary */
	if (len < 126) {
		*p++ = (uint8_t)len;
	} else if (len <= 0xffff) {
		*p++ = 126;
		*p++ = (uint8_t)(len >> 8);
		*p++ = (uint8_t)len;
	} else {
		*p++ = 127;
		for (int i = 7; i >= 0; i--)
			*p++ = (uint8_t)((uint64_t)len >> (8 * i));
	}
	memcpy(p, frame, len);
	s->out_len = (uint32_t)need;
	/* Written once per loop turn, with whatever else this turn sends the
	 * connection (transport_flush). */
	dirty_add(t, s);
	return true;
}

/* Flushes one session outside its callbacks (the end of a loop turn). */
static void sess_flush(struct ws_sess *s)
{
	/* Invariant 3. While libwebsockets holds a tail it keeps asking for
	 * POLLOUT itself, and asks once more when the tail is gone: our
	 * writeable callback follows without our asking (each request costs
	 * two epoll_ctl calls through libuv's poll handle). */
	if (lws_partial_buffered(s->wsi))
		return;
	if (!sess_write(s)) {
		/* Outside a callback a connection is closed by a timeout. */
		lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		return;
	}
	if (s->close_pending && !lws_partial_buffered(s->wsi))
		lws_callback_on_writable(s->wsi);
}

static void transport_flush(struct vl_transport *t)
{
	/* One at a time from the head: a session closed while flushing
	 * another takes itself off the list (cb_ws, LWS_CALLBACK_CLOSED). */
	struct ws_sess *s;
	while ((s = t->dirty)) {
		dirty_remove(t, s);
		sess_flush(s);
	}
}

/* Libuv runs check handles right after polling for I/O, where the
 * connections' input and the store's completions were handled, and
 * prepare handles just before polling, after timers: between them every
 * frame of a turn is written in that turn, before the loop may block. */
static void on_flush_check(uv_check_t *h)
{
	transport_flush(h->data);
}

static void on_flush_prepare(uv_prepare_t *h)
{
	transport_flush(h->data);
}

static void ws_close(void *tctx)
{
	struct ws_sess *s = tctx;
	s->close_pending = true;
	/* Whatever is queued is written first (ws_writeable). */
	lws_callback_on_writable(s->wsi);
	/* A peer that never reads must not hold the connection open. */
	lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_SEND, 10);
}

static const struct vl_conn_ops ws_ops = {ws_send, ws_close};

static void sess_free_buffers(struct ws_sess *s)
{
	out_free(s);
	free(s->rx);
	s->rx = NULL;
	s->rx_len = s->rx_cap = 0;
}

static int ws_receive(struct ws_sess *s, const uint8_t *in, size_t len)
{
	struct vl_transport *t = sess_transport(s);
	bool first = lws_is_first_fragment(s->wsi), last = lws_is_final_fragment(s->wsi);
	if (first) {
		s->rx_len = 0;
		s->rx_bad = !lws_frame_is_binary(s->wsi);
	}
	if (first && last && !s->rx_bad) {
		/* The common case: a whole message, no copy. */
		vl_core_conn_input(s->conn, in, len);
		return 0;
	}
	if (!s->rx_bad) {
		if (s->rx_len + len > t->cfg->core.max_frame) {
			/* Answer with the request id of the frame's header. */
			uint8_t hdr[6] = {0};
			size_t have = s->rx_len < 6 ? s->rx_len : 6;
			memcpy(hdr, s->rx, have);
			if (have < 6)
				memcpy(hdr + have, in, 6 - have < len ? 6 - have : len);
			uint32_t id = (uint32_t)hdr[2] << 24 | (uint32_t)hdr[3] << 16 |
			              (uint32_t)hdr[4] << 8 | hdr[5];
			s->rx_bad = true;
			free(s->rx);
			s->rx = NULL;
			s->rx_cap = s->rx_len = 0;
			vl_core_conn_input_bad(s->conn, id, VL_PERR_TOO_LARGE, "frame too large");
		} else {
			if (s->rx_len + len > s->rx_cap) {
				size_t cap = s->rx_cap ? s->rx_cap : 4096;
				while (cap < s->rx_len + len)
					cap *= 2;
				uint8_t *n = realloc(s->rx, cap);
				if (!n)
					return -1;
				s->rx = n;
				s->rx_cap = (uint32_t)cap; /* max_frame is at most 64 MiB */
			}
			memcpy(s->rx + s->rx_len, in, len);
			s->rx_len += (uint32_t)len;
		}
	}
	if (last) {
		if (!s->rx_bad)
			vl_core_conn_input(s->conn, s->rx, s->rx_len);
		else if (!lws_frame_is_binary(s->wsi))
			vl_core_conn_input_bad(s->conn, 0, VL_PERR_MALFORMED, "text message");
		/* Idle connections keep no reassembly buffer. */
		free(s->rx);
		s->rx = NULL;
		s->rx_len = s->rx_cap = 0;
	}
	return 0;
}

static int ws_writeable(struct ws_sess *s)
{
	/* libwebsockets has sent what it held (invariant 3); what came since
	 * goes now, in one write, and need not wait for the turn's end. */
	if (lws_partial_buffered(s->wsi))
		return 0; /* called again once it is sent (sess_flush) */
	dirty_remove(sess_transport(s), s);
	if (!sess_write(s))
		return -1;
	if (lws_partial_buffered(s->wsi))
		return 0;
	if (s->close_pending) {
		lws_close_reason(s->wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
		return -1;
	}
	return 0;
}

static int cb_ws(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                 size_t len)
{
	struct ws_sess *s = user;
	struct vl_transport *t = lws_context_user(lws_get_context(wsi));
	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED: {
		char peer[64] = "-";
		lws_get_peer_simple(wsi, peer, sizeof peer);
		memset(s, 0, sizeof *s);
		s->wsi = wsi;
		s->conn = vl_core_conn_open(t->core, &ws_ops, s, peer);
		return s->conn ? 0 : -1;
	}
	case LWS_CALLBACK_RECEIVE:
		if (!s->conn)
			return -1;
		return ws_receive(s, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (!s->conn)
			return -1;
		return ws_writeable(s);
	case LWS_CALLBACK_CLOSED:
		if (s->conn) {
			vl_core_conn_closed(s->conn);
			s->conn = NULL;
		}
		dirty_remove(t, s);
		sess_free_buffers(s);
		return 0;
	default:
		return 0;
	}
}

/* --- HTTP ------------------------------------------------------------------ */

int vl_http_reply(struct lws *wsi, struct http_sess *h, unsigned status, const char *type,
                  char *body, size_t len)
{
	uint8_t buf[LWS_PRE + 1024], *start = buf + LWS_PRE, *p = start,
	                             *end = buf + sizeof buf - 1;
	h->body = body;
	h->len = len;
	h->sent = 0;
	if (lws_add_http_common_headers(wsi, status, type, (lws_filepos_t)len, &p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
	                                 (const unsigned char *)"no-store", 8, &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	lws_callback_on_writable(wsi);
	return 0;
}

static char *dupstr(const char *s, size_t *len)
{
	*len = strlen(s);
	return strdup(s);
}

static int cb_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len)
{
	struct http_sess *h = user;
	struct vl_transport *t = lws_context_user(lws_get_context(wsi));
	switch (reason) {
	case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS: {
		/* The one hook libwebsockets 4.1 gives to the server's SSL_CTX.
		 * Measured with bench_loadgen: OpenSSL's 16 KiB read buffer kept
		 * on every idle connection was most of the server's memory per
		 * connection; released buffers come back on the next record. */
		SSL_CTX *ctx = user;
		vl_log(VL_LOG_DEBUG, "tls_context", "mode=release_buffers tickets=0");
		SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
		SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
		/* Devices authenticate every connection with a signed challenge
		 * anyway: no resumption tickets to issue or keep. */
		SSL_CTX_set_num_tickets(ctx, 0);
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
		return 0;
	}
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
		/* Draining: new connections are refused at once. */
		return t && !t->accepting ? -1 : 0;
	case LWS_CALLBACK_HTTP: {
		const char *uri = in;
		size_t n;
		char *body;
		memset(h, 0, sizeof *h);
		if (strncmp(uri, "/blob", 5) == 0)
			return vl_blob_on_http(wsi, t, h, uri);
		if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
			body = dupstr("method not allowed\n", &n);
			return body ? vl_http_reply(wsi, h, 405, "text/plain", body, n) : -1;
		}
		if (strcmp(uri, "/healthz") == 0) {
			bool ok = t->accepting;
			body = dupstr(ok ? "ok\n" : "draining\n", &n);
			return body ? vl_http_reply(wsi, h, ok ? 200 : 503, "text/plain", body, n)
			            : -1;
		}
		if (strcmp(uri, "/metrics") == 0) {
			body = vl_server_metrics_text(t->core, &n);
			return body ? vl_http_reply(wsi, h, 200, "text/plain; version=0.0.4", body,
			                            n)
			            : -1;
		}
		body = dupstr("not found\n", &n);
		return body ? vl_http_reply(wsi, h, 404, "text/plain", body, n) : -1;
	}
	case LWS_CALLBACK_HTTP_BODY:
		return vl_blob_on_body(wsi, t, h, in, len);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		return vl_blob_on_body_done(wsi, t, h);
	case LWS_CALLBACK_HTTP_FILE_COMPLETION:
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	case LWS_CALLBACK_HTTP_WRITEABLE: {
		if (!h->body)
			return 0;
		size_t chunk = h->len - h->sent;
		if (chunk > 4096)
			chunk = 4096;
		uint8_t buf[LWS_PRE + 4096];
		memcpy(buf + LWS_PRE, h->body + h->sent, chunk);
		bool final = h->sent + chunk == h->len;
		if (lws_write(wsi, buf + LWS_PRE, chunk,
		              final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)chunk)
			return -1;
		h->sent += chunk;
		if (!final) {
			lws_callback_on_writable(wsi);
			return 0;
		}
		free(h->body);
		h->body = NULL;
		if (h->close_after)
			return -1;
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	}
	case LWS_CALLBACK_CLOSED_HTTP:
		if (h) {
			free(h->body);
			h->body = NULL;
			vl_blob_on_closed(h);
		}
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

static const struct lws_protocols protocols[] = {
    {"http", cb_http, sizeof(struct http_sess), 0, 0, NULL, 0},
    /* rx_buffer_size small: whole messages are reassembled by us, and
     * libwebsockets keeps this buffer on every connection, idle or not
     * (bench_loadgen: 2048 -> 512 took plain connections from 4.1 to
     * 2.6 KiB each). tx_packet_size: left 0, libwebsockets would cap
     * every send() at rx_buffer_size (lws_issue_raw), cutting each flush
     * into 532-byte pieces, each sent on a writeable callback of its own
     * (a poll-mask change, four epoll_ctl calls, one TLS record each).
     * It is only a limit: nothing is allocated for it. */
    {VL_PROTO_SUBPROTOCOL, cb_ws, sizeof(struct ws_sess), 512, 0, NULL, WS_TX_PACKET},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void lws_to_logfmt(int level, const char *line)
{
	size_t n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	vl_log(level & LLL_ERR ? VL_LOG_ERROR : VL_LOG_WARN, "lws", "msg=\"%.*s\"", (int)n, line);
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
	t->core = core;
	t->cfg = cfg;
	t->accepting = true;
	if (vl_blob_init(t) != VL_OK) {
		free(t);
		return VL_ERR_IO;
	}
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_to_logfmt);

	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	void *loops[] = {loop};
	info.foreign_loops = loops;
	info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
	               LWS_SERVER_OPTION_DISABLE_IPV6;
	if (cfg->tls)
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.user = t;
	info.pt_serv_buf_size = 32 * 1024;
	t->ctx = lws_create_context(&info);
	if (!t->ctx) {
		vl_blob_cleanup(t);
		free(t);
		return VL_ERR_NET;
	}
	struct lws_context_creation_info vi;
	memset(&vi, 0, sizeof vi);
	vi.port = (int)cfg->port;
	vi.iface = cfg->listen_host;
	vi.protocols = protocols;
	vi.vhost_name = "valised";
	vi.alpn = "http/1.1";
	vi.keepalive_timeout = 30;
	vi.timeout_secs = 30;
	vi.options = LWS_SERVER_OPTION_DISABLE_IPV6;
	if (cfg->tls) {
		vi.ssl_cert_filepath = cfg->tls_cert;
		vi.ssl_private_key_filepath = cfg->tls_key;
		/* TLS 1.3 only. */
		vi.ssl_options_set =
		    SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 | SSL_OP_NO_TLSv1_2 | SSL_OP_NO_COMPRESSION;
		vi.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	}
	t->vhost = lws_create_vhost(t->ctx, &vi);
	if (!t->vhost) {
		lws_context_destroy(t->ctx);
		vl_blob_cleanup(t);
		free(t);
		return VL_ERR_NET;
	}
	/* The per-turn flush of every connection's frames. Unreferenced: they
	 * must not keep the loop running once everything else has stopped. */
	uv_check_init(loop, &t->flush_check);
	uv_prepare_init(loop, &t->flush_prepare);
	t->flush_check.data = t->flush_prepare.data = t;
	uv_check_start(&t->flush_check, on_flush_check);
	uv_prepare_start(&t->flush_prepare, on_flush_prepare);
	uv_unref((uv_handle_t *)&t->flush_check);
	uv_unref((uv_handle_t *)&t->flush_prepare);
	*out = t;
	return VL_OK;
}

int vl_transport_port(const struct vl_transport *t)
{
	return lws_get_vhost_listen_port(t->vhost);
}

void vl_transport_stop_accepting(struct vl_transport *t)
{
	t->accepting = false;
}

void vl_transport_close(struct vl_transport *t)
{
	if (t && !t->closing) {
		t->closing = true;
		lws_context_destroy(t->ctx);
		/* Every session is closed now: nothing is left to flush. */
		uv_close((uv_handle_t *)&t->flush_check, NULL);
		uv_close((uv_handle_t *)&t->flush_prepare, NULL);
	}
}

void vl_transport_free(struct vl_transport *t)
{
	if (!t)
		return;
	/* vl_transport_close and a run of the loop come first (transport.h):
	 * the flush handles live in t. On a foreign loop the first destroy
	 * only starts closing handles; this second one, after the loop has
	 * run, frees the rest (the TLS contexts among it). */
	assert(t->closing);
	lws_context_destroy(t->ctx);
	vl_blob_cleanup(t);
	free(t);
}
