/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_commit: what a COMMIT costs the server, by group size (10, 100,
 * 1000, 10000 members by default; `bench_commit MAX_N` limits them), with
 * the roster checks of handle_commit.c (docs/protocol.md §4.4). The server
 * core runs in this process without sockets, its store in memory (so no
 * fsync is measured: that cost is the same with or without the checks).
 * Each measured commit comes from the creator (leaf 0) and removes the
 * member at leaf 1 while adding a new device, which takes leaf 1 again:
 * one Remove and one Add by value, each checked against the frame's lists.
 * Columns:
 *   commit: the whole COMMIT, from frame to reply (decode, the checks,
 *           the store step with its fan-out to every member's queue)
 *   leaves: reading the group's leaf map, the part of the checks that
 *           grows with the group (vl_store_group_leaves, same store)
 *   share:  leaves / commit
 * Each figure is the median of the runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/core.h"
#include "server/log.h"
#include "vtc.h"

#define RUNS 21

static const uint8_t GID[32] = {0xbe, 0x4c};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void check(int rc, const char *what)
{
	if (rc != VL_OK) {
		fprintf(stderr, "bench_commit: %s: %s\n", what, vl_strerror(rc));
		exit(1);
	}
}

/* The fake transport keeps the last frame sent to the creator. */
struct conn {
	struct vl_conn *c;
	uint8_t last[4096];
	size_t last_len;
};

static bool t_send(void *t, const uint8_t *b, size_t len)
{
	struct conn *k = t;
	if (len <= sizeof k->last) {
		memcpy(k->last, b, len);
		k->last_len = len;
	}
	return true;
}

static void t_close(void *t)
{
	(void)t;
}

static const struct vl_conn_ops ops = {t_send, t_close};

static uint64_t clk_ms(void *ctx)
{
	(void)ctx;
	return (uint64_t)(now() * 1000);
}

static uint64_t clk_s(void *ctx)
{
	(void)ctx;
	return (uint64_t)time(NULL);
}

/* The frame type of the last reply to the creator; exits on ERROR. */
static void expect_reply(struct conn *k, uint8_t type)
{
	struct vl_frame f;
	check(vl_frame_decode(k->last, k->last_len, VL_PROTO_FRAME_MAX, &f), "reply");
	if (f.type == VL_FRAME_ERROR) {
		struct vl_msg_error e;
		check(vl_msg_error_decode(&f.body, &e), "error");
		fprintf(stderr, "bench_commit: ERROR %s: %.*s\n", vl_proto_error_name(e.code),
		        (int)e.detail.len, (const char *)e.detail.p);
		exit(1);
	}
	if (f.type != (type | VL_FRAME_REPLY)) {
		fprintf(stderr, "bench_commit: unexpected frame %02x\n", f.type);
		exit(1);
	}
}

/* Registers user#d directly in the store. */
static void add_device(struct vl_store *st, struct vtc_device *d, unsigned i)
{
	char user[64], code[80];
	snprintf(user, sizeof user, "m%u@bench.example", i);
	check(vtc_device_init(d, user, "dev", 1), "device key");
	snprintf(code, sizeof code, "inv-%u", i);
	check(vl_store_invite_create(st, (const uint8_t *)code, strlen(code), user, UINT32_MAX, 0),
	      "invite");
	struct vl_store_device out;
	check(vl_store_device_register(st, (const uint8_t *)code, strlen(code), user, "dev", 1,
	                               d->pub, d->pub_len, 16, 0, &out),
	      "register");
}

static int count_leaf(void *ctx, int64_t device, int64_t leaf)
{
	(void)device;
	(void)leaf;
	(*(size_t *)ctx)++;
	return VL_OK;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void run(unsigned n)
{
	struct vl_store_config sc = {.backend = "sqlite", .path = ":memory:"};
	struct vl_store *st;
	check(vl_store_open(&sc, &st), "store");
	struct vl_core_config cfg;
	vl_core_config_defaults(&cfg);
	cfg.server_name = "bench.example";
	cfg.rate = 1e9;
	cfg.burst = 1e9;
	struct vl_core_clock clock = {clk_ms, clk_s, NULL};
	struct vl_core *core;
	check(vl_core_new(&cfg, st, NULL, NULL, NULL, &clock, &core), "core");

	/* The creator registers through the protocol (its connection must
	 * be authenticated); the other members directly in the store. */
	struct vtc_device *devs = calloc(n + RUNS, sizeof *devs);
	if (!devs)
		exit(1);
	check(vtc_device_init(&devs[0], "creator@bench.example", "dev", 1), "device key");
	uint8_t key[32];
	check(vl_core_invite_key((const uint8_t *)"inv-c", 5, key), "invite key");
	check(vl_store_invite_create(st, key, sizeof key, devs[0].user, UINT32_MAX, 0), "invite");
	struct conn k = {0};
	k.c = vl_core_conn_open(core, &ops, &k, "bench");
	struct vtc_challenge ch;
	check(vtc_challenge_parse(k.last, k.last_len, &ch), "challenge");
	struct vl_writer w;
	vl_writer_init_heap(&w, 4096);
	check(vtc_register_frame(&w, 1, &devs[0], "inv-c", &ch), "register frame");
	vl_core_conn_input(k.c, w.buf, w.len);
	vl_writer_cleanup(&w);
	expect_reply(&k, VL_FRAME_REGISTER);
	for (unsigned i = 1; i < n + RUNS; i++)
		add_device(st, &devs[i], i);

	/* The group: creator at leaf 0, members 1..n-1 at leaves 1..n-1. */
	check(vl_store_group_create(st, GID, sizeof GID, vl_conn_device(k.c)->id, 0), "group");
	struct vl_store_device_name *names = calloc(n, sizeof *names);
	uint32_t *leaves = calloc(n, sizeof *leaves);
	if (!names || !leaves)
		exit(1);
	for (unsigned i = 1; i < n; i++) {
		names[i - 1] = (struct vl_store_device_name){devs[i].user, devs[i].name};
		leaves[i - 1] = i;
	}
	uint8_t cmid[16] = {0xff}, placeholder[1] = {0};
	struct vl_store_commit c0 = {.gid = GID,
	                             .gid_len = sizeof GID,
	                             .sender = vl_conn_device(k.c)->id,
	                             .client_msg_id = cmid,
	                             .commit = placeholder,
	                             .commit_len = 1,
	                             .added = names,
	                             .n_added = n - 1,
	                             .added_leaves = leaves};
	uint64_t epoch;
	bool dup;
	check(vl_store_commit_apply(st, &c0, NULL, NULL, &epoch, &dup), "initial roster");

	double t_commit[RUNS], t_leaves[RUNS];
	unsigned at_leaf1 = 1; /* index in devs of the member at leaf 1 */
	for (unsigned r = 0; r < RUNS; r++) {
		unsigned fresh = n + r;
		const struct vtc_device *adds[1] = {&devs[fresh]};
		uint32_t rm = 1;
		uint8_t *cm;
		size_t cm_len;
		check(vtc_commit_message_from(GID, sizeof GID, epoch, 0, adds, 1, &rm, 1, &cm,
		                              &cm_len),
		      "commit message");
		struct vl_msg_commit m = {
		    .group_id = {GID, sizeof GID}, .epoch = epoch, .commit = {cm, cm_len}};
		memset(m.client_msg_id, 0, sizeof m.client_msg_id);
		memcpy(m.client_msg_id, &r, sizeof r);
		const struct vtc_device *gone = &devs[at_leaf1];
		struct vl_device_ref ra = {{(const uint8_t *)devs[fresh].user,
		                            strlen(devs[fresh].user)},
		                           {(const uint8_t *)"dev", 3}},
		                     rr = {{(const uint8_t *)gone->user, strlen(gone->user)},
		                           {(const uint8_t *)"dev", 3}};
		vl_writer_init_heap(&w, VL_PROTO_FRAME_MAX);
		check(vl_msg_commit_encode(&w, 10 + r, &m, &ra, 1, &rr, 1), "commit frame");
		double t0 = now();
		vl_core_conn_input(k.c, w.buf, w.len);
		t_commit[r] = now() - t0;
		vl_writer_cleanup(&w);
		free(cm);
		expect_reply(&k, VL_FRAME_COMMIT);
		epoch++;
		at_leaf1 = fresh;
		size_t count = 0;
		uint64_t e;
		t0 = now();
		check(vl_store_group_leaves(st, GID, sizeof GID, &e, count_leaf, &count), "leaves");
		t_leaves[r] = now() - t0;
		if (count != n || e != epoch) {
			fprintf(stderr, "bench_commit: roster of %zu at epoch %llu\n", count,
			        (unsigned long long)e);
			exit(1);
		}
	}
	qsort(t_commit, RUNS, sizeof *t_commit, cmp_double);
	qsort(t_leaves, RUNS, sizeof *t_leaves, cmp_double);
	double tc = t_commit[RUNS / 2], tl = t_leaves[RUNS / 2];
	printf("| %u | %.3f ms | %.3f ms | %.0f%% |\n", n, tc * 1e3, tl * 1e3, 100 * tl / tc);
	fflush(stdout);
	vl_core_conn_closed(k.c);
	vl_core_free(core);
	vl_store_free(st);
	for (unsigned i = 0; i < n + RUNS; i++)
		vtc_device_cleanup(&devs[i]);
	free(devs);
	free(names);
	free(leaves);
}

int main(int argc, char **argv)
{
	unsigned max = 10000;
	if (argc > 1) {
		char *end;
		unsigned long v = strtoul(argv[1], &end, 10);
		if (*end || v < 10 || v > 100000) {
			fprintf(stderr, "usage: bench_commit [MAX_N (10..100000)]\n");
			return 2;
		}
		max = (unsigned)v;
	}
	vl_log_set_level(VL_LOG_ERROR);
	printf("bench_commit: one Remove and one Add by value, store in memory, median of %d\n",
	       RUNS);
	printf("| members | commit | leaves | share |\n|---|---|---|---|\n");
	for (unsigned n = 10; n <= max; n *= 10)
		run(n);
	return 0;
}
