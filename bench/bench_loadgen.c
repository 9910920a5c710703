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
 *           that rate. Server and load generator CPU per message.
 *   fanout  one sender, groups of 10, 100, 1000: latency until the last
 *           member has each message, at 10 messages per second.
 *
 * The generator shares the machine with the server it measures, so every
 * microsecond it spends is taken from the server. Its loop is built to
 * cost little per message:
 *   1. Frames are queued per connection and written once per loop turn:
 *      one write() (one SSL_write under TLS) per connection per turn,
 *      whatever the number of SENDs or ACKs queued. The writes of a turn
 *      (or of a pacing tick) go to the kernel together, in one io_uring
 *      submission (--no-io-uring: one write() each). Under TLS, once the
 *      handshake is done, the SSL seals into and opens from memory, so
 *      TLS links are written and read the same way.
 *   2. A readable connection is read once into a shared 256 KiB buffer
 *      (again only if that filled it) and every whole frame in it is
 *      parsed; epoll is level-triggered, so nothing is lost by not reading
 *      until EAGAIN, and EPOLLOUT is asked for only while output waits.
 *      The reads of one epoll wake-up go to the kernel together too, one
 *      io_uring submission of RECVMSGs into 64 KiB slots (read_ring);
 *      --no-io-uring reads with one recvmsg() each.
 *   3. A receiver acknowledges cumulatively (ACK seq covers everything up
 *      to seq, docs/protocol.md §4.4) once per batch it has read, as
 *      libvalise does after each poll; --ack N acknowledges every N
 *      messages instead.
 *   4. Nothing is allocated per message.
 * The latency measured is the server's plus the kernel's: the send time in
 * the payload is written into the queued frame just before its write(),
 * and read back when the receiver parses the frame. A paced sender has a
 * schedule; how late the generator writes against it is printed as well
 * ("gen lag"), so a generator that falls behind shows.
 *
 * Usage: bench_loadgen [--tls] [--conns N] [--procs P] [--pairs N]
 *                      [--seconds S] [--depth D] [--ack N] [--rate R] [--workers W]
 *                      [--split] [--tick-us U] [--group N] [--no-io-uring]
 *                      [--only conns|pairs|fanout] [--server-set KEY=VALUE]
 * See bench/README.md.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <linux/net_tstamp.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "proto/proto.h"
#include "vtc.h"
#include "wsc.h"

#define SRC_ADDRS 8 /* 127.0.0.1 .. 127.0.0.8 */
/* The read buffer, shared by a process's connections: one read takes all
 * that has arrived on a connection. It grows only for a single frame
 * larger than itself, up to the frame limit. */
#define RBUF_SIZE (256u * 1024)
#define RBUF_MAX  (VL_PROTO_FRAME_MAX + 64 * 1024)
/* Queued output per connection at most: a connection whose output does
 * not drain is stuck, and the run stops. */
#define WBUF_MAX (8u << 20)
/* Send times waiting to be written per connection; when full, the
 * connection is written at once. */
#define STAMPS_MAX 64
/* The payload's tail: phase, send time, counter (8 octets each). */
#define TAIL_PHASE   24
#define TAIL_TIME    16
#define TAIL_COUNTER 8

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The valised of the run and the process that started it: a failure in
 * that process stops the server rather than leaving it running. */
static pid_t running_server, server_owner;

static void die(const char *what)
{
	fprintf(stderr, "bench_loadgen: %s\n", what);
	if (running_server > 0 && getpid() == server_owner)
		kill(running_server, SIGTERM);
	exit(1);
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

/* The user-space part of it: the rest is the kernel's, mostly TCP (on
 * loopback a write() also runs the receiving side's TCP input). */
static double self_user_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
}

/* --- the server under test ----------------------------------------------- */

/* --server-set values, passed on as valised --set KEY=VALUE. */
static const char *server_sets[4];
static size_t n_server_sets;
/* --no-io-uring: the generator writes and reads with one system call per
 * connection. */
static bool use_io_uring = true;

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
		const char *args[32] = {s->exe,     "run",
		                        "--listen", "127.0.0.1:0",
		                        "--data",   s->dir,
		                        "--set",    "server_name=example.org",
		                        "--set",    "log_level=warn",
		                        "--set",    "rate=1000000",
		                        "--set",    "burst=1000000",
		                        "--set",    "window=1024"};
		size_t na = 16;
		if (tls) {
			args[na++] = "--set";
			args[na++] = "tls=on";
		} else {
			args[na++] = "--plain";
		}
		for (size_t i = 0; i < n_server_sets; i++) {
			args[na++] = "--set";
			args[na++] = server_sets[i];
		}
		execv(s->exe, (char *const *)args);
		_exit(127);
	}
	running_server = s->pid;
	server_owner = getpid();
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

/* The machine's CPU time so far, all CPUs, in clock ticks: busy, and idle
 * (iowait counted idle). With the server and the generator both here,
 * how often both CPUs are busy at once bounds the paced latency
 * (bench/README.md, bench_host). */
struct cpu_ticks {
	unsigned long long busy, idle;
};

static struct cpu_ticks machine_ticks(void)
{
	struct cpu_ticks t = {0, 0};
	FILE *f = fopen("/proc/stat", "r");
	if (!f)
		return t;
	unsigned long long v[8] = {0};
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
	           &v[4], &v[5], &v[6], &v[7]) == 8) {
		t.idle = v[3] + v[4];
		t.busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
	}
	fclose(f);
	return t;
}

/* Percent of the machine's CPU time idle between a and b. */
static double idle_pct(struct cpu_ticks a, struct cpu_ticks b)
{
	double busy = (double)(b.busy - a.busy), idle = (double)(b.idle - a.idle);
	return busy + idle > 0 ? 100 * idle / (busy + idle) : 0;
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
	running_server = 0;
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
enum role { R_NONE, R_SENDER, R_RECEIVER };

struct conn;
struct loop;
typedef void (*frame_fn)(struct loop *l, struct conn *c, const struct vl_frame *f);

/* Per-message durations in nanoseconds, one set per kind: */
enum {
	SAMPLE_LAT,  /* the sender's write to the receiver parsing it */
	SAMPLE_SOCK, /* the sender's write to its arrival on the receiver's
	              * socket (the kernel's receive time) */
	SAMPLE_HELD, /* that arrival to the parse: the generator's own delay */
	SAMPLE_LAG,  /* a paced send's schedule to its write */
	SAMPLE_KINDS
};

struct samples {
	uint64_t *v;
	size_t n, cap;
};

struct stamp {
	uint32_t off;   /* of the 8-octet send time in wbuf */
	uint64_t sched; /* when the schedule wanted it sent; 0: unpaced */
};

struct conn {
	int fd;
	SSL *ssl;
	enum cstate st;
	/* bytes of an incomplete frame left over from the last read */
	uint8_t *part;
	size_t part_len, part_cap;
	/* queued output: wbuf[wpos..wlen) (plaintext under TLS) */
	uint8_t *wbuf;
	size_t wpos, wlen, wcap;
	/* Under TLS, once the handshake is done: records sealed from wbuf
	 * and not yet sent, tbuf[tpos..tlen). The SSL then reads from and
	 * writes to memory, and the socket is read and written like a plain
	 * one, through the ring too. */
	uint8_t *tbuf;
	size_t tpos, tlen, tcap;
	struct stamp stamps[STAMPS_MAX];
	unsigned n_stamps;
	bool want_out, dirty, ack_now;
	const struct vtc_device *dev;
	const char *invite;
	uint32_t next_id;
	/* scenario state */
	int idx;      /* global index: user p<idx+1> */
	int peer_idx; /* the other end of a pair */
	enum role role;
	unsigned setup_replies;   /* GROUP_CREATE_OK, COMMIT_OK */
	uint64_t last_seq, acked; /* highest DELIVER seq seen, acknowledged */
	unsigned since_ack;       /* messages since the last ACK */
	unsigned outstanding;     /* SENDs not yet answered */
	uint64_t sent;            /* SENDs queued: the next counter */
};

struct loop {
	int ep;
	SSL_CTX *ctx;
	struct conn *conns;
	size_t n, ready, dead;
	frame_fn on_frame;
	void (*on_ready)(struct loop *l, struct conn *c);
	/* called once per turn, after the events and before the writes */
	void (*tick)(struct loop *l);
	uint64_t wake_ns; /* the tick wants the next turn by then (0: no wish) */
	uint64_t turn_ns; /* when this turn's epoll_wait returned */
	uint8_t *rbuf;
	size_t rcap;
	struct conn **dirty;
	size_t n_dirty;
	int ctl_fd; /* a worker's command pipe, or -1 */
	bool ctl_ready;
	unsigned ack_every; /* 0: once per batch read */
	/* stats of the current phase */
	uint64_t phase;
	bool measuring;
	struct samples smp[SAMPLE_KINDS];
	uint64_t delivered, dups, errors, foreign;
	uint64_t n_reads, n_writes, n_waits; /* system calls */
	/* A turn's writes to many connections go to the kernel in one
	 * io_uring submission (flush_ring); NULL: one write() each. */
	struct io_uring *ring;
	struct read_slot *slots; /* read_ring's, 512 of SLOT_SIZE in slot_buf */
	uint8_t *slot_buf;
	/* The kernel's receive time (CLOCK_REALTIME) of the last read's
	 * bytes; 0: none. */
	uint64_t rx_real_ns;
	uint8_t *tls_in; /* TLS_IN octets of records read from a socket */
};

#define TLS_IN (64u * 1024)

static void conn_close(struct loop *l, struct conn *c)
{
	epoll_ctl(l->ep, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->ssl)
		SSL_free(c->ssl);
	c->ssl = NULL;
	close(c->fd);
	c->fd = -1;
	c->st = C_DEAD;
	c->wpos = c->wlen = 0;
	c->tpos = c->tlen = 0;
	c->n_stamps = 0;
}

static void conn_fail(struct loop *l, struct conn *c, const char *why)
{
	if (c->st == C_DEAD)
		return;
	if (l->dead < 5)
		fprintf(stderr, "bench_loadgen: connection %d failed: %s\n", c->idx, why);
	conn_close(l, c);
	l->dead++;
}

static void samples_add(struct samples *s, uint64_t x)
{
	if (s->n == s->cap) {
		/* Doubling: a few reallocations per run, none per message once
		 * the run's size is reached. */
		s->cap = s->cap ? s->cap * 2 : 1u << 20;
		s->v = realloc(s->v, s->cap * sizeof *s->v);
		if (!s->v)
			die("out of memory");
	}
	s->v[s->n++] = x;
}

static void update_events(struct loop *l, struct conn *c, bool out)
{
	if (c->want_out == out)
		return;
	c->want_out = out;
	struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
	epoll_ctl(l->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Fills in the send times queued since the last write: now, as the bytes
 * go to the kernel. */
static void conn_stamp(struct loop *l, struct conn *c)
{
	if (!c->n_stamps)
		return;
	uint64_t t = now_ns();
	for (unsigned i = 0; i < c->n_stamps; i++) {
		memcpy(c->wbuf + c->stamps[i].off, &t, 8);
		if (c->stamps[i].sched && l->measuring)
			samples_add(&l->smp[SAMPLE_LAG],
			            t > c->stamps[i].sched ? t - c->stamps[i].sched : 0);
	}
	c->n_stamps = 0;
}

/* Room for n more octets after buf[pos..len): the pending octets move to
 * the front if that makes room, else the buffer grows. Returns how far
 * they moved. */
static size_t buf_room(uint8_t **buf, size_t *pos, size_t *len, size_t *cap, size_t n)
{
	size_t moved = 0;
	if (*len + n > *cap && *pos > 0) {
		memmove(*buf, *buf + *pos, *len - *pos);
		moved = *pos;
		*len -= *pos;
		*pos = 0;
	}
	if (*len + n > *cap) {
		size_t c = *cap ? *cap : 4096;
		while (c < *len + n)
			c *= 2;
		if (c > WBUF_MAX)
			die("a connection's output is not draining");
		*buf = realloc(*buf, c);
		if (!*buf)
			die("out of memory");
		*cap = c;
	}
	return moved;
}

/* The octets to send next: a plain connection's queued output, a TLS
 * one's sealed records. */
static uint8_t *out_next(const struct conn *c, size_t *n)
{
	if (c->ssl) {
		*n = c->tlen - c->tpos;
		return c->tbuf + c->tpos;
	}
	*n = c->wlen - c->wpos;
	return c->wbuf + c->wpos;
}

/* n of them were sent. */
static void out_sent(struct conn *c, size_t n)
{
	size_t *pos = c->ssl ? &c->tpos : &c->wpos, *len = c->ssl ? &c->tlen : &c->wlen;
	*pos += n;
	if (*pos == *len)
		*pos = *len = 0;
}

/* Makes the queued output ready to send: the send times filled in, and
 * under TLS the plaintext sealed into records (SSL_write into memory,
 * appended to tbuf). */
static void conn_seal(struct loop *l, struct conn *c)
{
	conn_stamp(l, c);
	if (!c->ssl || c->wpos == c->wlen)
		return;
	/* Into memory: never short of room, but a record at a time
	 * (SSL_MODE_ENABLE_PARTIAL_WRITE). */
	while (c->wpos < c->wlen) {
		size_t w = 0;
		if (SSL_write_ex(c->ssl, c->wbuf + c->wpos, c->wlen - c->wpos, &w) <= 0)
			die("SSL_write into memory");
		c->wpos += w;
	}
	c->wpos = c->wlen = 0;
	BIO *out = SSL_get_wbio(c->ssl);
	size_t pend = BIO_ctrl_pending(out);
	buf_room(&c->tbuf, &c->tpos, &c->tlen, &c->tcap, pend);
	if (BIO_read(out, c->tbuf + c->tlen, (int)pend) != (int)pend)
		die("BIO_read");
	c->tlen += pend;
}

/* Writes what is queued with one write() per call. */
static void conn_flush(struct loop *l, struct conn *c)
{
	if (c->st == C_DEAD)
		return;
	conn_seal(l, c);
	size_t want;
	const uint8_t *p = out_next(c, &want);
	if (want) {
		ssize_t n = write(c->fd, p, want);
		l->n_writes++;
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			conn_fail(l, c, "write");
			return;
		}
		/* A short write means the socket buffer is full: wait for
		 * EPOLLOUT rather than try again now. */
		if (n > 0)
			out_sent(c, (size_t)n);
	}
	out_next(c, &want);
	update_events(l, c, want > 0);
}

#define RING_ENTRIES 1024u

/* Submits the queued operations in one system call and waits for all
 * `queued` of them. */
static void ring_submit(struct loop *l, unsigned queued)
{
	int rc;
	do
		rc = io_uring_submit_and_wait(l->ring, queued);
	while (rc == -EINTR);
	if (rc < 0)
		die("io_uring_submit");
}

/* The next completion: its user data, and its result in *res. */
static void *ring_next(struct loop *l, int *res)
{
	struct io_uring_cqe *cqe;
	int rc;
	while ((rc = io_uring_wait_cqe(l->ring, &cqe)) == -EINTR)
		;
	if (rc < 0)
		die("io_uring_wait_cqe");
	void *data = io_uring_cqe_get_data(cqe);
	*res = cqe->res;
	io_uring_cqe_seen(l->ring, cqe);
	return data;
}

/* Submits the queued sends (one system call) and applies each result as
 * conn_flush would a write()'s. */
static void ring_run(struct loop *l, unsigned queued)
{
	ring_submit(l, queued);
	l->n_writes++;
	for (unsigned got = 0; got < queued; got++) {
		int n;
		struct conn *c = ring_next(l, &n);
		if (n < 0 && n != -EAGAIN && n != -EINTR) {
			conn_fail(l, c, "send");
			continue;
		}
		if (n > 0)
			out_sent(c, (size_t)n);
		size_t left;
		out_next(c, &left);
		update_events(l, c, left > 0);
	}
}

/* Writes cs[0..n) in one io_uring submission (or one per RING_ENTRIES),
 * or through conn_flush without a ring. */
static void flush_ring(struct loop *l, struct conn **cs, size_t n)
{
	unsigned queued = 0;
	for (size_t i = 0; i < n; i++) {
		struct conn *c = cs[i];
		if (c->st == C_DEAD || !l->ring) {
			conn_flush(l, c);
			continue;
		}
		if (queued == RING_ENTRIES) {
			ring_run(l, queued);
			queued = 0;
		}
		conn_seal(l, c);
		size_t want;
		uint8_t *p = out_next(c, &want);
		if (!want)
			continue;
		struct io_uring_sqe *sqe = io_uring_get_sqe(l->ring);
		io_uring_prep_send(sqe, c->fd, p, want, MSG_DONTWAIT | MSG_NOSIGNAL);
		io_uring_sqe_set_data(sqe, c);
		queued++;
	}
	if (queued)
		ring_run(l, queued);
}

/* Room for n more octets of output, compacting or growing wbuf. */
static uint8_t *conn_reserve(struct loop *l, struct conn *c, size_t n)
{
	size_t moved = buf_room(&c->wbuf, &c->wpos, &c->wlen, &c->wcap, n);
	for (unsigned i = 0; i < c->n_stamps; i++)
		c->stamps[i].off -= (uint32_t)moved;
	if (!c->dirty) {
		c->dirty = true;
		l->dirty[l->n_dirty++] = c;
	}
	return c->wbuf + c->wlen;
}

static void put_raw(struct loop *l, struct conn *c, const void *p, size_t n)
{
	memcpy(conn_reserve(l, c, n), p, n);
	c->wlen += n;
}

/* Queues one masked binary WebSocket message (RFC 6455 §5.3). Returns the
 * offset of the payload in wbuf. */
static size_t put_ws(struct loop *l, struct conn *c, const uint8_t *p, size_t n)
{
	uint8_t *b = conn_reserve(l, c, n + 14);
	size_t h = 0;
	b[h++] = 0x82;
	if (n < 126) {
		b[h++] = (uint8_t)(0x80 | n);
	} else if (n < 65536) {
		b[h++] = 0x80 | 126;
		b[h++] = (uint8_t)(n >> 8);
		b[h++] = (uint8_t)n;
	} else {
		b[h++] = 0x80 | 127;
		for (int i = 7; i >= 0; i--)
			b[h++] = (uint8_t)((uint64_t)n >> (8 * i));
	}
	/* A zero mask: allowed, and the payload is then sent as is. */
	memset(b + h, 0, 4);
	h += 4;
	memcpy(b + h, p, n);
	c->wlen += h + n;
	return c->wlen - n;
}

static void put_writer(struct loop *l, struct conn *c, struct vl_writer *w)
{
	if (w->err)
		die("encoding failed");
	put_ws(l, c, w->buf, w->len);
	vl_writer_cleanup(w);
}

/* Writes every connection that queued output this turn. */
static void flush_dirty(struct loop *l)
{
	for (size_t i = 0; i < l->n_dirty; i++)
		l->dirty[i]->dirty = false;
	flush_ring(l, l->dirty, l->n_dirty);
	l->n_dirty = 0;
}

static void start_upgrade(struct loop *l, struct conn *c)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
	                          "Connection: Upgrade\r\nSec-WebSocket-Key: "
	                          "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	                          "Sec-WebSocket-Protocol: valise.v1\r\n\r\n";
	c->st = C_UPGRADING;
	put_raw(l, c, req, sizeof req - 1);
}

static void handshake(struct loop *l, struct conn *c)
{
	int r = SSL_connect(c->ssl);
	if (r == 1) {
		/* From here the SSL reads and writes memory; the socket is
		 * read and written like a plain one (tls_pull, conn_seal).
		 * A socket BIO holds nothing back (what read-ahead took stays
		 * in the SSL), and the server sends no session tickets. */
		BIO *in = BIO_new(BIO_s_mem()), *out = BIO_new(BIO_s_mem());
		if (!in || !out)
			die("out of memory");
		BIO_set_mem_eof_return(in, -1); /* empty: want more, not EOF */
		SSL_set_bio(c->ssl, in, out);
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

/* The cumulative ACK after a batch: everything up to the last seq seen,
 * with request id 0, as libvalise sends it: no reply unless it fails. */
static void queue_ack(struct loop *l, struct conn *c)
{
	struct vl_msg_ack a = {c->last_seq};
	uint8_t buf[32];
	struct vl_writer w;
	vl_writer_init_fixed(&w, buf, sizeof buf);
	if (vl_msg_ack_encode(&w, 0, &a))
		die("encode ack");
	put_ws(l, c, buf, w.len);
	c->acked = c->last_seq;
	c->since_ack = 0;
	c->ack_now = false;
}

static void after_batch(struct loop *l, struct conn *c)
{
	if (c->st != C_READY || c->last_seq <= c->acked)
		return;
	if (c->ack_now || l->ack_every == 0 || c->since_ack >= l->ack_every)
		queue_ack(l, c);
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
		if (c->invite ? vtc_register_frame(&w, c->next_id++, c->dev, c->invite, &ch)
		              : vtc_auth_frame(&w, c->next_id++, c->dev, &ch))
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

/* Parses the whole frames in b[0..len); returns the octets consumed. */
static size_t parse_frames(struct loop *l, struct conn *c, uint8_t *b, size_t len)
{
	size_t off = 0;
	if (c->st == C_UPGRADING) {
		uint8_t *end = NULL;
		for (size_t i = 0; i + 4 <= len; i++)
			if (memcmp(b + i, "\r\n\r\n", 4) == 0) {
				end = b + i + 4;
				break;
			}
		if (!end) {
			if (len > 16384)
				conn_fail(l, c, "upgrade reply too long");
			return 0;
		}
		if (len < 12 || memcmp(b, "HTTP/1.1 101", 12) != 0) {
			conn_fail(l, c, "upgrade refused");
			return 0;
		}
		off = (size_t)(end - b);
		c->st = C_CHALLENGE;
	}
	/* Server frames: unmasked, FIN set (valised never fragments). */
	while (c->st != C_DEAD && len - off >= 2) {
		uint8_t *f = b + off;
		size_t n = f[1] & 0x7f, h = 2;
		if (n == 126) {
			if (len - off < 4)
				break;
			n = (size_t)f[2] << 8 | f[3];
			h = 4;
		} else if (n == 127) {
			if (len - off < 10)
				break;
			n = 0;
			for (int i = 0; i < 8; i++)
				n = n << 8 | f[2 + i];
			h = 10;
		}
		if (n > VL_PROTO_FRAME_MAX + 4096) {
			conn_fail(l, c, "frame too large");
			break;
		}
		if (len - off < h + n)
			break;
		int op = f[0] & 0x0f;
		if (op == 2)
			on_message(l, c, f + h, n);
		else if (op == 8) {
			conn_fail(l, c, "server closed");
			break;
		}
		off += h + n;
	}
	return off;
}

/* read(2), and the kernel's software receive time of the bytes into
 * l->rx_real_ns (for TCP: of the last segment read). */
/* Sets l->rx_real_ns from a received message's SCM_TIMESTAMPING (0 if
 * mh is NULL or carries none). */
static void rx_stamp(struct loop *l, struct msghdr *mh)
{
	l->rx_real_ns = 0;
	if (!mh)
		return;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPING) {
			struct timespec ts[3];
			memcpy(ts, CMSG_DATA(cm), sizeof ts);
			l->rx_real_ns =
			    (uint64_t)ts[0].tv_sec * 1000000000u + (uint64_t)ts[0].tv_nsec;
		}
}

/* Room for one SCM_TIMESTAMPING message, aligned for its header. */
struct stamp_cmsg {
	_Alignas(struct cmsghdr) char b[CMSG_SPACE(sizeof(struct timespec[3]))];
};

static ssize_t read_stamped(struct loop *l, int fd, void *buf, size_t len)
{
	struct stamp_cmsg cb;
	struct iovec iov = {buf, len};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cb.b, .msg_controllen = sizeof cb.b};
	ssize_t r = recvmsg(fd, &mh, 0);
	rx_stamp(l, r > 0 ? &mh : NULL);
	return r;
}

/* One read (one more only if it filled the buffer), then every whole frame
 * in what arrived; an incomplete frame's bytes wait in c->part. */
static void on_readable(struct loop *l, struct conn *c)
{
	for (;;) {
		size_t have = c->part_len;
		if (l->rcap - have < 16384) {
			/* One frame larger than the buffer is arriving. */
			size_t cap = l->rcap * 2;
			if (cap > RBUF_MAX) {
				conn_fail(l, c, "frame larger than the read buffer");
				return;
			}
			l->rbuf = realloc(l->rbuf, cap);
			if (!l->rbuf)
				die("out of memory");
			l->rcap = cap;
		}
		if (have)
			memcpy(l->rbuf, c->part, have);
		c->part_len = 0;
		size_t room = l->rcap - have;
		size_t got = 0;
		bool more = false;
		if (c->ssl) {
			/* The plaintext of the records tls_pull or on_slot put
			 * into the SSL's input. */
			while (got < room) {
				size_t r = 0;
				if (SSL_read_ex(c->ssl, l->rbuf + have + got, room - got, &r) <=
				    0) {
					int e = SSL_get_error(c->ssl, 0);
					if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
						break;
					conn_fail(l, c, "closed (TLS)");
					return;
				}
				got += r;
				if (!SSL_has_pending(c->ssl))
					break;
			}
			more = got == room;
		} else {
			ssize_t r = read_stamped(l, c->fd, l->rbuf + have, room);
			l->n_reads++;
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				r = 0;
			else if (r <= 0) {
				conn_fail(l, c, "closed");
				return;
			}
			got = (size_t)r;
			more = got == room;
		}
		size_t len = have + got;
		size_t used = parse_frames(l, c, l->rbuf, len);
		if (c->st == C_DEAD)
			return;
		if (used < len) {
			size_t left = len - used;
			if (left > c->part_cap) {
				c->part = realloc(c->part, left);
				if (!c->part)
					die("out of memory");
				c->part_cap = left;
			}
			memmove(c->part, l->rbuf + used, left);
			c->part_len = left;
		}
		if (!more)
			break;
	}
	after_batch(l, c);
}

/* Under TLS, after the handshake: reads what the socket holds into the
 * SSL's input (kernel receive time as for a plain read). False if the
 * connection is gone. */
static bool tls_pull(struct loop *l, struct conn *c)
{
	for (;;) {
		ssize_t r = read_stamped(l, c->fd, l->tls_in, TLS_IN);
		l->n_reads++;
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return true;
		if (r <= 0) {
			conn_fail(l, c, "closed (TLS)");
			return false;
		}
		if (BIO_write(SSL_get_rbio(c->ssl), l->tls_in, (int)r) != (int)r)
			die("BIO_write");
		if ((size_t)r < TLS_IN)
			return true;
	}
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
			update_events(l, c, false);
			start_upgrade(l, c);
			return;
		}
	}
	if (c->st == C_TLS) {
		handshake(l, c);
		return;
	}
	if (events & EPOLLOUT)
		conn_flush(l, c);
	if (c->st != C_DEAD && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) &&
	    (!c->ssl || tls_pull(l, c)))
		on_readable(l, c);
}

static void loop_init(struct loop *l, size_t n, bool tls, bool small_tls)
{
	memset(l, 0, sizeof *l);
	l->ep = epoll_create1(0);
	l->conns = calloc(n ? n : 1, sizeof *l->conns);
	l->dirty = calloc(n ? n : 1, sizeof *l->dirty);
	l->rcap = RBUF_SIZE;
	l->rbuf = malloc(l->rcap);
	l->ctl_fd = -1;
	if (l->ep < 0 || !l->conns || !l->dirty || !l->rbuf)
		die("out of memory");
	if (use_io_uring) {
		l->ring = malloc(sizeof *l->ring);
		if (!l->ring || io_uring_queue_init(RING_ENTRIES, l->ring, 0) != 0) {
			fprintf(stderr, "bench_loadgen: no io_uring here: one write() per "
			                "connection\n");
			free(l->ring);
			l->ring = NULL;
		}
	}
	if (tls) {
		l->tls_in = malloc(TLS_IN);
		if (!l->tls_in)
			die("out of memory");
		l->ctx = SSL_CTX_new(TLS_client_method());
		SSL_CTX_set_min_proto_version(l->ctx, TLS1_3_VERSION);
		/* Partial writes: SSL_write returns after whole records, and the
		 * queue may move (realloc) between a WANT_WRITE and its retry. */
		SSL_CTX_set_mode(l->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
		                             SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
		if (small_tls) {
			/* Holding many idle connections: keep the client side
			 * small, the measurement is about the server. */
			SSL_CTX_set_mode(l->ctx, SSL_MODE_RELEASE_BUFFERS);
		} else {
			/* Under load: read ahead, so one read() brings several
			 * records instead of one read() per record header and
			 * another per body. */
			SSL_CTX_set_read_ahead(l->ctx, 1);
			SSL_CTX_set_default_read_buffer_len(l->ctx, 64 * 1024);
		}
	}
}

/* Opens connection i as device dev (its user) registering with invite, or
 * authenticating when invite is NULL. */
static void conn_open(struct loop *l, const struct server *s, size_t i, int idx,
                      const struct vtc_device *dev, const char *invite)
{
	struct conn *c = &l->conns[i];
	c->idx = idx;
	c->next_id = 1;
	c->invite = invite;
	c->dev = dev;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (c->fd < 0)
		die("socket (raise the open-file limit?)");
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	/* Receive times, to tell the generator's own delay apart. */
	int tsf = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE;
	setsockopt(c->fd, SOL_SOCKET, SO_TIMESTAMPING, &tsf, sizeof tsf);
	struct sockaddr_in src = {.sin_family = AF_INET};
	src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)((unsigned)idx % SRC_ADDRS));
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

/* The command pipe of a worker process, watched by the same epoll. */
static char ctl_tag;

/* The turn's reads in one io_uring submission. Each established
 * connection that is only readable (and, if plain, holds no partial frame)
 * gets a RECVMSG into a slot of its own (with its kernel receive time);
 * took[i] is that slot, or -1 for the events on_event handles as before.
 * The slots are parsed in the events' order (on_slot). */
#define SLOT_SIZE (64u * 1024)
struct read_slot {
	struct msghdr mh;
	struct iovec iov;
	struct stamp_cmsg cb;
	int res;
};

static void read_ring(struct loop *l, const struct epoll_event *evs, int n, int *took)
{
	unsigned queued = 0;
	for (int i = 0; i < n; i++) {
		struct conn *c = evs[i].data.ptr;
		took[i] = -1;
		if (!l->ring || c == (void *)&ctl_tag || evs[i].events != EPOLLIN ||
		    c->st != C_READY || (!c->ssl && c->part_len))
			continue;
		if (!l->slots) {
			l->slots = calloc(512, sizeof *l->slots);
			l->slot_buf = malloc(512u * SLOT_SIZE);
			if (!l->slots || !l->slot_buf)
				die("out of memory");
		}
		struct read_slot *sl = &l->slots[queued];
		sl->iov = (struct iovec){l->slot_buf + (size_t)queued * SLOT_SIZE, SLOT_SIZE};
		sl->mh = (struct msghdr){.msg_iov = &sl->iov,
		                         .msg_iovlen = 1,
		                         .msg_control = sl->cb.b,
		                         .msg_controllen = sizeof sl->cb.b};
		struct io_uring_sqe *sqe = io_uring_get_sqe(l->ring);
		if (!sqe)
			break;
		io_uring_prep_recvmsg(sqe, c->fd, &sl->mh, MSG_DONTWAIT);
		io_uring_sqe_set_data(sqe, sl);
		took[i] = (int)queued++;
	}
	if (!queued)
		return;
	ring_submit(l, queued);
	l->n_reads++;
	for (unsigned got = 0; got < queued; got++) {
		int res;
		struct read_slot *sl = ring_next(l, &res);
		sl->res = res;
	}
}

/* What on_readable does with one read, for a read made by read_ring into
 * slot k. */
static void on_slot(struct loop *l, struct conn *c, int k)
{
	if (c->st == C_DEAD)
		return;
	struct read_slot *sl = &l->slots[k];
	int r = sl->res;
	if (r == -EAGAIN || r == -EINTR) {
		after_batch(l, c);
		return;
	}
	if (r <= 0) {
		conn_fail(l, c, "closed");
		return;
	}
	rx_stamp(l, &sl->mh);
	uint8_t *b = sl->iov.iov_base;
	if (c->ssl) {
		/* Records: into the SSL, then as on_readable. */
		if (BIO_write(SSL_get_rbio(c->ssl), b, r) != r)
			die("BIO_write");
		if (r == (int)SLOT_SIZE && !tls_pull(l, c))
			return;
		on_readable(l, c);
		return;
	}
	size_t used = parse_frames(l, c, b, (size_t)r);
	if (c->st == C_DEAD)
		return;
	if (used < (size_t)r) {
		size_t left = (size_t)r - used;
		if (left > c->part_cap) {
			c->part = realloc(c->part, left);
			if (!c->part)
				die("out of memory");
			c->part_cap = left;
		}
		memmove(c->part, b + used, left);
		c->part_len = left;
	}
	if ((size_t)r == SLOT_SIZE)
		on_readable(l, c); /* more is waiting: read it the usual way */
	else
		after_batch(l, c);
}

/* One loop turn: wait for events (at most timeout_ms, or until the tick's
 * wake time), handle them, run the tick, then write every connection that
 * has output: the one place writes happen, so frames queued during a turn
 * share a write(). */
static void loop_turn(struct loop *l, int timeout_ms)
{
	struct epoll_event evs[512];
	struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000};
	if (l->wake_ns) {
		uint64_t now = now_ns();
		uint64_t d = l->wake_ns > now ? l->wake_ns - now : 0;
		if (d < (uint64_t)timeout_ms * 1000000u) {
			ts.tv_sec = (time_t)(d / 1000000000u);
			ts.tv_nsec = (long)(d % 1000000000u);
		}
	}
	int n = epoll_pwait2(l->ep, evs, 512, &ts, NULL);
	l->n_waits++;
	l->turn_ns = now_ns();
	int took[512];
	read_ring(l, evs, n, took);
	for (int i = 0; i < n; i++) {
		if (evs[i].data.ptr == &ctl_tag)
			l->ctl_ready = true;
		else if (took[i] >= 0)
			on_slot(l, evs[i].data.ptr, took[i]);
		else
			on_event(l, evs[i].data.ptr, evs[i].events);
		/* Within a long batch of events (a group commit answers
		 * thousands of SENDs at once) the schedule does not wait for
		 * the end of the batch (a tick writes what it sends at once);
		 * the batch's other output (ACKs) does, so that reading the
		 * last member's DELIVER is not delayed by writing the first
		 * members' ACKs. */
		if (l->tick && i % 64 == 63 && i + 1 < n)
			l->tick(l);
	}
	if (l->tick)
		l->tick(l);
	flush_dirty(l);
}

/* Runs the loop for up to ms, or until done(l) holds or a command comes. */
static void loop_run(struct loop *l, int ms, bool (*done)(struct loop *l))
{
	uint64_t end = now_ns() + (uint64_t)ms * 1000000u;
	for (;;) {
		uint64_t now = now_ns();
		if (now >= end || (done && done(l)) || l->ctl_ready)
			break;
		uint64_t left_ms = (end - now) / 1000000u + 1;
		loop_turn(l, left_ms < 10 ? (int)left_ms : 10);
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
	conn_close(l, c);
}

/* Closes every connection, keeping the device keys, for a second round. */
static void loop_reset(struct loop *l)
{
	flush_dirty(l);
	for (size_t i = 0; i < l->n; i++) {
		struct conn *c = &l->conns[i];
		if (c->st != C_DEAD)
			conn_close(l, c);
		free(c->part);
		free(c->wbuf);
		free(c->tbuf);
		memset(c, 0, sizeof *c);
	}
	l->ready = l->dead = 0;
	l->n = 0;
}

/* Opens connections for devices idx[0..n) (users PREFIX<idx+1>) with at
 * most `inflight` handshakes at a time, so the server's listen backlog and
 * TLS handshakes are not flooded: what is measured is the held state. */
static void open_paced(struct loop *l, const struct server *s, const int *idx, unsigned n,
                       const struct vtc_device *devs, char **codes, unsigned inflight)
{
	for (unsigned i = 0; i < n; i++) {
		while (i - (l->ready + l->dead) >= inflight)
			loop_run(l, 5, NULL);
		conn_open(l, s, i, idx[i], &devs[idx[i]], codes ? codes[idx[i]] : NULL);
	}
	loop_run(l, 600000, all_ready);
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
		free(c->part);
		free(c->wbuf);
		free(c->tbuf);
	}
	free(l->conns);
	free(l->dirty);
	free(l->rbuf);
	free(l->tls_in);
	for (int k = 0; k < SAMPLE_KINDS; k++)
		free(l->smp[k].v);
	if (l->ctx)
		SSL_CTX_free(l->ctx);
	if (l->ring)
		io_uring_queue_exit(l->ring);
	free(l->ring);
	free(l->slots);
	free(l->slot_buf);
	close(l->ep);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct_ms(const uint64_t *v, size_t n, double p)
{
	if (!n)
		return 0;
	size_t i = (size_t)(p * (double)(n - 1));
	return (double)v[i] / 1e6;
}

static double pct(const struct samples *s, double p)
{
	return pct_ms(s->v, s->n, p);
}

/* Device keys for users PREFIX1..PREFIXn, made before any process forks so
 * every process can sign for any device (a sender's commit carries its
 * receiver's KeyPackage). */
static struct vtc_device *make_devices(const char *prefix, unsigned n)
{
	struct vtc_device *d = calloc(n, sizeof *d);
	if (!d)
		die("out of memory");
	for (unsigned i = 0; i < n; i++) {
		char user[64];
		snprintf(user, sizeof user, "%s%u@example.org", prefix, i + 1);
		if (vtc_device_init(&d[i], user, "bench", 1) != VL_OK)
			die("keys");
	}
	return d;
}

static void free_devices(struct vtc_device *d, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		vtc_device_cleanup(&d[i]);
	free(d);
}

/* --- scenario: held connections ---------------------------------------- */

static void run_conns(bool tls, unsigned total, unsigned procs)
{
	struct server s;
	server_start(&s, tls);
	char **codes = invites(&s, "c", total);
	struct vtc_device *devs = make_devices("c", total);
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
			unsigned first = p * per;
			unsigned n = first >= total ? 0 : first + per > total ? total - first : per;
			int *idx = calloc(n ? n : 1, sizeof *idx);
			for (unsigned i = 0; i < n; i++)
				idx[i] = (int)(first + i);
			struct loop l;
			loop_init(&l, n, tls, true);
			/* Round 1 registers the devices; round 2, measured, holds
			 * them authenticated with AUTH, as devices normally are. */
			l.on_ready = close_on_ready;
			open_paced(&l, &s, idx, n, devs, codes, 16);
			unsigned ok = (unsigned)l.ready;
			loop_reset(&l);
			l.on_ready = NULL;
			if (write(ready_pipe[1], &ok, sizeof ok) != sizeof ok)
				_exit(1);
			char b;
			while (read(go_pipe[0], &b, 1) < 0 && errno == EINTR)
				;
			open_paced(&l, &s, idx, n, devs, NULL, 32);
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
	free_devices(devs, total);
	server_stop(&s);
}

/* --- group setup shared by pairs and fanout ------------------------------- */

static const uint8_t *gid_of(int owner_idx, uint8_t gid[16])
{
	memset(gid, 0, 16);
	memcpy(gid, "bench", 5);
	memcpy(gid + 8, &owner_idx, sizeof owner_idx);
	return gid;
}

/* GROUP_CREATE, then one COMMIT adding members[0..n) with a Welcome. */
static void create_group(struct loop *l, struct conn *owner,
                         const struct vtc_device *const *members, size_t n)
{
	uint8_t gid[16];
	gid_of(owner->idx, gid);
	struct vl_msg_group_create g = {{gid, 16}};
	struct vl_writer w;
	vl_writer_init_heap(&w, 256);
	if (vl_msg_group_create_encode(&w, owner->next_id++, &g))
		die("encode");
	put_writer(l, owner, &w);
	uint8_t *cm, *wel;
	size_t cm_len, wel_len;
	if (vtc_commit_message(gid, 16, 0, members, n, &cm, &cm_len) ||
	    vtc_welcome_message(1, &wel, &wel_len))
		die("messages");
	struct vl_device_ref *refs = calloc(n, sizeof *refs);
	for (size_t i = 0; i < n; i++)
		refs[i] = (struct vl_device_ref){
		    {(const uint8_t *)members[i]->user, strlen(members[i]->user)},
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

/* A client message id as docs/protocol.md recommends and libvalise makes
 * it: wall-clock milliseconds (48 bits, big-endian), then 80 random bits,
 * so the server's idempotency records append in time order. The random
 * part is a splitmix64 stream per process, seeded once (after the fork)
 * from vl_random; the clock is the loop turn's, moved to wall time. */
static void cmid_make(const struct loop *l, uint8_t id[16])
{
	static uint64_t state, mono_to_wall_ns;
	static bool seeded;
	if (!seeded) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t wall = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		mono_to_wall_ns = wall - now_ns();
		if (vl_random((uint8_t *)&state, sizeof state))
			die("random");
		seeded = true;
	}
	uint64_t ms = ((l->turn_ns ? l->turn_ns : now_ns()) + mono_to_wall_ns) / 1000000u;
	for (int i = 0; i < 6; i++)
		id[i] = (uint8_t)(ms >> (40 - 8 * i));
	uint64_t r[2];
	for (int i = 0; i < 2; i++) {
		uint64_t z = (state += 0x9e3779b97f4a7c15u);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
		r[i] = z ^ (z >> 31);
	}
	memcpy(id + 6, r, 10);
}

/* Queues a SEND to the group owned by owner_idx carrying, at the end of
 * its ciphertext, the phase, the send time (filled in when written) and a
 * counter. sched is the time the schedule wanted it (0: unpaced). */
static void send_app(struct loop *l, struct conn *c, int owner_idx, uint64_t sched)
{
	static uint8_t *tmpl;
	static size_t tmpl_len;
	uint8_t gid[16];
	gid_of(owner_idx, gid);
	if (!tmpl && vtc_private_message(gid, 16, 1, 100, &tmpl, &tmpl_len))
		die("message");
	/* Same layout for every group: only the group id and the tail
	 * change. */
	uint8_t msg[256];
	memcpy(msg, tmpl, tmpl_len);
	memcpy(msg + 5, gid, 16); /* after version, wire format, length octet */
	uint64_t counter = c->sent, zero = 0;
	memcpy(msg + tmpl_len - TAIL_PHASE, &l->phase, 8);
	memcpy(msg + tmpl_len - TAIL_TIME, &zero, 8);
	memcpy(msg + tmpl_len - TAIL_COUNTER, &counter, 8);
	struct vl_msg_send m = {.group_id = {gid, 16}, .message = {msg, tmpl_len}};
	cmid_make(l, m.client_msg_id);
	uint8_t buf[512];
	struct vl_writer w;
	vl_writer_init_fixed(&w, buf, sizeof buf);
	if (vl_msg_send_encode(&w, c->next_id++, &m))
		die("encode send");
	/* The message is the body's last field: its tail is the frame's. */
	size_t at = put_ws(l, c, buf, w.len) + w.len - TAIL_TIME;
	c->stamps[c->n_stamps++] = (struct stamp){(uint32_t)at, sched};
	if (c->n_stamps == STAMPS_MAX)
		conn_flush(l, c);
	c->sent++;
	c->outstanding++;
}

/* A DELIVER of an application message: counts it once (by seq, as
 * clients drop duplicates) if it belongs to the phase being measured, and
 * returns its payload tail, or NULL for anything else. */
static const uint8_t *on_deliver(struct loop *l, struct conn *c, const struct vl_frame *f,
                                 uint64_t *sent_ns)
{
	struct vl_msg_deliver d;
	if (vl_msg_deliver_decode(&f->body, &d) != VL_OK)
		die("bad DELIVER");
	if (d.seq <= c->last_seq) {
		l->dups++;
		return NULL;
	}
	c->last_seq = d.seq;
	c->since_ack++;
	if (d.kind == VL_DELIVERY_WELCOME) {
		c->ack_now = true;
		c->setup_replies++;
		return NULL;
	}
	if (d.kind != VL_DELIVERY_APPLICATION || d.message.len < TAIL_PHASE)
		return NULL;
	const uint8_t *tail = d.message.p + d.message.len;
	uint64_t phase, t;
	memcpy(&phase, tail - TAIL_PHASE, 8);
	memcpy(&t, tail - TAIL_TIME, 8);
	*sent_ns = t;
	if (!l->measuring || phase != l->phase) {
		l->foreign++;
		return NULL;
	}
	uint64_t now = now_ns(), lat = now > t ? now - t : 0;
	l->delivered++;
	samples_add(&l->smp[SAMPLE_LAT], lat);
	if (l->rx_real_ns) {
		struct timespec rt;
		clock_gettime(CLOCK_REALTIME, &rt);
		uint64_t r = (uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec;
		uint64_t held = r > l->rx_real_ns ? r - l->rx_real_ns : 0;
		samples_add(&l->smp[SAMPLE_HELD], held);
		samples_add(&l->smp[SAMPLE_SOCK], lat > held ? lat - held : 0);
	}
	return tail;
}

static void on_error_frame(struct loop *l, const struct vl_frame *f)
{
	struct vl_msg_error e;
	l->errors++;
	if (l->errors <= 5 && vl_msg_error_decode(&f->body, &e) == VL_OK)
		fprintf(stderr, "bench_loadgen: ERROR %s\n", vl_proto_error_name(e.code));
}

/* --- scenario: 1:1 pairs ------------------------------------------------ */

/* Pairs run in worker processes driven over pipes by the parent, which
 * holds no connection and only measures the server. Worker w of W holds
 * either whole pairs (pair i when i % W == w) or, with --split, only the
 * senders (first W/2 workers) or only the receivers (the others), so the
 * two halves' CPU can be seen and scheduled apart. */

enum { CMD_GROUPS = 1, CMD_RUN, CMD_DRAIN, CMD_EXIT };

struct cmd {
	int op;
	uint64_t phase;
	double rate; /* RUN: total messages per second over all pairs; 0: unpaced */
	double seconds;
};

struct report {
	unsigned ready;
	double secs, cpu_s, user_s;
	uint64_t sent, delivered, dups, errors, foreign;
	uint64_t reads, writes, waits;
	uint64_t n_samples[SAMPLE_KINDS];
};

struct pairs_cfg {
	bool tls;
	unsigned pairs, depth, workers, ack_every, tick_us;
	unsigned paced_rate; /* msg/s of the paced run; 0: half the measured rate */
	bool split;
	int seconds;
};

struct worker {
	struct loop l;
	const struct pairs_cfg *cfg;
	struct conn **senders;
	size_t n_senders;
	/* paced: local message k is due at t0 + k / rate, from senders[k % n] */
	double rate;
	uint64_t t0, k;
	bool sending;
};
static struct worker *self_worker;

static void pairs_frame(struct loop *l, struct conn *c, const struct vl_frame *f)
{
	struct worker *w = self_worker;
	switch (f->type) {
	case VL_FRAME_SEND | VL_FRAME_REPLY:
		c->outstanding--;
		if (w->sending && w->rate == 0 && c->outstanding < w->cfg->depth)
			send_app(l, c, c->idx, 0);
		return;
	case VL_FRAME_GROUP_CREATE | VL_FRAME_REPLY:
	case VL_FRAME_COMMIT | VL_FRAME_REPLY:
		c->setup_replies++;
		return;
	case VL_FRAME_DELIVER: {
		uint64_t t;
		(void)on_deliver(l, c, f, &t);
		return;
	}
	case VL_FRAME_ERROR:
		on_error_frame(l, f);
		return;
	default:
		return;
	}
}

/* The paced schedule: local messages spread evenly in time and round
 * robin over this worker's senders, so no two senders fire together (a
 * per-sender clock started at the same instant for all would send every
 * sender's message in one burst). */
static void pace_tick(struct loop *l)
{
	struct worker *w = self_worker;
	if (!w->sending || w->rate == 0 || !w->n_senders)
		return;
	uint64_t now = now_ns();
	double per = 1e9 / w->rate;
	/* Written at once, not at the end of the turn: senders take turns,
	 * so a sender has nothing else to share its write with, but the
	 * senders due in one tick share a submission (flush_ring). */
	struct conn *due_now[256];
	size_t n = 0;
	for (;;) {
		uint64_t due = w->t0 + (uint64_t)((double)w->k * per);
		if (due > now) {
			/* Sleep to the next due time, but no less than a tick:
			 * waking for every message costs more than the
			 * microseconds of lateness it saves (printed as lag). */
			uint64_t min = now + (uint64_t)w->cfg->tick_us * 1000u;
			l->wake_ns = due > min ? due : min;
			break;
		}
		struct conn *c = w->senders[w->k % w->n_senders];
		if (c->st == C_READY) {
			send_app(l, c, c->idx, due);
			due_now[n++] = c;
			if (n == sizeof due_now / sizeof *due_now) {
				flush_ring(l, due_now, n);
				n = 0;
			}
		}
		w->k++;
	}
	flush_ring(l, due_now, n);
}

static bool groups_ready(struct loop *l)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct conn *c = &l->conns[i];
		if (c->st == C_DEAD)
			return true;
		/* a sender: both replies; a receiver: its Welcome */
		if (c->setup_replies < (c->role == R_SENDER ? 2u : 1u))
			return false;
	}
	return true;
}

static bool drained(struct loop *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->conns[i].st == C_READY && l->conns[i].outstanding)
			return false;
	return true;
}

static void xwrite(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t r = write(fd, b, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("pipe write");
		b += r;
		n -= (size_t)r;
	}
}

static void xread(int fd, void *p, size_t n)
{
	uint8_t *b = p;
	while (n) {
		ssize_t r = read(fd, b, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("pipe read (a worker died?)");
		b += r;
		n -= (size_t)r;
	}
}

static void worker_report(struct worker *w, int out, unsigned ready, double secs, double cpu,
                          double user, uint64_t sent)
{
	struct loop *l = &w->l;
	struct report r = {.ready = ready,
	                   .secs = secs,
	                   .cpu_s = cpu,
	                   .user_s = user,
	                   .sent = sent,
	                   .delivered = l->delivered,
	                   .dups = l->dups,
	                   .errors = l->errors,
	                   .foreign = l->foreign,
	                   .reads = l->n_reads,
	                   .writes = l->n_writes,
	                   .waits = l->n_waits};
	for (int k = 0; k < SAMPLE_KINDS; k++)
		r.n_samples[k] = l->smp[k].n;
	xwrite(out, &r, sizeof r);
	for (int k = 0; k < SAMPLE_KINDS; k++) {
		if (l->smp[k].n)
			xwrite(out, l->smp[k].v, l->smp[k].n * sizeof *l->smp[k].v);
		l->smp[k].n = 0;
	}
	l->delivered = l->dups = l->errors = l->foreign = 0;
	l->n_reads = l->n_writes = l->n_waits = 0;
}

static void worker_main(const struct pairs_cfg *cfg, unsigned wi, const struct server *s,
                        const struct vtc_device *devs, char **codes, int in, int out)
{
	struct worker w = {.cfg = cfg};
	self_worker = &w;
	unsigned W = cfg->workers;
	/* This worker's connections: global index 2i is pair i's sender,
	 * 2i+1 its receiver. */
	int *idx = calloc(2 * (size_t)cfg->pairs, sizeof *idx);
	unsigned n = 0;
	for (unsigned i = 0; i < cfg->pairs; i++) {
		if (!cfg->split) {
			if (i % W == wi) {
				idx[n++] = (int)(2 * i);
				idx[n++] = (int)(2 * i + 1);
			}
		} else {
			unsigned half = W / 2;
			if (wi < half && i % half == wi)
				idx[n++] = (int)(2 * i);
			else if (wi >= half && i % half == wi - half)
				idx[n++] = (int)(2 * i + 1);
		}
	}
	struct loop *l = &w.l;
	loop_init(l, n, cfg->tls, false);
	l->ack_every = cfg->ack_every;
	l->ctl_fd = in;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &ctl_tag};
	epoll_ctl(l->ep, EPOLL_CTL_ADD, in, &ev);
	open_paced(l, s, idx, n, devs, codes, 64);
	w.senders = calloc(n ? n : 1, sizeof *w.senders);
	for (unsigned i = 0; i < n; i++) {
		struct conn *c = &l->conns[i];
		c->peer_idx = c->idx ^ 1;
		c->role = c->idx % 2 ? R_RECEIVER : R_SENDER;
		if (c->role == R_SENDER)
			w.senders[w.n_senders++] = c;
	}
	worker_report(&w, out, (unsigned)(l->ready - l->dead), 0, 0, 0, 0);
	l->on_frame = pairs_frame;
	l->tick = pace_tick;
	for (;;) {
		while (!l->ctl_ready)
			loop_turn(l, 1000);
		l->ctl_ready = false;
		struct cmd cmd;
		xread(in, &cmd, sizeof cmd);
		if (cmd.op == CMD_EXIT)
			break;
		if (cmd.op == CMD_GROUPS) {
			for (size_t i = 0; i < w.n_senders; i++) {
				const struct vtc_device *m = &devs[w.senders[i]->peer_idx];
				create_group(l, w.senders[i], &m, 1);
			}
			flush_dirty(l);
			loop_run(l, 300000, groups_ready);
			l->ctl_ready = false; /* nothing else is sent before the reply */
			worker_report(&w, out, groups_ready(l) && !l->dead, 0, 0, 0, 0);
		} else if (cmd.op == CMD_RUN) {
			l->phase = cmd.phase;
			/* What the idle loop counted since the last report is not
			 * part of this phase. */
			l->delivered = l->dups = l->errors = l->foreign = 0;
			l->n_reads = l->n_writes = l->n_waits = 0;
			for (int k = 0; k < SAMPLE_KINDS; k++)
				l->smp[k].n = 0;
			l->measuring = true;
			w.rate = cmd.rate * (double)w.n_senders / cfg->pairs;
			w.k = 0;
			w.sending = true;
			uint64_t sent0 = 0;
			for (size_t i = 0; i < w.n_senders; i++)
				sent0 += w.senders[i]->sent;
			double cpu0 = self_cpu_s(), user0 = self_user_s();
			w.t0 = now_ns();
			if (w.rate == 0)
				for (size_t i = 0; i < w.n_senders; i++)
					for (unsigned k = 0; k < cfg->depth; k++)
						send_app(l, w.senders[i], w.senders[i]->idx, 0);
			l->wake_ns = w.rate > 0 ? w.t0 : 0;
			uint64_t end = w.t0 + (uint64_t)(cmd.seconds * 1e9);
			while (now_ns() < end)
				loop_turn(l, 10);
			double secs = (double)(now_ns() - w.t0) / 1e9, cpu = self_cpu_s() - cpu0;
			double user = self_user_s() - user0;
			w.sending = false;
			l->measuring = false;
			l->wake_ns = 0;
			uint64_t sent1 = 0;
			for (size_t i = 0; i < w.n_senders; i++)
				sent1 += w.senders[i]->sent;
			worker_report(&w, out, 1, secs, cpu, user, sent1 - sent0);
		} else if (cmd.op == CMD_DRAIN) {
			/* What is still in flight arrives and is acknowledged, and
			 * belongs to no measured phase. */
			loop_run(l, 30000, drained);
			l->ctl_ready = false;
			loop_run(l, 300, NULL);
			l->ctl_ready = false;
			worker_report(&w, out, drained(l), 0, 0, 0, 0);
		}
	}
	free(w.senders);
	free(idx);
	loop_free(l);
}

struct pool {
	unsigned n;
	pid_t *pid;
	int *to, *from;
	struct report sum;
	struct samples smp[SAMPLE_KINDS];
	double cpu_max; /* the busiest worker's CPU */
};

static void pool_send(struct pool *p, const struct cmd *c)
{
	for (unsigned i = 0; i < p->n; i++)
		xwrite(p->to[i], c, sizeof *c);
}

/* Collects one report from every worker: sums, and all samples. */
static void pool_collect(struct pool *p)
{
	memset(&p->sum, 0, sizeof p->sum);
	for (int k = 0; k < SAMPLE_KINDS; k++)
		p->smp[k].n = 0;
	p->cpu_max = 0;
	for (unsigned i = 0; i < p->n; i++) {
		struct report r;
		xread(p->from[i], &r, sizeof r);
		p->sum.ready += r.ready;
		p->sum.secs = r.secs > p->sum.secs ? r.secs : p->sum.secs;
		p->sum.cpu_s += r.cpu_s;
		p->sum.user_s += r.user_s;
		p->cpu_max = r.cpu_s > p->cpu_max ? r.cpu_s : p->cpu_max;
		p->sum.sent += r.sent;
		p->sum.delivered += r.delivered;
		p->sum.dups += r.dups;
		p->sum.errors += r.errors;
		p->sum.foreign += r.foreign;
		p->sum.reads += r.reads;
		p->sum.writes += r.writes;
		p->sum.waits += r.waits;
		for (int k = 0; k < SAMPLE_KINDS; k++) {
			struct samples *sm = &p->smp[k];
			sm->v = realloc(sm->v, (sm->n + r.n_samples[k] + 1) * sizeof *sm->v);
			if (!sm->v)
				die("out of memory");
			xread(p->from[i], sm->v + sm->n, r.n_samples[k] * sizeof *sm->v);
			sm->n += r.n_samples[k];
		}
	}
	for (int k = 0; k < SAMPLE_KINDS; k++)
		qsort(p->smp[k].v, p->smp[k].n, sizeof *p->smp[k].v, cmp_u64);
}

/* The latency split at the receiver's socket (kernel receive times), or
 * "" without them. */
static const char *rx_note(const struct pool *p)
{
	static char note[256];
	const struct samples *sock = &p->smp[SAMPLE_SOCK], *held = &p->smp[SAMPLE_HELD];
	if (!sock->n)
		return "";
	snprintf(note, sizeof note,
	         "; to the receiver's socket p50 %.2f ms p99 %.2f ms p999 %.2f ms, then held by "
	         "the generator p50 %.2f ms p99 %.2f ms",
	         pct(sock, 0.5), pct(sock, 0.99), pct(sock, 0.999), pct(held, 0.5),
	         pct(held, 0.99));
	return note;
}

/* The server's store-job latency by stage (valised_job_stage_seconds in
 * /metrics, docs/operations.md): bucket counts read before and after a
 * phase, so the phase's own quantiles can be printed beside the
 * generator's end-to-end figure. */
#define N_STAGES  6
#define N_BUCKETS 32
static const char *const stage_name[N_STAGES] = {"wait", "run",     "commit",
                                                 "sync", "handoff", "total"};
struct stages {
	double le[N_BUCKETS]; /* bucket upper bounds, seconds; the last +Inf */
	double n[N_STAGES][N_BUCKETS];
	unsigned nb;
	bool ok;
};

static void stages_read(const struct server *s, struct stages *st)
{
	memset(st, 0, sizeof *st);
	char *body = NULL;
	if (wsc_http_get("127.0.0.1", s->port, s->tls, "/metrics", &body) != 200 || !body) {
		free(body);
		return;
	}
	st->ok = true;
	for (unsigned i = 0; i < N_STAGES; i++) {
		char key[96];
		int kl =
		    snprintf(key, sizeof key, "valised_job_stage_seconds_bucket{stage=\"%s\",le=\"",
		             stage_name[i]);
		unsigned b = 0;
		for (const char *q = strstr(body, key); q && b < N_BUCKETS;
		     q = strstr(q + 1, key)) {
			const char *le = q + kl, *val = strstr(le, "} ");
			if (!val)
				break;
			st->le[b] = strncmp(le, "+Inf", 4) == 0 ? 1e9 : atof(le);
			st->n[i][b++] = atof(val + 2);
		}
		if (!b || (st->nb && b != st->nb))
			st->ok = false;
		st->nb = b;
	}
	free(body);
}

/* " ; server stages p50/p99 ms: ..." from b - a, each quantile given as
 * the upper bound of the bucket that holds it. */
static const char *stages_note(const struct stages *a, const struct stages *b)
{
	static char note[400];
	note[0] = 0;
	if (!a->ok || !b->ok || a->nb != b->nb)
		return note;
	size_t len = (size_t)snprintf(
	    note, sizeof note, "; the server's store-job stages, p50/p99 ms (bucket bounds):");
	for (unsigned i = 0; i < N_STAGES && len < sizeof note; i++) {
		double total = b->n[i][b->nb - 1] - a->n[i][a->nb - 1], q[2] = {0.5, 0.99};
		double at[2] = {0, 0};
		for (unsigned k = 0; k < 2; k++)
			for (unsigned j = 0; j < b->nb; j++)
				if (b->n[i][j] - a->n[i][j] >= q[k] * total) {
					at[k] = b->le[j] * 1e3;
					break;
				}
		len += (size_t)snprintf(note + len, sizeof note - len, " %s %g/%g", stage_name[i],
		                        at[0], at[1]);
	}
	return note;
}

static void run_pairs(const struct pairs_cfg *cfg)
{
	struct server s;
	server_start(&s, cfg->tls);
	unsigned ndev = 2 * cfg->pairs;
	char **codes = invites(&s, "p", ndev);
	struct vtc_device *devs = make_devices("p", ndev);
	struct pool p = {.n = cfg->workers};
	p.pid = calloc(p.n, sizeof *p.pid);
	p.to = calloc(p.n, sizeof *p.to);
	p.from = calloc(p.n, sizeof *p.from);
	fflush(stdout);
	for (unsigned i = 0; i < p.n; i++) {
		int a[2], b[2];
		if (pipe(a) || pipe(b))
			die("pipe");
		if ((p.pid[i] = fork()) == 0) {
			close(a[1]);
			close(b[0]);
			for (unsigned j = 0; j < i; j++) {
				close(p.to[j]);
				close(p.from[j]);
			}
			worker_main(cfg, i, &s, devs, codes, a[0], b[1]);
			_exit(0);
		}
		close(a[0]);
		close(b[1]);
		p.to[i] = a[1];
		p.from[i] = b[0];
	}
	const char *link = cfg->tls ? "TLS" : "plain";
	char gen[96];
	snprintf(gen, sizeof gen, "%u %s", p.n,
	         cfg->split ? "procs: senders | receivers"
	         : p.n > 1  ? "procs"
	                    : "proc");
	char ack[32];
	if (cfg->ack_every)
		snprintf(ack, sizeof ack, "every %u", cfg->ack_every);
	else
		snprintf(ack, sizeof ack, "per batch");
	pool_collect(&p);
	if (p.sum.ready != ndev)
		die("connections failed during setup");
	struct cmd cmd = {.op = CMD_GROUPS};
	pool_send(&p, &cmd);
	pool_collect(&p);
	if (p.sum.ready != p.n)
		die("group setup failed");

	/* 1. As fast as possible: each sender keeps `depth` SENDs in flight
	 * (each acknowledged only once durable). */
	cmd = (struct cmd){.op = CMD_RUN, .phase = 1, .rate = 0, .seconds = cfg->seconds};
	double cpu0 = server_cpu_s(&s), b0 = server_metric(&s, "valised_store_batches_total");
	double w0 = server_disk_bytes(&s);
	uint64_t t0 = now_ns();
	pool_send(&p, &cmd);
	pool_collect(&p);
	double secs = (double)(now_ns() - t0) / 1e9;
	double cpu1 = server_cpu_s(&s), b1 = server_metric(&s, "valised_store_batches_total");
	double w1 = server_disk_bytes(&s);
	double dl = p.sum.delivered ? (double)p.sum.delivered : 1;
	double rate = (double)p.sum.delivered / p.sum.secs;
	printf("| pairs  | %-5s | %u pairs, depth %u, ACK %s, %s | %.0f msg/s delivered end to "
	       "end (%llu sent); server %.0f%% CPU, %.1f us/msg; loadgen %.0f%% CPU (busiest proc "
	       "%.0f%%, user %.0f%%), %.1f us/msg; %.0f group commits (fsyncs)/s, %.1f KiB written "
	       "to disk/msg; "
	       "per msg %.2f reads %.2f writes %.2f waits; %llu dup, %llu errors | p50 %.2f ms "
	       "p99 %.2f ms p999 %.2f ms |\n",
	       link, cfg->pairs, cfg->depth, ack, gen, rate, (unsigned long long)p.sum.sent,
	       100 * (cpu1 - cpu0) / secs, 1e6 * (cpu1 - cpu0) / dl, 100 * p.sum.cpu_s / p.sum.secs,
	       100 * p.cpu_max / p.sum.secs, 100 * p.sum.user_s / p.sum.secs,
	       1e6 * p.sum.cpu_s / dl, (b1 - b0) / secs, (w1 - w0) / 1024 / dl,
	       (double)p.sum.reads / dl, (double)p.sum.writes / dl, (double)p.sum.waits / dl,
	       (unsigned long long)p.sum.dups, (unsigned long long)p.sum.errors,
	       pct(&p.smp[SAMPLE_LAT], 0.5), pct(&p.smp[SAMPLE_LAT], 0.99),
	       pct(&p.smp[SAMPLE_LAT], 0.999));
	fflush(stdout);
	cmd = (struct cmd){.op = CMD_DRAIN};
	pool_send(&p, &cmd);
	pool_collect(&p);

	/* 2. Paced at half that rate (or --rate), spread evenly in time over
	 * the senders (open loop: a late reply does not hold the next send). */
	double paced = cfg->paced_rate ? cfg->paced_rate : rate / 2;
	cmd = (struct cmd){.op = CMD_RUN, .phase = 2, .rate = paced, .seconds = cfg->seconds};
	struct stages sa, sb;
	stages_read(&s, &sa);
	cpu0 = server_cpu_s(&s);
	struct cpu_ticks m0 = machine_ticks();
	t0 = now_ns();
	pool_send(&p, &cmd);
	pool_collect(&p);
	secs = (double)(now_ns() - t0) / 1e9;
	cpu1 = server_cpu_s(&s);
	struct cpu_ticks m1 = machine_ticks();
	stages_read(&s, &sb);
	dl = p.sum.delivered ? (double)p.sum.delivered : 1;
	printf("| pairs  | %-5s | paced %.0f msg/s offered, ACK %s, %s | %.0f msg/s delivered; "
	       "server %.0f%% CPU, %.1f us/msg; loadgen %.0f%% CPU (user %.0f%%), %.1f us/msg; "
	       "machine %.0f%% idle; per "
	       "msg %.2f reads %.2f writes %.2f waits; gen lag p50 %.2f p99 %.2f max %.2f ms; %llu "
	       "dup, %llu errors, %llu of an earlier phase (not counted) | p50 %.2f ms p99 %.2f ms "
	       "p999 %.2f ms%s%s |\n",
	       link, paced, ack, gen, (double)p.sum.delivered / p.sum.secs,
	       100 * (cpu1 - cpu0) / secs, 1e6 * (cpu1 - cpu0) / dl, 100 * p.sum.cpu_s / p.sum.secs,
	       100 * p.sum.user_s / p.sum.secs, 1e6 * p.sum.cpu_s / dl, idle_pct(m0, m1),
	       (double)p.sum.reads / dl, (double)p.sum.writes / dl, (double)p.sum.waits / dl,
	       pct(&p.smp[SAMPLE_LAG], 0.5), pct(&p.smp[SAMPLE_LAG], 0.99),
	       pct(&p.smp[SAMPLE_LAG], 1.0), (unsigned long long)p.sum.dups,
	       (unsigned long long)p.sum.errors, (unsigned long long)p.sum.foreign,
	       pct(&p.smp[SAMPLE_LAT], 0.5), pct(&p.smp[SAMPLE_LAT], 0.99),
	       pct(&p.smp[SAMPLE_LAT], 0.999), rx_note(&p), stages_note(&sa, &sb));
	fflush(stdout);
	cmd = (struct cmd){.op = CMD_EXIT};
	pool_send(&p, &cmd);
	for (unsigned i = 0; i < p.n; i++) {
		waitpid(p.pid[i], NULL, 0);
		close(p.to[i]);
		close(p.from[i]);
	}
	free(p.pid);
	free(p.to);
	free(p.from);
	for (int k = 0; k < SAMPLE_KINDS; k++)
		free(p.smp[k].v);
	for (unsigned i = 0; i < ndev; i++)
		free(codes[i]);
	free(codes);
	free_devices(devs, ndev);
	server_stop(&s);
}

/* --- scenario: group fan-out --------------------------------------------- */

struct fan_msg {
	uint64_t sent_ns; /* from the payload: when the SEND was written */
	unsigned got;
	uint64_t last_ns;   /* when the last member's DELIVER was parsed */
	uint64_t last_turn; /* when the epoll_wait that reported it returned */
};
static struct fan_msg *fan;
static size_t fan_n, fan_members;
static uint64_t fan_next, fan_t0;
static double fan_rate;

static void fan_frame(struct loop *l, struct conn *c, const struct vl_frame *f)
{
	if (f->type == VL_FRAME_ERROR) {
		on_error_frame(l, f);
		return;
	}
	if (f->type == (VL_FRAME_GROUP_CREATE | VL_FRAME_REPLY) ||
	    f->type == (VL_FRAME_COMMIT | VL_FRAME_REPLY)) {
		c->setup_replies++;
		return;
	}
	if (f->type != VL_FRAME_DELIVER)
		return;
	uint64_t t;
	const uint8_t *tail = on_deliver(l, c, f, &t);
	if (!tail)
		return;
	uint64_t counter;
	memcpy(&counter, tail - TAIL_COUNTER, 8);
	if (counter < fan_n) {
		fan[counter].sent_ns = t;
		fan[counter].got++;
		fan[counter].last_ns = now_ns();
		fan[counter].last_turn = l->turn_ns;
	}
}

static void fan_tick(struct loop *l)
{
	uint64_t per = (uint64_t)(1e9 / fan_rate), now = now_ns();
	while (fan_next < fan_n && fan_t0 + fan_next * per <= now) {
		send_app(l, &l->conns[0], l->conns[0].idx, fan_t0 + fan_next * per);
		conn_flush(l, &l->conns[0]);
		fan_next++;
	}
	l->wake_ns = fan_next < fan_n ? fan_t0 + fan_next * per : 0;
}

static bool fan_ready(struct loop *l)
{
	size_t welcomed = 0;
	for (size_t i = 1; i < l->n; i++)
		welcomed += l->conns[i].setup_replies > 0;
	return welcomed >= fan_members - 1 || l->dead;
}

static void run_fanout(bool tls, unsigned size, int seconds, unsigned ack_every)
{
	struct server s;
	server_start(&s, tls);
	char **codes = invites(&s, "g", size);
	struct vtc_device *devs = make_devices("g", size);
	int *idx = calloc(size, sizeof *idx);
	for (unsigned i = 0; i < size; i++)
		idx[i] = (int)i;
	struct loop l;
	loop_init(&l, size, tls, false);
	l.ack_every = ack_every;
	open_paced(&l, &s, idx, size, devs, codes, 64);
	if (l.dead)
		die("connections failed during setup");
	l.on_frame = fan_frame;
	const struct vtc_device **members = calloc(size, sizeof *members);
	for (unsigned i = 1; i < size; i++)
		members[i - 1] = &devs[i];
	fan_members = size;
	create_group(&l, &l.conns[0], members, size - 1);
	flush_dirty(&l);
	loop_run(&l, 120000, fan_ready);
	free(members);
	fan_rate = 10;
	fan_n = (size_t)(fan_rate * seconds);
	fan = calloc(fan_n, sizeof *fan);
	fan_next = 0;
	l.phase = 1;
	l.measuring = true;
	double cpu0 = server_cpu_s(&s), g0 = self_cpu_s();
	fan_t0 = now_ns();
	l.tick = fan_tick;
	loop_run(&l, seconds * 1000 + 2000, NULL);
	double secs = (double)(now_ns() - fan_t0) / 1e9;
	double cpu1 = server_cpu_s(&s), g1 = self_cpu_s();
	l.measuring = false;
	uint64_t *last = calloc(fan_n, sizeof *last), *own = calloc(fan_n, sizeof *own);
	size_t complete = 0;
	for (size_t i = 0; i < fan_n; i++)
		if (fan[i].got == size - 1) {
			own[complete] = fan[i].last_ns - fan[i].last_turn;
			last[complete++] = fan[i].last_ns - fan[i].sent_ns;
		}
	qsort(last, complete, sizeof *last, cmp_u64);
	qsort(own, complete, sizeof *own, cmp_u64);
	struct samples *lag = &l.smp[SAMPLE_LAG];
	qsort(lag->v, lag->n, sizeof *lag->v, cmp_u64);
	double dl = l.delivered ? (double)l.delivered : 1;
	char ack[32];
	if (ack_every)
		snprintf(ack, sizeof ack, "every %u", ack_every);
	else
		snprintf(ack, sizeof ack, "per batch");
	printf(
	    "| fanout | %-5s | group of %u, %.0f msg/s, ACK %s, %zu of %zu complete | server "
	    "%.1f%% CPU, %.1f us/delivery; loadgen %.1f%% CPU, %.1f us/delivery; gen lag max "
	    "%.2f ms; %llu dup, %llu errors | last member: p50 %.2f ms p99 %.2f ms max %.2f ms (of "
	    "which the generator reading other members first: p50 %.2f ms p99 %.2f ms) |\n",
	    tls ? "TLS" : "plain", size, fan_rate, ack, complete, fan_n, 100 * (cpu1 - cpu0) / secs,
	    1e6 * (cpu1 - cpu0) / dl, 100 * (g1 - g0) / secs, 1e6 * (g1 - g0) / dl, pct(lag, 1.0),
	    (unsigned long long)l.dups, (unsigned long long)l.errors, pct_ms(last, complete, 0.5),
	    pct_ms(last, complete, 0.99), pct_ms(last, complete, 1.0), pct_ms(own, complete, 0.5),
	    pct_ms(own, complete, 0.99));
	fflush(stdout);
	free(last);
	free(own);
	free(fan);
	free(idx);
	loop_free(&l);
	for (unsigned i = 0; i < size; i++)
		free(codes[i]);
	free(codes);
	free_devices(devs, size);
	server_stop(&s);
}

static unsigned arg_uint(const char *opt, const char *v, unsigned min)
{
	char *end;
	errno = 0;
	unsigned long x = strtoul(v, &end, 10);
	if (errno || *end || end == v || x < min || x > 10000000) {
		fprintf(stderr, "bench_loadgen: %s: bad value '%s'\n", opt, v);
		exit(2);
	}
	return (unsigned)x;
}

int main(int argc, char **argv)
{
	bool tls = false;
	unsigned conns = 2000, procs = 2, group = 0; /* group 0: 10, 100 and 1000 */
	struct pairs_cfg pc = {.pairs = 1000, .depth = 16, .workers = 0, .tick_us = 200};
	int seconds = 10;
	const char *only = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--tls") == 0)
			tls = true;
		else if (strcmp(a, "--split") == 0)
			pc.split = true;
		else if (strcmp(a, "--no-io-uring") == 0)
			use_io_uring = false;
		else if (v && strcmp(a, "--conns") == 0 && ++i)
			conns = arg_uint(a, v, 1);
		else if (v && strcmp(a, "--procs") == 0 && ++i)
			procs = arg_uint(a, v, 1);
		else if (v && strcmp(a, "--pairs") == 0 && ++i)
			pc.pairs = arg_uint(a, v, 1);
		else if (v && strcmp(a, "--seconds") == 0 && ++i)
			seconds = (int)arg_uint(a, v, 1);
		else if (v && strcmp(a, "--depth") == 0 && ++i)
			pc.depth = arg_uint(a, v, 1);
		else if (v && strcmp(a, "--ack") == 0 && ++i)
			pc.ack_every = arg_uint(a, v, 0);
		else if (v && strcmp(a, "--workers") == 0 && ++i)
			pc.workers = arg_uint(a, v, 1);
		else if (v && strcmp(a, "--rate") == 0 && ++i)
			pc.paced_rate = arg_uint(a, v, 1);
		else if (v && strcmp(a, "--tick-us") == 0 && ++i)
			pc.tick_us = arg_uint(a, v, 1);
		else if (v && strcmp(a, "--group") == 0 && ++i)
			group = arg_uint(a, v, 2);
		else if (v && strcmp(a, "--only") == 0 && ++i)
			only = v;
		else if (v && strcmp(a, "--server-set") == 0 && ++i && n_server_sets < 4)
			server_sets[n_server_sets++] = v;
		else {
			fprintf(
			    stderr,
			    "usage: %s [--tls] [--conns N] [--procs P] [--pairs N] [--seconds S] "
			    "[--depth D] [--ack N] [--rate R] [--workers W] [--split] [--tick-us "
			    "U] "
			    "[--group N] [--only conns|pairs|fanout] [--no-io-uring] "
			    "[--server-set KEY=VALUE]...\n",
			    argv[0]);
			return 2;
		}
	}
	if (only && strcmp(only, "conns") && strcmp(only, "pairs") && strcmp(only, "fanout")) {
		fprintf(stderr, "bench_loadgen: --only: unknown test '%s'\n", only);
		return 2;
	}
	if (!pc.workers)
		pc.workers = pc.split ? 2 : 1;
	if (pc.split && pc.workers % 2) {
		fprintf(stderr, "bench_loadgen: --split needs an even --workers\n");
		return 2;
	}
	pc.tls = tls;
	pc.seconds = seconds;
	signal(SIGPIPE, SIG_IGN);
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	printf("bench_loadgen: valised on loopback, %s, open-file limit %llu per process\n",
	       tls ? "TLS 1.3" : "plain WebSocket", (unsigned long long)rl.rlim_cur);
	printf("| test   | link  | shape | throughput / memory / CPU | latency |\n");
	printf("|---|---|---|---|---|\n");
	fflush(stdout);
	if (!only || strcmp(only, "conns") == 0)
		run_conns(tls, conns, procs);
	if (!only || strcmp(only, "pairs") == 0)
		run_pairs(&pc);
	if (!only || strcmp(only, "fanout") == 0) {
		if (group) {
			run_fanout(tls, group, seconds, pc.ack_every);
		} else {
			run_fanout(tls, 10, seconds, pc.ack_every);
			run_fanout(tls, 100, seconds, pc.ack_every);
			run_fanout(tls, 1000, seconds, pc.ack_every);
		}
	}
	return 0;
}
