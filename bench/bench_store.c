/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Store micro-benchmark: valised's delivery work (SEND, then the
 * receiver's ACK) run through the real batch executor on a fresh SQLite
 * database with valised's settings, without sockets or TLS, so the figures
 * are the store thread's alone. Prints one table per scenario:
 *
 *  - pairs: 1:1 groups, as fast as the store goes with `--depth` jobs in
 *    flight; store-thread CPU per message (its SEND plus its ACK) and per
 *    batch, batches (fsyncs) per second, database pages written per
 *    message.
 *  - latency: the same traffic paced at `--rate` jobs per second (SENDs
 *    and ACKs together); submit-to-completion latency of every job.
 *  - fanout: one sender, a group of `--group` devices; per message the
 *    store CPU of the SEND (fan-out to every member's queue) and of the
 *    members' ACKs.
 *
 * Usage: bench_store [--only pairs|latency|fanout] [--pairs N] [--depth D]
 *                    [--seconds S] [--rate R] [--group N] [--batch-max N]
 *                    [--batch-us U] [--sent-ttl S] [--random-ids]
 *
 * SENDs carry client ids the way docs/protocol.md recommends and
 * libvalise makes them: a 48-bit millisecond time, then random bits.
 * `--random-ids` sends ids random throughout instead (a client that does
 * not follow the recommendation), to show what that costs the store.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/store/store.h"

#define NOW_S 1700000000u

struct opts {
	const char *only;
	size_t pairs, depth, group, batch_max;
	unsigned batch_us;
	uint64_t ttl;
	double seconds, rate;
	bool random_ids;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench_store: %s: %s\n", what, vl_strerror(rc));
	exit(1);
}

#define CHECK(what, expr)                                                                          \
	do {                                                                                       \
		int rc_ = (expr);                                                                  \
		if (rc_ != VL_OK)                                                                  \
			die(what, rc_);                                                            \
	} while (0)

/* --- fixture: a fresh store with n devices (one user each) --------------- */

struct fixture {
	char dir[64];
	char path[128];
	struct vl_store *st;
	int64_t *dev; /* device ids */
	size_t n;
};

static void user_of(size_t i, char *buf, size_t len)
{
	snprintf(buf, len, "u%zu@bench.example", i);
}

static void fixture_open(struct fixture *fx, size_t n)
{
	memset(fx, 0, sizeof *fx);
	strcpy(fx->dir, "/tmp/vl_bench_store_XXXXXX");
	if (!mkdtemp(fx->dir)) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(fx->path, sizeof fx->path, "%s/valise.db", fx->dir);
	struct vl_store_config cfg = {.backend = "sqlite", .path = fx->path};
	CHECK("open", vl_store_open(&cfg, &fx->st));
	fx->n = n;
	fx->dev = calloc(n, sizeof *fx->dev);
	if (!fx->dev)
		die("setup", VL_ERR_NOMEM);
	static const uint8_t key[32] = {1};
	CHECK("begin", vl_store_batch_begin(fx->st));
	for (size_t i = 0; i < n; i++) {
		char user[64];
		user_of(i, user, sizeof user);
		CHECK("invite", vl_store_invite_create(fx->st, (const uint8_t *)user, strlen(user),
		                                       user, NOW_S + 3600, NOW_S));
		struct vl_store_device d;
		CHECK("register",
		      vl_store_device_register(fx->st, (const uint8_t *)user, strlen(user), user,
		                               "d", 1, key, sizeof key, 16, NOW_S, &d));
		fx->dev[i] = d.id;
	}
	CHECK("commit", vl_store_batch_commit(fx->st));
}

static void fixture_close(struct fixture *fx)
{
	vl_store_free(fx->st);
	char cmd[160];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_store: could not remove %s\n", fx->dir);
	free(fx->dev);
}

/* A group `gid` created by member first[0], then one commit adding the
 * others, so it is at epoch 1 like a real group after its first commit. */
static void group_make(struct fixture *fx, const uint8_t *gid, size_t gid_len, const size_t *idx,
                       size_t n)
{
	CHECK("group", vl_store_group_create(fx->st, gid, gid_len, fx->dev[idx[0]], NOW_S));
	struct vl_store_device_name *add = calloc(n, sizeof *add);
	char(*users)[64] = calloc(n, sizeof *users);
	if (!add || !users)
		die("setup", VL_ERR_NOMEM);
	for (size_t i = 1; i < n; i++) {
		user_of(idx[i], users[i], sizeof users[i]);
		add[i - 1] = (struct vl_store_device_name){users[i], "d"};
	}
	uint8_t cmid[16] = {0xc0};
	memcpy(cmid + 1, gid, gid_len < 15 ? gid_len : 15);
	static const uint8_t commit[64] = {1};
	struct vl_store_commit c = {.gid = gid,
	                            .gid_len = gid_len,
	                            .epoch = 0,
	                            .sender = fx->dev[idx[0]],
	                            .client_msg_id = cmid,
	                            .commit = commit,
	                            .commit_len = sizeof commit,
	                            .added = add,
	                            .n_added = n - 1};
	uint64_t epoch;
	bool dup;
	CHECK("commit", vl_store_commit_apply(fx->st, &c, NULL, NULL, &epoch, &dup));
	free(add);
	free(users);
}

/* --- jobs and their completion queue (the "core thread" is main) --------- */

enum { J_SEND, J_ACK };

struct bjob {
	struct vl_store_job sj; /* first */
	struct driver *drv;
	int kind;
	size_t pair;
	const uint8_t *gid;
	size_t gid_len;
	int64_t device; /* sender (SEND) or acknowledging device (ACK) */
	uint64_t seq;   /* SEND: the entry created; ACK: acknowledged */
	uint8_t cmid[16];
	uint64_t t_submit, t_done;
	bool dup;
	struct bjob *next_done;
};

struct driver {
	struct vl_store_exec *x;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct bjob *done_head, *done_tail;
	size_t msg_len;
	bool random_ids;
	uint64_t rng; /* splitmix64 state: the ids' random part */
	/* latencies (ns) of completed jobs, when recorded */
	uint64_t *lat;
	size_t n_lat, cap_lat;
};

static const uint8_t MSG[4096];

static void on_queued(void *ctx, int64_t device_id, uint64_t seq, uint8_t kind)
{
	(void)device_id;
	(void)kind;
	((struct bjob *)ctx)->seq = seq;
}

static int job_run(struct vl_store *st, struct vl_store_job *sj)
{
	struct bjob *j = (struct bjob *)sj;
	if (j->kind == J_ACK)
		return vl_store_queue_ack(st, j->device, j->seq);
	return vl_store_send(st, j->gid, j->gid_len, 1, j->device, j->cmid, MSG, j->drv->msg_len,
	                     on_queued, j, &j->dup);
}

/* Executor thread: hand the job back, as valised's core does. */
static void job_done(struct vl_store_job *sj)
{
	struct bjob *j = (struct bjob *)sj;
	struct driver *d = j->drv;
	j->t_done = mono_ns();
	pthread_mutex_lock(&d->mu);
	j->next_done = NULL;
	if (d->done_tail)
		d->done_tail->next_done = j;
	else
		d->done_head = j;
	d->done_tail = j;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

static struct bjob *job_new(struct driver *d, int kind)
{
	struct bjob *j = calloc(1, sizeof *j);
	if (!j)
		die("job", VL_ERR_NOMEM);
	j->sj.run = job_run;
	j->sj.done = job_done;
	j->drv = d;
	j->kind = kind;
	return j;
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* A client message id: random throughout, or (docs/protocol.md) the
 * wall-clock milliseconds in 48 bits big-endian, then random. */
static void cmid_make(struct driver *d, uint8_t id[16])
{
	uint64_t r0 = splitmix64(&d->rng), r1 = splitmix64(&d->rng);
	memcpy(id, &r0, 8);
	memcpy(id + 8, &r1, 8);
	if (d->random_ids)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	for (int i = 0; i < 6; i++)
		id[i] = (uint8_t)(ms >> (40 - 8 * i));
}

static void submit(struct driver *d, struct bjob *j)
{
	if (j->kind == J_SEND)
		cmid_make(d, j->cmid);
	j->t_submit = mono_ns();
	CHECK("submit", vl_store_exec_submit(d->x, &j->sj));
}

/* Takes every completed job, waiting up to wait_ns for the first. */
static struct bjob *take_done(struct driver *d, uint64_t wait_ns)
{
	pthread_mutex_lock(&d->mu);
	if (!d->done_head && wait_ns) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t t = (uint64_t)ts.tv_nsec + wait_ns;
		ts.tv_sec += (time_t)(t / 1000000000u);
		ts.tv_nsec = (long)(t % 1000000000u);
		while (!d->done_head)
			if (pthread_cond_timedwait(&d->cv, &d->mu, &ts) == ETIMEDOUT)
				break;
	}
	struct bjob *j = d->done_head;
	d->done_head = d->done_tail = NULL;
	pthread_mutex_unlock(&d->mu);
	return j;
}

static void lat_add(struct driver *d, uint64_t ns)
{
	if (d->n_lat == d->cap_lat) {
		size_t cap = d->cap_lat ? d->cap_lat * 2 : 65536;
		uint64_t *l = realloc(d->lat, cap * sizeof *l);
		if (!l)
			die("latency", VL_ERR_NOMEM);
		d->lat = l;
		d->cap_lat = cap;
	}
	d->lat[d->n_lat++] = ns;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct(const uint64_t *v, size_t n, double p)
{
	if (!n)
		return 0;
	size_t i = (size_t)(p * (double)(n - 1));
	return (double)v[i] / 1e6;
}

static void driver_start(struct driver *d, struct fixture *fx, const struct opts *o)
{
	memset(d, 0, sizeof *d);
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cv, NULL);
	d->msg_len = 200;
	d->random_ids = o->random_ids;
	d->rng = mono_ns();
	struct vl_store_exec_config xc;
	vl_store_exec_config_defaults(&xc);
	xc.batch_max = o->batch_max;
	xc.batch_us = o->batch_us;
	xc.sent_ttl = o->ttl;
	CHECK("executor", vl_store_exec_start(fx->st, &xc, &d->x));
}

static void driver_stop(struct driver *d)
{
	vl_store_exec_free(d->x);
	d->x = NULL;
	pthread_mutex_destroy(&d->mu);
	pthread_cond_destroy(&d->cv);
	free(d->lat);
}

struct snap {
	uint64_t t;
	struct vl_store_exec_stats x;
	struct vl_store_stats s;
};

static void snap_take(struct driver *d, struct fixture *fx, struct snap *s)
{
	s->t = mono_ns();
	vl_store_exec_stats_get(d->x, &s->x);
	/* Read on this thread while the executor owns the store: the two
	 * counters are plain integers that only grow; a torn read is not
	 * possible on the platforms we build for, a stale one is harmless. */
	vl_store_stats_get(fx->st, &s->s);
}

/* --- pairs: throughput and latency ---------------------------------------- */

struct pairs {
	struct fixture fx;
	uint8_t (*gid)[16];
	size_t n;
};

static void pairs_setup(struct pairs *p, size_t n)
{
	fixture_open(&p->fx, 2 * n);
	p->n = n;
	p->gid = calloc(n, sizeof *p->gid);
	if (!p->gid)
		die("setup", VL_ERR_NOMEM);
	CHECK("begin", vl_store_batch_begin(p->fx.st));
	for (size_t i = 0; i < n; i++) {
		snprintf((char *)p->gid[i], sizeof p->gid[i], "pair-%u", (unsigned)i);
		size_t idx[2] = {2 * i, 2 * i + 1};
		group_make(&p->fx, p->gid[i], sizeof p->gid[i], idx, 2);
	}
	CHECK("commit", vl_store_batch_commit(p->fx.st));
}

static struct bjob *send_of(struct driver *d, struct pairs *p, size_t pair)
{
	struct bjob *j = job_new(d, J_SEND);
	j->pair = pair;
	j->gid = p->gid[pair];
	j->gid_len = sizeof p->gid[pair];
	j->device = p->fx.dev[2 * pair];
	return j;
}

/* Handles one completion: a SEND makes its receiver's ACK; returns true
 * when a message is finished (its ACK done). */
static bool pairs_complete(struct driver *d, struct pairs *p, struct bjob *j, bool *acked)
{
	if (j->sj.status != VL_OK)
		die(j->kind == J_SEND ? "send" : "ack", j->sj.status);
	*acked = false;
	if (j->kind == J_SEND) {
		j->kind = J_ACK;
		j->device = p->fx.dev[2 * j->pair + 1];
		submit(d, j);
		return false;
	}
	*acked = true;
	return true;
}

static void print_row(const char *name, double secs, uint64_t msgs, const struct snap *a,
                      const struct snap *b)
{
	uint64_t batches = b->x.batches - a->x.batches;
	uint64_t jobs = b->x.jobs - a->x.jobs;
	double cpu_us = (double)(b->x.cpu_ns - a->x.cpu_ns) / 1e3;
	double pages = (double)(b->s.pages_written - a->s.pages_written);
	/* With deferred durability the syncer's syncs are the fsyncs; else
	 * each commit is one. */
	uint64_t fsyncs =
	    b->x.syncs || a->x.syncs ? b->x.syncs - a->x.syncs : b->s.commits - a->s.commits;
	printf("| %-22s | %9.0f | %8.2f | %9.1f | %8.0f | %7.1f | %7.0f | %9.0f | %9.2f |\n", name,
	       (double)msgs / secs, msgs ? cpu_us / (double)msgs : 0.0,
	       batches ? cpu_us / (double)batches : 0.0, (double)batches / secs,
	       batches ? (double)jobs / (double)batches : 0.0, (double)fsyncs / secs,
	       cpu_us / 1e4 / secs, msgs ? pages / (double)msgs : 0.0);
}

static void print_head(void)
{
	printf("| %-22s | %9s | %8s | %9s | %8s | %7s | %7s | %9s | %9s |\n", "run", "msg/s",
	       "µs/msg", "µs/batch", "batch/s", "jobs/b", "fsync/s", "store %cpu", "pages/msg");
	printf("|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", "------------------------", "-----------",
	       "----------", "-----------", "----------", "---------", "---------", "-----------",
	       "-----------");
}

static void run_pairs(const struct opts *o)
{
	struct pairs p;
	pairs_setup(&p, o->pairs);
	struct driver d;
	driver_start(&d, &p.fx, o);
	size_t inflight = 0, next = 0;
	/* Warm-up: one pass over every pair, so the first figures do not
	 * include cold caches. */
	for (size_t i = 0; i < p.n; i++, inflight++)
		submit(&d, send_of(&d, &p, i));
	while (inflight) {
		for (struct bjob *j = take_done(&d, 1000000), *nx; j; j = nx) {
			nx = j->next_done;
			bool acked;
			if (pairs_complete(&d, &p, j, &acked)) {
				inflight--;
				free(j);
			}
		}
	}
	struct snap a, b;
	snap_take(&d, &p.fx, &a);
	uint64_t end = a.t + (uint64_t)(o->seconds * 1e9), msgs = 0;
	bool stop = false;
	while (!stop || inflight) {
		while (!stop && inflight < o->depth) {
			submit(&d, send_of(&d, &p, next));
			next = (next + 1) % p.n;
			inflight++;
		}
		for (struct bjob *j = take_done(&d, 1000000), *nx; j; j = nx) {
			nx = j->next_done;
			bool acked;
			if (pairs_complete(&d, &p, j, &acked)) {
				inflight--;
				msgs++;
				free(j);
			}
		}
		if (!stop && mono_ns() >= end)
			stop = true;
	}
	snap_take(&d, &p.fx, &b);
	double secs = (double)(b.t - a.t) / 1e9;
	char name[64];
	snprintf(name, sizeof name, "pairs %zu, depth %zu", o->pairs, o->depth);
	print_head();
	print_row(name, secs, msgs, &a, &b);
	printf("\nlargest batch %llu jobs; %llu messages in %.1f s; per batch %.0f µs running "
	       "jobs, %.0f µs committing (wall)\n\n",
	       (unsigned long long)b.x.max_batch, (unsigned long long)msgs, secs,
	       (double)(b.x.run_ns - a.x.run_ns) / 1e3 / (double)(b.x.batches - a.x.batches),
	       (double)(b.x.commit_ns - a.x.commit_ns) / 1e3 / (double)(b.x.batches - a.x.batches));
	driver_stop(&d);
	free(p.gid);
	fixture_close(&p.fx);
}

static void run_latency(const struct opts *o)
{
	struct pairs p;
	pairs_setup(&p, o->pairs);
	struct driver d;
	driver_start(&d, &p.fx, o);
	/* SENDs are paced at rate/2 per second; each makes one ACK. */
	double send_rate = o->rate / 2;
	struct snap a, b;
	snap_take(&d, &p.fx, &a);
	uint64_t t0 = a.t, end = t0 + (uint64_t)(o->seconds * 1e9), sent = 0, msgs = 0;
	size_t inflight = 0, next = 0;
	for (;;) {
		uint64_t now = mono_ns();
		if (now < end) {
			uint64_t due = (uint64_t)((double)(now - t0) / 1e9 * send_rate);
			for (; sent < due; sent++, inflight++) {
				submit(&d, send_of(&d, &p, next));
				next = (next + 1) % p.n;
			}
		} else if (!inflight) {
			break;
		}
		for (struct bjob *j = take_done(&d, 100000), *nx; j; j = nx) {
			nx = j->next_done;
			lat_add(&d, j->t_done - j->t_submit);
			bool acked;
			if (pairs_complete(&d, &p, j, &acked)) {
				inflight--;
				msgs++;
				free(j);
			}
		}
	}
	snap_take(&d, &p.fx, &b);
	double secs = (double)(b.t - a.t) / 1e9;
	qsort(d.lat, d.n_lat, sizeof *d.lat, cmp_u64);
	char name[64];
	snprintf(name, sizeof name, "paced %.0f jobs/s", o->rate);
	print_head();
	print_row(name, secs, msgs, &a, &b);
	printf("\n| job submit -> done | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |\n");
	printf("|---|---|---|---|---|---|\n");
	printf("| %zu jobs | %.3f | %.3f | %.3f | %.3f | %.3f |\n\n", d.n_lat,
	       pct(d.lat, d.n_lat, 0.5), pct(d.lat, d.n_lat, 0.9), pct(d.lat, d.n_lat, 0.99),
	       pct(d.lat, d.n_lat, 0.999), pct(d.lat, d.n_lat, 1.0));
	driver_stop(&d);
	free(p.gid);
	fixture_close(&p.fx);
}

/* --- fan-out --------------------------------------------------------------- */

static void wait_jobs(struct driver *d, size_t n)
{
	while (n) {
		for (struct bjob *j = take_done(d, 1000000000u), *nx; j; j = nx) {
			nx = j->next_done;
			if (j->sj.status != VL_OK)
				die(j->kind == J_SEND ? "send" : "ack", j->sj.status);
			free(j);
			n--;
		}
	}
}

static void run_fanout(const struct opts *o)
{
	struct fixture fx;
	size_t n = o->group;
	fixture_open(&fx, n);
	size_t *idx = calloc(n, sizeof *idx);
	if (!idx)
		die("setup", VL_ERR_NOMEM);
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	static const uint8_t gid[] = "fan-out group";
	group_make(&fx, gid, sizeof gid, idx, n);
	free(idx);
	struct driver d;
	driver_start(&d, &fx, o);
	uint64_t send_ns = 0, ack_ns = 0, t0 = mono_ns(), msgs = 0;
	uint64_t end = t0 + (uint64_t)(o->seconds * 1e9);
	struct snap a, b, m;
	snap_take(&d, &fx, &a);
	while (mono_ns() < end) {
		struct vl_store_exec_stats s0, s1, s2;
		vl_store_exec_stats_get(d.x, &s0);
		struct bjob *j = job_new(&d, J_SEND);
		j->gid = gid;
		j->gid_len = sizeof gid;
		j->device = fx.dev[0];
		submit(&d, j);
		uint64_t seq = 0;
		for (;;) {
			struct bjob *r = take_done(&d, 1000000000u);
			if (!r)
				continue;
			if (r->sj.status != VL_OK)
				die("send", r->sj.status);
			seq = r->seq;
			free(r);
			break;
		}
		vl_store_exec_stats_get(d.x, &s1);
		/* Every member acknowledges it, as its push arrives. */
		for (size_t i = 1; i < n; i++) {
			struct bjob *k = job_new(&d, J_ACK);
			k->device = fx.dev[i];
			k->seq = seq;
			submit(&d, k);
		}
		wait_jobs(&d, n - 1);
		vl_store_exec_stats_get(d.x, &s2);
		send_ns += s1.cpu_ns - s0.cpu_ns;
		ack_ns += s2.cpu_ns - s1.cpu_ns;
		msgs++;
	}
	snap_take(&d, &fx, &b);
	(void)m;
	double secs = (double)(b.t - a.t) / 1e9;
	printf("| fan-out to %zu devices | messages | SEND µs | ACKs µs (all members) | total ms "
	       "per message | batches/s |\n",
	       n - 1);
	printf("|---|---|---|---|---|---|\n");
	printf("| store-thread CPU | %llu | %.0f | %.0f | %.2f | %.0f |\n\n",
	       (unsigned long long)msgs, (double)send_ns / 1e3 / (double)msgs,
	       (double)ack_ns / 1e3 / (double)msgs, (double)(send_ns + ack_ns) / 1e6 / (double)msgs,
	       (double)(b.x.batches - a.x.batches) / secs);
	driver_stop(&d);
	fixture_close(&fx);
}

static size_t num(const char *prog, const char *flag, const char *v)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (!*v || *end || errno || *v == '-') {
		fprintf(stderr, "%s: %s \"%s\": not a number\n", prog, flag, v);
		exit(2);
	}
	return (size_t)n;
}

int main(int argc, char **argv)
{
	struct opts o = {.only = NULL,
	                 .pairs = 1000,
	                 .depth = 4000,
	                 .group = 1000,
	                 .batch_max = 16384,
	                 .batch_us = 0,
	                 .seconds = 5,
	                 .rate = 25000};
	struct vl_store_exec_config xc;
	vl_store_exec_config_defaults(&xc);
	o.batch_us = xc.batch_us;
	o.ttl = xc.sent_ttl;
	for (int i = 1; i < argc; i++) {
		const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(f, "--only") == 0 && v)
			o.only = v;
		else if (strcmp(f, "--pairs") == 0 && v)
			o.pairs = num(argv[0], f, v);
		else if (strcmp(f, "--depth") == 0 && v)
			o.depth = num(argv[0], f, v);
		else if (strcmp(f, "--group") == 0 && v)
			o.group = num(argv[0], f, v);
		else if (strcmp(f, "--batch-max") == 0 && v)
			o.batch_max = num(argv[0], f, v);
		else if (strcmp(f, "--batch-us") == 0 && v)
			o.batch_us = (unsigned)num(argv[0], f, v);
		else if (strcmp(f, "--sent-ttl") == 0 && v)
			o.ttl = num(argv[0], f, v);
		else if (strcmp(f, "--seconds") == 0 && v)
			o.seconds = (double)num(argv[0], f, v);
		else if (strcmp(f, "--rate") == 0 && v)
			o.rate = (double)num(argv[0], f, v);
		else if (strcmp(f, "--random-ids") == 0) {
			o.random_ids = true;
			continue;
		} else {
			fprintf(stderr,
			        "usage: %s [--only pairs|latency|fanout] [--pairs N] [--depth D] "
			        "[--seconds S] [--rate R] [--group N] [--batch-max N] "
			        "[--batch-us U] [--sent-ttl S] [--random-ids]\n",
			        argv[0]);
			return 2;
		}
		i++;
	}
	if (o.pairs == 0 || o.depth == 0 || o.group < 2 || o.seconds <= 0 || o.rate <= 0) {
		fprintf(stderr, "%s: --pairs, --depth, --seconds, --rate > 0 and --group >= 2\n",
		        argv[0]);
		return 2;
	}
	printf("bench_store: SQLite backend, WAL, synchronous=NORMAL and a syncer thread; "
	       "batch_max %zu, batch_us %u, "
	       "sent_ttl %llu; client ids %s\n\n",
	       o.batch_max, o.batch_us, (unsigned long long)o.ttl,
	       o.random_ids ? "random" : "time-ordered");
	if (!o.only || strcmp(o.only, "pairs") == 0)
		run_pairs(&o);
	if (!o.only || strcmp(o.only, "latency") == 0)
		run_latency(&o);
	if (!o.only || strcmp(o.only, "fanout") == 0)
		run_fanout(&o);
	return 0;
}
