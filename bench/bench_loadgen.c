/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_loadgen: a load generator for valised speaking the real protocol
 * over real WebSocket connections (TLS or plain), many per process on one
 * epoll loop, spread over several loopback source addresses so ephemeral
 * ports do not run out. It starts its own valised (next to this binary in
 * the build tree) on a fresh data folder and prints a table:
 *
 *   conns   N connections held, authenticated, over P processes: server
 *           RSS per idle connection.
 *   pairs   1:1 through durable queues: senders pipeline SENDs to their
 *           receiver; delivered messages per second end to end (a message
 *           counts when its receiver has it; the server acknowledged it to
 *           the sender only once durable); then latency p50/p99/p999 at half
 *           that rate.
 *   fanout  one sender, groups of 10, 100, 1000: latency until the last
 *           member has each message, at 10 messages per second.
 *
 * Usage: bench_loadgen [--tls] [--conns N] [--procs P] [--pairs N]
 *                      [--seconds S] [--only conns|pairs|fanout]
 * See bench/README.md.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "proto/proto.h"
#include "vtc.h"
#include "wsc.h"

#define SRC_ADDRS 8 /* 127.0.0.1 .. 127.0.0.8 */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_loadgen: %s\n", what);
	exit(1);
}

/* --- the server under test ----------------------------------------------- */

struct server {
	char exe[PATH_MAX + 32];
	char dir[64];
	pid_t pid;
	int port;
	bool tls;
};

static void server_start(struct server *s, bool tls)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		die("cannot find myself");
	self[n] = 0;
	char *slash = strrchr(self, '/');
	*slash = 0;
	snprintf(s->exe, sizeof s->exe, "%s/../src/server/valised", self);
	snprintf(s->dir, sizeof s->dir, "/tmp/vl_loadgen_XXXXXX");
	if (!mkdtemp(s->dir))
		die("mkdtemp");
	s->tls = tls;
	char portfile[128];
	snprintf(portfile, sizeof portfile, "%s/valised.port", s->dir);
	s->pid = fork();
	if (s->pid == 0) {
		char log[128];
		snprintf(log, sizeof log, "%s/valised.log", s->dir);
		FILE *o = freopen("/dev/null", "w", stdout);
		FILE *e = freopen(log, "w", stderr);
		(void)o;
		(void)e;
		/* Limits raised for the measurement: the benchmark measures the
		 * server, not its per-device rate limit. */
		execl(s->exe, s->exe, "run", "--listen", "127.0.0.1:0", "--data", s->dir, "--set",
		      "server_name=example.org", "--set", "log_level=warn", "--set", "rate=1000000",
		      "--set", "burst=1000000", "--set", "window=1024", tls ? "--set" : "--plain",
		      tls ? "tls=on" : NULL, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1000; i++) {
		FILE *f = fopen(portfile, "r");
		if (f) {
			int ok = fscanf(f, "%d", &s->port);
			fclose(f);
			if (ok == 1 && s->port > 0)
				return;
		}
		usleep(10000);
	}
	die("valised did not start");
}

static long server_rss_kib(const struct server *s)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)s->pid);
	FILE *f = fopen(path, "r");
	long v = -1;
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			v = atol(line + 6);
	if (f)
		fclose(f);
	return v;
}

/* Server CPU time (user + system) in seconds. */
static double server_cpu_s(const struct server *s)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)s->pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	char buf[1024];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	unsigned long ut = 0, st = 0;
	/* fields after the command: state is 3rd; utime 14th, stime 15th */
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* This process's CPU time (user + system) in seconds: the load
 * generator's own cost, printed next to the server's. */
static double self_cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Bytes the server process has caused to be written to storage. */
static double server_disk_bytes(const struct server *s)
{
	char path[64], line[128];
	snprintf(path, sizeof path, "/proc/%d/io", (int)s->pid);
	FILE *f = fopen(path, "r");
	double v = 0;
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, "write_bytes:", 12) == 0)
			v = atof(line + 12);
	if (f)
		fclose(f);
	return v;
}

/* A counter from the server's /metrics. */
static double server_metric(const struct server *s, const char *name)
{
	char *body = NULL;
	double v = -1;
	if (wsc_http_get("127.0.0.1", s->port, s->tls, "/metrics", &body) == 200 && body) {
		char key[128];
		snprintf(key, sizeof key, "\n%s ", name);
		char *p = strstr(body, key);
		if (p)
			v = atof(p + strlen(key));
	}
	free(body);
	return v;
}

static void server_stop(struct server *s)
{
	kill(s->pid, SIGTERM);
	waitpid(s->pid, NULL, 0);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_loadgen: could not remove %s\n", s->dir);
}

/* Invites for PREFIX1..PREFIXn@example.org from the admin command. */
static char **invites(const struct server *s, const char *prefix, unsigned n)
{
	char cmd[PATH_MAX + 256];
	snprintf(cmd, sizeof cmd, "'%s' admin invites '%s@example.org' %u --data '%s'", s->exe,
	         prefix, n, s->dir);
	FILE *p = popen(cmd, "r");
	if (!p)
		die("admin invites");
	char **codes = calloc(n + 1, sizeof *codes);
	char line[256];
	for (unsigned i = 0; i < n && fgets(line, sizeof line, p); i++) {
		char *sp = strchr(line, ' ');
		if (!sp)
			die("admin invites output");
		sp[1 + strcspn(sp + 1, "\r\n")] = 0;
		codes[i] = strdup(sp + 1);
	}
	if (pclose(p) != 0)
		die("admin invites failed");
	return codes;
}

/* --- connections ------------------------------------------------------------ */

enum cstate { C_CONNECTING, C_TLS, C_UPGRADING, C_CHALLENGE, C_REGISTERING, C_READY, C_DEAD };

struct conn;
struct loop;
typedef void (*frame_fn)(struct loop *l, struct conn *c, const struct vl_frame *f);

struct conn {
	int fd;
	SSL *ssl;
	enum cstate st;
	uint8_t *rbuf;
	size_t rlen, rcap;
	uint8_t *wbuf;
	size_t wlen, wcap;
	bool want_out;
	struct vtc_device dev;
	const char *invite;
	uint32_t next_id;
	/* scenario state */
	int idx;
	struct conn *peer;
	uint64_t last_seq, acked;
	unsigned outstanding;
	uint64_t sent, received;
	uint64_t sent_base; /* sent when the paced phase began */
	uint64_t next_send_ns;
};

struct loop {
	int ep;
	SSL_CTX *ctx;
	struct conn *conns;
	size_t n, ready, dead;
	frame_fn on_frame;
	void (*on_ready)(struct loop *l, struct conn *c);
	/* stats */
	uint64_t *lat;
	size_t n_lat, cap_lat;
	uint64_t delivered;
	bool measuring;
};

static void conn_fail(struct loop *l, struct conn *c, const char *why)
{
	if (c->st == C_DEAD)
		return;
	if (l->dead < 5)
		fprintf(stderr, "bench_loadgen: connection %d failed: %s\n", c->idx, why);
	c->st = C_DEAD;
	l->dead++;
	epoll_ctl(l->ep, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->ssl)
		SSL_free(c->ssl);
	c->ssl = NULL;
	close(c->fd);
}

static void update_events(struct loop *l, struct conn *c, bool out)
{
	if (c->want_out == out)
		return;
	c->want_out = out;
	struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
	epoll_ctl(l->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void flush(struct loop *l, struct conn *c)
{
	while (c->wlen) {
		ssize_t n;
		if (c->ssl) {
			int r = SSL_write(c->ssl, c->wbuf,
			                  (int)(c->wlen > INT_MAX ? INT_MAX : c->wlen));
			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);
				if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
					break;
				conn_fail(l, c, "SSL_write");
				return;
			}
			n = r;
		} else {
			n = write(c->fd, c->wbuf, c->wlen);
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				conn_fail(l, c, "write");
				return;
			}
		}
		memmove(c->wbuf, c->wbuf + n, c->wlen - (size_t)n);
		c->wlen -= (size_t)n;
	}
	update_events(l, c, c->wlen > 0);
}

static void put_raw(struct conn *c, const void *p, size_t n)
{
	if (c->wlen + n > c->wcap) {
		size_t cap = c->wcap ? c->wcap : 4096;
		while (cap < c->wlen + n)
			cap *= 2;
		c->wbuf = realloc(c->wbuf, cap);
		if (!c->wbuf)
			die("out of memory");
		c->wcap = cap;
	}
	memcpy(c->wbuf + c->wlen, p, n);
	c->wlen += n;
}

/* One masked binary WebSocket message (RFC 6455 §5.3). */
static void put_ws(struct loop *l, struct conn *c, const uint8_t *p, size_t n)
{
	uint8_t hdr[14];
	size_t h = 0;
	hdr[h++] = 0x82;
	if (n < 126) {
		hdr[h++] = (uint8_t)(0x80 | n);
	} else if (n < 65536) {
		hdr[h++] = 0x80 | 126;
		hdr[h++] = (uint8_t)(n >> 8);
		hdr[h++] = (uint8_t)n;
	} else {
		hdr[h++] = 0x80 | 127;
		for (int i = 7; i >= 0; i--)
			hdr[h++] = (uint8_t)((uint64_t)n >> (8 * i));
	}
	/* A zero mask: allowed, and the payload is then sent as is. */
	memset(hdr + h, 0, 4);
	h += 4;
	put_raw(c, hdr, h);
	put_raw(c, p, n);
	flush(l, c);
}

static void put_writer(struct loop *l, struct conn *c, struct vl_writer *w)
{
	if (w->err)
		die("encoding failed");
	put_ws(l, c, w->buf, w->len);
	vl_writer_cleanup(w);
}

static void start_upgrade(struct loop *l, struct conn *c)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
	                          "Connection: Upgrade\r\nSec-WebSocket-Key: "
	                          "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	                          "Sec-WebSocket-Protocol: valise.v1\r\n\r\n";
	c->st = C_UPGRADING;
	put_raw(c, req, sizeof req - 1);
	flush(l, c);
}

static void handshake(struct loop *l, struct conn *c)
{
	int r = SSL_connect(c->ssl);
	if (r == 1) {
		start_upgrade(l, c);
		return;
	}
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ)
		update_events(l, c, false);
	else if (e == SSL_ERROR_WANT_WRITE)
		update_events(l, c, true);
	else
		conn_fail(l, c, "TLS handshake");
}

static void on_message(struct loop *l, struct conn *c, const uint8_t *p, size_t n)
{
	struct vl_frame f;
	if (vl_frame_decode(p, n, VL_PROTO_FRAME_MAX + 4096, &f) != VL_OK) {
		conn_fail(l, c, "bad frame");
		return;
	}
	if (c->st == C_CHALLENGE) {
		struct vtc_challenge ch;
		if (vtc_challenge_parse(p, n, &ch) != VL_OK) {
			conn_fail(l, c, "no challenge");
			return;
		}
		struct vl_writer w;
		vl_writer_init_heap(&w, 4096);
		/* With an invite: register; without: authenticate. */
		if (c->invite ? vtc_register_frame(&w, c->next_id++, &c->dev, c->invite, &ch)
		              : vtc_auth_frame(&w, c->next_id++, &c->dev, &ch))
			die("register/auth frame");
		put_writer(l, c, &w);
		c->st = C_REGISTERING;
		return;
	}
	if (c->st == C_REGISTERING) {
		if (f.type == (VL_FRAME_REGISTER | VL_FRAME_REPLY) ||
		    f.type == (VL_FRAME_AUTH | VL_FRAME_REPLY)) {
			c->st = C_READY;
			l->ready++;
			if (l->on_ready)
				l->on_ready(l, c);
		} else if (f.type == VL_FRAME_ERROR) {
			conn_fail(l, c, "REGISTER/AUTH refused");
		}
		return;
	}
	if (l->on_frame)
		l->on_frame(l, c, &f);
}

static void on_readable(struct loop *l, struct conn *c)
{
	for (;;) {
		if (c->rcap - c->rlen < 16384) {
			c->rcap = c->rcap ? c->rcap * 2 : 65536;
			c->rbuf = realloc(c->rbuf, c->rcap);
			if (!c->rbuf)
				die("out of memory");
		}
		ssize_t n;
		if (c->ssl) {
			int r = SSL_read(c->ssl, c->rbuf + c->rlen, (int)(c->rcap - c->rlen));
			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);
				if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
					break;
				conn_fail(l, c, "closed (TLS)");
				return;
			}
			n = r;
		} else {
			n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				break;
			if (n <= 0) {
				conn_fail(l, c, "closed");
				return;
			}
		}
		c->rlen += (size_t)n;
	}
	size_t off = 0;
	if (c->st == C_UPGRADING) {
		uint8_t *end = NULL;
		for (size_t i = 0; i + 4 <= c->rlen; i++)
			if (memcmp(c->rbuf + i, "\r\n\r\n", 4) == 0) {
				end = c->rbuf + i + 4;
				break;
			}
		if (!end)
			return;
		if (memcmp(c->rbuf, "HTTP/1.1 101", 12) != 0) {
			conn_fail(l, c, "upgrade refused");
			return;
		}
		off = (size_t)(end - c->rbuf);
		c->st = C_CHALLENGE;
	}
	/* Server frames: unmasked, FIN set (valised never fragments). */
	while (c->st != C_DEAD && c->rlen - off >= 2) {
		uint8_t *b = c->rbuf + off;
		size_t len = b[1] & 0x7f, h = 2;
		if (len == 126) {
			if (c->rlen - off < 4)
				break;
			len = (size_t)b[2] << 8 | b[3];
			h = 4;
		} else if (len == 127) {
			if (c->rlen - off < 10)
				break;
			len = 0;
			for (int i = 0; i < 8; i++)
				len = len << 8 | b[2 + i];
			h = 10;
		}
		if (c->rlen - off < h + len)
			break;
		int op = b[0] & 0x0f;
		if (op == 2)
			on_message(l, c, b + h, len);
		else if (op == 8) {
			conn_fail(l, c, "server closed");
			return;
		}
		off += h + len;
	}
	if (c->st == C_DEAD)
		return;
	memmove(c->rbuf, c->rbuf + off, c->rlen - off);
	c->rlen -= off;
}

static void loop_init(struct loop *l, size_t n, bool tls)
{
	memset(l, 0, sizeof *l);
	l->ep = epoll_create1(0);
	l->conns = calloc(n, sizeof *l->conns);
	if (l->ep < 0 || !l->conns)
		die("epoll");
	if (tls) {
		l->ctx = SSL_CTX_new(TLS_client_method());
		SSL_CTX_set_min_proto_version(l->ctx, TLS1_3_VERSION);
		/* Keep the client side small too: the measurement is about the
		 * server, and many clients share this process. */
		SSL_CTX_set_mode(l->ctx, SSL_MODE_RELEASE_BUFFERS);
	}
}

/* Opens connection i as device (user, name) registering with invite. */
static void conn_open(struct loop *l, const struct server *s, size_t i, const char *user,
                      const char *invite)
{
	struct conn *c = &l->conns[i];
	c->idx = (int)i;
	c->next_id = 1;
	c->invite = invite;
	if (invite && vtc_device_init(&c->dev, user, "bench", 1) != VL_OK)
		die("keys");
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (c->fd < 0)
		die("socket (raise the open-file limit?)");
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct sockaddr_in src = {.sin_family = AF_INET};
	src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(i % SRC_ADDRS));
	if (bind(c->fd, (struct sockaddr *)&src, sizeof src))
		die("bind source address");
	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
	dst.sin_addr.s_addr = htonl(0x7f000001u);
	if (connect(c->fd, (struct sockaddr *)&dst, sizeof dst) && errno != EINPROGRESS)
		die("connect");
	c->st = C_CONNECTING;
	c->want_out = true;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
	epoll_ctl(l->ep, EPOLL_CTL_ADD, c->fd, &ev);
	l->n = i + 1 > l->n ? i + 1 : l->n;
}

static void on_event(struct loop *l, struct conn *c, uint32_t events)
{
	if (c->st == C_DEAD)
		return;
	if (c->st == C_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof err;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			conn_fail(l, c, "connect");
			return;
		}
		if (l->ctx) {
			c->ssl = SSL_new(l->ctx);
			SSL_set_fd(c->ssl, c->fd);
			SSL_set_tlsext_host_name(c->ssl, "localhost");
			c->st = C_TLS;
		} else {
			start_upgrade(l, c);
			return;
		}
	}
	if (c->st == C_TLS) {
		handshake(l, c);
		return;
	}
	if (events & EPOLLOUT)
		flush(l, c);
	if (c->st != C_DEAD && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		on_readable(l, c);
}

/* Runs the loop for up to ms, or until done(l) holds. */
static void loop_run(struct loop *l, int ms, bool (*done)(struct loop *l),
                     void (*tick)(struct loop *l))
{
	uint64_t end = now_ns() + (uint64_t)ms * 1000000u;
	struct epoll_event evs[256];
	while (now_ns() < end && !(done && done(l))) {
		int n = epoll_wait(l->ep, evs, 256, tick ? 1 : 10);
		for (int i = 0; i < n; i++)
			on_event(l, evs[i].data.ptr, evs[i].events);
		if (tick)
			tick(l);
	}
}

static bool all_ready(struct loop *l)
{
	return l->ready + l->dead >= l->n;
}

/* Round 1 of `conns`: a device registers, then hangs up at once, so the
 * server never holds more than a few of these: its memory high-water mark
 * before round 2 does not already include the connections measured. */
static void close_on_ready(struct loop *l, struct conn *c)
{
	epoll_ctl(l->ep, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->ssl)
		SSL_free(c->ssl);
	c->ssl = NULL;
	close(c->fd);
	c->st = C_DEAD;
}

/* Closes every connection, keeping the device keys, for a second round. */
static void loop_reset(struct loop *l)
{
	for (size_t i = 0; i < l->n; i++) {
		struct conn *c = &l->conns[i];
		if (c->st != C_DEAD) {
			epoll_ctl(l->ep, EPOLL_CTL_DEL, c->fd, NULL);
			if (c->ssl)
				SSL_free(c->ssl);
			close(c->fd);
		}
		struct vtc_device dev = c->dev;
		free(c->rbuf);
		free(c->wbuf);
		memset(c, 0, sizeof *c);
		c->dev = dev;
	}
	l->ready = l->dead = 0;
}

/* Opens connections first..first+n-1 (users PREFIX<first+i+1>) with at
 * most `inflight` handshakes at a time, so the server's listen backlog and
 * TLS handshakes are not flooded: what is measured is the held state. */
static void open_paced(struct loop *l, const struct server *s, unsigned first, unsigned n,
                       const char *prefix, char **codes, unsigned inflight)
{
	for (unsigned i = 0; i < n; i++) {
		while (i - (l->ready + l->dead) >= inflight)
			loop_run(l, 5, NULL, NULL);
		char user[64];
		snprintf(user, sizeof user, "%s%u@example.org", prefix, first + i + 1);
		conn_open(l, s, i, user, codes ? codes[first + i] : NULL);
	}
	loop_run(l, 600000, all_ready, NULL);
}

static void loop_free(struct loop *l)
{
	for (size_t i = 0; i < l->n; i++) {
		struct conn *c = &l->conns[i];
		if (c->st != C_DEAD) {
			if (c->ssl)
				SSL_free(c->ssl);
			close(c->fd);
		}
		free(c->rbuf);
		free(c->wbuf);
	}
	free(l->conns);
	free(l->lat);
	if (l->ctx)
		SSL_CTX_free(l->ctx);
	close(l->ep);
}

static void record_latency(struct loop *l, uint64_t ns)
{
	if (l->n_lat == l->cap_lat) {
		l->cap_lat = l->cap_lat ? l->cap_lat * 2 : 1 << 16;
		l->lat = realloc(l->lat, l->cap_lat * sizeof *l->lat);
		if (!l->lat)
			die("out of memory");
	}
	l->lat[l->n_lat++] = ns;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct_ms(uint64_t *v, size_t n, double p)
{
	if (!n)
		return 0;
	size_t i = (size_t)(p * (double)(n - 1));
	return (double)v[i] / 1e6;
}

/* --- scenario: held connections ---------------------------------------- */

static void run_conns(bool tls, unsigned total, unsigned procs)
{
	struct server s;
	server_start(&s, tls);
	char **codes = invites(&s, "c", total);
	long rss0;
	int ready_pipe[2], stop_pipe[2], go_pipe[2];
	if (pipe(ready_pipe) || pipe(stop_pipe) || pipe(go_pipe))
		die("pipe");
	unsigned per = (total + procs - 1) / procs;
	uint64_t t0 = now_ns();
	pid_t *kids = calloc(procs, sizeof *kids);
	for (unsigned p = 0; p < procs; p++) {
		if ((kids[p] = fork()) == 0) {
			close(ready_pipe[0]);
			close(stop_pipe[1]);
			close(go_pipe[1]);
			unsigned first = p * per, n = first + per > total ? total - first : per;
			struct loop l;
			loop_init(&l, n, tls);
			/* Round 1 registers the devices; round 2, measured, holds
			 * them authenticated with AUTH, as devices normally are. */
			l.on_ready = close_on_ready;
			open_paced(&l, &s, first, n, "c", codes, 16);
			unsigned ok = (unsigned)l.ready;
			loop_reset(&l);
			l.on_ready = NULL;
			if (write(ready_pipe[1], &ok, sizeof ok) != sizeof ok)
				_exit(1);
			char b;
			while (read(go_pipe[0], &b, 1) < 0 && errno == EINTR)
				;
			open_paced(&l, &s, first, n, "c", NULL, 32);
			ok = (unsigned)l.ready;
			if (write(ready_pipe[1], &ok, sizeof ok) != sizeof ok)
				_exit(1);
			/* Hold until the parent has measured. */
			while (read(stop_pipe[0], &b, 1) < 0 && errno == EINTR)
				;
			_exit(0);
		}
	}
	close(ready_pipe[1]);
	close(stop_pipe[0]);
	close(go_pipe[0]);
	unsigned registered = 0;
	for (unsigned p = 0; p < procs; p++) {
		unsigned ok = 0;
		if (read(ready_pipe[0], &ok, sizeof ok) == sizeof ok)
			registered += ok;
	}
	double reg_secs = (double)(now_ns() - t0) / 1e9;
	sleep(3);
	rss0 = server_rss_kib(&s);
	t0 = now_ns();
	for (unsigned p = 0; p < procs; p++)
		if (write(go_pipe[1], "g", 1) != 1)
			die("pipe");
	unsigned held = 0;
	for (unsigned p = 0; p < procs; p++) {
		unsigned ok = 0;
		if (read(ready_pipe[0], &ok, sizeof ok) == sizeof ok)
			held += ok;
	}
	double secs = (double)(now_ns() - t0) / 1e9;
	/* Let in-flight work settle before measuring. */
	sleep(3);
	long rss1 = server_rss_kib(&s);
	close(stop_pipe[1]);
	close(go_pipe[1]);
	for (unsigned p = 0; p < procs; p++)
		waitpid(kids[p], NULL, 0);
	free(kids);
	printf("| conns  | %-5s | %u registered (%.0f s), %u held authenticated of %u, %u procs "
	       "(%.0f s) | server RSS %ld -> %ld KiB: %.2f KiB per idle connection | |\n",
	       tls ? "TLS" : "plain", registered, reg_secs, held, total, procs, secs, rss0, rss1,
	       held ? (double)(rss1 - rss0) / held : 0.0);
	fflush(stdout);
	for (unsigned i = 0; i < total; i++)
		free(codes[i]);
	free(codes);
	server_stop(&s);
}

/* --- group setup shared by pairs and fanout ------------------------------- */

static const uint8_t *gid_of(struct conn *c, uint8_t gid[16])
{
	memset(gid, 0, 16);
	memcpy(gid, "bench", 5);
	memcpy(gid + 8, &c->idx, sizeof c->idx);
	return gid;
}

static void create_group(struct loop *l, struct conn *owner, struct conn **members, size_t n)
{
	uint8_t gid[16];
	gid_of(owner, gid);
	struct vl_msg_group_create g = {{gid, 16}};
	struct vl_writer w;
	vl_writer_init_heap(&w, 256);
	if (vl_msg_group_create_encode(&w, owner->next_id++, &g))
		die("encode");
	put_writer(l, owner, &w);
	uint8_t *cm, *wel;
	size_t cm_len, wel_len;
	const struct vtc_device **adds = calloc(n, sizeof *adds);
	for (size_t i = 0; i < n; i++)
		adds[i] = &members[i]->dev;
	if (vtc_commit_message(gid, 16, 0, adds, n, &cm, &cm_len) ||
	    vtc_welcome_message(1, &wel, &wel_len))
		die("messages");
	free(adds);
	struct vl_device_ref *refs = calloc(n, sizeof *refs);
	for (size_t i = 0; i < n; i++)
		refs[i] = (struct vl_device_ref){
		    {(const uint8_t *)members[i]->dev.user, strlen(members[i]->dev.user)},
		    {(const uint8_t *)"bench", 5}};
	struct vl_msg_commit m = {.group_id = {gid, 16},
	                          .epoch = 0,
	                          .commit = {cm, cm_len},
	                          .has_welcome = true,
	                          .welcome = {wel, wel_len}};
	if (vl_random(m.client_msg_id, 16))
		die("random");
	vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
	if (vl_msg_commit_encode(&w, owner->next_id++, &m, refs, n, NULL, 0))
		die("encode commit");
	put_writer(l, owner, &w);
	free(refs);
	free(cm);
	free(wel);
}

static void send_ack(struct loop *l, struct conn *c, uint64_t seq)
{
	struct vl_msg_ack a = {seq};
	uint8_t buf[32];
	struct vl_writer w;
	vl_writer_init_fixed(&w, buf, sizeof buf);
	if (vl_msg_ack_encode(&w, c->next_id++, &a))
		die("encode ack");
	put_ws(l, c, buf, w.len);
	c->acked = seq;
}

/* A SEND carrying its send time and a counter in the ciphertext. */
static void send_app(struct loop *l, struct conn *c, uint64_t counter)
{
	uint8_t gid[16];
	const struct conn *owner = c->peer && c->peer->idx < c->idx ? c->peer : c;
	gid_of((struct conn *)owner, gid);
	static uint8_t *tmpl;
	static size_t tmpl_len;
	if (!tmpl && vtc_private_message(gid, 16, 1, 100, &tmpl, &tmpl_len))
		die("message");
	/* Same layout for every group: only the group id and the tail
	 * (time, counter) change. */
	uint8_t msg[256];
	memcpy(msg, tmpl, tmpl_len);
	memcpy(msg + 5, gid, 16); /* after version, wire format, length octet */
	uint64_t t = now_ns();
	memcpy(msg + tmpl_len - 16, &t, 8);
	memcpy(msg + tmpl_len - 8, &counter, 8);
	struct vl_msg_send m = {.group_id = {gid, 16}, .message = {msg, tmpl_len}};
	memcpy(m.client_msg_id, &c->idx, sizeof c->idx);
	memcpy(m.client_msg_id + 8, &counter, 8);
	uint8_t buf[512];
	struct vl_writer w;
	vl_writer_init_fixed(&w, buf, sizeof buf);
	if (vl_msg_send_encode(&w, c->next_id++, &m))
		die("encode send");
	put_ws(l, c, buf, w.len);
	c->sent++;
	c->outstanding++;
}

/* --- scenario: 1:1 pairs ------------------------------------------------ */

static unsigned pipeline_depth = 16;
static double pace_per_sender; /* messages per second per sender; 0: as fast as possible */
static uint64_t pace_start;
static unsigned welcomed;

static void pairs_frame(struct loop *l, struct conn *c, const struct vl_frame *f)
{
	if (f->type == (VL_FRAME_SEND | VL_FRAME_REPLY)) {
		c->outstanding--;
		if (l->measuring && pace_per_sender == 0)
			send_app(l, c, c->sent);
		return;
	}
	if (f->type == VL_FRAME_DELIVER) {
		struct vl_msg_deliver d;
		if (vl_msg_deliver_decode(&f->body, &d) != VL_OK)
			die("bad DELIVER");
		c->last_seq = d.seq;
		if (d.kind == VL_DELIVERY_WELCOME) {
			welcomed++;
			send_ack(l, c, d.seq);
			return;
		}
		uint64_t t;
		memcpy(&t, d.message.p + d.message.len - 16, 8);
		if (l->measuring) {
			l->delivered++;
			record_latency(l, now_ns() - t);
		}
		c->received++;
		if (c->last_seq - c->acked >= 64)
			send_ack(l, c, c->last_seq);
		return;
	}
	if (f->type == VL_FRAME_ERROR) {
		struct vl_msg_error e;
		if (vl_msg_error_decode(&f->body, &e) == VL_OK && e.code != VL_PERR_RATE_LIMITED)
			fprintf(stderr, "bench_loadgen: ERROR %s\n", vl_proto_error_name(e.code));
	}
}

static size_t n_pairs;
static void pace_tick(struct loop *l)
{
	if (!l->measuring || pace_per_sender == 0)
		return;
	double elapsed = (double)(now_ns() - pace_start) / 1e9;
	uint64_t due = (uint64_t)(elapsed * pace_per_sender);
	for (size_t i = 0; i < n_pairs; i++) {
		struct conn *c = &l->conns[2 * i];
		while (c->st == C_READY && c->sent - c->sent_base < due)
			send_app(l, c, c->sent);
	}
}

static bool all_welcomed(struct loop *l)
{
	return welcomed >= n_pairs || l->dead;
}

static void run_pairs(bool tls, unsigned pairs, int seconds)
{
	struct server s;
	server_start(&s, tls);
	char **codes = invites(&s, "p", 2 * pairs);
	struct loop l;
	loop_init(&l, 2 * pairs, tls);
	n_pairs = pairs;
	open_paced(&l, &s, 0, 2 * pairs, "p", codes, 64);
	if (l.dead)
		die("connections failed during setup");
	l.on_frame = pairs_frame;
	for (unsigned i = 0; i < pairs; i++) {
		struct conn *a = &l.conns[2 * i], *b = &l.conns[2 * i + 1];
		a->peer = b;
		b->peer = a;
		create_group(&l, a, &b, 1);
	}
	welcomed = 0;
	loop_run(&l, 120000, all_welcomed, NULL);

	/* 1. As fast as possible: each sender keeps pipeline_depth SENDs in
	 * flight (each acknowledged only once durable). */
	pace_per_sender = 0;
	l.measuring = true;
	double cpu0 = server_cpu_s(&s), b0 = server_metric(&s, "valised_store_batches_total");
	double w0 = server_disk_bytes(&s);
	double g0 = self_cpu_s();
	uint64_t t0 = now_ns();
	for (unsigned i = 0; i < pairs; i++)
		for (unsigned k = 0; k < pipeline_depth; k++)
			send_app(&l, &l.conns[2 * i], l.conns[2 * i].sent);
	loop_run(&l, seconds * 1000, NULL, NULL);
	double secs = (double)(now_ns() - t0) / 1e9;
	l.measuring = false;
	double cpu1 = server_cpu_s(&s), b1 = server_metric(&s, "valised_store_batches_total");
	double w1 = server_disk_bytes(&s);
	double g1 = self_cpu_s();
	double rate = (double)l.delivered / secs;
	qsort(l.lat, l.n_lat, sizeof *l.lat, cmp_u64);
	printf("| pairs  | %-5s | %u pairs, depth %u | %.0f msg/s delivered end to end; server "
	       "%.0f%% CPU, %.1f us CPU/msg; loadgen %.0f%% CPU, %.1f us CPU/msg; %.0f group "
	       "commits (fsyncs)/s, %.1f KiB written to disk/msg | "
	       "p50 %.2f ms p99 %.2f ms p999 %.2f ms |\n",
	       tls ? "TLS" : "plain", pairs, pipeline_depth, rate, 100 * (cpu1 - cpu0) / secs,
	       l.delivered ? 1e6 * (cpu1 - cpu0) / (double)l.delivered : 0, 100 * (g1 - g0) / secs,
	       l.delivered ? 1e6 * (g1 - g0) / (double)l.delivered : 0, (b1 - b0) / secs,
	       l.delivered ? (w1 - w0) / 1024 / (double)l.delivered : 0,
	       pct_ms(l.lat, l.n_lat, 0.5), pct_ms(l.lat, l.n_lat, 0.99),
	       pct_ms(l.lat, l.n_lat, 0.999));
	fflush(stdout);
	/* Let the pipeline drain before the paced run. */
	for (int i = 0; i < 60; i++) {
		unsigned busy = 0;
		for (unsigned k = 0; k < pairs; k++)
			busy += l.conns[2 * k].outstanding;
		if (!busy)
			break;
		loop_run(&l, 500, NULL, NULL);
	}
	loop_run(&l, 500, NULL, NULL);

	/* 2. Paced at half that rate, spread evenly over the senders. */
	l.n_lat = 0;
	l.delivered = 0;
	pace_per_sender = rate / 2 / pairs;
	/* Counters go on: client message ids must stay unique. */
	for (unsigned i = 0; i < pairs; i++)
		l.conns[2 * i].sent_base = l.conns[2 * i].sent;
	pace_start = now_ns();
	l.measuring = true;
	cpu0 = server_cpu_s(&s);
	g0 = self_cpu_s();
	loop_run(&l, seconds * 1000, NULL, pace_tick);
	secs = (double)(now_ns() - pace_start) / 1e9;
	l.measuring = false;
	cpu1 = server_cpu_s(&s);
	g1 = self_cpu_s();
	qsort(l.lat, l.n_lat, sizeof *l.lat, cmp_u64);
	printf("| pairs  | %-5s | paced %.0f msg/s offered | %.0f msg/s delivered; server %.0f%% "
	       "CPU, %.1f us/msg; loadgen %.0f%% CPU, %.1f us/msg | p50 %.2f ms p99 %.2f ms p999 "
	       "%.2f ms |\n",
	       tls ? "TLS" : "plain", rate / 2, (double)l.delivered / secs,
	       100 * (cpu1 - cpu0) / secs,
	       l.delivered ? 1e6 * (cpu1 - cpu0) / (double)l.delivered : 0, 100 * (g1 - g0) / secs,
	       l.delivered ? 1e6 * (g1 - g0) / (double)l.delivered : 0, pct_ms(l.lat, l.n_lat, 0.5),
	       pct_ms(l.lat, l.n_lat, 0.99), pct_ms(l.lat, l.n_lat, 0.999));
	fflush(stdout);
	loop_free(&l);
	for (unsigned i = 0; i < 2 * pairs; i++)
		free(codes[i]);
	free(codes);
	server_stop(&s);
}

/* --- scenario: group fan-out --------------------------------------------- */

struct fan_msg {
	uint64_t sent_ns;
	unsigned got;
	uint64_t last_ns;
};
static struct fan_msg *fan;
static size_t fan_n, fan_members;

static void fan_frame(struct loop *l, struct conn *c, const struct vl_frame *f)
{
	if (f->type != VL_FRAME_DELIVER)
		return;
	struct vl_msg_deliver d;
	if (vl_msg_deliver_decode(&f->body, &d) != VL_OK)
		die("bad DELIVER");
	c->last_seq = d.seq;
	if (d.kind == VL_DELIVERY_WELCOME) {
		welcomed++;
		send_ack(l, c, d.seq);
		return;
	}
	uint64_t counter;
	memcpy(&counter, d.message.p + d.message.len - 8, 8);
	if (counter < fan_n) {
		fan[counter].got++;
		fan[counter].last_ns = now_ns();
	}
	if (c->last_seq - c->acked >= 16)
		send_ack(l, c, c->last_seq);
}

static uint64_t fan_next;
static double fan_rate;
static void fan_tick(struct loop *l)
{
	double elapsed = (double)(now_ns() - pace_start) / 1e9;
	while (fan_next < fan_n && fan_next < (uint64_t)(elapsed * fan_rate) + 1) {
		fan[fan_next].sent_ns = now_ns();
		send_app(l, &l->conns[0], fan_next);
		fan_next++;
	}
}

static bool fan_welcomed(struct loop *l)
{
	return welcomed >= fan_members - 1 || l->dead;
}

static void run_fanout(bool tls, unsigned size, int seconds)
{
	struct server s;
	server_start(&s, tls);
	char **codes = invites(&s, "g", size);
	struct loop l;
	loop_init(&l, size, tls);
	open_paced(&l, &s, 0, size, "g", codes, 64);
	if (l.dead)
		die("connections failed during setup");
	l.on_frame = fan_frame;
	struct conn **members = calloc(size, sizeof *members);
	for (unsigned i = 1; i < size; i++)
		members[i - 1] = &l.conns[i];
	fan_members = size;
	welcomed = 0;
	create_group(&l, &l.conns[0], members, size - 1);
	loop_run(&l, 120000, fan_welcomed, NULL);
	free(members);
	fan_rate = 10;
	fan_n = (size_t)(fan_rate * seconds);
	fan = calloc(fan_n, sizeof *fan);
	fan_next = 0;
	pace_start = now_ns();
	double cpu0 = server_cpu_s(&s), g0 = self_cpu_s();
	loop_run(&l, seconds * 1000 + 2000, NULL, fan_tick);
	double fsecs = (double)(now_ns() - pace_start) / 1e9;
	double cpu1 = server_cpu_s(&s), g1 = self_cpu_s();
	uint64_t *last = calloc(fan_n, sizeof *last);
	size_t complete = 0;
	for (size_t i = 0; i < fan_n; i++)
		if (fan[i].got == size - 1)
			last[complete++] = fan[i].last_ns - fan[i].sent_ns;
	qsort(last, complete, sizeof *last, cmp_u64);
	printf("| fanout | %-5s | group of %u, %.0f msg/s, %zu of %zu complete; server %.0f%% CPU, "
	       "loadgen %.0f%% CPU | last member: p50 %.2f ms p99 %.2f ms max %.2f ms |\n",
	       tls ? "TLS" : "plain", size, fan_rate, complete, fan_n, 100 * (cpu1 - cpu0) / fsecs,
	       100 * (g1 - g0) / fsecs, pct_ms(last, complete, 0.5),
	       pct_ms(last, complete, 0.99), pct_ms(last, complete, 1.0));
	fflush(stdout);
	free(last);
	free(fan);
	loop_free(&l);
	for (unsigned i = 0; i < size; i++)
		free(codes[i]);
	free(codes);
	server_stop(&s);
}

int main(int argc, char **argv)
{
	bool tls = false;
	unsigned conns = 2000, procs = 2, pairs = 1000;
	int seconds = 10;
	const char *only = NULL;
	unsigned group = 0; /* 0: 10, 100 and 1000 */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--tls") == 0)
			tls = true;
		else if (strcmp(argv[i], "--conns") == 0 && i + 1 < argc)
			conns = (unsigned)atoi(argv[++i]);
		else if (strcmp(argv[i], "--procs") == 0 && i + 1 < argc)
			procs = (unsigned)atoi(argv[++i]);
		else if (strcmp(argv[i], "--pairs") == 0 && i + 1 < argc)
			pairs = (unsigned)atoi(argv[++i]);
		else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			seconds = atoi(argv[++i]);
		else if (strcmp(argv[i], "--depth") == 0 && i + 1 < argc)
			pipeline_depth = (unsigned)atoi(argv[++i]);
		else if (strcmp(argv[i], "--group") == 0 && i + 1 < argc)
			group = (unsigned)atoi(argv[++i]);
		else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
			only = argv[++i];
		else {
			fprintf(
			    stderr,
			    "usage: %s [--tls] [--conns N] [--procs P] [--pairs N] "
			    "[--seconds S] [--depth D] [--group N] [--only conns|pairs|fanout]\n",
			    argv[0]);
			return 2;
		}
	}
	if (conns == 0 || procs == 0 || pairs == 0 || seconds <= 0)
		die("counts must be positive");
	signal(SIGPIPE, SIG_IGN);
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	printf("bench_loadgen: valised on loopback, %s, open-file limit %llu per process\n",
	       tls ? "TLS 1.3" : "plain WebSocket", (unsigned long long)rl.rlim_cur);
	printf("| test   | link  | shape | throughput / memory | latency |\n");
	printf("|---|---|---|---|---|\n");
	fflush(stdout);
	if (!only || strcmp(only, "conns") == 0)
		run_conns(tls, conns, procs);
	if (!only || strcmp(only, "pairs") == 0)
		run_pairs(tls, pairs, seconds);
	if (!only || strcmp(only, "fanout") == 0) {
		if (group) {
			run_fanout(tls, group, seconds);
		} else {
			run_fanout(tls, 10, seconds);
			run_fanout(tls, 100, seconds);
			run_fanout(tls, 1000, seconds);
		}
	}
	return 0;
}
